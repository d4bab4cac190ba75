//! A small blocking HTTP/1.1 client: one keep-alive connection per load
//! thread, `Content-Length` request bodies, and responses framed by
//! `Content-Length`, chunked encoding or connection close.
//!
//! A load generator wants this rather than a general client: no pool, no
//! redirects, no async runtime competing with the thread pinning, and
//! the body bytes are written straight from the caller's buffer. `https://`
//! targets are served by rustls (the `ring` provider, as the server) over the
//! same blocking socket, trusting the CA certificates of `--tls-ca-file`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::{CertificateDer, ServerName};

/// The API key loadgen sends (as TimberDB's own client does).
pub const API_KEY_VAR: &str = "TIMBERDB_API_KEY";

/// Where requests go: `http://host:port[/base/path]` or `https://...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, as sent in the `Host` header.
    pub authority: String,
    /// The path prefix without a trailing `/` (empty for the root).
    pub base_path: String,
    pub addr: SocketAddr,
    /// `Authorization` sent with every request: `Bearer $TIMBERDB_API_KEY`
    /// when that variable is set (a server with `auth.enabled`), else none.
    pub authorization: Option<String>,
    /// For `https://` targets: the TLS client and the name the certificate must carry.
    pub tls: Option<TlsTarget>,
}

/// The TLS side of an `https://` target.
#[derive(Clone)]
pub struct TlsTarget {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsTarget({:?})", self.server_name)
    }
}

impl PartialEq for TlsTarget {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config) && self.server_name == other.server_name
    }
}

impl Eq for TlsTarget {}

impl TlsTarget {
    /// A client trusting the PEM CA certificates in `ca_file`, for `host`.
    fn new(host: &str, ca_file: &Path) -> anyhow::Result<TlsTarget> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca_file)
            .with_context(|| format!("--tls-ca-file {}: cannot read it", ca_file.display()))?;
        for cert in certs {
            let cert =
                cert.with_context(|| format!("--tls-ca-file {}: not PEM", ca_file.display()))?;
            roots.add(cert).with_context(|| {
                format!("--tls-ca-file {}: not a CA certificate", ca_file.display())
            })?;
        }
        if roots.is_empty() {
            bail!("--tls-ca-file {}: no certificate in it", ca_file.display());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_string())
            .with_context(|| format!("{host:?} is not a TLS server name"))?;
        Ok(TlsTarget {
            config: Arc::new(config),
            server_name,
        })
    }
}

impl Target {
    /// Parses and resolves a base URL (`http://`, port 80 by default). An
    /// `https://` URL (port 443 by default) needs [`Target::parse_with_ca`].
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        Target::parse_with_ca(url, None)
    }

    /// As [`Target::parse`], and `https://` URLs with the server's CA
    /// certificates in `ca_file`.
    pub fn parse_with_ca(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Target> {
        let (rest, default_port) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (rest, 80),
            (None, Some(rest)) => (rest, 443),
            _ => bail!("target {url:?}: only http:// and https:// URLs are supported (for example http://127.0.0.1:7777)"),
        };
        let https = default_port == 443;
        if https && ca_file.is_none() {
            bail!("target {url:?}: an https:// target needs --tls-ca-file with the CA certificate that signed the server's");
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("target {url:?}: missing host");
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:{default_port}")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("target {url:?}: cannot resolve {with_port}"))?
            .next()
            .with_context(|| format!("target {url:?}: {with_port} resolves to no address"))?;
        let authorization = std::env::var(API_KEY_VAR)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .map(|key| format!("Bearer {}", key.trim()));
        let host = authority
            .rsplit_once(':')
            .filter(|(_, port)| port.parse::<u16>().is_ok())
            .map_or(authority, |(host, _)| host);
        let tls = match ca_file {
            Some(ca_file) if https => Some(TlsTarget::new(host, ca_file)?),
            _ => None,
        };
        Ok(Target {
            authority: authority.to_string(),
            base_path: path.trim_end_matches('/').to_string(),
            addr,
            authorization,
            tls,
        })
    }

    /// The request target for `path` (which starts with `/`).
    pub fn path(&self, path: &str) -> String {
        format!("{}{}", self.base_path, path)
    }

    /// Opens one TCP connection to the target and closes it, giving up after
    /// `timeout`. A run checks this before it starts: a failed connect
    /// inside the run is only an error count, so against an address nothing
    /// listens on a run would otherwise spend its whole duration failing.
    pub fn probe(&self, timeout: Duration) -> io::Result<()> {
        TcpStream::connect_timeout(&self.addr, timeout).map(drop)
    }
}

/// A response with its body read completely.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server asked to close the connection after this response.
    pub close: bool,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "HTTP {}: the body is not JSON: {}",
                self.status,
                self.text()
            )
        })
    }
}

/// How a request failed before a complete response arrived.
#[derive(Debug)]
pub enum RequestError {
    Connect(io::Error),
    Timeout,
    /// The connection broke (reset, closed early, or another I/O error).
    Io(io::Error),
    /// The bytes that came back are not an HTTP/1.1 response we understand.
    Protocol(String),
}

impl RequestError {
    /// A short, stable name for error counts in reports.
    pub fn kind(&self) -> &'static str {
        match self {
            RequestError::Connect(_) => "connect",
            RequestError::Timeout => "timeout",
            RequestError::Io(_) => "io",
            RequestError::Protocol(_) => "protocol",
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Connect(e) => write!(f, "connect failed: {e}"),
            RequestError::Timeout => write!(f, "timed out"),
            RequestError::Io(e) => write!(f, "connection error: {e}"),
            RequestError::Protocol(m) => write!(f, "bad response: {m}"),
        }
    }
}

impl std::error::Error for RequestError {}

fn io_error(e: io::Error) -> RequestError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RequestError::Timeout,
        _ => RequestError::Io(e),
    }
}

/// A connection to the target: a socket, or a TLS session over one.
enum Connection {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Connection::Plain(socket) => socket.read(buf),
            Connection::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Connection::Plain(socket) => socket.write(buf),
            Connection::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Connection::Plain(socket) => socket.flush(),
            Connection::Tls(stream) => stream.flush(),
        }
    }
}

/// One keep-alive connection that reconnects on demand.
pub struct Client {
    target: Target,
    timeout: Duration,
    stream: Option<BufReader<Connection>>,
    head: Vec<u8>,
}

impl Client {
    pub fn new(target: Target, timeout: Duration) -> Client {
        Client {
            target,
            timeout,
            stream: None,
            head: Vec::with_capacity(256),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Sends one request and reads the whole response. On any failure the
    /// connection is dropped, so the next request starts on a fresh one.
    /// A request is never retried here: whether it may be is the caller's
    /// decision (an ingest request that timed out may have been stored).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, RequestError> {
        let result = self.try_request(method, path, content_type, body);
        match &result {
            Ok(response) if !response.close => {}
            _ => self.stream = None,
        }
        result
    }

    /// Sends one request and hands each line of a 2xx response's body to
    /// `each_line` (without its `\n`) as it arrives: a streamed NDJSON
    /// answer is checked while the server still produces it, in one line's
    /// memory plus the read buffers. Any other status is an error carrying
    /// the body's text, as is an error from `each_line`.
    pub fn request_lines(
        &mut self,
        path: &str,
        content_type: &str,
        body: &[u8],
        mut each_line: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.build_head("POST", path, Some(content_type), body.len());
        self.head.extend_from_slice(body);
        let head = std::mem::take(&mut self.head);
        let result = self.stream_lines(&head, &mut each_line);
        self.head = head;
        if !matches!(result, Ok(false)) {
            self.stream = None;
        }
        result.map(drop)
    }

    /// [`Client::request_lines`] once the request is built; `Ok(close)`.
    fn stream_lines(
        &mut self,
        request: &[u8],
        each_line: &mut impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<bool> {
        let stream = self.connected()?;
        let socket = stream.get_mut();
        socket.write_all(request).map_err(io_error)?;
        socket.flush().map_err(io_error)?;
        let head = read_head(stream, false)?;
        let mut body =
            BufReader::with_capacity(STREAM_BUFFER_BYTES, BodyReader::new(stream, head.framing));
        if !(200..300).contains(&head.status) {
            let mut text = Vec::new();
            body.read_to_end(&mut text).map_err(io_error)?;
            bail!("HTTP {}: {}", head.status, String::from_utf8_lossy(&text));
        }
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            if body.read_until(b'\n', &mut line).map_err(io_error)? == 0 {
                return Ok(head.close);
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if !text.is_empty() {
                each_line(text)?;
            }
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, RequestError> {
        self.build_head(method, path, content_type, body.len());
        // A small body goes out in the same segment as the head.
        let separate_body = body.len() > SMALL_BODY_BYTES;
        if !separate_body {
            self.head.extend_from_slice(body);
        }
        let head = std::mem::take(&mut self.head);
        let result = self.send_and_read(&head, separate_body.then_some(body), method == "HEAD");
        self.head = head;
        result
    }

    fn send_and_read(
        &mut self,
        head: &[u8],
        body: Option<&[u8]>,
        head_only: bool,
    ) -> Result<Response, RequestError> {
        let stream = self.connected()?;
        let socket = stream.get_mut();
        socket.write_all(head).map_err(io_error)?;
        if let Some(body) = body {
            socket.write_all(body).map_err(io_error)?;
        }
        socket.flush().map_err(io_error)?;
        read_response(stream, head_only)
    }

    fn build_head(&mut self, method: &str, path: &str, content_type: Option<&str>, len: usize) {
        self.head.clear();
        let full_path = self.target.path(path);
        // Writing into a Vec cannot fail.
        let _ = write!(
            self.head,
            "{method} {full_path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: loadgen/{}\r\nContent-Length: {len}\r\n",
            self.target.authority,
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(content_type) = content_type {
            let _ = write!(self.head, "Content-Type: {content_type}\r\n");
        }
        if let Some(authorization) = &self.target.authorization {
            let _ = write!(self.head, "Authorization: {authorization}\r\n");
        }
        self.head.extend_from_slice(b"\r\n");
    }

    fn connected(&mut self) -> Result<&mut BufReader<Connection>, RequestError> {
        if self.stream.is_none() {
            let socket = TcpStream::connect_timeout(&self.target.addr, self.timeout)
                .map_err(RequestError::Connect)?;
            socket.set_nodelay(true).map_err(RequestError::Connect)?;
            socket
                .set_read_timeout(Some(self.timeout))
                .map_err(RequestError::Connect)?;
            socket
                .set_write_timeout(Some(self.timeout))
                .map_err(RequestError::Connect)?;
            let connection = match &self.target.tls {
                None => Connection::Plain(socket),
                Some(tls) => {
                    let session =
                        rustls::ClientConnection::new(tls.config.clone(), tls.server_name.clone())
                            .map_err(|e| RequestError::Connect(io::Error::other(e)))?;
                    Connection::Tls(Box::new(rustls::StreamOwned::new(session, socket)))
                }
            };
            self.stream = Some(BufReader::with_capacity(64 * 1024, connection));
        }
        Ok(self.stream.as_mut().expect("connected above"))
    }
}

/// Bodies up to this size are copied behind the head and sent with one
/// write; larger ones are written separately from the caller's buffer.
const SMALL_BODY_BYTES: usize = 16 * 1024;

/// The read buffer of a streamed body: large, so that one `read` takes
/// in many lines of a fast stream.
const STREAM_BUFFER_BYTES: usize = 256 * 1024;

/// Largest response head accepted; a longer one is a protocol error.
const HEAD_BYTES_MAX: usize = 64 * 1024;

/// A response's status line and headers: what the body's framing is.
struct Head {
    status: u16,
    framing: Framing,
    /// The server asked to close the connection after this response.
    close: bool,
}

/// How a response body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    /// No length: the body runs until the server closes the connection.
    UntilClose,
}

fn read_head(stream: &mut BufReader<Connection>, head_only: bool) -> Result<Head, RequestError> {
    let mut line = String::new();
    read_line(stream, &mut line)?;
    let status = parse_status_line(&line)?;
    let mut content_length = None;
    let mut chunked = false;
    let mut close = false;
    let mut head_bytes = line.len();
    loop {
        line.clear();
        read_line(stream, &mut line)?;
        head_bytes += line.len();
        if head_bytes > HEAD_BYTES_MAX {
            return Err(RequestError::Protocol("response head over 64 KiB".into()));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(RequestError::Protocol(format!(
                "bad header line {header:?}"
            )));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse::<usize>()
                .map_err(|_| RequestError::Protocol(format!("bad Content-Length {value:?}")))?;
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let framing = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(length) = content_length {
        Framing::Length(length)
    } else {
        close = true;
        Framing::UntilClose
    };
    Ok(Head {
        status,
        framing,
        close,
    })
}

fn read_response(
    stream: &mut BufReader<Connection>,
    head_only: bool,
) -> Result<Response, RequestError> {
    let head = read_head(stream, head_only)?;
    let mut body = Vec::new();
    if let Framing::Length(length) = head.framing {
        body.reserve_exact(length);
    }
    BodyReader::new(stream, head.framing)
        .read_to_end(&mut body)
        .map_err(io_error)?;
    Ok(Response {
        status: head.status,
        body,
        close: head.close,
    })
}

fn read_line(stream: &mut BufReader<Connection>, line: &mut String) -> Result<(), RequestError> {
    let n = stream.read_line(line).map_err(io_error)?;
    if n == 0 {
        return Err(RequestError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    Ok(())
}

fn parse_status_line(line: &str) -> Result<u16, RequestError> {
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next().unwrap_or("");
    let status = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(RequestError::Protocol(format!(
            "bad status line {:?}",
            line.trim_end()
        )));
    }
    status
        .parse()
        .map_err(|_| RequestError::Protocol(format!("bad status line {:?}", line.trim_end())))
}

/// A response body as a `Read`, whatever its framing: the chunked encoding
/// is decoded as the bytes arrive, so a streamed answer (NDJSON) can be
/// consumed while the server is still producing it.
struct BodyReader<'a> {
    stream: &'a mut BufReader<Connection>,
    framing: Framing,
    /// Bytes left in the current chunk (chunked) or the body (length).
    remaining: usize,
    /// The body's last byte has been read.
    done: bool,
    /// A chunk size line has been read (the next one follows a CRLF).
    chunk_seen: bool,
}

impl<'a> BodyReader<'a> {
    fn new(stream: &'a mut BufReader<Connection>, framing: Framing) -> BodyReader<'a> {
        let remaining = match framing {
            Framing::Length(length) => length,
            _ => 0,
        };
        BodyReader {
            stream,
            framing,
            remaining,
            done: framing == Framing::Empty || framing == Framing::Length(0),
            chunk_seen: false,
        }
    }

    /// Reads the next chunk's size line (after the previous chunk's CRLF);
    /// the last chunk also consumes the trailers.
    fn next_chunk(&mut self, first: bool) -> io::Result<()> {
        let mut line = String::new();
        if !first {
            self.read_line_io(&mut line)?;
            line.clear();
        }
        self.read_line_io(&mut line)?;
        let size_text = line.trim_end().split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad chunk size {size_text:?}"),
            )
        })?;
        if size == 0 {
            loop {
                line.clear();
                self.read_line_io(&mut line)?;
                if line.trim_end().is_empty() {
                    break;
                }
            }
            self.done = true;
        }
        self.remaining = size;
        Ok(())
    }

    /// Reads what is left of the body or the chunk, as much as fits in
    /// `buf`; the connection closing first is an error naming `inside`.
    fn read_remaining(&mut self, buf: &mut [u8], inside: &str) -> io::Result<usize> {
        let want = buf.len().min(self.remaining);
        let n = self.stream.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the server closed the connection inside {inside}"),
            ));
        }
        self.remaining -= n;
        Ok(n)
    }

    fn read_line_io(&mut self, line: &mut String) -> io::Result<()> {
        if self.stream.read_line(line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection inside a chunked body",
            ));
        }
        Ok(())
    }
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Empty => Ok(0),
            Framing::UntilClose => self.stream.read(buf),
            Framing::Length(_) => {
                if self.done {
                    return Ok(0);
                }
                let n = self.read_remaining(buf, "the body")?;
                self.done = self.remaining == 0;
                Ok(n)
            }
            Framing::Chunked => {
                if self.remaining == 0 && !self.done {
                    let first = !self.chunk_seen;
                    self.chunk_seen = true;
                    self.next_chunk(first)?;
                }
                if self.done {
                    return Ok(0);
                }
                self.read_remaining(buf, "a chunk")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A one-connection server that answers each request with the next
    /// canned response and hands back what it received.
    fn serve(responses: Vec<&'static [u8]>) -> (Target, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut received = Vec::new();
            for response in responses {
                let mut buf = [0u8; 4096];
                let n = socket.read(&mut buf).unwrap();
                received.extend_from_slice(&buf[..n]);
                socket.write_all(response).unwrap();
            }
            received
        });
        (
            Target::parse(&format!("http://{addr}/base/")).unwrap(),
            handle,
        )
    }

    #[test]
    fn parses_targets() {
        let t = Target::parse("http://127.0.0.1:7777").unwrap();
        assert_eq!(t.authority, "127.0.0.1:7777");
        assert_eq!(t.base_path, "");
        assert_eq!(t.path("/health"), "/health");
        let t = Target::parse("http://127.0.0.1:9200/es/").unwrap();
        assert_eq!(t.path("/_bulk"), "/es/_bulk");
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!(t.addr.port(), 80);
        assert!(Target::parse("https://x:1")
            .unwrap_err()
            .to_string()
            .contains("--tls-ca-file"));
        assert!(Target::parse("ftp://x:1")
            .unwrap_err()
            .to_string()
            .contains("only http:// and https://"));
        assert!(Target::parse("http:///x").is_err());
    }

    #[test]
    fn probe_connects_only_where_something_listens() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Target::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        target.probe(Duration::from_secs(5)).unwrap();
        drop(listener);
        let error = target.probe(Duration::from_secs(5)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    }

    #[test]
    fn keep_alive_content_length_and_chunked() {
        let (target, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        ]);
        let mut client = Client::new(target, Duration::from_secs(5));
        let first = client
            .request("POST", "/logs", Some("text/plain"), b"xyz")
            .unwrap();
        assert_eq!((first.status, first.body.as_slice()), (200, &b"hello"[..]));
        let second = client.request("GET", "/q", None, b"").unwrap();
        assert_eq!(
            (second.status, second.body.as_slice()),
            (503, &b"abcde"[..])
        );
        assert!(!second.is_success());
        let received = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(
            received.starts_with("POST /base/logs HTTP/1.1\r\n"),
            "{received}"
        );
        assert!(received.contains("Content-Length: 3\r\nContent-Type: text/plain\r\n\r\nxyz"));
        assert!(received.contains("GET /base/q HTTP/1.1\r\n"));
    }

    #[test]
    fn streamed_lines_cross_chunk_boundaries_and_keep_the_connection() {
        let (target, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{\"a\":1\r\n5;x=y\r\n}\n{\"b\r\n5\r\n\":2}\n\r\n0\r\nTrailer: t\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nx\ny\n",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nbad cursor\n",
        ]);
        let mut client = Client::new(target, Duration::from_secs(5));
        let mut lines = Vec::new();
        let mut collect = |line: &[u8]| {
            lines.push(String::from_utf8(line.to_vec()).unwrap());
            Ok(())
        };
        client
            .request_lines("/q", "application/json", b"{}", &mut collect)
            .unwrap();
        client
            .request_lines("/q", "application/json", b"{}", &mut collect)
            .unwrap();
        assert_eq!(lines, [r#"{"a":1}"#, r#"{"b":2}"#, "x", "y"]);
        let error = client
            .request_lines("/q", "application/json", b"{}", |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert_eq!(error, "HTTP 400: bad cursor\n");
        // All three went over the one keep-alive connection.
        let received = String::from_utf8(server.join().unwrap()).unwrap();
        assert_eq!(received.matches("POST /base/q HTTP/1.1").count(), 3);
    }

    #[test]
    fn a_chunked_body_cut_short_is_an_error() {
        let (target, _server) = serve(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab\ncd",
        ]);
        let mut client = Client::new(target, Duration::from_secs(5));
        let mut lines = 0;
        let error = client
            .request_lines("/q", "application/json", b"{}", |_| {
                lines += 1;
                Ok(())
            })
            .unwrap_err();
        assert_eq!(lines, 1, "the complete line before the cut");
        assert!(error.to_string().contains("inside a chunk"), "{error}");
    }

    #[test]
    fn garbage_and_early_close_are_errors() {
        let (target, server) = serve(vec![b"SSH-2.0-OpenSSH\r\n"]);
        let mut client = Client::new(target, Duration::from_secs(5));
        let err = client.request("GET", "/", None, b"").unwrap_err();
        assert_eq!(err.kind(), "protocol");
        server.join().unwrap();
        let (target, server) = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]);
        let mut client = Client::new(target, Duration::from_secs(5));
        let err = client.request("GET", "/", None, b"").unwrap_err();
        assert_eq!(err.kind(), "io");
        server.join().unwrap();
    }
}
