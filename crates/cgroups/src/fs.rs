//! The cgroupfs manager: one directory per mounted hierarchy, each controller driven
//! with the semantics of the hierarchy it is on (v1 files on a v1 mount, v2 files on
//! the cgroup2 mount — which on a hybrid host is where e.g. `hugetlb` may live).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::mounts::Hierarchy;
use crate::{CgroupError, CgroupManager, CgroupSetup, OomWatcher, Stats};

/// The container's cgroup in one hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub h: Hierarchy,
    /// The container's cgroup directory (mount point joined with the path).
    pub dir: PathBuf,
    /// The path relative to the mount point.
    pub rel: PathBuf,
}

/// A container's cgroup on every hierarchy of the host.
#[derive(Debug)]
pub(crate) struct Manager {
    pub setup: CgroupSetup,
    pub entries: Vec<Entry>,
    /// What [`CgroupManager::path`] shows (the path in the main hierarchy).
    pub path: PathBuf,
    pub rootless: bool,
    /// Created through cgroupfs at the path systemd would use.
    pub systemd: bool,
}

pub(crate) fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> CgroupError {
    CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Write a cgroup file in one `write(2)`, without creating it.
pub(crate) fn write_file(path: &Path, value: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// How long `remove` retries a busy directory, and freezing waits for its state.
const REMOVE_RETRY: Duration = Duration::from_secs(1);
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

impl Manager {
    /// Build a manager from each hierarchy and the container's path in it (relative
    /// to the hierarchy's mount point).
    pub fn new(
        setup: CgroupSetup,
        placed: Vec<(Hierarchy, PathBuf)>,
        rootless: bool,
        systemd: bool,
    ) -> Self {
        let entries: Vec<Entry> = placed
            .into_iter()
            .map(|(h, rel)| Entry {
                dir: h.mount.join(&rel),
                h,
                rel,
            })
            .collect();
        let main = match setup {
            CgroupSetup::Unified => entries.iter().find(|e| e.h.v2),
            _ => ["pids", "memory", "devices"]
                .iter()
                .find_map(|c| entries.iter().find(|e| !e.h.v2 && e.h.has(c)))
                .or_else(|| entries.iter().find(|e| !e.h.v2)),
        }
        .or(entries.first());
        let path = Path::new("/").join(main.map(|e| e.rel.as_path()).unwrap_or(Path::new("")));
        Manager {
            setup,
            entries,
            path,
            rootless,
            systemd,
        }
    }

    /// The entry that drives `ctrl`: a v1 hierarchy with it, else the cgroup2 mount
    /// if its root offers it.
    pub fn entry_for(&self, ctrl: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| !e.h.v2 && e.h.has(ctrl))
            .or_else(|| self.entries.iter().find(|e| e.h.v2 && e.h.has(ctrl)))
    }

    /// The entry whose directory stands for the cgroup's existence and processes:
    /// the cgroup2 one on a unified host, else a v1 hierarchy (`pids` first).
    pub fn main_entry(&self) -> Option<&Entry> {
        match self.setup {
            CgroupSetup::Unified => self.unified(),
            _ => ["pids", "devices", "memory", "freezer"]
                .iter()
                .find_map(|c| self.entries.iter().find(|e| !e.h.v2 && e.h.has(c)))
                .or_else(|| self.entries.iter().find(|e| !e.h.v2)),
        }
        .or(self.entries.first())
    }

    /// The cgroup2 entry, if the host has a cgroup2 mount.
    pub fn unified(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.h.v2)
    }

    /// Whether an error may be skipped: rootless, and the kind of failure an
    /// unprivileged user gets for cgroups not delegated to it (runc's list), or the
    /// cgroup missing because creating it was already skipped.
    fn ignorable(&self, e: &std::io::Error, dir: &Path) -> bool {
        self.rootless
            && (matches!(
                e.raw_os_error(),
                Some(libc::EPERM | libc::EACCES | libc::EROFS)
            ) || (e.kind() == std::io::ErrorKind::NotFound && !dir.exists()))
    }

    /// Write `file` of the cgroup in `e`; rootless permission failures are warnings.
    pub fn write(&self, e: &Entry, file: &str, value: &str) -> Result<(), CgroupError> {
        let p = e.dir.join(file);
        tracing::debug!("cgroup write {} = {value:?}", p.display());
        match write_file(&p, value) {
            Ok(()) => Ok(()),
            Err(err) if self.ignorable(&err, &e.dir) => {
                tracing::warn!("rootless: cannot write {}: {err}", p.display());
                Ok(())
            }
            Err(err) => Err(io_err("write", &p, err)),
        }
    }

    /// Read `file` of the cgroup in `e`.
    pub fn read(&self, e: &Entry, file: &str) -> Result<String, CgroupError> {
        let p = e.dir.join(file);
        std::fs::read_to_string(&p).map_err(|err| io_err("read", &p, err))
    }

    /// Write `file` if the cgroup has it (optional kernel features); `Ok(false)`
    /// when it does not.
    pub fn write_if_present(
        &self,
        e: &Entry,
        file: &str,
        value: &str,
    ) -> Result<bool, CgroupError> {
        if !self.has_file(e, file) {
            return Ok(false);
        }
        self.write(e, file, value).map(|()| true)
    }

    /// Whether the cgroup in `e` has `file`.
    pub fn has_file(&self, e: &Entry, file: &str) -> bool {
        e.dir.join(file).exists()
    }

    /// Create the cgroup directory of `e`, level by level: on cgroup2 each level
    /// first delegates its controllers to its children; on v1 cpuset every new level
    /// gets its parent's cpus and mems (an empty cpuset takes no task).
    fn create(&self, e: &Entry) -> Result<(), CgroupError> {
        let cpuset = !e.h.v2 && e.h.has("cpuset");
        let mut parent = e.h.mount.clone();
        for c in e.rel.components() {
            if e.h.v2 {
                enable_controllers(&parent);
            }
            let dir = parent.join(c);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(io_err("create", &dir, err)),
            }
            if cpuset {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let mine = dir.join(f);
                    let cur =
                        std::fs::read_to_string(&mine).map_err(|e| io_err("read", &mine, e))?;
                    if cur.trim().is_empty() {
                        let from = parent.join(f);
                        let v =
                            std::fs::read_to_string(&from).map_err(|e| io_err("read", &from, e))?;
                        write_file(&mine, v.trim()).map_err(|e| io_err("write", &mine, e))?;
                    }
                }
            }
            parent = dir;
        }
        Ok(())
    }

    fn freeze_v1(&self, e: &Entry, frozen: bool) -> Result<(), CgroupError> {
        let want = if frozen { "FROZEN" } else { "THAWED" };
        let file = e.dir.join("freezer.state");
        let start = Instant::now();
        let mut i = 0u32;
        loop {
            // A freeze can stay FREEZING while a task is in an uninterruptible
            // sleep; thawing and freezing again gets past it (as runc does).
            if frozen && i > 0 && i % 50 == 0 {
                let _ = write_file(&file, "THAWED");
                std::thread::sleep(Duration::from_millis(10));
            }
            write_file(&file, want).map_err(|err| io_err("write", &file, err))?;
            let state = std::fs::read_to_string(&file).map_err(|err| io_err("read", &file, err))?;
            let state = state.trim();
            if state == want {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                if frozen {
                    let _ = write_file(&file, "THAWED");
                }
                return Err(io_err(
                    "wait for the freezer state in",
                    &file,
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("still {state} after {FREEZE_TIMEOUT:?} (wanted {want})"),
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(u64::from(i.min(10))));
            i += 1;
        }
    }

    fn freeze_v2(&self, e: &Entry, frozen: bool) -> Result<(), CgroupError> {
        let file = e.dir.join("cgroup.freeze");
        let events = e.dir.join("cgroup.events");
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        write_file(&file, if frozen { "1" } else { "0" })
            .map_err(|err| io_err("write", &file, err))?;
        let start = Instant::now();
        let mut i = 0u64;
        loop {
            let ev =
                std::fs::read_to_string(&events).map_err(|err| io_err("read", &events, err))?;
            if ev.lines().any(|l| l.trim() == want) {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                if frozen {
                    let _ = write_file(&file, "0");
                }
                return Err(io_err(
                    "wait for the freeze state in",
                    &events,
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no {want:?} after {FREEZE_TIMEOUT:?}"),
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(i.min(10)));
            i += 1;
        }
    }
}

/// Delegate every controller `dir` has to its children (`+ctrl` in
/// `cgroup.subtree_control`). Refusals are not fatal: a controller busy in a cgroup
/// with processes cannot be delegated, and writing its files later fails clearly.
fn enable_controllers(dir: &Path) {
    let avail = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let enabled = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    for c in avail.split_whitespace().filter(|c| !enabled.contains(c)) {
        let f = dir.join("cgroup.subtree_control");
        if let Err(e) = write_file(&f, &format!("+{c}")) {
            tracing::debug!("cannot enable {c} in {}: {e}", f.display());
        }
    }
}

/// Pids in `dir` and every cgroup below it.
fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    match std::fs::read_to_string(&procs) {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read", &procs, e)),
    }
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("list", dir, e)),
    };
    for d in rd.flatten() {
        if d.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&d.path(), out)?;
        }
    }
    Ok(())
}

/// Remove `dir` and the cgroups below it (children first), retrying while busy.
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let start = Instant::now();
    loop {
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                for d in rd.flatten() {
                    if d.file_type().is_ok_and(|t| t.is_dir()) {
                        remove_tree(&d.path())?;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("list", dir, e)),
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            // tasks still exiting, or a sub-cgroup created meanwhile
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY))
                    && start.elapsed() < REMOVE_RETRY =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(io_err("remove", dir, e)),
        }
    }
}

impl CgroupManager for Manager {
    fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        if self.systemd {
            tracing::warn!(
                "systemd is not asked for a transient unit (no D-Bus client): {} is managed through cgroupfs",
                self.path.display()
            );
        }
        let mut skipped = Vec::new();
        for e in &self.entries {
            // On a hybrid host the cgroup2 mount may hold no controller: joining it
            // only tracks processes, so failing there is not fatal.
            let optional =
                e.h.v2 && self.setup == CgroupSetup::Hybrid && e.h.controllers.is_empty();
            let res = self
                .create(e)
                .and_then(|()| self.write(e, "cgroup.procs", &pid.to_string()));
            match res {
                Ok(()) => {}
                Err(CgroupError::Io { source, path, .. }) if self.ignorable(&source, &path) => {
                    tracing::debug!("rootless: cannot join {}: {source}", e.dir.display());
                    skipped.push(e.dir.display().to_string());
                }
                Err(err) if optional => {
                    tracing::warn!("cannot join the cgroup2 hierarchy: {err}");
                }
                Err(err) => return Err(err),
            }
        }
        if !skipped.is_empty() {
            // One line, as runc: the container runs, without limits from these.
            tracing::warn!(
                "rootless: no permission to use {} cgroup(s) (e.g. {}); the container runs without their limits (delegate a cgroup to this user to get them)",
                skipped.len(),
                skipped[0]
            );
        }
        Ok(())
    }

    fn set(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        crate::validate_resources(resources)?;
        crate::resources::set(self, resources)
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let Some(e) = self.main_entry() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        collect_pids(&e.dir, &mut out)?;
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        if let Some(e) = self.entries.iter().find(|e| !e.h.v2 && e.h.has("freezer")) {
            return self.freeze_v1(e, frozen);
        }
        if let Some(e) = self.unified() {
            return self.freeze_v2(e, frozen);
        }
        Err(CgroupError::NoController {
            field: "pause/resume",
            controller: "freezer",
        })
    }

    fn frozen(&self) -> Result<bool, CgroupError> {
        // the same freezer `freeze` drives
        let v1 = self.entries.iter().find(|e| !e.h.v2 && e.h.has("freezer"));
        let (e, file) = match (v1, self.unified()) {
            (Some(e), _) => (e, "freezer.state"),
            (None, Some(e)) => (e, "cgroup.events"),
            (None, None) => return Ok(false),
        };
        let p = e.dir.join(file);
        let s = match std::fs::read_to_string(&p) {
            Ok(s) => s,
            Err(err) if crate::stats::absent(&err) => return Ok(false),
            Err(err) => return Err(io_err("read", &p, err)),
        };
        Ok(if e.h.v2 {
            s.lines().any(|l| l.trim() == "frozen 1")
        } else {
            s.trim() == "FROZEN"
        })
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        crate::stats::collect(self)
    }

    fn oom_watcher(&self) -> Result<Option<OomWatcher>, CgroupError> {
        match self.entry_for("memory") {
            None => Ok(None),
            Some(e) if e.h.v2 => OomWatcher::v2(&e.dir).map(Some),
            Some(e) => OomWatcher::v1(&e.dir).map(Some),
        }
    }

    fn remove(&self) -> Result<(), CgroupError> {
        let mut first = None;
        for e in &self.entries {
            match remove_tree(&e.dir) {
                Ok(()) => {}
                Err(CgroupError::Io { source, path, .. }) if self.ignorable(&source, &path) => {
                    tracing::warn!("rootless: cannot remove {}: {source}", path.display());
                }
                Err(err) => {
                    tracing::debug!("{err}");
                    first.get_or_insert(err);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
