//! Aligned tables: partitions, snapshots and the rows of an aggregation.
//!
//! ```text
//! NAME     ID                                    ENTRIES  BYTES      RETENTION  TAGS
//! web      ce268b25-586d-4a03-892f-bff197da5b9c    1 204  581 KiB    30 days    env=prod
//! ```
//!
//! Headers are bold when colours are on; numeric columns are right-aligned.

use super::style::{push_sanitised, Palette, BOLD};
use crate::client::answer::{value_text, Partition, Snapshot};

/// How a column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table to render: one header and alignment per column, rows of cells.
#[derive(Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub aligns: Vec<Align>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            headers: columns.iter().map(|(name, _)| name.to_string()).collect(),
            aligns: columns.iter().map(|(_, align)| *align).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(row.len(), self.headers.len(), "one cell per column");
        let cleaned = row
            .iter()
            .map(|cell| {
                let mut clean = String::new();
                push_sanitised(cell, &mut clean);
                clean
            })
            .collect();
        self.rows.push(cleaned);
    }

    /// The table as text, two spaces between columns, no trailing spaces.
    pub fn render(&self, palette: Palette) -> String {
        let widths = self.widths();
        let mut out = String::new();
        let mut header = String::new();
        for (index, name) in self.headers.iter().enumerate() {
            push_cell(&mut header, name, widths[index], self.aligns[index]);
        }
        palette.paint(BOLD, header.trim_end(), &mut out);
        out.push('\n');
        for row in &self.rows {
            let mut line = String::new();
            for (index, cell) in row.iter().enumerate() {
                push_cell(&mut line, cell, widths[index], self.aligns[index]);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (index, cell) in row.iter().enumerate() {
                widths[index] = widths[index].max(cell.chars().count());
            }
        }
        widths
    }
}

fn push_cell(line: &mut String, cell: &str, width: usize, align: Align) {
    if !line.is_empty() {
        line.push_str("  ");
    }
    let padding = " ".repeat(width.saturating_sub(cell.chars().count()));
    match align {
        Align::Left => {
            line.push_str(cell);
            line.push_str(&padding);
        }
        Align::Right => {
            line.push_str(&padding);
            line.push_str(cell);
        }
    }
}

/// The partitions table of `timberdb partitions ls`.
pub fn partitions_table(partitions: &[Partition]) -> Table {
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("ID", Align::Left),
        ("ENTRIES", Align::Right),
        ("BYTES", Align::Right),
        ("RETENTION", Align::Left),
        ("TAGS", Align::Left),
    ]);
    for partition in partitions {
        let retention = match partition.retention_days {
            Some(1) => "1 day".to_string(),
            Some(days) => format!("{days} days"),
            None => "forever".to_string(),
        };
        let tags: Vec<String> = partition
            .tags
            .iter()
            .map(|(key, value)| format!("{key}={}", value_text(value)))
            .collect();
        table.push(vec![
            partition.name.clone(),
            partition.id.clone(),
            partition.entry_count.to_string(),
            human_bytes(partition.bytes),
            retention,
            tags.join(","),
        ]);
    }
    table
}

/// The snapshots table of `timberdb snapshot ls`.
pub fn snapshots_table(snapshots: &[Snapshot]) -> Table {
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("CREATED", Align::Left),
        ("PARTITIONS", Align::Right),
        ("FILES", Align::Right),
        ("BYTES", Align::Right),
        ("PATH", Align::Left),
    ]);
    for snapshot in snapshots {
        table.push(vec![
            snapshot.name.clone(),
            snapshot.created_at.clone(),
            snapshot.partition_count().to_string(),
            snapshot.files.to_string(),
            human_bytes(snapshot.bytes),
            snapshot.path.clone(),
        ]);
    }
    table
}

/// The rows of an aggregation (`SELECT level, count(*) ... GROUP BY level`): numbers
/// right-aligned, `null` as `-`.
pub fn rows_table(columns: &[String], rows: &[Vec<serde_json::Value>]) -> Table {
    let numeric = |index: usize| {
        rows.iter().all(|row| {
            row.get(index)
                .is_none_or(|cell| cell.is_number() || cell.is_null())
        })
    };
    let aligns: Vec<Align> = (0..columns.len())
        .map(|index| {
            if numeric(index) {
                Align::Right
            } else {
                Align::Left
            }
        })
        .collect();
    let mut table = Table {
        headers: columns.to_vec(),
        aligns,
        rows: Vec::new(),
    };
    for row in rows {
        let cells = (0..columns.len())
            .map(|index| match row.get(index) {
                None | Some(serde_json::Value::Null) => "-".to_string(),
                Some(value) => value_text(value),
            })
            .collect();
        table.push(cells);
    }
    table
}

/// `581 B`, `12.3 KiB`, `4.0 GiB`: binary units, one decimal above bytes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_aligned_and_lines_have_no_trailing_spaces() {
        let mut table = Table::new(&[("NAME", Align::Left), ("COUNT", Align::Right)]);
        table.push(vec!["a".into(), "1".into()]);
        table.push(vec!["longer-name".into(), "12345".into()]);
        assert_eq!(
            table.render(Palette::PLAIN),
            "NAME         COUNT\na                1\nlonger-name  12345\n"
        );
        assert!(table
            .render(Palette::COLOURED)
            .starts_with("\x1b[1mNAME         COUNT\x1b[0m\n"));
    }

    #[test]
    fn partitions_show_their_retention_and_tags() {
        let partitions: Vec<Partition> = serde_json::from_str(
            r#"[{"id":"i1","name":"web","entry_count":7,"bytes":2048,"retention_days":30,"tags":{"env":"prod"}},
                {"id":"i2","name":"db","entry_count":0,"bytes":0,"retention_days":null,"tags":{}}]"#,
        )
        .unwrap();
        let text = partitions_table(&partitions).render(Palette::PLAIN);
        assert_eq!(
            text,
            "NAME  ID  ENTRIES    BYTES  RETENTION  TAGS\n\
             web   i1        7  2.0 KiB  30 days    env=prod\n\
             db    i2        0      0 B  forever\n"
        );
    }

    #[test]
    fn aggregation_rows_align_numbers_right() {
        let columns = vec!["level".to_string(), "count(*)".to_string()];
        let rows = vec![
            vec![serde_json::json!("error"), serde_json::json!(1200)],
            vec![serde_json::Value::Null, serde_json::json!(3)],
        ];
        assert_eq!(
            rows_table(&columns, &rows).render(Palette::PLAIN),
            "level  count(*)\nerror      1200\n-             3\n"
        );
    }

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
