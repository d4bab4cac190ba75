//! Reading published blocks: the frames of the columns and granules a
//! caller needs, with ranged O_DIRECT reads issued together (near
//! neighbours merged), each frame checked and decoded before use. Queries
//! and compaction both read here.
//!
//! A query reads ahead: `read_frames` fetches the stored frames of several
//! granules in one batch of reads per segment file, so the device works on
//! all of them at once and the shard waits once, and `install_frames`
//! decodes one granule's when the query reaches it (a granule it never
//! reaches costs a read, not a decompression).

use std::rc::Rc;

use glommio::io::ReadResult;

use crate::block::{wanted_frames, BlockError, ColumnSet, DecodedGranule};
use crate::storage::Result;

use super::slice::BlockRef;

/// Decodes into `granule` (of `block`) every column of `set` it lacks.
pub async fn load_columns(
    block: &BlockRef,
    granule: &mut DecodedGranule,
    set: &ColumnSet,
) -> Result<()> {
    let missing = granule.missing(set);
    if missing.is_empty() {
        return Ok(());
    }
    let ranges: Vec<(u64, usize)> = missing
        .iter()
        .filter(|(_, frame, _)| frame.stored_bytes > 0)
        .map(|(_, frame, _)| {
            (
                block.offset + frame.offset as u64,
                frame.stored_bytes as usize,
            )
        })
        .collect();
    let mut reads = block.segment.read_ranges(&ranges).await?.into_iter();
    let frames = missing.into_iter().map(|(index, frame, _)| {
        let read = (frame.stored_bytes > 0).then(|| reads.next()).flatten();
        (index, read)
    });
    install_all(block, granule, frames)
}

/// Every column of granule `index` of `block`.
pub async fn read_granule(block: &BlockRef, index: usize) -> Result<DecodedGranule> {
    let mut granule = DecodedGranule::new(block.directory.clone(), index);
    load_columns(block, &mut granule, &ColumnSet::all()).await?;
    Ok(granule)
}

/// The stored frames of some columns of one granule, read but not yet
/// checked or decoded: (column index, bytes; `None` for an empty frame).
pub struct StoredFrames {
    frames: Vec<(usize, Option<ReadResult>)>,
}

/// Reads the frames of `set`'s columns of each `(block, granule)`, with one
/// batch of reads per segment file for all of them, in file order so
/// neighbouring frames merge into one read. Returns them in `granules`'
/// order.
pub async fn read_frames(
    granules: &[(&BlockRef, usize)],
    set: &ColumnSet,
) -> Result<Vec<StoredFrames>> {
    struct Wanted {
        owner: usize,
        column: usize,
        offset: u64,
        stored_bytes: usize,
    }
    let mut out = Vec::with_capacity(granules.len());
    let mut wanted = Vec::new();
    for (owner, (block, granule)) in granules.iter().enumerate() {
        let frames = wanted_frames(&block.directory, *granule, set);
        out.push(StoredFrames {
            frames: Vec::with_capacity(frames.len()),
        });
        for (column, frame, _) in frames {
            out[owner].frames.push((column, None));
            wanted.push(Wanted {
                owner,
                column,
                offset: block.offset + frame.offset as u64,
                stored_bytes: frame.stored_bytes as usize,
            });
        }
    }
    wanted.retain(|frame| frame.stored_bytes > 0);
    // Segment files by first appearance; reads sorted by file, then offset.
    let mut segments = Vec::new();
    let segment_of = |owner: usize| &granules[owner].0.segment;
    let mut keyed: Vec<(usize, Wanted)> = wanted
        .into_iter()
        .map(|frame| {
            let segment = segment_of(frame.owner);
            let position = segments
                .iter()
                .position(|known| Rc::ptr_eq(known, segment))
                .unwrap_or_else(|| {
                    segments.push(segment.clone());
                    segments.len() - 1
                });
            (position, frame)
        })
        .collect();
    keyed.sort_unstable_by_key(|(segment, frame)| (*segment, frame.offset));
    for (position, segment) in segments.iter().enumerate() {
        let group: Vec<&Wanted> = keyed
            .iter()
            .filter(|(of, _)| *of == position)
            .map(|(_, frame)| frame)
            .collect();
        let ranges: Vec<(u64, usize)> = group
            .iter()
            .map(|frame| (frame.offset, frame.stored_bytes))
            .collect();
        let reads = segment.read_ranges(&ranges).await?;
        for (frame, read) in group.into_iter().zip(reads) {
            let slot = out[frame.owner]
                .frames
                .iter_mut()
                .find(|(column, _)| *column == frame.column)
                .expect("every wanted frame has a slot");
            slot.1 = Some(read);
        }
    }
    Ok(out)
}

/// Decodes the frames of `stored` (read by `read_frames` for `granule` of
/// `block`) whose columns are in `set` into `granule`, and returns the
/// others, still undecoded, for later.
pub fn install_frames(
    block: &BlockRef,
    granule: &mut DecodedGranule,
    stored: StoredFrames,
    set: &ColumnSet,
) -> Result<StoredFrames> {
    let directory = block.directory.get();
    let (now, later): (Vec<_>, Vec<_>) = stored
        .frames
        .into_iter()
        .partition(|(index, _)| set.wants(&directory.columns[*index].name));
    install_all(block, granule, now.into_iter())?;
    Ok(StoredFrames { frames: later })
}

fn install_all(
    block: &BlockRef,
    granule: &mut DecodedGranule,
    frames: impl Iterator<Item = (usize, Option<ReadResult>)>,
) -> Result<()> {
    let corrupt = |error: BlockError| block.segment.block_error(block.offset, error);
    for (index, read) in frames {
        let stored: &[u8] = read.as_deref().unwrap_or_default();
        granule.install(index, stored).map_err(corrupt)?;
    }
    Ok(())
}
