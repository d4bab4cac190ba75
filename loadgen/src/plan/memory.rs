//! The memory of one node: every consumer with the config key that moves it,
//! what it is expected to take at peak and what the server's limits allow;
//! and the start-up peak, when every shard reads its manifest log whole.

use super::render::{bin, dec, group};
use super::*;

pub(super) fn plan_memory(input: &PlanInput, disk: &DiskPlan, config: &ConfigPlan) -> MemoryPlan {
    let shards = config.shards;
    let terms = vec![
        active_blocks(input, config),
        sealing_blocks(config),
        wal_groups(input, shards),
        dma_buffers(shards),
        request_bodies(input, config),
        query_results(input),
        block_directories(disk),
        filter_cache(config),
        base(),
    ];
    let expected_bytes = terms.iter().map(|t| t.expected_bytes).sum();
    let bound_bytes: u64 = terms.iter().map(|t| t.bound_bytes).sum();
    let directory_bytes = block_directories(disk).bound_bytes;
    // Recovery runs before the shard serves: no ingest, no queries, yet the
    // manifest file is held whole while the directories are built from it.
    let startup_bound_bytes = BASE_MEMORY_BYTES
        + shards * EXECUTOR_IO_MEMORY_BYTES
        + directory_bytes
        + shards.saturating_mul(manifest_file_bytes_max(
            disk.manifest_checkpoint_bytes_per_shard,
        ));
    let peak = bound_bytes.max(startup_bound_bytes);
    MemoryPlan {
        terms,
        expected_bytes,
        bound_bytes,
        startup_bound_bytes,
        recommended_ram_bytes: peak.div_ceil(GIB).saturating_mul(GIB),
        memlock_bytes_min: shards * MEMLOCK_BYTES_PER_SHARD,
        directory_bytes,
    }
}

fn term(name: &str, key: &str, expected: (u64, String), bound: (u64, String)) -> MemoryTerm {
    MemoryTerm {
        name: name.into(),
        config_key: key.into(),
        expected_bytes: expected.0,
        expected_formula: expected.1,
        bound_bytes: bound.0,
        bound_formula: bound.1,
    }
}

fn active_blocks(input: &PlanInput, config: &ConfigPlan) -> MemoryTerm {
    let (shards, rotation, buffer) = (
        config.shards,
        config.block_rotation_bytes,
        config.write_buffer_size_bytes,
    );
    term(
        "active (unsealed) blocks",
        "storage.write_buffer_size, storage.block_rotation",
        (
            shards * (input.partitions * rotation).min(buffer),
            format!(
                "{shards} shards x min({} partition(s) x {}, {})",
                input.partitions,
                bin(rotation),
                bin(buffer)
            ),
        ),
        (
            shards * 2 * buffer,
            format!(
                "{shards} shards x 2 x {} (ingest answers 503 above twice write_buffer_size)",
                bin(buffer)
            ),
        ),
    )
}

fn sealing_blocks(config: &ConfigPlan) -> MemoryTerm {
    let (shards, rotation) = (config.shards, config.block_rotation_bytes);
    let r = bin(rotation);
    term(
        "blocks being sealed",
        "storage.block_rotation",
        (
            shards * 3 * rotation,
            format!(
                "{shards} shards x 3 x {r} (the entries, the encoder's columns, the encoded block)"
            ),
        ),
        (
            shards * (STORE_QUEUE_MAX + 3) * rotation,
            format!("{shards} shards x ({STORE_QUEUE_MAX} queued + 3) x {r}"),
        ),
    )
}

fn wal_groups(input: &PlanInput, shards: u64) -> MemoryTerm {
    let batch_bytes = input.batch_lines * input.line_bytes;
    let in_flight_per_shard = input.connections.div_ceil(shards) * batch_bytes;
    let group_expected = in_flight_per_shard.min(GROUP_PAYLOAD_BYTES_MAX);
    term(
        "WAL group buffers",
        "fixed: 32 MiB group cap",
        (
            shards * 3 * group_expected,
            format!(
                "{shards} shards x 3 copies x {} in flight per shard",
                bin(group_expected)
            ),
        ),
        (
            shards * 3 * GROUP_PAYLOAD_BYTES_MAX,
            format!("{shards} shards x 3 copies (payloads, frame, DMA) x 32 MiB"),
        ),
    )
}

fn dma_buffers(shards: u64) -> MemoryTerm {
    let bytes = shards * EXECUTOR_IO_MEMORY_BYTES;
    let formula = format!("{shards} shards x 2 MiB");
    term(
        "io_uring DMA buffers",
        "fixed",
        (bytes, formula.clone()),
        (bytes, formula),
    )
}

fn request_bodies(input: &PlanInput, config: &ConfigPlan) -> MemoryTerm {
    let batch_bytes = input.batch_lines * input.line_bytes;
    let conns = input.connections;
    let read_buffers = conns * CONNECTION_READ_BUFFER_BYTES;
    let request = config.max_request_size_bytes;
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
    )
}

fn query_results(input: &PlanInput) -> MemoryTerm {
    let bytes = QUERY_CONCURRENT_MAX * QUERY_DEFAULT_LIMIT * input.line_bytes * 2;
    term(
        "query results",
        "query.max_concurrent_queries, query.default_limit",
        (
            bytes,
            format!("50 queries x 1000 entries x 2 x {} B", input.line_bytes),
        ),
        (
            bytes,
            "as expected; a larger limit costs more (query.max_results)".into(),
        ),
    )
}

fn block_directories(disk: &DiskPlan) -> MemoryTerm {
    let bytes = disk.directory_bytes.saturating_add(
        disk.blocks_retained
            .saturating_mul(BLOCK_REF_BYTES_PER_BLOCK),
    );
    term(
        "block directories (always resident)",
        "retention; timberdb_block_directory_bytes",
        (
            bytes,
            format!(
                "{} lines x {DIRECTORY_BYTES_PER_LINE} B + {} blocks x \
                 {BLOCK_REF_BYTES_PER_BLOCK} B",
                group(disk.lines_retained),
                group(disk.blocks_retained)
            ),
        ),
        (
            bytes,
            "grows with the data kept, until retention deletes it".into(),
        ),
    )
}

fn filter_cache(config: &ConfigPlan) -> MemoryTerm {
    let bytes = config.index_cache_size_bytes;
    term(
        "granule filter cache",
        "storage.index_cache_size",
        (
            bytes,
            format!("{} for the node, filled by queries", bin(bytes)),
        ),
        (bytes, "the budget; filters past it are read again".into()),
    )
}

fn base() -> MemoryTerm {
    term(
        "base",
        "-",
        (
            BASE_MEMORY_BYTES,
            "binary, allocator, catalog, stacks".into(),
        ),
        (BASE_MEMORY_BYTES, "assumed".into()),
    )
}
