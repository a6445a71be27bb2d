//! End-to-end checks of process-setup features: fds passed with --preserve-fds, a
//! time namespace with offsets, and --no-pivot.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::*;
use serde_json::json;

#[test]
fn preserve_fds_passes_exactly_the_given_fds() {
    let id = format!("pfd-{}", std::process::id());
    let env = Env::new(&config(
        &id,
        &["sh", "-c", "echo through-fd3 >&3; ls /proc/self/fd | wc -l"],
    ));
    let (r, w) = nix::unistd::pipe().unwrap();
    let w_raw = w.as_raw_fd();
    let out = tempfile::tempfile().unwrap();
    let mut cmd = Command::new(runtime_bin());
    cmd.arg("--root")
        .arg(&env.root)
        .args(["run", "--preserve-fds", "1", &id])
        .current_dir(&env.bundle)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(Stdio::inherit());
    // SAFETY: between fork and exec only dup2 (async-signal-safe) is called.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(w_raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    drop(w);
    assert!(status.success());
    let mut got = String::new();
    // SAFETY: `r` is the read end we own; converted back into a File to read it.
    let mut rf = unsafe { std::fs::File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(r)) };
    rf.read_to_string(&mut got).unwrap();
    assert_eq!(got, "through-fd3\n");
    let mut o = out;
    use std::io::Seek;
    o.seek(std::io::SeekFrom::Start(0)).unwrap();
    let mut text = String::new();
    o.read_to_string(&mut text).unwrap();
    // stdin, stdout, stderr, fd 3, and the one ls uses
    assert_eq!(text.trim(), "5", "{text}");
}

#[test]
fn time_namespace_offsets_apply() {
    let id = format!("timens-{}", std::process::id());
    let mut cfg = config(&id, &["cat", "/proc/uptime"]);
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    cfg["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 400, "nanosecs": 0}});
    let env = Env::new(&cfg);
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let o = env.rt(&["run", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let inside: f64 = stdout(&o).split(' ').next().unwrap().parse().unwrap();
    let diff = inside - host;
    assert!(
        (diff - 86400.0 * 400.0).abs() < 60.0,
        "uptime inside {inside}, host {host}"
    );
    assert_no_leaks(&env, &id, &env.bundle.to_string_lossy());
}

#[test]
fn no_pivot_runs_chrooted_in_the_rootfs() {
    let id = format!("nopivot-{}", std::process::id());
    let env = Env::new(&config(
        &id,
        &[
            "sh",
            "-c",
            "test -x /bin/busybox && test ! -e /work && echo in-rootfs",
        ],
    ));
    let o = env.rt(&["run", "--no-pivot", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "in-rootfs");
    assert_no_leaks(&env, &id, &env.bundle.to_string_lossy());
}

/// SCMP_ACT_NOTIFY through the runtime: the listener at `listenerPath` receives the
/// container process state with the notify fd (as runc sends it), and its answer is
/// what the container's syscall returns.
#[test]
fn seccomp_notify_reaches_the_listener_and_its_answer_counts() {
    use std::os::fd::{AsFd, OwnedFd};
    let id = format!("notify-{}", std::process::id());
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut cfg = config(
        &id,
        &[
            "sh",
            "-c",
            "mkdir /tmp/refused; echo rc=$?; test -d /tmp/refused && echo EXISTS || echo absent",
        ],
    );
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock.to_str().unwrap(),
        "listenerMetadata": "caisson-test",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let env = Env::new(&cfg);
    let agent = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
        let mut buf = vec![0u8; 64 * 1024];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<UnixAddr>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let mut fds = Vec::new();
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(r) = c {
                fds.extend(r);
            }
        }
        let len = msg.bytes;
        assert_eq!(fds.len(), 1);
        // SAFETY: the kernel just installed this fd for this message; we own it.
        let fd = unsafe { OwnedFd::from_raw_fd(fds[0]) };
        let state: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
        let mut pfd = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        assert_eq!(
            nix::poll::poll(&mut pfd, 10_000u16).unwrap(),
            1,
            "no notification within 10 s"
        );
        let req = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
        let name = req.data.syscall.get_name().unwrap();
        libseccomp::ScmpNotifResp::new_error(
            req.id,
            -libc::EROFS,
            libseccomp::ScmpNotifRespFlags::empty(),
        )
        .respond(fd.as_raw_fd())
        .unwrap();
        (state, name)
    });
    let o = env.rt(&["run", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (state, name) = agent.join().unwrap();
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "caisson-test");
    assert_eq!(state["state"]["id"], id.as_str());
    assert!(name == "mkdir" || name == "mkdirat", "{name}");
    let out = stdout(&o);
    assert!(
        out.contains("rc=1") && out.contains("absent"),
        "the listener's EROFS must reach mkdir: {out}"
    );
    assert_no_leaks(&env, &id, &env.bundle.to_string_lossy());
}

#[test]
fn listen_fds_pass_through_with_listen_pid_1() {
    // systemd socket activation: the runtime runs with LISTEN_FDS=2 and fds 3, 4.
    let id = format!("lfd-{}", std::process::id());
    let env = Env::new(&config(
        &id,
        &[
            "sh",
            "-c",
            "echo \"$LISTEN_FDS $LISTEN_PID\"; echo via-3 >&3; echo via-4 >&4; ls /proc/self/fd | wc -l",
        ],
    ));
    let (r3, w3) = nix::unistd::pipe().unwrap();
    let (r4, w4) = nix::unistd::pipe().unwrap();
    let (w3_raw, w4_raw) = (w3.as_raw_fd(), w4.as_raw_fd());
    let out = tempfile::tempfile().unwrap();
    let mut cmd = Command::new(runtime_bin());
    cmd.arg("--root")
        .arg(&env.root)
        .args(["run", &id])
        .env("LISTEN_FDS", "2")
        .env("LISTEN_PID", "12345")
        .current_dir(&env.bundle)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(Stdio::inherit());
    // SAFETY: between fork and exec only dup2 (async-signal-safe) is called.
    unsafe {
        cmd.pre_exec(move || {
            for (from, to) in [(w3_raw, 3), (w4_raw, 4)] {
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    drop((w3, w4));
    assert!(status.success());
    for (r, want) in [(r3, "via-3\n"), (r4, "via-4\n")] {
        let mut got = String::new();
        std::fs::File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, want);
    }
    let mut o = out;
    use std::io::Seek;
    o.seek(std::io::SeekFrom::Start(0)).unwrap();
    let mut text = String::new();
    o.read_to_string(&mut text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // the container sees LISTEN_FDS=2 and LISTEN_PID=1 (itself), as runc passes them
    assert_eq!(lines[0], "2 1", "{text}");
    // stdio, fds 3 and 4, and ls's own: nothing else leaked
    assert_eq!(lines[1].trim(), "6", "{text}");
    assert_no_leaks(&env, &id, &id);
}

/// Make every directory from `p` up to `/` traversable by others.
fn open_up(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for a in p.ancestors() {
        if let Ok(m) = std::fs::metadata(a) {
            let mode = m.permissions().mode();
            if mode & 0o005 != 0o005 {
                std::fs::set_permissions(a, std::fs::Permissions::from_mode(mode | 0o005)).unwrap();
            }
        }
    }
}

#[test]
fn rootless_as_an_unprivileged_user() {
    // The runtime runs as uid/gid 65534 (no capabilities at all): a user namespace
    // maps container root to that uid, cgroups are skipped with one warning, the
    // state lives under $XDG_RUNTIME_DIR/caisson, and nothing is left behind.
    let id = format!("rootless-{}", std::process::id());
    let env = Env::new(&config(&id, &["true"]));
    open_up(&env.bundle.join("rootfs"));
    let xdg = env.tmp.path().join("xdg");
    std::fs::create_dir_all(&xdg).unwrap();
    std::os::unix::fs::chown(&xdg, Some(65534), Some(65534)).unwrap();
    // the runtime's own rootless spec, with our process
    let o = env.rt(&[
        "spec",
        "--rootless",
        "--bundle",
        env.bundle.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success(),
        "spec refuses to overwrite an existing config.json"
    );
    std::fs::remove_file(env.bundle.join("config.json")).unwrap();
    let o = env.rt(&[
        "spec",
        "--rootless",
        "--bundle",
        env.bundle.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.bundle.join("config.json")).unwrap()).unwrap();
    cfg["process"]["terminal"] = json!(false);
    cfg["process"]["args"] = json!([
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; grep CapEff /proc/self/status; touch /dev/shm/w && echo shm-ok; sleep 600"
    ]);
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 65534, "size": 1}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 65534, "size": 1}]);
    std::fs::write(
        env.bundle.join("config.json"),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    let out_path = env.tmp.path().join("out");
    let out = std::fs::File::create(&out_path).unwrap();
    std::os::unix::fs::chown(&out_path, Some(65534), Some(65534)).unwrap();
    let as_nobody = |args: &[&str], stdout: Stdio| {
        let err = tempfile::tempfile().unwrap();
        let status = Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
            ])
            .arg(runtime_bin())
            .args(args)
            .env("XDG_RUNTIME_DIR", &xdg)
            .current_dir(&env.bundle)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(err.try_clone().unwrap())
            .status()
            .expect("setpriv (util-linux)");
        let mut e = err;
        use std::io::Seek;
        e.seek(std::io::SeekFrom::Start(0)).unwrap();
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        (status, s)
    };
    let (st, err) = as_nobody(&["run", "--detach", &id], Stdio::from(out));
    assert!(st.success(), "rootless run: {err}");
    assert!(
        err.contains("rootless: no permission to use"),
        "one cgroup warning: {err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("level=warn")).count(),
        1,
        "{err}"
    );
    let state_dir = xdg.join("caisson").join(&id);
    assert!(
        state_dir.join("state.json").exists(),
        "state under $XDG_RUNTIME_DIR/caisson"
    );
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&state_dir).unwrap()),
        65534
    );
    assert!(
        wait_until(10, || std::fs::read_to_string(&out_path)
            .unwrap()
            .contains("shm-ok")),
        "{}",
        std::fs::read_to_string(&out_path).unwrap()
    );
    let text = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {text}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "65534", "1"],
        "{text}"
    );
    // the process's host uid is 65534, and it holds no capability over the host
    let (st, err) = as_nobody(&["state", &id], Stdio::piped());
    assert!(st.success(), "{err}");
    let pid = std::fs::read_to_string(state_dir.join("state.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["pid"].as_i64())
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65534")),
        "{status}"
    );
    let (st, err) = as_nobody(&["delete", "--force", &id], Stdio::null());
    assert!(st.success(), "rootless delete: {err}");
    assert!(!state_dir.exists());
    assert_no_leaks(&env, &id, &id);
}

#[test]
fn rootless_uses_a_delegated_cgroup() {
    // An administrator delegated a cgroup (pids and memory) to uid 65534: a rootless
    // container placed below it gets its limits there, without any warning.
    let id = format!("deleg-{}", std::process::id());
    let parent = format!("caisson-test-deleg-{}", std::process::id());
    let mut delegated = Vec::new();
    for ctrl in ["pids", "memory"] {
        let d = std::path::Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(&parent);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["", "cgroup.procs", "tasks"] {
            std::os::unix::fs::chown(d.join(f), Some(65534), Some(65534)).unwrap();
        }
        delegated.push(d);
    }
    let env = Env::new(&config(&id, &["true"]));
    open_up(&env.bundle.join("rootfs"));
    std::fs::remove_file(env.bundle.join("config.json")).unwrap();
    let o = env.rt(&[
        "spec",
        "--rootless",
        "--bundle",
        env.bundle.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.bundle.join("config.json")).unwrap()).unwrap();
    cfg["process"]["terminal"] = json!(false);
    cfg["process"]["args"] = json!(["sleep", "600"]);
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 65534, "size": 1}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 65534, "size": 1}]);
    cfg["linux"]["cgroupsPath"] = json!(format!("/{parent}/{id}"));
    cfg["linux"]["resources"] = json!({"pids": {"limit": 42}, "memory": {"limit": 48 << 20}});
    std::fs::write(
        env.bundle.join("config.json"),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    let state = env.tmp.path().join("state-nobody");
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let as_nobody = |args: &[&str]| {
        let err = tempfile::tempfile().unwrap();
        let status = Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
            ])
            .arg(runtime_bin())
            .arg("--root")
            .arg(&state)
            .args(args)
            .current_dir(&env.bundle)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err.try_clone().unwrap())
            .status()
            .expect("setpriv (util-linux)");
        let mut e = err;
        use std::io::Seek;
        e.seek(std::io::SeekFrom::Start(0)).unwrap();
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        (status, s)
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (st, err) = as_nobody(&["run", "--detach", &id]);
        assert!(st.success(), "rootless run: {err}");
        let pids = delegated[0].join(&id);
        let mem = delegated[1].join(&id);
        assert_eq!(
            std::fs::read_to_string(pids.join("pids.max"))
                .unwrap()
                .trim(),
            "42"
        );
        assert_eq!(
            std::fs::read_to_string(mem.join("memory.limit_in_bytes"))
                .unwrap()
                .trim(),
            (48u64 << 20).to_string()
        );
        let procs = std::fs::read_to_string(pids.join("cgroup.procs")).unwrap();
        assert_eq!(
            procs.lines().count(),
            1,
            "the init joined the delegated cgroup: {procs}"
        );
        // only the hierarchies that were not delegated are skipped, in one warning
        assert!(err.contains("rootless: no permission to use"), "{err}");
        let (st, err) = as_nobody(&["delete", "--force", &id]);
        assert!(st.success(), "rootless delete: {err}");
        assert!(
            !pids.exists() && !mem.exists(),
            "the container's cgroups are removed"
        );
    }));
    for d in &delegated {
        let _ = std::fs::remove_dir(d.join(&id));
        let _ = std::fs::remove_dir(d);
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
