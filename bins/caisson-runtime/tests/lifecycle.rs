//! End-to-end lifecycle against the real kernel: create, state, start, kill,
//! delete, run, exec, ps, list — and that nothing is left behind.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use common::*;
use serde_json::json;

#[test]
fn create_start_kill_delete() {
    let id = format!("life-{}", std::process::id());
    let env = Env::new(&config(&id, &["sleep", "600"]));
    let pid_file = env.tmp.path().join("init.pid");
    let o = env.rt(&[
        "create",
        "--bundle",
        env.bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "create failed: {}", stderr(&o));
    let st = env.state(&id).expect("state after create");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["ociVersion"], "1.2.0");
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(st["bundle"].as_str().unwrap().ends_with("bundle"));
    // a second create with the same id is refused
    let o = env.rt(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    // the container's cgroup exists and holds the init
    let procs = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/pids/caisson-test/{id}/cgroup.procs"
    ))
    .unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");

    let o = env.rt(&["start", &id]);
    assert!(o.status.success(), "start failed: {}", stderr(&o));
    assert_eq!(env.state(&id).unwrap()["status"], "running");
    // start twice is an error
    assert!(!env.rt(&["start", &id]).status.success());
    // delete of a running container needs --force
    let o = env.rt(&["delete", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("running"), "{}", stderr(&o));

    let o = env.rt(&["ps", "--format", "json", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pids: Vec<i64> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pids, vec![pid]);

    let o = env.rt(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "running");

    let o = env.rt(&["kill", &id, "KILL"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(wait_until(5, || env.state(&id).unwrap()["status"] == "stopped"));
    let o = env.rt(&["delete", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(env.state(&id).is_none());
    assert_no_leaks(&env, &id, &env.bundle.to_string_lossy());
}

#[test]
fn run_returns_exit_code_and_cleans_up() {
    let id = format!("run-{}", std::process::id());
    let env = Env::new(&config(&id, &["sh", "-c", "exit 3"]));
    let o = env.rt(&["run", &id]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_no_leaks(&env, &id, &env.bundle.to_string_lossy());
    let mut cfg = config(&id, &["true"]);
    cfg["process"]["args"] = json!(["/bin/true"]);
    let env = Env::new(&cfg);
    let o = env.rt(&["run", &id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn isolation_is_what_the_config_says() {
    let id = format!("iso-{}", std::process::id());
    let script = "echo host=$(hostname); echo pid=$$; echo uid=$(id -u); \
                  grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status; \
                  grep Seccomp: /proc/self/status; ls /proc/self/fd | wc -l; \
                  echo masked=$(cat /proc/timer_list | wc -c)/$(ls /sys/firmware | wc -l); \
                  echo x > /proc/sys/kernel/domainname 2>/dev/null && echo sysrw || echo sysro; \
                  ls /sys/class/net";
    let mut cfg = config(&id, &["sh", "-c", script]);
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let env = Env::new(&cfg);
    let o = env.rt(&["run", &id]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{out}", stderr(&o));
    assert!(out.contains("host=caisson-test"), "{out}");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.contains("uid=0"), "{out}");
    // CAP_KILL(5) | CAP_NET_BIND_SERVICE(10) | CAP_AUDIT_WRITE(29)
    assert!(out.contains("CapEff:\t0000000020000420"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    // only stdin/stdout/stderr (+ the fd ls uses to read the dir): nothing leaked
    assert!(out.contains("\n4\n"), "fds: {out}");
    assert!(
        out.contains("masked=0/0"),
        "masked paths should read empty: {out}"
    );
    assert!(out.contains("sysro"), "{out}");
    assert!(
        out.lines().last() == Some("lo"),
        "only loopback in a new netns: {out}"
    );
}

#[test]
fn exec_joins_the_container() {
    let id = format!("exec-{}", std::process::id());
    let env = Env::new(&config(&id, &["sleep", "600"]));
    assert!(env.rt(&["run", "--detach", &id]).status.success());
    let o = env.rt(&["exec", &id, "sh", "-c", "echo $(hostname) $$; exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("caisson-test "), "{out}");
    // a process.json, as podman/containerd pass it
    let proc_json = env.tmp.path().join("process.json");
    std::fs::write(
        &proc_json,
        serde_json::to_vec(&json!({
            "user": {"uid": 1000, "gid": 1000}, "args": ["id"], "cwd": "/tmp", "env": ["PATH=/bin"]
        }))
        .unwrap(),
    )
    .unwrap();
    let o = env.rt(&["exec", "--process", proc_json.to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("uid=1000 gid=1000"), "{}", stdout(&o));
    assert!(env.rt(&["delete", "--force", &id]).status.success());
    assert_no_leaks(&env, &id, &env.bundle.to_string_lossy());
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    let id = format!("hooks-{}", std::process::id());
    let mut cfg = config(&id, &["true"]);
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("hooks.log");
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read s; echo {name} \"$s\" >> {}", log.display())]});
    cfg["hooks"] = json!({
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")]
    });
    let env = Env::new(&cfg);
    let o = env.rt(&["run", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["createRuntime", "poststart", "poststop"], "{text}");
    assert!(text.contains(&format!("\"id\":\"{id}\"")), "{text}");
}
