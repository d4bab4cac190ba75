//! `loadgen --target https://... --tls-ca-file CA` against a TLS server: every acknowledged
//! line is read back over TLS, and an https:// target without a CA file is refused before
//! the run starts.

mod common;

use clap::Parser;
use common::tls::TestCa;
use common::Server;
use loadgen::cli::Cli;

#[test]
fn loadgen_ingests_and_verifies_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("TimberDB test CA");
    let (cert, key) = ca.server_cert().write(dir.path(), "server");
    let ca_path = ca.write(dir.path(), "ca");
    let mut builder = Server::builder();
    for (name, value) in common::tls::tls_env(&cert, &key) {
        builder = builder.env(name, &value);
    }
    let server = builder.start();
    let port = server.addr.rsplit_once(':').expect("port").1;
    // The certificate names localhost; the client checks the name it connects to.
    let target = format!("https://localhost:{port}");
    let ca_arg = ca_path.to_str().expect("utf-8");
    let argv = [
        "loadgen",
        "--target",
        &target,
        "--tls-ca-file",
        ca_arg,
        "--quiet",
        "--warmup",
        "0s",
        "--lines",
        "6000",
        "--batch",
        "500",
        "--connections",
        "2",
        "--verify",
    ];
    let args = Cli::try_parse_from(argv).expect("valid arguments").ingest;
    let report = loadgen::ingest(&args).expect("run");
    let verify = report.verify.as_ref().expect("verified");
    assert!(verify.passed(), "{}", report.text());
    assert_eq!(verify.acknowledged_lines, 6_000, "{}", report.text());
    assert_eq!(report.results.requests_failed, 0, "{}", report.text());

    let argv = ["loadgen", "--target", &target, "--quiet", "--lines", "10"];
    let args = Cli::try_parse_from(argv).expect("valid arguments").ingest;
    let error = loadgen::ingest(&args).expect_err("https without a CA file");
    assert!(error.to_string().contains("--tls-ca-file"), "{error}");
}
