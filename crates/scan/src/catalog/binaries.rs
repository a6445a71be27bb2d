//! Executables that record what they were built from:
//!
//! - Go binaries: the build info Go ≥ 1.18 embeds (section `.go.buildinfo`, or
//!   the `\xff Go buildinf:` magic when the section headers are stripped): the
//!   toolchain (`stdlib`), the main module and every dependency module.
//! - Rust binaries built with `cargo auditable`: the zlib-compressed JSON
//!   dependency list in section `.dep-v0`.
//!
//! Only ELF files are inspected; their headers are parsed here, every offset
//! checked against the file.
use std::io::Read as _;

use serde::Deserialize;

use super::{purl, Cataloger, Input};
use crate::Package;

/// The catalogers of this module: one reading both Go and Rust binaries, so each
/// file is read once.
pub fn catalogers() -> Vec<Cataloger> {
    vec![Cataloger {
        name: "binary",
        claims,
        max_size: super::MAX_BINARY_FILE,
        parse,
    }]
}

/// Trees with no executables worth reading.
const SKIP_DIRS: [&str; 11] = [
    "/usr/share/",
    "/usr/include/",
    "/usr/src/",
    "/var/lib/dpkg/",
    "/var/lib/rpm/",
    "/usr/lib/sysimage/rpm/",
    "/lib/apk/",
    "/var/cache/",
    "/var/log/",
    "/etc/",
    "/usr/lib/jvm/",
];

/// File name extensions that are never executables.
const SKIP_EXTS: &[&str] = &[
    "txt",
    "md",
    "rst",
    "html",
    "htm",
    "css",
    "js",
    "mjs",
    "cjs",
    "ts",
    "map",
    "json",
    "yaml",
    "yml",
    "toml",
    "xml",
    "xsd",
    "dtd",
    "ini",
    "cfg",
    "conf",
    "properties",
    "py",
    "pyc",
    "pyo",
    "pyi",
    "pth",
    "rb",
    "pl",
    "pm",
    "pod",
    "php",
    "lua",
    "sh",
    "bash",
    "zsh",
    "fish",
    "tcl",
    "c",
    "h",
    "cc",
    "cpp",
    "hpp",
    "hh",
    "cxx",
    "rs",
    "go",
    "mod",
    "sum",
    "java",
    "class",
    "kt",
    "scala",
    "jar",
    "war",
    "ear",
    "jpi",
    "hpi",
    "zip",
    "gz",
    "tgz",
    "bz2",
    "xz",
    "zst",
    "lz4",
    "7z",
    "tar",
    "rar",
    "whl",
    "egg",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "svg",
    "ico",
    "bmp",
    "webp",
    "tif",
    "tiff",
    "pdf",
    "ps",
    "ttf",
    "otf",
    "woff",
    "woff2",
    "eot",
    "pem",
    "crt",
    "cer",
    "key",
    "der",
    "csr",
    "pub",
    "asc",
    "sig",
    "gpg",
    "mo",
    "po",
    "pot",
    "gmo",
    "qm",
    "lock",
    "log",
    "csv",
    "tsv",
    "sql",
    "db",
    "sqlite",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "hwdb",
    "cache",
    "desktop",
    "service",
    "socket",
    "timer",
    "target",
    "mount",
    "pc",
    "cmake",
    "m4",
    "am",
    "in",
    "la",
    "a",
    "o",
    "mk",
    "gradle",
    "ipynb",
    "typed",
    "tmpl",
    "tpl",
    "rdf",
    "license",
    "cfg-sample",
    "example",
    "sample",
    "bak",
    "swp",
];

fn claims(p: &str) -> bool {
    if SKIP_DIRS.iter().any(|d| p.starts_with(d)) {
        return false;
    }
    let name = p.rsplit('/').next().unwrap_or(p);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            let ext = ext.to_ascii_lowercase();
            !SKIP_EXTS.contains(&ext.as_str())
        }
        _ => true,
    }
}

fn parse(i: &Input<'_>) -> Result<Vec<Package>, String> {
    if !i.data.starts_with(b"\x7fELF") {
        return Ok(Vec::new());
    }
    let elf = Elf::parse(i.data)?;
    let mut out = Vec::new();
    match elf.section(".go.buildinfo")? {
        Some(sect) => {
            let at =
                find_go_magic(sect).ok_or("section .go.buildinfo has no Go build info magic")?;
            go_packages(i.path, &sect[at..], &mut out)?;
        }
        None if !elf.has_sections => {
            // section headers stripped: search the whole file, like debug/buildinfo
            let mut from = 0;
            while let Some(at) = i.data.get(from..).and_then(find_go_magic) {
                let d = &i.data[from + at..];
                if d.len() >= 32 && matches!(d[14], 4 | 8) {
                    go_packages(i.path, d, &mut out)?;
                    break;
                }
                from += at + 16;
            }
        }
        None => {}
    }
    if let Some(sect) = elf.section(".dep-v0")? {
        rust_packages(i.path, sect, &mut out)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// ELF

/// The parts of an ELF file needed here.
struct Elf<'a> {
    data: &'a [u8],
    /// (name offset in .shstrtab, type, file offset, size) per section.
    sections: Vec<(u32, u32, u64, u64)>,
    /// The section name string table, if valid.
    names: Option<&'a [u8]>,
    has_sections: bool,
}

/// Integer reader for one ELF's class and byte order.
#[derive(Clone, Copy)]
struct Rd<'a> {
    d: &'a [u8],
    le: bool,
}

impl Rd<'_> {
    fn bytes<const N: usize>(self, at: usize) -> Result<[u8; N], String> {
        self.d
            .get(at..at.checked_add(N).ok_or("offset overflow")?)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "truncated ELF: {N} bytes at offset {at} beyond end ({} bytes)",
                    self.d.len()
                )
            })
    }
    fn u16(self, at: usize) -> Result<u16, String> {
        let b = self.bytes::<2>(at)?;
        Ok(if self.le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    fn u32(self, at: usize) -> Result<u32, String> {
        let b = self.bytes::<4>(at)?;
        Ok(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn u64(self, at: usize) -> Result<u64, String> {
        let b = self.bytes::<8>(at)?;
        Ok(if self.le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
}

const SHT_NOBITS: u32 = 8;
const SHN_XINDEX: u32 = 0xffff;

impl<'a> Elf<'a> {
    fn parse(d: &'a [u8]) -> Result<Self, String> {
        if d.len() < 16 {
            return Err(format!(
                "truncated ELF: {} bytes, shorter than e_ident",
                d.len()
            ));
        }
        let is64 = match d[4] {
            1 => false,
            2 => true,
            c => return Err(format!("ELF class {c} is neither 32- nor 64-bit")),
        };
        let le = match d[5] {
            1 => true,
            2 => false,
            e => {
                return Err(format!(
                    "ELF data encoding {e} is neither little- nor big-endian"
                ))
            }
        };
        let ehsize = if is64 { 64 } else { 52 };
        if d.len() < ehsize {
            return Err(format!(
                "truncated ELF: {} bytes, shorter than the {ehsize}-byte ELF header",
                d.len()
            ));
        }
        let r = Rd { d, le };
        let (shoff, shentsize, shnum, shstrndx) = if is64 {
            (r.u64(0x28)?, r.u16(0x3a)?, r.u16(0x3c)?, r.u16(0x3e)?)
        } else {
            (
                u64::from(r.u32(0x20)?),
                r.u16(0x2e)?,
                r.u16(0x30)?,
                r.u16(0x32)?,
            )
        };
        let mut elf = Elf {
            data: d,
            sections: Vec::new(),
            names: None,
            has_sections: false,
        };
        if shoff == 0 {
            return Ok(elf);
        }
        let min_ent = if is64 { 64 } else { 40 };
        if usize::from(shentsize) < min_ent {
            return Err(format!(
                "ELF section header size {shentsize} is smaller than {min_ent}"
            ));
        }
        let shoff = usize::try_from(shoff)
            .ok()
            .filter(|&o| o < d.len())
            .ok_or_else(|| {
                format!(
                    "truncated ELF: section headers at {shoff}, beyond end ({} bytes)",
                    d.len()
                )
            })?;
        let ent = usize::from(shentsize);
        // section 0 holds the real count and string table index when they overflow
        let (count, strndx) = {
            let s0 = |off32: usize, off64: usize| -> Result<u64, String> {
                if is64 {
                    r.u64(shoff + off64)
                } else {
                    r.u32(shoff + off32).map(u64::from)
                }
            };
            let count = if shnum == 0 {
                s0(20, 32)?
            } else {
                u64::from(shnum)
            };
            let strndx = if u32::from(shstrndx) == SHN_XINDEX {
                r.u32(shoff + if is64 { 40 } else { 24 })?
            } else {
                u32::from(shstrndx)
            };
            (count, strndx)
        };
        let table_end = (count as u128) * (ent as u128) + shoff as u128;
        if table_end > d.len() as u128 {
            return Err(format!(
                "truncated ELF: {count} section headers at {shoff} end at {table_end}, beyond end ({} bytes)",
                d.len()
            ));
        }
        for k in 0..count as usize {
            let at = shoff + k * ent;
            let (name, typ, off, size) = if is64 {
                (r.u32(at)?, r.u32(at + 4)?, r.u64(at + 24)?, r.u64(at + 32)?)
            } else {
                (
                    r.u32(at)?,
                    r.u32(at + 4)?,
                    u64::from(r.u32(at + 16)?),
                    u64::from(r.u32(at + 20)?),
                )
            };
            elf.sections.push((name, typ, off, size));
        }
        elf.has_sections = count > 0;
        elf.names = elf
            .sections
            .get(strndx as usize)
            .filter(|_| strndx != 0)
            .and_then(|&(_, typ, off, size)| elf.data_of(typ, off, size).ok());
        Ok(elf)
    }

    fn data_of(&self, typ: u32, off: u64, size: u64) -> Result<&'a [u8], String> {
        if typ == SHT_NOBITS {
            return Ok(&[]);
        }
        let end = off
            .checked_add(size)
            .filter(|&e| e <= self.data.len() as u64)
            .ok_or_else(|| {
                format!(
                    "truncated ELF: section data at {off}..+{size} beyond end ({} bytes)",
                    self.data.len()
                )
            })?;
        Ok(&self.data[off as usize..end as usize])
    }

    /// The contents of the section named `name`, if there is one.
    fn section(&self, name: &str) -> Result<Option<&'a [u8]>, String> {
        let Some(names) = self.names else {
            return Ok(None);
        };
        for &(n, typ, off, size) in &self.sections {
            let Some(rest) = names.get(n as usize..) else {
                continue;
            };
            let s = rest.split(|&b| b == 0).next().unwrap_or(rest);
            if s == name.as_bytes() {
                return self
                    .data_of(typ, off, size)
                    .map(Some)
                    .map_err(|e| format!("section {name}: {e}"));
            }
        }
        Ok(None)
    }
}

// ---------------------------------------------------------------------------
// Go

const GO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";

/// Offset of the first 16-byte aligned build info magic in `d`.
fn find_go_magic(d: &[u8]) -> Option<usize> {
    (0..d.len().saturating_sub(GO_MAGIC.len() - 1))
        .step_by(16)
        .find(|&k| d[k..].starts_with(GO_MAGIC))
}

/// Read an unsigned LEB128 varint.
fn uvarint(d: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (k, &b) in d.iter().enumerate().take(10) {
        x |= u64::from(b & 0x7f) << (7 * k);
        if b & 0x80 == 0 {
            return Some((x, k + 1));
        }
    }
    None
}

/// A varint-length-prefixed string at the start of `d`, and what follows it.
fn go_string<'d>(d: &'d [u8], what: &str) -> Result<(&'d [u8], &'d [u8]), String> {
    let (n, used) =
        uvarint(d).ok_or_else(|| format!("truncated Go build info: bad length of the {what}"))?;
    let rest = &d[used..];
    if n > rest.len() as u64 {
        return Err(format!(
            "truncated Go build info: {what} of {n} bytes, {} left",
            rest.len()
        ));
    }
    Ok(rest.split_at(n as usize))
}

/// Decode build info starting at its magic: (Go version, module info text).
fn go_buildinfo(d: &[u8]) -> Result<(String, String), String> {
    if d.len() < 32 {
        return Err(format!(
            "truncated Go build info: {} bytes, shorter than its 32-byte header",
            d.len()
        ));
    }
    let flags = d[15];
    if flags & 0x2 == 0 {
        return Err("Go build info in the pre-1.18 pointer format is not supported".into());
    }
    let (version, rest) = go_string(&d[32..], "Go version")?;
    let (modinfo, _) = go_string(rest, "module info")?;
    // the module info is framed by two 16-byte sentinels
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        &[][..]
    };
    Ok((
        String::from_utf8_lossy(version).into_owned(),
        String::from_utf8_lossy(modinfo).into_owned(),
    ))
}

fn go_package(path: &str, module: &str, version: &str) -> Package {
    let (ns, name) = match module.rsplit_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, module),
    };
    Package {
        ecosystem: "Go".into(),
        name: module.to_string(),
        version: version.to_string(),
        source: None,
        location: path.to_string(),
        layer: None,
        purl: purl("golang", ns, name, version, &[]),
    }
}

fn go_packages(path: &str, d: &[u8], out: &mut Vec<Package>) -> Result<(), String> {
    let (goversion, modinfo) = go_buildinfo(d)?;
    // "go1.21.3", "go1.22.0 X:boringcrypto", "devel go1.23-abc..."
    if let Some(v) = goversion
        .split_whitespace()
        .next()
        .and_then(|v| v.strip_prefix("go"))
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    {
        out.push(go_package(path, "stdlib", &format!("v{v}")));
    }
    let mut deps: Vec<(String, String)> = Vec::new();
    for line in modinfo.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["mod", p, v, ..] if !v.is_empty() && *v != "(devel)" => {
                deps.push((p.to_string(), v.to_string()));
            }
            ["dep", p, v, ..] => deps.push((p.to_string(), v.to_string())),
            ["=>", p, v, ..] => {
                // replaces the dep before it
                if let Some(last) = deps.last_mut() {
                    *last = (p.to_string(), v.to_string());
                }
            }
            _ => {}
        }
    }
    for (p, v) in deps {
        // a replacement by a local directory has no version
        if !p.is_empty() && !v.is_empty() {
            out.push(go_package(path, &p, &v));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Rust (cargo auditable)

/// Largest decompressed `.dep-v0` accepted.
const MAX_AUDIT_JSON: u64 = 64 << 20;

#[derive(Deserialize)]
struct AuditData {
    packages: Vec<AuditPackage>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    source: String,
    #[serde(default)]
    kind: Option<String>,
}

fn rust_packages(path: &str, sect: &[u8], out: &mut Vec<Package>) -> Result<(), String> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(sect)
        .take(MAX_AUDIT_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("section .dep-v0: bad zlib data: {e}"))?;
    if json.len() as u64 > MAX_AUDIT_JSON {
        return Err(format!(
            "section .dep-v0: decompresses to more than {MAX_AUDIT_JSON} bytes"
        ));
    }
    let data: AuditData = serde_json::from_slice(&json)
        .map_err(|e| format!("section .dep-v0: bad dependency JSON: {e}"))?;
    for p in data.packages {
        // build-only dependencies (build scripts, proc macros) are not in the binary
        if p.source != "crates.io" || p.kind.as_deref() == Some("build") {
            continue;
        }
        out.push(Package {
            ecosystem: "crates.io".into(),
            purl: purl("cargo", None, &p.name, &p.version, &[]),
            name: p.name,
            version: p.version,
            source: None,
            location: path.to_string(),
            layer: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A minimal ELF (no program headers) with the given sections, plus the null
    /// section and `.shstrtab`.
    fn elf(is64: bool, le: bool, sections: &[(&str, &[u8])]) -> Vec<u8> {
        let put16 = |v: &mut Vec<u8>, at: usize, x: u16| {
            v[at..at + 2].copy_from_slice(&if le { x.to_le_bytes() } else { x.to_be_bytes() })
        };
        let put32 = |v: &mut Vec<u8>, at: usize, x: u32| {
            v[at..at + 4].copy_from_slice(&if le { x.to_le_bytes() } else { x.to_be_bytes() })
        };
        let put64 = |v: &mut Vec<u8>, at: usize, x: u64| {
            v[at..at + 8].copy_from_slice(&if le { x.to_le_bytes() } else { x.to_be_bytes() })
        };
        let ehsize = if is64 { 64 } else { 52 };
        let mut d = vec![0u8; ehsize];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = if is64 { 2 } else { 1 };
        d[5] = if le { 1 } else { 2 };
        d[6] = 1;
        put16(&mut d, 16, 2); // ET_EXEC
                              // section contents, 16-aligned
        let mut strtab = vec![0u8];
        let mut sh: Vec<(u32, u32, u64, u64)> = vec![(0, 0, 0, 0)];
        for (name, data) in sections {
            while d.len() % 16 != 0 {
                d.push(0);
            }
            sh.push((strtab.len() as u32, 1, d.len() as u64, data.len() as u64));
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
            d.extend_from_slice(data);
        }
        let shstr_name = strtab.len() as u32;
        strtab.extend_from_slice(b".shstrtab\0");
        sh.push((shstr_name, 3, d.len() as u64, strtab.len() as u64));
        d.extend_from_slice(&strtab);
        while d.len() % 8 != 0 {
            d.push(0);
        }
        let shoff = d.len();
        let ent = if is64 { 64 } else { 40 };
        for (k, (name, typ, off, size)) in sh.iter().enumerate() {
            let at = shoff + k * ent;
            d.resize(at + ent, 0);
            put32(&mut d, at, *name);
            put32(&mut d, at + 4, *typ);
            if is64 {
                put64(&mut d, at + 24, *off);
                put64(&mut d, at + 32, *size);
            } else {
                put32(&mut d, at + 16, *off as u32);
                put32(&mut d, at + 20, *size as u32);
            }
        }
        if is64 {
            put64(&mut d, 0x28, shoff as u64);
            put16(&mut d, 0x34, 64);
            put16(&mut d, 0x3a, 64);
            put16(&mut d, 0x3c, sh.len() as u16);
            put16(&mut d, 0x3e, sh.len() as u16 - 1);
        } else {
            put32(&mut d, 0x20, shoff as u32);
            put16(&mut d, 0x28, 52);
            put16(&mut d, 0x2e, 40);
            put16(&mut d, 0x30, sh.len() as u16);
            put16(&mut d, 0x32, sh.len() as u16 - 1);
        }
        d
    }

    fn varint(mut n: usize, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    const MODINFO: &str = "path\tgithub.com/acme/tool/cmd/tool\nmod\tgithub.com/acme/tool\tv1.4.0\th1:abc=\ndep\tgolang.org/x/net\tv0.17.0\th1:def=\ndep\tgithub.com/old/yaml\tv1.0.0\th1:x=\n=>\tgithub.com/new/yaml\tv1.2.0\th1:y=\ndep\texample.com/local\tv0.0.0\n=>\t../local\t\t\nbuild\t-compiler=gc\nbuild\tGOOS=linux\n";

    fn buildinfo(version: &str, modinfo: &str, flags: u8) -> Vec<u8> {
        let mut b = GO_MAGIC.to_vec();
        b.push(8);
        b.push(flags);
        b.resize(32, 0);
        varint(version.len(), &mut b);
        b.extend_from_slice(version.as_bytes());
        let mut m = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
        m.extend_from_slice(modinfo.as_bytes());
        m.extend_from_slice(b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2");
        varint(m.len(), &mut b);
        b.extend_from_slice(&m);
        b
    }

    fn input(data: &[u8]) -> Input<'_> {
        Input {
            path: "/usr/local/bin/tool",
            data,
            distro: None,
        }
    }

    fn names(p: &[Package]) -> Vec<String> {
        p.iter()
            .map(|p| format!("{} {} {}", p.ecosystem, p.name, p.version))
            .collect()
    }

    #[test]
    fn go_binary() {
        let bi = buildinfo("go1.21.3", MODINFO, 2);
        let want = vec![
            "Go stdlib v1.21.3",
            "Go github.com/acme/tool v1.4.0",
            "Go golang.org/x/net v0.17.0",
            "Go github.com/new/yaml v1.2.0",
        ];
        for (is64, le) in [(true, true), (false, false), (true, false), (false, true)] {
            let d = elf(is64, le, &[(".text", b"\x90\x90"), (".go.buildinfo", &bi)]);
            let p = parse(&input(&d)).unwrap();
            assert_eq!(names(&p), want, "is64 {is64} le {le}");
            assert_eq!(p[0].purl, "pkg:golang/stdlib@v1.21.3");
            assert_eq!(p[2].purl, "pkg:golang/golang.org/x/net@v0.17.0");
            assert_eq!(p[0].location, "/usr/local/bin/tool");
        }
        // section headers stripped: found by the magic
        let mut stripped = elf(true, true, &[(".go.buildinfo", &bi)]);
        stripped[0x28..0x30].fill(0);
        stripped[0x3c..0x40].fill(0);
        assert_eq!(names(&parse(&input(&stripped)).unwrap()), want);
        // devel main module, boringcrypto toolchain
        let bi = buildinfo(
            "go1.22.1 X:boringcrypto",
            "path\tx/y\nmod\tx/y\t(devel)\t\n",
            2,
        );
        let d = elf(true, true, &[(".go.buildinfo", &bi)]);
        assert_eq!(
            names(&parse(&input(&d)).unwrap()),
            vec!["Go stdlib v1.22.1"]
        );
        // old format
        let old = elf(
            true,
            true,
            &[(".go.buildinfo", &buildinfo("go1.16", "", 0))],
        );
        assert_eq!(
            parse(&input(&old)).unwrap_err(),
            "Go build info in the pre-1.18 pointer format is not supported"
        );
    }

    #[test]
    fn rust_auditable_binary() {
        let json = r#"{"packages":[{"name":"tool","version":"0.1.0","source":"local","kind":"runtime","root":true,"dependencies":[1,2]},{"name":"regex","version":"1.10.2","source":"crates.io"},{"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"},{"name":"fork","version":"0.2.0","source":"git"}]}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json.as_bytes()).unwrap();
        let z = z.finish().unwrap();
        let d = elf(true, true, &[(".text", b"\xc3"), (".dep-v0", &z)]);
        let p = parse(&input(&d)).unwrap();
        assert_eq!(names(&p), vec!["crates.io regex 1.10.2"]);
        assert_eq!(p[0].purl, "pkg:cargo/regex@1.10.2");
        let bad = elf(true, true, &[(".dep-v0", b"not zlib")]);
        assert!(parse(&input(&bad)).unwrap_err().contains(".dep-v0"));
    }

    #[test]
    fn truncated_and_foreign_files() {
        let bi = buildinfo("go1.21.3", MODINFO, 2);
        let d = elf(true, true, &[(".go.buildinfo", &bi)]);
        // every prefix: an error or nothing, never a panic
        let mut errs = 0;
        for n in 0..d.len() {
            match parse(&input(&d[..n])) {
                Err(_) => errs += 1,
                Ok(p) => assert!(p.is_empty(), "prefix {n}: {p:?}"),
            }
        }
        assert!(errs > d.len() / 2);
        assert!(parse(&input(&d[..40]))
            .unwrap_err()
            .contains("truncated ELF"));
        // corrupt bytes never panic
        for k in 0..d.len() {
            let mut c = d.clone();
            c[k] ^= 0xff;
            let _ = parse(&input(&c));
        }
        // a truncated build info inside a valid ELF
        let short = elf(true, true, &[(".go.buildinfo", &bi[..40])]);
        assert!(parse(&input(&short))
            .unwrap_err()
            .contains("truncated Go build info"));
        // not ELF: nothing
        assert!(parse(&input(b"#!/bin/sh\necho hi\n")).unwrap().is_empty());
        // ELF without Go or Rust data: nothing
        let plain = elf(true, true, &[(".text", b"\xc3")]);
        assert!(parse(&input(&plain)).unwrap().is_empty());
    }

    #[test]
    fn claimed_paths() {
        assert!(claims("/usr/local/bin/kubectl"));
        assert!(claims("/usr/lib/x86_64-linux-gnu/libssl.so.3"));
        assert!(claims("/app/server"));
        assert!(claims("/usr/bin/python3.11"));
        assert!(!claims("/usr/share/doc/x/README"));
        assert!(!claims("/etc/passwd"));
        assert!(!claims("/app/index.js"));
        assert!(!claims("/app/lib/foo.JAR"));
        assert!(claims("/app/.hidden"));
    }
}
