//! The data-directory lock: one process at a time uses a data directory.
//!
//! Two servers on one directory would append to the same manifest and
//! segment files and destroy each other's data; a server and an offline
//! tool that writes (`timberdb scrub --quarantine`) would do the same. So
//! the server, and every tool that writes, holds an exclusive `flock` on
//! `<data_dir>/.lock` and on `<wal_dir>/.lock` (any WAL directory but the
//! data directory itself, the default `<data_dir>/wal` included: two data
//! directories configured with one WAL directory are refused too) for as
//! long as it runs. The lock belongs to the open file:
//! the kernel releases it when the process exits, however it exits, so a
//! crash never leaves a stale lock behind. The holder writes its pid into
//! the file so that a refusal can name it; the pid is information only
//! (a file left by a dead process names a pid that no longer holds it).
//!
//! `flock` locks are advisory and local: they do not protect a directory
//! shared over NFS between machines.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::error::{Result, StorageError};

/// The lock file's name, in the data directory and in a separate WAL directory.
pub const LOCK_FILE_NAME: &str = ".lock";

/// Held locks; dropping this releases them.
#[derive(Debug)]
pub struct DirectoryLock {
    /// The open lock files; the `flock` lives as long as they are open.
    _files: Vec<File>,
}

/// Who holds a directory's lock, as far as `holder` can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// No lock file, or nobody holds it.
    Free,
    /// Some process holds it; `pid` is what the holder wrote (None when unreadable).
    Held { pid: Option<u32> },
}

impl DirectoryLock {
    /// Takes the exclusive lock of `data_dir` and, when it differs, of
    /// `wal_dir` (both must exist), writing this process's pid into each.
    /// `what` names the taker in the error ("the server", "scrub").
    pub fn acquire(data_dir: &Path, wal_dir: &Path, what: &str) -> Result<DirectoryLock> {
        let mut files = vec![lock_one(data_dir, what)?];
        if !same_directory(data_dir, wal_dir) {
            files.push(lock_one(wal_dir, what)?);
        }
        Ok(DirectoryLock { _files: files })
    }
}

/// Whether `dir`'s lock is held, without creating or changing anything.
/// It takes a shared lock for an instant when the file exists: a writer
/// starting at that very instant is refused and can simply retry.
pub fn holder(dir: &Path) -> std::io::Result<LockState> {
    let path = dir.join(LOCK_FILE_NAME);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(LockState::Free),
        Err(error) => return Err(error),
    };
    // SAFETY: flock on a descriptor we own; it has no memory effects.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if locked == 0 {
        // Released when `file` closes, at the end of this function.
        return Ok(LockState::Free);
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
        return Err(error);
    }
    Ok(LockState::Held {
        pid: read_pid(&mut file),
    })
}

fn lock_one(dir: &Path, what: &str) -> Result<File> {
    let path = dir.join(LOCK_FILE_NAME);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|error| StorageError::io("open lock file", &path, 0, error))?;
    // SAFETY: flock on a descriptor we own; it has no memory effects.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(in_use(&path, read_pid(&mut file), what));
        }
        return Err(StorageError::io("lock", &path, 0, error));
    }
    write_pid(&mut file, &path)?;
    Ok(file)
}

fn in_use(path: &Path, pid: Option<u32>, what: &str) -> StorageError {
    let holder = match pid {
        Some(pid) => format!("process {pid}"),
        None => "another process".to_string(),
    };
    StorageError::BadMetadata {
        path: PathBuf::from(path),
        detail: format!(
            "{what} cannot use this directory: it is locked by {holder} (a TimberDB server or \
             an offline tool); stop that process first, or use another directory"
        ),
    }
}

fn write_pid(file: &mut File, path: &Path) -> Result<()> {
    let pid = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(pid.as_bytes()))
        .map_err(|error| StorageError::io("write lock file", path, 0, error))
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn same_directory(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_holders_pid_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path()).unwrap(), LockState::Free);
        let first = DirectoryLock::acquire(dir.path(), dir.path(), "the server").unwrap();
        let pid = std::process::id();
        assert_eq!(
            holder(dir.path()).unwrap(),
            LockState::Held { pid: Some(pid) }
        );
        let refused = DirectoryLock::acquire(dir.path(), dir.path(), "scrub")
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains(&format!("locked by process {pid}")),
            "{refused}"
        );
        assert!(refused.contains("scrub cannot use"), "{refused}");
        drop(first);
        assert_eq!(holder(dir.path()).unwrap(), LockState::Free);
        DirectoryLock::acquire(dir.path(), dir.path(), "scrub").unwrap();
    }

    #[test]
    fn a_separate_wal_directory_is_locked_too() {
        let data = tempfile::tempdir().unwrap();
        let wal = tempfile::tempdir().unwrap();
        let _held = DirectoryLock::acquire(data.path(), wal.path(), "the server").unwrap();
        assert!(matches!(
            holder(wal.path()).unwrap(),
            LockState::Held { .. }
        ));
        let other = tempfile::tempdir().unwrap();
        assert!(DirectoryLock::acquire(other.path(), wal.path(), "the server").is_err());
    }
}
