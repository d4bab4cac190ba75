//! Bit packing: fixed-width unsigned values laid end to end, and bitmaps.
//!
//! Layout: value `i` of width `w` occupies bits `[i * w, (i + 1) * w)` of
//! the byte string, where bit `b` is bit `b % 8` of byte `b / 8` (little
//! endian bit order, the natural order for little-endian word loads). The
//! packed form of `count` values is exactly `packed_bytes(count, w)` bytes;
//! the unused high bits of the last byte are zero. Width 0 means every value
//! is zero and takes no bytes at all.
//!
//! Why this shape: `unpack` runs at query time over every granule a query
//! touches, so it decodes eight values per step with one unaligned
//! little-endian word load per value and shifts and masks that are constants
//! (the width is a const generic, dispatched once per call). Eight values of
//! width `w` are exactly `w` bytes, so each group of eight starts on a byte
//! boundary. The last groups are decoded from a zero-padded copy on the
//! stack, so no load ever reads past the input and there is no per-bit loop
//! anywhere. `pack` runs once per frame when a block is sealed and simply
//! streams bits through a 128-bit accumulator.
//!
//! Invariants: `unpack` requires the exact packed length (missing bytes are
//! `Truncated`, leftover bytes `Malformed`) and a width no wider than the
//! output type, so every decoded value fits in `width` bits.

use super::{check_frame_limits, malformed, ColumnError, Result};

/// Widest packed value: a full `u64`.
pub const WIDTH_MAX: u8 = 64;

/// Values decoded per step; eight values of any width fill whole bytes.
const GROUP_VALUES: usize = 8;

/// Size of the zero-padded stack copy the last groups are decoded from. A
/// tail is shorter than one group's load span (at most 64 + 16 bytes), and
/// the groups decoded from it read at most one span more.
const TAIL_BUFFER_BYTES: usize = 192;

const _: () = assert!(2 * (WIDTH_MAX as usize + 16) <= TAIL_BUFFER_BYTES);

/// An unsigned (or two's-complement) integer type that values are packed
/// from and unpacked into. Sealed: implemented for `u8`, `u32`, `u64` and
/// `i64` (whose bits are packed as-is).
pub trait BitWord: Copy + Default + sealed::Sealed {
    /// Widest value the type holds.
    const BITS: u8;
    /// The value's bits, zero-extended.
    fn to_bits(self) -> u64;
    /// The low `BITS` bits of `bits` (callers only pass values that fit).
    fn from_bits(bits: u64) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
    impl Sealed for i64 {}
}

macro_rules! impl_bit_word {
    ($($t:ty),*) => {$(
        impl BitWord for $t {
            const BITS: u8 = <$t>::BITS as u8;
            #[inline(always)]
            fn to_bits(self) -> u64 {
                self as u64
            }
            #[inline(always)]
            fn from_bits(bits: u64) -> Self {
                bits as $t
            }
        }
    )*};
}
impl_bit_word!(u8, u32, u64);

impl BitWord for i64 {
    const BITS: u8 = 64;
    #[inline(always)]
    fn to_bits(self) -> u64 {
        self as u64
    }
    #[inline(always)]
    fn from_bits(bits: u64) -> Self {
        bits as i64
    }
}

/// Bytes that `count` values of `width` bits pack into: ceil(count * width / 8).
#[inline]
pub fn packed_bytes(count: usize, width: u8) -> usize {
    let width = usize::from(width);
    // Whole groups of eight fill `width` bytes each; splitting keeps the
    // product from overflowing for any count whose result fits.
    (count / GROUP_VALUES) * width + ((count % GROUP_VALUES) * width).div_ceil(8)
}

/// Bits needed to represent `max_value`: 0 for 0, 64 for values >= 2^63.
#[inline]
pub fn width_for(max_value: u64) -> u8 {
    (u64::BITS - max_value.leading_zeros()) as u8
}

/// Whether bit `index` of a little-endian bitmap is set. `index` must be
/// below `bytes.len() * 8` (it panics otherwise, like slice indexing).
#[inline]
pub fn bitmap_get(bytes: &[u8], index: usize) -> bool {
    bytes[index / 8] >> (index % 8) & 1 == 1
}

/// Whether bit `index` of a bitmap held in `u64` words is set (the form
/// `strings::decode_nullable_strings` returns). `index` must be below
/// `words.len() * 64`.
#[inline]
pub fn bitmap_words_get(words: &[u64], index: usize) -> bool {
    words[index / 64] >> (index % 64) & 1 == 1
}

/// Appends `values` packed at `width` bits each (`packed_bytes` bytes).
///
/// Panics if `width` exceeds the type's width or 64, or if a value does not
/// fit in `width` bits: the caller computed the width from the values, so
/// either is a bug, and writing it would corrupt the neighbouring values.
pub fn pack<T: BitWord>(values: &[T], width: u8, out: &mut Vec<u8>) {
    assert!(width <= T::BITS, "width {width} exceeds the value type");
    pack_iter(values.iter().map(|value| value.to_bits()), width, out);
}

/// `pack` over values computed on the fly (e.g. offsets from a frame of
/// reference), so the caller needs no intermediate vector.
pub fn pack_iter(values: impl IntoIterator<Item = u64>, width: u8, out: &mut Vec<u8>) {
    assert!(width <= WIDTH_MAX, "width {width} is above 64");
    let (mut seen, mut count) = (0u64, 0usize);
    let mut acc = 0u128;
    let mut acc_bits = 0u32;
    let start = out.len();
    for bits in values {
        seen |= bits;
        count += 1;
        acc |= u128::from(bits) << acc_bits;
        acc_bits += u32::from(width);
        if acc_bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            acc_bits -= 64;
        }
    }
    let tail_bytes = acc_bits.div_ceil(8) as usize;
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..tail_bytes]);
    assert!(
        u32::from(width) >= u64::BITS || seen >> width == 0,
        "a value does not fit in {width} bits"
    );
    debug_assert_eq!(out.len() - start, packed_bytes(count, width));
}

/// Appends `count` values of `width` bits unpacked from `bytes`, which must
/// be exactly `packed_bytes(count, width)` long.
///
/// Errors: a width above the output type's, a count above `FRAME_ROWS_MAX`
/// or leftover bytes are `Malformed`; missing bytes are `Truncated`.
pub fn unpack<T: BitWord>(bytes: &[u8], width: u8, count: usize, out: &mut Vec<T>) -> Result<()> {
    check_frame_limits(count, bytes.len())?;
    if width > T::BITS {
        return Err(malformed(format!(
            "bit width {width} is wider than the {}-bit values it holds",
            T::BITS
        )));
    }
    let expected = packed_bytes(count, width);
    if bytes.len() < expected {
        return Err(ColumnError::Truncated {
            what: "the bit-packed values",
        });
    }
    if bytes.len() > expected {
        return Err(malformed(format!(
            "{} bytes left over after {count} bit-packed values of width {width}",
            bytes.len() - expected
        )));
    }
    unpack_dispatch(bytes, width, count, out)
}

/// Calls the `unpack_width` specialised for `width` (already checked to be
/// at most 64 and at most `T::BITS`).
fn unpack_dispatch<T: BitWord>(
    bytes: &[u8],
    width: u8,
    count: usize,
    out: &mut Vec<T>,
) -> Result<()> {
    macro_rules! dispatch {
        ($($w:literal)*) => {{
            match width {
                0 => out.resize(out.len() + count, T::default()),
                $($w => unpack_width::<$w, T>(bytes, count, out),)*
                // Unreachable (`unpack` rejected wider widths), but an
                // error is cheaper to reason about than a panic path.
                _ => return Err(malformed(format!("bit width {width} is above 64"))),
            }
            Ok(())
        }};
    }
    dispatch!(
        1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
        33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
        62 63 64
    )
}

/// Bytes one group's loads may touch from the group's first byte: the last
/// value starts within the group's `W` bytes and is read with an 8-byte
/// load, or a 16-byte one when a value can straddle nine bytes (W > 56).
const fn load_span(width: usize) -> usize {
    if width <= 56 {
        width + 8
    } else {
        width + 16
    }
}

/// Unpacks `count` values of width `W` (1..=64), eight at a time: first the
/// groups whose loads stay inside `bytes`, then the rest from a zero-padded
/// stack copy. Decodes whole groups and trims the padding values at the end.
#[inline(never)]
fn unpack_width<const W: usize, T: BitWord>(bytes: &[u8], count: usize, out: &mut Vec<T>) {
    if W > T::BITS as usize {
        // Never called (checked by `unpack`); this makes the instantiations
        // for impossible widths empty.
        return;
    }
    let span = load_span(W);
    let start = out.len();
    let groups = count.div_ceil(GROUP_VALUES);
    // Zero-filling first and decoding into the slice measured 10-30% faster
    // than pushing each group's array.
    out.resize(start + groups * GROUP_VALUES, T::default());
    let direct_groups = if bytes.len() >= span {
        groups.min((bytes.len() - span) / W + 1)
    } else {
        0
    };
    let (direct, padded) = out[start..].split_at_mut(direct_groups * GROUP_VALUES);
    for (group, dst) in direct.chunks_exact_mut(GROUP_VALUES).enumerate() {
        decode_group::<W, T>(&bytes[group * W..group * W + span], dst);
    }
    let tail = &bytes[direct_groups * W..];
    let mut buffer = [0u8; TAIL_BUFFER_BYTES];
    buffer[..tail.len()].copy_from_slice(tail);
    for (group, dst) in padded.chunks_exact_mut(GROUP_VALUES).enumerate() {
        decode_group::<W, T>(&buffer[group * W..group * W + span], dst);
    }
    out.truncate(start + count);
}

/// Decodes eight values of width `W` from `src`, which starts at the
/// group's first byte and holds at least `load_span(W)` bytes, into `dst`.
/// All shifts and offsets are constants after unrolling.
#[inline(always)]
fn decode_group<const W: usize, T: BitWord>(src: &[u8], dst: &mut [T]) {
    let mask = if W >= 64 { u64::MAX } else { (1u64 << W) - 1 };
    assert!(src.len() >= load_span(W) && dst.len() == GROUP_VALUES);
    for (index, value) in dst.iter_mut().enumerate() {
        let bit = index * W;
        let (byte, shift) = (bit / 8, bit % 8);
        let bits = if W <= 56 {
            let mut word = [0u8; 8];
            word.copy_from_slice(&src[byte..byte + 8]);
            u64::from_le_bytes(word) >> shift
        } else {
            let mut word = [0u8; 16];
            word.copy_from_slice(&src[byte..byte + 16]);
            (u128::from_le_bytes(word) >> shift) as u64
        };
        *value = T::from_bits(bits & mask);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bit-at-a-time reference decoder the fast path is checked against.
    fn unpack_reference(bytes: &[u8], width: u8, count: usize) -> Vec<u64> {
        (0..count)
            .map(|i| {
                (0..usize::from(width)).fold(0u64, |acc, b| {
                    let bit = i * usize::from(width) + b;
                    acc | (u64::from(bitmap_get(bytes, bit)) << b)
                })
            })
            .collect()
    }

    fn mask(width: u8) -> u64 {
        if width >= 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        }
    }

    #[test]
    fn known_layout() {
        // 001 010 011 100 101, lowest bits first: byte 0 holds 1, 2 and the
        // low two bits of 3; byte 1 the high bit of 3, then 4 and 5.
        let mut out = Vec::new();
        pack::<u32>(&[1, 2, 3, 4, 5], 3, &mut out);
        assert_eq!(out, [0b1101_0001, 0b0101_1000]);
        assert_eq!(packed_bytes(5, 3), 2);
        assert_eq!(packed_bytes(0, 64), 0);
        assert_eq!(packed_bytes(65_536, 64), 65_536 * 8);
        assert_eq!(packed_bytes(usize::MAX / 64, 64), usize::MAX / 64 * 8);
    }

    #[test]
    fn width_for_values() {
        assert_eq!(width_for(0), 0);
        assert_eq!(width_for(1), 1);
        assert_eq!(width_for(6), 3);
        assert_eq!(width_for(7), 3);
        assert_eq!(width_for(8), 4);
        assert_eq!(width_for(u64::MAX), 64);
    }

    #[test]
    fn every_width_and_tail_length_round_trips() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for width in 0..=WIDTH_MAX {
            for count in (0..70).chain([255, 256, 257, 1000, 4096]) {
                let values: Vec<u64> = (0..count)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        (state ^ (state >> 29)) & mask(width)
                    })
                    .collect();
                let mut bytes = Vec::new();
                pack(&values, width, &mut bytes);
                assert_eq!(bytes.len(), packed_bytes(count, width));
                assert_eq!(unpack_reference(&bytes, width, count), values);
                let mut decoded = vec![7u64];
                unpack(&bytes, width, count, &mut decoded).expect("round trip");
                assert_eq!(decoded[0], 7);
                assert_eq!(decoded[1..], values, "width {width} count {count}");
            }
        }
    }

    #[test]
    fn narrow_types_round_trip() {
        let levels: Vec<u8> = (0..100).map(|i| (i % 8) as u8).collect();
        let mut bytes = Vec::new();
        pack(&levels, 3, &mut bytes);
        let mut decoded = Vec::new();
        unpack::<u8>(&bytes, 3, levels.len(), &mut decoded).expect("round trip");
        assert_eq!(decoded, levels);
        let ids: Vec<u32> = (0..100).map(|i| u32::MAX - i).collect();
        let mut bytes = Vec::new();
        pack(&ids, 32, &mut bytes);
        let mut decoded = Vec::new();
        unpack::<u32>(&bytes, 32, ids.len(), &mut decoded).expect("round trip");
        assert_eq!(decoded, ids);
    }

    #[test]
    fn wrong_lengths_and_widths_are_errors() {
        let mut bytes = Vec::new();
        pack::<u64>(&[5; 10], 3, &mut bytes);
        let mut out = Vec::<u64>::new();
        assert!(matches!(
            unpack(&bytes[..bytes.len() - 1], 3, 10, &mut out),
            Err(ColumnError::Truncated { .. })
        ));
        bytes.push(0);
        assert!(matches!(
            unpack(&bytes, 3, 10, &mut out),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(matches!(
            unpack::<u32>(&[0; 33], 33, 8, &mut Vec::new()),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(matches!(
            unpack::<u64>(&[], 0, crate::block::column::FRAME_ROWS_MAX + 1, &mut out),
            Err(ColumnError::Malformed { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn packing_a_too_wide_value_panics() {
        pack::<u32>(&[8], 3, &mut Vec::new());
    }

    #[test]
    fn bitmaps() {
        let bytes = [0b0000_0101, 0b1000_0000];
        let set: Vec<usize> = (0..16).filter(|&i| bitmap_get(&bytes, i)).collect();
        assert_eq!(set, [0, 2, 15]);
        let words = [1u64 << 63, 1];
        assert!(bitmap_words_get(&words, 63));
        assert!(bitmap_words_get(&words, 64));
        assert!(!bitmap_words_get(&words, 65));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn round_trip(
            width in 0u8..=64,
            raw in proptest::collection::vec(any::<u64>(), 0..300),
        ) {
            let values: Vec<u64> = raw.iter().map(|v| v & mask(width)).collect();
            let mut bytes = Vec::new();
            pack(&values, width, &mut bytes);
            let mut decoded = Vec::<u64>::new();
            unpack(&bytes, width, values.len(), &mut decoded).expect("round trip");
            prop_assert_eq!(decoded, values);
        }

        #[test]
        fn arbitrary_input_never_panics(
            width in any::<u8>(),
            count in 0usize..=crate::block::column::FRAME_ROWS_MAX + 1,
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut out = Vec::<u32>::new();
            match unpack(&bytes, width, count, &mut out) {
                Ok(()) => {
                    prop_assert_eq!(out.len(), count);
                    prop_assert_eq!(unpack_reference(&bytes, width, count).iter().map(|&v| v as u32).collect::<Vec<_>>(), out);
                }
                Err(_) => prop_assert!(out.is_empty()),
            }
        }
    }
}
