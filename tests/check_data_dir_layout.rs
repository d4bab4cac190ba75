//! `timberdb check` reads the shard count a real server recorded in `<data_dir>/layout.json`:
//! it fails, with the server's own advice, when the configuration asks for another count, and
//! passes when it asks for the same one; either way it leaves the data directory as it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::Server;

/// Runs `timberdb check --data-dir DIR ARGS...`.
fn run_check(data_dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("check")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run timberdb check")
}

/// The report line of the `data_dir layout` check.
fn layout_line(stdout: &str) -> &str {
    let line = stdout
        .lines()
        .find(|line| line.contains("data_dir layout:"));
    line.unwrap_or_else(|| panic!("no data_dir layout line in:\n{stdout}"))
}

/// Every path under `dir` with file contents, to show `check` changed nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut entries = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path.clone());
                entries.push((path, None));
            } else {
                let bytes = std::fs::read(&path).expect("read");
                entries.push((path, Some(bytes)));
            }
        }
    }
    entries.sort();
    entries
}

#[test]
fn check_compares_the_recorded_shard_count_with_the_configured_one() {
    let mut server = Server::builder().arg("--shards").arg("1").start();
    assert!(
        server.listening_line.contains("with 1 shards"),
        "{}",
        server.listening_line
    );
    let status = server.terminate();
    assert!(status.success(), "graceful stop: {status}");
    let data_dir = server.data_dir.clone();
    let before = snapshot(&data_dir);

    let output = run_check(&data_dir, &["--shards", "2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        layout_line(&stdout),
        "[FAIL] data_dir layout: data directory made for 1 shards, config asks for 2",
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "       fix: start TimberDB with --shards 1 (changing the shard count of existing \
             data is not supported yet)"
        ),
        "{stdout}"
    );
    assert_eq!(output.status.code(), Some(1), "{stdout}");

    // The configuration file's `shards` is resolved the same way as the flag.
    let config = data_dir.with_extension("toml");
    std::fs::write(&config, "shards = 1\n").expect("write config");
    let config = config.to_str().expect("utf-8 path");
    let output = run_check(&data_dir, &["--config", config]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        layout_line(&stdout),
        "[ ok ] data_dir layout: data directory made for 1 shards, config asks for 1",
        "{stdout}"
    );
    // The server started on this machine and directory, so every other check passes too.
    assert!(output.status.success(), "{stdout}");

    // `auto` is one shard per CPU, as for the server.
    let cpus = std::thread::available_parallelism().map_or(1, |count| count.get());
    let auto = cpus.min(timberdb::config::defaults::SHARD_COUNT_MAX);
    let output = run_check(&data_dir, &["--shards", "auto"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (tag, exit_code) = if auto == 1 {
        ("[ ok ]", 0)
    } else {
        ("[FAIL]", 1)
    };
    let expected =
        format!("{tag} data_dir layout: data directory made for 1 shards, config asks for {auto}");
    assert_eq!(layout_line(&stdout), expected, "{stdout}");
    assert_eq!(output.status.code(), Some(exit_code), "{stdout}");

    assert_eq!(
        snapshot(&data_dir),
        before,
        "check changed the data directory"
    );

    // And the server itself refuses what check failed, with the same advice.
    let stderr_path = data_dir.with_extension("refused.log");
    let stderr_file = std::fs::File::create(&stderr_path).expect("stderr log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--listen", "127.0.0.1:0", "--shards", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(stderr_file)
        .spawn()
        .expect("start timberdb");
    // Polled with a deadline: a server that wrongly started would otherwise never return.
    let deadline = Instant::now() + common::STARTUP_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timberdb started with 2 shards on a 1-shard data directory");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&stderr_path).expect("read stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("created with 1 shards; start TimberDB with --shards 1"),
        "{stderr}"
    );
}

#[test]
fn check_without_data_reports_no_data_yet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let output = run_check(&data_dir, &["--shards", "2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        layout_line(&stdout),
        "[ ok ] data_dir layout: no data yet (layout.json will be written at first start)",
        "{stdout}"
    );
    assert!(!data_dir.exists(), "check created the data directory");
}
