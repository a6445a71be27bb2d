//! Alpine package versions, ordered as apk-tools orders them.
//!
//! Grammar (apk-tools `version.c`): `digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}`.
//! Tokens are compared in order while both versions have a token of the same kind:
//! numbers numerically (but a dotted component with a leading zero compares as a
//! string, as Gentoo does), the letter by its character, suffixes by their rank
//! `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`, the
//! commit hash as a string, the `-rN` revision numerically. When one version runs
//! out of tokens first, the other is newer unless its next token is a
//! pre-release suffix.
//!
//! This follows apk-tools 3 (`src/version.c` since its 2024 rewrite, which also
//! added `~hash`). apk-tools 2.x agrees on ordinary versions but differs in
//! corners: it accepted digits right after the letter (`1.2a1`, invalid here),
//! ordered components with leading zeros differently (`1.0` vs `1.00`), and
//! refused components of 18 digits or more.

use std::cmp::Ordering;

/// Token kinds, in the order apk-tools declares them (the order matters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix ranks; `NONE` is the rank of "no suffix".
const SUFFIXES: &[&str] = &[
    "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p",
];
const SUFFIX_NONE: usize = 4;

/// The lexer state: the current token and the text it covers.
#[derive(Debug, Clone, Copy)]
struct State<'a> {
    token: Token,
    suffix: usize,
    value: &'a [u8],
    rest: &'a [u8],
}

impl<'a> State<'a> {
    fn first(s: &'a [u8]) -> Self {
        let mut st = State {
            token: Token::InitialDigit,
            suffix: SUFFIX_NONE,
            value: &[],
            rest: s,
        };
        st.digits();
        st
    }

    /// Consumes a run of digits as the current token's value.
    fn digits(&mut self) {
        let n = self.rest.iter().take_while(|c| c.is_ascii_digit()).count();
        self.value = &self.rest[..n];
        self.rest = &self.rest[n..];
        if n == 0 {
            self.token = Token::Invalid;
        }
    }

    fn next(&mut self) {
        let Some(&c) = self.rest.first() else {
            self.token = Token::End;
            return;
        };
        match c {
            b'a'..=b'z' => {
                if self.token > Token::Digit {
                    return self.invalid();
                }
                self.value = &self.rest[..1];
                self.rest = &self.rest[1..];
                self.token = Token::Letter;
            }
            b'.' | b'0'..=b'9' => {
                if c == b'.' {
                    if self.token > Token::Digit {
                        return self.invalid();
                    }
                    self.rest = &self.rest[1..];
                }
                self.token = match self.token {
                    Token::InitialDigit | Token::Digit => Token::Digit,
                    Token::Suffix => Token::SuffixNo,
                    _ => return self.invalid(),
                };
                self.digits();
            }
            b'_' => {
                if self.token > Token::SuffixNo {
                    return self.invalid();
                }
                self.rest = &self.rest[1..];
                let n = self
                    .rest
                    .iter()
                    .take_while(|c| c.is_ascii_lowercase())
                    .count();
                self.value = &self.rest[..n];
                self.rest = &self.rest[n..];
                match SUFFIXES
                    .iter()
                    .position(|s| !s.is_empty() && s.as_bytes() == self.value)
                {
                    Some(i) => {
                        self.suffix = i;
                        self.token = Token::Suffix;
                    }
                    None => self.invalid(),
                }
            }
            b'~' => {
                if self.token >= Token::CommitHash {
                    return self.invalid();
                }
                self.rest = &self.rest[1..];
                let n = self
                    .rest
                    .iter()
                    .take_while(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
                    .count();
                self.value = &self.rest[..n];
                self.rest = &self.rest[n..];
                if n == 0 {
                    return self.invalid();
                }
                self.token = Token::CommitHash;
            }
            b'-' => {
                if self.token >= Token::RevisionNo || !self.rest.starts_with(b"-r") {
                    return self.invalid();
                }
                self.rest = &self.rest[2..];
                self.token = Token::RevisionNo;
                self.digits();
            }
            _ => self.invalid(),
        }
    }

    fn invalid(&mut self) {
        self.token = Token::Invalid;
    }
}

fn as_str(b: &[u8]) -> &str {
    // Token values are ASCII by construction.
    std::str::from_utf8(b).unwrap_or("")
}

/// apk-tools' `apk_blob_sort`: bytewise, then shorter first.
fn blob_sort(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

fn token_cmp(a: &State<'_>, b: &State<'_>) -> Ordering {
    match a.token {
        Token::Digit if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => {
            // A leading zero: raw string comparison, as in the Gentoo spec.
            blob_sort(a.value, b.value)
        }
        Token::Digit | Token::InitialDigit | Token::SuffixNo | Token::RevisionNo => {
            crate::version::cmp_decimal(as_str(a.value), as_str(b.value))
        }
        Token::Letter => a.value.cmp(b.value),
        Token::Suffix => a.suffix.cmp(&b.suffix),
        _ => blob_sort(a.value, b.value),
    }
}

/// True if apk-tools accepts `version` (`apk_version_validate`).
pub fn is_valid(version: &str) -> bool {
    let mut t = State::first(version.as_bytes());
    while t.token < Token::End {
        t.next();
    }
    t.token == Token::End
}

/// apk-tools' comparison on two versions, valid or not (as `apk version -t` does).
pub fn compare_unchecked(a: &str, b: &str) -> Ordering {
    let mut ta = State::first(a.as_bytes());
    let mut tb = State::first(b.as_bytes());
    while ta.token == tb.token && ta.token < Token::End {
        let r = token_cmp(&ta, &tb);
        if r != Ordering::Equal {
            return r;
        }
        ta.next();
        tb.next();
    }
    if ta.token == tb.token {
        return Ordering::Equal;
    }
    // Equal so far: the longer one is newer, unless it continues with a
    // pre-release suffix.
    if ta.token == Token::Suffix && ta.suffix < SUFFIX_NONE {
        return Ordering::Less;
    }
    if tb.token == Token::Suffix && tb.suffix < SUFFIX_NONE {
        return Ordering::Greater;
    }
    // A later token kind means the other string has more to it.
    tb.token.cmp(&ta.token)
}

/// Compares two Alpine versions; `None` if either is invalid.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    if !is_valid(a) || !is_valid(b) {
        return None;
    }
    Some(compare_unchecked(a, b))
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
                ("1.2.3_rc1", "<", "1.2.3"),
                ("1.2.3", "<", "1.2.3_p1"),
                ("1.2.3-r1", "<", "1.2.3-r2"),
                ("1.2a", ">", "1.2"),
            ],
        );
        assert_chain(
            compare,
            &[
                "1.2.3_alpha",
                "1.2.3_alpha1",
                "1.2.3_alpha2",
                "1.2.3_beta",
                "1.2.3_pre1",
                "1.2.3_rc1",
                "1.2.3_rc1-r1",
                "1.2.3",
                "1.2.3-r0",
                "1.2.3-r1",
                "1.2.3-r10",
                "1.2.3_cvs",
                "1.2.3_svn",
                "1.2.3_git20240101",
                "1.2.3_hg",
                "1.2.3_p1",
                "1.2.3_p2",
                "1.2.3a",
                "1.2.3b",
                "1.2.3.1",
                "1.2.4",
                "1.10",
            ],
        );
    }

    /// A sample of apk-tools' `test/unit/version.data`.
    #[test]
    fn apk_tools_test_data() {
        assert_cases(
            compare,
            &[
                ("2.34", ">", "0.1.0_alpha"),
                ("0.1.0_alpha", "=", "0.1.0_alpha"),
                ("0.1.0_alpha", "<", "0.1.3_alpha"),
                ("0.1.0_alpha2", ">", "0.1.0_alpha"),
                ("0.1.0_alpha", "<", "2.2.39-r1"),
                ("2.2.39-r1", ">", "1.0.4-r3"),
                ("1.0.4-r3", "<", "1.0.4-r4"),
                ("1.1", ">", "1.1_alpha1"),
                ("1.2.1", ">", "1.2"),
                ("1.3_alpha2", "<", "1.3_alpha3"),
                ("0.8_beta4", "<", "4.8-r1"),
                ("3.10.18-r1", ">", "2.3.0b-r1"),
                ("2.3.0b-r1", "<", "2.3.0b-r2"),
                ("0.12.3", ">", "0.12"),
                ("1.2.11", "<", "1.2.12.1"),
                ("1.2.12.1", "<", "1.2.13"),
                ("6.1_pre1", "<", "6.1"),
                ("6.0_p1", ">", "6.0"),
                ("6.1_p1", ">", "6.1"),
                ("8.2.0", "<", "8.2.001"),
                ("8.2.0015", "<", "8.2.002"),
                ("1.0~1234", "<", "1.0~2345"),
                ("1.0~1234-r1", "<", "1.0~2345-r0"),
                ("1.0~1234-r1", ">", "1.0~1234-r0"),
                ("1.01", "<", "1.1"),
                ("1.0", ">", "1"),
            ],
        );
        // "1.0bc" and "23_foo" are invalid; apk-tools still orders them by the valid prefix.
        assert_eq!(compare_unchecked("23_foo", "4_beta"), Ordering::Greater);
        assert_eq!(compare_unchecked("1.0", "1.0bc"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0bc"), None);
    }

    #[test]
    fn validity() {
        for good in [
            "1.2",
            "0.1_pre2",
            "0.1_pre2~1234abcd",
            "0.1_p1_pre2",
            "0.1_alpha1_pre2",
            "0.1_git20240101_pre1",
            "1.2.3a_rc1-r5",
            "1-r0",
        ] {
            assert!(is_valid(good), "{good} should be valid");
        }
        for bad in [
            "",
            "0.1bc",
            "0.1bc1",
            "0.1a1",
            "0.1a.1",
            "0.1_pre2~",
            "0.1_pre2~1234xbcd",
            "0.1_pre2~1234abcd_pre1",
            "0.1_pre2-r1~1234xbcd",
            "0.1_foobar",
            "0.1_foobar1",
            "0.1-pre1.1",
            "0.1-r",
            "0.1-r2_pre1",
            "0.1-r2_p3_pre1",
            "0.1-r2-r3",
            "0.1-r2.1",
            ".1",
            "a",
            "_pre1",
            "-r1",
            "0.1_",
            "0.1_-r0",
            "0.1__alpha",
            "0.1_1_alpha",
            "1.0A",
            "v1.0",
            " 1.0",
        ] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn long_digit_runs() {
        let nines = "9".repeat(40);
        assert_eq!(compare(&nines, "1"), Some(Ordering::Greater));
        assert_eq!(
            compare(&format!("1.{nines}"), "1.1"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(&format!("1-r{nines}"), "1-r1"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(&format!("1_rc{nines}"), "1"), Some(Ordering::Less));
    }

    #[test]
    fn robust() {
        assert_robust(compare);
    }
}
