//! Syslog over TCP: accept within `max_connections`, then per connection
//! read, frame, decode and commit, one batch per read.

use std::rc::Rc;

use futures_lite::AsyncReadExt;
use glommio::net::{TcpListener, TcpStream};

use super::frame::{Framer, Next};
use super::{commit, count_error, Decoder, ErrorReason, Transport, READ_CHUNK_BYTES};
use crate::shard::ShardContext;

/// Accepts connections until the server shuts down.
pub async fn serve(ctx: Rc<ShardContext>, listener: TcpListener) {
    let per_shard_max = connections_per_shard_max(&ctx);
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "syslog: accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if ctx.shutting_down.get() {
            break;
        }
        if ctx.counters.get().syslog.connections_open >= per_shard_max {
            count_error(&ctx, ErrorReason::ConnectionLimit, 1);
            tracing::warn!(
                limit = ctx.config.syslog.max_connections,
                "syslog: connection limit reached; closing a new connection"
            );
            continue;
        }
        ctx.count(|c| c.syslog.connections_open += 1);
        let conn_ctx = ctx.clone();
        glommio::spawn_local(async move {
            serve_connection(&conn_ctx, stream).await;
            conn_ctx.count(|c| c.syslog.connections_open -= 1);
        })
        .detach();
    }
}

/// `max_connections` is per node; the kernel spreads connections evenly
/// over the shards' listeners, so each shard takes its share (rounded up).
fn connections_per_shard_max(ctx: &ShardContext) -> u64 {
    let shards = u64::from(ctx.shard_count.max(1));
    (ctx.config.syslog.max_connections as u64).div_ceil(shards)
}

/// Why a connection ended early.
enum Close {
    /// The peer closed; what remained was handled.
    Eof,
    /// Logged and counted already.
    Refused(String),
}

async fn serve_connection(ctx: &ShardContext, mut stream: TcpStream) {
    let peer = stream.peer_addr().ok();
    let max = ctx.config.syslog.max_message_size_bytes.max(1);
    let mut framer = Framer::new(max);
    let mut decoder = Decoder::new(peer);
    let mut buffer = vec![0u8; framer.buffer_bytes_min() + READ_CHUNK_BYTES];
    let mut filled = 0;
    let close = loop {
        if ctx.shutting_down.get() {
            break Close::Refused("the server is shutting down".into());
        }
        let read_end = (filled + READ_CHUNK_BYTES).min(buffer.len());
        debug_assert!(read_end > filled, "framing always frees buffer space");
        let read = match stream.read(&mut buffer[filled..read_end]).await {
            Ok(read) => read,
            Err(error) => {
                count_error(ctx, ErrorReason::ReadFailed, 1);
                break Close::Refused(format!("read failed: {error}"));
            }
        };
        let end_of_stream = read == 0;
        filled += read;
        let mut batch = ctx.store.batch_pool.take();
        let now = super::arrival_ns();
        let (consumed, refused) = frame_all(
            ctx,
            &mut framer,
            &mut decoder,
            &buffer[..filled],
            &mut batch,
            now,
        );
        if end_of_stream && refused.is_none() {
            finish(
                ctx,
                &mut framer,
                &mut decoder,
                &buffer[consumed..filled],
                &mut batch,
                now,
            );
        }
        decoder.flush_counts(ctx);
        let frame_bytes = std::mem::take(&mut decoder.frame_bytes);
        if let Err(reason) = commit(ctx, batch, Transport::Tcp, frame_bytes).await {
            break Close::Refused(format!("could not store its messages: {reason}"));
        }
        if let Some(reason) = refused {
            break Close::Refused(reason);
        }
        if end_of_stream {
            break Close::Eof;
        }
        buffer.copy_within(consumed..filled, 0);
        filled -= consumed;
    };
    if let Close::Refused(reason) = close {
        tracing::warn!(peer = ?peer, %reason, "syslog: closing a TCP connection");
    }
}

/// Decodes every whole frame in `buffer` into `batch`. Returns the bytes
/// consumed and, when the stream cannot go on, why.
fn frame_all(
    ctx: &ShardContext,
    framer: &mut Framer,
    decoder: &mut Decoder,
    buffer: &[u8],
    batch: &mut crate::entry::ColumnBatch,
    now: i64,
) -> (usize, Option<String>) {
    let mut at = 0;
    loop {
        match framer.next(&buffer[at..]) {
            Next::Message {
                start,
                end,
                consumed,
            } => {
                decoder.push_frame(batch, &buffer[at + start..at + end], now);
                at += consumed;
            }
            Next::LineCut { end } => {
                count_error(ctx, ErrorReason::MessageTruncated, 1);
                decoder.push_frame(batch, &buffer[at..at + end], now);
                at += end;
            }
            Next::Skipped { consumed } => at += consumed,
            Next::FrameTooLong { declared_bytes } => {
                count_error(ctx, ErrorReason::FrameTooLong, 1);
                let reason = format!(
                    "an octet-counted frame declares {declared_bytes} bytes, over syslog.max_message_size_bytes ({})",
                    ctx.config.syslog.max_message_size_bytes
                );
                return (at, Some(reason));
            }
            Next::NeedMore => return (at, None),
        }
    }
}

/// At the end of the stream: the unterminated last line is a message; a
/// cut-off octet frame is counted.
fn finish(
    ctx: &ShardContext,
    framer: &mut Framer,
    decoder: &mut Decoder,
    rest: &[u8],
    batch: &mut crate::entry::ColumnBatch,
    now: i64,
) {
    match framer.finish(rest) {
        Some(end) => decoder.push_frame(batch, &rest[..end], now),
        None if !rest.is_empty() && !rest.iter().all(|b| matches!(b, b'\n' | b'\r' | b'\0')) => {
            count_error(ctx, ErrorReason::FrameIncomplete, 1);
        }
        None => {}
    }
}
