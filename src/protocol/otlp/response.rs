//! The bodies of OTLP/HTTP answers, in the request's encoding:
//! `ExportLogsServiceResponse` (empty on full success; `partial_success`
//! with `rejected_log_records` and `error_message` when some records were
//! rejected) and `google.rpc.Status` (`code`, `message`) for errors.

use super::render::push_json_string;
use super::wire::{write_bytes_field, write_varint_field};
use super::Encoding;

/// `google.rpc.Code` values used in `Status.code`.
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const ABORTED: i32 = 10;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// `ExportLogsServiceResponse`; `rejected_count` 0 means full success.
pub fn export_response(encoding: Encoding, rejected_count: u64, error_message: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => {
            let mut out = Vec::new();
            if rejected_count > 0 || !error_message.is_empty() {
                let mut partial = Vec::new();
                if rejected_count > 0 {
                    write_varint_field(&mut partial, 1, rejected_count);
                }
                if !error_message.is_empty() {
                    write_bytes_field(&mut partial, 2, error_message.as_bytes());
                }
                write_bytes_field(&mut out, 1, &partial);
            }
            out
        }
        Encoding::Json => {
            if rejected_count == 0 && error_message.is_empty() {
                return b"{}".to_vec();
            }
            // proto3 JSON writes int64 as a string.
            let mut out =
                format!("{{\"partialSuccess\":{{\"rejectedLogRecords\":\"{rejected_count}\",\"errorMessage\":");
            push_json_string(&mut out, error_message);
            out.push_str("}}");
            out.into_bytes()
        }
    }
}

/// `google.rpc.Status` with no details.
pub fn status(encoding: Encoding, code: i32, message: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => {
            let mut out = Vec::new();
            // int32 on the wire: a negative code would be sign-extended; ours are positive.
            write_varint_field(&mut out, 1, code as u64);
            write_bytes_field(&mut out, 2, message.as_bytes());
            out
        }
        Encoding::Json => {
            let mut out = format!("{{\"code\":{code},\"message\":");
            push_json_string(&mut out, message);
            out.push('}');
            out.into_bytes()
        }
    }
}
