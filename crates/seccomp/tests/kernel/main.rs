//! Real filters against the running kernel.
//!
//! Each test re-executes this test binary with `--exact <test>` and
//! `CAISSON_SECCOMP_CHILD=<scenario>`: the child loads the filter on its test thread,
//! makes the syscalls, writes one `RESULT ...` line to stderr and exits; the parent
//! checks the line, the exit status (SIGSYS for the kill actions) and, for
//! `SCMP_ACT_NOTIFY`, plays the seccomp agent on `listenerPath`.

#[cfg(test)]
mod cases;
