//! API keys, roles and the audit log against the real binary (2 shards):
//! 401/403 across roles and protocols, the three `Authorization` forms,
//! partition globs, revocation on every shard at once, keys surviving
//! SIGKILL, hashes only on disk, the non-loopback refusal, audit lines and
//! their rotation.

mod common;

use std::process::Command;
use std::time::Duration;

use common::auth::{create_key, request_with, start_with_auth, with_key};
use common::{eventually, Server};
use serde_json::{json, Value};

const JSON: Option<&str> = Some("application/json");
const NDJSON: Option<&str> = Some("application/x-ndjson");

/// The audit log's whole lines. The last may still be being written while
/// this reads, and a SIGKILL may have cut one short (the server ends such a
/// line at its next start): those are left out.
fn audit_lines(data_dir: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(data_dir.join("audit/audit.log")).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn ingest_line(message: &str) -> Vec<u8> {
    format!("{}\n", json!({"source": "t", "message": message})).into_bytes()
}

#[test]
fn roles_and_partitions_are_enforced_on_every_protocol() {
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("data");
    let (server, admin) = start_with_auth(&data_dir, 2, &[]);

    // Without a key: 401 with WWW-Authenticate, except /health.
    assert_eq!(server.get("/health").status, 200);
    for path in [
        "/metrics",
        "/ready",
        "/api/v1/partitions",
        "/api/v1/admin/keys",
        "/",
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 401, "{path}: {}", response.text());
        assert!(response.header("www-authenticate").is_some(), "{path}");
        assert_eq!(response.error_code(), "unauthorized");
    }

    for name in ["web-1", "db-1"] {
        let body = json!({ "name": name }).to_string();
        let response = with_key(
            &server,
            &admin,
            "POST",
            "/api/v1/partitions",
            JSON,
            body.as_bytes(),
        );
        assert_eq!(response.status, 201, "{}", response.text());
    }
    let (_, ingest) = create_key(&server, &admin, "ingest", &["web-*"]);
    let (_, query) = create_key(&server, &admin, "query", &["web-*"]);

    // Native ingest: the grant's partitions only, by name or id.
    let line = ingest_line("hello web");
    let web = with_key(
        &server,
        &ingest,
        "POST",
        "/api/v1/partitions/web-1/logs",
        NDJSON,
        &line,
    );
    assert_eq!(web.status, 200, "{}", web.text());
    let db = with_key(
        &server,
        &ingest,
        "POST",
        "/api/v1/partitions/db-1/logs",
        NDJSON,
        &line,
    );
    assert_eq!(db.status, 403, "{}", db.text());
    assert_eq!(db.error_code(), "forbidden");
    let missing = with_key(
        &server,
        &ingest,
        "POST",
        "/api/v1/logs/nothing",
        NDJSON,
        &line,
    );
    assert_eq!(missing.status, 403, "outside the grant, existing or not");
    let admin_line = with_key(
        &server,
        &admin,
        "POST",
        "/api/v1/partitions/db-1/logs",
        NDJSON,
        &line,
    );
    assert_eq!(admin_line.status, 200);

    // An ingest key neither reads nor administers.
    let query_body = json!({"partitions": ["web-1"]}).to_string();
    for (method, path, body) in [
        ("POST", "/api/v1/query", query_body.as_str()),
        ("GET", "/api/v1/partitions", ""),
        ("POST", "/api/v1/partitions", r#"{"name":"web-2"}"#),
        ("DELETE", "/api/v1/partitions/web-1", ""),
        ("POST", "/api/v1/admin/snapshots", "{}"),
        ("GET", "/api/v1/admin/keys", ""),
        ("GET", "/select/logsql/query?query=*", ""),
    ] {
        let response = with_key(&server, &ingest, method, path, JSON, body.as_bytes());
        assert_eq!(response.status, 403, "{method} {path}: {}", response.text());
    }

    // Elasticsearch _bulk: each index is checked; Loki push, JSON lines, OTLP.
    let bulk = "{\"create\":{\"_index\":\"web-1\"}}\n{\"message\":\"es ok\"}\n{\"create\":{\"_index\":\"db-1\"}}\n{\"message\":\"es no\"}\n";
    let response = with_key(&server, &ingest, "POST", "/_bulk", NDJSON, bulk.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    let items = response.json()["items"].clone();
    assert_eq!(items[0]["create"]["status"], 201, "{items}");
    assert_eq!(items[1]["create"]["status"], 403, "{items}");
    let handshake = with_key(&server, &ingest, "GET", "/", None, b"");
    assert_eq!(
        handshake.status, 200,
        "shippers' handshake with an ingest key"
    );
    let query_bulk = with_key(&server, &query, "POST", "/_bulk", NDJSON, bulk.as_bytes());
    assert_eq!(query_bulk.status, 403);

    let loki =
        json!({"streams": [{"stream": {"job": "x"}, "values": [["1", "loki line"]]}]}).to_string();
    for (tenant, status) in [("web-1", 204), ("db-1", 403)] {
        let authorization = common::auth::bearer(&ingest);
        let headers = [
            ("Authorization", authorization.as_str()),
            ("X-Scope-OrgID", tenant),
        ];
        let response = request_with(
            &server.addr,
            "POST",
            "/loki/api/v1/push",
            &headers,
            JSON,
            loki.as_bytes(),
        );
        assert_eq!(
            response.status,
            status,
            "loki {tenant}: {}",
            response.text()
        );
    }
    let jsonline = b"{\"_msg\":\"jl\"}\n";
    let ok = with_key(
        &server,
        &ingest,
        "POST",
        "/insert/jsonline?partition=web-1",
        None,
        jsonline,
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let no = with_key(
        &server,
        &ingest,
        "POST",
        "/insert/jsonline?partition=db-1",
        None,
        jsonline,
    );
    assert_eq!(no.status, 403);
    let otlp = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "o"}}]}]}]}).to_string();
    let response = with_key(&server, &ingest, "POST", "/v1/logs", JSON, otlp.as_bytes());
    assert_eq!(
        response.status, 403,
        "the default OTLP partition is outside web-*"
    );

    // A query key reads its partitions only; "all" means all it may read.
    let named = with_key(
        &server,
        &query,
        "POST",
        "/api/v1/query",
        JSON,
        query_body.as_bytes(),
    );
    assert_eq!(named.status, 200, "{}", named.text());
    let other = json!({"partitions": ["web-1", "db-1"]}).to_string();
    let refused = with_key(
        &server,
        &query,
        "POST",
        "/api/v1/query",
        JSON,
        other.as_bytes(),
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    let all = with_key(&server, &query, "POST", "/api/v1/query", JSON, b"{}");
    assert_eq!(all.status, 200);
    let entries = all.json()["entries"].as_array().expect("entries").clone();
    assert!(!entries.is_empty());
    assert!(
        entries
            .iter()
            .all(|entry| entry["partition_id"] != json!("db-1")
                && entry["message"].as_str() != Some("es no")),
        "{entries:?}"
    );
    let admin_all = with_key(&server, &admin, "POST", "/api/v1/query", JSON, b"{}");
    assert!(
        admin_all.json()["entries"]
            .as_array()
            .expect("entries")
            .len()
            > entries.len()
    );
    let listed = with_key(&server, &query, "GET", "/api/v1/partitions", None, b"");
    let names: Vec<Value> = listed.json()["partitions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("web-1")]);
    assert_eq!(
        with_key(&server, &query, "GET", "/api/v1/partitions/db-1", None, b"").status,
        403
    );
    assert_eq!(
        with_key(
            &server,
            &query,
            "GET",
            "/api/v1/partitions/web-1",
            None,
            b""
        )
        .status,
        200
    );
    assert_eq!(
        with_key(
            &server,
            &query,
            "POST",
            "/api/v1/partitions/web-1/logs",
            NDJSON,
            &line
        )
        .status,
        403
    );
    let authorization = common::auth::bearer(&query);
    let loki_query = |tenant: &str| {
        let headers = [
            ("Authorization", authorization.as_str()),
            ("X-Scope-OrgID", tenant),
        ];
        request_with(
            &server.addr,
            "GET",
            "/loki/api/v1/query_range?query=%7Bjob%3D%22x%22%7D",
            &headers,
            None,
            b"",
        )
        .status
    };
    assert_eq!(loki_query("web-1"), 200);
    assert_eq!(loki_query("db-1"), 403);
    assert_eq!(
        with_key(
            &server,
            &query,
            "GET",
            "/api/v1/tail?partitions=db-1",
            None,
            b""
        )
        .status,
        403
    );
    let metrics = with_key(&server, &query, "GET", "/metrics", None, b"");
    assert_eq!(metrics.status, 200, "any key reads /metrics");
    let metrics = metrics.text();
    assert!(metrics.contains("timberdb_auth_keys 3"), "{metrics}");
    let refused: u64 = metrics
        .lines()
        .filter(|line| line.starts_with("timberdb_auth_forbidden_total{"))
        .map(|line| {
            line.rsplit(' ')
                .next()
                .expect("value")
                .parse::<u64>()
                .expect("number")
        })
        .sum();
    assert!(refused >= 10, "403s are counted: {refused}");

    // The audit log names who did what, never the key.
    let lines = eventually(Duration::from_secs(10), || {
        let lines = audit_lines(&data_dir);
        let events: Vec<&str> = lines.iter().filter_map(|l| l["event"].as_str()).collect();
        (events.contains(&"partition.create")
            && events.contains(&"key.create")
            && events.contains(&"auth.failure"))
        .then_some(lines)
    });
    let created = lines
        .iter()
        .find(|l| l["event"] == "partition.create")
        .expect("create line");
    assert_eq!(created["status"], 201);
    assert_eq!(created["target"], "web-1");
    assert!(created["remote"]
        .as_str()
        .expect("remote")
        .starts_with("127.0.0.1:"));
    assert_eq!(created["key_id"].as_str().map(str::len), Some(12));
    let text = std::fs::read_to_string(data_dir.join("audit/audit.log")).expect("audit");
    for key in [&admin, &ingest, &query] {
        let secret = &key[key.len() - 64..];
        assert!(!text.contains(secret), "a secret in the audit log");
    }
}

#[test]
fn every_authorization_form_works_and_bad_keys_get_one_answer() {
    let dir = tempfile::tempdir().expect("dir");
    let (server, admin) = start_with_auth(&dir.path().join("data"), 1, &[]);
    let basic = {
        // base64 of "anyuser:<key>", written out by hand to keep the test free of crates.
        let text = format!("anyuser:{admin}");
        base64(text.as_bytes())
    };
    for header in [
        format!("Bearer {admin}"),
        format!("ApiKey {admin}"),
        format!("Basic {basic}"),
    ] {
        let response = request_with(
            &server.addr,
            "GET",
            "/api/v1/admin/keys",
            &[("Authorization", &header)],
            None,
            b"",
        );
        assert_eq!(response.status, 200, "{header}: {}", response.text());
        let keys = response.json()["keys"].clone();
        assert!(
            keys[0].get("hash").is_none()
                && keys[0].get("salt").is_none()
                && keys[0].get("key").is_none()
        );
    }
    let last = admin.chars().last().expect("char");
    let wrong = format!(
        "{}{}",
        &admin[..admin.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let unknown_id = format!("tdb_000000000000_{}", &admin[admin.len() - 64..]);
    for key in [wrong.as_str(), unknown_id.as_str(), "nonsense", ""] {
        let header = format!("Bearer {key}");
        let response = request_with(
            &server.addr,
            "GET",
            "/api/v1/partitions",
            &[("Authorization", &header)],
            None,
            b"",
        );
        assert_eq!(response.status, 401, "{key}");
        if !key.is_empty() {
            assert!(!response.text().contains(key), "the answer echoes the key");
        }
    }
    // Bad input to the key endpoints.
    for (body, code) in [
        (r#"{"role":"root"}"#, "invalid_role"),
        (
            r#"{"role":"admin","partitions":["x"]}"#,
            "invalid_key_request",
        ),
        (r#"{"role":"ingest","colour":"red"}"#, "invalid_json"),
        ("not json", "invalid_json"),
    ] {
        let response = with_key(
            &server,
            &admin,
            "POST",
            "/api/v1/admin/keys",
            JSON,
            body.as_bytes(),
        );
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.error_code(), code, "{body}: {}", response.text());
    }
    let missing = with_key(
        &server,
        &admin,
        "DELETE",
        "/api/v1/admin/keys/0123456789ab",
        None,
        b"",
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "key_not_found");
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut buffer = [0u8; 3];
        buffer[..chunk.len()].copy_from_slice(chunk);
        let n = (buffer[0] as u32) << 16 | (buffer[1] as u32) << 8 | buffer[2] as u32;
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * index) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_revoked_key_is_refused_on_every_shard_and_keys_survive_sigkill() {
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("data");
    let (mut server, admin) = start_with_auth(&data_dir, 2, &[]);
    let (id, key) = create_key(&server, &admin, "query", &[]);
    let (_, kept) = create_key(&server, &admin, "ingest", &[]);
    // Each request is a new connection; the kernel spreads them over both shards.
    for _ in 0..16 {
        assert_eq!(
            with_key(&server, &key, "GET", "/api/v1/partitions", None, b"").status,
            200
        );
    }
    let revoked = with_key(
        &server,
        &admin,
        "DELETE",
        &format!("/api/v1/admin/keys/{id}"),
        None,
        b"",
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    for _ in 0..16 {
        assert_eq!(
            with_key(&server, &key, "GET", "/api/v1/partitions", None, b"").status,
            401
        );
    }

    // Hashes only on disk, private to the server's user.
    let file = data_dir.join("keys.json");
    let stored = std::fs::read_to_string(&file).expect("keys.json");
    for text in [&admin, &kept, &key] {
        assert!(
            !stored.contains(&text[text.len() - 64..]),
            "a secret on disk"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
        0o600
    );

    server.kill();
    server.start_again();
    server.create_partition_with_key(&admin);
    let line = ingest_line("after restart");
    let response = with_key(
        &server,
        &kept,
        "POST",
        "/api/v1/partitions/p/logs",
        NDJSON,
        &line,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        with_key(&server, &key, "GET", "/api/v1/partitions", None, b"").status,
        401
    );
    let lines = eventually(Duration::from_secs(10), || {
        let lines = audit_lines(&data_dir);
        lines
            .iter()
            .any(|l| l["event"] == "key.revoke")
            .then_some(lines)
    });
    let revoke = lines
        .iter()
        .find(|l| l["event"] == "key.revoke")
        .expect("line");
    assert_eq!(revoke["target"], json!(id));
    assert_eq!(revoke["method"], "DELETE");
}

trait CreateWithKey {
    fn create_partition_with_key(&self, admin: &str);
}

impl CreateWithKey for Server {
    fn create_partition_with_key(&self, admin: &str) {
        let response = with_key(
            self,
            admin,
            "POST",
            "/api/v1/partitions",
            JSON,
            br#"{"name":"p"}"#,
        );
        assert_eq!(response.status, 201, "{}", response.text());
    }
}

#[test]
fn the_offline_command_respects_the_lock_and_the_client_sends_its_key() {
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("data");
    let (server, admin) = start_with_auth(&data_dir, 1, &[]);
    let output = Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .args([
            "keys",
            "create",
            "--offline",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(&data_dir)
        .output()
        .expect("run");
    assert!(
        !output.status.success(),
        "offline create beside a running server"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("lock") || stderr.contains("in use"),
        "{stderr}"
    );

    let mut create = common::cli::client_command(
        &server.addr,
        &["keys", "create", "--role", "query", "-p", "web-*"],
    );
    create.env("TIMBERDB_API_KEY", &admin);
    let output = common::cli::run_piped(create);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert_eq!(
        with_key(&server, &key, "GET", "/api/v1/partitions", None, b"").status,
        200
    );
    let listed = common::cli::run_piped(common::cli::client_command(
        &server.addr,
        &["keys", "ls", "--api-key", &admin],
    ));
    assert!(listed.status.success());
    let listed = String::from_utf8(listed.stdout).expect("utf-8");
    assert!(
        listed.contains("web-*") && !listed.contains(&key[key.len() - 64..]),
        "{listed}"
    );
    let without =
        common::cli::run_piped(common::cli::client_command(&server.addr, &["keys", "ls"]));
    assert_eq!(without.status.code(), Some(1), "no key: the server refuses");
}

#[test]
fn a_node_beyond_loopback_refuses_to_start_open() {
    let dir = tempfile::tempdir().expect("dir");
    let start = |extra: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_timberdb"));
        command
            .args(["--listen", "0.0.0.0:0", "--shards", "1", "--data-dir"])
            .arg(dir.path().join("data"))
            .env_remove("TIMBERDB_CONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (key, value) in extra {
            command.env(key, value);
        }
        command.spawn().expect("spawn")
    };
    let refused = start(&[]).wait_with_output().expect("wait");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refusing to start")
            && stderr.contains("auth.allow_unauthenticated_remote"),
        "{stderr}"
    );
    // Told explicitly, it starts (and is stopped at once).
    let mut child = start(&[("TIMBERDB_AUTH_ALLOW_UNAUTHENTICATED_REMOTE", "true")]);
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).expect("line");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("timberdb listening on http://0.0.0.0:"),
        "{line}"
    );
}

#[test]
fn audit_files_rotate_by_size_and_floods_are_bounded() {
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("data");
    let env = [
        ("TIMBERDB_AUDIT_MAX_FILE_SIZE", "4096"),
        ("TIMBERDB_AUDIT_MAX_FILES", "2"),
        ("TIMBERDB_AUDIT_AUTH_FAILURES_PER_SECOND", "100000"),
    ];
    let (server, _admin) = start_with_auth(&data_dir, 1, &env);
    for _ in 0..120 {
        assert_eq!(server.get("/api/v1/partitions").status, 401);
    }
    let audit = data_dir.join("audit");
    eventually(Duration::from_secs(10), || {
        audit.join("audit.log.2").exists().then_some(())
    });
    let total: usize = ["audit.log", "audit.log.1", "audit.log.2"]
        .iter()
        .map(|name| {
            std::fs::read_to_string(audit.join(name))
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum();
    assert!(total > 0);
    for name in ["audit.log", "audit.log.1", "audit.log.2"] {
        let size = std::fs::metadata(audit.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size <= 4096, "{name} holds {size} bytes");
    }
    assert!(
        !audit.join("audit.log.3").exists(),
        "max_files bounds the rotated files"
    );
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(audit.join("audit.log.1"))
            .expect("rotated")
            .lines()
            .next()
            .expect("a line"),
    )
    .expect("json");
    assert_eq!(line["event"], "auth.failure");
    assert_eq!(line["status"], 401);
    assert_eq!(line["reason"], "no_key");
}
