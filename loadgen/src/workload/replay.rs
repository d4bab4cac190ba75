//! Replay of a log file: every non-empty line becomes a `LogLine`, and line
//! `index` of the workload is file line `index % len`.
//!
//! A line that parses as a JSON object is read the way TimberDB's native
//! ingest reads one (tags and fields come out in key order, as serde_json's
//! map keeps them; turning on its `preserve_order` feature here would change
//! the server's maps too, since features unify across the workspace): `message` (or `msg` when there is no `message`),
//! `level` (any common spelling; `info` when absent or unknown), `source`
//! (`replay` when absent), `tags` (an object; scalars become strings, nulls
//! are dropped, nested values are kept as their JSON text); `timestamp` and
//! `ts` are ignored, since the sender stamps lines itself. Every other key
//! becomes a field: integers that fit `i64` as ints, other numbers as
//! floats, strings and booleans as strings, nested values as their JSON
//! text; nulls are dropped.
//!
//! Any other line is plain text: the message is the line, the level the
//! first level word in it (`ERROR`, `warn`, ... as a whole word, any case),
//! else `info`, and the source `replay`.
//!
//! The whole file is parsed up front, so `fill` is a copy into reused
//! buffers and replay runs as fast as generation.

use std::path::Path;

use anyhow::{bail, Context as _};
use serde_json::{Map, Value};

// JSON keys that are not fields: the ones read into the line's slots, and
// the timestamps the sender replaces (TimberDB's own named keys).
use crate::line::{Level, LogLine, NAMED_KEYS};

/// The source of replayed lines that do not name one.
pub const REPLAY_SOURCE_DEFAULT: &str = "replay";

pub struct Replay {
    /// Never empty.
    lines: Vec<LogLine>,
}

impl Replay {
    /// Loads and parses every line of the file. Invalid UTF-8 is replaced
    /// (U+FFFD) rather than refused, as log files often hold some.
    pub fn from_file(path: &Path) -> anyhow::Result<Replay> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the replay file {}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let lines = parse_lines(&text);
        if lines.is_empty() {
            bail!(
                "the replay file {} has no lines (it is empty or blank)",
                path.display()
            );
        }
        Ok(Replay { lines })
    }

    /// The number of lines in the file (empty lines excluded).
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Always false: `from_file` refuses empty files.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Overwrites `line` (all but its timestamp) with file line
    /// `index % len`.
    pub fn fill(&self, index: u64, line: &mut LogLine) {
        // `len` is not 0 (see `from_file`), and the remainder is below it,
        // so it fits in usize.
        let position = (index % self.lines.len() as u64) as usize;
        let timestamp_ns = line.timestamp_ns;
        line.clone_from(&self.lines[position]);
        line.timestamp_ns = timestamp_ns;
    }
}

fn parse_lines(text: &str) -> Vec<LogLine> {
    text.split('\n')
        .map(|raw| raw.strip_suffix('\r').unwrap_or(raw))
        .filter(|raw| !raw.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(raw: &str) -> LogLine {
    if raw.trim_start().starts_with('{') {
        if let Ok(object) = serde_json::from_str::<Map<String, Value>>(raw) {
            return from_json(&object);
        }
    }
    from_text(raw)
}

fn from_text(raw: &str) -> LogLine {
    let mut line = LogLine::new();
    line.message.push_str(raw);
    line.source.push_str(REPLAY_SOURCE_DEFAULT);
    line.level = guess_level(raw).unwrap_or(Level::Info);
    line
}

/// The first whole word of `text` that names a level. Only full spellings
/// count: short ones such as `err` or `inf` are too often ordinary words.
fn guess_level(text: &str) -> Option<Level> {
    const WORDS: [&str; 9] = [
        "trace", "debug", "info", "warn", "warning", "error", "fatal", "critical", "panic",
    ];
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| WORDS.iter().any(|w| w.eq_ignore_ascii_case(word)))
        .find_map(Level::parse)
}

fn from_json(object: &Map<String, Value>) -> LogLine {
    let mut line = LogLine::new();
    if let Some(message) = object.get("message").or_else(|| object.get("msg")) {
        push_text(&mut line.message, message);
    }
    line.level = object
        .get("level")
        .and_then(Value::as_str)
        .and_then(Level::parse)
        .unwrap_or(Level::Info);
    match object.get("source") {
        Some(source @ (Value::String(_) | Value::Number(_))) => push_text(&mut line.source, source),
        _ => line.source.push_str(REPLAY_SOURCE_DEFAULT),
    }
    if let Some(Value::Object(tags)) = object.get("tags") {
        let mut text = String::new();
        for (key, value) in tags.iter().filter(|(_, v)| !v.is_null()) {
            text.clear();
            push_text(&mut text, value);
            line.push_tag(key, &text);
        }
    }
    for (key, value) in object {
        if !NAMED_KEYS.contains(&key.as_str()) {
            push_field(&mut line, key, value);
        }
    }
    line
}

fn push_field(line: &mut LogLine, key: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(int), _) => line.push_field_int(key, int),
            (None, Some(float)) => line.push_field_float(key, float),
            (None, None) => line.push_field_str(key, &number.to_string()),
        },
        Value::String(text) => line.push_field_str(key, text),
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            let mut text = String::new();
            push_text(&mut text, value);
            line.push_field_str(key, &text);
        }
    }
}

/// A string's own text, anything else's JSON text.
fn push_text(out: &mut String, value: &Value) {
    match value {
        Value::String(text) => out.push_str(text),
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::FieldValue;

    /// A file in the temp dir, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &[u8]) -> TempFile {
            let path = std::env::temp_dir().join(format!(
                "loadgen-replay-{}-{:?}-{name}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::write(&path, contents).expect("write temp file");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn lines_of(replay: &Replay) -> Vec<LogLine> {
        (0..replay.len() as u64)
            .map(|index| {
                let mut line = LogLine::new();
                replay.fill(index, &mut line);
                line
            })
            .collect()
    }

    #[test]
    fn replay_ndjson_reads_named_keys_tags_and_fields() {
        let file = TempFile::new(
            "ndjson",
            concat!(
                r#"{"timestamp":1,"level":"WARNING","source":"auth","message":"a \"q\"\nb","tags":{"env":"prod","n":3,"b":true,"z":null},"status":503,"ratio":0.5,"route":"/x","ok":false,"deep":{"k":[1]},"nothing":null}"#,
                "\r\n\n   \n",
                r#"{"msg":"short","level":"loud","ts":5}"#,
                "\n",
            )
            .as_bytes(),
        );
        let replay = Replay::from_file(&file.0).expect("replay");
        assert_eq!(replay.len(), 2);
        let lines = lines_of(&replay);
        let first = &lines[0];
        assert_eq!(first.level, Level::Warn);
        assert_eq!(first.source, "auth");
        assert_eq!(first.message, "a \"q\"\nb");
        let tags: Vec<_> = first.tags().collect();
        assert_eq!(tags, [("b", "true"), ("env", "prod"), ("n", "3")]);
        let fields: Vec<_> = first.fields().collect();
        assert_eq!(
            fields,
            [
                ("deep", FieldValue::Str(r#"{"k":[1]}"#)),
                ("ok", FieldValue::Str("false")),
                ("ratio", FieldValue::Float(0.5)),
                ("route", FieldValue::Str("/x")),
                ("status", FieldValue::Int(503)),
            ]
        );
        let second = &lines[1];
        assert_eq!(second.message, "short");
        assert_eq!(second.level, Level::Info, "unknown levels read as info");
        assert_eq!(second.source, REPLAY_SOURCE_DEFAULT);
        assert_eq!(second.fields().count(), 0, "ts is ignored, not a field");
    }

    #[test]
    fn replay_plain_text_guesses_levels_and_wraps_around() {
        let file = TempFile::new(
            "text",
            "2024-03-15 10:30:00 [main] ERROR db: connection lost\r\n\
             \n\
             INFO then WARN: first word wins\n\
             nothing here, not even errors\n\
             {not json at all\n\
             w\u{e9}ird caf\u{e9} line warning"
                .as_bytes(),
        );
        let replay = Replay::from_file(&file.0).expect("replay");
        let lines = lines_of(&replay);
        let summary: Vec<_> = lines
            .iter()
            .map(|l| (l.level, l.message.as_str(), l.source.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    Level::Error,
                    "2024-03-15 10:30:00 [main] ERROR db: connection lost",
                    "replay"
                ),
                (Level::Info, "INFO then WARN: first word wins", "replay"),
                (Level::Info, "nothing here, not even errors", "replay"),
                (Level::Info, "{not json at all", "replay"),
                (Level::Warn, "w\u{e9}ird caf\u{e9} line warning", "replay"),
            ]
        );
        let mut line = LogLine::new();
        line.timestamp_ns = 42;
        replay.fill(5 * 1000 + 3, &mut line);
        assert_eq!(line.message, lines[3].message, "index wraps modulo len");
        assert_eq!(line.timestamp_ns, 42, "fill leaves the timestamp alone");
    }

    #[test]
    fn replay_refuses_empty_and_missing_files_naming_them() {
        let empty = TempFile::new("empty", b"\n \r\n");
        let error = Replay::from_file(&empty.0)
            .err()
            .expect("empty is an error");
        assert!(
            error.to_string().contains(&empty.0.display().to_string()),
            "{error}"
        );
        let missing = std::env::temp_dir().join("loadgen-replay-does-not-exist");
        let error = Replay::from_file(&missing)
            .err()
            .expect("missing is an error");
        assert!(
            format!("{error:#}").contains("loadgen-replay-does-not-exist"),
            "{error:#}"
        );
    }
}
