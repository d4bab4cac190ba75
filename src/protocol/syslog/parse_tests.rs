use super::*;

/// 2026-12-03T08:19:11Z.
const NOW_NS: i64 = 1_796_285_951 * NANOS_PER_SECOND;

fn at(text: &str) -> i64 {
    parse_rfc3339(text).expect("test timestamp")
}

#[test]
fn rfc5424_with_structured_data_and_offset() {
    let frame = r#"<165>1 2003-10-11T22:14:15.003-07:00 mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Application"][x y="a\]b"] An application event"#;
    let message = parse(frame, NOW_NS);
    assert_eq!(message.format, Format::Rfc5424);
    assert_eq!((message.facility, message.severity), (Some(20), Some(5)));
    assert_eq!(message.timestamp_ns, Some(at("2003-10-12T05:14:15.003Z")));
    assert_eq!(message.hostname, "mymachine.example.com");
    assert_eq!(message.app_name, "evntslog");
    assert_eq!(message.procid, "8710");
    assert_eq!(message.msgid, "ID47");
    assert_eq!(
        message.structured_data,
        r#"[exampleSDID@32473 iut="3" eventSource="Application"][x y="a\]b"]"#
    );
    assert_eq!(message.message, "An application event");
}

#[test]
fn rfc5424_nil_values_bom_and_no_message() {
    let message = parse("<34>1 - - - - - -", NOW_NS);
    assert_eq!(message.format, Format::Rfc5424);
    assert_eq!(message.timestamp_ns, None);
    assert_eq!(message.hostname, "");
    assert_eq!(message.message, "");
    let message = parse("<34>1 - host app - - - \u{feff}héllo", NOW_NS);
    assert_eq!(message.message, "héllo");
    assert_eq!(message.app_name, "app");
}

#[test]
fn rfc5424_with_broken_header_is_kept_whole() {
    for frame in ["<34>1 2003-10-11T22:14:15Z host", "<34>1 - h a p m [open"] {
        let message = parse(frame, NOW_NS);
        assert_eq!(message.format, Format::NotSyslog, "{frame}");
        assert_eq!(message.message, frame);
    }
}

#[test]
fn rfc3164_as_logger_and_rsyslog_send_it() {
    let message = parse("<13>Dec  3 08:19:11 myhost app[123]: hello world", NOW_NS);
    assert_eq!(message.format, Format::Rfc3164);
    assert_eq!((message.facility, message.severity), (Some(1), Some(5)));
    assert_eq!(message.timestamp_ns, Some(at("2026-12-03T08:19:11Z")));
    assert_eq!(message.hostname, "myhost");
    assert_eq!(message.app_name, "app");
    assert_eq!(message.procid, "123");
    assert_eq!(message.message, "hello world");
    let message = parse("<86>Oct 11 22:14:15 su: 'su root' failed", NOW_NS);
    assert_eq!(message.hostname, "");
    assert_eq!(message.app_name, "su");
    assert_eq!(message.message, "'su root' failed");
}

#[test]
fn rfc3164_without_tag_or_timestamp() {
    let message = parse("<13>Dec  3 08:19:11 myhost just some text", NOW_NS);
    assert_eq!(message.hostname, "myhost");
    assert_eq!(message.app_name, "");
    assert_eq!(message.message, "just some text");
    let message = parse("<13>no timestamp here", NOW_NS);
    assert_eq!(message.format, Format::Rfc3164);
    assert_eq!(message.timestamp_ns, None);
    assert_eq!(message.message, "no timestamp here");
}

#[test]
fn rfc3164_with_rfc3339_timestamp_and_fraction() {
    let message = parse("<13>2026-12-03T09:19:11.5+01:00 h a: m", NOW_NS);
    assert_eq!(message.timestamp_ns, Some(at("2026-12-03T08:19:11.5Z")));
    let message = parse("<13>Dec  3 08:19:11.250 h a: m", NOW_NS);
    assert_eq!(message.timestamp_ns, Some(at("2026-12-03T08:19:11.25Z")));
}

#[test]
fn rfc3164_year_is_the_previous_one_when_more_than_a_day_ahead() {
    let message = parse("<13>Dec  4 08:19:11 h a: tomorrow", NOW_NS);
    assert_eq!(message.timestamp_ns, Some(at("2026-12-04T08:19:11Z")));
    let message = parse("<13>Dec 31 23:00:00 h a: new year's eve", NOW_NS);
    assert_eq!(message.timestamp_ns, Some(at("2025-12-31T23:00:00Z")));
    let january = at("2027-01-01T00:10:00Z");
    let message = parse("<13>Dec 31 23:59:59 h a: late", january);
    assert_eq!(message.timestamp_ns, Some(at("2026-12-31T23:59:59Z")));
}

#[test]
fn invalid_pri_is_not_syslog() {
    for frame in [
        "plain text",
        "<192>x",
        "<>x",
        "<012>x",
        "<1a>x",
        "<1234>x",
        "",
    ] {
        let message = parse(frame, NOW_NS);
        assert_eq!(message.format, Format::NotSyslog, "{frame}");
        assert_eq!(message.message, frame);
        assert_eq!(message.severity, None);
    }
    assert_eq!(parse("<191>x", NOW_NS).facility, Some(23));
    assert_eq!(parse("<0>x", NOW_NS).severity, Some(0));
}
