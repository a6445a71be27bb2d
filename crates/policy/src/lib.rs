//! caisson-policy: the policy gate. Rego policies evaluated in-process by regorus,
//! over one input document normalised from a Pod, an AdmissionReview or an OCI
//! `config.json`; the same decision engine serves `caisson run/create`,
//! `caisson-runtime create` and the admission webhook.

pub mod gatekeeper;
#[cfg(feature = "webhook")]
pub mod webhook;
