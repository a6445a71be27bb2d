//! Container lifecycle for Caisson: `create`, `start`, `run`, `kill`, `delete`,
//! `state`, `list`, `ps`, `exec` — the OCI runtime operations, shared by
//! `caisson-runtime` (runc-compatible CLI) and, later, the `caisson` engine.
//!
//! See [`process`] for who forks whom and what crosses the sync channel, and
//! [`state`] for what lives under the runtime root.
#![warn(missing_docs)]

pub mod caps;
pub mod config;
pub mod console;
pub mod error;
pub mod hooks;
pub mod lsm;
pub mod process;
pub mod rootfs;
pub mod state;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use caisson_cgroups::{CgroupManager, CgroupOptions};
use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

pub use crate::error::{ContainerError, Result};
use crate::process::channel::{self, Msg};
use crate::state::{ContainerDir, State, Status};

/// Options of `create` / `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// State root (`--root`).
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// `--rootless`.
    pub rootless: bool,
    /// `--console-socket`: where the pty master goes when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
}

/// A container whose init was created (returned by [`create`]).
#[derive(Debug)]
pub struct Created {
    /// Host pid of the init.
    pub pid: i32,
    dir: ContainerDir,
    state: State,
}

fn cgroup_manager(state: &State) -> Result<Box<dyn CgroupManager>> {
    Ok(caisson_cgroups::create_manager(&CgroupOptions {
        cgroups_path: state.cgroups_path.as_deref(),
        container_id: &state.id,
        systemd: state.systemd_cgroup,
        rootless: state.rootless,
    })?)
}

/// Undo a half-done `create`: kill the child, remove the cgroup and the state dir.
struct CreateGuard<'a> {
    dir: Option<&'a ContainerDir>,
    pid: i32,
    cgroup: Option<&'a dyn CgroupManager>,
    armed: bool,
}

impl Drop for CreateGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.pid > 0 {
            let pid = nix::unistd::Pid::from_raw(self.pid);
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup {
            if let Ok(pids) = cg.pids() {
                for p in pids {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
                }
            }
            if let Err(e) = cg.remove() {
                tracing::warn!("cleanup: {e}");
            }
        }
        if let Some(d) = self.dir {
            let _ = std::fs::remove_dir_all(&d.path);
        }
    }
}

/// Test hook: when `CAISSON_RUNTIME_TEST_STOP_AT` names `step`, stop this process
/// (SIGSTOP) there, so a test can SIGKILL the runtime at exactly that step of
/// `create` and check that `delete --force` cleans up. Inert otherwise.
fn test_stop_at(step: &str) {
    if std::env::var_os("CAISSON_RUNTIME_TEST_STOP_AT").is_some_and(|s| s == step) {
        let _ = nix::sys::signal::raise(Signal::SIGSTOP);
    }
}

/// `create`: set the container up and leave its init waiting for `start`.
pub fn create(opts: &CreateOptions) -> Result<Created> {
    let bundle = config::load_bundle(&opts.bundle)?;
    let console = console_for(&bundle.spec, opts.console_socket.as_deref(), true)?;
    create_bundle(opts, &bundle, console.as_ref().map(AsFd::as_fd))
}

/// The console socket for a process: connected when `terminal` is set and a path
/// was given; an error (as runc's) when the two disagree. `None` with a terminal
/// only when `detached` is false (the caller then relays the terminal itself).
fn console_for(
    spec: &Spec,
    path: Option<&Path>,
    detached: bool,
) -> Result<Option<std::os::fd::OwnedFd>> {
    let terminal = spec
        .process()
        .as_ref()
        .is_some_and(|p| p.terminal() == Some(true));
    console_for_process(terminal, path, detached)
}

fn console_for_process(
    terminal: bool,
    path: Option<&Path>,
    detached: bool,
) -> Result<Option<std::os::fd::OwnedFd>> {
    match (terminal, path) {
        (true, Some(p)) => Ok(Some(console::connect(p)?)),
        (true, None) if detached => Err(ContainerError::config(
            "process.terminal",
            "is true: a detached container needs --console-socket to hand the terminal to",
        )),
        (true, None) => Ok(None),
        (false, Some(_)) => Err(ContainerError::config(
            "process.terminal",
            "is false: --console-socket can only be used with a terminal",
        )),
        (false, None) => Ok(None),
    }
}

fn create_bundle(
    opts: &CreateOptions,
    bundle: &config::Bundle,
    console: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<Created> {
    let spec = &bundle.spec;
    // A config without `process` may be created (the OCI spec allows it); `start`
    // then fails and stops the container.
    let process = spec.process().as_ref();
    let seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| compile_seccomp(&opts.root, s))
        .transpose()?;
    let listener = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_path().clone());
    // No cgroupsPath: an explicit absolute default, so that every later command
    // (delete, kill --all, ps — possibly run by another process in another cgroup)
    // resolves the very same cgroup.
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .or_else(|| (!opts.systemd_cgroup).then(|| PathBuf::from("/caisson").join(&opts.id)));
    let mut state = State {
        oci_version: state::OCI_VERSION.into(),
        id: opts.id.clone(),
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroups_path,
        systemd_cgroup: opts.systemd_cgroup,
        rootless: opts.rootless,
        created_done: false,
        paused: false,
    };
    let cg = cgroup_manager(&state)?;
    let dir = ContainerDir::create(&opts.root, &opts.id)?;
    let mut guard = CreateGuard {
        dir: Some(&dir),
        pid: 0,
        cgroup: None,
        armed: true,
    };
    test_stop_at("state-dir");
    dir.save(&state)?;
    state::write_atomic(&dir.path.join("config.json"), &bundle.raw)?;
    let fifo_path = dir.fifo();
    nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(|e| ContainerError::nix(format!("mkfifo {}", fifo_path.display()), e))?;
    // mkfifo is subject to the umask; the init opens the fifo as the container's
    // user (possibly an unmapped uid in a user namespace): it must be writable by all.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &fifo_path,
        nix::sys::stat::Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| ContainerError::nix(format!("chmod {}", fifo_path.display()), e))?;
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| ContainerError::nix(format!("open {}", fifo_path.display()), e))?;
    let (parent_end, child_end) = channel::pair()?;
    prepare_parent_namespaces(spec)?;
    let hooks = spec.hooks().as_ref();
    #[allow(deprecated)]
    let runtime_hooks = hooks.is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    let (preserve_fds, extra_env) = listen_fds(opts.preserve_fds);
    let args = process::ChildArgs {
        spec,
        process,
        role: process::Role::Init {
            rootfs: &bundle.rootfs,
            fifo: &fifo,
            no_pivot: opts.no_pivot,
            runtime_hooks,
            hook_state: &state,
        },
        seccomp: seccomp.as_ref(),
        preserve_fds,
        extra_env,
        console: console.map(|c| std::os::fd::AsRawFd::as_raw_fd(&c)),
    };
    let pid = process::spawn(process::clone_flags(spec), &args, child_end)?;
    guard.pid = pid;
    guard.cgroup = Some(cg.as_ref());
    state.pid = pid;
    state.pid_start_time = state::pid_start_time(pid).unwrap_or(0);
    dir.save(&state)?;
    test_stop_at("clone");
    cg.apply(pid)?;
    if let Some(r) = cgroup_resources(spec) {
        cg.set(&r)?;
    }
    test_stop_at("cgroup");
    if config::has_new_ns(spec, LinuxNamespaceType::User) {
        process::write_id_maps(pid, spec, opts.rootless)?;
        // Inside a new user namespace the init cannot write its own oom_score_adj
        // (the file belongs to host root): set it from here, as runc does. The
        // init then finds the value already in place.
        if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
            let f = format!("/proc/{pid}/oom_score_adj");
            std::fs::write(&f, adj.to_string()).map_err(|e| ContainerError::io("write", f, e))?;
        }
    }
    parent_end.send(&Msg::Go(pid))?;
    test_stop_at("go");
    loop {
        match parent_end.recv()? {
            Some(Msg::HooksPlease) => {
                let json = serde_json::to_vec(&state.oci(Status::Created)).expect("serialises");
                if let Some(h) = hooks {
                    #[allow(deprecated)]
                    hooks::run_hooks("prestart", h.prestart().as_ref(), &json)?;
                    hooks::run_hooks("createRuntime", h.create_runtime().as_ref(), &json)?;
                }
                parent_end.send(&Msg::HooksDone)?;
            }
            Some(Msg::SeccompFd(fd)) => {
                let Some(path) = listener.as_ref() else {
                    return Err(ContainerError::config(
                        "linux.seccomp.listenerPath",
                        "SCMP_ACT_NOTIFY is used but no listenerPath is set",
                    ));
                };
                let json = process_state_json(&state, spec);
                caisson_seccomp::send_listener_fd(path, fd.as_fd(), &json)?;
            }
            Some(Msg::Ready) => {
                test_stop_at("ready");
                break;
            }
            Some(Msg::Error(m)) => return Err(ContainerError::InitFailed(m)),
            Some(Msg::Go(_) | Msg::HooksDone) => {
                return Err(ContainerError::InitFailed(
                    "unexpected message from init".into(),
                ))
            }
            None => {
                return Err(ContainerError::InitFailed(
                    "the container init exited during setup".into(),
                ))
            }
        }
    }
    state.created_done = true;
    dir.save(&state)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    guard.armed = false;
    drop(guard);
    Ok(Created { pid, dir, state })
}

/// The resources to write: the spec's, with the device rules completed as runc does —
/// after the spec's own rules, allow mknod of any node, the default devices, pts,
/// ptmx and tun, and every device listed in `linux.devices` (which the container
/// gets as nodes, so it must be able to use them).
pub fn cgroup_resources(spec: &Spec) -> Option<oci_spec::runtime::LinuxResources> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let linux = spec.linux().as_ref()?;
    let mut r = linux.resources().clone()?;
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.to_string()));
        d
    };
    let mut devices = r.devices().clone().unwrap_or_default();
    if devices.is_empty() {
        // no device policy in the spec: leave the cgroup's (inherited) rules alone
        r.set_devices(None);
        return Some(r);
    }
    use LinuxDeviceType::{B, C};
    devices.push(rule(C, None, None, "m"));
    devices.push(rule(B, None, None, "m"));
    for d in rootfs::default_devices() {
        devices.push(rule(C, Some(d.major()), Some(d.minor()), "rwm"));
    }
    devices.push(rule(C, Some(136), None, "rwm")); // /dev/pts/*
    devices.push(rule(C, Some(5), Some(2), "rwm")); // /dev/ptmx
    devices.push(rule(C, Some(10), Some(200), "rwm")); // /dev/net/tun
    for d in linux.devices().as_deref().unwrap_or(&[]) {
        let t = match d.typ() {
            LinuxDeviceType::B => B,
            _ => C,
        };
        devices.push(rule(t, Some(d.major()), Some(d.minor()), "rwm"));
    }
    r.set_devices(Some(devices));
    Some(r)
}

/// Compile a seccomp profile, reusing the BPF generated for an identical profile
/// before (cache under `<root>/.seccomp-cache`, as crun caches its filters):
/// generating a Docker-sized multi-arch filter costs ~12 ms, a cache hit ~10 µs.
fn compile_seccomp(
    root: &Path,
    profile: &oci_spec::runtime::LinuxSeccomp,
) -> Result<caisson_seccomp::SeccompFilter> {
    Ok(caisson_seccomp::SeccompFilter::compile_cached(
        profile,
        &root.join(".seccomp-cache"),
    )?)
}

/// The OCI "ContainerProcessState" sent with the seccomp listener fd.
fn process_state_json(state: &State, spec: &Spec) -> Vec<u8> {
    let metadata = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_metadata().clone())
        .unwrap_or_default();
    serde_json::to_vec(&serde_json::json!({
        "ociVersion": state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": state.pid,
        "metadata": metadata,
        "state": state.oci(Status::Creating),
    }))
    .expect("serialises")
}

/// Systemd socket activation: when our own environment carries `LISTEN_FDS=N`, pass
/// those fds (3..3+N) through to the container with `LISTEN_FDS`/`LISTEN_PID=1`.
fn listen_fds(preserve: u32) -> (u32, Vec<String>) {
    match std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(n) if n > 0 => (
            preserve + n,
            vec![format!("LISTEN_FDS={n}"), "LISTEN_PID=1".to_string()],
        ),
        _ => (preserve, Vec::new()),
    }
}

/// Parent-side namespace work that must precede clone: a new time namespace (its
/// offsets can only be written before any process lives in it) and joining a pid
/// namespace by path (setns on a pid ns only affects children).
fn prepare_parent_namespaces(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    for ns in linux.namespaces().as_deref().unwrap_or(&[]) {
        match (ns.typ(), ns.path()) {
            (LinuxNamespaceType::Pid, Some(p)) => process::join_ns(LinuxNamespaceType::Pid, p)?,
            (LinuxNamespaceType::Time, Some(p)) => process::join_ns(LinuxNamespaceType::Time, p)?,
            (LinuxNamespaceType::Time, None) => {
                nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(
                    libc::CLONE_NEWTIME,
                ))
                .map_err(|e| ContainerError::nix("unshare time namespace", e))?;
                let mut offsets = String::new();
                for (clock, off) in linux.time_offsets().as_ref().into_iter().flatten() {
                    offsets.push_str(&format!(
                        "{clock} {} {}\n",
                        off.secs().unwrap_or(0),
                        off.nanosecs().unwrap_or(0)
                    ));
                }
                if !offsets.is_empty() {
                    std::fs::write("/proc/self/timens_offsets", offsets).map_err(|e| {
                        ContainerError::io("write time offsets to", "/proc/self/timens_offsets", e)
                    })?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let abs = std::path::absolute(path).map_err(|e| ContainerError::io("resolve", path, e))?;
    let tmp = abs.with_file_name(format!(
        ".{}.tmp",
        abs.file_name().and_then(|n| n.to_str()).unwrap_or("pid")
    ));
    std::fs::write(&tmp, pid.to_string()).map_err(|e| ContainerError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, &abs).map_err(|e| ContainerError::io("rename", &abs, e))
}

/// `start`: let the created container's init exec the user process.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    start_locked(&dir, &state)
}

fn start_locked(dir: &ContainerDir, state: &State) -> Result<()> {
    let st = state::status(dir, state);
    if st != Status::Created {
        return Err(ContainerError::BadStatus {
            id: state.id.clone(),
            status: st.as_str(),
            op: "start (it is not in the created state)",
        });
    }
    let spec = dir.load_config()?;
    if spec.process().is_none() {
        // Nothing to run: the container ends, stopped. The runtime-tools suite (and
        // crun) treat this as a successful start; we warn.
        tracing::warn!(
            "{}: process not set: nothing to start, the container is now stopped",
            state.id
        );
        let _ = std::fs::remove_file(dir.fifo());
        let _ = signal_init(state, Signal::SIGKILL);
        return Ok(());
    }
    // The pidfd first: the init is blocked opening the fifo for writing until we
    // open it for reading; from then on it may exec, finish and be reaped by its
    // parent before we look (a container running `echo` does), and its pid be gone.
    let pidfd = caisson_sys::pidfd_open(state.pid).map_err(|e| match e {
        caisson_sys::SysError::Syscall { ref source, .. }
            if source.raw_os_error() == Some(libc::ESRCH) =>
        {
            ContainerError::InitFailed("the container init exited before start".into())
        }
        e => e.into(),
    })?;
    let fifo = dir.fifo();
    let f = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| ContainerError::nix(format!("open {}", fifo.display()), e))?;
    // The init writes one byte, then keeps the fifo open (close-on-exec) through the
    // startContainer hooks until execve: EOF after the byte means the user process
    // now runs, so a signal sent right after `start` reaches it, not the init.
    let mut got_byte = false;
    loop {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [
            PollFd::new(f.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(ContainerError::nix("poll exec fifo", e)),
            Ok(_) => {}
        }
        let fifo_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        let died = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            let mut b = [0u8; 1];
            match nix::unistd::read(&f, &mut b) {
                Ok(1) => got_byte = true,
                Ok(_) if got_byte => break, // EOF: exec'd (or died after the byte)
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => {
                    // POLLHUP before any writer opened: keep waiting
                    if !got_byte && !died {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                }
                Err(e) => return Err(ContainerError::nix("read exec fifo", e)),
            }
        }
        if died {
            if got_byte {
                break; // the user process ran and exited already
            }
            return Err(ContainerError::InitFailed(
                "the container init exited before start".into(),
            ));
        }
    }
    let _ = std::fs::remove_file(&fifo);
    if let Some(h) = spec.hooks() {
        let json = serde_json::to_vec(&state.oci(Status::Running)).expect("serialises");
        // A failing poststart hook is logged; the lifecycle continues (OCI 1.2).
        if let Err(e) = hooks::run_hooks("poststart", h.poststart().as_ref(), &json) {
            tracing::warn!("{e}");
        }
    }
    Ok(())
}

/// Signals forwarded by a foreground `run`/`exec` to the container process.
static FORWARD_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = FORWARD_PID.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        // kill(2) is async-signal-safe.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::try_from(sig).ok());
    }
}

/// Forward the usual termination and job-control signals (INT, TERM, HUP, QUIT,
/// USR1, USR2, WINCH) received by this process to `pid`.
pub fn install_forwarding(pid: i32) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    FORWARD_PID.store(pid, std::sync::atomic::Ordering::Relaxed);
    let act = SigAction::new(
        SigHandler::Handler(forward_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        // SAFETY: the handler only loads an atomic and calls kill(2), both
        // async-signal-safe.
        let _ = unsafe { sigaction(s, &act) };
    }
}

/// Exit code of a waited-for process, shell-style (128+signal when killed).
fn exit_code(status: nix::sys::wait::WaitStatus) -> Option<i32> {
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

fn wait_child(pid: i32) -> Result<i32> {
    loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(s) => {
                if let Some(c) = exit_code(s) {
                    return Ok(c);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(ContainerError::nix(format!("wait for pid {pid}"), e)),
        }
    }
}

/// `run`: create + start; unless `detach`, wait for the container to exit, delete
/// it, and return its exit code.
pub fn run(opts: &CreateOptions, detach: bool) -> Result<i32> {
    let bundle = config::load_bundle(&opts.bundle)?;
    let mut console = console_for(&bundle.spec, opts.console_socket.as_deref(), detach)?;
    // A foreground terminal without a console socket: we hold the terminal.
    let relay_end = match (&console, bundle.spec.process().as_ref()) {
        (None, Some(p)) if p.terminal() == Some(true) => {
            let (ours, theirs) = console::private_pair()?;
            console = Some(theirs);
            Some(ours)
        }
        _ => None,
    };
    let created = create_bundle(opts, &bundle, console.as_ref().map(AsFd::as_fd))?;
    drop(console);
    if let Err(e) = start_locked(&created.dir, &created.state) {
        let (_, st) = (created.pid, &created.state);
        let _ = destroy(&created.dir, st, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let Created { pid, dir, state } = created;
    drop(dir); // release the lock while the container runs: kill/state must work
    install_forwarding(pid);
    if let Some(s) = relay_end {
        console::relay(console::recv_master(s.as_fd())?)?;
    }
    let code = wait_child(pid)?;
    if let Ok(dir) = ContainerDir::open(&opts.root, &state.id) {
        let st = dir.load().unwrap_or(state);
        destroy(&dir, &st, true)?;
        dir.remove()?;
    }
    Ok(code)
}

/// Parse a signal as runc does: `9`, `KILL`, `SIGKILL`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| ContainerError::Unsupported(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .map_err(|_| ContainerError::Unsupported(format!("invalid signal {s:?}")))
}

/// `kill`: signal the init (or, with `all`, every process in the container's cgroup).
pub fn kill(root: &Path, id: &str, sig: Signal, all: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    let st = state::status(&dir, &state);
    if matches!(st, Status::Stopped | Status::Creating) && !all {
        return Err(ContainerError::BadStatus {
            id: id.to_string(),
            status: st.as_str(),
            op: "kill (container not running)",
        });
    }
    if all {
        let cg = cgroup_manager(&state)?;
        for p in cg.pids()? {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
        }
        return Ok(());
    }
    signal_init(&state, sig)
}

fn signal_init(state: &State, sig: Signal) -> Result<()> {
    let pidfd = caisson_sys::pidfd_open(state.pid)?;
    // Re-check identity after taking the pidfd: the pid may have been reused.
    if state::pid_start_time(state.pid) != Some(state.pid_start_time) {
        return Ok(());
    }
    caisson_sys::pidfd_send_signal(pidfd.as_fd(), sig as i32)?;
    Ok(())
}

/// Kill what is left, remove the cgroup, run poststop hooks. The state dir stays.
fn destroy(dir: &ContainerDir, state: &State, kill_all: bool) -> Result<()> {
    let cg = cgroup_manager(state)?;
    if kill_all {
        if state::init_alive(state) {
            let _ = signal_init(state, Signal::SIGKILL);
        }
        if let Ok(pids) = cg.pids() {
            for p in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
            }
        }
    }
    if state.paused {
        // Frozen tasks (cgroup v1) die only once thawed.
        if let Err(e) = cg.freeze(false) {
            tracing::warn!("thaw {}: {e}", state.id);
        }
    }
    // Wait (bounded) for the init and the cgroup to empty.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    if state.pid > 0 {
        if let Ok(pidfd) = caisson_sys::pidfd_open(state.pid) {
            if state::pid_start_time(state.pid) == Some(state.pid_start_time) {
                let mut fds = [nix::poll::PollFd::new(
                    pidfd.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10_000u16));
            }
        }
    }
    while std::time::Instant::now() < deadline {
        match cg.pids() {
            Ok(p) if !p.is_empty() => {
                for pid in p {
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            _ => break,
        }
    }
    cg.remove()?;
    if state.created_done {
        if let Ok(spec) = dir.load_config() {
            if let Some(h) = spec.hooks() {
                let json = serde_json::to_vec(&state.oci(Status::Stopped)).expect("serialises");
                if let Err(e) = hooks::run_hooks("poststop", h.poststop().as_ref(), &json) {
                    tracing::warn!("{e}");
                }
            }
        }
    }
    Ok(())
}

/// `delete`: remove a stopped (or created) container; with `force`, kill it first.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = match ContainerDir::open(root, id) {
        Ok(d) => d,
        Err(ContainerError::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let state = match dir.load() {
        Ok(s) => s,
        Err(ContainerError::BadState { .. }) => {
            // create was interrupted before the first state write: nothing but the dir.
            return dir.remove();
        }
        Err(e) => return Err(e),
    };
    let st = state::status(&dir, &state);
    // The OCI spec: deleting a container that is not stopped (created included)
    // MUST fail and have no effect, unless forced.
    match st {
        Status::Stopped => destroy(&dir, &state, true)?,
        Status::Creating if !state::init_alive(&state) => destroy(&dir, &state, true)?,
        _ if force => destroy(&dir, &state, true)?,
        _ => {
            return Err(ContainerError::BadStatus {
                id: id.to_string(),
                status: st.as_str(),
                op: "delete (it is not stopped; use --force)",
            })
        }
    }
    dir.remove()
}

/// `state`: the OCI state JSON of a container.
pub fn state_json(root: &Path, id: &str) -> Result<String> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    let st = state::status(&dir, &state);
    Ok(serde_json::to_string_pretty(&state.oci(st)).expect("serialises"))
}

/// One row of `list`.
#[derive(Debug, serde::Serialize)]
pub struct ListEntry {
    /// Id.
    pub id: String,
    /// Pid.
    pub pid: i32,
    /// Status.
    pub status: String,
    /// Bundle.
    pub bundle: PathBuf,
    /// Created.
    pub created: String,
    /// Owner.
    pub owner: String,
}

/// `list`: every container under `root`.
pub fn list(root: &Path) -> Result<Vec<ListEntry>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(ContainerError::io("read", root, e)),
    };
    for ent in rd.flatten() {
        let Some(id) = ent.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Ok(dir) = ContainerDir::open(root, &id) else {
            continue;
        };
        let Ok(state) = dir.load() else { continue };
        let st = state::status(&dir, &state);
        out.push(ListEntry {
            pid: if st == Status::Stopped { 0 } else { state.pid },
            status: st.as_str().into(),
            bundle: state.bundle.clone(),
            created: state.created.clone(),
            owner: if state.owner.is_empty() {
                "root".into()
            } else {
                state.owner.clone()
            },
            id,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Pids of every process in the container (from its cgroup).
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    Ok(cgroup_manager(&state)?.pids()?)
}

/// Options of `exec`.
#[derive(Debug, Default)]
pub struct ExecOptions {
    /// State root.
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--detach`.
    pub detach: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--ignore-paused`.
    pub ignore_paused: bool,
}

/// `exec`: run `process` inside a running container; returns its exit code (or 0
/// when detached).
pub fn exec(opts: &ExecOptions, process: &Process) -> Result<i32> {
    config::validate_process(process, "process")?;
    let dir = ContainerDir::open(&opts.root, &opts.id)?;
    let state = dir.load()?;
    let st = state::status(&dir, &state);
    let allowed = matches!(st, Status::Running | Status::Created)
        || (st == Status::Paused && opts.ignore_paused);
    if !allowed {
        return Err(ContainerError::BadStatus {
            id: opts.id.clone(),
            status: st.as_str(),
            op: if st == Status::Paused {
                "exec (it is paused; resume it or use --ignore-paused)"
            } else {
                "exec (it is not running)"
            },
        });
    }
    let spec = dir.load_config()?;
    let seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| compile_seccomp(&opts.root, s))
        .transpose()?;
    let cg = cgroup_manager(&state)?;
    let mut join = Vec::new();
    let pid = state.pid;
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
    {
        let name = match ns.typ() {
            LinuxNamespaceType::Mount => "mnt",
            LinuxNamespaceType::Uts => "uts",
            LinuxNamespaceType::Ipc => "ipc",
            LinuxNamespaceType::Network => "net",
            LinuxNamespaceType::Pid => "pid",
            LinuxNamespaceType::User => "user",
            LinuxNamespaceType::Cgroup => "cgroup",
            LinuxNamespaceType::Time => "time",
        };
        let p = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        if ns.typ() == LinuxNamespaceType::Pid || ns.typ() == LinuxNamespaceType::Time {
            // affects only our children: join here, before clone
            process::join_ns(ns.typ(), &p)?;
        } else {
            join.push((ns.typ(), p));
        }
    }
    join.sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
    let terminal = process.terminal() == Some(true);
    let mut console = console_for_process(terminal, opts.console_socket.as_deref(), opts.detach)?;
    let relay_end = if terminal && console.is_none() {
        let (ours, theirs) = console::private_pair()?;
        console = Some(theirs);
        Some(ours)
    } else {
        None
    };
    let (parent_end, child_end) = channel::pair()?;
    let (preserve_fds, extra_env) = listen_fds(opts.preserve_fds);
    let args = process::ChildArgs {
        spec: &spec,
        process: Some(process),
        role: process::Role::Exec { join },
        seccomp: seccomp.as_ref(),
        preserve_fds,
        extra_env,
        console: console.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
    };
    let child = process::spawn(0, &args, child_end)?;
    let fail = |e: ContainerError| {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child), Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
        e
    };
    cg.apply(child).map_err(|e| fail(e.into()))?;
    parent_end.send(&Msg::Go(child)).map_err(fail)?;
    loop {
        match parent_end.recv().map_err(fail)? {
            Some(Msg::Ready) => break,
            Some(Msg::SeccompFd(_)) => {}
            Some(Msg::Error(m)) => return Err(fail(ContainerError::InitFailed(m))),
            _ => {
                return Err(fail(ContainerError::InitFailed(
                    "exec process died during setup".into(),
                )))
            }
        }
    }
    drop(dir);
    drop(console);
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, child)?;
    }
    if opts.detach {
        return Ok(0);
    }
    install_forwarding(child);
    if let Some(s) = relay_end {
        console::relay(console::recv_master(s.as_fd())?)?;
    }
    wait_child(child)
}

/// `pause`: freeze every process of a running container.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    set_paused(root, id, true)
}

/// `resume`: thaw a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    set_paused(root, id, false)
}

fn set_paused(root: &Path, id: &str, paused: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let mut state = dir.load()?;
    let st = state::status(&dir, &state);
    let (want, op) = if paused {
        (Status::Running, "pause (it is not running)")
    } else {
        (Status::Paused, "resume (it is not paused)")
    };
    if st != want {
        return Err(ContainerError::BadStatus {
            id: id.to_string(),
            status: st.as_str(),
            op,
        });
    }
    cgroup_manager(&state)?.freeze(paused)?;
    state.paused = paused;
    dir.save(&state)
}

/// `update`: merge `patch` (an OCI `linux.resources` object, as JSON) into the
/// container's resources, write them to its cgroup, and record them in the saved
/// config. Fields absent from `patch` keep their values.
pub fn update(root: &Path, id: &str, patch: &serde_json::Value) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    let st = state::status(&dir, &state);
    if matches!(st, Status::Stopped | Status::Creating) {
        return Err(ContainerError::BadStatus {
            id: id.to_string(),
            status: st.as_str(),
            op: "update (it is not running)",
        });
    }
    let raw = std::fs::read(dir.path.join("config.json"))
        .map_err(|e| ContainerError::io("read", dir.path.join("config.json"), e))?;
    let mut config: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| ContainerError::config("config.json", e.to_string()))?;
    let linux = config
        .as_object_mut()
        .ok_or_else(|| ContainerError::config("config.json", "is not an object"))?
        .entry("linux")
        .or_insert_with(|| serde_json::json!({}));
    let current = linux
        .as_object_mut()
        .ok_or_else(|| ContainerError::config("linux", "is not an object"))?
        .entry("resources")
        .or_insert_with(|| serde_json::json!({}));
    merge_json(current, patch);
    let merged: oci_spec::runtime::LinuxResources =
        serde_path_to_error::deserialize(current.clone()).map_err(|e| {
            ContainerError::config(format!("resources.{}", e.path()), e.inner().to_string())
        })?;
    let cg = cgroup_manager(&state)?;
    // Only what the patch names is written: the rest is already in place (and
    // re-writing e.g. device rules of a running container is not an update).
    let mut to_write: oci_spec::runtime::LinuxResources =
        serde_path_to_error::deserialize(patch.clone()).map_err(|e| {
            ContainerError::config(format!("resources.{}", e.path()), e.inner().to_string())
        })?;
    if to_write.devices().is_some() {
        to_write.set_devices(merged.devices().clone());
    }
    cg.set(&to_write)?;
    let bytes = serde_json::to_vec(&config).expect("serialises");
    state::write_atomic(&dir.path.join("config.json"), &bytes)
}

/// Deep-merge JSON objects: keys of `patch` replace or recurse into `base`.
fn merge_json(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    continue;
                }
                merge_json(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// One line of `events` output (runc's `types.Event`).
#[derive(Debug, serde::Serialize)]
struct Event<'a, T: serde::Serialize> {
    #[serde(rename = "type")]
    typ: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

/// `events`: with `once`, print one stats record; else print stats every `every`
/// and an `oom` record whenever the kernel's OOM killer acts in the container,
/// until the container's init exits. JSON lines on `out`, as runc.
pub fn events(
    root: &Path,
    id: &str,
    once: bool,
    every: std::time::Duration,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let (state, st) = {
        let dir = ContainerDir::open(root, id)?;
        let state = dir.load()?;
        let st = state::status(&dir, &state);
        (state, st) // the lock goes with `dir`: other commands must not wait on us
    };
    if matches!(st, Status::Stopped | Status::Creating) {
        return Err(ContainerError::BadStatus {
            id: id.to_string(),
            status: st.as_str(),
            op: "events (it is not running)",
        });
    }
    let cg = cgroup_manager(&state)?;
    let emit =
        |out: &mut dyn std::io::Write, typ: &'static str, data: Option<caisson_cgroups::Stats>| {
            let line = serde_json::to_string(&Event { typ, id, data }).expect("serialises");
            writeln!(out, "{line}")
                .and_then(|()| out.flush())
                .map_err(|e| ContainerError::io("write", "stdout", e))
        };
    if once {
        return emit(out, "stats", Some(cg.stats()?));
    }
    let pidfd = caisson_sys::pidfd_open(state.pid)?;
    if state::pid_start_time(state.pid) != Some(state.pid_start_time) {
        return Ok(()); // the init is gone (its pid reused)
    }
    let mut oom = cg.oom_watcher()?;
    let mut next = std::time::Instant::now();
    loop {
        let now = std::time::Instant::now();
        if now >= next {
            match cg.stats() {
                Ok(s) => emit(out, "stats", Some(s))?,
                Err(e) => tracing::warn!("stats of {id}: {e}"),
            }
            next = now + every;
        }
        let wait = next.saturating_duration_since(std::time::Instant::now());
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if let Some(w) = &oom {
            fds.push(PollFd::new(w.fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(ms)) {
            Err(nix::errno::Errno::EINTR) | Ok(0) => continue,
            Err(e) => return Err(ContainerError::nix("poll for events", e)),
            Ok(_) => {}
        }
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        let oom_ready = fds
            .get(1)
            .and_then(PollFd::revents)
            .is_some_and(|r| !r.is_empty());
        drop(fds);
        if oom_ready {
            if let Some(w) = oom.as_mut() {
                for _ in 0..w.read_event()? {
                    emit(out, "oom", None)?;
                }
            }
        }
        if exited {
            return Ok(());
        }
    }
}
