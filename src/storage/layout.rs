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

#[derive(Serialize, Deserialize)]
struct LayoutFile {
    format_version: u32,
    shard_count: u32,
}

/// Records the shard count on first start and refuses a different one later:
/// each shard owns its own slices and WAL, so a shard that disappeared would
/// strand its data. Blocking I/O: runs before any executor starts.
pub fn check_shard_count(data_dir: &Path, shard_count: u32) -> Result<()> {
    let path = data_dir.join(LAYOUT_FILE_NAME);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let layout: LayoutFile =
                serde_json::from_slice(&bytes).map_err(|error| StorageError::BadMetadata {
                    path: path.clone(),
                    detail: format!("not valid JSON: {error}"),
                })?;
            if layout.shard_count != shard_count {
                let detail = format!(
                    "this data directory was created with {} shards; start TimberDB with --shards {} \
                     (changing the shard count of existing data is not supported yet)",
                    layout.shard_count, layout.shard_count
                );
                return Err(StorageError::BadMetadata { path, detail });
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let layout = LayoutFile {
                format_version: 1,
                shard_count,
            };
            let bytes = serde_json::to_vec_pretty(&layout).expect("layout serialises");
            write_durably_blocking(&path, &bytes)
        }
        Err(error) => Err(StorageError::io("read", &path, 0, error)),
    }
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
