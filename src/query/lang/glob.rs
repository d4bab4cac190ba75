//! Wildcard patterns (`time*`, `t?me`) and SQL LIKE patterns (`web-%`),
//! matched without backtracking.
//!
//! A pattern is split at its "any run" wildcards into segments of literal
//! characters and "any one character" wildcards. The first segment must
//! match at the start, the last at the end, and each middle one is taken at
//! its leftmost place after the previous one. Taking the leftmost place is
//! always right, because a run before the next segment can absorb anything,
//! so there is never a reason to come back: `a*a*a*a*a*b` against a million
//! `a`s is one pass, not an exponential search. The cost is at most
//! (text length × segment length), and segment lengths are capped by
//! `TEXT_QUERY_BYTES_MAX`.

use super::text::{complete_words, is_word_char};

/// Which characters are wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobSyntax {
    /// `*` and `?`, matched against one word; literals must be word chars.
    Wildcard,
    /// `%` and `_`, matched against a whole value.
    Like,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom<T> {
    /// A lowercased character (or byte, on the ASCII path).
    Literal(T),
    /// Exactly one character.
    One,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    /// The segments between "any run" wildcards (consecutive runs count
    /// once), lowercased. One segment means no run: the text must match it
    /// exactly. Never empty.
    segments: Vec<Vec<Atom<char>>>,
    /// The same segments as bytes when every literal is ASCII, so ASCII
    /// text (the common case) is matched in place, lowercasing on the fly.
    ascii_segments: Option<Vec<Vec<Atom<u8>>>>,
}

impl Glob {
    pub fn compile(pattern: &str, syntax: GlobSyntax) -> Result<Glob, String> {
        let (run, one) = match syntax {
            GlobSyntax::Wildcard => ('*', '?'),
            GlobSyntax::Like => ('%', '_'),
        };
        let mut segments: Vec<Vec<Atom<char>>> = vec![Vec::new()];
        let mut after_run = false;
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let was_after_run = std::mem::replace(&mut after_run, false);
            let literal = match c {
                '\\' => chars.next().ok_or_else(|| {
                    format!("pattern {pattern:?} ends with an escape '\\'; write '\\\\' for a backslash")
                })?,
                c if c == run => {
                    // `**` is one run: a second segment boundary would add
                    // an empty middle segment, which is harmless but slower.
                    if !was_after_run {
                        segments.push(Vec::new());
                    }
                    after_run = true;
                    continue;
                }
                c if c == one => {
                    last_segment(&mut segments).push(Atom::One);
                    continue;
                }
                c => c,
            };
            if syntax == GlobSyntax::Wildcard && !is_word_char(literal) {
                return Err(format!(
                    "wildcard pattern {pattern:?} contains {literal:?}, which no word contains; \
                     wildcards match within one word (letters, digits and '_')"
                ));
            }
            let segment = last_segment(&mut segments);
            segment.extend(literal.to_lowercase().map(Atom::Literal));
        }
        let ascii_segments = segments
            .iter()
            .map(|segment| segment.iter().map(ascii_atom).collect::<Option<Vec<_>>>())
            .collect::<Option<Vec<_>>>();
        Ok(Glob {
            segments,
            ascii_segments,
        })
    }

    /// Whether the whole of `text` matches, ignoring case.
    pub fn is_match(&self, text: &str) -> bool {
        if let (true, Some(ascii)) = (text.is_ascii(), &self.ascii_segments) {
            return match_units(ascii, text.as_bytes(), |byte| byte.to_ascii_lowercase());
        }
        let folded: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        match_units(&self.segments, &folded, |c| c)
    }

    /// Words every match contains: those wholly inside a literal stretch,
    /// not touching a wildcard (which could extend them).
    pub fn required_words(&self) -> Vec<String> {
        let mut required: Vec<String> = Vec::new();
        let segment_count = self.segments.len();
        for (segment_index, segment) in self.segments.iter().enumerate() {
            let pieces: Vec<&[Atom<char>]> = segment.split(|atom| *atom == Atom::One).collect();
            for (piece_index, piece) in pieces.iter().enumerate() {
                let text: String = piece
                    .iter()
                    .map(|atom| match atom {
                        Atom::Literal(c) => *c,
                        Atom::One => unreachable!("split at every One"),
                    })
                    .collect();
                let open_start = segment_index > 0 || piece_index > 0;
                let open_end = segment_index + 1 < segment_count || piece_index + 1 < pieces.len();
                for word in complete_words(&text, open_start, open_end) {
                    if !required.contains(&word) {
                        required.push(word);
                    }
                }
            }
        }
        required
    }
}

fn last_segment<T>(segments: &mut [Vec<T>]) -> &mut Vec<T> {
    segments.last_mut().expect("a glob always has a segment")
}

fn ascii_atom(atom: &Atom<char>) -> Option<Atom<u8>> {
    match atom {
        Atom::One => Some(Atom::One),
        Atom::Literal(c) => u8::try_from(*c)
            .ok()
            .filter(u8::is_ascii)
            .map(Atom::Literal),
    }
}

/// The segment algorithm of the module comment, over bytes or chars.
fn match_units<T: Copy + Eq>(
    segments: &[Vec<Atom<T>>],
    text: &[T],
    fold: impl Fn(T) -> T + Copy,
) -> bool {
    let (first, rest) = segments.split_first().expect("a glob always has a segment");
    let Some((last, middle)) = rest.split_last() else {
        return text.len() == first.len() && segment_at(first, text, 0, fold);
    };
    if text.len() < first.len() + last.len() {
        return false;
    }
    let end = text.len() - last.len();
    if !segment_at(first, text, 0, fold) || !segment_at(last, text, end, fold) {
        return false;
    }
    let mut position = first.len();
    for segment in middle {
        match find_segment(segment, &text[..end], position, fold) {
            Some(found) => position = found + segment.len(),
            None => return false,
        }
    }
    true
}

fn segment_at<T: Copy + Eq>(
    segment: &[Atom<T>],
    text: &[T],
    start: usize,
    fold: impl Fn(T) -> T,
) -> bool {
    text.len() - start >= segment.len()
        && segment
            .iter()
            .zip(&text[start..])
            .all(|(atom, unit)| match atom {
                Atom::One => true,
                Atom::Literal(wanted) => fold(*unit) == *wanted,
            })
}

/// The leftmost start `>= from` where `segment` matches inside `text`.
fn find_segment<T: Copy + Eq>(
    segment: &[Atom<T>],
    text: &[T],
    from: usize,
    fold: impl Fn(T) -> T + Copy,
) -> Option<usize> {
    let last_start = text.len().checked_sub(segment.len())?;
    (from..=last_start).find(|start| segment_at(segment, text, *start, fold))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn like(pattern: &str, text: &str) -> bool {
        Glob::compile(pattern, GlobSyntax::Like)
            .unwrap()
            .is_match(text)
    }

    fn wild(pattern: &str, text: &str) -> bool {
        Glob::compile(pattern, GlobSyntax::Wildcard)
            .unwrap()
            .is_match(text)
    }

    #[test]
    fn like_runs_and_single_characters() {
        assert!(like("web-%", "web-1"));
        assert!(like("web-%", "WEB-"));
        assert!(!like("web-%", "api-web-1"));
        assert!(like("%time%", "a timeout"));
        assert!(like("t_me", "TIME"));
        assert!(!like("t_me", "tme"));
        assert!(like("%", ""));
        assert!(like("", ""));
        assert!(!like("", "a"));
        assert!(like("a%b%c", "aXbYc"));
        assert!(!like("a%b%c", "aXcYb"));
        assert!(like("%%a%%", "xa"));
    }

    #[test]
    fn like_escapes_are_literal() {
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("a\\_b", "a_b"));
        assert!(!like("a\\_b", "aXb"));
        assert!(like("a\\\\b", "a\\b"));
        assert!(Glob::compile("abc\\", GlobSyntax::Like).is_err());
    }

    #[test]
    fn unicode_counts_characters_and_ignores_case() {
        assert!(like("Ü_er%", "überlast"));
        assert!(wild("gr??e", "GRÜßE"));
        assert!(!wild("gr?e", "grüße"));
        assert!(like("%ße", "STRAßE"));
        // A non-ASCII pattern never matches ASCII text by accident.
        assert!(!like("é", "e"));
    }

    #[test]
    fn wildcard_matches_one_word() {
        assert!(wild("time*", "timeout"));
        assert!(wild("*out", "timeout"));
        assert!(wild("t?me*", "timer"));
        assert!(wild("*", ""));
        assert!(!wild("?", ""));
        let error = Glob::compile("req-4*", GlobSyntax::Wildcard).unwrap_err();
        assert_eq!(
            error,
            "wildcard pattern \"req-4*\" contains '-', which no word contains; \
             wildcards match within one word (letters, digits and '_')"
        );
    }

    #[test]
    fn pathological_patterns_run_in_linear_time() {
        let text = "a".repeat(1_000_000);
        let started = Instant::now();
        assert!(!like("a%a%a%a%a%b", &text));
        assert!(!wild("a*a*a*a*a*b", &text));
        assert!(like("%a%a%a%a%a", &text));
        assert!(!like("%aaaaaaaaaaaaaaaaaaaab%", &text));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn required_words_are_the_complete_literal_words() {
        let required = |pattern: &str| {
            Glob::compile(pattern, GlobSyntax::Like)
                .unwrap()
                .required_words()
        };
        assert_eq!(
            required("connection reset by%"),
            vec!["connection", "reset"]
        );
        assert_eq!(required("%conn reset by%"), vec!["reset"]);
        assert_eq!(required("%x_y z%"), Vec::<String>::new());
        assert_eq!(required("Error: x_y"), vec!["error"]);
        assert_eq!(required("web-%"), vec!["web"]);
    }
}
