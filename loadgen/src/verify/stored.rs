//! One entry of a read-back answer, parsed in place from its NDJSON line.
//!
//! The read-back checks millions of entries, so an entry is not built as a
//! `serde_json::Value` (a map and a string per member): its texts borrow
//! from the line (owned only where JSON escapes had to be undone), its tags
//! and fields are short lists in answer order, and the members the check
//! does not need (`id`, `partition`, the timestamps) are skipped unparsed.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The members of a stored entry that `--verify` compares with the line sent.
#[derive(Debug, Deserialize)]
pub struct StoredEntry<'a> {
    /// Absent when the entry has no level.
    #[serde(borrow, default)]
    pub level: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    #[serde(borrow)]
    pub message: Cow<'a, str>,
    #[serde(borrow, default)]
    pub tags: Pairs<'a, Cow<'a, str>>,
    #[serde(borrow, default)]
    pub fields: Pairs<'a, StoredValue<'a>>,
}

impl<'a> StoredEntry<'a> {
    pub fn parse(line: &'a [u8]) -> serde_json::Result<StoredEntry<'a>> {
        serde_json::from_slice(line)
    }

    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(|value| value.as_ref())
    }
}

/// A JSON object's members in order, keys borrowed where possible.
#[derive(Debug)]
pub struct Pairs<'a, V>(pub Vec<(Cow<'a, str>, V)>);

impl<V> Default for Pairs<'_, V> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<V> Pairs<'_, V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl<'de: 'a, 'a, V: Deserialize<'de>> Deserialize<'de> for Pairs<'a, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<'a, V>(std::marker::PhantomData<(&'a (), V)>);
        impl<'de: 'a, 'a, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<'a, V> {
            type Value = Pairs<'a, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<BorrowedText<'a>>()? {
                    pairs.push((key.0, map.next_value()?));
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor(std::marker::PhantomData))
    }
}

/// A text that borrows from the input when it has no escapes (a bare
/// `Cow<str>` would always be owned as a map key).
struct BorrowedText<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(text))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(text.to_owned()))
            }
        }
        deserializer.deserialize_str(TextVisitor).map(BorrowedText)
    }
}

/// A field's stored value: the generator sends integers, floats and strings.
#[derive(Debug, PartialEq)]
pub enum StoredValue<'a> {
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// Anything else (`true`, `null`, an object): never what was sent.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for StoredValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = StoredValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(StoredValue::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(StoredValue::Other, StoredValue::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(StoredValue::Float(v))
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(StoredValue::Str(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(StoredValue::Str(Cow::Owned(text.to_owned())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StoredValue::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StoredValue::Other)
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(StoredValue::Other)
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<Self::Value, S::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(StoredValue::Other)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_answer_line_borrowing_its_texts() {
        let line = br#"{"id":"0-7","partition":"default","partition_id":"p1","timestamp":"2024-01-01T00:00:00.000000001Z","timestamp_ns":1,"level":"warn","source":"api","message":"slow \"GET\" /x","tags":{"lg_run":"r1","lg_seq":"7","host":"h-1"},"fields":{"ms":12,"ratio":0.5,"user":"u\u00e9","ok":true}}"#;
        let entry = StoredEntry::parse(line).unwrap();
        assert_eq!(entry.level.as_deref(), Some("warn"));
        assert!(matches!(entry.source, Cow::Borrowed("api")));
        assert_eq!(entry.message, "slow \"GET\" /x");
        assert!(matches!(entry.message, Cow::Owned(_)), "escapes undone");
        assert_eq!(entry.tag("lg_seq"), Some("7"));
        assert_eq!(entry.tags.len(), 3);
        assert_eq!(entry.fields.get("ms"), Some(&StoredValue::Int(12)));
        assert_eq!(entry.fields.get("ratio"), Some(&StoredValue::Float(0.5)));
        assert_eq!(
            entry.fields.get("user"),
            Some(&StoredValue::Str("u\u{e9}".into()))
        );
        assert_eq!(entry.fields.get("ok"), Some(&StoredValue::Other));
    }

    #[test]
    fn an_entry_without_level_tags_or_fields_parses() {
        let entry = StoredEntry::parse(br#"{"source":"s","message":"m"}"#).unwrap();
        assert_eq!(entry.level, None);
        assert_eq!(entry.tags.len(), 0);
        assert_eq!(entry.fields.len(), 0);
    }

    #[test]
    fn a_line_that_is_not_an_entry_is_an_error() {
        assert!(StoredEntry::parse(br#"{"metadata":{"next":null}}"#).is_err());
        assert!(StoredEntry::parse(b"{\"source\":\"s\",").is_err());
    }
}
