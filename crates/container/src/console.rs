//! Terminals (`process.terminal: true`), as runc does them.
//!
//! The container process gets a new pseudo-terminal from the container's own devpts
//! (`/dev/ptmx` after the rootfs is set up, or the joined mount namespace's for
//! `exec`). It becomes a session leader with the slave as its controlling terminal
//! and as fds 0, 1 and 2. The master is sent over the *console socket* (SCM_RIGHTS,
//! with the pty's name as payload) to whoever asked for it with `--console-socket`:
//! conmon, containerd's shim, or — for a foreground `run`/`exec` without a socket —
//! the runtime itself, which then relays its own stdio to the master.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::error::{ContainerError, Result};

/// Connect to the client's console socket (a Unix stream socket path).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path)
        .map_err(|e| ContainerError::io("connect to console socket", path, e))?;
    Ok(OwnedFd::from(s))
}

/// A connected socket pair: `(runtime end, child end)`, for a runtime that keeps the
/// terminal itself (foreground `run`/`exec` without `--console-socket`).
pub fn private_pair() -> Result<(OwnedFd, OwnedFd)> {
    let (a, b) = UnixStream::pair()
        .map_err(|e| ContainerError::io("create", "the console socket pair", e))?;
    Ok((OwnedFd::from(a), OwnedFd::from(b)))
}

/// In the container process, before its user and capabilities change: create the
/// pty, send the master over `socket`, make the slave the controlling terminal and
/// stdio. `size` is `process.consoleSize` (rows, cols).
pub(crate) fn setup_child(
    socket: RawFd,
    size: Option<(u16, u16)>,
    uid: u32,
    gid: u32,
) -> Result<()> {
    let (master, slave, n) = caisson_sys::open_pty(c"/dev/ptmx")?;
    if let Some((rows, cols)) = size {
        caisson_sys::set_winsize(slave.as_fd(), rows, cols)?;
    }
    // Best effort: an unmapped uid in a user namespace cannot own it (EINVAL).
    let _ = nix::unistd::fchown(
        &slave,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    );
    send_fd(socket, master.as_fd(), format!("/dev/pts/{n}").as_bytes())?;
    drop(master);
    nix::unistd::setsid().map_err(|e| ContainerError::nix("setsid", e))?;
    caisson_sys::set_controlling_tty(slave.as_fd())?;
    for target in 0..3 {
        // SAFETY: dup2 takes integers; `slave` stays open across the calls.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(ContainerError::nix(
                format!("dup2 the terminal to fd {target}"),
                nix::errno::Errno::last(),
            ));
        }
    }
    if slave.as_raw_fd() <= 2 {
        std::mem::forget(slave); // it is one of the stdio fds now
    }
    Ok(())
}

fn send_fd(socket: RawFd, fd: BorrowedFd<'_>, name: &[u8]) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let fds = [fd.as_raw_fd()];
    loop {
        match sendmsg::<UnixAddr>(
            socket,
            &[IoSlice::new(name)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(ContainerError::nix(
                    "send the pty master to the console socket",
                    e,
                ))
            }
            Ok(_) => return Ok(()),
        }
    }
}

/// Receive a pty master sent by [`setup_child`].
pub fn recv_master(socket: BorrowedFd<'_>) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    let mut buf = [0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| ContainerError::nix("receive the pty master", e))?;
    for c in msg
        .cmsgs()
        .map_err(|e| ContainerError::nix("receive the pty master", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this fd in our table for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(ContainerError::InitFailed(
        "the container sent no terminal over the console socket".into(),
    ))
}

/// Set by SIGWINCH while [`relay`] runs.
static WINCH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Restores the terminal mode of our stdin on drop.
struct RawMode(Option<nix::sys::termios::Termios>);

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Relay our stdin to the pty master and the master to our stdout until the
/// container side of the terminal is closed (every slave fd gone: the process
/// exited). Our stdin is put in raw mode while it is a terminal, and window size
/// changes (SIGWINCH) are passed on.
pub fn relay(master: OwnedFd) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let is_tty = nix::unistd::isatty(stdin.as_fd()).unwrap_or(false);
    let _raw = RawMode(if is_tty {
        let orig = nix::sys::termios::tcgetattr(stdin.as_fd()).ok();
        if let Some(o) = &orig {
            let mut raw = o.clone();
            nix::sys::termios::cfmakeraw(&mut raw);
            let _ = nix::sys::termios::tcsetattr(
                stdin.as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                &raw,
            );
        }
        orig
    } else {
        None
    });
    let copy_size = || {
        if let Some((r, c)) = caisson_sys::get_winsize(stdin.as_fd()) {
            let _ = caisson_sys::set_winsize(master.as_fd(), r, c);
        }
    };
    if is_tty {
        copy_size();
        let act = SigAction::new(
            SigHandler::Handler(on_winch),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(Signal::SIGWINCH, &act) };
    }
    let mut stdin_open = true;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => {
                if WINCH.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    copy_size();
                }
                continue;
            }
            Err(e) => return Err(ContainerError::nix("poll the terminal", e)),
            Ok(_) => {}
        }
        let m_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        let s_ev = fds
            .get(1)
            .and_then(PollFd::revents)
            .unwrap_or(PollFlags::empty());
        if !m_ev.is_empty() {
            match nix::unistd::read(&master, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => return Ok(()), // slave side closed
                Ok(n) => write_all(stdout.as_fd(), &buf[..n])?,
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(ContainerError::nix("read the terminal", e)),
            }
        }
        if !s_ev.is_empty() {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => write_all(master.as_fd(), &buf[..n])?,
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(ContainerError::nix("relay terminal output", e)),
        }
    }
    Ok(())
}
