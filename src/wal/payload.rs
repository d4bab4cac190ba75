//! The payload of a WAL `Batch` record: one ingest request's entries for one
//! slice, with the sequence number of its first entry.
//!
//! It is the rkyv archive of `WalBatch`, so recovery validates it with
//! bytecheck and reads the columns in place.

use rkyv::{Archive, Deserialize, Serialize};

use crate::entry::ColumnBatch;

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WalBatch {
    /// The partition's internal key (never reused after a delete).
    pub partition_key: u64,
    /// Sequence number of `batch`'s first entry within its slice; the
    /// entries are numbered `first_seq..first_seq + len`.
    pub first_seq: u64,
    pub batch: ColumnBatch,
}

/// Serialises `wal_batch` into `out` (cleared first). One copy of the columns.
pub fn encode_payload(wal_batch: &WalBatch, out: &mut rkyv::util::AlignedVec) {
    out.clear();
    let taken = std::mem::take(out);
    *out = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(wal_batch, taken)
        .expect("serialising plain vectors into memory cannot fail");
}

/// Validates a payload read back from disk and returns an owned batch.
/// Recovery is not a hot path, so it deserialises.
pub fn decode_payload(payload: &[u8]) -> Result<WalBatch, String> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(payload.len());
    aligned.extend_from_slice(payload);
    let archived = rkyv::access::<ArchivedWalBatch, rkyv::rancor::Error>(&aligned)
        .map_err(|error| format!("payload is not a valid batch archive: {error}"))?;
    archived
        .batch
        .check_invariants()
        .map_err(|detail| format!("batch is malformed: {detail}"))?;
    rkyv::deserialize::<WalBatch, rkyv::rancor::Error>(archived)
        .map_err(|error| format!("batch could not be read: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{EntryRef, Level};

    #[test]
    fn payload_round_trip() {
        let mut batch = ColumnBatch::default();
        let entry = EntryRef {
            timestamp_ns: 5,
            level: Level::Warn,
            source: "db",
            message: "slow query",
            fields_json: "{\"ms\":900}",
        };
        batch.push(&entry, &[("table", "users")]);
        let wal_batch = WalBatch {
            partition_key: 9,
            first_seq: 100,
            batch,
        };
        let mut out = rkyv::util::AlignedVec::new();
        encode_payload(&wal_batch, &mut out);
        assert_eq!(decode_payload(&out).unwrap(), wal_batch);
    }

    #[test]
    fn garbage_payload_is_an_error() {
        assert!(decode_payload(&[1, 2, 3, 4, 5, 6, 7]).is_err());
    }
}
