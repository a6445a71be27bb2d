//! npm and crates.io: real lockfiles resolved from the npm registry and crates.io
//! with old, pinned releases, scanned with a database built from the real GHSA and
//! RUSTSEC records in ../shared/data/advisories/{npm,crates}. The expected flaws
//! come from an independent oracle (`semver_oracle.js`: npm's `semver` package and
//! the OSV range rules); ours must be exactly the same set.
#![allow(clippy::tests_outside_test_module)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use caisson_scan::catalog::catalog_dir;
use caisson_scan::db::Db;
use caisson_scan::matcher::match_packages;

fn run(dir: &Path, prog: &str, args: &[&str]) -> String {
    let o = Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    assert!(
        o.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn oracle_semver(tmp: &Path) -> PathBuf {
    let d = tmp.join("oracle");
    std::fs::create_dir_all(&d).unwrap();
    run(
        &d,
        "npm",
        &[
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "--prefix",
            ".",
            "semver@7.6.3",
        ],
    );
    d.join("node_modules/semver")
}

fn check(tmp: &Path, records: &Path, lockfile: &Path, root: &Path, eco: &str) -> usize {
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/semver_oracle.js");
    let semver = oracle_semver(tmp);
    let out = run(
        tmp,
        "node",
        &[
            oracle.to_str().unwrap(),
            semver.to_str().unwrap(),
            records.to_str().unwrap(),
            lockfile.to_str().unwrap(),
        ],
    );
    let want: BTreeSet<(String, String, Vec<String>)> = serde_json::from_str(&out).unwrap();
    let dbp = tmp.join(format!("{eco}.db"));
    let r = Db::build(&[records.to_path_buf()], &dbp, "test", &mut |_, _| {}).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let db = Db::open(&dbp).unwrap();
    let cat = catalog_dir(root);
    assert!(cat.warnings.is_empty(), "{:?}", cat.warnings);
    let pkgs: Vec<_> = cat
        .packages
        .iter()
        .filter(|p| p.ecosystem == eco)
        .cloned()
        .collect();
    assert!(!pkgs.is_empty());
    let (findings, notes) = match_packages(&db, &pkgs).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let got: BTreeSet<(String, String, Vec<String>)> = findings
        .iter()
        .map(|f| {
            let mut ids: Vec<String> = f.aliases.iter().cloned().chain([f.id.clone()]).collect();
            ids.sort();
            (f.package.clone(), f.installed.clone(), ids)
        })
        .collect();
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{eco}: missing {missing:?}\nextra {extra:?}"
    );
    for f in &findings {
        assert!(
            f.id.starts_with("CVE-"),
            "the CVE alias is the shown id: {f:?}"
        );
    }
    want.len()
}

#[test]
fn npm_package_lock_from_the_registry() {
    let records = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/advisories/npm");
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("rootfs/app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("package.json"),
        r#"{"name": "demo-app", "version": "1.0.0", "private": true,
            "dependencies": {"lodash": "4.17.15", "minimist": "1.2.0", "node-fetch": "2.6.0",
                             "axios": "0.21.1", "semver": "5.7.1", "lodash.trim": "4.5.1"}}"#,
    )
    .unwrap();
    run(
        &app,
        "npm",
        &[
            "install",
            "--package-lock-only",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--silent",
        ],
    );
    let lock = app.join("package-lock.json");
    assert!(lock.is_file());
    let n = check(
        tmp.path(),
        &records,
        &lock,
        &tmp.path().join("rootfs"),
        "npm",
    );
    // lodash 4.17.15 alone carries three records; lodash.trim is the last_affected trap
    assert!(n >= 6, "only {n} findings expected");
}

#[test]
fn cargo_lock_from_crates_io() {
    let records =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/advisories/crates");
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("rootfs/src/app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(app.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2018\"\n\n[dependencies]\nsmallvec = \"=1.6.0\"\nregex = \"=1.5.4\"\ncrossbeam-channel = \"=0.5.0\"\ntime = \"=0.1.43\"\n\n[workspace]\n",
    )
    .unwrap();
    run(&app, "cargo", &["generate-lockfile", "--quiet"]);
    let lock = app.join("Cargo.lock");
    let n = check(
        tmp.path(),
        &records,
        &lock,
        &tmp.path().join("rootfs"),
        "crates.io",
    );
    assert!(n >= 3, "only {n} findings expected");
}

#[test]
fn go_binary_built_here_with_a_vendored_old_module() {
    let records = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/advisories/go");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let vend = src.join("vendor/golang.org/x/text/language");
    std::fs::create_dir_all(&vend).unwrap();
    std::fs::write(
        src.join("go.mod"),
        "module example.com/app\n\ngo 1.19\n\nrequire golang.org/x/text v0.3.5\n",
    )
    .unwrap();
    std::fs::write(
        src.join("vendor/modules.txt"),
        "# golang.org/x/text v0.3.5\n## explicit\ngolang.org/x/text/language\n",
    )
    .unwrap();
    // a stand-in for the vendored package: Go records the module version from
    // vendor/modules.txt, which is what a scanner reads
    std::fs::write(
        vend.join("language.go"),
        "package language\n\nfunc Tag() string { return \"en\" }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.Tag()) }\n",
    )
    .unwrap();
    let bin = tmp.path().join("rootfs/usr/local/bin/app");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    let o = Command::new("go")
        .args(["build", "-mod=vendor", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=vendor")
        .env("GOCACHE", tmp.path().join("gocache"))
        .env("GOPATH", tmp.path().join("gopath"))
        .output()
        .expect("go (Debian's golang-go) builds the test binary");
    assert!(
        o.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let info = Command::new("go")
        .arg("version")
        .arg("-m")
        .arg(&bin)
        .output()
        .unwrap();
    let info_file = tmp.path().join("app.gobin.txt");
    std::fs::write(&info_file, &info.stdout).unwrap();
    let n = check(
        tmp.path(),
        &records,
        &info_file,
        &tmp.path().join("rootfs"),
        "Go",
    );
    assert!(n >= 2, "only {n} findings expected");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("golang.org/x/text\tv0.3.5"), "{text}");
}
