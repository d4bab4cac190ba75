//! `timberdb partitions ls | create | rm`: the partition routes of docs/API.md.
//!
//! On a terminal the answers are a table or one sentence; piped, the server's JSON as it is,
//! for `jq`. Deleting asks first, on a terminal, naming how many entries go with the
//! partition; without a terminal to ask on, it needs `--yes`.

use std::io::Write;

use serde_json::json;

use super::answer::{Partition, PartitionList};
use super::args::{PartitionsAction, PartitionsArgs};
use super::error::{ClientError, Result};
use super::output::{Stdout, Terminal};
use super::render::stats::grouped;
use super::render::table::{human_bytes, partitions_table};
use super::transport::{percent_encode, Server};

pub fn run(args: &PartitionsArgs, server: &Server, terminal: &Terminal) -> Result<()> {
    match &args.action {
        PartitionsAction::Ls { json } => list(server, terminal, *json, args.no_color),
        PartitionsAction::Create {
            name,
            retention_days,
            tags,
        } => create(server, terminal, name, *retention_days, tags),
        PartitionsAction::Rm { name, yes } => remove(server, terminal, name, *yes),
    }
}

fn list(server: &Server, terminal: &Terminal, json: bool, no_color: bool) -> Result<()> {
    let answer = server.get("/api/v1/partitions")?;
    if json || !terminal.stdout_is_terminal {
        return print_json(&answer.body);
    }
    let list: PartitionList = parse(&answer.body, server, "partition list")?;
    if list.partitions.is_empty() {
        return print_line("no partitions; create one with: timberdb partitions create NAME");
    }
    let text = partitions_table(&list.partitions).render(terminal.palette(no_color));
    terminal.show(&text, true)
}

fn create(
    server: &Server,
    terminal: &Terminal,
    name: &str,
    retention_days: Option<u32>,
    tags: &[(String, String)],
) -> Result<()> {
    let mut body = json!({ "name": name });
    if let Some(days) = retention_days {
        body["retention_days"] = json!(days);
    }
    if !tags.is_empty() {
        let tags: serde_json::Map<String, serde_json::Value> = tags
            .iter()
            .map(|(key, value)| (key.clone(), json!(value)))
            .collect();
        body["tags"] = serde_json::Value::Object(tags);
    }
    let answer = server.post_json("/api/v1/partitions/create", &body.to_string())?;
    if !terminal.stdout_is_terminal {
        return print_json(&answer.body);
    }
    let partition: Partition = parse(&answer.body, server, "created partition")?;
    print_line(&format!(
        "created partition {} (id {})",
        partition.name, partition.id
    ))
}

fn remove(server: &Server, terminal: &Terminal, name: &str, yes: bool) -> Result<()> {
    let path = format!("/api/v1/partitions/{}", percent_encode(name));
    if !yes {
        if !terminal.stdin_is_terminal {
            return Err(ClientError::Usage(format!(
                "refusing to delete partition {name:?} without --yes: there is no terminal to confirm on"
            )));
        }
        // Also checks that it exists before asking.
        let answer = server.get(&path)?;
        let partition: Partition = parse(&answer.body, server, "partition")?;
        let question = format!(
            "Delete partition {} (id {}) and its {} entries ({})? [y/N] ",
            partition.name,
            partition.id,
            grouped(partition.entry_count),
            human_bytes(partition.bytes)
        );
        if !ask(&question)? {
            return Err(ClientError::Declined(format!(
                "partition {name:?} was not deleted"
            )));
        }
    }
    let answer = server.delete(&path)?;
    if !terminal.stdout_is_terminal {
        return print_json(&answer.body);
    }
    let deleted: serde_json::Value = parse(&answer.body, server, "delete answer")?;
    let text = |key: &str| {
        deleted
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string()
    };
    print_line(&format!(
        "deleted partition {} (id {})",
        text("name"),
        text("id")
    ))
}

/// Asks `question` on stderr and reads the answer from stdin: yes only for `y` or `yes`.
pub fn ask(question: &str) -> Result<bool> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(ClientError::Output)?;
    Ok(is_yes(&answer))
}

/// Whether a typed answer means yes.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Prints a server answer's JSON text as one line.
pub fn print_json(body: &str) -> Result<()> {
    print_line(body.trim_end())
}

fn print_line(text: &str) -> Result<()> {
    let mut stdout = Stdout::new();
    stdout.line(text)?;
    stdout.flush()
}

/// Parses a 2xx answer, or says it is not what the API documents.
pub fn parse<'a, T: serde::Deserialize<'a>>(
    body: &'a str,
    server: &Server,
    what: &str,
) -> Result<T> {
    serde_json::from_str(body).map_err(|error| ClientError::BadAnswer {
        url: server.url().to_string(),
        reason: format!("the {what} is not the API's JSON ({error})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_or_yes_confirms() {
        for yes in ["y\n", "Y", " yes \n", "YES"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "sure"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
