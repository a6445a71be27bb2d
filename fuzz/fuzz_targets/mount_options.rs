//! Mount options and destinations from config.json.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts: Vec<String> = text.split(',').map(str::to_string).collect();
    let _ = caisson_container::rootfs::parse_mount_options(&opts);
    let _ = caisson_container::config::normalize_in_root(std::path::Path::new(text.as_ref()));
});
