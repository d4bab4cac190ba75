//! Where every file lives. One place, so paths are never assembled ad hoc.
//!
//! ```text
//! <data_dir>/layout.json                     shard count the data was written with
//! <data_dir>/catalog.json                    partitions (shard 0 writes it)
//! <data_dir>/shard-<n>/manifest-<g>.log      shard n's published blocks and sealed watermarks
//! <data_dir>/shard-<n>/seg-<k>.tdb           shard n's blocks, of every partition
//! <wal_dir>/shard-<n>/<generation>.wal       shard n's WAL segments
//!
//! Format 2 kept `manifest.json` and `p-<key>/seg-<k>.tdb` per slice in a
//! shard directory; `storage::convert` reads and removes them.
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Result, StorageError};

pub const LAYOUT_FILE_NAME: &str = "layout.json";

#[derive(Clone, Debug)]
pub struct ShardPaths {
    pub shard_dir: PathBuf,
    pub wal_dir: PathBuf,
}

impl ShardPaths {
    /// Both directories must be absolute: glommio's directory handles (used to fsync a
    /// directory) do not take relative paths, and start-up resolves them once
    /// (`config::StorageConfig::make_paths_absolute`, then `run_server`).
    pub fn new(data_dir: &Path, wal_dir: &Path, shard_id: u32) -> ShardPaths {
        assert!(
            data_dir.is_absolute() && wal_dir.is_absolute(),
            "shard directories are absolute: {} {}",
            data_dir.display(),
            wal_dir.display()
        );
        ShardPaths {
            shard_dir: data_dir.join(format!("shard-{shard_id}")),
            wal_dir: wal_dir.join(format!("shard-{shard_id}")),
        }
    }

    /// A format-2 slice directory (read only to convert it).
    pub fn slice_dir(&self, partition_key: u64) -> PathBuf {
        self.shard_dir.join(format!("p-{partition_key}"))
    }

    pub fn wal_segment(&self, generation: u64) -> PathBuf {
        self.wal_dir.join(format!("{generation:020}.wal"))
    }

    /// Parses a WAL file name back into its generation.
    pub fn wal_generation(file_name: &str) -> Option<u64> {
        file_name.strip_suffix(".wal")?.parse().ok()
    }

    /// Parses `p-<key>` back into a partition key.
    pub fn slice_key(dir_name: &str) -> Option<u64> {
        dir_name.strip_prefix("p-")?.parse().ok()
    }
}

/// The `format_version` this build writes into `layout.json`.
pub const LAYOUT_FORMAT_VERSION: u32 = 1;

/// What `layout.json` records about a data directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Version of this file's format; [`LAYOUT_FORMAT_VERSION`].
    pub format_version: u32,
    /// Shards the data directory was created with; shard `n` owns `shard-<n>` and its WAL.
    pub shard_count: u32,
}

/// Reads `<data_dir>/layout.json` and checks that the data was written with `shard_count`
/// shards. Creates and changes nothing, so `timberdb check` can run it against a directory a
/// server uses or will use; start-up runs it too ([`check_shard_count`]), so the two cannot
/// disagree. `Ok(None)`: there is no layout.json (no data yet, or no data directory).
/// Errors: `Io` when the file cannot be read, `BadMetadata` when it is not a layout,
/// `ShardCountMismatch` when it records another count. Blocking I/O.
pub fn read_layout(data_dir: &Path, shard_count: u32) -> Result<Option<Layout>> {
    let path = data_dir.join(LAYOUT_FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("read", &path, 0, error)),
    };
    let layout: Layout =
        serde_json::from_slice(&bytes).map_err(|error| StorageError::BadMetadata {
            path: path.clone(),
            detail: format!("not valid JSON: {error}"),
        })?;
    if layout.shard_count != shard_count {
        return Err(StorageError::ShardCountMismatch {
            path,
            recorded: layout.shard_count,
            configured: shard_count,
        });
    }
    Ok(Some(layout))
}

/// Records the shard count on first start and refuses a different one later:
/// each shard owns its own slices and WAL, so a shard that disappeared would
/// strand its data. Blocking I/O: runs before any executor starts.
pub fn check_shard_count(data_dir: &Path, shard_count: u32) -> Result<()> {
    if read_layout(data_dir, shard_count)?.is_some() {
        return Ok(());
    }
    let layout = Layout {
        format_version: LAYOUT_FORMAT_VERSION,
        shard_count,
    };
    let bytes = serde_json::to_vec_pretty(&layout).expect("layout serialises");
    write_durably_blocking(&data_dir.join(LAYOUT_FILE_NAME), &bytes)
}

/// What to do when the configured shard count is not the `recorded` one. One sentence for
/// both places that say it: the server's refusal to start (`ShardCountMismatch`) and the
/// `fix:` line of `timberdb check`.
pub fn shard_count_mismatch_fix(recorded: u32) -> String {
    format!(
        "start TimberDB with --shards {recorded} \
         (changing the shard count of existing data is not supported yet)"
    )
}

/// Start-up only: temp file, fsync, rename, fsync the directory.
pub fn write_durably_blocking(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let temp_path = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp_path)
        .map_err(|e| StorageError::io("create", &temp_path, 0, e))?;
    file.write_all(bytes)
        .map_err(|e| StorageError::io("write", &temp_path, 0, e))?;
    file.sync_data()
        .map_err(|e| StorageError::io("fdatasync", &temp_path, 0, e))?;
    std::fs::rename(&temp_path, path).map_err(|e| StorageError::io("rename", path, 0, e))?;
    let dir = path.parent().expect("file in a directory");
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io("fsync directory", dir, 0, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_count_is_pinned_on_first_start() {
        let dir = tempfile::tempdir().unwrap();
        check_shard_count(dir.path(), 2).unwrap();
        check_shard_count(dir.path(), 2).unwrap();
        let error = check_shard_count(dir.path(), 3).unwrap_err().to_string();
        assert!(error.contains("--shards 2"), "{error}");
    }

    /// Every file under `dir` with its bytes, to show a read changed nothing.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn read_layout_without_layout_file_is_none_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_layout(dir.path(), 2).unwrap(), None);
        assert!(snapshot(dir.path()).is_empty());
        let missing = dir.path().join("not-yet");
        assert_eq!(read_layout(&missing, 2).unwrap(), None);
        assert!(!missing.exists(), "the data directory is not created");
    }

    #[test]
    fn read_layout_returns_the_recorded_layout_when_counts_match() {
        let dir = tempfile::tempdir().unwrap();
        check_shard_count(dir.path(), 2).unwrap();
        let before = snapshot(dir.path());
        let layout = read_layout(dir.path(), 2).unwrap();
        let expected = Layout {
            format_version: LAYOUT_FORMAT_VERSION,
            shard_count: 2,
        };
        assert_eq!(layout, Some(expected));
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn read_layout_refuses_another_shard_count_with_the_servers_advice() {
        let dir = tempfile::tempdir().unwrap();
        check_shard_count(dir.path(), 2).unwrap();
        let before = snapshot(dir.path());
        let error = read_layout(dir.path(), 3).unwrap_err();
        let path = dir.path().join(LAYOUT_FILE_NAME);
        assert!(
            matches!(
                &error,
                StorageError::ShardCountMismatch { path: p, recorded: 2, configured: 3 } if *p == path
            ),
            "{error:?}"
        );
        let expected = format!(
            "{}: this data directory was created with 2 shards; start TimberDB with --shards 2 \
             (changing the shard count of existing data is not supported yet)",
            path.display()
        );
        assert_eq!(error.to_string(), expected);
        // Start-up refuses with the very same error, and leaves the file alone.
        assert_eq!(
            check_shard_count(dir.path(), 3).unwrap_err().to_string(),
            expected
        );
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn read_layout_reports_a_damaged_file_by_path_and_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LAYOUT_FILE_NAME);
        let whole = b"{\n  \"format_version\": 1,\n  \"shard_count\": 2\n}";
        let damaged: [&[u8]; 4] = [
            &whole[..whole.len() - 1],
            b"",
            b"{\"format_version\": 1}",
            b"{\"format_version\": 1, \"shard_count\": \"two\"}",
        ];
        for bytes in damaged {
            std::fs::write(&path, bytes).unwrap();
            let error = read_layout(dir.path(), 2).unwrap_err();
            assert!(
                matches!(&error, StorageError::BadMetadata { path: p, .. } if *p == path),
                "{error:?}"
            );
            let message = error.to_string();
            let prefix = format!("{}: not valid JSON: ", path.display());
            assert!(message.starts_with(&prefix), "{message}");
            // Start-up refuses too, rather than writing a new layout over it.
            assert!(check_shard_count(dir.path(), 2).is_err());
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
    }

    #[test]
    fn read_layout_reports_an_unreadable_file_as_io_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LAYOUT_FILE_NAME);
        // A directory where the file should be: unreadable even for root.
        std::fs::create_dir(&path).unwrap();
        let error = read_layout(dir.path(), 2).unwrap_err();
        assert!(
            matches!(&error, StorageError::Io { op: "read", path: p, .. } if *p == path),
            "{error:?}"
        );
    }

    #[test]
    fn names_parse_back() {
        let paths = ShardPaths::new(Path::new("/d"), Path::new("/w"), 1);
        let wal = paths.wal_segment(42);
        let name = wal.file_name().unwrap().to_str().unwrap();
        assert_eq!(ShardPaths::wal_generation(name), Some(42));
        assert_eq!(ShardPaths::slice_key("p-17"), Some(17));
        assert_eq!(ShardPaths::slice_key("x-17"), None);
    }
}
