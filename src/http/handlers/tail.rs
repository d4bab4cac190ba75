//! `GET|POST /api/v1/tail`: a live tail of the entries that match a query,
//! streamed as they become durable.
//!
//! The request is a query (`q`, `partitions`, `filter`) plus `since` (an
//! optional look-back window) and `format` (`ndjson` or `sse`). It is
//! compiled by the query engine, so a tail accepts exactly the filters a
//! query does; aggregations are refused (a tail streams entries).
//!
//! Setting up, in this order so that nothing falls between the look-back
//! and the live part: register on every shard (each answers with its
//! watermarks, see `shard::tail`), then start the look-back query, then
//! stream. The feeding task (`tail_stream`) sends the look-back's entries
//! below the watermarks, then the live ones.

use crate::http::auth::Access;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::Request;
use serde_json::{Map, Value};

use super::query::{percent_decode, QuerySlot};
use super::tail_stream::{self, Lookback, TailFormat, TailStream};
use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::{ApiError, ErrorKind};
use crate::http::negotiate::accepts;
use crate::http::response::HttpResponse;
use crate::query::prune::BlockTest;
use crate::query::{compile, PlanError, QueryBody, QueryPlan, ResultStream};
use crate::shard::mailbox::{call_all, start_query, PeerRequest};
use crate::shard::tail::{TailShared, TailSubscription, TAIL_MESSAGES_MAX};
use crate::shard::ShardContext;

/// Tail streams open on one shard's connections. Each may hold
/// `shard::tail::TAIL_BUFFER_BYTES_MAX` (256 KiB) of rendered entries plus
/// a few body chunks, so this bounds tail memory to about 300 MiB a shard.
pub const TAIL_STREAMS_PER_SHARD_MAX: usize = 1024;

/// Tail request bodies are small.
const TAIL_BODY_BYTES_MAX: usize = 1 << 20;

/// Query fields that make no sense for a tail (it has no page and no end).
const QUERY_ONLY_FIELDS: [&str; 6] = [
    "limit",
    "offset",
    "order",
    "sort_desc",
    "timeout_seconds",
    "cursor",
];

thread_local! {
    /// Tail streams open on this thread's shard (one executor per thread).
    static STREAMS_OPEN: Cell<usize> = const { Cell::new(0) };
}

/// Names tail streams across the process, for `TailUnsubscribe`.
static NEXT_TAIL_ID: AtomicU64 = AtomicU64::new(1);

/// A tail request, parsed but not compiled.
struct TailRequest {
    /// The query part, in the shape of a query request body.
    query: Map<String, Value>,
    since: Option<String>,
    format: Option<String>,
}

pub async fn tail_get(
    ctx: &Rc<ShardContext>,
    request: &Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let parsed = request_from_url(request.uri().query().unwrap_or(""))
        .map_err(|message| ApiError::bad_request("invalid_query", message))?;
    start(ctx, &Access::of(request), parsed, accepts_sse(request)).await
}

pub async fn tail_post(
    ctx: &Rc<ShardContext>,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let sse = accepts_sse(&request);
    let access = Access::of(&request);
    let body = read_limited(
        request,
        BodyLimit {
            bytes: TAIL_BODY_BYTES_MAX,
            name: "the tail body limit",
        },
    )
    .await?;
    let parsed = request_from_body(&body)
        .map_err(|message| ApiError::bad_request("invalid_query", message))?;
    start(ctx, &access, parsed, sse).await
}

/// Whether `Accept` names `text/event-stream`.
fn accepts_sse<B>(request: &Request<B>) -> bool {
    accepts(request, "text/event-stream")
}

fn request_from_url(query: &str) -> Result<TailRequest, String> {
    let mut parsed = TailRequest {
        query: Map::new(),
        since: None,
        format: None,
    };
    let mut partitions = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .ok_or_else(|| format!("URL parameter {name}: bad percent-encoding or not UTF-8"))?;
        match name {
            "q" => {
                parsed.query.insert("q".into(), Value::String(value));
            }
            "partitions" | "partition" => partitions.extend(
                value
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string())),
            ),
            "since" => parsed.since = Some(value),
            "format" => parsed.format = Some(value),
            other => {
                return Err(format!(
                    "unknown URL parameter {other:?}; a tail takes q, partitions, since and format"
                ))
            }
        }
    }
    if !partitions.is_empty() {
        parsed
            .query
            .insert("partitions".into(), Value::Array(partitions));
    }
    Ok(parsed)
}

fn request_from_body(body: &[u8]) -> Result<TailRequest, String> {
    let mut query: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        serde_json::from_slice(body)
            .map_err(|error| format!("the tail body is not a JSON object: {error}"))?
    };
    if let Some(field) = QUERY_ONLY_FIELDS.iter().find(|f| query.contains_key(**f)) {
        return Err(format!(
            "{field:?} is a query field a tail does not take: a tail sends every match, oldest first, until the client disconnects"
        ));
    }
    let mut text_field = |name: &str| match query.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!("{name} must be a string, not {other}")),
    };
    let since = text_field("since")?;
    let format = text_field("format")?;
    Ok(TailRequest {
        query,
        since,
        format,
    })
}

fn format_of(format: Option<&str>, accepts_sse: bool) -> Result<TailFormat, ApiError> {
    match format.map(str::to_ascii_lowercase).as_deref() {
        None if accepts_sse => Ok(TailFormat::Sse),
        None | Some("ndjson") => Ok(TailFormat::Ndjson),
        Some("sse") => Ok(TailFormat::Sse),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query",
            format!("format {other:?} is not one of \"ndjson\", \"sse\""),
        )),
    }
}

/// `since` as a time in ns: a duration back from now (`30s`, `5m`, `1h`)
/// or an RFC 3339 time.
fn since_ns(since: &str, now_ns: i64) -> Result<i64, ApiError> {
    if let Ok(duration_ns) = crate::logql::duration::parse_duration_ns(since) {
        return Ok(now_ns.saturating_sub(duration_ns));
    }
    crate::time::parse_rfc3339(since).map_err(|_| {
        ApiError::bad_request(
            "invalid_query",
            format!("since {since:?} is neither a duration such as 30s, 5m or 1h nor an RFC 3339 time such as 2026-01-02T15:04:05Z"),
        )
    })
}

fn compile_tail(
    ctx: &ShardContext,
    access: &Access,
    query: &Map<String, Value>,
) -> Result<QueryPlan, ApiError> {
    let body: QueryBody =
        serde_json::from_value(Value::Object(query.clone())).map_err(|error| {
            ApiError::bad_request(
                "invalid_query",
                format!("the tail query is not valid: {error}"),
            )
        })?;
    let plan =
        compile(body, &ctx.catalog.borrow(), &ctx.config.query).map_err(|error| match error {
            PlanError::BadRequest(message) => ApiError::bad_request("invalid_query", message),
            PlanError::UnknownPartition(name) => ApiError::partition_not_found(&name),
            // `cursor` is refused with the other query-only fields before compiling.
            PlanError::InvalidCursor(message) => ApiError::bad_request("invalid_cursor", message),
        })?;
    let mut plan = plan;
    access.restrict_plan(&mut plan)?;
    if plan.aggregation.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "a tail streams entries; aggregations (stats, counts, GROUP BY) cannot be tailed: run them as a query",
        ));
    }
    Ok(plan)
}

/// The look-back query: the tail's filter from `since_ns` on, oldest first,
/// as many entries as a query may return.
fn lookback_plan(
    ctx: &ShardContext,
    access: &Access,
    query: &Map<String, Value>,
    since_ns: i64,
) -> Result<QueryPlan, ApiError> {
    let mut plan = compile_tail(ctx, access, query)?;
    plan.predicate.time_start_ns = plan.predicate.time_start_ns.max(since_ns);
    plan.block_test = BlockTest::of(&plan.predicate);
    plan.descending = false;
    plan.offset = 0;
    plan.limit = ctx.config.query.max_results;
    Ok(plan)
}

async fn start(
    ctx: &Rc<ShardContext>,
    access: &Access,
    request: TailRequest,
    accepts_sse: bool,
) -> Result<HttpResponse, ApiError> {
    let format = format_of(request.format.as_deref(), accepts_sse)?;
    let all_partitions = !request.query.contains_key("partitions")
        && !request
            .query
            .get("q")
            .and_then(Value::as_str)
            .is_some_and(names_partitions)
        // A key limited to some partitions follows those it may read now.
        && access.sees_every_partition();
    let plan = Arc::new(compile_tail(ctx, access, &request.query)?);
    let lookback = match &request.since {
        Some(since) => {
            let now_ns = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64);
            Some(lookback_plan(
                ctx,
                access,
                &request.query,
                since_ns(since, now_ns)?,
            )?)
        }
        None => None,
    };
    if ctx.shutting_down.get() {
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            "shutting_down",
            "the server is shutting down; reconnect to another node or after the restart",
        ));
    }
    let guard = StreamGuard::take()?;
    // The look-back is a query: it takes a query slot while it runs.
    let slot = lookback
        .as_ref()
        .map(|_| QuerySlot::take(ctx))
        .transpose()?;
    let id = NEXT_TAIL_ID.fetch_add(1, Ordering::Relaxed);
    let (shared, rings) = TailShared::new();
    let shared = Arc::new(shared);
    let (sender, receiver) = flume::bounded(TAIL_MESSAGES_MAX);
    let watermarks = call_all(ctx, |reply| PeerRequest::TailSubscribe {
        subscription: TailSubscription {
            id,
            plan: plan.clone(),
            all_partitions,
            sender: sender.clone(),
            shared: shared.clone(),
        },
        reply,
    })
    .await
    .map_err(ApiError::internal)?;
    // Only the shards hold senders now: the channel closes when they all
    // let go (shutdown), which ends the stream.
    drop(sender);
    let registration = tail_stream::Registration::new(ctx.clone(), id, guard);
    let lookback = match lookback {
        Some(plan) => {
            let plan = Arc::new(plan);
            let shards = start_query(ctx, &plan).await.map_err(ApiError::internal)?;
            Some(Lookback {
                stream: ResultStream::new(&plan, shards),
                limit: plan.limit,
                watermarks,
                slot: slot.expect("a slot is taken whenever there is a look-back"),
            })
        }
        None => None,
    };
    Ok(tail_stream::respond(TailStream {
        ctx: ctx.clone(),
        format,
        receiver,
        rings,
        shared,
        lookback,
        registration,
    }))
}

/// Whether the q text names partitions itself (`FROM ...`); then the tail
/// follows only those, like a query.
fn names_partitions(q: &str) -> bool {
    crate::query::lang::parse(q, 0).is_ok_and(|statement| !statement.from.is_empty())
}

/// One of this shard's `TAIL_STREAMS_PER_SHARD_MAX`, given back on drop.
pub(super) struct StreamGuard(());

impl StreamGuard {
    fn take() -> Result<StreamGuard, ApiError> {
        STREAMS_OPEN.with(|open| {
            if open.get() >= TAIL_STREAMS_PER_SHARD_MAX {
                return Err(ApiError::new(
                    ErrorKind::Overloaded,
                    "too_many_tails",
                    format!("{TAIL_STREAMS_PER_SHARD_MAX} tails are already open on this connection's shard; close one or retry shortly"),
                )
                .retry_after(1));
            }
            open.set(open.get() + 1);
            Ok(StreamGuard(()))
        })
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        STREAMS_OPEN.with(|open| open.set(open.get() - 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters() {
        let parsed =
            request_from_url("q=level%3Aerror&partitions=a,b&since=5m&format=sse").unwrap();
        assert_eq!(parsed.query["q"], "level:error");
        assert_eq!(parsed.query["partitions"], serde_json::json!(["a", "b"]));
        assert_eq!(parsed.since.as_deref(), Some("5m"));
        assert_eq!(parsed.format.as_deref(), Some("sse"));
        assert!(request_from_url("limit=5")
            .err()
            .unwrap()
            .contains("unknown URL parameter"));
        assert!(request_from_url("").unwrap().query.is_empty());
    }

    #[test]
    fn body_fields() {
        let parsed =
            request_from_body(br#"{"q":"x","since":"1h","format":"ndjson","partitions":["a"]}"#)
                .unwrap();
        assert_eq!(parsed.since.as_deref(), Some("1h"));
        assert!(!parsed.query.contains_key("since"));
        assert!(parsed.query.contains_key("partitions"));
        assert!(request_from_body(br#"{"limit":5}"#)
            .err()
            .unwrap()
            .contains("does not take"));
        assert!(request_from_body(br#"{"since":5}"#)
            .err()
            .unwrap()
            .contains("must be a string"));
        assert!(request_from_body(b"[1]").is_err());
        assert!(request_from_body(b"  ").unwrap().query.is_empty());
    }

    #[test]
    fn formats_and_since() {
        assert_eq!(format_of(None, false).unwrap(), TailFormat::Ndjson);
        assert_eq!(format_of(None, true).unwrap(), TailFormat::Sse);
        assert_eq!(format_of(Some("SSE"), false).unwrap(), TailFormat::Sse);
        assert!(format_of(Some("json"), false).is_err());
        assert_eq!(since_ns("5m", 1_000_000_000_000).unwrap(), 700_000_000_000);
        assert_eq!(since_ns("1970-01-01T00:00:01Z", 0).unwrap(), 1_000_000_000);
        assert!(since_ns("yesterday", 0).is_err());
    }
}
