//! Exact version ordering per ecosystem (filled in by the version modules).
