//! What a scrub found, in the one shape the offline report (text or JSON),
//! the online `GET /api/v1/admin/scrub` and `quarantine.jsonl` share.

use std::fmt::Write as _;

use serde::Serialize;

use crate::block::{BlockError, BlockHeader};
use crate::storage::catalog::Catalog;

/// Which kind of file a finding is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// `layout.json` or `catalog.json`.
    Metadata,
    Manifest,
    /// A block in a segment file.
    Block,
    Wal,
}

/// One piece of damage: where, what is there, what is wrong, what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FileKind,
    /// The damaged file.
    pub file: String,
    /// File offset of the damage (the failing region: a frame, a header, a record).
    pub offset: u64,
    pub shard: Option<u32>,
    /// For a block: its segment id and file offset (the quarantine key).
    pub segment: Option<u32>,
    pub block_offset: Option<u64>,
    /// What the damaged region holds, when known: partition, slice, entries.
    pub partition: Option<String>,
    pub partition_key: Option<u64>,
    pub slice: Option<u32>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub entries: Option<u64>,
    /// What is wrong, as the reader that failed says it.
    pub detail: String,
    /// What it means for the data and what to do.
    pub meaning: String,
}

impl Finding {
    pub fn new(kind: FileKind, file: &std::path::Path, offset: u64, detail: String) -> Finding {
        Finding {
            kind,
            file: file.display().to_string(),
            offset,
            shard: None,
            segment: None,
            block_offset: None,
            partition: None,
            partition_key: None,
            slice: None,
            first_seq: None,
            last_seq: None,
            entries: None,
            detail,
            meaning: String::new(),
        }
    }

    /// A damaged block of shard `shard` at `(segment, block_offset)`.
    pub fn block(
        file: &std::path::Path,
        shard: u32,
        (segment, block_offset): (u32, u64),
        header: &BlockHeader,
        catalog: &Catalog,
        error: BlockError,
    ) -> Finding {
        let error = error.rebase(block_offset);
        let offset = match &error {
            BlockError::ChecksumMismatch { offset, .. }
            | BlockError::FrameMalformed { offset, .. } => *offset,
            _ => block_offset,
        };
        Finding::block_detail(
            file,
            shard,
            (segment, block_offset),
            header,
            catalog,
            (offset, error.to_string()),
        )
    }

    /// A damaged block, the damage at `offset` described by `detail`.
    pub fn block_detail(
        file: &std::path::Path,
        shard: u32,
        (segment, block_offset): (u32, u64),
        header: &BlockHeader,
        catalog: &Catalog,
        (offset, detail): (u64, String),
    ) -> Finding {
        let mut finding = Finding::new(FileKind::Block, file, offset, detail);
        finding.shard = Some(shard);
        finding.segment = Some(segment);
        finding.block_offset = Some(block_offset);
        finding.describe_block(header, shard, catalog);
        finding.meaning = format!(
            "the first query or compaction that reads this block quarantines it \
             (storage.on_damaged_block = \"quarantine\", the default; with \"fail\" such \
             queries answer 500); `--quarantine` (or POST /api/v1/admin/scrub with quarantine) \
             removes it now, losing its {} entries",
            header.entry_count
        );
        finding
    }

    /// Fills in what a block holds.
    pub fn describe_block(&mut self, header: &BlockHeader, shard: u32, catalog: &Catalog) {
        let name = catalog
            .by_key(header.partition_key)
            .map(|meta| meta.name.clone());
        self.describe_block_named(header, shard, name);
    }

    /// Fills in what a block holds, its partition's name given.
    pub fn describe_block_named(&mut self, header: &BlockHeader, shard: u32, name: Option<String>) {
        self.partition_key = Some(header.partition_key);
        self.partition = name;
        self.slice = Some(shard);
        self.first_seq = Some(header.first_seq);
        self.last_seq = Some(header.last_seq());
        self.entries = Some(u64::from(header.entry_count));
    }

    /// The block this finding names, if it names one: `(segment, offset)`.
    pub fn block_key(&self) -> Option<(u32, u64)> {
        match (self.kind, self.segment, self.block_offset) {
            (FileKind::Block, Some(segment), Some(offset)) => Some((segment, offset)),
            _ => None,
        }
    }

    /// The entry ids it covers, `<slice>-<first>..<slice>-<last>`, when known.
    pub fn id_range(&self) -> Option<String> {
        match (self.slice, self.first_seq, self.last_seq) {
            (Some(slice), Some(first), Some(last)) => {
                Some(format!("{slice}-{first}..{slice}-{last}"))
            }
            _ => None,
        }
    }

    fn write_text(&self, out: &mut String) {
        let _ = write!(
            out,
            "DAMAGE {} {} at offset {}",
            kind_name(self.kind),
            self.file,
            self.offset
        );
        if let Some(block_offset) = self.block_offset {
            let _ = write!(out, " (block at offset {block_offset})");
        }
        out.push('\n');
        if let Some(key) = self.partition_key {
            let name = self.partition.as_deref().unwrap_or("(deleted partition)");
            let _ = write!(out, "  holds: partition {name} (key {key})");
            if let Some(ids) = self.id_range() {
                let _ = write!(out, ", ids {ids}");
            }
            if let Some(entries) = self.entries {
                let _ = write!(out, ", {entries} entries");
            }
            out.push('\n');
        }
        let _ = writeln!(out, "  what:  {}", self.detail);
        let _ = writeln!(out, "  means: {}", self.meaning);
    }
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Metadata => "metadata",
        FileKind::Manifest => "manifest",
        FileKind::Block => "block in",
        FileKind::Wal => "WAL segment",
    }
}

/// One block quarantine removed, as `quarantine.jsonl` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct QuarantineLine {
    /// When, ns since the Unix epoch.
    pub time_ns: i64,
    pub shard: u32,
    pub segment: u32,
    pub offset: u64,
    pub partition: Option<String>,
    pub partition_key: u64,
    pub slice: u32,
    pub first_seq: u64,
    pub last_seq: u64,
    pub entries: u64,
    /// What was wrong with it.
    pub reason: String,
    /// Where a copy of its bytes was kept (relative to the shard directory), if one was.
    pub copy: Option<String>,
}

/// Everything a scrub run found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubReport {
    pub data_dir: String,
    pub wal_dir: String,
    pub clean: bool,
    pub files_checked: u64,
    pub bytes_checked: u64,
    pub blocks_checked: u64,
    pub manifest_records_checked: u64,
    pub wal_records_checked: u64,
    pub damage: Vec<Finding>,
    /// Things worth knowing that are not damage (a torn tail a crash left).
    pub notes: Vec<String>,
    /// Blocks removed by `--quarantine`, with the entries lost.
    pub quarantined: Vec<QuarantineLine>,
}

impl ScrubReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "scrub of {} (WAL in {})", self.data_dir, self.wal_dir);
        for finding in &self.damage {
            finding.write_text(&mut out);
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        for line in &self.quarantined {
            let name = line.partition.as_deref().unwrap_or("(deleted partition)");
            let _ = writeln!(
                out,
                "QUARANTINED shard {} seg {} offset {}: partition {name} lost ids {}-{}..{}-{} ({} entries)",
                line.shard, line.segment, line.offset, line.slice, line.first_seq, line.slice, line.last_seq, line.entries
            );
        }
        let _ = writeln!(
            out,
            "{}: {} files, {} bytes, {} blocks, {} manifest records, {} WAL records checked; {} damaged",
            if self.clean { "clean" } else { "DAMAGED" },
            self.files_checked,
            self.bytes_checked,
            self.blocks_checked,
            self.manifest_records_checked,
            self.wal_records_checked,
            self.damage.len()
        );
        out
    }
}
