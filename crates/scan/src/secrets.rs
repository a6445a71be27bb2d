//! Secret scanning: credentials left in the files of an image.
//!
//! [`scan_tree`] walks a tree the way the [catalog walker](crate::catalog::catalog_dir)
//! does (no symlink is ever followed, top-level `proc`, `sys` and `dev` are skipped,
//! nesting is capped at [`MAX_DEPTH`]), reads every regular
//! text file up to [`MAX_FILE`] bytes and matches it against a small set of strict
//! rules (the kind of tokens Trivy's builtin rules and gitleaks look for, each with a
//! fixed prefix or an unmistakable shape, so that false positives stay rare).
//!
//! [`scan_layers`] does the same per image layer and tells, for each finding, whether
//! a later layer deleted or replaced the file: the secret is then gone from the
//! running container but still in the image's history (anyone who pulls the image
//! gets the layer).
//!
//! Matches that are documentation examples (anything containing `EXAMPLE`, such as
//! AWS's `AKIAIOSFODNN7EXAMPLE`) and obvious placeholders (fewer than 8 distinct
//! characters, such as `AKIAXXXXXXXXXXXXXXXX`) are not reported.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::catalog::MAX_DEPTH;
use crate::Warning;

/// Largest file read; bigger files are skipped silently.
pub const MAX_FILE: u64 = 10 << 20;

/// How much of a file is looked at to decide it is binary (a NUL byte in it).
pub const BINARY_SNIFF: usize = 8 << 10;

/// In-tree directories never scanned (documentation, translations, C headers).
pub const SKIPPED_DIRS: &[&str] = &[
    "/usr/share/doc",
    "/usr/share/man",
    "/usr/share/locale",
    "/usr/include",
];

/// A secret found in a file of a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SecretFinding {
    /// Rule id (`aws-access-key-id`, `private-key`, `github-pat`, ...).
    pub rule: String,
    /// Human title of the rule.
    pub title: String,
    /// `CRITICAL`, `HIGH`, `MEDIUM` or `LOW`.
    pub severity: String,
    /// In-tree absolute path (`/root/.ssh/id_rsa`).
    pub file: String,
    /// 1-based line of the match.
    pub line: usize,
    /// Digest of the layer it was found in (`None` for a plain directory scan).
    pub layer: Option<String>,
    /// Digest of a later layer that deleted or replaced the file: the secret is no
    /// longer in the container's filesystem but still in the image's history.
    pub deleted_in: Option<String>,
    /// The match with all but its first 4 and last 2 characters replaced by `*`
    /// (private keys: just their `BEGIN` line).
    pub redacted: String,
}

/// One detection rule.
struct Rule {
    id: &'static str,
    title: &'static str,
    severity: &'static str,
    pattern: &'static str,
    /// Capture group holding the secret (0: the whole match).
    group: usize,
    /// A byte that continues the token: a match followed by one is part of a longer
    /// word, not the token.
    continues: Option<fn(u8) -> bool>,
    /// At least this many ASCII digits in the match.
    min_digits: usize,
    /// A PEM block: redacted to its `BEGIN` line.
    pem: bool,
}

fn b64_continues(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'+' || b == b'='
}

fn dash_token_continues(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `(?-u:\b)`: ASCII word boundaries keep the regexes on the fast DFA engines even
/// when a file is not ASCII.
const RULES: &[Rule] = &[
    // Before `private-key`: the same PEM inside a service account file is reported
    // once, as this.
    Rule {
        id: "gcp-service-account",
        title: "GCP service account private key",
        severity: "CRITICAL",
        pattern: r#""private_key"\s*:\s*"(-----BEGIN PRIVATE KEY-----(?:\\[rn])+[A-Za-z0-9+/=\\]{64,}-----END PRIVATE KEY-----)"#,
        group: 1,
        continues: None,
        min_digits: 0,
        pem: true,
    },
    Rule {
        id: "private-key",
        title: "Private key",
        severity: "HIGH",
        // the BEGIN line, optional RFC 1421 / OpenPGP armor headers, a base64 body
        // and the END marker: a lone BEGIN line (a string constant in a TLS
        // library) is not a key
        pattern: r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----(?:\\[rn]|\s)+(?:[A-Za-z][A-Za-z-]*:[^\n]*\n)*[A-Za-z0-9+/=\\\s]{64,}-----END ",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: true,
    },
    Rule {
        id: "aws-access-key-id",
        title: "AWS Access Key ID",
        severity: "CRITICAL",
        pattern: r"(?-u:\b)(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?-u:\b)",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "aws-secret-access-key",
        title: "AWS Secret Access Key",
        severity: "CRITICAL",
        pattern: r#"(?i:(?:aws[_-]?)?secret[_-]?access[_-]?key)["']?[ \t]*(?:=>|:=|=|:)[ \t]*["']?([A-Za-z0-9/+]{40})"#,
        group: 1,
        continues: Some(b64_continues),
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "github-pat",
        title: "GitHub Personal Access Token",
        severity: "CRITICAL",
        pattern: r"(?-u:\b)ghp_[A-Za-z0-9]{36}(?-u:\b)",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "github-oauth",
        title: "GitHub OAuth Access Token",
        severity: "CRITICAL",
        pattern: r"(?-u:\b)gho_[A-Za-z0-9]{36}(?-u:\b)",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "github-app-token",
        title: "GitHub App Token",
        severity: "CRITICAL",
        pattern: r"(?-u:\b)gh[us]_[A-Za-z0-9]{36}(?-u:\b)",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "github-refresh-token",
        title: "GitHub Refresh Token",
        severity: "CRITICAL",
        pattern: r"(?-u:\b)ghr_[A-Za-z0-9]{36}(?-u:\b)",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "github-fine-grained-pat",
        title: "GitHub Fine-grained Personal Access Token",
        severity: "CRITICAL",
        pattern: r"(?-u:\b)github_pat_[A-Za-z0-9_]{82}(?-u:\b)",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "gitlab-pat",
        title: "GitLab Personal Access Token",
        severity: "CRITICAL",
        pattern: r"(?-u:\b)glpat-[A-Za-z0-9_-]{20}",
        group: 0,
        continues: Some(dash_token_continues),
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "slack-token",
        title: "Slack Token",
        severity: "HIGH",
        // real tokens carry numeric team/user ids: `xoxb-your-token-here` is not one
        pattern: r"(?-u:\b)xox[baprs]-[A-Za-z0-9-]{10,}",
        group: 0,
        continues: None,
        min_digits: 6,
        pem: false,
    },
    Rule {
        id: "google-api-key",
        title: "Google API Key",
        severity: "HIGH",
        pattern: r"(?-u:\b)AIza[0-9A-Za-z_-]{35}",
        group: 0,
        continues: Some(dash_token_continues),
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "stripe-secret-key",
        title: "Stripe Secret Key",
        severity: "CRITICAL",
        pattern: r"(?-u:\b)sk_live_[0-9a-zA-Z]{24,}",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "npm-access-token",
        title: "npm Access Token",
        severity: "CRITICAL",
        pattern: r"(?-u:\b)npm_[A-Za-z0-9]{36}(?-u:\b)",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: false,
    },
    Rule {
        id: "pypi-upload-token",
        title: "PyPI Upload Token",
        severity: "HIGH",
        pattern: r"(?-u:\b)pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
        group: 0,
        continues: None,
        min_digits: 0,
        pem: false,
    },
];

fn compiled() -> &'static [Regex] {
    static RE: OnceLock<Vec<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        RULES
            .iter()
            .map(|r| Regex::new(r.pattern).expect("builtin secret rule compiles"))
            .collect()
    })
}

/// All rules as one set: one pass over a file says which rules can match at all
/// (most files: none), so the per-rule searches run only where needed.
fn rule_set() -> &'static regex::RegexSet {
    static SET: OnceLock<regex::RegexSet> = OnceLock::new();
    SET.get_or_init(|| {
        regex::RegexSet::new(RULES.iter().map(|r| r.pattern)).expect("builtin secret rules compile")
    })
}

/// Literals at least one of which every rule's match contains: one fast literal
/// search (SIMD-accelerated in the regex crate) rules out most files before any
/// rule runs. Case matters as in the rules; the one case-blind rule (AWS secret
/// access key) is keyed on its usual spellings `secret`, `Secret`, `SECRET`.
const KEYWORDS: &[&str] = &[
    "PRIVATE KEY",
    "A3T",
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "secret",
    "Secret",
    "SECRET",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "AIza",
    "sk_live_",
    "npm_",
    "pypi-AgEIcHlwaS5vcmc",
];

/// [`keyword_filter`] over raw bytes: files without a keyword are never decoded.
fn keyword_filter_bytes() -> &'static regex::bytes::Regex {
    static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let alt: Vec<String> = KEYWORDS.iter().map(|k| regex::escape(k)).collect();
        regex::bytes::Regex::new(&alt.join("|")).expect("keyword filter compiles")
    })
}

fn keyword_filter() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let alt: Vec<String> = KEYWORDS.iter().map(|k| regex::escape(k)).collect();
        Regex::new(&alt.join("|")).expect("keyword filter compiles")
    })
}

/// One rule match in a text.
struct Hit {
    rule: &'static Rule,
    start: usize,
    end: usize,
}

/// An example or a placeholder rather than a credential.
fn is_dummy(m: &str) -> bool {
    if m.to_ascii_uppercase().contains("EXAMPLE") {
        return true;
    }
    let mut seen = [false; 256];
    let mut distinct = 0;
    for b in m.bytes() {
        if !seen[usize::from(b)] {
            seen[usize::from(b)] = true;
            distinct += 1;
        }
    }
    distinct < 8
}

/// Every rule match in `text`, at most one per span (the first rule wins), in text
/// order.
fn hits(text: &str) -> Vec<Hit> {
    let mut out: Vec<Hit> = Vec::new();
    if !keyword_filter().is_match(text) {
        return out;
    }
    let candidates = rule_set().matches(text);
    if !candidates.matched_any() {
        return out;
    }
    for (i, (rule, re)) in RULES.iter().zip(compiled()).enumerate() {
        if !candidates.matched(i) {
            continue;
        }
        for caps in re.captures_iter(text) {
            let Some(m) = caps.get(rule.group) else {
                continue;
            };
            let s = m.as_str();
            if let Some(cont) = rule.continues {
                if text.as_bytes().get(m.end()).is_some_and(|&b| cont(b)) {
                    continue;
                }
            }
            if s.bytes().filter(u8::is_ascii_digit).count() < rule.min_digits {
                continue;
            }
            if is_dummy(s) {
                continue;
            }
            if out.iter().any(|h| h.start < m.end() && m.start() < h.end) {
                continue;
            }
            out.push(Hit {
                rule,
                start: m.start(),
                end: m.end(),
            });
        }
    }
    out.sort_by_key(|h| h.start);
    out
}

/// `s` with all but its first 4 and last 2 characters replaced by `*`; a value
/// shorter than 12 characters is masked entirely (4 + 2 of 8 would give it away).
pub fn redact(s: &str) -> String {
    let n = s.chars().count();
    if n < 12 {
        return "*".repeat(n);
    }
    s.chars()
        .enumerate()
        .map(|(i, c)| if i < 4 || i >= n - 2 { c } else { '*' })
        .collect()
}

/// The `-----BEGIN ... PRIVATE KEY-----` line of a PEM match.
fn pem_begin(m: &str) -> String {
    match m.get(5..).and_then(|rest| rest.find("-----")) {
        Some(i) => m[..i + 10].to_string(),
        None => m.lines().next().unwrap_or("").to_string(),
    }
}

fn redact_hit(rule: &Rule, matched: &str) -> String {
    if rule.pem {
        pem_begin(matched)
    } else {
        redact(matched)
    }
}

/// Redact what a [`find_in_text`] rule matched: [`redact`], or for private keys
/// just their `BEGIN` line. An unknown rule id is [`redact`]ed.
pub fn redact_match(rule: &str, matched: &str) -> String {
    match RULES.iter().find(|r| r.id == rule) {
        Some(r) => redact_hit(r, matched),
        None => redact(matched),
    }
}

/// The secrets in `text`: `(rule id, title, severity, matched text)` for each match
/// of the same rules [`scan_tree`] uses, in text order. The matched text is the
/// secret itself: never print it, [`redact_match`] it.
pub fn find_in_text(text: &str) -> Vec<(&'static str, &'static str, &'static str, String)> {
    hits(text)
        .into_iter()
        .map(|h| {
            (
                h.rule.id,
                h.rule.title,
                h.rule.severity,
                text[h.start..h.end].to_string(),
            )
        })
        .collect()
}

/// An entry met by [`walk`].
pub(crate) struct Entry<'a> {
    /// In-tree absolute path (`/etc/passwd`), lossily UTF-8.
    pub(crate) path_in: &'a str,
    /// Path relative to the root, exact bytes (`etc/passwd`).
    pub(crate) rel: &'a Path,
    /// The directory entry (its `metadata()` is lstat's).
    pub(crate) entry: &'a std::fs::DirEntry,
    /// lstat's file type.
    pub(crate) file_type: std::fs::FileType,
}

/// Walk the tree at `root` like the catalog walker: never through a symlink,
/// skipping top-level `proc`, `sys` and `dev`, no deeper than `MAX_DEPTH`.
/// `visit` sees every entry (directories before their contents); a directory is
/// entered only if `descend(path_in)` says so. Unreadable directories and the
/// nesting cap are warnings.
pub(crate) fn walk(
    root: &Path,
    descend: &dyn Fn(&str) -> bool,
    warnings: &mut Vec<Warning>,
    visit: &mut dyn FnMut(&Entry<'_>),
) {
    let mut stack: Vec<(PathBuf, PathBuf, String, usize)> =
        vec![(root.to_path_buf(), PathBuf::new(), String::new(), 0)];
    while let Some((dir, rel, path_in, depth)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                warnings.push(Warning {
                    file: if path_in.is_empty() {
                        "/".into()
                    } else {
                        path_in.clone()
                    },
                    message: format!("cannot read directory: {e}"),
                });
                continue;
            }
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        // popped from a stack: reversed so that the walk goes in name order
        entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
        for e in entries {
            let name = e.file_name();
            let child_in = format!("{path_in}/{}", name.to_string_lossy());
            let child_rel = rel.join(&name);
            // no symlink is followed: file_type() is lstat's
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && depth == 0 && matches!(name.to_str(), Some("proc" | "sys" | "dev")) {
                continue;
            }
            visit(&Entry {
                path_in: &child_in,
                rel: &child_rel,
                entry: &e,
                file_type: ft,
            });
            if !ft.is_dir() || !descend(&child_in) {
                continue;
            }
            if depth + 1 >= MAX_DEPTH {
                warnings.push(Warning {
                    file: child_in,
                    message: format!("directory nesting deeper than {MAX_DEPTH}: not walked"),
                });
                continue;
            }
            stack.push((e.path(), child_rel, child_in, depth + 1));
        }
    }
}

/// Read a regular text file found by the walker: `None` if it is bigger than
/// [`MAX_FILE`] or binary (skipped silently; a binary file is not read past its
/// first [`BINARY_SNIFF`] bytes), an error message if it cannot be read or was
/// swapped for something else since it was listed.
fn read_listed_text_file(e: &std::fs::DirEntry) -> Result<Option<Vec<u8>>, String> {
    let listed = e.metadata().map_err(|err| err.to_string())?;
    if listed.len() > MAX_FILE {
        return Ok(None);
    }
    let f = std::fs::File::open(e.path()).map_err(|err| err.to_string())?;
    let opened = f.metadata().map_err(|err| err.to_string())?;
    // the path was lstat'ed as a regular file: if what was opened is another inode,
    // the tree changed under us (possibly into a symlink out of it)
    if !opened.is_file() || opened.dev() != listed.dev() || opened.ino() != listed.ino() {
        return Err("file changed while being scanned".into());
    }
    let mut f = f.take(MAX_FILE + 1);
    let mut data = Vec::with_capacity(usize::try_from(listed.len()).unwrap_or(0) + 1);
    (&mut f)
        .take(BINARY_SNIFF as u64)
        .read_to_end(&mut data)
        .map_err(|err| err.to_string())?;
    if data.contains(&0) {
        return Ok(None);
    }
    f.read_to_end(&mut data).map_err(|err| err.to_string())?;
    if data.len() as u64 > MAX_FILE {
        return Ok(None);
    }
    Ok(Some(data))
}

fn skipped_dir(path_in: &str) -> bool {
    SKIPPED_DIRS.contains(&path_in)
}

/// A finding with what [`scan_layers`] needs to follow the file up the layers.
struct TreeHit {
    finding: SecretFinding,
    rel: PathBuf,
    matched: String,
}

fn scan_tree_hits(root: &Path) -> (Vec<TreeHit>, Vec<Warning>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut file_warnings = Vec::new();
    walk(root, &|p| !skipped_dir(p), &mut warnings, &mut |e| {
        if !e.file_type.is_file() {
            return;
        }
        let data = match read_listed_text_file(e.entry) {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(message) => {
                file_warnings.push(Warning {
                    file: e.path_in.to_string(),
                    message: format!("secret scan: {message}"),
                });
                return;
            }
        };
        if !keyword_filter_bytes().is_match(&data) {
            return;
        }
        let text = String::from_utf8_lossy(&data);
        let mut line = 1;
        let mut counted = 0;
        for h in hits(&text) {
            line += text.as_bytes()[counted..h.start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            counted = h.start;
            let matched = text[h.start..h.end].to_string();
            out.push(TreeHit {
                finding: SecretFinding {
                    rule: h.rule.id.to_string(),
                    title: h.rule.title.to_string(),
                    severity: h.rule.severity.to_string(),
                    file: e.path_in.to_string(),
                    line,
                    layer: None,
                    deleted_in: None,
                    redacted: redact_hit(h.rule, &matched),
                },
                rel: e.rel.to_path_buf(),
                matched,
            });
        }
    });
    warnings.extend(file_warnings);
    out.sort_by(|a, b| {
        (&a.finding.file, a.finding.line, &a.finding.rule).cmp(&(
            &b.finding.file,
            b.finding.line,
            &b.finding.rule,
        ))
    });
    (out, warnings)
}

/// Scan the tree at `root` (an unpacked root filesystem or a directory) for
/// secrets. Never follows a symlink; skips top-level `proc`, `sys` and `dev`, the
/// [`SKIPPED_DIRS`], files bigger than [`MAX_FILE`] and binary files (a NUL byte in
/// the first [`BINARY_SNIFF`] bytes). Findings are sorted by file and line; files
/// and directories that cannot be read are warnings.
pub fn scan_tree(root: &Path) -> (Vec<SecretFinding>, Vec<Warning>) {
    let (hits, warnings) = scan_tree_hits(root);
    (hits.into_iter().map(|h| h.finding).collect(), warnings)
}

/// Does the regular file at `path` still contain `matched`? A file too big to read
/// counts as replaced.
fn still_contains(path: &Path, matched: &str) -> bool {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if m.len() > MAX_FILE {
        return false;
    }
    match std::fs::read(path) {
        Ok(data) => String::from_utf8_lossy(&data).contains(matched),
        Err(_) => false,
    }
}

fn exists_no_follow(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Does the layer at `layer` delete or replace the file at `rel` of a lower layer,
/// so that `matched` is no longer at that path?
///
/// Overlayfs format: a character device 0/0 is a whiteout; a non-directory where a
/// lower layer has a directory hides that directory; a different file, link or
/// directory at the path replaces the file. As a fallback for layers unpacked
/// verbatim from OCI tars, `.wh.<name>` whiteout files and `.wh..wh..opq` opaque
/// markers are honoured too. Opaque directories marked with the
/// `trusted.overlay.opaque` xattr are not detected (reading xattrs needs a syscall
/// this crate does not make).
fn removes(layer: &Path, rel: &Path, matched: &str) -> bool {
    let names: Vec<&std::ffi::OsStr> = rel.iter().collect();
    let mut dir = layer.to_path_buf();
    // lower contents hidden by a whiteout or opaque marker of this layer, unless this
    // layer puts the secret back at the same path
    let mut hidden = false;
    for (k, name) in names.iter().enumerate() {
        let last = k + 1 == names.len();
        if k > 0 && exists_no_follow(&dir.join(".wh..wh..opq")) {
            hidden = true;
        }
        let mut wh = OsString::from(".wh.");
        wh.push(name);
        if exists_no_follow(&dir.join(wh)) {
            hidden = true;
        }
        let p = dir.join(name);
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            // not in this layer: the lower file shows through unless hidden
            return hidden;
        };
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            return true;
        }
        if !last {
            if !ft.is_dir() {
                return true;
            }
            dir = p;
            continue;
        }
        if ft.is_file() {
            return !still_contains(&p, matched);
        }
        return true;
    }
    hidden
}

/// Scan an image's layers, bottom → top: `(digest, unpacked layer directory)`, each
/// in the overlayfs on-disk format (a deletion is a 0/0 character device). Every
/// finding carries its layer's digest; `deleted_in` is set to the first later layer
/// that deletes the file (a whiteout at its path or at one of its directories) or
/// replaces it with something that no longer contains the secret. Findings come in
/// layer order, then by file and line; warnings name their layer.
///
/// Not detected: directories made opaque with the `trusted.overlay.opaque` xattr
/// (only the `.wh..wh..opq` marker file of OCI tars is honoured).
pub fn scan_layers(layers: &[(String, PathBuf)]) -> (Vec<SecretFinding>, Vec<Warning>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, (digest, dir)) in layers.iter().enumerate() {
        let (hits, w) = scan_tree_hits(dir);
        warnings.extend(w.into_iter().map(|mut w| {
            w.message = format!("layer {digest}: {}", w.message);
            w
        }));
        for h in hits {
            let mut f = h.finding;
            f.layer = Some(digest.clone());
            f.deleted_in = layers[i + 1..]
                .iter()
                .find(|(_, upper)| removes(upper, &h.rel, &h.matched))
                .map(|(d, _)| d.clone());
            out.push(f);
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random characters from `alphabet` (xorshift).
    fn rand_chars(seed: u64, n: usize, alphabet: &[u8]) -> String {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(alphabet[(x % alphabet.len() as u64) as usize])
            })
            .collect()
    }

    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    /// A fake PEM private key (random base64 body, 64-column lines).
    fn fake_pem(seed: u64, kind: &str) -> String {
        let body = rand_chars(seed, 64 * 12, B64);
        let lines: Vec<&str> = (0..12).map(|i| &body[i * 64..(i + 1) * 64]).collect();
        format!(
            "-----BEGIN {kind}PRIVATE KEY-----\n{}\n-----END {kind}PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    // Tokens are assembled at run time so that this source file does not itself
    // look like it leaks credentials.
    fn aws_key_id(seed: u64) -> String {
        format!("{}{}", "AK".to_string() + "IA", rand_chars(seed, 16, B32))
    }
    fn aws_secret(seed: u64) -> String {
        rand_chars(
            seed,
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+",
        )
    }
    fn gh_token(seed: u64) -> String {
        format!("gh{}_{}", "p", rand_chars(seed, 36, ALNUM))
    }

    fn write(root: &Path, rel: &str, data: impl AsRef<[u8]>) {
        let p = root.join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn mknod_whiteout(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let out = std::process::Command::new("mknod")
            .arg(p)
            .args(["c", "0", "0"])
            .output()
            .expect("run mknod (these tests need root and mknod)");
        assert!(
            out.status.success(),
            "mknod {} c 0 0 failed (tests need root / CAP_MKNOD): {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn rules_of(text: &str) -> Vec<&'static str> {
        find_in_text(text).into_iter().map(|(r, ..)| r).collect()
    }

    #[test]
    fn each_rule_matches_its_token() {
        let cases = [
            (fake_pem(1, "RSA "), "private-key"),
            (fake_pem(2, "OPENSSH "), "private-key"),
            (fake_pem(3, ""), "private-key"),
            (format!("id = {}\n", aws_key_id(4)), "aws-access-key-id"),
            (
                format!("aws_secret_access_key = {}\n", aws_secret(5)),
                "aws-secret-access-key",
            ),
            (
                format!("\"SecretAccessKey\": \"{}\",\n", aws_secret(6)),
                "aws-secret-access-key",
            ),
            (gh_token(7), "github-pat"),
            (
                format!("gh{}_{}", "o", rand_chars(8, 36, ALNUM)),
                "github-oauth",
            ),
            (
                format!("gh{}_{}", "s", rand_chars(9, 36, ALNUM)),
                "github-app-token",
            ),
            (
                format!("github_{}_{}", "pat", rand_chars(10, 82, ALNUM)),
                "github-fine-grained-pat",
            ),
            (format!("glpat-{}", rand_chars(11, 20, ALNUM)), "gitlab-pat"),
            (
                format!("xox{}-1234567890-{}", "b", rand_chars(12, 24, ALNUM)),
                "slack-token",
            ),
            (
                format!("key=AI{}{}", "za", rand_chars(13, 35, ALNUM)),
                "google-api-key",
            ),
            (
                format!("sk_{}_{}", "live", rand_chars(14, 24, ALNUM)),
                "stripe-secret-key",
            ),
            (
                format!(
                    "//registry.npmjs.org/:_authToken=npm_{}",
                    rand_chars(15, 36, ALNUM)
                ),
                "npm-access-token",
            ),
            (
                format!(
                    "password = pypi-AgEIcHlwaS5vcmc{}",
                    rand_chars(16, 60, ALNUM)
                ),
                "pypi-upload-token",
            ),
        ];
        for (text, rule) in cases {
            assert_eq!(rules_of(&text), vec![rule], "{text}");
        }
    }

    #[test]
    fn near_misses_do_not_match() {
        let long_gh = format!("{}X", gh_token(20));
        let short_gh = &gh_token(21)[..39];
        let cases = [
            // a lone BEGIN line (a constant in a TLS library), no body
            "pem = \"-----BEGIN RSA PRIVATE KEY-----\"".to_string(),
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----".into(),
            long_gh,
            short_gh.to_string(),
            // docs examples and placeholders
            "AKIAIOSFODNN7EXAMPLE".into(),
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            "AKIAXXXXXXXXXXXXXXXX".into(),
            format!("gh{}_{}", "p", "x".repeat(36)),
            // 40 chars not named as an AWS secret
            format!("checksum = {}", aws_secret(22)),
            // 41 chars named as one
            format!("aws_secret_access_key = {}A", aws_secret(23)),
            "xoxb-your-token-here-please".into(),
            format!("glpat-{}-more", rand_chars(24, 20, ALNUM)),
            format!("MYAKIA{}", rand_chars(25, 16, B32)),
        ];
        for text in cases {
            assert!(rules_of(&text).is_empty(), "{text}: {:?}", rules_of(&text));
        }
    }

    #[test]
    fn gcp_service_account_is_one_finding() {
        let body = rand_chars(30, 64 * 10, B64);
        let json = format!(
            "{{\n  \"type\": \"service_account\",\n  \"private_key_id\": \"abc\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n\",\n  \"client_email\": \"x@y.iam.gserviceaccount.com\"\n}}\n",
            body
        );
        let f = find_in_text(&json);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].0, "gcp-service-account");
        assert_eq!(redact_match(f[0].0, &f[0].3), "-----BEGIN PRIVATE KEY-----");
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("ghp_abcdefghijKL"), "ghp_**********KL");
        assert_eq!(redact("hunter2"), "*******");
        assert_eq!(redact(""), "");
        assert_eq!(redact("äöüßabcdefghé"), "äöüß*******hé");
        assert_eq!(
            redact_match("private-key", &fake_pem(40, "EC ")),
            "-----BEGIN EC PRIVATE KEY-----"
        );
        let id = aws_key_id(41);
        let r = redact_match("aws-access-key-id", &id);
        assert_eq!(&r[..4], "AKIA");
        assert_eq!(&r[18..], &id[18..]);
        assert_eq!(&r[4..18], "*".repeat(14));
    }

    #[test]
    fn scans_a_tree() {
        let host = tempfile::tempdir().unwrap();
        let host_secret = host.path().join("host-token");
        std::fs::write(&host_secret, gh_token(50)).unwrap();

        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "/root/.ssh/id_rsa", fake_pem(51, "RSA "));
        let (kid, ksec) = (aws_key_id(52), aws_secret(53));
        write(
            r,
            "/root/.aws/credentials",
            format!("[default]\naws_access_key_id = {kid}\naws_secret_access_key = {ksec}\n"),
        );
        let tok = gh_token(54);
        write(r, "/app/.env", format!("DEBUG=1\n\nGITHUB_TOKEN={tok}\n"));
        // binary: skipped
        let mut bin = b"\x7fELF\0\0\0".to_vec();
        bin.extend_from_slice(gh_token(55).as_bytes());
        write(r, "/usr/bin/tool", bin);
        // examples: skipped
        write(
            r,
            "/app/README.md",
            "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
        );
        // documentation: skipped
        write(r, "/usr/share/doc/x/token.txt", gh_token(56));
        // top-level proc: skipped
        write(r, "/proc/1/environ", gh_token(57));
        // bigger than the cap: skipped silently
        let mut big = vec![b'a'; (MAX_FILE as usize) + 10];
        big[..40].copy_from_slice(gh_token(58).as_bytes());
        write(r, "/data/big.txt", big);
        // invalid UTF-8 around a token: found, no panic
        let mut odd = b"\xff\xfe junk \xc3\x28 ".to_vec();
        let tok2 = gh_token(59);
        odd.extend_from_slice(tok2.as_bytes());
        odd.extend_from_slice(b" \xe2\x82\n");
        write(r, "/srv/odd.cfg", odd);
        // symlinks out of the tree: not followed
        std::os::unix::fs::symlink(&host_secret, r.join("app/link")).unwrap();
        std::os::unix::fs::symlink(host.path(), r.join("hostdir")).unwrap();

        let (f, w) = scan_tree(r);
        assert!(w.is_empty(), "{w:?}");
        let got: Vec<(&str, &str, usize)> = f
            .iter()
            .map(|f| (f.file.as_str(), f.rule.as_str(), f.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/app/.env", "github-pat", 3),
                ("/root/.aws/credentials", "aws-access-key-id", 2),
                ("/root/.aws/credentials", "aws-secret-access-key", 3),
                ("/root/.ssh/id_rsa", "private-key", 1),
                ("/srv/odd.cfg", "github-pat", 1),
            ]
        );
        let env = &f[0];
        assert_eq!(env.severity, "CRITICAL");
        assert_eq!(env.redacted, redact(&tok));
        assert!(!env.redacted.contains(&tok[4..38]));
        assert_eq!(env.layer, None);
        assert_eq!(env.deleted_in, None);
        assert_eq!(f[2].redacted, redact(&ksec));
        assert_eq!(f[3].redacted, "-----BEGIN RSA PRIVATE KEY-----");
        assert_eq!(f[3].severity, "HIGH");
        // serializable
        let j = serde_json::to_value(&f[3]).unwrap();
        assert_eq!(j["file"], "/root/.ssh/id_rsa");
    }

    #[test]
    fn layer_whiteout_marks_deleted() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, l3) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("l3"),
        );
        write(&l1, "/root/.ssh/id_rsa", fake_pem(60, "RSA "));
        write(&l1, "/etc/motd", "hello\n");
        std::fs::create_dir_all(l2.join("etc")).unwrap();
        mknod_whiteout(&l2.join("root/.ssh/id_rsa"));
        write(&l3, "/etc/motd", "bye\n");
        let layers = vec![
            ("sha256:one".to_string(), l1),
            ("sha256:two".to_string(), l2),
            ("sha256:three".to_string(), l3),
        ];
        let (f, w) = scan_layers(&layers);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].file, "/root/.ssh/id_rsa");
        assert_eq!(f[0].rule, "private-key");
        assert_eq!(f[0].layer.as_deref(), Some("sha256:one"));
        assert_eq!(f[0].deleted_in.as_deref(), Some("sha256:two"));
    }

    #[test]
    fn layer_whiteout_of_a_directory_marks_deleted() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, l3) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("l3"),
        );
        write(
            &l1,
            "/root/.aws/credentials",
            format!("k = {}\n", aws_key_id(61)),
        );
        write(&l2, "/root/.profile", "# nothing\n");
        mknod_whiteout(&l3.join("root/.aws"));
        let layers = vec![
            ("sha256:a".to_string(), l1),
            ("sha256:b".to_string(), l2),
            ("sha256:c".to_string(), l3),
        ];
        let (f, _) = scan_layers(&layers);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].deleted_in.as_deref(), Some("sha256:c"));
    }

    #[test]
    fn replaced_and_kept_files() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, l3) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("l3"),
        );
        let tok = gh_token(70);
        let other = gh_token(71);
        // replaced in layer 3 by a file without the token
        write(&l1, "/app/.env", format!("TOKEN={tok}\n"));
        write(&l3, "/app/.env", "TOKEN=\n");
        // rewritten in layer 2 but the token is still there (chmod copy-up):
        // reported in both layers, deleted in neither
        write(&l1, "/app/keep.env", format!("X={other}\n"));
        write(&l2, "/app/keep.env", format!("# touched\nX={other}\n"));
        // a later layer replaces the directory with a symlink
        let kid = aws_key_id(72);
        write(&l1, "/opt/creds/aws", format!("{kid}\n"));
        std::fs::create_dir_all(&l2).unwrap();
        std::fs::create_dir_all(l3.join("opt")).unwrap();
        std::os::unix::fs::symlink("/dev/null", l3.join("opt/creds")).unwrap();
        let layers = vec![
            ("sha256:1".to_string(), l1),
            ("sha256:2".to_string(), l2),
            ("sha256:3".to_string(), l3),
        ];
        let (f, w) = scan_layers(&layers);
        assert!(w.is_empty(), "{w:?}");
        let got: Vec<(&str, &str, Option<&str>)> = f
            .iter()
            .map(|f| {
                (
                    f.layer.as_deref().unwrap(),
                    f.file.as_str(),
                    f.deleted_in.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("sha256:1", "/app/.env", Some("sha256:3")),
                ("sha256:1", "/app/keep.env", None),
                ("sha256:1", "/opt/creds/aws", Some("sha256:3")),
                ("sha256:2", "/app/keep.env", None),
            ]
        );
        assert_eq!(f[3].line, 2);
    }

    #[test]
    fn oci_tar_whiteout_files_are_honoured() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, l3) = (
            t.path().join("l1"),
            t.path().join("l2"),
            t.path().join("l3"),
        );
        write(&l1, "/a/secret.txt", gh_token(80));
        write(&l1, "/b/c/secret.txt", gh_token(81));
        write(&l2, "/a/.wh.secret.txt", "");
        write(&l3, "/b/.wh..wh..opq", "");
        let layers = vec![
            ("sha256:x".to_string(), l1),
            ("sha256:y".to_string(), l2),
            ("sha256:z".to_string(), l3),
        ];
        let (f, _) = scan_layers(&layers);
        let got: Vec<(&str, Option<&str>)> = f
            .iter()
            .map(|f| (f.file.as_str(), f.deleted_in.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/a/secret.txt", Some("sha256:y")),
                ("/b/c/secret.txt", Some("sha256:z")),
            ]
        );
    }
}
