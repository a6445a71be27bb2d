//! Shared helpers for caisson-runtime's integration tests: real bundles with a
//! busybox rootfs, the real binary, a private state root per test, and leak checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// The runtime binary under test.
pub fn runtime_bin() -> &'static str {
    env!("CARGO_BIN_EXE_caisson-runtime")
}

/// A test environment: a state root and a bundle dir with a busybox rootfs.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
}

/// Make a busybox rootfs (static busybox from the host, as Debian's busybox-static).
pub fn busybox_rootfs(rootfs: &Path) {
    let bb = Path::new("/bin/busybox");
    assert!(
        bb.exists(),
        "/bin/busybox is missing: install Debian's busybox-static (the test command does)"
    );
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(bb, rootfs.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "true", "false", "sleep", "cat", "echo", "ls", "id", "ps", "hostname", "readlink",
        "grep", "test", "stat", "mount", "touch", "mkdir", "wc", "head", "env", "pwd",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
}

/// A hardened default config running `args` (new pid/mount/ipc/uts/net namespaces,
/// the default capability set, no_new_privs, masked paths).
pub fn config(id: &str, args: &[&str]) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs"},
        "hostname": "caisson-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "cgroupsPath": format!("/caisson-test/{id}"),
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

impl Env {
    /// A fresh environment whose bundle holds `cfg`.
    pub fn new(cfg: &Value) -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("caisson-it-")
            .tempdir()
            .unwrap();
        let root = tmp.path().join("state");
        let bundle = tmp.path().join("bundle");
        busybox_rootfs(&bundle.join("rootfs"));
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(cfg).unwrap(),
        )
        .unwrap();
        Env { tmp, root, bundle }
    }

    /// Replace config.json with raw bytes.
    pub fn write_config_raw(&self, raw: &[u8]) {
        std::fs::write(self.bundle.join("config.json"), raw).unwrap();
    }

    /// Run the runtime with `--root <ours>` and `args`. stdout and stderr go through
    /// files, not pipes: a container created by the command inherits them as its
    /// stdio and may hold them long after the runtime exited.
    pub fn rt(&self, args: &[&str]) -> Output {
        self.rt_with(args, std::process::Stdio::null(), &[])
    }

    /// [`Env::rt`] with extra environment variables.
    pub fn rt_env(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        self.rt_with(args, std::process::Stdio::null(), env)
    }

    fn rt_with(&self, args: &[&str], stdin: std::process::Stdio, env: &[(&str, &Path)]) -> Output {
        let out = tempfile::tempfile().unwrap();
        let err = tempfile::tempfile().unwrap();
        let status = Command::new(runtime_bin())
            .envs(env.iter().copied())
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .current_dir(&self.bundle)
            .stdin(stdin)
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .status()
            .expect("spawn caisson-runtime");
        let read = |mut f: std::fs::File| {
            use std::io::{Read, Seek};
            let mut v = Vec::new();
            f.seek(std::io::SeekFrom::Start(0)).unwrap();
            f.read_to_end(&mut v).unwrap();
            v
        };
        Output {
            status,
            stdout: read(out),
            stderr: read(err),
        }
    }

    /// `state ID` parsed; `None` if the command failed.
    pub fn state(&self, id: &str) -> Option<Value> {
        let o = self.rt(&["state", id]);
        o.status
            .success()
            .then(|| serde_json::from_slice(&o.stdout).unwrap())
    }
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Host resources a container could leak, counted before and after.
#[derive(Debug, PartialEq, Eq)]
pub struct Leaks {
    pub mounts: Vec<String>,
    pub cgroups: Vec<String>,
    pub procs: Vec<String>,
}

/// Mounts under `under`, cgroup dirs named `id` in any hierarchy, processes whose
/// cmdline mentions `marker`.
pub fn leaks(under: &Path, id: &str, marker: &str) -> Leaks {
    let under = under.to_string_lossy().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&under))
        .collect();
    let mut cgroups = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = h.path().join("caisson-test").join(id);
        if p.exists() {
            cgroups.push(p.display().to_string());
        }
    }
    let mut procs = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(marker) {
                procs.push(format!("{pid}: {c}"));
            }
        }
    }
    Leaks {
        mounts,
        cgroups,
        procs,
    }
}

/// Assert nothing of container `id` is left on the host.
pub fn assert_no_leaks(env: &Env, id: &str, marker: &str) {
    let state_dir = env.root.join(id);
    assert!(
        !state_dir.exists(),
        "state dir {} left behind",
        state_dir.display()
    );
    let l = leaks(env.tmp.path(), id, marker);
    assert!(l.mounts.is_empty(), "mounts left: {:?}", l.mounts);
    assert!(l.cgroups.is_empty(), "cgroups left: {:?}", l.cgroups);
    assert!(l.procs.is_empty(), "processes left: {:?}", l.procs);
}

/// Wait until `f` is true (polling every 10 ms, up to `secs`).
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f()
}

impl Env {
    /// Like [`Env::rt`], with `input` on stdin.
    pub fn rt_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut inp = tempfile::tempfile().unwrap();
        {
            use std::io::{Seek, Write};
            inp.write_all(input).unwrap();
            inp.seek(std::io::SeekFrom::Start(0)).unwrap();
        }
        self.rt_with(args, std::process::Stdio::from(inp), &[])
    }
}

/// A console socket as conmon and containerd's shim provide one: a listening Unix
/// socket; `accept_master` takes the pty master the runtime sends (SCM_RIGHTS) and
/// the pty name sent with it.
pub struct ConsoleSocket {
    pub path: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl ConsoleSocket {
    pub fn new(dir: &Path) -> ConsoleSocket {
        let path = dir.join(format!("console-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        ConsoleSocket { path, listener }
    }

    pub fn accept_master(&self) -> (std::os::fd::OwnedFd, String) {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
        use std::os::fd::{AsRawFd, FromRawFd};
        let (conn, _) = self.listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<UnixAddr>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let n = msg.bytes;
        let mut fd = None;
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                fd = fds.first().copied();
            }
        }
        let fd = fd.expect("no fd in the console socket message");
        let name = String::from_utf8_lossy(&buf[..n]).into_owned();
        // SAFETY: the kernel installed this fd for us just now.
        (unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }, name)
    }
}

/// Read a pty master until the slave side is closed (EIO) or `secs` pass.
pub fn read_pty(master: &std::os::fd::OwnedFd, secs: u64) -> String {
    use std::os::fd::AsFd;
    let mut out = Vec::new();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut buf = [0u8; 4096];
    while std::time::Instant::now() < end {
        let mut fds = [nix::poll::PollFd::new(
            master.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
        if fds[0].revents().is_none_or(|r| r.is_empty()) {
            continue;
        }
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
