//! The `/metrics` series of disk space: per shard, whether writes are
//! refused for lack of space; per directory (data and WAL), its
//! filesystem's size and free bytes, so an alert can fire before the disk
//! fills rather than after.

use std::fmt::Write;
use std::path::Path;

use crate::shard::context::ShardCounters;
use crate::shard::mailbox::ShardHealth;
use crate::shard::ShardContext;
use crate::storage::disk_space::filesystem_space;

pub fn render(ctx: &ShardContext, shards: &[(ShardCounters, ShardHealth)], out: &mut String) {
    out.push_str("# HELP timberdb_disk_full 1 while a shard refuses writes for lack of disk space (ingest 507, /ready 503).\n# TYPE timberdb_disk_full gauge\n");
    for (shard, (_, health)) in shards.iter().enumerate() {
        let _ = writeln!(
            out,
            "timberdb_disk_full{{shard=\"{shard}\"}} {}",
            health.disk_full.is_some() as u8
        );
    }
    let storage = &ctx.config.storage;
    let directories: [(&str, &Path); 2] = [("data", &storage.data_dir), ("wal", &storage.wal_dir)];
    let spaces: Vec<_> = directories
        .iter()
        .filter_map(|(name, path)| {
            filesystem_space(path)
                .ok()
                .map(|space| (*name, *path, space))
        })
        .collect();
    out.push_str("# HELP timberdb_filesystem_free_bytes Bytes the server may still allocate on the filesystem of its data or WAL directory.\n# TYPE timberdb_filesystem_free_bytes gauge\n");
    for (name, path, space) in &spaces {
        let _ = writeln!(
            out,
            "timberdb_filesystem_free_bytes{{directory=\"{name}\",path=\"{}\"}} {}",
            escape(path),
            space.free_bytes
        );
    }
    out.push_str("# HELP timberdb_filesystem_size_bytes Size of the filesystem of the data or WAL directory.\n# TYPE timberdb_filesystem_size_bytes gauge\n");
    for (name, path, space) in &spaces {
        let _ = writeln!(
            out,
            "timberdb_filesystem_size_bytes{{directory=\"{name}\",path=\"{}\"}} {}",
            escape(path),
            space.total_bytes
        );
    }
}

/// A path as a Prometheus label value (backslash, quote and newline escaped).
fn escape(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
