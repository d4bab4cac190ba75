//! framing: "where does each request on this connection start and end, and
//! is its head one we can answer?"
//!
//! hyper answers a request head it cannot parse with a bare status and no
//! body (and has no hook to change that), reads `Transfer-Encoding: gzip,
//! chunked` as plain chunked, and takes a chunk size of `ffffffffffffffff`
//! at its word. So every byte a client sends passes through this state
//! machine (in `io::HyperStream`) before hyper sees it:
//!
//! - a request head is held back until it is complete, then checked with
//!   the same parser hyper uses (`httparse`) plus the rules hyper applies on
//!   top (Content-Length, Transfer-Encoding, the request target). A head
//!   that fails is never handed to hyper; `connection` answers it with the
//!   usual JSON error body and closes. So hyper never writes a bare error.
//! - a body is followed by its framing: a Content-Length body is counted (no
//!   per-byte work), a chunked body's size lines are read so a chunk size no
//!   body can have is refused at once instead of waiting for 2^64 bytes.
//!
//! Plain functions over bytes, no glommio, so unit tests and fuzzers drive
//! it directly. Invariant: bytes are handed to hyper only in `Body` state or
//! as a whole, checked head, so hyper's view of the stream and ours agree.

use super::error::{ApiError, ErrorKind};

/// The largest request head (request line and headers) we read: 64 KiB,
/// held per connection only while a head is incomplete. Past it: 431.
pub const REQUEST_HEAD_BYTES_MAX: usize = 64 * 1024;
/// The longest request line (method, target, version). Past it: 414.
pub const REQUEST_LINE_BYTES_MAX: usize = 16 * 1024;
/// Header fields per request, as hyper's default (each costs 32 bytes of
/// stack while a head is parsed). Past it: 431.
pub const REQUEST_HEADERS_MAX: usize = 100;
/// Bytes of chunked-body trailer fields we skip before refusing the body.
pub const CHUNK_TRAILER_BYTES_MAX: u64 = 16 * 1024;
/// A chunk size needs at most this many hex digits to reach `i64::MAX`.
const CHUNK_SIZE_DIGITS_MAX: u32 = 16;

/// Why a request's framing was refused: status, code and a message a
/// person can act on. Carried inside an `io::Error` when found mid-body, so
/// `body::read_limited` can answer with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FramingError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
}

impl FramingError {
    fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> FramingError {
        FramingError {
            kind,
            code,
            message: message.into(),
        }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> FramingError {
        FramingError::new(ErrorKind::BadRequest, code, message)
    }

    pub fn to_api_error(&self) -> ApiError {
        ApiError::new(self.kind, self.code, self.message.clone())
    }
}

/// How a checked request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// What `check_head` found at the start of the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadCheck {
    /// Not a whole head yet, and nothing wrong so far.
    Partial,
    /// A whole, acceptable head of `head_bytes` bytes.
    Complete {
        head_bytes: usize,
        body: BodyFraming,
    },
    Refused(FramingError),
}

/// Checks the request head at the start of `bytes` as hyper would parse it.
pub fn check_head(bytes: &[u8]) -> HeadCheck {
    let mut headers = [httparse::EMPTY_HEADER; REQUEST_HEADERS_MAX];
    let mut request = httparse::Request::new(&mut headers);
    let parsed = request.parse(bytes);
    let request_line_bytes = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
    if request_line_bytes > REQUEST_LINE_BYTES_MAX {
        return HeadCheck::Refused(uri_too_long());
    }
    match parsed {
        Ok(httparse::Status::Partial) if bytes.len() > REQUEST_HEAD_BYTES_MAX => {
            HeadCheck::Refused(head_too_large())
        }
        Ok(httparse::Status::Partial) => HeadCheck::Partial,
        Ok(httparse::Status::Complete(head_bytes)) if head_bytes > REQUEST_HEAD_BYTES_MAX => {
            HeadCheck::Refused(head_too_large())
        }
        Ok(httparse::Status::Complete(head_bytes)) => match check_fields(&request) {
            Ok(body) => HeadCheck::Complete { head_bytes, body },
            Err(error) => HeadCheck::Refused(error),
        },
        Err(error) => HeadCheck::Refused(parse_refusal(error)),
    }
}

fn uri_too_long() -> FramingError {
    FramingError::new(
        ErrorKind::UriTooLong,
        "uri_too_long",
        format!(
            "the request line is longer than {REQUEST_LINE_BYTES_MAX} bytes; send long queries in a POST body"
        ),
    )
}

fn head_too_large() -> FramingError {
    FramingError::new(
        ErrorKind::HeadersTooLarge,
        "headers_too_large",
        format!(
            "the request headers are larger than {REQUEST_HEAD_BYTES_MAX} bytes or more than {REQUEST_HEADERS_MAX} fields"
        ),
    )
}

fn parse_refusal(error: httparse::Error) -> FramingError {
    use httparse::Error;
    let what = match error {
        Error::TooManyHeaders => return head_too_large(),
        Error::HeaderName => "a header name holds a character a header name may not have",
        Error::HeaderValue => "a header value holds a control character",
        Error::NewLine => "a line of the request head does not end in CRLF",
        Error::Token | Error::Status => {
            "the request line is not `METHOD /path HTTP/1.1` (bad method or target)"
        }
        Error::Version => "the request line does not end in HTTP/1.1 or HTTP/1.0",
    };
    FramingError::bad(
        "malformed_request",
        format!("the request could not be parsed: {what}"),
    )
}

/// The rules hyper applies after parsing, made explicit so none of them can
/// produce hyper's bare 400.
fn check_fields(request: &httparse::Request<'_, '_>) -> Result<BodyFraming, FramingError> {
    let target = request.path.unwrap_or_default();
    if http::Uri::try_from(target).is_err() {
        return Err(FramingError::bad(
            "malformed_request",
            format!("the request target {target:?} is not a valid path"),
        ));
    }
    let content_length = content_length(request.headers)?;
    let codings = transfer_codings(request.headers);
    if codings.is_empty() {
        return Ok(match content_length {
            None | Some(0) => BodyFraming::None,
            Some(bytes) => BodyFraming::Length(bytes),
        });
    }
    check_transfer_codings(&codings, content_length, request.version)?;
    Ok(BodyFraming::Chunked)
}

/// The one Content-Length all `Content-Length` fields agree on (repeats of
/// the same value are allowed, as RFC 9110 8.6 permits).
fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, FramingError> {
    let mut agreed: Option<u64> = None;
    let values = headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("content-length"))
        .flat_map(|header| header.value.split(|byte| *byte == b','));
    for value in values {
        let text = std::str::from_utf8(value).unwrap_or("").trim();
        let parsed = (!text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| {
                FramingError::bad(
                    "invalid_content_length",
                    format!(
                        "Content-Length {:?} is not a decimal byte count",
                        String::from_utf8_lossy(value).trim()
                    ),
                )
            })?;
        if agreed.is_some_and(|previous| previous != parsed) {
            return Err(FramingError::bad(
                "invalid_content_length",
                "the request has Content-Length fields that disagree; send exactly one",
            ));
        }
        agreed = Some(parsed);
    }
    Ok(agreed)
}

/// Every transfer coding of every `Transfer-Encoding` field, lowercase, in order.
fn transfer_codings(headers: &[httparse::Header<'_>]) -> Vec<String> {
    headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|header| header.value.split(|byte| *byte == b','))
        .map(|coding| String::from_utf8_lossy(coding).trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty())
        .collect()
}

/// RFC 9112 6.1 and 6.3: chunked must be the last coding (else the body's
/// end is unknowable: 400), a coding we do not implement is a 501, and a
/// request with both Transfer-Encoding and Content-Length is refused (the
/// classic request-smuggling ambiguity) rather than guessed at.
fn check_transfer_codings(
    codings: &[String],
    content_length: Option<u64>,
    version: Option<u8>,
) -> Result<(), FramingError> {
    if version == Some(0) {
        return Err(FramingError::bad(
            "invalid_transfer_encoding",
            "HTTP/1.0 has no Transfer-Encoding; send Content-Length or use HTTP/1.1",
        ));
    }
    if content_length.is_some() {
        return Err(FramingError::bad(
            "invalid_transfer_encoding",
            "the request has both Transfer-Encoding and Content-Length; send one of them",
        ));
    }
    let chunked_count = codings.iter().filter(|coding| *coding == "chunked").count();
    if codings.last().map(String::as_str) != Some("chunked") || chunked_count > 1 {
        return Err(FramingError::bad(
            "invalid_transfer_encoding",
            format!(
                "Transfer-Encoding {:?} does not end in a single chunked, so the body's end cannot be found",
                codings.join(", ")
            ),
        ));
    }
    if codings.len() > 1 {
        let others = codings[..codings.len() - 1].join(", ");
        return Err(FramingError::new(
            ErrorKind::NotImplemented,
            "unsupported_transfer_encoding",
            format!(
                "Transfer-Encoding {others:?} is not supported: send the body with Transfer-Encoding: chunked alone, and compress it with Content-Encoding (gzip, deflate or zstd)"
            ),
        ));
    }
    Ok(())
}

/// Where a connection is in its stream of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests or inside a head (held back from hyper).
    Head,
    Length {
        remaining: u64,
    },
    Chunked(Chunk),
}

/// Where a chunked body is (RFC 9112 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size {
        value: u64,
        digits: u32,
    },
    /// Whitespace after the size, before `;` or CR (as hyper allows).
    SizeSpace {
        value: u64,
    },
    Extension {
        value: u64,
    },
    SizeLf {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    TrailerLineStart {
        seen: u64,
    },
    TrailerLine {
        seen: u64,
    },
    FinalLf,
}

/// The body framing of one connection's requests, fed the bytes hyper is
/// about to see.
#[derive(Debug)]
pub struct BodyTracker {
    state: State,
    /// A chunk larger than this can never be accepted (the largest body
    /// limit), so it is refused with a 413 at once.
    chunk_bytes_max: u64,
}

/// What `BodyTracker::scan` found.
#[derive(Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Leading bytes that belong to the current body (hand them to hyper).
    pub body_bytes: usize,
    /// Whether the body ended with them (the next byte starts a head).
    pub body_ended: bool,
}

impl BodyTracker {
    pub fn new(chunk_bytes_max: u64) -> BodyTracker {
        BodyTracker {
            state: State::Head,
            chunk_bytes_max,
        }
    }

    /// Whether the next byte starts (or continues) a request head.
    pub fn at_head(&self) -> bool {
        self.state == State::Head
    }

    /// Starts the body of a head `check_head` accepted.
    pub fn start_body(&mut self, body: BodyFraming) {
        assert!(self.at_head(), "a body starts only after a head");
        self.state = match body {
            BodyFraming::None => State::Head,
            BodyFraming::Length(remaining) => State::Length { remaining },
            BodyFraming::Chunked => State::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
            }),
        };
    }

    /// Follows the current body over `bytes`. Must not be called at a head.
    pub fn scan(&mut self, bytes: &[u8]) -> Result<Scanned, FramingError> {
        let body_bytes = match &mut self.state {
            State::Head => unreachable!("scan is called only inside a body"),
            State::Length { remaining } => {
                let taken = (*remaining).min(bytes.len() as u64);
                *remaining -= taken;
                if *remaining == 0 {
                    self.state = State::Head;
                }
                taken as usize
            }
            State::Chunked(_) => self.scan_chunked(bytes)?,
        };
        Ok(Scanned {
            body_bytes,
            body_ended: self.at_head(),
        })
    }

    /// The error for a connection that ended here: none between requests.
    pub fn on_end_of_stream(&self) -> Option<FramingError> {
        let what = match self.state {
            State::Head => return None,
            State::Length { remaining } => {
                format!("{remaining} bytes short of its Content-Length")
            }
            State::Chunked(_) => "before its last (zero-size) chunk".to_string(),
        };
        Some(FramingError::bad(
            "incomplete_body",
            format!("the client closed the connection with the request body {what}; nothing of it was stored"),
        ))
    }

    fn scan_chunked(&mut self, bytes: &[u8]) -> Result<usize, FramingError> {
        let mut at = 0;
        while at < bytes.len() {
            let State::Chunked(chunk) = self.state else {
                break;
            };
            if let Chunk::Data { remaining } = chunk {
                let taken = remaining.min((bytes.len() - at) as u64);
                at += taken as usize;
                self.state = State::Chunked(match remaining - taken {
                    0 => Chunk::DataCr,
                    left => Chunk::Data { remaining: left },
                });
                continue;
            }
            self.state = self.step_chunked(chunk, bytes[at])?;
            at += 1;
        }
        Ok(at)
    }

    /// One byte of a chunked body outside chunk data.
    fn step_chunked(&self, chunk: Chunk, byte: u8) -> Result<State, FramingError> {
        let next = match (chunk, byte) {
            (Chunk::Size { value, digits }, _) if byte.is_ascii_hexdigit() => {
                return self.size_digit(value, digits, byte)
            }
            (Chunk::Size { digits: 0, .. }, _) => return Err(bad_chunk("a chunk size is missing")),
            (Chunk::Size { value, .. } | Chunk::SizeSpace { value }, b' ' | b'\t') => {
                Chunk::SizeSpace { value }
            }
            (Chunk::Size { value, .. } | Chunk::SizeSpace { value }, b';') => {
                Chunk::Extension { value }
            }
            (
                Chunk::Size { value, .. } | Chunk::SizeSpace { value } | Chunk::Extension { value },
                b'\r',
            ) => Chunk::SizeLf { value },
            (Chunk::Extension { value }, _) => Chunk::Extension { value },
            (Chunk::SizeLf { value: 0 }, b'\n') => Chunk::TrailerLineStart { seen: 0 },
            (Chunk::SizeLf { value }, b'\n') => Chunk::Data {
                remaining: self.acceptable_chunk(value)?,
            },
            (Chunk::DataCr, b'\r') => Chunk::DataLf,
            (Chunk::DataLf, b'\n') => Chunk::Size {
                value: 0,
                digits: 0,
            },
            (Chunk::DataCr | Chunk::DataLf, _) => {
                return Err(bad_chunk("chunk data is longer than its chunk size"))
            }
            (Chunk::TrailerLineStart { .. }, b'\r') => Chunk::FinalLf,
            (Chunk::FinalLf, b'\n') => return Ok(State::Head),
            (Chunk::TrailerLineStart { seen } | Chunk::TrailerLine { seen }, _) => {
                trailer_byte(seen, byte)?
            }
            _ => return Err(bad_chunk("a chunk size line does not end in CRLF")),
        };
        Ok(State::Chunked(next))
    }

    fn size_digit(&self, value: u64, digits: u32, byte: u8) -> Result<State, FramingError> {
        let digit = u64::from((byte as char).to_digit(16).expect("a hex digit"));
        let value = value
            .checked_mul(16)
            .and_then(|value| value.checked_add(digit))
            .filter(|value| *value <= i64::MAX as u64 && digits < CHUNK_SIZE_DIGITS_MAX)
            .ok_or_else(|| bad_chunk("a chunk size overflows 63 bits"))?;
        Ok(State::Chunked(Chunk::Size {
            value,
            digits: digits + 1,
        }))
    }

    /// A chunk no body limit could take is refused before any of it is read.
    fn acceptable_chunk(&self, value: u64) -> Result<u64, FramingError> {
        if value > self.chunk_bytes_max {
            return Err(FramingError::new(
                ErrorKind::PayloadTooLarge,
                "payload_too_large",
                format!(
                    "a chunk of {value} bytes is larger than any request body may be ({} bytes); split it into smaller requests",
                    self.chunk_bytes_max
                ),
            ));
        }
        Ok(value)
    }
}

fn trailer_byte(seen: u64, byte: u8) -> Result<Chunk, FramingError> {
    if seen >= CHUNK_TRAILER_BYTES_MAX {
        return Err(bad_chunk(format!(
            "the chunked body's trailer fields are longer than {CHUNK_TRAILER_BYTES_MAX} bytes"
        )));
    }
    Ok(match byte {
        b'\n' => Chunk::TrailerLineStart { seen: seen + 1 },
        _ => Chunk::TrailerLine { seen: seen + 1 },
    })
}

fn bad_chunk(what: impl std::fmt::Display) -> FramingError {
    FramingError::bad(
        "invalid_chunked_body",
        format!("the chunked request body is malformed: {what}"),
    )
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
