//! `POST /insert/jsonline`: VictoriaLogs' JSON lines API
//! (`protocol::jsonline`). Answers as VictoriaLogs does: 200 with an
//! empty body, and a plain-text message for anything refused.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::auth::Role;
use crate::http::auth::Access;
use crate::http::body::{decode_content, read_limited, BodyLimit};
use crate::http::error::ApiError;
use crate::http::handlers::elasticsearch::query_arg;
use crate::http::handlers::ingest::{commit_batch, partition_for_write, refuse_if_unwritable};
use crate::http::quota;
use crate::http::response::{text, HttpResponse};
use crate::protocol::jsonline::parse_lines;
use crate::protocol::mapped_json::Paths;
use crate::shard::partitions::now_ns;
use crate::shard::ShardContext;

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

pub async fn insert(ctx: &ShardContext, request: Request<Incoming>) -> HttpResponse {
    match insert_inner(ctx, request).await {
        Ok(()) => text(StatusCode::OK, TEXT_PLAIN, String::new()),
        Err(error) => {
            ctx.count(|c| {
                c.http_errors += 1;
                c.ingest_rejected += 1;
            });
            plain_error(&error)
        }
    }
}

/// An error as VictoriaLogs answers: its status and a line of text.
fn plain_error(error: &ApiError) -> HttpResponse {
    let mut response = text(
        error.kind.status(),
        TEXT_PLAIN,
        format!("{}\n", error.message),
    );
    if let Some(seconds) = error.retry_after_seconds {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, seconds.into());
    }
    response
}

async fn insert_inner(ctx: &ShardContext, request: Request<Incoming>) -> Result<(), ApiError> {
    refuse_if_unwritable(ctx)?;
    let query = request.uri().query().map(str::to_string);
    let arg = |name: &str, header: &str| {
        query_arg(query.as_deref(), name).or_else(|| {
            request
                .headers()
                .get(header)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
        })
    };
    let paths = request_paths(ctx, &arg)?;
    let partition = arg("partition", "timberdb-partition")
        .unwrap_or_else(|| ctx.config.jsonline.partition.clone());
    let access = Access::of(&request);
    access.require_partition(Role::Ingest, &partition)?;
    let encoding = request
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let limit = BodyLimit {
        bytes: ctx.config.api.max_request_size_bytes,
        name: "max_request_size",
    };
    let body = read_limited(request, limit).await?;
    let body = decode_content(encoding.as_deref(), body, limit)?;
    quota::charge_bytes(ctx, &access, body.len())?;
    let mut batch = ctx.store.batch_pool.take();
    let parsed = parse_lines(&body, &paths, now_ns(), &mut batch)
        .map_err(|error| {
            ApiError::bad_request("invalid_line", format!("cannot parse JSON line: {error}"))
        })
        .and_then(|accepted| {
            quota::charge_lines(ctx, &access, accepted, body.len()).map(|()| accepted)
        });
    let accepted = match parsed {
        Ok(accepted) => accepted,
        Err(error) => {
            ctx.store.batch_pool.put(batch);
            return Err(error);
        }
    };
    if accepted == 0 {
        // VictoriaLogs takes an empty body as zero lines.
        ctx.store.batch_pool.put(batch);
        return Ok(());
    }
    let meta = match partition_for_write(ctx, &access, &partition).await {
        Ok(meta) => meta,
        Err(error) => {
            ctx.store.batch_pool.put(batch);
            return Err(error);
        }
    };
    commit_batch(ctx, &meta, batch, accepted, body.len()).await?;
    Ok(())
}

/// `[jsonline]`'s mapping with the request's `_msg_field`, `_time_field`
/// and `_stream_fields` (URL parameters, else the `VL-Msg-Field`,
/// `VL-Time-Field` and `VL-Stream-Fields` headers).
fn request_paths(
    ctx: &ShardContext,
    arg: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Paths, ApiError> {
    let mut paths = Paths::new(&ctx.config.jsonline.mapping);
    let bad = |reason: String| ApiError::bad_request("invalid_mapping", reason);
    if let Some(fields) = arg("_msg_field", "vl-msg-field") {
        paths.set_messages(&fields).map_err(bad)?;
    }
    if let Some(field) = arg("_time_field", "vl-time-field") {
        paths.set_time(&field).map_err(bad)?;
    }
    if let Some(fields) = arg("_stream_fields", "vl-stream-fields") {
        paths.set_tags(&fields).map_err(bad)?;
    }
    Ok(paths)
}
