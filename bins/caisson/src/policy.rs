//! `caisson policy eval|test` and `caisson webhook`: the command-line face of caisson-policy.

use std::path::Path;

use anyhow::Result;
use clap::{Args, Subcommand};

/// `caisson policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Evaluate an input (Pod, AdmissionReview or OCI config.json) against policy sets.
    Eval {},
}

/// Arguments of `caisson webhook`.
#[derive(Debug, Args)]
pub struct WebhookArgs {}

/// Runs `caisson policy ...`; returns the exit code.
pub fn policy_command(_root: &Path, _c: PolicyCommand) -> Result<i32> {
    anyhow::bail!("not built yet")
}

/// Runs `caisson webhook`; returns the exit code.
pub fn webhook_command(_root: &Path, _a: WebhookArgs) -> Result<i32> {
    anyhow::bail!("not built yet")
}
