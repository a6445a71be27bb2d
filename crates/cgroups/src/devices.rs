//! OCI device rules → a `BPF_PROG_TYPE_CGROUP_DEVICE` program (the cgroup v2 device
//! controller), and → `devices.allow`/`devices.deny` lines (cgroup v1).
//!
//! # Semantics of the program
//!
//! As with the v1 controller, rules apply in order and a later rule overrides earlier
//! ones for what it matches; nothing matched means deny. The kernel asks about a
//! *set* of access bits at once (`open(O_RDWR)` asks for read and write), so the
//! program decides each requested bit on its own — the last rule that matches the
//! device and includes the bit decides it — and allows only when every requested bit
//! is allowed. Testing "requested ⊆ rule" instead (as runc's and crun's generators do
//! on already-normalised lists) would let `allow c 1:3 rw` + `deny c 1:3 w` still open
//! `/dev/null` read-write. A request with no access bit (the kernel's check for
//! `MAY_EXEC`/`MAY_ACCESS` alone) is decided by the last rule matching the device.
//!
//! Registers: r1 = context (`struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }`, `access_type = access << 16 | type`), r2 = type, r3 = access,
//! r4 = major, r5 = minor, r6 = scratch.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8, // dst:4 (low), src:4 (high)
    off: i16,
    imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }

    /// The opcode.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The jump offset (in instructions, from the next one).
    pub fn off(&self) -> i16 {
        self.off
    }

    /// The immediate operand.
    pub fn imm(&self) -> i32 {
        self.imm
    }

    /// Whether this is a jump with an offset (not `exit`).
    pub fn is_jump(&self) -> bool {
        matches!(self.code & 0x07, 0x05 | 0x06) && self.code != JMP_EXIT
    }
}

// opcodes (linux/bpf_common.h, linux/bpf.h)
const LDX_W_MEM: u8 = 0x61; // BPF_LDX | BPF_W | BPF_MEM
const ALU64_AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const ALU64_RSH_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const ALU64_MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU32_XOR_K: u8 = 0xa4; // BPF_ALU | BPF_XOR | BPF_K
const JMP_JA: u8 = 0x05; // BPF_JMP | BPF_JA
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP32_JNE_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K (kernel ≥ 5.1)
pub(crate) const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// linux/bpf.h
const DEV_BLOCK: u32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: u32 = 2; // BPF_DEVCG_DEV_CHAR
const ACC_MKNOD: u8 = 1; // BPF_DEVCG_ACC_MKNOD
const ACC_READ: u8 = 2; // BPF_DEVCG_ACC_READ
const ACC_WRITE: u8 = 4; // BPF_DEVCG_ACC_WRITE

/// Most device rules accepted: every jump offset must fit the 16-bit field (a rule
/// takes at most 11 instructions of a chain).
pub(crate) const MAX_RULES: usize = 2048;

/// A rule in the terms of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    /// `None`: any type (`a`).
    pub typ: Option<u32>,
    /// `None`: any.
    pub major: Option<u32>,
    /// `None`: any.
    pub minor: Option<u32>,
    /// `BPF_DEVCG_ACC_*` bits; never 0.
    pub access: u8,
}

fn access_bits(access: &str) -> u8 {
    access.chars().fold(0, |a, c| {
        a | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

impl Rule {
    /// The kernel's view of an OCI rule; `None` for a rule that can match no device
    /// check (a fifo rule, an empty access string, a number no device can have).
    pub fn from_oci(d: &LinuxDeviceCgroup) -> Option<Rule> {
        let typ = match d.typ() {
            None | Some(LinuxDeviceType::A) => None,
            Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
            Some(LinuxDeviceType::C | LinuxDeviceType::U) => Some(DEV_CHAR),
            Some(LinuxDeviceType::P) => return None,
        };
        let num = |v: Option<i64>| -> Option<Option<u32>> {
            match v {
                None => Some(None),
                Some(v) if v < 0 => Some(None),
                Some(v) => u32::try_from(v).ok().map(Some),
            }
        };
        let access = access_bits(d.access().as_deref().unwrap_or("rwm"));
        if access == 0 {
            return None;
        }
        Some(Rule {
            allow: d.allow(),
            typ,
            major: num(d.major())?,
            minor: num(d.minor())?,
            access,
        })
    }

    /// The access string, normalised (`rwm` order).
    pub fn access_str(&self) -> String {
        [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
            .iter()
            .filter(|(b, _)| self.access & b != 0)
            .map(|(_, c)| *c)
            .collect()
    }

    /// v1 `devices.allow`/`devices.deny` lines for this rule. A wildcard `a` rule
    /// for every access resets the whole list (the kernel reads only the `a`); any
    /// other `a` rule is written as its `c` and `b` halves.
    pub fn v1_lines(&self) -> Vec<String> {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        let acc = self.access_str();
        match self.typ {
            None if self.major.is_none() && self.minor.is_none() && acc == "rwm" => {
                vec!["a".to_string()]
            }
            None => ["c", "b"]
                .iter()
                .map(|t| format!("{t} {}:{} {acc}", n(self.major), n(self.minor)))
                .collect(),
            Some(t) => {
                let t = if t == DEV_BLOCK { "b" } else { "c" };
                vec![format!("{t} {}:{} {acc}", n(self.major), n(self.minor))]
            }
        }
    }
}

/// A tiny assembler with forward labels.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, usize)>,
}

impl Asm {
    fn emit(&mut self, i: Insn) {
        self.insns.push(i);
    }

    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn bind(&mut self, l: usize) {
        self.labels[l] = Some(self.insns.len());
    }

    fn jump(&mut self, code: u8, dst: u8, imm: i32, to: usize) {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::new(code, dst, 0, 0, imm));
    }

    fn ret(&mut self, v: i32) {
        self.emit(Insn::new(ALU64_MOV_K, 0, 0, 0, v));
        self.emit(Insn::new(JMP_EXIT, 0, 0, 0, 0));
    }

    fn finish(mut self) -> Option<Vec<Insn>> {
        for (at, to) in self.fixups {
            let target = self.labels[to]?;
            let off = i64::try_from(target).ok()? - i64::try_from(at).ok()? - 1;
            self.insns[at].off = i16::try_from(off).ok()?;
        }
        Some(self.insns)
    }
}

/// Compile OCI device rules into a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
///
/// Rules apply in order, a later rule overriding earlier ones for what it matches,
/// nothing matched means deny; each requested access bit is decided on its own (so
/// `allow c 1:3 rw` then `deny c 1:3 w` refuses a read-write open of `/dev/null`).
/// Type `a` or no type matches block and char devices, `-1` or no number matches any
/// number, no access string means `rwm`; fifo rules and empty access strings match
/// nothing. At most 2048 rules are compiled; beyond that (which
/// [`validate_resources`](crate::validate_resources) refuses) the program denies
/// everything.
pub fn compile(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let rules: Vec<Rule> = rules.iter().filter_map(Rule::from_oci).collect();
    if rules.len() > MAX_RULES {
        tracing::error!(
            "{} device rules (more than {MAX_RULES}): denying every device",
            rules.len()
        );
        return deny_all();
    }
    compile_rules(&rules).unwrap_or_else(|| {
        tracing::error!("device program too large: denying every device");
        deny_all()
    })
}

fn deny_all() -> Vec<Insn> {
    vec![
        Insn::new(ALU64_MOV_K, 0, 0, 0, 0),
        Insn::new(JMP_EXIT, 0, 0, 0, 0),
    ]
}

/// The bits of a u32 as the signed immediate of a 32-bit compare.
fn imm32(v: u32) -> i32 {
    i32::from_ne_bytes(v.to_ne_bytes())
}

fn compile_rules(rules: &[Rule]) -> Option<Vec<Insn>> {
    let mut a = Asm::default();
    a.emit(Insn::new(LDX_W_MEM, 2, 1, 0, 0));
    a.emit(Insn::new(ALU64_AND_K, 2, 0, 0, 0xffff));
    a.emit(Insn::new(LDX_W_MEM, 3, 1, 0, 0));
    a.emit(Insn::new(ALU64_RSH_K, 3, 0, 0, 16));
    a.emit(Insn::new(LDX_W_MEM, 4, 1, 4, 0));
    a.emit(Insn::new(LDX_W_MEM, 5, 1, 8, 0));
    // One chain per access bit, then one for a request without any bit.
    for bit in [ACC_READ, ACC_WRITE, ACC_MKNOD, 0] {
        let end = a.label();
        if bit != 0 {
            // bit not requested: nothing to decide here
            a.emit(Insn::new(ALU64_MOV_X, 6, 3, 0, 0));
            a.emit(Insn::new(ALU64_AND_K, 6, 0, 0, i32::from(bit)));
            a.jump(JMP_JEQ_K, 6, 0, end);
        } else {
            a.jump(JMP_JNE_K, 3, 0, end);
        }
        let mut decided = false;
        for r in rules.iter().rev() {
            if bit != 0 && r.access & bit == 0 {
                continue;
            }
            let next = a.label();
            let mut conditional = false;
            for (reg, v) in [(2, r.typ), (4, r.major), (5, r.minor)] {
                if let Some(v) = v {
                    // Compare a scratch copy (w6 = wX ^ v; w6 != 0 → no match), so
                    // the verifier never learns the value of r2/r4/r5 on a matching
                    // path: if it did, it would decide the later rules' branches from
                    // that value, mark the registers precise, and could no longer
                    // prune states — the work grows with the square of the rules.
                    a.emit(Insn::new(ALU32_MOV_X, 6, reg, 0, 0));
                    a.emit(Insn::new(ALU32_XOR_K, 6, 0, 0, imm32(v)));
                    a.jump(JMP32_JNE_K, 6, 0, next);
                    conditional = true;
                }
            }
            if r.allow {
                if conditional {
                    a.jump(JMP_JA, 0, 0, end);
                }
            } else {
                a.ret(0);
            }
            a.bind(next);
            if !conditional {
                // matches every device: earlier rules can never decide this bit (and
                // the verifier refuses unreachable instructions)
                decided = true;
                break;
            }
        }
        if !decided {
            a.ret(0); // no rule matched: deny
        }
        a.bind(end);
    }
    a.ret(1);
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        typ: LinuxDeviceType,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.into()));
        r
    }

    /// A small interpreter for the subset of eBPF the compiler emits, to check the
    /// semantics on many cases (the kernel tests check the real thing).
    fn run(p: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = (usize::from(i.regs & 0x0f), usize::from(i.regs >> 4));
            let imm = i64::from(i.imm) as u64;
            let imm32 = i.imm as u32;
            let mut next = pc + 1;
            let jump = |cond: bool| {
                if cond {
                    (pc as isize + 1 + isize::from(i.off)) as usize
                } else {
                    pc + 1
                }
            };
            match i.code {
                LDX_W_MEM => {
                    assert_eq!(src, 1);
                    r[dst] = u64::from(ctx[usize::try_from(i.off).unwrap() / 4]);
                }
                ALU64_AND_K => r[dst] &= imm,
                ALU64_RSH_K => r[dst] >>= imm,
                ALU64_MOV_K => r[dst] = imm,
                ALU64_MOV_X => r[dst] = r[src],
                ALU32_MOV_X => r[dst] = r[src] & 0xffff_ffff,
                ALU32_XOR_K => r[dst] = (r[dst] ^ u64::from(imm32)) & 0xffff_ffff,
                JMP_JA => next = jump(true),
                JMP_JEQ_K => next = jump(r[dst] == imm),
                JMP_JNE_K => next = jump(r[dst] != imm),
                JMP32_JNE_K => next = jump(r[dst] as u32 != imm32),
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc = next;
        }
    }

    const R: u32 = ACC_READ as u32;
    const W: u32 = ACC_WRITE as u32;
    const M: u32 = ACC_MKNOD as u32;
    const C: u32 = DEV_CHAR;
    const B: u32 = DEV_BLOCK;

    #[test]
    fn last_matching_rule_decides_each_bit() {
        use LinuxDeviceType as T;
        let p = compile(&[
            rule(false, T::A, None, None, "rwm"),
            rule(true, T::C, Some(1), Some(5), "r"),
            rule(true, T::C, Some(1), Some(3), "rw"),
            rule(false, T::C, Some(1), Some(3), "w"),
            rule(true, T::B, Some(8), None, "m"),
        ]);
        assert_eq!(run(&p, C, R, 1, 5), 1, "zero read");
        assert_eq!(run(&p, C, W, 1, 5), 0, "zero write");
        assert_eq!(run(&p, C, R | W, 1, 5), 0, "zero rw");
        assert_eq!(run(&p, C, R, 1, 3), 1, "null read");
        assert_eq!(run(&p, C, W, 1, 3), 0, "null write");
        assert_eq!(run(&p, C, R | W, 1, 3), 0, "null rw: write is denied");
        assert_eq!(run(&p, C, R, 1, 9), 0, "urandom");
        assert_eq!(run(&p, B, M, 8, 17), 1, "mknod sdb1");
        assert_eq!(run(&p, B, R, 8, 17), 0, "read sdb1");
        assert_eq!(run(&p, C, M, 8, 17), 0, "char 8:17");
        assert_eq!(run(&p, C, 0, 1, 3), 0, "no access bit: last match (deny w)");
        assert_eq!(
            run(&p, C, 0, 1, 5),
            1,
            "no access bit: last match (allow r)"
        );
    }

    #[test]
    fn bits_from_separate_rules_combine() {
        use LinuxDeviceType as T;
        let p = compile(&[
            rule(true, T::C, Some(1), Some(3), "r"),
            rule(true, T::C, Some(1), Some(3), "w"),
        ]);
        assert_eq!(run(&p, C, R | W, 1, 3), 1);
        assert_eq!(run(&p, C, R | W | M, 1, 3), 0);
    }

    #[test]
    fn default_allow_with_exceptions_and_wildcards() {
        use LinuxDeviceType as T;
        let p = compile(&[
            rule(true, T::A, None, None, "rwm"),
            rule(false, T::C, Some(10), None, "rw"),
            rule(false, T::A, Some(4), Some(-1), "w"),
        ]);
        assert_eq!(run(&p, C, R, 1, 3), 1);
        assert_eq!(run(&p, B, R | W | M, 7, 0), 1);
        assert_eq!(run(&p, C, R, 10, 200), 0);
        assert_eq!(run(&p, C, M, 10, 200), 1);
        assert_eq!(run(&p, B, W, 4, 1), 0);
        assert_eq!(run(&p, C, R, 4, 1), 1);
    }

    #[test]
    fn no_rules_deny_everything_and_big_numbers_compare_as_u32() {
        let p = compile(&[]);
        assert_eq!(run(&p, C, R, 1, 3), 0);
        assert_eq!(run(&p, C, 0, 1, 3), 0);
        let p = compile(&[rule(
            true,
            LinuxDeviceType::C,
            Some(4095),
            Some(0xF_FFFF),
            "r",
        )]);
        assert_eq!(run(&p, C, R, 4095, 0xF_FFFF), 1);
        assert_eq!(run(&p, C, R, 4095, 0xF_FFFE), 0);
    }

    #[test]
    fn jumps_land_inside_the_program_and_nothing_is_unreachable() {
        use LinuxDeviceType as T;
        let p = compile(&[
            rule(false, T::A, None, None, "rwm"),
            rule(true, T::C, Some(1), Some(5), "rw"),
            rule(true, T::A, None, None, "m"),
        ]);
        let mut reached = vec![false; p.len()];
        let mut todo = vec![0usize];
        while let Some(pc) = todo.pop() {
            if reached[pc] {
                continue;
            }
            reached[pc] = true;
            let i = p[pc];
            if i.code == JMP_EXIT {
                continue;
            }
            if i.is_jump() {
                let t = usize::try_from(pc as isize + 1 + isize::from(i.off)).unwrap();
                assert!(t < p.len());
                todo.push(t);
                if i.code == JMP_JA {
                    continue;
                }
            }
            todo.push(pc + 1);
        }
        assert!(reached.iter().all(|r| *r), "unreachable instructions");
        assert_eq!(p.last().unwrap().code, JMP_EXIT);
    }

    #[test]
    fn the_largest_rule_set_fits_the_jump_offsets() {
        let rules: Vec<_> = (0..MAX_RULES)
            .map(|i| {
                let i = i64::try_from(i).unwrap();
                rule(i % 2 == 0, LinuxDeviceType::C, Some(i), Some(i), "rwm")
            })
            .collect();
        let p = compile(&rules);
        assert!(p.len() > MAX_RULES * 4 * 8, "fell back to deny-all");
        assert_eq!(run(&p, C, R | W, 0, 0), 1);
        assert_eq!(run(&p, C, M, 2047, 2047), 0);
        assert_eq!(run(&p, C, R, 2046, 2046), 1);
        assert_eq!(run(&p, C, R, 2046, 2045), 0);
        let mut too_many = rules.clone();
        too_many.push(rules[0].clone());
        assert_eq!(compile(&too_many), deny_all());
    }

    #[test]
    fn v1_lines() {
        use LinuxDeviceType as T;
        let l = |r| Rule::from_oci(&r).unwrap().v1_lines();
        assert_eq!(l(rule(false, T::A, None, None, "rwm")), ["a"]);
        assert_eq!(l(rule(false, T::A, Some(-1), Some(-1), "mwr")), ["a"]);
        assert_eq!(
            l(rule(true, T::A, Some(1), None, "r")),
            ["c 1:* r", "b 1:* r"]
        );
        assert_eq!(l(rule(true, T::B, Some(8), Some(0), "wr")), ["b 8:0 rw"]);
        assert!(Rule::from_oci(&rule(true, T::C, Some(1), Some(3), "")).is_none());
        assert!(Rule::from_oci(&rule(true, T::P, None, None, "rwm")).is_none());
    }
}
