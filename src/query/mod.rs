//! query/: "which entries match, and how was the answer found?"
//!
//! `request` turns a request body into a `QueryPlan`; `execute` runs the
//! plan on one shard (time pruning, block reads, exact filter, top-k);
//! `response` merges the shards' results and renders the body. `filter` is
//! the predicate; `view` lets it read owned and archived batches alike.
//! `lang` parses the `q` query language; `expr` evaluates its filters.

pub mod aggregate;
pub mod execute;
pub mod expr;
pub mod filter;
pub mod lang;
pub mod prune;
pub mod request;
pub mod response;
pub mod view;

pub use execute::{run_on_shard, FoundEntry, ShardResult};
pub use request::{compile, PlanError, QueryBody, QueryPlan};
