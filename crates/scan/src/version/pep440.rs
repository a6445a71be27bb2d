//! Python package versions (PEP 440), ordered as the `packaging` library orders them.
//!
//! `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the spec's normalisation:
//! case-insensitive, optional leading `v`, surrounding whitespace ignored, `-`, `_`
//! and `.` accepted as separators (or none), alternate spellings (`alpha`, `beta`,
//! `c`, `pre`, `preview`; `rev`, `r`, a bare `-N` post-release), implicit numbers
//! (`1.0a` is `1.0a0`). Trailing zeros in the release are insignificant
//! (`1.0 == 1.0.0`). Order: epoch, release, then dev < pre < final < post, where
//! a version with only a dev part sorts before its pre-releases (`1.0.dev1 <
//! 1.0a1`); local versions sort after the public one, segment-wise, numeric
//! segments above alphanumeric ones.

use std::cmp::Ordering;

use crate::version::cmp_decimal;

/// Pre-release kinds, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreKind {
    /// `a`, `alpha`.
    Alpha,
    /// `b`, `beta`.
    Beta,
    /// `rc`, `c`, `pre`, `preview`.
    Rc,
}

/// One segment of a local version label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSegment {
    /// All digits (compared as a number).
    Number(String),
    /// Anything else (lower-cased, compared as a string).
    Text(String),
}

/// A parsed PEP 440 version; numbers are kept as digit strings (any size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Epoch (`"0"` when absent).
    pub epoch: String,
    /// Release numbers.
    pub release: Vec<String>,
    /// Pre-release kind and number.
    pub pre: Option<(PreKind, String)>,
    /// Post-release number.
    pub post: Option<String>,
    /// Development release number.
    pub dev: Option<String>,
    /// Local version label segments.
    pub local: Option<Vec<LocalSegment>>,
}

fn digits_end(b: &[u8], i: usize) -> usize {
    i + b
        .get(i..)
        .map_or(0, |t| t.iter().take_while(|c| c.is_ascii_digit()).count())
}

fn is_sep(c: Option<&u8>) -> bool {
    matches!(c, Some(b'-' | b'_' | b'.'))
}

/// Positions after an optional `[-_.]`, greedy first (as the regex tries them).
fn opt_sep(b: &[u8], i: usize) -> Vec<usize> {
    if is_sep(b.get(i)) {
        vec![i + 1, i]
    } else {
        vec![i]
    }
}

/// One way to match `[-_.]? label [-_.]? [0-9]*`: where it ends, which label,
/// and the span of the number if there is one.
struct Labelled {
    end: usize,
    label: usize,
    number: Option<(usize, usize)>,
}

/// Candidates for `[-_.]? label [-_.]? [0-9]*` (labels tried in order).
fn labelled(b: &[u8], i: usize, labels: &[&str]) -> Vec<Labelled> {
    let mut out = Vec::new();
    for i1 in opt_sep(b, i) {
        for (k, label) in labels.iter().enumerate() {
            if b.get(i1..).is_some_and(|t| t.starts_with(label.as_bytes())) {
                let i2 = i1 + label.len();
                for i3 in opt_sep(b, i2) {
                    let i4 = digits_end(b, i3);
                    let n = (i4 > i3).then_some((i3, i4));
                    out.push(Labelled {
                        end: i4,
                        label: k,
                        number: n,
                    });
                }
            }
        }
    }
    out
}

/// Parses the local label `[a-z0-9]+([-_.][a-z0-9]+)*`, which must run to the end.
fn parse_local(s: &str) -> Option<Vec<LocalSegment>> {
    let mut out = Vec::new();
    for part in s.split(['-', '_', '.']) {
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        out.push(if part.bytes().all(|c| c.is_ascii_digit()) {
            LocalSegment::Number(part.to_string())
        } else {
            LocalSegment::Text(part.to_string())
        });
    }
    Some(out)
}

/// Parses a version per PEP 440 (the `packaging` regex, with its backtracking);
/// `None` if it is not a valid version.
pub fn parse(version: &str) -> Option<Version> {
    let lower = version.trim().to_ascii_lowercase();
    let s = lower.as_str();
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'v') {
        i = 1;
    }
    let mut epoch = "0".to_string();
    let e = digits_end(b, i);
    if e > i && b.get(e) == Some(&b'!') {
        epoch = s[i..e].to_string();
        i = e + 1;
    }
    let mut release = Vec::new();
    let e = digits_end(b, i);
    if e == i {
        return None;
    }
    release.push(s[i..e].to_string());
    i = e;
    while b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        let e = digits_end(b, i + 1);
        release.push(s[i + 1..e].to_string());
        i = e;
    }

    let num =
        |n: Option<(usize, usize)>| n.map_or_else(|| "0".to_string(), |(x, y)| s[x..y].to_string());

    // pre, post, dev candidates in regex priority order; the first combination
    // that leaves a valid (or no) local label wins.
    const PRE: &[&str] = &["a", "b", "c", "rc", "alpha", "beta", "pre", "preview"];
    let mut pre_c: Vec<(usize, Option<(PreKind, String)>)> = labelled(b, i, PRE)
        .into_iter()
        .map(|Labelled { end, label, number }| {
            let kind = match PRE[label] {
                "a" | "alpha" => PreKind::Alpha,
                "b" | "beta" => PreKind::Beta,
                _ => PreKind::Rc,
            };
            (end, Some((kind, num(number))))
        })
        .collect();
    pre_c.push((i, None));

    for (i_pre, pre) in pre_c {
        let mut post_c: Vec<(usize, Option<String>)> = Vec::new();
        if b.get(i_pre) == Some(&b'-') {
            let e = digits_end(b, i_pre + 1);
            if e > i_pre + 1 {
                post_c.push((e, Some(s[i_pre + 1..e].to_string())));
            }
        }
        post_c.extend(
            labelled(b, i_pre, &["post", "rev", "r"])
                .into_iter()
                .map(|l| (l.end, Some(num(l.number)))),
        );
        post_c.push((i_pre, None));

        for (i_post, post) in post_c {
            let mut dev_c: Vec<(usize, Option<String>)> = labelled(b, i_post, &["dev"])
                .into_iter()
                .map(|l| (l.end, Some(num(l.number))))
                .collect();
            dev_c.push((i_post, None));

            for (i_dev, dev) in dev_c {
                let local = match b.get(i_dev) {
                    None => None,
                    Some(b'+') => match parse_local(&s[i_dev + 1..]) {
                        Some(l) => Some(l),
                        None => continue,
                    },
                    Some(_) => continue,
                };
                return Some(Version {
                    epoch,
                    release,
                    pre,
                    post,
                    dev,
                    local,
                });
            }
        }
    }
    None
}

/// True if `version` is a valid PEP 440 version.
pub fn is_valid(version: &str) -> bool {
    parse(version).is_some()
}

fn cmp_release(a: &[String], b: &[String]) -> Ordering {
    // Trailing zeros are insignificant: drop them.
    let trim = |r: &[String]| {
        r.len()
            - r.iter()
                .rev()
                .take_while(|x| x.bytes().all(|c| c == b'0'))
                .count()
    };
    let (a, b) = (&a[..trim(a)], &b[..trim(b)]);
    for (x, y) in a.iter().zip(b) {
        let o = cmp_decimal(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// The position of the pre-release in the ordering: -inf, a value, or +inf.
fn pre_key(v: &Version) -> (i8, Option<(PreKind, &str)>) {
    match &v.pre {
        None if v.post.is_none() && v.dev.is_some() => (-1, None),
        None => (1, None),
        Some((k, n)) => (0, Some((*k, n.as_str()))),
    }
}

fn cmp_opt_num(a: Option<&str>, b: Option<&str>, missing_high: bool) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => cmp_decimal(x, y),
        (None, None) => Ordering::Equal,
        (None, Some(_)) if missing_high => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) if missing_high => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
    }
}

fn cmp_local(a: Option<&[LocalSegment]>, b: Option<&[LocalSegment]>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            for (x, y) in a.iter().zip(b) {
                let o = match (x, y) {
                    (LocalSegment::Number(x), LocalSegment::Number(y)) => cmp_decimal(x, y),
                    (LocalSegment::Number(_), LocalSegment::Text(_)) => Ordering::Greater,
                    (LocalSegment::Text(_), LocalSegment::Number(_)) => Ordering::Less,
                    (LocalSegment::Text(x), LocalSegment::Text(y)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.len().cmp(&b.len())
        }
    }
}

/// Compares two parsed versions.
pub fn compare_parsed(a: &Version, b: &Version) -> Ordering {
    cmp_decimal(&a.epoch, &b.epoch)
        .then_with(|| cmp_release(&a.release, &b.release))
        .then_with(|| {
            let (ka, kb) = (pre_key(a), pre_key(b));
            ka.0.cmp(&kb.0).then_with(|| match (ka.1, kb.1) {
                (Some((x, n)), Some((y, m))) => x.cmp(&y).then_with(|| cmp_decimal(n, m)),
                _ => Ordering::Equal,
            })
        })
        .then_with(|| cmp_opt_num(a.post.as_deref(), b.post.as_deref(), false))
        .then_with(|| cmp_opt_num(a.dev.as_deref(), b.dev.as_deref(), true))
        .then_with(|| cmp_local(a.local.as_deref(), b.local.as_deref()))
}

/// Compares two PEP 440 versions; `None` if either is invalid.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(compare_parsed(&parse(a)?, &parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testutil::{assert_cases, assert_chain, assert_robust};

    #[test]
    fn spec_ordering() {
        // The example list from PEP 440's "Summary of permitted suffixes and relative ordering".
        assert_chain(
            compare,
            &[
                "1.dev0",
                "1.0.dev456",
                "1.0a1",
                "1.0a2.dev456",
                "1.0a12.dev456",
                "1.0a12",
                "1.0b1.dev456",
                "1.0b2",
                "1.0b2.post345.dev456",
                "1.0b2.post345",
                "1.0rc1.dev456",
                "1.0rc1",
                "1.0",
                "1.0+abc.5",
                "1.0+abc.7",
                "1.0+5",
                "1.0.post456.dev34",
                "1.0.post456",
                "1.0.15",
                "1.1.dev1",
            ],
        );
    }

    #[test]
    fn packaging_test_ordering() {
        // From packaging's tests/test_version.py (sorted list of versions).
        assert_chain(
            compare,
            &[
                "1.0.dev456",
                "1.0a1",
                "1.0a2.dev456",
                "1.0a12.dev456",
                "1.0a12",
                "1.0b1.dev456",
                "1.0b2",
                "1.0b2.post345.dev456",
                "1.0b2.post345",
                "1.0b2-346",
                "1.0c1.dev456",
                "1.0c1",
                "1.0rc2",
                "1.0c3",
                "1.0",
                "1.0.post456.dev34",
                "1.0.post456",
                "1.1.dev1",
                "1.2+123abc",
                "1.2+123abc456",
                "1.2+abc",
                "1.2+abc123",
                "1.2+abc123def",
                "1.2+1234.abc",
                "1.2+123456",
                "1.2.r32+123456",
                "1.2.rev33+123456",
                "1!1.0.dev456",
                "1!1.0a1",
                "1!1.0",
                "1!1.0.post456",
                "1!1.2.rev33+123456",
            ],
        );
    }

    #[test]
    fn normalisation_equalities() {
        assert_cases(
            compare,
            &[
                ("1.0", "=", "1.0.0"),
                ("1.0", "=", "1"),
                ("1.0.0.0", "=", "1"),
                ("0", "=", "0.0"),
                ("v1.0", "=", "1.0"),
                ("V1.0", "=", "1.0"),
                (" 1.0\n", "=", "1.0"),
                ("1.0ALPHA1", "=", "1.0a1"),
                ("1.0-alpha-1", "=", "1.0a1"),
                ("1.0.alpha.1", "=", "1.0a1"),
                ("1.0_a_1", "=", "1.0a1"),
                ("1.0a", "=", "1.0a0"),
                ("1.0beta2", "=", "1.0b2"),
                ("1.0c1", "=", "1.0rc1"),
                ("1.0pre1", "=", "1.0rc1"),
                ("1.0preview1", "=", "1.0rc1"),
                ("1.0-1", "=", "1.0.post1"),
                ("1.0post", "=", "1.0.post0"),
                ("1.0-r4", "=", "1.0.post4"),
                ("1.0rev4", "=", "1.0.post4"),
                ("1.0-post-4", "=", "1.0.post4"),
                ("1.0dev", "=", "1.0.dev0"),
                ("1.0-dev-2", "=", "1.0.dev2"),
                ("1.0a.", "=", "1.0a0"),
                ("1.0a-1", "=", "1.0a1"),
                ("1.0+ABC", "=", "1.0+abc"),
                ("1.0+1-2_3", "=", "1.0+1.2.3"),
                ("1.0+01", "=", "1.0+1"),
                ("0!1.0", "=", "1.0"),
                ("1.01", "=", "1.1"),
                ("1.0", "<", "1!0.1"),
                ("2.0", ">", "1.999999"),
                ("1.0.dev1", "<", "1.0a1"),
                ("1.0a1.post1.dev1", "<", "1.0a1.post1"),
                ("1.0a1.post1", "<", "1.0a2.dev1"),
                ("1.0.post1.dev1", ">", "1.0"),
                ("1.0+local", ">", "1.0"),
                ("1.0+local", "<", "1.0.post1"),
                ("1.0+a", "<", "1.0+0"),
                ("1.0+a.b", ">", "1.0+a"),
            ],
        );
    }

    #[test]
    fn parse_fields() {
        let v = parse("2!1.2.3rc4.post5.dev6+ubuntu.1").unwrap();
        assert_eq!(v.epoch, "2");
        assert_eq!(v.release, ["1", "2", "3"]);
        assert_eq!(v.pre, Some((PreKind::Rc, "4".to_string())));
        assert_eq!(v.post.as_deref(), Some("5"));
        assert_eq!(v.dev.as_deref(), Some("6"));
        assert_eq!(
            v.local,
            Some(vec![
                LocalSegment::Text("ubuntu".into()),
                LocalSegment::Number("1".into())
            ])
        );
        let v = parse("1.0-1").unwrap();
        assert_eq!((v.pre, v.post.as_deref()), (None, Some("1")));
    }

    #[test]
    fn invalid() {
        for bad in [
            "",
            " ",
            "v",
            "french toast",
            "1.0-",
            "1.0.",
            "1..0",
            ".1",
            "1.0+",
            "1.0+a..b",
            "1.0+a_",
            "1.0+\u{e9}",
            "1.0a1a2",
            "1.0.post1.post2",
            "1.0.dev1.dev2",
            "1.0.dev1.post1",
            "1.0.dev1a1",
            "1.0-foo",
            "1!",
            "!1",
            "1!2!3",
            "1.0 1",
            "1.0~rc1",
            "1.0^1",
            "1.0--1",
            "1.0.-1",
        ] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
        // Valid: the regex allows a separator after a label with no number.
        for good in [
            "1.0-r",
            "1.0-r-",
            "1.0a-",
            "1.0.post.",
            "1.0.dev-",
            "1.0rc",
            "1.0-1.dev1",
        ] {
            assert!(is_valid(good), "{good:?} should be valid");
        }
    }

    #[test]
    fn long_numbers() {
        let nines = "9".repeat(40);
        let ten = format!("1{}", "0".repeat(40));
        assert_eq!(compare(&nines, &ten), Some(Ordering::Less));
        assert_eq!(
            compare(&format!("{nines}!1.0"), "1!2.0"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(&format!("1.0.post{nines}"), "1.0.post1"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(&format!("1.0+{nines}"), "1.0+1"),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn robust() {
        assert_robust(compare);
    }
}
