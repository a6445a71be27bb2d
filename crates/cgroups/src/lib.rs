//! cgroup management for Caisson containers.
//!
//! One trait, [`CgroupManager`], over the host layouts:
//! - cgroup v1 (*legacy*), and *hybrid* hosts where v1 hierarchies sit beside a
//!   cgroup2 mount (usually `/sys/fs/cgroup/unified`) that may hold some controllers
//!   (this project's machines: `hugetlb` is there) — a controller found only on the
//!   cgroup2 mount is written with v2 semantics;
//! - cgroup v2 (*unified*), with the device controller as an eBPF program ([`bpf`]);
//! - systemd (`--systemd-cgroup`, `slice:prefix:name` paths): the path form is checked,
//!   a host without systemd gets a clear error, and on a systemd host the cgroup is
//!   made through cgroupfs at the path systemd would give the scope.
//!
//! Layouts are read from `/proc/self/mountinfo` (never from fixed paths), so
//! comma-joined v1 mounts (`cpu,cpuacct`), bind mounts of a sub-tree and cgroup
//! namespaces work.
//!
//! # Paths (as runc)
//! - an absolute `linux.cgroupsPath` (`/foo/bar`) is below each hierarchy's mount;
//! - a relative one (`foo/bar`) is below the cgroup the calling process is in, in
//!   each hierarchy (`/proc/self/cgroup`);
//! - none: `<container id>`, relative (so below the caller's own cgroup).
//!
//! Paths are cleaned lexically (`..` cannot leave the hierarchy). A relative path is
//! resolved again by every command that calls [`create_manager`], so the runtime
//! must be run from the same cgroup for `create`, `kill`, `delete`... (as with runc,
//! which stores the resolved paths).
//!
//! The container core calls [`create_manager`] (pure: reads the layout, creates
//! nothing), [`CgroupManager::apply`] with the init's pid, [`CgroupManager::set`] with
//! the spec's resources, and on delete [`CgroupManager::remove`].
#![warn(missing_docs)]
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod bpf;
mod devices;
mod fs;
mod mounts;
mod oom;
mod resources;
mod stats;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

pub use mounts::{parse_mount_table, MountEntry};
pub use oom::OomWatcher;
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, IntelRdt, L3CacheInfo, MemBwInfo, Memory,
    MemoryEntry, NetworkInterface, Pids, Stats, Throttling,
};
pub use validate::validate_resources;

/// Errors of cgroup operations; messages name the file or the config field.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroup file operation failed.
    #[error("{op} {path}: {}", os_message(source))]
    Io {
        /// What was done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A resource value in the config is invalid.
    #[error("invalid config: {field}: {message}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// Why.
        message: String,
    },
    /// A resource was requested for a controller this host does not have.
    #[error("{field}: the {controller} cgroup controller is not available on this host")]
    NoController {
        /// JSON path of the field.
        field: &'static str,
        /// The controller.
        controller: &'static str,
    },
    /// `--systemd-cgroup` on a host without systemd.
    #[error("systemd cgroup manager requested (--systemd-cgroup) but this host is not running systemd (no /run/systemd/system)")]
    NoSystemd,
    /// A bpf(2) call failed.
    #[error("{what}: {}", os_message(source))]
    Bpf {
        /// What was done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// An OS error as `strerror` words it, without std's " (os error N)" suffix.
fn os_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match e.raw_os_error() {
        Some(n) => s
            .strip_suffix(&format!(" (os error {n})"))
            .map_or_else(|| s.clone(), str::to_string),
        None => s,
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupSetup {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 hierarchies plus a cgroup2 mount beside them (with or without
    /// controllers).
    Hybrid,
    /// Pure v2.
    Unified,
}

/// What `create_manager` needs from the config and the command line.
#[derive(Debug, Clone, Copy)]
pub struct CgroupOptions<'a> {
    /// `linux.cgroupsPath`.
    pub cgroups_path: Option<&'a Path>,
    /// Container id: the default path (`<id>` below the caller's own cgroup, as
    /// runc; with `systemd`, `system.slice:caisson:<id>`).
    pub container_id: &'a str,
    /// `--systemd-cgroup`.
    pub systemd: bool,
    /// `--rootless`: permission failures to create or write become warnings, and
    /// device rules are best-effort.
    pub rootless: bool,
}

/// A container's cgroup, whatever the host layout.
pub trait CgroupManager: std::fmt::Debug {
    /// Create the cgroup (every hierarchy) and move `pid` into it.
    fn apply(&self, pid: i32) -> Result<(), CgroupError>;
    /// Write the OCI resources (validated first with [`validate_resources`]).
    fn set(&self, resources: &LinuxResources) -> Result<(), CgroupError>;
    /// Pids in the cgroup and the cgroups below it, sorted.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Freeze or thaw, and wait until the kernel reports the new state.
    fn freeze(&self, frozen: bool) -> Result<(), CgroupError>;
    /// Whether the freezer reports the cgroup frozen (v1 `freezer.state` is
    /// `FROZEN` — not `FREEZING`; v2 `cgroup.events` has `frozen 1`). No freezer,
    /// or no cgroup, is `false`.
    fn frozen(&self) -> Result<bool, CgroupError>;
    /// Resource usage, shaped as the `data` of `runc events --stats`. Controllers or
    /// files the host lacks leave their fields zero or empty; a cgroup that does not
    /// exist is an error naming its directory.
    fn stats(&self) -> Result<Stats, CgroupError>;
    /// A pollable watcher of out-of-memory events (v1: eventfd on
    /// `memory.oom_control`; v2: inotify on `memory.events`); `None` when the host
    /// has no memory controller. The cgroup must exist.
    fn oom_watcher(&self) -> Result<Option<OomWatcher>, CgroupError>;
    /// Remove the container's cgroup (and cgroups below it) in every hierarchy,
    /// retrying briefly while tasks exit; a cgroup already gone is success.
    fn remove(&self) -> Result<(), CgroupError>;
    /// The cgroup path, relative to the hierarchy roots (in the main hierarchy: the
    /// cgroup2 one on a unified host, else `pids`/`memory`; a relative path may
    /// resolve differently in other v1 hierarchies).
    fn path(&self) -> &Path;
}

/// Detect the host's layout from /proc/self/mountinfo (falling back to the
/// filesystem type of `/sys/fs/cgroup` if mountinfo cannot be read).
pub fn detect_setup() -> CgroupSetup {
    if let Some(s) = mounts::hierarchies()
        .ok()
        .and_then(|h| mounts::setup_of(&h))
    {
        return s;
    }
    let is_cgroup2 = |p: &str| {
        nix::sys::statfs::statfs(p)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    };
    if is_cgroup2("/sys/fs/cgroup") {
        CgroupSetup::Unified
    } else if is_cgroup2("/sys/fs/cgroup/unified") {
        CgroupSetup::Hybrid
    } else {
        CgroupSetup::Legacy
    }
}

fn invalid_path(message: String) -> CgroupError {
    CgroupError::Invalid {
        field: "linux.cgroupsPath".into(),
        message,
    }
}

/// The cgroupfs path systemd gives `slice:prefix:name` (`system.slice:docker:abc` →
/// `/system.slice/docker-abc.scope`), as runc's systemd driver computes it.
fn systemd_path(o: &CgroupOptions<'_>) -> Result<PathBuf, CgroupError> {
    let raw = match o.cgroups_path {
        None => format!(":caisson:{}", o.container_id),
        Some(p) if p.as_os_str().is_empty() => format!(":caisson:{}", o.container_id),
        Some(p) => p
            .to_str()
            .ok_or_else(|| invalid_path(format!("{p:?} is not UTF-8")))?
            .to_string(),
    };
    let parts: Vec<&str> = raw.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(invalid_path(format!(
            "with --systemd-cgroup it must be \"slice:prefix:name\", got {raw:?}"
        )));
    };
    if !Path::new("/run/systemd/system").exists() {
        return Err(CgroupError::NoSystemd);
    }
    let slice = match slice {
        "" if o.rootless => "user.slice",
        "" => "system.slice",
        s => s,
    };
    let slice_path = mounts::expand_slice(slice)
        .ok_or_else(|| invalid_path(format!("{slice:?} is not a systemd slice name")))?;
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err(invalid_path(format!("{raw:?}: bad unit name")));
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(slice_path.join(unit))
}

/// A mounted cgroup hierarchy, as a container's `cgroup` mount needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedHierarchy {
    /// Mount point.
    pub mount: PathBuf,
    /// v1: the hierarchy's controllers (`cpu`, `cpuacct`, `name=systemd`, ...);
    /// v2: the controllers available at the mount's root.
    pub controllers: Vec<String>,
    /// A cgroup2 mount.
    pub v2: bool,
    /// This process's cgroup in the hierarchy, relative to the mount point (`None`
    /// when the process is not in it).
    pub own: Option<PathBuf>,
}

/// Every mount of this mount namespace (`/proc/self/mountinfo`).
pub fn mount_table() -> std::io::Result<Vec<MountEntry>> {
    Ok(parse_mount_table(&std::fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

/// Every cgroup hierarchy mounted in this mount namespace, with this process's cgroup
/// in each (one parser of mountinfo and /proc/self/cgroup for the whole project).
pub fn mounted_hierarchies() -> Result<Vec<MountedHierarchy>, CgroupError> {
    let own = mounts::own_cgroups()?;
    Ok(mounts::hierarchies()?
        .into_iter()
        .map(|h| MountedHierarchy {
            own: mounts::own_in(&h, &own),
            mount: h.mount,
            controllers: h.controllers,
            v2: h.v2,
        })
        .collect())
}

/// Pure: check the options and pick the manager for this host. Creates nothing.
pub fn create_manager(o: &CgroupOptions<'_>) -> Result<Box<dyn CgroupManager>, CgroupError> {
    enum Target {
        Absolute(PathBuf),
        Relative(PathBuf),
    }
    let target = if o.systemd {
        Target::Absolute(mounts::clean(&systemd_path(o)?))
    } else {
        match o.cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => {
                if p.is_absolute() {
                    Target::Absolute(mounts::clean(p))
                } else {
                    Target::Relative(mounts::clean(p))
                }
            }
            _ => {
                let id = o.container_id;
                if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                    return Err(CgroupError::Invalid {
                        field: "container id".into(),
                        message: format!("{id:?} cannot name a cgroup"),
                    });
                }
                Target::Relative(PathBuf::from(id))
            }
        }
    };
    if matches!(&target, Target::Absolute(p) | Target::Relative(p) if p.as_os_str().is_empty()) {
        return Err(invalid_path(
            "names the root cgroup (or the runtime's own): the container needs its own".into(),
        ));
    }
    let hierarchies = mounts::hierarchies()?;
    let Some(setup) = mounts::setup_of(&hierarchies) else {
        return Err(CgroupError::Io {
            op: "find cgroup mounts in",
            path: "/proc/self/mountinfo".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no cgroup or cgroup2 file system is mounted",
            ),
        });
    };
    let own = match &target {
        Target::Relative(_) => mounts::own_cgroups()?,
        Target::Absolute(_) => Vec::new(),
    };
    let placed = hierarchies
        .into_iter()
        .map(|h| {
            let rel = match &target {
                Target::Absolute(p) => p.clone(),
                Target::Relative(p) => mounts::own_in(&h, &own).unwrap_or_default().join(p),
            };
            (h, rel)
        })
        .collect();
    Ok(Box::new(fs::Manager::new(
        setup, placed, o.rootless, o.systemd,
    )))
}
