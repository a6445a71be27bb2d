//! Semantic Versioning 2.0.0 precedence, and the flavours ecosystems built on it.
//!
//! Precedence: major, minor, patch numerically; a version with a pre-release is
//! lower than the same version without; pre-release identifiers compare left to
//! right, numeric ones numerically and below alphanumeric ones (compared in ASCII
//! order), and a shorter list is lower when it is a prefix of the longer one.
//! Build metadata is ignored, except under [`Flavor::Pub`].
//!
//! Numbers are compared as digit strings of any length, never parsed into a
//! fixed-width integer.

use std::cmp::Ordering;

use crate::version::cmp_decimal;

/// The dialect of SemVer one ecosystem speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// SemVer 2.0.0 exactly (crates.io, Hex): `MAJOR.MINOR.PATCH[-PRE][+BUILD]`, no
    /// leading zeros in numbers or numeric pre-release identifiers.
    Strict,
    /// node-semver: as [`Flavor::Strict`], after trimming whitespace and any
    /// leading `v` / `=` characters (as `semver.clean` does); at most 256
    /// characters, and major, minor and patch at most 2^53 - 1.
    Npm,
    /// Go modules (`golang.org/x/mod/semver`): a leading `v` (optional here, as
    /// OSV stores Go versions without it), shorthands `v1` and `v1.2` for
    /// `v1.0.0` and `v1.2.0`; pseudo-versions are ordinary pre-releases and
    /// `+incompatible` is ignored build metadata.
    Go,
    /// NuGet: one to four numeric parts (missing ones are 0), leading zeros
    /// allowed, pre-release labels compared case-insensitively.
    NuGet,
    /// Dart's `pub_semver`: leading zeros allowed, and build metadata *is*
    /// compared: no build < any build, then identifier by identifier.
    Pub,
}

/// node-semver's `MAX_LENGTH`.
const NPM_MAX_LENGTH: usize = 256;
/// node-semver refuses major, minor or patch above `Number.MAX_SAFE_INTEGER`.
const NPM_MAX_SAFE_INTEGER: &str = "9007199254740991";

/// A parsed version; every field borrows from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version<'a> {
    /// The numeric parts (three, or one to four for NuGet; Go shorthands are padded).
    pub numbers: Vec<&'a str>,
    /// Pre-release identifiers (empty for a release).
    pub pre: Vec<&'a str>,
    /// Build metadata identifiers.
    pub build: Vec<&'a str>,
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// A number without a leading zero (SemVer's `0|[1-9][0-9]*`).
fn is_canonical_number(s: &str) -> bool {
    is_numeric(s) && (s == "0" || !s.starts_with('0'))
}

/// Splits `core[-pre][+build]`.
fn split(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, build) = match s.find('+') {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    let (core, pre) = match rest.find('-') {
        Some(p) => (&rest[..p], Some(&rest[p + 1..])),
        None => (rest, None),
    };
    (core, pre, build)
}

/// Parses dot-separated identifiers; `strict_numbers` rejects leading zeros in
/// numeric ones.
fn idents(s: Option<&str>, strict_numbers: bool) -> Option<Vec<&str>> {
    match s {
        None => Some(Vec::new()),
        Some(s) => s
            .split('.')
            .map(|id| {
                let ok =
                    is_ident(id) && !(strict_numbers && is_numeric(id) && !is_canonical_number(id));
                ok.then_some(id)
            })
            .collect(),
    }
}

/// Parses `version` under the rules of `flavor`; `None` if it is not valid there.
pub fn parse(flavor: Flavor, version: &str) -> Option<Version<'_>> {
    let s = match flavor {
        Flavor::Strict | Flavor::Pub => version,
        Flavor::Npm => {
            // node-semver: `clean()` strips `^[=v]+` after trimming; versions over
            // 256 characters are refused.
            if version.len() > NPM_MAX_LENGTH {
                return None;
            }
            version.trim().trim_start_matches(['v', '='])
        }
        Flavor::Go => version.strip_prefix('v').unwrap_or(version),
        Flavor::NuGet => version.trim(),
    };
    let (core, pre, build) = split(s);
    let numbers: Vec<&str> = core.split('.').collect();
    let strict = !matches!(flavor, Flavor::NuGet | Flavor::Pub);
    let numbers_ok = numbers.iter().all(|n| {
        if strict {
            is_canonical_number(n)
        } else {
            is_numeric(n)
        }
    });
    if !numbers_ok {
        return None;
    }
    if flavor == Flavor::Npm
        && numbers
            .iter()
            .any(|n| cmp_decimal(n, NPM_MAX_SAFE_INTEGER).is_gt())
    {
        return None;
    }
    let mut numbers = numbers;
    match flavor {
        Flavor::NuGet if (1..=4).contains(&numbers.len()) => {}
        Flavor::Go if numbers.len() < 3 && pre.is_none() && build.is_none() => {
            numbers.resize(3, "0");
        }
        _ if numbers.len() == 3 => {}
        _ => return None,
    }
    Some(Version {
        numbers,
        pre: idents(pre, strict)?,
        build: idents(build, false)?,
    })
}

/// True if `version` is valid under `flavor`.
pub fn is_valid(flavor: Flavor, version: &str) -> bool {
    parse(flavor, version).is_some()
}

fn cmp_ident(flavor: Flavor, a: &str, b: &str) -> Ordering {
    match (is_numeric(a), is_numeric(b)) {
        (true, true) => cmp_decimal(a, b),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) if flavor == Flavor::NuGet => a
            .bytes()
            .map(|c| c.to_ascii_uppercase())
            .cmp(b.bytes().map(|c| c.to_ascii_uppercase())),
        (false, false) => a.cmp(b),
    }
}

fn cmp_idents(flavor: Flavor, a: &[&str], b: &[&str]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = cmp_ident(flavor, x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Compares two parsed versions under `flavor`.
pub fn compare_parsed(flavor: Flavor, a: &Version<'_>, b: &Version<'_>) -> Ordering {
    let n = a.numbers.len().max(b.numbers.len());
    for k in 0..n {
        let x = a.numbers.get(k).copied().unwrap_or("0");
        let y = b.numbers.get(k).copied().unwrap_or("0");
        let o = cmp_decimal(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    let pre = match (a.pre.is_empty(), b.pre.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => cmp_idents(flavor, &a.pre, &b.pre),
    };
    if pre != Ordering::Equal || flavor != Flavor::Pub {
        return pre;
    }
    match (a.build.is_empty(), b.build.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => cmp_idents(flavor, &a.build, &b.build),
    }
}

/// Compares two versions under `flavor`; `None` if either is invalid.
pub fn compare_with(flavor: Flavor, a: &str, b: &str) -> Option<Ordering> {
    Some(compare_parsed(
        flavor,
        &parse(flavor, a)?,
        &parse(flavor, b)?,
    ))
}

/// Compares two strict SemVer 2.0.0 versions; `None` if either is invalid.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    compare_with(Flavor::Strict, a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testutil::{assert_cases, assert_chain, assert_robust};

    #[test]
    fn spec_precedence() {
        for flavor in [
            Flavor::Strict,
            Flavor::Npm,
            Flavor::Go,
            Flavor::NuGet,
            Flavor::Pub,
        ] {
            let cmp = |a: &str, b: &str| compare_with(flavor, a, b);
            assert_chain(
                cmp,
                &[
                    "1.0.0-alpha",
                    "1.0.0-alpha.1",
                    "1.0.0-alpha.beta",
                    "1.0.0-beta",
                    "1.0.0-beta.2",
                    "1.0.0-beta.11",
                    "1.0.0-rc.1",
                    "1.0.0",
                ],
            );
            assert_chain(cmp, &["1.0.0", "2.0.0", "2.1.0", "2.1.1"]);
            assert_chain(
                cmp,
                &[
                    "0.0.0", "0.0.1", "0.1.0", "0.9.9", "0.10.0", "1.0.0-0", "1.0.0-1", "1.0.0-10",
                    "1.0.0-a", "1.0.0",
                ],
            );
        }
    }

    #[test]
    fn strict() {
        assert_cases(
            compare,
            &[
                ("1.0.0+build.1", "=", "1.0.0+build.2"),
                ("1.0.0-alpha+001", "=", "1.0.0-alpha"),
                ("1.0.0-alpha-1", ">", "1.0.0-alpha"),
                ("1.0.0-alpha-1", ">", "1.0.0-alpha.1"),
                ("1.0.0-x-y-z.--", "<", "1.0.0-x-y-z.a"),
                ("1.0.0-Alpha", "<", "1.0.0-alpha"),
                ("1.0.0-0A.is.legal", ">", "1.0.0-0"),
                ("1.2.3----RC-SNAPSHOT.12.9.1--.12+788", "<", "1.2.3"),
            ],
        );
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2.3+a..b",
            "v1.2.3",
            "=1.2.3",
            " 1.2.3",
            "1.2.3-\u{e9}",
            "1.2.3-a_b",
            "a.b.c",
            "1.2.-3",
            "-1.2.3",
        ] {
            assert!(!is_valid(Flavor::Strict, bad), "{bad:?} should be invalid");
        }
        assert!(is_valid(Flavor::Strict, "1.2.3-0a.01b+001.002"));
        assert!(is_valid(Flavor::Strict, "1.2.3+-"));
    }

    #[test]
    fn npm() {
        let cmp = |a: &str, b: &str| compare_with(Flavor::Npm, a, b);
        assert_cases(
            cmp,
            &[
                ("v1.2.3", "=", "1.2.3"),
                ("=1.2.3", "=", "1.2.3"),
                ("=v1.2.3", "=", " 1.2.3 "),
                ("v=v1.2.3", "=", "1.2.3"),
                ("1.2.3-beta.4", "<", "1.2.3"),
                ("4.17.20", "<", "4.17.21"),
                ("0.0.0-development", "<", "0.0.0"),
            ],
        );
        assert_eq!(cmp("1.2", "1.2.0"), None);
        assert_eq!(cmp("01.2.3", "1.2.3"), None);
        assert_eq!(cmp("V1.2.3", "1.2.3"), None);
    }

    #[test]
    fn go() {
        let cmp = |a: &str, b: &str| compare_with(Flavor::Go, a, b);
        assert_cases(
            cmp,
            &[
                ("v1.2.3", "=", "1.2.3"),
                ("v1", "=", "v1.0.0"),
                ("v1.2", "=", "v1.2.0"),
                ("v2.0.0+incompatible", "=", "v2.0.0"),
                ("v2.0.1+incompatible", ">", "v2.0.0"),
                (
                    "v0.0.0-20210101000000-abcdef123456",
                    "<",
                    "v0.0.0-20220101000000-abcdef123456",
                ),
                ("v0.0.0-20210101000000-abcdef123456", "<", "v0.0.1"),
                ("v1.2.4-0.20210101000000-abcdef123456", ">", "v1.2.3"),
                ("v1.2.4-0.20210101000000-abcdef123456", "<", "v1.2.4"),
                (
                    "v1.2.4-pre.0.20210101000000-abcdef123456",
                    ">",
                    "v1.2.4-pre",
                ),
                ("v1.21.0-rc.2", "<", "v1.21.0"),
            ],
        );
        assert_chain(
            cmp,
            &[
                "v0.0.0-20190101000000-000000000000",
                "v0.0.0-20200101000000-ffffffffffff",
                "v0.1.0",
                "v0.1.1-0.20200101000000-aaaaaaaaaaaa",
                "v0.1.1",
                "v1.0.0-rc.1",
                "v1.0.0",
                "v2.0.0+incompatible",
                "v2.0.1",
            ],
        );
        for bad in [
            "",
            "v",
            "v1.2-pre",
            "v1.2+meta",
            "v01.2.3",
            "v1.2.3-01",
            "vv1.2.3",
            "v1.2.3.4",
            "V1.2.3",
        ] {
            assert!(!is_valid(Flavor::Go, bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn nuget() {
        let cmp = |a: &str, b: &str| compare_with(Flavor::NuGet, a, b);
        assert_cases(
            cmp,
            &[
                ("1.0", "=", "1.0.0"),
                ("1", "=", "1.0.0.0"),
                ("1.0.0.1", ">", "1.0.0"),
                ("01.02.03", "=", "1.2.3"),
                ("1.0.0-BETA", "=", "1.0.0-beta"),
                ("1.0.0-beta.2", "<", "1.0.0-Beta.10"),
                ("1.0.0-alpha", "<", "1.0.0-Beta"),
                ("1.0.0-beta+abc", "=", "1.0.0-beta+def"),
                ("6.0.0-preview.7.21377.19", "<", "6.0.0-rc.1.21451.13"),
                ("6.0.0-rc.1.21451.13", "<", "6.0.0"),
            ],
        );
        for bad in [
            "",
            "1.2.3.4.5",
            "1.2.3-",
            "a",
            "1..2",
            "1.2.3-a..b",
            "v1.2.3",
        ] {
            assert!(!is_valid(Flavor::NuGet, bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn pub_dart() {
        let cmp = |a: &str, b: &str| compare_with(Flavor::Pub, a, b);
        assert_chain(
            cmp,
            &[
                "1.0.0-alpha",
                "1.0.0-alpha+build",
                "1.0.0-beta",
                "1.0.0",
                "1.0.0+1",
                "1.0.0+2",
                "1.0.0+10",
                "1.0.0+a",
                "1.0.1",
            ],
        );
        assert_eq!(cmp("01.0.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(cmp("1.0", "1.0.0"), None);
    }

    #[test]
    fn long_numbers() {
        let nines = "9".repeat(40);
        let ten = format!("1{}", "0".repeat(40));
        let npm = |a: &str, b: &str| compare_with(Flavor::Npm, a, b);
        assert_eq!(npm(&format!("{nines}.0.0"), "1.0.0"), None);
        assert_eq!(
            npm("9007199254740991.0.0", "1.0.0"),
            Some(Ordering::Greater)
        );
        assert_eq!(npm("9007199254740992.0.0", "1.0.0"), None);
        assert_eq!(npm(&format!("1.0.0-{}", "a".repeat(300)), "1.0.0"), None);
        for flavor in [
            Flavor::Strict,
            Flavor::Npm,
            Flavor::Go,
            Flavor::NuGet,
            Flavor::Pub,
        ] {
            let cmp = |a: &str, b: &str| compare_with(flavor, a, b);
            if flavor != Flavor::Npm {
                assert_eq!(
                    cmp(&format!("{nines}.0.0"), &format!("{ten}.0.0")),
                    Some(Ordering::Less)
                );
            }
            assert_eq!(
                cmp(&format!("1.0.0-{nines}"), &format!("1.0.0-{ten}")),
                Some(Ordering::Less)
            );
            assert_eq!(
                cmp(&format!("1.0.0-{nines}"), "1.0.0-a"),
                Some(Ordering::Less)
            );
        }
    }

    #[test]
    fn robust() {
        for flavor in [
            Flavor::Strict,
            Flavor::Npm,
            Flavor::Go,
            Flavor::NuGet,
            Flavor::Pub,
        ] {
            assert_robust(|a, b| compare_with(flavor, a, b));
        }
    }
}
