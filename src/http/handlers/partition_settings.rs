//! `PATCH /api/v1/partitions/{id or name}`: change a partition's retention
//! settings, and the parsing of those settings that create shares.
//!
//! Body: `{"retention_days": N | null, "max_storage_size": N | "10GiB" | null}`;
//! a field left out is left as it is, `null` clears it. Unknown fields are
//! refused (a typo must not look like a change that was made).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::Value;

use super::partitions::{admin_error, partition_json, resolve};
use crate::config::defaults::{MAX_STORAGE_SIZE_BYTES_RANGE, RETENTION_DAYS_RANGE};
use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::ApiError;
use crate::http::response::{json, HttpResponse};
use crate::shard::partition_settings::{update, SettingsChange};
use crate::shard::partitions::{self as admin, SliceStats};
use crate::shard::ShardContext;

/// A settings body is a few dozen bytes; this bounds what we buffer.
const SETTINGS_BODY_BYTES_MAX: usize = 4 * 1024;

pub async fn patch(
    ctx: &ShardContext,
    id_or_name: &str,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let meta = resolve(ctx, id_or_name)?;
    let body = read_limited(
        request,
        BodyLimit {
            bytes: SETTINGS_BODY_BYTES_MAX,
            name: "the partition settings limit",
        },
    )
    .await?;
    let change = parse_change(&body)?;
    let meta = update(ctx, meta.key, change).await.map_err(admin_error)?;
    let stats = admin::stats(ctx, Some(meta.key))
        .await
        .map_err(ApiError::internal)?;
    let stats = stats.get(&meta.key).copied().unwrap_or_default();
    Ok(json(StatusCode::OK, &partition_json(ctx, &meta, &stats)))
}

/// The settings a PATCH body changes.
pub fn parse_change(body: &[u8]) -> Result<SettingsChange, ApiError> {
    let expected = "expected a JSON object {\"retention_days\"?: integer | null, \"max_storage_size\"?: integer | size string | null}";
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request("invalid_json", format!("{expected}: {error}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::bad_request("invalid_json", expected));
    };
    if fields.is_empty() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "the body names no setting; give retention_days and/or max_storage_size (null clears one)",
        ));
    }
    let mut change = SettingsChange::default();
    for (name, value) in &fields {
        match name.as_str() {
            "retention_days" => change.retention_days = Some(retention_days(value)?),
            "max_storage_size" => change.max_storage_size = Some(max_storage_size(value)?),
            other => {
                return Err(ApiError::bad_request(
                    "unknown_field",
                    format!("{other:?} cannot be changed; a partition's changeable settings are retention_days and max_storage_size"),
                ))
            }
        }
    }
    Ok(change)
}

/// `retention_days`: whole days in range, or `null` (no partition setting:
/// the server's `storage.retention_days` applies).
pub fn retention_days(value: &Value) -> Result<Option<u32>, ApiError> {
    if value.is_null() {
        return Ok(None);
    }
    value
        .as_u64()
        .and_then(|days| u32::try_from(days).ok())
        .filter(|days| RETENTION_DAYS_RANGE.contains(days))
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_retention",
                format!(
                    "retention_days must be a whole number of days from {} to {} (null: use the server's storage.retention_days); got {value}",
                    RETENTION_DAYS_RANGE.start(),
                    RETENTION_DAYS_RANGE.end()
                ),
            )
        })
}

/// `max_storage_size`: bytes as an integer or a size string (`"10GiB"`), at
/// least 1 MiB, or `null` (no partition budget).
pub fn max_storage_size(value: &Value) -> Result<Option<u64>, ApiError> {
    let invalid = |detail: String| {
        ApiError::bad_request(
            "invalid_max_storage_size",
            format!(
                "max_storage_size must be a number of bytes or a size such as \"10GiB\", at least {} bytes (1 MiB), or null for no limit; {detail}",
                MAX_STORAGE_SIZE_BYTES_RANGE.start()
            ),
        )
    };
    let bytes = match value {
        Value::Null => return Ok(None),
        Value::Number(number) => number
            .as_u64()
            .ok_or_else(|| invalid(format!("got {value}")))?,
        Value::String(text) => crate::config::parse_size_bytes(text).map_err(invalid)?,
        other => return Err(invalid(format!("got {other}"))),
    };
    if !MAX_STORAGE_SIZE_BYTES_RANGE.contains(&bytes) {
        return Err(invalid(format!("got {bytes} bytes")));
    }
    Ok(Some(bytes))
}

/// The partition's effective retention settings and what retention did, for
/// the partition object.
pub fn retention_json(
    ctx: &ShardContext,
    meta_days: Option<u32>,
    meta_bytes: Option<u64>,
    stats: &SliceStats,
) -> Value {
    let storage = &ctx.config.storage;
    let mut removed = crate::shard::retention::Removed::default();
    let mut by_reason = serde_json::Map::new();
    for (reason, counts) in crate::shard::retention::Reason::ALL
        .iter()
        .zip(&stats.retention_removed)
    {
        removed.add(counts);
        by_reason.insert(
            reason.label().to_string(),
            serde_json::json!({"blocks": counts.blocks, "entries": counts.entries, "bytes": counts.bytes}),
        );
    }
    serde_json::json!({
        "effective_retention_days": meta_days.or(storage.retention_days),
        "effective_max_storage_size": meta_bytes,
        "server_max_storage_size": storage.max_storage_size_bytes,
        "removed": {
            "blocks": removed.blocks,
            "entries": removed.entries,
            "bytes": removed.bytes,
            "by_reason": by_reason,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_bodies_set_clear_or_refuse() {
        let change =
            parse_change(br#"{"retention_days": 3, "max_storage_size": "10GiB"}"#).unwrap();
        assert_eq!(change.retention_days, Some(Some(3)));
        assert_eq!(change.max_storage_size, Some(Some(10 << 30)));
        let change = parse_change(br#"{"retention_days": null}"#).unwrap();
        assert_eq!(change.retention_days, Some(None));
        assert_eq!(change.max_storage_size, None);
        for bad in [
            &br#"{"retention_days": 0}"#[..],
            br#"{"retention_days": -1}"#,
            br#"{"retention_days": 1.5}"#,
            br#"{"max_storage_size": 10}"#,
            br#"{"max_storage_size": "ten"}"#,
            br#"{"max_storage_size": -5}"#,
            br#"{"retention": 3}"#,
            br#"{}"#,
            br#"[]"#,
            br#"nope"#,
        ] {
            assert!(
                parse_change(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
