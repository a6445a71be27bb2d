//! Package databases and lockfiles found in images (hostile): arbitrary bytes handed
//! to every cataloger under each path it claims (dpkg status, apk installed, rpmdb,
//! dist-info METADATA, lockfiles, package.json, jars, ELF binaries), and to the
//! advisory loader as an OSV/tracker document. Nothing may panic or hang; each
//! cataloger either returns packages or an error message.
#![no_main]
use caisson_scan::catalog::parse_file;
use libfuzzer_sys::fuzz_target;

const PATHS: &[&str] = &[
    "/var/lib/dpkg/status",
    "/var/lib/dpkg/status.d/libc6",
    "/lib/apk/db/installed",
    "/var/lib/rpm/rpmdb.sqlite",
    "/var/lib/rpm/Packages",
    "/var/lib/rpm/Packages.db",
    "/usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA",
    "/app/requirements.txt",
    "/app/poetry.lock",
    "/app/Pipfile.lock",
    "/app/package-lock.json",
    "/app/yarn.lock",
    "/app/pnpm-lock.yaml",
    "/app/node_modules/x/package.json",
    "/app/Cargo.lock",
    "/app/go.mod",
    "/app/Gemfile.lock",
    "/usr/lib/ruby/gems/3.1.0/specifications/x-1.0.gemspec",
    "/app/composer.lock",
    "/app/x.jar",
    "/usr/bin/x",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let path = PATHS[usize::from(sel) % PATHS.len()];
    let _ = parse_file(path, rest, Some("Debian:12"));
});
