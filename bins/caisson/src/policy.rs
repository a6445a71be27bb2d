//! `caisson policy eval|test|sets`, `caisson webhook`, and the gate of
//! `caisson run/create`: the command-line face of caisson-policy.
//!
//! Exit codes of `policy eval`: 0 allowed, 1 denied, 2 error (bad input, bad
//! policy). `policy test`: 0 all pass, 1 a failure, 2 error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use caisson_policy::gate::BUILTIN_SETS;
use caisson_policy::input::{self, DocKind};
use caisson_policy::log::{DecisionLog, EntryPoint};
use caisson_policy::{Decision, Gate, PolicyConfig};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For machines.
    Json,
}

/// Which policies to load; shared by `eval`, `webhook` and `run`.
#[derive(Debug, Args, Clone, Default)]
pub struct PolicySource {
    /// A built-in set: pss-baseline, pss-restricted, image (repeatable).
    #[arg(long = "set", value_name = "NAME")]
    pub sets: Vec<String>,
    /// A Rego file or directory: its `deny`, `warn` and `violation` rules (repeatable).
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// A policy configuration (YAML/JSON: sets, policies, parameters, modes,
    /// exemptions, decision_log) or a directory with config.yaml and *.rego.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A Gatekeeper constraint (YAML) over the built-in PSP templates (repeatable;
    /// judges Kubernetes objects and AdmissionReviews).
    #[arg(long = "constraint", value_name = "FILE")]
    pub constraints: Vec<PathBuf>,
    /// Append one JSON line per decision here (overrides the configuration's).
    #[arg(long = "decision-log", value_name = "FILE")]
    pub decision_log: Option<PathBuf>,
}

impl PolicySource {
    /// The configuration these flags describe (the configuration file first, then
    /// the sets and files added to it).
    pub fn config(&self) -> Result<PolicyConfig> {
        let mut cfg = match &self.config {
            Some(p) => PolicyConfig::load(p)?,
            None => PolicyConfig::default(),
        };
        for s in &self.sets {
            if !cfg.sets.contains(s) {
                cfg.sets.push(s.clone());
            }
        }
        cfg.policies.extend(self.policies.iter().cloned());
        cfg.constraints.extend(self.constraints.iter().cloned());
        if self.decision_log.is_some() {
            cfg.decision_log = self.decision_log.clone();
        }
        if cfg.sets.is_empty() && cfg.policies.is_empty() && cfg.constraints.is_empty() {
            bail!(
                "no policy: name a built-in set with --set ({}), Rego with --policy/--config, or --constraint",
                set_names()
            );
        }
        Ok(cfg)
    }
}

fn set_names() -> String {
    BUILTIN_SETS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `caisson policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Decide an input (a Pod or workload manifest in YAML/JSON, an AdmissionReview,
    /// or an OCI config.json) against policies. Exit 0 allowed, 1 denied, 2 error.
    #[command(
        after_help = "Examples:\n  caisson policy eval --set pss-baseline --input pod.yaml\n  \
        caisson policy eval --set pss-restricted --set image --input config.json --scan-report scan.json --format json\n  \
        caisson policy eval --policy my.rego --input review.json"
    )]
    Eval {
        #[command(flatten)]
        source: PolicySource,
        /// The document to decide (`-`: standard input).
        #[arg(long, short = 'i')]
        input: PathBuf,
        /// A `caisson scan --format json` report of the image, for the image rules.
        #[arg(long = "scan-report", value_name = "FILE")]
        scan_report: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run Rego unit tests (`test_` rules) in files or directories, as `opa test`.
    /// The built-in policies are loaded too (data.caisson.pss.*, data.caisson.image).
    Test {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Only tests whose name contains this.
        #[arg(long)]
        run: Option<String>,
        /// List every test, passing ones too.
        #[arg(short = 'v', long)]
        verbose: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// List the built-in policy sets.
    Sets,
}

/// Runs `caisson policy ...`; returns the exit code.
pub fn policy_command(_root: &Path, c: PolicyCommand) -> Result<i32> {
    let r = match c {
        PolicyCommand::Eval {
            source,
            input,
            scan_report,
            format,
        } => eval(&source, &input, scan_report.as_deref(), format),
        PolicyCommand::Test {
            paths,
            run,
            verbose,
            format,
        } => test(&paths, run.as_deref(), verbose, format),
        PolicyCommand::Sets => {
            for b in BUILTIN_SETS {
                println!("{:<16} {}", b.name, b.about);
            }
            Ok(0)
        }
    };
    r.or_else(|e| {
        eprintln!("caisson policy: error: {e:#}");
        Ok(2)
    })
}

fn read_input(p: &Path) -> Result<String> {
    if p == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("read standard input")?;
        Ok(s)
    } else {
        std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))
    }
}

fn eval(source: &PolicySource, input: &Path, scan: Option<&Path>, format: Format) -> Result<i32> {
    let cfg = source.config()?;
    let mut gate = Gate::new(&cfg)?;
    let scan = match scan {
        Some(p) => Some(
            serde_json::from_str::<Value>(&read_input(p)?)
                .with_context(|| format!("{}: not a JSON scan report", p.display()))?,
        ),
        None => None,
    };
    let text = read_input(input)?;
    let (doc, kind) =
        input::from_document(&text, scan).with_context(|| format!("{}", input.display()))?;
    let raw = if cfg.constraints.is_empty() || kind == DocKind::OciConfig {
        None
    } else {
        Some(parse_any(&text)?)
    };
    let d = gate.decide_with_object(&doc, raw.as_ref())?;
    if let Some(p) = &cfg.decision_log {
        DecisionLog::open(p)?.record(&caisson_engine::now(), EntryPoint::Eval, &doc, &d)?;
    }
    let what = describe(&doc);
    match format {
        Format::Json => {
            let v = json!({
                "allowed": d.allowed,
                "input": {"type": kind_name(kind), "kind": doc["kind"], "name": doc["metadata"]["name"],
                          "namespace": doc["metadata"]["namespace"]},
                "sets": cfg.sets,
                "violations": d.violations,
                "denials": d.denials(),
                "warnings": d.warnings(),
                "input_digest": caisson_policy::gate::input_digest(&doc),
                "policy_version": d.policy_version,
                "latency_us": u64::try_from(d.latency.as_micros()).unwrap_or(u64::MAX),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => print_text(&what, kind, &d)?,
    }
    Ok(if d.allowed { 0 } else { 1 })
}

fn parse_any(text: &str) -> Result<Value> {
    let y: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| anyhow!("{e}"))?;
    Ok(serde_json::to_value(y)?)
}

fn kind_name(k: DocKind) -> &'static str {
    match k {
        DocKind::Pod => "kubernetes-object",
        DocKind::AdmissionReview => "admission-review",
        DocKind::OciConfig => "oci-config",
        DocKind::Other => "kubernetes-object-without-pod-spec",
    }
}

fn describe(doc: &Value) -> String {
    let kind = doc["kind"].as_str().unwrap_or("object");
    let name = doc["metadata"]["name"].as_str().unwrap_or("(unnamed)");
    let ns = doc["metadata"]["namespace"].as_str().unwrap_or("default");
    if doc["source"] == "oci" {
        format!("container {name} (OCI config)")
    } else {
        format!("{}/{name} in namespace {ns}", kind.to_ascii_lowercase())
    }
}

fn print_text(what: &str, kind: DocKind, d: &Decision) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let verdict = if d.allowed { "ALLOWED" } else { "DENIED" };
    let n = d.violations.len();
    writeln!(
        out,
        "{verdict}: {what}: {n} violation{}",
        if n == 1 { "" } else { "s" }
    )?;
    if kind == DocKind::Other {
        writeln!(out, "  (no pod spec: nothing for the policies to judge)")?;
    }
    for v in &d.violations {
        let mode = match &v.exempted {
            Some(_) => "exempt",
            None => v.mode.as_str(),
        };
        writeln!(out, "  {mode:<6} {:<40} {}", v.rule, v.message)?;
        if let Some(f) = &v.field {
            writeln!(out, "         field: {f}")?;
        }
        if let Some(r) = &v.exempted {
            writeln!(out, "         exempt: {r}")?;
        }
    }
    Ok(())
}

fn test(paths: &[PathBuf], run: Option<&str>, verbose: bool, format: Format) -> Result<i32> {
    let results = caisson_policy::regotest::run(paths, run)?;
    if results.is_empty() {
        bail!("no test_ rules found");
    }
    match format {
        Format::Json => {
            println!("{}", serde_json::to_string_pretty(&results)?);
            Ok(if results.iter().all(|r| r.outcome == "pass") {
                0
            } else {
                1
            })
        }
        Format::Text => {
            caisson_policy::regotest::report_text(&results, verbose, &mut std::io::stdout().lock())
        }
    }
}

/// The policy configuration for `caisson run/create`: `--policy` values (built-in
/// set names, Rego files or directories, or a configuration file), else the host's
/// (`$CAISSON_POLICY`, `/etc/caisson/policy`), else none.
pub fn engine_config(choices: &[String]) -> Result<Option<PolicyConfig>> {
    if choices.is_empty() {
        return match caisson_policy::configured_path() {
            Some(p) => Ok(Some(PolicyConfig::load(&p)?)),
            None => Ok(None),
        };
    }
    let mut cfg = PolicyConfig::default();
    for c in choices {
        if BUILTIN_SETS.iter().any(|b| b.name == c) {
            cfg.sets.push(c.clone());
            continue;
        }
        let p = PathBuf::from(c);
        if !p.exists() {
            bail!(
                "--policy {c:?}: neither a built-in set ({}) nor a file",
                set_names()
            );
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if matches!(ext, "yaml" | "yml" | "json") {
            let other = PolicyConfig::load(&p)?;
            cfg.sets.extend(other.sets);
            cfg.policies.extend(other.policies);
            cfg.parameters.extend(other.parameters);
            cfg.modes.extend(other.modes);
            cfg.exemptions.extend(other.exemptions);
            cfg.constraints.extend(other.constraints);
            cfg.data = other.data.or(cfg.data);
            cfg.decision_log = other.decision_log.or(cfg.decision_log);
        } else {
            cfg.policies.push(p);
        }
    }
    Ok(Some(cfg))
}

/// The gate of `caisson run/create`: decides the container's config.json before
/// anything is created; prints warnings; records the decision; a denial is an
/// [`caisson_engine::EngineError::Denied`] naming every denying rule.
pub fn engine_check(
    engine: &caisson_engine::Engine,
    cfg: &PolicyConfig,
    p: &caisson_engine::Proposal<'_>,
) -> caisson_engine::Result<()> {
    let denied = |e: anyhow::Error| caisson_engine::EngineError::Denied(format!("policy: {e:#}"));
    let mut gate = Gate::new(cfg).map_err(denied)?;
    let scan = if cfg.sets.iter().any(|s| s == "image") {
        Some(
            crate::scan::policy_report(engine, p.image)
                .map_err(|e| denied(e.context("scan the image for the image rules")))?,
        )
    } else {
        None
    };
    // An image given by id is judged under its name; a digest in the reference
    // counts as a pin only when it is the image's manifest digest.
    let image = p.image_name.clone().unwrap_or_else(|| p.image.to_string());
    if let Some((_, d)) = image.split_once('@') {
        if d != p.manifest_digest {
            return Err(caisson_engine::EngineError::Denied(format!(
                "policy: {image}: the digest is not the image's manifest digest ({})",
                p.manifest_digest
            )));
        }
    }
    let ctx = input::OciContext {
        name: Some(p.name.to_string()),
        image: Some(image),
        image_digest: Some(p.manifest_digest.clone()),
        volume_roots: vec![p.volumes_dir.to_string_lossy().into_owned()],
        ports: p
            .ports
            .iter()
            .map(|m| {
                (
                    if m.host_port == 0 { 1 } else { m.host_port },
                    m.container_port,
                )
            })
            .collect(),
        scan,
        ..Default::default()
    };
    let doc = input::from_oci(p.config, &ctx).map_err(denied)?;
    let d = gate.decide(&doc).map_err(denied)?;
    let log = cfg
        .decision_log
        .clone()
        .unwrap_or_else(|| engine.root.join("policy/decisions.log"));
    if let Err(e) = DecisionLog::open(&log)
        .and_then(|mut l| l.record(&caisson_engine::now(), EntryPoint::Engine, &doc, &d))
    {
        eprintln!("warning: decision log: {e:#}");
    }
    for w in d.warnings() {
        eprintln!("policy warning: {w}");
    }
    if d.allowed {
        return Ok(());
    }
    Err(caisson_engine::EngineError::Denied(format!(
        "policy denied the container:\n  {}",
        d.denials().join("\n  ")
    )))
}

/// Arguments of `caisson webhook`.
#[derive(Debug, Args)]
#[command(
    after_help = "Kubernetes: register it with a ValidatingWebhookConfiguration whose \
    clientConfig points at https://<service>:<port>/validate with the CA that signed the \
    certificate; admissionReviewVersions: [v1]; sideEffects: None.\n\n\
    Example:\n  caisson webhook --tls-cert-file tls.crt --tls-private-key-file tls.key --set pss-baseline"
)]
pub struct WebhookArgs {
    #[command(flatten)]
    source: PolicySource,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: std::net::SocketAddr,
    /// Server certificate chain (PEM).
    #[arg(long = "tls-cert-file")]
    tls_cert_file: PathBuf,
    /// Server private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long = "tls-private-key-file")]
    tls_private_key_file: PathBuf,
    /// Largest request body accepted (bytes).
    #[arg(long = "max-body-bytes", default_value_t = 3 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Time a client has to send a whole request, TLS handshake included (seconds).
    #[arg(long = "request-timeout", default_value_t = 10)]
    request_timeout: u64,
    /// Connections served at once; more are refused.
    #[arg(long = "max-connections", default_value_t = 64)]
    max_connections: usize,
    /// Print the bound address on standard output once listening.
    #[arg(long = "print-address")]
    print_address: bool,
}

/// Decides AdmissionReview requests with a [`Gate`] (one per connection) and records
/// every decision.
pub struct GateReviewer {
    gate: Gate,
    log: Option<Arc<Mutex<DecisionLog>>>,
}

impl GateReviewer {
    /// A reviewer over a gate clone.
    pub fn new(gate: Gate, log: Option<Arc<Mutex<DecisionLog>>>) -> GateReviewer {
        GateReviewer { gate, log }
    }
}

impl caisson_policy::webhook::Reviewer for GateReviewer {
    fn review(&mut self, request: &Value) -> caisson_policy::webhook::Verdict {
        use caisson_policy::webhook::Verdict;
        let op = request["operation"].as_str().unwrap_or("CREATE");
        if op == "DELETE" || op == "CONNECT" {
            return Verdict {
                allowed: true,
                message: None,
                code: None,
                warnings: Vec::new(),
            };
        }
        let (doc, kind) = match input::from_admission_request(request, None) {
            Ok(x) => x,
            Err(e) => {
                return Verdict {
                    allowed: false,
                    message: Some(format!("caisson: cannot judge this object: {e:#}")),
                    code: Some(400),
                    warnings: Vec::new(),
                }
            }
        };
        if kind == DocKind::Other {
            return Verdict {
                allowed: true,
                message: None,
                code: None,
                warnings: Vec::new(),
            };
        }
        // As Pod Security Admission: an UPDATE that changes nothing that runs (labels,
        // annotations other than AppArmor's, finalizers) is not judged again, so an
        // existing pod can still be relabelled or have its finalizers removed.
        if op == "UPDATE" && unchanged_spec(request, &doc) {
            return Verdict {
                allowed: true,
                message: None,
                code: None,
                warnings: Vec::new(),
            };
        }
        let review = json!({"kind": "AdmissionReview", "request": request});
        let d = match self.gate.decide_with_object(&doc, Some(&review)) {
            Ok(d) => d,
            Err(e) => {
                return Verdict {
                    allowed: false,
                    message: Some(format!("caisson: policy evaluation failed: {e:#}")),
                    code: Some(500),
                    warnings: Vec::new(),
                }
            }
        };
        if let Some(l) = &self.log {
            if let Ok(mut l) = l.lock() {
                if let Err(e) = l.record(&caisson_engine::now(), EntryPoint::Webhook, &doc, &d) {
                    eprintln!("caisson webhook: decision log: {e:#}");
                }
            }
        }
        Verdict {
            allowed: d.allowed,
            message: (!d.allowed).then(|| {
                format!(
                    "caisson policy denied {}: {}",
                    describe(&doc),
                    d.denials().join("; ")
                )
            }),
            code: (!d.allowed).then_some(403),
            warnings: d.warnings(),
        }
    }
}

fn unchanged_spec(request: &Value, doc: &Value) -> bool {
    let Some(old) = request.get("oldObject").filter(|o| o.is_object()) else {
        return false;
    };
    let mut r = request.clone();
    r["object"] = old.clone();
    let Ok((old_doc, _)) = input::from_admission_request(&r, None) else {
        return false;
    };
    let apparmor = |d: &Value| -> Vec<(String, Value)> {
        d.pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        k.starts_with("container.apparmor.security.beta.kubernetes.io/")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    old_doc["spec"] == doc["spec"] && apparmor(&old_doc) == apparmor(doc)
}

/// Runs `caisson webhook` until SIGINT/SIGTERM; returns the exit code.
pub fn webhook_command(_root: &Path, a: WebhookArgs) -> Result<i32> {
    let cfg = a.source.config()?;
    let gate = Gate::new(&cfg)?;
    let log = match &cfg.decision_log {
        Some(p) => Some(Arc::new(Mutex::new(DecisionLog::open(p)?))),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(&stop)?;
    let server = caisson_policy::webhook::Server::bind(caisson_policy::webhook::Config {
        listen: a.listen,
        cert_pem: a.tls_cert_file.clone(),
        key_pem: a.tls_private_key_file.clone(),
        max_body_bytes: a.max_body_bytes,
        request_timeout: Duration::from_secs(a.request_timeout.max(1)),
        max_connections: a.max_connections.max(1),
        ..caisson_policy::webhook::Config::default()
    })?;
    let addr = server.local_addr();
    if a.print_address {
        println!("{addr}");
        std::io::stdout().flush()?;
    }
    eprintln!(
        "caisson webhook: listening on https://{addr}/validate (sets: {}; policy {})",
        if cfg.sets.is_empty() {
            "-".to_string()
        } else {
            cfg.sets.join(", ")
        },
        gate.version()
    );
    let factory: Arc<dyn Fn() -> Box<dyn caisson_policy::webhook::Reviewer> + Send + Sync> = {
        let gate = gate.clone();
        let log = log.clone();
        Arc::new(move || Box::new(GateReviewer::new(gate.clone(), log.clone())))
    };
    server.run(factory, stop.clone())?;
    eprintln!("caisson webhook: stopped");
    Ok(0)
}

/// SIGINT/SIGTERM set `stop`: both are blocked in this thread (and the threads it
/// starts after) and one thread waits for them with sigwait.
fn stop_on_signals(stop: &Arc<AtomicBool>) -> Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()
        .map_err(|e| anyhow!("block signals: {e}"))?;
    let stop = stop.clone();
    std::thread::spawn(move || {
        if set.wait().is_ok() {
            stop.store(true, Ordering::SeqCst);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use caisson_policy::webhook::Reviewer;

    #[test]
    fn updates_that_change_nothing_that_runs_are_not_judged_again() {
        let gate = Gate::new(&PolicyConfig::with_sets(&["pss-baseline"])).unwrap();
        let mut r = GateReviewer::new(gate, None);
        let pod = |labels: Value, privileged: bool| {
            json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "labels": labels},
                   "spec": {"containers": [{"name": "c", "image": "nginx",
                            "securityContext": {"privileged": privileged}}]}})
        };
        let review = |op: &str, object: Value, old: Option<Value>| {
            json!({"uid": "1", "operation": op, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                   "namespace": "ns", "object": object, "oldObject": old})
        };
        // Relabelling an existing privileged pod: allowed (its spec did not change).
        let v = r.review(&review(
            "UPDATE",
            pod(json!({"a": "2"}), true),
            Some(pod(json!({"a": "1"}), true)),
        ));
        assert!(v.allowed, "{v:?}");
        // Making it privileged by an update: judged, denied.
        let v = r.review(&review(
            "UPDATE",
            pod(json!({}), true),
            Some(pod(json!({}), false)),
        ));
        assert!(!v.allowed);
        assert!(v.message.unwrap().contains("[pss-baseline/privileged]"));
        // An UPDATE without the old object is judged; so is a CREATE.
        assert!(
            !r.review(&review("UPDATE", pod(json!({}), true), None))
                .allowed
        );
        assert!(
            !r.review(&review("CREATE", pod(json!({}), true), None))
                .allowed
        );
        // DELETE is never refused.
        assert!(
            r.review(&review("DELETE", Value::Null, Some(pod(json!({}), true))))
                .allowed
        );
    }
}
