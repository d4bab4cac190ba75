//! Built-in defaults and the allowed range of every configuration value.
//!
//! Each range is a named constant with the reason for its bounds, and each default is checked
//! against its range at compile time, so a default can never fail validation. Memory costs are
//! per shard unless stated otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use super::{
    ApiConfig, BlockRotation, Compression, Config, LogFormat, LoggingConfig, NetworkConfig,
    QueryConfig, StorageConfig,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// Node id used when the hostname is unavailable or not a valid node id.
pub const NODE_ID_FALLBACK: &str = "timberdb";
/// Longest node id; it appears in every log line and response, so it is kept short.
pub const NODE_ID_LENGTH_MAX: usize = 64;

/// Shards beyond the core count only add context switches; each shard costs one thread, its
/// io_uring rings (at least 512 KiB locked memory) and up to `write_buffer_size` of blocks.
pub const SHARD_COUNT_MAX: usize = 1024;

/// Default HTTP address: loopback only, so a fresh install is not reachable from the network.
pub const LISTEN_ADDR_DEFAULT: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 7777);

/// Default data directory, relative to the working directory.
pub const DATA_DIR_DEFAULT: &str = "./timberdb-data";
/// Name of the WAL directory inside `data_dir` when `wal_dir` is not set.
pub const WAL_DIR_NAME: &str = "wal";

/// Default largest request body (16 MiB, the seed's value).
pub const MAX_REQUEST_SIZE_BYTES_DEFAULT: usize = 16 * MIB as usize;
/// Shippers name their target (an index, a tenant) and expect it to exist
/// once they write to it, as Elasticsearch and Loki behave.
pub const AUTO_CREATE_PARTITIONS_DEFAULT: bool = true;
/// A body is buffered whole before parsing, so this times concurrent connections bounds
/// ingest memory; 1 KiB..=1 GiB.
pub const MAX_REQUEST_SIZE_BYTES_RANGE: RangeInclusive<usize> = KIB as usize..=GIB as usize;

pub const QUERY_DEFAULT_LIMIT_DEFAULT: usize = 1_000;
pub const QUERY_MAX_RESULTS_DEFAULT: usize = 1_000_000;
/// A result set is held in memory before it is sent; 100 M entries is already many GiB.
pub const QUERY_MAX_RESULTS_RANGE: RangeInclusive<usize> = 1..=100_000_000;
pub const QUERY_TIMEOUT_SECONDS_DEFAULT: u64 = 120;
pub const QUERY_MAX_TIMEOUT_SECONDS_DEFAULT: u64 = 300;
/// No query may hold resources for more than a day.
pub const QUERY_TIMEOUT_SECONDS_RANGE: RangeInclusive<u64> = 1..=86_400;
pub const QUERY_MAX_CONCURRENT_DEFAULT: usize = 50;
/// Each running query holds up to `max_results` entries; this bounds their product.
pub const QUERY_MAX_CONCURRENT_RANGE: RangeInclusive<usize> = 1..=10_000;
/// Bytes one non-streamed (JSON) query response may buffer: 64 MiB. The body is built whole
/// before it is sent, so this times `max_concurrent_queries` bounds query response memory
/// (3.2 GiB at the defaults); NDJSON streaming is not subject to it.
pub const QUERY_MAX_RESULT_BYTES_DEFAULT: usize = 64 * MIB as usize;
/// Below 1 KiB not even a page of ten entries fits; above 4 GiB one response stalls its shard
/// for seconds and streaming is the better answer.
pub const QUERY_MAX_RESULT_BYTES_RANGE: RangeInclusive<usize> = KIB as usize..=4 * GIB as usize;

/// Default block rotation: seal at 8 MiB of uncompressed entries.
pub const BLOCK_ROTATION_DEFAULT: BlockRotation = BlockRotation::Size { bytes: 8 * MIB };
/// A time-rotated block stays open (in memory, its WAL pinned) at most a week.
pub const BLOCK_ROTATION_SECONDS_RANGE: RangeInclusive<u64> = 1..=604_800;
/// Below 4 KiB compression and per-block headers dominate; above 1 GiB a single block write
/// stalls its shard. Also capped by `write_buffer_size` (the block must fit in memory).
pub const BLOCK_ROTATION_BYTES_RANGE: RangeInclusive<u64> = 4 * KIB..=GIB;
/// Per-block index memory grows with entries.
pub const BLOCK_ROTATION_ENTRIES_RANGE: RangeInclusive<u64> = 1..=10_000_000;

/// Zstd level 1, chosen by measurement (docs/BENCHMARKS.md, "Default codec"):
/// on 2 M lines of three corpora it stores 26-35% fewer bytes than LZ4
/// (access log 34.8 against 53.7 bytes per line), ingests 3-9% faster than
/// level 3, and stores within 6% of level 3 (smaller on the access log).
/// Decompression speed barely depends on the level.
pub const COMPRESSION_DEFAULT: Compression = Compression::Zstd;
pub const COMPRESSION_LEVEL_DEFAULT: i32 = 1;
/// Levels zstd accepts (negative "fast" levels are not offered).
pub const ZSTD_LEVEL_RANGE: RangeInclusive<i32> = 1..=22;
/// Levels deflate/gzip accepts.
pub const GZIP_LEVEL_RANGE: RangeInclusive<i32> = 0..=9;

pub const SYNC_WRITES_DEFAULT: bool = true;
pub const FSYNC_INTERVAL_MS_DEFAULT: u64 = 1_000;
/// With `sync_writes = false`, a power loss may take up to this much acknowledged data; a
/// minute is the most we let anyone opt into.
pub const FSYNC_INTERVAL_MS_RANGE: RangeInclusive<u64> = 1..=60_000;

/// Up to a century; 0 would delete everything and is refused.
pub const RETENTION_DAYS_RANGE: RangeInclusive<u32> = 1..=36_500;
/// A size limit below a WAL segment could never be honoured.
pub const MAX_STORAGE_SIZE_BYTES_RANGE: RangeInclusive<u64> = MIB..=u64::MAX;
/// A retention pass a minute: deletion by age needs no finer grain, and a size budget
/// overshoots by at most a minute of ingest.
pub const RETENTION_CHECK_INTERVAL_SECONDS_DEFAULT: u64 = 60;
/// From every second (tests, small disks filling fast) to once a day.
pub const RETENTION_CHECK_INTERVAL_SECONDS_RANGE: RangeInclusive<u64> = 1..=86_400;
const _: () = assert!(in_range(
    RETENTION_CHECK_INTERVAL_SECONDS_DEFAULT,
    &RETENTION_CHECK_INTERVAL_SECONDS_RANGE
));

/// O_DIRECT writes and WAL segment sizes are aligned to this.
pub const WAL_ALIGNMENT_BYTES: u64 = 4096;
pub const WAL_SEGMENT_SIZE_BYTES_DEFAULT: u64 = 64 * MIB;
/// Smaller segments mean more files and more fsyncs of directory entries.
pub const WAL_SEGMENT_SIZE_BYTES_RANGE: RangeInclusive<u64> = MIB..=GIB;
pub const WAL_SIZE_MAX_BYTES_DEFAULT: u64 = GIB;
/// Must hold two segments (one being written, one being retired); at most 1 TiB.
pub const WAL_SIZE_MAX_BYTES_RANGE: RangeInclusive<u64> = 2 * MIB..=TIB;

/// Word filters kept in memory, per node: 128 MiB holds the filters of about 30 million
/// lines of the measured corpora (2-5 bytes per line, docs/BENCHMARKS.md).
pub const INDEX_CACHE_BYTES_DEFAULT: u64 = 128 * MIB;
/// At least 1 MiB (a few blocks' filters); at most 1 TiB.
pub const INDEX_CACHE_BYTES_RANGE: RangeInclusive<u64> = MIB..=TIB;

/// Bytes per second one shard's online scrub reads (`POST /api/v1/admin/scrub` without a
/// rate): 64 MiB/s re-reads 1 TiB per shard in under five hours and leaves an NVMe drive's
/// bandwidth to ingest and queries.
pub const SCRUB_RATE_BYTES_PER_S_DEFAULT: u64 = 64 * MIB;
/// At least 64 KiB/s (one small block a second); at most 64 GiB/s (no limit in practice).
pub const SCRUB_RATE_BYTES_PER_S_RANGE: RangeInclusive<u64> = 64 * KIB..=64 * GIB;

/// 256 MiB of not-yet-sealed blocks per shard before ingest answers 503.
pub const ACTIVE_BLOCK_MEMORY_MAX_BYTES_DEFAULT: u64 = 256 * MIB;
/// Per shard; multiply by the shard count for the node's ingest memory.
pub const ACTIVE_BLOCK_MEMORY_MAX_BYTES_RANGE: RangeInclusive<u64> = MIB..=64 * GIB;

pub const LOG_LEVEL_DEFAULT: &str = "info";
/// Accepted values of `logging.level`.
pub const LOG_LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];
pub const LOG_FORMAT_DEFAULT: LogFormat = LogFormat::Plain;

const fn in_range(value: u64, range: &RangeInclusive<u64>) -> bool {
    *range.start() <= value && value <= *range.end()
}

const _: () = assert!(WAL_SEGMENT_SIZE_BYTES_DEFAULT % WAL_ALIGNMENT_BYTES == 0);
const _: () = assert!(*WAL_SEGMENT_SIZE_BYTES_RANGE.start() % WAL_ALIGNMENT_BYTES == 0);
const _: () = assert!(in_range(
    WAL_SEGMENT_SIZE_BYTES_DEFAULT,
    &WAL_SEGMENT_SIZE_BYTES_RANGE
));
const _: () = assert!(WAL_SIZE_MAX_BYTES_DEFAULT >= 2 * WAL_SEGMENT_SIZE_BYTES_DEFAULT);
const _: () = assert!(in_range(
    WAL_SIZE_MAX_BYTES_DEFAULT,
    &WAL_SIZE_MAX_BYTES_RANGE
));
const _: () = assert!(in_range(
    FSYNC_INTERVAL_MS_DEFAULT,
    &FSYNC_INTERVAL_MS_RANGE
));
const _: () = assert!(in_range(
    ACTIVE_BLOCK_MEMORY_MAX_BYTES_DEFAULT,
    &ACTIVE_BLOCK_MEMORY_MAX_BYTES_RANGE
));
const _: () = assert!(in_range(
    QUERY_TIMEOUT_SECONDS_DEFAULT,
    &QUERY_TIMEOUT_SECONDS_RANGE
));
const _: () = assert!(QUERY_TIMEOUT_SECONDS_DEFAULT <= QUERY_MAX_TIMEOUT_SECONDS_DEFAULT);
const _: () = assert!(QUERY_DEFAULT_LIMIT_DEFAULT <= QUERY_MAX_RESULTS_DEFAULT);
const _: () = assert!(in_range(
    QUERY_MAX_RESULT_BYTES_DEFAULT as u64,
    &(*QUERY_MAX_RESULT_BYTES_RANGE.start() as u64..=*QUERY_MAX_RESULT_BYTES_RANGE.end() as u64)
));
const _: () = assert!(COMPRESSION_LEVEL_DEFAULT >= *ZSTD_LEVEL_RANGE.start());
const _: () = assert!(COMPRESSION_LEVEL_DEFAULT <= *GZIP_LEVEL_RANGE.end());

/// CPUs this process may run on (affinity and cgroup quota aware); 1 if unknown.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |count| count.get())
}

/// The machine's hostname if it is a valid node id (see [`super::value::node_id`]).
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for `buf.len()` bytes; gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&buf[..end]).ok()?;
    super::value::node_id(name).ok()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: hostname().unwrap_or_else(|| NODE_ID_FALLBACK.to_string()),
            // "One per CPU", already resolved, so a default Config is usable as is.
            shard_count: cpu_count().min(SHARD_COUNT_MAX),
            storage: StorageConfig::default(),
            network: NetworkConfig {
                listen_addr: LISTEN_ADDR_DEFAULT,
            },
            api: ApiConfig {
                max_request_size_bytes: MAX_REQUEST_SIZE_BYTES_DEFAULT,
                auto_create_partitions: AUTO_CREATE_PARTITIONS_DEFAULT,
            },
            query: QueryConfig {
                default_limit: QUERY_DEFAULT_LIMIT_DEFAULT,
                max_results: QUERY_MAX_RESULTS_DEFAULT,
                timeout_seconds: QUERY_TIMEOUT_SECONDS_DEFAULT,
                max_timeout_seconds: QUERY_MAX_TIMEOUT_SECONDS_DEFAULT,
                max_concurrent_queries: QUERY_MAX_CONCURRENT_DEFAULT,
                max_result_bytes: QUERY_MAX_RESULT_BYTES_DEFAULT,
            },
            logging: LoggingConfig {
                level: LOG_LEVEL_DEFAULT.to_string(),
                format: LOG_FORMAT_DEFAULT,
            },
            elasticsearch: Default::default(),
            jsonline: Default::default(),
            loki: Default::default(),
            otlp: Default::default(),
            syslog: Default::default(),
            auth: Default::default(),
            audit: Default::default(),
            tls: Default::default(),
            connections: Default::default(),
            quotas: Default::default(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        let data_dir = PathBuf::from(DATA_DIR_DEFAULT);
        StorageConfig {
            wal_dir: data_dir.join(WAL_DIR_NAME),
            data_dir,
            snapshot_dir: None,
            block_rotation: BLOCK_ROTATION_DEFAULT,
            compression: COMPRESSION_DEFAULT,
            compression_level: COMPRESSION_LEVEL_DEFAULT,
            sync_writes: SYNC_WRITES_DEFAULT,
            fsync_interval_ms: FSYNC_INTERVAL_MS_DEFAULT,
            retention_days: None,
            max_storage_size_bytes: None,
            retention_check_interval_seconds: RETENTION_CHECK_INTERVAL_SECONDS_DEFAULT,
            wal_segment_size_bytes: WAL_SEGMENT_SIZE_BYTES_DEFAULT,
            wal_size_max_bytes: WAL_SIZE_MAX_BYTES_DEFAULT,
            active_block_memory_max_bytes: ACTIVE_BLOCK_MEMORY_MAX_BYTES_DEFAULT,
            index_cache_bytes: INDEX_CACHE_BYTES_DEFAULT,
            scrub_rate_bytes_per_s: SCRUB_RATE_BYTES_PER_S_DEFAULT,
            wal_recovery: super::WalRecovery::Strict,
            on_damaged_block: super::OnDamagedBlock::Quarantine,
        }
    }
}
