//! The instant the query windows end at: now, the newest line of the
//! partition, or a stated time.
//!
//! Windows relative to now only work right after a load, because loadgen
//! stamps each line with its send time. A benchmark that loads 2 million
//! lines once and queries them later needs the windows anchored to the
//! data instead, so the same command asks the same questions on any day.

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::json;

use crate::http::Client;
use crate::timberdb;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Where `--time-base` anchors the windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeBase {
    /// The clock at each query (the windows slide as the run goes on).
    Now,
    /// The newest timestamp in the partition, asked once before the run.
    Data,
    /// A fixed instant, in nanoseconds since the Unix epoch.
    At(i64),
}

impl TimeBase {
    /// Parses `now`, `data`, unix seconds (`1700000000`, `1700000000.25`)
    /// or RFC 3339 (`2026-11-23T19:00:00Z`, `...T19:00:00.5+01:00`).
    pub fn parse(text: &str) -> anyhow::Result<TimeBase> {
        let text = text.trim();
        match text {
            "now" => Ok(TimeBase::Now),
            "data" => Ok(TimeBase::Data),
            _ if text.contains('T') || text.contains('t') => parse_rfc3339(text).map(TimeBase::At),
            _ => parse_unix_seconds(text).map(TimeBase::At),
        }
    }

    /// The fixed base in nanoseconds, or `None` for [`TimeBase::Now`];
    /// [`TimeBase::Data`] asks the server for the partition's newest line.
    pub fn resolve(self, client: &mut Client, partition: &str) -> anyhow::Result<Option<i64>> {
        match self {
            TimeBase::Now => Ok(None),
            TimeBase::At(ns) => Ok(Some(ns)),
            TimeBase::Data => newest_timestamp_ns(client, partition).map(Some),
        }
    }
}

/// The timestamp of the partition's newest line: one query, newest first,
/// limit 1. It scans the whole partition (there is no time index to ask),
/// once, before the measured run.
fn newest_timestamp_ns(client: &mut Client, partition: &str) -> anyhow::Result<i64> {
    let body = json!({ "partitions": [partition], "order": "desc", "limit": 1 });
    let answer = timberdb::query(client, &body).context("finding the newest line")?;
    answer["entries"][0]["timestamp_ns"]
        .as_i64()
        .with_context(|| format!("partition {partition:?} has no line to anchor --time-base data"))
}

fn parse_unix_seconds(text: &str) -> anyhow::Result<i64> {
    let seconds: f64 = text.parse().with_context(|| {
        format!("--time-base {text:?}: expected now, data, unix seconds or RFC 3339")
    })?;
    // Nanoseconds since the epoch fit an i64 until the year 2262.
    if !(0.0..9.2e9).contains(&seconds) {
        bail!("--time-base {text:?}: unix seconds out of range");
    }
    Ok((seconds * NANOS_PER_SECOND as f64).round() as i64)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into nanoseconds
/// since the epoch.
pub fn parse_rfc3339(text: &str) -> anyhow::Result<i64> {
    let bad = || format!("--time-base {text:?}: expected RFC 3339 like 2026-11-23T19:00:00Z");
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        bail!(bad());
    }
    if !matches!(bytes[10], b'T' | b't') || bytes[16] != b':' {
        bail!(bad());
    }
    let number = |range: std::ops::Range<usize>| -> anyhow::Result<i64> {
        let part = &text[range];
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            bail!(bad());
        }
        part.parse::<i64>().with_context(bad)
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        bail!(bad());
    }
    if second > 60 {
        bail!(bad());
    }
    let (fraction_ns, zone) = split_fraction(&text[19..]).with_context(bad)?;
    let offset_seconds = parse_zone(zone).with_context(bad)?;
    let days = days_from_civil(year, month as u32, day as u32);
    let seconds = days * SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second - offset_seconds;
    Ok(seconds * NANOS_PER_SECOND + fraction_ns)
}

/// Splits `.123Z` into (123 000 000 ns, `Z`); no fraction is 0 ns.
fn split_fraction(rest: &str) -> Option<(i64, &str)> {
    let Some(digits_and_zone) = rest.strip_prefix('.') else {
        return Some((0, rest));
    };
    let digit_count = digits_and_zone
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digit_count == 0 {
        return None;
    }
    // Digits past the ninth are below a nanosecond: dropped.
    let mut ns: i64 = 0;
    for (i, b) in digits_and_zone.bytes().take(9).enumerate() {
        if i >= digit_count {
            break;
        }
        ns = ns * 10 + i64::from(b - b'0');
    }
    ns *= 10_i64.pow(9 - digit_count.min(9) as u32);
    Some((ns, &digits_and_zone[digit_count..]))
}

/// `Z` is 0; `+01:00` is 3600 seconds east of UTC.
fn parse_zone(zone: &str) -> Option<i64> {
    if zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let bytes = zone.as_bytes();
    if bytes.len() != 6 || bytes[3] != b':' {
        return None;
    }
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i64 = zone[1..3].parse().ok()?;
    let minutes: i64 = zone[4..6].parse().ok()?;
    Some(sign * (hours * 3_600 + minutes * 60))
}

/// Days since 1970-01-01 of a proleptic Gregorian date: Howard Hinnant's
/// `days_from_civil`, the inverse of `protocol::time::civil_from_days`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::time::civil_from_days;

    #[test]
    fn keywords_and_unix_seconds() {
        assert_eq!(TimeBase::parse("now").unwrap(), TimeBase::Now);
        assert_eq!(TimeBase::parse(" data ").unwrap(), TimeBase::Data);
        assert_eq!(
            TimeBase::parse("1700000000").unwrap(),
            TimeBase::At(1_700_000_000_000_000_000)
        );
        assert_eq!(
            TimeBase::parse("1700000000.5").unwrap(),
            TimeBase::At(1_700_000_000_500_000_000)
        );
        assert!(TimeBase::parse("yesterday").is_err());
        assert!(TimeBase::parse("-5").is_err());
    }

    #[test]
    fn rfc3339_with_fractions_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.000000042Z").unwrap(),
            1_700_000_000_000_000_042
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.25+01:00").unwrap(),
            1_700_000_000_250_000_000
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T21:13:20-01:00").unwrap(),
            1_700_000_000_000_000_000
        );
        for bad in [
            "2023-11-14 22:13:20Z",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0100",
            "2023-1x-14T22:13:20Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
