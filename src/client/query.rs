//! `timberdb query`: one query, fetched page by page, printed for a person or a program.
//!
//! Output modes: on a terminal, aligned coloured lines through the pager; piped (or
//! `--ndjson`), each entry's JSON object on its own line, as the API wrote it; with
//! `--json`, each page's whole answer on its own line. `--count` asks for `limit: 0`, which
//! the server counts exactly (often from block directories, without reading entries).
//!
//! Paging: a page asks for at most [`PAGE_ENTRIES_MAX`] entries; while the answer carries a
//! non-null `next` cursor and fewer entries than `--limit` have arrived, the same request is
//! sent again with `cursor`. A server without cursors (no `next` field) answers one page.

use serde_json::{json, Value};

use super::answer::{Entry, QueryPage};
use super::args::QueryArgs;
use super::error::{ClientError, Result};
use super::output::{Stdout, Terminal};
use super::render::entry::{render_entry, EntryLayout};
use super::render::stats::{grouped, QueryTotals};
use super::render::style::{Palette, DIM};
use super::render::table::rows_table;
use super::timespec::now_ns;
use super::transport::Server;

/// Most entries asked for in one request: bounds the client's and the server's memory per
/// page (a page of typical entries is a few MiB of JSON) when `--limit` is large.
pub const PAGE_ENTRIES_MAX: usize = 10_000;

/// The query route (the seed code's alias of `/api/v1/query/execute`, as the brief names it).
const QUERY_PATH: &str = "/api/v1/query";

/// How the entries are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Aligned, coloured lines for a person.
    Pretty,
    /// One API entry object per line.
    Ndjson,
    /// Each page's whole JSON answer on one line.
    Json,
}

impl Mode {
    pub fn choose(args: &QueryArgs, stdout_is_terminal: bool) -> Mode {
        if args.json {
            Mode::Json
        } else if args.ndjson || !stdout_is_terminal {
            Mode::Ndjson
        } else {
            Mode::Pretty
        }
    }
}

pub fn run(args: &QueryArgs, server: &Server, terminal: &Terminal) -> Result<()> {
    let mode = Mode::choose(args, terminal.stdout_is_terminal);
    let now = now_ns();
    if args.count {
        return run_count(args, server, mode, now);
    }
    let palette = terminal.palette(args.display.no_color);
    let mut printer = Printer::new(mode, server.url(), palette, args.display.utc);
    let mut totals = QueryTotals::default();
    let end = for_each_page(
        args.limit,
        server.url(),
        |limit, cursor| {
            let body = request_body(args, now, limit, cursor);
            Ok(server.post_json(QUERY_PATH, &body)?.body)
        },
        |body, page| {
            let returned = printer.page(body, page)?;
            totals.add(page, returned);
            Ok(())
        },
    )?;
    printer.finish(&totals, args, terminal)?;
    if end == PagingEnd::NoCursors {
        eprintln!(
            "timberdb: printed the first {} entries; this server cannot page further (no cursors): narrow the query, e.g. with --since and --until",
            grouped(totals.returned)
        );
    }
    if args.stats {
        eprint!("{}", totals.render());
    }
    Ok(())
}

/// `--count`: the exact number of matching entries.
fn run_count(args: &QueryArgs, server: &Server, mode: Mode, now: i64) -> Result<()> {
    let answer = server.post_json(QUERY_PATH, &request_body(args, now, 0, None))?;
    let page = parse_page(&answer.body, server.url())?;
    let mut stdout = Stdout::new();
    if mode == Mode::Json {
        stdout.line(answer.body.trim_end())?;
    } else {
        let count = page.total_count.ok_or_else(|| ClientError::BadAnswer {
            url: server.url().to_string(),
            reason: "the query answer has no total_count".to_string(),
        })?;
        stdout.line(&count.to_string())?;
    }
    stdout.flush()?;
    if page.total_count_exact == Some(false) || page.timed_out {
        eprintln!(
            "timberdb: the count is a lower bound: the query timed out before it read every block"
        );
    }
    if args.stats {
        let mut totals = QueryTotals::default();
        totals.add(&page, 0);
        eprint!("{}", totals.render());
    }
    Ok(())
}

/// The JSON body of one page's request.
pub fn request_body(args: &QueryArgs, now_ns: i64, limit: usize, cursor: Option<&str>) -> String {
    let mut body = json!({ "limit": limit });
    if let Some(query) = args
        .query
        .as_deref()
        .filter(|query| !query.trim().is_empty())
    {
        body["q"] = json!(query);
    }
    if !args.partitions.is_empty() {
        body["partitions"] = json!(args.partitions);
    }
    if args.asc {
        body["order"] = json!("asc");
    }
    if args.since.is_some() || args.until.is_some() {
        let start = args.since.map(|bound| bound.resolve(now_ns));
        let end = args.until.map(|bound| bound.resolve(now_ns));
        body["filter"] = json!({ "time_range": { "start": start, "end": end } });
    }
    if let Some(cursor) = cursor {
        body["cursor"] = json!(cursor);
    }
    body.to_string()
}

/// Why the pages stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingEnd {
    /// The limit was reached or the server said this was the last page.
    Done,
    /// More was asked for and more matches exist, but the server has no cursors to page with.
    NoCursors,
}

/// Fetches pages until `limit` entries have arrived or the server has no more, handing each
/// answer (its text and its parse) to `on_page`. `fetch(limit, cursor)` returns one answer's
/// body. Transport-free, so the paging rules are unit-tested.
pub fn for_each_page(
    limit: usize,
    url: &str,
    mut fetch: impl FnMut(usize, Option<&str>) -> Result<String>,
    mut on_page: impl FnMut(&str, &QueryPage) -> Result<()>,
) -> Result<PagingEnd> {
    let mut received = 0usize;
    let mut cursor: Option<String> = None;
    loop {
        let page_limit = (limit - received).min(PAGE_ENTRIES_MAX);
        let body = fetch(page_limit, cursor.as_deref())?;
        let page = parse_page(&body, url)?;
        on_page(&body, &page)?;
        let got = page.entries.len();
        received += got;
        let more_wanted = received < limit && got > 0;
        match page.next {
            Some(Some(next)) if more_wanted && page.columns.is_none() => cursor = Some(next),
            None if more_wanted && page.truncated && got == page_limit => {
                return Ok(PagingEnd::NoCursors)
            }
            _ => return Ok(PagingEnd::Done),
        }
    }
}

fn parse_page<'a>(body: &'a str, url: &str) -> Result<QueryPage<'a>> {
    serde_json::from_str(body).map_err(|error| ClientError::BadAnswer {
        url: url.to_string(),
        reason: format!("the query answer is not the API's JSON ({error})"),
    })
}

/// Prints pages in one [`Mode`]: JSON and NDJSON as they arrive, pretty text once all have
/// (so its columns fit every entry and the pager sees the whole answer).
struct Printer {
    mode: Mode,
    /// The server's URL, for errors.
    url: String,
    palette: Palette,
    utc: bool,
    stdout: Stdout,
    entries: Vec<Entry>,
    /// Aggregation answers: their columns and rows.
    table: Option<(Vec<String>, Vec<Vec<Value>>)>,
}

impl Printer {
    fn new(mode: Mode, url: &str, palette: Palette, utc: bool) -> Printer {
        Printer {
            mode,
            url: url.to_string(),
            palette,
            utc,
            stdout: Stdout::new(),
            entries: Vec::new(),
            table: None,
        }
    }

    /// Prints or keeps one page; returns how many entries (or rows) it held.
    fn page(&mut self, body: &str, page: &QueryPage) -> Result<u64> {
        let returned = page.entries.len() + page.rows.len();
        match (self.mode, &page.columns) {
            (Mode::Json, _) => self.stdout.line(body.trim_end())?,
            (Mode::Ndjson, None) => {
                for entry in &page.entries {
                    self.stdout.line(entry.get())?;
                }
            }
            (Mode::Ndjson, Some(columns)) => {
                for row in &page.rows {
                    self.stdout.line(&row_object(columns, row))?;
                }
            }
            (Mode::Pretty, None) => {
                for raw in &page.entries {
                    let entry = serde_json::from_str(raw.get()).map_err(|error| {
                        ClientError::BadAnswer {
                            url: self.url.clone(),
                            reason: format!("an entry is not the API's entry object ({error})"),
                        }
                    })?;
                    self.entries.push(entry);
                }
            }
            (Mode::Pretty, Some(columns)) => {
                self.table = Some((columns.clone(), page.rows.clone()));
            }
        }
        Ok(returned as u64)
    }

    fn finish(mut self, totals: &QueryTotals, args: &QueryArgs, terminal: &Terminal) -> Result<()> {
        if self.mode != Mode::Pretty {
            return self.stdout.flush();
        }
        let text = match &self.table {
            Some((columns, rows)) => rows_table(columns, rows).render(self.palette),
            None => self.pretty_entries(totals, args),
        };
        terminal.show(&text, !args.no_pager)
    }

    fn pretty_entries(&mut self, totals: &QueryTotals, args: &QueryArgs) -> String {
        let partitions: std::collections::BTreeSet<&str> = self
            .entries
            .iter()
            .map(|entry| entry.partition.as_str())
            .collect();
        let mut layout = EntryLayout::new(self.utc, partitions.len() > 1);
        layout.fit(&self.entries);
        let mut text = String::new();
        for entry in &self.entries {
            render_entry(entry, &layout, self.palette, &mut text);
        }
        if let Some(footer) = footer(totals, args) {
            self.palette.paint(DIM, &footer, &mut text);
            text.push('\n');
        }
        text
    }
}

/// The line under a pretty answer: that nothing matched, or that more did than is shown.
fn footer(totals: &QueryTotals, args: &QueryArgs) -> Option<String> {
    let order = if args.asc {
        "oldest first"
    } else {
        "newest first"
    };
    match totals.total_count {
        _ if totals.returned == 0 && totals.total_count.unwrap_or(0) == 0 => {
            Some("no entries match".to_string())
        }
        Some(total) if total > totals.returned => {
            let at_least = if totals.total_count_exact {
                ""
            } else {
                "at least "
            };
            Some(format!(
                "{} of {at_least}{} matching entries, {order}; see more with --limit, --since or --until",
                grouped(totals.returned),
                grouped(total)
            ))
        }
        _ => None,
    }
}

/// An aggregation row as a JSON object, keys in the columns' order.
pub fn row_object(columns: &[String], row: &[Value]) -> String {
    let mut object = String::from("{");
    for (index, column) in columns.iter().enumerate() {
        if index > 0 {
            object.push(',');
        }
        object.push_str(&Value::from(column.as_str()).to_string());
        object.push(':');
        object.push_str(&row.get(index).unwrap_or(&Value::Null).to_string());
    }
    object.push('}');
    object
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
