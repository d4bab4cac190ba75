//! Test harness: starts the real `timberdb` binary on 127.0.0.1:0 and
//! speaks HTTP/1.1 to it over plain sockets (so tests can also send what a
//! polite client would not: chunked bodies, wrong lengths, bad JSON).
#![allow(dead_code)]

pub mod auth;
pub mod cli;
pub mod crash;
pub mod loop_disk;
pub mod rng;
pub mod sealed;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use timberdb::block::BlockHeader;

pub const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

pub struct Server {
    pub child: Option<Child>,
    pub addr: String,
    pub data_dir: PathBuf,
    pub args: Vec<String>,
    pub envs: Vec<(String, String)>,
    pub stderr_path: PathBuf,
    /// The working directory the server starts in (the test's own when `None`).
    pub working_dir: Option<PathBuf>,
    /// Whether `--data-dir` is passed; without it the server uses its default (or the
    /// config's), relative to `working_dir`, and `data_dir` only says where the test
    /// expects the data.
    pub pass_data_dir: bool,
    /// The line the server printed once it served: address, shards and directories.
    pub listening_line: String,
    /// `"http"`, or `"https"` when the server serves TLS (`[tls]` configured).
    pub scheme: String,
    _temp: Option<tempfile::TempDir>,
}

pub struct ServerBuilder {
    data_dir: Option<PathBuf>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    working_dir: Option<PathBuf>,
    pass_data_dir: bool,
}

impl ServerBuilder {
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }
    /// Starts the server in `dir`, as a user would from a shell there.
    pub fn working_dir(mut self, dir: &Path) -> Self {
        self.working_dir = Some(dir.to_path_buf());
        self
    }
    /// Passes no `--data-dir`: the server picks its directories itself (from its default, a
    /// flag in `arg`, or its config). `expected_data_dir` is where the test looks for files.
    pub fn without_data_dir_flag(mut self, expected_data_dir: &Path) -> Self {
        self.pass_data_dir = false;
        self.data_dir = Some(expected_data_dir.to_path_buf());
        self
    }
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }
    pub fn start(self) -> Server {
        let (temp, data_dir) = match self.data_dir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::tempdir().expect("tempdir");
                let dir = temp.path().join("data");
                (Some(temp), dir)
            }
        };
        let stderr_path = match (&self.working_dir, self.pass_data_dir) {
            // Without --data-dir the test's working directory is its scratch space.
            (Some(dir), false) => dir.join("timberdb.stderr.log"),
            _ => data_dir.with_extension("stderr.log"),
        };
        let mut server = Server {
            child: None,
            addr: String::new(),
            data_dir,
            args: self.args,
            envs: self.envs,
            stderr_path,
            working_dir: self.working_dir,
            pass_data_dir: self.pass_data_dir,
            listening_line: String::new(),
            scheme: String::new(),
            _temp: temp,
        };
        server.spawn();
        server
    }
}

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            data_dir: None,
            args: Vec::new(),
            envs: Vec::new(),
            working_dir: None,
            pass_data_dir: true,
        }
    }

    pub fn start() -> Server {
        Server::builder().start()
    }

    fn spawn(&mut self) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("stderr log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_timberdb"));
        if self.pass_data_dir {
            command.arg("--data-dir").arg(&self.data_dir);
        }
        if let Some(dir) = &self.working_dir {
            command.current_dir(dir);
        }
        command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start timberdb");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if line.starts_with("timberdb listening on http://")
                    || line.starts_with("timberdb listening on https://")
                {
                    let _ = tx.send(line);
                }
            }
        });
        match rx.recv_timeout(STARTUP_DEADLINE) {
            Ok(line) => {
                let after_on = &line["timberdb listening on ".len()..];
                let (scheme, rest) = after_on.split_once("://").unwrap_or(("http", after_on));
                self.scheme = scheme.to_string();
                self.addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                self.listening_line = line;
            }
            Err(_) => {
                let _ = child.kill();
                panic!("timberdb did not start; stderr:\n{}", self.stderr());
            }
        }
        self.child = Some(child);
    }

    /// The server's log so far: its last `STDERR_SHOWN_BYTES_MAX` bytes at
    /// most (a failure message needs the end; and the log may be a device
    /// that never ends, like `/dev/full`).
    pub fn stderr(&self) -> String {
        const STDERR_SHOWN_BYTES_MAX: u64 = 4 << 20;
        let Ok(file) = std::fs::File::open(&self.stderr_path) else {
            return String::new();
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut file = std::io::BufReader::new(file);
        if length > STDERR_SHOWN_BYTES_MAX {
            let _ = std::io::Seek::seek(
                &mut file,
                std::io::SeekFrom::Start(length - STDERR_SHOWN_BYTES_MAX),
            );
        }
        let mut bytes = Vec::new();
        let _ = file.take(STDERR_SHOWN_BYTES_MAX).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits (bounded) for the process to exit; returns its status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!(
                    "timberdb did not exit within 60 s of SIGTERM; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the server again on the same data directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Response {
        request(&self.addr, method, path, content_type, body)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, None, b"")
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        self.post_json_bytes(path, body.to_string().as_bytes())
    }

    /// Posts `body` as it is (well-formed or not) as `application/json`.
    pub fn post_json_bytes(&self, path: &str, body: &[u8]) -> Response {
        self.request("POST", path, Some("application/json"), body)
    }

    pub fn create_partition(&self, name: &str) -> Value {
        let response = self.post_json(
            "/api/v1/partitions/create",
            &serde_json::json!({ "name": name }),
        );
        assert_eq!(
            response.status,
            201,
            "create partition: {}",
            response.text()
        );
        response.json()
    }

    pub fn ingest_ndjson(&self, partition: &str, lines: &[Value]) -> Response {
        let mut body = String::new();
        for line in lines {
            body.push_str(&line.to_string());
            body.push('\n');
        }
        self.post_ndjson(partition, body.as_bytes())
    }

    /// Posts `body` as it is (well-formed or not) as NDJSON to the
    /// partition's ingest endpoint.
    pub fn post_ndjson(&self, partition: &str, body: &[u8]) -> Response {
        self.request(
            "POST",
            &format!("/api/v1/partitions/{partition}/logs"),
            Some("application/x-ndjson"),
            body,
        )
    }

    pub fn query(&self, body: &Value) -> Value {
        let response = self.post_json("/api/v1/query/execute", body);
        assert_eq!(response.status, 200, "query {body}: {}", response.text());
        response.json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
    /// The error code of a `{"error": {"code", "message"}}` body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub fn request(
    addr: &str,
    method: &str,
    path: &str,
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
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_raw(addr, &raw)
}

/// Sends raw bytes and reads the whole response (the server closes it).
pub fn send_raw(addr: &str, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    stream.write_all(raw).expect("send request");
    read_response(&mut stream)
}

pub fn read_response(stream: &mut impl Read) -> Response {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<usize>().ok());
    let mut body = Vec::new();
    match length {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body).expect("body");
        }
        None => {
            let _ = reader.read_to_end(&mut body);
        }
    }
    Response {
        status,
        headers,
        body,
    }
}

// NDJSON (streamed) query answers.

/// Sends a query asking for NDJSON and reads the whole chunked answer:
/// the status, the Content-Type and the lines as JSON.
pub fn ndjson_query(server: &Server, body: &Value) -> (u16, String, Vec<Value>) {
    let mut stream = open_ndjson_query(server, body);
    let mut reader = BufReader::new(&mut stream);
    let (status, headers) = read_head(&mut reader);
    let content_type = header(&headers, "content-type");
    assert_eq!(header(&headers, "transfer-encoding"), "chunked");
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).unwrap();
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).unwrap();
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).unwrap();
    }
    let lines = body
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    (status, content_type, lines)
}

pub fn open_ndjson_query(server: &Server, body: &Value) -> TcpStream {
    send_ndjson_query(TcpStream::connect(&server.addr).unwrap(), body)
}

/// Sends an NDJSON query on `stream` and returns it unread.
pub fn send_ndjson_query(mut stream: TcpStream, body: &Value) -> TcpStream {
    let body = body.to_string();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let head = format!(
        "POST /api/v1/query/execute HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: application/x-ndjson\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    stream
}

/// A connection to `addr` whose receive buffer is fixed at about `bytes`
/// before it connects, so its window never grows: when the client stops
/// reading, the server's writes stall after a few kilobytes plus its own
/// send buffer, whatever the machine's TCP autotuning would allow.
pub fn connect_with_small_window(addr: &str, bytes: i32) -> TcpStream {
    use std::os::fd::FromRawFd;
    let addr: std::net::SocketAddrV4 = addr.parse().expect("an IPv4 address");
    let size = std::mem::size_of::<i32>() as libc::socklen_t;
    let address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.ip().octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a plain socket(2)/setsockopt(2)/connect(2) sequence on a
    // descriptor this function owns until TcpStream takes it over.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let value: *const i32 = &bytes;
        let rc = libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, value.cast(), size);
        assert_eq!(rc, 0, "SO_RCVBUF: {}", std::io::Error::last_os_error());
        let target: *const libc::sockaddr_in = &address;
        let length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::connect(fd, target.cast(), length);
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        stream
    }
}

pub fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            return (status, headers);
        }
        let (key, value) = line.split_once(':').unwrap();
        headers.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

pub fn header(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

/// Polls `check` until it returns Some or the deadline passes.
pub fn eventually<T>(deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "condition not met within {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every entry of a query, paged with limit/offset.
pub fn query_all(server: &Server, mut body: Value) -> Vec<Value> {
    body["limit"] = Value::from(100_000);
    let result = server.query(&body);
    result["entries"].as_array().cloned().unwrap_or_default()
}

// Files of a data directory.

/// Copies a directory tree (a data directory, to damage the copy).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `<data>/shard-<shard>`.
pub fn shard_dir(data_dir: &Path, shard: u32) -> PathBuf {
    data_dir.join(format!("shard-{shard}"))
}

/// Published blocks of a shard according to its manifest (0 before the
/// manifest exists).
pub fn manifest_block_count(data_dir: &Path, shard: u32) -> u64 {
    let dir = shard_dir(data_dir, shard);
    if !dir.is_dir() {
        return 0;
    }
    timberdb::storage::manifest::load(&dir, shard)
        .map(|loaded| loaded.state.blocks.len() as u64)
        .unwrap_or(0)
}

/// The shard's first segment file: `<shard>/seg-000001.tdb`.
pub fn first_segment(data_dir: &Path, shard: u32) -> PathBuf {
    shard_dir(data_dir, shard).join("seg-000001.tdb")
}

/// Walks the first `block_count` block headers of a segment file, as
/// start-up does: each block's file offset and header.
pub fn block_headers(segment: &Path, block_count: usize) -> Vec<(u64, BlockHeader)> {
    let bytes = std::fs::read(segment).unwrap();
    let mut offset = 0u64;
    let mut blocks = Vec::new();
    while blocks.len() < block_count {
        let header = BlockHeader::decode(&bytes[offset as usize..]).expect("an intact header");
        blocks.push((offset, header));
        offset += header.span_bytes();
    }
    blocks
}

/// Bytes allocated to every file under `dir` (`st_blocks`, as `du` counts them):
/// what a deletion or a punched hole gives back, which file sizes do not show.
pub fn allocated_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| {
            let metadata = entry.metadata().unwrap();
            if metadata.is_dir() {
                allocated_bytes(&entry.path())
            } else {
                metadata.blocks() * 512
            }
        })
        .sum()
}

/// A pseudo-random hex message of `bytes` characters (xorshift from `seed`):
/// it compresses only about 2:1, so blocks of it take real disk space.
pub fn noise(seed: u64, bytes: usize) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from_digit((state % 16) as u32, 16).unwrap()
        })
        .collect()
}
