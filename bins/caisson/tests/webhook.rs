//! `caisson webhook` end to end, through the real binary: a test CA and a server
//! certificate (rcgen), the server started with `--listen 127.0.0.1:0 --print-address`,
//! the `pss-baseline` set, a Gatekeeper constraint, a policy configuration putting one
//! rule in warn mode and a decision log; then curl (a real HTTPS client, checking the
//! certificate against the test CA) posts real AdmissionReviews: the Gatekeeper
//! library's AdmissionReview samples and Pod samples wrapped in an `admission.k8s.io/v1`
//! envelope, a Deployment, a ConfigMap, a DELETE and a malformed body. Finally the
//! decision log is read back and SIGTERM must stop the server with exit code 0.
//!
//! The samples are under `/work/shared/data/gatekeeper-psp` (from the Gatekeeper
//! library, `library/pod-security-policy/*/samples`). curl must be installed: the test
//! fails, loudly, without it.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn caisson() -> &'static str {
    env!("CARGO_BIN_EXE_caisson")
}

/// The Gatekeeper library's Pod Security samples.
fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/gatekeeper-psp")
}

/// The constraint the server is started with: every volume type outside the list
/// (configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim,
/// projected, secret) is denied, on CREATE; like Gatekeeper's own template, it does
/// not judge UPDATEs (a Pod's spec is immutable).
const CONSTRAINT: &str = "volumes/samples/psp-volume-types/constraint.yaml";
const CONSTRAINT_RULE: &str = "constraint/K8sPSPVolumeTypes/psp-volume-types";

/// The policy configuration the server is started with (on top of `--set
/// pss-baseline`): host ports only warn.
const CONFIG_YAML: &str = "modes:\n  \"pss-baseline/host-ports\": warn\n";

/// Largest body the server is started to accept.
const MAX_BODY: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------
// Certificates.

struct Pki {
    ca_pem: PathBuf,
    cert_pem: PathBuf,
    key_pem: PathBuf,
}

/// A test CA and a server certificate for localhost / 127.0.0.1 signed by it (the
/// chain file holds the leaf, then the CA).
fn make_pki(dir: &Path) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "caisson webhook e2e test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "caisson-webhook");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).expect("server certificate");

    let pki = Pki {
        ca_pem: dir.join("ca.crt"),
        cert_pem: dir.join("tls.crt"),
        key_pem: dir.join("tls.key"),
    };
    fs::write(&pki.ca_pem, ca_cert.pem()).expect("write CA");
    fs::write(&pki.cert_pem, format!("{}{}", cert.pem(), ca_cert.pem())).expect("write cert");
    fs::write(&pki.key_pem, key.serialize_pem()).expect("write key");
    pki
}

// ---------------------------------------------------------------------------------
// The server process.

/// A running `caisson webhook`; killed (SIGKILL) when dropped still running, so a
/// failing test leaves no server behind.
struct Webhook {
    child: Child,
    addr: SocketAddr,
    stderr: PathBuf,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Webhook {
    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Starts `caisson --root ROOT webhook ARGS --listen 127.0.0.1:0 --print-address`
/// and waits for the address it prints once listening.
fn start_webhook(root: &Path, dir: &Path, args: &[&str]) -> Webhook {
    let stderr = dir.join("webhook.stderr");
    let mut child = Command::new(caisson())
        .arg("--root")
        .arg(root)
        .arg("webhook")
        .args(["--listen", "127.0.0.1:0", "--print-address"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("start caisson webhook");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    // Reads the address line, then drains stdout until the process exits.
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = tx.send(reader.read_line(&mut line).map(|_| line));
        let mut rest = String::new();
        while matches!(reader.read_line(&mut rest), Ok(n) if n > 0) {
            rest.clear();
        }
    });
    let mut webhook = Webhook {
        child,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        stderr,
    };
    let line = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => panic!("reading the webhook's stdout: {e}\n{}", webhook.stderr()),
        Err(_) => panic!(
            "the webhook printed no address within 60 s\nstderr:\n{}",
            webhook.stderr()
        ),
    };
    webhook.addr = line.trim().parse().unwrap_or_else(|e| {
        panic!(
            "the webhook's first stdout line {line:?} is not an address ({e}); exit status {:?}\nstderr:\n{}",
            webhook.child.try_wait(),
            webhook.stderr()
        )
    });
    assert!(
        webhook.addr.ip().is_loopback() && webhook.addr.port() != 0,
        "{}",
        webhook.addr
    );
    webhook
}

// ---------------------------------------------------------------------------------
// curl.

fn curl_path() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("curl"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "this test needs curl (a real HTTPS client) on PATH: install it (apt-get install curl)"
        )
    })
}

struct Http {
    status: u16,
    body: String,
}

impl Http {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {:?}", self.body))
    }
}

struct Curl {
    exe: PathBuf,
    ca: PathBuf,
    port: u16,
    dir: PathBuf,
    bodies: usize,
}

impl Curl {
    /// Runs curl against https://localhost:PORT/PATH (resolved to 127.0.0.1, so the
    /// certificate's DNS name is what gets checked against the test CA).
    fn run(&self, path: &str, args: &[&str]) -> Http {
        let output = Command::new(&self.exe)
            .args(["--silent", "--show-error", "--max-time", "30", "--cacert"])
            .arg(&self.ca)
            .arg("--resolve")
            .arg(format!("localhost:{}:127.0.0.1", self.port))
            .args(["--output", "-", "--write-out", "\n%{http_code}"])
            .args(args)
            .arg(format!("https://localhost:{}{path}", self.port))
            .output()
            .expect("run curl");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        let status = code.trim().parse().unwrap_or(0);
        assert!(
            status != 0,
            "curl got no HTTP response from {path}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Http {
            status,
            body: body.to_owned(),
        }
    }

    /// POSTs `body` to /validate as application/json.
    fn post(&mut self, body: &[u8]) -> Http {
        self.bodies += 1;
        let file = self.dir.join(format!("body-{}.json", self.bodies));
        fs::write(&file, body).expect("write the request body");
        let data = format!("@{}", file.display());
        self.run(
            "/validate",
            &[
                "--data-binary",
                &data,
                "-H",
                "Content-Type: application/json",
            ],
        )
    }

    #[track_caller]
    fn assert_healthy(&self) {
        let out = self.run("/healthz", &[]);
        assert_eq!((out.status, out.body.as_str()), (200, "ok"));
    }
}

// ---------------------------------------------------------------------------------
// Reviews and what to expect of them.

/// Reads a YAML document as JSON.
fn yaml_file(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::to_value(yaml).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `*.yaml` under `dir` holding `kind: AdmissionReview` (as `grep -rl` would
/// find them), relative to `dir`, sorted.
fn admission_review_samples(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "yaml")
                && fs::read_to_string(&path)
                    .is_ok_and(|t| t.lines().any(|l| l.trim() == "kind: AdmissionReview"))
            {
                let rel = path.strip_prefix(root).expect("under the root");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// An `admission.k8s.io/v1` AdmissionReview as the API server sends it, for `object`
/// (a CREATE unless `operation` says otherwise).
fn envelope(uid: &str, operation: &str, object: &Value) -> Value {
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = match object["apiVersion"]
        .as_str()
        .unwrap_or("v1")
        .split_once('/')
    {
        Some((group, version)) => (group.to_owned(), version.to_owned()),
        None => (
            String::new(),
            object["apiVersion"].as_str().unwrap_or("v1").to_owned(),
        ),
    };
    let resource = format!("{}s", kind.to_ascii_lowercase());
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let (object, old_object) = if operation == "DELETE" {
        (Value::Null, object.clone())
    } else {
        (object.clone(), Value::Null)
    };
    let name = object["metadata"]["name"]
        .as_str()
        .or_else(|| old_object["metadata"]["name"].as_str())
        .unwrap_or_default();
    let options_kind = match operation {
        "DELETE" => "DeleteOptions",
        "UPDATE" => "UpdateOptions",
        _ => "CreateOptions",
    };
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": {
                "username": "kubernetes-admin",
                "groups": ["system:masters", "system:authenticated"]
            },
            "object": object,
            "oldObject": old_object,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind}
        }
    })
}

/// What the server must answer for one review.
struct Expect {
    /// Rule ids of the denials (empty: allowed).
    denies: &'static [&'static str],
    /// Rule ids of the warnings.
    warns: &'static [&'static str],
}

const ALLOW: Expect = Expect {
    denies: &[],
    warns: &[],
};

const fn deny(denies: &'static [&'static str]) -> Expect {
    Expect { denies, warns: &[] }
}

/// The rule ids (`[SET/RULE]` or `[constraint/KIND/NAME]`) that start the items of
/// a denial message ("... : [a/b] msg; [c/d] msg") or of a warning ("[a/b] msg").
fn rule_ids(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for (at, _) in text.match_indices('[') {
        let starts_item = at == 0 || text[..at].ends_with(": ") || text[..at].ends_with("; ");
        let rest = &text[at + 1..];
        let Some(end) = rest.find("] ") else { continue };
        let id = &rest[..end];
        let well_formed = id.contains('/')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '.' | '_'));
        if starts_item && well_formed {
            ids.insert(id.to_owned());
        }
    }
    ids
}

fn id_set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|&id| id.to_owned()).collect()
}

/// One review that the gate decided (and the decision log must record).
struct Decided {
    uid: String,
    name: String,
    allowed: bool,
    rules: BTreeSet<String>,
}

/// Checks the response to the review `uid` of `object_desc` (e.g. "pod/x in
/// namespace default") against `expect`.
#[track_caller]
fn check_answer(out: &Http, uid: &str, object_desc: &str, expect: &Expect, what: &str) {
    assert_eq!(out.status, 200, "{what}: {}", out.body);
    let body = out.json();
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1", "{what}");
    assert_eq!(body["kind"], "AdmissionReview", "{what}");
    let response = &body["response"];
    assert_eq!(response["uid"], uid, "{what}: the uid must be echoed");
    let allowed = expect.denies.is_empty();
    assert_eq!(response["allowed"], allowed, "{what}: {response:#}");
    if allowed {
        assert!(response.get("status").is_none(), "{what}: {response:#}");
    } else {
        assert_eq!(response["status"]["code"], 403, "{what}: {response:#}");
        let message = response["status"]["message"].as_str().unwrap_or_default();
        let prefix = format!("caisson policy denied {object_desc}: ");
        assert!(
            message.starts_with(&prefix),
            "{what}: message {message:?} does not start with {prefix:?}"
        );
        assert_eq!(
            rule_ids(message),
            id_set(expect.denies),
            "{what}: rules named by the denial {message:?}"
        );
    }
    let warnings: Vec<&str> = response["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if expect.warns.is_empty() {
        assert!(response.get("warnings").is_none(), "{what}: {response:#}");
    } else {
        let ids: BTreeSet<String> = warnings.iter().flat_map(|w| rule_ids(w)).collect();
        assert_eq!(ids, id_set(expect.warns), "{what}: warnings {warnings:?}");
        assert!(
            warnings.iter().all(|w| w.starts_with('[')),
            "{what}: {warnings:?}"
        );
    }
}

// ---------------------------------------------------------------------------------
// The Must-show.

#[test]
fn webhook_decides_real_admission_reviews_over_tls() {
    let curl_exe = curl_path();
    let data = samples_dir();
    assert!(
        data.is_dir(),
        "the Gatekeeper samples are missing: {}",
        data.display()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let root = dir.join("root");
    fs::create_dir_all(&root).expect("root");
    let pki = make_pki(dir);
    let config = dir.join("policy.yaml");
    fs::write(&config, CONFIG_YAML).expect("write the policy config");
    let decision_log = dir.join("decisions.log");
    let constraint = data.join(CONSTRAINT);
    let max_body = MAX_BODY.to_string();

    let mut server = start_webhook(
        &root,
        dir,
        &[
            "--set",
            "pss-baseline",
            "--config",
            &config.to_string_lossy(),
            "--constraint",
            &constraint.to_string_lossy(),
            "--decision-log",
            &decision_log.to_string_lossy(),
            "--tls-cert-file",
            &pki.cert_pem.to_string_lossy(),
            "--tls-private-key-file",
            &pki.key_pem.to_string_lossy(),
            "--max-body-bytes",
            &max_body,
            "--request-timeout",
            "10",
            "--max-connections",
            "16",
        ],
    );
    let mut curl = Curl {
        exe: curl_exe,
        ca: pki.ca_pem.clone(),
        port: server.addr.port(),
        dir: dir.to_path_buf(),
        bodies: 0,
    };
    curl.assert_healthy();
    let mut decided: Vec<Decided> = Vec::new();
    let mut record = |uid: &str, name: &str, expect: &Expect| {
        let mut rules = id_set(expect.denies);
        rules.extend(id_set(expect.warns));
        decided.push(Decided {
            uid: uid.to_owned(),
            name: name.to_owned(),
            allowed: expect.denies.is_empty(),
            rules,
        });
    };

    // 1. The Gatekeeper library's AdmissionReview samples, as they are: UPDATEs of
    //    Pods, in `admission.k8s.io/v1beta1` without a uid. The server speaks v1 only:
    //    each is refused as it is, then sent as the API server would send it (v1, with
    //    a uid). pss-baseline judges the object whatever the operation; the volume
    //    types constraint, as Gatekeeper's template, leaves UPDATEs alone (its suite
    //    expects no violation for these).
    let host_ports_warn: &[&str] = &["pss-baseline/host-ports"];
    let expected_samples: &[(&str, Expect)] = &[
        (
            "allow-privilege-escalation/samples/psp-allow-privilege-escalation-container/update.yaml",
            ALLOW, // baseline does not judge allowPrivilegeEscalation (restricted does)
        ),
        (
            "capabilities/samples/psp-capabilities-baseline/update.yaml",
            deny(&["pss-baseline/capabilities"]),
        ),
        (
            "capabilities/samples/psp-capabilities-restricted/update.yaml",
            deny(&["pss-baseline/capabilities"]),
        ),
        (
            "flexvolume-drivers/samples/psp-flexvolume-drivers/update.yaml",
            ALLOW, // a flexVolume: not a baseline concern, and the constraint skips UPDATEs
        ),
        (
            "forbidden-sysctls/samples/psp-forbidden-sysctls/update.yaml",
            deny(&["pss-baseline/sysctls"]),
        ),
        ("fsgroup/samples/psp-fsgroup/update.yaml", ALLOW),
        (
            "host-filesystem/samples/psp-host-filesystem/update.yaml",
            deny(&["pss-baseline/host-path-volumes"]),
        ),
        (
            "host-namespaces/samples/psp-host-namespace/update.yaml",
            deny(&["pss-baseline/host-namespaces"]),
        ),
        (
            "host-network-ports/samples/psp-host-network-ports/update.yaml",
            Expect {
                denies: &["pss-baseline/host-namespaces"],
                warns: host_ports_warn,
            },
        ),
        (
            "host-probes-lifecycle/samples/psp-host-probes-lifecycle/update.yaml",
            deny(&["pss-baseline/host-probes-lifecycle"]),
        ),
        (
            "host-process/samples/psp-host-process/update.yaml",
            deny(&["pss-baseline/host-process"]),
        ),
        (
            "privileged-containers/samples/psp-privileged-container/update.yaml",
            deny(&["pss-baseline/privileged"]),
        ),
        (
            "proc-mount/samples/psp-proc-mount/update.yaml",
            deny(&["pss-baseline/proc-mount"]),
        ),
        (
            "read-only-root-filesystem/samples/psp-readonlyrootfilesystem/update.yaml",
            ALLOW,
        ),
        (
            "selinux/samples/psp-selinux-v2/update.yaml",
            deny(&["pss-baseline/selinux"]),
        ),
        (
            "users/samples/psp-pods-allowed-user-ranges/update.yaml",
            ALLOW, // running as root: restricted's concern
        ),
        (
            "volumes/samples/psp-volume-types/update.yaml",
            deny(&["pss-baseline/host-path-volumes"]),
        ),
    ];
    let found = admission_review_samples(&data);
    let expected_paths: Vec<String> = expected_samples
        .iter()
        .map(|(p, _)| (*p).to_owned())
        .collect();
    assert_eq!(
        found,
        expected_paths,
        "the AdmissionReview samples under {} changed: give each an expectation",
        data.display()
    );
    for (i, (rel, expect)) in expected_samples.iter().enumerate() {
        let mut review = yaml_file(&data.join(rel));
        assert_eq!(review["kind"], "AdmissionReview", "{rel}");
        let out = curl.post(review.to_string().as_bytes());
        assert_eq!(out.status, 400, "{rel} as it is: {}", out.body);
        let error = out.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(
            error.contains("unsupported apiVersion \"admission.k8s.io/v1beta1\""),
            "{rel}: {error}"
        );

        let uid = format!("gk-sample-{i}");
        review["apiVersion"] = json!("admission.k8s.io/v1");
        review["request"]["uid"] = json!(uid);
        let name = review["request"]["object"]["metadata"]["name"]
            .as_str()
            .expect("sample pod name")
            .to_owned();
        let out = curl.post(review.to_string().as_bytes());
        check_answer(
            &out,
            &uid,
            &format!("pod/{name} in namespace default"),
            expect,
            rel,
        );
        record(&uid, &name, expect);
    }

    // 2. Pod samples wrapped in a v1 CREATE envelope. Here the constraint judges too.
    let pods: &[(&str, Expect)] = &[
        (
            "privileged-containers/samples/psp-privileged-container/example_allowed.yaml",
            ALLOW,
        ),
        (
            "privileged-containers/samples/psp-privileged-container/example_disallowed.yaml",
            deny(&["pss-baseline/privileged"]),
        ),
        (
            "host-namespaces/samples/psp-host-namespace/example_allowed.yaml",
            ALLOW,
        ),
        (
            "host-namespaces/samples/psp-host-namespace/example_disallowed.yaml",
            deny(&["pss-baseline/host-namespaces"]),
        ),
        (
            "volumes/samples/psp-volume-types/example_allowed.yaml",
            ALLOW,
        ),
        (
            "volumes/samples/psp-volume-types/example_disallowed.yaml",
            deny(&["pss-baseline/host-path-volumes", CONSTRAINT_RULE]),
        ),
        (
            // Allowed by its own (flexVolume driver) constraint and by pss-baseline,
            // but a flexVolume is not in the volume types constraint's list.
            "flexvolume-drivers/samples/psp-flexvolume-drivers/example_allowed.yaml",
            deny(&[CONSTRAINT_RULE]),
        ),
        (
            // A host port, no host network: allowed, with a warning (warn mode).
            "host-network-ports/samples/psp-host-network-ports/example_allowed_in_range.yaml",
            Expect {
                denies: &[],
                warns: host_ports_warn,
            },
        ),
    ];
    for (i, (rel, expect)) in pods.iter().enumerate() {
        let pod = yaml_file(&data.join(rel));
        assert_eq!(pod["kind"], "Pod", "{rel}");
        let name = pod["metadata"]["name"]
            .as_str()
            .expect("pod name")
            .to_owned();
        let uid = format!("pod-sample-{i}");
        let out = curl.post(envelope(&uid, "CREATE", &pod).to_string().as_bytes());
        check_answer(
            &out,
            &uid,
            &format!("pod/{name} in namespace default"),
            expect,
            rel,
        );
        record(&uid, &name, expect);
        let message = out.json()["response"]["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if rel.ends_with("psp-privileged-container/example_disallowed.yaml") {
            // Both the container and the init container are named.
            for needle in [
                "[pss-baseline/privileged] container \"nginx\" is privileged",
                "[pss-baseline/privileged] container \"nginx-init\" is privileged",
            ] {
                assert!(message.contains(needle), "{message}");
            }
        }
        if rel.ends_with("psp-volume-types/example_disallowed.yaml") {
            assert!(
                message.contains(&format!(
                    "[{CONSTRAINT_RULE}] The volume type hostPath of volume cache-volume is not allowed"
                )),
                "{message}"
            );
        }
    }

    // 3. A Deployment whose pod template is privileged: denied (the template is what
    //    pss-baseline judges; the constraint only matches Pods).
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": "registry.example/web:1.2",
                        "securityContext": {"privileged": true}
                    }]
                }
            }
        }
    });
    let expect = deny(&["pss-baseline/privileged"]);
    let out = curl.post(
        envelope("deploy-1", "CREATE", &deployment)
            .to_string()
            .as_bytes(),
    );
    check_answer(
        &out,
        "deploy-1",
        "deployment/web in namespace prod",
        &expect,
        "Deployment",
    );
    assert!(
        out.body
            .contains("[pss-baseline/privileged] container \\\"web\\\" is privileged"),
        "{}",
        out.body
    );
    record("deploy-1", "web", &expect);

    // 4. A ConfigMap: no pod spec, nothing to judge: allowed (and not logged).
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "prod"},
        "data": {"privileged": "true", "hostNetwork": "true"}
    });
    let out = curl.post(
        envelope("configmap-1", "CREATE", &config_map)
            .to_string()
            .as_bytes(),
    );
    check_answer(&out, "configmap-1", "", &ALLOW, "ConfigMap");

    // 5. DELETE of a privileged pod: nothing starts, allowed (and not logged).
    let privileged = yaml_file(
        &data
            .join("privileged-containers/samples/psp-privileged-container/example_disallowed.yaml"),
    );
    let out = curl.post(
        envelope("delete-1", "DELETE", &privileged)
            .to_string()
            .as_bytes(),
    );
    check_answer(&out, "delete-1", "", &ALLOW, "DELETE");

    // 6. Malformed JSON: 400 naming the problem; the server carries on.
    let out = curl.post(
        b"{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"AdmissionReview\", \"request\": {",
    );
    assert_eq!(out.status, 400, "{}", out.body);
    let error = out.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.starts_with("malformed AdmissionReview: "), "{error}");
    curl.assert_healthy();
    // A body over --max-body-bytes: 413; the server carries on.
    let mut big = envelope("big-1", "CREATE", &privileged);
    big["request"]["object"]["metadata"]["annotations"] = json!({"padding": "x".repeat(MAX_BODY)});
    let out = curl.post(big.to_string().as_bytes());
    assert_eq!(out.status, 413, "{}", out.body);
    curl.assert_healthy();
    // Still deciding after all that.
    let out = curl.post(
        envelope("after-errors", "CREATE", &privileged)
            .to_string()
            .as_bytes(),
    );
    let expect = deny(&["pss-baseline/privileged"]);
    check_answer(
        &out,
        "after-errors",
        "pod/nginx-privileged-disallowed in namespace default",
        &expect,
        "after the errors",
    );
    record("after-errors", "nginx-privileged-disallowed", &expect);

    // 7. The decision log: one JSON line per decided review, in order.
    let startup = server.stderr();
    let version = startup
        .split("policy ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no policy version in the startup line: {startup}"))
        .to_owned();
    assert!(version.starts_with("sha256:"), "{startup}");
    let log = fs::read_to_string(&decision_log).expect("read the decision log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.len(),
        decided.len(),
        "one decision log line per decided review ({} decided):\n{log}",
        decided.len()
    );
    let mut digests = std::collections::BTreeMap::new();
    for (line, review) in lines.iter().zip(&decided) {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("decision log line is not JSON ({e}): {line}"));
        let what = &review.uid;
        assert_eq!(entry["entry"], "webhook", "{what}: {line}");
        let digest = entry["input_digest"].as_str().unwrap_or_default();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 7 + 64,
            "{what}: {line}"
        );
        digests.insert(review.uid.clone(), digest.to_owned());
        assert_eq!(entry["policy_version"], version.as_str(), "{what}: {line}");
        let result = if review.allowed { "allow" } else { "deny" };
        assert_eq!(entry["result"], result, "{what}: {line}");
        assert!(entry["latency_us"].is_u64(), "{what}: {line}");
        assert_eq!(
            entry["object"]["name"],
            review.name.as_str(),
            "{what}: {line}"
        );
        let rules: BTreeSet<String> = entry["violations"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|v| v["rule"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(rules, review.rules, "{what}: {line}");
    }
    // The digest is the normalised input's: the same pod in two reviews (other uids)
    // gives the same one, another pod another.
    assert_eq!(digests["pod-sample-1"], digests["after-errors"], "{log}");
    assert_ne!(digests["pod-sample-0"], digests["pod-sample-1"], "{log}");

    // 8. SIGTERM: the server stops, exit code 0, within 15 s.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(server.child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait for the webhook") {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(15),
            "the webhook did not stop within 15 s of SIGTERM\nstderr:\n{}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    };
    let stopped_in = sent.elapsed();
    let stderr = server.stderr();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status:?} after SIGTERM\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("caisson webhook: stopped"), "{stderr}");
    println!(
        "caisson webhook e2e: {} AdmissionReview samples, {} Pod samples, {} decided reviews logged; \
         stopped {stopped_in:?} after SIGTERM",
        expected_samples.len(),
        pods.len(),
        decided.len()
    );
}
