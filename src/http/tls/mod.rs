//! tls/: "is this connection encrypted, and who is the client?"
//!
//! HTTPS on the API port with rustls (TLS 1.2 and 1.3, the `ring` provider; see `load`),
//! optional client certificates (mTLS) verified against `tls.client_ca_file`, and a reload
//! of the certificate files on SIGHUP.
//!
//! A connection's life: accept → peek at its first byte (a TLS handshake record starts with
//! 0x16; anything that looks like an HTTP request line gets a plain-text 400 `tls_required`
//! and is closed, so a client that forgot `https://` learns why instead of seeing a reset)
//! → handshake → hyper over the TLS stream through `io::HyperStream`. Peek and handshake
//! race one glommio timer (`tls.handshake_timeout`), so a client that opens TCP and sends
//! nothing, or stops halfway through the handshake, is cut off and frees its task.
//!
//! Each shard holds the current `ServerConfig` in a [`ShardTls`] (an `Arc` swapped in a
//! `RefCell`, never borrowed across an await). A new handshake takes a clone of the `Arc`;
//! a reload swaps it, so new handshakes use the new certificate while connections already
//! established keep their session untouched. The reload itself is read once on the main
//! thread ([`reload::TlsReloader`]) and sent to every shard over a bounded flume channel.

mod identity;
mod load;
pub mod reload;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::io::{AsyncBufReadExt, AsyncWriteExt};
use futures_rustls::server::TlsStream;
use futures_rustls::TlsAcceptor;
use glommio::net::TcpStream;
use rustls::ServerConfig;

pub use identity::{subject_common_name, ClientIdentity};
pub use load::{crypto_provider, load_server_config, LoadedTls, TlsLoadError};

use super::auth::RemoteAddr;
use super::connection;
use super::read_buffer::ReadBuffer;
use crate::config::ClientRole;
use crate::shard::ShardContext;

/// The first byte of every TLS connection: a record of content type `handshake`.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The TLS session a request came on, inserted into every request of an HTTPS connection
/// (`request.extensions().get::<TlsSession>()`); absent on plain HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSession {
    /// `"TLSv1_3"` or `"TLSv1_2"`.
    pub protocol_version: &'static str,
    /// The negotiated cipher suite's IANA name, e.g. `"TLS13_AES_256_GCM_SHA384"`.
    pub cipher_suite: &'static str,
}

/// One shard's TLS state: the current server configuration and what every handshake needs.
pub struct ShardTls {
    current: RefCell<Arc<ServerConfig>>,
    client_roles: Arc<BTreeMap<String, ClientRole>>,
    handshake_timeout: Duration,
}

impl ShardTls {
    /// The shard's TLS state from its start-up share, with a task that applies reloads.
    pub fn start(shard_id: u32, boot: reload::ShardTlsBoot) -> Rc<ShardTls> {
        let tls = Rc::new(ShardTls {
            current: RefCell::new(boot.initial),
            client_roles: boot.client_roles,
            handshake_timeout: boot.handshake_timeout,
        });
        glommio::spawn_local(reload::apply_reloads(shard_id, tls.clone(), boot.reloads)).detach();
        tls
    }

    fn current(&self) -> Arc<ServerConfig> {
        self.current.borrow().clone()
    }

    fn replace(&self, config: Arc<ServerConfig>) {
        *self.current.borrow_mut() = config;
    }
}

/// What the first bytes and the handshake of a connection came to.
enum Opened {
    Tls(Box<TlsStream<ReadBuffer<TcpStream>>>),
    /// The client spoke plain HTTP; it was told to use https:// and the connection is done.
    PlainHttpRefused,
    /// The client closed before sending anything.
    Closed,
}

/// Serves one accepted connection over TLS until it closes.
pub async fn serve_connection(
    ctx: Rc<ShardContext>,
    tls: Rc<ShardTls>,
    stream: TcpStream,
    remote: Option<RemoteAddr>,
) {
    let peer = stream.peer_addr().ok();
    let timeout = tls.handshake_timeout;
    let opening = open(ReadBuffer::new(stream), tls.current());
    let timed_out = async {
        glommio::timer::sleep(timeout).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no TLS handshake within {} s", timeout.as_secs()),
        ))
    };
    let stream = match futures_lite::future::or(opening, timed_out).await {
        Ok(Opened::Tls(stream)) => stream,
        Ok(Opened::PlainHttpRefused) => {
            tracing::debug!(
                ?peer,
                "plain HTTP on the TLS port; answered 400 tls_required"
            );
            return;
        }
        Ok(Opened::Closed) => return,
        Err(error) => {
            ctx.count(|c| c.http_errors += 1);
            tracing::debug!(?peer, %error, "TLS handshake failed");
            return;
        }
    };
    let (session, identity) = describe(&stream, &tls.client_roles);
    // Decrypted bytes go through `io::HyperStream`'s own receive buffer
    // (`read_buffer`), which is freed between requests like a plain one's.
    let plaintext = *stream;
    // A verified client certificate mapped to a role (`tls.client_roles`)
    // authenticates the connection's requests as a key with that role, on
    // every partition (`http::auth` accepts a `Principal` set here).
    let principal = identity.as_ref().and_then(certificate_principal);
    let tag = move |extensions: &mut hyper::http::Extensions| {
        extensions.insert(session.clone());
        if let Some(identity) = &identity {
            extensions.insert(identity.clone());
        }
        if let Some(principal) = &principal {
            extensions.insert(principal.clone());
        }
    };
    connection::serve_stream(ctx, plaintext, remote, tag).await;
}

/// The caller a client certificate with a role stands for; its id in audit
/// lines is `cert:` and the certificate's CN, or its fingerprint.
fn certificate_principal(identity: &ClientIdentity) -> Option<crate::auth::Principal> {
    use crate::auth::Role;
    let role = match identity.role? {
        ClientRole::Ingest => Role::Ingest,
        ClientRole::Query => Role::Query,
        ClientRole::Admin => Role::Admin,
    };
    let name = identity
        .subject_cn
        .clone()
        .unwrap_or_else(|| format!("sha256:{}", identity.sha256_fingerprint));
    Some(crate::auth::Principal {
        key_id: format!("cert:{name}").into(),
        role,
        partitions: Vec::new().into(),
        quota: None,
    })
}

/// Peeks at the first byte, then runs the handshake.
async fn open(mut stream: ReadBuffer<TcpStream>, config: Arc<ServerConfig>) -> io::Result<Opened> {
    let first = stream.fill_buf().await?.first().copied();
    match first {
        None => return Ok(Opened::Closed),
        Some(TLS_HANDSHAKE_RECORD) => {}
        Some(byte) if byte.is_ascii_uppercase() => {
            refuse_plain_http(&mut stream).await?;
            return Ok(Opened::PlainHttpRefused);
        }
        Some(byte) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the first byte 0x{byte:02x} starts neither TLS nor HTTP"),
            ))
        }
    }
    let stream = TlsAcceptor::from(config).accept(stream).await?;
    Ok(Opened::Tls(Box::new(stream)))
}

/// Answers a plain HTTP request on the TLS port with a 400 in the usual error shape, in
/// clear text (the client cannot read anything else), and closes.
async fn refuse_plain_http(stream: &mut ReadBuffer<TcpStream>) -> io::Result<()> {
    let body = serde_json::json!({ "error": {
        "code": "tls_required",
        "message": "this port serves HTTPS only: send the request with https:// (TLS), not http://",
    }})
    .to_string();
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    stream.close().await
}

/// The session's version and suite, and the client's identity when it sent a certificate
/// (which the handshake has verified by now).
fn describe(
    stream: &TlsStream<ReadBuffer<TcpStream>>,
    roles: &BTreeMap<String, ClientRole>,
) -> (TlsSession, Option<ClientIdentity>) {
    let connection = stream.get_ref().1;
    let session = TlsSession {
        protocol_version: connection
            .protocol_version()
            .and_then(|version| version.as_str())
            .unwrap_or("unknown"),
        cipher_suite: connection
            .negotiated_cipher_suite()
            .and_then(|suite| suite.suite().as_str())
            .unwrap_or("unknown"),
    };
    let identity = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| ClientIdentity::from_certificate(leaf.as_ref(), roles));
    (session, identity)
}
