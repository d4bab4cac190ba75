//! The client subcommands on a real pseudo-terminal, as a person sees them: aligned,
//! coloured lines, level colours by severity, `--no-color` and `NO_COLOR`, local time and
//! `--utc`, the pager for long answers, the partitions table and the delete confirmation.

mod common;

use common::cli::{client_command, run_on_terminal, strip_ansi};
use common::Server;
use serde_json::json;

/// 2025-12-03T10:00:00Z in nanoseconds.
const BASE_NS: i64 = 1_764_756_000_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;

/// A server with partition `app`: an info, a warn and an error entry, a second apart, from
/// sources of different lengths.
fn server_with_levels() -> Server {
    let server = Server::start();
    server.create_partition("app");
    let entries = [
        json!({"timestamp": BASE_NS, "level": "info", "source": "web-1", "message": "started", "tags": {"region": "eu"}}),
        json!({"timestamp": BASE_NS + SECOND_NS, "level": "warn", "source": "api-gateway", "message": "slow upstream"}),
        json!({"timestamp": BASE_NS + 2 * SECOND_NS, "level": "error", "source": "db", "message": "connection reset"}),
    ];
    assert_eq!(server.ingest_ndjson("app", &entries).status, 200);
    server
}

#[test]
fn entries_are_aligned_and_levels_coloured_by_severity() {
    let server = server_with_levels();
    let run = run_on_terminal(
        client_command(&server.addr, &["query", "--utc", "--no-pager"]),
        40,
        120,
        "",
    );
    assert!(run.status.success(), "{}", run.screen);
    let screen = &run.screen;
    assert!(screen.contains("\x1b[31mERROR\x1b[0m"), "{screen:?}");
    assert!(screen.contains("\x1b[33mWARN\x1b[0m"), "{screen:?}");
    assert!(screen.contains("\x1b[32mINFO\x1b[0m"), "{screen:?}");
    assert!(
        screen.contains("\x1b[2m2025-12-03 10:00:02.000Z\x1b[0m"),
        "{screen:?}"
    );
    assert!(screen.contains("\x1b[36mapi-gateway\x1b[0m"), "{screen:?}");

    let lines: Vec<String> = run.lines().iter().map(|line| strip_ansi(line)).collect();
    assert_eq!(
        lines,
        [
            "2025-12-03 10:00:02.000Z ERROR db          connection reset",
            "2025-12-03 10:00:01.000Z WARN  api-gateway slow upstream",
            "2025-12-03 10:00:00.000Z INFO  web-1       started  region=eu",
        ]
    );
}

#[test]
fn no_color_and_the_no_color_variable_turn_colours_off() {
    let server = server_with_levels();
    let plain = run_on_terminal(
        client_command(
            &server.addr,
            &["query", "--utc", "--no-pager", "--no-color"],
        ),
        40,
        120,
        "",
    );
    assert!(plain.status.success(), "{}", plain.screen);
    assert!(!plain.screen.contains('\x1b'), "{:?}", plain.screen);
    assert!(plain.screen.contains("ERROR db          connection reset"));

    let mut command = client_command(&server.addr, &["query", "--utc", "--no-pager"]);
    command.env("NO_COLOR", "1");
    let run = run_on_terminal(command, 40, 120, "");
    assert!(!run.screen.contains('\x1b'), "{:?}", run.screen);
    assert_eq!(run.screen, plain.screen);

    // NO_COLOR set but empty does not count (no-color.org).
    let mut command = client_command(&server.addr, &["query", "--utc", "--no-pager"]);
    command.env("NO_COLOR", "");
    assert!(run_on_terminal(command, 40, 120, "")
        .screen
        .contains("\x1b[31mERROR"));
}

#[test]
fn times_are_local_unless_utc_is_asked_for() {
    let server = server_with_levels();
    // POSIX TZ: five and a half hours east of UTC, no tz database needed.
    let mut command = client_command(&server.addr, &["query", "--no-pager", "-n", "1"]);
    command.env("TZ", "IST-5:30");
    let local = run_on_terminal(command, 40, 120, "");
    assert!(local.status.success(), "{}", local.screen);
    let line = strip_ansi(&local.lines()[0]);
    assert!(line.starts_with("2025-12-03 15:30:02.000 ERROR"), "{line}");

    let mut command = client_command(&server.addr, &["query", "--no-pager", "-n", "1", "--utc"]);
    command.env("TZ", "IST-5:30");
    let utc = run_on_terminal(command, 40, 120, "");
    let line = strip_ansi(&utc.lines()[0]);
    assert!(line.starts_with("2025-12-03 10:00:02.000Z ERROR"), "{line}");
}

#[test]
fn a_long_answer_goes_through_the_pager_and_a_short_one_does_not() {
    let server = server_with_levels();
    let dir = tempfile::tempdir().unwrap();
    let paged = dir.path().join("paged.txt");
    let pager = format!("tee {}", paged.display());

    // Three entries on a 10-row screen: printed directly.
    let mut command = client_command(&server.addr, &["query"]);
    command.env("PAGER", &pager);
    let run = run_on_terminal(command, 10, 120, "");
    assert!(run.status.success(), "{}", run.screen);
    assert!(!paged.exists(), "a short answer needs no pager");

    // Three entries on a 3-row screen: through the pager, colours and all.
    let mut command = client_command(&server.addr, &["query", "--utc"]);
    command.env("PAGER", &pager);
    let run = run_on_terminal(command, 3, 120, "");
    assert!(run.status.success(), "{}", run.screen);
    let text = std::fs::read_to_string(&paged).expect("the pager received the answer");
    assert!(text.contains("\x1b[31mERROR\x1b[0m"), "{text:?}");
    assert_eq!(strip_ansi(&text).lines().count(), 3);

    // --no-pager, or a pager that does not exist: printed directly.
    std::fs::remove_file(&paged).unwrap();
    let mut command = client_command(&server.addr, &["query", "--no-pager"]);
    command.env("PAGER", &pager);
    let run = run_on_terminal(command, 3, 120, "");
    assert!(!paged.exists());
    assert!(run.screen.contains("connection reset"));
    let mut command = client_command(&server.addr, &["query"]);
    command.env("PAGER", "/nonexistent/pager");
    let run = run_on_terminal(command, 3, 120, "");
    assert!(run.status.success(), "{}", run.screen);
    assert!(run.screen.contains("connection reset"), "{}", run.screen);
}

#[test]
fn partitions_are_a_table_and_deleting_asks_first() {
    let server = server_with_levels();
    let run = run_on_terminal(
        client_command(
            &server.addr,
            &["partitions", "create", "db", "--retention-days", "7"],
        ),
        40,
        120,
        "",
    );
    assert!(run.status.success(), "{}", run.screen);
    assert!(
        run.screen.starts_with("created partition db (id "),
        "{}",
        run.screen
    );

    let run = run_on_terminal(
        client_command(&server.addr, &["partitions", "ls"]),
        40,
        160,
        "",
    );
    assert!(run.status.success(), "{}", run.screen);
    assert!(run.screen.starts_with("\x1b[1mNAME"), "{:?}", run.screen);
    let lines: Vec<String> = run.lines().iter().map(|line| strip_ansi(line)).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let header = &lines[0];
    assert!(header.starts_with("NAME  ID"), "{header}");
    for column in ["ENTRIES", "BYTES", "RETENTION"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(lines[1].starts_with("app   "), "{}", lines[1]);
    assert!(
        lines[1].contains("  3  ") && lines[1].ends_with("forever"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("db    ") && lines[2].ends_with("7 days"),
        "{}",
        lines[2]
    );

    // Answering anything but yes keeps the partition.
    let run = run_on_terminal(
        client_command(&server.addr, &["partitions", "rm", "app"]),
        40,
        160,
        "n\n",
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.screen);
    assert!(
        run.screen.contains("Delete partition app (id "),
        "{}",
        run.screen
    );
    assert!(
        run.screen.contains(" and its 3 entries ("),
        "{}",
        run.screen
    );
    assert!(
        run.screen
            .contains("timberdb: partition \"app\" was not deleted"),
        "{}",
        run.screen
    );
    assert_eq!(server.get("/api/v1/partitions/app").status, 200);

    let run = run_on_terminal(
        client_command(&server.addr, &["partitions", "rm", "app"]),
        40,
        160,
        "y\n",
    );
    assert!(run.status.success(), "{}", run.screen);
    assert!(
        run.screen.contains("deleted partition app (id "),
        "{}",
        run.screen
    );
    assert_eq!(server.get("/api/v1/partitions/app").status, 404);
}
