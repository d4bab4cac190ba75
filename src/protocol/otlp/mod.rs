//! OTLP/HTTP logs (`POST /v1/logs`): OpenTelemetry's
//! `ExportLogsServiceRequest` in protobuf or JSON, decoded into a model that
//! borrows from the body (`model`), turned into entries through the
//! `[otlp]` mapping (`convert`), answered with an
//! `ExportLogsServiceResponse` or a `google.rpc.Status` (`response`).
//! No HTTP in here: the handler is `http::handlers::otlp`.

pub mod convert;
pub mod encode;
pub mod error;
pub mod json;
pub mod model;
pub mod proto;
pub mod render;
pub mod response;
pub mod wire;

pub use error::OtlpError;

/// The two bodies OTLP/HTTP defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` names (parameters such as `charset`
    /// ignored), or `None` for anything else.
    pub fn from_content_type(content_type: &str) -> Option<Encoding> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else if media_type.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Decodes a request body in `encoding`.
pub fn decode(encoding: Encoding, body: &[u8]) -> error::Result<model::ExportRequest<'_>> {
    match encoding {
        Encoding::Protobuf => proto::decode_request(body),
        Encoding::Json => json::decode_request(body),
    }
}

#[cfg(test)]
mod tests;
