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
//! - a client too slow to send (or to read) is cut by the connection's
//!   `watchdog`, raced against hyper in the same task: a head that had
//!   begun is answered 408 like a refused head, a body's reads fail so its
//!   handler answers 408, an idle connection ends, and one whose client
//!   reads nothing is dropped. Whatever hyper is doing, the task ends at
//!   most `LINGER_TIME_MAX` after the cut.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};

use super::auth::RemoteAddr;
use super::error::{ApiError, ErrorKind};
use super::framing::FramingError;
use super::io::HyperStream;
use super::response::ResponseBody;
use super::watchdog::{Activity, Alarm, Expiry, Timeouts, TrackedBody, Watchdog};
use crate::shard::ShardContext;

/// Bytes of an unwanted request body read and discarded before a
/// connection closes, so the client sees our answer rather than a reset.
pub const LINGER_BYTES_MAX: usize = 1024 * 1024;
/// How long that discarding may take at most.
pub const LINGER_TIME_MAX: Duration = Duration::from_secs(2);

/// How the read side is to end after a timeout (`watchdog`), as
/// `io::HyperStream` tells hyper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadCut {
    /// The client is gone as far as hyper knows: an idle connection closes.
    EndOfStream,
    /// Every read fails with the body timeout: the handler answers 408.
    BodyTimeout,
}

/// What the read side (`io::HyperStream`), the service and the connection
/// task share about one connection.
pub struct ConnectionEdge {
    /// What the connection is doing and since when, for the watchdog.
    pub activity: Activity,
    /// Set when a timeout ends the read side.
    read_cut: Cell<Option<ReadCut>>,
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
            activity: Activity::new(std::time::Instant::now()),
            read_cut: Cell::new(None),
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

    pub fn read_cut(&self) -> Option<ReadCut> {
        self.read_cut.get()
    }

    /// Cuts the connection for `expiry` the way the client can best be told:
    /// a head that had begun is answered 408 (as a refused head is), a body
    /// fails with a 408 from its handler, an idle connection just ends.
    fn expire(&self, expiry: Expiry) {
        match expiry {
            Expiry::HeaderRead if self.activity.inside_head() => self.refuse(header_timeout()),
            Expiry::BodyRead => self.read_cut.set(Some(ReadCut::BodyTimeout)),
            _ => self.read_cut.set(Some(ReadCut::EndOfStream)),
        }
    }
}

fn header_timeout() -> FramingError {
    FramingError {
        kind: ErrorKind::RequestTimeout,
        code: "header_timeout",
        message: "the request head did not arrive within connections.header_read_timeout_ms; send the whole head at once".to_string(),
    }
}

/// The error every read of a body gives once the body timeout passed.
pub fn body_timeout() -> FramingError {
    FramingError {
        kind: ErrorKind::RequestTimeout,
        code: "body_timeout",
        message: "no byte of the request body arrived within connections.body_read_timeout_ms"
            .to_string(),
    }
}

/// Serves one accepted connection until it closes.
/// `remote` is the client's address, for the audit log (`http::auth`).
pub async fn serve(ctx: Rc<ShardContext>, stream: TcpStream, remote: Option<RemoteAddr>) {
    serve_stream(ctx, stream, remote, |_| {}).await
}

/// How a connection's run ended.
enum Watched<T> {
    Done(T),
    /// Cut by a timeout and still not done after the grace: dropped.
    Abandoned,
}

/// Serves one connection over any stream (plain TCP, or TLS once its
/// handshake is done); `tag` adds what the transport knows about the
/// client (a TLS session, a client certificate) to every request.
///
/// Until its first request head is whole the connection is only this small
/// future and the bytes of the head: hyper's state and buffers (about
/// 20 KiB) are made, in a box of their own, once there is a request.
pub async fn serve_stream<S>(
    ctx: Rc<ShardContext>,
    stream: S,
    remote: Option<RemoteAddr>,
    tag: impl Fn(&mut hyper::http::Extensions) + Unpin + 'static,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let body_bytes_max = ctx.config.api.max_request_size_bytes as u64;
    let edge = Rc::new(ConnectionEdge::new(body_bytes_max));
    let mut io = HyperStream::new(stream, edge.clone());
    let timeouts = Timeouts::from_config(&ctx.config.connections);
    let mut watchdog = Watchdog::new(timeouts, LINGER_TIME_MAX);
    let first_head = std::future::poll_fn(|cx| io.poll_first_head(cx));
    match watch(&mut watchdog, &edge, &ctx, first_head).await {
        Watched::Done(Ok(true)) => {}
        Watched::Done(Ok(false)) | Watched::Abandoned => return,
        Watched::Done(Err(error)) => {
            tracing::debug!(%error, "connection ended before its first request");
            return;
        }
    }
    Box::pin(serve_hyper(ctx, io, edge, watchdog, remote, tag)).await
}

/// Serves the connection's requests with hyper, from its first whole head.
async fn serve_hyper<S>(
    ctx: Rc<ShardContext>,
    io: HyperStream<S>,
    edge: Rc<ConnectionEdge>,
    mut watchdog: Watchdog,
    remote: Option<RemoteAddr>,
    tag: impl Fn(&mut hyper::http::Extensions) + Unpin + 'static,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let service_ctx = ctx.clone();
    let service_edge = edge.clone();
    // Boxed so the connection can be polled by hand (`poll_without_shutdown`
    // wants an `Unpin` future); one allocation per request.
    let service = service_fn(move |mut request: Request<Incoming>| {
        if let Some(remote) = remote {
            request.extensions_mut().insert(remote);
        }
        tag(request.extensions_mut());
        Box::pin(respond(service_ctx.clone(), service_edge.clone(), request))
    });
    let mut connection = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    let mut shutting_down = false;
    let run = std::future::poll_fn(|cx| {
        // A refused head: hyper finishes the requests before it, then stops
        // (and leaves the socket to `finish`).
        if !shutting_down && edge.is_refused() {
            shutting_down = true;
            Pin::new(&mut connection).graceful_shutdown();
        }
        connection.poll_without_shutdown(cx)
    });
    match watch(&mut watchdog, &edge, &ctx, run).await {
        Watched::Done(Ok(())) => finish(connection.into_parts().io, &edge).await,
        Watched::Done(Err(error)) => tracing::debug!(%error, "connection ended with an error"),
        Watched::Abandoned => {}
    }
}

/// Runs `work` (the connection's reads and hyper) against the watchdog: a
/// passed deadline cuts the connection (`ConnectionEdge::expire`) and `work`
/// is polled again at once so it sees the cut; a client that reads nothing,
/// or a cut connection still running after the grace, is abandoned.
async fn watch<T>(
    watchdog: &mut Watchdog,
    edge: &ConnectionEdge,
    ctx: &ShardContext,
    work: impl Future<Output = T>,
) -> Watched<T> {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| loop {
        if let Poll::Ready(done) = work.as_mut().poll(cx) {
            return Poll::Ready(Watched::Done(done));
        }
        match watchdog.poll(cx, &edge.activity) {
            None => return Poll::Pending,
            Some(Alarm::Abandon) => return Poll::Ready(Watched::Abandoned),
            Some(Alarm::Expired(expiry)) => {
                tracing::debug!(reason = expiry.label(), "connection timed out");
                ctx.count(|c| c.connections.timed_out[expiry.index()] += 1);
                if expiry == Expiry::WriteStall {
                    return Poll::Ready(Watched::Abandoned);
                }
                edge.expire(expiry);
            }
        }
    })
    .await
}

/// The router's answer, told to close the connection when the request's
/// body has not all arrived (see the module comment).
async fn respond(
    ctx: Rc<ShardContext>,
    edge: Rc<ConnectionEdge>,
    request: Request<Incoming>,
) -> Result<Response<TrackedBody<ResponseBody, InFlight>>, Infallible> {
    // Held until hyper is done with the response (or drops this future).
    let in_flight = InFlight::new(edge.clone());
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
    Ok(response.map(|body| TrackedBody {
        body,
        guard: in_flight,
    }))
}

/// A response the service has begun and hyper has not finished: while one
/// exists the connection is busy, not idle (`watchdog`).
pub struct InFlight(Rc<ConnectionEdge>);

impl InFlight {
    fn new(edge: Rc<ConnectionEdge>) -> InFlight {
        edge.activity.response_started();
        InFlight(edge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.activity.response_finished();
    }
}

/// After hyper: answers a refused head, then discards what the client is
/// still sending (bounded) so it reads the answer, then closes.
async fn finish<S: AsyncRead + AsyncWrite + Unpin>(mut io: HyperStream<S>, edge: &ConnectionEdge) {
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
    raw_error_bytes(&error.to_api_error())
}

/// An error response as raw HTTP/1.1 bytes (`Connection: close`), for a
/// connection hyper does not serve.
pub fn raw_error_bytes(error: &ApiError) -> Vec<u8> {
    let body = error.body_bytes();
    let status = error.kind.status();
    let retry_after = error
        .retry_after_seconds
        .map(|seconds| format!("retry-after: {seconds}\r\n"))
        .unwrap_or_default();
    let mut bytes = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\nconnection: close\r\n{retry_after}content-length: {}\r\n\r\n",
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
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(io: &mut HyperStream<S>) {
    let socket = io.socket();
    // Closing the write side (a TCP FIN, after TLS's close_notify) tells
    // the client the answer is complete.
    let _ = socket.close().await;
    let discard = async {
        // On the heap: an array here would be part of every connection's
        // future, lingering or not.
        let mut scratch = vec![0u8; 8192];
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
