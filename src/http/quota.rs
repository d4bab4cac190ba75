//! Quotas on the HTTP path: charge a request to its key, and answer `429`
//! with `Retry-After` when the key is over (`crate::quota` holds the
//! arithmetic and why it is shaped so).
//!
//! Ingest, on every protocol, is charged twice, and always before anything
//! is written, so a refused request can be retried whole:
//!
//! 1. its body's bytes ([`charge_bytes`]), once the body is read (and its
//!    `Content-Encoding` undone) and before it is parsed;
//! 2. its lines ([`charge_lines`]), once it is parsed and before it is
//!    committed. A request refused here gets its bytes back.
//!
//! A request larger than a full bucket could never pass, so it is refused
//! with `413` (send smaller batches, or raise the quota) instead of a
//! `429` that would be retried forever.
//!
//! Queries hold a [`QueryPermit`] from the router until their answer's
//! body is dropped: sent, or abandoned by the client (`http::response`).
//! Every protocol answers a quota refusal in its own error shape
//! (Elasticsearch's `es_rejected_execution_exception`, OTLP's
//! `RESOURCE_EXHAUSTED`, Loki's plain text), all with status 429.

use super::auth::Access;
use super::error::{ApiError, ErrorKind};
use crate::quota::bucket::clock_ns;
use crate::quota::{Dimension, Exceeded, KeyQuota, QueryPermit};
use crate::shard::ShardContext;

/// The caller's quota when one applies (a key; not auth off, not a
/// client certificate).
fn quota_of(access: &Access) -> Option<(&str, &std::sync::Arc<KeyQuota>)> {
    match access {
        Access::Key(principal) => Some((&principal.key_id[..], principal.quota.as_ref()?)),
        Access::Open | Access::Nobody => None,
    }
}

/// Charges `bytes` of request body to the caller's key.
pub fn charge_bytes(ctx: &ShardContext, access: &Access, bytes: usize) -> Result<(), ApiError> {
    let Some((key_id, quota)) = quota_of(access) else {
        return Ok(());
    };
    quota
        .charge_bytes(&ctx.config.quotas, bytes as u64, clock_ns())
        .map_err(|exceeded| refusal(ctx, key_id, exceeded))
}

/// Charges `lines` parsed lines to the caller's key; when refused, gives
/// back the `bytes` [`charge_bytes`] took for the same request.
pub fn charge_lines(
    ctx: &ShardContext,
    access: &Access,
    lines: usize,
    bytes: usize,
) -> Result<(), ApiError> {
    let Some((key_id, quota)) = quota_of(access) else {
        return Ok(());
    };
    let defaults = &ctx.config.quotas;
    quota
        .charge_lines(defaults, lines as u64, clock_ns())
        .map_err(|exceeded| {
            quota.refund_bytes(defaults, bytes as u64);
            refusal(ctx, key_id, exceeded)
        })
}

/// One of the caller's concurrent queries, held until the answer's body
/// is dropped; `None` when nothing limits the caller's queries.
pub fn open_query(ctx: &ShardContext, access: &Access) -> Result<Option<QueryPermit>, ApiError> {
    let Some((key_id, quota)) = quota_of(access) else {
        return Ok(None);
    };
    quota
        .open_query(&ctx.config.quotas)
        .map_err(|exceeded| refusal(ctx, key_id, exceeded))
}

/// The answer to a refusal, counted on this shard.
fn refusal(ctx: &ShardContext, key_id: &str, exceeded: Exceeded) -> ApiError {
    ctx.count(|c| c.quota_throttled[exceeded.dimension as usize] += 1);
    let Exceeded {
        dimension,
        limit,
        burst_seconds,
        requested,
        retry_after_seconds,
        never_fits,
    } = exceeded;
    let unit = match dimension {
        Dimension::Lines => "lines",
        Dimension::Bytes => "bytes",
        Dimension::Queries => {
            return ApiError::new(
                ErrorKind::Overloaded,
                "quota_exceeded",
                format!("key {key_id} already has {limit} queries open, its quota of concurrent queries; retry when one has finished"),
            )
            .retry_after(retry_after_seconds);
        }
    };
    if never_fits {
        return ApiError::new(
            ErrorKind::PayloadTooLarge,
            "quota_burst_exceeded",
            format!("this request holds {requested} {unit}, more than key {key_id}'s quota lets through at once ({limit} {unit} a second for a burst of {burst_seconds} s); send smaller requests or raise the key's quota"),
        );
    }
    ApiError::new(
        ErrorKind::Overloaded,
        "quota_exceeded",
        format!("key {key_id} is over its quota of {limit} {unit} a second (burst {burst_seconds} s); nothing of this request was stored; retry after {retry_after_seconds} s"),
    )
    .retry_after(retry_after_seconds)
}

/// `/metrics`: requests refused by quotas, per shard and reason, and per
/// key for the keys refused at least once. The per-key series are bounded
/// by the node's keys (`auth::keyring::KEYS_MAX`) times three reasons, and
/// only keys that were ever throttled appear, so a node with many quiet
/// keys adds nothing. Key ids are public; keys never appear.
pub fn render_metrics(
    ctx: &ShardContext,
    shards: &[crate::shard::context::ShardCounters],
    out: &mut String,
) {
    use std::fmt::Write as _;
    out.push_str("# HELP timberdb_quota_throttled_total Requests refused (429, or 413 when larger than the burst) by an API key's quota, by what ran out.\n# TYPE timberdb_quota_throttled_total counter\n");
    for (shard, counters) in shards.iter().enumerate() {
        for dimension in Dimension::ALL {
            let _ = writeln!(
                out,
                "timberdb_quota_throttled_total{{shard=\"{shard}\",reason=\"{}\"}} {}",
                dimension.as_str(),
                counters.quota_throttled[dimension as usize]
            );
        }
    }
    out.push_str("# HELP timberdb_quota_key_throttled_total Requests refused by a key's quota, per key id (keys never throttled are left out).\n# TYPE timberdb_quota_key_throttled_total counter\n");
    for (key_id, quota) in ctx.auth.ring().quotas() {
        for dimension in Dimension::ALL {
            let count = quota.throttled(dimension);
            if count > 0 {
                let _ = writeln!(
                    out,
                    "timberdb_quota_key_throttled_total{{key_id=\"{key_id}\",reason=\"{}\"}} {count}",
                    dimension.as_str()
                );
            }
        }
    }
}
