//! Timestamps as a person reads them on a terminal: `2026-12-03 12:52:56.123` in local time,
//! or `2026-12-03 11:52:56.123Z` in UTC. Millisecond precision keeps the column narrow; the
//! full nanoseconds are in the JSON output.
//!
//! The local offset comes from the C library (`localtime_r`, which reads `TZ` or
//! `/etc/localtime`), asked per timestamp so each entry gets the offset in force at its
//! own time (summer time included).

/// Nanoseconds per second.
const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Columns a rendered time takes: local and UTC have the same width but for the `Z`.
pub fn time_width(utc: bool) -> usize {
    if utc {
        24
    } else {
        23
    }
}

/// `ts_ns` as `YYYY-MM-DD HH:MM:SS.mmm`, in UTC with a trailing `Z` or in local time.
pub fn format_time(ts_ns: i64, utc: bool) -> String {
    if utc {
        format_with_offset(ts_ns, 0, "Z")
    } else {
        let offset_seconds = local_offset_seconds(ts_ns.div_euclid(NANOS_PER_SECOND));
        format_with_offset(ts_ns, offset_seconds, "")
    }
}

/// `ts_ns` shifted by `offset_seconds`, as `YYYY-MM-DD HH:MM:SS.mmm` followed by `suffix`.
pub fn format_with_offset(ts_ns: i64, offset_seconds: i64, suffix: &str) -> String {
    let shifted = ts_ns.saturating_add(offset_seconds.saturating_mul(NANOS_PER_SECOND));
    let mut rfc3339 = String::with_capacity(30);
    crate::time::format_rfc3339_nanos(shifted, &mut rfc3339);
    // `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`: keep the date, the time and three fraction digits.
    format!("{} {}{suffix}", &rfc3339[..10], &rfc3339[11..23])
}

/// The local time zone's offset from UTC, in seconds, at `unix_seconds`; 0 if the C library
/// cannot say.
fn local_offset_seconds(unix_seconds: i64) -> i64 {
    // `time_t` is 64 bits on every target TimberDB runs on (64-bit Linux).
    let time: libc::time_t = unix_seconds;
    // SAFETY: `tm` is plain old data that `localtime_r` fills in; both pointers are to
    // locals that outlive the call, and `localtime_r` keeps neither.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE_NS: i64 = 1_764_756_000_123_456_789; // 2025-12-03T10:00:00.123456789Z

    #[test]
    fn utc_has_milliseconds_and_a_z() {
        let text = format_time(SAMPLE_NS, true);
        assert_eq!(text, "2025-12-03 10:00:00.123Z");
        assert_eq!(text.len(), time_width(true));
    }

    #[test]
    fn an_offset_moves_the_wall_clock() {
        assert_eq!(
            format_with_offset(SAMPLE_NS, 5 * 3600 + 1800, ""),
            "2025-12-03 15:30:00.123"
        );
        assert_eq!(
            format_with_offset(SAMPLE_NS, -11 * 3600, ""),
            "2025-12-02 23:00:00.123"
        );
        assert_eq!(format_time(SAMPLE_NS, false).len(), time_width(false));
    }
}
