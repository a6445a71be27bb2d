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
