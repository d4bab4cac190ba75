//! The `_bulk` body: NDJSON pairs of an action line and (for `index` and
//! `create`) a document line, decoded into one batch per target index.
//!
//! Elasticsearch's rules, kept here because shippers depend on them: one
//! result item per action, in order; a bad document fails its own item
//! (status 400) and the others are still stored; a malformed action line
//! fails the whole request, since the pairing of the lines after it is
//! lost. `update` and `delete` get an item error: logs are append-only.
//! Blank lines between lines are skipped and `_type` (rsyslog still sends
//! it) is ignored, as are `routing`, `pipeline` and the other metadata.

use std::borrow::Cow;

use serde::Deserialize;

use crate::entry::ColumnBatch;
use crate::ingest::ENTRIES_PER_REQUEST_MAX;
use crate::protocol::mapped_json::{EntryError, MappedDecoder, Paths};
use crate::protocol::non_blank_lines;
use crate::storage::catalog::validate_name;

/// Distinct indices one request may write. Each costs a batch and a commit;
/// shippers send one or a few.
pub const BULK_INDICES_MAX: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Index,
    Create,
    Update,
    Delete,
}

impl Action {
    /// The action's name: also the key of its result item.
    pub fn name(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// An item that failed: its status and Elasticsearch's `error.type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    pub status: u16,
    pub kind: &'static str,
    pub reason: String,
}

impl ItemError {
    fn bad(kind: &'static str, reason: String) -> ItemError {
        ItemError {
            status: 400,
            kind,
            reason,
        }
    }
}

/// Where an item stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemState {
    /// Decoded into `groups[group]` as its entry number `position`.
    Pending {
        group: usize,
        position: usize,
    },
    Failed(ItemError),
}

/// One action of the request, in order.
#[derive(Debug, Clone)]
pub struct Item<'de> {
    pub action: Action,
    /// The index named for the item (metadata, else the path), if any.
    pub index: Option<Cow<'de, str>>,
    pub id: Option<Cow<'de, str>>,
    pub state: ItemState,
}

/// The documents bound for one index.
pub struct Group {
    pub index: String,
    pub batch: ColumnBatch,
}

/// A decoded request: its items and the batches to commit.
pub struct BulkPlan<'de> {
    pub items: Vec<Item<'de>>,
    pub groups: Vec<Group>,
}

/// A request refused as a whole (HTTP 400), with Elasticsearch's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkError {
    pub kind: &'static str,
    pub reason: String,
}

impl BulkError {
    fn new(kind: &'static str, reason: String) -> BulkError {
        BulkError { kind, reason }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionLine<'a> {
    #[serde(borrow)]
    index: Option<ActionMeta<'a>>,
    #[serde(borrow)]
    create: Option<ActionMeta<'a>>,
    #[serde(borrow)]
    update: Option<ActionMeta<'a>>,
    #[serde(borrow)]
    delete: Option<ActionMeta<'a>>,
}

#[derive(Deserialize, Default)]
struct ActionMeta<'a> {
    #[serde(rename = "_index", borrow)]
    index: Option<Cow<'a, str>>,
    #[serde(rename = "_id", borrow)]
    id: Option<Cow<'a, str>>,
}

/// The last action line without an `_id`: its text, action and index.
type RepeatedAction<'de> = (&'de [u8], Action, Option<Cow<'de, str>>);

/// Decodes a `_bulk` body. `path_index` is the `{index}` of
/// `/{index}/_bulk`; `take_batch` hands out an empty batch per index.
pub fn parse_bulk<'de>(
    body: &'de [u8],
    path_index: Option<&'de str>,
    paths: &Paths,
    now_ns: i64,
    take_batch: &mut dyn FnMut() -> ColumnBatch,
) -> Result<BulkPlan<'de>, BulkError> {
    // Two lines per action mostly; sized once so the items never regrow.
    let line_count = memchr::memchr_iter(b'\n', body).count() + 1;
    let mut plan = BulkPlan {
        items: Vec::with_capacity((line_count / 2 + 1).min(ENTRIES_PER_REQUEST_MAX)),
        groups: Vec::new(),
    };
    let mut decoder = MappedDecoder::new(paths, now_ns);
    let mut lines = non_blank_lines(body);
    let mut repeated: Option<RepeatedAction<'de>> = None;
    while let Some((number, line)) = lines.next() {
        if plan.items.len() == ENTRIES_PER_REQUEST_MAX {
            return Err(BulkError::new(
                "illegal_argument_exception",
                format!(
                    "a bulk request may hold at most {ENTRIES_PER_REQUEST_MAX} actions; split it"
                ),
            ));
        }
        // Shippers repeat one action line for every document; a line equal
        // to the last one without an `_id` means the same again, unparsed.
        let (action, meta) = match &repeated {
            Some((text, action, index)) if *text == line => (
                *action,
                ActionMeta {
                    index: index.clone(),
                    id: None,
                },
            ),
            _ => {
                let (action, meta) = parse_action(number, line)?;
                repeated = meta
                    .id
                    .is_none()
                    .then(|| (line, action, meta.index.clone()));
                (action, meta)
            }
        };
        let index = meta.index.or(path_index.map(Cow::Borrowed));
        let document = match action {
            Action::Delete => None,
            _ => Some(lines.next().ok_or_else(|| {
                BulkError::new(
                    "illegal_argument_exception",
                    format!("the {} action on line [{number}] has no document line after it; every index, create and update action is followed by one", action.name()),
                )
            })?),
        };
        let state = match (action, document) {
            (Action::Index | Action::Create, Some((_, document))) => {
                decode_item(&mut plan.groups, &mut decoder, index.as_deref(), document, take_batch)
            }
            _ => ItemState::Failed(ItemError::bad(
                "illegal_argument_exception",
                format!("{} is not supported: TimberDB stores logs append-only; send index or create actions", action.name()),
            )),
        };
        plan.items.push(Item {
            action,
            index,
            id: meta.id,
            state,
        });
    }
    if plan.items.is_empty() {
        return Err(BulkError::new(
            "action_request_validation_exception",
            "Validation Failed: 1: no requests added;".to_string(),
        ));
    }
    Ok(plan)
}

fn parse_action<'de>(
    number: usize,
    line: &'de [u8],
) -> Result<(Action, ActionMeta<'de>), BulkError> {
    let malformed = |reason: String| {
        BulkError::new(
            "illegal_argument_exception",
            format!("Malformed action/metadata line [{number}], expected {{\"index\"|\"create\"|\"update\"|\"delete\": {{...}}}}: {reason}"),
        )
    };
    let text = std::str::from_utf8(line).map_err(|error| malformed(error.to_string()))?;
    let parsed: ActionLine<'de> =
        serde_json::from_str(text).map_err(|error| malformed(error.to_string()))?;
    let mut found = [
        (Action::Index, parsed.index),
        (Action::Create, parsed.create),
        (Action::Update, parsed.update),
        (Action::Delete, parsed.delete),
    ]
    .into_iter()
    .filter_map(|(action, meta)| meta.map(|meta| (action, meta)));
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(malformed("it names no action".to_string())),
        (Some(_), Some(_)) => Err(malformed("it names more than one action".to_string())),
    }
}

/// Decodes one document into the batch of its index.
fn decode_item<'de>(
    groups: &mut Vec<Group>,
    decoder: &mut MappedDecoder<'de, '_>,
    index: Option<&str>,
    document: &'de [u8],
    take_batch: &mut dyn FnMut() -> ColumnBatch,
) -> ItemState {
    let group = match group_for(groups, index, take_batch) {
        Ok(group) => group,
        Err(error) => return ItemState::Failed(error),
    };
    let batch = &mut groups[group].batch;
    let decoded = std::str::from_utf8(document)
        .map_err(|error| format!("the document is not valid UTF-8: {error}"))
        .and_then(|text| {
            decoder
                .decode(text, batch)
                .map_err(|error| describe(&error))
        });
    match decoded {
        Ok(()) => ItemState::Pending {
            group,
            position: batch.len() - 1,
        },
        Err(reason) => ItemState::Failed(ItemError::bad("document_parsing_exception", reason)),
    }
}

fn describe(error: &EntryError) -> String {
    match error {
        EntryError::Json(_) => format!("failed to parse: {error}"),
        _ => error.to_string(),
    }
}

/// The group of `index`, made on first use.
fn group_for(
    groups: &mut Vec<Group>,
    index: Option<&str>,
    take_batch: &mut dyn FnMut() -> ColumnBatch,
) -> Result<usize, ItemError> {
    let Some(index) = index else {
        return Err(ItemError::bad(
            "action_request_validation_exception",
            "Validation Failed: 1: index is missing; name it in the action's _index or the path (/{index}/_bulk)".to_string(),
        ));
    };
    if let Some(found) = groups.iter().position(|group| group.index == index) {
        return Ok(found);
    }
    validate_name(index).map_err(|reason| {
        ItemError::bad(
            "invalid_index_name_exception",
            format!("Invalid index name [{index}]: {reason}"),
        )
    })?;
    if groups.len() == BULK_INDICES_MAX {
        return Err(ItemError::bad(
            "illegal_argument_exception",
            format!(
                "one bulk request may write at most {BULK_INDICES_MAX} indices; split it by index"
            ),
        ));
    }
    groups.push(Group {
        index: index.to_string(),
        batch: take_batch(),
    });
    Ok(groups.len() - 1)
}
