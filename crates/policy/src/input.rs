//! The one input document every policy sees.
//!
//! Three kinds of documents arrive: a Kubernetes object (a Pod, or a workload with a
//! pod template), an `AdmissionReview`, and an OCI runtime `config.json`. All become
//! the same shape, a Pod-like document, so that one Rego rule covers all of them:
//!
//! ```text
//! { "apiVersion": "caisson.dev/v1", "source": "pod" | "oci", "kind": "Pod",
//!   "operation": "CREATE",
//!   "metadata": { "name", "namespace", "labels", "annotations" },
//!   "spec": { Pod spec: hostNetwork, hostPID, hostIPC, securityContext, volumes,
//!             containers, initContainers, ephemeralContainers },
//!   "images": [ { "container", "ref", "registry", "repository", "tag", "digest" } ],
//!   "scan": { caisson scan JSON report } | null,
//!   "oci": { OCI-only facts: "privileged_reasons", "devices_allow_all", ... } }
//! ```
//!
//! An OCI config is mapped field by field onto the Pod fields the Pod Security
//! Standards name (see [`from_oci`] for each mapping), so `pss-baseline` denies a
//! `podman run --privileged` config for the same rule as a `privileged: true` Pod.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Map, Value};

/// What a document was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// A Kubernetes object carrying a pod spec (Pod, Deployment, Job, ...).
    Pod,
    /// An `admission.k8s.io/v1` `AdmissionReview`.
    AdmissionReview,
    /// An OCI runtime `config.json`.
    OciConfig,
    /// A Kubernetes object without a pod spec: policies have nothing to judge.
    Other,
}

/// Facts about an OCI container that are not in its `config.json`.
#[derive(Debug, Clone, Default)]
pub struct OciContext {
    /// Container name.
    pub name: Option<String>,
    /// Namespace (for exemptions); the CRI annotations give it under Kubernetes.
    pub namespace: Option<String>,
    /// Labels (for exemptions).
    pub labels: Map<String, Value>,
    /// The image reference the user asked for.
    pub image: Option<String>,
    /// The image's manifest digest, when known (the store resolved it).
    pub image_digest: Option<String>,
    /// Host directories whose sub-directories are named volumes: binds from there
    /// are `persistentVolumeClaim`s, not `hostPath`s.
    pub volume_roots: Vec<String>,
    /// Published ports: (host port, container port).
    pub ports: Vec<(u16, u16)>,
    /// The image's scan report (`caisson scan --format json`), when one was made.
    pub scan: Option<Value>,
}

/// Parses a document (JSON or YAML) and normalises it. `scan` is attached as
/// `input.scan` (the image rules read it).
pub fn from_document(text: &str, scan: Option<Value>) -> Result<(Value, DocKind)> {
    let doc: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| anyhow!("malformed JSON: {e}"))?
    } else {
        let y: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| anyhow!("malformed YAML: {e}"))?;
        serde_json::to_value(y).map_err(|e| anyhow!("YAML is not a JSON document: {e}"))?
    };
    normalize(&doc, scan)
}

/// Normalises an already-parsed document; see [`from_document`].
pub fn normalize(doc: &Value, scan: Option<Value>) -> Result<(Value, DocKind)> {
    if !doc.is_object() {
        bail!("input must be an object (a Pod, an AdmissionReview or an OCI config.json)");
    }
    if doc.get("ociVersion").is_some() {
        let ctx = OciContext {
            scan,
            ..OciContext::default()
        };
        return Ok((from_oci(doc, &ctx)?, DocKind::OciConfig));
    }
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind == "AdmissionReview" {
        let request = doc
            .get("request")
            .ok_or_else(|| anyhow!("AdmissionReview without a request"))?;
        let (v, k) = from_admission_request(request, scan)?;
        return Ok((
            v,
            if k == DocKind::Pod {
                DocKind::AdmissionReview
            } else {
                k
            },
        ));
    }
    if kind.is_empty() {
        bail!("input has neither `kind` nor `ociVersion`: not a Kubernetes object or an OCI config.json");
    }
    from_object(doc, "CREATE", None, scan)
}

/// Normalises `AdmissionReview.request` (as the webhook receives it).
pub fn from_admission_request(request: &Value, scan: Option<Value>) -> Result<(Value, DocKind)> {
    let operation = request
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("CREATE");
    let object = match request.get("object") {
        Some(o) if o.is_object() => o.clone(),
        _ => match request.get("oldObject") {
            // DELETE carries only the old object: nothing starts, nothing to judge.
            Some(o) if o.is_object() => o.clone(),
            _ => bail!("AdmissionReview request has no object"),
        },
    };
    let mut object = object;
    if object.get("kind").is_none() {
        if let Some(k) = request.pointer("/kind/kind") {
            object["kind"] = k.clone();
        }
    }
    let ns = request.get("namespace").and_then(Value::as_str);
    from_object(&object, operation, ns, scan)
}

fn from_object(
    obj: &Value,
    operation: &str,
    request_ns: Option<&str>,
    scan: Option<Value>,
) -> Result<(Value, DocKind)> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let template = match kind {
        "Pod" => Some((meta.clone(), obj.get("spec").cloned())),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => obj.pointer("/spec/template").map(|t| {
            (
                t.get("metadata").cloned().unwrap_or_else(|| json!({})),
                t.get("spec").cloned(),
            )
        }),
        "CronJob" => obj.pointer("/spec/jobTemplate/spec/template").map(|t| {
            (
                t.get("metadata").cloned().unwrap_or_else(|| json!({})),
                t.get("spec").cloned(),
            )
        }),
        _ => None,
    };
    let namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .or(request_ns)
        .unwrap_or("default");
    let Some((tmeta, spec)) = template else {
        let v = json!({
            "apiVersion": "caisson.dev/v1", "source": "pod", "kind": kind, "operation": operation,
            "metadata": {"name": meta.get("name").cloned().unwrap_or(Value::Null), "namespace": namespace,
                         "labels": meta.get("labels").cloned().unwrap_or_else(|| json!({})),
                         "annotations": meta.get("annotations").cloned().unwrap_or_else(|| json!({}))},
            "spec": {}, "images": [], "scan": scan,
        });
        return Ok((v, DocKind::Other));
    };
    let spec = match spec {
        Some(s) if s.is_object() => s,
        Some(_) => bail!("{kind}: `spec` must be an object"),
        None => bail!("{kind} without a pod spec"),
    };
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(c) = spec.get(list) {
            if !c.is_array() {
                bail!("{kind}: spec.{list} must be a list");
            }
        }
    }
    // Labels and annotations of the pod template win over the workload's own
    // (PSA judges the pod template).
    let pick = |k: &str| {
        let mut m = meta
            .get(k)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(t) = tmeta.get(k).and_then(Value::as_object) {
            m.extend(t.clone());
        }
        Value::Object(m)
    };
    let mut images = Vec::new();
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = c.get("image").and_then(Value::as_str) {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                images.push(image_entry(name, r, None));
            }
        }
    }
    let v = json!({
        "apiVersion": "caisson.dev/v1", "source": "pod", "kind": kind, "operation": operation,
        "metadata": {"name": meta.get("name").or_else(|| meta.get("generateName")).cloned().unwrap_or(Value::Null),
                     "namespace": namespace, "labels": pick("labels"), "annotations": pick("annotations")},
        "spec": spec, "images": images, "scan": scan,
    });
    Ok((v, DocKind::Pod))
}

/// Splits an image reference the way the Docker/OCI distribution reference does:
/// the registry is the first component when it has a `.` or `:` or is `localhost`,
/// else `docker.io` (and one-component names get `library/`).
pub fn image_entry(container: &str, reference: &str, digest: Option<&str>) -> Value {
    let (name, ref_digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let (registry, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        Some(_) => ("docker.io".to_string(), name.to_string()),
        None => ("docker.io".to_string(), format!("library/{name}")),
    };
    // A tag is after the last ':' of the last path component.
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
        _ => (rest, None),
    };
    json!({
        "container": container, "ref": reference, "registry": registry, "repository": repository,
        "tag": tag, "pinned": ref_digest.is_some(),
        "digest": ref_digest.or(digest),
    })
}

/// The capabilities a container gets by default under Docker, containerd and CRI-O
/// (the "default set" the Pod Security Standards refer to).
pub const DEFAULT_CAPS: [&str; 14] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Mount destinations every runtime provides itself (not the user's volumes).
const RUNTIME_MOUNTS: [&str; 9] = [
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/run/.containerenv",
    "/dev/termination-log",
    "/run/secrets",
    "/dev/shm",
    "/.dockerenv",
    "/run/.caisson",
];

/// Maps an OCI runtime `config.json` onto the Pod-like document:
///
/// | Pod field | from config.json |
/// |---|---|
/// | `spec.hostNetwork/hostPID/hostIPC` | no `network`/`pid`/`ipc` entry in `linux.namespaces` (or one joining `/proc/1/ns/…`) |
/// | `spec.hostUsers` | no `user` namespace |
/// | `spec.securityContext.sysctls` | `linux.sysctl` |
/// | `spec.volumes[].hostPath` | bind mounts (other than the runtime's own files and named volumes) |
/// | `…privileged` | `CAP_SYS_ADMIN` in the bounding set with no masked and no read-only paths (what `--privileged` gives under runc, podman and Docker) |
/// | `…capabilities.add/drop` | bounding set against the default set; a bounding set within `{NET_BIND_SERVICE}` is `drop: [ALL]` |
/// | `…allowPrivilegeEscalation` | `!process.noNewPrivileges` |
/// | `…runAsUser/runAsGroup/runAsNonRoot` | `process.user.uid/gid` |
/// | `…seccompProfile.type` | none → unset; a default action of allow/log → `Unconfined`; else `RuntimeDefault` |
/// | `…appArmorProfile` | `process.apparmorProfile` (`unconfined` → `Unconfined`) |
/// | `…seLinuxOptions` | `process.selinuxLabel` split `user:role:type:level` |
/// | `…procMount` | no `maskedPaths` → `Unmasked` |
/// | `…readOnlyRootFilesystem` | `root.readonly` |
/// | `containers[].ports[].hostPort` | the engine's published ports |
pub fn from_oci(config: &Value, ctx: &OciContext) -> Result<Value> {
    let s = |p: &str| config.pointer(p).and_then(Value::as_str);
    if !config.get("ociVersion").is_some_and(Value::is_string) {
        bail!("config.json: `ociVersion` must be a string");
    }
    let ann = config
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let a = |k: &str| ann.get(k).and_then(Value::as_str).map(str::to_string);
    let namespaces = match config.pointer("/linux/namespaces") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(v)) => v.clone(),
        Some(_) => bail!("config.json: `linux.namespaces` must be a list"),
    };
    let own_ns = |t: &str| {
        namespaces.iter().any(|n| {
            n.get("type").and_then(Value::as_str) == Some(t)
                && !n
                    .get("path")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.starts_with("/proc/1/"))
        })
    };
    let caps: BTreeSet<String> = ["bounding", "effective", "permitted"]
        .iter()
        .flat_map(|set| {
            config
                .pointer(&format!("/process/capabilities/{set}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c.as_str().map(|c| c.trim_start_matches("CAP_").to_string()))
        .collect();
    let empty = |p: &str| {
        config
            .pointer(p)
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    };
    let mut privileged_reasons = Vec::new();
    if caps.contains("SYS_ADMIN") && empty("/linux/maskedPaths") && empty("/linux/readonlyPaths") {
        privileged_reasons.push("CAP_SYS_ADMIN with no masked or read-only paths");
    }
    let devices_allow_all = config
        .pointer("/linux/resources/devices")
        .and_then(Value::as_array)
        .is_some_and(|d| {
            d.iter().any(|r| {
                r.get("allow").and_then(Value::as_bool) == Some(true)
                    && r.get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t == "a")
                    && r.get("major").is_none()
                    && r.get("minor").is_none()
            })
        });
    let (add, drop): (Vec<String>, Vec<String>) = if caps.iter().all(|c| c == "NET_BIND_SERVICE") {
        (caps.iter().cloned().collect(), vec!["ALL".to_string()])
    } else {
        (
            caps.iter()
                .filter(|c| !DEFAULT_CAPS.contains(&c.as_str()))
                .cloned()
                .collect(),
            DEFAULT_CAPS
                .iter()
                .filter(|c| !caps.contains(**c))
                .map(|c| c.to_string())
                .collect(),
        )
    };
    let uid = config.pointer("/process/user/uid").and_then(Value::as_u64);
    let gid = config.pointer("/process/user/gid").and_then(Value::as_u64);
    // No seccomp at all is left undefined, as an unset Pod field is (baseline
    // allows it, restricted requires a profile); a filter that allows everything by
    // default is an explicit Unconfined.
    let seccomp = match config.pointer("/linux/seccomp") {
        None | Some(Value::Null) => None,
        Some(sc) => match sc.get("defaultAction").and_then(Value::as_str) {
            Some("SCMP_ACT_ALLOW") | Some("SCMP_ACT_LOG") => Some("Unconfined"),
            _ => Some("RuntimeDefault"),
        },
    };
    let mut sc = Map::new();
    sc.insert("privileged".into(), json!(!privileged_reasons.is_empty()));
    sc.insert(
        "allowPrivilegeEscalation".into(),
        json!(!config
            .pointer("/process/noNewPrivileges")
            .and_then(Value::as_bool)
            .unwrap_or(false)),
    );
    sc.insert("capabilities".into(), json!({"add": add, "drop": drop}));
    if let Some(u) = uid {
        sc.insert("runAsUser".into(), json!(u));
        sc.insert("runAsNonRoot".into(), json!(u != 0));
    }
    if let Some(g) = gid {
        sc.insert("runAsGroup".into(), json!(g));
    }
    if let Some(t) = seccomp {
        sc.insert("seccompProfile".into(), json!({"type": t}));
    }
    match s("/process/apparmorProfile") {
        None | Some("") => {}
        Some("unconfined") => {
            sc.insert("appArmorProfile".into(), json!({"type": "Unconfined"}));
        }
        Some(p @ ("runtime/default" | "docker-default" | "crio-default")) => {
            sc.insert(
                "appArmorProfile".into(),
                json!({"type": "RuntimeDefault", "name": p}),
            );
        }
        Some(p) if p.starts_with("containers-default") => {
            sc.insert(
                "appArmorProfile".into(),
                json!({"type": "RuntimeDefault", "name": p}),
            );
        }
        Some(p) => {
            sc.insert(
                "appArmorProfile".into(),
                json!({"type": "Localhost", "localhostProfile": p}),
            );
        }
    }
    if let Some(l) = s("/process/selinuxLabel").filter(|l| !l.is_empty()) {
        let mut it = l.splitn(4, ':');
        sc.insert(
            "seLinuxOptions".into(),
            json!({"user": it.next(), "role": it.next(), "type": it.next(), "level": it.next()}),
        );
    }
    sc.insert(
        "procMount".into(),
        json!(if empty("/linux/maskedPaths") {
            "Unmasked"
        } else {
            "Default"
        }),
    );
    sc.insert(
        "readOnlyRootFilesystem".into(),
        json!(config
            .pointer("/root/readonly")
            .and_then(Value::as_bool)
            .unwrap_or(false)),
    );

    let mut volumes = Vec::new();
    let mut volume_mounts = Vec::new();
    let mounts = match config.get("mounts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(m)) => m.clone(),
        Some(_) => bail!("config.json: `mounts` must be a list"),
    };
    for (i, m) in mounts.iter().enumerate() {
        let dst = m
            .get("destination")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("config.json: mounts[{i}].destination must be a string"))?;
        let typ = m.get("type").and_then(Value::as_str).unwrap_or_default();
        let opts: Vec<&str> = m
            .get("options")
            .and_then(Value::as_array)
            .map(|o| o.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let bind = typ == "bind" || opts.iter().any(|o| *o == "bind" || *o == "rbind");
        if RUNTIME_MOUNTS
            .iter()
            .any(|r| dst == *r || dst.starts_with(&format!("{r}/")))
        {
            continue;
        }
        let name = format!("mount-{i}");
        let ro = opts.contains(&"ro");
        let src = m.get("source").and_then(Value::as_str).unwrap_or_default();
        let vol = if bind {
            match ctx.volume_roots.iter().find_map(|r| {
                src.strip_prefix(r.as_str()).map(|rest| {
                    rest.trim_start_matches('/')
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
            }) {
                Some(claim) => {
                    json!({"name": name, "persistentVolumeClaim": {"claimName": claim, "readOnly": ro}})
                }
                None => json!({"name": name, "hostPath": {"path": src}}),
            }
        } else if typ == "tmpfs" && !matches!(dst, "/dev" | "/tmp" | "/run" | "/var/tmp") {
            json!({"name": name, "emptyDir": {"medium": "Memory"}})
        } else {
            continue;
        };
        volumes.push(vol);
        volume_mounts.push(json!({"name": name, "mountPath": dst, "readOnly": ro}));
    }
    let name = ctx
        .name
        .clone()
        .or_else(|| a("io.kubernetes.container.name"))
        .or_else(|| a("io.kubernetes.cri.container-name"))
        .unwrap_or_else(|| "container".to_string());
    let image = ctx
        .image
        .clone()
        .or_else(|| a("io.kubernetes.cri.image-name"))
        .or_else(|| a("org.opencontainers.image.ref.name"))
        .or_else(|| a("org.caisson.image"));
    let ports: Vec<Value> = ctx
        .ports
        .iter()
        .map(|(h, c)| json!({"containerPort": c, "hostPort": h, "protocol": "TCP"}))
        .collect();
    let mut container = json!({
        "name": name, "securityContext": Value::Object(sc), "volumeMounts": volume_mounts, "ports": ports,
    });
    let mut images = Vec::new();
    if let Some(i) = &image {
        container["image"] = json!(i);
        images.push(image_entry(&name, i, ctx.image_digest.as_deref()));
    }
    let sysctls: Vec<Value> = config
        .pointer("/linux/sysctl")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect()
        })
        .unwrap_or_default();
    let namespace = ctx
        .namespace
        .clone()
        .or_else(|| a("io.kubernetes.pod.namespace"))
        .or_else(|| a("io.kubernetes.cri.sandbox-namespace"))
        .unwrap_or_else(|| "default".to_string());
    let pod_name = a("io.kubernetes.pod.name")
        .or_else(|| a("io.kubernetes.cri.sandbox-name"))
        .unwrap_or_else(|| name.clone());
    Ok(json!({
        "apiVersion": "caisson.dev/v1", "source": "oci", "kind": "Pod", "operation": "CREATE",
        "metadata": {"name": pod_name, "namespace": namespace, "labels": Value::Object(ctx.labels.clone()),
                     "annotations": Value::Object(ann)},
        "spec": {
            "hostNetwork": !own_ns("network"), "hostPID": !own_ns("pid"), "hostIPC": !own_ns("ipc"),
            "hostUsers": !own_ns("user"),
            "securityContext": {"sysctls": sysctls},
            "volumes": volumes,
            "containers": [container],
        },
        "images": images,
        "scan": ctx.scan,
        "oci": {"privileged_reasons": privileged_reasons, "devices_allow_all": devices_allow_all,
                "capabilities": caps.into_iter().collect::<Vec<_>>(), "uts_host": !own_ns("uts")},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs_split_like_docker() {
        let e = image_entry("c", "nginx", None);
        assert_eq!(e["registry"], "docker.io");
        assert_eq!(e["repository"], "library/nginx");
        let e = image_entry("c", "127.0.0.1:5000/a/b:1.2@sha256:ab", None);
        assert_eq!(e["registry"], "127.0.0.1:5000");
        assert_eq!(e["repository"], "a/b");
        assert_eq!(e["tag"], "1.2");
        assert_eq!(e["digest"], "sha256:ab");
        assert_eq!(e["pinned"], true);
        let e = image_entry("c", "localhost/x", Some("sha256:cd"));
        assert_eq!(e["registry"], "localhost");
        assert_eq!(e["pinned"], false);
        assert_eq!(e["digest"], "sha256:cd");
    }

    #[test]
    fn oci_privileged_config_maps_to_pod_fields() {
        let all: Vec<String> = ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cfg = json!({"ociVersion": "1.0.2", "process": {"user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": all}}, "root": {"path": "rootfs"},
            "mounts": [{"destination": "/etc/hosts", "type": "bind", "source": "/x/hosts"},
                       {"destination": "/data", "type": "bind", "source": "/etc", "options": ["rbind"]}],
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}], "sysctl": {"kernel.msgmax": "1"}}});
        let v = from_oci(&cfg, &OciContext::default()).unwrap();
        let c = &v["spec"]["containers"][0]["securityContext"];
        assert_eq!(c["privileged"], true);
        assert_eq!(c["capabilities"]["add"], json!(["NET_ADMIN", "SYS_ADMIN"]));
        assert!(c.get("seccompProfile").is_none());
        assert_eq!(c["allowPrivilegeEscalation"], true);
        assert_eq!(c["runAsNonRoot"], false);
        assert_eq!(c["procMount"], "Unmasked");
        assert_eq!(v["spec"]["hostNetwork"], true);
        assert_eq!(v["spec"]["hostPID"], false);
        assert_eq!(
            v["spec"]["volumes"],
            json!([{"name": "mount-1", "hostPath": {"path": "/etc"}}])
        );
        assert_eq!(
            v["spec"]["securityContext"]["sysctls"][0]["name"],
            "kernel.msgmax"
        );
    }

    #[test]
    fn workloads_and_reviews_give_the_pod_template() {
        let d = "kind: Deployment\nmetadata: {name: d, namespace: prod}\nspec:\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers: [{name: c, image: nginx}]\n";
        let (v, k) = from_document(d, None).unwrap();
        assert_eq!(k, DocKind::Pod);
        assert_eq!(v["metadata"]["namespace"], "prod");
        assert_eq!(v["metadata"]["labels"]["app"], "a");
        assert_eq!(v["images"][0]["repository"], "library/nginx");
        let r = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "1", "kind": {"kind": "Pod"}, "namespace": "ns", "operation": "UPDATE",
            "object": {"metadata": {"name": "p"}, "spec": {"containers": []}}}});
        let (v, k) = normalize(&r, None).unwrap();
        assert_eq!(k, DocKind::AdmissionReview);
        assert_eq!(v["metadata"]["namespace"], "ns");
        assert_eq!(v["operation"], "UPDATE");
        let err = from_document("kind: Pod\nspec: {containers: 3}\n", None).unwrap_err();
        assert!(
            err.to_string().contains("spec.containers must be a list"),
            "{err}"
        );
        assert!(from_document("{", None)
            .unwrap_err()
            .to_string()
            .contains("malformed JSON"));
    }
}
