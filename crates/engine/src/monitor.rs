//! The per-container monitor (what conmon is to podman): it owns the overlay mount
//! and the container's stdio for the container's whole life, writes the log, reaps
//! the init as a child subreaper, records the exit code and cleans up.
//!
//! `caisson` starts it as `caisson __monitor [--attach] <root> <id>` (a fresh exec,
//! never a fork of a process that may have threads). Detached, it reports
//! `started <pid>` (or `error <message>`) on its stdout, then detaches from it.

use std::io::{BufRead, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{io_err, now, Engine, EngineError, Record, Result};

/// Largest log file before rotation (one old file, `ctr.log.1`, is kept).
pub const LOG_MAX: u64 = 10 << 20;

/// Spawn the monitor of `r` (see the module docs).
pub fn spawn(engine: &Engine, r: &Record, attach: bool) -> Result<i32> {
    let exe = std::env::current_exe().map_err(io_err("find", "/proc/self/exe"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("__monitor");
    if attach {
        cmd.arg("--attach");
    }
    cmd.arg(&engine.root).arg(&r.id);
    cmd.env("CAISSON_RUNTIME", &engine.runtime);
    if attach {
        // the monitor shares our terminal; Ctrl-C reaches it and it forwards it
        ignore_interactive_signals();
        let st = cmd
            .status()
            .map_err(io_err("spawn monitor", "caisson __monitor"))?;
        return Ok(st.code().unwrap_or(125));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(io_err("spawn monitor", "caisson __monitor"))?;
    let out = child.stdout.take().expect("piped");
    let mut line = String::new();
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .map_err(io_err("read", "monitor status"))?;
    // the monitor lives on; it is reparented when we exit
    std::mem::forget(child);
    match line.trim().split_once(' ') {
        Some(("started", _)) => Ok(0),
        Some(("error", m)) => Err(EngineError::Invalid(m.to_string())),
        _ => Err(EngineError::Invalid(format!(
            "the container's monitor died before starting it{}",
            if line.is_empty() {
                String::new()
            } else {
                format!(": {line}")
            }
        ))),
    }
}

fn ignore_interactive_signals() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for s in [
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGHUP,
    ] {
        // SAFETY: SIG_IGN installs no handler code.
        let _ = unsafe { signal(s, SigHandler::SigIgn) };
    }
}

/// Unmount a container's root (lazily, in case something still uses it).
pub fn unmount_rootfs(cdir: &Path) {
    let root = cdir.join("bundle/rootfs");
    while nix::mount::umount2(&root, nix::mount::MntFlags::MNT_DETACH).is_ok() {}
}

fn mount_rootfs(engine: &Engine, r: &Record, cdir: &Path) -> Result<()> {
    let lowers = engine.lower_dirs(r);
    for l in &lowers {
        if !l.is_dir() {
            return Err(EngineError::NotFound(format!(
                "layer {} of image {} is gone from the store (was the image removed?)",
                l.display(),
                r.image
            )));
        }
    }
    let lower = lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        cdir.join("upper").display(),
        cdir.join("work").display()
    );
    if data.len() > 4000 {
        return Err(EngineError::Invalid(format!(
            "{} layers: the overlay mount options exceed a page",
            lowers.len()
        )));
    }
    let target = cdir.join("bundle/rootfs");
    unmount_rootfs(cdir);
    nix::mount::mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        nix::mount::MsFlags::MS_NODEV,
        Some(data.as_str()),
    )
    .map_err(|e| EngineError::Io {
        op: "mount overlay on",
        path: target.clone(),
        source: e.into(),
    })
}

/// Rotating JSON-lines log (`{"time","stream","log"}`, Docker's json-file format).
struct Log {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
}

impl Log {
    fn open(path: PathBuf) -> Result<Log> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Log { path, file, size })
    }

    fn write(&mut self, stream: &str, data: &[u8]) {
        let line = serde_json::json!({
            "time": now(),
            "stream": stream,
            "log": String::from_utf8_lossy(data),
        })
        .to_string();
        if self.size + line.len() as u64 + 1 > LOG_MAX {
            let old = self.path.with_extension("log.1");
            let _ = std::fs::rename(&self.path, old);
            if let Ok(f) = std::fs::File::create(&self.path) {
                self.file = f;
                self.size = 0;
            }
        }
        if writeln!(self.file, "{line}").is_ok() {
            self.size += line.len() as u64 + 1;
        }
    }
}

/// The monitor's body (`caisson __monitor`). Returns the exit code to exit with.
pub fn run(root: &Path, id: &str, attach: bool) -> i32 {
    let mut status_out = (!attach).then(std::io::stdout);
    let report = |out: &mut Option<std::io::Stdout>, msg: &str| {
        if let Some(o) = out.as_mut() {
            let _ = writeln!(o, "{msg}");
            let _ = o.flush();
        }
    };
    let engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => {
            report(&mut status_out, &format!("error {e}"));
            eprintln!("caisson: {e}");
            return 125;
        }
    };
    match monitor(&engine, id, attach, &mut status_out) {
        Ok(code) => code,
        Err(e) => {
            report(&mut status_out, &format!("error {e}"));
            if attach {
                eprintln!("caisson: {e}");
            }
            125
        }
    }
}

fn monitor(
    engine: &Engine,
    id: &str,
    attach: bool,
    status_out: &mut Option<std::io::Stdout>,
) -> Result<i32> {
    if !attach {
        let _ = nix::unistd::setsid();
    }
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| EngineError::Io {
        op: "become child subreaper",
        path: "prctl".into(),
        source: e.into(),
    })?;
    let mut r = engine.load(id)?;
    let cdir = engine.container_dir(id);
    mount_rootfs(engine, &r, &cdir)?;
    let fail = |e: EngineError| {
        unmount_rootfs(&cdir);
        e
    };
    let _ = engine.runtime_cmd(&["delete", "--force", id]); // a stale runtime entry
    let mut log = Log::open(cdir.join("ctr.log")).map_err(fail)?;
    let pid_file = cdir.join("init.pid");
    let mut create = Command::new(&engine.runtime);
    create
        .arg("--root")
        .arg(engine.runtime_root())
        .arg("--log")
        .arg(cdir.join("runtime.log"))
        .arg("create")
        .arg("--bundle")
        .arg(cdir.join("bundle"))
        .arg("--pid-file")
        .arg(&pid_file);
    // stdio of the container
    let mut console: Option<std::os::unix::net::UnixListener> = None;
    let mut pipes: Vec<(OwnedFd, &'static str)> = Vec::new();
    let mut sock_dir: Option<PathBuf> = None;
    if r.tty {
        // A Unix socket path must fit in 108 bytes: the container dir may not, so the
        // socket lives in a private (0700, unpredictable) directory under /tmp.
        let dir = nix::unistd::mkdtemp("/tmp/caisson-tty-XXXXXX").map_err(|e| {
            fail(EngineError::Io {
                op: "create",
                path: "/tmp/caisson-tty-XXXXXX".into(),
                source: e.into(),
            })
        })?;
        let sock = dir.join("console.sock");
        sock_dir = Some(dir);
        let l = std::os::unix::net::UnixListener::bind(&sock)
            .map_err(io_err("bind", &sock))
            .map_err(fail)?;
        create.arg("--console-socket").arg(&sock);
        create
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        console = Some(l);
    } else {
        let (or, ow) = nix::unistd::pipe().map_err(|e| {
            fail(EngineError::Io {
                op: "pipe",
                path: "stdout".into(),
                source: e.into(),
            })
        })?;
        let (er, ew) = nix::unistd::pipe().map_err(|e| {
            fail(EngineError::Io {
                op: "pipe",
                path: "stderr".into(),
                source: e.into(),
            })
        })?;
        create.stdout(Stdio::from(ow)).stderr(Stdio::from(ew));
        create.stdin(if attach && r.interactive {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
        pipes.push((or, "stdout"));
        pipes.push((er, "stderr"));
    }
    create.arg(id);
    let mut child = create
        .spawn()
        .map_err(io_err("run", &engine.runtime))
        .map_err(fail)?;
    // the console master arrives during create
    let master = match &console {
        Some(l) => Some(accept_master(l).map_err(fail)?),
        None => None,
    };
    drop(console);
    if let Some(d) = sock_dir.take() {
        let _ = std::fs::remove_dir_all(d);
    }
    let st = child
        .wait()
        .map_err(io_err("wait for", &engine.runtime))
        .map_err(fail)?;
    drop(create);
    if !st.success() {
        let msg = std::fs::read_to_string(cdir.join("runtime.log")).unwrap_or_default();
        let msg = msg.lines().last().unwrap_or("").to_string();
        let _ = engine.runtime_cmd(&["delete", "--force", id]);
        return Err(fail(EngineError::Runtime {
            what: "create".into(),
            message: msg,
        }));
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    caisson_container::install_forwarding(pid);
    let o = engine.runtime_cmd(&["start", id]).map_err(fail)?;
    if !o.status.success() {
        let _ = engine.runtime_cmd(&["delete", "--force", id]);
        return Err(fail(EngineError::Runtime {
            what: "start".into(),
            message: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        }));
    }
    r.started_at = Some(now());
    r.pid = Some(pid);
    r.exit_code = None;
    r.finished_at = None;
    engine.save(&r)?;
    if let Some(o) = status_out.as_mut() {
        let _ = writeln!(o, "started {pid}");
        let _ = o.flush();
    }
    // detached: stop holding the caller's pipe
    if !attach {
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            let _ = nix::unistd::dup2_stdout(null.as_fd());
        }
    }
    // relay and log until the container's side of its stdio is closed
    match master {
        Some(m) if attach => {
            let _ = caisson_container::console::relay(m);
        }
        Some(m) => pump(vec![(m, "stdout")], &mut log, false),
        None => pump(pipes, &mut log, attach),
    }
    let code = reap(pid);
    let _ = engine.runtime_cmd(&["delete", "--force", id]);
    unmount_rootfs(&cdir);
    if r.auto_remove {
        let _ = std::fs::remove_dir_all(&cdir);
    } else {
        r.exit_code = Some(code);
        r.finished_at = Some(now());
        r.pid = None;
        engine.save(&r)?;
    }
    Ok(code)
}

fn accept_master(l: &std::os::unix::net::UnixListener) -> Result<OwnedFd> {
    let (conn, _) = l.accept().map_err(io_err("accept on", "console socket"))?;
    caisson_container::console::recv_master(conn.as_fd())
        .map_err(|e| EngineError::Invalid(e.to_string()))
}

/// Copy every fd to the log (and, attached, to our stdout/stderr) until all are at EOF.
fn pump(mut fds: Vec<(OwnedFd, &'static str)>, log: &mut Log, echo: bool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut buf = vec![0u8; 32 * 1024];
    while !fds.is_empty() {
        let mut pfds: Vec<PollFd> = fds
            .iter()
            .map(|(f, _)| PollFd::new(f.as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut pfds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        let ready: Vec<usize> = pfds
            .iter()
            .enumerate()
            .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
            .map(|(i, _)| i)
            .collect();
        drop(pfds);
        let mut closed = Vec::new();
        for i in ready {
            let (fd, stream) = &fds[i];
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => closed.push(i),
                Ok(n) => {
                    log.write(stream, &buf[..n]);
                    if echo {
                        let _ = if *stream == "stderr" {
                            std::io::stderr().write_all(&buf[..n])
                        } else {
                            std::io::stdout().write_all(&buf[..n])
                        };
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            fds.remove(i);
        }
    }
    let _ = std::io::stdout().flush();
}

/// Reap children until the init exits; its exit code, shell-style.
fn reap(pid: i32) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    if pid <= 0 {
        return 125;
    }
    loop {
        match waitpid(nix::unistd::Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => return c,
            Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => return 128 + s as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => {
                // not our child (e.g. the monitor was restarted): poll for its end
                while std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                return 0;
            }
        }
    }
}

/// Read a container's log: `(stream, text)` per record, from the rotated file too.
pub fn read_log(cdir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in [cdir.join("ctr.log.1"), cdir.join("ctr.log")] {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for l in text.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
                out.push((
                    v["stream"].as_str().unwrap_or("stdout").to_string(),
                    v["log"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
    }
    out
}
