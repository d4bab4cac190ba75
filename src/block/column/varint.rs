//! LEB128 unsigned varints and zigzag signed-to-unsigned mapping.
//!
//! A varint stores 7 bits per byte, least significant group first; the high
//! bit of each byte says another byte follows. A `u64` takes 1 to
//! `VARINT_BYTES_MAX` (10) bytes. Zigzag maps signed values of small
//! magnitude to small unsigned ones (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...) so
//! that deltas which may be negative still encode in a byte or two.
//!
//! Invariants: `get_u64` accepts exactly what `put_u64` writes and the
//! non-minimal forms that still fit in 64 bits (a trailing 0x80 0x00 is
//! tolerated, as in every LEB128 reader; frames are compressed and
//! checksummed, so non-minimal forms are never seen in practice). It rejects
//! an 11th byte and a 10th byte carrying bits above bit 63, so no input can
//! silently overflow.

use super::{malformed, ColumnError, Result};

/// Most bytes a `u64` varint takes: ceil(64 / 7).
pub const VARINT_BYTES_MAX: usize = 10;

const _: () = assert!(VARINT_BYTES_MAX * 7 >= 64 && (VARINT_BYTES_MAX - 1) * 7 < 64);

/// Appends `v` as a LEB128 varint.
#[inline]
pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `put_u64(v)` writes, without writing it (used to size candidate
/// encodings before choosing one).
#[inline]
pub fn len_u64(v: u64) -> usize {
    // Significant bits (at least 1), rounded up to 7-bit groups.
    (70 - (v | 1).leading_zeros() as usize) / 7
}

/// Reads one varint at `*pos` and advances `*pos` past it.
///
/// Running out of bytes is `Truncated`; an 11th byte, or a 10th byte above
/// 1 (bits beyond 64), is `Malformed`.
#[inline]
pub fn get_u64(bytes: &[u8], pos: &mut usize) -> Result<u64> {
    get_u64_in(bytes, pos, "a varint")
}

/// `get_u64`, naming `what` (e.g. "the string lengths") in the error when
/// the bytes run out, so the message says which part of the frame is short.
#[inline]
pub fn get_u64_in(bytes: &[u8], pos: &mut usize, what: &'static str) -> Result<u64> {
    // Fast path: most lengths, runs and small deltas are one byte.
    match bytes.get(*pos) {
        Some(&byte) if byte < 0x80 => {
            *pos += 1;
            Ok(u64::from(byte))
        }
        Some(_) => match get_u64_word(bytes, *pos) {
            Some((value, len)) => {
                *pos += len;
                Ok(value)
            }
            None => get_u64_slow(bytes, pos, what),
        },
        None => Err(ColumnError::Truncated { what }),
    }
}

/// Decodes a varint of at most 8 bytes from one little-endian word load,
/// without a loop: finds the first byte without a continuation bit, masks
/// off the bytes after it and squeezes the 7-bit groups together. Returns
/// `None` when fewer than 8 bytes remain or the varint is longer (9 or 10
/// bytes, values of 2^56 and up); the byte loop handles those.
#[inline]
fn get_u64_word(bytes: &[u8], pos: usize) -> Option<(u64, usize)> {
    let chunk = bytes.get(pos..pos.checked_add(8)?)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    let word = u64::from_le_bytes(word);
    let stops = !word & 0x8080_8080_8080_8080;
    if stops == 0 {
        return None;
    }
    // Bit index of the last byte's (clear) high bit, plus one: the number
    // of bits the varint spans, 8 per byte.
    let span_bits = stops.trailing_zeros() + 1;
    let len = (span_bits / 8) as usize;
    let kept = if span_bits >= 64 {
        word
    } else {
        word & ((1u64 << span_bits) - 1)
    };
    // Squeeze eight 7-bit groups (one per byte) into 56 contiguous bits.
    let mut x = kept & 0x7f7f_7f7f_7f7f_7f7f;
    x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
    x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
    x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
    Some((x, len))
}

/// The byte loop: varints near the end of the frame, long varints, and
/// every error.
#[inline(never)]
fn get_u64_slow(bytes: &[u8], pos: &mut usize, what: &'static str) -> Result<u64> {
    let mut value = 0u64;
    for index in 0..VARINT_BYTES_MAX {
        let Some(&byte) = bytes.get(*pos + index) else {
            return Err(ColumnError::Truncated { what });
        };
        if index == VARINT_BYTES_MAX - 1 && byte > 1 {
            return Err(malformed(format!(
                "a varint in {what} does not fit in 64 bits"
            )));
        }
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte < 0x80 {
            *pos += index + 1;
            return Ok(value);
        }
    }
    Err(malformed(format!(
        "a varint in {what} is longer than {VARINT_BYTES_MAX} bytes"
    )))
}

/// Maps a signed value to an unsigned one with small magnitudes first:
/// 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ...
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of `zigzag`.
#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_u64(&mut out, v);
        out
    }

    #[test]
    fn known_encodings() {
        assert_eq!(encode(0), [0]);
        assert_eq!(encode(127), [0x7f]);
        assert_eq!(encode(128), [0x80, 0x01]);
        assert_eq!(encode(300), [0xac, 0x02]);
        assert_eq!(encode(u64::MAX).len(), VARINT_BYTES_MAX);
        assert_eq!(*encode(u64::MAX).last().expect("non-empty"), 1);
    }

    #[test]
    fn zigzag_known_values() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MAX), u64::MAX - 1);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        for v in [0, -1, 1, i64::MIN, i64::MAX, i64::MIN + 1, i64::MAX - 1] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn truncated_and_overlong_are_errors() {
        let mut pos = 0;
        assert!(matches!(
            get_u64(&[], &mut pos),
            Err(ColumnError::Truncated { .. })
        ));
        assert!(matches!(
            get_u64(&[0x80, 0x80], &mut pos),
            Err(ColumnError::Truncated { .. })
        ));
        // A 10th byte of 2 would set bit 64.
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            get_u64(&too_big, &mut pos),
            Err(ColumnError::Malformed { .. })
        ));
        // Eleven bytes, even if the value would fit.
        let too_long = [
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00,
        ];
        assert!(matches!(
            get_u64(&too_long, &mut pos),
            Err(ColumnError::Malformed { .. })
        ));
        assert_eq!(pos, 0, "a failed read does not move the position");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn round_trip(v in any::<u64>(), shift in 0u32..64) {
            for v in [v, v >> shift] {
                let bytes = encode(v);
                prop_assert_eq!(bytes.len(), len_u64(v));
                let mut pos = 0;
                prop_assert_eq!(get_u64(&bytes, &mut pos), Ok(v));
                prop_assert_eq!(pos, bytes.len());
            }
        }

        #[test]
        fn sequences_round_trip(
            values in proptest::collection::vec((any::<u64>(), 0u32..64), 0..40),
            padding in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            // Consecutive varints with arbitrary bytes after them exercise
            // both the word-at-a-time path and the byte loop.
            let values: Vec<u64> = values.iter().map(|&(v, shift)| v >> shift).collect();
            let mut bytes = Vec::new();
            for &v in &values {
                put_u64(&mut bytes, v);
            }
            let end = bytes.len();
            bytes.extend_from_slice(&padding);
            let mut pos = 0;
            for &v in &values {
                prop_assert_eq!(get_u64(&bytes, &mut pos), Ok(v));
            }
            prop_assert_eq!(pos, end);
        }

        #[test]
        fn zigzag_round_trip(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
            prop_assert_eq!(zigzag(v) as u128, if v >= 0 { 2 * v as u128 } else { 2 * (-(v as i128)) as u128 - 1 });
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut pos = 0;
            if get_u64(&bytes, &mut pos).is_ok() {
                prop_assert!((1..=VARINT_BYTES_MAX).contains(&pos) && pos <= bytes.len());
            }
        }
    }
}
