use std::time::{Duration, Instant};

use super::*;

fn matcher(query: TextQuery) -> TextMatcher {
    TextMatcher::compile(&query).unwrap_or_else(|error| panic!("{query:?}: {error}"))
}

fn matches(query: TextQuery, text: &str) -> bool {
    matcher(query).is_match(text)
}

fn word(text: &str) -> TextQuery {
    TextQuery::Word(text.into())
}

fn phrase(words: &[&str]) -> TextQuery {
    TextQuery::Phrase(words.iter().map(|word| word.to_string()).collect())
}

#[test]
fn tokenizer_splits_on_everything_but_letters_digits_and_underscore() {
    let found: Vec<&str> =
        words("Connection reset by peer: req-42ab /var/log/app.log user_id=7").collect();
    assert_eq!(
        found,
        [
            "Connection",
            "reset",
            "by",
            "peer",
            "req",
            "42ab",
            "var",
            "log",
            "app",
            "log",
            "user_id",
            "7"
        ]
    );
    let unicode: Vec<&str> = words("Grüße, 世界! naïve_x ÉTÉ").collect();
    assert_eq!(unicode, ["Grüße", "世界", "naïve_x", "ÉTÉ"]);
    assert_eq!(words("").count(), 0);
    assert_eq!(words(" --- ... ").count(), 0);
    let spans: Vec<(usize, usize)> = word_spans("ab, ü").collect();
    assert_eq!(spans, [(0, 2), (4, 6)]);
}

#[test]
fn lowercase_is_per_character() {
    assert_eq!(lowercase("MiXeD"), "mixed");
    assert_eq!(lowercase("ÜBER"), "über");
    // No final-sigma context rule: a word lowercases the same anywhere.
    assert_eq!(lowercase("ΟΔΟΣ"), "οδοσ");
}

#[test]
fn word_matches_whole_words_ignoring_case() {
    assert!(matches(word("timeout"), "Connection TIMEOUT after 30s"));
    assert!(!matches(word("time"), "Connection TIMEOUT after 30s"));
    assert!(!matches(word("timeout"), "timeouts happen"));
    assert!(matches(word("ÜBERLAST"), "die überlast"));
    assert!(matches(word("ΟΔΟΣ"), "η ΟΔΟΣ"));
    assert!(matches(word("42ab"), "req-42ab"));
    assert!(!matches(word("x"), ""));
}

#[test]
fn phrase_matches_consecutive_words() {
    let text = "connection reset by peer";
    assert!(matches(phrase(&["reset", "by"]), text));
    assert!(matches(
        phrase(&["CONNECTION", "reset", "by", "peer"]),
        text
    ));
    assert!(!matches(phrase(&["reset", "peer"]), text));
    assert!(!matches(phrase(&["peer", "reset"]), text));
    assert!(matches(phrase(&["a", "b"]), "a a b"));
    assert!(matches(phrase(&["req", "42ab"]), "id=req-42ab"));
    assert!(matches(phrase(&["only"]), "the only one"));
    assert!(!matches(phrase(&["a", "b"]), ""));
}

#[test]
fn prefix_and_wildcards_match_within_one_word() {
    assert!(matches(TextQuery::Prefix("time".into()), "a Timeout"));
    assert!(!matches(TextQuery::Prefix("time".into()), "runtime"));
    assert!(matches(TextQuery::Prefix("über".into()), "Überlast"));
    assert!(matches(TextQuery::Wildcard("t*t".into()), "the TIMEOUT"));
    assert!(matches(TextQuery::Wildcard("t?me".into()), "TIME out"));
    assert!(!matches(TextQuery::Wildcard("t?me".into()), "tme"));
    assert!(matches(TextQuery::Wildcard("*out".into()), "timeout"));
    assert!(!matches(TextQuery::Wildcard("time*out".into()), "time out"));
    assert!(!matches(TextQuery::Wildcard("a*".into()), ""));
}

#[test]
fn like_matches_the_whole_value() {
    assert!(matches(TextQuery::Like("web-%".into()), "WEB-1"));
    assert!(!matches(TextQuery::Like("web-%".into()), "api-web-1"));
    assert!(matches(
        TextQuery::Like("%reset%".into()),
        "Connection reset by peer"
    ));
    assert!(matches(TextQuery::Like("".into()), ""));
    assert!(!matches(TextQuery::Like("".into()), "x"));
}

#[test]
fn contains_is_a_case_insensitive_substring() {
    assert!(matches(
        TextQuery::Contains("timeout".into()),
        "Connection TIMEOUTS"
    ));
    assert!(matches(TextQuery::Contains("ÜBER".into()), "die überlast"));
    assert!(matches(TextQuery::Contains("a.b(".into()), "x A.B( y"));
    assert!(!matches(TextQuery::Contains("a.b(".into()), "axb("));
    assert!(matches(TextQuery::Contains(String::new()), ""));
    assert!(!matches(TextQuery::Contains("x".into()), ""));
}

#[test]
fn regex_is_unanchored_and_case_insensitive_by_default() {
    let regex = |pattern: &str| TextQuery::Regex(pattern.into());
    assert!(matches(
        regex("conn(ection)? reset"),
        "Connection RESET by peer"
    ));
    assert!(matches(regex("conn(ection)? reset"), "conn reset"));
    assert!(!matches(regex("^reset"), "conn reset"));
    assert!(!matches(regex("(?-i)Conn"), "connection"));
    assert!(matches(regex("\\d{3}"), "status 503"));
    assert!(matches(regex(""), ""));
}

#[test]
fn regex_errors_and_limits() {
    let error =
        |pattern: &str| TextMatcher::compile(&TextQuery::Regex(pattern.into())).unwrap_err();
    assert_eq!(
        error("conn(ection"),
        "invalid regular expression \"conn(ection\": unclosed group"
    );
    assert_eq!(
        error("a{1000}{1000}"),
        "regular expression \"a{1000}{1000}\" is too complex (its compiled form is over 1 MiB); simplify it"
    );
    assert_eq!(
        error(&"a".repeat(1025)),
        "the text to match is 1025 bytes long; at most 1024 are allowed"
    );
}

#[test]
fn the_longest_needles_compile() {
    // Case-insensitive Unicode literals grow: `k` also matches the Kelvin
    // sign. The longest allowed needle must still fit the size limits.
    assert!(matches(
        TextQuery::Contains("k".repeat(1024)),
        &"K".repeat(1100)
    ));
    assert!(matches(
        TextQuery::Contains("é".repeat(512)),
        &"É".repeat(512)
    ));
    assert!(matches(TextQuery::Like("%".repeat(1024)), "anything"));
}

#[test]
fn regex_matching_is_linear_on_pathological_input() {
    let started = Instant::now();
    let text = "a".repeat(200_000);
    assert!(!matches(TextQuery::Regex("(a*)*b".into()), &text));
    assert!(!matches(TextQuery::Regex("(a|aa)+$x".into()), &text));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn fuzzy_matches_any_word_within_the_distance() {
    let fuzzy = |word: &str, distance| TextQuery::Fuzzy {
        word: word.into(),
        distance,
    };
    assert!(matches(fuzzy("timeout", 1), "a TIMEOT occurred"));
    assert!(!matches(fuzzy("timeout", 1), "a tymeot occurred"));
    assert!(matches(fuzzy("timeout", 2), "a tymeot occurred"));
    assert!(matches(fuzzy("überlast", 1), "UBERLAST"));
    assert!(!matches(fuzzy("x", 1), ""));
}

#[test]
fn word_queries_must_be_single_words() {
    let error = |query: TextQuery| TextMatcher::compile(&query).unwrap_err();
    assert_eq!(
        error(word("two words")),
        "a word must be one word of letters, digits and '_', found \"two words\""
    );
    assert_eq!(
        error(word("")),
        "a word must be one word of letters, digits and '_', found \"\""
    );
    assert_eq!(
        error(TextQuery::Prefix("req-".into())),
        "a prefix must be one word of letters, digits and '_', found \"req-\""
    );
    assert_eq!(
        error(TextQuery::Phrase(Vec::new())),
        "a phrase must have 1 to 32 words, found 0"
    );
    assert_eq!(
        error(TextQuery::Phrase(vec!["a".into(); 33])),
        "a phrase must have 1 to 32 words, found 33"
    );
    assert_eq!(
        error(TextQuery::Fuzzy {
            word: "a".into(),
            distance: 3
        }),
        "fuzzy distance 3 is not offered; use ~1 or ~2"
    );
    assert_eq!(
        error(TextQuery::Like("50\\".into())),
        "pattern \"50\\\\\" ends with an escape '\\'; write '\\\\' for a backslash"
    );
}

#[test]
fn wildcard_matchers_stay_linear_on_pathological_input() {
    let long_word = "a".repeat(1_000_000);
    let started = Instant::now();
    assert!(!matches(
        TextQuery::Wildcard("a*a*a*a*a*b".into()),
        &long_word
    ));
    assert!(matches(
        TextQuery::Wildcard("a*a*a*a*a*a".into()),
        &long_word
    ));
    assert!(!matches(TextQuery::Like("%a%a%a%a%a%b".into()), &long_word));
    assert!(!matches(TextQuery::Like("a%a%a%a%a%b%".into()), &long_word));
    let many_words = "a ".repeat(300_000);
    assert!(!matches(TextQuery::Wildcard("a*a*a*b".into()), &many_words));
    assert!(!matches(
        TextQuery::Fuzzy {
            word: "bbbbb".into(),
            distance: 2
        },
        &many_words
    ));
    assert!(!matches(phrase(&["a", "a", "b"]), &many_words));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn required_words_never_claim_a_cut_word() {
    let required = |query: TextQuery| matcher(query).required_words().to_vec();
    assert_eq!(required(word("Timeout")), ["timeout"]);
    assert_eq!(
        required(phrase(&["Connection", "reset"])),
        ["connection", "reset"]
    );
    assert_eq!(
        required(TextQuery::Contains("conn reset by peer".into())),
        ["reset", "by"]
    );
    assert_eq!(required(TextQuery::Contains(" reset ".into())), ["reset"]);
    assert!(required(TextQuery::Contains("reset".into())).is_empty());
    assert_eq!(required(TextQuery::Like("Error: %".into())), ["error"]);
    assert!(required(TextQuery::Prefix("time".into())).is_empty());
    assert!(required(TextQuery::Regex("timeout".into())).is_empty());
    assert!(required(TextQuery::Fuzzy {
        word: "timeout".into(),
        distance: 1
    })
    .is_empty());
    assert!(required(TextQuery::Wildcard("t?me".into())).is_empty());
}

#[test]
fn matchers_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TextMatcher>();
}

#[test]
fn the_prefilter_never_rejects_a_match() {
    // The Kelvin sign lowercases to ASCII `k`; the prefilter must fold it too.
    assert!(matches(word("kelvin"), "500 \u{212A}elvin reached"));
    assert!(matches(TextQuery::Prefix("kel".into()), "\u{212A}ELVIN"));
    assert!(matches(phrase(&["disk", "full"]), "DISK: Full!"));
    assert!(!matches(word("disk"), "diskette full"));
    assert!(!matches(word("disk"), "no match here"));
    // Non-ASCII words are matched without a prefilter.
    assert!(matches(word("straße"), "STRAẞE gesperrt"));
}
