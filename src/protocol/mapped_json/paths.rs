//! Which dotted paths of a JSON object play which part of an entry.

use crate::config::FieldMapping;

/// Message fields tried in turn (VictoriaLogs' `_msg_field=a,b`); more is
/// a configuration mistake, and each costs a comparison per key.
pub const MESSAGE_FIELDS_MAX: usize = 8;
/// Tag (stream) fields of one mapping; each costs a comparison per key and
/// a tag per entry, and an entry takes at most `TAGS_PER_ENTRY_MAX` tags.
pub const TAG_FIELDS_MAX: usize = 64;

/// The part of an entry a path feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The message candidate at this priority (0 is tried first).
    Message(usize),
    Time,
    Source,
    Level,
    /// The tag at this index of `Paths::tags`.
    Tag(usize),
}

/// A `FieldMapping` made ready for matching keys, with a request's
/// overrides applied. Empty names are dropped: that part is unused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths {
    pub messages: Vec<String>,
    pub time: String,
    pub source: String,
    pub level: String,
    pub tags: Vec<String>,
    /// Every proper dotted prefix of the paths above (`host` for
    /// `host.name`): objects under these keys are walked, not kept whole.
    prefixes: Vec<String>,
}

/// Splits a comma-separated list of field names, trimming blanks.
pub fn split_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
}

impl Paths {
    pub fn new(mapping: &FieldMapping) -> Paths {
        let mut paths = Paths {
            messages: split_list(&mapping.message).map(str::to_string).collect(),
            time: mapping.time.trim().to_string(),
            source: mapping.source.trim().to_string(),
            level: mapping.level.trim().to_string(),
            tags: mapping
                .tags
                .iter()
                .map(|tag| tag.trim().to_string())
                .filter(|tag| !tag.is_empty())
                .collect(),
            prefixes: Vec::new(),
        };
        paths.finish();
        paths
    }

    /// Replaces the message candidates (a comma-separated list).
    pub fn set_messages(&mut self, list: &str) -> Result<(), String> {
        self.messages = split_list(list).map(str::to_string).collect();
        self.finish_checked()
    }

    pub fn set_time(&mut self, name: &str) -> Result<(), String> {
        self.time = name.trim().to_string();
        self.finish_checked()
    }

    /// Replaces the tag fields (a comma-separated list).
    pub fn set_tags(&mut self, list: &str) -> Result<(), String> {
        self.tags = split_list(list).map(str::to_string).collect();
        self.finish_checked()
    }

    fn finish_checked(&mut self) -> Result<(), String> {
        if self.messages.len() > MESSAGE_FIELDS_MAX {
            return Err(format!(
                "{} message fields were named; at most {MESSAGE_FIELDS_MAX} are tried",
                self.messages.len()
            ));
        }
        if self.tags.len() > TAG_FIELDS_MAX {
            return Err(format!(
                "{} stream (tag) fields were named; at most {TAG_FIELDS_MAX} are taken",
                self.tags.len()
            ));
        }
        self.finish();
        Ok(())
    }

    /// Recomputes the prefixes; config values past the limits are cut
    /// (the config loader refuses them, so this only guards).
    fn finish(&mut self) {
        self.messages.truncate(MESSAGE_FIELDS_MAX);
        self.tags.truncate(TAG_FIELDS_MAX);
        let mut prefixes: Vec<String> = Vec::new();
        let all = self.messages.iter().chain(self.tags.iter()).chain([
            &self.time,
            &self.source,
            &self.level,
        ]);
        for path in all {
            for (dot, _) in path.match_indices('.') {
                let prefix = &path[..dot];
                if !prefix.is_empty() && !prefixes.iter().any(|known| known == prefix) {
                    prefixes.push(prefix.to_string());
                }
            }
        }
        self.prefixes = prefixes;
    }

    /// The role of the field at `path`, if any. Earlier roles win when a
    /// path is named twice (message before time before source...).
    pub fn role_of(&self, path: &str) -> Option<Role> {
        if path.is_empty() {
            // An unused part of the mapping is an empty name; `{"": ..}` is a field.
            return None;
        }
        if let Some(index) = self.messages.iter().position(|name| name == path) {
            return Some(Role::Message(index));
        }
        if self.time == path {
            return Some(Role::Time);
        }
        if self.source == path {
            return Some(Role::Source);
        }
        if self.level == path {
            return Some(Role::Level);
        }
        self.tags
            .iter()
            .position(|name| name == path)
            .map(Role::Tag)
    }

    /// Whether some mapped path lies inside the object at `path`.
    pub fn leads_to_mapped(&self, path: &str) -> bool {
        self.prefixes.iter().any(|prefix| prefix == path)
    }
}
