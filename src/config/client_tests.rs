//! The client subcommands through [`load_from`]: they need no valid server configuration,
//! and find the server from `--server`, `TIMBERDB_SERVER` or the config file's port.

use std::ffi::OsString;

use super::*;
use crate::client::{ClientSubcommand, Invocation};

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

fn invocation(args: &[&str], env: &[(&str, &str)]) -> Invocation {
    match load(args, env) {
        Ok(Loaded {
            command: Command::Client(invocation),
            ..
        }) => invocation,
        Ok(other) => panic!("expected a client command, got {other:?}"),
        Err(error) => panic!("expected a client command, got: {error}"),
    }
}

fn config_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("timberdb.toml");
    std::fs::write(&path, text).expect("write config");
    let path = path.to_str().expect("utf-8").to_string();
    (dir, path)
}

#[test]
fn the_default_server_is_the_default_listen_port_on_loopback() {
    let invocation = invocation(&["query", "level:error"], &[]);
    assert_eq!(invocation.server_url(), "http://127.0.0.1:7777");
    let ClientSubcommand::Query(args) = &invocation.command else {
        panic!("not a query")
    };
    assert_eq!(args.query.as_deref(), Some("level:error"));
}

#[test]
fn server_flag_beats_environment_beats_config_file() {
    let (_dir, path) = config_file("[network]\nlisten_addr = \"0.0.0.0:9123\"\n");
    let env = [("TIMBERDB_SERVER", "http://db:1")];
    assert_eq!(
        invocation(&["--config", &path, "partitions", "ls"], &[]).server_url(),
        "http://127.0.0.1:9123"
    );
    assert_eq!(
        invocation(&["--config", &path, "partitions", "ls"], &env).server_url(),
        "http://db:1"
    );
    assert_eq!(
        invocation(&["partitions", "--server", "http://x:2", "ls"], &env).server_url(),
        "http://x:2"
    );
    assert_eq!(
        invocation(&["partitions", "ls", "--server", "http://x:2"], &env).server_url(),
        "http://x:2"
    );
    assert_eq!(
        invocation(
            &["--config", &path, "tail"],
            &[("TIMBERDB_CONFIG", "/nonexistent")]
        )
        .server_url(),
        "http://127.0.0.1:9123"
    );
}

#[test]
fn a_client_needs_no_valid_server_configuration() {
    // Keys the server would refuse, in the environment and the file.
    let env = [("TIMBERDB_SHARDS", "lots"), ("TIMBERDB_COMPRESSION", "rar")];
    let (_dir, path) = config_file(
        "[storage]\ncompression = \"rar\"\n[network]\nlisten_addr = \"127.0.0.1:9999\"\n",
    );
    assert_eq!(
        invocation(&["--config", &path, "snapshot", "ls"], &env).server_url(),
        "http://127.0.0.1:9999"
    );
    // With --server, not even a missing config file matters.
    assert_eq!(
        invocation(
            &["--config", "/nonexistent.toml", "query", "--server", "h:1"],
            &[]
        )
        .server_url(),
        "h:1"
    );
    // Without it, the file that should hold the port must be readable.
    let error = load(&["--config", "/nonexistent.toml", "query"], &[]).unwrap_err();
    assert!(
        error.to_string().contains("cannot read config file"),
        "{error}"
    );
    let (_dir, bad) = config_file("[network]\nlisten_addr = \"nowhere\"\n");
    let error = load(&["--config", &bad, "query"], &[]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("network.listen_addr = \"nowhere\""),
        "{error}"
    );
}

#[test]
fn client_usage_errors_are_usage_errors() {
    let error = load(&["query", "--limit", "many"], &[]).unwrap_err();
    assert_eq!(error.exit_code(), 2, "{error}");
    let error = load(&["partitions", "create"], &[]).unwrap_err();
    assert_eq!(error.exit_code(), 2, "{error}");
    let error = load(&["partitions", "create", "x", "--tag", "novalue"], &[]).unwrap_err();
    assert!(error.to_string().contains("is not KEY=VALUE"), "{error}");
}

#[test]
fn snapshot_without_an_action_creates_one() {
    let invocation = invocation(&["snapshot"], &[]);
    let ClientSubcommand::Snapshot(args) = invocation.command else {
        panic!("not a snapshot")
    };
    assert_eq!(args.action, None);
}
