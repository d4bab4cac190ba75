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

/// An upper bound of the archive's bytes beyond `ColumnBatch::payload_bytes`:
/// the root struct (two u64 and thirteen relative pointers with lengths)
/// and up to 15 bytes of alignment before each of the thirteen vectors.
/// Lets the WAL writer decide where a record goes before archiving it.
pub const PAYLOAD_OVERHEAD_BYTES_MAX: usize = 512;

/// The most bytes `append_payload` can append for `wal_batch`.
pub fn payload_bytes_max(wal_batch: &WalBatch) -> usize {
    wal_batch.batch.payload_bytes() + PAYLOAD_OVERHEAD_BYTES_MAX
}

/// Appends the archive of `wal_batch` to `out`, laid out exactly as
/// `encode_payload` lays it out from offset 0 (rkyv aligns relative to the
/// payload's start, not to `out`'s), so the columns are copied once, straight
/// into the WAL frame. Returns the bytes appended.
///
/// Panics if they are more than `payload_bytes_max` (a bug in that bound).
pub fn append_payload(wal_batch: &WalBatch, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let writer = PayloadWriter { out, start };
    rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(wal_batch, writer)
        .expect("serialising plain vectors into memory cannot fail");
    let appended = out.len() - start;
    assert!(
        appended <= payload_bytes_max(wal_batch),
        "a WAL payload of {appended} bytes is over its bound"
    );
    appended
}

/// An rkyv writer appending to a `Vec` whose positions count from `start`.
struct PayloadWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl rkyv::ser::Positional for PayloadWriter<'_> {
    fn pos(&self) -> usize {
        self.out.len() - self.start
    }
}

impl<E> rkyv::ser::Writer<E> for PayloadWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        self.out.extend_from_slice(bytes);
        Ok(())
    }
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
    fn appended_payload_equals_the_encoded_one_at_any_offset() {
        let mut batch = ColumnBatch::default();
        for index in 0..5 {
            let message = "m".repeat(index * 3);
            let entry = EntryRef {
                timestamp_ns: index as i64,
                level: Level::Info,
                source: "s",
                message: &message,
                fields_json: if index % 2 == 0 { "" } else { "{\"a\":1}" },
            };
            batch.push(&entry, &[("k", "v"); 2][..index % 3]);
        }
        let wal_batch = WalBatch {
            partition_key: 3,
            first_seq: 7,
            batch,
        };
        let mut encoded = rkyv::util::AlignedVec::new();
        encode_payload(&wal_batch, &mut encoded);
        for prefix_bytes in 0..17 {
            let mut out = vec![0xAA; prefix_bytes];
            let appended = append_payload(&wal_batch, &mut out);
            assert_eq!(appended, encoded.len());
            assert_eq!(&out[prefix_bytes..], encoded.as_slice());
            assert_eq!(decode_payload(&out[prefix_bytes..]).unwrap(), wal_batch);
        }
        let empty = WalBatch {
            partition_key: 0,
            first_seq: 0,
            batch: ColumnBatch::default(),
        };
        assert!(append_payload(&empty, &mut Vec::new()) <= payload_bytes_max(&empty));
    }

    #[test]
    fn garbage_payload_is_an_error() {
        assert!(decode_payload(&[1, 2, 3, 4, 5, 6, 7]).is_err());
    }
}
