//! `--userns=auto`: container root mapped to an unprivileged host id range.
//!
//! Ranges come from the subordinate id files (`/etc/subuid`, `/etc/subgid`) of the
//! user `caisson` or, failing that, `containers` (podman's; a range of our own is
//! better, as podman does not know which blocks we hand out). Each container gets its own block
//! (default 65536 ids) that no other container of this store holds, so two
//! containers' roots are different, unprivileged host users. The image layers stay
//! shared and unchanged on disk: the monitor mounts them idmapped
//! (`mount_setattr(MOUNT_ATTR_IDMAP)`) under the overlay, so a file owned by root in
//! the image is owned by the container's root — host id `base` — and by no one else.

use serde::{Deserialize, Serialize};

use crate::{Engine, EngineError, Result};

/// Owners of subordinate ranges we take blocks from, in order.
pub const RANGE_OWNERS: &[&str] = &["caisson", "containers"];
/// Default block size: a full 16-bit id space, as Debian images expect.
pub const DEFAULT_SIZE: u32 = 65536;

/// The mapping of one container: ids `0..size` inside are `uid..uid+size` and
/// `gid..gid+size` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    /// Host uid of container uid 0.
    pub uid: u32,
    /// Host gid of container gid 0.
    pub gid: u32,
    /// Ids mapped.
    pub size: u32,
}

impl IdMap {
    /// `/proc/<pid>/uid_map` text.
    pub fn uid_map(&self) -> String {
        format!("0 {} {}\n", self.uid, self.size)
    }
    /// `/proc/<pid>/gid_map` text.
    pub fn gid_map(&self) -> String {
        format!("0 {} {}\n", self.gid, self.size)
    }
    fn overlaps(&self, o: &IdMap) -> bool {
        let a = u64::from(self.uid)..u64::from(self.uid) + u64::from(self.size);
        let b = u64::from(o.uid)..u64::from(o.uid) + u64::from(o.size);
        let c = u64::from(self.gid)..u64::from(self.gid) + u64::from(self.size);
        let d = u64::from(o.gid)..u64::from(o.gid) + u64::from(o.size);
        (a.start < b.end && b.start < a.end) || (c.start < d.end && d.start < c.end)
    }
}

/// Parse `--userns`: `None` for the host's (no user namespace), else the block size.
pub fn parse_mode(v: Option<&str>) -> Result<Option<u32>> {
    match v {
        None | Some("" | "host") => Ok(None),
        Some("auto") => Ok(Some(DEFAULT_SIZE)),
        Some(s) => {
            let size = s
                .strip_prefix("auto:size=")
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    EngineError::Invalid(format!(
                        "--userns {s:?}: supported: host (default), auto, auto:size=N"
                    ))
                })?;
            Ok(Some(size))
        }
    }
}

/// The first subordinate range `(start, count)` of one of `owners` in a
/// subuid/subgid text.
pub fn sub_range(text: &str, owners: &[&str]) -> Option<(u32, u32)> {
    for o in owners {
        for l in text.lines() {
            let f: Vec<&str> = l.trim().split(':').collect();
            if f.len() == 3 && f[0] == *o {
                if let (Ok(s), Ok(c)) = (f[1].parse::<u32>(), f[2].parse::<u64>()) {
                    // never hand out host root or the ids of ordinary users
                    if s >= 65536 {
                        let c = c.min(u64::from(u32::MAX) - u64::from(s));
                        return Some((s, u32::try_from(c).unwrap_or(u32::MAX)));
                    }
                }
            }
        }
    }
    None
}

/// Pick the lowest free block of `size` ids in both subordinate ranges, given the
/// maps already taken.
pub fn pick(uids: (u32, u32), gids: (u32, u32), size: u32, taken: &[IdMap]) -> Option<IdMap> {
    let blocks = (uids.1 / size).min(gids.1 / size);
    (0..blocks).find_map(|k| {
        let m = IdMap {
            uid: uids.0 + k * size,
            gid: gids.0 + k * size,
            size,
        };
        (!taken.iter().any(|t| t.overlaps(&m))).then_some(m)
    })
}

impl Engine {
    /// Allocate a block for a new container (the caller holds the store lock).
    pub fn allocate_ids(&self, size: u32) -> Result<IdMap> {
        let read = |f: &str| std::fs::read_to_string(f).unwrap_or_default();
        let hint = "add a range of its own, e.g. 'caisson:1073741824:1073741824', to /etc/subuid and /etc/subgid";
        let uids = sub_range(&read("/etc/subuid"), RANGE_OWNERS).ok_or_else(|| {
            EngineError::Invalid(format!(
                "--userns auto: /etc/subuid has no range for {} ({hint})",
                RANGE_OWNERS.join(" or ")
            ))
        })?;
        let gids = sub_range(&read("/etc/subgid"), RANGE_OWNERS).ok_or_else(|| {
            EngineError::Invalid(format!(
                "--userns auto: /etc/subgid has no range for {} ({hint})",
                RANGE_OWNERS.join(" or ")
            ))
        })?;
        let taken: Vec<IdMap> = self.list()?.into_iter().filter_map(|r| r.idmap).collect();
        pick(uids, gids, size, &taken).ok_or_else(|| {
            EngineError::Invalid(format!(
                "--userns auto: no free block of {size} ids left in the subordinate ranges ({} containers hold one)",
                taken.len()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_blocks() {
        let t = "alice:100000:65536\ncontainers:2147483647:2147483648\n";
        assert_eq!(sub_range(t, RANGE_OWNERS), Some((2147483647, 2147483648)));
        assert_eq!(sub_range("containers:0:65536\n", RANGE_OWNERS), None);
        let r = (1_000_000, 65536 * 3);
        let a = pick(r, r, 65536, &[]).unwrap();
        assert_eq!(a.uid, 1_000_000);
        let b = pick(r, r, 65536, &[a]).unwrap();
        assert_eq!(b.uid, 1_065_536);
        let c = pick(r, r, 65536, &[a, b]).unwrap();
        let d = pick(r, r, 65536, &[a, b, c]);
        assert!(d.is_none());
        assert_eq!(parse_mode(Some("auto:size=1024")).unwrap(), Some(1024));
        assert!(parse_mode(Some("keep-id")).is_err());
        assert_eq!(parse_mode(Some("host")).unwrap(), None);
    }
}
