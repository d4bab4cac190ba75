//! `loadgen query`: a mix of queries against TimberDB at a fixed rate or
//! flat out, with latency per kind of query.
//!
//! The kinds are the questions users ask of a log store: a rare word (the
//! generator's needle words, each in one line of its period), the latest
//! errors, one host's recent lines, the last minute, and a count over ten
//! minutes. Time windows are relative to now, so load the partition shortly
//! before (its lines are stamped with their send time).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};

use crate::cli::QueryArgs;
use crate::http::{Client, Target};
use crate::line::LogLine;
use crate::report::write_latency;
use crate::schedule::{drive, Connection, Pace, RealClock, Schedule, Stop, Timing};
use crate::stats::{new_histogram, Latencies, LatencySummary};
use crate::timberdb::{self, ServerInfo};
use crate::units::{si, thousands};
use crate::workload::{Generator, GeneratorConfig, NEEDLE_PERIOD};

/// The kinds of query `--mix` can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryKind {
    Needle,
    Level,
    Tag,
    Range,
    Count,
}

impl QueryKind {
    fn parse(name: &str) -> anyhow::Result<QueryKind> {
        Ok(match name.trim() {
            "needle" => QueryKind::Needle,
            "level" => QueryKind::Level,
            "tag" => QueryKind::Tag,
            "range" => QueryKind::Range,
            "count" => QueryKind::Count,
            other => {
                bail!("--mix: unknown query kind {other:?} (use needle, level, tag, range, count)")
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            QueryKind::Needle => "needle",
            QueryKind::Level => "level",
            QueryKind::Tag => "tag",
            QueryKind::Range => "range",
            QueryKind::Count => "count",
        }
    }
}

/// Results of one kind of query.
#[derive(Clone, Debug, Serialize)]
pub struct KindResults {
    pub kind: QueryKind,
    pub queries: u64,
    pub errors: u64,
    pub queries_per_sec: f64,
    pub mean_entries_returned: f64,
    pub mean_total_count: f64,
    pub latency: LatencySummary,
}

/// The `--json` document of `loadgen query`.
#[derive(Clone, Debug, Serialize)]
pub struct QueryReport {
    pub loadgen_version: &'static str,
    pub config: QueryArgs,
    pub server: ServerInfo,
    pub lines_in_partition: u64,
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
}

struct Shared {
    args: QueryArgs,
    mix: Vec<QueryKind>,
    generator: Generator,
    lines: u64,
    target: Target,
    schedule: Schedule,
    start: Instant,
    stats: Mutex<BTreeMap<QueryKind, KindStats>>,
    error_samples: Mutex<Vec<String>>,
    finished_ns: AtomicU64,
}

pub fn run_queries(args: &QueryArgs) -> anyhow::Result<QueryReport> {
    let mix = args
        .mix
        .iter()
        .map(|m| QueryKind::parse(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if mix.is_empty() {
        bail!("--mix names no query kind");
    }
    if args.connections == 0 || args.connections > 1024 {
        bail!("--connections {}: expected 1 to 1024", args.connections);
    }
    let target = Target::parse(&args.target)?;
    let mut admin = Client::new(target.clone(), args.timeout);
    let server = timberdb::server_info(&mut admin);
    let lines = match args.lines {
        Some(lines) => lines,
        None => timberdb::partition(&mut admin, &args.partition)?["entry_count"]
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
    let pace = match args.rate {
        Some(rate) => Pace::open(rate, 1),
        None => Pace::Closed,
    };
    let shared = Arc::new(Shared {
        args: args.clone(),
        mix,
        generator: Generator::new(GeneratorConfig {
            seed: args.seed,
            ..GeneratorConfig::default()
        }),
        lines,
        target,
        schedule: Schedule::new(
            pace,
            Stop {
                after: Some(args.duration),
                batches: None,
            },
        ),
        start: Instant::now(),
        stats: Mutex::new(BTreeMap::new()),
        error_samples: Mutex::new(Vec::new()),
        finished_ns: AtomicU64::new(0),
    });
    let workers: Vec<_> = (0..args.connections)
        .map(|connection| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || query_loop(&shared, connection))
        })
        .collect();
    let progress = (!args.quiet).then(|| spawn_progress(Arc::clone(&shared)));
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("a query thread panicked"))?;
    }
    if let Some(progress) = progress {
        let _ = progress.join();
    }
    Ok(report(&shared, server))
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
        body: Value::Null,
        kind: QueryKind::Count,
    };
    drive(&shared.schedule, &clock, &mut connection);
}

struct QueryConnection<'a> {
    shared: &'a Shared,
    client: Client,
    line: LogLine,
    body: Value,
    kind: QueryKind,
}

impl Connection for QueryConnection<'_> {
    type Result = anyhow::Result<Value>;

    fn prepare(&mut self, n: u64) {
        let shared = self.shared;
        self.kind = shared.mix[(n % shared.mix.len() as u64) as usize];
        self.body = query_body(shared, self.kind, n, &mut self.line);
    }

    fn send(&mut self, _n: u64) -> Self::Result {
        timberdb::query(&mut self.client, &self.body)
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

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64
}

/// A deterministic pseudo-random number for query `n` (which needle, which
/// host), so two runs ask the same questions.
fn pick(shared: &Shared, n: u64, bound: u64) -> u64 {
    let mut x = n
        .wrapping_add(shared.args.seed)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x ^ (x >> 32)) % bound.max(1)
}

fn query_body(shared: &Shared, kind: QueryKind, n: u64, line: &mut LogLine) -> Value {
    let partition = &shared.args.partition;
    let minutes_ago = |m: i64| now_ns() - m * 60_000_000_000;
    match kind {
        QueryKind::Needle => {
            let needles = (shared.lines / NEEDLE_PERIOD).max(1);
            let word = shared.generator.needle_word(pick(shared, n, needles));
            json!({ "partitions": [partition], "filter": { "message_contains": word }, "limit": 100 })
        }
        QueryKind::Level => {
            json!({ "partitions": [partition], "filter": { "level": "error" }, "limit": 100 })
        }
        QueryKind::Tag => {
            shared.generator.fill(pick(shared, n, shared.lines), line);
            let (key, value) = line
                .tags()
                .next()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .unwrap_or_default();
            json!({
                "partitions": [partition],
                "filter": { "tags": { key: value }, "time_range": { "start": minutes_ago(5) } },
                "limit": 100
            })
        }
        QueryKind::Range => json!({
            "partitions": [partition],
            "filter": { "time_range": { "start": minutes_ago(1) } },
            "limit": 100
        }),
        QueryKind::Count => json!({
            "partitions": [partition],
            "filter": { "time_range": { "start": minutes_ago(10) } },
            "limit": 0
        }),
    }
}

fn record(shared: &Shared, kind: QueryKind, latency: Duration, result: anyhow::Result<Value>) {
    let mut stats = shared.stats.lock().expect("stats lock");
    let entry = stats.entry(kind).or_default();
    let histogram = entry.histogram.get_or_insert_with(new_histogram);
    histogram.saturating_record((latency.as_micros() as u64).max(1));
    entry.queries += 1;
    match result {
        Ok(answer) => {
            entry.entries += answer["entries"].as_array().map_or(0, |e| e.len() as u64);
            entry.total_count += answer["total_count"].as_u64().unwrap_or(0);
        }
        Err(error) => {
            entry.errors += 1;
            let mut samples = shared.error_samples.lock().expect("sample lock");
            if samples.len() < 5 {
                samples.push(format!("{}: {error:#}", kind.name()));
            }
        }
    }
}

fn spawn_progress(shared: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut previous = 0;
        let mut second = 1;
        while shared.start.elapsed() < shared.args.duration {
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
                kind,
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
            }
        })
        .collect();
    QueryReport {
        loadgen_version: env!("CARGO_PKG_VERSION"),
        config: shared.args.clone(),
        server,
        lines_in_partition: shared.lines,
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
        }
        for sample in &self.error_samples {
            let _ = writeln!(out, "  e.g. {sample}");
        }
        out
    }

    pub fn errors(&self) -> u64 {
        self.kinds.iter().map(|k| k.errors).sum()
    }
}
