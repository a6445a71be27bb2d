//! Image import and export: `caisson save` (an OCI image layout, as a directory or
//! a tar, or the `docker save` format), `caisson load` (any of those, also gzip- or
//! zstd-compressed) and `caisson import` (a root file system tar becomes a one-layer
//! image).
//!
//! # Save
//! [`save`] copies the images' blobs out of the store, re-verifying each one's
//! digest as it is copied. An archive is written to a temp file next to the
//! destination and renamed over it at the end; an OCI directory is built in a temp
//! directory next to it and renamed into place (the destination must be missing or
//! an empty directory): a failed save leaves nothing half-written.
//! - OCI (`oci-archive`, `oci-dir`): `oci-layout`, `index.json` with one manifest
//!   descriptor per image name (annotations `io.containerd.image.name` = the full
//!   name, `org.opencontainers.image.ref.name` = its tag; an image without a name
//!   gets one descriptor without annotations), `blobs/<alg>/<hex>`. Manifests are
//!   the stored bytes, so their digests are preserved.
//! - Docker (`docker-archive`): `manifest.json`
//!   (`[{"Config":"<hex>.json","RepoTags":[...],"Layers":["<diff id hex>/layer.tar"]}]`),
//!   the config under its digest, every layer *uncompressed* (its digest checked
//!   against the config's diff id while it is written), and `repositories`. Docker
//!   Hub names are written in their familiar form (`busybox:latest`), as Docker does.
//!
//! # Load
//! The input is hostile. A tar is walked header by header here (never extracted to
//! disk by path): names that are absolute or contain `..` refuse the whole archive,
//! an entry name appearing twice too; extension headers are capped at 1 MiB,
//! archives at [`MAX_ENTRIES`] entries, blobs at [`MAX_BLOB`] bytes, JSON files at
//! [`MAX_JSON`] bytes; a missing end-of-archive marker or an entry cut short is
//! "truncated". Only `oci-layout`, `index.json`, `blobs/<alg>/<hex>`,
//! `manifest.json`, `repositories`, configs and the layers `manifest.json` lists
//! are considered (every other entry is skipped unread; `repositories` is not
//! needed, `manifest.json` names the images); symbolic and hard links between entries are resolved inside the
//! archive's own name space (a link leading outside it is refused when used). An
//! OCI layout directory is read with `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`:
//! no symbolic link is followed.
//!
//! Everything is checked before the first blob is written: manifests and configs
//! are hashed against their descriptors and validated with
//! [`registry::parse_manifest`], [`registry::validate_image_manifest`] and
//! [`registry::validate_config`], and every layer must be present with the
//! announced size. Blobs are then written through [`Store::blob_writer`] with their
//! expected digest, so nothing unverified becomes visible; layers first, then
//! configs, then manifests, and the refs last, under the store lock.
//! - OCI: each blob is verified against its file name / descriptor digest. A nested
//!   index (multi-platform image) gives the host platform's manifest.
//! - Docker: the config must hash to the digest its file name implies (when named
//!   `<hex>.json` or `blobs/<alg>/<hex>`); each layer is stored uncompressed (a
//!   gzip/zstd layer tar is decompressed) as `application/vnd.oci.image.layer.v1.tar`
//!   with the config's diff id as the expected digest, so a layer that does not
//!   match its diff id is refused, naming it. An OCI manifest is built and stored.
//!
//! Names given to loaded images:
//! - OCI: the `io.containerd.image.name` annotation if present, else
//!   `org.opencontainers.image.ref.name`: a value with `:`, `/` or `@` is a
//!   reference (`busybox:latest` → `docker.io/library/busybox:latest`), a bare tag
//!   `T` names `localhost/loaded:T` (the repository is unknown);
//! - Docker: each `RepoTags` entry, normalised with [`images::normalize`];
//! - an image without any name is stored as `localhost/loaded@<manifest digest>`
//!   ([`LOADED_REPOSITORY`]), a valid reference that `caisson images` lists and
//!   `caisson rmi` removes.
//!
//! Invalid names refuse the load (before anything is stored).
//!
//! # Import
//! [`import_rootfs`] turns a (plain, gzip or zstd) tar of a root file system into
//! a one-layer image: the tar is walked to check it is one and to compute its diff
//! id, then stored as it is; the config has the host's platform, the diff id, the
//! creation time and no `Cmd` unless [`ImportOptions`] gives one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use serde_json::{json, Value};

use crate::digest::{Digest, Hasher};
use crate::images::{self, LocalImage};
use crate::reference::ImageRef;
use crate::registry::{self, BlobRef, ManifestKind, Platform};
use crate::unpack::Compression;
use crate::{io_err, ImageError, Result, Store};

/// Largest blob accepted in an archive (64 GiB).
pub const MAX_BLOB: u64 = registry::MAX_BLOB_SIZE;
/// Most entries accepted in an archive (extension headers not counted).
pub const MAX_ENTRIES: u64 = 10_000;
/// Largest JSON file accepted in an archive (`index.json`, manifests, configs...).
pub const MAX_JSON: u64 = 1 << 20;
/// Repository of the names given to loaded images that have none
/// (`localhost/loaded@sha256:…`) and to OCI images named by a bare tag
/// (`localhost/loaded:<tag>`).
pub const LOADED_REPOSITORY: &str = "localhost/loaded";
/// OCI annotation: the name of a reference in an image layout (a tag).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd / Docker annotation: the full image name.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// Largest PAX / GNU long-name extension header accepted.
const MAX_EXTENSION: u64 = 1 << 20;
/// Most entries in a root file system tar given to [`import_rootfs`].
const IMPORT_MAX_ENTRIES: u64 = 1_000_000;
/// Small entries of an archive kept in memory by the first pass (so that a second
/// pass over a compressed archive is needed only for big layers).
const BUFFER_BUDGET: u64 = 64 << 20;
const MAX_LINK_HOPS: usize = 16;
const BLOCK: usize = 512;

const OCI_LAYOUT: &str = "oci-layout";
const INDEX_JSON: &str = "index.json";
const DOCKER_MANIFEST: &str = "manifest.json";
const REPOSITORIES: &str = "repositories";

const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MT_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MT_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const MT_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MT_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// The formats of [`save`] (all of them are recognised by [`load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveFormat {
    /// A tar of an OCI image layout (`oci-archive`).
    OciArchive,
    /// An OCI image layout directory (`oci-dir`).
    OciDir,
    /// The `docker save` format: `manifest.json`, configs and uncompressed layer
    /// tars (`docker-archive`).
    DockerArchive,
}

impl ArchiveFormat {
    /// The format's name (`oci-archive`, `oci-dir`, `docker-archive`).
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveFormat::OciArchive => "oci-archive",
            ArchiveFormat::OciDir => "oci-dir",
            ArchiveFormat::DockerArchive => "docker-archive",
        }
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ArchiveFormat {
    type Err = ImageError;

    /// `oci-archive`, `oci-dir` (or `oci`), `docker-archive` (or `docker`).
    fn from_str(s: &str) -> Result<ArchiveFormat> {
        Ok(match s {
            "oci-archive" => ArchiveFormat::OciArchive,
            "oci-dir" | "oci" => ArchiveFormat::OciDir,
            "docker-archive" | "docker" => ArchiveFormat::DockerArchive,
            _ => {
                return Err(ImageError::Invalid {
                    what: format!("archive format {s:?}"),
                    message: "expected oci-archive, oci-dir or docker-archive".into(),
                })
            }
        })
    }
}

// ═════════════════════════════ save ═════════════════════════════

/// One image to save, read back from the store and verified.
struct SaveImage {
    names: Vec<String>,
    manifest: BlobRef,
    config: BlobRef,
    config_raw: Vec<u8>,
    layers: Vec<BlobRef>,
    diff_ids: Vec<Digest>,
    platform: Option<Value>,
}

/// Write `images` (from [`images::list`] / [`images::resolve`]) to `dest` in
/// `format`. The archive (or directory) appears at `dest` only once complete; an
/// existing archive file is replaced, an existing OCI directory must be empty.
pub fn save(
    store: &Store,
    images: &[LocalImage],
    dest: &Path,
    format: ArchiveFormat,
) -> Result<()> {
    if images.is_empty() {
        return Err(ImageError::Invalid {
            what: format!("save to {}", dest.display()),
            message: "no image to save".into(),
        });
    }
    let plan = plan_save(store, images)?;
    match format {
        ArchiveFormat::OciArchive => write_tar_atomically(dest, |t| write_oci_tar(t, store, &plan)),
        ArchiveFormat::DockerArchive => {
            write_tar_atomically(dest, |t| write_docker_tar(t, store, &plan))
        }
        ArchiveFormat::OciDir => write_oci_dir(store, &plan, dest),
    }
}

fn plan_save(store: &Store, images: &[LocalImage]) -> Result<Vec<SaveImage>> {
    let mut out: Vec<SaveImage> = Vec::new();
    for img in images {
        if let Some(prev) = out
            .iter_mut()
            .find(|p| p.manifest.digest == img.manifest_digest)
        {
            for n in &img.names {
                if !prev.names.contains(n) {
                    prev.names.push(n.clone());
                }
            }
            continue;
        }
        let d = &img.manifest_digest;
        let raw = store.read_blob(d)?;
        let what = format!("manifest {d}");
        let (manifest, media_type) = match registry::parse_manifest(&what, &raw)? {
            ManifestKind::Image(m, mt) => (m, mt),
            ManifestKind::Index(..) => {
                return Err(ImageError::Invalid {
                    what,
                    message: "is an index, not an image manifest".into(),
                })
            }
        };
        let (config, layers) = registry::validate_image_manifest(&what, &manifest)?;
        let config_raw = store.read_blob(&config.digest)?;
        let diff_ids = registry::validate_config(
            &format!("config {}", config.digest),
            &config_raw,
            layers.len(),
        )?;
        for l in &layers {
            if !store.has_blob(&l.digest) {
                return Err(ImageError::NotFound(format!(
                    "layer {} of image {} is not in the store",
                    l.digest,
                    img.names.first().map_or(d.to_string(), Clone::clone)
                )));
            }
        }
        let platform = serde_json::from_slice::<Value>(&config_raw)
            .ok()
            .and_then(|c| {
                let os = c.get("os")?.as_str()?.to_string();
                let arch = c.get("architecture")?.as_str()?.to_string();
                let mut p = json!({"architecture": arch, "os": os});
                if let Some(v) = c.get("variant").and_then(Value::as_str) {
                    p["variant"] = json!(v);
                }
                Some(p)
            });
        out.push(SaveImage {
            names: img.names.clone(),
            manifest: BlobRef {
                digest: d.clone(),
                size: raw.len() as u64,
                media_type,
            },
            config,
            config_raw,
            layers,
            diff_ids,
            platform,
        });
    }
    Ok(out)
}

fn oci_layout_json() -> Vec<u8> {
    br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()
}

fn oci_index_json(plan: &[SaveImage]) -> Vec<u8> {
    let mut manifests = Vec::new();
    for img in plan {
        let desc = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": img.manifest.media_type,
                "digest": img.manifest.digest.to_string(),
                "size": img.manifest.size,
            });
            if let Some(p) = &img.platform {
                d["platform"] = p.clone();
            }
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if img.names.is_empty() {
            manifests.push(desc(None));
        }
        for n in &img.names {
            let mut a = json!({ ANNOTATION_IMAGE_NAME: n });
            if let Some(t) = ImageRef::parse(n).ok().and_then(|r| r.tag) {
                a[ANNOTATION_REF_NAME] = json!(t);
            }
            manifests.push(desc(Some(a)));
        }
    }
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": manifests,
    }))
    .expect("serialises")
}

/// Every blob of the plan once: layers, config, manifest of each image.
fn oci_blobs(plan: &[SaveImage]) -> Vec<BlobRef> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for img in plan {
        for b in img.layers.iter().chain([&img.config, &img.manifest]) {
            if seen.insert(b.digest.clone()) {
                out.push(b.clone());
            }
        }
    }
    out
}

fn blob_entry_name(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

fn write_oci_tar(t: &mut TarOut, store: &Store, plan: &[SaveImage]) -> Result<()> {
    t.add_bytes(OCI_LAYOUT, &oci_layout_json())?;
    t.add_bytes(INDEX_JSON, &oci_index_json(plan))?;
    t.add_dir("blobs/")?;
    let blobs = oci_blobs(plan);
    let algs: BTreeSet<&str> = blobs
        .iter()
        .map(|b| b.digest.algorithm().as_str())
        .collect();
    for a in algs {
        t.add_dir(&format!("blobs/{a}/"))?;
    }
    for b in &blobs {
        t.add_blob(&blob_entry_name(&b.digest), store, b)?;
    }
    Ok(())
}

/// `docker.io/library/x:t` → `x:t`, `docker.io/a/b:t` → `a/b:t` (as `docker save`).
fn familiar(name: &str) -> &str {
    match name.strip_prefix("docker.io/") {
        Some(rest) => match rest.strip_prefix("library/") {
            Some(r) if !r.contains('/') => r,
            _ => rest,
        },
        None => name,
    }
}

fn write_docker_tar(t: &mut TarOut, store: &Store, plan: &[SaveImage]) -> Result<()> {
    let mut layers_written: BTreeSet<Digest> = BTreeSet::new();
    let mut configs_written: BTreeSet<Digest> = BTreeSet::new();
    let mut items = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in plan {
        let config_name = format!("{}.json", img.config.digest.hex());
        if configs_written.insert(img.config.digest.clone()) {
            t.add_bytes(&config_name, &img.config_raw)?;
        }
        let mut layer_paths = Vec::new();
        for (l, diff) in img.layers.iter().zip(&img.diff_ids) {
            let dir = diff.hex().to_string();
            let path = format!("{dir}/layer.tar");
            if layers_written.insert(diff.clone()) {
                t.add_dir(&format!("{dir}/"))?;
                let blob = store.blob_path(&l.digest);
                let f = File::open(&blob).map_err(io_err("open", &blob))?;
                let raw = BufReader::with_capacity(1 << 16, f);
                let mut dec: Box<dyn Read> = match Compression::from_media_type(&l.media_type)? {
                    Compression::None => Box::new(raw),
                    Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
                    Compression::Zstd => Box::new(
                        zstd::stream::read::Decoder::with_buffer(raw)
                            .map_err(io_err("decompress", &blob))?,
                    ),
                };
                let actual = t.add_stream(&path, &mut dec, diff.hasher(), &blob)?;
                if &actual != diff {
                    return Err(ImageError::Invalid {
                        what: format!("layer {}", l.digest),
                        message: format!(
                            "decompresses to {actual}, but the config {} lists the diff id {diff}",
                            img.config.digest
                        ),
                    });
                }
            }
            layer_paths.push(path);
        }
        let mut tags = Vec::new();
        for n in &img.names {
            let Ok(r) = ImageRef::parse(n) else { continue };
            let (Some(tag), None) = (&r.tag, &r.digest) else {
                continue;
            };
            let full = format!("{}:{tag}", r.name());
            tags.push(familiar(&full).to_string());
            if let Some(top) = img.diff_ids.last() {
                let repo = familiar(&full)
                    .rsplit_once(':')
                    .map_or(String::new(), |(repo, _)| repo.to_string());
                repositories
                    .entry(repo)
                    .or_default()
                    .insert(tag.clone(), top.hex().to_string());
            }
        }
        items.push(json!({
            "Config": config_name,
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "Layers": layer_paths,
        }));
    }
    t.add_bytes(
        DOCKER_MANIFEST,
        &serde_json::to_vec(&items).expect("serialises"),
    )?;
    if !repositories.is_empty() {
        t.add_bytes(
            REPOSITORIES,
            &serde_json::to_vec(&repositories).expect("serialises"),
        )?;
    }
    Ok(())
}

/// A sibling of `dest` for its temp file or directory.
fn temp_sibling(dest: &Path) -> Result<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = dest.file_name().ok_or_else(|| ImageError::Invalid {
        what: dest.display().to_string(),
        message: "the destination needs a file name".into(),
    })?;
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(
        ".{}.caisson-tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )))
}

fn write_tar_atomically(dest: &Path, fill: impl FnOnce(&mut TarOut) -> Result<()>) -> Result<()> {
    let tmp = temp_sibling(dest)?;
    let f = OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    let result = (|| {
        let mut t = TarOut {
            w: BufWriter::with_capacity(1 << 16, f),
            pos: 0,
            path: tmp.clone(),
        };
        fill(&mut t)?;
        t.finish()?;
        std::fs::rename(&tmp, dest).map_err(io_err("rename into place", dest))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_oci_dir(store: &Store, plan: &[SaveImage], dest: &Path) -> Result<()> {
    match std::fs::read_dir(dest) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(ImageError::Invalid {
                    what: dest.display().to_string(),
                    message: "exists and is not empty: an OCI layout is written to a new or empty directory".into(),
                });
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("read", dest)(e)),
    }
    let tmp = temp_sibling(dest)?;
    std::fs::create_dir(&tmp).map_err(io_err("create", &tmp))?;
    let result = (|| {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod", &tmp))?;
        write_file(&tmp.join(OCI_LAYOUT), &oci_layout_json())?;
        write_file(&tmp.join(INDEX_JSON), &oci_index_json(plan))?;
        for b in oci_blobs(plan) {
            let dir = tmp.join("blobs").join(b.digest.algorithm().as_str());
            std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
            let p = dir.join(b.digest.hex());
            let src = store.blob_path(&b.digest);
            let mut from = File::open(&src).map_err(io_err("open", &src))?;
            let mut to = File::create(&p).map_err(io_err("create", &p))?;
            let mut h = b.digest.hasher();
            let n = copy_hashing(&mut from, &mut to, &mut h).map_err(io_err("copy", &p))?;
            to.sync_all().map_err(io_err("sync", &p))?;
            check_copied(&b, n, h.finish())?;
        }
        std::fs::rename(&tmp, dest).map_err(io_err("rename into place", dest))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn write_file(p: &Path, data: &[u8]) -> Result<()> {
    let mut f = File::create(p).map_err(io_err("create", p))?;
    f.write_all(data).map_err(io_err("write", p))?;
    f.sync_all().map_err(io_err("sync", p))
}

fn check_copied(b: &BlobRef, n: u64, actual: Digest) -> Result<()> {
    if n != b.size {
        return Err(ImageError::SizeMismatch {
            digest: b.digest.to_string(),
            expected: b.size,
            actual: n,
        });
    }
    if actual != b.digest {
        return Err(ImageError::DigestMismatch {
            expected: b.digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

fn copy_hashing(r: &mut dyn Read, w: &mut dyn Write, h: &mut Hasher) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..k]);
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
}

/// A tar being written (GNU headers, owner 0:0, mtime 0).
struct TarOut {
    w: BufWriter<File>,
    pos: u64,
    path: PathBuf,
}

impl TarOut {
    fn header(name: &[u8], ty: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        h.set_entry_type(ty);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        h
    }

    fn raw(&mut self, data: &[u8]) -> Result<()> {
        self.w
            .write_all(data)
            .map_err(io_err("write", &self.path))?;
        self.pos += data.len() as u64;
        Ok(())
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let p = padding(size) as usize;
        self.raw(&[0u8; BLOCK][..p])
    }

    /// A GNU long-name entry when `name` does not fit in a header.
    fn long_name(&mut self, name: &str) -> Result<()> {
        if name.len() <= 100 {
            return Ok(());
        }
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        let h = Self::header(
            b"././@LongLink",
            tar::EntryType::GNULongName,
            data.len() as u64,
            0o644,
        );
        self.raw(h.as_bytes())?;
        self.raw(&data)?;
        self.pad(data.len() as u64)
    }

    fn add_bytes(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.long_name(name)?;
        let h = Self::header(
            name.as_bytes(),
            tar::EntryType::Regular,
            data.len() as u64,
            0o644,
        );
        self.raw(h.as_bytes())?;
        self.raw(data)?;
        self.pad(data.len() as u64)
    }

    fn add_dir(&mut self, name: &str) -> Result<()> {
        self.long_name(name)?;
        let h = Self::header(name.as_bytes(), tar::EntryType::Directory, 0, 0o755);
        self.raw(h.as_bytes())
    }

    /// A store blob, re-verified while it is copied.
    fn add_blob(&mut self, name: &str, store: &Store, b: &BlobRef) -> Result<()> {
        let src = store.blob_path(&b.digest);
        let mut f = File::open(&src).map_err(io_err("open", &src))?;
        let len = f.metadata().map_err(io_err("stat", &src))?.len();
        if len != b.size {
            return Err(ImageError::SizeMismatch {
                digest: b.digest.to_string(),
                expected: b.size,
                actual: len,
            });
        }
        self.long_name(name)?;
        let h = Self::header(name.as_bytes(), tar::EntryType::Regular, len, 0o644);
        self.raw(h.as_bytes())?;
        let mut hasher = b.digest.hasher();
        let mut limited = (&mut f).take(len);
        let n =
            copy_hashing(&mut limited, &mut self.w, &mut hasher).map_err(io_err("copy", &src))?;
        self.pos += n;
        check_copied(b, n, hasher.finish())?;
        self.pad(n)
    }

    /// An entry of unknown size: a placeholder header, the data, then the header
    /// rewritten with the size. Returns the digest (of `hasher`'s algorithm) of
    /// the data.
    fn add_stream(
        &mut self,
        name: &str,
        r: &mut dyn Read,
        mut hasher: Hasher,
        src: &Path,
    ) -> Result<Digest> {
        self.long_name(name)?;
        let header_pos = self.pos;
        self.raw(&[0u8; BLOCK])?;
        let n = copy_hashing(r, &mut self.w, &mut hasher).map_err(io_err("decompress", src))?;
        self.pos += n;
        if n > MAX_BLOB {
            return Err(ImageError::Invalid {
                what: format!("layer {}", src.display()),
                message: format!("more than {MAX_BLOB} bytes uncompressed"),
            });
        }
        self.pad(n)?;
        let h = Self::header(name.as_bytes(), tar::EntryType::Regular, n, 0o644);
        let end = self.pos;
        let p = self.path.clone();
        self.w
            .seek(SeekFrom::Start(header_pos))
            .map_err(io_err("seek", &p))?;
        self.w
            .write_all(h.as_bytes())
            .map_err(io_err("write", &p))?;
        self.w
            .seek(SeekFrom::Start(end))
            .map_err(io_err("seek", &p))?;
        Ok(hasher.finish())
    }

    fn finish(mut self) -> Result<()> {
        self.raw(&[0u8; 2 * BLOCK])?;
        let f = self
            .w
            .into_inner()
            .map_err(|e| io_err("write", &self.path)(e.into_error()))?;
        f.sync_all().map_err(io_err("sync", &self.path))
    }
}

fn padding(n: u64) -> u64 {
    (BLOCK as u64 - n % BLOCK as u64) % BLOCK as u64
}

// ═════════════════════════════ tar walking ═════════════════════════════

/// Input of a [`Walker`]: readable, and able to skip (by seeking when it can).
trait TarInput: Read {
    /// Skip up to `n` bytes; returns how many were skipped (fewer at end of input).
    fn skip_bytes(&mut self, n: u64) -> io::Result<u64>;
}

impl<T: TarInput + ?Sized> TarInput for Box<T> {
    fn skip_bytes(&mut self, n: u64) -> io::Result<u64> {
        (**self).skip_bytes(n)
    }
}

/// A plain tar file: skipping is seeking, within the file's length.
struct SeekInput {
    f: BufReader<File>,
    len: u64,
    pos: u64,
}

impl Read for SeekInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.f.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl TarInput for SeekInput {
    fn skip_bytes(&mut self, n: u64) -> io::Result<u64> {
        let k = n.min(self.len.saturating_sub(self.pos));
        self.f.seek_relative(k as i64)?;
        self.pos += k;
        Ok(k)
    }
}

/// A stream (a decompressor): skipping is reading.
struct StreamInput<R>(R);

impl<R: Read> Read for StreamInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> TarInput for StreamInput<R> {
    fn skip_bytes(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut (&mut self.0).take(n), &mut io::sink())
    }
}

#[derive(Debug)]
enum RawKind {
    File,
    Dir,
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    Other,
}

/// One tar member (extension headers applied).
struct RawEntry {
    name: Vec<u8>,
    kind: RawKind,
    /// Bytes of data (0 for header-only types).
    size: u64,
    /// Where its data starts in the (uncompressed) tar stream.
    offset: u64,
}

/// Walks a tar stream header by header, as Go's archive/tar reads it (GNU long
/// names win over PAX `path`, header-only types carry no data), with capped
/// extension headers and a required end-of-archive marker.
struct Walker<R> {
    r: R,
    what: String,
    pos: u64,
    /// Data and padding bytes of the current entry not read yet.
    pending: u64,
    /// Data bytes of the current entry not read yet.
    data_left: u64,
    current: String,
    entries: u64,
    max_entries: u64,
    /// Also check every numeric header field parses (a layer to be unpacked).
    strict: bool,
    done: bool,
}

impl<R: TarInput> Walker<R> {
    fn new(r: R, what: String, max_entries: u64) -> Walker<R> {
        Walker {
            r,
            what,
            pos: 0,
            pending: 0,
            data_left: 0,
            current: String::new(),
            entries: 0,
            max_entries,
            strict: false,
            done: false,
        }
    }

    fn err(&self, entry: &str, message: impl Into<String>) -> ImageError {
        ImageError::Invalid {
            what: format!("{}: entry {entry:?}", self.what),
            message: message.into(),
        }
    }

    fn archive_err(&self, message: impl Into<String>) -> ImageError {
        ImageError::Invalid {
            what: self.what.clone(),
            message: message.into(),
        }
    }

    fn read_err(&self, e: io::Error) -> ImageError {
        if self.current.is_empty() {
            self.archive_err(format!("cannot read it: {e}"))
        } else {
            self.err(&self.current, format!("cannot read the archive: {e}"))
        }
    }

    fn truncated(&self, inside: bool) -> ImageError {
        match (inside, self.current.is_empty()) {
            (_, true) if self.entries == 0 => {
                self.archive_err("not a tar archive: it ends before a first complete header")
            }
            (true, _) => self.err(
                &self.current,
                "truncated: the archive ends inside this entry",
            ),
            (false, true) => self.archive_err("truncated: no end-of-archive marker"),
            (false, false) => self.err(
                &self.current,
                "truncated: the archive ends after this entry without an end-of-archive marker",
            ),
        }
    }

    fn skip_pending(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let n = self
            .r
            .skip_bytes(self.pending)
            .map_err(|e| self.read_err(e))?;
        self.pos += n;
        if n < self.pending {
            return Err(self.truncated(true));
        }
        self.pending = 0;
        self.data_left = 0;
        Ok(())
    }

    /// Fill `buf`; `false` at a clean end of input (no byte read).
    fn read_full(&mut self, buf: &mut [u8]) -> Result<bool> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_err(e)),
            }
        }
        self.pos += got as u64;
        if got == 0 {
            return Ok(false);
        }
        if got < buf.len() {
            return Err(self.truncated(true));
        }
        Ok(true)
    }

    fn read_extension(&mut self, size: u64, kind: &str) -> Result<Vec<u8>> {
        if size > MAX_EXTENSION {
            return Err(self.err(
                &self.current,
                format!("{kind} header of {size} bytes, more than the {MAX_EXTENSION} accepted"),
            ));
        }
        let mut data = vec![0u8; size as usize];
        if size > 0 && !self.read_full(&mut data)? {
            return Err(self.truncated(true));
        }
        self.pending = padding(size);
        self.skip_pending()?;
        Ok(data)
    }

    /// The next member, `None` after the end-of-archive marker.
    fn next(&mut self) -> Result<Option<RawEntry>> {
        if self.done {
            return Ok(None);
        }
        self.skip_pending()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Option<Vec<u8>> = None;
        let mut block = [0u8; BLOCK];
        loop {
            if !self.read_full(&mut block)? {
                return Err(self.truncated(false));
            }
            if block.iter().all(|b| *b == 0) {
                if long_name.is_some() || long_link.is_some() || pax.is_some() {
                    return Err(self.err(
                        &self.current,
                        "an extension header is followed by the end of the archive",
                    ));
                }
                // as Go's archive/tar: nothing may hide behind a lone zero block
                if self.read_full(&mut block)? && !block.iter().all(|b| *b == 0) {
                    return Err(self.archive_err(
                        "a single zero block followed by more data (refused: readers disagree on such archives)",
                    ));
                }
                self.done = true;
                return Ok(None);
            }
            let h = tar::Header::from_byte_slice(&block);
            let hname = String::from_utf8_lossy(&h.path_bytes()).into_owned();
            if !checksum_ok(&block, h) {
                if self.pos == BLOCK as u64 {
                    return Err(self
                        .archive_err("not a tar archive (the first header's checksum is wrong)"));
                }
                return Err(self.err(&hname, "header checksum mismatch: a corrupted archive"));
            }
            let size = h
                .entry_size()
                .map_err(|e| self.err(&hname, format!("malformed size field: {e}")))?;
            let ty = h.entry_type().as_byte();
            if self.strict && !matches!(ty, b'L' | b'K' | b'x' | b'g') {
                let fields = [
                    ("mode", h.mode().map(u64::from)),
                    ("uid", h.uid()),
                    ("gid", h.gid()),
                    ("mtime", h.mtime()),
                ];
                for (field, v) in fields {
                    if let Err(e) = v {
                        return Err(self.err(&hname, format!("malformed {field} field: {e}")));
                    }
                }
            }
            if matches!(ty, b'L' | b'K' | b'x' | b'g') {
                self.current = hname.clone();
                let (slot, kind) = match ty {
                    b'L' => (&mut long_name, "GNU long name"),
                    b'K' => (&mut long_link, "GNU long link"),
                    b'x' => (&mut pax, "PAX"),
                    _ => {
                        // a PAX global header applies to nothing here
                        self.read_extension(size, "PAX global")?;
                        continue;
                    }
                };
                if slot.is_some() {
                    return Err(self.err(&hname, format!("two {kind} headers for one entry")));
                }
                let mut data = self.read_extension(size, kind)?;
                if ty != b'x' {
                    while data.last() == Some(&0) {
                        data.pop();
                    }
                }
                match ty {
                    b'L' => long_name = Some(data),
                    b'K' => long_link = Some(data),
                    _ => pax = Some(data),
                }
                continue;
            }
            let had_long_name = long_name.is_some();
            let had_long_link = long_link.is_some();
            let mut name = long_name
                .take()
                .unwrap_or_else(|| h.path_bytes().into_owned());
            let mut link = long_link
                .take()
                .or_else(|| h.link_name_bytes().map(|c| c.into_owned()));
            let mut size = size;
            if let Some(p) = pax.take() {
                for ext in tar::PaxExtensions::new(&p) {
                    let ext =
                        ext.map_err(|e| self.err(&hname, format!("malformed PAX header: {e}")))?;
                    match ext.key_bytes() {
                        b"path" if !had_long_name => name = ext.value_bytes().to_vec(),
                        b"linkpath" if !had_long_link => link = Some(ext.value_bytes().to_vec()),
                        b"size" => {
                            size = ext
                                .value()
                                .ok()
                                .and_then(|v| v.parse::<u64>().ok())
                                .ok_or_else(|| self.err(&hname, "malformed PAX size"))?;
                        }
                        _ => {}
                    }
                }
            }
            self.current = String::from_utf8_lossy(&name).into_owned();
            self.entries += 1;
            if self.entries > self.max_entries {
                return Err(
                    self.archive_err(format!("more than {} entries (refused)", self.max_entries))
                );
            }
            let kind = match ty {
                b'0' | b'\0' | b'7' if name.ends_with(b"/") => RawKind::Dir,
                b'0' | b'\0' | b'7' => RawKind::File,
                b'1' => RawKind::Hardlink(link.unwrap_or_default()),
                b'2' => RawKind::Symlink(link.unwrap_or_default()),
                b'5' => RawKind::Dir,
                b'S' => {
                    return Err(self.err(&self.current, "sparse files are not supported"));
                }
                _ => RawKind::Other,
            };
            // header-only types carry no data whatever their size field says
            let data = if matches!(ty, b'1'..=b'6') { 0 } else { size };
            self.data_left = data;
            self.pending = data
                .checked_add(padding(data))
                .ok_or_else(|| self.err(&self.current, "absurd size"))?;
            return Ok(Some(RawEntry {
                name,
                kind,
                size: data,
                offset: self.pos,
            }));
        }
    }

    /// The current entry's data.
    fn data(&mut self) -> EntryData<'_, R> {
        EntryData { w: self }
    }

    /// The current entry's data, whole (callers bound its size).
    fn read_data(&mut self) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(self.data_left as usize);
        self.data()
            .read_to_end(&mut v)
            .map_err(|e| self.err(&self.current, e.to_string()))?;
        Ok(v)
    }
}

struct EntryData<'a, R> {
    w: &'a mut Walker<R>,
}

impl<R: TarInput> Read for EntryData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let w = &mut *self.w;
        if w.data_left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(w.data_left).unwrap_or(usize::MAX));
        let n = w.r.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "truncated: the archive ends {} bytes before the end of this entry",
                    w.data_left
                ),
            ));
        }
        w.data_left -= n as u64;
        w.pending -= n as u64;
        w.pos += n as u64;
        Ok(n)
    }
}

fn checksum_ok(block: &[u8; BLOCK], h: &tar::Header) -> bool {
    let Ok(want) = h.cksum() else { return false };
    let sum: u32 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|b| u32::from(*b))
        .sum::<u32>()
        + 8 * u32::from(b' ');
    sum == want
}

/// An archive entry name made canonical (`./a//b/` → `a/b`); `None` for the
/// archive root. Absolute names and `..` components are refused.
fn clean_name(raw: &[u8]) -> std::result::Result<Option<String>, String> {
    let s = std::str::from_utf8(raw).map_err(|_| "the name is not UTF-8 (refused)".to_string())?;
    if s.starts_with('/') {
        return Err("an absolute name (refused)".into());
    }
    let mut comps = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("a name with a \"..\" component (refused)".into()),
            c => comps.push(c),
        }
    }
    Ok((!comps.is_empty()).then(|| comps.join("/")))
}

/// Resolve `target` (relative to `base`'s directory, or to the archive root) in
/// the archive's name space; `None` if it leads outside.
fn resolve_in_archive(base_dir: &[&str], target: &[u8]) -> Option<String> {
    let t = std::str::from_utf8(target).ok()?;
    if t.starts_with('/') {
        return None;
    }
    let mut comps: Vec<&str> = base_dir.to_vec();
    for c in t.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                comps.pop()?;
            }
            c => comps.push(c),
        }
    }
    (!comps.is_empty()).then(|| comps.join("/"))
}

// ═════════════════════════════ load ═════════════════════════════

/// One image [`load_images`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The refs set (at least one: `localhost/loaded@<digest>` for an image the
    /// archive does not name).
    pub names: Vec<String>,
    /// Its (OCI) manifest as stored.
    pub manifest_digest: Digest,
    /// Its config (the image id).
    pub config_digest: Digest,
}

/// Load every image of `src` (an OCI layout directory, an OCI archive or a docker
/// archive, the tars possibly gzip- or zstd-compressed) into `store`; returns the
/// names set (see the module documentation for naming).
pub fn load(store: &Store, src: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for l in load_images(store, src)? {
        for n in l.names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// [`load`], with the manifest and config digest of each image.
pub fn load_images(store: &Store, src: &Path) -> Result<Vec<Loaded>> {
    let source = Source::open(src)?;
    let plan = if source.lookup(OCI_LAYOUT)?.is_some() && source.lookup(INDEX_JSON)?.is_some() {
        plan_oci(store, &source)?
    } else if source.lookup(DOCKER_MANIFEST)?.is_some() {
        plan_docker(store, &source)?
    } else {
        return Err(ImageError::Invalid {
            what: source.what(),
            message: format!(
                "neither an OCI image layout ({OCI_LAYOUT}, {INDEX_JSON}) nor a docker archive ({DOCKER_MANIFEST})"
            ),
        });
    };
    execute(store, &source, plan)
}

type StreamFn<'f> = dyn FnMut(&str, u64, &mut dyn Read) -> Result<()> + 'f;

/// A regular file of a tar archive.
struct TarFile {
    size: u64,
    offset: u64,
    data: Option<Vec<u8>>,
}

enum Source {
    Dir {
        path: PathBuf,
        fd: OwnedFd,
    },
    Tar {
        path: PathBuf,
        compression: Compression,
        files: BTreeMap<String, TarFile>,
        /// Link entries: their target inside the archive, or the raw target when it
        /// leads outside.
        links: BTreeMap<String, std::result::Result<String, String>>,
    },
}

/// Names worth keeping in memory during the first pass.
fn buffered_shape(name: &str) -> bool {
    matches!(
        name,
        OCI_LAYOUT | INDEX_JSON | DOCKER_MANIFEST | REPOSITORIES
    ) || (!name.contains('/') && (name.ends_with(".json") || name.ends_with(".tar")))
        || blob_name_digest(name).is_some()
        || name
            .split_once('/')
            .is_some_and(|(d, f)| f == "layer.tar" && !d.contains('/'))
}

/// `blobs/<alg>/<hex>` → the digest.
fn blob_name_digest(name: &str) -> Option<Digest> {
    let rest = name.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    format!("{alg}:{hex}").parse().ok()
}

fn open_input(path: &Path, compression: Compression) -> Result<Box<dyn TarInput>> {
    let f = File::open(path).map_err(io_err("open", path))?;
    let len = f.metadata().map_err(io_err("stat", path))?.len();
    let buf = BufReader::with_capacity(1 << 16, f);
    Ok(match compression {
        Compression::None => Box::new(SeekInput {
            f: buf,
            len,
            pos: 0,
        }),
        Compression::Gzip => Box::new(StreamInput(flate2::bufread::MultiGzDecoder::new(buf))),
        Compression::Zstd => Box::new(StreamInput(
            zstd::stream::read::Decoder::with_buffer(buf).map_err(io_err("decompress", path))?,
        )),
    })
}

const RESOLVE: ResolveFlag = ResolveFlag::RESOLVE_BENEATH
    .union(ResolveFlag::RESOLVE_NO_SYMLINKS)
    .union(ResolveFlag::RESOLVE_NO_MAGICLINKS);

impl Source {
    fn open(src: &Path) -> Result<Source> {
        let meta = std::fs::metadata(src).map_err(io_err("stat", src))?;
        if meta.is_dir() {
            let fd = nix::fcntl::open(
                src,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err("open", src)(e.into()))?;
            return Ok(Source::Dir {
                path: src.to_path_buf(),
                fd,
            });
        }
        let mut magic = [0u8; 4];
        let n = {
            let mut f = File::open(src).map_err(io_err("open", src))?;
            read_up_to(&mut f, &mut magic).map_err(io_err("read", src))?
        };
        let compression = Compression::sniff(&magic[..n]);
        let what = format!("archive {}", src.display());
        let mut w = Walker::new(open_input(src, compression)?, what, MAX_ENTRIES);
        let mut files: BTreeMap<String, TarFile> = BTreeMap::new();
        let mut links = BTreeMap::new();
        let mut budget = BUFFER_BUDGET;
        while let Some(e) = w.next()? {
            let lossy = String::from_utf8_lossy(&e.name).into_owned();
            let name = match clean_name(&e.name) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(m) => return Err(w.err(&lossy, m)),
            };
            let dup = || w.err(&lossy, "appears twice in the archive (refused)");
            match e.kind {
                RawKind::File => {
                    if files.contains_key(&name) || links.contains_key(&name) {
                        return Err(dup());
                    }
                    if e.size > MAX_BLOB {
                        return Err(w.err(
                            &lossy,
                            format!("{} bytes, more than the {MAX_BLOB} accepted", e.size),
                        ));
                    }
                    let data = if e.size <= MAX_JSON && e.size <= budget && buffered_shape(&name) {
                        budget -= e.size;
                        Some(w.read_data()?)
                    } else {
                        None
                    };
                    files.insert(
                        name,
                        TarFile {
                            size: e.size,
                            offset: e.offset,
                            data,
                        },
                    );
                }
                RawKind::Symlink(ref t) | RawKind::Hardlink(ref t) => {
                    if files.contains_key(&name) || links.contains_key(&name) {
                        return Err(dup());
                    }
                    let base: Vec<&str> = if matches!(e.kind, RawKind::Symlink(_)) {
                        let mut c: Vec<&str> = name.split('/').collect();
                        c.pop();
                        c
                    } else {
                        Vec::new()
                    };
                    let resolved = resolve_in_archive(&base, t)
                        .ok_or_else(|| String::from_utf8_lossy(t).into_owned());
                    links.insert(name, resolved);
                }
                RawKind::Dir | RawKind::Other => {}
            }
        }
        Ok(Source::Tar {
            path: src.to_path_buf(),
            compression,
            files,
            links,
        })
    }

    fn what(&self) -> String {
        match self {
            Source::Dir { path, .. } => format!("layout {}", path.display()),
            Source::Tar { path, .. } => format!("archive {}", path.display()),
        }
    }

    fn entry_err(&self, name: &str, message: impl Into<String>) -> ImageError {
        ImageError::Invalid {
            what: format!("{}: entry {name:?}", self.what()),
            message: message.into(),
        }
    }

    fn open_in_dir(&self, name: &str) -> Result<Option<(File, u64)>> {
        let Source::Dir { path, fd } = self else {
            unreachable!("a directory source")
        };
        let how = OpenHow::new()
            .flags(
                OFlag::O_RDONLY
                    | OFlag::O_CLOEXEC
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_NONBLOCK
                    | OFlag::O_NOCTTY,
            )
            .resolve(RESOLVE);
        match openat2(fd.as_fd(), name, how) {
            Ok(fd) => {
                let f = File::from(fd);
                let m = f.metadata().map_err(io_err("stat", path.join(name)))?;
                if !m.is_file() {
                    return Err(self.entry_err(name, "not a regular file (refused)"));
                }
                if m.len() > MAX_BLOB {
                    return Err(self.entry_err(
                        name,
                        format!("{} bytes, more than the {MAX_BLOB} accepted", m.len()),
                    ));
                }
                Ok(Some((f, m.len())))
            }
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(None),
            Err(Errno::ELOOP | Errno::EXDEV) => Err(self.entry_err(
                name,
                "is or goes through a symbolic link (refused: a layout is read without following links)",
            )),
            Err(e) => Err(io_err("open", path.join(name))(e.into())),
        }
    }

    /// The entry `name` resolves to (following links inside a tar) and its size.
    fn lookup(&self, name: &str) -> Result<Option<(String, u64)>> {
        match self {
            Source::Dir { .. } => Ok(self.open_in_dir(name)?.map(|(_, n)| (name.to_string(), n))),
            Source::Tar { files, links, .. } => {
                let mut cur = name.to_string();
                for _ in 0..MAX_LINK_HOPS {
                    if let Some(f) = files.get(&cur) {
                        return Ok(Some((cur, f.size)));
                    }
                    match links.get(&cur) {
                        None => return Ok(None),
                        Some(Ok(t)) => cur = t.clone(),
                        Some(Err(raw)) => {
                            return Err(self.entry_err(
                                &cur,
                                format!("a link to {raw:?}, outside the archive (refused)"),
                            ))
                        }
                    }
                }
                Err(self.entry_err(name, "too many levels of links (a loop?)"))
            }
        }
    }

    /// A JSON file (at most [`MAX_JSON`] bytes), `None` when missing.
    fn read_json(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some((resolved, size)) = self.lookup(name)? else {
            return Ok(None);
        };
        if size > MAX_JSON {
            return Err(self.entry_err(
                &resolved,
                format!("{size} bytes, more than the {MAX_JSON} accepted for a JSON file"),
            ));
        }
        if let Source::Tar { files, .. } = self {
            if let Some(d) = &files[&resolved].data {
                return Ok(Some(d.clone()));
            }
        }
        let mut out = Vec::new();
        let wanted = BTreeSet::from([resolved]);
        self.stream(&wanted, &mut |name, _, r| {
            r.take(MAX_JSON + 1)
                .read_to_end(&mut out)
                .map(|_| ())
                .map_err(|e| self.entry_err(name, format!("cannot read it: {e}")))
        })?;
        Ok(Some(out))
    }

    /// Call `f` once for each of the (resolved) entries `wanted`, with its size and
    /// data.
    fn stream(&self, wanted: &BTreeSet<String>, f: &mut StreamFn<'_>) -> Result<()> {
        match self {
            Source::Dir { .. } => {
                for name in wanted {
                    let (file, len) = self
                        .open_in_dir(name)?
                        .ok_or_else(|| self.entry_err(name, "missing"))?;
                    let mut r = BufReader::with_capacity(1 << 16, file).take(len);
                    f(name, len, &mut r)?;
                }
                Ok(())
            }
            Source::Tar {
                path,
                compression,
                files,
                ..
            } => {
                let mut left = BTreeSet::new();
                for name in wanted {
                    let tf = files
                        .get(name)
                        .ok_or_else(|| self.entry_err(name, "missing"))?;
                    match &tf.data {
                        Some(d) => f(name, tf.size, &mut &d[..])?,
                        None => {
                            left.insert(name.clone());
                        }
                    }
                }
                if left.is_empty() {
                    return Ok(());
                }
                if *compression == Compression::None {
                    let file = File::open(path).map_err(io_err("open", path))?;
                    for name in &left {
                        let tf = &files[name];
                        let mut r = BufReader::with_capacity(1 << 16, &file);
                        r.seek(SeekFrom::Start(tf.offset))
                            .map_err(io_err("seek", path))?;
                        f(name, tf.size, &mut r.take(tf.size))?;
                    }
                    return Ok(());
                }
                // a compressed archive: walk it again
                let mut w = Walker::new(open_input(path, *compression)?, self.what(), MAX_ENTRIES);
                while let Some(e) = w.next()? {
                    if !matches!(e.kind, RawKind::File) {
                        continue;
                    }
                    let Ok(Some(name)) = clean_name(&e.name) else {
                        continue;
                    };
                    if left.remove(&name) {
                        f(&name, e.size, &mut w.data())?;
                        if left.is_empty() {
                            return Ok(());
                        }
                    }
                }
                let name = left.first().map_or("", |s| s.as_str());
                Err(self.entry_err(name, "vanished from the archive while it was read"))
            }
        }
    }
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A layer to copy from the archive into the store.
struct Job {
    expected: Digest,
    /// The announced size (OCI); docker layers may be compressed in the archive.
    size: Option<u64>,
    /// Docker: decompress a gzip/zstd layer tar, store it uncompressed.
    decompress: bool,
    /// Where it is listed (for errors).
    what: String,
}

struct PlanImage {
    names: Vec<String>,
    /// OCI: the manifest's digest and bytes. Docker: built once the layers are in.
    manifest: Option<(Digest, Vec<u8>)>,
    config_digest: Digest,
    config_raw: Vec<u8>,
    /// Layer blob digests (docker: the diff ids).
    layers: Vec<Digest>,
}

struct Plan {
    images: Vec<PlanImage>,
    /// Entry name → job.
    jobs: BTreeMap<String, Job>,
}

impl Plan {
    fn add_job(&mut self, src: &Source, entry: String, job: Job) -> Result<()> {
        if let Some(prev) = self.jobs.get(&entry) {
            if prev.expected != job.expected {
                return Err(src.entry_err(
                    &entry,
                    format!(
                        "listed as two different layers: {} ({}) and {} ({})",
                        prev.what, prev.expected, job.what, job.expected
                    ),
                ));
            }
            return Ok(());
        }
        self.jobs.insert(entry, job);
        Ok(())
    }

    fn add_image(&mut self, img: PlanImage) {
        let key = img.manifest.as_ref().map(|(d, _)| d.clone());
        if let Some(k) = key {
            if let Some(prev) = self
                .images
                .iter_mut()
                .find(|p| p.manifest.as_ref().is_some_and(|(d, _)| *d == k))
            {
                for n in img.names {
                    if !prev.names.contains(&n) {
                        prev.names.push(n);
                    }
                }
                return;
            }
        }
        self.images.push(img);
    }
}

/// A small blob (manifest, config) from `blobs/`, verified against `b`.
fn read_blob_json(src: &Source, b: &BlobRef, listed: &str) -> Result<Vec<u8>> {
    let name = blob_entry_name(&b.digest);
    let data = src
        .read_json(&name)?
        .ok_or_else(|| src.entry_err(&name, format!("missing ({listed} refers to it)")))?;
    if data.len() as u64 != b.size {
        return Err(src.entry_err(
            &name,
            format!("{} bytes, but {listed} announces {}", data.len(), b.size),
        ));
    }
    let mut h = b.digest.hasher();
    h.update(&data);
    let actual = h.finish();
    if actual != b.digest {
        return Err(src.entry_err(
            &name,
            format!("digest mismatch: the content hashes to {actual}, not to the digest its name announces (refused)"),
        ));
    }
    Ok(data)
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A name from an archive, normalised; a digest in it must be one of `digests`.
fn image_name(s: &str, what: &str, digests: &[&Digest]) -> Result<String> {
    let r = ImageRef::parse(s).map_err(|e| ImageError::Invalid {
        what: what.to_string(),
        message: e.to_string(),
    })?;
    if let Some(d) = &r.digest {
        if !digests.contains(&d) {
            return Err(ImageError::Invalid {
                what: what.to_string(),
                message: format!("{s:?} names digest {d}, which is not this image's"),
            });
        }
    }
    Ok(r.to_string())
}

fn oci_names(
    ann: Option<&HashMap<String, String>>,
    field: &str,
    digests: &[&Digest],
) -> Result<Vec<String>> {
    let Some(ann) = ann else {
        return Ok(Vec::new());
    };
    if let Some(n) = ann.get(ANNOTATION_IMAGE_NAME) {
        let what = format!("{field}.annotations[{ANNOTATION_IMAGE_NAME:?}]");
        return Ok(vec![image_name(n, &what, digests)?]);
    }
    if let Some(r) = ann.get(ANNOTATION_REF_NAME) {
        let what = format!("{field}.annotations[{ANNOTATION_REF_NAME:?}]");
        if r.contains([':', '/', '@']) {
            return Ok(vec![image_name(r, &what, digests)?]);
        }
        if !valid_tag(r) {
            return Err(ImageError::Invalid {
                what,
                message: format!("{r:?} is neither a tag nor an image reference"),
            });
        }
        return Ok(vec![format!("{LOADED_REPOSITORY}:{r}")]);
    }
    Ok(Vec::new())
}

fn plan_oci(store: &Store, src: &Source) -> Result<Plan> {
    let layout = src.read_json(OCI_LAYOUT)?.unwrap_or_default();
    let version = serde_json::from_slice::<Value>(&layout)
        .ok()
        .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_string));
    match version {
        Some(v) if v.starts_with("1.") => {}
        Some(v) => {
            return Err(src.entry_err(
                OCI_LAYOUT,
                format!("image layout version {v:?} is not supported (1.x is)"),
            ))
        }
        None => return Err(src.entry_err(OCI_LAYOUT, "not {\"imageLayoutVersion\": \"1.0.0\"}")),
    }
    let raw = src.read_json(INDEX_JSON)?.unwrap_or_default();
    let ix_what = format!("{}: {INDEX_JSON}", src.what());
    let ix = match registry::parse_manifest(&ix_what, &raw)? {
        ManifestKind::Index(ix, _) => ix,
        ManifestKind::Image(..) => {
            return Err(ImageError::Invalid {
                what: ix_what,
                message: "is an image manifest, not an image index".into(),
            })
        }
    };
    if ix.manifests().is_empty() {
        return Err(ImageError::Invalid {
            what: ix_what,
            message: "lists no image".into(),
        });
    }
    if ix.manifests().len() > registry::MAX_INDEX_ENTRIES {
        return Err(ImageError::Invalid {
            what: format!("{ix_what}: manifests"),
            message: format!(
                "{} entries, more than the {} accepted",
                ix.manifests().len(),
                registry::MAX_INDEX_ENTRIES
            ),
        });
    }
    let mut plan = Plan {
        images: Vec::new(),
        jobs: BTreeMap::new(),
    };
    let host = Platform::host();
    for (i, d) in ix.manifests().iter().enumerate() {
        let field = format!("{INDEX_JSON} manifests[{i}]");
        let bad = |m: String| ImageError::Invalid {
            what: format!("{}: {field}", src.what()),
            message: m,
        };
        let digest: Digest = d.digest().to_string().parse().map_err(|_| {
            bad(format!(
                "digest {:?} is not a sha256/sha512 digest",
                d.digest().to_string()
            ))
        })?;
        if d.size() > MAX_JSON {
            return Err(bad(format!(
                "size {} is more than the {MAX_JSON} accepted for a manifest",
                d.size()
            )));
        }
        let top = BlobRef {
            digest: digest.clone(),
            size: d.size(),
            media_type: d.media_type().to_string(),
        };
        let raw = read_blob_json(src, &top, &field)?;
        let what = format!("{}: manifest {digest}", src.what());
        let (mdigest, mraw, manifest) = match registry::parse_manifest(&what, &raw)? {
            ManifestKind::Image(m, _) => (digest.clone(), raw, m),
            ManifestKind::Index(nested, _) => {
                let entry = registry::select_platform(&what, &nested, &host)?;
                let listed = format!("index {digest}");
                let raw2 = read_blob_json(src, &entry, &listed)?;
                let what2 = format!("{}: manifest {}", src.what(), entry.digest);
                match registry::parse_manifest(&what2, &raw2)? {
                    ManifestKind::Image(m, _) => (entry.digest, raw2, m),
                    ManifestKind::Index(..) => {
                        return Err(ImageError::Invalid {
                            what: what2,
                            message: format!("{listed} points at another index for {host}: nested indexes are refused"),
                        })
                    }
                }
            }
        };
        if !matches!(
            top.media_type.as_str(),
            MT_OCI_MANIFEST | MT_OCI_INDEX | MT_DOCKER_MANIFEST | MT_DOCKER_LIST
        ) {
            return Err(bad(format!(
                "media type {:?} is not an image manifest or index",
                top.media_type
            )));
        }
        let names = oci_names(
            d.annotations().as_ref(),
            &format!("{}: {field}", src.what()),
            &[&digest, &mdigest],
        )?;
        let mwhat = format!("{}: manifest {mdigest}", src.what());
        let (config, layers) = registry::validate_image_manifest(&mwhat, &manifest)?;
        let config_raw = read_blob_json(src, &config, &format!("manifest {mdigest}"))?;
        registry::validate_config(
            &format!("{}: config {}", src.what(), config.digest),
            &config_raw,
            layers.len(),
        )?;
        for (k, l) in layers.iter().enumerate() {
            if store.has_blob(&l.digest) {
                continue;
            }
            let name = blob_entry_name(&l.digest);
            let listed = format!("layers[{k}] of manifest {mdigest}");
            let (entry, size) = src
                .lookup(&name)?
                .ok_or_else(|| src.entry_err(&name, format!("missing ({listed} refers to it)")))?;
            if size != l.size {
                return Err(src.entry_err(
                    &entry,
                    format!("{size} bytes, but {listed} announces {}", l.size),
                ));
            }
            plan.add_job(
                src,
                entry,
                Job {
                    expected: l.digest.clone(),
                    size: Some(l.size),
                    decompress: false,
                    what: listed,
                },
            )?;
        }
        plan.add_image(PlanImage {
            names,
            manifest: Some((mdigest, mraw)),
            config_digest: config.digest,
            config_raw,
            layers: layers.into_iter().map(|l| l.digest).collect(),
        });
    }
    Ok(plan)
}

#[derive(serde::Deserialize)]
struct DockerItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// The digest a docker archive's config name announces (`<hex>.json`,
/// `blobs/<alg>/<hex>`).
fn docker_config_digest(name: &str) -> Option<Digest> {
    if let Some(hex) = name.strip_suffix(".json") {
        if let Ok(d) = format!("sha256:{hex}").parse() {
            return Some(d);
        }
    }
    blob_name_digest(name)
}

fn plan_docker(store: &Store, src: &Source) -> Result<Plan> {
    let raw = src.read_json(DOCKER_MANIFEST)?.unwrap_or_default();
    let mwhat = format!("{}: {DOCKER_MANIFEST}", src.what());
    let items: Vec<DockerItem> = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_slice(&raw),
    )
    .map_err(|e| ImageError::Invalid {
        what: mwhat.clone(),
        message: format!("field {}: {}", e.path(), e.inner()),
    })?;
    if items.is_empty() {
        return Err(ImageError::Invalid {
            what: mwhat,
            message: "lists no image".into(),
        });
    }
    if items.len() > registry::MAX_INDEX_ENTRIES {
        return Err(ImageError::Invalid {
            what: mwhat,
            message: format!(
                "{} images, more than the {} accepted",
                items.len(),
                registry::MAX_INDEX_ENTRIES
            ),
        });
    }
    let mut plan = Plan {
        images: Vec::new(),
        jobs: BTreeMap::new(),
    };
    for (i, it) in items.iter().enumerate() {
        let field = |f: &str| format!("{mwhat} [{i}].{f}");
        let bad = |f: &str, m: String| ImageError::Invalid {
            what: field(f),
            message: m,
        };
        let cname = match clean_name(it.config.as_bytes()) {
            Ok(Some(n)) => n,
            Ok(None) => return Err(bad("Config", "empty".into())),
            Err(m) => return Err(bad("Config", format!("{:?}: {m}", it.config))),
        };
        let config_raw = src
            .read_json(&cname)?
            .ok_or_else(|| bad("Config", format!("{cname:?}: no such entry in the archive")))?;
        let config_digest = match docker_config_digest(&cname) {
            Some(expected) => {
                let mut h = expected.hasher();
                h.update(&config_raw);
                let actual = h.finish();
                if actual != expected {
                    return Err(src.entry_err(
                        &cname,
                        format!("digest mismatch: the config hashes to {actual}, not to the {expected} its name announces (refused)"),
                    ));
                }
                expected
            }
            None => Digest::sha256_of(&config_raw),
        };
        if it.layers.len() > registry::MAX_LAYERS {
            return Err(bad(
                "Layers",
                format!(
                    "{} entries, more than the {} accepted",
                    it.layers.len(),
                    registry::MAX_LAYERS
                ),
            ));
        }
        let diff_ids = registry::validate_config(
            &format!("{}: config {cname}", src.what()),
            &config_raw,
            it.layers.len(),
        )?;
        for (k, (l, diff)) in it.layers.iter().zip(&diff_ids).enumerate() {
            let f = format!("Layers[{k}]");
            let lname = match clean_name(l.as_bytes()) {
                Ok(Some(n)) => n,
                Ok(None) => return Err(bad(&f, "empty".into())),
                Err(m) => return Err(bad(&f, format!("{l:?}: {m}"))),
            };
            if store.has_blob(diff) {
                continue;
            }
            let (entry, _) = src
                .lookup(&lname)?
                .ok_or_else(|| bad(&f, format!("{lname:?}: no such entry in the archive")))?;
            plan.add_job(
                src,
                entry,
                Job {
                    expected: diff.clone(),
                    size: None,
                    decompress: true,
                    what: format!("{DOCKER_MANIFEST} [{i}].{f}, whose diff id in config {cname} (rootfs.diff_ids[{k}]) is"),
                },
            )?;
        }
        let mut names = Vec::new();
        for (k, t) in it.repo_tags.iter().flatten().enumerate() {
            let what = field(&format!("RepoTags[{k}]"));
            if t.contains('@') {
                return Err(ImageError::Invalid {
                    what,
                    message: format!("{t:?}: RepoTags hold tags, not digests"),
                });
            }
            let n = image_name(t, &what, &[])?;
            debug_assert_eq!(n, images::normalize(t));
            if !names.contains(&n) {
                names.push(n);
            }
        }
        plan.add_image(PlanImage {
            names,
            manifest: None,
            config_digest,
            config_raw,
            layers: diff_ids,
        });
    }
    Ok(plan)
}

/// An exclusive lock on one blob's partial file in the store's temp area (the
/// same protocol as a pull's, so a load and a pull never write one partial file).
struct BlobLock {
    path: PathBuf,
    _file: nix::fcntl::Flock<File>,
}

impl BlobLock {
    fn acquire(store: &Store, d: &Digest) -> Result<BlobLock> {
        let path = store
            .tmp_dir()
            .join(format!("{}-{}.lock", d.algorithm().as_str(), d.hex()));
        loop {
            let f = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(io_err("open", &path))?;
            let l = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(
                |(_, e)| ImageError::Io {
                    op: "lock",
                    path: path.clone(),
                    source: e.into(),
                },
            )?;
            let same = match (l.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if same {
                return Ok(BlobLock { path, _file: l });
            }
        }
    }
}

impl Drop for BlobLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Store bytes we hold (config, manifest) under their digest.
fn put_bytes(store: &Store, d: &Digest, data: &[u8]) -> Result<()> {
    if store.has_blob(d) {
        return Ok(());
    }
    let _l = BlobLock::acquire(store, d)?;
    if store.has_blob(d) {
        return Ok(());
    }
    let mut w = store.blob_writer(d, Some(data.len() as u64), false)?;
    if let Err(e) = w.write_all(data) {
        let p = w.partial_path().to_path_buf();
        w.abort();
        return Err(io_err("write", p)(e));
    }
    w.commit().map(|_| ())
}

fn blob_size(store: &Store, d: &Digest) -> Result<u64> {
    let p = store.blob_path(d);
    Ok(std::fs::metadata(&p).map_err(io_err("stat", &p))?.len())
}

/// Copy one layer entry into the store, verified against `job.expected`; returns
/// the blob's size.
fn write_layer(
    store: &Store,
    src: &Source,
    name: &str,
    job: &Job,
    size: u64,
    r: &mut dyn Read,
) -> Result<u64> {
    let _l = BlobLock::acquire(store, &job.expected)?;
    if store.has_blob(&job.expected) {
        return blob_size(store, &job.expected);
    }
    if let Some(s) = job.size {
        if s != size {
            return Err(src.entry_err(
                name,
                format!("{size} bytes, but {} announces {s}", job.what),
            ));
        }
    }
    let mut peek = [0u8; 4];
    let n = read_up_to(r, &mut peek)
        .map_err(|e| src.entry_err(name, format!("cannot read it: {e}")))?;
    let compression = if job.decompress {
        Compression::sniff(&peek[..n])
    } else {
        Compression::None
    };
    let announced = match compression {
        Compression::None => Some(size),
        _ => None,
    };
    let mut w = store.blob_writer(&job.expected, announced, false)?;
    let copied: io::Result<u64> = (|| {
        let chained = (&peek[..n]).chain(r);
        let mut input: Box<dyn Read + '_> = match compression {
            Compression::None => Box::new(chained),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(chained)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(chained)?),
        };
        io::copy(&mut (&mut input).take(MAX_BLOB + 1), &mut w)
    })();
    let fail = |w: crate::BlobWriter, m: String| {
        w.abort();
        Err(src.entry_err(name, m))
    };
    match copied {
        Err(e) => return fail(w, format!("cannot copy it into the store: {e}")),
        Ok(n) if n > MAX_BLOB => {
            return fail(
                w,
                format!("more than {MAX_BLOB} bytes uncompressed (refused)"),
            )
        }
        Ok(_) => {}
    }
    let written = w.written();
    match w.commit() {
        Ok(_) => Ok(written),
        Err(ImageError::DigestMismatch { expected, actual }) => Err(src.entry_err(
            name,
            format!(
                "digest mismatch: its content hashes to {actual}, but {} {expected} (refused; nothing was stored)",
                if job.decompress { job.what.clone() } else { format!("its name and {} announce", job.what) }
            ),
        )),
        Err(ImageError::SizeMismatch { expected, actual, .. }) => Err(src.entry_err(
            name,
            format!("{actual} bytes, but {} announces {expected} (refused)", job.what),
        )),
        Err(e) => Err(e),
    }
}

fn execute(store: &Store, src: &Source, plan: Plan) -> Result<Vec<Loaded>> {
    let mut sizes: BTreeMap<Digest, u64> = BTreeMap::new();
    let wanted: BTreeSet<String> = plan
        .jobs
        .iter()
        .filter(|(_, j)| !store.has_blob(&j.expected))
        .map(|(n, _)| n.clone())
        .collect();
    src.stream(&wanted, &mut |name, size, r| {
        let job = &plan.jobs[name];
        let n = write_layer(store, src, name, job, size, r)?;
        sizes.insert(job.expected.clone(), n);
        Ok(())
    })?;
    let mut loaded = Vec::new();
    for img in &plan.images {
        put_bytes(store, &img.config_digest, &img.config_raw)?;
        let manifest_digest = match &img.manifest {
            Some((d, raw)) => {
                put_bytes(store, d, raw)?;
                d.clone()
            }
            None => {
                let mut layers = Vec::new();
                for d in &img.layers {
                    let size = match sizes.get(d) {
                        Some(s) => *s,
                        None => blob_size(store, d)?,
                    };
                    layers.push(json!({
                        "mediaType": MT_LAYER_TAR,
                        "digest": d.to_string(),
                        "size": size,
                    }));
                }
                let raw = serde_json::to_vec(&json!({
                    "schemaVersion": 2,
                    "mediaType": MT_OCI_MANIFEST,
                    "config": {
                        "mediaType": MT_OCI_CONFIG,
                        "digest": img.config_digest.to_string(),
                        "size": img.config_raw.len(),
                    },
                    "layers": layers,
                }))
                .expect("serialises");
                let d = Digest::sha256_of(&raw);
                put_bytes(store, &d, &raw)?;
                d
            }
        };
        let names = if img.names.is_empty() {
            vec![format!("{LOADED_REPOSITORY}@{manifest_digest}")]
        } else {
            img.names.clone()
        };
        loaded.push(Loaded {
            names,
            manifest_digest,
            config_digest: img.config_digest.clone(),
        });
    }
    let _lock = store.lock()?;
    let mut refs = store.refs()?;
    for l in &loaded {
        for n in &l.names {
            refs.insert(n.clone(), l.manifest_digest.clone());
        }
    }
    store.write_refs(&refs)?;
    Ok(loaded)
}

// ═════════════════════════════ import ═════════════════════════════

/// Settings of the image [`import_rootfs_with`] makes (`docker import --change`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// `Cmd` (none by default).
    pub cmd: Option<Vec<String>>,
    /// `Entrypoint` (none by default).
    pub entrypoint: Option<Vec<String>>,
    /// `Env` entries (`KEY=value`).
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Volumes` (paths).
    pub volumes: Vec<String>,
    /// `ExposedPorts` (`8080/tcp`).
    pub exposed_ports: Vec<String>,
}

impl ImportOptions {
    /// Apply one Dockerfile-style `--change` instruction, as `docker import -c`
    /// takes them: `CMD`, `ENTRYPOINT` (JSON array or shell form), `ENV K=V`,
    /// `WORKDIR`, `USER`, `VOLUME` (JSON array or paths), `EXPOSE port[/tcp|udp]...`.
    pub fn apply_change(&mut self, change: &str) -> Result<()> {
        let bad = |m: &str| ImageError::Invalid {
            what: format!("--change {change:?}"),
            message: m.to_string(),
        };
        let (ins, rest) = change
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("expected INSTRUCTION ARGUMENTS"))?;
        let rest = rest.trim();
        let words = |r: &str| -> Result<Vec<String>> {
            if r.starts_with('[') {
                serde_json::from_str::<Vec<String>>(r)
                    .map_err(|e| bad(&format!("not a JSON array of strings: {e}")))
            } else {
                Ok(r.split_whitespace().map(str::to_string).collect())
            }
        };
        let shell = |r: &str| -> Result<Vec<String>> {
            if r.starts_with('[') {
                words(r)
            } else {
                Ok(vec!["/bin/sh".into(), "-c".into(), r.to_string()])
            }
        };
        match ins.to_ascii_uppercase().as_str() {
            "CMD" => self.cmd = Some(shell(rest)?),
            "ENTRYPOINT" => self.entrypoint = Some(shell(rest)?),
            "ENV" => {
                let kv = if rest.contains('=') {
                    rest.to_string()
                } else {
                    let (k, v) = rest.split_once(' ').ok_or_else(|| bad("ENV KEY=VALUE"))?;
                    format!("{k}={}", v.trim())
                };
                self.env.push(kv);
            }
            "WORKDIR" => self.working_dir = Some(rest.to_string()),
            "USER" => self.user = Some(rest.to_string()),
            "VOLUME" => {
                for v in words(rest)? {
                    if !v.starts_with('/') {
                        return Err(bad(&format!("volume {v:?} is not an absolute path")));
                    }
                    self.volumes.push(v);
                }
            }
            "EXPOSE" => {
                for p in words(rest)? {
                    let (n, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
                    if n.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp") {
                        return Err(bad(&format!("{p:?} is not PORT[/tcp|udp]")));
                    }
                    self.exposed_ports.push(format!("{n}/{proto}"));
                }
            }
            other => {
                return Err(bad(&format!(
                    "unsupported instruction {other} (CMD, ENTRYPOINT, ENV, WORKDIR, USER, VOLUME, EXPOSE)"
                )))
            }
        }
        Ok(())
    }
}

/// Like `docker import`: the tar of a root file system at `tar` (plain, gzip or
/// zstd) becomes a single-layer image named `name` (normalised, e.g.
/// `docker.io/library/x:latest`). Returns the manifest digest.
pub fn import_rootfs(store: &Store, tar: &Path, name: &str) -> Result<Digest> {
    import_rootfs_with(store, tar, name, &ImportOptions::default())
}

struct HashRead<R> {
    r: R,
    h: Hasher,
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
}

/// Walk a whole tar stream (checking it is one), then read to the end of input.
fn walk_tar<R: Read>(r: R, what: &str) -> Result<u64> {
    let mut w = Walker::new(StreamInput(r), what.to_string(), IMPORT_MAX_ENTRIES);
    w.strict = true;
    while w.next()?.is_some() {}
    let entries = w.entries;
    io::copy(&mut w.r.0, &mut io::sink()).map_err(|e| w.read_err(e))?;
    Ok(entries)
}

/// [`import_rootfs`] with config settings.
pub fn import_rootfs_with(
    store: &Store,
    tar: &Path,
    name: &str,
    opts: &ImportOptions,
) -> Result<Digest> {
    let r = ImageRef::parse(name)?;
    if r.digest.is_some() {
        return Err(ImageError::Invalid {
            what: format!("image name {name:?}"),
            message: "an imported image is named by a tag, not a digest".into(),
        });
    }
    let name = r.to_string();
    let what = format!("root file system tar {}", tar.display());
    let mut f = File::open(tar).map_err(io_err("open", tar))?;
    let meta = f.metadata().map_err(io_err("stat", tar))?;
    if !meta.is_file() {
        return Err(ImageError::Invalid {
            what,
            message: "not a regular file".into(),
        });
    }
    let size = meta.len();
    if size > MAX_BLOB {
        return Err(ImageError::Invalid {
            what,
            message: format!("{size} bytes, more than the {MAX_BLOB} accepted"),
        });
    }
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut f, &mut magic).map_err(io_err("read", tar))?;
    let compression = Compression::sniff(&magic[..n]);
    f.seek(SeekFrom::Start(0)).map_err(io_err("seek", tar))?;

    // one pass: the blob digest (outer), the diff id (inner), the tar structure
    let mut outer = HashRead {
        r: BufReader::with_capacity(1 << 16, f),
        h: Hasher::new(crate::digest::Algorithm::Sha256),
    };
    let inner_hasher = Hasher::new(crate::digest::Algorithm::Sha256);
    let diff_id = match compression {
        Compression::None => {
            walk_tar(&mut outer, &what)?;
            None
        }
        Compression::Gzip => {
            let mut inner = HashRead {
                r: flate2::read::MultiGzDecoder::new(&mut outer),
                h: inner_hasher,
            };
            walk_tar(&mut inner, &what)?;
            Some(inner.h.finish())
        }
        Compression::Zstd => {
            let dec =
                zstd::stream::read::Decoder::new(&mut outer).map_err(io_err("decompress", tar))?;
            let mut inner = HashRead {
                r: dec,
                h: inner_hasher,
            };
            walk_tar(&mut inner, &what)?;
            Some(inner.h.finish())
        }
    };
    io::copy(&mut outer, &mut io::sink()).map_err(io_err("read", tar))?;
    let blob_digest = outer.h.finish();
    let diff_id = diff_id.unwrap_or_else(|| blob_digest.clone());
    let media_type = match compression {
        Compression::None => MT_LAYER_TAR,
        Compression::Gzip => MT_LAYER_GZIP,
        Compression::Zstd => MT_LAYER_ZSTD,
    };

    // the layer, as it is (a second read, verified against the first)
    {
        let _l = BlobLock::acquire(store, &blob_digest)?;
        if !store.has_blob(&blob_digest) {
            let mut f = outer.r.into_inner();
            f.seek(SeekFrom::Start(0)).map_err(io_err("seek", tar))?;
            let mut w = store.blob_writer(&blob_digest, Some(size), false)?;
            if let Err(e) = io::copy(&mut f, &mut w) {
                w.abort();
                return Err(io_err("copy", tar)(e));
            }
            w.commit().map_err(|e| ImageError::Invalid {
                what: what.clone(),
                message: format!("changed while it was imported: {e}"),
            })?;
        }
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let created = rfc3339(now);
    let platform = Platform::host();
    let mut cfg = serde_json::Map::new();
    if let Some(c) = &opts.cmd {
        cfg.insert("Cmd".into(), json!(c));
    }
    if let Some(e) = &opts.entrypoint {
        cfg.insert("Entrypoint".into(), json!(e));
    }
    if !opts.env.is_empty() {
        cfg.insert("Env".into(), json!(opts.env));
    }
    if let Some(w) = &opts.working_dir {
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &opts.user {
        cfg.insert("User".into(), json!(u));
    }
    if !opts.volumes.is_empty() {
        let m: serde_json::Map<String, Value> = opts
            .volumes
            .iter()
            .map(|v| (v.clone(), json!({})))
            .collect();
        cfg.insert("Volumes".into(), Value::Object(m));
    }
    if !opts.exposed_ports.is_empty() {
        let m: serde_json::Map<String, Value> = opts
            .exposed_ports
            .iter()
            .map(|v| (v.clone(), json!({})))
            .collect();
        cfg.insert("ExposedPorts".into(), Value::Object(m));
    }
    let source_name = tar
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut config = json!({
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": Value::Object(cfg),
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{
            "created": created,
            "created_by": "caisson import",
            "comment": format!("imported from {source_name}"),
        }],
    });
    if let Some(v) = &platform.variant {
        config["variant"] = json!(v);
    }
    let config_raw = serde_json::to_vec(&config).expect("serialises");
    registry::validate_config("the imported image's config", &config_raw, 1)?;
    let config_digest = Digest::sha256_of(&config_raw);
    put_bytes(store, &config_digest, &config_raw)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {
            "mediaType": MT_OCI_CONFIG,
            "digest": config_digest.to_string(),
            "size": config_raw.len(),
        },
        "layers": [{
            "mediaType": media_type,
            "digest": blob_digest.to_string(),
            "size": size,
        }],
    }))
    .expect("serialises");
    let manifest_digest = Digest::sha256_of(&manifest);
    put_bytes(store, &manifest_digest, &manifest)?;
    store.set_ref(&name, &manifest_digest)?;
    Ok(manifest_digest)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil from days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_refused() {
        assert_eq!(clean_name(b"./a//b/").unwrap().as_deref(), Some("a/b"));
        assert_eq!(clean_name(b"./").unwrap(), None);
        assert!(clean_name(b"../../escape").is_err());
        assert!(clean_name(b"a/../b").is_err());
        assert!(clean_name(b"/etc/passwd").is_err());
        assert!(clean_name(b"\xff").is_err());
        assert_eq!(
            resolve_in_archive(&["a"], b"../b/layer.tar").as_deref(),
            Some("b/layer.tar")
        );
        assert_eq!(resolve_in_archive(&["a"], b"../../x"), None);
        assert_eq!(resolve_in_archive(&[], b"/etc/passwd"), None);
    }

    #[test]
    fn familiar_names_and_formats() {
        assert_eq!(
            familiar("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(familiar("docker.io/a/b:1"), "a/b:1");
        assert_eq!(familiar("docker.io/library/a/b:1"), "library/a/b:1");
        assert_eq!(familiar("127.0.0.1:5000/x:y"), "127.0.0.1:5000/x:y");
        for f in [
            ArchiveFormat::OciArchive,
            ArchiveFormat::OciDir,
            ArchiveFormat::DockerArchive,
        ] {
            assert_eq!(f.as_str().parse::<ArchiveFormat>().unwrap(), f);
        }
        assert!("zip".parse::<ArchiveFormat>().is_err());
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn oci_ref_names() {
        let d = Digest::sha256_of(b"m");
        let ann = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        let names = |a: &HashMap<String, String>| oci_names(Some(a), "f", &[&d]);
        assert_eq!(
            names(&ann(ANNOTATION_REF_NAME, "busybox:1")).unwrap(),
            ["docker.io/library/busybox:1"]
        );
        assert_eq!(
            names(&ann(ANNOTATION_REF_NAME, "latest")).unwrap(),
            ["localhost/loaded:latest"]
        );
        assert_eq!(
            names(&ann(ANNOTATION_IMAGE_NAME, "127.0.0.1:5000/b:2")).unwrap(),
            ["127.0.0.1:5000/b:2"]
        );
        assert!(names(&ann(ANNOTATION_REF_NAME, "-x")).is_err());
        let other = Digest::sha256_of(b"other");
        assert!(names(&ann(ANNOTATION_IMAGE_NAME, &format!("a/b@{other}"))).is_err());
        assert!(names(&ann(ANNOTATION_IMAGE_NAME, &format!("a/b@{d}"))).is_ok());
    }
}
