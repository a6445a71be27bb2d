//! Image misconfiguration checks: the image config (user, environment, exposed
//! ports, build history) and the root filesystem (setuid/setgid and world-writable
//! files).
//!
//! | id | check | severity |
//! |----|-------|----------|
//! | `CAISSON-IMG-001` | runs as root (no `USER`, or `USER` root / uid 0) | MEDIUM |
//! | `CAISSON-IMG-002` | secret in an environment variable | HIGH |
//! | `CAISSON-IMG-003` | SSH port (22) exposed | LOW |
//! | `CAISSON-IMG-004` | remote script piped to a shell, or `ADD <url>`, at build time | LOW |
//! | `CAISSON-IMG-005` | secret passed as a build argument (visible in the history) | HIGH |
//! | `CAISSON-IMG-006` | secret in a build step's command line | HIGH |
//! | `CAISSON-IMG-010` | setuid or setgid file | MEDIUM |
//! | `CAISSON-IMG-011` | world-writable file | MEDIUM |
//! | `CAISSON-IMG-012` | world-writable directory without the sticky bit | MEDIUM |
//!
//! No finding ever contains a secret's value: values are redacted with
//! [`secrets::redact`].

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::secrets;

/// One misconfiguration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Misconfig {
    /// Stable check id (`CAISSON-IMG-001`, ...; see the [module docs](self)).
    pub id: String,
    /// Human title.
    pub title: String,
    /// `HIGH`, `MEDIUM` or `LOW`.
    pub severity: String,
    /// What exactly: the variable, the history step, the mode and owner...
    pub detail: String,
    /// In-tree path of the file concerned, for filesystem checks.
    pub file: Option<String>,
}

fn finding(
    id: &str,
    title: &str,
    severity: &str,
    detail: String,
    file: Option<String>,
) -> Misconfig {
    Misconfig {
        id: id.into(),
        title: title.into(),
        severity: severity.into(),
        detail,
        file,
    }
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("builtin misconfig pattern compiles"))
}

/// Does this variable or argument name say it holds a secret? `DB_PASSWORD`,
/// `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `GOOGLE_APPLICATION_CREDENTIALS`...
/// but not `TOKENIZERS_PARALLELISM` (the keyword runs into another word) nor
/// `POSTGRES_PASSWORD_FILE` (names a file holding the secret).
fn secret_name(name: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let r = re(
        &RE,
        r"(?i)PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL",
    );
    let upper = name.to_ascii_uppercase();
    for suffix in ["_FILE", "_FILES", "_PATH", "_DIR", "_LOCATION"] {
        if upper.ends_with(suffix) {
            return false;
        }
    }
    r.find_iter(name).any(|m| {
        let rest = &name.as_bytes()[m.end()..];
        let rest = rest
            .strip_prefix(b"s")
            .or_else(|| rest.strip_prefix(b"S"))
            .unwrap_or(rest);
        !rest.first().is_some_and(u8::is_ascii_alphabetic)
    })
}

/// Values that cannot be a secret even under a secret-looking name: empty, a
/// boolean or small number (`MYSQL_ALLOW_EMPTY_PASSWORD=yes`, `TOKEN_TTL=3600`), a
/// path (`GOOGLE_APPLICATION_CREDENTIALS=/etc/gcp.json`), a variable reference, a
/// URL without credentials.
fn benign_value(v: &str) -> bool {
    let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
    if v.is_empty() {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "none"
            | "null"
            | "nil"
            | "disabled"
            | "enabled"
    ) {
        return true;
    }
    if v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    if (v.starts_with('/') || v.starts_with("./") || v.starts_with("~/"))
        && !v.contains(char::is_whitespace)
    {
        return true;
    }
    static VAR: OnceLock<Regex> = OnceLock::new();
    if re(
        &VAR,
        r"^\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$",
    )
    .is_match(v)
    {
        return true;
    }
    if let Some((_, rest)) = lower.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        return !authority.contains('@');
    }
    false
}

/// `text` safe to print: secret-rule matches redacted, `NAME=value` pairs with a
/// secret-looking name redacted, URL passwords redacted; at most 200 characters.
fn scrub(text: &str) -> String {
    let mut s = text.to_string();
    for (rule, _, _, m) in secrets::find_in_text(text) {
        s = s.replace(&m, &secrets::redact_match(rule, &m));
    }
    static PAIR: OnceLock<Regex> = OnceLock::new();
    let pair = re(
        &PAIR,
        r#"([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s"']+)"#,
    );
    s = pair
        .replace_all(&s, |c: &regex::Captures<'_>| {
            if secret_name(&c[1]) && !benign_value(&c[2]) {
                format!("{}={}", &c[1], secrets::redact(&c[2]))
            } else {
                c[0].to_string()
            }
        })
        .into_owned();
    static USERINFO: OnceLock<Regex> = OnceLock::new();
    let userinfo = re(&USERINFO, r"://([^/\s:@]+):([^/\s@]+)@");
    s = userinfo.replace_all(&s, "://$1:****@").into_owned();
    if s.chars().count() > 200 {
        s = s.chars().take(200).collect::<String>() + "…";
    }
    s
}

fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    name == "root" || name == "0"
}

/// Check an image config blob (OCI or Docker: `{"config": {"User", "Env",
/// "ExposedPorts", ...}, "history": [...]}`; a bare `config` object is accepted
/// too). Findings come in check order.
pub fn check_config(config: &Value) -> Vec<Misconfig> {
    let mut out = Vec::new();
    let c = config
        .get("config")
        .filter(|c| c.is_object())
        .unwrap_or(config);

    // 1. user
    let user = c.get("User").and_then(Value::as_str).unwrap_or("").trim();
    if user.is_empty() {
        out.push(finding(
            "CAISSON-IMG-001",
            "runs as root (no USER)",
            "MEDIUM",
            "the image config sets no User: processes run as uid 0".into(),
            None,
        ));
    } else if is_root_user(user) {
        out.push(finding(
            "CAISSON-IMG-001",
            "runs as root (USER root)",
            "MEDIUM",
            format!("User is {user:?}"),
            None,
        ));
    }

    // 2. secrets in the environment
    for e in c.get("Env").and_then(Value::as_array).into_iter().flatten() {
        let Some(e) = e.as_str() else { continue };
        let (name, value) = e.split_once('=').unwrap_or((e, ""));
        let by_rule = secrets::find_in_text(e);
        if let Some((rule, title, _, m)) = by_rule.first() {
            out.push(finding(
                "CAISSON-IMG-002",
                "secret in environment variable",
                "HIGH",
                format!("Env {name}: {title} ({})", secrets::redact_match(rule, m)),
                None,
            ));
        } else if secret_name(name) && !benign_value(value) {
            out.push(finding(
                "CAISSON-IMG-002",
                "secret in environment variable",
                "HIGH",
                format!(
                    "Env {name}={} (the name says it holds a secret)",
                    secrets::redact(value)
                ),
                None,
            ));
        }
    }

    // 3. ssh
    if let Some(ports) = c.get("ExposedPorts").and_then(Value::as_object) {
        for p in ports.keys() {
            let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            if port.trim() == "22" && proto.eq_ignore_ascii_case("tcp") {
                out.push(finding(
                    "CAISSON-IMG-003",
                    "SSH port exposed",
                    "LOW",
                    format!("ExposedPorts has {p}"),
                    None,
                ));
            }
        }
    }

    // 4-6. build history
    let history = config.get("history").and_then(Value::as_array);
    for (i, h) in history.into_iter().flatten().enumerate() {
        let Some(cmd) = h.get("created_by").and_then(Value::as_str) else {
            continue;
        };
        check_history_step(i + 1, cmd, &mut out);
    }
    out
}

/// `curl ... | sh`, `wget -O- ... | sudo bash`, `sh -c "$(curl ...)"`,
/// `bash <(curl ...)`.
fn pipes_remote_to_shell(cmd: &str) -> bool {
    static PIPE: OnceLock<Regex> = OnceLock::new();
    let pipe = re(
        &PIPE,
        r"(?i)(?-u:\b)(?:curl|wget)(?-u:\b)[^|;&\n]*\|[ \t]*(?:sudo[ \t]+(?:-\S+[ \t]+)*)?(?:\S*/)?(?:ba|da|z|k|a)?sh(?-u:\b)",
    );
    static SUBST: OnceLock<Regex> = OnceLock::new();
    let subst = re(
        &SUBST,
        r#"(?i)(?-u:\b)(?:ba|da|z|k|a)?sh[ \t]+(?:-c[ \t]+)?["']?(?:\$\(|<\()[ \t]*(?:curl|wget)(?-u:\b)"#,
    );
    pipe.is_match(cmd) || subst.is_match(cmd)
}

fn adds_url(cmd: &str) -> bool {
    static ADD: OnceLock<Regex> = OnceLock::new();
    re(&ADD, r"(?:^|\s)ADD\s+(?:--\S+\s+)*(?i:https?|ftp)://").is_match(cmd)
}

/// Build arguments recorded in a step: `|2 A=1 B=2 /bin/sh -c ...` (the classic
/// builder and BuildKit `RUN`) and `ARG A=1` (BuildKit).
fn build_args(cmd: &str) -> Vec<(String, String)> {
    static BAR: OnceLock<Regex> = OnceLock::new();
    static ARG: OnceLock<Regex> = OnceLock::new();
    let mut out = Vec::new();
    if let Some(c) = re(&BAR, r"(?:^|\s)\|([0-9]{1,3})\s+(.*)").captures(cmd) {
        let n: usize = c[1].parse().unwrap_or(0);
        for tok in c[2].split_whitespace().take(n) {
            if let Some((k, v)) = tok.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            }
        }
    }
    if let Some(c) = re(&ARG, r"^(?:/bin/sh -c #\(nop\)\s+)?ARG\s+(.*)").captures(cmd.trim()) {
        for tok in c[1].split_whitespace() {
            if tok.starts_with('#') {
                break;
            }
            if let Some((k, v)) = tok.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            }
        }
    }
    out
}

fn check_history_step(step: usize, cmd: &str, out: &mut Vec<Misconfig>) {
    if pipes_remote_to_shell(cmd) {
        out.push(finding(
            "CAISSON-IMG-004",
            "remote script piped to a shell at build time",
            "LOW",
            format!("history step {step}: {}", scrub(cmd)),
            None,
        ));
    } else if adds_url(cmd) {
        out.push(finding(
            "CAISSON-IMG-004",
            "remote file fetched with ADD at build time",
            "LOW",
            format!("history step {step}: {}", scrub(cmd)),
            None,
        ));
    }
    let mut named = Vec::new();
    for (k, v) in build_args(cmd) {
        if secret_name(&k) && !benign_value(&v) {
            out.push(finding(
                "CAISSON-IMG-005",
                "secret passed as a build argument (visible in the image history)",
                "HIGH",
                format!(
                    "history step {step}: build argument {k}={}",
                    secrets::redact(&v)
                ),
                None,
            ));
            named.push(v);
        }
    }
    for (rule, title, _, m) in secrets::find_in_text(cmd) {
        if named.iter().any(|v| v.contains(&m)) {
            continue;
        }
        out.push(finding(
            "CAISSON-IMG-006",
            "secret in a build step's command line (visible in the image history)",
            "HIGH",
            format!(
                "history step {step}: {title} ({})",
                secrets::redact_match(rule, &m)
            ),
            None,
        ));
    }
}

/// Paths not examined by [`check_tree`] (their contents; the directories themselves
/// are): scratch space whose permissions are meant to be loose.
pub const SCRATCH_DIRS: &[&str] = &["/tmp", "/var/tmp", "/run"];

/// Check the root filesystem at `root`: setuid/setgid regular files, world-writable
/// regular files and world-writable directories without the sticky bit. Walks like
/// the catalog walker (no symlink followed, top-level `proc`, `sys`, `dev` skipped,
/// nesting capped); the contents of [`SCRATCH_DIRS`] are not examined. Findings are
/// sorted by path. Directories that cannot be read are passed over silently.
pub fn check_tree(root: &Path) -> Vec<Misconfig> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    secrets::walk(
        root,
        &|p| !SCRATCH_DIRS.contains(&p),
        &mut warnings,
        &mut |e| {
            let is_file = e.file_type.is_file();
            let is_dir = e.file_type.is_dir();
            if !is_file && !is_dir {
                return;
            }
            let Ok(m) = e.entry.metadata() else { return };
            let mode = m.mode() & 0o7777;
            let path = e.path_in.to_string();
            let what = format!("mode {mode:04o}, owner uid {} gid {}", m.uid(), m.gid());
            if is_file && mode & 0o6000 != 0 {
                let kind = match (mode & 0o4000 != 0, mode & 0o2000 != 0) {
                    (true, true) => "setuid and setgid",
                    (true, false) => "setuid",
                    _ => "setgid",
                };
                out.push(finding(
                    "CAISSON-IMG-010",
                    "setuid or setgid file",
                    "MEDIUM",
                    format!("{path}: {kind}, {what}"),
                    Some(path.clone()),
                ));
            }
            if is_file && mode & 0o002 != 0 {
                out.push(finding(
                    "CAISSON-IMG-011",
                    "world-writable file",
                    "MEDIUM",
                    format!("{path}: {what}"),
                    Some(path.clone()),
                ));
            }
            if is_dir && mode & 0o002 != 0 && mode & 0o1000 == 0 {
                out.push(finding(
                    "CAISSON-IMG-012",
                    "world-writable directory without the sticky bit",
                    "MEDIUM",
                    format!("{path}: {what}"),
                    Some(path),
                ));
            }
        },
    );
    out.sort_by(|a, b| (&a.file, &a.id).cmp(&(&b.file, &b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn ids(v: &[Misconfig]) -> Vec<&str> {
        v.iter().map(|m| m.id.as_str()).collect()
    }

    fn token() -> String {
        format!("gh{}_{}", "p", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC2eF4hJ6")
    }

    #[test]
    fn user_checks() {
        let none = check_config(&json!({"config": {}}));
        assert_eq!(ids(&none), ["CAISSON-IMG-001"]);
        assert_eq!(none[0].title, "runs as root (no USER)");
        assert_eq!(
            check_config(&json!({"config": {"User": ""}}))[0].title,
            "runs as root (no USER)"
        );
        for u in ["root", "0", "0:0", "root:root", "0:1000"] {
            let f = check_config(&json!({"config": {"User": u}}));
            assert_eq!(ids(&f), ["CAISSON-IMG-001"], "{u}");
            assert_eq!(f[0].title, "runs as root (USER root)");
            assert_eq!(f[0].severity, "MEDIUM");
        }
        for u in ["app", "1000", "1000:1000", "nobody:root", "rooty"] {
            assert!(
                check_config(&json!({"config": {"User": u}})).is_empty(),
                "{u}"
            );
        }
        // a bare config object
        assert!(check_config(&json!({"User": "app"})).is_empty());
    }

    #[test]
    fn env_secrets() {
        let tok = token();
        let aws = "Zq3/ab+Kd9fLm2Np7Rs4Tv8Wx1Yz5Bc6Dg0Hj3Mk";
        let cfg = json!({"config": {"User": "app", "Env": [
            "PATH=/usr/local/bin:/usr/bin",
            "DB_PASSWORD=hunter2hunter2",
            "api_key=abcdefghijklmnop",
            format!("GH={tok}"),
            "MYSQL_ALLOW_EMPTY_PASSWORD=yes",
            "POSTGRES_PASSWORD_FILE=/run/secrets/pg",
            "GOOGLE_APPLICATION_CREDENTIALS=/etc/gcp/key.json",
            "TOKENIZERS_PARALLELISM=false",
            "TOKEN_TTL=3600",
            "SECRET=",
            "NOEQUALS",
            "AUTH_TOKEN_URL=https://auth.example.com/token",
            format!("AWS_SECRET_ACCESS_KEY={aws}"),
        ]}});
        let f = check_config(&cfg);
        assert_eq!(ids(&f), ["CAISSON-IMG-002"; 4], "{f:#?}");
        assert!(f.iter().all(|m| m.severity == "HIGH"));
        assert_eq!(
            f[0].detail,
            "Env DB_PASSWORD=hunt********r2 (the name says it holds a secret)"
        );
        assert!(f[1].detail.starts_with("Env api_key="));
        assert!(f[2]
            .detail
            .starts_with("Env GH: GitHub Personal Access Token (ghp_"));
        assert_eq!(
            f[3].detail,
            "Env AWS_SECRET_ACCESS_KEY: AWS Secret Access Key (Zq3/**********************************Mk)"
        );
        for m in &f {
            assert!(!m.detail.contains("hunter2hunter2"));
            assert!(!m.detail.contains("abcdefghijklmnop"));
            assert!(!m.detail.contains(&tok[4..38]));
        }
    }

    #[test]
    fn ssh_port() {
        let f = check_config(&json!({"config": {"User": "app",
            "ExposedPorts": {"22/tcp": {}, "80/tcp": {}, "2222/tcp": {}, "22/udp": {}}}}));
        assert_eq!(ids(&f), ["CAISSON-IMG-003"]);
        assert_eq!(f[0].severity, "LOW");
        assert_eq!(f[0].title, "SSH port exposed");
    }

    #[test]
    fn history_checks() {
        let tok = token();
        let cfg = json!({
            "config": {"User": "app"},
            "history": [
                {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
                {"created_by": "/bin/sh -c curl -fsSL https://get.example.com/install.sh | sh"},
                {"created_by": "RUN /bin/sh -c wget -qO- https://x.example/i | sudo -E bash -s -- -y # buildkit"},
                {"created_by": "RUN /bin/sh -c sh -c \"$(curl -fsSL https://x.example/i)\" # buildkit"},
                {"created_by": "ADD https://example.com/tool.tgz /opt/ # buildkit"},
                {"created_by": "|2 DB_PASSWORD=s3cr3tp4ssw0rd VERSION=1.2 /bin/sh -c make"},
                {"created_by": "RUN |1 NPM_TOKEN=abcdef0123456789 /bin/sh -c npm ci # buildkit"},
                {"created_by": "ARG GITHUB_TOKEN=xyzxyzxyz0123456789"},
                {"created_by": "/bin/sh -c #(nop)  ARG DB_PASSWORD"},
                {"created_by": format!("RUN /bin/sh -c git clone https://{tok}@github.com/o/r # buildkit")},
                {"created_by": "/bin/sh -c curl -fsSL https://x.example/data.tgz | tar xz"},
                {"created_by": "|1 HTTP_PROXY=http://proxy:3128 /bin/sh -c apt-get update"},
                {"empty_layer": true},
            ]
        });
        let f = check_config(&cfg);
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|m| (m.id.as_str(), m.detail.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("CAISSON-IMG-004", "history step 2"),
                ("CAISSON-IMG-004", "history step 3"),
                ("CAISSON-IMG-004", "history step 4"),
                ("CAISSON-IMG-004", "history step 5"),
                ("CAISSON-IMG-005", "history step 6"),
                ("CAISSON-IMG-005", "history step 7"),
                ("CAISSON-IMG-005", "history step 8"),
                ("CAISSON-IMG-006", "history step 10"),
            ],
            "{f:#?}"
        );
        assert_eq!(f[0].title, "remote script piped to a shell at build time");
        assert_eq!(f[0].severity, "LOW");
        assert_eq!(f[4].severity, "HIGH");
        assert_eq!(
            f[4].detail,
            "history step 6: build argument DB_PASSWORD=s3cr********rd"
        );
        for m in &f {
            for secret in [
                "s3cr3tp4ssw0rd",
                "abcdef0123456789",
                "xyzxyzxyz0123456789",
                &tok[4..38],
            ] {
                assert!(!m.detail.contains(secret), "{m:?}");
            }
        }
    }

    #[test]
    fn scrub_hides_secrets() {
        let s =
            scrub("|1 API_TOKEN=abcdefghijkl0123 /bin/sh -c curl https://u:pw@x.example/a | sh");
        assert_eq!(
            s,
            "|1 API_TOKEN=abcd**********23 /bin/sh -c curl https://u:****@x.example/a | sh"
        );
        assert_eq!(scrub(&"x".repeat(300)).chars().count(), 201);
    }

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn file(root: &Path, rel: &str, mode: u32) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"x").unwrap();
        chmod(&p, mode);
    }

    fn dir(root: &Path, rel: &str, mode: u32) {
        let p = root.join(rel);
        std::fs::create_dir_all(&p).unwrap();
        chmod(&p, mode);
    }

    #[test]
    fn tree_checks() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        file(r, "usr/bin/passwd", 0o4755);
        file(r, "usr/bin/wall", 0o2755);
        file(r, "usr/bin/both", 0o6755);
        file(r, "usr/bin/ls", 0o755);
        file(r, "etc/app.conf", 0o666);
        file(r, "etc/ok.conf", 0o644);
        dir(r, "srv/drop", 0o777);
        dir(r, "srv/shared", 0o1777);
        dir(r, "tmp", 0o1777);
        file(r, "tmp/junk", 0o666);
        dir(r, "var/tmp", 0o1777);
        file(r, "var/tmp/x", 0o4777);
        file(r, "run/lock/y", 0o666);
        file(r, "proc/1/z", 0o666);
        file(r, "dev/shm/z", 0o666);
        std::os::unix::fs::symlink("/etc/shadow", r.join("etc/link")).unwrap();
        let f = check_tree(r);
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|m| (m.file.as_deref().unwrap(), m.id.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/etc/app.conf", "CAISSON-IMG-011"),
                ("/srv/drop", "CAISSON-IMG-012"),
                ("/usr/bin/both", "CAISSON-IMG-010"),
                ("/usr/bin/passwd", "CAISSON-IMG-010"),
                ("/usr/bin/wall", "CAISSON-IMG-010"),
            ],
            "{f:#?}"
        );
        let uid = std::fs::metadata(r.join("usr/bin/passwd")).unwrap().uid();
        assert_eq!(
            f[3].detail,
            format!(
                "/usr/bin/passwd: setuid, mode 4755, owner uid {uid} gid {}",
                std::fs::metadata(r.join("usr/bin/passwd")).unwrap().gid()
            )
        );
        assert!(f[2].detail.contains("setuid and setgid, mode 6755"));
        assert!(f[4].detail.contains("setgid, mode 2755"));
        assert!(f.iter().all(|m| m.severity == "MEDIUM"));
    }
}
