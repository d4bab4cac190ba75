//! Messages between shards. Each shard has one bounded flume mailbox; a
//! request carries a bounded(1) channel for its answer. One message per
//! request batch or query, never per entry.

use std::rc::Rc;
use std::sync::Arc;

use super::commit::CommitItem;
use super::context::{ShardContext, ShardCounters};
use super::partitions::{self, AdminError, CreateRequest, SliceStats};
use super::snapshot;
use super::tail::{TailStats, TailSubscription, TailWatermarks};
use super::worker::StoreJob;
use crate::query::stream::CHUNKS_IN_FLIGHT_MAX;
use crate::query::{run_on_shard, QueryPlan, ShardChunk, ShardReceivers, ShardSummary};
use crate::scrub::online::{self as scrub, NodeRun, ScrubOptions, ScrubTotals, ShardRun};
use crate::storage::catalog::PartitionMeta;

/// Requests queued per shard mailbox; a full mailbox makes senders wait.
pub const MAILBOX_MAX: usize = 1024;

pub type Reply<T> = flume::Sender<T>;

pub enum PeerRequest {
    /// To shard 0: create a partition in the durable catalog.
    CreatePartition {
        request: CreateRequest,
        reply: Reply<Result<Arc<PartitionMeta>, AdminError>>,
    },
    /// To shard 0: delete a partition everywhere.
    DeletePartition {
        key: u64,
        reply: Reply<Result<(), AdminError>>,
    },
    /// To shard 0: change a partition's retention settings (`PATCH`).
    UpdatePartition {
        key: u64,
        change: super::partition_settings::SettingsChange,
        reply: Reply<Result<Arc<PartitionMeta>, AdminError>>,
    },
    /// From shard 0 to all: the catalog gained a partition (or a changed
    /// version of one it has).
    CatalogInsert {
        meta: Arc<PartitionMeta>,
        reply: Reply<()>,
    },
    /// From shard 0 to all: forget a partition and remove its files.
    CatalogRemove {
        key: u64,
        reply: Reply<Result<(), String>>,
    },
    /// Run a query here: final entries stream into `chunks` (the front end
    /// drops its end to stop the query), then the summary goes to `reply`.
    Query {
        plan: Arc<QueryPlan>,
        chunks: flume::Sender<ShardChunk>,
        reply: Reply<Result<ShardSummary, String>>,
    },
    SliceStats {
        key: Option<u64>,
        reply: Reply<Vec<SliceStats>>,
    },
    Counters {
        reply: Reply<(ShardCounters, ShardHealth)>,
    },
    /// Graceful shutdown: refuse new writes, sync the WAL, seal every
    /// active block, and answer once the store worker has finished.
    Shutdown { reply: Reply<()> },
    /// To shard 0: take a snapshot (`shard::snapshot`).
    CreateSnapshot {
        name: Option<String>,
        reply: Reply<Result<crate::storage::snapshot::SnapshotInfo, snapshot::SnapshotRefusal>>,
    },
    /// From shard 0 to all: write this shard's part of a snapshot into `dir`.
    SnapshotShard {
        dir: std::path::PathBuf,
        reply: Reply<Result<snapshot::ShardSnapshot, String>>,
    },
    /// To shard 0: start an online scrub run (`Err`: the run already running).
    ScrubStart {
        options: ScrubOptions,
        reply: Reply<Result<NodeRun, NodeRun>>,
    },
    /// From shard 0 to all: scrub this shard; answered when done.
    ScrubShard {
        id: String,
        options: ScrubOptions,
        reply: Reply<()>,
    },
    /// To shard 0: the node's current or last run; to every shard: its part.
    ScrubStatus {
        reply: Reply<(Option<NodeRun>, ShardRun)>,
    },
    /// Register a live tail stream here; the answer says where its live
    /// part starts on this shard (see `shard::tail`).
    TailSubscribe {
        subscription: TailSubscription,
        reply: Reply<TailWatermarks>,
    },
    /// A tail stream ended: forget its registration here.
    TailUnsubscribe { id: u64, reply: Reply<()> },
    /// To shard 0: mint an API key (`shard::keys`).
    CreateKey {
        spec: crate::auth::KeySpec,
        reply: Reply<Result<(crate::auth::KeyRecord, String), super::keys::KeyAdminError>>,
    },
    /// To shard 0: revoke an API key.
    RevokeKey {
        id: String,
        reply: Reply<Result<(), super::keys::KeyAdminError>>,
    },
    /// To shard 0: apply a JSON merge patch to an API key's quota.
    UpdateKeyQuota {
        id: String,
        patch: serde_json::Value,
        reply: Reply<Result<crate::auth::KeyRecord, super::keys::KeyAdminError>>,
    },
    /// From shard 0 to all: the keys in force from now on.
    InstallKeys {
        ring: Arc<crate::auth::KeyRing>,
        reply: Reply<()>,
    },
}

/// What `/ready` and `/metrics` need from each shard.
#[derive(Clone, Debug, Default)]
pub struct ShardHealth {
    pub writes_stopped: Option<String>,
    /// Set while the shard's storage budget cannot be met (ingest 507).
    pub storage_limit: Option<String>,
    /// Set while writes are refused for lack of disk space (ingest 507): why.
    pub disk_full: Option<String>,
    pub active_bytes: usize,
    pub commit_queue_len: usize,
    /// Bytes of block directories held in memory (always resident).
    pub directory_bytes: usize,
    /// The granule filter cache: budget, bytes held, hits and misses.
    pub filter_cache: crate::shard::filters::FilterCacheStats,
    /// Online scrub totals since start.
    pub scrub: ScrubTotals,
    /// Live tail subscribers and what they were sent.
    pub tail: TailStats,
    /// What quarantine removed from this shard (every partition).
    pub quarantined: super::damage::Quarantined,
    /// Damaged blocks found by requests and not quarantined yet.
    pub damaged_pending: usize,
}

pub async fn run_mailbox(ctx: Rc<ShardContext>, inbox: flume::Receiver<PeerRequest>) {
    while let Ok(request) = inbox.recv_async().await {
        let ctx = ctx.clone();
        glommio::spawn_local(async move { handle(ctx, request).await }).detach();
    }
}

async fn handle(ctx: Rc<ShardContext>, request: PeerRequest) {
    match request {
        PeerRequest::CreatePartition { request, reply } => {
            let _ = reply.send(partitions::create_as_owner(&ctx, request).await);
        }
        PeerRequest::DeletePartition { key, reply } => {
            let _ = reply.send(partitions::delete_as_owner(&ctx, key).await);
        }
        PeerRequest::UpdatePartition { key, change, reply } => {
            let _ = reply.send(super::partition_settings::update_as_owner(&ctx, key, change).await);
        }
        PeerRequest::CatalogInsert { meta, reply } => {
            ctx.catalog.borrow_mut().insert(meta);
            let _ = reply.send(());
        }
        PeerRequest::CatalogRemove { key, reply } => {
            let _ = reply.send(forget_partition(&ctx, key).await);
        }
        PeerRequest::Query {
            plan,
            chunks,
            reply,
        } => {
            let result = run_on_shard(&ctx.store, &plan, &chunks)
                .await
                .map_err(|error| error.to_string());
            // The summary goes first: the front end reads it as soon as it
            // sees the chunk channel end.
            let _ = reply.send(result);
            drop(chunks);
        }
        PeerRequest::SliceStats { key, reply } => {
            let _ = reply.send(partitions::local_slice_stats(&ctx, key));
        }
        PeerRequest::TailSubscribe {
            subscription,
            reply,
        } => {
            let _ = reply.send(subscribe_tail(&ctx, subscription));
        }
        PeerRequest::CreateKey { spec, reply } => {
            let _ = reply.send(super::keys::create_as_owner(&ctx, spec).await);
        }
        PeerRequest::RevokeKey { id, reply } => {
            let _ = reply.send(super::keys::revoke_as_owner(&ctx, id).await);
        }
        PeerRequest::UpdateKeyQuota { id, patch, reply } => {
            let _ = reply.send(super::keys::update_quota_as_owner(&ctx, id, patch).await);
        }
        PeerRequest::InstallKeys { ring, reply } => {
            *ctx.auth.ring.borrow_mut() = ring;
            let _ = reply.send(());
        }
        PeerRequest::TailUnsubscribe { id, reply } => {
            ctx.store.tails.unsubscribe(id);
            let _ = reply.send(());
        }
        PeerRequest::Shutdown { reply } => {
            shut_down(&ctx).await;
            let _ = reply.send(());
        }
        PeerRequest::CreateSnapshot { name, reply } => {
            let _ = reply.send(snapshot::create_as_owner(&ctx, name).await);
        }
        PeerRequest::SnapshotShard { dir, reply } => {
            let _ = reply.send(snapshot::snapshot_shard(&ctx, dir).await);
        }
        PeerRequest::ScrubStart { options, reply } => {
            let _ = reply.send(scrub::start(&ctx, options));
        }
        PeerRequest::ScrubShard { id, options, reply } => {
            scrub::run_shard(&ctx, id, options).await;
            let _ = reply.send(());
        }
        PeerRequest::ScrubStatus { reply } => {
            let node = ctx.scrub.node.borrow().clone();
            let _ = reply.send((node, ctx.scrub.shard.borrow().clone()));
        }
        PeerRequest::Counters { reply } => {
            let health = ShardHealth {
                writes_stopped: ctx.store.writes_stopped.borrow().clone(),
                storage_limit: ctx.store.retention.over_budget.borrow().clone(),
                disk_full: ctx.store.disk_full_reason(),
                active_bytes: ctx.store.active_bytes(),
                commit_queue_len: ctx.commit_tx.len(),
                directory_bytes: ctx.store.directory_bytes(),
                filter_cache: ctx.store.filters.stats(),
                scrub: ctx.scrub.totals.get(),
                tail: ctx.store.tails.stats(),
                quarantined: ctx.store.damage.quarantined_total(),
                damaged_pending: ctx.store.damage.known_count(),
            };
            let _ = reply.send((ctx.counters.get(), health));
        }
    }
}

/// Drops a partition from this shard's catalog copy, then its slice and files.
pub async fn forget_partition(ctx: &ShardContext, key: u64) -> Result<(), String> {
    ctx.catalog.borrow_mut().remove(key);
    let (reply, answer) = flume::bounded(1);
    if ctx
        .store_tx
        .send(StoreJob::DropPartition {
            partition_key: key,
            reply,
        })
        .await
        .is_err()
    {
        return Err("the store worker has stopped".into());
    }
    answer
        .recv_async()
        .await
        .unwrap_or_else(|_| Err("the store worker has stopped".into()))
}

/// Sends a request to shard `shard` and waits for its answer.
pub async fn call<T>(
    ctx: &ShardContext,
    shard: u32,
    make: impl FnOnce(Reply<T>) -> PeerRequest,
) -> Result<T, String> {
    let (reply, answer) = flume::bounded(1);
    ctx.peers[shard as usize]
        .send_async(make(reply))
        .await
        .map_err(|_| format!("shard {shard} is not running"))?;
    answer
        .recv_async()
        .await
        .map_err(|_| format!("shard {shard} dropped the request"))
}

/// Sends a request to every shard (this one included) and collects answers
/// in shard order. The requests run concurrently on their shards.
pub async fn call_all<T>(
    ctx: &ShardContext,
    make: impl Fn(Reply<T>) -> PeerRequest,
) -> Result<Vec<T>, String> {
    let mut answers = Vec::with_capacity(ctx.shard_count as usize);
    for shard in 0..ctx.shard_count {
        let (reply, answer) = flume::bounded(1);
        ctx.peers[shard as usize]
            .send_async(make(reply))
            .await
            .map_err(|_| format!("shard {shard} is not running"))?;
        answers.push(answer);
    }
    let mut results = Vec::with_capacity(answers.len());
    for (shard, answer) in answers.into_iter().enumerate() {
        results.push(
            answer
                .recv_async()
                .await
                .map_err(|_| format!("shard {shard} dropped the request"))?,
        );
    }
    Ok(results)
}

/// Starts `plan` on every shard (this one included) and returns the front
/// end's ends of their result channels, in shard order.
pub async fn start_query(
    ctx: &ShardContext,
    plan: &Arc<QueryPlan>,
) -> Result<Vec<ShardReceivers>, String> {
    let mut shards = Vec::with_capacity(ctx.shard_count as usize);
    for shard in 0..ctx.shard_count {
        let (chunks, chunks_rx) = flume::bounded(CHUNKS_IN_FLIGHT_MAX);
        let (reply, summary) = flume::bounded(1);
        ctx.peers[shard as usize]
            .send_async(PeerRequest::Query {
                plan: plan.clone(),
                chunks,
                reply,
            })
            .await
            .map_err(|_| format!("shard {shard} is not running"))?;
        shards.push(ShardReceivers {
            chunks: chunks_rx,
            summary,
        });
    }
    Ok(shards)
}

/// Registers a tail stream and returns, per partition, the first sequence
/// number it will get live. Both happen in one step on this executor, so
/// every entry is either below the watermark (visible to the stream's
/// look-back query) or published to the subscription, never both, never
/// neither. A stream that arrives during shutdown is not registered: its
/// sender is dropped here, and the stream ends at once.
fn subscribe_tail(ctx: &ShardContext, subscription: TailSubscription) -> TailWatermarks {
    let watermarks = ctx
        .store
        .slices
        .borrow()
        .iter()
        .map(|(key, slice)| (*key, slice.next_seq))
        .collect();
    if !ctx.shutting_down.get() {
        ctx.store.tails.subscribe(subscription);
    }
    watermarks
}

async fn shut_down(ctx: &ShardContext) {
    ctx.shutting_down.set(true);
    // Ends every live tail stream cleanly before the process exits.
    ctx.store.tails.close_all();
    let (reply, answer) = flume::bounded(1);
    if ctx
        .commit_tx
        .send(CommitItem::Drain { reply })
        .await
        .is_ok()
    {
        let _ = answer.recv_async().await;
    }
}
