//! `caisson`: the human-facing container engine. Images, scanning, policy and the
//! runtime guard arrive in later issues; today it reports its version and what the
//! runtime library supports.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

/// Caisson: a secure container engine (build, ship, run).
#[derive(Debug, Parser)]
#[command(
    name = "caisson",
    version,
    about,
    long_about = "Caisson: one coherent tool that protects a container over its whole life.\n\nThe OCI runtime is `caisson-runtime` (runc-compatible). Image, scan, policy and guard\ncommands are being added to this binary."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version of caisson and of the OCI spec it implements.
    Version {
        /// Output as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version { json } => {
            let v = env!("CARGO_PKG_VERSION");
            let spec = caisson_container::state::OCI_VERSION;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"version": v, "ociRuntimeSpec": spec})
                );
            } else {
                println!("caisson version {v}\nOCI runtime spec: {spec}");
            }
        }
    }
    Ok(())
}
