//! Crash points for tests: `TIMBERDB_FAILPOINT=<name>` makes the server
//! abort (as abruptly as a power cut, short of the disk) when it reaches the
//! named point, so a test can stop it between any two steps of a multi-step
//! change and check that a restart finds a consistent store. Unset (always,
//! outside tests), a point costs one comparison against `None`.
//!
//! Points: `compaction-before-write`, `compaction-after-block-write`,
//! `compaction-after-manifest`, `compaction-before-punch`,
//! `retention-after-manifest`, `retention-before-punch`.

use std::sync::OnceLock;

/// The environment variable naming the point to abort at.
pub const FAILPOINT_VAR: &str = "TIMBERDB_FAILPOINT";

static ARMED: OnceLock<Option<String>> = OnceLock::new();

/// Aborts the process if `name` is the armed point.
pub fn hit(name: &str) {
    let armed = ARMED.get_or_init(|| std::env::var(FAILPOINT_VAR).ok().filter(|v| !v.is_empty()));
    if armed.as_deref() == Some(name) {
        eprintln!("timberdb: {FAILPOINT_VAR}={name}: aborting here, as a test asked");
        std::process::abort();
    }
}
