//! The default seccomp profile (`caisson_engine::seccomp_profile`):
//!
//! - at least as strict as podman's copy of the containers/Docker default profile
//!   (`/usr/share/containers/seccomp.json`), for no capabilities and for Docker's
//!   default set, including argument-conditioned rules (checked by evaluating both
//!   profiles over argument values drawn from both);
//! - every syscall name is known to libseccomp;
//! - the filter libseccomp generates from it decides what the profile says (a small
//!   classic-BPF interpreter runs the generated program on x86_64, x86, x32, aarch64
//!   and ARM syscall data);
//! - a real container under `caisson-runtime`: a normal workload works, namespace,
//!   mount, personality and kernel-log calls fail with EPERM (and succeed in the same
//!   container without the profile, so the profile is what denies them).
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use caisson_engine::seccomp_profile::{self, ProfileArch};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde_json::{json, Value};

/// Docker's default capability set.
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the profile looks at (and a few it does not).
const ALL_CAPS: &[&str] = &[
    "CAP_AUDIT_WRITE",
    "CAP_BPF",
    "CAP_DAC_READ_SEARCH",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SYSLOG",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
];

/// podman's default profile (Debian's golang-github-containers-common).
const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

const EPERM: u32 = 1;
const EINVAL: u32 = 22;
const ENOSYS: u32 = 38;

// ---------------------------------------------------------------------------------
// Profiles as data, and what they decide for one call

/// What a profile (or a filter) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Decision {
    Allow,
    Errno(u32),
    /// Anything else (kill, trap, trace, log, notify).
    Other(u32),
}

#[derive(Debug, Clone)]
struct Cond {
    index: usize,
    op: String,
    value: u64,
    value_two: u64,
}

impl Cond {
    fn holds(&self, args: &[u64; 6]) -> bool {
        let a = args[self.index];
        match self.op.as_str() {
            "SCMP_CMP_EQ" => a == self.value,
            "SCMP_CMP_NE" => a != self.value,
            "SCMP_CMP_LT" => a < self.value,
            "SCMP_CMP_LE" => a <= self.value,
            "SCMP_CMP_GT" => a > self.value,
            "SCMP_CMP_GE" => a >= self.value,
            "SCMP_CMP_MASKED_EQ" => a & self.value == self.value_two,
            op => panic!("unknown operator {op}"),
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    names: Vec<String>,
    decision: Decision,
    conds: Vec<Cond>,
}

impl Rule {
    /// runc's semantics: conditions on distinct arguments are ANDed; when an argument
    /// index repeats, each condition is a rule of its own (ORed).
    fn matches(&self, args: &[u64; 6]) -> bool {
        let indices: BTreeSet<usize> = self.conds.iter().map(|c| c.index).collect();
        if indices.len() < self.conds.len() {
            self.conds.iter().any(|c| c.holds(args))
        } else {
            self.conds.iter().all(|c| c.holds(args))
        }
    }
}

/// An OCI-style profile reduced to the rules that apply.
#[derive(Debug)]
struct Profile {
    default: Decision,
    rules: Vec<Rule>,
}

fn u64_field(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn decision(action: &str, errno: Option<u64>) -> Decision {
    match action {
        "SCMP_ACT_ALLOW" => Decision::Allow,
        "SCMP_ACT_ERRNO" => Decision::Errno(errno.map_or(EPERM, |e| e as u32)),
        _ => Decision::Other(0),
    }
}

/// Parse a profile. Rules with Docker/containers `includes`/`excludes` are kept or
/// dropped as those engines do for a container keeping `caps` on `goarch`
/// (`includes.caps`: all present; `excludes.caps`: none present; `arches`: the host's).
fn parse_profile(v: &Value, caps: &[&str], goarch: &str) -> Profile {
    let default = decision(
        v["defaultAction"].as_str().expect("defaultAction"),
        v.get("defaultErrnoRet").and_then(Value::as_u64),
    );
    let mut rules = Vec::new();
    for r in v["syscalls"].as_array().expect("syscalls") {
        let inc = r.get("includes");
        let exc = r.get("excludes");
        let inc_caps = str_list(inc.and_then(|i| i.get("caps")));
        let exc_caps = str_list(exc.and_then(|e| e.get("caps")));
        let inc_arches = str_list(inc.and_then(|i| i.get("arches")));
        let exc_arches = str_list(exc.and_then(|e| e.get("arches")));
        if !inc_caps.iter().all(|c| caps.contains(&c.as_str()))
            || exc_caps.iter().any(|c| caps.contains(&c.as_str()))
            || (!inc_arches.is_empty() && !inc_arches.iter().any(|a| a == goarch))
            || exc_arches.iter().any(|a| a == goarch)
        {
            continue;
        }
        let conds = r
            .get("args")
            .and_then(Value::as_array)
            .map(|args| {
                args.iter()
                    .map(|a| Cond {
                        index: u64_field(a, "index") as usize,
                        op: a["op"].as_str().expect("op").to_string(),
                        value: u64_field(a, "value"),
                        value_two: u64_field(a, "valueTwo"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        rules.push(Rule {
            names: str_list(r.get("names")),
            decision: decision(
                r["action"].as_str().expect("action"),
                r.get("errnoRet").and_then(Value::as_u64),
            ),
            conds,
        });
    }
    Profile { default, rules }
}

impl Profile {
    fn rules_for<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules
            .iter()
            .filter(move |r| r.names.iter().any(|n| n == name))
    }

    /// The answer for `name(args)`. Rules that match with different answers are an
    /// error: libseccomp's pick between overlapping rules is not specified.
    fn decide(&self, name: &str, args: &[u64; 6]) -> Decision {
        let hits: BTreeSet<Decision> = self
            .rules_for(name)
            .filter(|r| r.matches(args))
            .map(|r| r.decision)
            .collect();
        assert!(
            hits.len() <= 1,
            "{name}{args:x?}: overlapping rules disagree: {hits:?}"
        );
        hits.into_iter().next().unwrap_or(self.default)
    }

    /// Names with an argument-free ALLOW rule.
    fn unconditional_allows(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter(|r| r.decision == Decision::Allow && r.conds.is_empty())
            .flat_map(|r| r.names.iter().cloned())
            .collect()
    }

    /// Names with any ALLOW rule.
    fn allowed_names(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter(|r| r.decision == Decision::Allow)
            .flat_map(|r| r.names.iter().cloned())
            .collect()
    }

    fn all_names(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .flat_map(|r| r.names.iter().cloned())
            .collect()
    }
}

/// Argument vectors around every value the conditions of `name` in `profiles` use:
/// each value, its neighbours, with junk in the high half, with the bits outside a
/// mask set or one bit inside flipped, plus a few extremes.
fn sample_args(name: &str, profiles: &[&Profile]) -> Vec<[u64; 6]> {
    let mut per_index: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    for p in profiles {
        for r in p.rules_for(name) {
            for c in &r.conds {
                let vals = per_index.entry(c.index).or_default();
                vals.extend([0, 1, 0xFFFF_FFFF, 1 << 32, u64::MAX]);
                let mut base = vec![c.value];
                if c.op == "SCMP_CMP_MASKED_EQ" {
                    base.push(c.value_two);
                    base.push(c.value_two | !c.value);
                    base.push(c.value_two ^ (c.value & c.value.wrapping_neg()));
                    base.push(c.value_two | c.value);
                }
                for b in base {
                    vals.extend([
                        b,
                        b.wrapping_add(1),
                        b.wrapping_sub(1),
                        b | 1 << 32,
                        b ^ 1 << 63,
                    ]);
                }
            }
        }
    }
    let mut out = vec![[0u64; 6]];
    for (index, vals) in per_index {
        out = out
            .into_iter()
            .flat_map(|args| {
                vals.iter().map(move |&v| {
                    let mut a = args;
                    a[index] = v;
                    a
                })
            })
            .collect();
    }
    out
}

fn ours(arch: ProfileArch, caps: &[&str]) -> (Value, Profile) {
    let v = seccomp_profile::profile_for(arch, caps);
    let p = parse_profile(&v, caps, "");
    (v, p)
}

fn goarch() -> &'static str {
    match ProfileArch::host() {
        ProfileArch::X86_64 => "amd64",
        ProfileArch::Aarch64 => "arm64",
        ProfileArch::Native => std::env::consts::ARCH,
    }
}

// ---------------------------------------------------------------------------------
// 1. At least as strict as podman's copy of the Docker/containers default profile

#[test]
fn at_least_as_strict_as_the_podman_docker_default_profile() {
    let raw = std::fs::read(PODMAN_PROFILE).unwrap_or_else(|e| {
        panic!(
            "{PODMAN_PROFILE}: {e} — podman's default seccomp profile is missing; install the \
             peers first: bash /work/shared/peers/peers.sh install"
        )
    });
    let theirs_json: Value = serde_json::from_slice(&raw).expect("podman's profile is JSON");
    let mut failures = Vec::new();
    for (label, caps) in [
        ("no capabilities", &[][..]),
        ("Docker's default caps", DOCKER_CAPS),
    ] {
        let theirs = parse_profile(&theirs_json, caps, goarch());
        let (_, ours) = ours(ProfileArch::host(), caps);
        let their_unconditional = theirs.unconditional_allows();
        let mut conditioned_checked = 0;
        for name in ours.allowed_names() {
            let our_rules: Vec<&Rule> = ours
                .rules_for(&name)
                .filter(|r| r.decision == Decision::Allow)
                .collect();
            if our_rules.iter().any(|r| r.conds.is_empty()) {
                if !their_unconditional.contains(&name) {
                    let how = if theirs.allowed_names().contains(&name) {
                        "only with argument conditions"
                    } else {
                        "not at all"
                    };
                    failures.push(format!(
                        "{label}: we allow {name} unconditionally, podman's profile {how}"
                    ));
                }
                continue;
            }
            // Conditioned here: every argument vector we allow, they allow.
            conditioned_checked += 1;
            for args in sample_args(&name, &[&ours, &theirs]) {
                if ours.decide(&name, &args) == Decision::Allow
                    && theirs.decide(&name, &args) != Decision::Allow
                {
                    failures.push(format!(
                        "{label}: we allow {name}{args:x?}, podman's profile answers {:?}",
                        theirs.decide(&name, &args)
                    ));
                }
            }
        }
        assert!(
            conditioned_checked >= 4,
            "personality, clone, socket, socketpair"
        );
        // Their explicit denials stay denied here.
        for r in theirs
            .rules
            .iter()
            .filter(|r| r.decision != Decision::Allow)
        {
            for name in &r.names {
                assert!(
                    !ours.unconditional_allows().contains(name),
                    "{label}: podman's profile denies {name}, we allow it"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "looser than podman's profile:\n{}",
        failures.join("\n")
    );
}

#[test]
fn stricter_than_docker_entries_are_denied_and_explained() {
    let (_, p) = ours(ProfileArch::host(), DOCKER_CAPS);
    let unconditional = p.unconditional_allows();
    let list = seccomp_profile::stricter_than_docker();
    assert!(list.len() >= 10, "{list:?}");
    let mut seen = BTreeSet::new();
    for (name, why) in list {
        assert!(seen.insert(*name), "{name} listed twice");
        assert!(why.len() > 20, "{name}: reason too short: {why:?}");
        assert!(
            !unconditional.contains(*name),
            "{name} is listed as stricter than Docker but allowed unconditionally"
        );
        assert!(
            ScmpSyscall::from_name(name).is_ok(),
            "{name}: unknown to libseccomp"
        );
        // Denied outright (or only some arguments allowed) with Docker's caps.
        let rules: Vec<&Rule> = p.rules_for(name).collect();
        assert!(
            rules
                .iter()
                .all(|r| r.decision != Decision::Allow || !r.conds.is_empty()),
            "{name}: {rules:?}"
        );
    }
    let all = ours(ProfileArch::host(), ALL_CAPS).1.all_names();
    for name in seccomp_profile::newer_than_libseccomp() {
        assert!(!all.contains(*name), "{name} is named in the profile");
    }
    let listed: BTreeSet<&str> = seccomp_profile::allowlist()
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    for name in listed {
        assert!(
            unconditional.contains(name),
            "allowlist() has {name}, the profile does not"
        );
    }
}

#[test]
fn capabilities_unlock_only_their_own_syscalls() {
    let (_, none) = ours(ProfileArch::host(), &[]);
    let (_, docker) = ours(ProfileArch::host(), DOCKER_CAPS);
    let zero = [0u64; 6];
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "ptrace",
        "process_vm_readv",
        "chroot",
        "reboot",
        "init_module",
        "acct",
        "iopl",
        "settimeofday",
        "bpf",
        "perf_event_open",
        "syslog",
        "kcmp",
        "pidfd_getfd",
        "open_by_handle_at",
        "mbind",
        "vhangup",
        "keyctl",
        "add_key",
        "request_key",
        "userfaultfd",
        "pivot_root",
        "swapon",
        "kexec_load",
    ] {
        assert_eq!(
            none.decide(name, &zero),
            Decision::Errno(EPERM),
            "{name}, no caps"
        );
    }
    assert_eq!(docker.decide("chroot", &zero), Decision::Allow);
    assert_eq!(docker.decide("mount", &zero), Decision::Errno(EPERM));
    for (cap, name) in [
        ("CAP_SYS_ADMIN", "mount"),
        ("CAP_SYS_ADMIN", "unshare"),
        ("CAP_SYS_ADMIN", "setns"),
        ("CAP_SYS_ADMIN", "clone3"),
        ("SYS_PTRACE", "ptrace"),
        ("cap_sys_ptrace", "process_vm_writev"),
        ("CAP_SYS_CHROOT", "chroot"),
        ("CAP_SYS_TIME", "clock_settime"),
        ("CAP_SYS_NICE", "set_mempolicy"),
        ("CAP_SYS_BOOT", "reboot"),
        ("CAP_SYS_MODULE", "finit_module"),
        ("CAP_SYS_PACCT", "acct"),
        ("CAP_SYS_RAWIO", "ioperm"),
        ("CAP_SYSLOG", "syslog"),
        ("CAP_BPF", "bpf"),
        ("CAP_PERFMON", "perf_event_open"),
        ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
        ("CAP_SYS_TTY_CONFIG", "vhangup"),
    ] {
        let (_, p) = ours(ProfileArch::host(), &[cap]);
        assert_eq!(p.decide(name, &zero), Decision::Allow, "{name} with {cap}");
        if cap != "CAP_SYS_ADMIN" {
            assert_eq!(
                p.decide("mount", &zero),
                Decision::Errno(EPERM),
                "mount with {cap}"
            );
        }
    }
    // Never, whatever the capabilities.
    let (_, all) = ours(ProfileArch::host(), ALL_CAPS);
    for name in ["io_uring_setup", "vmsplice", "futex_waitv", "fchmodat2"] {
        assert_eq!(all.decide(name, &zero), Decision::Errno(ENOSYS), "{name}");
    }
    for name in [
        "keyctl",
        "userfaultfd",
        "kexec_load",
        "pivot_root",
        "swapon",
    ] {
        assert_eq!(all.decide(name, &zero), Decision::Errno(EPERM), "{name}");
    }
}

#[test]
fn counts() {
    for (label, caps) in [
        ("none", &[][..]),
        ("docker", DOCKER_CAPS),
        ("all", ALL_CAPS),
    ] {
        let (v, p) = ours(ProfileArch::host(), caps);
        let conditioned: BTreeSet<String> = p
            .rules
            .iter()
            .filter(|r| r.decision == Decision::Allow && !r.conds.is_empty())
            .flat_map(|r| r.names.iter().cloned())
            .collect();
        let denied: BTreeSet<String> = p
            .rules
            .iter()
            .filter(|r| r.decision != Decision::Allow)
            .flat_map(|r| r.names.iter().cloned())
            .collect();
        eprintln!(
            "caps {label}: {} allowed unconditionally, {} allowed with argument conditions \
             ({conditioned:?}), {} answered explicitly ({denied:?}), {} rules",
            p.unconditional_allows().len(),
            conditioned.len(),
            denied.len(),
            v["syscalls"].as_array().map_or(0, Vec::len),
        );
        assert!(p.unconditional_allows().len() > 300);
        eprintln!(
            "  BPF program for {}: {} instructions",
            v["architectures"],
            compile(&v).len()
        );
    }
    eprintln!(
        "stricter than Docker: {} entries; newer than libseccomp: {}",
        seccomp_profile::stricter_than_docker().len(),
        seccomp_profile::newer_than_libseccomp().len()
    );
}

// ---------------------------------------------------------------------------------
// 2. Names libseccomp knows

#[test]
fn every_syscall_name_is_known_to_libseccomp() {
    for arch in [
        ProfileArch::X86_64,
        ProfileArch::Aarch64,
        ProfileArch::Native,
    ] {
        for caps in [&[][..], DOCKER_CAPS, ALL_CAPS] {
            let v = seccomp_profile::profile_for(arch, caps);
            let arches: Vec<ScmpArch> = v["architectures"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| ScmpArch::from_str(s.as_str().unwrap()).expect("arch"))
                        .collect()
                })
                .unwrap_or_else(|| vec![ScmpArch::Native]);
            for name in parse_profile(&v, caps, "").all_names() {
                assert!(
                    ScmpSyscall::from_name(&name).is_ok(),
                    "{arch:?}: {name} is unknown to libseccomp"
                );
                assert!(
                    arches
                        .iter()
                        .any(|&a| ScmpSyscall::from_name_by_arch(&name, a).is_ok()),
                    "{arch:?}: {name} exists on none of {arches:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The filter libseccomp generates, run by a classic-BPF interpreter

/// The profile compiled the way caisson-seccomp (and runc) do it: rules equal to the
/// default action skipped, unknown names skipped, repeated argument indices ORed.
fn compile(profile: &Value) -> Vec<(u16, u8, u8, u32)> {
    let action = |r: &Value, errno_key: &str| -> ScmpAction {
        match r[if errno_key == "defaultErrnoRet" {
            "defaultAction"
        } else {
            "action"
        }]
        .as_str()
        .unwrap()
        {
            "SCMP_ACT_ALLOW" => ScmpAction::Allow,
            "SCMP_ACT_ERRNO" => {
                ScmpAction::Errno(r.get(errno_key).and_then(Value::as_i64).unwrap_or(1) as i32)
            }
            a => panic!("unexpected action {a}"),
        }
    };
    let default = action(profile, "defaultErrnoRet");
    let mut ctx = ScmpFilterContext::new(default).expect("filter");
    for a in profile["architectures"].as_array().into_iter().flatten() {
        ctx.add_arch(ScmpArch::from_str(a.as_str().unwrap()).unwrap())
            .expect("add arch");
    }
    for r in profile["syscalls"].as_array().unwrap() {
        let act = action(r, "errnoRet");
        if act == default {
            continue;
        }
        let conds: Vec<ScmpArgCompare> = r
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|a| {
                let index = u64_field(a, "index") as u32;
                let value = u64_field(a, "value");
                let op = match a["op"].as_str().unwrap() {
                    "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
                    "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
                    "SCMP_CMP_LT" => ScmpCompareOp::Less,
                    "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
                    "SCMP_CMP_GT" => ScmpCompareOp::Greater,
                    "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
                    "SCMP_CMP_MASKED_EQ" => {
                        return ScmpArgCompare::new(
                            index,
                            ScmpCompareOp::MaskedEqual(value),
                            u64_field(a, "valueTwo"),
                        )
                    }
                    op => panic!("unknown op {op}"),
                };
                ScmpArgCompare::new(index, op, value)
            })
            .collect();
        let indices: BTreeSet<u32> = r
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|a| u64_field(a, "index") as u32)
            .collect();
        for name in r["names"].as_array().unwrap() {
            let name = name.as_str().unwrap();
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            if conds.is_empty() {
                ctx.add_rule(act, sc).expect(name);
            } else if indices.len() < conds.len() {
                for c in &conds {
                    ctx.add_rule_conditional(act, sc, &[*c]).expect(name);
                }
            } else {
                ctx.add_rule_conditional(act, sc, &conds).expect(name);
            }
        }
    }
    let mut f = tempfile::tempfile().unwrap();
    ctx.export_bpf(&f).expect("export BPF");
    let mut bytes = Vec::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes.len() % 8, 0);
    assert!(
        bytes.len() / 8 <= 4096,
        "BPF program too long: {}",
        bytes.len() / 8
    );
    bytes
        .chunks_exact(8)
        .map(|c| {
            (
                u16::from_ne_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect()
}

/// `AUDIT_ARCH_*` of a libseccomp architecture.
fn audit_arch(arch: ScmpArch) -> u32 {
    match arch {
        ScmpArch::X8664 | ScmpArch::X32 => 0xC000_003E,
        ScmpArch::X86 => 0x4000_0003,
        ScmpArch::Aarch64 => 0xC000_00B7,
        ScmpArch::Arm => 0x4000_0028,
        a => panic!("no audit arch for {a:?}"),
    }
}

/// Run a seccomp classic-BPF program on `struct seccomp_data`.
fn run_bpf(prog: &[(u16, u8, u8, u32)], nr: i32, arch: u32, args: &[u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for a in args {
        data.extend_from_slice(&a.to_ne_bytes());
    }
    let word = |k: u32| {
        let k = k as usize;
        u32::from_ne_bytes(data[k..k + 4].try_into().expect("load inside seccomp_data"))
    };
    let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
    loop {
        let (code, jt, jf, k) = prog[pc];
        pc += 1;
        let src = if code & 0x08 != 0 { x } else { k };
        match code & 0x07 {
            0x00 => {
                a = match code & 0xE0 {
                    0x00 => k,
                    0x20 => word(k),
                    0x60 => mem[k as usize],
                    m => panic!("ld mode {m:#x}"),
                }
            }
            0x01 => {
                x = match code & 0xE0 {
                    0x00 => k,
                    0x60 => mem[k as usize],
                    m => panic!("ldx mode {m:#x}"),
                }
            }
            0x02 => mem[k as usize] = a,
            0x03 => mem[k as usize] = x,
            0x04 => {
                a = match code & 0xF0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a << src,
                    0x70 => a >> src,
                    0xA0 => a ^ src,
                    op => panic!("alu op {op:#x}"),
                }
            }
            0x05 => {
                let jump = match code & 0xF0 {
                    0x00 => {
                        pc += k as usize;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    op => panic!("jmp op {op:#x}"),
                };
                pc += usize::from(if jump { jt } else { jf });
            }
            0x06 => return if code & 0x18 == 0x10 { a } else { k },
            _ => {
                if code & 0xF8 == 0x80 {
                    a = x;
                } else {
                    x = a;
                }
            }
        }
    }
}

/// A compiled profile, asked about one call on one architecture.
struct Filter {
    prog: Vec<(u16, u8, u8, u32)>,
    json: Profile,
}

impl Filter {
    fn new(arch: ProfileArch, caps: &[&str]) -> Self {
        let (v, json) = ours(arch, caps);
        Filter {
            prog: compile(&v),
            json,
        }
    }

    fn ask(&self, arch: ScmpArch, name: &str, args: [u64; 6]) -> Decision {
        let mut nr = i32::from(
            ScmpSyscall::from_name_by_arch(name, arch)
                .unwrap_or_else(|_| panic!("{name} on {arch:?}")),
        );
        if nr < 0 && arch == ScmpArch::X86 {
            // libseccomp names the socketcall(2) form; ask about the direct syscall
            // (Linux 4.3+), which is what the argument rules can filter.
            nr = match name {
                "socket" => 359,
                "socketpair" => 360,
                _ => nr,
            };
        }
        assert!(nr >= 0, "{name} does not exist on {arch:?}");
        // 32-bit ABIs: x86 and ARM have no high half, and libseccomp compares only
        // the low half for x32 (whose C types are 32-bit).
        let mut args = args;
        if matches!(arch, ScmpArch::X86 | ScmpArch::Arm | ScmpArch::X32) {
            for a in &mut args {
                *a &= 0xFFFF_FFFF;
            }
        }
        let ret = run_bpf(&self.prog, nr, audit_arch(arch), &args);
        let got = match ret & 0xFFFF_0000 {
            0x7FFF_0000 => Decision::Allow,
            0x0005_0000 => Decision::Errno(ret & 0xFFFF),
            _ => Decision::Other(ret),
        };
        // The JSON evaluator (used against podman's profile) agrees with the filter.
        assert_eq!(
            got,
            self.json.decide(name, &args),
            "{name}{args:x?} on {arch:?}: filter and profile disagree"
        );
        got
    }
}

fn a1(a0: u64) -> [u64; 6] {
    [a0, 0, 0, 0, 0, 0]
}

fn a3(a0: u64, a1: u64, a2: u64) -> [u64; 6] {
    [a0, a1, a2, 0, 0, 0]
}

const ALLOW: Decision = Decision::Allow;
const DENY: Decision = Decision::Errno(EPERM);
const NOSYS: Decision = Decision::Errno(ENOSYS);

/// Checks common to every architecture of a profile kept with Docker's caps.
fn common_checks(f: &Filter, arch: ScmpArch) {
    const CLONE_NEWUSER: u64 = 0x1000_0000;
    const CLONE_NEWNET: u64 = 0x4000_0000;
    const CLONE_NEWNS: u64 = 0x0002_0000;
    const THREAD_FLAGS: u64 = 0x003D_0F00; // glibc's pthread_create
    const SIGCHLD: u64 = 17;
    let cases: &[(&str, [u64; 6], Decision)] = &[
        ("read", a1(0), ALLOW),
        ("execve", a1(0), ALLOW),
        ("futex", a1(0), ALLOW),
        // sockets: families on the low 32 bits
        ("socket", a3(1, 1, 0), ALLOW),
        ("socket", a3(2, 1, 0), ALLOW),
        ("socket", a3(10, 2, 17), ALLOW),
        ("socket", a3(16, 3, 0), ALLOW),
        ("socket", a3(16, 3, 9), ALLOW),     // CAP_AUDIT_WRITE kept
        ("socket", a3(17, 3, 0x300), ALLOW), // CAP_NET_RAW kept
        ("socket", a3(40, 1, 0), DENY),      // AF_VSOCK
        ("socket", a3(0x1_0000_0028, 1, 0), DENY), // AF_VSOCK, junk high half
        ("socket", a3(38, 5, 0), DENY),      // AF_ALG
        ("socket", a3(30, 5, 0), DENY),      // AF_TIPC
        ("socket", a3(21, 5, 0), DENY),      // AF_RDS
        ("socket", a3(29, 3, 1), DENY),      // AF_CAN
        ("socket", a3(0, 1, 0), DENY),
        ("socket", a3(u64::MAX, 1, 0), DENY),
        ("socketpair", a3(1, 1, 0), ALLOW),
        ("socketpair", a3(30, 5, 0), DENY),
        // clone: no namespaces without CAP_SYS_ADMIN; clone3 falls back
        ("clone", a1(SIGCHLD), ALLOW),
        ("clone", a1(THREAD_FLAGS), ALLOW),
        ("clone", a1(CLONE_NEWUSER | SIGCHLD), DENY),
        ("clone", a1(CLONE_NEWNET), DENY),
        ("clone", a1(CLONE_NEWNS | THREAD_FLAGS), DENY),
        ("clone3", a1(0), NOSYS),
        // personality: the five safe personas only
        ("personality", a1(0), ALLOW),
        ("personality", a1(8), ALLOW),
        ("personality", a1(0x2_0008), ALLOW),
        ("personality", a1(0xFFFF_FFFF), ALLOW),
        ("personality", a1(0x4_0008), DENY),  // ADDR_NO_RANDOMIZE
        ("personality", a1(0x40_0000), DENY), // READ_IMPLIES_EXEC
        ("personality", a1(1 << 32), DENY),
        // capability-gated, Docker's caps keep only CAP_SYS_CHROOT of these
        ("chroot", a1(0), ALLOW),
        ("mount", a1(0), DENY),
        ("umount2", a1(0), DENY),
        ("unshare", a1(0x1000_0000), DENY),
        ("setns", a1(0), DENY),
        ("ptrace", a1(0), DENY),
        ("process_vm_readv", a1(0), DENY),
        ("pidfd_getfd", a1(0), DENY),
        ("bpf", a1(0), DENY),
        ("perf_event_open", a1(0), DENY),
        ("init_module", a1(0), DENY),
        ("reboot", a1(0), DENY),
        ("syslog", a1(0), DENY),
        ("clock_settime", a1(0), DENY),
        ("keyctl", a1(0), DENY),
        ("add_key", a1(0), DENY),
        ("userfaultfd", a1(0), DENY),
        ("kexec_load", a1(0), DENY),
        ("pivot_root", a1(0), DENY),
        // ENOSYS: callers fall back
        ("io_uring_setup", a1(0), NOSYS),
        ("io_uring_enter", a1(0), NOSYS),
        ("vmsplice", a1(0), NOSYS),
        ("futex_waitv", a1(0), NOSYS),
        ("fchmodat2", a1(0), NOSYS),
    ];
    let abi32 = matches!(arch, ScmpArch::X86 | ScmpArch::Arm | ScmpArch::X32);
    for &(name, args, want) in cases {
        if abi32 && args.iter().any(|&a| a > u64::from(u32::MAX)) {
            continue; // no high half on a 32-bit ABI (see Filter::ask)
        }
        assert_eq!(f.ask(arch, name, args), want, "{name}{args:x?} on {arch:?}");
    }
}

#[test]
fn generated_filter_decides_what_the_profile_says_on_x86() {
    let docker = Filter::new(ProfileArch::X86_64, DOCKER_CAPS);
    for arch in [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32] {
        common_checks(&docker, arch);
        assert_eq!(docker.ask(arch, "modify_ldt", a1(1)), NOSYS);
    }
    assert_eq!(docker.ask(ScmpArch::X86, "set_thread_area", a1(0)), ALLOW);
    assert_eq!(docker.ask(ScmpArch::X8664, "arch_prctl", a1(0x1002)), ALLOW);
    // The documented hole, shared with Docker: on the x86 ABI socket() can also be
    // reached through socketcall(2), whose arguments are in memory.
    assert_eq!(docker.ask(ScmpArch::X86, "socketcall", a1(1)), ALLOW);
    assert_eq!(docker.ask(ScmpArch::X86, "chown32", a1(0)), ALLOW);

    let none = Filter::new(ProfileArch::X86_64, &[]);
    for arch in [ScmpArch::X8664, ScmpArch::X86] {
        // NETLINK_AUDIT without CAP_AUDIT_WRITE: EINVAL, as podman (PAM carries on).
        assert_eq!(
            none.ask(arch, "socket", a3(16, 3, 9)),
            Decision::Errno(EINVAL)
        );
        assert_eq!(
            none.ask(arch, "socket", a3(16, 3, 0x1_0000_0009)),
            Decision::Errno(EINVAL)
        );
        for proto in [0, 4, 8, 10, 12, 15, 16, 31] {
            assert_eq!(none.ask(arch, "socket", a3(16, 3, proto)), ALLOW, "{proto}");
        }
        assert_eq!(
            none.ask(arch, "socket", a3(17, 3, 0)),
            DENY,
            "no CAP_NET_RAW"
        );
        assert_eq!(none.ask(arch, "socket", a3(2, 1, 0)), ALLOW);
        assert_eq!(none.ask(arch, "chroot", a1(0)), DENY);
    }

    let admin = Filter::new(ProfileArch::X86_64, &["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]);
    for arch in [ScmpArch::X8664, ScmpArch::X86] {
        assert_eq!(admin.ask(arch, "clone", a1(0x1000_0011)), ALLOW);
        assert_eq!(admin.ask(arch, "clone3", a1(0)), ALLOW);
        assert_eq!(admin.ask(arch, "unshare", a1(0x1000_0000)), ALLOW);
        assert_eq!(admin.ask(arch, "mount", a1(0)), ALLOW);
        assert_eq!(admin.ask(arch, "ptrace", a1(0)), ALLOW);
        assert_eq!(admin.ask(arch, "process_vm_writev", a1(0)), ALLOW);
        assert_eq!(admin.ask(arch, "io_uring_setup", a1(0)), NOSYS);
        assert_eq!(admin.ask(arch, "kexec_load", a1(0)), DENY);
    }
}

#[test]
fn generated_filter_decides_what_the_profile_says_on_arm() {
    let docker = Filter::new(ProfileArch::Aarch64, DOCKER_CAPS);
    for arch in [ScmpArch::Aarch64, ScmpArch::Arm] {
        common_checks(&docker, arch);
    }
    for name in ["cacheflush", "set_tls", "breakpoint", "arm_fadvise64_64"] {
        assert_eq!(docker.ask(ScmpArch::Arm, name, a1(0)), ALLOW, "{name}");
    }
}

// ---------------------------------------------------------------------------------
// 3. A real container under caisson-runtime

fn runtime_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/caisson-runtime");
    assert!(
        p.exists(),
        "{} is missing: build caisson-runtime first (cargo build --release -p caisson-runtime)",
        p.display()
    );
    p
}

/// The probe script: each line `name rc=N out=…`.
const SCRIPT: &str = r#"
p() {
    n=$1; shift
    o=$("$@" 2>&1); rc=$?
    echo "$n rc=$rc out=$(echo "$o" | head -n 3 | tr '\n' '|')"
}
p mode sh -c 'grep "^Seccomp:" /proc/self/status | tr -d "\t "'
p write sh -c 'echo hello > /tmp/f && cat /tmp/f'
p mkdir sh -c 'mkdir -p /tmp/d/e && ls /tmp/d'
p pipe sh -c 'echo a b c | wc -w'
p sleep sleep 0.1
p ls ls /bin/busybox
p id id -u
p chroot chroot / true
p linux32 linux32 true
p netlink ip link show lo
p unshare-user unshare -U true
p unshare-net unshare -n true
p mount mount -t tmpfs x /mnt
p umount umount /proc
p nsenter nsenter -t 1 -u true
p personality-R linux32 -R true
p dmesg dmesg
echo done
"#;

/// Run the probe script in a busybox container (`seccomp`: `linux.seccomp` or none);
/// its lines by probe name.
fn run_probes(seccomp: Option<Value>) -> BTreeMap<String, String> {
    let bin = runtime_bin();
    let tmp = tempfile::Builder::new()
        .prefix("caisson-seccomp-")
        .tempdir()
        .unwrap();
    let rootfs = tmp.path().join("bundle/rootfs");
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox is missing: install Debian's busybox-static"
    );
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "mnt", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "true", "cat", "echo", "ls", "mkdir", "wc", "sleep", "id", "head", "tr", "grep",
        "chroot", "linux32", "ip", "unshare", "mount", "umount", "nsenter", "dmesg",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(rootfs.join("probe.sh"), SCRIPT).unwrap();

    let id = format!(
        "seccomp-{}-{}",
        std::process::id(),
        if seccomp.is_some() { "on" } else { "off" }
    );
    let caps: Vec<&str> = DOCKER_CAPS.to_vec();
    let mut cfg = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "/probe.sh"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs"},
        "hostname": "seccomp-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev"]}
        ],
        "linux": {
            "cgroupsPath": format!("/caisson-test/{id}"),
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if let Some(s) = seccomp {
        cfg["linux"]["seccomp"] = s;
    }
    let bundle = tmp.path().join("bundle");
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&cfg).unwrap(),
    )
    .unwrap();

    // Output through a file: the container inherits it (a pipe would be held open).
    let mut out = tempfile::tempfile().unwrap();
    let mut child = Command::new(&bin)
        .arg("--root")
        .arg(tmp.path().join("state"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out.try_clone().unwrap())
        .spawn()
        .expect("spawn caisson-runtime");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            let _ = Command::new(&bin)
                .arg("--root")
                .arg(tmp.path().join("state"))
                .args(["delete", "--force", &id])
                .status();
            panic!("caisson-runtime run {id} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = String::new();
    out.seek(SeekFrom::Start(0)).unwrap();
    out.read_to_string(&mut text).unwrap();
    assert!(
        status.success() && (text.contains("\ndone") || text.starts_with("done")),
        "caisson-runtime run {id}: {status}\n{text}"
    );
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn real_container_runs_a_normal_workload_and_is_denied_the_rest() {
    let on = run_probes(Some(seccomp_profile::default_profile(DOCKER_CAPS)));
    eprintln!("with the profile: {on:#?}");
    let line = |name: &str| {
        on.get(name)
            .unwrap_or_else(|| panic!("no {name} line: {on:#?}"))
    };
    let expect_ok = [
        ("mode", "Seccomp:2"),
        ("write", "hello"),
        ("mkdir", "e"),
        ("pipe", "3"),
        ("sleep", ""),
        ("ls", "/bin/busybox"),
        ("id", "0"),
        ("chroot", ""),
        ("linux32", ""),
        ("netlink", "lo"),
    ];
    for (name, want) in expect_ok {
        let l = line(name);
        assert!(
            l.starts_with("rc=0 ") && l.contains(want),
            "{name} should work under the profile: {l}\n{on:#?}"
        );
    }
    let expect_eperm = [
        ("unshare-user", "Operation not permitted"),
        ("unshare-net", "Operation not permitted"),
        ("mount", "ermission denied"),
        ("umount", "Operation not permitted"),
        ("nsenter", "Operation not permitted"),
        ("personality-R", "Operation not permitted"),
        ("dmesg", "Operation not permitted"),
    ];
    for (name, want) in expect_eperm {
        let l = line(name);
        assert!(
            !l.starts_with("rc=0 ") && l.contains(want),
            "{name} should fail with EPERM under the profile: {l}\n{on:#?}"
        );
    }

    // The same container without the profile: these probes are denied by seccomp,
    // not by capabilities or namespaces.
    let off = run_probes(None);
    eprintln!("without a profile: {off:#?}");
    assert!(off["mode"].contains("Seccomp:0"), "{off:#?}");
    for name in ["unshare-user", "personality-R", "write", "pipe", "chroot"] {
        let l = off
            .get(name)
            .unwrap_or_else(|| panic!("no {name} line: {off:#?}"));
        assert!(
            l.starts_with("rc=0 "),
            "{name} without seccomp: {l}\n{off:#?}"
        );
    }
}
