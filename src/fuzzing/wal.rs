//! The WAL: record framing (`wal::record`) and batch payloads
//! (`wal::payload`), as recovery reads a segment file
//! (`wal::replay::replay_segment` minus the file I/O).

use crate::wal::payload::{decode_payload, encode_payload};
use crate::wal::record::{encode_record, pad_to_page, RecordKind, RecordReader};

/// The segment generation every input is read as.
const SEGMENT_SEQ: u64 = 7;

/// The first byte picks the mode:
/// - 0: the rest is a segment file as found on disk;
/// - 1: the rest is payloads (each `[len u16 LE][bytes]`) framed into a
///   segment by the writer's own code, so every record's crc holds and
///   the payload decoder sees the fuzzer's bytes;
/// - 2: as 1, then one byte of the segment is damaged (where and how, from
///   the first 5 bytes).
///
/// Properties: nothing panics; the reader yields records in order inside
/// the buffer and ends at or after the last one; a framed segment reads
/// back as exactly its payloads with a clean end; a damaged one as a prefix
/// of them; a payload that decodes survives encode-and-decode unchanged.
pub fn wal(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            read_segment(rest);
        }
        1 => {
            let payloads = split_payloads(rest);
            let segment = frame(&payloads);
            assert_eq!(read_segment(&segment), (payloads, true));
        }
        _ => {
            let Some((damage, rest)) = rest.split_first_chunk::<5>() else {
                return;
            };
            let payloads = split_payloads(rest);
            let mut segment = frame(&payloads);
            let [a, b, c, d, xor] = *damage;
            let at = u32::from_le_bytes([a, b, c, d]) as usize;
            let at = at % segment.len().max(1);
            if let Some(byte) = segment.get_mut(at) {
                *byte ^= xor.max(1);
            }
            let (read, _) = read_segment(&segment);
            assert!(read.len() <= payloads.len());
            assert_eq!(
                read[..],
                payloads[..read.len()],
                "a damaged segment reads as a prefix"
            );
        }
    }
}

/// Reads `segment` as replay does; returns the batch payloads read and
/// whether the end was clean.
fn read_segment(segment: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut reader = RecordReader::new(segment, 0, SEGMENT_SEQ);
    let mut payloads = Vec::new();
    let mut last_end = 0;
    for record in reader.by_ref() {
        assert!(record.offset >= last_end, "records come in order");
        assert!(record.end_offset() <= segment.len() as u64);
        last_end = record.end_offset();
        check_payload(record.payload);
        payloads.push(record.payload.to_vec());
    }
    let end = reader.end();
    assert!(end.offset >= last_end && end.offset <= segment.len() as u64);
    let _ = end.bytes_discarded(segment.len() as u64);
    (payloads, end.is_clean())
}

/// A payload that decodes (rkyv validation, batch invariants) encodes to
/// bytes that decode to the same batch.
fn check_payload(payload: &[u8]) {
    if let Ok(batch) = decode_payload(payload) {
        assert_eq!(batch.batch.check_invariants(), Ok(()));
        let mut again = rkyv::util::AlignedVec::new();
        encode_payload(&batch, &mut again);
        assert_eq!(decode_payload(&again), Ok(batch));
    }
}

fn split_payloads(mut rest: &[u8]) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    while let Some((length, tail)) = rest.split_first_chunk::<2>() {
        let length = usize::from(u16::from_le_bytes(*length)).min(tail.len());
        let (payload, tail) = tail.split_at(length);
        payloads.push(payload.to_vec());
        rest = tail;
    }
    payloads
}

fn frame(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut segment = Vec::new();
    for payload in payloads {
        encode_record(&mut segment, 0, SEGMENT_SEQ, RecordKind::Batch, payload);
    }
    pad_to_page(&mut segment, 0, SEGMENT_SEQ);
    segment
}
