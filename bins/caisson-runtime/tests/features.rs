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
