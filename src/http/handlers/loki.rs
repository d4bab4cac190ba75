//! `POST /loki/api/v1/push` (and Loki's old `/api/prom/push`): Loki's push
//! API, answered as Loki answers, because its clients check.
//!
//! - Success is `204 No Content`, no body.
//! - Errors are plain text, one sentence: `400` for a body Loki would
//!   refuse (clients drop the batch and do not retry), `413` for a body over
//!   `max_request_size`, `429`/`503` with `Retry-After` when overloaded and
//!   `507` when the disk is full (Promtail, Alloy, Vector and Fluent Bit
//!   retry 429 and every 5xx with backoff, so nothing acknowledged is lost
//!   and nothing refused for load is dropped).
//! - The tenant (`X-Scope-OrgID`) names the partition, created on first
//!   write when `api.auto_create_partitions` is on; without the header,
//!   `loki.default_partition`.
//!
//! All or nothing, as the native ingest: nothing is stored unless the
//! answer is 204.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};

use crate::auth::Role;
use crate::http::auth::Access;
use crate::http::body::{decode_content, read_limited, BodyLimit};
use crate::http::error::{ApiError, ErrorKind};
use crate::http::handlers::ingest::{commit_batch, partition_for_write, refuse_if_unwritable};
use crate::http::quota;
use crate::http::response::{HttpResponse, ResponseBody};
use crate::protocol::loki::{self, BodyFormat, LokiError};
use crate::shard::partitions::now_ns;
use crate::shard::ShardContext;
use crate::storage::catalog::validate_name;

/// The tenant header of Loki's multi-tenancy.
const TENANT_HEADER: &str = "x-scope-orgid";

pub async fn push(ctx: &ShardContext, request: Request<Incoming>) -> HttpResponse {
    match push_inner(ctx, request).await {
        Ok(accepted) => {
            tracing::trace!(accepted, "loki push");
            no_content()
        }
        Err(error) => {
            ctx.count(|c| {
                c.ingest_rejected += 1;
                c.http_errors += 1;
            });
            if error.kind == ErrorKind::Internal {
                tracing::error!(code = error.code, message = %error.message, "loki push failed");
            }
            plain_text_error(error)
        }
    }
}

async fn push_inner(ctx: &ShardContext, request: Request<Incoming>) -> Result<usize, ApiError> {
    let partition_name = tenant_partition(ctx, &request)?;
    let access = Access::of(&request);
    access.require_partition(Role::Ingest, &partition_name)?;
    refuse_if_unwritable(ctx)?;
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(CONTENT_TYPE.as_str());
    let content_encoding = header(hyper::header::CONTENT_ENCODING.as_str());
    let limit = BodyLimit {
        bytes: ctx.config.api.max_request_size_bytes,
        name: "max_request_size",
    };
    let body = read_limited(request, limit).await?;
    let body = decode_content(content_encoding.as_deref(), body, limit)?;
    quota::charge_bytes(ctx, &access, body.len())?;
    let mut batch = ctx.store.batch_pool.take();
    let mapping = &ctx.config.loki.mapping;
    let decoded = match loki::body_format(content_type.as_deref()) {
        BodyFormat::Json => loki::decode_json(&body, mapping, now_ns(), &mut batch),
        BodyFormat::Protobuf => loki::decode_protobuf(
            &body,
            content_type.as_deref(),
            (limit.bytes, limit.name),
            mapping,
            now_ns(),
            &mut batch,
        ),
    };
    let charged = decoded.map_err(decode_error).and_then(|accepted| {
        quota::charge_lines(ctx, &access, accepted, body.len()).map(|()| accepted)
    });
    let accepted = match charged {
        Ok(accepted) => accepted,
        Err(error) => {
            ctx.store.batch_pool.put(batch);
            return Err(error);
        }
    };
    if accepted == 0 {
        // Loki answers an empty push with 204 too; there is nothing to commit.
        ctx.store.batch_pool.put(batch);
        return Ok(0);
    }
    let meta = partition_for_write(ctx, &access, &partition_name).await?;
    commit_batch(ctx, &meta, batch, accepted, body.len()).await?;
    Ok(accepted)
}

/// The partition named by `X-Scope-OrgID`, or `loki.default_partition`.
fn tenant_partition(ctx: &ShardContext, request: &Request<Incoming>) -> Result<String, ApiError> {
    let Some(value) = request.headers().get(TENANT_HEADER) else {
        return Ok(ctx.config.loki.default_partition.clone());
    };
    let tenant = value.to_str().map(str::trim).unwrap_or_default();
    if tenant.is_empty() {
        return Ok(ctx.config.loki.default_partition.clone());
    }
    validate_name(tenant).map_err(|reason| {
        ApiError::bad_request(
            "invalid_tenant",
            format!("X-Scope-OrgID names the partition to write, and {reason}"),
        )
    })?;
    Ok(tenant.to_string())
}

/// The one place a decode error becomes a status: 413 for size, else 400.
fn decode_error(error: LokiError) -> ApiError {
    match error {
        LokiError::TooLarge { .. } => {
            ApiError::new(ErrorKind::PayloadTooLarge, error.code(), error.to_string())
        }
        _ => ApiError::bad_request(error.code(), error.to_string()),
    }
}

fn no_content() -> HttpResponse {
    let mut response = Response::new(ResponseBody::Full(None));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// Loki's error shape: the status and a plain-text sentence (Promtail and
/// Alloy log the body as they get it), with `Retry-After` when retrying
/// later helps.
fn plain_text_error(error: ApiError) -> HttpResponse {
    let mut body = error.message;
    body.push('\n');
    let mut response = Response::new(ResponseBody::Full(Some(body.into())));
    *response.status_mut() = error.kind.status();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(seconds) = error.retry_after_seconds {
        response.headers_mut().insert(RETRY_AFTER, seconds.into());
    }
    response
}
