//! Works around glommio 0.9's io_uring poll-ring probe.
//!
//! The first DMA file glommio opens on a device decides (per thread, cached
//! per device) whether reads may use the IOPOLL ring, by reading the file's
//! first block and treating success as support. On an empty file that read
//! succeeds without reaching the device, so a device without poll queues
//! (most virtual disks) is marked pollable and every later read fails with
//! EOPNOTSUPP. A shard therefore opens one non-empty file on each of its
//! devices first, so the probe sees the truth.

use std::path::Path;

use glommio::io::DmaFile;

use super::error::{io_is_disk_full, IoContext, Result, StorageError};

const PROBE_FILE_NAME: &str = ".dma-probe";
const PROBE_BYTES: usize = 4096;

pub async fn prime_poll_probe(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|error| StorageError::io("create directory", dir, 0, error))?;
    let path = dir.join(PROBE_FILE_NAME);
    match std::fs::write(&path, [0u8; PROBE_BYTES]) {
        Ok(()) => {}
        Err(error) if io_is_disk_full(&error) => {
            // A full disk must not keep the node from starting (read-only,
            // its data still served): any non-empty file already there
            // primes the probe as well, and without one there is nothing
            // on this device to read yet.
            remove_probe(&path)?;
            return prime_with_existing_file(dir).await;
        }
        Err(error) => return Err(StorageError::io("write", &path, 0, error)),
    }
    let file = DmaFile::open(&path).await.ctx("open", &path, 0)?;
    file.close().await.ctx("close", &path, 0)?;
    remove_probe(&path)
}

/// Removes the probe file (or what a failed write left of it).
fn remove_probe(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StorageError::io("remove", path, 0, error)),
    }
}

/// Opens the first non-empty regular file in `dir` with O_DIRECT, which is
/// all the probe needs; logs what it assumes when there is none.
async fn prime_with_existing_file(dir: &Path) -> Result<()> {
    let existing = std::fs::read_dir(dir)
        .map_err(|error| StorageError::io("list directory", dir, 0, error))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.len() >= 4096)
        });
    let Some(path) = existing else {
        tracing::warn!(dir = %dir.display(), "out of disk space: cannot write the .dma-probe file and no other file is there to probe with; assuming reads need no poll queue workaround on this device");
        return Ok(());
    };
    tracing::warn!(dir = %dir.display(), probe = %path.display(), "out of disk space: probing the device with an existing file instead of .dma-probe");
    let file = DmaFile::open(&path).await.ctx("open", &path, 0)?;
    file.close().await.ctx("close", &path, 0)
}
