//! RubyGems versions, ordered as `Gem::Version#<=>` orders them.
//!
//! A version matches `[0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?`
//! (surrounding whitespace ignored); each `-` stands for `.pre.`. It is cut into
//! segments, each a run of digits (a number) or of letters (a string). Canonical
//! segments drop trailing zeros from the leading numeric part and from the rest,
//! so `1.0 == 1` and `1.0.a == 1.a`. Comparison pads with 0; a string segment
//! sorts before a number (so any letter makes a prerelease, below the release),
//! strings compare bytewise, numbers numerically.
//!
//! RubyGems reads an empty string as version 0; here it is refused like in the
//! other schemes.

use std::cmp::Ordering;

use crate::version::cmp_decimal;

/// One segment of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A run of digits, without leading zeros (`""` is zero).
    Number(String),
    /// A run of ASCII letters.
    Str(String),
}

impl Segment {
    fn is_zero(&self) -> bool {
        matches!(self, Segment::Number(n) if n.is_empty())
    }
}

fn ruby_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// True if `version` matches `Gem::Version::ANCHORED_VERSION_PATTERN` (and is not blank).
pub fn is_valid(version: &str) -> bool {
    let s = version.trim_matches(ruby_space);
    let b = s.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let mut i = digits;
    // (\.[0-9a-zA-Z]+)*
    while b.get(i) == Some(&b'.') {
        let n = b[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if i == b.len() {
        return true;
    }
    // -[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*
    if b[i] != b'-' {
        return false;
    }
    b[i + 1..].split(|&c| c == b'.').all(|part| {
        !part.is_empty() && part.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    })
}

/// The canonical segments of a valid version (`Gem::Version#canonical_segments`).
pub fn canonical_segments(version: &str) -> Option<Vec<Segment>> {
    if !is_valid(version) {
        return None;
    }
    let s = version.trim_matches(ruby_space);
    // "-" is read as ".pre."; only the segments matter, so add the "pre" segment.
    let mut segments = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            segments.push(Segment::Number(
                s[i..i + n].trim_start_matches('0').to_string(),
            ));
            i += n;
        } else if c.is_ascii_alphabetic() {
            let n = b[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            segments.push(Segment::Str(s[i..i + n].to_string()));
            i += n;
        } else {
            if c == b'-' {
                segments.push(Segment::Str("pre".to_string()));
            }
            i += 1;
        }
    }
    let split = segments
        .iter()
        .position(|s| matches!(s, Segment::Str(_)))
        .unwrap_or(segments.len());
    let mut strings = segments.split_off(split);
    let mut numbers = segments;
    for part in [&mut numbers, &mut strings] {
        while part.last().is_some_and(Segment::is_zero) {
            part.pop();
        }
    }
    numbers.extend(strings);
    Some(numbers)
}

/// Compares canonical segment lists as `Gem::Version#<=>` does.
pub fn compare_segments(a: &[Segment], b: &[Segment]) -> Ordering {
    let zero = Segment::Number(String::new());
    let n = a.len().max(b.len());
    for k in 0..n {
        let x = a.get(k).unwrap_or(&zero);
        let y = b.get(k).unwrap_or(&zero);
        let o = match (x, y) {
            (Segment::Number(x), Segment::Number(y)) => cmp_decimal(x, y),
            (Segment::Str(_), Segment::Number(_)) => Ordering::Less,
            (Segment::Number(_), Segment::Str(_)) => Ordering::Greater,
            (Segment::Str(x), Segment::Str(y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Compares two RubyGems versions; `None` if either is invalid.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(compare_segments(
        &canonical_segments(a)?,
        &canonical_segments(b)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testutil::{assert_cases, assert_chain, assert_robust};

    #[test]
    fn brief_cases() {
        assert_cases(
            compare,
            &[
                ("1.0.0.pre", "<", "1.0.0"),
                ("1.0.a", "<", "1.0.b"),
                ("1.0.b", "<", "1.0"),
                ("1.10", ">", "1.9"),
            ],
        );
    }

    /// Cases from RubyGems' test_gem_version.rb.
    #[test]
    fn rubygems_test_suite() {
        assert_cases(
            compare,
            &[
                ("1.0", "=", "1.0.0"),
                ("1.0", "=", "1"),
                ("1.8.2", ">", "0.0.0"),
                ("1.112", ">", "1.111"),
                ("0.0.0.0.0.2", ">", "0.0.0.0.0.1"),
                ("1.2.3.a", "<", "1.2.3"),
                ("1.2.3.a", "<", "1.2.3.b"),
                ("1.0.0.a10", ">", "1.0.0.a9"),
                ("1.0.0.a1.1", ">", "1.0.0.a1"),
                ("1.0.0.a1.1", "<", "1.0.0.a2"),
                ("5.a", "<", "5.0.0.rc2"),
                ("5.x", ">", "5.0.0.rc2"),
                ("1.9.3", "=", "1.9.3.0"),
                ("1.9.3.0", "=", "1.9.3"),
                ("1.0.0-rc1", "=", "1.0.0.pre.rc1"),
                ("1.0.0-rc1", "<", "1.0.0"),
                ("1.0.0-1", "<", "1.0.0"),
                ("1.0.0-1", "=", "1.0.0.pre.1"),
                ("1.0.a", "=", "1.a"),
                ("1.0.a.0", "=", "1.a"),
                ("1.a.0.1", ">", "1.a"),
                ("1.A", "<", "1.a"),
                ("0.8.1", "<", "0.8.1.1"),
                ("2.0.0.beta", "<", "2.0.0.rc1"),
                ("7.0.4", "<", "7.0.4.1"),
                ("7.0.4.3", "<", "7.0.5"),
                (" 1.0 ", "=", "1.0"),
                ("01.02", "=", "1.2"),
            ],
        );
    }

    #[test]
    fn chain() {
        assert_chain(
            compare,
            &[
                "0.9",
                "1.0.0.alpha",
                "1.0.0.alpha.2",
                "1.0.0.beta1",
                "1.0.0.pre",
                "1.0.0.rc1",
                "1.0.0.rc2",
                "1.0.0",
                "1.0.0.1",
                "1.0.1",
                "1.1.a",
                "1.1",
                "1.9",
                "1.10",
                "2",
            ],
        );
    }

    #[test]
    fn validity() {
        for good in [
            "1",
            "1.0",
            "1.0.a",
            "1.0.0-rc1",
            "1.0-rc.1-x",
            "1.0.0-1.a",
            "1.2.3A",
            " \t1.0\n",
        ] {
            assert!(is_valid(good), "{good:?} should be valid");
        }
        for bad in [
            "", " ", "a", "a.b", "1.", "1..2", "1.0-", "1-", "1.0-a.", "1.0-a..b", "1_0", "1.0_rc",
            "v1.0", "1.0 1", "1+1", "junk", "1.0\n1",
        ] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn long_numbers() {
        let nines = "9".repeat(40);
        let ten = format!("1{}", "0".repeat(40));
        assert_eq!(compare(&nines, &ten), Some(Ordering::Less));
        assert_eq!(
            compare(&format!("1.{nines}"), "1.9"),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn robust() {
        assert_robust(compare);
    }
}
