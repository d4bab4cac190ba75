//! One JSON object becomes one entry, through a [`FieldMapping`]: the
//! decoder shared by the Elasticsearch `_bulk` documents and VictoriaLogs'
//! JSON lines.
//!
//! Each mapped part (message, time, source, level, tags) is named by a
//! dotted path that finds a flat key (`"host.name"`) and a nested object
//! (`{"host":{"name":..}}`) alike. Every other member is kept, verbatim,
//! in the entry's fields (nested objects keep their shape, minus the
//! members the mapping took), so nothing a shipper sent is lost.
//!
//! Why it is shaped this way: this is the hot path of two protocols, so it
//! follows `ingest`: serde_json validates and splits the object, each value
//! is taken as a `&RawValue` slice of the body, strings without escapes
//! are borrowed, escaped ones are decoded into a per-entry arena, and all
//! scratch buffers live across entries. Only objects on a mapped path
//! (`host` for `host.name`) are walked; any other value is copied as text.
//!
//! Invariant: an entry is pushed only after every check passed, so a
//! failed object leaves the batch as it was.
//!
//! [`FieldMapping`]: crate::config::FieldMapping

mod paths;
#[cfg(test)]
mod tests;
mod text;

pub use paths::{split_list, Paths, Role, MESSAGE_FIELDS_MAX, TAG_FIELDS_MAX};

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::Deserializer as _;
use serde_json::value::RawValue;

use crate::entry::{ColumnBatch, EntryRef, Level};
use crate::ingest::limits::{check_entry, LimitExceeded};
use crate::time::{parse_epoch_number, parse_timestamp_text, TimestampError};
pub(crate) use text::push_json_string;
use text::Text;

/// Tags held on the stack while an entry is checked; more spill to the heap.
const TAGS_INLINE_MAX: usize = 8;
/// Characters of an offending value quoted back in an error.
const QUOTED_VALUE_CHARS_MAX: usize = 64;

/// Why one object was not made into an entry. The text is a sentence the
/// protocols hand to the client as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// Not a JSON object, or not valid JSON; serde_json's reason with its column.
    #[error("not a valid JSON object: {0}")]
    Json(String),
    #[error("the time field {field:?} holds {value}, which {reason}")]
    Timestamp {
        field: String,
        value: String,
        reason: TimestampError,
    },
    #[error("{0}")]
    Limit(LimitExceeded),
}

/// The raw JSON value of each mapped part of the entry being decoded.
#[derive(Default)]
struct Slots<'de> {
    /// One per message candidate, in priority order.
    messages: Vec<Option<&'de str>>,
    time: Option<&'de str>,
    source: Option<&'de str>,
    level: Option<&'de str>,
    /// One per tag path.
    tags: Vec<Option<&'de str>>,
}

/// Decodes objects borrowed from one body (`'de`) with one mapping (`'p`).
pub struct MappedDecoder<'de, 'p> {
    paths: &'p Paths,
    now_ns: i64,
    slots: Slots<'de>,
    /// Decoded (unescaped) strings of the current entry.
    arena: String,
    /// The JSON text of the current entry's other fields, built as it goes.
    fields: String,
    /// The dotted path of the object being walked below the top level.
    path: String,
    /// Tag values of the current entry: (tag index, value).
    tag_values: Vec<(usize, Text<'de>)>,
}

impl<'de, 'p> MappedDecoder<'de, 'p> {
    /// `now_ns` (ns since the epoch) is the time of objects without one.
    pub fn new(paths: &'p Paths, now_ns: i64) -> MappedDecoder<'de, 'p> {
        MappedDecoder {
            paths,
            now_ns,
            slots: Slots {
                messages: vec![None; paths.messages.len()],
                tags: vec![None; paths.tags.len()],
                ..Slots::default()
            },
            arena: String::new(),
            fields: String::new(),
            path: String::new(),
            tag_values: Vec::new(),
        }
    }

    /// Decodes one JSON object (`text`, surrounding whitespace allowed)
    /// and appends it to `batch`; on error `batch` is unchanged.
    pub fn decode(&mut self, text: &'de str, batch: &mut ColumnBatch) -> Result<(), EntryError> {
        self.reset();
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let walked = deserializer
            .deserialize_map(ObjectVisitor {
                decoder: self,
                nested: false,
            })
            .and_then(|()| deserializer.end());
        if let Err(error) = walked {
            return Err(EntryError::Json(error.to_string()));
        }
        self.finish(batch)
    }

    fn reset(&mut self) {
        self.slots.messages.fill(None);
        self.slots.tags.fill(None);
        self.slots.time = None;
        self.slots.source = None;
        self.slots.level = None;
        self.arena.clear();
        self.fields.clear();
        self.path.clear();
        self.tag_values.clear();
    }

    /// Takes one member of the object being walked (the top level, or an
    /// object on a mapped path when `nested`).
    fn take_member(&mut self, nested: bool, key: &str, raw: &'de str) -> Result<(), String> {
        let path_len_before = self.path.len();
        if nested {
            self.path.push('.');
            self.path.push_str(key);
        }
        let path = if nested { self.path.as_str() } else { key };
        let role = self.paths.role_of(path);
        let walk = role.is_none() && raw.starts_with('{') && self.paths.leads_to_mapped(path);
        let result = match role {
            Some(role) => {
                if !self.fill_slot(role, raw) {
                    // A second value for a part already taken stays a field.
                    self.push_member(key, raw);
                }
                Ok(())
            }
            None if walk => {
                if !nested {
                    self.path.push_str(key);
                }
                self.walk_object(key, raw)
            }
            None => {
                self.push_member(key, raw);
                Ok(())
            }
        };
        self.path.truncate(path_len_before);
        result
    }

    /// Fills the slot of `role` unless it is taken; whether it was free.
    fn fill_slot(&mut self, role: Role, raw: &'de str) -> bool {
        let slot = match role {
            Role::Message(index) => &mut self.slots.messages[index],
            Role::Time => &mut self.slots.time,
            Role::Source => &mut self.slots.source,
            Role::Level => &mut self.slots.level,
            Role::Tag(index) => &mut self.slots.tags[index],
        };
        if slot.is_some() {
            return false;
        }
        *slot = Some(raw);
        true
    }

    /// Walks an object that holds mapped paths; its other members are kept
    /// under `key` in the fields, and `key` is dropped if none are left.
    fn walk_object(&mut self, key: &str, raw: &'de str) -> Result<(), String> {
        let mark = self.fields.len();
        self.open_member(key);
        self.fields.push('{');
        let mut deserializer = serde_json::Deserializer::from_str(raw);
        deserializer
            .deserialize_map(ObjectVisitor {
                decoder: self,
                nested: true,
            })
            .map_err(|error| error.to_string())?;
        if self.fields.ends_with('{') {
            self.fields.truncate(mark);
        } else {
            self.fields.push('}');
        }
        Ok(())
    }

    /// Starts a member of the fields object: `{` or `,`, then `"key":`.
    fn open_member(&mut self, key: &str) {
        if self.fields.is_empty() {
            self.fields.push('{');
        } else if !self.fields.ends_with('{') {
            self.fields.push(',');
        }
        push_json_string(&mut self.fields, key);
        self.fields.push(':');
    }

    fn push_member(&mut self, key: &str, raw: &str) {
        self.open_member(key);
        self.fields.push_str(raw);
    }

    /// Turns the slots into an entry, checks it and appends it.
    fn finish(&mut self, batch: &mut ColumnBatch) -> Result<(), EntryError> {
        let timestamp_ns = self.take_time()?;
        let message = self.take_message();
        let source = self.take_source();
        let level = self.take_level();
        self.take_tags();
        if !self.fields.is_empty() {
            self.fields.push('}');
        }
        let arena = self.arena.as_str();
        let entry = EntryRef {
            timestamp_ns,
            level,
            source: source.map_or("", |text| text.resolve(arena)),
            message: message.map_or("", |text| text.resolve(arena)),
            fields_json: &self.fields,
        };
        let paths = self.paths;
        let tag = |&(index, value): &(usize, Text<'de>)| -> (&str, &str) {
            (paths.tags[index].as_str(), value.resolve(arena))
        };
        let mut inline = [("", ""); TAGS_INLINE_MAX];
        let spilled: Vec<(&str, &str)>;
        let tags: &[(&str, &str)] = if self.tag_values.len() <= TAGS_INLINE_MAX {
            for (slot, value) in inline.iter_mut().zip(&self.tag_values) {
                *slot = tag(value);
            }
            &inline[..self.tag_values.len()]
        } else {
            spilled = self.tag_values.iter().map(tag).collect();
            &spilled
        };
        check_entry(&entry, tags).map_err(EntryError::Limit)?;
        batch.push(&entry, tags);
        Ok(())
    }

    fn take_time(&mut self) -> Result<i64, EntryError> {
        let Some(raw) = self.slots.time else {
            return Ok(self.now_ns);
        };
        let parsed = match raw.as_bytes()[0] {
            b'"' => {
                let text = text::decode_string(raw, &mut self.arena);
                let text = text.resolve(&self.arena);
                match text.trim() {
                    "" | "0" => return Ok(self.now_ns),
                    text => parse_timestamp_text(text),
                }
            }
            b'n' => return Ok(self.now_ns),
            b'-' | b'0'..=b'9' if raw == "0" => return Ok(self.now_ns),
            b'-' | b'0'..=b'9' => parse_epoch_number(raw),
            _ => Err(TimestampError::Malformed("expected a string or a number")),
        };
        parsed.map_err(|reason| EntryError::Timestamp {
            field: self.paths.time.clone(),
            value: quote(raw),
            reason,
        })
    }

    /// The first message candidate with a non-empty value; the other
    /// candidates present are kept as fields.
    fn take_message(&mut self) -> Option<Text<'de>> {
        let mut chosen = None;
        for index in 0..self.slots.messages.len() {
            let Some(raw) = self.slots.messages[index] else {
                continue;
            };
            let empty = raw == "null" || raw == "\"\"";
            if chosen.is_none() && !empty {
                chosen = Some(self.scalar_text(raw));
            } else {
                let paths = self.paths;
                self.push_member(&paths.messages[index], raw);
            }
        }
        chosen
    }

    fn take_source(&mut self) -> Option<Text<'de>> {
        let raw = self.slots.source?;
        if raw.starts_with(['{', '[']) {
            let paths = self.paths;
            self.push_member(&paths.source, raw);
            return None;
        }
        (raw != "null").then(|| self.scalar_text(raw))
    }

    /// A level TimberDB does not know is kept as a field, so its text is not lost.
    fn take_level(&mut self) -> Level {
        let Some(raw) = self.slots.level else {
            return Level::Unset;
        };
        if raw == "null" {
            return Level::Unset;
        }
        let parsed = if raw.starts_with(['{', '[']) {
            None
        } else {
            let text = self.scalar_text(raw);
            Level::parse(text.resolve(&self.arena))
        };
        parsed.unwrap_or_else(|| {
            let paths = self.paths;
            self.push_member(&paths.level, raw);
            Level::Unset
        })
    }

    fn take_tags(&mut self) {
        for index in 0..self.slots.tags.len() {
            match self.slots.tags[index] {
                None | Some("null") => {}
                Some(raw) => {
                    let value = self.scalar_text(raw);
                    self.tag_values.push((index, value));
                }
            }
        }
    }

    /// A string's decoded text; any other value's JSON text.
    fn scalar_text(&mut self, raw: &'de str) -> Text<'de> {
        if raw.starts_with('"') {
            text::decode_string(raw, &mut self.arena)
        } else {
            Text::Body(raw)
        }
    }
}

/// The start of a value, for an error message.
fn quote(raw: &str) -> String {
    if raw.chars().count() <= QUOTED_VALUE_CHARS_MAX {
        return raw.to_string();
    }
    let cut: String = raw.chars().take(QUOTED_VALUE_CHARS_MAX).collect();
    format!("{cut}...")
}

/// Walks one object's members into the decoder.
struct ObjectVisitor<'a, 'de, 'p> {
    decoder: &'a mut MappedDecoder<'de, 'p>,
    nested: bool,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_, 'de, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let raw: &'de RawValue = map.next_value()?;
            self.decoder
                .take_member(self.nested, &key, raw.get())
                .map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

/// A key, borrowed from the body unless it had escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_string()))
    }
}
