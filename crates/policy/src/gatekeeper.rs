//! Gatekeeper-compatible constraint templates (our own Rego) and constraint matching.
//!
//! Caisson ships its own Rego for the Pod Security constraint kinds of the OPA
//! Gatekeeper library (`K8sPSPPrivilegedContainer`, `K8sPSPCapabilities`, ...), so that a
//! cluster's existing Gatekeeper constraints (kind + `spec.parameters` + `spec.match`)
//! can be enforced by Caisson unchanged. The templates read what Gatekeeper gives a
//! template: `input.review` (the admission review: `kind`, `name`, `namespace`,
//! `operation`, `object`, `oldObject`) and `input.parameters` (the constraint's
//! parameters), and produce `violation` entries `{"msg": ..., "details": {...}}`.
//!
//! As in Gatekeeper, an UPDATE is not judged on the pod's spec (which is immutable after
//! creation), with one addition: ephemeral containers the old object did not have are
//! judged on UPDATE too, since `kubectl debug` adds them that way. Container rules cover
//! `containers`, `initContainers` and `ephemeralContainers`, and honour
//! `parameters.exemptImages` (exact images, or prefixes ending in `*`).
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! use caisson_policy::gatekeeper::{review_for, Constraint, Library};
//! let constraint = Constraint::from_yaml(
//!     "kind: K8sPSPPrivilegedContainer\nmetadata: {name: no-privileged}\n",
//! )?;
//! let pod: serde_json::Value = serde_json::json!({
//!     "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
//!     "spec": {"containers": [{"name": "c", "image": "nginx",
//!                              "securityContext": {"privileged": true}}]}});
//! let mut library = Library::new()?;
//! let violations = library.evaluate(&constraint, &review_for(&pod))?;
//! assert_eq!(violations.len(), 1);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{Map, Value};

/// The shared helpers every template imports (`data.caisson.gatekeeper.lib`).
const LIB_REGO: &str = include_str!("../rego/gatekeeper/lib.rego");

/// One template: the constraint kind it implements and its Rego module. The module's
/// package is `caisson.gatekeeper.<kind in lower case>`.
struct Template {
    kind: &'static str,
    rego: &'static str,
}

macro_rules! template {
    ($kind:literal, $file:literal) => {
        Template {
            kind: $kind,
            rego: include_str!(concat!("../rego/gatekeeper/", $file, ".rego")),
        }
    };
}

/// Every constraint kind of the library, with its Rego.
const TEMPLATES: &[Template] = &[
    template!(
        "K8sPSPAllowPrivilegeEscalationContainer",
        "k8spspallowprivilegeescalationcontainer"
    ),
    template!("K8sPSPAllowedUsers", "k8spspallowedusers"),
    template!("K8sPSPAppArmor", "k8spspapparmor"),
    template!("K8sPSPCapabilities", "k8spspcapabilities"),
    template!("K8sPSPFlexVolumes", "k8spspflexvolumes"),
    template!("K8sPSPForbiddenSysctls", "k8spspforbiddensysctls"),
    template!("K8sPSPFSGroup", "k8spspfsgroup"),
    template!("K8sPSPHostFilesystem", "k8spsphostfilesystem"),
    template!("K8sPSPHostNamespace", "k8spsphostnamespace"),
    template!("K8sPSPHostNetworkingPorts", "k8spsphostnetworkingports"),
    template!("K8sPSPHostProbesLifecycle", "k8spsphostprobeslifecycle"),
    template!("K8sPSPHostProcess", "k8spsphostprocess"),
    template!("K8sPSPPrivilegedContainer", "k8spspprivilegedcontainer"),
    template!("K8sPSPProcMount", "k8spspprocmount"),
    template!(
        "K8sPSPReadOnlyRootFilesystem",
        "k8spspreadonlyrootfilesystem"
    ),
    template!("K8sPSPSeccomp", "k8spspseccomp"),
    template!("K8sPSPSeccompV2", "k8spspseccompv2"),
    template!("K8sPSPSELinuxV2", "k8spspselinuxv2"),
    template!("K8sPSPVolumeTypes", "k8spspvolumetypes"),
];

/// The Rego rule path of a template's violations.
fn violation_rule(kind: &str) -> String {
    format!(
        "data.caisson.gatekeeper.{}.violation",
        kind.to_ascii_lowercase()
    )
}

/// A Gatekeeper constraint: which template (`kind`), with which `parameters`, applied to
/// which objects (`spec.match`), and what to do with a violation.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// The constraint kind, i.e. the template, e.g. `K8sPSPPrivilegedContainer`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.parameters` (an object; `{}` when absent).
    pub parameters: Value,
    /// `spec.enforcementAction`: `deny` (the default), `warn` or `dryrun`.
    pub enforcement_action: String,
    /// `spec.match`: the objects the constraint applies to.
    pub match_spec: Match,
}

/// Gatekeeper's `spec.match`. Every criterion that is set must hold; an empty list or
/// `None` does not restrict.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    /// `kinds`: the object's group and kind must be in one entry (empty: any object).
    pub kinds: Vec<KindMatch>,
    /// `scope`: `*` (the default), `Cluster` or `Namespaced`.
    pub scope: Scope,
    /// `namespaces`: the object's namespace must match one (globs: `prefix*`, `*suffix`).
    pub namespaces: Vec<String>,
    /// `excludedNamespaces`: the object's namespace must match none (same globs).
    pub excluded_namespaces: Vec<String>,
    /// `labelSelector`: on the object's labels (or the old object's, on UPDATE/DELETE).
    pub label_selector: Option<LabelSelector>,
    /// `namespaceSelector`: on the labels of the object's namespace (see
    /// [`Constraint::matches`] for where they come from).
    pub namespace_selector: Option<LabelSelector>,
    /// `name`: the object's name (globs: `prefix*`, `*suffix`).
    pub name: Option<String>,
}

/// One entry of `spec.match.kinds`: an empty list or `*` matches any group / kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindMatch {
    /// `apiGroups` (`""` is the core group).
    pub api_groups: Vec<String>,
    /// `kinds`.
    pub kinds: Vec<String>,
}

/// `spec.match.scope`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    /// `*`: namespaced and cluster-scoped objects.
    #[default]
    All,
    /// `Cluster`: cluster-scoped objects only.
    Cluster,
    /// `Namespaced`: namespaced objects only.
    Namespaced,
}

/// A Kubernetes label selector (`matchLabels` and `matchExpressions`, all must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    /// `matchLabels`: each key must be present with this value.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    pub match_expressions: Vec<LabelRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRequirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: LabelOperator,
    /// The values (`In` / `NotIn` only).
    pub values: Vec<String>,
}

/// A `matchExpressions` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelOperator {
    /// The label is present with one of the values.
    In,
    /// The label is absent or has none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One violation a template reported: its message and structured details.
#[derive(Debug, Clone, PartialEq)]
pub struct GkViolation {
    /// The human-readable message (names the container and field).
    pub msg: String,
    /// The template's `details` object (`null` when it gave none).
    pub details: Value,
}

// ---------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------

/// Where a value sits in the constraint, for error messages.
fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The mapping at `key` of `obj`: `None` when absent or null, an error when not a mapping.
fn opt_map<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> anyhow::Result<Option<&'a Map<String, Value>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => bail!(
            "constraint field {} must be a mapping, not {}",
            at(path, key),
            type_name(other)
        ),
    }
}

/// The string at `key` of `obj`: `None` when absent or null, an error when not a string.
fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> anyhow::Result<Option<&'a str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => bail!(
            "constraint field {} must be a string, not {}",
            at(path, key),
            type_name(other)
        ),
    }
}

/// The list of strings at `key` of `obj` (empty when absent or null).
fn str_list(obj: &Map<String, Value>, path: &str, key: &str) -> anyhow::Result<Vec<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => bail!(
                    "constraint field {}[{i}] must be a string, not {}",
                    at(path, key),
                    type_name(other)
                ),
            })
            .collect(),
        Some(other) => bail!(
            "constraint field {} must be a list of strings, not {}",
            at(path, key),
            type_name(other)
        ),
    }
}

fn parse_selector(sel: &Map<String, Value>, path: &str) -> anyhow::Result<LabelSelector> {
    let mut selector = LabelSelector::default();
    if let Some(labels) = opt_map(sel, path, "matchLabels")? {
        let labels_path = at(path, "matchLabels");
        for (k, v) in labels {
            let Value::String(v) = v else {
                bail!(
                    "constraint field {labels_path}.{k} must be a string, not {}",
                    type_name(v)
                );
            };
            selector.match_labels.insert(k.clone(), v.clone());
        }
    }
    match sel.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(exprs)) => {
            for (i, expr) in exprs.iter().enumerate() {
                let expr_path = format!("{}[{i}]", at(path, "matchExpressions"));
                let Value::Object(expr) = expr else {
                    bail!(
                        "constraint field {expr_path} must be a mapping, not {}",
                        type_name(expr)
                    );
                };
                let key = opt_str(expr, &expr_path, "key")?
                    .ok_or_else(|| anyhow!("constraint field {expr_path}.key is missing"))?;
                let operator = match opt_str(expr, &expr_path, "operator")? {
                    Some("In") => LabelOperator::In,
                    Some("NotIn") => LabelOperator::NotIn,
                    Some("Exists") => LabelOperator::Exists,
                    Some("DoesNotExist") => LabelOperator::DoesNotExist,
                    Some(other) => bail!(
                        "constraint field {expr_path}.operator: unknown operator {other:?} (In, NotIn, Exists or DoesNotExist)"
                    ),
                    None => bail!("constraint field {expr_path}.operator is missing"),
                };
                let values = str_list(expr, &expr_path, "values")?;
                match operator {
                    LabelOperator::In | LabelOperator::NotIn if values.is_empty() => {
                        bail!("constraint field {expr_path}.values must not be empty for operator {operator:?}")
                    }
                    LabelOperator::Exists | LabelOperator::DoesNotExist if !values.is_empty() => {
                        bail!("constraint field {expr_path}.values must be empty for operator {operator:?}")
                    }
                    _ => {}
                }
                selector.match_expressions.push(LabelRequirement {
                    key: key.to_string(),
                    operator,
                    values,
                });
            }
        }
        Some(other) => bail!(
            "constraint field {} must be a list, not {}",
            at(path, "matchExpressions"),
            type_name(other)
        ),
    }
    Ok(selector)
}

fn parse_match(m: &Map<String, Value>) -> anyhow::Result<Match> {
    const PATH: &str = "spec.match";
    let mut out = Match::default();
    match m.get("kinds") {
        None | Some(Value::Null) => {}
        Some(Value::Array(kinds)) => {
            for (i, entry) in kinds.iter().enumerate() {
                let entry_path = format!("{PATH}.kinds[{i}]");
                let Value::Object(entry) = entry else {
                    bail!(
                        "constraint field {entry_path} must be a mapping, not {}",
                        type_name(entry)
                    );
                };
                out.kinds.push(KindMatch {
                    api_groups: str_list(entry, &entry_path, "apiGroups")?,
                    kinds: str_list(entry, &entry_path, "kinds")?,
                });
            }
        }
        Some(other) => bail!(
            "constraint field {PATH}.kinds must be a list, not {}",
            type_name(other)
        ),
    }
    out.scope = match opt_str(m, PATH, "scope")? {
        None | Some("*") => Scope::All,
        Some("Cluster") => Scope::Cluster,
        Some("Namespaced") => Scope::Namespaced,
        Some(other) => bail!(
            "constraint field {PATH}.scope: unknown scope {other:?} (*, Cluster or Namespaced)"
        ),
    };
    out.namespaces = str_list(m, PATH, "namespaces")?;
    out.excluded_namespaces = str_list(m, PATH, "excludedNamespaces")?;
    if let Some(sel) = opt_map(m, PATH, "labelSelector")? {
        out.label_selector = Some(parse_selector(sel, "spec.match.labelSelector")?);
    }
    if let Some(sel) = opt_map(m, PATH, "namespaceSelector")? {
        out.namespace_selector = Some(parse_selector(sel, "spec.match.namespaceSelector")?);
    }
    out.name = opt_str(m, PATH, "name")?.map(str::to_string);
    Ok(out)
}

impl Constraint {
    /// Parses a constraint from its YAML (one document, e.g. a Gatekeeper
    /// `constraints.gatekeeper.sh/v1beta1` object). Errors name the offending field.
    pub fn from_yaml(yaml: &str) -> anyhow::Result<Self> {
        let doc: Value = serde_yaml::from_str(yaml).context("constraint is not valid YAML")?;
        Self::from_value(&doc)
    }

    /// Parses a constraint from its JSON form (as [`Constraint::from_yaml`]).
    pub fn from_value(doc: &Value) -> anyhow::Result<Self> {
        let Value::Object(doc) = doc else {
            bail!("constraint must be a mapping, not {}", type_name(doc));
        };
        if let Some(api_version) = opt_str(doc, "", "apiVersion")? {
            if !api_version.starts_with("constraints.gatekeeper.sh/") {
                bail!("constraint field apiVersion: {api_version:?} is not constraints.gatekeeper.sh/<version>");
            }
        }
        let kind = opt_str(doc, "", "kind")?
            .filter(|k| !k.is_empty())
            .ok_or_else(|| anyhow!("constraint field kind is missing"))?
            .to_string();
        let name = opt_map(doc, "", "metadata")?
            .map(|m| opt_str(m, "metadata", "name"))
            .transpose()?
            .flatten()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| anyhow!("constraint field metadata.name is missing"))?
            .to_string();
        let spec = opt_map(doc, "", "spec")?;
        let empty = Map::new();
        let spec = spec.unwrap_or(&empty);
        let parameters = match spec.get("parameters") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(other) => bail!(
                "constraint field spec.parameters must be a mapping, not {}",
                type_name(other)
            ),
        };
        let enforcement_action = match opt_str(spec, "spec", "enforcementAction")? {
            None => "deny".to_string(),
            Some(a @ ("deny" | "warn" | "dryrun")) => a.to_string(),
            Some(other) => bail!(
                "constraint field spec.enforcementAction: unknown action {other:?} (deny, warn or dryrun)"
            ),
        };
        let match_spec = match opt_map(spec, "spec", "match")? {
            Some(m) => parse_match(m)?,
            None => Match::default(),
        };
        Ok(Self {
            kind,
            name,
            parameters,
            enforcement_action,
            match_spec,
        })
    }

    /// Whether the constraint applies to the review (Gatekeeper's `spec.match`), given a
    /// review as built by [`review_for`]. The namespace's labels for `namespaceSelector`
    /// are those of `review._unstable.namespace` (where Gatekeeper puts the Namespace
    /// object); without it the namespace counts as having no labels. Namespace criteria
    /// do not restrict cluster-scoped objects (no namespace), except a Namespace, which
    /// is judged by its own name and labels.
    pub fn matches(&self, review: &Value) -> bool {
        let m = &self.match_spec;
        let (group, kind) = review_kind(review);
        let object = match review.get("object") {
            Some(o @ Value::Object(_)) => Some(o),
            _ => None,
        };
        let old_object = match review.get("oldObject") {
            Some(o @ Value::Object(_)) => Some(o),
            _ => None,
        };
        let any_object = object.or(old_object);

        if !m.kinds.is_empty() && !m.kinds.iter().any(|k| k.matches(group, kind)) {
            return false;
        }

        let namespace = review
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .or_else(|| {
                any_object
                    .and_then(|o| o.pointer("/metadata/namespace"))
                    .and_then(Value::as_str)
            })
            .unwrap_or("");
        let name = review
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .or_else(|| {
                any_object
                    .and_then(|o| o.pointer("/metadata/name"))
                    .and_then(Value::as_str)
            })
            .unwrap_or("");
        let is_namespace = group.is_empty() && kind == "Namespace";

        match m.scope {
            Scope::All => {}
            Scope::Cluster if !namespace.is_empty() => return false,
            Scope::Namespaced if namespace.is_empty() => return false,
            _ => {}
        }

        if let Some(pattern) = &m.name {
            if !wildcard_match(pattern, name) {
                return false;
            }
        }

        // The namespace the namespace criteria judge: a Namespace is its own.
        let effective_ns = if is_namespace { name } else { namespace };
        if !effective_ns.is_empty() {
            if !m.namespaces.is_empty()
                && !m.namespaces.iter().any(|p| wildcard_match(p, effective_ns))
            {
                return false;
            }
            if m.excluded_namespaces
                .iter()
                .any(|p| wildcard_match(p, effective_ns))
            {
                return false;
            }
            if let Some(sel) = &m.namespace_selector {
                let labels = if is_namespace {
                    any_object.and_then(|o| o.pointer("/metadata/labels"))
                } else {
                    review.pointer("/_unstable/namespace/metadata/labels")
                };
                if !sel.matches(labels) {
                    return false;
                }
            }
        }

        if let Some(sel) = &m.label_selector {
            let on =
                |o: Option<&Value>| o.is_some_and(|o| sel.matches(o.pointer("/metadata/labels")));
            // Either side matching is enough, so relabelling cannot escape a constraint.
            if !on(object) && !on(old_object) {
                return false;
            }
        }
        true
    }
}

impl KindMatch {
    fn matches(&self, group: &str, kind: &str) -> bool {
        let group_ok =
            self.api_groups.is_empty() || self.api_groups.iter().any(|g| g == "*" || g == group);
        let kind_ok = self.kinds.is_empty() || self.kinds.iter().any(|k| k == "*" || k == kind);
        group_ok && kind_ok
    }
}

impl LabelSelector {
    /// Whether the labels (a JSON mapping of strings; `None` or anything else counts as
    /// no labels) satisfy every `matchLabels` entry and every `matchExpressions` entry.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let labels = labels.and_then(Value::as_object);
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.match_labels
            .iter()
            .all(|(k, v)| get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|req| {
                let value = get(&req.key);
                match req.operator {
                    LabelOperator::In => value.is_some_and(|v| req.values.iter().any(|x| x == v)),
                    LabelOperator::NotIn => {
                        !value.is_some_and(|v| req.values.iter().any(|x| x == v))
                    }
                    LabelOperator::Exists => value.is_some(),
                    LabelOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// Gatekeeper's namespace / name globs: `prefix*`, `*suffix`, `*`, or an exact name.
fn wildcard_match(pattern: &str, value: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        value.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        value.ends_with(suffix)
    } else {
        pattern == value
    }
}

/// The review's (group, kind).
fn review_kind(review: &Value) -> (&str, &str) {
    let get = |key: &str| {
        review
            .get("kind")
            .and_then(|k| k.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    (get("group"), get("kind"))
}

// ---------------------------------------------------------------------------------
// Reviews
// ---------------------------------------------------------------------------------

/// The `{group, version, kind}` of an object, from its `apiVersion` and `kind`.
fn kind_of(object: &Value) -> Value {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    serde_json::json!({"group": group, "version": version, "kind": kind})
}

/// Builds Gatekeeper's `review` (what templates see as `input.review`) from a bare object
/// (operation `CREATE`) or from an AdmissionReview (its `request`: every field is kept,
/// and a missing `kind`, `name`, `namespace` or `operation` is filled in from the
/// object, or the old object for a DELETE). The result always has `kind`
/// (`{group, version, kind}`), `name`, `namespace`, `operation`, `object` and
/// `oldObject` (`null` when absent). An AdmissionReview without a `request` gives a
/// review of no object, which no kind-restricted constraint matches.
pub fn review_for(object_or_admission_review: &Value) -> Value {
    let input = object_or_admission_review;
    let is_admission_review = input.get("kind").and_then(Value::as_str) == Some("AdmissionReview");
    let mut review = if is_admission_review {
        match input.get("request") {
            Some(Value::Object(request)) => request.clone(),
            _ => Map::new(),
        }
    } else {
        let mut review = Map::new();
        review.insert("object".to_string(), input.clone());
        review
    };
    for key in ["object", "oldObject"] {
        review.entry(key).or_insert(Value::Null);
    }
    let source = match (review.get("object"), review.get("oldObject")) {
        (Some(o @ Value::Object(_)), _) | (_, Some(o @ Value::Object(_))) => o.clone(),
        _ => Value::Null,
    };
    if !review.get("kind").is_some_and(Value::is_object) {
        review.insert("kind".to_string(), kind_of(&source));
    }
    for (key, pointer) in [
        ("name", "/metadata/name"),
        ("namespace", "/metadata/namespace"),
    ] {
        if review
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let value = source
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("");
            review.insert(key.to_string(), Value::String(value.to_string()));
        }
    }
    if review
        .get("operation")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        review.insert("operation".to_string(), Value::String("CREATE".to_string()));
    }
    Value::Object(review)
}

// ---------------------------------------------------------------------------------
// The library
// ---------------------------------------------------------------------------------

/// Every template of the library loaded in one regorus engine.
#[derive(Clone)]
pub struct Library {
    engine: regorus::Engine,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("kinds", &self.kinds())
            .finish()
    }
}

impl Library {
    /// Loads every template (embedded in the binary) into a fresh engine.
    pub fn new() -> anyhow::Result<Self> {
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(false);
        // A template meeting an odd type in the object gets "undefined", not an error.
        engine.set_strict_builtin_errors(false);
        engine
            .add_policy("gatekeeper/lib.rego".to_string(), LIB_REGO.to_string())
            .context("loading the gatekeeper template library helpers")?;
        for t in TEMPLATES {
            engine
                .add_policy(
                    format!("gatekeeper/{}.rego", t.kind.to_ascii_lowercase()),
                    t.rego.to_string(),
                )
                .with_context(|| format!("loading the gatekeeper template {}", t.kind))?;
        }
        Ok(Self { engine })
    }

    /// The constraint kinds the library implements.
    pub fn kinds(&self) -> Vec<&'static str> {
        TEMPLATES.iter().map(|t| t.kind).collect()
    }

    /// Whether the library implements the constraint kind.
    pub fn supports(&self, kind: &str) -> bool {
        TEMPLATES.iter().any(|t| t.kind == kind)
    }

    /// Evaluates a constraint against a review (see [`review_for`]): the template's
    /// violations, or none when the constraint does not match the review. An unknown
    /// constraint kind is an error naming it. The enforcement action is the caller's
    /// business (see [`Constraint::enforcement_action`]).
    pub fn evaluate(&mut self, c: &Constraint, review: &Value) -> anyhow::Result<Vec<GkViolation>> {
        let Some(template) = TEMPLATES.iter().find(|t| t.kind == c.kind) else {
            bail!(
                "constraint {}: unknown constraint kind {:?} (this library implements {})",
                c.name,
                c.kind,
                self.kinds().join(", ")
            );
        };
        if !c.matches(review) {
            return Ok(Vec::new());
        }
        let input = serde_json::json!({"review": review, "parameters": c.parameters});
        let input = regorus::Value::from_json_str(&input.to_string())
            .context("converting the review for regorus")?;
        self.engine.set_input(input);
        let result = self
            .engine
            .eval_rule(violation_rule(template.kind))
            .with_context(|| format!("evaluating constraint {} ({})", c.name, c.kind))?;
        if result == regorus::Value::Undefined {
            return Ok(Vec::new());
        }
        let result: Value =
            serde_json::from_str(&result.to_json_str().context("reading the violations")?)
                .context("reading the violations")?;
        let Value::Array(items) = result else {
            bail!(
                "template {} gave violations that are not a set: {result}",
                c.kind
            );
        };
        items
            .into_iter()
            .map(|item| {
                let msg = item
                    .get("msg")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        anyhow!("template {} gave a violation without a msg: {item}", c.kind)
                    })?
                    .to_string();
                let details = item.get("details").cloned().unwrap_or(Value::Null);
                Ok(GkViolation { msg, details })
            })
            .collect()
    }
}
