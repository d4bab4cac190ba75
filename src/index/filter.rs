//! `WordFilter`: a Bloom filter over a block's distinct lowercased message
//! words (and the tag values and sources too numerous to list exactly).
//!
//! Why a Bloom filter: a query for a word must skip every block that lacks
//! it, and the filter answers "certainly absent" or "maybe present" from a
//! few bit probes, in space proportional to the distinct words, never the
//! text. Sizing: `BITS_PER_ITEM` = 16 bits per distinct item with
//! `HASH_COUNT` = 11 probes gives a false-positive rate of
//! (1 - e^(-11/16))^11 ≈ 0.046%: a needle query over 2 000 blocks reads
//! about one block that does not hold the word. The cost is 2 bytes per
//! distinct word per block; `tests::false_positive_rate_is_as_documented`
//! measures the rate.
//!
//! Hashing: XXH3-64 with a seed per kind of item (word, tag pair, source),
//! so the same text as a word and as a tag value sets different bits. The
//! hash is part of the file format: XXH3's output is specified and stable,
//! so an index written by one build is read correctly by another. Probe `i`
//! uses `h1 + i * h2` (Kirsch-Mitzenmacher double hashing) reduced to the
//! filter's size by multiply-shift (no division).

use rkyv::{Archive, Deserialize, Serialize};
use twox_hash::XxHash3_64;

/// Filter bits per distinct item.
pub const BITS_PER_ITEM: usize = 16;
/// Bit probes per item: the optimum for 16 bits per item is 16 ln 2 ≈ 11.
pub const HASH_COUNT: u32 = 11;

/// What an item is; each kind hashes with its own seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// A lowercased message word.
    Word = 0,
    /// A tag `key=value` pair (`key`, 0 byte, `value`).
    TagPair = 1,
    Source = 2,
}

/// The hash of a message word's key (`text::keys::index_word`).
pub fn word_hash(key: &str) -> u64 {
    word_hash_bytes(key.as_bytes())
}

/// `word_hash` of a key's UTF-8 bytes.
pub fn word_hash_bytes(key: &[u8]) -> u64 {
    XxHash3_64::oneshot_with_seed(ItemKind::Word as u64, key)
}

/// The hash of a tag pair or a source, as `kind` says.
pub fn keyed_hash(kind: ItemKind, key: &str, value: &str) -> u64 {
    keyed_hash_in(kind, key, value, &mut Vec::new())
}

/// `keyed_hash`, forming the hashed bytes in `buffer`.
pub fn keyed_hash_in(kind: ItemKind, key: &str, value: &str, buffer: &mut Vec<u8>) -> u64 {
    buffer.clear();
    buffer.extend_from_slice(key.as_bytes());
    buffer.push(0);
    buffer.extend_from_slice(value.as_bytes());
    XxHash3_64::oneshot_with_seed(kind as u64, buffer)
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct WordFilter {
    /// The filter's bits, 64 per word. Empty: the block holds no items.
    pub bits: Vec<u64>,
    pub hash_count: u32,
}

impl WordFilter {
    /// A filter holding every hash in `hashes`, sized for their distinct
    /// count. Sorts and dedups `hashes` in place.
    pub fn build(hashes: &mut Vec<u64>) -> WordFilter {
        hashes.sort_unstable();
        hashes.dedup();
        if hashes.is_empty() {
            return WordFilter::default();
        }
        let words = (hashes.len() * BITS_PER_ITEM).div_ceil(64);
        let mut filter = WordFilter {
            bits: vec![0; words],
            hash_count: HASH_COUNT,
        };
        let bit_count = (words * 64) as u64;
        for &hash in hashes.iter() {
            for bit in probes(hash, HASH_COUNT, bit_count) {
                filter.bits[(bit / 64) as usize] |= 1 << (bit % 64);
            }
        }
        filter
    }

    pub fn may_contain(&self, hash: u64) -> bool {
        may_contain(self.bits.len(), self.hash_count, hash, |i| self.bits[i])
    }
}

impl ArchivedWordFilter {
    pub fn may_contain(&self, hash: u64) -> bool {
        may_contain(self.bits.len(), self.hash_count.to_native(), hash, |i| {
            self.bits[i].to_native()
        })
    }

    pub fn byte_len(&self) -> usize {
        self.bits.len() * 8
    }
}

fn may_contain(words: usize, hash_count: u32, hash: u64, word: impl Fn(usize) -> u64) -> bool {
    if words == 0 {
        return false;
    }
    let bit_count = (words * 64) as u64;
    probes(hash, hash_count, bit_count)
        .all(|bit| word((bit / 64) as usize) & (1 << (bit % 64)) != 0)
}

/// The bit positions (below `bit_count`) item `hash` sets.
fn probes(hash: u64, hash_count: u32, bit_count: u64) -> impl Iterator<Item = u64> {
    let h1 = hash;
    // Odd, so successive probes never repeat a stride of zero.
    let h2 = hash.rotate_left(32).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..hash_count as u64).map(move |i| {
        let mixed = h1.wrapping_add(i.wrapping_mul(h2));
        ((mixed as u128 * bit_count as u128) >> 64) as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_of(words: impl Iterator<Item = String>) -> WordFilter {
        let mut hashes: Vec<u64> = words.map(|word| word_hash(&word)).collect();
        WordFilter::build(&mut hashes)
    }

    #[test]
    fn holds_every_item_it_was_built_from() {
        let filter = filter_of((0..5_000).map(|i| format!("word{i}")));
        assert!((0..5_000).all(|i| filter.may_contain(word_hash(&format!("word{i}")))));
        assert_eq!(filter.bits.len(), (5_000 * BITS_PER_ITEM).div_ceil(64));
    }

    #[test]
    fn false_positive_rate_is_as_documented() {
        let filter = filter_of((0..20_000).map(|i| format!("present{i}")));
        let probes = 200_000;
        let false_positives = (0..probes)
            .filter(|i| filter.may_contain(word_hash(&format!("absent{i}"))))
            .count();
        let rate = false_positives as f64 / probes as f64;
        // Theory: 0.046%. Allow for hashing noise, but fail at 0.2%.
        assert!(rate < 0.002, "false-positive rate {rate}");
    }

    #[test]
    fn empty_filter_holds_nothing_and_duplicates_count_once() {
        let empty = WordFilter::build(&mut Vec::new());
        assert!(!empty.may_contain(word_hash("x")));
        let mut repeated = vec![word_hash("a"); 1_000];
        let filter = WordFilter::build(&mut repeated);
        assert_eq!(filter.bits.len(), 1, "one distinct item, 16 bits, one word");
        assert!(filter.may_contain(word_hash("a")));
    }

    #[test]
    fn kinds_hash_apart() {
        assert_ne!(
            keyed_hash(ItemKind::TagPair, "a", "b"),
            keyed_hash(ItemKind::Source, "a", "b")
        );
        assert_ne!(
            keyed_hash(ItemKind::TagPair, "ab", ""),
            keyed_hash(ItemKind::TagPair, "a", "b")
        );
    }

    #[test]
    fn archived_filter_answers_like_the_owned_one() {
        let filter = filter_of((0..300).map(|i| format!("w{i}")));
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&filter).unwrap();
        let archived = rkyv::access::<ArchivedWordFilter, rkyv::rancor::Error>(&bytes).unwrap();
        for i in 0..600 {
            let hash = word_hash(&format!("w{i}"));
            assert_eq!(archived.may_contain(hash), filter.may_contain(hash));
        }
    }
}
