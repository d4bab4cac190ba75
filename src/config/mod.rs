//! Configuration: what TimberDB was asked to do, resolved once at start-up.
//!
//! Four sources are layered, from low to high precedence:
//!
//! 1. built-in defaults ([`defaults`]),
//! 2. a TOML file (`--config PATH` or `TIMBERDB_CONFIG`), using the section and key names the
//!    seed README promises ([`file`]),
//! 3. `TIMBERDB_*` environment variables ([`env`]),
//! 4. command-line flags ([`cli`]).
//!
//! Each layer writes straight into one [`Config`] and records, per [`Key`], where the value
//! came from. Type errors are reported by the layer that read the value; ranges and relations
//! between keys are checked once, after all layers are merged ([`validate`]), and the error
//! names the key the way its source spelled it (`storage.compression_level` in a file,
//! `TIMBERDB_COMPRESSION_LEVEL` in the environment, `--shards` on the command line).
//!
//! Why this shape: the engine reads plain structs with `pub` fields and never sees a source or
//! an `Option` it must default itself; every default lives in one place; and a misconfigured
//! node refuses to start with one sentence that says which key is wrong and what is expected.
//! Keys the seed README documents but TimberDB does not implement (raft, TLS, CORS, caches...)
//! are returned as warnings rather than errors, so a seed-style file still starts the server.
//!
//! Invariant: a [`Config`] returned by [`load_from`] has passed [`validate`]: `shard_count` is
//! at least 1, `wal_dir` is set, and every field is inside its documented range.

pub mod auth;
mod cli;
pub mod connections;
pub mod defaults;
mod env;
mod error;
mod file;
mod key;
pub mod protocols;
mod quotas;
mod summary;
pub mod tls;
mod validate;
mod value;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod client_tests;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use cli::ScrubArgs;
pub use error::{ConfigError, Result};
use key::Origins;
pub use protocols::{
    ElasticsearchConfig, FieldMapping, JsonLineConfig, LokiConfig, OtlpConfig, SyslogConfig,
};
pub use tls::{ClientAuth, ClientRole, TlsConfig};
/// The config's size syntax (`1048576`, `10GiB`), for API fields that take sizes too.
pub use value::size_bytes as parse_size_bytes;

/// Everything a TimberDB node needs to know to start. Built by [`load_from`]; read-only after.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Name of this node in logs and responses. Default: the hostname, or `"timberdb"`.
    pub node_id: String,
    /// Number of shards, i.e. executor threads, each pinned to a core with its own io_uring.
    /// `0` in any input means "one per available CPU"; always resolved to at least 1 here.
    pub shard_count: usize,
    pub storage: StorageConfig,
    pub network: NetworkConfig,
    pub api: ApiConfig,
    pub query: QueryConfig,
    pub logging: LoggingConfig,
    pub elasticsearch: ElasticsearchConfig,
    pub jsonline: JsonLineConfig,
    pub loki: LokiConfig,
    pub otlp: OtlpConfig,
    pub syslog: SyslogConfig,
    /// `[auth]`: API keys and roles (`crate::http::auth`).
    pub auth: auth::AuthConfig,
    /// `[audit]`: the audit log (`crate::auth::audit`).
    pub audit: auth::AuditConfig,
    /// `[tls]`: HTTPS and client certificates on the API port (off by default).
    pub tls: TlsConfig,
    /// `[connections]`: slow and idle clients' timeouts, connection caps.
    pub connections: connections::ConnectionsConfig,
    /// `[quotas]`: every API key's default quota (`crate::quota`); unlimited by default.
    pub quotas: crate::quota::QuotaLimits,
}

/// Where and how log data is made durable.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// Directory for sealed blocks and indexes; created at start if missing.
    pub data_dir: PathBuf,
    /// Directory for write-ahead-log segments. `<data_dir>/wal` unless set explicitly; put it
    /// on a separate fast device to keep fsync latency away from block writes.
    pub wal_dir: PathBuf,
    /// Where snapshots are written (`POST /api/v1/admin/snapshots`). `None`: `<data_dir>/snapshots`,
    /// on the data's filesystem so segment files are hard-linked, not copied.
    pub snapshot_dir: Option<PathBuf>,
    /// When the active block of a shard is sealed, compressed and written.
    pub block_rotation: BlockRotation,
    /// Codec for sealed blocks.
    pub compression: Compression,
    /// Codec level; checked for Zstd (1..=22) and Gzip (0..=9), ignored for the others.
    pub compression_level: i32,
    /// `true`: an ingest request is acknowledged only after its WAL records are fdatasync'ed.
    /// `false`: acknowledged after the write; synced every `fsync_interval_ms`.
    pub sync_writes: bool,
    /// Milliseconds between background syncs when `sync_writes` is false; the window of
    /// acknowledged data a power loss may take.
    pub fsync_interval_ms: u64,
    /// Delete blocks whose newest entry is older than this many days. `None`: keep forever.
    pub retention_days: Option<u32>,
    /// Delete the oldest blocks once sealed data exceeds this many bytes. `None`: no limit.
    pub max_storage_size_bytes: Option<u64>,
    /// Seconds between two retention passes of a shard's store worker (age and size
    /// budgets). A pass that had more to delete than one pass may does the rest at the next
    /// maintenance tick instead. TOML key `retention_check_interval`.
    pub retention_check_interval_seconds: u64,
    /// Size of one WAL segment file in bytes; a multiple of 4096 so O_DIRECT writes align.
    pub wal_segment_size_bytes: u64,
    /// WAL bytes (not yet covered by sealed blocks) after which ingest is pushed back.
    pub wal_size_max_bytes: u64,
    /// Bytes of not-yet-sealed block data one shard may hold in memory before ingest answers
    /// 503. TOML key `write_buffer_size`, as in the seed README.
    pub active_block_memory_max_bytes: u64,
    /// Bytes of granule word filters the node keeps in memory (split evenly between the
    /// shards); past it the least recently used are dropped and read again when a query
    /// needs them. TOML key `index_cache_size`.
    pub index_cache_bytes: u64,
    /// Bytes per second each shard's online scrub reads, unless a request names another
    /// rate. TOML key `scrub_rate`.
    pub scrub_rate_bytes_per_s: u64,
    /// What start-up does when a WAL segment holds damage (a bad record followed by valid
    /// records of its generation): refuse to start, or skip the damaged bytes and go on.
    /// TOML key `wal_recovery`.
    pub wal_recovery: WalRecovery,
    /// What a query or compaction does when a sealed block it reads fails its checksum:
    /// quarantine the block and go on without it, or fail. TOML key `on_damaged_block`.
    pub on_damaged_block: OnDamagedBlock,
}

/// What reading a damaged sealed block does (`docs/OPERATIONS.md`, "Damaged blocks").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDamagedBlock {
    /// Take the block out of the database on the record (a copy, a `quarantine.jsonl` line,
    /// a manifest `RemoveBlock`), answer with every other entry and say the answer is
    /// partial. The node keeps serving: one bad block never costs more than its own entries.
    #[default]
    Quarantine,
    /// Answer 500 naming the block, and leave it in place (for an operator who wants to
    /// examine the disk before anything is removed; `timberdb scrub --quarantine` later).
    Fail,
}

impl std::fmt::Display for OnDamagedBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OnDamagedBlock::Quarantine => "quarantine",
            OnDamagedBlock::Fail => "fail",
        })
    }
}

/// How WAL replay treats damage in the middle of a segment (`docs/FORMAT.md`, "Where
/// recovery stops"). A torn tail (the end of what was written) is never damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WalRecovery {
    /// Refuse to start, naming the file, the offset and what follows the damage: acknowledged
    /// entries are never dropped without an operator saying so.
    #[default]
    Strict,
    /// Skip only the damaged bytes, replay every valid record after them, and log how many
    /// entries were lost. For one start after `Strict` refused, once the cause is known.
    SkipDamaged,
}

impl std::fmt::Display for WalRecovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WalRecovery::Strict => "strict",
            WalRecovery::SkipDamaged => "skip_damaged",
        })
    }
}

/// When to seal the active block. Seed form: `block_rotation = { type = "size", value = N }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockRotation {
    /// Seal after the block has been open this many seconds.
    Time { seconds: u64 },
    /// Seal once the uncompressed block reaches this many bytes.
    Size { bytes: u64 },
    /// Seal after this many entries.
    Count { entries: u64 },
}

/// Codec for sealed blocks. Parsed case-insensitively; shown as in the seed README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
    Zstd,
    Snappy,
    Gzip,
}

/// Where the HTTP API listens.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// Address and port of the HTTP API (ingest, query, admin). Default `127.0.0.1:7777`.
    pub listen_addr: SocketAddr,
}

/// Limits of the HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// Largest accepted request body in bytes; larger bodies get 413 before being buffered.
    pub max_request_size_bytes: usize,
    /// Whether writing to a partition that does not exist through a
    /// shipper's protocol (an Elasticsearch index, a Loki tenant, an OTLP
    /// or syslog stream) creates it. The native API never creates one.
    pub auto_create_partitions: bool,
}

/// Limits of the query engine.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryConfig {
    /// Results returned when a query names no limit.
    pub default_limit: usize,
    /// Largest limit a query may ask for; bounds the memory of one result set.
    pub max_results: usize,
    /// Timeout in seconds for a query that names none.
    pub timeout_seconds: u64,
    /// Largest timeout in seconds a query may ask for.
    pub max_timeout_seconds: u64,
    /// Queries executing at once across the node; more get 429.
    pub max_concurrent_queries: usize,
    /// Bytes a JSON (non-streamed) query response may buffer before it is refused with 413
    /// `result_too_large`; NDJSON streaming responses are not subject to it.
    pub max_result_bytes: usize,
}

/// How the server logs.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    /// One of `trace`, `debug`, `info`, `warn`, `error` (stored lower-case).
    pub level: String,
    /// Line format of the server's own log.
    pub format: LogFormat,
}

/// Line format of the server's own log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// What the command line asked for, with the configuration to do it with.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve(Config),
    /// Check the environment (kernel, io_uring, memlock, directories) and exit.
    Check(Config),
    /// Build `config`'s data directory from the snapshot directory `from`, and exit.
    Restore { config: Config, from: PathBuf },
    /// Talk to a running server (`query`, `tail`, `partitions`, `snapshot`). The server's
    /// configuration is neither loaded nor validated: only its port may be read, to find it.
    Client(crate::client::Invocation),
    /// Scrub a stopped node's directories (`timberdb scrub`) and exit.
    Scrub(Config, ScrubArgs),
    /// Add an API key to a stopped node's data directory (`timberdb keys create --offline`).
    CreateKeyOffline {
        config: Config,
        spec: crate::client::args::OfflineKeySpec,
    },
}

impl Command {
    /// The server's configuration, for the commands that have one (not the client's).
    pub fn config(&self) -> Option<&Config> {
        match self {
            Command::Serve(config)
            | Command::Check(config)
            | Command::Restore { config, .. }
            | Command::CreateKeyOffline { config, .. } => Some(config),
            Command::Client(_) => None,
            Command::Scrub(config, _) => Some(config),
        }
    }

    fn config_mut(&mut self) -> Option<&mut Config> {
        match self {
            Command::Serve(config)
            | Command::Check(config)
            | Command::Restore { config, .. }
            | Command::CreateKeyOffline { config, .. } => Some(config),
            Command::Client(_) => None,
            Command::Scrub(config, _) => Some(config),
        }
    }
}

impl StorageConfig {
    /// The directory snapshots go in: `snapshot_dir`, or `<data_dir>/snapshots`.
    pub fn snapshot_root(&self) -> PathBuf {
        self.snapshot_dir.clone().unwrap_or_else(|| {
            self.data_dir
                .join(crate::storage::snapshot::SNAPSHOTS_DIR_NAME)
        })
    }

    /// Makes `data_dir` and `wal_dir` absolute against `cwd`, without touching the file system
    /// (so `timberdb check` can report on directories that do not exist yet). Relative paths
    /// from flags, the environment and the default are relative to the working directory;
    /// those from a config file were already made relative to the file's directory.
    /// glommio's directory handles do not accept relative paths, and every path after start-up
    /// is used in this form (the server then resolves symlinks once it has created them).
    pub fn make_paths_absolute(&mut self, cwd: &std::path::Path) {
        for dir in [&mut self.data_dir, &mut self.wal_dir]
            .into_iter()
            .chain(self.snapshot_dir.as_mut())
        {
            // `components` drops `.` segments; `..` stays for the kernel to resolve.
            *dir = cwd.join(&*dir).components().collect();
        }
    }
}

/// Result of loading: the command plus warnings (unknown keys) for the server to log.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub command: Command,
    /// One sentence each, e.g. "ignoring unknown key network.peers in x.toml: not implemented".
    pub warnings: Vec<String>,
}

/// Loads the configuration from the process's arguments and environment.
///
/// `--help` and `--version` print and exit the process with status 0, the usual clap way.
/// A usage error comes back as [`ConfigError::Usage`] (exit status 2 by
/// [`ConfigError::exit_code`]); every other problem is one sentence in the error's Display.
pub fn load() -> Result<Loaded> {
    let mut loaded = load_from(std::env::args_os(), &|name: &str| std::env::var(name).ok())?;
    if let Some(config) = loaded.command.config_mut() {
        let cwd =
            std::env::current_dir().map_err(|error| ConfigError::WorkingDirectory { error })?;
        config.storage.make_paths_absolute(&cwd);
        config.tls.make_paths_absolute(&cwd);
    }
    Ok(loaded)
}

/// Loads the configuration from explicit arguments (including the program name first) and an
/// environment lookup, so tests can inject both.
pub fn load_from(
    args: impl IntoIterator<Item = OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded> {
    let mut cli = match cli::parse(args) {
        Ok(cli) => cli,
        Err(err) if cli::is_help_or_version(&err) => err.exit(),
        Err(err) => return Err(ConfigError::usage(&err)),
    };
    let config_path = cli
        .config
        .clone()
        .or_else(|| env::lookup(env, env::CONFIG_VAR).map(PathBuf::from));
    // Taken out of `cli` (whose flags are applied below) to decide before any layer is read.
    let subcommand = match cli.command.take() {
        // `keys create --offline` writes into the server's data directory: it
        // needs the server's configuration, not a server.
        Some(cli::Subcommand::Client(command)) if command.offline_key_spec().is_some() => {
            Some(cli::Subcommand::Client(command))
        }
        Some(cli::Subcommand::Client(command)) => {
            return client_invocation(command, config_path, env);
        }
        other => other,
    };
    let mut config = Config::default();
    let mut origins = Origins::default();
    let mut warnings = Vec::new();

    if let Some(path) = config_path {
        let text = file::read(&path)?;
        file::apply(&mut config, &mut origins, &path, &text, &mut warnings)?;
    }
    env::apply(&mut config, &mut origins, env)?;
    cli::apply(&cli, &mut config, &mut origins);
    validate::resolve(&mut config, &origins)?;

    let command = match subcommand {
        Some(cli::Subcommand::Check) => Command::Check(config),
        Some(cli::Subcommand::Restore(args)) => Command::Restore {
            config,
            from: args.from,
        },
        Some(cli::Subcommand::Scrub(args)) => Command::Scrub(config, args),
        Some(cli::Subcommand::Client(command)) => {
            let spec = command
                .offline_key_spec()
                .expect("only `keys create --offline` reaches here");
            Command::CreateKeyOffline { config, spec }
        }
        // `serve`, no subcommand (a client subcommand returned above).
        _ => Command::Serve(config),
    };
    Ok(Loaded { command, warnings })
}

/// The environment variable naming the server the client subcommands talk to.
pub const SERVER_URL_VAR: &str = "TIMBERDB_SERVER";
/// The environment variable holding the client subcommands' API key (`--api-key`).
pub const API_KEY_VAR: &str = "TIMBERDB_API_KEY";

/// A client command with its default server URL: `TIMBERDB_SERVER`, else the loopback
/// address at the port of `network.listen_addr` in the config file (only that key is read),
/// else at the default port. Nothing is read when `--server` is given.
fn client_invocation(
    command: crate::client::ClientSubcommand,
    config_path: Option<PathBuf>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded> {
    let from_env = env::lookup(env, SERVER_URL_VAR);
    let default_server_url = match (command.server_flag(), from_env, config_path) {
        (Some(_), _, _) => String::new(),
        (None, Some(url), _) => url,
        (None, None, Some(path)) => {
            let listen_addr = file::listen_addr(&path, &file::read(&path)?)?;
            crate::client::local_server_url(listen_addr.unwrap_or(defaults::LISTEN_ADDR_DEFAULT))
        }
        (None, None, None) => crate::client::local_server_url(defaults::LISTEN_ADDR_DEFAULT),
    };
    let api_key = command
        .api_key_flag()
        .map(str::to_string)
        .or_else(|| env::lookup(env, API_KEY_VAR));
    let invocation = crate::client::Invocation {
        command,
        default_server_url,
        api_key,
    };
    Ok(Loaded {
        command: Command::Client(invocation),
        warnings: Vec::new(),
    })
}
