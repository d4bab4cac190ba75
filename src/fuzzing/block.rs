//! The block reader: header, directory (rkyv archive, validated by
//! bytecheck and then by `BlockDirectory::check`), column and filter
//! frames, and the decoded granules' rows; and the column decoders alone.

use crate::block::column::{ids, ints, levels, strings};
use crate::block::{
    decode_directory, decompress_to_vec, verify_block, BlockHeader, ColumnSet, DecodedGranule,
    DirectoryRef, BLOCK_HEADER_BYTES, FRAME_RAW_BYTES_MAX,
};
use crate::entry::BatchView;
use crate::index::filter::word_hash;
use crate::index::GranuleFilter;

/// Header field offsets (`block::header`'s layout).
const BODY_BYTES_AT: usize = 48;
const DIRECTORY_BYTES_AT: usize = 52;
const DIRECTORY_CRC_AT: usize = 56;
const HEADER_CRC_AT: usize = 60;

/// The first byte picks the mode: bit 1 set, the rest is one column or
/// filter frame (`[kind][encoding][rows u16 LE][bytes]`) for the decoders
/// alone; else the rest is a block as read from its segment, with its
/// checksums repaired first when bit 0 is set (header, directory, then
/// every frame named by the directory), so damage behind them is reached.
///
/// Properties: nothing panics; a block whose header and directory decode
/// has every frame of every granule either refused with an error or
/// decoded into rows that can all be read back through `BatchView`.
pub fn block(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 2 != 0 {
        decode_frame(rest);
        return;
    }
    let mut bytes = rest.to_vec();
    if mode & 1 != 0 {
        repair_envelope(&mut bytes);
        repair_frames(&mut bytes);
    }
    let Ok((header, directory)) = decode_envelope(&bytes) else {
        return;
    };
    read_every_granule(&header, &directory, &bytes);
    let _ = verify_block(&header, &directory, &bytes);
}

fn decode_envelope(bytes: &[u8]) -> crate::block::Result<(BlockHeader, DirectoryRef)> {
    let header = BlockHeader::decode(bytes)?;
    let start = header.directory_start() as usize;
    let directory = decode_directory(&header, bytes.get(start..).unwrap_or_default())?;
    Ok((header, directory))
}

/// Decodes every column of every granule the way a query does, and reads
/// every row of the granules that decode.
fn read_every_granule(header: &BlockHeader, directory: &DirectoryRef, bytes: &[u8]) {
    assert!(directory.get().granules.len() == header.granule_count as usize);
    let mut granule = DecodedGranule::new(directory.clone(), 0);
    for index in 0..directory.get().granules.len() {
        granule.reset(directory.clone(), index);
        let mut whole = true;
        for (column, frame, _) in granule.missing(&ColumnSet::all()) {
            let stored = bytes.get(frame.offset as usize..).unwrap_or_default();
            whole &= granule.install(column, stored).is_ok();
        }
        if whole {
            read_rows(&granule);
        }
    }
}

fn read_rows(granule: &DecodedGranule) {
    for row in 0..granule.entry_count() {
        let _ = (granule.timestamp_ns(row), granule.level(row));
        let _ = (granule.source(row), granule.message(row));
        let _ = granule.fields_json(row);
        granule.for_each_tag(row, &mut |key, value| !key.is_empty() || value.is_empty());
    }
}

/// Sets the directory's crc and then the header's to what the bytes hold.
fn repair_envelope(bytes: &mut [u8]) {
    if bytes.len() < BLOCK_HEADER_BYTES {
        return;
    }
    let u32_at = |bytes: &[u8], at: usize| {
        u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
    };
    let body_bytes = u32_at(bytes, BODY_BYTES_AT) as usize;
    let directory_bytes = u32_at(bytes, DIRECTORY_BYTES_AT) as usize;
    let directory = (BLOCK_HEADER_BYTES + body_bytes)
        .checked_sub(directory_bytes)
        .and_then(|start| bytes.get(start..start + directory_bytes));
    if let Some(directory) = directory {
        let crc = crc32fast::hash(directory);
        bytes[DIRECTORY_CRC_AT..DIRECTORY_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32fast::hash(&bytes[..HEADER_CRC_AT]);
    bytes[HEADER_CRC_AT..HEADER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Sets every frame's crc in the directory to its stored bytes' crc, then
/// repairs the envelope again. The crc fields are found in the validated
/// archive by address, so this needs a directory that already decodes.
fn repair_frames(bytes: &mut [u8]) {
    let Ok((header, directory)) = decode_envelope(bytes) else {
        return;
    };
    let archive_start = directory.bytes().as_ptr() as usize;
    let directory_start = header.directory_start() as usize;
    let archived = directory.get();
    let frames = archived
        .columns
        .iter()
        .flat_map(|column| column.frames.iter())
        .chain(archived.filters.iter());
    let mut fixes = Vec::new();
    for frame in frames {
        let native = frame.native();
        let start = native.offset as usize;
        let Some(stored) = bytes.get(start..start + native.stored_bytes as usize) else {
            continue;
        };
        let field_at = std::ptr::addr_of!(frame.crc32) as usize - archive_start;
        fixes.push((directory_start + field_at, crc32fast::hash(stored)));
    }
    for (at, crc) in fixes {
        bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    }
    repair_envelope(bytes);
}

/// One frame through the decoder its kind picks, crc and codec aside; and
/// the same bytes through every codec.
fn decode_frame(data: &[u8]) {
    let Some(([kind, encoding, rows_low, rows_high], bytes)) = data.split_first_chunk::<4>() else {
        return;
    };
    let (kind, encoding) = (*kind, *encoding);
    let rows = usize::from(u16::from_le_bytes([*rows_low, *rows_high]));
    match kind % 6 {
        0 => {
            let _ = ints::decode_i64s(encoding, bytes, rows, &mut Vec::new());
        }
        1 => {
            let _ = levels::decode_levels(encoding, bytes, rows, &mut Vec::new());
        }
        2 => {
            let bound = u32::from(kind) * 131;
            let _ = ids::decode_ids(encoding, bytes, rows, bound, &mut Vec::new());
        }
        3 => {
            let _ = strings::decode_strings(bytes, rows, &mut Vec::new());
        }
        4 => {
            let (mut ends, mut present) = (Vec::new(), Vec::new());
            let _ = strings::decode_nullable_strings(bytes, rows, &mut ends, &mut present);
        }
        _ => {
            if let Ok(filter) = GranuleFilter::parse(encoding, bytes) {
                for word in ["error", "timeout", "host-1"] {
                    let _ = filter.may_contain(word_hash(word));
                }
            }
        }
    }
    let raw_bytes = (rows * 64).min(FRAME_RAW_BYTES_MAX);
    let _ = decompress_to_vec(encoding, bytes, raw_bytes, &mut Vec::new());
}
