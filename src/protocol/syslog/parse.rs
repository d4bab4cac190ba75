//! One syslog message, RFC 5424 or RFC 3164, parsed without copying: every
//! part borrows from the frame's text.
//!
//! The parser never fails. A frame with a valid `<PRI>` and a valid RFC
//! 5424 header is read as 5424; one with a valid `<PRI>` otherwise is read
//! as RFC 3164, which (as the RFC itself tells relays to do) accepts
//! anything after the priority, filling in what it recognises. A frame
//! without a valid `<PRI>` is not syslog: it is kept whole as the message.
//!
//! RFC 3164 timestamps have neither a year nor a zone. They are read as UTC
//! in the current year, or the previous year when that would put them more
//! than a day in the future (a December message read in January).

use crate::time::parse_rfc3339;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
/// Largest valid `<PRI>` value: facility 23 (local7), severity 7 (debug).
const PRI_MAX: u16 = 191;

/// Which grammar a frame was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Rfc3164,
    /// No valid `<PRI>` (or an RFC 5424 header broken past repair): the
    /// whole frame is the message.
    NotSyslog,
}

/// A parsed message. Empty strings stand for parts the frame did not carry
/// (RFC 5424's `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub format: Format,
    /// Facility number (0..=23); `None` for `NotSyslog`.
    pub facility: Option<u8>,
    /// Severity number (0 emerg ..= 7 debug); `None` for `NotSyslog`.
    pub severity: Option<u8>,
    /// Nanoseconds since the epoch; `None` when absent or unreadable.
    pub timestamp_ns: Option<i64>,
    pub hostname: &'a str,
    pub app_name: &'a str,
    pub procid: &'a str,
    pub msgid: &'a str,
    /// RFC 5424 STRUCTURED-DATA as sent (`[id k="v"]...`), or "".
    pub structured_data: &'a str,
    pub message: &'a str,
}

impl<'a> Message<'a> {
    fn not_syslog(frame: &'a str) -> Self {
        Message {
            format: Format::NotSyslog,
            facility: None,
            severity: None,
            timestamp_ns: None,
            hostname: "",
            app_name: "",
            procid: "",
            msgid: "",
            structured_data: "",
            message: frame,
        }
    }
}

/// Parses one frame (already without its framing and trailing newline).
/// `now_ns` dates RFC 3164 timestamps, which carry no year.
pub fn parse(frame: &str, now_ns: i64) -> Message<'_> {
    let Some((pri, rest)) = split_pri(frame) else {
        return Message::not_syslog(frame);
    };
    let facility = Some((pri >> 3) as u8);
    let severity = Some((pri & 7) as u8);
    if let Some(rest) = rest.strip_prefix("1 ") {
        return match parse_5424(rest) {
            Some(message) => Message {
                facility,
                severity,
                ..message
            },
            None => Message::not_syslog(frame),
        };
    }
    Message {
        facility,
        severity,
        ..parse_3164(rest, now_ns)
    }
}

/// `<PRI>` with one to three digits, no leading zero (except `<0>`), at
/// most 191.
fn split_pri(frame: &str) -> Option<(u16, &str)> {
    let rest = frame.strip_prefix('<')?;
    let close = rest.bytes().take(4).position(|byte| byte == b'>')?;
    let digits = &rest[..close];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    let pri: u16 = digits.parse().ok()?;
    (pri <= PRI_MAX).then_some((pri, &rest[close + 1..]))
}

/// The text up to the next space, and what follows that space.
fn token(text: &str) -> (&str, &str) {
    match text.find(' ') {
        Some(space) => (&text[..space], &text[space + 1..]),
        None => (text, ""),
    }
}

/// RFC 5424's NILVALUE `-` is an absent part.
fn nil_to_empty(value: &str) -> &str {
    if value == "-" {
        ""
    } else {
        value
    }
}

/// `TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]`,
/// after `<PRI>1 `.
fn parse_5424(rest: &str) -> Option<Message<'_>> {
    let (timestamp, rest) = token(rest);
    let (hostname, rest) = token(rest);
    let (app_name, rest) = token(rest);
    let (procid, rest) = token(rest);
    let (msgid, rest) = token(rest);
    if [timestamp, hostname, app_name, procid, msgid]
        .iter()
        .any(|part| part.is_empty())
    {
        return None;
    }
    let (structured_data, rest) = split_structured_data(rest)?;
    let message = match rest {
        "" => "",
        _ => rest.strip_prefix(' ')?,
    };
    Some(Message {
        format: Format::Rfc5424,
        facility: None,
        severity: None,
        timestamp_ns: parse_rfc3339(nil_to_empty(timestamp)).ok(),
        hostname: nil_to_empty(hostname),
        app_name: nil_to_empty(app_name),
        procid: nil_to_empty(procid),
        msgid: nil_to_empty(msgid),
        structured_data,
        message: message.strip_prefix('\u{feff}').unwrap_or(message),
    })
}

/// STRUCTURED-DATA (`-` or one or more `[...]` elements) and the rest.
/// `None` when an element is not closed.
fn split_structured_data(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('-') {
        return Some(("", rest));
    }
    let bytes = text.as_bytes();
    let mut at = 0;
    while bytes.get(at) == Some(&b'[') {
        at = element_end(bytes, at)?;
    }
    if at == 0 {
        return None;
    }
    Some((&text[..at], &text[at..]))
}

/// Index just past the `]` closing the element that starts at `start`;
/// inside quotes, `\` escapes the next byte and `]` does not close.
fn element_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut in_quotes = false;
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if in_quotes => at += 1,
            b'"' => in_quotes = !in_quotes,
            b']' if !in_quotes => return Some(at + 1),
            _ => {}
        }
        at += 1;
    }
    None
}

/// `TIMESTAMP SP HOSTNAME SP TAG[PID]: MSG`, leniently: a missing timestamp
/// makes the rest the message; a missing hostname or tag is left empty.
fn parse_3164(rest: &str, now_ns: i64) -> Message<'_> {
    let mut message = Message {
        format: Format::Rfc3164,
        ..Message::not_syslog(rest)
    };
    let Some((timestamp_ns, rest)) = split_3164_timestamp(rest, now_ns) else {
        return message;
    };
    message.timestamp_ns = Some(timestamp_ns);
    let (first, after_first) = token(rest);
    let (hostname, rest) = if tag_parts(first).is_some() {
        ("", rest)
    } else {
        (first, after_first)
    };
    message.hostname = hostname;
    let (tag, after_tag) = token(rest);
    match tag_parts(tag) {
        Some((app_name, procid)) => {
            message.app_name = app_name;
            message.procid = procid;
            message.message = after_tag.trim_start_matches(' ');
        }
        None => message.message = rest,
    }
    message
}

/// A TAG token: `app:`, `app[pid]` or `app[pid]:`. Anything else is not a
/// tag (RFC 3164 content may start right after the hostname).
fn tag_parts(token: &str) -> Option<(&str, &str)> {
    let (token, had_colon) = match token.strip_suffix(':') {
        Some(stripped) => (stripped, true),
        None => (token, false),
    };
    if let Some(open) = token.find('[') {
        let procid = token[open + 1..].strip_suffix(']')?;
        return Some((&token[..open], procid));
    }
    (had_colon && !token.is_empty()).then_some((token, ""))
}

/// An RFC 3164 `Mmm dd hh:mm:ss` (optionally with `.fraction`), or an RFC
/// 3339 timestamp as rsyslog and syslog-ng send with their high-precision
/// templates, followed by a space.
fn split_3164_timestamp(text: &str, now_ns: i64) -> Option<(i64, &str)> {
    let (first, _) = token(text);
    if first.as_bytes().get(4) == Some(&b'-') {
        let timestamp_ns = parse_rfc3339(first).ok()?;
        return Some((timestamp_ns, text.get(first.len() + 1..).unwrap_or("")));
    }
    let bytes = text.as_bytes();
    if bytes.len() < 15 {
        return None;
    }
    let month = month_number(&bytes[..3])?;
    let day_text = text.get(4..6)?.trim_start_matches(' ');
    let day: u32 = day_text.parse().ok()?;
    if bytes[3] != b' ' || bytes[6] != b' ' || !(1..=31).contains(&day) {
        return None;
    }
    let clock = clock_seconds(text.get(7..15)?)?;
    let mut end = 15;
    let mut fraction_ns = 0i64;
    if bytes.get(15) == Some(&b'.') {
        let digits = bytes[16..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        fraction_ns = fraction_nanos(&text[16..16 + digits]);
        end = 16 + digits;
    }
    let rest = match text.get(end..)? {
        "" => "",
        rest => rest.strip_prefix(' ')?,
    };
    let seconds = date_in_likely_year(month, day, now_ns)? + clock;
    Some((seconds * NANOS_PER_SECOND + fraction_ns, rest))
}

fn month_number(name: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let position = MONTHS.iter().position(|month| month.as_slice() == name)?;
    Some(position as u32 + 1)
}

/// `hh:mm:ss` as seconds into the day.
fn clock_seconds(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 8 || bytes[2] != b':' || bytes[5] != b':' {
        return None;
    }
    let part = |at: usize| text.get(at..at + 2)?.parse::<i64>().ok();
    let (hour, minute, second) = (part(0)?, part(3)?, part(6)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(hour * 3600 + minute * 60 + second.min(59))
}

fn fraction_nanos(digits: &str) -> i64 {
    let mut nanos = 0i64;
    for (index, digit) in digits.bytes().take(9).enumerate() {
        nanos += i64::from(digit - b'0') * 10i64.pow(8 - index as u32);
    }
    nanos
}

/// Seconds since the epoch of midnight UTC on `month`/`day` of the current
/// year, or of the previous year when that date is more than a day ahead
/// of `now_ns`. `None` for a day the month does not have (Feb 30).
fn date_in_likely_year(month: u32, day: u32, now_ns: i64) -> Option<i64> {
    let now_seconds = now_ns.div_euclid(NANOS_PER_SECOND);
    let year = civil_year(now_seconds.div_euclid(SECONDS_PER_DAY));
    let this_year = midnight(year, month, day);
    match this_year {
        Some(seconds) if seconds <= now_seconds + SECONDS_PER_DAY => Some(seconds),
        _ => midnight(year - 1, month, day),
    }
}

/// Seconds since the epoch of midnight UTC on `year-month-day`; `None` for
/// a day the month does not have.
fn midnight(year: i64, month: u32, day: u32) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days_in_month {
        return None;
    }
    // Hinnant's days_from_civil.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * SECONDS_PER_DAY)
}

/// The proleptic Gregorian year containing day `days` since 1970-01-01
/// (Howard Hinnant's civil_from_days, year part only).
fn civil_year(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
