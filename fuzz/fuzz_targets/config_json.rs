//! config.json (hostile: comes with the bundle): parse + full validation must never
//! panic, whatever the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = caisson_container::config::parse_spec(std::path::Path::new("config.json"), data) {
        let _ = caisson_container::config::validate(&spec);
        if let Some(p) = spec.process() {
            let _ = caisson_container::config::validate_process(p, "process");
        }
    }
});
