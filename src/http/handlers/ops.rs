//! `/health`, `/ready` and `/metrics`.

use hyper::StatusCode;
use serde_json::json;

use crate::http::error::{ApiError, ErrorKind};
use crate::http::response::{json, text, HttpResponse};
use crate::shard::context::ShardCounters;
use crate::shard::mailbox::{call_all, PeerRequest, ShardHealth};
use crate::shard::ShardContext;

/// Liveness: the process is up and this shard answers.
pub fn health(ctx: &ShardContext) -> HttpResponse {
    let body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "node_id": ctx.config.node_id,
        "shards": ctx.shard_count,
        "shard": ctx.shard_id,
    });
    json(StatusCode::OK, &body)
}

/// Readiness: every shard has recovered and can take writes.
pub async fn ready(ctx: &ShardContext) -> Result<HttpResponse, ApiError> {
    let shards = gather(ctx).await?;
    let stopped: Vec<String> = shards
        .iter()
        .enumerate()
        .filter_map(|(shard, (_, health))| {
            health
                .writes_stopped
                .as_ref()
                .map(|reason| format!("shard {shard}: {reason}"))
        })
        .collect();
    if !stopped.is_empty() {
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            "not_ready",
            format!("writes are stopped: {}", stopped.join("; ")),
        ));
    }
    let full: Vec<String> = shards
        .iter()
        .enumerate()
        .filter_map(|(shard, (_, health))| {
            health
                .disk_full
                .as_ref()
                .map(|reason| format!("shard {shard}: {reason}"))
        })
        .collect();
    if !full.is_empty() {
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            "disk_full",
            format!(
                "ingest is refused (507) for lack of disk space; queries are served: {}",
                full.join("; ")
            ),
        ));
    }
    if let Some(reason) = shards
        .iter()
        .find_map(|(_, health)| health.storage_limit.as_ref())
    {
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            "storage_limit",
            format!("ingest is refused (507): {reason}"),
        ));
    }
    Ok(json(StatusCode::OK, &ready_body(&shards)))
}

/// The body of a 200 from `/ready`: degraded when damaged blocks were
/// quarantined or await quarantine (the node serves every other entry).
fn ready_body(shards: &[(ShardCounters, ShardHealth)]) -> serde_json::Value {
    let mut lost = crate::shard::damage::Quarantined::default();
    let mut pending = 0;
    for (_, health) in shards {
        lost.add(&health.quarantined);
        pending += health.damaged_pending;
    }
    if lost.blocks == 0 && pending == 0 {
        return json!({ "status": "ready", "shards": shards.len() });
    }
    json!({
        "status": "ready",
        "shards": shards.len(),
        "degraded": true,
        "reason": format!(
            "{} damaged blocks quarantined ({} entries lost), {pending} awaiting quarantine; \
             every other entry is served (see quarantine.jsonl in each shard directory)",
            lost.blocks, lost.entries
        ),
        "quarantined_blocks": lost.blocks,
        "quarantined_entries": lost.entries,
        "damaged_blocks_pending": pending,
    })
}

async fn gather(ctx: &ShardContext) -> Result<Vec<(ShardCounters, ShardHealth)>, ApiError> {
    call_all(ctx, |reply| PeerRequest::Counters { reply })
        .await
        .map_err(|reason| {
            ApiError::new(ErrorKind::Unavailable, "shard_unavailable", reason).retry_after(1)
        })
}

/// A counter's name, help text and how to read it from a shard's counters.
type CounterSeries = (&'static str, &'static str, fn(&ShardCounters) -> u64);

/// Prometheus text format, one series per shard.
pub async fn metrics(ctx: &ShardContext) -> Result<HttpResponse, ApiError> {
    let shards = gather(ctx).await?;
    let mut out = String::new();
    let counters: [CounterSeries; 9] = [
        (
            "timberdb_ingest_requests_total",
            "Ingest requests answered with success.",
            |c| c.ingest_requests,
        ),
        (
            "timberdb_ingest_entries_total",
            "Log entries durably ingested.",
            |c| c.ingest_entries,
        ),
        (
            "timberdb_ingest_bytes_total",
            "Request body bytes of successful ingest requests.",
            |c| c.ingest_bytes,
        ),
        (
            "timberdb_ingest_rejected_total",
            "Ingest requests refused (bad input, overload, errors).",
            |c| c.ingest_rejected,
        ),
        ("timberdb_query_requests_total", "Queries executed.", |c| {
            c.query_requests
        }),
        (
            "timberdb_queries_timed_out_total",
            "Queries cut short by their timeout.",
            |c| c.queries_timed_out,
        ),
        (
            "timberdb_http_errors_total",
            "Requests answered with an error status.",
            |c| c.http_errors,
        ),
        (
            "timberdb_auth_unauthorized_total",
            "Requests refused with 401: no API key, or a malformed, unknown or wrong one.",
            |c| c.auth_unauthorized,
        ),
        (
            "timberdb_auth_forbidden_total",
            "Requests refused with 403: a valid key outside its role or partitions.",
            |c| c.auth_forbidden,
        ),
    ];
    for (name, help, read) in counters {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for (shard, (shard_counters, _)) in shards.iter().enumerate() {
            out.push_str(&format!(
                "{name}{{shard=\"{shard}\"}} {}\n",
                read(shard_counters)
            ));
        }
    }
    type Gauge = (
        &'static str,
        &'static str,
        &'static str,
        fn(&ShardHealth) -> u64,
    );
    let gauges: [Gauge; 8] = [
        ("timberdb_active_block_bytes", "gauge", "Bytes in not-yet-sealed blocks.", |h| h.active_bytes as u64),
        (
            "timberdb_block_directory_bytes",
            "gauge",
            "Bytes of block directories held in memory (always resident: queries plan from them).",
            |h| h.directory_bytes as u64,
        ),
        (
            "timberdb_index_cache_budget_bytes",
            "gauge",
            "Bytes of granule word filters the shard may keep in memory (storage.index_cache_size / shards).",
            |h| h.filter_cache.budget_bytes as u64,
        ),
        (
            "timberdb_index_cache_bytes",
            "gauge",
            "Bytes of granule word filters held in memory.",
            |h| h.filter_cache.used_bytes as u64,
        ),
        (
            "timberdb_index_cache_hits_total",
            "counter",
            "Blocks whose filters a query found in memory.",
            |h| h.filter_cache.hits,
        ),
        (
            "timberdb_index_cache_misses_total",
            "counter",
            "Blocks whose filters a query had to read from disk.",
            |h| h.filter_cache.misses,
        ),
        ("timberdb_commit_queue_length", "gauge", "Requests waiting for the WAL.", |h| h.commit_queue_len as u64),
        (
            "timberdb_damaged_blocks_pending",
            "gauge",
            "Damaged blocks queries or compaction found that are not quarantined yet (skipped meanwhile).",
            |h| h.damaged_pending as u64,
        ),
    ];
    for (name, kind, help, read) in gauges {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (shard, (_, health)) in shards.iter().enumerate() {
            out.push_str(&format!("{name}{{shard=\"{shard}\"}} {}\n", read(health)));
        }
    }
    let scrub: Vec<_> = shards.iter().map(|(_, health)| health.scrub).collect();
    crate::scrub::online::render_metrics(&scrub, &mut out);
    let syslog: Vec<_> = shards.iter().map(|(counters, _)| counters.syslog).collect();
    crate::protocol::syslog::metrics::render(&syslog, &mut out);
    let connections: Vec<_> = shards.iter().map(|(c, _)| c.connections).collect();
    crate::http::admission::render_metrics(&connections, &mut out);
    let tails: Vec<_> = shards.iter().map(|(_, health)| health.tail).collect();
    crate::shard::tail::render_metrics(&tails, &mut out);
    out.push_str("# HELP timberdb_writes_stopped 1 when a shard refuses writes after an I/O failure.\n# TYPE timberdb_writes_stopped gauge\n");
    for (shard, (_, health)) in shards.iter().enumerate() {
        out.push_str(&format!(
            "timberdb_writes_stopped{{shard=\"{shard}\"}} {}\n",
            health.writes_stopped.is_some() as u8
        ));
    }
    super::disk_metrics::render(ctx, &shards, &mut out);
    render_auth_metrics(ctx, &mut out);
    let counters: Vec<_> = shards.iter().map(|(counters, _)| *counters).collect();
    crate::http::quota::render_metrics(ctx, &counters, &mut out);
    super::retention_metrics::render(ctx, &shards, &mut out).await?;
    Ok(text(StatusCode::OK, "text/plain; version=0.0.4", out))
}

/// The node's key count and audit drops (shared by every shard, so no
/// shard label).
fn render_auth_metrics(ctx: &ShardContext, out: &mut String) {
    out.push_str("# HELP timberdb_auth_keys API keys in force.\n# TYPE timberdb_auth_keys gauge\n");
    out.push_str(&format!("timberdb_auth_keys {}\n", ctx.auth.ring().len()));
    if let Some(audit) = &ctx.auth.audit {
        out.push_str("# HELP timberdb_audit_events_dropped_total Audit events lost because the audit queue was full.\n# TYPE timberdb_audit_events_dropped_total counter\n");
        out.push_str(&format!(
            "timberdb_audit_events_dropped_total {}\n",
            audit.dropped()
        ));
    }
}
