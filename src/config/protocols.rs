//! Settings of the shippers' protocols: Elasticsearch `_bulk`, JSON lines,
//! Loki, OTLP/HTTP and syslog, one TOML section each.
//!
//! Every protocol turns a foreign record into a TimberDB entry through one
//! [`FieldMapping`]: which field is the message, the time, the source and
//! the level, and which become tags. The defaults are what each shipper
//! sends unconfigured (Filebeat's ECS names for Elasticsearch, VictoriaLogs'
//! `_msg`/`_time` for JSON lines, Loki's labels, OpenTelemetry's semantic
//! conventions), so pointing a shipper at TimberDB needs no change on either
//! side; docs/CONFIG.md and docs/INTEGRATIONS.md say what each name means
//! for each protocol. Nothing about a protocol's fields is hard-coded in its
//! decoder beyond what the protocol itself fixes.

use std::net::SocketAddr;
use std::ops::RangeInclusive;

use toml::Value;

use super::value::{self, Parsed};
use super::{Config, ConfigError, Result};

/// Which field of a shipper's record becomes which part of an entry.
/// Names are dotted paths into nested objects (`host.name` finds
/// `{"host":{"name":..}}` and a flat `"host.name"` key alike); an empty
/// name means the protocol does not use that part of the mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    /// The message, searched by full-text queries.
    pub message: String,
    /// The entry's time; missing or unparsable means "now".
    pub time: String,
    /// The entry's `source`.
    pub source: String,
    /// The entry's `level` (mapped case-insensitively onto TimberDB's five).
    pub level: String,
    /// Fields that become tags (exact-match filters, group-by keys); every
    /// other field is kept with the entry's fields.
    pub tags: Vec<String>,
}

impl FieldMapping {
    fn new(message: &str, time: &str, source: &str, level: &str, tags: &[&str]) -> Self {
        FieldMapping {
            message: message.to_string(),
            time: time.to_string(),
            source: source.to_string(),
            level: level.to_string(),
            tags: tags.iter().map(|tag| tag.to_string()).collect(),
        }
    }
}

/// `[elasticsearch]`: the `_bulk` API and the handshakes shippers make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElasticsearchConfig {
    /// Also serve the Elasticsearch routes under this path (e.g. `/es`), for
    /// a node that must keep `/` for something else. Empty: only at `/`.
    pub path_prefix: String,
    /// The version `GET /` reports; shippers check its major number.
    pub version: String,
    pub mapping: FieldMapping,
}

/// `[jsonline]`: `POST /insert/jsonline`, VictoriaLogs' JSON lines API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLineConfig {
    /// Partition written when the request names none (`?partition=` or the
    /// `TimberDB-Partition` header).
    pub partition: String,
    pub mapping: FieldMapping,
}

/// `[loki]`: `POST /loki/api/v1/push` and the Loki query API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiConfig {
    /// Partition used when a request carries no `X-Scope-OrgID` tenant.
    pub default_partition: String,
    /// Stream labels: `source` and `level` name the labels that become the
    /// entry's source and level; every label becomes a tag.
    pub mapping: FieldMapping,
}

/// `[otlp]`: `POST /v1/logs`, OpenTelemetry logs over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// Partition written when no resource names one.
    pub partition: String,
    /// A resource attribute whose value, when present, names the partition
    /// instead (e.g. `service.namespace`). Empty: always `partition`.
    pub partition_attribute: String,
    /// `source` names a resource attribute; `tags` names attributes
    /// (resource or record) that become tags; the rest become fields.
    pub mapping: FieldMapping,
}

/// `[syslog]`: RFC 3164 and RFC 5424 over TCP and UDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// TCP address to take syslog on (newline or octet-counting framing);
    /// `None`: off.
    pub tcp_listen: Option<SocketAddr>,
    /// UDP address to take syslog on; `None`: off.
    pub udp_listen: Option<SocketAddr>,
    /// Partition syslog messages are written to.
    pub partition: String,
    /// Longest message accepted, in bytes; longer frames are refused.
    pub max_message_size_bytes: usize,
    /// TCP connections served at once per node.
    pub max_connections: usize,
}

pub const ELASTICSEARCH_VERSION_DEFAULT: &str = "8.17.0";
pub const JSONLINE_PARTITION_DEFAULT: &str = "logs";
pub const LOKI_PARTITION_DEFAULT: &str = "loki";
pub const OTLP_PARTITION_DEFAULT: &str = "otlp";
pub const SYSLOG_PARTITION_DEFAULT: &str = "syslog";
pub const SYSLOG_MESSAGE_BYTES_DEFAULT: usize = 64 * 1024;
pub const SYSLOG_CONNECTIONS_DEFAULT: usize = 1024;

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        ElasticsearchConfig {
            path_prefix: String::new(),
            version: ELASTICSEARCH_VERSION_DEFAULT.to_string(),
            // Filebeat's and Elastic Agent's ECS field names.
            mapping: FieldMapping::new(
                "message",
                "@timestamp",
                "host.name",
                "log.level",
                &["service.name"],
            ),
        }
    }
}

impl Default for JsonLineConfig {
    fn default() -> Self {
        JsonLineConfig {
            partition: JSONLINE_PARTITION_DEFAULT.to_string(),
            mapping: FieldMapping::new("_msg", "_time", "source", "level", &[]),
        }
    }
}

impl Default for LokiConfig {
    fn default() -> Self {
        LokiConfig {
            default_partition: LOKI_PARTITION_DEFAULT.to_string(),
            mapping: FieldMapping::new("", "", "service_name", "level", &[]),
        }
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            partition: OTLP_PARTITION_DEFAULT.to_string(),
            partition_attribute: String::new(),
            mapping: FieldMapping::new(
                "",
                "",
                "service.name",
                "",
                &["host.name", "deployment.environment.name"],
            ),
        }
    }
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            tcp_listen: None,
            udp_listen: None,
            partition: SYSLOG_PARTITION_DEFAULT.to_string(),
            max_message_size_bytes: SYSLOG_MESSAGE_BYTES_DEFAULT,
            max_connections: SYSLOG_CONNECTIONS_DEFAULT,
        }
    }
}

/// Largest `syslog.max_message_size`: a frame is held whole in memory.
pub const SYSLOG_MESSAGE_BYTES_RANGE: RangeInclusive<u64> = 480..=16 * 1024 * 1024;
/// Range of `syslog.max_connections`.
pub const SYSLOG_CONNECTIONS_RANGE: RangeInclusive<u64> = 1..=1_000_000;

/// One setting of a protocol section, described once for every layer: the
/// file layer finds it by `name`, the environment layer by `env`, and the
/// start-up summary prints it with `show`. `set` checks form and range, so
/// an error names the key the way its source wrote it.
pub(super) struct Setting {
    /// Dotted TOML name, e.g. `syslog.tcp_listen`.
    pub name: &'static str,
    /// Environment variable, e.g. `TIMBERDB_SYSLOG_TCP_LISTEN`.
    pub env: &'static str,
    /// Parses a TOML value (the environment's text arrives as a string) into the config.
    pub set: fn(&mut Config, &Value) -> Parsed<()>,
    /// The value as TOML, or `None` when unset (the summary then writes a comment).
    pub show: fn(&Config) -> Option<String>,
}

/// Every protocol setting. Mapping keys are generated per section by
/// `mapping_settings!` so the five sections cannot drift apart.
pub(super) fn settings() -> &'static [Setting] {
    &SETTINGS
}

/// The sections this module owns, for the file layer.
pub(super) const SECTIONS: [&str; 5] = ["elasticsearch", "jsonline", "loki", "otlp", "syslog"];

macro_rules! mapping_settings {
    ($section:ident, $name:literal, $env:literal) => {
        [
            Setting {
                name: concat!($name, ".mapping.message"),
                env: concat!("TIMBERDB_", $env, "_MAPPING_MESSAGE"),
                set: |c, v| field_name(v).map(|s| c.$section.mapping.message = s),
                show: |c| Some(quoted(&c.$section.mapping.message)),
            },
            Setting {
                name: concat!($name, ".mapping.time"),
                env: concat!("TIMBERDB_", $env, "_MAPPING_TIME"),
                set: |c, v| field_name(v).map(|s| c.$section.mapping.time = s),
                show: |c| Some(quoted(&c.$section.mapping.time)),
            },
            Setting {
                name: concat!($name, ".mapping.source"),
                env: concat!("TIMBERDB_", $env, "_MAPPING_SOURCE"),
                set: |c, v| field_name(v).map(|s| c.$section.mapping.source = s),
                show: |c| Some(quoted(&c.$section.mapping.source)),
            },
            Setting {
                name: concat!($name, ".mapping.level"),
                env: concat!("TIMBERDB_", $env, "_MAPPING_LEVEL"),
                set: |c, v| field_name(v).map(|s| c.$section.mapping.level = s),
                show: |c| Some(quoted(&c.$section.mapping.level)),
            },
            Setting {
                name: concat!($name, ".mapping.tags"),
                env: concat!("TIMBERDB_", $env, "_MAPPING_TAGS"),
                set: |c, v| field_names(v).map(|s| c.$section.mapping.tags = s),
                show: |c| Some(string_array(&c.$section.mapping.tags)),
            },
        ]
    };
}

static SETTINGS: std::sync::LazyLock<Vec<Setting>> = std::sync::LazyLock::new(|| {
    let mut all = vec![
        Setting {
            name: "elasticsearch.path_prefix",
            env: "TIMBERDB_ELASTICSEARCH_PATH_PREFIX",
            set: |c, v| text(v, path_prefix).map(|s| c.elasticsearch.path_prefix = s),
            show: |c| Some(quoted(&c.elasticsearch.path_prefix)),
        },
        Setting {
            name: "elasticsearch.version",
            env: "TIMBERDB_ELASTICSEARCH_VERSION",
            set: |c, v| text(v, es_version).map(|s| c.elasticsearch.version = s),
            show: |c| Some(quoted(&c.elasticsearch.version)),
        },
        Setting {
            name: "jsonline.partition",
            env: "TIMBERDB_JSONLINE_PARTITION",
            set: |c, v| text(v, partition).map(|s| c.jsonline.partition = s),
            show: |c| Some(quoted(&c.jsonline.partition)),
        },
        Setting {
            name: "loki.default_partition",
            env: "TIMBERDB_LOKI_DEFAULT_PARTITION",
            set: |c, v| text(v, partition).map(|s| c.loki.default_partition = s),
            show: |c| Some(quoted(&c.loki.default_partition)),
        },
        Setting {
            name: "otlp.partition",
            env: "TIMBERDB_OTLP_PARTITION",
            set: |c, v| text(v, partition).map(|s| c.otlp.partition = s),
            show: |c| Some(quoted(&c.otlp.partition)),
        },
        Setting {
            name: "otlp.partition_attribute",
            env: "TIMBERDB_OTLP_PARTITION_ATTRIBUTE",
            set: |c, v| field_name(v).map(|s| c.otlp.partition_attribute = s),
            show: |c| Some(quoted(&c.otlp.partition_attribute)),
        },
        Setting {
            name: "syslog.tcp_listen",
            env: "TIMBERDB_SYSLOG_TCP_LISTEN",
            set: |c, v| text(v, optional_addr).map(|a| c.syslog.tcp_listen = a),
            show: |c| c.syslog.tcp_listen.map(|a| quoted(&a.to_string())),
        },
        Setting {
            name: "syslog.udp_listen",
            env: "TIMBERDB_SYSLOG_UDP_LISTEN",
            set: |c, v| text(v, optional_addr).map(|a| c.syslog.udp_listen = a),
            show: |c| c.syslog.udp_listen.map(|a| quoted(&a.to_string())),
        },
        Setting {
            name: "syslog.partition",
            env: "TIMBERDB_SYSLOG_PARTITION",
            set: |c, v| text(v, partition).map(|s| c.syslog.partition = s),
            show: |c| Some(quoted(&c.syslog.partition)),
        },
        Setting {
            name: "syslog.max_message_size",
            env: "TIMBERDB_SYSLOG_MAX_MESSAGE_SIZE",
            set: |c, v| {
                let bytes = number(v, value::size_bytes, &SYSLOG_MESSAGE_BYTES_RANGE)?;
                c.syslog.max_message_size_bytes = bytes as usize;
                Ok(())
            },
            show: |c| Some(c.syslog.max_message_size_bytes.to_string()),
        },
        Setting {
            name: "syslog.max_connections",
            env: "TIMBERDB_SYSLOG_MAX_CONNECTIONS",
            set: |c, v| {
                let count = number(v, value::unsigned, &SYSLOG_CONNECTIONS_RANGE)?;
                c.syslog.max_connections = count as usize;
                Ok(())
            },
            show: |c| Some(c.syslog.max_connections.to_string()),
        },
    ];
    all.extend(mapping_settings!(
        elasticsearch,
        "elasticsearch",
        "ELASTICSEARCH"
    ));
    all.extend(mapping_settings!(jsonline, "jsonline", "JSONLINE"));
    all.extend(mapping_settings!(loki, "loki", "LOKI"));
    all.extend(mapping_settings!(otlp, "otlp", "OTLP"));
    all
});

/// Checks what one key cannot: the syslog TCP listener must not take the
/// HTTP API's address.
pub(super) fn validate(config: &Config) -> Result<()> {
    if config.syslog.tcp_listen == Some(config.network.listen_addr) {
        return Err(ConfigError::Conflict {
            place: "the configuration".to_string(),
            first: "network.listen_addr".to_string(),
            second: "syslog.tcp_listen".to_string(),
            advice: format!(
                "they name the same TCP address {}; give syslog its own port (514 or 1514 are usual)",
                config.network.listen_addr
            ),
        });
    }
    Ok(())
}

/// A string value parsed with `parse`; other TOML types are refused by name.
fn text<T>(item: &Value, parse: fn(&str) -> Parsed<T>) -> Parsed<T> {
    match item {
        Value::String(text) => parse(text),
        other => Err(format!(
            "expected a quoted string, not {}",
            other.type_str()
        )),
    }
}

/// A number (or a string such as `"64KiB"`) inside `range`.
fn number(
    item: &Value,
    parse: fn(&str) -> Parsed<u64>,
    range: &RangeInclusive<u64>,
) -> Parsed<u64> {
    let parsed = match item {
        Value::String(text) => parse(text)?,
        other => parse(&other.to_string())?,
    };
    if !range.contains(&parsed) {
        return Err(format!(
            "expected a value between {} and {}",
            range.start(),
            range.end()
        ));
    }
    Ok(parsed)
}

/// A field or attribute name: empty (unused) or up to 256 bytes without
/// control characters.
fn field_name(item: &Value) -> Parsed<String> {
    text(item, |name| {
        if name.len() > 256 || name.chars().any(char::is_control) {
            return Err(
                "expected a field name of at most 256 bytes without control characters".into(),
            );
        }
        Ok(name.to_string())
    })
}

/// A list of field names: a TOML array of strings, or one comma-separated
/// string (the environment's form).
fn field_names(item: &Value) -> Parsed<Vec<String>> {
    let names: Vec<Value> = match item {
        Value::Array(items) => items.clone(),
        Value::String(list) => list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| Value::String(name.to_string()))
            .collect(),
        other => {
            return Err(format!(
                "expected an array of field names, not {}",
                other.type_str()
            ))
        }
    };
    names.iter().map(field_name).collect()
}

/// A partition name, by the catalog's rules.
fn partition(name: &str) -> Parsed<String> {
    crate::storage::catalog::validate_name(name)
        .map(|()| name.to_string())
        .map_err(|reason| format!("expected a partition name: {reason}"))
}

/// Empty, or an absolute path without a trailing slash (`/es`).
fn path_prefix(prefix: &str) -> Parsed<String> {
    let well_formed =
        prefix.starts_with('/') && !prefix.ends_with('/') && !prefix.contains(['?', '#', ' ']);
    if prefix.is_empty() || well_formed {
        return Ok(prefix.to_string());
    }
    Err("expected \"\" or a path such as \"/es\" (leading '/', no trailing '/')".to_string())
}

/// A version shippers can read: `MAJOR.MINOR.PATCH` of digits.
fn es_version(version: &str) -> Parsed<String> {
    let parts: Vec<&str> = version.split('.').collect();
    let digits = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if parts.len() == 3 && parts.iter().all(digits) {
        return Ok(version.to_string());
    }
    Err("expected a version such as \"8.17.0\" (Beats and Vector check the major number)".into())
}

/// An address to listen on, or `""` / `"off"` for none.
fn optional_addr(text: &str) -> Parsed<Option<SocketAddr>> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    value::socket_addr(text).map(Some)
}

fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn string_array(items: &[String]) -> String {
    let array = items
        .iter()
        .map(|item| Value::String(item.clone()))
        .collect();
    Value::Array(array).to_string()
}
