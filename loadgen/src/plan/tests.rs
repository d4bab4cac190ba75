//! Hand-computed plans, result-file reading, flag precedence and validation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::Parser;

use super::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    plan: PlanArgs,
}

fn args(line: &[&str]) -> PlanArgs {
    let argv = std::iter::once("plan").chain(line.iter().copied());
    Cli::try_parse_from(argv).expect("valid arguments").plan
}

/// A result file under the temp directory, unique per test and process.
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &str) -> TempFile {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "loadgen-plan-{}-{}.json",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, contents).expect("temp dir is writable");
        TempFile(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// 1 M lines/s × 240 B, 30 days, ratio 2.87, 570 k per core, headroom 0.3,
/// worked by hand (python3 as the calculator).
#[test]
fn one_million_lines_per_second_for_thirty_days() {
    let plan = plan(&PlanInput::with_defaults(1e6)).expect("valid input");
    // 1e6 / (570000 × 0.7) = 2.506 → 3 shard cores, + 1 spare.
    assert_eq!(plan.cpu.usable_rate_per_core.round(), 399_000.0);
    assert_eq!(plan.cpu.ingest_cores, 3);
    assert_eq!(plan.cpu.cores, 4);
    assert_eq!(plan.cpu.shards, 3);
    assert_eq!(plan.config.shards, 3);

    let d = &plan.disk;
    assert_eq!(d.raw_bytes_per_sec, 240e6);
    assert_eq!(d.raw_bytes_per_day, 20_736_000_000_000);
    // 20,736,000,000,000 / 2.87 = 7,225,087,108,013.94 → rounded.
    assert_eq!(d.stored_bytes_per_day, 7_225_087_108_014);
    assert_eq!(d.retained_block_bytes, 216_752_613_240_420);
    // ceil(20,736,000,000,000 / 8,388,608) = ceil(2,471,923.83).
    assert_eq!(d.blocks_per_day, 2_471_924);
    assert_eq!(d.blocks_retained, 74_157_720);
    assert_eq!(d.block_padding_bytes, 303_750_021_120);
    assert_eq!(d.segment_preallocation_bytes, 3 * 64 * MIB);
    // 3 × (1 GiB + 3 × 64 MiB).
    assert_eq!(d.wal_bytes, 3_825_205_248);
    assert_eq!(d.used_bytes, 217_060_389_793_380);
    // used / 0.8, rounded up.
    assert_eq!(d.provision_bytes, 271_325_487_241_725);

    let w = &plan.writes;
    assert_eq!(w.requests_per_sec, 1000.0);
    assert_eq!(w.group_commits_per_sec_max, 1000.0);
    assert_eq!(w.wal_bytes_per_sec, 240e6);
    assert!((w.block_bytes_per_sec - 240e6 / 2.87).abs() < 1e-6);
    assert!((w.seals_per_sec - 240e6 / 8_388_608.0).abs() < 1e-9);
    assert_eq!(w.network_bits_per_sec, 1.92e9);

    // (216,752,613,240,420 + 303,750,021,120) / 2^30 = 202,149 full + 3 open.
    assert_eq!(plan.files.segment_files, 202_152);
    assert_eq!(plan.files.manifest_bytes_per_shard, 67_384 * 130);
    assert_eq!(plan.files.open_files, 202_152 + 3 + 64 + 64 + 3 * 8);
    assert_eq!(plan.files.limit_nofile, 405_504);
}

#[test]
fn memory_terms_follow_the_server_limits() {
    let plan = plan(&PlanInput::with_defaults(1e6)).expect("valid input");
    let m = &plan.memory;
    let term = |name: &str| {
        m.terms
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no term {name}"))
    };
    let active = term("active (unsealed) blocks");
    assert_eq!(active.expected_bytes, 3 * 8 * MIB);
    assert_eq!(active.bound_bytes, 3 * 2 * 256 * MIB);
    assert_eq!(term("blocks being sealed").bound_bytes, 3 * 11 * 8 * MIB);
    // 64 connections × (2 × 240,000 B + 64 KiB); bound with 16 MiB bodies.
    let bodies = term("request bodies");
    assert_eq!(bodies.expected_bytes, 64 * (480_000 + 65_536));
    assert_eq!(bodies.bound_bytes, 64 * (32 * MIB + 65_536));
    assert_eq!(term("sealed-block index").bound_bytes, 74_157_720 * 112);
    assert_eq!(m.block_index_bytes, 74_157_720 * 112);
    let sum: u64 = m.terms.iter().map(|t| t.bound_bytes).sum();
    assert_eq!(m.bound_bytes, sum);
    assert_eq!(m.recommended_ram_bytes % GIB, 0);
    assert!(m.recommended_ram_bytes >= m.bound_bytes);
    assert!(m.recommended_ram_bytes - m.bound_bytes < GIB);
    assert_eq!(m.memlock_bytes_min, 3 * 512 * 1024);
}

#[test]
fn an_exact_fit_does_not_round_up_to_another_core() {
    // 399,000 = 570,000 × 0.7 exactly, which binary floating point misses.
    let plan = plan(&PlanInput::with_defaults(399_000.0)).expect("valid input");
    assert_eq!(plan.cpu.ingest_cores, 1);
    let plan = super::plan(&PlanInput::with_defaults(399_001.0)).expect("valid input");
    assert_eq!(plan.cpu.ingest_cores, 2);
}

#[test]
fn write_buffer_grows_with_partitions() {
    let mut input = PlanInput::with_defaults(1e5);
    input.partitions = 100;
    let plan = plan(&input).expect("valid input");
    // 100 × 8 MiB × 1.25 = 1000 MiB, above the 256 MiB default.
    assert_eq!(plan.config.write_buffer_size_bytes, 1000 * MIB);
    input.partitions = 1;
    let plan = super::plan(&input).expect("valid input");
    assert_eq!(plan.config.write_buffer_size_bytes, 256 * MIB);
}

#[test]
fn from_file_sets_per_core_rate_and_ratio() {
    let file = TempFile::new(
        r#"{"results": {"lines_per_sec": 1200000.0, "compression_ratio": 4.5},
            "server": {"cores": 2}}"#,
    );
    let input = resolve(&args(&["--lines-per-sec", "1e6", "--from", file.arg()])).expect("ok");
    assert_eq!(input.per_core_rate, 600_000.0);
    assert_eq!(input.compression_ratio, 4.5);
    assert!(input.per_core_rate_source.contains("server.cores 2"));
    assert!(input
        .compression_ratio_source
        .contains("results.compression_ratio"));
}

#[test]
fn a_null_ratio_in_the_file_keeps_the_default() {
    let file = TempFile::new(
        r#"{"results": {"lines_per_sec": 500000, "compression_ratio": null},
            "server": {"cores": 1}}"#,
    );
    let input = resolve(&args(&["--lines-per-sec", "1000", "--from", file.arg()])).expect("ok");
    assert_eq!(input.per_core_rate, 500_000.0);
    assert_eq!(input.compression_ratio, COMPRESSION_RATIO_DEFAULT);
    assert!(input.compression_ratio_source.starts_with("default"));
}

#[test]
fn flags_win_over_the_file() {
    let file = TempFile::new(
        r#"{"results": {"lines_per_sec": 1200000, "compression_ratio": 4.5},
            "server": {"cores": 2}}"#,
    );
    let line = [
        "--lines-per-sec",
        "1e6",
        "--from",
        file.arg(),
        "--per-core-rate",
        "800000",
        "--compression-ratio",
        "3",
    ];
    let input = resolve(&args(&line)).expect("ok");
    assert_eq!(input.per_core_rate, 800_000.0);
    assert_eq!(input.compression_ratio, 3.0);
    assert_eq!(input.per_core_rate_source, "--per-core-rate");
}

#[test]
fn bad_result_files_are_refused_with_the_field() {
    let unparsable = [
        (
            r#"{"results": {}, "server": {"cores": 2}}"#,
            "results.lines_per_sec",
        ),
        (
            r#"{"results": {"lines_per_sec": 1}, "server": {"cores": 1.5}}"#,
            "server.cores",
        ),
        (
            r#"{"results": {"lines_per_sec": 1, "compression_ratio": "x"}, "server": {"cores": 1}}"#,
            "results.compression_ratio",
        ),
        ("not json", "invalid JSON"),
    ];
    for (text, expected) in unparsable {
        let error = parse_result(text).expect_err(text);
        assert!(format!("{error:#}").contains(expected), "{text}: {error:#}");
    }
    let unusable = [
        (
            r#"{"results": {"lines_per_sec": 1}, "server": {}}"#,
            "server.cores is missing",
        ),
        (
            r#"{"results": {"lines_per_sec": 1}, "server": {"cores": null}}"#,
            "--per-core-rate",
        ),
        (
            r#"{"results": {"lines_per_sec": 1}, "server": {"cores": 0}}"#,
            "server.cores",
        ),
        (
            r#"{"results": {"lines_per_sec": 0}, "server": {"cores": 1}}"#,
            "acknowledged nothing",
        ),
    ];
    for (text, expected) in unusable {
        let file = TempFile::new(text);
        let error =
            resolve(&args(&["--lines-per-sec", "1", "--from", file.arg()])).expect_err(text);
        let message = format!("{error:#}");
        assert!(message.contains(expected), "{text}: {message}");
        assert!(message.contains(file.arg()), "names the file: {message}");
    }
    let missing = args(&[
        "--lines-per-sec",
        "1",
        "--from",
        "/nonexistent/loadgen.json",
    ]);
    let error = resolve(&missing).expect_err("missing file");
    assert!(format!("{error:#}").contains("/nonexistent/loadgen.json"));
}

#[test]
fn an_open_loop_run_is_refused_as_a_capacity_measurement() {
    // An open-loop run at --rate 200000 reports about 200,000 lines/s however
    // fast the server is: that is the offered rate, not the per-core capacity.
    let open = r#"{"config": {"rate": 200000.0}, "results": {"lines_per_sec": 199876.5},
            "server": {"cores": 1}}"#;
    let file = TempFile::new(open);
    let error = resolve(&args(&["--lines-per-sec", "1e6", "--from", file.arg()]))
        .expect_err("an open-loop run measures no capacity");
    let message = format!("{error:#}");
    for expected in [
        file.arg(),
        "open-loop run at a fixed rate (--rate 200000)",
        "measures the offered rate, not capacity",
        "plan from a closed-loop run (no --rate)",
    ] {
        assert!(
            message.contains(expected),
            "missing {expected:?}: {message}"
        );
    }
    // With the rate given as a flag, the file's other measurements still count.
    let with_ratio = TempFile::new(
        r#"{"config": {"rate": 5e4}, "results": {"lines_per_sec": 5e4, "compression_ratio": 3.5},
            "server": {"cores": 1}}"#,
    );
    let line = [
        "--lines-per-sec",
        "1e6",
        "--from",
        with_ratio.arg(),
        "--per-core-rate",
        "600000",
    ];
    let input = resolve(&args(&line)).expect("ok");
    assert_eq!(input.per_core_rate, 600_000.0);
    assert_eq!(input.compression_ratio, 3.5);
    // A closed-loop run's report has "rate": null and is used as before.
    let closed = TempFile::new(
        r#"{"config": {"rate": null}, "results": {"lines_per_sec": 570000},
            "server": {"cores": 1}}"#,
    );
    let input = resolve(&args(&["--lines-per-sec", "1e6", "--from", closed.arg()])).expect("ok");
    assert_eq!(input.per_core_rate, 570_000.0);
    let error = parse_result(r#"{"config": {"rate": "fast"}, "results": {"lines_per_sec": 1}}"#)
        .expect_err("rate is not a number");
    assert!(format!("{error:#}").contains("config.rate"), "{error:#}");
}

#[test]
fn a_file_without_cores_still_gives_its_ratio_when_the_rate_is_a_flag() {
    let file = TempFile::new(
        r#"{"results": {"lines_per_sec": 1, "compression_ratio": 4.0}, "server": {"cores": null}}"#,
    );
    let line = [
        "--lines-per-sec",
        "1e6",
        "--from",
        file.arg(),
        "--per-core-rate",
        "500000",
    ];
    let input = resolve(&args(&line)).expect("ok");
    assert_eq!(input.per_core_rate, 500_000.0);
    assert_eq!(input.compression_ratio, 4.0);
}

#[test]
fn invalid_inputs_are_refused_with_the_flag() {
    let cases: [(&[&str], &str); 8] = [
        (&["--lines-per-sec", "0"], "--lines-per-sec"),
        (&["--lines-per-sec=-5"], "--lines-per-sec"),
        (
            &["--lines-per-sec", "1", "--compression-ratio", "0"],
            "compression ratio",
        ),
        (
            &["--lines-per-sec", "1", "--per-core-rate", "0"],
            "per-core rate",
        ),
        (
            &["--lines-per-sec", "1", "--headroom", "0.95"],
            "--headroom",
        ),
        (&["--lines-per-sec", "1", "--headroom=-0.1"], "--headroom"),
        (
            &["--lines-per-sec", "1", "--retention-days", "0"],
            "--retention-days",
        ),
        (
            &["--lines-per-sec", "1", "--line-bytes", "0"],
            "--line-bytes",
        ),
    ];
    for (line, expected) in cases {
        let error = run(&args(line)).expect_err(&line.join(" "));
        assert!(error.to_string().contains(expected), "{line:?}: {error}");
    }
    for flag in [
        "--replicas",
        "--connections",
        "--partitions",
        "--batch-lines",
    ] {
        let error = run(&args(&["--lines-per-sec", "1", flag, "0"])).expect_err(flag);
        assert!(error.to_string().contains(flag), "{flag}: {error}");
    }
    let missing_rate = Cli::try_parse_from(["plan"]);
    assert!(missing_rate.is_err(), "--lines-per-sec is required");
}

#[test]
fn json_output_parses_and_matches_the_plan() {
    let text = run(&args(&["--lines-per-sec", "1e6", "--json"])).expect("ok");
    let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(value["cpu"]["shards"], 3);
    assert_eq!(value["disk"]["provision_bytes"], 271_325_487_241_725_u64);
    assert_eq!(value["input"]["per_core_rate"], 570_000.0);
    assert!(value["warnings"].as_array().is_some_and(|w| !w.is_empty()));
}

#[test]
fn text_output_shows_the_arithmetic() {
    let text = run(&args(&["--lines-per-sec", "1000000"])).expect("ok");
    for expected in [
        "570,000 x (1 - 0.3) = 399,000 lines/s",
        "ceil(1,000,000 / 399,000) = ceil(2.506) = 3",
        "20,736,000,000,000 / 2.87 = 7,225,087,108,014 B",
        "217,060,389,793,380 B",
        "271,325,487,241,725 B",
        "shards = 3",
        "retention is not enforced yet",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn replicas_multiply_the_fleet_not_the_node() {
    let mut input = PlanInput::with_defaults(1e6);
    let one = plan(&input).expect("valid input");
    input.replicas = 3;
    let three = plan(&input).expect("valid input");
    assert_eq!(three.cpu.cores, one.cpu.cores);
    assert_eq!(three.disk.provision_bytes, one.disk.provision_bytes);
    assert_eq!(three.fleet.cores, 3 * one.cpu.cores);
    assert_eq!(three.fleet.disk_bytes, 3 * one.disk.provision_bytes);
    assert_eq!(three.fleet.client_bytes_per_sec, 3.0 * 240e6);
}

#[test]
fn warnings_flag_what_the_operator_must_change() {
    let mut input = PlanInput::with_defaults(2e7);
    input.connections = 8;
    input.batch_lines = 100_000;
    let plan = plan(&input).expect("valid input");
    let all = plan.warnings.join("\n");
    for expected in [
        "connections for",
        "api.max_request_size",
        "measured with batches of 1000",
        "above the 1 GB/s",
        "10 GbE",
        "sealed blocks at full retention",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}
