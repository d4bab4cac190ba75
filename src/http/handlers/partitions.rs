//! Partition endpoints: create, list, get, delete (and `partition_settings`: PATCH).

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::{ApiError, ErrorKind};
use crate::http::response::{json, HttpResponse};
use crate::shard::partitions::{self as admin, AdminError, CreateRequest, SliceStats};
use crate::shard::ShardContext;
use crate::storage::catalog::{PartitionMeta, PARTITION_TAGS_MAX};
use crate::time::format_rfc3339_nanos;

/// Partition requests are small; this bounds what we buffer for one.
const PARTITION_BODY_BYTES_MAX: usize = 64 * 1024;

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    retention_days: Option<u32>,
    /// Bytes as an integer or a size string (`"10GiB"`).
    #[serde(default)]
    max_storage_size: Option<Value>,
}

pub async fn create(
    ctx: &ShardContext,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(
        request,
        BodyLimit {
            bytes: PARTITION_BODY_BYTES_MAX,
            name: "the partition request limit",
        },
    )
    .await?;
    let body: CreateBody = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request(
            "invalid_json",
            format!("expected {{\"name\": string, \"tags\"?: {{string: string}}, \"retention_days\"?: integer, \"max_storage_size\"?: integer or size string}}: {error}"),
        )
    })?;
    if body.tags.len() > PARTITION_TAGS_MAX {
        return Err(ApiError::bad_request(
            "too_many_tags",
            format!("a partition takes at most {PARTITION_TAGS_MAX} tags"),
        ));
    }
    if body.retention_days == Some(0) {
        return Err(ApiError::bad_request(
            "invalid_retention",
            "retention_days must be at least 1 (omit it to keep data forever)",
        ));
    }
    let max_storage_size = match &body.max_storage_size {
        Some(value) => super::partition_settings::max_storage_size(value)?,
        None => None,
    };
    let request = CreateRequest {
        name: body.name,
        tags: body.tags,
        retention_days: body.retention_days,
        max_storage_size,
    };
    let meta = admin::create(ctx, request).await.map_err(admin_error)?;
    Ok(json(
        StatusCode::CREATED,
        &partition_json(ctx, &meta, &SliceStats::default()),
    ))
}

/// Every partition the caller may see (a key with a partition list sees
/// only those).
pub async fn list(
    ctx: &ShardContext,
    access: &crate::http::auth::Access,
) -> Result<HttpResponse, ApiError> {
    let metas: Vec<Arc<PartitionMeta>> = ctx
        .catalog
        .borrow()
        .list()
        .filter(|meta| access.allows_partition(&meta.name))
        .cloned()
        .collect();
    let stats = admin::stats(ctx, None).await.map_err(ApiError::internal)?;
    let partitions: Vec<Value> = metas
        .iter()
        .map(|meta| {
            partition_json(
                ctx,
                meta,
                stats.get(&meta.key).unwrap_or(&SliceStats::default()),
            )
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "partitions": partitions, "count": partitions.len() }),
    ))
}

pub async fn get(ctx: &ShardContext, id_or_name: &str) -> Result<HttpResponse, ApiError> {
    let meta = resolve(ctx, id_or_name)?;
    let stats = admin::stats(ctx, Some(meta.key))
        .await
        .map_err(ApiError::internal)?;
    Ok(json(
        StatusCode::OK,
        &partition_json(
            ctx,
            &meta,
            stats.get(&meta.key).unwrap_or(&SliceStats::default()),
        ),
    ))
}

pub async fn delete(ctx: &ShardContext, id_or_name: &str) -> Result<HttpResponse, ApiError> {
    let meta = resolve(ctx, id_or_name)?;
    admin::delete(ctx, meta.key).await.map_err(admin_error)?;
    Ok(json(
        StatusCode::OK,
        &json!({ "deleted": true, "id": meta.id, "name": meta.name }),
    ))
}

pub fn resolve(ctx: &ShardContext, id_or_name: &str) -> Result<Arc<PartitionMeta>, ApiError> {
    ctx.catalog
        .borrow()
        .find(id_or_name)
        .filter(|meta| !ctx.catalog_pending.borrow().contains(&meta.key))
        .cloned()
        .ok_or_else(|| ApiError::partition_not_found(id_or_name))
}

pub fn partition_json(ctx: &ShardContext, meta: &PartitionMeta, stats: &SliceStats) -> Value {
    let mut created_at = String::new();
    format_rfc3339_nanos(meta.created_at_ns, &mut created_at);
    json!({
        "id": meta.id,
        "name": meta.name,
        "tags": meta.tags,
        "retention_days": meta.retention_days,
        "max_storage_size": meta.max_storage_size,
        "created_at": created_at,
        "entry_count": stats.entry_count,
        "bytes": stats.stored_bytes,
        "blocks": stats.block_count,
        "bytes_on_disk": stats.bytes_on_disk,
        "oldest_timestamp": stats.oldest_timestamp_ns.map(rfc3339),
        "newest_timestamp": stats.newest_timestamp_ns.map(rfc3339),
        "retention": super::partition_settings::retention_json(
            ctx,
            meta.retention_days,
            meta.max_storage_size,
            stats,
        ),
        "quarantined": {
            "blocks": stats.quarantined.blocks,
            "entries": stats.quarantined.entries,
        },
    })
}

fn rfc3339(timestamp_ns: i64) -> String {
    let mut text = String::new();
    format_rfc3339_nanos(timestamp_ns, &mut text);
    text
}

pub fn admin_error(error: AdminError) -> ApiError {
    match error {
        AdminError::NameTaken(name) => ApiError::new(
            ErrorKind::Conflict,
            "partition_exists",
            format!("a partition named {name:?} already exists; names are unique"),
        ),
        AdminError::InvalidName(reason) => ApiError::bad_request("invalid_name", reason),
        AdminError::TooMany => ApiError::new(
            ErrorKind::Conflict,
            "too_many_partitions",
            format!(
                "the server holds the most partitions it allows ({})",
                crate::storage::catalog::PARTITIONS_MAX
            ),
        ),
        AdminError::NotFound(id) => ApiError::partition_not_found(&id),
        AdminError::Internal(reason) => ApiError::internal(reason),
    }
}
