//! scrub/: "is every byte on disk still what was written?"
//!
//! A scrub reads every file of the database the way its own reader does
//! and reports what fails: `layout.json`, `catalog.json`, every manifest
//! generation, every published block in full (`block::verify_block`), and
//! every WAL segment. Offline (`timberdb scrub`, `offline.rs`) it runs
//! against a stopped node's directories; online (`online.rs`) each shard
//! re-reads its own published blocks and manifest in the background at a
//! bounded rate. Quarantine (`quarantine.rs`) takes damaged blocks out of
//! the database on the record, so the server serves every other entry.
//!
//! Scrub has no decoder of its own: a block that passes here is one that
//! queries and compaction accept, and damage it reports is damage they
//! would meet.

pub mod offline;
pub mod online;
pub mod quarantine;
pub mod report;
pub mod wal;

pub use report::{FileKind, Finding, QuarantineLine, ScrubReport};

/// Exit status of `timberdb scrub`: clean.
pub const EXIT_CLEAN: u8 = 0;
/// Exit status of `timberdb scrub`: damage found (quarantined or not).
pub const EXIT_DAMAGE: u8 = 1;
/// Exit status of `timberdb scrub`: usage error, or it could not run.
pub const EXIT_USAGE: u8 = 2;

/// Runs `timberdb scrub` for `main`: prints the report (text or JSON) on
/// stdout, a refusal on stderr, and returns the exit status.
pub fn run_command(config: &crate::config::Config, args: crate::config::ScrubArgs) -> u8 {
    let storage = &config.storage;
    match offline::scrub(&storage.data_dir, &storage.wal_dir, args.quarantine) {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a report serialises")
                );
            } else {
                print!("{}", report.to_text());
            }
            if report.clean {
                EXIT_CLEAN
            } else {
                EXIT_DAMAGE
            }
        }
        Err(reason) => {
            eprintln!("timberdb scrub: {reason}");
            EXIT_USAGE
        }
    }
}
