//! Routes, methods, health, readiness and metrics.

mod common;

use common::Server;

#[test]
fn unknown_route_is_404_with_json_error() {
    let server = Server::start();
    let response = server.get("/api/v1/nope");
    assert_eq!(response.status, 404);
    assert_eq!(response.error_code(), "route_not_found");
    assert_eq!(response.header("content-type"), Some("application/json"));
}

#[test]
fn wrong_method_is_405_with_allow() {
    let server = Server::start();
    let response = server.request("PUT", "/api/v1/partitions", None, b"");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, POST"));
    assert_eq!(response.error_code(), "method_not_allowed");
    let query_delete = server.request("DELETE", "/api/v1/query/execute", None, b"");
    assert_eq!(query_delete.status, 405);
    assert_eq!(query_delete.header("allow"), Some("GET, POST"));
    // GET takes the query language and needs a q.
    let query_get = server.get("/api/v1/query/execute");
    assert_eq!(query_get.status, 400);
}

#[test]
fn health_ready_and_metrics_answer() {
    let server = Server::start();
    let health = server.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let ready = server.get("/ready");
    assert_eq!(ready.status, 200, "{}", ready.text());
    server.create_partition("m");
    server.ingest_ndjson("m", &[serde_json::json!({"message": "x"})]);
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("# TYPE timberdb_ingest_entries_total counter"),
        "{text}"
    );
    let entries: u64 = text
        .lines()
        .filter(|line| line.starts_with("timberdb_ingest_entries_total{"))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(entries, 1);
}

#[test]
fn version_and_help_flags_work() {
    let version = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--data-dir",
        "--listen",
        "--node-id",
        "--shards",
        "--config",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}: {text}");
    }
}

#[test]
fn invalid_config_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("timberdb.toml");
    std::fs::write(&config, "[storage]\ncompression = \"brotli\"\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("storage.compression"), "{stderr}");
}

#[test]
fn check_command_reports_prerequisites() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("check")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_lowercase();
    for topic in ["io_uring", "memlock", "kernel", "o_direct"] {
        assert!(
            stdout.contains(topic),
            "check output lacks {topic}: {stdout}"
        );
    }
}
