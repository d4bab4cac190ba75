//! Resolution and validation of the merged configuration.
//!
//! Runs once, after every layer, because ranges can depend on other keys (the compression
//! level's range depends on the codec; the WAL must hold two segments) and because a value is
//! judged only in its final form. Errors name the key the way the source that set it last
//! spelled it; for a relation between two keys, the explicitly set one is blamed.

use std::fmt::Display;
use std::ops::RangeInclusive;

use super::defaults::{self as d, WAL_ALIGNMENT_BYTES};
use super::key::{Key, Origins};
use super::{BlockRotation, Compression, Config, ConfigError, Result};

/// Resolves derived values (shard count, WAL directory) and validates every field.
pub fn resolve(config: &mut Config, origins: &Origins) -> Result<()> {
    within(
        origins,
        Key::ShardCount,
        config.shard_count,
        &(0..=d::SHARD_COUNT_MAX),
    )?;
    if config.shard_count == 0 {
        config.shard_count = d::cpu_count().min(d::SHARD_COUNT_MAX);
    }
    if !origins.is_set(Key::WalDir) {
        config.storage.wal_dir = config.storage.data_dir.join(d::WAL_DIR_NAME);
    }
    let request_bytes = config.api.max_request_size_bytes;
    within(
        origins,
        Key::MaxRequestSize,
        request_bytes,
        &d::MAX_REQUEST_SIZE_BYTES_RANGE,
    )?;
    validate_query(config, origins)?;
    validate_storage(config, origins)?;
    validate_wal(config, origins)?;
    super::tls::validate(&config.tls)?;
    super::protocols::validate(config)
}

fn validate_query(config: &Config, origins: &Origins) -> Result<()> {
    let query = &config.query;
    within(
        origins,
        Key::QueryMaxResults,
        query.max_results,
        &d::QUERY_MAX_RESULTS_RANGE,
    )?;
    let limit_range = 1..=query.max_results;
    if !limit_range.contains(&query.default_limit) {
        let key = blame(origins, Key::QueryDefaultLimit, Key::QueryMaxResults);
        let expected = format!(
            "expected query.default_limit between 1 and query.max_results ({})",
            query.max_results
        );
        let value = if key == Key::QueryDefaultLimit {
            query.default_limit
        } else {
            query.max_results
        };
        return Err(ConfigError::invalid(origins, key, value, expected));
    }
    let timeout_range = &d::QUERY_TIMEOUT_SECONDS_RANGE;
    within(
        origins,
        Key::QueryMaxTimeout,
        query.max_timeout_seconds,
        timeout_range,
    )?;
    within(
        origins,
        Key::QueryTimeout,
        query.timeout_seconds,
        timeout_range,
    )?;
    if query.timeout_seconds > query.max_timeout_seconds {
        let key = blame(origins, Key::QueryTimeout, Key::QueryMaxTimeout);
        let expected = format!(
            "expected query.timeout ({}) at most query.max_timeout ({})",
            query.timeout_seconds, query.max_timeout_seconds
        );
        let value = if key == Key::QueryTimeout {
            query.timeout_seconds
        } else {
            query.max_timeout_seconds
        };
        return Err(ConfigError::invalid(origins, key, value, expected));
    }
    let concurrent = query.max_concurrent_queries;
    within(
        origins,
        Key::QueryMaxConcurrent,
        concurrent,
        &d::QUERY_MAX_CONCURRENT_RANGE,
    )?;
    within(
        origins,
        Key::QueryMaxResultBytes,
        query.max_result_bytes,
        &d::QUERY_MAX_RESULT_BYTES_RANGE,
    )
}

fn validate_storage(config: &Config, origins: &Origins) -> Result<()> {
    let storage = &config.storage;
    let level = storage.compression_level;
    match storage.compression {
        Compression::Zstd => within_for(
            origins,
            Key::CompressionLevel,
            level,
            &d::ZSTD_LEVEL_RANGE,
            "Zstd",
        )?,
        Compression::Gzip => within_for(
            origins,
            Key::CompressionLevel,
            level,
            &d::GZIP_LEVEL_RANGE,
            "Gzip",
        )?,
        Compression::None | Compression::Lz4 | Compression::Snappy => {}
    }
    within(
        origins,
        Key::FsyncInterval,
        storage.fsync_interval_ms,
        &d::FSYNC_INTERVAL_MS_RANGE,
    )?;
    if let Some(days) = storage.retention_days {
        within(origins, Key::RetentionDays, days, &d::RETENTION_DAYS_RANGE)?;
    }
    if let Some(bytes) = storage.max_storage_size_bytes {
        within(
            origins,
            Key::MaxStorageSize,
            bytes,
            &d::MAX_STORAGE_SIZE_BYTES_RANGE,
        )?;
    }
    within(
        origins,
        Key::RetentionCheckInterval,
        storage.retention_check_interval_seconds,
        &d::RETENTION_CHECK_INTERVAL_SECONDS_RANGE,
    )?;
    within(
        origins,
        Key::IndexCacheSize,
        storage.index_cache_bytes,
        &d::INDEX_CACHE_BYTES_RANGE,
    )?;
    within(
        origins,
        Key::ScrubRate,
        storage.scrub_rate_bytes_per_s,
        &d::SCRUB_RATE_BYTES_PER_S_RANGE,
    )?;
    let memory = storage.active_block_memory_max_bytes;
    within(
        origins,
        Key::WriteBufferSize,
        memory,
        &d::ACTIVE_BLOCK_MEMORY_MAX_BYTES_RANGE,
    )?;
    validate_block_rotation(storage.block_rotation, memory, origins)
}

fn validate_block_rotation(rotation: BlockRotation, memory: u64, origins: &Origins) -> Result<()> {
    let (range, unit) = match rotation {
        BlockRotation::Time { seconds } => (d::BLOCK_ROTATION_SECONDS_RANGE, seconds),
        BlockRotation::Size { bytes } => (d::BLOCK_ROTATION_BYTES_RANGE, bytes),
        BlockRotation::Count { entries } => (d::BLOCK_ROTATION_ENTRIES_RANGE, entries),
    };
    let (kind, amount) = rotation.parts();
    if !range.contains(&unit) {
        let expected = format!(
            "expected a {kind} rotation value between {} and {}",
            range.start(),
            range.end()
        );
        return Err(ConfigError::invalid(
            origins,
            Key::BlockRotation,
            rotation,
            expected,
        ));
    }
    if kind == "size" && amount > memory {
        // The active block is built in memory; one larger than the per-shard budget could
        // never be sealed and ingest would answer 503 forever.
        let key = blame(origins, Key::BlockRotation, Key::WriteBufferSize);
        let expected = format!(
            "expected the size rotation ({amount} bytes) to fit in storage.write_buffer_size \
             ({memory} bytes), the memory a shard may hold in unsealed blocks"
        );
        let value = if key == Key::BlockRotation {
            rotation.to_string()
        } else {
            memory.to_string()
        };
        return Err(ConfigError::invalid(origins, key, value, expected));
    }
    Ok(())
}

fn validate_wal(config: &Config, origins: &Origins) -> Result<()> {
    let segment = config.storage.wal_segment_size_bytes;
    let wal_max = config.storage.wal_size_max_bytes;
    within(
        origins,
        Key::WalSegmentSize,
        segment,
        &d::WAL_SEGMENT_SIZE_BYTES_RANGE,
    )?;
    if segment % WAL_ALIGNMENT_BYTES != 0 {
        let expected = format!(
            "expected a multiple of {WAL_ALIGNMENT_BYTES} bytes (the O_DIRECT write alignment)"
        );
        return Err(ConfigError::invalid(
            origins,
            Key::WalSegmentSize,
            segment,
            expected,
        ));
    }
    within(
        origins,
        Key::WalMaxSize,
        wal_max,
        &d::WAL_SIZE_MAX_BYTES_RANGE,
    )?;
    if wal_max / 2 < segment {
        let key = blame(origins, Key::WalMaxSize, Key::WalSegmentSize);
        let expected = format!(
            "expected storage.wal_max_size ({wal_max}) to be at least twice \
             storage.wal_segment_size ({segment}), so one segment can be retired while the \
             next is written"
        );
        let value = if key == Key::WalMaxSize {
            wal_max
        } else {
            segment
        };
        return Err(ConfigError::invalid(origins, key, value, expected));
    }
    Ok(())
}

/// Of two keys in a relation, the one to name: `first`, unless only `second` was set.
fn blame(origins: &Origins, first: Key, second: Key) -> Key {
    if !origins.is_set(first) && origins.is_set(second) {
        second
    } else {
        first
    }
}

fn within<T: PartialOrd + Display>(
    origins: &Origins,
    key: Key,
    value: T,
    range: &RangeInclusive<T>,
) -> Result<()> {
    if range.contains(&value) {
        return Ok(());
    }
    let expected = format!(
        "expected a value between {} and {}",
        range.start(),
        range.end()
    );
    Err(ConfigError::invalid(origins, key, value, expected))
}

fn within_for<T: PartialOrd + Display>(
    origins: &Origins,
    key: Key,
    value: T,
    range: &RangeInclusive<T>,
    what: &str,
) -> Result<()> {
    if range.contains(&value) {
        return Ok(());
    }
    let expected = format!("expected {}..={} for {what}", range.start(), range.end());
    Err(ConfigError::invalid(origins, key, value, expected))
}
