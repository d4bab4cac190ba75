//! `POST /api/v1/partitions/{id}/logs`: parse, commit durably, answer.
//!
//! The batch is parsed on the shard that received it and appended to that
//! shard's slice of the partition: no cross-core hop on the ingest path.
//! All or nothing: a bad entry rejects the whole request, and nothing is
//! stored unless the answer is 200.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::entry::{ColumnBatch, EntryId};
use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::{from_commit, ApiError, ErrorKind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::Role;
use crate::http::auth::Access;
use crate::http::handlers::partitions::{admin_error, resolve};
use crate::http::quota;
use crate::http::response::{json, HttpResponse};
use crate::ingest::{detect_format, parse_body};
use crate::shard::commit::CommitItem;
use crate::shard::partitions::{self as admin, now_ns, AdminError, CreateRequest};
use crate::shard::ShardContext;
use crate::storage::catalog::PartitionMeta;

pub async fn ingest(
    ctx: &ShardContext,
    id_or_name: &str,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let result = ingest_inner(ctx, id_or_name, request).await;
    if result.is_err() {
        ctx.count(|c| c.ingest_rejected += 1);
    }
    result
}

async fn ingest_inner(
    ctx: &ShardContext,
    id_or_name: &str,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let meta = resolve(ctx, id_or_name)?;
    refuse_if_unwritable(ctx)?;
    let access = Access::of(&request);
    let content_type = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = read_limited(
        request,
        BodyLimit {
            bytes: ctx.config.api.max_request_size_bytes,
            name: "max_request_size",
        },
    )
    .await?;
    quota::charge_bytes(ctx, &access, body.len())?;
    // A reused batch keeps its columns' capacity: no regrowth per request.
    let mut batch = ctx.store.batch_pool.take();
    let format = detect_format(content_type.as_deref(), &body);
    let parsed = parse_body(&body, format, now_ns(), &mut batch)
        .map_err(|error| ApiError::bad_request(error.code(), error.to_string()))
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
    let committed = commit_batch(ctx, &meta, batch, accepted, body.len()).await?;
    let (first_id, last_id) = (committed.first_id, committed.last_id);
    Ok(json(
        StatusCode::OK,
        &json!({
            "accepted": accepted,
            "partition_id": meta.id,
            "first_id": first_id.to_string(),
            "last_id": last_id.to_string(),
        }),
    ))
}

/// The ids a committed batch was given.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    pub first_id: EntryId,
    pub last_id: EntryId,
}

/// Makes `batch` (parsed, `accepted` entries, from a body of `body_bytes`)
/// durable in partition `meta` on this shard, whatever protocol it came
/// in: refuses it when it cannot fit the WAL, hands it to the commit loop
/// and waits until it is durable, then counts it.
pub async fn commit_batch(
    ctx: &ShardContext,
    meta: &PartitionMeta,
    batch: ColumnBatch,
    accepted: usize,
    body_bytes: usize,
) -> Result<Committed, ApiError> {
    if let Err(error) = refuse_if_too_large_for_wal(ctx, &batch) {
        ctx.store.batch_pool.put(batch);
        return Err(error);
    }
    let (reply, answer) = flume::bounded(1);
    let item = CommitItem::Append {
        partition_key: meta.key,
        batch,
        reply,
    };
    if ctx.commit_tx.try_send(item).is_err() {
        return Err(overloaded("the write-ahead log queue is full"));
    }
    let ack = answer
        .recv_async()
        .await
        .map_err(|_| ApiError::internal("the commit loop stopped before answering"))?
        .map_err(|error| from_commit(&error))?;
    ctx.count(|c| {
        c.ingest_requests += 1;
        c.ingest_entries += accepted as u64;
        c.ingest_bytes += body_bytes as u64;
    });
    let id = |seq| EntryId {
        slice: ctx.shard_id,
        seq,
    };
    Ok(Committed {
        first_id: id(ack.first_seq),
        last_id: id(ack.last_seq),
    })
}

/// How long a write waits for a partition that another request is creating
/// at the same moment (shard 0 makes it durable, then tells every shard).
/// Far above one catalog fsync; a wait this long means the create failed,
/// and the client retries the 503.
const PARTITION_CREATE_WAIT_MAX: Duration = Duration::from_secs(10);
const PARTITION_CREATE_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// The partition a shipper's protocol writes to by name: the existing one,
/// or (when `api.auto_create_partitions` is on) a new one, as Elasticsearch
/// creates an index on first write.
///
/// The caller must hold an ingest grant on `name` (`403` otherwise), which
/// is also checked before a partition is created for it.
///
/// A name another request is creating meanwhile is waited for, not refused:
/// shard 0 refuses the second create as taken before the first is durable
/// and known to this shard, so the loser polls (bounded) until it arrives,
/// rather than failing a write that a moment later would succeed.
pub async fn partition_for_write(
    ctx: &ShardContext,
    access: &Access,
    name: &str,
) -> Result<Arc<PartitionMeta>, ApiError> {
    access.require_partition(Role::Ingest, name)?;
    if let Ok(meta) = resolve(ctx, name) {
        return Ok(meta);
    }
    if !ctx.config.api.auto_create_partitions {
        return Err(ApiError::partition_not_found(name));
    }
    let request = CreateRequest {
        name: name.to_string(),
        tags: Default::default(),
        retention_days: None,
        max_storage_size: None,
    };
    match admin::create(ctx, request).await {
        Ok(meta) => Ok(meta),
        Err(AdminError::NameTaken(_)) => wait_for_partition(ctx, name).await,
        Err(error) => Err(admin_error(error)),
    }
}

async fn wait_for_partition(
    ctx: &ShardContext,
    name: &str,
) -> Result<Arc<PartitionMeta>, ApiError> {
    let started = Instant::now();
    loop {
        if let Ok(meta) = resolve(ctx, name) {
            return Ok(meta);
        }
        if started.elapsed() >= PARTITION_CREATE_WAIT_MAX {
            return Err(ApiError::new(
                ErrorKind::Unavailable,
                "partition_not_ready",
                format!("partition {name:?} is being created by another request and is not ready yet; retry"),
            )
            .retry_after(1));
        }
        glommio::timer::sleep(PARTITION_CREATE_POLL_INTERVAL).await;
    }
}

/// Refuses before reading the body when the shard cannot take it, so an
/// overloaded server does not also spend memory on request bodies.
pub fn refuse_if_unwritable(ctx: &ShardContext) -> Result<(), ApiError> {
    if let Some(reason) = ctx.store.writes_stopped.borrow().as_ref() {
        return Err(ApiError::new(
            ErrorKind::Internal,
            "writes_stopped",
            format!("this server stopped taking writes after an I/O failure and needs a restart: {reason}"),
        ));
    }
    if ctx.shutting_down.get() {
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            "shutting_down",
            "the server is shutting down; retry against another node or after it restarts",
        )
        .retry_after(5));
    }
    if ctx.store.disk_full.get() {
        return Err(ApiError::new(
            ErrorKind::DiskFull,
            "disk_full",
            "the server is out of disk space and cannot seal blocks; free space (or raise retention) and retry",
        )
        .retry_after(60));
    }
    if let Some(reason) = ctx.store.wal_space_short.borrow().as_ref() {
        return Err(ApiError::new(
            ErrorKind::DiskFull,
            "disk_full",
            format!("the server is out of disk space and serves reads only until space is freed on its data or WAL filesystem; retry later: {reason}"),
        )
        .retry_after(60));
    }
    if let Some(reason) = ctx.store.retention.over_budget.borrow().as_ref() {
        return Err(ApiError::new(
            ErrorKind::DiskFull,
            "storage_limit",
            format!("the server is at its storage limit and retention cannot free enough space: {reason}"),
        )
        .retry_after(60));
    }
    if ctx.commit_tx.is_full() {
        return Err(overloaded("the write-ahead log queue is full"));
    }
    let active_max = ctx.config.storage.active_block_memory_max_bytes as usize;
    if ctx.store.active_bytes() > active_max.saturating_mul(2) {
        return Err(overloaded(
            "unsealed data is above its memory bound while blocks are being written",
        ));
    }
    Ok(())
}

/// A batch must fit in one WAL segment; the archive is about the columns'
/// size, and half a segment leaves room for framing with a wide margin.
fn refuse_if_too_large_for_wal(ctx: &ShardContext, batch: &ColumnBatch) -> Result<(), ApiError> {
    let segment_bytes = ctx.config.storage.wal_segment_size_bytes as usize;
    if batch.payload_bytes() > segment_bytes / 2 {
        return Err(ApiError::new(
            ErrorKind::PayloadTooLarge,
            "batch_too_large",
            format!(
                "this batch holds {} bytes of entries, more than half a WAL segment ({segment_bytes} bytes); send smaller batches or raise storage.wal_segment_size",
                batch.payload_bytes()
            ),
        ));
    }
    Ok(())
}

fn overloaded(what: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "overloaded",
        format!("{what}; retry after a moment"),
    )
    .retry_after(1)
}
