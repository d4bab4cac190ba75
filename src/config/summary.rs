//! The effective configuration as TOML, for the server to log at start-up.
//!
//! Written with dotted keys (`storage.data_dir = "..."`), one per line, so each line can be
//! grepped from a log on its own, and the whole text is a valid config file that loads back to
//! the same [`Config`] (a test holds it to that).

use std::fmt::Write as _;

use toml::Value;

use super::{Config, StorageConfig};

impl Config {
    /// One `key = value` line per setting, in the file layout's key names.
    pub fn to_toml_summary(&self) -> String {
        let mut text = String::new();
        for (key, value) in self
            .server_lines()
            .into_iter()
            .chain(storage_lines(&self.storage))
        {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "{key} = {value}");
        }
        for setting in super::protocols::settings()
            .iter()
            .chain(super::auth::settings())
            .chain(super::connections::settings())
        {
            let _ = match (setting.show)(self) {
                Some(value) => writeln!(text, "{} = {value}", setting.name),
                None => writeln!(text, "# {} not set: off", setting.name),
            };
        }
        for line in super::tls::summary_lines(&self.tls) {
            let _ = writeln!(text, "{line}");
        }
        if self.storage.retention_days.is_none() {
            text.push_str("# storage.retention_days not set: data is kept forever\n");
        }
        if self.storage.max_storage_size_bytes.is_none() {
            text.push_str("# storage.max_storage_size not set: no size limit\n");
        }
        text
    }

    /// Every setting outside `[storage]`.
    fn server_lines(&self) -> Vec<(&'static str, String)> {
        let query = &self.query;
        vec![
            ("shards", self.shard_count.to_string()),
            ("node.id", quoted(&self.node_id)),
            (
                "network.listen_addr",
                quoted(&self.network.listen_addr.to_string()),
            ),
            (
                "api.max_request_size",
                self.api.max_request_size_bytes.to_string(),
            ),
            (
                "api.auto_create_partitions",
                self.api.auto_create_partitions.to_string(),
            ),
            ("query.default_limit", query.default_limit.to_string()),
            ("query.max_results", query.max_results.to_string()),
            ("query.timeout", query.timeout_seconds.to_string()),
            ("query.max_timeout", query.max_timeout_seconds.to_string()),
            (
                "query.max_concurrent_queries",
                query.max_concurrent_queries.to_string(),
            ),
            ("query.max_result_bytes", query.max_result_bytes.to_string()),
            ("logging.level", quoted(&self.logging.level)),
            ("logging.format", quoted(&self.logging.format.to_string())),
        ]
    }
}

/// Every `[storage]` setting that has a value.
fn storage_lines(storage: &StorageConfig) -> Vec<(&'static str, String)> {
    let (rotation_kind, rotation_value) = storage.block_rotation.parts();
    let rotation = format!("{{ type = \"{rotation_kind}\", value = {rotation_value} }}");
    let mut lines = vec![
        (
            "storage.data_dir",
            quoted(&storage.data_dir.to_string_lossy()),
        ),
        (
            "storage.wal_dir",
            quoted(&storage.wal_dir.to_string_lossy()),
        ),
        ("storage.block_rotation", rotation),
        (
            "storage.compression",
            quoted(&storage.compression.to_string()),
        ),
        (
            "storage.compression_level",
            storage.compression_level.to_string(),
        ),
        ("storage.sync_writes", storage.sync_writes.to_string()),
        (
            "storage.fsync_interval",
            storage.fsync_interval_ms.to_string(),
        ),
        (
            "storage.wal_segment_size",
            storage.wal_segment_size_bytes.to_string(),
        ),
        (
            "storage.wal_max_size",
            storage.wal_size_max_bytes.to_string(),
        ),
        (
            "storage.write_buffer_size",
            storage.active_block_memory_max_bytes.to_string(),
        ),
        (
            "storage.index_cache_size",
            storage.index_cache_bytes.to_string(),
        ),
        (
            "storage.retention_check_interval",
            storage.retention_check_interval_seconds.to_string(),
        ),
        (
            "storage.scrub_rate",
            storage.scrub_rate_bytes_per_s.to_string(),
        ),
        (
            "storage.wal_recovery",
            quoted(&storage.wal_recovery.to_string()),
        ),
        (
            "storage.on_damaged_block",
            quoted(&storage.on_damaged_block.to_string()),
        ),
    ];
    // Unset, snapshots go to <data_dir>/snapshots; printing that would make
    // the summary set it, and a later data_dir change would not move it.
    if let Some(dir) = &storage.snapshot_dir {
        lines.push(("storage.snapshot_dir", quoted(&dir.to_string_lossy())));
    }
    if let Some(days) = storage.retention_days {
        lines.push(("storage.retention_days", days.to_string()));
    }
    if let Some(bytes) = storage.max_storage_size_bytes {
        lines.push(("storage.max_storage_size", bytes.to_string()));
    }
    lines
}

/// A TOML string literal, escaped by the toml crate.
fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}
