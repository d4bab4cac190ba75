//! Reloading the certificate on SIGHUP: read the files once on the main thread, hand the new
//! `ServerConfig` to every shard, and say in the log whether it worked.
//!
//! A reload that cannot read or use the files changes nothing: every shard keeps the
//! configuration it had, and the log says why (the same sentence start-up would have
//! refused with). A reload never touches established connections; only handshakes that
//! start after a shard has applied it see the new certificate.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::load::{load_server_config, TlsLoadError};
use super::ShardTls;
use crate::config::{ClientRole, TlsConfig};

/// Reloads queued per shard. A shard applies one in microseconds; a full queue means the
/// shard is stuck, and the reloader then waits at most [`RELOAD_SEND_TIMEOUT`].
pub const RELOAD_QUEUE_MAX: usize = 4;
/// Longest the reloader waits for one shard to take a reload, and for all to apply it.
pub const RELOAD_SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A new server configuration for a shard, and where to say it was applied.
pub struct Reload {
    config: Arc<ServerConfig>,
    applied: flume::Sender<u32>,
}

/// What one shard starts its TLS with (sent into the shard's executor at start-up).
pub struct ShardTlsBoot {
    pub(super) initial: Arc<ServerConfig>,
    pub(super) client_roles: Arc<BTreeMap<String, ClientRole>>,
    pub(super) handshake_timeout: Duration,
    pub(super) reloads: flume::Receiver<Reload>,
}

/// The main thread's handle: re-reads `[tls]`'s files and sends the result to every shard.
pub struct TlsReloader {
    tls: TlsConfig,
    shards: Vec<flume::Sender<Reload>>,
}

impl TlsReloader {
    /// Reads the files for the first time; an error refuses start-up. Returns the reloader
    /// and one start-up share per shard.
    pub fn start(
        tls: &TlsConfig,
        shard_count: usize,
    ) -> Result<(TlsReloader, Vec<ShardTlsBoot>), TlsLoadError> {
        let loaded = load_server_config(tls)?;
        tracing::info!(
            cert_file = %path_shown(&tls.cert_file),
            certificate_sha256 = %loaded.leaf_sha256,
            client_auth = tls.client_auth.as_str(),
            "tls: serving HTTPS (TLS 1.2 and 1.3)"
        );
        let initial = loaded.config;
        let client_roles = Arc::new(tls.client_roles.clone());
        let (shards, boots) = (0..shard_count)
            .map(|_| {
                let (sender, reloads) = flume::bounded(RELOAD_QUEUE_MAX);
                let boot = ShardTlsBoot {
                    initial: initial.clone(),
                    client_roles: client_roles.clone(),
                    handshake_timeout: tls.handshake_timeout,
                    reloads,
                };
                (sender, boot)
            })
            .unzip();
        let reloader = TlsReloader {
            tls: tls.clone(),
            shards,
        };
        Ok((reloader, boots))
    }

    /// Re-reads the files and swaps every shard's configuration; logs the outcome. Runs on
    /// the signal thread, so it may block (bounded by [`RELOAD_SEND_TIMEOUT`]).
    pub fn reload(&self) {
        let loaded = match load_server_config(&self.tls) {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(
                    reason = %error,
                    "tls: reload on SIGHUP failed; every shard keeps the certificate it had"
                );
                return;
            }
        };
        let (applied, confirmations) = flume::bounded(self.shards.len());
        let mut sent = 0;
        for (shard_id, shard) in self.shards.iter().enumerate() {
            let reload = Reload {
                config: loaded.config.clone(),
                applied: applied.clone(),
            };
            match shard.send_timeout(reload, RELOAD_SEND_TIMEOUT) {
                Ok(()) => sent += 1,
                Err(_) => tracing::error!(
                    shard_id,
                    "tls: shard did not take the reloaded certificate; it keeps the one it had"
                ),
            }
        }
        let confirmed = (0..sent)
            .take_while(|_| confirmations.recv_timeout(RELOAD_SEND_TIMEOUT).is_ok())
            .count();
        if confirmed == self.shards.len() {
            tracing::info!(
                cert_file = %path_shown(&self.tls.cert_file),
                certificate_sha256 = %loaded.leaf_sha256,
                shards = confirmed,
                "tls: certificate reloaded on every shard; new connections use it"
            );
        } else {
            tracing::error!(
                confirmed,
                shards = self.shards.len(),
                "tls: certificate reloaded on only some shards"
            );
        }
    }
}

/// A shard's task: applies each reload as it arrives, until the reloader is gone.
pub(super) async fn apply_reloads(
    shard_id: u32,
    tls: Rc<ShardTls>,
    reloads: flume::Receiver<Reload>,
) {
    while let Ok(reload) = reloads.recv_async().await {
        tls.replace(reload.config);
        let _ = reload.applied.send(shard_id);
    }
}

fn path_shown(path: &Option<std::path::PathBuf>) -> std::path::Display<'_> {
    path.as_deref().unwrap_or("".as_ref()).display()
}
