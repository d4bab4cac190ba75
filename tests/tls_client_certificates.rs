//! Client certificates (mTLS, `tls.client_auth`): with "required" a client without a
//! certificate, or with one another CA signed, is refused during the handshake, and one the
//! configured CA signed is served; the certificate's subject CN, fingerprint and the role
//! `[tls.client_roles]` gives it reach every request of the connection (seen through
//! `GET /api/v1/whoami`). With "optional" a client without a certificate is served too.

mod common;

use common::tls::{client_config, TestCa, TlsClient, Version};
use common::Server;

struct MtlsServer {
    server: Server,
    ca: TestCa,
    _dir: tempfile::TempDir,
}

/// A server whose `[tls]` comes from a config file (the only place `client_roles` can be a
/// table), with `client_auth` and the given `[tls.client_roles]` lines.
fn start_mtls_server(client_auth: &str, roles: &str) -> MtlsServer {
    start_mtls_server_with(client_auth, roles, &[])
}

fn start_mtls_server_with(client_auth: &str, roles: &str, envs: &[(&str, &str)]) -> MtlsServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("TimberDB clients CA");
    ca.server_cert().write(dir.path(), "server");
    ca.write(dir.path(), "clients-ca");
    let config = format!(
        "[tls]\ncert_file = \"server.crt\"\nkey_file = \"server.key\"\nclient_ca_file = \"clients-ca.crt\"\nclient_auth = \"{client_auth}\"\n\n[tls.client_roles]\n{roles}\n"
    );
    let config_path = dir.path().join("timberdb.toml");
    std::fs::write(&config_path, config).expect("write config");
    let mut builder = Server::builder()
        .arg("--config")
        .arg(config_path.to_str().expect("utf-8"))
        .arg("--shards")
        .arg("2");
    for (key, value) in envs {
        builder = builder.env(key, value);
    }
    let server = builder.start();
    MtlsServer {
        server,
        ca,
        _dir: dir,
    }
}

/// Whether a TLS 1.3 or 1.2 client with `config` gets an HTTP answer at all: a refused
/// certificate ends the handshake (1.2) or the connection right after it (1.3).
fn served(addr: &str, config: std::sync::Arc<rustls::ClientConfig>) -> bool {
    match TlsClient::connect(addr, config) {
        Ok(mut client) => client.get("/health").is_ok(),
        Err(_) => false,
    }
}

#[test]
fn required_client_certificates_refuse_clients_without_one_from_the_ca() {
    let mtls = start_mtls_server("required", "\"shipper-1\" = \"ingest\"");
    let addr = &mtls.server.addr;
    for version in [Version::Tls13, Version::Tls12] {
        let anonymous = client_config(&mtls.ca.cert_pem(), version, None);
        assert!(
            !served(addr, anonymous),
            "{version:?}: served without a certificate"
        );

        let stranger_ca = TestCa::new("Someone else's CA");
        let stranger = stranger_ca.client_cert("shipper-1");
        let foreign = client_config(&mtls.ca.cert_pem(), version, Some(&stranger));
        assert!(
            !served(addr, foreign),
            "{version:?}: served a certificate of another CA"
        );

        let shipper = mtls.ca.client_cert("shipper-1");
        let trusted = client_config(&mtls.ca.cert_pem(), version, Some(&shipper));
        let mut client = TlsClient::connect(addr, trusted).expect("handshake with a certificate");
        // Every request of the connection carries the identity, not only the first.
        for _ in 0..3 {
            let whoami = client.get("/api/v1/whoami").expect("whoami");
            assert_eq!(whoami.status, 200, "{}", whoami.text());
            let certificate = &whoami.json()["client_certificate"];
            assert_eq!(certificate["subject_cn"], "shipper-1", "{certificate}");
            assert_eq!(
                certificate["sha256_fingerprint"],
                shipper.sha256_fingerprint().as_str()
            );
            assert_eq!(certificate["role"], "ingest", "{certificate}");
        }
    }
    // Plain HTTP is refused on an mTLS port as on any TLS port.
    assert_eq!(mtls.server.get("/health").error_code(), "tls_required");
}

#[test]
fn roles_by_fingerprint_win_and_unlisted_certificates_have_no_role() {
    // The fingerprint is known only once the certificate exists, so the CA and the client
    // certificate are made first and the server is configured with them.
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("TimberDB clients CA");
    ca.server_cert().write(dir.path(), "server");
    ca.write(dir.path(), "clients-ca");
    let grafana = ca.client_cert("grafana");
    let unlisted = ca.client_cert("someone");
    let fingerprint = grafana.sha256_fingerprint().to_uppercase();
    let colons: Vec<String> = fingerprint
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect();
    let config = format!(
        "[tls]\ncert_file = \"server.crt\"\nkey_file = \"server.key\"\nclient_ca_file = \"clients-ca.crt\"\nclient_auth = \"optional\"\n\n[tls.client_roles]\ngrafana = \"ingest\"\n\"sha256:{}\" = \"query\"\n",
        colons.join(":")
    );
    let config_path = dir.path().join("timberdb.toml");
    std::fs::write(&config_path, config).expect("write config");
    let server = Server::builder()
        .arg("--config")
        .arg(config_path.to_str().expect("utf-8"))
        .start();

    let mut client = TlsClient::connect(
        &server.addr,
        client_config(&ca.cert_pem(), Version::Both, Some(&grafana)),
    )
    .expect("handshake");
    let certificate =
        client.get("/api/v1/whoami").expect("whoami").json()["client_certificate"].clone();
    assert_eq!(certificate["role"], "query", "{certificate}");

    let mut client = TlsClient::connect(
        &server.addr,
        client_config(&ca.cert_pem(), Version::Both, Some(&unlisted)),
    )
    .expect("handshake");
    let certificate =
        client.get("/api/v1/whoami").expect("whoami").json()["client_certificate"].clone();
    assert_eq!(certificate["subject_cn"], "someone");
    assert!(certificate["role"].is_null(), "{certificate}");
}

#[test]
fn optional_client_certificates_serve_clients_without_one() {
    let mtls = start_mtls_server("optional", "");
    let anonymous = client_config(&mtls.ca.cert_pem(), Version::Both, None);
    let mut client = TlsClient::connect(&mtls.server.addr, anonymous).expect("handshake");
    let whoami = client.get("/api/v1/whoami").expect("whoami").json();
    assert_eq!(whoami["transport"], "https");
    assert!(whoami["client_certificate"].is_null(), "{whoami}");

    // A certificate another CA signed is still refused: "optional" is not "unchecked".
    let stranger = TestCa::new("Someone else's CA").client_cert("intruder");
    let foreign = client_config(&mtls.ca.cert_pem(), Version::Both, Some(&stranger));
    assert!(!served(&mtls.server.addr, foreign));
}

/// With `auth.enabled`, a verified certificate that `[tls.client_roles]` gives a role
/// authenticates its requests as that role without any key; a certificate without a role,
/// or no certificate, authenticates nothing (401). Audit lines name the certificate.
#[test]
fn a_certificate_with_a_role_authenticates_as_that_role_when_auth_is_on() {
    let mtls = start_mtls_server_with(
        "optional",
        "\"admin-1\" = \"admin\"\n\"reader-1\" = \"query\"",
        &[("TIMBERDB_AUTH_ENABLED", "true")],
    );
    let addr = &mtls.server.addr;
    let ca = mtls.ca.cert_pem();
    let connect = |name: Option<&str>| {
        let cert = name.map(|name| mtls.ca.client_cert(name));
        TlsClient::connect(addr, client_config(&ca, Version::Both, cert.as_ref()))
            .expect("handshake")
    };

    let mut admin = connect(Some("admin-1"));
    let created = admin
        .post_json(
            "/api/v1/partitions/create",
            &serde_json::json!({"name": "certified"}),
        )
        .expect("create");
    assert!(
        created.status == 200 || created.status == 201,
        "{}",
        created.text()
    );

    let mut reader = connect(Some("reader-1"));
    let listed = reader.get("/api/v1/partitions").expect("list");
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert!(listed.text().contains("certified"), "{}", listed.text());
    let refused = reader
        .post_json(
            "/api/v1/partitions/create",
            &serde_json::json!({"name": "nope"}),
        )
        .expect("create as reader");
    assert_eq!(refused.status, 403, "{}", refused.text());

    for name in [Some("nobody"), None] {
        let mut client = connect(name);
        let answer = client.get("/api/v1/partitions").expect("list");
        assert_eq!(answer.status, 401, "{name:?}: {}", answer.text());
    }

    let audit_path = mtls.server.data_dir.join("audit").join("audit.log");
    let audit = common::eventually(std::time::Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&audit_path).ok()?;
        text.contains("partition.create").then_some(text)
    });
    assert!(audit.contains("cert:admin-1"), "{audit}");
}
