//! Typed seeds for the named fields every entry has: `message`, `source`
//! and `timestamp`.
//!
//! These are decoded by visitors rather than as `&RawValue`, because
//! serde_json then tells us for free whether a string had escapes
//! (`visit_borrowed_str` vs `visit_str`) and hands numbers over already
//! parsed: no second scan of the value, no raw-value bookkeeping. On the
//! benchmark body that is about a tenth of the parse cost. Fields whose
//! original JSON text must be kept (`level`, tag values, other fields) still
//! go through `RawValue`.
//!
//! A JSON float timestamp is read as an `f64` by serde_json, so it is exact
//! to about 0.1 µs for current dates; strings of digits are converted
//! exactly.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::error::Fault;
use super::object::{Decoder, Named};
use super::value::{self, Text};
use crate::time::{self as timestamp, TimestampError};

/// The reason given for a timestamp of the wrong JSON type.
pub(crate) const TIMESTAMP_EXPECTED: &str =
    "expected an RFC 3339 string or an integer (s, ms, us or ns since the epoch)";

/// A string field; `None` for JSON null. Strings with escapes are decoded
/// into the decoder's arena.
pub(crate) struct StringSeed<'a, 'de, 'b> {
    pub(crate) decoder: &'a mut Decoder<'de, 'b>,
    pub(crate) named: Named,
    pub(crate) byte_count_max: usize,
}

impl StringSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self, got: String) -> E {
        let reason = format!("expected a string, got {got}");
        self.decoder.fail(Fault::invalid(self.named.name(), reason))
    }
}

impl<'de> StringSeed<'_, 'de, '_> {
    fn checked<E: de::Error>(self, text: Text<'de>) -> Result<Option<Text<'de>>, E> {
        if text.byte_count() > self.byte_count_max {
            return Err(self.decoder.fail(Fault::LimitExceeded {
                what: format!("field \"{}\"", self.named.name()),
                size: text.byte_count(),
                limit: self.byte_count_max,
                unit: "bytes",
            }));
        }
        Ok(Some(text))
    }
}

impl<'de> DeserializeSeed<'de> for StringSeed<'_, 'de, '_> {
    type Value = Option<Text<'de>>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringSeed<'_, 'de, '_> {
    type Value = Option<Text<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        self.checked(Text::Body(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let text = Text::in_arena(self.decoder.arena_mut(), text);
        self.checked(text)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Err(self.refuse(value.to_string()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Err(self.refuse(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Err(self.refuse(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Err(self.refuse(value.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        Err(self.refuse("an object".to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(self.refuse("an array".to_string()))
    }
}

/// A timestamp field, in ns since the epoch; `None` for JSON null.
pub(crate) struct TimestampSeed<'a, 'de, 'b> {
    pub(crate) decoder: &'a mut Decoder<'de, 'b>,
    pub(crate) named: Named,
}

impl TimestampSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self, got: String) -> E {
        let reason = format!("{TIMESTAMP_EXPECTED}, got {got}");
        self.decoder.fail(Fault::invalid(self.named.name(), reason))
    }

    fn converted<E: de::Error>(
        self,
        parsed: Result<i64, TimestampError>,
        got: impl FnOnce() -> String,
    ) -> Result<Option<i64>, E> {
        match parsed {
            Ok(timestamp_ns) => Ok(Some(timestamp_ns)),
            Err(error) => {
                let reason = format!("{} {error}", got());
                Err(self.decoder.fail(Fault::invalid(self.named.name(), reason)))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for TimestampSeed<'_, 'de, '_> {
    type Value = Option<i64>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TimestampSeed<'_, 'de, '_> {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TIMESTAMP_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let quoted = || format!("\"{}\"", value::truncate_for_message(text));
        self.converted(timestamp::parse_timestamp_text(text), quoted)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        self.converted(timestamp::epoch_from_i64(value), || value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        let parsed = i64::try_from(value)
            .map_err(|_| TimestampError::OutOfRange)
            .and_then(timestamp::epoch_from_i64);
        self.converted(parsed, || value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        self.converted(timestamp::epoch_from_f64(value), || value.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Err(self.refuse(value.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        Err(self.refuse("an object".to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(self.refuse("an array".to_string()))
    }
}
