//! The web UI: a few static files (`ui/` at the top of the repository)
//! compiled into the binary with `include_bytes!`, served at `/` (to
//! browsers) and under `/ui/`.
//!
//! Why it is shaped this way:
//! - The UI is plain HTML, CSS and JavaScript with no build step, so the
//!   binary is the whole deployment and no CDN is contacted.
//! - The files hold no data: with auth on they are served without a key
//!   (`http::auth` asks [`classify`]), and the UI asks the user for a key
//!   for the API calls it makes.
//! - `GET /` is also the Elasticsearch handshake shippers make. A browser's
//!   navigation always names `text/html` in `Accept`; shippers never do, so
//!   `/` is the UI only for requests that ask for HTML. `/ui/` always is.
//! - Each file's strong `ETag` is a hash of its bytes computed at compile
//!   time; `Cache-Control: no-cache` makes the browser revalidate every
//!   time, so a new binary's UI is picked up at once while an unchanged one
//!   costs a `304`.
//! - Log lines are attacker-controlled: the UI builds its DOM with
//!   `textContent` only, and every answer carries a Content-Security-Policy
//!   that allows only this server's own scripts, styles and API, so even a
//!   mistake there cannot run injected script.

use bytes::Bytes;
use hyper::header::{
    HeaderMap, HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Method, Response, StatusCode};

use crate::http::error::{ApiError, ErrorKind};
use crate::http::response::{HttpResponse, ResponseBody};

/// One embedded file.
pub struct Asset {
    /// The name under `/ui/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// FNV-1a 64 of `bytes`, computed at compile time: the `ETag`.
    pub hash: u64,
}

impl Asset {
    const fn new(name: &'static str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
        Asset {
            name,
            content_type,
            bytes,
            hash: fnv1a64(bytes),
        }
    }

    /// The strong entity tag, quoted as the header carries it.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

/// FNV-1a, 64 bits. Not a cryptographic hash: an `ETag` only has to change
/// when a file does, and a collision between two versions of one file
/// (about 2^-64) would at worst keep a stale file until the next change.
const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut at = 0;
    while at < bytes.len() {
        hash ^= bytes[at] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        at += 1;
    }
    hash
}

const INDEX: &str = "index.html";

/// Every file the UI has; anything else under `/ui/` is a 404.
pub static ASSETS: [Asset; 7] = [
    Asset::new(
        INDEX,
        "text/html; charset=utf-8",
        include_bytes!("../../../ui/index.html"),
    ),
    Asset::new(
        "lang.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../ui/lang.js"),
    ),
    Asset::new(
        "charts.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../ui/charts.js"),
    ),
    Asset::new(
        "node.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../ui/node.js"),
    ),
    Asset::new(
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../ui/app.js"),
    ),
    Asset::new(
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../ui/app.css"),
    ),
    Asset::new(
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../../ui/favicon.svg"),
    ),
];

/// Only this server's own files and API; no inline script or style, no
/// framing (clickjacking), no plugins.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A request for the UI, as [`classify`] sees it.
pub enum UiRequest {
    Asset(&'static Asset),
    /// A path under `/ui/` that names no file.
    Missing,
}

/// Whether the request is for the UI, and for which file. `None` leaves
/// the request to the other routes (and `GET /` to Elasticsearch's
/// handshake unless it asks for HTML).
pub fn classify(method: &Method, path: &str, headers: &HeaderMap) -> Option<UiRequest> {
    let index = || UiRequest::Asset(asset(INDEX).expect("index.html is embedded"));
    if path == "/" {
        let reads = method == Method::GET || method == Method::HEAD;
        return (reads && accepts_html(headers)).then(index);
    }
    if path == "/ui" || path == "/ui/" {
        return Some(index());
    }
    let name = path.strip_prefix("/ui/")?;
    Some(asset(name).map_or(UiRequest::Missing, UiRequest::Asset))
}

fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

/// A browser navigating names `text/html` in `Accept`.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let media = item.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("text/html")
        })
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110
/// 13.1.2: a `W/` prefix is ignored) or is `*`.
pub fn if_none_match_hits(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// The answer to a UI request: the file, a `304`, a `404` for a missing
/// file or a `405` for a method other than GET and HEAD.
pub fn serve(
    ui_request: UiRequest,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<HttpResponse, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        let mut error = ApiError::new(
            ErrorKind::MethodNotAllowed,
            "method_not_allowed",
            format!("{method} is not allowed on {path}; use GET"),
        );
        error.allow = Some("GET");
        return Err(error);
    }
    let UiRequest::Asset(asset) = ui_request else {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            "ui_asset_not_found",
            format!("the web UI has no file {path}; open / or /ui/"),
        ));
    };
    let etag = asset.etag();
    let not_modified = if_none_match_hits(headers, &etag);
    let body = if not_modified {
        ResponseBody::Full(None)
    } else {
        ResponseBody::Full(Some(Bytes::from_static(asset.bytes)))
    };
    let mut response = Response::new(body);
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let response_headers = response.headers_mut();
    if !not_modified {
        response_headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    }
    let etag = HeaderValue::from_str(&etag).expect("hex digits in quotes are a header value");
    response_headers.insert(ETAG, etag);
    response_headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response_headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    response_headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response_headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response_headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn root_is_the_ui_only_for_html() {
        let browser = headers(&[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
        let shipper = headers(&[("accept", "application/json")]);
        assert!(classify(&Method::GET, "/", &browser).is_some());
        assert!(classify(&Method::HEAD, "/", &browser).is_some());
        assert!(classify(&Method::GET, "/", &shipper).is_none());
        assert!(classify(&Method::GET, "/", &HeaderMap::new()).is_none());
        assert!(classify(&Method::POST, "/", &browser).is_none());
        assert!(classify(&Method::GET, "/_bulk", &browser).is_none());
        assert!(matches!(
            classify(&Method::GET, "/ui/", &HeaderMap::new()),
            Some(UiRequest::Asset(asset)) if asset.name == INDEX
        ));
        assert!(matches!(
            classify(&Method::GET, "/ui/nope.js", &HeaderMap::new()),
            Some(UiRequest::Missing)
        ));
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let etag = "\"00000000000000ab\"";
        assert!(if_none_match_hits(
            &headers(&[("if-none-match", "\"x\", W/\"00000000000000ab\"")]),
            etag
        ));
        assert!(if_none_match_hits(
            &headers(&[("if-none-match", "*")]),
            etag
        ));
        assert!(!if_none_match_hits(
            &headers(&[("if-none-match", "\"x\"")]),
            etag
        ));
        assert!(!if_none_match_hits(&HeaderMap::new(), etag));
    }

    #[test]
    fn etags_differ_per_file_and_follow_the_bytes() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a64(b"a"), fnv1a64(b"b"));
        let mut tags: Vec<String> = ASSETS.iter().map(Asset::etag).collect();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }
}
