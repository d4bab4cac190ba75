//! Syslog over TCP and UDP: RFC 5424 and RFC 3164 messages, RFC 6587
//! framing on TCP (octet counting and newline, detected per frame), one
//! message per datagram on UDP.
//!
//! Every shard binds the configured addresses with SO_REUSEPORT, so the
//! kernel spreads connections and datagrams over the shards and each shard
//! commits what it received into its own slice of the partition, as HTTP
//! ingest does.
//!
//! Durability: syslog has no acknowledgement. A TCP connection commits what
//! one read returned (everything the socket had ready, up to
//! `READ_CHUNK_BYTES`) as one batch and waits for it to be durable before
//! it reads again, so a line is durable shortly after it arrives, and a
//! full write-ahead log stops the reading (TCP back-pressure), never drops.
//! UDP cannot push back: datagrams gather in a bounded pending batch while
//! the previous one commits, and what does not fit is dropped and counted.
//!
//! `parse` and `frame` are pure functions over bytes (tests and the fuzzer
//! drive them); `tcp` and `udp` are the glommio tasks.

pub mod entry;
pub mod frame;
pub mod metrics;
pub mod parse;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::rc::Rc;

use crate::entry::ColumnBatch;
use crate::http::handlers::ingest::{commit_batch, partition_for_write};
use crate::shard::partitions::now_ns;
use crate::shard::ShardContext;

/// Bytes asked of the socket per read; also the most one TCP commit holds
/// beyond one maximum-size message.
pub const READ_CHUNK_BYTES: usize = 256 * 1024;

/// Why a message or connection was refused, counted in
/// `timberdb_syslog_errors_total{reason=...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorReason {
    /// An octet-counted frame declared more than `max_message_size_bytes`;
    /// the connection was closed.
    FrameTooLong,
    /// A newline-framed line or a datagram longer than the limit was cut.
    MessageTruncated,
    /// The connection closed inside an octet-counted frame.
    FrameIncomplete,
    /// A frame without a valid `<PRI>`, kept whole as the message.
    NotSyslog,
    /// A parsed message broke a per-entry limit; kept whole as the message.
    EntryLimit,
    /// A connection over `max_connections`, closed at once.
    ConnectionLimit,
    /// A batch could not be committed (the server stopped taking writes).
    CommitFailed,
    /// Reading from a socket failed.
    ReadFailed,
}

impl ErrorReason {
    pub const ALL: [ErrorReason; 8] = [
        ErrorReason::FrameTooLong,
        ErrorReason::MessageTruncated,
        ErrorReason::FrameIncomplete,
        ErrorReason::NotSyslog,
        ErrorReason::EntryLimit,
        ErrorReason::ConnectionLimit,
        ErrorReason::CommitFailed,
        ErrorReason::ReadFailed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ErrorReason::FrameTooLong => "frame_too_long",
            ErrorReason::MessageTruncated => "message_truncated",
            ErrorReason::FrameIncomplete => "frame_incomplete",
            ErrorReason::NotSyslog => "not_syslog",
            ErrorReason::EntryLimit => "entry_limit",
            ErrorReason::ConnectionLimit => "connection_limit",
            ErrorReason::CommitFailed => "commit_failed",
            ErrorReason::ReadFailed => "read_failed",
        }
    }
}

/// Transport of a message, a label of the message and byte counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// This shard's syslog counters, in `ShardCounters` (summed on scrape).
#[derive(Default, Clone, Copy, Debug)]
pub struct SyslogCounters {
    /// Messages committed, by transport (index: `Transport as usize`).
    pub messages: [u64; 2],
    /// Frame bytes of committed messages, by transport.
    pub bytes: [u64; 2],
    /// Errors by `ErrorReason` (index: position in `ErrorReason::ALL`).
    pub errors: [u64; ErrorReason::ALL.len()],
    /// Datagrams dropped because the pending batch was full or its commit
    /// failed.
    pub udp_dropped: u64,
    /// TCP connections open now (a gauge).
    pub connections_open: u64,
}

pub fn count_error(ctx: &ShardContext, reason: ErrorReason, count: u64) {
    let index = ErrorReason::ALL
        .iter()
        .position(|each| *each == reason)
        .expect("ALL lists every reason");
    ctx.count(|c| c.syslog.errors[index] += count);
}

/// Turns frames into entries of one batch, with the scratch space reused
/// from frame to frame.
pub struct Decoder {
    /// The peer's address, the source of messages without a hostname.
    peer: String,
    fields: String,
    /// Frames not syslog / over an entry limit since the last take.
    pub not_syslog: u64,
    pub entry_limit: u64,
    pub frame_bytes: u64,
}

impl Decoder {
    pub fn new(peer: Option<SocketAddr>) -> Self {
        Decoder {
            peer: peer.map(|addr| addr.ip().to_string()).unwrap_or_default(),
            fields: String::new(),
            not_syslog: 0,
            entry_limit: 0,
            frame_bytes: 0,
        }
    }

    /// Messages from now on came from `peer` (UDP: one peer per datagram).
    pub fn set_peer(&mut self, peer: SocketAddr) {
        use std::fmt::Write;
        self.peer.clear();
        let _ = write!(self.peer, "{}", peer.ip());
    }

    /// Appends one frame (its line ending already trimmed or not) to `batch`.
    pub fn push_frame(&mut self, batch: &mut ColumnBatch, frame: &[u8], now_ns: i64) {
        let frame = frame::trim_frame(frame);
        self.frame_bytes += frame.len() as u64;
        let text = String::from_utf8_lossy(frame);
        let message = parse::parse(&text, now_ns);
        if entry::is_not_syslog(&message) {
            self.not_syslog += 1;
        }
        let pushed =
            entry::push_message(batch, &message, &text, &self.peer, now_ns, &mut self.fields);
        if pushed.is_err() {
            self.entry_limit += 1;
        }
    }

    /// Counts what this decoder saw since the last call.
    pub fn flush_counts(&mut self, ctx: &ShardContext) {
        if self.not_syslog > 0 {
            count_error(ctx, ErrorReason::NotSyslog, self.not_syslog);
        }
        if self.entry_limit > 0 {
            count_error(ctx, ErrorReason::EntryLimit, self.entry_limit);
        }
        self.not_syslog = 0;
        self.entry_limit = 0;
    }
}

/// How long a sender waits between looks at a full write-ahead log queue.
const BACK_PRESSURE_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// Makes `batch` durable in the syslog partition and counts it. Waits
/// (without reading more) while the write-ahead log queue is full or the
/// disk is full, so TCP senders feel back-pressure. An `Err` names why the
/// batch could not be stored; the batch is then lost and counted.
pub async fn commit(
    ctx: &ShardContext,
    batch: ColumnBatch,
    transport: Transport,
    frame_bytes: u64,
) -> Result<(), String> {
    if batch.is_empty() {
        ctx.store.batch_pool.put(batch);
        return Ok(());
    }
    let entry_count = batch.len();
    let result = commit_inner(ctx, batch, frame_bytes).await;
    match &result {
        Ok(()) => ctx.count(|c| {
            c.syslog.messages[transport as usize] += entry_count as u64;
            c.syslog.bytes[transport as usize] += frame_bytes;
        }),
        Err(_) => count_error(ctx, ErrorReason::CommitFailed, 1),
    }
    result
}

async fn commit_inner(
    ctx: &ShardContext,
    batch: ColumnBatch,
    frame_bytes: u64,
) -> Result<(), String> {
    let meta = match partition_for_write(
        ctx,
        // Syslog carries no key: its listeners are unauthenticated by
        // design (the non-loopback rule in `auth::exposure` covers them).
        &crate::http::auth::Access::Open,
        &ctx.config.syslog.partition,
    )
    .await
    {
        Ok(meta) => meta,
        Err(error) => {
            ctx.store.batch_pool.put(batch);
            return Err(error.message);
        }
    };
    // A storage budget that cannot be met is waited out like a full disk.
    while ctx.commit_tx.is_full()
        || ctx.store.disk_full.get()
        || ctx.store.wal_space_short.borrow().is_some()
        || ctx.store.retention.over_budget.borrow().is_some()
    {
        if ctx.store.writes_stopped.borrow().is_some() {
            break;
        }
        glommio::timer::sleep(BACK_PRESSURE_POLL).await;
    }
    let entry_count = batch.len();
    commit_batch(ctx, &meta, batch, entry_count, frame_bytes as usize)
        .await
        .map(|_| ())
        .map_err(|error| error.message)
}

/// Binds this shard's syslog listeners (those configured) and starts
/// serving them. Errors name the address that could not be bound.
pub fn start(ctx: &Rc<ShardContext>) -> Result<(), String> {
    let (tcp_listen, udp_listen) = (ctx.config.syslog.tcp_listen, ctx.config.syslog.udp_listen);
    if let Some(addr) = tcp_listen {
        let listener = glommio::net::TcpListener::bind(addr)
            .map_err(|error| format!("cannot listen for syslog on tcp://{addr}: {error}"))?;
        if ctx.shard_id == 0 {
            tracing::info!(%addr, "syslog listening on TCP");
        }
        glommio::spawn_local(tcp::serve(ctx.clone(), listener)).detach();
    }
    if let Some(addr) = udp_listen {
        let socket = glommio::net::UdpSocket::bind(addr)
            .map_err(|error| format!("cannot listen for syslog on udp://{addr}: {error}"))?;
        if ctx.shard_id == 0 {
            tracing::info!(%addr, "syslog listening on UDP");
        }
        udp::serve(ctx.clone(), socket);
    }
    Ok(())
}

/// Arrival time for messages without their own.
pub fn arrival_ns() -> i64 {
    now_ns()
}
