//! Loki stream labels in protobuf pushes: the LogQL selector text
//! `{app="api", env="prod"}` that Promtail, Grafana Agent/Alloy and Vector
//! write with Prometheus' `labels.String()` (every value quoted with Go's
//! `strconv.Quote`).
//!
//! The parser takes what Loki's own `syntax.ParseLabels` takes for a push:
//! equality matchers only, names `[a-zA-Z_][a-zA-Z0-9_]*`, values in double
//! quotes with Go's escapes (`\"`, `\\`, `\n`, `\t`, `\xHH`, `\uHHHH`, octal
//! `\ooo`, ...), in single quotes, or in backquotes (raw), spaces anywhere
//! between tokens, an optional trailing comma, no duplicate names. A name or
//! value without escapes is borrowed from the request body.

use std::borrow::Cow;

/// Labels of one stream, in the order they were written.
pub type Labels<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Labels one stream may carry; more is refused before anything is kept
/// (the per-entry tag limit is checked later, this bounds the parse).
pub const LABELS_PER_STREAM_MAX: usize = crate::ingest::TAGS_PER_ENTRY_MAX;

/// Parses a selector such as `{app="api", env="prod"}`. The error is a
/// sentence about what is wrong and where.
pub fn parse_labels(text: &str) -> Result<Labels<'_>, String> {
    let mut cursor = Cursor { text, at: 0 };
    cursor.skip_spaces();
    cursor.expect(b'{')?;
    let mut labels: Labels<'_> = Vec::new();
    loop {
        cursor.skip_spaces();
        if cursor.eat(b'}') {
            break;
        }
        if !labels.is_empty() {
            cursor.expect(b',')?;
            cursor.skip_spaces();
            if cursor.eat(b'}') {
                break;
            }
        }
        let name = cursor.name()?;
        cursor.skip_spaces();
        cursor.expect_equality()?;
        cursor.skip_spaces();
        let value = cursor.quoted()?;
        if labels.iter().any(|(known, _)| *known == name) {
            return Err(format!("duplicate label name {name:?}"));
        }
        if labels.len() == LABELS_PER_STREAM_MAX {
            return Err(format!(
                "more than {LABELS_PER_STREAM_MAX} labels in one stream"
            ));
        }
        labels.push((Cow::Borrowed(name), value));
    }
    cursor.skip_spaces();
    if cursor.at != text.len() {
        return Err(format!("unexpected text after '}}' at byte {}", cursor.at));
    }
    Ok(labels)
}

struct Cursor<'a> {
    text: &'a str,
    /// Byte offset of the next unread byte.
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek() == Some(byte);
        if matched {
            self.at += 1;
        }
        matched
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.eat(byte) {
            return Ok(());
        }
        Err(format!(
            "expected '{}' at byte {}, found {}",
            byte as char,
            self.at,
            self.describe_next()
        ))
    }

    /// `=`; the other matchers (`!=`, `=~`, `!~`) select, they do not label.
    fn expect_equality(&mut self) -> Result<(), String> {
        let bytes = self.text.as_bytes();
        let two = bytes.get(self.at..self.at + 2);
        if matches!(two, Some(b"!=" | b"=~" | b"!~")) {
            return Err(format!(
                "only '=' may label a stream, found {:?} at byte {}",
                &self.text[self.at..self.at + 2],
                self.at
            ));
        }
        self.expect(b'=')
    }

    fn describe_next(&self) -> String {
        match self.text[self.at..].chars().next() {
            Some(c) => format!("{c:?}"),
            None => "the end of the labels".to_string(),
        }
    }

    fn name(&mut self) -> Result<&'a str, String> {
        let start = self.at;
        let bytes = self.text.as_bytes();
        let is_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
        if !bytes.get(start).copied().is_some_and(is_start) {
            return Err(format!(
                "expected a label name at byte {start}, found {}",
                self.describe_next()
            ));
        }
        self.at += 1;
        while bytes
            .get(self.at)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.at += 1;
        }
        Ok(&self.text[start..self.at])
    }

    /// A quoted value: `"..."` or `'...'` with escapes, `` `...` `` raw.
    fn quoted(&mut self) -> Result<Cow<'a, str>, String> {
        let start = self.at;
        let Some(quote @ (b'"' | b'\'' | b'`')) = self.peek() else {
            return Err(format!(
                "expected a quoted label value at byte {start}, found {}",
                self.describe_next()
            ));
        };
        self.at += 1;
        let body_start = self.at;
        let bytes = self.text.as_bytes();
        let mut escaped = false;
        loop {
            match bytes.get(self.at) {
                None => return Err(format!("the label value at byte {start} is not closed")),
                Some(&b'\\') if quote != b'`' => {
                    escaped = true;
                    self.at += 2;
                }
                Some(&b) if b == quote => break,
                Some(b'\n') if quote != b'`' => {
                    return Err(format!("the label value at byte {start} has a raw newline"))
                }
                Some(_) => self.at += 1,
            }
        }
        let body_end = self.at.min(self.text.len());
        self.at += 1;
        // A `\` escape may have stepped past a multi-byte character; the
        // unescaper re-reads the body as bytes, so cutting there is safe.
        let body = &bytes[body_start..body_end];
        if !escaped {
            return Ok(Cow::Borrowed(&self.text[body_start..body_end]));
        }
        unescape(body)
            .map(Cow::Owned)
            .map_err(|reason| format!("the label value at byte {start} {reason}"))
    }
}

/// Undoes Go's string escapes (the ones `strconv.Unquote` takes).
fn unescape(body: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    while at < body.len() {
        let byte = body[at];
        if byte != b'\\' {
            out.push(byte);
            at += 1;
            continue;
        }
        let Some(&kind) = body.get(at + 1) else {
            return Err("ends in a lone backslash".to_string());
        };
        at += 2;
        let simple = match kind {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' | b'"' | b'\'' | b'`' => Some(kind),
            _ => None,
        };
        if let Some(simple) = simple {
            out.push(simple);
            continue;
        }
        match kind {
            b'x' => out.push(hex_digits(body, &mut at, 2)? as u8),
            b'0'..=b'7' => {
                at -= 1;
                let value = octal_digits(body, &mut at)?;
                out.push(value);
            }
            b'u' | b'U' => {
                let digits = if kind == b'u' { 4 } else { 8 };
                let code = hex_digits(body, &mut at, digits)?;
                let c = char::from_u32(code).ok_or_else(|| {
                    format!("has \\{} escape {code:#x}, not a character", kind as char)
                })?;
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
            other => {
                return Err(format!(
                    "has an unknown escape '\\{}'",
                    (other as char).escape_default()
                ))
            }
        }
    }
    String::from_utf8(out).map_err(|_| "is not valid UTF-8 once unescaped".to_string())
}

fn hex_digits(body: &[u8], at: &mut usize, count: usize) -> Result<u32, String> {
    let digits = body
        .get(*at..*at + count)
        .ok_or_else(|| format!("has a short escape (needs {count} hex digits)"))?;
    let mut value = 0u32;
    for &digit in digits {
        let nibble = (digit as char)
            .to_digit(16)
            .ok_or_else(|| format!("has {:?} where a hex digit belongs", digit as char))?;
        value = value * 16 + nibble;
    }
    *at += count;
    Ok(value)
}

fn octal_digits(body: &[u8], at: &mut usize) -> Result<u8, String> {
    let digits = body
        .get(*at..*at + 3)
        .ok_or_else(|| "has a short octal escape (needs 3 digits)".to_string())?;
    let mut value = 0u32;
    for &digit in digits {
        if !(b'0'..=b'7').contains(&digit) {
            return Err(format!(
                "has {:?} where an octal digit belongs",
                digit as char
            ));
        }
        value = value * 8 + u32::from(digit - b'0');
    }
    *at += 3;
    u8::try_from(value).map_err(|_| format!("has octal escape {value:o}, above 377"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_labels(text)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn promtail_labels_parse_with_spaces_and_borrow_when_unescaped() {
        let text = r#"{app="api", env="prod",job = "varlogs" }"#;
        assert_eq!(
            pairs(text),
            owned(&[("app", "api"), ("env", "prod"), ("job", "varlogs")])
        );
        let parsed = parse_labels(text).unwrap();
        assert!(matches!(parsed[0].1, Cow::Borrowed(_)));
        assert_eq!(pairs("{}"), owned(&[]));
        assert_eq!(pairs(" { a=\"1\", } "), owned(&[("a", "1")]));
    }

    #[test]
    fn go_escapes_are_undone() {
        let text = r#"{path="C:\\logs\\app", msg="say \"hi\"\n\ttab", u="\u00e9\U0001F600", x="\xc3\xa9", o="\303\251"}"#;
        assert_eq!(
            pairs(text),
            owned(&[
                ("path", r"C:\logs\app"),
                ("msg", "say \"hi\"\n\ttab"),
                ("u", "é😀"),
                ("x", "é"),
                ("o", "é"),
            ])
        );
        assert_eq!(
            pairs("{a=`raw \\n`, b='it\\'s'}"),
            owned(&[("a", "raw \\n"), ("b", "it's")])
        );
        assert_eq!(pairs("{a=\"ünï\"}"), owned(&[("a", "ünï")]));
    }

    #[test]
    fn malformed_selectors_are_refused_with_the_place() {
        let cases = [
            ("", "expected '{'"),
            ("app=\"x\"", "expected '{'"),
            ("{app=\"x\"", "expected ','"),
            ("{app=x}", "expected a quoted label value at byte 5"),
            ("{app=\"x}", "not closed"),
            ("{1app=\"x\"}", "expected a label name"),
            ("{app!=\"x\"}", "only '='"),
            ("{app=~\"x\"}", "only '='"),
            ("{a=\"1\", a=\"2\"}", "duplicate label name \"a\""),
            ("{a=\"1\"} extra", "unexpected text"),
            ("{a=\"\\q\"}", "unknown escape"),
            ("{a=\"\\xff\"}", "not valid UTF-8"),
            ("{a=\"\\u12\"}", "short escape"),
            ("{a=\"\\", "not closed"),
            ("{a=\"é\\", "not closed"),
        ];
        for (text, expected) in cases {
            let error = parse_labels(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn label_count_is_bounded() {
        let many: Vec<String> = (0..=LABELS_PER_STREAM_MAX)
            .map(|i| format!("l{i}=\"v\""))
            .collect();
        let text = format!("{{{}}}", many.join(","));
        assert!(parse_labels(&text).unwrap_err().contains("more than"));
    }
}
