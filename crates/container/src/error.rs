//! Errors of container operations. Every message names what was wrong: the config
//! field, the file, or the container.

use std::path::PathBuf;

/// Errors of the container lifecycle operations.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// config.json could not be read.
    #[error("read {path}: {source}")]
    ReadConfig {
        /// The config file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// config.json is not valid JSON or does not match the OCI schema.
    #[error("{path}: {field}: {message}")]
    ParseConfig {
        /// The config file.
        path: PathBuf,
        /// JSON path of the offending field (e.g. `linux.namespaces[2].type`).
        field: String,
        /// What the parser said.
        message: String,
    },
    /// A field of config.json is invalid or contradicts another.
    #[error("invalid config: {field}: {message}")]
    InvalidConfig {
        /// JSON path of the offending field.
        field: String,
        /// Why it is invalid.
        message: String,
    },
    /// The container id is not acceptable.
    #[error("invalid container id {0:?}: only [A-Za-z0-9_+.-] are allowed, and not . or ..")]
    InvalidId(String),
    /// No such container.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// A container with that id exists already.
    #[error("container {0} already exists")]
    Exists(String),
    /// The operation is not allowed in the container's current status.
    #[error("container {id} is {status}: cannot {op}")]
    BadStatus {
        /// Container id.
        id: String,
        /// Its status.
        status: &'static str,
        /// What was attempted.
        op: &'static str,
    },
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A syscall failed.
    #[error("{what}: {source}")]
    Nix {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: nix::Error,
    },
    /// A raw syscall wrapper failed.
    #[error(transparent)]
    Sys(#[from] caisson_sys::SysError),
    /// cgroup setup failed.
    #[error(transparent)]
    Cgroup(#[from] caisson_cgroups::CgroupError),
    /// seccomp setup failed.
    #[error(transparent)]
    Seccomp(#[from] caisson_seccomp::SeccompError),
    /// The container's init process reported a setup failure.
    #[error("container init: {0}")]
    InitFailed(String),
    /// A hook failed.
    #[error("{kind} hook {path}: {message}")]
    Hook {
        /// createRuntime, prestart, ...
        kind: &'static str,
        /// The hook binary.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The state file is unreadable.
    #[error("state of container {id}: {message}")]
    BadState {
        /// Container id.
        id: String,
        /// What is wrong with it.
        message: String,
    },
    /// A feature the host lacks was requested.
    #[error("{0}")]
    Unsupported(String),
}

impl ContainerError {
    /// Build an [`ContainerError::InvalidConfig`].
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Build an [`ContainerError::Nix`].
    pub fn nix(what: impl Into<String>, source: nix::Error) -> Self {
        Self::Nix {
            what: what.into(),
            source,
        }
    }

    /// Build an [`ContainerError::Io`].
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ContainerError> = std::result::Result<T, E>;
