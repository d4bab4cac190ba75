//! The LogQL subset: what parses, into what, and where errors point.

use super::ast::*;
use super::duration::{parse_duration_ns, parse_step_ns};
use super::metric::{self, Window};
use super::parse;
use super::translate::{entries_statement, selector_expr, LabelNames};
use std::collections::BTreeMap;

const S: i64 = 1_000_000_000;

fn selector(text: &str) -> LogSelector {
    match parse(text).unwrap() {
        Query::Logs(selector) => selector,
        other => panic!("not a log query: {other:?}"),
    }
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn stream_selector_with_every_matcher() {
    let s = selector(r#"{app="api", env!="dev",pod=~"web-.*" , ns !~ `kube.*`}"#);
    let ops: Vec<(&str, MatchOp, &str)> = s
        .matchers
        .iter()
        .map(|m| (m.name.as_str(), m.op, m.value.as_str()))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("app", MatchOp::Eq, "api"),
            ("env", MatchOp::Ne, "dev"),
            ("pod", MatchOp::Re, "web-.*"),
            ("ns", MatchOp::NotRe, "kube.*"),
        ]
    );
    assert!(s.filters.is_empty());
}

#[test]
fn chained_line_filters_and_drop_error() {
    let s = selector(
        r#"{app="a"} |= "timeout" != "retry" |~ "5\\d\\d" !~ `(?i)debug` | drop __error__, __error_details__"#,
    );
    let filters: Vec<(LineFilterOp, &str)> =
        s.filters.iter().map(|f| (f.op, f.text.as_str())).collect();
    assert_eq!(
        filters,
        vec![
            (LineFilterOp::Contains, "timeout"),
            (LineFilterOp::NotContains, "retry"),
            (LineFilterOp::Re, "5\\d\\d"),
            (LineFilterOp::NotRe, "(?i)debug"),
        ]
    );
}

#[test]
fn metric_queries() {
    let q = parse(r#"sum by (level) (count_over_time({app="a"} |= "x" [5m]))"#).unwrap();
    let Query::Metric(m) = q else { panic!() };
    assert_eq!(m.sum, Some(Grouping::By(vec!["level".into()])));
    assert_eq!(m.range.function, RangeFunction::CountOverTime);
    assert_eq!(m.range.range_ns, 300 * S);
    assert_eq!(m.range.selector.filters.len(), 1);

    let Query::Metric(m) = parse(r#"sum(rate({app="a"}[1m])) by (host, app)"#).unwrap() else {
        panic!()
    };
    assert_eq!(m.sum, Some(Grouping::By(vec!["host".into(), "app".into()])));
    assert_eq!(m.range.function, RangeFunction::Rate);

    let Query::Metric(m) = parse(r#"count_over_time({app="a"}[1h30m])"#).unwrap() else {
        panic!()
    };
    assert_eq!(m.sum, None);
    assert_eq!(m.range.range_ns, 5400 * S);

    let Query::Metric(m) =
        parse(r#"sum without (pod) (count_over_time({app="a"}[1m] |= "x"))"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(m.sum, Some(Grouping::Without(vec!["pod".into()])));
    assert_eq!(m.range.selector.filters.len(), 1);
    let Query::Metric(m) = parse(r#"sum(count_over_time({a="b"}[1m]))"#).unwrap() else {
        panic!()
    };
    assert_eq!(m.sum, Some(Grouping::All));
}

#[test]
fn literals_fold_including_grafanas_health_check() {
    assert_eq!(
        parse("vector(1)+vector(1)").unwrap(),
        Query::Literal {
            value: 2.0,
            is_vector: true
        }
    );
    assert_eq!(
        parse("1 + 2 * (3 - 1)").unwrap(),
        Query::Literal {
            value: 5.0,
            is_vector: false
        }
    );
}

#[test]
fn errors_name_the_column() {
    assert_eq!(
        error(r#"{app="a"} | json"#),
        "parse error at line 1, col 13: the pipeline stage | json is not supported by this server; only line filters (|= != |~ !~) are"
    );
    assert!(error(r#"{app="a"} | logfmt | line_format "{{.x}}""#)
        .contains("col 13: the pipeline stage | logfmt"));
    assert!(error(r#"sum_over_time({a="b"} | unwrap x [1m])"#)
        .starts_with("parse error at line 1, col 1: sum_over_time is not supported"));
    assert!(error(r#"{app="a"} | level="error""#).contains("col 13: label filters"));
    assert_eq!(
        error(r#"{app="a""#),
        "parse error at line 1, col 9: syntax error: unexpected end of query, expected \",\""
    );
    assert!(error(r#"{app "a"}"#)
        .starts_with("parse error at line 1, col 6: syntax error: expected =, !=, =~ or !~"));
    assert!(error("{}")
        .starts_with("parse error at line 1, col 1: queries require at least one label matcher"));
    assert!(error(r#"{app=~"("}"#).starts_with("parse error at line 1, col 7: invalid regex"));
    assert!(error(r#"count_over_time({a="b"})"#).contains("needs a range"));
    assert!(error(r#"count_over_time({a="b"}[5x])"#).starts_with("parse error at line 1, col 25:"));
    assert!(error(r#"{a="b"} extra"#)
        .starts_with("parse error at line 1, col 9: syntax error: unexpected 'e'"));
    assert!(
        error(r#"count_over_time({a="b"}[1m]) / count_over_time({a="b"}[1m])"#)
            .starts_with("parse error at line 1, col 30: binary operation '/'")
    );
    assert!(error("").contains("empty query"));
    assert!(error(r#"{a="\q"}"#).contains("col 5: syntax error: unknown escape"));
    let deep = format!("{}1{}", "(".repeat(40), ")".repeat(40));
    assert!(error(&deep).contains("nest deeper"));
    assert!(error(&"a".repeat(super::QUERY_BYTES_MAX + 1)).contains("bytes long"));
    let long = format!(r#"{{a="b"}} |= "{}""#, ".".repeat(600));
    assert!(error(&long).starts_with("parse error at line 1, col 12: the string is 600 bytes long"));
}

#[test]
fn durations_and_steps() {
    assert_eq!(parse_duration_ns("5m").unwrap(), 300 * S);
    assert_eq!(parse_duration_ns("1h30m").unwrap(), 5400 * S);
    assert_eq!(parse_duration_ns("250ms").unwrap(), 250_000_000);
    assert!(parse_duration_ns("5").is_err());
    assert!(parse_duration_ns("0s").is_err());
    assert!(parse_duration_ns("1.5s").is_err());
    assert_eq!(parse_step_ns("15").unwrap(), 15 * S);
    assert_eq!(parse_step_ns("0.5").unwrap(), S / 2);
    assert_eq!(parse_step_ns("1m").unwrap(), 60 * S);
    assert!(parse_step_ns("-1").is_err());
}

#[test]
fn translation_runs_through_the_q_language() {
    let names = LabelNames {
        source: "service_name".into(),
        level: "level".into(),
    };
    let s = selector(
        r#"{service_name="api", level="ERROR", pod=~"web-.*", env!="", x=""} |= "Time out" !~ "x""#,
    );
    let statement = entries_statement("loki", selector_expr(&s, &names), 10, true);
    let text = statement.to_string();
    // The canonical text parses back to the same tree the engine compiles.
    let again = crate::query::lang::parse(&text, 0).unwrap();
    assert_eq!(again, statement);
    assert!(text.contains("source = 'api'"), "{text}");
    assert!(text.contains("level = 'error'"), "{text}");
    assert!(text.contains("(?-i)^(?:web-.*)$"), "{text}");
}

#[test]
fn buckets_become_windowed_points() {
    let window = Window {
        start_ns: 600 * S,
        end_ns: 900 * S,
        step_ns: 60 * S,
        range_ns: 300 * S,
    };
    assert_eq!(window.bucket_ns(), 60 * S);
    assert_eq!(window.point_count(), 6);
    assert_eq!(window.read_span(), (300 * S, 900 * S));
    // One entry in each of the minutes starting at 300s..=840s.
    let buckets: BTreeMap<i64, u64> = (5..15).map(|m| (m * 60 * S, 1)).collect();
    let points = metric::points(&buckets, &window, RangeFunction::CountOverTime);
    assert_eq!(points.first(), Some(&(600 * S, 5.0)));
    assert_eq!(points.len(), 6);
    let rates = metric::points(&buckets, &window, RangeFunction::Rate);
    assert_eq!(rates[0].1, 5.0 / 300.0);
    assert_eq!(metric::format_value(2.0), "2");
    assert_eq!(metric::format_value(0.5), "0.5");
    let too_fine = Window {
        step_ns: S / 1000,
        ..window
    };
    assert!(too_fine.check().unwrap_err().contains("maximum resolution"));
}

#[test]
fn contains_adds_the_indexed_match_only_for_whole_words() {
    let names = LabelNames {
        source: "service_name".into(),
        level: "level".into(),
    };
    let text_of = |q: &str| {
        entries_statement("loki", selector_expr(&selector(q), &names), 1, true).to_string()
    };
    let single = text_of(r#"{a="b"} |= "a1b2""#);
    assert!(!single.contains("CONTAINS"), "{single}");
    assert!(single.contains("MATCHES '(?-i)a1b2'"), "{single}");
    let phrase = text_of(r#"{a="b"} |= "conn reset by""#);
    assert!(phrase.contains("CONTAINS 'conn reset by'"), "{phrase}");
}
