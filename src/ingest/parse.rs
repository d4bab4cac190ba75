//! The body drivers: split a body into entry objects and say where a
//! problem is.
//!
//! NDJSON is split on `\n` with `memchr`. Each line goes to `fast` first;
//! a line it does not take gets its own serde_json deserializer over the
//! borrowed line, so a line's errors name the line and column directly. A
//! JSON body (one object or an array of objects) is one deserializer with a
//! top-level visitor whose `visit_seq` feeds each element to the same
//! `EntrySeed`; the decoder tracks the entry index for locations.
//!
//! The body is checked as UTF-8 once, up front, and then parsed as `&str`:
//! serde_json's slice reader would otherwise validate every string and raw
//! value on its own, which measured as the largest single cost of a line.
//!
//! Neither driver undoes anything: `parse_body` truncates the batch on error.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};

use super::error::{serde_reason, Fault, IngestError, Location, Result};
use super::fast;
use super::object::{refuse_scalars, Decoder, EntrySeed, EntryVisitor};

/// The body as text, or an error naming the line and column of the first
/// byte that is not UTF-8.
pub(crate) fn body_text(body: &[u8], format: super::BodyFormat) -> Result<&str> {
    std::str::from_utf8(body).map_err(|error| {
        let valid = &body[..error.valid_up_to()];
        let line = memchr::memchr_iter(b'\n', valid).count() + 1;
        let column =
            valid.len() - memchr::memrchr(b'\n', valid).map_or(0, |newline| newline + 1) + 1;
        let at = match format {
            super::BodyFormat::Ndjson => Location::Line {
                line,
                column: Some(column),
            },
            super::BodyFormat::Json => Location::Body { line, column },
        };
        IngestError::InvalidJson {
            at,
            reason: "the body is not valid UTF-8".to_string(),
        }
    })
}

/// Parses newline-delimited JSON objects. Blank lines are skipped; a `\r`
/// before `\n` is whitespace to serde_json.
pub(crate) fn parse_ndjson<'de>(body: &'de str, decoder: &mut Decoder<'de, '_>) -> Result<()> {
    let mut line_start = 0;
    let mut line_number = 0;
    while line_start < body.len() {
        let line_end = memchr::memchr(b'\n', &body.as_bytes()[line_start..])
            .map_or(body.len(), |offset| line_start + offset);
        // `\n` is ASCII, so both ends are character boundaries.
        let line = &body[line_start..line_end];
        line_number += 1;
        line_start = line_end + 1;
        if is_blank(line.as_bytes()) {
            continue;
        }
        if fast::try_line(line, decoder) {
            continue;
        }
        if let Err(error) = parse_line(line, decoder) {
            return Err(locate_line_error(error, decoder, line_number));
        }
    }
    Ok(())
}

pub(super) fn parse_line<'de>(
    line: &'de str,
    decoder: &mut Decoder<'de, '_>,
) -> serde_json::Result<()> {
    let mut deserializer = serde_json::Deserializer::from_str(line);
    EntrySeed(decoder).deserialize(&mut deserializer)?;
    deserializer.end()
}

fn locate_line_error(
    error: serde_json::Error,
    decoder: &mut Decoder<'_, '_>,
    line: usize,
) -> IngestError {
    match decoder.take_fault() {
        Some(fault) => fault.at(Location::Line { line, column: None }),
        None => IngestError::InvalidJson {
            at: Location::Line {
                line,
                column: Some(error.column()),
            },
            reason: serde_reason(&error),
        },
    }
}

/// Parses a JSON body: one object, or an array of objects.
pub(crate) fn parse_json<'de>(body: &'de str, decoder: &mut Decoder<'de, '_>) -> Result<()> {
    let mut deserializer = serde_json::Deserializer::from_str(body);
    if let Err(error) = (&mut deserializer).deserialize_any(BodyVisitor(&mut *decoder)) {
        return Err(locate_json_error(error, decoder));
    }
    deserializer
        .end()
        .map_err(|error| IngestError::InvalidJson {
            at: Location::Body {
                line: error.line(),
                column: error.column(),
            },
            reason:
                "more data after the end of the JSON value; send several entries as a JSON array, \
                 or as NDJSON (one object per line) with Content-Type application/x-ndjson"
                    .to_string(),
        })
}

fn locate_json_error(error: serde_json::Error, decoder: &mut Decoder<'_, '_>) -> IngestError {
    let position = (error.line(), error.column());
    let fault = decoder.take_fault();
    let at = match (decoder.current_entry(), &fault) {
        (Some(entry_index), Some(_)) => Location::Entry {
            entry_index,
            position: None,
        },
        (Some(entry_index), None) => Location::Entry {
            entry_index,
            position: Some(position),
        },
        (None, _) => Location::Body {
            line: position.0,
            column: position.1,
        },
    };
    match fault {
        Some(fault) => fault.at(at),
        None => IngestError::InvalidJson {
            at,
            reason: serde_reason(&error),
        },
    }
}

/// The top level of a JSON body: an object is one entry, an array holds
/// entries.
struct BodyVisitor<'a, 'de, 'b>(&'a mut Decoder<'de, 'b>);

impl BodyVisitor<'_, '_, '_> {
    fn refuse<E: de::Error>(self, got: String) -> E {
        self.0.fail(Fault::NotAnObject { got })
    }
}

impl<'de> Visitor<'de> for BodyVisitor<'_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or an array of objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<(), A::Error> {
        EntryVisitor(self.0).visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while seq.next_element_seed(EntrySeed(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        Err(self.refuse("null".to_string()))
    }

    refuse_scalars!();
}

/// True when `bytes` holds only ASCII whitespace (or nothing).
pub(crate) fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}
