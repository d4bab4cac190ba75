//! One JSON object in, one `ColumnBatch` entry out, with no DOM in between.
//!
//! A custom serde `Visitor` walks the object's keys. Known keys (`message`,
//! `timestamp`, `source`, `level`, `tags` and the aliases `msg`, `ts`) fill
//! per-entry slots; every other key is copied, with its raw JSON value, into
//! the entry's fields object as it goes by. `message`, `source` and
//! `timestamp` go through the typed seeds of `scalar`; every other value is
//! taken as `&RawValue` (a validated slice of the body, so its original JSON
//! text can be kept) and decoded by `value`. Either way a string without
//! escapes is borrowed from the body and copied once, by the column push.
//!
//! `ColumnBatch::begin_entry` needs message, source and fields before any
//! tag, but JSON keys come in any order, so tags wait in a scratch `Vec` of
//! borrowed `Text`s and the entry is pushed in one go when the object ends.
//! The scratch (`arena`, `fields`, `tags`) lives in the `Decoder`, which lives
//! for one request: its buffers grow to the largest entry and are reused, so
//! the steady state allocates nothing per entry.
//!
//! A problem found here becomes a `Fault` stored in the decoder plus a
//! placeholder serde error that unwinds serde_json; the driver in `parse`
//! adds the location.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::{serde_reason, Fault};
use super::scalar::{StringSeed, TimestampSeed};
use super::value::{self, Kind, Text};
use super::{
    ENTRIES_PER_REQUEST_MAX, FIELDS_BYTES_MAX, MESSAGE_BYTES_MAX, SOURCE_BYTES_MAX,
    TAGS_PER_ENTRY_MAX, TAG_KEY_BYTES_MAX, TAG_VALUE_BYTES_MAX,
};
use crate::entry::{ColumnBatch, EntryRef, Level};

/// A top-level key with a meaning of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Named {
    Message,
    Msg,
    Timestamp,
    Ts,
    Source,
    Level,
    Tags,
}

impl Named {
    pub(super) fn parse(name: &str) -> Option<Named> {
        Some(match name {
            "message" => Named::Message,
            "msg" => Named::Msg,
            "timestamp" => Named::Timestamp,
            "ts" => Named::Ts,
            "source" => Named::Source,
            "level" => Named::Level,
            "tags" => Named::Tags,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Named::Message => "message",
            Named::Msg => "msg",
            Named::Timestamp => "timestamp",
            Named::Ts => "ts",
            Named::Source => "source",
            Named::Level => "level",
            Named::Tags => "tags",
        }
    }

    /// This key's bit in `Slots::seen`.
    fn seen_bit(self) -> u8 {
        1 << self as u8
    }
}

/// What the named keys of the current entry said.
#[derive(Debug, Default, Clone, Copy)]
struct Slots<'de> {
    message: Option<Text<'de>>,
    /// Raw `msg`: the message if `message` is absent, else an ordinary field.
    msg: Option<&'de str>,
    source: Option<Text<'de>>,
    /// `None` when absent or null.
    timestamp_ns: Option<i64>,
    /// Raw `ts`: the timestamp if `timestamp` is absent, else an ordinary field.
    ts: Option<&'de str>,
    /// Top-level level; `Some(Unset)` when given but not recognised.
    level: Option<Level>,
    /// The first recognised `tags.level`, used when `level` is absent.
    tag_level: Option<Level>,
    /// `Named::seen_bit`s of the keys met so far, to refuse duplicates.
    seen: u8,
}

/// Decodes entries into a batch. One per request; see the module docs.
pub(crate) struct Decoder<'de, 'b> {
    batch: &'b mut ColumnBatch,
    /// The timestamp of entries that have none, ns since the epoch.
    now_ns: i64,
    /// Entries appended by this decoder.
    entry_count: usize,
    /// Index (in this request) of the entry being decoded, if any.
    current_entry: Option<usize>,
    /// The problem behind the serde error being unwound, if it is ours.
    fault: Option<Fault>,
    /// Decoded text of escaped strings of the current entry.
    arena: String,
    /// The current entry's fields object, built as keys go by.
    fields: String,
    /// The current entry's tags, stored up to `TAGS_PER_ENTRY_MAX`.
    tags: Vec<(Text<'de>, Text<'de>)>,
    /// Tags seen in the current entry, including those past the limit.
    tag_count: usize,
    slots: Slots<'de>,
}

impl<'de, 'b> Decoder<'de, 'b> {
    pub(crate) fn new(batch: &'b mut ColumnBatch, now_ns: i64) -> Decoder<'de, 'b> {
        Decoder {
            batch,
            now_ns,
            entry_count: 0,
            current_entry: None,
            fault: None,
            arena: String::new(),
            fields: String::new(),
            tags: Vec::new(),
            tag_count: 0,
            slots: Slots::default(),
        }
    }

    pub(crate) fn entry_count(&self) -> usize {
        self.entry_count
    }

    pub(crate) fn current_entry(&self) -> Option<usize> {
        self.current_entry
    }

    pub(crate) fn take_fault(&mut self) -> Option<Fault> {
        self.fault.take()
    }

    pub(crate) fn arena_mut(&mut self) -> &mut String {
        &mut self.arena
    }

    /// Records `fault` and returns the serde error that carries it out.
    pub(crate) fn fail<E: de::Error>(&mut self, fault: Fault) -> E {
        self.fault = Some(fault);
        E::custom("log entry refused")
    }

    pub(super) fn begin_entry(&mut self) -> Result<(), Fault> {
        self.current_entry = Some(self.entry_count);
        if self.entry_count >= ENTRIES_PER_REQUEST_MAX {
            return Err(Fault::TooManyEntries {
                entry_count_max: ENTRIES_PER_REQUEST_MAX,
            });
        }
        self.arena.clear();
        self.fields.clear();
        self.tags.clear();
        self.tag_count = 0;
        self.slots = Slots::default();
        Ok(())
    }

    pub(super) fn mark_seen(&mut self, named: Named) -> Result<(), Fault> {
        if self.slots.seen & named.seen_bit() != 0 {
            return Err(Fault::invalid(named.name(), "appears more than once"));
        }
        self.slots.seen |= named.seen_bit();
        Ok(())
    }

    /// The fast path's `message` or `source` (see `fast`). `None` when it is
    /// over its limit, which the serde path then reports.
    pub(super) fn set_string(&mut self, named: Named, text: Text<'de>) -> Option<()> {
        let (slot, byte_count_max) = match named {
            Named::Message => (&mut self.slots.message, MESSAGE_BYTES_MAX),
            Named::Source => (&mut self.slots.source, SOURCE_BYTES_MAX),
            _ => return None,
        };
        if text.byte_count() > byte_count_max {
            return None;
        }
        *slot = Some(text);
        Some(())
    }

    /// The fast path's `timestamp` (see `fast`), already converted.
    pub(super) fn set_timestamp(&mut self, timestamp_ns: i64) {
        self.slots.timestamp_ns = Some(timestamp_ns);
    }

    /// Takes the value of the key just read from `map`.
    fn take_value<A: MapAccess<'de>>(
        &mut self,
        key: Text<'de>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let Some(named) = Named::parse(key.resolve(&self.arena)) else {
            let raw = map.next_value::<&'de RawValue>()?.get();
            return self.push_field(key, raw).map_err(|fault| self.fail(fault));
        };
        if let Err(fault) = self.mark_seen(named) {
            return Err(self.fail(fault));
        }
        let taken = match named {
            Named::Tags => {
                map.next_value_seed(TagsSeed(&mut *self))?;
                Ok(())
            }
            Named::Message => {
                let seed = StringSeed {
                    decoder: self,
                    named,
                    byte_count_max: MESSAGE_BYTES_MAX,
                };
                self.slots.message = map.next_value_seed(seed)?;
                self.slots
                    .message
                    .map(|_| ())
                    .ok_or_else(|| Fault::invalid("message", "expected a string, got null"))
            }
            Named::Source => {
                let seed = StringSeed {
                    decoder: self,
                    named,
                    byte_count_max: SOURCE_BYTES_MAX,
                };
                self.slots.source = map.next_value_seed(seed)?;
                Ok(())
            }
            Named::Timestamp => {
                self.slots.timestamp_ns = map.next_value_seed(TimestampSeed {
                    decoder: self,
                    named,
                })?;
                Ok(())
            }
            Named::Msg => {
                self.slots.msg = Some(map.next_value::<&'de RawValue>()?.get());
                Ok(())
            }
            Named::Ts => {
                self.slots.ts = Some(map.next_value::<&'de RawValue>()?.get());
                Ok(())
            }
            Named::Level => self.take_level(map.next_value::<&'de RawValue>()?.get()),
        };
        taken.map_err(|fault| self.fail(fault))
    }

    /// Decodes a string kept raw for later (the `msg` alias).
    fn string_from_raw(
        &mut self,
        named: Named,
        raw: &'de str,
        byte_count_max: usize,
    ) -> Result<Option<Text<'de>>, Fault> {
        let mut deserializer = serde_json::Deserializer::from_str(raw);
        let seed = StringSeed {
            decoder: &mut *self,
            named,
            byte_count_max,
        };
        seed.deserialize(&mut deserializer)
            .map_err(|error| self.recorded_fault(named, &error))
    }

    /// Decodes a timestamp kept raw for later (the `ts` alias).
    fn timestamp_from_raw(&mut self, named: Named, raw: &'de str) -> Result<Option<i64>, Fault> {
        let mut deserializer = serde_json::Deserializer::from_str(raw);
        let seed = TimestampSeed {
            decoder: &mut *self,
            named,
        };
        seed.deserialize(&mut deserializer)
            .map_err(|error| self.recorded_fault(named, &error))
    }

    /// The fault a seed recorded before failing, or else serde_json's reason.
    fn recorded_fault(&mut self, named: Named, error: &serde_json::Error) -> Fault {
        self.fault
            .take()
            .unwrap_or_else(|| Fault::invalid(named.name(), serde_reason(error)))
    }

    /// A recognised level is stored; an unrecognised one leaves the entry
    /// `Unset` and keeps the original value visible in the fields.
    pub(super) fn take_level(&mut self, raw: &'de str) -> Result<(), Fault> {
        let level = match value::kind(raw) {
            Kind::Null => return Ok(()),
            Kind::Number => Level::parse(raw),
            Kind::String => {
                Level::parse(value::decode_string(raw, &mut self.arena).resolve(&self.arena))
            }
            Kind::Bool | Kind::Object | Kind::Array => {
                let reason = format!(
                    "expected a string or an integer, got {}",
                    value::describe(raw)
                );
                return Err(Fault::invalid("level", reason));
            }
        };
        if level.is_none() {
            self.push_field(Text::Body("level"), raw)?;
        }
        self.slots.level = Some(level.unwrap_or(Level::Unset));
        Ok(())
    }

    /// Appends `"name":raw` to the fields object.
    pub(super) fn push_field(&mut self, name: Text<'de>, raw: &str) -> Result<(), Fault> {
        self.fields
            .push(if self.fields.is_empty() { '{' } else { ',' });
        match name {
            // Borrowed names had no escapes in the body, and serde_json
            // refuses raw control characters, so they need no escaping.
            Text::Body(name) => {
                self.fields.push('"');
                self.fields.push_str(name);
                self.fields.push('"');
            }
            Text::Arena { .. } => {
                value::push_json_string(&mut self.fields, name.resolve(&self.arena))
            }
        }
        self.fields.push(':');
        self.fields.push_str(raw);
        self.check_fields_size()
    }

    fn check_fields_size(&self) -> Result<(), Fault> {
        if self.fields.len() > FIELDS_BYTES_MAX {
            return Err(Fault::LimitExceeded {
                what: "the JSON of the other fields".to_string(),
                size: self.fields.len(),
                limit: FIELDS_BYTES_MAX,
                unit: "bytes",
            });
        }
        Ok(())
    }

    pub(super) fn take_tag(&mut self, key: Text<'de>, raw: &'de str) -> Result<(), Fault> {
        self.check_tag_key(key)?;
        let tag_value = match value::kind(raw) {
            Kind::Null => return Ok(()),
            Kind::String => value::decode_string(raw, &mut self.arena),
            Kind::Number | Kind::Bool => Text::Body(raw),
            Kind::Object | Kind::Array => {
                let field = format!("tags.{}", key.resolve(&self.arena));
                let reason = format!(
                    "tag values must be strings, numbers, booleans or null, got {}",
                    value::describe(raw)
                );
                return Err(Fault::invalid(field, reason));
            }
        };
        self.take_tag_text(key, tag_value)
    }

    /// Stores a decoded tag value (the key's size is already checked).
    pub(super) fn take_tag_text(
        &mut self,
        key: Text<'de>,
        tag_value: Text<'de>,
    ) -> Result<(), Fault> {
        if tag_value.byte_count() > TAG_VALUE_BYTES_MAX {
            let what = format!(
                "tag \"{}\"",
                value::truncate_for_message(key.resolve(&self.arena))
            );
            return Err(Fault::LimitExceeded {
                what,
                size: tag_value.byte_count(),
                limit: TAG_VALUE_BYTES_MAX,
                unit: "bytes",
            });
        }
        self.tag_count += 1;
        if self.tag_count > TAGS_PER_ENTRY_MAX {
            return Ok(()); // Counted for the error after the object; not stored.
        }
        if self.slots.tag_level.is_none() && key.resolve(&self.arena) == "level" {
            self.slots.tag_level = Level::parse(tag_value.resolve(&self.arena));
        }
        self.tags.push((key, tag_value));
        Ok(())
    }

    /// Refuses a tag key longer than `TAG_KEY_BYTES_MAX`.
    pub(super) fn check_tag_key(&self, key: Text<'de>) -> Result<(), Fault> {
        if key.byte_count() > TAG_KEY_BYTES_MAX {
            let what = format!(
                "tag key \"{}\"",
                value::truncate_for_message(key.resolve(&self.arena))
            );
            return Err(Fault::LimitExceeded {
                what,
                size: key.byte_count(),
                limit: TAG_KEY_BYTES_MAX,
                unit: "bytes",
            });
        }
        Ok(())
    }

    pub(super) fn check_tag_count(&self) -> Result<(), Fault> {
        if self.tag_count > TAGS_PER_ENTRY_MAX {
            return Err(Fault::LimitExceeded {
                what: "field \"tags\"".to_string(),
                size: self.tag_count,
                limit: TAGS_PER_ENTRY_MAX,
                unit: "tags",
            });
        }
        Ok(())
    }

    /// `message`, else `msg`; a `msg` beside a `message` is an ordinary field.
    fn resolve_message(&mut self) -> Result<Text<'de>, Fault> {
        match (self.slots.message, self.slots.msg) {
            (Some(message), Some(msg)) => {
                self.push_field(Text::Body("msg"), msg)?;
                Ok(message)
            }
            (Some(message), None) => Ok(message),
            (None, Some(msg)) => self
                .string_from_raw(Named::Msg, msg, MESSAGE_BYTES_MAX)?
                .ok_or_else(|| Fault::invalid("msg", "expected a string, got null")),
            (None, None) => Err(Fault::MissingField { field: "message" }),
        }
    }

    /// `timestamp`, else `ts`, else now; a `ts` beside a `timestamp` is an
    /// ordinary field.
    fn resolve_timestamp(&mut self) -> Result<i64, Fault> {
        let has_timestamp = self.slots.seen & Named::Timestamp.seen_bit() != 0;
        let timestamp_ns = match (has_timestamp, self.slots.ts) {
            (true, Some(ts)) => {
                self.push_field(Text::Body("ts"), ts)?;
                self.slots.timestamp_ns
            }
            (false, Some(ts)) => self.timestamp_from_raw(Named::Ts, ts)?,
            (_, None) => self.slots.timestamp_ns,
        };
        Ok(timestamp_ns.unwrap_or(self.now_ns))
    }

    /// Pushes the decoded entry into the batch.
    pub(super) fn commit(&mut self) -> Result<(), Fault> {
        let message = self.resolve_message()?;
        let timestamp_ns = self.resolve_timestamp()?;
        if !self.fields.is_empty() {
            self.fields.push('}');
            self.check_fields_size()?;
        }
        let arena = self.arena.as_str();
        let entry = EntryRef {
            timestamp_ns,
            level: self
                .slots
                .level
                .or(self.slots.tag_level)
                .unwrap_or(Level::Unset),
            source: self.slots.source.map_or("", |source| source.resolve(arena)),
            message: message.resolve(arena),
            fields_json: &self.fields,
        };
        self.batch.begin_entry(&entry);
        for (key, tag_value) in &self.tags {
            self.batch
                .push_tag(key.resolve(arena), tag_value.resolve(arena));
        }
        self.batch.finish_entry();
        self.entry_count += 1;
        self.current_entry = None;
        Ok(())
    }
}

/// A map key: borrowed when it had no escapes, else decoded into the arena.
struct KeySeed<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Text<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Text<'de>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Text<'de>, E> {
        Ok(Text::Body(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Text<'de>, E> {
        Ok(Text::in_arena(self.0, key))
    }
}

/// Rejects JSON scalars (all but null) through `self.refuse(got)`; the
/// visitor adds `visit_unit` and `visit_seq` itself.
macro_rules! refuse_scalars {
    () => {
        fn visit_bool<E: ::serde::de::Error>(
            self,
            value: bool,
        ) -> ::std::result::Result<Self::Value, E> {
            Err(self.refuse(value.to_string()))
        }
        fn visit_i64<E: ::serde::de::Error>(
            self,
            value: i64,
        ) -> ::std::result::Result<Self::Value, E> {
            Err(self.refuse(value.to_string()))
        }
        fn visit_u64<E: ::serde::de::Error>(
            self,
            value: u64,
        ) -> ::std::result::Result<Self::Value, E> {
            Err(self.refuse(value.to_string()))
        }
        fn visit_f64<E: ::serde::de::Error>(
            self,
            value: f64,
        ) -> ::std::result::Result<Self::Value, E> {
            Err(self.refuse(value.to_string()))
        }
        fn visit_str<E: ::serde::de::Error>(
            self,
            value: &str,
        ) -> ::std::result::Result<Self::Value, E> {
            Err(self.refuse(format!(
                "\"{}\"",
                $crate::ingest::value::truncate_for_message(value)
            )))
        }
    };
}
pub(crate) use refuse_scalars;

/// Decodes one entry object into the batch.
pub(crate) struct EntrySeed<'a, 'de, 'b>(pub(crate) &'a mut Decoder<'de, 'b>);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_, 'de, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.0.current_entry = Some(self.0.entry_count);
        deserializer.deserialize_any(EntryVisitor(self.0))
    }
}

pub(crate) struct EntryVisitor<'a, 'de, 'b>(pub(crate) &'a mut Decoder<'de, 'b>);

impl EntryVisitor<'_, '_, '_> {
    fn refuse<E: de::Error>(self, got: String) -> E {
        self.0.fail(Fault::NotAnObject { got })
    }
}

impl<'de> Visitor<'de> for EntryVisitor<'_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (one log entry)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let decoder = self.0;
        if let Err(fault) = decoder.begin_entry() {
            return Err(decoder.fail(fault));
        }
        while let Some(key) = map.next_key_seed(KeySeed(&mut decoder.arena))? {
            decoder.take_value(key, &mut map)?;
        }
        decoder.commit().map_err(|fault| decoder.fail(fault))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.refuse("null".to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<(), A::Error> {
        Err(self.refuse("an array".to_string()))
    }

    refuse_scalars!();
}

/// Decodes the `tags` object into the decoder's tag scratch.
struct TagsSeed<'a, 'de, 'b>(&'a mut Decoder<'de, 'b>);

impl<'de> DeserializeSeed<'de> for TagsSeed<'_, 'de, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl TagsSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self, got: String) -> E {
        let reason = format!("expected an object of tag names to values, got {got}");
        self.0.fail(Fault::invalid("tags", reason))
    }
}

impl<'de> Visitor<'de> for TagsSeed<'_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of tags")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let decoder = self.0;
        while let Some(key) = map.next_key_seed(KeySeed(&mut decoder.arena))? {
            let raw = map.next_value::<&'de RawValue>()?.get();
            if let Err(fault) = decoder.take_tag(key, raw) {
                return Err(decoder.fail(fault));
            }
        }
        decoder
            .check_tag_count()
            .map_err(|fault| decoder.fail(fault))
    }

    /// `"tags": null` is no tags.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<(), A::Error> {
        Err(self.refuse("an array".to_string()))
    }

    refuse_scalars!();
}
