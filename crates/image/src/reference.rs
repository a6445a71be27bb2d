//! Image references, parsed and normalised as Docker does: `busybox` is
//! `docker.io/library/busybox:latest`; `localhost:5000/a/b:tag`,
//! `127.0.0.1:5000/x@sha256:…`, `[::1]:5000/x`, `name:tag@digest`.
//!
//! Grammar (distribution/reference):
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [ domain "/" ] path-component ( "/" path-component )*
//! domain    := host [ ":" port ]      host := dns-name | IPv4 | "[" IPv6 "]"
//! path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag       := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! ```
//! The first component is a registry only if it contains `.` or `:`, is `localhost`,
//! or is bracketed IPv6 (as Docker); `index.docker.io` is spelled `docker.io`, and
//! single-component Docker Hub names get `library/`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::{Digest, ImageError, Result};

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest repository name (as Docker).
const NAME_MAX: usize = 255;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host with optional port (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`).
    pub registry: String,
    /// Repository path (`library/busybox`, `a/b`).
    pub repository: String,
    /// Tag; `latest` when the reference had neither tag nor digest.
    pub tag: Option<String>,
    /// Digest the manifest must hash to (a pull by digest).
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parse and normalise `s`; the error names the reference and what is wrong.
    pub fn parse(s: &str) -> Result<ImageRef> {
        let bad = |why: &str| ImageError::Invalid {
            what: format!("image reference {s:?}"),
            message: why.to_string(),
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > 4096 {
            return Err(bad("longer than 4096 characters"));
        }
        if s.contains("://") {
            return Err(bad(
                "a reference has no URL scheme (write host[:port]/name[:tag])",
            ));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let digest: Digest = d.parse().map_err(|_| {
                    bad(&format!(
                        "invalid digest {d:?}: expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
                    ))
                })?;
                (r, Some(digest))
            }
            None => (s, None),
        };
        // the tag is after the last ':' that follows the last '/' (a ':' before a
        // '/' is a port)
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(c) if last_slash.is_none_or(|sl| c > sl) => (&rest[..c], Some(&rest[c + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad(&format!(
                    "invalid tag {t:?}: expected [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
                )));
            }
        }
        if name.is_empty() {
            return Err(bad("no repository name"));
        }
        if name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad(
                "a 64-character hex name looks like an image ID, not a repository",
            ));
        }
        let (mut registry, mut repository) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.starts_with('[')
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        validate_domain(&registry)
            .map_err(|m| bad(&format!("invalid registry {registry:?}: {m}")))?;
        if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            registry = DOCKER_HUB.to_string();
        }
        if registry == DOCKER_HUB && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        if repository.is_empty() {
            return Err(bad("no repository name after the registry"));
        }
        if repository.len() > NAME_MAX {
            return Err(bad(&format!(
                "repository name longer than {NAME_MAX} characters"
            )));
        }
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        for comp in repository.split('/') {
            if !valid_path_component(comp) {
                return Err(bad(&format!(
                    "invalid repository path component {comp:?}: expected lowercase letters and digits separated by '.', '_', '__' or '-'"
                )));
            }
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` (no tag or digest).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `registry/repository:tag` when there is a tag.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    /// `registry/repository@digest` for the given digest.
    pub fn digested_name(&self, d: &Digest) -> String {
        format!("{}@{d}", self.name())
    }

    /// The same repository pinned to `digest` (no tag).
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The registry's address as the HTTP client uses it (Docker Hub's API lives at
    /// `index.docker.io`).
    pub fn api_registry(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "index.docker.io"
        } else {
            &self.registry
        }
    }

    /// The oci-client form of this reference (the digest wins over the tag when
    /// the manifest is fetched).
    pub fn to_oci(&self) -> oci_client::Reference {
        let (r, repo) = (self.registry.clone(), self.repository.clone());
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => {
                oci_client::Reference::with_tag_and_digest(r, repo, t.clone(), d.to_string())
            }
            (None, Some(d)) => oci_client::Reference::with_digest(r, repo, d.to_string()),
            (Some(t), None) => oci_client::Reference::with_tag(r, repo, t.clone()),
            (None, None) => oci_client::Reference::with_tag(r, repo, DEFAULT_TAG.to_string()),
        }
    }
}

impl FromStr for ImageRef {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<ImageRef> {
        ImageRef::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Whether `registry` (host with optional port) is a loopback address: `localhost`,
/// `127.0.0.0/8`, `[::1]` — the registries Docker talks plain HTTP to by default.
pub fn is_loopback(registry: &str) -> bool {
    let host = split_host_port(registry).map_or(registry, |(h, _)| h);
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback());
    }
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(a) = host.parse::<Ipv4Addr>() {
        return a.is_loopback();
    }
    host.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback())
}

/// Split `host:port` (`[v6]:port`); `None` when there is no port.
pub(crate) fn split_host_port(registry: &str) -> Option<(&str, &str)> {
    if registry.starts_with('[') {
        let end = registry.find(']')?;
        let rest = &registry[end + 1..];
        return rest.strip_prefix(':').map(|p| (&registry[..=end], p));
    }
    let (h, p) = registry.rsplit_once(':')?;
    if h.contains(':') {
        return None; // bare IPv6 without brackets: no port
    }
    Some((h, p))
}

fn validate_domain(d: &str) -> std::result::Result<(), String> {
    if d.is_empty() {
        return Err("empty".into());
    }
    let (host, port) = if d.starts_with('[') {
        let end = d.find(']').ok_or("unterminated '['")?;
        let rest = &d[end + 1..];
        let port = match rest {
            "" => None,
            r => Some(r.strip_prefix(':').ok_or("garbage after ']'")?),
        };
        (&d[..=end], port)
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
            return Err(format!("invalid port {p:?}"));
        }
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("unterminated '['")?;
        inner
            .parse::<Ipv6Addr>()
            .map_err(|_| format!("invalid IPv6 address {inner:?}"))?;
        return Ok(());
    }
    if host.len() > 253 {
        return Err("host name too long".into());
    }
    for label in host.split('.') {
        let b = label.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-';
        if !ok {
            return Err(format!("invalid host name component {label:?}"));
        }
    }
    Ok(())
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_like_docker() {
        for (input, want) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("docker.io/busybox", "docker.io/library/busybox:latest"),
            (
                "index.docker.io/library/busybox:x",
                "docker.io/library/busybox:x",
            ),
            ("user/app:v1", "docker.io/user/app:v1"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
            ("quay.io/a/b/c", "quay.io/a/b/c:latest"),
            ("[::1]:5000/x:t", "[::1]:5000/x:t"),
            ("[::1]/x", "[::1]/x:latest"),
            (
                "my-reg.example.com:443/a_b/c__d/e--f.g",
                "my-reg.example.com:443/a_b/c__d/e--f.g:latest",
            ),
        ] {
            assert_eq!(p(input).to_string(), want, "{input}");
        }
        let r = p(&format!("127.0.0.1:5000/x@{D}"));
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "x");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().unwrap().to_string(), D);
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/x@{D}"));
        let r = p(&format!("busybox:1@{D}"));
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.to_string(), format!("docker.io/library/busybox:1@{D}"));
        let o = r.to_oci();
        assert_eq!(o.registry(), "docker.io");
        assert_eq!(o.resolve_registry(), "index.docker.io");
        assert_eq!(o.repository(), "library/busybox");
        assert_eq!(o.digest(), Some(D));
        assert_eq!(o.tag(), Some("1"));
        assert_eq!(r.api_registry(), "index.docker.io");
    }

    #[test]
    fn refusals_name_the_reference() {
        for bad in [
            "",
            "Busybox",
            "docker.io/Library/busybox",
            "busybox:",
            "busybox:-tag",
            "busybox@sha256:abc",
            "busybox@md5:d41d8cd98f00b204e9800998ecf8427e",
            "a//b",
            "a/",
            "localhost:5000/",
            "localhost:99999/a",
            "localhost:x/a",
            "[::1/x",
            "[zz]:5000/x",
            "a..b/c:1",
            "-a.com/x",
            "a/b_-c",
            "a/.b",
            "https://quay.io/a",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let e = ImageRef::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        let long = format!("a/{}", "b".repeat(300));
        assert!(ImageRef::parse(&long).is_err());
        let long_tag = format!("a:{}", "t".repeat(129));
        assert!(ImageRef::parse(&long_tag).is_err());
    }

    #[test]
    fn loopback_registries() {
        for yes in [
            "localhost",
            "localhost:5000",
            "LOCALHOST:1",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "docker.io",
            "10.255.255.1:5000",
            "128.0.0.1",
            "localhost.example.com:5000",
            "[::2]:5000",
            "127.0.0.1.nip.io:5000",
            "0.0.0.0:5000",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
