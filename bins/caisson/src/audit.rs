//! `caisson audit`: host and container configuration checks after the CIS Docker Benchmark.

use anyhow::Result;
use caisson_engine::Engine;
use clap::Args;

/// Arguments of `caisson audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// Runs the audit; returns the process exit code.
pub fn audit_command(_engine: &Engine, _args: &AuditArgs) -> Result<i32> {
    anyhow::bail!("caisson audit: not built yet")
}
