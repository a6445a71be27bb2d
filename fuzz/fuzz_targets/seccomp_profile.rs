//! linux.seccomp profiles: JSON -> compile must error cleanly, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = serde_json::from_slice::<oci_spec::runtime::LinuxSeccomp>(data) {
        let _ = caisson_seccomp::SeccompFilter::compile(&p);
    }
});
