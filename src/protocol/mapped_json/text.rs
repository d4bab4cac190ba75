//! Strings of the entry being decoded: borrowed from the body when they
//! have no escapes, decoded into a per-entry arena when they do.

/// A string of the current entry. `Copy`, so slots can hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Text<'de> {
    Body(&'de str),
    /// A byte range of the arena.
    Arena {
        start: usize,
        end: usize,
    },
}

impl<'de> Text<'de> {
    pub(super) fn resolve<'s>(self, arena: &'s str) -> &'s str
    where
        'de: 's,
    {
        match self {
            Text::Body(text) => text,
            Text::Arena { start, end } => &arena[start..end],
        }
    }
}

/// Decodes a JSON string literal that serde_json validated (`"..."`).
pub(super) fn decode_string<'de>(raw: &'de str, arena: &mut String) -> Text<'de> {
    debug_assert!(raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"'));
    let inner = &raw[1..raw.len() - 1];
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        return Text::Body(inner);
    }
    let start = arena.len();
    unescape_into(inner, arena);
    Text::Arena {
        start,
        end: arena.len(),
    }
}

pub(crate) use crate::ingest::push_json_string;
use crate::ingest::unescape_into;
