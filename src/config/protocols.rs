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
