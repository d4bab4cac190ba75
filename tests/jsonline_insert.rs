//! `POST /insert/jsonline` with VictoriaLogs' conventions, against the
//! real server.

mod common;

use common::{send_raw, Response, Server};
use serde_json::{json, Value};

fn send(server: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
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

#[test]
fn lines_with_the_default_names_go_to_the_default_partition() {
    let server = Server::start();
    let body = b"{\"_time\":\"2024-03-15T10:30:00Z\",\"_msg\":\"first\",\"level\":\"warn\",\"source\":\"db\",\"user\":{\"id\":7}}\n\
        {\"_time\":1710498601,\"_msg\":\"second\"}\n";
    let response = send(
        &server,
        "/insert/jsonline",
        &[("Content-Type", "application/stream+json")],
        body,
    );
    assert_eq!((response.status, response.text()), (200, String::new()));
    let stored = entries(&server, "logs");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["message"], "first");
    assert_eq!(stored[0]["level"], "warn");
    assert_eq!(stored[0]["source"], "db");
    assert_eq!(stored[0]["fields"], json!({"user": {"id": 7}}));
    assert_eq!(stored[1]["timestamp"], "2024-03-15T10:30:01.000000000Z");
}

#[test]
fn field_names_come_from_the_url_or_the_headers() {
    let server = Server::start();
    let body = b"{\"ts\":\"2024-03-15T10:30:00Z\",\"text\":\"by url\",\"app\":\"shop\",\"host\":{\"name\":\"h1\"}}\n";
    let path = "/insert/jsonline?_msg_field=text&_time_field=ts&_stream_fields=app,host.name&partition=apps";
    assert_eq!(send(&server, path, &[], body).status, 200);
    let headers = [
        ("VL-Msg-Field", "text"),
        ("VL-Time-Field", "ts"),
        ("VL-Stream-Fields", "app"),
        ("TimberDB-Partition", "apps"),
    ];
    let body = b"{\"ts\":\"2024-03-15T10:30:01Z\",\"text\":\"by header\",\"app\":\"shop\"}\n";
    assert_eq!(
        send(&server, "/insert/jsonline", &headers, body).status,
        200
    );
    let stored = entries(&server, "apps");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["message"], "by url");
    assert_eq!(stored[0]["tags"], json!({"app": "shop", "host.name": "h1"}));
    assert_eq!(stored[1]["message"], "by header");
    assert_eq!(stored[1]["tags"], json!({"app": "shop"}));
}

#[test]
fn a_bad_line_is_a_plain_400_and_nothing_is_stored() {
    let server = Server::start();
    let body = b"{\"_msg\":\"fine\"}\n{\"_msg\":\"broken\"\n";
    let response = send(&server, "/insert/jsonline?partition=bad", &[], body);
    assert_eq!(response.status, 400);
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(response.text().contains("line 2"), "{}", response.text());
    let response = send(
        &server,
        "/insert/jsonline?partition=bad",
        &[],
        b"{\"_time\":\"noon\",\"_msg\":\"x\"}\n",
    );
    assert_eq!(response.status, 400);
    assert!(response.text().contains("_time"), "{}", response.text());
    let response = send(
        &server,
        "/insert/jsonline?partition=bad%20name",
        &[],
        b"{\"_msg\":\"x\"}\n",
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(server.get("/api/v1/partitions/bad").status, 404);
}

#[test]
fn gzip_bodies_are_accepted() {
    use std::io::Write;
    let server = Server::start();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(b"{\"_msg\":\"zipped\"}\n").unwrap();
    let response = send(
        &server,
        "/insert/jsonline",
        &[("Content-Encoding", "gzip")],
        &encoder.finish().unwrap(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(entries(&server, "logs")[0]["message"], "zipped");
}
