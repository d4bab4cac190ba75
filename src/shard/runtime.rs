//! Starting the shards: one glommio executor per shard, pinned to its own
//! core, each recovering its own data and serving HTTP on the shared port.
//!
//! Start-up order: shard 0 binds first (so `--listen 127.0.0.1:0` picks one
//! port that every shard then binds with SO_REUSEPORT); then every shard
//! recovers and reports ready; only then does `timberdb` print the line
//! `timberdb listening on http://<addr>` (`https://` with `[tls]`) that scripts and tests
//! wait for.
//!
//! Signals: SIGINT and SIGTERM shut down gracefully; SIGHUP reloads the TLS certificate
//! files (`http::tls::reload`) and is otherwise logged and ignored.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{mpsc, Arc};

use glommio::channels::local_channel;
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};

use super::commit::{CommitItem, CommitLoop, COMMIT_QUEUE_MAX};
use super::context::ShardContext;
use super::mailbox::{run_mailbox, PeerRequest, MAILBOX_MAX};
use super::recovery::recover;
use super::retention::RetentionPolicy;
use super::store::ShardStore;
use super::worker::{StoreJob, StoreWorker, STORE_QUEUE_MAX};
use crate::config::Config;
use crate::http::tls::reload::{ShardTlsBoot, TlsReloader};
use crate::http::tls::ShardTls;
use crate::storage::catalog::Catalog;
use crate::storage::layout::{check_shard_count, ShardPaths};
use crate::storage::lock::DirectoryLock;
use crate::wal::WalWriter;

/// Memory glommio registers with io_uring per executor for DMA buffers
/// (counted against RLIMIT_MEMLOCK on older kernels); larger buffers fall
/// back to ordinary aligned allocations.
pub const EXECUTOR_IO_MEMORY_BYTES: usize = 2 << 20;

enum StartEvent {
    Bound { addr: SocketAddr },
    Ready,
    Failed { shard_id: u32, reason: String },
}

struct ShardBoot {
    shard_id: u32,
    config: Arc<Config>,
    catalog: Catalog,
    peers: Vec<flume::Sender<PeerRequest>>,
    inbox: flume::Receiver<PeerRequest>,
    listen_addr: SocketAddr,
    events: mpsc::Sender<StartEvent>,
    /// The API keys loaded at start, and the audit log (`shard::keys`).
    keys: Arc<crate::auth::KeyRing>,
    audit: Option<crate::auth::audit::AuditLog>,
    /// The shard's TLS configuration and reload queue; `None`: plain HTTP.
    tls: Option<ShardTlsBoot>,
}

/// Runs the server until a shard stops. Returns an error sentence for the user.
pub fn run_server(mut config: Config) -> Result<(), String> {
    let shard_count = config.shard_count as u32;
    crate::check::io_uring_preflight(config.shard_count)?;
    // Read before anything else is opened: unusable certificate files refuse start-up.
    let (tls_reloader, mut tls_boots) = match config.tls.is_enabled() {
        true => {
            let (reloader, boots) = TlsReloader::start(&config.tls, config.shard_count)
                .map_err(|error| format!("cannot serve TLS: {error}"))?;
            (Some(reloader), boots.into_iter().map(Some).collect())
        }
        false => (None, Vec::new()),
    };
    let storage = &mut config.storage;
    storage.data_dir = create_and_resolve(&storage.data_dir, "data")?;
    storage.wal_dir = create_and_resolve(&storage.wal_dir, "WAL")?;
    tracing::info!(
        data_dir = %storage.data_dir.display(),
        wal_dir = %storage.wal_dir.display(),
        "using these directories"
    );
    size_wal_to_disk(storage, shard_count as u64);
    // Held until the process exits: no second server or writing tool may
    // use these directories meanwhile (`storage::lock`).
    let _lock = DirectoryLock::acquire(&storage.data_dir, &storage.wal_dir, "the server")
        .map_err(|error| error.to_string())?;
    check_shard_count(&config.storage.data_dir, shard_count).map_err(|error| error.to_string())?;
    remove_incomplete_snapshots(&config.storage.snapshot_root());
    let catalog = Catalog::load(&config.storage.data_dir).map_err(|error| error.to_string())?;
    let (keys, audit) = start_auth(&config)?;
    let config = Arc::new(config);
    let (senders, inboxes): (Vec<_>, Vec<_>) = (0..shard_count)
        .map(|_| flume::bounded(MAILBOX_MAX))
        .unzip();
    let cores = allowed_cores();
    let (events_tx, events) = mpsc::channel();
    let mut handles = Vec::new();
    let mut listen_addr = config.network.listen_addr;
    for (shard_id, inbox) in (0..shard_count).zip(inboxes) {
        let boot = ShardBoot {
            shard_id,
            config: config.clone(),
            catalog: catalog.clone(),
            peers: senders.clone(),
            inbox,
            listen_addr,
            events: events_tx.clone(),
            keys: keys.clone(),
            audit: audit.clone(),
            tls: tls_boots.get_mut(shard_id as usize).and_then(Option::take),
        };
        let cpu = cores[shard_id as usize % cores.len()];
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("shard-{shard_id}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || shard_main(boot))
            .map_err(|error| format!("cannot start shard {shard_id} on CPU {cpu}: {error}"))?;
        handles.push(handle);
        if shard_id == 0 {
            listen_addr = wait_for_bind(&events)?;
        }
    }
    wait_until_ready(&events, shard_count)?;
    // Installed before the line below announces the server: a script or test
    // that sends SIGTERM as soon as it reads the line gets a graceful stop,
    // not the default action (an immediate kill).
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(|error| format!("cannot install signal handlers: {error}"))?;
    let scheme = if tls_reloader.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "timberdb listening on {scheme}://{listen_addr} with {shard_count} shards, data in {}, WAL in {}",
        config.storage.data_dir.display(),
        config.storage.wal_dir.display()
    );
    tracing::info!(%listen_addr, shard_count, scheme, "serving");
    let on_hangup = move || match &tls_reloader {
        Some(reloader) => reloader.reload(),
        None => tracing::info!("SIGHUP received; nothing to reload (TLS is off)"),
    };
    wait_for_exit(handles, &senders, signals, on_hangup)
}

/// Shrinks the WAL segment size and the WAL size bound on a filesystem too
/// small for the configured ones (`storage::disk_space`), and says so: with
/// 64 MiB per shard a 96 MiB disk could not hold two shards' first
/// segments. Only ever shrinks; a statvfs failure keeps the configuration.
fn size_wal_to_disk(storage: &mut crate::config::StorageConfig, shard_count: u64) {
    use crate::storage::disk_space;
    let space = match disk_space::filesystem_space(&storage.wal_dir) {
        Ok(space) => space,
        Err(error) => {
            tracing::warn!(%error, wal_dir = %storage.wal_dir.display(), "cannot read the WAL filesystem's size; WAL preallocation is not sized to it");
            return;
        }
    };
    let segment_bytes = disk_space::wal_segment_bytes_for(
        storage.wal_segment_size_bytes,
        space.total_bytes,
        shard_count,
    );
    let wal_max_bytes = disk_space::wal_size_max_bytes_for(
        storage.wal_size_max_bytes,
        segment_bytes,
        space.total_bytes,
        shard_count,
    );
    if segment_bytes < storage.wal_segment_size_bytes || wal_max_bytes < storage.wal_size_max_bytes
    {
        tracing::warn!(
            filesystem_bytes = space.total_bytes,
            shards = shard_count,
            wal_segment_size = segment_bytes,
            configured_wal_segment_size = storage.wal_segment_size_bytes,
            wal_max_size = wal_max_bytes,
            configured_wal_max_size = storage.wal_size_max_bytes,
            "the WAL filesystem is small: WAL segments and the WAL bound are sized down to fit it (requests larger than half a segment are refused with 413)"
        );
    }
    storage.wal_segment_size_bytes = segment_bytes;
    storage.wal_size_max_bytes = wal_max_bytes;
}

/// Loads the API keys, applies the non-loopback rule and opens the audit
/// log (after the directory lock: the key file belongs to this node).
fn start_auth(
    config: &Config,
) -> Result<
    (
        Arc<crate::auth::KeyRing>,
        Option<crate::auth::audit::AuditLog>,
    ),
    String,
> {
    let keys = crate::auth::KeyRing::load(&config.storage.data_dir)?;
    for warning in crate::auth::exposure::check(config, keys.len())? {
        tracing::warn!("{warning}");
    }
    if config.auth.enabled {
        tracing::info!(keys = keys.len(), "authentication is on");
    } else if config.quotas.is_limited() {
        tracing::warn!("[quotas] is set but auth is off: quotas belong to API keys and limit nobody until auth.enabled = true");
    }
    let audit = if config.audit_enabled() {
        let path = config.audit.path.clone().unwrap_or_else(|| {
            config
                .storage
                .data_dir
                .join(crate::auth::audit::AUDIT_DIR_NAME)
                .join(crate::auth::audit::AUDIT_FILE_NAME)
        });
        let settings = crate::auth::audit::AuditSettings {
            path,
            max_file_bytes: config.audit.max_file_size_bytes,
            max_files: config.audit.max_files,
            auth_failures_per_second: config.audit.auth_failures_per_second,
        };
        Some(crate::auth::audit::AuditLog::start(settings)?)
    } else {
        None
    };
    Ok((Arc::new(keys), audit))
}

/// Removes snapshots a crash or failure left unfinished (no
/// `snapshot.json`): their hard links would keep segment space from being
/// given back. A failure only leaves them, and is logged.
fn remove_incomplete_snapshots(root: &std::path::Path) {
    match crate::storage::snapshot::remove_incomplete_snapshots(root) {
        Ok(removed) => {
            for dir in removed {
                tracing::warn!(path = %dir.display(), "removed an incomplete snapshot (no snapshot.json: it did not finish)");
            }
        }
        Err(error) => {
            tracing::warn!(%error, root = %root.display(), "could not look for incomplete snapshots")
        }
    }
}

/// Creates `dir` if missing and returns its canonical form (absolute, symlinks resolved), the
/// only form used from here on: the log then names the real location, and no later step
/// depends on the working directory.
fn create_and_resolve(dir: &std::path::Path, what: &str) -> Result<std::path::PathBuf, String> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::canonicalize(dir))
        .map_err(|error| format!("cannot create {what} directory {}: {error}", dir.display()))
}

enum Exit {
    Signal(i32),
    ShardStopped { shard_id: usize, reason: String },
}

/// Serves until SIGINT/SIGTERM (then shuts down gracefully) or until a
/// shard stops on its own (an error). Each SIGHUP runs `on_hangup` on the
/// signal thread.
fn wait_for_exit(
    handles: Vec<glommio::ExecutorJoinHandle<()>>,
    mailboxes: &[flume::Sender<PeerRequest>],
    mut signals: signal_hook::iterator::Signals,
    on_hangup: impl Fn() + Send + 'static,
) -> Result<(), String> {
    let (exit_tx, exit_rx) = mpsc::channel();
    let signal_tx = exit_tx.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGHUP {
                on_hangup();
                continue;
            }
            let _ = signal_tx.send(Exit::Signal(signal));
            break;
        }
    });
    for (shard_id, handle) in handles.into_iter().enumerate() {
        let exit_tx = exit_tx.clone();
        std::thread::spawn(move || {
            let reason = match handle.join() {
                Ok(()) => "it returned".to_string(),
                Err(error) => error.to_string(),
            };
            let _ = exit_tx.send(Exit::ShardStopped { shard_id, reason });
        });
    }
    match exit_rx.recv() {
        Ok(Exit::Signal(signal)) => {
            tracing::info!(
                signal,
                "shutting down: syncing the WAL and sealing active blocks"
            );
            shut_down(mailboxes);
            tracing::info!("shut down cleanly");
            Ok(())
        }
        Ok(Exit::ShardStopped { shard_id, reason }) => {
            Err(format!("shard {shard_id} stopped: {reason}"))
        }
        Err(_) => Err("every shard stopped".into()),
    }
}

/// Longest a graceful shutdown waits for a shard before exiting anyway
/// (acknowledged data is durable in the WAL either way).
const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

fn shut_down(mailboxes: &[flume::Sender<PeerRequest>]) {
    let answers: Vec<_> = mailboxes
        .iter()
        .map(|mailbox| {
            let (reply, answer) = flume::bounded(1);
            let _ = mailbox.send_timeout(PeerRequest::Shutdown { reply }, SHUTDOWN_DEADLINE);
            answer
        })
        .collect();
    for (shard_id, answer) in answers.into_iter().enumerate() {
        if answer.recv_timeout(SHUTDOWN_DEADLINE).is_err() {
            tracing::warn!(shard_id, "shard did not finish shutting down in time; its WAL still holds every acknowledged entry");
        }
    }
}

fn wait_for_bind(events: &mpsc::Receiver<StartEvent>) -> Result<SocketAddr, String> {
    match events.recv() {
        Ok(StartEvent::Bound { addr }) => Ok(addr),
        Ok(StartEvent::Failed { shard_id, reason }) => {
            Err(format!("shard {shard_id} failed to start: {reason}"))
        }
        _ => Err("shard 0 stopped before binding its listener".into()),
    }
}

fn wait_until_ready(events: &mpsc::Receiver<StartEvent>, shard_count: u32) -> Result<(), String> {
    let mut ready = 0;
    while ready < shard_count {
        match events.recv() {
            Ok(StartEvent::Ready) => ready += 1,
            Ok(StartEvent::Bound { .. }) => {}
            Ok(StartEvent::Failed { shard_id, reason }) => {
                return Err(format!("shard {shard_id} failed to start: {reason}"));
            }
            Err(_) => return Err("a shard stopped during start-up".into()),
        }
    }
    Ok(())
}

/// CPUs this process may run on (respects `taskset`), in order.
fn allowed_cores() -> Vec<usize> {
    let mut cores: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|core| core.id)
        .collect();
    cores.sort_unstable();
    if cores.is_empty() {
        cores.push(0);
    }
    cores
}

async fn shard_main(boot: ShardBoot) {
    let events = boot.events.clone();
    let shard_id = boot.shard_id;
    if let Err(reason) = start_shard(boot).await {
        tracing::error!(shard = shard_id, %reason, "shard failed to start");
        let _ = events.send(StartEvent::Failed { shard_id, reason });
    }
}

async fn start_shard(mut boot: ShardBoot) -> Result<(), String> {
    let shard_id = boot.shard_id;
    let listener = TcpListener::bind(boot.listen_addr)
        .map_err(|error| format!("cannot listen on {}: {error}", boot.listen_addr))?;
    let bound = listener.local_addr().map_err(|error| error.to_string())?;
    if shard_id == 0 {
        let _ = boot.events.send(StartEvent::Bound { addr: bound });
    }
    let ctx = open_shard(&boot).await?;
    crate::protocol::syslog::start(&ctx)?;
    let tls = boot
        .tls
        .take()
        .map(|tls_boot| ShardTls::start(shard_id, tls_boot));
    let _ = boot.events.send(StartEvent::Ready);
    crate::http::serve(ctx, listener, tls).await;
    Ok(())
}

/// Recovers the shard's data and starts its background tasks.
async fn open_shard(boot: &ShardBoot) -> Result<Rc<ShardContext>, String> {
    let config = &boot.config;
    let paths = ShardPaths::new(
        &config.storage.data_dir,
        &config.storage.wal_dir,
        boot.shard_id,
    );
    // The node's filter budget, split evenly: each shard holds its own
    // blocks' filters.
    let filter_budget = config.storage.index_cache_bytes / config.shard_count.max(1) as u64;
    let store = Rc::new(ShardStore::new(
        boot.shard_id,
        paths.clone(),
        &config.storage,
        usize::try_from(filter_budget).unwrap_or(usize::MAX),
    ));
    let started = std::time::Instant::now();
    let recovered = recover(&store, &boot.catalog, config.storage.wal_recovery)
        .await
        .map_err(|error| error.to_string())?;
    let replay = recovered.replay;
    for note in &replay.notes {
        tracing::warn!(shard = boot.shard_id, "wal: {note}");
    }
    log_skipped_damage(boot.shard_id, &replay);
    tracing::info!(
        shard = boot.shard_id,
        blocks = recovered.blocks_indexed,
        wal_records_recovered = replay.records_recovered,
        wal_entries_recovered = replay.entries_recovered,
        wal_bytes_discarded = replay.bytes_discarded,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "recovered"
    );
    let wal = WalWriter::open(
        &paths.wal_dir,
        config.storage.wal_segment_size_bytes,
        replay.segments,
        replay.spares,
        |key| store.durable_sealed_seq(key),
    )
    .await
    .map_err(|error| error.to_string())?;
    if wal.lacks_preallocation() || recovered.manifest.needs_checkpoint() {
        tracing::warn!(
            shard = boot.shard_id,
            "started on a full disk: queries are served, ingest answers 507 until space is freed"
        );
        *store.wal_space_short.borrow_mut() = Some(
            "the disk was full at start: the WAL and manifest have no room; free space on the data and WAL filesystems".into(),
        );
    }
    let (commit_tx, commit_rx) = local_channel::new_bounded(COMMIT_QUEUE_MAX);
    let (store_tx, store_rx) = local_channel::new_bounded(STORE_QUEUE_MAX);
    let store_tx = Rc::new(store_tx);
    let catalog = Rc::new(RefCell::new(boot.catalog.clone()));
    let ctx = Rc::new(ShardContext {
        shard_id: boot.shard_id,
        shard_count: boot.peers.len() as u32,
        config: config.clone(),
        catalog: catalog.clone(),
        store: store.clone(),
        commit_tx,
        store_tx: store_tx.clone(),
        peers: boot.peers.clone(),
        counters: Cell::default(),
        queries_running: Cell::new(0),
        shutting_down: Cell::new(false),
        catalog_write: glommio::sync::Semaphore::new(1),
        catalog_pending: RefCell::default(),
        scrub: Default::default(),
        auth: super::keys::ShardAuth::new(boot.keys.clone(), boot.audit.clone()),
    });
    let worker = StoreWorker::new(
        store.clone(),
        recovered.manifest,
        recovered.active_segment,
        recovered.next_segment_id,
    )
    .with_retention(RetentionPolicy {
        catalog: catalog.clone(),
        default_days: config.storage.retention_days,
        server_bytes_max: config.storage.max_storage_size_bytes,
        shard_count: boot.peers.len() as u32,
        check_interval: std::time::Duration::from_secs(
            config.storage.retention_check_interval_seconds,
        ),
    });
    glommio::spawn_local(worker.run(store_rx)).detach();
    for (partition_key, block) in recovered.to_seal {
        let _ = store_tx
            .send(StoreJob::Seal {
                partition_key,
                block,
            })
            .await;
    }
    let commit = CommitLoop::new(store, catalog, wal, store_tx, &config.storage);
    let tick_interval = commit.tick_interval();
    glommio::spawn_local(commit.run(commit_rx)).detach();
    glommio::spawn_local(run_ticker(ctx.clone(), tick_interval)).detach();
    glommio::spawn_local(run_mailbox(ctx.clone(), boot.inbox.clone())).detach();
    Ok(ctx)
}

/// Wakes the commit loop for maintenance even when no request arrives.
async fn run_ticker(ctx: Rc<ShardContext>, interval: std::time::Duration) {
    loop {
        glommio::timer::sleep(interval).await;
        let _ = ctx.commit_tx.try_send(CommitItem::Tick);
    }
}

/// One error line per damaged WAL stretch this start skipped, with the
/// entries lost as far as sequence numbers tell (an operator chose this).
fn log_skipped_damage(shard_id: u32, replay: &crate::wal::replay::ReplaySummary) {
    for damage in replay.skipped.iter().filter(|d| !d.accepted_before) {
        let ranges: Vec<String> = damage
            .lost_seq_ranges
            .iter()
            .map(|(key, first, last)| format!("partition key {key} ids {first}..={last}"))
            .collect();
        tracing::error!(
            shard = shard_id,
            path = %damage.path.display(),
            offset = damage.offset,
            damaged_bytes = damage.damaged_bytes(),
            entries_lost = damage.lost_entries_seen(),
            lost_ids = %ranges.join("; "),
            "wal: skipped damaged records (storage.wal_recovery = \"skip_damaged\"): {} entries \
             lost (counted from the sequence gap around the damage; a partition whose only \
             record was damaged is not counted); valid records after the damage were replayed",
            damage.lost_entries_seen()
        );
    }
}
