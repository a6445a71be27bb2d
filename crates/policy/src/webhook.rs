//! The validating admission webhook server.
