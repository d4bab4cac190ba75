//! Deleting a partition gives its disk space back at once: its sealed
//! blocks' spans are punched out of the shared segment files before the
//! DELETE is answered (a block a running query still reads is punched at
//! the next maintenance tick instead), measured as the allocated blocks
//! (`st_blocks`) of the shard's data directory.

mod common;

use std::time::Duration;

use common::{allocated_bytes, eventually, noise, Server};
use serde_json::{json, Value};

const BLOCK_ENTRIES: usize = 100;

fn batch(batch: usize) -> Vec<Value> {
    (0..BLOCK_ENTRIES)
        .map(|i| {
            json!({
                "source": "delete-test",
                "message": noise((batch * 1_000 + i) as u64, 2_000),
                "tags": {"batch": batch.to_string()},
            })
        })
        .collect()
}

fn partition(server: &Server, name: &str) -> Value {
    let response = server.get(&format!("/api/v1/partitions/{name}"));
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

#[test]
fn deleting_a_partition_gives_its_blocks_space_back_before_it_answers() {
    let server = Server::builder()
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{BLOCK_ENTRIES}"))
        .start();
    server.create_partition("doomed");
    server.create_partition("stays");
    for n in 0..30 {
        assert_eq!(server.ingest_ndjson("doomed", &batch(n)).status, 200);
    }
    assert_eq!(server.ingest_ndjson("stays", &batch(99)).status, 200);
    eventually(Duration::from_secs(30), || {
        let sealed = partition(&server, "doomed")["blocks"] == 30
            && partition(&server, "stays")["blocks"] == 1;
        sealed.then_some(())
    });
    let on_disk = partition(&server, "doomed")["bytes_on_disk"]
        .as_u64()
        .unwrap();
    assert!(on_disk > 2 << 20, "{on_disk}");
    let shard_dir = common::shard_dir(&server.data_dir, 0);
    let before = allocated_bytes(&shard_dir);

    let response = server.request("DELETE", "/api/v1/partitions/doomed", None, b"");
    assert_eq!(response.status, 200, "{}", response.text());
    let freed = before.saturating_sub(allocated_bytes(&shard_dir));
    eprintln!("{freed} bytes given back at once for {on_disk} bytes of blocks");
    assert!(
        freed >= on_disk * 9 / 10,
        "{freed} bytes given back for {on_disk} bytes of blocks"
    );
    // The other partition is untouched, also after a restart.
    let mut server = server;
    server.restart();
    let kept = server.query(&json!({"partitions": ["stays"], "limit": 0}));
    assert_eq!(kept["total_count"], BLOCK_ENTRIES);
    assert_eq!(server.get("/api/v1/partitions/doomed").status, 404);
}
