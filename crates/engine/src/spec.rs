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
    /// `-p` (refused: no port publishing yet).
    pub publish: Vec<String>,
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

fn parse_volume(v: &str) -> Result<Value, EngineError> {
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
    if !src.starts_with('/') || !dst.starts_with('/') {
        return Err(EngineError::Invalid(format!(
            "-v {v:?}: both paths must be absolute (named volumes are not supported yet)"
        )));
    }
    if !Path::new(src).exists() {
        return Err(EngineError::Invalid(format!(
            "-v {v:?}: {src} does not exist"
        )));
    }
    let mut o = vec!["rbind", "nosuid", "nodev", "rprivate"];
    match opts {
        "" | "rw" => {}
        "ro" => o.push("ro"),
        x => {
            return Err(EngineError::Invalid(format!(
                "-v {v:?}: unknown option {x:?} (ro or rw)"
            )))
        }
    }
    Ok(json!({"destination": dst, "type": "bind", "source": src, "options": o}))
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
    nofile: (u64, u64),
    cdir: &Path,
) -> Result<Generated, EngineError> {
    let mut explain: Vec<(String, String)> = Vec::new();
    let mut why = |k: &str, v: String| explain.push((k.to_string(), v));
    if opts.privileged {
        return Err(EngineError::Invalid(
            "--privileged: Caisson never runs privileged containers; add the single capability you need with --cap-add".into(),
        ));
    }
    if !opts.publish.is_empty() {
        return Err(EngineError::Invalid(
            "-p/--publish: port publishing is not supported yet (use --network host)".into(),
        ));
    }
    let cfg = image.config().clone().unwrap_or_default();
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
    why(
        "namespaces",
        format!(
            "pid, ipc, uts, mount, cgroup{}",
            if host_net {
                "; network: HOST (--network host)"
            } else {
                ", network (loopback only)"
            }
        ),
    );
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
    for v in &opts.volumes {
        mounts.push(parse_volume(v)?);
    }
    if !opts.volumes.is_empty() {
        why(
            "volumes",
            format!("{} host path(s) bound nosuid,nodev", opts.volumes.len()),
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
    })
}
