//! RPM package versions, ordered as rpm orders them.
//!
//! A version is `[epoch:]version[-release]` (EVR). Epochs compare numerically
//! (absent = 0); version and release are compared with `rpmvercmp`: the strings
//! are cut into maximal runs of ASCII digits or ASCII letters, everything else
//! separating them. `~` sorts before everything (even the end of the string);
//! `^` sorts after the end of the string but before any further segment; a
//! numeric segment beats an alphabetic one; numeric segments compare as numbers
//! (leading zeros ignored, any length); alphabetic ones with `strcmp`; when all
//! segments are equal the string with segments left over is newer.
//!
//! As in rpm's `rpmverCmp`, a missing release sorts before any release, even an
//! empty one (`1.0 < 1.0-`).

use std::cmp::Ordering;

/// A parsed epoch:version-release triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evr<'a> {
    /// The epoch digits (`"0"` when absent).
    pub epoch: &'a str,
    /// The version.
    pub version: &'a str,
    /// The release, if the string had one.
    pub release: Option<&'a str>,
}

/// Parses `[epoch:]version[-release]` the way rpm's `parseEVR` splits it.
///
/// Returns `None` for an empty string, an empty version, a version or release
/// still holding a `:` (i.e. an epoch that is not a number), or whitespace.
pub fn parse(evr: &str) -> Option<Evr<'_>> {
    let s = evr.trim();
    if s.is_empty() || s.contains(char::is_whitespace) {
        return None;
    }
    let digits_end = s
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    let (epoch, rest) = if s.as_bytes().get(digits_end) == Some(&b':') {
        let e = &s[..digits_end];
        (if e.is_empty() { "0" } else { e }, &s[digits_end + 1..])
    } else {
        ("0", s)
    };
    let (version, release) = match rest.rfind('-') {
        Some(h) => (&rest[..h], Some(&rest[h + 1..])),
        None => (rest, None),
    };
    if version.is_empty() || version.contains(':') || release.is_some_and(|r| r.contains(':')) {
        return None;
    }
    Some(Evr {
        epoch,
        version,
        release,
    })
}

/// True if `evr` parses (see [`parse`]).
pub fn is_valid(evr: &str) -> bool {
    parse(evr).is_some()
}

/// rpm's `rpmvercmp` on one version (or release) string.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());

        // Tilde sorts before everything else.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        // Caret: like tilde, except that the end of the string sorts lower.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        if i >= a.len() || j >= b.len() {
            break;
        }

        let isnum = a[i].is_ascii_digit();
        let class = |c: &u8| {
            if isnum {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let ea = i + a[i..].iter().take_while(|c| class(c)).count();
        let eb = j + b[j..].iter().take_while(|c| class(c)).count();
        if eb == j {
            // Different types: numeric segments are newer than alphabetic ones.
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (&a[i..ea], &b[j..eb]);
        let r = if isnum {
            // Both are ASCII digits, hence valid UTF-8.
            crate::version::cmp_decimal(
                std::str::from_utf8(sa).unwrap_or(""),
                std::str::from_utf8(sb).unwrap_or(""),
            )
        } else {
            sa.cmp(sb)
        };
        if r != Ordering::Equal {
            return r;
        }
        i = ea;
        j = eb;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Compares two parsed EVRs: epoch, then version, then release (`rpmverCmp`).
pub fn compare_evr(a: &Evr<'_>, b: &Evr<'_>) -> Ordering {
    crate::version::cmp_decimal(a.epoch, b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        })
}

/// Compares two `[epoch:]version[-release]` strings; `None` if either is invalid.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(compare_evr(&parse(a)?, &parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testutil::{assert_cases, assert_chain, assert_robust};

    /// rpm's own `tests/rpmvercmp.at`.
    const RPMVERCMP: &[(&str, &str, i32)] = &[
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0", "1.0", 1),
        ("2.0.1", "2.0.1", 0),
        ("2.0", "2.0.1", -1),
        ("2.0.1", "2.0", 1),
        ("2.0.1a", "2.0.1a", 0),
        ("2.0.1a", "2.0.1", 1),
        ("2.0.1", "2.0.1a", -1),
        ("5.5p1", "5.5p1", 0),
        ("5.5p1", "5.5p2", -1),
        ("5.5p2", "5.5p1", 1),
        ("5.5p10", "5.5p10", 0),
        ("5.5p1", "5.5p10", -1),
        ("5.5p10", "5.5p1", 1),
        ("10xyz", "10.1xyz", -1),
        ("10.1xyz", "10xyz", 1),
        ("xyz10", "xyz10", 0),
        ("xyz10", "xyz10.1", -1),
        ("xyz10.1", "xyz10", 1),
        ("xyz.4", "xyz.4", 0),
        ("xyz.4", "8", -1),
        ("8", "xyz.4", 1),
        ("xyz.4", "2", -1),
        ("2", "xyz.4", 1),
        ("5.5p2", "5.6p1", -1),
        ("5.6p1", "5.5p2", 1),
        ("5.6p1", "6.5p1", -1),
        ("6.5p1", "5.6p1", 1),
        ("6.0.rc1", "6.0", 1),
        ("6.0", "6.0.rc1", -1),
        ("10b2", "10a1", 1),
        ("10a2", "10b2", -1),
        ("1.0aa", "1.0aa", 0),
        ("1.0a", "1.0aa", -1),
        ("1.0aa", "1.0a", 1),
        ("10.0001", "10.0001", 0),
        ("10.0001", "10.1", 0),
        ("10.1", "10.0001", 0),
        ("10.0001", "10.0039", -1),
        ("10.0039", "10.0001", 1),
        ("4.999.9", "5.0", -1),
        ("5.0", "4.999.9", 1),
        ("20101121", "20101121", 0),
        ("20101121", "20101122", -1),
        ("20101122", "20101121", 1),
        ("2_0", "2_0", 0),
        ("2.0", "2_0", 0),
        ("2_0", "2.0", 0),
        ("a", "a", 0),
        ("a+", "a+", 0),
        ("a+", "a_", 0),
        ("a_", "a+", 0),
        ("+a", "+a", 0),
        ("+a", "_a", 0),
        ("_a", "+a", 0),
        ("+_", "+_", 0),
        ("_+", "+_", 0),
        ("_+", "_+", 0),
        ("+", "_", 0),
        ("_", "+", 0),
        ("1.0~rc1", "1.0~rc1", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0~rc2", "1.0~rc1", 1),
        ("1.0~rc1~git123", "1.0~rc1~git123", 0),
        ("1.0~rc1~git123", "1.0~rc1", -1),
        ("1.0~rc1", "1.0~rc1~git123", 1),
        ("1.0^", "1.0^", 0),
        ("1.0^", "1.0", 1),
        ("1.0", "1.0^", -1),
        ("1.0^git1", "1.0^git1", 0),
        ("1.0^git1", "1.0", 1),
        ("1.0", "1.0^git1", -1),
        ("1.0^git1", "1.0^git2", -1),
        ("1.0^git2", "1.0^git1", 1),
        ("1.0^git1", "1.01", -1),
        ("1.01", "1.0^git1", 1),
        ("1.0^20160101", "1.0^20160101", 0),
        ("1.0^20160101", "1.0.1", -1),
        ("1.0.1", "1.0^20160101", 1),
        ("1.0^20160101^git1", "1.0^20160101^git1", 0),
        ("1.0^20160102", "1.0^20160101^git1", 1),
        ("1.0^20160101^git1", "1.0^20160102", -1),
        ("1.0~rc1^git1", "1.0~rc1^git1", 0),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc1^git1", -1),
        ("1.0^git1~pre", "1.0^git1~pre", 0),
        ("1.0^git1", "1.0^git1~pre", 1),
        ("1.0^git1~pre", "1.0^git1", -1),
        // Documented oddities (RhBug:811992): letters glued to digits.
        ("1b.fc17", "1b.fc17", 0),
        ("1b.fc17", "1.fc17", -1),
        ("1.fc17", "1b.fc17", 1),
        ("1g.fc17", "1g.fc17", 0),
        ("1g.fc17", "1.fc17", 1),
        ("1.fc17", "1g.fc17", -1),
        // Non-ASCII characters are separators, hence all equal.
        ("1.1.\u{3b1}", "1.1.\u{3b1}", 0),
        ("1.1.\u{3b1}", "1.1.\u{3b2}", 0),
        ("1.1.\u{3b1}\u{3b1}", "1.1.\u{3b1}", 0),
    ];

    #[test]
    fn rpm_test_suite() {
        for &(a, b, want) in RPMVERCMP {
            assert_eq!(rpmvercmp(a, b), want.cmp(&0), "rpmvercmp({a}, {b})");
        }
    }

    #[test]
    fn evr_cases() {
        assert_cases(
            compare,
            &[
                ("1.0~rc1", "<", "1.0"),
                ("1.0^", ">", "1.0"),
                ("1.0^git1", "<", "1.01"),
                ("2.0.1", ">", "2.0"),
                ("5.5p1", "<", "5.5p2"),
                ("1.0a", ">", "1.0"),
                ("1:1.0-1", ">", "2.0-1"),
                ("0:1.0-1", "=", "1.0-1"),
                (":1.0-1", "=", "1.0-1"),
                ("1.0-1.el9", "<", "1.0-1.el9_1"),
                ("1.0-1.el9_1", "<", "1.0-2.el9"),
                ("3.0.7-16.el9_2", "<", "3.0.7-18.el9_2"),
                ("1:3.0.7-27.el9", ">", "3.0.8-1.el9"),
                ("2.34-60.el9", "<", "2.34-60.el9_2.7"),
                ("4.18.0-477.10.1.el8_8", "<", "4.18.0-477.13.1.el8_8"),
                ("1.0", "<", "1.0-1"),
                ("1.0", "<", "1.0-"),
                ("1.0-", "=", "1.0-."),
                ("9", "<", "09-"),
                ("1.0-1", "=", "1.0-01"),
                ("1.0.1", "=", "1.00.1"),
                ("10:1", ">", "9:2"),
            ],
        );
    }

    #[test]
    fn chain() {
        assert_chain(
            compare,
            &[
                "1.0~rc1-1",
                "1.0~rc1^git1-1",
                "1.0-1",
                "1.0-1.el9",
                "1.0-2",
                "1.0^git1-1",
                "1.0a-1",
                "1.0.1-1",
                "1.1-1",
                "1:0.1-1",
            ],
        );
    }

    #[test]
    fn parsing() {
        let e = parse("2:1.2.3-4.el9").unwrap();
        assert_eq!(
            (e.epoch, e.version, e.release),
            ("2", "1.2.3", Some("4.el9"))
        );
        let e = parse("1.2.3").unwrap();
        assert_eq!((e.epoch, e.version, e.release), ("0", "1.2.3", None));
        let e = parse("1.2-3-4").unwrap();
        assert_eq!((e.version, e.release), ("1.2-3", Some("4")));
        for bad in ["", " ", "1:", "-", "-1", "::", "a:1.0", "1:2:3", "1.0 -1"] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn long_digit_runs() {
        let nines = "9".repeat(40);
        assert_eq!(
            rpmvercmp(&nines, &format!("1{}", "0".repeat(40))),
            Ordering::Less
        );
        assert_eq!(rpmvercmp(&format!("1.{nines}"), "1.99"), Ordering::Greater);
        assert_eq!(
            compare(&format!("{nines}:1"), "1:2"),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn robust() {
        assert_robust(compare);
    }
}
