//! Out of disk space: ingest is refused with 507 and a clear message, and
//! nothing already acknowledged is lost. Uses a small tmpfs (needs root; the
//! test says so and passes vacuously only where mounting is impossible).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Server;
use serde_json::json;

struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status();
        match status {
            Ok(status) if status.success() => Some(Mount(dir.to_path_buf())),
            _ => None,
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk_answers_507_and_keeps_acknowledged_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mount_dir = dir.path().join("small");
    let Some(_mount) = Mount::tmpfs(&mount_dir, "12m") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); ENOSPC handling is not exercised"
        );
        return;
    };
    let config = dir.path().join("small.toml");
    std::fs::write(
        &config,
        "[storage]\nwal_segment_size = 1048576\nwal_max_size = 2097152\nblock_rotation = { type = \"count\", value = 2000 }\ncompression = \"None\"\n",
    )
    .unwrap();
    let server = Server::builder()
        .data_dir(&mount_dir.join("data"))
        .arg("--shards")
        .arg("1")
        .arg("--config")
        .arg(config.to_str().unwrap())
        .start();
    server.create_partition("p");
    let mut acked = 0usize;
    let mut refused = None;
    for batch in 0..400 {
        let lines: Vec<_> = (0..500)
            .map(|i| json!({"message": format!("batch {batch} line {i} {}", "x".repeat(200)), "tags": {"b": batch.to_string()}}))
            .collect();
        let response = server.ingest_ndjson("p", &lines);
        match response.status {
            200 => acked += 500,
            503 => continue,
            _ => {
                refused = Some(response);
                break;
            }
        }
    }
    let refused = refused.expect("a 12 MiB disk must fill up");
    eprintln!(
        "acked {acked} entries before the disk filled; refused with {}",
        refused.text()
    );
    assert_eq!(refused.status, 507, "{}", refused.text());
    assert_eq!(refused.error_code(), "disk_full");
    assert!(refused.header("retry-after").is_some());
    assert!(acked > 0);
    let result = server.query(&json!({"partitions": ["p"], "limit": 0}));
    assert_eq!(
        result["total_count"].as_u64().unwrap() as usize,
        acked,
        "every acknowledged entry is still there"
    );
    // Queries keep working on a full disk.
    assert_eq!(server.get("/health").status, 200);
}
