//! `caisson audit` end to end: handcrafted OCI bundles (one hardened, one as
//! dangerous as a config gets), a caisson-runtime state root naming a bundle, engine
//! containers made by `caisson create` from an imported image, the host and files
//! sections on this machine, the table and JSON outputs, the section filter, the CI
//! exit code and the errors.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

use std::os::unix::fs::PermissionsExt;
mod common;

use std::path::{Path, PathBuf};

use common::run_bare as run;

fn ok(root: &Path, args: &[&str]) -> String {
    common::check(run(root, args), args, 0).stdout
}

use serde_json::{json, Value};

/// `caisson audit ARGS --format json`: (exit code, document).
fn audit_json(root: &Path, args: &[&str]) -> (i32, Value) {
    let mut a = vec!["audit", "--format", "json"];
    a.extend_from_slice(args);
    let o = run(root, &a);
    let doc: Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "caisson {a:?}: not JSON ({e}), exit {}:\nstdout: {}\nstderr: {}",
            o.code, o.stdout, o.stderr
        )
    });
    (o.code, doc)
}

fn checks(doc: &Value) -> &Vec<Value> {
    doc["checks"].as_array().expect("checks array")
}

/// The check `id` about the container named `name` (None: a host/files check).
fn check<'a>(doc: &'a Value, id: &str, name: Option<&str>) -> &'a Value {
    checks(doc)
        .iter()
        .find(|c| {
            c["id"] == id
                && match name {
                    Some(n) => c["container"]["name"] == n,
                    None => c.get("container").is_none(),
                }
        })
        .unwrap_or_else(|| {
            panic!(
                "no check {id} for {name:?} in {}",
                serde_json::to_string_pretty(doc).unwrap()
            )
        })
}

fn status<'a>(doc: &'a Value, id: &str, name: Option<&str>) -> &'a str {
    check(doc, id, name)["status"].as_str().unwrap()
}

fn assert_status(doc: &Value, name: Option<&str>, want: &str, ids: &[&str]) {
    for id in ids {
        let c = check(doc, id, name);
        assert_eq!(
            c["status"],
            want,
            "{id} for {name:?}: {}",
            serde_json::to_string_pretty(c).unwrap()
        );
        assert!(!c["details"].as_str().unwrap().is_empty(), "{c}");
        assert!(!c["remediation"].as_str().unwrap().is_empty(), "{c}");
    }
}

/// The summary must count exactly the checks listed, by status.
fn assert_summary_consistent(doc: &Value) {
    let list = checks(doc);
    let mut total = 0;
    for (key, st) in [
        ("pass", "PASS"),
        ("warn", "WARN"),
        ("fail", "FAIL"),
        ("info", "INFO"),
        ("skip", "SKIP"),
    ] {
        let n = doc["summary"][key].as_u64().unwrap();
        let counted = list.iter().filter(|c| c["status"] == st).count() as u64;
        assert_eq!(n, counted, "summary.{key}: {}", doc["summary"]);
        total += n;
    }
    assert_eq!(total, list.len() as u64, "{}", doc["summary"]);
    assert_eq!(doc["version"], 1);
}

fn caps(list: &[&str]) -> Value {
    json!({"bounding": list, "effective": list, "permitted": list})
}

fn hardened_config(data: &Path) -> Value {
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 1000, "gid": 1000},
            "args": ["/bin/true"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "capabilities": caps(&["CAP_NET_BIND_SERVICE"]),
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "hardened",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/data", "type": "bind", "source": data, "options": ["rbind", "nosuid", "nodev", "rprivate", "ro"]},
            {"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": ["rbind", "ro"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}
            ],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "resources": {
                "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
                "memory": {"limit": 268_435_456},
                "cpu": {"quota": 50_000, "period": 100_000},
                "pids": {"limit": 100}
            },
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
            },
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            "rootfsPropagation": "rprivate",
            "sysctl": {"net.ipv4.ip_unprivileged_port_start": "0"}
        }
    })
}

fn dangerous_config() -> Value {
    let all: Vec<&str> = caisson_container::caps::NAMES.to_vec();
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "cwd": "/",
            "capabilities": caps(&all),
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs"},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/host-etc", "type": "bind", "source": "/etc", "options": ["rbind", "rw"]},
            {"destination": "/var/run/docker.sock", "type": "bind", "source": "/var/run/docker.sock", "options": ["bind"]},
            {"destination": "/mnt", "type": "bind", "source": "/mnt", "options": ["rbind", "rshared"]}
        ],
        "linux": {
            "namespaces": [{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}],
            "resources": {"devices": [{"allow": true, "access": "rwm"}]},
            "sysctl": {"net.ipv4.ip_forward": "1", "kernel.panic": "1"}
        }
    })
}

fn write_bundle(dir: &Path, config: &Value) -> PathBuf {
    std::fs::create_dir_all(dir.join("rootfs")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(config).unwrap(),
    )
    .unwrap();
    dir.to_path_buf()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    hardened: PathBuf,
    dangerous: PathBuf,
}

fn fixture(prefix: &str) -> Fixture {
    let tmp = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let hardened = write_bundle(&tmp.path().join("hardened"), &hardened_config(&data));
    let dangerous = write_bundle(&tmp.path().join("dangerous"), &dangerous_config());
    Fixture {
        root: tmp.path().join("root"),
        hardened,
        dangerous,
        _tmp: tmp,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn hardened_bundle_passes_and_dangerous_bundle_fails() {
    let f = fixture("caisson-audit-b-");
    let (code, doc) = audit_json(
        &f.root,
        &["--bundle", s(&f.hardened), "--bundle", s(&f.dangerous)],
    );
    assert_eq!(code, 0, "informative by default, FAILs included");
    assert_summary_consistent(&doc);
    let (h, d) = (Some(s(&f.hardened)), Some(s(&f.dangerous)));
    for c in checks(&doc).iter().filter(|c| c["container"].is_object()) {
        assert_eq!(c["section"], "containers");
        assert_eq!(c["container"]["kind"], "bundle");
        assert!(c["container"]["config"]
            .as_str()
            .unwrap()
            .ends_with("/config.json"));
    }
    assert_status(
        &doc,
        h,
        "PASS",
        &[
            "CAISSON-5.3",
            "CAISSON-5.4",
            "CAISSON-5.5",
            "CAISSON-5.9",
            "CAISSON-5.10",
            "CAISSON-5.11",
            "CAISSON-5.12",
            "CAISSON-5.15",
            "CAISSON-5.16",
            "CAISSON-5.17",
            "CAISSON-5.18",
            "CAISSON-5.19",
            "CAISSON-5.20",
            "CAISSON-5.21",
            "CAISSON-5.25",
            "CAISSON-5.28",
            "CAISSON-5.30",
            "CAISSON-5.31",
            "CAISSON-5.32",
            "CAISSON-5.33",
            "CAISSON-5.34",
        ],
    );
    assert_status(
        &doc,
        d,
        "FAIL",
        &[
            "CAISSON-5.3",
            "CAISSON-5.4",
            "CAISSON-5.5",
            "CAISSON-5.9",
            "CAISSON-5.15",
            "CAISSON-5.17",
            "CAISSON-5.19",
            "CAISSON-5.21",
            "CAISSON-5.25",
            "CAISSON-5.31",
            "CAISSON-5.32",
            "CAISSON-5.33",
        ],
    );
    assert_status(
        &doc,
        d,
        "WARN",
        &[
            "CAISSON-5.10",
            "CAISSON-5.11",
            "CAISSON-5.12",
            "CAISSON-5.28",
            "CAISSON-5.30",
            "CAISSON-5.34",
        ],
    );
    // the namespaces it does have are private
    assert_status(&doc, d, "PASS", &["CAISSON-5.16", "CAISSON-5.20"]);
    assert_eq!(status(&doc, "CAISSON-5.18", d), "INFO");
    assert_eq!(
        status(&doc, "CAISSON-5.14", d),
        "SKIP",
        "no restart policy in a bundle"
    );
    // details name the field and value
    let det =
        |id: &str, n: Option<&str>| check(&doc, id, n)["details"].as_str().unwrap().to_string();
    assert!(det("CAISSON-5.5", d).contains("/etc") && det("CAISSON-5.5", d).contains("WRITABLE"));
    assert!(det("CAISSON-5.31", d).contains("/var/run/docker.sock"));
    assert!(det("CAISSON-5.9", d).contains("\"network\""));
    assert!(det("CAISSON-5.19", d).contains("rshared"));
    assert!(det("CAISSON-5.33", d).contains("kernel.panic"));
    assert!(det("CAISSON-5.21", d).contains("linux.seccomp"));
    assert!(det("CAISSON-5.25", d).contains("process.noNewPrivileges = false"));
    assert!(det("CAISSON-5.30", h).contains("host uid 100000"));
    assert!(det("CAISSON-5.21", h).contains("SCMP_ACT_ERRNO"));
    assert!(det("CAISSON-5.10", h).contains("268435456"));
    // every section ran: host and files checks with a definite status
    for sec in ["host", "files"] {
        assert!(
            checks(&doc)
                .iter()
                .any(|c| c["section"] == sec && c["status"] != "SKIP"),
            "{sec}"
        );
    }
}

#[test]
fn exit_code_only_when_a_check_fails() {
    let f = fixture("caisson-audit-x-");
    let only = |b: &Path, extra: &[&str]| {
        let mut a = vec!["--section", "containers", "--bundle", s(b)];
        a.extend_from_slice(extra);
        audit_json(&f.root, &a)
    };
    let (code, doc) = only(&f.dangerous, &["--exit-code", "3"]);
    assert_eq!(code, 3);
    assert!(doc["summary"]["fail"].as_u64().unwrap() > 0);
    let (code, doc) = only(&f.hardened, &["--exit-code", "3"]);
    assert_eq!(code, 0, "{}", serde_json::to_string_pretty(&doc).unwrap());
    assert_eq!(doc["summary"]["fail"], 0);
    assert_summary_consistent(&doc);
    // only the container section was run
    assert!(checks(&doc).iter().all(|c| c["section"] == "containers"));
    let (code, _) = only(&f.dangerous, &[]);
    assert_eq!(code, 0, "without --exit-code the audit only informs");
    // table output: same exit code rule
    let o = run(
        &f.root,
        &[
            "audit",
            "--section",
            "containers",
            "--bundle",
            s(&f.dangerous),
            "--exit-code",
            "7",
        ],
    );
    assert_eq!(o.code, 7, "{}", o.stderr);
}

#[test]
fn table_output_has_aligned_columns_details_and_remediation() {
    let f = fixture("caisson-audit-t-");
    let out = ok(
        &f.root,
        &[
            "audit",
            "--bundle",
            s(&f.dangerous),
            "--bundle",
            s(&f.hardened),
        ],
    );
    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with("ID")
            && header.contains("STATUS")
            && header.contains("SEVERITY")
            && header.ends_with("TITLE"),
        "{out}"
    );
    let status_col = header.find("STATUS").unwrap();
    let row = out
        .lines()
        .find(|l| l.starts_with("CAISSON-5.4 "))
        .expect("a row for CAISSON-5.4");
    assert_eq!(&row[status_col..status_col + 4], "FAIL", "{row}\n{out}");
    assert!(row.contains("CRITICAL"), "{row}");
    assert!(out.contains("[host]") && out.contains("[files]"), "{out}");
    assert!(
        out.contains(&format!("[bundle {}]", s(&f.dangerous))),
        "{out}"
    );
    assert!(out.contains("details: "), "{out}");
    assert!(
        out.contains("remediation: Do not run privileged containers"),
        "{out}"
    );
    assert!(out.contains("remediation: Set linux.seccomp"), "{out}");
    let last = out.lines().last().unwrap();
    assert!(
        last.contains(" checks: ") && last.contains(" fail"),
        "summary line: {last}"
    );
}

#[test]
fn missing_or_bad_config_json_is_a_clear_error() {
    let f = fixture("caisson-audit-e-");
    let empty = f.hardened.parent().unwrap().join("empty-bundle");
    std::fs::create_dir_all(&empty).unwrap();
    let o = run(&f.root, &["audit", "--bundle", s(&empty)]);
    assert_ne!(o.code, 0);
    assert!(o.stdout.is_empty(), "no report on error: {}", o.stdout);
    let cfg = empty.join("config.json");
    assert!(
        o.stderr.contains(s(&cfg)) && o.stderr.contains("missing"),
        "{}",
        o.stderr
    );
    std::fs::write(&cfg, b"{ not json").unwrap();
    let o = run(&f.root, &["audit", "--bundle", s(&empty)]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains(s(&cfg)) && o.stderr.contains("invalid JSON"),
        "{}",
        o.stderr
    );
    let o = run(&f.root, &["audit", "--bundle", "/nonexistent/bundle"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("/nonexistent/bundle"), "{}", o.stderr);
    let o = run(&f.root, &["audit", "--container", "no-such-container"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("no-such-container"), "{}", o.stderr);
    let o = run(&f.root, &["audit", "--tls-key", "/nonexistent/key.pem"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("/nonexistent/key.pem"), "{}", o.stderr);
    let o = run(&f.root, &["audit", "--format", "yaml"]);
    assert_ne!(o.code, 0);
}

#[test]
fn host_and_files_sections_on_this_machine() {
    let f = fixture("caisson-audit-h-");
    let (code, doc) = audit_json(&f.root, &["--section", "host,files"]);
    assert_eq!(code, 0);
    assert_summary_consistent(&doc);
    let list = checks(&doc);
    assert!(list
        .iter()
        .all(|c| c["section"] == "host" || c["section"] == "files"));
    assert!(list.iter().all(|c| c.get("container").is_none()));
    let definite = ["PASS", "WARN", "FAIL", "INFO"];
    // host: the kernel features, against what /proc says
    for id in ["CAISSON-1.1.1", "CAISSON-1.2.3", "CAISSON-1.2.4"] {
        assert!(definite.contains(&status(&doc, id, None)), "{id}");
    }
    let want = |path: &str, good: &dyn Fn(i64) -> bool| match std::fs::read_to_string(path) {
        Err(_) => "SKIP",
        Ok(v) if good(v.trim().parse().unwrap()) => "PASS",
        Ok(_) => "WARN",
    };
    assert_eq!(
        status(&doc, "CAISSON-1.2.7", None),
        want("/proc/sys/fs/protected_symlinks", &|n| n == 1)
    );
    assert_eq!(
        status(&doc, "CAISSON-1.2.9", None),
        want("/proc/sys/kernel/kptr_restrict", &|n| n >= 1)
    );
    assert_eq!(
        status(&doc, "CAISSON-1.2.6", None),
        want("/proc/sys/kernel/unprivileged_bpf_disabled", &|n| n >= 1)
    );
    let userns = check(&doc, "CAISSON-1.2.1", None);
    assert!(userns["details"]
        .as_str()
        .unwrap()
        .contains("/proc/sys/user/max_user_namespaces"));
    // the root is a directory of a tempdir, not a mount of its own
    assert_eq!(status(&doc, "CAISSON-1.1.1", None), "WARN");
    // files: the engine root made by `caisson` as root is root-owned, 0755
    let root = check(&doc, "CAISSON-3.1", None);
    assert_eq!(root["status"], "PASS", "{root}");
    assert!(root["details"]
        .as_str()
        .unwrap()
        .contains(s(&std::fs::canonicalize(&f.root).unwrap())));
    for id in [
        "CAISSON-3.2",
        "CAISSON-3.3",
        "CAISSON-3.4",
        "CAISSON-3.5",
        "CAISSON-3.7",
    ] {
        assert_eq!(status(&doc, id, None), "PASS", "{id}");
    }
    assert_eq!(status(&doc, "CAISSON-3.13", None), "SKIP", "no --tls-key");
}

#[test]
fn world_writable_engine_dirs_and_readable_keys_fail() {
    let f = fixture("caisson-audit-p-");
    ok(&f.root, &["audit", "--section", "host"]); // creates the root
    let cdir = f.root.join("containers");
    std::fs::set_permissions(&cdir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let dir = f.hardened.parent().unwrap();
    let (good, bad, cert) = (dir.join("good.key"), dir.join("bad.key"), dir.join("c.pem"));
    for (p, mode) in [(&good, 0o600), (&bad, 0o644), (&cert, 0o644)] {
        std::fs::write(p, b"-----BEGIN TEST-----\n").unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let (code, doc) = audit_json(
        &f.root,
        &[
            "--section",
            "files",
            "--tls-key",
            s(&bad),
            "--tls-cert",
            s(&cert),
            "--exit-code",
            "4",
        ],
    );
    assert_eq!(code, 4);
    let c = check(&doc, "CAISSON-3.2", None);
    assert_eq!(c["status"], "FAIL", "{c}");
    let d = c["details"].as_str().unwrap();
    assert!(
        d.contains(&format!(
            "{} (uid 0, mode 0777): world-writable",
            s(&std::fs::canonicalize(&cdir).unwrap())
        )),
        "{d}"
    );
    let k = check(&doc, "CAISSON-3.13", None);
    assert_eq!(k["status"], "FAIL", "{k}");
    assert!(
        k["details"].as_str().unwrap().contains("world-readable"),
        "{k}"
    );
    assert_eq!(status(&doc, "CAISSON-3.12", None), "PASS");
    std::fs::set_permissions(&cdir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, doc) = audit_json(
        &f.root,
        &[
            "--section",
            "files",
            "--tls-key",
            s(&good),
            "--exit-code",
            "4",
        ],
    );
    assert_eq!(status(&doc, "CAISSON-3.2", None), "PASS");
    assert_eq!(status(&doc, "CAISSON-3.13", None), "PASS");
    assert_eq!(code, if doc["summary"]["fail"] == 0 { 0 } else { 4 });
}

#[test]
fn runtime_root_containers_are_found_through_state_json() {
    let f = fixture("caisson-audit-r-");
    let rr = f.hardened.parent().unwrap().join("runtime-root");
    // as caisson-runtime writes them (crates/container/src/state.rs)
    let state = |id: &str, bundle: &Path, name: Option<&str>| {
        let mut annotations = std::collections::HashMap::new();
        if let Some(n) = name {
            annotations.insert(
                "io.kubernetes.cri.container-name".to_string(),
                n.to_string(),
            );
        }
        let st = caisson_container::state::State {
            oci_version: caisson_container::state::OCI_VERSION.into(),
            id: id.into(),
            pid: 0,
            pid_start_time: 0,
            bundle: bundle.to_path_buf(),
            rootfs: bundle.join("rootfs"),
            created: "2024-01-01T00:00:00Z".into(),
            owner: String::new(),
            annotations,
            cgroups_path: None,
            systemd_cgroup: false,
            rootless: false,
            created_done: true,
            paused: false,
        };
        let d = rr.join(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("state.json"), serde_json::to_vec(&st).unwrap()).unwrap();
        d
    };
    state("ctr-dangerous", &f.dangerous, Some("k8s-web"));
    // the runtime's own copy of the config (as created) wins over the bundle's
    let d = state("ctr-copy", &f.dangerous, None);
    let data = f.hardened.parent().unwrap().join("data");
    std::fs::write(
        d.join("config.json"),
        serde_json::to_vec(&hardened_config(&data)).unwrap(),
    )
    .unwrap();
    std::fs::create_dir_all(rr.join("half-created")).unwrap();
    let (code, doc) = audit_json(
        &f.root,
        &[
            "--section",
            "containers",
            "--runtime-root",
            s(&rr),
            "--exit-code",
            "9",
        ],
    );
    assert_eq!(code, 9);
    assert_summary_consistent(&doc);
    let c = check(&doc, "CAISSON-5.4", Some("k8s-web"));
    assert_eq!(c["status"], "FAIL");
    assert_eq!(c["container"]["kind"], "runtime");
    assert_eq!(c["container"]["id"], "ctr-dangerous");
    assert_eq!(
        c["container"]["config"],
        s(&f.dangerous.join("config.json"))
    );
    let c = check(&doc, "CAISSON-5.4", Some("ctr-copy"));
    assert_eq!(c["status"], "PASS", "{c}");
    assert_eq!(c["container"]["config"], s(&d.join("config.json")));
    let c = check(&doc, "CAISSON-5.0", Some("half-created"));
    assert_eq!(c["status"], "SKIP");
    assert!(c["details"].as_str().unwrap().contains("state.json"), "{c}");
    let o = run(&f.root, &["audit", "--runtime-root", "/nonexistent/rr"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("/nonexistent/rr"), "{}", o.stderr);
}

/// A one-file image: `caisson create` needs only its layer and a command.
fn import_tiny_image(root: &Path, dir: &Path) {
    let tarball = dir.join("tiny.tar");
    let mut t = tar::Builder::new(std::fs::File::create(&tarball).unwrap());
    let mut h = tar::Header::new_gnu();
    let data = b"#!/bin/sh\n";
    h.set_size(data.len() as u64);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    t.append_data(&mut h, "bin/true", data.as_slice()).unwrap();
    t.into_inner().unwrap();
    ok(root, &["import", s(&tarball), "localhost/tiny:1"]);
}

#[test]
fn engine_containers_are_audited_from_their_bundles() {
    let f = fixture("caisson-audit-c-");
    let dir = f.hardened.parent().unwrap();
    import_tiny_image(&f.root, dir);
    let hard = ok(
        &f.root,
        &[
            "create",
            "--name",
            "hard",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--user",
            "1000:1000",
            "--cpus",
            "1",
            "localhost/tiny:1",
            "/bin/true",
        ],
    );
    let loose = ok(
        &f.root,
        &[
            "create",
            "--name",
            "loose",
            "--network",
            "host",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "no-new-privileges=false",
            "--cap-add",
            "SYS_ADMIN",
            "-v",
            "/etc:/host-etc",
            "localhost/tiny:1",
            "/bin/true",
        ],
    );
    let (hard, loose) = (hard.trim(), loose.trim());
    let (code, doc) = audit_json(
        &f.root,
        &[
            "--section",
            "containers",
            "--container",
            "loose",
            "--exit-code",
            "5",
        ],
    );
    assert_eq!(code, 5);
    assert!(checks(&doc)
        .iter()
        .all(|c| c["container"]["name"] == "loose"));
    let c = check(&doc, "CAISSON-5.4", Some("loose"));
    assert_eq!(c["container"]["kind"], "engine");
    assert_eq!(c["container"]["id"], loose);
    let cfg = std::fs::canonicalize(&f.root)
        .unwrap()
        .join("containers")
        .join(loose)
        .join("bundle/config.json");
    assert_eq!(
        std::fs::canonicalize(c["container"]["config"].as_str().unwrap()).unwrap(),
        cfg
    );
    let l = Some("loose");
    assert_status(
        &doc,
        l,
        "FAIL",
        &[
            "CAISSON-5.3",
            "CAISSON-5.4",
            "CAISSON-5.5",
            "CAISSON-5.9",
            "CAISSON-5.21",
            "CAISSON-5.25",
        ],
    );
    // the engine's own defaults hold even here
    assert_status(
        &doc,
        l,
        "PASS",
        &[
            "CAISSON-5.10",
            "CAISSON-5.14",
            "CAISSON-5.15",
            "CAISSON-5.17",
            "CAISSON-5.28",
            "CAISSON-5.31",
            "CAISSON-5.32",
            "CAISSON-5.34",
        ],
    );
    assert_eq!(
        status(&doc, "CAISSON-5.30", l),
        "WARN",
        "root without a user namespace"
    );

    // by id prefix; the hardened one passes where the engine allows it
    let (code, doc) = audit_json(
        &f.root,
        &[
            "--section",
            "containers",
            "--container",
            &hard[..12],
            "--exit-code",
            "5",
        ],
    );
    assert_eq!(code, 0, "{}", serde_json::to_string_pretty(&doc).unwrap());
    let h = Some("hard");
    assert_status(
        &doc,
        h,
        "PASS",
        &[
            "CAISSON-5.3",
            "CAISSON-5.4",
            "CAISSON-5.5",
            "CAISSON-5.9",
            "CAISSON-5.10",
            "CAISSON-5.11",
            "CAISSON-5.12",
            "CAISSON-5.15",
            "CAISSON-5.16",
            "CAISSON-5.17",
            "CAISSON-5.18",
            "CAISSON-5.20",
            "CAISSON-5.21",
            "CAISSON-5.25",
            "CAISSON-5.28",
            "CAISSON-5.30",
            "CAISSON-5.31",
            "CAISSON-5.32",
            "CAISSON-5.34",
        ],
    );

    // no target named: every engine container
    let (_, doc) = audit_json(&f.root, &["--section", "containers"]);
    for (n, id) in [("hard", hard), ("loose", loose)] {
        let c = check(&doc, "CAISSON-5.4", Some(n));
        assert_eq!(c["container"]["id"], id);
    }
    ok(&f.root, &["rm", "hard", "loose"]);
}
