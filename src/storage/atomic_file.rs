//! Replacing a small metadata file atomically: write a temporary file,
//! fdatasync it, rename it over the old one, fsync the directory.
//!
//! After a crash the path holds either the old or the new contents, never a
//! mix: rename is atomic, and the directory fsync makes the rename itself
//! durable before we act on it (e.g. before the WAL drops what the new
//! manifest covers).

use std::path::Path;

use glommio::io::{BufferedFile, Directory};

use super::error::{IoContext, Result};

pub async fn replace_atomically(path: &Path, contents: Vec<u8>) -> Result<()> {
    let temp_path = path.with_extension("tmp");
    let file = BufferedFile::create(&temp_path)
        .await
        .ctx("create", &temp_path, 0)?;
    let length = contents.len();
    let written = file
        .write_at(contents, 0)
        .await
        .ctx("write", &temp_path, 0)?;
    if written != length {
        return Err(super::StorageError::short_write(
            "write", &temp_path, 0, written, length,
        ));
    }
    file.fdatasync().await.ctx("fdatasync", &temp_path, 0)?;
    file.close().await.ctx("close", &temp_path, 0)?;
    glommio::io::rename(&temp_path, path)
        .await
        .ctx("rename", path, 0)?;
    sync_directory(path.parent().expect("metadata files live in a directory")).await
}

pub async fn sync_directory(dir: &Path) -> Result<()> {
    let directory = Directory::open(dir).await.ctx("open directory", dir, 0)?;
    directory.sync().await.ctx("fsync directory", dir, 0)?;
    directory.close().await.ctx("close directory", dir, 0)
}
