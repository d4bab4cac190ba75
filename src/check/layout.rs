//! `data_dir layout`: will the server accept the data directory's `layout.json`?
//!
//! Unlike the other checks this one is about the data, not the machine: start-up refuses a
//! data directory written with another shard count, or one whose `layout.json` cannot be read.
//! It calls the reader start-up calls ([`read_layout`]), which creates and changes nothing, so
//! `check` and `serve` cannot disagree and `check` stays free of lasting side effects, even
//! against a directory a running server uses.

use std::path::Path;

use super::CheckResult;
use crate::storage::error::StorageError;
use crate::storage::layout::{read_layout, shard_count_mismatch_fix, LAYOUT_FILE_NAME};

const NAME: &str = "data_dir layout";

/// Compares `<data_dir>/layout.json` with `shard_count`, the configuration's resolved count
/// (`--shards`, `TIMBERDB_SHARDS` or `shards`, with `auto` already made one per CPU), which
/// is also the count `run_server` passes to start-up's check.
pub(super) fn check_layout(data_dir: &Path, shard_count: usize) -> CheckResult {
    let configured =
        u32::try_from(shard_count).expect("config::validate bounds shard_count by SHARD_COUNT_MAX");
    match read_layout(data_dir, configured) {
        Ok(None) => CheckResult::ok(
            NAME,
            format!("no data yet ({LAYOUT_FILE_NAME} will be written at first start)"),
        ),
        Ok(Some(layout)) => CheckResult::ok(NAME, made_for(layout.shard_count, configured)),
        Err(StorageError::ShardCountMismatch {
            recorded,
            configured,
            ..
        }) => CheckResult::fail(
            NAME,
            made_for(recorded, configured),
            shard_count_mismatch_fix(recorded),
        ),
        Err(error @ StorageError::Io { .. }) => {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let uid = unsafe { libc::geteuid() };
            let fix = format!(
                "TimberDB will not start until it can read {LAYOUT_FILE_NAME}: make it a file \
                 readable by the user running TimberDB (uid {uid})"
            );
            CheckResult::fail(NAME, error.to_string(), fix)
        }
        Err(error) => {
            let fix = format!(
                "TimberDB will not start with this file: restore it from a backup, or write \
                 {{\"format_version\": 1, \"shard_count\": N}} into it, N being the number of \
                 shard-<n> directories in {}",
                data_dir.display()
            );
            CheckResult::fail(NAME, error.to_string(), fix)
        }
    }
}

fn made_for(recorded: u32, configured: u32) -> String {
    format!("data directory made for {recorded} shards, config asks for {configured}")
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::check::CheckStatus;
    use crate::storage::layout::check_shard_count;

    /// Every entry under `dir`, with file contents, to show the check changed nothing.
    fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Option<Vec<u8>>)> {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|entry| {
                let path = entry.expect("entry").path();
                let bytes = path.is_file().then(|| fs::read(&path).expect("read"));
                (path, bytes)
            })
            .collect();
        entries.sort();
        entries
    }

    #[test]
    fn no_layout_file_is_ok_and_nothing_is_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = check_layout(dir.path(), 2);
        assert_eq!(result.status, CheckStatus::Ok, "{result:?}");
        assert_eq!(
            result.found,
            "no data yet (layout.json will be written at first start)"
        );
        assert!(snapshot(dir.path()).is_empty(), "check created a file");
        let missing = dir.path().join("data");
        assert_eq!(check_layout(&missing, 2).status, CheckStatus::Ok);
        assert!(!missing.exists(), "check created the data directory");
    }

    #[test]
    fn matching_shard_count_is_ok() {
        let dir = tempfile::tempdir().expect("tempdir");
        check_shard_count(dir.path(), 2).expect("first start records 2 shards");
        let before = snapshot(dir.path());
        let result = check_layout(dir.path(), 2);
        assert_eq!(result.status, CheckStatus::Ok, "{result:?}");
        assert_eq!(
            result.found,
            "data directory made for 2 shards, config asks for 2"
        );
        assert_eq!(result.fix, None);
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn other_shard_count_fails_with_the_servers_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        check_shard_count(dir.path(), 1).expect("first start records 1 shard");
        let before = snapshot(dir.path());
        let result = check_layout(dir.path(), 2);
        assert_eq!(result.status, CheckStatus::Fail, "{result:?}");
        assert_eq!(
            result.found,
            "data directory made for 1 shards, config asks for 2"
        );
        let fix = result.fix.expect("a failure has a fix");
        assert_eq!(fix, shard_count_mismatch_fix(1));
        // The server's refusal gives the same advice.
        let refusal = check_shard_count(dir.path(), 2).expect_err("server refuses");
        assert!(refusal.to_string().ends_with(&fix), "{refusal}");
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn damaged_layout_fails_naming_the_path_and_the_parse_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LAYOUT_FILE_NAME);
        fs::write(&path, b"{\"format_version\": 1, \"shard_co").expect("write");
        let before = snapshot(dir.path());
        let result = check_layout(dir.path(), 2);
        assert_eq!(result.status, CheckStatus::Fail, "{result:?}");
        let expected = format!("{}: not valid JSON: EOF while parsing", path.display());
        assert!(result.found.starts_with(&expected), "{}", result.found);
        let fix = result.fix.expect("a failure has a fix");
        assert!(fix.contains("shard_count"), "{fix}");
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn unreadable_layout_fails_naming_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LAYOUT_FILE_NAME);
        // A directory in its place: unreadable as a file even for root.
        fs::create_dir(&path).expect("mkdir");
        let result = check_layout(dir.path(), 2);
        assert_eq!(result.status, CheckStatus::Fail, "{result:?}");
        let expected = format!("read {} at offset 0: ", path.display());
        assert!(result.found.starts_with(&expected), "{}", result.found);
        let fix = result.fix.expect("a failure has a fix");
        assert!(fix.contains("readable"), "{fix}");
    }
}
