//! Reading published blocks: the frames of the columns and granules a
//! caller needs, with one batch of ranged O_DIRECT reads per granule (the
//! reads are issued together and near neighbours merged), each frame
//! checked and decoded before use. Queries and compaction both read here.

use crate::block::{BlockError, ColumnSet, DecodedGranule};
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
    let corrupt = |error: BlockError| block.segment.block_error(block.offset, error);
    for (index, frame, _) in missing {
        let read = if frame.stored_bytes > 0 {
            reads.next()
        } else {
            None
        };
        let stored: &[u8] = read.as_deref().unwrap_or_default();
        granule.install(index, stored).map_err(corrupt)?;
    }
    Ok(())
}

/// Every column of granule `index` of `block`.
pub async fn read_granule(block: &BlockRef, index: usize) -> Result<DecodedGranule> {
    let mut granule = DecodedGranule::new(block.directory.clone(), index);
    load_columns(block, &mut granule, &ColumnSet::all()).await?;
    Ok(granule)
}
