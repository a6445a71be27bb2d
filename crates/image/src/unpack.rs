//! Hostile-input-safe unpacking of one OCI layer into a directory usable as an
//! overlayfs lowerdir.
//!
//! The blob is decompressed by media type (and the magic bytes must agree), and the
//! tar stream is walked here, block by block, with the `tar` crate's header parser:
//! extension headers (PAX, GNU long name/link) are capped at [`MAX_EXTENSION`]
//! bytes, every uncompressed byte counts against [`UnpackOptions::max_bytes`] and is
//! hashed for the diff id (including the end-of-archive padding).
//!
//! Entries are created fd-relative only. `dest` is opened once; the parent of every
//! entry is opened beneath it with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)` (missing parents are created one component at a time the
//! same way) and the entry itself is made with `*at` calls on that parent fd and a
//! single-component name, or through an fd of the new file. No path string the kernel
//! could resolve through a symlink is ever used, so a symlink in the layer (whatever
//! its target, absolute targets are normal) is never followed while unpacking.
//!
//! Where tar readers disagree, this one reads as Go's archive/tar (which wrote and
//! reads most layers): GNU long names win over PAX `path`, header-only types (links,
//! devices, directories, fifos) carry no data whatever their size field says, a lone
//! zero block followed by a header is refused. Sparse files are refused.
//!
//! Whiteouts follow the OCI image spec and become what overlayfs understands: a
//! `.wh.<name>` entry is a 0:0 character device `<name>`, `.wh..wh..opq` sets
//! `trusted.overlay.opaque=y` on its directory (`user.overlay.opaque` when not running
//! as root, for `userxattr` mounts). Other `.wh..wh.*` names (AUFS metadata) are
//! skipped.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode,
    SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::digest::{Algorithm, Digest, Hasher};
use crate::{io_err, ImageError, Result};

/// Largest PAX / GNU long-name / long-link extension header accepted (bytes).
pub const MAX_EXTENSION: u64 = 1 << 20;

/// Longest entry name accepted (bytes, after PAX / GNU long names): `PATH_MAX - 1`.
pub const MAX_NAME: usize = 4095;

const BLOCK: usize = 512;

/// Budget (bytes of path) for directories whose mode and mtime are applied at the end;
/// beyond it they are applied at once (their mtime may then be bumped by children).
const DEFERRED_BUDGET: usize = 64 << 20;

const RESOLVE: ResolveFlag = ResolveFlag::RESOLVE_BENEATH
    .union(ResolveFlag::RESOLVE_NO_SYMLINKS)
    .union(ResolveFlag::RESOLVE_NO_MAGICLINKS);

/// Limits and checks for [`unpack_layer`].
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Most uncompressed tar bytes accepted (default 16 GiB).
    pub max_bytes: u64,
    /// Most tar entries accepted (default 1 000 000).
    pub max_entries: u64,
    /// Whether device nodes and fifos may be created (default: only as euid 0).
    /// Whiteouts (0:0 character devices) are always allowed.
    pub allow_devices: bool,
    /// The diff id the image config announces for this layer: the digest of the
    /// uncompressed tar stream must match it.
    pub expected_diff_id: Option<Digest>,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            max_bytes: 16 << 30,
            max_entries: 1_000_000,
            allow_devices: nix::unistd::geteuid().is_root(),
            expected_diff_id: None,
        }
    }
}

/// What [`unpack_layer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries processed (PAX and GNU long name/link headers not counted, PAX
    /// global headers are).
    pub entries: u64,
    /// Uncompressed bytes read (the whole tar stream).
    pub bytes: u64,
    /// Digest of the uncompressed tar stream (the algorithm of the expected diff id,
    /// sha256 without one).
    pub diff_id: Digest,
}

/// Compression of a layer blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// zstd (possibly several frames).
    Zstd,
}

impl Compression {
    /// The compression a layer media type announces; an unknown media type is an
    /// error naming it.
    pub fn from_media_type(media_type: &str) -> Result<Compression> {
        Ok(match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Compression::None,
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Compression::Zstd,
            other => {
                return Err(ImageError::Invalid {
                    what: format!("layer media type {other:?}"),
                    message: "not a supported layer media type (expected application/vnd.oci.image.layer.v1.tar, +gzip or +zstd, or application/vnd.docker.image.rootfs.diff.tar.gzip)".into(),
                })
            }
        })
    }

    /// The compression the first bytes of a blob show (gzip `1f 8b`, zstd
    /// `28 b5 2f fd`, anything else is taken for a plain tar).
    pub fn sniff(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "plain tar",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Unpack the layer blob `blob` (of `media_type`) into `dest`, an existing empty
/// directory. Every refusal is an error naming the entry and the reason. On error
/// `dest` is left partially filled: the caller removes it (see [`remove_tree`]).
pub fn unpack_layer(
    blob: &Path,
    media_type: &str,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats> {
    let declared = Compression::from_media_type(media_type)?;
    let layer = format!("layer {}", blob.display());
    let mut file = File::open(blob).map_err(io_err("open", blob))?;
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("read", blob)(e)),
        }
    }
    let found = Compression::sniff(&magic[..got]);
    if found != declared {
        return Err(ImageError::Invalid {
            what: layer,
            message: format!(
                "media type {media_type} announces {} but the content is {}",
                declared.name(),
                found.name()
            ),
        });
    }
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("seek", blob))?;
    let raw = BufReader::with_capacity(1 << 16, file);
    let inner: Box<dyn Read> = match found {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| {
                ImageError::Invalid {
                    what: layer.clone(),
                    message: format!("cannot start the zstd decoder: {e}"),
                }
            })?)
        }
    };
    let alg = opts
        .expected_diff_id
        .as_ref()
        .map_or(Algorithm::Sha256, Digest::algorithm);
    let mut stream = Stream {
        inner,
        hasher: Hasher::new(alg),
        bytes: 0,
        max_bytes: opts.max_bytes,
        layer: &layer,
        compression: found,
    };

    let root = nix::fcntl::open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", dest)(e.into()))?;
    if !dir_is_empty(root.as_fd()).map_err(|e| io_err("read", dest)(e.into()))? {
        return Err(ImageError::Invalid {
            what: dest.display().to_string(),
            message: "the destination of a layer must be an empty directory".into(),
        });
    }
    let mut u = Unpacker {
        root,
        dest,
        opts,
        is_root: nix::unistd::geteuid().is_root(),
        deferred: Vec::new(),
        deferred_bytes: 0,
        buf: vec![0u8; 1 << 16],
    };

    let mut entries = 0u64;
    let mut block = [0u8; BLOCK];
    let mut ext = Extensions::default();
    loop {
        if !stream.fill(&mut block)? {
            // plain EOF at a block boundary
            ext.none_pending(&layer)?;
            break;
        }
        if block.iter().all(|b| *b == 0) {
            // end of archive: as Go's archive/tar, a zero block followed by a header
            // is refused (nothing hides behind a lone end marker); whatever follows
            // two zero blocks is only hashed.
            ext.none_pending(&layer)?;
            if stream.fill(&mut block)? && !block.iter().all(|b| *b == 0) {
                return Err(ImageError::Invalid {
                    what: layer.clone(),
                    message: "a single zero block followed by more entries".into(),
                });
            }
            break;
        }
        let h = tar::Header::from_byte_slice(&block);
        let hname = String::from_utf8_lossy(&h.path_bytes()).into_owned();
        if !checksum_ok(&block, h) {
            return Err(entry_err(
                hname.as_bytes(),
                "header checksum mismatch (not a tar stream?)",
            ));
        }
        let header_size = h
            .entry_size()
            .map_err(|e| entry_err(hname.as_bytes(), format!("malformed header: {e}")))?;
        let ty = h.entry_type().as_byte();
        if matches!(ty, b'L' | b'K' | b'x') {
            let (slot, kind) = match ty {
                b'L' => (&mut ext.long_name, "GNU long name"),
                b'K' => (&mut ext.long_link, "GNU long link"),
                _ => (&mut ext.pax, "PAX"),
            };
            if slot.is_some() {
                return Err(entry_err(
                    hname.as_bytes(),
                    format!("two {kind} headers for one entry"),
                ));
            }
            *slot = Some(stream.read_extension(&hname, kind, header_size)?);
            continue;
        }
        entries += 1;
        if entries > opts.max_entries {
            return Err(ImageError::Invalid {
                what: layer.clone(),
                message: format!("more than {} entries", opts.max_entries),
            });
        }
        if ty == b'g' {
            // PAX global header: applies to nothing here (as in Go's archive/tar).
            stream.read_extension(&hname, "PAX global", header_size)?;
            continue;
        }
        let mut e = ext.entry(h, header_size)?;
        if matches!(e.ty, b'1'..=b'6') {
            // header-only types carry no data whatever their size field says (as in
            // Go's archive/tar, which wrote and reads most layers)
            e.size = 0;
        }
        let mut remaining = e.size;
        u.entry(&mut stream, &e, &mut remaining)?;
        stream.skip(remaining)?;
        stream.skip(padding(e.size))?;
    }
    stream.drain()?;
    let bytes = stream.bytes;
    let diff_id = stream.hasher.finish();
    if let Some(expected) = &opts.expected_diff_id {
        if *expected != diff_id {
            return Err(ImageError::Invalid {
                what: layer.clone(),
                message: format!(
                    "diff id mismatch: expected {expected}, the uncompressed layer hashes to {diff_id}"
                ),
            });
        }
    }
    u.finish()?;
    Ok(UnpackStats {
        entries,
        bytes,
        diff_id,
    })
}

/// Remove the directory tree at `path` (an unpacked or partially unpacked layer),
/// fd-relative and without following any symlink in it, whatever its depth, its
/// device nodes or its directory modes. A missing `path` is not an error.
pub fn remove_tree(path: &Path) -> Result<()> {
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            },
            n,
        ),
        _ => {
            return Err(ImageError::Invalid {
                what: path.display().to_string(),
                message: "not a removable directory".into(),
            })
        }
    };
    let pfd = nix::fcntl::open(
        parent,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", parent)(e.into()))?;
    match remove_tree_at(pfd.as_fd(), name.as_bytes()) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(io_err("remove", path)(e.into())),
    }
}

/// Remove `name` (a directory or anything else) beneath `base`. Iterative, holding
/// at most two fds at a time: every directory is re-opened from `base` with
/// `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`.
pub(crate) fn remove_tree_at(base: BorrowedFd<'_>, name: &[u8]) -> nix::Result<()> {
    let st = fstatat(base, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if !is_dir(&st) {
        return unlinkat(base, name, UnlinkatFlags::NoRemoveDir);
    }
    let not_root = !nix::unistd::geteuid().is_root();
    if not_root {
        let _ = fchmodat(
            base,
            name,
            Mode::from_bits_truncate(0o700),
            FchmodatFlags::NoFollowSymlink,
        );
    }
    let mut stack: Vec<Vec<u8>> = vec![name.to_vec()];
    while let Some(top) = stack.last() {
        let path = stack.join(&b'/');
        let dirfd = openat2(base, &path[..], how(OFlag::O_RDONLY | OFlag::O_DIRECTORY))?;
        let mut sub = None;
        {
            let mut dir = Dir::openat(
                &dirfd,
                ".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            for ent in dir.iter() {
                let ent = ent?;
                let n = ent.file_name().to_bytes();
                if n == b"." || n == b".." {
                    continue;
                }
                let d = match ent.file_type() {
                    Some(t) => t == Type::Directory,
                    None => is_dir(&fstatat(&dirfd, n, AtFlags::AT_SYMLINK_NOFOLLOW)?),
                };
                if d {
                    sub = Some(n.to_vec());
                    break;
                }
                match unlinkat(&dirfd, n, UnlinkatFlags::NoRemoveDir) {
                    Ok(()) | Err(Errno::ENOENT) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if let Some(n) = sub {
            if not_root {
                let _ = fchmodat(
                    &dirfd,
                    &n[..],
                    Mode::from_bits_truncate(0o700),
                    FchmodatFlags::NoFollowSymlink,
                );
            }
            stack.push(n);
            continue;
        }
        drop(dirfd);
        let last = top.clone();
        stack.pop();
        if stack.is_empty() {
            unlinkat(base, &last[..], UnlinkatFlags::RemoveDir)?;
        } else {
            let ppath = stack.join(&b'/');
            let pfd = openat2(base, &ppath[..], how(OFlag::O_PATH | OFlag::O_DIRECTORY))?;
            unlinkat(&pfd, &last[..], UnlinkatFlags::RemoveDir)?;
        }
    }
    Ok(())
}

// ───────────── the decompressed stream ─────────────

/// The uncompressed tar stream: counted against the byte limit and hashed.
struct Stream<'a> {
    inner: Box<dyn Read + 'a>,
    hasher: Hasher,
    bytes: u64,
    max_bytes: u64,
    layer: &'a str,
    compression: Compression,
}

impl Stream<'_> {
    fn invalid(&self, message: String) -> ImageError {
        ImageError::Invalid {
            what: self.layer.to_string(),
            message,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = loop {
            match self.inner.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(self.invalid(format!(
                        "cannot decode the {} stream: {e}",
                        self.compression.name()
                    )))
                }
            }
        };
        self.bytes += n as u64;
        if self.bytes > self.max_bytes {
            return Err(self.invalid(format!(
                "more than {} bytes uncompressed (decompression bomb?)",
                self.max_bytes
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn truncated(&self) -> ImageError {
        self.invalid("the tar stream ends in the middle of an entry".into())
    }

    /// Fill `buf` whole; `Ok(false)` when the stream ends before its first byte.
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool> {
        let mut got = 0;
        while got < buf.len() {
            let n = self.read(&mut buf[got..])?;
            if n == 0 {
                if got == 0 {
                    return Ok(false);
                }
                return Err(self.truncated());
            }
            got += n;
        }
        Ok(true)
    }

    fn skip(&mut self, mut n: u64) -> Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            let r = self.read(&mut buf[..k])?;
            if r == 0 {
                return Err(self.truncated());
            }
            n -= r as u64;
        }
        Ok(())
    }

    /// Read everything after the end-of-archive marker (it is part of the diff id).
    fn drain(&mut self) -> Result<()> {
        let mut buf = vec![0u8; 1 << 16];
        while self.read(&mut buf)? > 0 {}
        Ok(())
    }

    /// The data of an extension header (size-capped) and its padding.
    fn read_extension(&mut self, name: &str, kind: &str, size: u64) -> Result<Vec<u8>> {
        if size > MAX_EXTENSION {
            return Err(entry_err(
                name.as_bytes(),
                format!("{kind} header of {size} bytes (more than {MAX_EXTENSION})"),
            ));
        }
        let mut data = vec![0u8; size as usize];
        if !self.fill(&mut data)? && size > 0 {
            return Err(self.truncated());
        }
        self.skip(padding(size))?;
        Ok(data)
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
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

// ───────────── headers ─────────────

/// Extension headers seen for the next entry.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

/// One entry, its extension headers applied.
struct EntryHeader {
    ty: u8,
    name: Vec<u8>,
    link: Option<Vec<u8>>,
    size: u64,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: TimeSpec,
    dev: (u32, u32),
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn cut_nul(mut v: Vec<u8>) -> Vec<u8> {
    if let Some(i) = v.iter().position(|b| *b == 0) {
        v.truncate(i);
    }
    v
}

impl Extensions {
    fn none_pending(&self, layer: &str) -> Result<()> {
        if self.long_name.is_some() || self.long_link.is_some() || self.pax.is_some() {
            return Err(ImageError::Invalid {
                what: layer.to_string(),
                message: "the tar stream ends with extension headers that describe no entry".into(),
            });
        }
        Ok(())
    }

    /// Merge the pending extensions into the entry `h` (GNU long names win over PAX,
    /// as in Go's archive/tar, which wrote most layers).
    fn entry(&mut self, h: &tar::Header, header_size: u64) -> Result<EntryHeader> {
        let long_name = self.long_name.take().map(cut_nul);
        let long_link = self.long_link.take().map(cut_nul);
        let link_from_gnu = long_link.is_some();
        let pax = self.pax.take();
        let mut name = long_name.clone();
        if name.is_none() {
            let pax_path = pax.as_deref().and_then(|p| {
                tar::PaxExtensions::new(p)
                    .filter_map(|e| e.ok())
                    .filter(|e| e.key_bytes() == b"path")
                    .last()
                    .map(|e| e.value_bytes().to_vec())
            });
            name = pax_path;
        }
        let name = name.unwrap_or_else(|| h.path_bytes().into_owned());
        let bad = |msg: String| entry_err(&name, msg);
        let mut e = EntryHeader {
            ty: h.entry_type().as_byte(),
            link: long_link.or_else(|| h.link_name_bytes().map(Cow::into_owned)),
            size: header_size,
            mode: h
                .mode()
                .map_err(|x| bad(format!("malformed header: {x}")))?,
            uid: h.uid().map_err(|x| bad(format!("malformed header: {x}")))?,
            gid: h.gid().map_err(|x| bad(format!("malformed header: {x}")))?,
            mtime: TimeSpec::new(
                i64::try_from(
                    h.mtime()
                        .map_err(|x| bad(format!("malformed header: {x}")))?,
                )
                .unwrap_or(i64::MAX),
                0,
            ),
            dev: (0, 0),
            xattrs: Vec::new(),
            name: Vec::new(),
        };
        if matches!(e.ty, b'3' | b'4') {
            let major = h
                .device_major()
                .map_err(|x| bad(format!("malformed header: {x}")))?;
            let minor = h
                .device_minor()
                .map_err(|x| bad(format!("malformed header: {x}")))?;
            e.dev = (major.unwrap_or(0), minor.unwrap_or(0));
        }
        if let Some(p) = &pax {
            for rec in tar::PaxExtensions::new(p) {
                let rec = rec.map_err(|x| bad(format!("malformed PAX header: {x}")))?;
                let key = rec.key_bytes();
                let val = rec.value_bytes();
                let num = || -> Result<u64> {
                    std::str::from_utf8(val)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| {
                            bad(format!(
                                "malformed PAX {} value",
                                String::from_utf8_lossy(key)
                            ))
                        })
                };
                match key {
                    b"size" => e.size = num()?,
                    b"uid" => e.uid = num()?,
                    b"gid" => e.gid = num()?,
                    b"mtime" => {
                        e.mtime = std::str::from_utf8(val)
                            .ok()
                            .and_then(parse_pax_time)
                            .ok_or_else(|| bad("malformed PAX mtime value".into()))?;
                    }
                    b"linkpath" if !link_from_gnu => e.link = Some(val.to_vec()),
                    k if k.starts_with(b"SCHILY.xattr.") => {
                        e.xattrs
                            .push((k[b"SCHILY.xattr.".len()..].to_vec(), val.to_vec()));
                    }
                    k if k.starts_with(b"GNU.sparse.") => {
                        return Err(bad("sparse files are not supported".into()));
                    }
                    _ => {}
                }
            }
        }
        e.name = name;
        Ok(e)
    }
}

/// PAX time: `[-]seconds[.fraction]`.
fn parse_pax_time(v: &str) -> Option<TimeSpec> {
    let (neg, v) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    if s.is_empty()
        || !s.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut secs: i64 = s.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    if neg {
        secs = -secs;
        if nanos > 0 {
            secs -= 1;
            nanos = 1_000_000_000 - nanos;
        }
    }
    Some(TimeSpec::new(secs, nanos))
}

/// A refusal naming the entry.
fn entry_err(name: &[u8], message: impl Into<String>) -> ImageError {
    let mut shown = String::from_utf8_lossy(name).into_owned();
    if shown.len() > 256 {
        let mut cut = 256;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push('…');
    }
    ImageError::Invalid {
        what: format!("layer entry {shown:?}"),
        message: message.into(),
    }
}

/// Split an entry name into its components: a leading `./` is stripped, empty and
/// `.` components are dropped; absolute names, `..`, NUL and empty names are refused.
/// An empty result names the layer root itself.
fn split_name(raw: &[u8]) -> std::result::Result<Vec<&[u8]>, &'static str> {
    if raw.is_empty() {
        return Err("empty name");
    }
    if raw.contains(&0) {
        return Err("NUL byte in the name");
    }
    if raw.len() > MAX_NAME {
        return Err("name longer than 4095 bytes");
    }
    if raw[0] == b'/' {
        return Err("absolute name: escapes the layer directory");
    }
    let mut s = raw;
    while let Some(r) = s.strip_prefix(b"./") {
        s = r;
    }
    let mut comps = Vec::new();
    for c in s.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("escapes the layer directory"),
            c => comps.push(c),
        }
    }
    Ok(comps)
}

// ───────────── creating entries ─────────────

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(RESOLVE)
}

fn is_dir(st: &nix::sys::stat::FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn dir_is_empty(fd: BorrowedFd<'_>) -> nix::Result<bool> {
    let mut dir = Dir::openat(
        fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    for ent in dir.iter() {
        let n = ent?.file_name().to_bytes().to_vec();
        if n != b"." && n != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `fsetxattr(2)`; nix has no xattr calls.
fn fsetxattr(fd: BorrowedFd<'_>, name: &CString, value: &[u8]) -> nix::Result<()> {
    // SAFETY: `fd` is a live descriptor borrowed for the duration of the call, `name`
    // is NUL-terminated, and `value`'s pointer and length describe one live slice; the
    // kernel copies both and keeps no pointer after returning.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(r).map(drop)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Hardlink,
    Symlink,
    Char,
    Block,
    Dir,
    Fifo,
}

struct Unpacker<'a> {
    root: OwnedFd,
    dest: &'a Path,
    opts: &'a UnpackOptions,
    is_root: bool,
    /// Directories whose mode and mtime are set at the end (so that creating their
    /// children neither bumps the mtime nor is refused by a read-only mode).
    deferred: Vec<(Vec<u8>, u32, TimeSpec)>,
    deferred_bytes: usize,
    buf: Vec<u8>,
}

/// Errors of one entry: a refusal, or an OS error on its path.
struct Ctx<'a> {
    name: &'a [u8],
    path: PathBuf,
}

impl Ctx<'_> {
    fn refuse(&self, msg: impl Into<String>) -> ImageError {
        entry_err(self.name, msg)
    }

    fn os(&self, op: &'static str) -> impl FnOnce(Errno) -> ImageError + '_ {
        move |e| ImageError::Io {
            op,
            path: self.path.clone(),
            source: e.into(),
        }
    }

    /// Map a failure to resolve a parent directory.
    fn resolve(&self, e: Errno) -> ImageError {
        match e {
            Errno::ELOOP => self.refuse("its parent path goes through a symlink"),
            Errno::ENOTDIR => self.refuse("a component of its parent path is not a directory"),
            Errno::EXDEV => self.refuse("escapes the layer directory"),
            e => self.os("open parent directory")(e),
        }
    }
}

impl Unpacker<'_> {
    fn entry(&mut self, s: &mut Stream<'_>, e: &EntryHeader, remaining: &mut u64) -> Result<()> {
        let comps = split_name(&e.name).map_err(|m| entry_err(&e.name, m))?;
        let ctx = Ctx {
            name: &e.name,
            path: comps.iter().fold(self.dest.to_path_buf(), |p, c| {
                p.join(std::ffi::OsStr::from_bytes(c))
            }),
        };
        let kind = match e.ty {
            b'0' | b'7' => Kind::File,
            // old-style (pre-POSIX) regular file; a trailing slash meant a directory
            b'\0' if e.name.ends_with(b"/") => Kind::Dir,
            b'\0' => Kind::File,
            b'1' => Kind::Hardlink,
            b'2' => Kind::Symlink,
            b'3' => Kind::Char,
            b'4' => Kind::Block,
            b'5' => Kind::Dir,
            b'6' => Kind::Fifo,
            b'S' => return Err(ctx.refuse("sparse files are not supported")),
            t => return Err(ctx.refuse(format!("unsupported entry type {:?}", char::from(t)))),
        };
        let Some((last, parents)) = comps.split_last() else {
            // "./": the layer root itself
            if kind != Kind::Dir {
                return Err(ctx.refuse("empty name"));
            }
            let fd = self.root.try_clone().map_err(|x| ImageError::Io {
                op: "dup",
                path: self.dest.to_path_buf(),
                source: x,
            })?;
            return self.dir_meta(&ctx, fd, Vec::new(), e);
        };
        // AUFS metadata (.wh..wh.plnk, .wh..wh.aufs, ...): not part of the image.
        if *last != b".wh..wh..opq" && comps.iter().any(|c| c.starts_with(b".wh..wh.")) {
            tracing::debug!(entry = %String::from_utf8_lossy(&e.name), "skipping AUFS metadata");
            return Ok(());
        }
        if parents.iter().any(|c| c.starts_with(b".wh.")) {
            return Err(ctx.refuse("whiteout name used as a directory (a '/' after '.wh.')"));
        }
        if let Some(target) = last.strip_prefix(b".wh.") {
            return self.whiteout(&ctx, parents, last, target);
        }
        if matches!(kind, Kind::Char | Kind::Block | Kind::Fifo) && !self.opts.allow_devices {
            return Err(ctx.refuse("device nodes and fifos are not allowed (allow_devices is off)"));
        }
        let parent = self.open_parent(&ctx, parents)?;
        let p = parent.as_fd();
        match kind {
            Kind::File => {
                self.replace(&ctx, p, last, false)?;
                let fd = openat2(
                    p,
                    *last,
                    how(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW)
                        .mode(Mode::from_bits_truncate(0o600)),
                )
                .map_err(ctx.os("create"))?;
                let mut f = File::from(fd);
                let mut left = e.size;
                while left > 0 {
                    let k = left.min(self.buf.len() as u64) as usize;
                    let n = s.read(&mut self.buf[..k])?;
                    if n == 0 {
                        return Err(s.truncated());
                    }
                    f.write_all(&self.buf[..n]).map_err(|x| ImageError::Io {
                        op: "write",
                        path: ctx.path.clone(),
                        source: x,
                    })?;
                    left -= n as u64;
                }
                *remaining = 0;
                self.owner_mode_fd(&ctx, f.as_fd(), e)?;
                self.xattrs(&ctx, f.as_fd(), e)?;
                futimens(&f, &e.mtime, &e.mtime).map_err(ctx.os("set times"))?;
            }
            Kind::Dir => {
                if !self.replace(&ctx, p, last, true)? {
                    mkdirat(p, *last, Mode::from_bits_truncate(0o700)).map_err(ctx.os("mkdir"))?;
                }
                let fd = openat2(p, *last, how(OFlag::O_RDONLY | OFlag::O_DIRECTORY))
                    .map_err(ctx.os("open directory"))?;
                self.dir_meta(&ctx, fd, comps.join(&b'/'), e)?;
            }
            Kind::Symlink => {
                let target = e.link.as_deref().unwrap_or_default();
                if target.is_empty() {
                    return Err(ctx.refuse("symlink with an empty target"));
                }
                if target.contains(&0) {
                    return Err(ctx.refuse("NUL byte in the symlink target"));
                }
                self.replace(&ctx, p, last, false)?;
                symlinkat(target, p, *last).map_err(ctx.os("symlink"))?;
                if self.is_root {
                    let (u, g) = self.ids(&ctx, e)?;
                    fchownat(p, *last, Some(u), Some(g), AtFlags::AT_SYMLINK_NOFOLLOW)
                        .map_err(ctx.os("chown"))?;
                }
                utimensat(
                    p,
                    *last,
                    &e.mtime,
                    &e.mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(ctx.os("set times"))?;
            }
            Kind::Hardlink => self.hardlink(&ctx, p, &comps, e)?,
            Kind::Char | Kind::Block | Kind::Fifo => {
                let (sflag, dev) = match kind {
                    Kind::Char => (SFlag::S_IFCHR, makedev(e.dev.0.into(), e.dev.1.into())),
                    Kind::Block => (SFlag::S_IFBLK, makedev(e.dev.0.into(), e.dev.1.into())),
                    _ => (SFlag::S_IFIFO, 0),
                };
                self.replace(&ctx, p, last, false)?;
                mknodat(p, *last, sflag, Mode::empty(), dev).map_err(ctx.os("mknod"))?;
                if self.is_root {
                    let (u, g) = self.ids(&ctx, e)?;
                    fchownat(p, *last, Some(u), Some(g), AtFlags::AT_SYMLINK_NOFOLLOW)
                        .map_err(ctx.os("chown"))?;
                }
                fchmodat(
                    p,
                    *last,
                    Mode::from_bits_truncate(e.mode & 0o7777),
                    FchmodatFlags::NoFollowSymlink,
                )
                .map_err(ctx.os("chmod"))?;
                utimensat(
                    p,
                    *last,
                    &e.mtime,
                    &e.mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(ctx.os("set times"))?;
            }
        }
        Ok(())
    }

    /// Open (creating missing components) the directory `parents`
    /// beneath the layer root, refusing symlinks anywhere on the way.
    fn open_parent(&self, ctx: &Ctx<'_>, parents: &[&[u8]]) -> Result<OwnedFd> {
        let dirflags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        if parents.is_empty() {
            return openat2(self.root.as_fd(), ".", how(dirflags)).map_err(|e| ctx.resolve(e));
        }
        let joined = parents.join(&b'/');
        match openat2(self.root.as_fd(), &joined[..], how(dirflags)) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(ctx.resolve(e)),
        }
        // walk, creating what is missing (mode 0755, as other unpackers do)
        let mut cur = openat2(self.root.as_fd(), ".", how(dirflags)).map_err(|e| ctx.resolve(e))?;
        for c in parents {
            let next = match openat2(&cur, *c, how(dirflags)) {
                Err(Errno::ENOENT) => {
                    match mkdirat(&cur, *c, Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(ctx.os("mkdir parent")(e)),
                    }
                    openat2(&cur, *c, how(dirflags))
                }
                r => r,
            };
            cur = next.map_err(|e| ctx.resolve(e))?;
        }
        Ok(cur)
    }

    /// Make room for a new entry `name` in `parent`: an existing non-directory (or
    /// any existing entry unless `keep_dir`) is removed — the name itself, never what
    /// a symlink points to. Returns whether an existing directory was kept.
    fn replace(
        &self,
        ctx: &Ctx<'_>,
        parent: BorrowedFd<'_>,
        name: &[u8],
        keep_dir: bool,
    ) -> Result<bool> {
        match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(ctx.os("stat")(e)),
            Ok(st) if is_dir(&st) && keep_dir => Ok(true),
            Ok(st) if is_dir(&st) => {
                remove_tree_at(parent, name).map_err(ctx.os("remove the earlier directory"))?;
                Ok(false)
            }
            Ok(_) => {
                unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)
                    .map_err(ctx.os("remove the earlier entry"))?;
                Ok(false)
            }
        }
    }

    fn ids(&self, ctx: &Ctx<'_>, e: &EntryHeader) -> Result<(Uid, Gid)> {
        let conv = |v: u64, what: &str| {
            u32::try_from(v)
                .ok()
                .filter(|v| *v != u32::MAX)
                .ok_or_else(|| ctx.refuse(format!("{what} {v} out of range")))
        };
        Ok((
            Uid::from_raw(conv(e.uid, "uid")?),
            Gid::from_raw(conv(e.gid, "gid")?),
        ))
    }

    /// Owner (as root only) then mode: chown clears setuid/setgid, so it goes first.
    fn owner_mode_fd(&self, ctx: &Ctx<'_>, fd: BorrowedFd<'_>, e: &EntryHeader) -> Result<()> {
        if self.is_root {
            let (u, g) = self.ids(ctx, e)?;
            fchown(fd, Some(u), Some(g)).map_err(ctx.os("chown"))?;
        }
        fchmod(fd, Mode::from_bits_truncate(e.mode & 0o7777)).map_err(ctx.os("chmod"))
    }

    /// PAX `SCHILY.xattr.*`: only `security.capability` (as root) and `user.*` (but
    /// not `user.overlay.*`, which overlayfs interprets on `userxattr` mounts) are
    /// kept; `trusted.*`, `security.selinux` etc. are dropped.
    fn xattrs(&self, ctx: &Ctx<'_>, fd: BorrowedFd<'_>, e: &EntryHeader) -> Result<()> {
        for (key, val) in &e.xattrs {
            let cap = key == b"security.capability";
            let user = key.starts_with(b"user.") && !key.starts_with(b"user.overlay.");
            if !cap && !user {
                tracing::debug!(entry = %ctx.path.display(), xattr = %String::from_utf8_lossy(key), "xattr dropped");
                continue;
            }
            if cap && !self.is_root {
                tracing::warn!(entry = %ctx.path.display(), "security.capability dropped: not running as root");
                continue;
            }
            let Ok(name) = CString::new(key.clone()) else {
                return Err(ctx.refuse("NUL byte in an xattr name"));
            };
            match fsetxattr(fd, &name, val) {
                Ok(()) => {}
                Err(Errno::ENOTSUP) if user => {
                    tracing::warn!(entry = %ctx.path.display(), xattr = %String::from_utf8_lossy(key), "the file system has no user xattrs: dropped");
                }
                Err(x) => return Err(ctx.os("set xattr")(x)),
            }
        }
        Ok(())
    }

    /// Owner and xattrs now; mode and mtime at the end (deferred).
    fn dir_meta(
        &mut self,
        ctx: &Ctx<'_>,
        fd: OwnedFd,
        path: Vec<u8>,
        e: &EntryHeader,
    ) -> Result<()> {
        if self.is_root {
            let (u, g) = self.ids(ctx, e)?;
            fchown(&fd, Some(u), Some(g)).map_err(ctx.os("chown"))?;
        }
        self.xattrs(ctx, fd.as_fd(), e)?;
        let mode = e.mode & 0o7777;
        if self.deferred_bytes + path.len() + 32 <= DEFERRED_BUDGET {
            self.deferred_bytes += path.len() + 32;
            self.deferred.push((path, mode, e.mtime));
        } else {
            fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(ctx.os("chmod"))?;
            futimens(&fd, &e.mtime, &e.mtime).map_err(ctx.os("set times"))?;
        }
        Ok(())
    }

    fn hardlink(
        &self,
        ctx: &Ctx<'_>,
        p: BorrowedFd<'_>,
        comps: &[&[u8]],
        e: &EntryHeader,
    ) -> Result<()> {
        let target = e.link.as_deref().unwrap_or_default();
        let shown = String::from_utf8_lossy(target);
        let outside = || ctx.refuse(format!("hardlink target {shown:?} outside the layer"));
        let not_file = || {
            ctx.refuse(format!(
                "hardlink target {shown:?} is not a regular file extracted earlier in this layer"
            ))
        };
        let tcomps = match split_name(target) {
            Ok(t) => t,
            Err("empty name") => return Err(ctx.refuse("hardlink without a target")),
            Err(_) => return Err(outside()),
        };
        let Some((tlast, tparents)) = tcomps.split_last() else {
            return Err(not_file());
        };
        if tcomps == comps {
            return Err(ctx.refuse("hardlink to itself"));
        }
        let joined = if tparents.is_empty() {
            b".".to_vec()
        } else {
            tparents.join(&b'/')
        };
        let tp = match openat2(
            self.root.as_fd(),
            &joined[..],
            how(OFlag::O_PATH | OFlag::O_DIRECTORY),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Err(not_file()),
            // through a symlink (ELOOP) or escaping (EXDEV)
            Err(_) => return Err(outside()),
        };
        match fstatat(&tp, *tlast, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {}
            _ => return Err(not_file()),
        }
        let last = comps[comps.len() - 1];
        self.replace(ctx, p, last, false)?;
        // flags 0: linkat never follows a symlink at the target
        linkat(&tp, *tlast, p, last, AtFlags::empty()).map_err(ctx.os("link"))?;
        Ok(())
    }

    fn whiteout(
        &mut self,
        ctx: &Ctx<'_>,
        parents: &[&[u8]],
        last: &[u8],
        target: &[u8],
    ) -> Result<()> {
        let parent = self.open_parent(ctx, parents)?;
        if last == b".wh..wh..opq" {
            let dir = openat2(&parent, ".", how(OFlag::O_RDONLY | OFlag::O_DIRECTORY))
                .map_err(ctx.os("open directory"))?;
            let key = if self.is_root {
                "trusted.overlay.opaque"
            } else {
                "user.overlay.opaque"
            };
            let key = CString::new(key).expect("no NUL");
            return fsetxattr(dir.as_fd(), &key, b"y").map_err(ctx.os("set opaque xattr"));
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(ctx.refuse("whiteout of an invalid name"));
        }
        self.replace(ctx, parent.as_fd(), target, false)?;
        mknodat(
            &parent,
            target,
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        )
        .map_err(ctx.os("create whiteout"))
    }

    /// Apply the deferred directory modes and mtimes, latest entry per path first
    /// seen (deepest usually first, so a read-only parent cannot get in the way).
    fn finish(&mut self) -> Result<()> {
        let mut done = HashSet::new();
        for (path, mode, mtime) in self.deferred.iter().rev() {
            if !done.insert(path.as_slice()) {
                continue;
            }
            let at: &[u8] = if path.is_empty() { b"." } else { path };
            let shown = self.dest.join(std::ffi::OsStr::from_bytes(path));
            let fd = match openat2(
                self.root.as_fd(),
                at,
                how(OFlag::O_RDONLY | OFlag::O_DIRECTORY),
            ) {
                Ok(fd) => fd,
                // replaced later in the layer by something else
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => return Err(io_err("open", &shown)(e.into())),
            };
            fchmod(&fd, Mode::from_bits_truncate(*mode))
                .map_err(|e| io_err("chmod", &shown)(e.into()))?;
            futimens(&fd, mtime, mtime).map_err(|e| io_err("set times", &shown)(e.into()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(split_name(b"./a/b/").unwrap(), vec![&b"a"[..], b"b"]);
        assert_eq!(split_name(b"a//./b").unwrap(), vec![&b"a"[..], b"b"]);
        assert!(split_name(b"./").unwrap().is_empty());
        assert!(split_name(b".").unwrap().is_empty());
        assert!(split_name(b"").is_err());
        assert!(split_name(b"/etc").is_err());
        assert!(split_name(b"a/../../b").is_err());
        assert!(split_name(b"a/..").is_err());
        assert!(split_name(b"a\0b").is_err());
        assert!(split_name(&vec![b'a'; 4096]).is_err());
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time("12"), Some(TimeSpec::new(12, 0)));
        assert_eq!(parse_pax_time("12.5"), Some(TimeSpec::new(12, 500_000_000)));
        assert_eq!(
            parse_pax_time("-1.25"),
            Some(TimeSpec::new(-2, 750_000_000))
        );
        assert_eq!(parse_pax_time("1.0000000019"), Some(TimeSpec::new(1, 1)));
        assert_eq!(parse_pax_time("x"), None);
        assert_eq!(parse_pax_time(""), None);
        assert_eq!(parse_pax_time("1.2.3"), None);
    }

    #[test]
    fn media_types() {
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip")
                .unwrap(),
            Compression::Gzip
        );
        let e = Compression::from_media_type("application/x-evil")
            .unwrap_err()
            .to_string();
        assert!(e.contains("application/x-evil"), "{e}");
    }
}
