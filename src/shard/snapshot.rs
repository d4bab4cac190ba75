//! Snapshots: a consistent copy of the database that a running server
//! takes without stopping ingest (`POST /api/v1/admin/snapshots`).
//!
//! Shard 0 runs one snapshot at a time. It creates `<snapshot_dir>/<name>/`,
//! copies `layout.json` and `catalog.json` there, and asks every shard for
//! its part. On each shard:
//!
//! 1. the commit loop (`CommitItem::Snapshot`) notes each slice's last
//!    applied sequence number, takes every active block out for sealing (as
//!    the shutdown drain does, but ingest goes on), and queues
//!    `StoreJob::Snapshot` behind those seals;
//! 2. the store worker, the only writer of segment files and the manifest,
//!    runs the job once the seals before it are published, so no manifest
//!    change races it: it checks that every slice is sealed up to the
//!    noted sequence number, hard-links each segment file holding a
//!    published block into `<snapshot>/shard-<n>/` (copies it, sparse, when
//!    the snapshot directory is on another filesystem), and writes a
//!    manifest file holding a checkpoint of the published state.
//!
//! Every entry acknowledged before the request was applied before the
//! commit loop took the `Snapshot` item, so it is in a block the checkpoint
//! names; a batch is appended to one active block whole, so it is in one
//! block, wholly present or wholly absent. Blocks published later lie past
//! what the checkpoint names and are never read from the snapshot. Last,
//! shard 0 writes `snapshot.json`, which makes the snapshot complete.
//!
//! A hard link shares the live file's bytes, so the server must not destroy
//! bytes a snapshot uses: `SegmentFile::release_allowed` refuses every punch
//! and trim of a file with more than one link, and recovery starts a new
//! segment instead of appending to a shared one.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use super::commit::CommitItem;
use super::context::ShardContext;
use super::mailbox::{call, call_all, PeerRequest};
use super::partitions::now_ns;
use super::store::ShardStore;
use crate::block::BLOCK_FORMAT_VERSION;
use crate::storage::catalog::{Catalog, CATALOG_FILE_NAME};
use crate::storage::layout::{LAYOUT_FILE_NAME, LAYOUT_FORMAT_VERSION};
use crate::storage::manifest::{
    checkpoint_file_bytes, manifest_file_name, MANIFEST_FORMAT_VERSION,
};
use crate::storage::segment::segment_file_name;
use crate::storage::snapshot::{
    self as files, default_snapshot_name, validate_snapshot_name, SnapshotFile, SnapshotInfo,
    SNAPSHOT_FORMAT_VERSION,
};

/// The manifest generation a snapshot's manifest files carry (a restored
/// shard loads it and writes generation 2).
const SNAPSHOT_MANIFEST_GENERATION: u64 = 1;
/// Default names taken within one second get `-2`, `-3`, ... up to this.
const DEFAULT_NAME_SUFFIX_MAX: u32 = 100;

/// Why a snapshot request was refused.
#[derive(Clone, Debug)]
pub enum SnapshotRefusal {
    InvalidName(String),
    Exists(String),
    NotFound(String),
    Internal(String),
}

/// A shard's part of a snapshot: the files it wrote, relative to the
/// snapshot directory, and whether segments were copied (not linked).
#[derive(Clone, Debug)]
pub struct ShardSnapshot {
    pub files: Vec<SnapshotFile>,
    pub copied: bool,
}

/// What the commit loop hands the store worker.
pub struct ShardSnapshotJob {
    /// The snapshot's directory; the shard writes `shard-<n>/` in it.
    pub dir: PathBuf,
    pub reply: flume::Sender<Result<ShardSnapshot, String>>,
}

thread_local! {
    /// One snapshot at a time (shard 0's executor thread only).
    static SNAPSHOT_RUNNING: Rc<glommio::sync::Semaphore> = Rc::new(glommio::sync::Semaphore::new(1));
}

/// Takes a snapshot (forwarded to shard 0, which runs them one at a time).
pub async fn create(
    ctx: &ShardContext,
    name: Option<String>,
) -> Result<SnapshotInfo, SnapshotRefusal> {
    if let Some(name) = &name {
        validate_snapshot_name(name).map_err(SnapshotRefusal::InvalidName)?;
    }
    if !ctx.is_catalog_owner() {
        return call(ctx, 0, |reply| PeerRequest::CreateSnapshot { name, reply })
            .await
            .map_err(SnapshotRefusal::Internal)?;
    }
    create_as_owner(ctx, name).await
}

pub async fn create_as_owner(
    ctx: &ShardContext,
    name: Option<String>,
) -> Result<SnapshotInfo, SnapshotRefusal> {
    let semaphore = SNAPSHOT_RUNNING.with(Rc::clone);
    let _permit = semaphore
        .acquire_permit(1)
        .await
        .map_err(|error| SnapshotRefusal::Internal(error.to_string()))?;
    let started = Instant::now();
    let created_at_ns = now_ns();
    let root = ctx.config.storage.snapshot_root();
    let data_dir = ctx.config.storage.data_dir.clone();
    let (dir, name, (partition_count, metadata)) = blocking(move || {
        let (dir, name) = make_snapshot_dir(&root, name, created_at_ns)?;
        match copy_metadata(&data_dir, &dir) {
            Ok(copied) => Ok((dir, name, copied)),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(SnapshotRefusal::Internal(error))
            }
        }
    })
    .await?;
    let result = snapshot_shards(ctx, &dir).await;
    let parts = match result {
        Ok(parts) => parts,
        Err(error) => {
            let doomed = dir.clone();
            blocking(move || std::fs::remove_dir_all(&doomed))
                .await
                .ok();
            tracing::error!(name, %error, "snapshot failed; its directory was removed");
            return Err(SnapshotRefusal::Internal(error));
        }
    };
    let mut parts = parts;
    parts.insert(
        0,
        ShardSnapshot {
            files: metadata,
            copied: false,
        },
    );
    let info = snapshot_info(ctx, name, created_at_ns, partition_count, parts);
    let (written, dir_for_write) = (info.clone(), dir.clone());
    blocking(move || files::write_snapshot_info(&dir_for_write, &written))
        .await
        .map_err(|error| {
            SnapshotRefusal::Internal(format!("cannot write snapshot.json: {error}"))
        })?;
    tracing::info!(
        name = %info.name,
        path = %dir.display(),
        files = info.files.len(),
        bytes = info.total_bytes(),
        segments_copied = info.segments_copied,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "snapshot taken"
    );
    Ok(info)
}

/// Creates `<root>/<name>` (a default name when none is given); refuses a
/// name that exists.
fn make_snapshot_dir(
    root: &Path,
    name: Option<String>,
    now_ns: i64,
) -> Result<(PathBuf, String), SnapshotRefusal> {
    std::fs::create_dir_all(root).map_err(|error| {
        SnapshotRefusal::Internal(format!("cannot create {}: {error}", root.display()))
    })?;
    let candidates: Vec<String> = match name {
        Some(name) => vec![name],
        None => {
            let base = default_snapshot_name(now_ns);
            std::iter::once(base.clone())
                .chain((2..=DEFAULT_NAME_SUFFIX_MAX).map(|n| format!("{base}-{n}")))
                .collect()
        }
    };
    let mut last = String::new();
    for name in candidates {
        let dir = root.join(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((dir, name)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => last = name,
            Err(error) => {
                return Err(SnapshotRefusal::Internal(format!(
                    "cannot create {}: {error}",
                    dir.display()
                )))
            }
        }
    }
    Err(SnapshotRefusal::Exists(last))
}

/// Copies `layout.json` and `catalog.json` into the snapshot; returns the
/// catalog's partition count and the two files. Both are only ever replaced
/// by rename, so a copy is the old or the new file, never a mix.
fn copy_metadata(data_dir: &Path, dir: &Path) -> Result<(u64, Vec<SnapshotFile>), String> {
    let mut copied = Vec::new();
    for name in [LAYOUT_FILE_NAME, CATALOG_FILE_NAME] {
        let from = data_dir.join(name);
        let bytes = match std::fs::read(&from) {
            Ok(bytes) => bytes,
            // No partition was ever created: an empty catalog.
            Err(error)
                if error.kind() == std::io::ErrorKind::NotFound && name == CATALOG_FILE_NAME =>
            {
                Catalog::default().to_json()
            }
            Err(error) => return Err(format!("cannot read {}: {error}", from.display())),
        };
        files::write_file_durably(&dir.join(name), &bytes)
            .map_err(|error| format!("cannot write {}: {error}", dir.join(name).display()))?;
        copied.push(SnapshotFile {
            path: name.to_string(),
            bytes: bytes.len() as u64,
        });
    }
    let catalog = Catalog::load(dir).map_err(|error| error.to_string())?;
    Ok((catalog.len() as u64, copied))
}

async fn snapshot_shards(ctx: &ShardContext, dir: &Path) -> Result<Vec<ShardSnapshot>, String> {
    let answers = call_all(ctx, |reply| PeerRequest::SnapshotShard {
        dir: dir.to_path_buf(),
        reply,
    })
    .await?;
    answers.into_iter().collect()
}

fn snapshot_info(
    ctx: &ShardContext,
    name: String,
    created_at_ns: i64,
    partition_count: u64,
    parts: Vec<ShardSnapshot>,
) -> SnapshotInfo {
    let mut created_at = String::new();
    crate::time::format_rfc3339_nanos(created_at_ns, &mut created_at);
    let segments_copied = parts.iter().any(|part| part.copied);
    let files = parts.into_iter().flat_map(|part| part.files).collect();
    SnapshotInfo {
        format_version: SNAPSHOT_FORMAT_VERSION,
        name,
        created_at,
        created_at_ns,
        shard_count: ctx.shard_count,
        layout_format_version: LAYOUT_FORMAT_VERSION,
        catalog_format_version: 1,
        manifest_format_version: MANIFEST_FORMAT_VERSION,
        block_format_version: BLOCK_FORMAT_VERSION,
        partition_count,
        segments_copied,
        files,
    }
}

/// This shard's part: through the commit loop (seal what is active), then
/// the store worker (link and checkpoint).
pub async fn snapshot_shard(ctx: &ShardContext, dir: PathBuf) -> Result<ShardSnapshot, String> {
    let (reply, answer) = flume::bounded(1);
    let job = ShardSnapshotJob { dir, reply };
    if ctx
        .commit_tx
        .send(CommitItem::Snapshot { job })
        .await
        .is_err()
    {
        return Err(format!(
            "shard {}: the commit loop has stopped",
            ctx.shard_id
        ));
    }
    answer.recv_async().await.map_err(|_| {
        format!(
            "shard {}: the store worker dropped the snapshot",
            ctx.shard_id
        )
    })?
}

/// Each slice's last applied sequence number: what the snapshot must hold.
pub fn applied_seqs(store: &ShardStore) -> Vec<(u64, u64)> {
    store
        .slices
        .borrow()
        .values()
        .map(|slice| (slice.partition_key, slice.next_seq.saturating_sub(1)))
        .collect()
}

/// The store worker's part (`StoreJob::Snapshot`): `expected` are the
/// sequence numbers the commit loop noted before it sent the seals.
pub async fn write_shard(
    store: &Rc<ShardStore>,
    dir: &Path,
    expected: &[(u64, u64)],
) -> Result<ShardSnapshot, String> {
    check_sealed_through(store, expected)?;
    let plan = ShardPlan::of(store, dir);
    glommio::executor()
        .spawn_blocking(move || plan.write())
        .await
}

/// Fails when a slice's published blocks do not reach what was applied
/// when the snapshot was asked for (a block that failed to seal).
fn check_sealed_through(store: &ShardStore, expected: &[(u64, u64)]) -> Result<(), String> {
    let slices = store.slices.borrow();
    for &(partition_key, seq) in expected {
        let Some(slice) = slices.get(&partition_key) else {
            continue; // deleted meanwhile
        };
        if slice.durable_sealed_seq < seq {
            return Err(format!(
                "shard {}: partition key {partition_key} has entries up to sequence {seq} acknowledged but only up to {} sealed (a block could not be sealed; see the log)",
                store.shard_id, slice.durable_sealed_seq
            ));
        }
    }
    Ok(())
}

/// What one shard writes into a snapshot, gathered on the reactor and
/// written on the blocking thread.
struct ShardPlan {
    shard_id: u32,
    target: PathBuf,
    /// Segment id, live path, bytes the snapshot's blocks use.
    segments: Vec<(u32, PathBuf, u64)>,
    manifest: Vec<u8>,
}

impl ShardPlan {
    fn of(store: &ShardStore, dir: &Path) -> ShardPlan {
        let mut ends = std::collections::BTreeMap::new();
        for slice in store.slices.borrow().values() {
            for block in slice.blocks.iter() {
                let end = block.offset + block.header.span_bytes();
                let entry = ends
                    .entry(block.segment.id)
                    .or_insert((block.segment.path().to_path_buf(), 0));
                entry.1 = entry.1.max(end);
            }
        }
        let edits = store.checkpoint_edits();
        ShardPlan {
            shard_id: store.shard_id,
            target: dir.join(format!("shard-{}", store.shard_id)),
            segments: ends
                .into_iter()
                .map(|(id, (path, end))| (id, path, end))
                .collect(),
            manifest: checkpoint_file_bytes(store.shard_id, SNAPSHOT_MANIFEST_GENERATION, edits),
        }
    }

    fn write(self) -> Result<ShardSnapshot, String> {
        let fail = |what: &str, path: &Path, error: std::io::Error| {
            format!(
                "shard {}: cannot {what} {}: {error}",
                self.shard_id,
                path.display()
            )
        };
        std::fs::create_dir(&self.target).map_err(|e| fail("create", &self.target, e))?;
        let shard = format!("shard-{}", self.shard_id);
        let mut out = Vec::new();
        let mut copied = false;
        for (id, live, end) in &self.segments {
            let name = segment_file_name(*id);
            let path = self.target.join(&name);
            match std::fs::hard_link(live, &path) {
                Ok(()) => {}
                Err(error) if is_cross_device(&error) => {
                    if !copied {
                        tracing::warn!(shard = self.shard_id, snapshot = %self.target.display(), "the snapshot directory is on another filesystem than the data: copying segment files instead of linking them (slower, and the snapshot takes its own space)");
                    }
                    copied = true;
                    files::copy_file_sparse(live, &path, *end)
                        .map_err(|e| fail("copy a segment into", &path, e))?;
                }
                Err(error) => return Err(fail("link a segment as", &path, error)),
            }
            out.push(SnapshotFile {
                path: format!("{shard}/{name}"),
                bytes: *end,
            });
        }
        let name = manifest_file_name(SNAPSHOT_MANIFEST_GENERATION);
        let path = self.target.join(&name);
        files::write_file_durably(&path, &self.manifest).map_err(|e| fail("write", &path, e))?;
        out.push(SnapshotFile {
            path: format!("{shard}/{name}"),
            bytes: self.manifest.len() as u64,
        });
        files::sync_dir(&self.target).map_err(|e| fail("fsync", &self.target, e))?;
        Ok(ShardSnapshot { files: out, copied })
    }
}

/// Linking failed because the two paths are on different filesystems (or
/// the filesystem has no hard links): copying is the fallback.
fn is_cross_device(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EXDEV) | Some(libc::EPERM) | Some(libc::EOPNOTSUPP) | Some(libc::EMLINK)
    )
}

/// Every complete snapshot, oldest first.
pub async fn list(ctx: &ShardContext) -> Result<Vec<(PathBuf, SnapshotInfo)>, SnapshotRefusal> {
    let root = ctx.config.storage.snapshot_root();
    blocking(move || files::list_snapshots(&root))
        .await
        .map_err(|error| SnapshotRefusal::Internal(format!("cannot list snapshots: {error}")))
}

/// One complete snapshot by name.
pub async fn get(
    ctx: &ShardContext,
    name: &str,
) -> Result<(PathBuf, SnapshotInfo), SnapshotRefusal> {
    validate_snapshot_name(name).map_err(SnapshotRefusal::InvalidName)?;
    let dir = ctx.config.storage.snapshot_root().join(name);
    let owned = name.to_string();
    blocking(move || match files::read_snapshot_info(&dir) {
        Ok(info) => Ok((dir, info)),
        Err(files::SnapshotError::Incomplete(_)) => Err(SnapshotRefusal::NotFound(owned)),
        Err(error) => Err(SnapshotRefusal::Internal(error.to_string())),
    })
    .await
}

/// Deletes a complete snapshot. The live server gives the space its blocks
/// held back at the next maintenance (about every 100 ms).
pub async fn delete(ctx: &ShardContext, name: &str) -> Result<(), SnapshotRefusal> {
    let (dir, _) = get(ctx, name).await?;
    blocking(move || files::remove_snapshot(&dir))
        .await
        .map_err(|error| {
            SnapshotRefusal::Internal(format!("cannot delete the snapshot: {error}"))
        })?;
    tracing::info!(name, "snapshot deleted");
    Ok(())
}

/// Runs blocking file-system work on the executor's blocking thread.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    glommio::executor().spawn_blocking(work).await
}
