//! quota/: "may this key send this much, or open one more query, now?"
//!
//! - [`limits`]: what a quota is (lines/s, bytes/s, burst, concurrent
//!   queries), the node's default and a key's own settings over it;
//! - [`bucket`]: the rate limiter, one atomic word per rate (GCRA);
//! - [`meter`]: one key's buckets, open-query count and throttle counters,
//!   shared by every shard.
//!
//! **Why one node-wide atomic bucket per key, not a share per shard.** A
//! key's requests land on whichever shard accepted the connection
//! (SO_REUSEPORT), so a per-shard bucket holding `rate / shards` would
//! refuse a key that happens to send everything through one connection at
//! half its rate on a two-shard node, and borrowing between shards would
//! need a rebalancing protocol whose lag is itself an error. A shared
//! bucket is exact node-wide, and its cost is one compare-and-swap on one
//! cache line per request and rate (never per line): measured in
//! docs/BENCHMARKS.md ("Security"), below the noise of ingest. It is not a
//! lock: no shard ever waits for another, a lost race retries at once.
//!
//! Quotas are attached to API keys (`auth::keyring`): they apply when
//! `auth.enabled`, to requests authenticated by a key. With auth off there
//! is no identity to charge (a remote address is not one: shippers behind
//! one NAT or proxy share it, and an IPv6 client picks a new one at will),
//! so nothing is limited per caller; the node-wide bounds (queues, memory,
//! `query.max_concurrent_queries`) still hold. Client certificates mapped
//! to a role are not limited either (docs/SECURITY.md).
//!
//! This folder holds no glommio and no HTTP (`http::quota` answers 429), so
//! its arithmetic is tested with an injected clock.

pub mod bucket;
pub mod limits;
pub mod meter;

pub use limits::{QuotaLimits, QuotaOverride};
pub use meter::{Dimension, Exceeded, KeyQuota, QueryPermit};
