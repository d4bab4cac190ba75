//! `/select/logsql/query`, VictoriaLogs-style, for curl users: the `query`
//! parameter is TimberDB's own `q` language (not VictoriaLogs' LogsQL),
//! with `limit`, `start` and `end`; the answer streams NDJSON, one object
//! per entry with `_msg`, `_time`, `_stream` (the entry's source and tags
//! as a `{k="v"}` stream selector), `source`, `level`, the tags and the
//! entry's fields, as VictoriaLogs flattens them.
//!
//! Like the native NDJSON answer, a spawned task feeds the body over a
//! bounded channel (at most `BODY_CHUNKS_IN_FLIGHT_MAX` chunks of about
//! `BODY_CHUNK_BYTES` wait for a slow client), and a client that leaves
//! stops every shard at its next block. Errors before the first byte are
//! VictoriaLogs': 400 with a plain-text body.

use crate::http::auth::Access;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Map, Value as Json};

use super::loki_query::parse_form;
use super::query::{count_query, QuerySlot, NDJSON};
use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::ApiError;
use crate::http::response::{streamed, text, HttpResponse};
use crate::query::request::TimeRangeBody;
use crate::query::{compile, FoundEntry, PlanError, QueryBody, ResultStream};
use crate::shard::mailbox::start_query;
use crate::shard::ShardContext;
use crate::time::format_rfc3339_nanos;

const BODY_CHUNK_BYTES: usize = 64 * 1024;
const BODY_CHUNKS_IN_FLIGHT_MAX: usize = 4;
/// Form bodies hold a query and a few numbers.
const FORM_BODY_BYTES_MAX: usize = 256 * 1024;

pub async fn query(
    ctx: &Rc<ShardContext>,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    match start(ctx, request).await {
        Ok(response) => Ok(response),
        Err((status, message)) => {
            ctx.count(|c| c.http_errors += 1);
            Ok(text(status, "text/plain; charset=utf-8", message + "\n"))
        }
    }
}

type Refusal = (StatusCode, String);

fn bad(message: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, message.into())
}

async fn start(
    ctx: &Rc<ShardContext>,
    request: Request<Incoming>,
) -> Result<HttpResponse, Refusal> {
    let access = Access::of(&request);
    let mut pairs = parse_form(request.uri().query().unwrap_or("")).map_err(bad)?;
    if request.method() == Method::POST {
        let body = read_limited(
            request,
            BodyLimit {
                bytes: FORM_BODY_BYTES_MAX,
                name: "the form body limit",
            },
        )
        .await
        .map_err(|error| (error.kind.status(), error.message))?;
        let body = std::str::from_utf8(&body).map_err(|_| bad("the form body is not UTF-8"))?;
        pairs.extend(parse_form(body).map_err(bad)?);
    }
    let body = body_of(&pairs)?;
    let mut plan = {
        let catalog = ctx.catalog.borrow();
        compile(body, &catalog, &ctx.config.query).map_err(|error| match error {
            PlanError::BadRequest(message) | PlanError::InvalidCursor(message) => bad(message),
            PlanError::UnknownPartition(name) => (
                StatusCode::NOT_FOUND,
                format!("partition {name:?} does not exist"),
            ),
        })?
    };
    access
        .restrict_plan(&mut plan)
        .map_err(|error| (error.kind.status(), error.message))?;
    let slot = QuerySlot::take(ctx).map_err(|error| (error.kind.status(), error.message))?;
    let plan = Arc::new(plan);
    if plan.aggregation.is_some() {
        return Err(bad(
            "aggregating queries (SELECT ... GROUP BY, count(*)) are answered by /api/v1/query, not here",
        ));
    }
    let shards = start_query(ctx, &plan)
        .await
        .map_err(|message| (StatusCode::INTERNAL_SERVER_ERROR, message))?;
    let stream = ResultStream::new(&plan, shards);
    let (body, chunks) = flume::bounded(BODY_CHUNKS_IN_FLIGHT_MAX);
    let ctx = ctx.clone();
    glommio::spawn_local(async move {
        let _slot = slot;
        if let Some(timed_out) = feed(stream, &body).await {
            count_query(&ctx, timed_out);
        }
    })
    .detach();
    Ok(streamed(NDJSON, chunks))
}

/// The engine request: `query` is a `q`; `limit`, `start`, `end` as named.
fn body_of(pairs: &[(String, String)]) -> Result<QueryBody, Refusal> {
    let mut body = QueryBody::default();
    let mut range = TimeRangeBody::default();
    for (name, value) in pairs {
        match name.as_str() {
            "query" => body.q = Some(value.clone()),
            "limit" => {
                body.limit = Some(value.trim().parse::<u64>().map_err(|_| {
                    bad(format!(
                        "cannot parse limit={value:?}: expected a whole number"
                    ))
                })?)
            }
            "start" => range.start = Some(Json::String(value.clone())),
            "end" => range.end = Some(Json::String(value.clone())),
            // Accepted for VictoriaLogs clients; this server has one tenant
            // space and no per-request timeout parameter here.
            "timeout" | "AccountID" | "ProjectID" => {}
            other => {
                return Err(bad(format!(
                    "unknown parameter {other:?}; use query, limit, start or end"
                )))
            }
        }
    }
    if body.q.as_deref().is_none_or(|q| q.trim().is_empty()) {
        return Err(bad("missing query parameter, e.g. query=level:error"));
    }
    if range.start.is_some() || range.end.is_some() {
        body.time_range = Some(range);
    }
    Ok(body)
}

/// Writes the lines; returns whether the query timed out, or `None` if the
/// client left (or a shard failed) first.
async fn feed(mut stream: ResultStream, body: &flume::Sender<Bytes>) -> Option<bool> {
    let mut buffer = Vec::with_capacity(BODY_CHUNK_BYTES);
    let abandoned = || body.is_disconnected();
    loop {
        match stream.next_entry(&abandoned).await {
            Ok(Some(entry)) => {
                write_line(&mut buffer, &entry);
                if buffer.len() >= BODY_CHUNK_BYTES && !send(body, &mut buffer).await {
                    return None;
                }
            }
            Ok(None) if abandoned() => return None,
            Ok(None) => break,
            Err(message) => {
                // The 200 is gone already; VictoriaLogs ends the body too.
                tracing::error!(message, "a /select/logsql/query stream failed");
                send(body, &mut buffer).await;
                return None;
            }
        }
    }
    let summary = stream.finish().await.ok()?;
    send(body, &mut buffer).await.then_some(summary.timed_out)
}

/// One entry as VictoriaLogs writes a log: `_msg`, `_time`, `_stream`,
/// then the other fields flat.
pub fn write_line(out: &mut Vec<u8>, entry: &FoundEntry) {
    let mut object = Map::new();
    object.insert("_msg".into(), Json::String(entry.message.clone()));
    let mut time = String::with_capacity(30);
    format_rfc3339_nanos(entry.timestamp_ns, &mut time);
    object.insert("_time".into(), Json::String(time));
    object.insert("_stream".into(), Json::String(stream_text(entry)));
    if !entry.source.is_empty() {
        object.insert("source".into(), Json::String(entry.source.clone()));
    }
    if !entry.level.as_str().is_empty() {
        object.insert("level".into(), Json::String(entry.level.as_str().into()));
    }
    for (key, value) in &entry.tags {
        object
            .entry(key.clone())
            .or_insert_with(|| Json::String(value.clone()));
    }
    if let Ok(Json::Object(fields)) = serde_json::from_str::<Json>(&entry.fields_json) {
        for (key, value) in fields {
            object.entry(key).or_insert(value);
        }
    }
    serde_json::to_writer(&mut *out, &object).expect("a JSON object serialises");
    out.push(b'\n');
}

/// `{source="api",tag="v"}`: the entry's stream fields, sorted, quoted
/// as JSON strings are.
fn stream_text(entry: &FoundEntry) -> String {
    let mut pairs: Vec<(&str, &str)> = entry
        .tags
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    if !entry.source.is_empty() {
        pairs.push(("source", &entry.source));
    }
    pairs.sort();
    pairs.dedup_by(|a, b| a.0 == b.0);
    let inner: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", Json::String((*value).to_string())))
        .collect();
    format!("{{{}}}", inner.join(","))
}

async fn send(body: &flume::Sender<Bytes>, buffer: &mut Vec<u8>) -> bool {
    if buffer.is_empty() {
        return !body.is_disconnected();
    }
    let chunk = Bytes::from(std::mem::replace(
        buffer,
        Vec::with_capacity(BODY_CHUNK_BYTES),
    ));
    body.send_async(chunk).await.is_ok()
}
