//! Adapts glommio's TCP stream (or a TLS stream over it) to hyper 1.x's
//! `rt::Read` / `rt::Write`.
//!
//! Reads go through a [`ReadBuffer`]: the socket's bytes are received into
//! it and copied straight into hyper's uninitialised read cursor with
//! `put_slice`. That costs one memcpy and never zero-fills hyper's buffer
//! (the adapter in glommio's example initialises hyper's buffer on every
//! read, a memset of up to the whole buffer); the `ReadBuffer` is zeroed
//! once per allocation (4 KiB per request, more for large bodies), and it is
//! freed whenever a read at a request boundary would wait, so a connection
//! waiting for its next request holds none.
//!
//! Each read also tells the connection's `watchdog::Activity` what the
//! client is doing (a head has begun, a body is awaited, a write is
//! blocked), and a timeout's cut (`connection::ReadCut`) is given to hyper
//! here: an end of stream for an idle connection, an error for a body.
//!
//! Every byte passes `framing` first: a request head is held back here until
//! it is whole and checked (a refused one is never shown to hyper, which
//! is shut down gracefully instead), and body bytes are handed over no
//! further than the body's end, so each head is checked before hyper reads it.
//!
//! The adapter is generic over any stream: plain HTTP uses glommio's
//! `TcpStream` directly; HTTPS the rustls stream (`http::tls`), whose
//! decrypted bytes pass the same checks.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

use super::connection::{body_timeout, ConnectionEdge, ReadCut};
use super::framing::{check_head, BodyTracker, FramingError, HeadCheck, REQUEST_HEAD_BYTES_MAX};
use super::read_buffer::ReadBuffer;

/// hyper's side of one connection: the client's stream behind a
/// [`ReadBuffer`], with every byte checked by `framing` on its way in.
pub struct HyperStream<S = TcpStream> {
    inner: ReadBuffer<S>,
    framing: Framing,
}

/// The read side's framing state, apart from the socket so the socket's
/// buffer can be borrowed while it is updated.
struct Framing {
    body: BodyTracker,
    /// A checked head (or the start of an unchecked one) not yet handed to
    /// hyper: empty unless a head spanned two reads or outgrew hyper's
    /// buffer. Bounded by `REQUEST_HEAD_BYTES_MAX`.
    held: Vec<u8>,
    /// Bytes of `held` that form a checked head ready for hyper.
    held_ready: usize,
    /// Bytes of `held` already handed to hyper.
    held_delivered: usize,
    /// Shared with the service and the connection task.
    edge: Rc<ConnectionEdge>,
    /// A framing error found in the read that delivered its head, for the
    /// next read (hyper gets the head first).
    body_error: Option<io::Error>,
    /// Whether the connection task was woken to see a refused head.
    woken_for_refusal: bool,
}

impl<S> HyperStream<S> {
    /// Serves hyper from `inner`, received through a [`ReadBuffer`].
    pub fn new(inner: S, edge: Rc<ConnectionEdge>) -> HyperStream<S> {
        HyperStream {
            inner: ReadBuffer::new(inner),
            framing: Framing {
                body: BodyTracker::new(edge.body_bytes_max),
                held: Vec::new(),
                held_ready: 0,
                held_delivered: 0,
                edge,
                body_error: None,
                woken_for_refusal: false,
            },
        }
    }

    /// The socket, for the connection task's own answer once hyper is done.
    pub fn socket(&mut self) -> &mut ReadBuffer<S> {
        &mut self.inner
    }

    /// Whether the client was in the middle of a request when hyper stopped.
    pub fn inside_request(&self) -> bool {
        !self.framing.body.at_head() || !self.framing.held.is_empty()
    }
}

impl Framing {
    fn refuse(&mut self, error: FramingError) {
        self.edge.refuse(error);
    }

    /// Hands hyper what is left of a checked, held head.
    fn deliver_held(&mut self, cursor: &mut hyper::rt::ReadBufCursor<'_>) {
        let pending = &self.held[self.held_delivered..self.held_ready];
        let copied = pending.len().min(cursor.remaining());
        cursor.put_slice(&pending[..copied]);
        self.held_delivered += copied;
        if self.held_delivered == self.held_ready {
            self.held_delivered = 0;
            self.held_ready = 0;
            self.held = Vec::new();
        }
    }

    /// A head checked and accepted: its body starts, and a request without
    /// one is complete at once.
    fn start_request(&mut self, body: super::framing::BodyFraming) {
        self.edge.activity.head_complete();
        self.body.start_body(body);
        if self.body.at_head() {
            self.edge.body_completed();
        }
    }

    /// Reads a head: returns how many of `available` bytes to consume and
    /// whether they are to go to hyper straight away (a whole checked head
    /// that fits its buffer) rather than into `held`.
    fn read_head(&mut self, available: &[u8], room: usize) -> (usize, bool) {
        if self.held.is_empty() {
            return match check_head(available) {
                HeadCheck::Complete { head_bytes, body } if head_bytes <= room => {
                    self.start_request(body);
                    (head_bytes, true)
                }
                HeadCheck::Complete { head_bytes, body } => {
                    self.hold_checked(&available[..head_bytes], body);
                    (head_bytes, false)
                }
                HeadCheck::Partial => {
                    self.held.extend_from_slice(available);
                    (available.len(), false)
                }
                HeadCheck::Refused(error) => {
                    self.refuse(error);
                    (0, false)
                }
            };
        }
        let before = self.held.len();
        let taken = available
            .len()
            .min(REQUEST_HEAD_BYTES_MAX + 1 - before.min(REQUEST_HEAD_BYTES_MAX));
        self.held.extend_from_slice(&available[..taken]);
        match check_head(&self.held) {
            HeadCheck::Complete { head_bytes, body } => {
                debug_assert!(head_bytes > before, "a partial head cannot complete itself");
                self.held.truncate(head_bytes);
                self.held_ready = head_bytes;
                self.start_request(body);
                (head_bytes - before, false)
            }
            HeadCheck::Partial => (taken, false),
            HeadCheck::Refused(error) => {
                self.refuse(error);
                (0, false)
            }
        }
    }

    fn hold_checked(&mut self, head: &[u8], body: super::framing::BodyFraming) {
        self.held.extend_from_slice(head);
        self.held_ready = head.len();
        self.start_request(body);
    }
}

impl<S: AsyncRead + Unpin> hyper::rt::Read for HyperStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut cursor: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let HyperStream { inner, framing } = &mut *self;
        loop {
            if framing.held_ready > 0 {
                framing.deliver_held(&mut cursor);
                // The body bytes already received go along, as they do
                // with a head read whole (below).
                if framing.held_ready == 0 && !framing.body.at_head() {
                    match framing.pass_body(inner.buffered(), &mut cursor) {
                        Ok(passed) => Pin::new(&mut *inner).consume(passed),
                        Err(error) => framing.body_error = Some(error),
                    }
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(error) = framing.body_error.take() {
                return Poll::Ready(Err(error));
            }
            match framing.edge.read_cut() {
                None => {}
                Some(ReadCut::EndOfStream) => return Poll::Ready(Ok(())),
                Some(ReadCut::BodyTimeout) => {
                    return Poll::Ready(Err(framing_io_error(body_timeout())))
                }
            }
            if framing.edge.is_refused() {
                // Nothing more is read: `connection::serve` sees the refusal
                // when woken and has hyper finish the requests before it and
                // stop. (The end of the stream instead would make hyper drop
                // a response still in flight.) One wake-up is enough.
                if !framing.woken_for_refusal {
                    framing.woken_for_refusal = true;
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            let available = match Pin::new(&mut *inner).poll_fill_buf(cx) {
                Poll::Ready(Ok(bytes)) => bytes,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    if framing.body.at_head() {
                        // Between requests (or inside a held head): nothing
                        // to read now, so hold no receive buffer.
                        inner.release_if_empty();
                    } else {
                        framing.edge.activity.body_wanted();
                    }
                    return Poll::Pending;
                }
            };
            if available.is_empty() {
                return Poll::Ready(end_of_stream(&framing.body));
            }
            if !framing.body.at_head() {
                let result = framing.pass_body(available, &mut cursor);
                if let Ok(passed) = result {
                    Pin::new(&mut *inner).consume(passed);
                }
                return Poll::Ready(result.map(|_| ()));
            }
            framing.edge.activity.head_bytes();
            let (head_bytes, to_hyper) = framing.read_head(available, cursor.remaining());
            if !to_hyper {
                Pin::new(&mut *inner).consume(head_bytes);
                continue;
            }
            cursor.put_slice(&available[..head_bytes]);
            // The body bytes that came with the head go along in the same
            // read, as hyper would have read them: a handler that answers
            // before reading a small body then leaves hyper a body it can
            // drain in one step. A framing error waits for the next read.
            let mut passed = head_bytes;
            if !framing.body.at_head() {
                match framing.pass_body(&available[head_bytes..], &mut cursor) {
                    Ok(body_bytes) => passed += body_bytes,
                    Err(error) => framing.body_error = Some(error),
                }
            }
            Pin::new(&mut *inner).consume(passed);
            return Poll::Ready(Ok(()));
        }
    }
}

impl<S: AsyncRead + Unpin> HyperStream<S> {
    /// Reads the connection's first request head without hyper: ready once
    /// a whole checked head is held for hyper, a head was refused, a
    /// timeout cut the read side or an error ended it (`Ok(true)`: hyper is
    /// to take over), or the client closed before sending anything
    /// (`Ok(false)`). Until then the connection holds no hyper state and no
    /// receive buffer, only the bytes of a partial head.
    pub fn poll_first_head(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let HyperStream { inner, framing } = self;
        loop {
            let edge = &framing.edge;
            if framing.held_ready > 0 || edge.is_refused() || edge.read_cut().is_some() {
                return Poll::Ready(Ok(true));
            }
            let available = match Pin::new(&mut *inner).poll_fill_buf(cx) {
                Poll::Ready(Ok(bytes)) => bytes,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    inner.release_if_empty();
                    return Poll::Pending;
                }
            };
            if available.is_empty() {
                return Poll::Ready(Ok(!framing.held.is_empty()));
            }
            edge.activity.head_bytes();
            // No room in hyper's buffer: a whole head is held, not passed.
            let (head_bytes, _) = framing.read_head(available, 0);
            Pin::new(&mut *inner).consume(head_bytes);
        }
    }
}

impl Framing {
    /// Hands hyper the bytes of the current body that are in `available`
    /// and fit its buffer; returns how many.
    fn pass_body(
        &mut self,
        available: &[u8],
        cursor: &mut hyper::rt::ReadBufCursor<'_>,
    ) -> io::Result<usize> {
        let room = available.len().min(cursor.remaining());
        let scanned = self
            .body
            .scan(&available[..room])
            .map_err(framing_io_error)?;
        cursor.put_slice(&available[..scanned.body_bytes]);
        self.edge.activity.body_bytes();
        if scanned.body_ended {
            self.edge.body_completed();
        }
        Ok(scanned.body_bytes)
    }
}

/// The end of the client's stream: clean between requests; inside a body,
/// an error that says how the body fell short (the handler answers 400).
fn end_of_stream(body: &BodyTracker) -> io::Result<()> {
    match body.on_end_of_stream() {
        None => Ok(()),
        Some(error) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, error)),
    }
}

fn framing_io_error(error: FramingError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl<S: AsyncWrite + Unpin> hyper::rt::Write for HyperStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        // A write the client does not make room for is timed (`watchdog`).
        let activity = &self.framing.edge.activity;
        match written {
            Poll::Pending => activity.write_blocked(),
            Poll::Ready(_) => activity.write_flowed(),
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
