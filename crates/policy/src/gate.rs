//! The decision engine: policy sets and user Rego loaded once into a regorus engine,
//! then one [`Gate::decide`] per container start or admission request.
//!
//! Every violation a policy reports gets a rule id (`SET/RULE`), a mode and, when
//! an exemption covers it, the exemption's reason:
//! - `deny`: the container does not start / the request is refused;
//! - `warn`: it starts, the user is told (stderr, admission warnings);
//! - `audit`: it starts, only the decision log records it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What a rule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse.
    Deny,
    /// Allow, and tell the user.
    Warn,
    /// Allow, and only record it.
    Audit,
}

impl Mode {
    /// `deny`, `warn` or `audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Deny => "deny",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }
}

/// A built-in policy set: its name, what it is, and its Rego packages.
pub struct BuiltinSet {
    /// Name used by `--set`/`--policy` and in rule ids.
    pub name: &'static str,
    /// One line for `--help` and listings.
    pub about: &'static str,
    packages: &'static [&'static str],
}

const BASELINE: (&str, &str) = (
    "caisson.pss.baseline",
    include_str!("../rego/pss/baseline.rego"),
);
const RESTRICTED: (&str, &str) = (
    "caisson.pss.restricted",
    include_str!("../rego/pss/restricted.rego"),
);
const IMAGE: (&str, &str) = ("caisson.image", include_str!("../rego/image.rego"));

/// The built-in sets.
pub const BUILTIN_SETS: &[BuiltinSet] = &[
    BuiltinSet {
        name: "pss-baseline",
        about: "Kubernetes Pod Security Standards, baseline: no known privilege escalation",
        packages: &["caisson.pss.baseline"],
    },
    BuiltinSet {
        name: "pss-restricted",
        about: "Kubernetes Pod Security Standards, restricted (baseline + hardening)",
        packages: &["caisson.pss.baseline", "caisson.pss.restricted"],
    },
    BuiltinSet {
        name: "image",
        about: "image rules: allowed registries, digest pinning, fixable CRITICAL/HIGH vulnerabilities, secrets in layers",
        packages: &["caisson.image"],
    },
];

/// The built-in Rego modules: (package, source).
pub fn builtin_modules() -> [(&'static str, &'static str); 3] {
    [BASELINE, RESTRICTED, IMAGE]
}

/// Rules whose built-in mode is not `deny`.
const BUILTIN_MODES: &[(&str, Mode)] = &[("image/scan-required", Mode::Warn)];

/// The policy configuration (`/etc/caisson/policy`, `--policy-config`), YAML or JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Built-in sets to evaluate (`pss-baseline`, `pss-restricted`, `image`).
    #[serde(default)]
    pub sets: Vec<String>,
    /// Extra Rego files or directories (their `deny`, `warn` and `violation` rules).
    #[serde(default)]
    pub policies: Vec<PathBuf>,
    /// Parameters of the built-in rules, as `data.caisson.parameters`
    /// (`allowed_registries`, `deny_severities`, `require_digest`, `require_scan`, `deny_secrets`).
    #[serde(default)]
    pub parameters: serde_json::Map<String, Value>,
    /// Extra data documents merged under `data`.
    #[serde(default)]
    pub data: Option<Value>,
    /// Mode per rule: `SET/RULE`, `SET/*` or `*` → `deny` | `warn` | `audit`.
    #[serde(default)]
    pub modes: BTreeMap<String, Mode>,
    /// Exemptions.
    #[serde(default)]
    pub exemptions: Vec<Exemption>,
    /// Append one JSON line per decision to this file.
    #[serde(default)]
    pub decision_log: Option<PathBuf>,
    /// Gatekeeper constraints (YAML files) over the Pod PSP templates of
    /// [`crate::gatekeeper`]; they judge Kubernetes objects and AdmissionReviews,
    /// not OCI configs. Rule id: `constraint/KIND/NAME`; `enforcementAction`
    /// deny/warn/dryrun gives the mode deny/warn/audit.
    #[serde(default)]
    pub constraints: Vec<PathBuf>,
}

/// Who is exempt from which rules. Every selector given must match; an empty one
/// matches everything.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemption {
    /// Namespaces (`*` at the end: prefix).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Labels that must all be present with these values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Images (`*` at the end: prefix) — the violating container's image, or every
    /// image of the input for pod-wide violations.
    #[serde(default)]
    pub images: Vec<String>,
    /// Rules (`SET/RULE`, `SET/*`); empty: all.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Why (logged).
    #[serde(default)]
    pub reason: Option<String>,
}

impl PolicyConfig {
    /// Reads a configuration. `path` may be a file (YAML or JSON) or a directory
    /// holding `config.yaml`/`config.yml`/`config.json` and `*.rego` files (all loaded).
    pub fn load(path: &Path) -> Result<PolicyConfig> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("policy config {}", path.display()))?;
        if meta.is_dir() {
            let mut cfg = PolicyConfig::default();
            for name in ["config.yaml", "config.yml", "config.json"] {
                let p = path.join(name);
                if p.exists() {
                    cfg = Self::parse_file(&p)?;
                    break;
                }
            }
            cfg.rebase(path);
            cfg.policies.push(path.to_path_buf());
            return Ok(cfg);
        }
        let mut cfg = Self::parse_file(path)?;
        cfg.rebase(path.parent().unwrap_or(Path::new("/")));
        Ok(cfg)
    }

    /// Makes the paths the configuration names relative to where it lives.
    fn rebase(&mut self, base: &Path) {
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.policies.iter_mut().for_each(abs);
        self.constraints.iter_mut().for_each(abs);
        self.decision_log.iter_mut().for_each(abs);
    }

    fn parse_file(path: &Path) -> Result<PolicyConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let v: Value = serde_yaml::from_str::<serde_yaml::Value>(&text)
            .map_err(|e| anyhow!("{}: {e}", path.display()))
            .and_then(|y| {
                serde_json::to_value(y).map_err(|e| anyhow!("{}: {e}", path.display()))
            })?;
        let v = if v.is_null() { json!({}) } else { v };
        serde_path_to_error::deserialize(v)
            .map_err(|e| anyhow!("{}: field `{}`: {}", path.display(), e.path(), e.inner()))
    }

    /// A configuration evaluating the given built-in sets with defaults.
    pub fn with_sets(sets: &[&str]) -> PolicyConfig {
        PolicyConfig {
            sets: sets.iter().map(|s| s.to_string()).collect(),
            ..PolicyConfig::default()
        }
    }
}

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// `SET/RULE` (`pss-baseline/privileged`).
    pub rule: String,
    /// What is wrong, naming the container and field.
    pub message: String,
    /// The mode it was decided in.
    pub mode: Mode,
    /// The offending field (`spec.containers[0].securityContext.privileged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The container it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The image it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The reason of the exemption that lets it pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempted: Option<String>,
}

impl Violation {
    /// True when this violation blocks.
    pub fn denies(&self) -> bool {
        self.mode == Mode::Deny && self.exempted.is_none()
    }
    /// True when the user should be told.
    pub fn warns(&self) -> bool {
        self.mode == Mode::Warn && self.exempted.is_none()
    }
}

/// The outcome of one decision.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Nothing in deny mode fired (or every such violation is exempt).
    pub allowed: bool,
    /// Every violation, in every mode.
    pub violations: Vec<Violation>,
    /// `sha256:` of the policies, their parameters, modes and exemptions.
    pub policy_version: String,
    /// Evaluation time.
    #[serde(serialize_with = "micros")]
    pub latency: Duration,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Decision {
    /// Messages of the violations that deny.
    pub fn denials(&self) -> Vec<String> {
        self.violations
            .iter()
            .filter(|v| v.denies())
            .map(|v| format!("[{}] {}", v.rule, v.message))
            .collect()
    }
    /// Messages of the violations that warn.
    pub fn warnings(&self) -> Vec<String> {
        self.violations
            .iter()
            .filter(|v| v.warns())
            .map(|v| format!("[{}] {}", v.rule, v.message))
            .collect()
    }
}

/// A query the gate evaluates: a rule path, the set name it reports under, its mode.
#[derive(Debug, Clone)]
struct Query {
    path: String,
    set: String,
    mode: Mode,
}

/// The VM's instruction budget per decision (about a second of work).
const VM_MAX_INSTRUCTIONS: usize = 50_000_000;

/// The built-in sets compiled to regorus's register VM (RVM) bytecode: the same
/// Rego, evaluated about four times faster than by the tree-walking interpreter.
struct Compiled {
    program: std::sync::Arc<regorus::rvm::Program>,
    data: regorus::Value,
    vm: regorus::rvm::RegoVM,
}

impl Compiled {
    fn new(
        program: std::sync::Arc<regorus::rvm::Program>,
        data: regorus::Value,
    ) -> Result<Compiled> {
        let mut vm = regorus::rvm::RegoVM::new();
        // regorus's default budget (25,000 instructions) sends a pod of a few hundred
        // containers to the slower interpreter; the input size bounds the work.
        vm.set_max_instructions(VM_MAX_INSTRUCTIONS);
        vm.load_program(program.clone());
        vm.set_data(data.clone())
            .map_err(|e| anyhow!("policy data: {e}"))?;
        Ok(Compiled { program, data, vm })
    }
}

impl Clone for Compiled {
    fn clone(&self) -> Compiled {
        // A VM per clone (per thread); the program is shared.
        Compiled::new(self.program.clone(), self.data.clone()).expect("data was accepted once")
    }
}

/// The loaded policies, ready to decide. Cheap to clone (one per thread).
#[derive(Clone)]
pub struct Gate {
    engine: regorus::Engine,
    compiled: Option<Compiled>,
    /// The severities `image/vulnerabilities` denies (its `deny_severities`
    /// parameter), when they are plain strings: the compiled sets are only given
    /// the findings that rule can count.
    deny_severities: Option<Vec<String>>,
    /// The built-in packages the aggregate reports, and the set each reports under.
    package_sets: Vec<(&'static str, &'static str)>,
    fallbacks: u64,
    queries: Vec<Query>,
    modes: Vec<(String, Mode)>,
    exemptions: Vec<Exemption>,
    version: String,
    sets: Vec<String>,
    constraints: Vec<crate::gatekeeper::Constraint>,
    library: Option<crate::gatekeeper::Library>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("sets", &self.sets)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The rule that gathers the built-in packages' violations as `{package: violations}`.
const AGGREGATE: &str = "data.caisson.gate.violations";

/// Rule heads a user module may define, and the mode each gets by default.
const USER_RULES: &[(&str, Mode)] = &[
    ("deny", Mode::Deny),
    ("violation", Mode::Deny),
    ("warn", Mode::Warn),
];

impl Gate {
    /// Loads the configuration's sets and Rego files.
    pub fn new(config: &PolicyConfig) -> Result<Gate> {
        let mut engine = regorus::Engine::new();
        let mut hasher = Sha256::new();
        let mut queries: Vec<Query> = Vec::new();
        let mut aggregate =
            String::from("package caisson.gate\n\nimport rego.v1\n\nviolations := {\n");
        let mut package_sets: Vec<(&'static str, &'static str)> = Vec::new();
        let loaded = |ps: &[(&str, &str)], pkg: &str| ps.iter().any(|(p, _)| *p == pkg);
        // Strongest set first, so a package shared by two sets reports under the stronger.
        let mut sets: Vec<&BuiltinSet> = Vec::new();
        for s in &config.sets {
            let b = BUILTIN_SETS
                .iter()
                .find(|b| b.name == s)
                .ok_or_else(|| anyhow!("unknown policy set {s:?} (built-in: {})", set_names()))?;
            sets.push(b);
        }
        sets.sort_by_key(|b| std::cmp::Reverse(b.packages.len()));
        for b in &sets {
            for pkg in b.packages {
                if loaded(&package_sets, pkg) {
                    continue;
                }
                package_sets.push((pkg, b.name));
                aggregate.push_str(&format!("\t{pkg:?}: data.{pkg}.violation,\n"));
            }
        }
        // One query for every built-in package: one evaluation per decision, and
        // helper rules shared by packages (the baseline's container list) are
        // computed once.
        aggregate.push_str("}\n");
        if !package_sets.is_empty() {
            engine
                .add_policy("builtin/caisson.gate.rego".into(), aggregate)
                .context("built-in aggregate policy")?;
            queries.push(Query {
                path: AGGREGATE.into(),
                set: String::new(),
                mode: Mode::Deny,
            });
        }
        // The baseline package backs restricted: load every built-in module (cheap).
        for (pkg, src) in [BASELINE, RESTRICTED, IMAGE] {
            engine
                .add_policy(format!("builtin/{pkg}.rego"), src.to_string())
                .with_context(|| format!("built-in policy {pkg}"))?;
            if loaded(&package_sets, pkg) {
                hasher.update(src.as_bytes());
            }
        }
        let mut files = Vec::new();
        for p in &config.policies {
            collect_rego(p, &mut files)?;
        }
        files.sort();
        files.dedup();
        for f in &files {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
            if is_test_file(f) {
                continue;
            }
            hasher.update(f.to_string_lossy().as_bytes());
            hasher.update(text.as_bytes());
            let pkg = engine
                .add_policy(f.to_string_lossy().into_owned(), text.clone())
                .map_err(|e| anyhow!("{}: {e}", f.display()))?;
            let pkg = pkg.trim_start_matches("data.").to_string();
            for (head, mode) in USER_RULES {
                if defines_rule(&text, head) {
                    let path = format!("data.{pkg}.{head}");
                    if !queries.iter().any(|q| q.path == path) {
                        queries.push(Query {
                            path,
                            set: pkg.clone(),
                            mode: *mode,
                        });
                    }
                }
            }
        }
        let mut data = config.data.clone().unwrap_or_else(|| json!({}));
        if !data.is_object() {
            bail!("policy config: `data` must be an object");
        }
        data["caisson"] = json!({"parameters": config.parameters});
        engine
            .add_data(regorus::Value::from(data.clone()))
            .map_err(|e| anyhow!("policy data: {e}"))?;
        hasher.update(serde_json::to_vec(&data)?);
        hasher.update(serde_json::to_vec(&config.modes)?);
        hasher.update(serde_json::to_vec(&config.exemptions)?);
        let mut modes: Vec<(String, Mode)> = BUILTIN_MODES
            .iter()
            .map(|(r, m)| (r.to_string(), *m))
            .collect();
        modes.extend(config.modes.iter().map(|(k, v)| (k.clone(), *v)));
        for pattern in config.modes.keys() {
            if pattern.is_empty() {
                bail!("policy config: modes: empty rule pattern");
            }
        }
        let mut constraints = Vec::new();
        for p in &config.constraints {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("read constraint {}", p.display()))?;
            hasher.update(text.as_bytes());
            let c = crate::gatekeeper::Constraint::from_yaml(&text)
                .map_err(|e| anyhow!("{}: {e:#}", p.display()))?;
            constraints.push(c);
        }
        let library = if constraints.is_empty() {
            None
        } else {
            let lib = crate::gatekeeper::Library::new()?;
            for c in &constraints {
                if !lib.supports(&c.kind) {
                    bail!(
                        "constraint {}: unknown kind {} (known: {})",
                        c.name,
                        c.kind,
                        lib.kinds().join(", ")
                    );
                }
            }
            Some(lib)
        };
        if queries.is_empty() && constraints.is_empty() {
            bail!("no policy to evaluate: name a built-in set ({}) or a Rego file with deny/warn/violation rules", set_names());
        }
        // The built-in sets run on the RVM; should the compiler not take them, the
        // interpreter decides (same Rego, slower).
        let data_value = regorus::Value::from(data.clone());
        let compiled = if queries.iter().any(|q| q.path == AGGREGATE) {
            let entry = regorus::Rc::from(AGGREGATE);
            engine
                .compile_with_entrypoint(&entry)
                .and_then(|cp| {
                    regorus::languages::rego::compiler::Compiler::compile_from_policy(
                        &cp,
                        &[AGGREGATE],
                    )
                    .map_err(|e| anyhow!("{e}"))
                })
                .ok()
                .map(|program| Compiled::new(program, data_value))
                .transpose()?
        } else {
            None
        };
        // As image.rego resolves its `deny_severities` parameter (defaults and
        // the configuration's value), read once from the Rego itself.
        let deny_severities = engine
            .eval_rule("data.caisson.image.params".into())
            .ok()
            .and_then(|p| match &p["deny_severities"] {
                regorus::Value::Array(a) => a
                    .iter()
                    .map(|s| s.as_string().ok().map(|s| s.to_string()))
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            });
        // Prepare (compile) once, so the first decision is not slower than the rest.
        let mut gate = Gate {
            engine,
            compiled,
            deny_severities,
            package_sets,
            fallbacks: 0,
            queries,
            modes,
            exemptions: config.exemptions.clone(),
            version: format!("sha256:{:x}", hasher.finalize()),
            sets: config.sets.clone(),
            constraints,
            library,
        };
        gate.decide(&json!({"spec": {}, "metadata": {}, "images": []}))
            .context("policy evaluation failed on an empty input")?;
        Ok(gate)
    }

    /// `rvm` when the built-in sets run compiled, else `interpreter`.
    pub fn backend(&self) -> &'static str {
        if self.compiled.is_some() {
            "rvm"
        } else {
            "interpreter"
        }
    }

    /// How many decisions the VM could not take (the interpreter took them).
    pub fn vm_fallbacks(&self) -> u64 {
        self.fallbacks
    }

    /// Decide with the interpreter only (to check the compiled program against it).
    #[doc(hidden)]
    pub fn use_interpreter(&mut self) {
        self.compiled = None;
    }

    /// `sha256:` over everything that decides: policy texts, parameters, modes, exemptions.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The built-in sets in use.
    pub fn sets(&self) -> &[String] {
        &self.sets
    }

    /// Decides a normalised input (see [`crate::input`]).
    pub fn decide(&mut self, input: &Value) -> Result<Decision> {
        self.decide_with_object(input, None)
    }

    /// Decides a normalised input; `object` is the original Kubernetes object or
    /// AdmissionReview, which Gatekeeper constraints judge (skipped without it).
    pub fn decide_with_object(
        &mut self,
        input: &Value,
        object: Option<&Value>,
    ) -> Result<Decision> {
        let start = Instant::now();
        // The interpreter (user policies, or built-ins the compiler did not take)
        // gets the whole document plus the index; made only when needed.
        let mut violations = Vec::new();
        let mut interpreter_ready = false;
        for q in &self.queries {
            let compiled = match &mut self.compiled {
                Some(c) if q.path == AGGREGATE => {
                    c.vm.set_input(builtin_view(input, self.deny_severities.as_deref())?);
                    // The VM is an optimisation; the interpreter is the reference
                    // and decides whatever the VM cannot.
                    let r = c.vm.execute().ok();
                    self.fallbacks += u64::from(r.is_none());
                    r
                }
                _ => None,
            };
            let out = match compiled {
                Some(v) => v,
                None => {
                    if !interpreter_ready {
                        self.engine.set_input(full_input(input)?);
                        interpreter_ready = true;
                    }
                    self.engine
                        .eval_rule(q.path.clone())
                        .map_err(|e| anyhow!("{}: {e}", q.path))?
                }
            };
            if q.path == AGGREGATE {
                // The aggregate: {package: violations}.
                let Ok(by_package) = out.as_object() else {
                    bail!("{}: not an object: {out}", q.path);
                };
                for (pkg, vs) in by_package.iter() {
                    let pkg = pkg.as_string().map(|p| p.as_ref()).unwrap_or_default();
                    let set = self
                        .package_sets
                        .iter()
                        .find(|(p, _)| *p == pkg)
                        .map_or(pkg, |(_, s)| s);
                    for item in items(vs) {
                        violations.push(self.violation(set, q, item, input)?);
                    }
                }
                continue;
            }
            for item in items(&out) {
                violations.push(self.violation(&q.set, q, item, input)?);
            }
        }
        let mut found = Vec::new();
        if let (Some(lib), Some(obj)) = (self.library.as_mut(), object) {
            let review = crate::gatekeeper::review_for(obj);
            for c in &self.constraints {
                let mode = match c.enforcement_action.as_str() {
                    "warn" => Mode::Warn,
                    "dryrun" => Mode::Audit,
                    _ => Mode::Deny,
                };
                for gv in lib.evaluate(c, &review)? {
                    found.push((format!("constraint/{}/{}", c.kind, c.name), gv.msg, mode));
                }
            }
        }
        for (rule, message, mode) in found {
            let mut v = Violation {
                mode: self.mode_of(&rule, mode),
                rule,
                message,
                field: None,
                container: None,
                image: None,
                exempted: None,
            };
            v.exempted = self.exemption(&v, input);
            violations.push(v);
        }
        violations
            .sort_by(|a, b| (&a.rule, &a.field, &a.message).cmp(&(&b.rule, &b.field, &b.message)));
        violations.dedup();
        let allowed = !violations.iter().any(Violation::denies);
        Ok(Decision {
            allowed,
            violations,
            policy_version: self.version.clone(),
            latency: start.elapsed(),
        })
    }

    /// One reported item as a violation: a string (the message), `true`, or an
    /// object with `msg` (or `message`) and optionally `rule`, `field`,
    /// `container`, `image`.
    fn violation(
        &self,
        set: &str,
        q: &Query,
        item: &regorus::Value,
        input: &Value,
    ) -> Result<Violation> {
        let get = |k: &str| match item {
            regorus::Value::Object(o) => o
                .iter()
                .find(|(key, _)| key.as_string().is_ok_and(|s| s.as_ref() == k))
                .and_then(|(_, v)| v.as_string().ok())
                .map(|s| s.to_string()),
            _ => None,
        };
        let (rule_name, message) = match item {
            regorus::Value::String(s) => (None, s.to_string()),
            regorus::Value::Bool(true) => (None, format!("{} is true", q.path)),
            _ => (
                get("rule"),
                match get("msg").or_else(|| get("message")) {
                    Some(m) => m,
                    None => to_json(item)?.to_string(),
                },
            ),
        };
        let tail = q.path.rsplit('.').next().unwrap_or_default();
        let rule = format!("{set}/{}", rule_name.as_deref().unwrap_or(tail));
        let default = if tail == "warn" { Mode::Warn } else { q.mode };
        let container = get("container").filter(|c| !c.is_empty());
        let image = get("image").or_else(|| {
            container.as_ref().and_then(|c| {
                input["images"]
                    .as_array()?
                    .iter()
                    .find(|i| i["container"] == *c)
                    .and_then(|i| i["ref"].as_str().map(str::to_string))
            })
        });
        let mode = self.mode_of(&rule, default);
        let mut v = Violation {
            rule,
            message,
            mode,
            field: get("field"),
            container,
            image,
            exempted: None,
        };
        v.exempted = self.exemption(&v, input);
        Ok(v)
    }

    fn mode_of(&self, rule: &str, default: Mode) -> Mode {
        // Most specific pattern wins: exact, then SET/*, then *.
        let mut best: Option<(usize, Mode)> = None;
        for (p, m) in &self.modes {
            if let Some(score) = rule_match(p, rule) {
                if best.is_none_or(|(s, _)| score >= s) {
                    best = Some((score, *m));
                }
            }
        }
        best.map_or(default, |(_, m)| m)
    }

    fn exemption(&self, v: &Violation, input: &Value) -> Option<String> {
        if self.exemptions.is_empty() {
            return None;
        }
        let ns = input
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let labels = input.pointer("/metadata/labels");
        for e in &self.exemptions {
            if !e.rules.is_empty() && !e.rules.iter().any(|p| rule_match(p, &v.rule).is_some()) {
                continue;
            }
            if !e.namespaces.is_empty() && !e.namespaces.iter().any(|p| glob(p, ns)) {
                continue;
            }
            if !e.labels.iter().all(|(k, val)| {
                labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(val.as_str())
            }) {
                continue;
            }
            if !e.images.is_empty() {
                let ok = match &v.image {
                    Some(img) => e.images.iter().any(|p| glob(p, img)),
                    None => {
                        let all: Vec<&str> = input["images"]
                            .as_array()
                            .map(|a| a.iter().filter_map(|i| i["ref"].as_str()).collect())
                            .unwrap_or_default();
                        !all.is_empty()
                            && all.iter().all(|img| e.images.iter().any(|p| glob(p, img)))
                    }
                };
                if !ok {
                    continue;
                }
            }
            return Some(e.reason.clone().unwrap_or_else(|| "exempt".to_string()));
        }
        None
    }
}

/// The items a rule reported: a set's or array's elements; none for undefined,
/// null or `false`; else the value itself (`deny := "..."`, `deny := true`).
fn items(v: &regorus::Value) -> Vec<&regorus::Value> {
    match v {
        regorus::Value::Set(s) => s.iter().collect(),
        regorus::Value::Array(a) => a.iter().collect(),
        regorus::Value::Undefined | regorus::Value::Null | regorus::Value::Bool(false) => {
            Vec::new()
        }
        other => vec![other],
    }
}

/// A regorus value as JSON, built directly (sets become arrays, as in OPA's JSON).
fn to_json(v: &regorus::Value) -> Result<Value> {
    Ok(match v {
        regorus::Value::Null | regorus::Value::Undefined => Value::Null,
        regorus::Value::Bool(b) => Value::Bool(*b),
        regorus::Value::String(s) => Value::String(s.to_string()),
        regorus::Value::Number(_) => serde_json::to_value(v)?,
        regorus::Value::Array(a) => Value::Array(a.iter().map(to_json).collect::<Result<_>>()?),
        regorus::Value::Set(s) => Value::Array(s.iter().map(to_json).collect::<Result<_>>()?),
        regorus::Value::Object(o) => {
            let mut m = serde_json::Map::new();
            for (k, x) in o.iter() {
                let key = match k {
                    regorus::Value::String(s) => s.to_string(),
                    other => other.to_json_str().map_err(|e| anyhow!("{e}"))?,
                };
                m.insert(key, to_json(x)?);
            }
            Value::Object(m)
        }
    })
}

/// A JSON value as a regorus value, built directly (no serde round trip).
fn rv(v: &Value) -> Result<regorus::Value> {
    Ok(match v {
        Value::Null => regorus::Value::Null,
        Value::Bool(b) => regorus::Value::from(*b),
        Value::String(s) => regorus::Value::from(s.as_str()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                regorus::Value::from(u)
            } else if let Some(i) = n.as_i64() {
                regorus::Value::from(i)
            } else {
                <regorus::Value as serde::Deserialize>::deserialize(v)
                    .map_err(|e| anyhow!("input: {e}"))?
            }
        }
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for x in a {
                out.push(rv(x)?);
            }
            regorus::Value::from(out)
        }
        Value::Object(m) => {
            let mut o = regorus::Value::new_object();
            if let Ok(map) = o.as_object_mut() {
                for (k, x) in m {
                    map.insert(regorus::Value::from(k.as_str()), rv(x)?);
                }
            }
            o
        }
    })
}

fn robj(pairs: Vec<(&str, regorus::Value)>) -> regorus::Value {
    let mut o = regorus::Value::new_object();
    if let Ok(m) = o.as_object_mut() {
        for (k, v) in pairs {
            if v != regorus::Value::Undefined {
                m.insert(regorus::Value::from(k), v);
            }
        }
    }
    o
}

/// The fields of a scan finding the image rules read.
const FINDING_KEYS: &[&str] = &["id", "severity", "package", "installed", "fixed"];

thread_local! {
    static FINDING: Shape = Shape::new(FINDING_KEYS);
}

/// Objects with one fixed set of keys, made from a template (compact storage,
/// the keys shared): one allocation per object instead of one per key and node.
/// A scan report holds hundreds of findings alike.
struct Shape {
    template: regorus::Value,
    keys: Vec<(&'static str, regorus::Value)>,
}

impl Shape {
    fn new(keys: &[&'static str]) -> Shape {
        let keys: Vec<_> = keys
            .iter()
            .map(|k| (*k, regorus::Value::from(*k)))
            .collect();
        let template = regorus::Value::from(
            keys.iter()
                .map(|(_, k)| (k.clone(), regorus::Value::Null))
                .collect::<BTreeMap<_, _>>(),
        );
        Shape { template, keys }
    }

    /// `src`'s fields as an object; `None` when `src` lacks one of them.
    fn make(&self, src: &Value) -> Result<Option<regorus::Value>> {
        let Some(m) = src.as_object() else {
            return Ok(None);
        };
        let mut v = self.template.clone();
        let o = v.as_object_mut().map_err(|e| anyhow!("{e}"))?;
        for (k, key) in &self.keys {
            let (Some(x), Some(slot)) = (m.get(*k), o.get_mut(key)) else {
                return Ok(None);
            };
            *slot = rv(x)?;
        }
        Ok(Some(v))
    }
}

/// What the interpreter is given: the whole document plus the field index.
fn full_input(input: &Value) -> Result<regorus::Value> {
    let mut value = rv(input)?;
    if let Ok(m) = value.as_object_mut() {
        m.insert(
            regorus::Value::from("present"),
            rv(&Value::Object(present(input)))?,
        );
    }
    Ok(value)
}

/// What the compiled built-in sets are given: only the fields they read (see
/// rego/pss/*.rego and rego/image.rego), so a big pod or scan report is not
/// copied whole into the VM on every decision. `tests/rvm.rs` checks the
/// compiled sets on this view decide exactly as the interpreter does on the
/// whole document. With `deny_severities`, only the findings
/// `image/vulnerabilities` counts are given (a string `fixed`, a denied severity).
fn builtin_view(input: &Value, deny_severities: Option<&[String]>) -> Result<regorus::Value> {
    let pick = |v: &Value, keys: &[&str]| -> Result<regorus::Value> {
        let mut pairs = Vec::new();
        for k in keys {
            if let Some(x) = v.get(*k) {
                pairs.push((*k, rv(x)?));
            }
        }
        Ok(robj(pairs))
    };
    let spec = &input["spec"];
    let mut spec_pairs = Vec::new();
    for k in [
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "hostUsers",
        "os",
        "securityContext",
    ] {
        if let Some(x) = spec.get(k) {
            spec_pairs.push((k, rv(x)?));
        }
    }
    if let Some(vols) = spec.get("volumes") {
        let v = match vols.as_array() {
            Some(a) => {
                let mut out = Vec::with_capacity(a.len());
                for vol in a {
                    // Every key counts (volume types); only name and hostPath are read.
                    let mut pairs = Vec::new();
                    if let Some(m) = vol.as_object() {
                        for (k, x) in m {
                            let val = if k == "name" || k == "hostPath" {
                                rv(x)?
                            } else {
                                regorus::Value::new_object()
                            };
                            pairs.push((k.as_str(), val));
                        }
                    }
                    out.push(robj(pairs));
                }
                regorus::Value::from(out)
            }
            None => rv(vols)?,
        };
        spec_pairs.push(("volumes", v));
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(cs) = spec.get(list) {
            let v = match cs.as_array() {
                Some(a) => {
                    let mut out = Vec::with_capacity(a.len());
                    for c in a {
                        let mut pairs = Vec::new();
                        for k in [
                            "name",
                            "securityContext",
                            "livenessProbe",
                            "readinessProbe",
                            "startupProbe",
                            "lifecycle",
                        ] {
                            if let Some(x) = c.get(k) {
                                pairs.push((k, rv(x)?));
                            }
                        }
                        if let Some(ports) = c.get("ports") {
                            let p = match ports.as_array() {
                                Some(ps) => {
                                    let mut o = Vec::with_capacity(ps.len());
                                    for port in ps {
                                        o.push(pick(port, &["hostPort"])?);
                                    }
                                    regorus::Value::from(o)
                                }
                                None => rv(ports)?,
                            };
                            pairs.push(("ports", p));
                        }
                        out.push(robj(pairs));
                    }
                    regorus::Value::from(out)
                }
                None => rv(cs)?,
            };
            spec_pairs.push((list, v));
        }
    }
    let annotations = match input
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        Some(m) => {
            let mut pairs = Vec::new();
            for (k, v) in m {
                if k.starts_with("container.apparmor.security.beta.kubernetes.io/") {
                    pairs.push((k.as_str(), rv(v)?));
                }
            }
            robj(pairs)
        }
        None => regorus::Value::new_object(),
    };
    let scan = match input.get("scan") {
        Some(s) if s.is_object() => {
            let findings = match s.get("findings").and_then(Value::as_array) {
                Some(a) => {
                    let counted = |f: &&Value| match deny_severities {
                        None => true,
                        Some(sev) => {
                            f.get("fixed").is_some_and(Value::is_string)
                                && f.get("severity")
                                    .and_then(Value::as_str)
                                    .is_some_and(|s| sev.iter().any(|d| d == s))
                        }
                    };
                    let mut out = Vec::new();
                    for f in a.iter().filter(counted) {
                        out.push(match FINDING.with(|shape| shape.make(f))? {
                            Some(v) => v,
                            None => pick(f, FINDING_KEYS)?,
                        });
                    }
                    regorus::Value::from(out)
                }
                None => regorus::Value::Undefined,
            };
            let secrets = match s.get("secrets") {
                Some(x) => rv(x)?,
                None => regorus::Value::Undefined,
            };
            robj(vec![("findings", findings), ("secrets", secrets)])
        }
        Some(other) => rv(other)?,
        None => regorus::Value::Undefined,
    };
    Ok(robj(vec![
        (
            "source",
            input
                .get("source")
                .map(rv)
                .transpose()?
                .unwrap_or(regorus::Value::Undefined),
        ),
        ("metadata", robj(vec![("annotations", annotations)])),
        ("spec", robj(spec_pairs)),
        (
            "images",
            input
                .get("images")
                .map(rv)
                .transpose()?
                .unwrap_or(regorus::Value::Undefined),
        ),
        ("scan", scan),
        ("present", rv(&Value::Object(present(input)))?),
    ]))
}

/// The index of the fields an input sets, which the built-in rules check before
/// looking at a field (`on["sc.privileged"]` in baseline.rego): `podsc.K` for each
/// key of the pod's securityContext, `sc.K` for each key of any container's,
/// `c.ports` and `c.probes` (probes or lifecycle hooks) when a container has them,
/// `spec.volumes`, `spec.hostns` (any of hostNetwork/hostPID/hostIPC) and
/// `apparmor-annotation`. It only ever says a field exists
/// (never that one does not when it does), so it can skip rules, not hide fields.
pub fn present(input: &Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    let spec = &input["spec"];
    if spec.get("volumes").is_some() {
        m.insert("spec.volumes".into(), Value::Bool(true));
    }
    if ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .any(|k| spec.get(k).is_some())
    {
        m.insert("spec.hostns".into(), Value::Bool(true));
    }
    if let Some(sc) = spec.get("securityContext").and_then(Value::as_object) {
        for k in sc.keys() {
            m.insert(format!("podsc.{k}"), Value::Bool(true));
        }
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(sc) = c.get("securityContext").and_then(Value::as_object) {
                for k in sc.keys() {
                    if !m.contains_key(&format!("sc.{k}")) {
                        m.insert(format!("sc.{k}"), Value::Bool(true));
                    }
                }
            }
            if c.get("ports").is_some() {
                m.insert("c.ports".into(), Value::Bool(true));
            }
            if [
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
                "lifecycle",
            ]
            .iter()
            .any(|p| c.get(p).is_some())
            {
                m.insert("c.probes".into(), Value::Bool(true));
            }
        }
    }
    if input
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| {
            a.keys()
                .any(|k| k.starts_with("container.apparmor.security.beta.kubernetes.io/"))
        })
    {
        m.insert("apparmor-annotation".into(), Value::Bool(true));
    }
    m
}

/// `sha256:` of a normalised input (its canonical JSON: keys sorted), as the
/// decision log records it.
pub fn input_digest(input: &Value) -> String {
    let bytes = serde_json::to_vec(input).unwrap_or_default();
    format!("sha256:{:x}", Sha256::digest(&bytes))
}

/// `*` matches all; `SET/*` or `SET` matches the set; else exact. Returns a
/// specificity score.
fn rule_match(pattern: &str, rule: &str) -> Option<usize> {
    if pattern == "*" {
        return Some(0);
    }
    if pattern == rule {
        return Some(2);
    }
    let set = rule.rsplit_once('/').map(|(s, _)| s).unwrap_or(rule);
    if pattern.strip_suffix("/*") == Some(set) || pattern == set {
        return Some(1);
    }
    None
}

fn glob(pattern: &str, s: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => s.starts_with(prefix),
        None => pattern == s,
    }
}

fn set_names() -> String {
    BUILTIN_SETS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// True for `*_test.rego` (unit tests, run by `caisson policy test`, not enforced).
pub fn is_test_file(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with("_test.rego"))
}

/// Adds `p` (a `.rego` file) or every `.rego` file under `p` (a directory).
pub fn collect_rego(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(p).with_context(|| format!("policy {}", p.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .with_context(|| format!("read {}", p.display()))?
            .collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let ft = e.file_type()?;
            if ft.is_dir() {
                collect_rego(&path, out)?;
            } else if ft.is_file() && path.extension().is_some_and(|x| x == "rego") {
                out.push(path);
            }
        }
    } else if p.extension().is_some_and(|x| x == "rego") {
        out.push(p.to_path_buf());
    } else {
        bail!("{}: not a .rego file or a directory", p.display());
    }
    Ok(())
}

/// True when the module text defines a rule named `head` at the top level.
pub fn defines_rule(text: &str, head: &str) -> bool {
    text.lines().any(|l| {
        l.strip_prefix(head).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with([' ', '\t', '[', '{', ':', '=', '('])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input;

    fn pod(spec: Value) -> Value {
        input::normalize(
            &json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "team"}, "spec": spec}),
            None,
        )
        .unwrap()
        .0
    }

    #[test]
    fn baseline_denies_privileged_and_restricted_needs_hardening() {
        let mut g = Gate::new(&PolicyConfig::with_sets(&["pss-baseline"])).unwrap();
        let d = g
            .decide(&pod(
                json!({"containers": [{"name": "c", "image": "nginx"}]}),
            ))
            .unwrap();
        assert!(d.allowed, "{:?}", d.violations);
        let d = g
            .decide(&pod(json!({"hostPID": true, "containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}]})))
            .unwrap();
        assert!(!d.allowed);
        let rules: Vec<_> = d.violations.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(
            rules,
            ["pss-baseline/host-namespaces", "pss-baseline/privileged"],
            "{d:?}"
        );
        assert_eq!(
            d.violations[1].field.as_deref(),
            Some("spec.containers[0].securityContext.privileged")
        );

        let mut r = Gate::new(&PolicyConfig::with_sets(&["pss-restricted"])).unwrap();
        let d = r
            .decide(&pod(
                json!({"containers": [{"name": "c", "image": "nginx"}]}),
            ))
            .unwrap();
        let mut rules: Vec<_> = d.violations.iter().map(|v| v.rule.as_str()).collect();
        rules.sort();
        assert_eq!(
            rules,
            [
                "pss-restricted/allow-privilege-escalation",
                "pss-restricted/capabilities",
                "pss-restricted/run-as-non-root",
                "pss-restricted/seccomp"
            ]
        );
        let hardened = json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": "nginx", "securityContext": {"allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]});
        let d = r.decide(&pod(hardened)).unwrap();
        assert!(d.allowed && d.violations.is_empty(), "{d:?}");
    }

    #[test]
    fn modes_and_exemptions() {
        let cfg: PolicyConfig = serde_json::from_value(json!({
            "sets": ["pss-baseline"],
            "modes": {"pss-baseline/host-namespaces": "warn", "pss-baseline/*": "deny"},
            "exemptions": [{"namespaces": ["kube-*"], "rules": ["pss-baseline/privileged"], "reason": "system"}]
        }))
        .unwrap();
        let mut g = Gate::new(&cfg).unwrap();
        let d = g
            .decide(&pod(
                json!({"hostNetwork": true, "containers": [{"name": "c"}]}),
            ))
            .unwrap();
        assert!(d.allowed);
        assert_eq!(d.warnings().len(), 1);
        let priv_pod = json!({"kind": "Pod", "metadata": {"namespace": "kube-system"},
            "spec": {"containers": [{"name": "c", "securityContext": {"privileged": true}}]}});
        let (i, _) = input::normalize(&priv_pod, None).unwrap();
        let d = g.decide(&i).unwrap();
        assert!(d.allowed);
        assert_eq!(d.violations[0].exempted.as_deref(), Some("system"));
        let d = g
            .decide(&pod(
                json!({"containers": [{"name": "c", "securityContext": {"privileged": true}}]}),
            ))
            .unwrap();
        assert!(!d.allowed);
        assert!(d.denials()[0].contains("[pss-baseline/privileged] container \"c\" is privileged"));
    }

    #[test]
    fn the_findings_filter_follows_the_image_rules_parameter() {
        let severities = |p: Option<Value>| {
            let mut cfg = PolicyConfig::with_sets(&["image"]);
            if let Some(p) = p {
                cfg.parameters.insert("deny_severities".into(), p);
            }
            Gate::new(&cfg).unwrap().deny_severities
        };
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(severities(None), strings(&["CRITICAL", "HIGH"]));
        assert_eq!(severities(Some(json!(["LOW"]))), strings(&["LOW"]));
        // Not plain strings: every finding goes to the VM.
        assert_eq!(severities(Some(json!(["LOW", 3]))), None);
        assert_eq!(severities(Some(json!("LOW"))), None);
    }

    #[test]
    fn unknown_set_and_bad_config_are_named() {
        let e = Gate::new(&PolicyConfig::with_sets(&["pss-strict"])).unwrap_err();
        assert!(
            e.to_string().contains("unknown policy set \"pss-strict\""),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "sets: [pss-baseline]\nmodes: {\"*\": block}\n").unwrap();
        let e = PolicyConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("modes") && e.contains("block"), "{e}");
    }
}
