//! The cgroup v2 device controller: the kernel has no `devices.*` files on cgroup2;
//! device access is decided by a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to
//! the cgroup. We compile the OCI rules into such a program (as runc's devicefilter
//! and crun's ebpf.c do) with the raw `bpf(2)` syscall — no libbpf.
//!
//! Semantics follow cgroup v1: rules apply in order and a later rule overrides an
//! earlier one for what it matches, so the program tests the rules from last to first
//! and the first match decides; nothing matched means deny.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::CgroupError;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8, // dst:4 (low), src:4 (high)
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

// opcodes (linux/bpf_common.h, linux/bpf.h)
const LDX_W_MEM: u8 = 0x61; // BPF_LDX | BPF_W | BPF_MEM
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |a, c| {
        a | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// Compile device rules to a program. Registers: r2 = type, r3 = access requested,
/// r4 = major, r5 = minor (from `struct bpf_cgroup_dev_ctx { u32 access_type; u32
/// major; u32 minor; }`, access_type = access << 16 | type).
pub fn compile(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W_MEM, 2, 1, 0, 0),
        insn(ALU64_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W_MEM, 3, 1, 0, 0),
        insn(ALU64_RSH_K, 3, 0, 0, 16),
        insn(LDX_W_MEM, 4, 1, 4, 0),
        insn(LDX_W_MEM, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut block: Vec<Insn> = Vec::new();
        // Each check jumps to the end of this block when it does not match; the
        // offsets are patched once the block length is known.
        match r.typ() {
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => {
                block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_CHAR))
            }
            Some(LinuxDeviceType::B) => block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_BLOCK)),
            Some(LinuxDeviceType::P) => continue, // fifos are not device nodes
            Some(LinuxDeviceType::A) | None => {}
        }
        let acc = access_bits(r.access().as_deref().unwrap_or("rwm"));
        if acc != ACC_READ | ACC_WRITE | ACC_MKNOD {
            // requested access must be a subset of the rule's
            block.push(insn(ALU64_MOV_X, 6, 3, 0, 0));
            block.push(insn(ALU64_AND_K, 6, 0, 0, !acc & 0x7));
            block.push(insn(JMP_JNE_K, 6, 0, 0, 0));
        }
        if let Some(m) = r.major().filter(|m| *m >= 0) {
            block.push(insn(
                JMP_JNE_K,
                4,
                0,
                0,
                i32::try_from(m).unwrap_or(i32::MAX),
            ));
        }
        if let Some(m) = r.minor().filter(|m| *m >= 0) {
            block.push(insn(
                JMP_JNE_K,
                5,
                0,
                0,
                i32::try_from(m).unwrap_or(i32::MAX),
            ));
        }
        let unconditional = block.is_empty();
        block.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(r.allow())));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        if unconditional {
            // matches every access: earlier rules can never decide (and the verifier
            // refuses unreachable instructions)
            p.extend(block);
            return p;
        }
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JMP_JNE_K {
                ins.off = i16::try_from(len - i - 1).expect("blocks are short");
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn bpf_err(what: &'static str) -> CgroupError {
    CgroupError::Bpf {
        what,
        source: std::io::Error::last_os_error(),
    }
}

/// Load `prog` into the kernel.
pub fn load(prog: &[Insn]) -> Result<OwnedFd, CgroupError> {
    #[repr(C)]
    #[derive(Default)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }
    let license = c"Apache-2.0 OR GPL";
    let mut name = [0u8; 16];
    name[..14].copy_from_slice(b"caisson_device");
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(prog.len()).expect("programs are small"),
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    // SAFETY: `attr` is a properly laid out prefix of `union bpf_attr` for
    // BPF_PROG_LOAD (#[repr(C)], unused fields zero); the pointers it carries (`prog`,
    // `license`) stay valid for the duration of the call, and the kernel only reads
    // them. The size passed is that of our struct.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            std::ptr::from_ref(&attr),
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        // Ask again with the verifier's log, so the error says why.
        let mut log = vec![0u8; 16 * 1024];
        let attr = ProgLoad {
            log_level: 1,
            log_size: u32::try_from(log.len()).expect("small"),
            log_buf: log.as_mut_ptr() as u64,
            ..attr
        };
        // SAFETY: as above; `log` is a writable buffer of `log_size` bytes that lives
        // for the call.
        let _ = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_LOAD,
                std::ptr::from_ref(&attr),
                std::mem::size_of::<ProgLoad>(),
            )
        };
        let text = String::from_utf8_lossy(&log);
        let text = text.trim_end_matches('\0').trim();
        return Err(CgroupError::Bpf {
            what: "load device program",
            source: std::io::Error::new(err.kind(), format!("{err}; verifier: {text}")),
        });
    }
    let fd = i32::try_from(fd).expect("fds fit in i32");
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attach a loaded device program to the cgroup directory `cgroup` (multi-attach:
/// every attached program must allow an access, so adding one never loosens).
pub fn attach(prog: BorrowedFd<'_>, cgroup: BorrowedFd<'_>) -> Result<(), CgroupError> {
    #[repr(C)]
    struct Attach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
    }
    let attr = Attach {
        target_fd: u32::try_from(cgroup.as_raw_fd()).expect("valid fd"),
        attach_bpf_fd: u32::try_from(prog.as_raw_fd()).expect("valid fd"),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attr` is the BPF_PROG_ATTACH prefix of `union bpf_attr`, valid for the
    // call; it only carries integers (fds we hold open for the call's duration).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            std::ptr::from_ref(&attr),
            std::mem::size_of::<Attach>(),
        )
    };
    if ret < 0 {
        return Err(bpf_err("attach device program"));
    }
    Ok(())
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

    #[test]
    fn jumps_land_inside_the_program() {
        let p = compile(&[
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(5), "rw"),
        ]);
        for (i, ins) in p.iter().enumerate() {
            if ins.code == JMP_JNE_K {
                assert!(i + 1 + usize::try_from(ins.off).unwrap() < p.len());
            }
        }
        assert_eq!(p.last().unwrap().code, JMP_EXIT);
    }
}
