use bytes::Bytes;

use super::proto::{
    encode_snappy, EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};
use super::*;
use crate::config::protocols::LokiConfig;

const NOW_NS: i64 = 42;
const LIMIT: (usize, &str) = (1 << 20, "max_request_size");

fn mapping() -> FieldMapping {
    LokiConfig::default().mapping
}

fn entry(seconds: i64, nanos: i32, line: &str, metadata: &[(&str, &str)]) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(Timestamp { seconds, nanos }),
        line: Bytes::copy_from_slice(line.as_bytes()),
        structured_metadata: metadata
            .iter()
            .map(|(name, value)| LabelPairAdapter {
                name: Bytes::copy_from_slice(name.as_bytes()),
                value: Bytes::copy_from_slice(value.as_bytes()),
            })
            .collect(),
    }
}

fn stream(labels: &str, entries: Vec<EntryAdapter>) -> StreamAdapter {
    StreamAdapter {
        labels: Bytes::copy_from_slice(labels.as_bytes()),
        entries,
        hash: 0,
    }
}

fn decode_proto(request: &PushRequest) -> (Result<usize>, ColumnBatch) {
    let body = encode_snappy(request);
    let mut batch = ColumnBatch::default();
    let result = decode_protobuf(
        &body,
        Some("application/x-protobuf"),
        LIMIT,
        &mapping(),
        NOW_NS,
        &mut batch,
    );
    (result, batch)
}

fn tags_of(batch: &ColumnBatch, index: usize) -> Vec<(String, String)> {
    let start = if index == 0 {
        0
    } else {
        batch.tag_ends[index - 1] as usize
    };
    (start..batch.tag_ends[index] as usize)
        .map(|t| {
            (
                batch.tag_keys.get(t).to_string(),
                batch.tag_values.get(t).to_string(),
            )
        })
        .collect()
}

#[test]
fn protobuf_push_maps_labels_metadata_time_source_and_level() {
    let request = PushRequest {
        streams: vec![
            stream(
                r#"{service_name="checkout", level="warn", env="prod"}"#,
                vec![
                    entry(1_700_000_000, 5, "first line", &[("trace_id", "abc")]),
                    entry(1_700_000_001, 0, "second line", &[]),
                ],
            ),
            stream(
                r#"{job="varlogs"}"#,
                vec![entry(1, 0, "third", &[("detected_level", "ERROR")])],
            ),
        ],
    };
    let (result, batch) = decode_proto(&request);
    assert_eq!(result, Ok(3));
    assert_eq!(
        batch.timestamps_ns,
        vec![
            1_700_000_000_000_000_005,
            1_700_000_001_000_000_000,
            1_000_000_000
        ]
    );
    assert_eq!(batch.messages.get(0), "first line");
    assert_eq!(batch.sources.get(0), "checkout");
    assert_eq!(Level::from_byte(batch.levels[0]), Level::Warn);
    assert_eq!(
        tags_of(&batch, 0),
        vec![
            ("service_name".into(), "checkout".into()),
            ("level".into(), "warn".into()),
            ("env".into(), "prod".into()),
            ("trace_id".into(), "abc".into()),
        ]
    );
    assert_eq!(tags_of(&batch, 1).len(), 3);
    assert_eq!(batch.sources.get(2), "varlogs");
    assert_eq!(Level::from_byte(batch.levels[2]), Level::Error);
}

#[test]
fn source_falls_back_through_loki_service_labels_and_then_metadata() {
    let request = PushRequest {
        streams: vec![
            stream(r#"{job="j", app="a"}"#, vec![entry(1, 0, "x", &[])]),
            stream(
                r#"{env="e"}"#,
                vec![entry(1, 0, "y", &[("service_name", "m")])],
            ),
            stream(r#"{env="e"}"#, vec![entry(1, 0, "z", &[])]),
        ],
    };
    let (result, batch) = decode_proto(&request);
    assert_eq!(result, Ok(3));
    assert_eq!(
        batch.sources.get(0),
        "a",
        "app comes before job, as in Loki"
    );
    assert_eq!(batch.sources.get(1), "m");
    assert_eq!(batch.sources.get(2), "");
    assert_eq!(Level::from_byte(batch.levels[2]), Level::Unset);
}

#[test]
fn a_missing_protobuf_timestamp_is_now_and_a_bad_one_is_refused() {
    let mut missing = entry(0, 0, "x", &[]);
    missing.timestamp = None;
    let (result, batch) = decode_proto(&PushRequest {
        streams: vec![stream("{a=\"b\"}", vec![missing])],
    });
    assert_eq!(result, Ok(1));
    assert_eq!(batch.timestamps_ns, vec![NOW_NS]);
    let (result, _) = decode_proto(&PushRequest {
        streams: vec![stream("{a=\"b\"}", vec![entry(i64::MAX / 10, 0, "x", &[])])],
    });
    assert_eq!(
        result.unwrap_err().to_string(),
        "stream 0, entry 0: the timestamp is outside the years 1678 to 2262"
    );
}

#[test]
fn a_bad_stream_rejects_the_whole_request_and_leaves_the_batch_as_it_was() {
    let mut batch = ColumnBatch::default();
    batch.push(
        &EntryRef {
            timestamp_ns: 1,
            level: Level::Info,
            source: "s",
            message: "kept",
            fields_json: "",
        },
        &[],
    );
    let request = PushRequest {
        streams: vec![
            stream("{a=\"b\"}", vec![entry(1, 0, "x", &[])]),
            stream("{a=b}", vec![entry(1, 0, "y", &[])]),
        ],
    };
    let body = encode_snappy(&request);
    let error = decode_protobuf(&body, None, LIMIT, &mapping(), NOW_NS, &mut batch).unwrap_err();
    assert_eq!(error.code(), "invalid_labels");
    assert!(
        error
            .to_string()
            .starts_with("stream 1: error parsing labels \"{a=b}\""),
        "{error}"
    );
    assert_eq!(batch.len(), 1);
    let (result, _) = decode_proto(&PushRequest {
        streams: vec![stream("{}", vec![entry(1, 0, "x", &[])])],
    });
    assert_eq!(result.unwrap_err(), LokiError::NoLabels { stream_index: 0 });
}

#[test]
fn corrupt_truncated_and_oversized_protobuf_bodies_are_refused_precisely() {
    let request = PushRequest {
        streams: vec![stream("{a=\"b\"}", vec![entry(1, 0, "hello world", &[])])],
    };
    let body = encode_snappy(&request);
    let mut batch = ColumnBatch::default();
    let decode = |body: &[u8], batch: &mut ColumnBatch| {
        decode_protobuf(
            body,
            Some("application/x-protobuf"),
            LIMIT,
            &mapping(),
            0,
            batch,
        )
    };
    let error = decode(&body[..body.len() - 3], &mut batch).unwrap_err();
    assert_eq!(error.code(), "invalid_snappy");
    let error = decode(b"{\"streams\":[]}", &mut batch).unwrap_err();
    assert!(
        error.to_string().contains("send application/json for JSON"),
        "{error}"
    );
    // Valid snappy around bytes that are not a PushRequest.
    let not_proto = snap::raw::Encoder::new()
        .compress_vec(&[0x0a, 0xff])
        .unwrap();
    assert_eq!(
        decode(&not_proto, &mut batch).unwrap_err().code(),
        "invalid_protobuf"
    );
    let big = snap::raw::Encoder::new()
        .compress_vec(&vec![0u8; 2000])
        .unwrap();
    let error = decode_protobuf(
        &big,
        None,
        (1000, "max_request_size"),
        &mapping(),
        0,
        &mut batch,
    )
    .unwrap_err();
    assert_eq!(error.code(), "payload_too_large");
    // Invalid UTF-8 in a line.
    let mut bad = entry(1, 0, "x", &[]);
    bad.line = Bytes::from_static(&[0xff, 0xfe]);
    let (result, _) = decode_proto(&PushRequest {
        streams: vec![stream("{a=\"b\"}", vec![bad])],
    });
    assert_eq!(
        result.unwrap_err().to_string(),
        "stream 0, entry 0: the line is not valid UTF-8"
    );
    assert_eq!(batch.len(), 0);
}

#[test]
fn json_push_maps_like_protobuf_and_borrows() {
    let body = br#"{"streams":[{"stream":{"service_name":"api","detected_level":"info"},
        "values":[["1700000000000000001","GET /x 200",{"trace_id":"t1"}],["1700000000000000002","say \"hi\""]]},
        {"values":[["3","before labels"]],"stream":{"app":"late"}}]}"#;
    let mut batch = ColumnBatch::default();
    let accepted = decode_json(body, &mapping(), NOW_NS, &mut batch).unwrap();
    assert_eq!(accepted, 3);
    assert_eq!(batch.messages.get(1), "say \"hi\"");
    assert_eq!(batch.sources.get(0), "api");
    assert_eq!(Level::from_byte(batch.levels[0]), Level::Info);
    assert_eq!(tags_of(&batch, 0)[2], ("trace_id".into(), "t1".into()));
    assert_eq!(
        batch.timestamps_ns,
        vec![1_700_000_000_000_000_001, 1_700_000_000_000_000_002, 3]
    );
    assert_eq!(batch.sources.get(2), "late");
    let parsed = json::parse(body).unwrap();
    assert!(matches!(
        parsed.streams[0].values[0].line,
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn bad_json_pushes_say_what_is_wrong() {
    let cases: [(&[u8], &str); 7] = [
        (b"not json", "not a Loki JSON push"),
        (
            br#"{"streams":[{"stream":{"a":"b"},"values":[["abc","x"]]}]}"#,
            "timestamp \"abc\" is not Unix nanoseconds",
        ),
        (
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#,
            "a value has no line",
        ),
        (
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{},4]]}]}"#,
            "more than 3 elements",
        ),
        (
            br#"{"streams":[{"stream":{"a":1},"values":[]}]}"#,
            "a string",
        ),
        (
            br#"{"streams":[{"values":[["1","x"]]}]}"#,
            "at least one label pair",
        ),
        (
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":2}]]}]}"#,
            "a string",
        ),
    ];
    for (body, expected) in cases {
        let mut batch = ColumnBatch::default();
        let error = decode_json(body, &mapping(), 0, &mut batch).unwrap_err();
        assert!(
            error.to_string().contains(expected),
            "{}: {error}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(batch.len(), 0);
    }
    let mut batch = ColumnBatch::default();
    assert_eq!(
        decode_json(br#"{"streams":[]}"#, &mapping(), 0, &mut batch),
        Ok(0)
    );
}

#[test]
fn entry_limits_are_the_shared_ones() {
    let long = "x".repeat(crate::ingest::TAG_VALUE_BYTES_MAX + 1);
    let body = format!(
        r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[["1","ok"],["2","x",{{"k":"{long}"}}]]}}]}}"#
    );
    let mut batch = ColumnBatch::default();
    let error = decode_json(body.as_bytes(), &mapping(), 0, &mut batch).unwrap_err();
    assert_eq!(
        error.to_string(),
        "stream 0, entry 1: tag \"k\" has 16385 bytes, over the limit of 16384"
    );
    assert_eq!(batch.len(), 0);
}

#[test]
fn content_type_picks_the_body_as_loki_does() {
    assert_eq!(body_format(Some("application/json")), BodyFormat::Json);
    assert_eq!(
        body_format(Some("Application/JSON; charset=utf-8")),
        BodyFormat::Json
    );
    assert_eq!(
        body_format(Some("application/x-protobuf")),
        BodyFormat::Protobuf
    );
    assert_eq!(body_format(None), BodyFormat::Protobuf);
}
