//! OOM notification for a cgroup, as a file descriptor to poll:
//! - cgroup v1: an eventfd registered in `cgroup.event_control` for
//!   `memory.oom_control` (the kernel adds one to it at every OOM of the cgroup);
//! - cgroup v2: inotify on `memory.events` (modified whenever one of its counters
//!   moves), whose `oom`/`oom_kill` counters are compared with the last read.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::fs::{io_err, write_file};
use crate::stats::{absent, parse_keyed};
use crate::CgroupError;

/// Watches a cgroup for out-of-memory events (from
/// [`CgroupManager::oom_watcher`](crate::CgroupManager::oom_watcher)).
///
/// Poll [`OomWatcher::fd`] for `POLLIN`, then call [`OomWatcher::read_event`]. The
/// descriptor is non-blocking and close-on-exec; dropping the watcher unregisters it.
#[derive(Debug)]
pub struct OomWatcher {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    V1 {
        efd: EventFd,
        /// Held open for the registration's lifetime (as runc does).
        _oom_control: File,
        dir: PathBuf,
    },
    V2 {
        inotify: Inotify,
        dir: PathBuf,
        /// `memory.events` counters at the last read.
        oom: u64,
        oom_kill: u64,
    },
}

fn errno(e: Errno) -> std::io::Error {
    std::io::Error::from(e)
}

/// The error of a watcher whose cgroup was removed.
fn gone(dir: &Path) -> CgroupError {
    io_err(
        "watch for OOM events in the cgroup",
        dir,
        std::io::Error::from_raw_os_error(libc::ENOENT),
    )
}

/// `oom` and `oom_kill` of a v2 `memory.events`.
fn counters(dir: &Path) -> Result<(u64, u64), std::io::Error> {
    let s = std::fs::read_to_string(dir.join("memory.events"))?;
    let kv = parse_keyed(&s);
    let get = |key: &str| {
        kv.iter()
            .find_map(|(k, v)| (k == key).then_some(*v))
            .unwrap_or(0)
    };
    Ok((get("oom"), get("oom_kill")))
}

impl OomWatcher {
    /// Register an eventfd for the OOM notifications of the v1 memory cgroup `dir`.
    pub(crate) fn v1(dir: &Path) -> Result<Self, CgroupError> {
        let ctl = dir.join("memory.oom_control");
        let oom_control = File::open(&ctl).map_err(|e| io_err("open", &ctl, e))?;
        let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| io_err("create an eventfd for", &ctl, errno(e)))?;
        let reg = dir.join("cgroup.event_control");
        write_file(
            &reg,
            &format!("{} {}", efd.as_raw_fd(), oom_control.as_raw_fd()),
        )
        .map_err(|e| io_err("write", &reg, e))?;
        Ok(OomWatcher {
            inner: Inner::V1 {
                efd,
                _oom_control: oom_control,
                dir: dir.to_path_buf(),
            },
        })
    }

    /// Watch `memory.events` of the v2 cgroup `dir`.
    pub(crate) fn v2(dir: &Path) -> Result<Self, CgroupError> {
        let events = dir.join("memory.events");
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| io_err("create an inotify instance for", &events, errno(e)))?;
        inotify
            .add_watch(&events, AddWatchFlags::IN_MODIFY)
            .map_err(|e| io_err("watch", &events, errno(e)))?;
        let (oom, oom_kill) = counters(dir).map_err(|e| io_err("read", &events, e))?;
        Ok(OomWatcher {
            inner: Inner::V2 {
                inotify,
                dir: dir.to_path_buf(),
                oom,
                oom_kill,
            },
        })
    }

    /// The descriptor to poll for `POLLIN` (an eventfd on v1, an inotify instance on
    /// v2).
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Inner::V1 { efd, .. } => efd.as_fd(),
            Inner::V2 { inotify, .. } => inotify.as_fd(),
        }
    }

    /// OOM events since the last call (or since the watcher was made); 0 when none
    /// (it never blocks). On v2 this is the larger of the increases of `oom` and
    /// `oom_kill` in `memory.events` (an OOM in the cgroup or below it).
    ///
    /// A cgroup removed since the watcher was made is an error (the kernel signals
    /// the removal on the same descriptor), so an event loop knows to stop.
    pub fn read_event(&mut self) -> Result<u64, CgroupError> {
        match &mut self.inner {
            Inner::V1 { efd, dir, .. } => {
                let n = match efd.read() {
                    Ok(n) => n,
                    Err(Errno::EAGAIN) => 0,
                    Err(e) => return Err(io_err("read the OOM eventfd of", dir, errno(e))),
                };
                // the eventfd is also signalled when the cgroup goes away
                if n > 0 && !dir.join("cgroup.event_control").exists() {
                    return Err(gone(dir));
                }
                Ok(n)
            }
            Inner::V2 {
                inotify,
                dir,
                oom,
                oom_kill,
            } => {
                let mut removed = false;
                loop {
                    match inotify.read_events() {
                        Ok(evs) if evs.is_empty() => break,
                        Ok(evs) => {
                            removed |= evs.iter().any(|e| {
                                e.mask.intersects(
                                    AddWatchFlags::IN_IGNORED | AddWatchFlags::IN_DELETE_SELF,
                                )
                            });
                        }
                        Err(Errno::EAGAIN) => break,
                        Err(e) => return Err(io_err("read the inotify events of", dir, errno(e))),
                    }
                }
                let (new_oom, new_kill) = match counters(dir) {
                    Ok(c) => c,
                    Err(e) if absent(&e) => return Err(gone(dir)),
                    Err(e) => return Err(io_err("read", &dir.join("memory.events"), e)),
                };
                if removed {
                    return Err(gone(dir));
                }
                let n = new_oom
                    .saturating_sub(*oom)
                    .max(new_kill.saturating_sub(*oom_kill));
                *oom = new_oom;
                *oom_kill = new_kill;
                Ok(n)
            }
        }
    }
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    use crate::fs::Manager;
    use crate::mounts::Hierarchy;
    use crate::{CgroupManager, CgroupSetup};

    fn ready(w: &super::OomWatcher, ms: u16) -> bool {
        let mut fds = [PollFd::new(w.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(ms)).unwrap() == 1
    }

    #[test]
    fn v2_watcher_counts_increases_of_memory_events() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        std::fs::create_dir(&dir).unwrap();
        let events = dir.join("memory.events");
        std::fs::write(&events, "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n").unwrap();
        let h = |controllers: &[&str]| Hierarchy {
            mount: tmp.path().to_path_buf(),
            root: PathBuf::from("/"),
            controllers: controllers.iter().map(ToString::to_string).collect(),
            v2: true,
        };
        let m = Manager::new(
            CgroupSetup::Unified,
            vec![(h(&["memory"]), PathBuf::from("c"))],
            false,
            false,
        );
        let mut w = m.oom_watcher().unwrap().expect("a memory controller");
        assert!(!ready(&w, 0));
        assert_eq!(w.read_event().unwrap(), 0, "counts before the watcher");

        // another counter moves: readable, but no OOM
        std::fs::write(&events, "low 0\nhigh 1\nmax 8\noom 2\noom_kill 2\n").unwrap();
        assert!(ready(&w, 1000));
        assert_eq!(w.read_event().unwrap(), 0);
        assert!(!ready(&w, 0), "read_event drains the descriptor");

        std::fs::write(&events, "low 0\nhigh 1\nmax 9\noom 3\noom_kill 5\n").unwrap();
        assert!(ready(&w, 1000));
        assert_eq!(w.read_event().unwrap(), 3);
        assert_eq!(w.read_event().unwrap(), 0);

        // the cgroup going away is an error naming it
        std::fs::remove_file(&events).unwrap();
        assert!(ready(&w, 1000));
        let e = w.read_event().unwrap_err().to_string();
        assert!(e.contains(&dir.display().to_string()), "{e}");

        // no memory controller: no watcher
        let m = Manager::new(
            CgroupSetup::Unified,
            vec![(h(&["cpu"]), PathBuf::from("c"))],
            false,
            false,
        );
        assert!(m.oom_watcher().unwrap().is_none());
    }
}
