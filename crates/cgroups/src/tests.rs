//! Real-kernel tests of the cgroup v2 manager, on this host's cgroup2 mount (a hybrid
//! host's `/sys/fs/cgroup/unified` is driven as if it were a unified host's only
//! hierarchy). They need root and a cgroup2 mount; without one they fail.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use oci_spec::runtime::LinuxResources;

use crate::fs::Manager;
use crate::{bpf, mounts, CgroupManager, CgroupSetup};

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn rm_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for d in rd.flatten() {
            if d.file_type().is_ok_and(|t| t.is_dir()) {
                rm_tree(&d.path());
            }
        }
    }
    for _ in 0..100 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Kills the children and removes the test's directory even when the test fails.
struct Guard {
    children: Vec<Child>,
    top: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        rm_tree(&self.top);
    }
}

/// A unified-layout manager for `<cgroup2 mount>/caisson-unit-<test>-<pid>/c`.
fn v2_manager(test: &str) -> (Manager, Guard) {
    let h = mounts::hierarchies()
        .unwrap()
        .into_iter()
        .find(|h| h.v2)
        .expect("these tests need a cgroup2 mount (a unified or hybrid host)");
    let top = PathBuf::from(format!("caisson-unit-{test}-{}", std::process::id()));
    let guard = Guard {
        children: Vec::new(),
        top: h.mount.join(&top),
    };
    let m = Manager::new(CgroupSetup::Unified, vec![(h, top.join("c"))], false, false);
    (m, guard)
}

const DEVICE_PROBE: &str = r#"read x
r=""
[ "$(head -c1 /dev/zero | wc -c)" = 1 ] && r="$r zero-r"
(echo x > /dev/zero) && r="$r zero-w"
(cat /dev/null) && r="$r null-r"
(echo x > /dev/null) && r="$r null-w"
(exec 3<>/dev/null) && r="$r null-rw"
[ "$(head -c1 /dev/urandom | wc -c)" = 1 ] && r="$r urandom-r"
echo "result:$r"
"#;

/// A shell that waits for a line on stdin, then reports which device accesses work.
/// (Dropped before it is sent the line, its stdin closes and it exits.)
fn probe() -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(DEVICE_PROBE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn probe_result(mut c: Child) -> String {
    c.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = c.wait_with_output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    s.lines()
        .find_map(|l| l.strip_prefix("result:"))
        .unwrap_or_else(|| panic!("no result: {s} / {}", String::from_utf8_lossy(&out.stderr)))
        .to_string()
}

fn pid_of(c: &Child) -> i32 {
    i32::try_from(c.id()).unwrap()
}

fn attached(dir: &Path) -> usize {
    let f = std::fs::File::open(dir).unwrap();
    bpf::query(f.as_fd()).unwrap().len()
}

#[test]
fn v2_device_program_is_enforced_and_replaced_by_a_new_set() {
    let (m, _g) = v2_manager("bpf");
    let dir = m.entries[0].dir.clone();
    let sh = probe();
    let pid = pid_of(&sh);
    m.apply(pid).unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.lines()
            .any(|l| l == format!("0::{}", m.path().display())),
        "{cg}"
    );
    m.set(&resources(
        r#"{"devices":[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":5,"access":"r"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
            {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]}"#,
    ))
    .unwrap();
    assert_eq!(attached(&dir), 1);
    // read-write open of /dev/null is refused: its write bit is denied
    assert_eq!(probe_result(sh), " zero-r null-r");

    // a second set replaces the program: looser rules take effect
    let sh = probe();
    m.apply(pid_of(&sh)).unwrap();
    m.set(&resources(
        r#"{"devices":[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":5,"access":"r"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#,
    ))
    .unwrap();
    assert_eq!(attached(&dir), 1);
    assert_eq!(probe_result(sh), " zero-r null-r null-w null-rw");

    m.remove().unwrap();
    assert!(!dir.exists());
}

#[test]
fn v2_apply_freeze_pids_hugetlb_unified_and_remove() {
    let (m, mut g) = v2_manager("misc");
    let dir = m.entries[0].dir.clone();
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = pid_of(&child);
    g.children.push(child);
    m.apply(pid).unwrap();
    assert_eq!(m.pids().unwrap(), vec![pid]);

    // the controllers of the root were delegated down to the container's cgroup
    let root = std::fs::read_to_string(m.entries[0].h.mount.join("cgroup.controllers")).unwrap();
    let mine = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap();
    assert_eq!(
        root.split_whitespace().count(),
        mine.split_whitespace().count(),
        "{root} / {mine}"
    );

    // freezing waits for the kernel to report it
    m.freeze(true).unwrap();
    let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap();
    assert!(events.lines().any(|l| l == "frozen 1"), "{events}");
    m.freeze(false).unwrap();
    let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap();
    assert!(events.lines().any(|l| l == "frozen 0"), "{events}");

    // hugetlb.<size>.max (and its reservation twin)
    if m.entries[0].h.has("hugetlb") {
        m.set(&resources(
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
        ))
        .unwrap();
        let max = std::fs::read_to_string(dir.join("hugetlb.2MB.max")).unwrap();
        assert_eq!(max.trim(), "4194304");
        if dir.join("hugetlb.2MB.rsvd.max").exists() {
            let r = std::fs::read_to_string(dir.join("hugetlb.2MB.rsvd.max")).unwrap();
            assert_eq!(r.trim(), "4194304");
        }
        m.set(&resources(
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":-1}]}"#,
        ))
        .unwrap();
        let max = std::fs::read_to_string(dir.join("hugetlb.2MB.max")).unwrap();
        assert_eq!(max.trim(), "max");
    } else {
        // a resource for a controller the host lacks is an error naming the field
        let e = m
            .set(&resources(
                r#"{"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#,
            ))
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.resources.hugepageLimits"), "{e}");
    }

    // unified keys are written verbatim
    m.set(&resources(r#"{"unified":{"cgroup.max.depth":"3"}}"#))
        .unwrap();
    let v = std::fs::read_to_string(dir.join("cgroup.max.depth")).unwrap();
    assert_eq!(v.trim(), "3");
    let e = m
        .set(&resources(r#"{"unified":{"memory.nonexistent":"1"}}"#))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux.resources.unified.memory.nonexistent"),
        "{e}"
    );

    // a cgroup the container made below its own: its pids count, and it is removed
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("cgroup.procs"), pid.to_string()).unwrap();
    assert_eq!(m.pids().unwrap(), vec![pid]);

    // remove retries while the task exits, then the directories are gone
    let mut child = g.children.pop().unwrap();
    child.kill().unwrap();
    m.remove().unwrap();
    child.wait().unwrap();
    assert!(!sub.exists() && !dir.exists());
    m.remove().unwrap();
    assert_eq!(m.pids().unwrap(), Vec::<i32>::new());
}

#[test]
fn v2_frozen_stats_and_oom_watcher_on_the_cgroup2_mount() {
    let (m, mut g) = v2_manager("stats");
    let dir = m.entries[0].dir.clone();
    // (stdin piped: if the test fails before the line is sent, its stdin closes)
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read x; while :; do :; done")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = pid_of(&child);
    let mut stdin = child.stdin.take().unwrap();
    g.children.push(child);
    m.apply(pid).unwrap();
    stdin.write_all(b"go\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));

    let s = m.stats().unwrap();
    // cpu.stat and cgroup.procs are core files: read with or without controllers
    assert!(s.cpu.usage.total > 0, "{s:?}");
    assert!(s.cpu.usage.user + s.cpu.usage.kernel > 0, "{s:?}");
    assert_eq!(s.pids.current, 1, "{s:?}");
    // hugetlb statistics exactly when the controller's files are there
    assert_eq!(
        s.hugetlb.contains_key("2MB"),
        dir.join("hugetlb.2MB.current").exists(),
        "{s:?}"
    );

    assert!(!m.frozen().unwrap());
    m.freeze(true).unwrap();
    assert!(m.frozen().unwrap());
    m.freeze(false).unwrap();
    assert!(!m.frozen().unwrap());

    // a watcher exactly when the cgroup2 mount has the memory controller
    let w = m.oom_watcher().unwrap();
    assert_eq!(w.is_some(), m.entries[0].h.has("memory"));
    drop(w);

    let mut child = g.children.pop().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    m.remove().unwrap();
    let e = m.stats().unwrap_err().to_string();
    assert!(e.contains(&dir.display().to_string()), "{e}");
    assert!(!m.frozen().unwrap());
}

#[test]
fn io_errors_name_the_file_and_the_os_error() {
    let e = crate::CgroupError::Io {
        op: "write",
        path: "/sys/fs/cgroup/memory/x/memory.limit_in_bytes".into(),
        source: std::io::Error::from_raw_os_error(libc::EBUSY),
    };
    assert_eq!(
        e.to_string(),
        "write /sys/fs/cgroup/memory/x/memory.limit_in_bytes: Device or resource busy"
    );
}

#[test]
fn the_kernel_verifier_accepts_the_largest_rule_set_and_errors_carry_its_log() {
    let mut rules = Vec::new();
    for i in 0..crate::devices::MAX_RULES {
        let mut r = oci_spec::runtime::LinuxDeviceCgroup::default();
        r.set_allow(i % 3 != 0);
        r.set_typ(Some(if i % 2 == 0 {
            oci_spec::runtime::LinuxDeviceType::C
        } else {
            oci_spec::runtime::LinuxDeviceType::B
        }));
        r.set_major(Some(i64::try_from(i % 300).unwrap()));
        r.set_minor(if i % 5 == 0 {
            None
        } else {
            Some(i64::try_from(i).unwrap())
        });
        r.set_access(Some(["r", "w", "m", "rw", "rwm"][i % 5].into()));
        rules.push(r);
    }
    let prog = bpf::compile(&rules);
    assert!(prog.len() > 10_000, "{}", prog.len());
    // linear in the rules: the verifier can prune (see the scratch-register compare)
    bpf::load(&prog).unwrap();
    let e = bpf::load(&[]).unwrap_err().to_string();
    assert!(e.starts_with("load device program: "), "{e}");
}
