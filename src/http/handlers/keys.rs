//! `/api/v1/admin/keys`: create (the key is answered once), list (ids,
//! roles, partitions, quotas: never secrets or hashes), change a key's
//! quota (`PATCH`, a JSON merge patch), revoke. Admin keys only;
//! `shard::keys` makes each change durable and known to every shard before
//! it answers.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{KeyRecord, KeySpec, Role};
use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::{ApiError, ErrorKind};
use crate::http::response::{json, HttpResponse};
use crate::quota::QuotaOverride;
use crate::shard::keys::{self as admin, KeyAdminError};
use crate::shard::ShardContext;

/// A key request is a few hundred bytes; this bounds what we buffer.
const KEY_BODY_BYTES_MAX: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    role: String,
    #[serde(default)]
    partitions: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    /// The key's own quota settings (`quota::limits`); absent: the default.
    #[serde(default)]
    quota: Option<Value>,
}

/// `PATCH /api/v1/admin/keys/{id}`: what may change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    /// A JSON merge patch over the key's quota settings; `null` clears them.
    quota: Value,
}

/// Reads a key request's JSON body (bounded); `400 invalid_json` saying
/// what was `expected` when it does not parse.
async fn read_body<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
    expected: &str,
) -> Result<T, ApiError> {
    let limit = BodyLimit {
        bytes: KEY_BODY_BYTES_MAX,
        name: "the key request limit",
    };
    let body = read_limited(request, limit).await?;
    serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request("invalid_json", format!("expected {expected}: {error}"))
    })
}

pub async fn create(
    ctx: &ShardContext,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let expected = "{\"role\": \"ingest\" | \"query\" | \"admin\", \"partitions\"?: [names or globs], \"name\"?: string, \"quota\"?: {...}}";
    let body: CreateBody = read_body(request, expected).await?;
    let Some(role) = Role::parse(&body.role) else {
        return Err(ApiError::bad_request(
            "invalid_role",
            format!("role {:?} is not one of ingest, query, admin", body.role),
        ));
    };
    let quota = match &body.quota {
        Some(patch) => QuotaOverride::default()
            .merged(patch)
            .map_err(|reason| ApiError::bad_request("invalid_quota", reason))?,
        None => QuotaOverride::default(),
    };
    let spec = KeySpec {
        role,
        partitions: body.partitions,
        name: body.name,
        quota,
    };
    let (record, text) = admin::create(ctx, spec).await.map_err(key_error)?;
    let mut answer = record_json(ctx, &record);
    answer["key"] = json!(text);
    answer["note"] = json!("this is the only time the key is shown; store it now");
    Ok(json(StatusCode::CREATED, &answer))
}

pub fn list(ctx: &ShardContext) -> Result<HttpResponse, ApiError> {
    let keys: Vec<Value> = ctx
        .auth
        .ring()
        .records()
        .iter()
        .map(|record| record_json(ctx, record))
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "keys": keys, "count": keys.len() }),
    ))
}

pub async fn revoke(ctx: &ShardContext, id: &str) -> Result<HttpResponse, ApiError> {
    admin::revoke(ctx, id.to_string())
        .await
        .map_err(key_error)?;
    Ok(json(StatusCode::OK, &json!({ "revoked": true, "id": id })))
}

/// `PATCH /api/v1/admin/keys/{id}` with `{"quota": {...}}`: changes the
/// key's quota on every shard before it answers.
pub async fn update(
    ctx: &ShardContext,
    id: &str,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let expected = "{\"quota\": {\"lines_per_second\"?, \"bytes_per_second\"?, \"burst_seconds\"?, \"concurrent_queries\"?} or null}";
    let body: UpdateBody = read_body(request, expected).await?;
    let record = admin::update_quota(ctx, id.to_string(), body.quota)
        .await
        .map_err(key_error)?;
    Ok(json(StatusCode::OK, &record_json(ctx, &record)))
}

/// A key as the API shows it: no salt, no hash. `quota` is the key's own
/// settings, `quota_effective` those over the node's default (0: unlimited).
fn record_json(ctx: &ShardContext, record: &KeyRecord) -> Value {
    let effective = record.quota.resolve(&ctx.config.quotas);
    json!({
        "id": record.id,
        "name": record.name,
        "role": record.role.as_str(),
        "partitions": record.partitions,
        "created_at": record.created_at,
        "quota": record.quota,
        "quota_effective": {
            "lines_per_second": effective.lines_per_second,
            "bytes_per_second": effective.bytes_per_second,
            "burst_seconds": effective.burst_seconds,
            "concurrent_queries": effective.concurrent_queries,
        },
    })
}

fn key_error(error: KeyAdminError) -> ApiError {
    match error {
        KeyAdminError::Invalid(message) => ApiError::bad_request("invalid_key_request", message),
        KeyAdminError::NotFound(id) => ApiError::new(
            ErrorKind::NotFound,
            "key_not_found",
            format!("no API key has the id {id:?}; GET /api/v1/admin/keys lists them"),
        ),
        KeyAdminError::Internal(message) => {
            ApiError::internal(format!("the key change was not made: {message}"))
        }
    }
}
