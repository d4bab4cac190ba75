//! `timberdb restore --from SNAPSHOT_DIR --data-dir DIR [--wal-dir DIR]`:
//! builds a new data directory from a snapshot, without starting a server.
//!
//! The snapshot must be complete (`snapshot.json` present, every file it
//! lists there and long enough) and the target data and WAL directories
//! empty or absent: restoring over data would mix two databases. Every file
//! is copied, never linked: a snapshot's segment files are usually hard
//! links to the live server's, which it keeps appending to, and a restored
//! server must own its files. Only the bytes the snapshot uses are copied
//! (a segment's tail past its last snapshotted block is not), holes stay
//! holes. Files and directories are fsynced; then the result is loaded the
//! way start-up loads it (layout, catalog, every shard's manifest, every
//! block's place and directory), so a server started on it answers with the
//! snapshot's data. A failure removes what restore wrote.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::block::DirectoryRef;
use crate::storage::catalog::Catalog;
use crate::storage::layout::read_layout;
use crate::storage::manifest;
use crate::storage::segment::segment_file_name;
use crate::storage::snapshot::{copy_file_sparse, read_complete_snapshot, sync_dir, SnapshotInfo};

/// What a restore did, for the summary it prints.
#[derive(Debug)]
pub struct RestoreSummary {
    pub snapshot: SnapshotInfo,
    pub data_dir: PathBuf,
    pub wal_dir: PathBuf,
    pub block_count: u64,
    pub entry_count: u64,
    /// Bytes of data copied (holes not counted).
    pub bytes_copied: u64,
    pub elapsed: Duration,
}

impl RestoreSummary {
    /// The lines `timberdb restore` prints.
    pub fn lines(&self) -> Vec<String> {
        let info = &self.snapshot;
        vec![
            format!(
                "restored snapshot {} (taken {}) into {}",
                info.name,
                info.created_at,
                self.data_dir.display()
            ),
            format!(
                "  {} shards, {} partitions, {} blocks, {} entries",
                info.shard_count, info.partition_count, self.block_count, self.entry_count
            ),
            format!(
                "  {} files, {} bytes copied in {:.1} s; WAL directory {} (empty)",
                info.files.len(),
                self.bytes_copied,
                self.elapsed.as_secs_f64(),
                self.wal_dir.display()
            ),
            format!(
                "  start it with: timberdb --data-dir {} --wal-dir {} --shards {}",
                self.data_dir.display(),
                self.wal_dir.display(),
                info.shard_count
            ),
        ]
    }
}

/// Restores the snapshot in `from` into `data_dir` (and an empty `wal_dir`).
/// Errors are one sentence for the user.
pub fn restore(from: &Path, data_dir: &Path, wal_dir: &Path) -> Result<RestoreSummary, String> {
    let started = Instant::now();
    let snapshot = read_complete_snapshot(from).map_err(|error| error.to_string())?;
    refuse_unless_empty(data_dir, "data")?;
    refuse_unless_empty(wal_dir, "WAL")?;
    let existed = [data_dir.exists(), wal_dir.exists()];
    let result = copy_files(from, data_dir, wal_dir, &snapshot).and_then(|bytes_copied| {
        let (block_count, entry_count) = verify(data_dir, &snapshot)?;
        Ok((bytes_copied, block_count, entry_count))
    });
    match result {
        Ok((bytes_copied, block_count, entry_count)) => Ok(RestoreSummary {
            snapshot,
            data_dir: data_dir.to_path_buf(),
            wal_dir: wal_dir.to_path_buf(),
            block_count,
            entry_count,
            bytes_copied,
            elapsed: started.elapsed(),
        }),
        Err(error) => {
            for (dir, existed) in [(wal_dir, existed[1]), (data_dir, existed[0])] {
                empty_out(dir, existed);
            }
            Err(format!(
                "{error}; nothing was kept in {}",
                data_dir.display()
            ))
        }
    }
}

/// A target must be absent or an empty directory.
fn refuse_unless_empty(dir: &Path, what: &str) -> Result<(), String> {
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(format!(
                "cannot use {} as the {what} directory: {error}",
                dir.display()
            ))
        }
    };
    match entries.next() {
        None => Ok(()),
        Some(first) => {
            let first = first.map(|entry| entry.file_name().to_string_lossy().into_owned());
            Err(format!(
                "refusing to restore into {}: the {what} directory is not empty (it holds {}); restore builds a new data directory, so name an empty or new directory, or move what is there away first",
                dir.display(),
                first.unwrap_or_else(|_| "entries".into())
            ))
        }
    }
}

/// Copies every file of the snapshot, fsyncing files and the directories
/// that gained entries. Returns the bytes of data copied.
fn copy_files(
    from: &Path,
    data_dir: &Path,
    wal_dir: &Path,
    snapshot: &SnapshotInfo,
) -> Result<u64, String> {
    let io = |what: &str, path: &Path, error: std::io::Error| {
        format!("cannot {what} {}: {error}", path.display())
    };
    std::fs::create_dir_all(data_dir).map_err(|e| io("create", data_dir, e))?;
    let mut synced_dirs = vec![data_dir.to_path_buf()];
    let mut bytes_copied = 0;
    for file in &snapshot.files {
        let target = data_dir.join(&file.path);
        let parent = target.parent().expect("a file has a parent").to_path_buf();
        if !synced_dirs.contains(&parent) {
            std::fs::create_dir_all(&parent).map_err(|e| io("create", &parent, e))?;
            synced_dirs.push(parent);
        }
        bytes_copied += copy_file_sparse(&from.join(&file.path), &target, file.bytes)
            .map_err(|e| io("copy into", &target, e))?;
    }
    std::fs::create_dir_all(wal_dir).map_err(|e| io("create", wal_dir, e))?;
    synced_dirs.push(wal_dir.to_path_buf());
    for dir in synced_dirs.iter().rev() {
        sync_dir(dir).map_err(|e| io("fsync", dir, e))?;
    }
    for dir in [data_dir, wal_dir] {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(|e| io("fsync", parent, e))?;
        }
    }
    Ok(bytes_copied)
}

/// Loads the restored directory as start-up would: the layout, the
/// catalog, each shard's manifest, and each block's file, extent and
/// directory. Returns the blocks and entries of the catalog's partitions.
fn verify(data_dir: &Path, snapshot: &SnapshotInfo) -> Result<(u64, u64), String> {
    let not_loadable = |detail: String| format!("the restored directory does not load: {detail}");
    match read_layout(data_dir, snapshot.shard_count) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(not_loadable("it has no layout.json".into())),
        Err(error) => return Err(not_loadable(error.to_string())),
    }
    let catalog = Catalog::load(data_dir).map_err(|error| not_loadable(error.to_string()))?;
    let (mut block_count, mut entry_count) = (0, 0);
    for shard in 0..snapshot.shard_count {
        let shard_dir = data_dir.join(format!("shard-{shard}"));
        let loaded =
            manifest::load(&shard_dir, shard).map_err(|error| not_loadable(error.to_string()))?;
        if loaded.generation == 0 {
            return Err(not_loadable(format!(
                "{} holds no complete manifest",
                shard_dir.display()
            )));
        }
        for ((segment, offset), block) in loaded.state.blocks {
            check_block(&shard_dir, segment, offset, &block).map_err(not_loadable)?;
            if catalog.by_key(block.header.partition_key).is_some() {
                block_count += 1;
                entry_count += u64::from(block.header.entry_count);
            }
        }
    }
    Ok((block_count, entry_count))
}

/// A block's segment file holds its whole span, and its directory is valid.
fn check_block(
    shard_dir: &Path,
    segment: u32,
    offset: u64,
    block: &manifest::BlockEntry,
) -> Result<(), String> {
    let path = shard_dir.join(segment_file_name(segment));
    let length = std::fs::metadata(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?
        .len();
    let end = offset + block.header.span_bytes();
    if length < end {
        return Err(format!(
            "{} holds {length} bytes; its block at offset {offset} ends at {end}",
            path.display()
        ));
    }
    DirectoryRef::new(&block.header, block.directory.clone())
        .map(drop)
        .map_err(|error| format!("{} offset {offset}: {error}", path.display()))
}

/// Takes back what a failed restore wrote: the directory itself when it
/// did not exist before, else its contents (it was empty).
fn empty_out(dir: &Path, existed: bool) {
    if !existed {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}
