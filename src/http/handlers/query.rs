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
