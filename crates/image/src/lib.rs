//! OCI images for Caisson: a content-addressed store whose every byte is verified
//! against its digest before it becomes visible, registry pull/push, hostile-input-
//! safe layer unpacking onto overlayfs-ready directories, and image layouts.
//!
//! On disk (root: `--root`, `$CAISSON_ROOT`, default `/var/lib/caisson`):
//! ```text
//! blobs/sha256/<hex>     verified blobs (manifests, configs, layers), read-only
//! tmp/                   the only place unverified bytes are written (downloads, unpacks)
//! layers/sha256/<hex>/   unpacked layers, keyed by chain id (shared between images)
//! refs.json              image names (registry/repo:tag or @digest) → manifest digest
//! lock                   flock: one writer of refs/layers at a time
//! ```
#![warn(missing_docs)]

pub mod auth;
pub mod digest;
pub mod images;
pub mod layers;
pub mod layout;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use store::{BlobWriter, Store};

/// Errors of the image crate; each names the blob, file or entry at fault.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes did not match the digest they were announced with.
    #[error("digest mismatch for {expected}: the content hashes to {actual} (refused; nothing was stored)")]
    DigestMismatch {
        /// The announced digest.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// A blob was larger or smaller than announced.
    #[error("size mismatch for {digest}: announced {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: String,
        /// Announced size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// A malformed digest string.
    #[error("invalid digest {0:?}: expected sha256:<64 hex> or sha512:<128 hex>")]
    BadDigest(String),
    /// Hostile or malformed input (layer entry, manifest field, reference...).
    #[error("{what}: {message}")]
    Invalid {
        /// The offending item (an entry name, a JSON field, a reference).
        what: String,
        /// Why it is refused.
        message: String,
    },
    /// Something asked for is not there.
    #[error("{0}")]
    NotFound(String),
    /// A registry operation failed.
    #[error("registry {registry}: {message}")]
    Registry {
        /// The registry host.
        registry: String,
        /// The error.
        message: String,
    },
}

/// Result with [`ImageError`].
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<std::path::PathBuf>,
) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.into();
    move |source| ImageError::Io { op, path, source }
}
