//! API errors: `{"error": {"code": "...", "message": "..."}}` with the
//! status that fits. `ErrorKind::status` is the one place that maps errors
//! to status codes.

use hyper::StatusCode;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Too many requests in flight; retrying soon will likely work.
    Overloaded,
    /// The server cannot take writes now (queue full, memory bound, not ready).
    Unavailable,
    DiskFull,
    Internal,
    /// The request line is longer than the server reads (`http::framing`).
    UriTooLong,
    /// The request head is larger than the server reads (`http::framing`).
    HeadersTooLarge,
    /// A request feature the server does not implement (a transfer coding).
    NotImplemented,
    /// The client sent a request head or body too slowly (`http::watchdog`).
    RequestTimeout,
    /// No valid API key (`http::auth`); answered with `WWW-Authenticate`.
    Unauthorized,
    /// A valid key whose role or partitions do not cover the request.
    Forbidden,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorKind,
    /// Stable machine-readable code, e.g. `partition_not_found`.
    pub code: &'static str,
    /// A sentence a person can act on.
    pub message: String,
    pub retry_after_seconds: Option<u32>,
    /// For 405: the methods the route does take.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            code,
            message: message.into(),
            retry_after_seconds: None,
            allow: None,
        }
    }

    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after_seconds = Some(seconds);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::BadRequest, code, message)
    }

    pub fn partition_not_found(id_or_name: &str) -> ApiError {
        ApiError::new(
            ErrorKind::NotFound,
            "partition_not_found",
            format!("no partition has the id or name {id_or_name:?}"),
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Internal, "internal_error", message)
    }

    /// The `{"error": {"code", "message"}}` body.
    pub fn body_bytes(&self) -> Vec<u8> {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        serde_json::to_vec(&body).expect("json")
    }

    pub fn into_response(self) -> super::response::HttpResponse {
        let mut response = super::response::json_bytes(self.kind.status(), self.body_bytes());
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, seconds.into());
        }
        if let Some(allow) = self.allow {
            response.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static(allow),
            );
        }
        response
    }
}

/// Maps a failed commit (WAL write) to the error the client sees.
pub fn from_commit(error: &crate::shard::commit::CommitError) -> ApiError {
    if error.partition_gone {
        return ApiError::new(
            ErrorKind::NotFound,
            "partition_not_found",
            "the partition was deleted while the request was in flight",
        );
    }
    if error.disk_full {
        return ApiError::new(
            ErrorKind::DiskFull,
            "disk_full",
            format!(
                "the server is out of disk space; the request was not acknowledged (after a restart some of its entries may reappear, as with any unacknowledged write): {}",
                error.message
            ),
        )
        .retry_after(60);
    }
    ApiError::new(
        ErrorKind::Internal,
        "storage_error",
        format!(
            "the request was not acknowledged (after a restart some of its entries may reappear, as with any unacknowledged write): {}",
            error.message
        ),
    )
}
