//! Stress: 200 containers created, started, killed and deleted, 8 at a time, and
//! nothing left behind — host mounts, cgroups, processes, network devices, fds of
//! the driving process and state entries are counted before and after.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

mod common;

use std::path::Path;

use common::*;

const TOTAL: usize = 200;
const PARALLEL: usize = 8;

#[derive(Debug, PartialEq, Eq)]
struct Counts {
    mounts: usize,
    cgroup_dirs: usize,
    stress_cgroup_dirs: usize,
    marked_procs: usize,
    zombies: usize,
    net_devices: usize,
    own_fds: usize,
    state_entries: usize,
}

fn count_dirs(p: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| 1 + count_dirs(&e.path()))
        .sum()
}

fn counts(root: &Path, parent: &str, marker: &str) -> Counts {
    let mut cgroup_dirs = 0;
    let mut stress_cgroup_dirs = 0;
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        cgroup_dirs += count_dirs(&h.path());
        let p = h.path().join(parent);
        if p.exists() {
            stress_cgroup_dirs += 1 + count_dirs(&p);
        }
    }
    let me = std::process::id().to_string();
    let mut marked_procs = 0;
    let mut zombies = 0;
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = p.file_name().to_string_lossy().to_string();
        if name.parse::<u32>().is_err() {
            continue;
        }
        if let Ok(c) = std::fs::read(p.path().join("cmdline")) {
            if String::from_utf8_lossy(&c).contains(marker) {
                marked_procs += 1;
            }
        }
        if let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) {
            // "pid (comm) S ppid ...": state and parent after the last ')'
            let rest: Vec<&str> = stat
                .rsplit_once(')')
                .map_or("", |r| r.1)
                .split_whitespace()
                .collect();
            if rest.first() == Some(&"Z") && rest.get(1) == Some(&me.as_str()) {
                zombies += 1;
            }
        }
    }
    Counts {
        mounts: std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .count(),
        cgroup_dirs,
        stress_cgroup_dirs,
        marked_procs,
        zombies,
        net_devices: std::fs::read_dir("/sys/class/net").unwrap().count(),
        own_fds: std::fs::read_dir("/proc/self/fd").unwrap().count(),
        state_entries: std::fs::read_dir(root).map_or(0, Iterator::count),
    }
}

#[test]
fn two_hundred_containers_eight_at_a_time_leave_nothing() {
    let marker = format!("caisson-stress-{}", std::process::id());
    let parent = format!("caisson-stress-{}", std::process::id());
    let cfg = config(
        "unused",
        &["sh", "-c", "while :; do sleep 1; done", &marker],
    );
    let env = Env::new(&cfg);
    std::fs::create_dir_all(&env.root).unwrap();
    let before = counts(&env.root, &parent, &marker);
    eprintln!("before: {before:?}");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let init_fds = std::sync::Mutex::new(Vec::new());
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= TOTAL {
                    break;
                }
                let id = format!("s{i}");
                let bundle = env.tmp.path().join(format!("b{i}"));
                std::fs::create_dir_all(&bundle).unwrap();
                let mut c = cfg.clone();
                c["root"]["path"] = serde_json::json!(env.bundle.join("rootfs"));
                c["linux"]["cgroupsPath"] = serde_json::json!(format!("/{parent}/{id}"));
                std::fs::write(bundle.join("config.json"), serde_json::to_vec(&c).unwrap())
                    .unwrap();
                let b = bundle.to_str().unwrap();
                let o = env.rt(&["create", "--bundle", b, &id]);
                assert!(o.status.success(), "create {id}: {}", stderr(&o));
                let o = env.rt(&["start", &id]);
                assert!(o.status.success(), "start {id}: {}", stderr(&o));
                let st = env.state(&id).expect("state");
                assert_eq!(st["status"], "running", "{id}");
                let pid = st["pid"].as_i64().unwrap();
                if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                    init_fds.lock().unwrap().push(rd.count());
                }
                let o = env.rt(&["kill", &id, "KILL"]);
                assert!(o.status.success(), "kill {id}: {}", stderr(&o));
                assert!(
                    wait_until(10, || env
                        .state(&id)
                        .is_some_and(|s| s["status"] == "stopped")),
                    "{id} did not stop after SIGKILL"
                );
                let o = env.rt(&["delete", &id]);
                assert!(o.status.success(), "delete {id}: {}", stderr(&o));
            });
        }
    });
    let took = t0.elapsed();
    // the per-test parent cgroup is ours to remove (empty now)
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(h.path().join(&parent));
    }
    let after = counts(&env.root, &parent, &marker);
    eprintln!("after:  {after:?}");
    let fds = init_fds.into_inner().unwrap();
    eprintln!(
        "{TOTAL} containers, {PARALLEL} at a time, in {:.2} s ({:.1} ms each); container init fds: {:?}",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / TOTAL as f64,
        fds.iter().collect::<std::collections::BTreeSet<_>>()
    );
    assert_eq!(fds.len(), TOTAL);
    assert!(
        fds.iter().all(|&n| n == 3),
        "a container init had more than stdio open: {fds:?}"
    );
    assert_eq!(after.stress_cgroup_dirs, 0, "cgroups left");
    assert_eq!(after.marked_procs, 0, "container processes left");
    assert_eq!(after.zombies, 0, "unreaped children");
    assert_eq!(after.state_entries, 0, "state entries left");
    assert_eq!(
        after,
        Counts {
            stress_cgroup_dirs: 0,
            ..before
        },
        "host resources changed"
    );
}
