//! What can be wrong with an OTLP request as a whole (each answered with
//! 400 and a `google.rpc.Status`; OTLP clients never retry a 400).

/// A request the decoder refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    #[error(
        "the protobuf body is not a valid ExportLogsServiceRequest: {what} (at byte {offset})"
    )]
    Protobuf { what: &'static str, offset: usize },
    #[error("the JSON body is not a valid ExportLogsServiceRequest: {0}")]
    Json(String),
    #[error("an id field has {length} bytes; trace_id must have 16 and span_id 8 (or none)")]
    IdLength { length: usize },
    #[error("values are nested more than {limit} levels deep")]
    TooDeep { limit: usize },
    #[error("the request holds more than {limit} log records; send smaller batches")]
    TooManyRecords { limit: usize },
}

pub type Result<T> = std::result::Result<T, OtlpError>;
