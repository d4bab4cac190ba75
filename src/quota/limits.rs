//! What a quota is: the node's default (`[quotas]`) and a key's own
//! settings over it (`keys.json`, the admin API).
//!
//! Every rate is "0 = unlimited", so a default of all zeros (the built-in
//! one) limits nothing. A key's setting, when present, replaces the
//! default's for that key, `0` included: a key can be exempted from a
//! default limit, or limited tighter or looser than it.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use super::bucket::Rate;

/// Lines a second a quota may name at most (far above one node's ingest).
pub const LINES_PER_SECOND_RANGE: RangeInclusive<u64> = 0..=1_000_000_000_000;
/// Bytes a second a quota may name at most (1 PiB/s: no limit in practice).
pub const BYTES_PER_SECOND_RANGE: RangeInclusive<u64> = 0..=1 << 50;
/// Seconds of the rate a full bucket holds.
pub const BURST_SECONDS_RANGE: RangeInclusive<u64> = 1..=3600;
/// Queries one key may have open at once.
pub const CONCURRENT_QUERIES_RANGE: RangeInclusive<u64> = 0..=1_000_000;
/// The default burst: a shipper that was held back for a few seconds (a
/// network blip, a restart) catches up at once, and one that batches every
/// second or two (Filebeat, Vector, Promtail) is never refused for the
/// jitter of its timer, while a flood is still cut to its rate within
/// seconds.
pub const BURST_SECONDS_DEFAULT: u32 = 5;

/// A quota with every setting resolved. `0`: unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Log lines (entries) a second, charged after a request is parsed.
    pub lines_per_second: u64,
    /// Request body bytes a second (after `Content-Encoding` is undone),
    /// charged before the body is parsed.
    pub bytes_per_second: u64,
    /// Seconds of each rate a full bucket holds (the burst); at least 1.
    pub burst_seconds: u32,
    /// Queries (search, aggregation, Loki and LogsQL queries, open tails)
    /// running at once.
    pub concurrent_queries: u32,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        QuotaLimits {
            lines_per_second: 0,
            bytes_per_second: 0,
            burst_seconds: BURST_SECONDS_DEFAULT,
            concurrent_queries: 0,
        }
    }
}

impl QuotaLimits {
    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        self.lines_per_second > 0 || self.bytes_per_second > 0 || self.concurrent_queries > 0
    }

    pub fn lines_rate(&self) -> Option<Rate> {
        self.rate(self.lines_per_second)
    }

    pub fn bytes_rate(&self) -> Option<Rate> {
        self.rate(self.bytes_per_second)
    }

    fn rate(&self, per_second: u64) -> Option<Rate> {
        (per_second > 0).then_some(Rate {
            per_second,
            burst_seconds: self.burst_seconds.max(1),
        })
    }
}

/// A key's own settings; `None` takes the node's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines_per_second: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_second: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_queries: Option<u32>,
}

impl QuotaOverride {
    /// No setting of its own: the key follows the default entirely.
    pub fn is_empty(&self) -> bool {
        *self == QuotaOverride::default()
    }

    /// The key's quota over `default`.
    pub fn resolve(&self, default: &QuotaLimits) -> QuotaLimits {
        QuotaLimits {
            lines_per_second: self.lines_per_second.unwrap_or(default.lines_per_second),
            bytes_per_second: self.bytes_per_second.unwrap_or(default.bytes_per_second),
            burst_seconds: self.burst_seconds.unwrap_or(default.burst_seconds),
            concurrent_queries: self
                .concurrent_queries
                .unwrap_or(default.concurrent_queries),
        }
    }

    /// Checks every setting against its range; `Err` names the first that is out.
    pub fn validate(&self) -> Result<(), String> {
        let settings = [
            (
                "lines_per_second",
                self.lines_per_second,
                &LINES_PER_SECOND_RANGE,
            ),
            (
                "bytes_per_second",
                self.bytes_per_second,
                &BYTES_PER_SECOND_RANGE,
            ),
            (
                "burst_seconds",
                self.burst_seconds.map(u64::from),
                &BURST_SECONDS_RANGE,
            ),
            (
                "concurrent_queries",
                self.concurrent_queries.map(u64::from),
                &CONCURRENT_QUERIES_RANGE,
            ),
        ];
        for (name, value, range) in settings {
            if let Some(value) = value.filter(|value| !range.contains(value)) {
                return Err(format!(
                    "quota {name} must be between {} and {}, not {value}",
                    range.start(),
                    range.end()
                ));
            }
        }
        Ok(())
    }

    /// This override with JSON merge patch `patch` (RFC 7396) applied: a
    /// number sets a setting, `null` returns it to the default, a missing
    /// field leaves it; a `null` patch clears every setting. Sizes may be
    /// written as the config writes them (`"10MiB"`) for `bytes_per_second`.
    pub fn merged(&self, patch: &serde_json::Value) -> Result<QuotaOverride, String> {
        use serde_json::Value;
        let fields = match patch {
            Value::Null => return Ok(QuotaOverride::default()),
            Value::Object(fields) => fields,
            _ => return Err("`quota` must be an object or null".into()),
        };
        let mut next = *self;
        for (name, value) in fields {
            let number = |value: &Value| parse_setting(name, value);
            match name.as_str() {
                "lines_per_second" => next.lines_per_second = optional(value, number)?,
                "bytes_per_second" => next.bytes_per_second = optional(value, number)?,
                "burst_seconds" => {
                    next.burst_seconds = optional(value, number)?.map(narrow);
                }
                "concurrent_queries" => {
                    next.concurrent_queries = optional(value, number)?.map(narrow);
                }
                _ => return Err(format!(
                    "unknown quota setting {name:?}; the settings are lines_per_second, bytes_per_second, burst_seconds, concurrent_queries"
                )),
            }
        }
        next.validate()?;
        Ok(next)
    }
}

/// `u64` to `u32`, saturating: a value past `u32::MAX` then fails
/// validation by range instead of wrapping into it.
fn narrow(value: u64) -> u32 {
    value.min(u32::MAX as u64) as u32
}

fn optional(
    value: &serde_json::Value,
    parse: impl Fn(&serde_json::Value) -> Result<u64, String>,
) -> Result<Option<u64>, String> {
    match value {
        serde_json::Value::Null => Ok(None),
        value => parse(value).map(Some),
    }
}

fn parse_setting(name: &str, value: &serde_json::Value) -> Result<u64, String> {
    match value {
        serde_json::Value::Number(number) => number.as_u64().ok_or_else(|| {
            format!("quota {name} must be a whole number of at least 0, not {number}")
        }),
        serde_json::Value::String(text) if name == "bytes_per_second" => {
            crate::config::parse_size_bytes(text)
                .map_err(|expected| format!("quota {name}: {expected}"))
        }
        other => Err(format!("quota {name} must be a number, not {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_key_setting_replaces_the_default_zero_included() {
        let default = QuotaLimits {
            lines_per_second: 100,
            bytes_per_second: 1000,
            burst_seconds: 2,
            concurrent_queries: 3,
        };
        let own = QuotaOverride {
            lines_per_second: Some(0),
            concurrent_queries: Some(9),
            ..Default::default()
        };
        let resolved = own.resolve(&default);
        assert_eq!(resolved.lines_per_second, 0, "exempted");
        assert_eq!(resolved.bytes_per_second, 1000, "the default");
        assert_eq!(resolved.concurrent_queries, 9);
        assert!(resolved.lines_rate().is_none());
        assert_eq!(resolved.bytes_rate().expect("limited").capacity(), 2000);
        assert!(!QuotaLimits::default().is_limited());
    }

    #[test]
    fn a_merge_patch_sets_clears_and_keeps() {
        let start = QuotaOverride {
            lines_per_second: Some(5),
            burst_seconds: Some(3),
            ..Default::default()
        };
        let patch =
            json!({"lines_per_second": null, "bytes_per_second": "1KiB", "concurrent_queries": 2});
        let next = start.merged(&patch).expect("valid");
        assert_eq!(next.lines_per_second, None);
        assert_eq!(next.bytes_per_second, Some(1024));
        assert_eq!(next.burst_seconds, Some(3), "kept");
        assert_eq!(next.concurrent_queries, Some(2));
        assert!(start.merged(&json!(null)).expect("clear").is_empty());
    }

    #[test]
    fn bad_settings_are_named() {
        let none = QuotaOverride::default();
        for (patch, named) in [
            (json!({"burst_seconds": 0}), "burst_seconds"),
            (json!({"burst_seconds": 99999999999u64}), "burst_seconds"),
            (json!({"lines_per_second": -1}), "lines_per_second"),
            (json!({"lines_per_second": "5"}), "lines_per_second"),
            (json!({"bytes_per_second": "lots"}), "bytes_per_second"),
            (json!({"rate": 1}), "rate"),
            (json!([1]), "object"),
        ] {
            let error = none.merged(&patch).expect_err("refused");
            assert!(error.contains(named), "{patch}: {error}");
        }
    }

    #[test]
    fn an_empty_override_is_not_written() {
        let text = serde_json::to_string(&QuotaOverride::default()).expect("json");
        assert_eq!(text, "{}");
        let own = QuotaOverride {
            lines_per_second: Some(7),
            ..Default::default()
        };
        let back: QuotaOverride =
            serde_json::from_str(&serde_json::to_string(&own).expect("json")).expect("parse");
        assert_eq!(back, own);
    }
}
