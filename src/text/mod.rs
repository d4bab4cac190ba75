//! text/: "which words does this text hold, and are two words equal ignoring case?"
//!
//! The one tokenizer and the one case rule that sealing (granule word filters), the filters and
//! every query matcher share, so a word the index holds is a word the matchers see. Rules:
//! - A word is a maximal run of alphanumeric characters (Unicode `char::is_alphanumeric`) and
//!   `_`. Everything else separates words, including `-`, `.`, `/` and `:`, so the id
//!   `req-42ab` is the words `req` and `42ab`.
//! - Case never matters: text is lowercased character by character (`lowercase`), never with
//!   `str::to_lowercase`, whose context rules (Greek final sigma) would make a word lowercase
//!   differently in a query and in a message.
//! - `keys` maps a word to its key in a word filter: a normalisation coarser than both the
//!   lowercasing above and Unicode simple case folding, so no matcher can find a word the
//!   filter says is absent.

pub mod caseless;
pub mod keys;

/// Whether `c` belongs in a word: alphanumeric (Unicode) or `_`.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// THE tokenizer: the words of `text` in order, as slices of it (original
/// case; compare them through `lowercase`). Used by every word matcher and
/// by the message word index, so a word the index holds is a word the
/// matchers see.
pub fn words(text: &str) -> impl Iterator<Item = &str> + Clone {
    word_spans(text).map(move |(start, end)| &text[start..end])
}

/// Byte ranges `[start, end)` of the words of `text`.
pub fn word_spans(text: &str) -> WordSpans<'_> {
    WordSpans { text, position: 0 }
}

#[derive(Debug, Clone)]
pub struct WordSpans<'a> {
    text: &'a str,
    /// Byte offset where the search for the next word starts.
    position: usize,
}

impl Iterator for WordSpans<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let start = self.position + self.text[self.position..].find(is_word_char)?;
        let end = self.text[start..]
            .find(|c: char| !is_word_char(c))
            .map_or(self.text.len(), |length| start + length);
        self.position = end;
        Some((start, end))
    }
}

/// `text` lowercased character by character (no context rules), as every
/// matcher and the word index compare it.
pub fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.chars().flat_map(char::to_lowercase).collect()
    }
}

/// `word == lower` ignoring case, where `lower` is already `lowercase`d;
/// allocation-free.
pub fn eq_lowercase(word: &str, lower: &str) -> bool {
    if word.is_ascii() {
        word.eq_ignore_ascii_case(lower)
    } else {
        word.chars().flat_map(char::to_lowercase).eq(lower.chars())
    }
}

/// `word` starts with `lower` ignoring case; allocation-free.
pub fn starts_with_lowercase(word: &str, lower: &str) -> bool {
    if word.is_ascii() {
        word.len() >= lower.len()
            && word.as_bytes()[..lower.len()].eq_ignore_ascii_case(lower.as_bytes())
    } else {
        let mut folded = word.chars().flat_map(char::to_lowercase);
        lower.chars().all(|wanted| folded.next() == Some(wanted))
    }
}
