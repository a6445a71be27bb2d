//! Packages × advisories → findings.
//!
//! A package is affected by an OSV entry when its version is listed in `versions`
//! or falls in one of the `ECOSYSTEM`/`SEMVER` ranges, evaluated as the OSV schema
//! says: events sorted by version, `introduced` opens, `fixed` closes (exclusive),
//! `last_affected` closes (inclusive), `limit` caps. Versions are compared with the
//! ecosystem's own rules ([`crate::version`]); a version that does not parse in its
//! ecosystem matches nothing (and is reported). Distro packages are matched by their
//! source package and its version, and only against entries of their own release
//! (`Debian:12`). Advisories of one package that name each other (aliases) are one
//! finding.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::db::{base_ecosystem, Affected, Db};
use crate::{Package, Result};

/// One flaw in one package.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    /// The id shown: the CVE if there is one, else the advisory id.
    pub id: String,
    /// Every other id of the same flaw (advisory ids and their aliases).
    pub aliases: Vec<String>,
    /// Package name.
    pub package: String,
    /// Ecosystem (`Debian:12`, `PyPI`, ...).
    pub ecosystem: String,
    /// Installed version.
    pub installed: String,
    /// Lowest version that fixes it (above the installed one), if any.
    pub fixed: Option<String>,
    /// `fixed` or `affected` (no fix released).
    pub status: String,
    /// CRITICAL, HIGH, MEDIUM, LOW, NONE, UNKNOWN.
    pub severity: String,
    /// CVSS base score.
    pub cvss_score: Option<f64>,
    /// CVSS vector.
    pub cvss_vector: Option<String>,
    /// Summary.
    pub summary: String,
    /// Source package (distros), when it differs from the package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_package: Option<String>,
    /// File the package was found in.
    pub location: String,
    /// Image layer that introduced the package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Package URL.
    pub purl: String,
}

/// Result of evaluating one package against one entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not affected.
    No,
    /// Affected; the lowest fixing version above it, if any.
    Yes(Option<String>),
    /// A version could not be compared.
    Unknown(String),
}

fn cmp(eco: &str, a: &str, b: &str) -> std::result::Result<Ordering, String> {
    crate::version::compare(eco, a, b)
        .or_else(|| {
            // advisories write short bounds ("1.0") in SemVer ecosystems: pad them
            if matches!(
                base_ecosystem(eco),
                "npm" | "crates.io" | "Go" | "Hex" | "Pub" | "NuGet"
            ) {
                crate::version::compare(eco, &pad_semver(a), &pad_semver(b))
            } else {
                None
            }
        })
        .ok_or_else(|| {
            format!(
                "cannot compare {a:?} with {b:?} as {} versions",
                base_ecosystem(eco)
            )
        })
}

/// `1` → `1.0.0`, `1.2` → `1.2.0` (only plain numeric versions are padded).
fn pad_semver(v: &str) -> String {
    let core = v.strip_prefix('v').unwrap_or(v);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() < 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        let mut p: Vec<&str> = parts;
        while p.len() < 3 {
            p.push("0");
        }
        let joined = p.join(".");
        if v.starts_with('v') {
            format!("v{joined}")
        } else {
            joined
        }
    } else {
        v.to_string()
    }
}

/// Evaluate an OSV affected entry for version `v` in ecosystem `eco`.
pub fn affects(eco: &str, v: &str, af: &Affected) -> Verdict {
    if af.versions.iter().any(|x| x == v) {
        return Verdict::Yes(fixed_above(eco, v, af));
    }
    let Some(ranges) = af.ranges.as_array() else {
        return Verdict::No;
    };
    let mut unknown = None;
    for r in ranges {
        let kind = r["type"].as_str().unwrap_or("");
        if kind != "ECOSYSTEM" && kind != "SEMVER" {
            continue; // GIT ranges need commits, which installed packages lack
        }
        let Some(events) = r["events"].as_array() else {
            continue;
        };
        match in_range(eco, v, events) {
            Ok(true) => return Verdict::Yes(fixed_above(eco, v, af)),
            Ok(false) => {}
            Err(e) => unknown = Some(e),
        }
    }
    match unknown {
        Some(e) => Verdict::Unknown(e),
        None => Verdict::No,
    }
}

fn event(e: &Value) -> Option<(&'static str, &str)> {
    for k in ["introduced", "fixed", "last_affected", "limit"] {
        if let Some(s) = e[k].as_str() {
            return Some((k, s));
        }
    }
    None
}

fn is_zero(s: &str) -> bool {
    s == "0"
}

/// The OSV range algorithm for one range's events.
pub fn in_range(eco: &str, v: &str, events: &[Value]) -> std::result::Result<bool, String> {
    let mut ev: Vec<(&'static str, &str)> = events.iter().filter_map(event).collect();
    // sort by version; "introduced: 0" first
    let mut err = None;
    ev.sort_by(|a, b| match (is_zero(a.1), is_zero(b.1)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => cmp(eco, a.1, b.1).unwrap_or_else(|e| {
            err = Some(e);
            Ordering::Equal
        }),
    });
    if let Some(e) = err {
        return Err(e);
    }
    let mut affected = false;
    for (k, at) in ev {
        match k {
            "introduced" if is_zero(at) || cmp(eco, v, at)? != Ordering::Less => affected = true,
            "fixed" if cmp(eco, v, at)? != Ordering::Less => affected = false,
            "last_affected" if cmp(eco, v, at)? == Ordering::Greater => affected = false,
            "limit" if cmp(eco, v, at)? != Ordering::Less => return Ok(false),
            _ => {}
        }
    }
    Ok(affected)
}

/// The lowest `fixed` event above `v` in the entry's ranges.
fn fixed_above(eco: &str, v: &str, af: &Affected) -> Option<String> {
    let mut best: Option<String> = None;
    for r in af.ranges.as_array().into_iter().flatten() {
        for e in r["events"].as_array().into_iter().flatten() {
            if let Some(f) = e["fixed"].as_str() {
                if cmp(eco, f, v).ok() != Some(Ordering::Greater) {
                    continue;
                }
                if best
                    .as_deref()
                    .is_none_or(|b| cmp(eco, f, b).ok() == Some(Ordering::Less))
                {
                    best = Some(f.to_string());
                }
            }
        }
    }
    best
}

/// Match every package against the database. Returns the findings (one per flaw
/// per package) and notes about versions that could not be compared.
pub fn match_packages(db: &Db, pkgs: &[Package]) -> Result<(Vec<Finding>, Vec<String>)> {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    for p in pkgs {
        let distro = p.ecosystem.contains(':')
            && matches!(
                base_ecosystem(&p.ecosystem),
                "Debian" | "Ubuntu" | "Alpine" | "Red Hat" | "Rocky Linux" | "AlmaLinux"
            );
        let (name, version) = match (&p.source, distro) {
            (Some((s, sv)), true) => (s.as_str(), sv.as_str()),
            _ => (p.name.as_str(), p.version.as_str()),
        };
        // matched advisories of this package: id → fixed
        let mut hits: BTreeMap<String, Option<String>> = BTreeMap::new();
        for af in db.affected(&p.ecosystem, name)? {
            if distro && af.ecosystem != p.ecosystem {
                continue; // another release's entry
            }
            match affects(&p.ecosystem, version, &af) {
                Verdict::Yes(fixed) => {
                    let slot = hits.entry(af.advisory.clone()).or_insert(None);
                    if slot.is_none() {
                        *slot = fixed;
                    }
                }
                Verdict::No => {}
                Verdict::Unknown(e) => {
                    notes.push(format!("{} {} ({}): {e}", p.name, p.version, af.advisory))
                }
            }
        }
        findings.extend(group(db, p, name, version, hits)?);
    }
    findings.sort_by(|a, b| {
        (
            a.package.as_str(),
            a.installed.as_str(),
            a.id.as_str(),
            a.location.as_str(),
        )
            .cmp(&(
                b.package.as_str(),
                b.installed.as_str(),
                b.id.as_str(),
                b.location.as_str(),
            ))
    });
    Ok((findings, notes))
}

/// Merge the advisories of one package that share an id or alias into findings.
fn group(
    db: &Db,
    p: &Package,
    src: &str,
    version: &str,
    hits: BTreeMap<String, Option<String>>,
) -> Result<Vec<Finding>> {
    // union-find over advisory ids by shared ids
    let ids: Vec<String> = hits.keys().cloned().collect();
    let mut advs = Vec::new();
    for id in &ids {
        advs.push(db.advisory(id)?.unwrap_or_default());
    }
    let mut parent: Vec<usize> = (0..ids.len()).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let names = |i: usize| -> Vec<String> {
        let mut v = vec![ids[i].clone()];
        v.extend(advs[i].aliases.iter().cloned());
        v
    };
    for i in 0..ids.len() {
        for j in i + 1..ids.len() {
            let (a, b) = (names(i), names(j));
            if a.iter().any(|x| b.contains(x)) {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                parent[rj] = ri;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..ids.len() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut out = Vec::new();
    for members in groups.values() {
        let mut all: Vec<String> = members.iter().flat_map(|&i| names(i)).collect();
        all.sort();
        all.dedup();
        let id = all
            .iter()
            .find(|x| x.starts_with("CVE-"))
            .or_else(|| all.iter().find(|x| x.starts_with("GHSA-")))
            .cloned()
            .unwrap_or_else(|| ids[members[0]].clone());
        let aliases: Vec<String> = all.into_iter().filter(|x| *x != id).collect();
        // the fix: the highest of the members' lowest fixes (all must be fixed)
        let mut fixed: Option<String> = None;
        let mut unfixed = false;
        for &i in members {
            match &hits[&ids[i]] {
                Some(f) => {
                    if fixed.as_deref().is_none_or(|cur| {
                        crate::version::compare(&p.ecosystem, f, cur) == Some(Ordering::Greater)
                    }) {
                        fixed = Some(f.clone());
                    }
                }
                None => unfixed = true,
            }
        }
        if unfixed && members.len() == 1 {
            fixed = None;
        }
        // severity: the highest score among members
        let best = members
            .iter()
            .map(|&i| &advs[i])
            .max_by(|a, b| {
                a.cvss_score
                    .unwrap_or(-1.0)
                    .partial_cmp(&b.cvss_score.unwrap_or(-1.0))
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| rank(&a.severity).cmp(&rank(&b.severity)))
            })
            .cloned()
            .unwrap_or_default();
        let summary = members
            .iter()
            .map(|&i| advs[i].summary.clone())
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        out.push(Finding {
            id,
            aliases,
            package: p.name.clone(),
            ecosystem: p.ecosystem.clone(),
            installed: if src == p.name {
                p.version.clone()
            } else {
                version.to_string()
            },
            status: if fixed.is_some() { "fixed" } else { "affected" }.into(),
            fixed,
            severity: best.severity.clone(),
            cvss_score: best.cvss_score,
            cvss_vector: best.cvss_vector.clone(),
            summary,
            source_package: (src != p.name).then(|| src.to_string()),
            location: p.location.clone(),
            layer: p.layer.clone(),
            purl: p.purl.clone(),
        });
    }
    Ok(out)
}

/// Rank of a severity word (higher is worse).
pub fn rank(s: &str) -> u8 {
    match s {
        "CRITICAL" => 5,
        "HIGH" => 4,
        "MEDIUM" | "MODERATE" => 3,
        "LOW" => 2,
        "NONE" => 1,
        _ => 0,
    }
}

/// The CVSS vector of an OSV record (v3 preferred, then v4, then v2) and its
/// base score (computed for v3.x; v4 and v2 scores are not computed yet).
pub fn severity_of(v: &Value) -> (Option<String>, Option<f64>) {
    let mut vectors: Vec<(String, String)> = Vec::new();
    let mut collect = |s: &Value| {
        for e in s.as_array().into_iter().flatten() {
            if let (Some(t), Some(sc)) = (e["type"].as_str(), e["score"].as_str()) {
                vectors.push((t.to_string(), sc.to_string()));
            }
        }
    };
    collect(&v["severity"]);
    for a in v["affected"].as_array().into_iter().flatten() {
        collect(&a["severity"]);
    }
    for pref in ["CVSS_V3", "CVSS_V4", "CVSS_V2"] {
        if let Some((_, vec)) = vectors.iter().find(|(t, _)| t == pref) {
            let score = if pref == "CVSS_V3" {
                cvss3_base(vec)
            } else {
                None
            };
            return (Some(vec.clone()), score);
        }
    }
    (None, None)
}

/// The severity word: from the CVSS score, else the record's own
/// `database_specific.severity` (GHSA: LOW/MODERATE/HIGH/CRITICAL), else UNKNOWN.
pub fn severity_word(score: Option<f64>, v: &Value) -> String {
    if let Some(s) = score {
        return match s {
            s if s >= 9.0 => "CRITICAL",
            s if s >= 7.0 => "HIGH",
            s if s >= 4.0 => "MEDIUM",
            s if s > 0.0 => "LOW",
            _ => "NONE",
        }
        .into();
    }
    match v["database_specific"]["severity"]
        .as_str()
        .map(str::to_ascii_uppercase)
    {
        Some(s) if s == "MODERATE" => "MEDIUM".into(),
        Some(s) if rank(&s) > 0 => s,
        _ => "UNKNOWN".into(),
    }
}

/// CVSS v3.0/v3.1 base score of a vector (`CVSS:3.1/AV:N/AC:L/...`), per the
/// specification's formulas; None if the vector is not a complete v3 base vector.
pub fn cvss3_base(vector: &str) -> Option<f64> {
    let mut parts = vector.split('/');
    let head = parts.next()?;
    if head != "CVSS:3.0" && head != "CVSS:3.1" {
        return None;
    }
    let m: BTreeMap<&str, &str> = parts.filter_map(|p| p.split_once(':')).collect();
    let scope_changed = match *m.get("S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match *m.get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match *m.get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (*m.get("PR")?, scope_changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match *m.get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |k: &str| -> Option<f64> {
        Some(match *m.get(k)? {
            "H" => 0.56,
            "L" => 0.22,
            "N" => 0.0,
            _ => return None,
        })
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if scope_changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if scope_changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(roundup(raw))
}

/// CVSS v3.1 Roundup: the smallest number with one decimal ≥ the input, computed
/// on integers to avoid floating-point surprises.
fn roundup(x: f64) -> f64 {
    #[allow(clippy::cast_possible_truncation)]
    let i = (x * 100_000.0).round() as i64;
    if i % 10_000 == 0 {
        i as f64 / 100_000.0
    } else {
        ((i / 10_000) + 1) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss3_scores_match_the_reference_calculator() {
        // values from the FIRST CVSS v3.1 calculator
        for (v, s) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2),
            ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
        ] {
            assert_eq!(cvss3_base(v), Some(s), "{v}");
        }
        assert_eq!(cvss3_base("CVSS:3.1/AV:N"), None);
        assert_eq!(
            cvss3_base("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            None
        );
    }

    fn af(ranges: Value, versions: &[&str]) -> Affected {
        Affected {
            advisory: "X".into(),
            ecosystem: "PyPI".into(),
            name: "p".into(),
            ranges,
            versions: versions.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn osv_range_semantics() {
        let r = serde_json::json!([{"type": "ECOSYSTEM", "events": [
            {"introduced": "0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"last_affected": "2.3"}]}]);
        let a = af(r, &[]);
        assert_eq!(affects("PyPI", "1.1", &a), Verdict::Yes(Some("1.2".into())));
        assert_eq!(affects("PyPI", "1.2", &a), Verdict::No);
        assert_eq!(affects("PyPI", "2.0", &a), Verdict::Yes(None));
        assert_eq!(affects("PyPI", "2.3", &a), Verdict::Yes(None));
        assert_eq!(affects("PyPI", "2.3.1", &a), Verdict::No);
        // explicit version lists
        let b = af(Value::Null, &["0.9.1"]);
        assert!(matches!(affects("PyPI", "0.9.1", &b), Verdict::Yes(_)));
        assert_eq!(affects("PyPI", "0.9.2", &b), Verdict::No);
        // limit
        let c = af(
            serde_json::json!([{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"limit": "1.5.0"}]}]),
            &[],
        );
        assert!(matches!(affects("npm", "1.4.0", &c), Verdict::Yes(_)));
        assert_eq!(affects("npm", "1.5.0", &c), Verdict::No);
        // GIT ranges alone never match an installed package
        let d = af(
            serde_json::json!([{"type": "GIT", "repo": "x", "events": [{"introduced": "0"}]}]),
            &[],
        );
        assert_eq!(affects("PyPI", "1.0", &d), Verdict::No);
    }
}
