//! Bad input fails with a message naming the field, a non-zero exit, and leaves
//! nothing behind — no state dir, cgroup, mount or process. Killing the runtime at
//! any step of `create` and then `delete --force` leaves nothing either.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use common::*;
use serde_json::json;

fn expect_refused(env: &Env, id: &str, needles: &[&str]) {
    let o = env.rt(&["create", "--bundle", env.bundle.to_str().unwrap(), id]);
    assert!(!o.status.success(), "create should fail");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    for n in needles {
        assert!(err.contains(n), "error should mention {n:?}: {err}");
    }
    assert_no_leaks(env, id, &env.bundle.to_string_lossy());
}

#[test]
fn malformed_json() {
    let id = "bad-json";
    let env = Env::new(&config(id, &["true"]));
    env.write_config_raw(br#"{"ociVersion": "1.2.0", "process": {"args": ["true"],"#);
    expect_refused(&env, id, &["config.json", "EOF"]);
}

#[test]
fn unknown_namespace_type() {
    let id = "bad-ns";
    let mut cfg = config(id, &["true"]);
    cfg["linux"]["namespaces"][1] = json!({"type": "bogus"});
    expect_refused(&Env::new(&cfg), id, &["linux.namespaces[1].type", "bogus"]);
}

#[test]
fn missing_rootfs() {
    let id = "bad-root";
    let mut cfg = config(id, &["true"]);
    cfg["root"]["path"] = json!("does-not-exist");
    expect_refused(&Env::new(&cfg), id, &["root.path", "does-not-exist"]);
}

#[test]
fn mount_target_escaping_rootfs() {
    let id = "bad-mount";
    let mut cfg = config(id, &["true"]);
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/../../../tmp/escape", "type": "tmpfs", "source": "tmpfs"}));
    expect_refused(&Env::new(&cfg), id, &["mounts[4].destination", "escapes"]);
}

#[test]
fn invalid_seccomp_action() {
    let id = "bad-seccomp";
    let mut cfg = config(id, &["true"]);
    cfg["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_EXPLODE"}]});
    expect_refused(
        &Env::new(&cfg),
        id,
        &["linux.seccomp.syscalls[0].action", "SCMP_ACT_EXPLODE"],
    );
}

#[test]
fn contradictory_hostname_without_uts() {
    let id = "bad-uts";
    let mut cfg = config(id, &["true"]);
    cfg["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}]);
    expect_refused(&Env::new(&cfg), id, &["hostname", "uts namespace"]);
}

#[test]
fn failure_inside_init_cleans_up() {
    // The error happens in the container init (after clone, cgroup, mounts).
    let id = "bad-exe";
    let env = Env::new(&config(id, &["/no/such/binary"]));
    expect_refused(&env, id, &["process.args[0]", "/no/such/binary"]);
}

#[test]
fn killed_at_every_step_of_create_then_delete_force_leaves_nothing() {
    let steps = ["state-dir", "clone", "cgroup", "go", "ready"];
    for step in steps {
        let id = format!("kill-{step}");
        let env = Env::new(&config(&id, &["sleep", "600"]));
        let mut child = std::process::Command::new(runtime_bin())
            .arg("--root")
            .arg(&env.root)
            .args(["create", "--bundle", env.bundle.to_str().unwrap(), &id])
            .env("CAISSON_RUNTIME_TEST_STOP_AT", step)
            .spawn()
            .unwrap();
        let pid = child.id();
        let stopped = wait_until(10, || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('T')
                })
                .unwrap_or(false)
        });
        assert!(stopped, "runtime never reached step {step}");
        child.kill().unwrap();
        child.wait().unwrap();
        let o = env.rt(&["delete", "--force", &id]);
        assert!(
            o.status.success(),
            "step {step}: delete --force failed: {}",
            stderr(&o)
        );
        assert_no_leaks(&env, &id, &env.bundle.to_string_lossy());
    }
}
