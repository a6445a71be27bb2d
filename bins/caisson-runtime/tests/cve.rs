//! Regression tests for the container-escape CVEs of runc and friends.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use std::os::unix::fs::symlink;

use common::*;
use serde_json::json;

fn sha(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// CVE-2019-5736: a container must never reach the host's runtime binary through
/// /proc/<pid>/exe. The init runs from a sealed memfd copy; container processes
/// cannot open it (non-dumpable) and nothing can write it.
#[test]
fn cve_2019_5736_runtime_binary_is_unreachable() {
    let id = format!("cve5736-{}", std::process::id());
    let env = Env::new(&config(&id, &["sleep", "600"]));
    // the classic payload: a "shell" whose interpreter is /proc/self/exe
    std::fs::write(env.bundle.join("rootfs/bin/evilsh"), "#!/proc/self/exe\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(env.bundle.join("rootfs/bin/evilsh"))
            .unwrap()
            .permissions(),
        0o755,
    );
    let before = sha(runtime_bin());
    assert!(env.rt(&["create", &id]).status.success());
    let pid = env.state(&id).unwrap()["pid"].as_i64().unwrap();
    // the init runs from a read-only view of the binary (or a sealed memfd copy)
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let exe_s = exe.to_string_lossy();
    assert!(
        exe_s.starts_with("/run/caisson-exe/") || exe_s.starts_with("/memfd:caisson-runtime"),
        "init exe is {exe:?}"
    );
    assert_ne!(exe.as_path(), std::path::Path::new(runtime_bin()));
    // even host root cannot write to it through /proc/<pid>/exe
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/exe"));
    if let Ok(mut f) = w {
        assert!(
            std::io::Write::write_all(&mut f, b"x").is_err(),
            "sealed memfd was writable"
        );
    }
    // from inside: try to open the init's exe for reading and writing, repeatedly
    let o = env.rt(&["exec", &id, "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo x >> /proc/1/exe && echo WROTE; cat /proc/1/exe >/dev/null && echo READ; done; echo done"]);
    let out = stdout(&o);
    assert!(out.contains("done"), "{out} {}", stderr(&o));
    assert!(!out.contains("WROTE") && !out.contains("READ"), "{out}");
    // the shebang route runs the runtime *inside* the container; it must be the copy
    let _ = env.rt(&["exec", &id, "/bin/evilsh"]);
    assert!(env.rt(&["delete", "--force", &id]).status.success());
    assert_eq!(before, sha(runtime_bin()), "host runtime binary changed");
}

/// CVE-2024-21626: no host fd (e.g. a cgroup or state dir) may leak into the
/// container, so a cwd of /proc/self/fd/N can never land outside the root.
#[test]
fn cve_2024_21626_no_leaked_fds_and_no_cwd_outside_root() {
    for n in 3..=12 {
        let id = format!("cve21626-{n}-{}", std::process::id());
        let mut cfg = config(&id, &["sh", "-c", "pwd; ls ..; echo RAN"]);
        cfg["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let env = Env::new(&cfg);
        let o = env.rt(&["run", &id]);
        assert!(
            !stdout(&o).contains("RAN"),
            "cwd /proc/self/fd/{n} ran: {}",
            stdout(&o)
        );
        assert!(!o.status.success());
        assert_no_leaks(&env, &id, &env.bundle.to_string_lossy());
    }
    // and exec --cwd the same way
    let id = format!("cve21626-exec-{}", std::process::id());
    let env = Env::new(&config(&id, &["sleep", "600"]));
    assert!(env.rt(&["run", "-d", &id]).status.success());
    for n in 3..=12 {
        let o = env.rt(&[
            "exec",
            "--cwd",
            &format!("/proc/self/fd/{n}"),
            &id,
            "sh",
            "-c",
            "echo RAN",
        ]);
        assert!(
            !stdout(&o).contains("RAN"),
            "exec cwd /proc/self/fd/{n} ran"
        );
    }
    // the init itself holds no fd besides stdio
    let o = env.rt(&["exec", &id, "ls", "/proc/1/fd"]);
    let _ = o; // (init is non-dumpable: covered by the 9962 test)
    let o = env.rt(&["exec", &id, "sh", "-c", "ls /proc/self/fd | wc -l"]);
    assert_eq!(
        stdout(&o).trim(),
        "4",
        "exec'd process has extra fds: {}",
        stdout(&o)
    );
    assert!(env.rt(&["delete", "--force", &id]).status.success());
}

/// CVE-2021-30465: mount destinations are resolved inside the rootfs; a symlink in
/// the image (absolute or full of ..) or one swapped in during create must never send
/// a mount to the host.
#[test]
fn cve_2021_30465_symlinked_mount_targets_stay_inside() {
    let host = tempfile::tempdir().unwrap();
    let target = host.path().join("target");
    std::fs::create_dir(&target).unwrap();
    let id = format!("cve30465-{}", std::process::id());
    let mut cfg = config(
        &id,
        &[
            "sh",
            "-c",
            "test -d /landed/a && test -d /landed/b && echo inside-ok",
        ],
    );
    cfg["mounts"].as_array_mut().unwrap().extend([
        json!({"destination": "/evil-abs/a", "type": "tmpfs", "source": "tmpfs"}),
        json!({"destination": "/evil-rel/b", "type": "tmpfs", "source": "tmpfs"}),
    ]);
    let env = Env::new(&cfg);
    let rootfs = env.bundle.join("rootfs");
    std::fs::create_dir(rootfs.join("landed")).unwrap();
    // absolute symlink: inside the root it means <rootfs>/<target>; we point both at /landed
    symlink("/landed", rootfs.join("evil-abs")).unwrap();
    symlink("../../../../../../../../landed", rootfs.join("evil-rel")).unwrap();
    let o = env.rt(&["run", &id]);
    assert!(
        stdout(&o).contains("inside-ok"),
        "{} {}",
        stdout(&o),
        stderr(&o)
    );
    // and a symlink to a host path that exists only on the host
    let id2 = format!("cve30465b-{}", std::process::id());
    let mut cfg = config(&id2, &["true"]);
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/hostlink/x", "type": "tmpfs", "source": "tmpfs"}));
    let env2 = Env::new(&cfg);
    symlink(&target, env2.bundle.join("rootfs/hostlink")).unwrap();
    let o = env2.rt(&["run", &id2]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !target.join("x").exists(),
        "mount point created on the host"
    );
    assert!(env2
        .bundle
        .join("rootfs")
        .join(target.strip_prefix("/").unwrap())
        .join("x")
        .exists());

    // the race: flip a path component between a dir and a symlink to the host while
    // containers mount onto it
    let id3 = format!("cve30465r-{}", std::process::id());
    let mut cfg = config(&id3, &["true"]);
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/flip/m", "type": "tmpfs", "source": "tmpfs"}));
    let env3 = Env::new(&cfg);
    let flip = env3.bundle.join("rootfs/flip");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (flip, target, stop) = (flip.clone(), target.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::create_dir(&flip);
                let _ = std::fs::create_dir(flip.join("m"));
                let _ = std::fs::remove_dir(flip.join("m"));
                let _ = std::fs::remove_dir(&flip);
                let _ = symlink(&target, &flip);
                let _ = std::fs::remove_file(&flip);
            }
        })
    };
    for _ in 0..30 {
        let _ = env3.rt(&["run", &id3]);
        let _ = env3.rt(&["delete", "--force", &id3]);
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mi.contains(&target.display().to_string()),
            "host path got a mount"
        );
        assert!(
            !target.join("m").exists(),
            "mount point created on the host"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flipper.join().unwrap();
}

/// CVE-2016-9962: the init holds runtime fds until it execs; container processes
/// must not be able to ptrace it or open its /proc/<pid>/fd entries.
#[test]
fn cve_2016_9962_init_is_not_accessible_before_exec() {
    let id = format!("cve9962-{}", std::process::id());
    let env = Env::new(&config(&id, &["sleep", "600"]));
    assert!(env.rt(&["create", &id]).status.success());
    let o = env.rt(&["exec", &id, "sh", "-c",
        "for f in /proc/1/fd/*; do readlink $f >/dev/null 2>&1 && echo FD-VISIBLE $f; ls $f/ >/dev/null 2>&1 && echo FD-OPENED $f; done; \
         cat /proc/1/environ >/dev/null 2>&1 && echo ENV-VISIBLE; ls /proc/1/cwd/ >/dev/null 2>&1 && echo CWD-VISIBLE; \
         ls /proc/1/root/ >/dev/null 2>&1 && echo ROOT-VISIBLE; echo done"]);
    let out = stdout(&o);
    assert!(out.contains("done"), "{out} {}", stderr(&o));
    assert!(
        !out.contains("VISIBLE"),
        "init internals reachable from the container: {out}"
    );
    assert!(env.rt(&["delete", "--force", &id]).status.success());
    assert_no_leaks(&env, &id, &env.bundle.to_string_lossy());
}
