//! Maven versions, ordered as Maven's `ComparableVersion` (maven-artifact 3.9) orders them.
//!
//! The lower-cased version is cut into items at `.`, at `-` and at transitions
//! between digits and letters; a `-` (and a digit/letter transition) opens a
//! nested list, and a qualifier written with a dot (`1.0.0.RC1`) is treated as
//! if written with a hyphen. Items are numbers (compared numerically, any size),
//! strings and lists. Strings order as
//! `alpha < beta < milestone < rc = cr < snapshot < "" = final = ga = release < sp`,
//! then any other qualifier, lexically; `a`, `b`, `m` directly followed by a digit
//! mean `alpha`, `beta`, `milestone`. Trailing "null" items (`0`, `""`, `ga`,
//! `final`, `release`, empty lists) are trimmed from every list, so
//! `1 == 1.0 == 1.0.0 == 1-ga == 1.0-final`. A number beats a list, which beats a
//! string: `1-sp < 1-1 < 1.1`.
//!
//! Every string is a valid Maven version; only the empty string and strings longer
//! than [`MAX_LEN`] are refused here.

use std::cmp::Ordering;

use crate::version::cmp_decimal;

/// The longest version accepted (nesting depth grows with the length).
pub const MAX_LEN: usize = 1024;

/// One item of a parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A number, as its digits without leading zeros (`""` is zero).
    Number(String),
    /// A qualifier, lower-cased and with aliases resolved (`ga`/`final`/`release`
    /// → `""`, `cr` → `rc`, `a1` → `alpha`, ...).
    Str(String),
    /// A nested list (opened by `-` or a digit/letter transition).
    List(Vec<Item>),
}

const QUALIFIERS: &[&str] = &["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE_INDEX: usize = 5;

impl Item {
    fn number(digits: &str) -> Item {
        Item::Number(digits.trim_start_matches('0').to_string())
    }

    fn string(value: &str, followed_by_digit: bool) -> Item {
        let v = match value {
            "a" if followed_by_digit => "alpha",
            "b" if followed_by_digit => "beta",
            "m" if followed_by_digit => "milestone",
            "ga" | "final" | "release" => "",
            "cr" => "rc",
            v => v,
        };
        Item::Str(v.to_string())
    }

    fn parse(is_digit: bool, buf: &str) -> Item {
        if is_digit {
            Item::number(buf)
        } else {
            Item::string(buf, false)
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Item::Number(n) => n.is_empty(),
            Item::Str(s) => s.is_empty(),
            Item::List(l) => l.is_empty(),
        }
    }
}

/// `comparableQualifier`: the rank of a known qualifier, or "after all of them,
/// then lexical" for an unknown one; compared as Java compares the strings
/// `"<index>"` and `"7-<qualifier>"`.
fn cmp_qualifier(a: &str, b: &str) -> Ordering {
    let rank = |q: &str| QUALIFIERS.iter().position(|k| *k == q);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.encode_utf16().cmp(b.encode_utf16()),
    }
}

/// `Item.compareTo(other)`, where `None` stands for a missing item (padding).
fn cmp_item(a: &Item, b: Option<&Item>) -> Ordering {
    match a {
        Item::Number(x) => match b {
            None => {
                if x.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            Some(Item::Number(y)) => cmp_decimal(x, y),
            Some(Item::Str(_)) | Some(Item::List(_)) => Ordering::Greater,
        },
        Item::Str(x) => match b {
            None => {
                // "1-rc < 1", "1-sp > 1"
                let r = QUALIFIERS.iter().position(|k| *k == x.as_str());
                match r {
                    Some(i) => i.cmp(&RELEASE_INDEX),
                    None => Ordering::Greater,
                }
            }
            Some(Item::Number(_)) | Some(Item::List(_)) => Ordering::Less,
            Some(Item::Str(y)) => cmp_qualifier(x, y),
        },
        Item::List(xs) => match b {
            None => {
                for i in xs {
                    let r = cmp_item(i, None);
                    if r != Ordering::Equal {
                        return r;
                    }
                }
                Ordering::Equal
            }
            Some(Item::Number(_)) => Ordering::Less,
            Some(Item::Str(_)) => Ordering::Greater,
            Some(Item::List(ys)) => cmp_lists(xs, ys),
        },
    }
}

fn cmp_lists(xs: &[Item], ys: &[Item]) -> Ordering {
    let n = xs.len().max(ys.len());
    for k in 0..n {
        let r = match (xs.get(k), ys.get(k)) {
            (Some(l), r) => cmp_item(l, r),
            (None, Some(r)) => cmp_item(r, None).reverse(),
            (None, None) => Ordering::Equal,
        };
        if r != Ordering::Equal {
            return r;
        }
    }
    Ordering::Equal
}

/// `ListItem.normalize()`: drop null items from the end, looking past non-null
/// nested lists.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if list[i].is_null() {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

/// Parses a version into its item list, as `ComparableVersion.parseVersion` does.
///
/// `None` for the empty string or one longer than [`MAX_LEN`].
pub fn parse(version: &str) -> Option<Vec<Item>> {
    if version.is_empty() || version.len() > MAX_LEN {
        return None;
    }
    let v = version.to_lowercase();
    let b = v.as_bytes();
    // The lists being filled, outermost first: parsing only ever descends, so
    // each list is the last item of its parent (added when the parse is done).
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut is_digit = false;
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        // `start` and `i` sit on ASCII characters or string ends, so slicing is safe.
        let top = stack.len() - 1;
        match c {
            b'.' => {
                let item = if i == start {
                    Item::Number(String::new())
                } else {
                    Item::parse(is_digit, &v[start..i])
                };
                stack[top].push(item);
                start = i + 1;
            }
            b'-' => {
                let item = if i == start {
                    Item::Number(String::new())
                } else {
                    Item::parse(is_digit, &v[start..i])
                };
                stack[top].push(item);
                start = i + 1;
                stack.push(Vec::new());
            }
            b'0'..=b'9' => {
                if !is_digit && i > start {
                    // 1.0.0.X1 < 1.0.0-X2: treat .X as -X.
                    if !stack[top].is_empty() {
                        stack.push(Vec::new());
                    }
                    let top = stack.len() - 1;
                    stack[top].push(Item::string(&v[start..i], true));
                    start = i;
                    stack.push(Vec::new());
                }
                is_digit = true;
            }
            _ => {
                if is_digit && i > start {
                    stack[top].push(Item::number(&v[start..i]));
                    start = i;
                    stack.push(Vec::new());
                }
                is_digit = false;
            }
        }
    }
    if b.len() > start {
        let top = stack.len() - 1;
        if !is_digit && !stack[top].is_empty() {
            stack.push(Vec::new());
        }
        let top = stack.len() - 1;
        stack[top].push(Item::parse(is_digit, &v[start..]));
    }
    // Normalise from the innermost list out, attaching each to its parent.
    let mut inner: Option<Vec<Item>> = None;
    while let Some(mut list) = stack.pop() {
        if let Some(child) = inner.take() {
            list.push(Item::List(child));
        }
        normalize(&mut list);
        inner = Some(list);
    }
    inner
}

/// True if Maven would accept `version` (any non-empty string up to [`MAX_LEN`]).
pub fn is_valid(version: &str) -> bool {
    !version.is_empty() && version.len() <= MAX_LEN
}

/// Compares two parsed versions.
pub fn compare_items(a: &[Item], b: &[Item]) -> Ordering {
    cmp_lists(a, b)
}

/// Compares two Maven versions; `None` if either is empty or too long.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(compare_items(&parse(a)?, &parse(b)?))
}

/// The canonical form of a version (as `ComparableVersion.getCanonical()`).
pub fn canonical(version: &str) -> Option<String> {
    fn render(items: &[Item], out: &mut String) {
        // Java appends a separator only once this list's own buffer is non-empty.
        let base = out.len();
        for item in items {
            if out.len() > base {
                out.push(if matches!(item, Item::List(_)) {
                    '-'
                } else {
                    '.'
                });
            }
            match item {
                Item::Number(n) if n.is_empty() => out.push('0'),
                Item::Number(n) => out.push_str(n),
                Item::Str(s) => out.push_str(s),
                Item::List(l) => render(l, out),
            }
        }
    }
    let items = parse(version)?;
    let mut out = String::new();
    render(&items, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testutil::{assert_cases, assert_chain, assert_robust};

    #[test]
    fn brief_cases() {
        assert_chain(
            compare,
            &[
                "1-alpha-1",
                "1-beta",
                "1-milestone",
                "1-rc",
                "1-snapshot",
                "1",
                "1-sp",
            ],
        );
        assert_cases(
            compare,
            &[
                ("1.0", "=", "1"),
                ("1", "=", "1.0.0"),
                ("1", "=", "1-ga"),
                ("1", "=", "1-final"),
                ("1.0.0.RELEASE", "=", "1.0.0"),
                ("1-rc", "=", "1-cr"),
                ("2.5.RELEASE", "<", "2.5.1.RELEASE"),
                ("5.3.18", "<", "5.3.20"),
                ("2.13.4.2", ">", "2.13.4"),
                ("2.13.4.1", "<", "2.13.4.2"),
                ("1.0-SNAPSHOT", "<", "1.0"),
                ("9.4.51.v20230217", ">", "9.4.50.v20221201"),
                ("31.1-jre", ">", "30.1-jre"),
                ("31.1-android", "<", "31.1-jre"),
                ("2.0.0-M1", "<", "2.0.0-RC1"),
                ("1.2.3.Final", "=", "1.2.3"),
                ("1.2.3.Final", "<", "1.2.4.Final"),
            ],
        );
    }

    /// maven-artifact's ComparableVersionTest.
    #[test]
    fn versions_qualifier() {
        assert_chain(
            compare,
            &[
                "1-alpha2snapshot",
                "1-alpha2",
                "1-alpha-123",
                "1-beta-2",
                "1-beta123",
                "1-m2",
                "1-m11",
                "1-rc",
                "1-cr2",
                "1-rc123",
                "1-SNAPSHOT",
                "1",
                "1-sp",
                "1-sp2",
                "1-sp123",
                "1-abc",
                "1-def",
                "1-pom-1",
                "1-1-snapshot",
                "1-1",
                "1-2",
                "1-123",
            ],
        );
    }

    #[test]
    fn versions_number() {
        assert_chain(
            compare,
            &[
                "2.0", "2.0.a", "2-1", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c",
                "2.1-1", "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2",
                "11.m11", "11", "11.a", "11b", "11c", "11m",
            ],
        );
    }

    #[test]
    fn versions_equal() {
        let eq = [
            ("1", "1"),
            ("1", "1.0"),
            ("1", "1.0.0"),
            ("1.0", "1.0.0"),
            ("1", "1-0"),
            ("1", "1.0-0"),
            ("1.0", "1.0-0"),
            ("1a", "1-a"),
            ("1a", "1.0-a"),
            ("1a", "1.0.0-a"),
            ("1.0a", "1-a"),
            ("1.0.0a", "1-a"),
            ("1x", "1-x"),
            ("1x", "1.0-x"),
            ("1x", "1.0.0-x"),
            ("1.0x", "1-x"),
            ("1.0.0x", "1-x"),
            ("1cr", "1rc"),
            ("1a1", "1-alpha-1"),
            ("1b2", "1-beta-2"),
            ("1m3", "1-milestone-3"),
            ("1X", "1x"),
            ("1A", "1a"),
            ("1B", "1b"),
            ("1M", "1m"),
            ("1Cr", "1Rc"),
            ("1cR", "1rC"),
            ("1m3", "1Milestone3"),
            ("1m3", "1MileStone3"),
            ("1m3", "1MILESTONE3"),
            ("1ga", "1"),
            ("1release", "1"),
            ("1final", "1"),
            ("1Ga", "1"),
            ("1GA", "1"),
            ("1RELEASE", "1"),
            ("1Final", "1"),
            ("1FinaL", "1"),
            ("1FINAL", "1"),
            (
                "1-abcdefghijklmnopqrstuvwxyz",
                "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            ),
        ];
        for (a, b) in eq {
            assert_eq!(compare(a, b), Some(Ordering::Equal), "{a} == {b}");
            assert_eq!(compare(b, a), Some(Ordering::Equal), "{b} == {a}");
        }
    }

    #[test]
    fn version_comparing() {
        let lt = [
            ("1", "2"),
            ("1.5", "2"),
            ("1", "2.5"),
            ("1.0", "1.1"),
            ("1.1", "1.2"),
            ("1.0.0", "1.1"),
            ("1.0.1", "1.1"),
            ("1.1", "1.2.0"),
            ("1.0-alpha-1", "1.0"),
            ("1.0-alpha-1", "1.0-alpha-2"),
            ("1.0-alpha-1", "1.0-beta-1"),
            ("1.0-beta-1", "1.0-SNAPSHOT"),
            ("1.0-SNAPSHOT", "1.0"),
            ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"),
            ("1.0", "1.0-1"),
            ("1.0-1", "1.0-2"),
            ("1.0.0", "1.0-1"),
            ("2.0-1", "2.0.1"),
            ("2.0.1-klm", "2.0.1-lmn"),
            ("2.0.1", "2.0.1-xyz"),
            ("2.0.1", "2.0.1-123"),
            ("2.0.1-xyz", "2.0.1-123"),
            // MNG-5568
            ("6.1.0rc3", "6.1.0"),
            ("6.1.0", "6.1H.5-beta"),
            ("6.1.0rc3", "6.1H.5-beta"),
            // MNG-6964
            ("1-0.alpha", "1"),
            ("1-0.beta", "1"),
            ("1-0.alpha", "1-0.beta"),
            // MNG-7644
            ("1.0.0.RC1", "1.0.0-RC2"),
            ("1.0.0.alpha1", "1.0.0-alpha2"),
            ("1.0.0.X1", "1.0.0-X2"),
        ];
        for (a, b) in lt {
            assert_eq!(compare(a, b), Some(Ordering::Less), "{a} < {b}");
            assert_eq!(compare(b, a), Some(Ordering::Greater), "{b} > {a}");
        }
        // MNG-7644: 2-X1 == 2.0.X1 == 2.0.0.X1
        for x in [
            "abc",
            "alpha",
            "a",
            "beta",
            "b",
            "def",
            "milestone",
            "m",
            "RC",
        ] {
            assert_eq!(
                compare(&format!("2-{x}1"), &format!("2.0.{x}1")),
                Some(Ordering::Equal)
            );
            assert_eq!(
                compare(&format!("2-{x}1"), &format!("2.0.0.{x}1")),
                Some(Ordering::Equal)
            );
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical("1.0.0").as_deref(), Some("1"));
        assert_eq!(canonical("1.0-SNAPSHOT").as_deref(), Some("1-snapshot"));
        assert_eq!(canonical("1.0.0.RC1").as_deref(), Some("1-rc-1"));
        assert_eq!(
            canonical("1-1.foo-bar1baz-.1").as_deref(),
            Some("1-1.foo-bar-1-baz-0.1")
        );
        assert_eq!(canonical("2.0.a").as_deref(), Some("2-a"));
        assert_eq!(canonical("1a1").as_deref(), Some("1-alpha-1"));
    }

    #[test]
    fn big_numbers() {
        // MNG-6572: numbers of any size.
        assert_chain(
            compare,
            &[
                "1",
                "2147483647",
                "2147483648",
                "9223372036854775807",
                "9223372036854775808",
                "99999999999999999999999999999999999999999",
                "100000000000000000000000000000000000000000",
            ],
        );
        assert_eq!(compare("0000000000000000001", "1"), Some(Ordering::Equal));
        assert_eq!(compare("02147483649", "2147483649"), Some(Ordering::Equal));
    }

    #[test]
    fn limits() {
        assert_eq!(compare("", "1"), None);
        assert_eq!(compare(&"1.".repeat(600), "1"), None);
        assert!(is_valid("anything goes"));
        assert_eq!(compare("-", "0"), Some(Ordering::Equal));
        assert_eq!(compare("..", "0"), Some(Ordering::Equal));
    }

    #[test]
    fn robust() {
        assert_robust(compare);
    }
}
