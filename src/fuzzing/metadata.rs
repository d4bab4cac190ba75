//! Small readers of untrusted text: the query cursor a client sends back,
//! and the JSON files of a data directory or snapshot (`catalog.json`,
//! `snapshot.json`, `layout.json`).

use crate::query::cursor::Cursor;
use crate::storage::catalog::Catalog;
use crate::storage::layout::Layout;
use crate::storage::snapshot::parse_snapshot_info;

/// The first byte picks the reader; the rest is its input.
///
/// Properties: nothing panics; a cursor that decodes encodes back to the
/// same text (also when the fuzzer's bytes are made a well-formed cursor
/// by hex-encoding them and setting their crc); a catalog that loads
/// writes JSON that loads to the same partitions; a snapshot.json that
/// parses names the format this build reads.
pub fn metadata(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => cursor(rest),
        1 => catalog(rest),
        2 => {
            if let Ok(info) = parse_snapshot_info(rest) {
                let text = serde_json::to_vec(&info).expect("a SnapshotInfo serialises");
                assert_eq!(parse_snapshot_info(&text), Ok(info));
            }
        }
        _ => {
            let _ = serde_json::from_slice::<Layout>(rest);
        }
    }
}

fn cursor(rest: &[u8]) {
    if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(cursor) = Cursor::decode(text) {
            assert_eq!(cursor.encode(), text);
        }
    }
    // The same bytes as a cursor with a valid crc, to reach what follows it.
    let Some(bytes) = rest.first_chunk::<CURSOR_BYTES>() else {
        return;
    };
    let mut bytes = *bytes;
    let crc = crc32fast::hash(&bytes[..CRC_OFFSET]);
    bytes[CRC_OFFSET..].copy_from_slice(&crc.to_be_bytes());
    let text: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    if let Ok(cursor) = Cursor::decode(&text) {
        assert_eq!(cursor.encode(), text);
    }
}

/// A cursor's bytes, and where its crc32 (over the bytes before it) starts.
const CURSOR_BYTES: usize = 41;
const CRC_OFFSET: usize = CURSOR_BYTES - 4;

fn catalog(rest: &[u8]) {
    let Ok(catalog) = Catalog::from_json(rest) else {
        return;
    };
    let again = Catalog::from_json(&catalog.to_json()).expect("a catalog we wrote loads");
    let names = |catalog: &Catalog| {
        catalog
            .list()
            .map(|meta| (meta.key, meta.name.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&again), names(&catalog));
}
