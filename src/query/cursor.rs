//! Paging cursors: where a page ended, and which query it belongs to.
//!
//! A cursor is the sort key of the last entry a page returned (timestamp,
//! partition key, slice, sequence: the total result order, see
//! `execute::SortKey`) together with a fingerprint of the query that
//! produced it. The next request sends it back and the query continues
//! strictly after that key in its order, so paging costs the same on page
//! 1000 as on page 1: the key's timestamp narrows the time range that prunes
//! blocks and granules, and at the boundary timestamp only keys strictly
//! after the cursor's pass (`QueryPlan::is_past_cursor`).
//!
//! Wire form (version 1): 41 bytes, lowercase hex (82 characters, URL-safe
//! as is):
//!
//! | offset | width | field                                   |
//! |--------|-------|-----------------------------------------|
//! | 0      | 1     | version = 1                             |
//! | 1      | 8     | timestamp_ns, i64 big-endian            |
//! | 9      | 8     | partition key, u64 big-endian           |
//! | 17     | 4     | slice, u32 big-endian                   |
//! | 21     | 8     | sequence, u64 big-endian                |
//! | 29     | 8     | query fingerprint, u64 big-endian       |
//! | 37     | 4     | crc32 of bytes 0..37, big-endian        |
//!
//! The crc catches a cursor that was cut or mistyped; it is not a secret:
//! a forged cursor can only start a page at a key the client could also
//! reach with a time range, so nothing needs signing. The fingerprint
//! (xxh3-64 over the query's partitions, filter, `q` and order, never its
//! limit) refuses a cursor sent with a different query, whose order it
//! would not be a position in.

use std::cmp::Ordering;

use super::execute::{order, SortKey};

/// The wire format this build writes; the only one it reads.
pub const CURSOR_VERSION: u8 = 1;
/// Bytes of a version-1 cursor before hex encoding.
const CURSOR_BYTES: usize = 41;
/// Bytes covered by the crc (everything before it).
const CRC_OFFSET: usize = 37;

const _: () = assert!(CRC_OFFSET + 4 == CURSOR_BYTES);
const _: () = assert!(1 + 8 + 8 + 4 + 8 + 8 == CRC_OFFSET);

/// A decoded cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last returned entry's sort key: the page continues strictly
    /// after it.
    pub after: SortKey,
    /// `fingerprint` of the query the cursor came from.
    pub fingerprint: u64,
}

/// Why a cursor text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    #[error("the cursor is not one this server issued: expected {expected} hex characters, got {got} characters")]
    Length { expected: usize, got: usize },
    #[error("the cursor is not one this server issued: it holds a character that is not a lowercase hex digit")]
    NotHex,
    #[error("the cursor is damaged (its checksum does not match): send the `next` value exactly as it was returned")]
    Checksum,
    #[error("the cursor has format version {0}, which this server does not read (it writes version {CURSOR_VERSION}); start again without a cursor")]
    Version(u8),
}

impl Cursor {
    /// The cursor's wire text.
    pub fn encode(&self) -> String {
        let (timestamp_ns, partition_key, slice, seq) = self.after;
        let mut bytes = [0u8; CURSOR_BYTES];
        bytes[0] = CURSOR_VERSION;
        bytes[1..9].copy_from_slice(&timestamp_ns.to_be_bytes());
        bytes[9..17].copy_from_slice(&partition_key.to_be_bytes());
        bytes[17..21].copy_from_slice(&slice.to_be_bytes());
        bytes[21..29].copy_from_slice(&seq.to_be_bytes());
        bytes[29..37].copy_from_slice(&self.fingerprint.to_be_bytes());
        let crc = crc32fast::hash(&bytes[..CRC_OFFSET]);
        bytes[CRC_OFFSET..].copy_from_slice(&crc.to_be_bytes());
        hex_encode(&bytes)
    }

    /// Parses a cursor's wire text; every byte is checked before use.
    pub fn decode(text: &str) -> Result<Cursor, CursorError> {
        if text.len() != CURSOR_BYTES * 2 {
            return Err(CursorError::Length {
                expected: CURSOR_BYTES * 2,
                got: text.chars().count(),
            });
        }
        let bytes = hex_decode::<CURSOR_BYTES>(text).ok_or(CursorError::NotHex)?;
        let stored_crc = u32::from_be_bytes(bytes[CRC_OFFSET..].try_into().expect("4 bytes"));
        if crc32fast::hash(&bytes[..CRC_OFFSET]) != stored_crc {
            return Err(CursorError::Checksum);
        }
        if bytes[0] != CURSOR_VERSION {
            return Err(CursorError::Version(bytes[0]));
        }
        let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        Ok(Cursor {
            after: (
                u64_at(1) as i64,
                u64_at(9),
                u32::from_be_bytes(bytes[17..21].try_into().expect("4 bytes")),
                u64_at(21),
            ),
            fingerprint: u64_at(29),
        })
    }
}

/// Whether `key` comes strictly after `after` in the query's order: what a
/// page that continues from a cursor at `after` may return.
pub fn is_after(after: SortKey, key: SortKey, descending: bool) -> bool {
    order(after, key, descending) == Ordering::Less
}

/// The key before every entry in the query's order: where a query that has
/// returned nothing yet stands (a timed-out first page still gets a
/// `next`). No entry has it, since sequence numbers start at 1 and never
/// reach `u64::MAX`.
pub fn start_key(descending: bool) -> SortKey {
    if descending {
        (i64::MAX, u64::MAX, u32::MAX, u64::MAX)
    } else {
        (i64::MIN, 0, 0, 0)
    }
}

/// What a cursor is checked against: the parts of a query that decide
/// which entries match and in which order. The limit is left out on
/// purpose, so a client may change its page size between pages.
pub struct QueryIdentity<'a> {
    /// Partition keys the query named, in any order (sorted here); `None`
    /// when it named none and so searches every partition, including ones
    /// created between two pages.
    pub partition_keys: Option<Vec<u64>>,
    /// The filter object, canonical JSON (sorted keys), after the seed's
    /// top-level fields were merged in.
    pub filter_json: &'a [u8],
    /// The `q` text as sent.
    pub q: Option<&'a str>,
    pub descending: bool,
}

impl QueryIdentity<'_> {
    /// xxh3-64 over a length-prefixed concatenation of the parts (so no two
    /// different identities share their bytes).
    pub fn fingerprint(self) -> u64 {
        let mut bytes = Vec::with_capacity(64 + self.filter_json.len());
        bytes.push(CURSOR_VERSION);
        match self.partition_keys {
            Some(mut keys) => {
                keys.sort_unstable();
                keys.dedup();
                bytes.push(1);
                bytes.extend_from_slice(&(keys.len() as u64).to_be_bytes());
                for key in &keys {
                    bytes.extend_from_slice(&key.to_be_bytes());
                }
            }
            None => bytes.push(0),
        }
        bytes.extend_from_slice(&(self.filter_json.len() as u64).to_be_bytes());
        bytes.extend_from_slice(self.filter_json);
        match self.q {
            Some(q) => {
                bytes.push(1);
                bytes.extend_from_slice(&(q.len() as u64).to_be_bytes());
                bytes.extend_from_slice(q.as_bytes());
            }
            None => bytes.push(0),
        }
        bytes.push(self.descending as u8);
        twox_hash::XxHash3_64::oneshot(&bytes)
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[(byte >> 4) as usize] as char);
        text.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    text
}

/// Lowercase hex only: one spelling per cursor, so a cursor compares equal
/// to itself as text too.
fn hex_decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digit = |byte: u8| match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    };
    let text = text.as_bytes();
    if text.len() != N * 2 {
        return None;
    }
    let mut bytes = [0u8; N];
    for (index, pair) in text.chunks_exact(2).enumerate() {
        bytes[index] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Cursor {
        Cursor {
            after: (-1_234_567_890_123, 42, 3, u64::MAX - 1),
            fingerprint: 0xdead_beef_0123_4567,
        }
    }

    #[test]
    fn round_trips_every_field_including_extremes() {
        for after in [
            sample().after,
            (i64::MIN, 0, 0, 0),
            (i64::MAX, u64::MAX, u32::MAX, u64::MAX),
            (1_700_000_000_000_000_000, 7, 1, 1),
        ] {
            let cursor = Cursor {
                after,
                fingerprint: 99,
            };
            let text = cursor.encode();
            assert_eq!(text.len(), 82);
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            assert_eq!(Cursor::decode(&text), Ok(cursor));
        }
    }

    #[test]
    fn every_single_character_change_is_detected() {
        let text = sample().encode();
        for index in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[index] = if bytes[index] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(
                Cursor::decode(&tampered).is_err(),
                "a change at {index} went unnoticed"
            );
        }
    }

    #[test]
    fn malformed_texts_get_precise_errors() {
        let text = sample().encode();
        assert_eq!(
            Cursor::decode(&text[..80]),
            Err(CursorError::Length {
                expected: 82,
                got: 80
            })
        );
        assert_eq!(
            Cursor::decode(""),
            Err(CursorError::Length {
                expected: 82,
                got: 0
            })
        );
        assert_eq!(
            Cursor::decode(&text.to_uppercase()),
            Err(CursorError::NotHex),
            "one spelling only"
        );
        let mut flipped = text.clone().into_bytes();
        flipped[20] = if flipped[20] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            Cursor::decode(std::str::from_utf8(&flipped).unwrap()),
            Err(CursorError::Checksum)
        );
        let unicode = "é".repeat(41);
        assert!(matches!(
            Cursor::decode(&unicode),
            Err(CursorError::NotHex | CursorError::Length { .. })
        ));
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let mut bytes = hex_decode::<CURSOR_BYTES>(&sample().encode()).unwrap();
        bytes[0] = 2;
        let crc = crc32fast::hash(&bytes[..CRC_OFFSET]);
        bytes[CRC_OFFSET..].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            Cursor::decode(&hex_encode(&bytes)),
            Err(CursorError::Version(2))
        );
    }

    fn identity<'a>(
        keys: Option<Vec<u64>>,
        filter: &'a [u8],
        q: Option<&'a str>,
        desc: bool,
    ) -> u64 {
        QueryIdentity {
            partition_keys: keys,
            filter_json: filter,
            q,
            descending: desc,
        }
        .fingerprint()
    }

    #[test]
    fn fingerprint_depends_on_partitions_filter_q_and_order_only() {
        let keys = || Some(vec![1, 2]);
        let base = identity(keys(), b"{}", Some("error"), true);
        assert_eq!(
            base,
            identity(Some(vec![2, 1, 2]), b"{}", Some("error"), true)
        );
        assert_ne!(base, identity(Some(vec![1]), b"{}", Some("error"), true));
        assert_ne!(base, identity(None, b"{}", Some("error"), true));
        assert_ne!(
            base,
            identity(keys(), b"{\"source\":\"a\"}", Some("error"), true)
        );
        assert_ne!(base, identity(keys(), b"{}", Some("errors"), true));
        assert_ne!(base, identity(keys(), b"{}", None, true));
        assert_ne!(base, identity(keys(), b"{}", Some("error"), false));
        assert_ne!(
            identity(None, b"{}", Some(""), true),
            identity(None, b"{}", None, true)
        );
        assert_ne!(
            identity(Some(vec![]), b"{}", None, true),
            identity(None, b"{}", None, true)
        );
    }

    #[test]
    fn start_key_comes_before_every_entry_in_both_orders() {
        let entries = [
            (i64::MIN, 0, 0, 1),
            (0, 0, 0, 1),
            (i64::MAX, u64::MAX, u32::MAX, u64::MAX - 1),
        ];
        for descending in [true, false] {
            let start = start_key(descending);
            for entry in entries {
                assert_eq!(
                    order(start, entry, descending),
                    std::cmp::Ordering::Less,
                    "descending {descending}: {entry:?}"
                );
            }
        }
    }
}
