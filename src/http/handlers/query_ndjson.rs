//! The NDJSON answer to a query: a 200 with a chunked body, one JSON object
//! per line per entry (the shape of the JSON answer's `entries` items) as
//! the merge hands them out, then `{"metadata": {...}}` as the last line, or
//! `{"error": {...}}` if a shard failed mid-stream.
//!
//! A spawned task feeds the body over a bounded channel, so at most
//! `BODY_CHUNKS_IN_FLIGHT_MAX` chunks of about `BODY_CHUNK_BYTES` wait for a
//! slow client, whatever the limit. A client that disconnects makes hyper
//! drop the body and with it the channel's receiver; the task's next send
//! (or its check between shard messages) fails, it drops the result stream,
//! and every shard stops at its next block. The query slot is held by the
//! task, so it is released only when the query has really stopped.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::json;

use super::query::{count_query, QuerySlot, NDJSON};
use crate::http::response::{streamed, HttpResponse};
use crate::query::response::{render_metadata_line, write_entry};
use crate::query::{QueryPlan, ResultStream};
use crate::shard::ShardContext;

/// Lines are gathered into chunks of about this many bytes before they are
/// handed to hyper: one write per 64 KiB rather than one per entry.
const BODY_CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting for the client: with `BODY_CHUNK_BYTES`, about 256 KiB
/// per streamed query.
const BODY_CHUNKS_IN_FLIGHT_MAX: usize = 4;

pub(super) fn respond(
    ctx: Rc<ShardContext>,
    slot: QuerySlot,
    plan: Arc<QueryPlan>,
    stream: ResultStream,
    started: Instant,
) -> HttpResponse {
    let (body, chunks) = flume::bounded(BODY_CHUNKS_IN_FLIGHT_MAX);
    glommio::spawn_local(async move {
        let _slot = slot;
        if let Some(timed_out) = feed(&plan, stream, &body, started).await {
            count_query(&ctx, timed_out);
        }
    })
    .detach();
    streamed(NDJSON, chunks)
}

/// Writes the answer into `body`; returns whether the query timed out, or
/// `None` if the client left (or a shard failed) first.
async fn feed(
    plan: &QueryPlan,
    mut stream: ResultStream,
    body: &flume::Sender<Bytes>,
    started: Instant,
) -> Option<bool> {
    let mut buffer = Vec::with_capacity(BODY_CHUNK_BYTES);
    let mut returned_count = 0;
    let abandoned = || body.is_disconnected();
    loop {
        match stream.next_entry(&abandoned).await {
            Ok(Some(entry)) => {
                write_entry(&mut buffer, &entry);
                buffer.push(b'\n');
                returned_count += 1;
                if buffer.len() >= BODY_CHUNK_BYTES && !send(body, &mut buffer).await {
                    return None;
                }
            }
            Ok(None) if abandoned() => return None,
            Ok(None) => break,
            Err(message) => {
                error_line(&mut buffer, &message);
                send(body, &mut buffer).await;
                return None;
            }
        }
    }
    match stream.finish().await {
        Ok(summary) => {
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            let line = render_metadata_line(plan, returned_count, &summary, elapsed_ms);
            buffer.extend_from_slice(&line);
            send(body, &mut buffer).await.then_some(summary.timed_out)
        }
        Err(message) => {
            error_line(&mut buffer, &message);
            send(body, &mut buffer).await;
            None
        }
    }
}

/// The line that ends a stream that failed after its 200 was sent.
fn error_line(buffer: &mut Vec<u8>, message: &str) {
    tracing::error!(message, "a streamed query failed");
    let line = json!({"error": {"code": "internal_error", "message": message}});
    serde_json::to_writer(&mut *buffer, &line).expect("an error line serialises");
    buffer.push(b'\n');
}

/// Hands the buffered lines to the body; false once the client is gone.
async fn send(body: &flume::Sender<Bytes>, buffer: &mut Vec<u8>) -> bool {
    let chunk = Bytes::from(std::mem::replace(
        buffer,
        Vec::with_capacity(BODY_CHUNK_BYTES),
    ));
    body.send_async(chunk).await.is_ok()
}
