//! Errors of the storage engine (WAL files, segments, manifest, catalog).
//!
//! I/O errors carry the operation, the path and, where there is one, the
//! offset; corruption is its own variant so it is never mistaken for a
//! transient fault. `is_disk_full` lets the HTTP layer answer 507.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("{op} {path} at offset {offset}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        offset: u64,
        source: io::Error,
    },
    #[error("corrupt data in {path} at offset {offset}: {detail}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
    #[error("{path}: {detail}")]
    BadMetadata { path: PathBuf, detail: String },
    /// `layout.json` records another shard count than the configured one.
    #[error(
        "{path}: this data directory was created with {recorded} shards; {}",
        super::layout::shard_count_mismatch_fix(*.recorded)
    )]
    ShardCountMismatch {
        path: PathBuf,
        recorded: u32,
        configured: u32,
    },
    #[error("a batch of {bytes} bytes does not fit in a WAL segment of {segment_bytes} bytes; send smaller batches or raise storage.wal_segment_size")]
    RecordTooLarge { bytes: u64, segment_bytes: u64 },
    #[error("writes are stopped on this shard after an earlier I/O failure: {reason}")]
    WritesStopped { reason: String },
    /// A bad WAL record followed by valid records of its generation: damage, not the torn
    /// end of a crash. Start-up refuses (`storage.wal_recovery = "strict"`).
    #[error(
        "WAL damage in {path} at offset {offset}: a bad record ({detail}) is followed by \
         {records_after} valid records holding {entries_after} entries of the same generation, \
         so this is damage, not the torn end of a crash, and stopping replay here would drop \
         those acknowledged entries. Refusing to start. To start anyway, skipping only the \
         {damaged_bytes} damaged bytes (the entries in them are lost; the log counts them), \
         start once with --wal-recovery skip_damaged (or storage.wal_recovery = \"skip_damaged\", \
         TIMBERDB_WAL_RECOVERY=skip_damaged); keep a copy of the file first if you want to \
         examine it (`timberdb scrub` reports it too)"
    )]
    WalDamaged {
        path: PathBuf,
        offset: u64,
        detail: String,
        /// Bytes from the bad record to where valid records resume.
        damaged_bytes: u64,
        /// Valid batch records after the damage in this segment.
        records_after: u64,
        entries_after: u64,
    },
}

pub type Result<T> = std::result::Result<T, StorageError>;

impl StorageError {
    pub fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        offset: u64,
        source: impl Into<io::Error>,
    ) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            offset,
            source: source.into(),
        }
    }

    /// True when the filesystem is out of space (or quota): retrying later
    /// may work, and the client should hear 507, not 500.
    /// A write that stored fewer bytes than asked. At the end of a
    /// filesystem's space that is how ENOSPC first shows, so it is reported
    /// as out of space (retryable), not as corruption.
    pub fn short_write(
        op: &'static str,
        path: impl Into<PathBuf>,
        offset: u64,
        written: usize,
        wanted: usize,
    ) -> Self {
        let source = io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "short write: {written} of {wanted} bytes (the filesystem is likely out of space)"
            ),
        );
        StorageError::Io {
            op,
            path: path.into(),
            offset,
            source,
        }
    }

    pub fn is_disk_full(&self) -> bool {
        match self {
            StorageError::Io { source, .. } => io_is_disk_full(source),
            _ => false,
        }
    }
}

/// Out of space or quota. glommio's errors keep the kind but not the OS
/// error number, so both are checked.
pub fn io_is_disk_full(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT)
    ) || matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Adds operation and path to a glommio or std I/O error.
pub trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path, offset: u64) -> Result<T>;
}

impl<T, E: Into<io::Error>> IoContext<T> for std::result::Result<T, E> {
    fn ctx(self, op: &'static str, path: &std::path::Path, offset: u64) -> Result<T> {
        self.map_err(|error| StorageError::io(op, path, offset, error))
    }
}
