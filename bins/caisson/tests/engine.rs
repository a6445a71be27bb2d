//! The `caisson` engine end to end: pull from a real registry on loopback (Debian's
//! docker-registry, busybox pushed there by skopeo via ../shared/peers/peers.sh),
//! run containers hardened by default, detached containers with logs/exec/stop/rm,
//! push back and pull by digest, and nothing left behind.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

const IMAGE: &str = "127.0.0.1:5000/busybox:latest";

fn registry_up() {
    // once per test binary: peers.sh images rebuilds its rootfs, not concurrently
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(registry_up_now);
}

fn registry_up_now() {
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers/peers.sh");
    assert!(peers.exists(), "{} is missing", peers.display());
    for args in [&["registry", "start"][..], &["images"][..]] {
        let o = Command::new("bash")
            .arg(&peers)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "peers.sh {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn overlay_mounts_under(p: &Path) -> Vec<String> {
    let p = p.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&p))
        .collect()
}

/// Removes every container of a root when dropped, so a test that fails half-way
/// leaves no container (or its monitor, mounts and cgroups) running.
struct RemoveAll(PathBuf);

impl Drop for RemoveAll {
    fn drop(&mut self) {
        let o = run_in(&self.0, &["ps", "-a", "-q"]);
        let ids: Vec<&str> = o.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = run_in(&self.0, &args);
        }
    }
}

fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    f()
}

#[test]
fn pull_run_hardened_detached_lifecycle_push_and_clean() {
    registry_up();
    let tmp = tempfile::Builder::new()
        .prefix("caisson-engine-")
        .tempdir()
        .unwrap();
    let root = tmp.path().join("root");
    let _cleanup = RemoveAll(root.clone());
    let id = ok(&root, &["pull", "-q", IMAGE]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let images = ok(&root, &["images"]);
    assert!(images.contains(IMAGE), "{images}");

    // hardened by default
    let o = run_in(
        &root,
        &[
            "run", "--rm", "--explain", IMAGE, "sh", "-c",
            "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes; wc -c < /proc/kcore; ls /sys/class/net; unshare -U true 2>&1 || echo unshare-denied; echo hello > /f && cat /f; exit 3",
        ],
    );
    assert_eq!(
        o.code, 3,
        "exit code passes through: {}\n{}",
        o.stdout, o.stderr
    );
    let out = &o.stdout;
    assert!(
        out.contains("CapEff:\t00000000000005fb"),
        "the 9 default capabilities: {out}"
    );
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("2048"), "default pids limit: {out}");
    assert!(
        out.contains(&(2u64 << 30).to_string()),
        "default memory limit: {out}"
    );
    assert!(
        out.lines().any(|l| l.trim() == "lo"),
        "loopback only: {out}"
    );
    assert!(!out.contains("eth0"), "{out}");
    assert!(
        out.contains("unshare-denied") || out.contains("Operation not permitted"),
        "{out}"
    );
    assert!(out.contains("hello"), "{out}");
    assert!(
        o.stderr.contains("seccomp") && o.stderr.contains("capabilities"),
        "--explain: {}",
        o.stderr
    );
    // --rm left nothing
    assert_eq!(ok(&root, &["ps", "-a", "-q"]).trim(), "");
    assert!(overlay_mounts_under(&root).is_empty());

    // options
    let out = ok(&root, &["run", "--rm", "--read-only", "--user", "1000:1000", "--memory", "64m", "--pids-limit", "50", "--cap-drop", "ALL", IMAGE, "sh", "-c", "id -u; touch /x 2>&1; touch /tmp/y && echo tmp-ok; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; grep CapEff /proc/self/status"]);
    assert!(out.starts_with("1000\n"), "{out}");
    assert!(
        out.contains("Read-only file system") && out.contains("tmp-ok"),
        "{out}"
    );
    assert!(out.contains("67108864") && out.contains("\n50\n"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    let vol = tmp.path().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("in"), "from-host\n").unwrap();
    let spec = format!("{}:/data:ro", vol.display());
    let out = ok(
        &root,
        &[
            "run",
            "--rm",
            "-v",
            &spec,
            IMAGE,
            "sh",
            "-c",
            "cat /data/in; touch /data/x 2>&1 || true",
        ],
    );
    assert!(
        out.contains("from-host") && out.contains("Read-only"),
        "{out}"
    );
    let o = run_in(&root, &["run", "--rm", "--privileged", IMAGE, "true"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("privileged"), "{}", o.stderr);

    // detached: ps, logs, exec, stop, start again, rm
    let cid = ok(
        &root,
        &[
            "run",
            "-d",
            "--name",
            "web",
            IMAGE,
            "sh",
            "-c",
            "trap 'echo got-term; exit 0' TERM; echo started; while :; do sleep 0.1; done",
        ],
    );
    let cid = cid.trim();
    assert_eq!(cid.len(), 64, "{cid}");
    let ps = ok(&root, &["ps"]);
    assert!(ps.contains("web") && ps.contains("running"), "{ps}");
    assert!(wait_until(10, || ok(&root, &["logs", "web"]).contains("started")));
    assert_eq!(
        ok(&root, &["exec", "web", "sh", "-c", "echo $((6*7))"]).trim(),
        "42"
    );
    let o = run_in(&root, &["exec", "web", "sh", "-c", "exit 7"]);
    assert_eq!(o.code, 7);
    let o = run_in(&root, &["rm", "web"]);
    assert_ne!(o.code, 0, "rm of a running container needs --force");
    ok(&root, &["stop", "-t", "5", "web"]);
    let ps = ok(&root, &["ps", "-a"]);
    assert!(ps.contains("exited (0)"), "{ps}");
    assert_eq!(ok(&root, &["logs", "web"]), "started\ngot-term\n");
    assert!(
        overlay_mounts_under(&root).is_empty(),
        "the stopped container's root is unmounted"
    );
    // the upper dir survives a stop: start it again
    ok(&root, &["start", "web"]);
    assert!(wait_until(10, || ok(&root, &["ps"]).contains("running")));
    ok(&root, &["rm", "-f", "web"]);
    assert_eq!(ok(&root, &["ps", "-a", "-q"]).trim(), "");

    // a monitor killed hard: the runtime still knows the container; rm -f cleans up
    ok(
        &root,
        &["run", "-d", "--name", "orphan", IMAGE, "sleep", "600"],
    );
    let rec: serde_json::Value = serde_json::from_str(&ok(&root, &["inspect", "orphan"])).unwrap();
    let pid = rec["pid"].as_i64().unwrap();
    let monitor = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i32 = monitor
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{ppid}/cmdline")).unwrap();
    assert!(
        cmdline.contains("__monitor"),
        "the init's parent is its monitor: {cmdline}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ppid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let ps = ok(&root, &["ps"]);
    assert!(
        ps.contains("orphan") && ps.contains("running"),
        "state recovered from the runtime: {ps}"
    );
    ok(&root, &["rm", "-f", "orphan"]);
    assert!(overlay_mounts_under(&root).is_empty());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "its processes are gone"
    );

    // push back, then pull by digest into a fresh store
    let dest = format!(
        "127.0.0.1:5000/caisson-engine-test/busybox-{}:pushed",
        std::process::id()
    );
    let pushed = ok(&root, &["push", IMAGE, &dest]);
    let digest = pushed.trim().rsplit('@').next().unwrap().to_string();
    let root2 = tmp.path().join("root2");
    let by_digest = format!(
        "127.0.0.1:5000/caisson-engine-test/busybox-{}@{digest}",
        std::process::id()
    );
    ok(&root2, &["pull", "-q", &by_digest]);
    let out = ok(&root2, &["run", "--rm", &by_digest, "echo", "from-digest"]);
    assert_eq!(out.trim(), "from-digest");

    // rmi: the image and its layers go
    ok(&root, &["rmi", IMAGE]);
    assert!(!ok(&root, &["images"]).contains(IMAGE));
    let layers = std::fs::read_dir(root.join("layers/sha256"))
        .unwrap()
        .count();
    assert_eq!(
        layers, 0,
        "unpacked layers removed with the last image using them"
    );
}

/// Run `caisson --root ROOT <args>` under a real terminal (script(1)), type `input`
/// at it after a moment; its exit code and what the terminal showed.
fn at_terminal(root: &Path, args: &str, input: &[u8]) -> (Option<i32>, String) {
    let line = format!("{} --root {} {args}", caisson(), root.display());
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"])
        .env("CAISSON_RUNTIME", runtime())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("script(1) from util-linux");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(800));
        let _ = stdin.write_all(input);
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn interactive_terminal_and_follow_logs() {
    registry_up();
    let tmp = tempfile::Builder::new()
        .prefix("caisson-engine-it-")
        .tempdir()
        .unwrap();
    let root = tmp.path().join("root");
    let _cleanup = RemoveAll(root.clone());
    ok(&root, &["pull", "-q", IMAGE]);
    // -it under a real terminal (script(1)); input typed at the container's shell
    let (code, text) = at_terminal(
        &root,
        &format!("run --rm -it {IMAGE} sh"),
        b"tty; echo typed-$((6*7)); exit 5\n",
    );
    assert_eq!(code, Some(5), "{text}");
    assert!(
        text.contains("/dev/pts/0") && text.contains("typed-42"),
        "{text}"
    );
    // logs -f follows a running container to its end
    ok(
        &root,
        &[
            "run",
            "-d",
            "--name",
            "talker",
            IMAGE,
            "sh",
            "-c",
            "for i in 1 2 3; do echo line-$i; sleep 0.3; done",
        ],
    );
    let o = run_in(&root, &["logs", "-f", "talker"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, "line-1\nline-2\nline-3\n");
    ok(&root, &["rm", "talker"]);
}

#[test]
fn save_load_and_import_through_the_cli() {
    registry_up();
    let tmp = tempfile::Builder::new()
        .prefix("caisson-engine-sl-")
        .tempdir()
        .unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ok(&a, &["pull", "-q", IMAGE]);
    for fmt in ["oci-archive", "docker-archive"] {
        let f = tmp.path().join(format!("img-{fmt}.tar"));
        ok(
            &a,
            &["save", "--format", fmt, "-o", f.to_str().unwrap(), IMAGE],
        );
        let root = b.join(fmt);
        let out = ok(&root, &["load", "-i", f.to_str().unwrap()]);
        assert!(out.contains(IMAGE), "{fmt}: {out}");
        assert_eq!(
            ok(&root, &["run", "--rm", IMAGE, "echo", "loaded"]).trim(),
            "loaded"
        );
    }
    // a rootfs tarball becomes a one-layer image
    let rootfs = tmp.path().join("rootfs.tar");
    let bb = std::fs::read("/bin/busybox").expect("busybox-static");
    let mut t = tar::Builder::new(std::fs::File::create(&rootfs).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(bb.len() as u64);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    t.append_data(&mut h, "bin/busybox", bb.as_slice()).unwrap();
    t.into_inner().unwrap();
    ok(
        &b,
        &["import", rootfs.to_str().unwrap(), "localhost/imported:1"],
    );
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "localhost/imported:1",
            "/bin/busybox",
            "echo",
            "imported",
        ],
    );
    assert_eq!(out.trim(), "imported");
    // a damaged archive is refused and the store stays as it was
    let f = tmp.path().join("img-oci-archive.tar");
    let mut data = std::fs::read(&f).unwrap();
    let n = data.len();
    data.truncate(n / 2);
    std::fs::write(&f, data).unwrap();
    let fresh = tmp.path().join("fresh");
    let o = run_in(&fresh, &["load", "-i", f.to_str().unwrap()]);
    assert_ne!(o.code, 0);
    assert!(!o.stderr.is_empty());
    assert_eq!(ok(&fresh, &["images", "-q"]).trim(), "");
}

/// `--userns auto` takes blocks from the `caisson` range in /etc/sub[ug]id (a
/// range of its own, apart from podman's `containers` range).
fn subuid_for_caisson() -> u32 {
    for f in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        if !text.lines().any(|l| l.starts_with("caisson:")) {
            use std::io::Write;
            let mut fh = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(f)
                .unwrap();
            writeln!(fh, "caisson:1073741824:1073741824").unwrap();
        }
    }
    let text = std::fs::read_to_string("/etc/subuid").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("caisson:"))
        .and_then(|r| r.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap()
}

fn host_uid_of(pid: &str) -> u32 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    st.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn ps_json(root: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&ok(root, &["ps", "-a", "--json"])).unwrap()
}

#[test]
fn userns_auto_maps_root_to_an_unprivileged_host_range() {
    use std::os::unix::fs::MetadataExt;
    registry_up();
    let start = subuid_for_caisson();
    let tmp = tempfile::Builder::new()
        .prefix("caisson-engine-userns-")
        .tempdir()
        .unwrap();
    let root = tmp.path().join("root");
    let _cleanup = RemoveAll(root.clone());
    ok(&root, &["pull", "-q", IMAGE]);
    // inside: root, files of the image owned by root, writes work
    let out = ok(
        &root,
        &[
            "run", "--rm", "--userns", "auto", IMAGE, "sh", "-c",
            "id -u; cat /proc/self/uid_map; stat -c %u:%g /bin/busybox /etc; touch /new && stat -c %u /new",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    let map: Vec<u64> = lines[1]
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(map[0], 0);
    assert!(map[1] >= u64::from(start), "{out}");
    assert_eq!(map[2], 65536);
    assert_eq!(&lines[2..], &["0:0", "0:0", "0"], "{out}");
    // two running containers: different, unprivileged host users
    let a = ok(
        &root,
        &[
            "run", "-d", "--userns", "auto", "--name", "ua", IMAGE, "sleep", "60",
        ],
    );
    let b = ok(
        &root,
        &[
            "run", "-d", "--userns", "auto", "--name", "ub", IMAGE, "sleep", "60",
        ],
    );
    let pids: Vec<(String, String)> = ps_json(&root)
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["pid"].to_string(),
            )
        })
        .collect();
    let pid = |n: &str| pids.iter().find(|p| p.0 == n).unwrap().1.clone();
    let (ua, ub) = (host_uid_of(&pid("ua")), host_uid_of(&pid("ub")));
    assert!(ua >= start && ub >= start && ua != ub, "{ua} {ub}");
    assert!(ua.abs_diff(ub) >= 65536, "blocks overlap: {ua} {ub}");
    // a file the container writes belongs to its host user; the shared layers do not change
    ok(&root, &["exec", "ua", "sh", "-c", "echo x > /owned"]);
    let upper = root.join("containers").join(a.trim()).join("upper/owned");
    assert_eq!(std::fs::metadata(&upper).unwrap().uid(), ua);
    let layers = root.join("layers");
    let mut stack = vec![layers];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            assert!(
                m.uid() < 65536,
                "{} is owned by {} on disk",
                e.path().display(),
                m.uid()
            );
            seen += 1;
            if m.is_dir() && !m.file_type().is_symlink() {
                stack.push(e.path());
            }
        }
    }
    assert!(seen > 100, "walked only {seen} entries of the layers");
    // the container's root cannot touch a host file owned by host root
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, "host").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let o = run_in(
        &root,
        &[
            "run",
            "--rm",
            "--userns",
            "auto",
            "-v",
            &format!("{}:/secret", secret.display()),
            IMAGE,
            "cat",
            "/secret",
        ],
    );
    assert_ne!(
        o.code, 0,
        "container root read a host root 0600 file: {}",
        o.stdout
    );
    assert!(o.stderr.contains("Permission denied"), "{}", o.stderr);
    // bad values are named
    let o = run_in(
        &root,
        &["run", "--rm", "--userns", "keep-id", IMAGE, "true"],
    );
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("--userns \"keep-id\""), "{}", o.stderr);
    ok(&root, &["rm", "-f", "ua", "ub"]);
    assert!(b.len() > 12);
    assert_eq!(overlay_mounts_under(&root), Vec::<String>::new());
    assert!(!root.join("containers").join(a.trim()).exists());
}

/// An image with VOLUME and EXPOSE, made by `caisson import -c` from a rootfs tar.
fn import_web_image(root: &Path, dir: &Path) {
    let rootfs = dir.join("web.tar");
    let bb = std::fs::read("/bin/busybox").expect("busybox-static");
    let mut t = tar::Builder::new(std::fs::File::create(&rootfs).unwrap());
    let add = |t: &mut tar::Builder<std::fs::File>,
               path: &str,
               data: &[u8],
               mode: u32,
               kind: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_entry_type(kind);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        t.append_data(&mut h, path, data).unwrap();
    };
    add(&mut t, "bin/", b"", 0o755, tar::EntryType::Directory);
    add(&mut t, "bin/busybox", &bb, 0o755, tar::EntryType::Regular);
    for app in ["sh", "cat", "tty", "httpd", "true"] {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        t.append_link(&mut h, format!("bin/{app}"), "busybox")
            .unwrap();
    }
    add(&mut t, "www/", b"", 0o755, tar::EntryType::Directory);
    add(
        &mut t,
        "www/index.html",
        b"seeded-by-image\n",
        0o644,
        tar::EntryType::Regular,
    );
    t.into_inner().unwrap();
    ok(
        root,
        &[
            "import",
            "-c",
            "VOLUME /www",
            "-c",
            "EXPOSE 8080",
            "-c",
            "ENV PATH=/bin",
            rootfs.to_str().unwrap(),
            "localhost/web:1",
        ],
    );
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn ports_volumes_log_rotation_and_exec_tty() {
    registry_up();
    let tmp = tempfile::Builder::new()
        .prefix("caisson-engine-pv-")
        .tempdir()
        .unwrap();
    let root = tmp.path().join("root");
    let _cleanup = RemoveAll(root.clone());
    import_web_image(&root, tmp.path());
    let img = ok(&root, &["inspect", "localhost/web:1"]);
    assert!(
        img.contains("\"/www\"") && img.contains("\"8080/tcp\""),
        "{img}"
    );
    // -p on loopback: the monitor relays into the container's own network namespace
    let id = ok(
        &root,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            "127.0.0.1::8080",
            "localhost/web:1",
            "httpd",
            "-f",
            "-p",
            "127.0.0.1:8080",
            "-h",
            "/www",
        ],
    );
    let ps = ps_json(&root);
    let port = ps[0]["ports"][0]["host_port"].as_u64().unwrap();
    assert_eq!(ps[0]["ports"][0]["host_ip"], "127.0.0.1");
    assert_eq!(ps[0]["ports"][0]["container_port"], 8080);
    let port = u16::try_from(port).unwrap();
    assert!(ok(&root, &["ps"]).contains(&format!("127.0.0.1:{port}->8080/tcp")));
    let mut resp = String::new();
    assert!(
        wait_until(10, || {
            resp = http_get(port, "/index.html");
            resp.contains("seeded-by-image")
        }),
        "{resp}"
    );
    // the image's VOLUME became an anonymous volume filled from the image
    let vols: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&root, &["volume", "ls", "--json"])).unwrap();
    assert_eq!(vols.len(), 1, "{vols:?}");
    assert_eq!(vols[0]["inUse"], true);
    let mp = PathBuf::from(vols[0]["mountpoint"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(mp.join("index.html")).unwrap(),
        "seeded-by-image\n"
    );
    // writes to the volume are seen by the server
    ok(
        &root,
        &[
            "exec",
            "web",
            "sh",
            "-c",
            "echo written-later > /www/new.html",
        ],
    );
    assert!(http_get(port, "/new.html").contains("written-later"));
    assert_eq!(
        std::fs::read_to_string(mp.join("new.html")).unwrap(),
        "written-later\n"
    );
    // a busy host port is refused by name and nothing is kept (--rm)
    let o = run_in(
        &root,
        &[
            "run",
            "--rm",
            "-p",
            &format!("127.0.0.1:{port}:8080"),
            "localhost/web:1",
            "true",
        ],
    );
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!("127.0.0.1:{port}")) && o.stderr.contains("in use"),
        "{}",
        o.stderr
    );
    for (bad, why) in [
        ("127.0.0.1:x:80", "not a port number"),
        ("80/udp", "only tcp"),
        ("nohost:1:80", "not an IP address"),
    ] {
        let o = run_in(
            &root,
            &["run", "--rm", "-p", bad, "localhost/web:1", "true"],
        );
        assert_eq!(o.code, 125);
        assert!(o.stderr.contains(why), "{bad}: {}", o.stderr);
    }
    let o = run_in(
        &root,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "-p",
            "8080",
            "localhost/web:1",
            "true",
        ],
    );
    assert!(o.stderr.contains("--network host"), "{}", o.stderr);
    assert_eq!(ps_json(&root).len(), 1, "a failed run left a container");
    // exec -it under a real terminal
    let (code, text) = at_terminal(
        &root,
        "exec -it web sh",
        b"tty; echo in-exec-$((2*3)); exit 3\n",
    );
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("/dev/pts/") && text.contains("in-exec-6"),
        "{text}"
    );
    // removing the container removes its anonymous volume and stops the relay
    ok(&root, &["rm", "-f", "web"]);
    assert!(!mp.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(!root.join("containers").join(id.trim()).exists());
    // named volumes outlive containers; read-only mounts stay read-only
    ok(
        &root,
        &[
            "run",
            "--rm",
            "-v",
            "keep:/k",
            "localhost/web:1",
            "sh",
            "-c",
            "echo kept > /k/f",
        ],
    );
    assert_eq!(
        ok(
            &root,
            &[
                "run",
                "--rm",
                "-v",
                "keep:/k:ro",
                "localhost/web:1",
                "cat",
                "/k/f"
            ]
        ),
        "kept\n"
    );
    let o = run_in(
        &root,
        &[
            "run",
            "--rm",
            "-v",
            "keep:/k:ro",
            "localhost/web:1",
            "sh",
            "-c",
            "echo x > /k/g",
        ],
    );
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);
    ok(
        &root,
        &[
            "create",
            "--name",
            "holder",
            "-v",
            "keep:/k",
            "localhost/web:1",
            "true",
        ],
    );
    let o = run_in(&root, &["volume", "rm", "keep"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("used by container holder"),
        "{}",
        o.stderr
    );
    ok(&root, &["rm", "holder"]);
    ok(&root, &["volume", "rm", "keep"]);
    let o = run_in(
        &root,
        &["run", "--rm", "-v", "../x:/k", "localhost/web:1", "true"],
    );
    assert!(
        o.stderr
            .contains("neither an absolute host path nor a volume name"),
        "{}",
        o.stderr
    );
    let vols: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&root, &["volume", "ls", "--json"])).unwrap();
    assert!(vols.is_empty(), "{vols:?}");
    // log rotation: --log-opt max-size/max-file, Docker's json-file behaviour
    ok(
        &root,
        &[
            "run",
            "--name",
            "chatty",
            "--log-opt",
            "max-size=4k",
            "--log-opt",
            "max-file=3",
            "localhost/web:1",
            "sh",
            "-c",
            "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done",
        ],
    );
    let r = &ps_json(&root)[0];
    let cdir = root.join("containers").join(r["id"].as_str().unwrap());
    for f in ["ctr.log", "ctr.log.1", "ctr.log.2"] {
        let n = std::fs::metadata(cdir.join(f)).unwrap().len();
        assert!(n <= 4096, "{f}: {n} bytes");
    }
    assert!(!cdir.join("ctr.log.3").exists());
    let logs = ok(&root, &["logs", "chatty"]);
    assert!(logs.ends_with("line-1999\n"), "{logs}");
    assert!(!logs.starts_with("line-0\n"), "nothing was rotated away");
    let n: Vec<usize> = logs
        .lines()
        .map(|l| l.trim_start_matches("line-").parse().unwrap())
        .collect();
    assert!(
        n.windows(2).all(|w| w[1] == w[0] + 1),
        "logs out of order or with gaps"
    );
    ok(&root, &["rm", "chatty"]);
    assert_eq!(overlay_mounts_under(&root), Vec::<String>::new());
}
