//! Decision latency of the built-in sets, engine reused (as the webhook and a
//! long-running engine use it): `cargo bench -p caisson-policy --bench decide`.
//! Prints median and p99 per decision for each set and input; the target
//! (docs/benchmarks.md): median under 50 µs, p99 under 200 µs.
//! `-- WORD` runs only the cases whose label holds WORD; `-- --rvm-only` skips
//! the interpreter side.

use std::time::Instant;

use caisson_policy::input::{self, OciContext};
use caisson_policy::{Gate, PolicyConfig};
use serde_json::{json, Value};

fn pod() -> Value {
    input::normalize(&pod_doc(), None).unwrap().0
}

fn pod_doc() -> Value {
    // A typical Deployment-made pod: two containers, an init container, volumes.
    let c = |name: &str, image: &str| {
        json!({"name": name, "image": image, "ports": [{"containerPort": 8080}],
               "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
               "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}],
               "resources": {"limits": {"memory": "256Mi", "cpu": "500m"}}})
    };
    let doc = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-5d8f7", "namespace": "shop", "labels": {"app": "web", "tier": "front"}},
        "spec": {"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [c("web", "registry.example.com/shop/web@sha256:0123"), c("sidecar", "registry.example.com/shop/proxy:1.2")],
                 "initContainers": [c("migrate", "registry.example.com/shop/web@sha256:0123")],
                 "volumes": [{"name": "cfg", "configMap": {"name": "web"}}, {"name": "tmp", "emptyDir": {}}]}});
    doc
}

/// A big pod: 40 containers like the first (how the cost grows per container).
fn big_pod() -> Value {
    let mut doc = pod_doc();
    let c = doc["spec"]["containers"][0].clone();
    doc["spec"]["containers"] = Value::Array(
        (0..40)
            .map(|i| {
                let mut c = c.clone();
                c["name"] = json!(format!("c{i}"));
                c
            })
            .collect(),
    );
    input::normalize(&doc, None).unwrap().0
}

fn privileged_pod() -> Value {
    let doc = json!({"kind": "Pod", "metadata": {"name": "debug", "namespace": "ops"},
        "spec": {"hostPID": true, "hostNetwork": true,
                 "containers": [{"name": "sh", "image": "busybox", "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}}}],
                 "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}});
    input::normalize(&doc, None).unwrap().0
}

fn oci(scan: Option<Value>) -> Value {
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_NET_BIND_SERVICE"
    ]);
    let cfg = json!({"ociVersion": "1.2.0",
        "process": {"user": {"uid": 1000, "gid": 1000}, "args": ["/app"], "noNewPrivileges": true,
                    "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}},
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/data", "type": "bind", "source": "/var/lib/caisson/volumes/data/_data", "options": ["rbind"]}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
                  "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []},
                  "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}});
    let ctx = OciContext {
        image: Some("127.0.0.1:5000/app:1".into()),
        volume_roots: vec!["/var/lib/caisson/volumes".into()],
        scan,
        ..OciContext::default()
    };
    input::from_oci(&cfg, &ctx).unwrap()
}

fn scan_report() -> Value {
    let sev = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
    let findings: Vec<Value> = (0..60)
        .map(|i| json!({"id": format!("CVE-2024-{i:04}"), "severity": sev[i % 4], "package": format!("pkg{i}"),
                        "installed": "1.0", "fixed": if i % 3 == 0 { Value::Null } else { json!("1.1") }}))
        .collect();
    json!({"findings": findings, "secrets": []})
}

fn run(gate: &mut Gate, input: &Value) -> (f64, f64, usize) {
    for _ in 0..2000 {
        gate.decide(input).unwrap();
    }
    let n = 20_000;
    let mut t = Vec::with_capacity(n);
    let mut denied = 0;
    for _ in 0..n {
        let s = Instant::now();
        let d = gate.decide(input).unwrap();
        t.push(s.elapsed().as_nanos() as f64 / 1000.0);
        denied += usize::from(!d.allowed);
    }
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (t[n / 2], t[n * 99 / 100], denied)
}

/// One set on one input: the shipped path (built-in sets compiled to the RVM) and,
/// side by side, regorus's interpreter (the reference evaluator) on the same gate.
fn measure(label: &str, sets: &[&str], input: &Value) {
    // `cargo bench --bench decide -- WORD`: only the cases whose label holds WORD.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filter.iter().all(|f| label.contains(f.as_str())) {
        return;
    }
    let mut gate = Gate::new(&PolicyConfig::with_sets(sets)).unwrap();
    let backend = gate.backend();
    let (med, p99, denied) = run(&mut gate, input);
    assert_eq!(
        gate.vm_fallbacks(),
        0,
        "{label}: the VM fell back to the interpreter"
    );
    if std::env::args().any(|a| a == "--rvm-only") {
        println!("{label:<44} [{backend}] median {med:>6.1} µs  p99 {p99:>6.1} µs");
        return;
    }
    let mut interp = gate.clone();
    interp.use_interpreter();
    let (imed, ip99, _) = run(&mut interp, input);
    println!(
        "{label:<44} [{backend}] median {med:>6.1} µs  p99 {p99:>6.1} µs | interpreter median {imed:>6.1} µs  p99 {ip99:>6.1} µs | {:.2}x | {}",
        med / imed,
        if denied == 0 { "allowed" } else { "denied" }
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("decision latency per decision, one gate reused, 20000 decisions each; the shipped path (built-ins on the RVM) beside regorus's interpreter (target: median < 50 µs, p99 < 200 µs)");
    let pod = pod();
    let bad = privileged_pod();
    measure(
        "pss-baseline  / hardened pod (3 containers)",
        &["pss-baseline"],
        &pod,
    );
    measure("pss-baseline  / privileged pod", &["pss-baseline"], &bad);
    measure(
        "pss-restricted/ hardened pod (3 containers)",
        &["pss-restricted"],
        &pod,
    );
    measure("pss-restricted/ privileged pod", &["pss-restricted"], &bad);
    measure(
        "pss-restricted/ hardened pod (40 containers)",
        &["pss-restricted"],
        &big_pod(),
    );
    measure(
        "pss-restricted/ OCI config.json",
        &["pss-restricted"],
        &oci(None),
    );
    measure(
        "image         / OCI config, no scan",
        &["image"],
        &oci(None),
    );
    measure(
        "image         / OCI config + 60-finding scan",
        &["image"],
        &oci(Some(scan_report())),
    );
    measure(
        "all three     / OCI config + scan",
        &["pss-restricted", "image"],
        &oci(Some(scan_report())),
    );
}

// The allocator `caisson` (engine and webhook) ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
