//! `--since` and `--until`: a duration back from now (`15m`) or an absolute timestamp.
//!
//! Both are resolved to nanoseconds since the epoch in the client and sent as the query's
//! `filter.time_range`, so "now" is the client's clock at the moment the command runs, the
//! way a person reading `--since 1h` means it.

use crate::logql::duration::parse_duration_ns;
use crate::time::parse_timestamp_text;

/// A bound of the time range, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// This many nanoseconds before now.
    Ago { duration_ns: i64 },
    /// This instant, in nanoseconds since the epoch.
    At { timestamp_ns: i64 },
}

impl TimeBound {
    /// The bound in nanoseconds since the epoch, `now_ns` being the current time.
    pub fn resolve(self, now_ns: i64) -> i64 {
        match self {
            TimeBound::Ago { duration_ns } => now_ns.saturating_sub(duration_ns),
            TimeBound::At { timestamp_ns } => timestamp_ns,
        }
    }
}

/// Parses `30s`, `15m`, `1h30m`, `2d` (a duration) or `2026-12-03T10:00:00Z`, `1764756000`
/// (a timestamp; a bare number is a time since the epoch, its unit by its magnitude, as the
/// server reads it). Used as clap's value parser, so a mistake is a usage error.
pub fn parse_bound(text: &str) -> Result<TimeBound, String> {
    let text = text.trim();
    let looks_like_duration = text
        .bytes()
        .last()
        .is_some_and(|byte| byte.is_ascii_alphabetic())
        && !text.contains(['-', ':']);
    if looks_like_duration {
        return parse_duration_ns(text).map(|duration_ns| TimeBound::Ago { duration_ns });
    }
    parse_timestamp_text(text)
        .map(|timestamp_ns| TimeBound::At { timestamp_ns })
        .map_err(|error| {
            format!("{text:?} {error}; expected a duration such as 15m or 2h, or a timestamp such as 2026-12-03T10:00:00Z")
        })
}

/// The current time in nanoseconds since the epoch (the clock is assumed past 1970).
pub fn now_ns() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND_NS: i64 = 1_000_000_000;

    #[test]
    fn durations_count_back_from_now() {
        let now = 10_000 * SECOND_NS;
        assert_eq!(
            parse_bound("15m").unwrap().resolve(now),
            now - 900 * SECOND_NS
        );
        assert_eq!(
            parse_bound("1h30m").unwrap().resolve(now),
            now - 5400 * SECOND_NS
        );
        assert_eq!(
            parse_bound(" 2d ").unwrap(),
            TimeBound::Ago {
                duration_ns: 2 * 86_400 * SECOND_NS
            }
        );
    }

    #[test]
    fn timestamps_are_absolute() {
        let expected = TimeBound::At {
            timestamp_ns: 1_764_756_000 * SECOND_NS,
        };
        assert_eq!(parse_bound("2025-12-03T10:00:00Z").unwrap(), expected);
        assert_eq!(parse_bound("2025-12-03T11:00:00+01:00").unwrap(), expected);
        assert_eq!(parse_bound("1764756000").unwrap(), expected);
        assert_eq!(parse_bound("1764756000000").unwrap(), expected);
        assert_eq!(expected.resolve(0), 1_764_756_000 * SECOND_NS);
    }

    #[test]
    fn nonsense_is_refused_with_the_forms_that_work() {
        let error = parse_bound("yesterday").unwrap_err();
        assert!(error.contains("not a duration"), "{error}");
        let error = parse_bound("2025-13-01T00:00:00Z").unwrap_err();
        assert!(error.contains("expected a duration such as 15m"), "{error}");
        assert!(parse_bound("0s").is_err());
        assert!(parse_bound("").is_err());
    }
}
