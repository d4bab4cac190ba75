//! Dictionary id columns (`u32` per row, each below the dictionary's size
//! `id_bound`): bit packing or run lengths, whichever is smaller.
//!
//! | id | encoding | frame bytes |
//! |----|----------|-------------|
//! | 20 | `IDS_PACKED` | width u8 (bits needed for `id_bound - 1`; 0 when `id_bound <= 1`), then every id packed at that width (`bits`) |
//! | 21 | `IDS_RUN_LENGTH` | `[id varint][run length varint >= 1]` per run; the runs sum to the row count |
//!
//! An empty column is zero bytes in both (no width byte). Ties go to
//! packed, whose decode cost does not depend on the data.
//!
//! Invariant, checked on every decode: every id is below `id_bound`. A
//! decoded id indexes the dictionary, so an out-of-range id from a corrupt
//! frame must become an error here, never a panic or a wrong value later.
//! The width byte is redundant with `id_bound` and must match it exactly,
//! which catches a frame paired with the wrong dictionary. When `id_bound`
//! is a power of two the width alone bounds the ids and the scan is skipped.

use super::bits::{self, packed_bytes, width_for};
use super::varint::{get_u64_in, len_u64, put_u64};
use super::{
    append_or_restore, check_consumed, check_frame_limits, encoding, malformed, ColumnError,
    Result, FRAME_ROWS_MAX,
};

/// Names the runs in `Truncated` errors.
const RUNS: &str = "the id runs";

/// The id encodings, in tie-breaking order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdEncoding {
    Packed,
    RunLength,
}

impl IdEncoding {
    fn from_id(id: u8) -> Result<Self> {
        match id {
            encoding::IDS_PACKED => Ok(Self::Packed),
            encoding::IDS_RUN_LENGTH => Ok(Self::RunLength),
            _ => Err(ColumnError::UnknownEncoding { encoding: id }),
        }
    }

    fn id(self) -> u8 {
        match self {
            Self::Packed => encoding::IDS_PACKED,
            Self::RunLength => encoding::IDS_RUN_LENGTH,
        }
    }
}

/// Bits each id takes in the packed encoding for a dictionary of
/// `id_bound` entries.
pub fn packed_width(id_bound: u32) -> u8 {
    width_for(u64::from(id_bound.saturating_sub(1)))
}

/// Calls `visit(id, run_length)` for each maximal run of equal ids.
fn for_each_run(ids: &[u32], mut visit: impl FnMut(u32, usize)) {
    let mut rest = ids;
    while let Some(&id) = rest.first() {
        let run = rest.iter().take_while(|&&v| v == id).count();
        visit(id, run);
        rest = &rest[run..];
    }
}

/// Asserts the encoder's preconditions: a frame the decoder would reject
/// must never be written.
fn check_encodable(ids: &[u32], id_bound: u32) {
    assert!(ids.len() <= FRAME_ROWS_MAX, "frame has too many rows");
    let max = ids.iter().fold(0, |max, &id| max.max(id));
    assert!(
        ids.is_empty() || max < id_bound,
        "id {max} is not below the dictionary size {id_bound}"
    );
}

/// Appends `ids` in the smaller id encoding and returns its id
/// (`encoding::IDS_*`).
///
/// Panics if an id is not below `id_bound` or there are more than
/// `FRAME_ROWS_MAX` ids.
pub fn encode_ids(ids: &[u32], id_bound: u32, out: &mut Vec<u8>) -> u8 {
    check_encodable(ids, id_bound);
    let packed = if ids.is_empty() {
        0
    } else {
        1 + packed_bytes(ids.len(), packed_width(id_bound))
    };
    let mut run_length = 0;
    for_each_run(ids, |id, run| {
        run_length += len_u64(u64::from(id)) + len_u64(run as u64);
    });
    let chosen = if run_length < packed {
        IdEncoding::RunLength
    } else {
        IdEncoding::Packed
    };
    write(chosen, ids, id_bound, out);
    chosen.id()
}

/// Appends `ids` in the given encoding, whether or not it is the smaller
/// (for tests and benchmarks). Panics like `encode_ids`.
pub fn encode_ids_as(encoding: u8, ids: &[u32], id_bound: u32, out: &mut Vec<u8>) -> Result<()> {
    let chosen = IdEncoding::from_id(encoding)?;
    check_encodable(ids, id_bound);
    write(chosen, ids, id_bound, out);
    Ok(())
}

fn write(chosen: IdEncoding, ids: &[u32], id_bound: u32, out: &mut Vec<u8>) {
    if ids.is_empty() {
        return;
    }
    match chosen {
        IdEncoding::Packed => {
            let width = packed_width(id_bound);
            out.push(width);
            bits::pack(ids, width, out);
        }
        IdEncoding::RunLength => for_each_run(ids, |id, run| {
            put_u64(out, u64::from(id));
            put_u64(out, run as u64);
        }),
    }
}

/// Appends exactly `count` ids decoded from one frame to `out`, every one
/// below `id_bound`.
///
/// `bytes` must be the whole frame. Errors: unknown `encoding`; too few
/// bytes (`Truncated`); bytes left over, an id at or above `id_bound`, a
/// width byte that does not match `id_bound`, a zero run, runs summing past
/// `count`, or `count` above `FRAME_ROWS_MAX` (`Malformed`). On error `out`
/// is left as it was.
pub fn decode_ids(
    encoding: u8,
    bytes: &[u8],
    count: usize,
    id_bound: u32,
    out: &mut Vec<u32>,
) -> Result<()> {
    let chosen = IdEncoding::from_id(encoding)?;
    check_frame_limits(count, bytes.len())?;
    if count == 0 {
        return check_consumed(bytes, 0, "zero ids");
    }
    if id_bound == 0 {
        return Err(malformed(format!(
            "{count} ids refer to an empty dictionary"
        )));
    }
    append_or_restore(out, |out| match chosen {
        IdEncoding::Packed => decode_packed(bytes, count, id_bound, out),
        IdEncoding::RunLength => decode_runs(bytes, count, id_bound, out),
    })
}

fn decode_packed(bytes: &[u8], count: usize, id_bound: u32, out: &mut Vec<u32>) -> Result<()> {
    let Some((&width, packed)) = bytes.split_first() else {
        return Err(ColumnError::Truncated {
            what: "the id width",
        });
    };
    let expected = packed_width(id_bound);
    if width != expected {
        return Err(malformed(format!(
            "ids are packed at {width} bits, but a dictionary of {id_bound} entries needs {expected}"
        )));
    }
    let start = out.len();
    bits::unpack(packed, width, count, out)?;
    // Ids of `width` bits are all below 2^width; only a dictionary whose
    // size is not a power of two needs the scan.
    if 1u64 << width != u64::from(id_bound) {
        let max = out[start..].iter().fold(0, |max, &id| max.max(id));
        if max >= id_bound {
            return Err(id_out_of_range(max, id_bound));
        }
    }
    Ok(())
}

fn decode_runs(bytes: &[u8], count: usize, id_bound: u32, out: &mut Vec<u32>) -> Result<()> {
    let target = out.len() + count;
    out.reserve(count);
    let mut pos = 0;
    while out.len() < target {
        let id = get_u64_in(bytes, &mut pos, RUNS)?;
        let run = get_u64_in(bytes, &mut pos, RUNS)?;
        let id = match u32::try_from(id) {
            Ok(id) if id < id_bound => id,
            _ => return Err(id_out_of_range(id, id_bound)),
        };
        if run == 0 {
            return Err(malformed("an id run has length zero"));
        }
        if run > (target - out.len()) as u64 {
            return Err(malformed(format!(
                "id runs add up to more than the {count} rows of the frame"
            )));
        }
        out.resize(out.len() + run as usize, id);
    }
    check_consumed(bytes, pos, "id runs")
}

fn id_out_of_range(id: impl std::fmt::Display, id_bound: u32) -> ColumnError {
    malformed(format!(
        "id {id} is not below the dictionary size {id_bound}"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_rejects_truncation_and_garbage, assert_within_limits};
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const ENCODINGS: [u8; 2] = [encoding::IDS_PACKED, encoding::IDS_RUN_LENGTH];

    const BOUNDS: [u32; 6] = [1, 2, 7, 64, 4096, u32::MAX];

    fn encode_as(id: u8, ids: &[u32], id_bound: u32) -> Vec<u8> {
        let mut out = Vec::new();
        encode_ids_as(id, ids, id_bound, &mut out).expect("known encoding");
        out
    }

    fn decode(id: u8, bytes: &[u8], count: usize, id_bound: u32) -> Result<Vec<u32>> {
        let mut out = vec![u32::MAX];
        let result = decode_ids(id, bytes, count, id_bound, &mut out);
        assert_eq!(out[0], u32::MAX);
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

    fn assert_round_trips(ids: &[u32], id_bound: u32) {
        for id in ENCODINGS {
            let frame = encode_as(id, ids, id_bound);
            assert_eq!(decode(id, &frame, ids.len(), id_bound).as_deref(), Ok(ids));
        }
        let mut frame = Vec::new();
        let chosen = encode_ids(ids, id_bound, &mut frame);
        assert_eq!(
            decode(chosen, &frame, ids.len(), id_bound).as_deref(),
            Ok(ids)
        );
        let smallest = ENCODINGS.map(|id| encode_as(id, ids, id_bound).len());
        assert_eq!(frame.len(), *smallest.iter().min().expect("two"));
    }

    /// A dictionary size and a column of ids below it.
    fn id_columns() -> impl Strategy<Value = (u32, Vec<u32>)> {
        let bound = prop_oneof![proptest::sample::select(BOUNDS.to_vec()), 1u32..=u32::MAX];
        bound.prop_flat_map(|bound| {
            let id = prop_oneof![0..bound, Just(bound - 1), Just(0)];
            let column = prop_oneof![
                Just(Vec::new()),
                id.clone().prop_map(|id| vec![id]),
                (id.clone(), 0usize..500).prop_map(|(id, n)| vec![id; n]),
                vec(id.clone(), 0..500),
                vec((id, 1usize..50), 0..20).prop_map(|runs| runs
                    .into_iter()
                    .flat_map(|(id, n)| std::iter::repeat_n(id, n))
                    .collect()),
            ];
            (Just(bound), column)
        })
    }

    #[test]
    fn known_frames() {
        assert_eq!(
            encode_as(encoding::IDS_PACKED, &[0, 6, 3], 7),
            [3, 0b11_110_000, 0]
        );
        assert_eq!(encode_as(encoding::IDS_PACKED, &[0, 0], 1), [0]);
        assert_eq!(
            encode_as(encoding::IDS_RUN_LENGTH, &[5, 5, 200], 300),
            [5, 2, 0xc8, 0x01, 1]
        );
        let mut out = Vec::new();
        assert_eq!(encode_ids(&[], 10, &mut out), encoding::IDS_PACKED);
        assert!(out.is_empty());
        assert_eq!(
            encode_ids(&[9; 100], 10, &mut out),
            encoding::IDS_RUN_LENGTH
        );
        assert_eq!(packed_width(0), 0);
        assert_eq!(packed_width(1), 0);
        assert_eq!(packed_width(2), 1);
        assert_eq!(packed_width(64), 6);
        assert_eq!(packed_width(65), 7);
        assert_eq!(packed_width(u32::MAX), 32);
    }

    #[test]
    fn largest_frame_round_trips() {
        for id_bound in BOUNDS {
            let ids: Vec<u32> = (0..FRAME_ROWS_MAX as u64)
                .map(|i| (i.wrapping_mul(2654435761) % u64::from(id_bound)) as u32)
                .collect();
            assert_round_trips(&ids, id_bound);
        }
    }

    #[test]
    fn out_of_range_ids_are_rejected() {
        // Width 3 holds 7, but the dictionary has 7 entries (ids 0..=6).
        let frame = [3, 0b00_111_000, 0];
        assert!(matches!(
            decode(encoding::IDS_PACKED, &frame, 3, 7),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(decode(encoding::IDS_PACKED, &frame, 3, 8).is_ok());
        // Width byte not matching the dictionary.
        assert!(matches!(
            decode(encoding::IDS_PACKED, &frame, 3, 16),
            Err(ColumnError::Malformed { .. })
        ));
        let runs = [7, 1];
        assert!(matches!(
            decode(encoding::IDS_RUN_LENGTH, &runs, 1, 7),
            Err(ColumnError::Malformed { .. })
        ));
        // An id beyond u32.
        let runs = [0x80, 0x80, 0x80, 0x80, 0x10, 1];
        assert!(matches!(
            decode(encoding::IDS_RUN_LENGTH, &runs, 1, u32::MAX),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(matches!(
            decode(encoding::IDS_RUN_LENGTH, &[0, 0], 1, 1),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(matches!(
            decode(encoding::IDS_PACKED, &[0], 1, 0),
            Err(ColumnError::Malformed { .. })
        ));
    }

    #[test]
    #[should_panic(expected = "not below the dictionary size")]
    fn encoding_an_out_of_range_id_panics() {
        encode_ids(&[1, 7], 7, &mut Vec::new());
    }

    #[test]
    fn damaged_frames_are_rejected() {
        let columns: [(&[u32], u32); 6] = [
            (&[], 5),
            (&[0], 1),
            (&[3, 3, 3, 1, 0, 6], 7),
            (&[63; 20], 64),
            (&[4095, 0, 17, 17], 4096),
            (&[u32::MAX - 1, 0, 1 << 31], u32::MAX),
        ];
        for (ids, id_bound) in columns {
            for id in ENCODINGS {
                let frame = encode_as(id, ids, id_bound);
                assert_rejects_truncation_and_garbage(&frame, |bytes| {
                    decode(id, bytes, ids.len(), id_bound).map(drop)
                });
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn round_trip((id_bound, ids) in id_columns()) {
            assert_round_trips(&ids, id_bound);
        }

        #[test]
        fn arbitrary_input_never_panics(
            id in prop_oneof![Just(20u8), Just(21), any::<u8>()],
            bytes in vec(any::<u8>(), 0..64),
            count in prop_oneof![0usize..40, 0..=FRAME_ROWS_MAX + 1],
            id_bound in prop_oneof![proptest::sample::select(BOUNDS.to_vec()), any::<u32>()],
        ) {
            let mut out = Vec::new();
            match decode_ids(id, &bytes, count, id_bound, &mut out) {
                Ok(()) => {
                    prop_assert_eq!(out.len(), count);
                    prop_assert!(out.iter().all(|&id| id < id_bound));
                }
                Err(_) => prop_assert!(out.is_empty()),
            }
            assert_within_limits(&out);
        }
    }
}
