//! String columns (message bodies, tag values): lengths first, then all the
//! bytes, decoded in place.
//!
//! | id | encoding | frame bytes |
//! |----|----------|-------------|
//! | 30 | `STRINGS` | varint length of every value, then every value's bytes concatenated |
//! | 31 | `NULLABLE_STRINGS` | presence bitmap (ceil(count / 8) bytes, bit i set = row i present, padding bits zero), varint length of every *present* value, then the present values' bytes |
//!
//! Why this shape: queries scan message bytes in place (substring search
//! with memchr, word filters) and must not copy them. So decoding only
//! reads the lengths into cumulative end offsets (`ends[i]`, relative to
//! the start of the data, value i is `data[ends[i-1]..ends[i]]` with
//! `ends[-1] = 0`) and returns where the data starts; the caller keeps the
//! frame bytes and slices values out of them. Keeping the lengths together
//! (not interleaved with the data) lets that be one tight loop, and lets
//! the data be validated as UTF-8 in one call. Tag columns where most rows
//! lack the tag pay one bit per absent row; an absent row decodes as an
//! empty range and a clear bit in `present`.
//!
//! Invariants, checked on every decode: the lengths sum to exactly the data
//! length; the data is valid UTF-8 and every value boundary is a character
//! boundary, so each value is itself valid UTF-8 and may be viewed as
//! `str` by the caller; the whole frame is at most `FRAME_BYTES_MAX` bytes,
//! so every offset fits in `u32`. The encoders check the same before
//! writing (a frame the decoder would reject must never be written).

use std::ops::Range;

use super::bits::bitmap_words_get;
use super::varint::{get_u64_in, put_u64};
use super::{check_frame_limits, malformed, ColumnError, Result, FRAME_BYTES_MAX, FRAME_ROWS_MAX};

/// Names the lengths in `Truncated` errors.
const LENGTHS: &str = "the string lengths";

/// Names the presence bitmap in `Truncated` errors.
const BITMAP: &str = "the presence bitmap";

/// Appends `values` as a `STRINGS` frame (`encoding::STRINGS`).
///
/// The iterator is walked twice (lengths, then bytes), hence `Clone`; an
/// iterator over borrowed values clones for free.
///
/// Panics if there are more than `FRAME_ROWS_MAX` values or if the frame
/// would exceed `FRAME_BYTES_MAX` (in debug builds also if a value is not
/// valid UTF-8): the decoder rejects all three, and the caller holds UTF-8
/// text and cuts granules well below the limits, so each is a bug, caught
/// before it is written.
pub fn encode_strings<'a, I>(values: I, out: &mut Vec<u8>)
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    let values = values.into_iter();
    let start = out.len();
    let mut count = 0;
    for value in values.clone() {
        put_u64(out, value.len() as u64);
        count += 1;
    }
    assert!(count <= FRAME_ROWS_MAX, "frame has too many rows");
    write_data(values, start, out);
}

/// Appends `values` as a `NULLABLE_STRINGS` frame
/// (`encoding::NULLABLE_STRINGS`); `None` is an absent row.
///
/// Walks the iterator three times (bitmap, lengths, bytes). Panics like
/// `encode_strings`.
pub fn encode_nullable_strings<'a, I>(values: I, out: &mut Vec<u8>)
where
    I: IntoIterator<Item = Option<&'a [u8]>>,
    I::IntoIter: Clone,
{
    let values = values.into_iter();
    let start = out.len();
    let mut count = 0;
    let mut byte = 0u8;
    for value in values.clone() {
        byte |= u8::from(value.is_some()) << (count % 8);
        count += 1;
        if count % 8 == 0 {
            out.push(byte);
            byte = 0;
        }
    }
    if count % 8 != 0 {
        out.push(byte);
    }
    assert!(count <= FRAME_ROWS_MAX, "frame has too many rows");
    for value in values.clone().flatten() {
        put_u64(out, value.len() as u64);
    }
    write_data(values.flatten(), start, out);
}

/// Appends the values' bytes, checking the frame (which began at
/// `frame_start`) stays within `FRAME_BYTES_MAX`. The values are UTF-8 by the
/// caller's contract (every `ColumnBatch` column is, checked when it was
/// parsed or read back); checking each again would cost a twentieth of a
/// seal, so it is a debug assertion.
fn write_data<'a>(values: impl Iterator<Item = &'a [u8]>, frame_start: usize, out: &mut Vec<u8>) {
    for value in values {
        debug_assert!(
            std::str::from_utf8(value).is_ok(),
            "a string value is not valid UTF-8"
        );
        out.extend_from_slice(value);
        assert!(
            out.len() - frame_start <= FRAME_BYTES_MAX,
            "string frame exceeds {FRAME_BYTES_MAX} bytes"
        );
    }
}

/// Decodes a `STRINGS` frame in place: clears `ends` and fills it with the
/// `count` cumulative end offsets of the values, and returns the offset in
/// `bytes` where their data starts. Value i is
/// `bytes[data_start..][value_range(ends, i)]`, valid UTF-8.
///
/// Errors: too few bytes (`Truncated`); lengths that do not add up to the
/// data, invalid UTF-8, a boundary inside a character, or `count` above
/// `FRAME_ROWS_MAX` (`Malformed`). On error `ends` is left empty.
pub fn decode_strings(bytes: &[u8], count: usize, ends: &mut Vec<u32>) -> Result<usize> {
    ends.clear();
    let result = decode_strings_into(bytes, count, ends);
    if result.is_err() {
        ends.clear();
    }
    result
}

fn decode_strings_into(bytes: &[u8], count: usize, ends: &mut Vec<u32>) -> Result<usize> {
    check_frame_limits(count, bytes.len())?;
    let data_start = read_lengths(bytes, 0, count, count, |_| true, ends)?;
    check_data(bytes, data_start, ends)
}

/// Decodes a `NULLABLE_STRINGS` frame in place, like `decode_strings`, and
/// also clears `present` and fills it with the presence bitmap as
/// ceil(count / 64) little-endian words (bit i of the bitmap is bit i % 64
/// of word i / 64; test it with `bits::bitmap_words_get`). An absent row
/// has an empty range in `ends`.
///
/// Errors as `decode_strings`, plus a set padding bit past `count`
/// (`Malformed`). On error `ends` and `present` are left empty.
pub fn decode_nullable_strings(
    bytes: &[u8],
    count: usize,
    ends: &mut Vec<u32>,
    present: &mut Vec<u64>,
) -> Result<usize> {
    ends.clear();
    present.clear();
    let result = decode_nullable_strings_into(bytes, count, ends, present);
    if result.is_err() {
        ends.clear();
        present.clear();
    }
    result
}

fn decode_nullable_strings_into(
    bytes: &[u8],
    count: usize,
    ends: &mut Vec<u32>,
    present: &mut Vec<u64>,
) -> Result<usize> {
    check_frame_limits(count, bytes.len())?;
    let present_count = read_bitmap(bytes, count, present)?;
    let is_present = |row: usize| bitmap_words_get(present, row);
    let data_start = read_lengths(
        bytes,
        count.div_ceil(8),
        count,
        present_count,
        is_present,
        ends,
    )?;
    check_data(bytes, data_start, ends)
}

/// The byte range of value `index` within the data, given the end offsets
/// a decoder filled in. `index` must be below `ends.len()`.
#[inline]
pub fn value_range(ends: &[u32], index: usize) -> Range<usize> {
    let start = if index == 0 { 0 } else { ends[index - 1] };
    start as usize..ends[index] as usize
}

/// Reads the presence bitmap at the start of `bytes` into `present` words
/// and returns how many rows are present.
fn read_bitmap(bytes: &[u8], count: usize, present: &mut Vec<u64>) -> Result<usize> {
    let Some(bitmap) = bytes.get(..count.div_ceil(8)) else {
        return Err(ColumnError::Truncated { what: BITMAP });
    };
    if let (Some(&last), tail_bits @ 1..) = (bitmap.last(), count % 8) {
        if last >> tail_bits != 0 {
            return Err(malformed(format!(
                "the presence bitmap has bits set past its {count} rows"
            )));
        }
    }
    present.reserve(count.div_ceil(64));
    let mut present_count = 0;
    for chunk in bitmap.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        present_count += word.count_ones() as usize;
        present.push(word);
    }
    Ok(present_count)
}

/// Reads the varint lengths of the `present_count` present rows out of
/// `count`, starting at `pos`, into cumulative `ends` (absent rows repeat
/// the previous end), and returns where the data starts. Checks the lengths
/// add up to exactly the bytes after them.
fn read_lengths(
    bytes: &[u8],
    mut pos: usize,
    count: usize,
    present_count: usize,
    is_present: impl Fn(usize) -> bool,
    ends: &mut Vec<u32>,
) -> Result<usize> {
    // Every present length takes at least one byte: reject a short frame
    // before reserving room for `count` offsets.
    if bytes.len().saturating_sub(pos) < present_count {
        return Err(ColumnError::Truncated { what: LENGTHS });
    }
    ends.reserve(count);
    // Bounded by `bytes.len()` at every step, so it fits in u32 (frames are
    // at most FRAME_BYTES_MAX bytes). A length is any u64 a varint holds,
    // so the sum is checked before it is kept: a wrapped sum would make
    // ends decrease, and slicing a value out of them panic.
    let mut end = 0u64;
    for row in 0..count {
        if is_present(row) {
            let length = get_u64_in(bytes, &mut pos, LENGTHS)?;
            end = end
                .checked_add(length)
                .filter(|&end| end <= bytes.len() as u64)
                .ok_or(ColumnError::Truncated {
                    what: "the string bytes",
                })?;
        }
        ends.push(end as u32);
    }
    let data_bytes = (bytes.len() - pos) as u64;
    if end > data_bytes {
        return Err(ColumnError::Truncated {
            what: "the string bytes",
        });
    }
    if end < data_bytes {
        return Err(malformed(format!(
            "{} bytes left over after the string values",
            data_bytes - end
        )));
    }
    Ok(pos)
}

/// Checks the data is UTF-8 and every value boundary is a character
/// boundary, then passes `data_start` through.
fn check_data(bytes: &[u8], data_start: usize, ends: &[u32]) -> Result<usize> {
    let text = std::str::from_utf8(&bytes[data_start..]).map_err(|error| {
        malformed(format!(
            "the string bytes are not valid UTF-8 (at byte {})",
            error.valid_up_to()
        ))
    })?;
    if let Some(&end) = ends
        .iter()
        .find(|&&end| !text.is_char_boundary(end as usize))
    {
        return Err(malformed(format!(
            "a string value ends at byte {end}, inside a UTF-8 character"
        )));
    }
    Ok(data_start)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_rejects_truncation_and_garbage, assert_within_limits};
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const NON_ASCII: [&str; 6] = ["é", "日本", "🦀", "", "naïve café", "a🦀b"];

    /// Found by the `block` fuzz target: a length near `u64::MAX` after a
    /// shorter one overflowed the running end (a panic with overflow
    /// checks; without them, decreasing ends that panic when sliced).
    #[test]
    fn a_length_that_overflows_the_running_end_is_refused() {
        let mut frame = vec![0b11]; // two present rows
        frame.push(4); // the first value has 4 bytes
        frame.extend_from_slice(&[0xff; 9]); // then u64::MAX - 1 or so
        frame.push(0x01);
        frame.extend_from_slice(b"abcd");
        let (mut ends, mut present) = (Vec::new(), Vec::new());
        assert_eq!(
            decode_nullable_strings(&frame, 2, &mut ends, &mut present),
            Err(ColumnError::Truncated {
                what: "the string bytes"
            })
        );
        assert!(ends.is_empty() && present.is_empty());
        assert!(decode_strings(&frame[1..], 2, &mut ends).is_err());
    }

    fn encode(values: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_strings(values.iter().map(|v| v.as_bytes()), &mut out);
        out
    }

    fn encode_nullable(values: &[Option<&str>]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_nullable_strings(values.iter().map(|v| v.map(str::as_bytes)), &mut out);
        out
    }

    /// Decodes and slices every value out of the frame.
    fn decode(bytes: &[u8], count: usize) -> Result<Vec<String>> {
        let mut ends = vec![7];
        let data_start = match decode_strings(bytes, count, &mut ends) {
            Ok(data_start) => data_start,
            Err(error) => {
                assert!(ends.is_empty());
                return Err(error);
            }
        };
        assert_eq!(ends.len(), count);
        assert_eq!(
            ends.last().map_or(0, |&e| e as usize),
            bytes.len() - data_start
        );
        let data = &bytes[data_start..];
        Ok((0..count)
            .map(|i| {
                String::from_utf8(data[value_range(&ends, i)].to_vec()).expect("checked UTF-8")
            })
            .collect())
    }

    fn decode_nullable(bytes: &[u8], count: usize) -> Result<Vec<Option<String>>> {
        let (mut ends, mut present) = (vec![7], vec![7]);
        let data_start = match decode_nullable_strings(bytes, count, &mut ends, &mut present) {
            Ok(data_start) => data_start,
            Err(error) => {
                assert!(ends.is_empty() && present.is_empty());
                return Err(error);
            }
        };
        assert_eq!(ends.len(), count);
        assert_eq!(present.len(), count.div_ceil(64));
        let data = &bytes[data_start..];
        Ok((0..count)
            .map(|i| {
                let range = value_range(&ends, i);
                if bitmap_words_get(&present, i) {
                    Some(String::from_utf8(data[range].to_vec()).expect("checked UTF-8"))
                } else {
                    assert!(range.is_empty());
                    None
                }
            })
            .collect())
    }

    fn assert_round_trips(values: &[&str]) {
        let frame = encode(values);
        assert_eq!(decode(&frame, values.len()).expect("round trip"), values);
        let nullable: Vec<Option<&str>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i % 3 != 1).then_some(*v))
            .collect();
        let frame = encode_nullable(&nullable);
        let decoded = decode_nullable(&frame, nullable.len()).expect("round trip");
        assert_eq!(
            decoded.iter().map(Option::as_deref).collect::<Vec<_>>(),
            nullable
        );
    }

    fn string_columns() -> impl Strategy<Value = Vec<String>> {
        let value = prop_oneof![
            Just(String::new()),
            proptest::sample::select(NON_ASCII.to_vec()).prop_map(String::from),
            "[a-z ]{0,40}",
            "\\PC{0,20}",
        ];
        prop_oneof![
            Just(Vec::new()),
            value.clone().prop_map(|v| vec![v]),
            (value.clone(), 0usize..200).prop_map(|(v, n)| vec![v; n]),
            vec(value, 0..200),
        ]
    }

    #[test]
    fn known_frames() {
        assert_eq!(encode(&["ab", "", "é"]), [2, 0, 2, b'a', b'b', 0xc3, 0xa9]);
        assert!(encode(&[]).is_empty());
        assert_eq!(
            encode_nullable(&[Some("x"), None, None, Some("")]),
            [0b1001, 1, 0, b'x']
        );
        let frame = encode(&["ab", "", "é"]);
        let mut ends = Vec::new();
        assert_eq!(decode_strings(&frame, 3, &mut ends), Ok(3));
        assert_eq!(ends, [2, 2, 4]);
    }

    #[test]
    fn non_ascii_and_largest_frames_round_trip() {
        assert_round_trips(&NON_ASCII);
        let many: Vec<&str> = (0..FRAME_ROWS_MAX)
            .map(|i| NON_ASCII[i % NON_ASCII.len()])
            .collect();
        assert_round_trips(&many);
        let big = "日本🦀é".repeat(1024 * 1024 / 12);
        assert_round_trips(&[&big, "", &big[3..]]);
    }

    #[test]
    fn bad_utf8_and_boundaries_are_rejected() {
        // Valid data, but a boundary splits "é".
        assert!(matches!(
            decode(&[1, 1, 0xc3, 0xa9], 2),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(matches!(
            decode(&[1, 0xff], 1),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(matches!(
            decode_nullable(&[1, 1, 0xff], 1),
            Err(ColumnError::Malformed { .. })
        ));
        // Padding bit 3 set in a 3-row bitmap.
        assert!(matches!(
            decode_nullable(&[0b1000, 0], 3),
            Err(ColumnError::Malformed { .. })
        ));
        // A length far beyond the frame.
        let huge = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, b'a',
        ];
        assert!(matches!(
            decode(&huge, 1),
            Err(ColumnError::Truncated { .. })
        ));
        assert!(matches!(
            decode(&[], FRAME_ROWS_MAX + 1),
            Err(ColumnError::Malformed { .. })
        ));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not valid UTF-8")]
    fn encoding_invalid_utf8_panics_in_debug_builds() {
        encode_strings([&[0xffu8][..]], &mut Vec::new());
    }

    #[test]
    fn damaged_frames_are_rejected() {
        let columns: [&[&str]; 5] = [
            &[],
            &[""],
            &["a"],
            &["日本", "", "🦀x"],
            &["hello", "world", "é"],
        ];
        for values in columns {
            let frame = encode(values);
            assert_rejects_truncation_and_garbage(&frame, |bytes| {
                decode(bytes, values.len()).map(drop)
            });
            let nullable: Vec<Option<&str>> = values
                .iter()
                .map(|v| Some(*v))
                .chain([None, Some("z")])
                .collect();
            let frame = encode_nullable(&nullable);
            assert_rejects_truncation_and_garbage(&frame, |bytes| {
                decode_nullable(bytes, nullable.len()).map(drop)
            });
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn round_trip(values in string_columns()) {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            assert_round_trips(&values);
        }

        #[test]
        fn nullable_round_trip(values in vec(proptest::option::of("\\PC{0,8}"), 0..150)) {
            let values: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
            let frame = encode_nullable(&values);
            let decoded = decode_nullable(&frame, values.len()).expect("round trip");
            prop_assert_eq!(decoded.iter().map(Option::as_deref).collect::<Vec<_>>(), values);
        }

        #[test]
        fn arbitrary_input_never_panics(
            bytes in vec(any::<u8>(), 0..64),
            count in prop_oneof![0usize..40, 0..=FRAME_ROWS_MAX + 1],
        ) {
            // `decode` and `decode_nullable` check the offsets and UTF-8 of
            // whatever they accept.
            let mut ends = Vec::new();
            let _ = decode_strings(&bytes, count, &mut ends);
            assert_within_limits(&ends);
            let (mut ends, mut present) = (Vec::new(), Vec::new());
            let _ = decode_nullable_strings(&bytes, count, &mut ends, &mut present);
            assert_within_limits(&ends);
            assert_within_limits(&present);
            let _ = decode(&bytes, count);
            let _ = decode_nullable(&bytes, count);
        }
    }
}
