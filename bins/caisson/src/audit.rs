//! `caisson audit`: host and container configuration checks after the CIS Docker
//! Benchmark (numbering follows CIS where a control has a counterpart; the ids are
//! Caisson's own).
//!
//! Sections:
//! - `host` (CIS 1.x): the engine root on its own partition, auditing, and the kernel
//!   features isolation stands on (user namespaces, seccomp, cgroup controllers, an
//!   LSM, unprivileged eBPF, link protection, kernel pointer and log exposure).
//! - `files` (CIS 3.x): ownership and modes of the engine root and its containers,
//!   image store, runtime state and volumes directories, the `caisson` and
//!   `caisson-runtime` binaries, `/etc/caisson[/policy]`, `/etc/subuid`,
//!   `/etc/subgid`, and TLS certificates/keys named with `--tls-cert`/`--tls-key`.
//! - `containers` (CIS 5.x): the OCI `config.json` of every engine container
//!   (running or not), of bundles given with `--bundle`, and of containers other
//!   clients created through `caisson-runtime` (`<runtime root>/<id>/state.json`
//!   names the bundle; the runtime's own copy `<runtime root>/<id>/config.json`, the
//!   config as created, is audited when present).
//!
//! Targets of the container section: with `--container`, `--bundle` or
//! `--runtime-root`, exactly those; with none of them, every engine container plus
//! the containers under the default runtime roots (`/run/caisson`, the runtime's
//! default, and `/run/caisson-runtime`, where present) and any container in the
//! engine's own runtime root (`<root>/run`) without an engine record.
//!
//! Every finding has an id, section, title, severity (of the control: LOW, MEDIUM,
//! HIGH, CRITICAL), a status (PASS, WARN, FAIL, INFO or SKIP), details naming the
//! file, field and value seen (the reason, for SKIP), and the remediation.
//!
//! Exit code: 0 (the audit is informative), or `--exit-code N` when any check FAILs.
//! Errors (a `--bundle` without a readable config.json, an unknown `--container`,
//! a missing `--runtime-root`, `--tls-cert` or `--tls-key`) print
//! `caisson: <reason naming the path>` and exit 1, like every other caisson error;
//! so give `--exit-code` a value other than 1 (and 0) to tell findings from errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use caisson_engine::Engine;
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;

/// Output formats of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Aligned columns (ID, STATUS, SEVERITY, TITLE); details and remediation under
    /// every check that did not pass.
    Table,
    /// `{"version":1,"summary":{...},"checks":[...]}`.
    Json,
}

/// Sections of checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// Host configuration and kernel features (CIS 1.x).
    Host,
    /// Engine files and their permissions (CIS 3.x).
    Files,
    /// Container configurations (CIS 5.x).
    Containers,
}

/// Arguments of `caisson audit`.
#[derive(Debug, Args)]
#[command(
    long_about = "Audit the host and container configurations, after the CIS Docker Benchmark.\n\n\
                  Every check has an id, a status (PASS, WARN, FAIL, INFO, SKIP), details naming\n\
                  the file, field and value seen, and a remediation.\n\n\
                  Exit code: 0, or --exit-code N when any check FAILs; errors exit 1.\n\n\
                  Examples:\n  caisson audit\n  caisson audit --section containers --container web\n  \
                  caisson audit --bundle ./mybundle --format json --exit-code 3"
)]
pub struct AuditArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,
    /// Only these sections (repeatable or comma-separated; default: all).
    #[arg(long = "section", value_enum, value_delimiter = ',')]
    pub sections: Vec<Section>,
    /// Audit this engine container (name, id or id prefix; repeatable).
    #[arg(long = "container", value_name = "NAME|ID")]
    pub containers: Vec<String>,
    /// Audit the config.json of this OCI bundle (repeatable).
    #[arg(long = "bundle", value_name = "DIR")]
    pub bundles: Vec<PathBuf>,
    /// Audit the containers under this caisson-runtime state root (repeatable;
    /// default, when no target is named: /run/caisson and /run/caisson-runtime where
    /// present).
    #[arg(long = "runtime-root", value_name = "DIR")]
    pub runtime_roots: Vec<PathBuf>,
    /// A TLS certificate (or CA) file to check: root-owned, not group/world-writable.
    #[arg(long = "tls-cert", value_name = "FILE")]
    pub tls_certs: Vec<PathBuf>,
    /// A TLS private key file to check: root-owned, no access for others.
    #[arg(long = "tls-key", value_name = "FILE")]
    pub tls_keys: Vec<PathBuf>,
    /// Exit with N when any check FAILs (default 0: informative).
    #[arg(long = "exit-code", value_name = "N", default_value_t = 0)]
    pub exit_code: u8,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Conforms.
    Pass,
    /// Informational: nothing wrong, but worth knowing.
    Info,
    /// Not applicable here (the details say why).
    Skip,
    /// Hardening recommended.
    Warn,
    /// Violates the control.
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Info => "INFO",
            Status::Skip => "SKIP",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// How much a failing control matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Defence in depth.
    Low,
    /// Weakens isolation.
    Medium,
    /// Breaks a layer of isolation.
    High,
    /// Gives the host away.
    Critical,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// The container a container check is about.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// `engine` (a caisson container), `bundle` (`--bundle`) or `runtime` (found
    /// under a caisson-runtime state root).
    pub kind: &'static str,
    /// Container name (the bundle directory for bundles).
    pub name: String,
    /// Container id (none for bundles).
    pub id: Option<String>,
    /// The config.json audited.
    pub config: PathBuf,
    /// Status as the engine or runtime reports it, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable id, `CAISSON-<CIS-like number>`.
    pub id: &'static str,
    /// Section.
    pub section: Section,
    /// What the control asks for.
    pub title: &'static str,
    /// Severity of the control.
    pub severity: Severity,
    /// Outcome.
    pub status: Status,
    /// What was seen: file, field, value (for SKIP: why).
    pub details: String,
    /// How to fix it.
    pub remediation: &'static str,
    /// The container (container checks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<TargetInfo>,
}

/// A control: id, title, severity and remediation.
struct Def {
    id: &'static str,
    section: Section,
    title: &'static str,
    severity: Severity,
    remediation: &'static str,
}

impl Def {
    const fn new(
        id: &'static str,
        section: Section,
        severity: Severity,
        title: &'static str,
        remediation: &'static str,
    ) -> Def {
        Def {
            id,
            section,
            title,
            severity,
            remediation,
        }
    }

    fn at(&self, status: Status, details: impl Into<String>) -> Finding {
        Finding {
            id: self.id,
            section: self.section,
            title: self.title,
            severity: self.severity,
            status,
            details: details.into(),
            remediation: self.remediation,
            container: None,
        }
    }
}

// ---- host (CIS 1.x) ----
const H_PARTITION: Def = Def::new(
    "CAISSON-1.1.1",
    Section::Host,
    Severity::Medium,
    "Engine root is on a separate partition",
    "Give the engine root (--root, default /var/lib/caisson) a filesystem of its own (partition or logical volume, mounted nodev,nosuid in /etc/fstab), so images, layers and container writes cannot fill the host's root filesystem.",
);
const H_AUDITD: Def = Def::new(
    "CAISSON-1.1.2",
    Section::Host,
    Severity::Low,
    "Engine files and binaries are audited",
    "Run auditd and watch the engine: add to /etc/audit/rules.d/caisson.rules lines such as '-w /var/lib/caisson -p wa -k caisson', '-w /usr/bin/caisson-runtime -p x -k caisson', '-w /etc/caisson -p wa -k caisson', then 'augenrules --load'.",
);
const H_USERNS: Def = Def::new(
    "CAISSON-1.2.1",
    Section::Host,
    Severity::Medium,
    "User namespaces are enabled",
    "Set user.max_user_namespaces to a positive value (sysctl -w user.max_user_namespaces=15000; persist in /etc/sysctl.d/) so containers can run with --userns auto, their root mapped to an unprivileged host range.",
);
const H_UNPRIV_USERNS: Def = Def::new(
    "CAISSON-1.2.2",
    Section::Host,
    Severity::Low,
    "Unprivileged user namespace creation is restricted",
    "Where the host needs no rootless containers, set kernel.unprivileged_userns_clone=0 (Debian/Ubuntu kernels) or kernel.apparmor_restrict_unprivileged_userns=1 (Ubuntu), removing a large kernel attack surface from unprivileged users; root-created user namespaces (--userns auto) keep working.",
);
const H_SECCOMP: Def = Def::new(
    "CAISSON-1.2.3",
    Section::Host,
    Severity::High,
    "Seccomp filtering is available",
    "Use a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER: containers rely on a seccomp filter to refuse dangerous system calls.",
);
const H_CGROUPS: Def = Def::new(
    "CAISSON-1.2.4",
    Section::Host,
    Severity::High,
    "cgroup controllers for resource limits are present",
    "Mount cgroup v2 at /sys/fs/cgroup (systemd.unified_cgroup_hierarchy=1) with the cpu, memory and pids controllers enabled, or, on cgroup v1, mount the cpu, memory, pids and devices hierarchies; without them memory, CPU and process limits cannot be enforced.",
);
const H_LSM: Def = Def::new(
    "CAISSON-1.2.5",
    Section::Host,
    Severity::Medium,
    "A Linux security module is active",
    "Enable AppArmor or SELinux (and Landlock) on the kernel command line (e.g. lsm=landlock,lockdown,yama,apparmor), and mount securityfs at /sys/kernel/security, so containers get a mandatory access control layer.",
);
const H_BPF: Def = Def::new(
    "CAISSON-1.2.6",
    Section::Host,
    Severity::Medium,
    "Unprivileged eBPF is disabled",
    "Set kernel.unprivileged_bpf_disabled=2 (or 1) in /etc/sysctl.d/ so unprivileged processes cannot load eBPF programs, a frequent source of kernel exploits.",
);
const H_SYMLINKS: Def = Def::new(
    "CAISSON-1.2.7",
    Section::Host,
    Severity::Medium,
    "Symlink protection is on (fs.protected_symlinks)",
    "Set fs.protected_symlinks=1 in /etc/sysctl.d/ (symlinks in sticky world-writable directories are followed only by their owner).",
);
const H_HARDLINKS: Def = Def::new(
    "CAISSON-1.2.8",
    Section::Host,
    Severity::Medium,
    "Hardlink protection is on (fs.protected_hardlinks)",
    "Set fs.protected_hardlinks=1 in /etc/sysctl.d/ (no hard links to files the user cannot read and write).",
);
const H_KPTR: Def = Def::new(
    "CAISSON-1.2.9",
    Section::Host,
    Severity::Low,
    "Kernel pointers are hidden (kernel.kptr_restrict)",
    "Set kernel.kptr_restrict=1 (or 2) in /etc/sysctl.d/ so /proc/kallsyms and friends do not reveal kernel addresses to exploits.",
);
const H_DMESG: Def = Def::new(
    "CAISSON-1.2.10",
    Section::Host,
    Severity::Low,
    "Kernel log is restricted (kernel.dmesg_restrict)",
    "Set kernel.dmesg_restrict=1 in /etc/sysctl.d/ so only privileged processes read the kernel log.",
);

// ---- files (CIS 3.x) ----
const F_ROOT: Def = Def::new(
    "CAISSON-3.1",
    Section::Files,
    Severity::High,
    "Engine root ownership and permissions",
    "chown root:root <root> && chmod 0711 <root> (or 0755): only root may create, replace or remove what the engine keeps there.",
);
const F_CONTAINERS: Def = Def::new(
    "CAISSON-3.2",
    Section::Files,
    Severity::High,
    "Container records and bundles ownership and permissions",
    "chown -R root:root <root>/containers/*/{container.json,bundle/config.json}; chmod go-w on <root>/containers and every container and bundle directory; chmod 0600 the bundles' config.json (process.env may carry secrets).",
);
const F_STORE: Def = Def::new(
    "CAISSON-3.3",
    Section::Files,
    Severity::High,
    "Image store ownership and permissions",
    "chown root:root and chmod go-w <root>/blobs, <root>/layers, <root>/refs.json; chmod 0700 <root>/tmp: a writable store lets others change the layers every container runs on.",
);
const F_RUNTIME_STATE: Def = Def::new(
    "CAISSON-3.4",
    Section::Files,
    Severity::High,
    "Runtime state directories ownership and permissions",
    "chown root:root and chmod 0711 (or 0700) the runtime state roots (<root>/run, /run/caisson): their state.json files name the bundle and the processes the runtime signals.",
);
const F_VOLUMES: Def = Def::new(
    "CAISSON-3.5",
    Section::Files,
    Severity::Medium,
    "Volumes directory ownership and permissions",
    "chown root:root <root>/volumes && chmod go-w <root>/volumes.",
);
const F_RUNTIME_BIN: Def = Def::new(
    "CAISSON-3.6",
    Section::Files,
    Severity::High,
    "caisson-runtime binary ownership and permissions",
    "Install caisson-runtime owned by root with mode 0755 in a root-owned directory that is not group/world-writable (e.g. install -o root -g root -m 0755 caisson-runtime /usr/local/bin/): whoever can replace it runs code as root in every container start.",
);
const F_ENGINE_BIN: Def = Def::new(
    "CAISSON-3.7",
    Section::Files,
    Severity::High,
    "caisson binary ownership and permissions",
    "Install caisson owned by root with mode 0755 in a root-owned directory that is not group/world-writable (install -o root -g root -m 0755 caisson /usr/local/bin/).",
);
const F_ETC: Def = Def::new(
    "CAISSON-3.8",
    Section::Files,
    Severity::Medium,
    "/etc/caisson ownership and permissions",
    "chown root:root /etc/caisson && chmod 0755 /etc/caisson (no group or world write).",
);
const F_POLICY: Def = Def::new(
    "CAISSON-3.9",
    Section::Files,
    Severity::High,
    "/etc/caisson/policy ownership and permissions",
    "chown -R root:root /etc/caisson/policy && chmod -R go-w /etc/caisson/policy: whoever can write the policies decides what is admitted.",
);
const F_SUBUID: Def = Def::new(
    "CAISSON-3.10",
    Section::Files,
    Severity::Medium,
    "/etc/subuid ownership and permissions",
    "chown root:root /etc/subuid && chmod 0644 /etc/subuid: whoever can write it can claim host id ranges.",
);
const F_SUBGID: Def = Def::new(
    "CAISSON-3.11",
    Section::Files,
    Severity::Medium,
    "/etc/subgid ownership and permissions",
    "chown root:root /etc/subgid && chmod 0644 /etc/subgid: whoever can write it can claim host id ranges.",
);
const F_TLS_CERT: Def = Def::new(
    "CAISSON-3.12",
    Section::Files,
    Severity::Medium,
    "TLS certificate files ownership and permissions",
    "chown root:root the certificate and CA files and chmod 0444 (or 0644).",
);
const F_TLS_KEY: Def = Def::new(
    "CAISSON-3.13",
    Section::Files,
    Severity::High,
    "TLS private key files ownership and permissions",
    "chown root:root the key files and chmod 0400 (or 0600): no access for group or others.",
);

// ---- containers (CIS 5.x) ----
const C_READABLE: Def = Def::new(
    "CAISSON-5.0",
    Section::Containers,
    Severity::Medium,
    "Container configuration is readable",
    "Remove the broken container (caisson rm -f NAME, or caisson-runtime delete --force ID) or restore its bundle's config.json.",
);
const C_APPARMOR: Def = Def::new(
    "CAISSON-5.1",
    Section::Containers,
    Severity::Medium,
    "AppArmor profile is set",
    "Set process.apparmorProfile to a confining profile (e.g. one generated from docker-default), not \"unconfined\".",
);
const C_SELINUX: Def = Def::new(
    "CAISSON-5.2",
    Section::Containers,
    Severity::Medium,
    "SELinux label is set",
    "Set process.selinuxLabel (e.g. system_u:system_r:container_t:s0:c1,c2) so the container runs confined by SELinux.",
);
const C_CAPS: Def = Def::new(
    "CAISSON-5.3",
    Section::Containers,
    Severity::High,
    "No capabilities beyond the default set",
    "Drop the extra capabilities (caisson run --cap-drop ...; in config.json remove them from process.capabilities.*); add single capabilities only where the workload needs them, never CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_NET_ADMIN or CAP_BPF.",
);
const C_PRIVILEGED: Def = Def::new(
    "CAISSON-5.4",
    Section::Containers,
    Severity::Critical,
    "Container is not privileged (all capabilities or CAP_SYS_ADMIN)",
    "Do not run privileged containers: remove CAP_SYS_ADMIN and the full capability set from process.capabilities and keep Caisson's default set (caisson run never runs privileged containers; add the single capability needed with --cap-add).",
);
const C_SENSITIVE: Def = Def::new(
    "CAISSON-5.5",
    Section::Containers,
    Severity::High,
    "Sensitive host directories are not mounted",
    "Do not bind host system directories (/, /boot, /dev, /etc, /lib, /proc, /sys, /usr, /run) into containers; bind only the specific files needed, read-only (-v /host/file:/ctr/file:ro, mount option \"ro\").",
);
const C_NET: Def = Def::new(
    "CAISSON-5.9",
    Section::Containers,
    Severity::High,
    "Host network namespace is not shared",
    "Give the container its own network namespace (add {\"type\": \"network\"} to linux.namespaces; caisson run without --network host) and publish the ports needed with -p.",
);
const C_MEMORY: Def = Def::new(
    "CAISSON-5.10",
    Section::Containers,
    Severity::Medium,
    "Memory limit is set",
    "Set linux.resources.memory.limit (caisson run -m 512m) so one container cannot exhaust the host's memory.",
);
const C_CPU: Def = Def::new(
    "CAISSON-5.11",
    Section::Containers,
    Severity::Low,
    "CPU limit is set",
    "Set linux.resources.cpu.quota/period or shares (caisson run --cpus 1.5) so one container cannot starve the others.",
);
const C_READONLY: Def = Def::new(
    "CAISSON-5.12",
    Section::Containers,
    Severity::Medium,
    "Root filesystem is read-only",
    "Set root.readonly to true (caisson run --read-only) and give the workload tmpfs or volumes for the paths it writes.",
);
const C_RESTART: Def = Def::new(
    "CAISSON-5.14",
    Section::Containers,
    Severity::Low,
    "Restart policy is bounded",
    "Restart failing containers a bounded number of times (e.g. a supervisor's on-failure:5), never endlessly.",
);
const C_PID: Def = Def::new(
    "CAISSON-5.15",
    Section::Containers,
    Severity::High,
    "Host PID namespace is not shared",
    "Add {\"type\": \"pid\"} to linux.namespaces: in the host's PID namespace the container sees, and may signal or trace, every host process.",
);
const C_IPC: Def = Def::new(
    "CAISSON-5.16",
    Section::Containers,
    Severity::High,
    "Host IPC namespace is not shared",
    "Add {\"type\": \"ipc\"} to linux.namespaces so the container cannot reach the host's shared memory and message queues.",
);
const C_DEVICES: Def = Def::new(
    "CAISSON-5.17",
    Section::Containers,
    Severity::High,
    "Host devices are not exposed",
    "Start linux.resources.devices with a deny-all rule ({\"allow\": false, \"access\": \"rwm\"}) and allow only the devices the workload needs; do not list host devices in linux.devices unless required.",
);
const C_RLIMITS: Def = Def::new(
    "CAISSON-5.18",
    Section::Containers,
    Severity::Low,
    "Resource limits (rlimits) are bounded",
    "Set process.rlimits with a bounded RLIMIT_NOFILE (at most 1048576, as caisson run does).",
);
const C_PROPAGATION: Def = Def::new(
    "CAISSON-5.19",
    Section::Containers,
    Severity::Medium,
    "Mount propagation is not shared",
    "Use private or slave propagation (\"rprivate\"/\"rslave\") for mounts and linux.rootfsPropagation, never \"shared\"/\"rshared\", so mounts made in the container do not appear on the host.",
);
const C_UTS: Def = Def::new(
    "CAISSON-5.20",
    Section::Containers,
    Severity::Medium,
    "Host UTS namespace is not shared",
    "Add {\"type\": \"uts\"} to linux.namespaces so the container cannot change the host's hostname.",
);
const C_SECCOMP: Def = Def::new(
    "CAISSON-5.21",
    Section::Containers,
    Severity::High,
    "Seccomp profile is enforced",
    "Set linux.seccomp to a default-deny profile (defaultAction SCMP_ACT_ERRNO with an allowlist, as caisson run does by default); never run with seccomp=unconfined.",
);
const C_NNP: Def = Def::new(
    "CAISSON-5.25",
    Section::Containers,
    Severity::High,
    "No new privileges is set",
    "Set process.noNewPrivileges to true (caisson run's default; do not pass --security-opt no-new-privileges=false) so setuid binaries and file capabilities cannot raise privileges.",
);
const C_PIDS: Def = Def::new(
    "CAISSON-5.28",
    Section::Containers,
    Severity::Medium,
    "PIDs limit is set",
    "Set linux.resources.pids.limit (caisson run --pids-limit 2048) against fork bombs.",
);
const C_USERNS: Def = Def::new(
    "CAISSON-5.30",
    Section::Containers,
    Severity::Medium,
    "Container root is not host root",
    "Run with a user namespace mapping container root to an unprivileged host range (caisson run --userns auto; linux.namespaces user + uidMappings/gidMappings not mapping to host 0), or run as a non-root user (--user 1000:1000).",
);
const C_SOCKETS: Def = Def::new(
    "CAISSON-5.31",
    Section::Containers,
    Severity::Critical,
    "Container engine sockets and state are not mounted",
    "Do not bind container engine sockets (docker.sock, containerd.sock, podman.sock, crio.sock) or engine state (/var/lib/caisson, /run/caisson, /var/lib/docker...) into a container: that is root on the host.",
);
const C_MASKED: Def = Def::new(
    "CAISSON-5.32",
    Section::Containers,
    Severity::Medium,
    "Kernel interfaces are masked (maskedPaths, readonlyPaths)",
    "List /proc/kcore, /proc/keys, /proc/timer_list, /proc/sched_debug and /sys/firmware in linux.maskedPaths and /proc/sys, /proc/sysrq-trigger, /proc/irq and /proc/bus in linux.readonlyPaths (caisson run's defaults).",
);
const C_SYSCTL: Def = Def::new(
    "CAISSON-5.33",
    Section::Containers,
    Severity::Medium,
    "Sysctls do not reach the host",
    "Set only namespaced sysctls in linux.sysctl (net.* with a network namespace, kernel.shm*/msg*/sem and fs.mqueue.* with an IPC namespace); others change the host's kernel.",
);
const C_MNTNS: Def = Def::new(
    "CAISSON-5.34",
    Section::Containers,
    Severity::High,
    "Mount and cgroup namespaces are private",
    "Add {\"type\": \"mount\"} and {\"type\": \"cgroup\"} to linux.namespaces.",
);

/// Runs the audit; returns the process exit code.
pub fn audit_command(engine: &Engine, args: &AuditArgs) -> Result<i32> {
    let want = |s: Section| args.sections.is_empty() || args.sections.contains(&s);
    for f in args.tls_certs.iter().chain(&args.tls_keys) {
        std::fs::metadata(f).with_context(|| format!("TLS file {}", f.display()))?;
    }
    let ctx = Ctx::new(engine);
    let explicit =
        !args.containers.is_empty() || !args.bundles.is_empty() || !args.runtime_roots.is_empty();
    let runtime_roots = runtime_roots(engine, args, explicit)?;
    let mut findings = Vec::new();
    // targets first: a bad --bundle is an error before any output
    let targets = if want(Section::Containers) {
        gather_targets(engine, args, explicit, &runtime_roots)?
    } else {
        Vec::new()
    };
    if want(Section::Host) {
        findings.extend(host_checks(&ctx));
    }
    if want(Section::Files) {
        findings.extend(file_checks(engine, &ctx, args, &runtime_roots));
    }
    for t in &targets {
        findings.extend(container_checks(t, &ctx));
    }
    let out = std::io::stdout().lock();
    match args.format {
        AuditFormat::Json => write_json(out, engine, &findings)?,
        AuditFormat::Table => write_table(out, &findings)?,
    }
    let failed = findings.iter().any(|f| f.status == Status::Fail);
    Ok(if failed { i32::from(args.exit_code) } else { 0 })
}

/// Facts shared by the checks.
struct Ctx {
    /// The engine root, canonical.
    root: PathBuf,
    euid: u32,
    apparmor: bool,
    selinux: bool,
    /// The runtime binary, if found.
    runtime_bin: Option<PathBuf>,
}

impl Ctx {
    fn new(engine: &Engine) -> Ctx {
        Ctx {
            root: canonical(&engine.root),
            euid: nix::unistd::geteuid().as_raw(),
            apparmor: caisson_container::lsm::apparmor_enabled(),
            selinux: caisson_container::lsm::selinux_enabled(),
            runtime_bin: resolve_runtime(&engine.runtime),
        }
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        if p.is_absolute() {
            lexical(p)
        } else {
            std::env::current_dir()
                .map(|d| lexical(&d.join(p)))
                .unwrap_or_else(|_| p.to_path_buf())
        }
    })
}

/// `p` without `.`, `..` and repeated slashes (absolute paths only).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The runtime binary: as the engine names it, or looked up on PATH.
fn resolve_runtime(r: &Path) -> Option<PathBuf> {
    if r.components().count() > 1 || r.is_absolute() {
        return r.is_file().then(|| r.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(r))
        .find(|p| p.is_file())
}

fn read_trim(p: &str) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

// ---------------------------------------------------------------- host

fn host_checks(ctx: &Ctx) -> Vec<Finding> {
    let mut v = vec![check_partition(ctx), check_auditd(ctx)];
    v.push(check_userns());
    v.push(check_unpriv_userns());
    v.push(check_seccomp());
    v.push(check_cgroups());
    v.push(check_lsm());
    v.push(sysctl_check(
        &H_BPF,
        "/proc/sys/kernel/unprivileged_bpf_disabled",
        |n| n >= 1,
        "unprivileged users cannot load eBPF programs",
        "unprivileged users may load eBPF programs",
    ));
    v.push(sysctl_check(
        &H_SYMLINKS,
        "/proc/sys/fs/protected_symlinks",
        |n| n == 1,
        "symlinks in sticky world-writable directories are followed only by their owner",
        "symlink attacks in /tmp-like directories are possible",
    ));
    v.push(sysctl_check(
        &H_HARDLINKS,
        "/proc/sys/fs/protected_hardlinks",
        |n| n == 1,
        "no hard links to files the user cannot read and write",
        "hard links to others' files are possible",
    ));
    v.push(sysctl_check(
        &H_KPTR,
        "/proc/sys/kernel/kptr_restrict",
        |n| n >= 1,
        "kernel addresses are hidden",
        "kernel addresses are visible in /proc/kallsyms and friends",
    ));
    v.push(sysctl_check(
        &H_DMESG,
        "/proc/sys/kernel/dmesg_restrict",
        |n| n == 1,
        "only privileged processes read the kernel log",
        "any process may read the kernel log",
    ));
    v
}

fn sysctl_check(
    def: &Def,
    path: &str,
    good: impl Fn(i64) -> bool,
    good_text: &str,
    bad_text: &str,
) -> Finding {
    match read_trim(path) {
        None => def.at(
            Status::Skip,
            format!("{path} is not present on this kernel"),
        ),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if good(n) => def.at(Status::Pass, format!("{path} = {n}: {good_text}")),
            Ok(n) => def.at(Status::Warn, format!("{path} = {n}: {bad_text}")),
            Err(_) => def.at(Status::Warn, format!("{path} = {s:?}: not a number")),
        },
    }
}

/// The mount table (the project's one mountinfo parser, in caisson-cgroups).
fn mountinfo() -> Option<Vec<caisson_cgroups::MountEntry>> {
    caisson_cgroups::mount_table().ok()
}

fn check_partition(ctx: &Ctx) -> Finding {
    let Some(mounts) = mountinfo() else {
        return H_PARTITION.at(Status::Skip, "/proc/self/mountinfo is not readable");
    };
    // the last of stacked mounts is the visible one: max_by_key keeps the last maximum
    let best = mounts
        .iter()
        .filter(|m| ctx.root.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count());
    match best {
        Some(m) if m.mount_point == ctx.root => H_PARTITION.at(
            Status::Pass,
            format!(
                "{} is a mount point of its own ({} {})",
                ctx.root.display(),
                m.fstype,
                m.source
            ),
        ),
        Some(m) => H_PARTITION.at(
            Status::Warn,
            format!(
                "{} is not a mount point: it is on the filesystem mounted at {} ({} {})",
                ctx.root.display(),
                m.mount_point.display(),
                m.fstype,
                m.source
            ),
        ),
        None => H_PARTITION.at(
            Status::Skip,
            format!(
                "no mount in /proc/self/mountinfo holds {}",
                ctx.root.display()
            ),
        ),
    }
}

fn auditd_running() -> bool {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten().any(|e| {
                let n = e.file_name();
                n.to_string_lossy().bytes().all(|b| b.is_ascii_digit())
                    && std::fs::read_to_string(e.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "auditd")
            })
        })
        .unwrap_or(false)
}

fn audit_rule_files() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("/etc/audit/audit.rules")];
    if let Ok(rd) = std::fs::read_dir("/etc/audit/rules.d") {
        let mut more: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rules"))
            .collect();
        more.sort();
        v.extend(more);
    }
    v.into_iter().filter(|p| p.is_file()).collect()
}

fn check_auditd(ctx: &Ctx) -> Finding {
    if !auditd_running() {
        return H_AUDITD.at(
            Status::Info,
            "auditd is not running (no auditd process in /proc): changes to the engine's files and runs of its binaries are not audited",
        );
    }
    let files = audit_rule_files();
    let text: String = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let watched = |p: &Path| {
        let p = p.to_string_lossy();
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| {
                l.split_whitespace().any(|t| {
                    t == p
                        || t.strip_prefix("path=") == Some(&p)
                        || t.strip_prefix("dir=") == Some(&p)
                })
            })
    };
    let mut want = vec![ctx.root.clone()];
    if let Some(r) = &ctx.runtime_bin {
        want.push(canonical(r));
    }
    if Path::new("/etc/caisson").is_dir() {
        want.push(PathBuf::from("/etc/caisson"));
    }
    let missing: Vec<String> = want
        .iter()
        .filter(|p| !watched(p))
        .map(|p| p.display().to_string())
        .collect();
    let names = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if missing.is_empty() {
        H_AUDITD.at(
            Status::Pass,
            format!("auditd runs; rules in {names} watch every engine path"),
        )
    } else {
        H_AUDITD.at(
            Status::Warn,
            format!(
                "auditd runs but no rule in [{names}] watches {}",
                missing.join(", ")
            ),
        )
    }
}

fn check_userns() -> Finding {
    let p = "/proc/sys/user/max_user_namespaces";
    match read_trim(p).map(|s| (s.parse::<i64>(), s)) {
        None => H_USERNS.at(
            Status::Warn,
            format!("{p} is absent: the kernel has no user namespaces (CONFIG_USER_NS), so --userns auto cannot work"),
        ),
        Some((Ok(n), _)) if n > 0 => H_USERNS.at(Status::Pass, format!("{p} = {n}")),
        Some((Ok(n), _)) => H_USERNS.at(
            Status::Warn,
            format!("{p} = {n}: no user namespace can be created, so containers cannot map root to an unprivileged host range (--userns auto)"),
        ),
        Some((Err(_), s)) => H_USERNS.at(Status::Warn, format!("{p} = {s:?}: not a number")),
    }
}

fn check_unpriv_userns() -> Finding {
    let clone = "/proc/sys/kernel/unprivileged_userns_clone";
    let aa = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";
    let (c, a) = (read_trim(clone), read_trim(aa));
    if c.is_none() && a.is_none() {
        return H_UNPRIV_USERNS.at(
            Status::Skip,
            format!("neither {clone} nor {aa} is present (upstream kernel): creation is governed by user.max_user_namespaces alone"),
        );
    }
    let mut seen = Vec::new();
    let mut restricted = false;
    if let Some(c) = &c {
        seen.push(format!("{clone} = {c}"));
        restricted |= c == "0";
    }
    if let Some(a) = &a {
        seen.push(format!("{aa} = {a}"));
        restricted |= a == "1";
    }
    if restricted {
        H_UNPRIV_USERNS.at(
            Status::Pass,
            format!(
                "{}: unprivileged users cannot create user namespaces",
                seen.join(", ")
            ),
        )
    } else {
        H_UNPRIV_USERNS.at(
            Status::Info,
            format!("{}: unprivileged users may create user namespaces (needed for rootless containers; a kernel attack surface otherwise)", seen.join(", ")),
        )
    }
}

fn check_seccomp() -> Finding {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("Seccomp:"));
    let actions_path = "/proc/sys/kernel/seccomp/actions_avail";
    let actions = read_trim(actions_path);
    match (line, &actions) {
        (None, _) => H_SECCOMP.at(
            Status::Fail,
            "/proc/self/status has no Seccomp: line: the kernel lacks CONFIG_SECCOMP",
        ),
        (Some(_), Some(a)) if a.split_whitespace().any(|x| x == "errno") => H_SECCOMP.at(
            Status::Pass,
            format!("seccomp filters available; {actions_path} = {a}"),
        ),
        (Some(_), Some(a)) => H_SECCOMP.at(
            Status::Warn,
            format!("{actions_path} = {a}: no errno action, profiles cannot refuse calls with EPERM"),
        ),
        (Some(l), None) => H_SECCOMP.at(
            Status::Warn,
            format!("{} in /proc/self/status, but {actions_path} is absent: filter mode (CONFIG_SECCOMP_FILTER) may be missing", l.trim()),
        ),
    }
}

fn check_cgroups() -> Finding {
    let Ok(hierarchies) = caisson_cgroups::mounted_hierarchies() else {
        return H_CGROUPS.at(Status::Skip, "/proc/self/mountinfo is not readable");
    };
    let mut have: BTreeSet<String> = BTreeSet::new();
    let (mut v1, mut v2) = (Vec::new(), Vec::new());
    for h in &hierarchies {
        have.extend(h.controllers.iter().cloned());
        if h.v2 {
            v2.push(format!(
                "cgroup2 at {} (controllers: {})",
                h.mount.display(),
                if h.controllers.is_empty() {
                    "none".to_string()
                } else {
                    h.controllers.join(" ")
                }
            ));
        } else {
            v1.push(format!("{}", h.mount.display()));
        }
    }
    if v1.is_empty() && v2.is_empty() {
        return H_CGROUPS.at(
            Status::Fail,
            "no cgroup or cgroup2 filesystem in /proc/self/mountinfo: resource limits cannot be enforced",
        );
    }
    let layout = match (v1.is_empty(), v2.is_empty()) {
        (true, false) => "cgroup v2 (unified)",
        (false, true) => "cgroup v1 (legacy)",
        _ => "cgroup v1 + v2 (hybrid)",
    };
    let mut need = vec!["cpu", "memory", "pids"];
    if !v1.is_empty() {
        need.push("devices");
    }
    let missing: Vec<&str> = need
        .iter()
        .copied()
        .filter(|c| !have.contains(*c))
        .collect();
    let mut details = layout.to_string();
    if !v1.is_empty() {
        details.push_str(&format!("; v1 hierarchies: {}", v1.join(" ")));
    }
    if !v2.is_empty() {
        details.push_str(&format!("; {}", v2.join("; ")));
    }
    details.push_str(&format!(
        "; controllers: {}",
        have.iter().cloned().collect::<Vec<_>>().join(" ")
    ));
    if missing.is_empty() {
        H_CGROUPS.at(Status::Pass, details)
    } else {
        H_CGROUPS.at(
            Status::Warn,
            format!("{details}; MISSING: {}", missing.join(" ")),
        )
    }
}

fn check_lsm() -> Finding {
    let p = "/sys/kernel/security/lsm";
    let major = ["apparmor", "selinux", "smack", "tomoyo", "landlock"];
    if let Some(list) = read_trim(p) {
        let active: Vec<&str> = list.split(',').filter(|l| major.contains(l)).collect();
        return if active.is_empty() {
            H_LSM.at(
                Status::Warn,
                format!("{p} = {list}: no AppArmor, SELinux, Smack, TOMOYO or Landlock"),
            )
        } else {
            H_LSM.at(
                Status::Pass,
                format!("{p} = {list} (active: {})", active.join(", ")),
            )
        };
    }
    let aa = caisson_container::lsm::apparmor_enabled();
    let se = caisson_container::lsm::selinux_enabled();
    let found: Vec<&str> = [("AppArmor", aa), ("SELinux", se)]
        .iter()
        .filter(|x| x.1)
        .map(|x| x.0)
        .collect();
    if found.is_empty() {
        H_LSM.at(
            Status::Warn,
            format!("{p} is not readable (securityfs not mounted?), and neither AppArmor (/sys/module/apparmor/parameters/enabled) nor SELinux (/sys/fs/selinux/enforce) is enabled"),
        )
    } else {
        H_LSM.at(
            Status::Pass,
            format!("{} enabled ({p} not readable)", found.join(" and ")),
        )
    }
}

// ---------------------------------------------------------------- files

/// What a path's owner and mode may be.
#[derive(Clone, Copy)]
struct Rule {
    /// Mode bits that fail the check.
    fail: u32,
    /// Mode bits that warn.
    warn: u32,
    /// Only root may own it (else root or the user running the engine).
    root_only: bool,
}

const DIR_RULE: Rule = Rule {
    fail: 0o002,
    warn: 0o020,
    root_only: false,
};
const ETC_RULE: Rule = Rule {
    fail: 0o002,
    warn: 0o020,
    root_only: true,
};
const BIN_RULE: Rule = Rule {
    fail: 0o022,
    warn: 0,
    root_only: true,
};
const CERT_RULE: Rule = Rule {
    fail: 0o022,
    warn: 0,
    root_only: true,
};
const KEY_RULE: Rule = Rule {
    fail: 0o027,
    warn: 0o050,
    root_only: true,
};
/// config.json holds process.env: secrets there must not be world-readable.
const CONFIG_RULE: Rule = Rule {
    fail: 0o002,
    warn: 0o024,
    root_only: false,
};

fn bits_text(bits: u32) -> String {
    [
        (0o020, "group-writable"),
        (0o040, "group-readable"),
        (0o010, "group-executable"),
        (0o002, "world-writable"),
        (0o004, "world-readable"),
        (0o001, "world-executable"),
    ]
    .iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|(_, t)| *t)
    .collect::<Vec<_>>()
    .join(", ")
}

/// Status and one line of details for `p`.
fn perm_line(p: &Path, m: &Metadata, rule: Rule, euid: u32) -> (Status, String) {
    let mode = m.mode() & 0o7777;
    let mut st = Status::Pass;
    let mut problems = Vec::new();
    let owner_ok = m.uid() == 0 || (!rule.root_only && m.uid() == euid);
    if !owner_ok {
        st = Status::Fail;
        problems.push(format!("owned by uid {} (expected root)", m.uid()));
    }
    if mode & rule.fail != 0 {
        st = Status::Fail;
        problems.push(bits_text(mode & rule.fail));
    }
    if mode & rule.warn & !rule.fail != 0 {
        st = st.max(Status::Warn);
        problems.push(bits_text(mode & rule.warn & !rule.fail));
    }
    let head = format!("{} (uid {}, mode {mode:04o})", p.display(), m.uid());
    if problems.is_empty() {
        (st, head)
    } else {
        (st, format!("{head}: {}", problems.join(", ")))
    }
}

/// One finding over `paths` (each with its rule). Absent paths are named, not failed.
fn perm_finding(def: &Def, paths: &[(PathBuf, Rule)], euid: u32) -> Finding {
    let mut st = Status::Pass;
    let (mut bad, mut ok, mut absent) = (Vec::new(), Vec::new(), Vec::new());
    for (p, rule) in paths {
        match std::fs::metadata(p) {
            Ok(m) => {
                let (s, line) = perm_line(p, &m, *rule, euid);
                st = st.max(s);
                if s == Status::Pass {
                    ok.push(line);
                } else {
                    bad.push(line);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                absent.push(p.display().to_string());
            }
            Err(e) => {
                st = st.max(Status::Warn);
                bad.push(format!("{}: cannot stat: {e}", p.display()));
            }
        }
    }
    if bad.is_empty() && ok.is_empty() {
        return def.at(
            Status::Skip,
            if absent.is_empty() {
                "nothing to check".to_string()
            } else {
                format!("absent: {}", absent.join(", "))
            },
        );
    }
    let mut parts = bad;
    if parts.is_empty() {
        parts.push(format!("ok: {}", ok.join("; ")));
    } else if !ok.is_empty() {
        parts.push(format!("{} other path(s) ok", ok.len()));
    }
    if !absent.is_empty() {
        parts.push(format!("absent: {}", absent.join(", ")));
    }
    def.at(st, parts.join("; "))
}

/// The binary and the directory holding it.
fn binary_finding(def: &Def, bin: Option<&Path>, how: &str, euid: u32) -> Finding {
    let Some(bin) = bin else {
        return def.at(Status::Warn, format!("not found ({how})"));
    };
    let real = canonical(bin);
    let mut f = perm_finding(def, &[(real.clone(), BIN_RULE)], euid);
    if let Some(dir) = real.parent() {
        if let Ok(m) = std::fs::metadata(dir) {
            let mode = m.mode() & 0o7777;
            let sticky = mode & 0o1000 != 0;
            if m.uid() != 0 {
                f.status = f.status.max(Status::Fail);
                f.details.push_str(&format!(
                    "; its directory {} is owned by uid {} (expected root)",
                    dir.display(),
                    m.uid()
                ));
            } else if mode & 0o002 != 0 {
                f.status = f
                    .status
                    .max(if sticky { Status::Warn } else { Status::Fail });
                f.details.push_str(&format!(
                    "; its directory {} (mode {mode:04o}) is world-writable{}",
                    dir.display(),
                    if sticky { " (sticky)" } else { "" }
                ));
            } else if mode & 0o020 != 0 {
                f.status = f.status.max(Status::Warn);
                f.details.push_str(&format!(
                    "; its directory {} (mode {mode:04o}) is group-writable",
                    dir.display()
                ));
            }
        }
    }
    if real != bin {
        f.details = format!("{} -> {}", bin.display(), f.details);
    }
    f
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, links: &mut Vec<PathBuf>, limit: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if out.len() >= limit {
            return;
        }
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => links.push(p),
            Ok(m) if m.is_dir() => {
                out.push(p.clone());
                walk(&p, out, links, limit);
            }
            Ok(_) => out.push(p),
            Err(_) => {}
        }
    }
}

fn runtime_roots(engine: &Engine, args: &AuditArgs, explicit: bool) -> Result<Vec<PathBuf>> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if explicit {
        for r in &args.runtime_roots {
            if !r.is_dir() {
                bail!(
                    "--runtime-root {}: no such directory (caisson-runtime's --root)",
                    r.display()
                );
            }
            roots.push(canonical(r));
        }
    } else {
        for r in ["/run/caisson", "/run/caisson-runtime"] {
            if Path::new(r).is_dir() {
                roots.push(canonical(Path::new(r)));
            }
        }
        roots.push(canonical(&engine.runtime_root()));
    }
    let mut seen = BTreeSet::new();
    roots.retain(|r| seen.insert(r.clone()));
    Ok(roots)
}

fn file_checks(engine: &Engine, ctx: &Ctx, args: &AuditArgs, rroots: &[PathBuf]) -> Vec<Finding> {
    let root = &ctx.root;
    let euid = ctx.euid;
    let mut v = vec![perm_finding(&F_ROOT, &[(root.clone(), DIR_RULE)], euid)];
    // containers: the directory, then each container's dir, bundle, config and record
    let cdir = root.join("containers");
    let mut paths = vec![(cdir.clone(), DIR_RULE)];
    if let Ok(rd) = std::fs::read_dir(&cdir) {
        let mut ids: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        ids.sort();
        for d in ids {
            paths.push((d.clone(), DIR_RULE));
            paths.push((d.join("container.json"), DIR_RULE));
            paths.push((d.join("bundle"), DIR_RULE));
            paths.push((d.join("bundle/config.json"), CONFIG_RULE));
        }
    }
    v.push(perm_finding(&F_CONTAINERS, &paths, euid));
    let mut store: Vec<(PathBuf, Rule)> = [
        "blobs",
        "blobs/sha256",
        "blobs/sha512",
        "layers",
        "layers/sha256",
        "refs.json",
    ]
    .iter()
    .map(|d| (root.join(d), DIR_RULE))
    .collect();
    store.push((
        engine.store.tmp_dir(),
        Rule {
            fail: 0o002,
            warn: 0o070 | 0o005,
            root_only: false,
        },
    ));
    v.push(perm_finding(&F_STORE, &store, euid));
    let mut state: Vec<(PathBuf, Rule)> = vec![(canonical(&engine.runtime_root()), DIR_RULE)];
    for r in rroots {
        if !state.iter().any(|(p, _)| p == r) {
            state.push((r.clone(), DIR_RULE));
        }
    }
    v.push(perm_finding(&F_RUNTIME_STATE, &state, euid));
    v.push(perm_finding(
        &F_VOLUMES,
        &[(canonical(&engine.volumes_dir()), DIR_RULE)],
        euid,
    ));
    let how = if std::env::var_os("CAISSON_RUNTIME").is_some() {
        format!("$CAISSON_RUNTIME = {}", engine.runtime.display())
    } else {
        format!(
            "looked for {} next to the caisson executable and on PATH",
            engine.runtime.display()
        )
    };
    v.push(binary_finding(
        &F_RUNTIME_BIN,
        ctx.runtime_bin.as_deref(),
        &how,
        euid,
    ));
    let exe = std::env::current_exe().ok();
    v.push(binary_finding(
        &F_ENGINE_BIN,
        exe.as_deref(),
        "the running executable cannot be resolved",
        euid,
    ));
    let etc = Path::new("/etc/caisson");
    v.push(if etc.exists() {
        perm_finding(&F_ETC, &[(etc.to_path_buf(), ETC_RULE)], euid)
    } else {
        F_ETC.at(Status::Skip, "/etc/caisson is not present")
    });
    let policy = Path::new("/etc/caisson/policy");
    v.push(if policy.exists() {
        let mut all = vec![policy.to_path_buf()];
        let mut links = Vec::new();
        walk(policy, &mut all, &mut links, 10_000);
        let paths: Vec<(PathBuf, Rule)> = all.into_iter().map(|p| (p, ETC_RULE)).collect();
        let mut f = perm_finding(&F_POLICY, &paths, euid);
        if !links.is_empty() {
            f.details.push_str(&format!(
                "; symbolic links not followed: {}",
                links
                    .iter()
                    .map(|l| l.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        f
    } else {
        F_POLICY.at(Status::Skip, "/etc/caisson/policy is not present")
    });
    for (def, f) in [(&F_SUBUID, "/etc/subuid"), (&F_SUBGID, "/etc/subgid")] {
        v.push(if Path::new(f).exists() {
            perm_finding(def, &[(PathBuf::from(f), ETC_RULE)], euid)
        } else {
            def.at(
                Status::Skip,
                format!("{f} is not present (only --userns auto needs it)"),
            )
        });
    }
    v.push(if args.tls_certs.is_empty() {
        F_TLS_CERT.at(Status::Skip, "no --tls-cert given")
    } else {
        let p: Vec<(PathBuf, Rule)> = args
            .tls_certs
            .iter()
            .map(|p| (p.clone(), CERT_RULE))
            .collect();
        perm_finding(&F_TLS_CERT, &p, euid)
    });
    v.push(if args.tls_keys.is_empty() {
        F_TLS_KEY.at(Status::Skip, "no --tls-key given")
    } else {
        let p: Vec<(PathBuf, Rule)> = args
            .tls_keys
            .iter()
            .map(|p| (p.clone(), KEY_RULE))
            .collect();
        perm_finding(&F_TLS_KEY, &p, euid)
    });
    v
}

// ---------------------------------------------------------------- containers

/// A container to audit.
struct Target {
    info: TargetInfo,
    /// Relative mount sources are relative to this.
    bundle: PathBuf,
    /// The parsed config, or why it could not be read.
    config: std::result::Result<Value, (Status, String)>,
    /// Mount sources the engine itself manages for this container.
    exempt: Vec<PathBuf>,
    /// Engine containers: Caisson never restarts them.
    engine: bool,
}

fn read_config(path: &Path) -> std::result::Result<Value, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_slice(&raw)
        .map_err(|e| format!("{}: invalid JSON: {e}", path.display()))?;
    if !v.is_object() {
        return Err(format!("{}: not a JSON object", path.display()));
    }
    Ok(v)
}

fn gather_targets(
    engine: &Engine,
    args: &AuditArgs,
    explicit: bool,
    rroots: &[PathBuf],
) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    let records = if explicit {
        args.containers
            .iter()
            .map(|c| engine.find(c).with_context(|| format!("--container {c}")))
            .collect::<Result<Vec<_>>>()?
    } else {
        let mut l = engine.list().context("list the engine's containers")?;
        l.sort_by(|a, b| a.name.cmp(&b.name));
        l
    };
    let record_ids: BTreeSet<String> = engine
        .list()
        .map(|l| l.into_iter().map(|r| r.id).collect())
        .unwrap_or_default();
    for r in records {
        let cdir = engine.container_dir(&r.id);
        let bundle = cdir.join("bundle");
        let config = bundle.join("config.json");
        let state = engine.status(&r);
        out.push(Target {
            info: TargetInfo {
                kind: "engine",
                name: r.name.clone(),
                id: Some(r.id.clone()),
                config: config.clone(),
                state: Some(state),
            },
            config: read_config(&config).map_err(|e| (Status::Warn, e)),
            bundle,
            exempt: vec![canonical(&cdir), canonical(&engine.volumes_dir())],
            engine: true,
        });
    }
    for b in &args.bundles {
        let (dir, config) = if b.is_file() {
            (
                b.parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                b.clone(),
            )
        } else if b.is_dir() {
            (b.clone(), b.join("config.json"))
        } else {
            bail!("--bundle {}: no such directory", b.display());
        };
        if !config.is_file() {
            bail!(
                "--bundle {}: no config.json in it ({} is missing)",
                b.display(),
                config.display()
            );
        }
        let v =
            read_config(&config).map_err(|e| anyhow::anyhow!("--bundle {}: {e}", b.display()))?;
        out.push(Target {
            info: TargetInfo {
                kind: "bundle",
                name: b.display().to_string(),
                id: None,
                config: config.clone(),
                state: None,
            },
            config: Ok(v),
            bundle: canonical(&dir),
            exempt: Vec::new(),
            engine: false,
        });
    }
    for rr in rroots {
        let Ok(rd) = std::fs::read_dir(rr) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            let id = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // dot-dirs are the runtime's own (`.seccomp-cache`), not containers
            if id.starts_with('.') || record_ids.contains(&id) {
                continue; // an engine container, audited above (or filtered out)
            }
            let state_path = d.join("state.json");
            let state = std::fs::read(&state_path)
                .ok()
                .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok());
            let Some(state) = state else {
                out.push(Target {
                    info: TargetInfo {
                        kind: "runtime",
                        name: id.clone(),
                        id: Some(id),
                        config: d.join("config.json"),
                        state: None,
                    },
                    config: Err((
                        Status::Skip,
                        format!(
                            "{} is missing or not JSON (a container being created or deleted?)",
                            state_path.display()
                        ),
                    )),
                    bundle: d.clone(),
                    exempt: Vec::new(),
                    engine: false,
                });
                continue;
            };
            let bundle = PathBuf::from(state["bundle"].as_str().unwrap_or(""));
            let own = d.join("config.json");
            let config = if own.is_file() {
                own
            } else {
                bundle.join("config.json")
            };
            let ann = &state["annotations"];
            let name = [
                "io.kubernetes.cri.container-name",
                "io.kubernetes.container.name",
                "io.container.manager.name",
            ]
            .iter()
            .find_map(|k| ann[*k].as_str())
            .map_or_else(|| id.clone(), str::to_string);
            out.push(Target {
                info: TargetInfo {
                    kind: "runtime",
                    name,
                    id: Some(state["id"].as_str().unwrap_or(&id).to_string()),
                    config: config.clone(),
                    state: None,
                },
                config: read_config(&config).map_err(|e| (Status::Warn, e)),
                bundle,
                exempt: Vec::new(),
                engine: false,
            });
        }
    }
    Ok(out)
}

fn container_checks(t: &Target, ctx: &Ctx) -> Vec<Finding> {
    let tag = |mut f: Finding| {
        f.container = Some(t.info.clone());
        f
    };
    let cfg = match &t.config {
        Ok(c) => c,
        Err((st, e)) => return vec![tag(C_READABLE.at(*st, e.clone()))],
    };
    let ns = Namespaces::of(cfg);
    let mounts = bind_mounts(cfg, &t.bundle);
    let caps = cap_union(cfg);
    let mut v = vec![
        check_apparmor(cfg, ctx),
        check_selinux(cfg, ctx),
        check_caps(&caps),
        check_privileged(cfg, &caps),
        check_sensitive(&mounts, t),
        ns.check(&C_NET, "network", Status::Fail, "uses the host's network stack: it can bind host ports and reach every host interface and local service"),
        check_memory(cfg),
        check_cpu(cfg),
        check_readonly(cfg),
        if t.engine {
            C_RESTART.at(Status::Pass, "Caisson has no restart policy: containers are never restarted automatically")
        } else {
            C_RESTART.at(Status::Skip, "not known from an OCI bundle: restarts are up to the client that created the container")
        },
        ns.check(&C_PID, "pid", Status::Fail, "sees every host process and can signal or ptrace them"),
        ns.check(&C_IPC, "ipc", Status::Fail, "shares the host's System V IPC and POSIX message queues"),
        check_devices(cfg),
        check_rlimits(cfg),
        check_propagation(cfg),
        ns.check(&C_UTS, "uts", Status::Warn, "shares the host's hostname and domain name"),
        check_seccomp_profile(cfg),
        check_nnp(cfg),
        check_pids(cfg),
        check_root_user(cfg, &ns),
        check_sockets(&mounts, t, ctx),
        check_masked(cfg),
        check_sysctls(cfg, &ns),
        check_mntns(&ns),
    ];
    v.sort_by_key(|a| id_key(a.id));
    v.into_iter().map(tag).collect()
}

/// `CAISSON-5.10` → [5, 10] for numeric ordering.
fn id_key(id: &str) -> Vec<u32> {
    id.trim_start_matches("CAISSON-")
        .split('.')
        .map(|n| n.parse().unwrap_or(0))
        .collect()
}

/// linux.namespaces: type → path (None: a new namespace).
struct Namespaces(BTreeMap<String, Option<String>>);

impl Namespaces {
    fn of(cfg: &Value) -> Namespaces {
        let mut m = BTreeMap::new();
        for n in cfg
            .pointer("/linux/namespaces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = n["type"].as_str() {
                m.insert(
                    t.to_string(),
                    n["path"]
                        .as_str()
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                );
            }
        }
        Namespaces(m)
    }

    /// Private (a new namespace of its own)?
    fn private(&self, t: &str) -> bool {
        matches!(self.0.get(t), Some(None))
    }

    fn check(&self, def: &Def, t: &str, missing: Status, why: &str) -> Finding {
        match self.0.get(t) {
            None => def.at(
                missing,
                format!("linux.namespaces has no \"{t}\" entry: the container {why}"),
            ),
            Some(Some(p)) if p.starts_with("/proc/1/ns/") => def.at(
                missing,
                format!("linux.namespaces \"{t}\" joins {p}, the host init's namespace: the container {why}"),
            ),
            Some(Some(p)) => def.at(
                Status::Warn,
                format!("linux.namespaces \"{t}\" joins the existing namespace at {p} (shared with whatever else is in it)"),
            ),
            Some(None) => def.at(
                Status::Pass,
                format!("linux.namespaces has \"{t}\": a namespace of its own"),
            ),
        }
    }
}

fn norm_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Every capability in any of the process's five sets.
fn cap_union(cfg: &Value) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        for c in cfg
            .pointer(&format!("/process/capabilities/{set}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            s.insert(norm_cap(c));
        }
    }
    s
}

/// In Docker's default set, left out of Caisson's.
const DOCKER_EXTRA_CAPS: &[&str] = &[
    "CAP_NET_RAW",
    "CAP_MKNOD",
    "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
    "CAP_SYS_CHROOT",
];

fn check_caps(caps: &BTreeSet<String>) -> Finding {
    let default: BTreeSet<&str> = caisson_engine::spec::DEFAULT_CAPS.iter().copied().collect();
    let extra: Vec<&String> = caps
        .iter()
        .filter(|c| !default.contains(c.as_str()))
        .collect();
    if extra.is_empty() {
        return C_CAPS.at(
            Status::Pass,
            format!(
                "process.capabilities: {} (within the default set: {})",
                if caps.is_empty() {
                    "none".to_string()
                } else {
                    caps.iter().cloned().collect::<Vec<_>>().join(" ")
                },
                caisson_engine::spec::DEFAULT_CAPS.join(" ")
            ),
        );
    }
    let (mild, risky): (Vec<&String>, Vec<&String>) = extra
        .iter()
        .partition(|c| DOCKER_EXTRA_CAPS.contains(&c.as_str()));
    let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
    if risky.is_empty() {
        C_CAPS.at(
            Status::Warn,
            format!(
                "process.capabilities adds {} (in Docker's default set, dropped by Caisson's)",
                list(&mild)
            ),
        )
    } else {
        let mut d = format!("process.capabilities adds {}", list(&risky));
        if !mild.is_empty() {
            d.push_str(&format!(" and {}", list(&mild)));
        }
        d.push_str(&format!(" ({} beyond the default set)", extra.len()));
        C_CAPS.at(Status::Fail, d)
    }
}

fn check_privileged(cfg: &Value, caps: &BTreeSet<String>) -> Finding {
    let names = &caisson_container::caps::NAMES;
    let last = usize::try_from(caisson_container::caps::last_cap())
        .unwrap_or(names.len() - 1)
        .min(names.len() - 1);
    let all = names[..=last].iter().all(|n| caps.contains(*n));
    let mut why = Vec::new();
    if all {
        why.push(format!(
            "process.capabilities hold every capability ({} of {} the kernel knows)",
            caps.len(),
            last + 1
        ));
    } else if caps.contains("CAP_SYS_ADMIN") {
        why.push(
            "process.capabilities hold CAP_SYS_ADMIN (mount, namespaces, most of root's power)"
                .to_string(),
        );
    }
    if why.is_empty() {
        return C_PRIVILEGED.at(
            Status::Pass,
            format!("{} capabilities, no CAP_SYS_ADMIN", caps.len()),
        );
    }
    // the other marks of --privileged, for the record
    if cfg
        .pointer("/linux/maskedPaths")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        why.push("no maskedPaths".into());
    }
    if cfg.pointer("/linux/seccomp").is_none_or(Value::is_null) {
        why.push("no seccomp".into());
    }
    C_PRIVILEGED.at(Status::Fail, why.join("; "))
}

fn check_apparmor(cfg: &Value, ctx: &Ctx) -> Finding {
    match cfg
        .pointer("/process/apparmorProfile")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some("unconfined") => C_APPARMOR.at(
            Status::Warn,
            "process.apparmorProfile = \"unconfined\"",
        ),
        Some(p) => C_APPARMOR.at(Status::Pass, format!("process.apparmorProfile = {p:?}")),
        None if ctx.apparmor => C_APPARMOR.at(
            Status::Info,
            "process.apparmorProfile is not set: AppArmor is enabled on this host but does not confine the container",
        ),
        None => C_APPARMOR.at(
            Status::Skip,
            "process.apparmorProfile is not set, and AppArmor is not enabled on this host",
        ),
    }
}

fn check_selinux(cfg: &Value, ctx: &Ctx) -> Finding {
    match cfg
        .pointer("/process/selinuxLabel")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some(l) => C_SELINUX.at(Status::Pass, format!("process.selinuxLabel = {l:?}")),
        None if ctx.selinux => C_SELINUX.at(
            Status::Info,
            "process.selinuxLabel is not set: SELinux is enabled on this host but the container runs with the runtime's label",
        ),
        None => C_SELINUX.at(
            Status::Skip,
            "process.selinuxLabel is not set, and SELinux is not enabled on this host",
        ),
    }
}

/// A bind mount of the config.
struct Bind {
    index: usize,
    destination: String,
    /// The source as written.
    source: String,
    /// Lexical and canonical forms of the source.
    forms: Vec<PathBuf>,
    read_only: bool,
}

fn bind_mounts(cfg: &Value, bundle: &Path) -> Vec<Bind> {
    let mut v = Vec::new();
    for (i, m) in cfg["mounts"].as_array().into_iter().flatten().enumerate() {
        let opts: Vec<&str> = m["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let is_bind = m["type"].as_str() == Some("bind")
            || opts.iter().any(|o| *o == "bind" || *o == "rbind");
        let Some(src) = m["source"].as_str() else {
            continue;
        };
        if !is_bind {
            continue;
        }
        let read_only = opts
            .iter()
            .rev()
            .find(|o| matches!(**o, "ro" | "rw" | "rro"))
            .is_some_and(|o| *o != "rw");
        let abs = if Path::new(src).is_absolute() {
            PathBuf::from(src)
        } else {
            bundle.join(src)
        };
        let lex = lexical(&abs);
        let mut forms = vec![lex.clone()];
        if let Ok(c) = std::fs::canonicalize(&abs) {
            if c != lex {
                forms.push(c);
            }
        }
        v.push(Bind {
            index: i,
            destination: m["destination"].as_str().unwrap_or("?").to_string(),
            source: src.to_string(),
            forms,
            read_only,
        });
    }
    v
}

const SENSITIVE: &[&str] = &[
    "/", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/usr", "/bin", "/sbin", "/proc",
    "/sys", "/run", "/var/run", "/root",
];

fn exempt(b: &Bind, t: &Target) -> bool {
    b.forms
        .iter()
        .any(|f| t.exempt.iter().any(|e| f.starts_with(e)))
}

fn describe(b: &Bind) -> String {
    format!(
        "mounts[{}] {} -> {} ({})",
        b.index,
        b.source,
        b.destination,
        if b.read_only { "read-only" } else { "WRITABLE" }
    )
}

fn check_sensitive(mounts: &[Bind], t: &Target) -> Finding {
    let mut st = Status::Pass;
    let mut lines = Vec::new();
    let mut ro_files = Vec::new();
    for b in mounts.iter().filter(|b| !exempt(b, t)) {
        let exact = SENSITIVE
            .iter()
            .find(|s| b.forms.iter().any(|f| f == Path::new(s)));
        let under = SENSITIVE.iter().filter(|s| **s != "/").find(|s| {
            b.forms
                .iter()
                .any(|f| f.starts_with(s) && f != Path::new(s))
        });
        if let Some(s) = exact {
            let s_st = if b.read_only {
                Status::Warn
            } else {
                Status::Fail
            };
            st = st.max(s_st);
            lines.push(format!("{}: the host's {s}", describe(b)));
        } else if let Some(s) = under {
            if b.read_only {
                ro_files.push(describe(b));
            } else {
                st = st.max(Status::Warn);
                lines.push(format!("{}: under the host's {s}", describe(b)));
            }
        }
    }
    if lines.is_empty() {
        let mut d = format!(
            "no bind mount of a host system directory ({} bind mounts)",
            mounts.len()
        );
        if !ro_files.is_empty() {
            d.push_str(&format!(
                "; read-only binds below them: {}",
                ro_files.join("; ")
            ));
        }
        return C_SENSITIVE.at(Status::Pass, d);
    }
    C_SENSITIVE.at(st, lines.join("; "))
}

/// Engine sockets and state: binding them (or a directory holding them) gives a
/// container the host.
const ENGINE_PATHS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/var/run/podman/podman.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/buildkit/buildkitd.sock",
    "/run/caisson",
    "/run/caisson-runtime",
    "/var/lib/caisson",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/containers",
];

fn check_sockets(mounts: &[Bind], t: &Target, ctx: &Ctx) -> Finding {
    let mut engine_paths: Vec<PathBuf> = ENGINE_PATHS.iter().map(PathBuf::from).collect();
    engine_paths.push(ctx.root.clone());
    let mut st = Status::Pass;
    let mut lines = Vec::new();
    for b in mounts.iter().filter(|b| !exempt(b, t)) {
        let hit = engine_paths.iter().find_map(|e| {
            b.forms.iter().find_map(|f| {
                if f == e {
                    Some(format!("{}: is {}", describe(b), e.display()))
                } else if e.starts_with(f) && e.exists() {
                    Some(format!("{}: holds {}", describe(b), e.display()))
                } else {
                    None
                }
            })
        });
        let name_hit = || {
            b.forms.iter().find_map(|f| {
                let n = f.file_name()?.to_string_lossy().to_ascii_lowercase();
                let engine_name = [
                    "docker",
                    "containerd",
                    "podman",
                    "crio",
                    "caisson",
                    "buildkit",
                ]
                .iter()
                .any(|x| n.contains(x));
                (n.ends_with(".sock") && engine_name)
                    .then(|| format!("{}: a container engine socket", describe(b)))
            })
        };
        if let Some(l) = hit.or_else(name_hit) {
            st = Status::Fail;
            lines.push(l);
        } else if b
            .forms
            .iter()
            .any(|f| std::fs::metadata(f).is_ok_and(|m| m.file_type().is_socket()))
        {
            st = st.max(Status::Warn);
            lines.push(format!("{}: a host UNIX socket", describe(b)));
        }
    }
    if lines.is_empty() {
        C_SOCKETS.at(
            Status::Pass,
            format!(
                "no bind mount of an engine socket or state ({} bind mounts)",
                mounts.len()
            ),
        )
    } else {
        C_SOCKETS.at(st, lines.join("; "))
    }
}

fn check_propagation(cfg: &Value) -> Finding {
    let mut bad = Vec::new();
    for (i, m) in cfg["mounts"].as_array().into_iter().flatten().enumerate() {
        for o in m["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if o == "shared" || o == "rshared" {
                bad.push(format!(
                    "mounts[{i}] {} has option {o:?}",
                    m["destination"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    let rp = cfg
        .pointer("/linux/rootfsPropagation")
        .and_then(Value::as_str);
    if let Some(p @ ("shared" | "rshared")) = rp {
        bad.push(format!("linux.rootfsPropagation = {p:?}"));
    }
    if bad.is_empty() {
        C_PROPAGATION.at(
            Status::Pass,
            format!(
                "no shared propagation (linux.rootfsPropagation = {})",
                rp.map_or_else(|| "unset".to_string(), |p| format!("{p:?}"))
            ),
        )
    } else {
        C_PROPAGATION.at(Status::Fail, bad.join("; "))
    }
}

fn check_seccomp_profile(cfg: &Value) -> Finding {
    let Some(s) = cfg.pointer("/linux/seccomp").filter(|s| !s.is_null()) else {
        return C_SECCOMP.at(
            Status::Fail,
            "linux.seccomp is absent: no system call filter (unconfined)",
        );
    };
    let da = s["defaultAction"].as_str().unwrap_or("");
    let rules = s["syscalls"].as_array().map_or(0, Vec::len);
    let allowish = |a: &str| matches!(a, "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG");
    let blocking = s["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| !allowish(r["action"].as_str().unwrap_or("SCMP_ACT_ALLOW")))
        .count();
    if da.is_empty() {
        C_SECCOMP.at(Status::Fail, "linux.seccomp has no defaultAction")
    } else if allowish(da) && blocking == 0 {
        C_SECCOMP.at(
            Status::Fail,
            format!("linux.seccomp.defaultAction = {da} and no rule blocks a call: as good as unconfined"),
        )
    } else if allowish(da) {
        C_SECCOMP.at(
            Status::Warn,
            format!("linux.seccomp.defaultAction = {da} with {blocking} blocking rules: a denylist, so calls it does not name (and new kernel calls) are allowed"),
        )
    } else {
        C_SECCOMP.at(
            Status::Pass,
            format!("linux.seccomp.defaultAction = {da}, {rules} syscall rules"),
        )
    }
}

fn check_nnp(cfg: &Value) -> Finding {
    match cfg.pointer("/process/noNewPrivileges") {
        Some(Value::Bool(true)) => C_NNP.at(Status::Pass, "process.noNewPrivileges = true"),
        Some(v) => C_NNP.at(
            Status::Fail,
            format!("process.noNewPrivileges = {v}: setuid binaries and file capabilities can raise privileges"),
        ),
        None => C_NNP.at(
            Status::Fail,
            "process.noNewPrivileges is not set: setuid binaries and file capabilities can raise privileges",
        ),
    }
}

fn positive(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64).filter(|n| *n > 0)
}

fn check_memory(cfg: &Value) -> Finding {
    match positive(cfg.pointer("/linux/resources/memory/limit")) {
        Some(n) => C_MEMORY.at(
            Status::Pass,
            format!("linux.resources.memory.limit = {n} ({} MiB)", n >> 20),
        ),
        None => C_MEMORY.at(
            Status::Warn,
            "linux.resources.memory.limit is not set: the container may use all the host's memory",
        ),
    }
}

fn check_cpu(cfg: &Value) -> Finding {
    let cpu = cfg.pointer("/linux/resources/cpu");
    let quota = positive(cpu.and_then(|c| c.get("quota")));
    let period = positive(cpu.and_then(|c| c.get("period")));
    let shares = positive(cpu.and_then(|c| c.get("shares")));
    let cpus = cpu
        .and_then(|c| c["cpus"].as_str())
        .filter(|s| !s.is_empty());
    let mut set = Vec::new();
    if let Some(q) = quota {
        set.push(format!(
            "linux.resources.cpu.quota = {q} per period {}",
            period.unwrap_or(100_000)
        ));
    }
    if let Some(s) = shares {
        set.push(format!("linux.resources.cpu.shares = {s}"));
    }
    if let Some(c) = cpus {
        set.push(format!("linux.resources.cpu.cpus = {c:?}"));
    }
    if set.is_empty() {
        C_CPU.at(
            Status::Warn,
            "linux.resources.cpu has no quota, shares or cpus: the container may take every CPU",
        )
    } else {
        C_CPU.at(Status::Pass, set.join(", "))
    }
}

fn check_pids(cfg: &Value) -> Finding {
    match positive(cfg.pointer("/linux/resources/pids/limit")) {
        Some(n) => C_PIDS.at(Status::Pass, format!("linux.resources.pids.limit = {n}")),
        None => C_PIDS.at(
            Status::Warn,
            "linux.resources.pids.limit is not set (or not positive): a fork bomb can exhaust the host's pids",
        ),
    }
}

fn check_readonly(cfg: &Value) -> Finding {
    if cfg.pointer("/root/readonly") == Some(&Value::Bool(true)) {
        C_READONLY.at(Status::Pass, "root.readonly = true")
    } else {
        C_READONLY.at(
            Status::Warn,
            "root.readonly is not true: the container can modify its root filesystem",
        )
    }
}

/// Device numbers every container gets: null, zero, full, random, urandom, tty,
/// console, ptmx, pts.
fn default_device(kind: &str, major: i64, minor: Option<i64>) -> bool {
    kind == "c"
        && match major {
            1 => matches!(minor, Some(3 | 5 | 7 | 8 | 9)),
            5 => matches!(minor, Some(0..=2)),
            136 => true,
            _ => false,
        }
}

const DEFAULT_DEVICE_PATHS: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/console",
    "/dev/ptmx",
];

fn check_devices(cfg: &Value) -> Finding {
    let mut st = Status::Pass;
    let mut lines = Vec::new();
    let mut allow_all: Option<usize> = None;
    let rules = cfg
        .pointer("/linux/resources/devices")
        .and_then(Value::as_array);
    let num = |v: &Value| v.as_i64().filter(|n| *n >= 0);
    for (i, r) in rules.into_iter().flatten().enumerate() {
        let allow = r["allow"].as_bool().unwrap_or(false);
        let kind = r["type"].as_str().unwrap_or("a");
        let (major, minor) = (num(&r["major"]), num(&r["minor"]));
        let access = r["access"].as_str().unwrap_or("rwm");
        let rw = access.contains('r') || access.contains('w');
        if kind == "a" && major.is_none() && minor.is_none() {
            if allow && rw {
                allow_all = Some(i);
            } else if !allow && access.contains('r') && access.contains('w') {
                allow_all = None;
            }
            continue;
        }
        if !(allow && rw) {
            continue;
        }
        let nums = format!(
            "{}:{}",
            major.map_or_else(|| "*".to_string(), |m| m.to_string()),
            minor.map_or_else(|| "*".to_string(), |m| m.to_string())
        );
        if major.is_none() {
            st = Status::Fail;
            lines.push(format!(
                "linux.resources.devices[{i}] allows every {kind} device ({kind} {nums} {access}: /dev/mem, disks...)"
            ));
        } else if !major.is_some_and(|m| default_device(kind, m, minor)) {
            st = st.max(Status::Warn);
            lines.push(format!(
                "linux.resources.devices[{i}] allows {kind} {nums} {access}"
            ));
        }
    }
    if let Some(i) = allow_all {
        st = Status::Fail;
        lines.insert(
            0,
            format!("linux.resources.devices[{i}] allows every device (allow: true, all types) and no later rule denies them"),
        );
    }
    for d in cfg
        .pointer("/linux/devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let p = d["path"].as_str().unwrap_or("?");
        if !DEFAULT_DEVICE_PATHS.contains(&p) && !p.starts_with("/dev/pts/") {
            st = st.max(Status::Warn);
            lines.push(format!(
                "linux.devices creates {p} ({} {}:{})",
                d["type"].as_str().unwrap_or("?"),
                d["major"],
                d["minor"]
            ));
        }
    }
    if lines.is_empty() {
        C_DEVICES.at(
            Status::Pass,
            match rules {
                Some(r) => format!("{} device rules, none opening a host device beyond the defaults; linux.devices adds none", r.len()),
                None => "no linux.resources.devices rules (the runtime allows only the default devices); linux.devices adds none".to_string(),
            },
        )
    } else {
        C_DEVICES.at(st, lines.join("; "))
    }
}

fn check_rlimits(cfg: &Value) -> Finding {
    let list: Vec<(String, u64, u64)> = cfg
        .pointer("/process/rlimits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["type"].as_str()?.to_string(),
                r["soft"].as_u64().unwrap_or(u64::MAX),
                r["hard"].as_u64().unwrap_or(u64::MAX),
            ))
        })
        .collect();
    let show = |n: u64| {
        if n == u64::MAX {
            "unlimited".to_string()
        } else {
            n.to_string()
        }
    };
    let text = list
        .iter()
        .map(|(t, s, h)| format!("{t}={}/{}", show(*s), show(*h)))
        .collect::<Vec<_>>()
        .join(", ");
    match list.iter().find(|(t, _, _)| t == "RLIMIT_NOFILE") {
        None => C_RLIMITS.at(
            Status::Info,
            if list.is_empty() {
                "process.rlimits is empty: the container inherits the runtime's limits".to_string()
            } else {
                format!("process.rlimits: {text}; no RLIMIT_NOFILE, the container inherits the runtime's")
            },
        ),
        Some((_, _, h)) if *h > 1_048_576 => C_RLIMITS.at(
            Status::Warn,
            format!("process.rlimits: {text}; RLIMIT_NOFILE hard limit {} is above 1048576", show(*h)),
        ),
        Some(_) => C_RLIMITS.at(Status::Pass, format!("process.rlimits: {text}")),
    }
}

fn check_root_user(cfg: &Value, ns: &Namespaces) -> Finding {
    let uid = cfg
        .pointer("/process/user/uid")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let gid = cfg
        .pointer("/process/user/gid")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    match ns.0.get("user") {
        None => {
            if uid == 0 {
                C_USERNS.at(
                    Status::Warn,
                    "process.user.uid = 0 and linux.namespaces has no \"user\" entry: container root is host root (held in only by capabilities, seccomp and namespaces)",
                )
            } else {
                C_USERNS.at(
                    Status::Pass,
                    format!("process.user = {uid}:{gid} (not root); no user namespace"),
                )
            }
        }
        Some(Some(p)) => C_USERNS.at(
            Status::Info,
            format!("linux.namespaces \"user\" joins {p}: its mappings are not in the config"),
        ),
        Some(None) => {
            let maps = |k: &str| -> Vec<(u64, u64, u64)> {
                cfg.pointer(&format!("/linux/{k}"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|m| {
                        (
                            m["containerID"].as_u64().unwrap_or(0),
                            m["hostID"].as_u64().unwrap_or(0),
                            m["size"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            };
            let (u, g) = (maps("uidMappings"), maps("gidMappings"));
            let to_root = |m: &[(u64, u64, u64)]| m.iter().any(|(_, h, s)| *h == 0 && *s > 0);
            if to_root(&u) || to_root(&g) {
                C_USERNS.at(
                    Status::Fail,
                    "a user namespace whose linux.uidMappings/gidMappings map a container id to host id 0 (host root)",
                )
            } else if u.is_empty() {
                C_USERNS.at(
                    Status::Info,
                    "a new user namespace without linux.uidMappings (the runtime maps it)",
                )
            } else {
                let host_root = u
                    .iter()
                    .find(|(c, _, s)| *c == 0 && *s > 0)
                    .map(|(_, h, _)| *h);
                C_USERNS.at(
                    Status::Pass,
                    match host_root {
                        Some(h) => format!("user namespace: container uid 0 is host uid {h} (linux.uidMappings); process.user.uid = {uid}"),
                        None => format!("user namespace: container uid 0 is not mapped; process.user.uid = {uid}"),
                    },
                )
            }
        }
    }
}

const WANT_MASKED: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/sys/firmware",
];
const WANT_READONLY: &[&str] = &["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"];

fn check_masked(cfg: &Value) -> Finding {
    let list = |k: &str| -> BTreeSet<String> {
        cfg.pointer(&format!("/linux/{k}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let (masked, ro) = (list("maskedPaths"), list("readonlyPaths"));
    if masked.is_empty() && ro.is_empty() {
        return C_MASKED.at(
            Status::Fail,
            "linux.maskedPaths and linux.readonlyPaths are empty: /proc/kcore, /proc/keys, /proc/sys, /proc/sysrq-trigger... are open to the container",
        );
    }
    let miss_m: Vec<&str> = WANT_MASKED
        .iter()
        .copied()
        .filter(|p| !masked.contains(*p))
        .collect();
    let miss_r: Vec<&str> = WANT_READONLY
        .iter()
        .copied()
        .filter(|p| !ro.contains(*p) && !masked.contains(*p))
        .collect();
    if miss_m.is_empty() && miss_r.is_empty() {
        C_MASKED.at(
            Status::Pass,
            format!(
                "linux.maskedPaths: {} entries, linux.readonlyPaths: {} entries, covering {} and {}",
                masked.len(),
                ro.len(),
                WANT_MASKED.join(" "),
                WANT_READONLY.join(" ")
            ),
        )
    } else {
        let mut d = Vec::new();
        if !miss_m.is_empty() {
            d.push(format!("linux.maskedPaths lacks {}", miss_m.join(" ")));
        }
        if !miss_r.is_empty() {
            d.push(format!("linux.readonlyPaths lacks {}", miss_r.join(" ")));
        }
        C_MASKED.at(Status::Warn, d.join("; "))
    }
}

fn check_sysctls(cfg: &Value, ns: &Namespaces) -> Finding {
    let Some(map) = cfg
        .pointer("/linux/sysctl")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    else {
        return C_SYSCTL.at(Status::Pass, "linux.sysctl is empty");
    };
    let mut st = Status::Pass;
    let mut lines = Vec::new();
    for (k, v) in map {
        let val = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        let ipc = k.starts_with("kernel.shm")
            || k.starts_with("kernel.msg")
            || k == "kernel.sem"
            || k.starts_with("fs.mqueue.");
        let (needs, ok) = if k.starts_with("net.") {
            ("network", ns.private("network"))
        } else if ipc {
            ("ipc", ns.private("ipc"))
        } else if k == "kernel.hostname" || k == "kernel.domainname" {
            ("uts", ns.private("uts"))
        } else {
            ("", false)
        };
        if ok {
            lines.push(format!(
                "{k} = {val} (in the container's own {needs} namespace)"
            ));
        } else {
            st = Status::Fail;
            lines.push(if needs.is_empty() {
                format!("{k} = {val}: not namespaced, it changes the host's kernel")
            } else {
                format!("{k} = {val}: the container has no {needs} namespace of its own, so it changes the host's")
            });
        }
    }
    C_SYSCTL.at(st, format!("linux.sysctl: {}", lines.join("; ")))
}

fn check_mntns(ns: &Namespaces) -> Finding {
    let mnt = ns.check(
        &C_MNTNS,
        "mount",
        Status::Fail,
        "shares the host's mount table",
    );
    let cg = ns.check(
        &C_MNTNS,
        "cgroup",
        Status::Warn,
        "sees the host's cgroup hierarchy paths",
    );
    let st = mnt.status.max(cg.status);
    C_MNTNS.at(st, format!("{}; {}", mnt.details, cg.details))
}

// ---------------------------------------------------------------- output

#[derive(Debug, Default, Serialize)]
struct Summary {
    pass: usize,
    warn: usize,
    fail: usize,
    info: usize,
    skip: usize,
}

fn summary(findings: &[Finding]) -> Summary {
    let mut s = Summary::default();
    for f in findings {
        match f.status {
            Status::Pass => s.pass += 1,
            Status::Warn => s.warn += 1,
            Status::Fail => s.fail += 1,
            Status::Info => s.info += 1,
            Status::Skip => s.skip += 1,
        }
    }
    s
}

fn write_json(mut out: impl Write, engine: &Engine, findings: &[Finding]) -> Result<()> {
    /// The JSON document (fields in this order).
    #[derive(Serialize)]
    struct Doc<'a> {
        version: u32,
        root: &'a Path,
        summary: Summary,
        checks: &'a [Finding],
    }
    let doc = Doc {
        version: 1,
        root: &engine.root,
        summary: summary(findings),
        checks: findings,
    };
    writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

fn write_table(mut out: impl Write, findings: &[Finding]) -> Result<()> {
    let idw = findings
        .iter()
        .map(|f| f.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let pad = " ".repeat(idw + 1 + 6 + 1 + 8 + 1);
    writeln!(
        out,
        "{:<idw$} {:<6} {:<8} TITLE",
        "ID", "STATUS", "SEVERITY"
    )?;
    let mut group = String::new();
    for f in findings {
        let g = match (&f.container, f.section) {
            (Some(t), _) => format!(
                "[{} {}{}] {}",
                t.kind,
                t.name,
                t.id.as_deref()
                    .filter(|id| *id != t.name)
                    .map(|id| format!(" ({})", &id[..id.len().min(12)]))
                    .unwrap_or_default(),
                t.config.display()
            ),
            (None, Section::Host) => "[host]".to_string(),
            (None, Section::Files) => "[files]".to_string(),
            (None, Section::Containers) => "[containers]".to_string(),
        };
        if g != group {
            writeln!(out, "\n{g}")?;
            group = g;
        }
        writeln!(
            out,
            "{:<idw$} {:<6} {:<8} {}",
            f.id,
            f.status.as_str(),
            f.severity.as_str(),
            f.title
        )?;
        match f.status {
            Status::Pass => {}
            Status::Skip => writeln!(out, "{pad}reason: {}", f.details)?,
            _ => {
                writeln!(out, "{pad}details: {}", f.details)?;
                writeln!(out, "{pad}remediation: {}", f.remediation)?;
            }
        }
    }
    let s = summary(findings);
    writeln!(
        out,
        "\n{} checks: {} pass, {} warn, {} fail, {} info, {} skip",
        findings.len(),
        s.pass,
        s.warn,
        s.fail,
        s.info,
        s.skip
    )?;
    Ok(())
}
