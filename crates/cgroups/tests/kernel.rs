//! Real-kernel tests: cgroups are created, written, read back and removed on this
//! host's own hierarchies (v1 or hybrid; the v2-only paths are tested inside the
//! crate on the cgroup2 mount). They need root; a host they cannot run on fails them.
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use caisson_cgroups::{create_manager, CgroupManager, CgroupOptions, CgroupSetup};
use oci_spec::runtime::LinuxResources;

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

/// (mount point, v1 controllers or the cgroup2 root's controllers, is cgroup2)
fn mounts() -> Vec<(PathBuf, Vec<String>, bool)> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut out = Vec::new();
    for l in mi.lines() {
        let (pre, post) = l.split_once(" - ").unwrap();
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let mp = PathBuf::from(pre[4]);
        match post[0] {
            "cgroup" => out.push((
                mp,
                post[2]
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                    .map(String::from)
                    .collect(),
                false,
            )),
            "cgroup2" => {
                let c = std::fs::read_to_string(mp.join("cgroup.controllers")).unwrap();
                out.push((mp, c.split_whitespace().map(String::from).collect(), true));
            }
            _ => {}
        }
    }
    out
}

/// The directory of `rel` in the (v1, else v2) hierarchy holding `ctrl`.
fn dir_of(ctrl: &str, rel: &Path) -> (PathBuf, bool) {
    let m = mounts();
    let (mp, _, v2) = m
        .iter()
        .find(|(_, c, v2)| !v2 && c.iter().any(|c| c == ctrl))
        .or_else(|| {
            m.iter()
                .find(|(_, c, v2)| *v2 && c.iter().any(|c| c == ctrl))
        })
        .unwrap_or_else(|| panic!("no {ctrl} controller on this host"));
    (mp.join(rel.strip_prefix("/").unwrap_or(rel)), *v2)
}

fn read(ctrl: &str, rel: &Path, file: &str) -> String {
    let p = dir_of(ctrl, rel).0.join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
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

/// Kills the child and removes `top` (relative to every hierarchy) even when the
/// test fails.
struct Cleanup {
    children: Vec<Child>,
    tops: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for (mp, _, _) in mounts() {
            for t in &self.tops {
                rm_tree(&mp.join(t.strip_prefix("/").unwrap_or(t)));
            }
        }
    }
}

fn manager(path: &Path) -> Box<dyn CgroupManager> {
    create_manager(&CgroupOptions {
        cgroups_path: Some(path),
        container_id: "unused",
        systemd: false,
        rootless: false,
    })
    .unwrap()
}

fn assert_v1_host() {
    assert_ne!(
        caisson_cgroups::detect_setup(),
        CgroupSetup::Unified,
        "these tests need cgroup v1 hierarchies (legacy or hybrid host)"
    );
}

/// The whole disk the root file system is on, as `major:minor`.
fn root_disk() -> String {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dev = mi
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f[4] == "/")
        .map(|f| f[2].to_string())
        .expect("a root mount");
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{dev}"))
        .unwrap_or_else(|e| panic!("root file system on {dev}, not a block device: {e}"));
    let disk = if sys.join("partition").exists() {
        sys.parent().unwrap().to_path_buf()
    } else {
        sys
    };
    std::fs::read_to_string(disk.join("dev"))
        .unwrap()
        .trim()
        .to_string()
}

/// Huge page sizes of the kernel, as cgroup file names spell them (`2MB`).
fn hugepage_sizes() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for d in std::fs::read_dir("/sys/kernel/mm/hugepages")
        .unwrap()
        .flatten()
    {
        let n = d.file_name().into_string().unwrap();
        let kb: u64 = n
            .strip_prefix("hugepages-")
            .and_then(|s| s.strip_suffix("kB"))
            .unwrap()
            .parse()
            .unwrap();
        let name = if kb >= 1 << 20 {
            format!("{}GB", kb >> 20)
        } else if kb >= 1 << 10 {
            format!("{}MB", kb >> 10)
        } else {
            format!("{kb}KB")
        };
        out.push((name, kb * 1024));
    }
    out
}

#[test]
fn detect_setup_matches_mountinfo() {
    let m = mounts();
    let v1 = m.iter().any(|(_, _, v2)| !v2);
    let v2 = m.iter().any(|(_, _, v2)| *v2);
    let want = match (v1, v2) {
        (true, true) => CgroupSetup::Hybrid,
        (false, true) => CgroupSetup::Unified,
        (true, false) => CgroupSetup::Legacy,
        (false, false) => panic!("no cgroup mounted"),
    };
    assert_eq!(caisson_cgroups::detect_setup(), want);
}

#[test]
fn v1_resources_are_written_read_back_frozen_and_removed() {
    assert_v1_host();
    let top = PathBuf::from(format!("/caisson-cgtest-v1res-{}", std::process::id()));
    let rel = top.join("c");
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let mut guard = Cleanup {
        children: vec![child],
        tops: vec![top.clone()],
    };
    let m = manager(&rel);
    assert_eq!(m.path(), rel);
    for (mp, _, _) in mounts() {
        assert!(
            !mp.join(top.strip_prefix("/").unwrap()).exists(),
            "create_manager must create nothing"
        );
    }
    m.apply(pid).unwrap();
    // the process is in the cgroup of every hierarchy
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for l in cg.lines() {
        assert!(l.ends_with(rel.to_str().unwrap()), "{l}");
    }
    assert_eq!(m.pids().unwrap(), vec![pid]);

    // memory: limit, memsw, soft limit, swappiness, OOM killer
    let memsw = dir_of("memory", &rel)
        .0
        .join("memory.memsw.limit_in_bytes")
        .exists();
    m.set(&resources(
        r#"{"memory":{"limit":67108864,"swap":134217728,"reservation":33554432,"swappiness":10,"disableOOMKiller":true}}"#,
    ))
    .unwrap();
    assert_eq!(read("memory", &rel, "memory.limit_in_bytes"), "67108864");
    assert_eq!(
        read("memory", &rel, "memory.soft_limit_in_bytes"),
        "33554432"
    );
    assert_eq!(read("memory", &rel, "memory.swappiness"), "10");
    assert!(read("memory", &rel, "memory.oom_control").contains("oom_kill_disable 1"));
    if memsw {
        assert_eq!(
            read("memory", &rel, "memory.memsw.limit_in_bytes"),
            "134217728"
        );
        // growing past the current memsw needs memsw first; shrinking below the
        // current limit needs the limit first
        m.set(&resources(
            r#"{"memory":{"limit":167772160,"swap":268435456}}"#,
        ))
        .unwrap();
        assert_eq!(read("memory", &rel, "memory.limit_in_bytes"), "167772160");
        assert_eq!(
            read("memory", &rel, "memory.memsw.limit_in_bytes"),
            "268435456"
        );
        m.set(&resources(
            r#"{"memory":{"limit":33554432,"swap":50331648}}"#,
        ))
        .unwrap();
        assert_eq!(read("memory", &rel, "memory.limit_in_bytes"), "33554432");
        assert_eq!(
            read("memory", &rel, "memory.memsw.limit_in_bytes"),
            "50331648"
        );
    } else {
        eprintln!("NOTE: no swap accounting on this kernel: memsw ordering not exercised");
    }

    // cpu and cpuset (cpus/mems copied into the new parents by apply)
    m.set(&resources(
        r#"{"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"}}"#,
    ))
    .unwrap();
    assert_eq!(read("cpu", &rel, "cpu.shares"), "512");
    assert_eq!(read("cpu", &rel, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read("cpu", &rel, "cpu.cfs_period_us"), "100000");
    assert_eq!(read("cpuset", &rel, "cpuset.cpus"), "0");
    assert_eq!(read("cpuset", &rel, "cpuset.mems"), "0");
    assert_eq!(
        read("cpuset", &top, "cpuset.cpus"),
        read("cpuset", Path::new("/"), "cpuset.cpus")
    );
    m.set(&resources(r#"{"cpu":{"quota":20000,"period":50000}}"#))
        .unwrap();
    assert_eq!(read("cpu", &rel, "cpu.cfs_quota_us"), "20000");
    assert_eq!(read("cpu", &rel, "cpu.cfs_period_us"), "50000");
    if dir_of("cpu", &rel).0.join("cpu.idle").exists() {
        m.set(&resources(r#"{"cpu":{"idle":1}}"#)).unwrap();
        assert_eq!(read("cpu", &rel, "cpu.idle"), "1");
    }

    // pids: 0 (and -1) mean no limit
    m.set(&resources(r#"{"pids":{"limit":17}}"#)).unwrap();
    assert_eq!(read("pids", &rel, "pids.max"), "17");
    m.set(&resources(r#"{"pids":{"limit":0}}"#)).unwrap();
    assert_eq!(read("pids", &rel, "pids.max"), "max");

    // blkio throttling on the root disk
    let disk = root_disk();
    let (maj, min) = disk.split_once(':').unwrap();
    m.set(&resources(&format!(
        r#"{{"blockIO":{{"throttleReadBpsDevice":[{{"major":{maj},"minor":{min},"rate":1048576}}],
            "throttleWriteIOPSDevice":[{{"major":{maj},"minor":{min},"rate":300}}]}}}}"#
    )))
    .unwrap();
    assert_eq!(
        read("blkio", &rel, "blkio.throttle.read_bps_device"),
        format!("{disk} 1048576")
    );
    assert_eq!(
        read("blkio", &rel, "blkio.throttle.write_iops_device"),
        format!("{disk} 300")
    );

    // hugetlb: on a hybrid host whose hugetlb is on the cgroup2 mount, v2 files
    let sizes = hugepage_sizes();
    assert!(
        !sizes.is_empty(),
        "no huge page sizes in /sys/kernel/mm/hugepages"
    );
    let limits: Vec<String> = sizes
        .iter()
        .map(|(n, b)| format!(r#"{{"pageSize":"{n}","limit":{}}}"#, 2 * b))
        .collect();
    m.set(&resources(&format!(
        r#"{{"hugepageLimits":[{}]}}"#,
        limits.join(",")
    )))
    .unwrap();
    let (_, hv2) = dir_of("hugetlb", &rel);
    for (n, b) in &sizes {
        let f = if hv2 {
            format!("hugetlb.{n}.max")
        } else {
            format!("hugetlb.{n}.limit_in_bytes")
        };
        assert_eq!(read("hugetlb", &rel, &f), (2 * b).to_string(), "{f}");
    }
    let e = m
        .set(&resources(
            r#"{"hugepageLimits":[{"pageSize":"3MB","limit":0}]}"#,
        ))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux.resources.hugepageLimits[0].pageSize"),
        "{e}"
    );

    // unified keys go to the cgroup2 directory; unknown ones are refused by name
    if mounts().iter().any(|(_, _, v2)| *v2) {
        m.set(&resources(r#"{"unified":{"cgroup.max.descendants":"5"}}"#))
            .unwrap();
        let (mp, _, _) = mounts().into_iter().find(|(_, _, v2)| *v2).unwrap();
        let f = mp
            .join(rel.strip_prefix("/").unwrap())
            .join("cgroup.max.descendants");
        assert_eq!(std::fs::read_to_string(f).unwrap().trim(), "5");
        let e = m
            .set(&resources(r#"{"unified":{"nonexistent.file":"1"}}"#))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux.resources.unified.nonexistent.file"),
            "{e}"
        );
    }

    // net_cls: written where mounted; elsewhere an error naming the field (as runc)
    let net = m.set(&resources(r#"{"network":{"classID":1048577}}"#));
    if mounts()
        .iter()
        .any(|(_, c, v2)| !v2 && c.iter().any(|c| c == "net_cls"))
    {
        net.unwrap();
        assert_eq!(read("net_cls", &rel, "net_cls.classid"), "1048577");
    } else {
        let e = net.unwrap_err().to_string();
        assert!(e.contains("linux.resources.network.classID"), "{e}");
    }

    // invalid values are refused before any write, naming the field
    let e = m
        .set(&resources(r#"{"memory":{"limit":-5}}"#))
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.resources.memory.limit"), "{e}");

    // freeze waits for FROZEN; thaw for THAWED
    m.freeze(true).unwrap();
    assert_eq!(read("freezer", &rel, "freezer.state"), "FROZEN");
    m.freeze(false).unwrap();
    assert_eq!(read("freezer", &rel, "freezer.state"), "THAWED");

    // remove: busy while the task lives (after the retries), gone after
    let mut child = guard.children.pop().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    m.remove().unwrap();
    for (mp, _, _) in mounts() {
        let d = mp.join(rel.strip_prefix("/").unwrap());
        assert!(!d.exists(), "{} left", d.display());
    }
    // removing again is fine
    m.remove().unwrap();
}

/// A shell that waits for a line on stdin, then reports which device accesses work.
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

#[test]
fn v1_device_rules_are_written_in_order_and_enforced() {
    assert_v1_host();
    assert!(
        mounts()
            .iter()
            .any(|(_, c, v2)| !v2 && c.iter().any(|c| c == "devices")),
        "no v1 devices hierarchy"
    );
    let top = PathBuf::from(format!("/caisson-cgtest-v1dev-{}", std::process::id()));
    let rel = top.join("c");
    let _guard = Cleanup {
        children: Vec::new(),
        tops: vec![top],
    };
    let m = manager(&rel);
    // (if the test fails before the probe runs, dropping it closes its stdin: it
    // reads EOF and exits)
    let sh = probe();
    m.apply(i32::try_from(sh.id()).unwrap()).unwrap();
    m.set(&resources(
        r#"{"devices":[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":5,"access":"r"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
            {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]}"#,
    ))
    .unwrap();
    let list = read("devices", &rel, "devices.list");
    let mut lines: Vec<&str> = list.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["c 1:3 r", "c 1:5 r"]);
    assert_eq!(probe_result(sh), " zero-r null-r");
    m.remove().unwrap();
    assert!(!dir_of("devices", &rel).0.exists());
}

#[test]
fn relative_and_default_paths_are_below_the_callers_cgroup_in_each_hierarchy() {
    assert_v1_host();
    let name = format!("caisson-cgtest-rel-{}", std::process::id());
    let id = format!("caisson-cgtest-id-{}", std::process::id());
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut tops = Vec::new();
    for l in own.lines() {
        let p = l.splitn(3, ':').nth(2).unwrap();
        tops.push(PathBuf::from(p).join(&name));
        tops.push(PathBuf::from(p).join(&id));
    }
    let mut guard = Cleanup {
        children: Vec::new(),
        tops,
    };
    let rel = create_manager(&CgroupOptions {
        cgroups_path: Some(Path::new(&name)),
        container_id: "unused",
        systemd: false,
        rootless: false,
    })
    .unwrap();
    let default = create_manager(&CgroupOptions {
        cgroups_path: None,
        container_id: &id,
        systemd: false,
        rootless: false,
    })
    .unwrap();
    for (m, leaf) in [(rel, &name), (default, &id)] {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        guard.children.push(child);
        m.apply(pid).unwrap();
        let theirs = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        for (mine, its) in own.lines().zip(theirs.lines()) {
            let (h, p) = mine.rsplit_once(':').unwrap();
            let want = Path::new(p).join(leaf);
            assert_eq!(its, format!("{h}:{}", want.display()), "own: {mine}");
        }
        let mut c = guard.children.pop().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
        m.remove().unwrap();
    }
}

#[test]
fn paths_are_cleaned_and_the_root_is_refused() {
    let p = PathBuf::from(format!(
        "/../../caisson-cgtest-clean-{}/./x/../y",
        std::process::id()
    ));
    let m = manager(&p);
    assert_eq!(
        m.path(),
        Path::new(&format!("/caisson-cgtest-clean-{}/y", std::process::id()))
    );
    for bad in ["/", "/..", "a/.."] {
        let e = create_manager(&CgroupOptions {
            cgroups_path: Some(Path::new(bad)),
            container_id: "x",
            systemd: false,
            rootless: false,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("linux.cgroupsPath"), "{bad}: {e}");
    }
    let e = create_manager(&CgroupOptions {
        cgroups_path: None,
        container_id: "..",
        systemd: false,
        rootless: false,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("container id"), "{e}");
}

#[test]
fn systemd_paths_are_checked() {
    let opts = |p: &'static str| CgroupOptions {
        cgroups_path: Some(Path::new(p)),
        container_id: "x",
        systemd: true,
        rootless: false,
    };
    let e = create_manager(&opts("/not/slice/form"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.cgroupsPath"), "{e}");
    assert!(e.contains("slice:prefix:name"), "{e}");
    let r = create_manager(&opts("system.slice:caisson:x"));
    if Path::new("/run/systemd/system").exists() {
        assert_eq!(
            r.unwrap().path(),
            Path::new("/system.slice/caisson-x.scope")
        );
        let e = create_manager(&opts("bad--name.slice:p:x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.cgroupsPath"), "{e}");
    } else {
        let e = r.unwrap_err().to_string();
        assert!(e.contains("not running systemd"), "{e}");
        assert!(e.contains("--systemd-cgroup"), "{e}");
    }
}

/// A shell that waits for a line on stdin (so that it is in the cgroup before it
/// does anything), then runs `script`. Dropped before the line is sent, its stdin
/// closes and it exits.
fn after_go(script: &str) -> (Child, std::process::ChildStdin) {
    let mut c = Command::new("sh")
        .arg("-c")
        .arg(format!("read x; {script}"))
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = c.stdin.take().unwrap();
    (c, stdin)
}

fn memsw(rel: &Path) -> bool {
    dir_of("memory", rel)
        .0
        .join("memory.memsw.limit_in_bytes")
        .exists()
}

#[test]
fn v1_stats_of_a_busy_cgroup_have_usage_limits_and_runc_keys() {
    assert_v1_host();
    let top = PathBuf::from(format!("/caisson-cgtest-stats-{}", std::process::id()));
    let rel = top.join("c");
    // keeps a 1 MB string (charged to the cgroup it is moved to), then spins
    let (child, mut go) =
        after_go(r#"x=$(head -c 1000000 /dev/zero | tr "\0" a); while :; do :; done"#);
    let pid = i32::try_from(child.id()).unwrap();
    let mut guard = Cleanup {
        children: vec![child],
        tops: vec![top],
    };
    let m = manager(&rel);
    m.apply(pid).unwrap();
    m.set(&resources(
        r#"{"memory":{"limit":67108864},"pids":{"limit":50}}"#,
    ))
    .unwrap();
    go.write_all(b"go\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));

    let s = m.stats().unwrap();
    assert!(s.cpu.usage.total > 0, "{s:?}");
    assert!(!s.cpu.usage.percpu.is_empty(), "{s:?}");
    assert!(s.cpu.usage.user + s.cpu.usage.kernel > 0, "{s:?}");
    assert!(s.memory.usage.usage > 0, "{s:?}");
    assert!(s.memory.usage.max >= s.memory.usage.usage, "{s:?}");
    assert_eq!(s.memory.usage.limit, 67_108_864);
    assert!(s.memory.raw.contains_key("cache"), "{s:?}");
    assert!(s.pids.current >= 1, "{s:?}");
    assert_eq!(s.pids.limit, 50);
    assert!(!s.cpuset.cpus.is_empty(), "{s:?}");
    let json = serde_json::to_string(&s).unwrap();
    for key in [
        "cpu",
        "usage",
        "total",
        "percpu",
        "throttling",
        "memory",
        "limit",
        "failcnt",
        "swap",
        "kernelTCP",
        "raw",
        "pids",
        "current",
        "blkio",
        "hugetlb",
    ] {
        assert!(json.contains(&format!("\"{key}\"")), "{key}: {json}");
    }

    // no limit is 0, as runc
    m.set(&resources(r#"{"pids":{"limit":0}}"#)).unwrap();
    assert_eq!(m.stats().unwrap().pids.limit, 0);

    let mut child = guard.children.pop().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    m.remove().unwrap();
}

#[test]
fn v1_frozen_follows_freeze_and_a_missing_cgroup_is_named() {
    assert_v1_host();
    let top = PathBuf::from(format!("/caisson-cgtest-frozen-{}", std::process::id()));
    let rel = top.join("c");
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let mut guard = Cleanup {
        children: vec![child],
        tops: vec![top],
    };
    let m = manager(&rel);

    // before apply the cgroup does not exist
    let e = m.stats().unwrap_err().to_string();
    assert!(e.contains(rel.to_str().unwrap()), "{e}");
    let e = m.oom_watcher().unwrap_err().to_string();
    assert!(e.contains(rel.to_str().unwrap()), "{e}");
    assert!(!m.frozen().unwrap());

    m.apply(pid).unwrap();
    assert!(!m.frozen().unwrap());
    m.freeze(true).unwrap();
    assert!(m.frozen().unwrap());
    m.freeze(false).unwrap();
    assert!(!m.frozen().unwrap());

    let mut child = guard.children.pop().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    m.remove().unwrap();
}

#[test]
fn v1_oom_is_notified_through_the_watcher() {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    assert_v1_host();
    let top = PathBuf::from(format!("/caisson-cgtest-oom-{}", std::process::id()));
    let rel = top.join("c");
    // tail keeps the whole newline-free 64 MiB in memory
    let (child, mut go) = after_go("head -c 67108864 /dev/zero | tail > /dev/null");
    let pid = i32::try_from(child.id()).unwrap();
    let mut guard = Cleanup {
        children: vec![child],
        tops: vec![top],
    };
    let m = manager(&rel);
    m.apply(pid).unwrap();
    if memsw(&rel) {
        m.set(&resources(r#"{"memory":{"limit":8388608,"swap":8388608}}"#))
            .unwrap();
    } else {
        m.set(&resources(r#"{"memory":{"limit":8388608}}"#))
            .unwrap();
    }
    let mut w = m.oom_watcher().unwrap().expect("a memory controller");
    assert_eq!(w.read_event().unwrap(), 0);

    go.write_all(b"go\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = 0;
    while n == 0 && std::time::Instant::now() < deadline {
        let mut fds = [PollFd::new(w.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(100u16)).unwrap();
        n += w.read_event().unwrap();
    }
    assert!(n >= 1, "no OOM event within 10 s");
    // (memory.failcnt is not asserted: recent kernels may leave it 0 after an OOM)
    let s = m.stats().unwrap();
    assert_eq!(s.memory.usage.limit, 8_388_608);
    assert!(s.memory.usage.max > 0, "{s:?}");

    // the kernel killed the allocator: the shell's pipeline ends, and it exits
    let mut child = guard.children.pop().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().unwrap();
    let oc = read("memory", &rel, "memory.oom_control");
    let kills: u64 = oc
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .map_or(0, |v| v.parse().unwrap());
    assert!(kills >= 1, "{oc}");
    drop(w);
    m.remove().unwrap();
}
