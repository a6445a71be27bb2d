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

/// Default largest log file before rotation (`--log-opt max-size`).
pub const LOG_MAX: u64 = 10 << 20;
/// Default number of log files kept, the live one included (`--log-opt max-file`).
pub const LOG_FILES: u32 = 2;

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

/// Unmount a container's root (lazily, in case something still uses it), and the
/// idmapped layer mounts under it.
pub fn unmount_rootfs(cdir: &Path) {
    let root = cdir.join("bundle/rootfs");
    while nix::mount::umount2(&root, nix::mount::MntFlags::MNT_DETACH).is_ok() {}
    let lower = cdir.join("lower");
    if let Ok(rd) = std::fs::read_dir(&lower) {
        for e in rd.flatten() {
            while nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH).is_ok() {}
        }
        let _ = std::fs::remove_dir_all(&lower);
    }
}

/// `--userns auto`: mount each layer idmapped (disk id k shows as host id base+k)
/// at `<cdir>/lower/<n>`; returns those paths, top first.
fn idmapped_lowers(
    cdir: &Path,
    lowers: &[PathBuf],
    m: crate::userns::IdMap,
) -> Result<Vec<PathBuf>> {
    let sys = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e: caisson_sys::SysError| EngineError::Io {
            op,
            path,
            source: std::io::Error::other(e.to_string()),
        }
    };
    let ns = caisson_sys::userns_fd(&m.uid_map(), &m.gid_map())
        .map_err(sys("create user namespace for", cdir))?;
    let base = cdir.join("lower");
    std::fs::create_dir_all(&base).map_err(io_err("create", &base))?;
    let mut out = Vec::new();
    for (i, l) in lowers.iter().enumerate() {
        let target = base.join(i.to_string());
        std::fs::create_dir_all(&target).map_err(io_err("create", &target))?;
        let tree = caisson_sys::idmapped_clone(l, ns.as_fd()).map_err(sys("idmap", l))?;
        caisson_sys::move_mount_to(tree.as_fd(), &target)
            .map_err(sys("mount idmapped layer on", &target))?;
        out.push(target);
    }
    Ok(out)
}

fn mount_rootfs(engine: &Engine, r: &Record, cdir: &Path) -> Result<()> {
    let mut lowers = engine.lower_dirs(r);
    for l in &lowers {
        if !l.is_dir() {
            return Err(EngineError::NotFound(format!(
                "layer {} of image {} is gone from the store (was the image removed?)",
                l.display(),
                r.image
            )));
        }
    }
    unmount_rootfs(cdir);
    if let Some(m) = r.idmap {
        lowers = idmapped_lowers(cdir, &lowers, m)?;
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

/// Rotating JSON-lines log (`{"time","stream","log"}`, Docker's json-file format):
/// `ctr.log`, then `ctr.log.1` … `ctr.log.<files-1>` (oldest last).
struct Log {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max: u64,
    files: u32,
    /// Unfinished line per stream: a record is one line, as in Docker's json-file.
    partial: Vec<(&'static str, Vec<u8>)>,
}

/// Longest record; a longer line is split (Docker does the same at 16 KiB).
const LOG_LINE_MAX: usize = 16 * 1024;

impl Log {
    fn open(path: PathBuf, max: u64, files: u32) -> Result<Log> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Log {
            path,
            file,
            size,
            max,
            files: files.max(1),
            partial: Vec::new(),
        })
    }

    /// Log `data` of `stream`, one record per complete line.
    fn write(&mut self, stream: &'static str, data: &[u8]) {
        let i = match self.partial.iter().position(|(s, _)| *s == stream) {
            Some(i) => i,
            None => {
                self.partial.push((stream, Vec::new()));
                self.partial.len() - 1
            }
        };
        let mut buf = std::mem::take(&mut self.partial[i].1);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + nl + 1;
            for chunk in buf[start..end].chunks(LOG_LINE_MAX) {
                self.record(stream, chunk);
            }
            start = end;
        }
        let mut rest = buf.split_off(start);
        while rest.len() >= LOG_LINE_MAX {
            let tail = rest.split_off(LOG_LINE_MAX);
            self.record(stream, &rest);
            rest = tail;
        }
        self.partial[i].1 = rest;
    }

    /// Log what is left of unfinished lines (at the end of the streams).
    fn flush(&mut self) {
        for (stream, buf) in std::mem::take(&mut self.partial) {
            if !buf.is_empty() {
                self.record(stream, &buf);
            }
        }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        self.path.with_extension(format!("log.{n}"))
    }

    fn record(&mut self, stream: &str, data: &[u8]) {
        let line = serde_json::json!({
            "time": now(),
            "stream": stream,
            "log": String::from_utf8_lossy(data),
        })
        .to_string();
        if self.size > 0 && self.size + line.len() as u64 + 1 > self.max {
            if self.files == 1 {
                let _ = self.file.set_len(0);
            } else {
                for n in (1..self.files - 1).rev() {
                    let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
                }
                let _ = std::fs::rename(&self.path, self.rotated(1));
                if let Ok(f) = std::fs::File::create(&self.path) {
                    self.file = f;
                }
            }
            self.size = 0;
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
            // `--rm`: a container that could not start is not kept either
            if let Ok(r) = engine.load(id) {
                if r.auto_remove {
                    let _ = engine.remove(&r, true);
                }
            }
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
    mount_rootfs(engine, &r, &cdir).inspect_err(|_| unmount_rootfs(&cdir))?;
    let fail = |e: EngineError| {
        unmount_rootfs(&cdir);
        e
    };
    fill_volumes(engine, &r, &cdir).map_err(fail)?;
    let _ = engine.runtime_cmd(&["delete", "--force", id]); // a stale runtime entry
    let mut log = Log::open(
        cdir.join("ctr.log"),
        r.log_max_size.unwrap_or(LOG_MAX),
        r.log_max_files.unwrap_or(LOG_FILES),
    )
    .map_err(fail)?;
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
    let listeners = match crate::ports::listen(&mut r.ports) {
        Ok(l) => l,
        Err(e) => {
            let _ = engine.runtime_cmd(&["delete", "--force", id]);
            return Err(fail(e));
        }
    };
    caisson_container::install_forwarding(pid);
    let o = engine.runtime_cmd(&["start", id]).map_err(fail)?;
    if !o.status.success() {
        let _ = engine.runtime_cmd(&["delete", "--force", id]);
        return Err(fail(EngineError::Runtime {
            what: "start".into(),
            message: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        }));
    }
    if !listeners.is_empty() {
        let netns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(io_err("open", format!("/proc/{pid}/ns/net")))
            .map_err(fail)?;
        crate::ports::relay(listeners, netns.into());
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
        engine.remove_anonymous_volumes(&r);
    } else {
        r.exit_code = Some(code);
        r.finished_at = Some(now());
        r.pid = None;
        engine.save(&r)?;
    }
    Ok(code)
}

/// Fill each new volume (marked `.fill` at creation) with what the image has at its
/// mount point, as Docker does; the path is resolved inside the rootfs, so a symlink
/// in the image cannot point the copy at the host.
fn fill_volumes(engine: &Engine, r: &Record, cdir: &Path) -> Result<()> {
    use nix::fcntl::OFlag;
    let root = cdir.join("bundle/rootfs");
    for v in &r.volumes {
        let vdir = engine.volumes_dir().join(&v.name);
        let marker = vdir.join(".fill");
        if !marker.exists() {
            continue;
        }
        let rootfd = std::fs::File::open(&root).map_err(io_err("open", &root))?;
        let src = caisson_container::rootfs::open_in_root(
            rootfd.as_fd(),
            Path::new(&v.destination),
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
        );
        if let Ok(src) = src {
            use std::os::fd::AsRawFd;
            let from = PathBuf::from(format!("/proc/self/fd/{}", src.as_raw_fd()));
            copy_tree(&from, &vdir.join("_data"), 0)
                .map_err(io_err("fill volume from", &v.destination))?;
        }
        let _ = std::fs::remove_file(&marker);
    }
    Ok(())
}

/// Copy a directory's contents (files, dirs, symlinks as links; modes and owners),
/// never following a link.
fn copy_tree(from: &Path, to: &Path, depth: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if depth > 256 {
        return Err(std::io::Error::other("directory tree deeper than 256"));
    }
    // `from` may be a /proc/self/fd magic link to the directory: follow it (only here)
    let top = std::fs::metadata(from)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(top.mode() & 0o7777))?;
    std::os::unix::fs::lchown(to, Some(top.uid()), Some(top.gid()))?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let m = std::fs::symlink_metadata(&src)?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst, depth + 1)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
            std::os::unix::fs::lchown(&dst, Some(m.uid()), Some(m.gid()))?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
            std::os::unix::fs::lchown(&dst, Some(m.uid()), Some(m.gid()))?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
        // device nodes, fifos and sockets are not copied into volumes
    }
    Ok(())
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
    log.flush();
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
    let mut files = vec![cdir.join("ctr.log")];
    for n in 1.. {
        let p = cdir.join(format!("ctr.log.{n}"));
        if !p.exists() {
            break;
        }
        files.insert(0, p);
    }
    for f in files {
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
