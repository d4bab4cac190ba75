//! RFC 3339 timestamps with nanoseconds, written without a date library:
//! the stores compared against (Elasticsearch, VictoriaLogs) want text
//! timestamps, and this runs once per encoded line.
//!
//! Calendar conversion is Howard Hinnant's `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>): exact for the
//! proleptic Gregorian calendar over any `i64` day count we can produce.

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Year, month (1..=12) and day (1..=31) of day `days` since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01, so leap days end each 4/100/400-year
    // cycle ("era" = 400 years = 146 097 days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends `"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"` (quotes included) for
/// `timestamp_ns` nanoseconds since the Unix epoch. Every `i64` lands in
/// the years 1677..=2262, so the year always has four digits.
pub fn write_rfc3339_nanos(out: &mut Vec<u8>, timestamp_ns: i64) {
    let seconds = timestamp_ns.div_euclid(NANOS_PER_SECOND);
    let nanos = timestamp_ns.rem_euclid(NANOS_PER_SECOND) as u64;
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY) as u64;
    debug_assert!((1000..=9999).contains(&year));
    let mut text = *b"\"0000-00-00T00:00:00.000000000Z\"";
    put_digits(&mut text[1..5], year as u64);
    put_digits(&mut text[6..8], u64::from(month));
    put_digits(&mut text[9..11], u64::from(day));
    put_digits(&mut text[12..14], second_of_day / 3_600);
    put_digits(&mut text[15..17], second_of_day / 60 % 60);
    put_digits(&mut text[18..20], second_of_day % 60);
    put_digits(&mut text[21..30], nanos);
    out.extend_from_slice(&text);
}

/// Writes the low `slot.len()` decimal digits of `value`, zero-padded.
fn put_digits(slot: &mut [u8], value: u64) {
    let mut rest = value;
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc3339(timestamp_ns: i64) -> String {
        let mut out = Vec::new();
        write_rfc3339_nanos(&mut out, timestamp_ns);
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn rfc3339_known_values() {
        let cases = [
            (0, "1970-01-01T00:00:00.000000000Z"),
            (1_710_498_600_123_456_789, "2024-03-15T10:30:00.123456789Z"),
            (951_782_400_000_000_000, "2000-02-29T00:00:00.000000000Z"),
            (4_107_542_400_000_000_000, "2100-03-01T00:00:00.000000000Z"),
            (4_107_542_399_999_999_999, "2100-02-28T23:59:59.999999999Z"),
            (-1, "1969-12-31T23:59:59.999999999Z"),
            (i64::MAX, "2262-04-11T23:47:16.854775807Z"),
            (i64::MIN, "1677-09-21T00:12:43.145224192Z"),
        ];
        for (timestamp_ns, expected) in cases {
            assert_eq!(
                rfc3339(timestamp_ns),
                format!("\"{expected}\""),
                "{timestamp_ns}"
            );
        }
    }

    /// Walks day by day from 1600 to 2400 with a naive calendar and checks
    /// every date.
    #[test]
    fn civil_from_days_matches_a_naive_calendar() {
        fn leap(year: i64) -> bool {
            year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        }
        fn month_days(year: i64, month: u32) -> u32 {
            match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            }
        }
        let start_days = -135_140; // 1600-01-01
        assert_eq!(civil_from_days(start_days), (1600, 1, 1));
        let (mut year, mut month, mut day) = (1600, 1, 1);
        for days in start_days..start_days + 800 * 366 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            day += 1;
            if day > month_days(year, month) {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }
}
