//! The data model: what one log entry is and how a batch of them is laid out.
//!
//! An entry has a timestamp (ns since the Unix epoch), a normalised level, a
//! source, a message, string tags, and any other JSON fields. Entries are
//! never stored one by one: they live in a column-wise `ColumnBatch`, which is
//! also the WAL payload and the block payload.

mod batch;
mod id;
mod level;
mod pool;
mod view;

pub use batch::{ArchivedColumnBatch, ArchivedStrColumn, ColumnBatch, EntryRef, StrColumn};
pub use id::EntryId;
pub use level::Level;
pub use pool::{BatchPool, BATCH_POOL_BATCHES_MAX, BATCH_POOL_BATCH_BYTES_MAX};
pub use view::BatchView;
