//! The partition catalog: which partitions exist, their ids, names and
//! settings. Persisted as `<data_dir>/catalog.json`.
//!
//! Shard 0 owns the durable catalog and is the only writer, so names stay
//! unique without locks; every other shard holds a read-only copy that shard
//! 0 updates by message before it answers the client. Partition metadata is
//! immutable once created (`Arc`, shared across shards); a change (its
//! retention settings, `PATCH`) replaces the `Arc` under the same key.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{Result, StorageError};

pub const CATALOG_FILE_NAME: &str = "catalog.json";
/// Partitions per database. Each costs a slice per shard (an active block
/// buffer and a directory), so the bound keeps memory and file counts sane.
pub const PARTITIONS_MAX: usize = 10_000;
pub const PARTITION_NAME_BYTES_MAX: usize = 128;
pub const PARTITION_TAGS_MAX: usize = 64;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PartitionMeta {
    /// External id (a UUID), used in URLs.
    pub id: String,
    /// Internal key used in WAL records and directory names; never reused.
    pub key: u64,
    pub name: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Days after which a sealed block whose newest entry is older is deleted; `None`:
    /// the server's `storage.retention_days` applies.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Bytes of sealed blocks the partition may keep on disk (its share per shard is this
    /// divided by the shard count); past it its oldest blocks are deleted. `None`: only
    /// the server-wide `storage.max_storage_size` applies.
    #[serde(default)]
    pub max_storage_size: Option<u64>,
    pub created_at_ns: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
struct CatalogFile {
    format_version: u32,
    next_key: u64,
    partitions: Vec<PartitionMeta>,
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    next_key: u64,
    by_key: BTreeMap<u64, Arc<PartitionMeta>>,
}

/// Why a partition could not be created.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateRefusal {
    NameTaken,
    InvalidName(String),
    TooMany,
}

impl Catalog {
    /// Reads the catalog at start-up (blocking; the server is not serving yet).
    pub fn load(data_dir: &Path) -> Result<Catalog> {
        let path = data_dir.join(CATALOG_FILE_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Catalog::default())
            }
            Err(error) => return Err(StorageError::io("read", &path, 0, error)),
        };
        Catalog::from_json(&bytes).map_err(|detail| StorageError::BadMetadata { path, detail })
    }

    /// Parses the bytes of a `catalog.json` (what `load` read; also the
    /// fuzzers' entry, so no file is needed). The error says what is wrong.
    pub fn from_json(bytes: &[u8]) -> std::result::Result<Catalog, String> {
        let file: CatalogFile = serde_json::from_slice(bytes)
            .map_err(|error| format!("catalog is not valid JSON: {error}"))?;
        if file.format_version != 1 {
            return Err(format!(
                "unsupported catalog format_version {}",
                file.format_version
            ));
        }
        file.partitions.iter().for_each(warn_if_unaddressable);
        let by_key = file
            .partitions
            .into_iter()
            .map(|meta| (meta.key, Arc::new(meta)))
            .collect();
        Ok(Catalog {
            next_key: file.next_key,
            by_key,
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        let file = CatalogFile {
            format_version: 1,
            next_key: self.next_key,
            partitions: self.by_key.values().map(|meta| (**meta).clone()).collect(),
        };
        serde_json::to_vec_pretty(&file).expect("catalog serialises")
    }

    /// Builds (but does not insert) a new partition.
    pub fn prepare(
        &mut self,
        name: &str,
        tags: BTreeMap<String, String>,
        retention_days: Option<u32>,
        now_ns: i64,
    ) -> std::result::Result<PartitionMeta, CreateRefusal> {
        validate_name(name).map_err(CreateRefusal::InvalidName)?;
        if self.find(name).is_some() {
            return Err(CreateRefusal::NameTaken);
        }
        if self.by_key.len() >= PARTITIONS_MAX {
            return Err(CreateRefusal::TooMany);
        }
        self.next_key = self.next_key.max(1);
        let key = self.next_key;
        self.next_key += 1;
        let id = uuid::Uuid::new_v4().to_string();
        Ok(PartitionMeta {
            id,
            key,
            name: name.to_string(),
            tags,
            retention_days,
            max_storage_size: None,
            created_at_ns: now_ns,
        })
    }

    pub fn insert(&mut self, meta: Arc<PartitionMeta>) {
        self.next_key = self.next_key.max(meta.key + 1);
        self.by_key.insert(meta.key, meta);
    }

    pub fn remove(&mut self, key: u64) -> Option<Arc<PartitionMeta>> {
        self.by_key.remove(&key)
    }

    pub fn by_key(&self, key: u64) -> Option<&Arc<PartitionMeta>> {
        self.by_key.get(&key)
    }

    /// Looks a partition up by id or, failing that, by name.
    pub fn find(&self, id_or_name: &str) -> Option<&Arc<PartitionMeta>> {
        let by_id = self.by_key.values().find(|meta| meta.id == id_or_name);
        by_id.or_else(|| self.by_key.values().find(|meta| meta.name == id_or_name))
    }

    pub fn list(&self) -> impl Iterator<Item = &Arc<PartitionMeta>> {
        self.by_key.values()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// A catalog written before a naming rule existed (a partition named `..`)
/// still loads, so its data stays reachable: by id, and by name in query
/// bodies. The name is only reported, since refusing to start would make
/// every partition unreachable for the sake of one.
fn warn_if_unaddressable(meta: &PartitionMeta) {
    if let Err(reason) = validate_name(&meta.name) {
        tracing::warn!(
            partition_id = %meta.id,
            partition_name = %meta.name,
            %reason,
            "a partition's name breaks the naming rules; address it by its id"
        );
    }
}

/// Names appear in URLs and in queries, so they are restricted to URL-safe
/// characters and must not look like the `-` separated UUID ids.
pub fn validate_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > PARTITION_NAME_BYTES_MAX {
        return Err(format!(
            "partition name must be 1 to {PARTITION_NAME_BYTES_MAX} bytes long"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    if !name.chars().all(allowed) {
        return Err(format!(
            "partition name {name:?} may contain only letters, digits, '_', '-' and '.'"
        ));
    }
    // `.` and `..` are dot-segments: clients and proxies resolve them away
    // (`/api/v1/partitions/..` becomes `/api/v1`), so such a partition could
    // never be addressed by name.
    if name == "." || name == ".." {
        return Err(format!(
            "partition name {name:?} is a path dot-segment that URLs cannot address; choose a name with a letter or digit"
        ));
    }
    if name == "create" {
        return Err("\"create\" is reserved: /api/v1/partitions/create is the create route".into());
    }
    if uuid::Uuid::parse_str(name).is_ok() {
        return Err(format!(
            "partition name {name:?} looks like a partition id; choose another"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_findable_by_id_or_name() {
        let mut catalog = Catalog::default();
        let meta = catalog.prepare("app", BTreeMap::new(), Some(7), 1).unwrap();
        catalog.insert(Arc::new(meta.clone()));
        assert_eq!(
            catalog.prepare("app", BTreeMap::new(), None, 2),
            Err(CreateRefusal::NameTaken)
        );
        assert_eq!(catalog.find(&meta.id).unwrap().name, "app");
        assert_eq!(catalog.find("app").unwrap().key, meta.key);
        let other = catalog.prepare("other", BTreeMap::new(), None, 3).unwrap();
        assert_ne!(other.key, meta.key);
    }

    #[test]
    fn invalid_names_are_refused() {
        let mut catalog = Catalog::default();
        for name in [
            "",
            "has space",
            "slash/y",
            "create",
            ".",
            "..",
            &"x".repeat(200),
        ] {
            assert!(matches!(
                catalog.prepare(name, BTreeMap::new(), None, 0),
                Err(CreateRefusal::InvalidName(_))
            ));
        }
    }

    #[test]
    fn json_round_trip_keeps_keys_monotonic() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::default();
        let meta = catalog.prepare("a", BTreeMap::new(), None, 0).unwrap();
        catalog.insert(Arc::new(meta));
        let removed = catalog.prepare("b", BTreeMap::new(), None, 0).unwrap();
        catalog.insert(Arc::new(removed.clone()));
        catalog.remove(removed.key);
        std::fs::write(dir.path().join(CATALOG_FILE_NAME), catalog.to_json()).unwrap();
        let mut loaded = Catalog::load(dir.path()).unwrap();
        assert_eq!(loaded.len(), 1);
        let next = loaded.prepare("c", BTreeMap::new(), None, 0).unwrap();
        assert!(
            next.key > removed.key,
            "keys of deleted partitions are never reused"
        );
    }

    #[test]
    fn corrupt_catalog_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CATALOG_FILE_NAME), b"{not json").unwrap();
        let error = Catalog::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("catalog.json"), "{error}");
    }
}
