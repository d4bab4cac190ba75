//! Where a data directory's bytes go: per column kind, the stored
//! (compressed) and raw bytes of its frames over every published block,
//! plus granule filters, block headers and directories, and padding, each
//! per entry. Reads only the manifests (what start-up reads), so run it on
//! a stopped server's directory:
//!
//! ```sh
//! cargo run --release --example storage_breakdown -- /var/lib/timberdb
//! ```
//!
//! docs/BENCHMARKS.md uses it to say which column a format change should
//! work on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use timberdb::block::directory::ArchivedColumnName;
use timberdb::block::DirectoryRef;

#[derive(Default)]
struct Bytes {
    stored: u64,
    raw: u64,
}

fn main() {
    let data_dir: PathBuf = std::env::args_os()
        .nth(1)
        .expect("usage: storage_breakdown DATA_DIR")
        .into();
    let mut kinds: BTreeMap<String, Bytes> = BTreeMap::new();
    let (mut entries, mut blocks, mut granules, mut spans) = (0u64, 0u64, 0u64, 0u64);
    let mut directories = 0u64;
    for shard in 0.. {
        let dir = data_dir.join(format!("shard-{shard}"));
        if !dir.is_dir() {
            break;
        }
        let loaded = timberdb::storage::manifest::load(&dir, shard)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
        for block in loaded.state.blocks.into_values() {
            let header = block.header;
            directories += block.directory.len() as u64;
            let directory = DirectoryRef::new(&header, block.directory)
                .unwrap_or_else(|error| panic!("a block in {}: {error}", dir.display()));
            let directory = directory.get();
            entries += u64::from(header.entry_count);
            blocks += 1;
            granules += directory.granules.len() as u64;
            spans += header.span_bytes();
            for column in directory.columns.iter() {
                let kind = match &column.name {
                    ArchivedColumnName::Timestamp => "timestamp".to_string(),
                    ArchivedColumnName::Level => "level".to_string(),
                    ArchivedColumnName::Source => "source".to_string(),
                    ArchivedColumnName::Message => "message".to_string(),
                    ArchivedColumnName::Fields => "fields".to_string(),
                    ArchivedColumnName::Tag(key) => format!("tag {}", key.as_str()),
                    ArchivedColumnName::ExtraTags => "extra tags".to_string(),
                };
                let bytes = kinds.entry(kind).or_default();
                for frame in column.frames.iter() {
                    bytes.stored += u64::from(frame.stored_bytes.to_native());
                    bytes.raw += u64::from(frame.raw_bytes.to_native());
                }
            }
            let filters = kinds.entry("granule filters".to_string()).or_default();
            for frame in directory.filters.iter() {
                filters.stored += u64::from(frame.stored_bytes.to_native());
                filters.raw += u64::from(frame.raw_bytes.to_native());
            }
        }
    }
    assert!(
        entries > 0,
        "no published blocks under {}",
        data_dir.display()
    );
    let per_entry = |bytes: u64| bytes as f64 / entries as f64;
    println!("{entries} entries in {blocks} blocks, {granules} granules");
    println!(
        "{:<24} {:>12} {:>12} {:>10}",
        "part", "B/entry", "raw B/entry", "ratio"
    );
    let mut accounted = 0;
    for (kind, bytes) in &kinds {
        accounted += bytes.stored;
        let ratio = bytes.raw as f64 / bytes.stored.max(1) as f64;
        println!(
            "{kind:<24} {:>12.2} {:>12.2} {ratio:>10.2}",
            per_entry(bytes.stored),
            per_entry(bytes.raw)
        );
    }
    let headers = blocks * 64;
    // The directory is stored in the block too (and copied in the manifest).
    let padding = spans.saturating_sub(accounted + headers + directories);
    println!(
        "{:<24} {:>12.2}",
        "headers + directories",
        per_entry(headers + directories)
    );
    println!("{:<24} {:>12.2}", "alignment padding", per_entry(padding));
    println!("{:<24} {:>12.2}", "blocks in all", per_entry(spans));
}
