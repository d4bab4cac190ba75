//! Collecting a granule's filter items at seal time (on the shard's blocking
//! thread, next to compression): the keys of its messages' words, and the
//! sources and tag pairs that have no dictionary.
//!
//! It runs over every entry of every block, so it is written for speed:
//! repeated items are dropped through a small direct-mapped table of recent
//! hashes before they are stored, and ASCII messages are split into words
//! with one table lookup per byte (`benches/block_codec.rs` measures the
//! whole seal).

use super::filter::{build_filter, keyed_hash_bytes, word_hash, ItemHasher, ItemKind};
use crate::text::keys::index_word;
use crate::text::word_spans;

/// The items bound for one granule's filter. Log text repeats the same
/// words line after line, so a small direct-mapped table of recent hashes
/// drops most repeats before they are stored (and sorted, to build the
/// filter from distinct items): the list keeps every distinct hash, and
/// some repeats.
pub struct FilterKeys {
    recent: Box<[u64; RECENT_SLOTS]>,
    distinct: Vec<u64>,
    /// A non-ASCII word's key.
    word: String,
}

/// Slots of the recent-hash table: 64 KiB, reset per granule.
const RECENT_SLOTS: usize = 8192;

impl Default for FilterKeys {
    fn default() -> Self {
        FilterKeys {
            recent: Box::new([0; RECENT_SLOTS]),
            distinct: Vec::new(),
            word: String::new(),
        }
    }
}

impl FilterKeys {
    /// Forgets every item: the next granule starts.
    pub fn clear(&mut self) {
        self.recent.fill(0);
        self.distinct.clear();
    }

    /// Adds the key of every word of `message` (by the tokenizer every word
    /// matcher uses, keyed by `text::keys::index_word`). `message` is UTF-8.
    pub fn add_message(&mut self, message: &[u8]) {
        if message.is_ascii() {
            self.add_ascii_words(message);
            return;
        }
        let text = std::str::from_utf8(message).expect("message columns hold UTF-8");
        for (start, end) in word_spans(text) {
            index_word(&text[start..end], &mut self.word);
            self.push(word_hash(&self.word));
        }
    }

    /// Adds a tag pair (`ItemKind::TagPair`) or a source (`key` empty).
    pub fn add_keyed(&mut self, kind: ItemKind, key: &[u8], value: &[u8]) {
        self.push(keyed_hash_bytes(kind, key, value));
    }

    /// Appends the filter of the items added since `clear` to `out` and
    /// returns its encoding (`index::filter`).
    pub fn build_into(&mut self, out: &mut Vec<u8>) -> u8 {
        build_filter(&mut self.distinct, out)
    }

    /// Distinct items so far (and some repeats the table missed).
    pub fn len(&self) -> usize {
        self.distinct.len()
    }

    pub fn is_empty(&self) -> bool {
        self.distinct.is_empty()
    }

    fn push(&mut self, hash: u64) {
        let slot = (hash >> 51) as usize % RECENT_SLOTS;
        // 0 is the empty slot's value, so a hash of 0 is always kept.
        if self.recent[slot] != hash || hash == 0 {
            self.recent[slot] = hash;
            self.distinct.push(hash);
        }
    }

    /// `add_message` for ASCII text, byte by byte: in ASCII the tokenizer's
    /// word characters are exactly `[A-Za-z0-9_]`, and a word's key is its
    /// ASCII lowercase. Several times faster than the general path, and most
    /// log text is ASCII. One table lookup per byte both classifies and
    /// lowercases it, and the word's hash is built as it is scanned.
    fn add_ascii_words(&mut self, text: &[u8]) {
        let start = ItemHasher::new(ItemKind::Word);
        let mut hasher = start;
        let mut in_word = false;
        for &byte in text {
            let lowered = ASCII_WORD_BYTE[byte as usize];
            if lowered != 0 {
                hasher.byte(lowered);
                in_word = true;
            } else if in_word {
                self.push(hasher.finish());
                hasher = start;
                in_word = false;
            }
        }
        if in_word {
            self.push(hasher.finish());
        }
    }
}

/// For each byte: its lowercase if it is an ASCII word character
/// (`[A-Za-z0-9_]`), else 0.
static ASCII_WORD_BYTE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 128 {
        let b = byte as u8;
        if b.is_ascii_alphanumeric() || b == b'_' {
            table[byte] = b.to_ascii_lowercase();
        }
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::filter::GranuleFilter;

    #[test]
    fn ascii_fast_path_hashes_what_the_general_path_does() {
        let texts = [
            "GET /api/v1/users?id=42 -> 200 OK in 3ms",
            "a_b __x__ 9Z, trailing-dash- ",
            "a-very-long-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA end",
            "",
        ];
        for text in texts {
            let mut fast = FilterKeys::default();
            fast.add_ascii_words(text.as_bytes());
            let mut general: Vec<u64> = word_spans(text)
                .map(|(start, end)| {
                    word_hash(&crate::text::keys::index_word_owned(&text[start..end]))
                })
                .collect();
            general.sort_unstable();
            general.dedup();
            fast.distinct.sort_unstable();
            fast.distinct.dedup();
            assert_eq!(fast.distinct, general, "{text}");
        }
    }

    #[test]
    fn a_granule_filter_holds_its_words_and_pairs_only() {
        let mut keys = FilterKeys::default();
        keys.add_message("Connection RESET by peer".as_bytes());
        keys.add_message("Überlast: Fehler".as_bytes());
        keys.add_keyed(ItemKind::TagPair, b"request_id", b"r-42");
        let mut out = Vec::new();
        let encoding = keys.build_into(&mut out);
        let filter = GranuleFilter::parse(encoding, &out).unwrap();
        for word in ["connection", "reset", "peer", "fehler"] {
            assert!(filter.may_contain(word_hash(word)), "{word}");
        }
        let uber = crate::text::keys::index_word_owned("ÜBERLAST");
        assert!(filter.may_contain(word_hash(&uber)));
        let pair = crate::index::filter::keyed_hash(ItemKind::TagPair, "request_id", "r-42");
        assert!(filter.may_contain(pair));
        keys.clear();
        assert!(keys.is_empty());
    }
}
