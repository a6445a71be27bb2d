//! The daemonless Caisson engine: containers made from images in the store, on an
//! overlayfs root, hardened by default, run by `caisson-runtime`.
//!
//! ```text
//! caisson run ──spawn──► caisson __monitor <id>  (conmon's job: one per container)
//!                           │ setsid (detached), child subreaper
//!                           │ mount overlay(layers…, upper, work) on <cdir>/bundle/rootfs
//!                           │ caisson-runtime --root <root>/run create --bundle … (stdio = pipes / console socket)
//!                           │ caisson-runtime start; "started" → caisson run (detached: prints the id, exits)
//!                           │ pipes → <cdir>/ctr.log (JSON lines, rotated) [+ our stdout when attached]
//!                           │ reap the init (subreaper), record the exit code
//!                           └ runtime delete, unmount, (--rm: remove <cdir>)
//! ```
//! State: `<root>/containers/<id>/container.json` (the record, written atomically)
//! plus the runtime's own state under `<root>/run`; `ps` asks both, so nothing is
//! lost when an engine process dies.
#![warn(missing_docs)]

pub mod monitor;
pub mod ports;
pub mod seccomp_profile;
pub mod spec;
pub mod userns;

use std::path::{Path, PathBuf};
use std::process::Command;

use caisson_image::{Digest, Store};
use serde::{Deserialize, Serialize};

pub use spec::RunOptions;

/// Engine errors.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad request (flag, name, state).
    #[error("{0}")]
    Invalid(String),
    /// Not found.
    #[error("{0}")]
    NotFound(String),
    /// From the image store.
    #[error(transparent)]
    Image(#[from] caisson_image::ImageError),
    /// I/O.
    #[error("{op} {path}: {source}")]
    Io {
        /// What.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The policy gate refused the container.
    #[error("{0}")]
    Denied(String),
    /// The runtime failed.
    #[error("caisson-runtime {what}: {message}")]
    Runtime {
        /// The command.
        what: String,
        /// Its stderr.
        message: String,
    },
}

/// Result with [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.into();
    move |source| EngineError::Io { op, path, source }
}

/// What the engine remembers about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// 64-hex id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Image as given.
    pub image: String,
    /// Image id (config digest).
    pub image_id: String,
    /// Layer chain ids, bottom → top (kept from `rmi`).
    pub layers: Vec<Digest>,
    /// Command line.
    pub command: Vec<String>,
    /// Creation time (RFC 3339).
    pub created: String,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// Start time of the last run.
    #[serde(default)]
    pub started_at: Option<String>,
    /// Host pid of the init while running.
    #[serde(default)]
    pub pid: Option<i32>,
    /// Exit code of the last run.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// End of the last run.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Isolation summary (`--explain`).
    #[serde(default)]
    pub explain: Vec<(String, String)>,
    /// `--userns auto`: the container's host id block.
    #[serde(default)]
    pub idmap: Option<userns::IdMap>,
    /// Published ports (host ports filled in once the monitor listens).
    #[serde(default)]
    pub ports: Vec<spec::PortMap>,
    /// Volumes mounted.
    #[serde(default)]
    pub volumes: Vec<spec::VolumeUse>,
    /// `--log-opt max-size` in bytes.
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// `--log-opt max-file`.
    #[serde(default)]
    pub log_max_files: Option<u32>,
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

/// What a policy gate is shown before a container is created.
#[derive(Debug)]
pub struct Proposal<'a> {
    /// The OCI config.json the container will get.
    pub config: &'a serde_json::Value,
    /// Container name.
    pub name: &'a str,
    /// The image reference as the user gave it.
    pub image: &'a str,
    /// The image's config digest (its id).
    pub image_id: String,
    /// The image's manifest digest (what `NAME@sha256:...` pins).
    pub manifest_digest: String,
    /// The image's first name in the store when the user gave its id or digest
    /// (policies judge the image by name).
    pub image_name: Option<String>,
    /// Named volumes live under `<volumes_dir>/<name>/_data`.
    pub volumes_dir: &'a Path,
    /// Ports to publish.
    pub ports: &'a [spec::PortMap],
}

/// The engine: a store root plus the runtime binary.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Store and state root.
    pub root: PathBuf,
    /// The image store.
    pub store: Store,
    /// The `caisson-runtime` binary.
    pub runtime: PathBuf,
}

/// The `caisson-runtime` to drive: `$CAISSON_RUNTIME`, else the one next to the
/// running executable, else `caisson-runtime` from `PATH`.
pub fn find_runtime() -> PathBuf {
    if let Some(p) = std::env::var_os("CAISSON_RUNTIME") {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe() {
        let sib = exe.with_file_name("caisson-runtime");
        if sib.is_file() {
            return sib;
        }
    }
    PathBuf::from("caisson-runtime")
}

/// Current time, RFC 3339 (UTC).
pub fn now() -> String {
    caisson_container::state::now_rfc3339()
}

impl Engine {
    /// Open the engine at `root`.
    pub fn open(root: &Path) -> Result<Engine> {
        let store = Store::open(root)?;
        for d in ["containers", "run", "volumes"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        Ok(Engine {
            root: root.to_path_buf(),
            store,
            runtime: find_runtime(),
        })
    }

    /// The runtime's `--root`.
    pub fn runtime_root(&self) -> PathBuf {
        self.root.join("run")
    }

    /// Where volumes live (`<root>/volumes/<name>/_data`).
    pub fn volumes_dir(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// Serialise changes to container records that must see each other (names,
    /// id blocks): an exclusive lock on `<root>/containers/.lock`.
    pub fn records_lock(&self) -> Result<nix::fcntl::Flock<std::fs::File>> {
        let p = self.root.join("containers/.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("open", &p))?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io_err("lock", &p)(e.into()))
    }

    /// A container's directory.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Run the runtime with `args` (after `--root`), capturing its output.
    pub fn runtime_cmd(&self, args: &[&str]) -> Result<std::process::Output> {
        Command::new(&self.runtime)
            .arg("--root")
            .arg(self.runtime_root())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| EngineError::Runtime {
                what: args.first().copied().unwrap_or("").to_string(),
                message: format!("cannot run {}: {e}", self.runtime.display()),
            })
    }

    /// Load a record.
    pub fn load(&self, id: &str) -> Result<Record> {
        let p = self.container_dir(id).join("container.json");
        let raw = std::fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                EngineError::NotFound(format!("no such container: {id}"))
            } else {
                io_err("read", &p)(e)
            }
        })?;
        serde_json::from_slice(&raw)
            .map_err(|e| EngineError::Invalid(format!("{}: {e}", p.display())))
    }

    /// Save a record atomically.
    pub fn save(&self, r: &Record) -> Result<()> {
        let dir = self.container_dir(&r.id);
        let tmp = dir.join(".container.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(r).expect("serialises"))
            .map_err(io_err("write", &tmp))?;
        std::fs::rename(&tmp, dir.join("container.json"))
            .map_err(io_err("rename", dir.join("container.json")))
    }

    /// Every container record.
    pub fn list(&self) -> Result<Vec<Record>> {
        let d = self.root.join("containers");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&d).map_err(io_err("read", &d))?.flatten() {
            if let Ok(r) = self.load(&e.file_name().to_string_lossy()) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// Find a container by id, id prefix or name.
    pub fn find(&self, what: &str) -> Result<Record> {
        let all = self.list()?;
        if let Some(r) = all.iter().find(|r| r.name == what || r.id == what) {
            return Ok(r.clone());
        }
        let m: Vec<&Record> = all.iter().filter(|r| r.id.starts_with(what)).collect();
        match m.len() {
            1 => Ok(m[0].clone()),
            0 => Err(EngineError::NotFound(format!("no such container: {what}"))),
            n => Err(EngineError::Invalid(format!(
                "{what}: ambiguous ({n} containers match)"
            ))),
        }
    }

    /// The runtime's status of a container (`running`, `paused`, `created`,
    /// `stopped`), or `exited`/`created` from our record when the runtime has none.
    pub fn status(&self, r: &Record) -> String {
        if let Ok(o) = self.runtime_cmd(&["state", &r.id]) {
            if o.status.success() {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout) {
                    if let Some(s) = v["status"].as_str() {
                        return s.to_string();
                    }
                }
            }
        }
        if r.exit_code.is_some() {
            "exited".into()
        } else {
            "created".into()
        }
    }

    /// Chain ids of every container's layers (kept from `rmi`).
    pub fn layers_in_use(&self) -> Result<std::collections::BTreeSet<Digest>> {
        Ok(self.list()?.into_iter().flat_map(|r| r.layers).collect())
    }

    /// `create`: make the container (record, bundle, upper dir); nothing runs yet.
    pub fn create(&self, opts: &RunOptions) -> Result<Record> {
        self.create_checked(opts, &mut |_| Ok(()))
    }

    /// `create` with a gate: `check` sees the container's config.json and facts
    /// before anything is written; an error from it (e.g. [`EngineError::Denied`])
    /// leaves nothing behind.
    pub fn create_checked(
        &self,
        opts: &RunOptions,
        check: &mut dyn FnMut(&Proposal<'_>) -> Result<()>,
    ) -> Result<Record> {
        let img = caisson_image::images::resolve(&self.store, &opts.image)?;
        let layer_blobs = img.layers()?;
        let diff_ids = img.diff_ids()?;
        let dirs =
            caisson_image::layers::ensure_unpacked(&self.store, &layer_blobs, &diff_ids, false)?;
        let chains = caisson_image::layers::chain_ids(&diff_ids);
        let id = new_id();
        let userns_size = userns::parse_mode(opts.userns.as_deref())?;
        let _lock = self.records_lock()?;
        let name = match &opts.name {
            Some(n) => {
                if n.is_empty()
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                {
                    return Err(EngineError::Invalid(format!(
                        "--name {n:?}: use letters, digits, '_', '.', '-'"
                    )));
                }
                if self.list()?.iter().any(|r| &r.name == n) {
                    return Err(EngineError::Invalid(format!(
                        "the name {n:?} is already in use (remove that container first)"
                    )));
                }
                n.clone()
            }
            None => format!("caisson_{}", &id[..8]),
        };
        let cdir = self.container_dir(&id);
        let top_first: Vec<PathBuf> = dirs.iter().rev().cloned().collect();
        let nofile = nofile_limits();
        let idmap = userns_size.map(|n| self.allocate_ids(n)).transpose()?;
        let vdir = self.volumes_dir();
        let host = spec::Host {
            nofile,
            cdir: &cdir,
            volumes_dir: &vdir,
            idmap,
        };
        let gen = spec::generate(
            &id,
            opts,
            &img.config,
            &top_first,
            &|caps| seccomp_for(caps),
            &host,
        )?;
        check(&Proposal {
            config: &gen.config,
            name: &name,
            image: &opts.image,
            image_id: img.config_digest.to_string(),
            manifest_digest: img.manifest_digest.to_string(),
            image_name: (!caisson_image::images::found_by_name(&img, &opts.image))
                .then(|| img.names.first().cloned())
                .flatten(),
            volumes_dir: &vdir,
            ports: &gen.ports,
        })?;
        for d in ["bundle/rootfs", "upper", "work"] {
            let p = cdir.join(d);
            std::fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        let new_volumes = std::cell::RefCell::new(Vec::<PathBuf>::new());
        let cleanup = |e: EngineError| {
            let _ = std::fs::remove_dir_all(&cdir);
            for v in new_volumes.borrow().iter() {
                let _ = std::fs::remove_dir_all(v);
            }
            e
        };
        if let Some(m) = idmap {
            self.prepare_idmapped_dirs(&cdir, m).map_err(cleanup)?;
        }
        for v in &gen.volumes {
            match self.ensure_volume(&v.name, idmap) {
                Ok(true) => new_volumes
                    .borrow_mut()
                    .push(self.volumes_dir().join(&v.name)),
                Ok(false) => {}
                Err(e) => return Err(cleanup(e)),
            }
        }
        // 0600: the config holds the environment (`-e`), which may carry secrets.
        write_private(
            &cdir.join("bundle/config.json"),
            &serde_json::to_vec_pretty(&gen.config).expect("serialises"),
        )
        .map_err(io_err("write", cdir.join("bundle/config.json")))
        .map_err(cleanup)?;
        for (f, content) in &gen.etc_files {
            std::fs::write(cdir.join(f), content)
                .map_err(io_err("write", cdir.join(f)))
                .map_err(cleanup)?;
        }
        let args = gen.config["process"]["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let r = Record {
            id: id.clone(),
            name,
            image: opts.image.clone(),
            image_id: img.config_digest.to_string(),
            layers: chains,
            command: args,
            created: now(),
            auto_remove: opts.rm,
            tty: opts.tty,
            interactive: opts.interactive,
            started_at: None,
            pid: None,
            exit_code: None,
            finished_at: None,
            explain: gen.explain,
            idmap,
            ports: gen.ports,
            volumes: gen.volumes,
            log_max_size: opts.log_max_size,
            log_max_files: opts.log_max_files,
        };
        self.save(&r).map_err(cleanup)?;
        Ok(r)
    }

    /// The layer directories of a container, top first (overlay lowerdir order).
    pub fn lower_dirs(&self, r: &Record) -> Vec<PathBuf> {
        r.layers
            .iter()
            .rev()
            .map(|c| self.store.layer_dir(c))
            .collect()
    }

    /// `start`: spawn the container's monitor. Attached: the monitor relays the
    /// container's output and this returns its exit code; detached: returns 0 once
    /// the container runs.
    pub fn start(&self, r: &Record, attach: bool) -> Result<i32> {
        let st = self.status(r);
        if matches!(st.as_str(), "running" | "paused") {
            return Err(EngineError::Invalid(format!(
                "container {} is already {st}",
                r.name
            )));
        }
        monitor::spawn(self, r, attach)
    }

    /// Send a signal to the container's init.
    pub fn kill(&self, r: &Record, signal: &str) -> Result<()> {
        let o = self.runtime_cmd(&["kill", &r.id, signal])?;
        if !o.status.success() {
            return Err(EngineError::Runtime {
                what: "kill".into(),
                message: String::from_utf8_lossy(&o.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    /// Wait until the container is no longer running (the monitor recorded the end).
    pub fn wait_stopped(&self, r: &Record, timeout: std::time::Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < end {
            match self.load(&r.id) {
                Ok(now) if now.finished_at.is_some() && now.pid.is_none() => return true,
                Err(EngineError::NotFound(_)) => return true,
                _ => {}
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// `stop`: SIGTERM, then SIGKILL after `timeout`.
    pub fn stop(&self, r: &Record, timeout: std::time::Duration) -> Result<()> {
        if !matches!(self.status(r).as_str(), "running" | "paused") {
            return Ok(());
        }
        let _ = self.kill(r, "TERM");
        if self.wait_stopped(r, timeout) {
            return Ok(());
        }
        let _ = self.kill(r, "KILL");
        if !self.wait_stopped(r, std::time::Duration::from_secs(10)) {
            return Err(EngineError::Invalid(format!(
                "container {} did not stop",
                r.name
            )));
        }
        Ok(())
    }

    /// `rm`: remove a container that is not running (`force`: kill it first).
    pub fn remove(&self, r: &Record, force: bool) -> Result<()> {
        let st = self.status(r);
        if matches!(st.as_str(), "running" | "paused") {
            if !force {
                return Err(EngineError::Invalid(format!(
                    "container {} is {st}: stop it first or use --force",
                    r.name
                )));
            }
            let _ = self.kill(r, "KILL");
            self.wait_stopped(r, std::time::Duration::from_secs(10));
        }
        // whatever is left in the runtime (e.g. a monitor killed hard)
        let _ = self.runtime_cmd(&["delete", "--force", &r.id]);
        let cdir = self.container_dir(&r.id);
        monitor::unmount_rootfs(&cdir);
        match std::fs::remove_dir_all(&cdir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err("remove", &cdir)(e))
            }
            _ => {}
        }
        self.remove_anonymous_volumes(r);
        Ok(())
    }
}

impl Engine {
    /// With a user namespace, the container's root must be able to reach its rootfs
    /// and the files bound into it: the directories on the way get search (not read)
    /// permission for others, and the overlay's upper and work dirs belong to the
    /// container's root.
    fn prepare_idmapped_dirs(&self, cdir: &Path, m: userns::IdMap) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for d in [
            self.root.clone(),
            self.root.join("containers"),
            cdir.to_path_buf(),
            cdir.join("bundle"),
            self.volumes_dir(),
        ] {
            let meta = std::fs::metadata(&d).map_err(io_err("stat", &d))?;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o001 == 0 {
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode | 0o001))
                    .map_err(io_err("chmod o+x", &d))?;
            }
        }
        for d in ["upper", "bundle/rootfs"] {
            let p = cdir.join(d);
            std::os::unix::fs::chown(&p, Some(m.uid), Some(m.gid)).map_err(io_err("chown", &p))?;
        }
        Ok(())
    }

    /// Create volume `name` if it does not exist (owned by the container's root
    /// under a user namespace). True if it was created now; a new volume is filled
    /// from the image at its mount point on first start (see the monitor).
    pub fn ensure_volume(&self, name: &str, idmap: Option<userns::IdMap>) -> Result<bool> {
        let dir = self.volumes_dir().join(name);
        if dir.join("_data").is_dir() {
            return Ok(false);
        }
        std::fs::create_dir_all(dir.join("_data")).map_err(io_err("create", &dir))?;
        std::fs::write(dir.join(".fill"), b"").map_err(io_err("write", dir.join(".fill")))?;
        if let Some(m) = idmap {
            let p = dir.join("_data");
            std::os::unix::fs::chown(&p, Some(m.uid), Some(m.gid)).map_err(io_err("chown", &p))?;
        }
        Ok(true)
    }

    /// Remove the anonymous volumes of a container.
    pub fn remove_anonymous_volumes(&self, r: &Record) {
        for v in r.volumes.iter().filter(|v| v.anonymous) {
            let _ = std::fs::remove_dir_all(self.volumes_dir().join(&v.name));
        }
    }

    /// Named volumes: (name, in use by a container).
    pub fn list_volumes(&self) -> Result<Vec<(String, bool)>> {
        let used: std::collections::BTreeSet<String> = self
            .list()?
            .into_iter()
            .flat_map(|r| r.volumes.into_iter().map(|v| v.name))
            .collect();
        let d = self.volumes_dir();
        let mut out: Vec<(String, bool)> = std::fs::read_dir(&d)
            .map_err(io_err("read", &d))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .map(|n| {
                let u = used.contains(&n);
                (n, u)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Remove a volume no container uses.
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        if !spec::valid_volume_name(name) {
            return Err(EngineError::Invalid(format!("{name:?}: not a volume name")));
        }
        let dir = self.volumes_dir().join(name);
        if !dir.is_dir() {
            return Err(EngineError::NotFound(format!("no such volume: {name}")));
        }
        if let Some(r) = self
            .list()?
            .into_iter()
            .find(|r| r.volumes.iter().any(|v| v.name == name))
        {
            return Err(EngineError::Invalid(format!(
                "volume {name} is used by container {} (remove it first)",
                r.name
            )));
        }
        std::fs::remove_dir_all(&dir).map_err(io_err("remove", &dir))
    }
}

pub(crate) fn new_id() -> String {
    let mut b = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RLIMIT_NOFILE for containers: 1048576 where the host allows it, else our own
/// hard limit (raising above it needs CAP_SYS_RESOURCE).
fn nofile_limits() -> (u64, u64) {
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap_or((1024, 1024));
    let v = hard.min(1_048_576);
    (v, v)
}

/// The default seccomp profile for a capability set.
fn seccomp_for(caps: &[&str]) -> serde_json::Value {
    seccomp_profile::default_profile(caps)
}

/// Disk use, as `caisson system df` prints it.
#[derive(Debug, Serialize)]
pub struct DiskUse {
    /// Images (names → one image per manifest).
    pub images: usize,
    /// Bytes of all blobs in the store.
    pub blob_bytes: u64,
    /// Unpacked layers.
    pub layers: usize,
    /// Bytes of unpacked layers.
    pub layer_bytes: u64,
    /// Containers.
    pub containers: usize,
    /// Bytes written by containers (their upper dirs and logs).
    pub container_bytes: u64,
    /// Bytes of unfinished downloads in the temp area.
    pub partial_bytes: u64,
}

fn du(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| du(&e.path())).sum())
        .unwrap_or(0)
}

impl Engine {
    /// `system df`.
    pub fn disk_use(&self) -> Result<DiskUse> {
        let images = caisson_image::images::list(&self.store)?.len();
        let blob_bytes = self
            .store
            .blobs()?
            .iter()
            .map(|d| std::fs::metadata(self.store.blob_path(d)).map_or(0, |m| m.len()))
            .sum();
        let layers = caisson_image::layers::layer_dirs(&self.store);
        let layer_bytes = layers.iter().map(|c| du(&self.store.layer_dir(c))).sum();
        let containers = self.list()?;
        let container_bytes = containers
            .iter()
            .map(|r| {
                let d = self.container_dir(&r.id);
                du(&d.join("upper"))
                    + std::fs::read_dir(&d)
                        .map(|rd| {
                            rd.flatten()
                                .filter(|e| e.file_name().to_string_lossy().starts_with("ctr.log"))
                                .map(|e| du(&e.path()))
                                .sum::<u64>()
                        })
                        .unwrap_or(0)
            })
            .sum();
        Ok(DiskUse {
            images,
            blob_bytes,
            layers: layers.len(),
            layer_bytes,
            containers: containers.len(),
            container_bytes,
            partial_bytes: du(&self.store.tmp_dir()),
        })
    }

    /// `system prune`: remove stopped containers, blobs no image refers to, unpacked
    /// layers no image or container uses, and unfinished downloads. Returns what
    /// was removed, one line each.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for r in self.list()? {
            if !matches!(self.status(&r).as_str(), "running" | "paused" | "created") {
                self.remove(&r, false)?;
                out.push(format!("container {} ({})", r.name, &r.id[..12]));
            }
        }
        let _l = self.store.lock()?;
        let mut keep_blobs = std::collections::BTreeSet::new();
        let mut keep_layers = self.layers_in_use()?;
        for img in caisson_image::images::list(&self.store)? {
            keep_blobs.insert(img.manifest_digest.clone());
            keep_blobs.insert(img.config_digest.clone());
            for (d, _) in img.layers()? {
                keep_blobs.insert(d);
            }
            keep_layers.extend(caisson_image::layers::chain_ids(&img.diff_ids()?));
        }
        for b in self.store.blobs()? {
            if !keep_blobs.contains(&b) {
                self.store.remove_blob(&b)?;
                out.push(format!("blob {b}"));
            }
        }
        for c in caisson_image::layers::layer_dirs(&self.store) {
            if !keep_layers.contains(&c) {
                caisson_image::layers::remove_layer(&self.store, &c)?;
                out.push(format!("layer {c}"));
            }
        }
        self.store.clear_tmp()?;
        Ok(out)
    }
}
