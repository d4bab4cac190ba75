use std::cell::RefCell;

use clap::Parser;
use serde_json::json;

use super::*;
use crate::client::args::ClientSubcommand;

/// Parses `timberdb query ...` through the real command line.
fn query_args(args: &[&str]) -> QueryArgs {
    #[derive(Parser)]
    struct Probe {
        #[command(subcommand)]
        command: ClientSubcommand,
    }
    let argv = std::iter::once("timberdb")
        .chain(std::iter::once("query"))
        .chain(args.iter().copied());
    match Probe::try_parse_from(argv)
        .expect("valid arguments")
        .command
    {
        ClientSubcommand::Query(args) => args,
        other => panic!("not a query: {other:?}"),
    }
}

fn body(args: &[&str], limit: usize, cursor: Option<&str>) -> Value {
    let text = request_body(&query_args(args), 1_000_000_000_000, limit, cursor);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_request_carries_query_partitions_order_and_time_range() {
    assert_eq!(body(&[], 100, None), json!({"limit": 100}));
    assert_eq!(
        body(
            &[
                "level:error timeout",
                "-p",
                "web",
                "--partition",
                "db",
                "--asc",
                "--since",
                "1s",
                "--until",
                "2024-03-15T10:30:00Z"
            ],
            7,
            Some("c1")
        ),
        json!({
            "limit": 7, "q": "level:error timeout", "partitions": ["web", "db"], "order": "asc",
            "filter": {"time_range": {"start": 999_000_000_000_i64, "end": 1_710_498_600_000_000_000_i64}},
            "cursor": "c1"
        })
    );
    assert_eq!(
        body(&["--until", "1m"], 1, None)["filter"],
        json!({"time_range": {"start": null, "end": 940_000_000_000_i64}})
    );
}

#[test]
fn defaults_and_conflicting_flags() {
    let args = query_args(&[]);
    assert_eq!(args.limit, 100);
    assert_eq!(Mode::choose(&args, true), Mode::Pretty);
    assert_eq!(Mode::choose(&args, false), Mode::Ndjson);
    assert_eq!(Mode::choose(&query_args(&["--json"]), false), Mode::Json);
    assert_eq!(Mode::choose(&query_args(&["--ndjson"]), true), Mode::Ndjson);
    #[derive(Parser)]
    struct Probe {
        #[command(subcommand)]
        command: ClientSubcommand,
    }
    for bad in [
        &["--json", "--ndjson"][..],
        &["--count", "--ndjson"],
        &["--since", "soon"],
        &["--limit", "-1"],
    ] {
        let argv = ["timberdb", "query"].iter().chain(bad.iter());
        assert!(Probe::try_parse_from(argv).is_err(), "{bad:?}");
    }
}

/// A page of `count` entries numbered from `first`, with `next` as given (raw JSON or absent).
fn page(first: usize, count: usize, next: Option<&str>, truncated: bool) -> String {
    let entries: Vec<Value> = (first..first + count)
        .map(|index| json!({"id": format!("0-{index}"), "message": "m"}))
        .collect();
    let mut answer = json!({"entries": entries, "total_count": 1000, "truncated": truncated});
    if let Some(next) = next {
        answer["next"] = serde_json::from_str(next).unwrap();
    }
    answer.to_string()
}

/// Runs the paging loop over scripted answers; returns the requests (limit, cursor), the
/// entries seen and how it ended.
fn run_pages(
    limit: usize,
    answers: Vec<String>,
) -> (Vec<(usize, Option<String>)>, usize, PagingEnd) {
    let requests = RefCell::new(Vec::new());
    let mut answers = answers.into_iter();
    let mut seen = 0;
    let end = for_each_page(
        limit,
        "http://test",
        |limit, cursor| {
            requests
                .borrow_mut()
                .push((limit, cursor.map(str::to_string)));
            Ok(answers.next().expect("no more requests than answers"))
        },
        |_, page| {
            seen += page.entries.len();
            Ok(())
        },
    )
    .unwrap();
    (requests.into_inner(), seen, end)
}

#[test]
fn pages_follow_the_cursor_until_the_limit() {
    let (requests, seen, end) = run_pages(
        25_000,
        vec![
            page(0, 10_000, Some(r#""a""#), true),
            page(10_000, 10_000, Some(r#""b""#), true),
            page(20_000, 5_000, Some(r#""c""#), true),
        ],
    );
    assert_eq!(
        requests,
        vec![
            (10_000, None),
            (10_000, Some("a".into())),
            (5_000, Some("b".into()))
        ]
    );
    assert_eq!((seen, end), (25_000, PagingEnd::Done));
}

#[test]
fn a_null_cursor_or_an_empty_page_ends_the_paging() {
    let (requests, seen, end) = run_pages(100, vec![page(0, 40, Some("null"), false)]);
    assert_eq!((requests.len(), seen, end), (1, 40, PagingEnd::Done));
    let (requests, _, end) = run_pages(100, vec![page(0, 0, Some(r#""x""#), false)]);
    assert_eq!((requests.len(), end), (1, PagingEnd::Done));
}

#[test]
fn a_server_without_cursors_answers_one_page() {
    let (requests, seen, end) = run_pages(5, vec![page(0, 5, None, true)]);
    assert_eq!((requests, seen, end), (vec![(5, None)], 5, PagingEnd::Done));
    let (_, seen, end) = run_pages(20_000, vec![page(0, 10_000, None, true)]);
    assert_eq!((seen, end), (10_000, PagingEnd::NoCursors));
    let (_, _, end) = run_pages(20_000, vec![page(0, 300, None, false)]);
    assert_eq!(end, PagingEnd::Done);
}

#[test]
fn an_answer_that_is_not_json_is_a_bad_answer() {
    let error = for_each_page(
        1,
        "http://x",
        |_, _| Ok("<html>".to_string()),
        |_, _| Ok(()),
    )
    .unwrap_err();
    assert!(matches!(error, ClientError::BadAnswer { .. }), "{error}");
}

#[test]
fn aggregation_rows_become_objects_in_column_order() {
    let columns = vec!["source".to_string(), "count(*)".to_string()];
    assert_eq!(
        row_object(&columns, &[json!("web-2"), json!(40)]),
        r#"{"source":"web-2","count(*)":40}"#
    );
}

#[test]
fn the_footer_says_when_more_matched_or_nothing_did() {
    let args = query_args(&[]);
    let totals = |returned, total, exact| QueryTotals {
        returned,
        total_count: Some(total),
        total_count_exact: exact,
        ..QueryTotals::default()
    };
    assert_eq!(
        footer(&totals(0, 0, true), &args).as_deref(),
        Some("no entries match")
    );
    assert_eq!(footer(&totals(4, 4, true), &args), None);
    assert_eq!(
        footer(&totals(100, 4560, true), &args).as_deref(),
        Some("100 of 4 560 matching entries, newest first; see more with --limit, --since or --until")
    );
    assert!(footer(&totals(100, 150, false), &args)
        .unwrap()
        .contains("of at least 150"));
}
