//! `loadgen --lines N` with a warm-up that takes more than half of the N lines
//! warns on stderr (the results leave those lines out), and one that takes
//! none does not. Runs the real binary against a stand-in server that
//! answers every request with 200.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;

/// Answers every request of every connection with an empty 200, until the
/// process ends; returns the server's base URL.
fn start_ok_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer_ok(stream));
        }
    });
    url
}

/// Reads requests framed by Content-Length and answers each with 200.
fn answer_ok(stream: TcpStream) {
    let mut writer = stream.try_clone().expect("clone the socket");
    let mut reader = BufReader::new(stream);
    loop {
        let mut body_bytes = 0;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("content-length:") {
                body_bytes = value.trim().parse().expect("a numeric Content-Length");
            }
        }
        let mut body = vec![0; body_bytes];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        if writer.write_all(answer).is_err() {
            return;
        }
    }
}

/// Runs loadgen with `extra` after the common options; returns its stderr.
fn run_loadgen(url: &str, extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--target", url, "--protocol", "jsonline", "--quiet"])
        .args(extra)
        .output()
        .expect("start loadgen");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    stderr
}

#[test]
fn a_warmup_that_takes_most_of_the_lines_is_warned_about() {
    let url = start_ok_server();
    // At an offered 10,000 lines/s all 2,000 lines are due in the first 0.2 s,
    // inside the 1 s warm-up. Warm-up membership goes by due time, so this
    // holds however fast the machine is.
    let fast = ["--lines", "2000", "--batch", "100", "--rate", "10000"];
    let stderr = run_loadgen(&url, &[&fast[..], &["--warmup", "1s"]].concat());
    assert!(
        stderr.contains("warning: the 1s warm-up took 2,000 of the 2,000 --lines"),
        "{stderr}"
    );
    assert!(stderr.contains("--warmup 0s"), "{stderr}");
    let stderr = run_loadgen(&url, &[&fast[..], &["--warmup", "0s"]].concat());
    assert!(!stderr.contains("warning"), "{stderr}");
}
