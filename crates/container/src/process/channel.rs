//! The sync channel between the runtime (parent) and the container init (child).
//!
//! A `SOCK_SEQPACKET` socketpair created before clone; each message is one packet:
//! a tag byte plus payload. It carries, in order:
//!
//! | direction | tag | payload | meaning |
//! |---|---|---|---|
//! | parent → child | `G` | host pid (i32 LE) | cgroups applied, id maps written: go |
//! | child → parent | `h` | — | mounts done, before pivot_root: run prestart/createRuntime hooks |
//! | parent → child | `H` | — | hooks done |
//! | child → parent | `S` | fd (SCM_RIGHTS) | seccomp notify listener fd, for `listenerPath` |
//! | child → parent | `R` | — | ready: about to wait on the exec fifo (or to exec, for `exec`) |
//! | child → parent | `E` | utf-8 message | setup failed; the child exits |
//!
//! Both ends are `O_CLOEXEC`; the child's end disappears at execve.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use crate::error::{ContainerError, Result};

/// A message on the sync channel.
#[derive(Debug)]
pub enum Msg {
    /// Parent → child: go on (with the child's pid as the host sees it).
    Go(i32),
    /// Child → parent: run the runtime-namespace hooks now.
    HooksPlease,
    /// Parent → child: hooks done.
    HooksDone,
    /// Child → parent: seccomp notify fd.
    SeccompFd(OwnedFd),
    /// Child → parent: ready.
    Ready,
    /// Child → parent: setup failed.
    Error(String),
}

/// Decode one packet (tag byte + payload; `fd` is what SCM_RIGHTS carried). The
/// peer is a process that may already run under container control: anything
/// malformed is an error, never a panic.
pub fn decode(packet: &[u8], fd: Option<OwnedFd>) -> Result<Msg> {
    let Some((&tag, body)) = packet.split_first() else {
        return Err(ContainerError::InitFailed("empty sync message".into()));
    };
    Ok(match tag {
        b'G' if body.len() == 4 => {
            Msg::Go(i32::from_le_bytes(body.try_into().expect("length checked")))
        }
        b'h' if body.is_empty() => Msg::HooksPlease,
        b'H' if body.is_empty() => Msg::HooksDone,
        b'S' => Msg::SeccompFd(fd.ok_or_else(|| {
            ContainerError::InitFailed("seccomp fd message without an fd".into())
        })?),
        b'R' if body.is_empty() => Msg::Ready,
        b'E' => Msg::Error(String::from_utf8_lossy(body).into_owned()),
        other => {
            return Err(ContainerError::InitFailed(format!(
                "malformed sync message (tag {other:#x}, {} bytes)",
                body.len()
            )))
        }
    })
}

/// One end of the sync channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// Create a connected pair: (parent end, child end).
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| ContainerError::nix("socketpair", e))?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Raw fd (for keeping it across close_range decisions).
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Send a message.
    pub fn send(&self, msg: &Msg) -> Result<()> {
        let mut buf = Vec::with_capacity(8);
        let mut fds: Vec<RawFd> = Vec::new();
        match msg {
            Msg::Go(pid) => {
                buf.push(b'G');
                buf.extend_from_slice(&pid.to_le_bytes());
            }
            Msg::HooksPlease => buf.push(b'h'),
            Msg::HooksDone => buf.push(b'H'),
            Msg::SeccompFd(fd) => {
                buf.push(b'S');
                fds.push(fd.as_raw_fd());
            }
            Msg::Ready => buf.push(b'R'),
            Msg::Error(m) => {
                buf.push(b'E');
                buf.extend_from_slice(m.as_bytes());
            }
        }
        let iov = [IoSlice::new(&buf)];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(self.fd.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)
            .map_err(|e| ContainerError::nix("send on sync channel", e))?;
        Ok(())
    }

    /// Receive a message; `Ok(None)` when the other end closed (the child died or
    /// exec'd).
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 4096];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = loop {
                match recvmsg::<()>(
                    self.fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg_space),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                ) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => break other,
                }
            }
            .map_err(|e| ContainerError::nix("receive on sync channel", e))?;
            let mut fd = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        for raw in fds {
                            // SAFETY: the kernel installed this fd into our table just
                            // now (SCM_RIGHTS); we are its only owner.
                            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                            fd.get_or_insert(owned);
                        }
                    }
                }
            }
            (msg.bytes, fd)
        };
        if n == 0 {
            return Ok(None);
        }
        decode(&buf[..n], fd).map(Some)
    }

    /// Borrow the fd.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_over_a_real_socketpair() {
        let (a, b) = pair().unwrap();
        a.send(&Msg::Go(4242)).unwrap();
        assert!(matches!(b.recv().unwrap(), Some(Msg::Go(4242))));
        b.send(&Msg::Error("boom".into())).unwrap();
        assert!(matches!(a.recv().unwrap(), Some(Msg::Error(m)) if m == "boom"));
        let f = std::fs::File::open("/dev/null").unwrap();
        b.send(&Msg::SeccompFd(f.into())).unwrap();
        assert!(matches!(a.recv().unwrap(), Some(Msg::SeccompFd(_))));
        drop(b);
        assert!(a.recv().unwrap().is_none());
    }

    #[test]
    fn malformed_packets_are_errors() {
        for p in [&b""[..], b"G12", b"Gxxxxx", b"Rx", b"S", b"\xff"] {
            assert!(decode(p, None).is_err(), "{p:?}");
        }
    }
}
