//! The Kubernetes `ValidatingAdmissionWebhook` server: HTTPS (rustls, blocking I/O on
//! std threads, no async runtime) in front of a decision function.
//!
//! The server is generic over the decision: every connection gets its own
//! [`Reviewer`] from a factory (reviewers are stateful, `&mut` engines, reused for all
//! the reviews sent over one keep-alive connection), which is handed
//! `AdmissionReview.request` and answers with a [`Verdict`].
//!
//! Protocol, as the API server speaks it:
//!
//! * HTTP/1.1 with keep-alive (`Connection: close` and HTTP/1.0 honoured,
//!   `Expect: 100-continue` answered). Request bodies must carry a `Content-Length`;
//!   `Transfer-Encoding` (chunked) is refused with 411.
//! * `POST /validate` (also `/` and any path under `/validate/`), with
//!   `Content-Type: application/json`, carrying an `admission.k8s.io/v1`
//!   `AdmissionReview` with a string `request.uid` → 200 and an `AdmissionReview`
//!   whose `response` echoes the uid.
//! * `GET`/`HEAD` `/healthz`, `/readyz`, `/livez` → 200 `ok`.
//! * Errors: 404 unknown path, 405 wrong method, 408 request not complete in time,
//!   411 no `Content-Length`, 413 body over [`Config::max_body_bytes`], 415 wrong
//!   content type, 431 headers over [`MAX_HEADER_BYTES`] / [`MAX_HEADERS`], 400
//!   malformed HTTP or `AdmissionReview` (a JSON body `{"error": "..."}` naming the
//!   problem), 500 when the reviewer panicked (the connection and the server carry on
//!   with a fresh reviewer).
//!
//! Resource bounds: at most [`Config::max_connections`] connections are served at
//! once (one thread each; connections over the limit are closed as soon as they are
//! accepted, nothing queues); each request, from the first byte (for the first
//! request of a connection: from the TCP accept, so including the TLS handshake) to
//! the last body byte, must arrive within [`Config::request_timeout`], and an idle
//! keep-alive connection is closed after [`Config::idle_timeout`]. Socket reads use
//! short timeouts against these deadlines, so no client can hold a worker longer.
//!
//! Errors are logged as one line each on stderr.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{json, Map, Value};

/// The only `AdmissionReview` API version accepted (and answered).
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The `kind` of an admission review.
pub const KIND: &str = "AdmissionReview";
/// Largest request head (request line + headers) accepted; beyond it: 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields accepted in one request; beyond it: 431.
pub const MAX_HEADERS: usize = 100;

/// How often a blocked read or an idle accept loop wakes up to look at its deadline
/// and at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// Sleep of the accept loop when no connection is pending.
const ACCEPT_POLL: Duration = Duration::from_millis(10);
/// How long a closing connection keeps reading (and discarding) what the client still
/// sends, so that closing with unread data does not reset the connection before the
/// client has read our last response.
const LINGER: Duration = Duration::from_secs(1);
/// Bound on writing an error response to a client that is being dropped.
const ERROR_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Stack of the connection threads: reviewers may be recursive policy evaluators.
const WORKER_STACK: usize = 8 * 1024 * 1024;
/// Plaintext read granularity.
const READ_CHUNK: usize = 16 * 1024;

/// A reviewer's decision on one admission request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the object is admitted.
    pub allowed: bool,
    /// Human-readable reason, sent as `response.status.message` (shown to the user
    /// by `kubectl` on a denial).
    pub message: Option<String>,
    /// HTTP-like status code sent as `response.status.code`; when `None`, 403 for a
    /// denial and 200 for an allowed request with a message.
    pub code: Option<u16>,
    /// Warnings returned to the API client (`response.warnings`), allowed or not.
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Admit, with no message and no warnings.
    pub fn allow() -> Verdict {
        Verdict {
            allowed: true,
            message: None,
            code: None,
            warnings: Vec::new(),
        }
    }

    /// Deny with `message` (status code 403 unless [`Verdict::code`] is set).
    pub fn deny(message: impl Into<String>) -> Verdict {
        Verdict {
            allowed: false,
            message: Some(message.into()),
            code: None,
            warnings: Vec::new(),
        }
    }

    /// Adds a warning.
    #[must_use]
    pub fn with_warning(mut self, warning: impl Into<String>) -> Verdict {
        self.warnings.push(warning.into());
        self
    }
}

/// The decision function: one instance per connection (see [`ReviewerFactory`]),
/// called for each review sent over that connection.
pub trait Reviewer: Send {
    /// Decides on `request`, the `request` member of the `AdmissionReview` (its
    /// `uid`, `kind`, `operation`, `object`, `oldObject`, `userInfo`, …). A panic is
    /// caught: that request gets a 500 and the reviewer is replaced by a new one.
    fn review(&mut self, request: &Value) -> Verdict;
}

impl<F> Reviewer for F
where
    F: FnMut(&Value) -> Verdict + Send,
{
    fn review(&mut self, request: &Value) -> Verdict {
        self(request)
    }
}

/// Makes the reviewer of a new connection (called lazily, at its first review, and
/// again after a reviewer panicked).
pub type ReviewerFactory = Arc<dyn Fn() -> Box<dyn Reviewer> + Send + Sync>;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0: any free port, see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// PEM certificate chain, leaf first.
    pub cert_pem: PathBuf,
    /// PEM private key of the leaf: PKCS#8 (`PRIVATE KEY`), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub key_pem: PathBuf,
    /// Largest request body accepted (default 3 MiB, the API server's own limit on
    /// objects); larger: 413.
    pub max_body_bytes: usize,
    /// Time allowed for a whole request: TLS handshake (first request of a
    /// connection), head and body (default 10 s). A request not complete by then is
    /// answered 408 (when part of it arrived) and its connection closed.
    pub request_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests (default 90 s,
    /// what Go's HTTP client, and so the API server, uses on its side).
    pub idle_timeout: Duration,
    /// Most connections served at once (default 64); more are closed on accept.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            cert_pem: PathBuf::from("tls.crt"),
            key_pem: PathBuf::from("tls.key"),
            max_body_bytes: 3 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_connections: 64,
        }
    }
}

/// A bound webhook server: [`Server::bind`], then [`Server::run`].
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Arc<ServerConfig>,
    config: Config,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads the certificate chain and key (errors name the file at fault) and binds
    /// the listening socket.
    pub fn bind(config: Config) -> anyhow::Result<Server> {
        if config.max_connections == 0 {
            bail!("webhook max_connections must be at least 1");
        }
        if config.max_body_bytes == 0 {
            bail!("webhook max_body_bytes must be at least 1");
        }
        if config.request_timeout.is_zero() || config.idle_timeout.is_zero() {
            bail!("webhook request_timeout and idle_timeout must not be zero");
        }
        let tls = tls_server_config(&config.cert_pem, &config.key_pem)?;
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("binding the webhook listener on {}", config.listen))?;
        let local_addr = listener
            .local_addr()
            .context("reading the webhook listener's address")?;
        Ok(Server {
            listener,
            local_addr,
            tls,
            config,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `stop` is set, then stops accepting, lets the open connections
    /// finish the request in flight (idle ones are closed at once) and returns, after
    /// at most about `request_timeout` + 3 s.
    ///
    /// Errors only if the listener cannot be polled; a failure on one connection
    /// (TLS, client misbehaviour, a panicking reviewer) is logged and never ends the
    /// server.
    pub fn run(self, factory: ReviewerFactory, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
        self.listener
            .set_nonblocking(true)
            .context("making the webhook listener non-blocking")?;
        let active = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            tls: self.tls,
            max_body_bytes: self.config.max_body_bytes,
            request_timeout: self.config.request_timeout,
            idle_timeout: self.config.idle_timeout,
            factory,
            stop: Arc::clone(&stop),
        });
        while !stop.load(Ordering::SeqCst) {
            match self.listener.accept() {
                Ok((sock, peer)) => {
                    let accepted = Instant::now();
                    let open = active.load(Ordering::SeqCst);
                    if open >= self.config.max_connections {
                        log(
                            peer,
                            format_args!(
                                "refused: {open} connections open (max_connections {})",
                                self.config.max_connections
                            ),
                        );
                        drop(sock);
                        continue;
                    }
                    active.fetch_add(1, Ordering::SeqCst);
                    let guard = ActiveGuard(Arc::clone(&active));
                    let shared = Arc::clone(&shared);
                    let spawned = thread::Builder::new()
                        .name("webhook-conn".to_owned())
                        .stack_size(WORKER_STACK)
                        .spawn(move || {
                            let _guard = guard;
                            serve_connection(sock, peer, accepted, &shared);
                        });
                    if let Err(e) = spawned {
                        // The closure (socket and guard) is dropped with the error.
                        log(peer, format_args!("cannot start a connection thread: {e}"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // EMFILE, ENOBUFS, …: transient; back off instead of spinning.
                    eprintln!("caisson webhook: accept failed: {e}");
                    thread::sleep(POLL);
                }
            }
        }
        drop(self.listener);
        let grace = self.config.request_timeout + ERROR_WRITE_TIMEOUT + LINGER + POLL * 5;
        let until = Instant::now() + grace;
        while active.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            thread::sleep(ACCEPT_POLL);
        }
        Ok(())
    }
}

/// Reads the PEM certificate chain and key into a rustls server configuration
/// (aws-lc-rs provider, TLS 1.2 and 1.3, ALPN `http/1.1`).
fn tls_server_config(cert_pem: &Path, key_pem: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let cert_bytes = fs::read(cert_pem)
        .with_context(|| format!("reading the webhook certificate {}", cert_pem.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| {
            format!(
                "parsing the webhook certificate {} (PEM)",
                cert_pem.display()
            )
        })?;
    if chain.is_empty() {
        bail!(
            "the webhook certificate file {} holds no PEM CERTIFICATE",
            cert_pem.display()
        );
    }
    let key_bytes = fs::read(key_pem)
        .with_context(|| format!("reading the webhook private key {}", key_pem.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        anyhow::anyhow!(
            "the webhook private key file {} holds no usable PEM private key \
             (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY): {e:?}",
            key_pem.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("configuring TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "the webhook certificate {} and key {} are unusable together",
                cert_pem.display(),
                key_pem.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What every connection thread shares.
struct Shared {
    tls: Arc<ServerConfig>,
    max_body_bytes: usize,
    request_timeout: Duration,
    idle_timeout: Duration,
    factory: ReviewerFactory,
    stop: Arc<AtomicBool>,
}

/// Counts a connection as open for as long as it lives.
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn log(peer: SocketAddr, message: fmt::Arguments<'_>) {
    eprintln!("caisson webhook: {peer}: {message}");
}

/// Outcome of waiting for more plaintext.
enum Fill {
    /// Some bytes were appended to the buffer.
    Got,
    /// The client closed the connection.
    Eof,
    /// The deadline passed.
    Deadline,
    /// The server is stopping (only looked at when the caller asked for it).
    Stop,
}

/// What to do with the connection after a response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    KeepAlive,
    /// Close; `linger`: the client may still be sending (unread body), drain it first.
    Close {
        linger: bool,
    },
}

/// One HTTP response.
struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    allow: Option<&'static str>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            allow: None,
        }
    }

    fn error(status: u16, message: impl fmt::Display) -> Response {
        Response::json(status, &json!({ "error": message.to_string() }))
    }

    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
            allow: None,
        }
    }

    fn method_not_allowed(method: &str, allow: &'static str) -> Response {
        let mut response = Response::error(
            405,
            format_args!(
                "method {} not allowed here (allowed: {allow})",
                clip(method, 64)
            ),
        );
        response.allow = Some(allow);
        response
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// The parts of a request head the server looks at.
struct Head {
    method: String,
    path: String,
    http10: bool,
    content_length: Option<u64>,
    transfer_encoding: bool,
    content_type: Option<String>,
    expect_continue: bool,
    connection_close: bool,
    connection_keep_alive: bool,
}

/// Parses the head in `buf`: `Ok(None)` when incomplete, `Ok(Some((head, len)))`
/// when complete, `Err(response)` when it must be refused.
fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, Response> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEADER_BYTES {
                return Err(Response::error(
                    431,
                    format_args!("request head larger than {MAX_HEADER_BYTES} bytes"),
                ));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Response::error(
                431,
                format_args!("more than {MAX_HEADERS} header fields"),
            ))
        }
        Err(e) => {
            return Err(Response::error(
                400,
                format_args!("malformed HTTP request: {e}"),
            ))
        }
    };
    if len > MAX_HEADER_BYTES {
        return Err(Response::error(
            431,
            format_args!("request head larger than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    let mut head = Head {
        method: request.method.unwrap_or_default().to_owned(),
        path: request.path.unwrap_or_default().to_owned(),
        http10: request.version == Some(0),
        content_length: None,
        transfer_encoding: false,
        content_type: None,
        expect_continue: false,
        connection_close: false,
        connection_keep_alive: false,
    };
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).map(str::trim);
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .ok()
                .and_then(parse_content_length)
                .ok_or_else(|| Response::error(400, "invalid Content-Length"))?;
            if head.content_length.is_some_and(|seen| seen != length) {
                return Err(Response::error(400, "conflicting Content-Length headers"));
            }
            head.content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(String::from_utf8_lossy(header.value).trim().to_owned());
        } else if name.eq_ignore_ascii_case("expect") {
            if value.is_ok_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                head.expect_continue = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in String::from_utf8_lossy(header.value).split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    head.connection_close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.connection_keep_alive = true;
                }
            }
        }
    }
    Ok(Some((head, len)))
}

/// A `Content-Length` value: ASCII digits only; absurdly large values saturate (and
/// are then refused as too large).
fn parse_content_length(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse::<u64>().unwrap_or(u64::MAX))
}

/// `Content-Type` is `application/json`, parameters (charset) aside.
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

enum Route {
    Health,
    Validate,
    NotFound,
}

fn route(target: &str) -> Route {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    match path {
        "/healthz" | "/readyz" | "/livez" => Route::Health,
        "" | "/" | "/validate" => Route::Validate,
        _ if path.starts_with("/validate/") => Route::Validate,
        _ => Route::NotFound,
    }
}

/// Validates an `AdmissionReview` body, asks the reviewer and builds the response.
/// `reviewer` is made from `factory` when empty, and emptied when it panicked.
fn admission_response(
    body: &[u8],
    reviewer: &mut Option<Box<dyn Reviewer>>,
    factory: &ReviewerFactory,
) -> Response {
    let review: Value = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(e) => return Response::error(400, format_args!("malformed AdmissionReview: {e}")),
    };
    let Some(review) = review.as_object() else {
        return Response::error(
            400,
            format_args!(
                "malformed AdmissionReview: expected a JSON object, got {}",
                json_type(&review)
            ),
        );
    };
    for (field, expected) in [("apiVersion", API_VERSION), ("kind", KIND)] {
        match review.get(field) {
            Some(Value::String(got)) if got == expected => {}
            Some(Value::String(got)) => {
                return Response::error(
                    400,
                    format_args!(
                        "unsupported {field} {:?}: expected {expected:?}",
                        clip(got, 100)
                    ),
                )
            }
            Some(other) => {
                return Response::error(
                    400,
                    format_args!(
                        "{field} must be the string {expected:?}, got {}",
                        json_type(other)
                    ),
                )
            }
            None => {
                return Response::error(400, format_args!("missing {field}: expected {expected:?}"))
            }
        }
    }
    let request = match review.get("request") {
        Some(request @ Value::Object(_)) => request,
        Some(other) => {
            return Response::error(
                400,
                format_args!("request must be an object, got {}", json_type(other)),
            )
        }
        None => return Response::error(400, "missing request in AdmissionReview"),
    };
    let uid = match request.get("uid") {
        Some(Value::String(uid)) if !uid.is_empty() => uid.clone(),
        Some(Value::String(_)) => return Response::error(400, "request.uid is empty"),
        Some(other) => {
            return Response::error(
                400,
                format_args!("request.uid must be a string, got {}", json_type(other)),
            )
        }
        None => return Response::error(400, "missing request.uid"),
    };

    if reviewer.is_none() {
        match panic::catch_unwind(AssertUnwindSafe(|| factory())) {
            Ok(made) => *reviewer = Some(made),
            Err(payload) => {
                return Response::error(
                    500,
                    format_args!(
                        "creating the reviewer panicked: {}",
                        clip(panic_message(&*payload), 1000)
                    ),
                )
            }
        }
    }
    let Some(current) = reviewer.as_mut() else {
        return Response::error(500, "no reviewer");
    };
    let verdict = match panic::catch_unwind(AssertUnwindSafe(|| current.review(request))) {
        Ok(verdict) => verdict,
        Err(payload) => {
            // Its state may be half-updated: start over with a new one.
            *reviewer = None;
            return Response::error(
                500,
                format_args!(
                    "reviewer panicked on request {}: {}",
                    clip(&uid, 100),
                    clip(panic_message(&*payload), 1000)
                ),
            );
        }
    };
    Response::json(200, &review_response(uid, verdict))
}

/// The `AdmissionReview` answering request `uid` with `verdict`.
fn review_response(uid: String, verdict: Verdict) -> Value {
    let mut response = Map::new();
    response.insert("uid".to_owned(), Value::String(uid));
    response.insert("allowed".to_owned(), Value::Bool(verdict.allowed));
    if !verdict.allowed || verdict.message.is_some() {
        let code = verdict
            .code
            .unwrap_or(if verdict.allowed { 200 } else { 403 });
        let mut status = Map::new();
        status.insert("code".to_owned(), Value::from(code));
        if let Some(message) = verdict.message {
            status.insert("message".to_owned(), Value::String(message));
        }
        response.insert("status".to_owned(), Value::Object(status));
    }
    if !verdict.warnings.is_empty() {
        response.insert(
            "warnings".to_owned(),
            Value::Array(verdict.warnings.into_iter().map(Value::String).collect()),
        );
    }
    json!({ "apiVersion": API_VERSION, "kind": KIND, "response": response })
}

/// `text`, cut to `max` characters (client-controlled text in messages and logs).
fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()).into(),
        None => text.into(),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

/// Time left until `deadline`, at most [`POLL`] and never zero (a zero socket timeout
/// means "block forever").
fn slice_until(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .min(POLL)
        .max(Duration::from_millis(1))
}

fn is_retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// One TLS connection and its unconsumed plaintext.
struct Connection {
    stream: StreamOwned<ServerConnection, TcpStream>,
    peer: SocketAddr,
    buf: Vec<u8>,
}

impl Connection {
    fn set_timeouts(&self, slice: Duration) -> io::Result<()> {
        self.stream.sock.set_read_timeout(Some(slice))?;
        self.stream.sock.set_write_timeout(Some(slice))
    }

    /// Reads more plaintext into `buf` (driving the TLS handshake first if needed).
    fn fill(&mut self, deadline: Instant, stop: Option<&AtomicBool>) -> io::Result<Fill> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if Instant::now() >= deadline {
                return Ok(Fill::Deadline);
            }
            if stop.is_some_and(|stop| stop.load(Ordering::SeqCst)) {
                return Ok(Fill::Stop);
            }
            self.set_timeouts(slice_until(deadline))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(Fill::Eof),
                Ok(n) => {
                    self.buf
                        .extend_from_slice(chunk.get(..n).unwrap_or_default());
                    return Ok(Fill::Got);
                }
                Err(e) if is_retryable(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Fill::Eof),
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes and flushes `data` through TLS before `deadline` (only once the
    /// handshake is done: the caller has read a request by then).
    fn write_all(&mut self, mut data: &[u8], deadline: Instant) -> io::Result<()> {
        while !data.is_empty() {
            // Into rustls (up to its buffer limit), then out to the socket.
            let n = self.stream.conn.writer().write(data)?;
            if n == 0 && !self.stream.conn.wants_write() {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = data.get(n..).unwrap_or_default();
            self.flush(deadline)?;
        }
        Ok(())
    }

    /// Sends the TLS records rustls has queued, before `deadline`. Never reads (unlike
    /// `StreamOwned::flush`, which would drive an unfinished handshake).
    fn flush(&mut self, deadline: Instant) -> io::Result<()> {
        while self.stream.conn.wants_write() {
            if Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.set_timeouts(slice_until(deadline))?;
            match self.stream.conn.write_tls(&mut self.stream.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if is_retryable(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn respond(
        &mut self,
        response: &Response,
        head_only: bool,
        close: bool,
        write_timeout: Duration,
    ) -> io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            response.status,
            reason(response.status),
            response.content_type,
            response.body.len()
        );
        if let Some(allow) = response.allow {
            out.push_str("Allow: ");
            out.push_str(allow);
            out.push_str("\r\n");
        }
        out.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&response.body);
        }
        self.write_all(&bytes, Instant::now() + write_timeout)
    }

    /// Answers with an error and reports that the connection must be closed.
    fn refuse(&mut self, response: &Response, linger: bool) -> Next {
        log(
            self.peer,
            format_args!(
                "{} {}: {}",
                response.status,
                reason(response.status),
                String::from_utf8_lossy(&response.body)
            ),
        );
        if let Err(e) = self.respond(response, false, true, ERROR_WRITE_TIMEOUT) {
            log(self.peer, format_args!("writing the error response: {e}"));
        }
        Next::Close { linger }
    }

    /// Sends close_notify, shuts the socket down for writing and, with `linger`,
    /// reads and discards what the client still sends for a moment, so that it gets
    /// to read our response instead of a reset.
    fn close(mut self, linger: bool) {
        if !self.stream.conn.is_handshaking() {
            self.stream.conn.send_close_notify();
        }
        let _ = self.flush(Instant::now() + ERROR_WRITE_TIMEOUT);
        let sock = &mut self.stream.sock;
        let _ = sock.shutdown(Shutdown::Write);
        if !linger {
            return;
        }
        let until = Instant::now() + LINGER;
        let mut chunk = [0u8; READ_CHUNK];
        while Instant::now() < until {
            if sock.set_read_timeout(Some(slice_until(until))).is_err() {
                return;
            }
            match sock.read(&mut chunk) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if is_retryable(&e) => {}
                Err(_) => return,
            }
        }
    }

    /// Serves one request whose first bytes are due by `deadline`.
    fn serve_one(
        &mut self,
        deadline: Instant,
        shared: &Shared,
        reviewer: &mut Option<Box<dyn Reviewer>>,
    ) -> Next {
        // The head.
        let (head, head_len) = loop {
            if !self.buf.is_empty() {
                match parse_head(&self.buf) {
                    Ok(Some(parsed)) => break parsed,
                    Ok(None) => {}
                    Err(response) => return self.refuse(&response, true),
                }
            }
            let waiting = self.buf.is_empty();
            match self.fill(deadline, waiting.then_some(&*shared.stop)) {
                Ok(Fill::Got) => {}
                Ok(Fill::Eof) => {
                    if !waiting {
                        log(
                            self.peer,
                            format_args!("connection closed in the middle of a request head"),
                        );
                    }
                    return Next::Close { linger: false };
                }
                Ok(Fill::Stop) => return Next::Close { linger: false },
                Ok(Fill::Deadline) if waiting => {
                    let what = if self.stream.conn.is_handshaking() {
                        "TLS handshake"
                    } else {
                        "request"
                    };
                    log(
                        self.peer,
                        format_args!("no {what} within {:?}: closing", shared.request_timeout),
                    );
                    return Next::Close { linger: false };
                }
                Ok(Fill::Deadline) => {
                    let response = Response::error(
                        408,
                        format_args!(
                            "request head not received within {:?}",
                            shared.request_timeout
                        ),
                    );
                    return self.refuse(&response, false);
                }
                Err(e) => {
                    log(self.peer, format_args!("reading the request: {e}"));
                    return Next::Close { linger: false };
                }
            }
        };
        self.buf.drain(..head_len);

        let body_len = head.content_length.unwrap_or(0);
        if head.transfer_encoding {
            let response = Response::error(
                411,
                "Transfer-Encoding is not supported: send the body with a Content-Length",
            );
            return self.refuse(&response, true);
        }
        let keep_alive = !head.connection_close
            && (!head.http10 || head.connection_keep_alive)
            && !shared.stop.load(Ordering::SeqCst);
        // Answers a request whose body is not used: keep the connection only when the
        // whole body is already buffered (then it is skipped).
        let answer_unread = |conn: &mut Connection, response: Response, head_only: bool| -> Next {
            let buffered = usize::try_from(body_len)
                .ok()
                .filter(|&len| len <= conn.buf.len());
            match buffered {
                Some(len) if keep_alive => {
                    conn.buf.drain(..len);
                    if response.status >= 400 {
                        log(
                            conn.peer,
                            format_args!(
                                "{} {} {}: {}",
                                clip(&head.method, 64),
                                clip(&head.path, 200),
                                response.status,
                                String::from_utf8_lossy(&response.body)
                            ),
                        );
                    }
                    match conn.respond(&response, head_only, false, shared.request_timeout) {
                        Ok(()) => Next::KeepAlive,
                        Err(e) => {
                            log(conn.peer, format_args!("writing the response: {e}"));
                            Next::Close { linger: false }
                        }
                    }
                }
                _ if response.status >= 400 => conn.refuse(&response, true),
                _ => match conn.respond(&response, head_only, true, shared.request_timeout) {
                    Ok(()) => Next::Close { linger: true },
                    Err(e) => {
                        log(conn.peer, format_args!("writing the response: {e}"));
                        Next::Close { linger: false }
                    }
                },
            }
        };

        match route(&head.path) {
            Route::NotFound => {
                let response =
                    Response::error(404, format_args!("no such path: {}", clip(&head.path, 200)));
                answer_unread(self, response, false)
            }
            Route::Health => match head.method.as_str() {
                "GET" => answer_unread(self, Response::text(200, "ok"), false),
                "HEAD" => answer_unread(self, Response::text(200, "ok"), true),
                other => answer_unread(
                    self,
                    Response::method_not_allowed(other, "GET, HEAD"),
                    false,
                ),
            },
            Route::Validate if head.method != "POST" => {
                let response = Response::method_not_allowed(&head.method, "POST");
                answer_unread(self, response, false)
            }
            Route::Validate => {
                if head.content_length.is_none() {
                    let response = Response::error(411, "Content-Length required");
                    return answer_unread(self, response, false);
                }
                let max = shared.max_body_bytes;
                let Some(body_len) = usize::try_from(body_len).ok().filter(|&len| len <= max)
                else {
                    let response = Response::error(
                        413,
                        format_args!(
                            "request body of {body_len} bytes exceeds the limit of {max} bytes"
                        ),
                    );
                    return self.refuse(&response, true);
                };
                if !is_json(head.content_type.as_deref()) {
                    let response = Response::error(
                        415,
                        format_args!(
                            "Content-Type must be application/json, got {}",
                            clip(head.content_type.as_deref().unwrap_or("none"), 100)
                        ),
                    );
                    return answer_unread(self, response, false);
                }
                if head.expect_continue && !head.http10 && self.buf.len() < body_len {
                    if let Err(e) = self.write_all(b"HTTP/1.1 100 Continue\r\n\r\n", deadline) {
                        log(self.peer, format_args!("writing 100 Continue: {e}"));
                        return Next::Close { linger: false };
                    }
                }
                while self.buf.len() < body_len {
                    match self.fill(deadline, None) {
                        Ok(Fill::Got) => {}
                        Ok(Fill::Eof | Fill::Stop) => {
                            log(
                                self.peer,
                                format_args!("connection closed in the middle of a request body"),
                            );
                            return Next::Close { linger: false };
                        }
                        Ok(Fill::Deadline) => {
                            let response = Response::error(
                                408,
                                format_args!(
                                    "request body not received within {:?} ({} of {body_len} bytes)",
                                    shared.request_timeout,
                                    self.buf.len()
                                ),
                            );
                            return self.refuse(&response, false);
                        }
                        Err(e) => {
                            log(self.peer, format_args!("reading the request body: {e}"));
                            return Next::Close { linger: false };
                        }
                    }
                }
                let rest = self.buf.split_off(body_len);
                let body = std::mem::replace(&mut self.buf, rest);
                let response = admission_response(&body, reviewer, &shared.factory);
                if response.status >= 400 {
                    log(
                        self.peer,
                        format_args!(
                            "POST {} {}: {}",
                            clip(&head.path, 200),
                            response.status,
                            String::from_utf8_lossy(&response.body)
                        ),
                    );
                }
                match self.respond(&response, false, !keep_alive, shared.request_timeout) {
                    Ok(()) if keep_alive => Next::KeepAlive,
                    // The client may have sent more (pipelined) before our answer.
                    Ok(()) => Next::Close { linger: true },
                    Err(e) => {
                        log(self.peer, format_args!("writing the response: {e}"));
                        Next::Close { linger: false }
                    }
                }
            }
        }
    }
}

/// Serves one accepted connection until it closes, times out or the server stops.
fn serve_connection(sock: TcpStream, peer: SocketAddr, accepted: Instant, shared: &Shared) {
    let setup = sock
        .set_nonblocking(false)
        .and_then(|()| sock.set_nodelay(true));
    if let Err(e) = setup {
        log(peer, format_args!("configuring the socket: {e}"));
        return;
    }
    let tls = match ServerConnection::new(Arc::clone(&shared.tls)) {
        Ok(tls) => tls,
        Err(e) => {
            log(peer, format_args!("starting TLS: {e}"));
            return;
        }
    };
    let mut conn = Connection {
        stream: StreamOwned::new(tls, sock),
        peer,
        buf: Vec::new(),
    };
    let mut reviewer: Option<Box<dyn Reviewer>> = None;
    // The first request's clock started at accept: it covers the TLS handshake.
    let mut deadline = accepted + shared.request_timeout;
    loop {
        match conn.serve_one(deadline, shared, &mut reviewer) {
            Next::KeepAlive => {}
            Next::Close { linger } => return conn.close(linger),
        }
        if conn.buf.is_empty() {
            // Idle until the next request starts (or the server stops).
            match conn.fill(Instant::now() + shared.idle_timeout, Some(&*shared.stop)) {
                Ok(Fill::Got) => {}
                Ok(Fill::Eof) => return conn.close(false),
                Ok(Fill::Deadline | Fill::Stop) => return conn.close(false),
                Err(e) => {
                    log(peer, format_args!("reading: {e}"));
                    return conn.close(false);
                }
            }
        }
        deadline = Instant::now() + shared.request_timeout;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factory() -> ReviewerFactory {
        Arc::new(|| {
            Box::new(|request: &Value| {
                if request["object"]["metadata"]["name"] == "panic" {
                    panic!("asked to");
                }
                if request["object"]["spec"]["hostNetwork"] == true {
                    Verdict::deny("no hostNetwork").with_warning("w")
                } else {
                    Verdict::allow()
                }
            })
        })
    }

    fn review(body: &str) -> (u16, Value) {
        let mut reviewer = None;
        let response = admission_response(body.as_bytes(), &mut reviewer, &factory());
        let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        (response.status, value)
    }

    #[test]
    fn allowed_and_denied() {
        let (status, body) = review(
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","object":{}}}"#,
        );
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"apiVersion":API_VERSION,"kind":KIND,"response":{"uid":"u1","allowed":true}})
        );
        let (status, body) = review(
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u2","object":{"spec":{"hostNetwork":true}}}}"#,
        );
        assert_eq!(status, 200);
        assert_eq!(
            body["response"],
            json!({"uid":"u2","allowed":false,"status":{"code":403,"message":"no hostNetwork"},"warnings":["w"]})
        );
    }

    #[test]
    fn malformed_reviews_name_the_problem() {
        let cases = [
            ("{]", "malformed AdmissionReview: "),
            ("[]", "expected a JSON object, got an array"),
            (r#"{"kind":"AdmissionReview"}"#, "missing apiVersion"),
            (
                r#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#,
                r#"unsupported apiVersion "admission.k8s.io/v1beta1""#,
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#,
                r#"unsupported kind "Pod""#,
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
                "missing request",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}"#,
                "missing request.uid",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}"#,
                "request.uid must be a string, got a number",
            ),
        ];
        for (body, expected) in cases {
            let (status, value) = review(body);
            assert_eq!(status, 400, "{body}");
            let error = value["error"].as_str().unwrap_or_default();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }

    #[test]
    fn panicking_reviewer_is_replaced() {
        let f = factory();
        let mut reviewer = None;
        let response = admission_response(
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"p","object":{"metadata":{"name":"panic"}}}}"#,
            &mut reviewer,
            &f,
        );
        assert_eq!(response.status, 500);
        assert!(reviewer.is_none());
        let response = admission_response(
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"q"}}"#,
            &mut reviewer,
            &f,
        );
        assert_eq!(response.status, 200);
        assert!(reviewer.is_some());
    }

    #[test]
    fn heads() {
        let raw: &[u8] = b"POST /validate?timeout=10s HTTP/1.1\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 12\r\nConnection: Keep-Alive, close\r\n\r\nbody";
        let Ok(Some((head, len))) = parse_head(raw) else {
            panic!("head not parsed");
        };
        assert_eq!(len, raw.len() - 4);
        assert_eq!(head.content_length, Some(12));
        assert!(head.connection_close && head.connection_keep_alive);
        assert!(is_json(head.content_type.as_deref()));
        assert!(matches!(route(&head.path), Route::Validate));
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            Ok(None)
        ));
        let conflicting =
            parse_head(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert!(matches!(conflicting, Err(Response { status: 400, .. })));
        let signed = parse_head(b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n");
        assert!(matches!(signed, Err(Response { status: 400, .. })));
        let huge =
            parse_head(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert!(matches!(
            huge,
            Ok(Some((
                Head {
                    content_length: Some(u64::MAX),
                    ..
                },
                _
            )))
        ));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse_head(&many),
            Err(Response { status: 431, .. })
        ));
        assert!(matches!(
            parse_head(&vec![b'a'; MAX_HEADER_BYTES + 1]),
            Err(Response {
                status: 400 | 431,
                ..
            })
        ));
        assert!(matches!(route("/healthz"), Route::Health));
        assert!(matches!(route("/validate/pods"), Route::Validate));
        assert!(matches!(route("/validatex"), Route::NotFound));
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("ééé", 2), "éé…");
    }
}
