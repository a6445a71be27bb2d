//! Runs every sample case of the public OPA Gatekeeper Pod Security library
//! (`shared/data/gatekeeper-psp/*/suite.yaml`) against Caisson's own templates, and a
//! few checks of constraint parsing and `spec.match`.

#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use caisson_policy::gatekeeper::{review_for, Constraint, GkViolation, Library};
use serde_json::{json, Value};

/// The sample data: `<repo>/../shared/data/gatekeeper-psp`.
fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/gatekeeper-psp")
}

fn read_yaml(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
}

/// What an assertion expects of the (message-filtered) violation count.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Some,
    None,
    Exactly(u64),
}

impl Expect {
    fn parse(v: Option<&Value>) -> Result<Self, String> {
        match v {
            Some(Value::String(s)) if s == "yes" => Ok(Self::Some),
            Some(Value::String(s)) if s == "no" => Ok(Self::None),
            Some(Value::Bool(true)) => Ok(Self::Some),
            Some(Value::Bool(false)) => Ok(Self::None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Self::Exactly)
                .ok_or_else(|| format!("bad violations count {n}")),
            other => Err(format!("bad violations assertion {other:?}")),
        }
    }

    fn holds(self, n: usize) -> bool {
        match self {
            Self::Some => n >= 1,
            Self::None => n == 0,
            Self::Exactly(k) => u64::try_from(n).is_ok_and(|n| n == k),
        }
    }
}

/// Runs one case: `Ok(())` when every assertion holds, else what went wrong.
fn run_case(
    library: &mut Library,
    constraint: &Constraint,
    object_path: &Path,
    assertions: &Value,
) -> Result<(), String> {
    let object = read_yaml(object_path)?;
    let review = review_for(&object);
    let violations = library
        .evaluate(constraint, &review)
        .map_err(|e| format!("evaluation failed: {e:#}"))?;
    if std::env::var_os("GATEKEEPER_SAMPLES_VERBOSE").is_some() {
        println!("{} {}:", constraint.name, object_path.display());
        for v in &violations {
            println!("    {} {}", v.msg, v.details);
        }
    }
    let Some(assertions) = assertions.as_array().filter(|a| !a.is_empty()) else {
        return Err("the case has no assertions".to_string());
    };
    let mut problems = Vec::new();
    for assertion in assertions {
        let expect = Expect::parse(assertion.get("violations"))?;
        let matching: Vec<&GkViolation> = match assertion.get("message") {
            None | Some(Value::Null) => violations.iter().collect(),
            Some(Value::String(pattern)) => {
                let re = regex::Regex::new(pattern)
                    .map_err(|e| format!("bad message regex {pattern:?}: {e}"))?;
                violations.iter().filter(|v| re.is_match(&v.msg)).collect()
            }
            Some(other) => return Err(format!("bad message assertion {other}")),
        };
        if !expect.holds(matching.len()) {
            let filter = match assertion.get("message").and_then(Value::as_str) {
                Some(p) => format!(" matching /{p}/"),
                None => String::new(),
            };
            problems.push(format!(
                "expected violations{filter}: {expect:?}, got {}",
                matching.len()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let mut report = problems.join("; ");
        let _ = write!(
            report,
            "; messages: {:?}",
            violations.iter().map(|v| &v.msg).collect::<Vec<_>>()
        );
        Err(report)
    }
}

#[test]
fn gatekeeper_library_samples_agree() {
    let root = data_dir();
    let entries = std::fs::read_dir(&root).unwrap_or_else(|e| {
        panic!(
            "the Gatekeeper sample data {} is missing: {e}",
            root.display()
        )
    });
    let mut suites: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("suite.yaml"))
        .filter(|p| p.is_file())
        .collect();
    suites.sort();
    assert!(!suites.is_empty(), "no suite.yaml under {}", root.display());

    let mut library = Library::new().expect("the template library loads");
    let mut cases = 0usize;
    let mut agree = 0usize;
    let mut failures = Vec::new();
    for suite_path in &suites {
        let suite_dir = suite_path.parent().expect("a suite.yaml has a directory");
        let policy = suite_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let suite = match read_yaml(suite_path) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{policy}: {e}"));
                continue;
            }
        };
        let Some(tests) = suite
            .get("tests")
            .and_then(Value::as_array)
            .filter(|t| !t.is_empty())
        else {
            failures.push(format!("{policy}: suite has no tests"));
            continue;
        };
        for test in tests {
            let test_name = test
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("<unnamed test>");
            let Some(case_list) = test
                .get("cases")
                .and_then(Value::as_array)
                .filter(|c| !c.is_empty())
            else {
                failures.push(format!("{policy}/{test_name}: test has no cases"));
                continue;
            };
            let constraint = test
                .get("constraint")
                .and_then(Value::as_str)
                .ok_or_else(|| "test names no constraint".to_string())
                .and_then(|c| {
                    let path = suite_dir.join(c);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("reading {}: {e}", path.display()))?;
                    Constraint::from_yaml(&text)
                        .map_err(|e| format!("constraint {}: {e:#}", path.display()))
                })
                .and_then(|c| {
                    if library.supports(&c.kind) {
                        Ok(c)
                    } else {
                        Err(format!(
                            "constraint kind {} is not implemented by the library",
                            c.kind
                        ))
                    }
                });
            for case in case_list {
                cases += 1;
                let case_name = case
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("<unnamed case>");
                let object = case.get("object").and_then(Value::as_str).unwrap_or("");
                let outcome = constraint
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|constraint| {
                        if object.is_empty() {
                            return Err("case names no object".to_string());
                        }
                        run_case(
                            &mut library,
                            constraint,
                            &suite_dir.join(object),
                            case.get("assertions").unwrap_or(&Value::Null),
                        )
                    });
                match outcome {
                    Ok(()) => agree += 1,
                    Err(e) => {
                        failures.push(format!("{policy}/{test_name}/{case_name} ({object}): {e}"))
                    }
                }
            }
        }
    }
    println!("gatekeeper samples: {cases} cases, {agree} agree");
    assert!(
        failures.is_empty() && agree == cases,
        "gatekeeper samples: {cases} cases, {agree} agree; {} disagree:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

fn pod(namespace: Option<&str>, labels: Value) -> Value {
    let mut metadata = json!({"name": "p", "labels": labels});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
           "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}]}})
}

#[test]
fn constraint_match_namespaces_and_selectors() {
    let c = Constraint::from_yaml(
        r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sPSPPrivilegedContainer
metadata: {name: c}
spec:
  enforcementAction: warn
  match:
    kinds: [{apiGroups: [""], kinds: ["Pod"]}]
    namespaces: ["prod-*", "team"]
    excludedNamespaces: ["prod-system"]
    labelSelector:
      matchLabels: {tier: web}
      matchExpressions:
        - {key: exempt, operator: DoesNotExist}
        - {key: env, operator: NotIn, values: [dev]}
"#,
    )
    .expect("valid constraint");
    assert_eq!(c.enforcement_action, "warn");
    let web = json!({"tier": "web"});
    assert!(c.matches(&review_for(&pod(Some("prod-eu"), web.clone()))));
    assert!(c.matches(&review_for(&pod(Some("team"), web.clone()))));
    assert!(!c.matches(&review_for(&pod(Some("prod-system"), web.clone()))));
    assert!(!c.matches(&review_for(&pod(Some("other"), web.clone()))));
    assert!(!c.matches(&review_for(&pod(Some("team"), json!({"tier": "db"})))));
    assert!(!c.matches(&review_for(&pod(
        Some("team"),
        json!({"tier": "web", "exempt": "1"})
    ))));
    assert!(!c.matches(&review_for(&pod(
        Some("team"),
        json!({"tier": "web", "env": "dev"})
    ))));
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "team", "labels": web}});
    assert!(!c.matches(&review_for(&deployment)));

    let mut library = Library::new().expect("library");
    assert_eq!(
        library
            .evaluate(&c, &review_for(&pod(Some("team"), json!({"tier": "web"}))))
            .expect("eval")
            .len(),
        1
    );
    assert!(library
        .evaluate(&c, &review_for(&pod(Some("other"), json!({"tier": "web"}))))
        .expect("eval")
        .is_empty());

    let ns_sel = Constraint::from_yaml(
        "kind: K8sPSPPrivilegedContainer\nmetadata: {name: n}\nspec:\n  match:\n    namespaceSelector:\n      matchExpressions: [{key: caisson.io/enforce, operator: Exists}]\n",
    )
    .expect("valid constraint");
    let mut review = review_for(&pod(Some("a"), json!({})));
    assert!(!ns_sel.matches(&review));
    review["_unstable"] =
        json!({"namespace": {"metadata": {"labels": {"caisson.io/enforce": "true"}}}});
    assert!(ns_sel.matches(&review));
}

#[test]
fn constraint_errors_name_the_field() {
    let err = |yaml: &str| {
        format!(
            "{:#}",
            Constraint::from_yaml(yaml).expect_err("invalid constraint")
        )
    };
    assert!(err("metadata: {name: x}").contains("kind"));
    assert!(err("kind: K8sPSPAppArmor").contains("metadata.name"));
    assert!(
        err("kind: K8sPSPAppArmor\nmetadata: {name: x}\nspec: {parameters: [1]}")
            .contains("spec.parameters")
    );
    assert!(
        err("kind: K8sPSPAppArmor\nmetadata: {name: x}\nspec: {enforcementAction: block}")
            .contains("spec.enforcementAction")
    );
    assert!(err(
        "kind: K8sPSPAppArmor\nmetadata: {name: x}\nspec: {match: {kinds: [{kinds: Pod}]}}"
    )
    .contains("spec.match.kinds[0].kinds"));
    assert!(err(
        "kind: K8sPSPAppArmor\nmetadata: {name: x}\nspec: {match: {labelSelector: {matchExpressions: [{key: a, operator: Has}]}}}"
    )
    .contains("spec.match.labelSelector.matchExpressions[0].operator"));

    let unknown =
        Constraint::from_yaml("kind: K8sNoSuchThing\nmetadata: {name: x}").expect("parses");
    let mut library = Library::new().expect("library");
    let e = library
        .evaluate(&unknown, &review_for(&pod(None, json!({}))))
        .expect_err("unknown kind");
    assert!(format!("{e:#}").contains("K8sNoSuchThing"));
}

#[test]
fn admission_review_update_and_delete() {
    let ar = json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
                    "request": {"operation": "DELETE", "namespace": "ns",
                                "oldObject": pod(Some("ns"), json!({}))}});
    let review = review_for(&ar);
    assert_eq!(review["operation"], "DELETE");
    assert_eq!(
        review["kind"],
        json!({"group": "", "version": "v1", "kind": "Pod"})
    );
    assert_eq!(review["name"], "p");
    assert_eq!(review["object"], Value::Null);

    // On UPDATE only newly added ephemeral containers are judged.
    let c = Constraint::from_yaml("kind: K8sPSPPrivilegedContainer\nmetadata: {name: x}")
        .expect("parses");
    let mut new = pod(Some("ns"), json!({}));
    new["spec"]["ephemeralContainers"] =
        json!([{"name": "debug", "image": "busybox", "securityContext": {"privileged": true}}]);
    let update = json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
                        "request": {"operation": "UPDATE", "object": new, "oldObject": pod(Some("ns"), json!({}))}});
    let mut library = Library::new().expect("library");
    let v = library.evaluate(&c, &review_for(&update)).expect("eval");
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].details["container"], "debug");
}

/// Semantics of our templates beyond what the public samples exercise.
#[test]
fn template_semantics_beyond_the_samples() {
    let mut library = Library::new().expect("library");
    let mut check = |kind: &str, parameters: Value, spec: Value, expected: usize| {
        let constraint = Constraint::from_value(&json!({
            "kind": kind, "metadata": {"name": "t"}, "spec": {"parameters": parameters}}))
        .expect("valid constraint");
        let pod =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec});
        let got = library
            .evaluate(&constraint, &review_for(&pod))
            .expect("evaluates");
        assert_eq!(got.len(), expected, "{kind} {parameters} {spec}: {got:#?}");
    };
    let c =
        |sc: Value| json!({"containers": [{"name": "c", "image": "img", "securityContext": sc}]});

    // Host paths: whole components, and readOnly mounts when the entry requires them.
    let host = |path: &str, ro: bool| {
        json!({"volumes": [{"name": "v", "hostPath": {"path": path}}],
               "containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "v", "mountPath": "/m", "readOnly": ro}]}]})
    };
    let allowed = json!({"allowedHostPaths": [{"pathPrefix": "/foo", "readOnly": true}]});
    check(
        "K8sPSPHostFilesystem",
        allowed.clone(),
        host("/foo", true),
        0,
    );
    check(
        "K8sPSPHostFilesystem",
        allowed.clone(),
        host("/foobar", true),
        1,
    );
    check(
        "K8sPSPHostFilesystem",
        allowed.clone(),
        host("/foo/bar", false),
        1,
    );
    check(
        "K8sPSPHostFilesystem",
        json!({"allowedHostPaths": [{"pathPrefix": "/foo/"}]}),
        host("/foo/x", false),
        0,
    );

    // Users: MustRunAs ranges, runAsNonRoot, pod-level fallback, groups.
    let must = json!({"runAsUser": {"rule": "MustRunAs", "ranges": [{"min": 100, "max": 200}]}});
    check(
        "K8sPSPAllowedUsers",
        must.clone(),
        c(json!({"runAsUser": 150})),
        0,
    );
    check(
        "K8sPSPAllowedUsers",
        must.clone(),
        c(json!({"runAsUser": 250})),
        1,
    );
    check("K8sPSPAllowedUsers", must.clone(), c(json!({})), 1);
    let nonroot = json!({"runAsUser": {"rule": "MustRunAsNonRoot"}});
    check(
        "K8sPSPAllowedUsers",
        nonroot.clone(),
        c(json!({"runAsNonRoot": true})),
        0,
    );
    check("K8sPSPAllowedUsers", nonroot.clone(), c(json!({})), 1);
    let mut pod_level = c(json!({}));
    pod_level["securityContext"] = json!({"runAsUser": 0});
    check("K8sPSPAllowedUsers", nonroot, pod_level, 1);
    let groups = json!({"supplementalGroups": {"rule": "MustRunAs", "ranges": [{"min": 1, "max": 10}]},
                        "fsGroup": {"rule": "MayRunAs", "ranges": [{"min": 1, "max": 10}]}});
    let mut g = c(json!({}));
    g["securityContext"] = json!({"supplementalGroups": [5, 50], "fsGroup": 20});
    check("K8sPSPAllowedUsers", groups.clone(), g, 2);
    check("K8sPSPAllowedUsers", groups, c(json!({})), 1);

    // SELinux: pod-level options are judged too.
    let mut se = c(json!({}));
    se["securityContext"] = json!({"seLinuxOptions": {"level": "s0:c1"}});
    check(
        "K8sPSPSELinuxV2",
        json!({"allowedSELinuxOptions": [{"type": "container_t"}]}),
        se,
        1,
    );

    // Seccomp v2: a Localhost file outside allowedLocalhostFiles.
    let v2 = json!({"allowedProfiles": ["Localhost"], "allowedLocalhostFiles": ["profiles/*"]});
    let local =
        |f: &str| c(json!({"seccompProfile": {"type": "Localhost", "localhostProfile": f}}));
    check("K8sPSPSeccompV2", v2.clone(), local("profiles/a.json"), 0);
    check("K8sPSPSeccompV2", v2, local("other/a.json"), 1);

    // Volume types: `*` allows all.
    let vol = json!({"volumes": [{"name": "v", "hostPath": {"path": "/"}}], "containers": []});
    check(
        "K8sPSPVolumeTypes",
        json!({"volumes": ["*"]}),
        vol.clone(),
        0,
    );
    check(
        "K8sPSPVolumeTypes",
        json!({"volumes": ["emptyDir"]}),
        vol,
        1,
    );

    // Host ports: with hostNetwork a containerPort is a host port.
    let ports = json!({"hostNetwork": true, "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 22}]}]});
    check(
        "K8sPSPHostNetworkingPorts",
        json!({"hostNetwork": true, "min": 80, "max": 9000}),
        ports,
        1,
    );

    // Capabilities: `CAP_` prefix and case do not matter; `*` allows any.
    let caps = c(json!({"capabilities": {"add": ["cap_net_raw"], "drop": ["all"]}}));
    check(
        "K8sPSPCapabilities",
        json!({"allowedCapabilities": ["NET_RAW"], "requiredDropCapabilities": ["ALL"]}),
        caps.clone(),
        0,
    );
    check(
        "K8sPSPCapabilities",
        json!({"allowedCapabilities": []}),
        caps.clone(),
        1,
    );
    check(
        "K8sPSPCapabilities",
        json!({"allowedCapabilities": ["*"]}),
        caps,
        0,
    );

    // procMount Unmasked allows both.
    check(
        "K8sPSPProcMount",
        json!({"procMount": "Unmasked"}),
        c(json!({"procMount": "Unmasked"})),
        0,
    );

    // Odd input types do not break evaluation.
    check(
        "K8sPSPPrivilegedContainer",
        json!({"exemptImages": [1]}),
        json!({"containers": [{"image": 7, "securityContext": {"privileged": true}}]}),
        1,
    );
    check(
        "K8sPSPReadOnlyRootFilesystem",
        json!({}),
        json!({"containers": "nonsense"}),
        0,
    );
}
