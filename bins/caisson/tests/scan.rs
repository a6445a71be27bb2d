//! `caisson db build`, `caisson scan`, `caisson sbom` end to end: an image made here
//! (`caisson import` of a rootfs holding an old `requests` distribution), a database
//! built from the real PYSEC records in ../shared/data/advisories/pypi, every output
//! format, the filters and the CI exit code.
#![allow(clippy::tests_outside_test_module)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn caisson() -> &'static str {
    env!("CARGO_BIN_EXE_caisson")
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(root: &Path, args: &[&str]) -> Out {
    let o = Command::new(caisson())
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn ok(root: &Path, args: &[&str]) -> String {
    let o = run(root, args);
    assert_eq!(o.code, 0, "caisson {args:?}:\n{}\n{}", o.stdout, o.stderr);
    o.stdout
}

fn rootfs_tar(dir: &Path) -> PathBuf {
    let p = dir.join("rootfs.tar");
    let mut t = tar::Builder::new(std::fs::File::create(&p).unwrap());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        t.append_data(&mut h, path, data).unwrap();
    };
    add(
        "etc/os-release",
        b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
    );
    add(
        "usr/lib/python3/dist-packages/requests-2.19.1.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\n",
    );
    add(
        "usr/lib/python3/dist-packages/Django-2.2.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: Django\nVersion: 2.2\n",
    );
    // a cloud key left in the image (made up here: AKIA + 16 base32 chars)
    let key = format!("AKIA{}", "Q7L2M4N6P3R5T2V7");
    let creds = format!("[default]\naws_access_key_id = {key}\n");
    add("root/.aws/credentials", creds.as_bytes());
    // a setuid binary
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o4755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    t.append_data(&mut h, "usr/bin/su", &b"\x7fELF"[..])
        .unwrap();
    t.into_inner().unwrap();
    p
}

#[test]
fn db_build_scan_formats_filters_exit_codes_and_sbom() {
    let records =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/advisories/pypi");
    assert!(records.is_dir(), "{} missing", records.display());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let tar = rootfs_tar(tmp.path());
    ok(
        &root,
        &[
            "import",
            "-c",
            "ENV DB_PASSWORD=s3cr3t-pass-word",
            tar.to_str().unwrap(),
            "localhost/scanme:1",
        ],
    );
    // no database yet: a clear error
    let o = run(&root, &["scan", "localhost/scanme:1"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("caisson db build"), "{}", o.stderr);
    let version = ok(
        &root,
        &["db", "build", "-q", "--from", records.to_str().unwrap()],
    );
    assert!(version.trim().starts_with("sha256:"), "{version}");
    // JSON: ids, aliases, versions, severity, file and layer for every finding
    let out = ok(&root, &["scan", "--format", "json", "localhost/scanme:1"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = v["findings"].as_array().unwrap();
    assert!(f.len() > 20, "{out}");
    let layer =
        serde_json::from_str::<serde_json::Value>(&ok(&root, &["inspect", "localhost/scanme:1"]))
            .unwrap()["manifest"]["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
    for x in f {
        for k in [
            "id",
            "aliases",
            "package",
            "installed",
            "severity",
            "location",
            "purl",
            "status",
        ] {
            assert!(!x[k].is_null(), "{k} missing in {x}");
        }
        assert_eq!(x["layer"], layer.as_str(), "{x}");
        assert!(["requests", "django"].contains(&x["package"].as_str().unwrap()));
    }
    let cve = f
        .iter()
        .find(|x| x["package"] == "requests" && x["id"] == "CVE-2018-18074")
        .expect("requests 2.19.1: CVE-2018-18074 (PYSEC-2018-28)");
    assert_eq!(cve["fixed"], "2.20.0");
    assert!(
        cve["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "PYSEC-2018-28"),
        "{cve}"
    );
    assert_eq!(v["database"]["version"], version.trim());
    // secrets and misconfigurations are findings of their own kinds
    let secrets = v["secrets"].as_array().unwrap();
    assert!(
        secrets.iter().any(|x| x["rule"] == "aws-access-key-id"
            && x["file"] == "/root/.aws/credentials"
            && x["layer"] == layer.as_str()),
        "{secrets:?}"
    );
    assert!(
        !v.to_string().contains("Q7L2M4N6P3R5T2V7"),
        "the key is printed in clear"
    );
    let mis = v["misconfigurations"].as_array().unwrap();
    let has = |id: &str, what: &str| {
        mis.iter()
            .any(|m| m["id"] == id && m.to_string().contains(what))
    };
    assert!(has("CAISSON-IMG-001", "root"), "{mis:?}");
    assert!(
        has("CAISSON-IMG-002", "DB_PASSWORD"),
        "{mis:?}\n{}",
        ok(&root, &["inspect", "localhost/scanme:1"])
    );
    assert!(has("CAISSON-IMG-010", "/usr/bin/su"), "{mis:?}");
    assert!(
        !v.to_string().contains("s3cr3t-pass-word"),
        "the ENV secret is printed in clear"
    );
    let only: serde_json::Value = serde_json::from_str(&ok(
        &root,
        &[
            "scan",
            "-f",
            "json",
            "--scanners",
            "secret",
            "localhost/scanme:1",
        ],
    ))
    .unwrap();
    assert!(only["findings"].as_array().unwrap().is_empty());
    assert!(only["misconfigurations"].as_array().unwrap().is_empty());
    assert_eq!(only["secrets"].as_array().unwrap().len(), secrets.len());
    // the table names packages and fixes
    let table = ok(&root, &["scan", "localhost/scanme:1"]);
    assert!(
        table.contains("CVE-2018-18074") && table.contains("2.20.0") && table.contains("FIXED IN"),
        "{table}"
    );
    // filters and the CI exit code
    let o = run(&root, &["scan", "--exit-code", "3", "localhost/scanme:1"]);
    assert_eq!(o.code, 3);
    let crit = ok(
        &root,
        &[
            "scan",
            "-f",
            "json",
            "--severity",
            "CRITICAL",
            "localhost/scanme:1",
        ],
    );
    let crit: serde_json::Value = serde_json::from_str(&crit).unwrap();
    let nc = crit["findings"].as_array().unwrap().len();
    assert!(nc < f.len());
    assert!(crit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["severity"] == "CRITICAL"));
    let ign = tmp.path().join("ignore");
    let all_ids: Vec<String> = f
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    std::fs::write(&ign, format!("# accepted\n{}\n", all_ids.join("\n"))).unwrap();
    let o = run(
        &root,
        &[
            "scan",
            "--scanners",
            "vuln",
            "--exit-code",
            "3",
            "--ignorefile",
            ign.to_str().unwrap(),
            "localhost/scanme:1",
        ],
    );
    assert_eq!(o.code, 0, "everything ignored: {}", o.stdout);
    let o = run(&root, &["scan", "--severity", "BAD", "localhost/scanme:1"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("BAD"));
    // SARIF and CycloneDX
    let sarif: serde_json::Value =
        serde_json::from_str(&ok(&root, &["scan", "-f", "sarif", "localhost/scanme:1"])).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        f.len() + secrets.len() + mis.len()
    );
    let cdx: serde_json::Value = serde_json::from_str(&ok(
        &root,
        &["scan", "-f", "cyclonedx", "localhost/scanme:1"],
    ))
    .unwrap();
    assert_eq!(cdx["specVersion"], "1.5");
    assert_eq!(cdx["vulnerabilities"].as_array().unwrap().len(), f.len());
    // SBOMs
    let spdx: serde_json::Value = serde_json::from_str(&ok(
        &root,
        &["sbom", "--format", "spdx", "localhost/scanme:1"],
    ))
    .unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    let purls = spdx.to_string();
    assert!(
        purls.contains("pkg:pypi/requests@2.19.1") && purls.contains("pkg:pypi/django@2.2"),
        "{purls}"
    );
    let cdx: serde_json::Value =
        serde_json::from_str(&ok(&root, &["sbom", "localhost/scanme:1"])).unwrap();
    assert_eq!(cdx["bomFormat"], "CycloneDX");
    assert!(cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "requests"));
    // the same through an image archive and a plain directory
    let arch = tmp.path().join("img.tar");
    ok(
        &root,
        &["save", "-o", arch.to_str().unwrap(), "localhost/scanme:1"],
    );
    let a: serde_json::Value =
        serde_json::from_str(&ok(&root, &["scan", "-f", "json", arch.to_str().unwrap()])).unwrap();
    assert_eq!(a["findings"].as_array().unwrap().len(), f.len());
    // a plain root file system tar
    let t: serde_json::Value =
        serde_json::from_str(&ok(&root, &["scan", "-f", "json", tar.to_str().unwrap()])).unwrap();
    assert_eq!(t["findings"].as_array().unwrap().len(), f.len());
    let junk = tmp.path().join("junk.bin");
    std::fs::write(&junk, b"not an archive at all").unwrap();
    let o = run(&root, &["scan", junk.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("junk.bin") && o.stderr.contains("neither an image archive"),
        "{}",
        o.stderr
    );
    let dir = tmp.path().join("rootfs");
    std::fs::create_dir_all(&dir).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let d: serde_json::Value =
        serde_json::from_str(&ok(&root, &["scan", "-f", "json", dir.to_str().unwrap()])).unwrap();
    assert_eq!(d["findings"].as_array().unwrap().len(), f.len());
    // the catalog of an image is cached by image id; --no-cache redoes it
    let o = run(&root, &["scan", "-f", "json", "localhost/scanme:1"]);
    assert!(o.stderr.contains("from the scan cache"), "{}", o.stderr);
    let o = run(
        &root,
        &["scan", "-f", "json", "--no-cache", "localhost/scanme:1"],
    );
    assert!(!o.stderr.contains("from the scan cache"), "{}", o.stderr);
    // OpenVEX: not_affected statements remove findings for the named product only
    let vex = tmp.path().join("vex.json");
    std::fs::write(
        &vex,
        serde_json::json!({
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://example.invalid/vex-1",
            "author": "test",
            "timestamp": "2026-11-30T00:00:00Z",
            "version": 1,
            "statements": [
                {"vulnerability": {"name": "CVE-2018-18074"}, "products": [{"@id": "pkg:pypi/requests@2.19.1"}],
                 "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
                {"vulnerability": {"name": "CVE-2018-18074"}, "products": [{"@id": "pkg:pypi/django@2.2"}],
                 "status": "not_affected", "justification": "component_not_present"},
                {"vulnerability": {"name": "PYSEC-2023-74"}, "status": "affected"}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let vexed: serde_json::Value = serde_json::from_str(&ok(
        &root,
        &[
            "scan",
            "-f",
            "json",
            "--vex",
            vex.to_str().unwrap(),
            "localhost/scanme:1",
        ],
    ))
    .unwrap();
    let vf = vexed["findings"].as_array().unwrap();
    assert_eq!(vf.len(), f.len() - 1);
    assert!(!vf.iter().any(|x| x["id"] == "CVE-2018-18074"));
    // db update from a mirror on loopback serving OSV's <ecosystem>/all.zip layout
    let mirror = tmp.path().join("mirror");
    std::fs::create_dir_all(mirror.join("PyPI")).unwrap();
    let zipf = std::fs::File::create(mirror.join("PyPI/all.zip")).unwrap();
    let mut z = zip::ZipWriter::new(zipf);
    let mut n = 0;
    for e in std::fs::read_dir(&records).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") {
            z.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut z, &std::fs::read(e.path()).unwrap()).unwrap();
            n += 1;
        }
    }
    z.finish().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&mirror)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let mut up = String::new();
    for _ in 0..50 {
        let o = run(
            &root,
            &["db", "update", "--mirror", &url, "--ecosystem", "PyPI"],
        );
        if o.code == 0 {
            up = o.stdout;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let bad = run(
        &root,
        &["db", "update", "--mirror", &url, "--ecosystem", "NoSuch"],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        up.trim(),
        version.trim(),
        "the same records from a zip give the same database version ({n} files)"
    );
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("NoSuch/all.zip"), "{}", bad.stderr);
    // the failed update kept the good database
    let info: serde_json::Value = serde_json::from_str(&ok(&root, &["db", "info"])).unwrap();
    assert_eq!(info["version"], version.trim());
    // nothing left mounted
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("caisson-scan-"), "a scan mount was left");
}
