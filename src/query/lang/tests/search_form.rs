//! The search form: every kind of term, for every kind of field.

use super::*;

fn search(text: &str) -> Expr {
    parse_search(text, 0).unwrap_or_else(|error| panic!("{text:?} failed: {error}"))
}

fn message(query: TextQuery) -> Expr {
    text(Field::Message, query)
}

fn phrase(words: &[&str]) -> TextQuery {
    TextQuery::Phrase(words.iter().map(|word| word.to_string()).collect())
}

#[test]
fn bare_terms_search_message_words() {
    assert_eq!(search("timeout"), message_word("timeout"));
    assert_eq!(search("Timeout"), message_word("Timeout"));
    assert_eq!(search("req-42ab"), message(phrase(&["req", "42ab"])));
    assert_eq!(search("12:30"), message(phrase(&["12", "30"])));
    assert_eq!(search("=>"), message(TextQuery::Contains("=>".into())));
    // A leading `-` always negates, as in other search boxes.
    assert_eq!(search("->"), not(message(TextQuery::Contains(">".into()))));
    assert_eq!(search("error!"), message_word("error"));
    assert_eq!(search("überlast"), message_word("überlast"));
}

#[test]
fn phrases() {
    assert_eq!(
        search("\"connection reset\""),
        message(phrase(&["connection", "reset"]))
    );
    assert_eq!(search("\"one\""), message_word("one"));
    assert_eq!(
        search("\"a \\\"b\\\" c\""),
        message(phrase(&["a", "b", "c"]))
    );
    assert_eq!(
        search("message:\"conn reset\""),
        message(phrase(&["conn", "reset"]))
    );
    assert_eq!(search("\"->\""), message(TextQuery::Contains("->".into())));
}

#[test]
fn wildcards_regexes_and_fuzzy_words() {
    assert_eq!(search("time*"), message(TextQuery::Prefix("time".into())));
    assert_eq!(search("time**"), message(TextQuery::Prefix("time".into())));
    assert_eq!(search("t?me"), message(TextQuery::Wildcard("t?me".into())));
    assert_eq!(search("*out"), message(TextQuery::Wildcard("*out".into())));
    assert_eq!(search("t*m?"), message(TextQuery::Wildcard("t*m?".into())));
    assert_eq!(search("*"), Expr::True);
    assert_eq!(
        search("/conn(ection)? reset/"),
        message(TextQuery::Regex("conn(ection)? reset".into()))
    );
    assert_eq!(
        search("/a\\/b\\d/"),
        message(TextQuery::Regex("a/b\\d".into()))
    );
    let fuzzy = |word: &str, distance| {
        message(TextQuery::Fuzzy {
            word: word.into(),
            distance,
        })
    };
    assert_eq!(search("timeout~"), fuzzy("timeout", 2));
    assert_eq!(search("timeout~1"), fuzzy("timeout", 1));
    assert_eq!(search("message:timeout~2"), fuzzy("timeout", 2));
}

#[test]
fn fields_name_what_to_match() {
    assert_eq!(search("level:error"), level_is(Level::Error));
    assert_eq!(search("LEVEL:WARNING"), level_is(Level::Warn));
    assert_eq!(search("level:\"fatal\""), level_is(Level::Fatal));
    assert_eq!(
        search("component:auth"),
        eq(tag("component"), str_value("auth"))
    );
    assert_eq!(
        search("tags.component:auth"),
        eq(tag("component"), str_value("auth"))
    );
    assert_eq!(
        search("k8s.pod-name:web"),
        eq(tag("k8s.pod-name"), str_value("web"))
    );
    assert_eq!(
        search("tags.my\\ key:a\\ b"),
        eq(tag("my key"), str_value("a b"))
    );
    assert_eq!(
        search("fields.user:bob"),
        eq(Field::Field("user".into()), str_value("bob"))
    );
    assert_eq!(
        search("source:web-1"),
        eq(Field::Source, str_value("web-1"))
    );
    assert_eq!(
        search("source:\"web 1\""),
        eq(Field::Source, str_value("web 1"))
    );
    assert_eq!(search("id:a:b"), eq(Field::Id, str_value("a:b")));
    assert_eq!(search("message:word"), message_word("word"));
    assert_eq!(search("source:a\\*b"), eq(Field::Source, str_value("a*b")));
}

#[test]
fn keyword_fields_match_whole_values() {
    let source = |query| text(Field::Source, query);
    assert_eq!(
        search("source:web-*"),
        source(TextQuery::Like("web-%".into()))
    );
    assert_eq!(
        search("source:web_?"),
        source(TextQuery::Like("web\\__".into()))
    );
    assert_eq!(
        search("source:/web-\\d+/"),
        source(TextQuery::Regex("web-\\d+".into()))
    );
    assert_eq!(
        search("source:web~1"),
        source(TextQuery::Fuzzy {
            word: "web".into(),
            distance: 1
        })
    );
    assert_eq!(search("tags.x:*"), Expr::Exists(tag("x")));
    assert_eq!(search("level:*"), Expr::Exists(Field::Level));
}

#[test]
fn comparisons() {
    let duration = || Field::Field("duration_ms".into());
    assert_eq!(
        search("fields.duration_ms:>100"),
        cmp(duration(), CmpOp::Gt, Value::Int(100))
    );
    assert_eq!(
        search("fields.duration_ms:>=1.5"),
        cmp(duration(), CmpOp::Ge, Value::Float(1.5))
    );
    assert_eq!(
        search("status:<-5"),
        cmp(tag("status"), CmpOp::Lt, Value::Int(-5))
    );
    assert_eq!(
        search("status:<=5"),
        cmp(tag("status"), CmpOp::Le, Value::Int(5))
    );
    assert_eq!(
        search("level:>=warn"),
        cmp(Field::Level, CmpOp::Ge, Value::Level(Level::Warn))
    );
    assert_eq!(
        search("timestamp:>=2024-03-15T00:00:00Z"),
        cmp(Field::Timestamp, CmpOp::Ge, Value::TimeNs(NOW_NS))
    );
    assert_eq!(
        search("timestamp:<\"2024-03-15 00:00:00Z\""),
        cmp(Field::Timestamp, CmpOp::Lt, Value::TimeNs(NOW_NS))
    );
    assert_eq!(
        search("source:>m"),
        cmp(Field::Source, CmpOp::Gt, str_value("m"))
    );
}

#[test]
fn boolean_structure() {
    let (a, b, c) = (message_word("a"), message_word("b"), message_word("c"));
    assert_eq!(
        search("a b c"),
        Expr::And(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(search("a AND b"), Expr::And(vec![a.clone(), b.clone()]));
    assert_eq!(
        search("a b OR c"),
        Expr::Or(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()])
    );
    assert_eq!(
        search("a OR b c"),
        Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])])
    );
    assert_eq!(
        search("a (b OR c)"),
        Expr::And(vec![a.clone(), Expr::Or(vec![b.clone(), c.clone()])])
    );
    assert_eq!(search("-a"), not(a.clone()));
    assert_eq!(search("NOT a"), not(a.clone()));
    assert_eq!(search("+a"), a.clone());
    assert_eq!(
        search("-(a OR b)"),
        not(Expr::Or(vec![a.clone(), b.clone()]))
    );
    assert_eq!(search("(a)(b)"), Expr::And(vec![a.clone(), b.clone()]));
    // Operators are uppercase only: a lowercase `or` is a word.
    assert_eq!(
        search("a or b"),
        Expr::And(vec![a.clone(), message_word("or"), b.clone()])
    );
    assert_eq!(search("NOTE"), message_word("NOTE"));
}

#[test]
fn field_groups_apply_the_field_to_each_term() {
    assert_eq!(
        search("level:(error OR fatal)"),
        Expr::Or(vec![level_is(Level::Error), level_is(Level::Fatal)])
    );
    assert_eq!(
        search("source:(web-* -web-2)"),
        Expr::And(vec![
            text(Field::Source, TextQuery::Like("web-%".into())),
            not(eq(Field::Source, str_value("web-2"))),
        ])
    );
}

#[test]
fn the_seed_search_example() {
    assert_eq!(
        search("level:error component:auth \"connection reset\" -healthcheck"),
        Expr::And(vec![
            level_is(Level::Error),
            eq(tag("component"), str_value("auth")),
            message(phrase(&["connection", "reset"])),
            not(message_word("healthcheck")),
        ])
    );
}

#[test]
fn column_offsets_point_into_the_whole_query() {
    assert_eq!(parse_search("a (b", 10).unwrap_err().column, 15);
    let q = "SELECT * WHERE SEARCH('level:loud')";
    assert_eq!(
        error_of(q),
        "column 30: unknown level \"loud\"; expected trace, debug, info, warn, error or fatal"
    );
}
