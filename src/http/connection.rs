//! connection: "how does one client connection end, whatever it sent?"
//!
//! One hyper HTTP/1.1 connection over `io::HyperStream`, plus the two
//! answers hyper cannot give the way our clients need them:
//!
//! - a request head `framing` refused is never shown to hyper; hyper is
//!   shut down gracefully (it answers the requests before it), then this
//!   writes the usual JSON error (`Connection: close`) and closes.
//! - a response sent before the request's body has arrived (a 404 for an
//!   unknown partition, a 413 for a declared length) would make hyper close
//!   the connection without saying so, and a keep-alive client's next
//!   request would fail with a broken pipe. Such a response gets
//!   `Connection: close`, and the rest of the body is read and discarded
//!   (up to `LINGER_BYTES_MAX`) before the socket closes, so the client
//!   reads the answer instead of a reset.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::io::{AsyncBufRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;

use super::auth::RemoteAddr;
use super::framing::FramingError;
use super::io::HyperStream;
use super::response::HttpResponse;
use crate::shard::ShardContext;

/// Bytes of an unwanted request body read and discarded before a
/// connection closes, so the client sees our answer rather than a reset.
pub const LINGER_BYTES_MAX: usize = 1024 * 1024;
/// How long that discarding may take at most.
pub const LINGER_TIME_MAX: Duration = Duration::from_secs(2);

/// What the read side (`io::HyperStream`), the service and the connection
/// task share about one connection.
pub struct ConnectionEdge {
    /// The largest body any route takes: a chunk larger is refused at once.
    pub body_bytes_max: u64,
    /// Requests whose whole body has been handed to hyper (or had none).
    bodies_complete: Cell<u64>,
    /// Requests the service has been called for.
    requests_served: Cell<u64>,
    /// A request head that was refused, to be answered when hyper is done.
    refused: RefCell<Option<FramingError>>,
}

impl ConnectionEdge {
    pub fn new(body_bytes_max: u64) -> ConnectionEdge {
        ConnectionEdge {
            body_bytes_max,
            bodies_complete: Cell::new(0),
            requests_served: Cell::new(0),
            refused: RefCell::new(None),
        }
    }

    pub fn body_completed(&self) {
        self.bodies_complete.set(self.bodies_complete.get() + 1);
    }

    pub fn refuse(&self, error: FramingError) {
        self.refused.borrow_mut().get_or_insert(error);
    }

    pub fn is_refused(&self) -> bool {
        self.refused.borrow().is_some()
    }
}

/// Serves one accepted connection until it closes.
/// `remote` is the client's address, for the audit log (`http::auth`).
pub async fn serve(ctx: Rc<ShardContext>, stream: TcpStream, remote: Option<RemoteAddr>) {
    serve_stream(ctx, super::io::buffered(stream), remote, |_| {}).await
}

/// Serves one connection over any buffered stream (plain TCP, or TLS once
/// its handshake is done); `tag` adds what the transport knows about the
/// client (a TLS session, a client certificate) to every request.
pub async fn serve_stream<S>(
    ctx: Rc<ShardContext>,
    stream: S,
    remote: Option<RemoteAddr>,
    tag: impl Fn(&mut hyper::http::Extensions) + Unpin + 'static,
) where
    S: AsyncBufRead + AsyncWrite + Unpin + 'static,
{
    let body_bytes_max = ctx.config.api.max_request_size_bytes as u64;
    let edge = Rc::new(ConnectionEdge::new(body_bytes_max));
    let service_edge = edge.clone();
    // Boxed so the connection can be polled by hand (`poll_without_shutdown`
    // wants an `Unpin` future); one allocation per request.
    let service = service_fn(move |mut request: Request<Incoming>| {
        if let Some(remote) = remote {
            request.extensions_mut().insert(remote);
        }
        tag(request.extensions_mut());
        Box::pin(respond(ctx.clone(), service_edge.clone(), request))
    });
    let mut connection = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(HyperStream::new(stream, edge.clone()), service);
    let mut shutting_down = false;
    let served = std::future::poll_fn(|cx| {
        // A refused head: hyper finishes the requests before it, then stops
        // (and leaves the socket to `finish`).
        if !shutting_down && edge.is_refused() {
            shutting_down = true;
            Pin::new(&mut connection).graceful_shutdown();
        }
        connection.poll_without_shutdown(cx)
    })
    .await;
    match served {
        Ok(()) => finish(connection.into_parts().io, &edge).await,
        Err(error) => tracing::debug!(%error, "connection ended with an error"),
    }
}

/// The router's answer, told to close the connection when the request's
/// body has not all arrived (see the module comment).
async fn respond(
    ctx: Rc<ShardContext>,
    edge: Rc<ConnectionEdge>,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let index = edge.requests_served.get();
    edge.requests_served.set(index + 1);
    let chunked = request.headers().contains_key(TRANSFER_ENCODING);
    let has_body = chunked || request.headers().contains_key(CONTENT_LENGTH);
    let mut response = super::router::handle(ctx, request).await?;
    let body_arrived = edge.bodies_complete.get() > index;
    // hyper drains an unread body only if one read finishes it: always so
    // for a Content-Length body that has all arrived, never sure for a
    // chunked one an error may have left unread.
    let may_be_unread = !body_arrived || (chunked && response.status().as_u16() >= 400);
    if has_body && may_be_unread {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

/// After hyper: answers a refused head, then discards what the client is
/// still sending (bounded) so it reads the answer, then closes.
async fn finish<S: AsyncBufRead + AsyncWrite + Unpin>(
    mut io: HyperStream<S>,
    edge: &ConnectionEdge,
) {
    let refused = edge.refused.borrow_mut().take();
    if let Some(error) = &refused {
        tracing::debug!(code = error.code, message = %error.message, "malformed request refused");
        let response = refusal_bytes(error);
        if io.socket().write_all(&response).await.is_err() {
            return;
        }
        let _ = io.socket().flush().await;
    }
    if refused.is_some() || io.inside_request() {
        linger(&mut io).await;
    }
}

/// The raw HTTP/1.1 response for a refused request head: hyper never saw
/// the request, so it is written here, in the usual error shape.
pub fn refusal_bytes(error: &FramingError) -> Vec<u8> {
    let body = error.to_api_error().body_bytes();
    let status = error.kind.status();
    let mut bytes = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

/// Reads and drops up to `LINGER_BYTES_MAX` bytes, for at most
/// `LINGER_TIME_MAX`, or until the client closes.
async fn linger<S: AsyncBufRead + AsyncWrite + Unpin>(io: &mut HyperStream<S>) {
    let socket = io.socket();
    // Closing the write side (a TCP FIN, after TLS's close_notify) tells
    // the client the answer is complete.
    let _ = socket.close().await;
    let discard = async {
        let mut scratch = [0u8; 8192];
        let mut discarded = 0;
        while discarded < LINGER_BYTES_MAX {
            match socket.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(bytes) => discarded += bytes,
            }
        }
    };
    futures_lite::future::or(discard, glommio::timer::sleep(LINGER_TIME_MAX)).await;
}
