//! An ingest run: connection threads sending batches on a shared schedule,
//! a progress line every second, and the results.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

use crate::cli::{IngestArgs, Workload};
use crate::http::{Client, RequestError, Response, Target};
use crate::line::LogLine;
use crate::protocol::Protocol;
use crate::report::{IngestReport, IngestResults};
use crate::schedule::{drive, Connection, Pace, RealClock, Schedule, Stop, Timing};
use crate::stats::{LatencySummary, Outcome, Recorder};
use crate::timberdb::{self, ServerInfo};
use crate::workload::{AccessLog, Generator, GeneratorConfig, LineSource, Replay};

/// The default measured duration when neither --duration nor --lines is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Tag keys --verify adds to every line.
pub const RUN_TAG: &str = "lg_run";
pub const SEQ_TAG: &str = "lg_seq";

/// The batches of one run and what happened to them, for --verify.
pub struct Sent {
    pub batch: u64,
    /// Lines in the run (`None`: unbounded, the run ended by time).
    pub total_lines: Option<u64>,
    /// Batches handed out, whether answered or not.
    pub batches_sent: u64,
    /// Batches answered with success, sorted.
    pub acknowledged: Vec<u64>,
    /// The last acknowledged batch and when its answer arrived.
    pub last_ack: Option<(u64, Instant)>,
}

impl Sent {
    /// The line indices of batch `batch`.
    pub fn lines_of(&self, batch: u64) -> std::ops::Range<u64> {
        lines_of(batch, self.batch, self.total_lines)
    }
}

fn lines_of(batch: u64, batch_lines: u64, total: Option<u64>) -> std::ops::Range<u64> {
    let start = batch * batch_lines;
    let end = start + batch_lines;
    match total {
        Some(total) => start.min(total)..end.min(total),
        None => start..end,
    }
}

/// Everything the connection threads share.
struct Shared {
    args: IngestArgs,
    target: Target,
    source: LineSource,
    schedule: Schedule,
    recorder: Recorder,
    start: Instant,
    run_id: String,
    ingest_path: String,
    /// `--reuse-bodies`: (lines, body) of the first full batches.
    reused_bodies: Vec<(u64, Vec<u8>)>,
    /// Latest finish (ns from start) of a measured request.
    measured_end_ns: AtomicU64,
    acknowledged: Mutex<Vec<u64>>,
    last_ack: Mutex<Option<(u64, Instant)>>,
    batches_taken: AtomicU64,
    /// Queue delay of the open loop (due time to actual send), worst case.
    max_queued_ns: AtomicU64,
}

/// The outcome of [`run_ingest`].
pub struct IngestRun {
    pub report: IngestReport,
    pub sent: Sent,
    pub source: LineSource,
    pub run_id: String,
}

/// Builds the line source the options ask for.
pub fn line_source(args: &IngestArgs) -> anyhow::Result<LineSource> {
    match (&args.replay, args.workload) {
        (Some(path), _) => Ok(LineSource::Replay(Replay::from_file(path)?)),
        (None, Workload::AccessLog) => Ok(LineSource::AccessLog(AccessLog::new(args.seed))),
        (None, Workload::Generator) => Ok(LineSource::Generated(Generator::new(GeneratorConfig {
            seed: args.seed,
            line_bytes: args.line_bytes,
        }))),
    }
}

fn check_args(args: &IngestArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.connections > 4096 {
        bail!("--connections {}: expected 1 to 4096", args.connections);
    }
    if args.batch == 0 || args.batch > 1_000_000 {
        bail!("--batch {}: expected 1 to 1000000 lines", args.batch);
    }
    if !(16..=1 << 20).contains(&args.line_bytes) {
        bail!("--line-bytes {}: expected 16 to 1048576", args.line_bytes);
    }
    if args.lines == Some(0) {
        bail!("--lines 0: nothing to send");
    }
    if args.verify && args.reuse_bodies > 0 {
        bail!("--verify needs every line to be distinct: drop --reuse-bodies");
    }
    if args.verify && args.protocol != Protocol::Native {
        bail!(
            "--verify reads lines back through TimberDB's query API, so it needs --protocol native"
        );
    }
    Ok(())
}

/// Connects once to the target, whatever the protocol, so an unreachable
/// server stops the run before it starts (exit status 2) with the address
/// named. Inside the run a failed connect is only an error count: without
/// this, every protocol but native (whose partition creation fails first)
/// would spend the whole run failing and exit 1.
fn probe_target(args: &IngestArgs, target: &Target) -> anyhow::Result<()> {
    target.probe(args.timeout).with_context(|| {
        format!(
            "cannot connect to the server at {} ({}); nothing was sent",
            args.target, target.addr
        )
    })
}

fn random_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    format!("{:016x}", splitmix64(mixed))
}

/// SplitMix64's finaliser: spreads the bits of a clock reading.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Runs the load the options describe and returns its report (not yet
/// printed) and what was sent.
pub fn run_ingest(args: &IngestArgs) -> anyhow::Result<IngestRun> {
    check_args(args)?;
    let target = Target::parse_with_ca(&args.target, args.tls_ca_file.as_deref())?;
    let source = line_source(args)?;
    probe_target(args, &target)?;
    let mut admin = Client::new(target.clone(), args.timeout);
    let server = if args.protocol == Protocol::Native {
        let info = timberdb::server_info(&mut admin);
        timberdb::ensure_partition(&mut admin, &args.partition)?;
        info
    } else {
        ServerInfo::default()
    };
    let run_id = args.run_id.clone().unwrap_or_else(random_run_id);
    let reused_bodies = reusable_bodies(args, &source, &run_id);
    let shared = Arc::new(Shared {
        args: args.clone(),
        reused_bodies,
        ingest_path: args.protocol.ingest_path(&args.partition),
        schedule: Schedule::new(pace(args), stop(args)),
        recorder: Recorder::new(args.connections),
        start: Instant::now(),
        target,
        source,
        run_id,
        measured_end_ns: AtomicU64::new(0),
        acknowledged: Mutex::new(Vec::new()),
        last_ack: Mutex::new(None),
        batches_taken: AtomicU64::new(0),
        max_queued_ns: AtomicU64::new(0),
    });
    let done = Arc::new(AtomicBool::new(false));
    let progress = (!args.quiet).then(|| spawn_progress(Arc::clone(&shared), Arc::clone(&done)));
    let workers: Vec<_> = (0..args.connections)
        .map(|connection| {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("loadgen-{connection}"))
                .spawn(move || connection_loop(&shared, connection))
                .context("starting a connection thread")
        })
        .collect::<anyhow::Result<_>>()?;
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("a connection thread panicked"))?;
    }
    done.store(true, Ordering::Relaxed);
    if let Some(progress) = progress {
        let _ = progress.join();
    }
    let shared = Arc::into_inner(shared).context("connection threads still hold the run state")?;
    let run = finish(shared, server)?;
    let results = &run.report.results;
    let warmup_lines = results.total.lines_ok.saturating_sub(results.lines);
    if let Some(warning) = warmup_warning(args.lines, args.warmup, warmup_lines) {
        // On stderr whatever --quiet says: the results below leave these lines out.
        eprintln!("loadgen: warning: {warning}");
    }
    Ok(run)
}

/// With `--lines`, the warm-up spends lines of the fixed total that the
/// results then leave out; past half of them (1,000,000 lines at ~450k
/// lines/s lose 905k to the default 2 s warm-up) the results describe a
/// sliver of the run, so say so and how to measure every line.
/// `warmup_lines` are the lines acknowledged during the warm-up.
fn warmup_warning(lines: Option<u64>, warmup: Duration, warmup_lines: u64) -> Option<String> {
    let lines = lines?;
    if warmup_lines.saturating_mul(2) <= lines {
        return None;
    }
    Some(format!(
        "the {warmup:?} warm-up took {} of the {} --lines, which the results leave out; \
         add --warmup 0s to measure every line",
        crate::units::thousands(warmup_lines),
        crate::units::thousands(lines),
    ))
}

fn pace(args: &IngestArgs) -> Pace {
    match args.rate {
        Some(rate) => Pace::open(rate, args.batch),
        None => Pace::Closed,
    }
}

fn stop(args: &IngestArgs) -> Stop {
    let duration = match (args.duration, args.lines) {
        (Some(duration), _) => Some(duration),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_DURATION),
    };
    Stop {
        after: duration.map(|d| args.warmup + d),
        batches: args.lines.map(|lines| lines.div_ceil(args.batch)),
    }
}

/// One connection's state: its socket and the buffers of its next request.
struct IngestConnection<'a> {
    shared: &'a Shared,
    index: usize,
    client: Client,
    builder: BatchBuilder<'a>,
    /// Lines in the next request.
    count: u64,
    /// The next request's body, unless it is a reused one.
    body: Vec<u8>,
    /// The reused body the next request sends, if any.
    reused: Option<usize>,
}

impl Connection for IngestConnection<'_> {
    type Result = Result<Response, RequestError>;

    fn prepare(&mut self, batch: u64) {
        let shared = self.shared;
        shared.batches_taken.fetch_max(batch + 1, Ordering::Relaxed);
        let reused = &shared.reused_bodies;
        let full = lines_of(batch, shared.args.batch, shared.args.lines).count() as u64
            == shared.args.batch;
        if full && !reused.is_empty() {
            let slot = (batch % reused.len() as u64) as usize;
            self.reused = Some(slot);
            self.count = reused[slot].0;
        } else {
            self.reused = None;
            self.count = self.builder.encode(batch, &mut self.body);
        }
    }

    fn send(&mut self, _batch: u64) -> Self::Result {
        let content_type = self.shared.args.protocol.content_type();
        let body = body_to_send(self.shared, self.reused, &self.body);
        self.client
            .request("POST", &self.shared.ingest_path, Some(content_type), body)
    }

    fn record(&mut self, timing: Timing, result: Self::Result) -> bool {
        let bytes = body_to_send(self.shared, self.reused, &self.body).len() as u64;
        let lines = self.count;
        record(self.shared, self.index, timing, result, lines, bytes);
        true
    }
}

fn body_to_send<'b>(shared: &'b Shared, reused: Option<usize>, own: &'b [u8]) -> &'b [u8] {
    match reused {
        Some(slot) => &shared.reused_bodies[slot].1,
        None => own,
    }
}

/// One connection: build, send and record batches until the schedule ends.
fn connection_loop(shared: &Shared, index: usize) {
    if let Some(cpus) = &shared.args.cpus {
        cpus.pin_current_thread(index);
    }
    let args = &shared.args;
    let clock = RealClock::starting_at(shared.start);
    let mut connection = IngestConnection {
        shared,
        index,
        client: Client::new(shared.target.clone(), args.timeout),
        builder: BatchBuilder::new(args, &shared.source, &shared.run_id),
        count: 0,
        body: Vec::with_capacity(args.batch as usize * (args.line_bytes + 64)),
        reused: None,
    };
    drive(&shared.schedule, &clock, &mut connection);
}

/// Builds request bodies: the lines of a batch, stamped and tagged, encoded.
struct BatchBuilder<'a> {
    args: &'a IngestArgs,
    source: &'a LineSource,
    run_id: &'a str,
    lines: Vec<LogLine>,
}

impl<'a> BatchBuilder<'a> {
    fn new(args: &'a IngestArgs, source: &'a LineSource, run_id: &'a str) -> BatchBuilder<'a> {
        let lines = (0..args.batch).map(|_| LogLine::new()).collect();
        BatchBuilder {
            args,
            source,
            run_id,
            lines,
        }
    }

    /// Replaces `body` with the request of `batch`; returns its line count.
    fn encode(&mut self, batch: u64, body: &mut Vec<u8>) -> u64 {
        let count = self.fill(batch);
        body.clear();
        let lines = &self.lines[..count];
        self.args.protocol.encode(lines, &self.args.partition, body);
        count as u64
    }

    /// Fills the lines of `batch` and returns how many there are.
    fn fill(&mut self, batch: u64) -> usize {
        let range = lines_of(batch, self.args.batch, self.args.lines);
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i64;
        let mut seq_text = String::new();
        for (slot, index) in self.lines.iter_mut().zip(range.clone()) {
            self.source.fill(index, slot);
            // Distinct timestamps within a batch keep the order stable.
            slot.timestamp_ns = now_ns + (index - range.start) as i64;
            if self.args.verify {
                seq_text.clear();
                use std::fmt::Write;
                let _ = write!(seq_text, "{index}");
                slot.push_tag(RUN_TAG, self.run_id);
                slot.push_tag(SEQ_TAG, &seq_text);
            }
        }
        (range.end - range.start) as usize
    }
}

/// With `--reuse-bodies N`: the first N full batches, encoded once.
fn reusable_bodies(args: &IngestArgs, source: &LineSource, run_id: &str) -> Vec<(u64, Vec<u8>)> {
    let mut builder = BatchBuilder::new(args, source, run_id);
    (0..args.reuse_bodies)
        .map(|batch| {
            let mut body = Vec::new();
            let count = builder.encode(batch, &mut body);
            (count, body)
        })
        .filter(|(count, _)| *count == args.batch)
        .collect()
}

fn record(
    shared: &Shared,
    connection: usize,
    timing: Timing,
    result: Result<Response, RequestError>,
    lines: u64,
    bytes: u64,
) {
    let measured = timing.intended >= shared.args.warmup;
    if measured {
        let finished_ns = timing.finished.as_nanos() as u64;
        shared
            .measured_end_ns
            .fetch_max(finished_ns, Ordering::Relaxed);
        shared
            .max_queued_ns
            .fetch_max(timing.queued().as_nanos() as u64, Ordering::Relaxed);
    }
    let latency = timing.latency();
    match result {
        Ok(response) if response.is_success() => {
            shared
                .acknowledged
                .lock()
                .expect("ack lock")
                .push(timing.batch);
            let mut last = shared.last_ack.lock().expect("ack lock");
            if last.is_none_or(|(batch, _)| batch < timing.batch) {
                *last = Some((timing.batch, Instant::now()));
            }
            drop(last);
            let outcome = Outcome::Success {
                status: response.status,
                lines,
                bytes,
            };
            shared
                .recorder
                .record(connection, measured, latency, outcome);
        }
        Ok(response) => {
            let text = response.text();
            let message = error_message(&text);
            let outcome = Outcome::Status {
                status: response.status,
                message: &message,
            };
            shared
                .recorder
                .record(connection, measured, latency, outcome);
        }
        Err(error) => {
            let message = error.to_string();
            let outcome = Outcome::Failed {
                kind: error.kind(),
                message: &message,
            };
            shared
                .recorder
                .record(connection, measured, latency, outcome);
        }
    }
}

/// The useful part of an error body: TimberDB's `error.message` when there
/// is one, else the first 200 characters.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    if let Some(message) = parsed.as_ref().and_then(|v| v["error"]["message"].as_str()) {
        return message.to_string();
    }
    body.chars().take(200).collect()
}

fn spawn_progress(shared: Arc<Shared>, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut previous = shared.recorder.total.snapshot();
        let mut next = Duration::from_secs(1);
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            let elapsed = shared.start.elapsed();
            if elapsed < next {
                continue;
            }
            let now = shared.recorder.total.snapshot();
            let p99 = LatencySummary::of(&shared.recorder.merged_latencies()).p99_ms;
            let phase = if elapsed <= shared.args.warmup {
                " (warm-up)"
            } else {
                ""
            };
            eprintln!(
                "{:>5.0}s  {:>9} lines/s  {:>8.1} MB/s  p99 {:>8.2} ms  errors {}{}",
                elapsed.as_secs_f64(),
                crate::units::si((now.lines_ok - previous.lines_ok) as f64),
                (now.bytes_ok - previous.bytes_ok) as f64 / 1e6,
                p99,
                now.requests_failed,
                phase,
            );
            previous = now;
            next += Duration::from_secs(1);
        }
    })
}

fn finish(shared: Shared, server: ServerInfo) -> anyhow::Result<IngestRun> {
    let args = &shared.args;
    let measured = shared.recorder.measured.snapshot();
    let measured_end = Duration::from_nanos(shared.measured_end_ns.load(Ordering::Relaxed));
    let seconds = measured_end.saturating_sub(args.warmup).as_secs_f64();
    let per_second = |n: u64| {
        if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        }
    };
    let lines_per_sec = per_second(measured.lines_ok);
    let results = IngestResults {
        measured_seconds: seconds,
        lines: measured.lines_ok,
        bytes: measured.bytes_ok,
        requests_ok: measured.requests_ok,
        requests_failed: measured.requests_failed,
        lines_per_sec,
        mb_per_sec: per_second(measured.bytes_ok) / 1e6,
        requests_per_sec: per_second(measured.requests_ok),
        lines_per_sec_per_server_core: server
            .cores
            .filter(|&c| c > 0)
            .map(|c| lines_per_sec / c as f64),
        average_line_bytes: if measured.lines_ok > 0 {
            measured.bytes_ok as f64 / measured.lines_ok as f64
        } else {
            0.0
        },
        latency: LatencySummary::of(&shared.recorder.merged_latencies()),
        max_queued_ms: match shared.schedule.pace() {
            Pace::Open { .. } => Some(shared.max_queued_ns.load(Ordering::Relaxed) as f64 / 1e6),
            Pace::Closed => None,
        },
        statuses: shared.recorder.statuses(),
        errors: shared.recorder.errors(),
        error_samples: shared.recorder.error_samples(),
        total: shared.recorder.total.snapshot(),
        compression_ratio: None,
        stored_bytes: None,
    };
    let mut acknowledged = shared.acknowledged.into_inner().expect("ack lock");
    acknowledged.sort_unstable();
    let sent = Sent {
        batch: args.batch,
        total_lines: args.lines,
        batches_sent: shared.batches_taken.load(Ordering::Relaxed),
        acknowledged,
        last_ack: shared.last_ack.into_inner().expect("ack lock"),
    };
    let report = IngestReport::new(args.clone(), shared.run_id.clone(), server, results);
    Ok(IngestRun {
        report,
        sent,
        source: shared.source,
        run_id: shared.run_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn batches_cover_the_lines_exactly() {
        assert_eq!(lines_of(0, 1000, Some(2500)), 0..1000);
        assert_eq!(lines_of(2, 1000, Some(2500)), 2000..2500);
        assert_eq!(lines_of(3, 1000, Some(2500)), 2500..2500);
        assert_eq!(lines_of(7, 10, None), 70..80);
    }

    #[test]
    fn an_unreachable_server_stops_every_protocol_before_the_run() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local address");
        // Nothing listens on the port once the listener is closed.
        drop(listener);
        let url = format!("http://{addr}");
        for protocol in [
            "native",
            "es-bulk",
            "loki",
            "otlp",
            "otlp-proto",
            "jsonline",
        ] {
            let argv = [
                "loadgen",
                "--target",
                &url,
                "--protocol",
                protocol,
                "--duration",
                "1s",
                "--warmup",
                "0s",
                "--quiet",
            ];
            let cli = crate::cli::Cli::try_parse_from(argv).expect("valid arguments");
            let Err(error) = run_ingest(&cli.ingest) else {
                panic!("{protocol}: the run started against {url}");
            };
            let message = format!("{error:#}");
            assert!(
                message.contains(&format!("cannot connect to the server at {url}")),
                "{protocol}: {message}"
            );
        }
    }

    #[test]
    fn a_warmup_that_took_most_of_the_lines_is_warned_about() {
        let warmup = Duration::from_secs(2);
        // LOADGEN.md's old example: 905k of 1M lines went to the warm-up.
        let warning = warmup_warning(Some(1_000_000), warmup, 905_000).expect("warned");
        assert!(
            warning.contains("the 2s warm-up took 905,000 of the 1,000,000 --lines"),
            "{warning}"
        );
        assert!(warning.contains("--warmup 0s"), "{warning}");
        assert_eq!(
            warmup_warning(Some(1_000_000), warmup, 500_000),
            None,
            "half"
        );
        assert!(warmup_warning(Some(1_000_000), warmup, 500_001).is_some());
        assert!(
            warmup_warning(Some(10), warmup, 10).is_some(),
            "all of them"
        );
        assert_eq!(warmup_warning(Some(1_000_000), Duration::ZERO, 0), None);
        assert_eq!(warmup_warning(None, warmup, 5_000_000), None, "by time");
    }

    #[test]
    fn error_messages_prefer_timberdbs_message() {
        let body = r#"{"error":{"code":"overloaded","message":"the WAL queue is full"}}"#;
        assert_eq!(error_message(body), "the WAL queue is full");
        assert_eq!(error_message("plain text"), "plain text");
    }
}
