//! From the engine's time buckets to Loki's samples.
//!
//! A metric query runs as one aggregating engine query: counts grouped by
//! `bucket(timestamp, g)` and the series' labels, where `g` is the greatest
//! common divisor of the range and the step (whole milliseconds), so every
//! window `[t - range, t)` is a whole number of buckets when `t` is on the
//! bucket grid. The points of a series are then sums of consecutive
//! buckets. Two approximations, both documented: an evaluation time that is
//! not on the grid is rounded down to it (by less than `g`), and a window
//! includes its start and excludes its end where Loki's `(t - range, t]`
//! does the opposite, which differs only for entries exactly on a boundary.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use super::ast::RangeFunction;
use crate::time::parse_rfc3339;

/// Points one series may have, Loki's own limit (`max_query_points`).
pub const POINTS_PER_SERIES_MAX: i64 = 11_000;
/// Buckets one query may ask the engine for: bounds the engine's groups
/// (each a few dozen bytes) together with the series count.
pub const BUCKETS_MAX: i64 = 50_000;

const NS_PER_MS: i64 = 1_000_000;
const NS_PER_SECOND: i64 = 1_000_000_000;

/// A series' labels, sorted by name (Loki's order in `metric`).
pub type Labels = Vec<(String, String)>;

/// Where and how often a metric query is evaluated.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start_ns: i64,
    pub end_ns: i64,
    pub step_ns: i64,
    pub range_ns: i64,
}

impl Window {
    /// The bucket width: the largest whole-millisecond width that divides
    /// both the range and the step.
    pub fn bucket_ns(&self) -> i64 {
        let range_ms = (self.range_ns / NS_PER_MS).max(1);
        let step_ms = (self.step_ns / NS_PER_MS).max(1);
        gcd(range_ms, step_ms) * NS_PER_MS
    }

    /// Evaluation times: `start, start + step, ... <= end`.
    pub fn point_count(&self) -> i64 {
        (self.end_ns.saturating_sub(self.start_ns)) / self.step_ns + 1
    }

    /// Checks the query stays within the point and bucket limits, with
    /// Loki's advice when it does not.
    pub fn check(&self) -> Result<(), String> {
        if self.end_ns < self.start_ns {
            return Err("the end timestamp must not be before the start time".into());
        }
        if self.point_count() > POINTS_PER_SERIES_MAX {
            return Err(format!(
                "exceeded maximum resolution of {POINTS_PER_SERIES_MAX} points per timeseries. Try increasing the value of the step parameter"
            ));
        }
        let span_ns = self.end_ns - self.start_ns + self.range_ns;
        if span_ns / self.bucket_ns() > BUCKETS_MAX {
            return Err(format!(
                "the range and step need more than {BUCKETS_MAX} time buckets; make the step a multiple of the range (or the range a multiple of the step), or shorten the query"
            ));
        }
        Ok(())
    }

    /// The time span the engine must read: every window's entries.
    pub fn read_span(&self) -> (i64, i64) {
        let grid = self.bucket_ns();
        let first = align_down(self.start_ns, grid) - self.range_ns;
        let last = align_down(self.end_ns, grid);
        (first, last)
    }
}

/// Counts per bucket start of each series, from the engine's rows: column
/// 0 the bucket (RFC 3339), then one column per label, then the count.
pub fn collect_series(
    rows: &[Vec<Json>],
    label_names: &[String],
) -> BTreeMap<Labels, BTreeMap<i64, u64>> {
    let mut series: BTreeMap<Labels, BTreeMap<i64, u64>> = BTreeMap::new();
    for row in rows {
        let Some(bucket_ns) = row
            .first()
            .and_then(Json::as_str)
            .and_then(|t| parse_rfc3339(t).ok())
        else {
            continue;
        };
        let count = row.last().and_then(Json::as_u64).unwrap_or(0);
        let labels = row_labels(&row[1..row.len().saturating_sub(1)], label_names);
        *series
            .entry(labels)
            .or_default()
            .entry(bucket_ns)
            .or_default() += count;
    }
    series
}

/// Labels of one row's key columns; a missing value (null, or an empty
/// source) is no label, as in Loki.
pub fn row_labels(values: &[Json], label_names: &[String]) -> Labels {
    let mut labels: Labels = label_names
        .iter()
        .zip(values)
        .filter_map(|(name, value)| match value {
            Json::String(text) if !text.is_empty() => Some((name.clone(), text.clone())),
            Json::Number(number) => Some((name.clone(), number.to_string())),
            _ => None,
        })
        .collect();
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    labels
}

/// The samples of one series: one per evaluation time whose window holds
/// at least one entry (Loki leaves empty windows out).
pub fn points(
    buckets: &BTreeMap<i64, u64>,
    window: &Window,
    function: RangeFunction,
) -> Vec<(i64, f64)> {
    let grid = window.bucket_ns();
    let mut out = Vec::new();
    let mut t = window.start_ns;
    while t <= window.end_ns {
        let aligned = align_down(t, grid);
        let count: u64 = buckets
            .range(aligned - window.range_ns..aligned)
            .map(|(_, count)| count)
            .sum();
        if count > 0 {
            out.push((t, value_of(count, window.range_ns, function)));
        }
        t = match t.checked_add(window.step_ns) {
            Some(next) => next,
            None => break,
        };
    }
    out
}

fn value_of(count: u64, range_ns: i64, function: RangeFunction) -> f64 {
    match function {
        RangeFunction::CountOverTime => count as f64,
        RangeFunction::Rate => count as f64 / (range_ns as f64 / NS_PER_SECOND as f64),
    }
}

/// A sample `[seconds, "value"]` as Loki writes it: the time in seconds
/// (a fraction only when needed), the value as text.
pub fn sample_json(t_ns: i64, value: f64) -> Json {
    json!([seconds_json(t_ns), format_value(value)])
}

pub fn seconds_json(t_ns: i64) -> Json {
    if t_ns % NS_PER_SECOND == 0 {
        json!(t_ns / NS_PER_SECOND)
    } else {
        json!(t_ns as f64 / NS_PER_SECOND as f64)
    }
}

/// Prometheus' text for a float: shortest round-trip digits, `+Inf`,
/// `-Inf`, `NaN`.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value}")
    }
}

/// Labels as Loki's `metric` / `stream` object.
pub fn labels_json(labels: &Labels) -> Json {
    Json::Object(
        labels
            .iter()
            .map(|(name, value)| (name.clone(), Json::String(value.clone())))
            .collect(),
    )
}

fn align_down(t_ns: i64, grid_ns: i64) -> i64 {
    t_ns - t_ns.rem_euclid(grid_ns)
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}
