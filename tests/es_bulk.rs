//! Elasticsearch `_bulk` and the handshakes, against the real server:
//! what shippers send (PUT, compatible-with media types, gzip, blank lines,
//! `_type`, `filter_path`) and what they check (statuses, item shapes,
//! `X-Elastic-Product`).

mod common;

use common::{send_raw, Response, Server};
use serde_json::{json, Value};

const COMPATIBLE_8: &str = "application/vnd.elasticsearch+x-ndjson; compatible-with=8";

/// Sends `body` with the given method and extra header lines.
fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.addr,
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_raw(&server.addr, &raw)
}

fn entries(server: &Server, partition: &str) -> Vec<Value> {
    common::query_all(server, json!({"partitions": [partition], "order": "asc"}))
}

fn bulk_body(index: &str, messages: &[&str]) -> String {
    messages
        .iter()
        .map(|message| {
            format!("{{\"create\":{{\"_index\":\"{index}\"}}}}\n{{\"message\":\"{message}\"}}\n")
        })
        .collect()
}

#[test]
fn put_and_post_bulk_store_documents_with_the_ecs_mapping() {
    let server = Server::start();
    let body = "{\"index\":{\"_index\":\"web\",\"_type\":\"_doc\"}}\n\
        {\"@timestamp\":\"2024-03-15T10:30:00.123Z\",\"message\":\"GET /a 500\",\"log\":{\"level\":\"error\"},\"host\":{\"name\":\"web-1\"},\"service\":{\"name\":\"shop\"},\"http\":{\"status\":500}}\n\
        \n\
        {\"create\":{}}\n\
        {\"@timestamp\":1710498600000,\"message\":\"second\"}\n";
    let headers = [
        ("Content-Type", COMPATIBLE_8),
        (
            "Accept",
            "application/vnd.elasticsearch+json; compatible-with=8",
        ),
    ];
    let response = send(&server, "PUT", "/web/_bulk", &headers, body.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-elastic-product"), Some("Elasticsearch"));
    assert_eq!(
        response.header("content-type"),
        Some("application/vnd.elasticsearch+json;compatible-with=8")
    );
    let answer = response.json();
    assert_eq!(answer["errors"], false);
    assert_eq!(answer["items"][0]["index"]["status"], 201);
    assert_eq!(answer["items"][0]["index"]["_index"], "web");
    assert_eq!(answer["items"][1]["create"]["result"], "created");
    let stored = entries(&server, "web");
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[0]["message"], "second");
    assert_eq!(stored[1]["message"], "GET /a 500");
    assert_eq!(stored[1]["level"], "error");
    assert_eq!(stored[1]["source"], "web-1");
    assert_eq!(stored[1]["tags"]["service.name"], "shop");
    assert_eq!(stored[1]["fields"], json!({"http": {"status": 500}}));
    assert_eq!(stored[1]["timestamp"], "2024-03-15T10:30:00.123000000Z");
    let post = send(
        &server,
        "POST",
        "/_bulk",
        &[("Content-Type", "application/json")],
        bulk_body("web", &["third"]).as_bytes(),
    );
    assert_eq!(post.status, 200, "{}", post.text());
    assert_eq!(entries(&server, "web").len(), 3);
}

#[test]
fn a_bad_document_fails_its_item_and_the_others_are_stored() {
    let server = Server::start();
    let body = "{\"create\":{\"_index\":\"app\"}}\n{\"message\":\"good one\"}\n\
        {\"create\":{\"_index\":\"app\"}}\n{\"message\":\n\
        {\"update\":{\"_index\":\"app\",\"_id\":\"1\"}}\n{\"doc\":{}}\n\
        {\"delete\":{\"_index\":\"app\",\"_id\":\"1\"}}\n\
        {\"create\":{\"_index\":\"app\"}}\n{\"message\":\"bad time\",\"@timestamp\":\"later\"}\n\
        {\"create\":{\"_index\":\"app\"}}\n{\"message\":\"good two\"}\n";
    let response = send(
        &server,
        "POST",
        "/_bulk",
        &[("Content-Type", "application/x-ndjson")],
        body.as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = response.json();
    assert_eq!(answer["errors"], true);
    let items = answer["items"].as_array().unwrap();
    let statuses: Vec<(String, u64)> = items
        .iter()
        .map(|item| {
            let (action, body) = item.as_object().unwrap().iter().next().unwrap();
            (action.clone(), body["status"].as_u64().unwrap())
        })
        .collect();
    let expected = [
        ("create", 201),
        ("create", 400),
        ("update", 400),
        ("delete", 400),
        ("create", 400),
        ("create", 201),
    ];
    let expected: Vec<(String, u64)> = expected.iter().map(|(a, s)| (a.to_string(), *s)).collect();
    assert_eq!(statuses, expected);
    assert_eq!(
        items[1]["create"]["error"]["type"],
        "document_parsing_exception"
    );
    assert!(items[4]["create"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("@timestamp"));
    let messages: Vec<Value> = entries(&server, "app")
        .iter()
        .map(|e| e["message"].clone())
        .collect();
    assert_eq!(messages, vec![json!("good one"), json!("good two")]);
}

#[test]
fn a_malformed_action_line_refuses_the_request_in_elasticsearch_shape() {
    let server = Server::start();
    for body in [
        "{\"upsert\":{}}\n{}\n",
        "nonsense\n",
        "{\"create\":{\"_index\":\"x\"}}\n",
        "",
    ] {
        let response = send(
            &server,
            "POST",
            "/_bulk",
            &[("Content-Type", "application/x-ndjson")],
            body.as_bytes(),
        );
        assert_eq!(response.status, 400, "{body:?}: {}", response.text());
        let answer = response.json();
        assert_eq!(answer["status"], 400);
        assert!(answer["error"]["type"].is_string(), "{answer}");
        assert!(
            answer["error"]["root_cause"][0]["reason"].is_string(),
            "{answer}"
        );
        assert_eq!(response.header("x-elastic-product"), None);
    }
    assert_eq!(
        server.get("/api/v1/partitions/x").status,
        404,
        "nothing was created"
    );
    let wrong_method = send(&server, "GET", "/_bulk", &[], b"");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json()["status"], 405);
}

#[test]
fn gzip_bodies_and_filter_path_are_honoured() {
    use std::io::Write;
    let server = Server::start();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(bulk_body("zipped", &["one", "two"]).as_bytes())
        .unwrap();
    let gzipped = encoder.finish().unwrap();
    let headers = [
        ("Content-Type", "application/x-ndjson"),
        ("Content-Encoding", "gzip"),
    ];
    let response = send(
        &server,
        "POST",
        "/_bulk?filter_path=errors,items.*.error",
        &headers,
        &gzipped,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), r#"{"errors":false}"#);
    let response = send(
        &server,
        "POST",
        "/_bulk?filter_path=errors,items.*.error,items.*.status",
        &[],
        bulk_body("zipped", &["three"]).as_bytes(),
    );
    assert_eq!(
        response.json(),
        json!({"errors": false, "items": [{"create": {"status": 201}}]})
    );
    assert_eq!(entries(&server, "zipped").len(), 3);
}

#[test]
fn the_msg_field_argument_picks_the_message() {
    let server = Server::start();
    let body =
        "{\"create\":{\"_index\":\"vec\"}}\n{\"log\":\"from log\",\"message\":\"kept as field\"}\n";
    let response = send(
        &server,
        "POST",
        "/_bulk?_msg_field=log",
        &[],
        body.as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let stored = entries(&server, "vec");
    assert_eq!(stored[0]["message"], "from log");
    assert_eq!(stored[0]["fields"]["message"], "kept as field");
}

#[test]
fn handshakes_answer_as_a_single_node_elasticsearch() {
    let server = Server::start();
    let root = server.get("/");
    assert_eq!(root.status, 200);
    assert_eq!(root.header("x-elastic-product"), Some("Elasticsearch"));
    let info = root.json();
    assert_eq!(info["version"]["number"], "8.17.0");
    assert_eq!(info["tagline"], "You Know, for Search");
    let head = send(&server, "HEAD", "/", &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-elastic-product"), Some("Elasticsearch"));
    assert_eq!(server.get("/_cluster/health").json()["status"], "green");
    assert_eq!(send(&server, "HEAD", "/_cat/health", &[], b"").status, 200);
    assert!(server.get("/_cat/health").text().contains(" green "));
    assert_eq!(
        server.get("/_license").json()["license"]["status"],
        "active"
    );
    assert_eq!(server.get("/_xpack").status, 200);
    for path in [
        "/_ilm/policy/filebeat",
        "/_index_template/filebeat-8.17.0",
        "/_ingest/pipeline/p",
        "/_nodes/_local/ingest",
    ] {
        let response = server.get(path);
        assert_eq!(
            (response.status, response.json()),
            (200, json!({})),
            "{path}"
        );
        assert_eq!(response.header("x-elastic-product"), Some("Elasticsearch"));
    }
    let put = send(
        &server,
        "PUT",
        "/_index_template/t",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(put.json(), json!({"acknowledged": true}));
}
