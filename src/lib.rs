//! TimberDB: a thread-per-core log database.
//!
//! See `docs/ARCHITECTURE.md` for which folder answers which question.

pub mod auth;
pub mod block;
pub mod check;
pub mod client;
pub mod config;
pub mod entry;
pub mod failpoint;
/// The fuzz targets' entry functions (`fuzz/`), also run on stable by
/// `tests/fuzz_corpus.rs`. Not a public API.
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod index;
pub mod ingest;
pub mod logql;
pub mod protocol;
pub mod query;
pub mod quota;
pub mod restore;
pub mod scrub;
pub mod shard;
pub mod storage;
pub mod text;
pub mod time;
pub mod wal;
