//! AppArmor profiles and SELinux labels for the container process.

use crate::error::{ContainerError, Result};

/// Whether AppArmor is enabled on this host.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim_start().starts_with('Y'))
        && std::path::Path::new("/sys/kernel/security/apparmor").exists()
}

/// Whether SELinux is enabled on this host.
pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Arrange for `profile` to apply at the next execve (`/proc/self/attr/apparmor/exec`).
pub fn apparmor_exec(profile: &str) -> Result<()> {
    let attr = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    std::fs::write(attr, format!("exec {profile}"))
        .map_err(|e| ContainerError::io("set AppArmor profile via", attr, e))
}

/// Arrange for `label` to apply at the next execve (`/proc/self/attr/exec`).
pub fn selinux_exec(label: &str) -> Result<()> {
    std::fs::write("/proc/self/attr/exec", label)
        .map_err(|e| ContainerError::io("set SELinux label via", "/proc/self/attr/exec", e))
}
