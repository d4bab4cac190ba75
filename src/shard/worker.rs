//! The store worker: the one task per shard that writes segments and the
//! manifest (so manifest replacements never race), one job at a time.
//!
//! Sealing a block: encode its columns with rkyv, compress, checksum, write
//! with O_DIRECT, fdatasync, publish in the manifest. A failure here leaves
//! the block in memory (still queryable) and its entries in the WAL (still
//! recoverable), and stops writes on the shard.

use std::rc::Rc;

use glommio::channels::local_channel::LocalReceiver;

use crate::block::{encode_block, EncodeScratch};

use super::slice::SealingBlock;
use super::store::ShardStore;

/// Seal jobs waiting for the worker. Each holds one active block (at most
/// `ACTIVE_BLOCK_BYTES_MAX`), so this bounds sealing memory per shard.
pub const STORE_QUEUE_MAX: usize = 8;

pub enum StoreJob {
    Seal {
        partition_key: u64,
        block: Rc<SealingBlock>,
    },
    DropPartition {
        partition_key: u64,
        reply: flume::Sender<Result<(), String>>,
    },
}

pub async fn run_store_worker(store: Rc<ShardStore>, queue: LocalReceiver<StoreJob>) {
    let mut scratch = EncodeScratch::default();
    let mut encoded = Vec::new();
    while let Some(job) = queue.recv().await {
        match job {
            StoreJob::Seal {
                partition_key,
                block,
            } => {
                seal(&store, partition_key, &block, &mut scratch, &mut encoded).await;
            }
            StoreJob::DropPartition {
                partition_key,
                reply,
            } => {
                let result = store
                    .drop_partition(partition_key)
                    .await
                    .map_err(|error| error.to_string());
                let _ = reply.send(result);
            }
        }
    }
}

async fn seal(
    store: &ShardStore,
    partition_key: u64,
    block: &Rc<SealingBlock>,
    scratch: &mut EncodeScratch,
    encoded: &mut Vec<u8>,
) {
    if store.check_writable().is_err() {
        return;
    }
    encoded.clear();
    let header = match encode_block(&block.batch, block.first_seq, store.codec, scratch, encoded) {
        Ok(header) => header,
        Err(error) => {
            tracing::error!(%error, partition_key, "could not encode a block; it stays in memory and in the WAL");
            return;
        }
    };
    if let Err(error) = store
        .publish_block(partition_key, block, header, encoded)
        .await
    {
        store.stop_writes(&error);
    }
}
