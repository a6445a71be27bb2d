//! The built-in sets run compiled on regorus's RVM; the tree-walking interpreter is
//! the reference. Every Pod and AdmissionReview of the Gatekeeper samples, OCI
//! configs and scan reports must get the same violations from both.
#![allow(clippy::tests_outside_test_module)]

use std::path::Path;

use caisson_policy::input::{self, OciContext};
use caisson_policy::{Gate, PolicyConfig};
use serde_json::{json, Value};

fn samples() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/gatekeeper-psp");
    assert!(
        dir.is_dir(),
        "{} is missing: this test needs ../shared",
        dir.display()
    );
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                let text = std::fs::read_to_string(&p).unwrap();
                let y: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
                let v = serde_json::to_value(y).unwrap();
                if v.get("kind").is_some() {
                    out.push((p.display().to_string(), v));
                }
            }
        }
    }
    out
}

fn oci_inputs() -> Vec<(String, Value)> {
    let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_RAW"]);
    let base = json!({"ociVersion": "1.2.0", "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"],
        "capabilities": {"bounding": caps}}, "root": {"path": "rootfs"},
        "mounts": [{"destination": "/data", "type": "bind", "source": "/etc", "options": ["rbind"]}],
        "linux": {"namespaces": [{"type": "mount"}], "sysctl": {"kernel.msgmax": "1"}}});
    let scan = json!({"findings": [
        {"id": "CVE-1", "severity": "CRITICAL", "package": "openssl", "installed": "1", "fixed": "2"},
        {"id": "CVE-2", "severity": "HIGH", "package": "zlib", "installed": "1", "fixed": null},
        {"id": "CVE-3", "severity": "LOW", "package": "bash", "installed": "1", "fixed": "2"}],
        "secrets": [{"rule": "private-key", "title": "Private key", "file": "/k", "line": 1, "layer": "sha256:aa", "deleted_in": null}]});
    let mut out = Vec::new();
    for (name, image, scan) in [
        (
            "oci privileged, unpinned, scan",
            "evil.example.com/x:1",
            Some(scan.clone()),
        ),
        ("oci pinned, no scan", "127.0.0.1:5000/app@sha256:00", None),
    ] {
        let ctx = OciContext {
            image: Some(image.into()),
            scan,
            ..OciContext::default()
        };
        out.push((name.to_string(), input::from_oci(&base, &ctx).unwrap()));
    }
    out
}

#[test]
fn compiled_sets_decide_like_the_interpreter() {
    let mut cfg = PolicyConfig::with_sets(&["pss-restricted", "image"]);
    cfg.parameters
        .insert("allowed_registries".into(), json!(["127.0.0.1:5000"]));
    cfg.parameters.insert("require_scan".into(), json!(true));
    let mut rvm = Gate::new(&cfg).unwrap();
    assert_eq!(
        rvm.backend(),
        "rvm",
        "the RVM compiler no longer takes the built-in sets"
    );
    let mut interp = rvm.clone();
    interp.use_interpreter();
    assert_eq!(interp.backend(), "interpreter");
    let mut inputs: Vec<(String, Value)> = Vec::new();
    for (name, doc) in samples() {
        // Every sample object must normalise; only the suites themselves are not inputs.
        if doc["kind"] == "Suite" {
            continue;
        }
        let (v, _) = input::normalize(&doc, None).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        inputs.push((name, v));
    }
    inputs.extend(oci_inputs());
    // Hostile shapes the fuzzer found (a volume without a name made the interpreter
    // drop another volume's violation, and the VM fail): both must agree.
    for (name, vols) in [
        (
            "unnamed volume after",
            json!([{"name": "h", "weird": {}}, {"nam-0be": "n", "nfs": {}}]),
        ),
        (
            "unnamed volume first",
            json!([{"nam-0be": "n", "nfs": {}}, {"name": "h", "weird": {}}]),
        ),
    ] {
        let doc = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"volumes": vols,
            "containers": [{"securityContext": {"privileged": true}}, {"name": "named"}],
            "securityContext": {"sysctls": [{"value": "1"}, {"name": "kernel.msgmax"}]}},
            "scan": null});
        inputs.push((
            name.to_string(),
            input::normalize(
                &doc,
                Some(json!({"findings": [{"severity": "HIGH", "fixed": "2"}],
            "secrets": [{"rule": "x", "line": "not a number"}]})),
            )
            .unwrap()
            .0,
        ));
    }
    assert!(inputs.len() > 100, "only {} inputs", inputs.len());
    let mut differ = Vec::new();
    let mut violations = 0;
    for (name, v) in &inputs {
        let a = rvm.decide(v).unwrap();
        let b = interp.decide(v).unwrap();
        violations += a.violations.len();
        if a.violations != b.violations || a.allowed != b.allowed {
            differ.push(format!(
                "{name}:\n  rvm:         {:?}\n  interpreter: {:?}",
                a.violations, b.violations
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} inputs differ:\n{}",
        differ.len(),
        inputs.len(),
        differ.join("\n")
    );
    assert!(
        violations > 100,
        "too few violations ({violations}) for a meaningful comparison"
    );
    println!(
        "rvm vs interpreter: {} inputs, {violations} violations, all equal",
        inputs.len()
    );
}

/// A pod of 300 containers (a hostile or generated one) stays on the VM: regorus's
/// default instruction budget would send it to the interpreter.
#[test]
fn a_big_pod_stays_on_the_vm() {
    let containers: Vec<Value> = (0..300)
        .map(|i| json!({"name": format!("c{i}"), "image": "nginx", "securityContext": {"privileged": i % 2 == 0}}))
        .collect();
    let doc =
        json!({"kind": "Pod", "metadata": {"name": "big"}, "spec": {"containers": containers}});
    let (v, _) = input::normalize(&doc, None).unwrap();
    let mut rvm = Gate::new(&PolicyConfig::with_sets(&["pss-restricted", "image"])).unwrap();
    let mut interp = rvm.clone();
    interp.use_interpreter();
    let a = rvm.decide(&v).unwrap();
    assert_eq!(
        rvm.vm_fallbacks(),
        0,
        "the VM gave a 300-container pod to the interpreter"
    );
    assert_eq!(a.violations, interp.decide(&v).unwrap().violations);
    let privileged = a
        .violations
        .iter()
        .filter(|v| v.rule == "pss-restricted/privileged")
        .count();
    assert_eq!(privileged, 150);
}
