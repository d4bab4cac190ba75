//! Changing a partition's retention settings (`PATCH
//! /api/v1/partitions/{id}`), the way a create is made: shard 0 changes its
//! catalog, writes `catalog.json` durably, sends the new version to every
//! other shard (the same `CatalogInsert` a create sends, which replaces the
//! entry under its key) and waits for each before answering. The next
//! retention pass of every shard applies it.

use std::sync::Arc;

use super::context::ShardContext;
use super::mailbox::{call, PeerRequest};
use super::partitions::{write_catalog_file, AdminError};
use crate::storage::catalog::PartitionMeta;

/// The settings a `PATCH` changes. Outer `None`: leave the setting as it
/// is; `Some(None)`: clear it; `Some(Some(value))`: set it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub retention_days: Option<Option<u32>>,
    pub max_storage_size: Option<Option<u64>>,
}

impl SettingsChange {
    fn apply(&self, meta: &PartitionMeta) -> PartitionMeta {
        PartitionMeta {
            retention_days: self.retention_days.unwrap_or(meta.retention_days),
            max_storage_size: self.max_storage_size.unwrap_or(meta.max_storage_size),
            ..meta.clone()
        }
    }
}

pub async fn update(
    ctx: &ShardContext,
    key: u64,
    change: SettingsChange,
) -> Result<Arc<PartitionMeta>, AdminError> {
    if ctx.is_catalog_owner() {
        return update_as_owner(ctx, key, change).await;
    }
    call(ctx, 0, |reply| PeerRequest::UpdatePartition {
        key,
        change,
        reply,
    })
    .await
    .map_err(AdminError::Internal)?
}

/// On shard 0. The catalog write permit is held from the lookup until every
/// shard has the new version, so a delete (which needs the permit to write
/// the catalog) cannot slip between them and be undone by a late insert.
pub async fn update_as_owner(
    ctx: &ShardContext,
    key: u64,
    change: SettingsChange,
) -> Result<Arc<PartitionMeta>, AdminError> {
    let _permit = ctx
        .catalog_write
        .acquire_permit(1)
        .await
        .map_err(|error| AdminError::Internal(error.to_string()))?;
    let (old, new) = {
        let mut catalog = ctx.catalog.borrow_mut();
        let Some(old) = catalog.by_key(key).cloned() else {
            return Err(AdminError::NotFound(key.to_string()));
        };
        let new = Arc::new(change.apply(&old));
        catalog.insert(new.clone());
        (old, new)
    };
    if let Err(error) = write_catalog_file(ctx).await {
        let mut catalog = ctx.catalog.borrow_mut();
        if catalog
            .by_key(key)
            .is_some_and(|now| Arc::ptr_eq(now, &new))
        {
            catalog.insert(old);
        }
        return Err(AdminError::Internal(error));
    }
    for shard in 1..ctx.shard_count {
        let meta = new.clone();
        call(ctx, shard, |reply| PeerRequest::CatalogInsert {
            meta,
            reply,
        })
        .await
        .map_err(AdminError::Internal)?;
    }
    tracing::info!(
        id = %new.id,
        name = %new.name,
        retention_days = ?new.retention_days,
        max_storage_size = ?new.max_storage_size,
        "partition retention settings changed"
    );
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_sets_clears_or_keeps_each_setting() {
        let meta = PartitionMeta {
            id: "id".into(),
            key: 1,
            name: "app".into(),
            tags: Default::default(),
            retention_days: Some(7),
            max_storage_size: Some(1 << 30),
            created_at_ns: 0,
        };
        let keep = SettingsChange::default().apply(&meta);
        assert_eq!(keep, meta);
        let change = SettingsChange {
            retention_days: Some(None),
            max_storage_size: Some(Some(5)),
        };
        let changed = change.apply(&meta);
        assert_eq!(changed.retention_days, None);
        assert_eq!(changed.max_storage_size, Some(5));
        assert_eq!(changed.name, "app");
    }
}
