//! The runtime <-> init sync protocol: the init side may be under container control
//! by the time it speaks, so every packet is untrusted.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = caisson_container::process::channel::decode(data, None);
});
