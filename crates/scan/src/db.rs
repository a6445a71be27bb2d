//! The local vulnerability database: OSV records (JSON or YAML, in directories or
//! OSV's per-ecosystem `all.zip` archives) and Debian Security Tracker JSON, in
//! one SQLite file.
//!
//! ```text
//! meta(key, value)                    schema, version (digest of every record id+modified), built, counts
//! advisories(id, aliases, summary, severity, cvss_vector, cvss_score, published, modified)
//! affected(advisory, ecosystem, base, name, ranges, versions)   index (base, name)
//! ```
//! `base` is the ecosystem without its release (`Debian` of `Debian:12`); names are
//! stored normalised ([`normalize_name`]) so lookups need no second form.
//! Withdrawn records are not loaded. A record that does not parse is reported by
//! file name and skipped; the build goes on.

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use crate::{Result, ScanError, Warning};

/// Schema version of the database file.
pub const SCHEMA: u32 = 1;

/// Largest advisory file read (a bigger one is reported and skipped).
pub const MAX_RECORD: u64 = 16 << 20;

/// The ecosystem without its release: `Debian` of `Debian:12`.
pub fn base_ecosystem(e: &str) -> &str {
    e.split(':').next().unwrap_or(e)
}

/// Names as the ecosystem compares them: PyPI per PEP 503 (lowercase, runs of
/// `-_.` → `-`), Packagist lowercase; others exact.
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    match base_ecosystem(ecosystem) {
        "PyPI" => {
            let mut out = String::with_capacity(name.len());
            let mut sep = false;
            for c in name.chars() {
                if matches!(c, '-' | '_' | '.') {
                    sep = true;
                } else {
                    if sep && !out.is_empty() {
                        out.push('-');
                    }
                    sep = false;
                    out.push(c.to_ascii_lowercase());
                }
            }
            out
        }
        "Packagist" => name.to_ascii_lowercase(),
        _ => name.to_string(),
    }
}

/// One affected-package entry of an advisory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Affected {
    /// Advisory id.
    pub advisory: String,
    /// Ecosystem as written (`Debian:12`).
    pub ecosystem: String,
    /// Name (normalised).
    pub name: String,
    /// OSV `ranges` (JSON).
    pub ranges: Value,
    /// OSV `versions` (explicit list).
    pub versions: Vec<String>,
}

/// An advisory's description.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Advisory {
    /// Id.
    pub id: String,
    /// Aliases (CVE, GHSA, ...).
    pub aliases: Vec<String>,
    /// One-line summary (or the start of the details).
    pub summary: String,
    /// CVSS vector, if the record has one (v3 preferred over v4 and v2).
    pub cvss_vector: Option<String>,
    /// CVSS base score computed from the vector (v3.x), or the record's own.
    pub cvss_score: Option<f64>,
    /// Severity word: CRITICAL, HIGH, MEDIUM, LOW, NONE or UNKNOWN.
    pub severity: String,
    /// Published date.
    pub published: Option<String>,
}

/// An open database.
#[derive(Debug)]
pub struct Db {
    conn: Connection,
    path: PathBuf,
}

/// What `db build` did.
#[derive(Debug, Default, Serialize)]
pub struct BuildReport {
    /// Records loaded.
    pub records: usize,
    /// Affected-package entries loaded.
    pub affected: usize,
    /// Withdrawn records left out.
    pub withdrawn: usize,
    /// Files that could not be read (named), skipped.
    pub warnings: Vec<Warning>,
    /// Database version (digest of record ids and modification times).
    pub version: String,
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> ScanError + '_ {
    move |source| ScanError::Db {
        path: path.display().to_string(),
        source,
    }
}

/// Debian release numbers by codename (the tracker keys releases by codename).
pub fn debian_release(codename: &str) -> Option<&'static str> {
    Some(match codename {
        "jessie" => "8",
        "stretch" => "9",
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        _ => return None,
    })
}

struct Loader<'c> {
    tx: rusqlite::Transaction<'c>,
    report: BuildReport,
    hasher: Vec<(String, String)>,
    /// Advisory ids loaded so far (a repeated id replaces the earlier record).
    seen: std::collections::HashSet<String>,
}

impl Loader<'_> {
    fn insert_advisory(&mut self, a: &Advisory, modified: &str) -> rusqlite::Result<bool> {
        let n = self.tx.prepare_cached(
            "INSERT OR REPLACE INTO advisories(id, aliases, summary, cvss_vector, cvss_score, severity, published, modified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?.execute(
            params![
                a.id,
                serde_json::to_string(&a.aliases).expect("serialises"),
                a.summary,
                a.cvss_vector,
                a.cvss_score,
                a.severity,
                a.published,
                modified
            ],
        )?;
        // a record seen twice (e.g. in two archives) replaces its affected rows;
        // only then is the (unindexed) delete worth its scan
        if !self.seen.insert(a.id.clone()) {
            self.tx
                .execute("DELETE FROM affected WHERE advisory = ?1", params![a.id])?;
        }
        self.hasher.push((a.id.clone(), modified.to_string()));
        Ok(n > 0)
    }

    fn insert_affected(&mut self, af: &Affected) -> rusqlite::Result<()> {
        let mut st = self.tx.prepare_cached(
            "INSERT INTO affected(advisory, ecosystem, base, name, ranges, versions) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        st.execute(params![
            af.advisory,
            af.ecosystem,
            base_ecosystem(&af.ecosystem),
            af.name,
            af.ranges.to_string(),
            serde_json::to_string(&af.versions).expect("serialises"),
        ])?;
        self.report.affected += 1;
        Ok(())
    }

    /// One OSV record (already parsed).
    fn osv(&mut self, v: &Value, file: &str) -> std::result::Result<(), String> {
        let id = v["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or("no \"id\": not an OSV record")?;
        if v.get("withdrawn").is_some_and(|w| !w.is_null()) {
            self.report.withdrawn += 1;
            return Ok(());
        }
        let strs = |k: &str| -> Vec<String> {
            v[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut aliases = strs("aliases");
        aliases.retain(|a| a != id);
        let summary = v["summary"]
            .as_str()
            .map(str::to_string)
            .or_else(|| v["details"].as_str().map(first_sentence))
            .unwrap_or_default();
        let (cvss_vector, cvss_score) = crate::matcher::severity_of(v);
        let severity = crate::matcher::severity_word(cvss_score, v);
        let adv = Advisory {
            id: id.to_string(),
            aliases,
            summary,
            cvss_vector,
            cvss_score,
            severity,
            published: v["published"].as_str().map(str::to_string),
        };
        let modified = v["modified"].as_str().unwrap_or("").to_string();
        self.insert_advisory(&adv, &modified)
            .map_err(|e| format!("{file}: {e}"))?;
        let Some(aff) = v["affected"].as_array() else {
            self.report.records += 1;
            return Ok(());
        };
        for a in aff {
            let eco = a["package"]["ecosystem"].as_str().unwrap_or("");
            let name = a["package"]["name"].as_str().unwrap_or("");
            if eco.is_empty() || name.is_empty() {
                continue;
            }
            let versions = a["versions"]
                .as_array()
                .map(|x| {
                    x.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let af = Affected {
                advisory: id.to_string(),
                ecosystem: eco.to_string(),
                name: normalize_name(eco, name),
                ranges: a.get("ranges").cloned().unwrap_or(Value::Null),
                versions,
            };
            self.insert_affected(&af)
                .map_err(|e| format!("{file}: {e}"))?;
        }
        self.report.records += 1;
        Ok(())
    }

    /// A Debian Security Tracker JSON document: `{source: {CVE: {description,
    /// releases: {codename: {status, fixed_version, urgency, repositories}}}}}`.
    fn tracker(
        &mut self,
        v: &serde_json::Map<String, Value>,
        file: &str,
    ) -> std::result::Result<(), String> {
        for (src, cves) in v {
            let Some(cves) = cves.as_object() else {
                return Err(format!("package {src:?}: not an object of CVEs"));
            };
            for (cve, rec) in cves {
                let mut rows = Vec::new();
                let Some(rels) = rec["releases"].as_object() else {
                    continue;
                };
                let mut urgency = String::new();
                for (codename, r) in rels {
                    let Some(num) = debian_release(codename) else {
                        continue; // sid and unknown releases
                    };
                    let status = r["status"].as_str().unwrap_or("");
                    let fixed = r["fixed_version"].as_str().unwrap_or("");
                    if urgency.is_empty() {
                        urgency = r["urgency"].as_str().unwrap_or("").to_string();
                    }
                    let events = match status {
                        // "0" means the release was never affected
                        "resolved" if fixed == "0" || fixed.is_empty() => continue,
                        "resolved" => serde_json::json!([{"introduced": "0"}, {"fixed": fixed}]),
                        "open" | "undetermined" => serde_json::json!([{"introduced": "0"}]),
                        _ => continue,
                    };
                    rows.push(Affected {
                        advisory: cve.clone(),
                        ecosystem: format!("Debian:{num}"),
                        name: src.clone(),
                        ranges: serde_json::json!([{"type": "ECOSYSTEM", "events": events}]),
                        versions: Vec::new(),
                    });
                }
                if rows.is_empty() {
                    continue;
                }
                // the tracker's own records are named by CVE; an OSV record of the
                // same CVE (loaded before or after) keeps its own affected rows
                let adv = Advisory {
                    id: cve.clone(),
                    aliases: Vec::new(),
                    summary: rec["description"].as_str().unwrap_or("").to_string(),
                    cvss_vector: None,
                    cvss_score: None,
                    severity: match urgency.trim_end_matches('*') {
                        "high" => "HIGH",
                        "medium" => "MEDIUM",
                        "low" | "unimportant" => "LOW",
                        _ => "UNKNOWN",
                    }
                    .to_string(),
                    published: None,
                };
                let exists: bool = self
                    .tx
                    .query_row(
                        "SELECT 1 FROM advisories WHERE id = ?1",
                        params![cve],
                        |_| Ok(true),
                    )
                    .optional()
                    .map_err(|e| format!("{file}: {e}"))?
                    .unwrap_or(false);
                if !exists {
                    self.tx
                        .execute(
                            "INSERT INTO advisories(id, aliases, summary, cvss_vector, cvss_score, severity, published, modified) VALUES (?1, '[]', ?2, NULL, NULL, ?3, NULL, '')",
                            params![adv.id, adv.summary, adv.severity],
                        )
                        .map_err(|e| format!("{file}: {e}"))?;
                    self.report.records += 1;
                }
                self.hasher
                    .push((format!("{cve}/debian/{src}"), rec["releases"].to_string()));
                for r in rows {
                    self.insert_affected(&r)
                        .map_err(|e| format!("{file}: {e}"))?;
                }
            }
        }
        Ok(())
    }

    /// Parse one file's bytes (JSON or YAML) and load it.
    fn document(&mut self, name: &str, data: &[u8]) {
        let parsed: std::result::Result<Value, String> =
            if name.ends_with(".yaml") || name.ends_with(".yml") {
                serde_yaml::from_slice::<Value>(data).map_err(|e| format!("invalid YAML: {e}"))
            } else {
                serde_json::from_slice::<Value>(data).map_err(|e| format!("invalid JSON: {e}"))
            };
        let res = parsed.and_then(|v| match &v {
            Value::Object(m) if m.contains_key("id") => self.osv(&v, name),
            Value::Object(m) if is_tracker(m) => self.tracker(m, name),
            Value::Array(a) => {
                for (i, r) in a.iter().enumerate() {
                    self.osv(r, name).map_err(|e| format!("record {i}: {e}"))?;
                }
                Ok(())
            }
            _ => Err("neither an OSV record nor a Debian Security Tracker document".into()),
        });
        if let Err(message) = res {
            self.report.warnings.push(Warning {
                file: name.to_string(),
                message,
            });
        }
    }
}

/// The first sentence of a details text (up to ". " or a line break, 200 chars).
fn first_sentence(d: &str) -> String {
    let d = d.trim();
    let end = [d.find(". "), d.find('\n')]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(d.len());
    let mut s: String = d[..end].chars().take(200).collect();
    if s.ends_with('.') {
        s.pop();
    }
    s
}

fn is_tracker(m: &serde_json::Map<String, Value>) -> bool {
    m.values().take(3).all(|pkg| {
        pkg.as_object()
            .is_some_and(|cves| cves.values().take(3).all(|c| c.get("releases").is_some()))
    }) && !m.is_empty()
}

fn is_record_file(n: &str) -> bool {
    n.ends_with(".json") || n.ends_with(".yaml") || n.ends_with(".yml")
}

/// Every input file under `from` (a directory, a zip or one file), sorted.
fn inputs(from: &Path) -> Result<Vec<PathBuf>> {
    let m = std::fs::metadata(from).map_err(|source| ScanError::Io {
        op: "read",
        path: from.display().to_string(),
        source,
    })?;
    if !m.is_dir() {
        return Ok(vec![from.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![from.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| ScanError::Io {
            op: "read",
            path: d.display().to_string(),
            source,
        })?;
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let p = e.path();
            let n = e.file_name().to_string_lossy().into_owned();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file()
                && (is_record_file(&n) || n.ends_with(".zip"))
                && n != "PROVENANCE.json"
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

const SCHEMA_SQL: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE advisories(id TEXT PRIMARY KEY, aliases TEXT NOT NULL, summary TEXT NOT NULL,
  cvss_vector TEXT, cvss_score REAL, severity TEXT NOT NULL, published TEXT, modified TEXT NOT NULL);
CREATE TABLE affected(advisory TEXT NOT NULL, ecosystem TEXT NOT NULL, base TEXT NOT NULL,
  name TEXT NOT NULL, ranges TEXT NOT NULL, versions TEXT NOT NULL);
";

impl Db {
    /// Build a database at `db` from the advisories under `from` (directories of
    /// OSV JSON/YAML, OSV `all.zip` archives, Debian tracker JSON), recording
    /// `built` (the caller's timestamp) as its build time. The file is written
    /// beside `db` and renamed over it only when complete.
    pub fn build(
        from: &[PathBuf],
        db: &Path,
        built: &str,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<BuildReport> {
        let mut files = Vec::new();
        for f in from {
            files.extend(inputs(f)?);
        }
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ScanError::Io {
                op: "create",
                path: dir.display().to_string(),
                source,
            })?;
        }
        let tmp = db.with_extension(format!("tmp.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let res = Self::build_into(&files, &tmp, built, progress);
        match res {
            Ok(r) => {
                std::fs::rename(&tmp, db).map_err(|source| ScanError::Io {
                    op: "rename",
                    path: db.display().to_string(),
                    source,
                })?;
                Ok(r)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn build_into(
        files: &[PathBuf],
        tmp: &Path,
        built: &str,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<BuildReport> {
        let e = db_err(tmp);
        let mut conn = Connection::open(tmp).map_err(&e)?;
        conn.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
            .map_err(&e)?;
        conn.execute_batch(SCHEMA_SQL).map_err(&e)?;
        let tx = conn.transaction().map_err(&e)?;
        let mut l = Loader {
            tx,
            report: BuildReport::default(),
            hasher: Vec::new(),
            seen: std::collections::HashSet::new(),
        };
        for (i, f) in files.iter().enumerate() {
            progress(i, files.len());
            let name = f.display().to_string();
            if name.ends_with(".zip") {
                if let Err(m) = load_zip(&mut l, f) {
                    l.report.warnings.push(Warning {
                        file: name,
                        message: m,
                    });
                }
                continue;
            }
            match read_capped(f) {
                Ok(data) => l.document(&name, &data),
                Err(m) => l.report.warnings.push(Warning {
                    file: name,
                    message: m,
                }),
            }
        }
        progress(files.len(), files.len());
        l.tx.execute_batch("CREATE INDEX affected_pkg ON affected(base, name);")
            .map_err(&e)?;
        l.hasher.sort();
        let mut h = sha2::Sha256::new();
        for (id, m) in &l.hasher {
            h.update(id.as_bytes());
            h.update([0]);
            h.update(m.as_bytes());
            h.update([0]);
        }
        let version = format!("sha256:{:x}", h.finalize());
        for (k, v) in [
            ("schema", SCHEMA.to_string()),
            ("version", version.clone()),
            ("built", built.to_string()),
            ("records", l.report.records.to_string()),
        ] {
            l.tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                params![k, v],
            )
            .map_err(&e)?;
        }
        let mut report = std::mem::take(&mut l.report);
        report.version = version;
        l.tx.commit().map_err(&e)?;
        Ok(report)
    }

    /// Open an existing database (read-only).
    pub fn open(path: &Path) -> Result<Db> {
        if !path.is_file() {
            return Err(ScanError::Invalid {
                what: path.display().to_string(),
                message:
                    "no vulnerability database here: build one with `caisson db build --from DIR`"
                        .into(),
            });
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(db_err(path))?;
        let schema: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err(path))?;
        if schema.as_deref() != Some(&SCHEMA.to_string()) {
            return Err(ScanError::Invalid {
                what: path.display().to_string(),
                message: format!(
                    "database schema {schema:?}, this caisson reads {SCHEMA}: rebuild it"
                ),
            });
        }
        Ok(Db {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// A `meta` value (`version`, `built`, `records`).
    pub fn meta(&self, key: &str) -> Option<String> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .ok()
            .flatten()
    }

    /// The affected entries for a package name in an ecosystem (any release).
    pub fn affected(&self, ecosystem: &str, name: &str) -> Result<Vec<Affected>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT advisory, ecosystem, name, ranges, versions FROM affected WHERE base = ?1 AND name = ?2")
            .map_err(db_err(&self.path))?;
        let rows = st
            .query_map(
                params![base_ecosystem(ecosystem), normalize_name(ecosystem, name)],
                |r| {
                    let ranges: String = r.get(3)?;
                    let versions: String = r.get(4)?;
                    Ok(Affected {
                        advisory: r.get(0)?,
                        ecosystem: r.get(1)?,
                        name: r.get(2)?,
                        ranges: serde_json::from_str(&ranges).unwrap_or(Value::Null),
                        versions: serde_json::from_str(&versions).unwrap_or_default(),
                    })
                },
            )
            .map_err(db_err(&self.path))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err(&self.path))
    }

    /// One advisory.
    pub fn advisory(&self, id: &str) -> Result<Option<Advisory>> {
        self.conn
            .query_row(
                "SELECT id, aliases, summary, cvss_vector, cvss_score, severity, published FROM advisories WHERE id = ?1",
                params![id],
                |r| {
                    let aliases: String = r.get(1)?;
                    Ok(Advisory {
                        id: r.get(0)?,
                        aliases: serde_json::from_str(&aliases).unwrap_or_default(),
                        summary: r.get(2)?,
                        cvss_vector: r.get(3)?,
                        cvss_score: r.get(4)?,
                        severity: r.get(5)?,
                        published: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(db_err(&self.path))
    }
}

fn read_capped(f: &Path) -> std::result::Result<Vec<u8>, String> {
    let file = std::fs::File::open(f).map_err(|e| e.to_string())?;
    let mut data = Vec::new();
    file.take(MAX_RECORD + 1)
        .read_to_end(&mut data)
        .map_err(|e| e.to_string())?;
    if data.len() as u64 > MAX_RECORD {
        return Err(format!("larger than {MAX_RECORD} bytes: skipped"));
    }
    Ok(data)
}

fn load_zip(l: &mut Loader<'_>, f: &Path) -> std::result::Result<(), String> {
    let file = std::fs::File::open(f).map_err(|e| e.to_string())?;
    let mut z = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| format!("not a zip archive: {e}"))?;
    for i in 0..z.len() {
        let mut ent = z.by_index(i).map_err(|e| format!("entry {i}: {e}"))?;
        let name = ent.name().to_string();
        if !ent.is_file() || !is_record_file(&name) {
            continue;
        }
        let shown = format!("{}!{name}", f.display());
        if ent.size() > MAX_RECORD {
            l.report.warnings.push(Warning {
                file: shown,
                message: format!(
                    "declares {} bytes, more than {MAX_RECORD}: skipped",
                    ent.size()
                ),
            });
            continue;
        }
        let mut data = Vec::new();
        if let Err(e) = (&mut ent).take(MAX_RECORD + 1).read_to_end(&mut data) {
            l.report.warnings.push(Warning {
                file: shown,
                message: e.to_string(),
            });
            continue;
        }
        if data.len() as u64 > MAX_RECORD {
            l.report.warnings.push(Warning {
                file: shown,
                message: format!("larger than {MAX_RECORD} bytes: skipped"),
            });
            continue;
        }
        drop(ent);
        l.document(&shown, &data);
    }
    Ok(())
}
