//! Image scanning (Build/Ship): what is in an image and what is wrong with it.
//!
//! - [`catalog`]: package catalogers over a root filesystem (one per format), each
//!   package tagged with the file it came from (and, for images, the layer).
//! - [`version`]: exact version ordering per ecosystem (dpkg, rpm, apk, PEP 440,
//!   semver for npm/crates.io, Go, Maven, RubyGems).
//! - [`db`]: the local vulnerability database (SQLite) built from OSV records.
//! - [`matcher`]: packages × advisories → findings, one per flaw (aliases merged).
#![warn(missing_docs)]

pub mod catalog;
pub mod cvss;
pub mod db;
pub mod matcher;
pub mod misconfig;
pub mod secrets;
pub mod version;

use serde::{Deserialize, Serialize};

/// Package ecosystems, named as OSV names them (`Debian`, `PyPI`, `npm`,
/// `crates.io`, `Go`, `Maven`, `RubyGems`, `Packagist`, `Alpine`, ...).
pub type Ecosystem = String;

/// One package found in a root filesystem.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    /// OSV ecosystem (`Debian`, `PyPI`, `npm`, `crates.io`, `Go`, ...).
    pub ecosystem: Ecosystem,
    /// Name as the ecosystem spells it (binary package name for distros).
    pub name: String,
    /// Installed version, verbatim.
    pub version: String,
    /// Distro source package and its version (dpkg `Source:`, rpm SOURCERPM, apk origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<(String, String)>,
    /// Path of the file it was found in (absolute, inside the scanned tree).
    pub location: String,
    /// Digest of the image layer that introduced it (set by the image scanner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Package URL.
    pub purl: String,
}

/// A problem with one input file: reported, and the scan goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The file (path inside the scanned tree).
    pub file: String,
    /// What was wrong.
    pub message: String,
}

/// Scan errors (the whole operation failed).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// I/O on a named path.
    #[error("{op} {path}: {source}")]
    Io {
        /// What.
        op: &'static str,
        /// Where.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Bad input (names the file or record).
    #[error("{what}: {message}")]
    Invalid {
        /// What was bad.
        what: String,
        /// Why.
        message: String,
    },
    /// SQLite.
    #[error("vulnerability database {path}: {source}")]
    Db {
        /// The database file.
        path: String,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
}

/// Result with [`ScanError`].
pub type Result<T, E = ScanError> = std::result::Result<T, E>;
