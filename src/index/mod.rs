//! index/: "which granules can hold a match, without reading them?"
//!
//! A sealed block's directory (`block::directory`) already answers for time
//! ranges, levels, sources and tag values kept in dictionaries. What it
//! cannot hold exactly, each granule's words and its values too numerous for
//! a dictionary, goes into the granule's filter: `filter.rs` builds and
//! probes it (a binary fuse filter over item hashes), `build.rs` collects a
//! granule's items fast at seal time. Queries test both through
//! `query::prune`.

pub mod build;
pub mod filter;

pub use build::FilterKeys;
pub use filter::{GranuleFilter, ItemKind};
