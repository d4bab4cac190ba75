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
    Ok(json(
        StatusCode::OK,
        &json!({ "status": "ready", "shards": shards.len() }),
    ))
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
    let counters: [CounterSeries; 7] = [
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
    out.push_str("# HELP timberdb_active_block_bytes Bytes in not-yet-sealed blocks.\n# TYPE timberdb_active_block_bytes gauge\n");
    for (shard, (_, health)) in shards.iter().enumerate() {
        out.push_str(&format!(
            "timberdb_active_block_bytes{{shard=\"{shard}\"}} {}\n",
            health.active_bytes
        ));
    }
    out.push_str("# HELP timberdb_block_summary_bytes Bytes of block summaries (sets and word filters) held in memory for pruning.\n# TYPE timberdb_block_summary_bytes gauge\n");
    for (shard, (_, health)) in shards.iter().enumerate() {
        out.push_str(&format!(
            "timberdb_block_summary_bytes{{shard=\"{shard}\"}} {}\n",
            health.summary_bytes
        ));
    }
    out.push_str("# HELP timberdb_commit_queue_length Requests waiting for the WAL.\n# TYPE timberdb_commit_queue_length gauge\n");
    for (shard, (_, health)) in shards.iter().enumerate() {
        out.push_str(&format!(
            "timberdb_commit_queue_length{{shard=\"{shard}\"}} {}\n",
            health.commit_queue_len
        ));
    }
    out.push_str("# HELP timberdb_writes_stopped 1 when a shard refuses writes after an I/O failure.\n# TYPE timberdb_writes_stopped gauge\n");
    for (shard, (_, health)) in shards.iter().enumerate() {
        out.push_str(&format!(
            "timberdb_writes_stopped{{shard=\"{shard}\"}} {}\n",
            health.writes_stopped.is_some() as u8
        ));
    }
    Ok(text(StatusCode::OK, "text/plain; version=0.0.4", out))
}
