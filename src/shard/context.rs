//! Everything one shard's tasks share: its store, its copy of the catalog,
//! the queues into its commit loop and store worker, and the senders to the
//! other shards' mailboxes. One per executor, behind an `Rc`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use glommio::channels::local_channel::LocalSender;

use super::commit::CommitItem;
use super::mailbox::PeerRequest;
use super::store::ShardStore;
use super::worker::StoreJob;
use crate::config::Config;
use crate::storage::catalog::Catalog;

/// Counters for `/metrics`, per shard; summed across shards on scrape.
#[derive(Default, Clone, Copy, Debug)]
pub struct ShardCounters {
    pub ingest_requests: u64,
    pub ingest_entries: u64,
    pub ingest_bytes: u64,
    pub ingest_rejected: u64,
    pub query_requests: u64,
    pub queries_timed_out: u64,
    pub http_errors: u64,
    /// Requests refused with 401 (no or bad API key) and 403 (outside the key's grant).
    pub auth_unauthorized: u64,
    pub auth_forbidden: u64,
    /// Requests refused with a key's quota, by `quota::Dimension` (lines, bytes, queries).
    pub quota_throttled: [u64; 3],
    pub syslog: crate::protocol::syslog::SyslogCounters,
    /// HTTP connections open, refused and timed out (`http::admission`).
    pub connections: crate::http::admission::ConnectionCounters,
}

pub struct ShardContext {
    pub shard_id: u32,
    pub shard_count: u32,
    pub config: Arc<Config>,
    pub catalog: Rc<RefCell<Catalog>>,
    pub store: Rc<ShardStore>,
    pub commit_tx: LocalSender<CommitItem>,
    pub store_tx: Rc<LocalSender<StoreJob>>,
    /// Mailbox of every shard, indexed by shard id (this one's included).
    pub peers: Vec<flume::Sender<PeerRequest>>,
    pub counters: Cell<ShardCounters>,
    /// Queries running on this shard's front end (for max_concurrent_queries).
    pub queries_running: Cell<usize>,
    /// Set by a graceful shutdown: ingest is refused from then on.
    pub shutting_down: Cell<bool>,
    /// Serialises catalog writes on shard 0 (one file, one writer at a time).
    pub catalog_write: glommio::sync::Semaphore,
    /// Partitions shard 0 has put in its catalog (so a second create of the
    /// name is refused at once) but not yet written to the catalog file.
    /// They are not found by name or id until they are durable: an entry
    /// acknowledged into one could otherwise be lost with it in a crash.
    pub catalog_pending: RefCell<std::collections::HashSet<u64>>,
    /// Online scrub: this shard's run and totals (and, on shard 0, the node's run).
    pub scrub: crate::scrub::online::ScrubState,
    /// API keys in force and the audit log (`shard::keys`, `http::auth`).
    pub auth: super::keys::ShardAuth,
}

impl ShardContext {
    pub fn count(&self, update: impl FnOnce(&mut ShardCounters)) {
        let mut counters = self.counters.get();
        update(&mut counters);
        self.counters.set(counters);
    }

    pub fn is_catalog_owner(&self) -> bool {
        self.shard_id == 0
    }
}
