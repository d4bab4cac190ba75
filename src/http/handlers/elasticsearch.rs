//! Serves the Elasticsearch routes (`protocol::elasticsearch`): `_bulk`
//! and the handshakes. Every answer has Elasticsearch's shape, errors
//! included (`{"error":{"type","reason",..},"status"}`), and every 2xx
//! carries `X-Elastic-Product: Elasticsearch`, which elasticsearch-py and
//! the Elastic shippers refuse to work without.

use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};

use crate::http::auth::Access;
use crate::http::body::{decode_content, read_limited, BodyLimit};
use crate::http::error::{ApiError, ErrorKind};
use crate::http::handlers::ingest::{commit_batch, partition_for_write, refuse_if_unwritable};
use crate::http::quota;
use crate::http::response::{json_bytes, text, HttpResponse};
use crate::protocol::elasticsearch::bulk::{parse_bulk, BulkPlan, ItemError};
use crate::protocol::elasticsearch::response::{write_bulk_response, GroupOutcome, ResponseFilter};
use crate::protocol::elasticsearch::{self as es, EsRoute};
use crate::protocol::mapped_json::Paths;
use crate::shard::partitions::now_ns;
use crate::shard::ShardContext;

/// Serves one Elasticsearch route; never fails (errors are answers).
pub async fn handle(
    ctx: &ShardContext,
    route: EsRoute<'_>,
    request: Request<Incoming>,
) -> HttpResponse {
    let answer_type = answer_content_type(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let head = method == Method::HEAD;
    let result = match (&method, route) {
        (&Method::POST | &Method::PUT, EsRoute::Bulk(index)) => {
            let index = index.map(str::to_string);
            bulk(ctx, index.as_deref(), request).await
        }
        (&Method::GET | &Method::HEAD, EsRoute::Root) => {
            Ok(ok_json(&es::root_info(&ctx.config.elasticsearch.version)))
        }
        (&Method::GET | &Method::HEAD, EsRoute::ClusterHealth) => {
            Ok(ok_json(&es::cluster_health(ctx.catalog.borrow().len())))
        }
        (&Method::GET | &Method::HEAD, EsRoute::CatHealth) => {
            let json_format = query_arg(request.uri().query(), "format").as_deref() == Some("json");
            let body = es::cat_health(now_ns() / 1_000_000_000, json_format);
            let content_type = if json_format {
                "application/json"
            } else {
                "text/plain; charset=UTF-8"
            };
            Ok(text(StatusCode::OK, content_type, body))
        }
        (&Method::GET | &Method::HEAD, EsRoute::License) => Ok(ok_json(&es::license())),
        (&Method::GET | &Method::HEAD, EsRoute::Xpack) => Ok(ok_json(&es::xpack())),
        (&Method::GET | &Method::HEAD, EsRoute::Setup) => Ok(ok_json(&serde_json::json!({}))),
        (&Method::PUT | &Method::POST | &Method::DELETE, EsRoute::Setup) => {
            Ok(ok_json(&serde_json::json!({"acknowledged": true})))
        }
        _ => Err(method_not_allowed(&path, &method, route)),
    };
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            ctx.count(|c| c.http_errors += 1);
            error
        }
    };
    finish_response(&mut response, answer_type, head);
    response
}

/// Adds the product header to a 2xx, answers in the media type asked for,
/// and drops the body of a HEAD.
fn finish_response(response: &mut HttpResponse, answer_type: Option<HeaderValue>, head: bool) {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    let headers = response.headers_mut();
    if let Some(answer_type) = answer_type.filter(|_| is_json) {
        headers.insert(CONTENT_TYPE, answer_type);
    }
    if response.status().is_success() {
        response.headers_mut().insert(
            "x-elastic-product",
            HeaderValue::from_static("Elasticsearch"),
        );
    }
    if head {
        *response.body_mut() = crate::http::response::ResponseBody::Full(None);
    }
}

/// Clients that ask for `application/vnd.elasticsearch+json;
/// compatible-with=N` (elasticsearch-py 8 and 9) get it back, as
/// Elasticsearch answers them.
fn answer_content_type(request: &Request<Incoming>) -> Option<HeaderValue> {
    let accept = request
        .headers()
        .get(hyper::header::ACCEPT)?
        .to_str()
        .ok()?;
    let compatible = accept
        .split(';')
        .find_map(|part| part.trim().strip_prefix("compatible-with="))?;
    let major: u32 = compatible.trim().parse().ok()?;
    accept.contains("vnd.elasticsearch+json").then(|| {
        HeaderValue::from_str(&format!(
            "application/vnd.elasticsearch+json;compatible-with={major}"
        ))
        .expect("a number in a media type is a valid header value")
    })
}

fn ok_json(value: &serde_json::Value) -> HttpResponse {
    json_bytes(StatusCode::OK, value.to_string().into_bytes())
}

/// Elasticsearch's 405 body, which has a string `error`.
fn method_not_allowed(path: &str, method: &Method, route: EsRoute<'_>) -> HttpResponse {
    let message = format!(
        "Incorrect HTTP method for uri [{path}] and method [{method}], allowed: [{}]",
        route.allow()
    );
    let body = serde_json::json!({"error": message, "status": 405});
    let mut response = json_bytes(
        StatusCode::METHOD_NOT_ALLOWED,
        body.to_string().into_bytes(),
    );
    response.headers_mut().insert(
        hyper::header::ALLOW,
        HeaderValue::from_static(route.allow()),
    );
    response
}

/// An `ApiError` (body too large, overloaded, over a key's quota, disk
/// full...) in Elasticsearch's shape, with the type shippers act on: 429
/// and 503 are `es_rejected_execution_exception`, which they retry (the
/// whole request: a quota refusal stores none of it).
fn es_error(error: &ApiError) -> HttpResponse {
    let status = error.kind.status();
    let body = es::error_body(es_error_type(error), &error.message, status.as_u16());
    let mut response = json_bytes(status, body.to_string().into_bytes());
    if let Some(seconds) = error.retry_after_seconds {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, seconds.into());
    }
    response
}

fn es_error_type(error: &ApiError) -> &'static str {
    match error.kind {
        ErrorKind::NotFound if error.code == "partition_not_found" => "index_not_found_exception",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "es_rejected_execution_exception",
        ErrorKind::PayloadTooLarge => "content_too_long_exception",
        ErrorKind::UnsupportedMediaType => "media_type_header_exception",
        ErrorKind::DiskFull => "cluster_block_exception",
        ErrorKind::Unauthorized | ErrorKind::Forbidden => "security_exception",
        ErrorKind::BadRequest => "parse_exception",
        _ => "exception",
    }
}

/// `POST`/`PUT /_bulk` and `/{index}/_bulk`.
async fn bulk(
    ctx: &ShardContext,
    path_index: Option<&str>,
    request: Request<Incoming>,
) -> Result<HttpResponse, HttpResponse> {
    let started = Instant::now();
    let refused = |error: ApiError| {
        ctx.count(|c| c.ingest_rejected += 1);
        es_error(&error)
    };
    refuse_if_unwritable(ctx).map_err(refused)?;
    let access = Access::of(&request);
    let query = request.uri().query().map(str::to_string);
    let filter = query_arg(query.as_deref(), "filter_path")
        .map_or_else(ResponseFilter::default, |value| {
            ResponseFilter::parse(&value)
        });
    let paths = request_paths(ctx, query.as_deref()).map_err(refused)?;
    let encoding = request
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let limit = BodyLimit {
        bytes: ctx.config.api.max_request_size_bytes,
        name: "max_request_size",
    };
    let body = read_limited(request, limit).await.map_err(refused)?;
    let body = decode_content(encoding.as_deref(), body, limit).map_err(refused)?;
    quota::charge_bytes(ctx, &access, body.len()).map_err(refused)?;
    let pool = &ctx.store.batch_pool;
    let plan =
        parse_bulk(&body, path_index, &paths, now_ns(), &mut || pool.take()).map_err(|error| {
            ctx.count(|c| c.ingest_rejected += 1);
            let value = es::error_body(error.kind, &error.reason, 400);
            json_bytes(StatusCode::BAD_REQUEST, value.to_string().into_bytes())
        })?;
    let BulkPlan { items, groups } = plan;
    let lines: usize = groups.iter().map(|group| group.batch.len()).sum();
    if let Err(error) = quota::charge_lines(ctx, &access, lines, body.len()) {
        groups.into_iter().for_each(|group| pool.put(group.batch));
        return Err(refused(error));
    }
    let mut outcomes: Vec<GroupOutcome> = Vec::with_capacity(groups.len());
    let mut body_bytes = body.len();
    for group in groups {
        let accepted = group.batch.len();
        if accepted == 0 {
            pool.put(group.batch);
            outcomes.push(Err(ItemError {
                status: 500,
                kind: "exception",
                reason: String::new(),
            }));
            continue;
        }
        let committed = match partition_for_write(ctx, &access, &group.index).await {
            Ok(meta) => commit_batch(ctx, &meta, group.batch, accepted, body_bytes).await,
            Err(error) => {
                pool.put(group.batch);
                Err(error)
            }
        };
        body_bytes = 0;
        outcomes.push(
            committed
                .map(|ids| ids.first_id)
                .map_err(|error| item_error(&error)),
        );
    }
    let took_ms = started.elapsed().as_millis() as u64;
    let answer = write_bulk_response(&items, &outcomes, took_ms, &filter);
    Ok(json_bytes(StatusCode::OK, answer.into_bytes()))
}

/// A failed commit as every item of its group reports it.
fn item_error(error: &ApiError) -> ItemError {
    ItemError {
        status: error.kind.status().as_u16(),
        kind: es_error_type(error),
        reason: error.message.clone(),
    }
}

/// The mapping for this request: `[elasticsearch]`'s, with `_msg_field`
/// and `_time_field` from the URL.
fn request_paths(ctx: &ShardContext, query: Option<&str>) -> Result<Paths, ApiError> {
    let mut paths = Paths::new(&ctx.config.elasticsearch.mapping);
    let bad = |reason: String| ApiError::bad_request("invalid_mapping", reason);
    if let Some(fields) = query_arg(query, "_msg_field") {
        paths.set_messages(&fields).map_err(bad)?;
    }
    if let Some(field) = query_arg(query, "_time_field") {
        paths.set_time(&field).map_err(bad)?;
    }
    Ok(paths)
}

/// The percent-decoded value of URL parameter `name`, if present and valid.
pub(crate) fn query_arg(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| percent_decode(value))
}

/// Decodes `%XX` escapes and `+` (a space); `None` when not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
