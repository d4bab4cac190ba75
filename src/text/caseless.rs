//! Finding an ASCII word in text with ASCII case ignored, at close to
//! memchr's speed, for column scans (`query::scan`): the regex crate's
//! case-insensitive literal search expands a word into its case variants
//! and runs Teddy over them, several times slower on log text where the
//! variants' prefixes are common.
//!
//! The search is memchr's "packed pair" idea with case folded in: two
//! bytes of the needle, chosen by memchr's rarity heuristic, are compared
//! 16 positions at a time (SSE2, always present on x86_64) after setting
//! bit 0x20 where the needle byte is a letter (which maps `A-Z` onto
//! `a-z` and no other byte onto a letter), and each position where both
//! agree is checked in full. Elsewhere a scalar loop does the same.
//!
//! `lowercase` (see `text`) folds two non-ASCII characters onto ASCII
//! letters: `İ` (U+0130, to `i` and a combining dot) and the Kelvin sign
//! (U+212A, to `k`). A word holding one can match a query word that this
//! byte search cannot see, so `find` also reports where either appears
//! (when the needle has the letter it folds to): callers confirm every hit
//! with the real matcher, so an extra hit costs a check and a missed one
//! would lose an entry.

use memchr::arch::all::packedpair::Pair;
use memchr::memmem;

/// Non-ASCII characters whose lowercase holds an ASCII letter, with that
/// letter. `lowercase_to_ascii_is_only_these` checks the list.
const FOLDS_TO_ASCII: [(char, u8); 2] = [('\u{130}', b'i'), ('\u{212A}', b'k')];

/// Finds a lowercase ASCII needle in bytes, ignoring ASCII case.
#[derive(Debug, Clone)]
pub struct CaselessFinder {
    needle: Box<[u8]>,
    index1: usize,
    index2: usize,
    /// The needle's bytes at `index1` and `index2`.
    byte1: u8,
    byte2: u8,
    /// Searches for the characters of `FOLDS_TO_ASCII` that fold onto a
    /// letter of the needle.
    folds: Vec<memmem::Finder<'static>>,
}

impl CaselessFinder {
    /// A finder for `needle` (lowercased here), or `None` when it is not
    /// ASCII or shorter than two bytes.
    pub fn new(needle: &str) -> Option<CaselessFinder> {
        if !needle.is_ascii() || needle.len() < 2 {
            return None;
        }
        let needle: Box<[u8]> = needle.to_ascii_lowercase().into_bytes().into();
        let pair = Pair::new(&needle)?;
        let (index1, index2) = (usize::from(pair.index1()), usize::from(pair.index2()));
        let folds = FOLDS_TO_ASCII
            .iter()
            .filter(|(_, letter)| needle.contains(letter))
            .map(|(c, _)| memmem::Finder::new(c.encode_utf8(&mut [0; 4]).as_bytes()).into_owned())
            .collect();
        Some(CaselessFinder {
            byte1: needle[index1],
            byte2: needle[index2],
            needle,
            index1,
            index2,
            folds,
        })
    }

    /// The first position in `haystack` where the needle starts (any ASCII
    /// case), or where a character folding onto one of its letters is,
    /// whichever comes first.
    pub fn find(&self, haystack: &[u8]) -> Option<usize> {
        let hit = self.find_bytes(haystack);
        if self.folds.is_empty() {
            return hit;
        }
        // A match through a folding character starts before `hit` and
        // holds that character, which ends within the needle's length
        // plus the character's extra bytes after the match's start.
        let end = hit.map_or(haystack.len(), |hit| {
            (hit + self.needle.len() + 2).min(haystack.len())
        });
        let fold = self
            .folds
            .iter()
            .filter_map(|finder| finder.find(&haystack[..end]))
            .min();
        match (hit, fold) {
            (Some(hit), Some(fold)) => Some(hit.min(fold)),
            (hit, fold) => hit.or(fold),
        }
    }

    fn find_bytes(&self, haystack: &[u8]) -> Option<usize> {
        let length = self.needle.len();
        if haystack.len() < length {
            return None;
        }
        // Candidate starts are 0..=last_start.
        let last_start = haystack.len() - length;
        let mut start = 0;
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE2 is part of the x86_64 baseline; every load
            // reads 16 bytes at `start + index` with
            // `start + 15 <= last_start` and `index < length`, so it ends
            // before `last_start + length == haystack.len()`.
            while start + 16 <= last_start + 1 {
                let mask = unsafe { self.candidates_sse2(haystack, start) };
                let mut bits = mask;
                while bits != 0 {
                    let candidate = start + bits.trailing_zeros() as usize;
                    if self.is_at(haystack, candidate) {
                        return Some(candidate);
                    }
                    bits &= bits - 1;
                }
                start += 16;
            }
        }
        (start..=last_start).find(|&candidate| {
            fold(haystack[candidate + self.index1], self.byte1)
                && fold(haystack[candidate + self.index2], self.byte2)
                && self.is_at(haystack, candidate)
        })
    }

    /// Bit `i` set where the two chosen needle bytes agree with the
    /// haystack for a needle starting at `start + i`.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    unsafe fn candidates_sse2(&self, haystack: &[u8], start: usize) -> u32 {
        use std::arch::x86_64::*;
        let base = haystack.as_ptr().add(start);
        let chunk1 = _mm_loadu_si128(base.add(self.index1) as *const __m128i);
        let chunk2 = _mm_loadu_si128(base.add(self.index2) as *const __m128i);
        let equal1 = _mm_cmpeq_epi8(
            _mm_or_si128(chunk1, _mm_set1_epi8(case_bit(self.byte1) as i8)),
            _mm_set1_epi8(self.byte1 as i8),
        );
        let equal2 = _mm_cmpeq_epi8(
            _mm_or_si128(chunk2, _mm_set1_epi8(case_bit(self.byte2) as i8)),
            _mm_set1_epi8(self.byte2 as i8),
        );
        _mm_movemask_epi8(_mm_and_si128(equal1, equal2)) as u32
    }

    fn is_at(&self, haystack: &[u8], start: usize) -> bool {
        haystack[start..start + self.needle.len()].eq_ignore_ascii_case(&self.needle)
    }
}

/// The bit that tells an ASCII letter's cases apart, for a lowercase
/// needle byte that is a letter; 0 for any other byte (compared exactly).
fn case_bit(needle_byte: u8) -> u8 {
    if needle_byte.is_ascii_lowercase() {
        0x20
    } else {
        0
    }
}

/// Whether haystack byte `byte` equals needle byte `needle_byte`, ASCII
/// case ignored.
fn fold(byte: u8, needle_byte: u8) -> bool {
    byte | case_bit(needle_byte) == needle_byte
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious search the finder must agree with.
    fn naive(needle: &str, haystack: &[u8]) -> Option<usize> {
        let needle = needle.to_ascii_lowercase();
        let byte_hit = (0..=haystack.len().saturating_sub(needle.len()))
            .filter(|_| haystack.len() >= needle.len())
            .find(|&start| {
                haystack[start..start + needle.len()].eq_ignore_ascii_case(needle.as_bytes())
            });
        let fold_hit = FOLDS_TO_ASCII
            .iter()
            .filter(|(_, letter)| needle.as_bytes().contains(letter))
            .filter_map(|(c, _)| memmem::find(haystack, c.encode_utf8(&mut [0; 4]).as_bytes()))
            .min();
        match (byte_hit, fold_hit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    #[test]
    fn lowercase_to_ascii_is_only_these() {
        let found: Vec<char> = (0..=0x10FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|c| !c.is_ascii() && c.to_lowercase().any(|l| l.is_ascii()))
            .collect();
        let listed: Vec<char> = FOLDS_TO_ASCII.iter().map(|(c, _)| *c).collect();
        assert_eq!(found, listed);
        for (c, letter) in FOLDS_TO_ASCII {
            assert!(c.to_lowercase().any(|l| l as u32 == u32::from(letter)));
        }
    }

    #[test]
    fn finds_every_case_at_every_position() {
        let finder = CaselessFinder::new("ZebraCorn").unwrap();
        for offset in 0..40 {
            for variant in ["zebracorn", "ZEBRACORN", "zEbRaCoRn"] {
                let mut text = vec![b'.'; offset];
                text.extend_from_slice(variant.as_bytes());
                text.extend_from_slice(b" tail");
                assert_eq!(finder.find(&text), Some(offset), "{variant} at {offset}");
            }
        }
        assert_eq!(finder.find(b"zebracor"), None);
        assert_eq!(finder.find(b""), None);
    }

    #[test]
    fn non_letters_are_compared_exactly() {
        let finder = CaselessFinder::new("user4999").unwrap();
        assert_eq!(finder.find(b"x USER4999 y"), Some(2));
        // '@' | 0x20 is '`', never a letter; '4' has no other case.
        assert_eq!(finder.find(b"user\x144999"), None);
        assert_eq!(finder.find(b"Usertaaa user4998"), None);
    }

    #[test]
    fn folding_characters_are_reported() {
        let kelvin = CaselessFinder::new("kafka").unwrap();
        let text = "log \u{212A}afka then kafka".as_bytes();
        assert_eq!(kelvin.find(text), Some(4));
        let dotted = CaselessFinder::new("bi").unwrap();
        assert_eq!(dotted.find("b\u{130}lgi".as_bytes()), Some(1));
        // Needles without the letter ignore the character.
        let plain = CaselessFinder::new("zebra").unwrap();
        assert_eq!(plain.find("\u{212A} zebra".as_bytes()), Some(4));
    }

    #[test]
    fn short_or_non_ascii_needles_are_refused() {
        assert!(CaselessFinder::new("a").is_none());
        assert!(CaselessFinder::new("").is_none());
        assert!(CaselessFinder::new("größe").is_none());
    }

    proptest! {
        #[test]
        fn agrees_with_the_naive_search(
            needle in "[a-zA-Z0-9_@`\\[{]{2,12}",
            haystack in proptest::collection::vec(
                prop_oneof![
                    Just(b'a'), Just(b'A'), Just(b'k'), Just(b'K'), Just(b'i'), Just(b'@'),
                    Just(b'`'), Just(b'0'), Just(b' '), Just(0xC4), Just(0xB0), Just(0xE2),
                    Just(0x84), Just(0xAA), any::<u8>()
                ],
                0..300,
            ),
            planted in proptest::option::of(0usize..300),
        ) {
            let mut haystack = haystack;
            if let Some(at) = planted {
                let at = at.min(haystack.len());
                let upper = needle.to_ascii_uppercase();
                haystack.splice(at..at, upper.bytes());
            }
            let finder = CaselessFinder::new(&needle).unwrap();
            prop_assert_eq!(finder.find(&haystack), naive(&needle, &haystack));
        }
    }
}
