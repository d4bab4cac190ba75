//! `--verify`: read a run's lines back from TimberDB and check each one.
//!
//! Every line of a verified run carries the run id (`lg_run`) and its line
//! index (`lg_seq`), so the check is exact: each acknowledged index must be
//! stored exactly once, and its level, source, message, tags and fields must
//! equal the line regenerated from the seed. Lines of refused requests may
//! or may not be stored (a refused request may have been partly written);
//! they are counted, not failed.

use std::fmt::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};

mod stored;

use stored::{StoredEntry, StoredValue};

use crate::http::Client;
use crate::line::{FieldValue, LogLine};
use crate::run::{Sent, RUN_TAG, SEQ_TAG};
use crate::timberdb;
use crate::units::thousands;
use crate::workload::LineSource;

/// Entries asked for per streamed read-back query: the server's default
/// `query.max_results` is 1,000,000, so half of it leaves room for a server
/// configured lower than the default without more pages than needed.
const PAGE_ENTRIES: u64 = 500_000;
/// How long to wait for the last acknowledged line to become queryable.
const VISIBILITY_DEADLINE: Duration = Duration::from_secs(30);
/// Problems described individually in the report.
const SAMPLES_MAX: usize = 10;

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Lines in acknowledged requests.
    pub acknowledged_lines: u64,
    /// Entries of this run found in the partition.
    pub found_entries: u64,
    /// Acknowledged lines not found.
    pub missing: u64,
    /// Lines stored more than once (extra copies counted once per line).
    pub duplicated: u64,
    /// Lines whose stored content differs from what was sent.
    pub altered: u64,
    /// Entries with this run's tag whose index was never sent.
    pub unexpected: u64,
    /// Lines of refused or unanswered requests that were stored anyway.
    pub unacknowledged_present: u64,
    /// When the line was first returned by a query: the query that found it
    /// started this long after the last acknowledgement (an upper bound on
    /// the visibility delay, since the line was visible when it ran)...
    pub last_line_found_by_query_started_ms: Option<f64>,
    /// ...and finished this long after it (the query's own time included).
    pub last_line_found_by_query_finished_ms: Option<f64>,
    /// Queries that did not find it before one did.
    pub visibility_polls_missed: u64,
    /// Time spent reading the run back.
    pub read_back_seconds: f64,
    pub samples: Vec<String>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.missing == 0 && self.duplicated == 0 && self.altered == 0 && self.unexpected == 0
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            out,
            "Verify      {verdict}: {} acknowledged lines, {} entries found, {} missing, {} duplicated, {} altered, {} unexpected",
            thousands(self.acknowledged_lines),
            thousands(self.found_entries),
            thousands(self.missing),
            thousands(self.duplicated),
            thousands(self.altered),
            thousands(self.unexpected),
        );
        if self.unacknowledged_present > 0 {
            let _ = writeln!(
                out,
                "            {} lines of refused requests were stored anyway (allowed)",
                thousands(self.unacknowledged_present)
            );
        }
        if let (Some(started), Some(finished)) = (
            self.last_line_found_by_query_started_ms,
            self.last_line_found_by_query_finished_ms,
        ) {
            let _ = writeln!(
                out,
                "            last acknowledged line found by a query started {started:.2} ms after its acknowledgement \
                 (answered after {finished:.2} ms; {} earlier queries missed it)",
                self.visibility_polls_missed
            );
        }
        let _ = writeln!(
            out,
            "            read back in {:.2} s",
            self.read_back_seconds
        );
        for sample in &self.samples {
            let _ = writeln!(out, "  {sample}");
        }
        out
    }
}

/// Reads the run back and checks it.
pub fn verify(
    client: &mut Client,
    partition: &str,
    run_id: &str,
    source: &LineSource,
    sent: &Sent,
) -> anyhow::Result<VerifyReport> {
    let mut report = VerifyReport::default();
    if let Some(found) = visibility(client, partition, run_id, sent)? {
        report.last_line_found_by_query_started_ms = Some(found.started_ms);
        report.last_line_found_by_query_finished_ms = Some(found.finished_ms);
        report.visibility_polls_missed = found.missed;
    }
    let started = Instant::now();
    let mut checker = Checker::new(source, sent);
    report.acknowledged_lines = checker.acknowledged_lines();
    read_back(client, partition, run_id, |entry, line| {
        checker.check(entry, line, &mut report)
    })?;
    checker.finish(&mut report);
    report.read_back_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn run_filter(partition: &str, run_id: &str) -> Value {
    json!({ "partitions": [partition], "filter": { "tags": { RUN_TAG: run_id } } })
}

/// When the query that first found the last acknowledged line ran.
struct Found {
    started_ms: f64,
    finished_ms: f64,
    missed: u64,
}

/// Polls for the last acknowledged line; `None` when nothing was
/// acknowledged.
fn visibility(
    client: &mut Client,
    partition: &str,
    run_id: &str,
    sent: &Sent,
) -> anyhow::Result<Option<Found>> {
    let Some((batch, acked_at)) = sent.last_ack else {
        return Ok(None);
    };
    let Some(last_index) = sent.lines_of(batch).last() else {
        return Ok(None);
    };
    let mut body = run_filter(partition, run_id);
    body["filter"]["tags"][SEQ_TAG] = json!(last_index.to_string());
    body["limit"] = json!(0);
    let mut missed = 0;
    loop {
        let started_ms = acked_at.elapsed().as_secs_f64() * 1000.0;
        let answer = timberdb::query(client, &body)?;
        if answer["total_count"].as_u64().unwrap_or(0) > 0 {
            let finished_ms = acked_at.elapsed().as_secs_f64() * 1000.0;
            return Ok(Some(Found {
                started_ms,
                finished_ms,
                missed,
            }));
        }
        missed += 1;
        if acked_at.elapsed() > VISIBILITY_DEADLINE {
            bail!("the last acknowledged line (index {last_index}) was not queryable after {VISIBILITY_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Pages through the run's entries in timestamp order by cursor: each
/// page continues strictly after the last one (the server's order is total,
/// so entries sharing a timestamp are neither missed nor read twice), and
/// costs the same however deep it is. Each page is an NDJSON stream that is
/// parsed and checked line by line as it arrives, so the server's work and
/// this check overlap instead of taking turns.
fn read_back(
    client: &mut Client,
    partition: &str,
    run_id: &str,
    mut each: impl FnMut(&StoredEntry, &[u8]),
) -> anyhow::Result<()> {
    let mut cursor: Option<String> = None;
    loop {
        let mut body = run_filter(partition, run_id);
        body["order"] = json!("asc");
        body["limit"] = json!(PAGE_ENTRIES);
        body["format"] = json!("ndjson");
        if let Some(cursor) = &cursor {
            body["cursor"] = json!(cursor);
        }
        let mut metadata = None;
        client.request_lines(
            "/api/v1/query/execute",
            "application/json",
            &serde_json::to_vec(&body)?,
            |line| {
                match line_kind(line) {
                    Line::Entry => {
                        let entry = StoredEntry::parse(line).with_context(|| {
                            format!(
                                "a read-back line is not an entry: {}",
                                String::from_utf8_lossy(line)
                            )
                        })?;
                        each(&entry, line);
                    }
                    Line::Metadata => metadata = Some(serde_json::from_slice::<Value>(line)?),
                    Line::Error => bail!(
                        "a read-back query failed: {}",
                        String::from_utf8_lossy(line)
                    ),
                }
                Ok(())
            },
        )?;
        let metadata = metadata.context("a read-back answer ended without its metadata line")?;
        let metadata = &metadata["metadata"];
        if metadata["timed_out"].as_bool() == Some(true) {
            // A timed-out page may leave out entries before its last one.
            bail!("a read-back query timed out; its page may be incomplete");
        }
        match &metadata["next"] {
            Value::Null => return Ok(()),
            Value::String(next) => cursor = Some(next.clone()),
            other => bail!("query answer with a `next` that is not a cursor: {other}"),
        }
    }
}

/// What a line of an NDJSON query answer is: the server writes its last
/// line (metadata, or an error) with that member first.
enum Line {
    Entry,
    Metadata,
    Error,
}

fn line_kind(line: &[u8]) -> Line {
    if line.starts_with(b"{\"metadata\"") {
        Line::Metadata
    } else if line.starts_with(b"{\"error\"") {
        Line::Error
    } else {
        Line::Entry
    }
}

/// Per-line bookkeeping of what was sent and what came back.
struct Checker<'a> {
    source: &'a LineSource,
    sent: &'a Sent,
    /// For each line index sent: 0 = not acknowledged, 1 = acknowledged.
    acknowledged: Vec<bool>,
    /// Copies found of each line index (saturating).
    found: Vec<u8>,
    expected: LogLine,
}

impl<'a> Checker<'a> {
    fn new(source: &'a LineSource, sent: &'a Sent) -> Checker<'a> {
        let lines_sent = sent.lines_of(sent.batches_sent.saturating_sub(1)).end as usize;
        let mut acknowledged = vec![false; lines_sent];
        for &batch in &sent.acknowledged {
            for index in sent.lines_of(batch) {
                acknowledged[index as usize] = true;
            }
        }
        Checker {
            source,
            sent,
            acknowledged,
            found: vec![0; lines_sent],
            expected: LogLine::new(),
        }
    }

    fn acknowledged_lines(&self) -> u64 {
        self.acknowledged.iter().filter(|&&a| a).count() as u64
    }

    /// Checks one stored entry; `line` is its JSON text, for the report.
    fn check(&mut self, entry: &StoredEntry, line: &[u8], report: &mut VerifyReport) {
        report.found_entries += 1;
        let index = entry.tag(SEQ_TAG).and_then(|s| s.parse::<u64>().ok());
        let Some(index) = index.filter(|&i| (i as usize) < self.found.len()) else {
            report.unexpected += 1;
            sample(
                report,
                format!("unexpected entry {}", String::from_utf8_lossy(line)),
            );
            return;
        };
        let copies = &mut self.found[index as usize];
        *copies = copies.saturating_add(1);
        if *copies == 2 {
            report.duplicated += 1;
            sample(
                report,
                format!(
                    "line {index} stored more than once (entry {})",
                    String::from_utf8_lossy(line)
                ),
            );
        }
        self.source.fill(index, &mut self.expected);
        if let Some(difference) = difference(&self.expected, entry) {
            report.altered += 1;
            sample(report, format!("line {index} altered: {difference}"));
        }
    }

    fn finish(&self, report: &mut VerifyReport) {
        for (index, (&acked, &copies)) in self.acknowledged.iter().zip(&self.found).enumerate() {
            match (acked, copies) {
                (true, 0) => {
                    report.missing += 1;
                    let batch = index as u64 / self.sent.batch;
                    sample(
                        report,
                        format!("line {index} (batch {batch}) was acknowledged but is missing"),
                    );
                }
                (false, n) if n > 0 => report.unacknowledged_present += 1,
                _ => {}
            }
        }
    }
}

fn sample(report: &mut VerifyReport, text: String) {
    if report.samples.len() < SAMPLES_MAX {
        report.samples.push(text);
    }
}

/// How a stored entry differs from the line sent, or `None`.
fn difference(expected: &LogLine, entry: &StoredEntry) -> Option<String> {
    let expect_str = |what: &str, want: &str, got: Option<&str>| {
        (got != Some(want)).then(|| format!("{what}: sent {want:?}, stored {got:?}"))
    };
    if let Some(d) = expect_str("level", expected.level.as_str(), entry.level.as_deref()) {
        return Some(d);
    }
    if let Some(d) = expect_str("source", &expected.source, Some(&entry.source)) {
        return Some(d);
    }
    if let Some(d) = expect_str("message", &expected.message, Some(&entry.message)) {
        return Some(d);
    }
    tag_difference(expected, entry).or_else(|| field_difference(expected, entry))
}

fn tag_difference(expected: &LogLine, entry: &StoredEntry) -> Option<String> {
    let stored = entry.tags.len();
    let mut count = 2; // lg_run and lg_seq
    for (key, value) in expected.tags() {
        count += 1;
        let got = entry.tag(key);
        if got != Some(value) {
            return Some(format!("tag {key}: sent {value:?}, stored {got:?}"));
        }
    }
    (stored != count).then(|| format!("{stored} tags stored, {count} sent: {:?}", entry.tags))
}

fn field_difference(expected: &LogLine, entry: &StoredEntry) -> Option<String> {
    let stored = entry.fields.len();
    let mut count = 0;
    for (key, value) in expected.fields() {
        count += 1;
        let got = entry.fields.get(key);
        let same = match (value, got) {
            (FieldValue::Int(v), Some(StoredValue::Int(g))) => v == *g,
            (FieldValue::Float(v), Some(StoredValue::Float(g))) => v == *g,
            // A float with an integral value may come back as an integer.
            (FieldValue::Float(v), Some(StoredValue::Int(g))) => v == *g as f64,
            (FieldValue::Str(v), Some(StoredValue::Str(g))) => v == g,
            _ => false,
        };
        if !same {
            return Some(format!("field {key}: stored {got:?}"));
        }
    }
    (stored != count).then(|| format!("{stored} fields stored, {count} sent: {:?}", entry.fields))
}
