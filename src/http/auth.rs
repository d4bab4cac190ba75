//! Authentication and authorisation of HTTP requests.
//!
//! With `auth.enabled`, every request but `GET /health`, the web UI's
//! static files (`handlers::ui`: they hold no data) and `/metrics` and
//! `/ready` when `auth.public_metrics` must carry an API key, in any of
//! the forms shippers offer:
//!
//! - `Authorization: Bearer <key>`
//! - `Authorization: ApiKey <key>` (Elastic's form; a base64 `id:key` pair
//!   is not accepted, the key is the whole token)
//! - `Authorization: Basic base64(<any user>:<key>)`
//!
//! No key, a malformed key, an unknown id or a wrong secret: `401` with
//! `WWW-Authenticate`, one message for all of them (it never echoes the
//! key). A valid key whose role or partitions do not cover the request:
//! `403`. The router decides the role a route needs
//! ([`Need`], `http::router`); handlers whose partition comes from the body
//! or a header check it through [`Access`], which the router puts in the
//! request's extensions.
//!
//! **The mTLS hook.** A layer below the router (client certificates) may
//! insert a [`Principal`] into the request's extensions before the router
//! runs; with auth on, the router then accepts it as the caller without an
//! `Authorization` header. Only trusted code can insert extensions: a
//! client cannot.

use hyper::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::StatusCode;

use super::error::{ApiError, ErrorKind};
use super::response::{json_bytes, HttpResponse};
use crate::auth::audit::{AuditEvent, EventKind};
use crate::auth::grant::{partition_allowed, Role};
use crate::auth::key;
use crate::auth::keyring::KeyRing;
use crate::shard::ShardContext;

pub use crate::auth::Principal;

/// The remote address of the connection a request came on (an extension
/// the connection loop inserts).
#[derive(Clone, Copy, Debug)]
pub struct RemoteAddr(pub std::net::SocketAddr);

/// What a request may do, as the router established it.
#[derive(Clone, Debug)]
pub enum Access {
    /// Auth is off: everything.
    Open,
    /// A verified key.
    Key(Principal),
    /// No access was established (a handler reached without the router):
    /// nothing. Never expected; fails closed.
    Nobody,
}

/// What a route needs, before its handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing (`/health`).
    Nothing,
    /// A valid key of any role (`/metrics` and `/ready` unless public,
    /// handshakes).
    AnyKey,
    /// A key of this role (admin covers every role).
    Role(Role),
}

impl Access {
    pub fn of<B>(request: &hyper::Request<B>) -> Access {
        request
            .extensions()
            .get::<Access>()
            .cloned()
            .unwrap_or(Access::Nobody)
    }

    pub fn key_id(&self) -> Option<&str> {
        match self {
            Access::Key(principal) => Some(&principal.key_id),
            _ => None,
        }
    }

    /// `403` unless the caller's role covers `role`.
    pub fn require_role(&self, role: Role) -> Result<(), ApiError> {
        match self {
            Access::Open => Ok(()),
            Access::Key(principal) if principal.role.covers(role) => Ok(()),
            Access::Key(principal) => Err(forbidden(format!(
                "key {} has the role {}; this request needs a key with the role {} (or admin)",
                principal.key_id,
                principal.role.as_str(),
                role.as_str()
            ))),
            Access::Nobody => Err(forbidden("no access was established for this request")),
        }
    }

    /// Whether the caller may touch the partition called `name`.
    pub fn allows_partition(&self, name: &str) -> bool {
        match self {
            Access::Open => true,
            Access::Key(principal) => partition_allowed(&principal.partitions, name),
            Access::Nobody => false,
        }
    }

    /// `403` unless the caller has `role` on the partition called `name`.
    pub fn require_partition(&self, role: Role, name: &str) -> Result<(), ApiError> {
        self.require_role(role)?;
        if self.allows_partition(name) {
            return Ok(());
        }
        let key_id = self.key_id().unwrap_or("-");
        Err(forbidden(format!(
            "key {key_id} may not use partition {name:?}; its partitions are set when the key is created"
        )))
    }

    /// As [`Access::require_partition`] for a partition addressed by id or
    /// name: allowed when the text itself or the partition it names is
    /// covered. Anything else is `403`, whether or not such a partition
    /// exists, so a key cannot probe names outside its grant.
    pub fn require_addressed(
        &self,
        role: Role,
        id_or_name: &str,
        name_of: impl FnOnce(&str) -> Option<String>,
    ) -> Result<(), ApiError> {
        self.require_role(role)?;
        if self.allows_partition(id_or_name) {
            return Ok(());
        }
        if name_of(id_or_name).is_some_and(|name| self.allows_partition(&name)) {
            return Ok(());
        }
        self.require_partition(role, id_or_name)
    }
}

impl Access {
    /// Whether the caller may read every partition, also those created
    /// later (auth off, or a key without a partition list).
    pub fn sees_every_partition(&self) -> bool {
        match self {
            Access::Open => true,
            Access::Key(principal) => principal.partitions.is_empty(),
            Access::Nobody => false,
        }
    }

    /// Fits a compiled query to the caller: a query key is needed; named
    /// partitions must all be granted (`403` naming the first that is not);
    /// "every partition" becomes every partition the key may read.
    pub fn restrict_plan(&self, plan: &mut crate::query::QueryPlan) -> Result<(), ApiError> {
        self.require_role(Role::Query)?;
        if self.sees_every_partition() {
            return Ok(());
        }
        if plan.partitions_named {
            for meta in &plan.partitions {
                self.require_partition(Role::Query, &meta.name)?;
            }
            return Ok(());
        }
        plan.partitions
            .retain(|meta| self.allows_partition(&meta.name));
        Ok(())
    }
}

pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Forbidden, "forbidden", message)
}

/// Why a request could not be authenticated; one answer for every reason
/// (the reason goes only to the audit log and the counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoKey,
    Malformed,
    Invalid,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoKey => "no_key",
            Refusal::Malformed => "malformed_key",
            Refusal::Invalid => "invalid_key",
        }
    }
}

/// The caller of `headers`: a verified key, or why not. `claimed` is set
/// to the id a well-formed key claims (for the audit log).
pub fn authenticate(
    ring: &KeyRing,
    headers: &hyper::HeaderMap,
    claimed: &mut Option<String>,
) -> Result<Principal, Refusal> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(Refusal::NoKey);
    };
    let Some(text) = credential_of(value) else {
        return Err(Refusal::Malformed);
    };
    let Some(presented) = key::parse(text.as_str()) else {
        return Err(Refusal::Malformed);
    };
    let principal = ring.verify(&presented);
    if principal.is_none() {
        *claimed = Some(presented.id.to_string());
    }
    principal.ok_or(Refusal::Invalid)
}

/// The key in an `Authorization` value of the `Bearer`, `ApiKey` or
/// `Basic` scheme (scheme names are case-insensitive).
fn credential_of(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey") {
        return Some(token.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64_decode(token)?;
        let text = String::from_utf8(decoded).ok()?;
        let (_user, password) = text.split_once(':')?;
        return Some(password.to_string());
    }
    None
}

/// Standard base64 with padding (what basic auth sends); `None` when not.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |byte: u8| -> Option<u32> {
        Some(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    // A key of 81 bytes with a short user name fits easily; far longer is not a key.
    if bytes.len() > 1024 || text.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut accumulator = 0u32;
        for (index, &byte) in chunk.iter().enumerate() {
            accumulator |= value(byte)? << (18 - 6 * index);
        }
        let produced = chunk.len() * 6 / 8;
        for index in 0..produced {
            out.push((accumulator >> (16 - 8 * index)) as u8);
        }
    }
    Some(out)
}

/// The `401` answer: the usual error body and `WWW-Authenticate`.
pub fn unauthorized_response() -> HttpResponse {
    let body = serde_json::json!({"error": {
        "code": "unauthorized",
        "message": "this request needs a valid API key: send `Authorization: Bearer <key>` (or `ApiKey <key>`, or basic auth with the key as the password); keys are made with POST /api/v1/admin/keys or `timberdb keys create`",
    }});
    let mut response = json_bytes(
        StatusCode::UNAUTHORIZED,
        serde_json::to_vec(&body).expect("json"),
    );
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"timberdb\", Basic realm=\"timberdb\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).expect("header")
    }

    #[test]
    fn every_scheme_yields_the_key() {
        let key = "tdb_0123456789ab_00";
        assert_eq!(
            credential_of(&header(&format!("Bearer {key}"))).as_deref(),
            Some(key)
        );
        assert_eq!(
            credential_of(&header(&format!("apikey {key}"))).as_deref(),
            Some(key)
        );
        // base64("user:tdb_0123456789ab_00")
        let basic = "dXNlcjp0ZGJfMDEyMzQ1Njc4OWFiXzAw";
        assert_eq!(
            credential_of(&header(&format!("Basic {basic}"))).as_deref(),
            Some(key)
        );
        assert_eq!(credential_of(&header("Digest x")), None);
        assert_eq!(credential_of(&header("Basic !!!!")), None);
    }

    #[test]
    fn base64_decodes_every_padding() {
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(base64_decode("YWJ").as_deref(), None);
    }

    #[test]
    fn a_ring_accepts_its_key_and_refuses_the_rest() {
        let ring = KeyRing::empty();
        let spec = crate::auth::KeySpec {
            role: Role::Query,
            partitions: vec!["web-*".into()],
            name: None,
            quota: Default::default(),
        };
        let (record, text) = crate::auth::keyring::mint(&ring, &spec, 0).expect("mint");
        let ring = ring.with(record).expect("add");
        let mut headers = hyper::HeaderMap::new();
        let mut claimed = None;
        assert_eq!(
            authenticate(&ring, &headers, &mut claimed),
            Err(Refusal::NoKey)
        );
        headers.insert(AUTHORIZATION, header(&format!("Bearer {text}")));
        let principal = authenticate(&ring, &headers, &mut claimed).expect("valid");
        assert_eq!(principal.role, Role::Query);
        let access = Access::Key(principal);
        assert!(access.require_partition(Role::Query, "web-1").is_ok());
        assert!(access.require_partition(Role::Query, "db").is_err());
        assert!(access.require_role(Role::Ingest).is_err());
        let wrong = format!("{}0", &text[..text.len() - 1]);
        let wrong = if wrong == text {
            format!("{}1", &text[..text.len() - 1])
        } else {
            wrong
        };
        headers.insert(AUTHORIZATION, header(&format!("Bearer {wrong}")));
        assert_eq!(
            authenticate(&ring, &headers, &mut claimed),
            Err(Refusal::Invalid)
        );
    }
}

/// What the audit log needs of a request, taken before the handler
/// consumes it. Captured only when the audit log is on.
pub struct RequestInfo {
    remote: Option<std::net::SocketAddr>,
    method: hyper::Method,
    uri: hyper::Uri,
}

impl RequestInfo {
    pub fn capture<B>(ctx: &ShardContext, request: &hyper::Request<B>) -> Option<RequestInfo> {
        ctx.auth.audit.as_ref()?;
        Some(RequestInfo {
            remote: request
                .extensions()
                .get::<RemoteAddr>()
                .map(|remote| remote.0),
            method: request.method().clone(),
            uri: request.uri().clone(),
        })
    }
}

/// An administrative action a route performs, for the audit log.
#[derive(Clone, Copy, Debug)]
pub struct AdminAction {
    /// `partition.create`, `key.revoke`...
    pub event: &'static str,
    /// Where the target's name or id is: in the path, or in the answer's
    /// JSON under this field (a created partition's `name`).
    pub target: Target,
}

#[derive(Clone, Copy, Debug)]
pub enum Target {
    None,
    /// A path segment, already known.
    Path,
    /// A field of the JSON answer.
    AnswerField(&'static str),
}

/// Checks the caller before routing: `Err` means answer
/// [`unauthorized_response`]. With auth off every request gets [`Access::Open`].
pub fn admit<B>(
    ctx: &ShardContext,
    request: &mut hyper::Request<B>,
    info: Option<&RequestInfo>,
) -> Result<(), Refusal> {
    if !ctx.config.auth.enabled {
        request.extensions_mut().insert(Access::Open);
        return Ok(());
    }
    if is_public(ctx, request.uri().path())
        || super::handlers::ui::classify(request.method(), request.uri().path(), request.headers())
            .is_some()
    {
        return Ok(());
    }
    // The mTLS hook: a principal a lower layer established.
    if let Some(principal) = request.extensions().get::<Principal>().cloned() {
        request.extensions_mut().insert(Access::Key(principal));
        return Ok(());
    }
    let mut claimed = None;
    let result = authenticate(&ctx.auth.ring.borrow(), request.headers(), &mut claimed);
    match result {
        Ok(principal) => {
            request.extensions_mut().insert(Access::Key(principal));
            Ok(())
        }
        Err(refusal) => {
            ctx.count(|c| c.auth_unauthorized += 1);
            if let Some(info) = info {
                let event = failure_event(info, None, claimed, 401, refusal.as_str());
                record(ctx, event);
            }
            Err(refusal)
        }
    }
}

/// Routes that answer without a key even with auth on.
fn is_public(ctx: &ShardContext, path: &str) -> bool {
    match path.trim_end_matches('/') {
        "/health" => true,
        "/ready" | "/metrics" => ctx.config.auth.public_metrics,
        _ => false,
    }
}

/// After the handler: counts and audits a 403, and audits `action`.
pub fn after(
    ctx: &ShardContext,
    info: Option<&RequestInfo>,
    access_key: Option<&str>,
    action: Option<(AdminAction, Option<String>)>,
    response: &HttpResponse,
) {
    let status = response.status().as_u16();
    if status == 403 {
        ctx.count(|c| c.auth_forbidden += 1);
    }
    let Some(info) = info else {
        return;
    };
    if status == 403 {
        record(ctx, failure_event(info, access_key, None, 403, "forbidden"));
    }
    if let Some((action, path_target)) = action {
        let target = match action.target {
            Target::None => None,
            Target::Path => path_target,
            Target::AnswerField(field) => answer_field(response, field),
        };
        record(
            ctx,
            admin_event(info, access_key, action.event, status, target),
        );
    }
}

fn answer_field(response: &HttpResponse, field: &str) -> Option<String> {
    let super::response::ResponseBody::Full(Some(bytes)) = response.body() else {
        return None;
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value.get(field)?.as_str().map(str::to_string)
}

fn base_event(info: &RequestInfo, kind: EventKind, event: &'static str, status: u16) -> AuditEvent {
    AuditEvent {
        kind,
        time_ns: crate::shard::partitions::now_ns(),
        event,
        key_id: None,
        claimed_key_id: None,
        remote: info.remote,
        method: info.method.to_string(),
        route: info.uri.path().to_string(),
        status,
        target: None,
        reason: None,
    }
}

fn failure_event(
    info: &RequestInfo,
    key_id: Option<&str>,
    claimed: Option<String>,
    status: u16,
    reason: &'static str,
) -> AuditEvent {
    let mut event = base_event(info, EventKind::AuthFailure, "auth.failure", status);
    event.key_id = key_id.map(str::to_string);
    event.claimed_key_id = claimed;
    event.reason = Some(reason);
    event
}

fn admin_event(
    info: &RequestInfo,
    key_id: Option<&str>,
    name: &'static str,
    status: u16,
    target: Option<String>,
) -> AuditEvent {
    let mut event = base_event(info, EventKind::Admin, name, status);
    event.key_id = key_id.map(str::to_string);
    event.target = target;
    event
}

fn record(ctx: &ShardContext, event: AuditEvent) {
    if let Some(audit) = &ctx.auth.audit {
        audit.record(event);
    }
}
