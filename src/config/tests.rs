//! Tests of the whole configuration pipeline through [`load_from`]: defaults, precedence,
//! the seed README's files, and the message for every kind of invalid value.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::*;

const SEED_SECTIONS: &str = include_str!("testdata/seed_readme_sections.toml");
const SEED_NODE: &str = include_str!("testdata/seed_readme_node.toml");
const MIB: u64 = 1 << 20;

/// A config file in its own temporary directory (kept alive by the returned guard).
struct TomlFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn toml_file(text: &str) -> TomlFile {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("timberdb.toml");
    std::fs::write(&path, text).expect("write config");
    TomlFile { _dir: dir, path }
}

fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Loaded> {
    let args = std::iter::once("timberdb")
        .chain(args.iter().copied())
        .map(OsString::from);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    load_from(args, &lookup)
}

fn load_config(args: &[&str], env: &[(&str, &str)]) -> Config {
    match load(args, env) {
        Ok(loaded) => loaded.command.config().expect("a server command").clone(),
        Err(err) => panic!("expected a config, got: {err}"),
    }
}

/// Loads `text` as the config file and returns the error message.
fn file_error(text: &str) -> (String, PathBuf) {
    let file = toml_file(text);
    let path = file.path.to_str().expect("utf-8 path");
    match load(&["--config", path], &[]) {
        Ok(loaded) => panic!("expected an error for {text:?}, got {loaded:?}"),
        Err(err) => (err.to_string(), file.path.clone()),
    }
}

fn env_error(env: &[(&str, &str)]) -> String {
    match load(&[], env) {
        Ok(loaded) => panic!("expected an error for {env:?}, got {loaded:?}"),
        Err(err) => err.to_string(),
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

#[test]
fn defaults_when_nothing_is_given() {
    let loaded = load(&[], &[]).expect("defaults load");
    assert!(loaded.warnings.is_empty());
    let Command::Serve(config) = loaded.command else {
        panic!("serve is the default")
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(config.shard_count, cpus);
    assert!(
        value::node_id(&config.node_id).is_ok(),
        "{}",
        config.node_id
    );
    assert_eq!(config.network.listen_addr, addr("127.0.0.1:7777"));
    assert_eq!(config.api.max_request_size_bytes, 16 * MIB as usize);
    let query = &config.query;
    assert_eq!(
        (
            query.default_limit,
            query.max_results,
            query.timeout_seconds
        ),
        (1000, 1_000_000, 120)
    );
    assert_eq!(
        (query.max_timeout_seconds, query.max_concurrent_queries),
        (300, 50)
    );
    assert_eq!(query.max_result_bytes, 64 * MIB as usize);
    let storage = &config.storage;
    assert_eq!(storage.data_dir, Path::new("./timberdb-data"));
    assert_eq!(storage.wal_dir, Path::new("./timberdb-data/wal"));
    assert_eq!(
        storage.block_rotation,
        BlockRotation::Size { bytes: 8 * MIB }
    );
    assert_eq!(
        (storage.compression, storage.compression_level),
        (Compression::Zstd, 1)
    );
    assert!(storage.sync_writes);
    assert_eq!(storage.fsync_interval_ms, 1000);
    assert_eq!(
        (storage.retention_days, storage.max_storage_size_bytes),
        (None, None)
    );
    assert_eq!(storage.wal_segment_size_bytes, 64 * MIB);
    assert_eq!(storage.wal_size_max_bytes, 1024 * MIB);
    assert_eq!(storage.active_block_memory_max_bytes, 256 * MIB);
    assert_eq!(config.logging.level, "info");
    assert_eq!(config.logging.format, LogFormat::Plain);
}

#[test]
fn each_layer_overrides_the_one_below() {
    let file = toml_file(
        r#"
        shards = 3
        [node]
        id = "from-file"
        [network]
        listen_addr = "0.0.0.0:1000"
        [storage]
        data_dir = "/file/data"
        compression = "zstd"
        compression_level = 19
        sync_writes = false
        [logging]
        level = "debug"
        "#,
    );
    let path = file.path.to_str().expect("utf-8");
    let env = [
        ("TIMBERDB_DATA_DIR", "/env/data"),
        ("TIMBERDB_LISTEN", "0.0.0.0:2000"),
        ("TIMBERDB_NODE_ID", "from-env"),
        ("TIMBERDB_COMPRESSION", "GZIP"),
        ("TIMBERDB_COMPRESSION_LEVEL", "9"),
        ("TIMBERDB_LOG_LEVEL", "WARN"),
    ];
    let flags = [
        "--config",
        path,
        "--data-dir",
        "/flag/data",
        "--node-id",
        "from-flag",
    ];
    let config = load_config(&flags, &env);
    assert_eq!(
        config.storage.data_dir,
        Path::new("/flag/data"),
        "flag beats env and file"
    );
    assert_eq!(config.node_id, "from-flag", "flag beats env and file");
    assert_eq!(
        config.network.listen_addr,
        addr("0.0.0.0:2000"),
        "env beats file"
    );
    assert_eq!(
        config.storage.compression,
        Compression::Gzip,
        "env beats file"
    );
    assert_eq!(config.storage.compression_level, 9, "env beats file");
    assert_eq!(config.logging.level, "warn", "env beats file, lower-cased");
    assert_eq!(config.shard_count, 3, "file beats default");
    assert!(!config.storage.sync_writes, "file beats default");

    let without_flags = load_config(&["--config", path], &env);
    assert_eq!(without_flags.storage.data_dir, Path::new("/env/data"));
    let file_only = load_config(&["--config", path], &[]);
    assert_eq!(file_only.storage.data_dir, Path::new("/file/data"));
    assert_eq!(file_only.network.listen_addr, addr("0.0.0.0:1000"));
    assert_eq!(file_only.storage.compression, Compression::Zstd);
}

#[test]
fn config_path_comes_from_flag_or_environment() {
    let env_file = toml_file("[node]\nid = \"env-file\"\n");
    let flag_file = toml_file("[node]\nid = \"flag-file\"\n");
    let env_path = env_file.path.to_str().expect("utf-8");
    let flag_path = flag_file.path.to_str().expect("utf-8");
    let from_env = load_config(&[], &[("TIMBERDB_CONFIG", env_path)]);
    assert_eq!(from_env.node_id, "env-file");
    let both = load_config(&["--config", flag_path], &[("TIMBERDB_CONFIG", env_path)]);
    assert_eq!(both.node_id, "flag-file");
    let missing = load(&["--config", "/nonexistent/timberdb.toml"], &[]).expect_err("missing");
    assert!(missing
        .to_string()
        .starts_with("cannot read config file /nonexistent/timberdb.toml"));
}

#[test]
fn seed_readme_sections_load_with_warnings() {
    let file = toml_file(SEED_SECTIONS);
    let path = file.path.to_str().expect("utf-8");
    let loaded = load(&["--config", path], &[]).expect("seed sections load");
    let config = loaded.command.config().expect("a server command");
    let storage = &config.storage;
    assert_eq!(storage.data_dir, Path::new("/var/lib/timberdb/data"));
    assert_eq!(storage.wal_dir, Path::new("/var/lib/timberdb/wal"));
    assert_eq!(
        storage.block_rotation,
        BlockRotation::Time { seconds: 3600 }
    );
    assert_eq!(
        (storage.compression, storage.compression_level),
        (Compression::Lz4, 3)
    );
    assert_eq!(storage.retention_days, Some(90));
    assert_eq!(storage.max_storage_size_bytes, Some(2_199_023_255_552));
    assert!(storage.sync_writes);
    assert_eq!(storage.fsync_interval_ms, 1000);
    assert_eq!(storage.active_block_memory_max_bytes, 64 * MIB);
    assert_eq!(config.network.listen_addr, addr("0.0.0.0:7777"));
    assert_eq!(config.api.max_request_size_bytes, 16 * MIB as usize);
    assert_eq!(config.query.timeout_seconds, 120);
    assert_eq!(config.query.max_concurrent_queries, 50);
    assert_eq!(config.logging.format, LogFormat::Json);

    let warnings = loaded.warnings.join("\n");
    let expected = [
        format!("ignoring unknown key network.peers in {path}: not implemented"),
        format!("ignoring unknown section [storage.advanced] in {path}: not implemented"),
        format!("ignoring unknown section [network.tls] in {path}"),
        format!("ignoring unknown key storage.batch_size in {path}"),
        "api.bind_addr in".to_string(),
        "the HTTP API listens on network.listen_addr".to_string(),
        "ignoring unknown section [metrics]".to_string(),
        "ignoring unknown key logging.output".to_string(),
    ];
    for needle in expected {
        assert!(warnings.contains(&needle), "no {needle:?} in:\n{warnings}");
    }
}

#[test]
fn seed_readme_node_block_is_a_syntax_error_with_line() {
    let (message, path) = file_error(SEED_NODE);
    let line = SEED_NODE
        .lines()
        .position(|l| l.starts_with("tags = {"))
        .expect("tags")
        + 1;
    let prefix = format!(
        "config error in {}: TOML syntax error at line ",
        path.display()
    );
    assert!(message.starts_with(&prefix), "{message}");
    let reported: usize = message[prefix.len()..]
        .split(',')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("line number");
    assert!(
        (line..=line + 1).contains(&reported),
        "tags at {line}: {message}"
    );
}

#[test]
fn syntax_error_reports_line_and_column() {
    let (message, path) = file_error("[storage]\ndata_dir = \"/x\"\ncompression = \n");
    let expected = format!(
        "config error in {}: TOML syntax error at line 3",
        path.display()
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(message.contains("column"), "{message}");
    let (message, _) = file_error("[storage\n");
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn invalid_compression_names_key_value_and_choices() {
    let (message, path) = file_error("[storage]\ncompression = \"brotli\"\n");
    assert_eq!(
        message,
        format!(
            "config error in {}: storage.compression = \"brotli\": expected one of None, LZ4, \
             Zstd, Snappy, Gzip",
            path.display()
        )
    );
    let message = env_error(&[("TIMBERDB_COMPRESSION", "brotli")]);
    assert!(message.starts_with("config error in environment: TIMBERDB_COMPRESSION = \"brotli\""));
}

#[test]
fn compression_level_is_checked_per_codec() {
    let (message, _) = file_error("[storage]\ncompression = \"Zstd\"\ncompression_level = 30\n");
    assert!(
        message.contains("storage.compression_level = 30: expected 1..=22 for Zstd"),
        "{message}"
    );
    let (message, _) = file_error("[storage]\ncompression = \"gzip\"\ncompression_level = 10\n");
    assert!(
        message.contains("storage.compression_level = 10: expected 0..=9 for Gzip"),
        "{message}"
    );
    let (message, _) = file_error("[storage]\ncompression_level = \"high\"\n");
    assert!(
        message.contains("storage.compression_level = \"high\""),
        "{message}"
    );
    let message = env_error(&[
        ("TIMBERDB_COMPRESSION", "zstd"),
        ("TIMBERDB_COMPRESSION_LEVEL", "23"),
    ]);
    assert!(
        message.contains("TIMBERDB_COMPRESSION_LEVEL = 23: expected 1..=22"),
        "{message}"
    );
    let lz4 = toml_file("[storage]\ncompression = \"LZ4\"\ncompression_level = 99\n");
    let config = load_config(&["--config", lz4.path.to_str().expect("utf-8")], &[]);
    assert_eq!(config.storage.compression_level, 99, "ignored for LZ4");
}

#[test]
fn block_rotation_forms_and_errors() {
    let cases = [
        (
            "{ type = \"count\", value = 100000 }",
            BlockRotation::Count { entries: 100_000 },
        ),
        (
            "{ type = \"Size\", value = \"16MiB\" }",
            BlockRotation::Size { bytes: 16 * MIB },
        ),
        ("\"time:60\"", BlockRotation::Time { seconds: 60 }),
    ];
    for (text, expected) in cases {
        let file = toml_file(&format!("[storage]\nblock_rotation = {text}\n"));
        let config = load_config(&["--config", file.path.to_str().expect("utf-8")], &[]);
        assert_eq!(config.storage.block_rotation, expected, "{text}");
    }
    for (var, expected) in [
        ("size:8388608", BlockRotation::Size { bytes: 8 * MIB }),
        ("time:3600", BlockRotation::Time { seconds: 3600 }),
        ("count:100000", BlockRotation::Count { entries: 100_000 }),
    ] {
        let config = load_config(&[], &[("TIMBERDB_BLOCK_ROTATION", var)]);
        assert_eq!(config.storage.block_rotation, expected, "{var}");
    }
    for bad in [
        "{ type = \"weekly\", value = 1 }",
        "{ type = \"time\" }",
        "{ type = \"time\", value = -5 }",
        "42",
    ] {
        let (message, _) = file_error(&format!("[storage]\nblock_rotation = {bad}\n"));
        assert!(message.contains("storage.block_rotation = "), "{message}");
        assert!(
            message.contains("expected { type = \"time\" | \"size\" | \"count\""),
            "{message}"
        );
    }
    let (message, _) = file_error("[storage]\nblock_rotation = { type = \"time\", value = 0 }\n");
    assert!(
        message.contains("expected a time rotation value between 1 and 604800"),
        "{message}"
    );
    let (message, _) = file_error(
        "[storage]\nblock_rotation = { type = \"size\", value = 536870912 }\nwrite_buffer_size = 268435456\n",
    );
    assert!(
        message.contains("storage.block_rotation = size:536870912"),
        "{message}"
    );
    assert!(message.contains("storage.write_buffer_size"), "{message}");
    let message = env_error(&[("TIMBERDB_BLOCK_ROTATION", "weekly:1")]);
    assert!(
        message.contains("TIMBERDB_BLOCK_ROTATION = \"weekly:1\""),
        "{message}"
    );
}

#[test]
fn fsync_and_retention_ranges() {
    let (message, path) = file_error("[storage]\nfsync_interval = 0\n");
    assert_eq!(
        message,
        format!(
            "config error in {}: storage.fsync_interval = 0: expected a value between 1 and 60000",
            path.display()
        )
    );
    let message = env_error(&[("TIMBERDB_FSYNC_INTERVAL", "60001")]);
    assert!(
        message.contains("TIMBERDB_FSYNC_INTERVAL = 60001"),
        "{message}"
    );
    let (message, _) = file_error("[storage]\nretention_days = 0\n");
    assert!(message.contains("storage.retention_days = 0"), "{message}");
    let (message, _) = file_error("[storage]\nsync_writes = \"yes\"\n");
    assert!(
        message.contains("storage.sync_writes = \"yes\": expected true or false"),
        "{message}"
    );
    let message = env_error(&[("TIMBERDB_SYNC_WRITES", "maybe")]);
    assert!(
        message.contains("TIMBERDB_SYNC_WRITES = \"maybe\""),
        "{message}"
    );
    let config = load_config(
        &[],
        &[
            ("TIMBERDB_SYNC_WRITES", "off"),
            ("TIMBERDB_RETENTION_DAYS", "30"),
        ],
    );
    assert!(!config.storage.sync_writes);
    assert_eq!(config.storage.retention_days, Some(30));
}

#[test]
fn listen_addr_must_be_ip_and_port() {
    let (message, _) = file_error("[network]\nlisten_addr = \"localhost\"\n");
    assert!(
        message.contains("network.listen_addr = \"localhost\": expected an IP address and port"),
        "{message}"
    );
    let (message, _) = file_error("[network]\nlisten_addr = 7777\n");
    assert!(
        message.contains("network.listen_addr = 7777: expected a quoted string, not integer"),
        "{message}"
    );
    let message = env_error(&[("TIMBERDB_LISTEN_ADDR", "nowhere")]);
    assert!(
        message.contains("TIMBERDB_LISTEN_ADDR = \"nowhere\""),
        "{message}"
    );
    let err = load(&["--listen", "nowhere"], &[]).expect_err("bad flag");
    assert!(err.to_string().contains("--listen"), "{err}");
    let config = load_config(&[], &[("TIMBERDB_LISTEN_ADDR", "[::1]:9000")]);
    assert_eq!(config.network.listen_addr, addr("[::1]:9000"));
    let message = env_error(&[
        ("TIMBERDB_LISTEN", "[::1]:1"),
        ("TIMBERDB_LISTEN_ADDR", "[::1]:2"),
    ]);
    assert!(
        message.contains("TIMBERDB_LISTEN=\"[::1]:1\" and TIMBERDB_LISTEN_ADDR"),
        "{message}"
    );
}

#[test]
fn shards_must_be_numeric_and_bounded() {
    let (message, _) = file_error("shards = \"many\"\n");
    assert!(
        message.contains("shards = \"many\": expected a whole number of shards"),
        "{message}"
    );
    let (message, _) = file_error("[server]\nshards = -1\n");
    assert!(message.contains("server.shards = -1"), "{message}");
    let message = env_error(&[("TIMBERDB_SHARDS", "abc")]);
    assert!(message.contains("TIMBERDB_SHARDS = \"abc\""), "{message}");
    let err = load(&["--shards", "abc"], &[]).expect_err("bad flag");
    assert!(matches!(err, ConfigError::Usage { .. }) && err.exit_code() == 2);
    assert!(err.to_string().contains("--shards"), "{err}");
    let err = load(&["--shards", "5000"], &[]).expect_err("too many");
    assert_eq!(
        err.to_string(),
        "config error in command line: --shards = 5000: expected a value between 0 and 1024"
    );
    assert_eq!(
        load_config(&["--shards", "2"], &[("TIMBERDB_SHARDS", "4")]).shard_count,
        2
    );
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(load_config(&["--shards", "auto"], &[]).shard_count, cpus);
    let server = toml_file("[server]\nshards = 5\n");
    let config = load_config(&["--config", server.path.to_str().expect("utf-8")], &[]);
    assert_eq!(config.shard_count, 5);
    let (message, _) = file_error("shards = 2\n[server]\nshards = 3\n");
    assert!(
        message.contains("shards and server.shards are both set"),
        "{message}"
    );
}

#[test]
fn wal_sizes_are_aligned_and_related() {
    let (message, _) = file_error("[storage]\nwal_segment_size = 1048577\n");
    assert!(
        message.contains("storage.wal_segment_size = 1048577: expected a multiple of 4096"),
        "{message}"
    );
    let (message, _) = file_error("[storage]\nwal_segment_size = \"768MiB\"\n");
    assert!(
        message.contains("storage.wal_segment_size = 805306368"),
        "{message}"
    );
    assert!(message.contains("at least twice"), "{message}");
    let (message, _) = file_error("[storage]\nwal_max_size = 100000000\n");
    assert!(
        message.contains("storage.wal_max_size = 100000000"),
        "{message}"
    );
    let (message, _) = file_error("[storage]\nwal_segment_size = 4096\n");
    assert!(
        message.contains("expected a value between 1048576 and 1073741824"),
        "{message}"
    );
}

#[test]
fn other_invalid_values_name_their_key() {
    let cases = [
        (
            "[query]\ndefault_limit = 5000\nmax_results = 100\n",
            "query.default_limit = 5000",
        ),
        ("[query]\ntimeout = 600\n", "query.timeout = 600"),
        (
            "[query]\nmax_concurrent_queries = 0\n",
            "query.max_concurrent_queries = 0",
        ),
        (
            "[api]\nmax_request_size = 10\n",
            "api.max_request_size = 10",
        ),
        (
            "[api]\nmax_request_size = \"16 furlongs\"\n",
            "api.max_request_size = \"16 furlongs\"",
        ),
        (
            "[logging]\nlevel = \"verbose\"\n",
            "logging.level = \"verbose\": expected one of trace",
        ),
        (
            "[logging]\nformat = \"logfmt\"\n",
            "logging.format = \"logfmt\": expected plain or json",
        ),
        ("[node]\nid = \"has space\"\n", "node.id = \"has space\""),
        (
            "[storage]\ndata_dir = 5\n",
            "storage.data_dir = 5: expected a quoted string",
        ),
        (
            "[storage]\nmax_storage_size = 10\n",
            "storage.max_storage_size = 10",
        ),
        ("storage = 5\n", "storage = 5: expected a table [storage]"),
    ];
    for (text, needle) in cases {
        let (message, path) = file_error(text);
        assert!(
            message.starts_with(&format!("config error in {}: ", path.display())),
            "{message}"
        );
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }
    let message = env_error(&[("TIMBERDB_MAX_REQUEST_SIZE", "2GiB")]);
    assert!(
        message.contains("TIMBERDB_MAX_REQUEST_SIZE = 2147483648"),
        "{message}"
    );
}

#[test]
fn max_result_bytes_from_file_and_environment() {
    let file = toml_file("[query]\nmax_result_bytes = \"8MiB\"\n");
    let path = file.path.to_str().expect("utf-8");
    let from_file = load_config(&["--config", path], &[]);
    assert_eq!(from_file.query.max_result_bytes, 8 * MIB as usize);
    let env_wins = load_config(
        &["--config", path],
        &[("TIMBERDB_QUERY_MAX_RESULT_BYTES", "4096")],
    );
    assert_eq!(env_wins.query.max_result_bytes, 4096);
    let (message, _) = file_error("[query]\nmax_result_bytes = 10\n");
    assert!(message.contains("query.max_result_bytes = 10"), "{message}");
    let message = env_error(&[("TIMBERDB_QUERY_MAX_RESULT_BYTES", "8GiB")]);
    assert!(
        message.contains("TIMBERDB_QUERY_MAX_RESULT_BYTES = 8589934592"),
        "{message}"
    );
    assert!(from_file
        .to_toml_summary()
        .contains("query.max_result_bytes = 8388608"));
}

#[test]
fn wal_dir_is_derived_after_merging_unless_set() {
    let file = toml_file("[storage]\ndata_dir = \"/file/data\"\n");
    let path = file.path.to_str().expect("utf-8");
    let derived = load_config(&["--config", path], &[]);
    assert_eq!(derived.storage.wal_dir, Path::new("/file/data/wal"));
    let moved = load_config(&["--config", path, "--data-dir", "/flag/data"], &[]);
    assert_eq!(
        moved.storage.wal_dir,
        Path::new("/flag/data/wal"),
        "derived from the final data_dir"
    );

    let explicit = toml_file("[storage]\ndata_dir = \"/file/data\"\nwal_dir = \"/fast/wal\"\n");
    let path = explicit.path.to_str().expect("utf-8");
    let kept = load_config(&["--config", path, "--data-dir", "/flag/data"], &[]);
    assert_eq!(kept.storage.wal_dir, Path::new("/fast/wal"));
    let env_wal = load_config(&[], &[("TIMBERDB_WAL_DIR", "/env/wal")]);
    assert_eq!(env_wal.storage.wal_dir, Path::new("/env/wal"));
}

#[test]
fn snapshot_dir_is_under_the_final_data_dir_unless_set() {
    let default = load_config(&["--data-dir", "/flag/data"], &[]);
    assert_eq!(default.storage.snapshot_dir, None);
    assert_eq!(
        default.storage.snapshot_root(),
        Path::new("/flag/data/snapshots")
    );
    let file = toml_file("[storage]\nsnapshot_dir = \"snaps\"\n");
    let path = file.path.to_str().expect("utf-8");
    let from_file = load_config(&["--config", path], &[]);
    let file_dir = file.path.parent().expect("a directory");
    assert_eq!(
        from_file.storage.snapshot_root(),
        file_dir.join("snaps"),
        "relative to the file"
    );
    let from_env = load_config(
        &["--config", path],
        &[("TIMBERDB_SNAPSHOT_DIR", "/env/snaps")],
    );
    assert_eq!(from_env.storage.snapshot_root(), Path::new("/env/snaps"));
    let summary = from_env.to_toml_summary();
    assert!(
        summary.contains("storage.snapshot_dir = \"/env/snaps\""),
        "{summary}"
    );
}

#[test]
fn every_environment_variable_is_read_and_named_in_errors() {
    for (var, key) in env::VARIABLES {
        let result = load(&[], &[(var, "\u{7f}bad")]);
        if matches!(
            key,
            key::Key::DataDir | key::Key::WalDir | key::Key::SnapshotDir
        ) {
            let config = result.expect("any non-empty path is accepted");
            let storage = &config.command.config().expect("a server command").storage;
            let bad = PathBuf::from("\u{7f}bad");
            assert!(
                [&storage.data_dir, &storage.wal_dir].contains(&&bad)
                    || storage.snapshot_dir.as_ref() == Some(&bad)
            );
            continue;
        }
        let message = result.expect_err(var).to_string();
        let expected = format!("config error in environment: {var} = \"\\u{{7f}}bad\": expected");
        assert!(message.starts_with(&expected), "{message}");
    }
}

#[test]
fn empty_environment_values_count_as_unset() {
    let config = load_config(&[], &[("TIMBERDB_DATA_DIR", ""), ("TIMBERDB_SHARDS", "")]);
    assert_eq!(config.storage.data_dir, Path::new("./timberdb-data"));
}

#[test]
fn subcommands_and_global_options() {
    let loaded = load(&["check", "--data-dir", "/d"], &[]).expect("check");
    let Command::Check(config) = loaded.command else {
        panic!("expected check")
    };
    assert_eq!(config.storage.data_dir, Path::new("/d"));
    let loaded = load(&["--listen", "0.0.0.0:1", "serve"], &[]).expect("serve");
    assert!(matches!(loaded.command, Command::Serve(_)));
    let err = load(&["--bogus"], &[]).expect_err("unknown flag");
    let message = err.to_string();
    assert!(
        message.starts_with("invalid command line: unexpected argument '--bogus'"),
        "{message}"
    );
    assert!(message.contains("Usage: timberdb"), "{message}");
}

#[test]
fn help_and_version_are_clap_exits_with_defaults_in_help() {
    let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
    let help = cli::parse(args(&["timberdb", "--help"])).expect_err("help");
    assert!(cli::is_help_or_version(&help));
    let text = help.render().to_string();
    let defaults = [
        "./timberdb-data",
        "127.0.0.1:7777",
        "TIMBERDB_CONFIG",
        "TIMBERDB_SHARDS",
        "<data-dir>/wal",
        "check",
    ];
    for needle in defaults {
        assert!(text.contains(needle), "help lacks {needle}:\n{text}");
    }
    assert_eq!(defaults::LISTEN_ADDR_DEFAULT.to_string(), "127.0.0.1:7777");
    assert_eq!(defaults::DATA_DIR_DEFAULT, "./timberdb-data");
    let version = cli::parse(args(&["timberdb", "--version"])).expect_err("version");
    assert!(cli::is_help_or_version(&version));
}

#[test]
fn summary_is_toml_that_loads_back_to_the_same_config() {
    let file = toml_file(
        "shards = 3\n[storage]\nretention_days = 7\nmax_storage_size = \"10GiB\"\n\
         data_dir = \"/tmp/with \\\"quotes\\\"\"\ncompression = \"zstd\"\n\
         block_rotation = { type = \"count\", value = 5000 }\n[logging]\nformat = \"json\"\n",
    );
    let original = load_config(&["--config", file.path.to_str().expect("utf-8")], &[]);
    let summary = original.to_toml_summary();
    assert!(
        summary.contains("storage.compression = \"Zstd\"\n"),
        "{summary}"
    );
    assert!(summary
        .lines()
        .all(|line| line.contains(" = ") || line.starts_with('#')));
    let reread = toml_file(&summary);
    let reloaded = load(&["--config", reread.path.to_str().expect("utf-8")], &[]).expect("reload");
    assert!(reloaded.warnings.is_empty(), "{:?}", reloaded.warnings);
    assert_eq!(
        reloaded.command.config().expect("a server command"),
        &original
    );
    let defaults = load_config(&[], &[]).to_toml_summary();
    assert!(
        defaults.contains("# storage.retention_days not set"),
        "{defaults}"
    );
}

#[test]
fn docs_example_config_loads_without_warnings() {
    let docs = include_str!("../../docs/CONFIG.md");
    let example = docs.split("## Example").nth(1).expect("example section");
    let toml = example
        .split("```toml")
        .nth(1)
        .and_then(|rest| rest.split("```").next());
    let file = toml_file(toml.expect("toml block"));
    let loaded = load(&["--config", file.path.to_str().expect("utf-8")], &[]).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded
            .command
            .config()
            .expect("a server command")
            .storage
            .compression,
        Compression::Zstd
    );
}

#[test]
fn relative_paths_in_a_file_are_relative_to_the_file() {
    let file = toml_file("[storage]\ndata_dir = \"data\"\nwal_dir = \"../wal\"\n");
    let dir = file.path.parent().expect("the file has a directory");
    let path = file.path.to_str().expect("utf-8");
    let config = load_config(&["--config", path], &[]);
    assert_eq!(config.storage.data_dir, dir.join("data"));
    assert_eq!(config.storage.wal_dir, dir.join("../wal"));
    let derived = toml_file("[storage]\ndata_dir = \"./data\"\n");
    let derived_dir = derived.path.parent().expect("directory");
    let config = load_config(&["--config", derived.path.to_str().expect("utf-8")], &[]);
    assert_eq!(config.storage.wal_dir, derived_dir.join("./data/wal"));
    // Flags and the environment stay relative to the working directory.
    let flagged = load_config(&["--config", path, "--data-dir", "rel"], &[]);
    assert_eq!(flagged.storage.data_dir, Path::new("rel"));
}

#[test]
fn paths_become_absolute_against_the_working_directory() {
    let mut storage = load_config(&["--data-dir", "./rel/./x", "--wal-dir", "/abs/w"], &[]).storage;
    storage.make_paths_absolute(Path::new("/work/dir"));
    assert_eq!(storage.data_dir, Path::new("/work/dir/rel/x"));
    assert_eq!(storage.wal_dir, Path::new("/abs/w"));
    let mut defaults = load_config(&[], &[]).storage;
    defaults.make_paths_absolute(Path::new("/w"));
    assert_eq!(defaults.data_dir, Path::new("/w/timberdb-data"));
    assert_eq!(defaults.wal_dir, Path::new("/w/timberdb-data/wal"));
}

const PROTOCOLS_FILE: &str = "[elasticsearch]\npath_prefix = \"/es\"\nversion = \"7.17.3\"\n\
    [elasticsearch.mapping]\nmessage = \"log\"\ntags = [\"service.name\", \"kubernetes.pod\"]\n\
    [jsonline]\npartition = \"vl\"\n[loki]\ndefault_partition = \"tenantless\"\n\
    mapping = { source = \"job\" }\n[otlp]\npartition = \"traces-logs\"\n\
    partition_attribute = \"service.namespace\"\n[syslog]\ntcp_listen = \"127.0.0.1:1514\"\n\
    udp_listen = \"0.0.0.0:1514\"\npartition = \"sys\"\nmax_message_size = \"8KiB\"\n\
    max_connections = 10\n";

#[test]
fn protocol_sections_are_read_from_a_file_and_survive_the_summary() {
    let file = toml_file(PROTOCOLS_FILE);
    let loaded = load(&["--config", file.path.to_str().expect("utf-8")], &[]).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let config = loaded.command.config().expect("a server command").clone();
    assert_eq!(config.elasticsearch.path_prefix, "/es");
    assert_eq!(config.elasticsearch.version, "7.17.3");
    assert_eq!(config.elasticsearch.mapping.message, "log");
    assert_eq!(
        config.elasticsearch.mapping.time, "@timestamp",
        "untouched keys keep defaults"
    );
    assert_eq!(
        config.elasticsearch.mapping.tags,
        ["service.name", "kubernetes.pod"]
    );
    assert_eq!(config.jsonline.partition, "vl");
    assert_eq!(config.loki.default_partition, "tenantless");
    assert_eq!(config.loki.mapping.source, "job");
    assert_eq!(config.otlp.partition, "traces-logs");
    assert_eq!(config.otlp.partition_attribute, "service.namespace");
    assert_eq!(
        config.syslog.tcp_listen,
        Some("127.0.0.1:1514".parse().expect("addr"))
    );
    assert_eq!(
        config.syslog.udp_listen,
        Some("0.0.0.0:1514".parse().expect("addr"))
    );
    assert_eq!(config.syslog.partition, "sys");
    assert_eq!(config.syslog.max_message_size_bytes, 8192);
    assert_eq!(config.syslog.max_connections, 10);

    let summary = config.to_toml_summary();
    assert!(
        summary.contains("syslog.tcp_listen = \"127.0.0.1:1514\"\n"),
        "{summary}"
    );
    let reread = toml_file(&summary);
    let reloaded = load(&["--config", reread.path.to_str().expect("utf-8")], &[]).expect("reload");
    assert!(reloaded.warnings.is_empty(), "{:?}", reloaded.warnings);
    // Only the data directory differs: relative paths follow the file.
    let reloaded = reloaded.command.config().expect("a server command");
    assert_eq!(reloaded.elasticsearch, config.elasticsearch);
    assert_eq!(reloaded.jsonline, config.jsonline);
    assert_eq!(reloaded.loki, config.loki);
    assert_eq!(reloaded.otlp, config.otlp);
    assert_eq!(reloaded.syslog, config.syslog);
    let defaults = load_config(&[], &[]);
    assert_eq!(
        defaults.syslog.tcp_listen, None,
        "syslog is off unless asked for"
    );
    assert!(defaults
        .to_toml_summary()
        .contains("# syslog.udp_listen not set: off\n"));
}

#[test]
fn protocol_settings_come_from_the_environment() {
    let config = load_config(
        &[],
        &[
            ("TIMBERDB_SYSLOG_TCP_LISTEN", "127.0.0.1:5514"),
            ("TIMBERDB_OTLP_PARTITION", "otel"),
            ("TIMBERDB_JSONLINE_MAPPING_TAGS", "host, app"),
            ("TIMBERDB_ELASTICSEARCH_VERSION", "8.15.1"),
        ],
    );
    assert_eq!(
        config.syslog.tcp_listen,
        Some("127.0.0.1:5514".parse().expect("addr"))
    );
    assert_eq!(config.otlp.partition, "otel");
    assert_eq!(config.jsonline.mapping.tags, ["host", "app"]);
    assert_eq!(config.elasticsearch.version, "8.15.1");
    let error = env_error(&[("TIMBERDB_LOKI_DEFAULT_PARTITION", "a b")]);
    assert!(error.contains("TIMBERDB_LOKI_DEFAULT_PARTITION"), "{error}");
    assert!(error.contains("may contain only letters"), "{error}");
}

#[test]
fn bad_protocol_settings_name_the_key_and_what_is_expected() {
    let cases = [
        (
            "[elasticsearch]\npath_prefix = \"es/\"\n",
            "elasticsearch.path_prefix",
            "leading '/'",
        ),
        (
            "[elasticsearch]\nversion = \"eight\"\n",
            "elasticsearch.version",
            "8.17.0",
        ),
        (
            "[otlp]\npartition = \"\"\n",
            "otlp.partition",
            "1 to 128 bytes",
        ),
        (
            "[syslog]\nmax_message_size = 10\n",
            "syslog.max_message_size",
            "between 480",
        ),
        (
            "[syslog]\nmax_connections = 0\n",
            "syslog.max_connections",
            "between 1",
        ),
        (
            "[syslog]\ntcp_listen = \"localhost\"\n",
            "syslog.tcp_listen",
            "IP address and port",
        ),
        (
            "[loki.mapping]\ntags = \"\\u0001\"\n",
            "loki.mapping.tags",
            "control characters",
        ),
        ("loki = 3\n", "loki", "expected a table [loki]"),
    ];
    for (text, key, expected) in cases {
        let (error, _) = file_error(text);
        assert!(error.contains(&format!("{key} = ")), "{text}: {error}");
        assert!(error.contains(expected), "{text}: {error}");
    }
    let (error, _) = file_error(
        "[network]\nlisten_addr = \"127.0.0.1:9000\"\n[syslog]\ntcp_listen = \"127.0.0.1:9000\"\n",
    );
    assert!(error.contains("syslog.tcp_listen"), "{error}");
    assert!(error.contains("same TCP address"), "{error}");
}

#[test]
fn unknown_protocol_keys_are_warnings() {
    let file = toml_file("[loki]\nretries = 3\n[otlp.mapping]\ntrace = \"x\"\n");
    let loaded = load(&["--config", file.path.to_str().expect("utf-8")], &[]).expect("loads");
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains("loki.retries"),
        "{:?}",
        loaded.warnings
    );
    assert!(
        loaded.warnings[1].contains("otlp.mapping.trace"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn retention_check_interval_and_storage_budget_from_file_and_environment() {
    assert_eq!(
        load_config(&[], &[])
            .storage
            .retention_check_interval_seconds,
        60
    );
    let file = toml_file("[storage]\nretention_check_interval = 5\nmax_storage_size = \"2GiB\"\n");
    let path = file.path.to_str().expect("utf-8 path");
    let storage = load_config(&["--config", path], &[]).storage;
    assert_eq!(storage.retention_check_interval_seconds, 5);
    assert_eq!(storage.max_storage_size_bytes, Some(2 << 30));
    let storage = load_config(
        &["--config", path],
        &[
            ("TIMBERDB_RETENTION_CHECK_INTERVAL", "1"),
            ("TIMBERDB_MAX_STORAGE_SIZE", "none"),
        ],
    )
    .storage;
    assert_eq!(storage.retention_check_interval_seconds, 1);
    assert_eq!(storage.max_storage_size_bytes, None);
    let (message, _) = file_error("[storage]\nretention_check_interval = 0\n");
    assert!(
        message
            .contains("storage.retention_check_interval = 0: expected a value between 1 and 86400"),
        "{message}"
    );
    let message = env_error(&[("TIMBERDB_MAX_STORAGE_SIZE", "12")]);
    assert!(message.contains("TIMBERDB_MAX_STORAGE_SIZE"), "{message}");
}

#[test]
fn scrub_rate_from_file_or_environment_within_its_range_and_the_scrub_command() {
    let config = load_config(&[], &[]);
    assert_eq!(config.storage.scrub_rate_bytes_per_s, 64 * MIB);
    let file = toml_file("[storage]\nscrub_rate = \"16MiB\"\n");
    let path = file.path.to_str().unwrap();
    let config = load_config(&["--config", path], &[]);
    assert_eq!(config.storage.scrub_rate_bytes_per_s, 16 * MIB);
    let config = load_config(&["--config", path], &[("TIMBERDB_SCRUB_RATE", "1048576")]);
    assert_eq!(config.storage.scrub_rate_bytes_per_s, MIB);
    let error = env_error(&[("TIMBERDB_SCRUB_RATE", "1")]);
    assert!(error.contains("TIMBERDB_SCRUB_RATE"), "{error}");
    let (error, _) = file_error("[storage]\nscrub_rate = 0\n");
    assert!(error.contains("storage.scrub_rate"), "{error}");

    let loaded = load(
        &["scrub", "--data-dir", "/d", "--quarantine", "--json"],
        &[],
    )
    .unwrap();
    let Command::Scrub(config, args) = loaded.command else {
        panic!("scrub: {:?}", loaded.command);
    };
    assert_eq!(config.storage.data_dir, PathBuf::from("/d"));
    assert!(args.quarantine && args.json);
    let loaded = load(&["scrub"], &[]).unwrap();
    assert!(matches!(loaded.command, Command::Scrub(_, args) if !args.quarantine && !args.json));
    let usage = load(&["scrub", "--bogus"], &[]).unwrap_err();
    assert_eq!(usage.exit_code(), 2, "{usage}");
}

#[test]
fn on_damaged_block_from_file_or_environment_defaults_to_quarantine() {
    use super::OnDamagedBlock;
    let config = load_config(&[], &[]);
    assert_eq!(config.storage.on_damaged_block, OnDamagedBlock::Quarantine);
    let file = toml_file("[storage]\non_damaged_block = \"fail\"\n");
    let path = file.path.to_str().unwrap();
    let config = load_config(&["--config", path], &[]);
    assert_eq!(config.storage.on_damaged_block, OnDamagedBlock::Fail);
    let env = [("TIMBERDB_ON_DAMAGED_BLOCK", "Quarantine")];
    let config = load_config(&["--config", path], &env);
    assert_eq!(config.storage.on_damaged_block, OnDamagedBlock::Quarantine);
    let error = env_error(&[("TIMBERDB_ON_DAMAGED_BLOCK", "ignore")]);
    assert!(error.contains("TIMBERDB_ON_DAMAGED_BLOCK"), "{error}");
    assert!(error.contains("\"quarantine\""), "{error}");
    let (error, _) = file_error("[storage]\non_damaged_block = 1\n");
    assert!(error.contains("storage.on_damaged_block"), "{error}");
}
