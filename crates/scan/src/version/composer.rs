//! Packagist versions, ordered as Composer orders them: normalise with
//! `Composer\Semver\VersionParser::normalize`, then compare with PHP's
//! `version_compare`.
//!
//! Normalisation accepts an optional leading `v`, one to four numeric parts
//! (padded to four: `1.2` → `1.2.0.0`) or a date-like version, then an optional
//! stability modifier (`stable`, `RC`, `beta`/`b`, `alpha`/`a`, `patch`/`pl`/`p`,
//! with a number) and an optional `-dev`; build metadata (`+...`), `@stability`
//! flags and `as` aliases are dropped; `1.x-dev`-style branches become
//! `1.9999999.9999999.9999999-dev`. Named branches (`dev-main`) cannot be
//! ordered and are refused, as are strings Composer rejects.
//!
//! `version_compare` canonicalises (`-`, `_`, `+` become `.`, and a `.` is put
//! between digits and letters), then compares part by part: numbers numerically,
//! special forms as `dev < alpha = a < beta = b < RC = rc < # (a number) < pl = p`,
//! anything else below `dev`. Numbers are compared at any size (PHP would
//! saturate at `LONG_MAX`).

use std::cmp::Ordering;

use crate::version::cmp_decimal;

/// PHP's `trim()` character list.
fn php_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r', '\0', '\x0b'])
}

/// PCRE's `\s`.
fn pcre_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Strips `^([^,\s]++) ++as ++([^,\s]++)$` down to its first group.
fn strip_alias(v: &str) -> &str {
    let stop = |c: char| c == ',' || pcre_space(c);
    let end = v.find(stop).unwrap_or(v.len());
    if end == 0 {
        return v;
    }
    let rest = &v[end..];
    let after = rest.trim_start_matches(' ');
    if after.len() == rest.len() {
        return v;
    }
    let Some(after_as) = after.strip_prefix("as") else {
        return v;
    };
    let target = after_as.trim_start_matches(' ');
    if target.len() == after_as.len() || target.is_empty() || target.contains(stop) {
        return v;
    }
    &v[..end]
}

/// Strips a trailing `@stable|@RC|@beta|@alpha|@dev` (any case).
fn strip_stability_flag(v: &str) -> &str {
    if let Some(at) = v.rfind('@') {
        let flag = &v[at + 1..];
        if ["stable", "rc", "beta", "alpha", "dev"]
            .iter()
            .any(|f| flag.eq_ignore_ascii_case(f))
        {
            return &v[..at];
        }
    }
    v
}

/// Strips build metadata per `^([^,\s+]++)\+[^\s]++$`.
fn strip_build(v: &str) -> &str {
    let end = v
        .find(|c: char| c == ',' || c == '+' || pcre_space(c))
        .unwrap_or(v.len());
    if end == 0 || v.as_bytes().get(end) != Some(&b'+') {
        return v;
    }
    let tail = &v[end + 1..];
    if tail.is_empty() || tail.contains(pcre_space) {
        return v;
    }
    &v[..end]
}

fn digits_at(b: &[u8], p: usize) -> usize {
    b.get(p..)
        .map_or(0, |t| t.iter().take_while(|c| c.is_ascii_digit()).count())
}

fn starts_with_ci(b: &[u8], p: usize, word: &str) -> bool {
    b.get(p..p + word.len())
        .is_some_and(|t| t.eq_ignore_ascii_case(word.as_bytes()))
}

/// The matched modifier: `(label, numbers)` and whether `dev` followed.
struct Modifier<'a> {
    label: Option<(&'a str, &'a str)>,
    dev: bool,
}

/// `([.-]?dev)?$` at `p`: `Some(dev matched)` when it reaches the end.
fn dev_to_end(b: &[u8], p: usize) -> Option<bool> {
    if matches!(b.get(p), Some(b'.' | b'-')) && starts_with_ci(b, p + 1, "dev") && p + 4 == b.len()
    {
        return Some(true);
    }
    if starts_with_ci(b, p, "dev") && p + 3 == b.len() {
        return Some(true);
    }
    (p == b.len()).then_some(false)
}

/// Matches `[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*+)?)?([.-]?dev)?$`
/// (case-insensitive) at `p`, trying alternatives in the regex's order.
fn modifier<'a>(s: &'a str, p: usize) -> Option<Modifier<'a>> {
    const LABELS: &[&str] = &[
        "stable", "beta", "b", "RC", "alpha", "a", "patch", "pl", "p",
    ];
    let b = s.as_bytes();
    let seps: Vec<usize> = if matches!(b.get(p), Some(b'.' | b'_' | b'-')) {
        vec![p + 1, p]
    } else {
        vec![p]
    };
    for p1 in seps {
        for label in LABELS {
            if !starts_with_ci(b, p1, label) {
                continue;
            }
            let p2 = p1 + label.len();
            // Possessive `(?:[.-]?\d+)*+`.
            let mut p3 = p2;
            loop {
                let q = if matches!(b.get(p3), Some(b'.' | b'-')) {
                    p3 + 1
                } else {
                    p3
                };
                let n = digits_at(b, q);
                if n == 0 {
                    break;
                }
                p3 = q + n;
            }
            if let Some(dev) = dev_to_end(b, p3) {
                return Some(Modifier {
                    label: Some((&s[p1..p2], &s[p2..p3])),
                    dev,
                });
            }
        }
        if let Some(dev) = dev_to_end(b, p1) {
            return Some(Modifier { label: None, dev });
        }
    }
    None
}

/// Appends the modifier as `VersionParser::normalize` does.
fn with_modifier(mut version: String, m: Modifier<'_>) -> String {
    if let Some((label, numbers)) = m.label {
        if label == "stable" {
            return version;
        }
        let expanded = match label.to_ascii_lowercase().as_str() {
            "a" => "alpha".to_string(),
            "b" => "beta".to_string(),
            "p" | "pl" => "patch".to_string(),
            "rc" => "RC".to_string(),
            other => other.to_string(),
        };
        version.push('-');
        version.push_str(&expanded);
        version.push_str(numbers.trim_start_matches(['.', '-']));
    }
    if m.dev {
        version.push_str("-dev");
    }
    version
}

/// `^v?(\d{1,5})(\.\d++)?(\.\d++)?(\.\d++)?<modifier>$`
fn classical(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut p = usize::from(matches!(b.first(), Some(b'v' | b'V')));
    let n = digits_at(b, p);
    if !(1..=5).contains(&n) {
        return None;
    }
    let mut version = s[p..p + n].to_string();
    p += n;
    for _ in 0..3 {
        if b.get(p) == Some(&b'.') {
            let n = digits_at(b, p + 1);
            if n > 0 {
                version.push_str(&s[p..p + 1 + n]);
                p += 1 + n;
                continue;
            }
        }
        version.push_str(".0");
    }
    Some(with_modifier(version, modifier(s, p)?))
}

/// End positions of `(?:[.:-]?\d{1,3}){0,n}` from `pos`, in the order a
/// backtracking regex engine tries them (longest first).
fn short_groups(b: &[u8], pos: usize, n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    if n > 0 {
        let r = if matches!(b.get(pos), Some(b'.' | b':' | b'-')) {
            pos + 1
        } else {
            pos
        };
        for k in (1..=digits_at(b, r).min(3)).rev() {
            out.extend(short_groups(b, r + k, n - 1));
        }
    }
    out.push(pos);
    out
}

/// `^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3}){0,2})<modifier>$`, with backtracking.
fn date_based(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let start = usize::from(matches!(b.first(), Some(b'v' | b'V')));
    if digits_at(b, start) < 4 {
        return None;
    }
    let is_sep = |p: usize| matches!(b.get(p), Some(b'.' | b':' | b'-'));
    // Ends of 1..=6 repetitions of `[.:-]?\d{2}` (each one deterministic).
    let mut ends = Vec::new();
    let mut q = start + 4;
    while ends.len() < 6 {
        let r = if is_sep(q) { q + 1 } else { q };
        if digits_at(b, r) < 2 {
            break;
        }
        q = r + 2;
        ends.push(q);
    }
    for &e in ends.iter().rev() {
        for end in short_groups(b, e, 2) {
            if let Some(m) = modifier(s, end) {
                let version: String = s[start..end]
                    .chars()
                    .map(|c| if c.is_ascii_digit() { c } else { '.' })
                    .collect();
                return Some(with_modifier(version, m));
            }
        }
    }
    None
}

/// `VersionParser::normalizeBranch`: numeric branches only (`1.2.x` → `1.2.9999999.9999999-dev`).
fn normalize_numeric_branch(name: &str) -> Option<String> {
    let name = php_trim(name);
    let b = name.as_bytes();
    let mut p = usize::from(matches!(b.first(), Some(b'v' | b'V')));
    let n = digits_at(b, p);
    if n == 0 {
        return None;
    }
    let mut version = name[p..p + n].to_string();
    p += n;
    let mut parts = 1;
    while parts < 4 && b.get(p) == Some(&b'.') {
        let n = digits_at(b, p + 1);
        if n > 0 {
            version.push_str(&name[p..p + 1 + n]);
            p += 1 + n;
        } else if matches!(b.get(p + 1), Some(b'x' | b'X' | b'*')) {
            version.push_str(".x");
            p += 2;
        } else {
            return None;
        }
        parts += 1;
    }
    if p != b.len() {
        return None;
    }
    for _ in parts..4 {
        version.push_str(".x");
    }
    Some(version.replace('x', "9999999") + "-dev")
}

/// Normalises a version as Composer does; `None` for invalid versions and for
/// named branches (`dev-main`), which have no order.
pub fn normalize(version: &str) -> Option<String> {
    let v = php_trim(version);
    let v = strip_alias(v);
    let v = strip_stability_flag(v);
    if matches!(v, "master" | "trunk" | "default") || starts_with_ci(v.as_bytes(), 0, "dev-") {
        return None;
    }
    let v = strip_build(v);
    if let Some(n) = classical(v).or_else(|| date_based(v)) {
        return Some(n);
    }
    // Numeric dev branches: `(.*?)[.-]?dev$`.
    let b = v.as_bytes();
    if b.len() >= 3 && b[b.len() - 3..].eq_ignore_ascii_case(b"dev") {
        let mut name = &v[..v.len() - 3];
        if name.ends_with(['.', '-']) {
            name = &name[..name.len() - 1];
        }
        return normalize_numeric_branch(name);
    }
    None
}

/// True if Composer can normalise `version` to an orderable version.
pub fn is_valid(version: &str) -> bool {
    normalize(version).is_some()
}

/// `php_canonicalize_version`.
fn canonicalize(v: &[u8]) -> Vec<u8> {
    let Some((&first, rest)) = v.split_first() else {
        return Vec::new();
    };
    let isdig = |c: u8| c.is_ascii_digit();
    let isndig = |c: u8| !c.is_ascii_digit() && c != b'.';
    let mut q = vec![first];
    let mut lp = first;
    for &c in rest {
        let lq = q.last().copied().unwrap_or(0);
        if matches!(c, b'-' | b'_' | b'+') {
            if lq != b'.' {
                q.push(b'.');
            }
        } else if (isndig(lp) && isdig(c)) || (isdig(lp) && isndig(c)) {
            if lq != b'.' {
                q.push(b'.');
            }
            q.push(c);
        } else if !c.is_ascii_alphanumeric() {
            if lq != b'.' {
                q.push(b'.');
            }
        } else {
            q.push(c);
        }
        lp = c;
    }
    q
}

/// `compare_special_version_forms`: prefix match against the special forms.
fn special_form_order(form: &[u8]) -> i32 {
    const FORMS: &[(&[u8], i32)] = &[
        (b"dev", 0),
        (b"alpha", 1),
        (b"a", 1),
        (b"beta", 2),
        (b"b", 2),
        (b"RC", 3),
        (b"rc", 3),
        (b"#", 4),
        (b"pl", 5),
        (b"p", 5),
    ];
    FORMS
        .iter()
        .find(|(name, _)| form.starts_with(name))
        .map_or(-1, |&(_, order)| order)
}

fn cmp_special(a: &[u8], b: &[u8]) -> Ordering {
    special_form_order(a).cmp(&special_form_order(b))
}

/// PHP's `version_compare($a, $b)` (without an operator), for any two strings.
pub fn php_version_compare(a: &str, b: &str) -> Ordering {
    // C strings: anything after a NUL byte is invisible.
    let cut = |s: &str| s.split('\0').next().unwrap_or("").as_bytes().to_vec();
    let (mut a, mut b) = (cut(a), cut(b));
    let digit = |c: Option<&u8>| c.is_some_and(u8::is_ascii_digit);
    let number = |part: &[u8]| {
        let n = part.iter().take_while(|c| c.is_ascii_digit()).count();
        String::from_utf8_lossy(&part[..n]).into_owned()
    };
    // The reference recurses on the rest of the longer version; that is a tail
    // call, so it is a loop here.
    loop {
        if a.is_empty() || b.is_empty() {
            return (!a.is_empty()).cmp(&!b.is_empty());
        }
        let v1 = if a[0] == b'#' {
            a.clone()
        } else {
            canonicalize(&a)
        };
        let v2 = if b[0] == b'#' {
            b.clone()
        } else {
            canonicalize(&b)
        };
        let (mut p1, mut p2) = (0, 0);
        let (mut n1, mut n2) = (Some(0), Some(0));
        let mut compare = Ordering::Equal;
        while p1 < v1.len() && p2 < v2.len() && n1.is_some() && n2.is_some() {
            n1 = v1[p1..].iter().position(|&c| c == b'.').map(|k| p1 + k);
            n2 = v2[p2..].iter().position(|&c| c == b'.').map(|k| p2 + k);
            let part1 = &v1[p1..n1.unwrap_or(v1.len())];
            let part2 = &v2[p2..n2.unwrap_or(v2.len())];
            compare = match (digit(part1.first()), digit(part2.first())) {
                (true, true) => cmp_decimal(&number(part1), &number(part2)),
                (false, false) => cmp_special(part1, part2),
                (true, false) => cmp_special(b"#N#", part2),
                (false, true) => cmp_special(part1, b"#N#"),
            };
            if compare != Ordering::Equal {
                break;
            }
            if let Some(n) = n1 {
                p1 = n + 1;
            }
            if let Some(n) = n2 {
                p2 = n + 1;
            }
        }
        if compare == Ordering::Equal {
            if n1.is_some() {
                if digit(v1.get(p1)) {
                    return Ordering::Greater;
                }
                a = v1[p1..].to_vec();
                b = b"#N#".to_vec();
                continue;
            } else if n2.is_some() {
                if digit(v2.get(p2)) {
                    return Ordering::Less;
                }
                a = b"#N#".to_vec();
                b = v2[p2..].to_vec();
                continue;
            }
        }
        return compare;
    }
}

/// Compares two Packagist versions; `None` if either cannot be normalised.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(php_version_compare(&normalize(a)?, &normalize(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testutil::{assert_cases, assert_chain, assert_robust};

    #[test]
    fn brief_chain() {
        assert_chain(
            compare,
            &[
                "1.0.0-dev",
                "1.0.0-alpha",
                "1.0.0-alpha2",
                "1.0.0-beta",
                "1.0.0-beta.2",
                "1.0.0-RC1",
                "1.0.0-rc2",
                "1.0.0",
                "1.0.0-pl1",
                "1.0.0-p2",
                "1.0.1",
                "v1.1",
                "1.10.0",
                "2.0.0.1",
            ],
        );
        assert_cases(
            compare,
            &[
                ("1.0.0-alpha", "=", "1.0.0-a"),
                ("1.0.0-beta", "=", "1.0.0-b"),
                ("1.0.0-RC1", "=", "1.0.0-rc1"),
                ("1.0.0-pl1", "=", "1.0.0-patch1"),
                ("1.0", "=", "1.0.0"),
                ("v1.0.0", "=", "1.0.0"),
                ("V1.0.0", "=", "1.0"),
                ("1.0.0+build.5", "=", "1.0.0"),
                ("1.0.0@stable", "=", "1.0.0"),
                ("1.0.0 as 2.0.0", "=", "1.0.0"),
                ("1.0.0-stable", "=", "1.0.0"),
                ("1.0.0-beta1-dev", "<", "1.0.0-beta1"),
                ("1.0.0-beta1", "<", "1.0.0-beta2-dev"),
                ("1.2.x-dev", ">", "1.2.99"),
                ("1.2.x-dev", "<", "1.3.0"),
                ("5.4.3", "<", "v5.4.10"),
                ("2023.01.05", ">", "2022.12.31"),
                ("20230105", ">", "20221231"),
            ],
        );
    }

    #[test]
    fn normalisation() {
        // From composer/semver's VersionParserTest::successfulNormalizedVersions.
        let cases = [
            ("1.0.0", "1.0.0.0"),
            ("1.2.3.4", "1.2.3.4"),
            ("1.0.0RC1dev", "1.0.0.0-RC1-dev"),
            ("1.0.0-rC15-dev", "1.0.0.0-RC15-dev"),
            ("1.0.0.RC.15-dev", "1.0.0.0-RC15-dev"),
            ("1.0.0-rc1", "1.0.0.0-RC1"),
            ("1.0.0.pl3-dev", "1.0.0.0-patch3-dev"),
            ("1.0-dev", "1.0.0.0-dev"),
            ("0", "0.0.0.0"),
            ("10.4.13-beta", "10.4.13.0-beta"),
            ("10.4.13beta2", "10.4.13.0-beta2"),
            ("10.4.13beta.2", "10.4.13.0-beta2"),
            ("v1.13.11-beta.0", "1.13.11.0-beta0"),
            ("1.13.11.0-beta0", "1.13.11.0-beta0"),
            ("10.4.13-b", "10.4.13.0-beta"),
            ("10.4.13-b5", "10.4.13.0-beta5"),
            ("v1.0.0", "1.0.0.0"),
            ("v20100102", "20100102"),
            ("2010.01", "2010.01.0.0"),
            ("2010.01.02", "2010.01.02.0"),
            ("2010-01-02", "2010.01.02"),
            ("2010-01-02.5", "2010.01.02.5"),
            ("2010-01-02.5.6", "2010.01.02.5.6"),
            ("123456.0.0", "123456.0.0"),
            ("2010-01-02-10-20-30.0.3", "2010.01.02.10.20.30.0.3"),
            ("2010-01-02-10-20-30.5", "2010.01.02.10.20.30.5"),
            ("2010.1.555", "2010.1.555.0"),
            ("2010.10.200", "2010.10.200.0"),
            ("1.0.0-alpha3.1", "1.0.0.0-alpha3.1"),
            ("1.0.0-alpha-3.1", "1.0.0.0-alpha3.1"),
            ("1.0.0-alpha3.1-dev", "1.0.0.0-alpha3.1-dev"),
            ("20100102-203040", "20100102.203040"),
            ("20100102203040-10", "20100102203040.10"),
            ("20100102-203040-p1", "20100102.203040-patch1"),
            ("201903.0", "201903.0"),
            ("201903.0-p2", "201903.0-patch2"),
            ("1.0.0-beta.5+foo", "1.0.0.0-beta5"),
            ("1.0.0+foo", "1.0.0.0"),
            ("1.0.0-alpha.3.1+foo", "1.0.0.0-alpha3.1"),
            ("1.0.0-alpha2.1+foo", "1.0.0.0-alpha2.1"),
            ("1.0.0-alpha-2.1-3+foo", "1.0.0.0-alpha2.1-3"),
            ("1.0.0+foo as 2.0", "1.0.0.0"),
            ("1.0.0-beta.5+foo@dev", "1.0.0.0-beta5"),
            ("1.0.x-dev", "1.0.9999999.9999999-dev"),
            ("2.x-dev", "2.9999999.9999999.9999999-dev"),
            ("00.01.03.04", "00.01.03.04"),
            ("000.001.003.004", "000.001.003.004"),
            ("0.000.103.204", "0.000.103.204"),
            ("0700", "0700.0.0.0"),
            ("041.x-dev", "041.9999999.9999999.9999999-dev"),
            ("dev-041.003", "dev-041.003"),
            ("1.2.3.4.x-dev", "dev-1.2.3.4.x"),
        ];
        for (input, want) in cases {
            if want.starts_with("dev-") {
                assert_eq!(normalize(input), None, "{input} is a named branch");
            } else {
                assert_eq!(
                    normalize(input).as_deref(),
                    Some(want),
                    "normalize({input})"
                );
            }
        }
        for bad in [
            "",
            "a",
            "1.0.0-meh",
            "1.0.0.0.0",
            "feature-foo",
            "1.0.0+foo bar",
            "1.0.0-SNAPSHOT",
            "1.0.0.SNAPSHOT",
            "1.0.0 as",
            "dev-master",
            "dev-feature",
            "master",
            "1.0.0<1.0.5-dev",
            "1.x",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?} should be refused");
        }
    }

    #[test]
    fn php_version_compare_reference() {
        // From PHP's version_compare documentation and tests.
        let cases = [
            ("1", "<", "2"),
            ("1.0", "<", "1.0.0"),
            ("1.0", "<", "1.1"),
            ("5.2", "<", "5.3.0"),
            ("5.3.0-dev", "<", "5.3.0"),
            ("5.3.0", "<", "5.3.1-dev"),
            ("1.0rc1", "<", "1.0"),
            ("1.0", "<", "1.0pl1"),
            ("1.0-dev", "<", "1.0a1"),
            ("1.0a1", "<", "1.0b1"),
            ("1.0b1", "<", "1.0RC1"),
            ("1.0RC1", "=", "1.0rc1"),
            ("1.0RC1", "=", "1.0.RC.1"),
            ("1.0-RC1", "=", "1.0_rc_1"),
            ("1.0", "=", "1.0"),
            ("1.0.0", ">", "1.0.0-alpha"),
            ("1.0.0-beta", ">", "1.0.0-alpha"),
            ("1.0.0-foo", "<", "1.0.0-dev"),
            ("1.0.1", ">", "1.0.0.9"),
            ("1.0.0.0", ">", "1.0.0"),
            ("1.0.0.0-dev", "<", "1.0.0.0"),
            ("1.0.0.0-patch1", ">", "1.0.0.0"),
        ];
        for (a, op, b) in cases {
            let want = match op {
                "<" => Ordering::Less,
                "=" => Ordering::Equal,
                _ => Ordering::Greater,
            };
            assert_eq!(php_version_compare(a, b), want, "version_compare({a}, {b})");
            assert_eq!(
                php_version_compare(b, a),
                want.reverse(),
                "version_compare({b}, {a})"
            );
        }
        assert_eq!(php_version_compare("", ""), Ordering::Equal);
        assert_eq!(php_version_compare("", "1"), Ordering::Less);
        assert_eq!(php_version_compare("1", ""), Ordering::Greater);
    }

    #[test]
    fn long_numbers() {
        let nines = "9".repeat(40);
        let ten = format!("1{}", "0".repeat(40));
        assert_eq!(php_version_compare(&nines, &ten), Ordering::Less);
        assert_eq!(
            compare(&format!("1.0.0-RC{nines}"), "1.0.0-RC1"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(&format!("1.{nines}"), "1.2"),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn robust() {
        assert_robust(compare);
        // Raw version_compare is not even reflexive ("1." < "1."), so only
        // check that it never panics.
        let inputs = crate::version::testutil::odd_strings();
        for a in &inputs {
            for b in &inputs {
                let _ = php_version_compare(a, b);
            }
        }
        assert_eq!(php_version_compare("1.", "1."), Ordering::Less);
        assert_eq!(php_version_compare("#1", "#2"), Ordering::Equal);
    }
}
