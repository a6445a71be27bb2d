//! cgroup management for Caisson containers.
//!
//! One trait, [`CgroupManager`], over the host layouts:
//! - cgroup v1 (*legacy*), and *hybrid* hosts where v1 hierarchies sit beside a
//!   cgroup2 mount at `/sys/fs/cgroup/unified` that may hold some controllers (this
//!   project's machines: `hugetlb` is there) — a controller found only on the cgroup2
//!   mount is written with v2 semantics;
//! - cgroup v2 (*unified*), with the device controller as an eBPF program ([`bpf`]);
//! - systemd (`--systemd-cgroup`, `slice:prefix:name` paths): the path form is checked
//!   and a host without systemd gets a clear error.
//!
//! The container core calls [`create_manager`] (pure: reads the layout, creates
//! nothing), [`CgroupManager::apply`] with the init's pid, [`CgroupManager::set`] with
//! the spec's resources, and on delete [`CgroupManager::remove`].
#![warn(missing_docs)]
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod bpf;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

/// Errors of cgroup operations; messages name the file or the config field.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroup file operation failed.
    #[error("{op} {path}: {source}")]
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
    #[error("{what}: {source}")]
    Bpf {
        /// What was done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The host's cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupSetup {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 hierarchies plus a cgroup2 mount beside them.
    Hybrid,
    /// Pure v2 at /sys/fs/cgroup.
    Unified,
}

/// What `create_manager` needs from the config and the command line.
#[derive(Debug, Clone, Copy)]
pub struct CgroupOptions<'a> {
    /// `linux.cgroupsPath`.
    pub cgroups_path: Option<&'a Path>,
    /// Container id (default path `/caisson/<id>`).
    pub container_id: &'a str,
    /// `--systemd-cgroup`.
    pub systemd: bool,
    /// `--rootless`: failures to create or write become warnings.
    pub rootless: bool,
}

/// A container's cgroup, whatever the host layout.
pub trait CgroupManager: std::fmt::Debug {
    /// Create the cgroup (every hierarchy) and move `pid` into it.
    fn apply(&self, pid: i32) -> Result<(), CgroupError>;
    /// Write the OCI resources.
    fn set(&self, resources: &LinuxResources) -> Result<(), CgroupError>;
    /// Pids in the cgroup.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Freeze or thaw.
    fn freeze(&self, frozen: bool) -> Result<(), CgroupError>;
    /// Remove every directory created (retrying briefly while tasks exit).
    fn remove(&self) -> Result<(), CgroupError>;
    /// The cgroup path, relative to the hierarchy roots.
    fn path(&self) -> &Path;
}

/// One mounted hierarchy.
#[derive(Debug, Clone)]
struct Hierarchy {
    mount: PathBuf,
    controllers: Vec<String>,
    v2: bool,
}

fn hierarchies() -> Vec<Hierarchy> {
    let mut out = Vec::new();
    let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return out;
    };
    for line in mi.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let mount = PathBuf::from(pre[4]);
        match post[0] {
            "cgroup" => {
                let controllers = post[2]
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "relatime"
                                | "xattr"
                                | "clone_children"
                                | "cpuset_v2_mode"
                                | "noprefix"
                        ) && !o.starts_with("release_agent")
                    })
                    .map(str::to_string)
                    .collect();
                out.push(Hierarchy {
                    mount,
                    controllers,
                    v2: false,
                });
            }
            "cgroup2" => {
                let controllers = std::fs::read_to_string(mount.join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                out.push(Hierarchy {
                    mount,
                    controllers,
                    v2: true,
                });
            }
            _ => {}
        }
    }
    out
}

/// Detect the host's layout from /proc/self/mountinfo.
pub fn detect_setup() -> CgroupSetup {
    let h = hierarchies();
    let v1 = h.iter().any(|h| !h.v2);
    let v2 = h.iter().any(|h| h.v2);
    match (v1, v2) {
        (true, true) => CgroupSetup::Hybrid,
        (false, true) => CgroupSetup::Unified,
        _ => CgroupSetup::Legacy,
    }
}

/// Pure: check the options and pick the manager for this host. Creates nothing.
pub fn create_manager(o: &CgroupOptions<'_>) -> Result<Box<dyn CgroupManager>, CgroupError> {
    if o.systemd {
        let valid = o
            .cgroups_path
            .and_then(Path::to_str)
            .is_some_and(|p| p.split(':').count() == 3);
        if !valid {
            return Err(CgroupError::Invalid {
                field: "linux.cgroupsPath".into(),
                message: "with --systemd-cgroup it must be \"slice:prefix:name\"".into(),
            });
        }
        if !Path::new("/run/systemd/system").exists() {
            return Err(CgroupError::NoSystemd);
        }
    }
    let rel = match o.cgroups_path {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        // relative: under the cgroup the runtime itself is in (as runc does)
        Some(p) => own_cgroup().join(p),
        None => PathBuf::from("/caisson").join(o.container_id),
    };
    let hierarchies = hierarchies();
    Ok(Box::new(Manager {
        rel,
        setup: detect_setup(),
        hierarchies,
        rootless: o.rootless,
    }))
}

/// The runtime's own cgroup (first v1 hierarchy, or the v2 one).
fn own_cgroup() -> PathBuf {
    let s = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut v2 = None;
    for l in s.lines() {
        let mut it = l.splitn(3, ':');
        let (_, c, p) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or("/"));
        if c.split(',').any(|c| c == "memory" || c == "pids") {
            return PathBuf::from(p);
        }
        if c.is_empty() {
            v2 = Some(PathBuf::from(p));
        }
    }
    v2.unwrap_or_else(|| PathBuf::from("/"))
}

/// Validate resources without touching the host.
pub fn validate_resources(r: &LinuxResources) -> Result<(), CgroupError> {
    let bad = |field: String, message: String| Err(CgroupError::Invalid { field, message });
    for (i, d) in r.devices().as_deref().unwrap_or(&[]).iter().enumerate() {
        if let Some(a) = d.access() {
            if a.chars().any(|c| !"rwm".contains(c)) {
                return bad(
                    format!("linux.resources.devices[{i}].access"),
                    format!("{a:?}: only r, w and m are allowed"),
                );
            }
        }
    }
    if let Some(m) = r.memory() {
        for (name, v) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
        ] {
            if matches!(v, Some(v) if v < -1) {
                return bad(
                    format!("linux.resources.memory.{name}"),
                    "must be -1 or positive".into(),
                );
            }
        }
        if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
            if l > 0 && s > 0 && s < l {
                return bad(
                    "linux.resources.memory.swap".into(),
                    format!("{s} is below memory.limit {l} (swap counts memory + swap)"),
                );
            }
        }
    }
    if let Some(b) = r.block_io() {
        if matches!(b.weight(), Some(w) if !(10..=1000).contains(&w)) {
            return bad(
                "linux.resources.blockIO.weight".into(),
                "must be 10..1000".into(),
            );
        }
    }
    Ok(())
}

#[derive(Debug)]
struct Manager {
    rel: PathBuf,
    setup: CgroupSetup,
    hierarchies: Vec<Hierarchy>,
    rootless: bool,
}

fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> CgroupError {
    CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl Manager {
    fn dir(&self, h: &Hierarchy) -> PathBuf {
        h.mount
            .join(self.rel.strip_prefix("/").unwrap_or(&self.rel))
    }

    /// The hierarchy that holds `ctrl`: a v1 hierarchy first, else the v2 one.
    fn find(&self, ctrl: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| !h.v2 && h.controllers.iter().any(|c| c == ctrl))
            .or_else(|| {
                self.hierarchies
                    .iter()
                    .find(|h| h.v2 && h.controllers.iter().any(|c| c == ctrl))
            })
    }

    fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.v2)
    }

    /// The hierarchies we create a cgroup in: every v1 one, and the v2 one.
    fn used(&self) -> impl Iterator<Item = &Hierarchy> {
        self.hierarchies
            .iter()
            .filter(|h| h.v2 || !h.controllers.is_empty())
    }

    fn write_in(&self, h: &Hierarchy, file: &str, val: &str) -> Result<(), CgroupError> {
        let p = self.dir(h).join(file);
        match std::fs::write(&p, val) {
            Ok(()) => Ok(()),
            Err(e) if self.rootless => {
                tracing::warn!("rootless: cannot write {}: {e}", p.display());
                Ok(())
            }
            Err(e) => Err(io_err("write", &p, e)),
        }
    }

    /// Write `file` of controller `ctrl`; `Ok(false)` when the controller is absent.
    fn write(&self, ctrl: &str, file: &str, val: &str) -> Result<bool, CgroupError> {
        match self.find(ctrl) {
            Some(h) => self.write_in(h, file, val).map(|()| true),
            None => Ok(false),
        }
    }

    /// Write a v1 file only if the kernel has it (e.g. kmem files removed in 6.x).
    fn write_if_exists(&self, ctrl: &str, file: &str, val: &str) -> Result<(), CgroupError> {
        if let Some(h) = self.find(ctrl) {
            if self.dir(h).join(file).exists() {
                self.write_in(h, file, val)?;
            }
        }
        Ok(())
    }

    fn is_v2(&self, ctrl: &str) -> bool {
        self.find(ctrl).is_some_and(|h| h.v2)
    }

    fn enable_v2_controllers(&self, h: &Hierarchy) {
        // every ancestor's subtree_control must delegate the controllers down
        let wanted: Vec<String> = h.controllers.iter().map(|c| format!("+{c}")).collect();
        if wanted.is_empty() {
            return;
        }
        let mut cur = h.mount.clone();
        for c in self.rel.strip_prefix("/").unwrap_or(&self.rel).components() {
            for w in &wanted {
                // a controller busy in a leaf with processes refuses; not fatal
                let _ = std::fs::write(cur.join("cgroup.subtree_control"), w);
            }
            cur.push(c);
        }
    }

    fn copy_cpuset_from_parents(&self, h: &Hierarchy) {
        let leaf = self.dir(h);
        let mut chain = Vec::new();
        let mut cur = leaf.clone();
        while cur.starts_with(&h.mount) && cur != h.mount {
            chain.push(cur.clone());
            cur.pop();
        }
        for d in chain.iter().rev() {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = std::fs::read_to_string(d.join(f)).unwrap_or_default();
                if v.trim().is_empty() {
                    if let Some(parent) = d.parent() {
                        let pv = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                        let _ = std::fs::write(d.join(f), pv.trim());
                    }
                }
            }
        }
    }

    fn set_memory(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let Some(m) = r.memory() else { return Ok(()) };
        let num = |v: i64| {
            if v < 0 {
                "max".to_string()
            } else {
                v.to_string()
            }
        };
        if self.is_v2("memory") {
            if let Some(v) = m.limit() {
                self.write("memory", "memory.max", &num(v))?;
            }
            if let Some(v) = m.reservation() {
                self.write("memory", "memory.low", &num(v))?;
            }
            if let Some(s) = m.swap() {
                let swap = match (s, m.limit()) {
                    (s, Some(l)) if s > 0 && l > 0 => (s - l).to_string(),
                    (s, _) => num(s),
                };
                self.write("memory", "memory.swap.max", &swap)?;
            }
            return Ok(());
        }
        let v1 = |v: i64| v.to_string();
        // memory.memsw.limit_in_bytes may never be below memory.limit_in_bytes: which
        // to write first depends on the current values. Try the limit first; if the
        // kernel refuses, raise memsw first (runc's order).
        let limit = |v: i64| self.write("memory", "memory.limit_in_bytes", &v1(v));
        let swap = |v: i64| self.write_if_exists("memory", "memory.memsw.limit_in_bytes", &v1(v));
        match (m.limit(), m.swap()) {
            (Some(l), Some(s)) => {
                if limit(l).is_err() {
                    swap(s)?;
                    limit(l)?;
                } else {
                    swap(s)?;
                }
            }
            (Some(l), None) => {
                limit(l)?;
            }
            (None, Some(s)) => swap(s)?,
            (None, None) => {}
        }
        if let Some(v) = m.reservation() {
            self.write("memory", "memory.soft_limit_in_bytes", &v1(v))?;
        }
        #[allow(deprecated)]
        if let Some(v) = m.kernel() {
            // kernel memory limits are deprecated; newer kernels refuse the write
            if let Err(e) = self.write_if_exists("memory", "memory.kmem.limit_in_bytes", &v1(v)) {
                tracing::warn!("linux.resources.memory.kernel ignored: {e}");
            }
        }
        if let Some(v) = m.kernel_tcp() {
            self.write_if_exists("memory", "memory.kmem.tcp.limit_in_bytes", &v1(v))?;
        }
        if let Some(v) = m.swappiness() {
            self.write("memory", "memory.swappiness", &v.to_string())?;
        }
        if let Some(v) = m.disable_oom_killer() {
            self.write("memory", "memory.oom_control", if v { "1" } else { "0" })?;
        }
        Ok(())
    }

    fn set_cpu(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let Some(c) = r.cpu() else { return Ok(()) };
        if self.is_v2("cpu") {
            if let Some(s) = c.shares() {
                let weight = 1 + (s.saturating_sub(2) * 9999) / 262_142;
                self.write("cpu", "cpu.weight", &weight.to_string())?;
            }
            if c.quota().is_some() || c.period().is_some() {
                let q = c
                    .quota()
                    .filter(|q| *q > 0)
                    .map_or("max".into(), |q| q.to_string());
                let p = c.period().unwrap_or(100_000);
                self.write("cpu", "cpu.max", &format!("{q} {p}"))?;
            }
        } else {
            if let Some(v) = c.shares() {
                self.write("cpu", "cpu.shares", &v.to_string())?;
            }
            if let Some(v) = c.period() {
                self.write("cpu", "cpu.cfs_period_us", &v.to_string())?;
            }
            if let Some(v) = c.quota() {
                self.write("cpu", "cpu.cfs_quota_us", &v.to_string())?;
            }
            if let Some(v) = c.realtime_period() {
                self.write("cpu", "cpu.rt_period_us", &v.to_string())?;
            }
            if let Some(v) = c.realtime_runtime() {
                self.write("cpu", "cpu.rt_runtime_us", &v.to_string())?;
            }
        }
        if let Some(v) = c.cpus() {
            self.write("cpuset", "cpuset.cpus", v)?;
        }
        if let Some(v) = c.mems() {
            self.write("cpuset", "cpuset.mems", v)?;
        }
        Ok(())
    }

    fn set_blkio(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let Some(b) = r.block_io() else { return Ok(()) };
        let requested = b.weight().is_some()
            || b.leaf_weight().is_some()
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || b.throttle_read_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_read_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty());
        if !requested {
            return Ok(());
        }
        if self.find("blkio").is_none() && self.find("io").is_none() {
            return Err(CgroupError::NoController {
                field: "linux.resources.blockIO",
                controller: "blkio/io",
            });
        }
        if self.find("blkio").is_none() {
            if let Some(w) = b.weight() {
                let w = 1 + (u64::from(w).saturating_sub(10) * 9999) / 990;
                self.write("io", "io.weight", &format!("default {w}"))?;
            }
            for (key, list) in [
                ("rbps", b.throttle_read_bps_device()),
                ("wbps", b.throttle_write_bps_device()),
                ("riops", b.throttle_read_iops_device()),
                ("wiops", b.throttle_write_iops_device()),
            ] {
                for d in list.as_deref().unwrap_or(&[]) {
                    self.write(
                        "io",
                        "io.max",
                        &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
                    )?;
                }
            }
            return Ok(());
        }
        if let Some(v) = b.weight() {
            self.write_if_exists("blkio", "blkio.weight", &v.to_string())?;
        }
        if let Some(v) = b.leaf_weight() {
            self.write_if_exists("blkio", "blkio.leaf_weight", &v.to_string())?;
        }
        for d in b.weight_device().as_deref().unwrap_or(&[]) {
            if let Some(w) = d.weight() {
                self.write_if_exists(
                    "blkio",
                    "blkio.weight_device",
                    &format!("{}:{} {w}", d.major(), d.minor()),
                )?;
            }
            if let Some(w) = d.leaf_weight() {
                self.write_if_exists(
                    "blkio",
                    "blkio.leaf_weight_device",
                    &format!("{}:{} {w}", d.major(), d.minor()),
                )?;
            }
        }
        for (f, list) in [
            (
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ] {
            for d in list.as_deref().unwrap_or(&[]) {
                self.write(
                    "blkio",
                    f,
                    &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                )?;
            }
        }
        Ok(())
    }

    fn set_devices(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let rules = r.devices().as_deref().unwrap_or(&[]);
        if rules.is_empty() {
            return Ok(());
        }
        if self.find("devices").is_some() {
            for d in rules {
                let t = match d.typ() {
                    Some(oci_spec::runtime::LinuxDeviceType::B) => "b",
                    Some(
                        oci_spec::runtime::LinuxDeviceType::C
                        | oci_spec::runtime::LinuxDeviceType::U,
                    ) => "c",
                    _ => "a",
                };
                let num = |v: Option<i64>| {
                    v.filter(|v| *v >= 0)
                        .map_or("*".to_string(), |v| v.to_string())
                };
                let acc = d.access().clone().unwrap_or_else(|| "rwm".into());
                let line = if t == "a" {
                    format!("a *:* {acc}")
                } else {
                    format!("{t} {}:{} {acc}", num(d.major()), num(d.minor()))
                };
                self.write(
                    "devices",
                    if d.allow() {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    },
                    &line,
                )?;
            }
            return Ok(());
        }
        if self.setup == CgroupSetup::Unified {
            let h = self.unified().expect("unified layout has a cgroup2 mount");
            let dir = self.dir(h);
            let cg = std::fs::File::open(&dir).map_err(|e| io_err("open", &dir, e))?;
            let prog = bpf::load(&bpf::compile(rules))?;
            return bpf::attach(prog.as_fd(), cg.as_fd());
        }
        tracing::warn!("no device cgroup controller on this host: device rules are not enforced");
        Ok(())
    }
}

impl CgroupManager for Manager {
    fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        for h in self.used() {
            let d = self.dir(h);
            if let Err(e) = std::fs::create_dir_all(&d) {
                if self.rootless {
                    tracing::warn!("rootless: cannot create cgroup {}: {e}", d.display());
                    continue;
                }
                return Err(io_err("create", &d, e));
            }
            if h.v2 {
                self.enable_v2_controllers(h);
            }
            if h.controllers.iter().any(|c| c == "cpuset") {
                self.copy_cpuset_from_parents(h);
            }
            self.write_in(h, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    fn set(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        self.set_memory(r)?;
        self.set_cpu(r)?;
        if let Some(p) = r.pids() {
            let l = p.limit();
            let v = if l > 0 { l.to_string() } else { "max".into() };
            if !self.write("pids", "pids.max", &v)? {
                return Err(CgroupError::NoController {
                    field: "linux.resources.pids",
                    controller: "pids",
                });
            }
        }
        self.set_blkio(r)?;
        for h in r.hugepage_limits().as_deref().unwrap_or(&[]) {
            let file = if self.is_v2("hugetlb") {
                format!("hugetlb.{}.max", h.page_size())
            } else {
                format!("hugetlb.{}.limit_in_bytes", h.page_size())
            };
            if !self.write("hugetlb", &file, &h.limit().to_string())? {
                return Err(CgroupError::NoController {
                    field: "linux.resources.hugepageLimits",
                    controller: "hugetlb",
                });
            }
        }
        if let Some(n) = r.network() {
            if let Some(c) = n.class_id() {
                if !self.write("net_cls", "net_cls.classid", &c.to_string())? {
                    return Err(CgroupError::NoController {
                        field: "linux.resources.network.classID",
                        controller: "net_cls",
                    });
                }
            }
            for p in n.priorities().as_deref().unwrap_or(&[]) {
                if !self.write(
                    "net_prio",
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )? {
                    return Err(CgroupError::NoController {
                        field: "linux.resources.network.priorities",
                        controller: "net_prio",
                    });
                }
            }
        }
        self.set_devices(r)?;
        for (k, v) in r.unified().as_ref().into_iter().flatten() {
            let Some(h) = self.unified() else {
                return Err(CgroupError::NoController {
                    field: "linux.resources.unified",
                    controller: "cgroup2",
                });
            };
            if k.contains('/') || !self.dir(h).join(k).exists() {
                return Err(CgroupError::Invalid {
                    field: format!("linux.resources.unified.{k}"),
                    message: "no such cgroup2 file".into(),
                });
            }
            self.write_in(h, k, v)?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let Some(h) = self.find("pids").or_else(|| self.used().next()) else {
            return Ok(Vec::new());
        };
        let p = self.dir(h).join("cgroup.procs");
        match std::fs::read_to_string(&p) {
            Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_err("read", &p, e)),
        }
    }

    fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        if let Some(h) = self
            .hierarchies
            .iter()
            .find(|h| !h.v2 && h.controllers.iter().any(|c| c == "freezer"))
        {
            return self.write_in(h, "freezer.state", if frozen { "FROZEN" } else { "THAWED" });
        }
        if let Some(h) = self.unified() {
            return self.write_in(h, "cgroup.freeze", if frozen { "1" } else { "0" });
        }
        Err(CgroupError::NoController {
            field: "(pause)",
            controller: "freezer",
        })
    }

    fn remove(&self) -> Result<(), CgroupError> {
        for h in self.used() {
            let d = self.dir(h);
            let mut last = None;
            for _ in 0..200 {
                match std::fs::remove_dir(&d) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        last = Some(e);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
            }
            if let Some(e) = last {
                if !self.rootless {
                    return Err(io_err("remove", &d, e));
                }
            }
        }
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.rel
    }
}
