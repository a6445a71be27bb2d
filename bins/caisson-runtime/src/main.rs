//! `caisson-runtime`: the OCI runtime binary. Thin: flags (crates/oci-cli) → the
//! container library (crates/container). Synchronous, no async runtime, no HTTP.
//!
//! Exit codes follow runc: 0 on success, 1 on any error (message on stderr and, with
//! `--log`, in the log file — as JSON lines `{"level","msg","time"}` with
//! `--log-format json`, which containerd parses); `run` and foreground `exec` exit
//! with the container process's status (128+N when killed by signal N).
#![forbid(unsafe_code)]

mod gate;
mod log;
mod spec;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use caisson_container as container;
use caisson_oci_cli::{Command, CreateArgs, ExecArgs, GlobalOpts, UpdateArgs};
use clap::Parser;

fn main() -> ExitCode {
    let mut opts = GlobalOpts::parse();
    opts.root = Some(state_root(&opts));
    // CVE-2019-5736: commands that enter a container run from a sealed memfd copy
    // of this binary, so no container process can ever reach the host binary.
    if matches!(
        opts.command,
        Command::Create(_) | Command::Run { .. } | Command::Exec(_)
    ) {
        if let Err(e) = caisson_sys::ensure_cloned_binary() {
            eprintln!("caisson-runtime: {e}");
            return ExitCode::from(1);
        }
    }
    let logger = log::init(opts.log.as_deref(), opts.log_format == "json", opts.debug);
    match dispatch(&opts) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            // The error chain, without repeating a cause its parent already quotes.
            let mut msg = String::new();
            for cause in e.chain() {
                let text = cause.to_string();
                if !msg.contains(&text) {
                    if !msg.is_empty() {
                        msg.push_str(": ");
                    }
                    msg.push_str(&text);
                }
            }
            logger.error(&msg);
            ExitCode::from(1)
        }
    }
}

/// The state root: `--root`, else runc's rule — `$XDG_RUNTIME_DIR/caisson` for a
/// non-root user who has one, else `/run/caisson`.
fn state_root(opts: &GlobalOpts) -> std::path::PathBuf {
    if let Some(r) = &opts.root {
        return r.clone();
    }
    if !nix::unistd::geteuid().is_root() {
        if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
            return std::path::PathBuf::from(x).join("caisson");
        }
    }
    std::path::PathBuf::from("/run/caisson")
}

/// The resolved state root (set in `main`).
fn root(opts: &GlobalOpts) -> &std::path::Path {
    opts.root.as_deref().expect("resolved in main")
}

fn rootless(opts: &GlobalOpts) -> bool {
    match opts.rootless.as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => !nix::unistd::geteuid().is_root(),
    }
}

fn create_options(opts: &GlobalOpts, a: &CreateArgs) -> Result<container::CreateOptions> {
    Ok(container::CreateOptions {
        root: root(opts).to_path_buf(),
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: opts.systemd_cgroup,
        rootless: rootless(opts),
        console_socket: a.console_socket.clone(),
    })
}

fn dispatch(opts: &GlobalOpts) -> Result<i32> {
    match &opts.command {
        Command::Create(a) => {
            gate::check(&a.bundle, &a.id)?;
            let o = create_options(opts, a)?;
            let c = container::create(&o)?;
            tracing::debug!(pid = c.pid, "created");
            Ok(0)
        }
        Command::Start { id } => {
            container::start(root(opts), id)?;
            Ok(0)
        }
        Command::Run { create, detach, .. } => {
            gate::check(&create.bundle, &create.id)?;
            let o = create_options(opts, create)?;
            Ok(container::run(&o, *detach)?)
        }
        Command::State { id } => {
            println!("{}", container::state_json(root(opts), id)?);
            Ok(0)
        }
        Command::Kill { id, signal, all } => {
            let sig = container::parse_signal(signal)?;
            container::kill(root(opts), id, sig, *all)?;
            Ok(0)
        }
        Command::Delete { id, force } => {
            container::delete(root(opts), id, *force)?;
            Ok(0)
        }
        Command::Exec(a) => exec(opts, a),
        Command::Ps {
            id,
            format,
            ps_args,
        } => ps(opts, id, format, ps_args),
        Command::List { format, quiet } => {
            let list = container::list(root(opts))?;
            let mut out = std::io::stdout().lock();
            if *quiet {
                for c in &list {
                    writeln!(out, "{}", c.id)?;
                }
            } else if format == "json" {
                writeln!(out, "{}", serde_json::to_string(&list)?)?;
            } else {
                writeln!(
                    out,
                    "{:<12} {:<10} {:<10} {:<40} {:<32} OWNER",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                )?;
                for c in &list {
                    writeln!(
                        out,
                        "{:<12} {:<10} {:<10} {:<40} {:<32} {}",
                        c.id,
                        c.pid,
                        c.status,
                        c.bundle.display(),
                        c.created,
                        c.owner
                    )?;
                }
            }
            Ok(0)
        }
        Command::Pause { id } => {
            container::pause(root(opts), id)?;
            Ok(0)
        }
        Command::Resume { id } => {
            container::resume(root(opts), id)?;
            Ok(0)
        }
        Command::Update(a) => {
            container::update(root(opts), &a.id, &update_patch(a)?)?;
            Ok(0)
        }
        Command::Events {
            id,
            stats,
            interval,
        } => {
            let every = parse_duration(interval)?;
            container::events(root(opts), id, *stats, every, &mut std::io::stdout().lock())?;
            Ok(0)
        }
        Command::Checkpoint { .. } | Command::Restore { .. } => {
            bail!(
                "checkpoint/restore is not supported: caisson-runtime is built without CRIU support"
            )
        }
        Command::Spec { bundle, rootless } => {
            spec::write_default(bundle, *rootless)?;
            Ok(0)
        }
        Command::Features => {
            println!("{}", serde_json::to_string_pretty(&spec::features())?);
            Ok(0)
        }
        Command::Version => {
            println!("caisson-runtime version {}", env!("CARGO_PKG_VERSION"));
            println!("spec: {}", container::state::OCI_VERSION);
            Ok(0)
        }
    }
}

fn exec(opts: &GlobalOpts, a: &ExecArgs) -> Result<i32> {
    let process: oci_spec::runtime::Process = if let Some(p) = &a.process {
        let raw = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
        let de = &mut serde_json::Deserializer::from_slice(&raw);
        serde_path_to_error_like(de, p)?
    } else {
        if a.command.is_empty() {
            bail!("exec: a command is required (or --process FILE)");
        }
        let dir = container::state::ContainerDir::open(root(opts), &a.id)?;
        let spec = dir.load_config()?;
        drop(dir);
        let mut p = spec.process().clone().unwrap_or_default();
        p.set_args(Some(a.command.clone()));
        p.set_terminal(Some(a.tty));
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(a.env.iter().cloned());
        p.set_env(Some(env));
        if let Some(cwd) = &a.cwd {
            p.set_cwd(cwd.clone());
        }
        if let Some(u) = &a.user {
            let (uid, gid) = match u.split_once(':') {
                Some((u, g)) => (u.parse()?, Some(g.parse()?)),
                None => (u.parse().context("--user must be UID[:GID]")?, None),
            };
            let user = p.user_mut();
            user.set_uid(uid);
            if let Some(g) = gid {
                user.set_gid(g);
            }
        }
        if !a.additional_gids.is_empty() {
            p.user_mut()
                .set_additional_gids(Some(a.additional_gids.clone()));
        }
        if a.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        if let Some(ap) = &a.apparmor {
            p.set_apparmor_profile(Some(ap.clone()));
        }
        if let Some(l) = &a.process_label {
            p.set_selinux_label(Some(l.clone()));
        }
        if !a.cap.is_empty() {
            let mut caps = p.capabilities().clone().unwrap_or_default();
            let add: oci_spec::runtime::Capabilities =
                serde_json::from_value(serde_json::Value::from(a.cap.clone()))
                    .context("--cap: unknown capability name")?;
            for set in [
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
                caps.inheritable().clone(),
                caps.ambient().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut s = set.1.clone().unwrap_or_default();
                s.extend(add.iter().copied());
                match set.0 {
                    0 => caps.set_bounding(Some(s)),
                    1 => caps.set_effective(Some(s)),
                    2 => caps.set_permitted(Some(s)),
                    3 => caps.set_inheritable(Some(s)),
                    _ => caps.set_ambient(Some(s)),
                };
            }
            p.set_capabilities(Some(caps));
        }
        p
    };
    let o = container::ExecOptions {
        root: root(opts).to_path_buf(),
        id: a.id.clone(),
        pid_file: a.pid_file.clone(),
        detach: a.detach,
        preserve_fds: a.preserve_fds,
        console_socket: a.console_socket.clone(),
        ignore_paused: a.ignore_paused,
    };
    Ok(container::exec(&o, &process)?)
}

fn serde_path_to_error_like(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
    path: &std::path::Path,
) -> Result<oci_spec::runtime::Process> {
    use serde::Deserialize;
    oci_spec::runtime::Process::deserialize(de).with_context(|| format!("parse {}", path.display()))
}

fn ps(opts: &GlobalOpts, id: &str, format: &str, ps_args: &[String]) -> Result<i32> {
    let pids = container::pids(root(opts), id)?;
    if format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("run ps(1)")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for l in lines {
        if let Some(p) = l
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&p) {
                println!("{l}");
            }
        }
    }
    Ok(0)
}

/// Sizes as runc parses them (docker's RAMInBytes): a number with an optional
/// binary unit b, k, m, g, t, p (optionally followed by "b" or "ib"); -1 = unlimited.
fn parse_size(flag: &str, v: &str) -> Result<i64> {
    let t = v.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim_end_matches("ib").trim_end_matches('b');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "p" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => bail!("--{flag}: invalid size {v:?} (use e.g. 512k, 64m, 1g)"),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("--{flag}: invalid size {v:?}"))?;
    #[allow(clippy::cast_possible_truncation)]
    Ok((n * mult) as i64)
}

/// Durations as Go prints them: 500ms, 5s, 1m, 1h (plain numbers are seconds).
fn parse_duration(v: &str) -> Result<std::time::Duration> {
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("--interval: invalid duration {v:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("--interval: invalid duration {v:?} (use e.g. 500ms, 5s, 1m)"),
    };
    if secs <= 0.0 {
        bail!("--interval must be positive, got {v:?}");
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// The `linux.resources` patch of `update`: the -r JSON, then the flags over it.
fn update_patch(a: &UpdateArgs) -> Result<serde_json::Value> {
    use serde_json::{json, Value};
    let mut r: Value = match &a.resources {
        Some(p) => {
            let raw = if p.as_os_str() == "-" {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).context("read stdin")?;
                v
            } else {
                std::fs::read(p).with_context(|| format!("read {}", p.display()))?
            };
            serde_json::from_slice(&raw).with_context(|| {
                format!(
                    "parse the resources JSON {}",
                    if p.as_os_str() == "-" {
                        "from stdin".to_string()
                    } else {
                        p.display().to_string()
                    }
                )
            })?
        }
        None => json!({}),
    };
    if !r.is_object() {
        bail!("--resources: expected a JSON object (OCI linux.resources)");
    }
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported");
    }
    let mut set = |section: &str, key: &str, v: Value| {
        let obj = r.as_object_mut().expect("checked above");
        let sec = obj.entry(section).or_insert_with(|| json!({}));
        if let Some(m) = sec.as_object_mut() {
            m.insert(key.to_string(), v);
        }
    };
    if let Some(v) = a.blkio_weight {
        set("blockIO", "weight", json!(v));
    }
    if let Some(v) = a.cpu_period {
        set("cpu", "period", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        set("cpu", "quota", json!(v));
    }
    if let Some(v) = a.cpu_share {
        set("cpu", "shares", json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        set("cpu", "realtimePeriod", json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        set("cpu", "realtimeRuntime", json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        set("cpu", "cpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        set("cpu", "mems", json!(v));
    }
    if let Some(v) = &a.kernel_memory {
        set("memory", "kernel", json!(parse_size("kernel-memory", v)?));
    }
    if let Some(v) = &a.kernel_memory_tcp {
        set(
            "memory",
            "kernelTCP",
            json!(parse_size("kernel-memory-tcp", v)?),
        );
    }
    if let Some(v) = &a.memory {
        set("memory", "limit", json!(parse_size("memory", v)?));
    }
    if let Some(v) = &a.memory_reservation {
        set(
            "memory",
            "reservation",
            json!(parse_size("memory-reservation", v)?),
        );
    }
    if let Some(v) = &a.memory_swap {
        set("memory", "swap", json!(parse_size("memory-swap", v)?));
    }
    if let Some(v) = a.pids_limit {
        set("pids", "limit", json!(v));
    }
    Ok(r)
}
