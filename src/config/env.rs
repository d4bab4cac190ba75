//! The environment layer: `TIMBERDB_*` variables over the file, under the flags.
//!
//! The lookup is a function rather than `std::env::var` so tests inject an environment
//! without touching the process's (which is shared by all test threads). An empty variable
//! counts as unset, so `TIMBERDB_DATA_DIR=` in a container template does not override the file.

use super::key::{Key, Origin, Origins};
use super::protocols;
use super::value::{self, Parsed};
use super::{Config, ConfigError, Result};

/// Names the configuration file when `--config` is not given.
pub const CONFIG_VAR: &str = "TIMBERDB_CONFIG";

/// Every variable this layer reads, with the key it sets. Kept next to `apply` so both change
/// together; a test checks that each one is actually read.
#[cfg(test)]
pub const VARIABLES: [(&str, Key); 24] = [
    ("TIMBERDB_DATA_DIR", Key::DataDir),
    ("TIMBERDB_WAL_DIR", Key::WalDir),
    ("TIMBERDB_SNAPSHOT_DIR", Key::SnapshotDir),
    ("TIMBERDB_LISTEN", Key::ListenAddr),
    ("TIMBERDB_LISTEN_ADDR", Key::ListenAddr),
    ("TIMBERDB_NODE_ID", Key::NodeId),
    ("TIMBERDB_SHARDS", Key::ShardCount),
    ("TIMBERDB_SYNC_WRITES", Key::SyncWrites),
    ("TIMBERDB_FSYNC_INTERVAL", Key::FsyncInterval),
    ("TIMBERDB_COMPRESSION", Key::Compression),
    ("TIMBERDB_COMPRESSION_LEVEL", Key::CompressionLevel),
    ("TIMBERDB_MAX_REQUEST_SIZE", Key::MaxRequestSize),
    ("TIMBERDB_AUTO_CREATE_PARTITIONS", Key::AutoCreatePartitions),
    ("TIMBERDB_QUERY_MAX_RESULT_BYTES", Key::QueryMaxResultBytes),
    ("TIMBERDB_LOG_LEVEL", Key::LogLevel),
    ("TIMBERDB_LOG_FORMAT", Key::LogFormat),
    ("TIMBERDB_BLOCK_ROTATION", Key::BlockRotation),
    ("TIMBERDB_RETENTION_DAYS", Key::RetentionDays),
    ("TIMBERDB_MAX_STORAGE_SIZE", Key::MaxStorageSize),
    (
        "TIMBERDB_RETENTION_CHECK_INTERVAL",
        Key::RetentionCheckInterval,
    ),
    ("TIMBERDB_INDEX_CACHE_SIZE", Key::IndexCacheSize),
    ("TIMBERDB_SCRUB_RATE", Key::ScrubRate),
    ("TIMBERDB_WAL_RECOVERY", Key::WalRecovery),
    ("TIMBERDB_ON_DAMAGED_BLOCK", Key::OnDamagedBlock),
];

/// The value of `name`, treating an empty value as unset.
pub fn lookup(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|text| !text.is_empty())
}

/// Applies every set `TIMBERDB_*` variable on top of `config`.
pub fn apply(
    config: &mut Config,
    origins: &mut Origins,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    let mut layer = EnvLayer { env, origins };
    let storage = &mut config.storage;
    layer.set(
        &mut storage.data_dir,
        "TIMBERDB_DATA_DIR",
        Key::DataDir,
        value::path,
    )?;
    layer.set(
        &mut storage.wal_dir,
        "TIMBERDB_WAL_DIR",
        Key::WalDir,
        value::path,
    )?;
    layer.set(
        &mut storage.snapshot_dir,
        "TIMBERDB_SNAPSHOT_DIR",
        Key::SnapshotDir,
        |text| value::path(text).map(Some),
    )?;
    layer.set(
        &mut storage.sync_writes,
        "TIMBERDB_SYNC_WRITES",
        Key::SyncWrites,
        value::boolean,
    )?;
    layer.set(
        &mut storage.fsync_interval_ms,
        "TIMBERDB_FSYNC_INTERVAL",
        Key::FsyncInterval,
        value::unsigned,
    )?;
    layer.set(
        &mut storage.compression,
        "TIMBERDB_COMPRESSION",
        Key::Compression,
        value::compression,
    )?;
    layer.set(
        &mut storage.compression_level,
        "TIMBERDB_COMPRESSION_LEVEL",
        Key::CompressionLevel,
        value::compression_level,
    )?;
    layer.set(
        &mut storage.block_rotation,
        "TIMBERDB_BLOCK_ROTATION",
        Key::BlockRotation,
        value::block_rotation,
    )?;
    layer.set(
        &mut storage.retention_days,
        "TIMBERDB_RETENTION_DAYS",
        Key::RetentionDays,
        value::retention_days,
    )?;
    layer.set(
        &mut storage.max_storage_size_bytes,
        "TIMBERDB_MAX_STORAGE_SIZE",
        Key::MaxStorageSize,
        value::optional_size_bytes,
    )?;
    layer.set(
        &mut storage.retention_check_interval_seconds,
        "TIMBERDB_RETENTION_CHECK_INTERVAL",
        Key::RetentionCheckInterval,
        value::unsigned,
    )?;
    layer.set(
        &mut storage.index_cache_bytes,
        "TIMBERDB_INDEX_CACHE_SIZE",
        Key::IndexCacheSize,
        value::size_bytes,
    )?;
    layer.set(
        &mut storage.scrub_rate_bytes_per_s,
        "TIMBERDB_SCRUB_RATE",
        Key::ScrubRate,
        value::size_bytes,
    )?;
    layer.set(
        &mut storage.wal_recovery,
        "TIMBERDB_WAL_RECOVERY",
        Key::WalRecovery,
        value::wal_recovery,
    )?;
    layer.set(
        &mut storage.on_damaged_block,
        "TIMBERDB_ON_DAMAGED_BLOCK",
        Key::OnDamagedBlock,
        value::on_damaged_block,
    )?;
    apply_server_keys(&mut layer, config)
}

/// The keys outside `[storage]`, split out to keep `apply` short.
fn apply_server_keys(layer: &mut EnvLayer<'_>, config: &mut Config) -> Result<()> {
    let listen = &mut config.network.listen_addr;
    // Both spellings are accepted; if both are set they must agree, or it is unclear which
    // one the operator meant.
    if let (Some(short), Some(long)) = (
        lookup(layer.env, "TIMBERDB_LISTEN"),
        lookup(layer.env, "TIMBERDB_LISTEN_ADDR"),
    ) {
        if short != long {
            return Err(ConfigError::Conflict {
                place: "environment".to_string(),
                first: format!("TIMBERDB_LISTEN={short:?}"),
                second: format!("TIMBERDB_LISTEN_ADDR={long:?}"),
                advice: "unset one of them".to_string(),
            });
        }
    }
    layer.set(
        listen,
        "TIMBERDB_LISTEN_ADDR",
        Key::ListenAddr,
        value::socket_addr,
    )?;
    layer.set(
        listen,
        "TIMBERDB_LISTEN",
        Key::ListenAddr,
        value::socket_addr,
    )?;
    layer.set(
        &mut config.node_id,
        "TIMBERDB_NODE_ID",
        Key::NodeId,
        value::node_id,
    )?;
    layer.set(
        &mut config.shard_count,
        "TIMBERDB_SHARDS",
        Key::ShardCount,
        value::shards,
    )?;
    let mut request_bytes = None;
    layer.set(
        &mut request_bytes,
        "TIMBERDB_MAX_REQUEST_SIZE",
        Key::MaxRequestSize,
        |text| value::size_bytes(text).map(Some),
    )?;
    if let Some(bytes) = request_bytes {
        config.api.max_request_size_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    layer.set(
        &mut config.api.auto_create_partitions,
        "TIMBERDB_AUTO_CREATE_PARTITIONS",
        Key::AutoCreatePartitions,
        value::boolean,
    )?;
    let mut result_bytes = None;
    layer.set(
        &mut result_bytes,
        "TIMBERDB_QUERY_MAX_RESULT_BYTES",
        Key::QueryMaxResultBytes,
        |text| value::size_bytes(text).map(Some),
    )?;
    if let Some(bytes) = result_bytes {
        config.query.max_result_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    apply_protocols(config, layer.env)?;
    super::tls::apply_env(config, layer.env)?;
    let logging = &mut config.logging;
    layer.set(
        &mut logging.level,
        "TIMBERDB_LOG_LEVEL",
        Key::LogLevel,
        value::log_level,
    )?;
    layer.set(
        &mut logging.format,
        "TIMBERDB_LOG_FORMAT",
        Key::LogFormat,
        value::log_format,
    )?;
    Ok(())
}

/// The protocol sections' variables, one per setting (`TIMBERDB_SYSLOG_TCP_LISTEN`...);
/// a list such as `..._MAPPING_TAGS` is comma-separated.
fn apply_protocols(config: &mut Config, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    let settings = protocols::settings()
        .iter()
        .chain(super::auth::settings())
        .chain(super::connections::settings());
    for setting in settings {
        let Some(text) = lookup(env, setting.env) else {
            continue;
        };
        let item = toml::Value::String(text.clone());
        (setting.set)(config, &item).map_err(|expected| ConfigError::Invalid {
            place: "environment".to_string(),
            key: setting.env.to_string(),
            value: format!("{text:?}"),
            expected,
        })?;
    }
    Ok(())
}

struct EnvLayer<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    origins: &'a mut Origins,
}

impl EnvLayer<'_> {
    /// If `var` is set, parses it into `*field` and records it as the origin of `key`.
    fn set<T>(
        &mut self,
        field: &mut T,
        var: &'static str,
        key: Key,
        parse: impl Fn(&str) -> Parsed<T>,
    ) -> Result<()> {
        let Some(text) = lookup(self.env, var) else {
            return Ok(());
        };
        *field = parse(&text).map_err(|expected| ConfigError::Invalid {
            place: "environment".to_string(),
            key: var.to_string(),
            value: format!("{text:?}"),
            expected,
        })?;
        self.origins.set(key, Origin::Env { var });
        Ok(())
    }
}
