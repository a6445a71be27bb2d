//! Resource-usage statistics of a cgroup, in the JSON shape of the `data` field that
//! `runc events --stats` prints (runc 1.1 `types/events.go`: the same key names, and
//! Go's `omitempty` mirrored — a zero number, an empty list or map is left out where
//! runc leaves it out; structs are always printed, as Go prints them).
//!
//! Each controller is read with the semantics of the hierarchy it is on (v1 files on
//! a v1 mount, v2 files on the cgroup2 mount), as runc's `fs`/`fs2` drivers read
//! them. A controller the host lacks or a file the kernel does not have leaves its
//! fields zero or empty; only a cgroup that does not exist is an error.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fs::{io_err, Entry, Manager};
use crate::{CgroupError, CgroupSetup};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Statistics of a container's cgroup: runc's `types.Stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// The cpuset (v1 only, as runc).
    pub cpuset: CpuSet,
    /// Memory usage and limits.
    pub memory: Memory,
    /// Process count and limit.
    pub pids: Pids,
    /// Block I/O counters.
    pub blkio: Blkio,
    /// Huge page usage by page size (`"2MB"`); printed `{}` when empty, as runc.
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT (never filled: Caisson has no resctrl support); printed `{}`.
    pub intel_rdt: IntelRdt,
    /// Network interfaces (never filled); printed `null`, as runc without a
    /// network configuration.
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

/// Huge page usage of one page size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Maximum bytes ever used (v1 `max_usage_in_bytes`; v2 has none: 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocations that failed on the limit.
    pub failcnt: u64,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    /// Device major number.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor number.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard` or `Total` (v1 spelling).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Block I/O counters (cgroup v2 fills the first two, as runc).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Blkio {
    /// Bytes transferred.
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// I/O operations.
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    /// Queued operations (v1 CFQ/BFQ).
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    /// Service time (v1 CFQ/BFQ).
    #[serde(
        rename = "ioServiceTimeRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    /// Wait time (v1 CFQ/BFQ).
    #[serde(rename = "ioWaitTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    /// Merged operations (v1 CFQ/BFQ).
    #[serde(rename = "ioMergedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    /// Disk time (v1 CFQ/BFQ).
    #[serde(rename = "ioTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    /// Sectors transferred (v1 CFQ/BFQ).
    #[serde(rename = "sectorsRecursive", skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

/// Process count and limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pids {
    /// Tasks in the cgroup.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// `pids.max`; 0 when unlimited (`max`), as runc.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// CFS bandwidth throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// CPU time, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU, in kernel mode (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU, in user mode (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// In kernel mode.
    pub kernel: u64,
    /// In user mode.
    pub user: u64,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    /// CPU time.
    pub usage: CpuUsage,
    /// Throttling.
    pub throttling: Throttling,
}

/// The v1 cpuset settings, as runc reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuSet {
    /// `cpuset.cpus`, expanded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// `cpuset.cpu_exclusive`.
    pub cpu_exclusive: u64,
    /// `cpuset.mems`, expanded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    /// `cpuset.mem_hardwall`.
    pub mem_hardwall: u64,
    /// `cpuset.mem_exclusive`.
    pub mem_exclusive: u64,
    /// `cpuset.memory_migrate`.
    pub memory_migrate: u64,
    /// `cpuset.memory_spread_page`.
    pub memory_spread_page: u64,
    /// `cpuset.memory_spread_slab`.
    pub memory_spread_slab: u64,
    /// `cpuset.memory_pressure`.
    pub memory_pressure: u64,
    /// `cpuset.sched_load_balance`.
    pub sched_load_balance: u64,
    /// `cpuset.sched_relax_domain_level`.
    pub sched_relax_domain_level: i64,
}

/// Usage, limit, peak and failures of one kind of memory, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEntry {
    /// The limit (`u64::MAX`, or v1's page-rounded "unlimited", when none).
    pub limit: u64,
    /// Current usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// Page cache (v1 `cache`, v2 `file` of `memory.stat`).
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory plus swap (v1 `memsw`; on v2 `memory.swap.*` added to the memory
    /// figures, as runc does for v1 compatibility).
    pub swap: MemoryEntry,
    /// Kernel memory (v1 `kmem`).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1 `kmem.tcp`).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// Every `memory.stat` line.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Intel RDT L3 cache information.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct L3CacheInfo {
    /// Capacity bitmask.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cbm_mask: String,
    /// Minimum bits of a mask.
    #[serde(skip_serializing_if = "is_zero")]
    pub min_cbm_bits: u64,
    /// Number of CLOS ids.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_closids: u64,
}

/// Intel RDT memory bandwidth information.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemBwInfo {
    /// Bandwidth granularity.
    #[serde(skip_serializing_if = "is_zero")]
    pub bandwidth_gran: u64,
    /// Whether the delay scale is linear.
    #[serde(skip_serializing_if = "is_zero")]
    pub delay_linear: u64,
    /// Minimum bandwidth.
    #[serde(skip_serializing_if = "is_zero")]
    pub min_bandwidth: u64,
    /// Number of CLOS ids.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_closids: u64,
}

/// Intel RDT (resctrl) statistics: the shape only, Caisson does not fill it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IntelRdt {
    /// L3 cache information.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l3_cache_info: Option<L3CacheInfo>,
    /// L3 cache schema of the root group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub l3_cache_schema_root: String,
    /// L3 cache schema of the container's group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub l3_cache_schema: String,
    /// Memory bandwidth information.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_bw_info: Option<MemBwInfo>,
    /// Memory bandwidth schema of the root group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mem_bw_schema_root: String,
    /// Memory bandwidth schema of the container's group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mem_bw_schema: String,
}

/// Counters of one network interface (Go field names, as runc prints them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkInterface {
    /// Interface name.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Sent packets dropped.
    pub tx_dropped: u64,
}

// ------------------------------------------------------------------ file reading

/// Errors that mean "the file is not there": it does not exist, the cgroup was
/// removed meanwhile (ENODEV from kernfs), or the kernel does not support it.
pub(crate) fn absent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::ENODEV | libc::EOPNOTSUPP))
}

/// A cgroup directory whose missing files read as absent.
struct Dir<'a>(&'a Path);

impl Dir<'_> {
    fn read(&self, file: &str) -> Result<Option<String>, CgroupError> {
        let p = self.0.join(file);
        match std::fs::read_to_string(&p) {
            Ok(s) => Ok(Some(s)),
            Err(e) if absent(&e) => Ok(None),
            Err(e) => Err(io_err("read", &p, e)),
        }
    }

    /// A one-value file (`max` is `u64::MAX`); absent or unparsable is `None`.
    fn u64(&self, file: &str) -> Result<Option<u64>, CgroupError> {
        Ok(self.read(file)?.and_then(|s| parse_u64(s.trim())))
    }

    /// A one-value file, 0 when absent.
    fn u64_or0(&self, file: &str) -> Result<u64, CgroupError> {
        Ok(self.u64(file)?.unwrap_or(0))
    }

    /// A flat-keyed file (`key value` lines).
    fn keyed(&self, file: &str) -> Result<Vec<(String, u64)>, CgroupError> {
        Ok(self
            .read(file)?
            .map(|s| parse_keyed(&s))
            .unwrap_or_default())
    }

    /// One key of a flat-keyed file, 0 when absent.
    fn key(&self, file: &str, key: &str) -> Result<u64, CgroupError> {
        Ok(self
            .keyed(file)?
            .into_iter()
            .find_map(|(k, v)| (k == key).then_some(v))
            .unwrap_or(0))
    }

    /// A file of space-separated numbers.
    fn list(&self, file: &str) -> Result<Vec<u64>, CgroupError> {
        Ok(self
            .read(file)?
            .map(|s| s.split_whitespace().filter_map(parse_u64).collect())
            .unwrap_or_default())
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        Some(u64::MAX)
    } else {
        s.parse().ok()
    }
}

/// `key value` lines; malformed lines are skipped.
pub(crate) fn parse_keyed(s: &str) -> Vec<(String, u64)> {
    s.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (k, v) = (f.next()?, f.next()?);
            Some((k.to_string(), parse_u64(v)?))
        })
        .collect()
}

/// A cpuset list (`0-3,8`) expanded; malformed is empty.
fn parse_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let range = match part.split_once('-') {
            Some((a, b)) => a.parse::<u16>().ok().zip(b.parse::<u16>().ok()),
            None => part.parse::<u16>().ok().map(|a| (a, a)),
        };
        let Some((a, b)) = range.filter(|(a, b)| a <= b) else {
            return Vec::new();
        };
        out.extend(a..=b);
    }
    out
}

// ---------------------------------------------------------------------- collect

/// The statistics of the manager's cgroup, each controller read where it lives.
pub(crate) fn collect(m: &Manager) -> Result<Stats, CgroupError> {
    if let Some(e) = m.main_entry() {
        if !e.dir.is_dir() {
            return Err(io_err(
                "read the statistics of the cgroup",
                &e.dir,
                std::io::Error::from_raw_os_error(libc::ENOENT),
            ));
        }
    }
    let mut s = Stats::default();
    // cgroup v2 core files (cpu.stat usage, cgroup.procs) exist without the
    // controller: on a unified host they are read from the cgroup itself
    let core = || {
        (m.setup == CgroupSetup::Unified)
            .then(|| m.unified())
            .flatten()
    };

    if let Some(e) = m.entry_for("cpuacct").filter(|e| !e.h.v2) {
        cpuacct_v1(&Dir(&e.dir), &mut s.cpu.usage)?;
    }
    match m.entry_for("cpu").or_else(core) {
        Some(e) if e.h.v2 => cpu_v2(&Dir(&e.dir), &mut s.cpu)?,
        Some(e) => cpu_v1(&Dir(&e.dir), &mut s.cpu.throttling)?,
        None => {}
    }
    if let Some(e) = m.entry_for("cpuset").filter(|e| !e.h.v2) {
        cpuset_v1(&Dir(&e.dir), &mut s.cpuset)?;
    }
    match m.entry_for("memory") {
        Some(e) if e.h.v2 => memory_v2(&Dir(&e.dir), &mut s.memory)?,
        Some(e) => memory_v1(&Dir(&e.dir), &mut s.memory)?,
        None => {}
    }
    if let Some(e) = m.entry_for("pids").or_else(core) {
        pids(e, &mut s.pids)?;
    }
    if let Some(e) = m.entry_for("blkio").filter(|e| !e.h.v2) {
        blkio_v1(&Dir(&e.dir), &mut s.blkio)?;
    } else if let Some(e) = m.entry_for("io").filter(|e| e.h.v2) {
        io_v2(&Dir(&e.dir), &mut s.blkio)?;
    }
    if let Some(e) = m.entry_for("hugetlb") {
        hugetlb(e, &mut s.hugetlb)?;
    }
    Ok(s)
}

/// USER_HZ ticks (`cpuacct.stat`) to nanoseconds.
fn ticks_to_ns(ticks: u64) -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100);
    u64::try_from(u128::from(ticks) * 1_000_000_000 / u128::from(hz)).unwrap_or(u64::MAX)
}

fn cpuacct_v1(d: &Dir<'_>, u: &mut CpuUsage) -> Result<(), CgroupError> {
    u.total = d.u64_or0("cpuacct.usage")?;
    u.percpu = d.list("cpuacct.usage_percpu")?;
    u.percpu_kernel = d.list("cpuacct.usage_percpu_sys")?;
    u.percpu_user = d.list("cpuacct.usage_percpu_user")?;
    if u.percpu_kernel.is_empty() && u.percpu_user.is_empty() {
        // older kernels: only the `cpu user system` table
        if let Some(all) = d.read("cpuacct.usage_all")? {
            for l in all.lines().skip(1) {
                let f: Vec<&str> = l.split_whitespace().collect();
                if let [_, user, system] = f[..] {
                    if let (Ok(user), Ok(system)) = (user.parse(), system.parse()) {
                        u.percpu_user.push(user);
                        u.percpu_kernel.push(system);
                    }
                }
            }
        }
    }
    for (k, v) in d.keyed("cpuacct.stat")? {
        match k.as_str() {
            "user" => u.user = ticks_to_ns(v),
            "system" => u.kernel = ticks_to_ns(v),
            _ => {}
        }
    }
    Ok(())
}

fn cpu_v1(d: &Dir<'_>, t: &mut Throttling) -> Result<(), CgroupError> {
    for (k, v) in d.keyed("cpu.stat")? {
        match k.as_str() {
            "nr_periods" => t.periods = v,
            "nr_throttled" => t.throttled_periods = v,
            "throttled_time" => t.throttled_time = v,
            _ => {}
        }
    }
    Ok(())
}

fn cpu_v2(d: &Dir<'_>, c: &mut Cpu) -> Result<(), CgroupError> {
    for (k, v) in d.keyed("cpu.stat")? {
        let ns = v.saturating_mul(1000);
        match k.as_str() {
            "usage_usec" => c.usage.total = ns,
            "user_usec" => c.usage.user = ns,
            "system_usec" => c.usage.kernel = ns,
            "nr_periods" => c.throttling.periods = v,
            "nr_throttled" => c.throttling.throttled_periods = v,
            "throttled_usec" => c.throttling.throttled_time = ns,
            _ => {}
        }
    }
    Ok(())
}

fn cpuset_v1(d: &Dir<'_>, c: &mut CpuSet) -> Result<(), CgroupError> {
    c.cpus = d
        .read("cpuset.cpus")?
        .map(|s| parse_list(&s))
        .unwrap_or_default();
    c.mems = d
        .read("cpuset.mems")?
        .map(|s| parse_list(&s))
        .unwrap_or_default();
    c.cpu_exclusive = d.u64_or0("cpuset.cpu_exclusive")?;
    c.mem_hardwall = d.u64_or0("cpuset.mem_hardwall")?;
    c.mem_exclusive = d.u64_or0("cpuset.mem_exclusive")?;
    c.memory_migrate = d.u64_or0("cpuset.memory_migrate")?;
    c.memory_spread_page = d.u64_or0("cpuset.memory_spread_page")?;
    c.memory_spread_slab = d.u64_or0("cpuset.memory_spread_slab")?;
    c.memory_pressure = d.u64_or0("cpuset.memory_pressure")?;
    c.sched_load_balance = d.u64_or0("cpuset.sched_load_balance")?;
    c.sched_relax_domain_level = d
        .read("cpuset.sched_relax_domain_level")?
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Ok(())
}

/// `<prefix>.usage_in_bytes` and its siblings; all zero when the kernel lacks them.
fn memory_entry_v1(d: &Dir<'_>, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    let Some(usage) = d.u64(&format!("{prefix}.usage_in_bytes"))? else {
        return Ok(MemoryEntry::default());
    };
    Ok(MemoryEntry {
        limit: d.u64_or0(&format!("{prefix}.limit_in_bytes"))?,
        usage,
        max: d.u64_or0(&format!("{prefix}.max_usage_in_bytes"))?,
        failcnt: d.u64_or0(&format!("{prefix}.failcnt"))?,
    })
}

fn memory_v1(d: &Dir<'_>, m: &mut Memory) -> Result<(), CgroupError> {
    m.raw = d.keyed("memory.stat")?.into_iter().collect();
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = memory_entry_v1(d, "memory")?;
    m.swap = memory_entry_v1(d, "memory.memsw")?;
    m.kernel = memory_entry_v1(d, "memory.kmem")?;
    m.kernel_tcp = memory_entry_v1(d, "memory.kmem.tcp")?;
    Ok(())
}

fn memory_v2(d: &Dir<'_>, m: &mut Memory) -> Result<(), CgroupError> {
    m.raw = d.keyed("memory.stat")?.into_iter().collect();
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    if let Some(usage) = d.u64("memory.current")? {
        m.usage = MemoryEntry {
            limit: d.u64("memory.max")?.unwrap_or(u64::MAX),
            usage,
            max: d.u64_or0("memory.peak")?,
            failcnt: d.key("memory.events", "max")?,
        };
    }
    // v1 reports memory+swap; runc adds the memory figures for the same meaning
    if let Some(swap) = d.u64("memory.swap.current")? {
        let limit = d.u64("memory.swap.max")?.unwrap_or(u64::MAX);
        m.swap = MemoryEntry {
            limit: if limit == u64::MAX {
                u64::MAX
            } else {
                limit.saturating_add(m.usage.limit)
            },
            usage: swap.saturating_add(m.usage.usage),
            max: 0,
            failcnt: d.key("memory.swap.events", "max")?,
        };
    }
    Ok(())
}

fn pids(e: &Entry, p: &mut Pids) -> Result<(), CgroupError> {
    let d = Dir(&e.dir);
    if let Some(current) = d.u64("pids.current")? {
        p.current = current;
        p.limit = match d.u64("pids.max")? {
            Some(u64::MAX) | None => 0,
            Some(v) => v,
        };
    } else if e.h.v2 {
        // no pids controller: count the processes (as runc)
        if let Some(procs) = d.read("cgroup.procs")? {
            p.current = procs.lines().filter(|l| !l.trim().is_empty()).count() as u64;
        }
    }
    Ok(())
}

/// A v1 blkio file: `maj:min Op value` lines (or `maj:min value`), a final
/// `Total n` line skipped.
fn blkio_entries(d: &Dir<'_>, file: &str) -> Result<Vec<BlkioEntry>, CgroupError> {
    let Some(s) = d.read(file)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for l in s.lines() {
        let f: Vec<&str> = l.split([' ', ':']).filter(|f| !f.is_empty()).collect();
        let (major, minor, op, value) = match f[..] {
            [ma, mi, v] => (ma, mi, "", v),
            [ma, mi, op, v] => (ma, mi, op, v),
            _ => continue,
        };
        let (Ok(major), Ok(minor), Ok(value)) = (major.parse(), minor.parse(), value.parse())
        else {
            continue;
        };
        out.push(BlkioEntry {
            major,
            minor,
            op: op.to_string(),
            value,
        });
    }
    Ok(out)
}

fn blkio_v1(d: &Dir<'_>, b: &mut Blkio) -> Result<(), CgroupError> {
    type Field = fn(&mut Blkio) -> &mut Vec<BlkioEntry>;
    let serviced: Field = |b| &mut b.io_serviced_recursive;
    let bytes: Field = |b| &mut b.io_service_bytes_recursive;
    let sectors: Field = |b| &mut b.sectors_recursive;
    let service_time: Field = |b| &mut b.io_service_time_recursive;
    let wait_time: Field = |b| &mut b.io_wait_time_recursive;
    let merged: Field = |b| &mut b.io_merged_recursive;
    let queued: Field = |b| &mut b.io_queued_recursive;
    let time: Field = |b| &mut b.io_time_recursive;
    // runc's order: the first group whose first file has entries is reported
    let groups: [&[(&str, Field)]; 5] = [
        // BFQ with CONFIG_BFQ_CGROUP_DEBUG
        &[
            ("blkio.bfq.sectors_recursive", sectors),
            ("blkio.bfq.io_service_time_recursive", service_time),
            ("blkio.bfq.io_wait_time_recursive", wait_time),
            ("blkio.bfq.io_merged_recursive", merged),
            ("blkio.bfq.io_queued_recursive", queued),
            ("blkio.bfq.time_recursive", time),
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        // CFQ
        &[
            ("blkio.sectors_recursive", sectors),
            ("blkio.io_service_time_recursive", service_time),
            ("blkio.io_wait_time_recursive", wait_time),
            ("blkio.io_merged_recursive", merged),
            ("blkio.io_queued_recursive", queued),
            ("blkio.time_recursive", time),
            ("blkio.io_serviced_recursive", serviced),
            ("blkio.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced_recursive", serviced),
            ("blkio.throttle.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced", serviced),
            ("blkio.throttle.io_service_bytes", bytes),
        ],
    ];
    for group in groups {
        let first = blkio_entries(d, group[0].0)?;
        if first.is_empty() {
            continue;
        }
        *(group[0].1)(b) = first;
        for (file, field) in &group[1..] {
            *field(b) = blkio_entries(d, file)?;
        }
        return Ok(());
    }
    Ok(())
}

/// `io.stat`: `maj:min rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..`
/// lines; bytes and operations map to v1's tables with ops `Read`/`Write` (the
/// others have no v1 counterpart in runc's shape).
fn io_v2(d: &Dir<'_>, b: &mut Blkio) -> Result<(), CgroupError> {
    let Some(s) = d.read("io.stat")? else {
        return Ok(());
    };
    for l in s.lines() {
        let mut f = l.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (table, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            let Ok(value) = v.parse() else { continue };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    Ok(())
}

/// Page sizes with a `hugetlb.<size>.<suffix>` file in `dir` (reservation files
/// `hugetlb.<size>.rsvd.*` excluded).
fn hugetlb_sizes(dir: &Path, suffix: &str) -> Result<Vec<String>, CgroupError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if absent(&e) => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir, e)),
    };
    let mut out: Vec<String> = rd
        .flatten()
        .filter_map(|d| {
            let n = d.file_name().into_string().ok()?;
            let size = n.strip_prefix("hugetlb.")?.strip_suffix(suffix)?;
            (!size.is_empty() && !size.contains('.')).then(|| size.to_string())
        })
        .collect();
    out.sort();
    Ok(out)
}

fn hugetlb(e: &Entry, out: &mut BTreeMap<String, Hugetlb>) -> Result<(), CgroupError> {
    let d = Dir(&e.dir);
    if e.h.v2 {
        for size in hugetlb_sizes(&e.dir, ".current")? {
            let h = Hugetlb {
                usage: d.u64_or0(&format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: d.key(&format!("hugetlb.{size}.events"), "max")?,
            };
            out.insert(size, h);
        }
    } else {
        for size in hugetlb_sizes(&e.dir, ".usage_in_bytes")? {
            let h = Hugetlb {
                usage: d.u64_or0(&format!("hugetlb.{size}.usage_in_bytes"))?,
                max: d.u64_or0(&format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: d.u64_or0(&format!("hugetlb.{size}.failcnt"))?,
            };
            out.insert(size, h);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::mounts::Hierarchy;
    use crate::CgroupManager;

    /// A unified-layout manager over a fake cgroup2 mount in `root` (its cgroup is
    /// `<root>/c`).
    fn fake_v2(root: &Path, controllers: &[&str]) -> Manager {
        let h = Hierarchy {
            mount: root.to_path_buf(),
            root: PathBuf::from("/"),
            controllers: controllers.iter().map(ToString::to_string).collect(),
            v2: true,
        };
        Manager::new(
            CgroupSetup::Unified,
            vec![(h, PathBuf::from("c"))],
            false,
            false,
        )
    }

    fn write(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (f, v) in files {
            std::fs::write(dir.join(f), v).unwrap();
        }
    }

    #[test]
    fn empty_stats_serialise_as_runc_prints_them() {
        let s = serde_json::to_string(&Stats::default()).unwrap();
        assert_eq!(
            s,
            concat!(
                r#"{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},"#,
                r#""cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"#,
                r#""memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,"#,
                r#""memory_pressure":0,"sched_load_balance":0,"sched_relax_domain_level":0},"#,
                r#""memory":{"usage":{"limit":0,"failcnt":0},"swap":{"limit":0,"failcnt":0},"#,
                r#""kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}},"#,
                r#""pids":{},"blkio":{},"hugetlb":{},"intel_rdt":{},"network_interfaces":null}"#
            )
        );
        let back: Stats = serde_json::from_str(&s).unwrap();
        assert_eq!(back, Stats::default());
    }

    #[test]
    fn v2_files_are_parsed_into_runc_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        write(
            &dir,
            &[
                (
                    "cpu.stat",
                    "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnice_usec 0\n\
                     nr_periods 10\nnr_throttled 2\nthrottled_usec 7\nnr_bursts 0\nburst_usec 0\n",
                ),
                (
                    "memory.stat",
                    "anon 4096\nfile 8192\nkernel 100\nsock 0\npgfault 12\n",
                ),
                ("memory.current", "12288\n"),
                ("memory.max", "67108864\n"),
                ("memory.peak", "20480\n"),
                (
                    "memory.events",
                    "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
                ),
                ("memory.swap.current", "1000\n"),
                ("memory.swap.max", "4096\n"),
                ("memory.swap.events", "high 0\nmax 5\nfail 0\n"),
                ("pids.current", "2\n"),
                ("pids.max", "max\n"),
                (
                    "io.stat",
                    "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n\
                     253:1 rbytes=10 wbytes=20 rios=30 wios=40 dbytes=5 dios=6\n",
                ),
                ("hugetlb.2MB.current", "2097152\n"),
                ("hugetlb.2MB.max", "max\n"),
                ("hugetlb.2MB.events", "max 4\n"),
                ("hugetlb.2MB.rsvd.current", "0\n"),
                ("hugetlb.2MB.rsvd.max", "max\n"),
                ("hugetlb.1GB.current", "0\n"),
                ("hugetlb.1GB.events", "max 0\n"),
                ("cgroup.procs", "1\n2\n"),
            ],
        );
        let m = fake_v2(tmp.path(), &["cpu", "memory", "pids", "io", "hugetlb"]);
        let s = m.stats().unwrap();

        let e = |major, minor, op: &str, value| BlkioEntry {
            major,
            minor,
            op: op.into(),
            value,
        };
        let want = Stats {
            cpu: Cpu {
                usage: CpuUsage {
                    total: 1_500_000,
                    user: 1_000_000,
                    kernel: 500_000,
                    ..CpuUsage::default()
                },
                throttling: Throttling {
                    periods: 10,
                    throttled_periods: 2,
                    throttled_time: 7000,
                },
            },
            memory: Memory {
                cache: 8192,
                usage: MemoryEntry {
                    limit: 67_108_864,
                    usage: 12288,
                    max: 20480,
                    failcnt: 3,
                },
                swap: MemoryEntry {
                    limit: 67_108_864 + 4096,
                    usage: 12288 + 1000,
                    max: 0,
                    failcnt: 5,
                },
                raw: [
                    ("anon", 4096),
                    ("file", 8192),
                    ("kernel", 100),
                    ("sock", 0),
                    ("pgfault", 12),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
                ..Memory::default()
            },
            pids: Pids {
                current: 2,
                limit: 0,
            },
            blkio: Blkio {
                io_service_bytes_recursive: vec![
                    e(8, 0, "Read", 1),
                    e(8, 0, "Write", 2),
                    e(253, 1, "Read", 10),
                    e(253, 1, "Write", 20),
                ],
                io_serviced_recursive: vec![
                    e(8, 0, "Read", 3),
                    e(8, 0, "Write", 4),
                    e(253, 1, "Read", 30),
                    e(253, 1, "Write", 40),
                ],
                ..Blkio::default()
            },
            hugetlb: [
                (
                    "1GB".to_string(),
                    Hugetlb {
                        usage: 0,
                        max: 0,
                        failcnt: 0,
                    },
                ),
                (
                    "2MB".to_string(),
                    Hugetlb {
                        usage: 2_097_152,
                        max: 0,
                        failcnt: 4,
                    },
                ),
            ]
            .into_iter()
            .collect(),
            ..Stats::default()
        };
        assert_eq!(s, want);

        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["blkio"]["ioServiceBytesRecursive"][0],
            serde_json::json!({"major":8,"op":"Read","value":1})
        );
        assert_eq!(
            v["cpu"]["throttling"],
            serde_json::json!({"periods":10,"throttledPeriods":2,"throttledTime":7000})
        );
        assert_eq!(v["pids"], serde_json::json!({"current":2}));
        assert_eq!(v["hugetlb"]["1GB"], serde_json::json!({"failcnt":0}));
        assert_eq!(
            v["memory"]["kernelTCP"],
            serde_json::json!({"limit":0,"failcnt":0})
        );
        assert!(v["cpu"]["usage"].get("percpu").is_none());

        // "max" limits; no swap accounting; no pids controller: processes counted
        write(
            &dir,
            &[("memory.max", "max\n"), ("memory.swap.max", "max\n")],
        );
        std::fs::remove_file(dir.join("pids.current")).unwrap();
        let s = m.stats().unwrap();
        assert_eq!(s.memory.usage.limit, u64::MAX);
        assert_eq!(s.memory.swap.limit, u64::MAX);
        assert_eq!(s.pids.current, 2);
        for f in [
            "memory.swap.current",
            "memory.swap.max",
            "memory.swap.events",
        ] {
            std::fs::remove_file(dir.join(f)).unwrap();
        }
        assert_eq!(m.stats().unwrap().memory.swap, MemoryEntry::default());

        // a controller the host lacks leaves its fields empty
        let m = fake_v2(tmp.path(), &["cpu"]);
        let s = m.stats().unwrap();
        assert_eq!(s.memory, Memory::default());
        assert_eq!(s.blkio, Blkio::default());
        assert!(s.hugetlb.is_empty());
        assert_eq!(s.pids.current, 2, "cgroup.procs is a core file");
        assert_eq!(s.cpu.usage.total, 1_500_000);

        // the cgroup itself missing is an error naming it
        std::fs::remove_dir_all(&dir).unwrap();
        let e = m.stats().unwrap_err().to_string();
        assert!(e.contains(&dir.display().to_string()), "{e}");
        assert!(!m.frozen().unwrap());
    }

    #[test]
    fn v1_line_formats_are_parsed() {
        assert_eq!(parse_list("0-3,8\n"), vec![0, 1, 2, 3, 8]);
        assert_eq!(parse_list("\n"), Vec::<u16>::new());
        assert_eq!(parse_list("3-1"), Vec::<u16>::new());
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            &[
                (
                    "blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 4096\n8:0 Write 0\n8:0 Sync 4096\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 4096\nTotal 4096\n",
                ),
                (
                    "blkio.throttle.io_serviced_recursive",
                    "8:0 Read 1\n8:0 Total 1\nTotal 1\n",
                ),
                ("blkio.bfq.io_serviced_recursive", "Total 0\n"),
                ("cpuacct.usage_all", "cpu user system\n0 10 20\n1 30 40\n"),
                ("cpuacct.stat", "user 3\nsystem 1\n"),
                ("cpuacct.usage", "77\n"),
            ],
        );
        let d = Dir(tmp.path());
        let mut b = Blkio::default();
        blkio_v1(&d, &mut b).unwrap();
        assert_eq!(b.io_service_bytes_recursive.len(), 6);
        assert_eq!(
            b.io_service_bytes_recursive[0],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 4096
            }
        );
        assert_eq!(b.io_serviced_recursive.len(), 2);
        let mut u = CpuUsage::default();
        cpuacct_v1(&d, &mut u).unwrap();
        assert_eq!(u.total, 77);
        assert_eq!(u.percpu_user, vec![10, 30]);
        assert_eq!(u.percpu_kernel, vec![20, 40]);
        assert_eq!(u.user, ticks_to_ns(3));
        assert!(u.user > u.kernel && u.kernel > 0);
    }
}
