//! `timberdb keys ls | create | update | rm`: the key routes of docs/API.md.
//!
//! `create` prints the key alone on stdout (so `KEY=$(timberdb keys create ...)` works)
//! and what it is on stderr; `ls` prints the server's JSON (ids, roles, partitions, never
//! secrets). `create --offline` does not come here: it runs without a server
//! (`auth::offline`, from `main`).

use serde_json::{json, Value};

use super::args::{KeysAction, KeysArgs, QuotaArgs};
use super::error::{ClientError, Result};
use super::partitions::print_json;
use super::transport::{percent_encode, Server};

pub fn run(args: &KeysArgs, server: &Server) -> Result<()> {
    match &args.action {
        KeysAction::Ls => {
            let answer = server.get("/api/v1/admin/keys")?;
            print_json(&answer.body)
        }
        KeysAction::Create {
            role,
            partitions,
            name,
            offline: _,
            quota,
        } => {
            let mut body = json!({ "role": role, "partitions": partitions });
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if *quota != QuotaArgs::default() {
                body["quota"] = quota.patch(false);
            }
            let answer = server.post_json("/api/v1/admin/keys", &body.to_string())?;
            let created: Value =
                serde_json::from_str(&answer.body).map_err(|error| ClientError::BadAnswer {
                    url: server.url().to_string(),
                    reason: format!("the key answer is not JSON: {error}"),
                })?;
            let key = created["key"].as_str().unwrap_or_default();
            eprintln!(
                "created key {} (role {}); it is shown only now, store it:",
                created["id"].as_str().unwrap_or("?"),
                created["role"].as_str().unwrap_or("?")
            );
            print_json(key)
        }
        KeysAction::Update {
            id,
            quota,
            default_quota,
        } => {
            let path = format!("/api/v1/admin/keys/{}", percent_encode(id));
            let body = json!({ "quota": quota.patch(*default_quota) });
            let answer = server.patch_json(&path, &body.to_string())?;
            print_json(&answer.body)
        }
        KeysAction::Rm { id } => {
            let path = format!("/api/v1/admin/keys/{}", percent_encode(id));
            server.delete(&path)?;
            eprintln!("revoked key {id}");
            Ok(())
        }
    }
}
