//! Layer unpacking against hostile tars built byte by byte: every refusal names the
//! entry, nothing is written outside the destination (a sentinel sibling stays
//! untouched, /etc/passwd too), and a refused layer leaves nothing in `layers/` and
//! nothing but `.partial` files in `tmp/`. The positive cases mount the result with
//! overlayfs. Runs as root (chown, device nodes, trusted xattrs, mount).
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use caisson_image::layers::{
    chain_ids, ensure_unpacked, ensure_unpacked_with, layer_dirs, remove_layer,
};
use caisson_image::unpack::{remove_tree, unpack_layer, UnpackOptions};
use caisson_image::{Digest, Store};
use sha2::Digest as _;
use tar::EntryType;

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_GZ: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const ZST: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Where a relative escape from a tempdir under /tmp would land.
const ESCAPE: &str = "caisson-test-escape-7f3a";

// ───────────── raw tar building ─────────────

/// One tar member: a raw header (any name bytes) and its data.
struct E {
    h: tar::Header,
    data: Vec<u8>,
}

fn hdr(name: &[u8], ty: EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    assert!(name.len() <= 100, "use long() for long names");
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(ty);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    h
}

fn file(name: &str, data: &[u8], mode: u32) -> E {
    E {
        h: hdr(name.as_bytes(), EntryType::Regular, mode, data.len() as u64),
        data: data.to_vec(),
    }
}

fn owned_file(name: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> E {
    let mut e = file(name, data, mode);
    e.h.set_uid(uid);
    e.h.set_gid(gid);
    e.h.set_cksum();
    e
}

fn dir(name: &str, mode: u32) -> E {
    E {
        h: hdr(name.as_bytes(), EntryType::Directory, mode, 0),
        data: Vec::new(),
    }
}

fn link(name: &str, ty: EntryType, target: &str) -> E {
    let mut h = hdr(name.as_bytes(), ty, 0o777, 0);
    h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
    h.set_cksum();
    E {
        h,
        data: Vec::new(),
    }
}

fn symlink(name: &str, target: &str) -> E {
    link(name, EntryType::Symlink, target)
}

fn hardlink(name: &str, target: &str) -> E {
    link(name, EntryType::Link, target)
}

fn node(name: &str, ty: EntryType, major: u32, minor: u32) -> E {
    let mut h = hdr(name.as_bytes(), ty, 0o666, 0);
    h.set_device_major(major).unwrap();
    h.set_device_minor(minor).unwrap();
    h.set_cksum();
    E {
        h,
        data: Vec::new(),
    }
}

/// A PAX extended header for the next member.
fn pax(records: &[(&str, &[u8])]) -> E {
    let mut data = Vec::new();
    for (k, v) in records {
        let body = 1 + k.len() + 1 + v.len() + 1; // " k=v\n"
        let mut len = body + 1;
        while body + len.to_string().len() != len {
            len = body + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} {k}=").as_bytes());
        data.extend_from_slice(v);
        data.push(b'\n');
    }
    E {
        h: hdr(
            b"PaxHeaders/x",
            EntryType::XHeader,
            0o644,
            data.len() as u64,
        ),
        data,
    }
}

/// A GNU long-name header for the next member.
fn long_name(name: &[u8]) -> E {
    let mut data = name.to_vec();
    data.push(0);
    E {
        h: hdr(
            b"././@LongLink",
            EntryType::GNULongName,
            0o644,
            data.len() as u64,
        ),
        data,
    }
}

fn tar_of(entries: Vec<E>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        b.append(&e.h, &e.data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zstd_of(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

// ───────────── environment and checks ─────────────

struct Env {
    t: tempfile::TempDir,
    store: Store,
    dest: PathBuf,
    passwd: Vec<u8>,
    passwd_nlink: u64,
}

fn env() -> Env {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("store")).unwrap();
    std::fs::create_dir(t.path().join("sentinel")).unwrap();
    std::fs::write(t.path().join("sentinel/keep"), b"keep").unwrap();
    let dest = t.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    Env {
        store,
        dest,
        passwd: std::fs::read("/etc/passwd").unwrap(),
        passwd_nlink: std::fs::metadata("/etc/passwd").unwrap().nlink(),
        t,
    }
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

impl Env {
    /// Nothing was written outside `dest` (and the store).
    fn check_outside(&self) {
        assert_eq!(
            names(self.t.path()),
            ["dest", "sentinel", "store"].map(String::from).into(),
            "something appeared next to dest"
        );
        assert_eq!(
            names(&self.t.path().join("sentinel")),
            ["keep".to_string()].into()
        );
        let keep = self.t.path().join("sentinel/keep");
        assert_eq!(std::fs::read(&keep).unwrap(), b"keep");
        assert_eq!(
            std::fs::metadata(&keep).unwrap().nlink(),
            1,
            "sentinel hardlinked"
        );
        assert_eq!(
            std::fs::read("/etc/passwd").unwrap(),
            self.passwd,
            "/etc/passwd changed"
        );
        assert_eq!(
            std::fs::metadata("/etc/passwd").unwrap().nlink(),
            self.passwd_nlink
        );
        assert!(
            !Path::new("/tmp").join(ESCAPE).exists(),
            "/tmp/{ESCAPE} created"
        );
        assert!(!Path::new("/").join(ESCAPE).exists(), "/{ESCAPE} created");
    }

    /// A refused layer left nothing in `layers/`, nothing but `.partial` in `tmp/`.
    fn check_store_clean(&self) {
        // chain ids are sha256: that directory exists (Store::open makes it) and is
        // empty; no other algorithm's directory is ever made
        let d = self.store.root().join("layers/sha256");
        assert!(
            names(&d).is_empty(),
            "left in layers/sha256: {:?}",
            names(&d)
        );
        assert!(!self.store.root().join("layers/sha512").exists());
        let left = names(&self.store.tmp_dir());
        assert!(
            left.iter().all(|n| n.ends_with(".partial")),
            "left in tmp/: {left:?}"
        );
        assert!(layer_dirs(&self.store).is_empty());
    }

    fn put(&self, blob: &[u8]) -> Digest {
        self.store.put_blob(blob).unwrap()
    }

    /// A fresh, empty destination next to `dest` (removed by the tempdir).
    fn fresh(&self, name: &str) -> PathBuf {
        let p = self.t.path().join("store/tmp").join(name);
        std::fs::create_dir(&p).unwrap();
        p
    }
}

fn no_devices() -> UnpackOptions {
    UnpackOptions {
        allow_devices: false,
        ..UnpackOptions::default()
    }
}

/// `tar` (compressed as `media_type` says) must be refused both by `unpack_layer`
/// and by `ensure_unpacked`, with every needle in the message, writing nothing
/// outside and leaving the store clean.
fn refused_with(tar: &[u8], media_type: &str, opts: &UnpackOptions, needles: &[&str]) {
    let env = env();
    let blob = match media_type {
        GZ | DOCKER_GZ => gzip(tar),
        ZST => zstd_of(tar),
        _ => tar.to_vec(),
    };
    let d = env.put(&blob);
    let err = unpack_layer(&env.store.blob_path(&d), media_type, &env.dest, opts)
        .expect_err("unpack_layer should refuse")
        .to_string();
    for n in needles {
        assert!(err.contains(n), "error should mention {n:?}: {err}");
    }
    env.check_outside();

    let diff = Digest::sha256_of(tar);
    let err = ensure_unpacked_with(&env.store, &[(d, media_type.into())], &[diff], false, opts)
        .expect_err("ensure_unpacked should refuse")
        .to_string();
    for n in needles {
        assert!(
            err.contains(n),
            "ensure_unpacked error should mention {n:?}: {err}"
        );
    }
    env.check_store_clean();
    env.check_outside();
}

fn refused(entries: Vec<E>, needles: &[&str]) {
    refused_with(&tar_of(entries), TAR, &UnpackOptions::default(), needles);
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let path = CString::new(p.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated and live for the call; the buffer
    // pointer and length describe one live, writable allocation.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

// ───────────── refusals ─────────────

#[test]
fn dotdot_names_are_refused() {
    let up2 = format!("../../{ESCAPE}");
    for name in [
        "../escaped",
        up2.as_str(),
        "a/../../escaped",
        "./../escaped",
        "a/b/../../../escaped",
        "../../etc/passwd",
    ] {
        refused(
            vec![file("ok", b"fine", 0o644), file(name, b"pwned", 0o644)],
            &[
                &format!("layer entry {name:?}"),
                "escapes the layer directory",
            ],
        );
    }
}

#[test]
fn absolute_names_are_refused() {
    for name in ["/etc/passwd", &format!("/tmp/{ESCAPE}"), "//etc/passwd"] {
        refused(
            vec![file(name, b"root::0:0::/:/bin/sh\n", 0o644)],
            &[
                &format!("{name:?}"),
                "absolute name",
                "escapes the layer directory",
            ],
        );
    }
}

#[test]
fn pax_and_gnu_long_names_are_checked_too() {
    refused(
        vec![
            pax(&[("path", b"../escaped")]),
            file("innocent", b"pwned", 0o644),
        ],
        &["\"../escaped\"", "escapes the layer directory"],
    );
    let long = format!(
        "{}/../../../{ESCAPE}",
        "a/".repeat(60).trim_end_matches('/')
    );
    refused(
        vec![
            long_name(long.as_bytes()),
            file("innocent", b"pwned", 0o644),
        ],
        &["escapes the layer directory"],
    );
    // NUL inside a PAX path
    refused(
        vec![pax(&[("path", b"a\0b")]), file("innocent", b"x", 0o644)],
        &["NUL"],
    );
    // an oversized extension header is refused before it is read into memory
    let mut h = hdr(b"././@LongLink", EntryType::GNULongName, 0o644, 64 << 20);
    h.set_cksum();
    let mut t = h.as_bytes().to_vec();
    t.extend(std::iter::repeat_n(b'a', 4096));
    refused_with(
        &t,
        TAR,
        &UnpackOptions::default(),
        &["GNU long name header of 67108864 bytes"],
    );
    // empty name
    refused(vec![file("", b"x", 0o644)], &["empty name"]);
}

#[test]
fn writing_through_a_symlink_is_refused() {
    refused(
        vec![
            symlink("evil", "/etc"),
            file("evil/passwd", b"pwned", 0o644),
        ],
        &["\"evil/passwd\"", "symlink"],
    );
    refused(
        vec![
            symlink("up", "../../.."),
            file(&format!("up/tmp/{ESCAPE}"), b"pwned", 0o644),
        ],
        &["symlink"],
    );
    refused(
        vec![symlink("s", "../sentinel"), file("s/keep", b"pwned", 0o644)],
        &["\"s/keep\"", "symlink"],
    );
    // even a symlink that stays inside the layer is not a path to write through
    refused(
        vec![
            dir("a/", 0o755),
            symlink("a/b", ".."),
            file("a/b/c", b"x", 0o644),
        ],
        &["\"a/b/c\"", "symlink"],
    );
    refused(
        vec![symlink("d", "/tmp"), dir(&format!("d/{ESCAPE}/"), 0o755)],
        &["symlink"],
    );
    refused(
        vec![symlink("d", "/tmp"), symlink(&format!("d/{ESCAPE}"), "/")],
        &["symlink"],
    );
    refused(
        vec![
            symlink("w", "/tmp"),
            file(&format!("w/.wh.{ESCAPE}"), b"", 0o644),
        ],
        &["symlink"],
    );
}

#[test]
fn hardlinks_outside_the_layer_are_refused() {
    refused(
        vec![hardlink("pw", "/etc/passwd")],
        &[
            "\"pw\"",
            "hardlink target \"/etc/passwd\" outside the layer",
        ],
    );
    refused(
        vec![hardlink("k", "../sentinel/keep")],
        &["\"k\"", "outside the layer"],
    );
    refused(
        vec![symlink("s", "/etc"), hardlink("pw", "s/passwd")],
        &["\"pw\"", "outside the layer"],
    );
    refused(
        vec![symlink("s", "../sentinel"), hardlink("k", "s/keep")],
        &["outside the layer"],
    );
    // to a symlink (that points out) or to nothing: not a regular file of this layer
    refused(
        vec![symlink("s", "/etc/passwd"), hardlink("pw", "s")],
        &["not a regular file extracted earlier in this layer"],
    );
    refused(
        vec![hardlink("x", "missing")],
        &["not a regular file extracted earlier"],
    );
    refused(
        vec![dir("d/", 0o755), hardlink("x", "d")],
        &["not a regular file"],
    );
}

#[test]
fn devices_are_refused_unless_allowed() {
    for e in [
        node("null", EntryType::Char, 1, 3),
        node("sda", EntryType::Block, 8, 0),
        node("fifo", EntryType::Fifo, 0, 0),
    ] {
        refused_with(
            &tar_of(vec![e]),
            TAR,
            &no_devices(),
            &["device nodes and fifos are not allowed"],
        );
    }
    // whiteouts are not devices in that sense
    let e1 = env();
    let d = e1.put(&tar_of(vec![file(".wh.x", b"", 0o644)]));
    unpack_layer(&e1.store.blob_path(&d), TAR, &e1.dest, &no_devices()).unwrap();
    assert!(std::fs::symlink_metadata(e1.dest.join("x"))
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test must run as root: creating device nodes needs CAP_MKNOD"
    );
    {
        // allowed: created as announced
        let env = env();
        let d = env.put(&tar_of(vec![
            node("null", EntryType::Char, 1, 3),
            node("fifo", EntryType::Fifo, 0, 0),
        ]));
        let o = UnpackOptions {
            allow_devices: true,
            ..UnpackOptions::default()
        };
        unpack_layer(&env.store.blob_path(&d), TAR, &env.dest, &o).unwrap();
        let m = std::fs::symlink_metadata(env.dest.join("null")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), nix::sys::stat::makedev(1, 3));
        assert_eq!(m.mode() & 0o7777, 0o666);
        assert!(std::fs::symlink_metadata(env.dest.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        env.check_outside();
    }
}

#[test]
fn whiteout_names_are_checked() {
    refused(
        vec![file(".wh...", b"", 0o644)],
        &["whiteout of an invalid name"],
    );
    refused(
        vec![file("a/.wh.", b"", 0o644)],
        &["whiteout of an invalid name"],
    );
    refused(
        vec![file(".wh.a/b", b"", 0o644)],
        &["whiteout name used as a directory"],
    );
    refused(
        vec![file(&format!("../.wh.{ESCAPE}"), b"", 0o644)],
        &["escapes the layer directory"],
    );
}

#[test]
fn too_many_entries_are_refused() {
    let entries = (0..10)
        .map(|i| file(&format!("f{i}"), b"x", 0o644))
        .collect();
    let o = UnpackOptions {
        max_entries: 5,
        ..UnpackOptions::default()
    };
    refused_with(&tar_of(entries), TAR, &o, &["more than 5 entries"]);
}

/// 2 GiB of zeros in one file, gzip-compressed (about 2 MiB), streamed to disk so the
/// test never holds it; with a 64 MiB limit it is refused after reading about that.
#[test]
fn gzip_bomb_is_stopped_early() {
    const SIZE: u64 = 2 << 30;
    let env = env();
    let raw = env.t.path().join("store/tmp/bomb.gz.partial");
    let (digest, len) = {
        struct HashingFile(std::fs::File, sha2::Sha256, u64);
        impl Write for HashingFile {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                let n = self.0.write(b)?;
                self.1.update(&b[..n]);
                self.2 += n as u64;
                Ok(n)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                self.0.flush()
            }
        }
        let out = HashingFile(std::fs::File::create(&raw).unwrap(), sha2::Sha256::new(), 0);
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::best());
        enc.write_all(hdr(b"zeros", EntryType::Regular, 0o644, SIZE).as_bytes())
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(SIZE >> 20) {
            enc.write_all(&zeros).unwrap();
        }
        enc.write_all(&[0u8; 1024]).unwrap();
        let out = enc.finish().unwrap();
        let d: Digest = format!("sha256:{}", hex::encode(out.1.finalize()))
            .parse()
            .unwrap();
        (d, out.2)
    };
    assert!(len < 16 << 20, "compressed bomb is {len} bytes");
    let mut w = env.store.blob_writer(&digest, Some(len), false).unwrap();
    std::io::copy(&mut std::fs::File::open(&raw).unwrap(), &mut w).unwrap();
    w.commit().unwrap();
    std::fs::remove_file(&raw).unwrap();

    let o = UnpackOptions {
        max_bytes: 64 << 20,
        ..UnpackOptions::default()
    };
    let start = Instant::now();
    let err = unpack_layer(&env.store.blob_path(&digest), GZ, &env.dest, &o)
        .unwrap_err()
        .to_string();
    let took = start.elapsed();
    eprintln!("bomb refused after {took:?}");
    assert!(
        err.contains("decompression bomb?") && err.contains("67108864"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    env.check_outside();

    let any_diff = Digest::sha256_of(b"never reached");
    let start = Instant::now();
    let err = ensure_unpacked_with(&env.store, &[(digest, GZ.into())], &[any_diff], false, &o)
        .unwrap_err()
        .to_string();
    assert!(err.contains("decompression bomb?"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
    env.check_store_clean();
    env.check_outside();
}

#[test]
fn diff_id_mismatch_is_refused() {
    let env = env();
    let tar = tar_of(vec![
        dir("etc/", 0o755),
        file("etc/os-release", b"ID=test\n", 0o644),
    ]);
    let actual = Digest::sha256_of(&tar);
    let announced = Digest::sha256_of(b"another layer");
    let d = env.put(&gzip(&tar));
    let o = UnpackOptions {
        expected_diff_id: Some(announced.clone()),
        ..UnpackOptions::default()
    };
    let err = unpack_layer(&env.store.blob_path(&d), GZ, &env.dest, &o)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&announced.to_string()) && err.contains(&actual.to_string()),
        "{err}"
    );
    env.check_outside();
    let err = ensure_unpacked(
        &env.store,
        &[(d, GZ.into())],
        std::slice::from_ref(&announced),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&announced.to_string()) && err.contains(&actual.to_string()),
        "{err}"
    );
    env.check_store_clean();
    env.check_outside();
}

#[test]
fn media_types_and_magic_bytes_must_agree() {
    let tar = tar_of(vec![file("a", b"a", 0o644)]);
    let env = env();
    let plain = env.put(&tar);
    let gz = env.put(&gzip(&tar));
    let zst = env.put(&zstd_of(&tar));
    let n = std::cell::Cell::new(0);
    let err = |d: &Digest, mt: &str| {
        n.set(n.get() + 1);
        unpack_layer(
            &env.store.blob_path(d),
            mt,
            &env.fresh(&format!("m{}", n.get())),
            &UnpackOptions::default(),
        )
        .unwrap_err()
        .to_string()
    };
    let e = err(&plain, "application/vnd.oci.image.layer.v1.tar+lz4");
    assert!(
        e.contains("application/vnd.oci.image.layer.v1.tar+lz4") && e.contains("not a supported"),
        "{e}"
    );
    let e = err(&plain, GZ);
    assert!(
        e.contains("announces gzip but the content is plain tar"),
        "{e}"
    );
    let e = err(&gz, TAR);
    assert!(
        e.contains("announces plain tar but the content is gzip"),
        "{e}"
    );
    let e = err(&zst, DOCKER_GZ);
    assert!(e.contains("announces gzip but the content is zstd"), "{e}");
    let e = err(&gz, ZST);
    assert!(e.contains("announces zstd but the content is gzip"), "{e}");
    // a corrupt gzip stream
    let mut bad = gzip(&tar);
    bad.truncate(bad.len() - 8);
    let badd = env.put(&bad);
    let e = err(&badd, GZ);
    assert!(e.contains("gzip"), "{e}");
    // garbage that is no tar
    let junk = env.put(&[0x55u8; 2048]);
    let e = err(&junk, TAR);
    assert!(e.contains("checksum"), "{e}");
    // the destination must be empty
    std::fs::write(env.dest.join("x"), b"").unwrap();
    let e = unpack_layer(
        &env.store.blob_path(&plain),
        TAR,
        &env.dest,
        &UnpackOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("empty directory"), "{e}");
}

/// A hostile layer that first builds a ~2000-level deep tree (too deep for a naive
/// recursive removal with one fd per level) and then escapes: removed completely.
#[test]
fn deep_refused_layer_is_removed_completely() {
    let deep = format!("{}f", "a/".repeat(2000));
    refused(
        vec![
            long_name(deep.as_bytes()),
            file("placeholder", b"deep", 0o644),
            node(".wh.gone", EntryType::Char, 0, 0),
            file("ro-file", b"x", 0o400),
            file("../escaped", b"x", 0o644),
        ],
        &["escapes the layer directory"],
    );
}

// ───────────── positive cases ─────────────

#[test]
fn later_entries_replace_earlier_ones_never_through_symlinks() {
    let env = env();
    let target = Path::new("/tmp").join(ESCAPE);
    let d = env.put(&tar_of(vec![
        symlink("f", target.to_str().unwrap()),
        file("f", b"data", 0o644),
        symlink("l", "/etc"),
        dir("l/", 0o750),
        file("x", b"1", 0o644),
        dir("x/", 0o755),
        file("x/y", b"y", 0o644),
        dir("d/", 0o755),
        file("d/a", b"a", 0o644),
        dir("d/sub/", 0o755),
        file("d/sub/b", b"b", 0o644),
        file("d", b"now a file", 0o644),
        file("a", b"A", 0o644),
        file("b", b"B", 0o644),
        hardlink("b", "a"),
        symlink("p", "/etc/passwd"),
        file("p", b"not passwd", 0o644),
    ]));
    unpack_layer(
        &env.store.blob_path(&d),
        TAR,
        &env.dest,
        &UnpackOptions::default(),
    )
    .unwrap();
    let dst = &env.dest;
    assert_eq!(std::fs::read(dst.join("f")).unwrap(), b"data");
    assert!(std::fs::symlink_metadata(dst.join("f")).unwrap().is_file());
    assert!(!target.exists());
    let l = std::fs::symlink_metadata(dst.join("l")).unwrap();
    assert!(l.is_dir() && l.mode() & 0o7777 == 0o750);
    assert_eq!(std::fs::read(dst.join("x/y")).unwrap(), b"y");
    assert_eq!(std::fs::read(dst.join("d")).unwrap(), b"now a file");
    let (a, b) = (
        std::fs::metadata(dst.join("a")).unwrap(),
        std::fs::metadata(dst.join("b")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!(std::fs::read(dst.join("b")).unwrap(), b"A");
    assert_eq!(std::fs::read(dst.join("p")).unwrap(), b"not passwd");
    env.check_outside();
}

#[test]
fn gzip_zstd_and_plain_layers_unpack_the_same() {
    let env = env();
    let tar = tar_of(vec![
        dir("usr/", 0o755),
        dir("usr/bin/", 0o755),
        file("usr/bin/tool", &b"\x7fELF".repeat(50_000), 0o755),
        symlink("usr/bin/t", "tool"),
    ]);
    let diff = Digest::sha256_of(&tar);
    for (i, (mt, blob)) in [
        (TAR, tar.clone()),
        (GZ, gzip(&tar)),
        (DOCKER_GZ, gzip(&tar)),
        (ZST, zstd_of(&tar)),
    ]
    .into_iter()
    .enumerate()
    {
        let d = env.put(&blob);
        let dest = env.fresh(&format!("c{i}"));
        let o = UnpackOptions {
            expected_diff_id: Some(diff.clone()),
            ..UnpackOptions::default()
        };
        let stats = unpack_layer(&env.store.blob_path(&d), mt, &dest, &o).unwrap();
        assert_eq!(stats.diff_id, diff, "{mt}");
        assert_eq!(stats.entries, 4);
        assert_eq!(stats.bytes, tar.len() as u64);
        assert_eq!(
            std::fs::read(dest.join("usr/bin/tool")).unwrap(),
            b"\x7fELF".repeat(50_000)
        );
        assert_eq!(
            std::fs::read_link(dest.join("usr/bin/t")).unwrap(),
            Path::new("tool")
        );
        assert_eq!(mode(&dest.join("usr/bin/tool")), 0o755);
        remove_tree(&dest).unwrap();
        assert!(!dest.exists());
    }
    // multi-member gzip (pigz and friends) is one stream
    let half = tar.len() / 2;
    let mut multi = gzip(&tar[..half]);
    multi.extend(gzip(&tar[half..]));
    let d = env.put(&multi);
    let dest = env.fresh("multi");
    let stats = unpack_layer(
        &env.store.blob_path(&d),
        GZ,
        &dest,
        &UnpackOptions::default(),
    )
    .unwrap();
    assert_eq!(stats.diff_id, diff);
    env.check_outside();
}

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn layers_merge_with_overlayfs() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test must run as root: it needs overlayfs, chown and trusted xattrs"
    );
    let env = env();
    let lower = tar_of(vec![
        dir("./", 0o755),
        dir("etc/", 0o755),
        file("etc/hostname", b"lower\n", 0o644),
        dir("bin/", 0o755),
        file("bin/su", b"#!/bin/su\n", 0o4755),
        hardlink("bin/su2", "bin/su"),
        symlink("bin/sh", "/bin/busybox"),
        symlink("etcl", "etc"),
        owned_file("owned", b"mine", 0o640, 1000, 1001),
        file("gone", b"whited out above", 0o644),
        dir("opq/", 0o755),
        file("opq/a", b"a", 0o644),
        file("opq/b", b"b", 0o644),
        dir("ro/", 0o555),
        file("ro/inside", b"in a read-only dir", 0o444),
        pax(&[
            ("SCHILY.xattr.user.test", b"v"),
            ("SCHILY.xattr.trusted.evil", b"x"),
            ("SCHILY.xattr.user.overlay.opaque", b"y"),
            (
                "SCHILY.xattr.security.capability",
                b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            ),
            ("mtime", b"1234567890.5"),
        ]),
        file("ping", b"ping", 0o755),
        node("fifo", EntryType::Fifo, 0, 0),
        node("dev-null", EntryType::Char, 1, 3),
    ]);
    let upper = tar_of(vec![
        file(".wh.gone", b"", 0o644),
        dir("opq/", 0o755),
        file("opq/.wh..wh..opq", b"", 0o644),
        file("opq/c", b"upper c", 0o644),
        file("etc/hostname", b"upper\n", 0o644),
        dir("newdir/", 0o700),
        file(".wh..wh.plnk", b"", 0o644),
    ]);
    let diffs = [Digest::sha256_of(&lower), Digest::sha256_of(&upper)];
    let layers = [
        (env.put(&gzip(&lower)), GZ.to_string()),
        (env.put(&zstd_of(&upper)), ZST.to_string()),
    ];
    let dirs = ensure_unpacked(&env.store, &layers, &diffs, false).unwrap();
    let chains = chain_ids(&diffs);
    assert_eq!(
        dirs,
        chains
            .iter()
            .map(|c| env.store.layer_dir(c))
            .collect::<Vec<_>>()
    );
    assert_eq!(layer_dirs(&env.store), {
        let mut c = chains.clone();
        c.sort();
        c
    });
    let (lo, up) = (&dirs[0], &dirs[1]);

    // the lower layer as unpacked
    assert_eq!(mode(lo), 0o755);
    assert_eq!(mode(&lo.join("bin/su")), 0o4755);
    let su = std::fs::metadata(lo.join("bin/su")).unwrap();
    assert_eq!(
        su.ino(),
        std::fs::metadata(lo.join("bin/su2")).unwrap().ino()
    );
    assert_eq!(su.nlink(), 2);
    assert_eq!(
        std::fs::read_link(lo.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    let owned = std::fs::metadata(lo.join("owned")).unwrap();
    assert_eq!(
        (owned.uid(), owned.gid(), owned.mode() & 0o7777),
        (1000, 1001, 0o640)
    );
    assert_eq!(owned.mtime(), 1_600_000_000);
    assert_eq!(mode(&lo.join("ro")), 0o555);
    assert_eq!(
        std::fs::metadata(lo.join("ro")).unwrap().mtime(),
        1_600_000_000,
        "dir mtime kept"
    );
    assert_eq!(
        getxattr(&lo.join("ping"), "user.test").as_deref(),
        Some(&b"v"[..])
    );
    assert!(getxattr(&lo.join("ping"), "security.capability").is_some());
    assert_eq!(
        getxattr(&lo.join("ping"), "trusted.evil"),
        None,
        "trusted.* from a layer"
    );
    assert_eq!(
        getxattr(&lo.join("ping"), "user.overlay.opaque"),
        None,
        "user.overlay.* from a layer"
    );
    let ping = std::fs::metadata(lo.join("ping")).unwrap();
    assert_eq!(
        (ping.mtime(), ping.mtime_nsec()),
        (1_234_567_890, 500_000_000)
    );
    assert!(std::fs::symlink_metadata(lo.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    // the upper layer: whiteout device and opaque marker
    let wh = std::fs::symlink_metadata(up.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert!(!up.join(".wh.gone").exists());
    assert_eq!(
        getxattr(&up.join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!up.join(".wh..wh.plnk").exists(), "AUFS metadata skipped");

    // merged view
    let merged = env.t.path().join("store/tmp/merged");
    std::fs::create_dir(&merged).unwrap();
    nix::mount::mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        nix::mount::MsFlags::MS_RDONLY,
        Some(format!("lowerdir={}:{}", up.display(), lo.display()).as_str()),
    )
    .unwrap();
    let _m = Mount(merged.clone());
    assert!(!merged.join("gone").exists(), "whited-out file visible");
    assert_eq!(
        names(&merged.join("opq")),
        ["c".to_string()].into(),
        "opaque dir shows lower content"
    );
    assert_eq!(
        std::fs::read(merged.join("etc/hostname")).unwrap(),
        b"upper\n"
    );
    assert_eq!(
        std::fs::read(merged.join("etcl/hostname")).unwrap(),
        b"upper\n"
    );
    assert_eq!(mode(&merged.join("bin/su")), 0o4755, "setuid bit lost");
    assert_eq!(
        std::fs::read(merged.join("ro/inside")).unwrap(),
        b"in a read-only dir"
    );
    assert_eq!(mode(&merged.join("newdir")), 0o700);
    assert!(std::fs::symlink_metadata(merged.join("dev-null"))
        .unwrap()
        .file_type()
        .is_char_device());
    let top: BTreeSet<String> = names(&merged);
    for n in [
        "bin", "etc", "etcl", "owned", "opq", "ro", "ping", "fifo", "dev-null", "newdir",
    ] {
        assert!(top.contains(n), "{n} missing from {top:?}");
    }
    assert!(!top.iter().any(|n| n.starts_with(".wh.")), "{top:?}");
    drop(_m);

    // removal handles whiteout devices and read-only directories
    for c in &chains {
        remove_layer(&env.store, c).unwrap();
    }
    assert!(layer_dirs(&env.store).is_empty());
    std::fs::remove_dir(&merged).unwrap();
    env.check_store_clean();
    env.check_outside();
}

#[test]
fn a_shared_lower_layer_is_unpacked_once() {
    let env = env();
    let base = tar_of(vec![
        dir("etc/", 0o755),
        file("etc/os-release", b"ID=base\n", 0o644),
    ]);
    let a = tar_of(vec![file("a", b"image a", 0o644)]);
    let b = tar_of(vec![file("b", b"image b", 0o644)]);
    let (db, da, dbb) = (
        Digest::sha256_of(&base),
        Digest::sha256_of(&a),
        Digest::sha256_of(&b),
    );
    let base_blob = env.put(&gzip(&base));
    let img_a = [
        (base_blob.clone(), GZ.to_string()),
        (env.put(&gzip(&a)), GZ.to_string()),
    ];
    let img_b = [
        (base_blob, GZ.to_string()),
        (env.put(&zstd_of(&b)), ZST.to_string()),
    ];

    let dirs_a = ensure_unpacked(&env.store, &img_a, &[db.clone(), da.clone()], false).unwrap();
    // mark the shared layer: unpacking it again would lose the mark (and the inode)
    let ino = std::fs::metadata(&dirs_a[0]).unwrap().ino();
    std::fs::write(dirs_a[0].join(".mark"), b"").unwrap();
    let dirs_b = ensure_unpacked(&env.store, &img_b, &[db.clone(), dbb.clone()], false).unwrap();
    assert_eq!(dirs_a[0], dirs_b[0]);
    assert_eq!(dirs_a[0], env.store.layer_dir(&db));
    assert!(
        dirs_b[0].join(".mark").exists(),
        "the shared layer was unpacked again"
    );
    assert_eq!(std::fs::metadata(&dirs_b[0]).unwrap().ino(), ino);
    assert_ne!(dirs_a[1], dirs_b[1]);
    assert_eq!(std::fs::read(dirs_b[1].join("b")).unwrap(), b"image b");
    assert_eq!(layer_dirs(&env.store).len(), 3);
    // the same again: nothing to do
    assert_eq!(
        ensure_unpacked(&env.store, &img_a, &[db.clone(), da.clone()], false).unwrap(),
        dirs_a
    );

    // a diff-id list that does not fit the layers
    assert!(ensure_unpacked(&env.store, &img_a, std::slice::from_ref(&db), false).is_err());

    let ca = chain_ids(&[db.clone(), da]);
    remove_layer(&env.store, &ca[1]).unwrap();
    remove_layer(&env.store, &ca[1]).unwrap(); // already gone: fine
    assert_eq!(layer_dirs(&env.store).len(), 2);
    assert!(dirs_b[1].exists() && !dirs_a[1].exists());
    let left = names(&env.store.tmp_dir());
    assert!(left.is_empty(), "{left:?}");
    env.check_outside();
}

/// Header-only types (links, devices, directories, fifos) carry no data whatever
/// their size field says, as in Go's archive/tar: what follows is the next header.
#[test]
fn header_only_types_carry_no_data() {
    let env = env();
    let mut s = symlink("s", "target");
    s.h.set_size(512);
    s.h.set_cksum();
    let mut t = s.h.as_bytes().to_vec();
    t.extend(tar_of(vec![file("next", b"seen", 0o644)]));
    let d = env.put(&t);
    let stats = unpack_layer(
        &env.store.blob_path(&d),
        TAR,
        &env.dest,
        &UnpackOptions::default(),
    )
    .unwrap();
    assert_eq!(stats.entries, 2);
    assert_eq!(std::fs::read(env.dest.join("next")).unwrap(), b"seen");
    // and nothing hides behind a lone end-of-archive block
    let mut t = tar_of(vec![file("a", b"a", 0o644)]);
    t.truncate(t.len() - 1024);
    t.extend_from_slice(&[0u8; 512]);
    t.extend(tar_of(vec![file("hidden", b"h", 0o644)]));
    refused_with(
        &t,
        TAR,
        &UnpackOptions::default(),
        &["a single zero block followed by more entries"],
    );
    env.check_outside();
}

/// Reading all of a large layer takes the same path as the bomb, within limits.
#[test]
fn large_file_within_limits() {
    let env = env();
    let mut t = Vec::new();
    t.extend_from_slice(hdr(b"big", EntryType::Regular, 0o644, 8 << 20).as_bytes());
    t.extend(std::iter::repeat_n(7u8, 8 << 20));
    t.extend_from_slice(&[0u8; 1024]);
    let d = env.put(&zstd_of(&t));
    let stats = unpack_layer(
        &env.store.blob_path(&d),
        ZST,
        &env.dest,
        &UnpackOptions::default(),
    )
    .unwrap();
    assert_eq!(stats.bytes, t.len() as u64);
    let mut f = std::fs::File::open(env.dest.join("big")).unwrap();
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).unwrap();
    assert!(buf.len() == 8 << 20 && buf.iter().all(|b| *b == 7));
    assert!(
        std::fs::metadata(env.dest.join("big"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
            == 0o644
    );
    env.check_outside();
}
