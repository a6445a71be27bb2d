//! The cgroup v2 device controller: the kernel has no `devices.*` files on cgroup2;
//! device access is decided by `BPF_PROG_TYPE_CGROUP_DEVICE` programs attached to the
//! cgroup. [`compile`] turns the OCI rules into such a program (with the semantics of
//! the v1 controller: later rules override earlier ones, default deny); this module
//! loads and attaches it with the raw `bpf(2)` syscall — no libbpf. It holds every
//! `unsafe` block of the crate.
//!
//! Programs are attached with `BPF_F_ALLOW_MULTI`: every program attached to the
//! cgroup and its ancestors must allow an access. [`install`] replaces the programs
//! attached earlier to the same cgroup (a second `set`), so rules can also loosen.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub use crate::devices::{compile, Insn};
use crate::CgroupError;

// enum bpf_cmd
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
// enum bpf_prog_type, enum bpf_attach_type
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
// attach flags
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

/// `bpf(cmd, attr, size)`; `attr` must be the `union bpf_attr` member for `cmd`.
///
/// # Safety
/// `attr` must point to a `#[repr(C)]` value laid out as the prefix of `union
/// bpf_attr` that `cmd` reads, valid for reads (and writes, for commands that write
/// results back) for the duration of the call, and every pointer it carries must be
/// valid for what the kernel does with it.
unsafe fn bpf<T>(cmd: libc::c_long, attr: *mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: forwarded from the caller's contract; the size passed is the size of
    // the value `attr` points to, so the kernel reads/writes no more than that.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr, std::mem::size_of::<T>()) };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Take ownership of an fd the kernel just returned.
fn owned_fd(ret: libc::c_long) -> OwnedFd {
    let fd = i32::try_from(ret).expect("the kernel returns fds as int");
    // SAFETY: `fd` was just returned by a successful bpf(2) call that creates a new
    // file descriptor; nothing else in the process knows or owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn raw(fd: BorrowedFd<'_>) -> u32 {
    u32::try_from(fd.as_raw_fd()).expect("a valid fd is not negative")
}

/// Load `prog` into the kernel; on refusal the error carries the verifier's log.
pub fn load(prog: &[Insn]) -> Result<OwnedFd, CgroupError> {
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
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
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..14].copy_from_slice(b"caisson_device");
    let insn_cnt = u32::try_from(prog.len()).map_err(|_| CgroupError::Bpf {
        what: "load device program",
        source: std::io::Error::from_raw_os_error(libc::E2BIG),
    })?;
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    // SAFETY: `attr` is the BPF_PROG_LOAD member of `union bpf_attr` (#[repr(C)],
    // fields in the kernel's order, unused ones zero). `insns` points to `insn_cnt`
    // `struct bpf_insn`s (`Insn` is #[repr(C)] with the same 8-byte layout) and
    // `license` to a NUL-terminated string; both borrowed for the whole call and
    // only read by the kernel.
    match unsafe { bpf(BPF_PROG_LOAD, &raw mut attr) } {
        Ok(fd) => Ok(owned_fd(fd)),
        Err(err) => {
            // Ask again with the verifier's log, so the error says why.
            let mut log = vec![0u8; 64 * 1024];
            let mut again = ProgLoad {
                log_level: 1,
                log_size: u32::try_from(log.len()).expect("64 KiB fits u32"),
                log_buf: log.as_mut_ptr() as u64,
                ..attr
            };
            // SAFETY: as above; in addition `log_buf` points to `log_size` writable
            // bytes that live (and are not otherwise accessed) for the whole call.
            if let Ok(fd) = unsafe { bpf(BPF_PROG_LOAD, &raw mut again) } {
                return Ok(owned_fd(fd)); // a transient failure
            }
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0').trim();
            let tail: String = {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(8)..].join("; ")
            };
            Err(CgroupError::Bpf {
                what: "load device program",
                source: std::io::Error::new(
                    err.kind(),
                    format!("{}; verifier: {tail}", crate::os_message(&err)),
                ),
            })
        }
    }
}

/// `union bpf_attr` for BPF_PROG_ATTACH / BPF_PROG_DETACH.
#[repr(C)]
#[derive(Default)]
struct Attach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// Attach a loaded device program to the cgroup directory `cgroup` (multi-attach:
/// every attached program must allow an access, so adding one never loosens).
pub fn attach(prog: BorrowedFd<'_>, cgroup: BorrowedFd<'_>) -> Result<(), CgroupError> {
    let mut attr = Attach {
        target_fd: raw(cgroup),
        attach_bpf_fd: raw(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attr` is the BPF_PROG_ATTACH member of `union bpf_attr`, valid for the
    // call; it carries only integers (fds borrowed, so open, for the call).
    unsafe { bpf(BPF_PROG_ATTACH, &raw mut attr) }
        .map(drop)
        .map_err(|source| CgroupError::Bpf {
            what: "attach device program",
            source,
        })
}

/// Atomically replace the attached program `old` by `prog` on `cgroup`.
fn replace(
    prog: BorrowedFd<'_>,
    old: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
) -> std::io::Result<()> {
    let mut attr = Attach {
        target_fd: raw(cgroup),
        attach_bpf_fd: raw(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI | BPF_F_REPLACE,
        replace_bpf_fd: raw(old),
    };
    // SAFETY: as in `attach`; `replace_bpf_fd` is another borrowed, open fd.
    unsafe { bpf(BPF_PROG_ATTACH, &raw mut attr) }.map(drop)
}

/// Detach the device program `prog` from `cgroup`.
pub fn detach(prog: BorrowedFd<'_>, cgroup: BorrowedFd<'_>) -> Result<(), CgroupError> {
    let mut attr = Attach {
        target_fd: raw(cgroup),
        attach_bpf_fd: raw(prog),
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    // SAFETY: `attr` is the BPF_PROG_DETACH member of `union bpf_attr` (same layout
    // as for attach), valid for the call; only integers (borrowed, open fds).
    unsafe { bpf(BPF_PROG_DETACH, &raw mut attr) }
        .map(drop)
        .map_err(|source| CgroupError::Bpf {
            what: "detach device program",
            source,
        })
}

/// Ids of the device programs attached directly to `cgroup` (not inherited ones).
pub fn query(cgroup: BorrowedFd<'_>) -> Result<Vec<u32>, CgroupError> {
    #[repr(C)]
    struct Query {
        target_fd: u32,
        attach_type: u32,
        query_flags: u32,
        attach_flags: u32,
        prog_ids: u64,
        prog_cnt: u32,
        _pad: u32,
    }
    let mut cap = 16usize;
    loop {
        let mut ids = vec![0u32; cap];
        let mut attr = Query {
            target_fd: raw(cgroup),
            attach_type: BPF_CGROUP_DEVICE,
            query_flags: 0,
            attach_flags: 0,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: u32::try_from(cap).expect("small"),
            _pad: 0,
        };
        // SAFETY: `attr` is the BPF_PROG_QUERY member of `union bpf_attr`, writable
        // for the call (the kernel writes `attach_flags` and `prog_cnt` back);
        // `prog_ids` points to `prog_cnt` writable u32s that live for the call.
        match unsafe { bpf(BPF_PROG_QUERY, &raw mut attr) } {
            Ok(_) => {
                ids.truncate(usize::try_from(attr.prog_cnt).expect("u32 fits usize"));
                return Ok(ids);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && cap < 4096 => cap *= 4,
            Err(source) => {
                return Err(CgroupError::Bpf {
                    what: "query device programs",
                    source,
                })
            }
        }
    }
}

/// An fd for the loaded program with id `id`.
pub fn prog_fd_by_id(id: u32) -> Result<OwnedFd, CgroupError> {
    #[repr(C)]
    struct GetFd {
        prog_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    let mut attr = GetFd {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    // SAFETY: `attr` is the BPF_PROG_GET_FD_BY_ID member of `union bpf_attr`, valid
    // for the call; integers only. On success the kernel returns a new fd.
    unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &raw mut attr) }
        .map(owned_fd)
        .map_err(|source| CgroupError::Bpf {
            what: "open device program by id",
            source,
        })
}

/// Make `prog` the device program of `cgroup`: attach it, and take off the device
/// programs attached to `cgroup` before (a previous `set`). With exactly one old
/// program it is swapped atomically (`BPF_F_REPLACE`); otherwise the new one is
/// attached first, so there is no moment without a program (both apply meanwhile,
/// which only denies more).
pub fn install(prog: BorrowedFd<'_>, cgroup: BorrowedFd<'_>) -> Result<(), CgroupError> {
    let old: Vec<OwnedFd> = query(cgroup)?
        .into_iter()
        .filter_map(|id| match prog_fd_by_id(id) {
            Ok(fd) => Some(fd),
            Err(e) => {
                // detached and freed meanwhile
                tracing::debug!("device program {id}: {e}");
                None
            }
        })
        .collect();
    if let [one] = old.as_slice() {
        use std::os::fd::AsFd;
        match replace(prog, one.as_fd(), cgroup) {
            Ok(()) => return Ok(()),
            Err(e) => tracing::debug!("BPF_F_REPLACE refused ({e}); attach, then detach"),
        }
    }
    attach(prog, cgroup)?;
    for fd in &old {
        use std::os::fd::AsFd;
        match detach(fd.as_fd(), cgroup) {
            Ok(()) => {}
            // already gone
            Err(CgroupError::Bpf { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
