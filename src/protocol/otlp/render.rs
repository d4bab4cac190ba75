//! Writes OTLP values as text: JSON for fields and non-string bodies, plain
//! text for tag values. Appends to reused `String`s, no allocation per value.

use std::fmt::Write;

use super::model::{AnyValue, KeyValue};

pub(crate) use crate::ingest::push_json_string;

/// Appends `value` as JSON: the empty value is `null`, bytes are base64
/// text, non-finite doubles are proto3 JSON's strings (`"NaN"`, ...).
pub fn push_value_json(out: &mut String, value: &AnyValue<'_>) {
    match value {
        AnyValue::Empty => out.push_str("null"),
        AnyValue::Str(text) | AnyValue::Base64(text) => push_json_string(out, text),
        AnyValue::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        AnyValue::Int(number) => {
            let _ = write!(out, "{number}");
        }
        AnyValue::Double(number) => push_double_json(out, *number),
        AnyValue::Bytes(bytes) => {
            out.push('"');
            push_base64(out, bytes);
            out.push('"');
        }
        AnyValue::Array(values) => {
            out.push('[');
            for (index, item) in values.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                push_value_json(out, item);
            }
            out.push(']');
        }
        AnyValue::KvList(pairs) => push_pairs_json(out, pairs, |_| false),
    }
}

/// Appends `{"key":value,...}` of the pairs `skip` does not skip.
pub fn push_pairs_json(out: &mut String, pairs: &[KeyValue<'_>], skip: impl Fn(&str) -> bool) {
    out.push('{');
    let mut first = true;
    for pair in pairs.iter().filter(|pair| !skip(&pair.key)) {
        if !first {
            out.push(',');
        }
        first = false;
        push_json_string(out, &pair.key);
        out.push(':');
        push_value_json(out, &pair.value);
    }
    out.push('}');
}

fn push_double_json(out: &mut String, number: f64) {
    if number.is_nan() {
        out.push_str("\"NaN\"");
    } else if number.is_infinite() {
        out.push_str(if number > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        let _ = write!(out, "{number}");
    }
}

/// Appends `value` as a tag value: strings as they are, scalars as their
/// text, bytes as base64, arrays and lists as JSON.
pub fn push_value_text(out: &mut String, value: &AnyValue<'_>) {
    match value {
        AnyValue::Str(text) | AnyValue::Base64(text) => out.push_str(text),
        AnyValue::Empty => {}
        AnyValue::Double(number) if number.is_finite() => {
            let _ = write!(out, "{number}");
        }
        AnyValue::Bytes(bytes) => push_base64(out, bytes),
        other => push_value_json(out, other),
    }
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as proto3 JSON writes bytes.
pub fn push_base64(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.chunks(3) {
        let word = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for index in 0..4 {
            if index <= chunk.len() {
                let sextet = (word >> (18 - 6 * index)) & 0x3f;
                out.push(BASE64_ALPHABET[sextet as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

/// Writes `id` as lowercase hex into `out`, which must be twice its size.
pub fn hex<'o>(id: &[u8], out: &'o mut [u8]) -> &'o str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    assert_eq!(out.len(), id.len() * 2, "hex output is twice the id");
    for (pair, byte) in out.chunks_exact_mut(2).zip(id) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
    std::str::from_utf8(out).expect("hex digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        for (input, expected) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (&[0xff, 0xfe][..], "//4="),
        ] {
            let mut out = String::new();
            push_base64(&mut out, input);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn values_render_as_json_that_parses() {
        let value = AnyValue::KvList(vec![
            KeyValue {
                key: Cow::Borrowed("a\"b"),
                value: AnyValue::Array(vec![
                    AnyValue::Int(-3),
                    AnyValue::Double(f64::NAN),
                    AnyValue::Double(1.5),
                    AnyValue::Bool(true),
                    AnyValue::Empty,
                    AnyValue::Bytes(b"hi"),
                ]),
            },
            KeyValue {
                key: Cow::Borrowed("s"),
                value: AnyValue::Str(Cow::Borrowed("line\nbreak\u{1}")),
            },
        ]);
        let mut out = String::new();
        push_value_json(&mut out, &value);
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"a\"b": [-3, "NaN", 1.5, true, null, "aGk="], "s": "line\nbreak\u{1}"})
        );
        let mut buffer = [0u8; 4];
        assert_eq!(hex(&[0x0a, 0xff], &mut buffer), "0aff");
    }
}
