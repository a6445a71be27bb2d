//! Gatekeeper-compatible constraint templates (our own Rego) and constraint matching.
