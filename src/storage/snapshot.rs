//! Snapshot directories: what a snapshot holds on disk, how it is named,
//! listed, recognised as complete, and copied file by file.
//!
//! ```text
//! <snapshot_dir>/<name>/
//!   layout.json                  copy of the data directory's
//!   catalog.json                 copy of the data directory's (the partitions at the snapshot)
//!   shard-<n>/
//!     manifest-<g>.log           a checkpoint of shard n's published blocks and watermarks
//!     seg-NNNNNN.tdb             the segment files holding those blocks (hard links, or copies)
//!   snapshot.json                written last: name, time, versions, files and their sizes
//! ```
//!
//! A snapshot directory mirrors a data directory without its WAL, so
//! `timberdb restore` copies it into an empty data directory as it is. A
//! segment file is usually a hard link to the live file (same inode, no
//! bytes copied); the live server keeps appending to its newest segment, so
//! a snapshot's segment file may be longer than the snapshot needs:
//! `snapshot.json` records, per file, the bytes the snapshot uses (for a
//! segment, the end of its last block the snapshot's manifest names), and
//! restore copies only those.
//!
//! `snapshot.json` is written (temporary file, fsync, rename, directory
//! fsync) only after every other file is durable, so a directory without it
//! is a snapshot that did not finish: it is never listed, restore refuses
//! it, and the server removes it at start-up. Everything here is blocking
//! std I/O: it runs on glommio's blocking thread or in `timberdb restore`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file that makes a snapshot directory complete.
pub const SNAPSHOT_FILE_NAME: &str = "snapshot.json";
/// The `format_version` of `snapshot.json` this build writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// Where snapshots go inside the data directory unless `storage.snapshot_dir` says otherwise.
pub const SNAPSHOTS_DIR_NAME: &str = "snapshots";
/// Longest snapshot name, in bytes.
pub const SNAPSHOT_NAME_BYTES_MAX: usize = 128;
/// Bytes one copy step reads and writes; bounds the copy buffer.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// One file of a snapshot, relative to the snapshot directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// Relative path, `/`-separated (`shard-0/seg-000001.tdb`).
    pub path: String,
    /// Bytes of the file the snapshot uses, from offset 0. The file on disk
    /// may be longer (a hard link to a segment the server still appends to).
    pub bytes: u64,
}

/// `snapshot.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub format_version: u32,
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The same instant, ns since the Unix epoch (orders the list).
    pub created_at_ns: i64,
    pub shard_count: u32,
    /// `format_version` of `layout.json`, `catalog.json`, the manifest
    /// records and the blocks the snapshot holds.
    pub layout_format_version: u32,
    pub catalog_format_version: u32,
    pub manifest_format_version: u32,
    pub block_format_version: u16,
    /// Partitions in the snapshot's catalog.
    pub partition_count: u64,
    /// Whether segment files were copied rather than hard-linked (the
    /// snapshot directory is on another filesystem than the data).
    pub segments_copied: bool,
    pub files: Vec<SnapshotFile>,
}

impl SnapshotInfo {
    /// Bytes of every file, as the snapshot uses them.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.bytes).sum()
    }
}

/// Why a snapshot name is refused, in words for the client; `Ok` when it is fine.
pub fn validate_snapshot_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > SNAPSHOT_NAME_BYTES_MAX {
        return Err(format!(
            "a snapshot name is 1 to {SNAPSHOT_NAME_BYTES_MAX} bytes long; got {} bytes",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a snapshot name"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "a snapshot name holds only A-Z a-z 0-9 _ - . (so it is one directory name); {name:?} holds {bad:?}"
        ));
    }
    Ok(())
}

/// The name a snapshot gets when the request names none: `snap-YYYYMMDDTHHMMSSZ` (UTC).
pub fn default_snapshot_name(now_ns: i64) -> String {
    let time = ::time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ns))
        .unwrap_or(::time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "snap-{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// Why a directory is not a snapshot restore can use.
#[derive(Debug)]
pub enum SnapshotError {
    /// No `snapshot.json`: not a snapshot, or one that never finished.
    Incomplete(PathBuf),
    /// `snapshot.json` or a file it lists is wrong or missing.
    Invalid {
        path: PathBuf,
        detail: String,
    },
    Io {
        path: PathBuf,
        error: io::Error,
    },
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Incomplete(dir) => write!(
                f,
                "{} is not a complete TimberDB snapshot: it has no {SNAPSHOT_FILE_NAME} (a snapshot writes it last, so the directory is not a snapshot or its snapshot did not finish)",
                dir.display()
            ),
            SnapshotError::Invalid { path, detail } => {
                write!(f, "{} is not a usable snapshot: {detail}", path.display())
            }
            SnapshotError::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
        }
    }
}

/// Reads `<dir>/snapshot.json`.
pub fn read_snapshot_info(dir: &Path) -> Result<SnapshotInfo, SnapshotError> {
    let path = dir.join(SNAPSHOT_FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(SnapshotError::Incomplete(dir.to_path_buf()))
        }
        Err(error) => return Err(SnapshotError::Io { path, error }),
    };
    parse_snapshot_info(&bytes).map_err(|detail| SnapshotError::Invalid { path, detail })
}

/// Parses the bytes of a `snapshot.json` (what `read_snapshot_info` read;
/// also the fuzzers' entry). The error says what is wrong.
pub fn parse_snapshot_info(bytes: &[u8]) -> Result<SnapshotInfo, String> {
    let info: SnapshotInfo = serde_json::from_slice(bytes)
        .map_err(|error| format!("{SNAPSHOT_FILE_NAME} is not valid: {error}"))?;
    if info.format_version != SNAPSHOT_FORMAT_VERSION {
        return Err(format!(
            "{SNAPSHOT_FILE_NAME} has format_version {}; this build reads {SNAPSHOT_FORMAT_VERSION}",
            info.format_version
        ));
    }
    Ok(info)
}

/// Reads `snapshot.json` and checks that every file it lists is there, at
/// least as long as the snapshot uses, and inside the directory.
pub fn read_complete_snapshot(dir: &Path) -> Result<SnapshotInfo, SnapshotError> {
    let info = read_snapshot_info(dir)?;
    for file in &info.files {
        let relative = Path::new(&file.path);
        let inside = relative
            .components()
            .all(|part| matches!(part, std::path::Component::Normal(_)));
        if !inside {
            return Err(SnapshotError::Invalid {
                path: dir.join(SNAPSHOT_FILE_NAME),
                detail: format!("it lists {:?}, a path outside the snapshot", file.path),
            });
        }
        let path = dir.join(relative);
        let length = std::fs::metadata(&path)
            .map_err(|error| SnapshotError::Invalid {
                path: path.clone(),
                detail: format!("a file the snapshot lists cannot be read: {error}"),
            })?
            .len();
        if length < file.bytes {
            return Err(SnapshotError::Invalid {
                path,
                detail: format!(
                    "the file holds {length} bytes; the snapshot uses {}",
                    file.bytes
                ),
            });
        }
    }
    Ok(info)
}

/// The complete snapshots under `root`, oldest first (missing root: none).
pub fn list_snapshots(root: &Path) -> io::Result<Vec<(PathBuf, SnapshotInfo)>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        match read_snapshot_info(&entry.path()) {
            Ok(info) => found.push((entry.path(), info)),
            Err(SnapshotError::Incomplete(_)) => {} // being written, or left by a crash
            Err(error) => tracing::warn!(%error, "skipping a snapshot directory"),
        }
    }
    found.sort_by(|a, b| (a.1.created_at_ns, &a.1.name).cmp(&(b.1.created_at_ns, &b.1.name)));
    Ok(found)
}

/// Removes every directory under `root` without `snapshot.json`: snapshots
/// a crash or a failure stopped. Their hard links would otherwise keep the
/// live server from giving space back. Start-up only (no snapshot is being
/// written then). Returns the directories removed.
pub fn remove_incomplete_snapshots(root: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() && !path.join(SNAPSHOT_FILE_NAME).exists() {
            std::fs::remove_dir_all(&path)?;
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        sync_dir(root)?;
    }
    Ok(removed)
}

/// Writes `snapshot.json` into `dir` durably: temporary file, fsync,
/// rename, directory fsync. The snapshot is complete once this returns.
pub fn write_snapshot_info(dir: &Path, info: &SnapshotInfo) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(info).expect("snapshot info serialises");
    let temp = dir.join("snapshot.json.tmp");
    write_file_durably(&temp, &bytes)?;
    std::fs::rename(&temp, dir.join(SNAPSHOT_FILE_NAME))?;
    sync_dir(dir)
}

/// Removes a snapshot: `snapshot.json` first (from then on it is an
/// incomplete snapshot, which the next start removes if this is cut
/// short), then the directory.
pub fn remove_snapshot(dir: &Path) -> io::Result<()> {
    std::fs::remove_file(dir.join(SNAPSHOT_FILE_NAME))?;
    if let Some(root) = dir.parent() {
        sync_dir(root)?;
    }
    std::fs::remove_dir_all(dir)?;
    match dir.parent() {
        Some(root) => sync_dir(root),
        None => Ok(()),
    }
}

/// Creates `path` with `bytes` and fsyncs it.
pub fn write_file_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file = File::create(path)?;
    file.write_all_at(bytes, 0)?;
    file.sync_all()
}

/// fsyncs a directory (its entries: new names, links, renames).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Copies the first `length` bytes of `from` into a new file `to` and
/// fsyncs it. Holes stay holes (`SEEK_DATA`/`SEEK_HOLE`): a segment file
/// whose removed blocks were punched out is not inflated by the copy.
/// Returns the bytes actually copied (data, not holes).
pub fn copy_file_sparse(from: &Path, to: &Path, length: u64) -> io::Result<u64> {
    let source = File::open(from)?;
    let target = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    target.set_len(length)?;
    let mut buffer = vec![0u8; COPY_CHUNK_BYTES];
    let mut copied = 0;
    let mut position = 0;
    while position < length {
        let Some(data_start) = seek_data(&source, position)? else {
            break;
        };
        if data_start >= length {
            break;
        }
        let data_end = seek_hole(&source, data_start)?.min(length);
        let mut offset = data_start;
        while offset < data_end {
            let chunk = ((data_end - offset) as usize).min(COPY_CHUNK_BYTES);
            source.read_exact_at(&mut buffer[..chunk], offset)?;
            target.write_all_at(&buffer[..chunk], offset)?;
            offset += chunk as u64;
            copied += chunk as u64;
        }
        position = data_end;
    }
    target.sync_all()?;
    Ok(copied)
}

/// The start of the next data region at or after `offset`; `None` past the last.
fn seek_data(file: &File, offset: u64) -> io::Result<Option<u64>> {
    // SAFETY: lseek on a valid open descriptor has no memory-safety preconditions.
    let found = unsafe { libc::lseek(file.as_raw_fd(), offset as libc::off_t, libc::SEEK_DATA) };
    if found >= 0 {
        return Ok(Some(found as u64));
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::ENXIO) => Ok(None),
        // A filesystem without SEEK_DATA: treat the rest as data.
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => Ok(Some(offset)),
        _ => Err(error),
    }
}

/// The start of the next hole at or after `offset` (the file's end counts as one).
fn seek_hole(file: &File, offset: u64) -> io::Result<u64> {
    // SAFETY: as in `seek_data`.
    let found = unsafe { libc::lseek(file.as_raw_fd(), offset as libc::off_t, libc::SEEK_HOLE) };
    if found >= 0 {
        return Ok(found as u64);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => Ok(u64::MAX),
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_plain_directory_name() {
        for good in [
            "nightly-1",
            "a",
            "snap-20261203T120000Z",
            "x.y_z",
            ".hidden",
        ] {
            assert!(validate_snapshot_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(SNAPSHOT_NAME_BYTES_MAX + 1);
        for bad in ["", ".", "..", "../x", "a/b", "a b", "é", long.as_str()] {
            assert!(validate_snapshot_name(bad).is_err(), "{bad}");
        }
        assert!(validate_snapshot_name(&"a".repeat(SNAPSHOT_NAME_BYTES_MAX)).is_ok());
    }

    #[test]
    fn the_default_name_is_the_utc_time() {
        // 2026-12-03T12:00:00Z
        let ns = 1_796_299_200_i64 * 1_000_000_000 + 5;
        assert_eq!(default_snapshot_name(ns), "snap-20261203T120000Z");
        assert!(validate_snapshot_name(&default_snapshot_name(ns)).is_ok());
    }

    #[test]
    fn a_sparse_copy_keeps_holes_and_stops_at_the_length() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        let file = File::create(&from).unwrap();
        file.write_all_at(&[7u8; 4096], 0).unwrap();
        file.write_all_at(&[9u8; 4096], 3 << 20).unwrap();
        file.write_all_at(&[1u8; 4096], 4 << 20).unwrap();
        drop(file);
        let to = dir.path().join("to");
        let length = (3 << 20) + 4096;
        let copied = copy_file_sparse(&from, &to, length).unwrap();
        let bytes = std::fs::read(&to).unwrap();
        assert_eq!(bytes.len() as u64, length);
        assert_eq!(&bytes[..4096], &[7u8; 4096]);
        assert!(bytes[4096..3 << 20].iter().all(|&b| b == 0));
        assert_eq!(&bytes[3 << 20..], &[9u8; 4096]);
        assert!(copied < length, "the hole was not copied: {copied}");
        assert!(copy_file_sparse(&from, &to, 1).is_err(), "never overwrites");
    }

    #[test]
    fn a_directory_without_snapshot_json_is_incomplete_and_removed_at_start() {
        let root = tempfile::tempdir().unwrap();
        let done = root.path().join("done");
        let cut = root.path().join("cut");
        std::fs::create_dir_all(done.join("shard-0")).unwrap();
        std::fs::create_dir_all(cut.join("shard-0")).unwrap();
        let info = SnapshotInfo {
            format_version: SNAPSHOT_FORMAT_VERSION,
            name: "done".into(),
            created_at: "2026-12-03T12:00:00Z".into(),
            created_at_ns: 1,
            shard_count: 1,
            layout_format_version: 1,
            catalog_format_version: 1,
            manifest_format_version: 2,
            block_format_version: 3,
            partition_count: 0,
            segments_copied: false,
            files: vec![SnapshotFile {
                path: "shard-0/x".into(),
                bytes: 3,
            }],
        };
        std::fs::write(done.join("shard-0/x"), b"abc").unwrap();
        write_snapshot_info(&done, &info).unwrap();
        assert!(matches!(
            read_complete_snapshot(&cut),
            Err(SnapshotError::Incomplete(_))
        ));
        assert_eq!(read_complete_snapshot(&done).unwrap(), info);
        let listed = list_snapshots(root.path()).unwrap();
        assert_eq!(listed.len(), 1);
        std::fs::write(done.join("shard-0/x"), b"ab").unwrap();
        let short = read_complete_snapshot(&done).unwrap_err().to_string();
        assert!(short.contains("holds 2 bytes"), "{short}");
        assert_eq!(remove_incomplete_snapshots(root.path()).unwrap(), vec![cut]);
        assert!(done.is_dir());
    }
}
