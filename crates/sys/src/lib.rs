//! Safe wrappers over the Linux syscalls the container core needs and that `nix`
//! does not cover (or covers in a way we cannot use on the hot path).
//!
//! This crate and `caisson-container`'s `process` module are the only places with
//! `unsafe`; every block says which invariants make it sound.
#![warn(missing_docs)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

/// Errors from the raw syscall wrappers.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// A syscall failed.
    #[error("{call}: {source}")]
    Syscall {
        /// Name of the syscall (and its main argument) that failed.
        call: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn last_err(call: &'static str) -> SysError {
    SysError::Syscall {
        call,
        source: io::Error::last_os_error(),
    }
}

/// Result of [`clone_process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneResult {
    /// We are the parent; the child has this pid.
    Parent(i32),
    /// We are the new child.
    Child,
}

/// `clone(2)` with fork semantics (no new stack, copy-on-write memory) plus the given
/// `CLONE_NEW*` flags; the child gets `SIGCHLD` as exit signal.
///
/// # Safety
/// The caller must be single-threaded (as after `fork`, only async-signal-safe
/// operations are otherwise allowed in the child). The caisson runtime never spawns
/// threads, which is what makes this usable there.
pub unsafe fn clone_process(flags: libc::c_int) -> Result<CloneResult, SysError> {
    // SAFETY: clone with a NULL stack behaves like fork(2): the child continues on a
    // copy-on-write copy of the parent's stack. No CLONE_VM/CLONE_SETTLS/…TID flags
    // are passed, so no pointer arguments are read. The caller guarantees
    // single-threadedness (see the function's safety contract).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::c_long::from(flags | libc::SIGCHLD),
            0 as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    match ret {
        -1 => Err(last_err("clone")),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(
            i32::try_from(pid).expect("kernel pids fit in i32"),
        )),
    }
}

/// `pidfd_open(2)`: a stable handle on a process that survives pid reuse.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, SysError> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if ret < 0 {
        return Err(last_err("pidfd_open"));
    }
    let fd = RawFd::try_from(ret).expect("fds fit in i32");
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(2)`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<(), SysError> {
    // SAFETY: integer arguments only; info is NULL, which the kernel accepts.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    if ret < 0 {
        return Err(last_err("pidfd_send_signal"));
    }
    Ok(())
}

/// Mark every fd `>= first` close-on-exec (`close_range(2)` with
/// `CLOSE_RANGE_CLOEXEC`), so nothing of the runtime leaks into the container
/// process (CVE-2024-21626).
pub fn cloexec_from(first: u32) -> Result<(), SysError> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: integer arguments only.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret < 0 {
        return Err(last_err("close_range"));
    }
    Ok(())
}

/// `setdomainname(2)`.
pub fn setdomainname(name: &str) -> Result<(), SysError> {
    // SAFETY: the pointer/length pair describes `name`'s bytes, valid for the call.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if ret < 0 {
        return Err(last_err("setdomainname"));
    }
    Ok(())
}

/// `personality(2)`.
pub fn personality(persona: libc::c_ulong) -> Result<(), SysError> {
    // SAFETY: integer argument only.
    let ret = unsafe { libc::personality(persona) };
    if ret < 0 {
        return Err(last_err("personality"));
    }
    Ok(())
}

/// `mount_setattr(2)` flags to set/clear recursively (`AT_RECURSIVE`) on the mount
/// at `path` (relative to `dirfd`, or the fd itself with an empty path).
pub fn mount_setattr_recursive(
    dirfd: BorrowedFd<'_>,
    set: u64,
    clear: u64,
    propagation: u64,
) -> Result<(), SysError> {
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    mount_setattr(
        dirfd,
        AT_RECURSIVE,
        &MountAttr {
            attr_set: set,
            attr_clr: clear,
            propagation,
            userns_fd: 0,
        },
        "mount_setattr",
    )
}

/// `struct mount_attr` (linux/mount.h).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(2)` on the mount of `fd` itself (`AT_EMPTY_PATH`) plus `flags`.
fn mount_setattr(
    fd: BorrowedFd<'_>,
    flags: libc::c_uint,
    attr: &MountAttr,
    call: &'static str,
) -> Result<(), SysError> {
    // SAFETY: the path is a valid NUL-terminated empty string, `attr` lives for the
    // whole call and its size is passed alongside; AT_EMPTY_PATH makes the kernel
    // use `fd` itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags | libc::AT_EMPTY_PATH as libc::c_uint,
            std::ptr::from_ref(attr),
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(last_err(call));
    }
    Ok(())
}

/// Whether `/proc/self/exe` is already a sealed memfd copy (see [`ensure_cloned_binary`]).
fn exe_is_sealed_memfd(exe: &std::fs::File) -> bool {
    // F_GET_SEALS fails (EINVAL) on anything that is not a memfd.
    matches!(
        nix::fcntl::fcntl(exe, nix::fcntl::FcntlArg::F_GET_SEALS),
        Ok(seals) if seals & libc::F_SEAL_WRITE != 0
    )
}

/// Whether `f` lives on a read-only mount (then no write can reach it through
/// `/proc/<pid>/exe` either: EROFS).
fn on_readonly_mount(f: &std::fs::File) -> bool {
    nix::sys::statvfs::fstatvfs(f)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

fn argv_envp() -> Result<(Vec<std::ffi::CString>, Vec<std::ffi::CString>), SysError> {
    let bad = |call| SysError::Syscall {
        call,
        source: io::Error::from(io::ErrorKind::InvalidInput),
    };
    let args = std::env::args_os()
        .map(|a| std::ffi::CString::new(std::os::unix::ffi::OsStringExt::into_vec(a)))
        .collect::<Result<_, _>>()
        .map_err(|_| bad("argv"))?;
    let env = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = std::os::unix::ffi::OsStringExt::into_vec(k);
            kv.push(b'=');
            kv.extend_from_slice(v.as_encoded_bytes());
            std::ffi::CString::new(kv)
        })
        .collect::<Result<_, _>>()
        .map_err(|_| bad("environ"))?;
    Ok((args, env))
}

/// Directory of the read-only views of the runtime binary (one per binary version).
const RO_VIEW_DIR: &str = "/run/caisson-exe";

/// A read-only bind mount of our own binary under [`RO_VIEW_DIR`], created once per
/// binary version (device, inode, mtime, size) and reused by every later run.
fn readonly_view(exe: &std::fs::File) -> Option<std::path::PathBuf> {
    use nix::mount::{mount, MsFlags};
    use std::os::unix::fs::MetadataExt;
    let md = exe.metadata().ok()?;
    let path = std::path::Path::new(RO_VIEW_DIR).join(format!(
        "caisson-runtime-{:x}-{:x}-{:x}-{:x}",
        md.dev(),
        md.ino(),
        md.mtime(),
        md.size()
    ));
    let valid = |f: &std::fs::File| {
        f.metadata()
            .is_ok_and(|m| m.ino() == md.ino() && m.dev() == md.dev())
            && on_readonly_mount(f)
    };
    match std::fs::File::open(&path) {
        // only trust it if it is our binary behind a read-only mount
        Ok(f) if valid(&f) => return Some(path),
        // An empty placeholder: made by a run whose mount stayed in a private mount
        // namespace (or that died half-way). Mount over it here.
        Ok(f) if f.metadata().is_ok_and(|m| m.len() == 0 && m.is_file()) => {}
        Ok(_) => return None,
        Err(_) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(RO_VIEW_DIR)
                .ok()?;
            // O_EXCL: of two concurrent first runs, one makes the view, the other copies.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o500)
                .open(&path)
                .ok()?;
        }
    }
    let src = format!("/proc/self/fd/{}", exe.as_raw_fd());
    let ok = mount(
        Some(src.as_str()),
        &path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .is_ok()
        && mount(
            None::<&str>,
            &path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .is_ok();
    if !ok {
        let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
        return None;
    }
    Some(path)
}

/// CVE-2019-5736 defence: make sure the running binary cannot be written through
/// `/proc/<pid>/exe` by anything in a container (the attack: a container entrypoint
/// `#!/proc/self/exe` makes the kernel run *our* binary inside the container; the
/// container then keeps `/proc/<pid>/exe` open and overwrites the host binary once
/// it exits).
///
/// Nothing to do when the binary already sits on a read-only mount or is a sealed
/// memfd. Otherwise re-exec through a read-only bind mount of itself under
/// `/run/caisson-exe` (made once per binary version, as runc ≥ 1.2 protects itself
/// with a read-only overlay), or — where mounting is not possible, e.g. rootless —
/// through a sealed memfd copy (runc's original fix).
///
/// Returns only when the binary is protected (or on error).
pub fn ensure_cloned_binary() -> Result<(), SysError> {
    use nix::fcntl::{FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let mut exe = std::fs::File::open("/proc/self/exe").map_err(|source| SysError::Syscall {
        call: "open /proc/self/exe",
        source,
    })?;
    if exe_is_sealed_memfd(&exe) || on_readonly_mount(&exe) {
        return Ok(());
    }
    let (args, env) = argv_envp()?;
    if let Some(view) = readonly_view(&exe) {
        if let Ok(p) = std::ffi::CString::new(view.into_os_string().into_encoded_bytes()) {
            let _ = nix::unistd::execve(&p, &args, &env);
        }
        // exec failed: fall back to the memfd copy below
    }
    let memfd = memfd_create(
        c"caisson-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(|e| SysError::Syscall {
        call: "memfd_create",
        source: e.into(),
    })?;
    let mut mem = std::fs::File::from(memfd);
    std::io::copy(&mut exe, &mut mem).map_err(|source| SysError::Syscall {
        call: "copy /proc/self/exe into memfd",
        source,
    })?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    nix::fcntl::fcntl(&mem, FcntlArg::F_ADD_SEALS(seals)).map_err(|e| SysError::Syscall {
        call: "fcntl F_ADD_SEALS",
        source: e.into(),
    })?;
    let err = nix::unistd::fexecve(&mem, &args, &env).unwrap_err();
    Err(SysError::Syscall {
        call: "fexecve sealed runtime copy",
        source: err.into(),
    })
}

/// `execvpe`-like exec with an explicit environment; never returns on success.
pub fn execve(path: &CStr, args: &[std::ffi::CString], env: &[std::ffi::CString]) -> SysError {
    let err = nix::unistd::execve(path, args, env).unwrap_err();
    SysError::Syscall {
        call: "execve",
        source: err.into(),
    }
}

/// Capability sets as 64-bit masks (bit N = capability N).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
}

/// `capset(2)` for the calling thread, all three sets in one call.
pub fn capset(sets: CapSets) -> Result<(), SysError> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let lo = |v: u64| u32::try_from(v & 0xffff_ffff).expect("masked to 32 bits");
    let hi = |v: u64| u32::try_from(v >> 32).expect("shifted to 32 bits");
    let mut hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: lo(sets.effective),
            permitted: lo(sets.permitted),
            inheritable: lo(sets.inheritable),
        },
        Data {
            effective: hi(sets.effective),
            permitted: hi(sets.permitted),
            inheritable: hi(sets.inheritable),
        },
    ];
    // SAFETY: `hdr` and `data` are properly laid out (#[repr(C)], version 3 takes two
    // Data elements) and live for the whole call; the kernel only reads `data`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_capset,
            std::ptr::from_mut(&mut hdr),
            data.as_ptr(),
        )
    };
    if ret < 0 {
        return Err(last_err("capset"));
    }
    Ok(())
}

/// Drop capability `cap` from the bounding set (`PR_CAPBSET_DROP`).
pub fn capbset_drop(cap: u32) -> Result<(), SysError> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    if ret < 0 {
        return Err(last_err("prctl PR_CAPBSET_DROP"));
    }
    Ok(())
}

/// Raise capability `cap` in the ambient set.
pub fn cap_ambient_raise(cap: u32) -> Result<(), SysError> {
    // SAFETY: integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            libc::c_ulong::from(cap),
            0,
            0,
        )
    };
    if ret < 0 {
        return Err(last_err("prctl PR_CAP_AMBIENT_RAISE"));
    }
    Ok(())
}

/// Clear the ambient set.
pub fn cap_ambient_clear_all() -> Result<(), SysError> {
    // SAFETY: integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if ret < 0 {
        return Err(last_err("prctl PR_CAP_AMBIENT_CLEAR_ALL"));
    }
    Ok(())
}

/// `setrlimit(2)` by raw resource number (the OCI names map onto these).
pub fn setrlimit(resource: libc::c_int, soft: u64, hard: u64) -> Result<(), SysError> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit struct that lives for the call; the resource
    // number is passed through to the kernel, which validates it.
    let ret = unsafe {
        libc::setrlimit(
            resource as libc::__rlimit_resource_t,
            std::ptr::from_ref(&lim),
        )
    };
    if ret < 0 {
        return Err(last_err("setrlimit"));
    }
    Ok(())
}

/// `_exit(2)`: leave now, without running atexit handlers or flushing stdio buffers
/// that a forked child shares (copied) with its parent.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and takes an integer; skipping destructors is the
    // intent (the child must not flush the parent's copied buffers).
    unsafe { libc::_exit(code) }
}

/// `umask(2)`.
pub fn umask(mask: u32) {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
}

/// Close every open fd `>= 3` except those in `keep` (`close_range(2)` over the gaps).
pub fn close_fds_except(keep: &[RawFd]) -> Result<(), SysError> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&f| u32::try_from(f).ok())
        .filter(|&f| f >= 3)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 3u32;
    for k in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if k > first {
            let last = if k == u32::MAX { u32::MAX } else { k - 1 };
            // SAFETY: integer arguments only; the fds closed are not owned by any
            // live Rust object in the caller (documented contract: the caller is a
            // freshly forked child that keeps only `keep`).
            let ret =
                unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) };
            if ret < 0 {
                return Err(last_err("close_range"));
            }
        }
        if k == u32::MAX {
            break;
        }
        first = k + 1;
    }
    Ok(())
}

/// A new pseudo-terminal pair, opened through `ptmx` (the caller's mount namespace
/// and root decide which devpts instance): returns `(master, slave, number)`. The
/// slave is opened with `TIOCGPTPEER` on the master (Linux 4.13+), never by path,
/// so nothing the container placed at `/dev/pts/N` can be substituted for it.
pub fn open_pty(ptmx: &CStr) -> Result<(OwnedFd, OwnedFd, u32), SysError> {
    // SAFETY: `ptmx` is a valid NUL-terminated string; open returns a new fd or -1.
    let m = unsafe {
        libc::open(
            ptmx.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if m < 0 {
        return Err(last_err("open /dev/ptmx"));
    }
    // SAFETY: `m` is a freshly opened fd that nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one c_int from the pointer, which is valid.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(last_err("ioctl TIOCSPTLCK"));
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one c_uint through the pointer, which is valid.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } < 0 {
        return Err(last_err("ioctl TIOCGPTN"));
    }
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd or -1.
    let s = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        return Err(last_err("ioctl TIOCGPTPEER"));
    }
    // SAFETY: `s` is a freshly returned fd that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    Ok((master, slave, n))
}

/// Make the terminal `fd` the controlling terminal of the calling session leader
/// (`TIOCSCTTY`).
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> Result<(), SysError> {
    // SAFETY: TIOCSCTTY takes an int argument by value.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(last_err("ioctl TIOCSCTTY"));
    }
    Ok(())
}

/// Terminal window size `(rows, cols)` of `fd` (`TIOCGWINSZ`), `None` if not a tty.
pub fn get_winsize(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is valid.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } < 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// Set the window size of terminal `fd` (`TIOCSWINSZ`).
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), SysError> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which is valid.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(last_err("ioctl TIOCSWINSZ"));
    }
    Ok(())
}

/// Bring the loopback interface of the current network namespace up (as runc and
/// crun do for a new network namespace).
pub fn loopback_up() -> Result<(), SysError> {
    // SAFETY: plain socket(2) call; the result is checked and owned below.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(last_err("socket for loopback"));
    }
    // SAFETY: `s` is a fresh fd nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, b) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `ifr`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
        return Err(last_err("ioctl SIOCGIFFLAGS lo"));
    }
    // SAFETY: the kernel filled ifru_flags for SIOCGIFFLAGS; the union is POD.
    unsafe {
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads `ifr`, which is valid.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
        return Err(last_err("ioctl SIOCSIFFLAGS lo up"));
    }
    Ok(())
}

/// A user namespace with the given `uid_map` / `gid_map` contents (lines of
/// `inside outside count`), as an fd: what idmapped mounts are made with.
///
/// A child is cloned into a new user namespace and only waits on a pipe; we write
/// its maps, open `/proc/<child>/ns/user` and let it exit. The namespace lives on
/// as long as the fd.
pub fn userns_fd(uid_map: &str, gid_map: &str) -> Result<OwnedFd, SysError> {
    let (rd, wr) = nix::unistd::pipe().map_err(|e| SysError::Syscall {
        call: "pipe",
        source: e.into(),
    })?;
    // SAFETY: the child runs only read(2) and _exit(2), both async-signal-safe, so it
    // is sound even if the caller has threads (nothing it touches needs a lock).
    let child = match unsafe { clone_process(libc::CLONE_NEWUSER) }? {
        CloneResult::Child => {
            drop(wr);
            let mut b = [0u8; 1];
            // SAFETY: `rd` is a valid fd and `b` a valid 1-byte buffer.
            let _ = unsafe { libc::read(rd.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            exit_now(0);
        }
        CloneResult::Parent(pid) => pid,
    };
    drop(rd);
    let result = (|| {
        let w = |f: &str, data: &str, call: &'static str| {
            std::fs::write(format!("/proc/{child}/{f}"), data)
                .map_err(|source| SysError::Syscall { call, source })
        };
        w("uid_map", uid_map, "write uid_map")?;
        w("setgroups", "deny", "write setgroups")?;
        w("gid_map", gid_map, "write gid_map")?;
        std::fs::File::open(format!("/proc/{child}/ns/user"))
            .map(OwnedFd::from)
            .map_err(|source| SysError::Syscall {
                call: "open ns/user",
                source,
            })
    })();
    drop(wr); // the child's read returns 0: it exits
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
    result
}

/// `open_tree(OPEN_TREE_CLONE)` of `path` made idmapped with the user namespace
/// `userns` (`mount_setattr(MOUNT_ATTR_IDMAP)`): a detached mount whose files, owned
/// by `k` on disk, show as the namespace's host id for `k`.
pub fn idmapped_clone(path: &std::path::Path, userns: BorrowedFd<'_>) -> Result<OwnedFd, SysError> {
    use std::os::unix::ffi::OsStrExt;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| SysError::Syscall {
        call: "open_tree",
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(last_err("open_tree"));
    }
    // SAFETY: open_tree returned a new fd that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(i32::try_from(fd).expect("fds fit in i32")) };
    mount_setattr(
        tree.as_fd(),
        0,
        &MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: u64::try_from(userns.as_raw_fd()).expect("fds are non-negative"),
        },
        "mount_setattr(MOUNT_ATTR_IDMAP)",
    )?;
    Ok(tree)
}

/// `move_mount(2)` a detached mount (from `open_tree`/`fsmount`) onto `target`.
pub fn move_mount_to(tree: BorrowedFd<'_>, target: &std::path::Path) -> Result<(), SysError> {
    use std::os::unix::ffi::OsStrExt;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    let c =
        std::ffi::CString::new(target.as_os_str().as_bytes()).map_err(|_| SysError::Syscall {
            call: "move_mount",
            source: io::Error::from(io::ErrorKind::InvalidInput),
        })?;
    // SAFETY: both paths are valid NUL-terminated strings for the call's duration.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if ret < 0 {
        return Err(last_err("move_mount"));
    }
    Ok(())
}
