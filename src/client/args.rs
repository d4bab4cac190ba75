//! The client subcommands' command line: `timberdb query|tail|partitions|snapshot ...`.
//!
//! These are flattened into the server's own `timberdb` command line
//! ([`crate::config`]), so `timberdb --help` lists them beside `serve` and `check`, but
//! nothing here touches the server's configuration: a client needs only the server's URL.
//! Unlike the server's flags, these carry clap defaults (`--limit 100`): they are not layered
//! over a file and the environment.

use clap::{Args, Subcommand};

/// Entries a query prints when `--limit` is not given.
pub const QUERY_LIMIT_DEFAULT: usize = 100;

/// A command that talks to a running server over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ClientSubcommand {
    /// Search entries and print them (a client of a running server).
    #[command(after_help = QUERY_AFTER_HELP)]
    Query(QueryArgs),
    /// Print new entries as they arrive, until interrupted (a client of a running server).
    Tail(TailArgs),
    /// List, create and delete partitions (a client of a running server).
    Partitions(PartitionsArgs),
    /// Create, list and delete snapshots of the data (a client of a running server).
    /// Without an action: create one.
    Snapshot(SnapshotArgs),
    /// Create, list and revoke API keys (a client of a running server; `create --offline`
    /// writes into a stopped server's data directory instead).
    Keys(KeysArgs),
}

const QUERY_AFTER_HELP: &str = "\
QUERY is the query language of docs/API.md: search terms (level:error \"connection reset\"
-healthcheck source:web-*) or SELECT ... WHERE ...
On a terminal entries are printed aligned and coloured, through a pager when they are longer
than the screen; piped, one JSON object per entry (NDJSON). Exit status: 0 success, 1 the
server refused the request or answered unexpectedly, 2 bad command line, 3 the server cannot
be reached. Details: docs/CLI.md.";

/// Where the server is. Every client subcommand takes it.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ServerArg {
    /// Base URL of the TimberDB server, e.g. http://10.0.0.5:7777.
    /// Default: $TIMBERDB_SERVER, else http://127.0.0.1:<port of network.listen_addr in --config>,
    /// else http://127.0.0.1:7777
    #[arg(long, value_name = "URL", global = true)]
    pub server: Option<String>,
    /// API key sent as `Authorization: Bearer KEY` (servers with auth on need one).
    /// Default: $TIMBERDB_API_KEY
    #[arg(long, value_name = "KEY", global = true)]
    pub api_key: Option<String>,
}

/// How entries are shown on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct DisplayArgs {
    /// Show times in UTC (default: local time, from TZ or /etc/localtime).
    #[arg(long)]
    pub utc: bool,
    /// No ANSI colours (also when NO_COLOR is set to anything but "").
    #[arg(long)]
    pub no_color: bool,
}

/// `timberdb query`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct QueryArgs {
    /// What to search for, in the query language (default: every entry).
    #[arg(value_name = "QUERY")]
    pub query: Option<String>,
    /// Only entries at or after this time: a duration back from now (30s, 15m, 1h, 2d, 1h30m)
    /// or a timestamp (RFC 3339 or a number since the epoch).
    #[arg(long, value_name = "WHEN", value_parser = super::timespec::parse_bound)]
    pub since: Option<super::timespec::TimeBound>,
    /// Only entries before this time (same forms as --since).
    #[arg(long, value_name = "WHEN", value_parser = super::timespec::parse_bound)]
    pub until: Option<super::timespec::TimeBound>,
    /// Search this partition (name or id); repeat for several. Default: all.
    #[arg(long = "partition", short = 'p', value_name = "NAME")]
    pub partitions: Vec<String>,
    /// Entries to print at most.
    #[arg(long, short = 'n', value_name = "N", default_value_t = QUERY_LIMIT_DEFAULT)]
    pub limit: usize,
    /// Oldest first (default: newest first).
    #[arg(long)]
    pub asc: bool,
    /// Print only the number of matching entries (counted exactly by the server).
    #[arg(long, conflicts_with = "ndjson")]
    pub count: bool,
    /// Print how the query ran (time, blocks scanned and skipped, entries scanned) on stderr.
    #[arg(long)]
    pub stats: bool,
    /// Print the server's whole JSON answer (one line per page of answers).
    #[arg(long, conflicts_with = "ndjson")]
    pub json: bool,
    /// Print one JSON object per entry, also on a terminal (the default when piped).
    #[arg(long)]
    pub ndjson: bool,
    /// Print straight to the terminal, never through a pager.
    #[arg(long)]
    pub no_pager: bool,
    #[command(flatten)]
    pub display: DisplayArgs,
    #[command(flatten)]
    pub server: ServerArg,
}

/// `timberdb tail`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct TailArgs {
    /// Which new entries to print, in the query language's search form (default: all).
    #[arg(value_name = "QUERY")]
    pub query: Option<String>,
    /// Follow this partition (name or id); repeat for several. Default: all.
    #[arg(long = "partition", short = 'p', value_name = "NAME")]
    pub partitions: Vec<String>,
    /// First print the entries of this recent past (e.g. 5m), then follow.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Print one JSON object per entry, also on a terminal (the default when piped).
    #[arg(long)]
    pub ndjson: bool,
    #[command(flatten)]
    pub display: DisplayArgs,
    #[command(flatten)]
    pub server: ServerArg,
}

/// `timberdb partitions`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct PartitionsArgs {
    #[command(subcommand)]
    pub action: PartitionsAction,
    /// No ANSI colours (also when NO_COLOR is set to anything but "").
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

/// What to do with partitions.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum PartitionsAction {
    /// List partitions: a table on a terminal, the server's JSON when piped.
    #[command(visible_alias = "list")]
    Ls {
        /// Print the server's JSON answer, also on a terminal.
        #[arg(long)]
        json: bool,
    },
    /// Create a partition.
    Create {
        /// The new partition's name (1-128 of A-Z a-z 0-9 _ - .).
        name: String,
        /// Keep entries this many days.
        #[arg(long, value_name = "N")]
        retention_days: Option<u32>,
        /// A tag of the partition, KEY=VALUE; repeat for several.
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
    },
    /// Delete a partition and all its entries.
    #[command(visible_alias = "delete")]
    Rm {
        /// The partition's name or id.
        name: String,
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `timberdb snapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub action: Option<SnapshotAction>,
    /// No ANSI colours (also when NO_COLOR is set to anything but "").
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

/// What to do with snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SnapshotAction {
    /// Take a consistent snapshot of every partition (the default action).
    Create {
        /// Its name (default: chosen by the server from the time).
        name: Option<String>,
    },
    /// List snapshots: a table on a terminal, the server's JSON when piped.
    #[command(visible_alias = "list")]
    Ls {
        /// Print the server's JSON answer, also on a terminal.
        #[arg(long)]
        json: bool,
    },
    /// Delete a snapshot.
    #[command(visible_alias = "delete")]
    Rm {
        /// The snapshot's name.
        name: String,
    },
}

/// `timberdb keys`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub action: KeysAction,
    #[command(flatten)]
    pub server: ServerArg,
}

/// What to do with API keys.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum KeysAction {
    /// List keys (ids, roles, partitions; never secrets): the server's JSON.
    #[command(visible_alias = "list")]
    Ls,
    /// Create a key and print it (it is shown only this once).
    Create {
        /// ingest (write), query (read) or admin (everything).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// A partition name or glob (web-*) the key may use; repeat for several.
        /// Default: every partition.
        #[arg(long = "partition", short = 'p', value_name = "NAME")]
        partitions: Vec<String>,
        /// A note for people ("filebeat on web-3").
        #[arg(long, value_name = "TEXT")]
        name: Option<String>,
        /// Write the key into the data directory (--data-dir, --config) of a STOPPED
        /// server instead of asking a running one: how the first admin key is made.
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    /// Change a key's quota on every shard at once (settings not given are kept).
    Update {
        /// The key's id (the 12 hex digits after `tdb_`).
        id: String,
        #[command(flatten)]
        quota: QuotaArgs,
        /// First return every setting to the server's `[quotas]` default.
        #[arg(long)]
        default_quota: bool,
    },
    /// Revoke a key: it is refused on every connection once this returns.
    #[command(visible_alias = "revoke")]
    Rm {
        /// The key's id (the 12 hex digits after `tdb_`).
        id: String,
    },
}

/// A key's own quota (docs/API.md "Quotas"): each flag replaces the server's
/// `[quotas]` default for the key; 0 is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct QuotaArgs {
    /// Log lines a second the key may send (0: unlimited).
    #[arg(long, value_name = "N")]
    pub lines_per_second: Option<u64>,
    /// Request body bytes a second: a number or a size such as 10MiB (0: unlimited).
    #[arg(long, value_name = "SIZE")]
    pub bytes_per_second: Option<String>,
    /// Seconds of each rate the key may send at once after a quiet spell.
    #[arg(long, value_name = "SECONDS")]
    pub burst_seconds: Option<u32>,
    /// Queries (tails included) the key may have running at once (0: unlimited).
    #[arg(long, value_name = "N")]
    pub concurrent_queries: Option<u32>,
}

impl QuotaArgs {
    /// The flags as a JSON merge patch over a key's quota; with `reset`,
    /// settings not given return to the default (`null`).
    pub fn patch(&self, reset: bool) -> serde_json::Value {
        use serde_json::{json, Value};
        let mut patch = serde_json::Map::new();
        let fields = [
            ("lines_per_second", self.lines_per_second.map(|n| json!(n))),
            (
                "bytes_per_second",
                self.bytes_per_second.as_ref().map(|s| json!(s)),
            ),
            ("burst_seconds", self.burst_seconds.map(|n| json!(n))),
            (
                "concurrent_queries",
                self.concurrent_queries.map(|n| json!(n)),
            ),
        ];
        for (name, value) in fields {
            match (value, reset) {
                (Some(value), _) => patch.insert(name.to_string(), value),
                (None, true) => patch.insert(name.to_string(), Value::Null),
                (None, false) => None,
            };
        }
        Value::Object(patch)
    }
}

impl ClientSubcommand {
    /// The `--server` flag, whichever the subcommand.
    pub fn server_flag(&self) -> Option<&str> {
        self.server_arg().server.as_deref()
    }

    /// The `--api-key` flag, whichever the subcommand.
    pub fn api_key_flag(&self) -> Option<&str> {
        self.server_arg().api_key.as_deref()
    }

    fn server_arg(&self) -> &ServerArg {
        match self {
            ClientSubcommand::Query(args) => &args.server,
            ClientSubcommand::Tail(args) => &args.server,
            ClientSubcommand::Partitions(args) => &args.server,
            ClientSubcommand::Snapshot(args) => &args.server,
            ClientSubcommand::Keys(args) => &args.server,
        }
    }

    /// The spec of `keys create --offline`, which runs without a server.
    pub fn offline_key_spec(&self) -> Option<OfflineKeySpec> {
        match self {
            ClientSubcommand::Keys(KeysArgs {
                action:
                    KeysAction::Create {
                        role,
                        partitions,
                        name,
                        offline: true,
                        quota,
                    },
                ..
            }) => Some(OfflineKeySpec {
                role: role.clone(),
                partitions: partitions.clone(),
                name: name.clone(),
                quota: quota.clone(),
            }),
            _ => None,
        }
    }
}

/// What `keys create --offline` makes, as the command line gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineKeySpec {
    pub role: String,
    pub partitions: Vec<String>,
    pub name: Option<String>,
    pub quota: QuotaArgs,
}

/// `KEY=VALUE` of `--tag`; the key must not be empty (the server checks the rest).
fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_split_at_its_first_equals_sign() {
        assert_eq!(
            parse_tag("env=a=b"),
            Ok(("env".to_string(), "a=b".to_string()))
        );
        assert_eq!(parse_tag("env="), Ok(("env".to_string(), String::new())));
        assert!(parse_tag("=x").is_err());
        assert!(parse_tag("novalue").is_err());
    }
}
