//! The parts of TimberDB's API loadgen uses besides ingest: health (for the
//! version and shard count), partition creation and queries.

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};

use crate::http::Client;

/// What `/health` says about the server.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerInfo {
    pub version: Option<String>,
    pub node_id: Option<String>,
    /// Shards, i.e. server cores in use.
    pub cores: Option<u64>,
}

/// Asks `/health`; a server that is not TimberDB (or is down) gives an
/// empty [`ServerInfo`] rather than an error, so peers can be loaded too.
pub fn server_info(client: &mut Client) -> ServerInfo {
    let Ok(response) = client.request("GET", "/health", None, b"") else {
        return ServerInfo::default();
    };
    let Ok(health) = response.json() else {
        return ServerInfo::default();
    };
    ServerInfo {
        version: health["version"].as_str().map(str::to_string),
        node_id: health["node_id"].as_str().map(str::to_string),
        cores: health["shards"].as_u64(),
    }
}

/// Creates the partition unless it exists.
pub fn ensure_partition(client: &mut Client, name: &str) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&json!({ "name": name }))?;
    let response = client
        .request(
            "POST",
            "/api/v1/partitions/create",
            Some("application/json"),
            &body,
        )
        .with_context(|| {
            format!(
                "creating partition {name:?} on {}",
                client.target().authority
            )
        })?;
    match response.status {
        201 => Ok(()),
        409 if response.text().contains("partition_exists") => Ok(()),
        status => bail!(
            "creating partition {name:?}: HTTP {status}: {}",
            response.text()
        ),
    }
}

/// The partition's object (`entry_count`, `bytes`, ...).
pub fn partition(client: &mut Client, name: &str) -> anyhow::Result<Value> {
    let response = client
        .request("GET", &format!("/api/v1/partitions/{name}"), None, b"")
        .with_context(|| format!("reading partition {name:?}"))?;
    if !response.is_success() {
        bail!(
            "reading partition {name:?}: HTTP {}: {}",
            response.status,
            response.text()
        );
    }
    response.json()
}

/// Runs one query and returns its answer; a non-2xx answer is an error
/// carrying the server's message.
pub fn query(client: &mut Client, body: &Value) -> anyhow::Result<Value> {
    query_bytes(client, &serde_json::to_vec(body)?)
}

/// [`query`] with a body already serialised (a `--body` of `loadgen
/// query`, sent as the user wrote it).
pub fn query_bytes(client: &mut Client, body: &[u8]) -> anyhow::Result<Value> {
    let response = client
        .request(
            "POST",
            "/api/v1/query/execute",
            Some("application/json"),
            body,
        )
        .context("query")?;
    if !response.is_success() {
        bail!(
            "query {}: HTTP {}: {}",
            String::from_utf8_lossy(body),
            response.status,
            response.text()
        );
    }
    response.json()
}
