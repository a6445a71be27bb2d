#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

//! The built-in `pss-baseline` and `pss-restricted` sets against the upstream Pod
//! Security Standards, field by field, as one table.
//!
//! Upstream is the `latest` policy version of Pod Security Admission
//! (`k8s.io/pod-security-admission/policy/check_*.go`, Kubernetes 1.37), which the
//! kubernetes.io "Pod Security Standards" page describes with some lag. Besides the
//! controls that page lists, the checks enforce:
//! - sysctls `net.ipv4.tcp_rmem`/`tcp_wmem` (policy 1.32) and
//!   `net.ipv4.tcp_slow_start_after_idle`/`tcp_notsent_lowat` (1.37) are safe;
//! - `host` on probes and lifecycle hooks is forbidden by baseline (1.34,
//!   `check_hostProbesAndhostLifecycle.go`);
//! - `image` volumes are allowed by restricted (1.33, kubernetes#130394);
//! - a pod with `hostUsers: false` (its own user namespace) may use any `procMount`
//!   under baseline, and restricted skips `runAsNonRoot`/`runAsUser` for it, while
//!   still requiring the default `procMount` (1.35, kubernetes#132157);
//! - an empty AppArmor annotation value is allowed (`allowedAnnotationValue`).
//!
//! Every row: a base pod that passes (the restricted base is fully hardened), a
//! patch, the set, and the expected outcome: allowed with no violation, or denied
//! with the rule id and the upstream field path (indices filled in). Every row
//! baseline denies is run under `pss-restricted` too, on the hardened base: it must
//! be denied there as well, under the `pss-restricted/` prefix. Pod rows are exact
//! (no other violation may fire); OCI `config.json` rows, where one config trips
//! several controls at once, need the expected violation among the others.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use caisson_policy::input::{from_oci, normalize, OciContext};
use caisson_policy::{Decision, Gate, PolicyConfig};
use serde_json::{json, Map, Value};

const BASELINE: &str = "pss-baseline";
const RESTRICTED: &str = "pss-restricted";

/// The three container lists every container control covers.
const LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Capabilities baseline lets a container add.
const BASELINE_CAPS: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Safe sysctls: 1.0, 1.27, 1.29, 1.32 and 1.37 additions.
const SAFE_SYSCTLS: [&str; 14] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

const SELINUX_TYPES: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/c";

/// One edit of the base document: set (or, with `None`, remove) the value at a path
/// of object keys and list indices.
#[derive(Debug, Clone)]
struct Op {
    path: Vec<String>,
    value: Option<Value>,
}

/// `set("spec.containers.0.securityContext.privileged", true)`: dotted keys, numbers index lists.
fn set(path: &str, value: Value) -> Op {
    Op {
        path: path.split('.').map(str::to_string).collect(),
        value: Some(value),
    }
}

fn unset(path: &str) -> Op {
    Op {
        path: path.split('.').map(str::to_string).collect(),
        value: None,
    }
}

/// A path whose keys contain dots (annotation keys).
fn set_keys(keys: &[&str], value: Value) -> Op {
    Op {
        path: keys.iter().map(|k| k.to_string()).collect(),
        value: Some(value),
    }
}

fn apply(doc: &mut Value, op: &Op) -> Result<(), String> {
    let Some((last, parents)) = op.path.split_last() else {
        return Err("empty path".to_string());
    };
    let mut cur = doc;
    for key in parents {
        if cur.is_null() {
            *cur = json!({});
        }
        cur = match cur {
            Value::Array(a) => {
                let i: usize = key
                    .parse()
                    .map_err(|_| format!("{:?}: {key} is not a list index", op.path))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("{:?}: no element {i}", op.path))?
            }
            Value::Object(m) => m.entry(key.clone()).or_insert(Value::Null),
            other => return Err(format!("{:?}: {key} under a scalar {other}", op.path)),
        };
    }
    if cur.is_null() {
        *cur = json!({});
    }
    match (cur, &op.value) {
        (Value::Object(m), Some(v)) => {
            m.insert(last.clone(), v.clone());
        }
        (Value::Object(m), None) => {
            m.remove(last);
        }
        (Value::Array(a), v) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("{:?}: {last} is not a list index", op.path))?;
            let slot = a
                .get_mut(i)
                .ok_or_else(|| format!("{:?}: no element {i}", op.path))?;
            *slot = v.clone().unwrap_or(Value::Null);
        }
        (other, _) => return Err(format!("{:?}: {last} under a scalar {other}", op.path)),
    }
    Ok(())
}

/// A pod that passes baseline: one container of each kind, nothing set.
fn baseline_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team", "annotations": {}},
        "spec": {
            "containers": [{"name": "c", "image": "registry.example/app:1.0"}],
            "initContainers": [{"name": "i", "image": "registry.example/init:1.0"}],
            "ephemeralContainers": [{"name": "e", "image": "registry.example/debug:1.0"}],
        },
    })
}

/// A fully hardened pod that passes restricted.
fn restricted_pod() -> Value {
    let mut pod = baseline_pod();
    pod["spec"]["securityContext"] =
        json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}});
    for list in LISTS {
        pod["spec"][list][0]["securityContext"] =
            json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
    }
    pod
}

/// A Windows pod as restricted wants it: the Linux-only fields are not even
/// allowed by the API for `os.name: windows`.
fn windows_pod() -> Value {
    let mut pod = baseline_pod();
    pod["spec"]["os"] = json!({"name": "windows"});
    pod["spec"]["securityContext"] = json!({"runAsNonRoot": true});
    pod
}

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Allow,
    Deny { rule: String, field: String },
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Allow => write!(f, "allowed, no violation"),
            Expect::Deny { rule, field } => write!(f, "denied by {rule} at {field}"),
        }
    }
}

fn deny(set: &str, rule: &str, field: &str) -> Expect {
    Expect::Deny {
        rule: format!("{set}/{rule}"),
        field: field.to_string(),
    }
}

#[derive(Debug, Clone)]
enum Doc {
    /// A Kubernetes object, through `input::normalize`.
    Pod(Value),
    /// An OCI runtime config, through `input::from_oci`.
    Oci(Value),
}

#[derive(Debug, Clone)]
struct Row {
    name: String,
    set: &'static str,
    doc: Doc,
    expect: Expect,
    /// Only the expected violation may fire (else: it must be among those that fire).
    exact: bool,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    /// Rows whose patch could not be applied: a broken table, reported as a failure.
    broken: Vec<String>,
}

impl Table {
    fn patched(&mut self, name: &str, base: &Value, ops: &[Op]) -> Option<Value> {
        let mut doc = base.clone();
        for op in ops {
            if let Err(e) = apply(&mut doc, op) {
                self.broken.push(format!("{name}: {e}"));
                return None;
            }
        }
        Some(doc)
    }

    fn push(&mut self, name: String, set: &'static str, doc: Doc, expect: Expect, exact: bool) {
        self.rows.push(Row {
            name,
            set,
            doc,
            expect,
            exact,
        });
    }

    /// A baseline row on the baseline base. A denial is also checked under
    /// restricted, on the hardened base.
    fn baseline(&mut self, name: &str, ops: &[Op], expect: Expect) {
        if let Some(doc) = self.patched(name, &baseline_pod(), ops) {
            self.push(
                format!("baseline: {name}"),
                BASELINE,
                Doc::Pod(doc),
                expect.clone(),
                true,
            );
        }
        if let Expect::Deny { rule, field } = &expect {
            let rule = rule.replacen("pss-baseline/", "pss-restricted/", 1);
            let name = format!("{name} (baseline denial under restricted)");
            if let Some(doc) = self.patched(&name, &restricted_pod(), ops) {
                let expect = Expect::Deny {
                    rule,
                    field: field.clone(),
                };
                self.push(
                    format!("restricted: {name}"),
                    RESTRICTED,
                    Doc::Pod(doc),
                    expect,
                    true,
                );
            }
        }
    }

    /// A restricted row on the hardened base (or another base).
    fn restricted_on(&mut self, base: &Value, name: &str, ops: &[Op], expect: Expect) {
        if let Some(doc) = self.patched(name, base, ops) {
            self.push(
                format!("restricted: {name}"),
                RESTRICTED,
                Doc::Pod(doc),
                expect,
                true,
            );
        }
    }

    fn restricted(&mut self, name: &str, ops: &[Op], expect: Expect) {
        self.restricted_on(&restricted_pod(), name, ops, expect);
    }

    /// An OCI config row; a baseline denial is checked under restricted too.
    fn oci(&mut self, name: &str, set: &'static str, config: Value, expect: Expect) {
        if let (BASELINE, Expect::Deny { rule, field }) = (set, &expect) {
            let rule = rule.replacen("pss-baseline/", "pss-restricted/", 1);
            let restricted = Expect::Deny {
                rule,
                field: field.clone(),
            };
            self.push(
                format!("oci, restricted: {name} (baseline denial under restricted)"),
                RESTRICTED,
                Doc::Oci(config.clone()),
                restricted,
                false,
            );
        }
        let label = if set == BASELINE {
            "baseline"
        } else {
            "restricted"
        };
        self.push(
            format!("oci, {label}: {name}"),
            set,
            Doc::Oci(config),
            expect,
            false,
        );
    }
}

fn sc(list: &str) -> String {
    format!("spec.{list}.0.securityContext")
}

fn sc_field(list: &str) -> String {
    format!("spec.{list}[0].securityContext")
}

fn baseline_rows(t: &mut Table) {
    let allow = || Expect::Allow;
    let b = |rule: &str, field: &str| deny(BASELINE, rule, field);

    t.baseline("the base pod", &[], allow());

    // HostProcess.
    let pod_hp = "spec.securityContext.windowsOptions.hostProcess";
    t.baseline(
        &format!("{pod_hp}=false"),
        &[set(pod_hp, json!(false))],
        allow(),
    );
    t.baseline(
        &format!("{pod_hp}=true"),
        &[set(pod_hp, json!(true))],
        b("host-process", pod_hp),
    );
    for list in LISTS {
        let path = format!("{}.windowsOptions.hostProcess", sc(list));
        let field = format!("{}.windowsOptions.hostProcess", sc_field(list));
        t.baseline(
            &format!("{field}=false"),
            &[set(&path, json!(false))],
            allow(),
        );
        t.baseline(
            &format!("{field}=true"),
            &[set(&path, json!(true))],
            b("host-process", &field),
        );
    }

    // Host namespaces.
    for f in ["hostNetwork", "hostPID", "hostIPC"] {
        let path = format!("spec.{f}");
        t.baseline(
            &format!("{path}=false"),
            &[set(&path, json!(false))],
            allow(),
        );
        t.baseline(
            &format!("{path}=true"),
            &[set(&path, json!(true))],
            b("host-namespaces", &path),
        );
    }

    // Privileged containers.
    for list in LISTS {
        let path = format!("{}.privileged", sc(list));
        let field = format!("{}.privileged", sc_field(list));
        t.baseline(
            &format!("{field}=false"),
            &[set(&path, json!(false))],
            allow(),
        );
        t.baseline(
            &format!("{field}=true"),
            &[set(&path, json!(true))],
            b("privileged", &field),
        );
    }

    // Capabilities: each allowed one, all of them at once, and some beyond.
    for list in LISTS {
        let path = format!("{}.capabilities.add", sc(list));
        let field = format!("{}.capabilities.add", sc_field(list));
        for cap in BASELINE_CAPS {
            t.baseline(
                &format!("{field}=[{cap}]"),
                &[set(&path, json!([cap]))],
                allow(),
            );
        }
        t.baseline(
            &format!("{field}=<all 13 allowed>"),
            &[set(&path, json!(BASELINE_CAPS))],
            allow(),
        );
        for cap in ["NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "ALL"] {
            t.baseline(
                &format!("{field}=[{cap}]"),
                &[set(&path, json!([cap]))],
                b("capabilities", &field),
            );
        }
        t.baseline(
            &format!("{field}=[CHOWN, SYS_MODULE]"),
            &[set(&path, json!(["CHOWN", "SYS_MODULE"]))],
            b("capabilities", &field),
        );
    }

    // HostPath volumes.
    t.baseline(
        "spec.volumes[0].emptyDir",
        &[set(
            "spec.volumes",
            json!([{"name": "scratch", "emptyDir": {}}]),
        )],
        allow(),
    );
    t.baseline(
        "spec.volumes[0].hostPath",
        &[set(
            "spec.volumes",
            json!([{"name": "etc", "hostPath": {"path": "/etc"}}]),
        )],
        b("host-path-volumes", "spec.volumes[0].hostPath"),
    );
    t.baseline(
        "spec.volumes[1].hostPath",
        &[set(
            "spec.volumes",
            json!([{"name": "scratch", "emptyDir": {}},
                   {"name": "sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}]),
        )],
        b("host-path-volumes", "spec.volumes[1].hostPath"),
    );

    // Host ports.
    for list in LISTS {
        let path = format!("spec.{list}.0.ports");
        let field = format!("spec.{list}[0].ports");
        t.baseline(
            &format!("{field}[0].hostPort undefined"),
            &[set(&path, json!([{"containerPort": 8080}]))],
            allow(),
        );
        t.baseline(
            &format!("{field}[0].hostPort=0"),
            &[set(&path, json!([{"containerPort": 8080, "hostPort": 0}]))],
            allow(),
        );
        t.baseline(
            &format!("{field}[0].hostPort=8080"),
            &[set(
                &path,
                json!([{"containerPort": 8080, "hostPort": 8080}]),
            )],
            b("host-ports", &format!("{field}[0].hostPort")),
        );
        t.baseline(
            &format!("{field}[1].hostPort=443"),
            &[set(
                &path,
                json!([{"containerPort": 8080}, {"containerPort": 8443, "hostPort": 443}]),
            )],
            b("host-ports", &format!("{field}[1].hostPort")),
        );
    }

    // The pod's and every container's securityContext (AppArmor, SELinux, seccomp).
    let mut sc_sites = vec![(
        "spec.securityContext".to_string(),
        "spec.securityContext".to_string(),
    )];
    sc_sites.extend(LISTS.iter().map(|l| (sc(l), sc_field(l))));

    // AppArmor: the field and the annotation.
    for (path, field) in &sc_sites {
        let path = format!("{path}.appArmorProfile");
        let field = format!("{field}.appArmorProfile.type");
        t.baseline(
            &format!("{field}=RuntimeDefault"),
            &[set(&path, json!({"type": "RuntimeDefault"}))],
            allow(),
        );
        t.baseline(
            &format!("{field}=Localhost"),
            &[set(
                &path,
                json!({"type": "Localhost", "localhostProfile": "k8s-apparmor-example"}),
            )],
            allow(),
        );
        t.baseline(
            &format!("{field}=Unconfined"),
            &[set(&path, json!({"type": "Unconfined"}))],
            b("apparmor", &field),
        );
    }
    let annotation_field = format!("metadata.annotations[\"{APPARMOR_ANNOTATION}\"]");
    for value in ["runtime/default", "localhost/k8s-apparmor-example", ""] {
        t.baseline(
            &format!("{annotation_field}={value:?}"),
            &[set_keys(
                &["metadata", "annotations", APPARMOR_ANNOTATION],
                json!(value),
            )],
            allow(),
        );
    }
    for value in ["unconfined", "docker-default"] {
        t.baseline(
            &format!("{annotation_field}={value:?}"),
            &[set_keys(
                &["metadata", "annotations", APPARMOR_ANNOTATION],
                json!(value),
            )],
            b("apparmor", &annotation_field),
        );
    }
    let other = "container.apparmor.security.beta.kubernetes.io/i";
    t.baseline(
        &format!("metadata.annotations[\"{other}\"]=\"unconfined\""),
        &[set_keys(
            &["metadata", "annotations", other],
            json!("unconfined"),
        )],
        b("apparmor", &format!("metadata.annotations[\"{other}\"]")),
    );

    // SELinux: pod and containers; type from the list, user and role unset, level free.
    for (path, field) in &sc_sites {
        let path = format!("{path}.seLinuxOptions");
        let field = format!("{field}.seLinuxOptions");
        for ty in SELINUX_TYPES {
            t.baseline(
                &format!("{field}.type={ty:?}"),
                &[set(&path, json!({"type": ty}))],
                allow(),
            );
        }
        for ty in ["spc_t", "unconfined_t"] {
            t.baseline(
                &format!("{field}.type={ty:?}"),
                &[set(&path, json!({"type": ty}))],
                b("selinux", &format!("{field}.type")),
            );
        }
        t.baseline(
            &format!("{field}.level=\"s0:c123,c456\""),
            &[set(&path, json!({"level": "s0:c123,c456"}))],
            allow(),
        );
        for (part, bad) in [("user", "system_u"), ("role", "system_r")] {
            t.baseline(
                &format!("{field}.{part}=\"\""),
                &[set(&path, json!({part: ""}))],
                allow(),
            );
            t.baseline(
                &format!("{field}.{part}={bad:?}"),
                &[set(&path, json!({part: bad}))],
                b("selinux", &format!("{field}.{part}")),
            );
        }
    }

    // /proc mount type; any value in a user namespace (policy 1.35).
    for list in LISTS {
        let path = format!("{}.procMount", sc(list));
        let field = format!("{}.procMount", sc_field(list));
        t.baseline(
            &format!("{field}=Default"),
            &[set(&path, json!("Default"))],
            allow(),
        );
        t.baseline(
            &format!("{field}=Unmasked"),
            &[set(&path, json!("Unmasked"))],
            b("proc-mount", &field),
        );
        t.baseline(
            &format!("{field}=Unmasked with spec.hostUsers=false"),
            &[
                set(&path, json!("Unmasked")),
                set("spec.hostUsers", json!(false)),
            ],
            allow(),
        );
    }
    t.baseline(
        "spec.hostUsers=false",
        &[set("spec.hostUsers", json!(false))],
        allow(),
    );

    // Seccomp: anything but Unconfined.
    for (path, field) in &sc_sites {
        let path = format!("{path}.seccompProfile");
        let field = format!("{field}.seccompProfile.type");
        t.baseline(
            &format!("{field}=RuntimeDefault"),
            &[set(&path, json!({"type": "RuntimeDefault"}))],
            allow(),
        );
        t.baseline(
            &format!("{field}=Localhost"),
            &[set(
                &path,
                json!({"type": "Localhost", "localhostProfile": "profiles/audit.json"}),
            )],
            allow(),
        );
        t.baseline(
            &format!("{field}=Unconfined"),
            &[set(&path, json!({"type": "Unconfined"}))],
            b("seccomp", &field),
        );
    }

    // Sysctls.
    let sysctls = "spec.securityContext.sysctls";
    for name in SAFE_SYSCTLS {
        t.baseline(
            &format!("{sysctls}[0].name={name}"),
            &[set(sysctls, json!([{"name": name, "value": "1"}]))],
            allow(),
        );
    }
    t.baseline(
        &format!("{sysctls}=<all safe>"),
        &[set(
            sysctls,
            Value::Array(
                SAFE_SYSCTLS
                    .iter()
                    .map(|n| json!({"name": n, "value": "1"}))
                    .collect(),
            ),
        )],
        allow(),
    );
    for name in [
        "kernel.msgmax",
        "net.core.somaxconn",
        "vm.swappiness",
        "kernel.shm_rmid_forced_x",
    ] {
        t.baseline(
            &format!("{sysctls}[0].name={name}"),
            &[set(sysctls, json!([{"name": name, "value": "1"}]))],
            b("sysctls", &format!("{sysctls}[0].name")),
        );
    }
    t.baseline(
        &format!("{sysctls}[1].name=net.ipv4.ip_forward"),
        &[set(
            sysctls,
            json!([{"name": "net.ipv4.tcp_syncookies", "value": "1"},
                   {"name": "net.ipv4.ip_forward", "value": "1"}]),
        )],
        b("sysctls", &format!("{sysctls}[1].name")),
    );

    // Host probes and lifecycle hooks (policy 1.34): `host` must be unset or "".
    let handlers = [
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "lifecycle.postStart",
        "lifecycle.preStop",
    ];
    for list in LISTS {
        let mut all_unset = Vec::new();
        for handler in handlers {
            for kind in ["httpGet", "tcpSocket"] {
                let action = |host: Option<&str>| {
                    let mut a = match kind {
                        "httpGet" => json!({"path": "/healthz", "port": 8080}),
                        _ => json!({"port": 8080}),
                    };
                    if let Some(h) = host {
                        a["host"] = json!(h);
                    }
                    json!({kind: a})
                };
                let path = format!("spec.{list}.0.{handler}");
                let field = format!("spec.{list}[0].{handler}.{kind}.host");
                if kind == "httpGet" {
                    all_unset.push(set(&path, action(None)));
                }
                t.baseline(
                    &format!("{field} undefined"),
                    &[set(&path, action(None))],
                    allow(),
                );
                t.baseline(
                    &format!("{field}=\"\""),
                    &[set(&path, action(Some("")))],
                    allow(),
                );
                t.baseline(
                    &format!("{field}=\"169.254.169.254\""),
                    &[set(&path, action(Some("169.254.169.254")))],
                    b("host-probes-lifecycle", &field),
                );
            }
        }
        t.baseline(
            &format!("spec.{list}[0]: every probe and hook, no host"),
            &all_unset,
            allow(),
        );
    }

    // Restricted-only controls are no business of baseline.
    for list in LISTS {
        t.baseline(
            &format!("{}.allowPrivilegeEscalation=true", sc_field(list)),
            &[set(
                &format!("{}.allowPrivilegeEscalation", sc(list)),
                json!(true),
            )],
            allow(),
        );
        t.baseline(
            &format!("{}.runAsUser=0", sc_field(list)),
            &[set(&format!("{}.runAsUser", sc(list)), json!(0))],
            allow(),
        );
    }
    t.baseline(
        "spec.securityContext.runAsNonRoot=false",
        &[set("spec.securityContext.runAsNonRoot", json!(false))],
        allow(),
    );
    for ty in NON_RESTRICTED_VOLUMES {
        t.baseline(
            &format!("spec.volumes[0].{ty}"),
            &[set("spec.volumes", json!([{"name": "v", ty: {}}]))],
            allow(),
        );
    }
}

/// Volume sources restricted allows, with a plausible body.
fn restricted_volumes() -> Vec<(&'static str, Value)> {
    vec![
        ("configMap", json!({"name": "settings"})),
        (
            "csi",
            json!({"driver": "secrets-store.csi.k8s.io", "readOnly": true}),
        ),
        (
            "downwardAPI",
            json!({"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}),
        ),
        ("emptyDir", json!({})),
        (
            "ephemeral",
            json!({"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
                   "resources": {"requests": {"storage": "1Gi"}}}}}),
        ),
        (
            "image",
            json!({"reference": "registry.example/models:1.0", "pullPolicy": "IfNotPresent"}),
        ),
        ("persistentVolumeClaim", json!({"claimName": "data"})),
        (
            "projected",
            json!({"sources": [{"serviceAccountToken": {"path": "token"}}]}),
        ),
        ("secret", json!({"secretName": "tls"})),
    ]
}

/// Every other in-tree volume source (hostPath is baseline's).
const NON_RESTRICTED_VOLUMES: [&str; 20] = [
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "iscsi",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];

fn restricted_rows(t: &mut Table) {
    let allow = || Expect::Allow;
    let r = |rule: &str, field: &str| deny(RESTRICTED, rule, field);

    t.restricted("the hardened base pod", &[], allow());

    // Volume types.
    for (ty, body) in restricted_volumes() {
        t.restricted(
            &format!("spec.volumes[0].{ty}"),
            &[set("spec.volumes", json!([{"name": "v", ty: body}]))],
            allow(),
        );
    }
    t.restricted(
        "spec.volumes: all allowed types",
        &[set(
            "spec.volumes",
            Value::Array(
                restricted_volumes()
                    .into_iter()
                    .enumerate()
                    .map(|(i, (ty, body))| json!({"name": format!("v{i}"), ty: body}))
                    .collect(),
            ),
        )],
        allow(),
    );
    for ty in NON_RESTRICTED_VOLUMES {
        t.restricted(
            &format!("spec.volumes[0].{ty}"),
            &[set("spec.volumes", json!([{"name": "v", ty: {}}]))],
            r("volume-types", &format!("spec.volumes[0].{ty}")),
        );
    }
    t.restricted(
        "spec.volumes[1].nfs",
        &[set(
            "spec.volumes",
            json!([{"name": "scratch", "emptyDir": {}},
                   {"name": "share", "nfs": {"server": "nfs.example", "path": "/export"}}]),
        )],
        r("volume-types", "spec.volumes[1].nfs"),
    );

    for list in LISTS {
        let s = sc(list);
        let f = sc_field(list);

        // Privilege escalation.
        let ape = format!("{s}.allowPrivilegeEscalation");
        let ape_field = format!("{f}.allowPrivilegeEscalation");
        t.restricted(
            &format!("{ape_field}=false"),
            &[set(&ape, json!(false))],
            allow(),
        );
        t.restricted(
            &format!("{ape_field}=true"),
            &[set(&ape, json!(true))],
            r("allow-privilege-escalation", &ape_field),
        );
        t.restricted(
            &format!("{ape_field} undefined"),
            &[unset(&ape)],
            r("allow-privilege-escalation", &ape_field),
        );

        // Running as non-root: the pod's true covers containers that leave it unset,
        // not those that set false.
        let others: Vec<Op> = LISTS
            .iter()
            .filter(|l| **l != list)
            .map(|l| set(&format!("{}.runAsNonRoot", sc(l)), json!(true)))
            .collect();
        let rnr = format!("{s}.runAsNonRoot");
        let rnr_field = format!("{f}.runAsNonRoot");
        t.restricted(
            &format!("{rnr_field}=false with spec.securityContext.runAsNonRoot=true"),
            &[set(&rnr, json!(false))],
            r("run-as-non-root", &rnr_field),
        );
        let mut ops = vec![unset("spec.securityContext.runAsNonRoot")];
        ops.extend(others.iter().cloned());
        t.restricted(
            &format!("{rnr_field} undefined, the other containers' true, the pod's undefined"),
            &ops,
            r("run-as-non-root", &rnr_field),
        );
        let mut ops_false = ops.clone();
        ops_false.push(set(&rnr, json!(false)));
        t.restricted(
            &format!("{rnr_field}=false, the other containers' true, the pod's undefined"),
            &ops_false,
            r("run-as-non-root", &rnr_field),
        );
        t.restricted(
            &format!("{rnr_field}=false with spec.hostUsers=false"),
            &[set(&rnr, json!(false)), set("spec.hostUsers", json!(false))],
            allow(),
        );

        // Running as a non-root user.
        let rau = format!("{s}.runAsUser");
        let rau_field = format!("{f}.runAsUser");
        t.restricted(
            &format!("{rau_field}=1000"),
            &[set(&rau, json!(1000))],
            allow(),
        );
        t.restricted(
            &format!("{rau_field}=0"),
            &[set(&rau, json!(0))],
            r("run-as-user", &rau_field),
        );
        t.restricted(
            &format!("{rau_field}=0 with spec.hostUsers=false"),
            &[set(&rau, json!(0)), set("spec.hostUsers", json!(false))],
            allow(),
        );

        // Seccomp: the container's own profile, or the pod's.
        let seccomp = format!("{s}.seccompProfile");
        let seccomp_field = format!("{f}.seccompProfile.type");
        t.restricted(
            &format!("{seccomp_field}=Localhost under the pod's RuntimeDefault"),
            &[set(
                &seccomp,
                json!({"type": "Localhost", "localhostProfile": "profiles/app.json"}),
            )],
            allow(),
        );
        let mut ops = vec![unset("spec.securityContext.seccompProfile")];
        ops.extend(LISTS.iter().filter(|l| **l != list).map(|l| {
            set(
                &format!("{}.seccompProfile", sc(l)),
                json!({"type": "RuntimeDefault"}),
            )
        }));
        t.restricted(
            &format!("{seccomp_field} undefined, the other containers' RuntimeDefault, the pod's undefined"),
            &ops,
            r("seccomp", &seccomp_field),
        );

        // Capabilities: drop ALL, add at most NET_BIND_SERVICE.
        let caps = format!("{s}.capabilities");
        let drop_field = format!("{f}.capabilities.drop");
        let add_field = format!("{f}.capabilities.add");
        t.restricted(
            &format!("{add_field}=[NET_BIND_SERVICE]"),
            &[set(
                &caps,
                json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
            )],
            allow(),
        );
        t.restricted(
            &format!("{drop_field}=[ALL, NET_RAW]"),
            &[set(&caps, json!({"drop": ["ALL", "NET_RAW"]}))],
            allow(),
        );
        t.restricted(
            &format!("{drop_field} undefined"),
            &[unset(&caps)],
            r("capabilities", &drop_field),
        );
        t.restricted(
            &format!("{drop_field}=[NET_RAW, SYS_ADMIN]"),
            &[set(&caps, json!({"drop": ["NET_RAW", "SYS_ADMIN"]}))],
            r("capabilities", &drop_field),
        );
        for cap in ["CHOWN", "SETUID", "KILL"] {
            t.restricted(
                &format!("{add_field}=[{cap}]"),
                &[set(&caps, json!({"drop": ["ALL"], "add": [cap]}))],
                r("capabilities", &add_field),
            );
        }

        // /proc mount type: restricted keeps it even in a user namespace.
        let proc_mount = format!("{s}.procMount");
        let proc_field = format!("{f}.procMount");
        t.restricted(
            &format!("{proc_field}=Default with spec.hostUsers=false"),
            &[
                set(&proc_mount, json!("Default")),
                set("spec.hostUsers", json!(false)),
            ],
            allow(),
        );
        t.restricted(
            &format!("{proc_field}=Unmasked with spec.hostUsers=false"),
            &[
                set(&proc_mount, json!("Unmasked")),
                set("spec.hostUsers", json!(false)),
            ],
            r("proc-mount", &proc_field),
        );
    }

    // Pod-level settings.
    let all_containers = |key: &str, v: Value| -> Vec<Op> {
        LISTS
            .iter()
            .map(|l| set(&format!("{}.{key}", sc(l)), v.clone()))
            .collect()
    };
    let mut ops = vec![unset("spec.securityContext.runAsNonRoot")];
    ops.extend(all_containers("runAsNonRoot", json!(true)));
    t.restricted(
        "every container's runAsNonRoot=true, the pod's undefined",
        &ops,
        allow(),
    );
    let mut ops = vec![set("spec.securityContext.runAsNonRoot", json!(false))];
    ops.extend(all_containers("runAsNonRoot", json!(true)));
    t.restricted(
        "spec.securityContext.runAsNonRoot=false, every container's true",
        &ops,
        r("run-as-non-root", "spec.securityContext.runAsNonRoot"),
    );
    t.restricted(
        "spec.securityContext.runAsNonRoot undefined everywhere with spec.hostUsers=false",
        &[
            unset("spec.securityContext.runAsNonRoot"),
            set("spec.hostUsers", json!(false)),
        ],
        allow(),
    );
    t.restricted(
        "spec.hostUsers=false",
        &[set("spec.hostUsers", json!(false))],
        allow(),
    );
    t.restricted(
        "spec.securityContext.runAsUser=1000",
        &[set("spec.securityContext.runAsUser", json!(1000))],
        allow(),
    );
    t.restricted(
        "spec.securityContext.runAsUser=0",
        &[set("spec.securityContext.runAsUser", json!(0))],
        r("run-as-user", "spec.securityContext.runAsUser"),
    );
    t.restricted(
        "spec.securityContext.runAsUser=0 with spec.hostUsers=false",
        &[
            set("spec.securityContext.runAsUser", json!(0)),
            set("spec.hostUsers", json!(false)),
        ],
        allow(),
    );
    t.restricted(
        "spec.securityContext.seccompProfile.type=Localhost",
        &[set(
            "spec.securityContext.seccompProfile",
            json!({"type": "Localhost", "localhostProfile": "profiles/app.json"}),
        )],
        allow(),
    );
    for profile in [
        json!({"type": "RuntimeDefault"}),
        json!({"type": "Localhost", "localhostProfile": "profiles/app.json"}),
    ] {
        let ty = profile["type"].as_str().unwrap_or_default().to_string();
        let mut ops = vec![unset("spec.securityContext.seccompProfile")];
        ops.extend(all_containers("seccompProfile", profile));
        t.restricted(
            &format!("every container's seccompProfile.type={ty}, the pod's undefined"),
            &ops,
            allow(),
        );
    }

    // Windows pods: no allowPrivilegeEscalation, seccomp or capabilities needed;
    // runAsNonRoot still is.
    let windows = windows_pod();
    t.restricted_on(
        &windows,
        "windows pod (spec.os.name=windows) without allowPrivilegeEscalation, seccompProfile, capabilities",
        &[],
        allow(),
    );
    let mut ops = vec![unset("spec.securityContext.runAsNonRoot")];
    ops.extend(
        ["initContainers", "ephemeralContainers"]
            .iter()
            .map(|l| set(&format!("{}.runAsNonRoot", sc(l)), json!(true))),
    );
    t.restricted_on(
        &windows,
        "windows pod: spec.containers[0].securityContext.runAsNonRoot undefined, the pod's undefined",
        &ops,
        r("run-as-non-root", "spec.containers[0].securityContext.runAsNonRoot"),
    );
}

/// Docker's, containerd's and CRI-O's default capability set.
const DEFAULT_CAPS: [&str; 14] = [
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Every capability: what `podman run --privileged` grants.
const ALL_CAPS: [&str; 41] = [
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_BLOCK_SUSPEND",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYSLOG",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_WAKE_ALARM",
];

fn caps(list: &[&str]) -> Value {
    json!({"bounding": list, "effective": list, "permitted": list})
}

/// A runc-default-like hardened config: every namespace, the default capabilities,
/// a seccomp filter failing with an errno by default, no_new_privs, masked and
/// read-only /proc paths, uid 1000.
fn runc_default_config() -> Value {
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 1000, "gid": 1000},
            "args": ["/app"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": caps(&DEFAULT_CAPS),
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true,
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "app",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/etc/resolv.conf", "type": "bind", "source": "/run/app/resolv.conf",
             "options": ["rbind", "ro"]},
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"},
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": ["read", "write", "exit_group", "futex"], "action": "SCMP_ACT_ALLOW"}],
            },
        },
    })
}

fn oci_rows(t: &mut Table) {
    let b = |rule: &str, field: &str| deny(BASELINE, rule, field);
    let c0 = "spec.containers[0].securityContext";

    let hardened = runc_default_config();
    t.oci(
        "runc-default-like hardened config",
        BASELINE,
        hardened.clone(),
        Expect::Allow,
    );

    // `podman run --privileged`: every capability, nothing masked or read-only, no seccomp.
    let mut privileged = hardened.clone();
    privileged["process"]["capabilities"] = caps(&ALL_CAPS);
    privileged["process"]["user"] = json!({"uid": 0, "gid": 0});
    privileged["process"]["noNewPrivileges"] = json!(false);
    privileged["root"]["readonly"] = json!(false);
    if let Some(linux) = privileged["linux"].as_object_mut() {
        linux.remove("maskedPaths");
        linux.remove("readonlyPaths");
        linux.remove("seccomp");
    }
    t.oci(
        "podman run --privileged",
        BASELINE,
        privileged,
        b("privileged", &format!("{c0}.privileged")),
    );

    let mut host_net = hardened.clone();
    host_net["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}]);
    t.oci(
        "host network (no network namespace)",
        BASELINE,
        host_net,
        b("host-namespaces", "spec.hostNetwork"),
    );

    let mut bind_etc = hardened.clone();
    if let Some(mounts) = bind_etc["mounts"].as_array_mut() {
        mounts.push(json!({"destination": "/host-etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]}));
    }
    t.oci(
        "a bind of /etc",
        BASELINE,
        bind_etc,
        b("host-path-volumes", "spec.volumes[0].hostPath"),
    );

    let mut sys_module = hardened.clone();
    let mut with_module: Vec<&str> = DEFAULT_CAPS.to_vec();
    with_module.push("CAP_SYS_MODULE");
    sys_module["process"]["capabilities"] = caps(&with_module);
    t.oci(
        "CAP_SYS_MODULE added",
        BASELINE,
        sys_module,
        b("capabilities", &format!("{c0}.capabilities.add")),
    );

    let mut allow_all = hardened.clone();
    allow_all["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []});
    t.oci(
        "seccomp defaultAction SCMP_ACT_ALLOW",
        BASELINE,
        allow_all,
        b("seccomp", &format!("{c0}.seccompProfile.type")),
    );

    let mut msgmax = hardened.clone();
    msgmax["linux"]["sysctl"] = json!({"kernel.msgmax": "65536"});
    t.oci(
        "sysctl kernel.msgmax",
        BASELINE,
        msgmax,
        b("sysctls", "spec.securityContext.sysctls[0].name"),
    );

    let mut port_start = hardened.clone();
    port_start["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "0"});
    t.oci(
        "sysctl net.ipv4.ip_unprivileged_port_start",
        BASELINE,
        port_start,
        Expect::Allow,
    );

    // Restricted: the default capability set is not `drop: [ALL]`; a bounding set of
    // at most NET_BIND_SERVICE is.
    t.oci(
        "runc-default-like hardened config (default capabilities)",
        RESTRICTED,
        hardened.clone(),
        deny(
            RESTRICTED,
            "capabilities",
            &format!("{c0}.capabilities.drop"),
        ),
    );
    let mut minimal = hardened;
    minimal["process"]["capabilities"] = caps(&["CAP_NET_BIND_SERVICE"]);
    t.oci(
        "hardened config with only CAP_NET_BIND_SERVICE",
        RESTRICTED,
        minimal,
        Expect::Allow,
    );
}

fn describe(d: &Decision) -> String {
    let mut s = String::from(if d.allowed { "allowed" } else { "denied" });
    if d.violations.is_empty() {
        s.push_str(", no violation");
    }
    for v in &d.violations {
        let _ = write!(
            s,
            "\n        [{}] ({}) at {}: {}",
            v.rule,
            v.mode.as_str(),
            v.field.as_deref().unwrap_or("<no field>"),
            v.message
        );
    }
    s
}

fn agrees(row: &Row, d: &Decision) -> bool {
    match &row.expect {
        Expect::Allow => d.allowed && d.violations.is_empty(),
        Expect::Deny { rule, field } => {
            let hit = |v: &caisson_policy::Violation| {
                v.rule == *rule && v.field.as_deref() == Some(field.as_str())
            };
            !d.allowed
                && d.violations.iter().any(|v| hit(v) && v.denies())
                && (!row.exact || d.violations.iter().all(hit))
        }
    }
}

fn input_of(doc: &Doc) -> Result<Value, String> {
    match doc {
        Doc::Pod(p) => normalize(p, None)
            .map(|(v, _)| v)
            .map_err(|e| format!("normalize: {e:#}")),
        Doc::Oci(c) => from_oci(c, &OciContext::default()).map_err(|e| format!("from_oci: {e:#}")),
    }
}

#[test]
fn pss_sets_agree_with_upstream_field_by_field() {
    let mut table = Table::default();
    baseline_rows(&mut table);
    restricted_rows(&mut table);
    oci_rows(&mut table);

    let mut gates = [BASELINE, RESTRICTED].map(|set| {
        (
            set,
            Gate::new(&PolicyConfig::with_sets(&[set])).unwrap_or_else(|e| panic!("{set}: {e:#}")),
        )
    });

    let mut failures: Vec<String> = table
        .broken
        .iter()
        .map(|b| format!("broken row {b}"))
        .collect();
    let mut names = BTreeSet::new();
    let mut counts: Map<String, Value> = Map::new();
    for row in &table.rows {
        if !names.insert(row.name.clone()) {
            failures.push(format!("duplicate row name {:?}", row.name));
        }
        let key = format!(
            "{} {}",
            row.set,
            if row.expect == Expect::Allow {
                "allowed"
            } else {
                "denied"
            }
        );
        let n = counts.get(&key).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(key, json!(n + 1));

        let Some((_, gate)) = gates.iter_mut().find(|(s, _)| *s == row.set) else {
            failures.push(format!("{}: no gate for set {}", row.name, row.set));
            continue;
        };
        let got = input_of(&row.doc)
            .and_then(|input| gate.decide(&input).map_err(|e| format!("decide: {e:#}")));
        match got {
            Ok(d) if agrees(row, &d) => {}
            Ok(d) => failures.push(format!(
                "{} [{}]\n    expected: {}\n    got: {}",
                row.name,
                row.set,
                row.expect,
                describe(&d)
            )),
            Err(e) => failures.push(format!(
                "{} [{}]\n    expected: {}\n    got: error: {e}",
                row.name, row.set, row.expect
            )),
        }
    }

    let total = table.rows.len();
    assert!(total > 0, "the table is empty");
    if failures.is_empty() {
        println!("pss field table: {total} rows, all agree");
        println!("  {}", Value::Object(counts));
    } else {
        panic!(
            "pss field table: {total} rows, {} disagree:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
}
