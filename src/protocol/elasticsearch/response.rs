//! The `_bulk` answer, written as compact JSON the way Elasticsearch
//! writes it, and `filter_path`, which shippers use to shrink it.
//!
//! `filter_path` is honoured for the forms shippers send (Filebeat and
//! Vector: `errors,items.*.error,items.*.status`; others: `items.*._id`,
//! `took`, `*`): the top-level keys, and the keys of each item. As in
//! Elasticsearch, an item left with no key is dropped, and so is an
//! `items` array left empty. Deeper paths (`items.*.error.reason`) keep
//! the whole key they start with.

use std::fmt::Write as _;

use super::bulk::{Item, ItemError, ItemState};
use crate::entry::EntryId;
use crate::protocol::mapped_json::push_json_string;

/// Which parts of the answer to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseFilter {
    took: bool,
    errors: bool,
    items: bool,
    /// The item keys kept; `None`: all of them.
    item_keys: Option<Vec<String>>,
}

impl Default for ResponseFilter {
    fn default() -> Self {
        ResponseFilter {
            took: true,
            errors: true,
            items: true,
            item_keys: None,
        }
    }
}

impl ResponseFilter {
    /// Parses a `filter_path` value; unknown paths match nothing, as in
    /// Elasticsearch, and `-` (exclusion) paths are ignored.
    pub fn parse(filter_path: &str) -> ResponseFilter {
        let mut filter = ResponseFilter {
            took: false,
            errors: false,
            items: false,
            item_keys: Some(Vec::new()),
        };
        for path in filter_path.split(',').map(str::trim) {
            let segments: Vec<&str> = path.split('.').collect();
            match segments.as_slice() {
                ["*" | "**", ..] => return ResponseFilter::default(),
                ["took"] => filter.took = true,
                ["errors"] => filter.errors = true,
                ["items"] | ["items", _] | ["items", _, "*" | "**", ..] => {
                    filter.items = true;
                    filter.item_keys = None;
                }
                ["items", _, key, ..] => {
                    filter.items = true;
                    if let Some(keys) = filter.item_keys.as_mut() {
                        keys.push(key.to_string());
                    }
                }
                _ => {}
            }
        }
        filter
    }

    fn keeps(&self, key: &str) -> bool {
        match &self.item_keys {
            None => true,
            Some(keys) => keys.iter().any(|kept| kept == key),
        }
    }
}

/// How a group's commit ended: the id of its first entry, or an error
/// for every item of the group.
pub type GroupOutcome = Result<EntryId, ItemError>;

/// Writes `{"took":..,"errors":..,"items":[..]}`.
pub fn write_bulk_response(
    items: &[Item<'_>],
    outcomes: &[GroupOutcome],
    took_ms: u64,
    filter: &ResponseFilter,
) -> String {
    let mut out = String::with_capacity(64 + items.len() * 200);
    let errors = items.iter().any(|item| outcome_of(item, outcomes).is_err());
    out.push('{');
    let member = |out: &mut String, name: &str| {
        if !out.ends_with('{') {
            out.push(',');
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
    };
    if filter.took {
        member(&mut out, "took");
        let _ = write!(out, "{took_ms}");
    }
    if filter.errors {
        member(&mut out, "errors");
        out.push_str(if errors { "true" } else { "false" });
    }
    if filter.items {
        let mark = out.len();
        member(&mut out, "items");
        out.push('[');
        let mut written = 0;
        for item in items {
            if write_item(
                &mut out,
                item,
                outcome_of(item, outcomes),
                filter,
                written == 0,
            ) {
                written += 1;
            }
        }
        if written == 0 {
            out.truncate(mark);
        } else {
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// The item's result: its entry id, or why it failed.
fn outcome_of<'a>(
    item: &'a Item<'_>,
    outcomes: &'a [GroupOutcome],
) -> Result<EntryId, &'a ItemError> {
    match &item.state {
        ItemState::Failed(error) => Err(error),
        ItemState::Pending { group, position } => match &outcomes[*group] {
            Ok(first) => Ok(EntryId {
                slice: first.slice,
                seq: first.seq + *position as u64,
            }),
            Err(error) => Err(error),
        },
    }
}

/// Writes one item (after a comma unless `first`); false when the filter
/// left it empty, in which case nothing was written.
fn write_item(
    out: &mut String,
    item: &Item<'_>,
    outcome: Result<EntryId, &ItemError>,
    filter: &ResponseFilter,
    first: bool,
) -> bool {
    let mark = out.len();
    if !first {
        out.push(',');
    }
    out.push_str("{\"");
    out.push_str(item.action.name());
    out.push_str("\":{");
    let body_start = out.len();
    let mut key = |out: &mut String, name: &str| -> bool {
        if !filter.keeps(name) {
            return false;
        }
        if out.len() > body_start {
            out.push(',');
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        true
    };
    if key(out, "_index") {
        match &item.index {
            Some(index) => push_json_string(out, index),
            None => out.push_str("null"),
        }
    }
    if key(out, "_id") {
        match (&item.id, &outcome) {
            (Some(id), _) => push_json_string(out, id),
            // The entry's id, written in place: this runs for every item.
            (None, Ok(entry_id)) => {
                let _ = write!(out, "\"{}-{}\"", entry_id.slice, entry_id.seq);
            }
            (None, Err(_)) => out.push_str("null"),
        }
    }
    match outcome {
        Ok(entry_id) => write_created(out, entry_id, &mut key),
        Err(error) => write_failed(out, item, error, &mut key),
    }
    if out.len() == body_start {
        out.truncate(mark);
        return false;
    }
    out.push_str("}}");
    true
}

fn write_created(
    out: &mut String,
    entry_id: EntryId,
    key: &mut impl FnMut(&mut String, &str) -> bool,
) {
    if key(out, "_version") {
        out.push('1');
    }
    if key(out, "result") {
        out.push_str("\"created\"");
    }
    if key(out, "_shards") {
        out.push_str("{\"total\":1,\"successful\":1,\"failed\":0}");
    }
    if key(out, "_seq_no") {
        let _ = write!(out, "{}", entry_id.seq);
    }
    if key(out, "_primary_term") {
        out.push('1');
    }
    if key(out, "status") {
        out.push_str("201");
    }
}

fn write_failed(
    out: &mut String,
    item: &Item<'_>,
    error: &ItemError,
    key: &mut impl FnMut(&mut String, &str) -> bool,
) {
    if key(out, "status") {
        let _ = write!(out, "{}", error.status);
    }
    if key(out, "error") {
        out.push_str("{\"type\":");
        push_json_string(out, error.kind);
        out.push_str(",\"reason\":");
        push_json_string(out, &error.reason);
        if let Some(index) = &item.index {
            out.push_str(",\"index\":");
            push_json_string(out, index);
        }
        out.push('}');
    }
}
