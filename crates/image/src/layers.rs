//! Unpacked layers, keyed by chain id and shared between images: each is unpacked
//! once into `tmp/`, its diff id verified, and renamed into `layers/` under the store
//! lock; a refused or failed layer leaves nothing behind.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::Digest;
use crate::store::Store;
use crate::unpack::{remove_tree, unpack_layer, UnpackOptions};
use crate::{io_err, ImageError, Result};

/// OCI chain ids: `chain(0) = diff(0)`, `chain(n) = sha256(chain(n-1) + " " + diff(n))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::sha256_of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Make sure every layer of an image is unpacked; returns the layer directories
/// bottom → top (the overlayfs `lowerdir` list is their reverse). `layers` are the
/// manifest's (blob digest, media type) pairs, `diff_ids` the config's
/// `rootfs.diff_ids`. Default [`UnpackOptions`] limits.
pub fn ensure_unpacked(
    store: &Store,
    layers: &[(Digest, String)],
    diff_ids: &[Digest],
    progress: bool,
) -> Result<Vec<PathBuf>> {
    ensure_unpacked_with(store, layers, diff_ids, progress, &UnpackOptions::default())
}

/// [`ensure_unpacked`] with explicit limits (`opts.expected_diff_id` is ignored: each
/// layer is checked against its own diff id).
pub fn ensure_unpacked_with(
    store: &Store,
    layers: &[(Digest, String)],
    diff_ids: &[Digest],
    progress: bool,
    opts: &UnpackOptions,
) -> Result<Vec<PathBuf>> {
    if layers.len() != diff_ids.len() {
        return Err(ImageError::Invalid {
            what: "image".into(),
            message: format!(
                "the manifest lists {} layers but the config {} diff ids",
                layers.len(),
                diff_ids.len()
            ),
        });
    }
    let chains = chain_ids(diff_ids);
    let mut dirs = Vec::with_capacity(layers.len());
    for (i, ((blob, media_type), chain)) in layers.iter().zip(&chains).enumerate() {
        let dir = store.layer_dir(chain);
        if !dir.is_dir() {
            if progress {
                eprintln!("unpacking layer {}/{} {blob}", i + 1, layers.len());
            }
            let mut o = opts.clone();
            o.expected_diff_id = Some(diff_ids[i].clone());
            unpack_one(store, blob, media_type, chain, &dir, &o, progress)?;
        } else if progress {
            eprintln!("layer {}/{} {blob}: already unpacked", i + 1, layers.len());
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

fn unpack_one(
    store: &Store,
    blob: &Digest,
    media_type: &str,
    chain: &Digest,
    dir: &std::path::Path,
    opts: &UnpackOptions,
    progress: bool,
) -> Result<()> {
    static N: AtomicU64 = AtomicU64::new(0);
    let tmp = store.tmp_dir().join(format!(
        ".unpack-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        &chain.hex()[..16]
    ));
    std::fs::create_dir(&tmp).map_err(io_err("create", &tmp))?;
    let result = (|| {
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
                .map_err(io_err("chmod", &tmp))?;
        }
        let stats = unpack_layer(&store.blob_path(blob), media_type, &tmp, opts)?;
        let _lock = store.lock()?;
        if dir.is_dir() {
            // another process unpacked the same chain meanwhile: share theirs
            remove_tree(&tmp)?;
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
        }
        std::fs::rename(&tmp, dir).map_err(io_err("rename into place", dir))?;
        if progress {
            eprintln!(
                "  {} entries, {} bytes, diff id {}",
                stats.entries, stats.bytes, stats.diff_id
            );
        }
        Ok(())
    })();
    if result.is_err() {
        if let Err(e) = remove_tree(&tmp) {
            tracing::warn!(dir = %tmp.display(), error = %e, "cannot remove a refused layer");
        }
    }
    result
}

/// Delete the unpacked layer `chain` (callers hold the store lock and know no image
/// needs it). It is first renamed into `tmp/`, so it disappears at once.
pub fn remove_layer(store: &Store, chain: &Digest) -> Result<()> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = store.layer_dir(chain);
    let doomed = store.tmp_dir().join(format!(
        ".remove-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    match std::fs::rename(&dir, &doomed) {
        Ok(()) => remove_tree(&doomed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", &dir)(e)),
    }
}

/// Chain ids of every unpacked layer in the store.
pub fn layer_dirs(store: &Store) -> Vec<Digest> {
    let mut out = Vec::new();
    for alg in ["sha256", "sha512"] {
        let Ok(rd) = std::fs::read_dir(store.root().join("layers").join(alg)) else {
            continue;
        };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Ok(d) = format!("{alg}:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        let c = Digest::sha256_of(b"c");
        let ch = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(ch[0], a);
        let ab = Digest::sha256_of(format!("{a} {b}").as_bytes());
        assert_eq!(ch[1], ab);
        assert_eq!(ch[2], Digest::sha256_of(format!("{ab} {c}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }
}
