//! Image import/export against real data: busybox pulled from the loopback
//! registry (`../shared/peers/peers.sh registry start` + `images`; the tests fail
//! loudly when that fails) is saved in every format, loaded back into fresh stores
//! and unpacked; skopeo reads our archives and writes archives our loader reads.
//! Hostile archives (escaping names, blobs that lie about their digest, docker
//! layers that do not match their diff ids, missing layers, truncated tars, links
//! out of the archive) are refused naming the entry, with nothing visible in the
//! store and no temp file left.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use common::*;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use caisson_image::images::{self, LocalImage};
use caisson_image::layers::ensure_unpacked;
use caisson_image::layout::{self, ArchiveFormat, ImportOptions};
use caisson_image::registry::{self, PullOptions, Pulled};
use caisson_image::{Digest, Store};
use serde_json::Value;
use tar::EntryType;

const IMAGE: &str = "127.0.0.1:5000/busybox:latest";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

// ───────────── helpers ─────────────

fn new_store(t: &tempfile::TempDir, name: &str) -> Store {
    Store::open(&t.path().join(format!("store-{name}"))).unwrap()
}

/// A store holding busybox pulled from the real registry.
fn pulled(t: &tempfile::TempDir) -> (Store, Pulled, LocalImage) {
    real_registry();
    let s = new_store(t, "source");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let opts = PullOptions {
        retries: 2,
        ..PullOptions::default()
    };
    let p = rt
        .block_on(registry::pull(&s, IMAGE, &opts))
        .unwrap_or_else(|e| panic!("pull {IMAGE}: {e}"));
    let img = images::resolve(&s, IMAGE).unwrap();
    assert_eq!(img.manifest_digest, p.manifest_digest);
    (s, p, img)
}

fn tmp_entries(s: &Store) -> Vec<String> {
    std::fs::read_dir(s.tmp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Files next to `p` that look like our temp files.
fn temp_siblings(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("caisson-tmp"))
        .collect()
}

/// After a refused load: no refs, every blob present hashes to its name, nothing
/// in the temp area, no unpacked layer.
fn assert_store_clean(s: &Store) {
    assert!(
        s.refs().unwrap().is_empty(),
        "refs: {:?}",
        s.refs().unwrap()
    );
    for d in s.blobs().unwrap() {
        let data = std::fs::read(s.blob_path(&d)).unwrap();
        assert_eq!(Digest::sha256_of(&data), d, "an unverified blob is visible");
    }
    assert!(tmp_entries(s).is_empty(), "tmp: {:?}", tmp_entries(s));
    assert!(caisson_image::layers::layer_dirs(s).is_empty());
    assert!(images::list(s).unwrap().is_empty());
}

fn unpack_and_check(s: &Store, img: &LocalImage) {
    let dirs = ensure_unpacked(s, &img.layers().unwrap(), &img.diff_ids().unwrap(), false)
        .unwrap_or_else(|e| panic!("unpack {:?}: {e}", img.names));
    assert_eq!(dirs.len(), img.manifest.layers().len());
    let top = dirs.last().unwrap();
    assert!(top.join("bin/busybox").is_file(), "{}", top.display());
    assert!(top.join("etc/passwd").is_file());
    assert!(std::fs::symlink_metadata(top.join("bin/sh"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// Load `src` into a fresh store and check it against the pulled image.
fn load_and_check(
    t: &tempfile::TempDir,
    store_name: &str,
    src: &Path,
    p: &Pulled,
    docker: bool,
) -> (Store, Vec<String>) {
    let s = new_store(t, store_name);
    let names = layout::load(&s, src).unwrap_or_else(|e| panic!("load {}: {e}", src.display()));
    assert!(!names.is_empty());
    let img = images::resolve(&s, &names[0]).unwrap();
    assert_eq!(
        img.config_digest, p.config_digest,
        "the config is kept verbatim"
    );
    assert_eq!(img.diff_ids().unwrap(), p.diff_ids);
    if docker {
        // layers stored uncompressed: blob digest == diff id
        let layers = img.layers().unwrap();
        assert_eq!(
            layers.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
            p.diff_ids
        );
        assert!(layers.iter().all(|(_, mt)| mt == TAR), "{layers:?}");
    } else {
        assert_eq!(
            img.manifest_digest, p.manifest_digest,
            "OCI keeps the manifest bytes"
        );
        assert_eq!(
            img.layers().unwrap(),
            p.layers
                .iter()
                .map(|(d, mt, _)| (d.clone(), mt.clone()))
                .collect::<Vec<_>>()
        );
    }
    unpack_and_check(&s, &img);
    assert!(tmp_entries(&s).is_empty(), "{:?}", tmp_entries(&s));
    (s, names)
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn gzip_file(src: &Path, dst: &Path) {
    let data = std::fs::read(src).unwrap();
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(dst).unwrap(),
        flate2::Compression::fast(),
    );
    e.write_all(&data).unwrap();
    e.finish().unwrap();
}

/// A tar member: raw name bytes (anything, `..` included), type, data, link.
struct Member {
    name: Vec<u8>,
    ty: EntryType,
    data: Vec<u8>,
    link: Option<Vec<u8>>,
}

fn member(name: &str, data: &[u8]) -> Member {
    Member {
        name: name.as_bytes().to_vec(),
        ty: EntryType::Regular,
        data: data.to_vec(),
        link: None,
    }
}

fn read_members(p: &Path) -> Vec<Member> {
    let mut a = tar::Archive::new(std::fs::File::open(p).unwrap());
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path_bytes().into_owned();
        let ty = e.header().entry_type();
        let link = e.link_name_bytes().map(|l| l.into_owned());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(Member {
            name,
            ty,
            data,
            link,
        });
    }
    out
}

fn write_members(p: &Path, members: &[Member]) {
    let mut b = tar::Builder::new(std::fs::File::create(p).unwrap());
    for m in members {
        let mut h = tar::Header::new_gnu();
        assert!(m.name.len() <= 100);
        h.as_old_mut().name[..m.name.len()].copy_from_slice(&m.name);
        h.set_entry_type(m.ty);
        h.set_mode(if m.ty == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(m.data.len() as u64);
        if let Some(l) = &m.link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
        }
        h.set_cksum();
        b.append(&h, &m.data[..]).unwrap();
    }
    b.finish().unwrap();
}

fn name_of(m: &Member) -> String {
    String::from_utf8_lossy(&m.name).into_owned()
}

/// Save busybox in `format` under `dir`.
fn saved(s: &Store, img: &LocalImage, dir: &Path, file: &str, format: ArchiveFormat) -> PathBuf {
    let p = dir.join(file);
    layout::save(s, std::slice::from_ref(img), &p, format)
        .unwrap_or_else(|e| panic!("save {format}: {e}"));
    assert!(temp_siblings(dir).is_empty());
    p
}

fn refused(t: &tempfile::TempDir, store_name: &str, src: &Path) -> String {
    let s = new_store(t, store_name);
    let e = layout::load(&s, src)
        .expect_err("a hostile archive must be refused")
        .to_string();
    assert_store_clean(&s);
    e
}

// ───────────── round trips ─────────────

#[test]
fn save_and_load_round_trip_in_all_three_formats() {
    let t = tempfile::tempdir().unwrap();
    let (s, p, img) = pulled(&t);
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();

    // OCI archive
    let oci = saved(&s, &img, &out, "busybox-oci.tar", ArchiveFormat::OciArchive);
    let (_, names) = load_and_check(&t, "from-oci", &oci, &p, false);
    assert_eq!(names, [IMAGE]);
    let members: BTreeSet<String> = read_members(&oci).iter().map(name_of).collect();
    assert!(
        members.contains("oci-layout") && members.contains("index.json"),
        "{members:?}"
    );
    assert!(members.contains(&format!("blobs/sha256/{}", p.manifest_digest.hex())));
    let index: Value = serde_json::from_slice(
        &read_members(&oci)
            .into_iter()
            .find(|m| m.name == b"index.json")
            .unwrap()
            .data,
    )
    .unwrap();
    let desc = &index["manifests"][0];
    assert_eq!(desc["digest"], p.manifest_digest.to_string());
    assert_eq!(desc["annotations"]["io.containerd.image.name"], IMAGE);
    assert_eq!(
        desc["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );

    // docker archive: layers uncompressed, named by diff id
    let docker = saved(
        &s,
        &img,
        &out,
        "busybox-docker.tar",
        ArchiveFormat::DockerArchive,
    );
    let members = read_members(&docker);
    let manifest: Value = serde_json::from_slice(
        &members
            .iter()
            .find(|m| m.name == b"manifest.json")
            .unwrap()
            .data,
    )
    .unwrap();
    assert_eq!(
        manifest[0]["Config"],
        format!("{}.json", p.config_digest.hex())
    );
    assert_eq!(manifest[0]["RepoTags"][0], IMAGE);
    for (i, d) in p.diff_ids.iter().enumerate() {
        let lname = format!("{}/layer.tar", d.hex());
        assert_eq!(manifest[0]["Layers"][i], lname.as_str());
        let layer = members.iter().find(|m| name_of(m) == lname).unwrap();
        assert_eq!(
            &Digest::sha256_of(&layer.data),
            d,
            "layer.tar is the uncompressed layer"
        );
    }
    assert!(members.iter().any(|m| m.name == b"repositories"));
    let (_, names) = load_and_check(&t, "from-docker", &docker, &p, true);
    assert_eq!(names, [IMAGE]);

    // OCI directory (into an existing empty directory)
    let dir = out.join("busybox-oci-dir");
    std::fs::create_dir(&dir).unwrap();
    layout::save(&s, std::slice::from_ref(&img), &dir, ArchiveFormat::OciDir).unwrap();
    assert!(dir.join("oci-layout").is_file());
    assert!(dir
        .join("blobs/sha256")
        .join(p.config_digest.hex())
        .is_file());
    assert!(temp_siblings(&out).is_empty());
    let (_, names) = load_and_check(&t, "from-dir", &dir, &p, false);
    assert_eq!(names, [IMAGE]);
    // a non-empty directory is not overwritten
    let e = layout::save(&s, std::slice::from_ref(&img), &dir, ArchiveFormat::OciDir)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not empty"), "{e}");
    assert!(temp_siblings(&out).is_empty());

    // gzip-compressed archives are recognised
    let oci_gz = out.join("busybox-oci.tar.gz");
    gzip_file(&oci, &oci_gz);
    load_and_check(&t, "from-oci-gz", &oci_gz, &p, false);
    let docker_gz = out.join("busybox-docker.tar.gz");
    gzip_file(&docker, &docker_gz);
    load_and_check(&t, "from-docker-gz", &docker_gz, &p, true);

    // loading twice is idempotent; saving an existing archive replaces it
    let s2 = new_store(&t, "twice");
    let a = layout::load_images(&s2, &docker).unwrap();
    let b = layout::load_images(&s2, &docker).unwrap();
    assert_eq!(a, b);
    saved(&s, &img, &out, "busybox-oci.tar", ArchiveFormat::OciArchive);
}

#[test]
fn unnamed_images_and_several_names() {
    let t = tempfile::tempdir().unwrap();
    let (s, p, mut img) = pulled(&t);
    let out = t.path();
    // an image without names: one descriptor without annotations / RepoTags null
    img.names.clear();
    let oci = saved(&s, &img, out, "unnamed-oci.tar", ArchiveFormat::OciArchive);
    let docker = saved(
        &s,
        &img,
        out,
        "unnamed-docker.tar",
        ArchiveFormat::DockerArchive,
    );
    let (ls, names) = load_and_check(&t, "unnamed-oci", &oci, &p, false);
    assert_eq!(names, [format!("localhost/loaded@{}", p.manifest_digest)]);
    assert_eq!(images::list(&ls).unwrap().len(), 1);
    let (_, names) = load_and_check(&t, "unnamed-docker", &docker, &p, true);
    assert!(
        names[0].starts_with("localhost/loaded@sha256:"),
        "{names:?}"
    );

    // two names (one on Docker Hub) travel in both formats
    img.names = vec![IMAGE.to_string(), "docker.io/library/bb:v1".to_string()];
    for (file, format, docker) in [
        ("two-oci.tar", ArchiveFormat::OciArchive, false),
        ("two-docker.tar", ArchiveFormat::DockerArchive, true),
    ] {
        let a = saved(&s, &img, out, file, format);
        let (ls, mut names) = load_and_check(&t, file, &a, &p, docker);
        names.sort();
        assert_eq!(
            names,
            ["127.0.0.1:5000/busybox:latest", "docker.io/library/bb:v1"]
        );
        assert_eq!(images::list(&ls).unwrap().len(), 1);
    }
}

// ───────────── skopeo interoperability ─────────────

#[test]
fn skopeo_reads_our_archives() {
    let t = tempfile::tempdir().unwrap();
    let (s, p, img) = pulled(&t);
    let oci = saved(&s, &img, t.path(), "b-oci.tar", ArchiveFormat::OciArchive);
    let docker = saved(
        &s,
        &img,
        t.path(),
        "b-docker.tar",
        ArchiveFormat::DockerArchive,
    );
    let dir = t.path().join("b-dir");
    layout::save(&s, std::slice::from_ref(&img), &dir, ArchiveFormat::OciDir).unwrap();

    let blob_digests: Vec<String> = p.layers.iter().map(|(d, ..)| d.to_string()).collect();
    let diff_ids: Vec<String> = p.diff_ids.iter().map(Digest::to_string).collect();

    for src in [
        format!("oci-archive:{}", oci.display()),
        format!("oci:{}", dir.display()),
        format!("oci:{}:latest", dir.display()),
    ] {
        let v: Value = serde_json::from_str(&skopeo(&["inspect", &src])).unwrap();
        assert_eq!(v["Digest"], p.manifest_digest.to_string(), "{src}: {v}");
        assert_eq!(v["Layers"], serde_json::json!(blob_digests), "{src}: {v}");
        let cfg: Value = serde_json::from_str(&skopeo(&["inspect", "--config", &src])).unwrap();
        assert_eq!(cfg["rootfs"]["diff_ids"], serde_json::json!(diff_ids));
    }
    let src = format!("docker-archive:{}", docker.display());
    let v: Value = serde_json::from_str(&skopeo(&["inspect", &src])).unwrap();
    assert_eq!(v["Layers"], serde_json::json!(diff_ids), "{v}");
    assert_eq!(v["RepoTags"], serde_json::json!([]), "{v}");
    let cfg = skopeo(&["inspect", "--raw", "--config", &src]);
    assert_eq!(Digest::sha256_of(cfg.as_bytes()), p.config_digest);
    // skopeo can copy out of them too (reads every blob, verifying digests)
    let back = t.path().join("back");
    skopeo(&[
        "copy",
        "--insecure-policy",
        &src,
        &format!("oci:{}:x", back.display()),
    ]);
    skopeo(&[
        "copy",
        "--insecure-policy",
        &format!("oci-archive:{}", oci.display()),
        &format!("oci:{}:y", back.display()),
    ]);
}

#[test]
fn archives_written_by_skopeo_load() {
    let t = tempfile::tempdir().unwrap();
    let (_s, p, _img) = pulled(&t);
    let src = format!("docker://{IMAGE}");
    let copy = |dest: &str| {
        skopeo(&[
            "copy",
            "-q",
            "--insecure-policy",
            "--src-tls-verify=false",
            &src,
            dest,
        ])
    };
    let d = t.path().join("skopeo-docker.tar");
    copy(&format!("docker-archive:{}:busybox:latest", d.display()));
    let (_, names) = load_and_check(&t, "sk-docker", &d, &p, true);
    assert_eq!(names, ["docker.io/library/busybox:latest"]);

    let o = t.path().join("skopeo-oci.tar");
    copy(&format!("oci-archive:{}", o.display()));
    let s = new_store(&t, "sk-oci");
    let loaded = layout::load_images(&s, &o).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[0].names,
        [format!("localhost/loaded@{}", loaded[0].manifest_digest)]
    );
    let img = images::resolve(&s, &loaded[0].names[0]).unwrap();
    assert_eq!(img.diff_ids().unwrap(), p.diff_ids);
    assert_eq!(img.config_digest, p.config_digest);
    unpack_and_check(&s, &img);

    let o2 = t.path().join("skopeo-oci-named.tar");
    copy(&format!("oci-archive:{}:busybox:1.0", o2.display()));
    let (_, names) = load_and_check(&t, "sk-oci-named", &o2, &p, false);
    assert_eq!(names, ["docker.io/library/busybox:1.0"]);

    let dir = t.path().join("skopeo-oci-dir");
    copy(&format!("oci:{}:stable", dir.display()));
    let (_, names) = load_and_check(&t, "sk-oci-dir", &dir, &p, false);
    assert_eq!(names, ["localhost/loaded:stable"]);
}

// ───────────── hostile archives ─────────────

#[test]
fn an_entry_escaping_with_dotdot_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (s, _p, img) = pulled(&t);
    for (format, file) in [
        (ArchiveFormat::OciArchive, "oci.tar"),
        (ArchiveFormat::DockerArchive, "docker.tar"),
    ] {
        let a = saved(&s, &img, t.path(), file, format);
        let mut m = read_members(&a);
        m.insert(1, member("../../escape", b"gotcha"));
        let bad = t.path().join(format!("escape-{file}"));
        write_members(&bad, &m);
        let e = refused(&t, &format!("escape-{file}"), &bad);
        assert!(e.contains("../../escape") && e.contains(".."), "{e}");
        // absolute names too
        let mut m = read_members(&a);
        m.push(member("/etc/caisson-escape", b"gotcha"));
        write_members(&bad, &m);
        let e = refused(&t, &format!("abs-{file}"), &bad);
        assert!(
            e.contains("/etc/caisson-escape") && e.contains("absolute"),
            "{e}"
        );
    }
    assert!(!t.path().parent().unwrap().join("escape").exists());
}

#[test]
fn a_blob_not_matching_its_digest_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (s, p, img) = pulled(&t);
    let a = saved(&s, &img, t.path(), "oci.tar", ArchiveFormat::OciArchive);
    // the layer: same size, one byte changed
    let lname = format!("blobs/sha256/{}", p.layers[0].0.hex());
    let mut m = read_members(&a);
    let l = m.iter_mut().find(|x| name_of(x) == lname).unwrap();
    let mid = l.data.len() / 2;
    l.data[mid] ^= 0xff;
    let bad = t.path().join("bad-layer.tar");
    write_members(&bad, &m);
    let e = refused(&t, "bad-layer", &bad);
    assert!(e.contains(&lname) && e.contains("digest mismatch"), "{e}");
    // gzip-compressed, the same
    let bad_gz = t.path().join("bad-layer.tar.gz");
    gzip_file(&bad, &bad_gz);
    let e = refused(&t, "bad-layer-gz", &bad_gz);
    assert!(e.contains(&lname) && e.contains("digest mismatch"), "{e}");

    // the config: refused before any blob is written
    let cname = format!("blobs/sha256/{}", p.config_digest.hex());
    let mut m = read_members(&a);
    let c = m.iter_mut().find(|x| name_of(x) == cname).unwrap();
    c.data[0] = b' ';
    let bad = t.path().join("bad-config.tar");
    write_members(&bad, &m);
    let s2 = new_store(&t, "bad-config");
    let e = layout::load(&s2, &bad).unwrap_err().to_string();
    assert!(e.contains(&cname) && e.contains("digest mismatch"), "{e}");
    assert_store_clean(&s2);
    assert!(s2.blobs().unwrap().is_empty());

    // the same in an OCI directory
    let dir = t.path().join("bad-dir");
    layout::save(&s, std::slice::from_ref(&img), &dir, ArchiveFormat::OciDir).unwrap();
    let lp = dir.join(&lname);
    let mut data = std::fs::read(&lp).unwrap();
    data[mid] ^= 0xff;
    std::fs::write(&lp, data).unwrap();
    let e = refused(&t, "bad-dir", &dir);
    assert!(e.contains(&lname) && e.contains("digest mismatch"), "{e}");
    // a symlinked blob in a layout directory is refused, not followed
    std::fs::remove_file(&lp).unwrap();
    std::os::unix::fs::symlink(s.blob_path(&p.layers[0].0), &lp).unwrap();
    let e = refused(&t, "symlink-dir", &dir);
    assert!(e.contains(&lname) && e.contains("symbolic link"), "{e}");
}

#[test]
fn a_docker_layer_not_matching_its_diff_id_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (s, p, img) = pulled(&t);
    let a = saved(
        &s,
        &img,
        t.path(),
        "docker.tar",
        ArchiveFormat::DockerArchive,
    );
    let lname = format!("{}/layer.tar", p.diff_ids[0].hex());

    // a gzip-compressed layer.tar (as some tools write) is stored uncompressed
    let mut m = read_members(&a);
    let l = m.iter_mut().find(|x| name_of(x) == lname).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&l.data).unwrap();
    l.data = gz.finish().unwrap();
    let gz_layer = t.path().join("gz-layer.tar");
    write_members(&gz_layer, &m);
    load_and_check(&t, "gz-layer", &gz_layer, &p, true);

    // another (valid) tar in place of the layer
    let mut other = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o755);
    h.set_cksum();
    other
        .append_data(&mut h, "bin/evil", &b"#!sh\n"[..])
        .unwrap();
    let other = other.into_inner().unwrap();
    let mut m = read_members(&a);
    m.iter_mut().find(|x| name_of(x) == lname).unwrap().data = other;
    let bad = t.path().join("bad-diff.tar");
    write_members(&bad, &m);
    let e = refused(&t, "bad-diff", &bad);
    assert!(
        e.contains(&lname) && e.contains("diff id") && e.contains(&p.diff_ids[0].to_string()),
        "{e}"
    );

    // a config that does not hash to its file name
    let cname = format!("{}.json", p.config_digest.hex());
    let mut m = read_members(&a);
    m.iter_mut()
        .find(|x| name_of(x) == cname)
        .unwrap()
        .data
        .push(b'\n');
    write_members(&bad, &m);
    let e = refused(&t, "bad-config-name", &bad);
    assert!(e.contains(&cname) && e.contains("digest mismatch"), "{e}");
}

#[test]
fn a_docker_manifest_pointing_at_a_missing_layer_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (s, _p, img) = pulled(&t);
    let a = saved(
        &s,
        &img,
        t.path(),
        "docker.tar",
        ArchiveFormat::DockerArchive,
    );
    let mut m = read_members(&a);
    let mf = m.iter_mut().find(|x| x.name == b"manifest.json").unwrap();
    let mut v: Value = serde_json::from_slice(&mf.data).unwrap();
    v[0]["Layers"][0] = Value::from("nowhere/layer.tar");
    mf.data = serde_json::to_vec(&v).unwrap();
    let bad = t.path().join("missing.tar");
    write_members(&bad, &m);
    let e = refused(&t, "missing", &bad);
    assert!(
        e.contains("nowhere/layer.tar") && e.contains("Layers[0]"),
        "{e}"
    );

    // a Layers path escaping the archive
    v[0]["Layers"][0] = Value::from("../../etc/passwd");
    m.iter_mut()
        .find(|x| x.name == b"manifest.json")
        .unwrap()
        .data = serde_json::to_vec(&v).unwrap();
    write_members(&bad, &m);
    let e = refused(&t, "escape-layer", &bad);
    assert!(e.contains("../../etc/passwd") && e.contains(".."), "{e}");
}

#[test]
fn links_resolve_inside_the_archive_only() {
    let t = tempfile::tempdir().unwrap();
    let (s, p, img) = pulled(&t);
    let a = saved(
        &s,
        &img,
        t.path(),
        "docker.tar",
        ArchiveFormat::DockerArchive,
    );
    let lname = format!("{}/layer.tar", p.diff_ids[0].hex());
    // as old `docker save` does for shared layers: Layers names a symlink
    let with_link = |target: &str| {
        let mut m = read_members(&a);
        let mf = m.iter_mut().find(|x| x.name == b"manifest.json").unwrap();
        let mut v: Value = serde_json::from_slice(&mf.data).unwrap();
        v[0]["Layers"][0] = Value::from("alias/layer.tar");
        mf.data = serde_json::to_vec(&v).unwrap();
        m.push(Member {
            name: b"alias/layer.tar".to_vec(),
            ty: EntryType::Symlink,
            data: Vec::new(),
            link: Some(target.as_bytes().to_vec()),
        });
        m
    };
    let linked = t.path().join("linked.tar");
    write_members(&linked, &with_link(&format!("../{lname}")));
    load_and_check(&t, "linked", &linked, &p, true);

    write_members(&linked, &with_link("../../../etc/passwd"));
    let e = refused(&t, "link-out", &linked);
    assert!(
        e.contains("alias/layer.tar") && e.contains("outside the archive"),
        "{e}"
    );
    write_members(&linked, &with_link("/etc/passwd"));
    let e = refused(&t, "link-abs", &linked);
    assert!(
        e.contains("alias/layer.tar") && e.contains("outside the archive"),
        "{e}"
    );
}

#[test]
fn truncated_archives_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let (s, p, img) = pulled(&t);
    let lname = format!("blobs/sha256/{}", p.layers[0].0.hex());
    let a = saved(&s, &img, t.path(), "oci.tar", ArchiveFormat::OciArchive);
    let data = std::fs::read(&a).unwrap();
    // cut inside the (big) layer blob
    let members = read_members(&a);
    let pos_of = |name: &str| {
        // offset of the member's data: walk the archive again
        let mut ar = tar::Archive::new(std::fs::File::open(&a).unwrap());
        ar.entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path_bytes().as_ref() == name.as_bytes())
            .unwrap()
            .raw_file_position() as usize
    };
    assert!(members.iter().any(|m| name_of(m) == lname));
    let cut = pos_of(&lname) + 1000;
    let bad = t.path().join("cut.tar");
    std::fs::write(&bad, &data[..cut]).unwrap();
    let e = refused(&t, "cut", &bad);
    assert!(e.contains("truncated") && e.contains(&lname), "{e}");
    // the same, gzip-compressed
    let bad_gz = t.path().join("cut.tar.gz");
    gzip_file(&bad, &bad_gz);
    let e = refused(&t, "cut-gz", &bad_gz);
    assert!(e.contains("truncated") && e.contains(&lname), "{e}");
    // a gzip stream cut short
    let full_gz = t.path().join("full.tar.gz");
    gzip_file(&a, &full_gz);
    let gz = std::fs::read(&full_gz).unwrap();
    std::fs::write(&bad_gz, &gz[..gz.len() * 2 / 3]).unwrap();
    let e = refused(&t, "gz-cut", &bad_gz);
    assert!(e.contains("entry"), "{e}");
    // cut at an entry boundary: no end-of-archive marker
    std::fs::write(&bad, &data[..data.len() - 1024]).unwrap();
    let e = refused(&t, "no-end", &bad);
    assert!(
        e.contains("truncated") && e.contains("end-of-archive"),
        "{e}"
    );
    // not a tar at all
    std::fs::write(
        &bad,
        b"this is not an archive, just text that is long enough",
    )
    .unwrap();
    let e = refused(&t, "not-tar", &bad);
    assert!(e.contains("not a tar archive"), "{e}");
}

#[test]
fn failed_saves_leave_nothing_behind() {
    let t = tempfile::tempdir().unwrap();
    let (s, p, img) = pulled(&t);
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // a layer blob corrupted in the store: the copy is verified, the save fails
    let lp = s.blob_path(&p.layers[0].0);
    let mut perms = std::fs::metadata(&lp).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&lp, perms).unwrap();
    let mut data = std::fs::read(&lp).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&lp, &data).unwrap();
    for (format, file) in [
        (ArchiveFormat::OciArchive, "a.tar"),
        (ArchiveFormat::DockerArchive, "b.tar"),
        (ArchiveFormat::OciDir, "c"),
    ] {
        let dest = out.join(file);
        let e = layout::save(&s, std::slice::from_ref(&img), &dest, format)
            .expect_err("a corrupted store blob is not exported")
            .to_string();
        assert!(
            e.contains("mismatch") || e.contains("decompress") || e.contains("diff id"),
            "{format}: {e}"
        );
        assert!(!dest.exists(), "{format}");
        assert!(
            std::fs::read_dir(&out).unwrap().next().is_none(),
            "{format}: leftovers"
        );
    }
    // a missing blob: refused before anything is written
    s.remove_blob(&p.layers[0].0).unwrap();
    let e = layout::save(&s, &[img], &out.join("d.tar"), ArchiveFormat::OciArchive)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not in the store"), "{e}");
    assert!(std::fs::read_dir(&out).unwrap().next().is_none());
}

// ───────────── import ─────────────

/// A small root file system; `owners: false` leaves the uid/gid fields empty
/// (malformed).
fn rootfs_tar(owners: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let new_header = || {
        let mut h = tar::Header::new_gnu();
        if owners {
            h.set_uid(0);
            h.set_gid(0);
        }
        h
    };
    let dir = |b: &mut tar::Builder<Vec<u8>>, name: &str| {
        let mut h = new_header();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, name, &[][..]).unwrap();
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mode: u32| {
        let mut h = new_header();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, name, data).unwrap();
    };
    dir(&mut b, "bin/");
    dir(&mut b, "etc/");
    file(&mut b, "bin/hello", b"#!/bin/sh\necho hello\n", 0o755);
    file(&mut b, "etc/os-release", b"NAME=caisson-test\n", 0o644);
    let mut h = new_header();
    h.set_entry_type(EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "bin/hi", "hello").unwrap();
    b.into_inner().unwrap()
}

#[test]
fn import_rootfs_makes_a_single_layer_image() {
    let t = tempfile::tempdir().unwrap();
    let s = new_store(&t, "import");
    let raw = rootfs_tar(true);
    let plain = t.path().join("rootfs.tar");
    std::fs::write(&plain, &raw).unwrap();
    let gz = t.path().join("rootfs.tar.gz");
    gzip_file(&plain, &gz);

    for (src, name, mt) in [
        (&plain, "imported:plain", TAR),
        (
            &gz,
            "localhost/imported:gz",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
    ] {
        let d = layout::import_rootfs(&s, src, name).unwrap();
        let img = images::resolve(&s, name).unwrap();
        assert_eq!(img.manifest_digest, d);
        assert_eq!(img.names, [images::normalize(name)]);
        let layers = img.layers().unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].1, mt);
        assert_eq!(
            layers[0].0,
            Digest::sha256_of(&std::fs::read(src).unwrap()),
            "the layer is stored as it is"
        );
        assert_eq!(img.diff_ids().unwrap(), [Digest::sha256_of(&raw)]);
        let host = registry::Platform::host();
        assert_eq!(img.config.os().to_string(), host.os);
        assert_eq!(img.config.architecture().to_string(), host.architecture);
        assert!(img.config.created().is_some());
        assert!(img
            .config
            .config()
            .as_ref()
            .and_then(|c| c.cmd().clone())
            .is_none());
        let dirs = ensure_unpacked(&s, &layers, &img.diff_ids().unwrap(), false).unwrap();
        let root = &dirs[0];
        assert_eq!(
            std::fs::read(root.join("bin/hello")).unwrap(),
            b"#!/bin/sh\necho hello\n"
        );
        assert_eq!(
            std::fs::read(root.join("etc/os-release")).unwrap(),
            b"NAME=caisson-test\n"
        );
        assert_eq!(
            std::fs::read_link(root.join("bin/hi")).unwrap(),
            Path::new("hello")
        );
    }
    assert_eq!(
        images::resolve(&s, "imported:plain").unwrap().names,
        ["docker.io/library/imported:plain"]
    );

    // options set the config
    let d = layout::import_rootfs_with(
        &s,
        &plain,
        "imported:cmd",
        &ImportOptions {
            cmd: Some(vec!["/bin/hello".into()]),
            env: vec!["A=b".into()],
            working_dir: Some("/etc".into()),
            ..ImportOptions::default()
        },
    )
    .unwrap();
    let img = images::load(&s, &d, Vec::new()).unwrap();
    let c = img.config.config().clone().unwrap();
    assert_eq!(c.cmd().clone().unwrap(), ["/bin/hello"]);
    assert_eq!(c.env().clone().unwrap(), ["A=b"]);
    assert_eq!(c.working_dir().clone().unwrap(), "/etc");

    // an imported image round-trips through save/load
    let a = t.path().join("imported-docker.tar");
    layout::save(&s, &[img], &a, ArchiveFormat::DockerArchive).unwrap();
    let s2 = new_store(&t, "imported-loaded");
    let names = layout::load(&s2, &a).unwrap();
    assert!(names[0].starts_with("localhost/loaded@"), "{names:?}");

    // not a tar, a truncated tar, a digest name: refused, nothing stored
    let s3 = new_store(&t, "import-refused");
    let junk = t.path().join("junk.tar");
    std::fs::write(&junk, vec![b'x'; 2048]).unwrap();
    let e = layout::import_rootfs(&s3, &junk, "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a tar archive"), "{e}");
    std::fs::write(&junk, &raw[..raw.len() - 1200]).unwrap();
    let e = layout::import_rootfs(&s3, &junk, "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated"), "{e}");
    std::fs::write(&junk, rootfs_tar(false)).unwrap();
    let e = layout::import_rootfs(&s3, &junk, "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bin/") && e.contains("malformed uid"), "{e}");
    let e = layout::import_rootfs(&s3, &plain, &format!("x@{}", Digest::sha256_of(b"")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("digest"), "{e}");
    assert_store_clean(&s3);
    assert!(s3.blobs().unwrap().is_empty());
}
