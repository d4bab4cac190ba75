//! Small and full disks (issue 13, part 8), each on a loop-mounted ext4
//! image (`common::loop_disk`; skipped without root or a loop device):
//! the server starts on a 96 MiB disk with its defaults, a restart after
//! a crash reuses the WAL instead of allocating more, a preallocation
//! that fails gives its space back, and on a full disk the server starts
//! read-only (queries served, ingest 507, `/ready` 503, `/metrics` says
//! so) and stops promptly on SIGTERM. Every acknowledged entry is checked
//! after a restart.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::loop_disk::{wal_files, LoopDisk};
use common::Server;
use serde_json::json;

const MIB: u64 = 1 << 20;
/// Not a timing assertion: a hang detector far above the ~1 s a stop takes.
const SHUTDOWN_HANG_BOUND: Duration = Duration::from_secs(30);

fn start(data_dir: &Path, shards: &str, config: Option<&Path>) -> Server {
    let mut builder = Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg(shards);
    if let Some(config) = config {
        builder = builder.arg("--config").arg(config.to_str().unwrap());
    }
    builder.start()
}

/// Ingests `count` entries in batches of 100; returns how many were acknowledged.
fn ingest(server: &Server, tag: &str, count: usize) -> usize {
    let mut acked = 0;
    for batch in 0..count / 100 {
        let lines: Vec<_> = (0..100)
            .map(|i| json!({"message": format!("{tag} {batch} {i}"), "tags": {"run": tag}}))
            .collect();
        let response = server.ingest_ndjson("p", &lines);
        assert_eq!(response.status, 200, "{}", response.text());
        acked += 100;
    }
    acked
}

fn count(server: &Server) -> u64 {
    server.query(&json!({"partitions": ["p"], "limit": 0}))["total_count"]
        .as_u64()
        .unwrap()
}

/// SIGTERM, and the time it took to exit (bounded by the harness).
fn stop(server: &mut Server) -> Duration {
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    started.elapsed()
}

#[test]
fn the_default_settings_start_on_a_96_mib_disk() {
    let Some(disk) = LoopDisk::mount(96) else {
        return;
    };
    let data = disk.data_dir();
    // Two shards at 64 MiB of WAL each did not fit before.
    let mut server = start(&data, "2", None);
    assert!(
        server
            .stderr()
            .contains("WAL segments and the WAL bound are sized down"),
        "the start-up log says the WAL was sized to the disk:\n{}",
        server.stderr()
    );
    let total = disk.space().total_bytes;
    for shard in 0..2 {
        let wal_dir = data.join("wal").join(format!("shard-{shard}"));
        for name in wal_files(&wal_dir) {
            let bytes = std::fs::metadata(wal_dir.join(&name)).unwrap().len();
            assert!(bytes <= total / 16, "{name} takes {bytes} of {total} bytes");
        }
    }
    server.create_partition("p");
    let acked = ingest(&server, "small", 2_000);
    assert_eq!(count(&server), acked as u64);
    stop(&mut server);
    server.start_again();
    assert_eq!(
        count(&server),
        acked as u64,
        "every acknowledged entry survives"
    );
    assert_eq!(server.get("/ready").status, 200);
}

#[test]
fn a_restart_after_a_crash_reuses_the_wal_on_a_256_mib_disk() {
    let Some(disk) = LoopDisk::mount(256) else {
        return;
    };
    let data = disk.data_dir();
    let mut server = start(&data, "2", None);
    let free_after_first_start = disk.space().free_bytes;
    // An empty database, killed and started again three times: each start
    // used to preallocate one more WAL segment per shard before
    // reclaiming the last one, so the second start ran out of space.
    for _ in 0..3 {
        server.restart();
        for shard in 0..2 {
            let wal_dir = data.join("wal").join(format!("shard-{shard}"));
            let files = wal_files(&wal_dir);
            assert_eq!(files.len(), 1, "one WAL file per shard: {files:?}");
        }
        assert!(
            disk.space().free_bytes + MIB >= free_after_first_start,
            "a restart takes no more space"
        );
    }
    // With data: a crash keeps unsealed entries in the WAL, the restart
    // replays them and keeps their segment until they are sealed.
    server.create_partition("p");
    let acked = ingest(&server, "crash", 1_000);
    server.restart();
    assert_eq!(count(&server), acked as u64);
    server.restart();
    assert_eq!(count(&server), acked as u64);
    stop(&mut server);
    server.start_again();
    assert_eq!(
        count(&server),
        acked as u64,
        "every acknowledged entry survives"
    );
}

#[test]
fn a_failed_wal_preallocation_gives_its_space_back() {
    let Some(disk) = LoopDisk::mount(96) else {
        return;
    };
    let data = disk.data_dir();
    let config = disk.path("wal8.toml");
    std::fs::write(&config, "[storage]\nwal_segment_size = 8388608\n").unwrap();
    // Data from a first run, so the full-disk start has something to serve.
    let mut server = start(&data, "1", Some(&config));
    server.create_partition("p");
    let acked = ingest(&server, "before", 500);
    server.kill();
    // 3 MiB free: the new WAL segment's 8 MiB preallocation fails part way.
    disk.fill_leaving(3 * MIB);
    let free_before = disk.space().free_bytes;
    assert!(free_before >= 2 * MIB, "{free_before}");
    server.start_again();
    let free_after = disk.space().free_bytes;
    assert!(
        free_after + MIB >= free_before,
        "the failed preallocation was rolled back: {free_before} bytes free before the start, {free_after} after"
    );
    assert!(server
        .stderr()
        .contains("could not be preallocated (rolled back)"));
    assert_eq!(count(&server), acked as u64);
    stop(&mut server);
    let free_after_stop = disk.space().free_bytes;
    assert!(
        free_after_stop + MIB >= free_before,
        "the shutdown's failed allocations were rolled back too: {free_after_stop} bytes free"
    );
    disk.unfill();
    server.start_again();
    assert_eq!(
        count(&server),
        acked as u64,
        "every acknowledged entry survives"
    );
}

#[test]
fn a_full_disk_starts_read_only_and_stops_promptly() {
    let Some(disk) = LoopDisk::mount(96) else {
        return;
    };
    let data = disk.data_dir();
    let mut server = start(&data, "2", None);
    server.create_partition("p");
    let sealed = ingest(&server, "sealed", 500);
    stop(&mut server);
    server.start_again();
    let in_wal = ingest(&server, "wal", 500);
    // SIGKILL: these entries are only in the WAL now.
    server.kill();
    disk.fill();
    assert!(disk.space().free_bytes < MIB);

    // The .dma-probe file, the manifest generation and the WAL segment
    // cannot be written: the server starts anyway.
    server.start_again();
    let acked = (sealed + in_wal) as u64;
    assert_eq!(count(&server), acked, "queries are served on a full disk");
    let refused = server.ingest_ndjson("p", &[json!({"message": "no room"})]);
    assert_eq!(refused.status, 507, "{}", refused.text());
    assert_eq!(refused.error_code(), "disk_full");
    assert!(
        refused.error_message().contains("free"),
        "{}",
        refused.text()
    );
    assert!(refused.header("retry-after").is_some());
    let ready = server.get("/ready");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.error_code(), "disk_full");
    assert!(
        ready.error_message().contains("disk space"),
        "{}",
        ready.text()
    );
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("timberdb_disk_full{shard=\"0\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("timberdb_filesystem_free_bytes{directory=\"data\""));
    assert!(metrics.contains("timberdb_filesystem_size_bytes{directory=\"wal\""));
    assert_eq!(server.get("/health").status, 200);

    // A stop gives up what it cannot write (the WAL keeps it) instead of
    // retrying for a minute.
    let took = stop(&mut server);
    assert!(
        took < SHUTDOWN_HANG_BOUND,
        "SIGTERM on a full disk took {took:?}"
    );

    disk.unfill();
    server.start_again();
    assert_eq!(count(&server), acked, "every acknowledged entry survives");
    assert_eq!(server.get("/ready").status, 200);
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("timberdb_disk_full{shard=\"0\"} 0"),
        "{metrics}"
    );
    let more = ingest(&server, "after", 200);
    stop(&mut server);
    server.start_again();
    assert_eq!(count(&server), acked + more as u64);
}

#[test]
fn freeing_space_while_running_read_only_resumes_writes() {
    let Some(disk) = LoopDisk::mount(96) else {
        return;
    };
    let data = disk.data_dir();
    let mut server = start(&data, "1", None);
    server.create_partition("p");
    let acked = ingest(&server, "first", 300);
    server.kill();
    disk.fill();
    server.start_again();
    assert_eq!(server.get("/ready").status, 503);
    disk.unfill();
    // The commit loop notices at its next ticks; no restart needed.
    common::eventually(Duration::from_secs(20), || {
        (server.get("/ready").status == 200).then_some(())
    });
    let more = ingest(&server, "second", 300);
    assert_eq!(count(&server), (acked + more) as u64);
    server.restart();
    assert_eq!(
        count(&server),
        (acked + more) as u64,
        "every acknowledged entry survives"
    );
}
