//! runc-compatible command-line definitions for `caisson-runtime`: the same
//! commands, flags and defaults as runc 1.1, so podman, containerd and Docker can
//! drive it unchanged. Flags only — no logic lives here.
#![warn(missing_docs)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// caisson-runtime: an OCI container runtime (runc-compatible command line).
#[derive(Debug, Parser)]
#[command(
    name = "caisson-runtime",
    version,
    about = "caisson-runtime: a secure, fast OCI container runtime (runc-compatible CLI)",
    long_about = "caisson-runtime runs OCI bundles (a rootfs plus config.json) as containers.\n\
                  It accepts runc's commands and flags, so podman, containerd, Docker and\n\
                  Kubernetes can use it as a drop-in runtime.\n\n\
                  Typical use:\n  caisson-runtime spec            # write a default config.json\n  \
                  caisson-runtime run mycontainer # create + start, wait, delete"
)]
pub struct GlobalOpts {
    /// Root directory for container state (tmpfs recommended) [default: /run/caisson;
    /// for a non-root user, $XDG_RUNTIME_DIR/caisson].
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd for cgroups (cgroupsPath must be "slice:prefix:name").
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (auto: true when not run as root).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = ["true", "false", "auto"])]
    pub rootless: Option<String>,
    /// Path to criu (accepted for compatibility; checkpoint/restore is not supported).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by `create` and `run`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Container id.
    pub id: String,
    /// Path to the bundle directory (holding config.json).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Write the container init's pid to this file.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for a rootfs on ramfs).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional fds (3..3+N) to the container process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

/// The commands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing buys nothing
pub enum Command {
    /// Create a container (its process waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start {
        /// Container id.
        id: String,
    },
    /// Create and start a container; wait for it unless --detach.
    Run {
        /// Create options.
        #[command(flatten)]
        create: CreateArgs,
        /// Detach from the container's process.
        #[arg(short = 'd', long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
        /// Accepted for compatibility.
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Print the OCI state of a container as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal (default SIGTERM) to a container's init.
    Kill {
        /// Container id.
        id: String,
        /// Signal name or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Signal every process in the container.
        #[arg(short = 'a', long)]
        all: bool,
    },
    /// Delete a container and its resources.
    Delete {
        /// Container id.
        id: String,
        /// Kill the container first if it is still running.
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Run a new process inside a running container.
    Exec(ExecArgs),
    /// List the processes running in a container.
    Ps {
        /// Container id.
        id: String,
        /// Output format: table or json.
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Options passed to ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List containers under --root.
    List {
        /// Output format: table or json.
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Print only the ids.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Freeze every process of a running container.
    Pause {
        /// Container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// Container id.
        id: String,
    },
    /// Change a running container's cgroup resources (flags, or OCI
    /// `linux.resources` JSON with -r; `-r -` reads it from stdin).
    Update(UpdateArgs),
    /// Print container events as JSON lines: resource stats every --interval and
    /// OOM notifications; with --stats, one stats record and exit.
    Events {
        /// Container id.
        id: String,
        /// Print the stats once and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats records (e.g. 5s, 500ms, 1m).
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// Checkpoint a container (not supported: caisson-runtime is built without CRIU).
    Checkpoint {
        /// Container id and CRIU options (accepted, then refused).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Restore a container (not supported: caisson-runtime is built without CRIU).
    Restore {
        /// Container id and CRIU options (accepted, then refused).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Write a default config.json into the bundle.
    Spec {
        /// Bundle directory.
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
        /// A spec for running without root (user namespace, no network ns).
        #[arg(long)]
        rootless: bool,
    },
    /// Print the features this runtime supports (JSON, as runc features).
    Features,
    /// Print the version.
    Version,
}

/// `exec` options (runc's inline flags, or a process.json via --process).
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Container id.
    pub id: String,
    /// Command and arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// Unix socket that receives the pty master (with --tty).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE); repeatable.
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID[:GID] to run as.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group ids; repeatable.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Path to a process.json (OCI process section); overrides the inline flags.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the process.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Write the process's pid to this file.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability; repeatable.
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass N additional fds to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for compatibility (sub-cgroup selection is not supported).
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
}

/// `update` options: runc 1.1's flags. Memory sizes take runc's units (`512k`,
/// `64m`, `1g`; `-1` is unlimited).
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Container id.
    pub id: String,
    /// OCI `linux.resources` JSON file ("-" for stdin); flags override it.
    #[arg(short = 'r', long = "resources")]
    pub resources: Option<PathBuf>,
    /// Block IO weight (10-1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period (µs).
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota (µs; -1 unlimited).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period (µs).
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime (µs).
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs allowed (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed (0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (deprecated; accepted as runc does).
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP memory limit (deprecated).
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit.
    #[arg(short = 'm', long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 unlimited).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids (-1 unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
}
