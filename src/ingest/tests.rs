//! Behaviour tests of `parse_body` and `detect_format`: formats, every field
//! rule, error wording and location, all-or-nothing, limits; and a property
//! test against a model built from the same entries.

use super::*;
use crate::entry::Level;
use proptest::prelude::*;
use serde_json::{json, Value};

const NOW_NS: i64 = 1_234;
const TS_2024_NS: i64 = 1_709_210_096_000_000_000; // 2024-02-29T12:34:56Z

fn parse(body: &str, format: BodyFormat) -> Result<ColumnBatch> {
    let mut batch = ColumnBatch::default();
    parse_body(body.as_bytes(), format, NOW_NS, &mut batch).map(|count| {
        assert_eq!(count, batch.len());
        batch.check_invariants().unwrap();
        batch
    })
}

fn ndjson(body: &str) -> ColumnBatch {
    parse(body, BodyFormat::Ndjson).unwrap_or_else(|error| panic!("{body}: {error}"))
}

fn ndjson_error(body: &str) -> IngestError {
    parse(body, BodyFormat::Ndjson).expect_err(body)
}

fn json_error(body: &str) -> IngestError {
    parse(body, BodyFormat::Json).expect_err(body)
}

/// The one entry of a one-line NDJSON body.
fn one(line: &str) -> ColumnBatch {
    let batch = ndjson(line);
    assert_eq!(batch.len(), 1);
    batch
}

fn tags(batch: &ColumnBatch, index: usize) -> Vec<(&str, &str)> {
    batch.tags(index).collect()
}

fn fields(batch: &ColumnBatch, index: usize) -> Value {
    let text = batch.fields.get(index);
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|error| panic!("fields {text:?}: {error}"))
}

#[test]
fn content_type_decides() {
    let ndjson_body = b"{\"message\":\"a\"}\n{\"message\":\"b\"}\n";
    assert_eq!(
        detect_format(Some("application/json"), ndjson_body),
        BodyFormat::Json
    );
    assert_eq!(
        detect_format(Some("Application/JSON; charset=utf-8"), b"[]"),
        BodyFormat::Json
    );
    for content_type in [
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "text/plain",
        "text/plain;charset=UTF-8",
    ] {
        assert_eq!(
            detect_format(Some(content_type), b"[]"),
            BodyFormat::Ndjson,
            "{content_type}"
        );
    }
}

#[test]
fn body_decides_without_a_known_content_type() {
    let cases: [(&[u8], BodyFormat); 9] = [
        (b"[{\"message\":\"a\"}]", BodyFormat::Json),
        (b"  \n[", BodyFormat::Json),
        (b"{\"message\":\"a\"}", BodyFormat::Json),
        (b"{\"message\":\"a\"}\n\n  \r\n", BodyFormat::Json),
        (
            b"{\n  \"message\": \"a\",\n  \"x\": {}\n}\n",
            BodyFormat::Json,
        ),
        (
            b"{\"message\":\"a\"}\n{\"message\":\"b\"}",
            BodyFormat::Ndjson,
        ),
        (
            b"\xEF\xBB\xBF{\"message\":\"a\"}\r\n{\"message\":\"b\"}\r\n",
            BodyFormat::Ndjson,
        ),
        (b"", BodyFormat::Ndjson),
        (b"garbage", BodyFormat::Ndjson),
    ];
    for (body, expected) in cases {
        let shown = String::from_utf8_lossy(body);
        assert_eq!(detect_format(None, body), expected, "{shown}");
        assert_eq!(
            detect_format(Some("application/octet-stream"), body),
            expected,
            "{shown}"
        );
    }
}

#[test]
fn every_format_parses() {
    let object = parse(r#"{"message":"one"}"#, BodyFormat::Json).unwrap();
    assert_eq!(object.messages.get(0), "one");
    let array = parse(
        r#" [ {"message":"a"}, {"message":"b"} ] "#,
        BodyFormat::Json,
    )
    .unwrap();
    assert_eq!((array.messages.get(0), array.messages.get(1)), ("a", "b"));
    let lines = ndjson("\r\n{\"message\":\"a\"}\r\n\n   \n{\"message\":\"b\"}");
    assert_eq!((lines.messages.get(0), lines.messages.get(1)), ("a", "b"));
    let with_bom = ndjson("\u{feff}{\"message\":\"a\"}\n");
    assert_eq!(with_bom.messages.get(0), "a");
    let json_bom = parse("\u{feff}[{\"message\":\"a\"}]", BodyFormat::Json).unwrap();
    assert_eq!(json_bom.len(), 1);
}

#[test]
fn defaults_apply_when_fields_are_absent() {
    let batch = one(r#"{"message":"m"}"#);
    assert_eq!(batch.timestamps_ns[0], NOW_NS);
    assert_eq!(Level::from_byte(batch.levels[0]), Level::Unset);
    assert_eq!(batch.sources.get(0), "");
    assert_eq!(batch.fields.get(0), "");
    assert_eq!(batch.tags(0).count(), 0);
    let nulls = one(r#"{"message":"m","timestamp":null,"source":null,"level":null,"tags":null}"#);
    assert_eq!(nulls.timestamps_ns[0], NOW_NS);
    assert_eq!(nulls.sources.get(0), "");
    assert_eq!(nulls.fields.get(0), "");
}

#[test]
fn every_timestamp_form() {
    let cases = [
        (r#""2024-02-29T12:34:56Z""#, TS_2024_NS),
        (
            r#""2024-02-29T14:34:56.25+02:00""#,
            TS_2024_NS + 250_000_000,
        ),
        (
            r#""2024-02-29T12:34:56.123456789Z""#,
            TS_2024_NS + 123_456_789,
        ),
        ("1709210096", TS_2024_NS),
        ("1709210096000", TS_2024_NS),
        ("1709210096000000", TS_2024_NS),
        ("1709210096000000000", TS_2024_NS),
        ("1709210096.5", TS_2024_NS + 500_000_000),
        ("1.709210096e9", TS_2024_NS),
        (r#""1709210096000""#, TS_2024_NS),
        (r#""2024-02-29T12:34:56\u005a""#, TS_2024_NS),
        ("null", NOW_NS),
    ];
    for (value, expected) in cases {
        for key in ["timestamp", "ts"] {
            let batch = one(&format!(r#"{{"message":"m","{key}":{value}}}"#));
            assert_eq!(batch.timestamps_ns[0], expected, "{key}: {value}");
        }
    }
}

#[test]
fn bad_timestamps_say_why() {
    assert_eq!(
        ndjson_error("{\"message\":\"m\"}\n\n{\"message\":\"m\",\"timestamp\":true}").to_string(),
        "line 3: field \"timestamp\": expected an RFC 3339 string or an integer \
         (s, ms, us or ns since the epoch), got true"
    );
    let error = ndjson_error(r#"{"message":"m","ts":"2024-02-30T00:00:00Z"}"#);
    assert_eq!(
        error.to_string(),
        "line 1: field \"ts\": \"2024-02-30T00:00:00Z\" is not an RFC 3339 timestamp \
         (day does not exist in that month)"
    );
    assert_eq!(error.code(), "invalid_field");
    let error = ndjson_error(r#"{"message":"m","timestamp":{"s":1}}"#);
    assert!(error.to_string().ends_with("got an object"), "{error}");
    let error = ndjson_error(r#"{"message":"m","timestamp":99999999999999999999}"#);
    assert!(
        error.to_string().contains("outside the supported range"),
        "{error}"
    );
}

#[test]
fn ts_beside_timestamp_is_a_field() {
    let batch = one(r#"{"ts":"later","message":"m","timestamp":1709210096}"#);
    assert_eq!(batch.timestamps_ns[0], TS_2024_NS);
    assert_eq!(fields(&batch, 0), json!({"ts": "later"}));
}

#[test]
fn message_and_msg() {
    assert_eq!(one(r#"{"msg":"short"}"#).messages.get(0), "short");
    let both = one(r#"{"msg":{"k":1},"message":"long"}"#);
    assert_eq!(both.messages.get(0), "long");
    assert_eq!(fields(&both, 0), json!({"msg": {"k": 1}}));
    let missing = ndjson_error("{\"message\":\"m\"}\n{\"source\":\"s\"}");
    assert_eq!(missing.to_string(), "line 2: missing field \"message\"");
    assert_eq!((missing.code(), missing.line()), ("missing_field", Some(2)));
    assert_eq!(
        ndjson_error(r#"{"message":42}"#).to_string(),
        "line 1: field \"message\": expected a string, got 42"
    );
    assert_eq!(
        ndjson_error(r#"{"msg":null}"#).to_string(),
        "line 1: field \"msg\": expected a string, got null"
    );
    assert_eq!(
        ndjson_error(r#"{"message":"a","message":"b"}"#).to_string(),
        "line 1: field \"message\": appears more than once"
    );
}

#[test]
fn level_from_top_level_tags_or_unknown() {
    let top = one(r#"{"message":"m","level":"WARNING","tags":{"level":"error"}}"#);
    assert_eq!(Level::from_byte(top.levels[0]), Level::Warn);
    assert_eq!(tags(&top, 0), vec![("level", "error")]);
    assert_eq!(
        Level::from_byte(one(r#"{"message":"m","level":3}"#).levels[0]),
        Level::Error
    );

    let from_tag = one(r#"{"tags":{"level":"err","zone":"a"},"message":"m"}"#);
    assert_eq!(Level::from_byte(from_tag.levels[0]), Level::Error);
    assert_eq!(tags(&from_tag, 0), vec![("level", "err"), ("zone", "a")]);
    let null_top = one(r#"{"message":"m","level":null,"tags":{"level":4}}"#);
    assert_eq!(Level::from_byte(null_top.levels[0]), Level::Warn);

    let unknown = one(r#"{"message":"m","level":"loud","tags":{"level":"info"}}"#);
    assert_eq!(Level::from_byte(unknown.levels[0]), Level::Unset);
    assert_eq!(fields(&unknown, 0), json!({"level": "loud"}));
    let unknown_number = one(r#"{"message":"m","level":42}"#);
    assert_eq!(Level::from_byte(unknown_number.levels[0]), Level::Unset);
    assert_eq!(unknown_number.fields.get(0), r#"{"level":42}"#);
    let unknown_tag = one(r#"{"message":"m","tags":{"level":"loud"}}"#);
    assert_eq!(Level::from_byte(unknown_tag.levels[0]), Level::Unset);
    assert_eq!(tags(&unknown_tag, 0), vec![("level", "loud")]);
    assert_eq!(unknown_tag.fields.get(0), "");

    assert_eq!(
        ndjson_error(r#"{"message":"m","level":true}"#).to_string(),
        "line 1: field \"level\": expected a string or an integer, got true"
    );
}

#[test]
fn tag_values_of_every_type() {
    let batch = one(
        r#"{"message":"m","tags":{"s":"text","i":42,"f":1.50,"neg":-3,"t":true,"f2":false,"n":null,"e":""}}"#,
    );
    assert_eq!(
        tags(&batch, 0),
        vec![
            ("s", "text"),
            ("i", "42"),
            ("f", "1.50"),
            ("neg", "-3"),
            ("t", "true"),
            ("f2", "false"),
            ("e", "")
        ]
    );
    let nested = ndjson_error(
        "{\"message\":\"m\"}\n{\"message\":\"m\",\"tags\":{\"ok\":1,\"http\":{\"status\":500}}}",
    );
    assert_eq!(
        nested.to_string(),
        "line 2: field \"tags.http\": tag values must be strings, numbers, booleans or null, got an object"
    );
    let array = ndjson_error(r#"{"message":"m","tags":{"ids":[1,2]}}"#);
    assert!(
        array.to_string().contains("\"tags.ids\"") && array.to_string().ends_with("got an array")
    );
    assert_eq!(
        ndjson_error(r#"{"message":"m","tags":"web"}"#).to_string(),
        "line 1: field \"tags\": expected an object of tag names to values, got \"web\""
    );
    assert_eq!(
        ndjson_error(r#"{"message":"m","tags":[]}"#).to_string(),
        "line 1: field \"tags\": expected an object of tag names to values, got an array"
    );
}

#[test]
fn other_fields_are_kept_as_json() {
    let line = r#"{"user_id":42,"message":"m","http":{"status":500,"path":"/a"},"host":"h1","service":"api","ok":true,"list":[1,"x",null],"source":"s","f":-1.5e3}"#;
    let batch = one(line);
    assert_eq!(batch.sources.get(0), "s");
    assert_eq!(
        fields(&batch, 0),
        json!({"user_id":42,"http":{"status":500,"path":"/a"},"host":"h1","service":"api","ok":true,"list":[1,"x",null],"f":-1.5e3})
    );
    assert!(batch
        .fields
        .get(0)
        .starts_with(r#"{"user_id":42,"http":{"status":500,"path":"/a"},"host":"h1""#));
}

#[test]
fn escaped_strings_come_out_unescaped() {
    let line = r#"{"message":"a\nb \"q\" caf\u00e9 \ud83d\ude00","source":"s\\1","tags":{"k\"ey":"v\tal","plain":"p"},"we\"ird\u0001":"x\\y"}"#;
    let batch = one(line);
    assert_eq!(batch.messages.get(0), "a\nb \"q\" café 😀");
    assert_eq!(batch.sources.get(0), "s\\1");
    assert_eq!(tags(&batch, 0), vec![("k\"ey", "v\tal"), ("plain", "p")]);
    assert_eq!(fields(&batch, 0), json!({"we\"ird\u{1}": "x\\y"}));
    let escaped_key = one(r#"{"mess\u0061ge":"by escaped key"}"#);
    assert_eq!(escaped_key.messages.get(0), "by escaped key");
}

#[test]
fn ndjson_errors_name_the_line() {
    let body = "{\"message\":\"a\"}\n\n{\"message\":\"b\"}\n\n\n\n{\"message\": \"c\" \"d\"}\n";
    let error = ndjson_error(body);
    assert_eq!(
        error.to_string(),
        "line 7, column 17: invalid JSON: expected `,` or `}`"
    );
    assert_eq!(
        (error.code(), error.line(), error.column()),
        ("invalid_json", Some(7), Some(17))
    );
    let not_object = ndjson_error("{\"message\":\"a\"}\n[1]\n");
    assert_eq!(
        not_object.to_string(),
        "line 2: expected a JSON object (one log entry), got an array"
    );
    assert_eq!(not_object.code(), "not_an_object");
    assert_eq!(
        ndjson_error("\"hello\"").to_string(),
        "line 1: expected a JSON object (one log entry), got \"hello\""
    );
    let truncated = ndjson_error("{\"message\":\"a\"}\n{\"message\":\"b");
    assert!(
        truncated
            .to_string()
            .starts_with("line 2, column 13: invalid JSON: EOF while parsing a string"),
        "{truncated}"
    );
    let two_on_a_line = ndjson_error("{\"message\":\"a\"} {\"message\":\"b\"}");
    assert_eq!(
        two_on_a_line.to_string(),
        "line 1, column 17: invalid JSON: trailing characters"
    );
}

#[test]
fn invalid_utf8_is_located() {
    let mut batch = ColumnBatch::default();
    let error = parse_body(
        b"{\"message\":\"a\"}\n{\"message\":\"\xff\"}",
        BodyFormat::Ndjson,
        0,
        &mut batch,
    );
    assert_eq!(
        error.unwrap_err().to_string(),
        "line 2, column 13: invalid JSON: the body is not valid UTF-8"
    );
    let error = parse_body(
        b"[\n{\"message\":\"\xc3\"}]",
        BodyFormat::Json,
        0,
        &mut batch,
    );
    assert_eq!(
        error.unwrap_err().to_string(),
        "line 2, column 13: invalid JSON: the body is not valid UTF-8"
    );
    assert!(batch.is_empty());
}

#[test]
fn json_errors_name_the_entry() {
    let error = json_error(r#"[{"message":"a"},{"message":"b"},{"level":"info"}]"#);
    assert_eq!(error.to_string(), "entry 2: missing field \"message\"");
    assert_eq!((error.entry_index(), error.line()), (Some(2), None));
    let not_object = json_error(r#"[{"message":"a"}, 7]"#);
    assert_eq!(
        not_object.to_string(),
        "entry 1: expected a JSON object (one log entry), got 7"
    );
    let syntax = json_error("[{\"message\":\"a\"},\n {\"message\":tru}]");
    assert_eq!(
        syntax.to_string(),
        "entry 1 (line 2, column 16): invalid JSON: expected ident"
    );
    assert_eq!(
        (syntax.entry_index(), syntax.line(), syntax.column()),
        (Some(1), Some(2), Some(16))
    );
    let single = json_error(r#"{"message":"a","tags":{"x":{}}}"#);
    assert_eq!(single.entry_index(), Some(0));
    let top = json_error("42");
    assert_eq!(
        top.to_string(),
        "line 1, column 2: expected a JSON object (one log entry), got 42"
    );
    let trailing = json_error("{\"message\":\"a\"}\n{\"message\":\"b\"}\n");
    assert!(
        trailing
            .to_string()
            .starts_with("line 2, column 1: invalid JSON: more data after"),
        "{trailing}"
    );
    assert!(trailing.to_string().contains("application/x-ndjson"));
}

#[test]
fn errors_leave_the_batch_unchanged() {
    let mut body: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"message":"m{i}","tags":{{"i":{i}}},"x":{i}}}"#))
        .collect();
    body[4] = r#"{"message":"bad","timestamp":false}"#.to_string();
    let mut batch = ColumnBatch::default();
    parse_body(
        br#"{"message":"kept","tags":{"a":"b"},"f":1}"#,
        BodyFormat::Ndjson,
        NOW_NS,
        &mut batch,
    )
    .unwrap();
    let snapshot = batch.clone();

    let error = parse_body(
        body.join("\n").as_bytes(),
        BodyFormat::Ndjson,
        NOW_NS,
        &mut batch,
    )
    .unwrap_err();
    assert_eq!(error.line(), Some(5));
    assert_eq!(batch, snapshot);

    let array = format!("[{}]", body.join(","));
    let error = parse_body(array.as_bytes(), BodyFormat::Json, NOW_NS, &mut batch).unwrap_err();
    assert_eq!(error.entry_index(), Some(4));
    assert_eq!(batch, snapshot);

    let mut fresh = ColumnBatch::default();
    assert!(parse_body(
        body.join("\n").as_bytes(),
        BodyFormat::Ndjson,
        NOW_NS,
        &mut fresh
    )
    .is_err());
    assert_eq!(fresh, ColumnBatch::default());
}

#[test]
fn appends_after_existing_entries() {
    let mut batch = ndjson(r#"{"message":"first","tags":{"a":"1"}}"#);
    let count = parse_body(
        b"{\"message\":\"second\",\"tags\":{\"b\":\"2\"}}\n",
        BodyFormat::Ndjson,
        0,
        &mut batch,
    );
    assert_eq!(count, Ok(1));
    assert_eq!(batch.messages.get(1), "second");
    assert_eq!(tags(&batch, 1), vec![("b", "2")]);
    batch.check_invariants().unwrap();
}

#[test]
fn empty_bodies() {
    for body in ["", "  \r\n\n", "\u{feff}", "[]", " [ ] "] {
        for format in [BodyFormat::Json, BodyFormat::Ndjson] {
            if format == BodyFormat::Ndjson && body.contains('[') {
                continue;
            }
            let error = parse(body, format).expect_err(body);
            assert_eq!(error, IngestError::EmptyBody, "{body:?}");
            assert_eq!(error.code(), "empty_body");
            assert_eq!(error.to_string(), "the request body holds no log entries");
        }
    }
}

#[test]
fn limits_are_enforced() {
    let long_message = format!(r#"{{"message":"{}"}}"#, "x".repeat(MESSAGE_BYTES_MAX + 1));
    let error = ndjson_error(&long_message);
    assert_eq!(error.code(), "limit_exceeded");
    assert_eq!(
        error.to_string(),
        format!(
            "line 1: field \"message\" has {} bytes, over the limit of {MESSAGE_BYTES_MAX}",
            MESSAGE_BYTES_MAX + 1
        )
    );
    one(&format!(
        r#"{{"message":"{}"}}"#,
        "x".repeat(MESSAGE_BYTES_MAX)
    ));

    let long_source = format!(
        r#"{{"message":"m","source":"{}"}}"#,
        "s".repeat(SOURCE_BYTES_MAX + 1)
    );
    assert!(ndjson_error(&long_source)
        .to_string()
        .contains("field \"source\" has 1025 bytes"));

    let many_tags = |count: usize| {
        let tags: Vec<String> = (0..count).map(|i| format!(r#""k{i}":"v""#)).collect();
        format!(r#"{{"message":"m","tags":{{{}}}}}"#, tags.join(","))
    };
    assert_eq!(
        one(&many_tags(TAGS_PER_ENTRY_MAX)).tags(0).count(),
        TAGS_PER_ENTRY_MAX
    );
    assert_eq!(
        ndjson_error(&many_tags(TAGS_PER_ENTRY_MAX + 2)).to_string(),
        format!(
            "line 1: field \"tags\" has {} tags, over the limit of {TAGS_PER_ENTRY_MAX}",
            TAGS_PER_ENTRY_MAX + 2
        )
    );

    let long_key = format!(
        r#"{{"message":"m","tags":{{"{}":"v"}}}}"#,
        "k".repeat(TAG_KEY_BYTES_MAX + 1)
    );
    assert!(ndjson_error(&long_key)
        .to_string()
        .contains("has 257 bytes, over the limit of 256"));
    let long_value = format!(
        r#"{{"message":"m","tags":{{"k":"{}"}}}}"#,
        "v".repeat(TAG_VALUE_BYTES_MAX + 1)
    );
    assert!(ndjson_error(&long_value)
        .to_string()
        .starts_with("line 1: tag \"k\" has"));
    let big_fields = format!(
        r#"{{"message":"m","blob":"{}"}}"#,
        "b".repeat(FIELDS_BYTES_MAX)
    );
    assert!(ndjson_error(&big_fields)
        .to_string()
        .contains("the JSON of the other fields has"));
}

#[test]
fn too_many_entries() {
    let body = "{\"message\":\"\"}\n".repeat(ENTRIES_PER_REQUEST_MAX + 1);
    let mut batch = ColumnBatch::default();
    let error = parse_body(body.as_bytes(), BodyFormat::Ndjson, NOW_NS, &mut batch).unwrap_err();
    assert_eq!(
        error,
        IngestError::TooManyEntries {
            entry_count_max: ENTRIES_PER_REQUEST_MAX
        }
    );
    assert_eq!(error.code(), "too_many_entries");
    assert!(batch.is_empty());
}

/// One generated entry: the JSON members in the order they are written,
/// and what the batch must then hold.
#[derive(Debug, Clone)]
struct Case {
    members: Vec<(String, Value)>,
    timestamp_ns: i64,
    level: Level,
    source: String,
    message: String,
    tags: Vec<(String, String)>,
    fields: serde_json::Map<String, Value>,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    let level = prop::option::of(prop::sample::select(vec![
        "info", "WARN", "Error", "debug", "loud", "", "7",
    ]));
    let tag_value = prop_oneof![
        any::<String>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    let tags = prop::collection::btree_map("[a-z]{1,6}|level", tag_value, 0..6);
    let field_value = prop_oneof![
        any::<String>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(-1.5e3)),
        Just(json!({"nested": [1, {"deep": "x\ny"}]})),
    ];
    let extra = prop::collection::btree_map("[a-z_\"\\\\]{1,8}", field_value, 0..4);
    let timestamp = prop::option::of(prop_oneof![
        (100_000_000_000_000_000i64..i64::MAX).prop_map(|ns| (Value::from(ns), ns)),
        any::<i64>().prop_map(|ns| {
            let mut text = String::new();
            format_rfc3339_nanos(ns, &mut text);
            (Value::from(text), ns)
        }),
    ]);
    let source = prop::option::of(".{0,20}");
    (any::<String>(), source, timestamp, level, tags, extra)
        .prop_map(|(message, source, timestamp, level, tags, extra)| {
            build_case(message, source, timestamp, level, tags, extra)
        })
        .prop_flat_map(|case| {
            let members = case.members.clone();
            Just(members).prop_shuffle().prop_map(move |members| Case {
                members,
                ..case.clone()
            })
        })
}

const RESERVED: [&str; 7] = [
    "message",
    "msg",
    "timestamp",
    "ts",
    "source",
    "level",
    "tags",
];

fn build_case(
    message: String,
    source: Option<String>,
    timestamp: Option<(Value, i64)>,
    level: Option<&str>,
    tags: std::collections::BTreeMap<String, Value>,
    extra: std::collections::BTreeMap<String, Value>,
) -> Case {
    let mut members = vec![("message".to_string(), Value::from(message.clone()))];
    let mut fields: serde_json::Map<String, Value> = extra
        .into_iter()
        .filter(|(key, _)| !RESERVED.contains(&key.as_str()))
        .collect();
    members.extend(
        fields
            .iter()
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    if let Some(source) = &source {
        members.push(("source".to_string(), Value::from(source.clone())));
    }
    if let Some((value, _)) = &timestamp {
        members.push(("timestamp".to_string(), value.clone()));
    }
    let tag_text = |value: &Value| match value {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let stored_tags: Vec<(String, String)> = tags
        .iter()
        .filter_map(|(key, value)| Some((key.clone(), tag_text(value)?)))
        .collect();
    members.push((
        "tags".to_string(),
        Value::Object(tags.into_iter().collect()),
    ));
    let tag_level = stored_tags
        .iter()
        .find(|(key, _)| key == "level")
        .and_then(|(_, text)| Level::parse(text));
    let level = match level {
        Some(text) => {
            members.push(("level".to_string(), Value::from(text)));
            Level::parse(text).unwrap_or_else(|| {
                fields.insert("level".to_string(), Value::from(text));
                Level::Unset
            })
        }
        None => tag_level.unwrap_or(Level::Unset),
    };
    Case {
        members,
        timestamp_ns: timestamp.map_or(NOW_NS, |(_, ns)| ns),
        level,
        source: source.unwrap_or_default(),
        message,
        tags: stored_tags,
        fields,
    }
}

fn to_line(case: &Case) -> String {
    let members: Vec<String> = case
        .members
        .iter()
        .map(|(key, value)| format!("{}:{}", Value::from(key.as_str()), value))
        .collect();
    format!("{{{}}}", members.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsed_batch_holds_exactly_the_entries(
        cases in prop::collection::vec(case_strategy(), 1..8),
        crlf in any::<bool>(),
    ) {
        let separator = if crlf { "\r\n" } else { "\n" };
        let body: Vec<String> = cases.iter().map(to_line).collect();
        let batch = ndjson(&body.join(separator));
        let array = parse(&format!("[{}]", body.join(",")), BodyFormat::Json).unwrap();
        prop_assert_eq!(&batch, &array);
        prop_assert_eq!(batch.len(), cases.len());
        for (index, case) in cases.iter().enumerate() {
            prop_assert_eq!(batch.messages.get(index), case.message.as_str());
            prop_assert_eq!(batch.sources.get(index), case.source.as_str());
            prop_assert_eq!(batch.timestamps_ns[index], case.timestamp_ns);
            prop_assert_eq!(Level::from_byte(batch.levels[index]), case.level);
            let expected_tags: Vec<(&str, &str)> =
                case.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            prop_assert_eq!(tags(&batch, index), expected_tags);
            let expected_fields = if case.fields.is_empty() {
                Value::Null
            } else {
                Value::Object(case.fields.clone())
            };
            prop_assert_eq!(fields(&batch, index), expected_fields);
        }
    }
}
