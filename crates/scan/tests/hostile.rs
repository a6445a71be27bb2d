//! Hostile input in a scanned tree: a corrupt dpkg status file, a truncated rpm
//! database, a zip-bomb jar, a 1 GB lockfile and symlink loops. Each is a warning
//! naming the file; the scan goes on and still finds the good packages beside them.
#![allow(clippy::tests_outside_test_module)]

use std::io::Write;
use std::path::Path;

use caisson_scan::catalog::catalog_dir;

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

#[test]
fn each_bad_file_is_a_named_warning_and_the_scan_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(root, "etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n");
    // good packages, so we can see the scan went on
    write(
        root,
        "var/lib/dpkg/status",
        b"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nArchitecture: amd64\n\n",
    );
    write(
        root,
        "usr/lib/python3/dist-packages/requests-2.19.1.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.1\n",
    );
    // 1. corrupt dpkg status (distroless status.d)
    write(
        root,
        "var/lib/dpkg/status.d/broken",
        b"\x00\xff\xfe garbage\n\n\x01\x02\n\nno fields\n\n::::\n\nx\n",
    );
    // 2. a truncated rpm database: a real SQLite rpmdb cut in half
    let rpmdb = root.join("var/lib/rpm/rpmdb.sqlite");
    std::fs::create_dir_all(rpmdb.parent().unwrap()).unwrap();
    {
        let c = rusqlite::Connection::open(&rpmdb).unwrap();
        c.execute_batch(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
        )
        .unwrap();
        for i in 0..200 {
            c.execute(
                "INSERT INTO Packages(blob) VALUES (?1)",
                [vec![i as u8; 4000]],
            )
            .unwrap();
        }
    }
    let len = std::fs::metadata(&rpmdb).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&rpmdb)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    // 3. a zip bomb: a jar whose pom.properties inflates to 300 MiB
    {
        let f = std::fs::File::create(root.join("opt/app.jar").tap_mkdir()).unwrap();
        let mut z = zip::ZipWriter::new(f);
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        z.start_file("META-INF/maven/org.example/bomb/pom.properties", o)
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..300 {
            z.write_all(&zeros).unwrap();
        }
        z.finish().unwrap();
    }
    // 4. a 1 GB lockfile (sparse: it costs no disk)
    let big = root.join("srv/web/package-lock.json");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    // 5. symlink loops: two links pointing at each other, a directory link to itself,
    //    and a link to the host's /etc (never followed)
    std::os::unix::fs::symlink("b", root.join("a")).unwrap();
    std::os::unix::fs::symlink("a", root.join("b")).unwrap();
    std::os::unix::fs::symlink(".", root.join("usr/lib/loop")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("hostetc")).unwrap();
    std::os::unix::fs::symlink(
        "/var/lib/dpkg/status",
        root.join("var/lib/dpkg/status.d/hoststatus"),
    )
    .unwrap();

    let t = std::time::Instant::now();
    let c = catalog_dir(root);
    assert!(t.elapsed().as_secs() < 60, "took {:?}", t.elapsed());
    let warned = |file: &str, what: &str| {
        assert!(
            c.warnings
                .iter()
                .any(|w| w.file == file && w.message.contains(what)),
            "no warning about {file} ({what}): {:?}",
            c.warnings
        );
    };
    warned("/var/lib/dpkg/status.d/broken", "dpkg");
    warned("/var/lib/rpm/rpmdb.sqlite", "rpm");
    warned("/opt/app.jar", "");
    warned("/srv/web/package-lock.json", "1073741824 bytes");
    assert_eq!(c.warnings.len(), 4, "{:?}", c.warnings);
    // the good packages were found; nothing came from the host through the links
    let names: Vec<(&str, &str)> = c
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(
        names,
        [("bash", "5.2.15-2+b2"), ("requests", "2.19.1")],
        "{names:?}"
    );
    for w in &c.warnings {
        eprintln!("warning: {}: {}", w.file, w.message);
    }
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(self.parent().unwrap()).unwrap();
        self
    }
}
