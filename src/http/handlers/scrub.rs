//! `POST /api/v1/admin/scrub` (start an online scrub) and
//! `GET /api/v1/admin/scrub` (the current or last run). See
//! `scrub::online` for what a run does.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::defaults::SCRUB_RATE_BYTES_PER_S_RANGE;
use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::{ApiError, ErrorKind};
use crate::http::response::{json, HttpResponse};
use crate::scrub::online::{NodeRun, RunState, ScrubOptions, ShardRun};
use crate::shard::mailbox::{call, call_all, PeerRequest};
use crate::shard::ShardContext;
use crate::time::format_rfc3339_nanos;

/// A scrub request is a few fields.
const SCRUB_BODY_BYTES_MAX: usize = 4096;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StartBody {
    rate_bytes_per_s: Option<u64>,
    #[serde(default)]
    quarantine: bool,
}

pub async fn start(
    ctx: &ShardContext,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let limit = BodyLimit {
        bytes: SCRUB_BODY_BYTES_MAX,
        name: "the scrub request limit",
    };
    let body = read_limited(request, limit).await?;
    let options = parse_options(ctx, &body)?;
    let started = call(ctx, 0, |reply| PeerRequest::ScrubStart { options, reply })
        .await
        .map_err(unavailable)?;
    match started {
        Ok(run) => Ok(json(StatusCode::ACCEPTED, &run_json(&run))),
        Err(running) => Err(ApiError::new(
            ErrorKind::Conflict,
            "scrub_running",
            format!(
                "scrub {} is still running; GET /api/v1/admin/scrub shows its progress, start \
                 another once it has finished",
                running.id
            ),
        )),
    }
}

fn parse_options(ctx: &ShardContext, body: &[u8]) -> Result<ScrubOptions, ApiError> {
    let parsed: StartBody = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        serde_json::from_slice(body).map_err(|error| {
            ApiError::bad_request(
                "invalid_json",
                format!(
                    "expected {{\"rate_bytes_per_s\"?: integer, \"quarantine\"?: boolean}} or an \
                     empty body: {error}"
                ),
            )
        })?
    };
    let rate = parsed
        .rate_bytes_per_s
        .unwrap_or(ctx.config.storage.scrub_rate_bytes_per_s);
    if !SCRUB_RATE_BYTES_PER_S_RANGE.contains(&rate) {
        return Err(ApiError::bad_request(
            "invalid_rate",
            format!(
                "rate_bytes_per_s must be between {} and {} (bytes per second per shard)",
                SCRUB_RATE_BYTES_PER_S_RANGE.start(),
                SCRUB_RATE_BYTES_PER_S_RANGE.end()
            ),
        ));
    }
    Ok(ScrubOptions {
        rate_bytes_per_s: rate,
        quarantine: parsed.quarantine,
    })
}

pub async fn status(ctx: &ShardContext) -> Result<HttpResponse, ApiError> {
    let shards = call_all(ctx, |reply| PeerRequest::ScrubStatus { reply })
        .await
        .map_err(unavailable)?;
    let Some(run) = shards.first().and_then(|(node, _)| node.clone()) else {
        return Ok(json(
            StatusCode::OK,
            &json!({"id": null, "state": "never_run"}),
        ));
    };
    let parts: Vec<&ShardRun> = shards
        .iter()
        .map(|(_, part)| part)
        .filter(|part| part.id == run.id)
        .collect();
    let mut body = run_json(&run);
    let sum = |read: fn(&ShardRun) -> u64| parts.iter().map(|part| read(part)).sum::<u64>();
    body["bytes_checked"] = sum(|p| p.bytes_checked).into();
    body["blocks_checked"] = sum(|p| p.blocks_checked).into();
    body["manifest_records_checked"] = sum(|p| p.manifest_records_checked).into();
    body["damaged_blocks"] = sum(|p| p.damaged_blocks).into();
    body["damage"] = collect(&parts, |part| &part.damage);
    body["quarantined"] = collect(&parts, |part| &part.quarantined);
    body["errors"] = collect(&parts, |part| &part.errors);
    body["shards"] = shards
        .iter()
        .enumerate()
        .map(|(shard, (_, part))| {
            let state = if part.id == run.id { part.state } else { RunState::Idle };
            json!({"shard": shard, "state": state, "bytes_checked": part.bytes_checked, "blocks_checked": part.blocks_checked})
        })
        .collect();
    Ok(json(StatusCode::OK, &body))
}

fn collect<T: serde::Serialize>(parts: &[&ShardRun], read: fn(&ShardRun) -> &Vec<T>) -> Value {
    let all: Vec<&T> = parts.iter().flat_map(|part| read(part).iter()).collect();
    serde_json::to_value(all).expect("scrub findings serialise")
}

fn run_json(run: &NodeRun) -> Value {
    let time = |ns: i64| {
        let mut text = String::new();
        format_rfc3339_nanos(ns, &mut text);
        text
    };
    json!({
        "id": run.id,
        "state": if run.running { "running" } else { "finished" },
        "started_at": time(run.started_at_ns),
        "finished_at": run.finished_at_ns.map(time),
        "rate_bytes_per_s": run.options.rate_bytes_per_s,
        "quarantine": run.options.quarantine,
    })
}

fn unavailable(reason: String) -> ApiError {
    ApiError::new(ErrorKind::Unavailable, "shard_unavailable", reason).retry_after(1)
}
