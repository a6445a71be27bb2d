//! rpm databases, in the three formats rpm has used:
//!
//! - SQLite (`rpmdb.sqlite`, rpm ≥ 4.16: RHEL 9, Fedora ≥ 33): table
//!   `Packages(hnum, blob)`;
//! - Berkeley DB hash (`Packages`, RHEL ≤ 8, CentOS 7, Amazon Linux 2): the
//!   values of the hash table, mostly stored on overflow page chains;
//! - ndb (`Packages.db`, openSUSE/SLE ≥ 15.3): rpm's own slot/blob format.
//!
//! Each yields rpm header blobs ("header without lead and magic"), from which
//! NAME, VERSION, RELEASE, EPOCH, ARCH and SOURCERPM are read. Every offset and
//! count read from a file is checked against the file before use; a database
//! that is truncated or corrupt is an error naming what is wrong.
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{purl, Cataloger, Input};
use crate::Package;

/// The catalogers of this module: SQLite, Berkeley DB and ndb databases.
pub fn catalogers() -> Vec<Cataloger> {
    vec![
        Cataloger {
            name: "rpm sqlite",
            claims: |p| {
                p == "/var/lib/rpm/rpmdb.sqlite" || p == "/usr/lib/sysimage/rpm/rpmdb.sqlite"
            },
            max_size: super::MAX_BINARY_FILE,
            parse: parse_sqlite,
        },
        Cataloger {
            name: "rpm bdb",
            claims: |p| p == "/var/lib/rpm/Packages" || p == "/usr/lib/sysimage/rpm/Packages",
            max_size: super::MAX_BINARY_FILE,
            parse: parse_bdb,
        },
        Cataloger {
            name: "rpm ndb",
            claims: |p| p == "/var/lib/rpm/Packages.db" || p == "/usr/lib/sysimage/rpm/Packages.db",
            max_size: super::MAX_BINARY_FILE,
            parse: parse_ndb,
        },
    ]
}

// ---------------------------------------------------------------------------
// rpm header

/// Most index entries accepted in one header.
const MAX_HEADER_ENTRIES: u32 = 100_000;
/// Largest header data store accepted.
const MAX_HEADER_DATA: u32 = 256 << 20;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// The fields of an rpm header that make a package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RpmHeader {
    name: String,
    version: String,
    release: String,
    epoch: Option<u32>,
    arch: String,
    source_rpm: String,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn tag_name(tag: u32) -> &'static str {
    match tag {
        TAG_NAME => "NAME",
        TAG_VERSION => "VERSION",
        TAG_RELEASE => "RELEASE",
        TAG_EPOCH => "EPOCH",
        TAG_ARCH => "ARCH",
        TAG_SOURCERPM => "SOURCERPM",
        _ => "tag",
    }
}

/// Parse a header blob: `il` (u32 BE), `dl` (u32 BE), `il` 16-byte index
/// entries (tag, type, offset, count), then the `dl`-byte data store.
fn parse_header(blob: &[u8]) -> Result<RpmHeader, String> {
    if blob.len() < 8 {
        return Err(format!(
            "rpm header of {} bytes, shorter than its 8-byte preamble",
            blob.len()
        ));
    }
    let il = be32(blob, 0);
    let dl = be32(blob, 4);
    if il > MAX_HEADER_ENTRIES {
        return Err(format!(
            "rpm header claims {il} index entries, more than the {MAX_HEADER_ENTRIES} accepted"
        ));
    }
    if dl > MAX_HEADER_DATA {
        return Err(format!(
            "rpm header claims {dl} data bytes, more than the {MAX_HEADER_DATA} accepted"
        ));
    }
    let index_end = 8 + il as usize * 16;
    let need = index_end + dl as usize;
    if need > blob.len() {
        return Err(format!(
            "truncated rpm header: {il} entries and {dl} data bytes need {need} bytes, the blob has {}",
            blob.len()
        ));
    }
    let store = &blob[index_end..need];
    let mut h = RpmHeader::default();
    for e in 0..il as usize {
        let at = 8 + e * 16;
        let tag = be32(blob, at);
        if !matches!(
            tag,
            TAG_NAME | TAG_VERSION | TAG_RELEASE | TAG_EPOCH | TAG_ARCH | TAG_SOURCERPM
        ) {
            continue;
        }
        let typ = be32(blob, at + 4);
        let off = be32(blob, at + 8) as usize;
        let count = be32(blob, at + 12);
        if off >= store.len() {
            return Err(format!(
                "rpm header entry {e} ({}): offset {off} beyond the {}-byte data store",
                tag_name(tag),
                store.len()
            ));
        }
        if tag == TAG_EPOCH {
            if typ != TYPE_INT32 || count == 0 {
                return Err(format!(
                    "rpm header entry {e} (EPOCH): type {typ} count {count}, expected INT32"
                ));
            }
            if off + 4 > store.len() {
                return Err(format!(
                    "rpm header entry {e} (EPOCH): offset {off} + 4 beyond the {}-byte data store",
                    store.len()
                ));
            }
            h.epoch = Some(be32(store, off));
            continue;
        }
        if !matches!(typ, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Err(format!(
                "rpm header entry {e} ({}): type {typ}, expected a string",
                tag_name(tag)
            ));
        }
        let rest = &store[off..];
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return Err(format!(
                "rpm header entry {e} ({}): string at offset {off} not terminated within the data store",
                tag_name(tag)
            ));
        };
        let s = String::from_utf8_lossy(&rest[..nul]).into_owned();
        match tag {
            TAG_NAME => h.name = s,
            TAG_VERSION => h.version = s,
            TAG_RELEASE => h.release = s,
            TAG_ARCH => h.arch = s,
            _ => h.source_rpm = s,
        }
    }
    Ok(h)
}

/// `openssl-3.0.7-27.el9.src.rpm` -> (`openssl`, `3.0.7`, `27.el9`).
fn split_srpm(srpm: &str) -> Option<(&str, &str, &str)> {
    let base = srpm
        .strip_suffix(".src.rpm")
        .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
    let mut it = base.rsplitn(3, '-');
    let release = it.next()?;
    let version = it.next()?;
    let name = it.next()?;
    if name.is_empty() || version.is_empty() || release.is_empty() {
        return None;
    }
    Some((name, version, release))
}

/// purl namespace and `distro` qualifier for an ecosystem (`Red Hat:9` ->
/// `redhat`, `rhel-9`).
fn distro_ids(distro: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(d) = distro else {
        return (None, None);
    };
    let (family, release) = d.split_once(':').unwrap_or((d, ""));
    let (ns, id) = match family {
        "Red Hat" => ("redhat".to_string(), "rhel".to_string()),
        "Rocky Linux" => ("rocky".to_string(), "rocky".to_string()),
        "AlmaLinux" => ("almalinux".to_string(), "almalinux".to_string()),
        f => {
            let s: String = f
                .to_ascii_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            (s.clone(), s)
        }
    };
    let q = if release.is_empty() {
        id
    } else {
        format!("{id}-{release}")
    };
    (Some(ns), Some(q))
}

/// Turns header blobs into packages.
struct Collector<'a> {
    input: &'a Input<'a>,
    ns: Option<String>,
    distro_q: Option<String>,
    out: Vec<Package>,
    headers: usize,
}

impl<'a> Collector<'a> {
    fn new(input: &'a Input<'a>) -> Self {
        let (ns, distro_q) = distro_ids(input.distro);
        Collector {
            input,
            ns,
            distro_q,
            out: Vec::new(),
            headers: 0,
        }
    }

    /// One header blob; `what` names it in errors.
    fn blob(&mut self, blob: &[u8], what: &dyn Fn() -> String) -> Result<(), String> {
        let h = parse_header(blob).map_err(|e| format!("{}: {e}", what()))?;
        self.headers += 1;
        if h.name == "gpg-pubkey" {
            return Ok(());
        }
        if h.name.is_empty() || h.version.is_empty() {
            return Err(format!("{}: rpm header without NAME or VERSION", what()));
        }
        let vr = if h.release.is_empty() {
            h.version.clone()
        } else {
            format!("{}-{}", h.version, h.release)
        };
        let version = match h.epoch {
            Some(e) => format!("{e}:{vr}"),
            None => vr.clone(),
        };
        let source = match split_srpm(&h.source_rpm) {
            Some((n, v, r)) => {
                let sv = match h.epoch {
                    Some(e) => format!("{e}:{v}-{r}"),
                    None => format!("{v}-{r}"),
                };
                (n.to_string(), sv)
            }
            None => (h.name.clone(), version.clone()),
        };
        let epoch = h.epoch.map(|e| e.to_string());
        let mut q: Vec<(&str, &str)> = Vec::new();
        if !h.arch.is_empty() {
            q.push(("arch", &h.arch));
        }
        if let Some(e) = &epoch {
            q.push(("epoch", e));
        }
        if !h.source_rpm.is_empty() {
            q.push(("upstream", &h.source_rpm));
        }
        if let Some(d) = &self.distro_q {
            q.push(("distro", d));
        }
        self.out.push(Package {
            ecosystem: self.input.distro.unwrap_or("RPM").to_string(),
            purl: purl("rpm", self.ns.as_deref(), &h.name, &vr, &q),
            name: h.name,
            version,
            source: Some(source),
            location: self.input.path.to_string(),
            layer: None,
        });
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// SQLite

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// A temporary file, removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Copy `data` to a new private temporary file.
fn temp_copy(data: &[u8]) -> Result<TempFile, String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut last = String::new();
    for _ in 0..8 {
        let name = format!(
            "caisson-rpmdb-{}-{}-{nanos}.sqlite",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                let t = TempFile(path);
                f.write_all(data)
                    .and_then(|()| f.flush())
                    .map_err(|e| format!("cannot write temporary copy {}: {e}", t.0.display()))?;
                return Ok(t);
            }
            Err(e) => last = format!("cannot create temporary copy {}: {e}", path.display()),
        }
    }
    Err(last)
}

fn parse_sqlite(i: &Input<'_>) -> Result<Vec<Package>, String> {
    if i.data.len() < 100 || !i.data.starts_with(SQLITE_MAGIC) {
        return Err("not an SQLite database (no `SQLite format 3` header)".into());
    }
    // rpm keeps its database in WAL mode; the -wal/-shm files are not part of the
    // copy, so mark the copy as a rollback-journal database (header bytes 18/19,
    // file format read/write versions) to open it read-only without them.
    let mut data = i.data.to_vec();
    for b in &mut data[18..20] {
        if *b == 2 {
            *b = 1;
        }
    }
    let tmp = temp_copy(&data)?;
    drop(data);
    let conn = rusqlite::Connection::open_with_flags(
        &tmp.0,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open SQLite database: {e}"))?;
    let mut c = Collector::new(i);
    {
        let mut st = conn
            .prepare("SELECT hnum, blob FROM Packages")
            .map_err(|e| format!("no readable Packages table: {e}"))?;
        let mut rows = st
            .query([])
            .map_err(|e| format!("cannot read the Packages table: {e}"))?;
        loop {
            let row = match rows.next() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => return Err(format!("cannot read the Packages table: {e}")),
            };
            let hnum: i64 = row
                .get(0)
                .map_err(|e| format!("Packages row: bad hnum: {e}"))?;
            let blob = row
                .get_ref(1)
                .map_err(|e| format!("Packages row {hnum}: {e}"))?;
            let blob = match blob {
                rusqlite::types::ValueRef::Blob(b) => b,
                other => {
                    return Err(format!(
                        "Packages row {hnum}: blob is {:?}, not a BLOB",
                        other.data_type()
                    ))
                }
            };
            c.blob(blob, &|| format!("Packages row {hnum}"))?;
        }
    }
    drop(conn);
    drop(tmp);
    Ok(c.out)
}

// ---------------------------------------------------------------------------
// Berkeley DB hash

/// Hash database magic number (`DB_HASHMAGIC`).
const DB_HASHMAGIC: u32 = 0x0006_1561;
/// Page types (db_page.h).
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
/// Hash item types.
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// Size of the generic page header (lsn, pgno, prev, next, entries, hf_offset,
/// level, type).
const PAGE_HEADER: usize = 26;

/// Reads integers in the database's byte order.
#[derive(Clone, Copy)]
struct Order {
    big: bool,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let x = [b[at], b[at + 1]];
        if self.big {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        }
    }
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }
    }
}

/// What [`Bdb::each_value`] calls with each value and the page it is on.
type ValueFn<'f> = dyn FnMut(&[u8], u32) -> Result<(), String> + 'f;

/// A Berkeley DB hash file split in pages.
struct Bdb<'a> {
    data: &'a [u8],
    order: Order,
    page_size: usize,
    last_page: u32,
}

impl<'a> Bdb<'a> {
    fn open(data: &'a [u8]) -> Result<Self, String> {
        if data.len() < 512 {
            return Err(format!(
                "truncated rpmdb: {} bytes, less than a Berkeley DB metadata page",
                data.len()
            ));
        }
        let order = if u32::from_le_bytes([data[12], data[13], data[14], data[15]]) == DB_HASHMAGIC
        {
            Order { big: false }
        } else if u32::from_be_bytes([data[12], data[13], data[14], data[15]]) == DB_HASHMAGIC {
            Order { big: true }
        } else {
            return Err(format!(
                "not a Berkeley DB hash database (magic {:#010x})",
                u32::from_le_bytes([data[12], data[13], data[14], data[15]])
            ));
        };
        if data[25] != P_HASHMETA {
            return Err(format!(
                "Berkeley DB page 0 has type {}, not hash metadata ({P_HASHMETA})",
                data[25]
            ));
        }
        if data[24] != 0 {
            return Err(format!(
                "encrypted Berkeley DB (algorithm {}) is not supported",
                data[24]
            ));
        }
        let page_size = order.u32(data, 20);
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(format!("Berkeley DB page size {page_size} is not valid"));
        }
        let page_size = page_size as usize;
        let last_page = order.u32(data, 32);
        let end = (u64::from(last_page) + 1) * page_size as u64;
        if end > data.len() as u64 {
            return Err(format!(
                "truncated rpmdb: page {last_page} beyond end ({} bytes, page size {page_size})",
                data.len()
            ));
        }
        Ok(Bdb {
            data,
            order,
            page_size,
            last_page,
        })
    }

    fn page(&self, n: u32) -> Result<&'a [u8], String> {
        if n > self.last_page {
            return Err(format!(
                "truncated rpmdb: page {n} beyond end (last page {})",
                self.last_page
            ));
        }
        let start = n as usize * self.page_size;
        Ok(&self.data[start..start + self.page_size])
    }

    /// Concatenate the overflow chain starting at `first`, `len` bytes long.
    /// `seen[page]` holds the number of the chain that last went through the page
    /// (`chain`, counted from 1), so a chain that comes back on itself is caught.
    fn overflow(
        &self,
        first: u32,
        len: u32,
        from: u32,
        seen: &mut [u32],
        chain: u32,
    ) -> Result<Vec<u8>, String> {
        if len as usize > self.data.len() || len > MAX_HEADER_DATA + 16 * MAX_HEADER_ENTRIES + 8 {
            return Err(format!(
                "page {from}: overflow item of {len} bytes, more than the file could hold"
            ));
        }
        let mut out = Vec::with_capacity(len as usize);
        let mut pg = first;
        while pg != 0 && out.len() < len as usize {
            let p = self
                .page(pg)
                .map_err(|e| format!("page {from}: overflow chain: {e}"))?;
            if seen[pg as usize] == chain {
                return Err(format!(
                    "page {from}: overflow chain from page {first} loops back to page {pg}"
                ));
            }
            seen[pg as usize] = chain;
            if p[25] != P_OVERFLOW {
                return Err(format!(
                    "page {from}: overflow chain from page {first} reaches page {pg} of type {}, not overflow ({P_OVERFLOW})",
                    p[25]
                ));
            }
            let used = self.order.u16(p, 22) as usize;
            if used > self.page_size - PAGE_HEADER {
                return Err(format!(
                    "overflow page {pg} claims {used} bytes, more than a {}-byte page holds",
                    self.page_size
                ));
            }
            let take = used.min(len as usize - out.len());
            out.extend_from_slice(&p[PAGE_HEADER..PAGE_HEADER + take]);
            pg = self.order.u32(p, 16);
        }
        if out.len() < len as usize {
            return Err(format!(
                "page {from}: overflow chain from page {first} ends after {} of {len} bytes",
                out.len()
            ));
        }
        Ok(out)
    }

    /// Call `f` with every value of the hash table.
    fn each_value(&self, f: &mut ValueFn<'_>) -> Result<(), String> {
        // one u32 per page: bounded by the file size (pages are >= 512 bytes)
        let mut seen = vec![0u32; self.last_page as usize + 1];
        let mut chain = 0u32;
        for n in 1..=self.last_page {
            let p = self.page(n)?;
            if p[25] != P_HASH && p[25] != P_HASH_UNSORTED {
                continue;
            }
            let entries = self.order.u16(p, 20) as usize;
            if entries % 2 != 0 {
                return Err(format!(
                    "hash page {n}: {entries} entries, not key/value pairs"
                ));
            }
            if PAGE_HEADER + 2 * entries > self.page_size {
                return Err(format!(
                    "hash page {n}: index of {entries} entries overflows the page"
                ));
            }
            let inp = |k: usize| self.order.u16(p, PAGE_HEADER + 2 * k) as usize;
            for k in (1..entries).step_by(2) {
                let off = inp(k);
                let end = inp(k - 1);
                if off < PAGE_HEADER + 2 * entries || off >= end || end > self.page_size {
                    return Err(format!(
                        "hash page {n}: item {k} at offset {off}..{end} outside the page's data area"
                    ));
                }
                match p[off] {
                    H_KEYDATA => {
                        let v = &p[off + 1..end];
                        // rpm's own bookkeeping records are a few bytes; headers
                        // have at least their 8-byte preamble
                        if v.len() >= 8 {
                            f(v, n)?;
                        }
                    }
                    H_OFFPAGE => {
                        if off + 12 > end {
                            return Err(format!("hash page {n}: off-page item {k} truncated"));
                        }
                        let first = self.order.u32(p, off + 4);
                        let len = self.order.u32(p, off + 8);
                        chain += 1;
                        let v = self.overflow(first, len, n, &mut seen, chain)?;
                        f(&v, n)?;
                    }
                    _ => {} // duplicates: not used by rpm's Packages
                }
            }
        }
        Ok(())
    }
}

fn parse_bdb(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let db = Bdb::open(i.data)?;
    let mut c = Collector::new(i);
    let mut k = 0usize;
    db.each_value(&mut |v, page| {
        k += 1;
        c.blob(v, &|| format!("hash page {page}, value {k}"))
    })?;
    Ok(c.out)
}

// ---------------------------------------------------------------------------
// ndb

const NDB_HEADER_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const NDB_SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const NDB_BLOB_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const NDB_SLOT_PAGE: usize = 4096;
const NDB_BLOCK: u64 = 16;
const NDB_MAX_SLOT_PAGES: u32 = 2048;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_ndb(i: &Input<'_>) -> Result<Vec<Package>, String> {
    let d = i.data;
    if d.len() < 32 {
        return Err(format!(
            "truncated rpmdb: {} bytes, less than the 32-byte ndb header",
            d.len()
        ));
    }
    if le32(d, 0) != NDB_HEADER_MAGIC {
        return Err("not an rpm ndb database (no `RpmP` magic)".into());
    }
    let version = le32(d, 4);
    if version != 0 {
        return Err(format!("ndb version {version} is not supported"));
    }
    let npages = le32(d, 12);
    if npages == 0 || npages > NDB_MAX_SLOT_PAGES {
        return Err(format!(
            "ndb header claims {npages} slot pages (1..={NDB_MAX_SLOT_PAGES} accepted)"
        ));
    }
    let slots_end = npages as usize * NDB_SLOT_PAGE;
    if slots_end > d.len() {
        return Err(format!(
            "truncated rpmdb: {npages} slot pages end at {slots_end}, beyond end ({} bytes)",
            d.len()
        ));
    }
    let mut c = Collector::new(i);
    // the first two 16-byte slots of page 0 are the header
    for (n, at) in (32..slots_end).step_by(16).enumerate() {
        if le32(d, at) != NDB_SLOT_MAGIC {
            return Err(format!("ndb slot {n}: bad magic {:#010x}", le32(d, at)));
        }
        let pkg = le32(d, at + 4);
        if pkg == 0 {
            continue; // free slot
        }
        let blk_off = u64::from(le32(d, at + 8));
        let blk_cnt = u64::from(le32(d, at + 12));
        let start = blk_off * NDB_BLOCK;
        if start < slots_end as u64 || start + 16 > d.len() as u64 {
            return Err(format!(
                "truncated rpmdb: blob of package {pkg} at offset {start} beyond end ({} bytes) or inside the slot pages",
                d.len()
            ));
        }
        let start = start as usize;
        let magic = le32(d, start);
        if magic != NDB_BLOB_MAGIC {
            return Err(format!(
                "ndb blob of package {pkg} at offset {start}: bad magic {magic:#010x}"
            ));
        }
        let blob_pkg = le32(d, start + 4);
        if blob_pkg != pkg {
            return Err(format!(
                "ndb blob at offset {start} is package {blob_pkg}, its slot says {pkg}"
            ));
        }
        let len = u64::from(le32(d, start + 12));
        if 16 + len > blk_cnt * NDB_BLOCK {
            return Err(format!(
                "ndb blob of package {pkg}: {len} bytes do not fit its {blk_cnt} blocks"
            ));
        }
        let end = start as u64 + 16 + len;
        if end > d.len() as u64 {
            return Err(format!(
                "truncated rpmdb: blob of package {pkg} ends at {end}, beyond end ({} bytes)",
                d.len()
            ));
        }
        c.blob(&d[start + 16..end as usize], &|| {
            format!("ndb package {pkg}")
        })?;
    }
    Ok(c.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An rpm header blob with the given string tags and epoch.
    fn header(strings: &[(u32, &str)], epoch: Option<u32>) -> Vec<u8> {
        let mut index = Vec::new();
        let mut store = Vec::new();
        let mut n = 0u32;
        if let Some(e) = epoch {
            index.extend_from_slice(&TAG_EPOCH.to_be_bytes());
            index.extend_from_slice(&TYPE_INT32.to_be_bytes());
            index.extend_from_slice(&(store.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            store.extend_from_slice(&e.to_be_bytes());
            n += 1;
        }
        for (tag, s) in strings {
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&TYPE_STRING.to_be_bytes());
            index.extend_from_slice(&(store.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            store.extend_from_slice(s.as_bytes());
            store.push(0);
            n += 1;
        }
        let mut b = Vec::new();
        b.extend_from_slice(&n.to_be_bytes());
        b.extend_from_slice(&(store.len() as u32).to_be_bytes());
        b.extend_from_slice(&index);
        b.extend_from_slice(&store);
        b
    }

    fn pkg(
        name: &str,
        ver: &str,
        rel: &str,
        epoch: Option<u32>,
        srpm: &str,
        pad: usize,
    ) -> Vec<u8> {
        let filler = "x".repeat(pad);
        header(
            &[
                (TAG_NAME, name),
                (TAG_VERSION, ver),
                (TAG_RELEASE, rel),
                (TAG_ARCH, "x86_64"),
                (TAG_SOURCERPM, srpm),
                (1004, &filler), // SUMMARY: makes the header big
            ],
            epoch,
        )
    }

    fn blobs() -> Vec<Vec<u8>> {
        vec![
            pkg(
                "openssl-libs",
                "3.0.7",
                "27.el9",
                Some(1),
                "openssl-3.0.7-27.el9.src.rpm",
                900,
            ),
            pkg(
                "bash",
                "5.1.8",
                "9.el9",
                None,
                "bash-5.1.8-9.el9.src.rpm",
                10,
            ),
            pkg("gpg-pubkey", "fd431d51", "4ae0493b", None, "", 0),
        ]
    }

    fn input<'a>(path: &'a str, data: &'a [u8]) -> Input<'a> {
        Input {
            path,
            data,
            distro: Some("Red Hat:9"),
        }
    }

    fn check(p: &[Package], path: &str) {
        assert_eq!(p.len(), 2, "{p:#?}");
        let ssl = p.iter().find(|p| p.name == "openssl-libs").unwrap();
        assert_eq!(ssl.version, "1:3.0.7-27.el9");
        assert_eq!(
            ssl.source,
            Some(("openssl".into(), "1:3.0.7-27.el9".into()))
        );
        assert_eq!(ssl.ecosystem, "Red Hat:9");
        assert_eq!(ssl.location, path);
        assert_eq!(
            ssl.purl,
            "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1&upstream=openssl-3.0.7-27.el9.src.rpm&distro=rhel-9"
        );
        let bash = p.iter().find(|p| p.name == "bash").unwrap();
        assert_eq!(bash.version, "5.1.8-9.el9");
        assert_eq!(bash.source, Some(("bash".into(), "5.1.8-9.el9".into())));
    }

    #[test]
    fn header_parser_bounds() {
        let h = parse_header(&blobs()[0]).unwrap();
        assert_eq!(h.name, "openssl-libs");
        assert_eq!(h.epoch, Some(1));
        assert_eq!(h.arch, "x86_64");
        // every truncation is an error, never a panic
        let b = &blobs()[1];
        for n in 0..b.len() {
            assert!(parse_header(&b[..n]).is_err(), "prefix {n}");
        }
        // an offset beyond the store
        let mut bad = b.clone();
        bad[8 + 8..8 + 12].copy_from_slice(&10_000u32.to_be_bytes());
        assert!(parse_header(&bad).unwrap_err().contains("beyond"));
        // absurd counts
        let mut huge = b.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_header(&huge).unwrap_err().contains("index entries"));
        huge[0..4].copy_from_slice(&1u32.to_be_bytes());
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_header(&huge).unwrap_err().contains("data bytes"));
        // an unterminated string (the last one, with its NUL cut off the store)
        let mut unterminated = header(&[(TAG_NAME, "a"), (TAG_SOURCERPM, "a-1-1.src.rpm")], None);
        let dl = be32(&unterminated, 4) - 1;
        unterminated[4..8].copy_from_slice(&dl.to_be_bytes());
        unterminated.pop();
        assert!(parse_header(&unterminated)
            .unwrap_err()
            .contains("not terminated"));
        assert_eq!(
            split_srpm("openssl-3.0.7-27.el9.src.rpm"),
            Some(("openssl", "3.0.7", "27.el9"))
        );
        assert_eq!(split_srpm("weird.rpm"), None);
    }

    #[test]
    fn sqlite_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            conn.execute_batch(
                "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
            )
            .unwrap();
            for b in blobs() {
                conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [b])
                    .unwrap();
            }
        }
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data[18], 2, "a WAL-mode database");
        let p = parse_sqlite(&input("/var/lib/rpm/rpmdb.sqlite", &data)).unwrap();
        check(&p, "/var/lib/rpm/rpmdb.sqlite");

        // truncated: an error, not a panic
        let e = parse_sqlite(&input("/var/lib/rpm/rpmdb.sqlite", &data[..data.len() / 2]));
        assert!(e.is_err());
        assert!(parse_sqlite(&input("/var/lib/rpm/rpmdb.sqlite", b"garbage")).is_err());
        // no Packages table
        let path2 = dir.path().join("other.sqlite");
        rusqlite::Connection::open(&path2)
            .unwrap()
            .execute_batch("CREATE TABLE t(x);")
            .unwrap();
        let data2 = std::fs::read(&path2).unwrap();
        let e = parse_sqlite(&input("/var/lib/rpm/rpmdb.sqlite", &data2)).unwrap_err();
        assert!(e.contains("Packages"), "{e}");
    }

    /// A little-endian Berkeley DB hash file with 512-byte pages: page 1 holds
    /// the hash items, values larger than 100 bytes go on overflow chains.
    fn bdb(values: &[Vec<u8>]) -> Vec<u8> {
        const PS: usize = 512;
        let mut pages: Vec<Vec<u8>> = vec![vec![0; PS], vec![0; PS]];
        let mut items: Vec<Vec<u8>> = Vec::new();
        for (k, v) in values.iter().enumerate() {
            let mut key = vec![H_KEYDATA];
            key.extend_from_slice(&(k as u32 + 1).to_le_bytes());
            items.push(key);
            if v.len() <= 100 {
                let mut item = vec![H_KEYDATA];
                item.extend_from_slice(v);
                items.push(item);
            } else {
                let first = pages.len() as u32;
                let chunks: Vec<&[u8]> = v.chunks(PS - PAGE_HEADER).collect();
                for (c, chunk) in chunks.iter().enumerate() {
                    let mut p = vec![0u8; PS];
                    let no = pages.len() as u32;
                    p[8..12].copy_from_slice(&no.to_le_bytes());
                    let next = if c + 1 < chunks.len() { no + 1 } else { 0 };
                    p[16..20].copy_from_slice(&next.to_le_bytes());
                    p[22..24].copy_from_slice(&(chunk.len() as u16).to_le_bytes());
                    p[25] = P_OVERFLOW;
                    p[PAGE_HEADER..PAGE_HEADER + chunk.len()].copy_from_slice(chunk);
                    pages.push(p);
                }
                let mut item = vec![H_OFFPAGE, 0, 0, 0];
                item.extend_from_slice(&first.to_le_bytes());
                item.extend_from_slice(&(v.len() as u32).to_le_bytes());
                items.push(item);
            }
        }
        // hash page 1: items packed from the end of the page down
        let hp = &mut pages[1];
        hp[8..12].copy_from_slice(&1u32.to_le_bytes());
        hp[20..22].copy_from_slice(&(items.len() as u16).to_le_bytes());
        hp[25] = P_HASH;
        let mut top = PS;
        for (k, it) in items.iter().enumerate() {
            top -= it.len();
            hp[top..top + it.len()].copy_from_slice(it);
            hp[PAGE_HEADER + 2 * k..PAGE_HEADER + 2 * k + 2]
                .copy_from_slice(&(top as u16).to_le_bytes());
        }
        assert!(PAGE_HEADER + 2 * items.len() < top);
        hp[22..24].copy_from_slice(&(top as u16).to_le_bytes());
        // metadata page 0
        let last = pages.len() as u32 - 1;
        let m = &mut pages[0];
        m[12..16].copy_from_slice(&DB_HASHMAGIC.to_le_bytes());
        m[16..20].copy_from_slice(&9u32.to_le_bytes());
        m[20..24].copy_from_slice(&(PS as u32).to_le_bytes());
        m[25] = P_HASHMETA;
        m[32..36].copy_from_slice(&last.to_le_bytes());
        pages.concat()
    }

    #[test]
    fn berkeley_db() {
        let mut values = blobs();
        // a small header stored inline, and rpm's 4-byte bookkeeping value
        values.push(header(
            &[
                (TAG_NAME, "tzdata"),
                (TAG_VERSION, "2024a"),
                (TAG_RELEASE, "1.el9"),
            ],
            None,
        ));
        values.push(vec![1, 0, 0, 0]);
        let data = bdb(&values);
        let p = parse_bdb(&input("/var/lib/rpm/Packages", &data)).unwrap();
        assert_eq!(p.len(), 3, "{p:#?}");
        let tz = p.iter().find(|p| p.name == "tzdata").unwrap();
        assert_eq!(tz.version, "2024a-1.el9");
        assert_eq!(tz.source, Some(("tzdata".into(), "2024a-1.el9".into())));
        check(
            &p.iter()
                .filter(|p| p.name != "tzdata")
                .cloned()
                .collect::<Vec<_>>(),
            "/var/lib/rpm/Packages",
        );

        // truncated file: the metadata names a page beyond its end
        let e = parse_bdb(&input("/var/lib/rpm/Packages", &data[..3 * 512])).unwrap_err();
        assert!(e.contains("truncated rpmdb: page"), "{e}");
        assert!(e.contains("beyond end"), "{e}");
        // an overflow chain that loops back on itself
        let mut looped = data.clone();
        looped[2 * 512 + 16..2 * 512 + 20].copy_from_slice(&2u32.to_le_bytes());
        let e = parse_bdb(&input("/var/lib/rpm/Packages", &looped)).unwrap_err();
        assert!(e.contains("loops"), "{e}");
        // an overflow chain pointing past the last page
        let mut past = data.clone();
        past[2 * 512 + 16..2 * 512 + 20].copy_from_slice(&999u32.to_le_bytes());
        let e = parse_bdb(&input("/var/lib/rpm/Packages", &past)).unwrap_err();
        assert!(e.contains("page 999 beyond end"), "{e}");
        // not a hash db
        assert!(parse_bdb(&input("/var/lib/rpm/Packages", &[0u8; 4096])).is_err());
        assert!(parse_bdb(&input("/var/lib/rpm/Packages", b"short")).is_err());
        // random corruption never panics
        for k in 0..data.len() {
            let mut c = data.clone();
            c[k] ^= 0xa5;
            let _ = parse_bdb(&input("/var/lib/rpm/Packages", &c));
        }
    }

    /// An ndb file with one slot page and the given blobs.
    fn ndb(values: &[Vec<u8>]) -> Vec<u8> {
        let mut d = vec![0u8; NDB_SLOT_PAGE];
        d[0..4].copy_from_slice(b"RpmP");
        d[8..12].copy_from_slice(&7u32.to_le_bytes());
        d[12..16].copy_from_slice(&1u32.to_le_bytes());
        for at in (32..NDB_SLOT_PAGE).step_by(16) {
            d[at..at + 4].copy_from_slice(b"Slot");
        }
        for (k, v) in values.iter().enumerate() {
            let pkg = k as u32 + 1;
            let start = d.len();
            let blocks = (16 + v.len() + 12).div_ceil(16);
            let slot = 32 + 16 * (2 * k + 1); // leave free slots in between
            d[slot + 4..slot + 8].copy_from_slice(&pkg.to_le_bytes());
            d[slot + 8..slot + 12].copy_from_slice(&((start / 16) as u32).to_le_bytes());
            d[slot + 12..slot + 16].copy_from_slice(&(blocks as u32).to_le_bytes());
            d.extend_from_slice(b"BlbS");
            d.extend_from_slice(&pkg.to_le_bytes());
            d.extend_from_slice(&0u32.to_le_bytes());
            d.extend_from_slice(&(v.len() as u32).to_le_bytes());
            d.extend_from_slice(v);
            d.resize(start + blocks * 16, 0);
        }
        d
    }

    #[test]
    fn ndb_database() {
        let data = ndb(&blobs());
        let p = parse_ndb(&input("/usr/lib/sysimage/rpm/Packages.db", &data)).unwrap();
        check(&p, "/usr/lib/sysimage/rpm/Packages.db");

        let e = parse_ndb(&input(
            "/var/lib/rpm/Packages.db",
            &data[..NDB_SLOT_PAGE - 1],
        ))
        .unwrap_err();
        assert!(e.contains("truncated rpmdb"), "{e}");
        let e = parse_ndb(&input(
            "/var/lib/rpm/Packages.db",
            &data[..NDB_SLOT_PAGE + 40],
        ))
        .unwrap_err();
        assert!(e.contains("truncated rpmdb: blob of package 1"), "{e}");
        let mut bad = data.clone();
        bad[NDB_SLOT_PAGE..NDB_SLOT_PAGE + 4].copy_from_slice(b"XXXX");
        let e = parse_ndb(&input("/var/lib/rpm/Packages.db", &bad)).unwrap_err();
        assert!(e.contains("bad magic"), "{e}");
        let mut huge = data.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_ndb(&input("/var/lib/rpm/Packages.db", &huge)).is_err());
        for k in 0..64 {
            let mut c = data.clone();
            c[NDB_SLOT_PAGE + k] ^= 0xff;
            let _ = parse_ndb(&input("/var/lib/rpm/Packages.db", &c));
        }
    }

    #[test]
    fn claims_and_no_distro() {
        let cats = catalogers();
        let claimed = |p: &str| cats.iter().filter(|c| (c.claims)(p)).count();
        assert_eq!(claimed("/var/lib/rpm/rpmdb.sqlite"), 1);
        assert_eq!(claimed("/usr/lib/sysimage/rpm/Packages.db"), 1);
        assert_eq!(claimed("/var/lib/rpm/Packages"), 1);
        assert_eq!(claimed("/var/lib/rpm/Name"), 0);
        let data = ndb(&blobs());
        let i = Input {
            path: "/var/lib/rpm/Packages.db",
            data: &data,
            distro: None,
        };
        let p = parse_ndb(&i).unwrap();
        assert_eq!(p[0].ecosystem, "RPM");
        assert!(p
            .iter()
            .any(|p| p.purl
                == "pkg:rpm/bash@5.1.8-9.el9?arch=x86_64&upstream=bash-5.1.8-9.el9.src.rpm"));
    }
}
