//! A small ext4 filesystem on a loop device, for tests of small and full
//! disks: `LoopDisk::mount(96)` makes a 96 MiB image, formats and mounts
//! it, and unmounts it when dropped (even when the test fails). Needs root
//! and a loop device; without them `mount` returns `None` after printing
//! why, and the test skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use timberdb::storage::disk_space::{filesystem_space, FilesystemSpace};

pub struct LoopDisk {
    /// Where the filesystem is mounted.
    pub dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl LoopDisk {
    pub fn mount(size_mib: u64) -> Option<LoopDisk> {
        let temp = tempfile::tempdir().expect("tempdir");
        let image = temp.path().join("disk.img");
        let dir = temp.path().join("mnt");
        std::fs::create_dir_all(&dir).expect("mount point");
        let file = std::fs::File::create(&image).expect("image");
        file.set_len(size_mib << 20).expect("image size");
        let steps: [(&str, Vec<&std::ffi::OsStr>); 2] = [
            // `-m 0`: no blocks reserved for root, so `statvfs` free space is
            // what a root server can really fill.
            (
                "mkfs.ext4",
                vec![
                    "-q".as_ref(),
                    "-F".as_ref(),
                    "-m".as_ref(),
                    "0".as_ref(),
                    image.as_os_str(),
                ],
            ),
            (
                "mount",
                vec![
                    "-o".as_ref(),
                    "loop".as_ref(),
                    image.as_os_str(),
                    dir.as_os_str(),
                ],
            ),
        ];
        for (program, args) in steps {
            let output = Command::new(program).args(&args).output();
            match output {
                Ok(output) if output.status.success() => {}
                Ok(output) => {
                    eprintln!(
                        "SKIPPED: `{program}` failed (a loop-mounted ext4 image needs root and a loop device): {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    );
                    return None;
                }
                Err(error) => {
                    eprintln!("SKIPPED: cannot run `{program}`: {error}");
                    return None;
                }
            }
        }
        Some(LoopDisk { dir, _temp: temp })
    }

    /// A data directory on this filesystem, named through a symlink beside
    /// the mount point: the harness writes the server's stderr log next to
    /// the name it is given, which must not be on the disk a test fills.
    pub fn data_dir(&self) -> PathBuf {
        let target = self.dir.join("data");
        std::fs::create_dir_all(&target).expect("data dir");
        let link = self._temp.path().join("data");
        if !link.exists() {
            std::os::unix::fs::symlink(&target, &link).expect("symlink");
        }
        link
    }

    pub fn space(&self) -> FilesystemSpace {
        filesystem_space(&self.dir).expect("statvfs")
    }

    /// Fills the filesystem to its last block with `fill-*` files (root may
    /// use ext4's reserved blocks too, as the server does). Returns them.
    pub fn fill(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for (index, chunk_bytes) in [1usize << 20, 4096, 1024].into_iter().enumerate() {
            let path = self.dir.join(format!("fill-{index}"));
            let mut file = std::fs::File::create(&path).expect("fill file");
            let chunk = vec![0x5au8; chunk_bytes];
            while file
                .write_all(&chunk)
                .and_then(|()| file.sync_data())
                .is_ok()
            {}
            files.push(path);
        }
        files
    }

    /// Fills the filesystem, then frees `free_bytes` of it again.
    pub fn fill_leaving(&self, free_bytes: u64) {
        let files = self.fill();
        let first = &files[0];
        let size = std::fs::metadata(first).expect("fill file").len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(first)
            .expect("fill file");
        file.set_len(size.saturating_sub(free_bytes))
            .expect("shrink fill file");
        file.sync_all().expect("sync");
    }

    /// Removes what `fill` wrote.
    pub fn unfill(&self) {
        for entry in std::fs::read_dir(&self.dir).expect("list").flatten() {
            if entry.file_name().to_string_lossy().starts_with("fill-") {
                std::fs::remove_file(entry.path()).expect("remove fill file");
            }
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Busy (a server a failed test left running): detach it now, the
            // kernel unmounts it once the last user is gone.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Bytes of `.wal` files (segments and spares) under a shard's WAL directory.
pub fn wal_files(wal_shard_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(wal_shard_dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".wal"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
