//! One file per group of endpoints.

pub mod ingest;
pub mod logsql;
pub mod loki_query;
pub mod ops;
pub mod partitions;
pub mod query;
pub mod query_ndjson;
