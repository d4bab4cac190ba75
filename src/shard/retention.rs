//! Retention: deleting whole sealed blocks by age and by size, in the
//! background, oldest first.
//!
//! The store worker runs one retention pass per
//! `storage.retention_check_interval` (and at the next maintenance tick
//! again when a pass had more to delete than `RETENTION_BLOCKS_PER_PASS_MAX`):
//!
//! 1. **Age.** A published block whose newest entry is older than now minus
//!    the partition's `retention_days` (or the server's
//!    `storage.retention_days`) is deleted. A block that straddles the
//!    cutoff stays until its newest entry is due: deletion is by whole
//!    block, never by entry.
//! 2. **Partition size.** While a slice's published blocks take more than
//!    its share of the partition's `max_storage_size` (the budget divided
//!    by the shard count: each shard enforces its share alone, with no
//!    cross-shard traffic), its oldest blocks (by newest entry) go.
//! 3. **Server size.** While the shard's blocks, plus its WAL files, its
//!    manifest and its unsealed entries, take more than its share of
//!    `storage.max_storage_size` (divided by the shard count), the shard's
//!    oldest blocks, across partitions, go.
//!
//! Size budgets never delete a slice's newest block. When what cannot be
//! deleted (WAL, manifest, unsealed entries, every slice's newest block)
//! exceeds the shard's share of the server budget, the budget cannot be
//! met: the shard says so once in the log, `/ready` answers 503 and ingest
//! answers 507 `storage_limit` until it can be met again, so the disk does
//! not fill first.
//!
//! A pass commits with ONE manifest record of `RemoveBlock` edits (the
//! commit point; a crash before it is durable deletes nothing), then takes
//! the blocks out of the query structures (a running query holds `Rc`s of
//! the blocks it reads, so it never sees half of a deletion), and gives
//! their space back through `ShardStore::punch_removed` once no query holds
//! them. A segment file other than the newest that holds no published block
//! any more is then deleted.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::storage::atomic_file::sync_directory;
use crate::storage::catalog::Catalog;
use crate::storage::error::IoContext;
use crate::storage::manifest::Edit;
use crate::storage::Result;

use super::slice::{BlockRef, Slice};
use super::store::ShardStore;
use super::worker::StoreWorker;

/// Blocks one pass deletes at most: bounds the manifest record (a few dozen
/// bytes per block), the punches and the time the worker spends away from
/// seals. A pass that had more to do asks for another at the next tick.
pub const RETENTION_BLOCKS_PER_PASS_MAX: usize = 256;

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// Why retention deleted a block (the `reason` label in `/metrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Age,
    Size,
}

impl Reason {
    pub const ALL: [Reason; 2] = [Reason::Age, Reason::Size];

    pub fn label(self) -> &'static str {
        match self {
            Reason::Age => "age",
            Reason::Size => "size",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What retention deleted, counted since the server started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub blocks: u64,
    pub entries: u64,
    /// Bytes of the blocks' spans in their segment files.
    pub bytes: u64,
}

impl Removed {
    pub fn add(&mut self, other: &Removed) {
        self.blocks += other.blocks;
        self.entries += other.entries;
        self.bytes += other.bytes;
    }
}

/// Retention's shared state on one shard: what it deleted, what the WAL
/// takes, and whether the size budget can be met.
#[derive(Default)]
pub struct RetentionState {
    /// Per partition key, per reason (indexed by `Reason`).
    pub removed: RefCell<BTreeMap<u64, [Removed; 2]>>,
    /// Bytes of WAL files on disk, as the commit loop last counted them.
    pub wal_bytes: Cell<u64>,
    /// Set while what cannot be deleted exceeds the shard's share of
    /// `storage.max_storage_size`: ingest answers 507 `storage_limit`.
    pub over_budget: RefCell<Option<String>>,
}

impl RetentionState {
    /// What retention deleted from one partition on this shard, by reason.
    pub fn removed_of(&self, partition_key: u64) -> [Removed; 2] {
        self.removed
            .borrow()
            .get(&partition_key)
            .copied()
            .unwrap_or_default()
    }

    fn count(&self, block: &BlockRef, reason: Reason) {
        let mut removed = self.removed.borrow_mut();
        let counts = &mut removed.entry(block.header.partition_key).or_default()[reason.index()];
        counts.blocks += 1;
        counts.entries += block.header.entry_count as u64;
        counts.bytes += block.header.span_bytes();
    }

    /// Records whether the budget can be met; logs only on a change.
    fn set_over_budget(&self, shard_id: u32, over: Option<String>) {
        let mut current = self.over_budget.borrow_mut();
        match (&*current, &over) {
            (None, Some(reason)) => {
                tracing::error!(shard = shard_id, %reason, "storage budget cannot be met: ingest answers 507 storage_limit and /ready 503 until it can");
            }
            (Some(_), None) => {
                tracing::info!(
                    shard = shard_id,
                    "storage budget can be met again; ingest resumed"
                );
            }
            _ => {}
        }
        *current = over;
    }
}

/// The settings a pass applies, fixed at start except the catalog's.
pub struct RetentionPolicy {
    pub catalog: Rc<RefCell<Catalog>>,
    /// `storage.retention_days`: for partitions that set none.
    pub default_days: Option<u32>,
    /// `storage.max_storage_size`, for the whole node.
    pub server_bytes_max: Option<u64>,
    pub shard_count: u32,
    pub check_interval: Duration,
}

/// A policy and when it last ran (owned by the store worker).
pub struct RetentionRunner {
    policy: RetentionPolicy,
    last_pass: Option<Instant>,
    /// The last pass stopped at its limit: run again at the next tick.
    more: bool,
}

impl RetentionRunner {
    pub fn new(policy: RetentionPolicy) -> RetentionRunner {
        RetentionRunner {
            policy,
            last_pass: None,
            more: false,
        }
    }

    fn due(&self) -> bool {
        self.more
            || self
                .last_pass
                .is_none_or(|at| at.elapsed() >= self.policy.check_interval)
    }

    fn shard_bytes_max(&self) -> Option<u64> {
        let shards = u64::from(self.policy.shard_count.max(1));
        self.policy.server_bytes_max.map(|bytes| bytes / shards)
    }
}

/// One published block, as a pass sees it.
#[derive(Clone, Copy, Debug)]
pub struct BlockInfo {
    pub max_timestamp_ns: i64,
    pub span_bytes: u64,
}

/// One slice, as a pass sees it.
#[derive(Clone, Debug, Default)]
pub struct SliceInfo {
    /// Published blocks, oldest first (by newest entry).
    pub blocks: Vec<BlockInfo>,
    /// Blocks whose newest entry is before this are due (`None`: no age limit).
    pub cutoff_ns: Option<i64>,
    /// The slice's share of the partition's `max_storage_size`.
    pub bytes_max: Option<u64>,
    /// Entries not in published blocks yet (active and sealing), in bytes.
    pub unsealed_bytes: u64,
}

/// What a pass deletes, and whether the budget can be met.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// (slice index, block index, reason); per slice a prefix of its blocks.
    pub remove: Vec<(usize, usize, Reason)>,
    /// Bytes that no deletion can give back: WAL and manifest, unsealed
    /// entries, the newest block of every slice that keeps one.
    pub floor_bytes: u64,
    /// Bytes the shard holds once `remove` is done.
    pub kept_bytes: u64,
    /// The pass stopped at its limit with more due.
    pub more: bool,
}

/// Decides a pass: age first, then each slice's partition budget, then the
/// shard's budget, oldest blocks first, at most `limit` blocks. Pure, so
/// it is tested without a disk.
pub fn plan(
    slices: &[SliceInfo],
    fixed_bytes: u64,
    shard_bytes_max: Option<u64>,
    limit: usize,
) -> Plan {
    let mut plan = Plan::default();
    let mut cut = vec![0usize; slices.len()];
    let room = |plan: &mut Plan| {
        let has_room = plan.remove.len() < limit;
        plan.more |= !has_room;
        has_room
    };
    for (index, slice) in slices.iter().enumerate() {
        let Some(cutoff) = slice.cutoff_ns else {
            continue;
        };
        while cut[index] < slice.blocks.len() && slice.blocks[cut[index]].max_timestamp_ns < cutoff
        {
            if !room(&mut plan) {
                break;
            }
            plan.remove.push((index, cut[index], Reason::Age));
            cut[index] += 1;
        }
    }
    for (index, slice) in slices.iter().enumerate() {
        let Some(bytes_max) = slice.bytes_max else {
            continue;
        };
        let mut bytes: u64 = slice.blocks[cut[index]..]
            .iter()
            .map(|b| b.span_bytes)
            .sum();
        while bytes > bytes_max && slice.blocks.len() - cut[index] > 1 {
            if !room(&mut plan) {
                break;
            }
            plan.remove.push((index, cut[index], Reason::Size));
            bytes -= slice.blocks[cut[index]].span_bytes;
            cut[index] += 1;
        }
    }
    let kept = |cut: &[usize]| -> u64 {
        let blocks: u64 = slices
            .iter()
            .zip(cut)
            .flat_map(|(slice, &cut)| slice.blocks[cut..].iter())
            .map(|block| block.span_bytes)
            .sum();
        let unsealed: u64 = slices.iter().map(|slice| slice.unsealed_bytes).sum();
        fixed_bytes + blocks + unsealed
    };
    let mut total = kept(&cut);
    if let Some(bytes_max) = shard_bytes_max {
        while total > bytes_max {
            let oldest = (0..slices.len())
                .filter(|&index| slices[index].blocks.len() - cut[index] > 1)
                .min_by_key(|&index| slices[index].blocks[cut[index]].max_timestamp_ns);
            let Some(index) = oldest else {
                break;
            };
            if !room(&mut plan) {
                break;
            }
            plan.remove.push((index, cut[index], Reason::Size));
            total -= slices[index].blocks[cut[index]].span_bytes;
            cut[index] += 1;
        }
    }
    plan.kept_bytes = total;
    plan.floor_bytes = fixed_bytes
        + slices
            .iter()
            .zip(&cut)
            .map(|(slice, &cut)| {
                let newest = slice.blocks[cut..]
                    .last()
                    .map_or(0, |block| block.span_bytes);
                newest + slice.unsealed_bytes
            })
            .sum::<u64>();
    plan
}

/// Runs a retention pass if one is due: plans it, commits it with one
/// manifest record, takes the blocks out of the query structures and gives
/// their space back.
pub async fn enforce(worker: &mut StoreWorker) -> Result<()> {
    let Some(runner) = worker.retention.as_ref() else {
        return Ok(());
    };
    let fixed_bytes = worker.store().retention.wal_bytes.get() + worker.manifest_bytes();
    let shard_bytes_max = runner.shard_bytes_max();
    if !runner.due() {
        // Between passes only the floor is checked, at O(slices): ingest
        // must be refused before the disk fills, not a pass later.
        let floor_bytes = fixed_bytes + floor_of_slices(worker.store());
        update_budget_state(worker.store(), shard_bytes_max, floor_bytes);
        return Ok(());
    }
    let now_ns = super::partitions::now_ns();
    let (infos, blocks) = describe_slices(worker.store(), &runner.policy, now_ns);
    let plan = plan(
        &infos,
        fixed_bytes,
        shard_bytes_max,
        RETENTION_BLOCKS_PER_PASS_MAX,
    );
    update_budget_state(worker.store(), shard_bytes_max, plan.floor_bytes);
    if let Some(runner) = worker.retention.as_mut() {
        runner.last_pass = Some(Instant::now());
        runner.more = plan.more;
    }
    let doomed: Vec<(Rc<BlockRef>, Reason)> = plan
        .remove
        .iter()
        .map(|&(slice, block, reason)| (blocks[slice][block].clone(), reason))
        .collect();
    drop(blocks);
    if doomed.is_empty() {
        return Ok(());
    }
    let edits = doomed
        .iter()
        .map(|(block, _)| Edit::RemoveBlock {
            segment: block.segment.id,
            offset: block.offset,
        })
        .collect();
    worker.append_manifest(edits).await?;
    crate::failpoint::hit("retention-after-manifest");
    let store = worker.store().clone();
    let removed = take_out(&store, &doomed);
    tracing::info!(
        shard = store.shard_id,
        blocks = removed.blocks,
        entries = removed.entries,
        bytes = removed.bytes,
        "retention deleted blocks"
    );
    drop(doomed);
    crate::failpoint::hit("retention-before-punch");
    store.punch_removed().await;
    delete_unused_segments(&store).await;
    Ok(())
}

/// Every slice as a pass sees it, with its blocks oldest first (the same
/// order as the `BlockInfo`s).
fn describe_slices(
    store: &ShardStore,
    policy: &RetentionPolicy,
    now_ns: i64,
) -> (Vec<SliceInfo>, Vec<Vec<Rc<BlockRef>>>) {
    let catalog = policy.catalog.borrow();
    let slices = store.slices.borrow();
    let shards = u64::from(policy.shard_count.max(1));
    let mut infos = Vec::with_capacity(slices.len());
    let mut blocks = Vec::with_capacity(slices.len());
    for slice in slices.values() {
        let meta = catalog.by_key(slice.partition_key);
        let days = meta
            .and_then(|meta| meta.retention_days)
            .or(policy.default_days);
        let ordered: Vec<Rc<BlockRef>> = slice.blocks.oldest_first().cloned().collect();
        infos.push(SliceInfo {
            blocks: ordered
                .iter()
                .map(|block| BlockInfo {
                    max_timestamp_ns: block.header.max_timestamp_ns,
                    span_bytes: block.header.span_bytes(),
                })
                .collect(),
            cutoff_ns: days.map(|days| now_ns.saturating_sub(i64::from(days) * NANOS_PER_DAY)),
            bytes_max: meta
                .and_then(|meta| meta.max_storage_size)
                .map(|bytes| bytes / shards),
            unsealed_bytes: unsealed_bytes(slice),
        });
        blocks.push(ordered);
    }
    (infos, blocks)
}

fn unsealed_bytes(slice: &Slice) -> u64 {
    let sealing: u64 = slice
        .sealing
        .iter()
        .map(|block| block.batch.payload_bytes() as u64)
        .sum();
    sealing + slice.active.payload_bytes() as u64
}

/// What no deletion can give back, apart from the WAL and manifest: every
/// slice's unsealed entries and newest block (the floor of `plan`, before
/// age deletions).
fn floor_of_slices(store: &ShardStore) -> u64 {
    store
        .slices
        .borrow()
        .values()
        .map(|slice| {
            let newest = slice
                .blocks
                .oldest_first()
                .next_back()
                .map_or(0, |block| block.header.span_bytes());
            newest + unsealed_bytes(slice)
        })
        .sum()
}

fn update_budget_state(store: &ShardStore, shard_bytes_max: Option<u64>, floor_bytes: u64) {
    let over = shard_bytes_max
        .filter(|&bytes_max| floor_bytes > bytes_max)
        .map(|bytes_max| {
            format!(
                "shard {} needs {floor_bytes} bytes for its WAL, manifest, unsealed entries and newest blocks, more than its share of storage.max_storage_size ({bytes_max} bytes); raise storage.max_storage_size, or lower storage.wal_max_size or storage.write_buffer_size",
                store.shard_id
            )
        });
    store.retention.set_over_budget(store.shard_id, over);
}

/// Takes deleted blocks out of their slices (queries no longer find them)
/// into `removed`, where they wait until no query holds them.
fn take_out(store: &ShardStore, doomed: &[(Rc<BlockRef>, Reason)]) -> Removed {
    let mut total = Removed::default();
    let mut slices = store.slices.borrow_mut();
    for (block, reason) in doomed {
        let Some(slice) = slices.get_mut(&block.header.partition_key) else {
            continue;
        };
        if let Some(taken) = slice.blocks.remove(&block.header) {
            store.retention.count(&taken, *reason);
            total.add(&Removed {
                blocks: 1,
                entries: taken.header.entry_count as u64,
                bytes: taken.header.span_bytes(),
            });
            store.removed.borrow_mut().push(taken);
        }
    }
    total
}

/// Deletes segment files, other than the newest (blocks are appended to
/// it), that hold no published block and no removed block a query still
/// reads. Their space has been punched already; deleting them gives back
/// the file and its metadata. Best effort: a failure is logged, and
/// recovery deletes such files at the next start anyway.
pub async fn delete_unused_segments(store: &ShardStore) {
    let unused: Vec<(u32, std::path::PathBuf)> = {
        let segments = store.segments.borrow();
        let Some(&newest) = segments.keys().next_back() else {
            return;
        };
        let mut in_use: HashSet<u32> = store
            .slices
            .borrow()
            .values()
            .flat_map(|slice| slice.blocks.iter())
            .map(|block| block.segment.id)
            .collect();
        in_use.extend(store.removed.borrow().iter().map(|block| block.segment.id));
        segments
            .iter()
            .filter(|(&id, _)| id != newest && !in_use.contains(&id))
            .map(|(&id, file)| (id, file.path().to_path_buf()))
            .collect()
    };
    if unused.is_empty() {
        return;
    }
    for (id, path) in &unused {
        store.segments.borrow_mut().remove(id);
        if let Err(error) = glommio::io::remove(path)
            .await
            .ctx("remove segment", path, 0)
        {
            tracing::warn!(%error, "could not delete a segment file that holds no block");
            continue;
        }
        tracing::info!(path = %path.display(), "deleted a segment file that holds no block any more");
    }
    if let Err(error) = sync_directory(&store.paths.shard_dir).await {
        tracing::warn!(%error, "could not sync the shard directory after deleting segment files");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(max_timestamp_ns: i64, span_bytes: u64) -> BlockInfo {
        BlockInfo {
            max_timestamp_ns,
            span_bytes,
        }
    }

    fn slice(blocks: &[(i64, u64)]) -> SliceInfo {
        SliceInfo {
            blocks: blocks.iter().map(|&(t, s)| block(t, s)).collect(),
            ..SliceInfo::default()
        }
    }

    #[test]
    fn age_deletes_every_block_wholly_before_the_cutoff() {
        let mut old = slice(&[(10, 100), (20, 100), (30, 100)]);
        old.cutoff_ns = Some(25);
        let plan = plan(&[old], 0, None, 100);
        assert_eq!(plan.remove, vec![(0, 0, Reason::Age), (0, 1, Reason::Age)]);
        assert!(!plan.more);
    }

    #[test]
    fn age_may_delete_a_slice_entirely() {
        let mut old = slice(&[(10, 100), (20, 100)]);
        old.cutoff_ns = Some(1_000);
        assert_eq!(plan(&[old], 0, None, 100).remove.len(), 2);
    }

    #[test]
    fn partition_budget_deletes_oldest_and_keeps_the_newest() {
        let mut full = slice(&[(10, 100), (20, 100), (30, 100), (40, 100)]);
        full.bytes_max = Some(250);
        let plan = plan(&[full.clone()], 0, None, 100);
        assert_eq!(
            plan.remove,
            vec![(0, 0, Reason::Size), (0, 1, Reason::Size)]
        );
        full.bytes_max = Some(1);
        let plan = super::plan(&[full], 0, None, 100);
        assert_eq!(plan.remove.len(), 3, "the newest block stays");
    }

    #[test]
    fn shard_budget_deletes_oldest_across_slices() {
        let a = slice(&[(10, 100), (40, 100)]);
        let b = slice(&[(20, 100), (30, 100), (50, 100)]);
        let plan = plan(&[a, b], 50, Some(350), 100);
        // 550 bytes held; the two oldest deletable blocks go: a@10, b@20.
        assert_eq!(
            plan.remove,
            vec![(0, 0, Reason::Size), (1, 0, Reason::Size)]
        );
        assert_eq!(plan.kept_bytes, 350);
        assert_eq!(plan.floor_bytes, 50 + 100 + 100);
    }

    #[test]
    fn floor_above_the_budget_is_reported() {
        let mut a = slice(&[(10, 100), (20, 100)]);
        a.unsealed_bytes = 500;
        let plan = plan(&[a], 1_000, Some(1_200), 100);
        assert_eq!(plan.remove.len(), 1);
        assert_eq!(plan.floor_bytes, 1_600);
        assert!(plan.floor_bytes > 1_200);
    }

    #[test]
    fn a_pass_stops_at_its_limit_and_asks_for_more() {
        let mut old = slice(&[(1, 1), (2, 1), (3, 1), (4, 1)]);
        old.cutoff_ns = Some(100);
        let plan = plan(&[old], 0, None, 3);
        assert_eq!(plan.remove.len(), 3);
        assert!(plan.more);
    }

    #[test]
    fn nothing_is_due_without_limits() {
        let plan = plan(&[slice(&[(1, 1), (2, 1)])], 10, None, 100);
        assert!(plan.remove.is_empty());
        assert!(!plan.more);
        assert_eq!(plan.kept_bytes, 12);
    }
}
