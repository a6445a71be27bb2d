//! OCI seccomp profiles (`linux.seccomp` in config.json) compiled to a kernel filter
//! with libseccomp.
//!
//! The profile is translated with the same rules as runc (actions, `errnoRet` /
//! `defaultErrnoRet`, architectures, flags, argument conditions, unknown syscall names
//! skipped, rules equal to the default action skipped) and libseccomp generates the
//! BPF program **once, in the runtime's parent process**: [`SeccompFilter::compile`]
//! keeps only the finished instructions and the kernel flags. [`SeccompFilter::load`],
//! called in the container init after clone, is then a single `seccomp(2)` call — it
//! does not allocate and does not enter libseccomp, so it is safe after `clone(2)` of
//! a multi-threaded parent and every error that can be found early (bad profile,
//! unsupported architecture or flag, program too large) is reported before anything
//! is created.
//!
//! [`SeccompFilter::compile_cached`] additionally keeps generated programs in a
//! directory, so a create with a profile seen before skips libseccomp entirely.
//!
//! For `SCMP_ACT_NOTIFY`, [`SeccompFilter::load`] returns the listener fd and
//! [`send_listener_fd`] hands it to the agent at `linux.seccomp.listenerPath` the way
//! runc does.
#![warn(missing_docs)]
#![deny(unsafe_code)]

use std::fs::File;
use std::io::{self, IoSlice, Read, Seek, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use libc::{c_ulong, sock_filter};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

/// Highest syscall argument index (syscalls have six arguments, 0-5).
const MAX_ARG_INDEX: usize = 5;
/// Largest classic BPF program the kernel accepts (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;
/// Size of one `struct sock_filter` instruction as exported by libseccomp.
const INSN_SIZE: usize = 8;
/// `errnoRet` is the 16-bit data of `SECCOMP_RET_ERRNO` / `SECCOMP_RET_TRACE`.
const MAX_RET_DATA: u32 = u16::MAX as u32;

/// Errors from compiling, loading or handing off a seccomp filter.
///
/// Profile errors start with the path of the offending field in config.json, e.g.
/// `linux.seccomp.syscalls[0].args[1].index: 6 out of range (0-5)`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// A numeric field (argument index, `errnoRet`, `defaultErrnoRet`) is out of range.
    #[error("{field}: {value} out of range ({min}-{max})")]
    OutOfRange {
        /// Path of the field, e.g. `linux.seccomp.syscalls[0].args[1].index`.
        field: String,
        /// The value found.
        value: u64,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// `SCMP_ACT_NOTIFY` is used where it cannot work (as the default action, or for
    /// `write`, which the runtime needs to hand the listener fd over; runc's rules).
    #[error("{field}: SCMP_ACT_NOTIFY cannot be used {context}")]
    NotifyNotAllowed {
        /// Path of the field.
        field: String,
        /// Where it was used, e.g. "as the default action".
        context: &'static str,
    },
    /// An architecture the linked libseccomp does not support.
    #[error("{field}: {arch} is not supported by libseccomp {version}: {source}")]
    UnsupportedArch {
        /// Path of the field, e.g. `linux.seccomp.architectures[1]`.
        field: String,
        /// The architecture.
        arch: Arch,
        /// Version of the linked libseccomp.
        version: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// A filter flag the running kernel does not support.
    #[error("{field}: {flag} is not supported by the running kernel")]
    UnsupportedFlag {
        /// Path of the field, e.g. `linux.seccomp.flags[0]`.
        field: String,
        /// The flag.
        flag: LinuxSeccompFilterFlag,
    },
    /// The running kernel cannot load this kind of filter at all.
    #[error("linux.seccomp: the running kernel does not support {feature}")]
    KernelUnsupported {
        /// The missing kernel feature.
        feature: &'static str,
    },
    /// libseccomp rejected a rule.
    #[error("{field}: cannot add a rule for syscall {syscall:?}: {source}")]
    Rule {
        /// Path of the syscall name, e.g. `linux.seccomp.syscalls[3].names[0]`.
        field: String,
        /// The syscall name.
        syscall: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// libseccomp failed to create the filter or to generate its program.
    #[error("linux.seccomp: libseccomp cannot {op}: {source}")]
    Libseccomp {
        /// What was being done.
        op: &'static str,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// The generated program is larger than the kernel accepts.
    #[error(
        "linux.seccomp: the compiled filter has {instructions} instructions, \
         more than the kernel limit of {max}"
    )]
    TooLarge {
        /// Number of BPF instructions generated.
        instructions: usize,
        /// The kernel's limit.
        max: usize,
    },
    /// Reading the generated program back from libseccomp failed.
    #[error("linux.seccomp: cannot {op} the compiled filter: {source}")]
    Export {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed.
    #[error("load seccomp filter: {source}{hint}")]
    Load {
        /// Extra explanation for well-known causes (may be empty).
        hint: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `SECCOMP_FILTER_FLAG_TSYNC` could not synchronise another thread.
    #[error(
        "load seccomp filter: thread {tid} could not be synchronised (SECCOMP_FILTER_FLAG_TSYNC)"
    )]
    Tsync {
        /// The thread that could not be synchronised.
        tid: libc::c_long,
    },
    /// Handing the listener fd to `listenerPath` failed.
    #[error("seccomp listener {path}: cannot {op}: {source}")]
    Listener {
        /// The `listenerPath`.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A compiled, not yet loaded filter.
///
/// Built in the runtime's parent process (so bad profiles fail before anything is
/// created) and loaded in the container init after clone (the memory is copied by
/// fork/clone without `CLONE_VM`). It holds the finished BPF program, so it is cheap
/// to keep, `Send + Sync`, and loading it needs no libseccomp state.
#[derive(Clone)]
pub struct SeccompFilter {
    /// The BPF program generated by libseccomp (at most [`BPF_MAXINSNS`] long).
    program: Vec<sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` passed to `seccomp(2)`.
    flags: c_ulong,
    /// Some rule uses `SCMP_ACT_NOTIFY` (`flags` has `NEW_LISTENER`).
    notify: bool,
}

impl std::fmt::Debug for SeccompFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeccompFilter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("notify", &self.notify)
            .finish()
    }
}

impl SeccompFilter {
    /// Validate and compile a `linux.seccomp` profile.
    ///
    /// Handles `defaultAction`, `defaultErrnoRet`, `architectures`, `flags` and
    /// `syscalls[].names/action/errnoRet/args` (`index`, `value`, `valueTwo`, `op`)
    /// like runc:
    /// - `SCMP_ACT_ERRNO` returns `errnoRet` (rules) or `defaultErrnoRet` (default
    ///   action), else `EPERM`; `SCMP_ACT_TRACE` uses them as the tracer's message
    ///   number, else `EPERM`; `SCMP_ACT_KILL` is `SCMP_ACT_KILL_THREAD`.
    /// - A rule whose action equals the default action is skipped.
    /// - Several args with the same `index` become one rule per arg (OR); otherwise all
    ///   args form one rule (AND). For `SCMP_CMP_MASKED_EQ`, `value` is the mask and
    ///   `valueTwo` the expected result.
    /// - Syscall names unknown to libseccomp are skipped (debug log).
    /// - The native architecture is always in the filter.
    /// - `errnoRet` on other actions is ignored (runc); `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`
    ///   only applies when a rule uses `SCMP_ACT_NOTIFY` (the kernel refuses it otherwise).
    ///
    /// Unknown action, operator, architecture or flag strings are already rejected by
    /// `oci_spec` when the JSON is parsed; everything that parses but cannot be used
    /// (argument index > 5, `errnoRet` > 65535, `SCMP_ACT_NOTIFY` as the default action
    /// or for `write`, an architecture libseccomp lacks, a flag the kernel lacks, a
    /// program over the kernel's size limit) is an error naming the field, e.g.
    /// `linux.seccomp.syscalls[0].args[1].index: 6 out of range (0-5)`.
    pub fn compile(profile: &LinuxSeccomp) -> Result<Self, SeccompError> {
        let bytes = generate(profile)?;
        Self::finish(profile, parse_program(&bytes)?)
    }

    /// Like [`compile`](Self::compile), but reuse the program generated earlier for an
    /// identical profile, kept in `cache_dir` (crun does the same: generating the program
    /// of a Docker-style profile for x86_64+x86+x32 costs ~10 ms in libseccomp, a cache
    /// hit ~10 µs). Meant for a directory under the runtime's state root, e.g.
    /// `<root>/seccomp-cache`.
    ///
    /// The entry is found by a hash of the profile's filter fields, this crate's and
    /// libseccomp's versions and the CPU architecture, and is only used if it stores
    /// exactly the same key (no trust in the hash). `listenerPath`/`listenerMetadata`
    /// are not part of the key. `cache_dir` is created (mode 0700) if missing and is
    /// ignored unless it is owned by the effective uid and not writable by group or
    /// others; cache failures only cost speed (debug log). Profile errors are reported
    /// as by [`compile`](Self::compile) and never cached.
    pub fn compile_cached(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Self, SeccompError> {
        let key = cache::key(profile);
        let name = cache::file_name(&key);
        if let Some(program) = cache::lookup(cache_dir, &name, &key) {
            return Self::finish(profile, program);
        }
        let bytes = generate(profile)?;
        let program = parse_program(&bytes)?;
        if let Err(e) = cache::store(cache_dir, &name, &key, &bytes) {
            tracing::debug!("seccomp cache {}: not stored: {e}", cache_dir.display());
        }
        Self::finish(profile, program)
    }

    /// Add the kernel flags (probed) to a generated program.
    fn finish(profile: &LinuxSeccomp, program: Vec<sock_filter>) -> Result<Self, SeccompError> {
        let notify = profile
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify);
        let flags = kernel_flags(profile.flags().as_deref().unwrap_or_default(), notify)?;
        Ok(Self {
            program,
            flags,
            notify,
        })
    }

    /// True when some rule uses `SCMP_ACT_NOTIFY` (it cannot be the default action).
    /// [`load`](Self::load) then returns the listener fd.
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// Load the filter into the calling thread (and, with `SECCOMP_FILTER_FLAG_TSYNC`,
    /// all threads of the process; not needed for the single-threaded init).
    ///
    /// The caller must already have set `no_new_privs` or hold `CAP_SYS_ADMIN`. This is a
    /// single `seccomp(SECCOMP_SET_MODE_FILTER)` call: no allocation, no libseccomp.
    /// Returns the notify listener fd (close-on-exec) when [`uses_notify`](Self::uses_notify).
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let ret = sys::set_mode_filter(self.flags, &self.program).map_err(|source| {
            let hint = match source.raw_os_error() {
                Some(libc::EACCES) => " (no_new_privs is not set and CAP_SYS_ADMIN is missing)",
                Some(libc::EINVAL) => " (flags or program rejected by the kernel)",
                _ => "",
            };
            SeccompError::Load { hint, source }
        })?;
        if self.notify {
            Ok(Some(sys::own_fd(ret)))
        } else if ret != 0 {
            Err(SeccompError::Tsync { tid: ret })
        } else {
            Ok(None)
        }
    }
}

/// Send the seccomp listener fd to `listener_path` (a unix stream socket) as runc does:
/// one message whose payload is the container state JSON (OCI `ContainerProcessState`:
/// `{"ociVersion","fds":["seccompFd"],"pid","metadata","state":{...}}`) and whose
/// `SCM_RIGHTS` carries the fd.
///
/// The fd travels with the first byte of the payload (a stream socket cannot carry
/// ancillary data alone), so the payload must not be empty; if the kernel takes only
/// part of it, the rest follows on the same connection.
pub fn send_listener_fd(
    listener_path: &Path,
    fd: BorrowedFd<'_>,
    process_state_json: &[u8],
) -> Result<(), SeccompError> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let err = |op: &'static str, source: io::Error| SeccompError::Listener {
        path: listener_path.to_path_buf(),
        op,
        source,
    };
    if process_state_json.is_empty() {
        return Err(err(
            "send the listener fd",
            io::Error::new(io::ErrorKind::InvalidInput, "empty process state payload"),
        ));
    }
    let mut stream = UnixStream::connect(listener_path).map_err(|e| err("connect", e))?;
    let fds = [fd.as_raw_fd()];
    let sent = loop {
        match sendmsg::<UnixAddr>(
            stream.as_raw_fd(),
            &[IoSlice::new(process_state_json)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.map_err(|e| err("send the listener fd", e.into()))?,
        }
    };
    stream
        .write_all(&process_state_json[sent..])
        .map_err(|e| err("send the process state", e))
}

/// Validate `profile` and let libseccomp generate its BPF program (raw bytes).
fn generate(profile: &LinuxSeccomp) -> Result<Vec<u8>, SeccompError> {
    if profile.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(SeccompError::NotifyNotAllowed {
            field: "linux.seccomp.defaultAction".into(),
            context: "as the default action",
        });
    }
    let default = scmp_action(
        profile.default_action(),
        profile.default_errno_ret(),
        || "linux.seccomp.defaultErrnoRet".into(),
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|source| SeccompError::Libseccomp {
        op: "create a filter with this defaultAction",
        source,
    })?;

    for (i, &arch) in profile.architectures().iter().flatten().enumerate() {
        ctx.add_arch(scmp_arch(arch))
            .map_err(|source| SeccompError::UnsupportedArch {
                field: format!("linux.seccomp.architectures[{i}]"),
                arch,
                version: libseccomp::ScmpVersion::current()
                    .map_or_else(|_| "(unknown version)".into(), |v| v.to_string()),
                source,
            })?;
    }

    let mut conditions: Vec<ScmpArgCompare> = Vec::new();
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        let action = scmp_action(rule.action(), rule.errno_ret(), || {
            format!("linux.seccomp.syscalls[{i}].errnoRet")
        })?;
        let args = rule.args().as_deref().unwrap_or_default();
        let separate = build_conditions(i, args, &mut conditions)?;
        if action == ScmpAction::Notify {
            if let Some(j) = rule.names().iter().position(|n| n == "write") {
                return Err(SeccompError::NotifyNotAllowed {
                    field: format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                    context: "for the write syscall",
                });
            }
        }
        if action == default {
            // libseccomp refuses rules that repeat the default action; runc skips them.
            continue;
        }
        for (j, name) in rule.names().iter().enumerate() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                tracing::debug!(
                    "linux.seccomp.syscalls[{i}].names[{j}]: unknown syscall {name:?} ignored"
                );
                continue;
            };
            let added = if conditions.is_empty() {
                ctx.add_rule(action, syscall).map(drop)
            } else if separate {
                conditions
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(action, syscall, &[*c]).map(drop))
            } else {
                ctx.add_rule_conditional(action, syscall, &conditions)
                    .map(drop)
            };
            added.map_err(|source| SeccompError::Rule {
                field: format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                syscall: name.clone(),
                source,
            })?;
        }
    }

    export_program(&ctx)
}

/// libseccomp action for an OCI action; `errno_ret` is used by ERRNO and TRACE
/// (default `EPERM`, as runc) and ignored by the others.
fn scmp_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: impl FnOnce() -> String,
) -> Result<ScmpAction, SeccompError> {
    let data = || -> Result<u16, SeccompError> {
        match errno_ret {
            None => Ok(libc::EPERM as u16),
            Some(v) => u16::try_from(v).map_err(|_| SeccompError::OutOfRange {
                field: field(),
                value: v.into(),
                min: 0,
                max: MAX_RET_DATA.into(),
            }),
        }
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(data()?.into()),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// Validate `syscalls[rule].args` into `out` (cleared first). Returns true when some
/// index repeats, i.e. each condition must become its own rule (runc's OR semantics).
fn build_conditions(
    rule: usize,
    args: &[LinuxSeccompArg],
    out: &mut Vec<ScmpArgCompare>,
) -> Result<bool, SeccompError> {
    out.clear();
    let mut seen = [false; MAX_ARG_INDEX + 1];
    let mut repeated = false;
    for (k, arg) in args.iter().enumerate() {
        let index = arg.index();
        let Some(slot) = seen.get_mut(index) else {
            return Err(SeccompError::OutOfRange {
                field: format!("linux.seccomp.syscalls[{rule}].args[{k}].index"),
                value: u64::try_from(index).unwrap_or(u64::MAX),
                min: 0,
                max: MAX_ARG_INDEX as u64,
            });
        };
        repeated |= std::mem::replace(slot, true);
        let op = match arg.op() {
            LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
            LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
            LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
            LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
            LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
            LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
            // (arg & value) == valueTwo
            LinuxSeccompOperator::ScmpCmpMaskedEq => {
                let cmp = ScmpCompareOp::MaskedEqual(arg.value());
                let datum = arg.value_two().unwrap_or(0);
                out.push(ScmpArgCompare::new(index as u32, cmp, datum));
                continue;
            }
        };
        out.push(ScmpArgCompare::new(index as u32, op, arg.value()));
    }
    Ok(repeated)
}

/// `SECCOMP_FILTER_FLAG_*` for the profile's `flags` (checked against the running
/// kernel) plus `NEW_LISTENER` (and `TSYNC_ESRCH` with `TSYNC`) when notify is used.
fn kernel_flags(flags: &[LinuxSeccompFilterFlag], notify: bool) -> Result<c_ulong, SeccompError> {
    let bit = |flag| match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        }
    };
    let mut requested: c_ulong = flags.iter().map(|&f| bit(f)).fold(0, |a, b| a | b);
    let mut implied: c_ulong = 0;
    if notify {
        implied |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if requested & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            // TSYNC and NEW_LISTENER both return a number: report TSYNC failures as ESRCH.
            implied |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    } else {
        // Only meaningful for (and only accepted with) a notify listener.
        requested &= !libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }
    let all = requested | implied;
    if all == 0 || sys::flags_supported(all) {
        return Ok(all);
    }
    // Find the culprit to name it.
    if implied != 0 && !sys::flags_supported(implied) {
        return Err(SeccompError::KernelUnsupported {
            feature: "seccomp user notification (SCMP_ACT_NOTIFY)",
        });
    }
    for (i, &flag) in flags.iter().enumerate() {
        if bit(flag) & requested != 0 && !sys::flags_supported(bit(flag) | implied) {
            return Err(SeccompError::UnsupportedFlag {
                field: format!("linux.seccomp.flags[{i}]"),
                flag,
            });
        }
    }
    Err(SeccompError::KernelUnsupported {
        feature: "this combination of linux.seccomp.flags",
    })
}

/// Let libseccomp generate the BPF program and read it back (raw instructions).
fn export_program(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let export = |op| move |e: io::Error| SeccompError::Export { op, source: e };
    let memfd = memfd_create(c"caisson-seccomp-bpf", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| export("create a memfd for")(e.into()))?;
    let mut file = File::from(memfd);
    ctx.export_bpf(&file)
        .map_err(|source| SeccompError::Libseccomp {
            op: "generate the BPF program",
            source,
        })?;
    let len = file.stream_position().map_err(export("read"))?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > BPF_MAXINSNS * INSN_SIZE {
        return Err(SeccompError::TooLarge {
            instructions: len / INSN_SIZE,
            max: BPF_MAXINSNS,
        });
    }
    let mut bytes = vec![0u8; len];
    file.rewind().map_err(export("read"))?;
    file.read_exact(&mut bytes).map_err(export("read"))?;
    Ok(bytes)
}

/// Native-endian `struct sock_filter`s from raw bytes, checked against the kernel's limits.
fn parse_program(bytes: &[u8]) -> Result<Vec<sock_filter>, SeccompError> {
    if bytes.is_empty() || bytes.len() % INSN_SIZE != 0 {
        return Err(SeccompError::Export {
            op: "read",
            source: io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes is not a whole number of BPF instructions",
                    bytes.len()
                ),
            ),
        });
    }
    let instructions = bytes.len() / INSN_SIZE;
    if instructions > BPF_MAXINSNS {
        return Err(SeccompError::TooLarge {
            instructions,
            max: BPF_MAXINSNS,
        });
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|c| sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// On-disk cache of generated programs (see [`SeccompFilter::compile_cached`]).
///
/// Entry `<dir>/<16 hex digits>`: [`MAGIC`](cache::MAGIC), key length (u64 LE), key,
/// program bytes. Written to a temporary name and renamed, so readers never see a
/// partial entry.
mod cache {
    use std::fs::{self, DirBuilder, OpenOptions};
    use std::hash::{Hash, Hasher};
    use std::io::{self, Write};
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    use std::path::Path;

    use libc::sock_filter;
    use oci_spec::runtime::LinuxSeccomp;

    pub(crate) const MAGIC: &[u8; 16] = b"caisson-bpf-v1\n\0";
    /// Entries kept before the oldest half is evicted.
    const MAX_ENTRIES: usize = 64;

    /// Everything the generated program depends on.
    pub(crate) fn key(profile: &LinuxSeccomp) -> Vec<u8> {
        let mut key = Vec::with_capacity(16 * 1024);
        let version =
            libseccomp::ScmpVersion::current().map_or_else(|_| "unknown".into(), |v| v.to_string());
        let _ = writeln!(
            key,
            "{} {} libseccomp {version} {}",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
        );
        let fields = (
            profile.default_action(),
            profile.default_errno_ret(),
            profile.architectures(),
            profile.flags(),
            profile.syscalls(),
        );
        serde_json::to_writer(&mut key, &fields).expect("serialising to a Vec cannot fail");
        key
    }

    pub(crate) fn file_name(key: &[u8]) -> String {
        // Not trusted: lookup compares the whole key. SipHash with fixed keys is stable
        // for a given build, which is all a miss-tolerant cache needs.
        let mut h = std::hash::DefaultHasher::new();
        key.hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// Only a directory we own that nobody else can write to may feed us programs.
    fn trusted(dir: &Path) -> io::Result<()> {
        let md = fs::symlink_metadata(dir)?;
        if !md.is_dir() || md.uid() != nix::unistd::geteuid().as_raw() || md.mode() & 0o022 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "not a directory owned by us and writable only by us",
            ));
        }
        Ok(())
    }

    pub(crate) fn lookup(dir: &Path, name: &str, key: &[u8]) -> Option<Vec<sock_filter>> {
        let data = match trusted(dir).and_then(|()| fs::read(dir.join(name))) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!("seccomp cache {}/{name}: miss: {e}", dir.display());
                return None;
            }
        };
        let rest = data.strip_prefix(MAGIC.as_slice())?;
        let (len, rest) = rest.split_first_chunk::<8>()?;
        let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
        if rest.get(..len)? != key {
            return None;
        }
        super::parse_program(&rest[len..]).ok()
    }

    pub(crate) fn store(dir: &Path, name: &str, key: &[u8], program: &[u8]) -> io::Result<()> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        trusted(dir)?;
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        let written = (|| {
            let len = u64::try_from(key.len()).unwrap_or(u64::MAX).to_le_bytes();
            for part in [MAGIC.as_slice(), &len, key, program] {
                f.write_all(part)?;
            }
            fs::rename(&tmp, dir.join(name))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        evict(dir);
        Ok(())
    }

    /// Keep the directory small: past [`MAX_ENTRIES`], drop the older half.
    fn evict(dir: &Path) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut files: Vec<_> = entries
            .flatten()
            .filter_map(|e| Some((e.metadata().ok()?.mtime(), e.path())))
            .collect();
        if files.len() <= MAX_ENTRIES {
            return;
        }
        files.sort_unstable();
        for (_, path) in &files[..files.len() - MAX_ENTRIES / 2] {
            let _ = fs::remove_file(path);
        }
    }
}

/// The only `unsafe` of the crate: the raw `seccomp(2)` syscall (neither libc nor nix
/// wrap it) and taking ownership of the listener fd it returns.
#[allow(unsafe_code)]
mod sys {
    use std::io;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    use libc::{c_long, c_ulong, sock_filter, sock_fprog};

    /// `seccomp(SECCOMP_SET_MODE_FILTER, flags, program)`; returns the syscall's
    /// non-negative result (0, a listener fd, or a TSYNC thread id).
    pub(crate) fn set_mode_filter(flags: c_ulong, program: &[sock_filter]) -> io::Result<c_long> {
        let len =
            u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let prog = sock_fprog {
            len,
            // The kernel only reads the instructions (it copies them).
            filter: program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` is a valid `struct sock_fprog` whose `filter` points to `len`
        // initialised instructions borrowed for the duration of the call; the kernel
        // copies them and writes nothing to our memory.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &raw const prog,
            )
        };
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    /// Whether the kernel accepts `flags` for `SECCOMP_SET_MODE_FILTER` (libseccomp's
    /// probe): with a NULL program the kernel answers EFAULT after validating the
    /// flags, EINVAL when it does not know them. Anything else (e.g. our own filter
    /// forbidding seccomp) is not a "no": load will tell.
    pub(crate) fn flags_supported(flags: c_ulong) -> bool {
        // SAFETY: a NULL program pointer is never dereferenced by us; the kernel's
        // copy_from_user on it fails with EFAULT without touching our memory, and no
        // filter can be installed because none is read.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                std::ptr::null::<sock_fprog>(),
            )
        };
        ret == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL)
    }

    /// Take ownership of the listener fd that `seccomp(2)` just returned.
    pub(crate) fn own_fd(ret: c_long) -> OwnedFd {
        let fd = RawFd::try_from(ret).expect("seccomp(2) returns an fd that fits an int");
        // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER a successful seccomp(2) returns a
        // new open fd that nothing else in the process owns.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("valid LinuxSeccomp JSON")
    }

    fn compile_err(json: &str) -> String {
        SeccompFilter::compile(&profile(json))
            .expect_err("compile must fail")
            .to_string()
    }

    fn insns(f: &SeccompFilter) -> Vec<(u16, u8, u8, u32)> {
        f.program
            .iter()
            .map(|i| (i.code, i.jt, i.jf, i.k))
            .collect()
    }

    #[test]
    fn arg_index_out_of_range_names_the_field() {
        let msg = compile_err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_ERRNO","args":[
                    {"index":0,"value":1,"op":"SCMP_CMP_EQ"},
                    {"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert_eq!(
            msg,
            "linux.seccomp.syscalls[0].args[1].index: 6 out of range (0-5)"
        );
    }

    #[test]
    fn arg_index_is_checked_even_in_rules_equal_to_the_default() {
        let msg = compile_err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_KILL"},
                {"names":["getpid"],"action":"SCMP_ACT_ALLOW","args":[
                    {"index":9,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert_eq!(
            msg,
            "linux.seccomp.syscalls[1].args[0].index: 9 out of range (0-5)"
        );
    }

    #[test]
    fn errno_ret_out_of_range_names_the_field() {
        let msg = compile_err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_KILL"},
                {"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
        );
        assert_eq!(
            msg,
            "linux.seccomp.syscalls[1].errnoRet: 70000 out of range (0-65535)"
        );
        let msg = compile_err(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":65536}"#);
        assert_eq!(
            msg,
            "linux.seccomp.defaultErrnoRet: 65536 out of range (0-65535)"
        );
    }

    #[test]
    fn notify_as_default_action_or_for_write_is_rejected() {
        let msg = compile_err(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#);
        assert_eq!(
            msg,
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as the default action"
        );
        let msg = compile_err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_ERRNO"},
                {"names":["read","write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert_eq!(
            msg,
            "linux.seccomp.syscalls[1].names[1]: SCMP_ACT_NOTIFY cannot be used for the write syscall"
        );
    }

    #[test]
    fn architecture_unknown_to_libseccomp_names_the_field() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_M68K"]}"#,
        );
        let v = libseccomp::ScmpVersion::current().expect("libseccomp version");
        // SCMP_ARCH_M68K arrived in libseccomp 2.6; both outcomes are asserted.
        if (v.major, v.minor) < (2, 6) {
            let msg = SeccompFilter::compile(&p)
                .expect_err("m68k unknown")
                .to_string();
            assert!(
                msg.starts_with(&format!(
                    "linux.seccomp.architectures[2]: SCMP_ARCH_M68K is not supported by libseccomp {v}: "
                )),
                "{msg}"
            );
        } else {
            SeccompFilter::compile(&p).expect("m68k known to libseccomp >= 2.6");
        }
    }

    #[test]
    fn every_oci_architecture_maps_to_the_same_libseccomp_token() {
        use std::str::FromStr;
        for name in [
            "SCMP_ARCH_NATIVE",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_ARM",
            "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_MIPS",
            "SCMP_ARCH_MIPS64",
            "SCMP_ARCH_MIPS64N32",
            "SCMP_ARCH_MIPSEL",
            "SCMP_ARCH_MIPSEL64",
            "SCMP_ARCH_MIPSEL64N32",
            "SCMP_ARCH_PPC",
            "SCMP_ARCH_PPC64",
            "SCMP_ARCH_PPC64LE",
            "SCMP_ARCH_S390",
            "SCMP_ARCH_S390X",
            "SCMP_ARCH_PARISC",
            "SCMP_ARCH_PARISC64",
            "SCMP_ARCH_RISCV64",
            "SCMP_ARCH_LOONGARCH64",
            "SCMP_ARCH_M68K",
            "SCMP_ARCH_SH",
            "SCMP_ARCH_SHEB",
        ] {
            let oci: Arch = serde_json::from_str(&format!("{name:?}")).expect(name);
            let ours = scmp_arch(oci);
            assert_eq!(ours, ScmpArch::from_str(name).expect(name), "{name}");
        }
    }

    #[test]
    fn multi_arch_profile_compiles() {
        let one = SeccompFilter::compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ))
        .expect("compile");
        let three = SeccompFilter::compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_NATIVE"],
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ))
        .expect("compile");
        assert!(
            three.program.len() > one.program.len(),
            "{one:?} vs {three:?}"
        );
    }

    #[test]
    fn unknown_strings_are_rejected_when_parsing_with_the_field_path() {
        for (json, path, bad) in [
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW"},{"names":["getpid"],"action":"SCMP_ACT_FOO"}]}"#,
                "syscalls[1].action",
                "SCMP_ACT_FOO",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_NOPE"}"#,
                "defaultAction",
                "SCMP_ACT_NOPE",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]}"#,
                "architectures[0]",
                "SCMP_ARCH_VAX",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_BOGUS"]}"#,
                "flags[1]",
                "SECCOMP_FILTER_FLAG_BOGUS",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}"#,
                "syscalls[0].args[0].op",
                "SCMP_CMP_XX",
            ),
        ] {
            let de = &mut serde_json::Deserializer::from_str(json);
            let err = serde_path_to_error::deserialize::<_, LinuxSeccomp>(de)
                .expect_err("unknown string must not parse");
            assert_eq!(err.path().to_string(), path, "{json}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn unknown_syscall_names_are_skipped() {
        let with_unknown = SeccompFilter::compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["no_such_syscall","getpid",""],"action":"SCMP_ACT_ERRNO"}]}"#,
        ))
        .expect("unknown names are skipped");
        let without = SeccompFilter::compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ))
        .expect("compile");
        assert_eq!(insns(&with_unknown), insns(&without));
    }

    #[test]
    fn rules_equal_to_the_default_action_are_skipped() {
        // libseccomp itself rejects such rules (EACCES); runc and we skip them.
        let with_redundant = SeccompFilter::compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_ALLOW"},
                {"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
        ))
        .expect("redundant rule skipped");
        let without = SeccompFilter::compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
        ))
        .expect("compile");
        assert_eq!(insns(&with_redundant), insns(&without));
        // A different errno is a different action: kept.
        let different = SeccompFilter::compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_ALLOW"},
                {"names":["getppid"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ))
        .expect("compile");
        assert_ne!(insns(&different), insns(&without));
        // SCMP_ACT_KILL and SCMP_ACT_KILL_THREAD are the same action.
        SeccompFilter::compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_KILL_THREAD"}]}"#,
        ))
        .expect("redundant kill rule skipped");
    }

    #[test]
    fn actions_map_like_runc() {
        let f = || String::from("f");
        use LinuxSeccompAction as A;
        let cases = [
            (A::ScmpActKill, None, ScmpAction::KillThread),
            (A::ScmpActKillThread, None, ScmpAction::KillThread),
            (A::ScmpActKillProcess, None, ScmpAction::KillProcess),
            (A::ScmpActTrap, Some(3), ScmpAction::Trap),
            (A::ScmpActErrno, None, ScmpAction::Errno(libc::EPERM)),
            (A::ScmpActErrno, Some(42), ScmpAction::Errno(42)),
            (A::ScmpActErrno, Some(0), ScmpAction::Errno(0)),
            (A::ScmpActTrace, None, ScmpAction::Trace(libc::EPERM as u16)),
            (A::ScmpActTrace, Some(7), ScmpAction::Trace(7)),
            (A::ScmpActLog, None, ScmpAction::Log),
            (A::ScmpActAllow, Some(1), ScmpAction::Allow),
            (A::ScmpActNotify, None, ScmpAction::Notify),
        ];
        for (oci, ret, want) in cases {
            assert_eq!(
                scmp_action(oci, ret, f).expect("valid"),
                want,
                "{oci:?} {ret:?}"
            );
        }
    }

    #[test]
    fn conditions_follow_runc_and_semantics() {
        let args: Vec<LinuxSeccompArg> = serde_json::from_str(
            r#"[{"index":1,"value":3,"op":"SCMP_CMP_EQ"},
                {"index":2,"value":12,"valueTwo":4,"op":"SCMP_CMP_MASKED_EQ"}]"#,
        )
        .expect("args");
        let mut out = Vec::new();
        assert!(!build_conditions(0, &args, &mut out).expect("valid"));
        assert_eq!(
            out,
            [
                ScmpArgCompare::new(1, ScmpCompareOp::Equal, 3),
                ScmpArgCompare::new(2, ScmpCompareOp::MaskedEqual(12), 4),
            ]
        );
        let args: Vec<LinuxSeccompArg> = serde_json::from_str(
            r#"[{"index":0,"value":1,"op":"SCMP_CMP_NE"},
                {"index":1,"value":2,"op":"SCMP_CMP_GT"},
                {"index":0,"value":3,"op":"SCMP_CMP_LE"}]"#,
        )
        .expect("args");
        assert!(
            build_conditions(0, &args, &mut out).expect("valid"),
            "index 0 repeats"
        );
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn flags_are_translated_and_probed() {
        let base = r#""defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]"#;
        let plain = SeccompFilter::compile(&profile(&format!(
            r#"{{{base},"syscalls":[{{"names":["getpid"],"action":"SCMP_ACT_ERRNO"}}]}}"#
        )))
        .expect("flags supported by this kernel (>= 5.19)");
        assert!(!plain.uses_notify());
        assert_eq!(
            plain.flags,
            libc::SECCOMP_FILTER_FLAG_TSYNC
                | libc::SECCOMP_FILTER_FLAG_LOG
                | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            "WAIT_KILLABLE_RECV only applies with a listener"
        );
        let notify = SeccompFilter::compile(&profile(&format!(
            r#"{{{base},"syscalls":[{{"names":["getpid"],"action":"SCMP_ACT_NOTIFY"}}]}}"#
        )))
        .expect("compile");
        assert!(notify.uses_notify());
        assert_eq!(
            notify.flags,
            libc::SECCOMP_FILTER_FLAG_TSYNC
                | libc::SECCOMP_FILTER_FLAG_LOG
                | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
                | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
                | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
                | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
        );
        // The probe itself: an undefined flag bit is refused by the kernel.
        assert!(!sys::flags_supported(1 << 30));
        assert!(sys::flags_supported(libc::SECCOMP_FILTER_FLAG_LOG));
    }

    #[test]
    fn notify_is_reported_even_if_every_name_is_unknown() {
        // runc asks for a listener whenever a rule uses SCMP_ACT_NOTIFY.
        let f = SeccompFilter::compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["no_such_syscall"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        ))
        .expect("compile");
        assert!(f.uses_notify());
        let f = SeccompFilter::compile(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#))
            .expect("compile");
        assert!(!f.uses_notify());
        assert_eq!(f.flags, 0);
    }

    /// A Docker-sized allow-list (every native syscall, three architectures, some
    /// argument rules) stays far below the kernel's program limit.
    #[test]
    fn large_profile_compiles() {
        let names: Vec<String> = (0..1024)
            .filter_map(|n| ScmpSyscall::from(n).get_name().ok())
            .filter(|n| !matches!(n.as_str(), "clone" | "personality" | "socket"))
            .collect();
        assert!(names.len() > 300, "{}", names.len());
        let json = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": names, "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0xffffffff_u32, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                 "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]},
            ]
        });
        let p: LinuxSeccomp = serde_json::from_value(json).expect("profile");
        let f = SeccompFilter::compile(&p).expect("compile");
        assert!(f.program.len() < BPF_MAXINSNS, "{f:?}");
    }

    fn cache_entry(key: &[u8], program: &[u8]) -> Vec<u8> {
        let mut e = cache::MAGIC.to_vec();
        e.extend_from_slice(&(key.len() as u64).to_le_bytes());
        e.extend_from_slice(key);
        e.extend_from_slice(program);
        e
    }

    const PROFILE_A: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
        "listenerPath":"/a","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ERRNO"}]}"#;
    const PROFILE_B: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW",
        "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_KILL"}]}"#;

    #[test]
    fn compile_cached_reuses_only_entries_with_the_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache_dir = dir.path().join("seccomp-cache");
        let (a, b) = (profile(PROFILE_A), profile(PROFILE_B));
        let key = cache::key(&a);
        let entry = cache_dir.join(cache::file_name(&key));

        // Miss: generated, stored, same program as compile().
        let first = SeccompFilter::compile_cached(&a, &cache_dir).expect("compile");
        assert_eq!(
            insns(&first),
            insns(&SeccompFilter::compile(&a).expect("compile"))
        );
        let md = std::fs::metadata(&cache_dir).expect("cache dir");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o777,
            0o700
        );
        let stored = std::fs::read(&entry).expect("entry stored");
        assert_eq!(stored, cache_entry(&key, &generate(&a).expect("generate")));

        // listenerPath is not part of the key.
        let mut a2 = a.clone();
        a2.set_listener_path(Some("/elsewhere".into()));
        assert_eq!(cache::key(&a2), key);

        // Hit: an entry with A's key is used as is (here: B's program, to see it).
        let b_bytes = generate(&b).expect("generate");
        std::fs::write(&entry, cache_entry(&key, &b_bytes)).expect("plant");
        let hit = SeccompFilter::compile_cached(&a, &cache_dir).expect("compile");
        assert_eq!(
            insns(&hit),
            insns(&SeccompFilter::compile(&b).expect("compile"))
        );
        assert_eq!(hit.flags, first.flags);

        // A different key (one byte), a torn program or a bad magic: miss, regenerated.
        let mut other_key = key.clone();
        *other_key.last_mut().expect("key") ^= 1;
        let mut torn = cache_entry(&key, &b_bytes);
        torn.push(0);
        let mut bad_magic = cache_entry(&key, &b_bytes);
        bad_magic[0] ^= 1;
        for bad in [
            cache_entry(&other_key, &b_bytes),
            torn,
            bad_magic,
            Vec::new(),
        ] {
            std::fs::write(&entry, bad).expect("plant");
            let f = SeccompFilter::compile_cached(&a, &cache_dir).expect("compile");
            assert_eq!(insns(&f), insns(&first));
            assert_eq!(std::fs::read(&entry).expect("rewritten"), stored);
        }

        // Profile errors are reported, never cached.
        let bad = profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#);
        assert!(SeccompFilter::compile_cached(&bad, &cache_dir).is_err());
        assert!(!cache_dir.join(cache::file_name(&cache::key(&bad))).exists());
    }

    #[test]
    fn compile_cached_ignores_a_directory_others_can_write() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (profile(PROFILE_A), profile(PROFILE_B));
        let key = cache::key(&a);
        let b_bytes = generate(&b).expect("generate");
        std::fs::write(
            dir.path().join(cache::file_name(&key)),
            cache_entry(&key, &b_bytes),
        )
        .expect("plant");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let f = SeccompFilter::compile_cached(&a, dir.path()).expect("compile");
        assert_eq!(
            insns(&f),
            insns(&SeccompFilter::compile(&a).expect("compile"))
        );
        // ... and does not write to it either.
        let stored = std::fs::read(dir.path().join(cache::file_name(&key))).expect("entry");
        assert_eq!(stored, cache_entry(&key, &b_bytes));
    }

    #[test]
    fn compile_cached_evicts_when_the_directory_grows() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..80 {
            std::fs::write(dir.path().join(format!("{i:016x}")), b"old").expect("fill");
        }
        SeccompFilter::compile_cached(&profile(PROFILE_A), dir.path()).expect("compile");
        let left = std::fs::read_dir(dir.path()).expect("read_dir").count();
        assert!(left <= 33, "{left} entries left");
    }

    #[test]
    fn send_listener_fd_error_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-agent.sock");
        let null = File::open("/dev/null").expect("/dev/null");
        use std::os::fd::AsFd;
        let msg = send_listener_fd(&path, null.as_fd(), b"{}")
            .expect_err("nobody listens")
            .to_string();
        assert!(
            msg.starts_with(&format!(
                "seccomp listener {}: cannot connect: ",
                path.display()
            )),
            "{msg}"
        );
        let msg = send_listener_fd(&path, null.as_fd(), b"")
            .expect_err("empty")
            .to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
}
