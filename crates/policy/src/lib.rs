//! caisson-policy: the policy gate. Rego policies evaluated in-process by regorus,
//! over one input document normalised from a Pod, an AdmissionReview or an OCI
//! `config.json`; the same decision engine serves `caisson run/create`,
//! `caisson-runtime create` and the admission webhook.
//!
//! - [`input`]: documents → the one Pod-like input document.
//! - [`gate`]: policy sets, modes, exemptions → [`gate::Decision`].
//! - [`log`]: the decision log (JSON lines).
//! - [`regotest`]: `caisson policy test` (Rego `test_` rules, as `opa test`).
//! - [`gatekeeper`]: Gatekeeper-compatible constraint templates and matching.
//! - `webhook` (feature `webhook`): the admission webhook server.

pub mod gate;
pub mod gatekeeper;
pub mod input;
pub mod log;
pub mod regotest;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use gate::{Decision, Gate, Mode, PolicyConfig, Violation};

/// Where the runtime and the engine look for the host's policy configuration
/// unless `$CAISSON_POLICY` names another path.
pub const DEFAULT_CONFIG: &str = "/etc/caisson/policy";

/// The host's policy configuration path, if one is configured: `$CAISSON_POLICY`
/// (empty: none) or [`DEFAULT_CONFIG`] when it exists.
pub fn configured_path() -> Option<std::path::PathBuf> {
    match std::env::var_os("CAISSON_POLICY") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(p.into()),
        None => {
            let p = std::path::Path::new(DEFAULT_CONFIG);
            p.exists().then(|| p.to_path_buf())
        }
    }
}
