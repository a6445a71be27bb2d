//! Debian package versions, ordered as dpkg orders them.
//!
//! A version is `[epoch:]upstream[-revision]`: the epoch is an unsigned decimal
//! (absent = 0), and the revision is everything after the *last* hyphen (absent =
//! empty, which compares equal to `0`). Upstream and revision are compared with
//! dpkg's `verrevcmp`: alternating non-digit and digit runs; in non-digit runs
//! `~` sorts before everything (even the end of the string), letters sort before
//! non-letters; digit runs compare numerically.
//!
//! Parsing follows dpkg's `parseversion`: hard errors (empty version, embedded
//! blanks, an epoch that is empty, not a number (as `strtol` reads it), negative
//! or above `INT_MAX`, nothing after
//! the colon, an empty upstream version or revision) make the version invalid. What dpkg only
//! warns about (upstream not starting with a digit, unusual characters) is accepted
//! and compared all the same.

use std::cmp::Ordering;

/// A parsed Debian version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    /// The epoch (0 when absent).
    pub epoch: u32,
    /// The upstream version.
    pub upstream: &'a str,
    /// The Debian revision (empty when absent).
    pub revision: &'a str,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses a version as dpkg's `parseversion` does; `None` on a hard error.
pub fn parse(version: &str) -> Option<Version<'_>> {
    let s = version.trim_matches(is_blank);
    if s.is_empty() || s.contains(is_blank) {
        return None;
    }
    let (epoch, rest) = match s.find(':') {
        Some(colon) => {
            // strtol(): leading white space, an optional sign, then digits that
            // must run up to the colon.
            let field = s[..colon].trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
            let (negative, digits) = match field.as_bytes().first() {
                Some(b'+') => (false, &field[1..]),
                Some(b'-') => (true, &field[1..]),
                _ => (false, field),
            };
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let digits = digits.trim_start_matches('0');
            if negative && !digits.is_empty() {
                return None;
            }
            if digits.len() > 10 {
                return None;
            }
            let epoch: u64 = if digits.is_empty() {
                0
            } else {
                digits.parse().ok()?
            };
            if epoch > i32::MAX as u64 {
                return None;
            }
            let rest = &s[colon + 1..];
            if rest.is_empty() {
                return None;
            }
            (epoch as u32, rest)
        }
        None => (0, s),
    };
    let (upstream, revision) = match rest.rfind('-') {
        Some(hyphen) if hyphen + 1 == rest.len() => return None,
        Some(hyphen) => (&rest[..hyphen], &rest[hyphen + 1..]),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return None;
    }
    Some(Version {
        epoch,
        upstream,
        revision,
    })
}

/// True if dpkg would accept `version` (possibly with a warning).
pub fn is_valid(version: &str) -> bool {
    parse(version).is_some()
}

/// The sort weight of one byte in a non-digit run (0 stands for the end).
///
/// dpkg computes `c + 256` on a `char`; on amd64 (signed `char`) a byte above
/// 0x7f is negative there, so it weighs its unsigned value: after the letters,
/// before the ASCII punctuation.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) if c >= 0x80 => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: compares two upstream versions or two revisions.
pub fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Compares two parsed versions (epoch, then upstream, then revision).
pub fn compare_parsed(a: &Version<'_>, b: &Version<'_>) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

/// Compares two Debian versions; `None` if either is invalid.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(compare_parsed(&parse(a)?, &parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testutil::{assert_cases, assert_chain, assert_robust};

    #[test]
    fn brief_and_dpkg_cases() {
        assert_cases(
            compare,
            &[
                ("1.0~rc1", "<", "1.0"),
                ("1:0.9", ">", "2.0"),
                ("1.2-1", "<", "1.2-1.1"),
                ("2.30-1~bpo1", "<", "2.30-1"),
                ("3.0.11-1~deb12u2", "<", "3.0.11-1~deb12u3"),
                // dpkg's own t-version.c
                ("0", "=", "0:0"),
                ("0:0-0", "=", "0"),
                ("0:0.0-0.0", "=", "0.0-0.0"),
                ("0-00", "=", "00-0"),
                ("1:2-3", "=", "1:2-3"),
                ("0:0-0", "<", "1:0-0"),
                ("a-0", "<", "b-0"),
                ("0-a", "<", "0-b"),
                ("1-1", "<", "2-1"),
                ("1-1", "<", "1-2"),
                ("5:1", "=", "5:1-0"),
                ("0:0-0-0", ">", "0:0-0"),
                ("0:0:0-0", ">", "0:0-0"),
                ("  \t0:0-1", "=", "0:0-1\t  "),
                // more real-world orderings
                ("1.0", "<", "1.0a"),
                ("1.0a", "<", "1.0+"),
                ("1.0", "<", "1.0.1"),
                ("1.0.9", "<", "1.0.10"),
                ("2.36.1-8+deb11u1", "<", "2.36.1-8+deb11u2"),
                ("7.74.0-1.3+deb11u7", ">", "7.74.0-1.3+deb11u1"),
                ("1.1.1n-0+deb11u5", "<", "1.1.1w-0+deb11u1"),
                ("2.9.14+dfsg-1.3~deb12u1", "<", "2.9.14+dfsg-1.3"),
                ("1:2.3.4", "<", "2:1.0"),
                ("1.18.0-6ubuntu14.4", "<", "1.18.0-6ubuntu14.5"),
                ("1.0-1", "=", "1.0-01"),
                ("1.00", "=", "1.0"),
                ("10", ">", "9"),
            ],
        );
    }

    #[test]
    fn tilde_chain() {
        assert_chain(
            compare,
            &[
                "1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+", "1.0.1", "1.1~rc1", "1.1",
            ],
        );
        assert_chain(
            compare,
            &[
                "1.2.3-1~bpo10+1",
                "1.2.3-1",
                "1.2.3-1+b1",
                "1.2.3-1.1",
                "1.2.3-2",
                "1.2.4~rc1-1",
                "1.2.4-1",
                "1:0.1-1",
            ],
        );
    }

    #[test]
    fn parsing() {
        let v = parse("1:2.3-4-5").unwrap();
        assert_eq!((v.epoch, v.upstream, v.revision), (1, "2.3-4", "5"));
        let v = parse("2.3").unwrap();
        assert_eq!((v.epoch, v.upstream, v.revision), (0, "2.3", ""));
        let v = parse("0:09azAZ.-+~:-0").unwrap();
        assert_eq!(v.upstream, "09azAZ.-+~:");
        // Warnings only: still accepted.
        assert!(is_valid("0:abc3-0"));
        assert!(is_valid("0:0a!-0"));
        assert!(is_valid("2147483647:1"));
        // strtol() takes a sign; "-0" is not negative.
        assert_eq!(parse("+1:0").map(|v| v.epoch), Some(1));
        assert_eq!(parse("-0:0").map(|v| v.epoch), Some(0));
        // Hard errors.
        for bad in [
            "",
            "  ",
            "0:",
            "1:",
            "0:0 0-1",
            "-1:0-1",
            "999999999999999999999999:0-1",
            "2147483648:1",
            "a:0-0",
            "A:0-0",
            ":1.0",
            "-0",
            "0:-0",
            "0:0-",
            "1.0-",
            "-",
            "::",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} should be invalid");
            assert_eq!(compare(bad, "1.0"), None);
        }
    }

    #[test]
    fn non_ascii_bytes_sort_between_letters_and_punctuation() {
        // As dpkg on amd64 orders them (it only warns about such versions).
        assert_cases(
            compare,
            &[
                ("1\u{e9}", ">", "1z"),
                ("1\u{e9}", "<", "1+"),
                ("1\u{e9}", "<", "1_"),
            ],
        );
    }

    #[test]
    fn long_digit_runs() {
        let nines = "9".repeat(40);
        let ten = format!("1{}", "0".repeat(40));
        assert_eq!(compare(&nines, &ten), Some(Ordering::Less));
        assert_eq!(
            compare(&format!("1.{nines}"), "1.10"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(&format!("1.0-{nines}"), "1.0-1"),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn robust() {
        assert_robust(compare);
    }
}
