//! Damaged blocks met while serving: "a block read failed its checksum;
//! what happens to it, and who is told?"
//!
//! A query or a compaction that reads a frame or a granule filter whose
//! checksum (or decoding) fails reports the block here (`report`) instead
//! of failing the whole request. With `storage.on_damaged_block =
//! "quarantine"` (the default) the block then waits in `known` until the
//! store worker's next maintenance takes it out of the database on the
//! record, through the same path as an online scrub's quarantine (a copy in
//! `shard-<n>/quarantine/`, a `quarantine.jsonl` line, a manifest
//! `RemoveBlock`: the commit point), serialized with compaction and
//! retention because the worker does one job at a time. Until then queries
//! skip the block and say so in their answer (`DamagedBlock`), so a damaged
//! block costs its own entries and never the rest. With `"fail"` queries
//! keep answering 500 naming the block; compaction skips it either way
//! (merging it would stop at the same frame every second).
//!
//! What quarantine removed is counted per partition (`quarantined`), from
//! `quarantine.jsonl` at start-up and live since, for `/ready`, `/metrics`
//! and the partition object: the node serves, but it is not whole.
//!
//! Why quarantine is the default: the alternative turns one bad sector into
//! a node whose every query over that time range fails until an operator
//! runs a scrub, and a compaction that meets it would otherwise stop the
//! shard's writes. The entries of a damaged block are lost either way; the
//! copy keeps its bytes for whoever wants to examine them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use serde::Serialize;

use super::slice::BlockRef;
use crate::config::OnDamagedBlock;
use crate::scrub::{Finding, QuarantineLine};
use crate::storage::StorageError;

/// Damaged blocks a shard remembers while they wait for quarantine (or,
/// under `fail`, for an operator). Each holds its block's `Rc` (header and
/// directory, a few KiB) and a finding (~1 KiB): about 0.5 MiB at most.
/// Past it a damaged block is still skipped by the request that met it and
/// reported again by the next one, so nothing is lost, only delayed.
pub const DAMAGED_KNOWN_MAX: usize = 128;

/// Damaged blocks one query answer names, at most (per shard); past it
/// only `partial` says so. A line is ~300 bytes.
pub const DAMAGED_PER_ANSWER_MAX: usize = 64;

/// A damaged block as a query answer names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedBlock {
    pub shard: u32,
    pub segment: u32,
    pub offset: u64,
    /// The partition's name (`None`: deleted meanwhile).
    pub partition: Option<String>,
    /// Entries the block held, now missing from answers.
    pub entries: u64,
    /// Ids of the first and last entry it held.
    pub first_id: String,
    pub last_id: String,
    /// What the reader found wrong.
    pub detail: String,
}

/// What quarantine removed from one partition on this shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quarantined {
    pub blocks: u64,
    pub entries: u64,
}

impl Quarantined {
    pub fn add(&mut self, other: &Quarantined) {
        self.blocks += other.blocks;
        self.entries += other.entries;
    }
}

/// A damaged block known to this shard, not yet quarantined.
pub struct KnownDamage {
    pub block: Rc<BlockRef>,
    pub finding: Finding,
}

/// The shard's damaged blocks and what quarantine removed.
pub struct DamageState {
    pub policy: OnDamagedBlock,
    shard_id: u32,
    known: RefCell<BTreeMap<(u32, u64), KnownDamage>>,
    quarantined: RefCell<BTreeMap<u64, Quarantined>>,
}

/// True for damage a block read can meet (a checksum, a frame that does not
/// decode): the block is bad, the device and the rest of the data are not
/// in question. I/O errors are not damage: they fail the request.
pub fn is_damage(error: &StorageError) -> bool {
    matches!(error, StorageError::Corrupt { .. })
}

impl DamageState {
    pub fn new(shard_id: u32, policy: OnDamagedBlock) -> DamageState {
        DamageState {
            policy,
            shard_id,
            known: RefCell::new(BTreeMap::new()),
            quarantined: RefCell::new(BTreeMap::new()),
        }
    }

    /// Whether a request that met damage goes on without the block.
    pub fn skips_damaged(&self) -> bool {
        self.policy == OnDamagedBlock::Quarantine
    }

    /// Records that reading `block` (of partition `partition`) failed with
    /// `error`, logs it loudly once, and returns how an answer names it.
    pub fn report(
        &self,
        block: &Rc<BlockRef>,
        partition: Option<&str>,
        error: &StorageError,
    ) -> DamagedBlock {
        let named = self.describe(block, partition, error.to_string());
        let mut known = self.known.borrow_mut();
        if known.contains_key(&block.key()) {
            return named;
        }
        tracing::error!(
            shard = self.shard_id,
            file = %block.segment.path().display(),
            offset = block.offset,
            partition = named.partition.as_deref().unwrap_or("(unknown)"),
            partition_key = block.header.partition_key,
            entries = named.entries,
            first_id = %named.first_id,
            last_id = %named.last_id,
            policy = %self.policy,
            %error,
            "a sealed block is damaged: its entries are left out of answers{}",
            if self.skips_damaged() { " and it is being quarantined" } else { " (storage.on_damaged_block = \"fail\": queries that read it answer 500)" }
        );
        if known.len() < DAMAGED_KNOWN_MAX {
            let finding = finding_for(block, self.shard_id, partition, error);
            known.insert(
                block.key(),
                KnownDamage {
                    block: block.clone(),
                    finding,
                },
            );
        }
        named
    }

    /// How an answer names `block`, when it is known damaged.
    pub fn known(&self, block: &BlockRef) -> Option<DamagedBlock> {
        let known = self.known.borrow();
        let damage = known.get(&block.key())?;
        Some(self.describe(
            block,
            damage.finding.partition.as_deref(),
            damage.finding.detail.clone(),
        ))
    }

    pub fn is_known(&self, block: &BlockRef) -> bool {
        self.known.borrow().contains_key(&block.key())
    }

    /// Damaged blocks waiting for quarantine.
    pub fn known_count(&self) -> usize {
        self.known.borrow().len()
    }

    /// Takes every known damaged block for the store worker to quarantine
    /// (none under `fail`).
    pub fn take_for_quarantine(&self) -> Vec<KnownDamage> {
        if !self.skips_damaged() {
            return Vec::new();
        }
        std::mem::take(&mut *self.known.borrow_mut())
            .into_values()
            .collect()
    }

    /// Puts back a block whose quarantine failed for now (writes stopped,
    /// disk full), so queries keep skipping it and a later pass retries.
    pub fn put_back(&self, damage: KnownDamage) {
        self.known.borrow_mut().insert(damage.block.key(), damage);
    }

    /// Counts a quarantined block (its line is durable and it has left the
    /// manifest).
    pub fn count(&self, line: &QuarantineLine) {
        self.known.borrow_mut().remove(&(line.segment, line.offset));
        let mut quarantined = self.quarantined.borrow_mut();
        let counts = quarantined.entry(line.partition_key).or_default();
        counts.blocks += 1;
        counts.entries += line.entries;
    }

    /// What quarantine removed from partition `partition_key` here.
    pub fn quarantined_of(&self, partition_key: u64) -> Quarantined {
        self.quarantined
            .borrow()
            .get(&partition_key)
            .copied()
            .unwrap_or_default()
    }

    /// What quarantine removed from every partition here.
    pub fn quarantined_total(&self) -> Quarantined {
        let mut total = Quarantined::default();
        for counts in self.quarantined.borrow().values() {
            total.add(counts);
        }
        total
    }

    /// Counts the blocks `quarantine.jsonl` in `shard_dir` records as
    /// removed, at start-up. `still_published(line)` says whether the block
    /// a line names is still in the manifest (a crash between the line and
    /// its `RemoveBlock`): such a line counts nothing, the manifest decides.
    pub fn load(
        &self,
        shard_dir: &Path,
        still_published: impl Fn(&QuarantineLine) -> bool,
    ) -> std::io::Result<()> {
        let path = shard_dir.join(crate::scrub::quarantine::QUARANTINE_FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        for line in distinct_lines(&text, &path) {
            if !still_published(&line) {
                self.count(&line);
            }
        }
        Ok(())
    }

    fn describe(&self, block: &BlockRef, partition: Option<&str>, detail: String) -> DamagedBlock {
        let header = &block.header;
        DamagedBlock {
            shard: self.shard_id,
            segment: block.segment.id,
            offset: block.offset,
            partition: partition.map(str::to_string),
            entries: u64::from(header.entry_count),
            first_id: format!("{}-{}", self.shard_id, header.first_seq),
            last_id: format!("{}-{}", self.shard_id, header.last_seq()),
            detail,
        }
    }
}

/// The lines of a `quarantine.jsonl`, the last per block (a crash between a
/// line and its commit point can leave two). A line a crash cut short, or
/// one that does not parse, is logged and skipped: the file is a record
/// for people, the manifest is the truth.
fn distinct_lines(text: &str, path: &Path) -> Vec<QuarantineLine> {
    let mut lines: BTreeMap<(u32, u64, u64, u64), QuarantineLine> = BTreeMap::new();
    for (number, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<QuarantineLine>(raw) {
            Ok(line) => {
                let key = (
                    line.segment,
                    line.offset,
                    line.partition_key,
                    line.first_seq,
                );
                lines.insert(key, line);
            }
            Err(error) => tracing::warn!(
                file = %path.display(),
                line = number + 1,
                %error,
                "skipping a line of quarantine.jsonl that does not parse"
            ),
        }
    }
    lines.into_values().collect()
}

/// The scrub-shaped finding for a damaged block a request met.
fn finding_for(
    block: &BlockRef,
    shard: u32,
    partition: Option<&str>,
    error: &StorageError,
) -> Finding {
    let offset = match error {
        StorageError::Corrupt { offset, .. } => *offset,
        _ => block.offset,
    };
    let mut finding = Finding::new(
        crate::scrub::FileKind::Block,
        block.segment.path(),
        offset,
        error.to_string(),
    );
    finding.shard = Some(shard);
    finding.segment = Some(block.segment.id);
    finding.block_offset = Some(block.offset);
    finding.describe_block_named(&block.header, shard, partition.map(str::to_string));
    finding.meaning = "a request that read this block found it damaged".into();
    finding
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(segment: u32, offset: u64, first_seq: u64, entries: u64) -> String {
        let line = QuarantineLine {
            time_ns: 1,
            shard: 0,
            segment,
            offset,
            partition: Some("p".into()),
            partition_key: 7,
            slice: 0,
            first_seq,
            last_seq: first_seq + entries - 1,
            entries,
            reason: "checksum".into(),
            copy: None,
        };
        serde_json::to_string(&line).unwrap()
    }

    #[test]
    fn start_up_counts_each_removed_block_once() {
        let dir = tempfile::tempdir().unwrap();
        let text = [
            line(1, 0, 1, 50),
            line(1, 0, 1, 50), // written twice: a crash before its commit point
            line(1, 8192, 51, 50),
            "{\"torn".to_string(),
            line(2, 0, 101, 10), // still published: the manifest decides
        ]
        .join("\n");
        std::fs::write(dir.path().join("quarantine.jsonl"), text).unwrap();
        let state = DamageState::new(0, OnDamagedBlock::Quarantine);
        state
            .load(dir.path(), |line| line.segment == 2)
            .expect("loads");
        assert_eq!(
            state.quarantined_of(7),
            Quarantined {
                blocks: 2,
                entries: 100
            }
        );
        assert_eq!(state.quarantined_total().blocks, 2);
        assert_eq!(state.quarantined_of(8), Quarantined::default());
    }

    #[test]
    fn no_file_counts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = DamageState::new(0, OnDamagedBlock::Fail);
        state.load(dir.path(), |_| false).unwrap();
        assert_eq!(state.quarantined_total(), Quarantined::default());
        assert!(state.take_for_quarantine().is_empty());
    }

    #[test]
    fn only_corruption_is_damage() {
        let corrupt = StorageError::Corrupt {
            path: "seg".into(),
            offset: 4096,
            detail: "checksum".into(),
        };
        assert!(is_damage(&corrupt));
        let io = StorageError::io("read block", "seg", 0, std::io::Error::other("EIO"));
        assert!(!is_damage(&io));
    }
}
