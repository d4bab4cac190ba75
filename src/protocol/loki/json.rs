//! Loki's JSON push body (Loki HTTP API, "Ingest logs"):
//!
//! ```text
//! {"streams":[{"stream":{"app":"api","env":"prod"},
//!              "values":[["1710498600123456789","<line>",{"trace_id":"..."}], ...]}, ...]}
//! ```
//!
//! A value is the timestamp (Unix nanoseconds as a decimal string; a bare
//! integer is taken too), the line, and optional structured metadata (an
//! object of strings). Strings without escapes are borrowed from the body:
//! the only allocations are one vector per stream and one per line that
//! has metadata.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::labels::{Labels, LABELS_PER_STREAM_MAX};
use super::LokiError;

#[derive(Deserialize)]
pub struct PushRequest<'a> {
    #[serde(borrow)]
    pub streams: Vec<Stream<'a>>,
}

#[derive(Deserialize)]
pub struct Stream<'a> {
    #[serde(borrow, rename = "stream", default)]
    pub labels: LabelMap<'a>,
    #[serde(borrow, default)]
    pub values: Vec<Value<'a>>,
}

/// A JSON object of strings, in the order written.
#[derive(Default)]
pub struct LabelMap<'a>(pub Labels<'a>);

impl<'a> std::ops::Deref for LabelMap<'a> {
    type Target = Labels<'a>;
    fn deref(&self) -> &Labels<'a> {
        &self.0
    }
}

/// One `[timestamp, line, metadata?]`.
pub struct Value<'a> {
    pub timestamp_ns: i64,
    pub line: Cow<'a, str>,
    pub metadata: Labels<'a>,
}

pub fn parse(body: &[u8]) -> Result<PushRequest<'_>, LokiError> {
    serde_json::from_slice(body).map_err(|error| LokiError::InvalidJson(error.to_string()))
}

/// A string, borrowed when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(text.to_owned())))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LabelMap<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MapVisitor<'a> {
            type Value = LabelMap<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some((CowStr(key), CowStr(value))) = map.next_entry()? {
                    if pairs.len() == LABELS_PER_STREAM_MAX {
                        return Err(de::Error::custom(format!(
                            "more than {LABELS_PER_STREAM_MAX} labels or metadata pairs"
                        )));
                    }
                    pairs.push((key, value));
                }
                Ok(LabelMap(pairs))
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// Nanoseconds as a decimal string (or a JSON integer).
struct Timestamp(i64);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimestampVisitor;
        impl Visitor<'_> for TimestampVisitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a timestamp in Unix nanoseconds as a string of digits")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                text.parse::<i64>().map(Timestamp).map_err(|_| {
                    E::custom(format!(
                        "timestamp {text:?} is not Unix nanoseconds (a string of digits that fits 64 bits)"
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                Ok(Timestamp(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                i64::try_from(value)
                    .map(Timestamp)
                    .map_err(|_| E::custom(format!("timestamp {value} is after the year 2262")))
            }
        }
        deserializer.deserialize_any(TimestampVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ValueVisitor<'a> {
            type Value = Value<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("[\"<unix ns>\", \"<line>\"] or [\"<unix ns>\", \"<line>\", {structured metadata}]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let missing = |what| de::Error::custom(format!("a value has no {what}"));
                let Timestamp(timestamp_ns) =
                    seq.next_element()?.ok_or_else(|| missing("timestamp"))?;
                let CowStr(line): CowStr<'a> =
                    seq.next_element()?.ok_or_else(|| missing("line"))?;
                let metadata = seq
                    .next_element::<LabelMap<'a>>()?
                    .map(|map| map.0)
                    .unwrap_or_default();
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(
                        "a value has more than 3 elements (timestamp, line, metadata)",
                    ));
                }
                Ok(Value {
                    timestamp_ns,
                    line,
                    metadata,
                })
            }
        }
        deserializer.deserialize_seq(ValueVisitor(std::marker::PhantomData))
    }
}
