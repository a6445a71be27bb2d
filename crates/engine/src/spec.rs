//! The OCI config of an engine container: the image's config (Entrypoint, Cmd, Env,
//! WorkingDir, User, Volumes) under Caisson's hardened defaults, with the reason for
//! each choice recorded for `caisson run --explain`.

use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use serde_json::{json, Value};

use crate::EngineError;

/// What `caisson run`/`create` asks for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Image reference as given.
    pub image: String,
    /// Command (replaces the image's Cmd; with `entrypoint`, the Entrypoint too).
    pub command: Vec<String>,
    /// `--entrypoint`.
    pub entrypoint: Option<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `-e KEY=VALUE` (or `KEY` to copy from our environment).
    pub env: Vec<String>,
    /// `-v SRC:DST[:ro]`.
    pub volumes: Vec<String>,
    /// `-p [IP:][HOSTPORT:]PORT[/tcp]`.
    pub publish: Vec<String>,
    /// `-P`: publish every port the image exposes on a free host port.
    pub publish_all: bool,
    /// `--userns` (`host` or `auto[:size=N]`).
    pub userns: Option<String>,
    /// `--log-opt max-size` in bytes.
    pub log_max_size: Option<u64>,
    /// `--log-opt max-file`.
    pub log_max_files: Option<u32>,
    /// `--user`.
    pub user: Option<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--memory` in bytes.
    pub memory: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--security-opt` values.
    pub security_opt: Vec<String>,
    /// `--network` (none, host).
    pub network: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `--rm`.
    pub rm: bool,
    /// `--privileged` (refused: Caisson never runs privileged containers).
    pub privileged: bool,
}

/// Capabilities kept by default: Docker's default set minus NET_RAW (raw sockets,
/// ARP/ICMP spoofing), MKNOD (no device nodes), AUDIT_WRITE, SETFCAP (no file caps
/// planted for later) and SYS_CHROOT.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
];

/// Default pids limit (fork bombs).
pub const DEFAULT_PIDS: i64 = 2048;
/// Default memory limit: 2 GiB.
pub const DEFAULT_MEMORY: i64 = 2 << 30;

const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/kernel/security",
];

const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// A published port: connections to `host_ip:host_port` are relayed to
/// `127.0.0.1:container_port` inside the container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMap {
    /// Host address to listen on.
    pub host_ip: String,
    /// Host port (0: the monitor picks a free one and records it).
    pub host_port: u16,
    /// Port inside the container.
    pub container_port: u16,
}

/// A volume the container uses: a directory under `<root>/volumes/<name>/_data`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VolumeUse {
    /// Volume name (64 hex for anonymous ones, from the image's `Volumes`).
    pub name: String,
    /// Path in the container.
    pub destination: String,
    /// Anonymous: removed with the container.
    pub anonymous: bool,
    /// Read-only.
    pub read_only: bool,
}

/// Parse one `-p` value.
pub fn parse_port(v: &str) -> Result<PortMap, EngineError> {
    let bad = |why: &str| {
        EngineError::Invalid(format!(
            "-p {v:?}: {why} (expected [IP:][HOSTPORT:]PORT[/tcp])"
        ))
    };
    let (spec, proto) = v.split_once('/').unwrap_or((v, "tcp"));
    if proto != "tcp" {
        return Err(bad("only tcp ports can be published"));
    }
    // an IPv6 host address is written in brackets: [::1]:8080:80
    let (host_ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, rest) = r.split_once("]:").ok_or_else(|| bad("unclosed '['"))?;
        (ip.to_string(), rest.to_string())
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 | 2 => ("0.0.0.0".to_string(), spec.to_string()),
            3 => (parts[0].to_string(), format!("{}:{}", parts[1], parts[2])),
            _ => return Err(bad("too many ':'")),
        }
    };
    if host_ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad(&format!("{host_ip:?} is not an IP address")));
    }
    let port = |s: &str, zero_ok: bool| -> Result<u16, EngineError> {
        match s.parse::<u16>() {
            Ok(0) if !zero_ok => Err(bad("port 0")),
            Ok(p) => Ok(p),
            Err(_) => Err(bad(&format!("{s:?} is not a port number"))),
        }
    };
    let (hp, cp) = match rest.split_once(':') {
        Some(("", c)) => (0, port(c, false)?),
        Some((h, c)) => (port(h, true)?, port(c, false)?),
        None => (0, port(&rest, false)?),
    };
    Ok(PortMap {
        host_ip,
        host_port: hp,
        container_port: cp,
    })
}

/// The generated config and the explanation of its isolation.
#[derive(Debug)]
pub struct Generated {
    /// config.json.
    pub config: Value,
    /// `(setting, why)` lines for `--explain`.
    pub explain: Vec<(String, String)>,
    /// Host files to write into the container dir: (file name, content) bound at
    /// /etc/hosts and /etc/hostname.
    pub etc_files: Vec<(String, String)>,
    /// Ports to publish.
    pub ports: Vec<PortMap>,
    /// Volumes to create (if new) and mount.
    pub volumes: Vec<VolumeUse>,
}

fn norm_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Look up `name` in an /etc/passwd or /etc/group text: field 2 (uid/gid) and, for
/// passwd, field 3 (primary gid).
fn lookup(text: &str, name: &str) -> Option<(u32, Option<u32>)> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 3 || f[0] != name {
            return None;
        }
        Some((f[2].parse().ok()?, f.get(3).and_then(|g| g.parse().ok())))
    })
}

/// The topmost layer's copy of `rel` (e.g. `etc/passwd`), read as text.
fn read_from_layers(layers_top_first: &[PathBuf], rel: &str) -> Option<String> {
    for l in layers_top_first {
        let p = l.join(rel);
        // never follow a link out of the layer: only plain files count
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if m.is_file() {
                return std::fs::read_to_string(p).ok();
            }
            return None;
        }
    }
    None
}

/// Resolve `user[:group]` (names or numbers) against the image's passwd/group.
pub fn resolve_user(spec: &str, layers_top_first: &[PathBuf]) -> Result<(u32, u32), EngineError> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_from_layers(layers_top_first, "etc/passwd").unwrap_or_default();
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (
            n,
            lookup(&passwd, u).and_then(|x| x.1).or_else(|| {
                passwd.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 4 && f[2] == u)
                        .then(|| f[3].parse().ok())
                        .flatten()
                })
            }),
        ),
        Err(_) => lookup(&passwd, u).ok_or_else(|| {
            EngineError::Invalid(format!("user {u:?}: not found in the image's /etc/passwd"))
        })?,
    };
    let gid = match g {
        None => primary.unwrap_or(uid),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let group = read_from_layers(layers_top_first, "etc/group").unwrap_or_default();
                lookup(&group, g)
                    .ok_or_else(|| {
                        EngineError::Invalid(format!(
                            "group {g:?}: not found in the image's /etc/group"
                        ))
                    })?
                    .0
            }
        },
    };
    Ok((uid, gid))
}

/// A volume name as Docker allows: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_volume_name(n: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && n.len() <= 128
}

enum VolumeArg {
    Bind(Value),
    Named(VolumeUse),
}

fn parse_volume(v: &str) -> Result<VolumeArg, EngineError> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(EngineError::Invalid(format!(
                "-v {v:?}: expected HOST-PATH:CONTAINER-PATH[:ro|rw]"
            )))
        }
    };
    if !dst.starts_with('/') {
        return Err(EngineError::Invalid(format!(
            "-v {v:?}: the container path must be absolute"
        )));
    }
    if !matches!(opts, "" | "rw" | "ro") {
        return Err(EngineError::Invalid(format!(
            "-v {v:?}: unknown option {opts:?} (ro or rw)"
        )));
    }
    if !src.starts_with('/') {
        if !valid_volume_name(src) {
            return Err(EngineError::Invalid(format!(
                "-v {v:?}: {src:?} is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
            )));
        }
        return Ok(VolumeArg::Named(VolumeUse {
            name: src.to_string(),
            destination: dst.to_string(),
            anonymous: false,
            read_only: opts == "ro",
        }));
    }
    if !Path::new(src).exists() {
        return Err(EngineError::Invalid(format!(
            "-v {v:?}: {src} does not exist"
        )));
    }
    let mut o = vec!["rbind", "nosuid", "nodev", "rprivate"];
    if opts == "ro" {
        o.push("ro");
    }
    Ok(VolumeArg::Bind(
        json!({"destination": dst, "type": "bind", "source": src, "options": o}),
    ))
}

/// Facts of the host side a config refers to.
#[derive(Debug, Clone, Copy)]
pub struct Host<'a> {
    /// RLIMIT_NOFILE (soft, hard) for the container.
    pub nofile: (u64, u64),
    /// The container's directory (hosts and hostname files).
    pub cdir: &'a Path,
    /// Where volumes live.
    pub volumes_dir: &'a Path,
    /// `--userns auto`: the container's id block.
    pub idmap: Option<crate::userns::IdMap>,
}

/// Build the config for `opts` on an image with `config`, whose unpacked layers
/// are `layers_top_first`, for container `id`. `seccomp` is the default profile
/// for a capability set (from the seccomp_profile module).
pub fn generate(
    id: &str,
    opts: &RunOptions,
    image: &ImageConfiguration,
    layers_top_first: &[PathBuf],
    seccomp: &dyn Fn(&[&str]) -> Value,
    host: &Host<'_>,
) -> Result<Generated, EngineError> {
    let (nofile, cdir, volumes_dir, idmap) = (host.nofile, host.cdir, host.volumes_dir, host.idmap);
    let mut explain: Vec<(String, String)> = Vec::new();
    let mut why = |k: &str, v: String| explain.push((k.to_string(), v));
    if opts.privileged {
        return Err(EngineError::Invalid(
            "--privileged: Caisson never runs privileged containers; add the single capability you need with --cap-add".into(),
        ));
    }
    let cfg = image.config().clone().unwrap_or_default();
    let mut ports: Vec<PortMap> = opts
        .publish
        .iter()
        .map(|p| parse_port(p))
        .collect::<Result<_, _>>()?;
    if opts.publish_all {
        for p in cfg.exposed_ports().clone().unwrap_or_default() {
            let (n, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
            if proto != "tcp" {
                continue;
            }
            let n: u16 = n.parse().map_err(|_| {
                EngineError::Invalid(format!("the image exposes port {p:?}, which is not a port"))
            })?;
            if !ports.iter().any(|x| x.container_port == n) {
                ports.push(PortMap {
                    host_ip: "0.0.0.0".into(),
                    host_port: 0,
                    container_port: n,
                });
            }
        }
    }
    // command
    let entry: Vec<String> = match &opts.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => cfg.entrypoint().clone().unwrap_or_default(),
    };
    let cmd: Vec<String> = if opts.command.is_empty() {
        if opts.entrypoint.is_some() {
            Vec::new()
        } else {
            cfg.cmd().clone().unwrap_or_default()
        }
    } else {
        opts.command.clone()
    };
    let args: Vec<String> = entry.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(EngineError::Invalid(format!(
            "{}: the image has no Entrypoint or Cmd; give a command",
            opts.image
        )));
    }
    // env: image, then -e
    let mut env: Vec<String> = cfg.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    let hostname = opts
        .hostname
        .clone()
        .unwrap_or_else(|| id.chars().take(12).collect());
    env.push(format!("HOSTNAME={hostname}"));
    if opts.tty {
        env.push("TERM=xterm".into());
    }
    for e in &opts.env {
        let kv = if e.contains('=') {
            e.clone()
        } else {
            match std::env::var(e) {
                Ok(v) => format!("{e}={v}"),
                Err(_) => continue,
            }
        };
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    // user
    let user_spec = opts
        .user
        .clone()
        .or_else(|| cfg.user().clone().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "0".into());
    let (uid, gid) = resolve_user(&user_spec, layers_top_first)?;
    if uid == 0 {
        why("user", "root (uid 0) inside the container, as the image asks; it holds only the capabilities below and no_new_privileges — use --user to run unprivileged".into());
    } else {
        why("user", format!("{uid}:{gid} (not root)"));
    }
    let cwd = opts
        .workdir
        .clone()
        .or_else(|| cfg.working_dir().clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    // capabilities
    let drop_all = opts.cap_drop.iter().any(|c| c.eq_ignore_ascii_case("all"));
    let mut caps: Vec<String> = if drop_all {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    for d in &opts.cap_drop {
        let d = norm_cap(d);
        caps.retain(|c| *c != d);
    }
    for a in &opts.cap_add {
        if a.eq_ignore_ascii_case("all") {
            return Err(EngineError::Invalid(
                "--cap-add ALL: refused (that is a privileged container); add single capabilities"
                    .into(),
            ));
        }
        let a = norm_cap(a);
        if !caps.contains(&a) {
            caps.push(a);
        }
    }
    why(
        "capabilities",
        format!(
            "{} — Docker's default set minus NET_RAW, MKNOD, AUDIT_WRITE, SETFCAP, SYS_CHROOT",
            if caps.is_empty() {
                "none".into()
            } else {
                caps.join(", ")
            }
        ),
    );
    // security options
    let mut nnp = true;
    let mut seccomp_json = Some(seccomp(
        &caps.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let mut seccomp_why =
        "default-deny profile (allowlist at least as strict as Docker's)".to_string();
    for s in &opts.security_opt {
        let (k, v) = s.split_once(['=', ':']).unwrap_or((s.as_str(), ""));
        match (k, v) {
            ("no-new-privileges", "" | "true") => nnp = true,
            ("no-new-privileges", "false") => nnp = false,
            ("seccomp", "unconfined") => {
                seccomp_json = None;
                seccomp_why = "DISABLED by --security-opt seccomp=unconfined".into();
            }
            ("seccomp", path) => {
                let raw = std::fs::read(path).map_err(|e| {
                    EngineError::Invalid(format!("--security-opt seccomp={path}: {e}"))
                })?;
                seccomp_json = Some(serde_json::from_slice(&raw).map_err(|e| {
                    EngineError::Invalid(format!("--security-opt seccomp={path}: {e}"))
                })?);
                seccomp_why = format!("profile from {path}");
            }
            _ => {
                return Err(EngineError::Invalid(format!(
                    "--security-opt {s:?}: supported: no-new-privileges[=true|false], seccomp=PROFILE|unconfined"
                )))
            }
        }
    }
    why("seccomp", seccomp_why);
    why(
        "no_new_privileges",
        if nnp {
            "on: setuid binaries and file capabilities cannot raise privileges".into()
        } else {
            "OFF (--security-opt no-new-privileges=false)".into()
        },
    );
    // resources
    let memory = opts.memory.unwrap_or(DEFAULT_MEMORY);
    let pids = opts.pids_limit.unwrap_or(DEFAULT_PIDS);
    let mut resources = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "pids": {"limit": pids},
    });
    if memory > 0 {
        resources["memory"] = json!({"limit": memory});
    }
    if let Some(c) = opts.cpus {
        if c <= 0.0 {
            return Err(EngineError::Invalid(format!(
                "--cpus {c}: must be positive"
            )));
        }
        #[allow(clippy::cast_possible_truncation)]
        let quota = (c * 100_000.0) as i64;
        resources["cpu"] = json!({"quota": quota, "period": 100_000});
    }
    why(
        "limits",
        format!(
            "memory {}, pids {pids}{} (defaults stop a runaway or fork bomb from taking the host)",
            if memory > 0 {
                format!("{} MiB", memory >> 20)
            } else {
                "unlimited".into()
            },
            opts.cpus.map(|c| format!(", cpus {c}")).unwrap_or_default()
        ),
    );
    why("devices", "only /dev/null, zero, full, random, urandom, tty, pts — no host devices; device cgroup denies the rest".into());
    why(
        "paths",
        format!(
            "masked: {}; read-only: {}",
            MASKED.join(" "),
            READONLY.join(" ")
        ),
    );
    // namespaces
    let host_net = match opts.network.as_deref() {
        None | Some("none") => false,
        Some("host") => true,
        Some(n) => {
            return Err(EngineError::Invalid(format!(
                "--network {n:?}: supported: none (default, loopback only) or host"
            )))
        }
    };
    if host_net && !ports.is_empty() {
        return Err(EngineError::Invalid(
            "-p/-P with --network host: the container already listens on the host's ports".into(),
        ));
    }
    if host_net && idmap.is_some() {
        return Err(EngineError::Invalid(
            "--userns auto with --network host: a user namespace cannot mount /sys for a network namespace it does not own; use the default network".into(),
        ));
    }
    let mut ns = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    if !host_net {
        ns.push(json!({"type": "network"}));
    }
    if idmap.is_some() {
        ns.push(json!({"type": "user"}));
    }
    why(
        "namespaces",
        format!(
            "pid, ipc, uts, mount, cgroup{}{}",
            if host_net {
                "; network: HOST (--network host)"
            } else {
                ", network (loopback only)"
            },
            if idmap.is_some() { ", user" } else { "" }
        ),
    );
    match idmap {
        Some(m) => why(
            "user namespace",
            format!(
                "container uids 0-{} are host uids {}-{} (gids {}-{}): root inside is an unprivileged, unused host user; image layers are mounted idmapped, not copied",
                m.size - 1,
                m.uid,
                u64::from(m.uid) + u64::from(m.size) - 1,
                m.gid,
                u64::from(m.gid) + u64::from(m.size) - 1
            ),
        ),
        None => why(
            "user namespace",
            "none: container root is host root, held in by capabilities, seccomp and namespaces (--userns auto maps it to an unprivileged host range)".into(),
        ),
    }
    if !ports.is_empty() {
        why(
            "ports",
            format!(
                "{} — relayed by the container's monitor into the private network namespace's loopback; nothing else is reachable",
                ports
                    .iter()
                    .map(|p| format!("{}:{}->{}/tcp", p.host_ip, if p.host_port == 0 { "auto".into() } else { p.host_port.to_string() }, p.container_port))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    why(
        "root filesystem",
        if opts.read_only {
            "overlayfs over the image layers, read-only (--read-only); /tmp stays writable".into()
        } else {
            "overlayfs over the shared, never-written image layers; writes go to the container's own upper dir".into()
        },
    );
    // mounts
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        json!({"destination": "/etc/hosts", "type": "bind", "source": cdir.join("hosts"), "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}),
        json!({"destination": "/etc/hostname", "type": "bind", "source": cdir.join("hostname"), "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}),
    ];
    if opts.read_only {
        mounts.push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]}));
    }
    if host_net && Path::new("/etc/resolv.conf").exists() {
        mounts.push(json!({"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}));
    }
    let mut volumes: Vec<VolumeUse> = Vec::new();
    let mut binds = 0;
    for v in &opts.volumes {
        match parse_volume(v)? {
            VolumeArg::Bind(m) => {
                mounts.push(m);
                binds += 1;
            }
            VolumeArg::Named(u) => volumes.push(u),
        }
    }
    // the image's Volumes not covered by -v get anonymous volumes
    let mut image_vols: Vec<String> = cfg.volumes().clone().unwrap_or_default();
    image_vols.sort();
    for dst in image_vols {
        let dst = if dst.starts_with('/') {
            dst
        } else {
            format!("/{dst}")
        };
        let covered = volumes.iter().any(|v| v.destination == dst)
            || mounts.iter().any(|m| m["destination"] == dst.as_str());
        if !covered {
            volumes.push(VolumeUse {
                name: crate::new_id(),
                destination: dst,
                anonymous: true,
                read_only: false,
            });
        }
    }
    for v in &volumes {
        let mut o = vec!["rbind", "nosuid", "nodev", "rprivate"];
        if v.read_only {
            o.push("ro");
        }
        mounts.push(json!({"destination": v.destination, "type": "bind",
            "source": volumes_dir.join(&v.name).join("_data"), "options": o}));
    }
    if binds > 0 || !volumes.is_empty() {
        why(
            "volumes",
            format!(
                "{binds} host path(s), {} named and {} anonymous volume(s) (from the image's Volumes), all bound nosuid,nodev",
                volumes.iter().filter(|v| !v.anonymous).count(),
                volumes.iter().filter(|v| v.anonymous).count()
            ),
        );
    }
    let cap_json = json!(caps);
    let mut linux = json!({
        "namespaces": ns,
        "resources": resources,
        "maskedPaths": MASKED,
        "readonlyPaths": READONLY,
        "rootfsPropagation": "rprivate",
    });
    if let Some(s) = seccomp_json {
        linux["seccomp"] = s;
    }
    if let Some(m) = idmap {
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": m.uid, "size": m.size}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": m.gid, "size": m.size}]);
    }
    let config = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": opts.tty,
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": cap_json, "effective": cap_json, "permitted": cap_json},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": nofile.0, "hard": nofile.1}],
            "noNewPrivileges": nnp,
            "oomScoreAdj": 0
        },
        "root": {"path": "rootfs", "readonly": opts.read_only},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
        "annotations": {"org.caisson.image": opts.image},
    });
    let etc_files = vec![
        (
            "hosts".to_string(),
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"),
        ),
        ("hostname".to_string(), format!("{hostname}\n")),
    ];
    Ok(Generated {
        config,
        explain,
        etc_files,
        ports,
        volumes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        let p = |s| parse_port(s).map(|p| (p.host_ip, p.host_port, p.container_port));
        assert_eq!(p("80").unwrap(), ("0.0.0.0".into(), 0, 80));
        assert_eq!(p("8080:80").unwrap(), ("0.0.0.0".into(), 8080, 80));
        assert_eq!(p("127.0.0.1::80").unwrap(), ("127.0.0.1".into(), 0, 80));
        assert_eq!(
            p("127.0.0.1:8080:80/tcp").unwrap(),
            ("127.0.0.1".into(), 8080, 80)
        );
        assert_eq!(p("[::1]:8080:80").unwrap(), ("::1".into(), 8080, 80));
        for bad in [
            "", "0", "x", "1:2:3:4", "80/udp", "70000", "a.b:1:2", "[::1:1:2",
        ] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn publish_all_takes_the_images_tcp_ports() {
        let image: ImageConfiguration = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["x"], "ExposedPorts": {"8080/tcp": {}, "53/udp": {}, "9000": {}},
                       "Volumes": {"/data": {}}},
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap();
        let opts = RunOptions {
            image: "i".into(),
            publish_all: true,
            ..Default::default()
        };
        let dir = Path::new("/nonexistent");
        let host = Host {
            nofile: (1024, 1024),
            cdir: dir,
            volumes_dir: dir,
            idmap: None,
        };
        let g = generate(
            "0123456789abcdef",
            &opts,
            &image,
            &[],
            &|_| json!({}),
            &host,
        )
        .unwrap();
        let mut ports: Vec<u16> = g.ports.iter().map(|p| p.container_port).collect();
        ports.sort_unstable();
        assert_eq!(ports, [8080, 9000]);
        assert_eq!(g.volumes.len(), 1);
        assert!(g.volumes[0].anonymous);
        assert_eq!(g.volumes[0].destination, "/data");
        let ns = g.config["linux"]["namespaces"].to_string();
        assert!(!ns.contains("user"));
    }
}
