//! Snapshot endpoints: `POST/GET /api/v1/admin/snapshots`,
//! `GET/DELETE /api/v1/admin/snapshots/{name}` (see `shard::snapshot`).

use std::path::Path;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::{ApiError, ErrorKind};
use crate::http::response::{json, HttpResponse};
use crate::shard::snapshot::{self, SnapshotRefusal};
use crate::shard::ShardContext;
use crate::storage::snapshot::SnapshotInfo;

/// A snapshot request names at most a name; this bounds what we buffer.
const SNAPSHOT_BODY_BYTES_MAX: usize = 4 * 1024;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: Option<String>,
}

pub async fn create(
    ctx: &ShardContext,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(
        request,
        BodyLimit {
            bytes: SNAPSHOT_BODY_BYTES_MAX,
            name: "the snapshot request limit",
        },
    )
    .await?;
    let body: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::bad_request(
                "invalid_json",
                format!("expected no body or {{\"name\": string}}: {error}"),
            )
        })?
    };
    let info = snapshot::create(ctx, body.name)
        .await
        .map_err(refusal_error)?;
    let dir = ctx.config.storage.snapshot_root().join(&info.name);
    Ok(json(StatusCode::CREATED, &snapshot_json(&dir, &info)))
}

pub async fn list(ctx: &ShardContext) -> Result<HttpResponse, ApiError> {
    let found = snapshot::list(ctx).await.map_err(refusal_error)?;
    let snapshots: Vec<Value> = found
        .iter()
        .map(|(dir, info)| snapshot_json(dir, info))
        .collect();
    Ok(json(StatusCode::OK, &json!({ "snapshots": snapshots })))
}

pub async fn get(ctx: &ShardContext, name: &str) -> Result<HttpResponse, ApiError> {
    let (dir, info) = snapshot::get(ctx, name).await.map_err(refusal_error)?;
    Ok(json(StatusCode::OK, &snapshot_json(&dir, &info)))
}

pub async fn delete(ctx: &ShardContext, name: &str) -> Result<HttpResponse, ApiError> {
    snapshot::delete(ctx, name).await.map_err(refusal_error)?;
    Ok(json(StatusCode::OK, &json!({ "deleted": name })))
}

fn snapshot_json(dir: &Path, info: &SnapshotInfo) -> Value {
    json!({
        "name": info.name,
        "created_at": info.created_at,
        "path": dir.display().to_string(),
        "partitions": info.partition_count,
        "files": info.files.len(),
        "bytes": info.total_bytes(),
    })
}

fn refusal_error(refusal: SnapshotRefusal) -> ApiError {
    match refusal {
        SnapshotRefusal::InvalidName(reason) => {
            ApiError::bad_request("invalid_snapshot_name", reason)
        }
        SnapshotRefusal::Exists(name) => ApiError::new(
            ErrorKind::Conflict,
            "snapshot_exists",
            format!(
                "a snapshot named {name:?} already exists; pick another name or delete it first"
            ),
        ),
        SnapshotRefusal::NotFound(name) => ApiError::new(
            ErrorKind::NotFound,
            "snapshot_not_found",
            format!("no snapshot is named {name:?}; GET /api/v1/admin/snapshots lists them"),
        ),
        SnapshotRefusal::Internal(reason) => ApiError::new(
            ErrorKind::Internal,
            "snapshot_failed",
            format!("the snapshot could not be taken or read: {reason}"),
        ),
    }
}
