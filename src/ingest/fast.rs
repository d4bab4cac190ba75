//! The fast path for an NDJSON line of the common shape, beside the serde
//! path in `object`.
//!
//! Nearly every line a shipper sends is a flat object of strings whose
//! values have no escapes: `timestamp`, `source`, `level`, `message`, a
//! `tags` object of strings, maybe a few other scalar fields. For such a
//! line, serde_json's machinery (a visitor call per key and value, each value
//! scanned once as a `RawValue` and again to decode it, `MapAccess` state
//! between them) cost about three times the bytes' own scanning. This
//! scanner reads that shape in one pass over the line and feeds the same
//! `Decoder` methods the serde visitors use, so limits, level rules, fields
//! text and column pushes are the same code.
//!
//! The rule that keeps the two paths equal: the fast path either decodes the
//! whole line or gives up having appended nothing, and the caller then parses
//! the line with serde_json from scratch. It gives up on anything it does not
//! handle (a `\u` escape, whose surrogate rules differ between serde_json's
//! typed and raw readers; an escaped top-level key; a nested object in the
//! fields; a float timestamp; the `msg`/`ts` aliases) and on anything wrong
//! (bad syntax, a limit, a missing message), so every error is still found
//! and worded by the serde path. Strings with the one-character escapes
//! (`\"`, `\n`, ...) stay on the fast path and are decoded into the
//! decoder's arena by `value::decode_string`, as the serde path does. It
//! never accepts a line serde_json would refuse: strings must be free of
//! control characters, numbers follow the JSON grammar, nothing may follow
//! the object. `tests` checks both paths agree on generated and mutated lines.

use super::object::{Decoder, Named};
use super::value::{self, Text};
use crate::time as timestamp;

/// Decodes `line` into the batch when it has the common shape and says
/// whether it did. `false` means nothing was appended and the caller must
/// parse the line with the serde path.
pub(crate) fn try_line<'de>(line: &'de str, decoder: &mut Decoder<'de, '_>) -> bool {
    decode_line(line, decoder).is_some()
}

fn decode_line<'de>(line: &'de str, decoder: &mut Decoder<'de, '_>) -> Option<()> {
    let mut scanner = Scanner::new(line);
    scanner.skip_whitespace();
    scanner.eat(b'{')?;
    decoder.begin_entry().ok()?;
    scanner.skip_whitespace();
    loop {
        let key = scanner.key()?;
        scanner.skip_whitespace();
        scanner.eat(b':')?;
        scanner.skip_whitespace();
        take_value(&mut scanner, key, decoder)?;
        scanner.skip_whitespace();
        match scanner.next_byte()? {
            b',' => scanner.skip_whitespace(),
            b'}' => break,
            _ => return None,
        }
    }
    scanner.skip_whitespace();
    if !scanner.at_end() {
        return None;
    }
    decoder.commit().ok()
}

/// The value of top-level `key`, with the rules of `Decoder::take_value`.
fn take_value<'de>(
    scanner: &mut Scanner<'de>,
    key: &'de str,
    decoder: &mut Decoder<'de, '_>,
) -> Option<()> {
    let Some(named) = Named::parse(key) else {
        let raw = scanner.scalar_raw()?;
        return decoder.push_field(Text::Body(key), raw).ok();
    };
    decoder.mark_seen(named).ok()?;
    match named {
        Named::Message | Named::Source => {
            let text = scanner.string_text(decoder.arena_mut())?;
            decoder.set_string(named, text)
        }
        Named::Timestamp => {
            decoder.set_timestamp(timestamp_value(scanner)?);
            Some(())
        }
        Named::Level => decoder.take_level(scanner.scalar_raw()?).ok(),
        Named::Tags => take_tags(scanner, decoder),
        // Rare aliases whose meaning depends on keys that may come later.
        Named::Msg | Named::Ts => None,
    }
}

/// A timestamp string, or a non-negative integer (as serde_json hands a
/// `u64` to `TimestampSeed`). Floats go to the serde path, whose float
/// parsing this does not replicate.
fn timestamp_value(scanner: &mut Scanner<'_>) -> Option<i64> {
    if scanner.peek()? == b'"' {
        return timestamp::parse_timestamp_text(scanner.string()?).ok();
    }
    let number = scanner.number_raw()?;
    if !number.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let value: u64 = number.parse().ok()?;
    timestamp::epoch_from_i64(i64::try_from(value).ok()?).ok()
}

/// The `tags` object, with the rules of `TagsSeed`.
fn take_tags<'de>(scanner: &mut Scanner<'de>, decoder: &mut Decoder<'de, '_>) -> Option<()> {
    scanner.eat(b'{')?;
    scanner.skip_whitespace();
    if scanner.peek()? == b'}' {
        scanner.next_byte();
        return decoder.check_tag_count().ok();
    }
    loop {
        let key = scanner.string_text(decoder.arena_mut())?;
        scanner.skip_whitespace();
        scanner.eat(b':')?;
        scanner.skip_whitespace();
        if scanner.peek()? == b'"' {
            // The common case: store the text without scanning it again.
            let tag_value = scanner.string_text(decoder.arena_mut())?;
            decoder.check_tag_key(key).ok()?;
            decoder.take_tag_text(key, tag_value).ok()?;
        } else {
            decoder.take_tag(key, scanner.scalar_raw()?).ok()?;
        }
        scanner.skip_whitespace();
        match scanner.next_byte()? {
            b',' => scanner.skip_whitespace(),
            b'}' => break,
            _ => return None,
        }
    }
    decoder.check_tag_count().ok()
}

/// A cursor over one line. Every method returns `None` where the line
/// leaves the fast path's shape.
struct Scanner<'de> {
    text: &'de str,
    position: usize,
}

impl<'de> Scanner<'de> {
    fn new(text: &'de str) -> Scanner<'de> {
        Scanner { text, position: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.position).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.position += 1;
        Some(byte)
    }

    fn eat(&mut self, expected: u8) -> Option<()> {
        (self.next_byte()? == expected).then_some(())
    }

    fn at_end(&self) -> bool {
        self.position == self.text.len()
    }

    /// JSON whitespace: space, tab, line feed, carriage return.
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
    }

    /// A top-level key without escapes. The keys nearly every line has are
    /// recognised by their bytes, which is cheaper than scanning for the
    /// closing quote and then comparing the text with every name.
    fn key(&mut self) -> Option<&'de str> {
        const COMMON_KEYS: [&str; 5] = ["timestamp", "source", "level", "message", "tags"];
        let rest = &self.text.as_bytes()[self.position..];
        for key in COMMON_KEYS {
            let quoted_end = key.len() + 2;
            if rest.len() > quoted_end
                && rest[0] == b'"'
                && rest[quoted_end - 1] == b'"'
                && &rest[1..quoted_end - 1] == key.as_bytes()
            {
                self.position += quoted_end;
                return Some(key);
            }
        }
        self.string()
    }

    /// A string without escapes: its text between the quotes.
    fn string(&mut self) -> Option<&'de str> {
        match self.string_raw()? {
            (raw, false) => Some(&raw[1..raw.len() - 1]),
            (_, true) => None,
        }
    }

    /// A string's text: borrowed from the line, or decoded into `arena`
    /// when it has escapes.
    fn string_text(&mut self, arena: &mut String) -> Option<Text<'de>> {
        match self.string_raw()? {
            (raw, false) => Some(Text::Body(&raw[1..raw.len() - 1])),
            (raw, true) => Some(value::decode_string(raw, arena)),
        }
    }

    /// A string, quotes included (its JSON text), and whether it has
    /// escapes. Only the one-character escapes are taken.
    fn string_raw(&mut self) -> Option<(&'de str, bool)> {
        let start = self.position;
        if self.peek()? != b'"' {
            return None;
        }
        let bytes = self.text.as_bytes();
        let mut at = start + 1;
        let mut escaped = false;
        loop {
            at += find_string_stop(&bytes[at..])?;
            match bytes[at] {
                b'"' => break,
                b'\\' if is_one_character_escape(*bytes.get(at + 1)?) => {
                    escaped = true;
                    at += 2;
                }
                // `\u`, an invalid escape, or a control character (invalid JSON).
                _ => return None,
            }
        }
        self.position = at + 1;
        // Both ends are ASCII quotes, so on character boundaries.
        Some((&self.text[start..=at], escaped))
    }

    /// A string without escapes, a number, `true`, `false` or `null`, as
    /// JSON text. Objects and arrays leave the fast path.
    fn scalar_raw(&mut self) -> Option<&'de str> {
        match self.peek()? {
            b'"' => self.string_raw().map(|(raw, _)| raw),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number_raw(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &'static str) -> Option<&'de str> {
        let end = self.position + word.len();
        if self.text.as_bytes().get(self.position..end)? != word.as_bytes() {
            return None;
        }
        let raw = &self.text[self.position..end];
        self.position = end;
        Some(raw)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, the JSON
    /// number grammar serde_json checks.
    fn number_raw(&mut self) -> Option<&'de str> {
        let start = self.position;
        if self.peek() == Some(b'-') {
            self.position += 1;
        }
        match self.peek()? {
            b'0' => self.position += 1,
            b'1'..=b'9' => self.skip_digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.position += 1;
            self.one_or_more_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.position += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.position += 1;
            }
            self.one_or_more_digits()?;
        }
        Some(&self.text[start..self.position])
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.position += 1;
        }
    }

    fn one_or_more_digits(&mut self) -> Option<()> {
        let start = self.position;
        self.skip_digits();
        (self.position > start).then_some(())
    }
}

/// The escapes `value::decode_string` and serde_json decode alike.
fn is_one_character_escape(byte: u8) -> bool {
    matches!(byte, b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't')
}

/// Index of the first `"`, `\` or control character (below 0x20) in `bytes`:
/// where a string without escapes ends, or where it leaves the fast path.
///
/// Eight bytes at a time (SWAR): `x.wrapping_sub(ONES * n) & !x & HIGHS`
/// marks bytes of `x` below `n` (n <= 0x80); a byte equal to `c` is a zero
/// byte of `x ^ (ONES * c)`. Borrows can mark bytes after a true match but
/// never before one, so the lowest mark is exact.
fn find_string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    const CONTROL_END: u64 = ONES * 0x20;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of eight bytes"));
        let quote = word ^ QUOTES;
        let backslash = word ^ BACKSLASHES;
        let marks = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | word.wrapping_sub(CONTROL_END) & !word)
            & HIGHS;
        if marks != 0 {
            return Some(offset + (marks.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
        .map(|index| offset + index)
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
