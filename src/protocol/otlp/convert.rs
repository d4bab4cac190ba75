//! OTLP log records to TimberDB entries, through the `[otlp]` mapping:
//!
//! - source: the resource attribute `mapping.source` (`service.name`);
//! - level: `severity_number` (1-4 trace ... 21-24 fatal), else
//!   `severity_text` parsed like any level text, else unset;
//! - message: a string body as it is, any other body as JSON, none as "";
//! - time: `time_unix_nano`, else `observed_time_unix_nano`, else now;
//! - tags: the attributes (record first, then resource) named in
//!   `mapping.tags`, plus `trace_id` and `span_id` in hex;
//! - fields: the other record attributes by key, then `severity_text` (when
//!   the level does not already say it), `event_name`, `trace_flags`, and
//!   `resource` (the other resource attributes) and `scope` (name, version,
//!   attributes) as objects. A record attribute named like one of these is
//!   kept as `attributes.<key>`.
//!
//! Records that break a per-entry limit (`check_entry`), or have a time past
//! year 2262, are rejected one by one and counted; the rest are kept
//! (OTLP's partial success). Resources whose partition attribute names an
//! invalid partition are rejected likewise.

use std::borrow::Cow;

use crate::config::OtlpConfig;
use crate::entry::{ColumnBatch, EntryRef, Level};
use crate::ingest::limits::check_entry;
use crate::storage::catalog::validate_name;

use super::model::{AnyValue, ExportRequest, KeyValue, LogRecord, ResourceLogs, ScopeLogs};
use super::render::{hex, push_json_string, push_pairs_json, push_value_json, push_value_text};

/// The entries of one partition.
pub struct PartitionBatch {
    pub partition: String,
    pub batch: ColumnBatch,
    pub entry_count: usize,
}

/// What a request turned into.
#[derive(Default)]
pub struct Converted {
    /// One batch per partition written, in order of first appearance.
    pub batches: Vec<PartitionBatch>,
    pub rejected_count: u64,
    /// Why the first rejected record was rejected (OTLP's `error_message`).
    pub first_rejection: Option<String>,
}

impl Converted {
    fn reject(&mut self, count: u64, why: impl FnOnce() -> String) {
        if count == 0 {
            return;
        }
        self.rejected_count += count;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(why());
        }
    }
}

/// Record attribute keys that would collide with the fields this mapping
/// adds; such attributes are kept as `attributes.<key>`.
const RESERVED_FIELD_KEYS: [&str; 5] = [
    "resource",
    "scope",
    "severity_text",
    "event_name",
    "trace_flags",
];

/// Converts every record of `request`. `new_batch` supplies an empty batch
/// for each partition (from the shard's pool).
pub fn convert(
    request: &ExportRequest<'_>,
    config: &OtlpConfig,
    now_ns: i64,
    mut new_batch: impl FnMut() -> ColumnBatch,
) -> Converted {
    let mut converted = Converted::default();
    let mut scratch = Scratch::default();
    for resource in &request.resource_logs {
        let record_count: usize = resource
            .scope_logs
            .iter()
            .map(|scope| scope.log_records.len())
            .sum();
        if record_count == 0 {
            continue;
        }
        let partition = match partition_of(resource, config) {
            Ok(partition) => partition,
            Err(why) => {
                converted.reject(record_count as u64, || why);
                continue;
            }
        };
        let index = batch_index(&mut converted.batches, &partition, &mut new_batch);
        let context = ResourceContext::new(resource, config);
        for scope in &resource.scope_logs {
            let scope_fragment = scope_fragment(scope);
            for record in &scope.log_records {
                let target = &mut converted.batches[index];
                match push_record(
                    record,
                    &context,
                    &scope_fragment,
                    now_ns,
                    &mut scratch,
                    &mut target.batch,
                ) {
                    Ok(()) => target.entry_count += 1,
                    Err(why) => converted.reject(1, || why),
                }
            }
        }
    }
    converted
}

/// The partition a resource's records go to.
fn partition_of(resource: &ResourceLogs<'_>, config: &OtlpConfig) -> Result<String, String> {
    let attribute = config.partition_attribute.as_str();
    let named = (!attribute.is_empty())
        .then(|| find(&resource.resource_attributes, attribute))
        .flatten()
        .map(|value| {
            let mut text = String::new();
            push_value_text(&mut text, value);
            text
        })
        .filter(|text| !text.is_empty());
    let Some(name) = named else {
        return Ok(config.partition.clone());
    };
    validate_name(&name).map_err(|why| {
        format!("the resource attribute {attribute:?} names partition {name:?}, which is not valid: {why}")
    })?;
    Ok(name)
}

fn batch_index(
    batches: &mut Vec<PartitionBatch>,
    partition: &str,
    new_batch: &mut impl FnMut() -> ColumnBatch,
) -> usize {
    if let Some(index) = batches
        .iter()
        .position(|batch| batch.partition == partition)
    {
        return index;
    }
    batches.push(PartitionBatch {
        partition: partition.to_string(),
        batch: new_batch(),
        entry_count: 0,
    });
    batches.len() - 1
}

fn find<'v, 'a>(pairs: &'v [KeyValue<'a>], key: &str) -> Option<&'v AnyValue<'a>> {
    pairs
        .iter()
        .find(|pair| pair.key == key)
        .map(|pair| &pair.value)
}

/// What every record of one resource shares, worked out once.
struct ResourceContext<'c> {
    source: Cow<'c, str>,
    /// Resource attributes that become tags, as text.
    tags: Vec<(&'c str, Cow<'c, str>)>,
    /// `"resource":{...}` of the other resource attributes, or "".
    fragment: String,
    tag_keys: &'c [String],
}

impl<'c> ResourceContext<'c> {
    fn new(resource: &'c ResourceLogs<'c>, config: &'c OtlpConfig) -> Self {
        let attributes = &resource.resource_attributes;
        let source_key = config.mapping.source.as_str();
        let tag_keys = config.mapping.tags.as_slice();
        let is_tag = |key: &str| tag_keys.iter().any(|tag| tag == key);
        let source = match find(attributes, source_key).filter(|_| !source_key.is_empty()) {
            Some(AnyValue::Str(text)) => Cow::Borrowed(text.as_ref()),
            Some(value) => Cow::Owned(value_text(value)),
            None => Cow::Borrowed(""),
        };
        let tags = attributes
            .iter()
            .filter(|pair| is_tag(&pair.key))
            .map(|pair| (pair.key.as_ref(), text_of(&pair.value)))
            .collect();
        let skip = |key: &str| key == source_key || is_tag(key);
        let mut fragment = String::new();
        if attributes.iter().any(|pair| !skip(&pair.key)) {
            fragment.push_str("\"resource\":");
            push_pairs_json(&mut fragment, attributes, skip);
        }
        ResourceContext {
            source,
            tags,
            fragment,
            tag_keys,
        }
    }

    fn is_tag(&self, key: &str) -> bool {
        self.tag_keys.iter().any(|tag| tag == key)
    }
}

/// `"scope":{"name":..,"version":..,"attributes":{..}}` with what is set, or "".
fn scope_fragment(scope: &ScopeLogs<'_>) -> String {
    let mut fragment = String::new();
    let parts = [
        ("name", !scope.scope_name.is_empty()),
        ("version", !scope.scope_version.is_empty()),
        ("attributes", !scope.scope_attributes.is_empty()),
    ];
    if !parts.iter().any(|&(_, present)| present) {
        return fragment;
    }
    fragment.push_str("\"scope\":{");
    let mut first = true;
    for (name, _) in parts.iter().filter(|&&(_, present)| present) {
        if !first {
            fragment.push(',');
        }
        first = false;
        push_json_string(&mut fragment, name);
        fragment.push(':');
        match *name {
            "name" => push_json_string(&mut fragment, &scope.scope_name),
            "version" => push_json_string(&mut fragment, &scope.scope_version),
            _ => push_pairs_json(&mut fragment, &scope.scope_attributes, |_| false),
        }
    }
    fragment.push('}');
    fragment
}

fn value_text(value: &AnyValue<'_>) -> String {
    let mut text = String::new();
    push_value_text(&mut text, value);
    text
}

fn text_of<'v>(value: &'v AnyValue<'_>) -> Cow<'v, str> {
    match value {
        AnyValue::Str(text) => Cow::Borrowed(text.as_ref()),
        other => Cow::Owned(value_text(other)),
    }
}

/// Buffers reused from record to record.
#[derive(Default)]
struct Scratch {
    message: String,
    fields: String,
}

fn push_record(
    record: &LogRecord<'_>,
    context: &ResourceContext<'_>,
    scope_fragment: &str,
    now_ns: i64,
    scratch: &mut Scratch,
    batch: &mut ColumnBatch,
) -> Result<(), String> {
    let timestamp_ns = record_time(record, now_ns)?;
    let level = record_level(record);
    let message = match &record.body {
        AnyValue::Str(text) => text.as_ref(),
        AnyValue::Empty => "",
        other => {
            scratch.message.clear();
            push_value_json(&mut scratch.message, other);
            scratch.message.as_str()
        }
    };
    write_fields(record, level, context, scope_fragment, &mut scratch.fields);
    let mut trace_hex = [0u8; 32];
    let mut span_hex = [0u8; 16];
    let record_tags: Vec<(&str, Cow<'_, str>)> = record
        .attributes
        .iter()
        .filter(|pair| context.is_tag(&pair.key))
        .map(|pair| (pair.key.as_ref(), text_of(&pair.value)))
        .collect();
    let mut tags: Vec<(&str, &str)> =
        Vec::with_capacity(record_tags.len() + context.tags.len() + 2);
    tags.extend(
        record_tags
            .iter()
            .map(|(key, value)| (*key, value.as_ref())),
    );
    for (key, value) in &context.tags {
        if !record_tags.iter().any(|(record_key, _)| record_key == key) {
            tags.push((key, value.as_ref()));
        }
    }
    if let Some(id) = &record.trace_id {
        tags.push(("trace_id", hex(id, &mut trace_hex)));
    }
    if let Some(id) = &record.span_id {
        tags.push(("span_id", hex(id, &mut span_hex)));
    }
    let entry = EntryRef {
        timestamp_ns,
        level,
        source: &context.source,
        message,
        fields_json: &scratch.fields,
    };
    check_entry(&entry, &tags).map_err(|error| format!("a log record was rejected: {error}"))?;
    batch.push(&entry, &tags);
    Ok(())
}

fn record_time(record: &LogRecord<'_>, now_ns: i64) -> Result<i64, String> {
    let chosen = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|&time| time != 0);
    match chosen {
        None => Ok(now_ns),
        Some(time) => i64::try_from(time).map_err(|_| {
            format!("a log record was rejected: its time {time} ns is past the year 2262, the latest time TimberDB stores")
        }),
    }
}

/// The level from `severity_number`, else from `severity_text`.
pub fn record_level(record: &LogRecord<'_>) -> Level {
    match record.severity_number {
        1..=4 => Level::Trace,
        5..=8 => Level::Debug,
        9..=12 => Level::Info,
        13..=16 => Level::Warn,
        17..=20 => Level::Error,
        21..=24 => Level::Fatal,
        _ => Level::parse(&record.severity_text).unwrap_or(Level::Unset),
    }
}

/// The entry's fields as one JSON object (or "" when there are none).
fn write_fields(
    record: &LogRecord<'_>,
    level: Level,
    context: &ResourceContext<'_>,
    scope_fragment: &str,
    out: &mut String,
) {
    out.clear();
    out.push('{');
    let mut first = true;
    let mut separate = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    for pair in record
        .attributes
        .iter()
        .filter(|pair| !context.is_tag(&pair.key))
    {
        separate(out);
        if RESERVED_FIELD_KEYS.contains(&pair.key.as_ref()) {
            push_json_string(out, &format!("attributes.{}", pair.key));
        } else {
            push_json_string(out, &pair.key);
        }
        out.push(':');
        push_value_json(out, &pair.value);
    }
    let text = record.severity_text.as_ref();
    if !text.is_empty() && Level::parse(text) != Some(level) {
        separate(out);
        out.push_str("\"severity_text\":");
        push_json_string(out, text);
    }
    if !record.event_name.is_empty() {
        separate(out);
        out.push_str("\"event_name\":");
        push_json_string(out, &record.event_name);
    }
    if record.flags != 0 {
        separate(out);
        out.push_str("\"trace_flags\":");
        out.push_str(itoa_u32(record.flags, &mut [0u8; 10]));
    }
    for fragment in [context.fragment.as_str(), scope_fragment] {
        if !fragment.is_empty() {
            separate(out);
            out.push_str(fragment);
        }
    }
    if first {
        out.clear();
    } else {
        out.push('}');
    }
}

fn itoa_u32(mut value: u32, buffer: &mut [u8; 10]) -> &str {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[start..]).expect("digits are ASCII")
}
