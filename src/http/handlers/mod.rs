//! One file per group of endpoints.

pub mod disk_metrics;
pub mod elasticsearch;
pub mod ingest;
pub mod jsonline;
pub mod keys;
pub mod logsql;
pub mod loki;
pub mod loki_query;
pub mod ops;
pub mod otlp;
pub mod partition_settings;
pub mod partitions;
pub mod query;
pub mod query_ndjson;
pub mod retention_metrics;
pub mod scrub;
pub mod snapshots;
pub mod tail;
pub mod tail_stream;
pub mod ui;
pub mod whoami;
