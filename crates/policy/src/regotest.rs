//! `caisson policy test`: Rego unit tests, as `opa test` runs them. Every rule whose
//! name starts with `test_` in the loaded modules is one test: it passes when it
//! evaluates to `true`, fails when it is false or undefined, and errors when its
//! evaluation fails. Files named `data.json`/`data.yaml` beside the modules are
//! loaded as data; the built-in Caisson policies are loaded too, so tests can
//! exercise `data.caisson.pss.*` and `data.caisson.image`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::Serialize;

use crate::gate::collect_rego;

/// The result of one test.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// `data.PACKAGE.test_NAME`.
    pub name: String,
    /// The file that defines it.
    pub file: PathBuf,
    /// `pass`, `fail` or `error`.
    pub outcome: &'static str,
    /// The evaluation error, for `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the test printed (`print`), shown for failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prints: Vec<String>,
    /// Evaluation time in nanoseconds.
    pub duration_ns: u64,
}

/// Loads every `.rego` under `paths` (and the built-in policies) and runs the
/// `test_` rules whose full name contains `filter`.
pub fn run(paths: &[PathBuf], filter: Option<&str>) -> Result<Vec<TestResult>> {
    let mut engine = regorus::Engine::new();
    engine.set_gather_prints(true);
    for (name, src) in crate::gate::builtin_modules() {
        engine
            .add_policy(format!("builtin/{name}.rego"), src.to_string())
            .with_context(|| format!("built-in policy {name}"))?;
    }
    let mut files = Vec::new();
    for p in paths {
        collect_rego(p, &mut files)?;
        if p.is_dir() {
            for name in ["data.json", "data.yaml", "data.yml"] {
                let d = p.join(name);
                if d.exists() {
                    let text = std::fs::read_to_string(&d)
                        .with_context(|| format!("read {}", d.display()))?;
                    let v: serde_json::Value = serde_yaml::from_str::<serde_yaml::Value>(&text)
                        .map_err(|e| anyhow!("{}: {e}", d.display()))
                        .and_then(|y| {
                            serde_json::to_value(y).map_err(|e| anyhow!("{}: {e}", d.display()))
                        })?;
                    engine
                        .add_data(regorus::Value::from(v))
                        .map_err(|e| anyhow!("{}: {e}", d.display()))?;
                }
            }
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        anyhow::bail!(
            "no .rego files under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut tests = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
        let pkg = engine
            .add_policy(f.to_string_lossy().into_owned(), text.clone())
            .map_err(|e| anyhow!("{}: {e}", f.display()))?;
        for name in test_rules(&text) {
            let full = format!("{pkg}.{name}");
            if filter.is_none_or(|x| full.contains(x))
                && !tests.iter().any(|(n, _): &(String, PathBuf)| *n == full)
            {
                tests.push((full, f.clone()));
            }
        }
    }
    let mut out = Vec::new();
    for (name, file) in tests {
        let start = Instant::now();
        let r = engine.eval_rule(name.clone());
        let duration_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let prints = engine.take_prints().unwrap_or_default();
        let (outcome, error) = match r {
            Ok(regorus::Value::Bool(true)) => ("pass", None),
            Ok(_) => ("fail", None),
            Err(e) => ("error", Some(e.to_string())),
        };
        out.push(TestResult {
            name,
            file,
            outcome,
            error,
            prints,
            duration_ns,
        });
    }
    Ok(out)
}

/// Names of the top-level rules starting with `test_`.
fn test_rules(text: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for l in text.lines() {
        if l.starts_with("test_") {
            let name: String = l
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !v.contains(&name) {
                v.push(name);
            }
        }
    }
    v
}

/// One line per test (`opa test -v` style) and the summary; returns the exit code
/// (0 all pass, 1 a failure or an error).
pub fn report_text(
    results: &[TestResult],
    verbose: bool,
    w: &mut dyn std::io::Write,
) -> Result<i32> {
    let mut by_file: Vec<&Path> = results.iter().map(|r| r.file.as_path()).collect();
    by_file.dedup();
    for r in results {
        let show = verbose || r.outcome != "pass";
        if !show {
            continue;
        }
        let d = Duration::from_nanos(r.duration_ns);
        match r.outcome {
            "pass" => writeln!(w, "{}: PASS ({d:?})", r.name)?,
            "fail" => writeln!(w, "{}: FAIL ({d:?})  [{}]", r.name, r.file.display())?,
            _ => writeln!(
                w,
                "{}: ERROR ({d:?})  [{}]\n  {}",
                r.name,
                r.file.display(),
                r.error.as_deref().unwrap_or_default().replace('\n', "\n  ")
            )?,
        }
        if r.outcome != "pass" {
            for p in &r.prints {
                writeln!(w, "  {p}")?;
            }
        }
    }
    let pass = results.iter().filter(|r| r.outcome == "pass").count();
    let fail = results.iter().filter(|r| r.outcome == "fail").count();
    let err = results.len() - pass - fail;
    writeln!(w, "{}", "-".repeat(80))?;
    if pass == results.len() {
        writeln!(w, "PASS: {pass}/{}", results.len())?;
    } else {
        if pass > 0 {
            writeln!(w, "PASS: {pass}/{}", results.len())?;
        }
        if fail > 0 {
            writeln!(w, "FAIL: {fail}/{}", results.len())?;
        }
        if err > 0 {
            writeln!(w, "ERROR: {err}/{}", results.len())?;
        }
    }
    Ok(if pass == results.len() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policy_unit_tests_pass() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rego/tests");
        let r = run(&[dir], None).unwrap();
        let mut out = Vec::new();
        let code = report_text(&r, true, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(code, 0, "{text}");
        assert!(r.len() >= 14, "{text}");
    }

    #[test]
    fn failing_and_erroring_tests_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x_test.rego"),
            "package x\nimport rego.v1\ntest_ok if { 1 == 1 }\ntest_bad if {\n  print(\"seen\", 2)\n  1 == 2\n}\ntest_err if { 1 / 0 == 1 }\n",
        )
        .unwrap();
        let r = run(&[dir.path().to_path_buf()], None).unwrap();
        let outcomes: Vec<_> = r.iter().map(|t| (t.name.as_str(), t.outcome)).collect();
        assert_eq!(outcomes[0], ("data.x.test_ok", "pass"));
        assert_eq!(outcomes[1], ("data.x.test_bad", "fail"));
        assert!(
            r[1].prints.len() == 1 && r[1].prints[0].ends_with(":5: seen 2"),
            "{r:?}"
        );
        assert_ne!(outcomes[2].1, "pass");
        let mut out = Vec::new();
        assert_eq!(report_text(&r, false, &mut out).unwrap(), 1);
        let r = run(&[dir.path().to_path_buf()], Some("test_ok")).unwrap();
        assert_eq!(r.len(), 1);
    }
}
