//! The SQL form parses into the expected trees.

use super::*;

const HOUR_NS: i64 = 3600 * SECOND_NS;

fn order(expr: SelectExpr, descending: bool) -> OrderKey {
    OrderKey { expr, descending }
}

fn item(expr: SelectExpr) -> SelectItem {
    SelectItem { expr, alias: None }
}

fn duration() -> Field {
    Field::Field("duration_ms".into())
}

#[test]
fn seed_example_filter_with_time_window() {
    let statement = parse_ok(
        "SELECT * FROM app_logs WHERE level = 'error' AND message CONTAINS 'timeout' \
         AND tags.component = 'auth' AND timestamp > now() - interval '1 hour' \
         ORDER BY timestamp DESC LIMIT 100",
    );
    assert_eq!(
        statement,
        Statement {
            select: Select::All,
            from: vec!["app_logs".into()],
            filter: Some(Expr::And(vec![
                level_is(Level::Error),
                text(Field::Message, TextQuery::Contains("timeout".into())),
                eq(tag("component"), str_value("auth")),
                cmp(Field::Timestamp, CmpOp::Gt, Value::TimeNs(NOW_NS - HOUR_NS)),
            ])),
            group_by: vec![],
            order_by: vec![order(SelectExpr::Field(Field::Timestamp), true)],
            limit: Some(100),
            offset: None,
        }
    );
    assert!(!statement.is_aggregate());
}

#[test]
fn seed_example_top_sources_by_regex() {
    let statement = parse_ok(
        "SELECT source, count(*) FROM app_logs WHERE message MATCHES 'conn(ection)? reset' \
         GROUP BY source ORDER BY count(*) DESC LIMIT 10",
    );
    assert_eq!(
        statement,
        Statement {
            select: Select::Items(vec![
                item(SelectExpr::Field(Field::Source)),
                item(SelectExpr::Aggregate(Aggregate::CountAll)),
            ]),
            from: vec!["app_logs".into()],
            filter: Some(text(
                Field::Message,
                TextQuery::Regex("conn(ection)? reset".into())
            )),
            group_by: vec![GroupKey::Field(Field::Source)],
            order_by: vec![order(SelectExpr::Aggregate(Aggregate::CountAll), true)],
            limit: Some(10),
            offset: None,
        }
    );
    assert!(statement.is_aggregate());
}

#[test]
fn seed_example_histogram_over_two_partitions() {
    let statement = parse_ok(
        "SELECT count(*) FROM a, b WHERE timestamp >= '2024-03-15T00:00:00Z' \
         AND timestamp < '2024-03-16T00:00:00Z' GROUP BY bucket(timestamp, '1m')",
    );
    assert_eq!(statement.from, ["a", "b"]);
    assert_eq!(
        statement.filter,
        Some(Expr::And(vec![
            cmp(Field::Timestamp, CmpOp::Ge, Value::TimeNs(NOW_NS)),
            cmp(
                Field::Timestamp,
                CmpOp::Lt,
                Value::TimeNs(NOW_NS + 24 * HOUR_NS)
            ),
        ]))
    );
    assert_eq!(
        statement.group_by,
        [GroupKey::Bucket(Bucket {
            width_ns: 60 * SECOND_NS
        })]
    );
    assert_eq!(
        statement.select,
        Select::Items(vec![item(SelectExpr::Aggregate(Aggregate::CountAll))])
    );
}

#[test]
fn seed_example_numeric_aggregates() {
    let statement = parse_ok(
        "SELECT level, count(*), min(fields.duration_ms), max(fields.duration_ms), \
         avg(fields.duration_ms) FROM app_logs GROUP BY level",
    );
    assert_eq!(
        statement.select,
        Select::Items(vec![
            item(SelectExpr::Field(Field::Level)),
            item(SelectExpr::Aggregate(Aggregate::CountAll)),
            item(SelectExpr::Aggregate(Aggregate::Min(duration()))),
            item(SelectExpr::Aggregate(Aggregate::Max(duration()))),
            item(SelectExpr::Aggregate(Aggregate::Avg(duration()))),
        ])
    );
    assert_eq!(statement.group_by, [GroupKey::Field(Field::Level)]);
    assert_eq!(statement.filter, None);
}

#[test]
fn seed_example_search_inside_sql() {
    let statement = parse_ok(
        "SELECT * FROM app_logs WHERE SEARCH('level:error component:auth \"connection reset\" -healthcheck') \
         LIMIT 50 OFFSET 10",
    );
    assert_eq!(
        statement.filter,
        Some(Expr::And(vec![
            level_is(Level::Error),
            eq(tag("component"), str_value("auth")),
            text(
                Field::Message,
                TextQuery::Phrase(vec!["connection".into(), "reset".into()])
            ),
            not(message_word("healthcheck")),
        ]))
    );
    assert_eq!((statement.limit, statement.offset), (Some(50), Some(10)));
}

#[test]
fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
    let (a, b, c) = (
        eq(tag("a"), Value::Int(1)),
        eq(tag("b"), Value::Int(2)),
        eq(tag("c"), Value::Int(3)),
    );
    assert_eq!(
        condition("a = 1 OR b = 2 AND NOT c = 3"),
        Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), not(c.clone())])])
    );
    assert_eq!(
        condition("(a = 1 OR b = 2) AND c = 3"),
        Expr::And(vec![Expr::Or(vec![a.clone(), b.clone()]), c.clone()])
    );
    assert_eq!(
        condition("NOT (a = 1 AND b = 2)"),
        not(Expr::And(vec![a.clone(), b.clone()]))
    );
    // Nested groups of the same operator flatten.
    assert_eq!(
        condition("a = 1 AND (b = 2 AND c = 3)"),
        Expr::And(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(condition("((a = 1))"), a);
    assert_eq!(condition("NOT NOT a = 1"), not(not(a)));
}

#[test]
fn keywords_and_built_in_names_ignore_case() {
    let statement = parse_ok(
        "select * from X where LEVEL = 'ERROR' and Message contains 'x' order by TIMESTAMP asc limit 5",
    );
    assert_eq!(
        statement.filter,
        Some(Expr::And(vec![
            level_is(Level::Error),
            text(Field::Message, TextQuery::Contains("x".into())),
        ]))
    );
    assert_eq!(
        statement.order_by,
        [order(SelectExpr::Field(Field::Timestamp), false)]
    );
    assert_eq!(statement.from, ["X"]);
}

#[test]
fn field_names_and_quoting() {
    let fields = [
        ("tags.component = 'x'", tag("component")),
        ("TAGS.Component = 'x'", tag("Component")),
        ("component = 'x'", tag("component")),
        ("k8s.pod = 'x'", tag("k8s.pod")),
        ("\"component\" = 'x'", tag("component")),
        ("\"my key\" = 'x'", tag("my key")),
        ("tags.\"my key\" = 'x'", tag("my key")),
        ("tags['my key'] = 'x'", tag("my key")),
        ("tags.order = 'x'", tag("order")),
        (
            "fields.http.status = 'x'",
            Field::Field("http.status".into()),
        ),
        ("fields['a.b'] = 'x'", Field::Field("a.b".into())),
        ("id = 'x'", Field::Id),
        ("partition = 'x'", Field::Partition),
        ("source = 'x'", Field::Source),
    ];
    for (text, field) in fields {
        assert_eq!(condition(text), eq(field, str_value("x")), "{text}");
    }
    assert_eq!(
        condition("message = 'it''s'"),
        eq(Field::Message, str_value("it's"))
    );
}

#[test]
fn operators_and_literals() {
    let x = || tag("x");
    assert_eq!(condition("x != 'a'"), cmp(x(), CmpOp::Ne, str_value("a")));
    assert_eq!(condition("x <> 'a'"), cmp(x(), CmpOp::Ne, str_value("a")));
    assert_eq!(condition("x < 5"), cmp(x(), CmpOp::Lt, Value::Int(5)));
    assert_eq!(condition("x <= -5"), cmp(x(), CmpOp::Le, Value::Int(-5)));
    assert_eq!(condition("x > 1.5"), cmp(x(), CmpOp::Gt, Value::Float(1.5)));
    assert_eq!(
        condition("x >= -2.5e3"),
        cmp(x(), CmpOp::Ge, Value::Float(-2500.0))
    );
    assert_eq!(condition("x = TRUE"), eq(x(), Value::Bool(true)));
    assert_eq!(condition("x == false"), eq(x(), Value::Bool(false)));
    assert_eq!(
        condition("x = -9223372036854775808"),
        eq(x(), Value::Int(i64::MIN))
    );
    assert_eq!(
        condition("x IN ('a', 2, 3.5)"),
        Expr::In {
            field: x(),
            values: vec![str_value("a"), Value::Int(2), Value::Float(3.5)]
        }
    );
    assert_eq!(
        condition("x NOT IN ('a')"),
        not(Expr::In {
            field: x(),
            values: vec![str_value("a")]
        })
    );
    assert_eq!(condition("x IS NULL"), not(Expr::Exists(x())));
    assert_eq!(condition("x IS NOT NULL"), Expr::Exists(x()));
    assert_eq!(condition("EXISTS(tags.x)"), Expr::Exists(x()));
    assert_eq!(condition("TRUE"), Expr::True);
}

#[test]
fn text_operators() {
    let source = |query| text(Field::Source, query);
    assert_eq!(
        condition("source LIKE 'web-%'"),
        source(TextQuery::Like("web-%".into()))
    );
    assert_eq!(
        condition("source NOT LIKE 'web-%'"),
        not(source(TextQuery::Like("web-%".into())))
    );
    assert_eq!(
        condition("source STARTS WITH 'web_1%'"),
        source(TextQuery::Like("web\\_1\\%%".into()))
    );
    assert_eq!(
        condition("source CONTAINS 'eb'"),
        source(TextQuery::Contains("eb".into()))
    );
    assert_eq!(
        condition("source NOT MATCHES '^w'"),
        not(source(TextQuery::Regex("^w".into())))
    );
}

#[test]
fn levels_are_normalised() {
    assert_eq!(condition("level = 'WARNING'"), level_is(Level::Warn));
    assert_eq!(condition("level = 3"), level_is(Level::Error));
    assert_eq!(
        condition("level >= 'warn'"),
        cmp(Field::Level, CmpOp::Ge, Value::Level(Level::Warn))
    );
    assert_eq!(
        condition("level IN ('error', 'CRITICAL')"),
        Expr::In {
            field: Field::Level,
            values: vec![Value::Level(Level::Error), Value::Level(Level::Fatal)]
        }
    );
    assert_eq!(condition("level IS NULL"), not(Expr::Exists(Field::Level)));
    // `tags.level` is the raw tag, not validated.
    assert_eq!(
        condition("tags.level = 'loud'"),
        eq(tag("level"), str_value("loud"))
    );
}

#[test]
fn times_resolve_to_nanoseconds() {
    let at = |text: &str| match condition(&format!("timestamp >= {text}")) {
        Expr::Compare {
            value: Value::TimeNs(nanos),
            ..
        } => nanos,
        other => panic!("{other:?}"),
    };
    assert_eq!(at("'2024-03-15T00:00:00Z'"), NOW_NS);
    assert_eq!(at("'2024-03-15T01:00:00+01:00'"), NOW_NS);
    assert_eq!(at("1710460800"), NOW_NS);
    assert_eq!(at("1710460800000"), NOW_NS);
    assert_eq!(at("1710460800.5"), NOW_NS + SECOND_NS / 2);
    assert_eq!(at("'1710460800'"), NOW_NS);
    assert_eq!(at("now()"), NOW_NS);
    assert_eq!(at("NOW() + INTERVAL '1h'"), NOW_NS + HOUR_NS);
    assert_eq!(
        at("now() - interval '15 minutes'"),
        NOW_NS - 900 * SECOND_NS
    );
    assert_eq!(at("now() - interval '2 days'"), NOW_NS - 48 * HOUR_NS);
    assert_eq!(at("now() - interval '1 week'"), NOW_NS - 7 * 24 * HOUR_NS);
    assert_eq!(at("now() - interval '500 ms'"), NOW_NS - SECOND_NS / 2);
    assert_eq!(at("now() - interval '1h30m'"), NOW_NS - 5400 * SECOND_NS);
    assert_eq!(
        condition("timestamp IN (0, '1970-01-01T00:00:01Z')"),
        Expr::In {
            field: Field::Timestamp,
            values: vec![Value::TimeNs(0), Value::TimeNs(SECOND_NS)]
        }
    );
}

#[test]
fn from_lists() {
    assert_eq!(parse_ok("SELECT * FROM *").from, Vec::<String>::new());
    assert_eq!(parse_ok("SELECT *").from, Vec::<String>::new());
    assert_eq!(
        parse_ok("SELECT * FROM web-logs.2024, b").from,
        ["web-logs.2024", "b"]
    );
    assert_eq!(
        parse_ok("SELECT * FROM \"select\", 'x-1'").from,
        ["select", "x-1"]
    );
    assert_eq!(parse_ok("SELECT * FROM where-logs").from, ["where-logs"]);
    assert_eq!(
        parse_ok("SELECT * FROM ce268b25-586d-4a03-892f-bff197da5b9c").from,
        ["ce268b25-586d-4a03-892f-bff197da5b9c"]
    );
    assert_eq!(parse_ok("SELECT * FROM 1e5-x.2e-3").from, ["1e5-x.2e-3"]);
}

#[test]
fn aggregates_aliases_and_keys() {
    let statement = parse_ok(
        "SELECT source, count(*) AS n, count(DISTINCT tags.user) AS users, count(fields.x), \
         min(timestamp), sum(tags.bytes) FROM x GROUP BY source ORDER BY n DESC, source",
    );
    let Select::Items(items) = &statement.select else {
        panic!()
    };
    assert_eq!(
        items[1],
        SelectItem {
            expr: SelectExpr::Aggregate(Aggregate::CountAll),
            alias: Some("n".into())
        }
    );
    assert_eq!(
        items[2].expr,
        SelectExpr::Aggregate(Aggregate::CountDistinct(tag("user")))
    );
    assert_eq!(
        items[3].expr,
        SelectExpr::Aggregate(Aggregate::Count(Field::Field("x".into())))
    );
    assert_eq!(
        items[4].expr,
        SelectExpr::Aggregate(Aggregate::Min(Field::Timestamp))
    );
    assert_eq!(
        items[5].expr,
        SelectExpr::Aggregate(Aggregate::Sum(tag("bytes")))
    );
    assert_eq!(
        statement.order_by,
        [
            order(SelectExpr::Aggregate(Aggregate::CountAll), true),
            order(SelectExpr::Field(Field::Source), false)
        ]
    );

    let histogram =
        parse_ok("SELECT bucket(timestamp, '5m') AS t, count(*) GROUP BY t ORDER BY t;");
    let five_minutes = Bucket {
        width_ns: 300 * SECOND_NS,
    };
    assert_eq!(histogram.group_by, [GroupKey::Bucket(five_minutes)]);
    assert_eq!(
        histogram.order_by,
        [order(SelectExpr::Bucket(five_minutes), false)]
    );
    assert_eq!(
        parse_ok("SELECT count(*) GROUP BY bucket(timestamp, INTERVAL '1 day')").group_by,
        [GroupKey::Bucket(Bucket {
            width_ns: 24 * HOUR_NS
        })]
    );
}

#[test]
fn group_by_without_aggregates_and_projections() {
    let groups = parse_ok("SELECT level FROM x GROUP BY level");
    assert!(groups.is_aggregate());
    let projection = parse_ok("SELECT timestamp, message FROM x ORDER BY timestamp");
    assert!(!projection.is_aggregate());
    assert_eq!(
        projection.select,
        Select::Items(vec![
            item(SelectExpr::Field(Field::Timestamp)),
            item(SelectExpr::Field(Field::Message))
        ])
    );
    let paging = parse_ok("SELECT * OFFSET 5 LIMIT 0");
    assert_eq!((paging.limit, paging.offset), (Some(0), Some(5)));
}

#[test]
fn search_form_is_the_whole_q_when_it_does_not_start_with_select() {
    let statement = parse_ok("level:error timeout");
    assert_eq!(
        statement,
        Statement::search(Expr::And(vec![
            level_is(Level::Error),
            message_word("timeout")
        ]))
    );
    assert_eq!(
        parse_ok("  selection").filter,
        Some(message_word("selection"))
    );
    assert_eq!(
        parse_ok("\"select\" from x").filter,
        Some(Expr::And(vec![
            message_word("select"),
            message_word("from"),
            message_word("x"),
        ]))
    );
}
