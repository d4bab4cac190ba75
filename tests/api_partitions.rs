//! Partitions: create, list, get, delete, by id and by name, persistence.

mod common;

use common::Server;
use serde_json::json;

#[test]
fn create_list_get_delete_round_trip() {
    let server = Server::start();
    let created = server.post_json(
        "/api/v1/partitions/create",
        &json!({"name": "app-logs", "tags": {"env": "dev"}, "retention_days": 30}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "app-logs");
    assert_eq!(created["tags"]["env"], "dev");
    assert_eq!(created["retention_days"], 30);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let by_id = server.get(&format!("/api/v1/partitions/{id}"));
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.json()["name"], "app-logs");
    let by_name = server.get("/api/v1/partitions/app-logs");
    assert_eq!(by_name.json()["id"], id.as_str());

    let list = server.get("/api/v1/partitions").json();
    assert_eq!(list["partitions"].as_array().unwrap().len(), 1);

    let deleted = server.request("DELETE", &format!("/api/v1/partitions/{id}"), None, b"");
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    let gone = server.get(&format!("/api/v1/partitions/{id}"));
    assert_eq!(gone.status, 404);
    assert_eq!(gone.error_code(), "partition_not_found");
}

#[test]
fn duplicate_names_conflict_and_alias_route_creates() {
    let server = Server::start();
    let first = server.post_json("/api/v1/partitions", &json!({"name": "dup"}));
    assert_eq!(
        first.status,
        201,
        "alias route POST /api/v1/partitions: {}",
        first.text()
    );
    let second = server.post_json("/api/v1/partitions/create", &json!({"name": "dup"}));
    assert_eq!(second.status, 409);
    assert_eq!(second.error_code(), "partition_exists");
    assert!(second.error_message().contains("dup"));
}

#[test]
fn invalid_partition_requests_are_400() {
    let server = Server::start();
    let bad_name = server.post_json("/api/v1/partitions/create", &json!({"name": "has space"}));
    assert_eq!(bad_name.status, 400);
    assert_eq!(bad_name.error_code(), "invalid_name");
    let missing = server.post_json("/api/v1/partitions/create", &json!({"tags": {}}));
    assert_eq!(missing.status, 400);
    let not_json = server.post_json_bytes("/api/v1/partitions/create", b"{nope");
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.error_code(), "invalid_json");
    let zero_retention = server.post_json(
        "/api/v1/partitions/create",
        &json!({"name": "r", "retention_days": 0}),
    );
    assert_eq!(zero_retention.status, 400);
}

#[test]
fn partitions_and_counts_survive_restart() {
    let mut server = Server::start();
    let created = server.create_partition("kept");
    let lines: Vec<_> = (0..25)
        .map(|i| json!({"message": format!("line {i}")}))
        .collect();
    assert_eq!(server.ingest_ndjson("kept", &lines).status, 200);
    server.restart();
    let partition = server.get("/api/v1/partitions/kept");
    assert_eq!(partition.status, 200, "{}", partition.text());
    let partition = partition.json();
    assert_eq!(partition["id"], created["id"]);
    assert_eq!(partition["entry_count"], 25);
    // The name stays taken after a restart.
    let again = server.post_json("/api/v1/partitions/create", &json!({"name": "kept"}));
    assert_eq!(again.status, 409);
}

#[test]
fn deleting_a_partition_removes_its_data_everywhere() {
    let mut server = Server::builder()
        .env("TIMBERDB_BLOCK_ROTATION", "count:10")
        .start();
    server.create_partition("doomed");
    let lines: Vec<_> = (0..45)
        .map(|i| json!({"message": format!("doomed {i}")}))
        .collect();
    assert_eq!(server.ingest_ndjson("doomed", &lines).status, 200);
    let deleted = server.request("DELETE", "/api/v1/partitions/doomed", None, b"");
    assert_eq!(deleted.status, 200);
    // A new partition with the same name starts empty.
    server.create_partition("doomed");
    let result = server.query(&json!({"partitions": ["doomed"]}));
    assert_eq!(result["total_count"], 0);
    server.restart();
    let result = server.query(&json!({"partitions": ["doomed"]}));
    assert_eq!(
        result["total_count"], 0,
        "deleted entries came back after restart"
    );
    let slice_dirs: usize = std::fs::read_dir(&server.data_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("shard-"))
        .map(|shard| {
            std::fs::read_dir(shard.path())
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir())
                .count()
        })
        .sum();
    assert!(
        slice_dirs <= 2,
        "only the new partition's slices may remain, found {slice_dirs}"
    );
}
