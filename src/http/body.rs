//! Reading a request body with a size limit.
//!
//! A declared Content-Length above the limit is refused before a byte of
//! the body is read; a chunked body is refused as soon as it passes the
//! limit, so no request body is ever buffered beyond `max_request_size`.

use bytes::Buf;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;

use super::error::{ApiError, ErrorKind};

/// A body size limit and the name a user knows it by (for the 413 message).
#[derive(Clone, Copy)]
pub struct BodyLimit {
    pub bytes: usize,
    pub name: &'static str,
}

pub async fn read_limited(
    request: Request<Incoming>,
    limit: BodyLimit,
) -> Result<Vec<u8>, ApiError> {
    let limit_bytes = limit.bytes;
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit_bytes as u64) {
        return Err(too_large(limit));
    }
    let mut body = request.into_body();
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| body_read_error(&error))?;
        if let Ok(mut data) = frame.into_data() {
            if bytes.len() + data.remaining() > limit_bytes {
                return Err(too_large(limit));
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                bytes.extend_from_slice(chunk);
                let length = chunk.len();
                data.advance(length);
            }
        }
    }
    Ok(bytes)
}

/// A body that could not be read: the framing check's own words when it
/// refused the body (`framing::FramingError` inside hyper's error), else
/// hyper's, with its cause.
fn body_read_error(error: &hyper::Error) -> ApiError {
    use std::error::Error;
    let mut cause = error.source();
    while let Some(current) = cause {
        // io::Error's `source` skips the error it wraps, so look inside.
        let wrapped = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<super::framing::FramingError>());
        if let Some(framing) = wrapped {
            return framing.to_api_error();
        }
        cause = current.source();
    }
    let detail = error
        .source()
        .map_or_else(|| error.to_string(), |cause| format!("{error}: {cause}"));
    ApiError::bad_request(
        "body_read_failed",
        format!("the request body could not be read: {detail}"),
    )
}

fn too_large(limit: BodyLimit) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        "payload_too_large",
        format!(
            "the request body is larger than {} ({} bytes); split it into smaller requests",
            limit.name, limit.bytes
        ),
    )
}

/// Undoes a request's `Content-Encoding` (`gzip`, `x-gzip`, `deflate`,
/// `zstd`; `identity` or none leaves the body as is; the snappy of Loki's
/// protobuf bodies is part of that protocol, not an encoding), with
/// the decoded size bounded by the same limit as the body, so a small
/// compressed body cannot expand without bound. Shippers compress by
/// default (Filebeat, Vector, the OTLP exporters), so every protocol
/// endpoint takes these.
pub fn decode_content(
    encoding: Option<&str>,
    body: Vec<u8>,
    limit: BodyLimit,
) -> Result<Vec<u8>, ApiError> {
    use std::io::Read;
    let encoding = encoding.map(|value| value.trim().to_ascii_lowercase());
    let reader: Box<dyn Read + '_> = match encoding.as_deref() {
        None | Some("") | Some("identity") => return Ok(body),
        Some("gzip") | Some("x-gzip") => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
        Some("deflate") => Box::new(flate2::read::ZlibDecoder::new(&body[..])),
        Some("zstd") => Box::new(
            zstd::stream::read::Decoder::new(&body[..]).map_err(|error| {
                ApiError::bad_request(
                    "invalid_encoding",
                    format!("the zstd body could not be read: {error}"),
                )
            })?,
        ),
        Some(other) => {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                "unsupported_encoding",
                format!(
                    "Content-Encoding {other:?} is not supported; send gzip, deflate, zstd or none"
                ),
            ))
        }
    };
    let mut decoded = Vec::with_capacity(body.len().saturating_mul(4).min(limit.bytes));
    let read = reader
        .take(limit.bytes as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|error| {
            ApiError::bad_request(
                "invalid_encoding",
                format!(
                    "the body is not valid {}: {error}",
                    encoding.as_deref().unwrap_or_default()
                ),
            )
        })?;
    if read > limit.bytes {
        return Err(too_large(limit));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMIT: BodyLimit = BodyLimit {
        bytes: 1000,
        name: "max_request_size",
    };

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_zstd_and_deflate_are_undone_and_identity_is_kept() {
        let text = b"{\"message\":\"hello\"}\n".repeat(10);
        assert_eq!(
            decode_content(Some("gzip"), gzip(&text), LIMIT).unwrap(),
            text
        );
        assert_eq!(
            decode_content(Some(" GZIP "), gzip(&text), LIMIT).unwrap(),
            text
        );
        let zstd = zstd::encode_all(&text[..], 1).unwrap();
        assert_eq!(decode_content(Some("zstd"), zstd, LIMIT).unwrap(), text);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&text).unwrap();
        let deflate = zlib.finish().unwrap();
        assert_eq!(
            decode_content(Some("deflate"), deflate, LIMIT).unwrap(),
            text
        );
        assert_eq!(decode_content(None, text.clone(), LIMIT).unwrap(), text);
        assert_eq!(
            decode_content(Some("identity"), text.clone(), LIMIT).unwrap(),
            text
        );
    }

    #[test]
    fn a_body_that_expands_past_the_limit_or_is_not_what_it_says_is_refused() {
        let bomb = gzip(&vec![b'a'; 1001]);
        assert!(bomb.len() < 100);
        let error = decode_content(Some("gzip"), bomb, LIMIT).unwrap_err();
        assert_eq!(error.code, "payload_too_large");
        let exact = gzip(&vec![b'a'; 1000]);
        assert_eq!(
            decode_content(Some("gzip"), exact, LIMIT).unwrap().len(),
            1000
        );
        let error = decode_content(Some("gzip"), b"not gzip".to_vec(), LIMIT).unwrap_err();
        assert_eq!(error.code, "invalid_encoding");
        let error = decode_content(Some("br"), b"x".to_vec(), LIMIT).unwrap_err();
        assert_eq!(error.code, "unsupported_encoding");
    }
}
