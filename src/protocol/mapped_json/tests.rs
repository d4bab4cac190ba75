use super::*;
use crate::config::FieldMapping;
use serde_json::{json, Value};

fn es_paths() -> Paths {
    Paths::new(&crate::config::ElasticsearchConfig::default().mapping)
}

fn decode_one(paths: &Paths, line: &str) -> Result<ColumnBatch, EntryError> {
    let mut batch = ColumnBatch::default();
    MappedDecoder::new(paths, 7).decode(line, &mut batch)?;
    assert_eq!(batch.len(), 1);
    Ok(batch)
}

fn fields(batch: &ColumnBatch) -> Value {
    match batch.fields.get(0) {
        "" => Value::Null,
        text => serde_json::from_str(text).expect("fields are JSON"),
    }
}

#[test]
fn dotted_paths_find_nested_and_flat_keys_and_the_rest_is_kept() {
    let paths = es_paths();
    let batch = decode_one(
        &paths,
        r#"{"@timestamp":"2024-03-15T10:30:00Z","message":"hi","log":{"level":"WARN","file":{"path":"/x"}},"host":{"name":"h1"},"service.name":"auth","n":5}"#,
    )
    .unwrap();
    assert_eq!(batch.messages.get(0), "hi");
    assert_eq!(batch.sources.get(0), "h1");
    assert_eq!(batch.levels[0], Level::Warn.as_byte());
    assert_eq!(batch.timestamps_ns[0], 1_710_498_600_000_000_000);
    assert_eq!(
        batch.tags(0).collect::<Vec<_>>(),
        vec![("service.name", "auth")]
    );
    // `host` lost its only member and is gone; `log` keeps `file`.
    assert_eq!(
        fields(&batch),
        json!({"log": {"file": {"path": "/x"}}, "n": 5})
    );
}

#[test]
fn missing_parts_take_defaults_and_escapes_are_decoded() {
    let paths = es_paths();
    let batch = decode_one(&paths, r#"{"message":"a\"b\u00e9\n","x":"\ud83d\ude00"}"#).unwrap();
    assert_eq!(batch.messages.get(0), "a\"bé\n");
    assert_eq!(batch.timestamps_ns[0], 7);
    assert_eq!(batch.sources.get(0), "");
    assert_eq!(fields(&batch), json!({"x": "😀"}));
    let batch = decode_one(&paths, r#"{"other":1}"#).unwrap();
    assert_eq!(batch.messages.get(0), "");
}

#[test]
fn time_takes_rfc3339_epoch_numbers_and_strings_and_refuses_the_rest() {
    let paths = es_paths();
    for (time, expected) in [
        ("1710498600123", 1_710_498_600_123_000_000),
        ("\"1710498600123\"", 1_710_498_600_123_000_000),
        ("\"2024-03-15T10:30:00.5+01:00\"", 1_710_495_000_500_000_000),
        ("0", 7),
        ("\"\"", 7),
        ("null", 7),
    ] {
        let line = format!(r#"{{"@timestamp":{time},"message":"m"}}"#);
        assert_eq!(
            decode_one(&paths, &line).unwrap().timestamps_ns[0],
            expected,
            "{time}"
        );
    }
    let error = decode_one(&paths, r#"{"@timestamp":"soon","message":"m"}"#).unwrap_err();
    assert!(matches!(error, EntryError::Timestamp { .. }), "{error}");
    assert!(error.to_string().contains("\"@timestamp\""), "{error}");
    let error = decode_one(&paths, r#"{"@timestamp":true}"#).unwrap_err();
    assert!(matches!(error, EntryError::Timestamp { .. }));
}

#[test]
fn an_unknown_level_is_kept_as_a_field_and_non_strings_become_text() {
    let paths = es_paths();
    let batch = decode_one(
        &paths,
        r#"{"log.level":"loud","host.name":42,"service.name":true}"#,
    )
    .unwrap();
    assert_eq!(batch.levels[0], Level::Unset.as_byte());
    assert_eq!(batch.sources.get(0), "42");
    assert_eq!(
        batch.tags(0).collect::<Vec<_>>(),
        vec![("service.name", "true")]
    );
    assert_eq!(fields(&batch), json!({"log.level": "loud"}));
}

#[test]
fn message_candidates_are_tried_in_order_and_the_others_kept() {
    let mut paths = Paths::new(&FieldMapping {
        message: "_msg".into(),
        time: "_time".into(),
        source: String::new(),
        level: "level".into(),
        tags: vec![],
    });
    paths.set_messages("msg, log").unwrap();
    paths.set_tags("app,host.name").unwrap();
    let batch = decode_one(
        &paths,
        r#"{"log":"second","msg":"","app":"a","host":{"name":"h"}}"#,
    )
    .unwrap();
    assert_eq!(batch.messages.get(0), "second");
    assert_eq!(
        batch.tags(0).collect::<Vec<_>>(),
        vec![("app", "a"), ("host.name", "h")]
    );
    assert_eq!(fields(&batch), json!({"msg": ""}));
    let too_many = ["f"; MESSAGE_FIELDS_MAX + 1].join(",");
    assert!(paths.set_messages(&too_many).is_err());
}

#[test]
fn a_second_value_for_a_taken_part_stays_a_field() {
    let paths = es_paths();
    let batch = decode_one(&paths, r#"{"host.name":"flat","host":{"name":"nested"}}"#).unwrap();
    assert_eq!(batch.sources.get(0), "flat");
    assert_eq!(fields(&batch), json!({"host": {"name": "nested"}}));
}

#[test]
fn bad_objects_are_refused_and_leave_the_batch_unchanged() {
    let paths = es_paths();
    let mut batch = ColumnBatch::default();
    let mut decoder = MappedDecoder::new(&paths, 1);
    decoder.decode(r#"{"message":"ok"}"#, &mut batch).unwrap();
    for bad in [
        "[1]",
        "\"text\"",
        "{\"a\":1",
        "{\"a\":1} x",
        "",
        "{\"a\" 1}",
    ] {
        let error = decoder.decode(bad, &mut batch).unwrap_err();
        assert!(matches!(error, EntryError::Json(_)), "{bad}: {error}");
    }
    let long = format!(
        r#"{{"message":"{}"}}"#,
        "m".repeat(crate::ingest::MESSAGE_BYTES_MAX + 1)
    );
    assert!(matches!(
        decoder.decode(&long, &mut batch),
        Err(EntryError::Limit(_))
    ));
    assert_eq!(batch.len(), 1);
    assert_eq!(batch.check_invariants(), Ok(()));
}

#[test]
fn escaped_keys_are_kept_escaped_in_the_fields() {
    let paths = es_paths();
    let batch = decode_one(&paths, r#"{"a\"b":1,"\u0041":2}"#).unwrap();
    assert_eq!(fields(&batch), json!({"a\"b": 1, "A": 2}));
}
