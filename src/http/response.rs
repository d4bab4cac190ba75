//! Building responses.
//!
//! Every response body is a `ResponseBody`: whole bytes (with a
//! Content-Length), or a stream of chunks fed by a task over a bounded
//! channel (sent chunked). Dropping a streamed body, as hyper does when the
//! client disconnects, drops the channel's receiver, and the feeding task
//! sees its next send fail.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::Stream;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

pub type HttpResponse = Response<ResponseBody>;

pub enum ResponseBody {
    /// The whole body, taken by the first poll.
    Full(Option<Bytes>),
    /// Chunks as a task produces them; ends when the task drops its sender.
    Stream(flume::r#async::RecvStream<'static, Bytes>),
    /// A body that holds something until hyper drops it: when it has been
    /// sent, or the client went away (a key's query permit, `http::quota`).
    Holding(Box<ResponseBody>, Box<dyn Send>),
}

impl ResponseBody {
    fn full(bytes: Bytes) -> ResponseBody {
        ResponseBody::Full(Some(bytes).filter(|bytes| !bytes.is_empty()))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Stream(chunks) => Pin::new(chunks)
                .poll_next(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
            ResponseBody::Holding(inner, _) => Pin::new(inner.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Holding(inner, _) => inner.is_end_stream(),
            other => matches!(other, ResponseBody::Full(None)),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ResponseBody::Stream(_) => SizeHint::default(),
            ResponseBody::Holding(inner, _) => inner.size_hint(),
        }
    }
}

pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(ResponseBody::full(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub fn json(status: StatusCode, value: &impl serde::Serialize) -> HttpResponse {
    json_bytes(
        status,
        serde_json::to_vec(value).expect("response serialises"),
    )
}

pub fn text(status: StatusCode, content_type: &'static str, body: String) -> HttpResponse {
    let mut response = Response::new(ResponseBody::full(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `response` with its body holding `held` until hyper drops the body.
pub fn holding(response: HttpResponse, held: Box<dyn Send>) -> HttpResponse {
    response.map(|body| ResponseBody::Holding(Box::new(body), held))
}

/// A 200 whose body is whatever arrives on `chunks`, sent chunked.
pub fn streamed(content_type: &'static str, chunks: flume::Receiver<Bytes>) -> HttpResponse {
    let mut response = Response::new(ResponseBody::Stream(chunks.into_stream()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
