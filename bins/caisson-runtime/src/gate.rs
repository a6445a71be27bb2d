//! The policy gate of `create`/`run`: when the host has a policy configuration
//! (`$CAISSON_POLICY`, else `/etc/caisson/policy` if it exists), the bundle's
//! config.json is decided before anything is created, so every client of the
//! runtime (podman, containerd, Docker) gets the gate. A denial fails `create`
//! with the rules' messages; a configuration that cannot be loaded fails it too
//! (a broken policy never lets containers through). Without a configuration this
//! costs one `stat`.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use caisson_policy::input::{self, OciContext};
use caisson_policy::log::{DecisionLog, EntryPoint};
use caisson_policy::{Gate, PolicyConfig};

/// Decides `bundle/config.json` for container `id`; `Ok` when allowed or when no
/// policy is configured.
pub fn check(bundle: &Path, id: &str) -> Result<()> {
    let Some(path) = caisson_policy::configured_path() else {
        return Ok(());
    };
    let cfg = PolicyConfig::load(&path)
        .with_context(|| format!("policy configuration {}", path.display()))?;
    let file = bundle.join("config.json");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let ctx = OciContext {
        name: Some(id.to_string()),
        ..OciContext::default()
    };
    let doc = input::from_oci(&config, &ctx)
        .with_context(|| format!("policy input from {}", file.display()))?;
    let mut gate =
        Gate::new(&cfg).with_context(|| format!("policy configuration {}", path.display()))?;
    let d = gate.decide(&doc)?;
    if let Some(log) = &cfg.decision_log {
        DecisionLog::open(log)?.record(
            &caisson_container::state::now_rfc3339(),
            EntryPoint::Runtime,
            &doc,
            &d,
        )?;
    }
    for w in d.warnings() {
        eprintln!("caisson-runtime: policy warning: {w}");
    }
    if !d.allowed {
        bail!("policy denied container {id}: {}", d.denials().join("; "));
    }
    Ok(())
}
