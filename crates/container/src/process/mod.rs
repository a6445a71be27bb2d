//! Process creation: the runtime clones the container's init process directly (no
//! `runc init` re-exec: crun's design, for speed), and the child sets itself up.
//!
//! ```text
//! caisson-runtime create (parent)                 container init (child)
//! ───────────────────────────────                 ──────────────────────
//! validate config, compile seccomp
//! mkdir state dir, lock, exec.fifo, socketpair
//! [unshare time ns / setns pid ns by path]
//! clone(CLONE_NEW{NS,UTS,IPC,NET,PID,USER}) ───▶ pdeathsig=KILL, non-dumpable
//! cgroup apply+set, write uid/gid maps           wait G
//! send G(pid) ─────────────────────────────────▶ setns(paths), unshare(cgroupns)
//!                                                 hostname, mounts, devices
//!             ◀─────────────────────────────────  h   (only if such hooks)
//! prestart/createRuntime hooks; send H ────────▶ createContainer hooks
//!                                                 pivot_root, sysctls, ro/masked paths
//!                                                 rlimits, oom, LSM, user, caps, cwd
//!             ◀─────────────────────────────────  S(fd) (seccomp listener, if any)
//!             ◀─────────────────────────────────  R
//! save state, pid file, exit                      open exec.fifo (blocks until start)
//! caisson-runtime start: read exec.fifo ───────▶ startContainer hooks, execve
//! ```
//! Every fd of the runtime is close-on-exec; the init is non-dumpable until execve
//! (CVE-2016-9962) and runs from a sealed memfd copy of the binary (CVE-2019-5736).

pub mod channel;

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use self::channel::{Channel, Msg};
use crate::error::{ContainerError, Result};

/// What the child is to become.
pub enum Role<'a> {
    /// The container's init process: full setup, waits on the exec fifo.
    Init {
        /// Absolute host path of the rootfs.
        rootfs: &'a Path,
        /// O_PATH fd on `<state>/exec.fifo`.
        fifo: &'a OwnedFd,
        /// `--no-pivot`.
        no_pivot: bool,
        /// The spec has prestart or createRuntime hooks (the child must pause for them).
        runtime_hooks: bool,
        /// State JSON template for createContainer/startContainer hooks.
        hook_state: &'a crate::state::State,
    },
    /// A process joining a running container (`exec`).
    Exec {
        /// Namespaces of the container to join, with user first.
        join: Vec<(LinuxNamespaceType, PathBuf)>,
    },
}

/// Everything the child needs.
pub struct ChildArgs<'a> {
    /// The container's spec (for `exec`, only its linux section matters).
    pub spec: &'a Spec,
    /// The process to run (`None`: a container created without `process`, which
    /// `start` refuses; its init only holds the namespaces).
    pub process: Option<&'a Process>,
    /// Role.
    pub role: Role<'a>,
    /// Compiled seccomp filter.
    pub seccomp: Option<&'a caisson_seccomp::SeccompFilter>,
    /// Number of extra fds (3..3+n) passed to the process.
    pub preserve_fds: u32,
    /// Extra environment (e.g. LISTEN_FDS).
    pub extra_env: Vec<String>,
    /// Console socket that receives the pty master (`process.terminal`).
    pub console: Option<std::os::fd::RawFd>,
}

/// Clone flags for the new namespaces of `spec` (cgroup and time are handled apart).
pub fn clone_flags(spec: &Spec) -> libc::c_int {
    let mut flags = CloneFlags::empty();
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
    {
        if ns.path().is_some() {
            continue;
        }
        flags |= match ns.typ() {
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
            LinuxNamespaceType::Cgroup | LinuxNamespaceType::Time => CloneFlags::empty(),
        };
    }
    flags.bits()
}

/// Namespace type → clone flag for setns.
pub fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Join the namespace at `path` (opened O_RDONLY, checked by the kernel against `t`).
pub fn join_ns(t: LinuxNamespaceType, path: &Path) -> Result<()> {
    join_all(&[(t, path.to_path_buf())])
}

/// Join several namespaces: every file is opened first (joining the mount namespace
/// changes what the later paths resolve to), then setns in the given order.
pub fn join_all(list: &[(LinuxNamespaceType, PathBuf)]) -> Result<()> {
    let files = list
        .iter()
        .map(|(_, p)| {
            std::fs::File::open(p).map_err(|e| ContainerError::io("open namespace", p, e))
        })
        .collect::<Result<Vec<_>>>()?;
    for ((t, p), f) in list.iter().zip(&files) {
        nix::sched::setns(f, ns_flag(*t))
            .map_err(|e| ContainerError::nix(format!("setns {:?} {}", t, p.display()), e))?;
    }
    Ok(())
}

/// Fork the child with `flags`; the child runs [`child_main`] and never returns.
pub fn spawn(flags: libc::c_int, args: &ChildArgs<'_>, child_end: Channel) -> Result<i32> {
    // SAFETY: the runtime is single-threaded (no thread is ever spawned in
    // caisson-runtime before this point), so the child may run arbitrary code.
    match unsafe { caisson_sys::clone_process(flags) }? {
        caisson_sys::CloneResult::Parent(pid) => {
            drop(child_end);
            Ok(pid)
        }
        caisson_sys::CloneResult::Child => {
            let code = match child_main(args, &child_end) {
                Ok(never) => match never {},
                Err(e) => {
                    let _ = child_end.send(&Msg::Error(e.to_string()));
                    1
                }
            };
            caisson_sys::exit_now(code)
        }
    }
}

/// The uninhabited type of a function that execs on success.
pub enum Never {}

fn nix_err(what: &str) -> impl FnOnce(nix::Error) -> ContainerError + '_ {
    move |e| ContainerError::nix(what, e)
}

fn child_main(a: &ChildArgs<'_>, ch: &Channel) -> Result<Never> {
    use nix::sys::prctl;
    use nix::sys::signal::Signal;
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(nix_err("prctl PR_SET_PDEATHSIG"))?;
    // Drop every fd inherited from the runtime (the state-dir lock, log files, ...)
    // except the sync channel, the exec fifo and the fds to preserve: none of them may
    // ever be reachable from the container (CVE-2024-21626).
    let mut keep: Vec<std::os::fd::RawFd> = vec![ch.raw()];
    if let Role::Init { fifo, .. } = &a.role {
        keep.push(fifo.as_raw_fd());
    }
    keep.extend((3..3 + a.preserve_fds).filter_map(|f| i32::try_from(f).ok()));
    keep.extend(a.console);
    caisson_sys::close_fds_except(&keep)?;
    let host_pid = match ch.recv()? {
        Some(Msg::Go(pid)) => pid,
        other => {
            return Err(ContainerError::InitFailed(format!(
                "expected go from the runtime, got {other:?}"
            )))
        }
    };
    // CVE-2016-9962: nothing in the container may ptrace or open /proc/<init>/fd
    // while the init still holds runtime fds. Only now, before any namespace is
    // joined and before anything else lives in ours: until `Go`, an unprivileged
    // (rootless) runtime must still be able to write our /proc/<pid>/{uid,gid}_map
    // and setgroups, which a non-dumpable process's /proc files forbid (runc makes
    // the same dance).
    prctl::set_dumpable(false).map_err(nix_err("prctl PR_SET_DUMPABLE"))?;
    let spec = a.spec;
    let linux = spec.linux().as_ref();
    let namespaces = linux.and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]);
    let new_user = crate::config::has_new_ns(spec, LinuxNamespaceType::User);
    match &a.role {
        Role::Init { .. } => {
            // user namespace first: it decides our privileges over the others.
            let mut joins: Vec<_> = namespaces
                .iter()
                .filter_map(|n| n.path().as_ref().map(|p| (n.typ(), p.clone())))
                .filter(|(t, _)| *t != LinuxNamespaceType::Pid && *t != LinuxNamespaceType::Time)
                .collect();
            joins.sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
            join_all(&joins)?;
            if new_user {
                become_root_in_userns()?;
            }
            if crate::config::has_new_ns(spec, LinuxNamespaceType::Network) {
                caisson_sys::loopback_up()?;
            }
            if crate::config::has_new_ns(spec, LinuxNamespaceType::Cgroup) {
                nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
                    .map_err(nix_err("unshare cgroup namespace"))?;
            }
        }
        Role::Exec { join } => {
            join_all(join)?;
            if join.iter().any(|(t, _)| *t == LinuxNamespaceType::User) {
                become_root_in_userns()?;
            }
        }
    }
    if let Role::Init {
        rootfs,
        fifo,
        no_pivot,
        runtime_hooks,
        hook_state,
    } = &a.role
    {
        if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            nix::unistd::sethostname(h).map_err(nix_err("sethostname"))?;
        }
        if let Some(d) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
            caisson_sys::setdomainname(d)?;
        }
        let new_mnt = crate::config::has_new_ns(spec, LinuxNamespaceType::Mount);
        // The exec fifo is reopened for writing through our fd directory; open that
        // directory now, while the host /proc is visible, so it works whatever the
        // container mounts (or does not mount) on /proc.
        let fd_dir = nix::fcntl::open(
            "/proc/self/fd",
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(nix_err("open /proc/self/fd"))?;
        caisson_sys::umask(0);
        let setup = crate::rootfs::RootfsSetup {
            spec,
            rootfs,
            in_userns: new_user
                || namespaces
                    .iter()
                    .any(|n| n.typ() == LinuxNamespaceType::User),
            new_cgroupns: crate::config::has_new_ns(spec, LinuxNamespaceType::Cgroup),
        };
        if new_mnt {
            setup.prepare()?;
        }
        let mut st = (*hook_state).clone();
        st.pid = host_pid;
        let state_json =
            serde_json::to_vec(&st.oci(crate::state::Status::Created)).expect("state serialises");
        if *runtime_hooks {
            ch.send(&Msg::HooksPlease)?;
            match ch.recv()? {
                Some(Msg::HooksDone) => {}
                other => {
                    return Err(ContainerError::InitFailed(format!(
                        "expected hooks-done from the runtime, got {other:?}"
                    )))
                }
            }
        }
        if let Some(h) = spec.hooks() {
            crate::hooks::run_hooks(
                "createContainer",
                h.create_container().as_ref(),
                &state_json,
            )?;
        }
        if new_mnt {
            if *no_pivot {
                crate::rootfs::move_root(rootfs)?;
            } else {
                crate::rootfs::pivot_root(rootfs)?;
            }
            crate::rootfs::apply_sysctls(spec)?;
            crate::rootfs::finalize(spec)?;
        } else {
            nix::unistd::chroot(*rootfs).map_err(nix_err("chroot"))?;
            crate::rootfs::apply_sysctls(spec)?;
        }
        let exe = match a.process {
            Some(p) => Some(finish_process(a, p, ch)?),
            None => None,
        };
        // Ready: the runtime may now record the state and exit; we must not die with it.
        prctl::set_pdeathsig(None).map_err(nix_err("prctl PR_SET_PDEATHSIG"))?;
        ch.send(&Msg::Ready)?;
        // Blocks until `start` opens the fifo for reading.
        let w = nix::fcntl::openat(
            &fd_dir,
            fifo.as_raw_fd().to_string().as_str(),
            nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(nix_err("open exec fifo"))?;
        drop(fd_dir);
        nix::unistd::write(&w, b"0").map_err(nix_err("write exec fifo"))?;
        // `w` stays open (O_CLOEXEC): `start` sees EOF exactly when we execve.
        std::mem::forget(w);
        let (Some(exe), Some(p)) = (exe, a.process) else {
            return Err(ContainerError::config(
                "process",
                "not set: nothing to start",
            ));
        };
        // From here on nobody listens on the sync channel (`create` has exited):
        // a failure is reported on the container's stderr, with a shell's exit code.
        let started = (|| {
            if let Some(h) = spec.hooks() {
                let json = serde_json::to_vec(&st.oci(crate::state::Status::Created))
                    .expect("state serialises");
                crate::hooks::run_hooks("startContainer", h.start_container().as_ref(), &json)?;
            }
            do_exec(a, p, &exe)
        })();
        // `Never` is uninhabited: this is the only outcome.
        let Err(e) = started;
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "caisson-runtime: container init: {e}");
        caisson_sys::exit_now(127);
    }
    // exec: the mount namespace join put us at the container's root.
    let _ = nix::unistd::chdir("/");
    let p = a
        .process
        .ok_or_else(|| ContainerError::config("process", "exec needs a process"))?;
    let exe = finish_process(a, p, ch)?;
    prctl::set_pdeathsig(None).map_err(nix_err("prctl PR_SET_PDEATHSIG"))?;
    ch.send(&Msg::Ready)?;
    do_exec(a, p, &exe)
}

/// After the id maps are written: become uid/gid 0 of the new user namespace.
fn become_root_in_userns() -> Result<()> {
    nix::unistd::setresgid(0.into(), 0.into(), 0.into())
        .map_err(nix_err("setresgid 0 in user namespace"))?;
    nix::unistd::setresuid(0.into(), 0.into(), 0.into())
        .map_err(nix_err("setresuid 0 in user namespace"))?;
    Ok(())
}

/// Process attributes (runc's order): rlimits, oom score, LSM labels, seccomp (if
/// privileges are still needed to load it), user and capabilities, cwd, no_new_privs,
/// seccomp (otherwise), fds. Returns the resolved executable.
fn finish_process(a: &ChildArgs<'_>, p: &Process, ch: &Channel) -> Result<CString> {
    use nix::sys::prctl;
    if p.terminal() == Some(true) {
        let Some(sock) = a.console else {
            return Err(ContainerError::config(
                "process.terminal",
                "is true but no console socket was given",
            ));
        };
        let size = p
            .console_size()
            .as_ref()
            .map(|b| (clamp_u16(b.height()), clamp_u16(b.width())));
        crate::console::setup_child(sock, size, p.user().uid(), p.user().gid())?;
        // SAFETY: close takes an integer; the socket is ours and used no more.
        unsafe { libc::close(sock) };
    }
    for r in p.rlimits().as_deref().unwrap_or(&[]) {
        let res = rlimit_number(r.typ());
        caisson_sys::setrlimit(res, r.soft(), r.hard()).map_err(|e| {
            ContainerError::Unsupported(format!("process.rlimits {:?}: {e}", r.typ()))
        })?;
    }
    // in a new user namespace the parent has written it (the file is host root's)
    if let Some(adj) = p.oom_score_adj() {
        if !crate::config::has_new_ns(a.spec, LinuxNamespaceType::User) {
            std::fs::write("/proc/self/oom_score_adj", adj.to_string())
                .map_err(|e| ContainerError::io("write", "/proc/self/oom_score_adj", e))?;
        }
    }
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        crate::lsm::apparmor_exec(profile)?;
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        crate::lsm::selinux_exec(label)?;
    }
    if let Some(pers) = a
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.personality().as_ref())
    {
        use oci_spec::runtime::LinuxPersonalityDomain;
        let v = match pers.domain() {
            LinuxPersonalityDomain::PerLinux => 0x0000,
            LinuxPersonalityDomain::PerLinux32 => 0x0008,
        };
        caisson_sys::personality(v)?;
    }
    // Nothing of the runtime may leak into the container (CVE-2024-21626): every fd
    // above the preserved ones is close-on-exec; preserved ones are inheritable. This
    // happens before any seccomp filter is loaded (it may deny close_range/fcntl).
    let first = 3 + a.preserve_fds;
    caisson_sys::cloexec_from(first)?;
    for fd in 3..first {
        let fd = i32::try_from(fd).expect("small");
        // SAFETY: fcntl(F_SETFD) takes integers and only changes fd flags; an fd that
        // is not open yields EBADF, which we ignore (the caller asked to preserve fds
        // it may not all have).
        let _ = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    let nnp = p.no_new_privileges().unwrap_or(false);
    if let (Some(f), false) = (a.seccomp, nnp) {
        load_seccomp(f, ch)?;
    }
    let user = p.user();
    // Keep the permitted set across the uid change, then set the exact sets.
    prctl::set_keepcaps(true).map_err(nix_err("prctl PR_SET_KEEPCAPS"))?;
    if let Some(c) = p.capabilities() {
        crate::caps::drop_bounding(c)?;
    }
    let gids: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    let setgroups_allowed = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    if setgroups_allowed {
        nix::unistd::setgroups(&gids).map_err(nix_err("setgroups"))?;
    } else if !gids.is_empty() {
        return Err(ContainerError::config(
            "process.user.additionalGids",
            "setgroups is denied in this user namespace",
        ));
    }
    let gid = nix::unistd::Gid::from_raw(user.gid());
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| ContainerError::nix(format!("setresgid {}", user.gid()), e))?;
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| ContainerError::nix(format!("setresuid {}", user.uid()), e))?;
    prctl::set_keepcaps(false).map_err(nix_err("prctl PR_SET_KEEPCAPS"))?;
    if let Some(c) = p.capabilities() {
        crate::caps::apply_sets(c)?;
    }
    // A uid change clears the parent-death signal: set it again until ready.
    prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(nix_err("prctl PR_SET_PDEATHSIG"))?;
    caisson_sys::umask(user.umask().unwrap_or(0o022));
    let cwd = p.cwd();
    nix::unistd::chdir(cwd.as_path())
        .map_err(|e| ContainerError::nix(format!("chdir to cwd {}", cwd.display()), e))?;
    // CVE-2024-21626: a cwd reached through a leaked host fd is outside our root;
    // getcwd reports it as unreachable (ENOENT) — refuse to run there.
    match nix::unistd::getcwd() {
        // EPERM & co: a seccomp filter already loaded may deny getcwd itself.
        Ok(d) if d.is_absolute() => {}
        Err(e) if e != nix::errno::Errno::ENOENT => {}
        _ => {
            return Err(ContainerError::config(
                "process.cwd",
                format!("{} is outside the container root", cwd.display()),
            ))
        }
    }
    let exe = resolve_exe(p)?;
    if nnp {
        prctl::set_no_new_privs().map_err(nix_err("prctl PR_SET_NO_NEW_PRIVS"))?;
        if let Some(f) = a.seccomp {
            load_seccomp(f, ch)?;
        }
    }
    Ok(exe)
}

fn clamp_u16(v: u64) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn load_seccomp(f: &caisson_seccomp::SeccompFilter, ch: &Channel) -> Result<()> {
    if let Some(fd) = f.load()? {
        ch.send(&Msg::SeccompFd(fd))?;
    }
    Ok(())
}

fn env_of(a: &ChildArgs<'_>, p: &Process) -> Vec<CString> {
    p.env()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .chain(a.extra_env.iter())
        .filter_map(|e| CString::new(e.as_bytes()).ok())
        .collect()
}

/// Find args[0] in the container's PATH (the process env's, else a default).
fn resolve_exe(p: &Process) -> Result<CString> {
    let arg0 = p
        .args()
        .as_deref()
        .and_then(|a| a.first())
        .map(String::as_str)
        .unwrap_or("");
    let found = if arg0.contains('/') {
        Some(PathBuf::from(arg0))
    } else {
        let path = p
            .env()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(arg0))
            .find(|c| {
                nix::unistd::access(c.as_path(), nix::unistd::AccessFlags::X_OK).is_ok()
                    && c.metadata().is_ok_and(|m| m.is_file())
            })
    };
    let Some(exe) = found else {
        return Err(ContainerError::config(
            "process.args[0]",
            format!("exec: {arg0:?}: executable file not found in $PATH"),
        ));
    };
    if arg0.contains('/') {
        if let Err(e) = std::fs::metadata(&exe) {
            return Err(ContainerError::config(
                "process.args[0]",
                format!("exec: {arg0:?}: {e}"),
            ));
        }
    }
    CString::new(exe.into_os_string().into_encoded_bytes())
        .map_err(|_| ContainerError::config("process.args[0]", "contains a NUL byte"))
}

fn do_exec(a: &ChildArgs<'_>, p: &Process, exe: &CString) -> Result<Never> {
    let args: Vec<CString> = p
        .args()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter_map(|s| CString::new(s.as_bytes()).ok())
        .collect();
    let env = env_of(a, p);
    Err(caisson_sys::execve(exe, &args, &env).into())
}

fn rlimit_number(t: oci_spec::runtime::PosixRlimitType) -> libc::c_int {
    use oci_spec::runtime::PosixRlimitType as R;
    let n = match t {
        R::RlimitCpu => libc::RLIMIT_CPU,
        R::RlimitFsize => libc::RLIMIT_FSIZE,
        R::RlimitData => libc::RLIMIT_DATA,
        R::RlimitStack => libc::RLIMIT_STACK,
        R::RlimitCore => libc::RLIMIT_CORE,
        R::RlimitRss => libc::RLIMIT_RSS,
        R::RlimitNproc => libc::RLIMIT_NPROC,
        R::RlimitNofile => libc::RLIMIT_NOFILE,
        R::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        R::RlimitAs => libc::RLIMIT_AS,
        R::RlimitLocks => libc::RLIMIT_LOCKS,
        R::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        R::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        R::RlimitNice => libc::RLIMIT_NICE,
        R::RlimitRtprio => libc::RLIMIT_RTPRIO,
        R::RlimitRttime => libc::RLIMIT_RTTIME,
    };
    libc::c_int::try_from(n).expect("rlimit numbers are small")
}

/// Write the uid/gid maps of the child's new user namespace.
pub fn write_id_maps(pid: i32, spec: &Spec, rootless: bool) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let fmt = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    if rootless {
        let p = format!("/proc/{pid}/setgroups");
        std::fs::write(&p, "deny").map_err(|e| ContainerError::io("write", p, e))?;
    }
    for (file, data) in [
        ("uid_map", fmt(linux.uid_mappings().as_ref())),
        ("gid_map", fmt(linux.gid_mappings().as_ref())),
    ] {
        let p = format!("/proc/{pid}/{file}");
        std::fs::write(&p, data).map_err(|e| ContainerError::io("write", p, e))?;
    }
    Ok(())
}
