//! PyPI: real old distributions installed with `pip install --target` (from PyPI),
//! scanned with a database built from the real PYSEC records in
//! ../shared/data/advisories/pypi. The expected set of flaws comes from an
//! independent oracle (`pypi_oracle.py`: PyPA's `packaging` for PEP 440 and the OSV
//! range rules) and must equal ours exactly — every id found, nothing else, a record
//! and its aliases one finding.
#![allow(clippy::tests_outside_test_module)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use caisson_scan::catalog::catalog_dir;
use caisson_scan::db::Db;
use caisson_scan::matcher::match_packages;

/// Old releases with known advisories (pure-Python wheels, so no compiler needed).
const PINNED: &[&str] = &[
    "requests==2.19.1",
    "urllib3==1.24.1",
    "jinja2==2.10",
    "flask==0.12.2",
    "werkzeug==0.15.2",
    "idna==2.7",
    "certifi==2019.11.28",
    "django==2.2",
    "setuptools==39.0.1",
];

fn pip(args: &[&str]) {
    let o = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .args(args)
        .output()
        .expect("python3 with pip");
    assert!(
        o.status.success(),
        "pip install {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn old_pypi_wheels_give_exactly_the_oracles_findings() {
    let records =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/advisories/pypi");
    assert!(records.is_dir(), "{} is missing", records.display());
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("rootfs/usr/lib/python3/dist-packages");
    let oracle_deps = tmp.path().join("oracle-deps");
    let mut args = vec!["--target", site.to_str().unwrap(), "--only-binary", ":all:"];
    args.extend(PINNED);
    pip(&args);
    pip(&[
        "--target",
        oracle_deps.to_str().unwrap(),
        "pyyaml==6.0.2",
        "packaging==24.1",
    ]);
    // the oracle
    let o = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pypi_oracle.py"))
        .arg(&records)
        .arg(&site)
        .env("PYTHONPATH", &oracle_deps)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "oracle: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let want: BTreeSet<(String, Vec<String>)> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        want.len() > 20,
        "the pinned releases must have many known flaws: {want:?}"
    );
    // us
    let dbp = tmp.path().join("v.db");
    let r = Db::build(std::slice::from_ref(&records), &dbp, "test", &mut |_, _| {}).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.withdrawn >= 1, "the corpus has a withdrawn record");
    let db = Db::open(&dbp).unwrap();
    let cat = catalog_dir(&tmp.path().join("rootfs"));
    assert!(cat.warnings.is_empty(), "{:?}", cat.warnings);
    let names: BTreeSet<&str> = cat.packages.iter().map(|p| p.name.as_str()).collect();
    for p in PINNED {
        let n = p.split("==").next().unwrap();
        assert!(names.contains(n), "{n} not cataloged: {names:?}");
    }
    let (findings, notes) = match_packages(&db, &cat.packages).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let got: BTreeSet<(String, Vec<String>)> = findings
        .iter()
        .map(|f| {
            let mut ids: Vec<String> = f.aliases.iter().cloned().chain([f.id.clone()]).collect();
            ids.sort();
            (f.package.clone(), ids)
        })
        .collect();
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}\nextra {extra:?}"
    );
    // one finding per flaw: no id appears in two findings of one package
    for f in &findings {
        let twins = findings
            .iter()
            .filter(|g| g.package == f.package && (g.id == f.id || g.aliases.contains(&f.id)))
            .count();
        assert_eq!(twins, 1, "{} reported twice for {}", f.id, f.package);
        assert!(f.location.ends_with("/METADATA"), "{f:?}");
    }
    eprintln!(
        "{} findings in {} distributions",
        findings.len(),
        names.len()
    );
}
