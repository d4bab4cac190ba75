//! Printing a tree and parsing the text gives the same tree; no input makes
//! the parser panic.

use proptest::collection::vec as vec_of;
use proptest::option::of as option_of;
use proptest::prelude::*;

use super::*;

const UNIT_NS: [i64; 6] = [
    1_000_000,
    SECOND_NS,
    60 * SECOND_NS,
    3600 * SECOND_NS,
    86_400 * SECOND_NS,
    7 * 86_400 * SECOND_NS,
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,6}",
        "[a-z]{1,4}\\.[a-z]{1,4}",
        "[ -~]{1,6}",
        "[a-zé世]{1,4}",
        Just("select".to_string()),
    ]
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{0,8}", "\\PC{0,6}"]
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9_]{1,6}", "[a-zéü]{1,4}"]
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        Just(Field::Timestamp),
        Just(Field::Level),
        Just(Field::Source),
        Just(Field::Message),
        Just(Field::Id),
        Just(Field::Partition),
        key().prop_map(Field::Tag),
        key().prop_map(Field::Field),
    ]
}

fn text_field() -> impl Strategy<Value = Field> {
    field().prop_filter("a text field", Field::is_text)
}

fn dynamic_field() -> impl Strategy<Value = Field> {
    prop_oneof![key().prop_map(Field::Tag), key().prop_map(Field::Field)]
}

fn value_for(field: &Field) -> BoxedStrategy<Value> {
    match field {
        Field::Timestamp => (-1_000_000_000_000_000_000i64..4_000_000_000_000_000_000)
            .prop_map(Value::TimeNs)
            .boxed(),
        Field::Level => proptest::sample::select(Level::ALL[1..].to_vec())
            .prop_map(Value::Level)
            .boxed(),
        Field::Source | Field::Message | Field::Id | Field::Partition => {
            any_text().prop_map(Value::Str).boxed()
        }
        Field::Tag(_) | Field::Field(_) => prop_oneof![
            any_text().prop_map(Value::Str),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Value::Float),
            any::<bool>().prop_map(Value::Bool),
        ]
        .boxed(),
    }
}

fn op() -> impl Strategy<Value = CmpOp> {
    proptest::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

fn like_pattern() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z-]",
        proptest::sample::select(vec!["%", "_", "\\%", "\\\\", "'"]).prop_map(str::to_string),
    ];
    vec_of(piece, 0..6).prop_map(|pieces| pieces.concat())
}

fn regex_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "^a",
            "conn(ection)? reset",
            "\\d+",
            "a|b",
            "x'y",
            "a/b",
            "\\\\",
            "\\/"
        ])
        .prop_map(str::to_string),
        any_text().prop_map(|text| regex::escape(&text)),
    ]
}

/// Wildcards the parser keeps as `Wildcard`: not a plain word, not a
/// prefix (`abc*`), not all runs, no `**`.
fn wildcard() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z0-9]{1,3}",
        Just("*".to_string()),
        Just("?".to_string())
    ];
    vec_of(piece, 1..5)
        .prop_map(|pieces| pieces.concat())
        .prop_filter("canonical wildcard", |pattern| {
            let trailing_prefix =
                pattern.ends_with('*') && !pattern[..pattern.len() - 1].contains(['*', '?']);
            pattern.contains(['*', '?'])
                && !pattern.contains("**")
                && !trailing_prefix
                && pattern != "*"
        })
}

fn text_leaf() -> impl Strategy<Value = Expr> {
    let on_message = |query| text(Field::Message, query);
    prop_oneof![
        (text_field(), any_text())
            .prop_map(|(field, needle)| text(field, TextQuery::Contains(needle))),
        (text_field(), like_pattern())
            .prop_map(|(field, pattern)| text(field, TextQuery::Like(pattern))),
        (text_field(), regex_pattern())
            .prop_map(|(field, pattern)| text(field, TextQuery::Regex(pattern))),
        word().prop_map(move |word| on_message(TextQuery::Word(word))),
        vec_of(word(), 2..4).prop_map(move |words| on_message(TextQuery::Phrase(words))),
        word().prop_map(move |word| on_message(TextQuery::Prefix(word))),
        wildcard().prop_map(move |pattern| on_message(TextQuery::Wildcard(pattern))),
        (text_field(), word(), 1u8..=2)
            .prop_map(|(field, word, distance)| text(field, TextQuery::Fuzzy { word, distance })),
    ]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        field()
            .prop_flat_map(|field| (Just(field.clone()), op(), value_for(&field)))
            .prop_map(|(field, op, value)| cmp(field, op, value)),
        field()
            .prop_flat_map(|field| (Just(field.clone()), vec_of(value_for(&field), 1..4)))
            .prop_map(|(field, values)| Expr::In { field, values }),
        text_leaf(),
        field().prop_map(Expr::Exists),
        Just(Expr::True),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(not),
            vec_of(inner.clone(), 2..4).prop_map(Expr::and),
            vec_of(inner, 2..4).prop_map(Expr::or),
        ]
    })
}

fn bucket() -> impl Strategy<Value = Bucket> {
    (1i64..1000, 0usize..UNIT_NS.len()).prop_map(|(count, unit)| Bucket {
        width_ns: count * UNIT_NS[unit],
    })
}

fn group_key() -> impl Strategy<Value = GroupKey> {
    prop_oneof![
        field().prop_map(GroupKey::Field),
        bucket().prop_map(GroupKey::Bucket)
    ]
}

fn aggregate() -> impl Strategy<Value = Aggregate> {
    prop_oneof![
        Just(Aggregate::CountAll),
        field().prop_map(Aggregate::Count),
        field().prop_map(Aggregate::CountDistinct),
        prop_oneof![dynamic_field(), Just(Field::Timestamp)].prop_map(Aggregate::Min),
        prop_oneof![dynamic_field(), Just(Field::Timestamp)].prop_map(Aggregate::Max),
        dynamic_field().prop_map(Aggregate::Avg),
        dynamic_field().prop_map(Aggregate::Sum),
    ]
}

fn partitions() -> impl Strategy<Value = Vec<String>> {
    vec_of(
        prop_oneof!["[A-Za-z0-9_.-]{1,8}", Just("select".to_string())],
        0..3,
    )
}

fn key_expr(key: &GroupKey) -> SelectExpr {
    match key {
        GroupKey::Field(field) => SelectExpr::Field(field.clone()),
        GroupKey::Bucket(bucket) => SelectExpr::Bucket(*bucket),
    }
}

fn with_aliases(exprs: Vec<SelectExpr>, aliased: &[bool]) -> Vec<SelectItem> {
    exprs
        .into_iter()
        .enumerate()
        .map(|(index, expr)| SelectItem {
            expr,
            alias: aliased[index].then(|| format!("a{index}")),
        })
        .collect()
}

fn entry_statement() -> impl Strategy<Value = Statement> {
    let select = prop_oneof![
        Just(None),
        (vec_of(field(), 1..3), vec_of(any::<bool>(), 3)).prop_map(Some),
    ];
    let order = option_of(any::<bool>());
    (
        select,
        partitions(),
        option_of(expr()),
        order,
        option_of(any::<u64>()),
        option_of(any::<u64>()),
    )
        .prop_map(|(select, from, filter, order, limit, offset)| Statement {
            select: match select {
                None => Select::All,
                Some((fields, aliased)) => Select::Items(with_aliases(
                    fields.into_iter().map(SelectExpr::Field).collect(),
                    &aliased,
                )),
            },
            from,
            filter,
            group_by: Vec::new(),
            order_by: order
                .map(|descending| OrderKey {
                    expr: SelectExpr::Field(Field::Timestamp),
                    descending,
                })
                .into_iter()
                .collect(),
            limit,
            offset,
        })
}

fn aggregate_statement() -> impl Strategy<Value = Statement> {
    (vec_of(group_key(), 0..3), vec_of(aggregate(), 0..3))
        .prop_filter("something to select", |(keys, aggregates)| {
            !keys.is_empty() || !aggregates.is_empty()
        })
        .prop_flat_map(|(keys, aggregates)| {
            let choices = keys.len() + aggregates.len();
            (
                (
                    Just(keys.clone()),
                    Just(aggregates),
                    vec_of(any::<bool>(), keys.len()),
                ),
                vec_of(any::<bool>(), choices),
                vec_of((0..choices, any::<bool>()), 0..3),
                (
                    partitions(),
                    option_of(expr()),
                    option_of(any::<u64>()),
                    option_of(any::<u64>()),
                ),
            )
        })
        .prop_map(
            |((keys, aggregates, selected), aliased, orders, (from, filter, limit, offset))| {
                let mut exprs: Vec<SelectExpr> = keys
                    .iter()
                    .zip(&selected)
                    .filter(|(_, chosen)| **chosen)
                    .map(|(key, _)| key_expr(key))
                    .collect();
                exprs.extend(aggregates.iter().cloned().map(SelectExpr::Aggregate));
                if exprs.is_empty() {
                    exprs.push(key_expr(&keys[0]));
                }
                let candidates: Vec<SelectExpr> = keys
                    .iter()
                    .map(key_expr)
                    .chain(aggregates.iter().cloned().map(SelectExpr::Aggregate))
                    .collect();
                Statement {
                    select: Select::Items(with_aliases(exprs, &aliased)),
                    from,
                    filter,
                    group_by: keys,
                    order_by: orders
                        .into_iter()
                        .map(|(index, descending)| OrderKey {
                            expr: candidates[index].clone(),
                            descending,
                        })
                        .collect(),
                    limit,
                    offset,
                }
            },
        )
}

/// Words and symbols of both forms, glued in random orders, to reach deep
/// into the parser more often than random characters do.
#[rustfmt::skip]
const SOUP_WORDS: &[&str] = &[
    "SELECT", "*", "FROM", "WHERE", "(", ")", "'a'", "level", "=", "AND", "OR", "NOT", "count(*)",
    "GROUP BY", "ORDER BY", "LIMIT", "OFFSET", "1", "-", "now()", "interval", "'1h'", "SEARCH(",
    "'x:y'", "\"", "/", "~", ":", "tags.", "x", ",", "IN", "LIKE", "'%'", "IS", "NULL",
    "bucket(timestamp,", "DESC", "AS", "n", "source", "timestamp", ">=", "'2024-03-15T00:00:00Z'",
    "fields.d", "EXISTS(", "MATCHES", "'('", "STARTS WITH", "''", "1.5e3", "[", "]", "\\", "*a?",
    "level:", ">", "\"a b\"", "word~1", "/re/", "ü", "min(", "avg(", ";", "TRUE",
];

/// Whole SQL phrases, so that many soups parse and print back.
#[rustfmt::skip]
const SOUP_PHRASES: &[&str] = &[
    "level = 'error'", "AND", "OR", "NOT", "(", ")", "tags.x IN (1, 'a')", "source LIKE 'w%'",
    "timestamp > now() - interval '1h'", "GROUP BY level", "GROUP BY bucket(timestamp, '1m')",
    "ORDER BY count(*) DESC", "ORDER BY timestamp", "LIMIT 5", "OFFSET 2", ",", "count(*)", "level",
    "source", "FROM a", "FROM *", "WHERE", "bucket(timestamp, '1m')", "AS n", "n",
    "SEARCH('a -b c*')", "EXISTS(tags.x)", "IS NULL", "IS NOT NULL", "x != 1.5", "*",
    "message CONTAINS 'x'", "TRUE", "max(fields.d)",
    "SEARCH('level:(error OR fatal) \"a b\"~ /x/')", "fields.d >= -3",
];

fn token_soup() -> impl Strategy<Value = String> {
    let vocabulary = prop_oneof![Just(SOUP_WORDS), Just(SOUP_PHRASES)];
    // Most soups start like SQL, so they get past the first clause.
    let start = proptest::sample::select(vec![
        "",
        "SELECT ",
        "SELECT * WHERE ",
        "SELECT count(*) FROM a WHERE ",
    ]);
    let tokens = vocabulary.prop_flat_map(|vocabulary| {
        vec_of((proptest::sample::select(vocabulary), any::<bool>()), 0..24)
    });
    (start, tokens).prop_map(|(start, tokens)| {
        let mut soup = start.to_string();
        for (token, spaced) in tokens {
            soup.push_str(token);
            if spaced {
                soup.push(' ');
            }
        }
        soup
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn printed_statements_parse_back_to_the_same_tree(
        statement in prop_oneof![entry_statement(), aggregate_statement()]
    ) {
        let text = statement.to_string();
        let parsed = parse(&text, NOW_NS).map_err(|error| TestCaseError::fail(format!("{text}\n{error}")))?;
        prop_assert_eq!(parsed, statement, "{}", text);
    }

    #[test]
    fn random_text_never_panics(q in "\\PC{0,120}") {
        let _ = parse(&q, NOW_NS);
        let _ = parse_search(&q, 0);
    }

    #[test]
    fn token_soup_never_panics_and_what_parses_prints_back(q in token_soup()) {
        if let Ok(statement) = parse(&q, NOW_NS) {
            let text = statement.to_string();
            let parsed = parse(&text, NOW_NS).map_err(|error| TestCaseError::fail(format!("{q} -> {text}\n{error}")))?;
            prop_assert_eq!(parsed, statement, "{} -> {}", q, text);
        }
        let _ = parse_search(&q, 0);
    }
}

#[test]
fn canonical_text_of_the_examples() {
    let cases = [
        (
            "select * from app_logs where level = 'ERR' and message contains 'timeout' \
             and timestamp > now() - interval '1 hour' order by timestamp desc limit 100",
            "SELECT * FROM app_logs WHERE level = 'error' AND message CONTAINS 'timeout' \
             AND timestamp > '2024-03-14T23:00:00.000000000Z' ORDER BY timestamp DESC LIMIT 100",
        ),
        (
            "SELECT source, count(*) AS n FROM a GROUP BY source ORDER BY n DESC",
            "SELECT source, count(*) AS n FROM a GROUP BY source ORDER BY count(*) DESC",
        ),
        (
            "level:error component:auth \"connection reset\" -healthcheck time* source:web-*",
            "SELECT * WHERE level = 'error' AND tags.component = 'auth' \
             AND SEARCH('message:\"connection reset\"') AND NOT SEARCH('message:healthcheck') \
             AND SEARCH('message:time*') AND source LIKE 'web-%'",
        ),
        (
            "SELECT * WHERE (a = 1 OR b IS NULL) AND NOT (c = 'x' AND tags.\"my key\" IN (1.0, -2))",
            "SELECT * WHERE (tags.a = 1 OR NOT EXISTS(tags.b)) AND NOT (tags.c = 'x' AND tags.\"my key\" IN (1.0, -2))",
        ),
        (
            "SELECT count(*) FROM \"select\", web-1 GROUP BY bucket(timestamp, '60 s')",
            "SELECT count(*) FROM \"select\", web-1 GROUP BY bucket(timestamp, '1m')",
        ),
    ];
    for (input, canonical) in cases {
        let statement = parse_ok(input);
        assert_eq!(statement.to_string(), canonical);
        assert_eq!(parse_ok(canonical), statement);
    }
}
