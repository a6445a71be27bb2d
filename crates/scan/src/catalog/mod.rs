//! Package catalogers over a root filesystem.
//!
//! [`catalog_dir`] walks the tree once, never following a symlink (so loops and
//! links out of the tree cannot trap or mislead it), and hands each file whose path
//! a cataloger claims to that cataloger. A file a cataloger cannot read is a
//! [`Warning`] naming the file; the scan goes on with the rest.

pub mod apk;
pub mod binaries;
pub mod dpkg;
pub mod java;
pub mod js;
pub mod lockfiles;
pub mod python;
pub mod rpm;
#[cfg(test)]
mod testutil;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Package, Warning};

/// Largest manifest or lockfile read (a bigger one is a warning, not an OOM).
pub const MAX_TEXT_FILE: u64 = 64 << 20;
/// Largest binary or archive inspected (Go build info, cargo-auditable data, jars).
pub const MAX_BINARY_FILE: u64 = 512 << 20;
/// Deepest directory nesting walked.
pub const MAX_DEPTH: usize = 64;

/// `/etc/os-release` (or `/usr/lib/os-release`) facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    /// `ID` (debian, ubuntu, alpine, rhel, ...).
    pub id: String,
    /// `VERSION_ID` (12, 22.04, 3.20.3, ...).
    pub version_id: String,
    /// `VERSION_CODENAME` (bookworm, ...).
    pub codename: String,
    /// `PRETTY_NAME`.
    pub pretty_name: String,
}

impl OsRelease {
    /// Parse an os-release text.
    pub fn parse(text: &str) -> OsRelease {
        let mut o = OsRelease::default();
        for l in text.lines() {
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            match k.trim() {
                "ID" => o.id = v,
                "VERSION_ID" => o.version_id = v,
                "VERSION_CODENAME" => o.codename = v,
                "PRETTY_NAME" => o.pretty_name = v,
                _ => {}
            }
        }
        o
    }

    /// The OSV ecosystem of this distribution's packages, with its release:
    /// `Debian:12`, `Ubuntu:22.04`, `Alpine:v3.20`, ...
    pub fn ecosystem(&self) -> Option<String> {
        let major = self.version_id.split('.').next().unwrap_or("");
        match self.id.as_str() {
            "debian" if !major.is_empty() => Some(format!("Debian:{major}")),
            "debian" => Some("Debian".into()),
            "ubuntu" => Some(format!("Ubuntu:{}", self.version_id)),
            "alpine" => {
                let mm: Vec<&str> = self.version_id.split('.').take(2).collect();
                Some(format!("Alpine:v{}", mm.join(".")))
            }
            "rocky" => Some(format!("Rocky Linux:{major}")),
            "almalinux" => Some(format!("AlmaLinux:{major}")),
            "rhel" => Some(format!("Red Hat:{major}")),
            _ => None,
        }
    }
}

/// What a cataloger gets: the file's path inside the tree (absolute, `/`-rooted)
/// and its bytes, plus the distro ecosystem found in os-release.
#[derive(Debug)]
pub struct Input<'a> {
    /// Path inside the scanned tree (`/var/lib/dpkg/status`).
    pub path: &'a str,
    /// File contents.
    pub data: &'a [u8],
    /// Distro ecosystem from os-release (`Debian:12`), if any.
    pub distro: Option<&'a str>,
}

/// A cataloger: claims paths, turns one file into packages (or an error message,
/// which becomes a warning naming the file).
pub struct Cataloger {
    /// Name (for warnings and `--list-catalogers`).
    pub name: &'static str,
    /// Does this cataloger read the file at this in-tree path?
    pub claims: fn(&str) -> bool,
    /// Largest file it reads.
    pub max_size: u64,
    /// Parse.
    pub parse: fn(&Input<'_>) -> Result<Vec<Package>, String>,
}

/// Every cataloger, in the order they are asked.
pub fn catalogers() -> Vec<Cataloger> {
    let mut v = vec![dpkg::CATALOGER, dpkg::STATUS_D, apk::CATALOGER];
    v.extend(rpm::catalogers());
    v.extend(python::catalogers());
    v.extend(js::catalogers());
    v.extend(lockfiles::catalogers());
    v.extend(java::catalogers());
    v.extend(binaries::catalogers());
    v
}

/// The result of cataloging a tree.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// Distribution.
    pub os: Option<OsRelease>,
    /// Packages, sorted.
    pub packages: Vec<Package>,
    /// Files that could not be read or parsed.
    pub warnings: Vec<Warning>,
}

fn read_os_release(root: &Path) -> Option<OsRelease> {
    for p in ["etc/os-release", "usr/lib/os-release"] {
        let f = root.join(p);
        // never through a link: /etc/os-release is often a link to ../usr/lib/os-release
        let Ok(m) = std::fs::symlink_metadata(&f) else {
            continue;
        };
        if m.is_file() && m.len() < 64 * 1024 {
            if let Ok(t) = std::fs::read_to_string(&f) {
                return Some(OsRelease::parse(&t));
            }
        }
    }
    None
}

/// Catalog the tree at `root` (a directory: an unpacked rootfs or layer).
pub fn catalog_dir(root: &Path) -> Catalog {
    let os = read_os_release(root);
    let distro = os.as_ref().and_then(OsRelease::ecosystem);
    let cats = catalogers();
    let mut out = Catalog {
        os,
        ..Default::default()
    };
    let mut stack: Vec<(std::path::PathBuf, String, usize)> =
        vec![(root.to_path_buf(), String::new(), 0)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                out.warnings.push(Warning {
                    file: if rel.is_empty() {
                        "/".into()
                    } else {
                        rel.clone()
                    },
                    message: format!("cannot read directory: {e}"),
                });
                continue;
            }
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path_in = format!("{rel}/{name}");
            // no symlink is followed: file_type() is lstat's
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if depth == 0 && matches!(name.as_str(), "proc" | "sys" | "dev") {
                    continue;
                }
                if depth + 1 >= MAX_DEPTH {
                    out.warnings.push(Warning {
                        file: path_in,
                        message: format!("directory nesting deeper than {MAX_DEPTH}: not walked"),
                    });
                    continue;
                }
                stack.push((e.path(), path_in, depth + 1));
                continue;
            }
            if !ft.is_file() {
                continue;
            }
            for c in cats.iter().filter(|c| (c.claims)(&path_in)) {
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                if size > c.max_size {
                    out.warnings.push(Warning {
                        file: path_in.clone(),
                        message: format!(
                            "{}: {size} bytes, more than the {} read; skipped",
                            c.name, c.max_size
                        ),
                    });
                    continue;
                }
                let data = match std::fs::read(e.path()) {
                    Ok(d) => d,
                    Err(err) => {
                        out.warnings.push(Warning {
                            file: path_in.clone(),
                            message: format!("{}: {err}", c.name),
                        });
                        continue;
                    }
                };
                let input = Input {
                    path: &path_in,
                    data: &data,
                    distro: distro.as_deref(),
                };
                match (c.parse)(&input) {
                    Ok(p) => out.packages.extend(p),
                    Err(m) => out.warnings.push(Warning {
                        file: path_in.clone(),
                        message: format!("{}: {m}", c.name),
                    }),
                }
            }
        }
    }
    out.packages.sort();
    out.packages.dedup();
    out
}

/// A package URL (`pkg:type/namespace/name@version?qualifiers`), percent-encoding
/// what purl requires.
pub fn purl(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, &str)],
) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }
    let mut s = format!("pkg:{kind}/");
    if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
        let parts: Vec<String> = ns.split('/').map(enc).collect();
        s.push_str(&parts.join("/"));
        s.push('/');
    }
    s.push_str(&enc(name));
    if !version.is_empty() {
        s.push('@');
        s.push_str(&enc(version));
    }
    if !qualifiers.is_empty() {
        let q: Vec<String> = qualifiers
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        s.push('?');
        s.push_str(&q.join("&"));
    }
    s
}

/// Parse the file at in-tree `path` (bytes `data`) with every cataloger that
/// claims it: what [`catalog_dir`] would find in it. Used to tell which image layer
/// introduced a package.
pub fn parse_file(path: &str, data: &[u8], distro: Option<&str>) -> Vec<Package> {
    let input = Input { path, data, distro };
    catalogers()
        .iter()
        .filter(|c| (c.claims)(path) && data.len() as u64 <= c.max_size)
        .filter_map(|c| (c.parse)(&input).ok())
        .flatten()
        .collect()
}

/// Catalog an image: `merged` is its root filesystem (the layers stacked),
/// `layers` its layer directories bottom → top with their digests. Each package is
/// attributed to the lowest layer whose copy of the package's file already lists it
/// (same name and version).
pub fn catalog_image(merged: &Path, layers: &[(String, std::path::PathBuf)]) -> Catalog {
    let mut c = catalog_dir(merged);
    let distro = c.os.as_ref().and_then(OsRelease::ecosystem);
    let mut by_file: std::collections::BTreeMap<String, Vec<usize>> =
        std::collections::BTreeMap::new();
    for (i, p) in c.packages.iter().enumerate() {
        by_file.entry(p.location.clone()).or_default().push(i);
    }
    for (loc, idx) in by_file {
        let rel = loc.trim_start_matches('/');
        let mut remaining: Vec<usize> = idx;
        for (digest, dir) in layers {
            if remaining.is_empty() {
                break;
            }
            let f = dir.join(rel);
            let Ok(m) = std::fs::symlink_metadata(&f) else {
                continue;
            };
            if !m.is_file() {
                continue;
            }
            let Ok(data) = std::fs::read(&f) else {
                continue;
            };
            let found = parse_file(&loc, &data, distro.as_deref());
            remaining.retain(|&i| {
                let p = &c.packages[i];
                let here = found
                    .iter()
                    .any(|q| q.name == p.name && q.version == p.version);
                if here {
                    c.packages[i].layer = Some(digest.clone());
                }
                !here
            });
        }
    }
    c
}
