//! Exact version ordering per package ecosystem.
//!
//! Every ecosystem orders its versions by its own rules, and a vulnerability
//! range (`introduced` / `fixed`) only means something under those rules. Each
//! submodule is a faithful port of the reference implementation of one scheme:
//!
//! - [`dpkg`]: Debian and Ubuntu (`verrevcmp` from dpkg).
//! - [`rpm`]: Red Hat, Rocky Linux, AlmaLinux, SUSE, openSUSE, Mageia
//!   (`rpmvercmp` with epoch:version-release).
//! - [`apk`]: Alpine, Wolfi, Chainguard (apk-tools `version.c`).
//! - [`pep440`]: PyPI (PEP 440, as the `packaging` library orders versions).
//! - [`semver`]: SemVer 2.0.0 precedence, with the flavours used by npm,
//!   crates.io, Go modules, Hex, Pub and NuGet.
//! - [`maven`]: Maven (`ComparableVersion`).
//! - [`gem`]: RubyGems (`Gem::Version`).
//! - [`composer`]: Packagist (Composer normalisation, then PHP `version_compare`).
//!
//! [`compare`] picks the scheme from an OSV ecosystem name.

use std::cmp::Ordering;

pub mod apk;
pub mod composer;
pub mod dpkg;
pub mod gem;
pub mod maven;
pub mod pep440;
pub mod rpm;
pub mod semver;

/// The ordering scheme of one ecosystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Dpkg,
    Rpm,
    Apk,
    Pep440,
    Semver(semver::Flavor),
    Maven,
    Gem,
    Composer,
}

/// Maps an OSV ecosystem string (optionally with a `:release` suffix) to its scheme.
fn scheme(ecosystem: &str) -> Option<Scheme> {
    let base = ecosystem.split(':').next().unwrap_or("").trim();
    const TABLE: &[(&str, Scheme)] = &[
        ("Debian", Scheme::Dpkg),
        ("Ubuntu", Scheme::Dpkg),
        ("Red Hat", Scheme::Rpm),
        ("Rocky Linux", Scheme::Rpm),
        ("AlmaLinux", Scheme::Rpm),
        ("openSUSE", Scheme::Rpm),
        ("SUSE", Scheme::Rpm),
        ("Mageia", Scheme::Rpm),
        ("openEuler", Scheme::Rpm),
        ("Azure Linux", Scheme::Rpm),
        ("Photon OS", Scheme::Rpm),
        ("Alpine", Scheme::Apk),
        ("Wolfi", Scheme::Apk),
        ("Chainguard", Scheme::Apk),
        ("MinimOS", Scheme::Apk),
        ("PyPI", Scheme::Pep440),
        ("npm", Scheme::Semver(semver::Flavor::Npm)),
        ("crates.io", Scheme::Semver(semver::Flavor::Strict)),
        ("Hex", Scheme::Semver(semver::Flavor::Strict)),
        ("Pub", Scheme::Semver(semver::Flavor::Pub)),
        ("NuGet", Scheme::Semver(semver::Flavor::NuGet)),
        ("Go", Scheme::Semver(semver::Flavor::Go)),
        ("Maven", Scheme::Maven),
        ("RubyGems", Scheme::Gem),
        ("Packagist", Scheme::Composer),
    ];
    TABLE
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(base))
        .map(|&(_, s)| s)
}

/// Compare two versions under the rules of an OSV ecosystem. `ecosystem` is an OSV
/// ecosystem string, possibly with a release suffix after ':' ("Debian:12",
/// "Ubuntu:22.04", "Alpine:v3.20", "Red Hat:9", "Rocky Linux:9", "AlmaLinux:9",
/// "PyPI", "npm", "crates.io", "Go", "Maven", "RubyGems", "Packagist", "Hex",
/// "NuGet", "Pub"). Returns None if either version is not valid in that ecosystem
/// or the ecosystem is unknown.
pub fn compare(ecosystem: &str, a: &str, b: &str) -> Option<Ordering> {
    match scheme(ecosystem)? {
        Scheme::Dpkg => dpkg::compare(a, b),
        Scheme::Rpm => rpm::compare(a, b),
        Scheme::Apk => apk::compare(a, b),
        Scheme::Pep440 => pep440::compare(a, b),
        Scheme::Semver(flavor) => semver::compare_with(flavor, a, b),
        Scheme::Maven => maven::compare(a, b),
        Scheme::Gem => gem::compare(a, b),
        Scheme::Composer => composer::compare(a, b),
    }
}

/// True if the ecosystem is one `compare` understands.
pub fn supported(ecosystem: &str) -> bool {
    scheme(ecosystem).is_some()
}

/// Compares two runs of ASCII digits as unbounded non-negative integers
/// (leading zeros ignored), without ever parsing them into a fixed-width integer.
pub(crate) fn cmp_decimal(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Test helpers shared by the submodules' tests.
#[cfg(test)]
pub(crate) mod testutil {
    use std::cmp::Ordering;

    /// Asserts that `list` is strictly increasing under `cmp`, for every pair
    /// (not just neighbours), and that `cmp` is antisymmetric and reflexive on it.
    pub fn assert_chain(cmp: impl Fn(&str, &str) -> Option<Ordering>, list: &[&str]) {
        for (i, a) in list.iter().enumerate() {
            assert_eq!(cmp(a, a), Some(Ordering::Equal), "{a} == {a}");
            for b in &list[i + 1..] {
                assert_eq!(cmp(a, b), Some(Ordering::Less), "{a} < {b}");
                assert_eq!(cmp(b, a), Some(Ordering::Greater), "{b} > {a}");
            }
        }
    }

    /// Asserts `a <op> b` for each `(a, op, b)` with op one of `<`, `=`, `>`,
    /// and the reverse relation for `(b, a)`.
    pub fn assert_cases(
        cmp: impl Fn(&str, &str) -> Option<Ordering>,
        cases: &[(&str, &str, &str)],
    ) {
        for &(a, op, b) in cases {
            let want = match op {
                "<" => Ordering::Less,
                "=" => Ordering::Equal,
                ">" => Ordering::Greater,
                _ => panic!("bad op {op}"),
            };
            assert_eq!(cmp(a, b), Some(want), "{a} {op} {b}");
            assert_eq!(cmp(b, a), Some(want.reverse()), "reverse of {a} {op} {b}");
        }
    }

    /// Odd inputs every scheme must survive without panicking.
    pub fn odd_strings() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            " ",
            "~",
            "^",
            "::",
            ":",
            "1:",
            ":1",
            "-",
            "--",
            "1-",
            "-1",
            "a!b",
            "!",
            "1!",
            "+",
            "1+",
            "+1",
            ".",
            "..",
            "1..2",
            "_",
            "v",
            "V",
            "=",
            "0",
            "00",
            "1",
            "1.0",
            "a",
            "A",
            "1.0~~",
            "1^",
            "1~",
            "1.0-r",
            "1.0-r1",
            "1_",
            "1_p",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-+",
            "v1.2",
            "v1.2.3-0",
            "dev-master",
            "1.0 as 2.0",
            "1.0@dev",
            "#1",
            "#N#",
            "1.#",
            "\u{e9}",
            "1.\u{e9}",
            "\u{1F600}",
            "1\u{0}2",
            "\t1.0\n",
            "1.0.0.0.0.0.0",
            "99999999999999999999999999999999999999999",
            "1.99999999999999999999999999999999999999999",
            "99999999999999999999999999999999999999999:1.0",
            "1.0-99999999999999999999999999999999999999999",
            "0.0.0-99999999999999999999999999999999999999999",
            "1.0a99999999999999999999999999999999999999999",
            "1.0_rc99999999999999999999999999999999999999999",
            "1.0-r99999999999999999999999999999999999999999",
            "1.0.post99999999999999999999999999999999999999999",
            "1!1.0+99999999999999999999999999999999999999999",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("9".repeat(40));
        v.push("1.".repeat(300) + "1");
        v.push("a1".repeat(300));
        v.push("-".repeat(300));
        v.push("1-".repeat(300));
        v
    }

    /// A deterministic pseudo-random stream of short version-like strings.
    pub fn random_strings(n: usize) -> Vec<String> {
        const ALPHABET: &[u8] = b"0123456789012345.-_~^:+!abcdeprvxzABCPRV ";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|_| {
                let len = (next() % 12) as usize;
                (0..len)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char)
                    .collect()
            })
            .collect()
    }

    /// Checks that nothing panics, and that the comparison is reflexive and
    /// antisymmetric, over odd and random inputs.
    pub fn assert_robust(cmp: impl Fn(&str, &str) -> Option<Ordering>) {
        let mut inputs = odd_strings();
        inputs.extend(random_strings(400));
        for a in &inputs {
            if let Some(o) = cmp(a, a) {
                assert_eq!(o, Ordering::Equal, "{a:?} == itself");
            }
        }
        for a in inputs.iter().take(120) {
            for b in &inputs {
                let ab = cmp(a, b);
                let ba = cmp(b, a);
                assert_eq!(
                    ab,
                    ba.map(Ordering::reverse),
                    "antisymmetry of {a:?} vs {b:?}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn dispatch_by_ecosystem() {
        assert_eq!(compare("Debian:12", "1.0~rc1", "1.0"), Some(Less));
        assert_eq!(compare("Ubuntu:22.04:LTS", "1:0.9", "2.0"), Some(Greater));
        assert_eq!(compare("Red Hat:9", "1.0^", "1.0"), Some(Greater));
        assert_eq!(
            compare("Rocky Linux:9", "0:1.2-1.el9", "1.2-2.el9"),
            Some(Less)
        );
        assert_eq!(compare("AlmaLinux:9", "1:1.0-1", "2.0-1"), Some(Greater));
        assert_eq!(compare("openSUSE:Leap 15.5", "1.0", "1.0.1"), Some(Less));
        assert_eq!(
            compare("SUSE:Linux Enterprise Server 15 SP5", "5.5p1", "5.5p2"),
            Some(Less)
        );
        assert_eq!(compare("Mageia:9", "1.0", "1.0"), Some(Equal));
        assert_eq!(compare("Alpine:v3.20", "1.2.3_rc1", "1.2.3"), Some(Less));
        assert_eq!(compare("Wolfi", "1.2.3-r1", "1.2.3-r2"), Some(Less));
        assert_eq!(compare("Chainguard", "1.2a", "1.2"), Some(Greater));
        assert_eq!(compare("PyPI", "1.0.dev1", "1.0a1"), Some(Less));
        assert_eq!(compare("npm", "v1.0.0", "=1.0.0-rc.1"), Some(Greater));
        assert_eq!(
            compare("crates.io", "1.0.0-alpha.1", "1.0.0-alpha.beta"),
            Some(Less)
        );
        assert_eq!(compare("crates.io", "v1.0.0", "1.0.0"), None);
        assert_eq!(compare("Go", "v1.2.3", "1.2.3"), Some(Equal));
        assert_eq!(
            compare("Go", "v0.0.0-20210101000000-abcdef123456", "v0.1.0"),
            Some(Less)
        );
        assert_eq!(compare("Go", "v2.0.0+incompatible", "v2.0.0"), Some(Equal));
        assert_eq!(compare("Hex", "1.0.0-rc.1", "1.0.0"), Some(Less));
        assert_eq!(compare("Pub", "1.0.0+1", "1.0.0"), Some(Greater));
        assert_eq!(compare("NuGet", "1.0", "1.0.0.0"), Some(Equal));
        assert_eq!(compare("Maven", "1.0-SNAPSHOT", "1.0"), Some(Less));
        assert_eq!(compare("RubyGems", "1.0.0.pre", "1.0.0"), Some(Less));
        assert_eq!(compare("Packagist", "v1.0.0-RC1", "1.0.0"), Some(Less));
    }

    #[test]
    fn unknown_ecosystems_and_invalid_versions_give_none() {
        assert_eq!(compare("Nonesuch", "1", "2"), None);
        assert_eq!(compare("", "1", "2"), None);
        assert!(!supported("Nonesuch"));
        assert!(!supported(""));
        for eco in [
            "Debian",
            "Ubuntu",
            "Red Hat",
            "Rocky Linux",
            "AlmaLinux",
            "openSUSE",
            "SUSE",
            "Mageia",
            "Alpine",
            "Wolfi",
            "Chainguard",
            "PyPI",
            "npm",
            "crates.io",
            "Go",
            "Maven",
            "RubyGems",
            "Packagist",
            "Hex",
            "NuGet",
            "Pub",
        ] {
            assert!(supported(eco), "{eco}");
            assert!(supported(&format!("{eco}:1")), "{eco}:1");
            assert_eq!(compare(eco, "", "1"), None, "{eco}: empty is invalid");
        }
        assert_eq!(compare("PyPI", "not a version", "1.0"), None);
        assert_eq!(compare("npm", "1.0", "1.0.0"), None);
        assert_eq!(compare("Alpine", "1.0-foo", "1.0"), None);
        assert_eq!(compare("Debian", "a:1.0", "1.0"), None);
        assert_eq!(compare("RubyGems", "1.0-", "1.0"), None);
        assert_eq!(compare("Packagist", "dev-master", "1.0"), None);
    }

    #[test]
    fn every_scheme_is_robust() {
        for eco in [
            "Debian",
            "Red Hat",
            "Alpine",
            "PyPI",
            "npm",
            "crates.io",
            "Go",
            "Maven",
            "RubyGems",
            "Packagist",
            "NuGet",
            "Pub",
        ] {
            testutil::assert_robust(|a, b| compare(eco, a, b));
        }
    }

    #[test]
    fn decimal_comparison_never_overflows() {
        let big = "9".repeat(40);
        let bigger = "1".to_string() + &"0".repeat(40);
        assert_eq!(cmp_decimal(&big, &bigger), Less);
        assert_eq!(cmp_decimal("000123", "123"), Equal);
        assert_eq!(cmp_decimal("", "0"), Equal);
        assert_eq!(cmp_decimal("10", "9"), Greater);
    }
}
