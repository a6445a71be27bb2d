//! Loading and validating an OCI bundle's `config.json`.
//!
//! Everything that can be checked without touching the host is checked here, before
//! the runtime creates any state, cgroup, mount or process, so that bad input fails
//! with a message naming the field and leaves nothing behind.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{ContainerError, Result};

/// A parsed bundle: the spec, the raw bytes (kept in the state dir so later changes
/// to the bundle cannot affect the container), and the absolute rootfs path.
#[derive(Debug)]
pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// The parsed spec.
    pub spec: Spec,
    /// config.json exactly as read.
    pub raw: Vec<u8>,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
}

/// Parse config.json bytes; errors carry the JSON path of the offending field.
///
/// Capability names the kernel interface does not know (e.g. a name newer than this
/// runtime) are dropped with a warning, as runc and crun do: clients pass the same
/// capability lists to every runtime, and dropping a capability only ever takes
/// privilege away.
pub fn parse_spec(path: &Path, raw: &[u8]) -> Result<Spec> {
    let syntax = |e: serde_json::Error| ContainerError::ParseConfig {
        path: path.to_path_buf(),
        field: "(document)".into(),
        message: e.to_string(),
    };
    let mut value: serde_json::Value = serde_json::from_slice(raw).map_err(syntax)?;
    drop_unknown_capabilities(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        ContainerError::ParseConfig {
            path: path.to_path_buf(),
            field: if field == "." {
                "(document)".into()
            } else {
                field
            },
            message: e.into_inner().to_string(),
        }
    })
}

fn drop_unknown_capabilities(v: &mut serde_json::Value) {
    let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return;
    };
    for (set, list) in caps.iter_mut() {
        if let Some(list) = list.as_array_mut() {
            list.retain(|c| {
                let known = c.as_str().is_some_and(|n| crate::caps::NAMES.contains(&n));
                if !known {
                    tracing::warn!("process.capabilities.{set}: ignoring unknown capability {c}");
                }
                known
            });
        }
    }
}

/// Read and parse `<bundle>/config.json`, then validate it.
pub fn load_bundle(bundle: &Path) -> Result<Bundle> {
    let dir =
        std::path::absolute(bundle).map_err(|e| ContainerError::io("resolve bundle", bundle, e))?;
    let path = dir.join("config.json");
    let raw = std::fs::read(&path).map_err(|source| ContainerError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    let spec = parse_spec(&path, &raw)?;
    let root = spec.root().as_ref().ok_or_else(|| {
        ContainerError::config("root", "missing (the container needs a root filesystem)")
    })?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        dir.join(root.path())
    };
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(ContainerError::config(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ))
        }
        Err(e) => {
            return Err(ContainerError::config(
                "root.path",
                format!("{}: {e}", rootfs.display()),
            ))
        }
    }
    validate(&spec)?;
    Ok(Bundle {
        dir,
        spec,
        raw,
        rootfs,
    })
}

/// Whether `ns` is requested *new* (no path) in the spec.
pub fn has_new_ns(spec: &Spec, ns: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|n| n.typ() == ns && n.path().is_none())
}

/// Whether `ns` is requested at all (new or joined).
pub fn has_ns(spec: &Spec, ns: LinuxNamespaceType) -> bool {
    namespaces(spec).iter().any(|n| n.typ() == ns)
}

fn namespaces(spec: &Spec) -> &[oci_spec::runtime::LinuxNamespace] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
}

/// Lexically normalise an absolute in-container path; `None` if `..` climbs above `/`.
pub fn normalize_in_root(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Namespaced sysctls (as runc allows them): which namespace each prefix needs.
fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return Some(LinuxNamespaceType::Ipc);
    }
    if key.starts_with("net.") {
        return Some(LinuxNamespaceType::Network);
    }
    if key == "kernel.domainname" || key == "kernel.hostname" {
        return Some(LinuxNamespaceType::Uts);
    }
    None
}

/// Host-independent validation of a spec.
pub fn validate(spec: &Spec) -> Result<()> {
    let process = spec.process().as_ref();
    if let Some(p) = process {
        validate_process(p, "process")?;
    }
    for (i, m) in spec.mounts().as_deref().unwrap_or(&[]).iter().enumerate() {
        let dest = m.destination();
        if dest.as_os_str().is_empty() {
            return Err(ContainerError::config(
                format!("mounts[{i}].destination"),
                "must not be empty",
            ));
        }
        if normalize_in_root(&Path::new("/").join(dest)).is_none() {
            return Err(ContainerError::config(
                format!("mounts[{i}].destination"),
                format!("{} escapes the container root", dest.display()),
            ));
        }
        let bind = m
            .options()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .any(|o| o == "bind" || o == "rbind")
            || m.typ().as_deref() == Some("bind");
        if bind && m.source().is_none() {
            return Err(ContainerError::config(
                format!("mounts[{i}].source"),
                "a bind mount needs a source",
            ));
        }
    }
    if let Some(hooks) = spec.hooks() {
        #[allow(deprecated)]
        let all = [
            ("hooks.prestart", hooks.prestart()),
            ("hooks.createRuntime", hooks.create_runtime()),
            ("hooks.createContainer", hooks.create_container()),
            ("hooks.startContainer", hooks.start_container()),
            ("hooks.poststart", hooks.poststart()),
            ("hooks.poststop", hooks.poststop()),
        ];
        for (name, list) in all {
            for (i, h) in list.as_deref().unwrap_or(&[]).iter().enumerate() {
                if !h.path().is_absolute() {
                    return Err(ContainerError::config(
                        format!("{name}[{i}].path"),
                        format!("{} is not absolute", h.path().display()),
                    ));
                }
                if matches!(h.timeout(), Some(t) if t <= 0) {
                    return Err(ContainerError::config(
                        format!("{name}[{i}].timeout"),
                        "must be positive",
                    ));
                }
            }
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for (i, ns) in linux
        .namespaces()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        if !seen.insert(ns.typ()) {
            return Err(ContainerError::config(
                format!("linux.namespaces[{i}].type"),
                format!("namespace {:?} is listed twice", ns.typ()),
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(ContainerError::config(
                    format!("linux.namespaces[{i}].path"),
                    format!("{} is not absolute", p.display()),
                ));
            }
        }
    }
    let new_user = has_new_ns(spec, LinuxNamespaceType::User);
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_user && !maps {
        return Err(ContainerError::config(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if maps && !has_ns(spec, LinuxNamespaceType::User) {
        return Err(ContainerError::config(
            "linux.uidMappings",
            "id mappings are given but no user namespace is requested",
        ));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !has_ns(spec, LinuxNamespaceType::Uts)
    {
        return Err(ContainerError::config(
            "hostname",
            "setting the hostname needs a uts namespace of the container's own",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty())
        && !has_ns(spec, LinuxNamespaceType::Uts)
    {
        return Err(ContainerError::config(
            "domainname",
            "setting the domainname needs a uts namespace of the container's own",
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !has_new_ns(spec, LinuxNamespaceType::Time)
    {
        return Err(ContainerError::config(
            "linux.timeOffsets",
            "time offsets need a new time namespace",
        ));
    }
    for (key, _) in linux.sysctl().as_ref().into_iter().flatten() {
        match sysctl_namespace(key) {
            Some(ns) if has_ns(spec, ns) => {}
            Some(ns) => {
                return Err(ContainerError::config(
                    format!("linux.sysctl.{key}"),
                    format!("needs a {ns:?} namespace of the container's own"),
                ))
            }
            None => {
                return Err(ContainerError::config(
                    format!("linux.sysctl.{key}"),
                    "not a namespaced sysctl: it would change the host",
                ))
            }
        }
    }
    if let Some(p) = linux.rootfs_propagation() {
        if crate::rootfs::propagation_flag(p).is_none() {
            return Err(ContainerError::config(
                "linux.rootfsPropagation",
                format!("unknown propagation {p:?}"),
            ));
        }
    }
    for (field, list) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in list.as_deref().unwrap_or(&[]).iter().enumerate() {
            if !p.starts_with('/') {
                return Err(ContainerError::config(
                    format!("{field}[{i}]"),
                    format!("{p} is not absolute"),
                ));
            }
        }
    }
    for (i, d) in linux.devices().as_deref().unwrap_or(&[]).iter().enumerate() {
        if !d.path().is_absolute()
            || normalize_in_root(d.path()).is_none_or(|n| !n.starts_with("/dev"))
        {
            return Err(ContainerError::config(
                format!("linux.devices[{i}].path"),
                format!("{} must be an absolute path under /dev", d.path().display()),
            ));
        }
    }
    if let Some(r) = linux.resources() {
        caisson_cgroups::validate_resources(r)?;
    }
    // linux.seccomp is compiled (once) by `create` itself, still before anything is
    // created on the host.
    Ok(())
}

/// Validate a process section (of config.json, or of `exec --process`).
pub fn validate_process(p: &oci_spec::runtime::Process, field: &str) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(ContainerError::config(
            format!("{field}.args"),
            "must name the program to run",
        ));
    }
    if !p.cwd().is_absolute() {
        return Err(ContainerError::config(
            format!("{field}.cwd"),
            format!("{} is not absolute", p.cwd().display()),
        ));
    }
    let mut seen = HashSet::new();
    for (i, r) in p.rlimits().as_deref().unwrap_or(&[]).iter().enumerate() {
        if !seen.insert(format!("{:?}", r.typ())) {
            return Err(ContainerError::config(
                format!("{field}.rlimits[{i}].type"),
                format!("{:?} is set twice", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(ContainerError::config(
                format!("{field}.rlimits[{i}]"),
                "soft limit is above the hard limit",
            ));
        }
    }
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if !crate::lsm::apparmor_enabled() {
            return Err(ContainerError::config(
                format!("{field}.apparmorProfile"),
                format!("profile {profile:?} requested but AppArmor is not enabled on this host"),
            ));
        }
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        if !crate::lsm::selinux_enabled() {
            return Err(ContainerError::config(
                format!("{field}.selinuxLabel"),
                format!("label {label:?} requested but SELinux is not enabled on this host"),
            ));
        }
    }
    for (i, e) in p.env().as_deref().unwrap_or(&[]).iter().enumerate() {
        if !e.contains('=') || e.starts_with('=') {
            return Err(ContainerError::config(
                format!("{field}.env[{i}]"),
                format!("{e:?} is not of the form KEY=VALUE"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_from(json: &str) -> Result<Spec> {
        parse_spec(Path::new("config.json"), json.as_bytes())
    }

    #[test]
    fn unknown_namespace_type_names_the_field() {
        let err = spec_from(
            r#"{"ociVersion":"1.2.0","linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("linux.namespaces[1].type"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn unknown_capabilities_are_dropped_known_kept() {
        let spec = spec_from(
            r#"{"ociVersion":"1.2.0","process":{"cwd":"/","user":{"uid":0,"gid":0},"args":["sh"],
               "capabilities":{"bounding":["CAP_KILL","CAP_TEST"],"effective":["CAP_FUTURE_THING"]}}}"#,
        )
        .unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        assert!(caps.effective().as_ref().unwrap().is_empty());
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = spec_from(
            r#"{"ociVersion":"1.2.0","process":{"cwd":"/","user":{"uid":"zero","gid":0}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("process.user.uid"), "{err}");
    }

    #[test]
    fn bad_json_is_reported_with_position() {
        let err = spec_from(r#"{"ociVersion": "1.2.0", "#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.json"), "{err}");
        assert!(err.contains("EOF"), "{err}");
    }

    #[test]
    fn escaping_mount_destination_is_refused() {
        let spec = spec_from(
            r#"{"ociVersion":"1.2.0","mounts":[{"destination":"/proc","type":"proc"},{"destination":"/../../etc","type":"tmpfs"}]}"#,
        )
        .unwrap();
        let err = validate(&spec).unwrap_err().to_string();
        assert!(err.contains("mounts[1].destination"), "{err}");
        assert!(err.contains("escapes"), "{err}");
    }

    #[test]
    fn normalize_keeps_inside() {
        assert_eq!(
            normalize_in_root(Path::new("/a/../b/./c")),
            Some(PathBuf::from("/b/c"))
        );
        assert_eq!(normalize_in_root(Path::new("/a/../../b")), None);
    }

    #[test]
    fn hostname_needs_uts_namespace() {
        let spec = spec_from(
            r#"{"ociVersion":"1.2.0","hostname":"x","linux":{"namespaces":[{"type":"mount"}]}}"#,
        )
        .unwrap();
        let err = validate(&spec).unwrap_err().to_string();
        assert!(err.starts_with("invalid config: hostname"), "{err}");
    }

    #[test]
    fn host_sysctl_is_refused() {
        let spec = spec_from(
            r#"{"ociVersion":"1.2.0","linux":{"sysctl":{"vm.swappiness":"1"},"namespaces":[{"type":"mount"}]}}"#,
        )
        .unwrap();
        let err = validate(&spec).unwrap_err().to_string();
        assert!(err.contains("linux.sysctl.vm.swappiness"), "{err}");
    }
}
