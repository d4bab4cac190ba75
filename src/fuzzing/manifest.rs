//! The manifest log (`storage::manifest`): records in the WAL's framing,
//! each an rkyv `ManifestRecord` of edits, read at start-up.

use crate::block::DirectoryRef;
use crate::storage::manifest::scan_generation;
use crate::wal::record::{encode_record, pad_to_page, RecordKind};

const GENERATION: u64 = 3;
const SHARD_ID: u32 = 0;

/// The first byte picks the mode: 0, the rest is a manifest file as found
/// on disk; else the rest is record payloads (each `[len u16 LE][bytes]`)
/// framed by the writer's own code, so every crc holds and the record
/// decoder sees the fuzzer's bytes.
///
/// Properties: reading never panics; every published block's header is
/// plausible, and its directory is validated (as a shard does before it
/// serves the block) or refused with an error.
pub fn manifest(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode == 0 {
        rest.to_vec()
    } else {
        frame(rest)
    };
    let scan = scan_generation(&file, GENERATION, SHARD_ID);
    if let Some((offset, detail)) = &scan.damage {
        assert!(*offset <= file.len() as u64 && !detail.is_empty());
    }
    for block in scan.state.blocks.values() {
        assert!(block.header.check_plausible().is_ok());
        let _ = DirectoryRef::new(&block.header, block.directory.clone());
    }
}

fn frame(mut rest: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    while let Some((length, tail)) = rest.split_first_chunk::<2>() {
        let length = usize::from(u16::from_le_bytes(*length)).min(tail.len());
        let (payload, tail) = tail.split_at(length);
        encode_record(&mut file, 0, GENERATION, RecordKind::Batch, payload);
        rest = tail;
    }
    pad_to_page(&mut file, 0, GENERATION);
    file
}
