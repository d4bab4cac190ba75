//! Adapts glommio's TCP stream to hyper 1.x's `rt::Read` / `rt::Write`.
//!
//! Reads go through glommio's buffered stream (`AsyncBufRead`): glommio fills
//! its own preallocated buffer from io_uring and we copy straight into hyper's
//! uninitialised read cursor with `put_slice`. That costs one memcpy and never
//! zero-fills a read buffer (the adapter in glommio's example initialises
//! hyper's buffer on every read, which is a memset of up to the whole buffer).

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

pub struct HyperStream {
    inner: TcpStream<Preallocated>,
}

impl HyperStream {
    pub fn new(stream: TcpStream) -> HyperStream {
        HyperStream {
            inner: stream.buffered_with(Preallocated::new(CONNECTION_READ_BUFFER_BYTES)),
        }
    }
}

impl hyper::rt::Read for HyperStream {
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

impl hyper::rt::Write for HyperStream {
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
