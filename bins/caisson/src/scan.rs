//! `caisson scan`, `caisson sbom`, `caisson db`: the scanning commands.
//!
//! Targets: a directory (a root filesystem), an image in the store (name or id), or
//! a file: an OCI layout archive or docker-archive (`caisson save`, `docker save`),
//! which is loaded into a private temporary store first.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use caisson_engine::Engine;
use caisson_scan::catalog::{self, Catalog};
use caisson_scan::db::Db;
use caisson_scan::matcher::{self, Finding};
use clap::{Args, Subcommand, ValueEnum};

/// `caisson db ...`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Build the database from OSV advisories (JSON/YAML files, directories of
    /// them, OSV's per-ecosystem all.zip) and Debian Security Tracker JSON.
    Build {
        /// Advisory sources (repeatable).
        #[arg(long = "from", required = true)]
        from: Vec<PathBuf>,
        /// Database file (default: <root>/db/vulnerabilities.db).
        #[arg(long)]
        db: Option<PathBuf>,
        /// No progress output.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Download OSV all.zip archives from a mirror and rebuild the database.
    Update {
        /// Base URL; <URL>/<Ecosystem>/all.zip is fetched (default: $CAISSON_OSV_MIRROR).
        #[arg(long, env = "CAISSON_OSV_MIRROR")]
        mirror: String,
        /// Ecosystems to fetch.
        #[arg(long = "ecosystem", default_values_t = ["PyPI".to_string(), "npm".to_string(), "crates.io".to_string(), "Go".to_string(), "Debian".to_string()])]
        ecosystems: Vec<String>,
        /// Database file (default: <root>/db/vulnerabilities.db).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Show the database's version and size.
    Info {
        /// Database file.
        #[arg(long)]
        db: Option<PathBuf>,
    },
}

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ScanFormat {
    /// A table grouped by package.
    Table,
    /// JSON (every finding with ids, aliases, versions, severity, file and layer).
    Json,
    /// SARIF 2.1.0 (code-scanning tools).
    Sarif,
    /// CycloneDX 1.5 with vulnerabilities.
    Cyclonedx,
}

/// `caisson scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Database file (default: <root>/db/vulnerabilities.db).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Only these severities (comma-separated: CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN).
    #[arg(long)]
    pub severity: Option<String>,
    /// Leave out flaws with no fixed version.
    #[arg(long = "ignore-unfixed")]
    pub ignore_unfixed: bool,
    /// File of ids to ignore (one per line, `#` comments; Trivy's .trivyignore format).
    #[arg(long = "ignorefile")]
    pub ignorefile: Option<PathBuf>,
    /// Exit with this code when a finding remains after the filters (CI gates).
    #[arg(long = "exit-code", default_value_t = 0)]
    pub exit_code: i32,
    /// Write the report here instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// OpenVEX documents: findings a statement marks `not_affected` or `fixed` for
    /// this target's packages are left out (repeatable).
    #[arg(long)]
    pub vex: Vec<PathBuf>,
    /// What to look for (comma-separated): vuln, secret, misconfig.
    #[arg(long, default_value = "vuln,secret,misconfig")]
    pub scanners: String,
    /// Catalog again even when a cached catalog of this image exists.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Image (name or id in the store), root filesystem directory, or image archive.
    pub target: String,
}

/// `caisson sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// cyclonedx (1.5) or spdx (2.3) JSON.
    #[arg(short = 'f', long, default_value = "cyclonedx")]
    pub format: String,
    /// Write here instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Image, directory or archive.
    pub target: String,
}

fn default_db(engine: &Engine) -> PathBuf {
    engine.root.join("db/vulnerabilities.db")
}

/// What was scanned.
pub struct Scanned {
    /// Display name.
    pub name: String,
    /// Image digest (config), when an image.
    pub digest: Option<String>,
    /// The catalog.
    pub catalog: Catalog,
    /// Read from the scan cache.
    pub cached: bool,
    /// Secrets in the files (of every layer, for images).
    pub secrets: Vec<caisson_scan::secrets::SecretFinding>,
    /// Misconfigurations of the image config and the tree.
    pub misconfigs: Vec<caisson_scan::misconfig::Misconfig>,
}

/// What is cached per image: everything but the vulnerability matching, which is
/// redone against the current database each time.
#[derive(serde::Deserialize)]
struct CachedScan {
    catalog: Catalog,
    secrets: Vec<caisson_scan::secrets::SecretFinding>,
    misconfigs: Vec<caisson_scan::misconfig::Misconfig>,
}

struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        while nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH).is_ok() {}
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Where the catalog of an image is cached: by image id and scanner version (the
/// catalog depends on nothing else; findings are matched afresh against the
/// database, so a new database never meets a stale result).
fn cache_path(cache: &Path, image_id: &str) -> PathBuf {
    cache.join(format!(
        "{}-{}.json",
        image_id.trim_start_matches("sha256:"),
        env!("CARGO_PKG_VERSION")
    ))
}

/// Which scans besides the package catalog to run.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    /// Secrets.
    pub secrets: bool,
    /// Misconfigurations.
    pub misconfig: bool,
}

/// Catalog an image of a store (from the cache under `cache` when there; the cache
/// is written only by a full scan).
fn catalog_store_image(
    store: &caisson_image::Store,
    what: &str,
    cache: Option<&Path>,
    want: Want,
) -> Result<Scanned> {
    let img = caisson_image::images::resolve(store, what)?;
    let name = img
        .names
        .first()
        .cloned()
        .unwrap_or_else(|| img.config_digest.to_string());
    let id = img.config_digest.to_string();
    if let Some(c) = cache {
        if let Ok(raw) = std::fs::read(cache_path(c, &id)) {
            if let Ok(c) = serde_json::from_slice::<CachedScan>(&raw) {
                return Ok(Scanned {
                    name,
                    digest: Some(id),
                    catalog: c.catalog,
                    cached: true,
                    secrets: c.secrets,
                    misconfigs: c.misconfigs,
                });
            }
        }
    }
    let blobs = img.layers()?;
    let diff_ids = img.diff_ids()?;
    let dirs = caisson_image::layers::ensure_unpacked(store, &blobs, &diff_ids, false)?;
    let layers: Vec<(String, PathBuf)> = blobs
        .iter()
        .map(|(d, _)| d.to_string())
        .zip(dirs.iter().cloned())
        .collect();
    // the merged view: a read-only overlay of the layers (whiteouts honoured)
    let mnt = nix::unistd::mkdtemp("/tmp/caisson-scan-XXXXXX")
        .context("create a mount point under /tmp")?;
    let guard = MountGuard(mnt.clone());
    let examine = |merged: &Path| {
        let mut misconfigs = caisson_scan::misconfig::check_config(
            &serde_json::to_value(&img.config).unwrap_or_default(),
        );
        misconfigs.extend(caisson_scan::misconfig::check_tree(merged));
        (catalog::catalog_image(merged, &layers), misconfigs)
    };
    let layers_for_secrets = layers.clone();
    let secrets_job = std::thread::spawn(move || {
        if want.secrets {
            caisson_scan::secrets::scan_layers(&layers_for_secrets)
        } else {
            (Vec::new(), Vec::new())
        }
    });
    let (mut catalog, misconfigs) = if dirs.len() == 1 {
        examine(&dirs[0])
    } else {
        let lower = dirs
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        nix::mount::mount(
            Some("overlay"),
            &mnt,
            Some("overlay"),
            nix::mount::MsFlags::MS_RDONLY
                | nix::mount::MsFlags::MS_NODEV
                | nix::mount::MsFlags::MS_NOSUID,
            Some(format!("lowerdir={lower}").as_str()),
        )
        .with_context(|| format!("mount the image's layers read-only on {}", mnt.display()))?;
        examine(&mnt)
    };
    drop(guard);
    // secrets: every layer, so one deleted later is still found
    let (secrets, swarn) = secrets_job.join().unwrap_or_default();
    catalog.warnings.extend(swarn);
    let misconfigs = if want.misconfig {
        misconfigs
    } else {
        Vec::new()
    };
    if let Some(c) = cache.filter(|_| want.secrets && want.misconfig) {
        // written whole to a temp file and renamed: a reader never sees half
        let _ = std::fs::create_dir_all(c);
        let dst = cache_path(c, &id);
        let tmp = dst.with_extension(format!("tmp.{}", std::process::id()));
        let c = serde_json::json!({"catalog": &catalog, "secrets": &secrets, "misconfigs": &misconfigs});
        let written = std::fs::write(&tmp, serde_json::to_vec(&c)?).is_ok();
        if written {
            let _ = std::fs::rename(&tmp, &dst);
        }
    }
    Ok(Scanned {
        name,
        digest: Some(id),
        catalog,
        cached: false,
        secrets,
        misconfigs,
    })
}

/// Resolve a target and catalog it (images of the store through the cache unless
/// `no_cache`).
pub fn catalog_target(
    engine: &Engine,
    target: &str,
    no_cache: bool,
    want: Want,
) -> Result<Scanned> {
    let p = Path::new(target);
    if let Ok(m) = std::fs::metadata(p) {
        if m.is_dir() && !p.join("oci-layout").exists() {
            // the secret search reads every text file: it runs beside the catalog
            let (mut catalog, (secrets, swarn)) = std::thread::scope(|sc| {
                let sec = sc.spawn(|| {
                    if want.secrets {
                        caisson_scan::secrets::scan_tree(p)
                    } else {
                        (Vec::new(), Vec::new())
                    }
                });
                let c = catalog::catalog_dir(p);
                (c, sec.join().unwrap_or_default())
            });
            catalog.warnings.extend(swarn);
            return Ok(Scanned {
                name: target.to_string(),
                digest: None,
                catalog,
                cached: false,
                secrets,
                misconfigs: if want.misconfig {
                    caisson_scan::misconfig::check_tree(p)
                } else {
                    Vec::new()
                },
            });
        }
        // an image archive or OCI layout dir: load it into a private store
        let tmp = tempdir("/tmp/caisson-scan-store-XXXXXX")?;
        let store = caisson_image::Store::open(&tmp.0).context("open a temporary store")?;
        let names = match caisson_image::layout::load(&store, p) {
            Ok(n) => n,
            // not an image archive: a tar of a root filesystem (plain, gzip, zstd)
            Err(load_err) if m.is_file() => {
                caisson_image::layout::import_rootfs(&store, p, "localhost/scan-target:latest")
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "{target}: neither an image archive ({load_err}) nor a root file system tar ({e})"
                        )
                    })?;
                vec!["localhost/scan-target:latest".to_string()]
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "{target}: not a directory, OCI layout or image archive"
                )))
            }
        };
        let first = names
            .first()
            .cloned()
            .with_context(|| format!("{target}: the archive holds no image"))?;
        let mut s = catalog_store_image(&store, &first, None, want)?;
        s.name = format!("{target} ({first})");
        return Ok(s);
    }
    let cache = engine.root.join("scan-cache");
    catalog_store_image(
        &engine.store,
        target,
        (!no_cache).then_some(cache.as_path()),
        want,
    )
    .with_context(|| format!("{target}: not a directory, an archive, or an image in the store"))
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = caisson_image::unpack::remove_tree(&self.0);
    }
}

fn tempdir(template: &str) -> Result<TempDir> {
    Ok(TempDir(
        nix::unistd::mkdtemp(template).with_context(|| format!("create {template}"))?,
    ))
}

fn print_warnings(c: &Catalog) {
    for w in &c.warnings {
        eprintln!("warning: {}: {}", w.file, w.message);
    }
}

/// `caisson db ...`.
pub fn db_command(engine: &Engine, cmd: DbCommand) -> Result<i32> {
    match cmd {
        DbCommand::Build { from, db, quiet } => {
            let path = db.unwrap_or_else(|| default_db(engine));
            let t = std::time::Instant::now();
            let mut last = std::time::Instant::now();
            let mut progress = |i: usize, n: usize| {
                if !quiet && (last.elapsed().as_millis() > 500 || i == n) {
                    eprint!("\rreading advisory files: {i}/{n}");
                    last = std::time::Instant::now();
                    if i == n {
                        eprintln!();
                    }
                }
            };
            let r = Db::build(&from, &path, &caisson_engine::now(), &mut progress)?;
            for w in &r.warnings {
                eprintln!("warning: {}: {}", w.file, w.message);
            }
            eprintln!(
                "built {} in {:.1}s: {} advisories, {} affected-package entries, {} withdrawn left out, {} file(s) skipped",
                path.display(),
                t.elapsed().as_secs_f64(),
                r.records,
                r.affected,
                r.withdrawn,
                r.warnings.len()
            );
            println!("{}", r.version);
            Ok(0)
        }
        DbCommand::Update {
            mirror,
            ecosystems,
            db,
        } => {
            let path = db.unwrap_or_else(|| default_db(engine));
            let tmp = tempdir("/tmp/caisson-osv-XXXXXX")?;
            let mut zips = Vec::new();
            for e in &ecosystems {
                let url = format!("{}/{}/all.zip", mirror.trim_end_matches('/'), e);
                let dst = tmp.0.join(format!("{}.zip", e.replace(['/', ':'], "_")));
                eprintln!("fetching {url}");
                let st = std::process::Command::new("curl")
                    .args(["-fsSL", "--retry", "3", "-o"])
                    .arg(&dst)
                    .arg(&url)
                    .status()
                    .context("run curl")?;
                if !st.success() {
                    bail!(
                        "{url}: download failed (curl exit {})",
                        st.code().unwrap_or(-1)
                    );
                }
                zips.push(dst);
            }
            let r = Db::build(&zips, &path, &caisson_engine::now(), &mut |_, _| {})?;
            for w in &r.warnings {
                eprintln!("warning: {}: {}", w.file, w.message);
            }
            eprintln!("updated {}: {} advisories", path.display(), r.records);
            println!("{}", r.version);
            Ok(0)
        }
        DbCommand::Info { db } => {
            let path = db.unwrap_or_else(|| default_db(engine));
            let d = Db::open(&path)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "path": path,
                    "version": d.meta("version"),
                    "built": d.meta("built"),
                    "records": d.meta("records"),
                }))?
            );
            Ok(0)
        }
    }
}

/// One OpenVEX statement that removes findings: (vulnerability ids, product ids).
struct VexStatement {
    ids: Vec<String>,
    products: Vec<String>,
}

fn load_vex(files: &[PathBuf]) -> Result<Vec<VexStatement>> {
    let mut out = Vec::new();
    for f in files {
        let raw = std::fs::read(f).with_context(|| format!("read {}", f.display()))?;
        let v: serde_json::Value =
            serde_json::from_slice(&raw).with_context(|| format!("{}: not JSON", f.display()))?;
        let sts = v["statements"].as_array().with_context(|| {
            format!(
                "{}: no \"statements\": not an OpenVEX document",
                f.display()
            )
        })?;
        for (i, s) in sts.iter().enumerate() {
            let status = s["status"].as_str().unwrap_or("");
            if !matches!(status, "not_affected" | "fixed") {
                continue; // affected / under_investigation keep the finding
            }
            let vuln = &s["vulnerability"];
            let mut ids: Vec<String> = Vec::new();
            if let Some(n) = vuln.as_str() {
                ids.push(n.to_string());
            }
            for k in ["name", "@id"] {
                if let Some(n) = vuln[k].as_str() {
                    ids.push(n.to_string());
                }
            }
            for a in vuln["aliases"].as_array().into_iter().flatten() {
                if let Some(n) = a.as_str() {
                    ids.push(n.to_string());
                }
            }
            if ids.is_empty() {
                bail!("{}: statements[{i}] names no vulnerability", f.display());
            }
            let mut products = Vec::new();
            for p in s["products"].as_array().into_iter().flatten() {
                if let Some(x) = p.as_str() {
                    products.push(x.to_string());
                }
                for k in ["@id"] {
                    if let Some(x) = p[k].as_str() {
                        products.push(x.to_string());
                    }
                }
                for sc in p["subcomponents"].as_array().into_iter().flatten() {
                    if let Some(x) = sc["@id"].as_str().or_else(|| sc.as_str()) {
                        products.push(x.to_string());
                    }
                }
            }
            out.push(VexStatement { ids, products });
        }
    }
    Ok(out)
}

/// A purl without its qualifiers and subpath (`pkg:pypi/requests@2.19.1`).
fn purl_base(p: &str) -> &str {
    p.split(['?', '#']).next().unwrap_or(p)
}

fn vex_suppresses(vex: &[VexStatement], f: &Finding, s: &Scanned) -> bool {
    vex.iter().any(|st| {
        let names = st.ids.iter().any(|i| *i == f.id || f.aliases.contains(i));
        let product = st.products.is_empty()
            || st.products.iter().any(|p| {
                purl_base(p) == purl_base(&f.purl)
                    || (!p.contains('@')
                        && purl_base(&f.purl).split('@').next() == Some(p.as_str()))
                    || *p == s.name
                    || s.digest.as_deref().is_some_and(|d| p.contains(d))
            });
        names && product
    })
}

fn load_ignores(p: Option<&Path>) -> Result<Vec<String>> {
    let Some(p) = p else { return Ok(Vec::new()) };
    let text = std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// `caisson scan`.
pub fn scan_command(engine: &Engine, a: &ScanArgs) -> Result<i32> {
    let dbp = a.db.clone().unwrap_or_else(|| default_db(engine));
    let db = Db::open(&dbp)?;
    let severities: Option<Vec<String>> = a.severity.as_ref().map(|s| {
        s.split(',')
            .map(|x| x.trim().to_ascii_uppercase())
            .collect()
    });
    if let Some(sv) = &severities {
        for s in sv {
            if !["CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN"].contains(&s.as_str()) {
                bail!("--severity {s:?}: use CRITICAL, HIGH, MEDIUM, LOW, NONE, UNKNOWN");
            }
        }
    }
    let ignores = load_ignores(a.ignorefile.as_deref())?;
    let vex = load_vex(&a.vex)?;
    let scanners: Vec<&str> = a.scanners.split(',').map(str::trim).collect();
    for x in &scanners {
        if !["vuln", "secret", "misconfig"].contains(x) {
            bail!("--scanners {x:?}: use vuln, secret, misconfig");
        }
    }
    let want = Want {
        secrets: scanners.contains(&"secret"),
        misconfig: scanners.contains(&"misconfig"),
    };
    let scanned = catalog_target(engine, &a.target, a.no_cache, want)?;
    if scanned.cached {
        eprintln!(
            "(catalog of {} from the scan cache; --no-cache to redo it)",
            scanned.digest.as_deref().unwrap_or("")
        );
    }
    print_warnings(&scanned.catalog);
    let mut scanned = scanned;
    if !scanners.contains(&"secret") {
        scanned.secrets.clear();
    }
    if !scanners.contains(&"misconfig") {
        scanned.misconfigs.clear();
    }
    let (mut findings, notes) = if scanners.contains(&"vuln") {
        matcher::match_packages(&db, &scanned.catalog.packages)?
    } else {
        (Vec::new(), Vec::new())
    };
    if let Some(sv) = &severities {
        scanned.secrets.retain(|x| sv.contains(&x.severity));
        scanned.misconfigs.retain(|x| sv.contains(&x.severity));
    }
    for n in &notes {
        eprintln!("note: {n}");
    }
    findings.retain(|f| {
        (!a.ignore_unfixed || f.fixed.is_some())
            && severities.as_ref().is_none_or(|s| s.contains(&f.severity))
            && !ignores.iter().any(|i| *i == f.id || f.aliases.contains(i))
            && !vex_suppresses(&vex, f, &scanned)
    });
    let report = render(a.format, &scanned, &findings, &db)?;
    match &a.output {
        Some(p) => std::fs::write(p, report).with_context(|| format!("write {}", p.display()))?,
        None => std::io::stdout().write_all(report.as_bytes())?,
    }
    let any = !findings.is_empty() || !scanned.secrets.is_empty() || !scanned.misconfigs.is_empty();
    Ok(if any { a.exit_code } else { 0 })
}

fn render(fmt: ScanFormat, s: &Scanned, findings: &[Finding], db: &Db) -> Result<String> {
    Ok(match fmt {
        ScanFormat::Json => {
            let v = serde_json::json!({
                "target": s.name,
                "imageId": s.digest,
                "os": s.catalog.os,
                "database": {"version": db.meta("version"), "built": db.meta("built")},
                "packages": s.catalog.packages.len(),
                "findings": findings,
                "secrets": s.secrets,
                "misconfigurations": s.misconfigs,
                "warnings": s.catalog.warnings,
            });
            serde_json::to_string_pretty(&v)? + "\n"
        }
        ScanFormat::Table => table(s, findings),
        ScanFormat::Sarif => sarif(s, findings)?,
        ScanFormat::Cyclonedx => {
            let mut v = cyclonedx(s);
            v["vulnerabilities"] = findings
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "id": f.id,
                        "source": {"name": if f.id.starts_with("CVE-") {"NVD"} else {"OSV"}},
                        "references": f.aliases.iter().map(|a| serde_json::json!({"id": a, "source": {"name": "OSV"}})).collect::<Vec<_>>(),
                        "ratings": [{"score": f.cvss_score, "severity": f.severity.to_ascii_lowercase(), "method": "CVSSv31", "vector": f.cvss_vector}],
                        "description": f.summary,
                        "recommendation": f.fixed.as_ref().map(|x| format!("upgrade {} to {x}", f.package)),
                        "affects": [{"ref": f.purl}],
                    })
                })
                .collect();
            serde_json::to_string_pretty(&v)? + "\n"
        }
    })
}

fn table(s: &Scanned, findings: &[Finding]) -> String {
    let mut out = String::new();
    let os = s
        .catalog
        .os
        .as_ref()
        .map(|o| format!(" ({})", o.pretty_name))
        .unwrap_or_default();
    let mut counts = std::collections::BTreeMap::new();
    for f in findings {
        *counts.entry(f.severity.clone()).or_insert(0) += 1;
    }
    out.push_str(&format!(
        "{}{os}: {} packages, {} vulnerabilities ({})\n\n",
        s.name,
        s.catalog.packages.len(),
        findings.len(),
        ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]
            .iter()
            .map(|k| format!("{k}: {}", counts.get(*k).unwrap_or(&0)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    secrets_and_misconfigs(&mut out, s);
    if findings.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "{:<28} {:<20} {:<9} {:<22} {:<22} {}\n",
        "PACKAGE", "VULNERABILITY", "SEVERITY", "INSTALLED", "FIXED IN", "TITLE"
    ));
    let mut last = String::new();
    for f in findings {
        let key = format!("{} {}", f.package, f.location);
        let pkg = if key == last {
            String::new()
        } else {
            f.package.clone()
        };
        last = key;
        let mut title = f.summary.replace('\n', " ");
        if title.chars().count() > 60 {
            title = title.chars().take(59).collect::<String>() + "…";
        }
        out.push_str(&format!(
            "{:<28} {:<20} {:<9} {:<22} {:<22} {}\n",
            pkg,
            f.id,
            f.severity,
            f.installed,
            f.fixed.as_deref().unwrap_or("(no fix)"),
            title
        ));
    }
    out
}

fn secrets_and_misconfigs(out: &mut String, s: &Scanned) {
    if !s.secrets.is_empty() {
        out.push_str(&format!("Secrets: {}\n", s.secrets.len()));
        for x in &s.secrets {
            out.push_str(&format!(
                "  {:<9} {:<24} {}:{}  {}{}{}\n",
                x.severity,
                x.rule,
                x.file,
                x.line,
                x.redacted,
                x.layer
                    .as_ref()
                    .map(|l| format!("  layer {}", short(l)))
                    .unwrap_or_default(),
                x.deleted_in
                    .as_ref()
                    .map(|l| format!("  (deleted in layer {}, still in the image)", short(l)))
                    .unwrap_or_default()
            ));
        }
        out.push('\n');
    }
    if !s.misconfigs.is_empty() {
        out.push_str(&format!("Misconfigurations: {}\n", s.misconfigs.len()));
        for m in &s.misconfigs {
            out.push_str(&format!(
                "  {:<9} {:<16} {}: {}\n",
                m.severity, m.id, m.title, m.detail
            ));
        }
        out.push('\n');
    }
}

fn short(digest: &str) -> &str {
    let h = digest.trim_start_matches("sha256:");
    &h[..h.len().min(12)]
}

fn sarif(s: &Scanned, findings: &[Finding]) -> Result<String> {
    let mut rules: Vec<serde_json::Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in findings {
        if seen.insert(f.id.clone()) {
            rules.push(serde_json::json!({
                "id": f.id,
                "shortDescription": {"text": f.summary},
                "properties": {"security-severity": f.cvss_score.map(|x| format!("{x:.1}")), "tags": ["vulnerability", f.severity]},
            }));
        }
    }
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "ruleId": f.id,
                "level": match f.severity.as_str() { "CRITICAL" | "HIGH" => "error", "MEDIUM" => "warning", _ => "note" },
                "message": {"text": format!("{} {} is affected by {} ({}); fixed in {}", f.package, f.installed, f.id, f.severity, f.fixed.as_deref().unwrap_or("no released version"))},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.location.trim_start_matches('/')}}}],
                "properties": {"purl": f.purl, "layer": f.layer, "aliases": f.aliases},
            })
        })
        .collect();
    let mut results = results;
    for x in &s.secrets {
        if seen.insert(x.rule.clone()) {
            rules.push(serde_json::json!({"id": x.rule, "shortDescription": {"text": x.title}, "properties": {"tags": ["secret", x.severity]}}));
        }
        results.push(serde_json::json!({
            "ruleId": x.rule,
            "level": "error",
            "message": {"text": format!("{} in {} ({}){}", x.title, x.file, x.redacted, if x.deleted_in.is_some() { "; deleted in a later layer but still in the image" } else { "" })},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": x.file.trim_start_matches('/')}, "region": {"startLine": x.line}}}],
        }));
    }
    for m in &s.misconfigs {
        if seen.insert(m.id.clone()) {
            rules.push(serde_json::json!({"id": m.id, "shortDescription": {"text": m.title}, "properties": {"tags": ["misconfiguration", m.severity]}}));
        }
        results.push(serde_json::json!({
            "ruleId": m.id,
            "level": if m.severity == "HIGH" { "error" } else { "warning" },
            "message": {"text": format!("{}: {}", m.title, m.detail)},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": m.file.as_deref().unwrap_or("image-config").trim_start_matches('/')}}}],
        }));
    }
    let v = serde_json::json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": "caisson", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
            "properties": {"target": s.name},
        }],
    });
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

fn uuid_from(data: &str) -> String {
    use std::fmt::Write as _;
    // a name-based id (stable for the same target and packages)
    let mut h: u128 = 0xcbf2_9ce4_8422_2325_cbf2_9ce4_8422_2325;
    for b in data.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let mut s = String::new();
    for (i, byte) in h.to_be_bytes().iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

fn cyclonedx(s: &Scanned) -> serde_json::Value {
    let comps: Vec<serde_json::Value> = s
        .catalog
        .packages
        .iter()
        .map(|p| {
            let mut props = vec![
                serde_json::json!({"name": "caisson:ecosystem", "value": p.ecosystem}),
                serde_json::json!({"name": "caisson:location", "value": p.location}),
            ];
            if let Some(l) = &p.layer {
                props.push(serde_json::json!({"name": "caisson:layer", "value": l}));
            }
            if let Some((src, sv)) = &p.source {
                props.push(
                    serde_json::json!({"name": "caisson:source", "value": format!("{src} {sv}")}),
                );
            }
            serde_json::json!({
                "type": "library",
                "bom-ref": p.purl,
                "name": p.name,
                "version": p.version,
                "purl": p.purl,
                "properties": props,
            })
        })
        .collect();
    let mut c = serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_from(&format!("{}{:?}", s.name, s.digest))),
        "version": 1,
        "metadata": {
            "timestamp": caisson_engine::now(),
            "tools": {"components": [{"type": "application", "name": "caisson", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": if s.digest.is_some() {"container"} else {"file"}, "name": s.name, "bom-ref": "target"},
        },
        "components": comps,
    });
    if let Some(os) = &s.catalog.os {
        c["components"].as_array_mut().expect("array").push(serde_json::json!({
            "type": "operating-system", "bom-ref": format!("os:{}:{}", os.id, os.version_id), "name": os.id, "version": os.version_id,
        }));
    }
    c
}

fn spdx(s: &Scanned) -> serde_json::Value {
    let mut pkgs = vec![serde_json::json!({
        "SPDXID": "SPDXRef-Target",
        "name": s.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": if s.digest.is_some() {"CONTAINER"} else {"FILE"},
    })];
    let mut rels = vec![
        serde_json::json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Target"}),
    ];
    for (i, p) in s.catalog.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        pkgs.push(serde_json::json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "sourceInfo": format!("found in {}{}", p.location, p.layer.as_ref().map(|l| format!(" (layer {l})")).unwrap_or_default()),
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}],
        }));
        rels.push(serde_json::json!({"spdxElementId": "SPDXRef-Target", "relationshipType": "CONTAINS", "relatedSpdxElement": id}));
    }
    serde_json::json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": s.name,
        "documentNamespace": format!("https://caisson.dev/spdx/{}", uuid_from(&format!("{}{:?}", s.name, s.digest))),
        "creationInfo": {"created": caisson_engine::now(), "creators": [format!("Tool: caisson-{}", env!("CARGO_PKG_VERSION"))]},
        "packages": pkgs,
        "relationships": rels,
    })
}

/// `caisson sbom`.
pub fn sbom_command(engine: &Engine, a: &SbomArgs) -> Result<i32> {
    let s = catalog_target(
        engine,
        &a.target,
        false,
        Want {
            secrets: false,
            misconfig: false,
        },
    )?;
    print_warnings(&s.catalog);
    let v = match a.format.as_str() {
        "cyclonedx" | "cyclonedx-json" => cyclonedx(&s),
        "spdx" | "spdx-json" => spdx(&s),
        f => bail!("--format {f:?}: cyclonedx or spdx"),
    };
    let text = serde_json::to_string_pretty(&v)? + "\n";
    match &a.output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("write {}", p.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(0)
}

/// The scan report of a local image for the policy gate's image rules: the same
/// JSON as `caisson scan --format json` (vulnerabilities when a database exists
/// at the default place, and secrets), from the scan cache when there.
pub fn policy_report(engine: &Engine, image: &str) -> Result<serde_json::Value> {
    let scanned = catalog_target(
        engine,
        image,
        false,
        Want {
            secrets: true,
            misconfig: false,
        },
    )?;
    let dbp = default_db(engine);
    let (findings, database) = if dbp.exists() {
        let db = Db::open(&dbp)?;
        let (f, _) = matcher::match_packages(&db, &scanned.catalog.packages)?;
        (
            f,
            serde_json::json!({"version": db.meta("version"), "built": db.meta("built")}),
        )
    } else {
        (Vec::new(), serde_json::Value::Null)
    };
    Ok(serde_json::json!({
        "target": scanned.name,
        "imageId": scanned.digest,
        "database": database,
        "packages": scanned.catalog.packages.len(),
        "findings": findings,
        "secrets": scanned.secrets,
    }))
}
