//! Granule filters: which words (and which values too numerous for a
//! dictionary) one granule of a block may hold.
//!
//! Why a binary fuse filter (Graf and Lemire, 2022; the `xorf` crate): a
//! query for a word must skip every granule that lacks it, and the filter
//! answers "certainly absent" or "maybe present" from three byte probes, in
//! about 9-10 bits per distinct item at a false-positive rate of 2^-8
//! (0.39%). A Bloom filter needs about 11.5 bits per item for that rate.
//! Filters are built once, when a block is sealed, from all of its keys,
//! which is what a fuse filter needs; they are used in place from the bytes
//! read from disk (`GranuleFilter::parse`), never deserialised.
//!
//! Items are 64-bit hashes (`ItemHasher`): FNV-1a over the item's bytes,
//! started from a basis per kind of item (word, tag pair, source) so the
//! same text as a word and as a tag value are different items, then
//! finished with MurmurHash3's 64-bit mix so every bit depends on every
//! byte. FNV-1a takes one byte at a time, so the seal's word splitter
//! hashes a word while it scans it, with no second pass and no call per
//! word (measured: a quarter of the seal's time went to hashing words one
//! call at a time). The hash is part of the format: docs/FORMAT.md defines
//! it, and a filter written by one build is read the same by another.
//!
//! Frame layout (`FILTER_BINARY_FUSE8`): `0 seed u64 | 8 segment_length u32 |
//! 12 segment_length_mask u32 | 16 segment_count_length u32 | 20
//! fingerprints [u8]`, little-endian (xorf's descriptor, then its array).
//! `FILTER_EMPTY` frames have no bytes (the granule has no items);
//! `FILTER_ALL` frames have no bytes and may contain anything (a filter
//! could not be built).

use xorf::{BinaryFuse8, BinaryFuse8Ref, DmaSerializable, Filter, FilterRef};

/// Filter frame encodings (`Frame::encoding` of a filter frame). Stored on
/// disk: never renumber.
pub const FILTER_BINARY_FUSE8: u8 = 40;
pub const FILTER_EMPTY: u8 = 41;
pub const FILTER_ALL: u8 = 42;

/// Bytes of the descriptor before the fingerprints.
const DESCRIPTOR_BYTES: usize = 20;
/// xorf's largest segment length; a descriptor claiming more is damage.
const SEGMENT_LENGTH_MAX: u32 = 262_144;

/// What an item is; each kind hashes with its own seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// A message word's key (`text::keys::index_word`).
    Word = 0,
    /// A tag `key=value` pair (`key`, 0 byte, `value`).
    TagPair = 1,
    Source = 2,
}

/// FNV-1a's 64-bit offset basis and prime.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// An item's hash, built a byte at a time: `ItemHasher::new(kind)`, then
/// `byte` for each byte, then `finish`.
#[derive(Clone, Copy, Debug)]
pub struct ItemHasher {
    state: u64,
}

impl ItemHasher {
    /// Each kind starts from its own basis (the FNV basis xor the kind times
    /// the golden ratio), so kinds hash apart.
    pub fn new(kind: ItemKind) -> ItemHasher {
        ItemHasher {
            state: FNV_OFFSET_BASIS ^ (kind as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        }
    }

    #[inline(always)]
    pub fn byte(&mut self, byte: u8) {
        self.state = (self.state ^ byte as u64).wrapping_mul(FNV_PRIME);
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.byte(byte);
        }
    }

    /// MurmurHash3's fmix64 of the FNV state.
    pub fn finish(self) -> u64 {
        let mut hash = self.state;
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        hash ^ (hash >> 33)
    }
}

/// The hash of a message word's key (`text::keys::index_word`).
pub fn word_hash(key: &str) -> u64 {
    word_hash_bytes(key.as_bytes())
}

/// `word_hash` of a key's UTF-8 bytes.
pub fn word_hash_bytes(key: &[u8]) -> u64 {
    let mut hasher = ItemHasher::new(ItemKind::Word);
    hasher.bytes(key);
    hasher.finish()
}

/// The hash of a tag pair (`key`, a 0 byte, `value`) or a source (`key`
/// empty), as `kind` says.
pub fn keyed_hash(kind: ItemKind, key: &str, value: &str) -> u64 {
    keyed_hash_bytes(kind, key.as_bytes(), value.as_bytes())
}

/// `keyed_hash` of UTF-8 bytes.
pub fn keyed_hash_bytes(kind: ItemKind, key: &[u8], value: &[u8]) -> u64 {
    let mut hasher = ItemHasher::new(kind);
    hasher.bytes(key);
    hasher.byte(0);
    hasher.bytes(value);
    hasher.finish()
}

/// Appends the filter frame of `keys` to `out` and returns its encoding.
/// Sorts and dedups `keys` in place (a fuse filter needs distinct keys).
pub fn build_filter(keys: &mut Vec<u64>, out: &mut Vec<u8>) -> u8 {
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return FILTER_EMPTY;
    }
    match BinaryFuse8::try_from(keys.as_slice()) {
        Ok(filter) => {
            let start = out.len();
            out.resize(start + DESCRIPTOR_BYTES, 0);
            filter.dma_copy_descriptor_to(&mut out[start..]);
            out.extend_from_slice(filter.dma_fingerprints());
            FILTER_BINARY_FUSE8
        }
        // Construction fails only with vanishing probability for distinct
        // keys; the granule is then never skipped by its filter.
        Err(_) => FILTER_ALL,
    }
}

/// A granule filter read in place from its frame.
#[derive(Debug, Clone)]
pub enum GranuleFilter<'a> {
    /// The granule holds no items.
    Empty,
    /// Nothing is known: every item may be present.
    All,
    Fuse(BinaryFuse8Ref<'a>),
}

impl<'a> GranuleFilter<'a> {
    /// The filter of a frame of `encoding` whose (checksummed) bytes are
    /// `bytes`. Checks the descriptor against the fingerprints' length, so
    /// no probe can index past them even if the bytes are not a filter.
    pub fn parse(encoding: u8, bytes: &'a [u8]) -> Result<GranuleFilter<'a>, String> {
        match encoding {
            FILTER_EMPTY | FILTER_ALL if !bytes.is_empty() => Err(format!(
                "filter frame of encoding {encoding} has {} bytes",
                bytes.len()
            )),
            FILTER_EMPTY => Ok(GranuleFilter::Empty),
            FILTER_ALL => Ok(GranuleFilter::All),
            FILTER_BINARY_FUSE8 => parse_fuse(bytes),
            other => Err(format!("unknown filter encoding {other}")),
        }
    }

    /// Whether the granule may hold the item `hash`.
    pub fn may_contain(&self, hash: u64) -> bool {
        match self {
            GranuleFilter::Empty => false,
            GranuleFilter::All => true,
            GranuleFilter::Fuse(fuse) => fuse.contains(&hash),
        }
    }
}

fn parse_fuse(bytes: &[u8]) -> Result<GranuleFilter<'_>, String> {
    let Some((descriptor, fingerprints)) = bytes.split_at_checked(DESCRIPTOR_BYTES) else {
        return Err(format!(
            "filter frame of {} bytes has no descriptor",
            bytes.len()
        ));
    };
    let field = |at: usize| u32::from_le_bytes(descriptor[at..at + 4].try_into().expect("4 bytes"));
    let (length, mask, count_length) = (field(8), field(12), field(16));
    // A probe reads index h0 < count_length, and two more below
    // (h0 / length + 3) * length: the array must be count_length + 2 lengths.
    let consistent = length.is_power_of_two()
        && length <= SEGMENT_LENGTH_MAX
        && mask == length - 1
        && count_length % length == 0
        && fingerprints.len() as u64 == count_length as u64 + 2 * length as u64;
    if !consistent {
        return Err(format!(
            "filter descriptor (segment length {length}, mask {mask}, count length {count_length}) \
             does not fit {} fingerprints",
            fingerprints.len()
        ));
    }
    Ok(GranuleFilter::Fuse(BinaryFuse8Ref::from_dma(
        descriptor,
        fingerprints,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_bytes(words: impl Iterator<Item = String>) -> (u8, Vec<u8>) {
        let mut keys: Vec<u64> = words.map(|word| word_hash(&word)).collect();
        let mut out = Vec::new();
        let encoding = build_filter(&mut keys, &mut out);
        (encoding, out)
    }

    #[test]
    fn holds_every_item_it_was_built_from_in_about_ten_bits_each() {
        let (encoding, bytes) = filter_bytes((0..5_000).map(|i| format!("word{i}")));
        assert_eq!(encoding, FILTER_BINARY_FUSE8);
        let filter = GranuleFilter::parse(encoding, &bytes).unwrap();
        assert!((0..5_000).all(|i| filter.may_contain(word_hash(&format!("word{i}")))));
        let bits_per_item = bytes.len() as f64 * 8.0 / 5_000.0;
        assert!(bits_per_item < 11.0, "{bits_per_item} bits per item");
    }

    #[test]
    fn false_positive_rate_is_about_two_to_the_minus_eight() {
        let (encoding, bytes) = filter_bytes((0..20_000).map(|i| format!("present{i}")));
        let filter = GranuleFilter::parse(encoding, &bytes).unwrap();
        let probes = 200_000;
        let false_positives = (0..probes)
            .filter(|i| filter.may_contain(word_hash(&format!("absent{i}"))))
            .count();
        let rate = false_positives as f64 / probes as f64;
        // Theory: 0.39%. Allow for noise, but fail at 0.6%.
        assert!(rate < 0.006, "false-positive rate {rate}");
    }

    #[test]
    fn empty_single_and_repeated_key_sets() {
        let (encoding, bytes) = filter_bytes(std::iter::empty());
        assert_eq!((encoding, bytes.len()), (FILTER_EMPTY, 0));
        assert!(!GranuleFilter::parse(encoding, &bytes)
            .unwrap()
            .may_contain(word_hash("x")));
        for count in [1, 2, 3, 100] {
            let (encoding, bytes) = filter_bytes((0..count).map(|i| format!("only{}", i % 7)));
            let filter = GranuleFilter::parse(encoding, &bytes).unwrap();
            assert!((0..count).all(|i| filter.may_contain(word_hash(&format!("only{}", i % 7)))));
        }
        let all = GranuleFilter::parse(FILTER_ALL, &[]).unwrap();
        assert!(all.may_contain(1));
    }

    #[test]
    fn damaged_descriptors_are_refused_not_probed() {
        let (encoding, bytes) = filter_bytes((0..1_000).map(|i| format!("w{i}")));
        for at in 8..DESCRIPTOR_BYTES {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            assert!(
                GranuleFilter::parse(encoding, &damaged).is_err(),
                "byte {at}"
            );
        }
        assert!(GranuleFilter::parse(encoding, &bytes[..bytes.len() - 1]).is_err());
        assert!(GranuleFilter::parse(encoding, &bytes[..10]).is_err());
        assert!(GranuleFilter::parse(FILTER_EMPTY, &[1]).is_err());
        assert!(GranuleFilter::parse(7, &[]).is_err());
        // Any bytes that pass the checks are probed without panicking.
        let mut noise = bytes.clone();
        for byte in &mut noise[DESCRIPTOR_BYTES..] {
            *byte = byte.wrapping_mul(31);
        }
        let filter = GranuleFilter::parse(encoding, &noise).unwrap();
        (0..10_000u64).for_each(|i| {
            filter.may_contain(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        });
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
}
