//! API keys in tests: the first admin key made offline, requests with an
//! `Authorization` header, and a server started with auth on.

use std::path::Path;
use std::process::Command;

use super::{send_raw, Response, Server};

/// `timberdb keys create --offline --role ROLE [-p P]...` on `data_dir`; the key.
pub fn create_key_offline(data_dir: &Path, role: &str, partitions: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_timberdb"));
    command
        .args(["keys", "create", "--offline", "--role", role, "--data-dir"])
        .arg(data_dir)
        .env_remove("TIMBERDB_CONFIG");
    for partition in partitions {
        command.args(["--partition", partition]);
    }
    let output = command.output().expect("run keys create");
    assert!(
        output.status.success(),
        "keys create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8(output.stdout).expect("utf-8");
    let key = key.trim().to_string();
    assert!(key.starts_with("tdb_"), "{key}");
    key
}

/// A server with auth on and `shards` shards on `data_dir`, with an admin
/// key made offline first; returns the server and the admin key.
pub fn start_with_auth(
    data_dir: &Path,
    shards: u32,
    extra_env: &[(&str, &str)],
) -> (Server, String) {
    let admin = create_key_offline(data_dir, "admin", &[]);
    let mut builder = Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg(&shards.to_string())
        .env("TIMBERDB_AUTH_ENABLED", "true");
    for (key, value) in extra_env {
        builder = builder.env(key, value);
    }
    (builder.start(), admin)
}

/// One request with extra headers (`Connection: close`, so every call is a
/// new connection, which the kernel may hand to any shard).
pub fn request_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
) -> Response {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_raw(addr, &raw)
}

/// `Authorization: Bearer KEY`.
pub fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// A request authorised with `key` as a bearer token.
pub fn with_key(
    server: &Server,
    key: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Response {
    let authorization = bearer(key);
    request_with(
        &server.addr,
        method,
        path,
        &[("Authorization", &authorization)],
        content_type,
        body,
    )
}

/// Makes a key through the admin API; returns (id, key).
pub fn create_key(
    server: &Server,
    admin: &str,
    role: &str,
    partitions: &[&str],
) -> (String, String) {
    let body = serde_json::json!({"role": role, "partitions": partitions, "name": "test"});
    let response = with_key(
        server,
        admin,
        "POST",
        "/api/v1/admin/keys",
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    assert_eq!(response.status, 201, "create key: {}", response.text());
    let answer = response.json();
    (
        answer["id"].as_str().expect("id").to_string(),
        answer["key"].as_str().expect("key").to_string(),
    )
}
