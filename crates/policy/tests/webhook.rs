//! The admission webhook server end to end: a real server on 127.0.0.1:0 with a test
//! CA and a server certificate for `localhost`/127.0.0.1 made here (rcgen), driven by
//! curl (a real HTTPS client) and by a rustls client for the raw-protocol, slow-client
//! and load tests. The reviewer is the real policy engine: a `Gate` with the
//! `pss-baseline` set over `input::from_admission_request` (see [`test_factory`]).
//!
//! Run with `cargo test -p caisson-policy --features webhook --test webhook`
//! (add `-- --nocapture` to see the load test's numbers). curl must be installed:
//! every test that uses it fails, loudly, without it.
#![cfg(feature = "webhook")]
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use caisson_policy::webhook::{Config, Reviewer, ReviewerFactory, Server, Verdict};
use caisson_policy::{input, Gate, PolicyConfig};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{json, Value};

const CURL: &str = "/usr/bin/curl";

// ---------------------------------------------------------------------------------
// The reviewer under test: the real policy engine.

/// Decides with the real policy engine: `AdmissionReview.request` normalised by
/// [`input::from_admission_request`], then judged by a [`Gate`] (one clone per
/// connection, as `caisson webhook` does).
struct PolicyReviewer {
    gate: Gate,
}

impl Reviewer for PolicyReviewer {
    fn review(&mut self, request: &Value) -> Verdict {
        let (doc, _kind) = match input::from_admission_request(request, None) {
            Ok(normalised) => normalised,
            Err(e) => {
                return Verdict {
                    code: Some(400),
                    ..Verdict::deny(format!("cannot judge this object: {e:#}"))
                }
            }
        };
        let decision = match self.gate.decide(&doc) {
            Ok(decision) => decision,
            Err(e) => {
                return Verdict {
                    code: Some(500),
                    ..Verdict::deny(format!("policy evaluation failed: {e:#}"))
                }
            }
        };
        Verdict {
            allowed: decision.allowed,
            message: (!decision.allowed).then(|| decision.denials().join("; ")),
            code: (!decision.allowed).then_some(403),
            warnings: decision.warnings(),
        }
    }
}

/// Reviewers over a gate built from `config` (built once, cloned per reviewer).
fn gate_factory(config: &PolicyConfig) -> ReviewerFactory {
    let gate = Gate::new(config).expect("build the policy gate");
    Arc::new(move || Box::new(PolicyReviewer { gate: gate.clone() }))
}

/// The reviewers the servers in these tests use: the real engine with the
/// `pss-baseline` set (so pods on the host network are denied by its
/// host-namespaces rule).
fn test_factory() -> ReviewerFactory {
    gate_factory(&PolicyConfig::with_sets(&["pss-baseline"]))
}

/// The denial message [`test_factory`]'s reviewers give a pod on the host network.
const HOST_NETWORK_DENIAL: &str =
    "[pss-baseline/host-namespaces] hostNetwork=true shares the host's network namespace";

/// Panics on a pod named "panic"; hands everything else to the real engine.
struct PanickyReviewer {
    inner: PolicyReviewer,
    reviews: u64,
}

impl Reviewer for PanickyReviewer {
    fn review(&mut self, request: &Value) -> Verdict {
        self.reviews += 1;
        if request["object"]["metadata"]["name"] == "panic" {
            panic!("test reviewer told to panic (review {})", self.reviews);
        }
        self.inner.review(request)
    }
}

fn panicky_factory() -> ReviewerFactory {
    let gate = Gate::new(&PolicyConfig::with_sets(&["pss-baseline"])).expect("gate");
    Arc::new(move || {
        Box::new(PanickyReviewer {
            inner: PolicyReviewer { gate: gate.clone() },
            reviews: 0,
        })
    })
}

// ---------------------------------------------------------------------------------
// Certificates.

/// Writes a server key as PEM.
type KeyToPem = fn(&rcgen::KeyPair) -> String;

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: PathBuf,
    ca_der: CertificateDer<'static>,
    cert_pem: PathBuf,
    key_pem: PathBuf,
}

/// A test CA and a server certificate for localhost / 127.0.0.1 signed by it; the
/// server key is `key_alg`'s, written by `key_to_pem` (PKCS#8 by default).
fn make_pki_with(key_alg: &'static rcgen::SignatureAlgorithm, key_to_pem: KeyToPem) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "caisson webhook test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate_for(key_alg).expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "caisson-webhook");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).expect("server certificate");

    let ca_pem = dir.path().join("ca.crt");
    let cert_pem = dir.path().join("tls.crt");
    let key_pem = dir.path().join("tls.key");
    fs::write(&ca_pem, ca_cert.pem()).expect("write CA");
    // The chain, leaf first, then the CA (as cert-manager writes it).
    fs::write(&cert_pem, format!("{}{}", cert.pem(), ca_cert.pem())).expect("write cert");
    fs::write(&key_pem, key_to_pem(&key)).expect("write key");
    Pki {
        ca_der: ca_cert.der().clone(),
        dir,
        ca_pem,
        cert_pem,
        key_pem,
    }
}

fn make_pki() -> Pki {
    make_pki_with(&rcgen::PKCS_ECDSA_P256_SHA256, |key| key.serialize_pem())
}

// ---------------------------------------------------------------------------------
// The server.

struct TestServer {
    pki: Pki,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let result = handle.join();
            if !thread::panicking() {
                result
                    .expect("server thread panicked")
                    .expect("server returned an error");
            }
        }
    }
}

fn start_with(pki: Pki, tweak: impl FnOnce(&mut Config)) -> TestServer {
    start_with_factory(pki, test_factory(), tweak)
}

fn start_with_factory(
    pki: Pki,
    factory: ReviewerFactory,
    tweak: impl FnOnce(&mut Config),
) -> TestServer {
    let mut config = Config {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        cert_pem: pki.cert_pem.clone(),
        key_pem: pki.key_pem.clone(),
        ..Config::default()
    };
    tweak(&mut config);
    let server = Server::bind(config).expect("bind the webhook server");
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || server.run(factory, stop))
    };
    TestServer {
        pki,
        addr,
        stop,
        handle: Some(handle),
    }
}

fn start() -> TestServer {
    start_with(make_pki(), |_| {})
}

// ---------------------------------------------------------------------------------
// curl.

struct CurlOut {
    status: u16,
    body: String,
    stderr: String,
}

impl CurlOut {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {:?}", self.body))
    }
}

fn require_curl() {
    assert!(
        Path::new(CURL).is_file(),
        "these tests need curl at {CURL} (a real HTTPS client): install it (apt-get install curl)"
    );
}

/// Runs curl against `path` on the server (as https://localhost:PORT, resolved to
/// 127.0.0.1, so the certificate's DNS name is what gets checked).
fn curl(server: &TestServer, path: &str, args: &[&str]) -> CurlOut {
    require_curl();
    let port = server.addr.port();
    let output = Command::new(CURL)
        .args(["--silent", "--show-error", "--max-time", "30", "--cacert"])
        .arg(&server.pki.ca_pem)
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .args(["--output", "-", "--write-out", "\n%{http_code}"])
        .args(args)
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    CurlOut {
        status: code.trim().parse().unwrap_or(0),
        body: body.to_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

static BODY_FILES: AtomicUsize = AtomicUsize::new(0);

/// POSTs `body` to `path` with `content_type` (none when empty) and `extra` curl
/// arguments.
fn curl_post(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: &[u8],
    extra: &[&str],
) -> CurlOut {
    let file = server.pki.dir.path().join(format!(
        "body-{}.json",
        BODY_FILES.fetch_add(1, Ordering::SeqCst)
    ));
    fs::write(&file, body).expect("write the request body");
    let data = format!("@{}", file.display());
    let header = format!("Content-Type: {content_type}");
    let mut args = vec!["--data-binary", data.as_str(), "-H", header.as_str()];
    args.extend_from_slice(extra);
    curl(server, path, &args)
}

fn curl_review(server: &TestServer, review: &Value) -> CurlOut {
    curl_post(
        server,
        "/validate",
        "application/json",
        review.to_string().as_bytes(),
        &[],
    )
}

#[track_caller]
fn assert_healthy(server: &TestServer) {
    let out = curl(server, "/healthz", &[]);
    assert_eq!(
        (out.status, out.body.as_str()),
        (200, "ok"),
        "healthz: {}",
        out.stderr
    );
}

/// An AdmissionReview for a pod `name`, on the host network or not.
fn pod_review(uid: &str, name: &str, host_network: bool) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:default:deployer"},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {
                    "hostNetwork": host_network,
                    "containers": [{"name": "app", "image": "registry.example/app:1.0"}]
                }
            },
            "oldObject": null,
            "dryRun": false
        }
    })
}

#[track_caller]
fn assert_error(out: &CurlOut, status: u16, needle: &str) {
    assert_eq!(
        out.status, status,
        "body {:?}, curl: {}",
        out.body, out.stderr
    );
    let error = out.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        error.contains(needle),
        "error {error:?} does not mention {needle:?}"
    );
}

// ---------------------------------------------------------------------------------
// A rustls HTTP/1.1 client.

fn client_config(pki: &Pki) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("trust the test CA");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Client {
    stream: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> io::Result<Client> {
        let sock = TcpStream::connect(addr)?;
        sock.set_read_timeout(Some(Duration::from_secs(20)))?;
        sock.set_write_timeout(Some(Duration::from_secs(20)))?;
        sock.set_nodelay(true)?;
        let name = ServerName::try_from("localhost").expect("server name");
        let conn = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        Ok(Client {
            stream: StreamOwned::new(conn, sock),
            buf: Vec::new(),
        })
    }

    /// Completes the TLS handshake.
    fn handshake(&mut self) -> io::Result<()> {
        while self.stream.conn.is_handshaking() {
            self.stream.conn.complete_io(&mut self.stream.sock)?;
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    fn post_review(&mut self, body: &[u8], extra_headers: &str) -> io::Result<HttpResponse> {
        let mut request = format!(
            "POST /validate?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.send(&request)?;
        self.read_response()
    }

    fn read_response(&mut self) -> io::Result<HttpResponse> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response
                .parse(&self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let httparse::Status::Complete(head_len) = parsed {
                let status = response.code.unwrap_or(0);
                let headers: Vec<(String, String)> = response
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                if status == 100 {
                    self.buf.drain(..head_len);
                    continue;
                }
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .ok_or_else(|| io::Error::other("response without Content-Length"))?;
                while self.buf.len() < head_len + length {
                    self.read_more(&mut chunk)?;
                }
                let rest = self.buf.split_off(head_len + length);
                let body = self.buf.split_off(head_len);
                self.buf = rest;
                return Ok(HttpResponse {
                    status,
                    headers,
                    body,
                });
            }
            self.read_more(&mut chunk)?;
        }
    }

    fn read_more(&mut self, chunk: &mut [u8]) -> io::Result<()> {
        match self.stream.read(chunk)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// Reads until the server closes: `Ok(leftover bytes)` on a clean close.
    fn read_to_close(&mut self) -> io::Result<Vec<u8>> {
        let mut all = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(all),
                Ok(n) => all.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(all),
                Err(e) => return Err(e),
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Endpoints through curl.

#[test]
fn healthz_and_readyz() {
    let server = start();
    assert_healthy(&server);
    let out = curl(&server, "/readyz", &[]);
    assert_eq!(
        (out.status, out.body.as_str()),
        (200, "ok"),
        "{}",
        out.stderr
    );
    let out = curl(&server, "/healthz", &["--head"]);
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert_healthy(&server);
}

#[test]
fn allowed_review() {
    let server = start();
    for path in ["/validate", "/", "/validate/pods"] {
        let out = curl_post(
            &server,
            path,
            "application/json",
            pod_review("uid-allowed-1", "web", false)
                .to_string()
                .as_bytes(),
            &[],
        );
        assert_eq!(out.status, 200, "{path}: {} {}", out.body, out.stderr);
        let body = out.json();
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(body["kind"], "AdmissionReview");
        assert_eq!(
            body["response"],
            json!({"uid": "uid-allowed-1", "allowed": true}),
            "{path}"
        );
        assert_healthy(&server);
    }
}

#[test]
fn denied_review() {
    let server = start();
    let out = curl_review(&server, &pod_review("uid-denied-7", "sniffer", true));
    assert_eq!(out.status, 200, "{} {}", out.body, out.stderr);
    let response = &out.json()["response"];
    assert_eq!(response["uid"], "uid-denied-7");
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    assert_eq!(response["status"]["message"], HOST_NETWORK_DENIAL);
    // pss-baseline has no rule in warn mode: no warnings.
    assert!(response.get("warnings").is_none(), "{response}");
    assert_healthy(&server);

    // Warnings travel with a denial (and with an admission): host ports in warn mode.
    let config: PolicyConfig = serde_json::from_value(json!({
        "sets": ["pss-baseline"],
        "modes": {"pss-baseline/host-ports": "warn"}
    }))
    .expect("policy config");
    let server = start_with_factory(make_pki(), gate_factory(&config), |_| {});
    let host_port_warning = "[pss-baseline/host-ports] container \"app\" uses host port 8080";
    for (uid, host_network) in [("uid-warned-denied", true), ("uid-warned-allowed", false)] {
        let mut review = pod_review(uid, "sniffer", host_network);
        review["request"]["object"]["spec"]["containers"][0]["ports"] =
            json!([{"containerPort": 80, "hostPort": 8080}]);
        let out = curl_review(&server, &review);
        assert_eq!(out.status, 200, "{} {}", out.body, out.stderr);
        let response = &out.json()["response"];
        assert_eq!(response["uid"], uid);
        assert_eq!(response["allowed"], !host_network, "{response}");
        if host_network {
            assert_eq!(
                response["status"],
                json!({"code": 403, "message": HOST_NETWORK_DENIAL})
            );
        } else {
            assert!(response.get("status").is_none(), "{response}");
        }
        assert_eq!(
            response["warnings"],
            json!([host_port_warning]),
            "{response}"
        );
    }
    assert_healthy(&server);
}

#[test]
fn malformed_json_is_400() {
    let server = start();
    let out = curl_post(
        &server,
        "/validate",
        "application/json",
        b"{\"apiVersion\": ",
        &[],
    );
    assert_error(&out, 400, "malformed AdmissionReview: ");
    assert_healthy(&server);
    let out = curl_post(&server, "/validate", "application/json", b"[1, 2]", &[]);
    assert_error(&out, 400, "expected a JSON object, got an array");
    assert_healthy(&server);
}

#[test]
fn wrong_kind_is_400() {
    let server = start();
    let mut review = pod_review("uid-kind", "web", false);
    review["kind"] = json!("Pod");
    let out = curl_review(&server, &review);
    assert_error(&out, 400, "unsupported kind \"Pod\"");
    assert_healthy(&server);
}

#[test]
fn wrong_api_version_is_400() {
    let server = start();
    let mut review = pod_review("uid-version", "web", false);
    review["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let out = curl_review(&server, &review);
    assert_error(
        &out,
        400,
        "unsupported apiVersion \"admission.k8s.io/v1beta1\"",
    );
    assert_healthy(&server);
}

#[test]
fn missing_uid_is_400() {
    let server = start();
    let mut review = pod_review("uid", "web", false);
    review["request"]
        .as_object_mut()
        .expect("request object")
        .remove("uid");
    let out = curl_review(&server, &review);
    assert_error(&out, 400, "missing request.uid");
    assert_healthy(&server);
    review["request"]["uid"] = json!(42);
    let out = curl_review(&server, &review);
    assert_error(&out, 400, "request.uid must be a string");
    assert_healthy(&server);
    let mut review = pod_review("uid", "web", false);
    review.as_object_mut().expect("object").remove("request");
    let out = curl_review(&server, &review);
    assert_error(&out, 400, "missing request");
    assert_healthy(&server);
}

#[test]
fn wrong_method_is_405() {
    let server = start();
    let out = curl(&server, "/validate", &[]);
    assert_error(&out, 405, "method GET not allowed");
    assert_healthy(&server);
    let out = curl(&server, "/validate", &["-X", "PUT"]);
    assert_error(&out, 405, "method PUT not allowed");
    assert_healthy(&server);
    let out = curl_post(&server, "/healthz", "application/json", b"{}", &[]);
    assert_error(&out, 405, "method POST not allowed");
    assert_healthy(&server);
    let out = curl(&server, "/validate", &["--include"]);
    assert!(
        out.body.to_ascii_lowercase().contains("\nallow: post"),
        "405 without Allow: {}",
        out.body
    );
}

#[test]
fn unknown_path_is_404() {
    let server = start();
    let out = curl(&server, "/mutate", &[]);
    assert_error(&out, 404, "no such path: /mutate");
    assert_healthy(&server);
    let review = pod_review("uid-404", "web", false).to_string();
    let out = curl_post(
        &server,
        "/validatex",
        "application/json",
        review.as_bytes(),
        &[],
    );
    assert_error(&out, 404, "no such path: /validatex");
    assert_healthy(&server);
}

#[test]
fn wrong_content_type_is_415() {
    let server = start();
    let review = pod_review("uid-415", "web", false).to_string();
    let out = curl_post(&server, "/validate", "text/plain", review.as_bytes(), &[]);
    assert_error(
        &out,
        415,
        "Content-Type must be application/json, got text/plain",
    );
    assert_healthy(&server);
    let out = curl_post(
        &server,
        "/validate",
        "application/x-www-form-urlencoded",
        review.as_bytes(),
        &[],
    );
    assert_error(&out, 415, "application/x-www-form-urlencoded");
    assert_healthy(&server);
    // Parameters are fine.
    let out = curl_post(
        &server,
        "/validate",
        "application/json; charset=utf-8",
        review.as_bytes(),
        &[],
    );
    assert_eq!(out.status, 200, "{} {}", out.body, out.stderr);
    assert_healthy(&server);
}

#[test]
fn oversized_body_is_413() {
    let server = start();
    let mut review = pod_review("uid-big", "web", false);
    review["request"]["object"]["metadata"]["annotations"] =
        json!({ "padding": "x".repeat(4 * 1024 * 1024) });
    let body = review.to_string();
    // curl announces the big body with `Expect: 100-continue`, and without (then the
    // body is on its way when the server answers).
    for extra in [&[][..], &["-H", "Expect:"][..]] {
        let out = curl_post(
            &server,
            "/validate",
            "application/json",
            body.as_bytes(),
            extra,
        );
        assert_error(&out, 413, "exceeds the limit of 3145728 bytes");
        assert_healthy(&server);
    }
    // Just under the limit is served.
    let mut review = pod_review("uid-3m", "web", true);
    review["request"]["object"]["metadata"]["annotations"] =
        json!({ "padding": "x".repeat(3 * 1024 * 1024 - 1024) });
    let out = curl_review(&server, &review);
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert_eq!(out.json()["response"]["uid"], "uid-3m");
    assert_eq!(out.json()["response"]["allowed"], false);
    assert_healthy(&server);
}

#[test]
fn panicking_reviewer_is_500_and_server_recovers() {
    let server = start_with_factory(make_pki(), panicky_factory(), |_| {});
    let out = curl_review(&server, &pod_review("uid-panic", "panic", false));
    assert_error(&out, 500, "reviewer panicked on request uid-panic");
    assert_healthy(&server);
    let out = curl_review(&server, &pod_review("uid-after", "web", false));
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert_eq!(out.json()["response"]["allowed"], true);

    // On one keep-alive connection: the panic costs that request only.
    let config = client_config(&server.pki);
    let mut client = Client::connect(server.addr, &config).expect("connect");
    for (i, name) in ["web", "panic", "web", "panic", "db"]
        .into_iter()
        .enumerate()
    {
        let uid = format!("uid-ka-{i}");
        let body = pod_review(&uid, name, false).to_string();
        let response = client.post_review(body.as_bytes(), "").expect("review");
        if name == "panic" {
            assert_eq!(response.status, 500);
        } else {
            assert_eq!(response.status, 200);
            let value: Value = serde_json::from_slice(&response.body).expect("json");
            assert_eq!(value["response"]["uid"], uid.as_str());
        }
    }
    assert_healthy(&server);
}

// ---------------------------------------------------------------------------------
// The HTTP layer, raw.

#[test]
fn keep_alive_and_connection_close() {
    let server = start();
    let config = client_config(&server.pki);
    let mut client = Client::connect(server.addr, &config).expect("connect");
    for i in 0..20 {
        let uid = format!("uid-keepalive-{i}");
        let body = pod_review(&uid, "web", i % 2 == 1).to_string();
        let response = client.post_review(body.as_bytes(), "").expect("review");
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), Some("keep-alive"));
        let value: Value = serde_json::from_slice(&response.body).expect("json");
        assert_eq!(value["response"]["uid"], uid.as_str());
        assert_eq!(value["response"]["allowed"], i % 2 == 0);
    }
    // Two pipelined requests in one write, then health checks on the same connection.
    let one = pod_review("uid-pipe-1", "web", false).to_string();
    let two = pod_review("uid-pipe-2", "web", true).to_string();
    let mut both = Vec::new();
    for body in [&one, &two] {
        both.extend_from_slice(
            format!(
                "POST /validate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    client.send(&both).expect("pipeline");
    for (uid, allowed) in [("uid-pipe-1", true), ("uid-pipe-2", false)] {
        let response = client.read_response().expect("pipelined response");
        let value: Value = serde_json::from_slice(&response.body).expect("json");
        assert_eq!(value["response"]["uid"], uid);
        assert_eq!(value["response"]["allowed"], allowed);
    }
    client
        .send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("healthz");
    let response = client.read_response().expect("healthz response");
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"ok"[..])
    );
    // 404 on a body-less request keeps the connection.
    client.send(b"GET /nope HTTP/1.1\r\n\r\n").expect("404");
    assert_eq!(client.read_response().expect("404 response").status, 404);

    // `Connection: close`: answered, then closed.
    let body = pod_review("uid-last", "web", false).to_string();
    let response = client
        .post_review(body.as_bytes(), "Connection: close\r\n")
        .expect("last review");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    let leftover = client.read_to_close().expect("clean close");
    assert!(leftover.is_empty());

    // HTTP/1.0 without keep-alive: closed after the response.
    let mut client = Client::connect(server.addr, &config).expect("connect");
    client
        .send(b"GET /healthz HTTP/1.0\r\n\r\n")
        .expect("http/1.0");
    let response = client.read_response().expect("response");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    client.read_to_close().expect("closed");
    assert_healthy(&server);
}

#[test]
fn bad_http_is_refused() {
    let server = start();
    let config = client_config(&server.pki);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), 400),
        (
            b"POST /validate HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(),
            411,
        ),
        (
            b"POST /validate HTTP/1.1\r\nContent-Type: application/json\r\n\r\n".to_vec(),
            411,
        ),
        (
            b"POST /validate HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
            400,
        ),
        (
            b"POST /validate HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n".to_vec(),
            413,
        ),
        (
            {
                let mut head = b"GET /healthz HTTP/1.1\r\n".to_vec();
                for i in 0..150 {
                    head.extend_from_slice(format!("X-Filler-{i}: y\r\n").as_bytes());
                }
                head.extend_from_slice(b"\r\n");
                head
            },
            431,
        ),
        (
            {
                let mut head = b"GET /healthz HTTP/1.1\r\nX-Big: ".to_vec();
                head.extend(std::iter::repeat_n(b'a', 20 * 1024));
                head.extend_from_slice(b"\r\n\r\n");
                head
            },
            431,
        ),
    ];
    for (request, status) in cases {
        let mut client = Client::connect(server.addr, &config).expect("connect");
        client.send(&request).expect("send");
        let response = client.read_response().unwrap_or_else(|e| {
            panic!(
                "no response to {:?}: {e}",
                String::from_utf8_lossy(&request[..request.len().min(80)])
            )
        });
        assert_eq!(
            response.status,
            status,
            "{:?}: {}",
            String::from_utf8_lossy(&request[..request.len().min(80)]),
            String::from_utf8_lossy(&response.body)
        );
        if status != 411 || request.windows(8).any(|w| w == b"Transfer") {
            assert_eq!(response.header("connection"), Some("close"));
        }
        assert_healthy(&server);
    }
}

#[test]
fn bind_reports_bad_files() {
    let pki = make_pki();
    let config = |cert: &Path, key: &Path| Config {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        cert_pem: cert.to_owned(),
        key_pem: key.to_owned(),
        ..Config::default()
    };
    let error_of = |cert: &Path, key: &Path| {
        format!(
            "{:#}",
            Server::bind(config(cert, key)).expect_err("bind must fail")
        )
    };

    let missing = pki.dir.path().join("missing.crt");
    let error = error_of(&missing, &pki.key_pem);
    assert!(error.contains("missing.crt"), "{error}");

    let garbage = pki.dir.path().join("garbage.pem");
    fs::write(&garbage, "not a PEM file\n").expect("write");
    let error = error_of(&garbage, &pki.key_pem);
    assert!(
        error.contains("garbage.pem") && error.contains("no PEM CERTIFICATE"),
        "{error}"
    );
    let error = error_of(&pki.cert_pem, &garbage);
    assert!(
        error.contains("garbage.pem") && error.contains("private key"),
        "{error}"
    );
    // The certificate file as the key: no key in it.
    let error = error_of(&pki.cert_pem, &pki.cert_pem);
    assert!(error.contains("tls.crt"), "{error}");

    // A key that is not the certificate's.
    let other = make_pki();
    let error = error_of(&pki.cert_pem, &other.key_pem);
    assert!(
        error.contains("tls.crt") && error.contains("tls.key") && error.contains("unusable"),
        "{error}"
    );
}

/// Unwraps a PKCS#8 `PrivateKeyInfo` into the algorithm-specific key it carries
/// (PKCS#1 `RSAPrivateKey` or SEC1 `ECPrivateKey`).
fn pkcs8_inner(der: &[u8]) -> Vec<u8> {
    fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = input[0];
        let (len, header) = match input[1] {
            short if short < 0x80 => (usize::from(short), 2),
            long => {
                let n = usize::from(long & 0x7f);
                let len = input[2..2 + n]
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                (len, 2 + n)
            }
        };
        (tag, &input[header..header + len], &input[header + len..])
    }
    let (tag, info, _) = tlv(der);
    assert_eq!(tag, 0x30, "PrivateKeyInfo is a SEQUENCE");
    let (_, _version, rest) = tlv(info);
    let (_, _algorithm, rest) = tlv(rest);
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04, "privateKey is an OCTET STRING");
    key.to_vec()
}

fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for group in der.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= group.len() {
                b64.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[test]
fn pkcs8_pkcs1_and_sec1_keys_are_served() {
    let keys: [(&str, &'static rcgen::SignatureAlgorithm, KeyToPem); 4] = [
        ("EC PKCS#8", &rcgen::PKCS_ECDSA_P256_SHA256, |key| {
            key.serialize_pem()
        }),
        ("EC SEC1", &rcgen::PKCS_ECDSA_P256_SHA256, |key| {
            pem("EC PRIVATE KEY", &pkcs8_inner(key.serialized_der()))
        }),
        ("RSA PKCS#8", &rcgen::PKCS_RSA_SHA256, |key| {
            key.serialize_pem()
        }),
        ("RSA PKCS#1", &rcgen::PKCS_RSA_SHA256, |key| {
            pem("RSA PRIVATE KEY", &pkcs8_inner(key.serialized_der()))
        }),
    ];
    for (what, alg, to_pem) in keys {
        let pki = make_pki_with(alg, to_pem);
        let key_text = fs::read_to_string(&pki.key_pem).expect("key");
        let server = start_with(pki, |_| {});
        assert_healthy(&server);
        let out = curl_review(&server, &pod_review("uid-key", "web", false));
        assert_eq!(out.status, 200, "{what}: {}", out.stderr);
        eprintln!("{what}: {}", key_text.lines().next().unwrap_or_default());
    }
}

// ---------------------------------------------------------------------------------
// Slow and excess clients.

#[derive(Debug)]
enum Stall {
    /// TCP connect, then nothing (not even a TLS ClientHello).
    Silent,
    /// TLS, then half a request head.
    HalfHead,
    /// TLS, a head with `Content-Length: 1000`, then 10 bytes of body.
    ShortBody,
}

#[derive(Debug)]
struct StallResult {
    kind: Stall,
    /// From connect to the server's close.
    closed_after: Duration,
    /// Whatever the server sent (plaintext for the TLS ones).
    received: Vec<u8>,
    closed_at: Instant,
}

/// Runs one stalled client: connects, sends its part, reports on `ready`, then waits
/// for the server to close the connection.
fn stall(
    kind: Stall,
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    ready: mpsc::Sender<()>,
) -> io::Result<StallResult> {
    let started = Instant::now();
    let received = match kind {
        Stall::Silent => {
            let mut sock = TcpStream::connect(addr)?;
            sock.set_read_timeout(Some(Duration::from_secs(15)))?;
            let _ = ready.send(());
            let mut received = Vec::new();
            match sock.read_to_end(&mut received) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                Err(e) => return Err(e),
            }
            received
        }
        Stall::HalfHead | Stall::ShortBody => {
            let mut client = Client::connect(addr, &config)?;
            client
                .stream
                .sock
                .set_read_timeout(Some(Duration::from_secs(15)))?;
            client.handshake()?;
            let part: &[u8] = match kind {
                Stall::HalfHead => b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Ty",
                _ => b"POST /validate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"apiVersi",
            };
            client.send(part)?;
            let _ = ready.send(());
            client.read_to_close()?
        }
    };
    Ok(StallResult {
        kind,
        closed_after: started.elapsed(),
        received,
        closed_at: Instant::now(),
    })
}

#[test]
fn slow_clients_are_cut_off_while_others_are_served() {
    require_curl();
    let timeout = Duration::from_secs(1);
    let server = start_with(make_pki(), |config| config.request_timeout = timeout);
    let config = client_config(&server.pki);
    let (ready_tx, ready_rx) = mpsc::channel();
    let stalls: Vec<_> = (0..20)
        .map(|i| {
            let kind = match i % 3 {
                0 => Stall::Silent,
                1 => Stall::HalfHead,
                _ => Stall::ShortBody,
            };
            let (addr, config, ready) = (server.addr, Arc::clone(&config), ready_tx.clone());
            thread::spawn(move || stall(kind, addr, config, ready))
        })
        .collect();
    for _ in 0..20 {
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a stalled client did not get going");
    }

    // All 20 are stalled now: others are still served, at once.
    let started = Instant::now();
    let out = curl_review(&server, &pod_review("uid-during-slowloris", "web", true));
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert_eq!(out.json()["response"]["uid"], "uid-during-slowloris");
    assert_healthy(&server);
    let served_at = Instant::now();
    let served_in = served_at - started;

    let mut closed_after = Vec::new();
    for handle in stalls {
        let result = handle
            .join()
            .expect("stall thread panicked")
            .expect("stalled client I/O");
        assert!(
            result.closed_after <= timeout + Duration::from_millis(1500),
            "{:?} held for {:?} (request_timeout {timeout:?})",
            result.kind,
            result.closed_after
        );
        assert!(
            result.closed_at >= served_at,
            "{:?} was closed before the concurrent review was served ({served_in:?})",
            result.kind
        );
        closed_after.push(result.closed_after);
        let text = String::from_utf8_lossy(&result.received);
        match result.kind {
            Stall::Silent => assert!(result.received.is_empty(), "{text}"),
            Stall::HalfHead | Stall::ShortBody => {
                assert!(
                    text.starts_with("HTTP/1.1 408 "),
                    "{:?}: {text}",
                    result.kind
                );
                assert!(text.contains("Connection: close"), "{text}");
            }
        }
    }
    closed_after.sort();
    println!(
        "webhook slow clients: 20 stalled, closed after {:?}..{:?} (request_timeout {timeout:?}); \
         a review meanwhile took {served_in:?}",
        closed_after.first().copied().unwrap_or_default(),
        closed_after.last().copied().unwrap_or_default(),
    );
    assert_healthy(&server);
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let server = start_with(make_pki(), |config| {
        config.idle_timeout = Duration::from_millis(500);
    });
    let config = client_config(&server.pki);
    let mut client = Client::connect(server.addr, &config).expect("connect");
    client
        .send(b"GET /healthz HTTP/1.1\r\n\r\n")
        .expect("healthz");
    assert_eq!(client.read_response().expect("response").status, 200);
    let idle = Instant::now();
    client.read_to_close().expect("closed when idle");
    let after = idle.elapsed();
    assert!(
        after >= Duration::from_millis(400) && after < Duration::from_secs(3),
        "idle connection closed after {after:?}"
    );
}

#[test]
fn connections_over_the_limit_are_refused() {
    require_curl();
    let server = start_with(make_pki(), |config| {
        config.max_connections = 4;
        config.request_timeout = Duration::from_secs(1);
    });
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    // Let the server take them (it polls its listener every few ms).
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let mut excess = TcpStream::connect(server.addr).expect("connect");
    excess
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut received = Vec::new();
    match excess.read_to_end(&mut received) {
        Ok(_) => assert!(received.is_empty()),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
    }
    let refused_in = started.elapsed();
    assert!(
        refused_in < Duration::from_millis(500),
        "the connection over the limit was held {refused_in:?}"
    );
    // The held ones time out (1 s), then the server has room again.
    thread::sleep(Duration::from_millis(1500));
    assert_healthy(&server);
    drop(held);
}

// ---------------------------------------------------------------------------------
// Load.

#[test]
fn load_10000_reviews_16_clients() {
    const REVIEWS: usize = 10_000;
    const CLIENTS: usize = 16;
    let server = start();
    let config = client_config(&server.pki);
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (addr, config) = (server.addr, Arc::clone(&config));
            thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut failures = Vec::new();
                let mut client = None;
                for i in (c..REVIEWS).step_by(CLIENTS) {
                    let uid = format!("load-{c}-{i}");
                    let host_network = i % 2 == 0;
                    let body = pod_review(&uid, &format!("pod-{i}"), host_network).to_string();
                    let sent = Instant::now();
                    let outcome = (|| -> Result<(), String> {
                        if client.is_none() {
                            client =
                                Some(Client::connect(addr, &config).map_err(|e| e.to_string())?);
                        }
                        let Some(conn) = client.as_mut() else {
                            return Err("no connection".to_owned());
                        };
                        let response = conn
                            .post_review(body.as_bytes(), "")
                            .map_err(|e| format!("I/O: {e}"))?;
                        if response.status != 200 {
                            return Err(format!("status {}", response.status));
                        }
                        let value: Value = serde_json::from_slice(&response.body)
                            .map_err(|e| format!("response JSON: {e}"))?;
                        let answer = &value["response"];
                        if answer["uid"] != uid.as_str() {
                            return Err(format!("uid {} for {uid}", answer["uid"]));
                        }
                        if answer["allowed"] != !host_network {
                            return Err(format!("allowed {} for {uid}", answer["allowed"]));
                        }
                        if host_network
                            && (answer["status"]["code"] != 403
                                || answer["status"]["message"] != HOST_NETWORK_DENIAL)
                        {
                            return Err(format!("denial without 403 and its rule: {answer}"));
                        }
                        Ok(())
                    })();
                    latencies.push(sent.elapsed());
                    if let Err(e) = outcome {
                        failures.push(e);
                        client = None; // start over on a new connection
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(REVIEWS);
    let mut failures = Vec::new();
    for worker in workers {
        let (l, f) = worker.join().expect("client thread panicked");
        latencies.extend(l);
        failures.extend(f);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let percentile = |p: usize| {
        let index = (latencies.len() * p / 100).min(latencies.len().saturating_sub(1));
        latencies
            .get(index)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "webhook load: {} reviews, {CLIENTS} clients, {} failures, {:.1} s, p50 {:.1} ms p99 {:.1} ms",
        latencies.len(),
        failures.len(),
        elapsed.as_secs_f64(),
        percentile(50),
        percentile(99)
    );
    assert_eq!(latencies.len(), REVIEWS);
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_healthy(&server);
}
