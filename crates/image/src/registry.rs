//! The OCI distribution client of `caisson pull` / `caisson push`.
//!
//! Everything a registry sends is hostile input until verified:
//! - manifests are fetched as raw bytes and hashed here; a pull by digest refuses
//!   bytes that hash differently ("manifest digest mismatch"), an index entry is
//!   verified against its descriptor the same way;
//! - manifests and configs are parsed with the oci-spec types and refused when a
//!   field is absurd (sizes above [`MAX_BLOB_SIZE`], more than [`MAX_LAYERS`] layers,
//!   unknown layer media types, a config whose `rootfs.diff_ids` does not match the
//!   layers), naming the field;
//! - every blob is streamed into [`Store::blob_writer`] with the descriptor's digest
//!   and size, so nothing unverified becomes visible; a `Content-Length` that
//!   disagrees with the descriptor is refused before any byte is written;
//! - descriptor `urls` (foreign layers) are never followed: blobs come from the
//!   registry named by the reference only;
//! - plain HTTP is used only for loopback registries (as Docker) and ones the caller
//!   marked insecure; everything else is HTTPS with the system roots, never
//!   downgraded.
//!
//! Downloads are concurrent, resumable (a `.partial` left in the store's temp area
//! is continued with an HTTP `Range` request) and retried with exponential backoff
//! on network errors and 5xx answers; a digest or size mismatch is not retried.
//! A per-blob lock file in the temp area keeps two pulls (in one process or
//! several) from writing the same partial file.

use std::collections::HashSet;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError};
use oci_client::manifest::{
    IMAGE_CONFIG_MEDIA_TYPE, IMAGE_DOCKER_CONFIG_MEDIA_TYPE, IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::Client;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use crate::reference::{is_loopback, split_host_port, ImageRef};
use crate::store::MAX_METADATA_BLOB;
use crate::{auth, Digest, ImageError, Result, Store};

/// Largest layer accepted (64 GiB).
pub const MAX_BLOB_SIZE: u64 = 64 << 30;
/// Most layers accepted in one manifest.
pub const MAX_LAYERS: usize = 1000;
/// Most entries accepted in one image index.
pub const MAX_INDEX_ENTRIES: usize = 1000;

/// Manifest media types asked for (and accepted) when fetching a manifest.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// Layer media types a manifest may use.
pub const LAYER_MEDIA_TYPES: [&str; 5] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
];

const FOREIGN_LAYER_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

const USER_AGENT: &str = concat!("caisson/", env!("CARGO_PKG_VERSION"));
/// Bytes per upload chunk (one PATCH each).
const UPLOAD_CHUNK: usize = 4 << 20;

/// Options of [`pull`] and [`push`].
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Registries (`host[:port]`, or a host for any port) allowed over plain HTTP;
    /// loopback registries always are.
    pub insecure: Vec<String>,
    /// `os/arch[/variant]` picked from an image index; default: the host's.
    pub platform: Option<String>,
    /// Show progress bars on stderr (only when it is a terminal).
    pub progress: bool,
    /// Blobs transferred at once (default 4).
    pub max_concurrent: usize,
    /// Retries of a request after a network error or a 5xx answer (default 3).
    pub retries: u32,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            insecure: Vec::new(),
            platform: None,
            progress: false,
            max_concurrent: 4,
            retries: 3,
        }
    }
}

/// What [`pull`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The canonical reference pulled (`registry/repository[:tag][@digest]`).
    pub name: String,
    /// The (platform) image manifest, as stored and as the refs point at it.
    pub manifest_digest: Digest,
    /// The image config.
    pub config_digest: Digest,
    /// Layers in manifest order: digest, media type, size.
    pub layers: Vec<(Digest, String, u64)>,
    /// The config's `rootfs.diff_ids` (one per layer).
    pub diff_ids: Vec<Digest>,
    /// The index (manifest list) the platform manifest was picked from, if any.
    pub index_digest: Option<Digest>,
}

/// A platform `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// GOOS spelling (`linux`).
    pub os: String,
    /// GOARCH spelling (`amd64`, `arm64`).
    pub architecture: String,
    /// CPU variant (`v8`, `v7`), if any.
    pub variant: Option<String>,
}

impl Platform {
    /// Parse `os/arch[/variant]`.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = (2..=3).contains(&parts.len())
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            });
        if !ok {
            return Err(ImageError::Invalid {
                what: format!("platform {s:?}"),
                message: "expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8".into(),
            });
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    /// The platform this process runs on.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    fn matches(&self, os: &str, arch: &str, variant: Option<&str>, exact: bool) -> bool {
        if self.os != os || self.architecture != arch {
            return false;
        }
        match (&self.variant, variant) {
            (Some(w), Some(v)) => w == v,
            // arm64 without a variant is v8
            (Some(w), None) => !exact || (arch == "arm64" && w == "v8"),
            (None, v) => !exact || v.is_none_or(|v| v.is_empty() || (arch == "arm64" && v == "v8")),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The scheme used for `registry`: `http` for loopback registries and ones listed in
/// `insecure` (`host:port`, or `host` for any port), `https` for every other one.
pub fn registry_scheme(registry: &str, insecure: &[String]) -> &'static str {
    if plain_http_allowed(registry, insecure) {
        "http"
    } else {
        "https"
    }
}

fn plain_http_allowed(registry: &str, insecure: &[String]) -> bool {
    if is_loopback(registry) {
        return true;
    }
    let host = split_host_port(registry).map_or(registry, |(h, _)| h);
    insecure.iter().any(|e| {
        let e = e
            .strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"))
            .unwrap_or(e)
            .trim_end_matches('/');
        e.eq_ignore_ascii_case(registry)
            || (split_host_port(e).is_none() && e.eq_ignore_ascii_case(host))
    })
}

/// Split an optional `http://` / `https://` prefix off a reference: `http://` asks
/// for plain HTTP (refused unless the registry is loopback or insecure), `https://`
/// forces TLS even for a loopback registry.
fn split_scheme(reference: &str) -> (Option<&'static str>, &str) {
    if let Some(r) = reference.strip_prefix("http://") {
        (Some("http"), r)
    } else if let Some(r) = reference.strip_prefix("https://") {
        (Some("https"), r)
    } else {
        (None, reference)
    }
}

// ───────────── manifests ─────────────

/// A verified descriptor of a blob to fetch or push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// A parsed manifest document.
#[derive(Debug)]
pub enum ManifestKind {
    /// An image manifest (OCI or Docker schema 2) and its media type.
    Image(Box<ImageManifest>, String),
    /// An image index / Docker manifest list and its media type.
    Index(Box<ImageIndex>, String),
}

/// Parse raw manifest bytes (`what` names the manifest in errors): schema version 2,
/// a known media type, no document that is both an index and a manifest; fields
/// that fail to parse are named by their JSON path.
pub fn parse_manifest(what: &str, raw: &[u8]) -> Result<ManifestKind> {
    let bad = |m: String| ImageError::Invalid {
        what: what.to_string(),
        message: m,
    };
    if raw.len() as u64 > MAX_METADATA_BLOB {
        return Err(bad(format!(
            "{} bytes, more than the {MAX_METADATA_BLOB} accepted for a manifest",
            raw.len()
        )));
    }
    let v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    match obj.get("schemaVersion") {
        Some(n) if n.as_u64() == Some(2) => {}
        Some(n) if n.as_u64() == Some(1) => {
            return Err(bad(
                "schemaVersion: Docker schema 1 manifests are not supported".into(),
            ))
        }
        Some(n) => return Err(bad(format!("schemaVersion: {n} is not 2"))),
        None => return Err(bad("schemaVersion: missing".into())),
    }
    let media_type = match obj.get("mediaType") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(bad("mediaType: not a string".into())),
    };
    let has_manifests = obj.contains_key("manifests");
    let has_image = obj.contains_key("config") || obj.contains_key("layers");
    let is_index = match media_type {
        Some(OCI_IMAGE_MEDIA_TYPE | IMAGE_MANIFEST_MEDIA_TYPE) => false,
        Some(OCI_IMAGE_INDEX_MEDIA_TYPE | IMAGE_MANIFEST_LIST_MEDIA_TYPE) => true,
        Some(other) => {
            return Err(bad(format!(
                "mediaType: unsupported manifest media type {other:?}"
            )))
        }
        None if has_manifests => true,
        None if has_image => false,
        None => {
            return Err(bad(
                "neither an image manifest (config, layers) nor an index (manifests)".into(),
            ))
        }
    };
    if has_manifests && has_image {
        return Err(bad(
            "has both \"manifests\" and \"config\"/\"layers\": ambiguous, refused".into(),
        ));
    }
    let field_err = |e: serde_path_to_error::Error<serde_json::Error>| {
        bad(format!("field {}: {}", e.path(), e.inner()))
    };
    if is_index {
        let mt = media_type.unwrap_or(OCI_IMAGE_INDEX_MEDIA_TYPE).to_string();
        let ix: ImageIndex =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(raw))
                .map_err(field_err)?;
        Ok(ManifestKind::Index(Box::new(ix), mt))
    } else {
        let mt = media_type.unwrap_or(OCI_IMAGE_MEDIA_TYPE).to_string();
        let m: ImageManifest =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(raw))
                .map_err(field_err)?;
        Ok(ManifestKind::Image(Box::new(m), mt))
    }
}

/// The verified config and layer descriptors of an image manifest; refuses absurd
/// fields, naming them.
pub fn validate_image_manifest(what: &str, m: &ImageManifest) -> Result<(BlobRef, Vec<BlobRef>)> {
    let bad = |field: String, m: String| ImageError::Invalid {
        what: format!("{what}: {field}"),
        message: m,
    };
    let c = m.config();
    let cmt = c.media_type().to_string();
    if cmt != IMAGE_CONFIG_MEDIA_TYPE && cmt != IMAGE_DOCKER_CONFIG_MEDIA_TYPE {
        return Err(bad(
            "config.mediaType".into(),
            format!("{cmt:?} is not a container image config (an OCI artifact?)"),
        ));
    }
    let config = descriptor(c, "config", MAX_METADATA_BLOB).map_err(|(f, msg)| bad(f, msg))?;
    if m.layers().len() > MAX_LAYERS {
        return Err(bad(
            "layers".into(),
            format!(
                "{} entries, more than the {MAX_LAYERS} accepted",
                m.layers().len()
            ),
        ));
    }
    let mut layers = Vec::with_capacity(m.layers().len());
    for (i, l) in m.layers().iter().enumerate() {
        let mt = l.media_type().to_string();
        if FOREIGN_LAYER_MEDIA_TYPES.contains(&mt.as_str()) {
            return Err(bad(
                format!("layers[{i}].mediaType"),
                format!("{mt:?}: non-distributable (foreign) layers are not supported"),
            ));
        }
        if !LAYER_MEDIA_TYPES.contains(&mt.as_str()) {
            return Err(bad(
                format!("layers[{i}].mediaType"),
                format!("unknown layer media type {mt:?}"),
            ));
        }
        layers.push(
            descriptor(l, &format!("layers[{i}]"), MAX_BLOB_SIZE)
                .map_err(|(f, msg)| bad(f, msg))?,
        );
    }
    Ok((config, layers))
}

fn descriptor(
    d: &Descriptor,
    field: &str,
    max: u64,
) -> std::result::Result<BlobRef, (String, String)> {
    let digest: Digest = d.digest().to_string().parse().map_err(|_| {
        (
            format!("{field}.digest"),
            format!("{:?} is not a sha256/sha512 digest", d.digest().to_string()),
        )
    })?;
    if d.size() > max {
        return Err((
            format!("{field}.size"),
            format!("{} bytes, more than the {max} accepted", d.size()),
        ));
    }
    Ok(BlobRef {
        digest,
        size: d.size(),
        media_type: d.media_type().to_string(),
    })
}

/// Pick the manifest for `platform` from an index; the error lists the platforms
/// available.
pub fn select_platform(what: &str, ix: &ImageIndex, platform: &Platform) -> Result<BlobRef> {
    if ix.manifests().len() > MAX_INDEX_ENTRIES {
        return Err(ImageError::Invalid {
            what: format!("{what}: manifests"),
            message: format!(
                "{} entries, more than the {MAX_INDEX_ENTRIES} accepted",
                ix.manifests().len()
            ),
        });
    }
    let mut candidates = Vec::new();
    for (i, d) in ix.manifests().iter().enumerate() {
        let mt = d.media_type().to_string();
        if mt != OCI_IMAGE_MEDIA_TYPE && mt != IMAGE_MANIFEST_MEDIA_TYPE {
            continue; // nested indexes, artifacts
        }
        let Some(p) = d.platform() else { continue };
        let (os, arch) = (p.os().to_string(), p.architecture().to_string());
        candidates.push((i, os, arch, p.variant().clone()));
    }
    for exact in [true, false] {
        if let Some((i, ..)) = candidates
            .iter()
            .find(|(_, os, arch, v)| platform.matches(os, arch, v.as_deref(), exact))
        {
            let d = &ix.manifests()[*i];
            return descriptor(d, &format!("manifests[{i}]"), MAX_METADATA_BLOB).map_err(
                |(f, m)| ImageError::Invalid {
                    what: format!("{what}: {f}"),
                    message: m,
                },
            );
        }
    }
    let available: Vec<String> = candidates
        .iter()
        .map(|(_, os, arch, v)| match v {
            Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
            _ => format!("{os}/{arch}"),
        })
        .collect();
    Err(ImageError::NotFound(format!(
        "{what} has no image for platform {platform}; available: {}",
        if available.is_empty() {
            "none".to_string()
        } else {
            available.join(", ")
        }
    )))
}

/// Check an image config against its manifest: parsed with the oci-spec type,
/// `rootfs.type` is `layers`, one valid `rootfs.diff_ids` entry per layer.
pub fn validate_config(what: &str, raw: &[u8], layers: usize) -> Result<Vec<Digest>> {
    let bad = |field: &str, m: String| ImageError::Invalid {
        what: if field.is_empty() {
            what.to_string()
        } else {
            format!("{what}: {field}")
        },
        message: m,
    };
    let c: ImageConfiguration =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(raw))
            .map_err(|e| bad("", format!("field {}: {}", e.path(), e.inner())))?;
    if c.rootfs().typ() != "layers" {
        return Err(bad(
            "rootfs.type",
            format!("{:?} is not \"layers\"", c.rootfs().typ()),
        ));
    }
    let ids = c.rootfs().diff_ids();
    if ids.len() != layers {
        return Err(bad(
            "rootfs.diff_ids",
            format!("{} entries but the manifest has {layers} layers", ids.len()),
        ));
    }
    ids.iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse().map_err(|_| {
                bad(
                    &format!("rootfs.diff_ids[{i}]"),
                    format!("{s:?} is not a sha256/sha512 digest"),
                )
            })
        })
        .collect()
}

// ───────────── the client ─────────────

/// Why one attempt failed.
enum Attempt {
    /// A network error or a 5xx answer: worth another try.
    Retry(String),
    /// The content does not match its descriptor (digest, size).
    Content { err: ImageError, resumed: bool },
    /// Anything else: give up.
    Fatal(ImageError),
}

struct Session<'a> {
    store: &'a Store,
    registry: String,
    scheme: &'static str,
    image: ImageRef,
    oref: oci_client::Reference,
    client: Client,
    auth: RegistryAuth,
    retries: u32,
    progress: Option<MultiProgress>,
}

impl<'a> Session<'a> {
    async fn new(store: &'a Store, reference: &str, opts: &PullOptions) -> Result<Session<'a>> {
        let (scheme_req, rest) = split_scheme(reference);
        let image = ImageRef::parse(rest)?;
        let registry = image.registry.clone();
        let allowed = plain_http_allowed(&registry, &opts.insecure)
            || plain_http_allowed(image.api_registry(), &opts.insecure);
        let scheme = match scheme_req {
            Some("http") if !allowed => {
                return Err(ImageError::Registry {
                    message: format!(
                        "plain HTTP refused: {registry} is neither a loopback registry nor marked insecure; \
                         if you trust the network to it, mark it insecure (--insecure-registry {registry})"
                    ),
                    registry,
                })
            }
            Some(s) => s,
            None if allowed => "http",
            None => "https",
        };
        let protocol = if scheme == "http" {
            ClientProtocol::HttpsExcept(vec![registry.clone(), image.api_registry().to_string()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            platform_resolver: None,
            max_concurrent_upload: opts.max_concurrent.max(1),
            max_concurrent_download: opts.max_concurrent.max(1),
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: USER_AGENT,
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| ImageError::Registry {
            registry: registry.clone(),
            message: format!("cannot set up the HTTP client: {e}"),
        })?;
        let auth = {
            let r = registry.clone();
            blocking(move || auth::credentials_for(&r)).await?
        };
        let oref = image.to_oci();
        client
            .store_auth_if_needed(oref.resolve_registry(), &auth)
            .await;
        let progress = (opts.progress && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Ok(Session {
            store,
            registry,
            scheme,
            image,
            oref,
            client,
            auth,
            retries: opts.retries,
            progress,
        })
    }

    fn err(&self, message: String) -> ImageError {
        ImageError::Registry {
            registry: self.registry.clone(),
            message,
        }
    }

    /// Readable message and retry decision for a client error while `what`.
    fn classify(&self, e: OciDistributionError, what: &str) -> Attempt {
        let hint = if self.scheme == "https" {
            format!(
                " (if {r} serves plain HTTP only and you trust the network, mark it insecure: --insecure-registry {r})",
                r = self.registry
            )
        } else {
            String::new()
        };
        match e {
            OciDistributionError::RequestError(re) => {
                let chain = error_chain(&re);
                if re.is_connect() {
                    Attempt::Retry(format!("{what}: cannot connect: {chain}{hint}"))
                } else if re.is_timeout() || re.is_body() || re.is_decode() || re.is_request() {
                    Attempt::Retry(format!("{what}: {chain}"))
                } else {
                    Attempt::Fatal(self.err(format!("{what}: {chain}")))
                }
            }
            OciDistributionError::IoError(io) => Attempt::Retry(format!("{what}: {}", error_chain(&io))),
            OciDistributionError::ServerError { code, url, message } => {
                let msg = format!(
                    "{what}: HTTP {code}{} from {url}{}",
                    status_reason(code),
                    short_body(&message)
                );
                if code >= 500 || code == 408 || code == 429 {
                    Attempt::Retry(msg)
                } else {
                    Attempt::Fatal(self.err(msg))
                }
            }
            OciDistributionError::RegistryError { envelope, url } => {
                let errs: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|e| {
                        let code = serde_json::to_value(&e.code)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_else(|| format!("{:?}", e.code));
                        if e.message.is_empty() {
                            code
                        } else {
                            format!("{code}: {}", e.message)
                        }
                    })
                    .collect();
                Attempt::Fatal(self.err(format!("{what}: refused by {url}: {}", errs.join("; "))))
            }
            OciDistributionError::UnauthorizedError { url } => Attempt::Fatal(self.err(format!(
                "{what}: HTTP 401 Unauthorized from {url} (credentials come from $REGISTRY_AUTH_FILE, \
                 $XDG_RUNTIME_DIR/containers/auth.json or ~/.docker/config.json)"
            ))),
            OciDistributionError::DigestError(d) => Attempt::Content {
                err: self.err(format!("{what}: digest mismatch: {d} (refused)")),
                resumed: false,
            },
            other => Attempt::Fatal(self.err(format!("{what}: {}", error_chain(&other)))),
        }
    }

    /// Run `op` until it succeeds, fails for good, or the retries are used up
    /// (backoff 200 ms, 400 ms, 800 ms, ...).
    async fn retrying<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, Attempt>>,
    {
        let mut attempt = 0u32;
        let mut restarted = false;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(Attempt::Retry(msg)) => {
                    if attempt >= self.retries {
                        return Err(self.err(format!(
                            "{msg} (gave up after {} attempt{})",
                            attempt + 1,
                            if attempt == 0 { "" } else { "s" }
                        )));
                    }
                    let delay = Duration::from_millis(200u64 << attempt.min(8));
                    tracing::warn!(registry = %self.registry, "{msg}; retrying {what} in {delay:?}");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                // a resumed download whose result does not verify: the old partial
                // bytes may be at fault; start over once
                Err(Attempt::Content { resumed: true, err }) if !restarted => {
                    tracing::warn!(registry = %self.registry, "{err}; downloading {what} again from the start");
                    restarted = true;
                }
                Err(Attempt::Content { err, .. }) | Err(Attempt::Fatal(err)) => return Err(err),
            }
        }
    }

    /// Fetch a manifest's raw bytes (by `oref`'s digest when it has one) and the
    /// digest they hash to; `expected` (digest and, for an index entry, size) must
    /// match.
    async fn fetch_manifest(
        &self,
        oref: &oci_client::Reference,
        expected: Option<(&Digest, Option<u64>)>,
        what: &str,
    ) -> Result<(Vec<u8>, Digest)> {
        let this = self;
        let raw = self
            .retrying(what, move || async move {
                this.client
                    .pull_manifest_raw(oref, &this.auth, &MANIFEST_MEDIA_TYPES)
                    .await
                    .map(|(b, _)| b)
                    .map_err(|e| match e {
                        OciDistributionError::DigestError(d) => Attempt::Fatal(this.err(format!(
                            "manifest digest mismatch for {what}: {d} (refused; nothing was stored)"
                        ))),
                        e => this.classify(e, &format!("fetching {what}")),
                    })
            })
            .await?;
        if raw.len() as u64 > MAX_METADATA_BLOB {
            return Err(self.err(format!(
                "{what}: {} bytes, more than the {MAX_METADATA_BLOB} accepted for a manifest",
                raw.len()
            )));
        }
        let digest = match expected {
            Some((d, size)) => {
                let mut h = d.hasher();
                h.update(&raw);
                let actual = h.finish();
                if &actual != d {
                    return Err(self.err(format!(
                        "manifest digest mismatch for {what}: expected {d}, the content hashes to {actual} (refused; nothing was stored)"
                    )));
                }
                if let Some(s) = size {
                    if s != raw.len() as u64 {
                        return Err(ImageError::SizeMismatch {
                            digest: d.to_string(),
                            expected: s,
                            actual: raw.len() as u64,
                        });
                    }
                }
                d.clone()
            }
            None => Digest::sha256_of(&raw),
        };
        Ok((raw.to_vec(), digest))
    }

    fn bar(&self, b: &BlobRef, verb: &str) -> ProgressBar {
        let Some(m) = &self.progress else {
            return ProgressBar::hidden();
        };
        let bar = m.add(ProgressBar::new(b.size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} {msg:12} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(b.digest.hex()[..12].to_string());
        bar.set_message(verb.to_string());
        bar
    }

    /// Download one blob into the store (skipped when present), resuming a partial
    /// download, retrying network errors.
    async fn fetch_blob(&self, b: &BlobRef, show: bool) -> Result<()> {
        let bar = if show {
            self.bar(b, "downloading")
        } else {
            ProgressBar::hidden()
        };
        if self.store.has_blob(&b.digest) {
            bar.finish_with_message("present");
            return Ok(());
        }
        let _lock = BlobLock::acquire(self.store, &b.digest).await?;
        if self.store.has_blob(&b.digest) {
            bar.finish_with_message("present");
            return Ok(());
        }
        let what = format!("blob {}", b.digest);
        let r = self.retrying(&what, || self.fetch_blob_once(b, &bar)).await;
        match &r {
            Ok(()) => bar.finish_with_message("done"),
            Err(_) => bar.abandon_with_message("failed"),
        }
        r
    }

    async fn fetch_blob_once(
        &self,
        b: &BlobRef,
        bar: &ProgressBar,
    ) -> std::result::Result<(), Attempt> {
        let what = format!("blob {}", b.digest);
        let (store, d, size) = (self.store.clone(), b.digest.clone(), b.size);
        let mut w = blocking(move || store.blob_writer(&d, Some(size), true))
            .await
            .map_err(Attempt::Fatal)?;
        let offset = w.offset();
        let resumed = offset > 0;
        if offset < b.size {
            let ds = b.digest.to_string();
            // a &str descriptor: the manifest's `urls` are never followed
            let resp = if offset > 0 {
                tracing::debug!("resuming {what} at byte {offset}");
                self.client
                    .pull_blob_stream_partial(&self.oref, ds.as_str(), offset, None)
                    .await
            } else {
                self.client
                    .pull_blob_stream(&self.oref, ds.as_str())
                    .await
                    .map(BlobResponse::Full)
            };
            let resp = match resp {
                Ok(r) => r,
                Err(OciDistributionError::ServerError { code: 416, .. }) if offset > 0 => {
                    w.abort();
                    return Err(Attempt::Retry(format!(
                        "{what}: the registry refused to resume at byte {offset}"
                    )));
                }
                Err(e) => return Err(self.classify(e, &format!("fetching {what}"))),
            };
            let (mut stream, start) = match resp {
                BlobResponse::Partial(s) => (s, offset),
                BlobResponse::Full(s) => {
                    if offset > 0 {
                        // the registry ignored the Range request: start over
                        let (store, d) = (self.store.clone(), b.digest.clone());
                        w = blocking(move || store.blob_writer(&d, Some(size), false))
                            .await
                            .map_err(Attempt::Fatal)?;
                    }
                    (s, 0)
                }
            };
            if let Some(cl) = stream.content_length {
                if start.checked_add(cl) != Some(b.size) {
                    w.abort();
                    return Err(Attempt::Content {
                        err: ImageError::SizeMismatch {
                            digest: b.digest.to_string(),
                            expected: b.size,
                            actual: start.saturating_add(cl),
                        },
                        resumed,
                    });
                }
            }
            bar.set_position(start);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(bytes) => {
                        if let Err(e) = w.write_all(&bytes) {
                            if e.kind() == std::io::ErrorKind::InvalidData {
                                // more bytes than the descriptor announced
                                let actual = w.written() + bytes.len() as u64;
                                w.abort();
                                return Err(Attempt::Content {
                                    err: ImageError::SizeMismatch {
                                        digest: b.digest.to_string(),
                                        expected: b.size,
                                        actual,
                                    },
                                    resumed,
                                });
                            }
                            return Err(Attempt::Fatal(ImageError::Io {
                                op: "write",
                                path: w.partial_path().to_path_buf(),
                                source: e,
                            }));
                        }
                        bar.inc(bytes.len() as u64);
                    }
                    // oci-client's own verification at the end of a full response:
                    // the commit below verifies again and names the blob
                    Err(e) if e.get_ref().is_some_and(|i| i.is::<DigestError>()) => break,
                    Err(e) => {
                        return Err(Attempt::Retry(format!(
                            "{what}: transfer interrupted after {} of {} bytes: {}",
                            w.written(),
                            b.size,
                            error_chain(&e)
                        )))
                    }
                }
            }
            if w.written() < b.size {
                return Err(Attempt::Retry(format!(
                    "{what}: the connection ended after {} of {} bytes",
                    w.written(),
                    b.size
                )));
            }
        }
        match blocking(move || w.commit()).await {
            Ok(_) => Ok(()),
            Err(e @ (ImageError::DigestMismatch { .. } | ImageError::SizeMismatch { .. })) => {
                Err(Attempt::Content { err: e, resumed })
            }
            Err(e) => Err(Attempt::Fatal(e)),
        }
    }
}

/// Pull `reference` into `store`: manifest (the platform's, from an index), config
/// and layers, every byte verified; then point the refs at the manifest
/// (`registry/repo:tag`, and `registry/repo@digest` for a pull by digest).
///
/// A reference may start with `http://` to ask for plain HTTP (refused unless the
/// registry is loopback or in `opts.insecure`) or `https://` to force TLS.
pub async fn pull(store: &Store, reference: &str, opts: &PullOptions) -> Result<Pulled> {
    let s = Session::new(store, reference, opts).await?;
    let platform = match &opts.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let image = s.image.clone();
    let top_what = format!("manifest {image}");
    let (raw, digest) = s
        .fetch_manifest(&s.oref, image.digest.as_ref().map(|d| (d, None)), &top_what)
        .await?;
    let (raw, manifest_digest, manifest, index_digest) =
        match parse_manifest(&format!("manifest {digest}"), &raw)? {
            ManifestKind::Image(m, _) => (raw, digest, m, None),
            ManifestKind::Index(ix, _) => {
                let what = format!("index {digest} of {image}");
                let entry = select_platform(&what, &ix, &platform)?;
                let oref = image.with_digest(entry.digest.clone()).to_oci();
                let m_what = format!("manifest {} ({platform}) of {image}", entry.digest);
                let (raw2, d2) = s
                    .fetch_manifest(&oref, Some((&entry.digest, Some(entry.size))), &m_what)
                    .await?;
                match parse_manifest(&format!("manifest {d2}"), &raw2)? {
                    ManifestKind::Image(m, _) => (raw2, d2, m, Some(digest)),
                    ManifestKind::Index(..) => {
                        return Err(ImageError::Invalid {
                            what: format!("manifest {d2}"),
                            message: format!(
                        "{what} points at another index for {platform}; nested indexes are refused"
                    ),
                        })
                    }
                }
            }
        };
    let m_what = format!("manifest {manifest_digest}");
    let (config, layers) = validate_image_manifest(&m_what, &manifest)?;

    // config: stored against its descriptor (digest and size), then checked
    s.fetch_blob(&config, false).await?;
    let cfg_raw = {
        let (st, d) = (store.clone(), config.digest.clone());
        blocking(move || st.read_blob(&d)).await?
    };
    let diff_ids = validate_config(&format!("config {}", config.digest), &cfg_raw, layers.len())?;

    // layers, concurrently (each digest once)
    let mut seen = HashSet::new();
    let unique: Vec<&BlobRef> = layers
        .iter()
        .filter(|l| seen.insert(l.digest.clone()))
        .collect();
    futures_util::stream::iter(unique)
        .map(|l| s.fetch_blob(l, true))
        .buffer_unordered(opts.max_concurrent.max(1))
        .try_collect::<Vec<()>>()
        .await?;

    // the manifest last: its presence means the image is complete
    store_bytes(store, &manifest_digest, raw).await?;
    let mut names = Vec::new();
    if let Some(t) = &image.tag {
        names.push(format!("{}:{t}", image.name()));
    }
    if let Some(d) = &image.digest {
        names.push(image.digested_name(d));
    }
    {
        let (st, md, names) = (store.clone(), manifest_digest.clone(), names);
        blocking(move || names.iter().try_for_each(|n| st.set_ref(n, &md))).await?;
    }
    tracing::info!(image = %image, manifest = %manifest_digest, "pulled");
    Ok(Pulled {
        name: image.to_string(),
        manifest_digest,
        config_digest: config.digest,
        layers: layers
            .into_iter()
            .map(|l| (l.digest, l.media_type, l.size))
            .collect(),
        diff_ids,
        index_digest,
    })
}

/// Push the image whose manifest is `local` (in `store`) to `dest`: config and
/// layers the registry does not have yet, then the manifest with its exact stored
/// bytes, so its digest is preserved. Returns that digest.
pub async fn push(store: &Store, local: &Digest, dest: &str, opts: &PullOptions) -> Result<Digest> {
    let s = Session::new(store, dest, opts).await?;
    let image = s.image.clone();
    if let Some(d) = &image.digest {
        if d != local {
            return Err(ImageError::Invalid {
                what: format!("destination {image}"),
                message: format!("names digest {d} but the image pushed is {local}"),
            });
        }
    }
    let raw = {
        let (st, d) = (store.clone(), local.clone());
        blocking(move || st.read_blob(&d)).await?
    };
    let what = format!("manifest {local}");
    let (manifest, media_type) = match parse_manifest(&what, &raw)? {
        ManifestKind::Image(m, mt) => (m, mt),
        ManifestKind::Index(..) => {
            return Err(ImageError::Invalid {
                what,
                message: "is an index; pushing indexes is not supported (push a platform manifest)"
                    .into(),
            })
        }
    };
    let (config, layers) = validate_image_manifest(&what, &manifest)?;
    let mut seen = HashSet::new();
    let blobs: Vec<BlobRef> = std::iter::once(config)
        .chain(layers)
        .filter(|b| seen.insert(b.digest.clone()))
        .collect();
    for b in &blobs {
        if !store.has_blob(&b.digest) {
            return Err(ImageError::NotFound(format!(
                "blob {} of manifest {local} is not in the store",
                b.digest
            )));
        }
    }
    futures_util::stream::iter(blobs.iter())
        .map(|b| s.push_blob(b))
        .buffer_unordered(opts.max_concurrent.max(1))
        .try_collect::<Vec<()>>()
        .await?;

    let mref = match &image.tag {
        Some(t) => oci_client::Reference::with_tag(
            image.registry.clone(),
            image.repository.clone(),
            t.clone(),
        ),
        None => oci_client::Reference::with_digest(
            image.registry.clone(),
            image.repository.clone(),
            local.to_string(),
        ),
    };
    let content_type =
        http::HeaderValue::from_str(&media_type).map_err(|_| ImageError::Invalid {
            what: what.clone(),
            message: format!("mediaType {media_type:?} is not a valid header value"),
        })?;
    let raw = bytes::Bytes::from(raw);
    let (sr, mref_r, raw_r, ct_r, what_r, image_r) =
        (&s, &mref, &raw, &content_type, what.as_str(), &image);
    let location = s
        .retrying(&what, move || async move {
            sr.client
                .push_manifest_raw(mref_r, raw_r.clone(), ct_r.clone())
                .await
                .map_err(|e| sr.classify(e, &format!("pushing {what_r} to {image_r}")))
        })
        .await?;
    // the registry names what it stored; it must be our bytes
    if let Some(seg) = location.rsplit('/').next() {
        if let Ok(d) = seg.split('?').next().unwrap_or(seg).parse::<Digest>() {
            if &d != local {
                return Err(s.err(format!(
                    "pushing {what}: the registry stored it as {d} (the manifest bytes were changed)"
                )));
            }
        }
    }
    tracing::info!(image = %image, manifest = %local, "pushed");
    Ok(local.clone())
}

impl Session<'_> {
    async fn push_blob(&self, b: &BlobRef) -> Result<()> {
        let bar = self.bar(b, "uploading");
        let what = format!("blob {}", b.digest);
        let ds = b.digest.to_string();
        let (this, ds_r, what_r) = (self, ds.as_str(), what.as_str());
        let exists = self
            .retrying(&what, move || async move {
                this.client
                    .blob_exists(&this.oref, ds_r)
                    .await
                    .map_err(|e| this.classify(e, &format!("checking {what_r}")))
            })
            .await?;
        if exists {
            bar.finish_with_message("exists");
            return Ok(());
        }
        let path = self.store.blob_path(&b.digest);
        let (bar_r, path_r) = (&bar, &path);
        let r = self
            .retrying(&what, move || async move {
                bar_r.set_position(0);
                let stream = file_stream(path_r.clone(), bar_r.clone());
                this.client
                    .push_blob_stream(&this.oref, stream, ds_r, Some(b.size))
                    .await
                    .map(|_| ())
                    .map_err(|e| this.classify(e, &format!("uploading {what_r}")))
            })
            .await;
        match &r {
            Ok(()) => bar.finish_with_message("pushed"),
            Err(_) => bar.abandon_with_message("failed"),
        }
        r
    }
}

/// A blob file as a stream of upload chunks.
fn file_stream(
    path: PathBuf,
    bar: ProgressBar,
) -> impl futures_util::Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::try_unfold((path, None, bar), |(path, f, bar)| read_chunk(path, f, bar))
}

type ChunkState = (PathBuf, Option<tokio::fs::File>, ProgressBar);

async fn read_chunk(
    path: PathBuf,
    f: Option<tokio::fs::File>,
    bar: ProgressBar,
) -> oci_client::errors::Result<Option<(bytes::Bytes, ChunkState)>> {
    use tokio::io::AsyncReadExt;
    let mut f = match f {
        Some(f) => f,
        None => tokio::fs::File::open(&path).await?,
    };
    let mut buf = vec![0u8; UPLOAD_CHUNK];
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..]).await?;
        if k == 0 {
            break;
        }
        n += k;
    }
    if n == 0 {
        return Ok(None);
    }
    buf.truncate(n);
    bar.inc(n as u64);
    Ok(Some((bytes::Bytes::from(buf), (path, Some(f), bar))))
}

/// Write a small verified blob (a manifest) to the store.
async fn store_bytes(store: &Store, d: &Digest, data: Vec<u8>) -> Result<()> {
    if store.has_blob(d) {
        return Ok(());
    }
    let _lock = BlobLock::acquire(store, d).await?;
    let (st, d) = (store.clone(), d.clone());
    blocking(move || {
        if st.has_blob(&d) {
            return Ok(());
        }
        let mut w = st.blob_writer(&d, Some(data.len() as u64), false)?;
        w.write_all(&data)
            .map_err(crate::io_err("write", w.partial_path()))?;
        w.commit().map(|_| ())
    })
    .await
}

/// An exclusive lock on one blob's download (`tmp/<alg>-<hex>.lock`), so that two
/// pulls never write the same partial file. The lock file is removed on release;
/// an acquirer checks that the file it locked is still the one at the path.
struct BlobLock {
    path: PathBuf,
    file: Option<nix::fcntl::Flock<std::fs::File>>,
}

impl BlobLock {
    async fn acquire(store: &Store, d: &Digest) -> Result<BlobLock> {
        let path = store
            .tmp_dir()
            .join(format!("{}-{}.lock", d.algorithm().as_str(), d.hex()));
        blocking(move || loop {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(crate::io_err("open", &path))?;
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
                return Ok(BlobLock {
                    path,
                    file: Some(l),
                });
            }
            // removed by its previous holder while we waited: lock the new one
        })
        .await
    }
}

impl Drop for BlobLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        self.file.take();
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ImageError::Io {
            op: "background task",
            path: Path::new("").to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn status_reason(code: u16) -> String {
    http::StatusCode::from_u16(code)
        .ok()
        .and_then(|c| c.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn short_body(body: &str) -> String {
    let b = body.trim();
    if b.is_empty() {
        return String::new();
    }
    let cut: String = b.chars().take(200).collect();
    format!(": {}{}", cut, if cut.len() < b.len() { "…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn manifest(layers: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":10}},
            "layers":[{layers}]}}"#
        )
    }

    fn layer(mt: &str, size: &str) -> String {
        format!(r#"{{"mediaType":"{mt}","digest":"{D2}","size":{size}}}"#)
    }

    fn check(raw: &str) -> Result<(BlobRef, Vec<BlobRef>)> {
        match parse_manifest("manifest m", raw.as_bytes())? {
            ManifestKind::Image(m, _) => validate_image_manifest("manifest m", &m),
            ManifestKind::Index(..) => panic!("index"),
        }
    }

    #[test]
    fn absurd_manifests_name_the_field() {
        let gz = "application/vnd.oci.image.layer.v1.tar+gzip";
        let (c, l) = check(&manifest(&layer(gz, "5"))).unwrap();
        assert_eq!(c.size, 10);
        assert_eq!(l[0].size, 5);
        for (raw, field) in [
            (manifest(&layer(gz, "-1")), "layers[0].size"),
            (manifest(&layer(gz, "68719476737")), "layers[0].size"),
            (manifest(&layer(gz, "1e3")), "layers[0].size"),
            (
                manifest(&layer("application/x-evil", "1")),
                "layers[0].mediaType",
            ),
            (
                manifest(&layer(
                    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "1",
                )),
                "layers[0].mediaType",
            ),
            (manifest(&vec![layer(gz, "1"); 1001].join(",")), "layers"),
            (
                manifest(&layer(gz, "1")).replace(D2, "sha256:../../etc"),
                "layers[0].digest",
            ),
            (
                manifest("").replace("\"size\":10", "\"size\":9000000000"),
                "config.size",
            ),
            (
                manifest("").replace(
                    "application/vnd.oci.image.config.v1+json",
                    "application/x-artifact",
                ),
                "config.mediaType",
            ),
            (
                manifest("").replace("\"schemaVersion\":2", "\"schemaVersion\":1"),
                "schemaVersion",
            ),
            (
                manifest("").replace("\"layers\":[]", "\"layers\":[], \"manifests\":[]"),
                "ambiguous",
            ),
        ] {
            let e = check(&raw).expect_err(field).to_string();
            assert!(
                e.contains(field) && e.contains("manifest m"),
                "{field}: {e}"
            );
        }
    }

    #[test]
    fn platform_selection() {
        let ix = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D1}","size":100,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
            {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D2}","size":200,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D2}","size":200,"platform":{{"os":"unknown","architecture":"unknown"}}}}]}}"#
        );
        let ManifestKind::Index(ix, _) = parse_manifest("index i", ix.as_bytes()).unwrap() else {
            panic!("not an index")
        };
        let pick = |p: &str| select_platform("index i", &ix, &Platform::parse(p).unwrap());
        assert_eq!(pick("linux/amd64").unwrap().digest.to_string(), D2);
        assert_eq!(pick("linux/arm64").unwrap().digest.to_string(), D1);
        assert_eq!(pick("linux/arm64/v8").unwrap().size, 100);
        let e = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            e.contains("linux/s390x") && e.contains("linux/arm64/v8, linux/amd64"),
            "{e}"
        );
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/amd64/v2/x").is_err());
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn config_must_match_the_layers() {
        let cfg = |ids: &str| {
            format!(
                r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[{ids}]}}}}"#
            )
        };
        let ok =
            validate_config("config c", cfg(&format!("\"{D1}\",\"{D2}\"")).as_bytes(), 2).unwrap();
        assert_eq!(ok.len(), 2);
        let e = validate_config("config c", cfg(&format!("\"{D1}\"")).as_bytes(), 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("rootfs.diff_ids") && e.contains("config c"),
            "{e}"
        );
        let e = validate_config("config c", cfg("\"sha256:x\"").as_bytes(), 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rootfs.diff_ids[0]"), "{e}");
        let e = validate_config("config c", b"{\"rootfs\": 3}", 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("config c"), "{e}");
    }

    #[test]
    fn schemes() {
        assert_eq!(registry_scheme("127.0.0.1:5000", &[]), "http");
        assert_eq!(registry_scheme("[::1]:5000", &[]), "http");
        assert_eq!(registry_scheme("localhost", &[]), "http");
        assert_eq!(registry_scheme("10.255.255.1:5000", &[]), "https");
        assert_eq!(registry_scheme("docker.io", &[]), "https");
        let ins = vec!["10.255.255.1:5000".to_string(), "reg.lan".to_string()];
        assert_eq!(registry_scheme("10.255.255.1:5000", &ins), "http");
        assert_eq!(registry_scheme("10.255.255.1:5001", &ins), "https");
        assert_eq!(registry_scheme("reg.lan:8080", &ins), "http");
        assert_eq!(split_scheme("http://a/b"), (Some("http"), "a/b"));
    }
}
