//! The content-addressed store: blobs become visible only once their bytes match
//! their digest (and announced size); refs and layer directories change under one
//! store-wide lock; every file is written to `tmp/` first and renamed into place.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Hasher};
use crate::{io_err, ImageError, Result};

/// Largest blob read whole into memory (manifests, configs, indexes).
pub const MAX_METADATA_BLOB: u64 = 8 << 20;

/// A store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// The store-wide exclusive lock (released on drop).
#[derive(Debug)]
pub struct StoreLock {
    _file: nix::fcntl::Flock<File>,
}

impl Store {
    /// Open (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        for d in ["blobs/sha256", "blobs/sha512", "tmp", "layers/sha256"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o700))
            .map_err(io_err("chmod", root.join("tmp")))?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store's temp area (the only place unverified data is written).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Take the store-wide exclusive lock (blocks until free).
    pub fn lock(&self) -> Result<StoreLock> {
        let p = self.root.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("open", &p))?;
        let file =
            nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
                ImageError::Io {
                    op: "lock",
                    path: p.clone(),
                    source: e.into(),
                }
            })?;
        Ok(StoreLock { _file: file })
    }

    /// Where a verified blob lives.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    /// Whether the blob is present (verified when it was written).
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Read a small blob (manifest, config) whole, re-verifying its digest.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let f = File::open(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ImageError::NotFound(format!("blob {d} is not in the store"))
            } else {
                ImageError::Io {
                    op: "open",
                    path: p.clone(),
                    source: e,
                }
            }
        })?;
        let mut data = Vec::new();
        f.take(MAX_METADATA_BLOB + 1)
            .read_to_end(&mut data)
            .map_err(io_err("read", &p))?;
        if data.len() as u64 > MAX_METADATA_BLOB {
            return Err(ImageError::Invalid {
                what: d.to_string(),
                message: format!("larger than {MAX_METADATA_BLOB} bytes: not a manifest or config"),
            });
        }
        let mut h = d.hasher();
        h.update(&data);
        let actual = h.finish();
        if &actual != d {
            return Err(ImageError::DigestMismatch {
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(data)
    }

    /// Store bytes whose digest we compute ourselves (manifests we write).
    pub fn put_blob(&self, data: &[u8]) -> Result<Digest> {
        let d = Digest::sha256_of(data);
        if !self.has_blob(&d) {
            let mut w = self.blob_writer(&d, Some(data.len() as u64), false)?;
            w.write_all(data)
                .map_err(io_err("write", w.partial_path()))?;
            w.commit()?;
        }
        Ok(d)
    }

    /// A writer for the blob `expected` (of `size` bytes, if announced). With
    /// `resume`, bytes already in its partial file are kept (re-hashed) and writing
    /// continues after them — [`BlobWriter::offset`] says where.
    pub fn blob_writer(
        &self,
        expected: &Digest,
        size: Option<u64>,
        resume: bool,
    ) -> Result<BlobWriter> {
        let partial = self.tmp_dir().join(format!(
            "{}-{}.partial",
            expected.algorithm().as_str(),
            expected.hex()
        ));
        let mut hasher = expected.hasher();
        let mut offset = 0;
        let file = if resume && partial.exists() {
            let mut f = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&partial)
                .map_err(io_err("open", &partial))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf).map_err(io_err("read", &partial))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                offset += n as u64;
            }
            if size.is_some_and(|s| offset > s) {
                drop(f);
                return self.blob_writer(expected, size, false);
            }
            f
        } else {
            File::create(&partial).map_err(io_err("create", &partial))?
        };
        Ok(BlobWriter {
            store: self.clone(),
            expected: expected.clone(),
            size,
            partial,
            file: Some(file),
            hasher,
            written: offset,
            offset,
        })
    }

    /// Remove partial downloads (e.g. after `system prune`).
    pub fn clear_tmp(&self) -> Result<()> {
        let t = self.tmp_dir();
        for e in std::fs::read_dir(&t).map_err(io_err("read", &t))?.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
        Ok(())
    }

    /// Every blob in the store.
    pub fn blobs(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for alg in ["sha256", "sha512"] {
            let dir = self.root.join("blobs").join(alg);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                if let Ok(d) = format!("{alg}:{}", e.file_name().to_string_lossy()).parse() {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// Remove a blob (callers hold the lock and know nothing refers to it).
    pub fn remove_blob(&self, d: &Digest) -> Result<()> {
        let p = self.blob_path(d);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", &p)(e)),
            _ => Ok(()),
        }
    }

    // ───────────── refs ─────────────

    fn refs_path(&self) -> PathBuf {
        self.root.join("refs.json")
    }

    /// All image names → manifest digests.
    pub fn refs(&self) -> Result<BTreeMap<String, Digest>> {
        let p = self.refs_path();
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| ImageError::Invalid {
                what: p.display().to_string(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    /// Replace the ref table (callers hold the lock).
    pub fn write_refs(&self, refs: &BTreeMap<String, Digest>) -> Result<()> {
        let data = serde_json::to_vec_pretty(refs).expect("serialises");
        write_atomic(&self.tmp_dir(), &self.refs_path(), &data)
    }

    /// Point `name` at `manifest` (takes the lock).
    pub fn set_ref(&self, name: &str, manifest: &Digest) -> Result<()> {
        let _l = self.lock()?;
        let mut refs = self.refs()?;
        refs.insert(name.to_string(), manifest.clone());
        self.write_refs(&refs)
    }

    /// Directory of the unpacked layer with chain id `chain`.
    pub fn layer_dir(&self, chain: &Digest) -> PathBuf {
        self.root
            .join("layers")
            .join(chain.algorithm().as_str())
            .join(chain.hex())
    }
}

/// Write `data` to `dest` atomically: a temp file in `tmp` (same file system),
/// fsync, rename.
pub fn write_atomic(tmp: &Path, dest: &Path, data: &[u8]) -> Result<()> {
    let t = tempfile_in(tmp)?;
    {
        let mut f = File::create(&t).map_err(io_err("create", &t))?;
        f.write_all(data).map_err(io_err("write", &t))?;
        f.sync_all().map_err(io_err("sync", &t))?;
    }
    std::fs::rename(&t, dest).map_err(io_err("rename into place", dest))
}

fn tempfile_in(dir: &Path) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    Ok(dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Streams a blob into the store's temp area while hashing it; [`BlobWriter::commit`]
/// verifies size and digest and only then moves it into `blobs/`. Dropped without
/// commit, the partial file stays (for a resumed download) — nothing is visible.
#[derive(Debug)]
pub struct BlobWriter {
    store: Store,
    expected: Digest,
    size: Option<u64>,
    partial: PathBuf,
    file: Option<File>,
    hasher: Hasher,
    written: u64,
    offset: u64,
}

impl BlobWriter {
    /// Bytes already present when the writer was made (resume point).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes written so far (including the resumed part).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The partial file (inside the store's temp area).
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// Verify and publish the blob; on mismatch the partial file is deleted and the
    /// error names both digests.
    pub fn commit(mut self) -> Result<Digest> {
        let mut f = self.file.take().expect("file present until commit");
        f.flush().map_err(io_err("write", &self.partial))?;
        f.sync_all().map_err(io_err("sync", &self.partial))?;
        drop(f);
        let actual = self.hasher.clone().finish();
        if let Some(s) = self.size {
            if s != self.written {
                let _ = std::fs::remove_file(&self.partial);
                return Err(ImageError::SizeMismatch {
                    digest: self.expected.to_string(),
                    expected: s,
                    actual: self.written,
                });
            }
        }
        if actual != self.expected {
            let _ = std::fs::remove_file(&self.partial);
            return Err(ImageError::DigestMismatch {
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            });
        }
        let dest = self.store.blob_path(&self.expected);
        std::fs::set_permissions(&self.partial, std::fs::Permissions::from_mode(0o444))
            .map_err(io_err("chmod", &self.partial))?;
        std::fs::rename(&self.partial, &dest).map_err(io_err("rename into place", &dest))?;
        Ok(self.expected.clone())
    }

    /// Throw the partial data away.
    pub fn abort(mut self) {
        self.file.take();
        let _ = std::fs::remove_file(&self.partial);
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(s) = self.size {
            if self.written + buf.len() as u64 > s {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "blob {} is larger than the {s} bytes announced",
                        self.expected
                    ),
                ));
            }
        }
        let f = self.file.as_mut().expect("file present until commit");
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_write_resume_and_refusals() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open(t.path()).unwrap();
        let data = b"hello layer".repeat(1000);
        let d = Digest::sha256_of(&data);
        // interrupted download, then resumed
        let mut w = s.blob_writer(&d, Some(data.len() as u64), true).unwrap();
        w.write_all(&data[..4000]).unwrap();
        drop(w);
        assert!(!s.has_blob(&d), "nothing visible before commit");
        let mut w = s.blob_writer(&d, Some(data.len() as u64), true).unwrap();
        assert_eq!(w.offset(), 4000);
        w.write_all(&data[4000..]).unwrap();
        assert_eq!(w.commit().unwrap(), d);
        assert!(s.has_blob(&d));
        assert_eq!(std::fs::read(s.blob_path(&d)).unwrap(), data);
        // wrong content
        let other = Digest::sha256_of(b"something else");
        let mut w = s.blob_writer(&other, None, false).unwrap();
        w.write_all(b"not it").unwrap();
        let e = w.commit().unwrap_err().to_string();
        assert!(
            e.contains("digest mismatch") && e.contains(&other.to_string()),
            "{e}"
        );
        assert!(!s.has_blob(&other));
        // longer than announced
        let mut w = s.blob_writer(&other, Some(3), false).unwrap();
        assert!(w.write_all(b"four").is_err());
        // shorter than announced
        let mut w = s
            .blob_writer(&d, Some(data.len() as u64 + 1), false)
            .unwrap();
        w.write_all(&data).unwrap();
        assert!(matches!(w.commit(), Err(ImageError::SizeMismatch { .. })));
        // temp area is clean after refusals (partials are removed on a bad commit)
        let left: Vec<_> = std::fs::read_dir(s.tmp_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.iter()
                .all(|n| n.to_string_lossy().ends_with(".partial")),
            "{left:?}"
        );
    }

    #[test]
    fn refs_roundtrip() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open(t.path()).unwrap();
        let d = s.put_blob(b"{}").unwrap();
        s.set_ref("localhost:5000/a:latest", &d).unwrap();
        assert_eq!(s.refs().unwrap()["localhost:5000/a:latest"], d);
        assert_eq!(s.read_blob(&d).unwrap(), b"{}");
    }
}
