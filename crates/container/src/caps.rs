//! Linux capabilities of the container process (all five sets).

use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{ContainerError, Result};

/// Capability names in kernel numbering order (`include/uapi/linux/capability.h`).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Highest capability the running kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Bit mask of a capability set (capabilities the kernel lacks are ignored, as runc).
pub fn mask(set: Option<&Capabilities>) -> u64 {
    let last = last_cap();
    let mut m = 0u64;
    for cap in set.into_iter().flatten() {
        let name = serde_json::to_value(cap).ok();
        let Some(name) = name.as_ref().and_then(|v| v.as_str()) else {
            continue;
        };
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            let i = u32::try_from(i).expect("41 entries");
            if i <= last {
                m |= 1 << i;
            }
        }
    }
    m
}

/// Drop from the bounding set every capability not in `caps.bounding`.
pub fn drop_bounding(caps: &LinuxCapabilities) -> Result<()> {
    let keep = mask(caps.bounding().as_ref());
    for i in 0..=last_cap() {
        if keep & (1 << i) == 0 {
            caisson_sys::capbset_drop(i)?;
        }
    }
    Ok(())
}

/// Set effective/permitted/inheritable, then the ambient set.
pub fn apply_sets(caps: &LinuxCapabilities) -> Result<()> {
    caisson_sys::capset(caisson_sys::CapSets {
        effective: mask(caps.effective().as_ref()),
        permitted: mask(caps.permitted().as_ref()),
        inheritable: mask(caps.inheritable().as_ref()),
    })
    .map_err(|e| ContainerError::Unsupported(format!("process.capabilities: {e}")))?;
    let ambient = mask(caps.ambient().as_ref());
    caisson_sys::cap_ambient_clear_all()?;
    for i in 0..=last_cap() {
        if ambient & (1 << i) != 0 {
            // Raising fails if the cap is not in both permitted and inheritable; runc
            // ignores that (ambient caps are best-effort), and so do we.
            let _ = caisson_sys::cap_ambient_raise(i);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_kernel_numbering() {
        let set: Capabilities =
            serde_json::from_str(r#"["CAP_CHOWN","CAP_NET_BIND_SERVICE","CAP_SYS_ADMIN"]"#)
                .unwrap();
        assert_eq!(mask(Some(&set)), 1 | 1 << 10 | 1 << 21);
        assert_eq!(mask(None), 0);
    }
}
