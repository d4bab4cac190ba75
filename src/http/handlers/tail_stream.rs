//! The body of a live tail: a task that sends the look-back's entries, then
//! whatever the shards publish, framed as NDJSON or server-sent events.
//!
//! Framing (docs/API.md, "Live tail"):
//! - NDJSON: one entry object per line (the shape of a query's `entries`
//!   items); `{"dropped": N}` after entries were dropped for a slow client;
//!   `{"heartbeat": "<RFC 3339 time>"}` after `KEEP_ALIVE_INTERVAL` without
//!   any other line.
//! - SSE: `data: <entry>` events; `event: dropped` with `data: {"dropped": N}`;
//!   the comment `: keep-alive` after `KEEP_ALIVE_INTERVAL` of silence.
//!
//! The body channel holds at most `BODY_CHUNKS_IN_FLIGHT_MAX` chunks, so a
//! client that stops reading stops this task at its next send; the shards
//! then fill the stream's own buffer and drop (and count) what does not fit.
//! When the task ends (the client left, the body failed, shutdown), its
//! `Registration` tells every shard to forget the stream.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_lite::future;
use hyper::header::{HeaderValue, CACHE_CONTROL};

use super::query::{count_query, QuerySlot, NDJSON};
use super::tail::StreamGuard;
use crate::http::response::{streamed, HttpResponse};
use crate::query::response::write_entry;
use crate::query::ResultStream;
use crate::shard::mailbox::{call_all, PeerRequest};
use crate::shard::tail::{TailMessage, TailShared, TailWatermarks, TAIL_FLUSH_BYTES};
use crate::shard::ShardContext;

/// A line or comment is sent after this long without anything else, so
/// proxies keep the connection and a dead client is noticed.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// How often an idle stream checks for a departed client, for the end of
/// the stream (shutdown) and for drops to report. Cheap: one wake-up per
/// stream.
const IDLE_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// Once a shard rings, the stream waits this long for more batches'
/// matches before it writes them to the client in one chunk (unless
/// `TAIL_FLUSH_BYTES` are queued first). Each write costs a wake-up of the
/// connection, a chunk and a system call whatever its size, so under full
/// ingest a tail writes 20 times a second instead of once per batch; an
/// entry reaches the client at most this much after it became durable,
/// plus the write.
const COALESCE_WINDOW: Duration = Duration::from_millis(50);
/// Look-back lines are gathered into chunks of about this size.
const BODY_CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting for the client: about 256 KiB of look-back, or four
/// shard messages (each at most a batch's matches) of the live part.
const BODY_CHUNKS_IN_FLIGHT_MAX: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailFormat {
    Ndjson,
    Sse,
}

/// The look-back query of a tail with `since`.
pub(super) struct Lookback {
    pub stream: ResultStream,
    /// The query's limit: a page this full may have left entries out.
    pub limit: usize,
    /// Per shard, in shard order: where the live part starts.
    pub watermarks: Vec<TailWatermarks>,
    pub slot: QuerySlot,
}

pub(super) struct TailStream {
    pub ctx: Rc<ShardContext>,
    pub format: TailFormat,
    pub receiver: flume::Receiver<TailMessage>,
    /// The shards ring it when they queue messages (`TailShared`).
    pub rings: flume::Receiver<()>,
    pub shared: Arc<TailShared>,
    pub lookback: Option<Lookback>,
    pub registration: Registration,
}

/// A stream's registrations on every shard; dropping it removes them.
pub struct Registration {
    ctx: Rc<ShardContext>,
    id: u64,
    _guard: StreamGuard,
}

impl Registration {
    pub(super) fn new(ctx: Rc<ShardContext>, id: u64, guard: StreamGuard) -> Registration {
        Registration {
            ctx,
            id,
            _guard: guard,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let ctx = self.ctx.clone();
        let id = self.id;
        glommio::spawn_local(async move {
            let _ = call_all(&ctx, |reply| PeerRequest::TailUnsubscribe { id, reply }).await;
        })
        .detach();
    }
}

pub(super) fn respond(tail: TailStream) -> HttpResponse {
    let (body, chunks) = flume::bounded(BODY_CHUNKS_IN_FLIGHT_MAX);
    let content_type = match tail.format {
        TailFormat::Ndjson => NDJSON,
        TailFormat::Sse => "text/event-stream",
    };
    glommio::spawn_local(run(tail, body)).detach();
    let mut response = streamed(content_type, chunks);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Writes framed lines into the body channel.
struct Writer {
    body: flume::Sender<Bytes>,
    format: TailFormat,
    last_sent: Instant,
}

impl Writer {
    /// Sends entry lines (`\n`-terminated JSON objects); false once the
    /// client is gone.
    async fn entries(&mut self, lines: Bytes) -> bool {
        let chunk = match self.format {
            TailFormat::Ndjson => lines,
            TailFormat::Sse => Bytes::from(sse_events(&lines)),
        };
        self.send(chunk).await
    }

    async fn dropped(&mut self, count: u64) -> bool {
        let line = match self.format {
            TailFormat::Ndjson => format!("{{\"dropped\":{count}}}\n"),
            TailFormat::Sse => format!("event: dropped\ndata: {{\"dropped\":{count}}}\n\n"),
        };
        self.send(Bytes::from(line)).await
    }

    async fn keep_alive(&mut self) -> bool {
        let line = match self.format {
            TailFormat::Ndjson => {
                let now_ns = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as i64);
                let mut time = String::new();
                crate::time::format_rfc3339_nanos(now_ns, &mut time);
                format!("{{\"heartbeat\":\"{time}\"}}\n")
            }
            TailFormat::Sse => ": keep-alive\n\n".to_string(),
        };
        self.send(Bytes::from(line)).await
    }

    async fn send(&mut self, chunk: Bytes) -> bool {
        self.last_sent = Instant::now();
        self.body.send_async(chunk).await.is_ok()
    }
}

/// `data: <line>\n\n` for each line.
fn sse_events(lines: &[u8]) -> Vec<u8> {
    let mut events = Vec::with_capacity(lines.len() + lines.len() / 8 + 16);
    for line in lines.split(|byte| *byte == b'\n').filter(|l| !l.is_empty()) {
        events.extend_from_slice(b"data: ");
        events.extend_from_slice(line);
        events.extend_from_slice(b"\n\n");
    }
    events
}

async fn run(tail: TailStream, body: flume::Sender<Bytes>) {
    let TailStream {
        ctx,
        format,
        receiver,
        rings,
        shared,
        lookback,
        registration,
    } = tail;
    let _registration = registration;
    let mut writer = Writer {
        body,
        format,
        last_sent: Instant::now(),
    };
    if let Some(lookback) = lookback {
        if !send_lookback(&ctx, &mut writer, lookback).await {
            return;
        }
    }
    send_live(&mut writer, &receiver, &rings, &shared).await;
}

/// Sends the look-back's entries that the live part will not send (those
/// below the shards' watermarks), oldest first; false once the client left.
async fn send_lookback(ctx: &ShardContext, writer: &mut Writer, lookback: Lookback) -> bool {
    let Lookback {
        mut stream,
        limit,
        watermarks,
        slot,
    } = lookback;
    let _slot = slot;
    let live_from: HashMap<(u32, u64), u64> = watermarks
        .into_iter()
        .enumerate()
        .flat_map(|(shard, marks)| {
            marks
                .into_iter()
                .map(move |(key, next_seq)| ((shard as u32, key), next_seq))
        })
        .collect();
    let mut buffer = Vec::with_capacity(BODY_CHUNK_BYTES);
    let mut streamed_count = 0;
    let body = writer.body.clone();
    let abandoned = || body.is_disconnected();
    loop {
        let entry = match stream.next_entry(&abandoned).await {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(message) => {
                tracing::error!(message, "a tail's look-back query failed");
                return false;
            }
        };
        streamed_count += 1;
        let next_live = live_from
            .get(&(entry.id.slice, entry.partition.key))
            .copied()
            .unwrap_or(1);
        if entry.id.seq >= next_live {
            // Published to this stream live: sending it now would repeat it.
            continue;
        }
        write_entry(&mut buffer, &entry);
        buffer.push(b'\n');
        if buffer.len() >= BODY_CHUNK_BYTES
            && !writer
                .entries(Bytes::from(std::mem::take(&mut buffer)))
                .await
        {
            return false;
        }
    }
    if writer.body.is_disconnected() {
        return false;
    }
    if !buffer.is_empty() && !writer.entries(Bytes::from(buffer)).await {
        return false;
    }
    match stream.finish().await {
        Ok(summary) => {
            count_query(ctx, summary.timed_out);
            // A full page may have left the window's newest entries out.
            let left_out = summary.total_count.saturating_sub(streamed_count as u64);
            if streamed_count == limit && left_out > 0 {
                return writer.dropped(left_out).await;
            }
            true
        }
        Err(message) => {
            tracing::error!(message, "a tail's look-back query failed");
            false
        }
    }
}

/// Forwards what the shards publish until the client leaves or every shard
/// lets go (shutdown), reporting drops and keeping the connection alive.
async fn send_live(
    writer: &mut Writer,
    receiver: &flume::Receiver<TailMessage>,
    rings: &flume::Receiver<()>,
    shared: &TailShared,
) {
    loop {
        let rang = future::or(async { rings.recv_async().await.is_ok() }, async {
            glommio::timer::sleep(IDLE_CHECK_INTERVAL).await;
            false
        })
        .await;
        if rang && shared.queued_bytes.load(Ordering::Acquire) < TAIL_FLUSH_BYTES {
            // Let more batches' matches gather; a shard rings again once
            // enough are queued.
            future::or(
                async {
                    let _ = rings.recv_async().await;
                },
                glommio::timer::sleep(COALESCE_WINDOW),
            )
            .await;
        }
        let delivered = match take_queued(receiver, shared) {
            Some(lines) => writer.entries(lines).await,
            // Every shard let go of the stream (shutdown), and everything
            // they sent was forwarded.
            None if receiver.is_disconnected() => return,
            None if writer.body.is_disconnected() => return,
            None if writer.last_sent.elapsed() >= KEEP_ALIVE_INTERVAL => writer.keep_alive().await,
            None => true,
        };
        // The client took what was sent: it has caught up, so now is the
        // time to say what it missed.
        let dropped = shared.dropped.swap(0, Ordering::AcqRel);
        if !delivered || (dropped > 0 && !writer.dropped(dropped).await) {
            return;
        }
    }
}

/// Every message queued for the stream, as one chunk of lines (None: no
/// message was queued).
fn take_queued(receiver: &flume::Receiver<TailMessage>, shared: &TailShared) -> Option<Bytes> {
    shared.rearm();
    let first = receiver.try_recv().ok()?;
    let mut taken = first.lines.len();
    let mut more = receiver.try_iter().peekable();
    let lines = if more.peek().is_none() {
        first.lines
    } else {
        let mut lines = first.lines.to_vec();
        for message in more {
            debug_assert!(message.entry_count > 0);
            taken += message.lines.len();
            lines.extend_from_slice(&message.lines);
        }
        Bytes::from(lines)
    };
    shared.queued_bytes.fetch_sub(taken, Ordering::AcqRel);
    Some(lines)
}
