//! The command line of `loadgen plan` and how it becomes a [`PlanInput`]:
//! flags first, then a loadgen result file (`--from`), then the measured
//! defaults; and the checks every input must pass before planning.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;

use super::render::group;
use super::*;

/// `loadgen plan`: capacity planning from measured per-core rates.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct PlanArgs {
    /// Peak ingest rate to plan for, in lines per second for the whole node
    /// (required; `1e6` is accepted).
    #[arg(long, value_name = "N")]
    pub lines_per_sec: f64,
    /// Average size of one log line as sent (NDJSON), in bytes. Default: 240.
    #[arg(long, value_name = "N", default_value_t = LINE_BYTES_DEFAULT, hide_default_value = true)]
    pub line_bytes: u64,
    /// How long data is kept, in days (storage.retention_days). Default: 30.
    /// Retention deletes whole blocks once their newest entry is older than
    /// this, so a block straddling the cutoff stays up to one block rotation
    /// period longer: the disk planned is what the retention keeps plus that
    /// slack (one block per partition per shard).
    #[arg(long, value_name = "N", default_value_t = RETENTION_DAYS_DEFAULT, hide_default_value = true)]
    pub retention_days: u64,
    /// Durable lines/s one server core sustains. Default: 774000, measured in
    /// docs/BENCHMARKS.md (storage format 3, default configuration:
    /// sync_writes = true, zstd level 1; batch 1000, one shard on a 2-vCPU
    /// VM, loadgen's generator corpus; an access log gave 940000, plain text
    /// 1690000); measure your hardware and pass it here or with --from.
    #[arg(long, value_name = "N")]
    pub per_core_rate: Option<f64>,
    /// NDJSON bytes sent / bytes of disk the data directory takes after a
    /// graceful stop (du, WAL excluded). Default: 7.15, format 3 with the
    /// default zstd level 1 on loadgen's generator corpus (docs/BENCHMARKS.md;
    /// LZ4 measured 4.9). Lines compress differently: an access log took
    /// 34.8 B a line, plain text 18.9; measure yours with `loadgen sweep`.
    #[arg(long, value_name = "X")]
    pub compression_ratio: Option<f64>,
    /// A loadgen result JSON of a closed-loop run (no --rate): per-core rate =
    /// results.lines_per_sec / server.cores, and results.compression_ratio
    /// (rounded to 3 decimals) when present and not null (`loadgen sweep`
    /// writes it). An open-loop run measured the rate it
    /// offered, not capacity, so its rate is refused. --per-core-rate and
    /// --compression-ratio win over the file. Default: none.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Fraction of each shard core kept free for queries, block sealing bursts
    /// and spikes, 0 to 0.9. Default: 0.3.
    #[arg(long, value_name = "X", default_value_t = HEADROOM_DEFAULT, hide_default_value = true)]
    pub headroom: f64,
    /// Copies of the data. TimberDB is single-node (no replication), so N > 1
    /// means N independent nodes that each ingest every line; per-node figures
    /// stay the same and the fleet totals are multiplied by N. Default: 1.
    #[arg(long, value_name = "N", default_value_t = 1, hide_default_value = true)]
    pub replicas: u64,
    /// Concurrent client connections to the node; bounds request-body memory
    /// (each holds up to api.max_request_size). Default: 64.
    #[arg(long, value_name = "N", default_value_t = CONNECTIONS_DEFAULT, hide_default_value = true)]
    pub connections: u64,
    /// Partitions written at the same time; each has an active block on every
    /// shard. Default: 1.
    #[arg(long, value_name = "N", default_value_t = 1, hide_default_value = true)]
    pub partitions: u64,
    /// Lines per ingest request. Sets the request and group-commit rate; the
    /// default per-core rate was measured at 1000. Default: 1000.
    #[arg(long, value_name = "N", default_value_t = BATCH_LINES_DEFAULT, hide_default_value = true)]
    pub batch_lines: u64,
    /// Print the plan as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What a loadgen result file says about the server it measured.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredResult {
    /// `results.lines_per_sec`: acknowledged lines/s of the whole server.
    pub lines_per_sec: f64,
    /// `server.cores`: the server's shards; null when loadgen could not ask
    /// a TimberDB server.
    pub cores: Option<u64>,
    /// `results.compression_ratio`, when the run measured it (sweeps do).
    pub compression_ratio: Option<f64>,
    /// `config.rate`: the lines/s an open-loop run offered; `None` for a
    /// closed-loop run (and for files without a config).
    pub offered_rate: Option<f64>,
}

impl MeasuredResult {
    /// Lines/s per server core: `lines_per_sec / cores`. Only a closed-loop
    /// run measures capacity: an open-loop run's lines/s is the rate it
    /// offered (or less), whatever the server could have taken.
    pub fn per_core_rate(&self) -> Result<f64> {
        if let Some(rate) = self.offered_rate {
            bail!(
                "the run was an open-loop run at a fixed rate (--rate {rate}): it measures \
                 the offered rate, not capacity; plan from a closed-loop run (no --rate), \
                 or pass --per-core-rate"
            );
        }
        let cores = self.cores.filter(|&cores| cores > 0).context(
            "server.cores is missing, null or 0 (the run did not identify a TimberDB \
             server), so the per-core rate is unknown; pass --per-core-rate",
        )?;
        let rate = self.lines_per_sec;
        ensure!(
            rate.is_finite() && rate > 0.0,
            "results.lines_per_sec is {rate}: the run acknowledged nothing"
        );
        Ok(rate / cores as f64)
    }
}

/// Reads `results.lines_per_sec`, `server.cores` and, when present and not
/// null, `results.compression_ratio` and `config.rate` from a loadgen result
/// JSON.
pub fn read_result(path: &Path) -> Result<MeasuredResult> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --from file {}", path.display()))?;
    parse_result(&text).with_context(|| format!("in --from file {}", path.display()))
}

/// The fields of a result file; their types are checked here, their values
/// where they are used.
pub fn parse_result(text: &str) -> Result<MeasuredResult> {
    let value: serde_json::Value =
        serde_json::from_str(text).context("not a loadgen result: invalid JSON")?;
    let lines_per_sec = value
        .pointer("/results/lines_per_sec")
        .and_then(serde_json::Value::as_f64)
        .context("results.lines_per_sec is missing or not a number")?;
    let cores = match value.pointer("/server/cores") {
        None | Some(serde_json::Value::Null) => None,
        Some(cores) => Some(
            cores
                .as_u64()
                .context("server.cores is not a whole number")?,
        ),
    };
    let compression_ratio = match value.pointer("/results/compression_ratio") {
        None | Some(serde_json::Value::Null) => None,
        Some(ratio) => Some(
            ratio
                .as_f64()
                .context("results.compression_ratio is not a number")?,
        ),
    };
    let offered_rate = match value.pointer("/config/rate") {
        None | Some(serde_json::Value::Null) => None,
        Some(rate) => Some(rate.as_f64().context("config.rate is not a number")?),
    };
    Ok(MeasuredResult {
        lines_per_sec,
        cores,
        compression_ratio,
        offered_rate,
    })
}

/// The input: flags first, then the `--from` file, then the measured defaults.
pub fn resolve(args: &PlanArgs) -> Result<PlanInput> {
    let mut input = PlanInput::with_defaults(args.lines_per_sec);
    input.line_bytes = args.line_bytes;
    input.retention_days = args.retention_days;
    input.headroom = args.headroom;
    input.replicas = args.replicas;
    input.connections = args.connections;
    input.partitions = args.partitions;
    input.batch_lines = args.batch_lines;
    if let Some(path) = &args.from {
        let measured = read_result(path)?;
        let name = path.display();
        if args.per_core_rate.is_none() {
            input.per_core_rate = measured
                .per_core_rate()
                .with_context(|| format!("in --from file {name}"))?;
            input.per_core_rate_source = format!(
                "{name}: results.lines_per_sec {} / server.cores {}",
                group(measured.lines_per_sec.round() as u64),
                measured.cores.unwrap_or_default()
            );
        }
        if let Some(ratio) = measured.compression_ratio {
            // Three decimals are more than a run measures, and keep the
            // plan's "raw / ratio" lines checkable with a calculator.
            input.compression_ratio = (ratio * 1000.0).round() / 1000.0;
            input.compression_ratio_source =
                format!("{name}: results.compression_ratio {ratio}, to 3 decimals");
        }
    }
    if let Some(rate) = args.per_core_rate {
        input.per_core_rate = rate;
        input.per_core_rate_source = "--per-core-rate".into();
    }
    if let Some(ratio) = args.compression_ratio {
        input.compression_ratio = ratio;
        input.compression_ratio_source = "--compression-ratio".into();
    }
    Ok(input)
}

pub(super) fn validate(input: &PlanInput) -> Result<()> {
    let rate = input.lines_per_sec;
    ensure!(
        rate.is_finite() && rate > 0.0,
        "--lines-per-sec must be a positive number of lines per second, not {rate}"
    );
    ensure!(
        (1..=MAX_REQUEST_SIZE_BYTES).contains(&input.line_bytes),
        "--line-bytes must be 1..={MAX_REQUEST_SIZE_BYTES} (api.max_request_size), not {}",
        input.line_bytes
    );
    ensure!(
        (1..=RETENTION_DAYS_MAX).contains(&input.retention_days),
        "--retention-days must be 1..={RETENTION_DAYS_MAX}, not {}",
        input.retention_days
    );
    let per_core = input.per_core_rate;
    ensure!(
        per_core.is_finite() && per_core > 0.0,
        "the per-core rate must be a positive number of lines per second, not {per_core} (from {})",
        input.per_core_rate_source
    );
    let ratio = input.compression_ratio;
    ensure!(
        ratio.is_finite() && ratio > 0.0,
        "the compression ratio (raw bytes / stored bytes) must be above 0, not {ratio} (from {})",
        input.compression_ratio_source
    );
    let headroom = input.headroom;
    ensure!(
        headroom.is_finite() && (0.0..=HEADROOM_MAX).contains(&headroom),
        "--headroom must be a fraction between 0 and {HEADROOM_MAX}, not {headroom}"
    );
    ensure!(input.replicas >= 1, "--replicas must be at least 1");
    ensure!(input.connections >= 1, "--connections must be at least 1");
    ensure!(
        (1..=PARTITIONS_MAX).contains(&input.partitions),
        "--partitions must be 1..={PARTITIONS_MAX} (TimberDB's partition limit), not {}",
        input.partitions
    );
    ensure!(
        (1..=BATCH_LINES_MAX).contains(&input.batch_lines),
        "--batch-lines must be 1..={BATCH_LINES_MAX} (entries per request), not {}",
        input.batch_lines
    );
    Ok(())
}
