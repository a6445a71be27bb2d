//! Python (PyPI): installed distributions (`*.dist-info/METADATA`,
//! `*.egg-info/PKG-INFO`, `*.egg-info` files), pinned `requirements*.txt` lines,
//! `poetry.lock`, `Pipfile.lock` and `uv.lock`.
//!
//! Package names are stored normalised (PEP 503: lowercase, runs of `-_.` become
//! one `-`), as OSV keys PyPI advisories.
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::lockfiles::{basename, json, text, toml, Found};
use super::{purl, Cataloger, Input};
use crate::Package;

/// The catalogers of this module.
pub fn catalogers() -> Vec<Cataloger> {
    vec![
        Cataloger {
            name: "python-installed",
            claims: claims_installed,
            max_size: super::MAX_TEXT_FILE,
            parse: parse_installed,
        },
        Cataloger {
            name: "python-requirements",
            claims: |p| {
                let b = basename(p);
                b.starts_with("requirements") && b.ends_with(".txt")
            },
            max_size: super::MAX_TEXT_FILE,
            parse: parse_requirements,
        },
        Cataloger {
            name: "poetry-lock",
            claims: |p| basename(p) == "poetry.lock",
            max_size: super::MAX_TEXT_FILE,
            parse: parse_poetry_lock,
        },
        Cataloger {
            name: "pipfile-lock",
            claims: |p| basename(p) == "Pipfile.lock",
            max_size: super::MAX_TEXT_FILE,
            parse: parse_pipfile_lock,
        },
        Cataloger {
            name: "uv-lock",
            claims: |p| basename(p) == "uv.lock",
            max_size: super::MAX_TEXT_FILE,
            parse: parse_uv_lock,
        },
    ]
}

/// PEP 503 normalised name: lowercase, each run of `-`, `_`, `.` one `-`.
pub fn normalize(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !sep {
                s.push('-');
            }
            sep = true;
        } else {
            sep = false;
            s.extend(c.to_lowercase());
        }
    }
    s
}

/// A PEP 508 distribution name: ASCII letters, digits, `-_.`, starting and
/// ending with a letter or digit.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A version as lockfiles and pins spell it (PEP 440 characters, no wildcard).
fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+!".contains(&b))
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
}

fn push(out: &mut Found<'_>, name: &str, version: &str) -> Result<(), String> {
    let n = normalize(name);
    let u = purl("pypi", None, &n, version, &[]);
    out.push("PyPI", n, version.to_string(), u)
}

// ---------------------------------------------------------------------------
// installed

fn claims_installed(p: &str) -> bool {
    let Some((dir, file)) = p.rsplit_once('/') else {
        return false;
    };
    (file == "METADATA" && dir.ends_with(".dist-info"))
        || (file == "PKG-INFO" && dir.ends_with(".egg-info"))
        || (file.ends_with(".egg-info") && file.len() > ".egg-info".len())
}

/// `METADATA` / `PKG-INFO`: the `Name:` and `Version:` headers (RFC 822 style,
/// before the first blank line; the body is the description).
fn parse_installed(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let d = i.data;
    // headers only: the body may be anything (old distributions: latin-1)
    let end = d
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(d.len(), |e| e + 1);
    let end = d[..end]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(end, |e| e + 2);
    let head = String::from_utf8_lossy(&d[..end]);
    let (mut name, mut version) = (None, None);
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            continue; // continuation of a folded header
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let slot = if k.eq_ignore_ascii_case("Name") {
            &mut name
        } else if k.eq_ignore_ascii_case("Version") {
            &mut version
        } else {
            continue;
        };
        slot.get_or_insert(v.trim());
    }
    let (Some(name), Some(version)) = (name, version) else {
        return Err("no Name:/Version: header: not a METADATA/PKG-INFO file".into());
    };
    if !valid_name(name) {
        return Err(format!("invalid distribution name {name:?}"));
    }
    if version.is_empty() || version.contains(char::is_whitespace) {
        return Err(format!("invalid version {version:?} of {name}"));
    }
    let mut out = Found::new(i.path);
    push(&mut out, name, version)?;
    Ok(out.finish())
}

// ---------------------------------------------------------------------------
// requirements*.txt

/// `name==version` or `name[extras]==version` (spaces already removed): the name
/// and version of an exact pin, or None.
fn pinned(spec: &str) -> Option<(&str, &str)> {
    let n = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(spec.len());
    let (name, mut rest) = spec.split_at(n);
    if let Some(r) = rest.strip_prefix('[') {
        rest = r.split_once(']')?.1;
    }
    let ver = rest
        .strip_prefix("===")
        .or_else(|| rest.strip_prefix("=="))?;
    (valid_name(name) && valid_version(ver)).then_some((name, ver))
}

/// One logical requirements line: the pin it holds, if exactly pinned.
fn requirement(line: &str) -> Option<(String, String)> {
    // a comment starts at a '#' at the line start or after whitespace
    let cut = line
        .match_indices('#')
        .map(|(j, _)| j)
        .find(|&j| j == 0 || line[..j].ends_with(char::is_whitespace))
        .unwrap_or(line.len());
    let line = line[..cut].trim();
    if line.is_empty() || line.starts_with('-') {
        return None; // -r, -c, -e, --index-url, ...
    }
    // environment markers
    let line = line.split(';').next().unwrap_or(line);
    // per-requirement options (--hash=...) end the specifier
    let mut spec = String::new();
    for tok in line.split_whitespace() {
        if tok.starts_with("--") {
            break;
        }
        spec.push_str(tok);
    }
    pinned(&spec).map(|(n, v)| (n.to_string(), v.to_string()))
}

/// `requirements*.txt`: exactly pinned requirements (`name==1.2.3`); ranges,
/// URLs, options and includes are not packages.
fn parse_requirements(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let t = text(i.data)?;
    let mut out = Found::new(i.path);
    let mut joined = String::new();
    for line in t.lines() {
        let is_comment =
            line.trim_start().starts_with('#') || line.contains(" #") || line.contains("\t#");
        if let Some(l) = line.strip_suffix('\\').filter(|_| !is_comment) {
            joined.push_str(l);
            joined.push(' ');
            continue;
        }
        let logical = if joined.is_empty() {
            line
        } else {
            joined.push_str(line);
            joined.as_str()
        };
        if let Some((n, v)) = requirement(logical) {
            push(&mut out, &n, &v)?;
        }
        joined.clear();
    }
    if let Some((n, v)) = requirement(&joined) {
        push(&mut out, &n, &v)?;
    }
    Ok(out.finish())
}

// ---------------------------------------------------------------------------
// poetry.lock, uv.lock

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPkg>,
}

#[derive(Deserialize)]
struct PoetryPkg {
    name: String,
    version: String,
    source: Option<PoetrySource>,
}

#[derive(Deserialize)]
struct PoetrySource {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `poetry.lock`: every `[[package]]` but local directories.
fn parse_poetry_lock(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let lock: PoetryLock = toml(i.data)?;
    let mut out = Found::new(i.path);
    for p in &lock.package {
        if p.source.as_ref().and_then(|s| s.kind.as_deref()) == Some("directory") {
            continue;
        }
        if !valid_name(&p.name) || !valid_version(&p.version) {
            return Err(format!(
                "bad package name or version ({:?} {:?})",
                p.name, p.version
            ));
        }
        push(&mut out, &p.name, &p.version)?;
    }
    Ok(out.finish())
}

#[derive(Deserialize)]
struct UvLock {
    #[serde(default)]
    package: Vec<UvPkg>,
}

#[derive(Deserialize)]
struct UvPkg {
    name: String,
    version: Option<String>,
    source: Option<UvSource>,
}

#[derive(Deserialize)]
struct UvSource {
    editable: Option<IgnoredAny>,
    #[serde(rename = "virtual")]
    virt: Option<IgnoredAny>,
    directory: Option<IgnoredAny>,
}

/// `uv.lock`: every `[[package]]` but the project and its workspace members
/// (editable, virtual and directory sources).
fn parse_uv_lock(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let lock: UvLock = toml(i.data)?;
    let mut out = Found::new(i.path);
    for p in &lock.package {
        if p.source
            .as_ref()
            .is_some_and(|s| s.editable.is_some() || s.virt.is_some() || s.directory.is_some())
        {
            continue;
        }
        let Some(v) = p.version.as_deref() else {
            continue; // dynamic version of a local project
        };
        if !valid_name(&p.name) || !valid_version(v) {
            return Err(format!("bad package name or version ({:?} {v:?})", p.name));
        }
        push(&mut out, &p.name, v)?;
    }
    Ok(out.finish())
}

// ---------------------------------------------------------------------------
// Pipfile.lock

#[derive(Deserialize)]
struct PipfileLock {
    #[serde(default)]
    default: Option<BTreeMap<String, PipfileEntry>>,
    #[serde(default)]
    develop: Option<BTreeMap<String, PipfileEntry>>,
}

#[derive(Deserialize)]
struct PipfileEntry {
    version: Option<String>,
}

/// `Pipfile.lock`: the `default` and `develop` sections (`"version": "==1.2.3"`;
/// git and path entries have no version and are skipped).
fn parse_pipfile_lock(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let lock: PipfileLock = json(i.data)?;
    if lock.default.is_none() && lock.develop.is_none() {
        return Err("no \"default\" or \"develop\" section: not a Pipfile.lock".into());
    }
    let mut out = Found::new(i.path);
    for (name, e) in lock.default.iter().chain(lock.develop.iter()).flatten() {
        let Some(v) = e.version.as_deref() else {
            continue;
        };
        let Some(v) = v.strip_prefix("===").or_else(|| v.strip_prefix("==")) else {
            continue;
        };
        let v = v.trim();
        if !valid_name(name) || !valid_version(v) {
            return Err(format!("bad package name or version ({name:?} {v:?})"));
        }
        push(&mut out, name, v)?;
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::catalog::testutil::{pairs, parse_with, set};

    fn cat(name: &str) -> Cataloger {
        crate::catalog::testutil::find(catalogers(), name)
    }

    fn run(c: &str, path: &str, data: &str) -> Result<Vec<(String, String)>, String> {
        let p = parse_with(catalogers(), c, path, data, Some("PyPI"))?;
        for x in &p {
            assert_eq!(
                x.purl,
                format!("pkg:pypi/{}@{}", x.name, x.version.replace('+', "%2B"))
            );
        }
        Ok(pairs(p))
    }

    #[test]
    fn names_normalised() {
        assert_eq!(normalize("Zope.Interface"), "zope-interface");
        assert_eq!(normalize("typing__extensions"), "typing-extensions");
        assert_eq!(normalize("A-_.b"), "a-b");
        assert_eq!(normalize("requests"), "requests");
    }

    #[test]
    fn installed_metadata() {
        let meta = "Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\nSummary: A very fast and expressive template engine.\nHome-page: https://palletsprojects.com/p/jinja/\nLicense: BSD-3-Clause\nClassifier: Development Status :: 5 - Production/Stable\nRequires-Python: >=3.7\nDescription-Content-Type: text/x-rst\nLicense-File: LICENSE.rst\nRequires-Dist: MarkupSafe (>=2.0)\n\nJinja\n=====\n\nName: not-this\nVersion: 0\n";
        let p = "/usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA";
        assert_eq!(
            run("python-installed", p, meta).unwrap(),
            set(&[("jinja2", "3.1.2")])
        );
        let pkginfo = "Metadata-Version: 1.1\r\nName: zope.interface\r\nVersion: 5.4.0\r\nSummary: Interfaces\r\n  for Python\r\n\r\nbody";
        let p = "/usr/lib/python3/site-packages/zope.interface-5.4.0-py3.9.egg-info/PKG-INFO";
        assert_eq!(
            run("python-installed", p, pkginfo).unwrap(),
            set(&[("zope-interface", "5.4.0")])
        );
        // an egg-info that is itself a PKG-INFO file; a latin-1 body is fine
        let mut egg =
            b"Metadata-Version: 1.0\nName: python_apt\nVersion: 2.4.0+ubuntu2\n\nD\xe9j\xe0 vu\n"
                .to_vec();
        egg.extend_from_slice(b"\xff\xfe");
        let c = cat("python-installed");
        let p = "/usr/lib/python3/dist-packages/python_apt-2.4.0.egg-info";
        assert!((c.claims)(p));
        let r = (c.parse)(&Input {
            path: p,
            data: &egg,
            distro: None,
        })
        .unwrap();
        assert_eq!(
            (r[0].name.as_str(), r[0].version.as_str()),
            ("python-apt", "2.4.0+ubuntu2")
        );
        assert_eq!(r[0].purl, "pkg:pypi/python-apt@2.4.0%2Bubuntu2");
    }

    #[test]
    fn installed_corrupt_and_claims() {
        let p = "/x/foo-1.0.dist-info/METADATA";
        assert!(
            run("python-installed", p, "Metadata-Version: 2.1\nSummary: x\n")
                .unwrap_err()
                .contains("no Name")
        );
        assert!(run("python-installed", p, "").is_err());
        assert!(run("python-installed", p, "Name: a b\nVersion: 1\n")
            .unwrap_err()
            .contains("invalid distribution name"));
        let c = cat("python-installed");
        assert!(!(c.claims)("/x/foo-1.0.dist-info/RECORD"));
        assert!(!(c.claims)("/x/METADATA"));
        assert!(!(c.claims)("/x/foo.egg-info/SOURCES.txt"));
        assert!(!(c.claims)("/x/.egg-info"));
    }

    const REQUIREMENTS: &str = r#"# pinned by pip-compile
--index-url https://pypi.org/simple
--extra-index-url https://download.pytorch.org/whl/cpu
-r base.txt
-c constraints.txt
-e git+https://github.com/acme/tool.git#egg=tool

Django==4.2.7
    # via -r requirements.in
requests[security,socks]==2.31.0 ; python_version >= "3.8"
pywin32==306; sys_platform == "win32"
urllib3 == 2.0.7  # comment after a pin
certifi==2023.11.17 \
    --hash=sha256:9b469f3a900bf28dc19b8cfbf8019bf47f7fdd1a65a1d4ffb98fc14166beb4d1 \
    --hash=sha256:e036ab49d5b79556f99cfc2d9320b34cfbe5be05c5871b51de9329f0603b0474
torch==2.1.1+cpu
numpy>=1.24
pandas~=2.1.0
flask
six==1.*
attrs==23.1.0,!=23.1.1
mypkg @ https://example.com/mypkg-1.0.tar.gz
Typing_Extensions===4.8.0
./local/path
"#;

    #[test]
    fn requirements() {
        let p = run("python-requirements", "/app/requirements.txt", REQUIREMENTS).unwrap();
        assert_eq!(
            p,
            set(&[
                ("django", "4.2.7"),
                ("requests", "2.31.0"),
                ("pywin32", "306"),
                ("urllib3", "2.0.7"),
                ("certifi", "2023.11.17"),
                ("torch", "2.1.1+cpu"),
                ("typing-extensions", "4.8.0"),
            ])
        );
        // CRLF, and a continuation at the end of the file
        let crlf = "a==1.0\r\nb==2.0 \\\r\n  --hash=sha256:00";
        assert_eq!(
            run("python-requirements", "/app/requirements-dev.txt", crlf).unwrap(),
            set(&[("a", "1.0"), ("b", "2.0")])
        );
        let c = cat("python-requirements");
        assert!((c.claims)("/app/requirements_test.txt"));
        assert!(!(c.claims)("/app/requirements.in"));
        assert!(!(c.claims)("/app/dev-requirements.txt"));
        let e = (c.parse)(&Input {
            path: "/requirements.txt",
            data: b"a==1\n\xff\xfe",
            distro: None,
        })
        .unwrap_err();
        assert!(e.starts_with("not UTF-8"), "{e}");
    }

    const POETRY_LOCK: &str = r#"# This file is automatically @generated by Poetry 1.7.1 and should not be changed by hand.

[[package]]
name = "certifi"
version = "2023.11.17"
description = "Python package for providing Mozilla's CA Bundle."
optional = false
python-versions = ">=3.6"
files = [
    {file = "certifi-2023.11.17-py3-none-any.whl", hash = "sha256:e036ab49d5b79556f99cfc2d9320b34cfbe5be05c5871b51de9329f0603b0474"},
]

[[package]]
name = "charset-normalizer"
version = "3.3.2"
description = "The Real First Universal Charset Detector."
optional = false
python-versions = ">=3.7.0"
files = []

[[package]]
name = "my-shared-lib"
version = "0.1.0"
description = ""
optional = false
python-versions = "^3.11"
files = []
develop = true

[package.source]
type = "directory"
url = "../shared"

[[package]]
name = "Flask_Cors"
version = "4.0.0"
description = "A Flask extension adding a decorator for CORS support"
optional = false
python-versions = "*"
files = []

[package.dependencies]
Flask = ">=0.9"

[metadata]
lock-version = "2.0"
python-versions = "^3.11"
content-hash = "8d0b4b2c"
"#;

    #[test]
    fn poetry() {
        assert_eq!(
            run("poetry-lock", "/app/poetry.lock", POETRY_LOCK).unwrap(),
            set(&[
                ("certifi", "2023.11.17"),
                ("charset-normalizer", "3.3.2"),
                ("flask-cors", "4.0.0")
            ])
        );
        let e = run(
            "poetry-lock",
            "/app/poetry.lock",
            "[[package]]\nname = \"x\"\nversion = 1\n",
        )
        .unwrap_err();
        assert!(e.starts_with("invalid TOML at line 3 column 11"), "{e}");
        let e = run("poetry-lock", "/app/poetry.lock", "[[package]\n").unwrap_err();
        assert!(e.starts_with("invalid TOML at line 1"), "{e}");
    }

    const UV_LOCK: &str = r#"version = 1
requires-python = ">=3.12"

[[package]]
name = "anyio"
version = "4.6.2.post1"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "idna" },
    { name = "sniffio" },
]
sdist = { url = "https://files.pythonhosted.org/packages/anyio-4.6.2.post1.tar.gz", hash = "sha256:4c8b", size = 173422 }

[[package]]
name = "idna"
version = "3.10"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "myproject"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "anyio" },
]

[[package]]
name = "member"
source = { virtual = "packages/member" }

[[package]]
name = "sniffio"
version = "1.3.1"
source = { git = "https://github.com/python-trio/sniffio?rev=v1.3.1#abcdef" }
"#;

    #[test]
    fn uv() {
        assert_eq!(
            run("uv-lock", "/app/uv.lock", UV_LOCK).unwrap(),
            set(&[
                ("anyio", "4.6.2.post1"),
                ("idna", "3.10"),
                ("sniffio", "1.3.1")
            ])
        );
        assert!(
            run("uv-lock", "/app/uv.lock", "[[package]]\nversion = \"1\"\n")
                .unwrap_err()
                .contains("name")
        );
    }

    const PIPFILE_LOCK: &str = r#"{
    "_meta": {
        "hash": {"sha256": "7f7606f08e0544d8d012ef4d097dabdd6df6843a28793eb6551245d4b2db4242"},
        "pipfile-spec": 6,
        "requires": {"python_version": "3.11"},
        "sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": true}]
    },
    "default": {
        "requests": {
            "hashes": ["sha256:58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f"],
            "index": "pypi",
            "markers": "python_version >= '3.7'",
            "version": "==2.31.0"
        },
        "Django": {"version": "==4.2.7"},
        "mylib": {"editable": true, "path": "./mylib"},
        "tool": {"git": "https://github.com/acme/tool.git", "ref": "abc123"}
    },
    "develop": {
        "pytest": {"version": "==7.4.3"},
        "requests": {"version": "==2.31.0"}
    }
}"#;

    #[test]
    fn pipfile() {
        assert_eq!(
            run("pipfile-lock", "/app/Pipfile.lock", PIPFILE_LOCK).unwrap(),
            set(&[
                ("requests", "2.31.0"),
                ("django", "4.2.7"),
                ("pytest", "7.4.3")
            ])
        );
        let e = run(
            "pipfile-lock",
            "/app/Pipfile.lock",
            "{\"default\": {\"a\": {\"version\": 1}}}",
        )
        .unwrap_err();
        assert!(
            e.starts_with("unexpected JSON content at line 1 column "),
            "{e}"
        );
        let e = run("pipfile-lock", "/app/Pipfile.lock", "{\"default\": ").unwrap_err();
        assert!(
            e.starts_with("invalid JSON at line 1 column 12: EOF"),
            "{e}"
        );
        assert!(run("pipfile-lock", "/app/Pipfile.lock", "{}")
            .unwrap_err()
            .contains("not a Pipfile.lock"));
        assert!(!(cat("pipfile-lock").claims)("/app/Pipfile"));
    }
}
