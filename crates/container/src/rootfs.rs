//! The container's root filesystem: mounts, device nodes, `pivot_root`, masked and
//! read-only paths.
//!
//! Runs in the container init process, inside the container's new mount namespace.
//! Every path inside the rootfs is resolved with `openat2(RESOLVE_IN_ROOT)` from an fd
//! on the rootfs, and mounts target `/proc/self/fd/N` of that resolved fd, so a
//! symlink in the image (or one swapped in concurrently, CVE-2021-30465) can never
//! redirect a mount outside the container root.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{mknodat, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::error::{ContainerError, Result};

/// Map a propagation name (config `rootfsPropagation` or mount option) to its flags.
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// `mount_setattr` attribute bits (linux/mount.h).
mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    pub const ATIME_MASK: u64 = 0x70;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
}

/// Parsed mount options.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Flags for mount(2).
    pub flags: MsFlags,
    /// Flags explicitly cleared (e.g. `rw`, `suid`).
    pub cleared: MsFlags,
    /// Propagation changes applied after the mount, in order.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes to set / clear with mount_setattr (`rro`, `rnosuid`, ...).
    pub rec_set: u64,
    /// Recursive attributes to clear.
    pub rec_clear: u64,
    /// Filesystem-specific data (comma-joined).
    pub data: String,
}

/// Parse OCI mount options into mount(2) flags, propagation and data.
pub fn parse_mount_options(opts: &[String]) -> std::result::Result<MountOptions, String> {
    let mut o = MountOptions {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: Vec::new(),
        rec_set: 0,
        rec_clear: 0,
        data: String::new(),
    };
    let mut data: Vec<&str> = Vec::new();
    for opt in opts {
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "tmpcopyup" => continue,
            "idmap" | "ridmap" => {
                return Err(format!("option {opt:?} (idmapped mounts) is not supported"))
            }
            other => {
                if let Some(p) = propagation_flag(other) {
                    o.propagation.push(p);
                    continue;
                }
                let rec = match other {
                    "rro" => Some((attr::RDONLY, 0)),
                    "rrw" => Some((0, attr::RDONLY)),
                    "rnosuid" => Some((attr::NOSUID, 0)),
                    "rsuid" => Some((0, attr::NOSUID)),
                    "rnodev" => Some((attr::NODEV, 0)),
                    "rdev" => Some((0, attr::NODEV)),
                    "rnoexec" => Some((attr::NOEXEC, 0)),
                    "rexec" => Some((0, attr::NOEXEC)),
                    "rnodiratime" => Some((attr::NODIRATIME, 0)),
                    "rdiratime" => Some((0, attr::NODIRATIME)),
                    "rrelatime" => Some((0, attr::ATIME_MASK)),
                    "rnoatime" => Some((attr::NOATIME, attr::ATIME_MASK)),
                    "rstrictatime" => Some((attr::STRICTATIME, attr::ATIME_MASK)),
                    _ => None,
                };
                if let Some((s, c)) = rec {
                    o.rec_set |= s;
                    o.rec_clear |= c;
                    continue;
                }
                data.push(other);
                continue;
            }
        };
        o.flags |= set;
        o.flags &= !clear;
        o.cleared |= clear;
    }
    o.data = data.join(",");
    Ok(o)
}

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// Open `path` (absolute, in-container) under `root` with RESOLVE_IN_ROOT.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel: &Path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    openat2(root, rel, how(flags))
}

/// Create every missing directory of `path` under `root` (resolving in root), and the
/// last component as a directory or (if `file`) an empty regular file. Returns an
/// O_PATH fd on the final path. A dangling symlink on the way is followed *inside*
/// the root: its target is created there (as runc's securejoin does); chains are
/// bounded like the kernel's (40 links).
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path, file: bool) -> nix::Result<OwnedFd> {
    mkdir_all_depth(root, path, file, 0)
}

fn mkdir_all_depth(
    root: BorrowedFd<'_>,
    path: &Path,
    file: bool,
    depth: u32,
) -> nix::Result<OwnedFd> {
    if depth > 40 {
        return Err(Errno::ELOOP);
    }
    if let Ok(fd) = open_in_root(root, path, OFlag::O_PATH) {
        return Ok(fd);
    }
    let comps: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut cur = PathBuf::from("/");
    let mut dir = open_in_root(root, &cur, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    for (i, name) in comps.iter().enumerate() {
        let parent = cur.clone();
        cur.push(name);
        let last = i + 1 == comps.len();
        match open_in_root(root, &cur, OFlag::O_PATH) {
            Ok(fd) => dir = fd,
            Err(Errno::ENOENT) => {
                let made = if last && file {
                    nix::fcntl::openat(
                        &dir,
                        *name,
                        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
                        Mode::from_bits_truncate(0o755),
                    )
                    .map(drop)
                } else {
                    nix::sys::stat::mkdirat(&dir, *name, Mode::from_bits_truncate(0o755))
                };
                match made {
                    Ok(()) => {}
                    // EEXIST while the path does not resolve: a dangling symlink.
                    Err(Errno::EEXIST | Errno::ELOOP) => {
                        let target = nix::fcntl::readlinkat(&dir, *name)?;
                        let target = Path::new(&target);
                        let inside = if target.is_absolute() {
                            target.to_path_buf()
                        } else {
                            parent.join(target)
                        };
                        let inside = crate::config::normalize_in_root(&inside)
                            .unwrap_or_else(|| PathBuf::from("/"));
                        mkdir_all_depth(root, &inside, last && file, depth + 1)?;
                    }
                    Err(e) => return Err(e),
                }
                dir = open_in_root(root, &cur, OFlag::O_PATH)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(dir)
}

/// `/proc/self/fd/N` for an fd: the magic-link path the kernel resolves to exactly
/// the object the fd refers to.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn mount_err(what: &str, dest: &Path, e: Errno) -> ContainerError {
    ContainerError::nix(format!("{what} {}", dest.display()), e)
}

/// Flags of an existing mount that a bind remount must keep (the kernel refuses to
/// drop locked flags inside a user namespace).
fn locked_flags(fd: BorrowedFd<'_>) -> MsFlags {
    use nix::sys::statvfs::{fstatvfs, FsFlags};
    let Ok(st) = fstatvfs(fd) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (a, b) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(a) {
            out |= b;
        }
    }
    out
}

/// Remount the mount at `fd`'s path as a bind mount with `flags` (e.g. read-only).
pub fn bind_remount(fd: BorrowedFd<'_>, flags: MsFlags, cleared: MsFlags) -> nix::Result<()> {
    let keep = locked_flags(fd) & !cleared;
    mount(
        None::<&str>,
        &fd_path(fd),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | keep,
        None::<&str>,
    )
}

/// The rootfs setup of one container.
pub struct RootfsSetup<'a> {
    /// The spec.
    pub spec: &'a Spec,
    /// Absolute host path of the rootfs.
    pub rootfs: &'a Path,
    /// Container is in a new user namespace (no mknod, bind devices instead).
    pub in_userns: bool,
    /// Container has a new cgroup namespace.
    pub new_cgroupns: bool,
}

impl RootfsSetup<'_> {
    /// Everything before pivot_root: propagation, rootfs bind, mounts, devices.
    pub fn prepare(&self) -> Result<()> {
        let linux = self.spec.linux().as_ref();
        // Nothing we mount may propagate to the host: start from a recursive slave
        // copy. The configured rootfsPropagation is applied to the new root after
        // pivot_root (see `finalize`): applied here, "unbindable" would forbid the
        // rootfs bind itself and "shared" would make pivot_root fail.
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| mount_err("set propagation of", Path::new("/"), e))?;
        mount(
            Some(self.rootfs),
            self.rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| mount_err("bind rootfs", self.rootfs, e))?;
        let root = nix::fcntl::open(
            self.rootfs,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| mount_err("open rootfs", self.rootfs, e))?;
        let mounts = self.spec.mounts().as_deref().unwrap_or(&[]);
        let mut dev_is_bind = false;
        for (i, m) in mounts.iter().enumerate() {
            let dest = crate::config::normalize_in_root(&Path::new("/").join(m.destination()))
                .ok_or_else(|| {
                    ContainerError::config(
                        format!("mounts[{i}].destination"),
                        "escapes the container root",
                    )
                })?;
            if dest == Path::new("/dev") && is_bind(m) {
                dev_is_bind = true;
            }
            self.mount_one(root.as_fd(), m, &dest)
                .map_err(|e| match e {
                    ContainerError::Nix { what, source } => ContainerError::Nix {
                        what: format!("mounts[{i}] ({}): {what}", dest.display()),
                        source,
                    },
                    other => other,
                })?;
        }
        let mut devices: Vec<LinuxDevice> = Vec::new();
        if !dev_is_bind {
            devices.extend(default_devices());
        }
        devices.extend(linux.and_then(|l| l.devices().clone()).unwrap_or_default());
        for d in &devices {
            self.create_device(root.as_fd(), d)?;
        }
        if !dev_is_bind {
            for (link, target) in [
                ("/dev/fd", "/proc/self/fd"),
                ("/dev/stdin", "/proc/self/fd/0"),
                ("/dev/stdout", "/proc/self/fd/1"),
                ("/dev/stderr", "/proc/self/fd/2"),
            ] {
                symlink_in_root(root.as_fd(), target, Path::new(link))?;
            }
            if Path::new("/proc/kcore").exists() {
                symlink_in_root(root.as_fd(), "/proc/kcore", Path::new("/dev/core"))?;
            }
            // /dev/ptmx -> pts/ptmx (the devpts instance of the container)
            if let Ok(dev) = open_in_root(
                root.as_fd(),
                Path::new("/dev"),
                OFlag::O_PATH | OFlag::O_DIRECTORY,
            ) {
                let _ =
                    nix::unistd::unlinkat(&dev, "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir);
                let _ = nix::unistd::symlinkat("pts/ptmx", &dev, "ptmx");
            }
        }
        Ok(())
    }

    fn mount_one(&self, root: BorrowedFd<'_>, m: &Mount, dest: &Path) -> Result<()> {
        let opts = parse_mount_options(m.options().as_deref().unwrap_or(&[]))
            .map_err(|msg| ContainerError::config(format!("mount {}", dest.display()), msg))?;
        let typ = m.typ().as_deref().unwrap_or("");
        let bind = opts.flags.contains(MsFlags::MS_BIND) || typ == "bind";
        if typ == "cgroup" || typ == "cgroup2" {
            return self.mount_cgroup(root, dest, &opts);
        }
        let source = m.source().clone();
        let src_is_file = bind
            && source
                .as_ref()
                .and_then(|s| std::fs::metadata(s).ok())
                .is_some_and(|md| !md.is_dir());
        let target = mkdir_all_in_root(root, dest, src_is_file)
            .map_err(|e| mount_err("create mount point", dest, e))?;
        if bind {
            let src = source.as_deref().unwrap_or(Path::new(""));
            let mut flags = MsFlags::MS_BIND;
            if opts.flags.contains(MsFlags::MS_REC) {
                flags |= MsFlags::MS_REC;
            }
            mount(
                Some(src),
                &fd_path(target.as_fd()),
                None::<&str>,
                flags,
                None::<&str>,
            )
            .map_err(|e| mount_err(&format!("bind {} to", src.display()), dest, e))?;
            let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
            let mounted = open_in_root(root, dest, OFlag::O_PATH)
                .map_err(|e| mount_err("reopen", dest, e))?;
            if !extra.is_empty() || !opts.cleared.is_empty() {
                bind_remount(mounted.as_fd(), extra, opts.cleared)
                    .map_err(|e| mount_err("remount", dest, e))?;
            }
            self.finish_mount(mounted.as_fd(), dest, &opts)?;
            return Ok(());
        }
        let data = if opts.data.is_empty() {
            None
        } else {
            Some(opts.data.as_str())
        };
        let flags = opts.flags;
        let res = mount(
            source.as_deref().or(Some(Path::new(typ))),
            &fd_path(target.as_fd()),
            Some(typ),
            flags,
            data,
        );
        match res {
            Ok(()) => {}
            // In a user namespace without its own netns sysfs cannot be mounted, and
            // mqueue needs an ipc namespace of our own: bind the host's, as runc does.
            Err(Errno::EPERM | Errno::EBUSY) if typ == "sysfs" || typ == "mqueue" => {
                let host = if typ == "sysfs" {
                    "/sys"
                } else {
                    "/dev/mqueue"
                };
                mount(
                    Some(host),
                    &fd_path(target.as_fd()),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| mount_err(&format!("bind {host} to"), dest, e))?;
                let mounted = open_in_root(root, dest, OFlag::O_PATH)
                    .map_err(|e| mount_err("reopen", dest, e))?;
                bind_remount(mounted.as_fd(), flags & !MsFlags::MS_BIND, opts.cleared)
                    .map_err(|e| mount_err("remount", dest, e))?;
            }
            Err(e) => return Err(mount_err(&format!("mount {typ} on"), dest, e)),
        }
        let mounted =
            open_in_root(root, dest, OFlag::O_PATH).map_err(|e| mount_err("reopen", dest, e))?;
        self.finish_mount(mounted.as_fd(), dest, &opts)
    }

    fn finish_mount(
        &self,
        mounted: BorrowedFd<'_>,
        dest: &Path,
        opts: &MountOptions,
    ) -> Result<()> {
        for p in &opts.propagation {
            mount(
                None::<&str>,
                &fd_path(mounted),
                None::<&str>,
                *p,
                None::<&str>,
            )
            .map_err(|e| mount_err("set propagation of", dest, e))?;
        }
        if opts.rec_set != 0 || opts.rec_clear != 0 {
            let fd = nix::fcntl::open(
                &fd_path(mounted),
                OFlag::O_PATH | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| mount_err("open", dest, e))?;
            caisson_sys::mount_setattr_recursive(fd.as_fd(), opts.rec_set, opts.rec_clear, 0)?;
        }
        Ok(())
    }

    /// `cgroup` mounts: cgroup2 (in a cgroup namespace, or bound from our cgroup), or
    /// for v1 a tmpfs with one bind (or cgroupns mount) per hierarchy.
    fn mount_cgroup(&self, root: BorrowedFd<'_>, dest: &Path, opts: &MountOptions) -> Result<()> {
        let target = mkdir_all_in_root(root, dest, false)
            .map_err(|e| mount_err("create mount point", dest, e))?;
        let hierarchies = caisson_cgroups::mounted_hierarchies()?;
        let flags = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        let ro = flags.contains(MsFlags::MS_RDONLY);
        // host path of our own cgroup in a hierarchy
        let own_dir =
            |h: &caisson_cgroups::MountedHierarchy| h.mount.join(h.own.clone().unwrap_or_default());
        let unified_root = hierarchies
            .iter()
            .find(|h| h.v2 && h.mount == Path::new("/sys/fs/cgroup"));
        if let Some(h) = unified_root {
            if self.new_cgroupns {
                mount(
                    Some("cgroup2"),
                    &fd_path(target.as_fd()),
                    Some("cgroup2"),
                    flags,
                    None::<&str>,
                )
                .map_err(|e| mount_err("mount cgroup2 on", dest, e))?;
            } else {
                let src = own_dir(h);
                mount(
                    Some(&src),
                    &fd_path(target.as_fd()),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| mount_err("bind cgroup2 to", dest, e))?;
                if ro {
                    let m = open_in_root(root, dest, OFlag::O_PATH)
                        .map_err(|e| mount_err("reopen", dest, e))?;
                    bind_remount(m.as_fd(), MsFlags::MS_RDONLY | flags, MsFlags::empty())
                        .map_err(|e| mount_err("remount", dest, e))?;
                }
            }
            return Ok(());
        }
        mount(
            Some("tmpfs"),
            &fd_path(target.as_fd()),
            Some("tmpfs"),
            (flags & !MsFlags::MS_RDONLY)
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )
        .map_err(|e| mount_err("mount cgroup tmpfs on", dest, e))?;
        for h in &hierarchies {
            if !h.mount.starts_with("/sys/fs/cgroup") {
                continue;
            }
            let Some(name) = h.mount.file_name() else {
                continue;
            };
            let key = if h.v2 {
                String::new()
            } else {
                h.controllers.join(",")
            };
            let sub = dest.join(name);
            let t = mkdir_all_in_root(root, &sub, false)
                .map_err(|e| mount_err("create mount point", &sub, e))?;
            if self.new_cgroupns {
                // Inside the container's cgroup namespace a fresh mount of the
                // hierarchy shows exactly the container's cgroup as its root.
                let (fstype, data) = if key.is_empty() {
                    ("cgroup2", String::new())
                } else if let Some(named) = key.strip_prefix("name=") {
                    ("cgroup", format!("none,name={named}"))
                } else {
                    ("cgroup", key.clone())
                };
                mount(
                    Some(fstype),
                    &fd_path(t.as_fd()),
                    Some(fstype),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    if data.is_empty() {
                        None
                    } else {
                        Some(data.as_str())
                    },
                )
                .map_err(|e| mount_err(&format!("mount {fstype} ({key}) on"), &sub, e))?;
            } else {
                // No cgroup namespace: /proc/self/cgroup names our real cgroup; bind it.
                let src = own_dir(h);
                mount(
                    Some(&src),
                    &fd_path(t.as_fd()),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| mount_err(&format!("bind {} to", src.display()), &sub, e))?;
            }
            let m = open_in_root(root, &sub, OFlag::O_PATH)
                .map_err(|e| mount_err("reopen", &sub, e))?;
            bind_remount(
                m.as_fd(),
                flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                MsFlags::empty(),
            )
            .map_err(|e| mount_err("remount", &sub, e))?;
            // "cpu,cpuacct" also reachable as "cpu" and "cpuacct"
            if key.contains(',') {
                for part in key.split(',') {
                    if part.as_bytes() != name.as_bytes() {
                        let _ =
                            symlink_in_root(root, name.to_str().unwrap_or(""), &dest.join(part));
                    }
                }
            }
        }
        if ro {
            let m = open_in_root(root, dest, OFlag::O_PATH)
                .map_err(|e| mount_err("reopen", dest, e))?;
            bind_remount(
                m.as_fd(),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                MsFlags::empty(),
            )
            .map_err(|e| mount_err("remount", dest, e))?;
        }
        Ok(())
    }

    fn create_device(&self, root: BorrowedFd<'_>, d: &LinuxDevice) -> Result<()> {
        let path = d.path();
        let (kind, char_or_block) = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => (SFlag::S_IFCHR, true),
            LinuxDeviceType::B => (SFlag::S_IFBLK, true),
            LinuxDeviceType::P => (SFlag::S_IFIFO, false),
            LinuxDeviceType::A => {
                return Err(ContainerError::config(
                    "linux.devices[].type",
                    format!(
                        "{}: type \"a\" is only valid in cgroup rules",
                        path.display()
                    ),
                ))
            }
        };
        let parent = path.parent().unwrap_or(Path::new("/dev"));
        let dir = mkdir_all_in_root(root, parent, false)
            .map_err(|e| mount_err("create directory for device", path, e))?;
        let name = path.file_name().unwrap_or_default();
        if self.in_userns && char_or_block {
            // mknod is not allowed in a user namespace: bind the host's node.
            let host = Path::new("/").join(path.strip_prefix("/").unwrap_or(path));
            let t = mkdir_all_in_root(root, path, true)
                .map_err(|e| mount_err("create device mount point", path, e))?;
            mount(
                Some(&host),
                &fd_path(t.as_fd()),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| mount_err(&format!("bind {} to", host.display()), path, e))?;
            return Ok(());
        }
        let mode = d.file_mode().unwrap_or(0o666);
        let dev = nix::sys::stat::makedev(
            u64::try_from(d.major()).unwrap_or(0),
            u64::try_from(d.minor()).unwrap_or(0),
        );
        let _ = nix::unistd::unlinkat(&dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        mknodat(&dir, name, kind, Mode::from_bits_truncate(mode), dev)
            .map_err(|e| mount_err("mknod", path, e))?;
        let uid = d.uid().map(nix::unistd::Uid::from_raw);
        let gid = d.gid().map(nix::unistd::Gid::from_raw);
        nix::unistd::fchownat(
            &dir,
            name,
            uid,
            gid,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| mount_err("chown", path, e))?;
        // mknod is subject to umask; make the mode exact.
        nix::sys::stat::fchmodat(
            &dir,
            name,
            Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| mount_err("chmod", path, e))?;
        Ok(())
    }
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .any(|o| o == "bind" || o == "rbind")
}

fn symlink_in_root(root: BorrowedFd<'_>, target: &str, link: &Path) -> Result<()> {
    let parent = link.parent().unwrap_or(Path::new("/"));
    let dir = mkdir_all_in_root(root, parent, false).map_err(|e| mount_err("create", parent, e))?;
    match nix::unistd::symlinkat(target, &dir, link.file_name().unwrap_or_default()) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(mount_err("symlink", link, e)),
    }
}

/// The devices every container gets (as runc and crun).
pub fn default_devices() -> Vec<LinuxDevice> {
    let mk = |path: &str, major: i64, minor: i64| {
        oci_spec::runtime::LinuxDeviceBuilder::default()
            .path(path)
            .typ(LinuxDeviceType::C)
            .major(major)
            .minor(minor)
            .file_mode(0o666u32)
            .uid(0u32)
            .gid(0u32)
            .build()
            .expect("static device spec is valid")
    };
    vec![
        mk("/dev/null", 1, 3),
        mk("/dev/zero", 1, 5),
        mk("/dev/full", 1, 7),
        mk("/dev/random", 1, 8),
        mk("/dev/urandom", 1, 9),
        mk("/dev/tty", 5, 0),
    ]
}

/// pivot_root(2) into `rootfs` without a temporary directory (the runc/LXC trick:
/// `pivot_root(".", ".")`, then lazily unmount the old root stacked on top).
pub fn pivot_root(rootfs: &Path) -> Result<()> {
    let old = nix::fcntl::open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| mount_err("open", Path::new("/"), e))?;
    let new = nix::fcntl::open(
        rootfs,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| mount_err("open", rootfs, e))?;
    nix::unistd::fchdir(&new).map_err(|e| mount_err("chdir", rootfs, e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| mount_err("pivot_root", rootfs, e))?;
    nix::unistd::fchdir(&old).map_err(|e| mount_err("chdir", Path::new("old root"), e))?;
    // Make the old root a slave so the lazy unmount does not propagate to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| mount_err("make slave", Path::new("old root"), e))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| mount_err("unmount", Path::new("old root"), e))?;
    nix::unistd::chdir("/").map_err(|e| mount_err("chdir", Path::new("/"), e))?;
    Ok(())
}

/// `--no-pivot`: move the rootfs over / and chroot (for ramfs roots, where
/// pivot_root is impossible).
pub fn move_root(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(|e| mount_err("chdir", rootfs, e))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(|e| mount_err("move mount", rootfs, e))?;
    nix::unistd::chroot(".").map_err(|e| mount_err("chroot", rootfs, e))?;
    nix::unistd::chdir("/").map_err(|e| mount_err("chdir", Path::new("/"), e))?;
    Ok(())
}

/// After pivot_root: read-only root, masked and read-only paths, root propagation.
pub fn finalize(spec: &Spec) -> Result<()> {
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| mount_err("open", Path::new("/"), e))?;
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[])
    {
        let path = Path::new(p);
        let fd = match open_in_root(root.as_fd(), path, OFlag::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(mount_err("open read-only path", path, e)),
        };
        mount(
            Some(&fd_path(fd.as_fd())),
            &fd_path(fd.as_fd()),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| mount_err("bind read-only path", path, e))?;
        let m = open_in_root(root.as_fd(), path, OFlag::O_PATH)
            .map_err(|e| mount_err("reopen", path, e))?;
        bind_remount(
            m.as_fd(),
            MsFlags::MS_RDONLY | MsFlags::MS_REC,
            MsFlags::empty(),
        )
        .map_err(|e| mount_err("make read-only", path, e))?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[])
    {
        let path = Path::new(p);
        let fd = match open_in_root(root.as_fd(), path, OFlag::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(mount_err("open masked path", path, e)),
        };
        let is_dir = nix::sys::stat::fstat(&fd)
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
            .unwrap_or(false);
        let res = if is_dir {
            mount(
                Some("tmpfs"),
                &fd_path(fd.as_fd()),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0"),
            )
        } else {
            mount(
                Some("/dev/null"),
                &fd_path(fd.as_fd()),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        res.map_err(|e| mount_err("mask", path, e))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        bind_remount(root.as_fd(), MsFlags::MS_RDONLY, MsFlags::empty())
            .map_err(|e| mount_err("make read-only", Path::new("/"), e))?;
    }
    if let Some(prop) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
    {
        mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
            .map_err(|e| mount_err("set propagation of", Path::new("/"), e))?;
    }
    Ok(())
}

/// Write the spec's sysctls through the container's /proc.
pub fn apply_sysctls(spec: &Spec) -> Result<()> {
    for (k, v) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&path, v.as_bytes())
            .map_err(|e| ContainerError::io("write sysctl", path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let o = parse_mount_options(&[
            "nosuid".into(),
            "ro".into(),
            "rbind".into(),
            "rslave".into(),
            "mode=755".into(),
            "size=65536k".into(),
            "rro".into(),
        ])
        .unwrap();
        assert!(o.flags.contains(
            MsFlags::MS_NOSUID | MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REC
        ));
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.rec_set, attr::RDONLY);
        let o = parse_mount_options(&["ro".into(), "rw".into()]).unwrap();
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(parse_mount_options(&["idmap".into()]).is_err());
    }
}
