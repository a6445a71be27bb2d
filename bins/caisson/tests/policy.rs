//! `caisson policy eval|test|sets` and the `caisson run/create --policy` gate, end to
//! end through the real binary: Pods, workloads, AdmissionReviews (the Gatekeeper
//! library samples in ../shared/data/gatekeeper-psp) and OCI config.json inputs;
//! modes, exemptions, image rules over a scan report, user Rego, the decision log;
//! Rego unit tests; and the engine's gate with an image imported here (nothing is
//! created when the gate denies).
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

use serde_json::Value;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn gatekeeper_sample(policy: &str, sample: &str, file: &str) -> PathBuf {
    let p = shared()
        .join("data/gatekeeper-psp")
        .join(policy)
        .join("samples")
        .join(sample)
        .join(file);
    assert!(p.exists(), "{} is missing", p.display());
    p
}

/// `caisson policy eval ARGS`, checking the exit code.
fn eval(root: &Path, args: &[&str], code: i32) -> Out {
    let mut a = vec!["policy", "eval"];
    a.extend_from_slice(args);
    expect(root, &a, code)
}

/// A scratch directory with a store root and files written into it.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(prefix: &str) -> Scratch {
        Scratch {
            dir: tempfile::Builder::new().prefix(prefix).tempdir().unwrap(),
        }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const POD_OK: &str = "apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team}
spec:
  containers:
  - name: web
    image: nginx:1.27
";

const POD_PRIVILEGED: &str = "apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: team}
spec:
  containers:
  - name: agent
    image: nginx:1.27
    securityContext: {privileged: true}
";

fn rules(v: &Value) -> Vec<String> {
    v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn eval_pods_exit_codes_text_and_json() {
    let t = Scratch::new("caisson-policy-pod-");
    let root = t.root();
    let good = t.file("ok.yaml", POD_OK);
    let bad = t.file("priv.yaml", POD_PRIVILEGED);

    let o = eval(&root, &["--set", "pss-baseline", "-i", s(&good)], 0);
    assert!(
        o.stdout
            .starts_with("ALLOWED: pod/web in namespace team: 0 violations"),
        "{}",
        o.stdout
    );

    let o = eval(&root, &["--set", "pss-baseline", "--input", s(&bad)], 1);
    assert!(o.stdout.starts_with("DENIED: pod/agent"), "{}", o.stdout);
    assert!(
        o.stdout.contains("pss-baseline/privileged")
            && o.stdout.contains("container \"agent\" is privileged")
            && o.stdout
                .contains("field: spec.containers[0].securityContext.privileged"),
        "{}",
        o.stdout
    );

    let o = eval(
        &root,
        &["--set", "pss-baseline", "-i", s(&bad), "--format", "json"],
        1,
    );
    let v = o.json();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["input"]["type"], "kubernetes-object");
    assert_eq!(v["input"]["kind"], "Pod");
    assert_eq!(v["input"]["namespace"], "team");
    assert_eq!(v["sets"], serde_json::json!(["pss-baseline"]));
    let vs = v["violations"].as_array().unwrap();
    assert_eq!(vs.len(), 1, "{v}");
    assert_eq!(vs[0]["rule"], "pss-baseline/privileged");
    assert_eq!(vs[0]["message"], "container \"agent\" is privileged");
    assert_eq!(vs[0]["mode"], "deny");
    assert_eq!(
        vs[0]["field"],
        "spec.containers[0].securityContext.privileged"
    );
    assert_eq!(vs[0]["container"], "agent");
    assert_eq!(
        v["denials"][0],
        "[pss-baseline/privileged] container \"agent\" is privileged"
    );
    assert!(v["input_digest"]
        .as_str()
        .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71));
    assert!(v["policy_version"]
        .as_str()
        .is_some_and(|d| d.starts_with("sha256:")));
    assert!(v["latency_us"].is_u64());

    // the allowed pod in JSON too; restricted finds what baseline lets through
    let v = eval(
        &root,
        &["--set", "pss-baseline", "-i", s(&good), "--format", "json"],
        0,
    )
    .json();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["violations"], serde_json::json!([]));
    let v = eval(
        &root,
        &[
            "--set",
            "pss-restricted",
            "-i",
            s(&good),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    let mut r = rules(&v);
    r.sort();
    assert_eq!(
        r,
        [
            "pss-restricted/allow-privilege-escalation",
            "pss-restricted/capabilities",
            "pss-restricted/run-as-non-root",
            "pss-restricted/seccomp"
        ],
        "{v}"
    );
}

#[test]
fn eval_admission_reviews_oci_configs_and_workloads() {
    let t = Scratch::new("caisson-policy-inputs-");
    let root = t.root();

    // AdmissionReviews from the Gatekeeper library (YAML; all are UPDATEs)
    let review = gatekeeper_sample("host-namespaces", "psp-host-namespace", "update.yaml");
    let v = eval(
        &root,
        &[
            "--set",
            "pss-baseline",
            "-i",
            s(&review),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    assert_eq!(v["input"]["type"], "admission-review");
    assert_eq!(v["input"]["name"], "nginx-host-namespace-disallowed");
    let fields: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["spec.hostIPC", "spec.hostPID"], "{v}");
    assert!(rules(&v)
        .iter()
        .all(|r| r == "pss-baseline/host-namespaces"));
    let review = gatekeeper_sample(
        "privileged-containers",
        "psp-privileged-container",
        "update.yaml",
    );
    let o = eval(&root, &["--set", "pss-baseline", "-i", s(&review)], 1);
    assert!(o.stdout.contains("pss-baseline/privileged"), "{}", o.stdout);

    // OCI config.json: what `--privileged` gives (all of SYS_ADMIN, no masked
    // paths, host network and IPC) is denied by the same rules as a Pod's
    let privileged = t.file(
        "privileged/config.json",
        r#"{"ociVersion": "1.0.2",
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
                        "capabilities": {"bounding": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN"],
                                         "effective": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN"],
                                         "permitted": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN"]}},
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}]}}"#,
    );
    let v = eval(
        &root,
        &[
            "--set",
            "pss-baseline",
            "-i",
            s(&privileged),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    assert_eq!(v["input"]["type"], "oci-config");
    let r = rules(&v);
    for want in [
        "pss-baseline/privileged",
        "pss-baseline/capabilities",
        "pss-baseline/host-namespaces",
        "pss-baseline/proc-mount",
    ] {
        assert!(r.iter().any(|x| x == want), "{want} in {v}");
    }
    assert!(
        v["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["field"] == "spec.containers[0].securityContext.privileged"),
        "{v}"
    );
    let o = eval(&root, &["--set", "pss-baseline", "-i", s(&privileged)], 1);
    assert!(
        o.stdout
            .starts_with("DENIED: container container (OCI config)"),
        "{}",
        o.stdout
    );

    // a hardened config: own namespaces, a few default capabilities, masked /proc,
    // seccomp, no_new_privs, non-root
    let hardened = t.file(
        "hardened/config.json",
        r#"{"ociVersion": "1.0.2",
            "process": {"user": {"uid": 1000, "gid": 1000}, "args": ["sh"], "cwd": "/", "noNewPrivileges": true,
                        "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_CHOWN"],
                                         "permitted": ["CAP_CHOWN"]}},
            "root": {"path": "rootfs", "readonly": true},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                       {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
                       {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/x/hosts", "options": ["rbind", "ro"]}],
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "network"},
                                     {"type": "ipc"}, {"type": "uts"}],
                      "maskedPaths": ["/proc/kcore", "/proc/keys"], "readonlyPaths": ["/proc/sys"],
                      "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}}}"#,
    );
    let v = eval(
        &root,
        &[
            "--set",
            "pss-baseline",
            "-i",
            s(&hardened),
            "--format",
            "json",
        ],
        0,
    )
    .json();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["violations"], serde_json::json!([]), "{v}");
    // restricted still wants ALL capabilities dropped
    let v = eval(
        &root,
        &[
            "--set",
            "pss-restricted",
            "-i",
            s(&hardened),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    assert_eq!(rules(&v), ["pss-restricted/capabilities"], "{v}");

    // a Deployment is judged by its pod template (labels, spec), not its own spec
    let deployment = t.file(
        "deploy.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: prod, labels: {tier: backend}}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      hostNetwork: true
      containers:
      - name: api
        image: registry.example.com/api:2
",
    );
    let v = eval(
        &root,
        &[
            "--set",
            "pss-baseline",
            "-i",
            s(&deployment),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    assert_eq!(v["input"]["kind"], "Deployment");
    assert_eq!(v["input"]["namespace"], "prod");
    assert_eq!(rules(&v), ["pss-baseline/host-namespaces"]);
    assert_eq!(v["violations"][0]["field"], "spec.hostNetwork");
    let fixed = t.file(
        "deploy-ok.yaml",
        &std::fs::read_to_string(&deployment)
            .unwrap()
            .replace("hostNetwork: true", "hostNetwork: false"),
    );
    eval(&root, &["--set", "pss-baseline", "-i", s(&fixed)], 0);
    // an object without a pod spec: nothing to judge, allowed and said so
    let cm = t.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
    );
    let o = eval(&root, &["--set", "pss-baseline", "-i", s(&cm)], 0);
    assert!(o.stdout.contains("no pod spec"), "{}", o.stdout);
}

#[test]
fn eval_errors_exit_2_with_a_clear_message() {
    let t = Scratch::new("caisson-policy-err-");
    let root = t.root();
    let good = t.file("ok.yaml", POD_OK);

    let o = eval(&root, &["--set", "pss-strict", "-i", s(&good)], 2);
    assert!(
        o.stderr.contains("unknown policy set \"pss-strict\"")
            && o.stderr.contains("pss-baseline, pss-restricted, image"),
        "{}",
        o.stderr
    );
    assert_eq!(o.stdout, "");

    let malformed = t.file("bad.yaml", "kind: Pod\nspec: [\n  containers\n");
    let o = eval(&root, &["--set", "pss-baseline", "-i", s(&malformed)], 2);
    assert!(
        o.stderr.contains("bad.yaml") && o.stderr.contains("malformed YAML"),
        "{}",
        o.stderr
    );
    let o = eval(
        &root,
        &[
            "--set",
            "pss-baseline",
            "-i",
            s(&t.file("bad.json", "{\"kind\": \"Pod\",")),
        ],
        2,
    );
    assert!(o.stderr.contains("malformed JSON"), "{}", o.stderr);

    let missing = t.path("nowhere/pod.yaml");
    let o = eval(&root, &["--set", "pss-baseline", "-i", s(&missing)], 2);
    assert!(
        o.stderr.contains(s(&missing)) && o.stderr.contains("No such file"),
        "{}",
        o.stderr
    );

    let broken = t.file(
        "rego/broken.rego",
        "package broken\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n",
    );
    let o = eval(&root, &["--policy", s(&broken), "-i", s(&good)], 2);
    assert!(
        o.stderr.contains(s(&broken)),
        "names the file: {}",
        o.stderr
    );
    let o = eval(&root, &["--policy", s(&t.path("rego")), "-i", s(&good)], 2);
    assert!(
        o.stderr.contains("broken.rego"),
        "names the file: {}",
        o.stderr
    );

    // no policy at all, a list where an object belongs, a scan report that is not JSON
    let o = eval(&root, &["-i", s(&good)], 2);
    assert!(o.stderr.contains("no policy"), "{}", o.stderr);
    let o = eval(
        &root,
        &[
            "--set",
            "pss-baseline",
            "-i",
            s(&t.file("list.yaml", "- a\n- b\n")),
        ],
        2,
    );
    assert!(o.stderr.contains("must be an object"), "{}", o.stderr);
    let o = eval(
        &root,
        &[
            "--set",
            "image",
            "-i",
            s(&good),
            "--scan-report",
            s(&t.file("scan.json", "{nope")),
        ],
        2,
    );
    assert!(o.stderr.contains("not a JSON scan report"), "{}", o.stderr);
    // a configuration with an unknown mode
    let cfg = t.file("cfg.yaml", "sets: [pss-baseline]\nmodes: {\"*\": block}\n");
    let o = eval(&root, &["--config", s(&cfg), "-i", s(&good)], 2);
    assert!(
        o.stderr.contains("cfg.yaml") && o.stderr.contains("modes"),
        "{}",
        o.stderr
    );
}

#[test]
fn eval_reads_standard_input() {
    let t = Scratch::new("caisson-policy-stdin-");
    let bad = t.file("priv.yaml", POD_PRIVILEGED);
    let o = run_caisson(
        &t.root(),
        &["policy", "eval", "--set", "pss-baseline", "--input", "-"],
        Some(&bad),
        &[],
    );
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("pss-baseline/privileged"), "{}", o.stdout);
    let good = t.file("ok.json", r#"{"kind": "Pod", "metadata": {"name": "j"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}"#);
    let o = run_caisson(
        &t.root(),
        &["policy", "eval", "--set", "pss-baseline", "-i", "-"],
        Some(&good),
        &[],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.starts_with("ALLOWED: pod/j in namespace default"));
}

#[test]
fn eval_gatekeeper_constraints() {
    let t = Scratch::new("caisson-policy-gk-");
    let root = t.root();
    let constraint = gatekeeper_sample("host-namespaces", "psp-host-namespace", "constraint.yaml");
    let disallowed = gatekeeper_sample(
        "host-namespaces",
        "psp-host-namespace",
        "example_disallowed.yaml",
    );
    let allowed = gatekeeper_sample(
        "host-namespaces",
        "psp-host-namespace",
        "example_allowed.yaml",
    );
    let update = gatekeeper_sample("host-namespaces", "psp-host-namespace", "update.yaml");
    let v = eval(
        &root,
        &[
            "--constraint",
            s(&constraint),
            "-i",
            s(&disallowed),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    let r = rules(&v);
    assert_eq!(r.len(), 2, "hostPID and hostIPC: {v}");
    assert!(
        r.iter()
            .all(|x| x == "constraint/K8sPSPHostNamespace/psp-host-namespace"),
        "{v}"
    );
    assert!(v["violations"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Sharing the host namespace is not allowed"));
    eval(
        &root,
        &["--constraint", s(&constraint), "-i", s(&allowed)],
        0,
    );
    // the suite expects no violation on an UPDATE (a Pod's spec is immutable);
    // pss-baseline, as Pod Security Admission, judges it all the same
    eval(
        &root,
        &["--constraint", s(&constraint), "-i", s(&update)],
        0,
    );
    let v = eval(
        &root,
        &[
            "--constraint",
            s(&constraint),
            "--set",
            "pss-baseline",
            "-i",
            s(&disallowed),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    let r = rules(&v);
    assert!(r
        .iter()
        .any(|x| x.starts_with("constraint/K8sPSPHostNamespace/")));
    assert!(r.iter().any(|x| x == "pss-baseline/host-namespaces"));
    // a constraint judges Kubernetes objects only: an OCI config is left to the sets
    let cfg = t.file(
        "config.json",
        r#"{"ociVersion": "1.0.2", "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/"},
            "root": {"path": "rootfs"}, "linux": {"namespaces": [{"type": "mount"}]}}"#,
    );
    let o = eval(&root, &["--constraint", s(&constraint), "-i", s(&cfg)], 0);
    assert!(o.stdout.contains("0 violations"), "{}", o.stdout);
}

#[test]
fn eval_config_modes_and_exemptions() {
    let t = Scratch::new("caisson-policy-cfg-");
    let root = t.root();
    let bad = t.file("priv.yaml", POD_PRIVILEGED);

    // warn: allowed, the violation reported in mode warn
    let warn = t.file(
        "warn.yaml",
        "sets: [pss-baseline]\nmodes:\n  pss-baseline/privileged: warn\n",
    );
    let v = eval(
        &root,
        &["--config", s(&warn), "-i", s(&bad), "--format", "json"],
        0,
    )
    .json();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["violations"][0]["rule"], "pss-baseline/privileged");
    assert_eq!(v["violations"][0]["mode"], "warn");
    assert_eq!(
        v["warnings"][0],
        "[pss-baseline/privileged] container \"agent\" is privileged"
    );
    assert_eq!(v["denials"], serde_json::json!([]));
    let o = eval(&root, &["--config", s(&warn), "-i", s(&bad)], 0);
    assert!(
        o.stdout.starts_with("ALLOWED") && o.stdout.contains("warn   pss-baseline/privileged"),
        "{}",
        o.stdout
    );
    // audit: allowed and silent but in the result; `*` and the most specific pattern
    let audit = t.file(
        "audit.yaml",
        "sets: [pss-baseline]\nmodes: {\"*\": audit, \"pss-baseline/host-namespaces\": deny}\n",
    );
    let v = eval(
        &root,
        &["--config", s(&audit), "-i", s(&bad), "--format", "json"],
        0,
    )
    .json();
    assert_eq!(v["violations"][0]["mode"], "audit");
    assert_eq!(v["warnings"], serde_json::json!([]));

    // exemptions: by namespace (for one rule) and by image (for all rules)
    let ex = t.file(
        "exempt.yaml",
        "sets: [pss-baseline]
exemptions:
- namespaces: [\"kube-*\"]
  rules: [pss-baseline/privileged]
  reason: node agents live in kube-system
- images: [\"registry.example.com/agents/*\"]
  reason: vetted agent images
",
    );
    let in_kube = t.file(
        "kube.yaml",
        &POD_PRIVILEGED.replace("namespace: team", "namespace: kube-system"),
    );
    let v = eval(
        &root,
        &["--config", s(&ex), "-i", s(&in_kube), "--format", "json"],
        0,
    )
    .json();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["violations"][0]["rule"], "pss-baseline/privileged");
    assert_eq!(v["violations"][0]["mode"], "deny");
    assert_eq!(
        v["violations"][0]["exempted"],
        "node agents live in kube-system"
    );
    let o = eval(&root, &["--config", s(&ex), "-i", s(&in_kube)], 0);
    assert!(
        o.stdout.contains("exempt pss-baseline/privileged")
            && o.stdout.contains("exempt: node agents live in kube-system"),
        "{}",
        o.stdout
    );
    // the namespace exemption is for that rule only: hostPID still denies there
    let kube_hostpid = t.file(
        "kube-hostpid.yaml",
        &POD_PRIVILEGED
            .replace("namespace: team", "namespace: kube-system")
            .replace("spec:\n", "spec:\n  hostPID: true\n"),
    );
    let v = eval(
        &root,
        &[
            "--config",
            s(&ex),
            "-i",
            s(&kube_hostpid),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    assert_eq!(
        v["denials"],
        serde_json::json!([
            "[pss-baseline/host-namespaces] hostPID=true shares the host's process namespace"
        ])
    );
    // elsewhere, the same pod is denied
    eval(&root, &["--config", s(&ex), "-i", s(&bad)], 1);
    // by image: every violation of a pod whose images all match, pod-wide ones too
    let agent = t.file(
        "agent.yaml",
        &POD_PRIVILEGED
            .replace("nginx:1.27", "registry.example.com/agents/probe:3")
            .replace("spec:\n", "spec:\n  hostPID: true\n"),
    );
    let v = eval(
        &root,
        &["--config", s(&ex), "-i", s(&agent), "--format", "json"],
        0,
    )
    .json();
    let vs = v["violations"].as_array().unwrap();
    assert_eq!(vs.len(), 2, "{v}");
    assert!(
        vs.iter().all(|x| x["exempted"] == "vetted agent images"),
        "{v}"
    );
    // an image outside the prefix is not exempt
    let other = t.file(
        "other.yaml",
        &POD_PRIVILEGED.replace("nginx:1.27", "registry.example.com/apps/probe:3"),
    );
    eval(&root, &["--config", s(&ex), "-i", s(&other)], 1);
}

#[test]
fn eval_image_rules_with_a_scan_report() {
    let t = Scratch::new("caisson-policy-img-");
    let root = t.root();
    let pinned_ref = format!("registry.example.com/team/app@sha256:{}", "ab".repeat(32));
    let pinned = t.file(
        "pinned.yaml",
        &format!(
            "kind: Pod\nmetadata: {{name: app, namespace: team}}\nspec:\n  containers:\n  - {{name: app, image: \"{pinned_ref}\"}}\n"
        ),
    );
    let scan = t.file(
        "scan.json",
        r#"{"target": "registry.example.com/team/app", "findings": [
            {"id": "CVE-2024-0001", "severity": "CRITICAL", "package": "openssl", "installed": "3.0.1", "fixed": "3.0.9"},
            {"id": "CVE-2024-0002", "severity": "HIGH", "package": "zlib", "installed": "1.2.11", "fixed": null},
            {"id": "CVE-2024-0003", "severity": "LOW", "package": "bash", "installed": "5.1", "fixed": "5.2"}],
          "secrets": []}"#,
    );
    let with_secret = t.file(
        "scan-secret.json",
        r#"{"findings": [], "secrets": [{"rule": "aws-access-key-id", "title": "AWS access key id",
            "file": "/root/.aws/credentials", "line": 2, "layer": "sha256:aa", "deleted_in": "sha256:bb"}]}"#,
    );
    let clean = t.file("scan-clean.json", r#"{"findings": [], "secrets": []}"#);

    let v = eval(
        &root,
        &[
            "--set",
            "image",
            "-i",
            s(&pinned),
            "--scan-report",
            s(&scan),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    assert_eq!(rules(&v), ["image/vulnerabilities"], "{v}");
    assert_eq!(
        v["violations"][0]["message"],
        "image has 1 fixable CRITICAL/HIGH vulnerabilities: CVE-2024-0001 (CRITICAL, openssl 3.0.1 -> 3.0.9)"
    );
    let v = eval(
        &root,
        &[
            "--set",
            "image",
            "-i",
            s(&pinned),
            "--scan-report",
            s(&with_secret),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    assert_eq!(rules(&v), ["image/secrets"], "{v}");
    let msg = v["violations"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("/root/.aws/credentials") && msg.contains("deleted by a later layer"),
        "{msg}"
    );
    eval(
        &root,
        &[
            "--set",
            "image",
            "-i",
            s(&pinned),
            "--scan-report",
            s(&clean),
        ],
        0,
    );
    // no scan report: only the references are judged; a tag is not a pin
    eval(&root, &["--set", "image", "-i", s(&pinned)], 0);
    let tagged = t.file("tagged.yaml", POD_OK);
    let v = eval(
        &root,
        &["--set", "image", "-i", s(&tagged), "--format", "json"],
        1,
    )
    .json();
    assert_eq!(rules(&v), ["image/require-digest"], "{v}");

    // parameters through --config: allowed registries (repository prefix), no pin needed
    let regs = t.file(
        "registries.yaml",
        "sets: [image]
parameters:
  allowed_registries: [\"registry.example.com/team/\"]
  require_digest: false
",
    );
    eval(&root, &["--config", s(&regs), "-i", s(&pinned)], 0);
    let v = eval(
        &root,
        &["--config", s(&regs), "-i", s(&tagged), "--format", "json"],
        1,
    )
    .json();
    assert_eq!(rules(&v), ["image/allowed-registries"], "{v}");
    let msg = v["violations"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("\"docker.io\"") && msg.contains("registry.example.com/team/"),
        "{msg}"
    );
    // deny_severities: LOW too
    let low = t.file(
        "low.yaml",
        "sets: [image]\nparameters: {deny_severities: [CRITICAL, LOW]}\n",
    );
    let v = eval(
        &root,
        &[
            "--config",
            s(&low),
            "-i",
            s(&pinned),
            "--scan-report",
            s(&scan),
            "--format",
            "json",
        ],
        1,
    )
    .json();
    assert!(
        v["violations"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("image has 2 fixable CRITICAL/LOW vulnerabilities"),
        "{v}"
    );
}

#[test]
fn eval_user_rego_conftest_style() {
    let t = Scratch::new("caisson-policy-user-");
    let root = t.root();
    let rego = t.file(
        "policies/labels.rego",
        r#"package kubernetes.labels

import rego.v1

deny contains msg if {
	not input.metadata.labels.owner
	msg := sprintf("%s has no owner label", [input.metadata.name])
}

warn contains msg if {
	some c in input.spec.containers
	endswith(c.image, ":latest")
	msg := sprintf("container %s uses a :latest image", [c.name])
}
"#,
    );
    // a *_test.rego beside it is not enforced
    t.file(
        "policies/labels_test.rego",
        "package kubernetes.labels_test\n\nimport rego.v1\n\ntest_x if { true }\n",
    );
    let latest = t.file(
        "latest.yaml",
        "kind: Pod\nmetadata: {name: lab, namespace: team}\nspec:\n  containers: [{name: c, image: \"nginx:latest\"}]\n",
    );
    let v = eval(
        &root,
        &["--policy", s(&rego), "-i", s(&latest), "--format", "json"],
        1,
    )
    .json();
    let vs = v["violations"].as_array().unwrap();
    assert_eq!(vs.len(), 2, "{v}");
    assert_eq!(vs[0]["rule"], "kubernetes.labels/deny");
    assert_eq!(vs[0]["message"], "lab has no owner label");
    assert_eq!(vs[0]["mode"], "deny");
    assert_eq!(vs[1]["rule"], "kubernetes.labels/warn");
    assert_eq!(vs[1]["message"], "container c uses a :latest image");
    assert_eq!(vs[1]["mode"], "warn");
    // with an owner, only the warning is left: allowed
    let owned = t.file(
        "owned.yaml",
        "kind: Pod\nmetadata: {name: lab, labels: {owner: me}}\nspec:\n  containers: [{name: c, image: \"nginx:latest\"}]\n",
    );
    let o = eval(
        &root,
        &[
            "--policy",
            s(&t.path("policies")),
            "--set",
            "pss-baseline",
            "-i",
            s(&owned),
        ],
        0,
    );
    assert!(
        o.stdout.contains("warn   kubernetes.labels/warn"),
        "{}",
        o.stdout
    );
    // the same rules through a configuration directory (config.yaml + *.rego)
    t.file(
        "policies/config.yaml",
        "sets: [pss-baseline]\nmodes: {\"kubernetes.labels/deny\": warn}\n",
    );
    let v = eval(
        &root,
        &[
            "--config",
            s(&t.path("policies")),
            "-i",
            s(&latest),
            "--format",
            "json",
        ],
        0,
    )
    .json();
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn eval_writes_the_decision_log() {
    let t = Scratch::new("caisson-policy-log-");
    let root = t.root();
    let good = t.file("ok.yaml", POD_OK);
    let bad = t.file("priv.yaml", POD_PRIVILEGED);
    let log = t.path("logs/decisions.jsonl");
    let mut outs = Vec::new();
    for (input, code) in [(&good, 0), (&bad, 1), (&bad, 1)] {
        outs.push(
            eval(
                &root,
                &[
                    "--set",
                    "pss-baseline",
                    "-i",
                    s(input),
                    "--decision-log",
                    s(&log),
                    "--format",
                    "json",
                ],
                code,
            )
            .json(),
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one line per decision: {text}");
    for (l, out) in lines.iter().zip(&outs) {
        assert_eq!(l["entry"], "eval");
        assert_eq!(l["input_digest"], out["input_digest"]);
        assert_eq!(l["policy_version"], out["policy_version"]);
        assert!(l["latency_us"].is_u64(), "{l}");
        assert!(l["time"].is_string(), "{l}");
        assert_eq!(l["object"]["kind"], "Pod");
        assert_eq!(l["object"]["namespace"], "team");
    }
    assert_eq!(lines[0]["result"], "allow");
    assert_eq!(lines[1]["result"], "deny");
    assert_eq!(lines[1]["violations"][0]["rule"], "pss-baseline/privileged");
    assert_eq!(lines[1]["object"]["name"], "agent");
    assert_eq!(
        lines[1]["object"]["images"],
        serde_json::json!(["nginx:1.27"])
    );
    // the same input and policy: the same digests
    assert_eq!(lines[1]["input_digest"], lines[2]["input_digest"]);
    assert_ne!(lines[0]["input_digest"], lines[1]["input_digest"]);
    assert_eq!(lines[0]["policy_version"], lines[1]["policy_version"]);
    // private to its owner
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    // another policy, another version; decision_log from a configuration
    let cfg = t.file(
        "cfg.yaml",
        &format!(
            "sets: [pss-restricted]\ndecision_log: {}\n",
            t.path("cfg.log").display()
        ),
    );
    let v = eval(
        &root,
        &["--config", s(&cfg), "-i", s(&good), "--format", "json"],
        1,
    )
    .json();
    assert_ne!(v["policy_version"], outs[0]["policy_version"]);
    let text = std::fs::read_to_string(t.path("cfg.log")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\"result\":\"deny\""), "{text}");
}

#[test]
fn policy_test_runs_rego_unit_tests() {
    let t = Scratch::new("caisson-policy-test-");
    let root = t.root();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/policy/rego/tests");
    let n: usize = std::fs::read_dir(&shipped)
        .unwrap()
        .map(|e| {
            let mut names: Vec<String> = std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .filter(|l| l.starts_with("test_"))
                .map(|l| l.split_whitespace().next().unwrap().to_string())
                .collect();
            names.dedup();
            names.len()
        })
        .sum();
    assert!(n >= 10, "{n}");
    let o = expect(&root, &["policy", "test", s(&shipped)], 0);
    assert!(o.stdout.contains(&format!("PASS: {n}/{n}")), "{}", o.stdout);
    assert!(
        !o.stdout.contains(": PASS ("),
        "quiet without -v: {}",
        o.stdout
    );
    let o = expect(&root, &["policy", "test", "-v", s(&shipped)], 0);
    assert!(
        o.stdout
            .contains("data.caisson.pss.tests.test_privileged_denied: PASS"),
        "{}",
        o.stdout
    );
    assert_eq!(o.stdout.matches(": PASS (").count(), n, "{}", o.stdout);
    let o = expect(
        &root,
        &["policy", "test", "--run", "secrets", "-v", s(&shipped)],
        0,
    );
    assert!(o.stdout.contains("PASS: 1/1"), "{}", o.stdout);
    assert!(o.stdout.contains("test_secrets_in_layers"), "{}", o.stdout);
    let v = expect(
        &root,
        &["policy", "test", "--format", "json", s(&shipped)],
        0,
    )
    .json();
    assert_eq!(v.as_array().unwrap().len(), n);
    assert!(v.as_array().unwrap().iter().all(|r| r["outcome"] == "pass"));

    // a failing test (against the built-in policies) is named with FAIL
    let dir = t.path("team");
    t.file(
        "team/team_test.rego",
        r#"package team.tests

import rego.v1

test_arithmetic if {
	1 + 1 == 2
}

test_privileged_pods_pass_baseline if {
	count(data.caisson.pss.baseline.violation) == 0 with input as {"spec": {"containers": [{"name": "c", "securityContext": {"privileged": true}}]}}
}
"#,
    );
    let o = expect(&root, &["policy", "test", s(&dir)], 1);
    assert!(
        o.stdout
            .contains("data.team.tests.test_privileged_pods_pass_baseline: FAIL"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("team_test.rego"), "{}", o.stdout);
    assert!(
        o.stdout.contains("PASS: 1/2") && o.stdout.contains("FAIL: 1/2"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("test_arithmetic"), "{}", o.stdout);
    let o = expect(&root, &["policy", "test", "-v", s(&dir)], 1);
    assert!(
        o.stdout.contains("data.team.tests.test_arithmetic: PASS"),
        "{}",
        o.stdout
    );
    // --run keeps the passing one only
    let o = expect(
        &root,
        &["policy", "test", "--run", "arithmetic", s(&dir)],
        0,
    );
    assert!(o.stdout.contains("PASS: 1/1"), "{}", o.stdout);
    let o = expect(
        &root,
        &["policy", "test", "--run", "nothing-matches", s(&dir)],
        2,
    );
    assert!(o.stderr.contains("no test_ rules"), "{}", o.stderr);

    // a directory without .rego files
    t.file("empty/README.md", "nothing here\n");
    let o = expect(&root, &["policy", "test", s(&t.path("empty"))], 2);
    assert!(o.stderr.contains("no .rego files"), "{}", o.stderr);
}

#[test]
fn policy_sets_lists_the_built_in_sets() {
    let t = Scratch::new("caisson-policy-sets-");
    let out = ok(&t.root(), &["policy", "sets"]);
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["pss-baseline", "pss-restricted", "image"], "{out}");
    assert!(out.contains("Pod Security Standards"), "{out}");
}

// ───────────────────── the gate of `caisson run/create` ─────────────────────

/// Removes every container of a root when dropped (a failed assertion leaves no
/// container running).
struct RemoveAll(PathBuf);

impl Drop for RemoveAll {
    fn drop(&mut self) {
        let o = run_in(&self.0, &["ps", "-a", "-q"]);
        let ids: Vec<&str> = o.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = run_in(&self.0, &args);
        }
    }
}

const LOCAL_IMAGE: &str = "localhost/policy-test:1";

/// A one-layer busybox image (`caisson import` of a rootfs tar made here).
fn import_image(root: &Path, dir: &Path) {
    let rootfs = dir.join("rootfs.tar");
    let bb = std::fs::read("/bin/busybox").expect("busybox-static");
    let mut t = tar::Builder::new(std::fs::File::create(&rootfs).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    t.append_data(&mut h, "bin/", &b""[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(bb.len() as u64);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    t.append_data(&mut h, "bin/busybox", bb.as_slice()).unwrap();
    for app in ["sh", "true", "id", "echo"] {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_uid(0);
        h.set_gid(0);
        t.append_link(&mut h, format!("bin/{app}"), "busybox")
            .unwrap();
    }
    t.into_inner().unwrap();
    ok(
        root,
        &[
            "import",
            "-c",
            "ENV PATH=/bin",
            rootfs.to_str().unwrap(),
            LOCAL_IMAGE,
        ],
    );
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                // the engine's lock file, made by the first command that takes it
                .filter(|n| n != ".lock")
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn decisions(root: &Path) -> Vec<Value> {
    std::fs::read_to_string(root.join("policy/decisions.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs a command the gate must deny: exit 125, these rules named, nothing created.
fn denied(root: &Path, args: &[&str], rules: &[&str]) -> String {
    let ps_before = ok(root, &["ps", "-a", "-q"]);
    let before = entries(&root.join("containers"));
    let o = expect(root, args, 125);
    assert!(
        o.stderr.contains("policy denied the container"),
        "{args:?}: {}",
        o.stderr
    );
    for r in rules {
        assert!(
            o.stderr.contains(&format!("[{r}]")),
            "{args:?}: {r} in {}",
            o.stderr
        );
    }
    assert_eq!(o.stdout, "", "{args:?}");
    assert_eq!(
        ok(root, &["ps", "-a", "-q"]),
        ps_before,
        "{args:?}: a container record was left"
    );
    assert_eq!(
        entries(&root.join("containers")),
        before,
        "{args:?}: something was created under containers/"
    );
    o.stderr
}

#[test]
fn run_gate_denies_before_anything_is_created() {
    let t = Scratch::new("caisson-policy-run-");
    let root = t.root();
    let _cleanup = RemoveAll(root.clone());
    import_image(&root, t.dir.path());

    // baseline lets the hardened default through, not the host's network
    let out = ok(
        &root,
        &[
            "run",
            "--rm",
            "--policy",
            "pss-baseline",
            LOCAL_IMAGE,
            "echo",
            "allowed",
        ],
    );
    assert_eq!(out.trim(), "allowed");
    let err = denied(
        &root,
        &[
            "run",
            "--rm",
            "--policy",
            "pss-baseline",
            "--network",
            "host",
            LOCAL_IMAGE,
            "true",
        ],
        &["pss-baseline/host-namespaces"],
    );
    assert!(
        err.contains("hostNetwork=true shares the host's network namespace"),
        "{err}"
    );
    // create is gated the same way, and a named container is not left behind
    denied(
        &root,
        &[
            "create",
            "--name",
            "hostnet",
            "--policy",
            "pss-baseline",
            "--network",
            "host",
            LOCAL_IMAGE,
            "true",
        ],
        &["pss-baseline/host-namespaces"],
    );
    assert_ne!(run_in(&root, &["inspect", "hostnet"]).code, 0);
    // --cap-add beyond the default set
    denied(
        &root,
        &[
            "run",
            "--rm",
            "--policy",
            "pss-baseline",
            "--cap-add",
            "SYS_ADMIN",
            LOCAL_IMAGE,
            "true",
        ],
        &["pss-baseline/capabilities"],
    );

    // restricted and our hardened defaults (no_new_privs and seccomp are already
    // there): root, and the 9 default capabilities, are what it refuses
    let err = denied(
        &root,
        &[
            "run",
            "--rm",
            "--policy",
            "pss-restricted",
            LOCAL_IMAGE,
            "true",
        ],
        &[
            "pss-restricted/capabilities",
            "pss-restricted/run-as-non-root",
            "pss-restricted/run-as-user",
        ],
    );
    assert!(
        !err.contains("allow-privilege-escalation") && !err.contains("seccomp"),
        "{err}"
    );
    // a non-root user is not enough: capabilities must be dropped too
    let err = denied(
        &root,
        &[
            "run",
            "--rm",
            "--policy",
            "pss-restricted",
            "--user",
            "1000:1000",
            LOCAL_IMAGE,
            "true",
        ],
        &["pss-restricted/capabilities"],
    );
    assert!(!err.contains("run-as-"), "{err}");
    let out = ok(
        &root,
        &[
            "run",
            "--rm",
            "--policy",
            "pss-restricted",
            "--user",
            "1000:1000",
            "--cap-drop",
            "ALL",
            LOCAL_IMAGE,
            "id",
        ],
    );
    assert_eq!(out.trim(), "uid=1000 gid=1000");
    let out = ok(
        &root,
        &[
            "run",
            "--rm",
            "--policy",
            "pss-restricted",
            "--user",
            "1000:1000",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "NET_BIND_SERVICE",
            LOCAL_IMAGE,
            "echo",
            "restricted-ok",
        ],
    );
    assert_eq!(out.trim(), "restricted-ok");

    // the image rules: a tag is not a digest
    let err = denied(
        &root,
        &["run", "--rm", "--policy", "image", LOCAL_IMAGE, "true"],
        &["image/require-digest"],
    );
    assert!(
        err.contains(&format!("image \"{LOCAL_IMAGE}\" is not pinned by digest")),
        "{err}"
    );

    // a configuration file: everything in warn mode runs, and says so
    let warn = t.file(
        "warn.yaml",
        "sets: [pss-restricted]\nmodes: {\"*\": warn}\n",
    );
    let o = expect(
        &root,
        &[
            "run",
            "--rm",
            "--policy",
            s(&warn),
            LOCAL_IMAGE,
            "echo",
            "warned",
        ],
        0,
    );
    assert_eq!(o.stdout.trim(), "warned");
    assert!(
        o.stderr
            .contains("policy warning: [pss-restricted/run-as-user]"),
        "{}",
        o.stderr
    );
    assert_eq!(
        o.stderr.matches("policy warning:").count(),
        3,
        "{}",
        o.stderr
    );
    // sets and files mix: a set name and a Rego file with its own deny rule
    let rego = t.file(
        "no-echo.rego",
        "package local.run\n\nimport rego.v1\n\ndeny contains \"no containers named like that\" if {\n\tsome c in input.spec.containers\n\tc.name == \"forbidden\"\n}\n",
    );
    denied(
        &root,
        &[
            "run",
            "--rm",
            "--name",
            "forbidden",
            "--policy",
            "pss-baseline",
            "--policy",
            s(&rego),
            LOCAL_IMAGE,
            "true",
        ],
        &["local.run/deny"],
    );
    // an unknown set name is an error, not a silent pass
    let o = expect(
        &root,
        &["run", "--rm", "--policy", "pss-strict", LOCAL_IMAGE, "true"],
        125,
    );
    assert!(o.stderr.contains("pss-strict"), "{}", o.stderr);

    // nothing left, and every decision is in the engine's log
    assert_eq!(ok(&root, &["ps", "-a", "-q"]).trim(), "");
    // (the unknown set never reached a decision)
    let log = decisions(&root);
    assert!(log.iter().all(|l| l["entry"] == "engine"), "{log:#?}");
    assert!(log.iter().all(|l| l["object"]["source"] == "oci"));
    let results: Vec<&str> = log.iter().map(|l| l["result"].as_str().unwrap()).collect();
    assert_eq!(
        results,
        [
            "allow", "deny", "deny", "deny", "deny", "deny", "allow", "allow", "deny", "allow",
            "deny",
        ],
        "{log:#?}"
    );
    let first = &log[0];
    assert!(first["input_digest"]
        .as_str()
        .is_some_and(|d| d.starts_with("sha256:")));
    assert!(first["policy_version"]
        .as_str()
        .is_some_and(|d| d.starts_with("sha256:")));
    assert!(first["latency_us"].is_u64());
    assert_eq!(first["object"]["images"], serde_json::json!([LOCAL_IMAGE]));
    assert_eq!(
        log[1]["violations"][0]["rule"],
        "pss-baseline/host-namespaces"
    );
    assert_eq!(log[2]["object"]["name"], "hostnet");
}

const REGISTRY_IMAGE: &str = "127.0.0.1:5000/busybox:latest";

fn registry_up() {
    // once per test binary: peers.sh images rebuilds its rootfs, not concurrently
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let peers = shared().join("peers/peers.sh");
        assert!(peers.exists(), "{} is missing", peers.display());
        for args in [&["registry", "start"][..], &["images"][..]] {
            let o = Command::new("bash")
                .arg(&peers)
                .args(args)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "peers.sh {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    });
}

#[test]
fn run_gate_image_rules_pass_a_reference_pinned_by_digest() {
    registry_up();
    let t = Scratch::new("caisson-policy-pin-");
    let root = t.root();
    let _cleanup = RemoveAll(root.clone());
    ok(&root, &["pull", "-q", REGISTRY_IMAGE]);
    let images: Value = serde_json::from_str(&ok(&root, &["images", "--json"])).unwrap();
    let entry = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["names"].to_string().contains(REGISTRY_IMAGE))
        .unwrap();
    let digest = entry["digest"].as_str().unwrap().to_string();
    let short_id = entry["id"].as_str().unwrap()["sha256:".len()..][..12].to_string();
    let pinned = format!("127.0.0.1:5000/busybox@{digest}");
    // (pulled here: the implicit pull of `run` prints the image id on stdout)
    ok(&root, &["pull", "-q", &pinned]);
    denied(
        &root,
        &["run", "--rm", "--policy", "image", REGISTRY_IMAGE, "true"],
        &["image/require-digest"],
    );
    let o = expect(
        &root,
        &[
            "run", "--rm", "--policy", "image", &pinned, "echo", "pinned",
        ],
        0,
    );
    assert_eq!(o.stdout.trim(), "pinned", "{}", o.stderr);
    // the registry must be allowed too
    let elsewhere = t.file(
        "registries.yaml",
        "sets: [image]\nparameters: {allowed_registries: [registry.example.com]}\n",
    );
    denied(
        &root,
        &["run", "--rm", "--policy", s(&elsewhere), &pinned, "true"],
        &["image/allowed-registries"],
    );
    let here = t.file(
        "here.yaml",
        "sets: [image, pss-baseline]\nparameters: {allowed_registries: [\"127.0.0.1:5000\"]}\n",
    );
    let o = expect(
        &root,
        &["run", "--rm", "--policy", s(&here), &pinned, "echo", "ok"],
        0,
    );
    assert_eq!(o.stdout.trim(), "ok", "{}", o.stderr);
    let log = decisions(&root);
    let results: Vec<&str> = log.iter().map(|l| l["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["deny", "allow", "deny", "allow"], "{log:#?}");
    assert!(log.iter().all(|l| l["entry"] == "engine"));
    // An image given by its id is judged under its name (127.0.0.1:5000/busybox),
    // not as `docker.io/library/<id>`.
    let by_registry = t.file(
        "by-registry.yaml",
        "sets: [image]\nparameters: {allowed_registries: [\"127.0.0.1:5000\"], require_digest: false}\n",
    );
    let o = expect(
        &root,
        &[
            "run",
            "--rm",
            "--policy",
            s(&by_registry),
            &short_id,
            "echo",
            "by-id",
        ],
        0,
    );
    assert_eq!(o.stdout.trim(), "by-id", "{}", o.stderr);
    denied(
        &root,
        &["run", "--rm", "--policy", s(&elsewhere), &short_id, "true"],
        &["image/allowed-registries"],
    );
    // A forged pin cannot be made: `tag` refuses a digest that is not the image's,
    // and the implicit pull of `run` no longer prints the image id on stdout.
    let forged = format!("localhost/forged@sha256:{}", "1".repeat(64));
    let o = expect(&root, &["tag", REGISTRY_IMAGE, &forged], 1);
    assert!(
        o.stderr.contains("must be the image's manifest digest"),
        "{}",
        o.stderr
    );
    let fresh = t.root().with_file_name("fresh-root");
    let _fresh = RemoveAll(fresh.clone());
    let o = expect(
        &fresh,
        &["run", "--rm", REGISTRY_IMAGE, "echo", "only-this"],
        0,
    );
    assert_eq!(o.stdout.trim(), "only-this", "{}", o.stderr);
}
