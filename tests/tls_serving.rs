//! HTTPS on the API port (`[tls]`): ingest and query over TLS 1.2 and 1.3 with a real rustls
//! client, a clear 400 for plain HTTP sent to the TLS port, a silent or stalled client cut
//! off by the handshake timeout, and start-up refused, naming the file and never showing key
//! material, for every kind of unusable certificate or key file.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::tls::{client_config, CertAndKey, TestCa, TlsClient, Version};
use common::Server;
use serde_json::json;

struct TlsServer {
    server: Server,
    ca: TestCa,
    _dir: tempfile::TempDir,
}

fn start_tls_server(extra_env: &[(&str, &str)]) -> TlsServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("TimberDB test CA");
    let (cert, key) = ca.server_cert().write(dir.path(), "server");
    let mut builder = Server::builder().arg("--shards").arg("2");
    for (name, value) in common::tls::tls_env(&cert, &key) {
        builder = builder.env(name, &value);
    }
    for (name, value) in extra_env {
        builder = builder.env(name, value);
    }
    let server = builder.start();
    TlsServer {
        server,
        ca,
        _dir: dir,
    }
}

fn ingest_and_query_over(version: Version, expected_version: &str) {
    let tls = start_tls_server(&[]);
    assert_eq!(tls.server.scheme, "https", "{}", tls.server.listening_line);
    let config = client_config(&tls.ca.cert_pem(), version, None);
    let mut client = TlsClient::connect(&tls.server.addr, config).expect("TLS handshake");
    assert_eq!(client.protocol_version(), expected_version);

    let created = client
        .post_json("/api/v1/partitions/create", &json!({ "name": "secure" }))
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.text());
    let lines: String = (0..500)
        .map(|i| {
            json!({ "source": "tls-test", "message": format!("line {i} over TLS") }).to_string()
                + "\n"
        })
        .collect();
    let ingested = client
        .request(
            "POST",
            "/api/v1/partitions/secure/logs",
            Some("application/x-ndjson"),
            lines.as_bytes(),
        )
        .expect("ingest");
    assert!(
        ingested.status < 300,
        "{}: {}",
        ingested.status,
        ingested.text()
    );
    // The same keep-alive connection serves the query.
    let answer = client
        .post_json(
            "/api/v1/query/execute",
            &json!({ "partitions": ["secure"], "limit": 1000 }),
        )
        .expect("query");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["returned_count"], 500, "{}", answer.text());

    let whoami = client.get("/api/v1/whoami").expect("whoami").json();
    assert_eq!(whoami["transport"], "https");
    assert_eq!(whoami["tls"]["protocol_version"], expected_version);
    assert!(whoami["client_certificate"].is_null(), "{whoami}");
}

#[test]
fn ingest_and_query_over_tls_1_3() {
    ingest_and_query_over(Version::Tls13, "TLSv1_3");
}

#[test]
fn ingest_and_query_over_tls_1_2() {
    ingest_and_query_over(Version::Tls12, "TLSv1_2");
}

#[test]
fn plain_http_to_the_tls_port_is_told_to_use_https() {
    let tls = start_tls_server(&[]);
    let response = tls.server.get("/health");
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(response.error_code(), "tls_required");
    assert!(
        response.error_message().contains("https://"),
        "{}",
        response.text()
    );
    assert_eq!(response.header("connection"), Some("close"));
}

/// Reads until the server closes the connection; `Err` if it sends a TLS or HTTP answer or
/// does not close within the read timeout (far longer than the handshake timeout).
fn closed_by_server(mut socket: TcpStream) -> bool {
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut buffer = [0u8; 64];
    match socket.read(&mut buffer) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn a_silent_or_stalled_client_is_cut_off_by_the_handshake_timeout() {
    let tls = start_tls_server(&[("TIMBERDB_TLS_HANDSHAKE_TIMEOUT", "1")]);
    let silent = TcpStream::connect(&tls.server.addr).expect("connect");
    assert!(closed_by_server(silent), "a silent client was not cut off");

    // The first 5 bytes of a TLS record header announcing a ClientHello, then nothing.
    let mut stalled = TcpStream::connect(&tls.server.addr).expect("connect");
    std::io::Write::write_all(&mut stalled, &[0x16, 0x03, 0x01, 0x02, 0x00]).expect("send");
    assert!(
        closed_by_server(stalled),
        "a stalled handshake was not cut off"
    );

    // Bytes that are neither TLS nor HTTP are refused at once.
    let mut garbage = TcpStream::connect(&tls.server.addr).expect("connect");
    std::io::Write::write_all(&mut garbage, &[0x01, 0x02, 0x03]).expect("send");
    assert!(closed_by_server(garbage), "garbage was not refused");

    // The server still serves a real client.
    let config = client_config(&tls.ca.cert_pem(), Version::Both, None);
    let mut client = TlsClient::connect(&tls.server.addr, config).expect("TLS handshake");
    assert_eq!(client.get("/health").expect("health").status, 200);
}

/// Starts the binary with `env` and expects it to refuse; returns its stderr.
fn refused_start(dir: &Path, env: &[(&str, String)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_timberdb"));
    command
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env_remove("TIMBERDB_CONFIG");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run timberdb");
    assert!(!output.status.success(), "started with {env:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A line from the middle of the key's base64, which must never be printed.
fn key_material(pair: &CertAndKey) -> String {
    pair.key_pem
        .lines()
        .nth(1)
        .expect("a base64 line")
        .to_string()
}

#[test]
fn unusable_certificate_or_key_files_refuse_start_up_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("TimberDB test CA");
    let good = ca.server_cert();
    let other = ca.server_cert();
    let (cert, key) = good.write(dir.path(), "server");
    let (_, other_key) = other.write(dir.path(), "other");
    let missing = dir.path().join("missing.crt");
    let not_pem = dir.path().join("not-pem.key");
    std::fs::write(&not_pem, "this is not a PEM file\n").expect("write");
    let cert_as_key = cert.clone();
    let env = |cert: &Path, key: &Path| {
        vec![
            ("TIMBERDB_TLS_CERT_FILE", cert.display().to_string()),
            ("TIMBERDB_TLS_KEY_FILE", key.display().to_string()),
        ]
    };

    let stderr = refused_start(dir.path(), &env(&missing, &key));
    assert!(
        stderr.contains("tls.cert_file") && stderr.contains("missing.crt"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot read"), "{stderr}");

    let stderr = refused_start(dir.path(), &env(&cert, &not_pem));
    assert!(
        stderr.contains("tls.key_file") && stderr.contains("not-pem.key"),
        "{stderr}"
    );
    assert!(stderr.contains("no private key"), "{stderr}");

    let stderr = refused_start(dir.path(), &env(&cert, &cert_as_key));
    assert!(stderr.contains("no private key"), "{stderr}");

    let stderr = refused_start(dir.path(), &env(&not_pem, &key));
    assert!(stderr.contains("no certificate"), "{stderr}");

    let stderr = refused_start(dir.path(), &env(&cert, &other_key));
    assert!(
        stderr.contains("does not belong to the certificate"),
        "{stderr}"
    );
    assert!(
        stderr.contains("other.key") && stderr.contains("server.crt"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&key_material(&other)),
        "key material in {stderr}"
    );

    // A key file with a damaged block: the message must not quote it.
    let damaged = dir.path().join("damaged.key");
    let damaged_text = good.key_pem.replacen("-----END", "-----ENX", 1);
    std::fs::write(&damaged, &damaged_text).expect("write");
    let stderr = refused_start(dir.path(), &env(&cert, &damaged));
    assert!(
        stderr.contains("damaged.key") && stderr.contains("not valid PEM"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&key_material(&good)),
        "key material in {stderr}"
    );

    // Only one of the two files is a configuration error.
    let stderr = refused_start(
        dir.path(),
        &[("TIMBERDB_TLS_CERT_FILE", cert.display().to_string())],
    );
    assert!(stderr.contains("tls.key_file"), "{stderr}");
}
