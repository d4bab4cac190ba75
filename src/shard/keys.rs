//! Key administration across shards: create, change a quota, revoke.
//!
//! Shard 0 owns `keys.json`, as it owns the catalog. A change arriving on
//! another shard is forwarded to it; shard 0 builds the new ring, makes the
//! file durable, installs the ring on every shard (itself first) and waits
//! for each, and only then answers. So when `DELETE /api/v1/admin/keys/{id}`
//! answers, no shard accepts the key any more; when `POST` answers, every
//! shard accepts the new one; when `PATCH` answers, every shard charges the
//! key by its new quota. Requests already past their check when the
//! ring changes finish as they started.

use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use super::context::ShardContext;
use super::mailbox::{call, PeerRequest};
use crate::auth::audit::AuditLog;
use crate::auth::keyring::{mint, KeyRecord, KeyRing, KeySpec, KEYS_FILE_NAME};
use crate::storage::atomic_file::replace_atomically;

/// One shard's view of authentication.
pub struct ShardAuth {
    /// The keys in force; replaced whole by shard 0's changes.
    pub ring: RefCell<Arc<KeyRing>>,
    /// Serialises key-file writes on shard 0.
    pub write: glommio::sync::Semaphore,
    /// The audit log, when `audit_enabled`.
    pub audit: Option<AuditLog>,
}

impl ShardAuth {
    pub fn new(ring: Arc<KeyRing>, audit: Option<AuditLog>) -> ShardAuth {
        ShardAuth {
            ring: RefCell::new(ring),
            write: glommio::sync::Semaphore::new(1),
            audit,
        }
    }

    /// The ring in force now (a reference count; no borrow is held).
    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.borrow().clone()
    }
}

#[derive(Clone, Debug)]
pub enum KeyAdminError {
    Invalid(String),
    NotFound(String),
    Internal(String),
}

/// Mints a key and makes it known to every shard; returns the record and
/// the key's text (shown once).
pub async fn create(
    ctx: &ShardContext,
    spec: KeySpec,
) -> Result<(KeyRecord, String), KeyAdminError> {
    if ctx.is_catalog_owner() {
        return create_as_owner(ctx, spec).await;
    }
    call(ctx, 0, |reply| PeerRequest::CreateKey { spec, reply })
        .await
        .map_err(KeyAdminError::Internal)?
}

/// Revokes key `id` on every shard.
pub async fn revoke(ctx: &ShardContext, id: String) -> Result<(), KeyAdminError> {
    if ctx.is_catalog_owner() {
        return revoke_as_owner(ctx, id).await;
    }
    call(ctx, 0, |reply| PeerRequest::RevokeKey { id, reply })
        .await
        .map_err(KeyAdminError::Internal)?
}

/// Applies JSON merge patch `patch` to key `id`'s quota on every shard;
/// returns the updated record.
pub async fn update_quota(
    ctx: &ShardContext,
    id: String,
    patch: serde_json::Value,
) -> Result<KeyRecord, KeyAdminError> {
    if ctx.is_catalog_owner() {
        return update_quota_as_owner(ctx, id, patch).await;
    }
    call(ctx, 0, |reply| PeerRequest::UpdateKeyQuota {
        id,
        patch,
        reply,
    })
    .await
    .map_err(KeyAdminError::Internal)?
}

pub async fn update_quota_as_owner(
    ctx: &ShardContext,
    id: String,
    patch: serde_json::Value,
) -> Result<KeyRecord, KeyAdminError> {
    let _permit = write_permit(ctx).await?;
    let current = ctx.auth.ring();
    let Some(record) = current.records().into_iter().find(|record| record.id == id) else {
        return Err(KeyAdminError::NotFound(id));
    };
    let quota = record
        .quota
        .merged(&patch)
        .map_err(KeyAdminError::Invalid)?;
    let next = current
        .with_quota(&id, quota)
        .expect("the key was found in this ring");
    publish(ctx, next).await?;
    tracing::info!(key_id = %id, ?quota, "API key quota changed");
    let mut record = (*record).clone();
    record.quota = quota;
    Ok(record)
}

pub async fn create_as_owner(
    ctx: &ShardContext,
    spec: KeySpec,
) -> Result<(KeyRecord, String), KeyAdminError> {
    let _permit = write_permit(ctx).await?;
    let current = ctx.auth.ring();
    let (record, text) =
        mint(&current, &spec, super::partitions::now_ns()).map_err(KeyAdminError::Invalid)?;
    let next = current
        .with(record.clone())
        .map_err(KeyAdminError::Invalid)?;
    publish(ctx, next).await?;
    tracing::info!(key_id = %record.id, role = record.role.as_str(), "API key created");
    Ok((record, text))
}

pub async fn revoke_as_owner(ctx: &ShardContext, id: String) -> Result<(), KeyAdminError> {
    let _permit = write_permit(ctx).await?;
    let Some(next) = ctx.auth.ring().without(&id) else {
        return Err(KeyAdminError::NotFound(id));
    };
    publish(ctx, next).await?;
    tracing::info!(key_id = %id, "API key revoked");
    Ok(())
}

/// Shard 0's turn to change the key file (one change at a time).
async fn write_permit(ctx: &ShardContext) -> Result<glommio::sync::Permit<'_>, KeyAdminError> {
    ctx.auth
        .write
        .acquire_permit(1)
        .await
        .map_err(|error| KeyAdminError::Internal(error.to_string()))
}

/// Writes `next` durably, then installs it on every shard, this one first.
async fn publish(ctx: &ShardContext, next: KeyRing) -> Result<(), KeyAdminError> {
    let path = ctx.config.storage.data_dir.join(KEYS_FILE_NAME);
    replace_atomically(&path, next.to_json())
        .await
        .map_err(|error| KeyAdminError::Internal(error.to_string()))?;
    // Only hashes are in the file, but nobody else needs to read them.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|error| KeyAdminError::Internal(format!("chmod {}: {error}", path.display())))?;
    let next = Arc::new(next);
    *ctx.auth.ring.borrow_mut() = next.clone();
    for shard in 1..ctx.shard_count {
        let ring = next.clone();
        call(ctx, shard, |reply| PeerRequest::InstallKeys { ring, reply })
            .await
            .map_err(KeyAdminError::Internal)?;
    }
    Ok(())
}
