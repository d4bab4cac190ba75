//! Prometheus-style durations (`5m`, `1h30m`, `500ms`, `1.5s` is refused
//! as Prometheus refuses it) as nanoseconds, for `[range]` and `step`.

const NS_PER_MS: i64 = 1_000_000;

/// Parses `1h30m`, `5m`, `250ms`, `2d`, `1w`, `1y`; the value must be
/// positive and fit in i64 nanoseconds.
pub fn parse_duration_ns(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration such as 30s, 5m or 1h30m");
    if text.is_empty() {
        return Err(bad());
    }
    let bytes = text.as_bytes();
    let mut total: i64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 12 {
            return Err(bad());
        }
        let number: i64 = text[i..i + digits].parse().map_err(|_| bad())?;
        i += digits;
        let unit_len = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let unit_ns = unit_ns(&text[i..i + unit_len]).ok_or_else(bad)?;
        i += unit_len;
        total = number
            .checked_mul(unit_ns)
            .and_then(|ns| total.checked_add(ns))
            .ok_or_else(|| format!("{text:?} is too long a duration"))?;
    }
    if total <= 0 {
        return Err(format!("{text:?}: a duration must be above zero"));
    }
    Ok(total)
}

fn unit_ns(unit: &str) -> Option<i64> {
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        "y" => 31_536_000_000,
        _ => return None,
    };
    Some(ms * NS_PER_MS)
}

/// A `step` as Loki takes it: a duration (`15s`) or a number of seconds
/// (`15`, `0.5`).
pub fn parse_step_ns(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        if !(seconds.is_finite() && seconds > 0.0 && seconds < 1e9) {
            return Err(format!(
                "step {text:?} must be a positive number of seconds"
            ));
        }
        return Ok((seconds * 1e9).round() as i64);
    }
    parse_duration_ns(text)
}
