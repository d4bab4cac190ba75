//! A parsed syslog message as a TimberDB entry.
//!
//! | syslog                     | entry                                   |
//! |----------------------------|-----------------------------------------|
//! | PRI facility               | tag `facility` (`kern` .. `local7`)     |
//! | PRI severity               | level, and tag `severity` (`err`, ...)  |
//! | TIMESTAMP                  | time (arrival time when absent)         |
//! | HOSTNAME                   | source (the peer's address when absent) |
//! | APP-NAME / TAG             | tag `app`                               |
//! | PROCID / `[pid]`           | tag `procid`                            |
//! | MSGID (5424)               | tag `msgid`                             |
//! | STRUCTURED-DATA (5424)     | fields: `{"sd-id": {"param": "value"}}` |
//! | MSG                        | message                                 |
//!
//! Severities map onto levels as TimberDB reads syslog numbers everywhere
//! (`Level::parse("2")` is fatal): 0-2 (emerg, alert, crit) fatal, 3 (err)
//! error, 4 (warning) warn, 5-6 (notice, info) info, 7 (debug) debug.

use crate::entry::{ColumnBatch, EntryRef, Level};
use crate::ingest::limits::{check_entry, LimitExceeded};
use crate::ingest::push_json_string;

use super::parse::{Format, Message};

const FACILITY_NAMES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

pub fn facility_name(facility: u8) -> &'static str {
    FACILITY_NAMES
        .get(usize::from(facility))
        .copied()
        .unwrap_or("unknown")
}

pub fn severity_name(severity: u8) -> &'static str {
    SEVERITY_NAMES
        .get(usize::from(severity))
        .copied()
        .unwrap_or("unknown")
}

pub fn severity_level(severity: Option<u8>) -> Level {
    match severity {
        Some(0..=2) => Level::Fatal,
        Some(3) => Level::Error,
        Some(4) => Level::Warn,
        Some(7) => Level::Debug,
        _ => Level::Info,
    }
}

/// Appends `message` to `batch`. `fallback_source` names the peer when the
/// message carries no hostname; `now_ns` dates a message without a time;
/// `fields` is scratch space for the structured data's JSON.
///
/// When the parsed entry breaks a per-entry limit (a hostname longer than
/// a source may be), the whole frame is stored as a not-syslog message
/// instead, so nothing that arrived is lost; the error says so.
pub fn push_message(
    batch: &mut ColumnBatch,
    message: &Message<'_>,
    frame: &str,
    fallback_source: &str,
    now_ns: i64,
    fields: &mut String,
) -> Result<(), LimitExceeded> {
    fields.clear();
    structured_data_json(message.structured_data, fields);
    let entry = EntryRef {
        timestamp_ns: message.timestamp_ns.unwrap_or(now_ns),
        level: severity_level(message.severity),
        source: if message.hostname.is_empty() {
            fallback_source
        } else {
            message.hostname
        },
        message: message.message,
        fields_json: fields,
    };
    let mut tags: [(&str, &str); 5] = [("", ""); 5];
    let mut tag_count = 0;
    if let (Some(facility), Some(severity)) = (message.facility, message.severity) {
        tags[0] = ("facility", facility_name(facility));
        tags[1] = ("severity", severity_name(severity));
        tag_count = 2;
    }
    for (key, value) in [
        ("app", message.app_name),
        ("procid", message.procid),
        ("msgid", message.msgid),
    ] {
        if !value.is_empty() {
            tags[tag_count] = (key, value);
            tag_count += 1;
        }
    }
    let tags = &tags[..tag_count];
    match check_entry(&entry, tags) {
        Ok(()) => {
            batch.push(&entry, tags);
            Ok(())
        }
        Err(exceeded) => {
            push_whole_frame(batch, frame, fallback_source, now_ns);
            Err(exceeded)
        }
    }
}

/// Keeps a frame as it came: the whole text as the message, level info.
fn push_whole_frame(batch: &mut ColumnBatch, frame: &str, source: &str, now_ns: i64) {
    let entry = EntryRef {
        timestamp_ns: now_ns,
        level: Level::Info,
        source,
        message: frame,
        fields_json: "",
    };
    batch.push(&entry, &[]);
}

/// Whether a parsed message fell back to keeping the frame whole.
pub fn is_not_syslog(message: &Message<'_>) -> bool {
    message.format == Format::NotSyslog
}

/// RFC 5424 STRUCTURED-DATA as one JSON object, one member per element:
/// `[id a="1" b="2"]` becomes `{"id":{"a":"1","b":"2"}}`. Text that is not
/// well-formed inside its brackets is kept as `{"structured_data":"..."}`.
/// Writes nothing for no structured data.
pub fn structured_data_json(sd: &str, out: &mut String) {
    if sd.is_empty() {
        return;
    }
    let start = out.len();
    if write_elements(sd, out).is_none() {
        out.truncate(start);
        out.push_str("{\"structured_data\":");
        push_json_string(out, sd);
        out.push('}');
    }
}

fn write_elements(sd: &str, out: &mut String) -> Option<()> {
    out.push('{');
    let mut rest = sd;
    let mut first_element = true;
    while let Some(inner) = rest.strip_prefix('[') {
        if !first_element {
            out.push(',');
        }
        first_element = false;
        let id_end = inner.find([' ', ']'])?;
        let id = &inner[..id_end];
        if id.is_empty() {
            return None;
        }
        push_json_string(out, id);
        out.push_str(":{");
        rest = write_params(&inner[id_end..], out)?;
        out.push('}');
    }
    if !rest.is_empty() {
        return None;
    }
    out.push('}');
    Some(())
}

/// Writes ` name="value"` pairs up to the element's `]`; returns the text
/// after it.
fn write_params<'a>(mut rest: &'a str, out: &mut String) -> Option<&'a str> {
    let mut first_param = true;
    loop {
        if let Some(after) = rest.strip_prefix(']') {
            return Some(after);
        }
        rest = rest.strip_prefix(' ')?;
        let equals = rest.find('=')?;
        let name = &rest[..equals];
        if name.is_empty() || name.contains([' ', ']', '"']) {
            return None;
        }
        rest = rest[equals + 1..].strip_prefix('"')?;
        if !first_param {
            out.push(',');
        }
        first_param = false;
        push_json_string(out, name);
        out.push_str(":\"");
        rest = write_param_value(rest, out)?;
        out.push('"');
    }
}

/// Writes a PARAM-VALUE (after its opening quote) as JSON string content,
/// undoing RFC 5424's `\"`, `\\` and `\]` escapes; returns the text after
/// the closing quote.
fn write_param_value<'a>(value: &'a str, out: &mut String) -> Option<&'a str> {
    let mut chars = value.char_indices();
    while let Some((at, ch)) = chars.next() {
        match ch {
            '"' => return Some(&value[at + 1..]),
            '\\' => match chars.clone().next() {
                Some((_, escaped @ ('"' | '\\' | ']'))) => {
                    chars.next();
                    push_json_char(escaped, out);
                }
                _ => push_json_char('\\', out),
            },
            _ => push_json_char(ch, out),
        }
    }
    None
}

/// Appends one character of a JSON string body, escaped as JSON requires.
fn push_json_char(ch: char, out: &mut String) {
    match ch {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::syslog::parse::parse;

    fn sd(text: &str) -> serde_json::Value {
        let mut out = String::new();
        structured_data_json(text, &mut out);
        serde_json::from_str(&out).expect("valid JSON")
    }

    #[test]
    fn structured_data_becomes_nested_objects() {
        assert_eq!(
            sd(r#"[exampleSDID@32473 iut="3" eventSource="App \"x\" \] \\"][meta]"#),
            serde_json::json!({
                "exampleSDID@32473": {"iut": "3", "eventSource": "App \"x\" ] \\"},
                "meta": {}
            })
        );
    }

    #[test]
    fn malformed_structured_data_is_kept_as_text() {
        for text in ["[id a=1]", "[ a=\"1\"]", "[id a=\"1]", "[id a=\"1\"]x"] {
            assert_eq!(sd(text), serde_json::json!({ "structured_data": text }));
        }
    }

    #[test]
    fn message_maps_onto_entry_and_tags() {
        let frame = r#"<165>1 2003-10-11T22:14:15.003Z host app 42 ID7 [a b="c"] hi"#;
        let mut batch = ColumnBatch::default();
        let mut fields = String::new();
        push_message(&mut batch, &parse(frame, 0), frame, "peer", 5, &mut fields)
            .expect("within limits");
        assert_eq!(batch.sources.get(0), "host");
        assert_eq!(batch.messages.get(0), "hi");
        assert_eq!(batch.fields.get(0), r#"{"a":{"b":"c"}}"#);
        assert_eq!(Level::from_byte(batch.levels[0]), Level::Info);
        let tags: Vec<_> = batch.tags(0).collect();
        assert_eq!(
            tags,
            [
                ("facility", "local4"),
                ("severity", "notice"),
                ("app", "app"),
                ("procid", "42"),
                ("msgid", "ID7")
            ]
        );
    }

    #[test]
    fn not_syslog_is_kept_whole_from_the_peer() {
        let mut batch = ColumnBatch::default();
        let mut fields = String::new();
        let message = parse("hello there", 0);
        assert!(is_not_syslog(&message));
        push_message(
            &mut batch,
            &message,
            "hello there",
            "10.0.0.1",
            9,
            &mut fields,
        )
        .expect("within limits");
        assert_eq!(batch.messages.get(0), "hello there");
        assert_eq!(batch.sources.get(0), "10.0.0.1");
        assert_eq!(batch.timestamps_ns[0], 9);
        assert_eq!(batch.tags(0).count(), 0);
    }

    #[test]
    fn over_long_hostname_keeps_the_frame_whole() {
        let frame = format!("<13>1 - {} app - - - text", "h".repeat(2000));
        let mut batch = ColumnBatch::default();
        let mut fields = String::new();
        let error = push_message(&mut batch, &parse(&frame, 0), &frame, "p", 1, &mut fields);
        assert!(error.is_err());
        assert_eq!(batch.messages.get(0), frame);
    }

    #[test]
    fn severities_map_onto_levels() {
        let levels: Vec<Level> = (0..8).map(|s| severity_level(Some(s))).collect();
        use Level::*;
        assert_eq!(
            levels,
            [Fatal, Fatal, Fatal, Error, Warn, Info, Info, Debug]
        );
        assert_eq!(severity_level(None), Info);
    }
}
