//! Loki's protobuf push body: `logproto.PushRequest` (Loki's
//! `pkg/push/push.proto`), written by hand for prost so the build needs no
//! `protoc`. Field numbers and wire types are the proto file's:
//!
//! ```text
//! PushRequest      { repeated StreamAdapter streams = 1; }
//! StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//! EntryAdapter     { Timestamp timestamp = 1; string line = 2;
//!                    repeated LabelPairAdapter structuredMetadata = 3; }
//! LabelPairAdapter { string name = 1; string value = 2; }
//! Timestamp        { int64 seconds = 1; int32 nanos = 2; }   // google.protobuf
//! ```
//!
//! The `string` fields are declared `bytes` here: both are the same
//! length-delimited wire type, and as `bytes::Bytes` prost decodes them as
//! slices of the request body (a reference count, no copy, no allocation
//! per line). UTF-8 is checked where they are used.
//!
//! The body is snappy in its block format (not the framed stream format),
//! which is what every Loki client sends for `application/x-protobuf`.

use bytes::Bytes;
use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    /// The LogQL selector text, e.g. `{app="api"}`.
    #[prost(bytes = "bytes", tag = "1")]
    pub labels: Bytes,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Set by Loki's distributors, never by clients; ignored.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(bytes = "bytes", tag = "2")]
    pub line: Bytes,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LabelPairAdapter {
    #[prost(bytes = "bytes", tag = "1")]
    pub name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// Nanoseconds since the epoch, or `None` when that overflows an i64
    /// (after the year 2262) or `nanos` is outside `0..1e9`.
    pub fn to_unix_ns(self) -> Option<i64> {
        if !(0..1_000_000_000).contains(&self.nanos) {
            return None;
        }
        self.seconds
            .checked_mul(1_000_000_000)?
            .checked_add(i64::from(self.nanos))
    }
}

/// Undoes the snappy block compression. The decoded size is read from the
/// block's header and refused above `decoded_bytes_max` before anything is
/// allocated, so a small body cannot claim a huge buffer.
pub fn decompress_snappy(body: &[u8], decoded_bytes_max: usize) -> Result<Vec<u8>, SnappyError> {
    let length =
        snap::raw::decompress_len(body).map_err(|error| SnappyError::Invalid(error.to_string()))?;
    if length > decoded_bytes_max {
        return Err(SnappyError::TooLarge {
            length,
            limit: decoded_bytes_max,
        });
    }
    let mut decoded = vec![0u8; length];
    let written = snap::raw::Decoder::new()
        .decompress(body, &mut decoded)
        .map_err(|error| SnappyError::Invalid(error.to_string()))?;
    decoded.truncate(written);
    Ok(decoded)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnappyError {
    Invalid(String),
    TooLarge { length: usize, limit: usize },
}

/// Decodes a decompressed `PushRequest`. The strings are slices of `body`.
pub fn decode_push_request(body: Bytes) -> Result<PushRequest, prost::DecodeError> {
    PushRequest::decode(body)
}

/// Encodes `request` and compresses it as Promtail does (tests, benches).
pub fn encode_snappy(request: &PushRequest) -> Vec<u8> {
    let encoded = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&encoded)
        .expect("snappy compresses any input below 4 GiB")
}
