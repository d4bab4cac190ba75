//! Syslog over UDP: one message per datagram. A receiving task decodes
//! datagrams into a pending batch; a committing task commits it whenever
//! it is not empty. While one batch commits the next one gathers, so the
//! commit rate adapts to the arrival rate with no timer. UDP cannot push
//! back on a sender, so a pending batch over its bound drops datagrams,
//! counted in `timberdb_syslog_udp_dropped_total`.

use std::cell::RefCell;
use std::rc::Rc;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::UdpSocket;

use super::{commit, count_error, Decoder, ErrorReason, Transport};
use crate::entry::ColumnBatch;
use crate::shard::ShardContext;

/// Messages a pending batch holds before datagrams are dropped; with the
/// default 64 KiB message limit the worst case is bounded by
/// `UDP_PENDING_BYTES_MAX` instead.
pub const UDP_PENDING_MESSAGES_MAX: usize = 50_000;
/// Payload bytes a pending batch holds before datagrams are dropped.
pub const UDP_PENDING_BYTES_MAX: usize = 16 << 20;

struct Pending {
    batch: ColumnBatch,
    frame_bytes: u64,
}

/// Starts the receiving and committing tasks for this shard's socket.
pub fn serve(ctx: Rc<ShardContext>, socket: UdpSocket) {
    let pending = Rc::new(RefCell::new(Pending {
        batch: ctx.store.batch_pool.take(),
        frame_bytes: 0,
    }));
    // A wake-up, not a queue: one waiting signal is enough.
    let (wake_tx, wake_rx) = local_channel::new_bounded(1);
    glommio::spawn_local(receive(ctx.clone(), socket, pending.clone(), wake_tx)).detach();
    glommio::spawn_local(commit_pending(ctx, pending, wake_rx)).detach();
}

async fn receive(
    ctx: Rc<ShardContext>,
    socket: UdpSocket,
    pending: Rc<RefCell<Pending>>,
    wake: LocalSender<()>,
) {
    let max = ctx.config.syslog.max_message_size_bytes.max(1);
    // One byte more than the limit tells an over-long datagram (which the
    // kernel truncates to the buffer) from one exactly at it.
    let mut buffer = vec![0u8; max + 1];
    let mut decoder = Decoder::new(None);
    loop {
        let (received, peer) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                count_error(&ctx, ErrorReason::ReadFailed, 1);
                tracing::warn!(%error, "syslog: UDP receive failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if ctx.shutting_down.get() {
            break;
        }
        let datagram = if received > max {
            count_error(&ctx, ErrorReason::MessageTruncated, 1);
            &buffer[..max]
        } else {
            &buffer[..received]
        };
        let mut pending = pending.borrow_mut();
        if pending.batch.len() >= UDP_PENDING_MESSAGES_MAX
            || pending.batch.payload_bytes() >= UDP_PENDING_BYTES_MAX
        {
            ctx.count(|c| c.syslog.udp_dropped += 1);
            continue;
        }
        decoder.set_peer(peer);
        let before = decoder.frame_bytes;
        decoder.push_frame(&mut pending.batch, datagram, super::arrival_ns());
        pending.frame_bytes += decoder.frame_bytes - before;
        decoder.flush_counts(&ctx);
        drop(pending);
        let _ = wake.try_send(());
    }
}

async fn commit_pending(
    ctx: Rc<ShardContext>,
    pending: Rc<RefCell<Pending>>,
    wake: LocalReceiver<()>,
) {
    while wake.recv().await.is_some() {
        let (batch, frame_bytes) = {
            let mut pending = pending.borrow_mut();
            if pending.batch.is_empty() {
                continue;
            }
            let batch = std::mem::replace(&mut pending.batch, ctx.store.batch_pool.take());
            (batch, std::mem::take(&mut pending.frame_bytes))
        };
        let entry_count = batch.len() as u64;
        if let Err(reason) = commit(&ctx, batch, Transport::Udp, frame_bytes).await {
            ctx.count(|c| c.syslog.udp_dropped += entry_count);
            tracing::warn!(%reason, dropped = entry_count, "syslog: UDP messages could not be stored");
        }
    }
}
