//! Elasticsearch's ingest surface: the `_bulk` API and the handshakes
//! shippers make before they send (`GET /`, cluster health, license,
//! template and policy setup), as plain functions of the request path and
//! the config; `http::handlers::elasticsearch` serves them.
//!
//! The handshake answers are what a single-node Elasticsearch of
//! `elasticsearch.version` says, reduced to the fields shippers read:
//! Filebeat and Vector check `version.number`'s major, Logstash and
//! Fluent Bit the `tagline` and `X-Elastic-Product` header, and setup
//! calls (`_index_template`, `_ilm/policy`, `_ingest/pipeline`) only need
//! a 2xx: TimberDB has no mappings or pipelines to install.

pub mod bulk;
pub mod response;
#[cfg(test)]
mod tests;

use serde_json::{json, Value};

/// An Elasticsearch route, matched on the path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsRoute<'a> {
    /// `/`: the node's name and version.
    Root,
    /// `/_bulk` or `/{index}/_bulk`.
    Bulk(Option<&'a str>),
    ClusterHealth,
    CatHealth,
    License,
    Xpack,
    /// Setup APIs whose effect TimberDB does not need (templates,
    /// lifecycle policies, ingest pipelines, node info): a 2xx that says so.
    Setup,
}

impl EsRoute<'_> {
    /// The methods the route takes, as Elasticsearch's 405 lists them.
    pub fn allow(&self) -> &'static str {
        match self {
            EsRoute::Bulk(_) => "POST, PUT",
            EsRoute::Setup => "GET, HEAD, PUT, POST, DELETE",
            _ => "GET, HEAD",
        }
    }
}

/// The Elasticsearch route of `path`, at `/` or under `prefix` (e.g.
/// `/es`; empty: only at `/`).
pub fn match_route<'a>(path: &'a str, prefix: &str) -> Option<EsRoute<'a>> {
    if let Some(route) = match_unprefixed(path) {
        return Some(route);
    }
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return None;
    }
    let rest = path.strip_prefix(prefix)?;
    match rest {
        "" => Some(EsRoute::Root),
        rest if rest.starts_with('/') => match_unprefixed(rest),
        _ => None,
    }
}

fn match_unprefixed(path: &str) -> Option<EsRoute<'_>> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return path.starts_with('/').then_some(EsRoute::Root);
    }
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    let route = match segments.as_slice() {
        ["_bulk"] => EsRoute::Bulk(None),
        [index, "_bulk"] if !index.starts_with('_') && !index.is_empty() => {
            EsRoute::Bulk(Some(index))
        }
        ["_cluster", "health", ..] => EsRoute::ClusterHealth,
        ["_cat", "health"] => EsRoute::CatHealth,
        ["_license"] | ["_xpack", "license"] => EsRoute::License,
        ["_xpack", ..] => EsRoute::Xpack,
        ["_ilm" | "_index_template" | "_component_template" | "_template", ..]
        | ["_ingest" | "_nodes" | "_data_stream", ..] => EsRoute::Setup,
        _ => return None,
    };
    Some(route)
}

/// What `GET /` answers.
pub fn root_info(version: &str) -> Value {
    json!({
        "name": "timberdb",
        "cluster_name": "timberdb",
        "cluster_uuid": "timberdb-single-node",
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "timberdb",
            "build_hash": "timberdb",
            "build_date": "2024-01-01T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}

/// What `GET /_cluster/health` answers: one node, always green (a node
/// that cannot take writes answers the writes themselves with 503/507).
pub fn cluster_health(partition_count: usize) -> Value {
    json!({
        "cluster_name": "timberdb",
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": partition_count,
        "active_shards": partition_count,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0
    })
}

/// `GET /_cat/health`: Elasticsearch's text line, or with `format=json`
/// the same as an array of one object.
pub fn cat_health(now_seconds: i64, json_format: bool) -> String {
    let day_seconds = now_seconds.rem_euclid(86_400);
    let clock = format!(
        "{:02}:{:02}:{:02}",
        day_seconds / 3600,
        day_seconds / 60 % 60,
        day_seconds % 60
    );
    if json_format {
        return json!([{
            "epoch": now_seconds.to_string(), "timestamp": clock, "cluster": "timberdb",
            "status": "green", "node.total": "1", "node.data": "1", "shards": "0",
            "pri": "0", "relo": "0", "init": "0", "unassign": "0",
            "pending_tasks": "0", "max_task_wait_time": "-", "active_shards_percent": "100.0%"
        }])
        .to_string();
    }
    format!("{now_seconds} {clock} timberdb green 1 1 0 0 0 0 0 0 - 100.0%\n")
}

const LICENSE_UID: &str = "00000000-0000-0000-0000-000000000000";

/// `GET /_license`: an active basic license (what a fresh node has).
pub fn license() -> Value {
    json!({
        "license": {
            "status": "active",
            "uid": LICENSE_UID,
            "type": "basic",
            "issue_date": "2024-01-01T00:00:00.000Z",
            "issue_date_in_millis": 1_704_067_200_000_i64,
            "max_nodes": 1000,
            "max_resource_units": null,
            "issued_to": "timberdb",
            "issuer": "elasticsearch",
            "start_date_in_millis": -1
        }
    })
}

/// `GET /_xpack`: no features, a basic license.
pub fn xpack() -> Value {
    json!({
        "build": {"hash": "timberdb", "date": "2024-01-01T00:00:00.000Z"},
        "license": {"uid": LICENSE_UID, "type": "basic", "mode": "basic", "status": "active"},
        "features": {}
    })
}

/// Elasticsearch's error body: `{"error":{"root_cause":[..],"type","reason"},"status"}`.
pub fn error_body(kind: &str, reason: &str, status: u16) -> Value {
    json!({
        "error": {
            "root_cause": [{"type": kind, "reason": reason}],
            "type": kind,
            "reason": reason
        },
        "status": status
    })
}
