//! caisson-runtime as the OCI runtime of real clients from Debian's packages:
//! podman 4.3 (each case run with caisson-runtime and with crun, same observable
//! result), containerd 1.6 through `ctr` and the runc shim, and Docker 20.10.
//!
//! Needs the peers of `../shared/peers/peers.sh` installed and its registry running
//! with the busybox image pushed (`scripts/test.sh` does both). Missing peers fail
//! these tests loudly. Every runtime invocation is recorded by an argv-logging
//! wrapper; the logs land in `target/client-argv/` and no invocation may have been
//! rejected as a usage error.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const IMAGE: &str = "127.0.0.1:5000/busybox:latest";

fn shared() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    assert!(
        p.join("peers/peers.sh").exists(),
        "{}/peers/peers.sh is missing: these tests need the project's ../shared directory",
        p.display()
    );
    p.canonicalize().unwrap()
}

fn peers(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(shared().join("peers/peers.sh"))
        .args(args)
        .output()
        .expect("run peers.sh");
    assert!(
        out.status.success(),
        "peers.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn require(cmd: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{cmd} is not installed: run `bash ../shared/peers/peers.sh install` (scripts/test.sh does)"
    );
}

fn registry_up() {
    let ok = Command::new("curl")
        .args(["-fsS", "http://127.0.0.1:5000/v2/busybox/tags/list"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the local registry with busybox is not up: run `peers.sh registry start && peers.sh images` (scripts/test.sh does)"
    );
}

/// Output of a command run with a deadline (stdout/stderr through files: daemons a
/// client starts may inherit them).
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command, secs: u64) -> Out {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let end = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Out {
        code: status.code(),
        stdout: read(out),
        stderr: read(err),
    }
}

/// An argv-recording wrapper around the runtime under test.
fn recording_wrapper(dir: &Path, client: &str) -> (PathBuf, PathBuf) {
    let log = dir.join(format!("{client}-argv.log"));
    let wrapper = dir.join(format!("caisson-runtime-{client}"));
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\"{bin}\" \"$@\"\nrc=$?\nprintf 'rc=%s %s\\n' \"$rc\" \"$*\" >> \"{log}\"\nexit $rc\n",
            bin = env!("CARGO_BIN_EXE_caisson-runtime"),
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    (wrapper, log)
}

/// Keep the recorded argv (for docs/clients.md) and check no call was a usage
/// error (clap exits 2 on an unknown flag or command).
fn check_argv(log: &Path, client: &str) -> String {
    let text = std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("{client} never called the runtime ({}: {e})", log.display()));
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/client-argv");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join(format!("{client}.log")), &text).unwrap();
    for l in text.lines() {
        assert!(
            !l.starts_with("rc=2 "),
            "{client} passed something we reject: {l}"
        );
    }
    text
}

// ───────────────────────────── podman ─────────────────────────────

struct Podman {
    env: Vec<(String, String)>,
    netns: Option<String>,
}

impl Podman {
    fn cmd(&self, runtime: &str, args: &[&str]) -> Command {
        let mut c = if let Some(ns) = &self.netns {
            // only the network namespace changes (`ip netns exec` would also
            // remount /sys, hiding the cgroup hierarchies)
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{ns}")).arg("podman");
            c
        } else {
            Command::new("podman")
        };
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c.arg("--runtime").arg(runtime).args(args);
        c
    }

    fn ok(&self, runtime: &str, args: &[&str]) -> String {
        let o = run(&mut self.cmd(runtime, args), 120);
        assert_eq!(
            o.code,
            Some(0),
            "podman --runtime {runtime} {args:?} failed:\n{}\n{}",
            o.stdout,
            o.stderr
        );
        o.stdout
    }

    fn podman_env(wrapper: &Path) -> Vec<(String, String)> {
        let exports = peers(&["podman-env", &format!("caisson={}", wrapper.display())]);
        exports
            .trim()
            .trim_start_matches("export ")
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// One podman case, run with both runtimes; `check` asserts on caisson's output
/// and the normalised outputs must be equal.
fn case(p: &Podman, name: &str, args: &[&str], norm: fn(&str) -> String, check: &dyn Fn(&str)) {
    let ours = p.ok("caisson", args);
    let theirs = p.ok("crun", args);
    check(&ours);
    assert_eq!(
        norm(&ours),
        norm(&theirs),
        "{name}: caisson-runtime and crun differ\ncaisson: {ours}\ncrun:    {theirs}"
    );
    eprintln!(
        "podman {name}: same result as crun: {}",
        ours.trim().replace('\n', " | ")
    );
}

fn same(s: &str) -> String {
    s.trim().to_string()
}

fn subuid_for_containers() {
    // --userns=auto takes ranges from the "containers" user in /etc/sub[ug]id.
    for f in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        if !text.lines().any(|l| l.starts_with("containers:")) {
            use std::io::Write;
            let mut fh = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(f)
                .unwrap();
            writeln!(fh, "containers:2147483647:2147483648").unwrap();
        }
    }
}

#[test]
fn podman_matrix_same_as_crun() {
    require("podman");
    require("crun");
    require("script");
    registry_up();
    subuid_for_containers();
    let tmp = tempfile::Builder::new()
        .prefix("caisson-podman-")
        .tempdir()
        .unwrap();
    let (wrapper, log) = recording_wrapper(tmp.path(), "podman");
    let p = Podman {
        env: Podman::podman_env(&wrapper),
        netns: None,
    };
    let o = run(
        p.cmd("caisson", &["pull", "-q", IMAGE])
            .arg("--tls-verify=false"),
        120,
    );
    assert_eq!(o.code, Some(0), "podman pull: {}", o.stderr);

    case(
        &p,
        "run --rm",
        &["run", "--rm", IMAGE, "echo", "hello"],
        same,
        &|o| {
            assert_eq!(o.trim(), "hello");
        },
    );
    case(
        &p,
        "--memory",
        &[
            "run",
            "--rm",
            "--memory",
            "64m",
            IMAGE,
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ],
        same,
        &|o| assert_eq!(o.trim(), "67108864"),
    );
    case(
        &p,
        "--pids-limit",
        &[
            "run",
            "--rm",
            "--pids-limit",
            "33",
            IMAGE,
            "cat",
            "/sys/fs/cgroup/pids/pids.max",
        ],
        same,
        &|o| assert_eq!(o.trim(), "33"),
    );
    case(
        &p,
        "--cpus",
        &[
            "run",
            "--rm",
            "--cpus",
            "1.5",
            IMAGE,
            "sh",
            "-c",
            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us",
        ],
        same,
        &|o| {
            assert_eq!(
                o.split_whitespace().collect::<Vec<_>>(),
                ["150000", "100000"]
            )
        },
    );
    case(
        &p,
        "--cap-drop ALL --cap-add NET_BIND_SERVICE",
        &[
            "run",
            "--rm",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "NET_BIND_SERVICE",
            IMAGE,
            "grep",
            "Cap",
            "/proc/self/status",
        ],
        same,
        &|o| {
            assert!(o.contains("CapEff:\t0000000000000400"), "{o}");
            assert!(o.contains("CapBnd:\t0000000000000400"), "{o}");
        },
    );
    case(
        &p,
        "--read-only",
        &[
            "run",
            "--rm",
            "--read-only",
            IMAGE,
            "sh",
            "-c",
            "touch /x 2>&1; echo rc=$?; touch /tmp/y && echo tmp-ok",
        ],
        same,
        &|o| {
            assert!(o.contains("Read-only file system"), "{o}");
            assert!(o.contains("rc=1") && o.contains("tmp-ok"), "{o}");
        },
    );
    let profile = tmp.path().join("seccomp.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();
    let seccomp = format!("seccomp={}", profile.display());
    case(
        &p,
        "--security-opt seccomp=<profile>",
        &[
            "run",
            "--rm",
            "--security-opt",
            &seccomp,
            IMAGE,
            "sh",
            "-c",
            "mkdir /tmp/d 2>&1; grep Seccomp: /proc/self/status",
        ],
        same,
        &|o| {
            assert!(o.contains("Operation not permitted"), "{o}");
            assert!(o.contains("Seccomp:\t2"), "{o}");
        },
    );
    case(
        &p,
        "--user 1000:1000",
        &["run", "--rm", "--user", "1000:1000", IMAGE, "id"],
        same,
        &|o| {
            assert_eq!(o.trim(), "uid=1000(1000) gid=1000(1000) groups=1000(1000)");
        },
    );
    case(
        &p,
        "--userns=auto",
        &[
            "run",
            "--rm",
            "--userns=auto",
            IMAGE,
            "sh",
            "-c",
            "cat /proc/self/uid_map; id -u; touch /root/f && stat -c %u /root/f",
        ],
        |s| {
            // the host range podman picks may differ per run: keep inside id and size
            s.lines()
                .map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    if f.len() == 3 {
                        format!("{} _ {}", f[0], f[2])
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
        &|o| {
            let f: Vec<u64> = o
                .lines()
                .next()
                .unwrap()
                .split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect();
            assert_eq!(f[0], 0, "{o}");
            assert!(
                f[1] >= 2_147_483_647,
                "root maps to the containers range: {o}"
            );
            assert!(o.lines().nth(1) == Some("0"), "{o}");
        },
    );
    case(
        &p,
        "--network none",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "ip -o link | cut -d: -f2,3; ping -c1 -W1 127.0.0.1 >/dev/null && echo lo-works",
        ],
        same,
        &|o| {
            assert!(o.contains("lo: <LOOPBACK,UP,LOWER_UP>"), "{o}");
            assert!(!o.contains("eth0"), "{o}");
            assert!(o.contains("lo-works"), "{o}");
        },
    );
    // -it: a real terminal (script(1) gives podman one). The short sleep: podman
    // 4.3 attaches to conmon's terminal after `start`, so output written in the
    // first instant can be lost with any runtime (seen with crun too).
    for rt in ["caisson", "crun"] {
        let mut c = Command::new("script");
        let line = format!(
            "podman --runtime {rt} run --rm -it {IMAGE} sh -c 'sleep 0.5; tty; test -t 0 && echo stdin-tty; exit 7'"
        );
        c.args(["-qec", &line, "/dev/null"]);
        c.envs(p.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let o = run(&mut c, 60);
        assert_eq!(
            o.code,
            Some(7),
            "run -it with {rt}: {} {}",
            o.stdout,
            o.stderr
        );
        assert!(
            o.stdout.contains("/dev/pts/0") && o.stdout.contains("stdin-tty"),
            "{rt}: {}",
            o.stdout
        );
        eprintln!(
            "podman run -it with {rt}: exit 7, {}",
            o.stdout.trim().replace("\r\n", " | ")
        );
    }
    // -d + exec + logs + stop, kill, pause/unpause
    for rt in ["caisson", "crun"] {
        let name = format!("caisson-it-{rt}-{}", std::process::id());
        p.ok(
            rt,
            &[
                "run",
                "-d",
                "--name",
                &name,
                IMAGE,
                "sh",
                "-c",
                "trap 'echo got-term; exit 0' TERM; echo started; while :; do sleep 0.1; done",
            ],
        );
        assert_eq!(
            p.ok(rt, &["exec", &name, "sh", "-c", "echo $((6*7))"])
                .trim(),
            "42"
        );
        let st = |p: &Podman| {
            p.ok(rt, &["inspect", "--format", "{{.State.Status}}", &name])
                .trim()
                .to_string()
        };
        p.ok(rt, &["pause", &name]);
        assert_eq!(st(&p), "paused", "{rt}");
        p.ok(rt, &["unpause", &name]);
        assert_eq!(st(&p), "running", "{rt}");
        // exec -it into it
        let mut c = Command::new("script");
        let line = format!("podman --runtime {rt} exec -it {name} sh -c 'sleep 0.5; tty; exit 4'");
        c.args(["-qec", &line, "/dev/null"]);
        c.envs(p.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let o = run(&mut c, 60);
        assert_eq!(
            o.code,
            Some(4),
            "exec -it with {rt}: {} {}",
            o.stdout,
            o.stderr
        );
        assert!(o.stdout.contains("/dev/pts/"), "{}", o.stdout);
        p.ok(rt, &["stop", "-t", "10", &name]);
        assert_eq!(st(&p), "exited", "{rt}");
        let code = p.ok(rt, &["inspect", "--format", "{{.State.ExitCode}}", &name]);
        assert_eq!(code.trim(), "0", "{rt}: the TERM trap ran");
        let logs = p.ok(rt, &["logs", &name]);
        assert_eq!(
            logs.lines().collect::<Vec<_>>(),
            ["started", "got-term"],
            "{rt}"
        );
        p.ok(rt, &["rm", &name]);
        // kill
        p.ok(rt, &["run", "-d", "--name", &name, IMAGE, "sleep", "1000"]);
        p.ok(rt, &["kill", &name]);
        assert!(
            common_wait(10, || p
                .ok(rt, &["inspect", "--format", "{{.State.Status}}", &name])
                .trim()
                == "exited"),
            "{rt}: kill stops it"
        );
        let code = p.ok(rt, &["inspect", "--format", "{{.State.ExitCode}}", &name]);
        assert_eq!(code.trim(), "137", "{rt}: SIGKILL");
        p.ok(rt, &["rm", &name]);
        eprintln!("podman -d/exec/exec -it/pause/unpause/stop/logs/kill with {rt}: ok");
    }
    // the default bridge, inside a network namespace of our own (its bridge,
    // addresses and firewall rules never touch the host's network)
    let ns = format!("caisson-podman-{}", std::process::id());
    assert!(Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap()
        .success());
    let pb = Podman {
        env: p.env.clone(),
        netns: Some(ns.clone()),
    };
    let bridge = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        case(
            &pb,
            "default bridge",
            &["run", "--rm", "--network", "bridge", IMAGE, "sh", "-c", "ip -o -4 addr show eth0 | cut -d' ' -f7 | cut -d. -f1,2; ip route | grep default | cut -d' ' -f1-3"],
            same,
            &|o| {
                assert!(o.contains("10.88"), "{o}");
                assert!(o.contains("default via 10.88.0.1"), "{o}");
            },
        );
    }));
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    if let Err(e) = bridge {
        std::panic::resume_unwind(e);
    }
    let argv = check_argv(&log, "podman");
    for needed in [
        "create --bundle",
        "start ",
        "exec ",
        "--console-socket",
        "pause ",
        "resume ",
        "kill ",
        "delete --force",
    ] {
        assert!(
            argv.contains(needed),
            "podman should have called `{needed}`:\n{argv}"
        );
    }
}

fn common_wait(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

// ─────────────────────── containerd and Docker ───────────────────────

#[test]
fn containerd_and_docker() {
    require("containerd");
    require("ctr");
    require("dockerd");
    registry_up();
    let tmp = tempfile::Builder::new()
        .prefix("caisson-ctrd-")
        .tempdir()
        .unwrap();
    let (wrapper, log) = recording_wrapper(tmp.path(), "containerd");
    peers(&["containerd", "start"]);
    let sock = "/tmp/caisson-peers/containerd/containerd.sock";
    let ctr = |args: &[&str]| {
        let mut c = Command::new("ctr");
        c.args(["--address", sock]).args(args);
        c
    };
    let ok = |args: &[&str]| {
        let o = run(&mut ctr(args), 120);
        assert_eq!(o.code, Some(0), "ctr {args:?}: {}\n{}", o.stdout, o.stderr);
        o.stdout
    };
    ok(&["image", "pull", "--plain-http", IMAGE]);
    let id = format!("caisson-ctr-{}", std::process::id());
    let w = wrapper.to_str().unwrap();
    let out = ok(&[
        "run",
        "--rm",
        "--runc-binary",
        w,
        IMAGE,
        &id,
        "sh",
        "-c",
        "echo hello-from-ctr",
    ]);
    assert_eq!(out.trim(), "hello-from-ctr");
    ok(&["run", "-d", "--runc-binary", w, IMAGE, &id, "sleep", "600"]);
    let out = ok(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo exec-$((6*7)); cat /proc/1/cmdline",
    ]);
    assert!(out.contains("exec-42") && out.contains("sleep"), "{out}");
    ok(&["task", "pause", &id]);
    assert!(ok(&["task", "ls"])
        .lines()
        .any(|l| l.contains(&id) && l.contains("PAUSED")));
    ok(&["task", "resume", &id]);
    assert!(ok(&["task", "ls"])
        .lines()
        .any(|l| l.contains(&id) && l.contains("RUNNING")));
    ok(&["task", "kill", "-s", "KILL", &id]);
    assert!(common_wait(10, || ok(&["task", "ls"])
        .lines()
        .any(|l| l.contains(&id) && l.contains("STOPPED"))));
    ok(&["task", "delete", &id]);
    ok(&["container", "delete", &id]);
    assert!(!ok(&["container", "ls", "-q"]).contains(&id));
    let argv = check_argv(&log, "containerd");
    for needed in [
        "--log-format json create --bundle",
        " start ",
        " exec ",
        " pause ",
        " resume ",
        " kill ",
        " delete ",
    ] {
        assert!(
            argv.contains(needed),
            "containerd should have called `{needed}`:\n{argv}"
        );
    }
    eprintln!("containerd/ctr: run --rm, run -d, task exec, pause, resume, kill, delete: ok");

    // Docker, on top of that containerd
    let (dwrapper, dlog) = recording_wrapper(tmp.path(), "docker");
    // a dockerd peers.sh started earlier would not know our runtime: restart it
    peers(&["dockerd", "stop"]);
    let out = Command::new("bash")
        .arg(shared().join("peers/peers.sh"))
        .args(["dockerd", "start"])
        .env("DOCKER_RUNTIMES", format!("caisson={}", dwrapper.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dockerd could not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.args(["-H", "unix:///tmp/caisson-peers/docker/docker.sock"])
            .args(args);
        let o = run(&mut c, 120);
        assert_eq!(
            o.code,
            Some(0),
            "docker {args:?}: {}\n{}",
            o.stdout,
            o.stderr
        );
        o.stdout
    };
    let name = format!("caisson-docker-{}", std::process::id());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let out = docker(&[
            "run",
            "--runtime",
            "caisson",
            "--rm",
            IMAGE,
            "echo",
            "hello-from-docker",
        ]);
        assert_eq!(out.trim(), "hello-from-docker");
        docker(&[
            "run",
            "--runtime",
            "caisson",
            "-d",
            "--name",
            &name,
            IMAGE,
            "sleep",
            "600",
        ]);
        let out = docker(&["exec", &name, "sh", "-c", "echo exec-$((6*7))"]);
        assert_eq!(out.trim(), "exec-42");
        docker(&["pause", &name]);
        assert_eq!(
            docker(&["inspect", "--format", "{{.State.Status}}", &name]).trim(),
            "paused"
        );
        docker(&["unpause", &name]);
        docker(&["update", "--memory", "48m", "--memory-swap", "96m", &name]);
        let out = docker(&[
            "exec",
            &name,
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ]);
        assert_eq!(
            out.trim(),
            (48u64 << 20).to_string(),
            "docker update reached the cgroup"
        );
        docker(&["rm", "-f", &name]);
    }));
    let _ = Command::new("docker")
        .args([
            "-H",
            "unix:///tmp/caisson-peers/docker/docker.sock",
            "rm",
            "-f",
            &name,
        ])
        .output();
    peers(&["dockerd", "stop"]);
    peers(&["containerd", "stop"]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    let argv = check_argv(&dlog, "docker");
    for needed in [
        "create --bundle",
        " exec ",
        " pause ",
        " update ",
        " delete ",
    ] {
        assert!(
            argv.contains(needed),
            "docker should have called `{needed}`:\n{argv}"
        );
    }
    eprintln!("docker: run --rm, run -d, exec, pause, unpause, update, rm -f: ok");
}

// ───────────────────── the runtime's policy gate under podman ─────────────────────

/// Podman's environment from `peers.sh podman-env` with a `PEERS_DIR` of the test's
/// own: its containers.conf, storage and state are private. (`Podman::podman_env`
/// rewrites the shared containers.conf, whose `caisson` runtime
/// podman_matrix_same_as_crun may be using at the same moment: pointing it at a
/// policy wrapper would deny that test's containers.)
fn private_podman_env(dir: &Path, wrapper: &Path) -> Vec<(String, String)> {
    let out = Command::new("bash")
        .arg(shared().join("peers/peers.sh"))
        .args(["podman-env", &format!("caisson={}", wrapper.display())])
        .env("PEERS_DIR", dir)
        .output()
        .expect("run peers.sh");
    assert!(
        out.status.success(),
        "peers.sh podman-env failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("export ")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `podman system reset` of a private podman when dropped: removes its containers
/// and images and unmounts its storage, so its directory can go.
struct PodmanReset(Vec<(String, String)>);

impl Drop for PodmanReset {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .envs(self.0.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["system", "reset", "--force"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn podman_gets_the_runtime_policy_gate() {
    require("podman");
    registry_up();
    let tmp = tempfile::Builder::new()
        .prefix("caisson-podman-gate-")
        .tempdir()
        .unwrap();
    let policy = tmp.path().join("policy.yaml");
    let dlog = tmp.path().join("d.log");
    std::fs::write(
        &policy,
        format!("sets: [pss-baseline]\ndecision_log: {}\n", dlog.display()),
    )
    .unwrap();
    // Named `caisson`: podman passes --log-format=json to the runtimes named in
    // runtime_supports_json (peers.sh lists the names it is given), and reads the
    // runtime's error from that log.
    let wrapper = tmp.path().join("caisson");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexport CAISSON_POLICY=\"{policy}\"\nexec \"{bin}\" \"$@\"\n",
            policy = policy.display(),
            bin = env!("CARGO_BIN_EXE_caisson-runtime"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let env = private_podman_env(&tmp.path().join("peers"), &wrapper);
    let _reset = PodmanReset(env.clone());
    let p = Podman { env, netns: None };
    let rt = wrapper.to_str().unwrap();
    let o = run(
        p.cmd(rt, &["pull", "-q", IMAGE]).arg("--tls-verify=false"),
        120,
    );
    assert_eq!(o.code, Some(0), "podman pull: {}", o.stderr);

    // Allowed. (--network none: peers.sh's containers.conf makes the host's network
    // podman's default here, which pss-baseline denies as --network host below.)
    let out = p.ok(
        rt,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "echo",
            "gated-ok",
        ],
    );
    assert_eq!(out.trim(), "gated-ok");

    let tag = format!("caisson-gate-{}", std::process::id());
    let mut names = Vec::new();
    for (i, (flags, rule)) in [
        (
            &["--network", "none", "--privileged"][..],
            "pss-baseline/privileged",
        ),
        (&["--network", "host"][..], "pss-baseline/host-namespaces"),
        (
            &["--network", "none", "--cap-add", "SYS_ADMIN"][..],
            "pss-baseline/capabilities",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("{tag}-{i}");
        let mut args = vec!["run", "--rm", "--name", &name];
        args.extend(flags);
        args.extend([IMAGE, "true"]);
        let o = run(&mut p.cmd(rt, &args), 120);
        assert_ne!(o.code, Some(0), "{flags:?} must be denied: {}", o.stdout);
        assert!(
            o.stderr.contains("policy denied container") && o.stderr.contains(&format!("[{rule}]")),
            "{flags:?}: podman's stderr should name [{rule}]: {}",
            o.stderr
        );
        eprintln!(
            "podman run {flags:?} with the gate: exit {:?}, {}",
            o.code,
            o.stderr
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(160)
                .collect::<String>()
        );
        names.push(name);
    }
    let ps = |p: &Podman| p.ok(rt, &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    let listed = ps(&p);
    for n in &names {
        assert!(
            !listed.contains(n.as_str()),
            "--rm: podman kept {n} after the denial:\n{listed}"
        );
    }
    // Without --rm, podman keeps the record of a container whose runtime create
    // failed (state "created"); it must be removable.
    let kept = format!("{tag}-kept");
    let o = run(
        &mut p.cmd(
            rt,
            &[
                "run",
                "--name",
                &kept,
                "--network",
                "none",
                "--privileged",
                IMAGE,
                "true",
            ],
        ),
        120,
    );
    assert_ne!(o.code, Some(0));
    assert!(
        o.stderr.contains("[pss-baseline/privileged]"),
        "{}",
        o.stderr
    );
    let listed = ps(&p);
    if let Some(l) = listed.lines().find(|l| l.starts_with(&kept)) {
        eprintln!("podman without --rm keeps the denied container: {l}");
        assert!(l.contains("Created"), "{l}");
        p.ok(rt, &["rm", &kept]);
    }
    let listed = ps(&p);
    assert!(
        !listed.contains(&tag),
        "leftover containers of these runs:\n{listed}"
    );

    // The decision log: one line per create, allow and deny; a denied container
    // left no runtime state behind.
    let text = std::fs::read_to_string(&dlog).expect("the runtime wrote its decision log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().all(|l| l["entry"] == "runtime"), "{text}");
    let results: Vec<&str> = lines
        .iter()
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["allow", "deny", "deny", "deny", "deny"], "{text}");
    for l in &lines {
        assert!(l["input_digest"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(l["object"]["source"], "oci");
        if l["result"] == "deny" {
            let id = l["object"]["name"].as_str().unwrap();
            assert!(
                !Path::new("/run/caisson").join(id).exists(),
                "runtime state left for denied container {id}"
            );
        }
    }
    let rules: Vec<&str> = lines[1..]
        .iter()
        .flat_map(|l| l["violations"].as_array().unwrap())
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    for r in [
        "pss-baseline/privileged",
        "pss-baseline/host-namespaces",
        "pss-baseline/capabilities",
    ] {
        assert!(rules.contains(&r), "{r} in {rules:?}");
    }
}
