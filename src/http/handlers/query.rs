//! `POST /api/v1/query/execute`: compile, start on every shard, merge the
//! shards' streams as they arrive, and answer JSON (the page buffered, at
//! most `query.max_result_bytes`) or NDJSON (streamed, see `query_ndjson`).

use crate::http::auth::Access;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::query_ndjson;
use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::{ApiError, ErrorKind};
use crate::http::negotiate::accepts;
use crate::http::response::{json_bytes, HttpResponse};
use crate::query::response::{render_aggregate, render_page, write_entry};
use crate::query::{compile, PlanError, QueryBody, QueryPlan, ResultStream};
use crate::shard::mailbox::start_query;
use crate::shard::ShardContext;

/// The media type of a streamed answer, in `Accept` or `Content-Type`.
pub const NDJSON: &str = "application/x-ndjson";

/// How the client wants the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// One JSON body, built whole (bounded by `max_result_bytes`).
    Json,
    /// One line per entry as the merge produces it, then a metadata line.
    Ndjson,
}

/// Query bodies are small; this bounds what we buffer for one.
const QUERY_BODY_BYTES_MAX: usize = 1 << 20;

pub async fn execute(
    ctx: &Rc<ShardContext>,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let accepts_ndjson = accepts_ndjson(&request);
    let access = Access::of(&request);
    let body = read_limited(
        request,
        BodyLimit {
            bytes: QUERY_BODY_BYTES_MAX,
            name: "the query body limit",
        },
    )
    .await?;
    let body: QueryBody = if body.iter().all(u8::is_ascii_whitespace) {
        QueryBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::bad_request(
                "invalid_query",
                format!("the query body is not valid: {error}"),
            )
        })?
    };
    run(ctx, &access, body, accepts_ndjson, started).await
}

/// `GET /api/v1/query?q=...`: the query language for curl users. The URL
/// parameters are `q`, `limit`, `offset`, `cursor`, `order`, `partitions`
/// (names or ids, comma-separated), `timeout_seconds` and `format`.
pub async fn execute_get(
    ctx: &Rc<ShardContext>,
    request: &Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let body = body_from_url(request.uri().query().unwrap_or(""))
        .map_err(|message| ApiError::bad_request("invalid_query", message))?;
    run(
        ctx,
        &Access::of(request),
        body,
        accepts_ndjson(request),
        started,
    )
    .await
}

/// Whether `Accept` names NDJSON.
fn accepts_ndjson<B>(request: &Request<B>) -> bool {
    accepts(request, NDJSON)
}

/// The answer's format: the body's or URL's `format`, else `Accept`.
fn format_of(format: Option<&str>, accepts_ndjson: bool) -> Result<Format, ApiError> {
    match format.map(str::to_ascii_lowercase).as_deref() {
        None if accepts_ndjson => Ok(Format::Ndjson),
        None | Some("json") => Ok(Format::Json),
        Some("ndjson") => Ok(Format::Ndjson),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query",
            format!("format {other:?} is not one of \"json\", \"ndjson\""),
        )),
    }
}

fn body_from_url(query: &str) -> Result<QueryBody, String> {
    let mut body = QueryBody::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .ok_or_else(|| format!("URL parameter {name}: bad percent-encoding or not UTF-8"))?;
        let number = |value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("URL parameter {name}={value:?}: expected a whole number"))
        };
        match name {
            "q" => body.q = Some(value),
            "limit" => body.limit = Some(number(&value)?),
            "offset" => body.offset = Some(number(&value)?),
            "order" => body.order = Some(value),
            "cursor" => body.cursor = Some(value),
            "partitions" | "partition" => {
                body.partitions.extend(value.split(',').filter(|p| !p.is_empty()).map(str::to_string));
            }
            "format" => body.format = Some(value),
            "timeout_seconds" => {
                let seconds = value
                    .parse::<f64>()
                    .map_err(|_| format!("URL parameter timeout_seconds={value:?}: expected a number"))?;
                body.timeout_seconds = Some(seconds);
            }
            other => {
                return Err(format!(
                    "unknown URL parameter {other:?}; use q, limit, offset, cursor, order, partitions, timeout_seconds or format"
                ))
            }
        }
    }
    if body.q.is_none() {
        return Err("GET /api/v1/query needs a q parameter, e.g. ?q=level:error".into());
    }
    Ok(body)
}

/// Decodes `%XX` escapes and `+` (a space, as HTML forms and curl's
/// `--data-urlencode` with `-G` send it).
pub(super) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

async fn run(
    ctx: &Rc<ShardContext>,
    access: &Access,
    body: QueryBody,
    accepts_ndjson: bool,
    started: Instant,
) -> Result<HttpResponse, ApiError> {
    let format = format_of(body.format.as_deref(), accepts_ndjson)?;
    let mut plan = {
        let catalog = ctx.catalog.borrow();
        compile(body, &catalog, &ctx.config.query).map_err(|error| match error {
            PlanError::BadRequest(message) => ApiError::bad_request("invalid_query", message),
            PlanError::UnknownPartition(name) => ApiError::partition_not_found(&name),
            PlanError::InvalidCursor(message) => ApiError::bad_request("invalid_cursor", message),
        })?
    };
    access.restrict_plan(&mut plan)?;
    let slot = QuerySlot::take(ctx)?;
    let plan = Arc::new(plan);
    let shards = start_query(ctx, &plan).await.map_err(ApiError::internal)?;
    let stream = ResultStream::new(&plan, shards);
    if let Some(aggregation) = &plan.aggregation {
        // Rows of groups are few (bounded per query), so an aggregation
        // answers one JSON body even when NDJSON was asked for.
        let summary = stream.finish().await.map_err(ApiError::internal)?;
        count_query(ctx, summary.timed_out);
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let body = render_aggregate(&plan, aggregation, &summary, elapsed_ms);
        return Ok(json_bytes(StatusCode::OK, body));
    }
    match format {
        Format::Ndjson => Ok(query_ndjson::respond(
            ctx.clone(),
            slot,
            plan,
            stream,
            started,
        )),
        Format::Json => json_page(ctx, &plan, stream, started).await,
    }
}

/// Buffers the page as rendered JSON, refusing it with 413 once it passes
/// `max_result_bytes` (dropping the stream then stops every shard).
async fn json_page(
    ctx: &ShardContext,
    plan: &QueryPlan,
    mut stream: ResultStream,
    started: Instant,
) -> Result<HttpResponse, ApiError> {
    let max_result_bytes = ctx.config.query.max_result_bytes;
    let mut entries_json = Vec::new();
    let mut returned_count = 0;
    while let Some(entry) = stream
        .next_entry(&|| false)
        .await
        .map_err(ApiError::internal)?
    {
        if returned_count > 0 {
            entries_json.push(b',');
        }
        write_entry(&mut entries_json, &entry);
        returned_count += 1;
        if entries_json.len() > max_result_bytes {
            return Err(result_too_large(max_result_bytes));
        }
    }
    let summary = stream.finish().await.map_err(ApiError::internal)?;
    count_query(ctx, summary.timed_out);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let body = render_page(plan, &entries_json, returned_count, &summary, elapsed_ms);
    Ok(json_bytes(StatusCode::OK, body))
}

fn result_too_large(max_result_bytes: usize) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        "result_too_large",
        format!(
            "the result is larger than query.max_result_bytes ({max_result_bytes} bytes); lower `limit`, or stream it as NDJSON (send `Accept: {NDJSON}` or `format=ndjson`), which has no such limit"
        ),
    )
}

/// Counts a finished query for `/metrics`.
pub(super) fn count_query(ctx: &ShardContext, timed_out: bool) {
    ctx.count(|c| {
        c.query_requests += 1;
        c.queries_timed_out += timed_out as u64;
    });
}

/// One of this shard's share of `max_concurrent_queries`, released on drop
/// (for a streamed answer, when its feeding task ends).
pub(super) struct QuerySlot {
    ctx: Rc<ShardContext>,
}

impl QuerySlot {
    pub(super) fn take(ctx: &Rc<ShardContext>) -> Result<QuerySlot, ApiError> {
        let per_shard = (ctx.config.query.max_concurrent_queries / ctx.shard_count as usize).max(1);
        if ctx.queries_running.get() >= per_shard {
            return Err(ApiError::new(
                ErrorKind::Overloaded,
                "too_many_queries",
                format!("{per_shard} queries are already running on this connection's shard; retry shortly"),
            )
            .retry_after(1));
        }
        ctx.queries_running.set(ctx.queries_running.get() + 1);
        Ok(QuerySlot { ctx: ctx.clone() })
    }
}

impl Drop for QuerySlot {
    fn drop(&mut self) {
        self.ctx
            .queries_running
            .set(self.ctx.queries_running.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters() {
        let body =
            body_from_url("q=level%3Aerror+%22conn+reset%22&limit=5&partitions=a,b&order=asc")
                .unwrap();
        assert_eq!(body.q.as_deref(), Some("level:error \"conn reset\""));
        assert_eq!(body.limit, Some(5));
        assert_eq!(body.partitions, vec!["a", "b"]);
        assert_eq!(body.order.as_deref(), Some("asc"));
        let body = body_from_url("q=x&cursor=00ab&limit=2").unwrap();
        assert_eq!(
            body.cursor.as_deref(),
            Some("00ab"),
            "the GET form's cursor"
        );
        assert!(body_from_url("limit=5").unwrap_err().contains("needs a q"));
        assert!(body_from_url("q=x&limit=ten")
            .unwrap_err()
            .contains("whole number"));
        assert!(body_from_url("q=x&colour=red")
            .unwrap_err()
            .contains("unknown URL parameter"));
        assert!(body_from_url("q=%zz")
            .unwrap_err()
            .contains("percent-encoding"));
        assert_eq!(percent_decode("%C3%BCber").as_deref(), Some("über"));
    }

    #[test]
    fn format_from_parameter_or_accept() {
        assert_eq!(format_of(None, false).unwrap(), Format::Json);
        assert_eq!(format_of(None, true).unwrap(), Format::Ndjson);
        assert_eq!(format_of(Some("NDJSON"), false).unwrap(), Format::Ndjson);
        assert_eq!(format_of(Some("json"), true).unwrap(), Format::Json);
        assert!(format_of(Some("csv"), false).is_err());
    }
}
