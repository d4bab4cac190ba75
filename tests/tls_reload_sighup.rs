//! SIGHUP reloads the certificate files: connections opened after the reload see the new
//! certificate on every shard, a connection opened before keeps working, and a reload that
//! finds a bad file keeps the certificate the server had and says why in its log.

mod common;

use std::path::Path;
use std::time::Duration;

use common::tls::{client_config, TestCa, TlsClient, Version};
use common::{eventually, Server};

const RELOADED: &str = "certificate reloaded on every shard";
const RELOAD_FAILED: &str = "reload on SIGHUP failed";

fn hang_up(server: &Server) {
    let pid = server.child.as_ref().expect("running").id();
    let status = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(pid.to_string())
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

/// Waits until the server's log holds `message` `count` times.
fn wait_for_log(server: &Server, message: &str, count: usize) {
    eventually(Duration::from_secs(30), || {
        (server.stderr().matches(message).count() >= count).then_some(())
    });
}

/// The certificate fingerprints that `connections` new connections see; with two shards
/// and SO_REUSEPORT they land on both shards.
fn certificates_seen(addr: &str, ca_pem: &str, connections: usize) -> Vec<String> {
    (0..connections)
        .map(|_| {
            let config = client_config(ca_pem, Version::Both, None);
            let mut client = TlsClient::connect(addr, config).expect("handshake");
            assert_eq!(client.get("/health").expect("health").status, 200);
            client.server_certificate_sha256()
        })
        .collect()
}

fn replace_file(path: &Path, text: &str) {
    // Write beside, then rename: what a certificate manager does, and never a half file.
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

#[test]
fn sighup_swaps_the_certificate_for_new_connections_only_and_a_bad_reload_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("TimberDB test CA");
    let first = ca.server_cert();
    let (cert_path, key_path) = first.write(dir.path(), "server");
    let mut builder = Server::builder().arg("--shards").arg("2");
    for (name, value) in common::tls::tls_env(&cert_path, &key_path) {
        builder = builder.env(name, &value);
    }
    let server = builder.start();
    let addr = server.addr.clone();

    let mut before = TlsClient::connect(&addr, client_config(&ca.cert_pem(), Version::Both, None))
        .expect("handshake");
    assert_eq!(before.get("/health").expect("health").status, 200);
    assert_eq!(
        before.server_certificate_sha256(),
        first.sha256_fingerprint()
    );

    let second = ca.server_cert();
    replace_file(&cert_path, &second.cert_pem);
    replace_file(&key_path, &second.key_pem);
    hang_up(&server);
    wait_for_log(&server, RELOADED, 1);
    for seen in certificates_seen(&addr, &ca.cert_pem(), 8) {
        assert_eq!(
            seen,
            second.sha256_fingerprint(),
            "a new connection saw an old certificate"
        );
    }
    // The connection opened before the reload keeps its session and keeps serving.
    for _ in 0..3 {
        assert_eq!(before.get("/health").expect("old connection").status, 200);
    }
    assert_eq!(
        before.server_certificate_sha256(),
        first.sha256_fingerprint()
    );

    // A key that does not match the new certificate: the reload fails, nothing changes.
    let third = ca.server_cert();
    replace_file(&cert_path, &third.cert_pem);
    hang_up(&server);
    wait_for_log(&server, RELOAD_FAILED, 1);
    let log = server.stderr();
    let failure = log
        .lines()
        .find(|line| line.contains(RELOAD_FAILED))
        .expect("failure line");
    assert!(
        failure.contains("tls.key_file") && failure.contains("server.key"),
        "{failure}"
    );
    assert!(
        !log.contains(second.key_pem.lines().nth(1).expect("base64")),
        "key material logged"
    );
    for seen in certificates_seen(&addr, &ca.cert_pem(), 8) {
        assert_eq!(
            seen,
            second.sha256_fingerprint(),
            "a failed reload changed the certificate"
        );
    }

    // Fixing the files and hanging up again takes the new pair.
    replace_file(&key_path, &third.key_pem);
    hang_up(&server);
    wait_for_log(&server, RELOADED, 2);
    for seen in certificates_seen(&addr, &ca.cert_pem(), 4) {
        assert_eq!(seen, third.sha256_fingerprint());
    }
}

#[test]
fn sighup_without_tls_is_logged_and_does_not_stop_the_server() {
    let server = Server::start();
    hang_up(&server);
    wait_for_log(&server, "nothing to reload (TLS is off)", 1);
    assert_eq!(server.get("/health").status, 200);
}
