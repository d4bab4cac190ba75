//! Parsers from text to typed configuration values, shared by the environment, the flags and
//! the string forms accepted in TOML.
//!
//! Each parser returns `Err(expected)`: the phrase after "expected" in the final message, so
//! a user reads the same explanation whichever source held the bad value. Parsers check form
//! only; ranges and relations between keys are checked in [`super::validate`] once all layers
//! are merged.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::defaults::{LOG_LEVELS, NODE_ID_LENGTH_MAX};
use super::{BlockRotation, Compression, LogFormat, OnDamagedBlock, WalRecovery};

/// Parse result: the value, or what was expected instead.
pub type Parsed<T> = std::result::Result<T, String>;

pub const EXPECTED_COMPRESSION: &str = "expected one of None, LZ4, Zstd, Snappy, Gzip";
pub const EXPECTED_BLOCK_ROTATION: &str = "expected { type = \"time\" | \"size\" | \"count\", \
     value = N } (seconds, bytes of uncompressed block, or entries), or \"size:8388608\"";
pub const EXPECTED_SIZE: &str =
    "expected a size in bytes: a whole number, optionally with KiB, MiB, GiB or TiB";

/// A node id: 1..=64 ASCII letters, digits, `-`, `_` or `.` (safe in paths, headers, logs).
pub fn node_id(text: &str) -> Parsed<String> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if text.is_empty() || text.len() > NODE_ID_LENGTH_MAX || !text.chars().all(valid_char) {
        return Err(format!(
            "expected 1 to {NODE_ID_LENGTH_MAX} characters of A-Z, a-z, 0-9, '-', '_' or '.'"
        ));
    }
    Ok(text.to_string())
}

/// A non-empty path.
pub fn path(text: &str) -> Parsed<PathBuf> {
    if text.is_empty() {
        return Err("expected a non-empty path".to_string());
    }
    Ok(PathBuf::from(text))
}

/// `true`/`false`, also `1`/`0`, `yes`/`no`, `on`/`off` (any case) for environment use.
pub fn boolean(text: &str) -> Parsed<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_string()),
    }
}

/// A non-negative whole number.
pub fn unsigned(text: &str) -> Parsed<u64> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| "expected a non-negative whole number".to_string())
}

/// A shard count: a whole number, with `0` or `auto` meaning one shard per CPU.
pub fn shards(text: &str) -> Parsed<usize> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("auto") {
        return Ok(0);
    }
    text.parse::<usize>()
        .map_err(|_| "expected a whole number of shards, or 0 / \"auto\" for one per CPU".into())
}

/// A size in bytes: `16777216`, `16MiB`, `16 MiB`, `1GiB` (binary units only).
pub fn size_bytes(text: &str) -> Parsed<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(EXPECTED_SIZE.to_string()),
    };
    let count: u64 = digits.parse().map_err(|_| EXPECTED_SIZE.to_string())?;
    count
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{EXPECTED_SIZE}, at most {} bytes", u64::MAX))
}

/// An optional size: `none` clears it, anything else is [`size_bytes`].
pub fn optional_size_bytes(text: &str) -> Parsed<Option<u64>> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    size_bytes(text).map(Some)
}

/// Days of retention: a whole number, or `none` to keep data forever.
pub fn retention_days(text: &str) -> Parsed<Option<u32>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    text.parse::<u32>()
        .map(Some)
        .map_err(|_| "expected a whole number of days, or \"none\" to keep data forever".into())
}

/// An IP address and port, e.g. `127.0.0.1:7777` or `[::1]:7777`.
pub fn socket_addr(text: &str) -> Parsed<SocketAddr> {
    text.trim().parse::<SocketAddr>().map_err(|_| {
        "expected an IP address and port such as 127.0.0.1:7777 or [::1]:7777".to_string()
    })
}

/// A WAL recovery mode, any case: `strict` or `skip_damaged` (`skip-damaged` too).
pub fn wal_recovery(text: &str) -> Parsed<WalRecovery> {
    match text.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "strict" => Ok(WalRecovery::Strict),
        "skip_damaged" => Ok(WalRecovery::SkipDamaged),
        _ => Err(
            "expected \"strict\" (refuse to start on WAL damage) or \"skip_damaged\" \
                  (skip the damaged records, losing their entries)"
                .to_string(),
        ),
    }
}

/// What reading a damaged block does, any case: `quarantine` or `fail`.
pub fn on_damaged_block(text: &str) -> Parsed<OnDamagedBlock> {
    match text.trim().to_ascii_lowercase().as_str() {
        "quarantine" => Ok(OnDamagedBlock::Quarantine),
        "fail" => Ok(OnDamagedBlock::Fail),
        _ => Err(
            "expected \"quarantine\" (remove a damaged block on the record and serve the rest) \
             or \"fail\" (answer 500 and leave the block in place)"
                .to_string(),
        ),
    }
}

/// A codec name, any case.
pub fn compression(text: &str) -> Parsed<Compression> {
    match text.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(Compression::None),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        "snappy" => Ok(Compression::Snappy),
        "gzip" => Ok(Compression::Gzip),
        _ => Err(EXPECTED_COMPRESSION.to_string()),
    }
}

/// A codec level (range depends on the codec; checked in validation).
pub fn compression_level(text: &str) -> Parsed<i32> {
    text.trim()
        .parse::<i32>()
        .map_err(|_| "expected a whole number (Zstd 1..=22, Gzip 0..=9)".to_string())
}

/// The environment form `size:8388608`, `time:3600`, `count:100000`.
pub fn block_rotation(text: &str) -> Parsed<BlockRotation> {
    let (kind, amount) = text.split_once(':').ok_or(EXPECTED_BLOCK_ROTATION)?;
    let amount = if kind.trim().eq_ignore_ascii_case("size") {
        size_bytes(amount)
    } else {
        unsigned(amount)
    };
    block_rotation_parts(
        kind,
        amount.map_err(|_| EXPECTED_BLOCK_ROTATION.to_string())?,
    )
}

/// A rotation from its kind (`time`, `size`, `count`, any case) and amount.
pub fn block_rotation_parts(kind: &str, amount: u64) -> Parsed<BlockRotation> {
    match kind.trim().to_ascii_lowercase().as_str() {
        "time" => Ok(BlockRotation::Time { seconds: amount }),
        "size" => Ok(BlockRotation::Size { bytes: amount }),
        "count" => Ok(BlockRotation::Count { entries: amount }),
        _ => Err(EXPECTED_BLOCK_ROTATION.to_string()),
    }
}

/// A log level, stored lower-case.
pub fn log_level(text: &str) -> Parsed<String> {
    let level = text.trim().to_ascii_lowercase();
    if LOG_LEVELS.contains(&level.as_str()) {
        Ok(level)
    } else {
        Err(format!("expected one of {}", LOG_LEVELS.join(", ")))
    }
}

/// `plain` or `json`, any case.
pub fn log_format(text: &str) -> Parsed<LogFormat> {
    match text.trim().to_ascii_lowercase().as_str() {
        "plain" => Ok(LogFormat::Plain),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected plain or json".to_string()),
    }
}

impl fmt::Display for Compression {
    /// The seed README's spelling, which [`compression`] parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "None",
            Compression::Lz4 => "LZ4",
            Compression::Zstd => "Zstd",
            Compression::Snappy => "Snappy",
            Compression::Gzip => "Gzip",
        })
    }
}

impl BlockRotation {
    /// The TOML `type` and `value` of this rotation.
    pub fn parts(&self) -> (&'static str, u64) {
        match *self {
            BlockRotation::Time { seconds } => ("time", seconds),
            BlockRotation::Size { bytes } => ("size", bytes),
            BlockRotation::Count { entries } => ("count", entries),
        }
    }
}

impl fmt::Display for BlockRotation {
    /// The environment form, which [`block_rotation`] parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, amount) = self.parts();
        write!(f, "{kind}:{amount}")
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Plain => "plain",
            LogFormat::Json => "json",
        })
    }
}
