//! `timberdb keys create --offline`: adds a key to a stopped node's
//! `keys.json`. This is how the first admin key comes to exist: nobody can
//! call the admin API before there is an admin key, and a key chosen by the
//! operator in the environment would sit in shell histories and process
//! listings. The command holds the data directory's lock
//! (`storage::lock`), so it is refused while a server uses the directory,
//! and writes the file as the server does (temporary file, fsync, rename,
//! fsync of the directory).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::keyring::{mint, KeyRecord, KeyRing, KeySpec, KEYS_FILE_NAME};
use crate::storage::lock::DirectoryLock;

/// Mints a key for `spec` into `data_dir` and returns its record and text.
pub fn create_key(
    data_dir: &Path,
    wal_dir: &Path,
    spec: &KeySpec,
) -> Result<(KeyRecord, String), String> {
    for dir in [data_dir, wal_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    let _lock = DirectoryLock::acquire(data_dir, wal_dir, "keys create")
        .map_err(|error| error.to_string())?;
    let ring = KeyRing::load(data_dir)?;
    let (record, text) = mint(&ring, spec, crate::shard::partitions::now_ns())?;
    let ring = ring.with(record.clone())?;
    write_durably(&data_dir.join(KEYS_FILE_NAME), &ring.to_json())?;
    Ok((record, text))
}

/// Temporary file (mode 0600), fsync, rename over `path`, fsync the directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let temp = path.with_extension("tmp");
    let describe =
        |what: &str, error: std::io::Error| format!("{what} {}: {error}", temp.display());
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|error| describe("cannot create", error))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|error| describe("cannot write", error))?;
    std::fs::rename(&temp, path)
        .map_err(|error| format!("cannot rename onto {}: {error}", path.display()))?;
    let dir = path.parent().expect("the key file lives in a directory");
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|error| format!("cannot fsync {}: {error}", dir.display()))
}
