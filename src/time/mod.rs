//! time/: "what instant does this text or number name, and how is it written?"
//!
//! Timestamps: RFC 3339 text and numbers since the epoch in, RFC 3339 out. Ingest parses
//! them, queries parse their literals, and responses and aggregations format them, so this
//! lives below all three.
//!
//! Every entry carries a timestamp, so this parser runs once per ingested line
//! and sits on the hot path: it is hand-rolled over bytes with
//! days-from-civil arithmetic (Howard Hinnant's algorithm), never allocates
//! and never goes through a general date library. The `time` crate is the
//! oracle in the property tests.
//!
//! Everything is nanoseconds since the Unix epoch in an `i64`, so the
//! representable range is 1677-09-21T00:12:43.145224192Z to
//! 2262-04-11T23:47:16.854775807Z; anything outside is `OutOfRange`, never
//! wrapped or clamped.
//!
//! Numbers say their unit by their magnitude (see `parse_epoch_number`); this
//! lets clients send `date +%s`, `Date.now()`, or nanosecond clocks without a
//! unit parameter.

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Below this magnitude a number since the epoch is in seconds (1e11 s is
/// the year 5138, while 1e11 ms is only 1973-03-03).
const EPOCH_SECONDS_MAGNITUDE_MAX: u64 = 100_000_000_000;
/// Below this magnitude (and above the seconds one) a number is milliseconds.
const EPOCH_MILLIS_MAGNITUDE_MAX: u64 = 100_000_000_000_000;
/// Below this magnitude (and above the milliseconds one) a number is
/// microseconds; from here on it is nanoseconds.
const EPOCH_MICROS_MAGNITUDE_MAX: u64 = 100_000_000_000_000_000;

/// Why a timestamp was refused. The text is the end of a sentence that the
/// ingest error puts after the offending value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not RFC 3339; the reason names the component at fault.
    #[error("is not an RFC 3339 timestamp ({0})")]
    Malformed(&'static str),
    /// The text is not a decimal number.
    #[error("is not a number since the epoch ({0})")]
    NotANumber(&'static str),
    /// Well-formed, but outside what `i64` nanoseconds can hold.
    #[error("is outside the supported range (1677-09-21 to 2262-04-11 UTC)")]
    OutOfRange,
}

pub type Result<T> = std::result::Result<T, TimestampError>;

/// Parses a timestamp given as text: RFC 3339 when the fifth byte is `-`
/// (`YYYY-`), otherwise a decimal number since the epoch (as a JSON number
/// would be).
pub fn parse_timestamp_text(text: &str) -> Result<i64> {
    if text.as_bytes().get(4) == Some(&b'-') {
        parse_rfc3339(text)
    } else {
        parse_epoch_number(text)
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into nanoseconds since
/// the epoch. `t`, `z` and a space separator are accepted as RFC 3339 allows;
/// fraction digits past the ninth are truncated; a leap second (`:60`) is
/// read as the last nanosecond of the preceding second, as `time` does.
pub fn parse_rfc3339(text: &str) -> Result<i64> {
    use TimestampError::Malformed;
    let b = text.as_bytes();
    if b.len() < 19 {
        return Err(Malformed("too short; expected YYYY-MM-DDTHH:MM:SSZ"));
    }
    let year = digits(b, 0, 4).ok_or(Malformed("year"))?;
    literal(b, 4, b'-')?;
    let month = digits(b, 5, 2).ok_or(Malformed("month"))?;
    literal(b, 7, b'-')?;
    let day = digits(b, 8, 2).ok_or(Malformed("day"))?;
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(Malformed("expected 'T' between date and time"));
    }
    let hour = digits(b, 11, 2).ok_or(Malformed("hour"))?;
    literal(b, 13, b':')?;
    let minute = digits(b, 14, 2).ok_or(Malformed("minute"))?;
    literal(b, 16, b':')?;
    let mut second = digits(b, 17, 2).ok_or(Malformed("second"))?;
    let (mut fraction_ns, rest) = parse_fraction(&b[19..])?;
    let offset_seconds = parse_offset(rest)?;

    if !(1..=12).contains(&month) {
        return Err(Malformed("month must be 01 to 12"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(Malformed("day does not exist in that month"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(Malformed("time of day out of range"));
    }
    if second == 60 {
        second = 59;
        fraction_ns = NANOS_PER_SECOND - 1;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds =
        days * SECONDS_PER_DAY + i64::from(hour * 3600 + minute * 60 + second) - offset_seconds;
    // Whole seconds and the fraction are added in i128 before the range
    // check: the smallest instant (1677-09-21T00:12:43.145224192Z, what
    // `format_rfc3339_nanos(i64::MIN)` prints) has whole seconds whose
    // nanoseconds alone are below i64::MIN, and only the positive fraction
    // brings it back into range.
    let nanos = i128::from(seconds) * i128::from(NANOS_PER_SECOND) + i128::from(fraction_ns);
    i64::try_from(nanos).map_err(|_| TimestampError::OutOfRange)
}

/// Parses a decimal number since the epoch: `[-]digits[.digits]`, or any
/// float syntax with an exponent. The magnitude of the integer part picks
/// the unit: below 1e11 seconds, below 1e14 milliseconds, below 1e17
/// microseconds, else nanoseconds. Plain decimals are converted exactly
/// (fraction digits below a nanosecond are truncated); exponent forms go
/// through `f64`.
pub fn parse_epoch_number(text: &str) -> Result<i64> {
    use TimestampError::NotANumber;
    let b = text.as_bytes();
    let (negative, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let integer_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if integer_len == 0 {
        return Err(NotANumber("expected digits"));
    }
    let rest = &b[integer_len..];
    if rest.iter().any(|c| matches!(c, b'e' | b'E')) {
        let value: f64 = text.parse().map_err(|_| NotANumber("malformed exponent"))?;
        return epoch_from_f64(value);
    }
    let fraction = match rest {
        [] => &[][..],
        [b'.', fraction @ ..] if !fraction.is_empty() => fraction,
        _ => return Err(NotANumber("unexpected character")),
    };
    if !fraction.iter().all(u8::is_ascii_digit) {
        return Err(NotANumber("unexpected character after '.'"));
    }
    if integer_len > 19 {
        return Err(TimestampError::OutOfRange);
    }
    let integer = b[..integer_len]
        .iter()
        .fold(0u64, |acc, digit| acc * 10 + u64::from(digit - b'0'));
    let scale_digits = unit_scale_digits(integer);
    let scale = 10u64.pow(scale_digits);
    let fraction_scaled = fraction_to_scale(fraction, scale_digits);
    let magnitude = u128::from(integer) * u128::from(scale) + u128::from(fraction_scaled);
    signed_nanos(negative, magnitude)
}

/// Converts a float since the epoch with the magnitude rule of
/// `parse_epoch_number`. Non-finite values are refused.
pub fn epoch_from_f64(value: f64) -> Result<i64> {
    if !value.is_finite() {
        return Err(TimestampError::NotANumber("not finite"));
    }
    let magnitude = value.abs();
    // 2^63 is exactly representable; i64::MAX is not, so compare with `<`.
    if magnitude >= 9_223_372_036_854_775_808.0 {
        return Err(TimestampError::OutOfRange);
    }
    // Scale the whole and fractional parts apart: `value * 1e9` in f64 would
    // lose the sub-microsecond digits of a seconds value near 1.7e9.
    let whole = value.trunc();
    let scale = 10i64.pow(unit_scale_digits(magnitude as u64));
    let fraction_ns = ((value - whole) * scale as f64).round() as i64;
    (whole as i64)
        .checked_mul(scale)
        .and_then(|ns| ns.checked_add(fraction_ns))
        .ok_or(TimestampError::OutOfRange)
}

/// Converts an integer since the epoch with the magnitude rule of
/// `parse_epoch_number`.
pub fn epoch_from_i64(value: i64) -> Result<i64> {
    let scale = 10i64.pow(unit_scale_digits(value.unsigned_abs()));
    value.checked_mul(scale).ok_or(TimestampError::OutOfRange)
}

/// How many decimal digits to shift a number of this magnitude to reach
/// nanoseconds.
fn unit_scale_digits(magnitude: u64) -> u32 {
    if magnitude < EPOCH_SECONDS_MAGNITUDE_MAX {
        9
    } else if magnitude < EPOCH_MILLIS_MAGNITUDE_MAX {
        6
    } else if magnitude < EPOCH_MICROS_MAGNITUDE_MAX {
        3
    } else {
        0
    }
}

/// The first `scale_digits` fraction digits as an integer, right-padded with
/// zeros: `("5", 3)` is 500.
fn fraction_to_scale(fraction: &[u8], scale_digits: u32) -> u64 {
    let mut value = 0u64;
    for position in 0..scale_digits as usize {
        let digit = fraction.get(position).map_or(0, |digit| digit - b'0');
        value = value * 10 + u64::from(digit);
    }
    value
}

fn signed_nanos(negative: bool, magnitude: u128) -> Result<i64> {
    if negative {
        // -2^63 is representable although 2^63 is not.
        let limit = u128::from(i64::MAX as u64) + 1;
        if magnitude > limit {
            return Err(TimestampError::OutOfRange);
        }
        Ok((magnitude as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(magnitude).map_err(|_| TimestampError::OutOfRange)
    }
}

/// `count` ASCII digits at `at` as a number; `None` on a non-digit.
fn digits(b: &[u8], at: usize, count: usize) -> Option<u32> {
    let field = b.get(at..at + count)?;
    field.iter().try_fold(0u32, |acc, digit| {
        digit
            .is_ascii_digit()
            .then(|| acc * 10 + u32::from(digit - b'0'))
    })
}

fn literal(b: &[u8], at: usize, expected: u8) -> Result<()> {
    if b.get(at) == Some(&expected) {
        Ok(())
    } else {
        Err(TimestampError::Malformed("expected YYYY-MM-DDTHH:MM:SS"))
    }
}

/// Parses an optional `.digits`, returning nanoseconds and the rest.
fn parse_fraction(b: &[u8]) -> Result<(i64, &[u8])> {
    let Some((b'.', after_dot)) = b.split_first() else {
        return Ok((0, b));
    };
    let digit_count = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
    if digit_count == 0 {
        return Err(TimestampError::Malformed("expected digits after '.'"));
    }
    let nanos = fraction_to_scale(&after_dot[..digit_count], 9);
    Ok((nanos as i64, &after_dot[digit_count..]))
}

/// Parses `Z` or `±HH:MM` that must end the text; returns seconds east of UTC.
fn parse_offset(b: &[u8]) -> Result<i64> {
    use TimestampError::Malformed;
    match b {
        [b'Z' | b'z'] => Ok(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = digits(b, 1, 2).ok_or(Malformed("offset hour"))?;
            let minutes = digits(b, 4, 2).ok_or(Malformed("offset minute"))?;
            if hours > 23 || minutes > 59 {
                return Err(Malformed("offset out of range"));
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            Ok(if *sign == b'-' { -seconds } else { seconds })
        }
        [] => Err(Malformed(
            "missing time zone; end with 'Z' or an offset like +02:00",
        )),
        _ => Err(Malformed("time zone must be 'Z' or an offset like +02:00")),
    }
}

fn is_leap_year(year: u32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
/// `days_from_civil`). `month` is 1..=12, `day` 1..=31.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of `days_from_civil` (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day)
}

/// Appends `ts_ns` as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC, always nine
/// fraction digits, so every timestamp has the same width and sorts as
/// text). Every `i64` has a four-digit year, so the output is 30 bytes.
pub fn format_rfc3339_nanos(ts_ns: i64, out: &mut String) {
    let seconds = ts_ns.div_euclid(NANOS_PER_SECOND);
    let nanos = ts_ns.rem_euclid(NANOS_PER_SECOND) as u64;
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY) as u64;
    debug_assert!(
        (1000..=9999).contains(&year),
        "i64 nanoseconds span 1677..2262"
    );
    let mut text = [0u8; 30];
    put_digits(&mut text[0..4], year as u64);
    text[4] = b'-';
    put_digits(&mut text[5..7], u64::from(month));
    text[7] = b'-';
    put_digits(&mut text[8..10], u64::from(day));
    text[10] = b'T';
    put_digits(&mut text[11..13], second_of_day / 3600);
    text[13] = b':';
    put_digits(&mut text[14..16], second_of_day / 60 % 60);
    text[16] = b':';
    put_digits(&mut text[17..19], second_of_day % 60);
    text[19] = b'.';
    put_digits(&mut text[20..29], nanos);
    text[29] = b'Z';
    out.push_str(std::str::from_utf8(&text).expect("only ASCII digits and separators"));
}

/// Writes `value` as zero-padded decimal filling `field`.
fn put_digits(field: &mut [u8], mut value: u64) {
    for slot in field.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests;
