//! `loadgen` against the real server: every acknowledged line is read back
//! unchanged (closed and open loop, across block seals), verification
//! notices lines that are gone, and each protocol's encoder produces what
//! TimberDB's native endpoint takes.

mod common;

use clap::Parser;
use common::Server;
use loadgen::cli::{Cli, IngestArgs};
use loadgen::http::{Client, Target};
use loadgen::line::LogLine;
use loadgen::protocol::Protocol;
use loadgen::workload::{Generator, GeneratorConfig};
use std::time::Duration;

fn server() -> Server {
    // Small blocks, so a run spans many sealed blocks and the active one.
    Server::builder()
        .env("TIMBERDB_BLOCK_ROTATION", "count:3000")
        .start()
}

fn args_for(server: &Server, extra: &[&str]) -> IngestArgs {
    let target = format!("http://{}", server.addr);
    let mut argv = vec!["loadgen", "--target", &target, "--quiet", "--warmup", "0s"];
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).expect("valid arguments").ingest
}

#[test]
fn closed_loop_run_verifies_every_line() {
    let server = server();
    let args = args_for(
        &server,
        &[
            "--lines",
            "25000",
            "--batch",
            "700",
            "--connections",
            "4",
            "--verify",
            "--partition",
            "closed",
        ],
    );
    let report = loadgen::ingest(&args).expect("run");
    let verify = report.verify.as_ref().expect("verified");
    assert!(verify.passed(), "{}", report.text());
    assert_eq!(verify.acknowledged_lines, 25_000, "{}", report.text());
    assert_eq!(verify.found_entries, 25_000);
    assert_eq!(verify.missing, 0);
    // TimberDB acknowledges only visible entries: the first query finds it.
    assert!(verify.last_line_found_by_query_started_ms.is_some());
    assert_eq!(verify.visibility_polls_missed, 0);
    assert_eq!(report.results.total.lines_ok, 25_000);
    assert_eq!(report.results.requests_failed, 0);
    assert_eq!(
        report.results.statuses.get(&200),
        Some(&36),
        "25000 lines in batches of 700"
    );
    assert!(report.server.cores.is_some_and(|cores| cores >= 1));
    assert!(report.results.lines_per_sec > 0.0);
    let stored = server.get("/api/v1/partitions/closed").json();
    assert_eq!(stored["entry_count"], 25_000);
    assert!(stored["blocks"].as_u64().unwrap() >= 4, "{stored}");
}

#[test]
fn open_loop_run_with_json_report_verifies() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("run.json");
    let json_arg = json_path.to_str().unwrap();
    let argv = [
        "--rate",
        "20000",
        "--duration",
        "1500ms",
        "--warmup",
        "500ms",
        "--batch",
        "200",
        "--connections",
        "2",
        "--verify",
        "--partition",
        "open",
        "--json",
        json_arg,
    ];
    let report = loadgen::ingest(&args_for(&server, &argv)).expect("run");
    assert!(report.passed(), "{}", report.text());
    let verify = report.verify.as_ref().unwrap();
    // Due every 10 ms for 2 s: 200 batches, all answered.
    assert_eq!(verify.acknowledged_lines, 40_000, "{}", report.text());
    assert_eq!(verify.found_entries, 40_000);
    assert!(report.results.max_queued_ms.is_some());
    // The measured part leaves out the 500 ms of warm-up.
    assert_eq!(report.results.lines, 30_000, "{}", report.text());
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(written["config"]["rate"], 20000.0);
    assert_eq!(written["config"]["protocol"], "native");
    assert_eq!(written["server"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(written["results"]["lines"], 30_000);
    assert_eq!(written["verify"]["missing"], 0);
    assert!(written["results"]["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
}

/// Lines `indices` of a verified run as `loadgen --verify` tags them, with
/// `alter` applied to each.
fn run_lines(
    generator: &Generator,
    run_id: &str,
    indices: std::ops::Range<u64>,
    alter: impl Fn(&mut LogLine),
) -> Vec<u8> {
    let mut lines = Vec::new();
    for index in indices {
        let mut line = LogLine::new();
        generator.fill(index, &mut line);
        line.timestamp_ns = 1_700_000_000_000_000_000 + index as i64;
        line.push_tag(loadgen::run::RUN_TAG, run_id);
        line.push_tag(loadgen::run::SEQ_TAG, &index.to_string());
        alter(&mut line);
        lines.push(line);
    }
    let mut body = Vec::new();
    Protocol::Native.encode(&lines, "doomed", &mut body);
    body
}

#[test]
fn verification_reports_missing_duplicated_and_altered_lines() {
    let server = server();
    let args = args_for(
        &server,
        &[
            "--lines",
            "3000",
            "--batch",
            "500",
            "--verify",
            "--partition",
            "doomed",
        ],
    );
    let run = loadgen::run::run_ingest(&args).expect("run");
    let mut client = Client::new(
        Target::parse(&args.target).unwrap(),
        Duration::from_secs(10),
    );
    let intact =
        loadgen::verify::verify(&mut client, "doomed", &run.run_id, &run.source, &run.sent)
            .unwrap();
    assert!(intact.passed(), "{}", intact.text());

    // Replace the partition by one holding the last batch twice and an
    // altered copy of line 0: 2499 lines are missing.
    let deleted = server.request("DELETE", "/api/v1/partitions/doomed", None, b"");
    assert_eq!(deleted.status, 200);
    server.create_partition("doomed");
    let generator = Generator::new(GeneratorConfig {
        seed: 42,
        line_bytes: 240,
    });
    let last_batch = run_lines(&generator, &run.run_id, 2500..3000, |_| {});
    for _ in 0..2 {
        assert_eq!(server.post_ndjson("doomed", &last_batch).status, 200);
    }
    let altered = run_lines(&generator, &run.run_id, 0..1, |line| line.message.push('!'));
    assert_eq!(server.post_ndjson("doomed", &altered).status, 200);

    let damaged =
        loadgen::verify::verify(&mut client, "doomed", &run.run_id, &run.source, &run.sent)
            .unwrap();
    assert!(!damaged.passed());
    assert_eq!(damaged.acknowledged_lines, 3000);
    assert_eq!(damaged.found_entries, 1001);
    assert_eq!(damaged.missing, 2499, "{}", damaged.text());
    assert_eq!(damaged.duplicated, 500);
    assert_eq!(damaged.altered, 1);
    assert!(damaged.text().contains("FAILED"));
    assert!(
        damaged
            .samples
            .iter()
            .any(|s| s.contains("line 0 altered: message")),
        "{:?}",
        damaged.samples
    );
}

#[test]
fn native_encoding_of_generated_lines_is_accepted_verbatim() {
    let server = server();
    server.create_partition("enc");
    let generator = Generator::new(GeneratorConfig {
        seed: 7,
        line_bytes: 400,
    });
    let mut lines: Vec<LogLine> = (0..500).map(|_| LogLine::new()).collect();
    for (i, line) in lines.iter_mut().enumerate() {
        generator.fill(i as u64, line);
        line.timestamp_ns = 1_700_000_000_000_000_000 + i as i64;
    }
    let mut body = Vec::new();
    Protocol::Native.encode(&lines, "enc", &mut body);
    let response = server.post_ndjson("enc", &body);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["accepted"], 500);
}

#[test]
fn reused_bodies_are_sent_in_turn_and_counted() {
    let server = server();
    let args = args_for(
        &server,
        &[
            "--lines",
            "5000",
            "--batch",
            "500",
            "--reuse-bodies",
            "4",
            "--partition",
            "reuse",
        ],
    );
    let report = loadgen::ingest(&args).expect("run");
    assert_eq!(report.results.total.lines_ok, 5000, "{}", report.text());
    let stored = server.get("/api/v1/partitions/reuse").json();
    assert_eq!(stored["entry_count"], 5000);
    let verify_refused = loadgen::ingest(&args_for(
        &server,
        &["--lines", "10", "--reuse-bodies", "2", "--verify"],
    ));
    let message = format!("{:#}", verify_refused.expect_err("refused"));
    assert!(message.contains("--reuse-bodies"), "{message}");
}

fn query_report(server: &Server, extra: &[&str]) -> loadgen::query::QueryReport {
    let target = format!("http://{}", server.addr);
    let mut argv = vec![
        "loadgen",
        "query",
        "--target",
        &target,
        "--partition",
        "q",
        "--quiet",
    ];
    argv.extend_from_slice(extra);
    let Some(loadgen::cli::Command::Query(query_args)) =
        Cli::try_parse_from(argv).expect("valid").command
    else {
        panic!("not a query command");
    };
    loadgen::query::run_queries(&query_args).expect("queries")
}

fn kind<'a>(
    report: &'a loadgen::query::QueryReport,
    name: &str,
) -> &'a loadgen::query::KindResults {
    report
        .kinds
        .iter()
        .find(|k| k.kind.name() == name)
        .unwrap_or_else(|| panic!("no {name} results: {}", report.text()))
}

#[test]
fn query_mode_runs_every_kind_of_query_against_loaded_data() {
    let mut server = server();
    let load = args_for(
        &server,
        &["--lines", "20000", "--batch", "1000", "--partition", "q"],
    );
    loadgen::ingest(&load).expect("load");
    // A graceful restart seals the active block, so every line is in a
    // sealed block, as in the query benchmark.
    assert!(server.terminate().success());
    server.start_again();
    let report = query_report(&server, &["--duration", "10s", "--queries", "60"]);
    assert_eq!(report.lines_in_partition, 20_000);
    assert!(
        report.blocks_in_partition.unwrap() >= 6,
        "{}",
        report.text()
    );
    assert_eq!(report.errors(), 0, "{}", report.text());
    let kinds: Vec<&str> = report.kinds.iter().map(|k| k.kind.name()).collect();
    assert_eq!(
        kinds,
        ["needle", "level", "tag", "range", "count", "regex"],
        "{}",
        report.text()
    );
    for k in &report.kinds {
        assert_eq!(k.queries, 10, "{}", report.text());
        assert!(k.latency.count == k.queries);
        // Every answer's stats are summed; the fraction skipped is a
        // fraction. A count reads no block (each is counted from its
        // header); every other kind reads some.
        let stats = &k.server_stats;
        assert_eq!(stats.answers, k.queries, "{}", report.text());
        let read_entries = stats.mean_entries_scanned.unwrap() > 0.0;
        let counted_unread = stats.mean["blocks_counted_unread"] > 0.0;
        if k.kind.name() == "count" {
            assert!(counted_unread && !read_entries, "{}", report.text());
        } else {
            assert!(read_entries, "{}", report.text());
        }
        let skipped = stats.mean_blocks_skipped_fraction.unwrap();
        assert!((0.0..=1.0).contains(&skipped), "{}", report.text());
        assert!(
            stats.mean.contains_key("blocks_scanned"),
            "{:?}",
            stats.mean
        );
        assert!(
            stats.mean.contains_key("blocks_skipped"),
            "{:?}",
            stats.mean
        );
    }
    // The needle word of line 0 is in exactly that line; the count groups
    // all lines; the regex finds the generator's connection errors.
    assert!((kind(&report, "needle").mean_total_count - 1.0).abs() < 1e-9);
    assert!((kind(&report, "count").mean_total_count - 20_000.0).abs() < 1e-9);
    assert!(
        kind(&report, "regex").mean_total_count > 0.0,
        "{}",
        report.text()
    );
    assert!(
        report.text().contains("blocks not read"),
        "{}",
        report.text()
    );
}

#[test]
fn query_windows_can_end_at_the_newest_line_of_a_corpus_loaded_earlier() {
    let server = server();
    let load = args_for(
        &server,
        &["--lines", "20000", "--batch", "1000", "--partition", "q"],
    );
    loadgen::ingest(&load).expect("load");
    let newest = server.post_json(
        "/api/v1/query",
        &serde_json::json!({"partitions": ["q"], "limit": 1}),
    );
    let newest_ns = newest.json()["entries"][0]["timestamp_ns"]
        .as_i64()
        .unwrap();
    // A 1 ns window ending at the newest line holds just that line
    // (timestamps are distinct), and most blocks lie outside it.
    let report = query_report(
        &server,
        &[
            "--mix",
            "range,tag",
            "--queries",
            "4",
            "--time-base",
            "data",
            "--window",
            "1ns",
        ],
    );
    assert_eq!(report.time_base_ns, Some(newest_ns));
    let range = kind(&report, "range");
    assert!(
        (range.mean_total_count - 1.0).abs() < 1e-9,
        "{}",
        report.text()
    );
    let skipped = range.server_stats.mean_blocks_skipped_fraction.unwrap();
    assert!(skipped > 0.5, "{}", report.text());
    assert!(kind(&report, "tag").mean_total_count <= 1.0);
    // The same window ending now (a moment after the load) is empty.
    let report = query_report(
        &server,
        &["--mix", "range", "--queries", "2", "--window", "1ns"],
    );
    assert_eq!(report.time_base_ns, None);
    assert_eq!(kind(&report, "range").mean_total_count, 0.0);
}

#[test]
fn sweep_starts_a_server_per_configuration_and_writes_its_tables() {
    let out = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server_bin = env!("CARGO_BIN_EXE_timberdb");
    let out_arg = out.path().to_str().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let argv = [
        "loadgen",
        "sweep",
        "--server-bin",
        server_bin,
        "--out",
        out_arg,
        "--data-root",
        data_arg,
        "--batch",
        "100",
        "--codec",
        "lz4,none",
        "--duration",
        "1s",
        "--warmup",
        "0s",
        "--server-cpus",
        "0-1",
        "--client-cpus",
        "0-1",
        "--connections",
        "2",
    ];
    let Some(loadgen::cli::Command::Sweep(sweep_args)) =
        Cli::try_parse_from(argv).expect("valid").command
    else {
        panic!("not a sweep command");
    };
    let rows = loadgen::sweep::run(&sweep_args).expect("sweep");
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert!(row.lines_per_sec > 0.0, "{row:?}");
        assert_eq!(row.errors, 0, "{row:?}");
        let ratio = row
            .compression_ratio
            .expect("blocks were sealed at shutdown");
        assert!(ratio > 1.0, "{row:?}");
    }
    assert!(
        rows[0].compression_ratio > rows[1].compression_ratio,
        "LZ4 compresses better than none"
    );
    let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(std::fs::read_to_string(out.path().join("chart.svg"))
        .unwrap()
        .starts_with("<svg"));
    assert!(out
        .path()
        .join("shards1-batch100-synctrue-lz4.json")
        .exists());
    // Each configuration's data directory is removed afterwards.
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
}
