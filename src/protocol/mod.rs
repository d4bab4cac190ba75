//! protocol/: "how does a shipper's own wire format become entries?"
//!
//! One folder per foreign protocol. Each decodes its bytes into a
//! `ColumnBatch` and commits it through the same path as the native API.

pub mod syslog;
