//! Routes. The seed README's routes are primary; the seed code's routes are
//! aliases so both kinds of existing client work. The web UI's files
//! (`handlers::ui`) come first: `/` for a browser, and `/ui/...`. A known path with the
//! wrong method is a 405 with `Allow`; an unknown path a 404.

use std::convert::Infallible;
use std::rc::Rc;

use hyper::body::Incoming;
use hyper::{Method, Request};

use super::auth::{self, Access, AdminAction, Need, RequestInfo, Target};
use super::error::{ApiError, ErrorKind};
use super::handlers::loki_query::{self, Endpoint as Loki};
use super::handlers::{
    elasticsearch, ingest, jsonline, keys, logsql, loki, ops, otlp, partition_settings, partitions,
    query, scrub, snapshots, tail, ui, whoami,
};
use super::response::HttpResponse;
use crate::auth::Role;
use crate::shard::ShardContext;

enum Route<'a> {
    Health,
    Ready,
    Metrics,
    Partitions,
    PartitionCreate,
    Partition(&'a str),
    PartitionLogs(&'a str),
    Query,
    /// OTLP/HTTP logs.
    OtlpLogs,
    /// Loki's push API (and its pre-v1 path).
    LokiPush,
    JsonLine,
    Loki(Loki<'a>),
    LogsqlQuery,
    Snapshots,
    Snapshot(&'a str),
    /// Online scrub: start one, or see the current or last run.
    AdminScrub,
    /// A live tail of matching entries.
    Tail,
    /// API keys: create one, or list them.
    Keys,
    /// One API key: change its quota, or revoke it.
    Key(&'a str),
    /// The caller's connection: TLS session and client certificate.
    Whoami,
}

impl Route<'_> {
    /// The methods this route takes, for `Allow`.
    fn allow(&self) -> &'static str {
        match self {
            Route::Health | Route::Ready | Route::Metrics | Route::Whoami => "GET",
            Route::Partitions => "GET, POST",
            Route::PartitionCreate
            | Route::PartitionLogs(_)
            | Route::OtlpLogs
            | Route::LokiPush
            | Route::JsonLine => "POST",
            Route::Query | Route::AdminScrub | Route::Tail => "GET, POST",
            Route::Partition(_) => "GET, PATCH, DELETE",
            Route::Loki(Loki::BuildInfo) => "GET",
            Route::Loki(_) | Route::LogsqlQuery => "GET, POST",
            Route::Snapshots => "GET, POST",
            Route::Snapshot(_) => "GET, DELETE",
            Route::Keys => "GET, POST",
            Route::Key(_) => "PATCH, DELETE",
        }
    }

    /// The role this route needs with `method` when auth is on
    /// (`http::auth`). Partitions are checked where they are known: here
    /// for a path's partition, in the handlers for a body's or a header's.
    fn need(&self, method: &Method) -> Need {
        let reads = method == Method::GET || method == Method::HEAD;
        match self {
            Route::Health => Need::Nothing,
            // Whoami shows the caller its own connection (TLS session,
            // client certificate): any key may see that.
            Route::Ready | Route::Metrics | Route::Whoami | Route::Loki(Loki::BuildInfo) => {
                Need::AnyKey
            }
            Route::Partitions | Route::Partition(_) if reads => Need::Role(Role::Query),
            Route::Partitions | Route::Partition(_) | Route::PartitionCreate => {
                Need::Role(Role::Admin)
            }
            Route::PartitionLogs(_) | Route::OtlpLogs | Route::LokiPush | Route::JsonLine => {
                Need::Role(Role::Ingest)
            }
            Route::Query | Route::Loki(_) | Route::LogsqlQuery | Route::Tail => {
                Need::Role(Role::Query)
            }
            Route::Snapshots
            | Route::Snapshot(_)
            | Route::AdminScrub
            | Route::Keys
            | Route::Key(_) => Need::Role(Role::Admin),
        }
    }

    /// Whether this route runs a query, which counts against its key's
    /// concurrent-queries quota while its answer is open (tails included).
    fn is_query(&self) -> bool {
        match self {
            Route::Query | Route::LogsqlQuery | Route::Tail => true,
            Route::Loki(endpoint) => !matches!(endpoint, Loki::BuildInfo),
            _ => false,
        }
    }

    /// The administrative action this request performs, for the audit log.
    fn admin_action(&self, method: &Method) -> Option<(AdminAction, Option<String>)> {
        let action = |event, target| Some((AdminAction { event, target }, None));
        let on_path = |event, name: &str| {
            Some((
                AdminAction {
                    event,
                    target: Target::Path,
                },
                Some(name.to_string()),
            ))
        };
        match (method, self) {
            (&Method::POST, Route::Partitions | Route::PartitionCreate) => {
                action("partition.create", Target::AnswerField("name"))
            }
            (&Method::DELETE, Route::Partition(id)) => on_path("partition.delete", id),
            (&Method::PATCH, Route::Partition(id)) => on_path("partition.update", id),
            (&Method::POST, Route::Snapshots) => {
                action("snapshot.create", Target::AnswerField("name"))
            }
            (&Method::DELETE, Route::Snapshot(name)) => on_path("snapshot.delete", name),
            (&Method::POST, Route::AdminScrub) => action("scrub.start", Target::None),
            (&Method::POST, Route::Keys) => action("key.create", Target::AnswerField("id")),
            (&Method::DELETE, Route::Key(id)) => on_path("key.revoke", id),
            (&Method::PATCH, Route::Key(id)) => on_path("key.update", id),
            _ => None,
        }
    }
}

fn match_route(path: &str) -> Option<Route<'_>> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let route = match segments.as_slice() {
        ["health"] => Route::Health,
        ["ready"] => Route::Ready,
        ["metrics"] => Route::Metrics,
        ["api", "v1", "partitions"] => Route::Partitions,
        ["api", "v1", "partitions", "create"] => Route::PartitionCreate,
        ["api", "v1", "partitions", id] => Route::Partition(id),
        ["api", "v1", "partitions", id, "logs"] | ["api", "v1", "logs", id] => {
            Route::PartitionLogs(id)
        }
        ["api", "v1", "query", "execute"] | ["api", "v1", "query"] => Route::Query,
        ["v1", "logs"] => Route::OtlpLogs,
        ["loki", "api", "v1", "push"] | ["api", "prom", "push"] => Route::LokiPush,
        ["insert", "jsonline"] => Route::JsonLine,
        ["loki", "api", "v1", "query_range"] => Route::Loki(Loki::QueryRange),
        ["loki", "api", "v1", "query"] => Route::Loki(Loki::Query),
        ["loki", "api", "v1", "labels" | "label"] => Route::Loki(Loki::Labels),
        ["loki", "api", "v1", "label", name, "values"] => Route::Loki(Loki::LabelValues(name)),
        ["loki", "api", "v1", "series"] => Route::Loki(Loki::Series),
        ["loki", "api", "v1", "status", "buildinfo"] => Route::Loki(Loki::BuildInfo),
        ["select", "logsql", "query"] => Route::LogsqlQuery,
        ["api", "v1", "admin", "snapshots"] => Route::Snapshots,
        ["api", "v1", "admin", "snapshots", name] => Route::Snapshot(name),
        ["api", "v1", "admin", "scrub"] => Route::AdminScrub,
        ["api", "v1", "tail"] => Route::Tail,
        ["api", "v1", "admin", "keys"] => Route::Keys,
        ["api", "v1", "admin", "keys", id] => Route::Key(id),
        ["api", "v1", "whoami"] => Route::Whoami,
        _ => return None,
    };
    Some(route)
}

pub async fn handle(
    ctx: Rc<ShardContext>,
    mut request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let info = RequestInfo::capture(&ctx, &request);
    if auth::admit(&ctx, &mut request, info.as_ref()).is_err() {
        ctx.count(|c| c.http_errors += 1);
        return Ok(auth::unauthorized_response());
    }
    let access = Access::of(&request);
    let mut action = None;
    let response = match route(&ctx, request, &access, &mut action).await {
        Ok(response) => response,
        Err(error) => {
            ctx.count(|c| c.http_errors += 1);
            if error.kind == ErrorKind::Internal {
                tracing::error!(code = error.code, message = %error.message, "request failed");
            }
            error.into_response()
        }
    };
    if ctx.config.auth.enabled || info.is_some() {
        auth::after(&ctx, info.as_ref(), access.key_id(), action, &response);
    }
    Ok(response)
}

async fn route(
    ctx: &Rc<ShardContext>,
    request: Request<Incoming>,
    access: &Access,
    action: &mut Option<(AdminAction, Option<String>)>,
) -> Result<HttpResponse, ApiError> {
    let path = request.uri().path().to_string();
    // The web UI first: `/` for a browser, and everything under `/ui/`.
    if let Some(ui_request) = ui::classify(request.method(), &path, request.headers()) {
        return ui::serve(ui_request, request.method(), &path, request.headers());
    }
    let es_prefix = &ctx.config.elasticsearch.path_prefix;
    if let Some(es_route) = crate::protocol::elasticsearch::match_route(&path, es_prefix) {
        // The handshakes (`GET /`, cluster health, template setup) take any
        // key; `_bulk` an ingest key, and each index is checked in the handler.
        if let crate::protocol::elasticsearch::EsRoute::Bulk(_) = es_route {
            access.require_role(Role::Ingest)?;
        }
        return Ok(elasticsearch::handle(ctx, es_route, request).await);
    }
    let Some(route) = match_route(&path) else {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            "route_not_found",
            format!("no route {path}; see docs/API.md"),
        ));
    };
    let method = request.method().clone();
    match route.need(&method) {
        Need::Nothing | Need::AnyKey => {}
        Need::Role(role) => access.require_role(role)?,
    }
    *action = route.admin_action(&method);
    // Held by the answer's body until it is sent or abandoned.
    let permit = if route.is_query() {
        super::quota::open_query(ctx, access)?
    } else {
        None
    };
    let response = dispatch(ctx, request, access, &route, &method, &path).await?;
    Ok(match permit {
        Some(permit) => super::response::holding(response, Box::new(permit)),
        None => response,
    })
}

/// Runs the handler of `route` (checked and admitted by [`route`]).
async fn dispatch(
    ctx: &Rc<ShardContext>,
    request: Request<Incoming>,
    access: &Access,
    route: &Route<'_>,
    method: &Method,
    path: &str,
) -> Result<HttpResponse, ApiError> {
    // HEAD is GET without the body (RFC 9110 9.3.2): hyper leaves the body
    // out of a HEAD answer and keeps its Content-Length.
    let route_method = if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    };
    match (&route_method, route) {
        (&Method::GET, Route::Health) => Ok(ops::health(ctx)),
        (&Method::GET, Route::Ready) => ops::ready(ctx).await,
        (&Method::GET, Route::Metrics) => ops::metrics(ctx).await,
        (&Method::GET, Route::Partitions) => partitions::list(ctx, access).await,
        (&Method::POST, Route::Partitions | Route::PartitionCreate) => {
            partitions::create(ctx, request).await
        }
        (&Method::GET, Route::Partition(id)) => {
            access.require_addressed(Role::Query, id, |text| partition_name(ctx, text))?;
            partitions::get(ctx, id).await
        }
        (&Method::DELETE, Route::Partition(id)) => partitions::delete(ctx, id).await,
        (&Method::PATCH, Route::Partition(id)) => {
            let id = id.to_string();
            partition_settings::patch(ctx, &id, request).await
        }
        (&Method::POST, Route::PartitionLogs(id)) => {
            access.require_addressed(Role::Ingest, id, |text| partition_name(ctx, text))?;
            let id = id.to_string();
            ingest::ingest(ctx, &id, request).await
        }
        (&Method::POST, Route::Query) => query::execute(ctx, request).await,
        (&Method::GET, Route::Query) => query::execute_get(ctx, &request).await,
        (&Method::POST, Route::OtlpLogs) => Ok(otlp::export_logs(ctx, request).await),
        (&Method::POST, Route::LokiPush) => Ok(loki::push(ctx, request).await),
        (&Method::POST, Route::JsonLine) => Ok(jsonline::insert(ctx, request).await),
        (&Method::GET, Route::Loki(endpoint)) => loki_query::handle(ctx, request, *endpoint).await,
        (&Method::POST, Route::Loki(endpoint)) if !matches!(endpoint, Loki::BuildInfo) => {
            loki_query::handle(ctx, request, *endpoint).await
        }
        (&Method::GET | &Method::POST, Route::LogsqlQuery) => logsql::query(ctx, request).await,
        (&Method::POST, Route::Snapshots) => snapshots::create(ctx, request).await,
        (&Method::GET, Route::Snapshots) => snapshots::list(ctx).await,
        (&Method::GET, Route::Snapshot(name)) => snapshots::get(ctx, name).await,
        (&Method::DELETE, Route::Snapshot(name)) => snapshots::delete(ctx, name).await,
        (&Method::POST, Route::AdminScrub) => scrub::start(ctx, request).await,
        (&Method::GET, Route::AdminScrub) => scrub::status(ctx).await,
        (&Method::POST, Route::Keys) => keys::create(ctx, request).await,
        (&Method::GET, Route::Keys) => keys::list(ctx),
        (&Method::DELETE, Route::Key(id)) => keys::revoke(ctx, id).await,
        (&Method::PATCH, Route::Key(id)) => {
            let id = id.to_string();
            keys::update(ctx, &id, request).await
        }
        (&Method::GET, Route::Tail) => tail::tail_get(ctx, &request).await,
        (&Method::POST, Route::Tail) => tail::tail_post(ctx, request).await,
        (&Method::GET, Route::Whoami) => Ok(whoami::whoami(&request)),
        _ => {
            let mut error = ApiError::new(
                ErrorKind::MethodNotAllowed,
                "method_not_allowed",
                format!("{method} is not allowed on {path}; use {}", route.allow()),
            );
            error.allow = Some(route.allow());
            Err(error)
        }
    }
}

/// The name of the partition `id_or_name` addresses, if there is one.
fn partition_name(ctx: &ShardContext, id_or_name: &str) -> Option<String> {
    let catalog = ctx.catalog.borrow();
    catalog.find(id_or_name).map(|meta| meta.name.clone())
}
