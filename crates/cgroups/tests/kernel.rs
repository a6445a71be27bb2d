//! Real-kernel tests: cgroups are created, written, read back and removed on this
//! host's own hierarchies (v1 hybrid here; the v2 device filter on the cgroup2 mount).
#![allow(clippy::tests_outside_test_module)] // integration tests live at the top level

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use caisson_cgroups::{create_manager, CgroupOptions, CgroupSetup};
use oci_spec::runtime::LinuxResources;

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

#[test]
fn v1_limits_are_written_read_back_and_removed() {
    assert_ne!(
        caisson_cgroups::detect_setup(),
        CgroupSetup::Unified,
        "this test is for v1/hybrid hosts"
    );
    let rel = PathBuf::from(format!("/caisson-cgtest/v1-{}", std::process::id()));
    let m = create_manager(&CgroupOptions {
        cgroups_path: Some(&rel),
        container_id: "x",
        systemd: false,
        rootless: false,
    })
    .unwrap();
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    m.apply(pid).unwrap();
    m.set(&resources(r#"{"memory":{"limit":67108864},"pids":{"limit":17},"cpu":{"shares":512,"quota":50000,"period":100000},
        "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#)).unwrap();
    let read = |c: &str, f: &str| {
        std::fs::read_to_string(
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join(rel.strip_prefix("/").unwrap())
                .join(f),
        )
        .unwrap()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes").trim(), "67108864");
    assert_eq!(read("pids", "pids.max").trim(), "17");
    assert_eq!(read("cpu", "cpu.shares").trim(), "512");
    assert_eq!(read("cpu", "cpu.cfs_quota_us").trim(), "50000");
    assert_eq!(read("devices", "devices.list").trim(), "c 1:3 rw");
    assert_eq!(m.pids().unwrap(), vec![pid]);
    m.freeze(true).unwrap();
    assert!(
        read("freezer", "freezer.state").trim() == "FROZEN"
            || read("freezer", "freezer.state").trim() == "FREEZING"
    );
    m.freeze(false).unwrap();
    // requesting a controller the host lacks is an error naming the field
    let e = m
        .set(&resources(r#"{"network":{"classID":7}}"#))
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.resources.network.classID"), "{e}");
    child.kill().unwrap();
    child.wait().unwrap();
    m.remove().unwrap();
    for c in ["memory", "pids", "cpu", "devices", "freezer"] {
        assert!(
            !Path::new("/sys/fs/cgroup")
                .join(c)
                .join(rel.strip_prefix("/").unwrap())
                .exists(),
            "{c} left"
        );
    }
    for c in [
        "memory", "pids", "cpu", "devices", "freezer", "blkio", "cpuset", "systemd", "unified",
    ] {
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(c).join("caisson-cgtest"));
    }
}

#[test]
fn v2_device_program_denies_what_the_rules_deny() {
    let unified = Path::new("/sys/fs/cgroup/unified");
    assert!(
        unified.join("cgroup.procs").exists(),
        "needs a cgroup2 mount at {}",
        unified.display()
    );
    let dir = unified.join(format!("caisson-bpftest-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _c = Cleanup(dir.clone());
    let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"rw"},{"allow":true,"type":"c","major":1,"minor":3,"access":"r"}]"#,
    ).unwrap();
    let prog = caisson_cgroups::bpf::load(&caisson_cgroups::bpf::compile(&rules)).unwrap();
    let cg = std::fs::File::open(&dir).unwrap();
    use std::os::fd::AsFd;
    caisson_cgroups::bpf::attach(prog.as_fd(), cg.as_fd()).unwrap();
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg("read x; exec 2>/dev/zero; [ \"$(head -c1 /dev/zero | wc -c)\" = 1 ] && echo zero-ok; \
              if (echo x > /dev/null); then echo null-write-ok; fi; cat /dev/null && echo null-read-ok; \
              [ \"$(head -c1 /dev/urandom | wc -c)\" = 1 ] && echo urandom-ok; exit 0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(dir.join("cgroup.procs"), sh.id().to_string()).unwrap();
    sh.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = sh.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("zero-ok"), "{out}");
    assert!(out.contains("null-read-ok"), "{out}");
    assert!(
        !out.contains("null-write-ok"),
        "write to /dev/null should be denied: {out}"
    );
    assert!(
        !out.contains("urandom-ok"),
        "/dev/urandom should be denied: {out}"
    );
}

#[test]
fn systemd_without_systemd_is_a_clear_error() {
    let p = PathBuf::from("system.slice:caisson:x");
    let e = create_manager(&CgroupOptions {
        cgroups_path: Some(&p),
        container_id: "x",
        systemd: true,
        rootless: false,
    })
    .unwrap_err()
    .to_string();
    if Path::new("/run/systemd/system").exists() {
        return; // a systemd host: nothing to check here
    }
    assert!(e.contains("not running systemd"), "{e}");
    let bad = PathBuf::from("/not/slice/form");
    let e = create_manager(&CgroupOptions {
        cgroups_path: Some(&bad),
        container_id: "x",
        systemd: true,
        rootless: false,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("linux.cgroupsPath"), "{e}");
}
