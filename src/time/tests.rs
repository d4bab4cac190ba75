//! Tests of `timestamp`: fixed examples, and property tests against the
//! `time` crate as the oracle.

use super::*;
use proptest::prelude::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn oracle_ns(text: &str) -> Option<i128> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|dt| dt.unix_timestamp_nanos())
}

fn formatted(ts_ns: i64) -> String {
    let mut out = String::new();
    format_rfc3339_nanos(ts_ns, &mut out);
    out
}

#[test]
fn rfc3339_examples() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
    assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999999999Z"), Ok(-1));
    assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Ok(0));
    assert_eq!(parse_rfc3339("1969-12-31T19:00:00-05:00"), Ok(0));
    assert_eq!(
        parse_rfc3339("2024-02-29T12:34:56.5Z"),
        Ok(1_709_210_096_500_000_000)
    );
    assert_eq!(
        parse_rfc3339("2024-02-29t12:34:56.5z"),
        Ok(1_709_210_096_500_000_000)
    );
    assert_eq!(
        parse_rfc3339("2024-02-29 12:34:56.5Z"),
        Ok(1_709_210_096_500_000_000)
    );
    // Digits past nanoseconds are truncated, not rounded.
    assert_eq!(
        parse_rfc3339("1970-01-01T00:00:00.1234567899Z"),
        Ok(123_456_789)
    );
    // A leap second is the last nanosecond of the second before it.
    assert_eq!(
        parse_rfc3339("2016-12-31T23:59:60Z"),
        parse_rfc3339("2016-12-31T23:59:59.999999999Z")
    );
}

#[test]
fn rfc3339_rejections_name_the_component() {
    use TimestampError::{Malformed, OutOfRange};
    assert_eq!(
        parse_rfc3339("2023-02-29T00:00:00Z"),
        Err(Malformed("day does not exist in that month"))
    );
    assert_eq!(
        parse_rfc3339("2023-13-01T00:00:00Z"),
        Err(Malformed("month must be 01 to 12"))
    );
    assert_eq!(
        parse_rfc3339("2023-01-01T24:00:00Z"),
        Err(Malformed("time of day out of range"))
    );
    assert!(
        matches!(parse_rfc3339("2023-01-01T00:00:00"), Err(Malformed(reason)) if reason.contains("missing time zone"))
    );
    assert!(matches!(
        parse_rfc3339("2023-01-01T00:00:00+0200"),
        Err(Malformed(_))
    ));
    assert!(matches!(
        parse_rfc3339("2023-01-01T00:00:00.Z"),
        Err(Malformed(_))
    ));
    assert!(matches!(
        parse_rfc3339("2023-1-01T00:00:00Z"),
        Err(Malformed(_))
    ));
    assert!(matches!(
        parse_rfc3339("2023-01-01T00:00:00Zjunk"),
        Err(Malformed(_))
    ));
    assert!(matches!(parse_rfc3339("2023-01-01"), Err(Malformed(_))));
    assert_eq!(parse_rfc3339("2263-01-01T00:00:00Z"), Err(OutOfRange));
    assert_eq!(parse_rfc3339("1600-01-01T00:00:00Z"), Err(OutOfRange));
}

#[test]
fn epoch_numbers_pick_their_unit_by_magnitude() {
    let expected = 1_700_000_000_000_000_000i64;
    for text in [
        "1700000000",
        "1700000000000",
        "1700000000000000",
        "1700000000000000000",
    ] {
        assert_eq!(parse_epoch_number(text), Ok(expected), "{text}");
        assert_eq!(parse_timestamp_text(text), Ok(expected), "{text}");
    }
    assert_eq!(
        parse_epoch_number("1700000000.123456789"),
        Ok(expected + 123_456_789)
    );
    assert_eq!(
        parse_epoch_number("1700000000123.5"),
        Ok(expected + 123_500_000)
    );
    assert_eq!(parse_epoch_number("-1.5"), Ok(-1_500_000_000));
    assert_eq!(parse_epoch_number("1.7e9"), Ok(expected));
    assert_eq!(parse_epoch_number("-9223372036854775808"), Ok(i64::MIN));
    assert_eq!(
        parse_epoch_number("9223372036854775808"),
        Err(TimestampError::OutOfRange)
    );
    assert_eq!(
        parse_epoch_number("99999999999999999999"),
        Err(TimestampError::OutOfRange)
    );
    // 1e10 seconds is the year 2286: a valid number, but out of range.
    assert_eq!(
        parse_epoch_number("10000000000"),
        Err(TimestampError::OutOfRange)
    );
    assert!(matches!(
        parse_epoch_number("12a"),
        Err(TimestampError::NotANumber(_))
    ));
    assert!(matches!(
        parse_epoch_number("1."),
        Err(TimestampError::NotANumber(_))
    ));
    assert!(matches!(
        parse_epoch_number(""),
        Err(TimestampError::NotANumber(_))
    ));
    assert_eq!(epoch_from_i64(1_700_000_000_000), Ok(expected));
    assert_eq!(epoch_from_i64(-1), Ok(-1_000_000_000));
    assert_eq!(epoch_from_i64(i64::MIN), Ok(i64::MIN));
    assert_eq!(epoch_from_f64(1_700_000_000.25), Ok(expected + 250_000_000));
    assert_eq!(
        epoch_from_f64(f64::NAN),
        Err(TimestampError::NotANumber("not finite"))
    );
    assert_eq!(epoch_from_f64(1e30), Err(TimestampError::OutOfRange));
}

#[test]
fn format_examples() {
    assert_eq!(formatted(0), "1970-01-01T00:00:00.000000000Z");
    assert_eq!(formatted(-1), "1969-12-31T23:59:59.999999999Z");
    assert_eq!(
        formatted(1_709_210_096_500_000_000),
        "2024-02-29T12:34:56.500000000Z"
    );
    assert_eq!(formatted(i64::MIN), "1677-09-21T00:12:43.145224192Z");
    assert_eq!(formatted(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    let mut out = String::from("at ");
    format_rfc3339_nanos(0, &mut out);
    assert_eq!(out, "at 1970-01-01T00:00:00.000000000Z");
}

/// Regression (issue 13): the smallest instant was printed as RFC 3339 text
/// but refused when read back, although accepted as a number; the whole
/// last second of the range has the same problem.
#[test]
fn both_ends_of_the_range_round_trip_as_text() {
    for ts_ns in [
        i64::MIN,
        i64::MIN + 1,
        i64::MIN + 854_775_807,
        i64::MAX,
        i64::MAX - 1,
    ] {
        let text = formatted(ts_ns);
        assert_eq!(parse_rfc3339(&text), Ok(ts_ns), "{text}");
        assert_eq!(parse_timestamp_text(&text), Ok(ts_ns), "{text}");
    }
    assert_eq!(
        parse_rfc3339("1677-09-21T00:12:43.145224191Z"),
        Err(TimestampError::OutOfRange)
    );
    assert_eq!(
        parse_rfc3339("2262-04-11T23:47:16.854775808Z"),
        Err(TimestampError::OutOfRange)
    );
    assert_eq!(
        parse_rfc3339("1677-09-21T01:12:43.145224192+01:00"),
        Ok(i64::MIN)
    );
}

/// RFC 3339 text built from components, so the property test covers every
/// fraction width, offset and (invalid) day-of-month combination.
fn rfc3339_text() -> impl Strategy<Value = String> {
    let year = prop_oneof![
        1677u32..=2262,
        0u32..=9999,
        prop::sample::select(vec![1700u32, 1900, 2000, 2024, 2100, 2200])
    ];
    let fraction = prop_oneof![
        Just(String::new()),
        "[0-9]{1,9}".prop_map(|digits| format!(".{digits}"))
    ];
    let offset = prop_oneof![
        Just("Z".to_string()),
        (prop::bool::ANY, 0u32..=23, 0u32..=59).prop_map(|(east, hours, minutes)| {
            format!("{}{hours:02}:{minutes:02}", if east { '+' } else { '-' })
        }),
    ];
    (year, 1u32..=12, 1u32..=31, 0u32..=23, 0u32..=59, 0u32..=59, fraction, offset).prop_map(
        |(year, month, day, hour, minute, second, fraction, offset)| {
            format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{offset}")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn rfc3339_agrees_with_time(text in rfc3339_text()) {
        let ours = parse_rfc3339(&text);
        match oracle_ns(&text) {
            None => prop_assert!(matches!(ours, Err(TimestampError::Malformed(_))), "{text}: {ours:?}"),
            Some(ns) => match i64::try_from(ns) {
                Ok(ns) => prop_assert_eq!(ours, Ok(ns), "{}", text),
                Err(_) => prop_assert_eq!(ours, Err(TimestampError::OutOfRange), "{}", text),
            },
        }
    }

    #[test]
    fn format_round_trips(ts_ns in any::<i64>()) {
        let text = formatted(ts_ns);
        prop_assert_eq!(text.len(), 30);
        prop_assert_eq!(parse_rfc3339(&text), Ok(ts_ns));
        prop_assert_eq!(oracle_ns(&text), Some(i128::from(ts_ns)));
    }

    #[test]
    fn integer_text_agrees_with_integer(value in any::<i64>()) {
        prop_assert_eq!(parse_epoch_number(&value.to_string()), epoch_from_i64(value));
    }

    #[test]
    fn decimal_seconds_are_exact(seconds in -9_000_000_000i64..9_000_000_000, nanos in 0u32..1_000_000_000) {
        let text = format!("{seconds}.{nanos:09}");
        let magnitude = i128::from(seconds.unsigned_abs()) * 1_000_000_000 + i128::from(nanos);
        let expected = if text.starts_with('-') { -magnitude } else { magnitude };
        prop_assert_eq!(parse_epoch_number(&text).map(i128::from), Ok(expected));
    }
}
