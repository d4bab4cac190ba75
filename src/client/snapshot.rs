//! `timberdb snapshot [create [NAME] | ls | rm NAME]`: the snapshot routes under
//! `/api/v1/admin/snapshots`.
//!
//! On a terminal: one sentence, or a table; piped: the server's JSON as it is.

use serde_json::json;

use super::answer::{Snapshot, SnapshotList};
use super::args::{SnapshotAction, SnapshotArgs};
use super::error::Result;
use super::output::{Stdout, Terminal};
use super::partitions::{parse, print_json};
use super::render::table::{human_bytes, snapshots_table};
use super::transport::{percent_encode, Server};

const SNAPSHOTS_PATH: &str = "/api/v1/admin/snapshots";

pub fn run(args: &SnapshotArgs, server: &Server, terminal: &Terminal) -> Result<()> {
    let default_action = SnapshotAction::Create { name: None };
    match args.action.as_ref().unwrap_or(&default_action) {
        SnapshotAction::Create { name } => create(server, terminal, name.as_deref()),
        SnapshotAction::Ls { json } => list(server, terminal, *json, args.no_color),
        SnapshotAction::Rm { name } => remove(server, terminal, name),
    }
}

/// The request body of a create: the name when one is given.
pub fn create_body(name: Option<&str>) -> String {
    match name {
        Some(name) => json!({ "name": name }).to_string(),
        None => "{}".to_string(),
    }
}

fn create(server: &Server, terminal: &Terminal, name: Option<&str>) -> Result<()> {
    let answer = server.post_json(SNAPSHOTS_PATH, &create_body(name))?;
    if !terminal.stdout_is_terminal {
        return print_json(&answer.body);
    }
    let snapshot: Snapshot = parse(&answer.body, server, "created snapshot")?;
    print(&created_sentence(&snapshot))
}

/// `created snapshot NAME in PATH: 3 partitions, 12 files, 4.2 MiB`.
pub fn created_sentence(snapshot: &Snapshot) -> String {
    format!(
        "created snapshot {} in {}: {}, {}, {}",
        snapshot.name,
        snapshot.path,
        counted(snapshot.partition_count(), "partition"),
        counted(snapshot.files, "file"),
        human_bytes(snapshot.bytes)
    )
}

/// `1 partition`, `3 partitions`.
fn counted(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn list(server: &Server, terminal: &Terminal, json: bool, no_color: bool) -> Result<()> {
    let answer = server.get(SNAPSHOTS_PATH)?;
    if json || !terminal.stdout_is_terminal {
        return print_json(&answer.body);
    }
    let list: SnapshotList = parse(&answer.body, server, "snapshot list")?;
    if list.snapshots.is_empty() {
        return print("no snapshots; take one with: timberdb snapshot create");
    }
    let text = snapshots_table(&list.snapshots).render(terminal.palette(no_color));
    terminal.show(&text, true)
}

fn remove(server: &Server, terminal: &Terminal, name: &str) -> Result<()> {
    let path = format!("{SNAPSHOTS_PATH}/{}", percent_encode(name));
    let answer = server.delete(&path)?;
    if !terminal.stdout_is_terminal {
        return print_json(&answer.body);
    }
    print(&format!("deleted snapshot {name}"))
}

fn print(text: &str) -> Result<()> {
    let mut stdout = Stdout::new();
    stdout.line(text)?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_names_the_snapshot_only_when_asked() {
        assert_eq!(create_body(None), "{}");
        assert_eq!(
            create_body(Some("before-upgrade")),
            r#"{"name":"before-upgrade"}"#
        );
    }

    #[test]
    fn the_created_sentence_says_where_and_how_much() {
        let snapshot: Snapshot = serde_json::from_str(
            r#"{"name":"s1","created_at":"2026-12-03T12:00:00Z","path":"/data/snapshots/s1",
                "partitions":2,"files":9,"bytes":3145728}"#,
        )
        .unwrap();
        assert_eq!(
            created_sentence(&snapshot),
            "created snapshot s1 in /data/snapshots/s1: 2 partitions, 9 files, 3.0 MiB"
        );
        let one: Snapshot = serde_json::from_str(
            r#"{"name":"s2","path":"/p","partitions":1,"files":1,"bytes":10}"#,
        )
        .unwrap();
        assert_eq!(
            created_sentence(&one),
            "created snapshot s2 in /p: 1 partition, 1 file, 10 B"
        );
    }
}
