//! The TOML layer: reads the seed README's sections into a [`Config`].
//!
//! The file is parsed into a generic TOML table and walked by hand, rather than deserialized
//! with serde, for two reasons: unknown sections and keys (the seed documents raft, TLS, CORS,
//! caches and more that TimberDB does not implement) must become warnings, not errors; and a
//! known key with a bad value must produce a message naming that key, its value and what is
//! expected, which serde's generic messages do not do.
//!
//! Recognised: top-level or `[server]` `shards`; `[node] id`; `[network] listen_addr`;
//! `[api] max_request_size`; `[query]` limits; `[storage]`; `[logging] level, format`; the
//! shippers' protocols `[elasticsearch]`, `[jsonline]`, `[loki]`, `[otlp]`, `[syslog]` (each
//! with a `mapping` table), described in [`protocols`].

use std::path::Path;

use toml::{Table, Value};

use super::key::{Key, Origin, Origins};
use super::protocols;
use super::value::{self, Parsed};
use super::{BlockRotation, Config, ConfigError, Result};

/// A config file larger than this is refused unread: real ones are a few KiB, and the whole
/// file is held in memory while parsing.
pub const CONFIG_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Reads the file named by `--config` / `TIMBERDB_CONFIG`.
pub fn read(path: &Path) -> Result<String> {
    let read_error = |error| ConfigError::ReadFile {
        path: path.to_path_buf(),
        error,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > CONFIG_FILE_BYTES_MAX {
        let message = format!("file is {size} bytes, more than {CONFIG_FILE_BYTES_MAX}");
        return Err(read_error(std::io::Error::other(message)));
    }
    std::fs::read_to_string(path).map_err(read_error)
}

/// Applies the TOML `text` (read from `path`) on top of `config`, recording origins and
/// pushing one warning per unknown key or section.
pub fn apply(
    config: &mut Config,
    origins: &mut Origins,
    path: &Path,
    text: &str,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let table: Table = text.parse().map_err(|err| syntax_error(path, text, &err))?;
    let mut layer = FileLayer {
        path,
        origins,
        warnings,
    };
    for (name, item) in &table {
        match (name.as_str(), item) {
            ("shards", _) => {
                config.shard_count = layer.take(Key::ShardCount, "shards", item, shards)?;
            }
            ("server", Value::Table(section)) => layer.server(config, section)?,
            ("node", Value::Table(section)) => layer.node(config, section)?,
            ("storage", Value::Table(section)) => layer.storage(config, section)?,
            ("network", Value::Table(section)) => layer.network(config, section)?,
            ("api", Value::Table(section)) => layer.api(config, section)?,
            ("query", Value::Table(section)) => layer.query(config, section)?,
            ("logging", Value::Table(section)) => layer.logging(config, section)?,
            ("tls", Value::Table(section)) => {
                let unknown = super::tls::apply_file_section(config, path, section)?;
                layer.warnings.extend(unknown);
            }
            (section, Value::Table(table)) if protocols::SECTIONS.contains(&section) => {
                layer.protocol(config, section, table)?;
            }
            (section, Value::Table(table)) if super::auth::SECTIONS.contains(&section) => {
                layer.protocol(config, section, table)?;
            }
            (section, Value::Table(table)) if super::connections::SECTIONS.contains(&section) => {
                layer.protocol(config, section, table)?;
            }
            (section, _)
                if protocols::SECTIONS.contains(&section)
                    || super::auth::SECTIONS.contains(&section)
                    || super::connections::SECTIONS.contains(&section) =>
            {
                return Err(layer.invalid(name, item, format!("expected a table [{name}]")));
            }
            (
                "server" | "node" | "storage" | "network" | "api" | "query" | "logging" | "tls",
                _,
            ) => {
                return Err(layer.invalid(name, item, format!("expected a table [{name}]")));
            }
            _ => layer.unknown(name, item),
        }
    }
    let top_shards = table.get("shards");
    let server_shards = table.get("server").and_then(|server| server.get("shards"));
    if top_shards.is_some() && server_shards.is_some() && top_shards != server_shards {
        return Err(ConfigError::Conflict {
            place: path.display().to_string(),
            first: "shards".to_string(),
            second: "server.shards".to_string(),
            advice: "keep one of them".to_string(),
        });
    }
    Ok(())
}

/// Only `network.listen_addr` of the file at `path`, or `None` when the file does not set it.
/// For the client subcommands, which need the server's port and nothing else: the rest of the
/// file is not checked, so a client works whatever else the file holds.
pub fn listen_addr(path: &Path, text: &str) -> Result<Option<std::net::SocketAddr>> {
    let table: Table = text.parse().map_err(|err| syntax_error(path, text, &err))?;
    let Some(item) = table
        .get("network")
        .and_then(|network| network.get("listen_addr"))
    else {
        return Ok(None);
    };
    string(item, value::socket_addr)
        .map(Some)
        .map_err(|expected| ConfigError::Invalid {
            place: path.display().to_string(),
            key: "network.listen_addr".to_string(),
            value: item.to_string(),
            expected,
        })
}

/// Turns a parse error's byte span into a 1-based line and column.
fn syntax_error(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let start = err.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count())
        + 1;
    let message = err.message().trim().replace('\n', "; ");
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// State shared while walking one file.
struct FileLayer<'a> {
    path: &'a Path,
    origins: &'a mut Origins,
    warnings: &'a mut Vec<String>,
}

impl FileLayer<'_> {
    /// Parses `item` for `key` (written as `name`), recording the file as its origin.
    fn take<T>(
        &mut self,
        key: Key,
        name: &str,
        item: &Value,
        parse: impl Fn(&Value) -> Parsed<T>,
    ) -> Result<T> {
        let parsed = parse(item).map_err(|expected| self.invalid(name, item, expected))?;
        let origin = Origin::File {
            path: self.path.to_path_buf(),
            name: name.to_string(),
        };
        self.origins.set(key, origin);
        Ok(parsed)
    }

    fn invalid(&self, name: &str, item: &Value, expected: String) -> ConfigError {
        ConfigError::Invalid {
            place: self.path.display().to_string(),
            key: name.to_string(),
            value: item.to_string(),
            expected,
        }
    }

    fn unknown(&mut self, name: &str, item: &Value) {
        let path = self.path.display();
        let warning = match item {
            Value::Table(_) => format!("ignoring unknown section [{name}] in {path}"),
            _ => format!("ignoring unknown key {name} in {path}"),
        };
        self.warnings
            .push(format!("{warning}: {}", unknown_reason(name)));
    }

    fn server(&mut self, config: &mut Config, section: &Table) -> Result<()> {
        for (name, item) in section {
            match name.as_str() {
                "shards" => {
                    config.shard_count =
                        self.take(Key::ShardCount, "server.shards", item, shards)?;
                }
                _ => self.unknown(&format!("server.{name}"), item),
            }
        }
        Ok(())
    }

    fn node(&mut self, config: &mut Config, section: &Table) -> Result<()> {
        for (name, item) in section {
            match name.as_str() {
                "id" => {
                    let parse = |v: &Value| string(v, value::node_id);
                    config.node_id = self.take(Key::NodeId, "node.id", item, parse)?;
                }
                _ => self.unknown(&format!("node.{name}"), item),
            }
        }
        Ok(())
    }

    fn network(&mut self, config: &mut Config, section: &Table) -> Result<()> {
        for (name, item) in section {
            match name.as_str() {
                "listen_addr" => {
                    let parse = |v: &Value| string(v, value::socket_addr);
                    config.network.listen_addr =
                        self.take(Key::ListenAddr, "network.listen_addr", item, parse)?;
                }
                _ => self.unknown(&format!("network.{name}"), item),
            }
        }
        Ok(())
    }

    fn api(&mut self, config: &mut Config, section: &Table) -> Result<()> {
        for (name, item) in section {
            match name.as_str() {
                "max_request_size" => {
                    let bytes =
                        self.take(Key::MaxRequestSize, "api.max_request_size", item, size)?;
                    config.api.max_request_size_bytes = to_usize(bytes);
                }
                "auto_create_partitions" => {
                    config.api.auto_create_partitions = self.take(
                        Key::AutoCreatePartitions,
                        "api.auto_create_partitions",
                        item,
                        boolean,
                    )?;
                }
                _ => self.unknown(&format!("api.{name}"), item),
            }
        }
        Ok(())
    }

    fn query(&mut self, config: &mut Config, section: &Table) -> Result<()> {
        let query = &mut config.query;
        for (name, item) in section {
            let full = format!("query.{name}");
            match name.as_str() {
                "default_limit" => {
                    query.default_limit =
                        to_usize(self.take(Key::QueryDefaultLimit, &full, item, whole)?);
                }
                "max_results" => {
                    query.max_results =
                        to_usize(self.take(Key::QueryMaxResults, &full, item, whole)?);
                }
                "timeout" => {
                    query.timeout_seconds = self.take(Key::QueryTimeout, &full, item, whole)?
                }
                "max_timeout" => {
                    query.max_timeout_seconds =
                        self.take(Key::QueryMaxTimeout, &full, item, whole)?;
                }
                "max_concurrent_queries" => {
                    query.max_concurrent_queries =
                        to_usize(self.take(Key::QueryMaxConcurrent, &full, item, whole)?);
                }
                "max_result_bytes" => {
                    query.max_result_bytes =
                        to_usize(self.take(Key::QueryMaxResultBytes, &full, item, size)?);
                }
                _ => self.unknown(&full, item),
            }
        }
        Ok(())
    }

    fn storage(&mut self, config: &mut Config, section: &Table) -> Result<()> {
        let storage = &mut config.storage;
        // A relative path in the file is relative to the file's own directory, so the same
        // file names the same directories wherever the server is started from.
        let base = self.path.parent().unwrap_or(Path::new("")).to_path_buf();
        for (name, item) in section {
            let full = format!("storage.{name}");
            let path = |v: &Value| string(v, value::path).map(|relative| base.join(relative));
            match name.as_str() {
                "data_dir" => storage.data_dir = self.take(Key::DataDir, &full, item, path)?,
                "wal_dir" => storage.wal_dir = self.take(Key::WalDir, &full, item, path)?,
                "snapshot_dir" => {
                    storage.snapshot_dir = Some(self.take(Key::SnapshotDir, &full, item, path)?)
                }
                "block_rotation" => {
                    storage.block_rotation =
                        self.take(Key::BlockRotation, &full, item, block_rotation)?;
                }
                "compression" => {
                    let parse = |v: &Value| string(v, value::compression);
                    storage.compression = self.take(Key::Compression, &full, item, parse)?;
                }
                "compression_level" => {
                    let parse = |v: &Value| integer(v, value::compression_level);
                    storage.compression_level =
                        self.take(Key::CompressionLevel, &full, item, parse)?;
                }
                "sync_writes" => {
                    storage.sync_writes = self.take(Key::SyncWrites, &full, item, boolean)?
                }
                "fsync_interval" => {
                    storage.fsync_interval_ms =
                        self.take(Key::FsyncInterval, &full, item, whole)?;
                }
                _ => self.storage_limits(storage, &full, item)?,
            }
        }
        Ok(())
    }

    /// The size and retention keys of `[storage]`, split out to keep `storage` short.
    fn storage_limits(
        &mut self,
        storage: &mut super::StorageConfig,
        full: &str,
        item: &Value,
    ) -> Result<()> {
        match full.trim_start_matches("storage.") {
            "retention_days" => {
                let parse = |v: &Value| integer_or_text(v, value::retention_days);
                storage.retention_days = self.take(Key::RetentionDays, full, item, parse)?;
            }
            "max_storage_size" => {
                let parse = |v: &Value| integer_or_text(v, value::optional_size_bytes);
                storage.max_storage_size_bytes =
                    self.take(Key::MaxStorageSize, full, item, parse)?;
            }
            "retention_check_interval" => {
                storage.retention_check_interval_seconds =
                    self.take(Key::RetentionCheckInterval, full, item, whole)?;
            }
            "wal_segment_size" => {
                storage.wal_segment_size_bytes =
                    self.take(Key::WalSegmentSize, full, item, size)?;
            }
            "wal_max_size" => {
                storage.wal_size_max_bytes = self.take(Key::WalMaxSize, full, item, size)?;
            }
            "write_buffer_size" => {
                storage.active_block_memory_max_bytes =
                    self.take(Key::WriteBufferSize, full, item, size)?;
            }
            "index_cache_size" => {
                storage.index_cache_bytes = self.take(Key::IndexCacheSize, full, item, size)?;
            }
            "scrub_rate" => {
                storage.scrub_rate_bytes_per_s = self.take(Key::ScrubRate, full, item, size)?;
            }
            "wal_recovery" => {
                let parse = |v: &Value| string(v, value::wal_recovery);
                storage.wal_recovery = self.take(Key::WalRecovery, full, item, parse)?;
            }
            "on_damaged_block" => {
                let parse = |v: &Value| string(v, value::on_damaged_block);
                storage.on_damaged_block = self.take(Key::OnDamagedBlock, full, item, parse)?;
            }
            _ => self.unknown(full, item),
        }
        Ok(())
    }

    /// A protocol section (`[syslog]`...) and its `mapping` sub-table, by the
    /// settings table in [`protocols`].
    fn protocol(&mut self, config: &mut Config, prefix: &str, section: &Table) -> Result<()> {
        for (name, item) in section {
            let full = format!("{prefix}.{name}");
            if let (Value::Table(table), "mapping") = (item, name.as_str()) {
                self.protocol(config, &full, table)?;
                continue;
            }
            let mut all = protocols::settings()
                .iter()
                .chain(super::auth::settings())
                .chain(super::connections::settings());
            let Some(setting) = all.find(|s| s.name == full) else {
                self.unknown(&full, item);
                continue;
            };
            (setting.set)(config, item).map_err(|expected| self.invalid(&full, item, expected))?;
        }
        Ok(())
    }

    fn logging(&mut self, config: &mut Config, section: &Table) -> Result<()> {
        for (name, item) in section {
            let full = format!("logging.{name}");
            match name.as_str() {
                "level" => {
                    let parse = |v: &Value| string(v, value::log_level);
                    config.logging.level = self.take(Key::LogLevel, &full, item, parse)?;
                }
                "format" => {
                    let parse = |v: &Value| string(v, value::log_format);
                    config.logging.format = self.take(Key::LogFormat, &full, item, parse)?;
                }
                _ => self.unknown(&full, item),
            }
        }
        Ok(())
    }
}

/// Why an unknown key is ignored, with a pointer when TimberDB has a different key for it.
fn unknown_reason(name: &str) -> &'static str {
    match name {
        "api.bind_addr" | "api.https_bind_addr" => {
            "not implemented (the HTTP API listens on network.listen_addr)"
        }
        "network.tls" | "api.enable_https" => {
            "not implemented (TLS is configured in [tls]: cert_file and key_file)"
        }
        "storage.temp_dir" => "not implemented (TimberDB keeps no temporary files)",
        _ => "not implemented",
    }
}

/// Saturates on 32-bit targets; every usize field's range is far below `u32::MAX`, so an
/// out-of-range value still fails validation instead of wrapping.
fn to_usize(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}

/// A string value parsed with `parse`; any other TOML type is refused by name.
fn string<T>(item: &Value, parse: impl Fn(&str) -> Parsed<T>) -> Parsed<T> {
    match item {
        Value::String(text) => parse(text),
        other => Err(format!(
            "expected a quoted string, not {}",
            other.type_str()
        )),
    }
}

/// An integer value parsed with `parse`. Other types render as text no integer parser
/// accepts (`"5"` keeps its quotes), so they fail with the parser's own explanation.
fn integer<T>(item: &Value, parse: impl Fn(&str) -> Parsed<T>) -> Parsed<T> {
    parse(&item.to_string())
}

/// An integer, or a string for the keys that also take words or units (`"64MiB"`, `"none"`).
fn integer_or_text<T>(item: &Value, parse: impl Fn(&str) -> Parsed<T>) -> Parsed<T> {
    match item {
        Value::String(text) => parse(text),
        other => parse(&other.to_string()),
    }
}

fn whole(item: &Value) -> Parsed<u64> {
    integer(item, value::unsigned)
}

fn size(item: &Value) -> Parsed<u64> {
    integer_or_text(item, value::size_bytes)
}

fn shards(item: &Value) -> Parsed<usize> {
    integer_or_text(item, value::shards)
}

fn boolean(item: &Value) -> Parsed<bool> {
    match item {
        Value::Boolean(flag) => Ok(*flag),
        _ => Err("expected true or false".to_string()),
    }
}

/// `{ type = "time" | "size" | "count", value = N }`, or the string form `"size:8388608"`.
fn block_rotation(item: &Value) -> Parsed<BlockRotation> {
    let table = match item {
        Value::String(text) => return value::block_rotation(text),
        Value::Table(table) => table,
        _ => return Err(value::EXPECTED_BLOCK_ROTATION.to_string()),
    };
    let kind = table.get("type").and_then(Value::as_str);
    let amount = table.get("value");
    let extra = table.keys().any(|k| k != "type" && k != "value");
    match (kind, amount, extra) {
        (Some(kind), Some(amount), false) => {
            let amount = if kind.eq_ignore_ascii_case("size") {
                size(amount)
            } else {
                whole(amount)
            };
            let amount = amount.map_err(|_| value::EXPECTED_BLOCK_ROTATION.to_string())?;
            value::block_rotation_parts(kind, amount)
        }
        _ => Err(value::EXPECTED_BLOCK_ROTATION.to_string()),
    }
}
