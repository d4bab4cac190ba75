//! The command line. `loadgen [OPTIONS]` sends log lines; the subcommands
//! query, plan capacity and sweep configurations.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::plan::PlanArgs;
use crate::protocol::Protocol;
use crate::query::body::CustomBody;
use crate::query::time_base::TimeBase;
use crate::sweep::SweepArgs;
use crate::units::{parse_cpu_list, parse_duration, CpuList};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about = "Load generator and capacity planner for TimberDB (and the log stores it is compared with)",
    long_about = "Sends seeded, realistic log lines (or the lines of a file) to a log store over \
keep-alive HTTP/1.1 connections, in a closed loop (as fast as the server answers) or an open loop \
(a fixed rate, latency measured from each batch's due time so stalls are not hidden), and reports \
lines/s, MB/s and latency percentiles. With --verify it reads the lines back from TimberDB and \
checks every one.\n\nExamples:\n  loadgen --target http://127.0.0.1:7777 --duration 30s --connections 8 --batch 1000\n  \
loadgen --rate 200000 --duration 1m --json run.json\n  loadgen --lines 1000000 --warmup 0s --verify\n  \
loadgen --protocol es-bulk --target http://127.0.0.1:9200\n  loadgen query --rate 50 --duration 30s\n  \
loadgen plan --lines-per-sec 2000000 --retention-days 14\n  loadgen sweep --server-bin target/release/timberdb --out sweep/",
    args_conflicts_with_subcommands = true,
    // A later `--option` replaces an earlier one, so scripts can append
    // overrides to a base command line.
    args_override_self = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub ingest: IngestArgs,
}

/// Which kind of generated lines to send (`--workload`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Varied production logs of many services (`workload::Generator`).
    Generator,
    /// A web tier's request log (`workload::AccessLog`).
    AccessLog,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a mix of queries against TimberDB and report their latency.
    Query(QueryArgs),
    /// Turn measured rates into the cores, disk and memory a node needs.
    Plan(PlanArgs),
    /// Start the server once per configuration, load it, and tabulate and
    /// chart throughput and p99 against the settings.
    Sweep(SweepArgs),
}

fn duration_arg(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

fn cpus_arg(text: &str) -> Result<CpuList, String> {
    parse_cpu_list(text).map(CpuList).map_err(|e| e.to_string())
}

fn body_arg(text: &str) -> Result<CustomBody, String> {
    CustomBody::parse(text).map_err(|e| format!("{e:#}"))
}

fn time_base_arg(text: &str) -> Result<TimeBase, String> {
    TimeBase::parse(text).map_err(|e| e.to_string())
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

/// Options of an ingest run (`loadgen` without a subcommand).
#[derive(Args, Debug, Clone, Serialize)]
pub struct IngestArgs {
    /// Base URL of the server. Protocol paths are appended to it
    /// (native: /api/v1/partitions/NAME/logs, es-bulk: /_bulk,
    /// loki: /loki/api/v1/push, otlp and otlp-proto: /v1/logs, jsonline: /insert/jsonline).
    #[arg(long, default_value = "http://127.0.0.1:7777", value_name = "URL")]
    pub target: String,

    /// For an https:// target: PEM file with the CA certificate(s) the
    /// server's certificate must chain to (its name is checked against the
    /// target's host).
    #[arg(long, value_name = "PATH")]
    pub tls_ca_file: Option<std::path::PathBuf>,

    /// Wire protocol: TimberDB's native NDJSON, Elasticsearch _bulk, Loki
    /// push (JSON), OTLP/HTTP logs (JSON or protobuf), or VictoriaLogs JSON lines.
    #[arg(long, value_enum, default_value = "native")]
    pub protocol: Protocol,

    /// Partition (TimberDB), index (Elasticsearch) or stream name the lines
    /// go to. With the native protocol it is created if missing.
    #[arg(long, default_value = "loadgen", value_name = "NAME")]
    pub partition: String,

    /// How long to send, after the warm-up (units: ns, us, ms, s, m, h).
    /// Default 10s unless --lines is given, in which case the run ends when
    /// all lines are sent.
    #[arg(long, value_parser = duration_arg, value_name = "DURATION")]
    #[serde(serialize_with = "crate::report::ser_opt_duration")]
    pub duration: Option<Duration>,

    /// Total lines to send (warm-up included); the run ends when all are
    /// answered. With --duration too, whichever comes first ends it. Add
    /// --warmup 0s to measure every line: a warm-up that took more than
    /// half of them is warned about.
    #[arg(long, value_name = "N")]
    pub lines: Option<u64>,

    /// Time at the start whose requests are sent but left out of the
    /// results (the server's caches, the client's connections and the
    /// kernel's buffers warm up meanwhile). 0s to measure from the start.
    #[arg(long, value_parser = duration_arg, default_value = "2s", value_name = "DURATION")]
    #[serde(serialize_with = "crate::report::ser_duration")]
    pub warmup: Duration,

    /// Concurrent keep-alive connections, one client thread each; also the
    /// most requests in flight.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub connections: usize,

    /// Log lines per request.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch: u64,

    /// Open loop: offer this many lines per second in total, one batch due
    /// every batch/rate seconds, latency measured from the due time.
    /// Absent: closed loop, as fast as the server answers.
    #[arg(long, value_parser = positive_rate, value_name = "LINES_PER_SEC")]
    pub rate: Option<f64>,

    /// Average size of a generated line in bytes, as native NDJSON
    /// (timestamp, level, source, message, tags and fields).
    #[arg(long, default_value_t = 240, value_name = "BYTES")]
    pub line_bytes: usize,

    /// Seed of the generated lines: the same seed gives the same lines.
    #[arg(long, default_value_t = 42, value_name = "N")]
    pub seed: u64,

    /// Which generated lines to send: `generator` (varied production logs,
    /// sized by --line-bytes) or `access-log` (a web tier's request log of
    /// about 240 bytes a line as native NDJSON, with a rare word on 17 lines
    /// in 2 million; --line-bytes does not apply). See docs/LOADGEN.md.
    #[arg(long, value_enum, default_value = "generator")]
    pub workload: Workload,

    /// Send the lines of this file instead of generated ones, cycling
    /// through it: NDJSON objects (message/msg, level, source, tags, other
    /// keys as fields) or plain text lines.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,

    /// CPUs the client threads are pinned to, round-robin (taskset -c
    /// syntax: 1 or 2-3,6). Keep them off the server's cores. Default: not
    /// pinned.
    #[arg(long, value_parser = cpus_arg, value_name = "LIST")]
    pub cpus: Option<CpuList>,

    /// Also write the results, with the full configuration and the server's
    /// version, as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// After the run, read every line back from TimberDB (native protocol
    /// only) and report lines missing, duplicated or altered, and how long
    /// the last acknowledged line took to become queryable. Adds two tags to
    /// each line (lg_run, lg_seq; about 45 bytes).
    #[arg(long)]
    pub verify: bool,

    /// A name for this run, put in the lg_run tag with --verify. Default: a
    /// random hex string.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// Give up on a request after this long (it counts as a timeout error;
    /// the connection is reopened).
    #[arg(long, value_parser = duration_arg, default_value = "30s", value_name = "DURATION")]
    #[serde(serialize_with = "crate::report::ser_duration")]
    pub timeout: Duration,

    /// Encode the first N requests once, before the run, and send them in
    /// turn instead of building every request: takes the client's cost of
    /// generating and encoding lines (about 0.5 µs per 240-byte line) out of
    /// the run, so one client core can saturate a fast server. Lines then
    /// repeat every N requests and keep the timestamps of their encoding.
    /// Not with --verify. 0: every request is new.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub reuse_bodies: u64,

    /// No progress line every second.
    #[arg(long)]
    pub quiet: bool,
}

/// Options of `loadgen query`.
#[derive(Args, Debug, Clone, Serialize)]
pub struct QueryArgs {
    /// Base URL of the TimberDB server.
    #[arg(long, default_value = "http://127.0.0.1:7777", value_name = "URL")]
    pub target: String,

    /// Partition to query; load it first with `loadgen` and the same
    /// --seed, so the needle words exist.
    #[arg(long, default_value = "loadgen", value_name = "NAME")]
    pub partition: String,

    /// Query kinds to run, round-robin: needle (full-text search for a
    /// word in one line of 100 000, limit 100), level (errors, limit 100),
    /// tag (one host's lines in the --window, limit 100), range (all lines
    /// in the --window, limit 100), count (lines per level over the whole
    /// partition: SELECT level, count(*) GROUP BY level), regex (message
    /// MATCHES 'conn(ection)? (reset|refused)', limit 100), and the NAMEs
    /// of --body options. Default: needle,level,tag,range,count,regex, or
    /// the --body kinds in the order given when there are any.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub mix: Option<Vec<String>>,

    /// A query kind of your own, repeatable: NAME (letters, digits, - and
    /// _) is its name in --mix and the report, JSON the request body (an
    /// object), sent as is, e.g. rare={"q":"zebracorn","limit":100}.
    /// "partitions": [--partition] is added unless the body has a
    /// partitions key or a q with the word FROM.
    #[arg(long = "body", value_parser = body_arg, value_name = "NAME=JSON")]
    pub bodies: Vec<CustomBody>,

    /// How long to run (units: ns, us, ms, s, m, h).
    #[arg(long, value_parser = duration_arg, default_value = "10s", value_name = "DURATION")]
    #[serde(serialize_with = "crate::report::ser_duration")]
    pub duration: Duration,

    /// Stop after this many queries in total (or at --duration, whichever
    /// comes first). Default: run for --duration.
    #[arg(long, value_name = "N")]
    pub queries: Option<u64>,

    /// Length of the tag and range queries' time window, which ends at the
    /// --time-base.
    #[arg(long, value_parser = duration_arg, default_value = "1m", value_name = "DURATION")]
    #[serde(serialize_with = "crate::report::ser_duration")]
    pub window: Duration,

    /// Where time windows end: now (the clock at each query; load just
    /// before, since lines carry their send time), data (the partition's
    /// newest line, found with one query before the run: for a corpus
    /// loaded earlier), or a time as unix seconds or RFC 3339.
    #[arg(long, value_parser = time_base_arg, default_value = "now", value_name = "BASE")]
    pub time_base: TimeBase,

    /// Open loop: queries per second in total, latency measured from each
    /// query's due time. Absent: closed loop.
    #[arg(long, value_parser = positive_rate, value_name = "QUERIES_PER_SEC")]
    pub rate: Option<f64>,

    /// Concurrent connections.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub connections: usize,

    /// Seed the partition was loaded with (for the needle words).
    #[arg(long, default_value_t = 42, value_name = "N")]
    pub seed: u64,

    /// Lines loaded into the partition by that seed (needle words are
    /// chosen among those lines). Default: the partition's entry count.
    #[arg(long, value_name = "N")]
    pub lines: Option<u64>,

    /// CPUs the client threads are pinned to (taskset -c syntax).
    #[arg(long, value_parser = cpus_arg, value_name = "LIST")]
    pub cpus: Option<CpuList>,

    /// Write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Give up on a query after this long.
    #[arg(long, value_parser = duration_arg, default_value = "30s", value_name = "DURATION")]
    #[serde(serialize_with = "crate::report::ser_duration")]
    pub timeout: Duration,

    /// No progress line every second.
    #[arg(long)]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_and_subcommands() {
        let cli = Cli::try_parse_from(["loadgen"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.ingest.batch, 1000);
        assert_eq!(cli.ingest.connections, 8);
        assert_eq!(cli.ingest.duration, None);
        assert_eq!(cli.ingest.warmup, Duration::from_secs(2));
        let cli = Cli::try_parse_from([
            "loadgen",
            "--rate",
            "5000",
            "--duration",
            "1m",
            "--cpus",
            "1-2",
        ])
        .unwrap();
        assert_eq!(cli.ingest.rate, Some(5000.0));
        assert_eq!(cli.ingest.duration, Some(Duration::from_secs(60)));
        assert_eq!(cli.ingest.cpus, Some(CpuList(vec![1, 2])));
        assert!(Cli::try_parse_from(["loadgen", "--rate", "0"]).is_err());
        let cli = Cli::try_parse_from(["loadgen", "query", "--mix", "needle,level"]).unwrap();
        match cli.command {
            Some(Command::Query(q)) => {
                assert_eq!(q.mix, Some(vec!["needle".into(), "level".into()]));
                assert!(q.bodies.is_empty());
                assert_eq!(q.time_base, TimeBase::Now);
                assert_eq!(q.window, Duration::from_secs(60));
                assert_eq!(q.queries, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn query_windows_and_stop() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["loadgen", "query"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).map(|cli| cli.command) {
                Ok(Some(Command::Query(q))) => Ok(q),
                Ok(other) => panic!("{other:?}"),
                Err(error) => Err(error),
            }
        };
        let q = parse(&["--time-base", "data", "--window", "5s", "--queries", "200"]).unwrap();
        assert_eq!(q.time_base, TimeBase::Data);
        assert_eq!(q.window, Duration::from_secs(5));
        assert_eq!(q.queries, Some(200));
        let q = parse(&["--time-base", "2023-11-14T22:13:20Z"]).unwrap();
        assert_eq!(q.time_base, TimeBase::At(1_700_000_000_000_000_000));
        assert!(parse(&["--time-base", "soon"]).is_err());
        assert!(parse(&["--window", "fast"]).is_err());
    }

    #[test]
    fn bodies_repeat_and_are_checked_as_they_are_parsed() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["loadgen", "query"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).map(|cli| cli.command) {
                Ok(Some(Command::Query(q))) => Ok(q),
                Ok(other) => panic!("{other:?}"),
                Err(error) => Err(error),
            }
        };
        let q = parse(&["--body", r#"rare={"q":"zebracorn"}"#, "--body", "b={}"]).unwrap();
        let names: Vec<&str> = q.bodies.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["rare", "b"]);
        assert_eq!(q.mix, None);
        let error = parse(&["--body", r#"needle={"q":"x"}"#]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("built-in query kind"), "{error}");
        let error = parse(&["--body", "rare=[]"]).unwrap_err().to_string();
        assert!(error.contains("is an array, not an object"), "{error}");
    }
}
