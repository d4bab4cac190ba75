//! `GET /api/v1/whoami`: what the server knows about the caller's connection: whether it is
//! HTTPS, its TLS version and cipher suite, and the verified client certificate (subject CN,
//! SHA-256 fingerprint, and the role `[tls.client_roles]` gives it). It tells an operator
//! setting up mTLS whether a client's certificate arrives and which role it maps to, and
//! reveals nothing the caller does not already hold.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};

use crate::http::response::{json, HttpResponse};
use crate::http::tls::{ClientIdentity, TlsSession};

pub fn whoami(request: &Request<Incoming>) -> HttpResponse {
    let extensions = request.extensions();
    let session = extensions.get::<TlsSession>();
    let tls = session.map(|session| {
        json!({
            "protocol_version": session.protocol_version,
            "cipher_suite": session.cipher_suite,
        })
    });
    let certificate = extensions.get::<ClientIdentity>().map(certificate_json);
    let body = json!({
        "transport": if session.is_some() { "https" } else { "http" },
        "tls": tls,
        "client_certificate": certificate,
    });
    json(StatusCode::OK, &body)
}

fn certificate_json(identity: &ClientIdentity) -> Value {
    json!({
        "subject_cn": identity.subject_cn,
        "sha256_fingerprint": identity.sha256_fingerprint,
        "role": identity.role.map(|role| role.as_str()),
    })
}
