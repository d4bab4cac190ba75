//! `POST /api/v1/query/execute`: compile, fan out to every shard, merge.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::{ApiError, ErrorKind};
use crate::http::response::{json_bytes, HttpResponse};
use crate::query::response::{merge, render};
use crate::query::{compile, PlanError, QueryBody};
use crate::shard::mailbox::{call_all, PeerRequest};
use crate::shard::ShardContext;

/// Query bodies are small; this bounds what we buffer for one.
const QUERY_BODY_BYTES_MAX: usize = 1 << 20;

pub async fn execute(
    ctx: &ShardContext,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
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
    run(ctx, body, started).await
}

/// `GET /api/v1/query?q=...`: the query language for curl users. The URL
/// parameters are `q`, `limit`, `offset`, `order`, `partitions` (names or
/// ids, comma-separated) and `timeout_seconds`.
pub async fn execute_get(
    ctx: &ShardContext,
    query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let body = body_from_url(query.unwrap_or(""))
        .map_err(|message| ApiError::bad_request("invalid_query", message))?;
    run(ctx, body, started).await
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
            "partitions" | "partition" => {
                body.partitions.extend(value.split(',').filter(|p| !p.is_empty()).map(str::to_string));
            }
            "timeout_seconds" => {
                let seconds = value
                    .parse::<f64>()
                    .map_err(|_| format!("URL parameter timeout_seconds={value:?}: expected a number"))?;
                body.timeout_seconds = Some(seconds);
            }
            other => {
                return Err(format!(
                    "unknown URL parameter {other:?}; use q, limit, offset, order, partitions or timeout_seconds"
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
fn percent_decode(text: &str) -> Option<String> {
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
    ctx: &ShardContext,
    body: QueryBody,
    started: Instant,
) -> Result<HttpResponse, ApiError> {
    let plan = {
        let catalog = ctx.catalog.borrow();
        compile(body, &catalog, &ctx.config.query).map_err(|error| match error {
            PlanError::BadRequest(message) => ApiError::bad_request("invalid_query", message),
            PlanError::UnknownPartition(name) => ApiError::partition_not_found(&name),
        })?
    };
    let _slot = QuerySlot::take(ctx)?;
    let plan = Arc::new(plan);
    let results = call_all(ctx, |reply| PeerRequest::Query {
        plan: plan.clone(),
        reply,
    })
    .await
    .map_err(ApiError::internal)?
    .into_iter()
    .collect::<Result<Vec<_>, String>>()
    .map_err(ApiError::internal)?;
    let merged = merge(&plan, results);
    ctx.count(|c| {
        c.query_requests += 1;
        c.queries_timed_out += merged.timed_out as u64;
    });
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(json_bytes(
        StatusCode::OK,
        render(&plan, &merged, elapsed_ms),
    ))
}

/// One of this shard's share of `max_concurrent_queries`, released on drop.
struct QuerySlot<'a> {
    ctx: &'a ShardContext,
}

impl<'a> QuerySlot<'a> {
    fn take(ctx: &'a ShardContext) -> Result<QuerySlot<'a>, ApiError> {
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
        Ok(QuerySlot { ctx })
    }
}

impl Drop for QuerySlot<'_> {
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
}
