//! shard/: "who owns this data, and how does it move between memory and disk?"
//!
//! One shard per core. `runtime` starts them; `store` and `slice` hold a
//! shard's data in its three stages; `commit` is the WAL group-commit loop;
//! `worker` seals blocks and writes the manifest; `recovery` rebuilds it all
//! at start; `mailbox` and `partitions` are how shards talk to each other.

pub mod commit;
pub mod compaction;
pub mod context;
pub mod damage;
pub mod filters;
pub mod keys;
pub mod mailbox;
pub mod partition_settings;
pub mod partitions;
pub mod read;
pub mod recovery;
pub mod retention;
pub mod runtime;
pub mod slice;
pub mod snapshot;
pub mod store;
pub mod tail;
pub mod worker;

pub use context::ShardContext;
pub use runtime::run_server;
