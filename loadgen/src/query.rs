//! `loadgen query`: a mix of queries against TimberDB at a fixed rate or
//! flat out, with latency per kind of query.
//!
//! The built-in kinds (see [`kind`]) are the questions users ask of a log
//! store: a rare word, the latest errors, one host's lines in a time
//! window, a time window, a count by level and a regular expression.
//! `--body` adds kinds whose request the user writes (see [`body`]), for
//! corpora and queries the built-in kinds do not fit; [`mix`] runs both.
//! Time windows end at now or, with `--time-base data`, at the partition's
//! newest line (see [`time_base`]), so a corpus loaded once can be queried
//! any time later.
//! Besides latency, each kind reports the means of the server's `stats`
//! (see [`server_stats`]): the fractions of blocks and of granules not
//! read and the entries scanned are what tell an index's effect from a
//! faster scan.

pub mod body;
pub mod kind;
pub mod mix;
pub mod server_stats;
pub mod time_base;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;

use crate::cli::QueryArgs;
use crate::http::{Client, Target};
use crate::line::LogLine;
use crate::report::write_latency;
use crate::schedule::{drive, Connection, Pace, RealClock, Schedule, Stop, Timing};
use crate::stats::{new_histogram, Latencies, LatencySummary};
use crate::timberdb::{self, ServerInfo};
use crate::units::{si, thousands};
use crate::workload::{Generator, GeneratorConfig};
use kind::{QueryKind, Questions};
use mix::{KindName, Mix, MixKind, Request};
use server_stats::{StatsSummary, StatsSums};

/// Results of one kind of query.
#[derive(Clone, Debug, Serialize)]
pub struct KindResults {
    /// A built-in kind's name or a `--body` NAME.
    pub kind: KindName,
    pub queries: u64,
    pub errors: u64,
    pub queries_per_sec: f64,
    pub mean_entries_returned: f64,
    pub mean_total_count: f64,
    pub latency: LatencySummary,
    /// Means of the answers' `stats`: blocks skipped, entries scanned and
    /// every other numeric key the server reports.
    pub server_stats: StatsSummary,
}

/// The `--json` document of `loadgen query`.
#[derive(Clone, Debug, Serialize)]
pub struct QueryReport {
    pub loadgen_version: &'static str,
    /// The options, with `mix` the kinds that ran (also when `--mix` was
    /// not given).
    pub config: QueryArgs,
    pub server: ServerInfo,
    pub lines_in_partition: u64,
    /// Sealed blocks in the partition before the run, as the server counts
    /// them (a skipped fraction means more over many blocks).
    pub blocks_in_partition: Option<u64>,
    /// Where the time windows ended, in ns since the epoch; `None`: at
    /// each query's send time (`--time-base now`).
    pub time_base_ns: Option<i64>,
    pub measured_seconds: f64,
    pub kinds: Vec<KindResults>,
    pub error_samples: Vec<String>,
}

#[derive(Default)]
struct KindStats {
    histogram: Option<Latencies>,
    queries: u64,
    errors: u64,
    entries: u64,
    total_count: u64,
    server: StatsSums,
}

struct Shared {
    args: QueryArgs,
    mix: Mix,
    questions: Questions,
    blocks: Option<u64>,
    target: Target,
    schedule: Schedule,
    start: Instant,
    stats: Mutex<BTreeMap<MixKind, KindStats>>,
    error_samples: Mutex<Vec<String>>,
    finished_ns: AtomicU64,
    /// Cleared when the last query thread ends, which stops the progress
    /// line before `--duration` when `--queries` ends the run.
    running: AtomicBool,
}

pub fn run_queries(args: &QueryArgs) -> anyhow::Result<QueryReport> {
    let mix = Mix::new(args.mix.as_deref(), &args.bodies, &args.partition)?;
    if args.connections == 0 || args.connections > 1024 {
        bail!("--connections {}: expected 1 to 1024", args.connections);
    }
    let target = Target::parse(&args.target)?;
    let mut admin = Client::new(target.clone(), args.timeout);
    let server = timberdb::server_info(&mut admin);
    let (lines, blocks) = partition_size(&mut admin, args)?;
    let base_ns = args.time_base.resolve(&mut admin, &args.partition)?;
    let pace = match args.rate {
        Some(rate) => Pace::open(rate, 1),
        None => Pace::Closed,
    };
    let shared = Arc::new(Shared {
        args: args.clone(),
        mix,
        questions: Questions {
            partition: args.partition.clone(),
            generator: Generator::new(GeneratorConfig {
                seed: args.seed,
                ..GeneratorConfig::default()
            }),
            lines,
            seed: args.seed,
            window: args.window,
            base_ns,
        },
        blocks,
        target,
        schedule: Schedule::new(
            pace,
            Stop {
                after: Some(args.duration),
                batches: args.queries,
            },
        ),
        start: Instant::now(),
        stats: Mutex::new(BTreeMap::new()),
        error_samples: Mutex::new(Vec::new()),
        finished_ns: AtomicU64::new(0),
        running: AtomicBool::new(true),
    });
    run_threads(&shared)?;
    Ok(report(&shared, server))
}

/// Lines (from `--lines` or the partition's entry count) and sealed
/// blocks of the partition; an empty partition is an error, since every
/// query would find nothing.
fn partition_size(admin: &mut Client, args: &QueryArgs) -> anyhow::Result<(u64, Option<u64>)> {
    let partition = timberdb::partition(admin, &args.partition)?;
    let blocks = partition["blocks"].as_u64();
    let lines = match args.lines {
        Some(lines) => lines,
        None => partition["entry_count"]
            .as_u64()
            .context("partition without entry_count")?,
    };
    if lines == 0 {
        bail!(
            "partition {:?} is empty: load it first with `loadgen --partition {}`",
            args.partition,
            args.partition
        );
    }
    Ok((lines, blocks))
}

fn run_threads(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let workers: Vec<_> = (0..shared.args.connections)
        .map(|connection| {
            let shared = Arc::clone(shared);
            std::thread::spawn(move || query_loop(&shared, connection))
        })
        .collect();
    let progress = (!shared.args.quiet).then(|| spawn_progress(Arc::clone(shared)));
    let mut panicked = false;
    for worker in workers {
        panicked |= worker.join().is_err();
    }
    shared.running.store(false, Ordering::Relaxed);
    if let Some(progress) = progress {
        let _ = progress.join();
    }
    if panicked {
        bail!("a query thread panicked");
    }
    Ok(())
}

fn query_loop(shared: &Shared, connection: usize) {
    if let Some(cpus) = &shared.args.cpus {
        cpus.pin_current_thread(connection);
    }
    let clock = RealClock::starting_at(shared.start);
    let mut connection = QueryConnection {
        shared,
        client: Client::new(shared.target.clone(), shared.args.timeout),
        line: LogLine::new(),
        request: Request::Made(Value::Null),
        kind: MixKind::Builtin(QueryKind::Count),
    };
    drive(&shared.schedule, &clock, &mut connection);
}

struct QueryConnection<'a> {
    shared: &'a Shared,
    client: Client,
    line: LogLine,
    request: Request<'a>,
    kind: MixKind,
}

impl Connection for QueryConnection<'_> {
    type Result = anyhow::Result<Value>;

    fn prepare(&mut self, n: u64) {
        let shared = self.shared;
        self.kind = shared.mix.kind(n);
        self.request = shared
            .mix
            .request(self.kind, n, &shared.questions, &mut self.line);
    }

    fn send(&mut self, _n: u64) -> Self::Result {
        match &self.request {
            Request::Made(body) => timberdb::query(&mut self.client, body),
            Request::Given(bytes) => timberdb::query_bytes(&mut self.client, bytes),
        }
    }

    fn record(&mut self, timing: Timing, result: Self::Result) -> bool {
        let finished_ns = timing.finished.as_nanos() as u64;
        self.shared
            .finished_ns
            .fetch_max(finished_ns, Ordering::Relaxed);
        record(self.shared, self.kind, timing.latency(), result);
        true
    }
}

fn record(shared: &Shared, kind: MixKind, latency: Duration, result: anyhow::Result<Value>) {
    let mut stats = shared.stats.lock().expect("stats lock");
    let entry = stats.entry(kind).or_default();
    let histogram = entry.histogram.get_or_insert_with(new_histogram);
    histogram.saturating_record((latency.as_micros() as u64).max(1));
    entry.queries += 1;
    match result {
        Ok(answer) => {
            entry.entries += answer["entries"].as_array().map_or(0, |e| e.len() as u64);
            entry.total_count += answer["total_count"].as_u64().unwrap_or(0);
            entry.server.add(&answer["stats"]);
        }
        Err(error) => {
            entry.errors += 1;
            let mut samples = shared.error_samples.lock().expect("sample lock");
            if samples.len() < 5 {
                samples.push(format!("{}: {error:#}", shared.mix.name(kind)));
            }
        }
    }
}

fn spawn_progress(shared: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut previous = 0;
        let mut second = 1;
        while shared.running.load(Ordering::Relaxed)
            && shared.start.elapsed() < shared.args.duration
        {
            std::thread::sleep(Duration::from_secs(second).saturating_sub(shared.start.elapsed()));
            let stats = shared.stats.lock().expect("stats lock");
            let queries: u64 = stats.values().map(|s| s.queries).sum();
            let errors: u64 = stats.values().map(|s| s.errors).sum();
            let mut merged = new_histogram();
            for s in stats.values() {
                if let Some(h) = &s.histogram {
                    let _ = merged.add(h);
                }
            }
            drop(stats);
            eprintln!(
                "{second:>5}s  {:>8} queries/s  p99 {:>8.2} ms  errors {errors}",
                si((queries - previous) as f64),
                LatencySummary::of(&merged).p99_ms
            );
            previous = queries;
            second += 1;
        }
    })
}

fn report(shared: &Shared, server: ServerInfo) -> QueryReport {
    let seconds = Duration::from_nanos(shared.finished_ns.load(Ordering::Relaxed)).as_secs_f64();
    let stats = shared.stats.lock().expect("stats lock");
    let kinds = stats
        .iter()
        .map(|(&kind, s)| {
            let answered = (s.queries - s.errors).max(1) as f64;
            KindResults {
                kind: shared.mix.kind_name(kind),
                queries: s.queries,
                errors: s.errors,
                queries_per_sec: if seconds > 0.0 {
                    s.queries as f64 / seconds
                } else {
                    0.0
                },
                mean_entries_returned: s.entries as f64 / answered,
                mean_total_count: s.total_count as f64 / answered,
                latency: s
                    .histogram
                    .as_ref()
                    .map(LatencySummary::of)
                    .unwrap_or_default(),
                server_stats: s.server.summary(),
            }
        })
        .collect();
    let mut config = shared.args.clone();
    config.mix = Some(shared.mix.names());
    QueryReport {
        loadgen_version: env!("CARGO_PKG_VERSION"),
        config,
        server,
        lines_in_partition: shared.questions.lines,
        blocks_in_partition: shared.blocks,
        time_base_ns: shared.questions.base_ns,
        measured_seconds: seconds,
        kinds,
        error_samples: shared.error_samples.lock().expect("sample lock").clone(),
    }
}

impl QueryReport {
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Queries against {:?} ({} lines) for {:.2} s",
            self.config.partition,
            thousands(self.lines_in_partition),
            self.measured_seconds
        );
        for k in &self.kinds {
            let title = format!(
                "{:<7} {} queries, {:.1}/s, {} errors, {:.1} entries and {:.0} matches on average",
                k.kind.name(),
                thousands(k.queries),
                k.queries_per_sec,
                k.errors,
                k.mean_entries_returned,
                k.mean_total_count
            );
            write_latency(&mut out, &title, &k.latency);
            write_server_stats(&mut out, &k.server_stats);
        }
        if !self.kinds.is_empty() {
            self.write_table(&mut out);
        }
        for sample in &self.error_samples {
            let _ = writeln!(out, "  e.g. {sample}");
        }
        out
    }

    /// One Markdown row per kind: the numbers docs/BENCHMARKS.md records.
    fn write_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n| kind | queries | p50 ms | p99 ms | blocks not read | granules not read | entries scanned / query | matches / query |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for k in &self.kinds {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {} | {} | {} | {:.0} |",
                k.kind.name(),
                thousands(k.queries),
                k.latency.p50_ms,
                k.latency.p99_ms,
                percent(k.server_stats.mean_blocks_skipped_fraction),
                percent(k.server_stats.mean_granules_skipped_fraction),
                k.server_stats
                    .mean_entries_scanned
                    .map_or("–".to_string(), |e| thousands(e.round() as u64)),
                k.mean_total_count
            );
        }
    }

    pub fn errors(&self) -> u64 {
        self.kinds.iter().map(|k| k.errors).sum()
    }
}

/// The server's side of a kind: blocks and granules not read, and the
/// mean of every numeric `stats` key.
fn write_server_stats(out: &mut String, stats: &StatsSummary) {
    if stats.answers == 0 {
        return;
    }
    let means: Vec<String> = stats
        .mean
        .iter()
        .map(|(key, mean)| format!("{key} {mean:.1}"))
        .collect();
    let _ = writeln!(
        out,
        "  blocks not read {}, granules not read {} (means per query: pruned or counted unread); per query: {}",
        percent(stats.mean_blocks_skipped_fraction),
        percent(stats.mean_granules_skipped_fraction),
        means.join(", ")
    );
}

/// `12.34%`, or `–` when there is no fraction (no block, or no granule,
/// looked at).
fn percent(fraction: Option<f64>) -> String {
    fraction.map_or("–".to_string(), |f| format!("{:.2}%", f * 100.0))
}
