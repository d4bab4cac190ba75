//! A shard's manifest: for each slice, its segment files, how many bytes of
//! each hold published blocks, and the sealed watermark (every entry with a
//! sequence number at or below it is in a published block).
//!
//! The manifest is the commit point of a seal: a block becomes part of the
//! database when a manifest covering it is durable, and only then may the
//! WAL drop the records it covers. Bytes past `committed_bytes` in a segment
//! are ignored (a seal that crashed half-way). Replaced atomically; see
//! `atomic_file`. It lists segments, not blocks, so it stays small however
//! many blocks there are; blocks are found by walking segment headers.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{Result, StorageError};

pub const MANIFEST_FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardManifest {
    pub format_version: u32,
    pub shard_id: u32,
    pub slices: Vec<SliceManifest>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceManifest {
    pub partition_key: u64,
    /// Every entry with seq <= sealed_seq is in a published block.
    pub sealed_seq: u64,
    pub segments: Vec<SegmentManifest>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SegmentManifest {
    pub file_name: String,
    /// Bytes from the start of the file that hold published blocks.
    pub committed_bytes: u64,
    pub block_count: u64,
}

impl ShardManifest {
    /// Start-up only (blocking read). A missing manifest is an empty shard.
    pub fn load(path: &Path, shard_id: u32) -> Result<ShardManifest> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ShardManifest {
                    format_version: MANIFEST_FORMAT_VERSION,
                    shard_id,
                    slices: vec![],
                })
            }
            Err(error) => return Err(StorageError::io("read", path, 0, error)),
        };
        let manifest: ShardManifest =
            serde_json::from_slice(&bytes).map_err(|error| StorageError::BadMetadata {
                path: path.to_path_buf(),
                detail: format!("manifest is not valid JSON: {error}"),
            })?;
        if manifest.format_version != MANIFEST_FORMAT_VERSION || manifest.shard_id != shard_id {
            let detail = format!(
                "manifest has format_version {} for shard {}; expected version {MANIFEST_FORMAT_VERSION} for shard {shard_id}",
                manifest.format_version, manifest.shard_id
            );
            return Err(StorageError::BadMetadata {
                path: path.to_path_buf(),
                detail,
            });
        }
        Ok(manifest)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifest serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_manifest_is_empty_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let mut manifest = ShardManifest::load(&path, 3).unwrap();
        assert!(manifest.slices.is_empty());
        manifest.slices.push(SliceManifest {
            partition_key: 1,
            sealed_seq: 10,
            segments: vec![SegmentManifest {
                file_name: "seg-000001.tdb".into(),
                committed_bytes: 8192,
                block_count: 2,
            }],
        });
        std::fs::write(&path, manifest.to_json()).unwrap();
        assert_eq!(ShardManifest::load(&path, 3).unwrap(), manifest);
        assert!(
            ShardManifest::load(&path, 4).is_err(),
            "a manifest of another shard is refused"
        );
    }
}
