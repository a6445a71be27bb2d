//! Local images: names (refs) → manifest → config, looked up by name, short id or
//! digest; tag and remove with garbage collection of unreferenced blobs and layers.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::image::{ImageConfiguration, ImageManifest};

use crate::digest::Digest;
use crate::store::Store;
use crate::{ImageError, Result};

/// An image in the store.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// Names pointing at it (canonical `registry/repo:tag`).
    pub names: Vec<String>,
    /// Digest of its manifest.
    pub manifest_digest: Digest,
    /// The manifest.
    pub manifest: ImageManifest,
    /// Digest of its config: the image id (as Docker).
    pub config_digest: Digest,
    /// The config.
    pub config: ImageConfiguration,
}

impl LocalImage {
    /// Short id (12 hex characters of the config digest), as Docker prints it.
    pub fn short_id(&self) -> String {
        self.config_digest.hex()[..12].to_string()
    }

    /// Layer blobs (digest, media type) bottom → top.
    pub fn layers(&self) -> Result<Vec<(Digest, String)>> {
        self.manifest
            .layers()
            .iter()
            .map(|l| Ok((l.digest().to_string().parse()?, l.media_type().to_string())))
            .collect()
    }

    /// The config's `rootfs.diff_ids`.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        self.config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| d.parse())
            .collect()
    }

    /// Sum of the compressed layer sizes.
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum()
    }
}

/// Load the image whose manifest is `manifest_digest`.
pub fn load(store: &Store, manifest_digest: &Digest, names: Vec<String>) -> Result<LocalImage> {
    let raw = store.read_blob(manifest_digest)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&raw).map_err(|e| ImageError::Invalid {
            what: format!("manifest {manifest_digest}"),
            message: e.to_string(),
        })?;
    let config_digest: Digest = manifest.config().digest().to_string().parse()?;
    let raw = store.read_blob(&config_digest)?;
    let config: ImageConfiguration =
        serde_json::from_slice(&raw).map_err(|e| ImageError::Invalid {
            what: format!("image config {config_digest}"),
            message: e.to_string(),
        })?;
    Ok(LocalImage {
        names,
        manifest_digest: manifest_digest.clone(),
        manifest,
        config_digest,
        config,
    })
}

/// Every image (one entry per manifest), sorted by first name.
pub fn list(store: &Store) -> Result<Vec<LocalImage>> {
    let mut by_manifest: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for (name, d) in store.refs()? {
        by_manifest.entry(d).or_default().push(name);
    }
    let mut out = Vec::new();
    for (d, names) in by_manifest {
        out.push(load(store, &d, names)?);
    }
    out.sort_by(|a, b| a.names.first().cmp(&b.names.first()));
    Ok(out)
}

/// Docker-style name completion: `busybox` → `docker.io/library/busybox:latest`,
/// `host:5000/x` → `host:5000/x:latest`.
pub fn normalize(name: &str) -> String {
    crate::reference::ImageRef::parse(name).map_or_else(|_| name.to_string(), |r| r.to_string())
}

/// The names `what` may be, in the order [`resolve`] tries them.
fn name_candidates(what: &str) -> [String; 2] {
    [what.to_string(), normalize(what)]
}

/// Whether [`resolve`] found `img` for `what` by one of its names (rather than
/// by id or digest).
pub fn found_by_name(img: &LocalImage, what: &str) -> bool {
    name_candidates(what).iter().any(|c| img.names.contains(c))
}

/// Find an image by name (as given or normalised), by id / id prefix (at least 4
/// hex characters of the config digest), or by manifest digest.
pub fn resolve(store: &Store, what: &str) -> Result<LocalImage> {
    let refs = store.refs()?;
    for cand in name_candidates(what) {
        if let Some(d) = refs.get(&cand) {
            let names = refs
                .iter()
                .filter(|(_, v)| *v == d)
                .map(|(k, _)| k.clone())
                .collect();
            return load(store, d, names);
        }
    }
    let hexpart = what
        .strip_prefix("sha256:")
        .unwrap_or(what)
        .to_ascii_lowercase();
    if hexpart.len() >= 4 && hexpart.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut found: Vec<LocalImage> = list(store)?
            .into_iter()
            .filter(|i| {
                i.config_digest.hex().starts_with(&hexpart)
                    || i.manifest_digest.hex().starts_with(&hexpart)
            })
            .collect();
        found.dedup_by(|a, b| a.config_digest == b.config_digest);
        match found.len() {
            1 => return Ok(found.remove(0)),
            n if n > 1 => {
                return Err(ImageError::Invalid {
                    what: what.to_string(),
                    message: format!("ambiguous: {n} images match"),
                })
            }
            _ => {}
        }
    }
    Err(ImageError::NotFound(format!(
        "image {what:?} is not in the local store (try `caisson pull {what}`)"
    )))
}

/// Give an existing image another name.
pub fn tag(store: &Store, what: &str, new_name: &str) -> Result<String> {
    let img = resolve(store, what)?;
    let name = normalize(new_name);
    // A name may carry a digest only if it is this image's: a forged pin would let
    // `NAME@sha256:...` pass for content it does not name (digest-pinning policies).
    if let Some((_, d)) = name.split_once('@') {
        if d != img.manifest_digest.to_string() {
            return Err(ImageError::Invalid {
                what: new_name.to_string(),
                message: format!(
                    "a name's digest must be the image's manifest digest ({})",
                    img.manifest_digest
                ),
            });
        }
    }
    store.set_ref(&name, &img.manifest_digest)?;
    Ok(name)
}

/// Remove a name (or, given an id, every name of that image); when no name is left,
/// delete the image's blobs and unpacked layers that no other image uses. `in_use`
/// holds layer chain ids still needed by containers (never deleted). Returns what
/// was untagged and deleted, as `docker rmi` prints it.
pub fn remove(store: &Store, what: &str, in_use: &BTreeSet<Digest>) -> Result<Vec<String>> {
    let img = resolve(store, what)?;
    let _l = store.lock()?;
    let mut refs = store.refs()?;
    let mut out = Vec::new();
    let by_name = refs.contains_key(what) || refs.contains_key(&normalize(what));
    let drop_names: Vec<String> = if by_name {
        vec![if refs.contains_key(what) {
            what.to_string()
        } else {
            normalize(what)
        }]
    } else {
        img.names.clone()
    };
    for n in &drop_names {
        refs.remove(n);
        out.push(format!("Untagged: {n}"));
    }
    store.write_refs(&refs)?;
    if refs.values().any(|d| *d == img.manifest_digest) {
        return Ok(out);
    }
    // no name left: collect what the remaining images still reference
    let mut keep_blobs = BTreeSet::new();
    let mut keep_layers = in_use.clone();
    for d in refs.values().collect::<BTreeSet<_>>() {
        if let Ok(other) = load(store, d, Vec::new()) {
            keep_blobs.insert(other.manifest_digest.clone());
            keep_blobs.insert(other.config_digest.clone());
            for (b, _) in other.layers()? {
                keep_blobs.insert(b);
            }
            keep_layers.extend(crate::layers::chain_ids(&other.diff_ids()?));
        }
    }
    let mut mine = vec![img.manifest_digest.clone(), img.config_digest.clone()];
    mine.extend(img.layers()?.into_iter().map(|(d, _)| d));
    for b in mine {
        if !keep_blobs.contains(&b) {
            store.remove_blob(&b)?;
        }
    }
    for chain in crate::layers::chain_ids(&img.diff_ids()?) {
        if !keep_layers.contains(&chain) {
            let dir = store.layer_dir(&chain);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(crate::io_err("remove", &dir))?;
            }
        }
    }
    out.push(format!("Deleted: {}", img.config_digest));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_like_docker() {
        assert_eq!(normalize("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalize("a/b:1"), "docker.io/a/b:1");
        assert_eq!(
            normalize("127.0.0.1:5000/busybox"),
            "127.0.0.1:5000/busybox:latest"
        );
        assert_eq!(normalize("localhost/x:y"), "localhost/x:y");
        assert_eq!(normalize("q.io/x@sha256:abc"), "q.io/x@sha256:abc");
    }
}
