//! Caisson's default seccomp profile: default-deny (`SCMP_ACT_ERRNO` / `EPERM`, as
//! Docker's), an allowlist written here as data, and the argument-conditioned and
//! capability-gated rules Docker's profile has — made a little stricter where that is
//! cheap for normal workloads ([`stricter_than_docker`] lists every such choice).
//!
//! [`default_profile`] returns the OCI `linux.seccomp` object for the host
//! architecture (x86_64 with its x86 and x32 sub-ABIs, or aarch64 with 32-bit ARM);
//! [`profile_for`] builds it for a given one.
//!
//! How the profile is put together:
//!
//! - [`allowlist`]: syscalls every container gets, grouped by purpose; plus a few per
//!   architecture (`arch_prctl` on x86, `cacheflush`/`set_tls` on ARM …).
//! - Capability-gated groups (Docker's `includes.caps`): e.g. `mount`, `unshare`,
//!   `setns` only with `CAP_SYS_ADMIN`, `ptrace` and `process_vm_*` only with
//!   `CAP_SYS_PTRACE`, `chroot` only with `CAP_SYS_CHROOT`.
//! - Argument conditions: `personality` only with the five safe personas; `clone`
//!   without namespace flags (unless `CAP_SYS_ADMIN`); `clone3` answered `ENOSYS` so
//!   libc falls back to `clone` (its flags live in memory seccomp cannot read);
//!   `socket` only for AF_UNIX, AF_INET, AF_INET6, AF_NETLINK (the audit protocol only
//!   with `CAP_AUDIT_WRITE`, else `EINVAL` so PAM and sudo carry on as on a kernel
//!   without audit) and AF_PACKET (with `CAP_NET_RAW`); `socketpair` only for AF_UNIX.
//! - Denials with `ENOSYS` instead of `EPERM` where callers fall back when a syscall
//!   "does not exist" (`io_uring_*`, the futex2 calls, `fchmodat2` …).
//!
//! Rules of one syscall never overlap with different actions (libseccomp's choice
//! between overlapping rules is not something to rely on), and argument comparisons
//! for `int` arguments look at the low 32 bits only (`SCMP_CMP_MASKED_EQ` with mask
//! `0xffffffff`), because the kernel truncates them: a plain 64-bit comparison such
//! as Docker's `family > 40` lets `0x1_0000_0028` (AF_VSOCK with junk in the high
//! half) through.
//!
//! Limits, shared with Docker's profile: on the 32-bit x86 ABI, `socket` reached
//! through the `socketcall(2)` multiplexer cannot be argument-filtered (its arguments
//! are in memory), so the family restriction holds for every other ABI only; and
//! syscalls newer than libseccomp 2.5 (see [`newer_than_libseccomp`]) cannot be
//! named, so the default action (`EPERM`) answers them.

use std::collections::BTreeSet;

use serde_json::{json, Value};

/// `EPERM`: the default action's errno, as Docker's profile.
const EPERM: u32 = 1;
/// `EINVAL`: what an audit netlink socket gets without `CAP_AUDIT_WRITE`.
const EINVAL: u32 = 22;
/// `ENOSYS`: "no such syscall" — callers fall back to an older interface.
const ENOSYS: u32 = 38;

/// Namespace flags `clone(2)` may not carry without `CAP_SYS_ADMIN`:
/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
/// CLONE_NEWPID | CLONE_NEWNET (the mask of Docker's rule).
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// Low 32 bits of an argument: what the kernel sees of an `int` parameter.
const LOW32: u64 = 0xFFFF_FFFF;

/// Socket families: AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET.
const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const AF_NETLINK: u64 = 16;
const AF_PACKET: u64 = 17;
/// `NETLINK_AUDIT`, the netlink protocol gated on `CAP_AUDIT_WRITE`.
const NETLINK_AUDIT: u64 = 9;
/// Every netlink protocol but `NETLINK_AUDIT` (the kernel has 32, `MAX_LINKS`), as
/// `(mask, value)` pairs over the low 32 bits: 0-7, 8, 10-11, 12-15, 16-31.
const NETLINK_NOT_AUDIT: &[(u64, u64)] = &[
    (0xFFFF_FFF8, 0),
    (0xFFFF_FFFF, 8),
    (0xFFFF_FFFE, 10),
    (0xFFFF_FFFC, 12),
    (0xFFFF_FFF0, 16),
];

/// `personality(2)` values allowed (as Docker): PER_LINUX, PER_LINUX32, UNAME26,
/// PER_LINUX32|UNAME26 and 0xffffffff (query the current persona).
const PERSONAS: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xFFFF_FFFF];

/// Syscalls every container may make, grouped by purpose.
#[rustfmt::skip]
const ALLOWLIST: &[(&str, &[&str])] = &[
    (
        "file descriptors and I/O",
        &[
            "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "preadv2",
            "pwritev", "pwritev2", "lseek", "_llseek", "close", "close_range", "dup", "dup2",
            "dup3", "fcntl", "fcntl64", "ioctl", "flock", "fsync", "fdatasync", "sync", "syncfs",
            "sync_file_range", "readahead", "fadvise64", "fadvise64_64", "fallocate",
            "copy_file_range", "sendfile", "sendfile64", "splice", "tee",
        ],
    ),
    (
        "opening files, metadata, directories",
        &[
            "open", "openat", "openat2", "creat", "stat", "stat64", "lstat", "lstat64", "fstat",
            "fstat64", "fstatat64", "newfstatat", "statx", "statfs", "statfs64", "fstatfs",
            "fstatfs64", "access", "faccessat", "faccessat2", "getdents", "getdents64", "getcwd",
            "chdir", "fchdir", "mkdir", "mkdirat", "mknod", "mknodat", "rmdir", "link", "linkat",
            "symlink", "symlinkat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
            "readlink", "readlinkat", "truncate", "truncate64", "ftruncate", "ftruncate64",
            "name_to_handle_at",
        ],
    ),
    (
        "ownership, modes, times, extended attributes",
        &[
            "chmod", "fchmod", "fchmodat", "chown", "chown32", "fchown", "fchown32", "fchownat",
            "lchown", "lchown32", "umask", "utime", "utimes", "utimensat", "utimensat_time64",
            "futimesat", "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr",
            "fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
            "fremovexattr",
        ],
    ),
    (
        "file events, asynchronous I/O, memory-backed files",
        &[
            "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
            "fanotify_mark", "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents",
            "memfd_create", "memfd_secret",
        ],
    ),
    (
        "memory",
        &[
            "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore",
            "msync", "mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages",
            "membarrier", "pkey_alloc", "pkey_free", "pkey_mprotect",
        ],
    ),
    (
        "processes and threads (clone: see the argument rules)",
        &[
            "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid",
            "waitpid", "set_tid_address", "set_robust_list", "get_robust_list", "futex",
            "futex_time64", "rseq", "prctl", "capget", "capset", "seccomp",
            "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
            "pidfd_open", "pidfd_send_signal", "process_mrelease", "restart_syscall",
        ],
    ),
    (
        "signals",
        &[
            "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
            "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
            "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "sigreturn", "sigprocmask",
            "signalfd", "signalfd4", "pause",
        ],
    ),
    (
        "credentials, sessions, process groups",
        &[
            "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid",
            "getegid32", "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups",
            "getgroups32", "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32",
            "setregid", "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32",
            "setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "setgroups", "setgroups32",
            "getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid", "getsid", "setsid",
        ],
    ),
    (
        "scheduling, priorities, resource limits, system information",
        &[
            "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr",
            "sched_setattr", "sched_getparam", "sched_setparam", "sched_getscheduler",
            "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
            "sched_rr_get_interval", "sched_rr_get_interval_time64", "getpriority",
            "setpriority", "ioprio_get", "ioprio_set", "getrlimit", "setrlimit", "ugetrlimit",
            "prlimit64", "getrusage", "getcpu", "times", "sysinfo", "uname", "getrandom",
        ],
    ),
    (
        "clocks, sleeps, timers (setting the clock: CAP_SYS_TIME)",
        &[
            "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
            "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep",
            "adjtimex", "clock_adjtime", "clock_adjtime64", "alarm", "getitimer", "setitimer",
            "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
            "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
            "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
        ],
    ),
    (
        "waiting for events, pipes",
        &[
            "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6",
            "pselect6_time64", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
            "epoll_wait", "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
            "pipe", "pipe2",
        ],
    ),
    (
        "sockets (socket, socketpair: see the argument rules)",
        &[
            "accept", "accept4", "bind", "connect", "listen", "getsockname", "getpeername",
            "getsockopt", "setsockopt", "send", "sendto", "sendmsg", "sendmmsg", "recv",
            "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64", "shutdown", "socketcall",
        ],
    ),
    (
        "System V and POSIX IPC",
        &[
            "ipc", "msgget", "msgctl", "msgsnd", "msgrcv", "semget", "semctl", "semop",
            "semtimedop", "semtimedop_time64", "shmget", "shmctl", "shmat", "shmdt", "mq_open",
            "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
            "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
        ],
    ),
];

/// Allowed on x86_64 profiles (x86_64, x86, x32): thread-local storage and CPU
/// features (`modify_ldt` is not: see [`stricter_than_docker`]).
const X86_ALLOW: &[&str] = &["arch_prctl", "get_thread_area", "set_thread_area"];

/// Allowed on aarch64 profiles (aarch64, 32-bit ARM): ARM's own variants and cache or
/// TLS helpers.
const ARM_ALLOW: &[&str] = &[
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
    "breakpoint",
    "cacheflush",
    "set_tls",
];

/// Allowed only when the container keeps the capability (the kernel checks it too;
/// the filter keeps the code behind them out of reach otherwise), as Docker's
/// `includes.caps`.
#[rustfmt::skip]
const CAP_GATED: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            // mounts and the new mount API
            "mount", "umount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick",
            "move_mount", "open_tree", "mount_setattr",
            // namespaces (clone and clone3 unconditionally: see the argument rules)
            "unshare", "setns", "clone", "clone3",
            // names, quotas, kernel log, tracing and BPF (CAP_BPF / CAP_PERFMON also)
            "sethostname", "setdomainname", "quotactl", "quotactl_fd", "syslog",
            "lookup_dcookie", "fanotify_init", "bpf", "perf_event_open",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &["ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
          "pidfd_getfd"],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["mbind", "get_mempolicy", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Denied with `ENOSYS` on every architecture, whatever the capabilities: callers
/// treat the syscall as absent and use an older interface.
const ENOSYS_ALWAYS: &[&str] = &[
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "io_pgetevents",
    "io_pgetevents_time64",
    "futex_waitv",
    "futex_wait",
    "futex_wake",
    "futex_requeue",
    "fchmodat2",
    "cachestat",
    "map_shadow_stack",
    "vmsplice",
];

/// Denied with `ENOSYS` on x86 profiles (what kernels built without
/// `CONFIG_MODIFY_LDT_SYSCALL` answer).
const X86_ENOSYS: &[&str] = &["modify_ldt"];

/// Our stricter choices, with the reason `caisson run --explain` prints.
const STRICTER_THAN_DOCKER: &[(&str, &str)] = &[
    (
        "ptrace",
        "only with CAP_SYS_PTRACE (Docker allows it on kernels >= 4.8): debugging only, and \
         it lets any process read and rewrite the memory of every other process of its uid \
         in the container; a repeated source of kernel bugs (CVE-2019-13272)",
    ),
    (
        "process_vm_readv",
        "only with CAP_SYS_PTRACE, like ptrace: reads another process's memory",
    ),
    (
        "process_vm_writev",
        "only with CAP_SYS_PTRACE, like ptrace: writes another process's memory",
    ),
    (
        "socket",
        "only AF_UNIX, AF_INET, AF_INET6, AF_NETLINK and (with CAP_NET_RAW) AF_PACKET; \
         NETLINK_AUDIT only with CAP_AUDIT_WRITE (else EINVAL); Docker denies only AF_ALG \
         and AF_VSOCK. The other families (TIPC, RDS, CAN, X.25, AX.25, Bluetooth, …) make \
         the host kernel load rarely used protocol modules that keep yielding privilege \
         escalations; families are compared on the low 32 bits the kernel uses",
    ),
    (
        "socketpair",
        "only AF_UNIX (the only family normal programs pair; AF_TIPC would load its module)",
    ),
    (
        "modify_ldt",
        "ENOSYS: x86 segment descriptors, needed only by Wine/DOSEMU for 16-bit code; a \
         source of kernel bugs (CVE-2015-3290, CVE-2017-17053) and compiled \
         out of hardened kernels, which answer ENOSYS too",
    ),
    (
        "vmsplice",
        "ENOSYS: zero-copy user pages into pipes, behind several root exploits \
         (CVE-2008-0600, CVE-2020-29374); podman's default denies it; callers fall back \
         to write(2)",
    ),
    (
        "io_pgetevents",
        "ENOSYS: signal-safe variant of io_getevents, almost unused; podman's default \
         denies it",
    ),
    (
        "io_pgetevents_time64",
        "ENOSYS: 32-bit variant of io_pgetevents (denied for the same reason)",
    ),
    (
        "futex_waitv",
        "ENOSYS: futex2 (Linux 5.16), used almost only by Wine/Proton; new code in a \
         subsystem with a history of privilege escalations (CVE-2014-3153, CVE-2021-3347); \
         not in podman's default; callers fall back to futex(2)",
    ),
    (
        "futex_wait",
        "ENOSYS: futex2 (Linux 6.7), same reasons as futex_waitv",
    ),
    (
        "futex_wake",
        "ENOSYS: futex2 (Linux 6.7), same reasons as futex_waitv",
    ),
    (
        "futex_requeue",
        "ENOSYS: futex2 (Linux 6.7), same reasons as futex_waitv",
    ),
    (
        "fchmodat2",
        "ENOSYS: Linux 6.6, not in podman's default; glibc >= 2.39 falls back to \
         fchmodat and an O_PATH descriptor, so nothing is lost",
    ),
    (
        "cachestat",
        "ENOSYS: Linux 6.5 page-cache residency query (a page-cache side channel, like \
         mincore before CVE-2019-5489), not in podman's default",
    ),
    (
        "map_shadow_stack",
        "ENOSYS: Linux 6.6 user-managed CET shadow stacks, not in podman's default; \
         glibc does not need it for its own threads",
    ),
];

/// Syscalls Docker's current profile allows that libseccomp 2.5 (Debian 12) cannot
/// name, so no profile built with it can allow them.
const NEWER_THAN_LIBSECCOMP: &[&str] = &[
    "getxattrat",
    "setxattrat",
    "listxattrat",
    "removexattrat",
    "listmount",
    "statmount",
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
    "mseal",
    "uretprobe",
    "riscv_hwprobe",
];

/// The architectures a profile is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileArch {
    /// x86_64 with the x86 (i386) and x32 sub-ABIs.
    X86_64,
    /// aarch64 with 32-bit ARM.
    Aarch64,
    /// Only the native architecture (no `architectures` list, no arch-specific
    /// syscalls): for hosts that are neither of the above.
    Native,
}

impl ProfileArch {
    /// The architecture this program was built for.
    pub fn host() -> Self {
        if cfg!(target_arch = "x86_64") {
            Self::X86_64
        } else if cfg!(target_arch = "aarch64") {
            Self::Aarch64
        } else {
            Self::Native
        }
    }

    /// The OCI `architectures` of the profile (empty: native only).
    pub fn oci_architectures(self) -> &'static [&'static str] {
        match self {
            Self::X86_64 => &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            Self::Aarch64 => &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            Self::Native => &[],
        }
    }
}

/// The default profile as OCI `linux.seccomp` JSON (serde_json::Value), for x86_64
/// (with SCMP_ARCH_X86, SCMP_ARCH_X32 sub-arches) and aarch64 (SCMP_ARCH_ARM) —
/// whichever this program runs on — given the capabilities the container keeps
/// (`"CAP_SYS_ADMIN"`; the `CAP_` prefix and case do not matter). Some syscalls are
/// allowed only with a capability, as in Docker's profile: e.g. CAP_SYS_PTRACE →
/// ptrace/process_vm_*, CAP_SYS_ADMIN → mount/umount2/unshare/setns/..., CAP_SYS_CHROOT
/// → chroot.
pub fn default_profile(kept_caps: &[&str]) -> Value {
    profile_for(ProfileArch::host(), kept_caps)
}

/// [`default_profile`] for an explicit architecture.
pub fn profile_for(arch: ProfileArch, kept_caps: &[&str]) -> Value {
    let keeps = |cap: &str| kept_caps.iter().any(|k| cap_name(k) == cap_name(cap));

    let mut allow: BTreeSet<&str> = ALLOWLIST
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    match arch {
        ProfileArch::X86_64 => allow.extend(X86_ALLOW),
        ProfileArch::Aarch64 => allow.extend(ARM_ALLOW),
        ProfileArch::Native => {}
    }
    for (cap, names) in CAP_GATED {
        if keeps(cap) {
            allow.extend(names.iter().copied());
        }
    }
    let sys_admin = keeps("CAP_SYS_ADMIN");

    let mut rules = vec![json!({"names": allow, "action": "SCMP_ACT_ALLOW"})];

    // personality: only the safe personas (no ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC …).
    // A 64-bit equality: junk in the high half only makes the call fail.
    for &persona in PERSONAS {
        rules.push(allow_if(
            "personality",
            vec![cmp(0, "SCMP_CMP_EQ", persona)],
        ));
    }

    // clone: without CAP_SYS_ADMIN, no namespace flag (CAP_SYS_ADMIN: allowed above).
    // clone3 passes its flags in memory, so without CAP_SYS_ADMIN it "does not
    // exist" and glibc falls back to clone.
    if !sys_admin {
        rules.push(allow_if(
            "clone",
            vec![masked_eq(0, CLONE_NAMESPACE_FLAGS, 0)],
        ));
        rules.push(errno(&["clone3"], ENOSYS));
    }

    // socket: an allowlist of families, compared on the low 32 bits.
    for family in [AF_UNIX, AF_INET, AF_INET6] {
        rules.push(allow_if("socket", vec![masked_eq(0, LOW32, family)]));
    }
    if keeps("CAP_AUDIT_WRITE") {
        rules.push(allow_if("socket", vec![masked_eq(0, LOW32, AF_NETLINK)]));
    } else {
        for &(mask, value) in NETLINK_NOT_AUDIT {
            rules.push(allow_if(
                "socket",
                vec![masked_eq(0, LOW32, AF_NETLINK), masked_eq(2, mask, value)],
            ));
        }
        let mut audit = errno(&["socket"], EINVAL);
        audit["args"] = json!([
            masked_eq(0, LOW32, AF_NETLINK),
            masked_eq(2, LOW32, NETLINK_AUDIT)
        ]);
        rules.push(audit);
    }
    if keeps("CAP_NET_RAW") {
        rules.push(allow_if("socket", vec![masked_eq(0, LOW32, AF_PACKET)]));
    }
    rules.push(allow_if("socketpair", vec![masked_eq(0, LOW32, AF_UNIX)]));

    let mut enosys: Vec<&str> = ENOSYS_ALWAYS.to_vec();
    if arch == ProfileArch::X86_64 {
        enosys.extend(X86_ENOSYS);
    }
    rules.push(errno(&enosys, ENOSYS));

    let mut profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "syscalls": rules,
    });
    let arches = arch.oci_architectures();
    if !arches.is_empty() {
        profile["architectures"] = json!(arches);
    }
    profile
}

/// Syscalls the profile denies even though Docker's default allows them (our stricter
/// choices), each with the reason — printed by `caisson run --explain`. An entry may
/// deny only some arguments (`socket`: families) or require a capability Docker does
/// not (`ptrace`); the reason says which.
pub fn stricter_than_docker() -> &'static [(&'static str, &'static str)] {
    STRICTER_THAN_DOCKER
}

/// Syscalls every container may make, grouped by purpose (before the argument rules,
/// the capability-gated groups and the per-architecture additions).
pub fn allowlist() -> &'static [(&'static str, &'static [&'static str])] {
    ALLOWLIST
}

/// Syscalls Docker's current profile allows that libseccomp 2.5 (Debian 12, which
/// generates our filters) cannot name: the default action (`EPERM`) answers them. Not
/// a policy choice; they go once libseccomp knows them.
pub fn newer_than_libseccomp() -> &'static [&'static str] {
    NEWER_THAN_LIBSECCOMP
}

/// `CAP_SYS_ADMIN`, `sys_admin`, `cap_sys_admin` → `SYS_ADMIN`.
fn cap_name(cap: &str) -> String {
    let up = cap.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

/// An OCI argument comparison.
fn cmp(index: u32, op: &str, value: u64) -> Value {
    json!({"index": index, "value": value, "op": op})
}

/// `(arg[index] & mask) == value`.
fn masked_eq(index: u32, mask: u64, value: u64) -> Value {
    json!({"index": index, "value": mask, "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ"})
}

/// A rule allowing `name` when every condition in `args` holds.
fn allow_if(name: &str, args: Vec<Value>) -> Value {
    json!({"names": [name], "action": "SCMP_ACT_ALLOW", "args": args})
}

/// A rule answering `names` with `errno`.
fn errno(names: &[&str], errno: u32) -> Value {
    json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errno})
}
