//! Java archives: `*.jar`, `*.war`, `*.ear`, `*.jpi`, `*.hpi`.
//!
//! Each archive's `META-INF/maven/<group>/<artifact>/pom.properties` files name
//! the Maven artifacts it holds (a shaded jar holds several). An archive without
//! one falls back to its `META-INF/MANIFEST.MF`, then to its file name
//! (`name-1.2.3.jar`). Archives inside archives (`WEB-INF/lib/*.jar`, Spring Boot's
//! `BOOT-INF/lib/*.jar`) are read too, down to [`Limits::max_depth`].
//!
//! Archives are hostile input: every entry read is checked against its declared
//! size and compression ratio, and the bytes actually decompressed are counted
//! against a budget per top-level archive, whatever the headers say.
use std::io::{Cursor, Read};

use super::{purl, Cataloger, Input};
use crate::Package;

/// The catalogers of this module.
pub fn catalogers() -> Vec<Cataloger> {
    vec![Cataloger {
        name: "java archive",
        claims: |p| is_archive_name(p),
        max_size: super::MAX_BINARY_FILE,
        parse,
    }]
}

/// Zip-bomb and nesting limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest declared or actual uncompressed size of one entry read.
    pub max_entry: u64,
    /// Highest compression ratio (uncompressed / compressed) accepted ...
    pub max_ratio: u64,
    /// ... for entries larger than this.
    pub ratio_min_size: u64,
    /// Most bytes decompressed for one top-level archive, nested ones included.
    pub max_total: u64,
    /// Most entries in one archive.
    pub max_entries: usize,
    /// Deepest nesting of archives read (the top-level archive is depth 0).
    pub max_depth: usize,
}

/// The limits [`catalogers`] use.
pub const LIMITS: Limits = Limits {
    max_entry: 256 << 20,
    max_ratio: 200,
    ratio_min_size: 1 << 20,
    max_total: 512 << 20,
    max_entries: 100_000,
    max_depth: 4,
};

const ARCHIVE_EXTS: [&str; 5] = [".jar", ".war", ".ear", ".jpi", ".hpi"];

fn is_archive_name(p: &str) -> bool {
    let n = p.rsplit('/').next().unwrap_or(p);
    n.len() > 4
        && ARCHIVE_EXTS
            .iter()
            .any(|e| n.len() >= e.len() && n[n.len() - e.len()..].eq_ignore_ascii_case(e))
}

fn parse(i: &Input<'_>) -> Result<Vec<Package>, String> {
    parse_with_limits(i.path, i.data, &LIMITS)
}

/// Read the archive `data` found at `path`, within `lim`.
pub fn parse_with_limits(path: &str, data: &[u8], lim: &Limits) -> Result<Vec<Package>, String> {
    let mut w = Walk {
        location: path,
        lim,
        budget: lim.max_total,
        out: Vec::new(),
    };
    let file_name = path.rsplit('/').next().unwrap_or(path);
    w.archive("", file_name, data, 0)?;
    w.out.sort();
    w.out.dedup();
    Ok(w.out)
}

/// State of one top-level archive's walk.
struct Walk<'a> {
    location: &'a str,
    lim: &'a Limits,
    /// Bytes that may still be decompressed.
    budget: u64,
    out: Vec<Package>,
}

/// What an archive entry is to us.
enum Kind {
    Pom,
    Manifest,
    Nested,
}

impl Walk<'_> {
    /// One archive; `prefix` names it inside the top-level one in errors
    /// (`WEB-INF/lib/x.jar!/`), `file_name` is its own file name.
    fn archive(
        &mut self,
        prefix: &str,
        file_name: &str,
        data: &[u8],
        depth: usize,
    ) -> Result<(), String> {
        // the entry count, checked before the zip reader sizes its tables by it
        if let Some(n) = declared_entries(data).filter(|&n| n > self.lim.max_entries as u64) {
            let which = prefix.strip_suffix("!/").unwrap_or("archive");
            return Err(format!(
                "{which}: {n} entries declared, more than the {} read",
                self.lim.max_entries
            ));
        }
        let mut zip = match zip::ZipArchive::new(Cursor::new(data)) {
            Ok(z) => z,
            Err(e) if depth == 0 => return Err(format!("not a readable zip archive: {e}")),
            // a nested entry named *.jar that is no zip (a test fixture, a
            // placeholder): nothing to read, the rest of the archive still counts
            Err(_) => return Ok(()),
        };
        if zip.len() > self.lim.max_entries {
            let which = prefix.strip_suffix("!/").unwrap_or("archive");
            return Err(format!(
                "{which}: {} entries, more than the {} read",
                zip.len(),
                self.lim.max_entries
            ));
        }
        let mut wanted: Vec<(usize, String, Kind)> = Vec::new();
        for idx in 0..zip.len() {
            let Some(name) = zip.name_for_index(idx) else {
                continue;
            };
            let kind = if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
                Kind::Pom
            } else if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
                Kind::Manifest
            } else if is_archive_name(name) && !name.ends_with('/') && depth < self.lim.max_depth {
                Kind::Nested
            } else {
                continue;
            };
            wanted.push((idx, name.to_string(), kind));
        }

        let mut poms: Vec<(String, String, String)> = Vec::new();
        let mut manifest: Option<Vec<u8>> = None;
        for (idx, name, kind) in wanted {
            let bytes = self.read_entry(&mut zip, idx, prefix, &name)?;
            match kind {
                Kind::Pom => {
                    if let Some(g) = pom_properties(&name, &bytes) {
                        poms.push(g);
                    }
                }
                Kind::Manifest => manifest = Some(bytes),
                Kind::Nested => {
                    let nested_prefix = format!("{prefix}{name}!/");
                    let nested_name = name.rsplit('/').next().unwrap_or(&name).to_string();
                    self.archive(&nested_prefix, &nested_name, &bytes, depth + 1)?;
                }
            }
        }

        if poms.is_empty() {
            let found = manifest
                .as_deref()
                .and_then(manifest_identity)
                .or_else(|| file_name_identity(file_name));
            if let Some(g) = found {
                poms.push(g);
            }
        }
        for (group, artifact, version) in poms {
            let name = if group.is_empty() {
                artifact.clone()
            } else {
                format!("{group}:{artifact}")
            };
            self.out.push(Package {
                ecosystem: "Maven".into(),
                purl: purl("maven", Some(&group), &artifact, &version, &[]),
                name,
                version,
                source: None,
                location: self.location.to_string(),
                layer: None,
            });
        }
        Ok(())
    }

    /// Decompress one entry, within the limits.
    fn read_entry(
        &mut self,
        zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
        idx: usize,
        prefix: &str,
        name: &str,
    ) -> Result<Vec<u8>, String> {
        let lim = self.lim;
        let mut f = zip
            .by_index(idx)
            .map_err(|e| format!("{prefix}{name}: cannot read entry: {e}"))?;
        let size = f.size();
        let csize = f.compressed_size().max(1);
        if size > lim.max_entry {
            return Err(format!(
                "{prefix}{name}: declared uncompressed size {size} bytes is more than the {} read (zip bomb?)",
                lim.max_entry
            ));
        }
        if size > lim.ratio_min_size && size / csize > lim.max_ratio {
            return Err(format!(
                "{prefix}{name}: compression ratio {}:1 is more than {}:1 (zip bomb?)",
                size / csize,
                lim.max_ratio
            ));
        }
        // never trust the declared size: read at most one byte more than allowed
        let cap = lim.max_entry.min(self.budget);
        let mut buf = Vec::with_capacity(size.min(cap).min(1 << 20) as usize);
        (&mut f)
            .take(cap + 1)
            .read_to_end(&mut buf)
            .map_err(|e| format!("{prefix}{name}: cannot decompress: {e}"))?;
        let got = buf.len() as u64;
        if got > cap {
            return Err(if cap == self.budget {
                format!(
                    "{prefix}{name}: more than {} bytes decompressed from the archive in all (zip bomb?)",
                    lim.max_total
                )
            } else {
                format!(
                    "{prefix}{name}: decompresses to more than {} bytes (zip bomb?)",
                    lim.max_entry
                )
            });
        }
        if got > lim.ratio_min_size && got / csize > lim.max_ratio {
            return Err(format!(
                "{prefix}{name}: compression ratio {}:1 is more than {}:1 (zip bomb?)",
                got / csize,
                lim.max_ratio
            ));
        }
        self.budget -= got;
        Ok(buf)
    }
}

/// The entry count of the archive's end-of-central-directory record (zip64's if
/// the classic one says 0xffff), if one is found where it should be.
fn declared_entries(d: &[u8]) -> Option<u64> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let lo = d.len().saturating_sub(22 + 0xffff);
    let at = (lo..=d.len().checked_sub(22)?)
        .rev()
        .find(|&k| d[k..].starts_with(EOCD))?;
    let n = u16::from_le_bytes([d[at + 10], d[at + 11]]);
    if n != 0xffff {
        return Some(u64::from(n));
    }
    // zip64 locator just before: signature, disk, u64 offset of the zip64 record
    let loc = at.checked_sub(20)?;
    if !d[loc..].starts_with(b"PK\x06\x07") {
        return Some(u64::from(n));
    }
    let off = u64::from_le_bytes(d[loc + 8..loc + 16].try_into().ok()?);
    let off = usize::try_from(off).ok()?;
    let rec = d.get(off..off.checked_add(40)?)?;
    if !rec.starts_with(b"PK\x06\x06") {
        return None;
    }
    Some(u64::from_le_bytes(rec[32..40].try_into().ok()?))
}

/// Java properties `key=value` / `key: value` lines (no continuation lines:
/// pom.properties never has them).
fn properties(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((l[..at].trim(), l[at + 1..].trim()))
        })
        .collect()
}

/// (group, artifact, version) from `META-INF/maven/<g>/<a>/pom.properties`.
fn pom_properties(entry: &str, bytes: &[u8]) -> Option<(String, String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let props = properties(&text);
    let get = |k: &str| {
        props
            .iter()
            .find(|(pk, _)| *pk == k)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty())
    };
    // the directory names are the fallback for missing ids
    let dirs: Vec<&str> = entry.split('/').collect();
    let (dg, da) = if dirs.len() == 5 {
        (Some(dirs[2].to_string()), Some(dirs[3].to_string()))
    } else {
        (None, None)
    };
    let group = get("groupId").or(dg)?;
    let artifact = get("artifactId").or(da)?;
    let version = get("version")?;
    Some((group, artifact, version))
}

/// (group, artifact, version) from a manifest's main section.
fn manifest_identity(bytes: &[u8]) -> Option<(String, String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let mut attrs: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break; // end of the main section
        }
        if let Some(cont) = line.strip_prefix(' ') {
            if let Some((_, v)) = attrs.last_mut() {
                v.push_str(cont);
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            attrs.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |k: &str| {
        attrs
            .iter()
            .find(|(ak, _)| ak.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let usable = |v: &&str| !v.contains(char::is_whitespace);
    let artifact = get("Implementation-Title")
        .filter(usable)
        .or_else(|| {
            get("Bundle-SymbolicName")
                .map(|s| s.split(';').next().unwrap_or(s).trim())
                .filter(usable)
        })?
        .to_string();
    let version = get("Implementation-Version")
        .or_else(|| get("Bundle-Version"))
        .filter(usable)?
        .to_string();
    let group = get("Implementation-Vendor-Id")
        .filter(usable)
        .unwrap_or("")
        .to_string();
    Some((group, artifact, version))
}

/// (``, name, version) from `name-1.2.3.jar`.
fn file_name_identity(file_name: &str) -> Option<(String, String, String)> {
    let stem = file_name
        .rsplit_once('.')
        .map(|(s, _)| s)
        .unwrap_or(file_name);
    let b = stem.as_bytes();
    let at = (1..b.len()).find(|&k| b[k - 1] == b'-' && b[k].is_ascii_digit())?;
    let name = &stem[..at - 1];
    let version = &stem[at..];
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some((String::new(), name.to_string(), version.to_string()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use zip::write::SimpleFileOptions;

    fn jar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            let opt = SimpleFileOptions::default().compression_method(if name.ends_with(".jar") {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            });
            w.start_file(*name, opt).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn pom(g: &str, a: &str, v: &str) -> Vec<u8> {
        format!("#Generated by Maven\n#Tue Jan 01 00:00:00 UTC 2024\ngroupId={g}\nartifactId={a}\nversion={v}\n")
            .into_bytes()
    }

    fn names(p: &[Package]) -> Vec<String> {
        p.iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect()
    }

    #[test]
    fn pom_nested_and_purl() {
        let lib = jar(&[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
            (
                "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
                &pom("org.apache.logging.log4j", "log4j-core", "2.14.1"),
            ),
            (
                "org/apache/logging/log4j/core/Logger.class",
                b"\xca\xfe\xba\xbe",
            ),
        ]);
        let deeper = jar(&[(
            "META-INF/maven/com.x/deep/pom.properties",
            &pom("com.x", "deep", "0.1"),
        )]);
        let mid = jar(&[("lib/deeper.jar", &deeper)]);
        let war = jar(&[
            (
                "META-INF/maven/com.example/shop/pom.properties",
                &pom("com.example", "shop", "1.0.0"),
            ),
            ("WEB-INF/lib/log4j-core-2.14.1.jar", &lib),
            ("WEB-INF/lib/mid.jar", &mid),
            ("WEB-INF/lib/broken.jar", b"not a zip at all"),
        ]);
        let p = parse_with_limits("/app/shop.war", &war, &LIMITS).unwrap();
        assert_eq!(
            names(&p),
            vec![
                "com.example:shop 1.0.0",
                "com.x:deep 0.1",
                "org.apache.logging.log4j:log4j-core 2.14.1"
            ]
        );
        let l = p.iter().find(|p| p.name.ends_with("log4j-core")).unwrap();
        assert_eq!(
            l.purl,
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
        );
        assert_eq!(l.ecosystem, "Maven");
        assert_eq!(l.location, "/app/shop.war");

        // depth limit: with max_depth 1 the jar two levels down is not read, and
        // mid.jar (no pom, no manifest) is named from its file name: no version, skipped
        let shallow = Limits {
            max_depth: 1,
            ..LIMITS
        };
        let p = parse_with_limits("/app/shop.war", &war, &shallow).unwrap();
        assert_eq!(names(&p).len(), 2, "{p:#?}");

        assert!((catalogers()[0].claims)("/opt/app/lib/foo.JAR"));
        assert!(!(catalogers()[0].claims)("/opt/app/lib/foo.jar.sha1"));
    }

    #[test]
    fn manifest_and_file_name_fallbacks() {
        let m = jar(&[(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\r\nImplementation-Title: Apache Commons Text\r\nBundle-SymbolicName: org.apache.commons.commons-te\r\n xt;singleton:=true\r\nBundle-Version: 1.9.0\r\nImplementation-Vendor-Id: org.apache.commons\r\n\r\nName: other\r\nImplementation-Version: 9\r\n",
        )]);
        let p = parse_with_limits("/x/commons-text.jar", &m, &LIMITS).unwrap();
        assert_eq!(
            names(&p),
            vec!["org.apache.commons:org.apache.commons.commons-text 1.9.0"]
        );
        assert_eq!(
            p[0].purl,
            "pkg:maven/org.apache.commons/org.apache.commons.commons-text@1.9.0"
        );

        let bare = jar(&[("a/B.class", b"\xca\xfe")]);
        let p = parse_with_limits("/x/guava-31.1-jre.jar", &bare, &LIMITS).unwrap();
        assert_eq!(names(&p), vec!["guava 31.1-jre"]);
        assert_eq!(p[0].purl, "pkg:maven/guava@31.1-jre");
        assert!(parse_with_limits("/x/app.jar", &bare, &LIMITS)
            .unwrap()
            .is_empty());
        assert!(parse_with_limits("/x/app.jar", b"PK\x03\x04 truncated", &LIMITS).is_err());
        assert!(parse_with_limits("/x/app.jar", b"", &LIMITS).is_err());
    }

    #[test]
    fn zip_bombs() {
        let zeros = vec![0u8; 20 << 20];
        // a 20 MiB entry deflated to ~20 KiB: ratio ~1000:1
        let bomb = jar(&[("META-INF/maven/a/b/pom.properties", &zeros)]);
        assert!(bomb.len() < 1 << 20);
        let e = parse_with_limits("/x/bomb.jar", &bomb, &LIMITS).unwrap_err();
        assert!(
            e.contains("META-INF/maven/a/b/pom.properties") && e.contains("ratio"),
            "{e}"
        );

        // nested: named with its path inside the outer archive
        let outer = jar(&[("BOOT-INF/lib/bomb.jar", &bomb)]);
        let e = parse_with_limits("/x/app.jar", &outer, &LIMITS).unwrap_err();
        assert!(
            e.contains("BOOT-INF/lib/bomb.jar!/META-INF/maven/a/b/pom.properties"),
            "{e}"
        );

        // declared size above the per-entry limit
        let small = Limits {
            max_entry: 1 << 20,
            ..LIMITS
        };
        let e = parse_with_limits("/x/bomb.jar", &bomb, &small).unwrap_err();
        assert!(e.contains("declared uncompressed size"), "{e}");

        // the total budget counts bytes actually read, nested archives included
        let third = vec![7u8; 300 << 10];
        let many = jar(&[
            ("META-INF/maven/a/b/pom.properties", &pom("a", "b", "1")),
            ("lib/one.jar", &jar(&[("META-INF/MANIFEST.MF", &third)])),
            ("lib/two.jar", &jar(&[("META-INF/MANIFEST.MF", &third)])),
        ]);
        let tight = Limits {
            max_total: 400 << 10,
            ..LIMITS
        };
        let e = parse_with_limits("/x/many.jar", &many, &tight).unwrap_err();
        assert!(e.contains("in all"), "{e}");
        assert!(parse_with_limits("/x/many.jar", &many, &LIMITS).is_ok());

        let few = Limits {
            max_entries: 2,
            ..LIMITS
        };
        let e = parse_with_limits("/x/many.jar", &many, &few).unwrap_err();
        assert!(e.contains("archive: 3 entries declared"), "{e}");
        assert_eq!(declared_entries(&many), Some(3));
        // a forged count in the end-of-central-directory record
        let mut forged = many.clone();
        let at = forged.len() - 22;
        forged[at + 8..at + 12].copy_from_slice(&[0xff, 0xfe, 0xff, 0xfe]);
        let e = parse_with_limits("/x/many.jar", &forged, &few).unwrap_err();
        assert!(e.contains("65279 entries declared"), "{e}");
        // within the limits, whatever the zip reader makes of the forged count
        let _ = parse_with_limits("/x/many.jar", &forged, &LIMITS);
    }
}
