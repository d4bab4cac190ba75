//! Online scrub: every shard re-reads its published blocks (and its current
//! manifest) in the background, while it keeps ingesting and answering.
//!
//! Shard 0 coordinates a run (`start`): it refuses a second while one runs,
//! sends every shard (itself included) `PeerRequest::ScrubShard`, and marks
//! the run finished when all have answered. Each shard (`run_shard`) reads
//! with glommio DMA reads on its own executor, one block at a time, paced
//! to the run's rate (`storage.scrub_rate` per shard unless the request
//! names one), and verifies the block a granule at a time, yielding to the
//! reactor between granules, so a 64 MiB block never holds the shard for
//! more than one granule's decode. A block is held by its `Rc` while it is
//! read, so compaction cannot punch it meanwhile; one that left the
//! database meanwhile is skipped.
//!
//! Quarantine (when asked) goes through the store worker, the only writer
//! of the manifest (`StoreJob::Quarantine`): a copy and a
//! `quarantine.jsonl` line, then a `RemoveBlock` record (the commit point),
//! then the block leaves the slice's query structures.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::report::{FileKind, Finding, QuarantineLine};
use crate::block::{
    verify_envelope, verify_filters, verify_granule, BlockError, BlockHeader, DecodedGranule,
};
use crate::shard::mailbox::{call_all, PeerRequest};
use crate::shard::slice::BlockRef;
use crate::shard::worker::StoreJob;
use crate::shard::ShardContext;
use crate::storage::manifest::{list_generations, manifest_file_name, scan_generation};

/// Findings one shard keeps per run; past it only the count grows. Bounds
/// the memory of a run on a badly damaged disk (a finding is ~1 KiB).
pub const FINDINGS_PER_SHARD_MAX: usize = 1000;

/// What a run was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScrubOptions {
    /// Bytes per second each shard reads.
    pub rate_bytes_per_s: u64,
    /// Whether damaged blocks are removed from the database.
    pub quarantine: bool,
}

/// The node's run, as shard 0 records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRun {
    pub id: String,
    pub started_at_ns: i64,
    pub finished_at_ns: Option<i64>,
    pub running: bool,
    pub options: ScrubOptions,
}

/// Where a shard's run is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    #[default]
    Idle,
    Running,
    Finished,
}

/// One shard's current or last run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShardRun {
    pub id: String,
    pub state: RunState,
    pub bytes_checked: u64,
    pub blocks_checked: u64,
    pub manifest_records_checked: u64,
    /// Damaged blocks found (may exceed `damage.len()`, which is bounded).
    pub damaged_blocks: u64,
    pub damage: Vec<Finding>,
    pub quarantined: Vec<QuarantineLine>,
    /// Reads or quarantines that failed for a reason other than damage.
    pub errors: Vec<String>,
}

/// Totals since the process started, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrubTotals {
    pub runs: u64,
    pub running: bool,
    pub blocks_checked: u64,
    pub bytes_checked: u64,
    pub damaged_blocks: u64,
    pub quarantined_blocks: u64,
}

/// A shard's scrub state (in its `ShardContext`).
#[derive(Default)]
pub struct ScrubState {
    pub shard: RefCell<ShardRun>,
    pub totals: Cell<ScrubTotals>,
    /// Shard 0 only: the node's current or last run.
    pub node: RefCell<Option<NodeRun>>,
}

impl ScrubState {
    fn count(&self, update: impl FnOnce(&mut ScrubTotals)) {
        let mut totals = self.totals.get();
        update(&mut totals);
        self.totals.set(totals);
    }
}

/// On shard 0: starts a run unless one is running (then `Err` with it).
pub fn start(ctx: &Rc<ShardContext>, options: ScrubOptions) -> Result<NodeRun, NodeRun> {
    assert!(ctx.is_catalog_owner(), "shard 0 coordinates scrubs");
    if let Some(run) = ctx.scrub.node.borrow().as_ref().filter(|run| run.running) {
        return Err(run.clone());
    }
    let started_at_ns = crate::shard::partitions::now_ns();
    let run = NodeRun {
        id: format!("scrub-{started_at_ns}"),
        started_at_ns,
        finished_at_ns: None,
        running: true,
        options,
    };
    *ctx.scrub.node.borrow_mut() = Some(run.clone());
    let ctx = ctx.clone();
    let id = run.id.clone();
    glommio::spawn_local(async move {
        let result = call_all(&ctx, |reply| PeerRequest::ScrubShard {
            id: id.clone(),
            options,
            reply,
        })
        .await;
        if let Err(reason) = result {
            tracing::error!(%reason, "scrub run {id} could not reach every shard");
        }
        if let Some(run) = ctx.scrub.node.borrow_mut().as_mut() {
            run.running = false;
            run.finished_at_ns = Some(crate::shard::partitions::now_ns());
        }
        tracing::info!("scrub run {id} finished");
    })
    .detach();
    Ok(run)
}

/// Scrubs this shard: its current manifest, then every published block.
pub async fn run_shard(ctx: &Rc<ShardContext>, id: String, options: ScrubOptions) {
    *ctx.scrub.shard.borrow_mut() = ShardRun {
        id,
        state: RunState::Running,
        ..ShardRun::default()
    };
    ctx.scrub.count(|t| {
        t.runs += 1;
        t.running = true;
    });
    let mut pace = Pace::new(options.rate_bytes_per_s);
    scrub_manifest(ctx, &mut pace).await;
    // Headers, not `Rc`s: holding every block for the whole run would keep
    // compaction from giving back the space of the blocks it replaces.
    let headers: Vec<BlockHeader> = ctx
        .store
        .slices
        .borrow()
        .values()
        .flat_map(|slice| slice.blocks.iter().map(|block| block.header))
        .collect();
    for header in headers {
        // None: compacted away or deleted since the list was taken.
        if let Some(block) = ctx.store.published(&header) {
            scrub_block(ctx, &block, options, &mut pace).await;
        }
    }
    ctx.scrub.shard.borrow_mut().state = RunState::Finished;
    ctx.scrub.count(|t| t.running = false);
}

/// Paces reads to a rate: after `bytes` more, sleeps until the run's
/// total is no longer ahead of `rate * elapsed`.
struct Pace {
    started: Instant,
    bytes: u64,
    rate_bytes_per_s: u64,
}

impl Pace {
    fn new(rate_bytes_per_s: u64) -> Pace {
        assert!(
            rate_bytes_per_s > 0,
            "a scrub rate is validated to be positive"
        );
        Pace {
            started: Instant::now(),
            bytes: 0,
            rate_bytes_per_s,
        }
    }

    async fn after(&mut self, bytes: u64) {
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate_bytes_per_s as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            glommio::timer::sleep(due - elapsed).await;
        }
    }
}

async fn scrub_manifest(ctx: &Rc<ShardContext>, pace: &mut Pace) {
    let dir = &ctx.store.paths.shard_dir;
    let generation = match list_generations(dir) {
        Ok(generations) => generations.first().copied(),
        Err(error) => return record_error(ctx, error.to_string()),
    };
    let Some(generation) = generation else { return };
    let path = dir.join(manifest_file_name(generation));
    let bytes = match read_whole(&path).await {
        Ok(bytes) => bytes,
        Err(error) => return record_error(ctx, format!("read {}: {error}", path.display())),
    };
    let scan = scan_generation(&bytes, generation, ctx.shard_id);
    pace.after(bytes.len() as u64).await;
    let mut run = ctx.scrub.shard.borrow_mut();
    run.manifest_records_checked += scan.record_count;
    run.bytes_checked += bytes.len() as u64;
    // An incomplete checkpoint is a new generation being written right now.
    if let (Some((offset, detail)), true) = (scan.damage, scan.checkpoint_complete) {
        let mut finding = Finding::new(FileKind::Manifest, &path, offset, detail);
        finding.shard = Some(ctx.shard_id);
        finding.meaning = "the next start of this server refuses this shard; take a snapshot \
                           while it runs, or restore the shard from one (quarantine cannot \
                           repair a manifest)"
            .into();
        push_finding(&mut run, finding);
    }
}

async fn read_whole(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let file = glommio::io::DmaFile::open(path).await?;
    let size = file.file_size().await?;
    let read = file.read_at(0, size as usize).await;
    let _ = file.close().await;
    Ok(read?.to_vec())
}

async fn scrub_block(
    ctx: &Rc<ShardContext>,
    block: &Rc<BlockRef>,
    options: ScrubOptions,
    pace: &mut Pace,
) {
    let span = block.header.span_bytes();
    let read = block.segment.read(block.offset, span as usize).await;
    pace.after(span).await;
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(error) => return record_error(ctx, error.to_string()),
    };
    let result = verify_yielding(block, &bytes).await;
    ctx.scrub.count(|t| {
        t.blocks_checked += 1;
        t.bytes_checked += span;
    });
    {
        let mut run = ctx.scrub.shard.borrow_mut();
        run.blocks_checked += 1;
        run.bytes_checked += span;
    }
    let Err(error) = result else { return };
    let finding = {
        let catalog = ctx.catalog.borrow();
        Finding::block(
            block.segment.path(),
            ctx.shard_id,
            block.key(),
            &block.header,
            &catalog,
            error,
        )
    };
    tracing::error!(file = %finding.file, offset = finding.offset, detail = %finding.detail, "scrub found a damaged block");
    ctx.scrub.count(|t| t.damaged_blocks += 1);
    {
        let mut run = ctx.scrub.shard.borrow_mut();
        run.damaged_blocks += 1;
        push_finding(&mut run, finding.clone());
    }
    if options.quarantine {
        quarantine(ctx, block, finding, bytes.to_vec()).await;
    }
}

/// `block::verify_block`, a granule at a time with a yield between.
async fn verify_yielding(block: &BlockRef, bytes: &[u8]) -> Result<(), BlockError> {
    let directory = &block.directory;
    verify_envelope(&block.header, directory, bytes)?;
    let mut granule = DecodedGranule::new(directory.clone(), 0);
    for index in 0..directory.get().granules.len() {
        verify_granule(directory, index, bytes, &mut granule)?;
        glommio::yield_if_needed().await;
    }
    verify_filters(directory, bytes)
}

async fn quarantine(
    ctx: &Rc<ShardContext>,
    block: &Rc<BlockRef>,
    finding: Finding,
    bytes: Vec<u8>,
) {
    let (reply, answer) = flume::bounded(1);
    let job = StoreJob::Quarantine {
        block: block.clone(),
        finding: Box::new(finding),
        bytes,
        reply,
    };
    if ctx.store_tx.send(job).await.is_err() {
        return record_error(ctx, "the store worker has stopped".into());
    }
    match answer.recv_async().await {
        Ok(Ok(line)) => {
            ctx.scrub.count(|t| t.quarantined_blocks += 1);
            ctx.scrub.shard.borrow_mut().quarantined.push(line);
        }
        Ok(Err(reason)) => record_error(ctx, format!("quarantine failed: {reason}")),
        Err(_) => record_error(ctx, "the store worker has stopped".into()),
    }
}

/// The store worker's half of a quarantine: copy and line off the reactor,
/// then the line's durable `RemoveBlock` record is appended by the caller.
pub async fn write_record(
    shard_dir: std::path::PathBuf,
    finding: Finding,
    bytes: Option<Vec<u8>>,
) -> Result<QuarantineLine, String> {
    glommio::executor()
        .spawn_blocking(move || {
            let (segment, offset) = finding.block_key().expect("a block finding");
            let written = bytes
                .map(|bytes| super::quarantine::write_copy(&shard_dir, segment, offset, &bytes));
            let copy = match written {
                Some(Ok(name)) => Some(name),
                Some(Err(error)) => {
                    tracing::warn!(%error, segment, offset, "could not keep a copy of a quarantined block");
                    None
                }
                None => None,
            };
            let line = super::quarantine::line_for(&finding, copy).ok_or("not a block finding")?;
            super::quarantine::append_lines(&shard_dir, std::slice::from_ref(&line))
                .map_err(|error| format!("cannot write quarantine.jsonl: {error}"))?;
            Ok(line)
        })
        .await
}

fn push_finding(run: &mut ShardRun, finding: Finding) {
    if run.damage.len() < FINDINGS_PER_SHARD_MAX {
        run.damage.push(finding);
    }
}

fn record_error(ctx: &ShardContext, error: String) {
    tracing::warn!(%error, "scrub could not check something");
    let mut run = ctx.scrub.shard.borrow_mut();
    if run.errors.len() < FINDINGS_PER_SHARD_MAX {
        run.errors.push(error);
    }
}

/// The `timberdb_scrub_*` series, one per shard.
pub fn render_metrics(totals: &[ScrubTotals], out: &mut String) {
    type Series = (
        &'static str,
        &'static str,
        &'static str,
        fn(&ScrubTotals) -> u64,
    );
    let series: [Series; 6] = [
        (
            "timberdb_scrub_runs_total",
            "counter",
            "Scrub runs started on the shard.",
            |t| t.runs,
        ),
        (
            "timberdb_scrub_running",
            "gauge",
            "1 while a scrub runs on the shard.",
            |t| t.running as u64,
        ),
        (
            "timberdb_scrub_blocks_checked_total",
            "counter",
            "Published blocks a scrub read and verified.",
            |t| t.blocks_checked,
        ),
        (
            "timberdb_scrub_bytes_checked_total",
            "counter",
            "Block bytes a scrub read and verified.",
            |t| t.bytes_checked,
        ),
        (
            "timberdb_scrub_damaged_blocks_total",
            "counter",
            "Damaged blocks a scrub found (alert on any increase).",
            |t| t.damaged_blocks,
        ),
        (
            "timberdb_scrub_quarantined_blocks_total",
            "counter",
            "Damaged blocks a scrub removed from the database.",
            |t| t.quarantined_blocks,
        ),
    ];
    for (name, kind, help, read) in series {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (shard, totals) in totals.iter().enumerate() {
            out.push_str(&format!("{name}{{shard=\"{shard}\"}} {}\n", read(totals)));
        }
    }
}
