//! `shard-<n>/wal-recovery.json`: what WAL recoveries that lost data must
//! remember after the WAL files are gone.
//!
//! - `seq_floors`: per partition key, the lowest sequence number a new
//!   entry may get. A recovery that lost records (damage skipped, or a bad
//!   record at a segment's end) cannot read the lost entries' ids, so it
//!   keeps a bounded range past the highest replayed id free
//!   (`wal::replay::ReplaySummary::seq_headroom`). The floor must outlive the
//!   WAL segment that showed the loss: once that segment is reclaimed, the
//!   next start would otherwise hand the lost ids out again.
//! - `accepted_damage`: damage an operator told a start to skip
//!   (`storage.wal_recovery = "skip_damaged"`), as (generation, offset), so
//!   later starts in `strict` mode skip it again instead of refusing, while
//!   the segment exists. Entries whose segment is gone are dropped.
//!
//! Written atomically (`atomic_file`) before the shard serves, so a floor is
//! durable before any id above the old maximum is handed out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Result, StorageError};

pub const WAL_RECOVERY_FILE_NAME: &str = "wal-recovery.json";
pub const WAL_RECOVERY_FORMAT_VERSION: u32 = 1;

/// Damage entries kept; past it the oldest go (their segments are long
/// reclaimed in practice). About 100 bytes each.
pub const ACCEPTED_DAMAGE_MAX: usize = 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalRecoveryFile {
    pub format_version: u32,
    /// Partition key (as a decimal string: JSON keys are strings) to floor.
    pub seq_floors: BTreeMap<String, u64>,
    pub accepted_damage: Vec<AcceptedDamage>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedDamage {
    pub generation: u64,
    pub offset: u64,
    pub resume_offset: u64,
}

pub fn path(shard_dir: &Path) -> PathBuf {
    shard_dir.join(WAL_RECOVERY_FILE_NAME)
}

impl WalRecoveryFile {
    /// Reads the file; an absent file is an empty record.
    pub fn load(shard_dir: &Path) -> Result<WalRecoveryFile> {
        let path = path(shard_dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(WalRecoveryFile {
                    format_version: WAL_RECOVERY_FORMAT_VERSION,
                    ..Default::default()
                })
            }
            Err(error) => return Err(StorageError::io("read", &path, 0, error)),
        };
        let file: WalRecoveryFile =
            serde_json::from_slice(&bytes).map_err(|error| StorageError::BadMetadata {
                path: path.clone(),
                detail: format!("not a WAL recovery record: {error}"),
            })?;
        if file.format_version != WAL_RECOVERY_FORMAT_VERSION {
            return Err(StorageError::BadMetadata {
                path,
                detail: format!(
                    "format_version {} is not {WAL_RECOVERY_FORMAT_VERSION}, the one this build reads",
                    file.format_version
                ),
            });
        }
        Ok(file)
    }

    pub fn floor(&self, partition_key: u64) -> Option<u64> {
        self.seq_floors.get(&partition_key.to_string()).copied()
    }

    /// Raises `partition_key`'s floor to `floor` (floors never go down).
    pub fn raise_floor(&mut self, partition_key: u64, floor: u64) {
        let slot = self
            .seq_floors
            .entry(partition_key.to_string())
            .or_insert(0);
        *slot = (*slot).max(floor);
    }

    pub fn accepted(&self) -> Vec<(u64, u64)> {
        let damage = self.accepted_damage.iter();
        damage.map(|d| (d.generation, d.offset)).collect()
    }

    pub fn accept(&mut self, damage: AcceptedDamage) {
        if !self.accepted_damage.contains(&damage) {
            self.accepted_damage.push(damage);
        }
        let excess = self
            .accepted_damage
            .len()
            .saturating_sub(ACCEPTED_DAMAGE_MAX);
        self.accepted_damage.drain(..excess);
    }

    /// Forgets damage in segments that no longer exist.
    pub fn retain_generations(&mut self, live: &[u64]) {
        self.accepted_damage
            .retain(|d| live.contains(&d.generation));
    }

    pub async fn save(&self, shard_dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("plain maps and lists serialise");
        super::atomic_file::replace_atomically(&path(shard_dir), bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_only_rise_and_damage_is_kept_once_and_bounded() {
        let mut file = WalRecoveryFile::default();
        file.raise_floor(7, 100);
        file.raise_floor(7, 50);
        assert_eq!(file.floor(7), Some(100));
        assert_eq!(file.floor(8), None);
        let damage = |generation| AcceptedDamage {
            generation,
            offset: 4096,
            resume_offset: 8192,
        };
        file.accept(damage(3));
        file.accept(damage(3));
        assert_eq!(file.accepted(), vec![(3, 4096)]);
        for generation in 0..ACCEPTED_DAMAGE_MAX as u64 + 10 {
            file.accept(damage(1000 + generation));
        }
        assert_eq!(file.accepted_damage.len(), ACCEPTED_DAMAGE_MAX);
        file.retain_generations(&[1020]);
        assert_eq!(file.accepted(), vec![(1020, 4096)]);
    }

    #[test]
    fn a_bad_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), b"{not json").unwrap();
        let error = WalRecoveryFile::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains(WAL_RECOVERY_FILE_NAME), "{error}");
        let empty = WalRecoveryFile::load(&dir.path().join("absent")).unwrap();
        assert_eq!(empty.format_version, WAL_RECOVERY_FORMAT_VERSION);
    }
}
