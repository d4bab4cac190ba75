//! http/: "what did the client ask, and what do we answer?"
//!
//! hyper 1.x HTTP/1.1 on every shard. `connection` serves one connection,
//! `framing` checks each request's head and body framing before hyper sees
//! it (`io` runs it), `io` adapts glommio streams to hyper,
//! `router` maps routes to `handlers`, `error` is the error body and the
//! one status mapping, `body` reads bodies within the size limit, `tls`
//! serves HTTPS (and client certificates) when `[tls]` is configured,
//! `quota` charges requests to their key's quota.

pub mod auth;
pub mod body;
pub mod connection;
pub mod error;
pub mod framing;
pub mod handlers;
pub mod io;
pub mod negotiate;
pub mod quota;
pub mod response;
pub mod router;
pub mod tls;

use std::rc::Rc;

use glommio::net::TcpListener;

use crate::shard::ShardContext;

/// Open connections per shard. Each costs a read buffer
/// (`io::CONNECTION_READ_BUFFER_BYTES`) plus hyper's state, about 80 KiB, so
/// this bounds connection memory to about 800 MiB per shard; connections
/// past it are closed at once.
pub const CONNECTIONS_PER_SHARD_MAX: usize = 10_000;

/// Accepts connections on this shard's listener for as long as it runs; over TLS when
/// `tls` is given (`[tls]` configured), plain HTTP otherwise.
pub async fn serve(ctx: Rc<ShardContext>, listener: TcpListener, tls: Option<Rc<tls::ShardTls>>) {
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if ctx.connections_open.get() >= CONNECTIONS_PER_SHARD_MAX {
            tracing::warn!(
                limit = CONNECTIONS_PER_SHARD_MAX,
                "connection limit reached; closing a new connection"
            );
            continue;
        }
        let _ = stream.set_nodelay(true);
        ctx.connections_open.set(ctx.connections_open.get() + 1);
        let conn_ctx = ctx.clone();
        let remote = stream.peer_addr().ok().map(auth::RemoteAddr);
        let conn_tls = tls.clone();
        glommio::spawn_local(async move {
            match conn_tls {
                Some(conn_tls) => {
                    tls::serve_connection(conn_ctx.clone(), conn_tls, stream, remote).await
                }
                None => connection::serve(conn_ctx.clone(), stream, remote).await,
            }
            conn_ctx
                .connections_open
                .set(conn_ctx.connections_open.get() - 1);
        })
        .detach();
    }
}
