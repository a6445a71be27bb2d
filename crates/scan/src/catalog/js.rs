//! JavaScript (npm): `package-lock.json` / `npm-shrinkwrap.json` (lockfile
//! versions 1, 2 and 3), `yarn.lock` (v1 and berry), `pnpm-lock.yaml` (lockfile
//! versions 5, 6 and 9) and installed `node_modules/**/package.json`.
//!
//! Aliased dependencies (`"string-width-cjs": "npm:string-width@^4"`) are reported
//! under the real package's name: that is what advisories name.
use std::collections::BTreeMap;

use serde::Deserialize;

use super::lockfiles::{basename, json, text, yaml, Found};
use super::{purl, Cataloger, Input};
use crate::Package;

/// Deepest `dependencies` nesting read in a lockfile version 1.
pub const MAX_LOCK_DEPTH: usize = 128;

/// The catalogers of this module.
pub fn catalogers() -> Vec<Cataloger> {
    vec![
        Cataloger {
            name: "npm-package-lock",
            claims: |p| matches!(basename(p), "package-lock.json" | "npm-shrinkwrap.json"),
            max_size: super::MAX_TEXT_FILE,
            parse: parse_package_lock,
        },
        Cataloger {
            name: "yarn-lock",
            claims: |p| basename(p) == "yarn.lock",
            max_size: super::MAX_TEXT_FILE,
            parse: parse_yarn_lock,
        },
        Cataloger {
            name: "pnpm-lock",
            claims: |p| basename(p) == "pnpm-lock.yaml",
            max_size: super::MAX_TEXT_FILE,
            parse: parse_pnpm_lock,
        },
        Cataloger {
            name: "npm-installed",
            claims: claims_installed,
            max_size: super::MAX_TEXT_FILE,
            parse: parse_installed,
        },
    ]
}

/// An npm package name: `name` or `@scope/name`, no whitespace.
fn valid_name(n: &str) -> bool {
    if n.is_empty() || n.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match n.strip_prefix('@') {
        Some(r) => r
            .split_once('/')
            .is_some_and(|(s, n)| !s.is_empty() && !n.is_empty() && !n.contains('/')),
        None => !n.contains('/'),
    }
}

/// A registry version (`1.2.3`, `1.0.0-rc.1`): not a URL, path or git reference.
fn valid_version(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_digit())
        && !v.contains(|c: char| c.is_whitespace() || c == ':' || c == '/')
}

/// `name@range` → (`name`, `range`): the '@' ending the name is the first one
/// after position 0 (a scope's '@' is at 0; a range may hold more, as in
/// `npm:real@^1` or `git+ssh://git@host/x`).
fn split_spec(s: &str) -> Option<(&str, &str)> {
    let at = s.get(1..)?.find('@')? + 1;
    Some((&s[..at], &s[at + 1..]))
}

fn push(out: &mut Found<'_>, name: &str, version: &str) -> Result<(), String> {
    let u = match name.strip_prefix('@').and_then(|r| r.split_once('/')) {
        Some((scope, n)) => purl("npm", Some(&format!("@{scope}")), n, version, &[]),
        None => purl("npm", None, name, version, &[]),
    };
    out.push("npm", name.to_string(), version.to_string(), u)
}

// ---------------------------------------------------------------------------
// package-lock.json

#[derive(Deserialize)]
struct NpmLock {
    packages: Option<BTreeMap<String, NpmPackage>>,
    dependencies: Option<BTreeMap<String, NpmDepV1>>,
}

#[derive(Deserialize)]
struct NpmPackage {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    link: bool,
}

#[derive(Deserialize)]
struct NpmDepV1 {
    version: Option<String>,
    dependencies: Option<BTreeMap<String, NpmDepV1>>,
}

/// The package name in a `packages` key: what follows the last `node_modules/`
/// (None for the root and workspace folders).
fn lock_key_name(key: &str) -> Option<&str> {
    match key.rfind("/node_modules/") {
        Some(i) => Some(&key[i + "/node_modules/".len()..]),
        None => key.strip_prefix("node_modules/"),
    }
}

fn walk_v1(
    out: &mut Found<'_>,
    deps: &BTreeMap<String, NpmDepV1>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_LOCK_DEPTH {
        return Err(format!(
            "\"dependencies\" nested deeper than {MAX_LOCK_DEPTH}"
        ));
    }
    for (name, d) in deps {
        if let Some(v) = d.version.as_deref() {
            // an alias: "string-width-cjs": {"version": "npm:string-width@4.2.3"}
            let (name, v) = match v.strip_prefix("npm:").and_then(split_spec) {
                Some((real, v)) => (real, v),
                None => (name.as_str(), v),
            };
            if valid_name(name) && valid_version(v) {
                push(out, name, v)?;
            }
        }
        if let Some(sub) = d.dependencies.as_ref().filter(|s| !s.is_empty()) {
            walk_v1(out, sub, depth + 1)?;
        }
    }
    Ok(())
}

/// `package-lock.json` / `npm-shrinkwrap.json`: the `packages` map (lockfile
/// versions 2 and 3), else the nested `dependencies` (version 1). Links (workspace
/// members) and the root project are not packages.
fn parse_package_lock(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let lock: NpmLock = json(i.data)?;
    let mut out = Found::new(i.path);
    match (&lock.packages, &lock.dependencies) {
        (Some(pkgs), _) => {
            for (key, p) in pkgs {
                if p.link {
                    continue;
                }
                let Some(key_name) = lock_key_name(key) else {
                    continue; // "" (the project) or a workspace folder
                };
                let name = p.name.as_deref().unwrap_or(key_name);
                let Some(v) = p.version.as_deref() else {
                    continue;
                };
                if valid_name(name) && valid_version(v) {
                    push(&mut out, name, v)?;
                }
            }
        }
        (None, Some(deps)) => walk_v1(&mut out, deps, 1)?,
        (None, None) => {}
    }
    Ok(out.finish())
}

// ---------------------------------------------------------------------------
// yarn.lock

/// One yarn.lock entry being read: its line, package name (None when skipped),
/// and whether a version was seen.
struct YarnEntry<'a> {
    line: usize,
    name: Option<&'a str>,
    version: Option<&'a str>,
}

fn yarn_finish(out: &mut Found<'_>, e: Option<YarnEntry<'_>>) -> Result<(), String> {
    let Some(YarnEntry {
        line,
        name: Some(name),
        version,
    }) = e
    else {
        return Ok(());
    };
    let Some(v) = version else {
        return Err(format!("line {line}: entry for {name} has no version"));
    };
    if v == "0.0.0-use.local" {
        return Ok(()); // a workspace (berry)
    }
    if valid_name(name) && valid_version(v) {
        push(out, name, v)?;
    }
    Ok(())
}

/// `yarn.lock`, classic (v1: `"a@^1", a@~1.2:` then `  version "1.2.3"`) and berry
/// (`"a@npm:^1.0.0":` then `  version: 1.2.3`; `__metadata`, workspaces, links and
/// portals skipped).
fn parse_yarn_lock(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let t = text(i.data)?;
    let mut out = Found::new(i.path);
    let mut cur: Option<YarnEntry<'_>> = None;
    for (n, line) in t.lines().enumerate() {
        let ln = n + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            yarn_finish(&mut out, cur.take())?;
            let Some(h) = line.trim_end().strip_suffix(':') else {
                return Err(format!(
                    "line {ln}: expected an entry header ending in ':', found {line:?}"
                ));
            };
            // every spec of the header names the same package: read the first
            let first = h.split(',').next().unwrap_or(h).trim().trim_matches('"');
            if first == "__metadata" {
                cur = Some(YarnEntry {
                    line: ln,
                    name: None,
                    version: None,
                });
                continue;
            }
            let Some((name, range)) = split_spec(first) else {
                return Err(format!(
                    "line {ln}: no '@' between name and range in {first:?}"
                ));
            };
            let local = ["workspace:", "link:", "portal:", "file:"]
                .iter()
                .any(|p| range.starts_with(p));
            // an alias: "string-width-cjs@npm:string-width@^4.2.0"
            let name = match range.strip_prefix("npm:").and_then(split_spec) {
                Some((real, _)) => real,
                None => name,
            };
            cur = Some(YarnEntry {
                line: ln,
                name: (!local).then_some(name),
                version: None,
            });
            continue;
        }
        let Some(e) = cur.as_mut() else {
            return Err(format!("line {ln}: indented line before any entry"));
        };
        // the entry's own fields are at 2 spaces; deeper lines are its dependencies
        if line.len() - line.trim_start_matches(' ').len() != 2 {
            continue;
        }
        let Some(v) = trimmed.strip_prefix("version") else {
            continue;
        };
        if v.starts_with([':', ' ', '\t']) && e.version.is_none() {
            e.version = Some(v.trim_start_matches(':').trim().trim_matches('"'));
        }
    }
    yarn_finish(&mut out, cur)?;
    Ok(out.finish())
}

// ---------------------------------------------------------------------------
// pnpm-lock.yaml

#[derive(Deserialize)]
struct PnpmLock {
    #[serde(rename = "lockfileVersion")]
    lockfile_version: Option<serde_yaml::Value>,
    packages: Option<BTreeMap<String, Option<PnpmPackage>>>,
}

#[derive(Deserialize)]
struct PnpmPackage {
    name: Option<serde_yaml::Value>,
    version: Option<serde_yaml::Value>,
}

fn yaml_scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Name and version from a `packages` key. Version 5: `/name/1.2.3` or
/// `/@scope/name/1.2.3_peer@1.0.0`; 6: `/name@1.2.3(peer@1.0.0)`; 9:
/// `name@1.2.3`. Peer suffixes (`(...)`, `_...`) are dropped.
fn pnpm_key(key: &str, v5: bool) -> Option<(&str, &str)> {
    let k = key.strip_prefix('/').unwrap_or(key);
    let (name, rest) = if v5 {
        let scoped = k.starts_with('@');
        let cut = if scoped {
            let first = k.find('/')?;
            k[first + 1..].find('/')? + first + 1
        } else {
            k.find('/')?
        };
        (&k[..cut], &k[cut + 1..])
    } else {
        split_spec(k)?
    };
    let end = rest.find(['(', '_']).unwrap_or(rest.len());
    Some((name, &rest[..end]))
}

/// `pnpm-lock.yaml`: the keys of `packages` (entries of tarball and git
/// dependencies carry their own `name` and `version`).
fn parse_pnpm_lock(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let lock: PnpmLock = yaml(i.data)?;
    let Some(ver) = lock.lockfile_version.as_ref().and_then(yaml_scalar) else {
        return Err("no lockfileVersion: not a pnpm-lock.yaml".into());
    };
    let major: u32 = ver
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("unknown lockfileVersion {ver:?}"))?;
    let mut out = Found::new(i.path);
    for (key, p) in lock.packages.iter().flatten() {
        let from_key = pnpm_key(key, major < 6);
        let field = |f: Option<&serde_yaml::Value>| f.and_then(yaml_scalar);
        let name = p
            .as_ref()
            .and_then(|p| field(p.name.as_ref()))
            .or_else(|| from_key.map(|k| k.0.to_string()));
        let version = match from_key {
            Some((_, v)) if valid_version(v) => Some(v.to_string()),
            _ => p.as_ref().and_then(|p| field(p.version.as_ref())),
        };
        if let (Some(n), Some(v)) = (name, version) {
            if valid_name(&n) && valid_version(&v) {
                push(&mut out, &n, &v)?;
            }
        }
    }
    Ok(out.finish())
}

// ---------------------------------------------------------------------------
// node_modules/**/package.json

/// A package's own manifest: `.../node_modules/name/package.json` or
/// `.../node_modules/@scope/name/package.json` (package.json files deeper in a
/// package, and the project's own, are not packages).
fn claims_installed(p: &str) -> bool {
    let Some(i) = p.rfind("/node_modules/") else {
        return false;
    };
    let Some(dir) = p[i + "/node_modules/".len()..].strip_suffix("/package.json") else {
        return false;
    };
    let ok = |s: &str| !s.is_empty() && !s.starts_with('.');
    match dir.strip_prefix('@') {
        Some(r) => r
            .split_once('/')
            .is_some_and(|(s, n)| ok(s) && ok(n) && !n.contains('/')),
        None => ok(dir) && !dir.contains('/'),
    }
}

#[derive(Deserialize)]
struct PackageJson {
    name: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

/// An installed package's `package.json`: `name` and `version` (one without
/// either is not a package).
fn parse_installed(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let pj: PackageJson = json(i.data)?;
    let mut out = Found::new(i.path);
    if let (Some(serde_json::Value::String(n)), Some(serde_json::Value::String(v))) =
        (&pj.name, &pj.version)
    {
        if !valid_name(n) {
            return Err(format!("invalid package name {n:?}"));
        }
        if v.is_empty() || v.contains(char::is_whitespace) {
            return Err(format!("invalid version {v:?} of {n}"));
        }
        push(&mut out, n, v)?;
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

    fn parse_full(c: &str, path: &str, data: &str) -> Result<Vec<Package>, String> {
        parse_with(catalogers(), c, path, data, Some("npm"))
    }

    fn run(c: &str, path: &str, data: &str) -> Result<Vec<(String, String)>, String> {
        parse_full(c, path, data).map(pairs)
    }

    const LOCK_V1: &str = r#"{
  "name": "legacy-app",
  "version": "1.0.0",
  "lockfileVersion": 1,
  "requires": true,
  "dependencies": {
    "@babel/code-frame": {
      "version": "7.22.13",
      "resolved": "https://registry.npmjs.org/@babel/code-frame/-/code-frame-7.22.13.tgz",
      "integrity": "sha512-XktuhWlJ5g+3TJXc5upd9Ks1HutSArik6jf2eAjYFyIOf4ej3RN+184cZbzDvbPnuTJIUhPKKJE3cIsYTiAT3w==",
      "dev": true,
      "requires": {"@babel/highlight": "^7.22.13"}
    },
    "debug": {
      "version": "2.6.9",
      "requires": {"ms": "2.0.0"},
      "dependencies": {
        "ms": {
          "version": "2.0.0"
        }
      }
    },
    "express": {
      "version": "4.18.2",
      "dependencies": {
        "debug": {
          "version": "2.6.9",
          "dependencies": {
            "ms": {"version": "2.0.0"}
          }
        },
        "qs": {"version": "6.11.0"}
      }
    },
    "ms": {"version": "2.1.3"},
    "local-lib": {"version": "file:../local-lib"},
    "forked": {"version": "github:acme/forked#6d3d2a1"},
    "string-width-cjs": {"version": "npm:string-width@4.2.3"}
  }
}"#;

    #[test]
    fn package_lock_v1() {
        let p = run("npm-package-lock", "/app/package-lock.json", LOCK_V1).unwrap();
        assert_eq!(
            p,
            set(&[
                ("@babel/code-frame", "7.22.13"),
                ("debug", "2.6.9"),
                ("ms", "2.0.0"),
                ("express", "4.18.2"),
                ("qs", "6.11.0"),
                ("ms", "2.1.3"),
                ("string-width", "4.2.3"),
            ])
        );
        let full = parse_full("npm-package-lock", "/app/package-lock.json", LOCK_V1).unwrap();
        assert_eq!(full[0].purl, "pkg:npm/%40babel/code-frame@7.22.13");
        assert!(full.iter().any(|p| p.purl == "pkg:npm/express@4.18.2"));
    }

    #[test]
    fn package_lock_v1_too_deep() {
        let mut s = String::from("{\"lockfileVersion\": 1, \"dependencies\": ");
        for _ in 0..200 {
            s.push_str("{\"a\": {\"version\": \"1.0.0\", \"dependencies\": ");
        }
        s.push_str("{}");
        for _ in 0..200 {
            s.push_str("}}");
        }
        s.push('}');
        let e = run("npm-package-lock", "/package-lock.json", &s).unwrap_err();
        assert!(
            e.contains("recursion limit") || e.contains("nested deeper"),
            "{e}"
        );
        // the walk's own limit, on a tree built directly
        let mut deps = BTreeMap::new();
        for _ in 0..MAX_LOCK_DEPTH + 1 {
            let mut up = BTreeMap::new();
            up.insert(
                "a".to_string(),
                NpmDepV1 {
                    version: Some("1.0.0".into()),
                    dependencies: Some(deps),
                },
            );
            deps = up;
        }
        let mut out = Found::new("/package-lock.json");
        assert!(walk_v1(&mut out, &deps, 1)
            .unwrap_err()
            .contains("deeper than 128"));
        let mut ok = Found::new("/package-lock.json");
        let inner = deps.remove("a").unwrap().dependencies.unwrap();
        walk_v1(&mut ok, &inner, 1).unwrap();
        assert_eq!(ok.finish().len(), 1);
    }

    const LOCK_V3: &str = r#"{
  "name": "web",
  "version": "2.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "web",
      "version": "2.0.0",
      "workspaces": ["packages/*"],
      "dependencies": {"express": "^4.18.2", "@types/node": "^20.10.0"}
    },
    "node_modules/@types/node": {
      "version": "20.10.4",
      "resolved": "https://registry.npmjs.org/@types/node/-/node-20.10.4.tgz",
      "dev": true
    },
    "node_modules/express": {
      "version": "4.18.2",
      "resolved": "https://registry.npmjs.org/express/-/express-4.18.2.tgz",
      "integrity": "sha512-5/PsL6iGPdfQ/lKM1UuielYgv3BUoJfz1aUwU9vHZ+J7gyvwdQXFEBIEIaxeGf0GIcreATNyBExtalisDbuMqQ=="
    },
    "node_modules/express/node_modules/debug": {
      "version": "2.6.9"
    },
    "node_modules/express/node_modules/debug/node_modules/ms": {
      "version": "2.0.0"
    },
    "node_modules/ms": {"version": "2.1.3"},
    "node_modules/string-width-cjs": {
      "name": "string-width",
      "version": "4.2.3"
    },
    "node_modules/shared": {"resolved": "packages/shared", "link": true},
    "packages/shared": {"name": "shared", "version": "0.0.1"},
    "packages/shared/node_modules/lodash": {"version": "4.17.21"},
    "node_modules/optional-thing": {"optional": true}
  }
}"#;

    #[test]
    fn package_lock_v2_v3() {
        let want = set(&[
            ("@types/node", "20.10.4"),
            ("express", "4.18.2"),
            ("debug", "2.6.9"),
            ("ms", "2.0.0"),
            ("ms", "2.1.3"),
            ("string-width", "4.2.3"),
            ("lodash", "4.17.21"),
        ]);
        assert_eq!(
            run("npm-package-lock", "/app/package-lock.json", LOCK_V3).unwrap(),
            want
        );
        // v2: both maps; "packages" is read
        let v2 = LOCK_V3.replace(
            "\"lockfileVersion\": 3,",
            "\"lockfileVersion\": 2, \"dependencies\": {\"zzz\": {\"version\": \"9.9.9\"}},",
        );
        assert_eq!(
            run("npm-package-lock", "/app/npm-shrinkwrap.json", &v2).unwrap(),
            want
        );
        let full = parse_full("npm-package-lock", "/app/package-lock.json", LOCK_V3).unwrap();
        assert_eq!(full[0].purl, "pkg:npm/%40types/node@20.10.4");
    }

    #[test]
    fn package_lock_corrupt() {
        let e = run(
            "npm-package-lock",
            "/package-lock.json",
            "{\"packages\": {\"\": }",
        )
        .unwrap_err();
        assert!(e.starts_with("invalid JSON at line 1 column 19: "), "{e}");
        let e = run("npm-package-lock", "/package-lock.json", "[]").unwrap_err();
        assert!(
            e.starts_with("unexpected JSON content at line 1 column "),
            "{e}"
        );
        let e = run(
            "npm-package-lock",
            "/package-lock.json",
            "{\"packages\": {\"node_modules/a\": {\"link\": \"yes\"}}}",
        )
        .unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        assert!(!(cat("npm-package-lock").claims)(
            "/app/node_modules/.package-lock.json"
        ));
    }

    const YARN_V1: &str = r#"# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


"@babel/core@^7.0.0", "@babel/core@^7.1.0":
  version "7.23.6"
  resolved "https://registry.yarnpkg.com/@babel/core/-/core-7.23.6.tgz#8be77cd77c55baadcc1eae1c33df90ab6d2151d4"
  integrity sha512-FxpRyGjrMJXh7X3wGLGhNDCRiwpWEF74sKjTLDJSG5Kyvow3QZaG0Adbqzi9ZrVjTWpsX+2cxWXD71NMg93kdw==
  dependencies:
    "@babel/code-frame" "^7.23.5"
    version "^1.0.0"

abbrev@1, abbrev@^1.0.0:
  version "1.1.1"
  resolved "https://registry.yarnpkg.com/abbrev/-/abbrev-1.1.1.tgz#f8f2c887ad10bf67f634f005b6987fed3179aac8"

lodash@^4.17.21:
  version "4.17.21"

"string-width-cjs@npm:string-width@^4.2.0":
  version "4.2.3"

"my-fork@git+ssh://git@github.com/acme/my-fork.git#v2":
  version "2.0.0"
  resolved "git+ssh://git@github.com/acme/my-fork.git#0a1b2c3"

"local@file:./local":
  version "0.1.0"
"#;

    #[test]
    fn yarn_v1() {
        let p = run("yarn-lock", "/app/yarn.lock", YARN_V1).unwrap();
        assert_eq!(
            p,
            set(&[
                ("@babel/core", "7.23.6"),
                ("abbrev", "1.1.1"),
                ("lodash", "4.17.21"),
                ("string-width", "4.2.3"),
                ("my-fork", "2.0.0"),
            ])
        );
        let full = parse_full("yarn-lock", "/app/yarn.lock", YARN_V1).unwrap();
        assert_eq!(full[0].purl, "pkg:npm/%40babel/core@7.23.6");
        let crlf = YARN_V1.replace('\n', "\r\n");
        assert_eq!(run("yarn-lock", "/app/yarn.lock", &crlf).unwrap(), p);
    }

    const YARN_BERRY: &str = r#"# This file is generated by running "yarn install" inside your project.
# Manual changes might be lost - proceed with caution!

__metadata:
  version: 8
  cacheKey: 10c0

"@babel/code-frame@npm:^7.0.0, @babel/code-frame@npm:^7.22.13":
  version: 7.23.5
  resolution: "@babel/code-frame@npm:7.23.5"
  dependencies:
    "@babel/highlight": "npm:^7.23.4"
    chalk: "npm:^2.4.2"
  checksum: 10c0/a10e843595ddd9f97faa99917414813c06214f4d9205294013e20c70fbdf4f943760da37dec1d998bf3e6fc20fa2918a47c0e987a7e458663feb7698063ad7
  languageName: node
  linkType: hard

"chalk@npm:^2.4.2":
  version: 2.4.2
  resolution: "chalk@npm:2.4.2"
  languageName: node
  linkType: hard

"resolve@patch:resolve@npm%3A^1.20.0#optional!builtin<compat/resolve>":
  version: 1.22.8
  resolution: "resolve@patch:resolve@npm%3A1.22.8#optional!builtin<compat/resolve>::version=1.22.8&hash=c3c19d"
  languageName: node
  linkType: hard

"resolve@npm:^1.20.0":
  version: 1.22.8
  resolution: "resolve@npm:1.22.8"

"my-app@workspace:.":
  version: 0.0.0-use.local
  resolution: "my-app@workspace:."
  languageName: unknown
  linkType: soft

"@acme/ui@workspace:packages/ui":
  version: 0.0.0-use.local
  resolution: "@acme/ui@workspace:packages/ui"

"tools@link:./tools::locator=my-app%40workspace%3A.":
  version: 0.0.0-use.local
"#;

    #[test]
    fn yarn_berry() {
        let p = run("yarn-lock", "/app/yarn.lock", YARN_BERRY).unwrap();
        assert_eq!(
            p,
            set(&[
                ("@babel/code-frame", "7.23.5"),
                ("chalk", "2.4.2"),
                ("resolve", "1.22.8")
            ])
        );
    }

    #[test]
    fn yarn_corrupt() {
        let e = run(
            "yarn-lock",
            "/yarn.lock",
            "lodash@^4:\n  resolved \"x\"\n\nabbrev@1:\n  version \"1.1.1\"\n",
        )
        .unwrap_err();
        assert_eq!(e, "line 1: entry for lodash has no version");
        let e = run("yarn-lock", "/yarn.lock", "<!DOCTYPE html>\n<html>\n").unwrap_err();
        assert!(e.starts_with("line 1: expected an entry header"), "{e}");
        let e = run("yarn-lock", "/yarn.lock", "  version \"1\"\n").unwrap_err();
        assert!(
            e.starts_with("line 1: indented line before any entry"),
            "{e}"
        );
        let e = run("yarn-lock", "/yarn.lock", "lodash:\n  version \"1\"\n").unwrap_err();
        assert!(e.starts_with("line 1: no '@'"), "{e}");
    }

    const PNPM_V5: &str = r#"lockfileVersion: 5.4

specifiers:
  react: ^18.2.0
  styled-jsx: 5.1.1

dependencies:
  react: 18.2.0
  styled-jsx: 5.1.1_react@18.2.0

packages:

  /js-tokens/4.0.0:
    resolution: {integrity: sha512-RdJUflcE3cUzKiMqQgsCu06FPu9UdIJO0beYbPhHN4k6apgJtifcoCtT9bcxOpYBtpD2kCM6Sbzg4CausW/PKQ==}
    dev: false

  /react/18.2.0:
    resolution: {integrity: sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==}
    engines: {node: '>=0.10.0'}
    dependencies:
      loose-envify: 1.4.0
    dev: false

  /@babel/core/7.23.6:
    resolution: {integrity: sha512-FxpRyGjrMJXh7X3wGLGhNDCRiwpWEF74sKjTLDJSG5Kyvow3QZaG0Adbqzi9ZrVjTWpsX+2cxWXD71NMg93kdw==}
    dev: true

  /styled-jsx/5.1.1_react@18.2.0:
    resolution: {integrity: sha512-pW7uC1l4mBZ8ugbiZrcIsiIvVx1UmTfw7UkC3Um2tmfUq9Bhk8IiyEIPl6F8agHgjzku6j0xQEZbfA5uSgSaCw==}
    peerDependencies:
      react: '>= 16.8.0 || 17.x.x || ^18.0.0-0'
    dev: false

  /@emotion/react/11.11.1_@babel+core@7.23.6+react@18.2.0:
    resolution: {integrity: sha512-5mlW1DquU5HaxjLkfkGN1GA/fvVGdyHURRiX/0FHl2cfIfRxSOfmxEH5YS43edp0OldZrZ+dkBKbngxcNCdZvA==}
    dev: false

  github.com/acme/widget/0a1b2c3d:
    resolution: {tarball: https://codeload.github.com/acme/widget/tar.gz/0a1b2c3d}
    name: widget
    version: 1.4.0
    dev: false
"#;

    const PNPM_V6: &str = r#"lockfileVersion: '6.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

dependencies:
  next:
    specifier: 14.0.4
    version: 14.0.4(react-dom@18.2.0)(react@18.2.0)

packages:

  /@next/env@14.0.4:
    resolution: {integrity: sha512-irQnbMLbUNQpP1wcE5NstJtbuA/69kRfzBrpAD7Gsn8zm/CY6YQYc3HQBz8QPxwISG26tIm5afvvVbu508oBeQ==}
    dev: false

  /next@14.0.4(react-dom@18.2.0)(react@18.2.0):
    resolution: {integrity: sha512-qbwypnM7327SadwFtxXnQdGiKpkuhaRLE2uq62/nRul9cj9KhQ5LhHmlziTNqUidZotw/Q1I9OjirBROdUJNgA==}
    engines: {node: '>=18.17.0'}
    hasBin: true
    peerDependencies:
      react: ^18.2.0
    dev: false

  /react@18.2.0:
    resolution: {integrity: sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==}
    dev: false
"#;

    const PNPM_V9: &str = r#"lockfileVersion: '9.0'

settings:
  autoInstallPeers: true
  excludeLinksFromLockfile: false

importers:

  .:
    dependencies:
      '@tanstack/react-query':
        specifier: ^5.14.0
        version: 5.14.0(react@18.2.0)
      local-lib:
        specifier: link:../local-lib
        version: link:../local-lib

packages:

  '@tanstack/query-core@5.14.0':
    resolution: {integrity: sha512-OEri9fVMtsb7v8tC1r9HtBKe/q0hrqB4P6qbbb4EXnPA/KRqTZTMm9XOzkAHTWxzhGtOe/QdS9wF/7QzhAmODA==}

  '@tanstack/react-query@5.14.0':
    resolution: {integrity: sha512-bbaHALhMzGpLakWbGdRlgdm3TmtI6vRVBcaQLgHHLzRK6i0dhhlYvRkqBl0rT6WcO/a3zMMeewv+BEQfJYyuwg==}
    peerDependencies:
      react: ^18.0.0

  react@18.2.0:
    resolution: {integrity: sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==}
    engines: {node: '>=0.10.0'}

  widget@https://codeload.github.com/acme/widget/tar.gz/0a1b2c3d:
    resolution: {tarball: https://codeload.github.com/acme/widget/tar.gz/0a1b2c3d}
    version: 1.4.0

snapshots:

  '@tanstack/react-query@5.14.0(react@18.2.0)':
    dependencies:
      '@tanstack/query-core': 5.14.0
      react: 18.2.0

  react@18.2.0: {}
"#;

    #[test]
    fn pnpm() {
        assert_eq!(
            run("pnpm-lock", "/app/pnpm-lock.yaml", PNPM_V5).unwrap(),
            set(&[
                ("js-tokens", "4.0.0"),
                ("react", "18.2.0"),
                ("@babel/core", "7.23.6"),
                ("styled-jsx", "5.1.1"),
                ("@emotion/react", "11.11.1"),
                ("widget", "1.4.0"),
            ])
        );
        assert_eq!(
            run("pnpm-lock", "/app/pnpm-lock.yaml", PNPM_V6).unwrap(),
            set(&[
                ("@next/env", "14.0.4"),
                ("next", "14.0.4"),
                ("react", "18.2.0")
            ])
        );
        assert_eq!(
            run("pnpm-lock", "/app/pnpm-lock.yaml", PNPM_V9).unwrap(),
            set(&[
                ("@tanstack/query-core", "5.14.0"),
                ("@tanstack/react-query", "5.14.0"),
                ("react", "18.2.0"),
                ("widget", "1.4.0"),
            ])
        );
        let full = parse_full("pnpm-lock", "/app/pnpm-lock.yaml", PNPM_V9).unwrap();
        assert_eq!(full[0].purl, "pkg:npm/%40tanstack/query-core@5.14.0");
        // a lockfile with no packages yet
        assert_eq!(
            run(
                "pnpm-lock",
                "/app/pnpm-lock.yaml",
                "lockfileVersion: '9.0'\n"
            )
            .unwrap(),
            vec![]
        );
    }

    #[test]
    fn pnpm_corrupt() {
        let e = run(
            "pnpm-lock",
            "/pnpm-lock.yaml",
            "lockfileVersion: '9.0'\npackages:\n  a@1.0.0: {\n",
        )
        .unwrap_err();
        assert!(e.starts_with("invalid YAML at line 4 column 1: "), "{e}");
        let e = run("pnpm-lock", "/pnpm-lock.yaml", "packages: {}\n").unwrap_err();
        assert!(e.contains("no lockfileVersion"), "{e}");
        let e = run("pnpm-lock", "/pnpm-lock.yaml", "lockfileVersion: 'x'\n").unwrap_err();
        assert!(e.contains("unknown lockfileVersion"), "{e}");
        let e = run("pnpm-lock", "/pnpm-lock.yaml", "- a\n- b\n").unwrap_err();
        assert!(
            e.starts_with("invalid YAML at line 1 column 1: invalid type: sequence"),
            "{e}"
        );
        // an alias bomb (10^16 nodes if expanded) ends quickly, in or out of "packages"
        let mut bomb = String::from("lockfileVersion: '9.0'\na: &a {v: 1, w: 2}\n");
        let mut prev = 'a';
        for c in 'b'..='p' {
            let refs: Vec<String> = (0..10).map(|k| format!("k{k}: *{prev}")).collect();
            bomb.push_str(&format!("{c}: &{c} {{{}}}\n", refs.join(", ")));
            prev = c;
        }
        let t = std::time::Instant::now();
        let _ = run("pnpm-lock", "/pnpm-lock.yaml", &bomb);
        let in_packages = format!("{bomb}packages: *p\n");
        assert_eq!(
            run("pnpm-lock", "/pnpm-lock.yaml", &in_packages).unwrap(),
            vec![]
        );
        let in_name = format!("{bomb}packages:\n  x@1.0.0:\n    name: *p\n");
        let e = run("pnpm-lock", "/pnpm-lock.yaml", &in_name).unwrap_err();
        assert!(
            e.starts_with("invalid YAML") && e.contains("repetition limit"),
            "{e}"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn installed_package_json() {
        let pj = r#"{"name": "@babel/core", "version": "7.23.6", "description": "Babel compiler core.", "main": "./lib/index.js", "dependencies": {"debug": "^4.1.0"}}"#;
        let full = parse_full(
            "npm-installed",
            "/app/node_modules/@babel/core/package.json",
            pj,
        )
        .unwrap();
        assert_eq!(
            (full[0].name.as_str(), full[0].version.as_str()),
            ("@babel/core", "7.23.6")
        );
        assert_eq!(full[0].purl, "pkg:npm/%40babel/core@7.23.6");
        let pj = r#"{"name": "ms", "version": "2.0.0"}"#;
        let path = "/usr/lib/node_modules/npm/node_modules/debug/node_modules/ms/package.json";
        assert_eq!(
            run("npm-installed", path, pj).unwrap(),
            set(&[("ms", "2.0.0")])
        );
        let path = "/app/node_modules/.pnpm/lodash@4.17.21/node_modules/lodash/package.json";
        assert_eq!(
            run(
                "npm-installed",
                path,
                r#"{"name":"lodash","version":"4.17.21"}"#
            )
            .unwrap(),
            set(&[("lodash", "4.17.21")])
        );
        // no version: not a package
        assert_eq!(
            run(
                "npm-installed",
                "/app/node_modules/x/package.json",
                r#"{"name": "x"}"#
            )
            .unwrap(),
            vec![]
        );
        let e = run(
            "npm-installed",
            "/app/node_modules/x/package.json",
            "{\"name\": \"x\",",
        )
        .unwrap_err();
        assert!(
            e.starts_with("invalid JSON at line 1 column 13: EOF"),
            "{e}"
        );
        let e = run(
            "npm-installed",
            "/app/node_modules/x/package.json",
            r#"{"name": "a b", "version": "1"}"#,
        )
        .unwrap_err();
        assert!(e.contains("invalid package name"), "{e}");

        let c = cat("npm-installed");
        assert!((c.claims)("/app/node_modules/x/package.json"));
        assert!(!(c.claims)("/app/package.json"));
        assert!(!(c.claims)("/app/node_modules/x/dist/esm/package.json"));
        assert!(!(c.claims)("/app/node_modules/.bin/package.json"));
        assert!(!(c.claims)("/app/node_modules/@scope/package.json"));
        assert!(!(c.claims)("/app/node_modules/x/package.json.bak"));
        assert!(!(c.claims)("/app/my_node_modules/x/package.json"));
    }

    #[test]
    fn walked_tree() {
        let d = tempfile::tempdir().unwrap();
        let w = |rel: &str, body: &str| {
            let f = d.path().join(rel);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, body).unwrap();
        };
        w(
            "app/package.json",
            r#"{"name": "my-app", "version": "1.0.0"}"#,
        );
        w(
            "app/node_modules/@scope/x/package.json",
            r#"{"name": "@scope/x", "version": "2.0.0"}"#,
        );
        w(
            "app/node_modules/@scope/x/dist/package.json",
            r#"{"name": "fixture", "version": "0.0.1"}"#,
        );
        w("app/yarn.lock", "lodash@^4.17.21:\n  version \"4.17.21\"\n");
        w(
            "app/pnpm-lock.yaml",
            "lockfileVersion: '9.0'\npackages:\n  a@: {\n",
        );
        let c = crate::catalog::catalog_dir(d.path());
        let got: Vec<(&str, &str, &str)> = c
            .packages
            .iter()
            .filter(|p| p.ecosystem == "npm")
            .map(|p| (p.name.as_str(), p.version.as_str(), p.location.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "@scope/x",
                    "2.0.0",
                    "/app/node_modules/@scope/x/package.json"
                ),
                ("lodash", "4.17.21", "/app/yarn.lock"),
            ]
        );
        let w = c
            .warnings
            .iter()
            .find(|w| w.file == "/app/pnpm-lock.yaml")
            .unwrap();
        assert!(
            w.message.starts_with("pnpm-lock: invalid YAML at line 4"),
            "{}",
            w.message
        );
    }

    #[test]
    fn specs_split() {
        assert_eq!(
            split_spec("@babel/core@^7.0.0"),
            Some(("@babel/core", "^7.0.0"))
        );
        assert_eq!(split_spec("a@npm:b@^1"), Some(("a", "npm:b@^1")));
        assert_eq!(split_spec("@scope"), None);
        assert_eq!(split_spec(""), None);
        assert_eq!(
            pnpm_key("/@scope/name/1.2.3_peer@1.0.0", true),
            Some(("@scope/name", "1.2.3"))
        );
        assert_eq!(
            pnpm_key("/name@1.2.3(peer@1.0.0)", false),
            Some(("name", "1.2.3"))
        );
        assert_eq!(pnpm_key("/name", true), None);
    }
}
