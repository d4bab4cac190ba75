//! The per-entry limits (see the constants in `ingest`) for entries that
//! arrive in another shape than TimberDB's JSON: the shippers' protocols
//! (Elasticsearch `_bulk`, Loki, OTLP, JSON lines, syslog) build an entry,
//! check it here, and push it, so every protocol refuses the same things
//! with the same words. The JSON parser checks the same limits while it
//! decodes (`object`), before anything of that size is stored.

use crate::entry::EntryRef;

use super::{
    FIELDS_BYTES_MAX, MESSAGE_BYTES_MAX, SOURCE_BYTES_MAX, TAGS_PER_ENTRY_MAX, TAG_KEY_BYTES_MAX,
    TAG_VALUE_BYTES_MAX,
};

/// A limit an entry passes: what, its size, the limit and the unit, as
/// `IngestError::LimitExceeded` words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    pub what: String,
    pub size: usize,
    pub limit: usize,
    pub unit: &'static str,
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} has {} {}, over the limit of {}",
            self.what, self.size, self.unit, self.limit
        )
    }
}

/// Checks an entry and its tags against every per-entry limit. The names
/// in the error are formatted only when a limit is broken: this runs once
/// per entry on the protocols' hot paths.
pub fn check_entry(entry: &EntryRef<'_>, tags: &[(&str, &str)]) -> Result<(), LimitExceeded> {
    let bytes = |what: &dyn Fn() -> String, size: usize, limit: usize| {
        if size > limit {
            Err(LimitExceeded {
                what: what(),
                size,
                limit,
                unit: "bytes",
            })
        } else {
            Ok(())
        }
    };
    bytes(
        &|| "message".to_string(),
        entry.message.len(),
        MESSAGE_BYTES_MAX,
    )?;
    bytes(
        &|| "source".to_string(),
        entry.source.len(),
        SOURCE_BYTES_MAX,
    )?;
    bytes(
        &|| "the other fields".to_string(),
        entry.fields_json.len(),
        FIELDS_BYTES_MAX,
    )?;
    if tags.len() > TAGS_PER_ENTRY_MAX {
        return Err(LimitExceeded {
            what: "tags".to_string(),
            size: tags.len(),
            limit: TAGS_PER_ENTRY_MAX,
            unit: "tags",
        });
    }
    for (key, value) in tags {
        bytes(&|| format!("tag key {key:?}"), key.len(), TAG_KEY_BYTES_MAX)?;
        bytes(&|| format!("tag {key:?}"), value.len(), TAG_VALUE_BYTES_MAX)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Level;

    fn entry<'a>(source: &'a str, message: &'a str) -> EntryRef<'a> {
        EntryRef {
            timestamp_ns: 1,
            level: Level::Info,
            source,
            message,
            fields_json: "",
        }
    }

    #[test]
    fn each_limit_is_checked_at_its_edge() {
        let at = "s".repeat(SOURCE_BYTES_MAX);
        assert!(check_entry(&entry(&at, "m"), &[]).is_ok());
        let over = "s".repeat(SOURCE_BYTES_MAX + 1);
        let error = check_entry(&entry(&over, "m"), &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "source has 1025 bytes, over the limit of 1024"
        );
        let key = "k".repeat(TAG_KEY_BYTES_MAX + 1);
        let error = check_entry(&entry("s", "m"), &[(&key, "v")]).unwrap_err();
        assert_eq!(error.size, TAG_KEY_BYTES_MAX + 1);
        let tags: Vec<(&str, &str)> = (0..=TAGS_PER_ENTRY_MAX).map(|_| ("k", "v")).collect();
        assert_eq!(
            check_entry(&entry("s", "m"), &tags).unwrap_err().unit,
            "tags"
        );
        let message = "m".repeat(MESSAGE_BYTES_MAX + 1);
        assert_eq!(
            check_entry(&entry("s", &message), &[]).unwrap_err().what,
            "message"
        );
    }
}
