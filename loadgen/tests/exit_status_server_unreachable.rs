//! docs/LOADGEN.md: "2 when the run could not start (bad options, server
//! unreachable)". Runs the real binary, as a user would, against a port
//! nothing listens on, once per protocol: every one must stop before the run
//! with status 2 and name the address, not send for its whole duration.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

/// A local address nothing listens on: a port the kernel handed out, closed.
fn unused_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    addr.to_string()
}

#[test]
fn every_protocol_exits_2_naming_the_address_when_the_server_is_unreachable() {
    let addr = unused_address();
    let url = format!("http://{addr}");
    for protocol in ["native", "es-bulk", "loki", "otlp", "jsonline"] {
        let started = Instant::now();
        // A run that did start would take its full warm-up and duration.
        let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(["--target", &url, "--protocol", protocol])
            .args(["--duration", "20s", "--warmup", "0s", "--quiet"])
            .output()
            .expect("start loadgen");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{protocol}: {stderr}");
        assert!(stderr.contains(&addr), "{protocol} names {addr}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{protocol}: stopped before the run, not after it"
        );
    }
}
