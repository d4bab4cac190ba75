//! Scrubbing one WAL segment: every record's crc, every batch payload
//! decoded, and the end of what was read judged the way FORMAT.md ("Where
//! recovery stops") does: a torn or bad record with nothing valid after it
//! is the end of what was written (a crash), a bad record followed by valid
//! records of the same generation is damage. Plain functions over bytes.

use std::collections::BTreeMap;
use std::path::Path;

use super::report::{FileKind, Finding};
use crate::wal::payload::decode_payload;
use crate::wal::record::{RecordReader, WAL_PAGE_BYTES};

/// What one segment holds, as far as scrub is concerned.
pub struct WalScan {
    pub records: u64,
    pub damage: Option<Finding>,
    pub note: Option<String>,
}

/// Scrubs the segment `bytes` of generation `generation`, read from `path`.
/// `sealed` is each partition's sealed watermark (entries at or below it
/// are in blocks, so a record the damage hides loses nothing of them).
pub fn scan_segment(
    path: &Path,
    bytes: &[u8],
    generation: u64,
    shard: u32,
    sealed: &BTreeMap<u64, u64>,
) -> WalScan {
    let mut reader = RecordReader::new(bytes, 0, generation);
    let mut records = 0;
    for record in reader.by_ref() {
        records += 1;
        if let Err(detail) = decode_payload(record.payload) {
            let mut finding = Finding::new(
                FileKind::Wal,
                path,
                record.offset,
                format!("a record passes its checksum but its payload does not decode: {detail}"),
            );
            finding.shard = Some(shard);
            finding.meaning = "replay stops at this record: it and every record after it in this \
                               segment are not replayed at the next start"
                .into();
            return WalScan {
                records,
                damage: Some(finding),
                note: None,
            };
        }
    }
    let end = reader.end();
    if end.is_clean() {
        return WalScan {
            records,
            damage: None,
            note: None,
        };
    }
    match valid_records_after(bytes, end.offset, generation) {
        None => WalScan {
            records,
            damage: None,
            note: Some(format!(
                "{}: valid records end at offset {} ({:?}) with nothing valid after: the torn end \
                 of the last write (a crash), not damage",
                path.display(),
                end.offset,
                end.reason
            )),
        },
        Some(hidden) => WalScan {
            records: records + hidden.records,
            damage: Some(damage_finding(
                path,
                end.offset,
                shard,
                &end.reason,
                &hidden,
                sealed,
            )),
            note: None,
        },
    }
}

/// Valid records found after a bad one: what replay will not read.
struct Hidden {
    records: u64,
    /// Per partition: (first seq, last seq, entries, entries above the watermark).
    by_partition: BTreeMap<u64, (u64, u64, u64)>,
}

/// The valid records starting on the first later page boundary where one
/// starts (every write starts on a page boundary), or None.
fn valid_records_after(bytes: &[u8], offset: u64, generation: u64) -> Option<Hidden> {
    let page = WAL_PAGE_BYTES as u64;
    let mut start = (offset / page + 1) * page;
    while (start as usize) < bytes.len() {
        let mut reader = RecordReader::new(&bytes[start as usize..], start, generation);
        let mut hidden = Hidden {
            records: 0,
            by_partition: BTreeMap::new(),
        };
        for record in reader.by_ref() {
            hidden.records += 1;
            if let Ok(batch) = decode_payload(record.payload) {
                let last = batch.first_seq + batch.batch.len() as u64 - 1;
                let range = hidden.by_partition.entry(batch.partition_key).or_insert((
                    batch.first_seq,
                    last,
                    0,
                ));
                range.0 = range.0.min(batch.first_seq);
                range.1 = range.1.max(last);
                range.2 += batch.batch.len() as u64;
            }
        }
        if hidden.records > 0 {
            return Some(hidden);
        }
        start += page;
    }
    None
}

fn damage_finding(
    path: &Path,
    offset: u64,
    shard: u32,
    reason: &crate::wal::record::EndReason,
    hidden: &Hidden,
    sealed: &BTreeMap<u64, u64>,
) -> Finding {
    let mut finding = Finding::new(
        FileKind::Wal,
        path,
        offset,
        format!(
            "a bad record ({reason:?}) is followed by {} valid records of the same generation",
            hidden.records
        ),
    );
    finding.shard = Some(shard);
    finding.slice = Some(shard);
    if let Some((&key, &(first, last, entries))) = hidden.by_partition.iter().next() {
        finding.partition_key = Some(key);
        finding.first_seq = Some(first);
        finding.last_seq = Some(last);
        finding.entries = Some(entries);
    }
    let at_risk: Vec<String> = hidden
        .by_partition
        .iter()
        .filter(|(key, (_, last, _))| sealed.get(key).is_none_or(|watermark| last > watermark))
        .map(|(key, (first, last, _))| {
            let from = sealed.get(key).map_or(*first, |w| (*first).max(w + 1));
            format!("partition key {key} ids {shard}-{from}..{shard}-{last}")
        })
        .collect();
    finding.meaning = if at_risk.is_empty() {
        "damage, not a torn write; replay stops at it, but every entry of the records after it \
         is already in a sealed block, so nothing is lost"
            .into()
    } else {
        format!(
            "damage, not a torn write: replay stops at it, so these acknowledged entries after \
             it, in no sealed block, are not recovered at the next start: {}",
            at_risk.join("; ")
        )
    };
    finding
}
