//! What a run measured: counters, latency histograms, status codes and
//! errors, shared by the connection threads and read by the progress line
//! and the final summary.
//!
//! Each connection records into its own histogram (behind a mutex nobody
//! else takes except the once-a-second progress line), so recording never
//! contends. Latencies are kept in microseconds, 3 significant digits, up
//! to an hour.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency histogram in microseconds.
pub type Latencies = Histogram<u64>;

const LATENCY_US_MAX: u64 = 3_600_000_000;

pub fn new_histogram() -> Latencies {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

fn record_latency(histogram: &mut Latencies, latency: Duration) {
    let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(us.clamp(1, LATENCY_US_MAX));
}

/// Plain counters, updated with relaxed atomics.
#[derive(Default)]
pub struct Counters {
    pub requests_ok: AtomicU64,
    pub requests_failed: AtomicU64,
    pub lines_ok: AtomicU64,
    pub bytes_ok: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            requests_ok: self.requests_ok.load(Ordering::Relaxed),
            requests_failed: self.requests_failed.load(Ordering::Relaxed),
            lines_ok: self.lines_ok.load(Ordering::Relaxed),
            bytes_ok: self.bytes_ok.load(Ordering::Relaxed),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CounterSnapshot {
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub lines_ok: u64,
    pub bytes_ok: u64,
}

/// How one request ended.
pub enum Outcome<'a> {
    /// A 2xx answer: `lines` lines in `bytes` body bytes were acknowledged.
    Success { status: u16, lines: u64, bytes: u64 },
    /// Any other status.
    Status { status: u16, message: &'a str },
    /// No complete answer; `kind` is a short stable name.
    Failed {
        kind: &'static str,
        message: &'a str,
    },
}

/// Everything the connections record. `measured` counts only batches due
/// after the warm-up; `total` counts all of them.
pub struct Recorder {
    pub measured: Counters,
    pub total: Counters,
    histograms: Vec<Mutex<Latencies>>,
    statuses: Mutex<BTreeMap<u16, u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
    error_samples: Mutex<Vec<String>>,
}

/// Distinct error messages kept for the report.
const ERROR_SAMPLES_MAX: usize = 5;

impl Recorder {
    pub fn new(connections: usize) -> Recorder {
        Recorder {
            measured: Counters::default(),
            total: Counters::default(),
            histograms: (0..connections)
                .map(|_| Mutex::new(new_histogram()))
                .collect(),
            statuses: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            error_samples: Mutex::new(Vec::new()),
        }
    }

    /// Records one request of connection `connection`. Warm-up requests
    /// update only the totals.
    pub fn record(
        &self,
        connection: usize,
        measured: bool,
        latency: Duration,
        outcome: Outcome<'_>,
    ) {
        let sets: &[&Counters] = if measured {
            &[&self.total, &self.measured]
        } else {
            &[&self.total]
        };
        if measured {
            let mut histogram = self.histograms[connection].lock().expect("histogram lock");
            record_latency(&mut histogram, latency);
        }
        match outcome {
            Outcome::Success {
                status,
                lines,
                bytes,
            } => {
                for counters in sets {
                    counters.requests_ok.fetch_add(1, Ordering::Relaxed);
                    counters.lines_ok.fetch_add(lines, Ordering::Relaxed);
                    counters.bytes_ok.fetch_add(bytes, Ordering::Relaxed);
                }
                if measured {
                    self.count_status(status);
                }
            }
            Outcome::Status { status, message } => {
                for counters in sets {
                    counters.requests_failed.fetch_add(1, Ordering::Relaxed);
                }
                self.count_status(status);
                self.count_error(
                    &format!("http_{status}"),
                    &format!("HTTP {status}: {message}"),
                );
            }
            Outcome::Failed { kind, message } => {
                for counters in sets {
                    counters.requests_failed.fetch_add(1, Ordering::Relaxed);
                }
                self.count_error(kind, message);
            }
        }
    }

    fn count_status(&self, status: u16) {
        *self
            .statuses
            .lock()
            .expect("status lock")
            .entry(status)
            .or_default() += 1;
    }

    fn count_error(&self, kind: &str, message: &str) {
        *self
            .errors
            .lock()
            .expect("error lock")
            .entry(kind.to_string())
            .or_default() += 1;
        let mut samples = self.error_samples.lock().expect("sample lock");
        if samples.len() < ERROR_SAMPLES_MAX && !samples.iter().any(|s| s == message) {
            samples.push(message.to_string());
        }
    }

    /// All connections' measured latencies merged.
    pub fn merged_latencies(&self) -> Latencies {
        let mut merged = new_histogram();
        for histogram in &self.histograms {
            let histogram = histogram.lock().expect("histogram lock");
            merged.add(&*histogram).expect("same bounds");
        }
        merged
    }

    pub fn statuses(&self) -> BTreeMap<u16, u64> {
        self.statuses.lock().expect("status lock").clone()
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().expect("error lock").clone()
    }

    pub fn error_samples(&self) -> Vec<String> {
        self.error_samples.lock().expect("sample lock").clone()
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(histogram: &Latencies) -> LatencySummary {
        if histogram.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: histogram.len(),
            min_ms: ms(histogram.min()),
            mean_ms: histogram.mean() / 1000.0,
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_counts_only_in_totals() {
        let recorder = Recorder::new(2);
        let ok = |lines| Outcome::Success {
            status: 200,
            lines,
            bytes: lines * 10,
        };
        recorder.record(0, false, Duration::from_millis(50), ok(100));
        recorder.record(1, true, Duration::from_millis(2), ok(100));
        recorder.record(0, true, Duration::from_millis(4), ok(50));
        recorder.record(
            1,
            true,
            Duration::from_millis(9),
            Outcome::Status {
                status: 503,
                message: "overloaded",
            },
        );
        recorder.record(
            1,
            true,
            Duration::from_millis(9),
            Outcome::Failed {
                kind: "timeout",
                message: "timed out",
            },
        );
        let measured = recorder.measured.snapshot();
        assert_eq!(
            (measured.requests_ok, measured.lines_ok, measured.bytes_ok),
            (2, 150, 1500)
        );
        assert_eq!(measured.requests_failed, 2);
        assert_eq!(recorder.total.snapshot().lines_ok, 250);
        let latencies = LatencySummary::of(&recorder.merged_latencies());
        assert_eq!(latencies.count, 4);
        assert!((latencies.max_ms - 9.0).abs() < 0.01, "{latencies:?}");
        assert!((latencies.min_ms - 2.0).abs() < 0.01);
        assert_eq!(recorder.statuses(), BTreeMap::from([(200, 2), (503, 1)]));
        assert_eq!(
            recorder.errors(),
            BTreeMap::from([("http_503".to_string(), 1), ("timeout".to_string(), 1)])
        );
        assert_eq!(
            recorder.error_samples(),
            vec!["HTTP 503: overloaded", "timed out"]
        );
    }

    #[test]
    fn empty_histogram_summarises_to_zero() {
        assert_eq!(
            LatencySummary::of(&new_histogram()),
            LatencySummary::default()
        );
    }
}
