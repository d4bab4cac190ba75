//! `i64` columns (timestamps): delta encodings, the smallest one chosen per
//! frame.
//!
//! Log timestamps mostly increase but are not sorted: lines arrive late,
//! clocks step back, batches share one base time. So every encoding works on
//! wrapping differences, which round-trip any `i64` sequence exactly
//! (including jumps between `i64::MIN` and `i64::MAX`), and signed steps are
//! zigzag-mapped so small backward steps stay small. Every frame starts
//! with varint(zigzag(v0)); then, with `d[i] = v[i] - v[i-1]` (wrapping)
//! for `i >= 1` and `d[0] = 0`:
//!
//! | id | encoding | rest of the frame |
//! |----|----------|-------------------|
//! | 1 | `I64_DELTA_VARINT` | varint(zigzag(d[i])) for i >= 1 |
//! | 2 | `I64_DELTA_OF_DELTA_VARINT` | varint(zigzag(d[i] - d[i-1])) for i >= 1 (the first is d[1]) |
//! | 3 | `I64_DELTA_BITPACK` | if count > 1: varint(zigzag(m)), width u8 (0..=64), then (d[i] - m) for i >= 1 packed at width bits, where m = min d[i] over i >= 1 |
//!
//! Delta-varint suits irregular steps, delta-of-delta steady ones (a
//! constant step costs one byte per value), and delta-bitpack (frame of
//! reference) steps within a narrow range; bitpack also decodes several
//! times faster, with no branch per value. An empty column is zero bytes in
//! every encoding.
//!
//! `encode_i64s` sizes all three candidates in one pass and writes only the
//! smallest; ties go to bitpack, then delta-varint (cheapest to decode).

use super::bits::{self, packed_bytes, width_for};
use super::varint::{get_u64_in, len_u64, put_u64, unzigzag, zigzag};
use super::{
    append_or_restore, check_consumed, check_frame_limits, encoding, malformed, ColumnError,
    Result, FRAME_ROWS_MAX,
};

/// Names the delta values in `Truncated` errors.
const DELTAS: &str = "the delta-encoded integers";

/// The three integer encodings, in tie-breaking order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntEncoding {
    /// `I64_DELTA_BITPACK`.
    Bitpack,
    /// `I64_DELTA_VARINT`.
    Varint,
    /// `I64_DELTA_OF_DELTA_VARINT`.
    DeltaOfDeltaVarint,
}

impl IntEncoding {
    fn from_id(id: u8) -> Result<Self> {
        match id {
            encoding::I64_DELTA_BITPACK => Ok(Self::Bitpack),
            encoding::I64_DELTA_VARINT => Ok(Self::Varint),
            encoding::I64_DELTA_OF_DELTA_VARINT => Ok(Self::DeltaOfDeltaVarint),
            _ => Err(ColumnError::UnknownEncoding { encoding: id }),
        }
    }

    fn id(self) -> u8 {
        match self {
            Self::Bitpack => encoding::I64_DELTA_BITPACK,
            Self::Varint => encoding::I64_DELTA_VARINT,
            Self::DeltaOfDeltaVarint => encoding::I64_DELTA_OF_DELTA_VARINT,
        }
    }
}

/// The frame of reference of the deltas d[1..]: their minimum and the width
/// of (d - minimum), computed once and shared by sizing and writing.
#[derive(Debug, Clone, Copy)]
struct DeltaRange {
    min: i64,
    width: u8,
}

/// Encoded size of each candidate, measured without writing.
#[derive(Debug, Clone, Copy, Default)]
struct CandidateSizes {
    delta_bitpack: usize,
    delta_varint: usize,
    delta_of_delta_varint: usize,
}

impl CandidateSizes {
    fn smallest(self) -> IntEncoding {
        let mut best = (self.delta_bitpack, IntEncoding::Bitpack);
        for candidate in [
            (self.delta_varint, IntEncoding::Varint),
            (self.delta_of_delta_varint, IntEncoding::DeltaOfDeltaVarint),
        ] {
            if candidate.0 < best.0 {
                best = candidate;
            }
        }
        best.1
    }
}

/// One pass over the values: the size of every candidate, and the deltas'
/// range (`None` when there are fewer than two values).
fn measure(values: &[i64]) -> (CandidateSizes, Option<DeltaRange>) {
    let Some((&first, rest)) = values.split_first() else {
        return (CandidateSizes::default(), None);
    };
    let head = len_u64(zigzag(first));
    let (mut delta_varint, mut delta_of_delta_varint) = (head, head);
    let (mut prev_value, mut prev_delta) = (first, 0i64);
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    for &value in rest {
        let delta = value.wrapping_sub(prev_value);
        delta_varint += len_u64(zigzag(delta));
        delta_of_delta_varint += len_u64(zigzag(delta.wrapping_sub(prev_delta)));
        min = min.min(delta);
        max = max.max(delta);
        (prev_value, prev_delta) = (value, delta);
    }
    let range = (!rest.is_empty()).then(|| DeltaRange {
        min,
        width: width_for((max as u64).wrapping_sub(min as u64)),
    });
    let delta_bitpack = head
        + range.map_or(0, |range| {
            len_u64(zigzag(range.min)) + 1 + packed_bytes(values.len() - 1, range.width)
        });
    let sizes = CandidateSizes {
        delta_bitpack,
        delta_varint,
        delta_of_delta_varint,
    };
    (sizes, range)
}

/// Appends `values` in the smallest of the three encodings and returns its
/// id (`encoding::I64_*`), which the caller stores next to the frame.
///
/// Panics if there are more than `FRAME_ROWS_MAX` values (the decoder would
/// reject the frame).
pub fn encode_i64s(values: &[i64], out: &mut Vec<u8>) -> u8 {
    assert!(values.len() <= FRAME_ROWS_MAX, "frame has too many rows");
    let (sizes, range) = measure(values);
    let chosen = sizes.smallest();
    write(chosen, values, range, out);
    chosen.id()
}

/// Appends `values` in the given encoding, whether or not it is the
/// smallest (for tests, benchmarks and format experiments).
pub fn encode_i64s_as(encoding: u8, values: &[i64], out: &mut Vec<u8>) -> Result<()> {
    let chosen = IntEncoding::from_id(encoding)?;
    assert!(values.len() <= FRAME_ROWS_MAX, "frame has too many rows");
    let (_, range) = measure(values);
    write(chosen, values, range, out);
    Ok(())
}

fn write(chosen: IntEncoding, values: &[i64], range: Option<DeltaRange>, out: &mut Vec<u8>) {
    let Some((&first, rest)) = values.split_first() else {
        return;
    };
    put_u64(out, zigzag(first));
    let (mut prev_value, mut prev_delta) = (first, 0i64);
    match chosen {
        IntEncoding::Varint => {
            for &value in rest {
                put_u64(out, zigzag(value.wrapping_sub(prev_value)));
                prev_value = value;
            }
        }
        IntEncoding::DeltaOfDeltaVarint => {
            for &value in rest {
                let delta = value.wrapping_sub(prev_value);
                put_u64(out, zigzag(delta.wrapping_sub(prev_delta)));
                (prev_value, prev_delta) = (value, delta);
            }
        }
        IntEncoding::Bitpack => write_delta_bitpack(values, range, out),
    }
}

/// Writes the frame of reference and the packed offsets (after v0).
fn write_delta_bitpack(values: &[i64], range: Option<DeltaRange>, out: &mut Vec<u8>) {
    let Some(range) = range else {
        return;
    };
    put_u64(out, zigzag(range.min));
    out.push(range.width);
    out.reserve(packed_bytes(values.len() - 1, range.width));
    let offsets = values
        .windows(2)
        .map(|pair| (pair[1].wrapping_sub(pair[0]) as u64).wrapping_sub(range.min as u64));
    bits::pack_iter(offsets, range.width, out);
}

/// Appends exactly `count` values decoded from one frame to `out`.
///
/// `bytes` must be the whole frame: bytes left over are `Malformed`, too
/// few are `Truncated`, an unknown `encoding` is `UnknownEncoding`, and
/// `count` above `FRAME_ROWS_MAX` is `Malformed`. On error `out` is left as
/// it was.
pub fn decode_i64s(encoding: u8, bytes: &[u8], count: usize, out: &mut Vec<i64>) -> Result<()> {
    let chosen = IntEncoding::from_id(encoding)?;
    check_frame_limits(count, bytes.len())?;
    if count == 0 {
        return check_consumed(bytes, 0, "zero values");
    }
    append_or_restore(out, |out| match chosen {
        IntEncoding::Varint => decode_delta_varint(bytes, count, out, false),
        IntEncoding::DeltaOfDeltaVarint => decode_delta_varint(bytes, count, out, true),
        IntEncoding::Bitpack => decode_delta_bitpack(bytes, count, out),
    })
}

/// Decodes the two varint encodings; `of_deltas` says whether each varint
/// is a delta of deltas rather than a delta.
fn decode_delta_varint(
    bytes: &[u8],
    count: usize,
    out: &mut Vec<i64>,
    of_deltas: bool,
) -> Result<()> {
    // Every value takes at least one byte: reject a short frame before
    // reserving room for `count` values.
    if bytes.len() < count {
        return Err(ColumnError::Truncated { what: DELTAS });
    }
    out.reserve(count);
    let mut pos = 0;
    let mut prev_value = unzigzag(get_u64_in(bytes, &mut pos, "the first value")?);
    let mut prev_delta = 0i64;
    out.push(prev_value);
    for _ in 1..count {
        let step = unzigzag(get_u64_in(bytes, &mut pos, DELTAS)?);
        let delta = if of_deltas {
            prev_delta.wrapping_add(step)
        } else {
            step
        };
        prev_value = prev_value.wrapping_add(delta);
        prev_delta = delta;
        out.push(prev_value);
    }
    check_consumed(bytes, pos, DELTAS)
}

/// Decodes v0, the frame of reference and the packed offsets.
fn decode_delta_bitpack(bytes: &[u8], count: usize, out: &mut Vec<i64>) -> Result<()> {
    let mut pos = 0;
    let first = unzigzag(get_u64_in(bytes, &mut pos, "the first value")?);
    if count == 1 {
        out.push(first);
        return check_consumed(bytes, pos, "the only value");
    }
    let min = unzigzag(get_u64_in(bytes, &mut pos, "the frame of reference")?);
    let Some(&width) = bytes.get(pos) else {
        return Err(ColumnError::Truncated {
            what: "the frame of reference",
        });
    };
    if width > bits::WIDTH_MAX {
        return Err(malformed(format!("delta bit width {width} is above 64")));
    }
    let start = out.len();
    out.push(first);
    bits::unpack::<i64>(&bytes[pos + 1..], width, count - 1, out)?;
    prefix_sum(&mut out[start + 1..], first, min);
    Ok(())
}

/// Turns offsets from the minimum delta `min` into running values starting
/// after `first`, in place. Four values per step: their partial sums are
/// independent of `prev`, so the loop-carried chain is one add per four
/// values instead of one per value (the whole 4096-row decode measured
/// ~20% faster than with the plain loop).
fn prefix_sum(values: &mut [i64], first: i64, min: i64) {
    let mut prev = first;
    let mut chunks = values.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let a = chunk[0].wrapping_add(min);
        let b = a.wrapping_add(chunk[1].wrapping_add(min));
        let c = b.wrapping_add(chunk[2].wrapping_add(min));
        let d = c.wrapping_add(chunk[3].wrapping_add(min));
        chunk[0] = prev.wrapping_add(a);
        chunk[1] = prev.wrapping_add(b);
        chunk[2] = prev.wrapping_add(c);
        chunk[3] = prev.wrapping_add(d);
        prev = prev.wrapping_add(d);
    }
    for value in chunks.into_remainder() {
        prev = prev.wrapping_add(value.wrapping_add(min));
        *value = prev;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_rejects_truncation_and_garbage, assert_within_limits};
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const ENCODINGS: [u8; 3] = [
        encoding::I64_DELTA_VARINT,
        encoding::I64_DELTA_OF_DELTA_VARINT,
        encoding::I64_DELTA_BITPACK,
    ];

    fn encode_as(id: u8, values: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_i64s_as(id, values, &mut out).expect("known encoding");
        out
    }

    /// Decodes into a vector holding a sentinel, checking the sentinel
    /// survives and, on error, that nothing was appended.
    fn decode(id: u8, bytes: &[u8], count: usize) -> Result<Vec<i64>> {
        let mut out = vec![42];
        let result = decode_i64s(id, bytes, count, &mut out);
        assert_eq!(out[0], 42);
        match result {
            Ok(()) => {
                assert_eq!(out.len(), count + 1);
                Ok(out.split_off(1))
            }
            Err(error) => {
                assert_eq!(out.len(), 1);
                Err(error)
            }
        }
    }

    fn assert_round_trips(values: &[i64]) {
        for id in ENCODINGS {
            let frame = encode_as(id, values);
            assert_eq!(decode(id, &frame, values.len()).as_deref(), Ok(values));
        }
        let mut frame = Vec::new();
        let chosen = encode_i64s(values, &mut frame);
        assert_eq!(decode(chosen, &frame, values.len()).as_deref(), Ok(values));
        let smallest = ENCODINGS.map(|id| encode_as(id, values).len());
        assert_eq!(frame.len(), *smallest.iter().min().expect("three"));
    }

    fn extreme_i64() -> impl Strategy<Value = i64> {
        prop_oneof![
            4 => any::<i64>(),
            1 => Just(i64::MIN),
            1 => Just(i64::MAX),
            1 => Just(i64::MIN + 1),
            1 => Just(i64::MAX - 1),
            1 => Just(0),
            1 => Just(-1),
        ]
    }

    /// Log-like timestamps: steps of 20-200 us, one in ten up to 1 ms late.
    fn monotone_with_jitter() -> impl Strategy<Value = Vec<i64>> {
        (
            any::<i64>(),
            vec((20_000i64..200_000, 0u8..10, 0i64..1_000_000), 0..300),
        )
            .prop_map(|(start, steps)| {
                let mut now = start;
                steps
                    .into_iter()
                    .map(|(step, dice, late)| {
                        now = now.wrapping_add(step);
                        if dice == 0 {
                            now.wrapping_sub(late)
                        } else {
                            now
                        }
                    })
                    .collect()
            })
    }

    fn i64_columns() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            Just(Vec::new()),
            any::<i64>().prop_map(|v| vec![v]),
            (extreme_i64(), 0usize..300).prop_map(|(v, n)| vec![v; n]),
            (any::<i64>(), 1i64..1 << 40, 0usize..300).prop_map(|(start, step, n)| (0..n as i64)
                .map(|i| start.wrapping_add(i.wrapping_mul(step)))
                .collect()),
            vec(extreme_i64(), 0..300),
            monotone_with_jitter(),
        ]
    }

    #[test]
    fn known_frames() {
        assert_eq!(encode_as(encoding::I64_DELTA_VARINT, &[1, 3, 2]), [2, 4, 1]);
        assert_eq!(
            encode_as(encoding::I64_DELTA_OF_DELTA_VARINT, &[10, 20, 30, 40]),
            [20, 20, 0, 0]
        );
        // v0 = 5, deltas 2 and 4: min 2, width 2, offsets 0 and 2.
        assert_eq!(
            encode_as(encoding::I64_DELTA_BITPACK, &[5, 7, 11]),
            [10, 4, 2, 0b10_00]
        );
        assert_eq!(encode_as(encoding::I64_DELTA_BITPACK, &[-1]), [1]);
        let mut out = Vec::new();
        assert_eq!(encode_i64s(&[], &mut out), encoding::I64_DELTA_BITPACK);
        assert!(out.is_empty());
    }

    #[test]
    fn extremes_round_trip() {
        assert_round_trips(&[i64::MIN, i64::MAX, i64::MIN, 0, i64::MAX, -1, i64::MIN + 1]);
        assert_round_trips(&[i64::MAX, i64::MIN]);
        assert_round_trips(&[i64::MIN; 5]);
        assert_round_trips(&[0, i64::MAX, 0, i64::MAX]);
    }

    #[test]
    fn largest_frame_round_trips() {
        let mut state = 7u64;
        let random: Vec<i64> = (0..FRAME_ROWS_MAX)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                state as i64
            })
            .collect();
        assert_round_trips(&random);
        let increasing: Vec<i64> = (0..FRAME_ROWS_MAX as i64)
            .map(|i| i * 1_000 + i % 7)
            .collect();
        assert_round_trips(&increasing);
        let mut out = Vec::new();
        assert!(decode_i64s(
            encoding::I64_DELTA_BITPACK,
            &[],
            FRAME_ROWS_MAX + 1,
            &mut out
        )
        .is_err());
    }

    #[test]
    fn damaged_frames_are_rejected() {
        let columns: [&[i64]; 6] = [
            &[],
            &[300],
            &[i64::MIN, i64::MAX],
            &[1_000_000, 1_000_050, 1_000_020, 1_000_900],
            &[5, 5, 5, 5, 5, 5, 5, 5, 5],
            &[1, -1_000_000_000_000, 77, 1 << 40, 3],
        ];
        for values in columns {
            for id in ENCODINGS {
                let frame = encode_as(id, values);
                assert_rejects_truncation_and_garbage(&frame, |bytes| {
                    decode(id, bytes, values.len()).map(drop)
                });
                // A count that does not match the frame is an error too,
                // except for bitpack at width 0 (equal steps), whose deltas
                // take no bytes: there the count comes only from the block.
                if id != encoding::I64_DELTA_BITPACK {
                    assert!(decode(id, &frame, values.len() + 1).is_err());
                    if !values.is_empty() {
                        assert!(decode(id, &frame, values.len() - 1).is_err());
                    }
                }
            }
        }
    }

    #[test]
    fn bad_headers_are_rejected() {
        assert_eq!(
            decode(99, &[], 0),
            Err(ColumnError::UnknownEncoding { encoding: 99 })
        );
        assert_eq!(
            decode(encoding::LEVELS_RAW, &[1], 1),
            Err(ColumnError::UnknownEncoding {
                encoding: encoding::LEVELS_RAW
            })
        );
        // Width 65.
        assert!(matches!(
            decode(encoding::I64_DELTA_BITPACK, &[0, 0, 65, 0], 2),
            Err(ColumnError::Malformed { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn round_trip(values in i64_columns()) {
            assert_round_trips(&values);
        }

        #[test]
        fn arbitrary_input_never_panics(
            id in prop_oneof![Just(1u8), Just(2), Just(3), any::<u8>()],
            bytes in vec(any::<u8>(), 0..64),
            count in prop_oneof![0usize..40, 0..=FRAME_ROWS_MAX + 1],
        ) {
            let mut out = Vec::new();
            match decode_i64s(id, &bytes, count, &mut out) {
                Ok(()) => prop_assert_eq!(out.len(), count),
                Err(_) => prop_assert!(out.is_empty()),
            }
            assert_within_limits(&out);
        }
    }
}
