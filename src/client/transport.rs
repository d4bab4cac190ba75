//! HTTP to the server: requests out, bodies and error answers in. Nothing here knows what
//! a query or a partition is; the commands build paths and bodies, the renderers print.
//!
//! Built on `ureq` (blocking, no async runtime, a handful of small dependencies without TLS),
//! which handles keep-alive between the pages of a query and chunked bodies, and hands a
//! streamed body over as a reader so a tail is printed line by line as it arrives.
//!
//! Every answer with an error status becomes [`ClientError::Server`] here, and every failure
//! to connect becomes [`ClientError::Unreachable`] naming the URL, so each command handles
//! only its successful answers.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use super::error::{ClientError, Result};

/// How long to wait for a connection. A server that is up accepts at once; past this the
/// address is wrong or a firewall drops the packets.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest answer body read into memory (a JSON page, a partition list). Above any page the
/// server builds with its default `query.max_result_bytes` (64 MiB); the bound only keeps a
/// misbehaving peer from making the client allocate without end. Streams are not buffered.
const ANSWER_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// Bytes read ahead of a streamed answer; a tail line is handed on as soon as it is complete.
const STREAM_BUFFER_BYTES: usize = 64 * 1024;

/// A server at a base URL such as `http://127.0.0.1:7777`, with a pool of kept-alive
/// connections.
pub struct Server {
    /// `http://host:port` plus any path prefix, without a trailing `/`.
    base_url: String,
    agent: ureq::Agent,
    /// `Authorization` for every request (`Bearer <key>`), when a key was given.
    authorization: Option<String>,
}

/// A successful (2xx) answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Server {
    /// Checks `url` (plain `http://`, a host) and prepares the connection pool.
    pub fn new(url: &str) -> Result<Server> {
        let base_url = normalise_base_url(url)?;
        // Proxies from the environment (HTTP_PROXY, ALL_PROXY, NO_PROXY) apply to remote
        // servers only: a proxy cannot reach this machine's loopback address.
        let proxy = if is_loopback(&base_url) {
            None
        } else {
            ureq::Proxy::try_from_env()
        };
        let config = ureq::Agent::config_builder()
            .proxy(proxy)
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .user_agent(concat!("timberdb-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Server {
            base_url,
            agent: ureq::Agent::new_with_config(config),
            authorization: None,
        })
    }

    /// Sends `key` with every request.
    pub fn with_api_key(mut self, key: Option<String>) -> Server {
        self.authorization = key.map(|key| format!("Bearer {}", key.trim()));
        self
    }

    /// Adds `Authorization` when a key was given.
    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.authorization {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    /// The base URL, as errors name it.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    pub fn get(&self, path: &str) -> Result<Answer> {
        let response = self.authorized(self.agent.get(self.url_of(path))).call();
        self.read_answer(response)
    }

    pub fn post_json(&self, path: &str, body: &str) -> Result<Answer> {
        self.send_json(self.agent.post(self.url_of(path)), body)
    }

    pub fn patch_json(&self, path: &str, body: &str) -> Result<Answer> {
        self.send_json(self.agent.patch(self.url_of(path)), body)
    }

    fn send_json(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
        body: &str,
    ) -> Result<Answer> {
        let response = self
            .authorized(request)
            .content_type("application/json")
            .send(body);
        self.read_answer(response)
    }

    pub fn delete(&self, path: &str) -> Result<Answer> {
        let response = self.authorized(self.agent.delete(self.url_of(path))).call();
        self.read_answer(response)
    }

    /// GETs a streamed answer and hands its body over as lines are read from it.
    pub fn get_stream(&self, path: &str) -> Result<Box<dyn BufRead>> {
        let response = self
            .authorized(self.agent.get(self.url_of(path)))
            .header("Accept", "application/x-ndjson")
            .call()
            .map_err(|error| self.request_error(error))?;
        let status = response.status().as_u16();
        let body = response.into_body();
        if !(200..300).contains(&status) {
            let mut text = String::new();
            // An error body is a short JSON object; what cannot be read is left out.
            let _ = body
                .into_reader()
                .take(ANSWER_BYTES_MAX)
                .read_to_string(&mut text);
            return Err(ClientError::from_error_answer(status, &text));
        }
        Ok(Box::new(BufReader::with_capacity(
            STREAM_BUFFER_BYTES,
            body.into_reader(),
        )))
    }

    fn url_of(&self, path: &str) -> String {
        debug_assert!(path.starts_with('/'), "paths are absolute: {path}");
        format!("{}{path}", self.base_url)
    }

    fn read_answer(
        &self,
        response: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer> {
        let mut response = response.map_err(|error| self.request_error(error))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(ANSWER_BYTES_MAX)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|error| self.body_error(error))?;
        if (200..300).contains(&status) {
            Ok(Answer { status, body })
        } else {
            Err(ClientError::from_error_answer(status, &body))
        }
    }

    /// A failure before the answer's head arrived: mostly "nobody listens there".
    fn request_error(&self, error: ureq::Error) -> ClientError {
        let url = self.base_url.clone();
        match error {
            ureq::Error::Io(io) => ClientError::Unreachable {
                url,
                reason: io_reason(&io),
            },
            ureq::Error::HostNotFound => ClientError::Unreachable {
                url,
                reason: "the host name does not resolve".to_string(),
            },
            ureq::Error::ConnectionFailed => ClientError::Unreachable {
                url,
                reason: "the connection failed".to_string(),
            },
            ureq::Error::Timeout(timeout) => ClientError::Unreachable {
                url,
                reason: format!("timed out ({timeout})"),
            },
            other => ClientError::BadAnswer {
                url,
                reason: other.to_string(),
            },
        }
    }

    /// A failure while the body was read: the connection or the answer broke.
    fn body_error(&self, error: ureq::Error) -> ClientError {
        let url = self.base_url.clone();
        match error {
            ureq::Error::Io(io) => ClientError::ConnectionLost {
                url,
                reason: io_reason(&io),
            },
            ureq::Error::Timeout(timeout) => ClientError::ConnectionLost {
                url,
                reason: format!("timed out ({timeout})"),
            },
            other => ClientError::BadAnswer {
                url,
                reason: other.to_string(),
            },
        }
    }
}

/// An I/O error as the end of a sentence: "connection refused", not "Connection refused
/// (os error 111)".
pub fn io_reason(error: &std::io::Error) -> String {
    // An OS error's kind reads well ("connection refused"); anything else says more itself.
    match error.raw_os_error() {
        Some(_) if error.kind() != std::io::ErrorKind::Other => error.kind().to_string(),
        _ => error.to_string(),
    }
}

/// `http://host:port[/prefix]` without a trailing `/`; a bare `host:port` gets `http://`.
pub fn normalise_base_url(url: &str) -> Result<String> {
    let url = url.trim();
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let Some(rest) = with_scheme.strip_prefix("http://") else {
        return Err(ClientError::Usage(format!(
            "--server {url:?}: only http:// URLs are supported (the server speaks plain HTTP)"
        )));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains(['?', '#', ' ']) {
        return Err(ClientError::Usage(format!(
            "--server {url:?} is not a URL such as http://127.0.0.1:7777"
        )));
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
}

/// Whether the URL's host is this machine: `localhost`, `127.x.x.x` or `[::1]`.
pub fn is_loopback(base_url: &str) -> bool {
    let authority = base_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Percent-encodes `text` for a path segment or a query value: everything but RFC 3986's
/// unreserved characters, so a partition name or a query is sent exactly as typed.
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised() {
        assert_eq!(
            normalise_base_url("http://127.0.0.1:7777/").unwrap(),
            "http://127.0.0.1:7777"
        );
        assert_eq!(
            normalise_base_url("localhost:9000").unwrap(),
            "http://localhost:9000"
        );
        assert_eq!(
            normalise_base_url("http://proxy/timberdb/").unwrap(),
            "http://proxy/timberdb"
        );
    }

    #[test]
    fn urls_the_client_cannot_use_are_usage_errors() {
        for url in ["https://db:7777", "http://", "ftp://x", "http://a b"] {
            let error = normalise_base_url(url).unwrap_err();
            assert_eq!(error.exit_code(), super::super::error::EXIT_USAGE, "{url}");
        }
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for url in [
            "http://127.0.0.1:7777",
            "http://localhost",
            "http://[::1]:1/x",
            "http://127.8.9.1",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "http://10.0.0.1:7777",
            "http://db.internal",
            "http://[2001:db8::1]:7",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_bytes() {
        assert_eq!(percent_encode("web-1_a.b~"), "web-1_a.b~");
        assert_eq!(
            percent_encode("level:error \"a+b\"/é"),
            "level%3Aerror%20%22a%2Bb%22%2F%C3%A9"
        );
    }
}
