//! The command-line layer: `timberdb [OPTIONS] [COMMAND]`, the highest precedence.
//!
//! Flags carry no clap defaults and do not use clap's `env` feature: a default here would
//! silently override the file and the environment, and the environment is its own layer
//! ([`super::env`]) so tests can inject it. Options are `global`, so both
//! `timberdb --data-dir d check` and `timberdb check --data-dir d` work.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::Parser;

use super::key::{Key, Origin, Origins};
use super::{value, Config};

const AFTER_HELP: &str = "\
Settings are read from built-in defaults, then the TOML file (--config or TIMBERDB_CONFIG),
then TIMBERDB_* environment variables, then these flags; later sources win.
Every key, its default, variable and flag: docs/CONFIG.md.";

/// The heading of the server's own options in `--help`, apart from the client subcommands'
/// options (which ignore them).
const SERVER_OPTIONS: &str = "Server options";

/// The parsed command line. Every option is `None` unless given.
#[derive(Debug, Parser)]
#[command(
    name = "timberdb",
    bin_name = "timberdb",
    version,
    about = "TimberDB: a thread-per-core, io_uring log database.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// TOML configuration file (seed README layout). Default: none; env: TIMBERDB_CONFIG
    #[arg(long, value_name = "PATH", global = true, value_parser = value::path)]
    pub config: Option<PathBuf>,

    /// Directory for sealed blocks and indexes, created if missing.
    /// Default: ./timberdb-data; env: TIMBERDB_DATA_DIR
    #[arg(long, value_name = "DIR", global = true, value_parser = value::path, help_heading = SERVER_OPTIONS)]
    pub data_dir: Option<PathBuf>,

    /// Directory for write-ahead-log segments.
    /// Default: <data-dir>/wal; env: TIMBERDB_WAL_DIR
    #[arg(long, value_name = "DIR", global = true, value_parser = value::path, help_heading = SERVER_OPTIONS)]
    pub wal_dir: Option<PathBuf>,

    /// Address and port of the HTTP API.
    /// Default: 127.0.0.1:7777; env: TIMBERDB_LISTEN
    #[arg(long, value_name = "ADDR", global = true, value_parser = value::socket_addr, help_heading = SERVER_OPTIONS)]
    pub listen: Option<SocketAddr>,

    /// Name of this node in logs and responses.
    /// Default: the hostname, else "timberdb"; env: TIMBERDB_NODE_ID
    #[arg(long, value_name = "ID", global = true, value_parser = value::node_id, help_heading = SERVER_OPTIONS)]
    pub node_id: Option<String>,

    /// Number of shards (executor threads, one per core); 0 or "auto" = one per CPU.
    /// Default: auto; env: TIMBERDB_SHARDS
    #[arg(long, value_name = "N", global = true, value_parser = value::shards, help_heading = SERVER_OPTIONS)]
    pub shards: Option<usize>,

    /// What to do about damage in the middle of a WAL segment: "strict" refuses to start,
    /// "skip_damaged" skips the damaged records (their entries are lost and counted in the log).
    /// Default: strict; env: TIMBERDB_WAL_RECOVERY
    #[arg(long, value_name = "MODE", global = true, value_parser = value::wal_recovery, help_heading = SERVER_OPTIONS)]
    pub wal_recovery: Option<super::WalRecovery>,

    #[command(subcommand)]
    pub command: Option<Subcommand>,
}

/// What to do with the configuration.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Subcommand {
    /// Run the server (the default when no command is given).
    Serve,
    /// Check this machine for TimberDB (kernel, io_uring, memlock, directories) and exit;
    /// exit status 1 if any check fails.
    Check,
    /// Build a new data directory (--data-dir, which must be empty or absent) from a
    /// snapshot the server took (POST /api/v1/admin/snapshots); the server is not started.
    Restore(RestoreArgs),
    /// Read every file of a stopped node's data and WAL directories and report damage;
    /// exit status 0 when clean, 1 when damage was found, 2 on usage errors or when the
    /// directory is in use.
    Scrub(ScrubArgs),
    /// The client commands (query, tail, partitions, snapshot): they talk to a running server
    /// and do not load its configuration.
    #[command(flatten)]
    Client(crate::client::ClientSubcommand),
}

/// The options of `timberdb restore`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RestoreArgs {
    /// The snapshot directory to restore from (e.g. <data-dir>/snapshots/<name>).
    #[arg(long, value_name = "SNAPSHOT_DIR", value_parser = value::path)]
    pub from: PathBuf,
}

/// Options of `timberdb scrub`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::Args)]
pub struct ScrubArgs {
    /// Remove every damaged block from the database (a new manifest generation without
    /// them) and record each in shard-<n>/quarantine.jsonl; the entries they held are lost.
    #[arg(long)]
    pub quarantine: bool,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Parses `args` (program name first) without exiting the process.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args)
}

/// Whether `err` is clap's way of asking to print help or the version and exit 0.
pub fn is_help_or_version(err: &clap::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    )
}

/// Applies the given flags on top of `config`. Flags were type-checked by clap; their ranges
/// are checked with everything else in [`super::validate`].
pub fn apply(cli: &Cli, config: &mut Config, origins: &mut Origins) {
    let mut set = |key: Key, flag: &'static str| origins.set(key, Origin::Flag { flag });
    if let Some(dir) = &cli.data_dir {
        config.storage.data_dir = dir.clone();
        set(Key::DataDir, "--data-dir");
    }
    if let Some(dir) = &cli.wal_dir {
        config.storage.wal_dir = dir.clone();
        set(Key::WalDir, "--wal-dir");
    }
    if let Some(addr) = cli.listen {
        config.network.listen_addr = addr;
        set(Key::ListenAddr, "--listen");
    }
    if let Some(id) = &cli.node_id {
        config.node_id = id.clone();
        set(Key::NodeId, "--node-id");
    }
    if let Some(count) = cli.shards {
        config.shard_count = count;
        set(Key::ShardCount, "--shards");
    }
    if let Some(mode) = cli.wal_recovery {
        config.storage.wal_recovery = mode;
        set(Key::WalRecovery, "--wal-recovery");
    }
}
