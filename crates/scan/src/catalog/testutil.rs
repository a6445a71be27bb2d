//! Helpers shared by the catalogers' unit tests.
use super::{Cataloger, Input};
use crate::Package;

/// The cataloger called `name` among `cats`.
pub(crate) fn find(cats: Vec<Cataloger>, name: &str) -> Cataloger {
    cats.into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no cataloger {name}"))
}

/// Parse `data` at `path` with cataloger `name`, checking that it claims the path
/// and that every package names the file, has no layer or source and (if given) is
/// of `ecosystem`.
pub(crate) fn parse_with(
    cats: Vec<Cataloger>,
    name: &str,
    path: &str,
    data: &str,
    ecosystem: Option<&str>,
) -> Result<Vec<Package>, String> {
    let cat = find(cats, name);
    assert!((cat.claims)(path), "{name} does not claim {path}");
    let p = (cat.parse)(&Input {
        path,
        data: data.as_bytes(),
        distro: None,
    })?;
    for x in &p {
        assert_eq!(x.location, path);
        if let Some(e) = ecosystem {
            assert_eq!(x.ecosystem, e);
        }
        assert!(x.layer.is_none() && x.source.is_none());
    }
    Ok(p)
}

/// (name, version) of each package.
pub(crate) fn pairs(p: Vec<Package>) -> Vec<(String, String)> {
    p.into_iter().map(|p| (p.name, p.version)).collect()
}

/// A sorted list of owned (name, version) pairs.
pub(crate) fn set(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = v
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}
