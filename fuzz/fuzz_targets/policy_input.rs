//! Policy input (hostile): bytes as a Pod/workload manifest (YAML or JSON), an
//! AdmissionReview or an OCI config.json, normalised and decided by the built-in
//! sets (compiled and interpreted), and as a Gatekeeper constraint. Nothing may
//! panic; every input is either decided or refused with an error.
#![no_main]
use std::sync::OnceLock;

use caisson_policy::{input, Gate, PolicyConfig};
use libfuzzer_sys::fuzz_target;

fn gate() -> Gate {
    static G: OnceLock<Gate> = OnceLock::new();
    G.get_or_init(|| Gate::new(&PolicyConfig::with_sets(&["pss-restricted", "image"])).unwrap())
        .clone()
}

/// The compiled sets and the interpreter must decide a normalised input alike.
fn agree(doc: &serde_json::Value) {
    let mut g = gate();
    let a = g.decide(doc);
    g.use_interpreter();
    let b = g.decide(doc);
    if let (Ok(a), Ok(b)) = (a, b) {
        assert_eq!(a.violations, b.violations, "compiled and interpreted sets disagree");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((doc, _)) = input::from_document(text, None) {
        agree(&doc);
    }
    let _ = caisson_policy::gatekeeper::Constraint::from_yaml(text);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = input::from_admission_request(&v, None);
        // A scan report (hostile too): the image rules over its findings and
        // secrets, compiled (given only the findings they count) and interpreted.
        if v.get("findings").is_some() || v.get("secrets").is_some() {
            let pod = serde_json::json!({"kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "registry.example.com/app:1"}]}});
            if let Ok((doc, _)) = input::normalize(&pod, Some(v)) {
                agree(&doc);
            }
        }
    }
});
