//! The runc commands clients drive beyond the basic lifecycle, against the real
//! kernel: terminals over a console socket (create and exec) and relayed by a
//! foreground `run`, `pause`/`resume`, `update`, `events`, and the refusal of
//! `checkpoint`/`restore`.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use common::*;
use serde_json::json;

fn start_bg(env: &Env, id: &str) {
    let o = env.rt(&["create", "--bundle", env.bundle.to_str().unwrap(), id]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let o = env.rt(&["start", id]);
    assert!(o.status.success(), "start: {}", stderr(&o));
}

#[test]
fn terminal_over_console_socket() {
    let id = format!("tty-{}", std::process::id());
    let mut cfg = config(
        &id,
        &[
            "sh",
            "-c",
            "tty; busybox stty size; ls /proc/self/fd; test -t 0 && echo stdin-is-tty; sleep 600",
        ],
    );
    cfg["process"]["terminal"] = json!(true);
    cfg["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    let env = Env::new(&cfg);
    let sock = ConsoleSocket::new(env.tmp.path());
    let sock_path = sock.path.clone();
    let receiver = std::thread::spawn(move || sock.accept_master());
    let o = env.rt(&[
        "create",
        "--bundle",
        env.bundle.to_str().unwrap(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let (master, name) = receiver.join().unwrap();
    assert_eq!(name, "/dev/pts/0", "the pty name is sent with the master");
    let o = env.rt(&["start", &id]);
    assert!(o.status.success(), "start: {}", stderr(&o));
    let text = read_pty(&master, 3);
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("33 101"), "consoleSize applied: {text:?}");
    assert!(text.contains("stdin-is-tty"), "{text:?}");
    // only stdio (and ls's own directory fd) are open: the console socket is gone
    let fds: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("33 101"))
        .skip(1)
        .take_while(|l| !l.contains("stdin-is-tty"))
        .flat_map(str::split_whitespace)
        .collect();
    assert!(
        fds.len() <= 4 && fds.starts_with(&["0", "1", "2"]),
        "fds: {fds:?}"
    );

    // exec --tty with its own console socket
    let sock = ConsoleSocket::new(env.tmp.path());
    let sock_path = sock.path.clone();
    let receiver = std::thread::spawn(move || sock.accept_master());
    let o = env.rt(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        sock_path.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "tty; echo exec-$((6*7))",
    ]);
    assert!(o.status.success(), "exec --tty: {}", stderr(&o));
    let (master, _) = receiver.join().unwrap();
    let text = read_pty(&master, 3);
    assert!(text.contains("/dev/pts/1"), "{text:?}");
    assert!(text.contains("exec-42"), "{text:?}");

    let o = env.rt(&["delete", "--force", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_no_leaks(&env, &id, &id);
}

#[test]
fn terminal_without_console_socket() {
    let id = format!("ttyrelay-{}", std::process::id());
    let mut cfg = config(&id, &["sh", "-c", "tty; echo relayed-$((6*7)); exit 3"]);
    cfg["process"]["terminal"] = json!(true);
    let env = Env::new(&cfg);
    // detached create: refused, naming the field, nothing left
    let o = env.rt(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("process.terminal"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--console-socket"), "{}", stderr(&o));
    assert_no_leaks(&env, &id, &id);
    // a console socket without a terminal: refused too
    let mut plain = config(&id, &["true"]);
    plain["process"]["terminal"] = json!(false);
    let env2 = Env::new(&plain);
    let o = env2.rt(&[
        "create",
        "--bundle",
        env2.bundle.to_str().unwrap(),
        "--console-socket",
        "/nonexistent.sock",
        &id,
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("process.terminal"), "{}", stderr(&o));
    assert_no_leaks(&env2, &id, &id);
    // foreground run: the runtime relays the terminal to its own stdio
    let o = env.rt(&["run", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("relayed-42"), "{out:?}");
    assert_no_leaks(&env, &id, &id);
}

fn freezer_state(id: &str) -> String {
    std::fs::read_to_string(format!(
        "/sys/fs/cgroup/freezer/caisson-test/{id}/freezer.state"
    ))
    .unwrap()
    .trim()
    .to_string()
}

#[test]
fn pause_resume() {
    let id = format!("pause-{}", std::process::id());
    let env = Env::new(&config(&id, &["sh", "-c", "while :; do sleep 0.05; done"]));
    // not running yet: refused
    let o = env.rt(&["pause", &id]);
    assert!(!o.status.success());
    start_bg(&env, &id);
    let o = env.rt(&["resume", &id]);
    assert!(
        !o.status.success(),
        "resume of a running container must fail"
    );
    assert!(stderr(&o).contains("not paused"), "{}", stderr(&o));
    let o = env.rt(&["pause", &id]);
    assert!(o.status.success(), "pause: {}", stderr(&o));
    assert_eq!(env.state(&id).unwrap()["status"], "paused");
    assert_eq!(freezer_state(&id), "FROZEN");
    let o = env.rt(&["list", "--format", "json"]);
    assert!(stdout(&o).contains("\"paused\""), "{}", stdout(&o));
    // exec into a paused container is refused unless --ignore-paused
    let o = env.rt(&["exec", &id, "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("paused"), "{}", stderr(&o));
    let o = env.rt(&["resume", &id]);
    assert!(o.status.success(), "resume: {}", stderr(&o));
    assert_eq!(env.state(&id).unwrap()["status"], "running");
    assert_eq!(freezer_state(&id), "THAWED");
    let o = env.rt(&["exec", &id, "echo", "alive"]);
    assert_eq!(stdout(&o).trim(), "alive", "{}", stderr(&o));
    // a paused container can be force-deleted without leaving anything
    assert!(env.rt(&["pause", &id]).status.success());
    let o = env.rt(&["delete", "--force", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_no_leaks(&env, &id, &id);
}

fn cg_file(ctrl: &str, id: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/fs/cgroup/{ctrl}/caisson-test/{id}/{file}"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn update_resources() {
    let id = format!("upd-{}", std::process::id());
    let mut cfg = config(&id, &["sleep", "600"]);
    cfg["linux"]["resources"] = json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 50}});
    let env = Env::new(&cfg);
    start_bg(&env, &id);
    assert_eq!(
        cg_file("memory", &id, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    // flags, with runc's size units
    let o = env.rt(&[
        "update",
        "--memory",
        "32m",
        "--pids-limit",
        "20",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        &id,
    ]);
    assert!(o.status.success(), "update flags: {}", stderr(&o));
    assert_eq!(
        cg_file("memory", &id, "memory.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(cg_file("pids", &id, "pids.max"), "20");
    assert_eq!(cg_file("cpu", &id, "cpu.cfs_quota_us"), "50000");
    // OCI JSON on stdin, as containerd sends it (`update --resources - ID`)
    let o = env.rt_stdin(
        &["update", "--resources", "-", &id],
        br#"{"pids": {"limit": 77}, "cpu": {"shares": 512}}"#,
    );
    assert!(o.status.success(), "update -r -: {}", stderr(&o));
    assert_eq!(cg_file("pids", &id, "pids.max"), "77");
    assert_eq!(cg_file("cpu", &id, "cpu.shares"), "512");
    // untouched by the second update
    assert_eq!(
        cg_file("memory", &id, "memory.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    // bad input names the field and changes nothing
    let o = env.rt_stdin(
        &["update", "-r", "-", &id],
        br#"{"pids": {"limit": "many"}}"#,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("pids.limit"), "{}", stderr(&o));
    assert_eq!(cg_file("pids", &id, "pids.max"), "77");
    let o = env.rt(&["update", "--memory", "lots", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--memory"), "{}", stderr(&o));
    // events --stats reflects the limits
    let o = env.rt(&["events", "--stats", &id]);
    assert!(o.status.success(), "events --stats: {}", stderr(&o));
    let ev: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 32u64 << 20);
    assert_eq!(ev["data"]["pids"]["limit"], 77);
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{ev}");
    assert!(
        ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{ev}"
    );
    let o = env.rt(&["delete", "--force", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_no_leaks(&env, &id, &id);
}

#[test]
fn events_stream_reports_oom_and_ends_with_the_container() {
    let id = format!("oom-{}", std::process::id());
    let mut cfg = config(
        &id,
        &[
            "sh",
            "-c",
            "sleep 1; busybox dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 1",
        ],
    );
    let mut mem = json!({"limit": 16 << 20});
    if std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        mem["swap"] = json!(16 << 20);
    }
    cfg["linux"]["resources"] = json!({ "memory": mem });
    let env = Env::new(&cfg);
    start_bg(&env, &id);
    let o = env.rt(&["events", "--interval", "200ms", &id]);
    assert!(o.status.success(), "events: {}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().filter(|e| e["type"] == "stats").count() >= 3,
        "stats every 200ms over ~2s: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|e| e["type"] == "oom" && e["id"] == id.as_str()),
        "an oom event: {lines:?}"
    );
    let o = env.rt(&["delete", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_no_leaks(&env, &id, &id);
}

#[test]
fn checkpoint_restore_refused_clearly() {
    let env = Env::new(&config("cr", &["true"]));
    for cmd in [
        &["checkpoint", "--image-path", "/tmp/x", "cr"][..],
        &["restore", "--image-path", "/tmp/x", "--bundle", ".", "cr"][..],
    ] {
        let o = env.rt(cmd);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("not supported"), "{}", stderr(&o));
        assert!(stderr(&o).contains("CRIU"), "{}", stderr(&o));
    }
}
