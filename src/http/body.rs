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
        let frame = frame.map_err(|error| {
            ApiError::bad_request(
                "body_read_failed",
                format!("the request body could not be read: {error}"),
            )
        })?;
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
