//! Column encodings of block format v3: how one granule's values of one
//! column become frame bytes, and back.
//!
//! A v3 block is split into granules of up to a few thousand rows, and each
//! column of each granule is stored as one *frame*. This module turns the
//! values of one frame into bytes and back; the caller then compresses the
//! bytes (zstd or lz4) and checksums them, and records next to the frame the
//! encoding id (`encoding::*`) and the row count. So every decoder here is
//! told the encoding and `count` by its caller and is handed exactly the
//! frame's bytes: a frame carries no header, no length and no checksum of
//! its own.
//!
//! One file per kind of column:
//! - `ints`: timestamps (`i64`, mostly increasing but not sorted);
//! - `levels`: level bytes (`u8`);
//! - `ids`: dictionary ids (`u32`, each below the dictionary's size);
//! - `strings`: message bodies and tag values, decoded *in place* (offsets
//!   into the frame, never copies);
//! - `varint` and `bits`: the LEB128 and bit-packing primitives they share.
//!
//! Invariants every decoder keeps, because its input comes from disk:
//! - it never panics, whatever the bytes, encoding and count;
//! - it appends exactly `count` values or returns `Err` (and then leaves the
//!   output as it found it);
//! - every byte of the frame is accounted for: a frame that ends early is
//!   `Truncated`, one with bytes left over is `Malformed`;
//! - it accepts at most `FRAME_ROWS_MAX` rows and `FRAME_BYTES_MAX` bytes,
//!   so a corrupt count can never make it allocate more than
//!   `FRAME_ROWS_MAX` output values (512 KiB for `i64`).
//!
//! Encoders choose the smallest of their candidate encodings *before*
//! compression and return the id they wrote. Encoders assert their
//! preconditions (at most `FRAME_ROWS_MAX` values, ids below the bound,
//! strings within `FRAME_BYTES_MAX`): a frame the decoders would reject must
//! never be written. An empty column encodes as zero bytes in every
//! encoding.

pub mod bits;
pub mod ids;
pub mod ints;
pub mod levels;
pub mod strings;
pub mod varint;

pub use ids::{decode_ids, encode_ids, encode_ids_as};
pub use ints::{decode_i64s, encode_i64s, encode_i64s_as};
pub use levels::{decode_levels, encode_levels, encode_levels_as};
pub use strings::{
    decode_nullable_strings, decode_strings, encode_nullable_strings, encode_strings,
};

/// Most rows one frame may hold; decoders reject a larger `count` before
/// allocating anything. Memory cost: one decoded frame is at most
/// 65 536 x 8 bytes = 512 KiB of `i64` values (256 KiB of `u32` ids or
/// string end offsets). Granules are a few thousand rows, far below this.
pub const FRAME_ROWS_MAX: usize = 65_536;

/// Most bytes one (uncompressed) frame may hold; decoders reject larger
/// input and the string encoders refuse to write it. 64 MiB is far above a
/// granule's worth of log lines, and keeps every string offset inside `u32`.
pub const FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;

const _: () = assert!(FRAME_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(FRAME_ROWS_MAX <= u32::MAX as usize);
// Row counts travel as u32 next to the frame and as `count * 64` bit offsets.
const _: () = assert!(FRAME_ROWS_MAX.checked_mul(64).is_some());

/// Encoding ids as stored on disk next to each frame. Never renumber or
/// reuse an id: blocks written with it must stay readable. Gaps leave room
/// for new encodings of the same column kind.
pub mod encoding {
    /// `i64`: varint(zigzag(v0)), then varint(zigzag(v[i] - v[i-1])) for each
    /// later value (wrapping subtraction).
    pub const I64_DELTA_VARINT: u8 = 1;
    /// `i64`: varint(zigzag(v0)), varint(zigzag(d1)), then
    /// varint(zigzag(d[i] - d[i-1])) where d[i] = v[i] - v[i-1] (wrapping).
    pub const I64_DELTA_OF_DELTA_VARINT: u8 = 2;
    /// `i64`: varint(zigzag(v0)); then, when there are deltas,
    /// varint(zigzag(min delta)), one width byte (0..=64), and every
    /// (d[i] - min) bit-packed at that width (frame of reference).
    pub const I64_DELTA_BITPACK: u8 = 3;
    /// `u8` levels: 3 bits per value, little-endian bit order (values <= 7).
    pub const LEVELS_PACKED3: u8 = 10;
    /// `u8` levels: `[value u8][run length varint >= 1]` pairs.
    pub const LEVELS_RUN_LENGTH: u8 = 11;
    /// `u8` levels: one byte per value.
    pub const LEVELS_RAW: u8 = 12;
    /// `u32` dictionary ids: one width byte (bits needed for `id_bound - 1`),
    /// then every id bit-packed at that width.
    pub const IDS_PACKED: u8 = 20;
    /// `u32` dictionary ids: `[id varint][run length varint >= 1]` pairs.
    pub const IDS_RUN_LENGTH: u8 = 21;
    /// Byte strings: varint length of every value, then all values'
    /// bytes concatenated (valid UTF-8).
    pub const STRINGS: u8 = 30;
    /// Optional byte strings: presence bitmap (ceil(count / 8) bytes), varint
    /// length of every present value, then the present values' bytes.
    pub const NULLABLE_STRINGS: u8 = 31;
}

/// Why a frame could not be decoded. The caller adds which block, granule
/// and column the frame belongs to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ColumnError {
    /// The frame ends before all `count` values were read: corruption, or a
    /// count recorded for a different frame.
    #[error("column frame is truncated: it ends inside {what} (the block is corrupt)")]
    Truncated { what: &'static str },
    /// The bytes cannot be what any encoder wrote: bytes left over, an
    /// out-of-range id or width, invalid UTF-8, a count above the limit.
    #[error("column frame is malformed: {detail} (the block is corrupt)")]
    Malformed { detail: String },
    /// The encoding id is not one this build knows, or not one for this kind
    /// of column.
    #[error(
        "column encoding {encoding} is not known to this build for this column \
         (written by a newer TimberDB, or the block is corrupt)"
    )]
    UnknownEncoding { encoding: u8 },
}

/// Result of the column codecs.
pub type Result<T> = std::result::Result<T, ColumnError>;

/// Shorthand for a `Malformed` error.
fn malformed(detail: impl Into<String>) -> ColumnError {
    ColumnError::Malformed {
        detail: detail.into(),
    }
}

/// Rejects a row count or frame size above the limits, before anything is
/// allocated for it.
fn check_frame_limits(count: usize, frame_bytes: usize) -> Result<()> {
    if count > FRAME_ROWS_MAX {
        return Err(malformed(format!(
            "row count {count} is above the limit of {FRAME_ROWS_MAX}"
        )));
    }
    if frame_bytes > FRAME_BYTES_MAX {
        return Err(malformed(format!(
            "frame of {frame_bytes} bytes is above the limit of {FRAME_BYTES_MAX}"
        )));
    }
    Ok(())
}

/// Rejects bytes left over after the last value: every byte of a frame must
/// belong to a value, so leftovers mean the frame or its count is wrong.
fn check_consumed(bytes: &[u8], pos: usize, what: &str) -> Result<()> {
    if pos == bytes.len() {
        Ok(())
    } else {
        Err(malformed(format!(
            "{} bytes left over after the {what}",
            bytes.len().saturating_sub(pos)
        )))
    }
}

/// Runs `decode` appending to `out`, and on error truncates `out` back to
/// its original length, so a failed decode never leaves a partial frame
/// behind for a caller that reuses the vector.
fn append_or_restore<T>(
    out: &mut Vec<T>,
    decode: impl FnOnce(&mut Vec<T>) -> Result<()>,
) -> Result<()> {
    let start = out.len();
    let result = decode(out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Checks shared by every codec's tests.
#[cfg(test)]
mod testing {
    use super::{ColumnError, Result, FRAME_BYTES_MAX};

    /// Feeds every proper prefix of a valid `frame` to `decode` and expects
    /// `Truncated`, then the frame plus one garbage byte and expects
    /// `Malformed`. `decode` itself checks that a failed decode left its
    /// output untouched.
    pub fn assert_rejects_truncation_and_garbage(
        frame: &[u8],
        mut decode: impl FnMut(&[u8]) -> Result<()>,
    ) {
        for cut in 0..frame.len() {
            match decode(&frame[..cut]) {
                Err(ColumnError::Truncated { .. }) => {}
                other => panic!("{cut}-byte prefix of {frame:?} gave {other:?}"),
            }
        }
        for garbage in [0x00, 0x01, 0x80, 0xff] {
            let mut longer = frame.to_vec();
            longer.push(garbage);
            match decode(&longer) {
                Err(ColumnError::Malformed { .. }) => {}
                other => panic!("{frame:?} + {garbage:#x} gave {other:?}"),
            }
        }
    }

    /// Decoders allocate only their output vectors; their capacity must stay
    /// within what a frame of `FRAME_ROWS_MAX` rows needs (the vectors are
    /// fresh, so all their capacity was allocated by the decoder).
    pub fn assert_within_limits<T>(out: &Vec<T>) {
        let bytes = out.capacity() * std::mem::size_of::<T>();
        assert!(bytes <= FRAME_BYTES_MAX, "decoder allocated {bytes} bytes");
        assert!(out.capacity() <= 2 * super::FRAME_ROWS_MAX + 64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_sentences() {
        let truncated = ColumnError::Truncated {
            what: "the timestamp deltas",
        };
        assert_eq!(
            truncated.to_string(),
            "column frame is truncated: it ends inside the timestamp deltas (the block is corrupt)"
        );
        let unknown = ColumnError::UnknownEncoding { encoding: 99 };
        assert!(unknown
            .to_string()
            .starts_with("column encoding 99 is not known"));
    }

    #[test]
    fn encoding_ids_are_distinct() {
        let ids = [
            encoding::I64_DELTA_VARINT,
            encoding::I64_DELTA_OF_DELTA_VARINT,
            encoding::I64_DELTA_BITPACK,
            encoding::LEVELS_PACKED3,
            encoding::LEVELS_RUN_LENGTH,
            encoding::LEVELS_RAW,
            encoding::IDS_PACKED,
            encoding::IDS_RUN_LENGTH,
            encoding::STRINGS,
            encoding::NULLABLE_STRINGS,
        ];
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn limits_are_checked() {
        assert!(check_frame_limits(FRAME_ROWS_MAX, FRAME_BYTES_MAX).is_ok());
        assert!(check_frame_limits(FRAME_ROWS_MAX + 1, 0).is_err());
        assert!(check_frame_limits(0, FRAME_BYTES_MAX + 1).is_err());
    }
}
