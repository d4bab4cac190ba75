//! Text matching: the tokenizer every word match and the message index
//! share, the `TextQuery` a parsed query carries, and its compiled form,
//! `TextMatcher`.
//!
//! Rules, the same for every matcher:
//! - Case never matters. Text and query are lowercased with `lowercase`
//!   (per character `char::to_lowercase`, ASCII fast path), never with
//!   `str::to_lowercase`, whose context rules (Greek final sigma) would make
//!   a word lowercase differently in a query and in a message.
//! - A word is a maximal run of alphanumeric characters (Unicode
//!   `char::is_alphanumeric`) and `_` (see `words`). Everything else
//!   separates words, including `-`, `.`, `/` and `:`, so the id
//!   `req-42ab` is the words `req`, `42ab` and the path `/var/log/app.log`
//!   is `var`, `log`, `app`, `log`; a phrase query finds such a sequence.
//! - Every matcher runs in time linear in the text (times a bounded pattern
//!   length): wildcards are matched segment by segment without backtracking,
//!   fuzzy matching is a bounded Levenshtein over capped word lengths, and
//!   the `regex` crate guarantees linear-time search (finite automata, no
//!   backtracking) within the compiled-size limits below.

use super::fuzzy::Fuzzy;
use super::glob::{Glob, GlobSyntax};
use crate::text::caseless::CaselessFinder;
use crate::text::{eq_lowercase, starts_with_lowercase};
pub use crate::text::{is_word_char, lowercase, word_spans, words, WordSpans};

/// Longest text in any `TextQuery` (needle, pattern, regex, phrase) in
/// bytes. Bounds the matcher's per-character work and a regex's parse time.
pub const TEXT_QUERY_BYTES_MAX: usize = 1024;
/// Most words in a phrase; a phrase match costs up to this many word
/// comparisons per word of text.
pub const PHRASE_WORDS_MAX: usize = 32;
/// Compiled-program limit for one regex (the `regex` crate's `size_limit`).
pub const REGEX_COMPILED_BYTES_MAX: usize = 1 << 20;
/// Lazy-DFA cache limit for one regex per thread using it (`dfa_size_limit`);
/// the memory a regex can hold is at most this per shard thread.
pub const REGEX_DFA_BYTES_MAX: usize = 1 << 20;

/// What to look for in a text value. Which variant a query produces depends
/// on the field (see the parser): full-text searches of `message` use the
/// word variants; whole-value matches of keyword fields (`source`, tags)
/// use `Like`; `Contains` and `Regex` search anywhere in any text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextQuery {
    /// The value contains this text anywhere. `""` matches every value.
    Contains(String),
    /// Some word of the value is this word (exactly one word, see `words`).
    Word(String),
    /// These words appear consecutively (1 to `PHRASE_WORDS_MAX` words;
    /// separators between them in the value do not matter).
    Phrase(Vec<String>),
    /// Some word of the value starts with this (non-empty, word characters).
    Prefix(String),
    /// Some word of the value matches this pattern as a whole: `*` any run
    /// of characters, `?` exactly one, `\` makes the next one literal.
    /// Literal characters must be word characters (no word can hold others).
    Wildcard(String),
    /// The whole value matches this SQL LIKE pattern: `%` any run, `_`
    /// exactly one character, `\` makes the next one literal. Unlike
    /// PostgreSQL, and like every text match here, case is ignored.
    Like(String),
    /// A `regex` crate pattern found anywhere in the value (anchor with `^`
    /// and `$`); case-insensitive unless it starts with `(?-i)`.
    Regex(String),
    /// Some word of the value is within `distance` edits (Levenshtein:
    /// insert, delete or substitute one character) of `word`. `distance` is
    /// 1 or 2; `word` is one word of at most `FUZZY_WORD_CHARS_MAX` chars.
    Fuzzy { word: String, distance: u8 },
}

pub use super::fuzzy::FUZZY_WORD_CHARS_MAX;

/// A compiled `TextQuery`. Compile once per query, match many values.
/// `Send + Sync`, so one plan can be shared by every shard.
#[derive(Debug, Clone)]
pub struct TextMatcher {
    kind: Kind,
    /// Lowercased words every matching value contains; see `required_words`.
    required_words: Vec<String>,
    /// A case-insensitive search for one word every match contains, run
    /// before the tokenizing matcher: most values lack the word, and the
    /// regex crate's literal search (memchr, Teddy) rejects them several
    /// times faster than splitting them into words. Only for ASCII words,
    /// where it is exact to be conservative: a value whose word lowercases
    /// to an ASCII word holds it case-insensitively (the one non-ASCII
    /// letter lowercasing to ASCII, the Kelvin sign, folds to `k` too).
    prefilter: Option<regex::Regex>,
    /// A search run once over a whole column of values back to back
    /// (`query::scan`), finding every value that may match; see `Scanner`.
    scanner: Option<Scanner>,
}

/// A search over many values at once, their bytes back to back, that hits
/// inside every value the matcher can match (and maybe others): a column
/// scan runs it over a granule's messages, then confirms each value it hit
/// with `is_match`. Only searches that cannot depend on where a value
/// starts or ends qualify (no anchors or word boundaries), so values being
/// adjacent cannot hide a hit; the scan restarts at the next value after a
/// hit, so a hit that runs across two values cannot either.
#[derive(Debug, Clone)]
pub enum Scanner {
    /// Bytes found exactly (a word without letters: case cannot matter).
    Literal(Box<memchr::memmem::Finder<'static>>),
    /// An ASCII word found ignoring ASCII case (and the characters that
    /// lowercase onto its letters, see `CaselessFinder`).
    Caseless(Box<CaselessFinder>),
    /// A case-insensitive literal, or the user's own regex.
    Regex(regex::Regex),
}

impl Scanner {
    /// The start of the first hit at or after `start` in `haystack`.
    pub fn find_at(&self, haystack: &str, start: usize) -> Option<usize> {
        match self {
            Scanner::Literal(finder) => finder
                .find(&haystack.as_bytes()[start..])
                .map(|position| start + position),
            Scanner::Caseless(finder) => finder
                .find(&haystack.as_bytes()[start..])
                .map(|position| start + position),
            Scanner::Regex(regex) => regex.find_at(haystack, start).map(|hit| hit.start()),
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Everything,
    /// Used for `Contains` too: an escaped literal gets the crate's literal
    /// prefilters (memchr, Teddy) and Unicode case folding, with no
    /// per-value lowercased copy.
    Regex(regex::Regex),
    /// Lowercased.
    Word(String),
    /// Lowercased.
    Phrase(Vec<String>),
    /// Lowercased.
    Prefix(String),
    WordGlob(Glob),
    WholeGlob(Glob),
    Fuzzy(Fuzzy),
}

impl TextMatcher {
    /// Checks and compiles a query. The error is a sentence saying what is
    /// wrong with it (the parser puts a column in front).
    pub fn compile(query: &TextQuery) -> Result<TextMatcher, String> {
        check_length(query)?;
        let (kind, required_words) = match query {
            TextQuery::Contains(text) if text.is_empty() => (Kind::Everything, Vec::new()),
            TextQuery::Contains(text) => (
                Kind::Regex(build_regex(&regex::escape(text), text)?),
                complete_words(text, true, true),
            ),
            TextQuery::Word(word) => {
                let lower = single_word(word, "a word")?;
                (Kind::Word(lower.clone()), vec![lower])
            }
            TextQuery::Phrase(phrase) => {
                let lower = phrase_words(phrase)?;
                (Kind::Phrase(lower.clone()), lower)
            }
            TextQuery::Prefix(prefix) => {
                (Kind::Prefix(single_word(prefix, "a prefix")?), Vec::new())
            }
            TextQuery::Wildcard(pattern) => (
                Kind::WordGlob(Glob::compile(pattern, GlobSyntax::Wildcard)?),
                Vec::new(),
            ),
            TextQuery::Like(pattern) => {
                let glob = Glob::compile(pattern, GlobSyntax::Like)?;
                let required = glob.required_words();
                (Kind::WholeGlob(glob), required)
            }
            TextQuery::Regex(pattern) => (Kind::Regex(build_regex(pattern, pattern)?), Vec::new()),
            TextQuery::Fuzzy { word, distance } => {
                let lower = single_word(word, "a fuzzy word")?;
                (Kind::Fuzzy(Fuzzy::new(&lower, *distance)?), Vec::new())
            }
        };
        let prefilter = prefilter_for(&kind)?;
        let scanner = scanner_for(query, &kind, prefilter.as_ref());
        Ok(TextMatcher {
            kind,
            prefilter,
            required_words,
            scanner,
        })
    }

    /// The column-scan search for this matcher, when it has one.
    pub fn scanner(&self) -> Option<&Scanner> {
        self.scanner.as_ref()
    }

    /// Whether `text` (one value: a message, a source, a tag value) matches.
    pub fn is_match(&self, text: &str) -> bool {
        if self
            .prefilter
            .as_ref()
            .is_some_and(|prefilter| !prefilter.is_match(text))
        {
            return false;
        }
        match &self.kind {
            Kind::Everything => true,
            Kind::Regex(regex) => regex.is_match(text),
            Kind::Word(word) => words(text).any(|candidate| eq_lowercase(candidate, word)),
            Kind::Phrase(phrase) => phrase_is_in(phrase, text),
            Kind::Prefix(prefix) => {
                words(text).any(|candidate| starts_with_lowercase(candidate, prefix))
            }
            Kind::WordGlob(glob) => words(text).any(|candidate| glob.is_match(candidate)),
            Kind::WholeGlob(glob) => glob.is_match(text),
            Kind::Fuzzy(fuzzy) => words(text).any(|candidate| fuzzy.is_match_word(candidate)),
        }
    }

    /// Lowercased whole words (as `words` and `lowercase` make them) that
    /// every matching value contains, for pruning blocks with a word index:
    /// a block whose index lacks one of them cannot match. Empty when none
    /// can be derived (prefixes, wildcards, regexes, fuzzy words), never
    /// wrong: `Contains("conn reset by")` gives only `reset`, because the
    /// value may hold `xconn` or `bypass`.
    pub fn required_words(&self) -> &[String] {
        &self.required_words
    }
}

/// The prefilter of a word matcher: the longest ASCII word it needs.
fn prefilter_for(kind: &Kind) -> Result<Option<regex::Regex>, String> {
    let word = match kind {
        Kind::Word(word) | Kind::Prefix(word) => Some(word),
        Kind::Phrase(words) => words.iter().max_by_key(|word| word.len()),
        _ => None,
    };
    word.filter(|word| word.is_ascii())
        .map(|word| build_regex(&regex::escape(word), word))
        .transpose()
}

/// The scanner of a matcher (see `Scanner`): a literal search for the most
/// selective ASCII word a word, prefix or phrase match needs (one without
/// letters searched exactly, at memchr's speed; else the longest, with
/// ASCII case ignored, nearly as fast), the literal itself for `Contains`,
/// and the user's regex when it has no anchors or word boundaries.
/// `Contains` keeps its regex: it folds case the Unicode way, which maps
/// more characters onto ASCII letters than word lowercasing does.
fn scanner_for(
    query: &TextQuery,
    kind: &Kind,
    prefilter: Option<&regex::Regex>,
) -> Option<Scanner> {
    let literal = |word: &str| {
        if word.bytes().any(|byte| byte.is_ascii_alphabetic()) || !word.is_ascii() {
            None
        } else {
            Some(Scanner::Literal(Box::new(
                memchr::memmem::Finder::new(word.as_bytes()).into_owned(),
            )))
        }
    };
    let caseless = |word: &str| {
        literal(word)
            .or_else(|| CaselessFinder::new(word).map(|finder| Scanner::Caseless(Box::new(finder))))
            .or_else(|| prefilter.cloned().map(Scanner::Regex))
    };
    match (query, kind) {
        (TextQuery::Word(_) | TextQuery::Prefix(_), Kind::Word(word) | Kind::Prefix(word)) => {
            caseless(word)
        }
        (TextQuery::Phrase(_), Kind::Phrase(words)) => {
            let without_letters = words
                .iter()
                .filter(|word| literal(word).is_some())
                .max_by_key(|word| word.len());
            match without_letters {
                Some(word) => literal(word),
                None => words
                    .iter()
                    .filter(|word| word.is_ascii())
                    .max_by_key(|word| word.len())
                    .and_then(|word| caseless(word)),
            }
        }
        (TextQuery::Contains(text), Kind::Regex(regex)) => {
            literal(text).or_else(|| Some(Scanner::Regex(regex.clone())))
        }
        (TextQuery::Regex(pattern), Kind::Regex(regex)) => {
            has_no_look_around(pattern).then(|| Scanner::Regex(regex.clone()))
        }
        _ => None,
    }
}

/// Whether a regex has no anchor or word-boundary assertion and cannot
/// match the empty string, so where a value starts and ends cannot change
/// what it matches (an empty value holds no hit, and needs none).
fn has_no_look_around(pattern: &str) -> bool {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .build()
        .parse(pattern)
        .is_ok_and(|hir| {
            let properties = hir.properties();
            properties.look_set().is_empty() && properties.minimum_len().is_some_and(|len| len > 0)
        })
}

fn check_length(query: &TextQuery) -> Result<(), String> {
    let bytes = match query {
        TextQuery::Contains(text)
        | TextQuery::Word(text)
        | TextQuery::Prefix(text)
        | TextQuery::Wildcard(text)
        | TextQuery::Like(text)
        | TextQuery::Regex(text)
        | TextQuery::Fuzzy { word: text, .. } => text.len(),
        TextQuery::Phrase(words) => words.iter().map(|word| word.len() + 1).sum(),
    };
    if bytes > TEXT_QUERY_BYTES_MAX {
        return Err(format!(
            "the text to match is {bytes} bytes long; at most {TEXT_QUERY_BYTES_MAX} are allowed"
        ));
    }
    Ok(())
}

/// `text` must be exactly one word; returns it lowercased.
fn single_word(text: &str, what: &str) -> Result<String, String> {
    let mut spans = word_spans(text);
    match (spans.next(), spans.next()) {
        (Some((0, end)), None) if end == text.len() => Ok(lowercase(text)),
        _ => Err(format!(
            "{what} must be one word of letters, digits and '_', found {text:?}"
        )),
    }
}

fn phrase_words(phrase: &[String]) -> Result<Vec<String>, String> {
    if phrase.is_empty() || phrase.len() > PHRASE_WORDS_MAX {
        return Err(format!(
            "a phrase must have 1 to {PHRASE_WORDS_MAX} words, found {}",
            phrase.len()
        ));
    }
    phrase
        .iter()
        .map(|word| single_word(word, "each word of a phrase"))
        .collect()
}

fn build_regex(pattern: &str, shown: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_COMPILED_BYTES_MAX)
        .dfa_size_limit(REGEX_DFA_BYTES_MAX)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(_) => format!(
                "regular expression {shown:?} is too complex (its compiled form is over 1 MiB); simplify it"
            ),
            regex::Error::Syntax(text) => format!(
                "invalid regular expression {shown:?}: {}",
                regex_error_reason(&text)
            ),
            other => format!("invalid regular expression {shown:?}: {other}"),
        })
}

/// The `regex` crate's syntax errors are several lines (the pattern, a
/// caret, `error: reason`); a one-line message keeps only the reason.
fn regex_error_reason(text: &str) -> &str {
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().last().unwrap_or(text).trim())
}

fn phrase_is_in(phrase: &[String], text: &str) -> bool {
    let mut candidates = words(text);
    while let Some(first) = candidates.next() {
        if eq_lowercase(first, &phrase[0]) {
            // Try the rest from here without consuming the outer iterator,
            // so overlapping starts ("a a b" for "a b") are not skipped.
            let mut rest = candidates.clone();
            if phrase[1..]
                .iter()
                .all(|word| rest.next().is_some_and(|next| eq_lowercase(next, word)))
            {
                return true;
            }
        }
    }
    false
}

/// The words of `text` that are complete within it: not cut off by an open
/// start or end (where more word characters may follow in the value).
pub(crate) fn complete_words(text: &str, open_start: bool, open_end: bool) -> Vec<String> {
    let mut complete: Vec<String> = Vec::new();
    for (start, end) in word_spans(text) {
        let cut_at_start = open_start && start == 0;
        let cut_at_end = open_end && end == text.len();
        let word = lowercase(&text[start..end]);
        if !cut_at_start && !cut_at_end && !complete.contains(&word) {
            complete.push(word);
        }
    }
    complete
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
