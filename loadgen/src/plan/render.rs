//! The plan as text: every number with the arithmetic that produced it, so a
//! reader can check it with a calculator. Pure formatting over a [`Plan`].

use std::fmt::Write as _;

use super::{Plan, GIB, MIB, NVME_WRITE_BYTES_PER_SEC_HIGH, NVME_WRITE_BYTES_PER_SEC_LOW};

/// The plan as text, with the arithmetic behind every number.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    render_inputs(&mut out, plan);
    render_cpu(&mut out, plan);
    render_disk(&mut out, plan);
    render_writes(&mut out, plan);
    render_memory(&mut out, plan);
    render_files(&mut out, plan);
    render_config(&mut out, plan);
    if plan.input.replicas > 1 {
        render_fleet(&mut out, plan);
    }
    let _ = writeln!(out, "\nWarnings");
    for warning in &plan.warnings {
        let _ = writeln!(out, "  ! {warning}");
    }
    render_assumptions(&mut out);
    out
}

fn render_inputs(out: &mut String, plan: &Plan) {
    let i = &plan.input;
    let _ = writeln!(out, "TimberDB capacity plan (per node)\n\nInputs");
    let _ = writeln!(
        out,
        "  peak ingest        {} lines/s x {} B = {}/s",
        num(i.lines_per_sec),
        i.line_bytes,
        dec(plan.disk.raw_bytes_per_sec)
    );
    let _ = writeln!(out, "  retention          {} days", i.retention_days);
    let _ = writeln!(
        out,
        "  per-core rate      {} lines/s ({})",
        num(i.per_core_rate),
        i.per_core_rate_source
    );
    let _ = writeln!(
        out,
        "  compression ratio  {} raw/stored ({})",
        i.compression_ratio, i.compression_ratio_source
    );
    let _ = writeln!(
        out,
        "  headroom {}, replicas {}, connections {}, partitions {}, batch {} lines",
        i.headroom, i.replicas, i.connections, i.partitions, i.batch_lines
    );
}

fn render_cpu(out: &mut String, plan: &Plan) {
    let (i, c) = (&plan.input, &plan.cpu);
    let _ = writeln!(out, "\nCPU");
    let _ = writeln!(
        out,
        "  usable per core    {} x (1 - {}) = {} lines/s",
        num(i.per_core_rate),
        i.headroom,
        num(c.usable_rate_per_core)
    );
    let _ = writeln!(
        out,
        "  shard cores        ceil({} / {}) = ceil({:.3}) = {}",
        num(i.lines_per_sec),
        num(c.usable_rate_per_core),
        c.ingest_cores_exact,
        c.ingest_cores
    );
    let _ = writeln!(
        out,
        "  spare core         + {} for the kernel (network, interrupts, io_uring workers) and the OS",
        c.spare_cores
    );
    let _ = writeln!(
        out,
        "  cores              {} (shards = {}; each shard core busy {:.0}% at peak)",
        c.cores,
        c.shards,
        c.shard_utilisation * 100.0
    );
}

fn render_disk(out: &mut String, plan: &Plan) {
    let (i, d) = (&plan.input, &plan.disk);
    let _ = writeln!(out, "\nDisk");
    let _ = writeln!(
        out,
        "  raw per day        {}/s x 86,400 s = {} B ({})",
        dec(d.raw_bytes_per_sec),
        group(d.raw_bytes_per_day),
        dec(d.raw_bytes_per_day as f64)
    );
    let _ = writeln!(
        out,
        "  stored per day     {} / {} = {} B ({})",
        group(d.raw_bytes_per_day),
        i.compression_ratio,
        group(d.stored_bytes_per_day),
        dec(d.stored_bytes_per_day as f64)
    );
    let rows = [
        (
            format!("stored x {} days", i.retention_days),
            d.retained_bytes,
        ),
        (
            format!(
                "retention slack: {} slices x 8 MiB / {}, the block of each slice that \
                 straddles the cutoff (blocks are deleted whole; one fills in {} at peak)",
                d.slices,
                i.compression_ratio,
                duration(d.block_fill_seconds)
            ),
            d.retention_slack_bytes,
        ),
        (
            format!(
                "segment preallocation: {} shards x 64 MiB (the newest segment's tail)",
                plan.cpu.shards
            ),
            d.segment_preallocation_bytes,
        ),
        (
            format!(
                "manifest logs: {s} shards x (5 x {} B checkpoint + 20 MiB): rewritten past 4 x \
                 its checkpoint + 16 MiB, the new one written beside it, 4 MiB preallocated; \
                 checkpoint = ({} lines x {} B of directories + {} blocks x {} B) / {s} shards",
                group(d.manifest_checkpoint_bytes_per_shard),
                group(d.lines_retained),
                super::DIRECTORY_BYTES_PER_LINE,
                group(d.blocks_retained),
                super::MANIFEST_BYTES_PER_BLOCK,
                s = plan.cpu.shards
            ),
            d.manifest_log_bytes,
        ),
        (
            format!(
                "WAL: {} shards x (wal_max_size 1 GiB + 3 x wal_segment_size 64 MiB: one \
                 written past the bound while sealing catches up, 2 recycled spares)",
                plan.cpu.shards
            ),
            d.wal_bytes,
        ),
    ];
    for (label, bytes) in rows {
        let _ = writeln!(out, "  + {:>24} B  {label}", group(bytes));
    }
    let _ = writeln!(
        out,
        "  = {:>24} B  used ({})",
        group(d.used_bytes),
        dec(d.used_bytes as f64)
    );
    let _ = writeln!(
        out,
        "  provision          used / (1 - 0.{:02}) = {} B = {} ({}% kept free)",
        d.free_space_percent,
        group(d.provision_bytes),
        dec(d.provision_bytes as f64),
        d.free_space_percent
    );
    let _ = writeln!(
        out,
        "  size limit         storage.max_storage_size = {}% of it = {} ({}): size retention \
         deletes the oldest blocks past it, before the disk fills",
        super::MAX_STORAGE_SIZE_PERCENT,
        bin(plan.config.max_storage_size_bytes),
        dec(plan.config.max_storage_size_bytes as f64)
    );
}

/// Seconds in the largest unit that reads well: "0.07 s", "42 s",
/// "3.5 min", "2.1 h", "1.5 days".
fn duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{seconds:.2} s")
    } else if seconds < 60.0 {
        format!("{seconds:.0} s")
    } else if seconds < 3600.0 {
        format!("{:.1} min", seconds / 60.0)
    } else if seconds < 86_400.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.1} days", seconds / 86_400.0)
    }
}

fn render_writes(out: &mut String, plan: &Plan) {
    let (i, w, d) = (&plan.input, &plan.writes, &plan.disk);
    let _ = writeln!(out, "\nDisk writes (sustained, at peak)");
    let lines = [
        format!(
            "WAL                {}/s (every line once, uncompressed; columns are ~0.9 x NDJSON)",
            dec(w.wal_bytes_per_sec)
        ),
        format!(
            "WAL page padding   {} group commits/s x 4096 B = {}/s at most",
            num(w.group_commits_per_sec_max),
            dec(w.wal_padding_bytes_per_sec)
        ),
        format!(
            "blocks             {}/s / {} = {}/s",
            dec(d.raw_bytes_per_sec),
            i.compression_ratio,
            dec(w.block_bytes_per_sec)
        ),
        format!(
            "manifest log       {} seals/s x {} B (directory, header, padded to 4096) x 4/3 \
             (checkpoint rewrites) = {}/s",
            num(w.seals_per_sec),
            group(w.manifest_bytes_per_seal),
            dec(w.manifest_bytes_per_sec)
        ),
        format!(
            "total              {}/s against 1-3 GB/s sequential for one NVMe drive: {}",
            dec(w.disk_write_bytes_per_sec),
            nvme_verdict(w.disk_write_bytes_per_sec)
        ),
        format!(
            "syncs              <= {} group commits/s (requests/s {}, at most {} shards / 0.3 ms) \
             + {} seals/s x 2 = {}/s",
            num(w.group_commits_per_sec_max),
            num(w.requests_per_sec),
            plan.cpu.shards,
            num(w.seals_per_sec),
            num(w.syncs_per_sec_max)
        ),
        format!(
            "network in         {:.2} Gbit/s of request bodies (HTTP headers extra)",
            w.network_bits_per_sec / 1e9
        ),
    ];
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
}

fn nvme_verdict(bytes_per_sec: f64) -> &'static str {
    if bytes_per_sec <= 0.5 * NVME_WRITE_BYTES_PER_SEC_LOW {
        "fine"
    } else if bytes_per_sec <= NVME_WRITE_BYTES_PER_SEC_LOW {
        "fits, measure your drive (fio)"
    } else if bytes_per_sec <= NVME_WRITE_BYTES_PER_SEC_HIGH {
        "ABOVE the low end: needs a fast drive or a separate wal_dir drive"
    } else {
        "ABOVE one drive: spread over drives"
    }
}

fn render_memory(out: &mut String, plan: &Plan) {
    let m = &plan.memory;
    let _ = writeln!(
        out,
        "\nMemory (expected at peak | bound the server's limits allow)"
    );
    for t in &m.terms {
        let _ = writeln!(out, "  {} [{}]", t.name, t.config_key);
        let _ = writeln!(
            out,
            "      {:>10} = {}",
            bin(t.expected_bytes),
            t.expected_formula
        );
        let _ = writeln!(
            out,
            "    | {:>10} = {}",
            bin(t.bound_bytes),
            t.bound_formula
        );
    }
    let _ = writeln!(
        out,
        "  total              {} expected, {} bound -> provision {} RAM (the larger of \
         this bound and start-up's)",
        bin(m.expected_bytes),
        bin(m.bound_bytes),
        bin(m.recommended_ram_bytes)
    );
    let _ = writeln!(
        out,
        "  start-up           {} bound: base + DMA + directories + every shard's manifest log \
         read whole (4 x {} checkpoint + 20 MiB each)",
        bin(m.startup_bound_bytes),
        bin(plan.disk.manifest_checkpoint_bytes_per_shard)
    );
    let _ = writeln!(
        out,
        "  page cache         not needed for blocks: segments, manifests and the WAL use O_DIRECT"
    );
    let _ = writeln!(
        out,
        "  RLIMIT_MEMLOCK     >= {} shards x 512 KiB = {} (LimitMEMLOCK=infinity is simplest)",
        plan.cpu.shards,
        bin(m.memlock_bytes_min)
    );
}

fn render_files(out: &mut String, plan: &Plan) {
    let f = &plan.files;
    let _ = writeln!(out, "\nOpen files (at full retention)");
    let _ = writeln!(
        out,
        "  {} segments (stored / 1 GiB + the newest of each shard) + {} manifests + {} WAL + \
         {} connections + {} misc = {}",
        group(f.segment_files),
        f.manifest_files,
        f.wal_files,
        f.connections,
        f.misc_files,
        group(f.open_files)
    );
    let _ = writeln!(
        out,
        "  LimitNOFILE        >= {} (2 x open files, at least 65,536)",
        group(f.limit_nofile)
    );
}

fn render_config(out: &mut String, plan: &Plan) {
    let c = &plan.config;
    let _ = writeln!(
        out,
        "\nRecommended configuration (docs/CONFIG.md; \
         tuning/profiles/nvme-production.toml is a full file)"
    );
    let text = format!(
        "shards = {}\n\n[network]\nlisten_addr = \"{}\"\n\n[auth]\nenabled = true  # beyond \
         loopback the server needs API keys (docs/API.md)\n\n[api]\nmax_request_size = {}\n\n\
         [storage]\nblock_rotation = {{ type = \"size\", value = {} }}\ncompression = \"{}\"  \
         # the codec the ratio was measured with\ncompression_level = {}\nsync_writes = {}  \
         # the per-core rate is durable ingest\nwrite_buffer_size = {}\nwal_segment_size = {}\n\
         wal_max_size = {}\nindex_cache_size = {}\nretention_days = {}  # blocks whose newest \
         entry is older are deleted whole\nmax_storage_size = {}  # {}% of the disk planned: \
         the oldest blocks go past it\n",
        c.shards,
        c.listen_addr,
        toml_size(c.max_request_size_bytes),
        c.block_rotation_bytes,
        c.compression,
        c.compression_level,
        c.sync_writes,
        toml_size(c.write_buffer_size_bytes),
        toml_size(c.wal_segment_size_bytes),
        toml_size(c.wal_max_size_bytes),
        toml_size(c.index_cache_size_bytes),
        c.retention_days,
        toml_size(c.max_storage_size_bytes),
        super::MAX_STORAGE_SIZE_PERCENT
    );
    for line in text.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "  {line}");
        }
    }
}

fn render_fleet(out: &mut String, plan: &Plan) {
    let f = &plan.fleet;
    let _ = writeln!(
        out,
        "\nFleet ({} independent nodes, each ingesting every line)",
        f.nodes
    );
    let _ = writeln!(
        out,
        "  {} cores, {} disk, {} RAM; shippers send {}/s in total",
        f.cores,
        dec(f.disk_bytes as f64),
        bin(f.ram_bytes),
        dec(f.client_bytes_per_sec)
    );
}

fn render_assumptions(out: &mut String) {
    let _ = writeln!(
        out,
        "\nAssumptions\n  \
         - The per-core rate scales linearly with shards (multi-shard scaling is not measured yet).\n  \
         - A line costs about its NDJSON size in the WAL and in a block before compression.\n  \
         - The compression ratio is NDJSON bytes per byte of disk the data directory takes after a \
           graceful stop (du, WAL excluded): granule filters, directories, 4 KiB block padding and \
           the manifest log of the measured run are inside it, so they are not added again; the \
           manifest log's growth between rewrites is.\n  \
         - Block directories take 0.35 B per line (the generator corpus; 0.14 on an access log) \
           in memory and in the manifest log.\n  \
         - fdatasync takes 0.3 ms (p50 measured on a preallocated file); NVMe drives with power-loss \
           protection are faster, drives with a volatile cache and no protection slower.\n  \
         - Units: 1 MB = 10^6 B, 1 MiB = 2^20 B."
    );
}

/// A whole number with thousands separators.
pub(super) fn group(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A rate: grouped whole number from 100 up, two decimals below.
pub(super) fn num(value: f64) -> String {
    if value >= 100.0 {
        group(value.round() as u64)
    } else {
        format!("{value:.2}")
    }
}

/// Decimal bytes: "240.00 MB".
pub(super) fn dec(bytes: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{value:.0} B");
    }
    format!("{value:.2} {}", units[unit])
}

/// Binary bytes: "256 MiB", "1.19 GiB".
pub(super) fn bin(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", units[unit])
    } else {
        format!("{value:.2} {}", units[unit])
    }
}

/// A size as a TOML value TimberDB reads: `"256MiB"`, or a plain byte count.
fn toml_size(bytes: u64) -> String {
    if bytes % GIB == 0 {
        format!("\"{}GiB\"", bytes / GIB)
    } else if bytes % MIB == 0 {
        format!("\"{}MiB\"", bytes / MIB)
    } else {
        bytes.to_string()
    }
}
