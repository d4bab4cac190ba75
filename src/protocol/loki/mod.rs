//! Grafana Loki's push API (`POST /loki/api/v1/push`): request bodies in,
//! TimberDB entries out. Plain functions over bytes (no glommio), so tests,
//! benches and fuzzers drive them directly; `http::handlers::loki` serves them.
//!
//! Two bodies, chosen as Loki chooses: `application/json` is JSON
//! (`json.rs`); anything else, `application/x-protobuf` included, is a
//! snappy-compressed `logproto.PushRequest` (`proto.rs`), whose stream
//! labels are LogQL selector text (`labels.rs`).
//!
//! Mapping (`[loki]` in the config, `LokiConfig::mapping`):
//! - the line is the message; its timestamp is the entry's time;
//! - every stream label and every structured-metadata pair becomes a tag
//!   (metadata is per line and exact-match like labels, so tags, not
//!   fields: it is what Loki itself filters on without parsing the line);
//! - the source is the first of `mapping.source` (default `service_name`)
//!   and then Loki's own service-name labels (`SOURCE_LABEL_FALLBACKS`),
//!   found in the labels and then in the metadata; none of them: no source;
//! - the level is the first of `mapping.level` (default `level`),
//!   `detected_level`, `severity`, `lvl` (names compared caselessly),
//!   mapped with `Level::parse`; an unknown word leaves the level unset
//!   (the word stays in its tag).
//!
//! All or nothing: an error anywhere leaves the batch as it was given.

pub mod json;
pub mod labels;
pub mod proto;

use bytes::Bytes;

use crate::config::protocols::FieldMapping;
use crate::entry::{ColumnBatch, EntryRef, Level};
use crate::ingest::limits::{check_entry, LimitExceeded};
use crate::ingest::ENTRIES_PER_REQUEST_MAX;

/// Labels Loki reads the service name from when `service_name` is absent
/// (Loki's `discover_service_name` default), in its order.
pub const SOURCE_LABEL_FALLBACKS: [&str; 10] = [
    "service",
    "app",
    "application",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "component",
    "workload",
    "job",
];

/// Names a level may come under after `mapping.level`: Loki's own
/// `detected_level` and the spellings its level detection looks for.
pub const LEVEL_LABEL_FALLBACKS: [&str; 4] = ["detected_level", "level", "severity", "lvl"];

/// The two bodies Loki takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    /// Snappy-compressed `logproto.PushRequest`.
    Protobuf,
}

/// As Loki decides: JSON only for `application/json`; everything else,
/// a missing Content-Type included, is protobuf.
pub fn body_format(content_type: Option<&str>) -> BodyFormat {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if media_type.eq_ignore_ascii_case("application/json") {
        BodyFormat::Json
    } else {
        BodyFormat::Protobuf
    }
}

/// What is wrong with a push body, in words that say where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LokiError {
    #[error("the body is not snappy-compressed protobuf (Content-Type {content_type:?}; send application/json for JSON): {reason}")]
    InvalidSnappy {
        content_type: String,
        reason: String,
    },
    #[error("the decompressed body is {length} bytes, more than {limit_name} ({limit} bytes); send smaller batches")]
    TooLarge {
        length: usize,
        limit: usize,
        limit_name: &'static str,
    },
    #[error("the body is not a logproto.PushRequest: {0}")]
    InvalidProtobuf(String),
    #[error("the body is not a Loki JSON push ({{\"streams\":[{{\"stream\":{{...}},\"values\":[[\"<unix ns>\",\"<line>\"]]}}]}}): {0}")]
    InvalidJson(String),
    #[error("stream {stream_index}: error parsing labels {labels:?}: {reason}")]
    InvalidLabels {
        stream_index: usize,
        labels: String,
        reason: String,
    },
    #[error("stream {stream_index}: at least one label pair is required per stream")]
    NoLabels { stream_index: usize },
    #[error("stream {stream_index}, entry {entry_index}: {what} is not valid UTF-8")]
    InvalidUtf8 {
        stream_index: usize,
        entry_index: usize,
        what: &'static str,
    },
    #[error("stream {stream_index}, entry {entry_index}: the timestamp is outside the years 1678 to 2262")]
    InvalidTimestamp {
        stream_index: usize,
        entry_index: usize,
    },
    #[error("stream {stream_index}, entry {entry_index}: {limit}")]
    LimitExceeded {
        stream_index: usize,
        entry_index: usize,
        limit: LimitExceeded,
    },
    #[error("the request has more than {ENTRIES_PER_REQUEST_MAX} entries; send smaller batches")]
    TooManyEntries,
}

impl LokiError {
    /// A stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            LokiError::InvalidSnappy { .. } => "invalid_snappy",
            LokiError::TooLarge { .. } => "payload_too_large",
            LokiError::InvalidProtobuf(_) => "invalid_protobuf",
            LokiError::InvalidJson(_) => "invalid_json",
            LokiError::InvalidLabels { .. } => "invalid_labels",
            LokiError::NoLabels { .. } => "no_labels",
            LokiError::InvalidUtf8 { .. } => "invalid_utf8",
            LokiError::InvalidTimestamp { .. } => "invalid_timestamp",
            LokiError::LimitExceeded { .. } => "limit_exceeded",
            LokiError::TooManyEntries => "too_many_entries",
        }
    }
}

pub type Result<T> = std::result::Result<T, LokiError>;

/// Decodes a snappy-compressed protobuf push into `batch`; returns the
/// number of entries appended. `decoded_bytes_max` bounds the decompressed
/// body (the request size limit, named `limit_name` in errors).
pub fn decode_protobuf(
    body: &[u8],
    content_type: Option<&str>,
    limit: (usize, &'static str),
    mapping: &FieldMapping,
    now_ns: i64,
    batch: &mut ColumnBatch,
) -> Result<usize> {
    let decoded = proto::decompress_snappy(body, limit.0).map_err(|error| match error {
        proto::SnappyError::Invalid(reason) => LokiError::InvalidSnappy {
            content_type: content_type.unwrap_or_default().to_string(),
            reason,
        },
        proto::SnappyError::TooLarge { length, limit } => LokiError::TooLarge {
            length,
            limit,
            limit_name: "max_request_size",
        },
    })?;
    let request = proto::decode_push_request(Bytes::from(decoded))
        .map_err(|error| LokiError::InvalidProtobuf(error.to_string()))?;
    let mut sink = Sink::new(batch, mapping, now_ns);
    let result = push_protobuf_streams(&mut sink, &request);
    sink.finish(result)
}

fn push_protobuf_streams(sink: &mut Sink<'_>, request: &proto::PushRequest) -> Result<()> {
    for (stream_index, stream) in request.streams.iter().enumerate() {
        let labels_text =
            std::str::from_utf8(&stream.labels).map_err(|_| LokiError::InvalidUtf8 {
                stream_index,
                entry_index: 0,
                what: "the stream's labels",
            })?;
        let labels = parse_stream_labels(stream_index, labels_text)?;
        let mut tags: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        let stream_view = sink.stream(stream_index, &tags)?;
        for (entry_index, entry) in stream.entries.iter().enumerate() {
            let at = |what| LokiError::InvalidUtf8 {
                stream_index,
                entry_index,
                what,
            };
            tags.truncate(stream_view.label_count);
            for pair in &entry.structured_metadata {
                let name = std::str::from_utf8(&pair.name).map_err(|_| at("a metadata name"))?;
                let value = std::str::from_utf8(&pair.value).map_err(|_| at("a metadata value"))?;
                tags.push((name, value));
            }
            let timestamp_ns = match entry.timestamp {
                None => sink.now_ns,
                Some(timestamp) => timestamp.to_unix_ns().ok_or(LokiError::InvalidTimestamp {
                    stream_index,
                    entry_index,
                })?,
            };
            let line = std::str::from_utf8(&entry.line).map_err(|_| at("the line"))?;
            sink.push(&stream_view, entry_index, timestamp_ns, line, &tags)?;
        }
    }
    Ok(())
}

/// Decodes a JSON push into `batch`; returns the number of entries appended.
pub fn decode_json(
    body: &[u8],
    mapping: &FieldMapping,
    now_ns: i64,
    batch: &mut ColumnBatch,
) -> Result<usize> {
    let request = json::parse(body)?;
    let mut sink = Sink::new(batch, mapping, now_ns);
    let result = push_json_streams(&mut sink, &request);
    sink.finish(result)
}

fn push_json_streams(sink: &mut Sink<'_>, request: &json::PushRequest<'_>) -> Result<()> {
    for (stream_index, stream) in request.streams.iter().enumerate() {
        let mut tags: Vec<(&str, &str)> = stream.labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        let stream_view = sink.stream(stream_index, &tags)?;
        for (entry_index, value) in stream.values.iter().enumerate() {
            tags.truncate(stream_view.label_count);
            tags.extend(value.metadata.iter().map(|(k, v)| (&**k, &**v)));
            sink.push(
                &stream_view,
                entry_index,
                value.timestamp_ns,
                &value.line,
                &tags,
            )?;
        }
    }
    Ok(())
}

fn parse_stream_labels(stream_index: usize, text: &str) -> Result<labels::Labels<'_>> {
    labels::parse_labels(text).map_err(|reason| LokiError::InvalidLabels {
        stream_index,
        labels: text.chars().take(200).collect(),
        reason,
    })
}

/// What one stream's labels decide for all its entries.
struct StreamView<'s> {
    stream_index: usize,
    label_count: usize,
    /// From the labels; `None`: look in each entry's metadata.
    source: Option<&'s str>,
    level: Option<&'s str>,
}

/// Appends entries to a batch, counting them; undoes them all on error.
struct Sink<'b> {
    batch: &'b mut ColumnBatch,
    mapping: &'b FieldMapping,
    now_ns: i64,
    entry_count_at_start: usize,
}

impl<'b> Sink<'b> {
    fn new(batch: &'b mut ColumnBatch, mapping: &'b FieldMapping, now_ns: i64) -> Self {
        let entry_count_at_start = batch.len();
        Sink {
            batch,
            mapping,
            now_ns,
            entry_count_at_start,
        }
    }

    fn stream<'s>(
        &self,
        stream_index: usize,
        labels: &[(&'s str, &'s str)],
    ) -> Result<StreamView<'s>> {
        if labels.is_empty() {
            return Err(LokiError::NoLabels { stream_index });
        }
        Ok(StreamView {
            stream_index,
            label_count: labels.len(),
            source: find_source(self.mapping, labels),
            level: find_level(self.mapping, labels),
        })
    }

    /// `tags` are the stream's labels followed by the entry's metadata.
    fn push(
        &mut self,
        stream: &StreamView<'_>,
        entry_index: usize,
        timestamp_ns: i64,
        line: &str,
        tags: &[(&str, &str)],
    ) -> Result<()> {
        if self.batch.len() - self.entry_count_at_start >= ENTRIES_PER_REQUEST_MAX {
            return Err(LokiError::TooManyEntries);
        }
        let metadata = &tags[stream.label_count..];
        let source = stream
            .source
            .or_else(|| find_source(self.mapping, metadata))
            .unwrap_or_default();
        let level_text = stream.level.or_else(|| find_level(self.mapping, metadata));
        let entry = EntryRef {
            timestamp_ns,
            level: level_text.and_then(Level::parse).unwrap_or(Level::Unset),
            source,
            message: line,
            fields_json: "",
        };
        check_entry(&entry, tags).map_err(|limit| LokiError::LimitExceeded {
            stream_index: stream.stream_index,
            entry_index,
            limit,
        })?;
        self.batch.push(&entry, tags);
        Ok(())
    }

    /// The entry count on success; on error the batch as it was.
    fn finish(self, result: Result<()>) -> Result<usize> {
        match result {
            Ok(()) => Ok(self.batch.len() - self.entry_count_at_start),
            Err(error) => {
                self.batch.truncate(self.entry_count_at_start);
                Err(error)
            }
        }
    }
}

fn find_source<'s>(mapping: &FieldMapping, pairs: &[(&'s str, &'s str)]) -> Option<&'s str> {
    let configured = Some(mapping.source.as_str()).filter(|name| !name.is_empty());
    configured
        .into_iter()
        .chain(SOURCE_LABEL_FALLBACKS)
        .find_map(|name| pairs.iter().find(|(key, _)| *key == name))
        .map(|(_, value)| *value)
}

fn find_level<'s>(mapping: &FieldMapping, pairs: &[(&'s str, &'s str)]) -> Option<&'s str> {
    let configured = Some(mapping.level.as_str()).filter(|name| !name.is_empty());
    configured
        .into_iter()
        .chain(LEVEL_LABEL_FALLBACKS)
        .find_map(|name| pairs.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)))
        .map(|(_, value)| *value)
}

#[cfg(test)]
mod tests;
