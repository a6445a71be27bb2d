//! What a registry or the user hands the image code (hostile): arbitrary bytes as a
//! manifest or index (parse, validate, pick a platform), as an image config, as an
//! auth file, and (as UTF-8) as an image reference and a platform. Nothing may
//! panic; a reference that parses must print back to itself (normalisation is
//! idempotent).
#![no_main]
use std::path::Path;

use caisson_image::auth::parse_auth_file;
use caisson_image::reference::{is_loopback, ImageRef};
use caisson_image::registry::{
    parse_manifest, registry_scheme, select_platform, validate_config, validate_image_manifest,
    ManifestKind, Platform,
};
use libfuzzer_sys::fuzz_target;

const REGISTRIES: [&str; 4] = ["docker.io", "127.0.0.1:5000", "quay.io", "[::1]:5000"];

fuzz_target!(|data: &[u8]| {
    // a manifest or an index
    let mut layers = None;
    match parse_manifest("manifest m", data) {
        Ok(ManifestKind::Image(m, _)) => {
            if let Ok((_config, l)) = validate_image_manifest("manifest m", &m) {
                layers = Some(l.len());
            }
        }
        Ok(ManifestKind::Index(ix, _)) => {
            for p in [
                Platform::host(),
                Platform::parse("linux/arm64/v8").unwrap(),
                Platform::parse("linux/arm").unwrap(),
            ] {
                let _ = select_platform("index i", &ix, &p);
            }
        }
        Err(_) => {}
    }

    // an image config (against the manifest's layer count when it had one)
    for n in [Some(0), Some(1), layers].into_iter().flatten() {
        let _ = validate_config("config c", data, n);
    }

    // an auth file
    for r in REGISTRIES {
        let _ = parse_auth_file(Path::new("auth.json"), data, r);
    }

    // a reference, a platform
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(r) = ImageRef::parse(s) {
            let printed = r.to_string();
            let again = ImageRef::parse(&printed).unwrap_or_else(|e| {
                panic!("{s:?} parses, prints as {printed:?}, which does not: {e}")
            });
            assert_eq!(again, r, "{s:?} -> {printed:?}");
            let _ = (r.name(), r.tagged_name(), r.api_registry(), r.to_oci());
            let _ = (is_loopback(&r.registry), registry_scheme(&r.registry, &[]));
            if let Some(d) = &r.digest {
                let _ = r.digested_name(d);
            }
        }
        if let Ok(p) = Platform::parse(s) {
            let _ = p.to_string();
        }
        let _ = is_loopback(s);
    }
});
