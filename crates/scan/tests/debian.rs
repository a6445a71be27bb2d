//! Debian matching against real facts: the dpkg status of a debootstrap'd bookworm
//! rootfs (with 11 old pinned versions) and, per source package, the CVE ids that
//! its Debian changelog entries name with the versions that fixed them — both from
//! ../shared/data/advisories/debian/. No Debian Security Tracker data can be
//! downloaded here, so the test derives a tracker-format file from those changelog
//! facts (`derived-tracker-from-changelogs.json`, labelled as derived): for each CVE,
//! `fixed_version` is the newest changelog entry that names it.
//!
//! The expected findings are computed independently with `dpkg --compare-versions`
//! (Debian's own implementation) and must equal the scanner's, exactly.
#![allow(clippy::tests_outside_test_module)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use caisson_scan::catalog::catalog_dir;
use caisson_scan::db::Db;
use caisson_scan::matcher::match_packages;
use serde_json::{json, Value};

fn shared() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/advisories/debian");
    assert!(p.is_dir(), "{} is missing", p.display());
    p
}

fn dpkg_gt(a: &str, b: &str) -> bool {
    let st = std::process::Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .expect("dpkg (Debian's) is needed as the reference implementation");
    st.success()
}

#[test]
fn debian_bookworm_rootfs_matches_exactly_the_changelog_fixes_newer_than_installed() {
    let dir = shared();
    let pkgs: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("rootfs-packages.json")).unwrap()).unwrap();
    let changelogs: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(dir.join("changelog-cves.json")).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // the rootfs: os-release and dpkg status
    let root = tmp.path().join("rootfs");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
    )
    .unwrap();
    let mut status = String::new();
    for p in &pkgs {
        let (b, v, src, sv) = (
            p["binary"].as_str().unwrap(),
            p["version"].as_str().unwrap(),
            p["source"].as_str().unwrap(),
            p["source_version"].as_str().unwrap(),
        );
        status.push_str(&format!(
            "Package: {b}\nStatus: install ok installed\nArchitecture: {}\nVersion: {v}\n",
            p["arch"].as_str().unwrap()
        ));
        if src != b || sv != v {
            status.push_str(&format!("Source: {src} ({sv})\n"));
        }
        status.push_str("Description: x\n multi-line\n\n");
    }
    std::fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
    // the derived tracker file
    let mut tracker = serde_json::Map::new();
    for (src, c) in &changelogs {
        let mut fixed: BTreeMap<String, String> = BTreeMap::new();
        for e in c["entries"].as_array().unwrap() {
            let v = e["version"].as_str().unwrap();
            for cve in e["cves"].as_array().unwrap() {
                let cve = cve.as_str().unwrap().to_string();
                let cur = fixed.entry(cve).or_insert_with(|| v.to_string());
                if dpkg_gt(v, cur) {
                    *cur = v.to_string();
                }
            }
        }
        let mut recs = serde_json::Map::new();
        for (cve, v) in &fixed {
            recs.insert(
                cve.clone(),
                json!({"description": format!("derived from the {src} changelog"), "scope": "local",
                       "releases": {"bookworm": {"status": "resolved", "fixed_version": v,
                                                 "repositories": {"bookworm": c["newest_available"]},
                                                 "urgency": "not yet assigned"}}}),
            );
        }
        tracker.insert(src.clone(), Value::Object(recs));
    }
    let tf = tmp.path().join("derived-tracker-from-changelogs.json");
    std::fs::write(
        &tf,
        serde_json::to_vec(&Value::Object(tracker.clone())).unwrap(),
    )
    .unwrap();
    let dbp = tmp.path().join("v.db");
    let r = Db::build(&[tf], &dbp, "test", &mut |_, _| {}).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let db = Db::open(&dbp).unwrap();
    // scan
    let cat = catalog_dir(&root);
    assert!(cat.warnings.is_empty(), "{:?}", cat.warnings);
    assert_eq!(cat.packages.len(), pkgs.len());
    assert_eq!(
        cat.os.as_ref().unwrap().ecosystem().as_deref(),
        Some("Debian:12")
    );
    let (findings, notes) = match_packages(&db, &cat.packages).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let got: BTreeSet<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f.source_package
                    .clone()
                    .unwrap_or_else(|| f.package.clone()),
                f.id.clone(),
            )
        })
        .collect();
    // expected, with dpkg as the oracle
    let installed: BTreeMap<&str, &str> = pkgs
        .iter()
        .map(|p| {
            (
                p["source"].as_str().unwrap(),
                p["source_version"].as_str().unwrap(),
            )
        })
        .collect();
    let mut want = BTreeSet::new();
    for (src, recs) in &tracker {
        // every changelog in the data belongs to a source package of the rootfs
        let inst = installed
            .get(src.as_str())
            .unwrap_or_else(|| panic!("changelog of {src}, which the rootfs does not have"));
        for (cve, r) in recs.as_object().unwrap() {
            let fixed = r["releases"]["bookworm"]["fixed_version"].as_str().unwrap();
            if dpkg_gt(fixed, inst) {
                want.insert((src.clone(), cve.clone()));
            }
        }
    }
    assert!(
        !want.is_empty(),
        "the pinned old packages must have fixes newer than installed"
    );
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}\nextra {extra:?}"
    );
    // every finding names its fix, which is newer than what is installed
    for f in &findings {
        let fx = f.fixed.as_deref().expect("resolved in the tracker: a fix");
        assert!(dpkg_gt(fx, &f.installed), "{f:?}");
        assert_eq!(f.ecosystem, "Debian:12");
        assert_eq!(f.location, "/var/lib/dpkg/status");
    }
    eprintln!(
        "{} findings over {} (source, CVE) pairs",
        findings.len(),
        want.len()
    );
}
