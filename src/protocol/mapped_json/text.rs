//! Strings of the entry being decoded: borrowed from the body when they
//! have no escapes, decoded into a per-entry arena when they do.

/// A string of the current entry. `Copy`, so slots can hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Text<'de> {
    Body(&'de str),
    /// A byte range of the arena.
    Arena {
        start: usize,
        end: usize,
    },
}

impl<'de> Text<'de> {
    pub(super) fn resolve<'s>(self, arena: &'s str) -> &'s str
    where
        'de: 's,
    {
        match self {
            Text::Body(text) => text,
            Text::Arena { start, end } => &arena[start..end],
        }
    }
}

/// Decodes a JSON string literal that serde_json validated (`"..."`).
pub(super) fn decode_string<'de>(raw: &'de str, arena: &mut String) -> Text<'de> {
    debug_assert!(raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"'));
    let inner = &raw[1..raw.len() - 1];
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        return Text::Body(inner);
    }
    let start = arena.len();
    unescape_into(inner, arena);
    Text::Arena {
        start,
        end: arena.len(),
    }
}

/// Appends the decoded text of a validated JSON string body. A lone UTF-16
/// surrogate (which serde_json's validation lets through) becomes U+FFFD.
fn unescape_into(inner: &str, out: &mut String) {
    let mut rest = inner;
    while let Some(backslash) = memchr::memchr(b'\\', rest.as_bytes()) {
        out.push_str(&rest[..backslash]);
        let escape = &rest[backslash + 1..];
        let (decoded, used) = match escape.as_bytes().first() {
            Some(b'b') => ('\u{8}', 1),
            Some(b'f') => ('\u{c}', 1),
            Some(b'n') => ('\n', 1),
            Some(b'r') => ('\r', 1),
            Some(b't') => ('\t', 1),
            Some(b'u') => decode_unicode_escape(&escape[1..]),
            Some(&other) => (other as char, 1),
            None => ('\\', 0),
        };
        out.push(decoded);
        rest = escape.get(used..).unwrap_or("");
    }
    out.push_str(rest);
}

/// Decodes the hex digits after `\u` (and a low surrogate's `\uXXXX` after
/// a high one); returns the character and the bytes used after the `\`.
fn decode_unicode_escape(digits: &str) -> (char, usize) {
    let Some(high) = hex4(digits.get(..4)) else {
        return ('\u{fffd}', 1);
    };
    if (0xD800..0xDC00).contains(&high) && digits.get(4..6) == Some("\\u") {
        if let Some(low) = hex4(digits.get(6..10)).filter(|low| (0xDC00..0xE000).contains(low)) {
            let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            return (char::from_u32(code).unwrap_or('\u{fffd}'), 11);
        }
    }
    (char::from_u32(high).unwrap_or('\u{fffd}'), 5)
}

fn hex4(digits: Option<&str>) -> Option<u32> {
    u32::from_str_radix(digits?, 16).ok()
}

/// Appends `text` as a JSON string literal.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    let needs_escape = |byte: &u8| *byte == b'"' || *byte == b'\\' || *byte < 0x20;
    if !text.as_bytes().iter().any(needs_escape) {
        out.push_str(text);
    } else {
        for character in text.chars() {
            match character {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                control if (control as u32) < 0x20 => {
                    out.push_str(&format!("\\u{:04x}", control as u32));
                }
                other => out.push(other),
            }
        }
    }
    out.push('"');
}
