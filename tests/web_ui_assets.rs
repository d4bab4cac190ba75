//! The web UI's static files, served by the real binary: `/` to a browser
//! (and the Elasticsearch handshake to everyone else), every file the page
//! loads with its content type, a strong ETag, `304` on `If-None-Match`,
//! the Content-Security-Policy, no key needed with auth on, and a missing
//! file answered `404` in the usual JSON error shape.

mod common;

use common::auth::{request_with, start_with_auth, with_key};
use common::{Response, Server};

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn get_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    request_with(&server.addr, "GET", path, headers, None, b"")
}

/// Every `/ui/...` path the page names in `src="..."` or `href="..."`.
fn assets_of(page: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in page.split(attribute).skip(1) {
            let path = piece.split('"').next().unwrap_or_default();
            if path.starts_with("/ui/") {
                paths.push(path.to_string());
            }
        }
    }
    paths
}

fn expected_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => panic!("unexpected asset {path}"),
    }
}

fn assert_ui_headers(response: &Response, path: &str) {
    let csp = response.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("default-src 'self'"), "{path}: CSP {csp:?}");
    assert!(csp.contains("script-src 'self'"), "{path}: CSP {csp:?}");
    assert!(!csp.contains("unsafe-inline"), "{path}: CSP {csp:?}");
    assert_eq!(response.header("cache-control"), Some("no-cache"), "{path}");
    assert_eq!(
        response.header("x-content-type-options"),
        Some("nosniff"),
        "{path}"
    );
    let etag = response.header("etag").unwrap_or("");
    let hex = etag.trim_matches('"');
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/") && hex.len() == 16,
        "{path}: a strong ETag, got {etag:?}"
    );
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{path}: {etag}");
}

/// `path` answers 200 with `content_type`, and 304 (no body, same ETag)
/// when asked again with its ETag; a stale ETag gets the file again.
fn check_cached_file(server: &Server, path: &str, headers: &[(&str, &str)], content_type: &str) {
    let response = get_with(server, path, headers);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some(content_type),
        "{path}"
    );
    assert!(!response.body.is_empty(), "{path}");
    assert_ui_headers(&response, path);
    let etag = response.header("etag").expect("etag").to_string();

    let mut again: Vec<(&str, &str)> = headers.to_vec();
    again.push(("If-None-Match", &etag));
    let cached = get_with(server, path, &again);
    assert_eq!(cached.status, 304, "{path}: {}", cached.text());
    assert!(cached.body.is_empty(), "{path}: a 304 has no body");
    assert_eq!(cached.header("etag"), Some(etag.as_str()), "{path}");

    let list = format!("\"0000000000000000\", W/{etag}");
    let mut weak: Vec<(&str, &str)> = headers.to_vec();
    weak.push(("If-None-Match", &list));
    assert_eq!(get_with(server, path, &weak).status, 304, "{path}: a list");

    let mut stale: Vec<(&str, &str)> = headers.to_vec();
    stale.push(("If-None-Match", "\"0000000000000000\""));
    let fresh = get_with(server, path, &stale);
    assert_eq!(fresh.status, 200, "{path}");
    assert_eq!(fresh.body, response.body, "{path}");
}

/// The page at `/` (for a browser) and `/ui/`, and every file it loads.
fn check_ui(server: &Server) {
    let page = get_with(server, "/", &[("Accept", BROWSER_ACCEPT)]);
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    // No inline script: every <script> loads a file (the CSP forbids the rest).
    for piece in html.split("<script").skip(1) {
        assert!(piece.trim_start().starts_with("src=\"/ui/"), "{piece}");
    }
    check_cached_file(
        server,
        "/",
        &[("Accept", BROWSER_ACCEPT)],
        "text/html; charset=utf-8",
    );
    let slash_ui = get_with(server, "/ui/", &[]);
    assert_eq!(slash_ui.status, 200);
    assert_eq!(slash_ui.body, page.body);

    let assets = assets_of(&html);
    for name in ["/ui/app.js", "/ui/app.css", "/ui/favicon.svg"] {
        assert!(
            assets.iter().any(|path| path == name),
            "{name} in {assets:?}"
        );
    }
    for path in &assets {
        check_cached_file(server, path, &[], expected_type(path));
    }
}

fn check_missing_file(server: &Server) {
    let missing = get_with(server, "/ui/nope.js", &[]);
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert_eq!(missing.header("content-type"), Some("application/json"));
    assert_eq!(missing.error_code(), "ui_asset_not_found");
    assert!(missing.error_message().contains("/ui/nope.js"));
}

#[test]
fn the_ui_is_served_with_etags_and_a_content_security_policy() {
    let server = Server::start();
    check_ui(&server);
    check_missing_file(&server);

    let posted = server.request("POST", "/ui/app.js", Some("text/plain"), b"x");
    assert_eq!(posted.status, 405, "{}", posted.text());
    assert_eq!(posted.header("allow"), Some("GET"));
    assert_eq!(posted.error_code(), "method_not_allowed");

    // A client that does not ask for HTML (a shipper's handshake) still
    // gets Elasticsearch's answer at `/`.
    let handshake = get_with(&server, "/", &[("Accept", "application/json")]);
    assert_eq!(handshake.status, 200, "{}", handshake.text());
    assert_eq!(handshake.json()["tagline"], "You Know, for Search");
    assert_eq!(server.get("/").json()["tagline"], "You Know, for Search");
}

#[test]
fn with_auth_on_the_ui_needs_no_key_but_the_api_does() {
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("data");
    let (server, admin) = start_with_auth(&data_dir, 1, &[]);
    check_ui(&server);
    check_missing_file(&server);

    // The data stays behind the key.
    for path in ["/api/v1/partitions", "/api/v1/query?q=x", "/metrics"] {
        let response = get_with(&server, path, &[("Accept", BROWSER_ACCEPT)]);
        assert_eq!(response.status, 401, "{path}: {}", response.text());
        assert_eq!(response.error_code(), "unauthorized");
    }
    let handshake = server.get("/");
    assert_eq!(handshake.status, 401, "{}", handshake.text());
    let listed = with_key(&server, &admin, "GET", "/api/v1/partitions", None, b"");
    assert_eq!(listed.status, 200, "{}", listed.text());
}
