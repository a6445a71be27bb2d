//! The runtime's policy gate: with a policy configuration ($CAISSON_POLICY here,
//! /etc/caisson/policy in production) `create` decides the bundle's config.json
//! first; a denial fails with the rule's message and leaves nothing behind.
#![allow(clippy::tests_outside_test_module)]

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::{json, Value};

fn rt_policy(env: &Env, policy: &Path, args: &[&str]) -> Output {
    env.rt_env(args, &[("CAISSON_POLICY", policy)])
}

fn log_lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn create_is_gated_by_the_configured_policy() {
    let id = "policy-gate-ok";
    let env = Env::new(&config(id, &["sleep", "30"]));
    let dir = env.tmp.path().join("policy");
    std::fs::create_dir_all(&dir).unwrap();
    let log = env.tmp.path().join("decisions.log");
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "sets: [pss-baseline]\nmodes:\n  pss-baseline/sysctls: warn\ndecision_log: {}\n",
            log.display()
        ),
    )
    .unwrap();
    // A user Rego file beside the configuration is loaded too.
    std::fs::write(
        dir.join("no_sleep_forever.rego"),
        "package site\nimport rego.v1\ndeny contains \"infinite sleep is not a workload\" if {\n  input.oci\n  some c in input.spec.containers\n  c.securityContext.runAsUser == 4242\n}\n",
    )
    .unwrap();

    // The hardened default config passes: created and deleted as usual.
    let o = rt_policy(
        &env,
        &dir,
        &["create", "--bundle", env.bundle.to_str().unwrap(), id],
    );
    assert!(o.status.success(), "allowed create failed: {}", stderr(&o));
    assert_eq!(env.state(id).unwrap()["status"], "created");
    let o = env.rt(&["delete", "--force", id]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Host network namespace (no network entry) + CAP_SYS_ADMIN + a bind of /etc:
    // denied, with every rule named, and nothing left.
    let bad = "policy-gate-deny";
    let mut cfg = config(bad, &["sleep", "30"]);
    cfg["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    cfg["process"]["capabilities"]["bounding"] = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/host-etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]}));
    cfg["linux"]["sysctl"] = json!({"kernel.msgmax": "8192"});
    std::fs::write(
        env.bundle.join("config.json"),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    let before = leaks(&env.root, bad, bad);
    let o = rt_policy(
        &env,
        &dir,
        &["create", "--bundle", env.bundle.to_str().unwrap(), bad],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "denied create must exit 1: {}",
        stderr(&o)
    );
    let e = stderr(&o);
    for want in [
        "policy denied container policy-gate-deny",
        "[pss-baseline/host-namespaces] hostNetwork=true",
        "[pss-baseline/capabilities] container \"policy-gate-deny\" adds capability SYS_ADMIN",
        "[pss-baseline/host-path-volumes] volume \"mount-4\" mounts host path \"/etc\"",
        "policy warning: [pss-baseline/sysctls] sysctl kernel.msgmax is not in the safe set",
    ] {
        assert!(e.contains(want), "stderr lacks {want:?}:\n{e}");
    }
    assert!(env.state(bad).is_none(), "a denied container has state");
    assert!(!env.root.join(bad).exists());
    assert_eq!(leaks(&env.root, bad, bad), before);
    assert_no_leaks(&env, bad, bad);

    // A user rule in the policy directory denies as well.
    cfg = config(bad, &["sleep", "30"]);
    cfg["process"]["user"] = json!({"uid": 4242, "gid": 4242});
    std::fs::write(
        env.bundle.join("config.json"),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    let o = rt_policy(
        &env,
        &dir,
        &["run", "--bundle", env.bundle.to_str().unwrap(), bad],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("[site/deny] infinite sleep is not a workload"),
        "{}",
        stderr(&o)
    );
    assert!(!env.root.join(bad).exists());

    // Every decision is in the log: digest, policy version, result, latency.
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["result"], "allow");
    assert_eq!(lines[1]["result"], "deny");
    assert_eq!(lines[2]["result"], "deny");
    for l in &lines {
        assert_eq!(l["entry"], "runtime");
        assert!(l["input_digest"].as_str().unwrap().starts_with("sha256:"));
        assert!(l["policy_version"].as_str().unwrap().starts_with("sha256:"));
        assert!(l["latency_us"].as_u64().is_some());
    }
    assert_eq!(lines[0]["policy_version"], lines[1]["policy_version"]);
    assert_ne!(lines[0]["input_digest"], lines[1]["input_digest"]);
}

#[test]
fn a_broken_policy_configuration_fails_closed() {
    let id = "policy-broken";
    let env = Env::new(&config(id, &["true"]));
    let bundle = env.bundle.to_str().unwrap();
    let cfg = env.tmp.path().join("policy.yaml");
    let missing = env.tmp.path().join("nope.yaml");
    for (text, path, want) in [
        (
            Some("sets: [pss-basline]\n"),
            &cfg,
            "unknown policy set \"pss-basline\"",
        ),
        (
            Some("sets: [pss-baseline]\nmode: {}\n"),
            &cfg,
            "unknown field `mode`",
        ),
        (None, &missing, "nope.yaml"),
    ] {
        if let Some(t) = text {
            std::fs::write(path, t).unwrap();
        }
        let o = rt_policy(&env, path, &["create", "--bundle", bundle, id]);
        assert_eq!(o.status.code(), Some(1), "{want}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
    }
    assert!(!env.root.join(id).exists());
}
