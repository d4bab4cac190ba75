//! storage/: "where is it on disk, and is it intact?"
//!
//! Files and their formats' lifecycles: the partition catalog, each shard's
//! manifest, segment files of sealed blocks, and atomic replacement of
//! metadata. The WAL lives in `wal/`; the in-memory state that ties these
//! together is `shard/`.

pub mod append_file;
pub mod atomic_file;
pub mod catalog;
pub mod convert;
pub mod disk_space;
pub mod dma_probe;
pub mod error;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod segment;
pub mod snapshot;
pub mod wal_recovery;

pub use error::{Result, StorageError};
