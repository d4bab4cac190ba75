//! Fuzzy words (`timeout~1`): Levenshtein distance, bounded.
//!
//! Only distances 1 and 2 are offered: at 3 edits most short words match
//! each other, and the work grows with the distance. Words whose lengths
//! differ by more than the distance are skipped before any work (most of a
//! message's words), and the dynamic programme stops as soon as a whole row
//! exceeds the distance. Query words are capped at `FUZZY_WORD_CHARS_MAX`
//! characters so both rows live on the stack: no allocation per word.

/// Longest fuzzy query word in characters (after lowercasing).
pub const FUZZY_WORD_CHARS_MAX: usize = 64;
/// The largest distance offered; see the module comment.
pub const FUZZY_DISTANCE_MAX: u8 = 2;
/// Longest candidate word that can still be within the distance.
const CANDIDATE_CHARS_MAX: usize = FUZZY_WORD_CHARS_MAX + FUZZY_DISTANCE_MAX as usize;

#[derive(Debug, Clone)]
pub struct Fuzzy {
    /// The query word, lowercased.
    word: Vec<char>,
    /// The same as bytes when ASCII: ASCII candidates are compared in place.
    ascii: Option<Vec<u8>>,
    distance: usize,
}

impl Fuzzy {
    /// `lower` is one lowercased word; `distance` must be 1 or 2.
    pub fn new(lower: &str, distance: u8) -> Result<Fuzzy, String> {
        if !(1..=FUZZY_DISTANCE_MAX).contains(&distance) {
            return Err(format!(
                "fuzzy distance {distance} is not offered; use ~1 or ~2"
            ));
        }
        let word: Vec<char> = lower.chars().collect();
        if word.len() > FUZZY_WORD_CHARS_MAX {
            return Err(format!(
                "fuzzy word {lower:?} is {} characters long; at most {FUZZY_WORD_CHARS_MAX} are allowed",
                word.len()
            ));
        }
        Ok(Fuzzy {
            ascii: lower.is_ascii().then(|| lower.as_bytes().to_vec()),
            word,
            distance: usize::from(distance),
        })
    }

    /// Whether `candidate` (one word, any case) is within the distance.
    pub fn is_match_word(&self, candidate: &str) -> bool {
        if let (true, Some(query)) = (candidate.is_ascii(), &self.ascii) {
            if candidate.len().abs_diff(query.len()) > self.distance {
                return false;
            }
            let mut folded = [0u8; CANDIDATE_CHARS_MAX];
            for (slot, byte) in folded.iter_mut().zip(candidate.bytes()) {
                *slot = byte.to_ascii_lowercase();
            }
            return within_distance(query, &folded[..candidate.len()], self.distance);
        }
        let mut folded = ['\0'; CANDIDATE_CHARS_MAX];
        let mut length = 0;
        for c in candidate.chars().flat_map(char::to_lowercase) {
            if length == CANDIDATE_CHARS_MAX {
                return false;
            }
            folded[length] = c;
            length += 1;
        }
        length.abs_diff(self.word.len()) <= self.distance
            && within_distance(&self.word, &folded[..length], self.distance)
    }
}

/// Whether the Levenshtein distance of `a` and `b` is at most `limit`.
/// Both are at most `CANDIDATE_CHARS_MAX` long (asserted).
fn within_distance<T: Copy + Eq>(a: &[T], b: &[T], limit: usize) -> bool {
    assert!(a.len() <= CANDIDATE_CHARS_MAX && b.len() <= CANDIDATE_CHARS_MAX);
    // Row i holds the distances from a[..i] to every prefix b[..j].
    let mut previous = [0usize; CANDIDATE_CHARS_MAX + 1];
    let mut current = [0usize; CANDIDATE_CHARS_MAX + 1];
    for (j, cell) in previous.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for (i, a_unit) in a.iter().enumerate() {
        current[0] = i + 1;
        let mut row_min = current[0];
        for (j, b_unit) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(a_unit != b_unit);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
            row_min = row_min.min(current[j + 1]);
        }
        // Distances never shrink from one row to the next, so once every
        // cell is over the limit the final one is too.
        if row_min > limit {
            return false;
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()] <= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fuzzy(word: &str, distance: u8) -> Fuzzy {
        Fuzzy::new(word, distance).unwrap()
    }

    #[test]
    fn edits_are_counted_exactly() {
        let one = fuzzy("timeout", 1);
        assert!(one.is_match_word("timeout"));
        assert!(one.is_match_word("TIMEOUT"));
        assert!(one.is_match_word("timeot")); // delete
        assert!(one.is_match_word("timeoutt")); // insert
        assert!(one.is_match_word("tymeout")); // substitute
        assert!(!one.is_match_word("tymeot"));
        assert!(!one.is_match_word("time"));
        let two = fuzzy("timeout", 2);
        assert!(two.is_match_word("tymeot"));
        assert!(!two.is_match_word("tmeot_x"));
    }

    #[test]
    fn short_and_empty_words() {
        assert!(fuzzy("a", 1).is_match_word(""));
        assert!(fuzzy("a", 1).is_match_word("b"));
        assert!(!fuzzy("ab", 1).is_match_word(""));
        assert!(fuzzy("", 2).is_match_word("ab"));
    }

    #[test]
    fn unicode_is_compared_by_character() {
        let word = fuzzy("grüße", 1);
        assert!(!word.is_match_word("GRÜSSE"));
        assert!(word.is_match_word("GRÜẞE"));
        assert!(word.is_match_word("gruße"));
        assert!(fuzzy("gruß", 1).is_match_word("GRÜß"));
        assert!(!fuzzy("gruss", 2).is_match_word("grüß"));
    }

    #[test]
    fn distances_and_lengths_are_capped() {
        assert_eq!(
            Fuzzy::new("a", 3).unwrap_err(),
            "fuzzy distance 3 is not offered; use ~1 or ~2"
        );
        assert!(Fuzzy::new("a", 0).is_err());
        let long = "a".repeat(65);
        assert!(Fuzzy::new(&long, 1).is_err());
        let longest = fuzzy(&"a".repeat(64), 2);
        assert!(longest.is_match_word(&"a".repeat(66)));
        assert!(!longest.is_match_word(&"a".repeat(67)));
        assert!(!longest.is_match_word(&"ä".repeat(500)));
    }
}
