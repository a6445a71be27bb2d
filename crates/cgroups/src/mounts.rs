//! Where the cgroup hierarchies are: `/proc/self/mountinfo` (mount points, the root of
//! each mount inside its hierarchy, the v1 controllers of each mount) and
//! `/proc/self/cgroup` (the cgroup this process is in, per hierarchy); plus the
//! lexical path cleaning every cgroup path goes through.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use crate::{CgroupError, CgroupSetup};

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// Where it is mounted.
    pub mount: PathBuf,
    /// Which cgroup of the hierarchy the mount shows (mountinfo field 4; `/` unless
    /// a sub-tree was bind-mounted or the mount was made in a cgroup namespace).
    pub root: PathBuf,
    /// v1: the controllers of the hierarchy (`cpu`, `cpuacct`, `name=systemd`...);
    /// v2: the controllers available at the mount's root (`cgroup.controllers`).
    pub controllers: Vec<String>,
    /// A cgroup2 mount.
    pub v2: bool,
}

impl Hierarchy {
    /// Whether the hierarchy has `ctrl`.
    pub fn has(&self, ctrl: &str) -> bool {
        self.controllers.iter().any(|c| c == ctrl)
    }
}

fn io_err(op: &'static str, path: &str, source: std::io::Error) -> CgroupError {
    CgroupError::Io {
        op,
        path: PathBuf::from(path),
        source,
    }
}

/// Undo the octal escapes of mountinfo path fields (`\040` for a space...).
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..=i + 3].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Which part of the filesystem the mount shows (field 4).
    pub root: PathBuf,
    /// Where it is mounted (field 5).
    pub mount_point: PathBuf,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source (device, or the filesystem's name).
    pub source: String,
    /// Superblock options (`rw,memory`, ...).
    pub super_opts: String,
}

/// Parse mountinfo text into its lines (malformed lines are left out).
pub fn parse_mount_table(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if pre.len() < 5 || post.len() < 3 {
                return None;
            }
            Some(MountEntry {
                root: unescape(pre[3]),
                mount_point: unescape(pre[4]),
                fstype: post[0].to_string(),
                source: unescape(post[1]).to_string_lossy().into_owned(),
                super_opts: post[2].to_string(),
            })
        })
        .collect()
}

/// Mount options of a v1 cgroup mount that are not controllers.
const V1_NON_CONTROLLER_OPTIONS: &[&str] = &[
    "rw",
    "ro",
    "nosuid",
    "nodev",
    "noexec",
    "relatime",
    "noatime",
    "strictatime",
    "xattr",
    "clone_children",
    "cpuset_v2_mode",
    "noprefix",
    "none",
    "all",
];

/// Parse mountinfo text into cgroup hierarchies. `known` is the kernel's list of v1
/// controllers (`/proc/cgroups`) when available; `v2_controllers` reads the
/// `cgroup.controllers` of a cgroup2 mount point.
pub(crate) fn parse_mountinfo(
    text: &str,
    known: Option<&HashSet<String>>,
    v2_controllers: &dyn Fn(&Path) -> Vec<String>,
) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for m in parse_mount_table(text) {
        let (root, mount) = (m.root, m.mount_point);
        let h = match m.fstype.as_str() {
            "cgroup" => {
                let controllers: Vec<String> = m
                    .super_opts
                    .split(',')
                    .filter(|o| {
                        if o.starts_with("name=") {
                            return true;
                        }
                        match known {
                            Some(k) => k.contains(*o),
                            None => !V1_NON_CONTROLLER_OPTIONS.contains(o) && !o.contains('='),
                        }
                    })
                    .map(str::to_string)
                    .collect();
                if controllers.is_empty() {
                    continue;
                }
                Hierarchy {
                    controllers,
                    mount,
                    root,
                    v2: false,
                }
            }
            "cgroup2" => Hierarchy {
                controllers: v2_controllers(&mount),
                mount,
                root,
                v2: true,
            },
            _ => continue,
        };
        // The same hierarchy may be mounted more than once (bind mounts): keep the
        // first, unless a later one shows the whole hierarchy and the first does not.
        let same = |o: &Hierarchy| {
            o.v2 == h.v2
                && (h.v2 || {
                    let a: HashSet<&String> = o.controllers.iter().collect();
                    let b: HashSet<&String> = h.controllers.iter().collect();
                    a == b
                })
        };
        if let Some(i) = out.iter().position(same) {
            let better = if h.v2 {
                v2_rank(&h) < v2_rank(&out[i])
            } else {
                h.root == Path::new("/") && out[i].root != Path::new("/")
            };
            if better {
                out[i] = h;
            }
        } else {
            out.push(h);
        }
    }
    out
}

/// Preference among several cgroup2 mounts (lower is better).
fn v2_rank(h: &Hierarchy) -> u8 {
    let whole = h.root == Path::new("/");
    match h.mount.to_str() {
        Some("/sys/fs/cgroup") if whole => 0,
        Some("/sys/fs/cgroup/unified") if whole => 1,
        _ if whole => 2,
        _ => 3,
    }
}

fn read_v2_controllers(mount: &Path) -> Vec<String> {
    std::fs::read_to_string(mount.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The v1 controllers the kernel knows (first column of `/proc/cgroups`).
fn known_v1_controllers() -> Option<HashSet<String>> {
    let s = std::fs::read_to_string("/proc/cgroups").ok()?;
    Some(
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect(),
    )
}

/// The cgroup hierarchies mounted in this process's mount namespace.
pub(crate) fn hierarchies() -> Result<Vec<Hierarchy>, CgroupError> {
    const MI: &str = "/proc/self/mountinfo";
    let text = std::fs::read_to_string(MI).map_err(|e| io_err("read", MI, e))?;
    Ok(parse_mountinfo(
        &text,
        known_v1_controllers().as_ref(),
        &read_v2_controllers,
    ))
}

/// The layout of a set of hierarchies.
pub(crate) fn setup_of(h: &[Hierarchy]) -> Option<CgroupSetup> {
    let v1 = h.iter().any(|h| !h.v2);
    let v2 = h.iter().any(|h| h.v2);
    match (v1, v2) {
        (true, true) => Some(CgroupSetup::Hybrid),
        (false, true) => Some(CgroupSetup::Unified),
        (true, false) => Some(CgroupSetup::Legacy),
        (false, false) => None,
    }
}

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Membership {
    /// v1: the hierarchy's controllers; v2: empty.
    pub controllers: Vec<String>,
    /// The cgroup, absolute in its hierarchy.
    pub path: PathBuf,
    /// The `0::` (cgroup2) line.
    pub v2: bool,
}

/// Parse `/proc/<pid>/cgroup` text.
pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let id = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            let v2 = id == "0" && ctrls.is_empty();
            Some(Membership {
                controllers: ctrls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: PathBuf::from(path),
                v2,
            })
        })
        .collect()
}

/// This process's cgroups.
pub(crate) fn own_cgroups() -> Result<Vec<Membership>, CgroupError> {
    const PC: &str = "/proc/self/cgroup";
    let text = std::fs::read_to_string(PC).map_err(|e| io_err("read", PC, e))?;
    Ok(parse_proc_cgroup(&text))
}

/// The cgroup of `own` in hierarchy `h`, relative to the mount of `h` (so it can be
/// joined to the mount point). `None` when the process is not in that hierarchy.
pub(crate) fn own_in(h: &Hierarchy, own: &[Membership]) -> Option<PathBuf> {
    let m = own.iter().find(|m| {
        if h.v2 {
            m.v2
        } else {
            !m.v2 && {
                let a: HashSet<&String> = m.controllers.iter().collect();
                let b: HashSet<&String> = h.controllers.iter().collect();
                a == b
            }
        }
    })?;
    // A path outside the mount's root (a cgroup namespace shows "/.." paths) cannot
    // be reached through this mount: use the mount's root.
    let inside = m.path.strip_prefix(&h.root).unwrap_or(Path::new(""));
    Some(clean(inside))
}

/// Lexically clean a cgroup path into a relative one: `.` dropped, `..` pops (never
/// above the root), so no input can leave the hierarchy (runc's `CleanPath`).
pub(crate) fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// systemd's slice expansion: `a-b.slice` → `/a.slice/a-b.slice`, `-.slice` → `/`.
pub(crate) fn expand_slice(slice: &str) -> Option<PathBuf> {
    let name = slice.strip_suffix(".slice")?;
    if name.is_empty() || slice.contains('/') {
        return None;
    }
    let mut path = PathBuf::from("/");
    if name == "-" {
        return Some(path);
    }
    let mut prefix = String::new();
    for part in name.split('-') {
        if part.is_empty() {
            return None;
        }
        path.push(format!("{prefix}{part}.slice"));
        prefix.push_str(part);
        prefix.push('-');
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 27 0:29 /docker/x /mnt/with\\040space rw - cgroup cgroup rw,cpuacct,cpu
51 27 0:39 / /other/cgroup2 rw - cgroup2 cgroup2 rw
";

    fn known() -> HashSet<String> {
        ["cpu", "cpuacct", "cpuset", "memory", "hugetlb"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn mountinfo_with_joined_and_named_hierarchies() {
        let v2 = |_: &Path| vec!["hugetlb".to_string()];
        for k in [Some(known()), None] {
            let h = parse_mountinfo(SAMPLE, k.as_ref(), &v2);
            assert_eq!(h.len(), 4, "{h:#?}");
            assert_eq!(h[0].mount, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
            assert_eq!(h[0].controllers, ["cpu", "cpuacct"]);
            assert_eq!(h[1].controllers, ["cpuset"]);
            assert_eq!(h[2].controllers, ["name=systemd"]);
            assert!(h[3].v2);
            // of two cgroup2 mounts, the one under /sys/fs/cgroup is preferred
            assert_eq!(h[3].mount, Path::new("/sys/fs/cgroup/unified"));
            assert_eq!(h[3].controllers, ["hugetlb"]);
            assert_eq!(setup_of(&h), Some(CgroupSetup::Hybrid));
        }
    }

    #[test]
    fn bind_mount_of_a_subtree_loses_to_the_whole_hierarchy() {
        let text = "\
50 27 0:29 /docker/x /mnt/with\\040space rw - cgroup cgroup rw,cpuacct,cpu
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
";
        let h = parse_mountinfo(text, Some(&known()), &|_| Vec::new());
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].mount, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        let only = parse_mountinfo(text.lines().next().unwrap(), Some(&known()), &|_| {
            Vec::new()
        });
        assert_eq!(only[0].mount, Path::new("/mnt/with space"));
        assert_eq!(only[0].root, Path::new("/docker/x"));
        assert_eq!(setup_of(&only), Some(CgroupSetup::Legacy));
    }

    #[test]
    fn unified_only() {
        let text = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = parse_mountinfo(text, None, &|_| vec!["memory".into(), "pids".into()]);
        assert_eq!(setup_of(&h), Some(CgroupSetup::Unified));
        assert!(h[0].has("memory"));
    }

    #[test]
    fn own_cgroup_per_hierarchy_and_below_the_mount_root() {
        let own = parse_proc_cgroup(
            "4:memory:/process_api/abc\n2:cpuacct,cpu:/docker/x/sub\n1:name=systemd:/\n0::/user.slice\n",
        );
        let mem = Hierarchy {
            mount: "/sys/fs/cgroup/memory".into(),
            root: "/".into(),
            controllers: vec!["memory".into()],
            v2: false,
        };
        let cpu = Hierarchy {
            mount: "/mnt/cpu".into(),
            root: "/docker/x".into(),
            controllers: vec!["cpu".into(), "cpuacct".into()],
            v2: false,
        };
        let uni = Hierarchy {
            mount: "/sys/fs/cgroup/unified".into(),
            root: "/".into(),
            controllers: vec![],
            v2: true,
        };
        assert_eq!(own_in(&mem, &own).unwrap(), Path::new("process_api/abc"));
        assert_eq!(own_in(&cpu, &own).unwrap(), Path::new("sub"));
        assert_eq!(own_in(&uni, &own).unwrap(), Path::new("user.slice"));
    }

    #[test]
    fn cleaning_never_leaves_the_root() {
        assert_eq!(clean(Path::new("/../../a/./b/../c")), Path::new("a/c"));
        assert_eq!(clean(Path::new("../x")), Path::new("x"));
        assert_eq!(clean(Path::new("/")), Path::new(""));
    }

    #[test]
    fn slices_expand_like_systemd() {
        assert_eq!(
            expand_slice("system.slice").unwrap(),
            Path::new("/system.slice")
        );
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            Path::new("/a.slice/a-b.slice/a-b-c.slice")
        );
        assert_eq!(expand_slice("-.slice").unwrap(), Path::new("/"));
        for bad in ["a--b.slice", "-a.slice", "x", ".slice", "a/b.slice"] {
            assert!(expand_slice(bad).is_none(), "{bad}");
        }
    }
}
