//! The server's answers, as far as the client reads them (docs/API.md has the full shapes).
//!
//! Entries are kept as the raw JSON text the server sent (`RawValue`) so NDJSON output is
//! byte for byte the API's objects, keys in the server's order; they are parsed into
//! [`Entry`] only to be rendered on a terminal. Fields the client does not use are ignored,
//! and every field it does use is optional or defaulted, so an older or newer server still
//! gets its answer printed.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// One answer of `POST /api/v1/query`: a page of entries, or the rows of an aggregation.
#[derive(Debug, Deserialize)]
pub struct QueryPage<'a> {
    #[serde(borrow, default)]
    pub entries: Vec<&'a RawValue>,
    /// Aggregations: the names of the columns of `rows`.
    pub columns: Option<Vec<String>>,
    #[serde(default)]
    pub rows: Vec<Vec<Value>>,
    pub total_count: Option<u64>,
    pub total_count_exact: Option<bool>,
    pub execution_time_ms: Option<f64>,
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub timed_out: bool,
    /// The cursor of the next page: `None` when the server does not page with cursors (the
    /// field is absent), `Some(None)` on the last page.
    #[serde(default, deserialize_with = "present")]
    pub next: Option<Option<String>>,
    pub stats: Option<Value>,
}

/// Distinguishes a present `null` (`Some(None)`) from an absent field (`None`, by default).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An entry, as rendered on a terminal.
#[derive(Debug, Deserialize, Default)]
pub struct Entry {
    #[serde(default)]
    pub partition: String,
    pub timestamp_ns: Option<i64>,
    /// RFC 3339; used when `timestamp_ns` is missing.
    pub timestamp: Option<String>,
    pub level: Option<String>,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub tags: BTreeMap<String, Value>,
}

impl Entry {
    /// The entry's time in nanoseconds since the epoch, if it has a readable one.
    pub fn timestamp_ns(&self) -> Option<i64> {
        self.timestamp_ns.or_else(|| {
            self.timestamp
                .as_deref()
                .and_then(|text| crate::time::parse_timestamp_text(text).ok())
        })
    }
}

/// `GET /api/v1/partitions`.
#[derive(Debug, Deserialize)]
pub struct PartitionList {
    #[serde(default)]
    pub partitions: Vec<Partition>,
}

/// A partition object.
#[derive(Debug, Deserialize)]
pub struct Partition {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub entry_count: u64,
    #[serde(default)]
    pub bytes: u64,
    pub retention_days: Option<u64>,
    #[serde(default)]
    pub tags: BTreeMap<String, Value>,
}

/// `GET /api/v1/admin/snapshots`.
#[derive(Debug, Deserialize)]
pub struct SnapshotList {
    #[serde(default)]
    pub snapshots: Vec<Snapshot>,
}

/// A snapshot object.
#[derive(Debug, Deserialize)]
pub struct Snapshot {
    pub name: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub path: String,
    /// The partitions it holds: a count, or their names.
    #[serde(default)]
    pub partitions: Value,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub bytes: u64,
}

impl Snapshot {
    /// How many partitions the snapshot holds, whichever way the server lists them.
    pub fn partition_count(&self) -> u64 {
        match &self.partitions {
            Value::Number(count) => count.as_u64().unwrap_or(0),
            Value::Array(names) => names.len() as u64,
            _ => 0,
        }
    }
}

/// A tag or field value as text: strings without quotes, anything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_absent_null_and_present_are_three_cases() {
        let page: QueryPage = serde_json::from_str(r#"{"entries":[]}"#).unwrap();
        assert_eq!(page.next, None);
        let page: QueryPage = serde_json::from_str(r#"{"entries":[],"next":null}"#).unwrap();
        assert_eq!(page.next, Some(None));
        let page: QueryPage = serde_json::from_str(r#"{"entries":[],"next":"abc"}"#).unwrap();
        assert_eq!(page.next, Some(Some("abc".to_string())));
    }

    #[test]
    fn entries_stay_as_the_server_wrote_them() {
        let body = r#"{"entries":[{"id":"1-3","timestamp":"2024-03-15T10:30:00.000000000Z","message":"x","tags":{"b":"1","a":"2"}}],"total_count":1}"#;
        let page: QueryPage = serde_json::from_str(body).unwrap();
        assert_eq!(
            page.entries[0].get(),
            r#"{"id":"1-3","timestamp":"2024-03-15T10:30:00.000000000Z","message":"x","tags":{"b":"1","a":"2"}}"#
        );
        let entry: Entry = serde_json::from_str(page.entries[0].get()).unwrap();
        assert_eq!(entry.timestamp_ns(), Some(1_710_498_600_000_000_000));
        assert_eq!(entry.level, None);
    }

    #[test]
    fn snapshot_partitions_may_be_a_count_or_names() {
        let snapshot: Snapshot =
            serde_json::from_str(r#"{"name":"s","partitions":["a","b"]}"#).unwrap();
        assert_eq!(snapshot.partition_count(), 2);
        let snapshot: Snapshot = serde_json::from_str(r#"{"name":"s","partitions":3}"#).unwrap();
        assert_eq!(snapshot.partition_count(), 3);
    }
}
