//! `timberdb tail`: follow `GET /api/v1/tail`, printing each entry as its line arrives.
//!
//! The stream is NDJSON, one entry object per line. Other objects may appear between the
//! entries: `{"dropped": N}` when the server had to drop entries for this reader (it fell
//! behind), printed as a warning on stderr; `{"error": {...}}` when the server gives up,
//! which ends the command; anything else without `message` or `timestamp` (heartbeats) is
//! skipped. The command runs until interrupted; a stream the server ends is reported,
//! because a tail that stops silently looks exactly like a quiet system.

use serde_json::Value;

use super::answer::Entry;
use super::args::TailArgs;
use super::error::{ClientError, Result};
use super::output::{Stdout, Terminal};
use super::render::entry::{render_entry, EntryLayout};
use super::transport::{io_reason, percent_encode, Server};

/// One line of the tail stream, classified.
#[derive(Debug, PartialEq)]
pub enum TailLine {
    /// An entry (the line is printed as it is in NDJSON mode).
    Entry,
    /// The server dropped this many entries because the client read too slowly.
    Dropped(u64),
    /// The server ended the stream with an error.
    Error { code: String, message: String },
    /// A heartbeat, a blank line or another object without an entry's fields.
    Other,
}

/// Classifies one line of the stream (`value` is its parse, when it is JSON).
pub fn classify(value: Option<&Value>) -> TailLine {
    let Some(Value::Object(object)) = value else {
        return TailLine::Other;
    };
    if object.contains_key("message") || object.contains_key("timestamp") {
        return TailLine::Entry;
    }
    if let Some(dropped) = object.get("dropped").and_then(Value::as_u64) {
        return TailLine::Dropped(dropped);
    }
    if let Some(error) = object.get("error") {
        let text = |key: &str| {
            error
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        return TailLine::Error {
            code: text("code"),
            message: text("message"),
        };
    }
    TailLine::Other
}

/// The stream's path and query string: `/api/v1/tail?q=...&partitions=a,b&since=5m`.
pub fn tail_path(args: &TailArgs) -> String {
    let mut parameters = Vec::new();
    if let Some(query) = args
        .query
        .as_deref()
        .filter(|query| !query.trim().is_empty())
    {
        parameters.push(format!("q={}", percent_encode(query)));
    }
    if !args.partitions.is_empty() {
        let names: Vec<String> = args
            .partitions
            .iter()
            .map(|name| percent_encode(name))
            .collect();
        parameters.push(format!("partitions={}", names.join(",")));
    }
    if let Some(since) = &args.since {
        parameters.push(format!("since={}", percent_encode(since)));
    }
    if parameters.is_empty() {
        "/api/v1/tail".to_string()
    } else {
        format!("/api/v1/tail?{}", parameters.join("&"))
    }
}

pub fn run(args: &TailArgs, server: &Server, terminal: &Terminal) -> Result<()> {
    let mut stream = server.get_stream(&tail_path(args))?;
    let pretty = terminal.stdout_is_terminal && !args.ndjson;
    let palette = terminal.palette(args.display.no_color);
    // Several partitions (or all of them) can interleave: show which one each entry is from.
    let mut layout = EntryLayout::new(args.display.utc, args.partitions.len() != 1);
    let mut stdout = Stdout::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = stream
            .read_line(&mut line)
            .map_err(|error| ClientError::ConnectionLost {
                url: server.url().to_string(),
                reason: io_reason(&error),
            })?;
        if read == 0 {
            return Err(ClientError::StreamEnded {
                url: server.url().to_string(),
                reason: " (was it stopped?)".to_string(),
            });
        }
        let text = line.trim_end();
        let value: Option<Value> = serde_json::from_str(text).ok();
        match classify(value.as_ref()) {
            TailLine::Entry if pretty => {
                let entry: Entry = value
                    .and_then(|value| serde_json::from_value(value).ok())
                    .unwrap_or_default();
                layout.fit([&entry]);
                let mut rendered = String::new();
                render_entry(&entry, &layout, palette, &mut rendered);
                stdout.write(&rendered)?;
            }
            TailLine::Entry => stdout.line(text)?,
            TailLine::Dropped(count) => {
                stdout.flush()?;
                eprintln!("timberdb: the server dropped {count} entries: this tail read more slowly than they arrived");
            }
            TailLine::Error { code, message } => {
                stdout.flush()?;
                return Err(ClientError::StreamFailed { code, message });
            }
            TailLine::Other => continue,
        }
        // Each entry is shown as soon as it arrives, also through a pipe.
        stdout.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_are_entries_drops_errors_or_noise() {
        let entry = json!({"timestamp": "2026-01-01T00:00:00Z", "message": "m"});
        assert_eq!(classify(Some(&entry)), TailLine::Entry);
        assert_eq!(
            classify(Some(&json!({"message": "no time"}))),
            TailLine::Entry
        );
        assert_eq!(
            classify(Some(&json!({"dropped": 12}))),
            TailLine::Dropped(12)
        );
        assert_eq!(
            classify(Some(
                &json!({"error": {"code": "shutting_down", "message": "bye"}})
            )),
            TailLine::Error {
                code: "shutting_down".into(),
                message: "bye".into()
            }
        );
        assert_eq!(classify(Some(&json!({"heartbeat": 1}))), TailLine::Other);
        assert_eq!(classify(Some(&json!([1]))), TailLine::Other);
        assert_eq!(classify(None), TailLine::Other);
    }

    fn tail_args(args: &[&str]) -> TailArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Probe {
            #[command(subcommand)]
            command: crate::client::args::ClientSubcommand,
        }
        let argv = ["timberdb", "tail"].iter().chain(args.iter());
        match Probe::try_parse_from(argv).expect("valid").command {
            crate::client::args::ClientSubcommand::Tail(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_path_carries_query_partitions_and_since() {
        assert_eq!(tail_path(&tail_args(&[])), "/api/v1/tail");
        assert_eq!(
            tail_path(&tail_args(&[
                "source:web-* level:error",
                "-p",
                "a",
                "--partition",
                "b.c",
                "--since",
                "5m"
            ])),
            "/api/v1/tail?q=source%3Aweb-%2A%20level%3Aerror&partitions=a,b.c&since=5m"
        );
    }
}
