//! The fast path against the serde path. For any line, decoding it the way
//! `parse_ndjson` does (fast path, else serde on the same decoder) must
//! give exactly what the serde path alone gives: the same entry, or the same
//! fault. Lines are built from pieces chosen to sit on the fast path's
//! borders (escapes, control characters, numbers, literals, nesting,
//! duplicates, aliases, limits), then some are mutated byte by byte.

use proptest::prelude::*;

use super::*;

const NOW_NS: i64 = 77;

/// Whether the line decodes the same through the fast path as through
/// serde alone (the fuzzers' own check); also whether the fast path took it.
fn assert_same(line: &str) -> bool {
    super::super::fuzz_check::assert_fast_path_agrees_with_serde(line, NOW_NS)
}

#[test]
fn common_lines_take_the_fast_path() {
    for line in [
        r#"{"timestamp":"2024-05-01T11:33:20.000Z","source":"api","level":"info","message":"GET /x 200","tags":{"env":"prod","host":"api-1"}}"#,
        r#" { "message" : "m" , "tags" : { } } "#,
        "{\"message\":\"m\",\"level\":\"WARNING\"}\r",
        r#"{"message":"m","level":"loud","tags":{"level":"error","n":5,"b":true,"z":null}}"#,
        r#"{"message":"m","timestamp":1714563200,"duration_ms":12.5e-3,"ok":false,"x":null}"#,
        r#"{"message":"é😀 ünïcode","source":"","timestamp":"2024-02-29T12:34:56+02:00"}"#,
        r#"{"message":"m","level":3}"#,
        r#"{"message":"say \"hi\"\n\tbye \\ \/","source":"a\tb","tags":{"k\"":"v\n","level":"err\t"}}"#,
        r#"{"message":"m","level":"warn\r","x":"\b\f"}"#,
    ] {
        assert!(assert_same(line), "fast path declined {line:?}");
    }
}

#[test]
fn other_lines_go_to_serde_with_the_same_result() {
    for line in [
        r#"{"message":"a\u00e9b"}"#,
        r#"{"message":"lone \ud83d surrogate"}"#,
        r#"{"message":"m","tags":{"k":"lone \ud83d surrogate"}}"#,
        r#"{"message":"bad \x escape"}"#,
        r#"{"message":"ends in a backslash\"#,
        r#"{"mess\u0061ge":"escaped key"}"#,
        r#"{"message":"m","timestamp":"2024-02-29T12:34:56\u005a"}"#,
        r#"{"message":"m","tags":{"k":"a\"b"}}"#,
        "{\"message\":\"tab\there\"}",
        r#"{"msg":"alias"}"#,
        r#"{"message":"m","ts":5}"#,
        r#"{"message":"m","timestamp":1.5}"#,
        r#"{"message":"m","timestamp":-5}"#,
        r#"{"message":"m","timestamp":"yesterday"}"#,
        r#"{"message":"m","nested":{"a":[1,2]}}"#,
        r#"{"message":"m","message":"twice"}"#,
        r#"{"message":null}"#,
        r#"{"message":5}"#,
        r#"{"source":"no message"}"#,
        r#"{"message":"m","tags":{"a":{"b":1}}}"#,
        r#"{"message":"m","tags":[]}"#,
        r#"{"message":"m","tags":null}"#,
        r#"{"message":"m","level":true}"#,
        r#"{"message":"m"} trailing"#,
        r#"{"message":"m",}"#,
        r#"{"message":"m","n":01}"#,
        r#"{"message":"m","n":-}"#,
        r#"{"message":"m","n":1.}"#,
        r#"{"message":"m","b":tru}"#,
        r#"{"message":"m""#,
        r#"{}"#,
        r#"[]"#,
        r#""just a string""#,
        r#"{"message":"m","timestamp":99999999999999999999999}"#,
    ] {
        assert_same(line);
    }
}

#[test]
fn limits_are_reported_by_serde() {
    let long_source = format!(
        r#"{{"message":"m","source":"{}"}}"#,
        "s".repeat(crate::ingest::SOURCE_BYTES_MAX + 1)
    );
    let long_key = format!(
        r#"{{"message":"m","tags":{{"{}":"v"}}}}"#,
        "k".repeat(crate::ingest::TAG_KEY_BYTES_MAX + 1)
    );
    let many_tags: Vec<String> = (0..=crate::ingest::TAGS_PER_ENTRY_MAX)
        .map(|index| format!(r#""t{index}":"v""#))
        .collect();
    let many_tags = format!(r#"{{"message":"m","tags":{{{}}}}}"#, many_tags.join(","));
    for line in [long_source, long_key, many_tags] {
        assert!(!assert_same(&line));
    }
}

#[test]
fn string_stop_is_found_at_every_offset() {
    for length in 0..40 {
        for stop in [b'"', b'\\', 0x00, 0x1f] {
            let mut bytes = vec![b'a'; length];
            bytes.push(stop);
            bytes.extend_from_slice(b"\"x\\");
            assert_eq!(find_string_stop(&bytes), Some(length));
        }
        let mut bytes = "é".repeat(length).into_bytes();
        bytes.extend_from_slice(b" ~\x7f");
        assert_eq!(find_string_stop(&bytes), None);
    }
}

fn piece_strategy() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "message",
        "msg",
        "timestamp",
        "ts",
        "source",
        "level",
        "tags",
        "other",
        "",
        "m\\u0065ssage",
    ]);
    let values = prop::sample::select(vec![
        r#""text""#,
        r#""""#,
        r#""a\"b""#,
        r#""line\nbreak""#,
        "\"ctl\u{1}\"",
        r#""é😀""#,
        r#""info""#,
        r#""ERR""#,
        r#""2024-02-29T12:34:56Z""#,
        r#""2024-02-30T00:00:00Z""#,
        r#""1714563200123""#,
        "0",
        "-0",
        "12",
        "1714563200",
        "18446744073709551616",
        "-3",
        "2.50",
        "1e3",
        "01",
        "true",
        "false",
        "null",
        "nul",
        r#"{"env":"prod","n":1}"#,
        r#"{"level":"warn","level":"error"}"#,
        r#"{"k":"v\t"}"#,
        r#"{"k":[1]}"#,
        r#"{}"#,
        "[]",
        "[1,{}]",
    ]);
    let whitespace = prop::sample::select(vec!["", " ", "\t", "\r\n "]);
    (keys, whitespace, values).prop_map(|(key, space, value)| format!("\"{key}\"{space}:{value}"))
}

fn line_strategy() -> impl Strategy<Value = String> {
    let pieces = prop::collection::vec(piece_strategy(), 0..7);
    (pieces, any::<bool>()).prop_map(|(pieces, message_first)| {
        let mut pieces = pieces;
        if message_first {
            pieces.insert(0, r#""message":"m""#.to_string());
        }
        format!("{{{}}}", pieces.join(","))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn fast_path_agrees_with_serde(line in line_strategy()) {
        assert_same(&line);
    }

    #[test]
    fn mutated_lines_agree(
        line in line_strategy(),
        position in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"{}[]\":,\\ 0-.etnx\x01".to_vec()),
        delete in any::<bool>(),
    ) {
        let mut bytes = line.into_bytes();
        let at = position.index(bytes.len() + 1);
        if delete && at < bytes.len() {
            bytes.remove(at);
        } else {
            bytes.insert(at, byte);
        }
        // Removing a byte can split a multi-byte character; such a body is
        // refused as a whole before any line is parsed.
        if let Ok(line) = String::from_utf8(bytes) {
            assert_same(&line);
        }
    }
}
