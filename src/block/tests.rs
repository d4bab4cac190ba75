//! Round trips and corruption of whole version-3 blocks: every entry a
//! batch held comes back from the decoded granules, and every kind of
//! damage is reported as an error naming the region and its offset.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::directory::ArchivedColumnName;
use super::*;
use crate::entry::{BatchView, ColumnBatch, EntryRef, Level};
use crate::index::filter::{keyed_hash, word_hash, GranuleFilter};
use crate::index::ItemKind;

/// One entry as a reader sees it: tags rendered as a map (the last value of
/// a key wins, as responses render them) and as the sorted list of pairs.
#[derive(Debug, PartialEq)]
struct Seen {
    timestamp_ns: i64,
    level: Level,
    source: String,
    message: String,
    fields: String,
    tags: BTreeMap<String, String>,
    pairs: Vec<(String, String)>,
}

fn seen<B: BatchView + ?Sized>(batch: &B, index: usize) -> Seen {
    let mut pairs = Vec::new();
    batch.for_each_tag(index, &mut |key, value| {
        pairs.push((key.to_string(), value.to_string()));
        false
    });
    let tags = pairs.iter().cloned().collect();
    pairs.sort();
    Seen {
        timestamp_ns: batch.timestamp_ns(index),
        level: batch.level(index),
        source: batch.source(index).to_string(),
        message: batch.message(index).to_string(),
        fields: batch.fields_json(index).to_string(),
        tags,
        pairs,
    }
}

fn encode(batch: &ColumnBatch, codec: Codec) -> (Vec<u8>, EncodedBlock) {
    let mut out = Vec::new();
    let encoded =
        encode_block(batch, 9, 100, codec, &mut EncodeScratch::new(), &mut out).expect("encodes");
    (out, encoded)
}

/// Decodes every granule of the block at the start of `bytes` with every
/// column, the way a reader does: header, directory, then frames.
fn decode_all(bytes: &[u8]) -> Result<Vec<Seen>> {
    let header = BlockHeader::decode(bytes)?;
    let start = header.directory_start() as usize;
    let directory = decode_directory(&header, bytes.get(start..).unwrap_or_default())?;
    let mut entries = Vec::new();
    for granule in 0..header.granule_count as usize {
        let mut decoded = DecodedGranule::new(directory.clone(), granule);
        for (index, frame, _) in decoded.missing(&ColumnSet::all()) {
            let stored = bytes.get(frame.offset as usize..).unwrap_or_default();
            decoded.install(index, stored)?;
        }
        entries.extend((0..decoded.entry_count()).map(|row| seen(&decoded, row)));
    }
    Ok(entries)
}

fn push(
    batch: &mut ColumnBatch,
    ts: i64,
    level: Level,
    source: &str,
    message: &str,
    fields: &str,
    tags: &[(&str, &str)],
) {
    let entry = EntryRef {
        timestamp_ns: ts,
        level,
        source,
        message,
        fields_json: fields,
    };
    batch.push(&entry, tags);
}

/// Entries that exercise every column kind: repeated and unique sources
/// and tag values, absent tags, a key twice in one entry, more keys than
/// `TAG_COLUMNS_MAX`, non-ASCII text, empty strings, fields on some.
fn varied_batch(entry_count: usize) -> ColumnBatch {
    let mut batch = ColumnBatch::default();
    for i in 0..entry_count {
        let source = format!("host-{}", i % 5);
        let message = format!(
            "GET /api/v1/users/{i} took {}ms für café 日本 user=u{}",
            i % 97,
            i % 13
        );
        let request = format!(
            "req-{:016x}",
            (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        );
        let fields = if i % 3 == 0 {
            format!("{{\"n\":{i}}}")
        } else {
            String::new()
        };
        let rare_key = format!("k{}", i % 90);
        let mut tags = vec![
            ("component", ["auth", "db", "cache"][i % 3]),
            ("request_id", request.as_str()),
        ];
        if i % 4 == 0 {
            tags.push(("level", "loud"));
        }
        if i % 7 == 0 {
            tags.push(("component", "dup-last"));
        }
        tags.push((rare_key.as_str(), ""));
        let level = Level::ALL[i % Level::ALL.len()];
        push(
            &mut batch,
            1_000 + (i as i64 * 7919) % 10_000,
            level,
            &source,
            &message,
            &fields,
            &tags,
        );
    }
    batch
}

#[test]
fn every_entry_comes_back_with_every_codec() {
    let batch = varied_batch(9_000);
    let expected: Vec<Seen> = (0..batch.len()).map(|i| seen(&batch, i)).collect();
    for codec in [
        Codec::None,
        Codec::Lz4,
        Codec::Zstd { level: 1 },
        Codec::Snappy,
        Codec::Gzip { level: 1 },
    ] {
        let (bytes, encoded) = encode(&batch, codec);
        assert_eq!(bytes.len() % BLOCK_ALIGN_BYTES, 0);
        assert_eq!(bytes.len() as u64, encoded.header.span_bytes());
        assert_eq!(
            encoded.header.granule_count as usize,
            9_000usize.div_ceil(GRANULE_ROWS_MAX),
            "9000 entries in granules of {GRANULE_ROWS_MAX}"
        );
        assert_eq!(
            (encoded.header.partition_key, encoded.header.first_seq),
            (9, 100)
        );
        let decoded = decode_all(&bytes).unwrap_or_else(|e| panic!("{codec}: {e}"));
        assert_eq!(decoded.len(), expected.len());
        for (index, (got, want)) in decoded.iter().zip(&expected).enumerate() {
            assert_eq!(got, want, "{codec}: entry {index}");
        }
    }
}

#[test]
fn the_directory_describes_columns_dictionaries_and_granules() {
    let batch = varied_batch(9_000);
    let (_, encoded) = encode(&batch, Codec::Zstd { level: 1 });
    let directory = DirectoryRef::new(&encoded.header, encoded.directory).unwrap();
    let directory = directory.get();
    let source = directory.column(&ColumnName::Source).unwrap();
    let dictionary = source
        .dictionary
        .as_ref()
        .expect("5 sources make a dictionary");
    assert_eq!(dictionary.values.len(), 5);
    assert_eq!(
        dictionary.counts.iter().map(|c| c.to_native()).sum::<u32>(),
        9_000
    );
    let component = directory.tag_column("component").unwrap();
    let values: Vec<&str> = component
        .dictionary
        .as_ref()
        .unwrap()
        .values
        .iter()
        .map(|v| v.as_str())
        .collect();
    assert_eq!(values, vec!["auth", "cache", "db", "dup-last"]);
    let request = directory.tag_column("request_id").unwrap();
    assert!(
        request.dictionary.is_none(),
        "unique values are stored as strings"
    );
    assert!(
        directory.has_extra_tags(),
        "duplicates and keys past the limit"
    );
    assert_eq!(directory.tag_columns().count(), encoder::TAG_COLUMNS_MAX);
    let level_total: u32 = directory.level_counts().iter().sum();
    assert_eq!(level_total, 9_000);
    assert!(directory.column(&ColumnName::Fields).is_some());
    let last = directory.granules.last().unwrap();
    assert_eq!(
        last.rows(),
        (9_000 / GRANULE_ROWS_MAX) * GRANULE_ROWS_MAX..9_000
    );
    assert!(matches!(
        directory.columns[0].name,
        ArchivedColumnName::Timestamp
    ));
}

#[test]
fn granule_filters_hold_words_and_undictionaried_values() {
    let batch = varied_batch(9_000);
    let (bytes, encoded) = encode(&batch, Codec::Lz4);
    let directory = DirectoryRef::new(&encoded.header, encoded.directory).unwrap();
    let filter_of = |granule: usize| {
        let frame = directory.get().filters[granule].native();
        let stored =
            &bytes[frame.offset as usize..frame.offset as usize + frame.stored_bytes as usize];
        assert_eq!(crc32fast::hash(stored), frame.crc32);
        GranuleFilter::parse(frame.encoding, stored).unwrap()
    };
    let first = filter_of(0);
    let cafe = crate::text::keys::index_word_owned("café");
    assert!(first.may_contain(word_hash(&cafe)));
    assert!(
        first.may_contain(word_hash(&(GRANULE_ROWS_MAX - 1).to_string())),
        "the last entry of granule 0"
    );
    let id = format!("req-{:016x}", 5u64.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    assert!(first.may_contain(keyed_hash(ItemKind::TagPair, "request_id", &id)));
    let last_granule = 9_000usize.div_ceil(GRANULE_ROWS_MAX) - 1;
    assert!(last_granule * GRANULE_ROWS_MAX > 8_000);
    let last = filter_of(last_granule);
    // Entry 8000 is in an earlier granule; a false positive has odds 2^-8.
    assert!(!last.may_contain(word_hash("zebracorn")));
}

#[test]
fn one_large_entry_ends_a_granule_early() {
    let mut batch = ColumnBatch::default();
    let big = "x".repeat(GRANULE_BYTES_MAX);
    for i in 0..10 {
        let message = if i == 3 { big.as_str() } else { "small" };
        push(&mut batch, i, Level::Info, "s", message, "", &[]);
    }
    let (bytes, encoded) = encode(&batch, Codec::Lz4);
    assert_eq!(encoded.header.granule_count, 2, "rows 0..4 then 4..10");
    assert_eq!(
        decode_all(&bytes).unwrap()[3].message.len(),
        GRANULE_BYTES_MAX
    );
}

#[test]
fn every_damaged_frame_directory_and_header_is_named_with_its_offset() {
    let batch = varied_batch(5_000);
    let (bytes, encoded) = encode(&batch, Codec::Zstd { level: 1 });
    let directory = DirectoryRef::new(&encoded.header, encoded.directory).unwrap();
    let mut damaged_kinds = Vec::new();
    for column in directory.get().columns.iter() {
        let frame = column.frames[1].native();
        if frame.stored_bytes == 0 {
            continue;
        }
        let mut damaged = bytes.clone();
        damaged[frame.offset as usize + frame.stored_bytes as usize / 2] ^= 0x01;
        let error = decode_all(&damaged).unwrap_err().rebase(1 << 20);
        let kind = FrameKind::of_archived(&column.name);
        match error {
            BlockError::ChecksumMismatch {
                region: ChecksumRegion::Frame(got),
                offset,
                ..
            } => {
                assert_eq!(got, kind);
                assert_eq!(offset, (1 << 20) + frame.offset as u64, "{kind}");
            }
            other => panic!("{kind}: {other}"),
        }
        damaged_kinds.push(kind);
    }
    for kind in [
        FrameKind::Timestamp,
        FrameKind::Level,
        FrameKind::Source,
        FrameKind::Message,
        FrameKind::Fields,
        FrameKind::Tag,
        FrameKind::ExtraTags,
    ] {
        assert!(damaged_kinds.contains(&kind), "{kind} was damaged");
    }
    let mut damaged = bytes.clone();
    damaged[encoded.header.directory_start() as usize + 5] ^= 0x80;
    assert!(matches!(
        decode_all(&damaged).unwrap_err(),
        BlockError::ChecksumMismatch {
            region: ChecksumRegion::Directory,
            ..
        }
    ));
    let mut damaged = bytes.clone();
    damaged[20] ^= 0x02;
    assert!(matches!(
        decode_all(&damaged).unwrap_err(),
        BlockError::ChecksumMismatch {
            region: ChecksumRegion::Header,
            ..
        }
    ));
    assert!(matches!(
        decode_all(&bytes[..bytes.len() / 2]).unwrap_err(),
        BlockError::PayloadTruncated { .. }
    ));
}

#[test]
fn a_directory_that_breaks_its_invariants_is_refused() {
    let batch = varied_batch(100);
    let (_, encoded) = encode(&batch, Codec::Lz4);
    let fewer = BlockHeader {
        entry_count: 99,
        ..encoded.header
    };
    let error = DirectoryRef::new(&fewer, encoded.directory.clone()).unwrap_err();
    assert!(
        matches!(error, BlockError::DirectoryMalformed { .. }),
        "{error}"
    );
    let later = BlockHeader {
        min_timestamp_ns: encoded.header.min_timestamp_ns + 1,
        ..encoded.header
    };
    assert!(DirectoryRef::new(&later, encoded.directory.clone()).is_err());
    let mut garbage = rkyv::util::AlignedVec::<16>::new();
    garbage.extend_from_slice(&[0xAB; 64]);
    assert!(DirectoryRef::new(&encoded.header, garbage).is_err());
}

fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z ]{0,12}",
        "\\PC{0,8}",
        Just("日本語 ü ß 🪵".to_string()),
    ]
}

fn arbitrary_entry(
) -> impl Strategy<Value = (i64, u8, String, String, String, Vec<(String, String)>)> {
    (
        any::<i64>(),
        0u8..7,
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            arbitrary_text()
        ],
        arbitrary_text(),
        prop_oneof![Just(String::new()), Just("{\"x\":1}".to_string())],
        prop::collection::vec(
            (
                prop_oneof![Just("k".to_string()), Just("j".to_string()), "[a-z]{1,3}"],
                arbitrary_text(),
            ),
            0..4,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_batches_round_trip(entries in prop::collection::vec(arbitrary_entry(), 1..300)) {
        let mut batch = ColumnBatch::default();
        for (ts, level, source, message, fields, tags) in &entries {
            let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            push(&mut batch, *ts, Level::from_byte(*level), source, message, fields, &tags);
        }
        let expected: Vec<Seen> = (0..batch.len()).map(|i| seen(&batch, i)).collect();
        let (bytes, _) = encode(&batch, Codec::Zstd { level: 1 });
        prop_assert_eq!(decode_all(&bytes).unwrap(), expected);
    }
}

/// `verify_block` (scrub's check of a whole block) passes an intact block
/// and names the region of every single flipped byte a checksum covers:
/// the header, each column frame, each filter frame, the directory.
#[test]
fn verify_block_passes_an_intact_block_and_names_every_flipped_region() {
    let batch = varied_batch(3000);
    let (bytes, encoded) = encode(&batch, Codec::Lz4);
    let directory = DirectoryRef::new(&encoded.header, encoded.directory.clone()).unwrap();
    verify_block(&encoded.header, &directory, &bytes).expect("an intact block verifies");

    let archived = directory.get();
    let mut targets = vec![(36usize, ChecksumRegion::Header)];
    for column in archived.columns.iter() {
        for frame in column.frames.iter() {
            let frame = frame.native();
            if frame.stored_bytes > 0 {
                let region = ChecksumRegion::Frame(FrameKind::of_archived(&column.name));
                targets.push((
                    frame.offset as usize + frame.stored_bytes as usize / 2,
                    region,
                ));
            }
        }
    }
    for frame in archived.filters.iter() {
        let frame = frame.native();
        if frame.stored_bytes > 0 {
            let region = ChecksumRegion::Frame(FrameKind::Filter);
            targets.push((
                frame.offset as usize + frame.stored_bytes as usize / 2,
                region,
            ));
        }
    }
    let directory_at = encoded.header.directory_start() as usize;
    targets.push((directory_at + 4, ChecksumRegion::Directory));
    assert!(targets.len() > 10, "{} regions", targets.len());
    for (at, expected) in targets {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        match verify_block(&encoded.header, &directory, &damaged) {
            Err(BlockError::ChecksumMismatch { region, .. }) => {
                assert_eq!(region, expected, "byte {at}")
            }
            other => panic!("byte {at} ({expected}): {other:?}"),
        }
    }
    // Cut short: the last frame or the directory is missing.
    let short = &bytes[..directory_at];
    assert!(verify_block(&encoded.header, &directory, short).is_err());
}
