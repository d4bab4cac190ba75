//! One key's quota state, shared by every shard: a bucket per rate, the
//! count of its open queries, and how often it was throttled.
//!
//! A [`KeyQuota`] lives in the key's record in the ring (`auth::keyring`)
//! and is carried into each new ring while the key's settings stay the
//! same, so creating or revoking another key does not refill anyone's
//! bucket. A key whose settings change starts with full buckets (its
//! throttle counts are carried over). The limits are resolved at each
//! charge against the node's default, which is fixed at start-up.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use super::bucket::{Bucket, Rate, Refused};
use super::limits::{QuotaLimits, QuotaOverride};

/// What a request ran out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Lines,
    Bytes,
    Queries,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [Dimension::Lines, Dimension::Bytes, Dimension::Queries];

    /// The `/metrics` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Lines => "lines",
            Dimension::Bytes => "bytes",
            Dimension::Queries => "queries",
        }
    }
}

/// A refusal: what ran out, the limit, and when to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exceeded {
    pub dimension: Dimension,
    /// The limit in force: units a second, or queries at once.
    pub limit: u64,
    pub burst_seconds: u32,
    /// What the request asked for (lines, bytes; 1 for a query).
    pub requested: u64,
    /// `Retry-After`, whole seconds.
    pub retry_after_seconds: u32,
    /// The request is larger than a full bucket: retrying it whole never works.
    pub never_fits: bool,
}

/// One key's quota (see the module comment).
#[derive(Debug, Default)]
pub struct KeyQuota {
    /// The key's own settings over the node's default.
    pub settings: QuotaOverride,
    lines: Bucket,
    bytes: Bucket,
    queries_open: AtomicU32,
    /// Requests refused, by [`Dimension`] (index as in `Dimension::ALL`).
    throttled: [AtomicU64; 3],
}

/// Two quotas are equal when their settings are: the buckets and counters
/// are state, not identity.
impl PartialEq for KeyQuota {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings
    }
}

impl Eq for KeyQuota {}

impl KeyQuota {
    pub fn new(settings: QuotaOverride) -> KeyQuota {
        KeyQuota {
            settings,
            ..Default::default()
        }
    }

    /// The quota for a key in a new ring: `previous` itself when the
    /// settings are unchanged (buckets keep their level), else a fresh one
    /// that keeps the throttle counts.
    pub fn carried(previous: Option<&Arc<KeyQuota>>, settings: QuotaOverride) -> Arc<KeyQuota> {
        match previous {
            Some(previous) if previous.settings == settings => previous.clone(),
            Some(previous) => {
                let next = KeyQuota::new(settings);
                for (to, from) in next.throttled.iter().zip(&previous.throttled) {
                    to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
                }
                Arc::new(next)
            }
            None => Arc::new(KeyQuota::new(settings)),
        }
    }

    /// The limits in force over the node's `default`.
    pub fn limits(&self, default: &QuotaLimits) -> QuotaLimits {
        self.settings.resolve(default)
    }

    /// Charges `bytes` of request body (before it is parsed).
    pub fn charge_bytes(
        &self,
        default: &QuotaLimits,
        bytes: u64,
        now_ns: u64,
    ) -> Result<(), Exceeded> {
        let limits = self.limits(default);
        self.charge(
            &self.bytes,
            Dimension::Bytes,
            limits.bytes_rate(),
            bytes,
            now_ns,
        )
    }

    /// Gives back `bytes` charged by [`KeyQuota::charge_bytes`] for a
    /// request refused on its lines, so a retry of it is charged once.
    pub fn refund_bytes(&self, default: &QuotaLimits, bytes: u64) {
        if let Some(rate) = self.limits(default).bytes_rate() {
            self.bytes.give_back(bytes, rate);
        }
    }

    /// Charges `lines` parsed log lines (before any is written).
    pub fn charge_lines(
        &self,
        default: &QuotaLimits,
        lines: u64,
        now_ns: u64,
    ) -> Result<(), Exceeded> {
        let limits = self.limits(default);
        self.charge(
            &self.lines,
            Dimension::Lines,
            limits.lines_rate(),
            lines,
            now_ns,
        )
    }

    fn charge(
        &self,
        bucket: &Bucket,
        dimension: Dimension,
        rate: Option<Rate>,
        cost: u64,
        now_ns: u64,
    ) -> Result<(), Exceeded> {
        let Some(rate) = rate else {
            return Ok(());
        };
        bucket.take(cost, rate, now_ns).map_err(|refused| {
            self.count_throttled(dimension);
            Exceeded {
                dimension,
                limit: rate.per_second,
                burst_seconds: rate.burst_seconds,
                requested: cost,
                retry_after_seconds: refused.retry_after_seconds(),
                never_fits: refused == Refused::NeverFits,
            }
        })
    }

    /// One more open query, or `Exceeded` when the key has its limit open.
    /// `None`: the key's queries are not limited (nothing to give back).
    pub fn open_query(
        self: &Arc<Self>,
        default: &QuotaLimits,
    ) -> Result<Option<QueryPermit>, Exceeded> {
        let limit = self.limits(default).concurrent_queries;
        if limit == 0 {
            return Ok(None);
        }
        let before = self.queries_open.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            self.queries_open.fetch_sub(1, Ordering::AcqRel);
            self.count_throttled(Dimension::Queries);
            return Err(Exceeded {
                dimension: Dimension::Queries,
                limit: limit as u64,
                burst_seconds: 0,
                requested: 1,
                // A query's length is unknown: a second is the usual retry.
                retry_after_seconds: 1,
                never_fits: false,
            });
        }
        Ok(Some(QueryPermit {
            quota: self.clone(),
        }))
    }

    /// Queries of this key open now (on every shard).
    pub fn queries_open(&self) -> u32 {
        self.queries_open.load(Ordering::Acquire)
    }

    /// Requests refused for `dimension` since the key was made (or the node started).
    pub fn throttled(&self, dimension: Dimension) -> u64 {
        self.throttled[dimension as usize].load(Ordering::Relaxed)
    }

    fn count_throttled(&self, dimension: Dimension) {
        self.throttled[dimension as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// One open query of a key, given back when dropped: held by the answer's
/// body, so it is released when the answer has been sent or the client
/// went away.
#[derive(Debug)]
pub struct QueryPermit {
    quota: Arc<KeyQuota>,
}

impl Drop for QueryPermit {
    fn drop(&mut self) {
        self.quota.queries_open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn default_limits() -> QuotaLimits {
        QuotaLimits {
            lines_per_second: 10,
            bytes_per_second: 100,
            burst_seconds: 1,
            concurrent_queries: 2,
        }
    }

    #[test]
    fn lines_and_bytes_are_separate_buckets_and_refusals_are_counted() {
        let quota = KeyQuota::new(QuotaOverride::default());
        let default = default_limits();
        assert!(quota.charge_bytes(&default, 100, SECOND).is_ok());
        let refused = quota.charge_bytes(&default, 10, SECOND).expect_err("empty");
        assert_eq!(refused.dimension, Dimension::Bytes);
        assert_eq!((refused.limit, refused.retry_after_seconds), (100, 1));
        assert!(
            quota.charge_lines(&default, 10, SECOND).is_ok(),
            "its own bucket"
        );
        let too_big = quota
            .charge_lines(&default, 11, 9 * SECOND)
            .expect_err("too big");
        assert!(too_big.never_fits);
        assert_eq!(quota.throttled(Dimension::Bytes), 1);
        assert_eq!(quota.throttled(Dimension::Lines), 1);
        quota.refund_bytes(&default, 50);
        assert!(quota.charge_bytes(&default, 50, SECOND).is_ok(), "refunded");
    }

    #[test]
    fn query_permits_are_counted_until_dropped() {
        let quota = Arc::new(KeyQuota::new(QuotaOverride::default()));
        let default = default_limits();
        let first = quota.open_query(&default).expect("1").expect("limited");
        let _second = quota.open_query(&default).expect("2").expect("limited");
        let refused = quota.open_query(&default).expect_err("third");
        assert_eq!((refused.dimension, refused.limit), (Dimension::Queries, 2));
        assert_eq!(quota.queries_open(), 2, "a refusal holds nothing");
        drop(first);
        assert!(quota.open_query(&default).is_ok());
        let unlimited = Arc::new(KeyQuota::new(QuotaOverride {
            concurrent_queries: Some(0),
            ..Default::default()
        }));
        assert!(unlimited.open_query(&default).expect("open").is_none());
    }

    #[test]
    fn unchanged_settings_keep_the_state_and_changed_ones_keep_the_counts() {
        let settings = QuotaOverride::default();
        let quota = Arc::new(KeyQuota::new(settings));
        let default = default_limits();
        assert!(quota.charge_lines(&default, 10, SECOND).is_ok());
        assert!(quota.charge_lines(&default, 1, SECOND).is_err());
        let same = KeyQuota::carried(Some(&quota), settings);
        assert!(Arc::ptr_eq(&same, &quota));
        let looser = QuotaOverride {
            lines_per_second: Some(1000),
            ..Default::default()
        };
        let changed = KeyQuota::carried(Some(&quota), looser);
        assert_eq!(changed.throttled(Dimension::Lines), 1);
        assert!(
            changed.charge_lines(&default, 500, SECOND).is_ok(),
            "a full bucket"
        );
    }
}
