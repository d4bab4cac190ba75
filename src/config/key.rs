//! The table of configuration keys and where each effective value came from.
//!
//! One [`Key`] per [`Config`](super::Config) field, with its TOML name, environment variable
//! and flag in one place, so error messages, the summary and the docs cannot drift apart.
//! [`Origins`] remembers which layer set each key last; validation uses it to name the key the
//! way the user wrote it, and resolution uses it to tell "unset" from "set to the default"
//! (`wal_dir` is derived from `data_dir` only when nobody set it).

use std::collections::HashMap;
use std::path::PathBuf;

/// A configuration key. `toml_name` is the canonical spelling used in messages and docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Key {
    NodeId,
    ShardCount,
    ListenAddr,
    MaxRequestSize,
    AutoCreatePartitions,
    QueryDefaultLimit,
    QueryMaxResults,
    QueryTimeout,
    QueryMaxTimeout,
    QueryMaxConcurrent,
    QueryMaxResultBytes,
    DataDir,
    WalDir,
    SnapshotDir,
    BlockRotation,
    Compression,
    CompressionLevel,
    SyncWrites,
    FsyncInterval,
    RetentionDays,
    MaxStorageSize,
    RetentionCheckInterval,
    WalSegmentSize,
    WalMaxSize,
    WriteBufferSize,
    IndexCacheSize,
    ScrubRate,
    WalRecovery,
    OnDamagedBlock,
    LogLevel,
    LogFormat,
}

impl Key {
    /// Dotted TOML name, e.g. `storage.compression`.
    pub fn toml_name(self) -> &'static str {
        match self {
            Key::NodeId => "node.id",
            Key::ShardCount => "shards",
            Key::ListenAddr => "network.listen_addr",
            Key::MaxRequestSize => "api.max_request_size",
            Key::AutoCreatePartitions => "api.auto_create_partitions",
            Key::QueryDefaultLimit => "query.default_limit",
            Key::QueryMaxResults => "query.max_results",
            Key::QueryTimeout => "query.timeout",
            Key::QueryMaxTimeout => "query.max_timeout",
            Key::QueryMaxConcurrent => "query.max_concurrent_queries",
            Key::QueryMaxResultBytes => "query.max_result_bytes",
            Key::DataDir => "storage.data_dir",
            Key::WalDir => "storage.wal_dir",
            Key::SnapshotDir => "storage.snapshot_dir",
            Key::BlockRotation => "storage.block_rotation",
            Key::Compression => "storage.compression",
            Key::CompressionLevel => "storage.compression_level",
            Key::SyncWrites => "storage.sync_writes",
            Key::FsyncInterval => "storage.fsync_interval",
            Key::RetentionDays => "storage.retention_days",
            Key::MaxStorageSize => "storage.max_storage_size",
            Key::RetentionCheckInterval => "storage.retention_check_interval",
            Key::WalSegmentSize => "storage.wal_segment_size",
            Key::WalMaxSize => "storage.wal_max_size",
            Key::WriteBufferSize => "storage.write_buffer_size",
            Key::IndexCacheSize => "storage.index_cache_size",
            Key::ScrubRate => "storage.scrub_rate",
            Key::WalRecovery => "storage.wal_recovery",
            Key::OnDamagedBlock => "storage.on_damaged_block",
            Key::LogLevel => "logging.level",
            Key::LogFormat => "logging.format",
        }
    }
}

/// Where a value came from: which layer, and how that layer spelled the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Built-in default.
    Default,
    /// A TOML file; `name` is the dotted key as written (`shards` or `server.shards`).
    File { path: PathBuf, name: String },
    /// An environment variable.
    Env { var: &'static str },
    /// A command-line flag.
    Flag { flag: &'static str },
}

impl Origin {
    /// Where the value was written, for "config error in {place}".
    pub fn place(&self) -> String {
        match self {
            Origin::Default => "built-in defaults".to_string(),
            Origin::File { path, .. } => path.display().to_string(),
            Origin::Env { .. } => "environment".to_string(),
            Origin::Flag { .. } => "command line".to_string(),
        }
    }

    /// The key as the source spelled it.
    pub fn name(&self, key: Key) -> String {
        match self {
            Origin::Default => key.toml_name().to_string(),
            Origin::File { name, .. } => name.clone(),
            Origin::Env { var } => (*var).to_string(),
            Origin::Flag { flag } => (*flag).to_string(),
        }
    }
}

/// Which layer set each key last. Keys absent here still hold their built-in default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(HashMap<Key, Origin>);

impl Origins {
    /// Records that `key` was set by `origin`, replacing any lower layer's record.
    pub fn set(&mut self, key: Key, origin: Origin) {
        self.0.insert(key, origin);
    }

    /// Where `key` came from; [`Origin::Default`] when no layer set it.
    pub fn get(&self, key: Key) -> Origin {
        self.0.get(&key).cloned().unwrap_or(Origin::Default)
    }

    /// Whether any layer set `key` explicitly.
    pub fn is_set(&self, key: Key) -> bool {
        self.0.contains_key(&key)
    }
}
