//! Checks of `linux.resources` that need no host: run at `create` before anything
//! exists, and again by every `set`.

use oci_spec::runtime::{LinuxDeviceType, LinuxResources};

use crate::devices::MAX_RULES;
use crate::CgroupError;

fn bad<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, CgroupError> {
    Err(CgroupError::Invalid {
        field: field.into(),
        message: message.into(),
    })
}

/// A cpuset list: `0-3,8,10-11` (empty is allowed: "not set").
fn valid_cpu_list(s: &str) -> bool {
    let s = s.trim();
    s.is_empty()
        || s.split(',').all(|part| {
            let mut it = part.splitn(2, '-');
            let num = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u32>().ok());
            match (num(it.next()), it.next()) {
                (Some(_), None) => true,
                (Some(a), Some(b)) => num(Some(b)).is_some_and(|b| a <= b),
                _ => false,
            }
        })
}

/// A hugetlb page size as the kernel names its files: `2MB`, `1GB`, `64KB`.
fn valid_page_size(s: &str) -> bool {
    let Some(num) = s
        .strip_suffix("KB")
        .or_else(|| s.strip_suffix("MB"))
        .or_else(|| s.strip_suffix("GB"))
    else {
        return false;
    };
    !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit())
}

/// Validate resources without touching the host. Errors name the field
/// (`linux.resources.memory.swap: ...`).
pub fn validate_resources(r: &LinuxResources) -> Result<(), CgroupError> {
    let devices = r.devices().as_deref().unwrap_or(&[]);
    if devices.len() > MAX_RULES {
        return bad(
            "linux.resources.devices",
            format!("{} rules: at most {MAX_RULES}", devices.len()),
        );
    }
    for (i, d) in devices.iter().enumerate() {
        if let Some(t @ (LinuxDeviceType::U | LinuxDeviceType::P)) = d.typ() {
            return bad(
                format!("linux.resources.devices[{i}].type"),
                format!("{:?} is not a cgroup device type (a, b or c)", t.as_str()),
            );
        }
        if let Some(a) = d.access() {
            if a.chars().any(|c| !"rwm".contains(c)) {
                return bad(
                    format!("linux.resources.devices[{i}].access"),
                    format!("{a:?}: only r, w and m are allowed"),
                );
            }
        }
        for (name, v) in [("major", d.major()), ("minor", d.minor())] {
            if let Some(v) = v {
                if v < -1 || v > i64::from(u32::MAX) {
                    return bad(
                        format!("linux.resources.devices[{i}].{name}"),
                        format!("{v}: must be -1 (any) or a device number"),
                    );
                }
            }
        }
    }
    if let Some(m) = r.memory() {
        #[allow(deprecated)]
        let kernel = m.kernel();
        for (name, v) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
            ("kernel", kernel),
            ("kernelTCP", m.kernel_tcp()),
        ] {
            if let Some(v) = v.filter(|v| *v < -1) {
                return bad(
                    format!("linux.resources.memory.{name}"),
                    format!("{v}: must be -1 (unlimited) or a number of bytes"),
                );
            }
        }
        if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
            if l > 0 && s > 0 && s < l {
                return bad(
                    "linux.resources.memory.swap",
                    format!("{s} is below memory.limit {l} (swap counts memory + swap)"),
                );
            }
        }
        if let Some(v) = m.swappiness().filter(|v| *v > 100) {
            return bad(
                "linux.resources.memory.swappiness",
                format!("{v}: must be 0..100"),
            );
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s > 262_144) {
            return bad(
                "linux.resources.cpu.shares",
                format!("{s}: must be 2..262144"),
            );
        }
        if let Some(q) = c.quota().filter(|q| *q != 0 && *q != -1 && *q < 1000) {
            return bad(
                "linux.resources.cpu.quota",
                format!("{q}: must be -1 (unlimited) or at least 1000 (µs)"),
            );
        }
        if let Some(p) = c
            .period()
            .filter(|p| *p != 0 && !(1000..=1_000_000).contains(p))
        {
            return bad(
                "linux.resources.cpu.period",
                format!("{p}: must be 1000..1000000 (µs)"),
            );
        }
        if let (Some(q), Some(p)) = (c.quota(), c.period()) {
            if q > 0 && p == 0 {
                return bad(
                    "linux.resources.cpu.period",
                    "0 with a quota set: the quota is per period",
                );
            }
        }
        if let Some(rt) = c.realtime_runtime().filter(|v| *v < -1) {
            return bad(
                "linux.resources.cpu.realtimeRuntime",
                format!("{rt}: must be -1 (unlimited) or µs"),
            );
        }
        if let (Some(rt), Some(p)) = (c.realtime_runtime(), c.realtime_period()) {
            if rt > 0 && p > 0 && u64::try_from(rt).is_ok_and(|rt| rt > p) {
                return bad(
                    "linux.resources.cpu.realtimeRuntime",
                    format!("{rt} exceeds realtimePeriod {p}"),
                );
            }
        }
        if let Some(i) = c.idle().filter(|i| !(0..=1).contains(i)) {
            return bad("linux.resources.cpu.idle", format!("{i}: must be 0 or 1"));
        }
        for (name, v) in [("cpus", c.cpus()), ("mems", c.mems())] {
            if let Some(v) = v.as_deref().filter(|v| !valid_cpu_list(v)) {
                return bad(
                    format!("linux.resources.cpu.{name}"),
                    format!("{v:?}: must be a list like \"0-3,8\""),
                );
            }
        }
    }
    if let Some(b) = r.block_io() {
        let weight = |field: String, w: Option<u16>| match w {
            Some(w) if w != 0 && !(10..=1000).contains(&w) => {
                bad(field, format!("{w}: must be 10..1000"))
            }
            _ => Ok(()),
        };
        weight("linux.resources.blockIO.weight".into(), b.weight())?;
        weight("linux.resources.blockIO.leafWeight".into(), b.leaf_weight())?;
        let device = |field: String, major: i64, minor: i64| {
            if major < 0 || minor < 0 {
                bad(field, format!("{major}:{minor}: must name one device"))
            } else {
                Ok(())
            }
        };
        for (i, d) in b
            .weight_device()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let f = format!("linux.resources.blockIO.weightDevice[{i}]");
            device(f.clone(), d.major(), d.minor())?;
            weight(format!("{f}.weight"), d.weight())?;
            weight(format!("{f}.leafWeight"), d.leaf_weight())?;
        }
        for (name, list) in [
            ("throttleReadBpsDevice", b.throttle_read_bps_device()),
            ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
            ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
            ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
        ] {
            for (i, d) in list.as_deref().unwrap_or(&[]).iter().enumerate() {
                device(
                    format!("linux.resources.blockIO.{name}[{i}]"),
                    d.major(),
                    d.minor(),
                )?;
            }
        }
    }
    for (i, h) in r
        .hugepage_limits()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        if !valid_page_size(h.page_size()) {
            return bad(
                format!("linux.resources.hugepageLimits[{i}].pageSize"),
                format!("{:?}: must be like \"2MB\" or \"1GB\"", h.page_size()),
            );
        }
        if h.limit() < -1 {
            return bad(
                format!("linux.resources.hugepageLimits[{i}].limit"),
                format!("{}: must be -1 (unlimited) or bytes", h.limit()),
            );
        }
    }
    if let Some(n) = r.network() {
        for (i, p) in n.priorities().as_deref().unwrap_or(&[]).iter().enumerate() {
            if p.name().is_empty() || p.name().contains(char::is_whitespace) {
                return bad(
                    format!("linux.resources.network.priorities[{i}].name"),
                    format!("{:?}: must be an interface name", p.name()),
                );
            }
        }
    }
    for dev in r.rdma().as_ref().into_iter().flat_map(|m| m.keys()) {
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return bad(
                "linux.resources.rdma",
                format!("{dev:?}: must be a device name"),
            );
        }
    }
    for k in r.unified().as_ref().into_iter().flat_map(|m| m.keys()) {
        let field = format!("linux.resources.unified.{k}");
        if k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return bad(field, "must be a cgroup2 file name like \"memory.high\"");
        }
        if matches!(k.as_str(), "cgroup.procs" | "cgroup.threads") {
            return bad(
                field,
                "processes are placed by the runtime, not through resources",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<(), String> {
        let r: LinuxResources = serde_json::from_str(json).unwrap();
        validate_resources(&r).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_a_full_valid_set() {
        check(
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},{"allow":true,"type":"b","major":8,"minor":-1,"access":"m"}],
                "memory":{"limit":1048576,"swap":2097152,"reservation":-1,"swappiness":10},
                "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0-1,3","mems":"0","idle":0,"realtimeRuntime":500,"realtimePeriod":1000},
                "pids":{"limit":-1},
                "blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":10}],"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":100}]},
                "hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
                "network":{"classID":1,"priorities":[{"name":"eth0","priority":5}]},
                "unified":{"memory.high":"max"}}"#,
        )
        .unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        for (json, field) in [
            (
                r#"{"devices":[{"allow":true,"type":"u"}]}"#,
                "linux.resources.devices[0].type",
            ),
            (
                r#"{"devices":[{"allow":true,"type":"p"}]}"#,
                "linux.resources.devices[0].type",
            ),
            (
                r#"{"devices":[{"allow":true,"access":"rx"}]}"#,
                "linux.resources.devices[0].access",
            ),
            (
                r#"{"devices":[{"allow":true,"major":-2}]}"#,
                "linux.resources.devices[0].major",
            ),
            (r#"{"memory":{"limit":-2}}"#, "linux.resources.memory.limit"),
            (
                r#"{"memory":{"limit":2000000,"swap":1000000}}"#,
                "linux.resources.memory.swap",
            ),
            (
                r#"{"memory":{"swappiness":101}}"#,
                "linux.resources.memory.swappiness",
            ),
            (r#"{"cpu":{"shares":262145}}"#, "linux.resources.cpu.shares"),
            (r#"{"cpu":{"quota":999}}"#, "linux.resources.cpu.quota"),
            (r#"{"cpu":{"period":999}}"#, "linux.resources.cpu.period"),
            (
                r#"{"cpu":{"realtimeRuntime":2000,"realtimePeriod":1000}}"#,
                "linux.resources.cpu.realtimeRuntime",
            ),
            (r#"{"cpu":{"cpus":"0-a"}}"#, "linux.resources.cpu.cpus"),
            (r#"{"cpu":{"mems":"3-1"}}"#, "linux.resources.cpu.mems"),
            (
                r#"{"blockIO":{"weight":5}}"#,
                "linux.resources.blockIO.weight",
            ),
            (
                r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":2000}]}}"#,
                "linux.resources.blockIO.weightDevice[0].weight",
            ),
            (
                r#"{"blockIO":{"throttleWriteIOPSDevice":[{"major":-1,"minor":0,"rate":1}]}}"#,
                "linux.resources.blockIO.throttleWriteIOPSDevice[0]",
            ),
            (
                r#"{"hugepageLimits":[{"pageSize":"2M","limit":1}]}"#,
                "linux.resources.hugepageLimits[0].pageSize",
            ),
            (
                r#"{"hugepageLimits":[{"pageSize":"../x/2MB","limit":1}]}"#,
                "linux.resources.hugepageLimits[0].pageSize",
            ),
            (
                r#"{"unified":{"../memory.max":"1"}}"#,
                "linux.resources.unified.../memory.max",
            ),
            (
                r#"{"unified":{"cgroup.procs":"1"}}"#,
                "linux.resources.unified.cgroup.procs",
            ),
        ] {
            let e = check(json).expect_err(json);
            assert!(
                e.starts_with(&format!("invalid config: {field}: ")),
                "{json}: {e}"
            );
        }
    }
}
