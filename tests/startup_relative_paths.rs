//! The README's main command, as a new user runs it: the server started in a fresh working
//! directory with no `--data-dir` (the default `./timberdb-data`), and the other ways of naming
//! directories relative to somewhere: a relative `--data-dir`, a relative `--wal-dir`, a path
//! through a symlink, and a config file with relative paths (relative to the file's
//! directory). Each case ingests, stops gracefully (blocks sealed into segment files), starts
//! again, ingests more, is SIGKILLed (the WAL replayed), starts again, and reads every entry
//! back; the files must be where the rule says, and the start-up line must name them.
//!
//! Regression test for issue 9: a relative data directory stopped start-up, because glommio's
//! directory handles do not take relative paths.

mod common;

use std::path::{Path, PathBuf};

use common::{Server, ServerBuilder};
use serde_json::json;

/// A fresh working directory for one case, removed at the end.
fn workdir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().canonicalize().expect("canonical tempdir");
    (temp, dir)
}

fn entries(tag: &str, count: usize) -> Vec<serde_json::Value> {
    (0..count)
        .map(|index| json!({"source": "web-1", "level": "info", "message": format!("{tag} line {index}")}))
        .collect()
}

fn ingest(server: &Server, tag: &str, count: usize) {
    let response = server.ingest_ndjson("app", &entries(tag, count));
    assert_eq!(response.status, 200, "ingest: {}", response.text());
}

fn count(server: &Server) -> u64 {
    let answer = server.query(&json!({"partitions": ["app"], "limit": 0}));
    answer["total_count"].as_u64().expect("total_count")
}

/// Ingests, restarts gracefully, ingests, SIGKILLs and restarts, and checks every entry is
/// back; then that `data_dir` and `wal_dir` hold the files and the start-up line names them.
fn ingest_restart_and_read_back(builder: ServerBuilder, data_dir: &Path, wal_dir: &Path) {
    let mut server = builder.start();
    server.create_partition("app");
    ingest(&server, "first", 50);
    let status = server.terminate();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    server.start_again();
    assert_eq!(count(&server), 50, "{}", server.stderr());
    ingest(&server, "second", 30);
    server.restart(); // SIGKILL: the second batch comes back from the WAL
    assert_eq!(count(&server), 80, "{}", server.stderr());

    assert!(
        data_dir.join("layout.json").is_file() && data_dir.join("catalog.json").is_file(),
        "the data directory is {}",
        data_dir.display()
    );
    assert!(
        data_dir.join("shard-0").is_dir(),
        "shard directories under {}",
        data_dir.display()
    );
    assert!(
        wal_dir.join("shard-0").is_dir(),
        "WAL under {}",
        wal_dir.display()
    );
    let line = &server.listening_line;
    assert!(
        line.contains(&format!("data in {}", data_dir.display()))
            && line.contains(&format!("WAL in {}", wal_dir.display())),
        "the start-up line names the directories: {line}"
    );
}

#[test]
fn the_readme_command_with_no_data_dir_uses_timberdb_data_in_the_working_directory() {
    let (_temp, cwd) = workdir();
    let data_dir = cwd.join("timberdb-data");
    let builder = Server::builder()
        .working_dir(&cwd)
        .without_data_dir_flag(&data_dir);
    ingest_restart_and_read_back(builder, &data_dir, &data_dir.join("wal"));
}

#[test]
fn a_relative_data_dir_is_relative_to_the_working_directory() {
    let (_temp, cwd) = workdir();
    let data_dir = cwd.join("rel1");
    let builder = Server::builder()
        .working_dir(&cwd)
        .without_data_dir_flag(&data_dir)
        .arg("--data-dir")
        .arg("rel1");
    ingest_restart_and_read_back(builder, &data_dir, &data_dir.join("wal"));
}

#[test]
fn a_relative_wal_dir_is_relative_to_the_working_directory() {
    let (_temp, cwd) = workdir();
    let data_dir = cwd.join("data");
    let builder = Server::builder()
        .working_dir(&cwd)
        .without_data_dir_flag(&data_dir)
        .arg("--data-dir")
        .arg("./data")
        .arg("--wal-dir")
        .arg("wal-elsewhere");
    ingest_restart_and_read_back(builder, &data_dir, &cwd.join("wal-elsewhere"));
}

#[test]
fn a_data_dir_through_a_symlink_is_resolved_to_its_target() {
    let (_temp, cwd) = workdir();
    let real = cwd.join("disks/nvme0/timberdb");
    std::fs::create_dir_all(&real).expect("target directory");
    std::os::unix::fs::symlink("disks/nvme0/timberdb", cwd.join("current")).expect("symlink");
    let builder = Server::builder()
        .working_dir(&cwd)
        .without_data_dir_flag(&real)
        .arg("--data-dir")
        .arg("current");
    // The server names (and uses) the target, not the link.
    ingest_restart_and_read_back(builder, &real, &real.join("wal"));
}

#[test]
fn relative_paths_in_a_config_file_are_relative_to_the_file() {
    let (_temp, cwd) = workdir();
    let config_dir = cwd.join("etc");
    let start_dir = cwd.join("somewhere/else");
    std::fs::create_dir_all(&config_dir).expect("config directory");
    std::fs::create_dir_all(&start_dir).expect("start directory");
    std::fs::write(
        config_dir.join("timberdb.toml"),
        "[storage]\ndata_dir = \"data\"\nwal_dir = \"../wal\"\n",
    )
    .expect("write config");
    let builder = Server::builder()
        .working_dir(&start_dir)
        .without_data_dir_flag(&config_dir.join("data"))
        .arg("--config")
        .arg("../../etc/timberdb.toml");
    ingest_restart_and_read_back(builder, &config_dir.join("data"), &cwd.join("wal"));
}
