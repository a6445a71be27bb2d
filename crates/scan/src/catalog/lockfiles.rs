//! Lockfiles and manifests of compiled and scripting-language ecosystems:
//! `Cargo.lock` (crates.io), `go.mod` (Go), `Gemfile.lock` and installed
//! `specifications/*.gemspec` (RubyGems), `composer.lock` and
//! `vendor/composer/installed.json` (Packagist).
//!
//! Also holds the helpers the other lockfile catalogers (python, js) share: text
//! decoding, parser error messages with line and column, and the per-file package
//! collector with its package cap.
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{purl, Cataloger, Input};
use crate::Package;

/// Most packages read from one file (more is an error, not an OOM).
pub(crate) const MAX_PACKAGES: usize = 1_000_000;

/// The catalogers of this module.
pub fn catalogers() -> Vec<Cataloger> {
    vec![
        Cataloger {
            name: "cargo-lock",
            claims: |p| basename(p) == "Cargo.lock",
            max_size: super::MAX_TEXT_FILE,
            parse: parse_cargo_lock,
        },
        Cataloger {
            name: "go-mod",
            // not the module cache's copies ($GOPATH/pkg/mod/x@v1/go.mod): those are
            // dependencies' own minimum requirements, not what was built
            claims: |p| basename(p) == "go.mod" && !p.contains("/pkg/mod/"),
            max_size: super::MAX_TEXT_FILE,
            parse: parse_go_mod,
        },
        Cataloger {
            name: "gemfile-lock",
            claims: |p| matches!(basename(p), "Gemfile.lock" | "gems.locked"),
            max_size: super::MAX_TEXT_FILE,
            parse: parse_gemfile_lock,
        },
        Cataloger {
            name: "gemspec",
            claims: claims_gemspec,
            max_size: super::MAX_TEXT_FILE,
            parse: parse_gemspec,
        },
        Cataloger {
            name: "composer-lock",
            claims: |p| basename(p) == "composer.lock",
            max_size: super::MAX_TEXT_FILE,
            parse: parse_composer_lock,
        },
        Cataloger {
            name: "composer-installed",
            claims: |p| p.ends_with("/vendor/composer/installed.json"),
            max_size: super::MAX_TEXT_FILE,
            parse: parse_composer_installed,
        },
    ]
}

// ---------------------------------------------------------------------------
// shared helpers

/// The last path component.
pub(crate) fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The file as UTF-8 text, without a byte order mark.
pub(crate) fn text(data: &[u8]) -> Result<&str, String> {
    let t = std::str::from_utf8(data).map_err(|e| format!("not UTF-8 text: {e}"))?;
    Ok(t.strip_prefix('\u{feff}').unwrap_or(t))
}

/// Deserialize JSON (a leading byte order mark is allowed).
pub(crate) fn json<T: DeserializeOwned>(data: &[u8]) -> Result<T, String> {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    serde_json::from_slice(data).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "unexpected JSON content",
            _ => "invalid JSON",
        };
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = full.strip_suffix(&suffix).unwrap_or(&full);
        format!("{what} at line {} column {}: {msg}", e.line(), e.column())
    })
}

/// Deserialize TOML.
pub(crate) fn toml<T: DeserializeOwned>(data: &[u8]) -> Result<T, String> {
    let t = text(data)?;
    toml::from_str(t).map_err(|e| {
        let msg = e.message().trim().lines().collect::<Vec<_>>().join("; ");
        match e.span() {
            Some(s) => {
                let (l, c) = line_col(t, s.start);
                format!("invalid TOML at line {l} column {c}: {msg}")
            }
            None => format!("invalid TOML: {msg}"),
        }
    })
}

/// Deserialize YAML.
pub(crate) fn yaml<T: DeserializeOwned>(data: &[u8]) -> Result<T, String> {
    let t = text(data)?;
    // serde_yaml bounds recursion (128) and alias expansion ("repetition limit")
    serde_yaml::from_str(t).map_err(|e| {
        let full = e.to_string();
        match e.location() {
            Some(l) => {
                let at = format!(" at line {} column {}", l.line(), l.column());
                let msg = full.replacen(&at, "", 1);
                format!(
                    "invalid YAML at line {} column {}: {msg}",
                    l.line(),
                    l.column()
                )
            }
            None => format!("invalid YAML: {full}"),
        }
    })
}

/// 1-based line and column (in characters) of byte offset `off` of `t`.
fn line_col(t: &str, off: usize) -> (usize, usize) {
    let off = off.min(t.len());
    let before = &t.as_bytes()[..off];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = t.get(start..off).map_or(off - start, |s| s.chars().count()) + 1;
    (line, col)
}

/// The packages read from one file: each tagged with the file, at most
/// [`MAX_PACKAGES`], sorted and deduplicated at the end.
pub(crate) struct Found<'a> {
    path: &'a str,
    limit: usize,
    pkgs: Vec<Package>,
}

impl<'a> Found<'a> {
    /// Packages of the file at `path`.
    pub(crate) fn new(path: &'a str) -> Self {
        Found {
            path,
            limit: MAX_PACKAGES,
            pkgs: Vec::new(),
        }
    }

    /// Add one package (an error once the file holds too many).
    pub(crate) fn push(
        &mut self,
        ecosystem: &str,
        name: String,
        version: String,
        purl: String,
    ) -> Result<(), String> {
        if self.pkgs.len() >= self.limit {
            return Err(format!("more than {} packages in one file", self.limit));
        }
        self.pkgs.push(Package {
            ecosystem: ecosystem.to_string(),
            name,
            version,
            source: None,
            location: self.path.to_string(),
            layer: None,
            purl,
        });
        Ok(())
    }

    /// The packages, sorted, duplicates removed.
    pub(crate) fn finish(mut self) -> Vec<Package> {
        self.pkgs.sort();
        self.pkgs.dedup();
        self.pkgs
    }
}

// ---------------------------------------------------------------------------
// Cargo.lock

#[derive(Deserialize)]
struct CargoLock {
    #[serde(default)]
    package: Vec<CargoPkg>,
}

#[derive(Deserialize)]
struct CargoPkg {
    name: String,
    version: String,
    source: Option<String>,
}

/// `Cargo.lock`: registry packages (path and git packages are skipped: they are
/// not crates.io releases).
fn parse_cargo_lock(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let lock: CargoLock = toml(i.data)?;
    let mut out = Found::new(i.path);
    for p in lock.package {
        if !p
            .source
            .as_deref()
            .is_some_and(|s| s.starts_with("registry+"))
        {
            continue;
        }
        if p.name.is_empty() || p.version.is_empty() {
            return Err(format!(
                "package with empty name or version ({:?} {:?})",
                p.name, p.version
            ));
        }
        let u = purl("cargo", None, &p.name, &p.version, &[]);
        out.push("crates.io", p.name, p.version, u)?;
    }
    Ok(out.finish())
}

// ---------------------------------------------------------------------------
// go.mod

#[derive(Clone, Copy, PartialEq)]
enum GoBlock {
    Require,
    Replace,
    Other,
}

/// A `replace`: old path, old version (all versions if none), new module path and
/// version (none for a local directory).
type GoReplace = (String, Option<String>, Option<(String, String)>);

fn go_unquote(s: &str) -> &str {
    s.trim_matches(|c| c == '"' || c == '`')
}

/// `go.mod`: the required modules (`require` lines, single and block form), with
/// `replace`ments applied (a module replaced by a local directory is dropped).
fn parse_go_mod(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let t = text(i.data)?;
    let mut requires: Vec<(String, String)> = Vec::new();
    let mut replaces: Vec<GoReplace> = Vec::new();
    let mut block: Option<(GoBlock, usize)> = None;
    for (n, raw) in t.lines().enumerate() {
        let ln = n + 1;
        let line = raw.find("//").map_or(raw, |c| &raw[..c]).trim();
        if line.is_empty() {
            continue;
        }
        let (kind, entry) = match block {
            Some(_) if line == ")" => {
                block = None;
                continue;
            }
            Some((kind, _)) => (kind, line),
            None => {
                let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                let kind = match verb {
                    "require" => GoBlock::Require,
                    "replace" => GoBlock::Replace,
                    _ => GoBlock::Other,
                };
                let rest = rest.trim();
                if rest == "(" {
                    block = Some((kind, ln));
                    continue;
                }
                if kind != GoBlock::Other && rest.starts_with('(') {
                    return Err(format!(
                        "line {ln}: malformed {verb} block opening {line:?}"
                    ));
                }
                (kind, rest)
            }
        };
        match kind {
            GoBlock::Other => {}
            GoBlock::Require => {
                let toks: Vec<&str> = entry.split_whitespace().collect();
                let [path, ver] = toks[..] else {
                    return Err(format!(
                        "line {ln}: malformed require {entry:?} (want: module/path vX.Y.Z)"
                    ));
                };
                let (path, ver) = (go_unquote(path), go_unquote(ver));
                if path.is_empty() || !ver.starts_with('v') {
                    return Err(format!(
                        "line {ln}: malformed require {entry:?} (want: module/path vX.Y.Z)"
                    ));
                }
                if requires.len() >= MAX_PACKAGES {
                    return Err(format!("more than {MAX_PACKAGES} requirements"));
                }
                requires.push((path.to_string(), ver.to_string()));
            }
            GoBlock::Replace => {
                let bad = || format!("line {ln}: malformed replace {entry:?}");
                let (old, new) = entry.split_once("=>").ok_or_else(bad)?;
                let old: Vec<&str> = old.split_whitespace().map(go_unquote).collect();
                let new: Vec<&str> = new.split_whitespace().map(go_unquote).collect();
                let (old_path, old_ver) = match old[..] {
                    [p] => (p, None),
                    [p, v] => (p, Some(v.to_string())),
                    _ => return Err(bad()),
                };
                let target = match new[..] {
                    [_dir] => None,
                    [p, v] => Some((p.to_string(), v.to_string())),
                    _ => return Err(bad()),
                };
                if replaces.len() >= MAX_PACKAGES {
                    return Err(format!("more than {MAX_PACKAGES} replacements"));
                }
                replaces.push((old_path.to_string(), old_ver, target));
            }
        }
    }
    if let Some((_, start)) = block {
        return Err(format!("block opened at line {start} is never closed"));
    }
    let mut out = Found::new(i.path);
    for (path, ver) in requires {
        // a replace naming the version wins over one for every version
        let rep = replaces
            .iter()
            .rev()
            .find(|r| r.0 == path && r.1.as_deref() == Some(ver.as_str()))
            .or_else(|| replaces.iter().rev().find(|r| r.0 == path && r.1.is_none()));
        let (path, ver) = match rep {
            None => (path, ver),
            Some((_, _, None)) => continue, // a local directory
            Some((_, _, Some((p, v)))) => (p.clone(), v.clone()),
        };
        let (ns, name) = match path.rsplit_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, path.as_str()),
        };
        let u = purl("golang", ns, name, &ver, &[]);
        out.push("Go", path, ver, u)?;
    }
    Ok(out.finish())
}

// ---------------------------------------------------------------------------
// RubyGems

/// `Gemfile.lock`: the `specs:` of its `GEM` sections (gems from rubygems
/// sources; `GIT` and `PATH` gems are not releases), platform suffixes dropped.
fn parse_gemfile_lock(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let t = text(i.data)?;
    let mut out = Found::new(i.path);
    let mut section = "";
    let mut known = false;
    let mut in_specs = false;
    for (n, line) in t.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            section = line.trim_end();
            in_specs = false;
            known |= matches!(
                section,
                "GEM"
                    | "GIT"
                    | "PATH"
                    | "PLATFORMS"
                    | "DEPENDENCIES"
                    | "BUNDLED WITH"
                    | "RUBY VERSION"
            );
            continue;
        }
        if section != "GEM" {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent == 2 {
            in_specs = line.trim_end() == "  specs:";
            continue;
        }
        if indent != 4 || !in_specs {
            continue; // 6 spaces: a dependency of the spec above
        }
        let spec = line.trim();
        let bad = || {
            format!(
                "line {}: malformed spec {spec:?} (want: name (version))",
                n + 1
            )
        };
        let (name, ver) = spec.split_once(" (").ok_or_else(bad)?;
        let ver = ver.strip_suffix(')').ok_or_else(bad)?;
        // `1.15.5-x86_64-linux`: the platform follows the first '-'
        let ver = ver.split('-').next().unwrap_or(ver);
        if name.is_empty() || name.contains(char::is_whitespace) || ver.is_empty() {
            return Err(bad());
        }
        let u = purl("gem", None, name, ver, &[]);
        out.push("RubyGems", name.to_string(), ver.to_string(), u)?;
    }
    if !known && !t.trim().is_empty() {
        return Err(
            "no GEM, GIT, PATH, PLATFORMS or DEPENDENCIES section: not a Gemfile.lock".into(),
        );
    }
    Ok(out.finish())
}

/// `.../specifications/x.gemspec` and `.../specifications/default/x.gemspec`
/// (the gem's installed specification, written by RubyGems).
fn claims_gemspec(p: &str) -> bool {
    let Some(i) = p.rfind("/specifications/") else {
        return false;
    };
    let rest = &p[i + "/specifications/".len()..];
    let file = rest.strip_prefix("default/").unwrap_or(rest);
    !file.contains('/') && file.len() > ".gemspec".len() && file.ends_with(".gemspec")
}

/// The first Ruby string literal in `s`: `"x"`, `'x'`, `%q{x}` (no escapes).
fn ruby_string(mut s: &str) -> Option<&str> {
    loop {
        let q = s.find(['"', '\'', '%'])?;
        let rest = &s[q..];
        if let Some(r) = rest.strip_prefix("%q").or_else(|| rest.strip_prefix("%Q")) {
            let open = r.chars().next()?;
            let close = match open {
                '{' => '}',
                '(' => ')',
                '<' => '>',
                '[' => ']',
                c if c.is_ascii_punctuation() => c,
                _ => return None,
            };
            return r[open.len_utf8()..].split_once(close).map(|(v, _)| v);
        }
        if let Some(r) = rest.strip_prefix('%') {
            s = r; // a modulo, or another % literal
            continue;
        }
        let quote = rest.chars().next()?;
        return rest[1..].split_once(quote).map(|(v, _)| v);
    }
}

/// An installed gemspec (Ruby source as RubyGems writes it):
/// `s.name = "x".freeze`, `s.version = "1.2.3"` (or `Gem::Version.new("1.2.3")`),
/// else the `# stub: name version platform` line.
fn parse_gemspec(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let t = text(i.data)?;
    let (mut name, mut version, mut stub) = (None, None, None);
    for line in t.lines() {
        let l = line.trim();
        if let Some(s) = l.strip_prefix("# stub: ") {
            let mut w = s.split_whitespace();
            if let (Some(n), Some(v)) = (w.next(), w.next()) {
                stub.get_or_insert((n, v));
            }
            continue;
        }
        let Some((lhs, rhs)) = l.split_once('=') else {
            continue;
        };
        if rhs.starts_with(['=', '~']) {
            continue; // `==`, `=~`: not an assignment
        }
        let Some((var, field)) = lhs.trim().split_once('.') else {
            continue;
        };
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let slot = match field {
            "name" => &mut name,
            "version" => &mut version,
            _ => continue,
        };
        if slot.is_none() {
            *slot = ruby_string(rhs).map(str::trim);
        }
    }
    let (name, version) = match (name, version, stub) {
        (Some(n), Some(v), _) => (n, v),
        (_, _, Some((n, v))) => (n, v),
        _ => return Err("no `s.name = ...` / `s.version = ...` assignment: not a gemspec".into()),
    };
    if name.is_empty()
        || name.contains(char::is_whitespace)
        || version.is_empty()
        || version.contains(char::is_whitespace)
    {
        return Err(format!("bad gem name or version ({name:?} {version:?})"));
    }
    let mut out = Found::new(i.path);
    out.push(
        "RubyGems",
        name.into(),
        version.into(),
        purl("gem", None, name, version, &[]),
    )?;
    Ok(out.finish())
}

// ---------------------------------------------------------------------------
// Packagist

#[derive(Deserialize)]
struct ComposerPkg {
    name: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct ComposerLock {
    packages: Option<Vec<ComposerPkg>>,
    #[serde(rename = "packages-dev")]
    packages_dev: Option<Vec<ComposerPkg>>,
}

fn composer_packages<'p>(
    out: &mut Found<'_>,
    pkgs: impl IntoIterator<Item = &'p ComposerPkg>,
) -> Result<(), String> {
    for p in pkgs {
        let (Some(name), Some(ver)) = (p.name.as_deref(), p.version.as_deref()) else {
            continue;
        };
        let Some((vendor, pkg)) = name.split_once('/') else {
            continue; // not vendor/package
        };
        let ver = match ver.strip_prefix(['v', 'V']) {
            Some(v) if v.starts_with(|c: char| c.is_ascii_digit()) => v,
            _ => ver,
        };
        if vendor.is_empty() || pkg.is_empty() || ver.is_empty() {
            continue;
        }
        let u = purl("composer", Some(vendor), pkg, ver, &[]);
        out.push("Packagist", name.to_string(), ver.to_string(), u)?;
    }
    Ok(())
}

/// `composer.lock`: `packages` and `packages-dev`.
fn parse_composer_lock(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let lock: ComposerLock = json(i.data)?;
    if lock.packages.is_none() && lock.packages_dev.is_none() {
        return Err("no \"packages\" or \"packages-dev\": not a composer.lock".into());
    }
    let mut out = Found::new(i.path);
    composer_packages(&mut out, lock.packages.iter().flatten())?;
    composer_packages(&mut out, lock.packages_dev.iter().flatten())?;
    Ok(out.finish())
}

#[derive(Deserialize)]
struct ComposerInstalledV2 {
    packages: Vec<ComposerPkg>,
}

/// `vendor/composer/installed.json`: an array (Composer 1) or
/// `{"packages": [...]}` (Composer 2).
fn parse_composer_installed(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let first = i
        .data
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(i.data)
        .iter()
        .find(|b| !b.is_ascii_whitespace());
    let pkgs: Vec<ComposerPkg> = match first {
        Some(b'[') => json(i.data)?,
        Some(b'{') => json::<ComposerInstalledV2>(i.data)?.packages,
        _ => return Err("neither a JSON array nor an object: not an installed.json".into()),
    };
    let mut out = Found::new(i.path);
    composer_packages(&mut out, &pkgs)?;
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::catalog::testutil::{pairs, parse_with, set};

    fn run(c: &str, path: &str, data: &str) -> Result<Vec<(String, String)>, String> {
        parse_with(catalogers(), c, path, data, None).map(pairs)
    }

    fn parse_full(c: &str, path: &str, data: &str) -> Vec<Package> {
        let cats = catalogers();
        let cat = cats.iter().find(|x| x.name == c).unwrap();
        (cat.parse)(&Input {
            path,
            data: data.as_bytes(),
            distro: None,
        })
        .unwrap()
    }

    const CARGO_LOCK: &str = r#"# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 3

[[package]]
name = "anyhow"
version = "1.0.75"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "a4668cab20f66d8d020e1fbc0ebe47217433c1b6c8f2040faf858554e394ace6"

[[package]]
name = "myapp"
version = "0.1.0"
dependencies = [
 "anyhow",
 "mylib",
 "serde_json",
 "tokio",
]

[[package]]
name = "mylib"
version = "0.2.0"
dependencies = [
 "anyhow",
]

[[package]]
name = "serde_json"
version = "1.0.108"
source = "git+https://github.com/serde-rs/json?rev=7fece96#7fece9620f2ec5d2bcb1f4a4b6ac45e6ff4f3fb4"

[[package]]
name = "tokio"
version = "1.35.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "841d45b238a16291a4e1584e61820b8ae57d696cc5015c459c229ccc6990cc1c"
dependencies = [
 "pin-project-lite",
]
"#;

    #[test]
    fn cargo_lock() {
        let p = run("cargo-lock", "/src/app/Cargo.lock", CARGO_LOCK).unwrap();
        assert_eq!(p, set(&[("anyhow", "1.0.75"), ("tokio", "1.35.0")]));
        let full = parse_full("cargo-lock", "/src/app/Cargo.lock", CARGO_LOCK);
        assert_eq!(full[0].purl, "pkg:cargo/anyhow@1.0.75");
        assert_eq!(full[0].ecosystem, "crates.io");
        // empty lock: no packages, no error
        assert_eq!(
            run("cargo-lock", "/Cargo.lock", "version = 3\n").unwrap(),
            vec![]
        );
    }

    #[test]
    fn cargo_lock_corrupt() {
        let e = run("cargo-lock", "/Cargo.lock", "[[package]\nname = \"x\"\n").unwrap_err();
        assert!(e.starts_with("invalid TOML at line 1 column "), "{e}");
        let e = run(
            "cargo-lock",
            "/Cargo.lock",
            "version = 3\n\n[[package]]\nname = \"x\"\n",
        )
        .unwrap_err();
        assert!(e.contains("line 3") && e.contains("version"), "{e}");
        // deep nesting is refused by the parser, not a stack overflow
        let deep = format!("x = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let e = run("cargo-lock", "/Cargo.lock", &deep).unwrap_err();
        assert!(e.starts_with("invalid TOML at line 1 column "), "{e}");
        let deep = format!("x = {}1{}\n", "{a = ".repeat(100_000), "}".repeat(100_000));
        assert!(run("cargo-lock", "/Cargo.lock", &deep).is_err());
        let e = run("cargo-lock", "/Cargo.lock", "package = 7\n").unwrap_err();
        assert!(e.starts_with("invalid TOML at line 1 column 11"), "{e}");
        let mut bad = CARGO_LOCK.as_bytes().to_vec();
        bad[40] = 0xff;
        let e = (catalogers()[0].parse)(&Input {
            path: "/Cargo.lock",
            data: &bad,
            distro: None,
        })
        .unwrap_err();
        assert!(e.starts_with("not UTF-8 text"), "{e}");
    }

    const GO_MOD: &str = r#"module github.com/acme/server

go 1.21

toolchain go1.21.5

require github.com/google/uuid v1.4.0

require (
	github.com/gorilla/mux v1.8.1
	golang.org/x/net v0.17.0 // indirect
	golang.org/x/text v0.13.0 // indirect
	gopkg.in/yaml.v3 v3.0.1
	github.com/acme/internal v0.0.0-20231010120000-abcdef123456
	github.com/docker/docker v24.0.7+incompatible // indirect
	github.com/old/thing v1.0.0
)

exclude golang.org/x/net v0.1.0

replace github.com/acme/internal => ../internal

replace (
	github.com/old/thing v1.0.0 => github.com/new/thing v1.2.0
	golang.org/x/text v0.12.0 => golang.org/x/text v0.14.0
)

retract (
	v1.0.1 // published by mistake
)
"#;

    #[test]
    fn go_mod() {
        let p = run("go-mod", "/src/go.mod", GO_MOD).unwrap();
        assert_eq!(
            p,
            set(&[
                ("github.com/google/uuid", "v1.4.0"),
                ("github.com/gorilla/mux", "v1.8.1"),
                ("golang.org/x/net", "v0.17.0"),
                ("golang.org/x/text", "v0.13.0"), // the replace names another version
                ("gopkg.in/yaml.v3", "v3.0.1"),
                ("github.com/docker/docker", "v24.0.7+incompatible"),
                ("github.com/new/thing", "v1.2.0"),
            ])
        );
        let full = parse_full("go-mod", "/src/go.mod", GO_MOD);
        let mux = full
            .iter()
            .find(|p| p.name == "github.com/gorilla/mux")
            .unwrap();
        assert_eq!(mux.purl, "pkg:golang/github.com/gorilla/mux@v1.8.1");
        assert_eq!(mux.ecosystem, "Go");
        let d = full
            .iter()
            .find(|p| p.name == "github.com/docker/docker")
            .unwrap();
        assert_eq!(
            d.purl,
            "pkg:golang/github.com/docker/docker@v24.0.7%2Bincompatible"
        );
    }

    #[test]
    fn go_mod_corrupt_and_claims() {
        let e = run(
            "go-mod",
            "/go.mod",
            "module x\n\nrequire (\n\tgithub.com/a/b v1.0.0\n",
        )
        .unwrap_err();
        assert!(e.contains("line 3") && e.contains("never closed"), "{e}");
        let e = run("go-mod", "/go.mod", "module x\nrequire github.com/a/b\n").unwrap_err();
        assert!(e.starts_with("line 2: malformed require"), "{e}");
        let e = run("go-mod", "/go.mod", "module x\nrequire (\n a b c\n)\n").unwrap_err();
        assert!(e.starts_with("line 3: malformed require"), "{e}");
        let e = run("go-mod", "/go.mod", "replace a v1 b\n").unwrap_err();
        assert!(e.starts_with("line 1: malformed replace"), "{e}");
        let c = &catalogers()[1];
        assert!((c.claims)("/go/src/app/go.mod"));
        assert!(!(c.claims)("/root/go/pkg/mod/github.com/a/b@v1.0.0/go.mod"));
        assert!(!(c.claims)("/src/go.sum"));
    }

    const GEMFILE_LOCK: &str = "GIT
  remote: https://github.com/acme/private_gem.git
  revision: 4b0b5e3f2d9c0a1b
  specs:
    private_gem (0.3.0)

PATH
  remote: engines/billing
  specs:
    billing (0.1.0)
      rails (>= 7.0)

GEM
  remote: https://rubygems.org/
  specs:
    actioncable (7.1.2)
      actionpack (= 7.1.2)
      nio4r (~> 2.0)
    nokogiri (1.15.5-x86_64-linux)
      racc (~> 1.4)
    nokogiri (1.15.5-arm64-darwin)
      racc (~> 1.4)
    racc (1.7.3)
    rake (13.1.0)
    google-protobuf (3.25.1-x86_64-linux)
    rails (7.1.2)
      actioncable (= 7.1.2)

PLATFORMS
  arm64-darwin
  x86_64-linux

DEPENDENCIES
  billing!
  nokogiri
  private_gem!
  rails (~> 7.1)

RUBY VERSION
   ruby 3.2.2p53

BUNDLED WITH
   2.4.22
";

    #[test]
    fn gemfile_lock() {
        let p = run("gemfile-lock", "/app/Gemfile.lock", GEMFILE_LOCK).unwrap();
        assert_eq!(
            p,
            set(&[
                ("actioncable", "7.1.2"),
                ("nokogiri", "1.15.5"),
                ("racc", "1.7.3"),
                ("rake", "13.1.0"),
                ("google-protobuf", "3.25.1"),
                ("rails", "7.1.2"),
            ])
        );
        let full = parse_full("gemfile-lock", "/app/Gemfile.lock", GEMFILE_LOCK);
        assert_eq!(full[0].purl, "pkg:gem/actioncable@7.1.2");
        assert_eq!(full[0].ecosystem, "RubyGems");
        // CRLF line ends
        let crlf = GEMFILE_LOCK.replace('\n', "\r\n");
        assert_eq!(
            run("gemfile-lock", "/app/Gemfile.lock", &crlf)
                .unwrap()
                .len(),
            6
        );
        let e = run(
            "gemfile-lock",
            "/Gemfile.lock",
            "GEM\n  specs:\n    rails 7.1.2\n",
        )
        .unwrap_err();
        assert!(e.starts_with("line 3: malformed spec"), "{e}");
        let e = run(
            "gemfile-lock",
            "/Gemfile.lock",
            "{\"not\": \"a lockfile\"}\n",
        )
        .unwrap_err();
        assert!(e.contains("not a Gemfile.lock"), "{e}");
    }

    const GEMSPEC: &str = r#"# -*- encoding: utf-8 -*-
# stub: nokogiri 1.15.5 x86_64-linux lib

Gem::Specification.new do |s|
  s.name = "nokogiri".freeze
  s.version = "1.15.5".freeze
  s.platform = "x86_64-linux".freeze

  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? :required_rubygems_version=
  s.metadata = { "bug_tracker_uri" => "https://github.com/sparklemotion/nokogiri/issues" } if s.respond_to? :metadata=
  s.require_paths = ["lib".freeze]
  s.authors = ["Mike Dalessio".freeze]
  s.rubygems_version = "3.4.19".freeze
  s.specification_version = 4

  s.add_runtime_dependency(%q<racc>.freeze, ["~> 1.4"])
end
"#;

    #[test]
    fn gemspecs() {
        let path = "/usr/local/bundle/specifications/nokogiri-1.15.5-x86_64-linux.gemspec";
        assert_eq!(
            run("gemspec", path, GEMSPEC).unwrap(),
            set(&[("nokogiri", "1.15.5")])
        );
        let old = "Gem::Specification.new do |spec|\n  spec.name = %q{rake}\n  spec.version = Gem::Version.new('0.8.7')\nend\n";
        let path = "/usr/lib/ruby/gems/3.1.0/specifications/default/rake-0.8.7.gemspec";
        assert_eq!(
            run("gemspec", path, old).unwrap(),
            set(&[("rake", "0.8.7")])
        );
        let angle = "Gem::Specification.new do |s|\n  s.name = %q<rake>\n  s.version = %Q(13.0.6) % 1\nend\n";
        assert_eq!(
            run("gemspec", path, angle).unwrap(),
            set(&[("rake", "13.0.6")])
        );
        let percents = format!("s.name = {}\n", "%".repeat(100_000));
        assert!(run("gemspec", path, &percents).is_err());
        let stub_only = "# stub: json 2.6.3 ruby lib\n# generated\n";
        assert_eq!(
            run("gemspec", path, stub_only).unwrap(),
            set(&[("json", "2.6.3")])
        );
        assert!(run("gemspec", path, "puts 'hello'\n")
            .unwrap_err()
            .contains("not a gemspec"));
        let c = catalogers()
            .into_iter()
            .find(|c| c.name == "gemspec")
            .unwrap();
        assert!(!(c.claims)("/app/rails.gemspec"));
        assert!(!(c.claims)("/usr/local/bundle/specifications/x/y.gemspec"));
        assert!(!(c.claims)("/usr/local/bundle/specifications/.gemspec"));
        assert!(!(c.claims)("/usr/local/bundle/specifications/readme.txt"));
    }

    const COMPOSER_LOCK: &str = r#"{
    "_readme": ["This file locks the dependencies of your project to a known state"],
    "content-hash": "0b8b2f5c2d0e8a5a9d2d2b6b2b6b2b6b",
    "packages": [
        {
            "name": "guzzlehttp/guzzle",
            "version": "7.8.1",
            "source": {"type": "git", "url": "https://github.com/guzzle/guzzle.git", "reference": "41042bc"},
            "require": {"php": "^7.2.5 || ^8.0"},
            "type": "library"
        },
        {
            "name": "symfony/console",
            "version": "v6.4.1",
            "type": "library"
        },
        {
            "name": "monolog/monolog",
            "version": "3.5.0"
        }
    ],
    "packages-dev": [
        {"name": "phpunit/phpunit", "version": "10.5.3"}
    ],
    "aliases": [],
    "minimum-stability": "stable",
    "platform": {"php": ">=8.1"},
    "plugin-api-version": "2.6.0"
}"#;

    #[test]
    fn composer() {
        let want = set(&[
            ("guzzlehttp/guzzle", "7.8.1"),
            ("symfony/console", "6.4.1"),
            ("monolog/monolog", "3.5.0"),
            ("phpunit/phpunit", "10.5.3"),
        ]);
        assert_eq!(
            run("composer-lock", "/var/www/composer.lock", COMPOSER_LOCK).unwrap(),
            want
        );
        let full = parse_full("composer-lock", "/var/www/composer.lock", COMPOSER_LOCK);
        let s = full.iter().find(|p| p.name == "symfony/console").unwrap();
        assert_eq!(s.purl, "pkg:composer/symfony/console@6.4.1");
        assert_eq!(s.ecosystem, "Packagist");

        let path = "/var/www/vendor/composer/installed.json";
        let v1 = r#"[{"name": "psr/log", "version": "1.1.4", "version_normalized": "1.1.4.0"},
                     {"name": "symfony/polyfill-mbstring", "version": "v1.28.0"}]"#;
        assert_eq!(
            run("composer-installed", path, v1).unwrap(),
            set(&[
                ("psr/log", "1.1.4"),
                ("symfony/polyfill-mbstring", "1.28.0")
            ])
        );
        let v2 = r#"{"packages": [{"name": "psr/log", "version": "3.0.0", "install-path": "../psr/log"}],
                     "dev": true, "dev-package-names": []}"#;
        assert_eq!(
            run("composer-installed", path, v2).unwrap(),
            set(&[("psr/log", "3.0.0")])
        );
    }

    #[test]
    fn composer_corrupt() {
        let e = run("composer-lock", "/composer.lock", "{\"packages\": [}").unwrap_err();
        assert!(e.starts_with("invalid JSON at line 1 column 15: "), "{e}");
        let e = run(
            "composer-lock",
            "/composer.lock",
            "{\"packages\": {\"a\": 1}}",
        )
        .unwrap_err();
        assert!(
            e.starts_with("unexpected JSON content at line 1 column "),
            "{e}"
        );
        let e = run("composer-lock", "/composer.lock", "{}").unwrap_err();
        assert!(e.contains("not a composer.lock"), "{e}");
        let p = "/vendor/composer/installed.json";
        assert!(run("composer-installed", p, "\"x\"").is_err());
        assert!(run("composer-installed", p, "{\"packages\": [")
            .unwrap_err()
            .contains("EOF"));
        let c = catalogers()
            .into_iter()
            .find(|c| c.name == "composer-installed")
            .unwrap();
        assert!(!(c.claims)("/app/installed.json"));
    }

    #[test]
    fn package_cap_and_line_col() {
        let mut f = Found::new("/x");
        f.limit = 2;
        f.push("Go", "a".into(), "v1".into(), String::new())
            .unwrap();
        f.push("Go", "b".into(), "v1".into(), String::new())
            .unwrap();
        assert!(f
            .push("Go", "c".into(), "v1".into(), String::new())
            .unwrap_err()
            .contains("more than 2"));
        assert_eq!(line_col("ab\ncdé\nx", 7), (2, 4));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
