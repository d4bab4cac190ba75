//! One entry as one aligned terminal line:
//!
//! ```text
//! 2026-12-03 12:52:56.123 ERROR web-1   upstream timed out after 30 s  region=eu user=42
//! 2026-12-03 12:52:55.007 INFO  api-2   GET /health 200
//! ```
//!
//! time (dim), level (coloured by severity), partition (only when the answer spans several),
//! source (cyan), the message, then the tags, dim, as `key=value`. Further lines of a
//! multi-line message (a stack trace) are indented under the message. Columns are as wide
//! as the widest value seen so far, up to a cap, so a tail stays aligned as it grows.

use super::style::{level_sgr, push_sanitised, Palette, CYAN, DIM};
use super::time::{format_time, time_width};
use crate::client::answer::{value_text, Entry};

/// Widest the source and partition columns grow; a longer value is printed whole and pushes
/// the rest of its own line to the right.
const COLUMN_WIDTH_MAX: usize = 32;

/// Width of the level column: the longest level name.
const LEVEL_WIDTH: usize = 5;

/// The columns of entry lines, widened as entries are seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLayout {
    /// Times in UTC (`--utc`) rather than local time.
    pub utc: bool,
    /// Width of the source column (0: no entry had a source yet, no column).
    pub source_width: usize,
    /// Width of the partition column; 0 hides the column.
    pub partition_width: usize,
    /// Whether to show partitions at all (the answer spans, or may span, several).
    pub show_partition: bool,
}

impl EntryLayout {
    pub fn new(utc: bool, show_partition: bool) -> EntryLayout {
        EntryLayout {
            utc,
            source_width: 0,
            partition_width: 0,
            show_partition,
        }
    }

    /// Widens the columns for `entries` (never narrows them).
    pub fn fit<'a>(&mut self, entries: impl IntoIterator<Item = &'a Entry>) {
        for entry in entries {
            let source = entry.source.chars().count().min(COLUMN_WIDTH_MAX);
            self.source_width = self.source_width.max(source);
            if self.show_partition {
                let partition = entry.partition.chars().count().min(COLUMN_WIDTH_MAX);
                self.partition_width = self.partition_width.max(partition);
            }
        }
    }

    /// Columns before the message: where continuation lines start.
    fn message_column(&self) -> usize {
        let mut column = time_width(self.utc) + 1 + LEVEL_WIDTH + 1;
        if self.partition_width > 0 {
            column += self.partition_width + 1;
        }
        if self.source_width > 0 {
            column += self.source_width + 1;
        }
        column
    }
}

/// Appends `entry` as one line (more for a multi-line message), ending in `\n`.
pub fn render_entry(entry: &Entry, layout: &EntryLayout, palette: Palette, out: &mut String) {
    let time = match entry.timestamp_ns() {
        Some(ts_ns) => format_time(ts_ns, layout.utc),
        None => "-".repeat(time_width(layout.utc)),
    };
    palette.paint(DIM, &time, out);
    out.push(' ');
    push_level(entry.level.as_deref(), palette, out);
    out.push(' ');
    if layout.partition_width > 0 {
        push_padded(&entry.partition, layout.partition_width, "", palette, out);
        out.push(' ');
    }
    if layout.source_width > 0 {
        push_padded(&entry.source, layout.source_width, CYAN, palette, out);
        out.push(' ');
    }
    let mut lines = entry.message.split('\n');
    let first = lines.next().unwrap_or_default();
    push_sanitised(first.strip_suffix('\r').unwrap_or(first), out);
    push_tags(entry, palette, out);
    let indent = " ".repeat(layout.message_column());
    for line in lines {
        out.push('\n');
        out.push_str(&indent);
        push_sanitised(line.strip_suffix('\r').unwrap_or(line), out);
    }
    trim_trailing_spaces(out);
    out.push('\n');
}

/// `ERROR`, `WARN `..., coloured; `-` for an entry without a level.
fn push_level(level: Option<&str>, palette: Palette, out: &mut String) {
    let name = level.map(str::to_ascii_uppercase).unwrap_or("-".into());
    let padding = LEVEL_WIDTH.saturating_sub(name.chars().count());
    palette.paint(level.map_or("", level_sgr), &name, out);
    out.push_str(&" ".repeat(padding));
}

fn push_padded(text: &str, width: usize, sgr: &str, palette: Palette, out: &mut String) {
    let mut clean = String::new();
    push_sanitised(text, &mut clean);
    palette.paint(sgr, &clean, out);
    out.push_str(&" ".repeat(width.saturating_sub(clean.chars().count())));
}

/// Two spaces, then `key=value` pairs, dim; values with spaces or quotes are quoted.
fn push_tags(entry: &Entry, palette: Palette, out: &mut String) {
    if entry.tags.is_empty() {
        return;
    }
    let mut text = String::new();
    for (key, value) in &entry.tags {
        if !text.is_empty() {
            text.push(' ');
        }
        push_sanitised(key, &mut text);
        text.push('=');
        let value = value_text(value);
        if value.is_empty() || value.contains([' ', '"', '=']) {
            push_sanitised(&format!("{value:?}"), &mut text);
        } else {
            push_sanitised(&value, &mut text);
        }
    }
    out.push_str("  ");
    palette.paint(DIM, &text, out);
}

fn trim_trailing_spaces(out: &mut String) {
    let kept = out.trim_end_matches(' ').len();
    out.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(value: serde_json::Value) -> Entry {
        serde_json::from_value(value).unwrap()
    }

    const TS: i64 = 1_764_756_000_123_456_789; // 2025-12-03T10:00:00.123Z

    #[test]
    fn columns_line_up_across_entries() {
        let entries = [
            entry(
                json!({"timestamp_ns": TS, "level": "error", "source": "web-1", "message": "boom", "tags": {"region": "eu"}}),
            ),
            entry(
                json!({"timestamp_ns": TS, "level": "info", "source": "api-gateway", "message": "ok"}),
            ),
            entry(json!({"timestamp_ns": TS, "message": "no level, no source"})),
        ];
        let mut layout = EntryLayout::new(true, false);
        layout.fit(&entries);
        let mut out = String::new();
        for entry in &entries {
            render_entry(entry, &layout, Palette::PLAIN, &mut out);
        }
        assert_eq!(
            out,
            "2025-12-03 10:00:00.123Z ERROR web-1       boom  region=eu\n\
             2025-12-03 10:00:00.123Z INFO  api-gateway ok\n\
             2025-12-03 10:00:00.123Z -                 no level, no source\n"
        );
    }

    #[test]
    fn levels_are_coloured_by_severity() {
        let layout = EntryLayout::new(true, false);
        for (level, sgr) in [
            ("error", "31"),
            ("warn", "33"),
            ("info", "32"),
            ("fatal", "1;37;41"),
        ] {
            let mut out = String::new();
            render_entry(
                &entry(json!({"timestamp_ns": TS, "level": level, "message": "m"})),
                &layout,
                Palette::COLOURED,
                &mut out,
            );
            let painted = format!("\x1b[{sgr}m{}\x1b[0m", level.to_uppercase());
            assert!(out.contains(&painted), "{level}: {out:?}");
            assert!(
                out.starts_with("\x1b[2m2025-12-03 10:00:00.123Z\x1b[0m "),
                "{out:?}"
            );
        }
    }

    #[test]
    fn a_multi_line_message_continues_under_the_message_column() {
        let layout = {
            let mut layout = EntryLayout::new(true, true);
            layout.fit(&[entry(
                json!({"partition": "app", "source": "w", "message": ""}),
            )]);
            layout
        };
        let mut out = String::new();
        let trace = json!({"timestamp_ns": TS, "level": "error", "partition": "app", "source": "w",
                           "message": "panic: x\r\n  at main.rs:3\n  at lib.rs:9"});
        render_entry(&entry(trace), &layout, Palette::PLAIN, &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "2025-12-03 10:00:00.123Z ERROR app w panic: x");
        let column = lines[0].find("panic").unwrap();
        assert_eq!(lines[1], format!("{}  at main.rs:3", " ".repeat(column)));
        assert_eq!(lines[2], format!("{}  at lib.rs:9", " ".repeat(column)));
    }

    #[test]
    fn tags_with_spaces_are_quoted_and_escapes_are_defused() {
        let layout = EntryLayout::new(true, false);
        let mut out = String::new();
        let value = json!({"timestamp_ns": TS, "message": "\u{1b}]0;pwned\u{7}",
                           "tags": {"user": "a b", "n": 3, "e": ""}});
        render_entry(&entry(value), &layout, Palette::PLAIN, &mut out);
        assert_eq!(
            out,
            "2025-12-03 10:00:00.123Z -     \\u{1b}]0;pwned\\u{7}  e=\"\" n=3 user=\"a b\"\n"
        );
    }
}
