//! How a word is stored in (and looked up in) a block's word filter.
//!
//! The filter must never say "absent" for a word some matcher would find,
//! and matchers compare words in two ways: word, phrase and LIKE matchers
//! lowercase both sides character by character (`text::lowercase`);
//! `CONTAINS` and regexes match case-insensitively with Unicode simple case
//! folding, under which `ſ` equals `s` and `ς` equals `σ`, though neither
//! pair lowercases to the same character. So the filter keys a word by a
//! normalisation coarser than both: lowercase it, then map every
//! non-ASCII character to a canonical member of its simple-case-folding
//! class (the smallest, lowercased when that is an ASCII letter). Two
//! words equal under either comparison then have the same key; words that
//! are not may share one too, which only costs a false positive.

use std::cell::RefCell;
use std::collections::HashMap;

use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};

use crate::text::lowercase;

/// Writes `word`'s filter key into `out` (cleared first).
pub fn index_word(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        out.push_str(word);
        out.make_ascii_lowercase();
        return;
    }
    for c in lowercase(word).chars() {
        out.push(if c.is_ascii() { c } else { canonical(c) });
    }
}

/// `index_word` into a new string.
pub fn index_word_owned(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    index_word(word, &mut out);
    out
}

thread_local! {
    /// Canonical forms computed so far; the non-ASCII characters of real
    /// logs are few, so this stays small.
    static CANONICAL: RefCell<HashMap<char, char>> = RefCell::new(HashMap::new());
}

fn canonical(c: char) -> char {
    CANONICAL.with(|cache| {
        *cache.borrow_mut().entry(c).or_insert_with(|| {
            let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
            class.case_fold_simple();
            let smallest = class.ranges().first().map_or(c, |range| range.start());
            smallest.to_ascii_lowercase()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(word: &str) -> String {
        index_word_owned(word)
    }

    #[test]
    fn ascii_words_lowercase() {
        assert_eq!(key("TimeOut_42"), "timeout_42");
    }

    #[test]
    fn case_fold_equivalents_share_a_key() {
        assert_eq!(key("aſk"), key("ASK"));
        assert_eq!(key("ΟΔΟΣ"), key("οδος"));
        assert_eq!(key("οδοσ"), key("οδος"));
        assert_eq!(key("\u{212A}elvin"), key("kelvin"));
        assert_eq!(key("Über"), key("üBER"));
        assert_ne!(key("über"), key("uber"));
    }

    #[test]
    fn regex_case_insensitivity_implies_equal_keys() {
        // Every word a case-insensitive regex for `pattern` matches has the
        // pattern's key.
        for (pattern, text) in [("ask", "aſk"), ("οδος", "ΟΔΟΣ"), ("straße", "STRAẞE")]
        {
            let regex = regex::RegexBuilder::new(&format!("^{pattern}$"))
                .case_insensitive(true)
                .build()
                .unwrap();
            assert!(regex.is_match(text), "{pattern} {text}");
            assert_eq!(key(pattern), key(text), "{pattern} {text}");
        }
    }
}
