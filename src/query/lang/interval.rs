//! Interval text (`'15 minutes'`, `'1h'`, `'1h30m'`) to nanoseconds, and
//! back for bucket widths.
//!
//! Units are whole numbers of ms, s, m, h, d or w (or their English names,
//! singular or plural). `m` is minutes: months and years have no fixed
//! length, so they are not offered. Fractions (`1.5h`) are refused rather
//! than rounded; write `90m`.

const NANOS_PER_MS: i64 = 1_000_000;

/// Each unit's spellings and length. Order matters for `format_interval`:
/// largest first, so a width prints in its largest whole unit.
const UNITS: [(&[&str], i64); 6] = [
    (&["w", "week", "weeks"], 7 * 86_400_000 * NANOS_PER_MS),
    (&["d", "day", "days"], 86_400_000 * NANOS_PER_MS),
    (
        &["h", "hr", "hrs", "hour", "hours"],
        3_600_000 * NANOS_PER_MS,
    ),
    (
        &["m", "min", "mins", "minute", "minutes"],
        60_000 * NANOS_PER_MS,
    ),
    (
        &["s", "sec", "secs", "second", "seconds"],
        1_000 * NANOS_PER_MS,
    ),
    (
        &["ms", "msec", "msecs", "millisecond", "milliseconds"],
        NANOS_PER_MS,
    ),
];

const UNITS_EXPECTED: &str =
    "expected ms, s, m, h, d or w (or millisecond, second, minute, hour, day, week)";

/// Why interval text was refused: the character offset inside the text
/// where the problem is, and a message.
pub type IntervalError = (usize, String);

/// Parses interval text into nanoseconds (0 or more).
pub fn parse_interval(text: &str) -> Result<i64, IntervalError> {
    let chars: Vec<char> = text.chars().collect();
    let skip_spaces = |mut at: usize| {
        while chars.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        at
    };
    let mut position = skip_spaces(0);
    if position == chars.len() {
        return Err((
            0,
            "empty interval; expected a number and a unit, as in '15 minutes' or '1h'".into(),
        ));
    }
    let mut total_ns: i64 = 0;
    while position < chars.len() {
        let digits_end = position
            + chars[position..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
        if digits_end == position {
            return Err((
                position,
                format!(
                    "expected a whole number in interval '{text}', found {:?}; write it as in '15 minutes' or '1h'",
                    chars[position]
                ),
            ));
        }
        let count_text: String = chars[position..digits_end].iter().collect();
        let unit_start = skip_spaces(digits_end);
        let unit_end = unit_start
            + chars[unit_start..]
                .iter()
                .take_while(|c| c.is_alphabetic())
                .count();
        if unit_end == unit_start {
            return Err((
                unit_start,
                format!("interval '{text}' needs a unit after {count_text}; {UNITS_EXPECTED}"),
            ));
        }
        let unit: String = chars[unit_start..unit_end].iter().collect();
        let unit_ns = unit_nanos(&unit).ok_or_else(|| {
            (
                unit_start,
                format!("unknown interval unit \"{unit}\"; {UNITS_EXPECTED}"),
            )
        })?;
        total_ns = count_text
            .parse::<i64>()
            .ok()
            .and_then(|count| count.checked_mul(unit_ns))
            .and_then(|part_ns| total_ns.checked_add(part_ns))
            .ok_or_else(|| {
                (
                    0,
                    format!("interval '{text}' is too long; at most about 292 years"),
                )
            })?;
        position = skip_spaces(unit_end);
    }
    Ok(total_ns)
}

fn unit_nanos(unit: &str) -> Option<i64> {
    UNITS
        .iter()
        .find(|(names, _)| names.iter().any(|name| name.eq_ignore_ascii_case(unit)))
        .map(|(_, nanos)| *nanos)
}

/// A positive whole number of milliseconds as interval text in its largest
/// whole unit: 60 s prints as `1m`, 90 s as `90s`. `parse_interval` reads
/// it back exactly.
pub fn format_interval(nanos: i64) -> String {
    assert!(
        nanos > 0 && nanos % NANOS_PER_MS == 0,
        "bucket widths are whole ms"
    );
    let (names, unit_ns) = UNITS
        .iter()
        .find(|(_, unit_ns)| nanos % unit_ns == 0)
        .expect("the last unit, ms, divides every width");
    format!("{}{}", nanos / unit_ns, names[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn spellings_and_compounds() {
        assert_eq!(parse_interval("1 hour"), Ok(3600 * SECOND));
        assert_eq!(parse_interval("15 minutes"), Ok(900 * SECOND));
        assert_eq!(parse_interval("1h"), Ok(3600 * SECOND));
        assert_eq!(parse_interval(" 1h30m "), Ok(5400 * SECOND));
        assert_eq!(parse_interval("1 HOUR 30 Mins"), Ok(5400 * SECOND));
        assert_eq!(parse_interval("500ms"), Ok(SECOND / 2));
        assert_eq!(parse_interval("2 weeks"), Ok(14 * 86_400 * SECOND));
        assert_eq!(parse_interval("0s"), Ok(0));
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(
            parse_interval("1 fortnight"),
            Err((
                2,
                format!("unknown interval unit \"fortnight\"; {UNITS_EXPECTED}")
            ))
        );
        assert_eq!(
            parse_interval("15"),
            Err((
                2,
                format!("interval '15' needs a unit after 15; {UNITS_EXPECTED}")
            ))
        );
        assert_eq!(parse_interval("1.5h").unwrap_err().0, 1);
        assert_eq!(parse_interval("  ").unwrap_err().0, 0);
        assert!(parse_interval("99999999999 w")
            .unwrap_err()
            .1
            .contains("too long"));
    }

    #[test]
    fn formats_in_the_largest_whole_unit() {
        assert_eq!(format_interval(60 * SECOND), "1m");
        assert_eq!(format_interval(90 * SECOND), "90s");
        assert_eq!(format_interval(86_400 * SECOND), "1d");
        assert_eq!(format_interval(1_000_000), "1ms");
        for width in [1_000_000, 7 * 86_400 * SECOND, 3_601 * SECOND] {
            assert_eq!(parse_interval(&format_interval(width)), Ok(width));
        }
    }
}
