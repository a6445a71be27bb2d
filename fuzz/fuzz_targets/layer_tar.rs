//! Image layers (hostile: pulled from any registry): arbitrary bytes unpacked as a
//! plain tar, as a tar inside a (stored) gzip stream, or as a raw "gzip" blob, with
//! small limits, devices allowed or not. `unpack_layer` must never panic, never
//! create anything outside its destination (two levels of parents and a sentinel
//! sibling are checked after every run), and what it leaves must be removable.
//!
//! The first input byte picks the mode: bits 0-1 the encoding, bit 2 allow_devices.
#![no_main]
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use caisson_image::unpack::{remove_tree, unpack_layer, UnpackOptions};
use libfuzzer_sys::fuzz_target;

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// `<tmp>/caisson-fuzz-layer-<pid>/a/b/{blob,dest,sentinel/keep}`, on /dev/shm when
/// there is one (disk file systems make every run 10x slower).
fn base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let tmp = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let top = tmp.join(format!("caisson-fuzz-layer-{}", std::process::id()));
        let _ = remove_tree(&top);
        let b = top.join("a/b");
        std::fs::create_dir_all(b.join("sentinel")).unwrap();
        std::fs::write(b.join("sentinel/keep"), b"keep").unwrap();
        b
    })
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A valid gzip stream of `data` in stored (uncompressed) deflate blocks.
fn stored_gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(65535).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let b = base();
    let dest = b.join("dest");
    let blob = b.join("blob");
    std::fs::create_dir(&dest).unwrap();
    let (bytes, media_type) = match mode & 3 {
        0 | 3 => (body.to_vec(), TAR),
        1 => (stored_gzip(body), GZ),
        _ => (body.to_vec(), GZ),
    };
    std::fs::write(&blob, &bytes).unwrap();
    let opts = UnpackOptions {
        max_bytes: 1 << 20,
        max_entries: 256,
        allow_devices: mode & 4 != 0,
        expected_diff_id: None,
    };
    let _ = unpack_layer(&blob, media_type, &dest, &opts);

    let top = b.parent().unwrap().parent().unwrap();
    assert_eq!(
        names(top),
        BTreeSet::from(["a".to_string()]),
        "escaped two levels up"
    );
    assert_eq!(
        names(b.parent().unwrap()),
        BTreeSet::from(["b".to_string()]),
        "escaped one level up"
    );
    assert_eq!(
        names(b),
        ["blob", "dest", "sentinel"].map(String::from).into(),
        "created next to dest"
    );
    assert_eq!(
        names(&b.join("sentinel")),
        BTreeSet::from(["keep".to_string()])
    );
    assert_eq!(std::fs::read(b.join("sentinel/keep")).unwrap(), b"keep");
    remove_tree(&dest).expect("an unpacked layer must be removable");
});
