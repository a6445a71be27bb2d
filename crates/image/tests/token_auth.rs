//! Bearer token authentication (the Docker registry token flow) against a real
//! registry, no mocks on the registry side:
//! - a throw-away EC P-256 key and self-signed certificate (`openssl` CLI);
//! - a token server written here (HTTP/1.1 on a loopback port): HTTP Basic
//!   credentials in, an ES256 JWT out, carrying the certificate in `x5c` and the
//!   access asked for in `scope`; every request is logged for the assertions;
//! - the Debian `docker-registry` (distribution 2.8) started here on a free loopback
//!   port with `auth: token` trusting that certificate;
//! - the busybox image of the shared test registry on 127.0.0.1:5000
//!   (`../shared/peers/peers.sh`) is pulled from there and pushed into ours.
//!
//! Credentials come from `$REGISTRY_AUTH_FILE`, which is process-global: this binary
//! has a single test, so nothing else reads the environment meanwhile.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use caisson_image::registry::{self, PullOptions};
use caisson_image::{Digest, Store};

const SOURCE: &str = "127.0.0.1:5000";
const USER: &str = "caisson";
const SERVICE: &str = "caisson-test-registry";
const ISSUER: &str = "caisson-test-issuer";
const REPO: &str = "auth/busybox";

// ───────────── helpers ─────────────

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Response headers, names lower-cased.
type Headers = Vec<(String, String)>;

/// One HTTP/1.1 request over a fresh connection: status, lower-cased headers, body.
fn http_get(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Headers, Vec<u8>)> {
    let sa: SocketAddr = addr.parse().expect("a socket address");
    let mut s = TcpStream::connect_timeout(&sa, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&resp[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let hdrs = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, hdrs, resp[end + 4..].to_vec()))
}

fn header<'a>(hdrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hdrs.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// ───────────── keys ─────────────

/// A P-256 key (PKCS#8 DER, for signing) and its self-signed certificate (PEM file
/// for the registry's `rootcertbundle`, DER for the tokens' `x5c`).
struct Pki {
    key_pkcs8: Vec<u8>,
    cert_der: Vec<u8>,
    cert_pem: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    let key_pem = dir.join("key.pem");
    let cert_pem = dir.join("cert.pem");
    run(Command::new("openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ])
        .arg(&key_pem));
    let key_pkcs8 = run(Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
        .arg(&key_pem));
    run(Command::new("openssl")
        .args(["req", "-x509", "-new", "-sha256", "-days", "2"])
        .args(["-subj", "/CN=caisson test token issuer"])
        .arg("-key")
        .arg(&key_pem)
        .arg("-out")
        .arg(&cert_pem));
    let cert_der = run(Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert_pem));
    assert!(!key_pkcs8.is_empty() && !cert_der.is_empty());
    Pki {
        key_pkcs8,
        cert_der,
        cert_pem,
    }
}

// ───────────── the token server ─────────────

/// What the token server was asked and what it answered.
#[derive(Debug, Clone)]
struct TokenRequest {
    /// The Basic user name presented, if any.
    user: Option<String>,
    /// A token was issued (the credentials were right).
    granted: bool,
    /// `scope` parameters, decoded.
    scopes: Vec<String>,
    /// `service` parameter.
    service: Option<String>,
}

struct TokenServer {
    addr: String,
    log: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    fn start(pki: &Pki, password: &str) -> TokenServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pki.key_pkcs8,
            &rng,
        )
        .expect("the openssl key loads as a P-256 PKCS#8 key");
        let signer = Signer {
            key,
            rng,
            x5c: base64::engine::general_purpose::STANDARD.encode(&pki.cert_der),
            jti: AtomicU64::new(0),
        };
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"))
        );
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for c in l.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(c) = c else { continue };
                if let Err(e) = serve_token(c, &signer, &expected, &log2) {
                    eprintln!("token server: {e}");
                }
            }
        });
        TokenServer {
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    fn take_log(&self) -> Vec<TokenRequest> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Signer {
    key: ring::signature::EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
    x5c: String,
    jti: AtomicU64,
}

impl Signer {
    /// An ES256 JWT for `sub` granting each `type:name:actions` scope.
    fn token(&self, sub: &str, scopes: &[String]) -> String {
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|s| {
                // type:name:actions, where name may hold a port (registry:host:5000/x)
                let (typ, rest) = s.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
                Some(serde_json::json!({"type": typ, "name": name, "actions": actions}))
            })
            .collect();
        let now = unix_now();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": sub,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("caisson-test-{}-{}", std::process::id(), self.jti.fetch_add(1, Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .expect("ES256 signature");
        // FIXED_SIGNING: r || s, 32 bytes each, as JWS wants
        assert_eq!(sig.as_ref().len(), 64);
        format!("{signing_input}.{}", b64url(sig.as_ref()))
    }
}

fn serve_token(
    mut c: TcpStream,
    signer: &Signer,
    expected_auth: &str,
    log: &Mutex<Vec<TokenRequest>>,
) -> std::io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    c.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = c.read(&mut chunk)?;
        if n == 0 {
            return Ok(()); // the wake-up connection of Drop, or a client gone
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 << 10 {
            return Err(std::io::Error::other("request head too large"));
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut authorization = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_string());
            }
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut scopes = Vec::new();
    let mut service = None;
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match percent_decode(k).as_str() {
            // one parameter may carry several space-separated scopes
            "scope" => scopes.extend(percent_decode(v).split(' ').map(str::to_string)),
            "service" => service = Some(percent_decode(v)),
            _ => {}
        }
    }
    let user = authorization.as_deref().and_then(|a| {
        let b = a.strip_prefix("Basic ")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        Some(
            text.split_once(':')
                .map_or(text.clone(), |(u, _)| u.to_string()),
        )
    });
    let ok_request = method == "GET" && path == "/token";
    let granted = ok_request
        && authorization.as_deref() == Some(expected_auth)
        && service.as_deref() == Some(SERVICE);
    log.lock().unwrap().push(TokenRequest {
        user: user.clone(),
        granted,
        scopes: scopes.clone(),
        service,
    });
    let (status, extra, body) = if !ok_request {
        (
            "404 Not Found",
            String::new(),
            "{\"error\":\"not found\"}".to_string(),
        )
    } else if granted {
        let t = signer.token(user.as_deref().unwrap_or_default(), &scopes);
        let body = serde_json::json!({
            "token": t,
            "access_token": t,
            "expires_in": 300,
            "issued_at": "2020-01-01T00:00:00Z",
        });
        ("200 OK", String::new(), body.to_string())
    } else {
        (
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"caisson test token server\"\r\n".to_string(),
            "{\"error\":\"authentication required\"}".to_string(),
        )
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    c.write_all(resp.as_bytes())?;
    c.flush()
}

// ───────────── the registry ─────────────

/// A `docker-registry serve` started by this test; killed (this PID only) on drop.
struct AuthRegistry {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl AuthRegistry {
    fn start(dir: &Path, pki: &Pki, realm: &str) -> AuthRegistry {
        let mut last = String::new();
        // a free port may be taken between probing and binding: a few tries
        for attempt in 0..3 {
            let port = free_port();
            if port == 5000 {
                continue;
            }
            let addr = format!("127.0.0.1:{port}");
            let config = dir.join("registry.yml");
            let log = dir.join(format!("registry-{attempt}.log"));
            std::fs::create_dir_all(dir.join("data")).unwrap();
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: debug\n  accesslog:\n    disabled: false\n\
                     storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
                     http:\n  addr: {addr}\n  secret: caisson-token-auth-test-secret\n\
                     auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {cert}\n",
                    data = dir.join("data").display(),
                    cert = pki.cert_pem.display(),
                ),
            )
            .unwrap();
            let logf = std::fs::File::create(&log).unwrap();
            let mut cmd = Command::new("docker-registry");
            cmd.arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(logf.try_clone().unwrap())
                .stderr(logf);
            // REGISTRY_* variables override the configuration (REGISTRY_AUTH_FILE
            // would add an auth section): none are passed on
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("REGISTRY_") {
                    cmd.env_remove(k);
                }
            }
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start docker-registry: {e}"));
            let mut r = AuthRegistry { child, addr, log };
            match r.wait_ready(realm) {
                Ok(()) => return r,
                Err(e) => {
                    last = format!("{e}\nregistry log:\n{}", r.log_text());
                    if !last.contains("address already in use") {
                        panic!("docker-registry on {} did not come up: {last}", r.addr);
                    }
                    // r dropped: killed
                }
            }
        }
        panic!("docker-registry did not come up on a free port: {last}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// `/v2/` answers 401 with a Bearer challenge naming our token server.
    fn wait_ready(&mut self, realm: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("docker-registry exited: {st}"));
            }
            match http_get(&self.addr, "/v2/", &[]) {
                Ok((401, hdrs, _)) => {
                    let ch = header(&hdrs, "www-authenticate").unwrap_or_default();
                    if ch.starts_with("Bearer ")
                        && ch.contains(&format!("realm=\"{realm}\""))
                        && ch.contains(&format!("service=\"{SERVICE}\""))
                    {
                        return Ok(());
                    }
                    return Err(format!("/v2/ answered 401 with the challenge {ch:?}"));
                }
                Ok((st, _, body)) => {
                    return Err(format!(
                        "/v2/ answered {st} (token auth not configured?): {}",
                        String::from_utf8_lossy(&body)
                    ))
                }
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("/v2/ did not answer within 30 s: {last}"))
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ───────────── the test ─────────────

fn opts() -> PullOptions {
    PullOptions {
        retries: 1,
        ..PullOptions::default()
    }
}

fn write_auth(file: &Path, registry: &str, creds: Option<(&str, &str)>) {
    let v = match creds {
        Some((u, p)) => serde_json::json!({"auths": {registry: {
            "auth": base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        }}}),
        None => serde_json::json!({"auths": {}}),
    };
    std::fs::write(file, v.to_string()).unwrap();
}

fn new_store(dir: &Path, name: &str) -> Store {
    Store::open(&dir.join(name)).unwrap()
}

fn assert_empty(s: &Store, what: &str) {
    assert!(
        s.refs().unwrap().is_empty(),
        "{what}: refs written: {:?}",
        s.refs().unwrap()
    );
    assert!(
        s.blobs().unwrap().is_empty(),
        "{what}: blobs stored: {:?}",
        s.blobs().unwrap()
    );
}

/// `f` on `rt`, with a time limit.
fn within<T>(
    rt: &tokio::runtime::Runtime,
    dump: &dyn Fn(&str) -> String,
    what: &str,
    f: impl std::future::Future<Output = T>,
) -> T {
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(120), f).await })
        .unwrap_or_else(|_| panic!("{}", dump(&format!("{what}: no result within 120 s"))))
}

/// Ran once per process (see the module comment: the environment is shared).
static ONCE: OnceLock<()> = OnceLock::new();

#[test]
fn token_auth_pull_and_push_against_a_real_registry() {
    assert!(
        ONCE.set(()).is_ok(),
        "this test changes the environment: run it once"
    );
    real_registry();
    let t = tempfile::tempdir().unwrap();
    let password = format!("pw-{}-{}", std::process::id(), unix_now());
    let pki = make_pki(&t.path().join("pki"));
    let tokens = TokenServer::start(&pki, &password);
    let reg = AuthRegistry::start(&t.path().join("registry"), &pki, &tokens.realm());
    let dump = |what: &str| -> String {
        format!(
            "{what}\ntoken requests: {:#?}\nregistry log (tail):\n{}",
            tokens.log.lock().unwrap(),
            reg.log_text()
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        )
    };

    // the registry really enforces the token: no anonymous manifest reads
    let (st, hdrs, _) = http_get(&reg.addr, &format!("/v2/{REPO}/manifests/latest"), &[]).unwrap();
    assert_eq!(st, 401, "{}", dump("anonymous manifest GET"));
    let ch = header(&hdrs, "www-authenticate").unwrap_or_default();
    assert!(
        ch.contains(&format!("scope=\"repository:{REPO}:pull\"")),
        "{ch}"
    );

    // only files of this test are consulted
    let auth_file = t.path().join("auth.json");
    std::env::set_var("REGISTRY_AUTH_FILE", &auth_file);
    std::env::set_var("DOCKER_CONFIG", t.path().join("docker-config"));
    std::env::set_var("XDG_RUNTIME_DIR", t.path().join("xdg"));
    write_auth(&auth_file, &reg.addr, Some((USER, &password)));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dest = format!("{}/{REPO}:latest", reg.addr);

    // 1. the image, from the open registry (no entry in the auth file for it)
    let src = new_store(t.path(), "src");
    let pulled = within(
        &rt,
        &dump,
        "pull from :5000",
        registry::pull(&src, &format!("{SOURCE}/busybox:latest"), &opts()),
    )
    .unwrap_or_else(|e| panic!("pull {SOURCE}/busybox:latest: {e}"));
    assert!(
        tokens.take_log().is_empty(),
        "the open registry needs no token"
    );

    // 2. push with credentials: a pull,push token
    let pushed = within(
        &rt,
        &dump,
        "push with credentials",
        registry::push(&src, &pulled.manifest_digest, &dest, &opts()),
    )
    .unwrap_or_else(|e| panic!("{}", dump(&format!("push {dest} with credentials: {e}"))));
    assert_eq!(pushed, pulled.manifest_digest);
    let log = tokens.take_log();
    assert!(
        log.iter().any(|r| r.granted
            && r.user.as_deref() == Some(USER)
            && r.service.as_deref() == Some(SERVICE)
            && r.scopes == [format!("repository:{REPO}:pull,push")]),
        "no push token was issued: {log:#?}"
    );
    assert!(
        log.iter().all(|r| r.granted),
        "refused token requests: {log:#?}"
    );
    // the registry has it, under the digest we pushed (checked with our own token)
    let tok = tokens_token(&tokens, &password, &format!("repository:{REPO}:pull"));
    let (st, hdrs, body) = http_get(
        &reg.addr,
        &format!("/v2/{REPO}/manifests/latest"),
        &[
            ("Authorization", &format!("Bearer {tok}")),
            (
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            ),
        ],
    )
    .unwrap();
    assert_eq!(st, 200, "{}", dump("manifest GET with a token"));
    assert_eq!(Digest::sha256_of(&body), pushed);
    assert_eq!(
        header(&hdrs, "docker-content-digest"),
        Some(pushed.to_string().as_str())
    );
    tokens.take_log();

    // 3. pull with credentials: a pull token, everything stored
    let store = new_store(t.path(), "with-creds");
    let p = within(
        &rt,
        &dump,
        "pull with credentials",
        registry::pull(&store, &dest, &opts()),
    )
    .unwrap_or_else(|e| panic!("{}", dump(&format!("pull {dest} with credentials: {e}"))));
    assert_eq!(p.manifest_digest, pushed);
    assert_eq!(p.layers, pulled.layers);
    assert_eq!(
        store.refs().unwrap().get(&dest),
        Some(&pushed),
        "refs: {:?}",
        store.refs().unwrap()
    );
    assert!(store.has_blob(&p.config_digest));
    for (d, _, _) in &p.layers {
        assert!(store.has_blob(d), "{d}");
    }
    let log = tokens.take_log();
    assert!(
        log.iter().any(|r| r.granted
            && r.user.as_deref() == Some(USER)
            && r.service.as_deref() == Some(SERVICE)
            && r.scopes == [format!("repository:{REPO}:pull")]),
        "no pull token was issued: {log:#?}"
    );
    assert!(
        log.iter()
            .all(|r| r.granted && r.scopes.iter().all(|s| !s.contains("push"))),
        "a pull asked for more than pull, or was refused: {log:#?}"
    );

    // 4. no credentials: refused with a 401, nothing stored
    write_auth(&auth_file, &reg.addr, None);
    let store = new_store(t.path(), "no-creds");
    let e = within(
        &rt,
        &dump,
        "pull without credentials",
        registry::pull(&store, &dest, &opts()),
    )
    .map(|p| {
        panic!(
            "{}",
            dump(&format!("pull without credentials succeeded: {p:?}"))
        )
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("401") && e.contains("Unauthorized") && e.contains(&reg.addr),
        "unclear error: {e}"
    );
    assert!(
        e.contains("REGISTRY_AUTH_FILE"),
        "no hint where credentials come from: {e}"
    );
    assert_empty(&store, "pull without credentials");
    let log = tokens.take_log();
    assert!(
        !log.is_empty() && log.iter().all(|r| !r.granted && r.user.is_none()),
        "expected anonymous, refused token requests: {log:#?}"
    );

    // 5. wrong credentials: likewise
    write_auth(&auth_file, &reg.addr, Some((USER, "not-the-password")));
    let store = new_store(t.path(), "wrong-creds");
    let e = within(
        &rt,
        &dump,
        "pull with wrong credentials",
        registry::pull(&store, &dest, &opts()),
    )
    .map(|p| {
        panic!(
            "{}",
            dump(&format!("pull with wrong credentials succeeded: {p:?}"))
        )
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("401") && e.contains("Unauthorized") && e.contains(&reg.addr),
        "unclear error: {e}"
    );
    assert_empty(&store, "pull with wrong credentials");
    let log = tokens.take_log();
    assert!(
        !log.is_empty()
            && log
                .iter()
                .all(|r| !r.granted && r.user.as_deref() == Some(USER)),
        "expected refused token requests for {USER}: {log:#?}"
    );

    // 6. push with wrong credentials: refused, the tag does not appear
    let other = format!("{}/{REPO}:refused", reg.addr);
    let e = within(
        &rt,
        &dump,
        "push with wrong credentials",
        registry::push(&src, &pulled.manifest_digest, &other, &opts()),
    )
    .map(|d| {
        panic!(
            "{}",
            dump(&format!("push with wrong credentials succeeded: {d}"))
        )
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("401") && e.contains(&reg.addr),
        "unclear error: {e}"
    );
    let (st, _, _) = http_get(
        &reg.addr,
        &format!("/v2/{REPO}/manifests/refused"),
        &[("Authorization", &format!("Bearer {tok}"))],
    )
    .unwrap();
    assert_eq!(st, 404, "{}", dump("a refused push created a tag"));

    drop(rt);
    drop(reg);
    drop(tokens);
}

/// A pull token obtained from the token server directly (for checks made without
/// the client under test).
fn tokens_token(tokens: &TokenServer, password: &str, scope: &str) -> String {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    let scope_q = scope.replace(':', "%3A").replace('/', "%2F");
    let (st, _, body) = http_get(
        &tokens.addr,
        &format!("/token?scope={scope_q}&service={SERVICE}"),
        &[("Authorization", &format!("Basic {basic}"))],
    )
    .unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["token"].as_str().unwrap().to_string()
}
