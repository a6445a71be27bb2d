//! Exact version ordering per ecosystem (placeholder until the version modules land).

/// Compare two versions under the rules of an OSV ecosystem (placeholder).
pub fn compare(_ecosystem: &str, _a: &str, _b: &str) -> Option<std::cmp::Ordering> {
    None
}

/// True if the ecosystem is one `compare` understands (placeholder).
pub fn supported(_ecosystem: &str) -> bool {
    false
}
