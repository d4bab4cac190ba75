//! TimberDB: a thread-per-core log database.
//!
//! See `docs/ARCHITECTURE.md` for which folder answers which question.

pub mod entry;
