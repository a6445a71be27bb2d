//! Alpine apk: `/lib/apk/db/installed`.
//!
//! The database is a text file of blank-line separated records, one `K:value`
//! line per field: `P:` package name, `V:` version, `A:` architecture, `o:` origin
//! (the source package, which Alpine advisories are keyed by).
use super::{purl, Cataloger, Input};
use crate::Package;

/// The apk cataloger.
pub const CATALOGER: Cataloger = Cataloger {
    name: "apk",
    claims: |p| p == "/lib/apk/db/installed",
    max_size: super::MAX_TEXT_FILE,
    parse,
};

/// One record's fields of interest.
#[derive(Default)]
struct Record {
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    origin: Option<String>,
    /// Lines that are not `K:value`.
    junk: usize,
    /// Lines at all.
    lines: usize,
}

/// Parse an apk installed database.
fn parse(i: &Input<'_>) -> Result<Vec<Package>, String> {
    if i.data.contains(&0) {
        return Err("contains NUL bytes: not an apk installed database".into());
    }
    let ecosystem = match i.distro {
        Some(d) if d.starts_with("Alpine") => d.to_string(),
        _ => "Alpine".to_string(),
    };
    // `Alpine:v3.20` -> `alpine-3.20`
    let distro_q = i.distro.filter(|d| d.starts_with("Alpine")).map(|d| {
        let rel = d.split_once(':').map(|(_, r)| r).unwrap_or("");
        let rel = rel.strip_prefix('v').unwrap_or(rel);
        if rel.is_empty() {
            "alpine".to_string()
        } else {
            format!("alpine-{rel}")
        }
    });

    let mut records: Vec<Record> = Vec::new();
    let mut cur = Record::default();
    for raw in i.data.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if cur.lines > 0 {
                records.push(std::mem::take(&mut cur));
            }
            continue;
        }
        cur.lines += 1;
        let b = line.as_bytes();
        if b.len() < 2 || b[1] != b':' {
            cur.junk += 1;
            continue;
        }
        let v = line[2..].trim().to_string();
        match b[0] {
            b'P' => cur.name = Some(v),
            b'V' => cur.version = Some(v),
            b'A' => cur.arch = Some(v),
            b'o' => cur.origin = Some(v),
            _ => {}
        }
    }
    if cur.lines > 0 {
        records.push(cur);
    }

    let mut out = Vec::new();
    let mut bad = 0usize;
    for (n, r) in records.into_iter().enumerate() {
        let (Some(name), Some(version)) = (r.name, r.version) else {
            bad += 1;
            if r.junk == r.lines && out.is_empty() {
                return Err(format!(
                    "record {} has no `K:value` line: not an apk installed database",
                    n + 1
                ));
            }
            continue;
        };
        if name.is_empty() || version.is_empty() || name.contains(char::is_whitespace) {
            bad += 1;
            continue;
        }
        let origin = r
            .origin
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| name.clone());
        let arch = r.arch.unwrap_or_default();
        let mut q: Vec<(&str, &str)> = Vec::new();
        if !arch.is_empty() {
            q.push(("arch", &arch));
        }
        if origin != name {
            q.push(("upstream", &origin));
        }
        if let Some(d) = &distro_q {
            q.push(("distro", d));
        }
        out.push(Package {
            ecosystem: ecosystem.clone(),
            purl: purl("apk", Some("alpine"), &name, &version, &q),
            source: Some((origin.clone(), version.clone())),
            name,
            version,
            location: i.path.to_string(),
            layer: None,
        });
    }
    if out.is_empty() && bad > 0 {
        return Err(format!("{bad} record(s) without P:/V: and no package read"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:383152\nI:622592\nT:the musl c library\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Natanael Copa\nt:1712000000\nc:abc\nF:lib\nR:ld-musl-x86_64.so.1\n\nP:libcrypto3\nV:3.3.2-r0\nA:x86_64\no:openssl\nT:crypto\n\n";

    #[test]
    fn records_origins_and_purls() {
        let i = Input {
            path: "/lib/apk/db/installed",
            data: DB.as_bytes(),
            distro: Some("Alpine:v3.20"),
        };
        let p = parse(&i).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "musl");
        assert_eq!(p[0].version, "1.2.5-r0");
        assert_eq!(p[0].ecosystem, "Alpine:v3.20");
        assert_eq!(p[0].source, Some(("musl".into(), "1.2.5-r0".into())));
        assert_eq!(
            p[0].purl,
            "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20"
        );
        assert_eq!(p[1].source, Some(("openssl".into(), "3.3.2-r0".into())));
        assert_eq!(
            p[1].purl,
            "pkg:apk/alpine/libcrypto3@3.3.2-r0?arch=x86_64&upstream=openssl&distro=alpine-3.20"
        );
        assert_eq!(p[1].location, "/lib/apk/db/installed");
    }

    #[test]
    fn no_distro_crlf_and_last_record_without_blank_line() {
        let t = "P:busybox\r\nV:1.36.1-r29\r\n\r\nP:zlib\nV:1.3.1-r1";
        let i = Input {
            path: "/lib/apk/db/installed",
            data: t.as_bytes(),
            distro: Some("Debian:12"),
        };
        let p = parse(&i).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].ecosystem, "Alpine");
        assert_eq!(p[0].version, "1.36.1-r29");
        assert_eq!(p[1].name, "zlib");
        assert_eq!(p[1].purl, "pkg:apk/alpine/zlib@1.3.1-r1");
    }

    #[test]
    fn garbage_is_an_error() {
        for data in [
            &b"hello world\nthis is not apk\n"[..],
            b"\x00\x01\x02",
            b"X:1\nY:2\n",
        ] {
            let i = Input {
                path: "/lib/apk/db/installed",
                data,
                distro: None,
            };
            assert!(parse(&i).is_err(), "{data:?}");
        }
        let empty = Input {
            path: "/lib/apk/db/installed",
            data: b"",
            distro: None,
        };
        assert!(parse(&empty).unwrap().is_empty());
    }
}
