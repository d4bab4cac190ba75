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
//! Shape: `args.rs` turns the command line (and the result file) into a
//! [`PlanInput`] ([`resolve`]); [`plan`] here is a pure function from it to a
//! [`Plan`]; `render.rs` prints the plan with its arithmetic, so a reader can
//! check every number. Conventions: disk and bandwidth in decimal units (1 TB = 10^12
//! bytes, as drives are sold), memory and config values in binary units
//! (MiB, GiB). Byte counts are whole bytes: a per-day figure is rounded to the
//! nearest byte once, and everything after it is integer arithmetic.

use anyhow::{Context, Result};
use serde::Serialize;

mod args;
mod render;
#[cfg(test)]
mod tests;

use args::validate;
pub use args::{parse_result, read_result, resolve, MeasuredResult, PlanArgs};
pub use render::render;
use render::{bin, dec, group};

/// Durable lines/s of one server core: `BATCH=1000 tuning/wrk-ingest.sh`,
/// `sync_writes = true`, LZ4, one shard, 247-byte lines (docs/BENCHMARKS.md).
pub const PER_CORE_RATE_DEFAULT: f64 = 570_000.0;
/// NDJSON bytes / published block bytes with LZ4 (docs/BENCHMARKS.md).
pub const COMPRESSION_RATIO_DEFAULT: f64 = 2.87;
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

// TimberDB's defaults and limits (docs/CONFIG.md, docs/ARCHITECTURE.md).
/// `storage.block_rotation` default: seal at 8 MiB of uncompressed entries.
const BLOCK_ROTATION_BYTES: u64 = 8 * MIB;
/// Every block is zero-padded to this (`BLOCK_ALIGN_BYTES`, O_DIRECT).
const BLOCK_ALIGN_BYTES: u64 = 4096;
/// `storage.wal_segment_size` default.
const WAL_SEGMENT_SIZE_BYTES: u64 = 64 * MIB;
/// `storage.wal_max_size` default: a soft bound per shard, enforced by sealing.
const WAL_MAX_SIZE_BYTES: u64 = GIB;
/// Recycled WAL files kept per shard (`WAL_SPARE_SEGMENTS_MAX`).
const WAL_SPARE_SEGMENTS: u64 = 2;
/// `storage.write_buffer_size` default and maximum (per shard).
const WRITE_BUFFER_SIZE_BYTES: u64 = 256 * MIB;
const WRITE_BUFFER_SIZE_BYTES_MAX: u64 = 64 * GIB;
/// `api.max_request_size` default.
const MAX_REQUEST_SIZE_BYTES: u64 = 16 * MIB;
/// A block segment file is closed past this size (`SEGMENT_BYTES_MAX`).
const SEGMENT_BYTES_MAX: u64 = GIB;
/// Segment files grow in preallocated steps of this (`SEGMENT_PREALLOCATE_BYTES`).
const SEGMENT_PREALLOCATE_BYTES: u64 = 64 * MIB;
/// Blocks queued for the store worker (`STORE_QUEUE_MAX`).
const STORE_QUEUE_MAX: u64 = 8;
/// A WAL group commit stops taking requests past this (`GROUP_PAYLOAD_BYTES_MAX`).
const GROUP_PAYLOAD_BYTES_MAX: u64 = 32 * MIB;
/// DMA memory glommio registers per executor (`EXECUTOR_IO_MEMORY_BYTES`).
const EXECUTOR_IO_MEMORY_BYTES: u64 = 2 * MIB;
/// glommio's locked-memory minimum per executor (`MEMLOCK_BYTES_PER_SHARD`).
const MEMLOCK_BYTES_PER_SHARD: u64 = 512 * KIB;
/// hyper read buffer per connection (`CONNECTION_READ_BUFFER_BYTES`).
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
/// Binary, allocator, catalog, thread stacks, logging.
const BASE_MEMORY_BYTES: u64 = 256 * MIB;
/// One sealed block in memory: a 64-byte `BlockRef` in an `Rc` (an 80-byte
/// allocation, a 96-byte malloc chunk) plus its slot in the slice's `Vec`.
const BLOCK_INDEX_BYTES_PER_BLOCK: u64 = 112;
/// One segment entry of the pretty-printed manifest.json, which is rewritten
/// whole after every seal.
const MANIFEST_BYTES_PER_SEGMENT: u64 = 130;
/// fdatasync p50 on a preallocated file (docs/BENCHMARKS.md); bounds group
/// commits per shard per second.
const FSYNC_SECONDS: f64 = 0.000_3;
/// Per seal: segment fdatasync, manifest temp-file fdatasync, directory fsync.
const SYNCS_PER_SEAL: u64 = 3;
/// Sequential write of one NVMe drive, low and high end.
const NVME_WRITE_BYTES_PER_SEC_LOW: f64 = 1e9;
const NVME_WRITE_BYTES_PER_SEC_HIGH: f64 = 3e9;
const NIC_BITS_PER_SEC: f64 = 10e9;
/// Open files besides segments and connections: io_uring rings, eventfds and
/// listening sockets per shard, plus stdio, logs and the catalog.
const FILES_PER_SHARD_MISC: u64 = 8;
const FILES_MISC: u64 = 64;
const LIMIT_NOFILE_MIN: u64 = 65_536;
const SECONDS_PER_DAY: u64 = 86_400;
const BLOCK_INDEX_WARN_BYTES: u64 = GIB;

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
            per_core_rate_source:
                "default, docs/BENCHMARKS.md: durable, LZ4, batch 1000, one shard".into(),
            compression_ratio: COMPRESSION_RATIO_DEFAULT,
            compression_ratio_source: "default, docs/BENCHMARKS.md: LZ4, published blocks".into(),
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
    /// raw_bytes_per_day / compression_ratio, rounded.
    pub stored_bytes_per_day: u64,
    /// stored_bytes_per_day × retention_days.
    pub retained_block_bytes: u64,
    /// raw_bytes_per_day / block rotation size, rounded up.
    pub blocks_per_day: u64,
    pub blocks_retained: u64,
    /// blocks_retained × 4096 (the most a block is padded).
    pub block_padding_bytes: u64,
    /// shards × partitions × 64 MiB: the open segment of each slice.
    pub segment_preallocation_bytes: u64,
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
    /// seals_per_sec × manifest size per shard once retention is full.
    pub manifest_bytes_per_sec: f64,
    pub disk_write_bytes_per_sec: f64,
    /// group_commits_per_sec_max + seals_per_sec × 3.
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
    pub terms: Vec<MemoryTerm>,
    pub expected_bytes: u64,
    pub bound_bytes: u64,
    /// bound_bytes rounded up to a whole GiB.
    pub recommended_ram_bytes: u64,
    /// shards × 512 KiB: the least RLIMIT_MEMLOCK that starts the server.
    pub memlock_bytes_min: u64,
    /// The sealed-block index term alone: it grows with retention.
    pub block_index_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FilePlan {
    /// Block segment files at full retention; each stays open.
    pub segment_files: u64,
    /// One open WAL segment per shard.
    pub wal_files: u64,
    pub connections: u64,
    pub misc_files: u64,
    pub open_files: u64,
    /// max(65536, 2 × open_files rounded up to 1024).
    pub limit_nofile: u64,
    /// manifest.json per shard once retention is full.
    pub manifest_bytes_per_shard: u64,
}

/// Recommended values of real config keys (docs/CONFIG.md).
#[derive(Debug, Clone, Serialize)]
pub struct ConfigPlan {
    pub shards: u64,
    pub listen_addr: String,
    pub max_request_size_bytes: u64,
    pub block_rotation_bytes: u64,
    pub compression: String,
    pub sync_writes: bool,
    /// max(256 MiB, partitions × block rotation × 1.25).
    pub write_buffer_size_bytes: u64,
    pub wal_segment_size_bytes: u64,
    pub wal_max_size_bytes: u64,
    pub retention_days: u64,
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
    let config = plan_config(input, cpu.shards);
    let disk = plan_disk(input, cpu.shards);
    let files = plan_files(input, &disk, cpu.shards);
    let writes = plan_writes(input, &disk, &files, cpu.shards);
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
    // The epsilon keeps an exact fit (e.g. 399000 / (570000 × 0.7)) from
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

fn plan_config(input: &PlanInput, shards: u64) -> ConfigPlan {
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
        compression: "LZ4".into(),
        sync_writes: true,
        write_buffer_size_bytes,
        wal_segment_size_bytes: WAL_SEGMENT_SIZE_BYTES,
        wal_max_size_bytes: WAL_MAX_SIZE_BYTES,
        retention_days: input.retention_days,
    }
}

fn plan_disk(input: &PlanInput, shards: u64) -> DiskPlan {
    let raw_bytes_per_sec = input.lines_per_sec * input.line_bytes as f64;
    let raw_bytes_per_day = (raw_bytes_per_sec * SECONDS_PER_DAY as f64).round() as u64;
    let stored_bytes_per_day = (raw_bytes_per_day as f64 / input.compression_ratio).round() as u64;
    let retained_block_bytes = stored_bytes_per_day.saturating_mul(input.retention_days);
    let blocks_per_day = raw_bytes_per_day.div_ceil(BLOCK_ROTATION_BYTES);
    let blocks_retained = blocks_per_day.saturating_mul(input.retention_days);
    let block_padding_bytes = blocks_retained.saturating_mul(BLOCK_ALIGN_BYTES);
    let segment_preallocation_bytes = shards * input.partitions * SEGMENT_PREALLOCATE_BYTES;
    let wal_bytes = shards * wal_bytes_per_shard();
    let used_bytes = retained_block_bytes
        .saturating_add(block_padding_bytes)
        .saturating_add(segment_preallocation_bytes)
        .saturating_add(wal_bytes);
    let provision = (used_bytes as u128 * 100).div_ceil(100 - FREE_SPACE_PERCENT as u128);
    DiskPlan {
        raw_bytes_per_sec,
        raw_bytes_per_day,
        stored_bytes_per_day,
        retained_block_bytes,
        blocks_per_day,
        blocks_retained,
        block_padding_bytes,
        segment_preallocation_bytes,
        wal_bytes,
        used_bytes,
        free_space_percent: FREE_SPACE_PERCENT,
        provision_bytes: u64::try_from(provision).unwrap_or(u64::MAX),
    }
}

/// wal_max_size (the soft bound), the segment being written past it while
/// sealing catches up, and the recycled spares.
fn wal_bytes_per_shard() -> u64 {
    WAL_MAX_SIZE_BYTES + (1 + WAL_SPARE_SEGMENTS) * WAL_SEGMENT_SIZE_BYTES
}

fn plan_files(input: &PlanInput, disk: &DiskPlan, shards: u64) -> FilePlan {
    let block_bytes = disk.retained_block_bytes + disk.block_padding_bytes;
    let slices = shards * input.partitions;
    // Full segments, plus the open (partly filled) segment of every slice.
    let segment_files = block_bytes / SEGMENT_BYTES_MAX + slices;
    let wal_files = shards;
    let misc_files = FILES_MISC + FILES_PER_SHARD_MISC * shards;
    let open_files = segment_files + wal_files + input.connections + misc_files;
    let limit_nofile = (open_files * 2).div_ceil(1024).saturating_mul(1024);
    FilePlan {
        segment_files,
        wal_files,
        connections: input.connections,
        misc_files,
        open_files,
        limit_nofile: limit_nofile.max(LIMIT_NOFILE_MIN),
        manifest_bytes_per_shard: segment_files.div_ceil(shards) * MANIFEST_BYTES_PER_SEGMENT,
    }
}

fn plan_writes(input: &PlanInput, disk: &DiskPlan, files: &FilePlan, shards: u64) -> WritePlan {
    let requests_per_sec = input.lines_per_sec / input.batch_lines as f64;
    let group_commits_per_sec_max = requests_per_sec.min(shards as f64 / FSYNC_SECONDS);
    let wal_bytes_per_sec = disk.raw_bytes_per_sec;
    let wal_padding_bytes_per_sec = group_commits_per_sec_max * BLOCK_ALIGN_BYTES as f64;
    let block_bytes_per_sec = disk.raw_bytes_per_sec / input.compression_ratio;
    let seals_per_sec = disk.raw_bytes_per_sec / BLOCK_ROTATION_BYTES as f64;
    let manifest_bytes_per_sec = seals_per_sec * files.manifest_bytes_per_shard as f64;
    WritePlan {
        requests_per_sec,
        group_commits_per_sec_max,
        wal_bytes_per_sec,
        wal_padding_bytes_per_sec,
        block_bytes_per_sec,
        seals_per_sec,
        manifest_bytes_per_sec,
        disk_write_bytes_per_sec: wal_bytes_per_sec
            + wal_padding_bytes_per_sec
            + block_bytes_per_sec
            + manifest_bytes_per_sec,
        syncs_per_sec_max: group_commits_per_sec_max + seals_per_sec * SYNCS_PER_SEAL as f64,
        network_bits_per_sec: disk.raw_bytes_per_sec * 8.0,
    }
}

fn plan_memory(input: &PlanInput, disk: &DiskPlan, config: &ConfigPlan) -> MemoryPlan {
    let shards = config.shards;
    let rotation = config.block_rotation_bytes;
    let buffer = config.write_buffer_size_bytes;
    let batch_bytes = input.batch_lines * input.line_bytes;
    let conns = input.connections;
    let in_flight_per_shard = conns.div_ceil(shards) * batch_bytes;
    let group_expected = in_flight_per_shard.min(GROUP_PAYLOAD_BYTES_MAX);
    let request = config.max_request_size_bytes;
    let read_buffers = conns * CONNECTION_READ_BUFFER_BYTES;
    let query_bytes = QUERY_CONCURRENT_MAX * QUERY_DEFAULT_LIMIT * input.line_bytes * 2;
    let index_bytes = disk
        .blocks_retained
        .saturating_mul(BLOCK_INDEX_BYTES_PER_BLOCK);
    let term = |name: &str, key: &str, expected: (u64, String), bound: (u64, String)| MemoryTerm {
        name: name.into(),
        config_key: key.into(),
        expected_bytes: expected.0,
        expected_formula: expected.1,
        bound_bytes: bound.0,
        bound_formula: bound.1,
    };
    let (b, r, w) = (bin(buffer), bin(rotation), shards);
    let terms = vec![
        term(
            "active (unsealed) blocks",
            "storage.write_buffer_size, storage.block_rotation",
            (
                shards * (input.partitions * rotation).min(buffer),
                format!(
                    "{w} shards x min({} partition(s) x {r}, {b})",
                    input.partitions
                ),
            ),
            (
                shards * 2 * buffer,
                format!("{w} shards x 2 x {b} (ingest answers 503 above twice write_buffer_size)"),
            ),
        ),
        term(
            "blocks being sealed",
            "storage.block_rotation",
            (
                shards * 3 * rotation,
                format!("{w} shards x 3 x {r} (the block, its archive, its compressed copy)"),
            ),
            (
                shards * (STORE_QUEUE_MAX + 3) * rotation,
                format!("{w} shards x ({STORE_QUEUE_MAX} queued + 3) x {r}"),
            ),
        ),
        term(
            "WAL group buffers",
            "fixed: 32 MiB group cap",
            (
                shards * 3 * group_expected,
                format!(
                    "{w} shards x 3 copies x {} in flight per shard",
                    bin(group_expected)
                ),
            ),
            (
                shards * 3 * GROUP_PAYLOAD_BYTES_MAX,
                format!("{w} shards x 3 copies (payloads, frame, DMA) x 32 MiB"),
            ),
        ),
        term(
            "io_uring DMA buffers",
            "fixed",
            (
                shards * EXECUTOR_IO_MEMORY_BYTES,
                format!("{w} shards x 2 MiB"),
            ),
            (
                shards * EXECUTOR_IO_MEMORY_BYTES,
                format!("{w} shards x 2 MiB"),
            ),
        ),
        term(
            "request bodies",
            "api.max_request_size",
            (
                conns * 2 * batch_bytes + read_buffers,
                format!(
                    "{conns} conns x (2 x {} body and columns + 64 KiB)",
                    dec(batch_bytes as f64)
                ),
            ),
            (
                conns * 2 * request + read_buffers,
                format!("{conns} conns x (2 x {} + 64 KiB)", bin(request)),
            ),
        ),
        term(
            "query results",
            "query.max_concurrent_queries, query.default_limit",
            (
                query_bytes,
                format!("50 queries x 1000 entries x 2 x {} B", input.line_bytes),
            ),
            (
                query_bytes,
                "as expected; a larger limit costs more (query.max_results)".into(),
            ),
        ),
        term(
            "sealed-block index",
            "storage.block_rotation",
            (
                index_bytes,
                format!(
                    "{} blocks x {BLOCK_INDEX_BYTES_PER_BLOCK} B",
                    group(disk.blocks_retained)
                ),
            ),
            (index_bytes, "grows until data is deleted".into()),
        ),
        term(
            "base",
            "-",
            (
                BASE_MEMORY_BYTES,
                "binary, allocator, catalog, stacks".into(),
            ),
            (BASE_MEMORY_BYTES, "assumed".into()),
        ),
    ];
    let expected_bytes = terms.iter().map(|t| t.expected_bytes).sum();
    let bound_bytes: u64 = terms.iter().map(|t| t.bound_bytes).sum();
    MemoryPlan {
        terms,
        expected_bytes,
        bound_bytes,
        recommended_ram_bytes: bound_bytes.div_ceil(GIB) * GIB,
        memlock_bytes_min: shards * MEMLOCK_BYTES_PER_SHARD,
        block_index_bytes: index_bytes,
    }
}

fn warnings(plan: &Plan) -> Vec<String> {
    let (input, writes) = (&plan.input, &plan.writes);
    let mut out = vec![format!(
        "retention is not enforced yet: TimberDB records retention_days but deletes nothing, so \
         the disk fills by {} a day until partitions are deleted by hand",
        dec(plan.disk.stored_bytes_per_day as f64)
    )];
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
            "the default per-core rate was measured with batches of 1000 lines (batch 100 gave \
             325k, 10000 gave 664k); measure batch {} with loadgen and pass --from",
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
    if plan.memory.block_index_bytes > BLOCK_INDEX_WARN_BYTES {
        out.push(format!(
            "{} sealed blocks at full retention: their index takes {} of RAM and start-up reads one \
             header per block; a larger storage.block_rotation means fewer blocks",
            group(plan.disk.blocks_retained),
            bin(plan.memory.block_index_bytes)
        ));
    }
    if writes.manifest_bytes_per_sec > 0.1 * writes.block_bytes_per_sec {
        out.push(format!(
            "manifest.json is rewritten whole after every seal and lists every segment: {} per \
             shard at full retention, {}/s of extra writes (and the CPU to serialise them); \
             a larger storage.block_rotation means fewer seals",
            dec(plan.files.manifest_bytes_per_shard as f64),
            dec(writes.manifest_bytes_per_sec)
        ));
    }
    out
}
