//! Every refusal names the column and what was expected, word for word.

use super::*;

fn assert_errors(cases: &[(&str, &str)]) {
    for (q, expected) in cases {
        assert_eq!(error_of(q), *expected, "for {q:?}");
    }
}

#[test]
fn lexical_errors() {
    assert_errors(&[
        (
            "SELECT * FROM logs WHERE message = 'abc",
            "column 36: unterminated string starting here; expected a closing '",
        ),
        (
            "SELECT * WHERE a # b",
            "column 18: unexpected character '#'; expected a name, a number, a 'string', an operator \
             or one of , ( ) [ ] . *",
        ),
        (
            "SELECT * WHERE tags.\"\" = 1",
            "column 21: empty quoted name; expected a name between the double quotes",
        ),
        ("SELECT * WHERE a ! b", "column 18: unexpected character '!'; expected '!=' (or NOT before a condition)"),
    ]);
}

#[test]
fn statement_structure_errors() {
    assert_errors(&[
        ("", "column 1: empty query; expected a SELECT statement or search terms such as level:error timeout"),
        ("SELECT", "column 7: expected a field, an aggregate or * after SELECT, found end of query"),
        (
            "SELECT * FROM WHERE level = 'error'",
            "column 15: expected a partition name or * after FROM, found \"WHERE\"",
        ),
        (
            "SELECT * FROM *, a",
            "column 16: '*' stands for every partition and cannot be listed with others; \
             expected either * or partition names",
        ),
        (
            "SELECT * FROM \"my logs\"",
            "column 15: partition name \"my logs\" may only contain A-Z, a-z, 0-9, '_', '-' and '.'",
        ),
        ("SELECT * FROM logs LIMIT -1", "column 26: expected a whole number (0 or more) after LIMIT, found '-'"),
        ("SELECT * FROM logs LIMIT 1.5", "column 26: expected a whole number (0 or more) after LIMIT, found number 1.5"),
        (
            "SELECT * LIMIT 99999999999999999999",
            "column 16: LIMIT 99999999999999999999 is too large; at most 18446744073709551615",
        ),
        (
            "SELECT * FROM logs WHERE level = 'error' LIMT 5",
            "column 42: expected AND, OR, GROUP BY, ORDER BY, LIMIT, OFFSET or end of query, found \"LIMT\"",
        ),
        (
            "SELECT * WHERE level = 'error')",
            "column 31: expected AND, OR, GROUP BY, ORDER BY, LIMIT, OFFSET or end of query, found ')'",
        ),
        (
            "SELECT * WHERE x = 'a' ORDER BY timestamp LIMIT 5 OFFSET 2 LIMIT 3",
            "column 60: expected end of query, found \"LIMIT\"",
        ),
        (
            "SELCT * FROM logs",
            "column 1: expected SELECT, found \"SELCT\"; to search for this word instead, put it in double quotes",
        ),
    ]);
}

#[test]
fn condition_errors() {
    assert_errors(&[
        ("SELECT * FROM a WHERE", "column 22: expected a condition after WHERE, found end of query"),
        ("SELECT * WHERE NOT", "column 19: expected a condition after NOT, found end of query"),
        ("SELECT * WHERE level = 'error' AND", "column 35: expected a condition after AND, found end of query"),
        ("SELECT * FROM logs WHERE level =", "column 33: expected a value after '=', found end of query"),
        (
            "SELECT * WHERE (level = 'error' OR level = 'fatal'",
            "column 51: expected ')' to close the '(' at column 16, found end of query",
        ),
        (
            "SELECT * WHERE tags.x 'a'",
            "column 23: expected an operator after tags.x (=, !=, <, <=, >, >=, IN, LIKE, CONTAINS, \
             MATCHES, STARTS WITH or IS NULL), found string 'a'",
        ),
        ("SELECT * WHERE tags.x IS 5", "column 26: expected NULL or NOT NULL after IS, found number 5"),
        (
            "SELECT * WHERE tags.x = NULL",
            "column 25: NULL is not a value to compare with; expected IS NULL or IS NOT NULL",
        ),
        ("SELECT * WHERE x IN ()", "column 22: expected a value after IN (, found ')'"),
        ("SELECT * WHERE source STARTS 'a'", "column 30: expected WITH after STARTS, found string 'a'"),
        (
            "SELECT tags FROM x",
            "column 13: expected a key after tags, as in tags.component or tags['my key'], found \"FROM\"",
        ),
        (
            "SELECT * WHERE tags.x = 99999999999999999999",
            "column 25: integer 99999999999999999999 is out of range; expected -9223372036854775808 to \
             9223372036854775807",
        ),
        (
            "SELECT * WHERE count(*) > 5",
            "column 16: aggregate count() is not allowed in WHERE, which filters single entries; \
             expected a condition such as level = 'error'",
        ),
        (
            "SELECT * WHERE now() > 1",
            "column 16: now() is a value; expected a condition such as timestamp > now() - interval '1 hour'",
        ),
        ("SELECT * WHERE cnt(x)", "column 16: unknown function \"cnt\"; expected search or exists"),
    ]);
}

#[test]
fn value_errors() {
    assert_errors(&[
        (
            "SELECT * WHERE level = 'loud'",
            "column 24: unknown level \"loud\"; expected trace, debug, info, warn, error or fatal",
        ),
        (
            "SELECT * WHERE timestamp > now() - interval '1 fortnight'",
            "column 48: unknown interval unit \"fortnight\"; expected ms, s, m, h, d or w \
             (or millisecond, second, minute, hour, day, week)",
        ),
        (
            "SELECT * WHERE timestamp > 'yesterday'",
            "column 28: \"yesterday\" is not a number since the epoch (expected digits); expected a time \
             such as '2024-03-15T00:00:00Z' or a number since the epoch",
        ),
        ("SELECT * WHERE tags.x > now()", "column 25: now() can only be compared with timestamp"),
        ("SELECT * WHERE source = 5", "column 25: source is text; expected a 'quoted string'"),
        (
            "SELECT * WHERE timestamp LIKE '2024%'",
            "column 26: LIKE does not apply to timestamp; compare it with =, !=, <, <=, >, >= or IN",
        ),
        (
            "SELECT * WHERE message MATCHES 'conn(ection'",
            "column 32: invalid regular expression \"conn(ection\": unclosed group",
        ),
    ]);
}

#[test]
fn aggregate_errors() {
    assert_errors(&[
        ("SELECT cnt(*) FROM logs", "column 8: unknown function \"cnt\"; expected count, min, max, avg, sum or bucket"),
        (
            "SELECT * FROM logs GROUP BY level",
            "column 8: SELECT * cannot be combined with GROUP BY; expected group keys and aggregates, \
             as in SELECT level, count(*) ... GROUP BY level",
        ),
        (
            "SELECT source, count(*) FROM logs",
            "column 8: source is neither grouped nor aggregated; expected GROUP BY source or an aggregate of it",
        ),
        (
            "SELECT bucket(timestamp, '1m'), count(*)",
            "column 8: bucket(timestamp, '1m') is neither grouped nor aggregated; expected GROUP BY \
             bucket(timestamp, '1m') or an aggregate of it",
        ),
        (
            "SELECT bucket(timestamp, '1m') FROM x",
            "column 8: bucket(timestamp, '1m') needs GROUP BY bucket(timestamp, '1m')",
        ),
        (
            "SELECT * FROM logs ORDER BY source",
            "column 29: entries can only be ordered by timestamp, not by source; expected ORDER BY \
             timestamp ASC or DESC (other orders need GROUP BY)",
        ),
        (
            "SELECT level, count(*) GROUP BY level ORDER BY max(fields.x) DESC",
            "column 48: cannot order groups by max(fields.x); expected a group key or an aggregate of the \
             SELECT list",
        ),
        (
            "SELECT count(*) GROUP BY count(*)",
            "column 26: cannot group by the aggregate count(*); expected a field or bucket(timestamp, '...')",
        ),
        (
            "SELECT count(*) GROUP BY bucket(source, '1m')",
            "column 33: bucket() works on timestamp only; expected bucket(timestamp, '1m'), found source",
        ),
        (
            "SELECT count(*) GROUP BY bucket(timestamp, '0s')",
            "column 44: a bucket width must be at least 1ms; expected a width such as '1m' or '1h'",
        ),
        (
            "SELECT count(*) GROUP BY bucket(timestamp, '1 month')",
            "column 47: unknown interval unit \"month\"; expected ms, s, m, h, d or w \
             (or millisecond, second, minute, hour, day, week)",
        ),
        (
            "SELECT avg(source) FROM x",
            "column 12: avg() needs numbers and source holds none; expected fields.<key> or tags.<key>",
        ),
        (
            "SELECT max(level) FROM x",
            "column 12: max() needs numbers and level holds none; expected fields.<key>, tags.<key> or timestamp",
        ),
        ("SELECT count(*) AS n, sum(tags.x) AS n", "column 23: alias \"n\" is used twice; expected distinct names"),
        ("SELECT count(*) AS source", "column 20: alias \"source\" is the name of a field; expected another name"),
    ]);
}

#[test]
fn search_errors() {
    assert_errors(&[
        (
            "SELECT * WHERE SEARCH('  ')",
            "column 26: empty search; expected at least one term, such as timeout or level:error",
        ),
        ("SELECT * WHERE SEARCH('a OR')", "column 28: expected a term after OR, found end of search"),
        ("\"connection reset", "column 1: unterminated phrase starting here; expected a closing \""),
        ("/conn(ection", "column 1: unterminated regular expression starting here; expected a closing /"),
        ("/(/", "column 1: invalid regular expression \"(\": unclosed group"),
        ("timeout~3", "column 8: fuzzy distance ~3 is not offered; expected ~1 or ~2"),
        ("~1", "column 1: expected a word before '~'"),
        ("time*~1", "column 1: a term cannot be both fuzzy (~) and a wildcard (* or ?); expected one of them"),
        ("a - b", "column 4: expected a term right after '-', found a space"),
        ("(a", "column 3: expected ')' to close the '(' at column 1, found end of search"),
        ("a)", "column 2: unbalanced ')'; expected a term or the end of the search"),
        ("()", "column 2: empty parentheses; expected a term inside"),
        ("a AND", "column 6: expected a term after AND, found end of search"),
        ("NOT", "column 4: expected a term after NOT, found end of search"),
        (
            "a AND OR b",
            "column 7: expected a term after AND, found \"OR\"; to search for the word, put it in double quotes",
        ),
        (
            "OR b",
            "column 1: expected a term, found \"OR\"; to search for the word, put it in double quotes",
        ),
        ("tags:x", "column 1: expected a key after 'tags.', as in tags.component:auth"),
        ("source:", "column 8: expected a value after 'source:', found end of search"),
        ("level:loud", "column 7: unknown level \"loud\"; expected trace, debug, info, warn, error or fatal"),
        (
            "level:err*",
            "column 7: level takes a level name, as in level:error or level:>=warn; wildcards, regexes and \
             fuzzy terms do not apply",
        ),
        (
            "message:>5",
            "column 9: message cannot be compared with >; expected words, \"phrases\", wildcards or /regex/",
        ),
        ("fields.x:>abc", "column 10: expected a number after '>', found \"abc\""),
        (
            "req-4*",
            "column 1: wildcard pattern \"req-4*\" contains '-', which no word contains; wildcards match \
             within one word (letters, digits and '_')",
        ),
        ("a\\", "column 2: the search ends with an escape '\\'; expected a character after it"),
        (
            "\"a\"b",
            "column 4: expected a space or ')' after the closing \", found \"b\"; to search for text with ':' \
             or '/', put it in \"double quotes\"",
        ),
        ("\"\"", "column 1: empty phrase; expected words between the double quotes"),
    ]);
}

#[test]
fn limits_are_errors_not_crashes() {
    let long = "a ".repeat(9000);
    assert_eq!(
        error_of(&long),
        "column 1: the query is 18000 bytes long; at most 16384 are allowed"
    );
    let parens = format!("SELECT * WHERE {}x = 1{}", "(".repeat(70), ")".repeat(70));
    assert_eq!(
        error_of(&parens),
        "column 80: expressions nest more than 64 levels deep; expected a flatter query"
    );
    let nots = format!("SELECT * WHERE {}x = 1", "NOT ".repeat(100));
    assert_eq!(error_of(&nots).split(':').next(), Some("column 272"));
    let search_parens = format!("{}a", "(".repeat(100));
    assert_eq!(
        error_of(&search_parens),
        "column 65: the search nests more than 64 levels deep; expected a flatter search"
    );
    let negations = format!("{}a", "-".repeat(100));
    assert_eq!(error_of(&negations).split(':').next(), Some("column 65"));
    let in_list = format!("SELECT * WHERE x IN ({})", vec!["1"; 1100].join(", "));
    assert!(error_of(&in_list).ends_with("IN lists may hold at most 1024 values; expected ')'"));
}
