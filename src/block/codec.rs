//! Frame compression: one enum naming the codecs, and the functions that
//! compress and decompress with them.
//!
//! The codec id byte is stored with every column frame in a block's
//! directory (and, in format 2, in the block header), so ids are stable
//! forever (None 0, Lz4 1, Zstd 2, Snappy 3, Gzip 4). The level is not
//! stored: it only matters when compressing. Each codec uses its raw/block
//! format (lz4 block, snappy raw, one zstd frame, one gzip member) because
//! the directory already records both sizes and a crc32.
//!
//! Decompression fails if the output size differs from the recorded raw
//! size, so a damaged or hostile frame can never make a reader allocate
//! more than the (already bounded) size the directory claims. Format-2
//! payloads decompress into an `AlignedVec`: they are rkyv archives that
//! must be 16-byte aligned to be read in place.
//!
//! zstd contexts are kept per thread and reused (thread-per-core: one shard,
//! one context), which saves their allocation on every small block.

use std::cell::RefCell;
use std::io::{Read, Write};

use rkyv::util::AlignedVec;

use super::v2::BLOCK_UNCOMPRESSED_BYTES_MAX;
use super::{BlockError, Result};

/// zstd level when the configuration names none: zstd's own default.
pub const ZSTD_LEVEL_DEFAULT: i32 = 3;

/// gzip level when the configuration names none: zlib's own default.
pub const GZIP_LEVEL_DEFAULT: u32 = 6;

/// Highest gzip (deflate) level.
const GZIP_LEVEL_MAX: u32 = 9;

/// A block compression codec and, where it has one, its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    None,
    Lz4,
    Zstd { level: i32 },
    Snappy,
    Gzip { level: u32 },
}

impl Codec {
    /// The byte stored in the block header. Never renumber.
    pub const fn id(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Lz4 => 1,
            Codec::Zstd { .. } => 2,
            Codec::Snappy => 3,
            Codec::Gzip { .. } => 4,
        }
    }

    /// The codec for a stored id, with the default level (levels are not
    /// stored and do not matter for decompression).
    pub fn from_id(id: u8) -> Option<Codec> {
        match id {
            0 => Some(Codec::None),
            1 => Some(Codec::Lz4),
            2 => Some(Codec::Zstd {
                level: ZSTD_LEVEL_DEFAULT,
            }),
            3 => Some(Codec::Snappy),
            4 => Some(Codec::Gzip {
                level: GZIP_LEVEL_DEFAULT,
            }),
            _ => None,
        }
    }

    /// The lowercase name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Lz4 => "lz4",
            Codec::Zstd { .. } => "zstd",
            Codec::Snappy => "snappy",
            Codec::Gzip { .. } => "gzip",
        }
    }

    /// Parses a configured codec name (case-insensitive: "none", "lz4",
    /// "zstd", "snappy", "gzip") and optional level. `None` when the name is
    /// unknown, the level is out of range (zstd: `zstd::compression_level_range`,
    /// gzip: 0..=9), or a level is given for a codec that has none; the
    /// config layer turns that into a message.
    pub fn parse(name: &str, level: Option<i32>) -> Option<Codec> {
        let codec = match name.trim().to_ascii_lowercase().as_str() {
            "none" => Codec::None,
            "lz4" => Codec::Lz4,
            "snappy" => Codec::Snappy,
            "zstd" => Codec::Zstd {
                level: level.unwrap_or(ZSTD_LEVEL_DEFAULT),
            },
            "gzip" => Codec::Gzip {
                level: level.map_or(Some(GZIP_LEVEL_DEFAULT), |level| u32::try_from(level).ok())?,
            },
            _ => return None,
        };
        let takes_level = matches!(codec, Codec::Zstd { .. } | Codec::Gzip { .. });
        if level.is_some() && !takes_level {
            return None;
        }
        codec.check_level().ok()?;
        Some(codec)
    }

    fn check_level(self) -> Result<()> {
        let in_range = match self {
            Codec::Zstd { level } => zstd::compression_level_range().contains(&level),
            Codec::Gzip { level } => level <= GZIP_LEVEL_MAX,
            Codec::None | Codec::Lz4 | Codec::Snappy => true,
        };
        if in_range {
            return Ok(());
        }
        let level = match self {
            Codec::Zstd { level } => i64::from(level),
            Codec::Gzip { level } => i64::from(level),
            Codec::None | Codec::Lz4 | Codec::Snappy => 0,
        };
        Err(BlockError::InvalidLevel {
            codec: self.name(),
            level,
        })
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Codec::Zstd { level } => write!(f, "zstd({level})"),
            Codec::Gzip { level } => write!(f, "gzip({level})"),
            other => f.write_str(other.name()),
        }
    }
}

/// Appends `input` compressed with `codec` to `out`. On error `out` is left
/// as it was.
pub fn compress(codec: Codec, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    codec.check_level()?;
    let start = out.len();
    let result = match codec {
        Codec::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Codec::Lz4 => compress_lz4(input, out),
        Codec::Zstd { level } => compress_zstd(level, input, out),
        Codec::Snappy => compress_snappy(input, out),
        Codec::Gzip { level } => compress_gzip(level, input, out),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn compress_error(codec: &'static str, detail: impl std::fmt::Display) -> BlockError {
    BlockError::Compress {
        codec,
        detail: detail.to_string(),
    }
}

/// Grows `out` by `bound` zeroed bytes, lets `fill` write into them, and
/// trims to what it wrote. The zeroing is a memset, cheap next to any codec.
fn compress_into_spare(
    out: &mut Vec<u8>,
    bound: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<usize>,
) -> Result<()> {
    let start = out.len();
    out.resize(start + bound, 0);
    let written = fill(&mut out[start..])?;
    out.truncate(start + written);
    Ok(())
}

fn compress_lz4(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let bound = lz4_flex::block::get_maximum_output_size(input.len());
    compress_into_spare(out, bound, |spare| {
        lz4_flex::block::compress_into(input, spare).map_err(|e| compress_error("lz4", e))
    })
}

thread_local! {
    static ZSTD_COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
    static ZSTD_DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

fn compress_zstd(level: i32, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let bound = zstd::zstd_safe::compress_bound(input.len());
    compress_into_spare(out, bound, |spare| {
        ZSTD_COMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            let compressor = match slot.as_mut() {
                Some(compressor) => compressor,
                None => slot.insert(
                    zstd::bulk::Compressor::new(level).map_err(|e| compress_error("zstd", e))?,
                ),
            };
            compressor
                .set_compression_level(level)
                .map_err(|e| compress_error("zstd", e))?;
            compressor
                .compress_to_buffer(input, spare)
                .map_err(|e| compress_error("zstd", e))
        })
    })
}

fn compress_snappy(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let bound = snap::raw::max_compress_len(input.len());
    if bound == 0 {
        return Err(compress_error("snappy", "input is too large for snappy"));
    }
    compress_into_spare(out, bound, |spare| {
        snap::raw::Encoder::new()
            .compress(input, spare)
            .map_err(|e| compress_error("snappy", e))
    })
}

fn compress_gzip(level: u32, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
    encoder
        .write_all(input)
        .map_err(|e| compress_error("gzip", e))?;
    encoder.finish().map_err(|e| compress_error("gzip", e))?;
    Ok(())
}

/// Replaces the contents of `out` with `input` decompressed by the codec
/// `codec_id` names. Fails unless that yields exactly `uncompressed_bytes`.
pub fn decompress(
    codec_id: u8,
    input: &[u8],
    uncompressed_bytes: usize,
    out: &mut AlignedVec,
) -> Result<()> {
    let codec = Codec::from_id(codec_id).ok_or(BlockError::UnknownCodec { id: codec_id })?;
    if uncompressed_bytes > BLOCK_UNCOMPRESSED_BYTES_MAX {
        return Err(BlockError::HeaderImplausible {
            detail: format!(
                "uncompressed size {uncompressed_bytes} exceeds {BLOCK_UNCOMPRESSED_BYTES_MAX}"
            ),
        });
    }
    // Not cleared first: bytes kept from an earlier use are overwritten, so
    // only newly grown capacity is zeroed.
    out.resize(uncompressed_bytes, 0);
    let result = decompress_codec(codec, input, out.as_mut_slice());
    if result.is_err() {
        out.clear();
    }
    result
}

/// Decompresses `input`, compressed by the codec `codec_id` names, into
/// `output`, which the caller sized to the expected length (already
/// bounded by the caller). Fails unless that fills `output` exactly.
pub fn decompress_into(codec_id: u8, input: &[u8], output: &mut [u8]) -> Result<()> {
    let codec = Codec::from_id(codec_id).ok_or(BlockError::UnknownCodec { id: codec_id })?;
    decompress_codec(codec, input, output)
}

/// Replaces the contents of `out` with `input`, compressed by the codec
/// `codec_id` names, decompressed: exactly `raw_bytes` bytes (the caller
/// bounded it), else an error. `out`'s memory is reused, and zstd (the
/// default codec) writes into it without zeroing it first.
pub fn decompress_to_vec(
    codec_id: u8,
    input: &[u8],
    raw_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    let codec = Codec::from_id(codec_id).ok_or(BlockError::UnknownCodec { id: codec_id })?;
    out.clear();
    match codec {
        Codec::None if input.len() != raw_bytes => Err(size_mismatch(input.len(), raw_bytes)),
        Codec::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Codec::Zstd { .. } => decompress_zstd_to_vec(input, raw_bytes, out),
        other => {
            out.resize(raw_bytes, 0);
            decompress_codec(other, input, out)
        }
    }
}

fn decompress_zstd_to_vec(input: &[u8], raw_bytes: usize, out: &mut Vec<u8>) -> Result<()> {
    match zstd::zstd_safe::get_frame_content_size(input) {
        Ok(Some(declared_bytes)) if declared_bytes != raw_bytes as u64 => {
            let declared_bytes = usize::try_from(declared_bytes).unwrap_or(usize::MAX);
            return Err(size_mismatch(declared_bytes, raw_bytes));
        }
        Ok(_) => {}
        Err(_) => return Err(decompress_error("zstd", "not a zstd frame")),
    }
    out.reserve(raw_bytes);
    let written_bytes = ZSTD_DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(decompressor) => decompressor,
            None => slot
                .insert(zstd::bulk::Decompressor::new().map_err(|e| decompress_error("zstd", e))?),
        };
        // A `Vec` is filled in its spare capacity, which the declared size
        // (checked above) fits.
        decompressor
            .decompress_to_buffer(input, out)
            .map_err(|e| decompress_error("zstd", e))
    })?;
    if written_bytes == raw_bytes {
        Ok(())
    } else {
        Err(size_mismatch(written_bytes, raw_bytes))
    }
}

fn decompress_codec(codec: Codec, input: &[u8], output: &mut [u8]) -> Result<()> {
    match codec {
        Codec::None => decompress_none(input, output),
        Codec::Lz4 => decompress_lz4(input, output),
        Codec::Zstd { .. } => decompress_zstd(input, output),
        Codec::Snappy => decompress_snappy(input, output),
        Codec::Gzip { .. } => decompress_gzip(input, output),
    }
}

fn decompress_error(codec: &'static str, detail: impl std::fmt::Display) -> BlockError {
    BlockError::Decompress {
        codec,
        detail: detail.to_string(),
    }
}

/// The error for a stream that declares (or produced) `got_bytes`.
fn size_mismatch(got_bytes: usize, expected_bytes: usize) -> BlockError {
    if got_bytes > expected_bytes {
        BlockError::UncompressedTooLarge { expected_bytes }
    } else {
        BlockError::UncompressedSizeMismatch {
            got_bytes,
            expected_bytes,
        }
    }
}

fn check_written(written_bytes: usize, output: &[u8]) -> Result<()> {
    if written_bytes == output.len() {
        Ok(())
    } else {
        Err(size_mismatch(written_bytes, output.len()))
    }
}

fn decompress_none(input: &[u8], output: &mut [u8]) -> Result<()> {
    check_written(input.len(), output)?;
    output.copy_from_slice(input);
    Ok(())
}

fn decompress_lz4(input: &[u8], output: &mut [u8]) -> Result<()> {
    match lz4_flex::block::decompress_into(input, output) {
        Ok(written_bytes) => check_written(written_bytes, output),
        Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) => {
            Err(BlockError::UncompressedTooLarge {
                expected_bytes: output.len(),
            })
        }
        Err(error) => Err(decompress_error("lz4", error)),
    }
}

fn decompress_zstd(input: &[u8], output: &mut [u8]) -> Result<()> {
    // The frame header declares the content size; check it before decoding.
    match zstd::zstd_safe::get_frame_content_size(input) {
        Ok(Some(declared_bytes)) if declared_bytes != output.len() as u64 => {
            let declared_bytes = usize::try_from(declared_bytes).unwrap_or(usize::MAX);
            return Err(size_mismatch(declared_bytes, output.len()));
        }
        Ok(_) => {}
        Err(_) => return Err(decompress_error("zstd", "not a zstd frame")),
    }
    let written_bytes = ZSTD_DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(decompressor) => decompressor,
            None => slot
                .insert(zstd::bulk::Decompressor::new().map_err(|e| decompress_error("zstd", e))?),
        };
        decompressor
            .decompress_to_buffer(input, output)
            .map_err(|e| decompress_error("zstd", e))
    })?;
    check_written(written_bytes, output)
}

fn decompress_snappy(input: &[u8], output: &mut [u8]) -> Result<()> {
    let declared_bytes =
        snap::raw::decompress_len(input).map_err(|e| decompress_error("snappy", e))?;
    check_written(declared_bytes, output)?;
    let written_bytes = snap::raw::Decoder::new()
        .decompress(input, output)
        .map_err(|e| decompress_error("snappy", e))?;
    check_written(written_bytes, output)
}

fn decompress_gzip(input: &[u8], output: &mut [u8]) -> Result<()> {
    let mut decoder = flate2::bufread::GzDecoder::new(input);
    let mut filled_bytes = 0;
    while filled_bytes < output.len() {
        match decoder.read(&mut output[filled_bytes..]) {
            Ok(0) => return Err(size_mismatch(filled_bytes, output.len())),
            Ok(read_bytes) => filled_bytes += read_bytes,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(decompress_error("gzip", error)),
        }
    }
    // Reading on to the end checks the gzip trailer (its crc32 and length)
    // and that the stream holds nothing more.
    let mut probe = [0u8; 1];
    match decoder.read(&mut probe) {
        Ok(0) => Ok(()),
        Ok(_) => Err(BlockError::UncompressedTooLarge {
            expected_bytes: output.len(),
        }),
        Err(error) => Err(decompress_error("gzip", error)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every codec, at the levels the tests cover (shared with the decoder's tests).
    pub(crate) const ALL: [Codec; 7] = [
        Codec::None,
        Codec::Lz4,
        Codec::Zstd { level: 1 },
        Codec::Zstd { level: 3 },
        Codec::Snappy,
        Codec::Gzip { level: 1 },
        Codec::Gzip { level: 6 },
    ];

    fn sample_input() -> Vec<u8> {
        let line = "2024-05-01T12:00:00Z INFO GET /api/v1/users/42 200 12ms\n";
        line.repeat(200).into_bytes()
    }

    #[test]
    fn ids_are_stable_and_round_trip() {
        let ids: Vec<u8> = ALL.iter().map(|codec| codec.id()).collect();
        assert_eq!(ids, vec![0, 1, 2, 2, 3, 4, 4]);
        for codec in ALL {
            assert_eq!(Codec::from_id(codec.id()).map(Codec::id), Some(codec.id()));
        }
        assert_eq!(Codec::from_id(5), None);
    }

    #[test]
    fn parse_accepts_config_names() {
        assert_eq!(Codec::parse("LZ4", None), Some(Codec::Lz4));
        assert_eq!(Codec::parse("none", None), Some(Codec::None));
        assert_eq!(Codec::parse("Snappy", None), Some(Codec::Snappy));
        assert_eq!(Codec::parse("zstd", None), Some(Codec::Zstd { level: 3 }));
        assert_eq!(
            Codec::parse("zstd", Some(19)),
            Some(Codec::Zstd { level: 19 })
        );
        assert_eq!(Codec::parse("gzip", None), Some(Codec::Gzip { level: 6 }));
        assert_eq!(
            Codec::parse("GZIP", Some(9)),
            Some(Codec::Gzip { level: 9 })
        );
        assert_eq!(Codec::parse("gzip", Some(10)), None);
        assert_eq!(Codec::parse("gzip", Some(-1)), None);
        assert_eq!(Codec::parse("zstd", Some(1000)), None);
        assert_eq!(Codec::parse("lz4", Some(1)), None);
        assert_eq!(Codec::parse("brotli", None), None);
    }

    #[test]
    fn every_codec_round_trips_and_appends() {
        let input = sample_input();
        for codec in ALL {
            let mut out = b"prefix".to_vec();
            compress(codec, &input, &mut out).unwrap();
            assert_eq!(&out[..6], b"prefix");
            let mut decoded = AlignedVec::new();
            decompress(codec.id(), &out[6..], input.len(), &mut decoded).unwrap();
            assert_eq!(decoded.as_slice(), input.as_slice(), "{codec}");
        }
    }

    #[test]
    fn wrong_uncompressed_size_is_an_error_for_every_codec() {
        let input = sample_input();
        for codec in ALL {
            let mut compressed = Vec::new();
            compress(codec, &input, &mut compressed).unwrap();
            let mut decoded = AlignedVec::new();
            let short = decompress(codec.id(), &compressed, input.len() - 1, &mut decoded);
            assert!(
                matches!(short, Err(BlockError::UncompressedTooLarge { .. })),
                "{codec}: {short:?}"
            );
            let long = decompress(codec.id(), &compressed, input.len() + 1, &mut decoded);
            assert!(
                matches!(long, Err(BlockError::UncompressedSizeMismatch { .. })),
                "{codec}: {long:?}"
            );
        }
    }

    #[test]
    fn garbage_does_not_decompress_or_panic() {
        let garbage: Vec<u8> = (0..500u32).map(|i| (i * 7919 % 256) as u8).collect();
        for codec in ALL.into_iter().filter(|codec| *codec != Codec::None) {
            let mut decoded = AlignedVec::new();
            let result = decompress(codec.id(), &garbage, 1000, &mut decoded);
            assert!(result.is_err(), "{codec}");
        }
    }

    #[test]
    fn bad_levels_and_ids_are_errors() {
        let mut out = Vec::new();
        let result = compress(Codec::Gzip { level: 11 }, b"x", &mut out);
        assert!(matches!(
            result,
            Err(BlockError::InvalidLevel {
                codec: "gzip",
                level: 11
            })
        ));
        assert!(out.is_empty());
        let mut decoded = AlignedVec::new();
        let result = decompress(9, b"x", 1, &mut decoded);
        assert!(matches!(result, Err(BlockError::UnknownCodec { id: 9 })));
    }
}
