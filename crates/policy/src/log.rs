//! The decision log: one JSON line per decision, appended (`O_APPEND`, one `write`
//! per line, so concurrent writers — runtime, engine, webhook threads — never
//! interleave within a line).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::gate::Decision;

/// An open decision log.
#[derive(Debug)]
pub struct DecisionLog {
    file: File,
}

/// Where a decision was taken.
#[derive(Debug, Clone, Copy)]
pub enum EntryPoint {
    /// `caisson policy eval`.
    Eval,
    /// `caisson run`/`create`.
    Engine,
    /// `caisson-runtime create`.
    Runtime,
    /// `caisson webhook`.
    Webhook,
}

impl EntryPoint {
    fn as_str(self) -> &'static str {
        match self {
            EntryPoint::Eval => "eval",
            EntryPoint::Engine => "engine",
            EntryPoint::Runtime => "runtime",
            EntryPoint::Webhook => "webhook",
        }
    }
}

impl DecisionLog {
    /// Opens (creates, mode 0600) `path` for appending.
    pub fn open(path: &Path) -> Result<DecisionLog> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("open decision log {}", path.display()))?;
        Ok(DecisionLog { file })
    }

    /// Appends one record. `time` is RFC 3339 (the caller's clock); `input` the
    /// normalised input (its kind, name and namespace are logged, not its body).
    pub fn record(
        &mut self,
        time: &str,
        entry: EntryPoint,
        input: &Value,
        d: &Decision,
    ) -> Result<()> {
        let line = record(time, entry, input, d);
        let mut bytes = serde_json::to_vec(&line)?;
        bytes.push(b'\n');
        self.file.write_all(&bytes).context("write decision log")?;
        Ok(())
    }
}

/// The JSON record of one decision.
pub fn record(time: &str, entry: EntryPoint, input: &Value, d: &Decision) -> Value {
    json!({
        "time": time,
        "entry": entry.as_str(),
        "input_digest": crate::gate::input_digest(input),
        "policy_version": d.policy_version,
        "result": if d.allowed { "allow" } else { "deny" },
        "object": {
            "source": input.get("source"),
            "kind": input.get("kind"),
            "name": input.pointer("/metadata/name"),
            "namespace": input.pointer("/metadata/namespace"),
            "images": input.get("images").and_then(Value::as_array).map(|a| a.iter().map(|i| i["ref"].clone()).collect::<Vec<_>>()),
        },
        "violations": d.violations,
        "latency_us": u64::try_from(d.latency.as_micros()).unwrap_or(u64::MAX),
    })
}
