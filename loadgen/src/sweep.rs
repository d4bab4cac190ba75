//! `loadgen sweep`: capacity planning by measurement. For each combination
//! of shards, batch size, sync mode and codec it starts a fresh TimberDB
//! (pinned with `taskset`), loads it with `loadgen`'s closed loop, stops it
//! gracefully (which seals every block, trims the preallocated tails and
//! removes the WAL), measures the disk its data directory takes as `du`
//! does, and writes a CSV, a Markdown table and an SVG chart of throughput
//! and p99 against the settings.
//!
//! The stored size is what the filesystem allocated (`st_blocks`), not what
//! the manifest log says the blocks take: it is what an operator provisions,
//! and it holds everything format 3 keeps besides the blocks' own bytes (the
//! granule filters and directories are inside the blocks; the manifest log
//! keeps a copy of every directory; each block is padded to 4 KiB).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;

use crate::cli::IngestArgs;
use crate::protocol::Protocol;
use crate::run::run_ingest;
use crate::units::{parse_cpu_list, parse_duration, si, CpuList};

#[derive(Args, Debug, Clone, Serialize)]
pub struct SweepArgs {
    /// The timberdb binary to start. Default: `timberdb` beside this
    /// loadgen binary (both are built into the same target directory).
    #[arg(long, value_name = "PATH")]
    pub server_bin: Option<PathBuf>,

    /// Directory for the results: results.csv, results.md, chart.svg and one
    /// JSON report per configuration. Created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Where each configuration's data directory is created (and removed
    /// afterwards). Put it on the disk you mean to measure, not tmpfs.
    #[arg(long, default_value = "/tmp", value_name = "DIR")]
    pub data_root: PathBuf,

    /// Shard counts to try.
    #[arg(long, value_delimiter = ',', default_value = "1", value_name = "LIST")]
    pub shards: Vec<u32>,

    /// Lines per request to try.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,1000,10000",
        value_name = "LIST"
    )]
    pub batch: Vec<u64>,

    /// sync_writes values to try: true (acknowledge after fdatasync) and/or
    /// false (acknowledge after the write, sync every --fsync-interval).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "true",
        value_name = "LIST"
    )]
    pub sync: Vec<bool>,

    /// Codecs of the string columns to try (TimberDB's storage.compression
    /// values). The default is the server's default, zstd (level 1).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "zstd",
        value_name = "LIST"
    )]
    pub codec: Vec<String>,

    /// fsync_interval in milliseconds for the sync=false runs.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub fsync_interval: u64,

    /// Connections of each load run.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub connections: usize,

    /// Measured duration of each load run (after its warm-up).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub duration: String,

    /// Warm-up of each load run.
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    pub warmup: String,

    /// Average generated line size in bytes.
    #[arg(long, default_value_t = 240, value_name = "BYTES")]
    pub line_bytes: usize,

    /// Seed of the generated lines.
    #[arg(long, default_value_t = 42, value_name = "N")]
    pub seed: u64,

    /// CPUs the server is pinned to (taskset -c syntax); its shards take
    /// cores from this set.
    #[arg(long, default_value = "0", value_name = "LIST")]
    pub server_cpus: String,

    /// Requests encoded once and sent in turn (loadgen --reuse-bodies),
    /// which takes line generation off the client's core. Raised for small
    /// batches so the reused bodies always hold at least 65,536 distinct
    /// lines, about twice what a sealed block holds (~35,000 lines of 240
    /// bytes): fewer, and blocks would compress repeated lines and overstate
    /// the compression ratio. 0: every request is new.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub reuse_bodies: u64,

    /// CPUs loadgen's connection threads are pinned to.
    #[arg(long, default_value = "1", value_name = "LIST")]
    pub client_cpus: String,

    /// Keep each configuration's data directory (under --data-root) after
    /// its run instead of removing it, to inspect it (`du`, `timberdb
    /// check`). The next sweep with the same process id and configuration
    /// would remove it; copy it elsewhere to keep it.
    #[arg(long)]
    pub keep_data: bool,
}

/// One configuration of the sweep and what it measured.
#[derive(Clone, Debug, Serialize)]
pub struct SweepRow {
    pub shards: u32,
    pub batch: u64,
    pub sync_writes: bool,
    pub codec: String,
    pub lines_per_sec: f64,
    pub lines_per_sec_per_core: f64,
    pub mb_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: u64,
    /// Request bytes sent (warm-up included) per byte of disk the data
    /// directory took after the graceful stop ([`stored_bytes`]).
    pub compression_ratio: Option<f64>,
}

impl SweepRow {
    fn label(&self) -> String {
        let sync = if self.sync_writes { "sync" } else { "interval" };
        format!("{}sh b{} {} {}", self.shards, self.batch, sync, self.codec)
    }
}

pub fn run(args: &SweepArgs) -> anyhow::Result<Vec<SweepRow>> {
    let server_bin = server_binary(args)?;
    parse_cpu_list(&args.server_cpus)?;
    let client_cpus = parse_cpu_list(&args.client_cpus)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut rows = Vec::new();
    for &shards in &args.shards {
        for &batch in &args.batch {
            for &sync_writes in &args.sync {
                for codec in &args.codec {
                    let config = Config {
                        shards,
                        batch,
                        sync_writes,
                        codec: codec.clone(),
                    };
                    eprintln!("sweep: {}", config.describe());
                    let row = run_one(args, &server_bin, &client_cpus, &config)?;
                    eprintln!(
                        "sweep:   {} lines/s, p99 {:.2} ms, ratio {}",
                        si(row.lines_per_sec),
                        row.p99_ms,
                        row.compression_ratio
                            .map_or("-".into(), |r| format!("{r:.2}"))
                    );
                    rows.push(row);
                    write_outputs(&args.out, &rows)?;
                }
            }
        }
    }
    eprintln!("sweep: results in {}", args.out.display());
    Ok(rows)
}

fn server_binary(args: &SweepArgs) -> anyhow::Result<PathBuf> {
    let path = match &args.server_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("timberdb"),
    };
    if !path.is_file() {
        bail!(
            "server binary {} not found: build it (cargo build --release) or pass --server-bin",
            path.display()
        );
    }
    Ok(path)
}

struct Config {
    shards: u32,
    batch: u64,
    sync_writes: bool,
    codec: String,
}

impl Config {
    fn describe(&self) -> String {
        format!(
            "shards={} batch={} sync_writes={} compression={}",
            self.shards, self.batch, self.sync_writes, self.codec
        )
    }

    fn file_stem(&self) -> String {
        format!(
            "shards{}-batch{}-sync{}-{}",
            self.shards, self.batch, self.sync_writes, self.codec
        )
    }
}

/// A server started for one configuration; killed if dropped while running,
/// its data directory removed unless `keep_data`.
struct Server {
    child: Child,
    addr: String,
    data_dir: PathBuf,
    keep_data: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

fn start_server(
    args: &SweepArgs,
    bin: &Path,
    config: &Config,
    data_dir: PathBuf,
) -> anyhow::Result<Server> {
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut command = Command::new("taskset");
    command
        .args(["-c", &args.server_cpus])
        .arg(bin)
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--shards",
            &config.shards.to_string(),
        ])
        .env("TIMBERDB_SYNC_WRITES", config.sync_writes.to_string())
        .env("TIMBERDB_FSYNC_INTERVAL", args.fsync_interval.to_string())
        .env("TIMBERDB_COMPRESSION", &config.codec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting taskset -c {} {}", args.server_cpus, bin.display()))?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut server = Server {
        child,
        addr: String::new(),
        data_dir,
        keep_data: args.keep_data,
    };
    server.addr = listening_address(stdout)
        .with_context(|| format!("the server did not start with {}", config.describe()))?;
    Ok(server)
}

/// Reads the server's stdout up to `timberdb listening on http://ADDR ...`.
fn listening_address(stdout: std::process::ChildStdout) -> anyhow::Result<String> {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next().transpose()? {
        if let Some(rest) = line.strip_prefix("timberdb listening on ") {
            let url = rest.split_whitespace().next().unwrap_or("");
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return Ok(url.to_string());
        }
    }
    bail!("its output ended before it said it was listening")
}

fn stop_server(server: &mut Server) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()?;
    if !status.success() {
        bail!("kill -TERM {} failed", server.child.id());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            bail!("the server did not stop within 120 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn run_one(
    args: &SweepArgs,
    bin: &Path,
    client_cpus: &[usize],
    config: &Config,
) -> anyhow::Result<SweepRow> {
    let data_dir = args.data_root.join(format!(
        "loadgen-sweep-{}-{}",
        std::process::id(),
        config.file_stem()
    ));
    let mut server = start_server(args, bin, config, data_dir)?;
    let ingest = IngestArgs {
        target: server.addr.clone(),
        tls_ca_file: None,
        protocol: Protocol::Native,
        partition: "sweep".into(),
        duration: Some(parse_duration(&args.duration)?),
        lines: None,
        warmup: parse_duration(&args.warmup)?,
        connections: args.connections,
        batch: config.batch,
        rate: None,
        line_bytes: args.line_bytes,
        seed: args.seed,
        workload: crate::cli::Workload::Generator,
        replay: None,
        cpus: Some(CpuList(client_cpus.to_vec())),
        json: None,
        verify: false,
        run_id: None,
        timeout: Duration::from_secs(60),
        reuse_bodies: reused_batches(args.reuse_bodies, config.batch),
        quiet: true,
    };
    let mut run = run_ingest(&ingest)?;
    stop_server(&mut server)?;
    let stored = stored_bytes(&server.data_dir)?;
    if args.keep_data {
        eprintln!(
            "sweep:   data kept in {} ({stored} bytes allocated, WAL excluded)",
            server.data_dir.display()
        );
    }
    let results = &mut run.report.results;
    results.stored_bytes = Some(stored);
    results.compression_ratio = (stored > 0).then(|| results.total.bytes_ok as f64 / stored as f64);
    run.report
        .write_json(&args.out.join(format!("{}.json", config.file_stem())))?;
    let r = &run.report.results;
    Ok(SweepRow {
        shards: config.shards,
        batch: config.batch,
        sync_writes: config.sync_writes,
        codec: config.codec.clone(),
        lines_per_sec: r.lines_per_sec,
        lines_per_sec_per_core: r.lines_per_sec / f64::from(config.shards.max(1)),
        mb_per_sec: r.mb_per_sec,
        p50_ms: r.latency.p50_ms,
        p99_ms: r.latency.p99_ms,
        p999_ms: r.latency.p999_ms,
        errors: r.requests_failed,
        compression_ratio: r.compression_ratio,
    })
}

/// Fewest distinct lines the reused bodies of a sweep run hold. A sealed
/// block (8 MiB of entries by default) holds about 35,000 lines of 240 bytes;
/// if the bodies sent in turn held fewer lines than that, a block would hold
/// the same lines several times and compress them far better than real logs
/// (zstd measured 7.9 instead of 4.2 at batch 100 with 64 bodies of 100
/// lines). Twice a block's lines keeps every block free of repeats. Memory:
/// about 16 MB of encoded bodies at 240 bytes a line. Lines under 128 bytes
/// fit more than 65,536 in a block; pass a larger --reuse-bodies (or 0) then.
pub const REUSED_LINES_MIN: u64 = 65_536;

/// The `--reuse-bodies` a run of `batch`-line requests gets: the sweep's
/// option, raised so the bodies hold at least [`REUSED_LINES_MIN`] lines. 0
/// (every request new) stays 0: every line is then distinct anyway.
pub fn reused_batches(reuse_bodies: u64, batch: u64) -> u64 {
    if reuse_bodies == 0 {
        return 0;
    }
    // A batch of 0 is refused by the run itself; max(1) only keeps the
    // division defined until then.
    reuse_bodies.max(REUSED_LINES_MIN.div_ceil(batch.max(1)))
}

/// Disk a stopped server's data directory takes: the bytes the filesystem
/// allocated to every file and directory under it (`st_blocks` x 512, what
/// `du --block-size=1 -s` prints), except the WAL directory `<data_dir>/wal`.
/// After a graceful stop that holds the segment files (trimmed to their last
/// block, removed blocks' space punched out), the manifest logs (trimmed),
/// `layout.json` and `catalog.json`. The WAL is left out because `loadgen
/// plan` counts it separately (its `wal_max_size` bound) and a graceful stop
/// deletes its files anyway, leaving only its empty directories.
pub fn stored_bytes(data_dir: &Path) -> anyhow::Result<u64> {
    allocated_bytes(data_dir, &data_dir.join("wal"))
}

/// Allocated bytes of `dir` and everything under it, as `du` counts them,
/// without descending into `skip` (nor counting it) and without following
/// symbolic links. A file with several hard links is counted at each.
pub fn allocated_bytes(dir: &Path, skip: &Path) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::symlink_metadata(dir)
        .with_context(|| format!("reading the metadata of {}", dir.display()))?;
    let mut total = metadata.blocks() * 512;
    if !metadata.is_dir() {
        return Ok(total);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path != skip {
            total += allocated_bytes(&path, skip)?;
        }
    }
    Ok(total)
}

fn write_outputs(dir: &Path, rows: &[SweepRow]) -> anyhow::Result<()> {
    std::fs::write(dir.join("results.csv"), csv(rows))?;
    std::fs::write(dir.join("results.md"), markdown(rows))?;
    std::fs::write(dir.join("chart.svg"), svg(rows))?;
    Ok(())
}

fn ratio_text(ratio: Option<f64>) -> String {
    ratio.map_or(String::new(), |r| format!("{r:.2}"))
}

pub fn csv(rows: &[SweepRow]) -> String {
    let mut out = String::from(
        "shards,batch,sync_writes,codec,lines_per_sec,lines_per_sec_per_core,mb_per_sec,p50_ms,p99_ms,p999_ms,errors,compression_ratio\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{:.0},{:.0},{:.2},{:.3},{:.3},{:.3},{},{}",
            r.shards,
            r.batch,
            r.sync_writes,
            r.codec,
            r.lines_per_sec,
            r.lines_per_sec_per_core,
            r.mb_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.errors,
            ratio_text(r.compression_ratio)
        );
    }
    out
}

pub fn markdown(rows: &[SweepRow]) -> String {
    let mut out = String::from(
        "| shards | batch | sync_writes | codec | lines/s | lines/s per core | MB/s | p50 ms | p99 ms | p99.9 ms | errors | ratio |\n\
         |---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {} |",
            r.shards,
            r.batch,
            r.sync_writes,
            r.codec,
            si(r.lines_per_sec),
            si(r.lines_per_sec_per_core),
            r.mb_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.errors,
            ratio_text(r.compression_ratio)
        );
    }
    out
}

/// Two bar charts, one above the other: lines/s and p99 per configuration.
pub fn svg(rows: &[SweepRow]) -> String {
    const BAR: f64 = 56.0;
    const LEFT: f64 = 90.0;
    const PANEL: f64 = 200.0;
    // Room on the right and below for the last configuration's slanted label.
    let width = LEFT + BAR * rows.len().max(1) as f64 + 140.0;
    let height = 2.0 * PANEL + 230.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let throughput: Vec<f64> = rows.iter().map(|r| r.lines_per_sec).collect();
    let p99: Vec<f64> = rows.iter().map(|r| r.p99_ms).collect();
    bar_panel(&mut out, "lines/s", &throughput, 40.0, "#3b7dd8", si);
    bar_panel(
        &mut out,
        "p99 latency (ms)",
        &p99,
        100.0 + PANEL,
        "#d8633b",
        |v| format!("{v:.1}"),
    );
    let labels_y = 2.0 * PANEL + 115.0;
    for (i, row) in rows.iter().enumerate() {
        let x = LEFT + BAR * i as f64 + BAR / 2.0;
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{labels_y:.1}" transform="rotate(60 {x:.1} {labels_y:.1})">{}</text>"#,
            row.label()
        );
    }
    out.push_str("</svg>\n");
    return out;

    fn bar_panel(
        out: &mut String,
        title: &str,
        values: &[f64],
        top: f64,
        color: &str,
        fmt: impl Fn(f64) -> String,
    ) {
        let max = values
            .iter()
            .cloned()
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE);
        let base = top + PANEL;
        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.1}" font-weight="bold">{title}</text>"#,
            top - 22.0
        );
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="black"/>"#,
            LEFT + BAR * values.len() as f64
        );
        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.1}">{}</text>"#,
            top + 10.0,
            fmt(max)
        );
        let _ = writeln!(out, r#"<text x="10" y="{base:.1}">0</text>"#);
        for (i, &value) in values.iter().enumerate() {
            let h = PANEL * value / max;
            let x = LEFT + BAR * i as f64 + 6.0;
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{color}"/>"#,
                base - h,
                BAR - 12.0
            );
            let _ = writeln!(
                out,
                r#"<text x="{x:.1}" y="{:.1}">{}</text>"#,
                base - h - 3.0,
                fmt(value)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(batch: u64, lines_per_sec: f64, p99_ms: f64) -> SweepRow {
        SweepRow {
            shards: 1,
            batch,
            sync_writes: true,
            codec: "zstd".into(),
            lines_per_sec,
            lines_per_sec_per_core: lines_per_sec,
            mb_per_sec: lines_per_sec * 240.0 / 1e6,
            p50_ms: p99_ms / 3.0,
            p99_ms,
            p999_ms: p99_ms * 1.5,
            errors: 0,
            // 480,825,710 B sent / 67,219,760 B stored (docs/BENCHMARKS.md).
            compression_ratio: Some(7.153),
        }
    }

    #[test]
    fn reused_bodies_hold_more_lines_than_a_block() {
        // Batch 100: 64 bodies would be 6,400 lines, under one block's ~35,000.
        assert_eq!(reused_batches(64, 100), 656);
        assert_eq!(reused_batches(64, 1000), 66);
        assert_eq!(reused_batches(64, 10_000), 64, "already 640,000 lines");
        assert_eq!(reused_batches(1000, 100), 1000, "a larger option stays");
        assert_eq!(reused_batches(0, 100), 0, "no reuse stays no reuse");
        for batch in [1, 7, 100, 999, 1000, 4096, 65_535, 65_536, 1_000_000] {
            let lines = reused_batches(64, batch) * batch;
            assert!(lines >= REUSED_LINES_MIN, "batch {batch}: {lines} lines");
        }
    }

    /// A data directory as a graceful stop leaves it, with a WAL file that
    /// must not count; compared with `du` itself.
    #[test]
    fn stored_bytes_are_what_du_counts_without_the_wal() {
        let root = std::env::temp_dir().join(format!("loadgen-sweep-du-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let shard = root.join("shard-0");
        let wal = root.join("wal").join("shard-0");
        std::fs::create_dir_all(&shard).expect("temp dir is writable");
        std::fs::create_dir_all(&wal).expect("temp dir is writable");
        // Non-zero bytes, so no filesystem stores them sparsely.
        let block: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8 + 1).collect();
        std::fs::write(shard.join("seg-000001.tdb"), &block).expect("write");
        std::fs::write(
            shard.join("manifest-00000000000000000002.log"),
            &block[..5000],
        )
        .expect("write");
        std::fs::write(root.join("layout.json"), b"{}").expect("write");
        std::fs::write(wal.join("00000000000000000001.wal"), &block).expect("write");

        let stored = stored_bytes(&root).expect("readable");
        let everything = allocated_bytes(&root, Path::new("")).expect("readable");
        let (du_all, du_wal) = (du_bytes(&root), du_bytes(&root.join("wal")));
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            stored,
            du_all - du_wal,
            "du of the directory minus du of its WAL"
        );
        assert_eq!(everything, du_all, "nothing skipped: du itself");
        assert!(stored >= 1_005_000, "both shard files count: {stored}");
        assert!(du_wal >= 1_000_000, "the WAL file is left out: {du_wal}");
    }

    /// `du -s --block-size=1 PATH`.
    fn du_bytes(path: &Path) -> u64 {
        let output = Command::new("du")
            .args(["-s", "--block-size=1"])
            .arg(path)
            .output()
            .expect("du runs");
        let text = String::from_utf8(output.stdout).expect("du prints UTF-8");
        let bytes = text.split_whitespace().next().expect("du prints a size");
        bytes.parse().expect("du prints a number")
    }

    #[test]
    fn outputs_have_one_row_per_configuration() {
        let rows = vec![row(100, 300_000.0, 3.0), row(1000, 600_000.0, 12.0)];
        let csv = csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            "1,100,true,zstd,300000,300000,72.00,1.000,3.000,4.500,0,7.15"
        );
        let md = markdown(&rows);
        assert_eq!(md.lines().count(), 4);
        assert!(md.contains(
            "| 1 | 1000 | true | zstd | 600.0k | 600.0k | 144.0 | 4.00 | 12.00 | 18.00 | 0 | 7.15 |"
        ));
        let svg = svg(&rows);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches("<rect x=").count(),
            4,
            "two bars per configuration"
        );
        assert!(svg.contains("1sh b1000 sync zstd"));
    }
}
