//! Routes. The seed README's routes are primary; the seed code's routes are
//! aliases so both kinds of existing client work. A known path with the
//! wrong method is a 405 with `Allow`; an unknown path a 404.

use std::convert::Infallible;
use std::rc::Rc;

use hyper::body::Incoming;
use hyper::{Method, Request};

use super::error::{ApiError, ErrorKind};
use super::handlers::loki_query::{self, Endpoint as Loki};
use super::handlers::{
    elasticsearch, ingest, jsonline, logsql, loki, ops, otlp, partition_settings, partitions,
    query, scrub, snapshots, tail, whoami,
};
use super::response::HttpResponse;
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
        ["api", "v1", "whoami"] => Route::Whoami,
        _ => return None,
    };
    Some(route)
}

pub async fn handle(
    ctx: Rc<ShardContext>,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let response = match route(&ctx, request).await {
        Ok(response) => response,
        Err(error) => {
            ctx.count(|c| c.http_errors += 1);
            if error.kind == ErrorKind::Internal {
                tracing::error!(code = error.code, message = %error.message, "request failed");
            }
            error.into_response()
        }
    };
    Ok(response)
}

async fn route(
    ctx: &Rc<ShardContext>,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let path = request.uri().path().to_string();
    let es_prefix = &ctx.config.elasticsearch.path_prefix;
    if let Some(es_route) = crate::protocol::elasticsearch::match_route(&path, es_prefix) {
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
    match (&method, &route) {
        (&Method::GET, Route::Health) => Ok(ops::health(ctx)),
        (&Method::GET, Route::Ready) => ops::ready(ctx).await,
        (&Method::GET, Route::Metrics) => ops::metrics(ctx).await,
        (&Method::GET, Route::Partitions) => partitions::list(ctx).await,
        (&Method::POST, Route::Partitions | Route::PartitionCreate) => {
            partitions::create(ctx, request).await
        }
        (&Method::GET, Route::Partition(id)) => partitions::get(ctx, id).await,
        (&Method::DELETE, Route::Partition(id)) => partitions::delete(ctx, id).await,
        (&Method::PATCH, Route::Partition(id)) => {
            let id = id.to_string();
            partition_settings::patch(ctx, &id, request).await
        }
        (&Method::POST, Route::PartitionLogs(id)) => {
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
