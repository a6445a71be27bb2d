//! The kernel test cases (see the crate-level comment in `main.rs`).

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use caisson_seccomp::{send_listener_fd, SeccompFilter};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{getpgid, getpid, getsid, mkdir, Pid};

/// libtest's name of test `name` of this module (the path below the crate root).
fn test_name(name: &str) -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_string(),
    }
}

const CHILD_ENV: &str = "CAISSON_SECCOMP_CHILD";
const DIR_ENV: &str = "CAISSON_SECCOMP_DIR";
const LISTENER_ENV: &str = "CAISSON_SECCOMP_LISTENER";
const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------
// Child side
// ---------------------------------------------------------------------------------

/// The scenario this process must play, when it is a re-executed child.
fn child_scenario() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Compile `json`, then (as the container init would) disable core dumps, set
/// no_new_privs and load it on this thread.
fn child_load(json: &str) -> Option<OwnedFd> {
    let profile = serde_json::from_str(json).expect("profile JSON");
    let filter = SeccompFilter::compile(&profile).expect("compile");
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
        .expect("RLIMIT_CORE");
    nix::sys::prctl::set_no_new_privs().expect("no_new_privs");
    let fd = filter.load().expect("load");
    assert_eq!(fd.is_some(), filter.uses_notify());
    fd
}

/// Write the result line and leave without returning to the test harness (whose
/// thread plumbing may be filtered).
fn child_report(line: &str) -> ! {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(format!("RESULT {line}\n").as_bytes());
    let _ = err.flush();
    std::process::exit(0)
}

/// "ok" or the errno number.
fn outcome<T>(r: nix::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => (e as i32).to_string(),
    }
}

fn child_dir() -> PathBuf {
    PathBuf::from(std::env::var_os(DIR_ENV).expect("directory for the child"))
}

// ---------------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------------

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    /// The child's `RESULT` line (without the prefix).
    fn result(&self) -> &str {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("no RESULT line from the child\n{self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status: {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// A re-executed copy of this binary running only `test` as `scenario`; killed if
/// dropped before it was waited for.
struct ChildProc {
    child: Child,
    readers: Option<[std::thread::JoinHandle<String>; 2]>,
}

impl ChildProc {
    fn spawn(test: &str, scenario: &str, env: &[(&str, &Path)]) -> Self {
        let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
        cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, scenario)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the test binary");
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = r.read_to_string(&mut s);
                s
            })
        };
        let out = drain(Box::new(child.stdout.take().expect("stdout")));
        let err = drain(Box::new(child.stderr.take().expect("stderr")));
        Self {
            child,
            readers: Some([out, err]),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait (bounded by [`TIMEOUT`]) and collect the output.
    fn wait(mut self) -> Output {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "child {} timed out", self.pid());
            std::thread::sleep(Duration::from_millis(5));
        };
        let [out, err] = self.readers.take().expect("readers");
        Output {
            status,
            stdout: out.join().expect("stdout reader"),
            stderr: err.join().expect("stderr reader"),
        }
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if self.readers.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------

const ERRNO_PROFILE: &str = r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  "syscalls": [
    {"names": ["getcwd", "mkdir", "mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
    {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO",
     "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
    {"names": ["fcntl", "fcntl64"], "action": "SCMP_ACT_ERRNO", "errnoRet": 21,
     "args": [{"index": 1, "value": F_GETFL, "op": "SCMP_CMP_EQ"},
              {"index": 1, "value": F_GETFD, "op": "SCMP_CMP_EQ"}]},
    {"names": ["fcntl", "fcntl64"], "action": "SCMP_ACT_ERRNO", "errnoRet": 55,
     "args": [{"index": 1, "value": F_SETFD, "op": "SCMP_CMP_EQ"},
              {"index": 2, "value": FD_CLOEXEC, "op": "SCMP_CMP_EQ"}]},
    {"names": ["fcntl", "fcntl64"], "action": "SCMP_ACT_ERRNO", "errnoRet": 66,
     "args": [{"index": 1, "value": F_SETFL, "op": "SCMP_CMP_EQ"},
              {"index": 2, "value": NONBLOCK_APPEND, "valueTwo": O_NONBLOCK, "op": "SCMP_CMP_MASKED_EQ"}]},
    {"names": ["getsid"], "action": "SCMP_ACT_TRACE"},
    {"names": ["getresuid"], "action": "SCMP_ACT_LOG"}
  ]
}"#;

fn errno_profile() -> String {
    ERRNO_PROFILE
        .replace("F_GETFL", &libc::F_GETFL.to_string())
        .replace("F_GETFD", &libc::F_GETFD.to_string())
        .replace("F_SETFD", &libc::F_SETFD.to_string())
        .replace("F_SETFL", &libc::F_SETFL.to_string())
        .replace("FD_CLOEXEC", &libc::FD_CLOEXEC.to_string())
        .replace(
            "NONBLOCK_APPEND",
            &(libc::O_NONBLOCK | libc::O_APPEND).to_string(),
        )
        .replace("O_NONBLOCK", &libc::O_NONBLOCK.to_string())
}

/// SCMP_ACT_ERRNO with errnoRet and the EPERM default, argument conditions (EQ, OR
/// of a repeated index, AND of different indexes, MASKED_EQ with `value` as the mask
/// and `valueTwo` as the expected bits), SCMP_ACT_TRACE without a tracer (ENOSYS),
/// SCMP_ACT_LOG (allowed), an unknown syscall name (skipped) and extra architectures.
#[test]
fn errno_and_argument_rules() {
    if child_scenario().is_some() {
        let dir = child_dir();
        let file = std::fs::File::open("/dev/null").expect("/dev/null");
        let fd = file.as_fd();
        child_load(&errno_profile());
        let line = [
            ("getcwd", outcome(nix::unistd::getcwd())),
            (
                "mkdir",
                outcome(mkdir(&dir.join("blocked"), Mode::from_bits_truncate(0o755))),
            ),
            ("getpgid(0)", outcome(getpgid(None))),
            ("getpgid(self)", outcome(getpgid(Some(getpid())))),
            ("F_GETFL", outcome(fcntl(fd, FcntlArg::F_GETFL))),
            ("F_GETFD", outcome(fcntl(fd, FcntlArg::F_GETFD))),
            (
                "F_SETFD(CLOEXEC)",
                outcome(fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))),
            ),
            (
                "F_SETFD(0)",
                outcome(fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))),
            ),
            (
                "F_SETFL(NONBLOCK)",
                outcome(fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))),
            ),
            (
                "F_SETFL(NONBLOCK|APPEND)",
                outcome(fcntl(
                    fd,
                    FcntlArg::F_SETFL(OFlag::O_NONBLOCK | OFlag::O_APPEND),
                )),
            ),
            (
                "F_SETFL(APPEND)",
                outcome(fcntl(fd, FcntlArg::F_SETFL(OFlag::O_APPEND))),
            ),
            (
                "F_DUPFD_CLOEXEC",
                outcome(fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(100))),
            ),
            ("getsid", outcome(getsid(None))),
            ("getresuid", outcome(nix::unistd::getresuid())),
        ]
        .map(|(k, v)| format!("{k}={v}"))
        .join(" ");
        child_report(&line);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ChildProc::spawn(
        &test_name("errno_and_argument_rules"),
        "errno",
        &[(DIR_ENV, dir.path())],
    )
    .wait();
    assert!(out.status.success(), "{out}");
    let want = format!(
        "getcwd=42 mkdir=42 getpgid(0)={eperm} getpgid(self)=ok F_GETFL=21 F_GETFD=21 \
         F_SETFD(CLOEXEC)=55 F_SETFD(0)=ok F_SETFL(NONBLOCK)=66 F_SETFL(NONBLOCK|APPEND)=ok \
         F_SETFL(APPEND)=ok \
         F_DUPFD_CLOEXEC=ok getsid={enosys} getresuid=ok",
        eperm = libc::EPERM,
        enosys = libc::ENOSYS,
    );
    assert_eq!(out.result(), want, "{out}");
    assert!(!dir.path().join("blocked").exists());
}

/// SCMP_ACT_KILL_PROCESS and SCMP_ACT_TRAP end the process with SIGSYS.
#[test]
fn kill_process_and_trap_raise_sigsys() {
    if let Some(scenario) = child_scenario() {
        let action = match scenario.as_str() {
            "kill_process" => "SCMP_ACT_KILL_PROCESS",
            "trap" => "SCMP_ACT_TRAP",
            other => panic!("unknown scenario {other}"),
        };
        child_load(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW",
                 "syscalls":[{{"names":["getpgid"],"action":"{action}"}}]}}"#
        ));
        eprintln!("LOADED");
        let r = getpgid(None);
        child_report(&format!("survived getpgid: {r:?}"));
    }
    for scenario in ["kill_process", "trap"] {
        let out = ChildProc::spawn(
            &test_name("kill_process_and_trap_raise_sigsys"),
            scenario,
            &[],
        )
        .wait();
        assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{scenario}: {out}");
        assert!(out.stderr.contains("LOADED"), "{scenario}: {out}");
        assert!(!out.stderr.contains("RESULT"), "{scenario}: {out}");
    }
}

/// Default action SCMP_ACT_ERRNO: `defaultErrnoRet`, else EPERM; a rule repeating the
/// default is skipped, a rule with another errno is kept; the allow-list works.
#[test]
fn default_errno_action() {
    if let Some(scenario) = child_scenario() {
        let default_ret = match scenario.as_str() {
            "with_ret" => r#","defaultErrnoRet":99"#,
            "without_ret" => "",
            other => panic!("unknown scenario {other}"),
        };
        let dir = child_dir();
        let mut line = String::with_capacity(256);
        child_load(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO"{default_ret},"syscalls":[
                {{"names":["write","exit_group","exit","futex","rt_sigprocmask","sigaltstack",
                           "munmap","madvise","mmap","brk","rt_sigreturn"],
                  "action":"SCMP_ACT_ALLOW"}},
                {{"names":["getpgid"],"action":"SCMP_ACT_ERRNO","errnoRet":99}},
                {{"names":["getsid"],"action":"SCMP_ACT_ERRNO","errnoRet":7}}]}}"#
        ));
        let pgid = getpgid(None);
        let mk = mkdir(&dir.join("blocked"), Mode::from_bits_truncate(0o755));
        let sid = getsid(None);
        for (k, v) in [
            ("getpgid", pgid.map(drop)),
            ("mkdir", mk),
            ("getsid", sid.map(drop)),
        ] {
            line.push_str(&format!("{k}={} ", outcome(v)));
        }
        child_report(line.trim_end());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (scenario, default) in [("with_ret", 99), ("without_ret", libc::EPERM)] {
        let out = ChildProc::spawn(
            &test_name("default_errno_action"),
            scenario,
            &[(DIR_ENV, dir.path())],
        )
        .wait();
        assert!(out.status.success(), "{scenario}: {out}");
        assert_eq!(
            out.result(),
            format!("getpgid=99 mkdir={default} getsid=7"),
            "{scenario}: {out}"
        );
    }
    assert!(!dir.path().join("blocked").exists());
}

/// SCMP_ACT_NOTIFY: the child sends its listener fd with `send_listener_fd`; this
/// test is the agent: it checks the payload, then answers three `mkdir`s with an
/// error, a faked success and "continue".
#[test]
fn notify_listener_agent() {
    if child_scenario().is_some() {
        let dir = child_dir();
        let listener = PathBuf::from(std::env::var_os(LISTENER_ENV).expect("listener path"));
        let fd = child_load(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG",
                         "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .expect("notify fd");
        let state = format!(
            r#"{{"ociVersion":"1.2.0","fds":["seccompFd"],"pid":{},"metadata":"agent-meta","state":{{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":{},"bundle":"/b"}}}}"#,
            std::process::id(),
            std::process::id()
        );
        send_listener_fd(&listener, fd.as_fd(), state.as_bytes()).expect("send_listener_fd");
        drop(fd);
        let mode = Mode::from_bits_truncate(0o755);
        let line = ["refused", "faked", "continued"]
            .map(|name| format!("{name}={}", outcome(mkdir(&dir.join(name), mode))))
            .join(" ");
        child_report(&line);
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent socket");
    listener.set_nonblocking(true).expect("nonblocking");
    let mut child = ChildProc::spawn(
        &test_name("notify_listener_agent"),
        "notify",
        &[(DIR_ENV, dir.path()), (LISTENER_ENV, &sock)],
    );
    let child_pid = child.pid();

    // Accept the runtime's connection.
    let deadline = Instant::now() + TIMEOUT;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    child.still_running(),
                    "child exited before connecting: {}",
                    child.wait()
                );
                assert!(
                    Instant::now() < deadline,
                    "no connection on {}",
                    sock.display()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(TIMEOUT)).expect("SO_RCVTIMEO");

    // One message: the process state JSON with the listener fd in SCM_RIGHTS.
    let (payload, seccomp_fd) = recv_with_fd(&stream);
    let state: serde_json::Value = serde_json::from_slice(&payload).expect("payload is JSON");
    assert_eq!(state["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(state["pid"], child_pid);
    assert_eq!(state["metadata"], "agent-meta");
    assert_eq!(state["state"]["status"], "creating");

    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    let raw = seccomp_fd.as_raw_fd();
    for step in ["refused", "faked", "continued"] {
        let mut pfd = [nix::poll::PollFd::new(
            seccomp_fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let n = nix::poll::poll(&mut pfd, 10_000u16).expect("poll the listener");
        assert_eq!(n, 1, "{step}: no notification within 10s");
        let req = ScmpNotifReq::receive(raw).expect("receive notification");
        // The notifying thread (the child's test thread), not the thread group leader.
        let task = format!("/proc/{child_pid}/task/{}", req.pid);
        assert!(
            Path::new(&task).exists(),
            "{step}: {task} is not a thread of the child"
        );
        let name = req.data.syscall.get_name().expect("syscall name");
        assert!(name == "mkdir" || name == "mkdirat", "{step}: {name}");
        let resp = match step {
            "refused" => {
                ScmpNotifResp::new_error(req.id, -libc::EROFS, ScmpNotifRespFlags::empty())
            }
            "faked" => ScmpNotifResp::new_val(req.id, 0, ScmpNotifRespFlags::empty()),
            _ => ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty()),
        };
        resp.respond(raw).expect("respond");
    }

    let out = child.wait();
    assert!(out.status.success(), "{out}");
    assert_eq!(
        out.result(),
        format!("refused={} faked=ok continued=ok", libc::EROFS),
        "{out}"
    );
    assert!(!dir.path().join("refused").exists());
    assert!(
        !dir.path().join("faked").exists(),
        "a faked success must not run mkdir"
    );
    assert!(
        dir.path().join("continued").is_dir(),
        "continue must run mkdir"
    );
}

/// Receive one message with one fd in SCM_RIGHTS (up to 64 KiB of payload).
fn recv_with_fd(stream: &std::os::unix::net::UnixStream) -> (Vec<u8>, OwnedFd) {
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
    .expect("recvmsg");
    let mut fds = Vec::new();
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(r) = c {
            fds.extend(r);
        }
    }
    let len = msg.bytes;
    assert_eq!(fds.len(), 1, "exactly one fd in SCM_RIGHTS");
    // SAFETY: the kernel just installed this fd in our table for this message; nothing
    // else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    buf.truncate(len);
    (buf, fd)
}

/// A second `SeccompFilter` reused for two loads works (the compiled program is kept),
/// and a filter can be loaded on top of another one.
#[test]
fn filter_is_reusable_and_stackable() {
    if child_scenario().is_some() {
        let profile = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["getpgid"],"action":"SCMP_ACT_ERRNO","errnoRet":3}]}"#,
        )
        .expect("profile");
        let filter = SeccompFilter::compile(&profile).expect("compile");
        nix::sys::prctl::set_no_new_privs().expect("no_new_privs");
        let first = filter.load().map(|fd| fd.is_none());
        let second = filter.clone().load().map(|fd| fd.is_none());
        child_load(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["getsid"],"action":"SCMP_ACT_ERRNO","errnoRet":4}]}"#,
        );
        child_report(&format!(
            "first={first:?} second={second:?} getpgid={} getsid={} getpgid(self)={}",
            outcome(getpgid(None)),
            outcome(getsid(None)),
            outcome(getpgid(Some(Pid::this())))
        ));
    }
    let out = ChildProc::spawn(&test_name("filter_is_reusable_and_stackable"), "stack", &[]).wait();
    assert!(out.status.success(), "{out}");
    assert_eq!(
        out.result(),
        "first=Ok(true) second=Ok(true) getpgid=3 getsid=4 getpgid(self)=3",
        "{out}"
    );
}
