//! `data_dir lock`: is a server (or a writing offline tool) using the directory now?
//!
//! Reads `<dir>/.lock` the way start-up would take it (`storage::lock`), without creating or
//! changing it. A held lock is a warning, not a failure: it is what a running server looks
//! like, but a second server (or `timberdb scrub`) on the same directory will be refused.

use std::path::Path;

use super::CheckResult;
use crate::storage::lock::{holder, LockState, LOCK_FILE_NAME};

pub(super) fn check_lock(label: &str, dir: &Path) -> CheckResult {
    let name = format!("{label} lock");
    match holder(dir) {
        Ok(LockState::Free) => CheckResult::ok(name, format!("{LOCK_FILE_NAME} is not held")),
        Ok(LockState::Held { pid }) => {
            let by = pid.map_or("another process".to_string(), |pid| {
                format!("process {pid}")
            });
            CheckResult::warn(
                name,
                format!(
                    "in use: {} is locked by {by}",
                    dir.join(LOCK_FILE_NAME).display()
                ),
                "fine while that server runs; another server or an offline tool (timberdb \
                 scrub) on this directory is refused until it stops",
            )
        }
        Err(error) => CheckResult::warn(
            name,
            format!(
                "cannot read {}: {error}",
                dir.join(LOCK_FILE_NAME).display()
            ),
            "make the file readable by the user running TimberDB",
        ),
    }
}
