//! One file per group of endpoints.

pub mod elasticsearch;
pub mod ingest;
pub mod jsonline;
pub mod ops;
pub mod partitions;
pub mod query;
pub mod query_ndjson;
