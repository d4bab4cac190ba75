//! http/: "what did the client ask, and what do we answer?"
//!
//! hyper 1.x HTTP/1.1 on every shard. `connection` serves one connection,
//! `framing` checks each request's head and body framing before hyper sees
//! it (`io` runs it), `io` adapts glommio streams to hyper,
//! `router` maps routes to `handlers`, `error` is the error body and the
//! one status mapping, `body` reads bodies within the size limit, `tls`
//! serves HTTPS (and client certificates) when `[tls]` is configured,
//! `quota` charges requests to their key's quota.
//! `admission` caps connections per client address and per shard,
//! `watchdog` cuts clients too slow to send or read, and `read_buffer`
//! keeps an idle connection's memory small (`[connections]`).

pub mod admission;
pub mod auth;
pub mod body;
pub mod connection;
pub mod error;
pub mod framing;
pub mod handlers;
pub mod io;
pub mod negotiate;
pub mod quota;
pub mod read_buffer;
pub mod response;
pub mod router;
pub mod tls;
pub mod watchdog;

use std::rc::Rc;

use glommio::net::TcpListener;

use crate::shard::ShardContext;

/// Accepts connections on this shard's listener for as long as it runs; over TLS when
/// `tls` is given (`[tls]` configured), plain HTTP otherwise. Each connection first takes
/// a place from the shard's [`admission::Admission`] (the `[connections]` caps).
pub async fn serve(ctx: Rc<ShardContext>, listener: TcpListener, tls: Option<Rc<tls::ShardTls>>) {
    let admission = admission::Admission::new(ctx.clone());
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let peer = stream.peer_addr().ok();
        let ticket = match admission.admit(peer) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                tracing::debug!(?peer, reason = refusal.label(), "connection refused");
                if tls.is_none() {
                    admission.refuse(stream, refusal);
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn_ctx = ctx.clone();
        let remote = peer.map(auth::RemoteAddr);
        let conn_tls = tls.clone();
        glommio::spawn_local(async move {
            match conn_tls {
                Some(conn_tls) => tls::serve_connection(conn_ctx, conn_tls, stream, remote).await,
                None => connection::serve(conn_ctx, stream, remote).await,
            }
            drop(ticket);
        })
        .detach();
    }
}
