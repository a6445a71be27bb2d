//! `caisson`: the human-facing, daemonless container engine. Images (pull, push,
//! images, inspect, tag, rmi), containers (run, create, start, ps, logs, exec,
//! stop, kill, rm, inspect) hardened by default, driven through `caisson-runtime`.
//!
//! Exit codes: 0 success; 1 error; `run`/`start -a`/`exec` pass the container
//! process's code through; 125 when the engine itself fails to run the container
//! (as Docker).
#![forbid(unsafe_code)]

mod audit;
mod policy;
mod scan;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use caisson_engine::{Engine, RunOptions};
use caisson_image::images;
use clap::{Args, Parser, Subcommand};

/// Caisson: a secure container engine (build, ship, run).
#[derive(Debug, Parser)]
#[command(
    name = "caisson",
    version,
    about,
    long_about = "Caisson: one coherent tool that protects a container over its whole life.\n\n\
                  Images are kept in a verified content-addressed store; containers run on an\n\
                  overlayfs root under caisson-runtime with hardened defaults (see `caisson run --explain`).\n\n\
                  Examples:\n  caisson pull 127.0.0.1:5000/busybox:latest\n  caisson run --rm 127.0.0.1:5000/busybox echo hello\n  caisson run -d --name web IMAGE\n  caisson logs -f web"
)]
struct Cli {
    /// Store and state root (also $CAISSON_ROOT).
    #[arg(
        long,
        global = true,
        env = "CAISSON_ROOT",
        default_value = "/var/lib/caisson"
    )]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Run in the background and print the container id.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a terminal.
    #[arg(short = 't', long)]
    tty: bool,
    /// Container name.
    #[arg(long)]
    name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy ours).
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Bind a host path or a named volume: /host:/ctr[:ro] or NAME:/ctr[:ro].
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Publish a container port: [IP:][HOSTPORT:]PORT[/tcp] (relayed into the
    /// container's private network namespace; HOSTPORT omitted or 0: a free one).
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Publish every port the image exposes on a free host port.
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Log options (Docker's json-file): max-size=SIZE (default 10m), max-file=N
    /// (files kept, the live one included; default 2).
    #[arg(long = "log-opt")]
    log_opt: Vec<String>,
    /// User namespace: host (default) or auto[:size=N] — container root becomes an
    /// unprivileged host id from /etc/subuid's 'caisson' or 'containers' range.
    #[arg(long)]
    userns: Option<String>,
    /// User[:group] to run as (names or ids).
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Working directory.
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// Override the image's entrypoint.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Read-only root filesystem (/tmp stays writable).
    #[arg(long = "read-only")]
    read_only: bool,
    /// Memory limit (e.g. 512m, 1g; default 2g).
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// CPU limit (e.g. 1.5).
    #[arg(long)]
    cpus: Option<f64>,
    /// Pids limit (default 2048).
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    /// Add a capability.
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop a capability (ALL for all).
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Security options: no-new-privileges[=false], seccomp=PROFILE|unconfined.
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Network: none (default, loopback only) or host.
    #[arg(long)]
    network: Option<String>,
    /// Container host name.
    #[arg(long)]
    hostname: Option<String>,
    /// Refused: Caisson never runs privileged containers.
    #[arg(long)]
    privileged: bool,
    /// Plain HTTP for this registry when the image must be pulled.
    #[arg(long)]
    insecure: bool,
    /// Print the isolation the container gets, and why, before running it.
    #[arg(long)]
    explain: bool,
    /// Policy gate before the container is created: a built-in set (pss-baseline,
    /// pss-restricted, image), a Rego file or directory, or a policy configuration
    /// file (repeatable). Default: the host's ($CAISSON_POLICY, /etc/caisson/policy),
    /// else none. A denial exits 125 and creates nothing.
    #[arg(long = "policy", value_name = "SET|FILE")]
    policy: Vec<String>,
    /// Image.
    image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum VolumeCommand {
    /// List volumes (anonymous ones have 64-hex names).
    Ls {
        /// Output as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a named volume.
    Create {
        /// Name ([a-zA-Z0-9][a-zA-Z0-9_.-]*).
        name: String,
    },
    /// Remove volumes no container uses.
    Rm {
        /// Names.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version of caisson and of the OCI spec it implements.
    Version {
        /// Output as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pull an image from a registry into the verified store.
    Pull {
        /// Image reference (registry/repo:tag or @digest).
        image: String,
        /// Allow plain HTTP for this registry (loopback registries never need it).
        #[arg(long)]
        insecure: bool,
        /// Platform os/arch[/variant] (default: this host's).
        #[arg(long)]
        platform: Option<String>,
        /// No progress bars.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Push a local image to a registry.
    Push {
        /// Local image.
        image: String,
        /// Destination (default: the image's own name).
        dest: Option<String>,
        /// Allow plain HTTP for this registry.
        #[arg(long)]
        insecure: bool,
    },
    /// List local images.
    Images {
        /// Output as JSON.
        #[arg(long)]
        json: bool,
        /// Only ids.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Give an image another name.
    Tag {
        /// Existing image.
        image: String,
        /// New name.
        name: String,
    },
    /// Remove images.
    Rmi {
        /// Images (names or ids).
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Write images to an archive: an OCI layout (tar or directory) or a `docker save` tar.
    Save {
        /// Output file (or directory for oci-dir).
        #[arg(short = 'o', long)]
        output: PathBuf,
        /// oci-archive (default), oci-dir or docker-archive.
        #[arg(long, default_value = "oci-archive")]
        format: String,
        /// Images.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Load images from an OCI layout (tar or directory) or a `docker save` tar.
    Load {
        /// The archive.
        #[arg(short = 'i', long)]
        input: PathBuf,
    },
    /// Make a single-layer image from a tarball of a root filesystem.
    Import {
        /// Set a config value, Dockerfile-style (repeatable): CMD, ENTRYPOINT, ENV,
        /// WORKDIR, USER, VOLUME, EXPOSE.
        #[arg(short = 'c', long = "change")]
        change: Vec<String>,
        /// The tarball (plain, gzip or zstd).
        file: PathBuf,
        /// Name for the image.
        name: String,
    },
    /// Show an image's or a container's details (JSON).
    Inspect {
        /// Image or container.
        what: String,
    },
    /// Create and start a container.
    Run(RunArgs),
    /// Create a container without starting it.
    Create(RunArgs),
    /// Start a created or exited container.
    Start {
        /// Container.
        container: String,
        /// Attach to its output and wait.
        #[arg(short = 'a', long)]
        attach: bool,
    },
    /// List containers.
    Ps {
        /// Include stopped containers.
        #[arg(short = 'a', long)]
        all: bool,
        /// Only ids.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Output as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a container's output.
    Logs {
        /// Container.
        container: String,
        /// Follow the output.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Run a command in a running container.
    Exec {
        /// Keep stdin open.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Allocate a terminal.
        #[arg(short = 't', long)]
        tty: bool,
        /// Environment variables.
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// User (uid[:gid]).
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Working directory.
        #[arg(short = 'w', long)]
        workdir: Option<String>,
        /// Container.
        container: String,
        /// Command.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Stop containers (SIGTERM, then SIGKILL after --time seconds).
    Stop {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long = "time", default_value_t = 10)]
        time: u64,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to containers.
    Kill {
        /// Signal (name or number).
        #[arg(short = 's', long, default_value = "KILL")]
        signal: String,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill running containers first.
        #[arg(short = 'f', long)]
        force: bool,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Scan an image, root filesystem or archive for known vulnerabilities.
    Scan(scan::ScanArgs),
    /// Software bill of materials (CycloneDX 1.5 or SPDX 2.3 JSON).
    Sbom(scan::SbomArgs),
    /// The vulnerability database: build, update, info.
    Db {
        #[command(subcommand)]
        command: scan::DbCommand,
    },
    /// Policy gate: evaluate inputs against Rego policy sets, run policy unit tests.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Kubernetes validating admission webhook (AdmissionReview v1 over TLS).
    Webhook(policy::WebhookArgs),
    /// Host and container configuration audit (after the CIS Docker Benchmark).
    Audit(audit::AuditArgs),
    /// Named volumes: ls, create, rm.
    Volume {
        #[command(subcommand)]
        command: VolumeCommand,
    },
    /// Disk use and clean-up of the store.
    System {
        #[command(subcommand)]
        command: SystemCommand,
    },
    /// The container monitor (internal).
    #[command(name = "__monitor", hide = true)]
    Monitor {
        /// Attached to a terminal/caller.
        #[arg(long)]
        attach: bool,
        /// Engine root.
        root: PathBuf,
        /// Container id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum SystemCommand {
    /// Show disk use of images, layers, containers and partial downloads.
    Df {
        /// Output as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove stopped containers, unused blobs and layers, partial downloads.
    Prune {
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(short = 'f', long)]
        force: bool,
    },
}

// mimalloc: policy decisions (the webhook, `run --policy`) build and drop many
// small values; it takes about a tenth off a decision (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Monitor { attach, root, id } = &cli.command {
        let code = caisson_engine::monitor::run(root, id, *attach);
        return ExitCode::from(u8::try_from(code).unwrap_or(125));
    }
    match dispatch(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            // `caisson logs | head`: a reader that went away is not an error
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("caisson: {e:#}");
            let run_failed = e.downcast_ref::<RunFailed>().is_some();
            ExitCode::from(if run_failed { 125 } else { 1 })
        }
    }
}

/// The engine could not run the container (exit 125, as Docker).
#[derive(Debug)]
struct RunFailed;

impl std::fmt::Display for RunFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not run the container")
    }
}

impl std::error::Error for RunFailed {}

fn parse_size(v: &str) -> Result<i64> {
    let t = v.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = n.parse().with_context(|| format!("invalid size {v:?}"))?;
    let m: f64 = match unit.trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1048576.0,
        "g" => 1073741824.0,
        _ => bail!("invalid size {v:?} (use e.g. 512m, 1g)"),
    };
    #[allow(clippy::cast_possible_truncation)]
    Ok((n * m) as i64)
}

fn run_options(a: &RunArgs) -> Result<RunOptions> {
    let (mut log_max_size, mut log_max_files) = (None, None);
    for o in &a.log_opt {
        match o.split_once('=') {
            Some(("max-size", v)) => {
                let n = parse_size(v).with_context(|| format!("--log-opt {o}"))?;
                if n < 1024 {
                    bail!("--log-opt {o}: at least 1k");
                }
                log_max_size = Some(u64::try_from(n)?);
            }
            Some(("max-file", v)) => {
                let n: u32 = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .with_context(|| format!("--log-opt {o}: a number of files, at least 1"))?;
                log_max_files = Some(n);
            }
            _ => bail!("--log-opt {o:?}: supported: max-size=SIZE, max-file=N"),
        }
    }
    Ok(RunOptions {
        log_max_size,
        log_max_files,
        image: a.image.clone(),
        command: a.command.clone(),
        entrypoint: a.entrypoint.clone(),
        name: a.name.clone(),
        env: a.env.clone(),
        volumes: a.volume.clone(),
        publish: a.publish.clone(),
        publish_all: a.publish_all,
        userns: a.userns.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        read_only: a.read_only,
        memory: a.memory.as_deref().map(parse_size).transpose()?,
        cpus: a.cpus,
        pids_limit: a.pids_limit,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        security_opt: a.security_opt.clone(),
        network: a.network.clone(),
        hostname: a.hostname.clone(),
        tty: a.tty,
        interactive: a.interactive,
        rm: a.rm,
        privileged: a.privileged,
    })
}

fn pull_opts(insecure: bool, image: &str, progress: bool) -> caisson_image::registry::PullOptions {
    let mut o = caisson_image::registry::PullOptions {
        progress,
        ..Default::default()
    };
    if insecure {
        let host = images::normalize(image);
        o.insecure
            .push(host.split('/').next().unwrap_or("").to_string());
    }
    o
}

fn tokio_rt() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime for registry I/O")
}

fn pull(
    engine: &Engine,
    image: &str,
    insecure: bool,
    platform: Option<String>,
    quiet: bool,
    print_id: bool,
) -> Result<()> {
    let rt = tokio_rt()?;
    let mut opts = pull_opts(insecure, image, !quiet);
    opts.platform = platform;
    let p = rt.block_on(caisson_image::registry::pull(&engine.store, image, &opts))?;
    drop(rt);
    // unpack now, so `run` starts at once (and a bad layer fails the pull)
    caisson_image::layers::ensure_unpacked(
        &engine.store,
        &p.layers
            .iter()
            .map(|(d, m, _)| (d.clone(), m.clone()))
            .collect::<Vec<_>>(),
        &p.diff_ids,
        !quiet,
    )?;
    if !quiet {
        eprintln!("Pulled {} ({})", p.name, p.manifest_digest);
    }
    if print_id {
        println!("{}", p.config_digest);
    }
    Ok(())
}

fn dispatch(cli: Cli) -> Result<i32> {
    if let Command::Version { json } = cli.command {
        let v = env!("CARGO_PKG_VERSION");
        let spec = caisson_container::state::OCI_VERSION;
        if json {
            println!(
                "{}",
                serde_json::json!({"version": v, "ociRuntimeSpec": spec})
            );
        } else {
            println!("caisson version {v}\nOCI runtime spec: {spec}");
        }
        return Ok(0);
    }
    match cli.command {
        Command::Policy { command } => return policy::policy_command(&cli.root, command),
        Command::Webhook(a) => return policy::webhook_command(&cli.root, a),
        _ => {}
    }
    let engine = Engine::open(&cli.root).with_context(|| format!("open {}", cli.root.display()))?;
    match cli.command {
        Command::Version { .. }
        | Command::Monitor { .. }
        | Command::Policy { .. }
        | Command::Webhook(_) => unreachable!("handled above"),
        Command::Audit(a) => audit::audit_command(&engine, &a),
        Command::Pull {
            image,
            insecure,
            platform,
            quiet,
        } => {
            pull(&engine, &image, insecure, platform, quiet, true)?;
            Ok(0)
        }
        Command::Push {
            image,
            dest,
            insecure,
        } => {
            let img = images::resolve(&engine.store, &image)?;
            let dest = dest.unwrap_or_else(|| img.names.first().cloned().unwrap_or(image.clone()));
            let rt = tokio_rt()?;
            let o = pull_opts(insecure, &dest, false);
            let d = rt.block_on(caisson_image::registry::push(
                &engine.store,
                &img.manifest_digest,
                &dest,
                &o,
            ))?;
            println!("{dest}@{d}");
            Ok(0)
        }
        Command::Images { json, quiet } => {
            let list = images::list(&engine.store)?;
            let mut out = std::io::stdout().lock();
            if json {
                let v: Vec<_> = list
                    .iter()
                    .map(|i| serde_json::json!({"id": i.config_digest.to_string(), "names": i.names, "digest": i.manifest_digest.to_string(), "size": i.size(), "created": i.config.created()}))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else if quiet {
                for i in &list {
                    writeln!(out, "{}", i.short_id())?;
                }
            } else {
                writeln!(
                    out,
                    "{:<50} {:<14} {:>10}",
                    "REPOSITORY:TAG", "IMAGE ID", "SIZE"
                )?;
                for i in &list {
                    for n in &i.names {
                        writeln!(
                            out,
                            "{:<50} {:<14} {:>10}",
                            n,
                            i.short_id(),
                            human(i.size())
                        )?;
                    }
                }
            }
            Ok(0)
        }
        Command::Tag { image, name } => {
            images::tag(&engine.store, &image, &name)?;
            Ok(0)
        }
        Command::Rmi { images: list } => {
            let in_use = engine.layers_in_use()?;
            let mut failed = false;
            for i in &list {
                match images::remove(&engine.store, i, &in_use) {
                    Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                    Err(e) => {
                        eprintln!("caisson: {i}: {e}");
                        failed = true;
                    }
                }
            }
            Ok(i32::from(failed))
        }
        Command::Save {
            output,
            format,
            images: list,
        } => {
            let format: caisson_image::layout::ArchiveFormat = format.parse()?;
            let imgs = list
                .iter()
                .map(|i| images::resolve(&engine.store, i))
                .collect::<Result<Vec<_>, _>>()?;
            caisson_image::layout::save(&engine.store, &imgs, &output, format)?;
            Ok(0)
        }
        Command::Load { input } => {
            for n in caisson_image::layout::load(&engine.store, &input)? {
                println!("Loaded image: {n}");
            }
            Ok(0)
        }
        Command::Import { change, file, name } => {
            let mut o = caisson_image::layout::ImportOptions::default();
            for c in &change {
                o.apply_change(c)?;
            }
            let d = caisson_image::layout::import_rootfs_with(&engine.store, &file, &name, &o)?;
            let img = images::resolve(&engine.store, &images::normalize(&name))
                .or_else(|_| images::resolve(&engine.store, &name))?;
            eprintln!("Imported {name} (manifest {d})");
            println!("{}", img.config_digest);
            Ok(0)
        }
        Command::Inspect { what } => {
            if let Ok(r) = engine.find(&what) {
                let mut v = serde_json::to_value(&r)?;
                v["status"] = serde_json::json!(engine.status(&r));
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            let img = images::resolve(&engine.store, &what)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "id": img.config_digest.to_string(),
                    "names": img.names,
                    "manifestDigest": img.manifest_digest.to_string(),
                    "manifest": img.manifest,
                    "config": img.config,
                }))?
            );
            Ok(0)
        }
        Command::Run(a) | Command::Create(a) if a.tty && a.detach && a.interactive => {
            bail!("-dit: an interactive terminal cannot be detached (use -dt or -it)")
        }
        Command::Run(a) => run(&engine, &a, true),
        Command::Create(a) => run(&engine, &a, false),
        Command::Start { container, attach } => {
            let r = engine.find(&container)?;
            let code = engine
                .start(&r, attach)
                .map_err(|e| anyhow::Error::new(e).context(RunFailed))?;
            if !attach {
                println!("{}", r.name);
            }
            Ok(code)
        }
        Command::Ps { all, quiet, json } => {
            let mut rows = Vec::new();
            for r in engine.list()? {
                let st = engine.status(&r);
                if !all && !matches!(st.as_str(), "running" | "paused") {
                    continue;
                }
                rows.push((r, st));
            }
            let mut out = std::io::stdout().lock();
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(r, s)| serde_json::json!({"id": r.id, "name": r.name, "image": r.image, "command": r.command, "created": r.created, "status": s, "exitCode": r.exit_code, "pid": r.pid, "ports": r.ports}))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else if quiet {
                for (r, _) in &rows {
                    writeln!(out, "{}", &r.id[..12])?;
                }
            } else {
                writeln!(
                    out,
                    "{:<14} {:<30} {:<24} {:<16} {:<24} NAMES",
                    "CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "PORTS"
                )?;
                for (r, s) in &rows {
                    let status = match (s.as_str(), r.exit_code) {
                        ("exited", Some(c)) => format!("exited ({c})"),
                        (s, _) => s.to_string(),
                    };
                    let mut cmd = r.command.join(" ");
                    if cmd.len() > 22 {
                        cmd.truncate(21);
                        cmd.push('…');
                    }
                    let ports = r
                        .ports
                        .iter()
                        .map(|p| format!("{}:{}->{}/tcp", p.host_ip, p.host_port, p.container_port))
                        .collect::<Vec<_>>()
                        .join(", ");
                    writeln!(
                        out,
                        "{:<14} {:<30} {:<24} {:<16} {:<24} {}",
                        &r.id[..12],
                        r.image,
                        cmd,
                        status,
                        ports,
                        r.name
                    )?;
                }
            }
            Ok(0)
        }
        Command::Logs { container, follow } => {
            let r = engine.find(&container)?;
            logs(&engine, &r, follow)?;
            Ok(0)
        }
        Command::Exec {
            interactive,
            tty,
            env,
            user,
            workdir,
            container,
            command,
        } => {
            let r = engine.find(&container)?;
            let mut c = std::process::Command::new(&engine.runtime);
            c.arg("--root").arg(engine.runtime_root()).arg("exec");
            if tty {
                c.arg("--tty");
            }
            for e in &env {
                c.arg("-e").arg(e);
            }
            if let Some(u) = &user {
                c.arg("--user").arg(u);
            }
            if let Some(w) = &workdir {
                c.arg("--cwd").arg(w);
            }
            c.arg(&r.id).args(&command);
            if !interactive && !tty {
                c.stdin(std::process::Stdio::null());
            }
            let st = c
                .status()
                .with_context(|| format!("run {}", engine.runtime.display()))?;
            Ok(st.code().unwrap_or(126))
        }
        Command::Stop { time, containers } => {
            for c in &containers {
                let r = engine.find(c)?;
                engine.stop(&r, std::time::Duration::from_secs(time))?;
                println!("{}", r.name);
            }
            Ok(0)
        }
        Command::Kill { signal, containers } => {
            for c in &containers {
                let r = engine.find(c)?;
                engine.kill(&r, &signal)?;
                println!("{}", r.name);
            }
            Ok(0)
        }
        Command::System {
            command: SystemCommand::Df { json },
        } => {
            let d = engine.disk_use()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                println!("{:<22} {:>8} {:>12}", "TYPE", "COUNT", "SIZE");
                println!(
                    "{:<22} {:>8} {:>12}",
                    "images (blobs)",
                    d.images,
                    human(d.blob_bytes)
                );
                println!(
                    "{:<22} {:>8} {:>12}",
                    "unpacked layers",
                    d.layers,
                    human(d.layer_bytes)
                );
                println!(
                    "{:<22} {:>8} {:>12}",
                    "containers",
                    d.containers,
                    human(d.container_bytes)
                );
                println!(
                    "{:<22} {:>8} {:>12}",
                    "partial downloads",
                    "-",
                    human(d.partial_bytes)
                );
            }
            Ok(0)
        }
        Command::System {
            command: SystemCommand::Prune { force },
        } => {
            if !force {
                bail!("system prune removes stopped containers and unused images data: pass --force to confirm");
            }
            for l in engine.prune()? {
                println!("removed {l}");
            }
            Ok(0)
        }
        Command::Scan(a) => scan::scan_command(&engine, &a),
        Command::Sbom(a) => scan::sbom_command(&engine, &a),
        Command::Db { command } => scan::db_command(&engine, command),
        Command::Volume {
            command: VolumeCommand::Ls { json },
        } => {
            let v = engine.list_volumes()?;
            if json {
                let j: Vec<_> = v
                    .iter()
                    .map(|(n, u)| serde_json::json!({"name": n, "inUse": u, "mountpoint": engine.volumes_dir().join(n).join("_data")}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else {
                println!("{:<66} IN USE", "VOLUME NAME");
                for (n, u) in v {
                    println!("{n:<66} {}", if u { "yes" } else { "no" });
                }
            }
            Ok(0)
        }
        Command::Volume {
            command: VolumeCommand::Create { name },
        } => {
            if !caisson_engine::spec::valid_volume_name(&name) {
                bail!("{name:?}: a volume name is [a-zA-Z0-9][a-zA-Z0-9_.-]*");
            }
            if !engine.ensure_volume(&name, None)? {
                bail!("volume {name} already exists");
            }
            println!("{name}");
            Ok(0)
        }
        Command::Volume {
            command: VolumeCommand::Rm { names },
        } => {
            for n in &names {
                engine.remove_volume(n)?;
                println!("{n}");
            }
            Ok(0)
        }
        Command::Rm { force, containers } => {
            for c in &containers {
                let r = engine.find(c)?;
                engine.remove(&r, force)?;
                println!("{}", r.name);
            }
            Ok(0)
        }
    }
}

fn human(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    if n >= 1 << 30 {
        format!("{:.1} GB", f / f64::from(1u32 << 30))
    } else if n >= 1 << 20 {
        format!("{:.1} MB", f / f64::from(1u32 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} kB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn run(engine: &Engine, a: &RunArgs, start: bool) -> Result<i32> {
    if images::resolve(&engine.store, &a.image).is_err() {
        eprintln!("Image {} not found locally, pulling it", a.image);
        pull(engine, &a.image, a.insecure, None, false, false).map_err(|e| e.context(RunFailed))?;
    }
    let opts = run_options(a)?;
    let gate = policy::engine_config(&a.policy).map_err(|e| e.context(RunFailed))?;
    let r = match &gate {
        Some(cfg) => engine.create_checked(&opts, &mut |p| policy::engine_check(engine, cfg, p)),
        None => engine.create(&opts),
    }
    .map_err(|e| anyhow::Error::new(e).context(RunFailed))?;
    if a.explain {
        eprintln!("Isolation of {} ({}):", r.name, &r.id[..12]);
        for (k, v) in &r.explain {
            eprintln!("  {k:<18} {v}");
        }
    }
    if !start {
        println!("{}", r.id);
        return Ok(0);
    }
    let attach = !a.detach;
    let code = engine
        .start(&r, attach)
        .map_err(|e| anyhow::Error::new(e).context(RunFailed))?;
    if a.detach {
        println!("{}", r.id);
    }
    Ok(code)
}

fn logs(engine: &Engine, r: &caisson_engine::Record, follow: bool) -> Result<()> {
    let cdir = engine.container_dir(&r.id);
    let mut seen = 0usize;
    loop {
        let recs = caisson_engine::monitor::read_log(&cdir);
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        for (stream, text) in recs.iter().skip(seen) {
            if stream == "stderr" {
                err.write_all(text.as_bytes())?;
            } else {
                out.write_all(text.as_bytes())?;
            }
        }
        out.flush()?;
        seen = recs.len();
        if !follow {
            return Ok(());
        }
        let now = engine.load(&r.id);
        if now
            .map(|n| n.finished_at.is_some() && n.pid.is_none())
            .unwrap_or(true)
        {
            // one last read after the end
            let recs = caisson_engine::monitor::read_log(&cdir);
            for (stream, text) in recs.iter().skip(seen) {
                if stream == "stderr" {
                    err.write_all(text.as_bytes())?;
                } else {
                    out.write_all(text.as_bytes())?;
                }
            }
            return Ok(());
        }
        drop((out, err));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
