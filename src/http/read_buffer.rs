//! read_buffer: "how much memory does a connection hold while it waits?"
//!
//! glommio's buffered stream allocates its whole receive buffer when the
//! connection is accepted and keeps it until it closes: 64 KiB per
//! connection, idle or not, which made 22 000 half-open connections cost
//! 1.75 GB. [`ReadBuffer`] receives into a buffer that exists only while
//! there is something to read:
//!
//! - the first receive of a request uses [`READ_BUFFER_BYTES_MIN`] (a
//!   request head, and the whole of a small request);
//! - a receive that fills the buffer doubles it for the next one, up to
//!   [`READ_BUFFER_BYTES_MAX`], so a large body still arrives in few reads;
//! - between requests, once it is empty and the socket has nothing more
//!   ([`ReadBuffer::release_if_empty`], called by `io::HyperStream` when a
//!   read at a request boundary would wait), the buffer is freed and the
//!   size goes back to the minimum.
//!
//! Bytes are received straight into the buffer (glommio's unbuffered
//! stream waits for readiness, then `recv`s into the slice it is given), so
//! this costs no copy over glommio's own buffering. A read into a slice of
//! at least [`READ_BUFFER_BYTES_MIN`] bypasses it (rustls's reads under TLS).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};

/// The receive buffer's first size for each request: 4 KiB.
pub const READ_BUFFER_BYTES_MIN: usize = 4 * 1024;
/// The receive buffer's largest size: 64 KiB, so a 1000-line (240 KB)
/// request body arrives in about four receives once the buffer has grown.
/// Bounded per connection by this and in number by `connections.max_per_shard`.
pub const READ_BUFFER_BYTES_MAX: usize = 64 * 1024;
const _: () = assert!(
    READ_BUFFER_BYTES_MIN.is_power_of_two() && READ_BUFFER_BYTES_MIN <= READ_BUFFER_BYTES_MAX
);

/// A stream with a receive buffer that grows with the traffic and is freed
/// when the connection waits between requests.
pub struct ReadBuffer<S> {
    inner: S,
    /// Allocated (and zeroed once) when a receive needs it; empty otherwise.
    buf: Vec<u8>,
    /// Bytes of `buf` before `head` are consumed; those from `tail` are free.
    head: usize,
    tail: usize,
    /// The size the buffer has at its next receive.
    next_size_bytes: usize,
}

impl<S> ReadBuffer<S> {
    pub fn new(inner: S) -> ReadBuffer<S> {
        ReadBuffer {
            inner,
            buf: Vec::new(),
            head: 0,
            tail: 0,
            next_size_bytes: READ_BUFFER_BYTES_MIN,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Frees the buffer if it holds nothing: the connection is between
    /// requests and its next receive starts small again.
    pub fn release_if_empty(&mut self) {
        if self.head == self.tail {
            self.buf = Vec::new();
            self.head = 0;
            self.tail = 0;
            self.next_size_bytes = READ_BUFFER_BYTES_MIN;
        }
    }

    /// The bytes received and not yet consumed, without reading more.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.head..self.tail]
    }

    /// Bytes currently held (allocated), for tests and measurements.
    pub fn capacity_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Makes the empty buffer ready for a receive of `next_size_bytes`.
    fn prepare(&mut self) {
        debug_assert_eq!(self.head, self.tail, "only an empty buffer is resized");
        self.head = 0;
        self.tail = 0;
        if self.buf.len() != self.next_size_bytes {
            self.buf = vec![0; self.next_size_bytes];
        }
    }

    /// Records a receive of `received` bytes; a full one doubles the next.
    fn received(&mut self, received: usize) {
        self.tail = received;
        if received == self.buf.len() {
            self.next_size_bytes = (self.next_size_bytes * 2).min(READ_BUFFER_BYTES_MAX);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncBufRead for ReadBuffer<S> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.head == this.tail {
            this.prepare();
            let received = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.buf))?;
            this.received(received);
        }
        Poll::Ready(Ok(&this.buf[this.head..this.tail]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.head = (this.head + amt).min(this.tail);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadBuffer<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.head == self.tail && out.len() >= READ_BUFFER_BYTES_MIN {
            // The caller has its own buffer (rustls's, under TLS): use it.
            self.release_if_empty();
            return Pin::new(&mut self.inner).poll_read(cx, out);
        }
        let available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let copied = available.len().min(out.len());
        out[..copied].copy_from_slice(&available[..copied]);
        self.consume(copied);
        Poll::Ready(Ok(copied))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadBuffer<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, Cursor};

    #[test]
    fn grows_on_full_receives_and_is_freed_between_requests() {
        futures_lite::future::block_on(async {
            let bytes: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
            let mut reader = ReadBuffer::new(Cursor::new(bytes.clone()));
            assert_eq!(reader.capacity_bytes(), 0, "nothing is held before a read");
            let first = reader.fill_buf().await.expect("fill").len();
            assert_eq!(first, READ_BUFFER_BYTES_MIN);
            let mut all = Vec::new();
            let mut scratch = vec![0u8; 1000];
            loop {
                let read = reader.read(&mut scratch).await.expect("read");
                if read == 0 {
                    break;
                }
                all.extend_from_slice(&scratch[..read]);
            }
            assert_eq!(all, bytes, "every byte arrives once, in order");
            assert_eq!(
                reader.capacity_bytes(),
                READ_BUFFER_BYTES_MAX,
                "grown to the cap"
            );
            reader.release_if_empty();
            assert_eq!(reader.capacity_bytes(), 0);
            assert_eq!(reader.next_size_bytes, READ_BUFFER_BYTES_MIN);
        });
    }

    #[test]
    fn a_buffer_holding_bytes_is_kept() {
        futures_lite::future::block_on(async {
            let mut reader = ReadBuffer::new(Cursor::new(b"GET / HTTP/1.1\r\n".to_vec()));
            reader.fill_buf().await.expect("fill");
            Pin::new(&mut reader).consume(4);
            reader.release_if_empty();
            assert_eq!(reader.fill_buf().await.expect("fill"), b"/ HTTP/1.1\r\n");
        });
    }
}
