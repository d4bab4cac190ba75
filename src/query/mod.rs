//! query/: "which entries match, and how was the answer found?"
//!
//! `request` turns a request body into a `QueryPlan`; `execute` runs the
//! plan on one shard (time pruning, block reads, exact filter, top-k) and
//! `collector` decides which of its entries are final; `stream` carries them
//! to the front end, where `merge` interleaves the shards' streams lazily;
//! `response` renders the JSON body or NDJSON lines. `filter` is
//! the predicate; `view` lets it read owned and archived batches alike.
//! `lang` parses the `q` query language; `expr` evaluates its filters.
//! `cursor` encodes where a page ended, so the next continues after it.

pub mod aggregate;
pub mod collector;
pub mod cursor;
pub mod execute;
pub mod expr;
pub mod filter;
pub mod lang;
pub mod merge;
pub mod prune;
pub mod request;
pub mod response;
pub mod scan;
pub mod stream;

pub use execute::{run_on_shard, FoundEntry};
pub use request::{compile, PlanError, QueryBody, QueryPlan};
pub use stream::{QuerySummary, ResultStream, ShardChunk, ShardReceivers, ShardSummary};
