//! Level columns (`u8` per row): 3-bit packing, run lengths or raw bytes,
//! whichever is smallest for the frame.
//!
//! Valid levels are 0..=6 (`entry::Level`), but the codec treats any byte
//! as data, so a future level or a bad byte still round-trips rather than
//! being silently altered.
//!
//! | id | encoding | frame bytes |
//! |----|----------|-------------|
//! | 10 | `LEVELS_PACKED3` | every value in 3 bits, little-endian bit order (`bits`); only when every value <= 7 |
//! | 11 | `LEVELS_RUN_LENGTH` | `[value u8][run length varint >= 1]` per run; the runs sum to the row count |
//! | 12 | `LEVELS_RAW` | one byte per value |
//!
//! Why these three: a granule's levels are usually a few distinct values in
//! random order (packed: 3/8 byte per row) or long runs when a service logs
//! at one level for a while (run lengths: a few bytes per run). Raw is the
//! fallback for values above 7 and the tie-breaker: it is a plain copy to
//! decode. Ties go to raw, then packed, then run length. An empty column is
//! zero bytes.

use super::bits::{self, packed_bytes};
use super::varint::{get_u64_in, len_u64, put_u64};
use super::{
    append_or_restore, check_consumed, check_frame_limits, encoding, malformed, ColumnError,
    Result, FRAME_ROWS_MAX,
};

/// Bits per value in the packed encoding.
const PACKED_WIDTH: u8 = 3;

/// Largest value the packed encoding holds.
const PACKED_VALUE_MAX: u8 = (1 << PACKED_WIDTH) - 1;

/// Names the runs in `Truncated` errors.
const RUNS: &str = "the level runs";

/// The level encodings, in tie-breaking order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LevelEncoding {
    Raw,
    Packed3,
    RunLength,
}

impl LevelEncoding {
    fn from_id(id: u8) -> Result<Self> {
        match id {
            encoding::LEVELS_RAW => Ok(Self::Raw),
            encoding::LEVELS_PACKED3 => Ok(Self::Packed3),
            encoding::LEVELS_RUN_LENGTH => Ok(Self::RunLength),
            _ => Err(ColumnError::UnknownEncoding { encoding: id }),
        }
    }

    fn id(self) -> u8 {
        match self {
            Self::Raw => encoding::LEVELS_RAW,
            Self::Packed3 => encoding::LEVELS_PACKED3,
            Self::RunLength => encoding::LEVELS_RUN_LENGTH,
        }
    }
}

/// Calls `visit(value, run_length)` for each maximal run of equal values.
fn for_each_run(values: &[u8], mut visit: impl FnMut(u8, usize)) {
    let mut rest = values;
    while let Some(&value) = rest.first() {
        let run = rest.iter().take_while(|&&v| v == value).count();
        visit(value, run);
        rest = &rest[run..];
    }
}

/// The smallest encoding for `values` (ties in `LevelEncoding` order).
fn smallest(values: &[u8]) -> LevelEncoding {
    let raw = values.len();
    let packed = if values.iter().all(|&v| v <= PACKED_VALUE_MAX) {
        packed_bytes(values.len(), PACKED_WIDTH)
    } else {
        usize::MAX
    };
    let mut run_length = 0;
    for_each_run(values, |_, run| run_length += 1 + len_u64(run as u64));
    let mut best = (raw, LevelEncoding::Raw);
    for candidate in [
        (packed, LevelEncoding::Packed3),
        (run_length, LevelEncoding::RunLength),
    ] {
        if candidate.0 < best.0 {
            best = candidate;
        }
    }
    best.1
}

/// Appends `values` in the smallest level encoding and returns its id
/// (`encoding::LEVELS_*`).
///
/// Panics if there are more than `FRAME_ROWS_MAX` values.
pub fn encode_levels(values: &[u8], out: &mut Vec<u8>) -> u8 {
    assert!(values.len() <= FRAME_ROWS_MAX, "frame has too many rows");
    let chosen = smallest(values);
    write(chosen, values, out);
    chosen.id()
}

/// Appends `values` in the given encoding, whether or not it is the
/// smallest (for tests and benchmarks). `LEVELS_PACKED3` with a value above
/// 7 is `Malformed` (it cannot be written), and nothing is appended.
pub fn encode_levels_as(encoding: u8, values: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let chosen = LevelEncoding::from_id(encoding)?;
    assert!(values.len() <= FRAME_ROWS_MAX, "frame has too many rows");
    if chosen == LevelEncoding::Packed3 {
        if let Some(&value) = values.iter().find(|&&v| v > PACKED_VALUE_MAX) {
            return Err(malformed(format!("level {value} does not fit in 3 bits")));
        }
    }
    write(chosen, values, out);
    Ok(())
}

fn write(chosen: LevelEncoding, values: &[u8], out: &mut Vec<u8>) {
    match chosen {
        LevelEncoding::Raw => out.extend_from_slice(values),
        LevelEncoding::Packed3 => bits::pack(values, PACKED_WIDTH, out),
        LevelEncoding::RunLength => for_each_run(values, |value, run| {
            out.push(value);
            put_u64(out, run as u64);
        }),
    }
}

/// Appends exactly `count` levels decoded from one frame to `out`.
///
/// `bytes` must be the whole frame. Errors: unknown `encoding`; too few
/// bytes (`Truncated`); bytes left over, a zero run, runs summing past
/// `count`, or `count` above `FRAME_ROWS_MAX` (`Malformed`). On error `out`
/// is left as it was.
pub fn decode_levels(encoding: u8, bytes: &[u8], count: usize, out: &mut Vec<u8>) -> Result<()> {
    let chosen = LevelEncoding::from_id(encoding)?;
    check_frame_limits(count, bytes.len())?;
    append_or_restore(out, |out| match chosen {
        LevelEncoding::Raw => decode_raw(bytes, count, out),
        LevelEncoding::Packed3 => bits::unpack(bytes, PACKED_WIDTH, count, out),
        LevelEncoding::RunLength => decode_runs(bytes, count, out),
    })
}

fn decode_raw(bytes: &[u8], count: usize, out: &mut Vec<u8>) -> Result<()> {
    if bytes.len() < count {
        return Err(ColumnError::Truncated {
            what: "the raw levels",
        });
    }
    check_consumed(bytes, count, "raw levels")?;
    out.extend_from_slice(bytes);
    Ok(())
}

fn decode_runs(bytes: &[u8], count: usize, out: &mut Vec<u8>) -> Result<()> {
    let target = out.len() + count;
    out.reserve(count);
    let mut pos = 0;
    while out.len() < target {
        let Some(&value) = bytes.get(pos) else {
            return Err(ColumnError::Truncated { what: RUNS });
        };
        pos += 1;
        let run = get_u64_in(bytes, &mut pos, RUNS)?;
        let remaining = target - out.len();
        if run == 0 {
            return Err(malformed("a level run has length zero"));
        }
        if run > remaining as u64 {
            return Err(malformed(format!(
                "level runs add up to more than the {count} rows of the frame"
            )));
        }
        out.resize(out.len() + run as usize, value);
    }
    check_consumed(bytes, pos, "level runs")
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_rejects_truncation_and_garbage, assert_within_limits};
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const ENCODINGS: [u8; 3] = [
        encoding::LEVELS_PACKED3,
        encoding::LEVELS_RUN_LENGTH,
        encoding::LEVELS_RAW,
    ];

    fn encode_as(id: u8, values: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        encode_levels_as(id, values, &mut out).ok()?;
        Some(out)
    }

    fn decode(id: u8, bytes: &[u8], count: usize) -> Result<Vec<u8>> {
        let mut out = vec![42];
        let result = decode_levels(id, bytes, count, &mut out);
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

    fn assert_round_trips(values: &[u8]) {
        let mut sizes = Vec::new();
        for id in ENCODINGS {
            if let Some(frame) = encode_as(id, values) {
                assert_eq!(decode(id, &frame, values.len()).as_deref(), Ok(values));
                sizes.push(frame.len());
            }
        }
        let mut frame = Vec::new();
        let chosen = encode_levels(values, &mut frame);
        assert_eq!(decode(chosen, &frame, values.len()).as_deref(), Ok(values));
        assert_eq!(Some(&frame.len()), sizes.iter().min());
    }

    fn level_columns() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            any::<u8>().prop_map(|v| vec![v]),
            (any::<u8>(), 0usize..3000).prop_map(|(v, n)| vec![v; n]),
            vec(0u8..=6, 0..500),
            vec(any::<u8>(), 0..500),
            // Runs of valid levels.
            vec((0u8..=7, 1usize..200), 0..30).prop_map(|runs| runs
                .into_iter()
                .flat_map(|(v, n)| std::iter::repeat_n(v, n))
                .collect()),
        ]
    }

    #[test]
    fn known_frames() {
        assert_eq!(
            encode_as(encoding::LEVELS_RUN_LENGTH, &[3, 3, 3, 5]),
            Some(vec![3, 3, 5, 1])
        );
        assert_eq!(
            encode_as(encoding::LEVELS_PACKED3, &[1, 2]),
            Some(vec![0b010_001])
        );
        assert_eq!(encode_as(encoding::LEVELS_PACKED3, &[8]), None);
        let mut out = Vec::new();
        assert_eq!(
            encode_levels(&[3; 1000], &mut out),
            encoding::LEVELS_RUN_LENGTH
        );
        assert_eq!(out, [3, 0xe8, 0x07]);
        out.clear();
        assert_eq!(
            encode_levels(&[1, 2, 3, 4, 5, 6, 1, 2, 3], &mut out),
            encoding::LEVELS_PACKED3
        );
        out.clear();
        assert_eq!(encode_levels(&[9, 200, 7], &mut out), encoding::LEVELS_RAW);
        out.clear();
        assert_eq!(encode_levels(&[], &mut out), encoding::LEVELS_RAW);
        assert!(out.is_empty());
    }

    #[test]
    fn largest_frame_round_trips() {
        let values: Vec<u8> = (0..FRAME_ROWS_MAX)
            .map(|i| (i * 7 % 13 % 7) as u8)
            .collect();
        assert_round_trips(&values);
        assert_round_trips(&vec![4; FRAME_ROWS_MAX]);
        let mut bytes: Vec<u8> = (0..FRAME_ROWS_MAX).map(|i| (i % 256) as u8).collect();
        assert_round_trips(&bytes);
        bytes.push(0);
        assert!(decode(encoding::LEVELS_RAW, &bytes, FRAME_ROWS_MAX + 1).is_err());
    }

    #[test]
    fn damaged_frames_are_rejected() {
        let columns: [&[u8]; 5] = [
            &[],
            &[3],
            &[3, 3, 3, 3, 4, 4, 200],
            &[0, 1, 2, 3, 4, 5, 6, 7, 0],
            &[5; 300],
        ];
        for values in columns {
            for id in ENCODINGS {
                let Some(frame) = encode_as(id, values) else {
                    continue;
                };
                assert_rejects_truncation_and_garbage(&frame, |bytes| {
                    decode(id, bytes, values.len()).map(drop)
                });
            }
        }
    }

    #[test]
    fn bad_runs_are_rejected() {
        let run_length = encoding::LEVELS_RUN_LENGTH;
        assert!(matches!(
            decode(run_length, &[3, 0, 3, 2], 2),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(matches!(
            decode(run_length, &[3, 3], 2),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(matches!(
            decode(run_length, &[3, 1], 2),
            Err(ColumnError::Truncated { .. })
        ));
        // A run length far beyond any frame.
        let huge = [
            3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(matches!(
            decode(run_length, &huge, 2),
            Err(ColumnError::Malformed { .. })
        ));
        assert_eq!(
            decode(encoding::IDS_PACKED, &[], 0),
            Err(ColumnError::UnknownEncoding {
                encoding: encoding::IDS_PACKED
            })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn round_trip(values in level_columns()) {
            assert_round_trips(&values);
        }

        #[test]
        fn arbitrary_input_never_panics(
            id in prop_oneof![Just(10u8), Just(11), Just(12), any::<u8>()],
            bytes in vec(any::<u8>(), 0..64),
            count in prop_oneof![0usize..40, 0..=FRAME_ROWS_MAX + 1],
        ) {
            let mut out = Vec::new();
            match decode_levels(id, &bytes, count, &mut out) {
                Ok(()) => prop_assert_eq!(out.len(), count),
                Err(_) => prop_assert!(out.is_empty()),
            }
            assert_within_limits(&out);
        }
    }
}
