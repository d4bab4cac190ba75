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

use super::error::{IoContext, Result, StorageError};

const PROBE_FILE_NAME: &str = ".dma-probe";
const PROBE_BYTES: usize = 4096;

pub async fn prime_poll_probe(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|error| StorageError::io("create directory", dir, 0, error))?;
    let path = dir.join(PROBE_FILE_NAME);
    std::fs::write(&path, [0u8; PROBE_BYTES])
        .map_err(|error| StorageError::io("write", &path, 0, error))?;
    let file = DmaFile::open(&path).await.ctx("open", &path, 0)?;
    file.close().await.ctx("close", &path, 0)?;
    std::fs::remove_file(&path).map_err(|error| StorageError::io("remove", &path, 0, error))
}
