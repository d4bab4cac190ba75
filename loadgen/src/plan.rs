//! `loadgen plan`: how many cores, how much disk and memory one TimberDB node
//! needs for a stated ingest rate, line size and retention.
//!
//! The inputs are measured numbers: the durable lines/s one server core
//! sustains and the raw-to-stored compression ratio, by default the figures in
//! docs/BENCHMARKS.md, or those of a loadgen result file (`--from`). Every
//! other quantity is derived from TimberDB's own defaults and fixed limits,
//! mirrored here as constants that name the server constant or config key they
//! copy, so the plan says which setting each figure depends on.
//!
//! The model is storage format 3's (docs/FORMAT.md): the measured ratio
//! already holds the blocks with their granule filters, directories and
//! padding; on top of it come what grows with time or shards and a short run
//! does not show: the block of each slice that straddles the retention
//! cutoff (retention deletes whole blocks), each shard's newest segment's
//! preallocated tail, the manifest logs up to their rewrite threshold (4 x
//! checkpoint + 16 MiB) and the WAL. Block directories stay in memory, and
//! start-up reads every manifest log whole, so both grow with retention.
//!
//! Shape: `args.rs` turns the command line (and the result file) into a
//! [`PlanInput`] ([`resolve`]); [`plan`] here is a pure function from it to a
//! [`Plan`]; `memory.rs` sizes the memory; `render.rs` prints the plan with
//! its arithmetic, so a reader can check every number. Conventions: disk and bandwidth in decimal units (1 TB = 10^12
//! bytes, as drives are sold), memory and config values in binary units
//! (MiB, GiB). Byte counts are whole bytes: a per-day figure is rounded to the
//! nearest byte once, and everything after it is integer arithmetic.

use anyhow::{Context, Result};
use serde::Serialize;

mod args;
mod memory;
mod render;
#[cfg(test)]
mod tests;

use args::validate;
pub use args::{parse_result, read_result, resolve, MeasuredResult, PlanArgs};
use memory::plan_memory;
pub use render::render;
use render::{bin, dec, group};

/// Durable lines/s of one server core: storage format 3, default
/// configuration (`sync_writes = true`, zstd level 1 strings, granule word
/// filters), one shard, loadgen's generator corpus of 240-byte lines, batch
/// 1000, 8 connections (docs/BENCHMARKS.md, "Storage v3 (format 3)").
pub const PER_CORE_RATE_DEFAULT: f64 = 774_000.0;
/// NDJSON bytes sent / bytes the data directory takes after a graceful stop,
/// the same run: 480,825,710 B of 2,000,000 lines in 67,219,760 B (`du -sb`,
/// the WAL removed by the stop) = 7.153. The granule filters, directories,
/// headers, 4 KiB block padding and the manifest log are inside it.
pub const COMPRESSION_RATIO_DEFAULT: f64 = 7.15;
pub const LINE_BYTES_DEFAULT: u64 = 240;
pub const RETENTION_DAYS_DEFAULT: u64 = 30;
/// Fraction of every shard core kept free for queries, sealing bursts and spikes.
pub const HEADROOM_DEFAULT: f64 = 0.3;
pub const HEADROOM_MAX: f64 = 0.9;
pub const CONNECTIONS_DEFAULT: u64 = 64;
/// The batch the default per-core rate was measured with.
pub const BATCH_LINES_DEFAULT: u64 = 1_000;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

// TimberDB's defaults and limits (docs/CONFIG.md, docs/ARCHITECTURE.md,
// docs/FORMAT.md).
/// `storage.block_rotation` default: seal at 8 MiB of uncompressed entries.
const BLOCK_ROTATION_BYTES: u64 = 8 * MIB;
/// WAL appends are padded to this page (`WAL_PAGE_BYTES`), and so are
/// manifest log appends.
const PAGE_BYTES: u64 = 4096;
/// `storage.wal_segment_size` default.
const WAL_SEGMENT_SIZE_BYTES: u64 = 64 * MIB;
/// `storage.wal_max_size` default: a soft bound per shard, enforced by sealing.
const WAL_MAX_SIZE_BYTES: u64 = GIB;
/// Recycled WAL files kept per shard (`WAL_SPARE_SEGMENTS_MAX`).
const WAL_SPARE_SEGMENTS: u64 = 2;
/// `storage.write_buffer_size` default and maximum (per shard).
const WRITE_BUFFER_SIZE_BYTES: u64 = 256 * MIB;
const WRITE_BUFFER_SIZE_BYTES_MAX: u64 = 64 * GIB;
/// `storage.index_cache_size` default: granule word filters kept in memory,
/// for the whole node.
const INDEX_CACHE_SIZE_BYTES: u64 = 128 * MIB;
/// `api.max_request_size` default.
const MAX_REQUEST_SIZE_BYTES: u64 = 16 * MIB;
/// A shard starts a new segment file past this size (`SEGMENT_BYTES_MAX`).
const SEGMENT_BYTES_MAX: u64 = GIB;
/// The newest segment of a busy shard is preallocated ahead by at most this
/// (`SEGMENT_PREALLOCATION.step_max`; 1 MiB doubling while writes come).
const SEGMENT_PREALLOCATION_BYTES_MAX: u64 = 64 * MIB;
/// The manifest log is rewritten as a checkpoint once it is larger than
/// `CHECKPOINT_GROWTH_FACTOR` x its checkpoint + `CHECKPOINT_SLACK_BYTES`.
const CHECKPOINT_GROWTH_FACTOR: u64 = 4;
const CHECKPOINT_SLACK_BYTES: u64 = 16 * MIB;
/// The manifest log's preallocation step, at most (`MANIFEST_PREALLOCATION`).
const MANIFEST_PREALLOCATION_BYTES_MAX: u64 = 4 * MIB;
/// Blocks queued for the store worker (`STORE_QUEUE_MAX`).
const STORE_QUEUE_MAX: u64 = 8;
/// A WAL group commit stops taking requests past this (`GROUP_PAYLOAD_BYTES_MAX`).
const GROUP_PAYLOAD_BYTES_MAX: u64 = 32 * MIB;
/// DMA memory glommio registers per executor (`EXECUTOR_IO_MEMORY_BYTES`).
const EXECUTOR_IO_MEMORY_BYTES: u64 = 2 * MIB;
/// glommio's locked-memory minimum per executor (`MEMLOCK_BYTES_PER_SHARD`).
const MEMLOCK_BYTES_PER_SHARD: u64 = 512 * KIB;
/// Receive buffer of a busy connection, at most (`http::read_buffer::READ_BUFFER_BYTES_MAX`;
/// an idle connection holds none).
const CONNECTION_READ_BUFFER_BYTES: u64 = 64 * KIB;
/// `query.max_concurrent_queries` and `query.default_limit` defaults.
const QUERY_CONCURRENT_MAX: u64 = 50;
const QUERY_DEFAULT_LIMIT: u64 = 1_000;
const SHARD_COUNT_MAX: u64 = 1_024;
const PARTITIONS_MAX: u64 = 10_000;
/// Entries per ingest request (`ENTRIES_PER_REQUEST_MAX`).
const BATCH_LINES_MAX: u64 = 1_000_000;
const RETENTION_DAYS_MAX: u64 = 36_500;

// Planning assumptions, each stated in the output.
/// Cores left to the kernel (network, interrupts, io_uring workers) and the OS.
const SPARE_CORES: u64 = 1;
/// Share of the disk kept free so the filesystem keeps allocating extents well.
const FREE_SPACE_PERCENT: u64 = 20;
/// `storage.max_storage_size` as a share of the disk provisioned: above the
/// `100 - FREE_SPACE_PERCENT` the plan expects to use, so size retention
/// deletes only data the plan did not foresee, and below the whole disk, so
/// it deletes before the disk fills.
const MAX_STORAGE_SIZE_PERCENT: u64 = 85;
const _: () = assert!(MAX_STORAGE_SIZE_PERCENT > 100 - FREE_SPACE_PERCENT);
const _: () = assert!(MAX_STORAGE_SIZE_PERCENT < 100);
/// Binary, allocator, catalog, thread stacks, logging.
const BASE_MEMORY_BYTES: u64 = 256 * MIB;
/// Block directory bytes per line (dictionaries, level counts and frame
/// places of every 2048-line granule): 0.35 on the generator corpus
/// ("headers and directories" in docs/BENCHMARKS.md, the largest of the three
/// corpora measured; the access log's 0.14 matches the 2.76 MB
/// `timberdb_block_directory_bytes` of its 20 M lines). Resident in memory
/// and copied into the manifest log.
const DIRECTORY_BYTES_PER_LINE: f64 = 0.35;
/// One block's fixed share of a manifest checkpoint: its 64-byte header,
/// segment, offset and the archived edit's fields.
const MANIFEST_BYTES_PER_BLOCK: u64 = 96;
/// One published block in memory besides its directory: the `BlockRef` in an
/// `Rc` (segment handle, offset, decoded header, directory handle), its
/// slice's `TimeMap` entry and the directory allocation's header.
const BLOCK_REF_BYTES_PER_BLOCK: u64 = 192;
/// fdatasync p50 on a preallocated file (docs/BENCHMARKS.md); bounds group
/// commits per shard per second.
const FSYNC_SECONDS: f64 = 0.000_3;
/// Per seal: the segment's fdatasync and the manifest append's fdatasync
/// (a new segment file adds a directory fsync once per 1 GiB).
const SYNCS_PER_SEAL: u64 = 2;
/// Sequential write of one NVMe drive, low and high end.
const NVME_WRITE_BYTES_PER_SEC_LOW: f64 = 1e9;
const NVME_WRITE_BYTES_PER_SEC_HIGH: f64 = 3e9;
const NIC_BITS_PER_SEC: f64 = 10e9;
/// Open files besides segments, manifests, WAL and connections: io_uring
/// rings, eventfds and listening sockets per shard, plus stdio, logs and
/// the catalog.
const FILES_PER_SHARD_MISC: u64 = 8;
const FILES_MISC: u64 = 64;
const LIMIT_NOFILE_MIN: u64 = 65_536;
const SECONDS_PER_DAY: u64 = 86_400;
/// Block directories are resident for as long as the data is kept; above
/// this the plan warns.
const DIRECTORY_WARN_BYTES: u64 = 4 * GIB;

/// Everything the computation needs, with where the measured inputs came from.
#[derive(Debug, Clone, Serialize)]
pub struct PlanInput {
    /// Peak node ingest, lines/s.
    pub lines_per_sec: f64,
    /// Average NDJSON line, bytes.
    pub line_bytes: u64,
    pub retention_days: u64,
    /// Durable lines/s one shard core sustains.
    pub per_core_rate: f64,
    pub per_core_rate_source: String,
    /// Raw bytes / stored bytes.
    pub compression_ratio: f64,
    pub compression_ratio_source: String,
    /// Fraction of each core kept free, 0..=0.9.
    pub headroom: f64,
    pub replicas: u64,
    pub connections: u64,
    pub partitions: u64,
    pub batch_lines: u64,
}

impl PlanInput {
    /// The defaults of every optional input, for `lines_per_sec`.
    pub fn with_defaults(lines_per_sec: f64) -> PlanInput {
        PlanInput {
            lines_per_sec,
            line_bytes: LINE_BYTES_DEFAULT,
            retention_days: RETENTION_DAYS_DEFAULT,
            per_core_rate: PER_CORE_RATE_DEFAULT,
            per_core_rate_source: "default, docs/BENCHMARKS.md: format 3, durable, zstd-1, \
                                   batch 1000, one shard, generator corpus"
                .into(),
            compression_ratio: COMPRESSION_RATIO_DEFAULT,
            compression_ratio_source: "default, docs/BENCHMARKS.md: format 3, zstd-1, du of the \
                                       data directory after a graceful stop"
                .into(),
            headroom: HEADROOM_DEFAULT,
            replicas: 1,
            connections: CONNECTIONS_DEFAULT,
            partitions: 1,
            batch_lines: BATCH_LINES_DEFAULT,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub input: PlanInput,
    pub cpu: CpuPlan,
    pub disk: DiskPlan,
    pub writes: WritePlan,
    pub memory: MemoryPlan,
    pub files: FilePlan,
    pub config: ConfigPlan,
    pub fleet: FleetPlan,
    /// Conditions the operator should act on.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CpuPlan {
    /// per_core_rate × (1 − headroom), lines/s.
    pub usable_rate_per_core: f64,
    /// lines_per_sec / usable_rate_per_core, before rounding up.
    pub ingest_cores_exact: f64,
    /// Shard cores: ingest_cores_exact rounded up.
    pub ingest_cores: u64,
    pub spare_cores: u64,
    /// ingest_cores + spare_cores.
    pub cores: u64,
    /// Equal to ingest_cores: one shard per ingest core.
    pub shards: u64,
    /// lines_per_sec / (shards × per_core_rate): the busy fraction of a shard core.
    pub shard_utilisation: f64,
}

/// Disk of one node, bytes.
#[derive(Debug, Clone, Serialize)]
pub struct DiskPlan {
    /// lines_per_sec × line_bytes.
    pub raw_bytes_per_sec: f64,
    pub raw_bytes_per_day: u64,
    /// raw_bytes_per_day / compression_ratio, rounded: blocks (with their
    /// granule filters, directories and padding) and the manifest log, as
    /// the ratio was measured.
    pub stored_bytes_per_day: u64,
    /// stored_bytes_per_day × retention_days.
    pub retained_bytes: u64,
    /// lines_per_sec × 86,400, rounded.
    pub lines_per_day: u64,
    pub lines_retained: u64,
    /// raw_bytes_per_day / block rotation size, rounded up.
    pub blocks_per_day: u64,
    pub blocks_retained: u64,
    /// shards × partitions: each slice has its own active block.
    pub slices: u64,
    /// How long one slice takes to fill a block at peak: slices × 8 MiB /
    /// raw_bytes_per_sec. Age retention deletes whole blocks, so a block
    /// straddling the cutoff keeps up to this much older data.
    pub block_fill_seconds: f64,
    /// slices × 8 MiB / compression_ratio, rounded up: the straddling block
    /// of every slice.
    pub retention_slack_bytes: u64,
    /// shards × 64 MiB: the newest segment's preallocated tail.
    pub segment_preallocation_bytes: u64,
    /// lines_retained × 0.35 B, rounded: every retained block's directory.
    pub directory_bytes: u64,
    /// (directory_bytes + blocks_retained × 96 B) / shards, rounded up.
    pub manifest_checkpoint_bytes_per_shard: u64,
    /// shards × (4 × checkpoint + 16 MiB before a rewrite, + 1 × checkpoint
    /// being written, + 4 MiB preallocated).
    pub manifest_log_bytes: u64,
    /// shards × (wal_max_size + (1 + 2 spares) × wal_segment_size).
    pub wal_bytes: u64,
    pub used_bytes: u64,
    pub free_space_percent: u64,
    /// used_bytes / (1 − free share), rounded up.
    pub provision_bytes: u64,
}

/// Sustained disk writes and syncs of one node.
#[derive(Debug, Clone, Serialize)]
pub struct WritePlan {
    /// lines_per_sec / batch_lines.
    pub requests_per_sec: f64,
    /// min(requests_per_sec, shards / fdatasync latency).
    pub group_commits_per_sec_max: f64,
    /// Each line once, uncompressed: lines_per_sec × line_bytes.
    pub wal_bytes_per_sec: f64,
    /// group_commits_per_sec_max × 4096: padding to the page end, at most.
    pub wal_padding_bytes_per_sec: f64,
    /// raw_bytes_per_sec / compression_ratio.
    pub block_bytes_per_sec: f64,
    /// raw_bytes_per_sec / block rotation size.
    pub seals_per_sec: f64,
    /// One seal's manifest append: 96 B + its directory (0.35 B × the
    /// 8 MiB / line_bytes lines of a block), padded to 4096 B.
    pub manifest_bytes_per_seal: u64,
    /// seals_per_sec × manifest_bytes_per_seal × 4/3: the appends, plus the
    /// checkpoint rewrite that follows every 3 checkpoints' worth of them.
    pub manifest_bytes_per_sec: f64,
    pub disk_write_bytes_per_sec: f64,
    /// group_commits_per_sec_max + seals_per_sec × 2.
    pub syncs_per_sec_max: f64,
    /// raw_bytes_per_sec × 8, request bodies only.
    pub network_bits_per_sec: f64,
}

/// One consumer of memory, node totals in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryTerm {
    pub name: String,
    /// The config key that moves it, or "fixed" for a compiled-in limit.
    pub config_key: String,
    pub expected_bytes: u64,
    pub expected_formula: String,
    /// What the server's limits allow.
    pub bound_bytes: u64,
    pub bound_formula: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryPlan {
    /// While serving: every consumer at once.
    pub terms: Vec<MemoryTerm>,
    pub expected_bytes: u64,
    pub bound_bytes: u64,
    /// At start-up, before ingest: base + DMA buffers + the directories
    /// loaded so far + every shard's manifest log read whole (at most 4 ×
    /// checkpoint + 16 MiB + 4 MiB).
    pub startup_bound_bytes: u64,
    /// max(bound_bytes, startup_bound_bytes) rounded up to a whole GiB.
    pub recommended_ram_bytes: u64,
    /// shards × 512 KiB: the least RLIMIT_MEMLOCK that starts the server.
    pub memlock_bytes_min: u64,
    /// The block directories term alone: it grows with retention.
    pub directory_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FilePlan {
    /// Segment files at full retention: retained_bytes / 1 GiB rounded up,
    /// plus each shard's newest; each stays open.
    pub segment_files: u64,
    /// One manifest log per shard (two while it is rewritten).
    pub manifest_files: u64,
    /// One open WAL segment per shard.
    pub wal_files: u64,
    pub connections: u64,
    pub misc_files: u64,
    pub open_files: u64,
    /// max(65536, 2 × open_files rounded up to 1024).
    pub limit_nofile: u64,
}

/// Recommended values of real config keys (docs/CONFIG.md).
#[derive(Debug, Clone, Serialize)]
pub struct ConfigPlan {
    pub shards: u64,
    pub listen_addr: String,
    pub max_request_size_bytes: u64,
    pub block_rotation_bytes: u64,
    pub compression: String,
    pub compression_level: u32,
    pub sync_writes: bool,
    /// max(256 MiB, partitions × block rotation × 1.25).
    pub write_buffer_size_bytes: u64,
    pub wal_segment_size_bytes: u64,
    pub wal_max_size_bytes: u64,
    pub index_cache_size_bytes: u64,
    pub retention_days: u64,
    /// 85% of the disk provisioned, rounded down to a whole GiB (MiB below
    /// 1 GiB).
    pub max_storage_size_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetPlan {
    pub nodes: u64,
    pub cores: u64,
    pub disk_bytes: u64,
    pub ram_bytes: u64,
    /// Every node receives every line.
    pub client_bytes_per_sec: f64,
}

/// Parses the arguments (and the result file), plans, and renders.
pub fn run(args: &PlanArgs) -> Result<String> {
    let input = resolve(args)?;
    let plan = plan(&input)?;
    if args.json {
        let mut text = serde_json::to_string_pretty(&plan).context("serialising the plan")?;
        text.push('\n');
        return Ok(text);
    }
    Ok(render(&plan))
}

/// The plan for `input`; errors only for invalid input.
pub fn plan(input: &PlanInput) -> Result<Plan> {
    validate(input)?;
    let cpu = plan_cpu(input);
    let disk = plan_disk(input, cpu.shards);
    let config = plan_config(input, cpu.shards, &disk);
    let files = plan_files(input, &disk, cpu.shards);
    let writes = plan_writes(input, &disk, cpu.shards);
    let memory = plan_memory(input, &disk, &config);
    let fleet = FleetPlan {
        nodes: input.replicas,
        cores: cpu.cores * input.replicas,
        disk_bytes: disk.provision_bytes.saturating_mul(input.replicas),
        ram_bytes: memory.recommended_ram_bytes.saturating_mul(input.replicas),
        client_bytes_per_sec: disk.raw_bytes_per_sec * input.replicas as f64,
    };
    let mut plan = Plan {
        input: input.clone(),
        cpu,
        disk,
        writes,
        memory,
        files,
        config,
        fleet,
        warnings: Vec::new(),
    };
    plan.warnings = warnings(&plan);
    Ok(plan)
}

fn plan_cpu(input: &PlanInput) -> CpuPlan {
    let usable_rate_per_core = input.per_core_rate * (1.0 - input.headroom);
    let ingest_cores_exact = input.lines_per_sec / usable_rate_per_core;
    // The epsilon keeps an exact fit (e.g. 541800 / (774000 × 0.7)) from
    // rounding up because 0.7 is not exact in binary.
    let ingest_cores = ((ingest_cores_exact - 1e-9).ceil() as u64).max(1);
    CpuPlan {
        usable_rate_per_core,
        ingest_cores_exact,
        ingest_cores,
        spare_cores: SPARE_CORES,
        cores: ingest_cores + SPARE_CORES,
        shards: ingest_cores,
        shard_utilisation: input.lines_per_sec / (ingest_cores as f64 * input.per_core_rate),
    }
}

fn plan_config(input: &PlanInput, shards: u64, disk: &DiskPlan) -> ConfigPlan {
    // Room for every written partition's block to fill to its rotation size
    // (plus a quarter for the batch that overshoots it), so blocks seal by
    // size rather than all at once under memory pressure.
    let wanted = input.partitions * BLOCK_ROTATION_BYTES * 5 / 4;
    let write_buffer_size_bytes = wanted
        .div_ceil(MIB)
        .saturating_mul(MIB)
        .clamp(WRITE_BUFFER_SIZE_BYTES, WRITE_BUFFER_SIZE_BYTES_MAX);
    ConfigPlan {
        shards,
        listen_addr: "0.0.0.0:7777".into(),
        max_request_size_bytes: MAX_REQUEST_SIZE_BYTES,
        block_rotation_bytes: BLOCK_ROTATION_BYTES,
        compression: "Zstd".into(),
        compression_level: 1,
        sync_writes: true,
        write_buffer_size_bytes,
        wal_segment_size_bytes: WAL_SEGMENT_SIZE_BYTES,
        wal_max_size_bytes: WAL_MAX_SIZE_BYTES,
        index_cache_size_bytes: INDEX_CACHE_SIZE_BYTES,
        retention_days: input.retention_days,
        max_storage_size_bytes: max_storage_size(disk.provision_bytes),
    }
}

/// `MAX_STORAGE_SIZE_PERCENT` of the disk, rounded down to a whole GiB (to a
/// whole MiB below 1 GiB, and at least the 1 MiB the server accepts).
fn max_storage_size(provision_bytes: u64) -> u64 {
    let share = u64::try_from(provision_bytes as u128 * MAX_STORAGE_SIZE_PERCENT as u128 / 100)
        .unwrap_or(u64::MAX);
    let unit = if share >= GIB { GIB } else { MIB };
    (share / unit * unit).max(MIB)
}

fn plan_disk(input: &PlanInput, shards: u64) -> DiskPlan {
    let days = input.retention_days;
    let raw_bytes_per_sec = input.lines_per_sec * input.line_bytes as f64;
    let raw_bytes_per_day = (raw_bytes_per_sec * SECONDS_PER_DAY as f64).round() as u64;
    let stored_bytes_per_day = (raw_bytes_per_day as f64 / input.compression_ratio).round() as u64;
    let retained_bytes = stored_bytes_per_day.saturating_mul(days);
    let lines_per_day = (input.lines_per_sec * SECONDS_PER_DAY as f64).round() as u64;
    let lines_retained = lines_per_day.saturating_mul(days);
    let blocks_per_day = raw_bytes_per_day.div_ceil(BLOCK_ROTATION_BYTES);
    let blocks_retained = blocks_per_day.saturating_mul(days);
    let slices = shards * input.partitions;
    let retention_slack_bytes =
        ((slices * BLOCK_ROTATION_BYTES) as f64 / input.compression_ratio).ceil() as u64;
    let segment_preallocation_bytes = shards * SEGMENT_PREALLOCATION_BYTES_MAX;
    let directory_bytes = (lines_retained as f64 * DIRECTORY_BYTES_PER_LINE).round() as u64;
    let checkpoint = directory_bytes
        .saturating_add(blocks_retained.saturating_mul(MANIFEST_BYTES_PER_BLOCK))
        .div_ceil(shards);
    let manifest_log_bytes = shards.saturating_mul(manifest_log_bytes_per_shard(checkpoint));
    let wal_bytes = shards * wal_bytes_per_shard();
    let used_bytes = retained_bytes
        .saturating_add(retention_slack_bytes)
        .saturating_add(segment_preallocation_bytes)
        .saturating_add(manifest_log_bytes)
        .saturating_add(wal_bytes);
    let provision = (used_bytes as u128 * 100).div_ceil(100 - FREE_SPACE_PERCENT as u128);
    DiskPlan {
        raw_bytes_per_sec,
        raw_bytes_per_day,
        stored_bytes_per_day,
        retained_bytes,
        lines_per_day,
        lines_retained,
        blocks_per_day,
        blocks_retained,
        slices,
        block_fill_seconds: (slices * BLOCK_ROTATION_BYTES) as f64 / raw_bytes_per_sec,
        retention_slack_bytes,
        segment_preallocation_bytes,
        directory_bytes,
        manifest_checkpoint_bytes_per_shard: checkpoint,
        manifest_log_bytes,
        wal_bytes,
        used_bytes,
        free_space_percent: FREE_SPACE_PERCENT,
        provision_bytes: u64::try_from(provision).unwrap_or(u64::MAX),
    }
}

/// The most one shard's manifest files take: the log just below its rewrite
/// threshold with its preallocated tail ([`manifest_file_bytes_max`]), and
/// the new generation's checkpoint written beside it before the old file
/// goes.
fn manifest_log_bytes_per_shard(checkpoint_bytes: u64) -> u64 {
    manifest_file_bytes_max(checkpoint_bytes).saturating_add(checkpoint_bytes)
}

/// The largest one manifest file grows: 4 × checkpoint + 16 MiB, past which
/// it is rewritten, plus its preallocated tail (the file size includes it,
/// and start-up reads the file whole).
fn manifest_file_bytes_max(checkpoint_bytes: u64) -> u64 {
    checkpoint_bytes
        .saturating_mul(CHECKPOINT_GROWTH_FACTOR)
        .saturating_add(CHECKPOINT_SLACK_BYTES + MANIFEST_PREALLOCATION_BYTES_MAX)
}

/// wal_max_size (the soft bound), the segment being written past it while
/// sealing catches up, and the recycled spares.
fn wal_bytes_per_shard() -> u64 {
    WAL_MAX_SIZE_BYTES + (1 + WAL_SPARE_SEGMENTS) * WAL_SEGMENT_SIZE_BYTES
}

fn plan_files(input: &PlanInput, disk: &DiskPlan, shards: u64) -> FilePlan {
    // Full segments, plus the newest (partly filled) segment of every shard.
    let segment_files = disk.retained_bytes.div_ceil(SEGMENT_BYTES_MAX) + shards;
    let misc_files = FILES_MISC + FILES_PER_SHARD_MISC * shards;
    let open_files = segment_files + 2 * shards + input.connections + misc_files;
    let limit_nofile = (open_files * 2).div_ceil(1024).saturating_mul(1024);
    FilePlan {
        segment_files,
        manifest_files: shards,
        wal_files: shards,
        connections: input.connections,
        misc_files,
        open_files,
        limit_nofile: limit_nofile.max(LIMIT_NOFILE_MIN),
    }
}

fn plan_writes(input: &PlanInput, disk: &DiskPlan, shards: u64) -> WritePlan {
    let requests_per_sec = input.lines_per_sec / input.batch_lines as f64;
    let group_commits_per_sec_max = requests_per_sec.min(shards as f64 / FSYNC_SECONDS);
    let wal_bytes_per_sec = disk.raw_bytes_per_sec;
    let wal_padding_bytes_per_sec = group_commits_per_sec_max * PAGE_BYTES as f64;
    let block_bytes_per_sec = disk.raw_bytes_per_sec / input.compression_ratio;
    let seals_per_sec = disk.raw_bytes_per_sec / BLOCK_ROTATION_BYTES as f64;
    let manifest_bytes_per_seal = manifest_bytes_per_seal(input.line_bytes);
    let manifest_bytes_per_sec = seals_per_sec * manifest_bytes_per_seal as f64 * 4.0 / 3.0;
    WritePlan {
        requests_per_sec,
        group_commits_per_sec_max,
        wal_bytes_per_sec,
        wal_padding_bytes_per_sec,
        block_bytes_per_sec,
        seals_per_sec,
        manifest_bytes_per_seal,
        manifest_bytes_per_sec,
        disk_write_bytes_per_sec: wal_bytes_per_sec
            + wal_padding_bytes_per_sec
            + block_bytes_per_sec
            + manifest_bytes_per_sec,
        syncs_per_sec_max: group_commits_per_sec_max + seals_per_sec * SYNCS_PER_SEAL as f64,
        network_bits_per_sec: disk.raw_bytes_per_sec * 8.0,
    }
}

/// One seal's manifest record (`AddBlock` with the block's header and
/// directory, `Sealed`), padded to the page like every manifest append.
fn manifest_bytes_per_seal(line_bytes: u64) -> u64 {
    let lines_per_block = BLOCK_ROTATION_BYTES as f64 / line_bytes as f64;
    let directory = (lines_per_block * DIRECTORY_BYTES_PER_LINE).round() as u64;
    (MANIFEST_BYTES_PER_BLOCK + directory).div_ceil(PAGE_BYTES) * PAGE_BYTES
}

fn warnings(plan: &Plan) -> Vec<String> {
    let (input, writes) = (&plan.input, &plan.writes);
    let mut out = Vec::new();
    if plan.cpu.shards > SHARD_COUNT_MAX {
        out.push(format!(
            "{} shards is more than one node runs ({SHARD_COUNT_MAX}); split the ingest over nodes",
            plan.cpu.shards
        ));
    }
    if input.connections < plan.cpu.shards {
        out.push(format!(
            "{} connections for {} shards: the kernel spreads connections, not requests, over the \
             shards (SO_REUSEPORT), so at most {} shards ingest; open several connections per shard",
            input.connections, plan.cpu.shards, input.connections
        ));
    }
    let body = input.batch_lines * input.line_bytes;
    if body > plan.config.max_request_size_bytes {
        out.push(format!(
            "a batch of {} lines is {}, above api.max_request_size ({}): requests get 413",
            input.batch_lines,
            dec(body as f64),
            bin(plan.config.max_request_size_bytes)
        ));
    }
    if input.batch_lines != BATCH_LINES_DEFAULT && input.per_core_rate_source.starts_with("default")
    {
        out.push(format!(
            "the default per-core rate was measured with batches of 1000 lines, and smaller \
             batches cost more per line; measure batch {} with loadgen and pass --from",
            input.batch_lines
        ));
    }
    if input.headroom == 0.0 {
        out.push("--headroom 0 leaves no CPU for queries or bursts".into());
    }
    if writes.disk_write_bytes_per_sec > NVME_WRITE_BYTES_PER_SEC_LOW {
        out.push(format!(
            "disk writes of {}/s are above the 1 GB/s assumed for one NVMe drive (3 GB/s for a \
             fast one); measure yours with fio, and put storage.wal_dir on its own drive",
            dec(writes.disk_write_bytes_per_sec)
        ));
    }
    if writes.network_bits_per_sec > 0.7 * NIC_BITS_PER_SEC {
        out.push(format!(
            "ingest is {:.1} Gbit/s of request bodies, above 70% of a 10 GbE link",
            writes.network_bits_per_sec / 1e9
        ));
    }
    if plan.memory.directory_bytes > DIRECTORY_WARN_BYTES {
        out.push(format!(
            "the directories of {} retained lines take {} of RAM: they stay in memory for as long \
             as the data is kept (timberdb_block_directory_bytes), and a larger \
             storage.block_rotation does not shrink them (they grow with the granules of 2048 \
             lines); keep fewer days on this node or split the ingest over nodes",
            group(plan.disk.lines_retained),
            bin(plan.memory.directory_bytes)
        ));
    }
    if plan.memory.startup_bound_bytes > plan.memory.bound_bytes {
        out.push(format!(
            "start-up reads every shard's manifest log whole, {} per shard at most (4 x its {} \
             checkpoint + 16 MiB + 4 MiB preallocated): that, not ingest, sets the RAM to \
             provision",
            bin(manifest_file_bytes_max(
                plan.disk.manifest_checkpoint_bytes_per_shard
            )),
            bin(plan.disk.manifest_checkpoint_bytes_per_shard)
        ));
    }
    out
}
