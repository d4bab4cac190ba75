//! `--stats`: how a query ran, summed over its pages, printed on stderr so it never mixes
//! with the entries on stdout.
//!
//! ```text
//! execution time    1.84 ms (1 page)
//! matching entries  4 560 (exact), 100 returned
//! shards            2
//! blocks            5 scanned, 3 skipped (time 1, level 0, sets 2, words 0), 0 not read after the limit, 0 counted unread
//! granules          4 scanned, 1 skipped, 0 counted unread
//! entries scanned   12 345
//! ```

use serde_json::Value;

use crate::client::answer::QueryPage;

/// What the pages of one query said about how it ran.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct QueryTotals {
    pub pages: u64,
    pub execution_time_ms: f64,
    pub returned: u64,
    /// The first page's `total_count` (later pages count from their cursor on).
    pub total_count: Option<u64>,
    pub total_count_exact: bool,
    pub timed_out: bool,
    /// `stats` numbers summed over pages (nested objects flattened to `a.b`), `shards` the
    /// largest seen.
    pub stats: Vec<(String, u64)>,
}

impl QueryTotals {
    /// Adds one page; `returned` is the entries (or rows) it carried.
    pub fn add(&mut self, page: &QueryPage, returned: u64) {
        if self.pages == 0 {
            self.total_count = page.total_count;
            self.total_count_exact = page.total_count_exact.unwrap_or(true);
        }
        self.pages += 1;
        self.execution_time_ms += page.execution_time_ms.unwrap_or(0.0);
        self.returned += returned;
        self.timed_out |= page.timed_out;
        if let Some(stats) = &page.stats {
            self.add_stats("", stats);
        }
    }

    fn add_stats(&mut self, prefix: &str, value: &Value) {
        let Value::Object(map) = value else { return };
        for (key, value) in map {
            let name = format!("{prefix}{key}");
            match value {
                Value::Object(_) => self.add_stats(&format!("{name}."), value),
                Value::Number(number) => {
                    let number = number.as_u64().unwrap_or(0);
                    match self.stats.iter_mut().find(|(known, _)| *known == name) {
                        Some((_, total)) if name == "shards" => *total = (*total).max(number),
                        Some((_, total)) => *total += number,
                        None => self.stats.push((name, number)),
                    }
                }
                _ => {}
            }
        }
    }

    fn stat(&self, name: &str) -> u64 {
        self.stats
            .iter()
            .find(|(known, _)| known == name)
            .map_or(0, |(_, value)| *value)
    }

    /// The report, one aligned line per aspect.
    pub fn render(&self) -> String {
        let pages = if self.pages == 1 { "page" } else { "pages" };
        let mut lines = vec![(
            "execution time",
            format!(
                "{:.2} ms ({} {pages}){}",
                self.execution_time_ms,
                self.pages,
                if self.timed_out { ", timed out" } else { "" }
            ),
        )];
        let matching = match self.total_count {
            Some(count) if self.total_count_exact => format!("{} (exact)", grouped(count)),
            Some(count) => format!("at least {} (counting stopped early)", grouped(count)),
            None => "unknown".to_string(),
        };
        lines.push((
            "matching entries",
            format!("{matching}, {} returned", grouped(self.returned)),
        ));
        lines.push(("shards", self.stat("shards").to_string()));
        lines.push(("blocks", self.blocks_line()));
        lines.push((
            "granules",
            format!(
                "{} scanned, {} skipped, {} counted unread",
                grouped(self.stat("granules_scanned")),
                grouped(self.pruned("granules_pruned")),
                grouped(self.stat("granules_counted_unread")),
            ),
        ));
        lines.push(("entries scanned", grouped(self.stat("entries_scanned"))));
        let mut out = String::new();
        for (label, value) in lines {
            out.push_str(&format!("{label:<17} {value}\n"));
        }
        out
    }

    fn blocks_line(&self) -> String {
        let stages: Vec<String> = ["time", "level", "sets", "words"]
            .iter()
            .map(|stage| format!("{stage} {}", self.stat(&format!("blocks_pruned.{stage}"))))
            .collect();
        format!(
            "{} scanned, {} skipped ({}), {} not read after the limit, {} counted unread",
            grouped(self.stat("blocks_scanned")),
            grouped(self.stat("blocks_skipped")),
            stages.join(", "),
            grouped(self.stat("blocks_not_read_after_limit")),
            grouped(self.stat("blocks_counted_unread")),
        )
    }

    fn pruned(&self, group: &str) -> u64 {
        ["time", "level", "sets", "words"]
            .iter()
            .map(|stage| self.stat(&format!("{group}.{stage}")))
            .sum()
    }
}

/// `12345678` as `12 345 678`, easier to read at a glance in a report.
pub fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> QueryPage<'_> {
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn pages_are_summed_and_the_first_count_kept() {
        let first = r#"{"entries":[],"total_count":4560,"total_count_exact":true,"execution_time_ms":1.5,
            "stats":{"shards":2,"blocks_scanned":5,"blocks_skipped":3,"entries_scanned":12000,
                     "blocks_pruned":{"time":1,"level":0,"sets":2,"words":0},
                     "granules_scanned":4,"granules_pruned":{"time":0,"level":1,"sets":0,"words":0}}}"#;
        let second = r#"{"entries":[],"total_count":60,"execution_time_ms":0.25,
            "stats":{"shards":2,"blocks_scanned":1,"entries_scanned":345}}"#;
        let mut totals = QueryTotals::default();
        totals.add(&page(first), 100);
        totals.add(&page(second), 60);
        assert_eq!(
            totals.render(),
            "execution time    1.75 ms (2 pages)\n\
             matching entries  4 560 (exact), 160 returned\n\
             shards            2\n\
             blocks            6 scanned, 3 skipped (time 1, level 0, sets 2, words 0), 0 not read after the limit, 0 counted unread\n\
             granules          4 scanned, 1 skipped, 0 counted unread\n\
             entries scanned   12 345\n"
        );
    }

    #[test]
    fn a_lower_bound_and_a_timeout_are_said() {
        let mut totals = QueryTotals::default();
        totals.add(
            &page(r#"{"total_count":7,"total_count_exact":false,"timed_out":true}"#),
            7,
        );
        let text = totals.render();
        assert!(
            text.contains("at least 7 (counting stopped early)"),
            "{text}"
        );
        assert!(text.contains("(1 page), timed out"), "{text}");
    }

    #[test]
    fn digits_are_grouped_by_three() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1 000");
        assert_eq!(grouped(12_345_678), "12 345 678");
    }
}
