//! `POST /v1/logs`: OTLP/HTTP logs, protobuf or JSON, answered in the
//! request's encoding as the OpenTelemetry Collector answers.
//!
//! Statuses follow the OTLP/HTTP specification, because its clients act on
//! them: 200 with an empty `ExportLogsServiceResponse` (or `partial_success`
//! naming the records rejected, the rest stored); 400 with a
//! `google.rpc.Status` for a body that cannot be decoded (never retried);
//! 429 or 503 with `Retry-After` when the server cannot take writes now
//! (clients retry only 429, 502, 503 and 504, so a full disk, TimberDB's
//! 507, is answered 503 too, and so is a server that stopped taking writes).

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
use crate::protocol::otlp::convert::{convert, Converted};
use crate::protocol::otlp::response::{code, export_response, status};
use crate::protocol::otlp::{decode, Encoding};
use crate::shard::partitions::now_ns;
use crate::shard::ShardContext;

/// Seconds a client is told to wait when `ApiError` names none.
const RETRY_AFTER_SECONDS_DEFAULT: u32 = 1;

pub async fn export_logs(ctx: &ShardContext, request: Request<Incoming>) -> HttpResponse {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let Some(encoding) = Encoding::from_content_type(content_type) else {
        let error = ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            format!("Content-Type {content_type:?} is not supported on /v1/logs; send application/x-protobuf or application/json"),
        );
        ctx.count(|c| c.ingest_rejected += 1);
        return error_response(Encoding::Json, error);
    };
    match export(ctx, encoding, request).await {
        Ok(response) => response,
        Err(error) => {
            ctx.count(|c| c.ingest_rejected += 1);
            error_response(encoding, error)
        }
    }
}

async fn export(
    ctx: &ShardContext,
    encoding: Encoding,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    refuse_if_unwritable(ctx)?;
    let access = Access::of(&request);
    let content_encoding = request
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let limit = BodyLimit {
        bytes: ctx.config.api.max_request_size_bytes,
        name: "max_request_size",
    };
    let body = read_limited(request, limit).await?;
    let body_bytes = body.len();
    let body = decode_content(content_encoding.as_deref(), body, limit)?;
    quota::charge_bytes(ctx, &access, body.len())?;
    let decoded = decode(encoding, &body)
        .map_err(|error| ApiError::bad_request("invalid_otlp", error.to_string()))?;
    let converted = convert(&decoded, &ctx.config.otlp, now_ns(), || {
        ctx.store.batch_pool.take()
    });
    drop(decoded);
    let Converted {
        batches,
        rejected_count,
        first_rejection,
    } = converted;
    // Every partition is checked before any is written: a request with one
    // partition outside the key's grant writes nothing.
    let lines: usize = batches.iter().map(|target| target.entry_count).sum();
    let admitted = batches
        .iter()
        .try_for_each(|target| access.require_partition(Role::Ingest, &target.partition))
        .and_then(|()| quota::charge_lines(ctx, &access, lines, body.len()));
    if let Err(error) = admitted {
        batches
            .into_iter()
            .for_each(|rest| ctx.store.batch_pool.put(rest.batch));
        return Err(error);
    }
    commit_all(ctx, &access, batches, body_bytes).await?;
    let message = first_rejection.unwrap_or_default();
    Ok(reply(
        StatusCode::OK,
        encoding,
        export_response(encoding, rejected_count, &message),
    ))
}

/// Commits each partition's batch in turn. A failure part-way leaves the
/// earlier partitions' entries stored; the client retries the request and
/// those come twice (OTLP's delivery is at least once).
async fn commit_all(
    ctx: &ShardContext,
    access: &Access,
    batches: Vec<crate::protocol::otlp::convert::PartitionBatch>,
    body_bytes: usize,
) -> Result<(), ApiError> {
    let mut batches = batches.into_iter();
    while let Some(target) = batches.next() {
        if target.entry_count == 0 {
            ctx.store.batch_pool.put(target.batch);
            continue;
        }
        let meta = match partition_for_write(ctx, access, &target.partition).await {
            Ok(meta) => meta,
            Err(error) => {
                ctx.store.batch_pool.put(target.batch);
                batches.for_each(|rest| ctx.store.batch_pool.put(rest.batch));
                return Err(error);
            }
        };
        if let Err(error) =
            commit_batch(ctx, &meta, target.batch, target.entry_count, body_bytes).await
        {
            batches.for_each(|rest| ctx.store.batch_pool.put(rest.batch));
            return Err(error);
        }
    }
    Ok(())
}

/// The one place TimberDB's errors become OTLP statuses: what a client
/// should retry is 429 or 503 with `Retry-After`, everything else is final.
fn otlp_status(error: &ApiError) -> (StatusCode, i32, bool) {
    match error.kind {
        ErrorKind::BadRequest | ErrorKind::UnsupportedMediaType => {
            (error.kind.status(), code::INVALID_ARGUMENT, false)
        }
        ErrorKind::PayloadTooLarge => (error.kind.status(), code::INVALID_ARGUMENT, false),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, code::NOT_FOUND, false),
        ErrorKind::MethodNotAllowed | ErrorKind::NotImplemented => {
            (error.kind.status(), code::UNIMPLEMENTED, false)
        }
        ErrorKind::UriTooLong | ErrorKind::HeadersTooLarge => {
            (error.kind.status(), code::INVALID_ARGUMENT, false)
        }
        ErrorKind::Conflict => (error.kind.status(), code::ABORTED, false),
        // The client sent its body too slowly: worth a retry.
        ErrorKind::RequestTimeout => (error.kind.status(), code::DEADLINE_EXCEEDED, true),
        ErrorKind::Overloaded => (
            StatusCode::TOO_MANY_REQUESTS,
            code::RESOURCE_EXHAUSTED,
            true,
        ),
        ErrorKind::Unavailable | ErrorKind::DiskFull => {
            (StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE, true)
        }
        // A server that stopped writing after an I/O failure takes writes
        // again once restarted: worth a retry, unlike a request's own fault.
        ErrorKind::Internal if error.code == "writes_stopped" => {
            (StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE, true)
        }
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL, false),
        ErrorKind::Unauthorized => (error.kind.status(), code::UNAUTHENTICATED, false),
        ErrorKind::Forbidden => (error.kind.status(), code::PERMISSION_DENIED, false),
    }
}

fn error_response(encoding: Encoding, error: ApiError) -> HttpResponse {
    if error.kind == ErrorKind::Internal {
        tracing::error!(code = error.code, message = %error.message, "OTLP export failed");
    }
    let (status_code, rpc_code, retryable) = otlp_status(&error);
    let mut response = reply(
        status_code,
        encoding,
        status(encoding, rpc_code, &error.message),
    );
    if retryable {
        let seconds = error
            .retry_after_seconds
            .unwrap_or(RETRY_AFTER_SECONDS_DEFAULT);
        response.headers_mut().insert(RETRY_AFTER, seconds.into());
    }
    response
}

fn reply(status_code: StatusCode, encoding: Encoding, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(ResponseBody::Full(
        Some(bytes::Bytes::from(body)).filter(|body| !body.is_empty()),
    ));
    *response.status_mut() = status_code;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}
