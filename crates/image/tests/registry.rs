//! The distribution client against real servers, no mocks:
//! - the Debian `docker-registry` on 127.0.0.1:5000, started and filled with a
//!   busybox image by `../shared/peers/peers.sh` (the test fails loudly if that fails);
//! - a counting TCP proxy in front of it (to see Range requests and bytes moved);
//! - a hostile HTTP/1.1 registry written here, serving lies about digests and sizes.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use common::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caisson_image::registry::{self, PullOptions};
use caisson_image::{Digest, ImageError, Store};

// ───────────── helpers ─────────────

fn new_store() -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(&t.path().join("store")).unwrap();
    (t, s)
}

fn opts() -> PullOptions {
    PullOptions {
        retries: 2,
        ..PullOptions::default()
    }
}

fn sha256_file(p: &Path) -> Digest {
    Digest::sha256_of(&std::fs::read(p).unwrap())
}

fn tmp_entries(s: &Store) -> Vec<String> {
    std::fs::read_dir(s.tmp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn layer_dirs(s: &Store) -> usize {
    std::fs::read_dir(s.root().join("layers/sha256")).map_or(0, |d| d.count())
}

/// Everything a pull promised is in the store and verifies.
fn check_pulled(s: &Store, p: &registry::Pulled) {
    let m = s
        .read_blob(&p.manifest_digest)
        .expect("manifest stored and verified");
    assert_eq!(Digest::sha256_of(&m), p.manifest_digest);
    s.read_blob(&p.config_digest)
        .expect("config stored and verified");
    assert!(!p.layers.is_empty());
    assert_eq!(p.diff_ids.len(), p.layers.len());
    for (d, mt, size) in &p.layers {
        assert!(
            mt.starts_with("application/vnd.oci.image.layer.v1.tar"),
            "{mt}"
        );
        let path = s.blob_path(d);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), *size, "{d}");
        assert_eq!(&sha256_file(&path), d, "layer re-hashes to its digest");
    }
    let left: Vec<_> = tmp_entries(s)
        .into_iter()
        .filter(|n| n.ends_with(".partial") || n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "temp area not clean: {left:?}");
}

// ───────────── a counting proxy in front of the real registry ─────────────

#[derive(Default)]
struct ProxyLog {
    requests: Mutex<Vec<u8>>,
    down_bytes: AtomicU64,
}

fn counting_proxy(upstream: &'static str) -> (String, Arc<ProxyLog>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let log = Arc::new(ProxyLog::default());
    let log2 = log.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut client) = c else { continue };
            let log = log2.clone();
            std::thread::spawn(move || {
                let Ok(mut up) = TcpStream::connect(upstream) else {
                    return;
                };
                let (mut client2, mut up2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
                let log_up = log.clone();
                let t = std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = client2.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        log_up.requests.lock().unwrap().extend_from_slice(&buf[..n]);
                        if up2.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = up2.shutdown(Shutdown::Write);
                });
                let mut buf = [0u8; 16384];
                while let Ok(n) = up.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    log.down_bytes.fetch_add(n as u64, Ordering::SeqCst);
                    if client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = t.join();
            });
        }
    });
    (addr, log)
}

impl ProxyLog {
    fn requests_text(&self) -> String {
        String::from_utf8_lossy(&self.requests.lock().unwrap()).to_lowercase()
    }
}

// ───────────── a hostile registry ─────────────

#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    /// `Content-Length` announced (`None`: close-delimited body).
    content_length: Option<usize>,
    /// Bytes of `body` actually sent before closing.
    send: usize,
}

impl Reply {
    fn ok(content_type: &'static str, body: Vec<u8>) -> Reply {
        let n = body.len();
        Reply {
            status: 200,
            content_type,
            body,
            content_length: Some(n),
            send: n,
        }
    }
}

struct Hostile {
    addr: String,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    fn start() -> Hostile {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r2, l2) = (routes.clone(), log.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let (routes, log) = (r2.clone(), l2.clone());
                std::thread::spawn(move || serve_one(c, &routes, &log));
            }
        });
        Hostile { addr, routes, log }
    }

    fn route(&self, path: &str, r: Reply) {
        self.routes.lock().unwrap().insert(path.to_string(), r);
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve_one(mut c: TcpStream, routes: &Mutex<HashMap<String, Reply>>, log: &Mutex<Vec<String>>) {
    c.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
        match c.read(&mut b) {
            // not HTTP (a TLS ClientHello): hang up at once
            Ok(1) if head.is_empty() && !b[0].is_ascii_uppercase() => return,
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("range"))
        .map(|(_, v)| v.trim().to_string());
    log.lock().unwrap().push(format!(
        "{method} {path}{}",
        range.map(|r| format!(" range={r}")).unwrap_or_default()
    ));
    let reply = if path == "/v2/" {
        Reply::ok("application/json", b"{}".to_vec())
    } else {
        routes
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_else(|| Reply {
                status: 404,
                ..Reply::ok(
                    "application/json",
                    br#"{"errors":[{"code":"NOT_FOUND","message":"not here"}]}"#.to_vec(),
                )
            })
    };
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nConnection: close\r\n",
        reply.status, reply.content_type
    );
    if let Some(n) = reply.content_length {
        out.push_str(&format!("Content-Length: {n}\r\n"));
    }
    out.push_str("\r\n");
    let _ = c.write_all(out.as_bytes());
    if method != "HEAD" {
        let _ = c.write_all(&reply.body[..reply.send.min(reply.body.len())]);
    }
    let _ = c.flush();
    let _ = c.shutdown(Shutdown::Both);
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn pseudo_random(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An image with one layer: (config bytes, layer bytes).
fn image_parts(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let layer = pseudo_random(seed, 100_000);
    let diff_id = Digest::sha256_of(&pseudo_random(seed + 1000, 10));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    )
    .into_bytes();
    (config, layer)
}

fn manifest_json(config: &[u8], layer_digest: &Digest, layer_size: &str) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{GZ}","digest":"{layer_digest}","size":{layer_size}}}]}}"#,
        Digest::sha256_of(config),
        config.len()
    )
    .into_bytes()
}

/// Serve repository `repo` (tag `latest`) with the given manifest, config and layer
/// replies; returns the layer's announced digest.
fn serve_repo(
    h: &Hostile,
    repo: &str,
    manifest: Vec<u8>,
    config: (Digest, Reply),
    layer: (Digest, Reply),
) {
    h.route(
        &format!("/v2/{repo}/manifests/latest"),
        Reply::ok(OCI_MANIFEST, manifest),
    );
    h.route(&format!("/v2/{repo}/blobs/{}", config.0), config.1);
    h.route(&format!("/v2/{repo}/blobs/{}", layer.0), layer.1);
}

// ───────────── tests ─────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_push_and_pull_by_digest_with_the_real_registry() {
    real_registry();
    let (_t, a) = new_store();
    let name = format!("{REGISTRY}/busybox:latest");
    let p = registry::pull(
        &a,
        &name,
        &PullOptions {
            progress: true, // stderr is not a terminal here: hidden, but exercised
            ..opts()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("pull {name}: {e}"));
    assert_eq!(p.name, name);
    assert_eq!(p.index_digest, None);
    check_pulled(&a, &p);
    assert_eq!(a.refs().unwrap().get(&name), Some(&p.manifest_digest));

    // push it back under a new name: the manifest bytes (and digest) are preserved
    let repo = format!("caisson-test/busybox-{}", std::process::id());
    let dest = format!("{REGISTRY}/{repo}:pushed");
    let pushed = registry::push(&a, &p.manifest_digest, &dest, &opts())
        .await
        .unwrap_or_else(|e| panic!("push {dest}: {e}"));
    assert_eq!(pushed, p.manifest_digest);

    // skopeo sees it, with our digest and layers
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{dest}")])
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["Digest"].as_str(),
        Some(pushed.to_string().as_str()),
        "{v}"
    );
    let layers: Vec<String> = p.layers.iter().map(|l| l.0.to_string()).collect();
    let theirs: Vec<String> = v["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert_eq!(theirs, layers);

    // pushing again: every blob is already there
    assert_eq!(
        registry::push(&a, &p.manifest_digest, &dest, &opts())
            .await
            .unwrap(),
        pushed
    );

    // pull by digest into another store
    let (_t2, b) = new_store();
    let by_digest = format!("{REGISTRY}/{repo}@{pushed}");
    let p2 = registry::pull(&b, &by_digest, &opts())
        .await
        .unwrap_or_else(|e| panic!("pull {by_digest}: {e}"));
    assert_eq!(p2.manifest_digest, pushed);
    assert_eq!(p2.config_digest, p.config_digest);
    assert_eq!(p2.layers, p.layers);
    assert_eq!(p2.diff_ids, p.diff_ids);
    check_pulled(&b, &p2);
    assert_eq!(b.refs().unwrap().get(&by_digest), Some(&pushed));
    assert_eq!(
        b.read_blob(&pushed).unwrap(),
        a.read_blob(&p.manifest_digest).unwrap(),
        "identical manifest bytes"
    );

    // a wrong digest for a name that exists is refused
    let wrong = Digest::sha256_of(b"not the manifest");
    let e = registry::pull(&b, &format!("{REGISTRY}/{repo}@{wrong}"), &opts())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&wrong.to_string()), "{e}");

    // layers already in the store are not downloaded again (seen through a proxy)
    let (proxy, log) = counting_proxy(REGISTRY);
    let p3 = registry::pull(&a, &format!("{proxy}/{repo}@{pushed}"), &opts())
        .await
        .unwrap();
    assert_eq!(p3.manifest_digest, pushed);
    let reqs = log.requests_text();
    assert!(
        reqs.contains(&format!("get /v2/{repo}/manifests/{pushed}")),
        "{reqs}"
    );
    assert!(
        !reqs.contains("/blobs/"),
        "a blob was fetched again:\n{reqs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_layer_download_resumes_with_a_range_request() {
    real_registry();
    // learn the image (by digest, so a concurrent re-push of busybox cannot move it)
    let (_t0, s0) = new_store();
    let p0 = registry::pull(&s0, &format!("{REGISTRY}/busybox:latest"), &opts())
        .await
        .unwrap();
    let (layer, _, size) = p0.layers[0].clone();
    let data = std::fs::read(s0.blob_path(&layer)).unwrap();
    let half = size / 2;

    // a store holding the first half of the layer in its partial file
    let (_t, s) = new_store();
    let mut w = s.blob_writer(&layer, Some(size), false).unwrap();
    w.write_all(&data[..half as usize]).unwrap();
    let partial = w.partial_path().to_path_buf();
    drop(w);
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), half);
    assert!(!s.has_blob(&layer));

    let (proxy, log) = counting_proxy(REGISTRY);
    let p = registry::pull(
        &s,
        &format!("{proxy}/busybox@{}", p0.manifest_digest),
        &opts(),
    )
    .await
    .unwrap();
    check_pulled(&s, &p);
    assert!(!partial.exists(), "partial file left behind");
    assert_eq!(std::fs::read(s.blob_path(&layer)).unwrap(), data);
    let reqs = log.requests_text();
    assert!(
        reqs.contains(&format!("range: bytes={half}-")),
        "no Range request:\n{reqs}"
    );
    let down = log.down_bytes.load(Ordering::SeqCst);
    assert!(
        down < size,
        "{down} bytes came from the registry for a {size}-byte layer half present"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_one_image_into_one_store() {
    real_registry();
    let (_t, s) = new_store();
    let (_t0, s0) = new_store();
    let p0 = registry::pull(&s0, &format!("{REGISTRY}/busybox:latest"), &opts())
        .await
        .unwrap();
    // the same blobs, by two names at once: the per-blob lock serialises the writers
    let a = format!("{REGISTRY}/busybox@{}", p0.manifest_digest);
    let b = format!("{REGISTRY}/busybox:latest");
    let o = opts();
    let (ra, rb) = tokio::join!(registry::pull(&s, &a, &o), registry::pull(&s, &b, &o));
    let (pa, pb) = (ra.unwrap(), rb.unwrap());
    check_pulled(&s, &pa);
    check_pulled(&s, &pb);
    assert_eq!(s.refs().unwrap().get(&a), Some(&p0.manifest_digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_registry_lies_are_refused_and_the_store_stays_usable() {
    real_registry();
    let h = Hostile::start();
    let (_t, s) = new_store();
    let reg = h.addr.clone();
    let ok_config = |config: &[u8]| {
        (
            Digest::sha256_of(config),
            Reply::ok(OCI_CONFIG, config.to_vec()),
        )
    };
    let mut refused: Vec<Digest> = Vec::new();

    // 1. a layer whose bytes do not match its digest
    let (config, layer) = image_parts(1);
    let ld = Digest::sha256_of(&layer);
    let evil = pseudo_random(99, layer.len());
    serve_repo(
        &h,
        "badlayer",
        manifest_json(&config, &ld, &layer.len().to_string()),
        ok_config(&config),
        (ld.clone(), Reply::ok(GZ, evil)),
    );
    let e = registry::pull(&s, &format!("{reg}/badlayer"), &opts())
        .await
        .unwrap_err();
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains(&ld.to_string()), "{e}");
    let gets = h
        .requests()
        .iter()
        .filter(|r| r.contains(&ld.to_string()))
        .count();
    assert_eq!(
        gets,
        1,
        "a digest mismatch is not retried: {:?}",
        h.requests()
    );
    refused.push(ld);

    // 2. a truncated blob: Content-Length larger than what is sent, then close
    let (config, layer) = image_parts(2);
    let ld = Digest::sha256_of(&layer);
    serve_repo(
        &h,
        "truncated",
        manifest_json(&config, &ld, &layer.len().to_string()),
        ok_config(&config),
        (
            ld.clone(),
            Reply {
                send: layer.len() / 2,
                ..Reply::ok(GZ, layer.clone())
            },
        ),
    );
    let started = Instant::now();
    let e = registry::pull(&s, &format!("{reg}/truncated"), &opts())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ImageError::Registry { .. }), "{e}");
    assert!(
        msg.contains(&ld.to_string()) && msg.contains("gave up after 3 attempts"),
        "{msg}"
    );
    let gets: Vec<String> = h
        .requests()
        .into_iter()
        .filter(|r| r.contains(&ld.to_string()))
        .collect();
    assert_eq!(gets.len(), 3, "1 try + 2 retries: {gets:?}");
    assert!(
        gets[1].contains("range=bytes="),
        "the retry resumes: {gets:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "backoff 200 ms + 400 ms"
    );
    refused.push(ld);

    // 3. a manifest whose layer descriptor lies about the size: bigger, smaller,
    //    smaller without Content-Length (found while writing)
    for (seed, repo, delta, with_len) in [
        (3, "sizebig", 1000i64, true),
        (4, "sizesmall", -1000, true),
        (5, "sizesmall-nolen", -1000, false),
    ] {
        let (config, layer) = image_parts(seed);
        let ld = Digest::sha256_of(&layer);
        let announced = layer.len() as i64 + delta;
        let mut reply = Reply::ok(GZ, layer.clone());
        if !with_len {
            reply.content_length = None;
        }
        serve_repo(
            &h,
            repo,
            manifest_json(&config, &ld, &announced.to_string()),
            ok_config(&config),
            (ld.clone(), reply),
        );
        let e = registry::pull(&s, &format!("{reg}/{repo}"), &opts())
            .await
            .unwrap_err();
        match &e {
            ImageError::SizeMismatch {
                digest,
                expected,
                actual,
            } => {
                assert_eq!(digest, &ld.to_string());
                assert_eq!(*expected, announced as u64);
                if delta > 0 {
                    assert_eq!(*actual, layer.len() as u64);
                } else {
                    assert!(*actual > *expected);
                }
            }
            other => panic!("{repo}: {other}"),
        }
        refused.push(ld);
    }

    // 4. a pull by digest whose manifest bytes hash differently
    let (config, layer) = image_parts(7);
    let ld = Digest::sha256_of(&layer);
    let real = manifest_json(&config, &ld, &layer.len().to_string());
    let claimed = Digest::sha256_of(b"some other manifest");
    h.route(
        &format!("/v2/bydigest/manifests/{claimed}"),
        Reply::ok(OCI_MANIFEST, real),
    );
    h.route(
        &format!("/v2/bydigest/blobs/{}", Digest::sha256_of(&config)),
        ok_config(&config).1,
    );
    h.route(&format!("/v2/bydigest/blobs/{ld}"), Reply::ok(GZ, layer));
    let e = registry::pull(&s, &format!("{reg}/bydigest@{claimed}"), &opts())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("manifest digest mismatch") && e.contains(&claimed.to_string()),
        "{e}"
    );
    assert!(
        !h.requests()
            .iter()
            .any(|r| r.starts_with("GET /v2/bydigest/blobs/")),
        "nothing fetched after a bad manifest: {:?}",
        h.requests()
    );
    refused.push(claimed);

    // 5. a config that does not match its descriptor
    let (config, layer) = image_parts(8);
    let ld = Digest::sha256_of(&layer);
    let cd = Digest::sha256_of(&config);
    let mut other = config.clone();
    other[2] ^= 1;
    serve_repo(
        &h,
        "badconfig",
        manifest_json(&config, &ld, &layer.len().to_string()),
        (cd.clone(), Reply::ok(OCI_CONFIG, other)),
        (ld.clone(), Reply::ok(GZ, layer)),
    );
    let e = registry::pull(&s, &format!("{reg}/badconfig"), &opts())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ImageError::DigestMismatch { .. }) && e.to_string().contains(&cd.to_string()),
        "{e}"
    );
    refused.push(cd);
    refused.push(ld);

    // 6. absurd manifest fields, refused before any blob is fetched
    for (repo, size, field) in [
        ("negsize", "-1", "layers[0].size"),
        ("hugesize", "68719476737", "layers[0].size"),
    ] {
        let (config, layer) = image_parts(9);
        let ld = Digest::sha256_of(&layer);
        serve_repo(
            &h,
            repo,
            manifest_json(&config, &ld, size),
            ok_config(&config),
            (ld.clone(), Reply::ok(GZ, layer)),
        );
        let e = registry::pull(&s, &format!("{reg}/{repo}"), &opts())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{repo}: {e}");
        assert!(!h
            .requests()
            .iter()
            .any(|r| r.starts_with(&format!("GET /v2/{repo}/blobs/"))));
    }

    // nothing bad is visible: no refused blob, no layer directory, no ref
    for d in &refused {
        assert!(!s.has_blob(d), "{d} is visible in the store");
    }
    for d in s.blobs().unwrap() {
        assert_eq!(
            sha256_file(&s.blob_path(&d)),
            d,
            "every stored blob verifies"
        );
    }
    assert_eq!(layer_dirs(&s), 0);
    assert!(s.refs().unwrap().is_empty());
    assert!(
        !tmp_entries(&s).iter().any(|n| n.ends_with(".lock")),
        "{:?}",
        tmp_entries(&s)
    );

    // and the store is still usable
    let p = registry::pull(&s, &format!("{REGISTRY}/busybox:latest"), &opts())
        .await
        .unwrap_or_else(|e| panic!("good pull after the hostile ones: {e}"));
    s.read_blob(&p.manifest_digest).unwrap();
    for (d, _, size) in &p.layers {
        assert_eq!(std::fs::metadata(s.blob_path(d)).unwrap().len(), *size);
        assert_eq!(&sha256_file(&s.blob_path(d)), d);
    }
}

#[tokio::test]
async fn non_loopback_plain_http_is_refused_before_any_connection() {
    let (_t, s) = new_store();
    let started = Instant::now();
    for reference in ["http://10.255.255.1:5000/x", "http://example.com/x:1"] {
        let e = registry::pull(&s, reference, &PullOptions::default())
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ImageError::Registry { .. }), "{msg}");
        assert!(
            msg.contains("insecure") && msg.contains("plain HTTP refused"),
            "{msg}"
        );
        let m = Digest::sha256_of(b"m");
        let e = registry::push(&s, &m, reference, &PullOptions::default())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("insecure"), "{e}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused without connecting"
    );
    // without a scheme a non-loopback registry is HTTPS (never plain HTTP), unless
    // marked insecure; loopback registries are plain HTTP as with Docker
    assert_eq!(registry::registry_scheme("10.255.255.1:5000", &[]), "https");
    assert_eq!(
        registry::registry_scheme("10.255.255.1:5000", &["10.255.255.1:5000".to_string()]),
        "http"
    );
    assert_eq!(registry::registry_scheme("127.0.0.1:5000", &[]), "http");
    assert_eq!(registry::registry_scheme("[::1]:5000", &[]), "http");
    // bad references are refused with their name
    let e = registry::pull(&s, "Not/A/Ref", &PullOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("\"Not/A/Ref\""), "{e}");
    assert!(s.blobs().unwrap().is_empty());
}

#[tokio::test]
async fn tls_forced_on_a_plain_http_registry_fails_readably() {
    let h = Hostile::start();
    let (_t, s) = new_store();
    let o = PullOptions {
        retries: 0,
        ..opts()
    };
    let e = registry::pull(&s, &format!("https://{}/x:1", h.addr), &o)
        .await
        .unwrap_err();
    let msg = e.to_string();
    eprintln!("{msg}");
    assert!(matches!(e, ImageError::Registry { .. }), "{msg}");
    assert!(
        msg.contains("fetching manifest") && msg.contains("mark it insecure"),
        "{msg}"
    );
    assert!(
        h.requests().is_empty(),
        "no plain HTTP request: {:?}",
        h.requests()
    );
}
