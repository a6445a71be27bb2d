//! Container state under the runtime root (`--root`, default `/run/caisson`).
//!
//! Layout: `<root>/<id>/state.json` (written atomically: temp file + rename),
//! `<root>/<id>/config.json` (the config as it was at create time),
//! `<root>/<id>/exec.fifo` (exists while the container is `created`; `start` opens it).
//! Every command that changes a container holds an exclusive `flock` on `<root>/<id>`,
//! so concurrent commands on one id cannot corrupt its state.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

use crate::error::{ContainerError, Result};

/// OCI runtime spec version we implement.
pub const OCI_VERSION: &str = "1.2.0";

/// Container status as the OCI spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `create` is still running (or was killed half-way).
    Creating,
    /// Created, waiting for `start`.
    Created,
    /// The user process runs.
    Running,
    /// The container's processes are frozen (`pause`).
    Paused,
    /// The process has exited.
    Stopped,
}

impl Status {
    /// The OCI string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What the runtime persists about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// OCI version.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Init pid (0 while creating, before clone).
    pub pid: i32,
    /// Kernel start time of `pid` (field 22 of /proc/pid/stat), against pid reuse.
    pub pid_start_time: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    /// Owner (empty when root, as runc).
    #[serde(default)]
    pub owner: String,
    /// Annotations of the config.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// `linux.cgroupsPath` of the config (resolved by the cgroups crate).
    #[serde(default)]
    pub cgroups_path: Option<PathBuf>,
    /// `--systemd-cgroup` was given at create.
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// `--rootless` was in effect at create.
    #[serde(default)]
    pub rootless: bool,
    /// Set once `create` finished (the init waits on exec.fifo).
    #[serde(default)]
    pub created_done: bool,
    /// Frozen by `pause` (until `resume`).
    #[serde(default)]
    pub paused: bool,
}

/// The public OCI state document (`state` command output).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    /// OCI version.
    pub oci_version: &'a str,
    /// Container id.
    pub id: &'a str,
    /// Status string.
    pub status: &'static str,
    /// Pid (0 when stopped, as runc).
    pub pid: i32,
    /// Bundle path.
    pub bundle: &'a Path,
    /// Rootfs path.
    pub rootfs: &'a Path,
    /// Creation time.
    pub created: &'a str,
    /// Owner.
    pub owner: &'a str,
    /// Annotations.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

impl State {
    /// The OCI state document for `status`.
    pub fn oci(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: &self.oci_version,
            id: &self.id,
            status: status.as_str(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
        }
    }
}

/// Check a container id the way runc does.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ContainerError::InvalidId(id.to_string()))
    }
}

/// A container's directory under the root, locked exclusively while held.
#[derive(Debug)]
pub struct ContainerDir {
    /// `<root>/<id>`.
    pub path: PathBuf,
    /// Container id.
    pub id: String,
    _lock: Flock<File>,
}

fn lock(path: &Path, f: File) -> Result<Flock<File>> {
    Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| ContainerError::nix(format!("flock {}", path.display()), e))
}

impl ContainerDir {
    /// Create `<root>/<id>` (fails with [`ContainerError::Exists`] if present) and lock it.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(|e| ContainerError::io("create state root", root, e))?;
        let path = root.join(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ContainerError::Exists(id.to_string()))
            }
            Err(e) => return Err(ContainerError::io("create state dir", &path, e)),
        }
        let f = File::open(&path).map_err(|e| ContainerError::io("open", &path, e))?;
        let lock = lock(&path, f)?;
        Ok(Self {
            path,
            id: id.to_string(),
            _lock: lock,
        })
    }

    /// Open and lock an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let path = root.join(id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ContainerError::NotFound(id.to_string()))
            }
            Err(e) => return Err(ContainerError::io("open state dir", &path, e)),
        };
        let lock = lock(&path, file)?;
        // The directory may have been removed by a concurrent delete while we waited.
        if !path.exists() {
            return Err(ContainerError::NotFound(id.to_string()));
        }
        Ok(Self {
            path,
            id: id.to_string(),
            _lock: lock,
        })
    }

    /// Path of the exec fifo.
    pub fn fifo(&self) -> PathBuf {
        self.path.join("exec.fifo")
    }

    /// Load state.json.
    pub fn load(&self) -> Result<State> {
        let p = self.path.join("state.json");
        let raw = std::fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ContainerError::BadState {
                    id: self.id.clone(),
                    message: "state.json is missing (create was interrupted); use delete --force"
                        .into(),
                }
            } else {
                ContainerError::io("read", &p, e)
            }
        })?;
        serde_json::from_slice(&raw).map_err(|e| ContainerError::BadState {
            id: self.id.clone(),
            message: format!("{}: {e}", p.display()),
        })
    }

    /// Write state.json atomically.
    pub fn save(&self, state: &State) -> Result<()> {
        let json = serde_json::to_vec(state).expect("state serialises");
        write_atomic(&self.path.join("state.json"), &json)
    }

    /// The config.json saved at create time.
    pub fn load_config(&self) -> Result<oci_spec::runtime::Spec> {
        let p = self.path.join("config.json");
        let raw = std::fs::read(&p).map_err(|e| ContainerError::io("read", &p, e))?;
        crate::config::parse_spec(&p, &raw)
    }

    /// Remove the directory and everything in it.
    pub fn remove(self) -> Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ContainerError::io("remove state dir", &self.path, e)),
        }
    }
}

/// Write `data` to `path` atomically (temp file in the same dir, fsync-free rename:
/// the state root is a tmpfs in practice and a torn file is what we must avoid).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| ContainerError::io("create", &tmp, e))?;
    f.write_all(data)
        .map_err(|e| ContainerError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ContainerError::io("rename", path, e))
}

/// Start time (clock ticks since boot) of `pid`, `None` if it does not exist.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    // fields after ")": state(3) ... starttime(22) => index 19 in `rest`
    rest.split(' ').nth(19)?.parse().ok()
}

/// Process state letter of `pid` (`R`, `S`, `Z`, ...).
pub fn pid_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Whether the container's init process is still the process we started.
pub fn init_alive(state: &State) -> bool {
    state.pid > 0
        && pid_start_time(state.pid) == Some(state.pid_start_time)
        && !matches!(pid_state(state.pid), Some('Z' | 'X') | None)
}

/// Current status of a container from its state and the host.
pub fn status(dir: &ContainerDir, state: &State) -> Status {
    if !init_alive(state) {
        return if state.pid == 0 {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    if !state.created_done {
        Status::Creating
    } else if dir.fifo().exists() {
        Status::Created
    } else if state.paused {
        Status::Paused
    } else {
        Status::Running
    }
}

/// Current time as RFC 3339 with nanoseconds, UTC (`2024-01-02T03:04:05.123456789Z`).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86400).unwrap_or(0);
    let tod = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }

    #[test]
    fn create_twice_is_exists_and_lock_serialises() {
        let root = tempfile::tempdir().unwrap();
        let d = ContainerDir::create(root.path(), "c1").unwrap();
        assert!(matches!(
            ContainerDir::create(root.path(), "c1"),
            Err(ContainerError::Exists(_))
        ));
        drop(d);
        let d = ContainerDir::open(root.path(), "c1").unwrap();
        d.remove().unwrap();
        assert!(matches!(
            ContainerDir::open(root.path(), "c1"),
            Err(ContainerError::NotFound(_))
        ));
    }

    #[test]
    fn start_time_of_self() {
        assert!(pid_start_time(i32::try_from(std::process::id()).unwrap()).is_some());
    }
}
