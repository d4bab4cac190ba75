//! Reading `[tls]`'s PEM files into a rustls `ServerConfig`, at start-up and on SIGHUP.
//!
//! Every failure names the file, the key that named it and what is wrong with it, in words
//! an operator can act on. No message ever contains file contents: the PEM parser's own
//! errors can quote a line of the file, so they are translated here rather than passed on
//! (a private key file's lines are key material).
//!
//! Crypto provider: `ring`. aws-lc-rs (rustls's default) needs cmake and builds a large C
//! library; on a 2-core CI machine that is minutes of compile time for the same TLS 1.2 and
//! 1.3 cipher suites (AES-GCM and ChaCha20-Poly1305 with ECDHE over X25519 and P-256/P-384).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{ClientAuth, TlsConfig};

/// Largest PEM file read: real chains and keys are a few KiB; the file is held in memory.
pub const PEM_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Why the TLS files cannot be used. Display is one sentence naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsLoadError {
    #[error("{key} {}: cannot read it: {error}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{key} {}: {reason}", path.display())]
    Content {
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("tls.key_file {} does not belong to the certificate in tls.cert_file {}: {reason}", key_path.display(), cert_path.display())]
    Mismatch {
        key_path: PathBuf,
        cert_path: PathBuf,
        reason: String,
    },
}

/// A server configuration read from `[tls]`'s files, with what the log says about it.
pub struct LoadedTls {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the served leaf certificate, 64 lower-case hex digits (public, and what
    /// `openssl s_client ... | openssl x509 -noout -fingerprint -sha256` shows a client).
    pub leaf_sha256: String,
}

/// The rustls provider every TLS object of the server uses.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the files `tls` names and builds the server side of TLS 1.2 and 1.3, with client
/// certificate verification when `client_auth` asks for it.
///
/// Precondition: `tls` passed config validation and TLS is on.
pub fn load_server_config(tls: &TlsConfig) -> Result<LoadedTls, TlsLoadError> {
    let (Some(cert_path), Some(key_path)) = (&tls.cert_file, &tls.key_file) else {
        unreachable!("validation requires tls.cert_file and tls.key_file together");
    };
    let certs = read_certificates("tls.cert_file", cert_path)?;
    let leaf_sha256 = super::identity::sha256_hex(certs[0].as_ref());
    let key = read_private_key(key_path)?;
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3");
    let builder = match (tls.client_auth, &tls.client_ca_file) {
        (ClientAuth::Off, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(ca_path)) => {
            let roots = read_client_roots(ca_path)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = match auth {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier.build().map_err(|error| TlsLoadError::Content {
                key: "tls.client_ca_file",
                path: ca_path.clone(),
                reason: format!("cannot verify client certificates with it: {error}"),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|error| key_error(cert_path, key_path, error))?;
    // HTTP/1.1 only: hyper serves http1 on this port.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(LoadedTls {
        config: Arc::new(config),
        leaf_sha256,
    })
}

/// The certificates of a PEM file, in order; at least one.
fn read_certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsLoadError> {
    let bytes = read_pem_file(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_error(key, path, &error))?;
    if certs.is_empty() {
        return Err(TlsLoadError::Content {
            key,
            path: path.to_path_buf(),
            reason: "no certificate in it (expected PEM blocks \"-----BEGIN CERTIFICATE-----\")"
                .to_string(),
        });
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsLoadError> {
    let key = "tls.key_file";
    let bytes = read_pem_file(key, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsLoadError::Content {
            key,
            path: path.to_path_buf(),
            reason: "no private key in it (expected a PEM block \"-----BEGIN PRIVATE KEY-----\", \"-----BEGIN RSA PRIVATE KEY-----\" or \"-----BEGIN EC PRIVATE KEY-----\")".to_string(),
        },
        other => pem_error(key, path, &other),
    })
}

fn read_client_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsLoadError> {
    let key = "tls.client_ca_file";
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(key, path)? {
        roots.add(cert).map_err(|error| TlsLoadError::Content {
            key,
            path: path.to_path_buf(),
            reason: format!("a certificate in it is not a usable CA certificate: {error}"),
        })?;
    }
    Ok(Arc::new(roots))
}

fn read_pem_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsLoadError> {
    let read_error = |error| TlsLoadError::Read {
        key,
        path: path.to_path_buf(),
        error,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > PEM_FILE_BYTES_MAX {
        let message = format!("it is {size} bytes, more than {PEM_FILE_BYTES_MAX}");
        return Err(read_error(std::io::Error::other(message)));
    }
    std::fs::read(path).map_err(read_error)
}

/// A PEM syntax error in words that quote nothing from the file.
fn pem_error(key: &'static str, path: &Path, error: &pem::Error) -> TlsLoadError {
    let reason = match error {
        pem::Error::MissingSectionEnd { .. } => {
            "not valid PEM: a \"-----BEGIN\" block has no matching \"-----END\" line"
        }
        pem::Error::IllegalSectionStart { .. } => {
            "not valid PEM: a \"-----BEGIN\" line is malformed"
        }
        pem::Error::Base64Decode(_) => "not valid PEM: a block's base64 text does not decode",
        pem::Error::SectionTooLarge => "not valid PEM: a block is too large",
        pem::Error::NoItemsFound => "not valid PEM: no block of the expected kind in it",
        _ => "not valid PEM",
    };
    TlsLoadError::Content {
        key,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A certificate and key that rustls refused together. rustls's messages name the problem
/// (unsupported key type, mismatch) without key bytes.
fn key_error(cert_path: &Path, key_path: &Path, error: rustls::Error) -> TlsLoadError {
    match error {
        rustls::Error::InconsistentKeys(_) => TlsLoadError::Mismatch {
            key_path: key_path.to_path_buf(),
            cert_path: cert_path.to_path_buf(),
            reason: "the key's public half is not the certificate's public key".to_string(),
        },
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            TlsLoadError::Content {
                key: "tls.cert_file",
                path: cert_path.to_path_buf(),
                reason: format!("the first certificate cannot be used: {error}"),
            }
        }
        other => TlsLoadError::Content {
            key: "tls.key_file",
            path: key_path.to_path_buf(),
            reason: format!("the private key cannot be used: {other}"),
        },
    }
}
