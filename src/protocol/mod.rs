//! The shippers' protocols: each decodes a foreign wire format into
//! `ColumnBatch`es (one folder per protocol), with no HTTP in it, so tests
//! and fuzzers drive it directly.

pub mod loki;
pub mod otlp;
