//! wal/: "is this batch durable yet?"
//!
//! One write-ahead log per shard. `record` is the byte format (pure
//! functions), `payload` what a batch record carries, `writer` the segment
//! files written with O_DIRECT through glommio with group commit, and
//! `replay` reads them back at start-up.

pub mod payload;
pub mod record;
pub mod replay;
pub mod resync;
pub mod writer;

pub use payload::WalBatch;
pub use writer::WalWriter;
