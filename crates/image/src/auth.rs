//! Registry credentials from the usual auth files, in order:
//! `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json` (podman, skopeo),
//! `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` (Docker).
//!
//! Each file is `{"auths": {"<host>": {"auth": base64("user:pass")}}}` (or
//! `"username"`/`"password"` fields). Keys may carry a scheme and a path
//! (`https://index.docker.io/v1/`); Docker Hub is found under any of its names.
//! The first file with an entry for the host wins; a missing file is skipped, a
//! malformed one is an error naming the file. Credential helpers (`credsStore`,
//! `credHelpers`) are not consulted.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;

use crate::{io_err, ImageError, Result};

/// The auth files consulted, in order (whether or not they exist).
pub fn auth_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        v.push(PathBuf::from(f));
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        v.push(Path::new(&d).join("containers/auth.json"));
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        v.push(Path::new(&d).join("config.json"));
    } else if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        v.push(Path::new(&h).join(".docker/config.json"));
    }
    v
}

/// Credentials for `registry` (host with optional port, as in an image reference)
/// from [`auth_files`]; anonymous when no file has an entry for it.
pub fn credentials_for(registry: &str) -> Result<RegistryAuth> {
    credentials_from_files(&auth_files(), registry)
}

/// Credentials for `registry` from the first of `files` that has an entry for it.
pub fn credentials_from_files(files: &[PathBuf], registry: &str) -> Result<RegistryAuth> {
    for f in files {
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("read auth file", f)(e)),
        };
        if let Some(a) = parse_auth_file(f, &data, registry)? {
            return Ok(a);
        }
    }
    Ok(RegistryAuth::Anonymous)
}

/// The credentials for `registry` in one auth file's contents (`path` only names
/// the file in errors); `None` when the file has no usable entry for it.
pub fn parse_auth_file(path: &Path, data: &[u8], registry: &str) -> Result<Option<RegistryAuth>> {
    let bad = |m: String| ImageError::Invalid {
        what: format!("auth file {}", path.display()),
        message: m,
    };
    let v: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let top = v
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let Some(auths) = top.get("auths") else {
        return Ok(None);
    };
    let auths = auths
        .as_object()
        .ok_or_else(|| bad("\"auths\" is not an object".into()))?;
    let wanted = host_aliases(registry);
    // an exact key first, then keys with a scheme or legacy path
    let mut best: Option<(&String, &serde_json::Value)> = None;
    for (k, e) in auths {
        let Some(host) = key_host(k) else { continue };
        if wanted.iter().any(|w| w.eq_ignore_ascii_case(host)) {
            if k.eq_ignore_ascii_case(registry) {
                best = Some((k, e));
                break;
            }
            best.get_or_insert((k, e));
        }
    }
    let Some((key, entry)) = best else {
        return Ok(None);
    };
    let field = |f: &str| format!("auths.{key:?}.{f}");
    let entry = entry
        .as_object()
        .ok_or_else(|| bad(format!("auths.{key:?} is not an object")))?;
    let s = |f: &str| -> Result<Option<&str>> {
        match entry.get(f) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad(format!("{} is not a string", field(f)))),
        }
    };
    if let Some(a) = s("auth")? {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.trim())
            .map_err(|e| bad(format!("{} is not base64: {e}", field("auth"))))?;
        let text =
            String::from_utf8(raw).map_err(|_| bad(format!("{} is not UTF-8", field("auth"))))?;
        let (user, pass) = text.split_once(':').ok_or_else(|| {
            bad(format!(
                "{} does not decode to \"user:password\"",
                field("auth")
            ))
        })?;
        if user.is_empty() {
            return Err(bad(format!("{} has an empty user name", field("auth"))));
        }
        return Ok(Some(RegistryAuth::Basic(
            user.to_string(),
            pass.to_string(),
        )));
    }
    match (s("username")?, s("password")?) {
        (Some(u), Some(p)) => Ok(Some(RegistryAuth::Basic(u.to_string(), p.to_string()))),
        (Some(_), None) => Err(bad(format!(
            "{} is set but {} is not",
            field("username"),
            field("password")
        ))),
        (None, Some(_)) => Err(bad(format!(
            "{} is set but {} is not",
            field("password"),
            field("username")
        ))),
        // an empty entry (Docker's with a credsStore): nothing here
        (None, None) => Ok(None),
    }
}

/// The names a registry's entry may be filed under.
fn host_aliases(registry: &str) -> Vec<&str> {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            vec!["docker.io", "index.docker.io", "registry-1.docker.io"]
        }
        r => vec![r],
    }
}

/// The host of an `auths` key: scheme and a legacy `/v1/`, `/v2/` path removed;
/// repository-scoped keys (`quay.io/org`) are not host entries (`None`).
fn key_host(k: &str) -> Option<&str> {
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    match k.split_once('/') {
        None => Some(k),
        Some((h, path)) if matches!(path.trim_end_matches('/'), "" | "v1" | "v2") => Some(h),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn parse(data: &str, reg: &str) -> Result<Option<RegistryAuth>> {
        parse_auth_file(Path::new("/x/auth.json"), data.as_bytes(), reg)
    }

    #[test]
    fn basic_credentials_from_auth_json() {
        let f = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "127.0.0.1:5000": {{"auth": "{}"}},
                "http://127.0.0.1:5000": {{"auth": "{}"}},
                "quay.io/org": {{"auth": "{}"}},
                "quay.io": {{"username": "qu", "password": "qp"}},
                "ghcr.io": {{}}
            }}}}"#,
            b64("hub:secret:with:colons"),
            b64("reg:pw"),
            b64("other:pw"),
            b64("scoped:pw")
        );
        let basic = |u: &str, p: &str| Some(RegistryAuth::Basic(u.into(), p.into()));
        assert_eq!(
            parse(&f, "docker.io").unwrap(),
            basic("hub", "secret:with:colons")
        );
        assert_eq!(
            parse(&f, "index.docker.io").unwrap(),
            basic("hub", "secret:with:colons")
        );
        // the exact key wins over one with a scheme
        assert_eq!(parse(&f, "127.0.0.1:5000").unwrap(), basic("reg", "pw"));
        assert_eq!(parse(&f, "quay.io").unwrap(), basic("qu", "qp"));
        assert_eq!(parse(&f, "ghcr.io").unwrap(), None);
        assert_eq!(parse(&f, "127.0.0.1:5001").unwrap(), None);
        assert_eq!(
            parse(r#"{"credsStore": "desktop"}"#, "docker.io").unwrap(),
            None
        );
    }

    #[test]
    fn malformed_files_name_the_file() {
        for (bad, what) in [
            ("{", "not valid JSON"),
            ("[]", "not a JSON object"),
            (r#"{"auths": []}"#, "\"auths\" is not an object"),
            (r#"{"auths": {"r.io": 3}}"#, "not an object"),
            (r#"{"auths": {"r.io": {"auth": "%%%"}}}"#, "not base64"),
            (
                r#"{"auths": {"r.io": {"auth": "bm9jb2xvbg=="}}}"#,
                "user:password",
            ),
            (r#"{"auths": {"r.io": {"auth": 7}}}"#, "not a string"),
            (r#"{"auths": {"r.io": {"username": "u"}}}"#, "password"),
        ] {
            let e = parse(bad, "r.io").expect_err(bad).to_string();
            assert!(e.contains("/x/auth.json") && e.contains(what), "{bad}: {e}");
        }
    }

    #[test]
    fn files_in_order_missing_skipped() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a.json");
        let b = t.path().join("b.json");
        std::fs::write(&a, r#"{"auths": {"other.io": {"auth": "dTpw"}}}"#).unwrap();
        std::fs::write(
            &b,
            format!(r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#, b64("u:p")),
        )
        .unwrap();
        let files = vec![t.path().join("missing.json"), a.clone(), b.clone()];
        assert_eq!(
            credentials_from_files(&files, "r.io").unwrap(),
            RegistryAuth::Basic("u".into(), "p".into())
        );
        assert_eq!(
            credentials_from_files(&files, "none.io").unwrap(),
            RegistryAuth::Anonymous
        );
        std::fs::write(&a, "garbage").unwrap();
        let e = credentials_from_files(&files, "r.io")
            .unwrap_err()
            .to_string();
        assert!(e.contains(&a.display().to_string()), "{e}");
    }
}
