//! Writing the OCI `linux.resources` into the container's cgroup, each controller with
//! the semantics of the hierarchy it is on (v1 files or v2 files).
//!
//! Conventions, as runc: a `0` for a limit, reservation, shares, period or quota means
//! "not set" (Go's zero value in runc's configuration); `-1` means unlimited.

use std::os::fd::AsFd;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};

use crate::devices::Rule;
use crate::fs::{io_err, Entry, Manager};
use crate::{bpf, CgroupError};

pub(crate) fn set(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    memory(m, r)?;
    cpu(m, r)?;
    pids(m, r)?;
    blkio(m, r)?;
    hugetlb(m, r)?;
    network(m, r)?;
    rdma(m, r)?;
    devices(m, r)?;
    unified(m, r)
}

fn need<'a>(
    m: &'a Manager,
    controller: &'static str,
    field: &'static str,
) -> Result<&'a Entry, CgroupError> {
    m.entry_for(controller)
        .ok_or(CgroupError::NoController { field, controller })
}

fn errno(e: &CgroupError) -> Option<i32> {
    match e {
        CgroupError::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

fn nonzero<T: PartialEq + Default>(v: Option<T>) -> Option<T> {
    v.filter(|v| *v != T::default())
}

// ---------------------------------------------------------------------- memory

fn memory(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(mem) = r.memory() else {
        return Ok(());
    };
    #[allow(deprecated)]
    let kernel = mem.kernel();
    let requested = mem.limit().is_some()
        || mem.reservation().is_some()
        || mem.swap().is_some()
        || kernel.is_some()
        || mem.kernel_tcp().is_some()
        || mem.swappiness().is_some()
        || mem.disable_oom_killer() == Some(true)
        || mem.use_hierarchy().is_some();
    if !requested {
        return Ok(());
    }
    let e = need(m, "memory", "linux.resources.memory")?;
    if e.h.v2 {
        memory_v2(m, e, mem)
    } else {
        memory_v1(m, e, mem)
    }
}

fn memory_v1(m: &Manager, e: &Entry, mem: &LinuxMemory) -> Result<(), CgroupError> {
    const LIMIT: &str = "memory.limit_in_bytes";
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    let limit = nonzero(mem.limit());
    let mut swap = nonzero(mem.swap());
    let has_memsw = m.has_file(e, MEMSW);
    // unlimited memory and no swap value: unlimited swap too (runc)
    if limit == Some(-1) && swap.is_none() && has_memsw {
        swap = Some(-1);
    }
    if swap.is_some() && !has_memsw {
        if swap != Some(-1) {
            tracing::warn!(
                "linux.resources.memory.swap ignored: the kernel does no swap accounting (no {MEMSW})"
            );
        }
        swap = None;
    }
    let set_limit = |v: i64| m.write(e, LIMIT, &v.to_string());
    let set_swap = |v: i64| m.write(e, MEMSW, &v.to_string());
    // memsw may never be below the memory limit: raise memsw first when it grows
    // past the current limit, else lower the limit first (runc's order).
    match (limit, swap) {
        (Some(l), Some(s)) => {
            let cur: u64 = m.read(e, LIMIT)?.trim().parse().unwrap_or(u64::MAX);
            if s == -1 || u64::try_from(s).is_ok_and(|s| cur < s) {
                set_swap(s)?;
                set_limit(l)?;
            } else {
                set_limit(l)?;
                set_swap(s)?;
            }
        }
        (Some(l), None) => set_limit(l)?,
        (None, Some(s)) => set_swap(s)?,
        (None, None) => {}
    }
    if let Some(v) = nonzero(mem.reservation()) {
        m.write(e, "memory.soft_limit_in_bytes", &v.to_string())?;
    }
    #[allow(deprecated)]
    if let Some(v) = nonzero(mem.kernel()) {
        // deprecated since Linux 5.4; newer kernels refuse or ignore it (runc ignores
        // it altogether)
        match m.write_if_present(e, "memory.kmem.limit_in_bytes", &v.to_string()) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("linux.resources.memory.kernel ignored: not supported by the kernel")
            }
            Err(err) => tracing::warn!("linux.resources.memory.kernel ignored: {err}"),
        }
    }
    if let Some(v) = nonzero(mem.kernel_tcp()) {
        if !m.write_if_present(e, "memory.kmem.tcp.limit_in_bytes", &v.to_string())? {
            tracing::warn!("linux.resources.memory.kernelTCP ignored: not supported by the kernel");
        }
    }
    if let Some(v) = mem.swappiness() {
        m.write(e, "memory.swappiness", &v.to_string())?;
    }
    if let Some(v) = mem.disable_oom_killer() {
        m.write(e, "memory.oom_control", if v { "1" } else { "0" })?;
    }
    if let Some(v) = mem.use_hierarchy() {
        if let Err(err) = m.write_if_present(e, "memory.use_hierarchy", if v { "1" } else { "0" }) {
            tracing::warn!("linux.resources.memory.useHierarchy ignored: {err}");
        }
    }
    Ok(())
}

fn memory_v2(m: &Manager, e: &Entry, mem: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = nonzero(mem.limit());
    let swap = nonzero(mem.swap());
    if mem.check_before_update() == Some(true) {
        if let Some(l) = limit.filter(|l| *l > 0) {
            let usage: i64 = m.read(e, "memory.current")?.trim().parse().unwrap_or(0);
            if usage > l {
                return Err(CgroupError::Invalid {
                    field: "linux.resources.memory.limit".into(),
                    message: format!("{l} is below the current usage {usage} (checkBeforeUpdate)"),
                });
            }
        }
    }
    // OCI's swap is memory + swap; memory.swap.max is swap alone.
    let swap_max = match (swap, limit) {
        (None, Some(-1)) | (Some(-1), _) => Some("max".to_string()),
        (None, _) => None,
        (Some(s), Some(l)) if l > 0 => Some((s - l).to_string()),
        (Some(_), _) => {
            return Err(CgroupError::Invalid {
                field: "linux.resources.memory.swap".into(),
                message: "a swap limit needs memory.limit on cgroup v2 (swap counts memory + swap)"
                    .into(),
            })
        }
    };
    if let Some(s) = swap_max {
        match m.write(e, "memory.swap.max", &s) {
            // no swap accounting: "unlimited" or "none" need no file
            Err(err) if errno(&err) == Some(libc::ENOENT) && (s == "max" || s == "0") => {}
            other => other?,
        }
    }
    if let Some(l) = limit {
        m.write(e, "memory.max", &max_or(l))?;
    }
    if let Some(v) = nonzero(mem.reservation()) {
        m.write(e, "memory.low", &max_or(v))?;
    }
    #[allow(deprecated)]
    let kernel = nonzero(mem.kernel());
    if kernel.is_some() || nonzero(mem.kernel_tcp()).is_some() {
        tracing::warn!("linux.resources.memory.kernel/kernelTCP ignored: cgroup v2 has no kernel memory limits");
    }
    if mem.swappiness().is_some() {
        tracing::warn!(
            "linux.resources.memory.swappiness ignored: cgroup v2 has no per-cgroup swappiness"
        );
    }
    if mem.disable_oom_killer() == Some(true) {
        tracing::warn!("linux.resources.memory.disableOOMKiller ignored: cgroup v2 cannot disable the OOM killer");
    }
    Ok(())
}

// ------------------------------------------------------------------------- cpu

fn cpu(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(c) = r.cpu() else {
        return Ok(());
    };
    let cpus = c.cpus().as_deref().filter(|s| !s.trim().is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.trim().is_empty());
    if cpus.is_some() || mems.is_some() {
        let e = need(m, "cpuset", "linux.resources.cpu.cpus/mems")?;
        if let Some(v) = cpus {
            m.write(e, "cpuset.cpus", v.trim())?;
        }
        if let Some(v) = mems {
            m.write(e, "cpuset.mems", v.trim())?;
        }
    }
    let requested = nonzero(c.shares()).is_some()
        || nonzero(c.quota()).is_some()
        || nonzero(c.period()).is_some()
        || nonzero(c.realtime_runtime()).is_some()
        || nonzero(c.realtime_period()).is_some()
        || c.idle().is_some()
        || c.burst().is_some();
    if !requested {
        return Ok(());
    }
    let e = need(m, "cpu", "linux.resources.cpu")?;
    if e.h.v2 {
        cpu_v2(m, e, c)
    } else {
        cpu_v1(m, e, c)
    }
}

fn cpu_v1(m: &Manager, e: &Entry, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(v) = nonzero(c.shares()) {
        m.write(e, "cpu.shares", &v.to_string())?;
    }
    let quota = nonzero(c.quota());
    let mut pending_period = None;
    if let Some(p) = nonzero(c.period()) {
        match m.write(e, "cpu.cfs_period_us", &p.to_string()) {
            Ok(()) => {}
            // A period smaller than the current one can be refused (old quota / new
            // period above the parent's); it goes through after the new quota.
            Err(err) if errno(&err) == Some(libc::EINVAL) && quota.is_some() => {
                pending_period = Some(p);
            }
            Err(err) => return Err(err),
        }
    }
    if let Some(q) = quota {
        m.write(e, "cpu.cfs_quota_us", &q.to_string())?;
        if let Some(p) = pending_period {
            m.write(e, "cpu.cfs_period_us", &p.to_string())?;
        }
    }
    if let Some(b) = c.burst() {
        if !m.write_if_present(e, "cpu.cfs_burst_us", &b.to_string())? && b != 0 {
            tracing::warn!("linux.resources.cpu.burst ignored: not supported by the kernel");
        }
    }
    if let Some(v) = nonzero(c.realtime_period()) {
        m.write(e, "cpu.rt_period_us", &v.to_string())?;
    }
    if let Some(v) = nonzero(c.realtime_runtime()) {
        m.write(e, "cpu.rt_runtime_us", &v.to_string())?;
    }
    if let Some(v) = c.idle() {
        if !m.write_if_present(e, "cpu.idle", &v.to_string())? && v != 0 {
            tracing::warn!("linux.resources.cpu.idle ignored: not supported by the kernel");
        }
    }
    Ok(())
}

/// cgroup v1 cpu.shares (2..262144) → cgroup v2 cpu.weight (1..10000).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

fn cpu_v2(m: &Manager, e: &Entry, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(v) = c.idle() {
        if !m.write_if_present(e, "cpu.idle", &v.to_string())? && v != 0 {
            tracing::warn!("linux.resources.cpu.idle ignored: not supported by the kernel");
        }
    }
    if c.idle() != Some(1) {
        if let Some(s) = nonzero(c.shares()) {
            m.write(e, "cpu.weight", &shares_to_weight(s).to_string())?;
        }
    }
    let quota = nonzero(c.quota());
    let period = nonzero(c.period());
    if quota.is_some() || period.is_some() {
        let q = match quota {
            Some(q) => max_or(q),
            // only the period changes: keep the current quota
            None => m
                .read(e, "cpu.max")?
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_string(),
        };
        let v = match period {
            Some(p) => format!("{q} {p}"),
            None => q,
        };
        m.write(e, "cpu.max", &v)?;
    }
    if let Some(b) = c.burst() {
        if !m.write_if_present(e, "cpu.max.burst", &b.to_string())? && b != 0 {
            tracing::warn!("linux.resources.cpu.burst ignored: not supported by the kernel");
        }
    }
    if nonzero(c.realtime_runtime()).is_some() || nonzero(c.realtime_period()).is_some() {
        return Err(CgroupError::NoController {
            field: "linux.resources.cpu.realtimeRuntime/realtimePeriod",
            controller: "cpu (realtime, cgroup v1 only)",
        });
    }
    Ok(())
}

// ------------------------------------------------------------------------ pids

fn pids(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(p) = r.pids() else {
        return Ok(());
    };
    let e = need(m, "pids", "linux.resources.pids")?;
    // OCI: 0 or -1 is no limit
    let v = if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".into()
    };
    m.write(e, "pids.max", &v)
}

// ----------------------------------------------------------------------- blkio

fn blkio_requested(b: &LinuxBlockIo) -> bool {
    let any = |v: &Option<Vec<LinuxThrottleDevice>>| v.as_ref().is_some_and(|v| !v.is_empty());
    nonzero(b.weight()).is_some()
        || nonzero(b.leaf_weight()).is_some()
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || any(b.throttle_read_bps_device())
        || any(b.throttle_write_bps_device())
        || any(b.throttle_read_iops_device())
        || any(b.throttle_write_iops_device())
}

fn blkio(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(b) = r.block_io() else {
        return Ok(());
    };
    if !blkio_requested(b) {
        return Ok(());
    }
    if let Some(e) = m.entries.iter().find(|e| !e.h.v2 && e.h.has("blkio")) {
        return blkio_v1(m, e, b);
    }
    let e = need(m, "io", "linux.resources.blockIO")?;
    io_v2(m, e, b)
}

fn blkio_v1(m: &Manager, e: &Entry, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // CFQ's files, or BFQ's; a kernel with neither has no proportional weights
    let (weight, weight_device) =
        if m.has_file(e, "blkio.weight") || !m.has_file(e, "blkio.bfq.weight") {
            ("blkio.weight", "blkio.weight_device")
        } else {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        };
    let no_weights = |what: &str| {
        tracing::warn!("linux.resources.blockIO.{what} ignored: no proportional-weight I/O scheduler (CFQ/BFQ) in this kernel");
    };
    if let Some(w) = nonzero(b.weight()) {
        if !m.write_if_present(e, weight, &w.to_string())? {
            no_weights("weight");
        }
    }
    if let Some(w) = nonzero(b.leaf_weight()) {
        if !m.write_if_present(e, "blkio.leaf_weight", &w.to_string())? {
            no_weights("leafWeight");
        }
    }
    for d in b.weight_device().as_deref().unwrap_or(&[]) {
        if let Some(w) = d.weight() {
            let line = format!("{}:{} {w}", d.major(), d.minor());
            if !m.write_if_present(e, weight_device, &line)? {
                no_weights("weightDevice");
            }
        }
        if let Some(w) = d.leaf_weight() {
            let line = format!("{}:{} {w}", d.major(), d.minor());
            if !m.write_if_present(e, "blkio.leaf_weight_device", &line)? {
                no_weights("weightDevice.leafWeight");
            }
        }
    }
    for (file, list) in [
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
            m.write(
                e,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

/// cgroup v1 blkio.weight (10..1000) → cgroup v2 io.weight (1..10000).
pub(crate) fn blkio_weight_to_io(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

fn io_v2(m: &Manager, e: &Entry, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // BFQ takes the v1 scale as is; io.weight (the cost model) its own
    let bfq = m.has_file(e, "io.bfq.weight");
    let has_weight = bfq || m.has_file(e, "io.weight");
    let weight_line = |dev: Option<(i64, i64)>, w: u16| {
        let (file, v) = if bfq {
            ("io.bfq.weight", u64::from(w))
        } else {
            ("io.weight", blkio_weight_to_io(w))
        };
        let line = match dev {
            Some((ma, mi)) => format!("{ma}:{mi} {v}"),
            None => format!("default {v}"),
        };
        (file, line)
    };
    if let Some(w) = nonzero(b.weight()) {
        if has_weight {
            let (f, l) = weight_line(None, w);
            m.write(e, f, &l)?;
        } else {
            tracing::warn!("linux.resources.blockIO.weight ignored: no io.weight/io.bfq.weight (no weight-based I/O control in this kernel)");
        }
    }
    if nonzero(b.leaf_weight()).is_some() {
        tracing::warn!("linux.resources.blockIO.leafWeight ignored: not supported on cgroup v2");
    }
    for d in b.weight_device().as_deref().unwrap_or(&[]) {
        if let Some(w) = d.weight() {
            if has_weight {
                let (f, l) = weight_line(Some((d.major(), d.minor())), w);
                m.write(e, f, &l)?;
            } else {
                tracing::warn!("linux.resources.blockIO.weightDevice ignored: no weight-based I/O control in this kernel");
            }
        }
    }
    for (key, list) in [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ] {
        for d in list.as_deref().unwrap_or(&[]) {
            // v1 writes 0 to drop a limit; v2 spells it "max"
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            m.write(
                e,
                "io.max",
                &format!("{}:{} {key}={rate}", d.major(), d.minor()),
            )?;
        }
    }
    Ok(())
}

// --------------------------------------------------------------------- hugetlb

fn hugetlb(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    for (i, h) in r
        .hugepage_limits()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let e = need(m, "hugetlb", "linux.resources.hugepageLimits")?;
        let ps = h.page_size();
        let (file, rsvd, value) = if e.h.v2 {
            (
                format!("hugetlb.{ps}.max"),
                format!("hugetlb.{ps}.rsvd.max"),
                max_or(h.limit()),
            )
        } else {
            (
                format!("hugetlb.{ps}.limit_in_bytes"),
                format!("hugetlb.{ps}.rsvd.limit_in_bytes"),
                h.limit().max(-1).to_string(),
            )
        };
        if e.dir.exists() && !m.has_file(e, &file) {
            return Err(CgroupError::Invalid {
                field: format!("linux.resources.hugepageLimits[{i}].pageSize"),
                message: format!(
                    "{ps:?}: no {file} in {} (huge page sizes of this kernel: /sys/kernel/mm/hugepages)",
                    e.dir.display()
                ),
            });
        }
        m.write(e, &file, &value)?;
        // the reservation limit too, where the kernel has it (as runc)
        m.write_if_present(e, &rsvd, &value)?;
    }
    Ok(())
}

// --------------------------------------------------------------- network, rdma

fn network(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(n) = r.network() else {
        return Ok(());
    };
    // runc fails too when these controllers are not mounted: a limit asked for is
    // not silently dropped.
    if let Some(c) = nonzero(n.class_id()) {
        let e = need(m, "net_cls", "linux.resources.network.classID")?;
        m.write(e, "net_cls.classid", &c.to_string())?;
    }
    for p in n.priorities().as_deref().unwrap_or(&[]) {
        let e = need(m, "net_prio", "linux.resources.network.priorities")?;
        m.write(
            e,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}

fn rdma(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(map) = r.rdma() else {
        return Ok(());
    };
    let mut devs: Vec<_> = map.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, l) in devs {
        let e = need(m, "rdma", "linux.resources.rdma")?;
        let n = |v: Option<u32>| v.map_or("max".to_string(), |v| v.to_string());
        m.write(
            e,
            "rdma.max",
            &format!(
                "{dev} hca_handle={} hca_object={}",
                n(l.hca_handles()),
                n(l.hca_objects())
            ),
        )?;
    }
    Ok(())
}

// --------------------------------------------------------------------- devices

fn devices(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let rules = r.devices().as_deref().unwrap_or(&[]);
    if rules.is_empty() {
        return Ok(());
    }
    match devices_inner(m, rules) {
        // an unprivileged user can set neither v1 device lists nor BPF programs
        // (runc ignores device errors when rootless too)
        Err(e) if m.rootless => {
            tracing::warn!("rootless: device rules not applied: {e}");
            Ok(())
        }
        other => other,
    }
}

fn devices_inner(
    m: &Manager,
    rules: &[oci_spec::runtime::LinuxDeviceCgroup],
) -> Result<(), CgroupError> {
    if let Some(e) = m.entries.iter().find(|e| !e.h.v2 && e.h.has("devices")) {
        // The kernel applies each line in order, as the OCI rules mean: a leading
        // deny-all `a` resets the list to "deny everything".
        for rule in rules.iter().filter_map(Rule::from_oci) {
            let file = if rule.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            for line in rule.v1_lines() {
                m.write(e, file, &line)?;
            }
        }
        return Ok(());
    }
    if let Some(e) = m.unified() {
        let dir = std::fs::File::open(&e.dir).map_err(|err| io_err("open", &e.dir, err))?;
        let prog = bpf::load(&bpf::compile(rules))?;
        return bpf::install(prog.as_fd(), dir.as_fd());
    }
    Err(CgroupError::NoController {
        field: "linux.resources.devices",
        controller: "devices",
    })
}

// --------------------------------------------------------------------- unified

fn unified(m: &Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(map) = r.unified() else {
        return Ok(());
    };
    if map.is_empty() {
        return Ok(());
    }
    let e = m.unified().ok_or(CgroupError::NoController {
        field: "linux.resources.unified",
        controller: "cgroup2",
    })?;
    let mut keys: Vec<_> = map.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in keys {
        if e.dir.exists() && !m.has_file(e, k) {
            return Err(CgroupError::Invalid {
                field: format!("linux.resources.unified.{k}"),
                message: format!(
                    "no such file in {} (is its controller available and enabled?)",
                    e.dir.display()
                ),
            });
        }
        m.write(e, k, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1 << 40), 10_000);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(500), 4950);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
    }
}
