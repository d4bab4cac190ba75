//! Adapts glommio's TCP stream (or a TLS stream over it) to hyper 1.x's `rt::Read` /
//! `rt::Write`.
//!
//! Reads go through glommio's buffered stream (`AsyncBufRead`): glommio fills
//! its own preallocated buffer from io_uring and we copy straight into hyper's
//! uninitialised read cursor with `put_slice`. That costs one memcpy and never
//! zero-fills a read buffer (the adapter in glommio's example initialises
//! hyper's buffer on every read, which is a memset of up to the whole buffer).
//!
//! The adapter is generic over any buffered stream: plain HTTP uses glommio's buffered
//! `TcpStream` directly; HTTPS uses a `BufReader` over the rustls stream (`http::tls`),
//! whose decrypted bytes are copied into hyper's cursor the same way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncWrite};
use glommio::net::{Preallocated, TcpStream};

/// Bytes glommio reads from the socket per io_uring receive. 64 KiB per
/// connection: large enough that a 1000-line (240 KB) request body arrives in
/// four receives, small enough that 10 000 idle connections cost 640 MiB at
/// most (connections are bounded by `CONNECTIONS_PER_SHARD_MAX`).
pub const CONNECTION_READ_BUFFER_BYTES: usize = 64 * 1024;

pub struct HyperStream<S = TcpStream<Preallocated>> {
    inner: S,
}

impl HyperStream {
    pub fn new(stream: TcpStream) -> HyperStream {
        HyperStream::from_buffered(buffered(stream))
    }
}

impl<S> HyperStream<S> {
    /// Serves hyper from an already buffered stream.
    pub fn from_buffered(inner: S) -> HyperStream<S> {
        HyperStream { inner }
    }
}

/// glommio's stream with its receive buffer of [`CONNECTION_READ_BUFFER_BYTES`].
pub fn buffered(stream: TcpStream) -> TcpStream<Preallocated> {
    stream.buffered_with(Preallocated::new(CONNECTION_READ_BUFFER_BYTES))
}

impl<S: AsyncBufRead + Unpin> hyper::rt::Read for HyperStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut cursor: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let inner = Pin::new(&mut self.inner);
        let available = match inner.poll_fill_buf(cx) {
            Poll::Ready(Ok(bytes)) => bytes,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => return Poll::Pending,
        };
        let copied = available.len().min(cursor.remaining());
        cursor.put_slice(&available[..copied]);
        Pin::new(&mut self.inner).consume(copied);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> hyper::rt::Write for HyperStream<S> {
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

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
