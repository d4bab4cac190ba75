//! One file per group of endpoints.

pub mod elasticsearch;
pub mod ingest;
pub mod jsonline;
pub mod logsql;
pub mod loki;
pub mod loki_query;
pub mod ops;
pub mod otlp;
pub mod partitions;
pub mod query;
pub mod query_ndjson;
pub mod tail;
pub mod tail_stream;
