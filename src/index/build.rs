//! Building a `BlockSummary` from a block's entries, at seal time (on the
//! shard's blocking thread, next to compression) or when an index record is
//! rebuilt at start-up.
//!
//! It runs over every entry of every block, so it is written for speed:
//! repeated (key, value) pairs and repeated words are dropped through small
//! direct-mapped tables of recent hashes before any string work, and ASCII
//! messages are split into words with one table lookup per byte
//! (`benches/block_summary.rs` measures it).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use super::filter::{keyed_hash_in, word_hash, word_hash_bytes, ItemKind, WordFilter};
use super::summary::{BlockSummary, LevelCounts, TagSet, ValueSet, SET_VALUES_MAX};
use crate::block::BlockHeader;
use crate::query::view::BatchView;
use crate::text::keys::index_word;
use crate::text::word_spans;

/// Sets while a summary is built hold at most `SET_VALUES_MAX + 1` values
/// and keys come from our own blocks, so a fast non-keyed hash is safe.
type FxHashSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;
type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The Fx hash (as in rustc): one multiply per 8 bytes.
#[derive(Default)]
struct FxHasher {
    hash: u64,
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
        }
        for &byte in chunks.remainder() {
            self.hash = (self.hash.rotate_left(5) ^ byte as u64).wrapping_mul(SEED);
        }
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

impl BlockSummary {
    /// Summarises `batch`, the entries of the block `header` describes, at
    /// `block_offset`. `scratch` is reused across calls (word hashes).
    pub fn build<B: BatchView + ?Sized>(
        batch: &B,
        header: &BlockHeader,
        block_offset: u64,
        scratch: &mut SummaryScratch,
    ) -> BlockSummary {
        scratch.hashes.reset();
        scratch.seen_pairs.fill(0);
        let mut sources = SetBuilder::default();
        let mut tags = TagSetsBuilder::default();
        let mut level_counts = LevelCounts::default();
        for index in 0..batch.entry_count() {
            level_counts[batch.level(index).as_byte() as usize] += 1;
            let source = batch.source_bytes(index);
            if first_sighting(&mut scratch.seen_pairs, b"", source, &mut scratch.pair) {
                sources.add(utf8(source), &mut scratch.hashes, ItemKind::Source, "");
            }
            let (hashes, seen, pair) = (
                &mut scratch.hashes,
                &mut scratch.seen_pairs,
                &mut scratch.pair,
            );
            let mut position = 0;
            batch.for_each_tag_bytes(index, &mut |key, value| {
                if first_sighting(seen, key, value, pair) {
                    tags.add(position, utf8(key), utf8(value), hashes);
                }
                position += 1;
            });
            let message = batch.message_bytes(index);
            if message.is_ascii() {
                hash_ascii_words(message, &mut scratch.hashes);
            } else {
                hash_words(batch.message(index), scratch);
            }
        }
        BlockSummary::of_block(
            header,
            block_offset,
            level_counts,
            sources.finish(),
            tags.finish(),
            WordFilter::build(&mut scratch.hashes.distinct),
        )
    }
}

/// Buffers `BlockSummary::build` reuses.
pub struct SummaryScratch {
    hashes: FilterHashes,
    word: String,
    /// Direct-mapped hashes of (key, value) pairs (sources with key "")
    /// already added to the sets: most entries repeat the sources and tag
    /// values of recent ones, and this skips them before any string work.
    seen_pairs: Box<[u64; SEEN_PAIR_SLOTS]>,
    /// Bytes a pair is hashed from.
    pair: Vec<u8>,
}

impl Default for SummaryScratch {
    fn default() -> Self {
        SummaryScratch {
            hashes: FilterHashes::default(),
            word: String::new(),
            seen_pairs: Box::new([0; SEEN_PAIR_SLOTS]),
            pair: Vec::new(),
        }
    }
}

const SEEN_PAIR_SLOTS: usize = 4096;

/// False if the pair `key`, `value` is known to be added already (its
/// 64-bit hash is in `seen`; a different pair with the same XXH3 hash, and
/// so a value left out, has probability about 2^-64). True, and remembered,
/// otherwise.
fn first_sighting(
    seen: &mut [u64; SEEN_PAIR_SLOTS],
    key: &[u8],
    value: &[u8],
    pair: &mut Vec<u8>,
) -> bool {
    pair.clear();
    pair.extend_from_slice(key);
    pair.push(0);
    pair.extend_from_slice(value);
    // Seed 3: unrelated to the filter's item hashes. Never 0, the empty slot.
    let hash = twox_hash::XxHash3_64::oneshot_with_seed(3, pair) | 1;
    let slot = &mut seen[(hash >> 52) as usize % SEEN_PAIR_SLOTS];
    if *slot == hash {
        return false;
    }
    *slot = hash;
    true
}

/// Text of a batch's column: UTF-8 by the batch's invariants (pushed from
/// `&str`, or validated when the archive was read).
fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("batch columns hold UTF-8")
}

/// The hashes bound for a block's filter. Log text repeats the same words
/// line after line, so a small direct-mapped table of recent hashes drops
/// most repeats before they are stored (and sorted, to size the filter by
/// distinct items): the list keeps every distinct hash, and some repeats.
struct FilterHashes {
    recent: Box<[u64; RECENT_SLOTS]>,
    distinct: Vec<u64>,
    /// Bytes `keyed` hashes are formed in.
    buffer: Vec<u8>,
}

const RECENT_SLOTS: usize = 8192;

impl Default for FilterHashes {
    fn default() -> Self {
        FilterHashes {
            recent: Box::new([0; RECENT_SLOTS]),
            distinct: Vec::new(),
            buffer: Vec::new(),
        }
    }
}

impl FilterHashes {
    fn reset(&mut self) {
        self.recent.fill(0);
        self.distinct.clear();
    }

    fn push(&mut self, hash: u64) {
        let slot = (hash >> 51) as usize % RECENT_SLOTS;
        // 0 is the empty slot's value, so a hash of 0 is always kept.
        if self.recent[slot] != hash || hash == 0 {
            self.recent[slot] = hash;
            self.distinct.push(hash);
        }
    }

    fn push_keyed(&mut self, kind: ItemKind, key: &str, value: &str) {
        let hash = keyed_hash_in(kind, key, value, &mut self.buffer);
        self.push(hash);
    }
}

/// Adds the hash of every word of `message` (by the tokenizer every word
/// matcher uses, so the filter holds exactly the words they see), keyed by
/// `text::keys::index_word`.
fn hash_words(message: &str, scratch: &mut SummaryScratch) {
    if message.is_ascii() {
        return hash_ascii_words(message.as_bytes(), &mut scratch.hashes);
    }
    for (start, end) in word_spans(message) {
        index_word(&message[start..end], &mut scratch.word);
        scratch.hashes.push(word_hash(&scratch.word));
    }
}

/// Tag sets by key while a summary is built. Entries of one block mostly
/// carry the same keys in the same order, so the key at each position of
/// the previous entry is tried before a lookup.
#[derive(Default)]
struct TagSetsBuilder {
    sets: Vec<(String, SetBuilder)>,
    by_key: FxHashMap<String, usize>,
    /// `sets` index of the key seen at each tag position last time.
    at_position: Vec<usize>,
}

impl TagSetsBuilder {
    fn add(&mut self, position: usize, key: &str, value: &str, hashes: &mut FilterHashes) {
        let cached = self
            .at_position
            .get(position)
            .copied()
            .filter(|&set| self.sets[set].0 == key);
        let set = match cached {
            Some(set) => set,
            None => {
                let set = self.set_of(key);
                if position < self.at_position.len() {
                    self.at_position[position] = set;
                } else {
                    self.at_position.push(set);
                }
                set
            }
        };
        self.sets[set].1.add(value, hashes, ItemKind::TagPair, key);
    }

    fn set_of(&mut self, key: &str) -> usize {
        if let Some(&set) = self.by_key.get(key) {
            return set;
        }
        self.sets.push((key.to_string(), SetBuilder::default()));
        self.by_key.insert(key.to_string(), self.sets.len() - 1);
        self.sets.len() - 1
    }

    /// Sorted by key.
    fn finish(self) -> Vec<TagSet> {
        let mut tags: Vec<TagSet> = self
            .sets
            .into_iter()
            .map(|(key, values)| TagSet {
                key,
                values: values.finish(),
            })
            .collect();
        tags.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        tags
    }
}

/// `hash_words` for ASCII text, byte by byte: in ASCII the tokenizer's word
/// characters are exactly `[A-Za-z0-9_]`, and a word's key is its ASCII
/// lowercase. Several times faster than the general path, and most log
/// text is ASCII.
fn hash_ascii_words(text: &[u8], hashes: &mut FilterHashes) {
    // One table lookup per byte both classifies it and lowercases it, and
    // the word is built while scanning: no second pass to copy and lower.
    let mut word = [0u8; 64];
    let mut length = 0;
    for (position, &byte) in text.iter().enumerate() {
        let lowered = ASCII_WORD_BYTE[byte as usize];
        if lowered != 0 {
            if length < word.len() {
                word[length] = lowered;
            }
            length += 1;
        } else if length > 0 {
            hashes.push(ascii_word_hash(&word, text, position, length));
            length = 0;
        }
    }
    if length > 0 {
        hashes.push(ascii_word_hash(&word, text, text.len(), length));
    }
}

/// The hash of the word of `length` bytes ending at `end` in `text`, whose
/// lowercase is in `word` when it fits.
fn ascii_word_hash(word: &[u8; 64], text: &[u8], end: usize, length: usize) -> u64 {
    if length <= word.len() {
        word_hash_bytes(&word[..length])
    } else {
        word_hash_bytes(&text[end - length..end].to_ascii_lowercase())
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

/// Collects a set's distinct values until it passes `SET_VALUES_MAX`; from
/// then on every value goes to the filter as a hash instead, so memory stays
/// bounded however many distinct values a block has.
#[derive(Default)]
struct SetBuilder {
    values: FxHashSet<String>,
    overflow: bool,
    /// The value added last (`None` before the first): consecutive entries
    /// often repeat it.
    last: Option<String>,
}

impl SetBuilder {
    /// Adds `value`; once overflowed, as the filter item `kind` `key=value`.
    fn add(&mut self, value: &str, hashes: &mut FilterHashes, kind: ItemKind, key: &str) {
        match &mut self.last {
            Some(last) if last == value => return,
            Some(last) => {
                last.clear();
                last.push_str(value);
            }
            None => self.last = Some(value.to_string()),
        }
        if self.overflow {
            hashes.push_keyed(kind, key, value);
            return;
        }
        if self.values.contains(value) {
            return;
        }
        self.values.insert(value.to_string());
        if self.values.len() > SET_VALUES_MAX {
            for value in self.values.drain() {
                hashes.push_keyed(kind, key, &value);
            }
            self.overflow = true;
        }
    }

    fn finish(self) -> ValueSet {
        let mut values: Vec<String> = self.values.into_iter().collect();
        values.sort_unstable();
        ValueSet {
            values,
            overflow: self.overflow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_fast_path_hashes_what_the_general_path_does() {
        let texts = [
            "GET /api/v1/users?id=42 -> 200 OK in 3ms",
            "a_b __x__ 9Z, trailing-dash- ",
            "a-very-long-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA end",
            "",
        ];
        for text in texts {
            let mut fast = FilterHashes::default();
            hash_ascii_words(text.as_bytes(), &mut fast);
            let mut general: Vec<u64> = word_spans(text)
                .map(|(start, end)| {
                    word_hash(&crate::text::keys::index_word_owned(&text[start..end]))
                })
                .collect();
            general.sort_unstable();
            general.dedup();
            fast.distinct.sort_unstable();
            assert_eq!(fast.distinct, general, "{text}");
        }
    }
}
