//! Debian/Ubuntu dpkg: `/var/lib/dpkg/status` and distroless images'
//! `/var/lib/dpkg/status.d/*` (one stanza file per package).
//!
//! Each installed package carries its source package (`Source: name (version)`,
//! the version defaulting to the binary's), because distro advisories are keyed by
//! source package.
use super::{purl, Cataloger, Input};
use crate::Package;

/// `/var/lib/dpkg/status`.
pub const CATALOGER: Cataloger = Cataloger {
    name: "dpkg",
    claims: |p| p == "/var/lib/dpkg/status",
    max_size: super::MAX_TEXT_FILE,
    parse,
};

/// `/var/lib/dpkg/status.d/<pkg>` (distroless).
pub const STATUS_D: Cataloger = Cataloger {
    name: "dpkg status.d",
    claims: |p| {
        p.strip_prefix("/var/lib/dpkg/status.d/")
            .is_some_and(|n| !n.contains('/') && !n.ends_with(".md5sums"))
    },
    max_size: super::MAX_TEXT_FILE,
    parse,
};

/// Parse a dpkg status text: every stanza whose `Status` says installed (stanzas
/// of status.d files have no Status and count as installed).
pub fn parse(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let text = std::str::from_utf8(i.data).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let distro = i.distro.unwrap_or("Debian");
    let distro_id = distro
        .split(':')
        .next()
        .unwrap_or("debian")
        .to_ascii_lowercase();
    let mut out = Vec::new();
    let mut bad = 0usize;
    for (n, stanza) in text.split("\n\n").enumerate() {
        if stanza.trim().is_empty() {
            continue;
        }
        let mut f: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with([' ', '\t']) {
                continue; // continuation of a multi-line field
            }
            if let Some((k, v)) = line.split_once(':') {
                f.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let get = |k: &str| {
            f.iter()
                .find(|(fk, _)| fk.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let (Some(name), Some(version)) = (get("Package"), get("Version")) else {
            bad += 1;
            if bad > 1000 || (out.is_empty() && bad > 3 && n < 10) {
                return Err(format!(
                    "stanza {} has no Package/Version: not a dpkg status file",
                    n + 1
                ));
            }
            continue;
        };
        if let Some(st) = get("Status") {
            // "install ok installed"; half-installed, config-files etc. are not
            if st.split_whitespace().last() != Some("installed") {
                continue;
            }
        }
        if name.is_empty() || version.is_empty() || name.contains(char::is_whitespace) {
            bad += 1;
            continue;
        }
        let (src, src_ver) = match get("Source") {
            Some(s) => match s.split_once(' ') {
                Some((n, v)) => (
                    n.to_string(),
                    v.trim()
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .to_string(),
                ),
                None => (s.to_string(), version.to_string()),
            },
            None => (name.to_string(), version.to_string()),
        };
        let arch = get("Architecture").unwrap_or("");
        let mut q: Vec<(&str, &str)> = Vec::new();
        if !arch.is_empty() {
            q.push(("arch", arch));
        }
        if src != name {
            q.push(("upstream", &src));
        }
        let distro_q = distro.replace(':', "-").to_ascii_lowercase();
        q.push(("distro", &distro_q));
        out.push(Package {
            ecosystem: distro.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            purl: purl("deb", Some(&distro_id), name, version, &q),
            source: Some((src, src_ver)),
            location: i.path.to_string(),
            layer: None,
        });
    }
    if out.is_empty() && bad > 0 {
        return Err(format!(
            "{bad} stanza(s) without Package/Version and no package read"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_sources_and_states() {
        let t = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u2\nDescription: x\n more\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nSource: bash (5.2.15-2)\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
        let i = Input {
            path: "/var/lib/dpkg/status",
            data: t.as_bytes(),
            distro: Some("Debian:12"),
        };
        let p = parse(&i).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0].source,
            Some(("openssl".into(), "3.0.11-1~deb12u2".into()))
        );
        assert_eq!(p[1].source, Some(("bash".into(), "5.2.15-2".into())));
        assert_eq!(p[0].ecosystem, "Debian:12");
        assert_eq!(
            p[0].purl,
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12"
        );
        let garbage = Input {
            path: "/var/lib/dpkg/status",
            data: b"\x00\x01garbage\n\nmore: x\n\nfoo\n\nbar\n\nbaz\n",
            distro: None,
        };
        assert!(parse(&garbage).is_err());
    }
}
