//! python catalogers.
use super::Cataloger;

/// The catalogers of this module.
pub fn catalogers() -> Vec<Cataloger> {
    Vec::new()
}
