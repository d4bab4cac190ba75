//! Raw JSON values: classify, decode and re-encode without a DOM.
//!
//! The entry decoder takes most values as `&RawValue`, a slice of the body
//! that serde_json has already validated. These helpers turn such a slice
//! into what a column needs. A string without backslashes is its own value
//! (the slice between the quotes), so the common case copies nothing until
//! the column push; only strings with escapes are decoded, into a per-entry
//! arena that is reused across entries.

use std::fmt::Write as _;
use std::ops::Range;

/// A string of the entry being decoded: borrowed from the body, or decoded
/// into the entry's arena. `Copy`, so the decoder can hold it in slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text<'de> {
    Body(&'de str),
    /// Byte range in the arena.
    Arena {
        start: usize,
        end: usize,
    },
}

impl<'de> Text<'de> {
    /// Copies `text` into the arena.
    pub(crate) fn in_arena(arena: &mut String, text: &str) -> Text<'de> {
        let start = arena.len();
        arena.push_str(text);
        Text::Arena {
            start,
            end: arena.len(),
        }
    }

    pub(crate) fn resolve<'s>(self, arena: &'s str) -> &'s str
    where
        'de: 's,
    {
        match self {
            Text::Body(text) => text,
            Text::Arena { start, end } => &arena[Range { start, end }],
        }
    }

    pub(crate) fn byte_count(self) -> usize {
        match self {
            Text::Body(text) => text.len(),
            Text::Arena { start, end } => end - start,
        }
    }
}

/// The JSON type of a raw value, read from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Number,
    Bool,
    Null,
    Object,
    Array,
}

/// The type of a value serde_json validated (so it is non-empty and has no
/// surrounding whitespace).
pub(crate) fn kind(raw: &str) -> Kind {
    match raw.as_bytes().first() {
        Some(b'"') => Kind::String,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        _ => Kind::Number,
    }
}

/// Decodes a raw JSON string literal (`"..."`, validated by serde_json).
/// Borrows when there is no escape; otherwise decodes into `arena`.
pub(crate) fn decode_string<'de>(raw: &'de str, arena: &mut String) -> Text<'de> {
    debug_assert!(raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"'));
    let inner = &raw[1..raw.len() - 1];
    if !has_backslash(inner.as_bytes()) {
        return Text::Body(inner);
    }
    let start = arena.len();
    unescape_into(inner, arena);
    Text::Arena {
        start,
        end: arena.len(),
    }
}

/// Below this length a plain loop finds a backslash faster than `memchr`,
/// whose setup dominates on the short strings of tags and levels.
const SHORT_STRING_BYTES_MAX: usize = 32;

fn has_backslash(bytes: &[u8]) -> bool {
    if bytes.len() < SHORT_STRING_BYTES_MAX {
        bytes.contains(&b'\\')
    } else {
        memchr::memchr(b'\\', bytes).is_some()
    }
}

/// Appends the decoded text of a JSON string body (between the quotes).
/// Input validated by serde_json has only well-formed escapes; a lone UTF-16
/// surrogate (which serde_json's validation lets through) becomes U+FFFD.
pub(crate) fn unescape_into(inner: &str, out: &mut String) {
    let mut rest = inner;
    while let Some(backslash) = memchr::memchr(b'\\', rest.as_bytes()) {
        out.push_str(&rest[..backslash]);
        let escape = &rest[backslash + 1..];
        let (decoded, used) = match escape.as_bytes().first() {
            Some(b'"') => ('"', 1),
            Some(b'\\') => ('\\', 1),
            Some(b'/') => ('/', 1),
            Some(b'b') => ('\u{8}', 1),
            Some(b'f') => ('\u{c}', 1),
            Some(b'n') => ('\n', 1),
            Some(b'r') => ('\r', 1),
            Some(b't') => ('\t', 1),
            Some(b'u') => decode_unicode_escape(escape),
            _ => ('\u{fffd}', 0),
        };
        out.push(decoded);
        rest = &escape[used..];
    }
    out.push_str(rest);
}

/// Decodes `uXXXX` (and a following `\uXXXX` low surrogate); returns the
/// character and the bytes used after the backslash.
fn decode_unicode_escape(escape: &str) -> (char, usize) {
    let Some(high) = hex4(escape.get(1..5)) else {
        return ('\u{fffd}', 1);
    };
    if !(0xD800..0xDC00).contains(&high) {
        return (char::from_u32(high).unwrap_or('\u{fffd}'), 5);
    }
    let low = escape
        .get(5..7)
        .filter(|prefix| *prefix == "\\u")
        .and_then(|_| hex4(escape.get(7..11)));
    match low {
        Some(low) if (0xDC00..0xE000).contains(&low) => {
            let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            (char::from_u32(code).unwrap_or('\u{fffd}'), 11)
        }
        _ => ('\u{fffd}', 5),
    }
}

fn hex4(digits: Option<&str>) -> Option<u32> {
    let digits = digits?;
    if digits.len() != 4 {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// Appends `text` as a JSON string literal, escaping what JSON requires.
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    let mut run_start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[run_start..index]);
        if escape.is_empty() {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        run_start = index + 1;
    }
    out.push_str(&text[run_start..]);
    out.push('"');
}

/// How long a quoted value may be in an error message before it is cut.
const DESCRIBE_BYTES_MAX: usize = 64;

/// A short description of a raw value for error messages: the value itself
/// when it is short (`true`, `42`, `"abc"`), a type name for containers.
pub(crate) fn describe(raw: &str) -> String {
    match kind(raw) {
        Kind::Object => "an object".to_string(),
        Kind::Array => "an array".to_string(),
        _ => truncate_for_message(raw),
    }
}

/// `text` cut to `DESCRIBE_BYTES_MAX` on a character boundary, with `…`.
pub(crate) fn truncate_for_message(text: &str) -> String {
    if text.len() <= DESCRIBE_BYTES_MAX {
        return text.to_string();
    }
    let mut cut = DESCRIBE_BYTES_MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &str) -> String {
        let mut arena = String::from("prefix");
        let text = decode_string(raw, &mut arena);
        text.resolve(&arena).to_string()
    }

    #[test]
    fn strings_without_escapes_borrow() {
        let mut arena = String::new();
        assert_eq!(
            decode_string("\"plain text\"", &mut arena),
            Text::Body("plain text")
        );
        assert!(arena.is_empty());
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(
            decoded(r#""a\nb\"c\\d\/e\tf\r\b\f""#),
            "a\nb\"c\\d/e\tf\r\u{8}\u{c}"
        );
        assert_eq!(decoded(r#""caf\u00e9 \u20ac""#), "café €");
        assert_eq!(decoded(r#""\ud83d\ude00!""#), "😀!");
        assert_eq!(decoded(r#""lone \ud83d here""#), "lone \u{fffd} here");
        assert_eq!(decoded(r#""lone \ude00""#), "lone \u{fffd}");
    }

    #[test]
    fn json_strings_round_trip_through_serde() {
        for text in [
            "plain",
            "quote \" backslash \\",
            "ctl \u{1} \u{1f} \n\r\t",
            "é😀",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, text);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text);
        }
    }

    #[test]
    fn descriptions_are_short() {
        assert_eq!(describe("true"), "true");
        assert_eq!(describe("{\"a\":1}"), "an object");
        assert_eq!(describe("[1]"), "an array");
        let long = format!("\"{}\"", "é".repeat(100));
        assert!(describe(&long).len() <= DESCRIBE_BYTES_MAX + "…".len());
    }
}
