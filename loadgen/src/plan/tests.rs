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

/// 1 M lines/s × 240 B, 30 days, ratio 7.15, 774 k per core, headroom 0.3,
/// worked by hand (python3 as the calculator).
#[test]
fn one_million_lines_per_second_for_thirty_days() {
    let plan = plan(&PlanInput::with_defaults(1e6)).expect("valid input");
    // 1e6 / (774,000 × 0.7) = 1e6 / 541,800 = 1.846 → 2 shard cores, + 1 spare.
    assert_eq!(plan.cpu.usable_rate_per_core.round(), 541_800.0);
    assert_eq!(plan.cpu.ingest_cores, 2);
    assert_eq!(plan.cpu.cores, 3);
    assert_eq!(plan.cpu.shards, 2);
    assert_eq!(plan.config.shards, 2);

    let d = &plan.disk;
    assert_eq!(d.raw_bytes_per_sec, 240e6);
    // 240e6 B/s × 86,400 s.
    assert_eq!(d.raw_bytes_per_day, 20_736_000_000_000);
    // 20,736,000,000,000 / 7.15 = 2,900,139,860,139.86 → rounded.
    assert_eq!(d.stored_bytes_per_day, 2_900_139_860_140);
    // × 30 days.
    assert_eq!(d.retained_bytes, 87_004_195_804_200);
    // 1e6 × 86,400 = 86,400,000,000 lines a day, × 30.
    assert_eq!(d.lines_per_day, 86_400_000_000);
    assert_eq!(d.lines_retained, 2_592_000_000_000);
    // ceil(20,736,000,000,000 / 8,388,608) = ceil(2,471,923.83).
    assert_eq!(d.blocks_per_day, 2_471_924);
    assert_eq!(d.blocks_retained, 74_157_720);
    // 2 slices × 8,388,608 / 7.15 = 2,346,463.78 → rounded up.
    assert_eq!(d.slices, 2);
    assert_eq!(d.retention_slack_bytes, 2_346_464);
    // 2 × 8,388,608 B / 240e6 B/s.
    assert!((d.block_fill_seconds - 0.069_905_066_666).abs() < 1e-9);
    assert_eq!(d.segment_preallocation_bytes, 2 * 64 * MIB);
    // 2,592,000,000,000 lines × 0.35 B.
    assert_eq!(d.directory_bytes, 907_200_000_000);
    // (907,200,000,000 + 74,157,720 blocks × 96 B) / 2 shards.
    assert_eq!(d.manifest_checkpoint_bytes_per_shard, 457_159_570_560);
    // 2 × (5 × 457,159,570,560 + 16 MiB + 4 MiB).
    assert_eq!(d.manifest_log_bytes, 4_571_637_648_640);
    // 2 × (1 GiB + 3 × 64 MiB).
    assert_eq!(d.wal_bytes, 2_550_136_832);
    // 87,004,195,804,200 + 2,346,464 + 134,217,728 + 4,571,637,648,640
    // + 2,550,136,832.
    assert_eq!(d.used_bytes, 91_578_520_153_864);
    // used / 0.8, rounded up.
    assert_eq!(d.provision_bytes, 114_473_150_192_330);
    // 85% of it = 97,302,177,663,480 B, rounded down to 90,619 GiB.
    assert_eq!(plan.config.max_storage_size_bytes, 90_619 * GIB);
    assert_eq!(plan.config.retention_days, 30);

    let w = &plan.writes;
    assert_eq!(w.requests_per_sec, 1000.0);
    assert_eq!(w.group_commits_per_sec_max, 1000.0);
    assert_eq!(w.wal_bytes_per_sec, 240e6);
    assert!((w.block_bytes_per_sec - 240e6 / 7.15).abs() < 1e-6);
    // 240e6 / 8,388,608 = 28.61 seals/s.
    assert!((w.seals_per_sec - 240e6 / 8_388_608.0).abs() < 1e-9);
    // 8,388,608 / 240 = 34,952.5 lines × 0.35 = 12,233 B of directory
    // + 96 B = 12,329 B → padded to 16,384 B.
    assert_eq!(w.manifest_bytes_per_seal, 16_384);
    // 28.61 × 16,384 × 4/3 = 625,000 B/s.
    assert!((w.manifest_bytes_per_sec - 625_000.0).abs() < 1e-6);
    assert!((w.syncs_per_sec_max - (1000.0 + 2.0 * 240e6 / 8_388_608.0)).abs() < 1e-9);
    assert_eq!(w.network_bits_per_sec, 1.92e9);

    // ceil(87,004,195,804,200 / 2^30) = ceil(81,028.97) = 81,029 full + 2 newest.
    assert_eq!(plan.files.segment_files, 81_031);
    assert_eq!(plan.files.manifest_files, 2);
    // 81,031 + 2 manifests + 2 WAL + 64 connections + (64 + 2 × 8) misc.
    assert_eq!(plan.files.open_files, 81_179);
    // 2 × 81,179 = 162,358 → rounded up to 1024.
    assert_eq!(plan.files.limit_nofile, 162_816);
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
    assert_eq!(active.expected_bytes, 2 * 8 * MIB);
    assert_eq!(active.bound_bytes, 2 * 2 * 256 * MIB);
    assert_eq!(term("blocks being sealed").bound_bytes, 2 * 11 * 8 * MIB);
    // 64 connections / 2 shards × 240,000 B = 7,680,000 B in flight, × 3 copies.
    assert_eq!(term("WAL group buffers").expected_bytes, 2 * 3 * 7_680_000);
    // 64 connections × (2 × 240,000 B + 64 KiB); bound with 16 MiB bodies.
    let bodies = term("request bodies");
    assert_eq!(bodies.expected_bytes, 64 * (480_000 + 65_536));
    assert_eq!(bodies.bound_bytes, 64 * (32 * MIB + 65_536));
    // 907,200,000,000 B of directories + 74,157,720 blocks × 192 B.
    let directories = term("block directories (always resident)");
    assert_eq!(directories.bound_bytes, 921_438_282_240);
    assert_eq!(m.directory_bytes, 921_438_282_240);
    assert_eq!(term("granule filter cache").bound_bytes, 128 * MIB);
    let sum: u64 = m.terms.iter().map(|t| t.bound_bytes).sum();
    assert_eq!(m.bound_bytes, sum);
    // 256 MiB + 2 × 2 MiB + 921,438,282,240 + 2 × (4 × 457,159,570,560
    // + 20 MiB) = 4,579,029,419,520 B, above the serving bound.
    assert_eq!(m.startup_bound_bytes, 4_579_029_419_520);
    assert!(m.startup_bound_bytes > m.bound_bytes);
    // Rounded up to a whole GiB: 4,265 GiB.
    assert_eq!(m.recommended_ram_bytes, 4_265 * GIB);
    assert_eq!(m.memlock_bytes_min, 2 * 512 * 1024);
}

/// 20,000 lines/s into 4 partitions for 7 days: one shard, four slices;
/// worked by hand (python3 as the calculator).
#[test]
fn a_small_node_with_partitions() {
    let mut input = PlanInput::with_defaults(20_000.0);
    input.retention_days = 7;
    input.partitions = 4;
    let plan = plan(&input).expect("valid input");
    assert_eq!(plan.cpu.shards, 1);
    let d = &plan.disk;
    // 20,000 × 240 × 86,400 = 414,720,000,000 B a day; / 7.15 =
    // 58,002,797,202.80 → 58,002,797,203; × 7.
    assert_eq!(d.raw_bytes_per_day, 414_720_000_000);
    assert_eq!(d.retained_bytes, 406_019_580_421);
    // 4 slices × 8 MiB / 7.15 = 4,692,927.55 → rounded up; a slice fills
    // its block in 4 × 8,388,608 / 4.8e6 B/s = 6.99 s at peak.
    assert_eq!(d.slices, 4);
    assert_eq!(d.retention_slack_bytes, 4_692_928);
    assert!((d.block_fill_seconds - 6.990_506_666_666).abs() < 1e-9);
    // 1 shard × 64 MiB, not one preallocation per partition.
    assert_eq!(d.segment_preallocation_bytes, 64 * MIB);
    // 12,096,000,000 lines × 0.35 = 4,233,600,000 B of directories; ceil(
    // 414,720,000,000 / 8 MiB) = 49,439 blocks a day, 346,073 in 7 days;
    // checkpoint 4,233,600,000 + 346,073 × 96 = 4,266,823,008 B.
    assert_eq!(d.directory_bytes, 4_233_600_000);
    assert_eq!(d.blocks_retained, 346_073);
    assert_eq!(d.manifest_checkpoint_bytes_per_shard, 4_266_823_008);
    // 5 × 4,266,823,008 + 20 MiB.
    assert_eq!(d.manifest_log_bytes, 21_355_086_560);
    // 406,019,580,421 + 4,692,928 + 67,108,864 + 21,355,086,560
    // + 1,275,068,416 (WAL).
    assert_eq!(d.used_bytes, 428_721_537_189);
    assert_eq!(d.provision_bytes, 535_901_921_487);
    // 85% = 455,516,633,263 B → 424 GiB.
    assert_eq!(plan.config.max_storage_size_bytes, 424 * GIB);
    // ceil(406,019,580,421 / 2^30) = ceil(378.14) = 379, + the newest.
    assert_eq!(plan.files.segment_files, 380);
    let m = &plan.memory;
    // Serving: 33,554,432 + 92,274,688 (bound 8 + 3 blocks) ... summed by
    // hand over the nine terms: expected 4,868,510,912, bound 7,610,283,200.
    assert_eq!(m.expected_bytes, 4_868_510_912);
    assert_eq!(m.bound_bytes, 7_610_283_200);
    // Start-up: 256 MiB + 2 MiB + 4,300,046,016 (directories + 346,073 ×
    // 192 B) + 4 × 4,266,823,008 + 20 MiB = 21,658,842,176 → 21 GiB.
    assert_eq!(m.startup_bound_bytes, 21_658_842_176);
    assert_eq!(m.recommended_ram_bytes, 21 * GIB);
}

#[test]
fn max_storage_size_is_85_percent_of_the_disk_rounded_down() {
    // 1,000 GiB × 0.85 = 850 GiB exactly.
    assert_eq!(max_storage_size(1_000 * GIB), 850 * GIB);
    // 1 GiB × 0.85 = 912,680,550 B: below 1 GiB, so whole MiB: 870 MiB.
    assert_eq!(max_storage_size(GIB), 870 * MIB);
    // Never below the 1 MiB the server accepts.
    assert_eq!(max_storage_size(1), MIB);
}

#[test]
fn an_exact_fit_does_not_round_up_to_another_core() {
    // 541,800 = 774,000 × 0.7 exactly, which binary floating point misses.
    let plan = plan(&PlanInput::with_defaults(541_800.0)).expect("valid input");
    assert_eq!(plan.cpu.ingest_cores, 1);
    let plan = super::plan(&PlanInput::with_defaults(541_801.0)).expect("valid input");
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
fn a_measured_ratio_is_rounded_to_three_decimals() {
    // What `loadgen sweep` wrote: 366,266,740 B sent / 51,089,408 B stored.
    let file = TempFile::new(
        r#"{"results": {"lines_per_sec": 261578.1, "compression_ratio": 7.169132592023772},
            "server": {"cores": 1}}"#,
    );
    let input = resolve(&args(&["--lines-per-sec", "1000", "--from", file.arg()])).expect("ok");
    assert_eq!(input.compression_ratio, 7.169);
    assert!(input
        .compression_ratio_source
        .contains("results.compression_ratio 7.169132592023772, to 3 decimals"));
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
    assert_eq!(value["cpu"]["shards"], 2);
    assert_eq!(value["disk"]["provision_bytes"], 114_473_150_192_330_u64);
    assert_eq!(value["config"]["max_storage_size_bytes"], 90_619 * GIB);
    assert_eq!(value["input"]["per_core_rate"], 774_000.0);
    assert!(value["warnings"].as_array().is_some_and(|w| !w.is_empty()));
}

#[test]
fn text_output_shows_the_arithmetic() {
    let text = run(&args(&["--lines-per-sec", "1000000"])).expect("ok");
    for expected in [
        "774,000 x (1 - 0.3) = 541,800 lines/s",
        "ceil(1,000,000 / 541,800) = ceil(1.846) = 2",
        "20,736,000,000,000 / 7.15 = 2,900,139,860,140 B",
        "2,346,464 B  retention slack: 2 slices x 8 MiB / 7.15",
        "4,571,637,648,640 B  manifest logs: 2 shards x (5 x 457,159,570,560 B checkpoint",
        "91,578,520,153,864 B",
        "114,473,150,192,330 B",
        "shards = 2",
        "compression = \"Zstd\"",
        "retention_days = 30  # blocks whose newest entry is older are deleted whole",
        "max_storage_size = \"90619GiB\"  # 85% of the disk planned",
        "index_cache_size = \"128MiB\"",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("not enforced"),
        "retention is enforced:\n{text}"
    );
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
        "stay in memory for as long as the data is kept",
        "start-up reads every shard's manifest log whole",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}
