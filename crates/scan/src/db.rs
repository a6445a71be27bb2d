//! OSV database.
