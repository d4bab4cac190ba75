//! The OTLP logs messages this server reads (opentelemetry-proto
//! `collector/logs/v1`, `logs/v1`, `common/v1`, `resource/v1`), as plain
//! structs borrowing from the request body. Both the protobuf and the JSON
//! decoder produce them; the conversion to entries reads only them.
//! Fields the conversion does not use (schema URLs, dropped counts) are not
//! kept.

use std::borrow::Cow;

/// `ExportLogsServiceRequest`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ExportRequest<'a> {
    pub resource_logs: Vec<ResourceLogs<'a>>,
}

/// `ResourceLogs`: records from one resource (a service instance).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ResourceLogs<'a> {
    /// `resource.attributes`.
    pub resource_attributes: Vec<KeyValue<'a>>,
    pub scope_logs: Vec<ScopeLogs<'a>>,
}

/// `ScopeLogs`: records from one instrumentation scope (a logger).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScopeLogs<'a> {
    pub scope_name: Cow<'a, str>,
    pub scope_version: Cow<'a, str>,
    pub scope_attributes: Vec<KeyValue<'a>>,
    pub log_records: Vec<LogRecord<'a>>,
}

/// `LogRecord`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogRecord<'a> {
    /// Nanoseconds since the Unix epoch; 0 means unknown.
    pub time_unix_nano: u64,
    /// When the collector saw it; 0 means unknown.
    pub observed_time_unix_nano: u64,
    /// `SeverityNumber`: 1-4 trace, 5-8 debug, 9-12 info, 13-16 warn,
    /// 17-20 error, 21-24 fatal; 0 unspecified.
    pub severity_number: i32,
    pub severity_text: Cow<'a, str>,
    pub body: AnyValue<'a>,
    pub attributes: Vec<KeyValue<'a>>,
    /// W3C trace flags (the low byte); 0 when none.
    pub flags: u32,
    /// `None` when absent or all zero (the OTLP "invalid" id).
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub event_name: Cow<'a, str>,
}

/// `KeyValue`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KeyValue<'a> {
    pub key: Cow<'a, str>,
    pub value: AnyValue<'a>,
}

/// `AnyValue`. Bytes arrive raw in protobuf and base64 in JSON; both are
/// written out as base64 text, so the JSON form is kept as it came.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum AnyValue<'a> {
    /// No value set.
    #[default]
    Empty,
    Str(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    Base64(Cow<'a, str>),
    Array(Vec<AnyValue<'a>>),
    KvList(Vec<KeyValue<'a>>),
}

/// How deep arrays and key-value lists may nest: bounds the decoders'
/// recursion (each level is a stack frame of a few hundred bytes).
pub const VALUE_DEPTH_MAX: usize = 32;

/// Log records per request; the same bound as the native ingest's
/// `ENTRIES_PER_REQUEST_MAX`.
pub const RECORDS_PER_REQUEST_MAX: usize = crate::ingest::ENTRIES_PER_REQUEST_MAX;

/// An id from its bytes: `None` when empty or all zero, an error for any
/// length but `N`.
pub fn id_from_bytes<const N: usize>(bytes: &[u8]) -> super::error::Result<Option<[u8; N]>> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let id: [u8; N] = bytes
        .try_into()
        .map_err(|_| super::error::OtlpError::IdLength {
            length: bytes.len(),
        })?;
    Ok(Some(id).filter(|id| id.iter().any(|&byte| byte != 0)))
}
