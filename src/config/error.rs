//! Why a configuration was refused, as one sentence a user can act on.
//!
//! `Display` is the whole message (main prints it and exits); no variant relies on a
//! `source()` chain to be understood, so nothing is printed twice by `{:#}` formatters.

use std::path::PathBuf;

use super::key::{Key, Origins};

/// Result alias for the configuration layer.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// A configuration that cannot be used. Start-up stops on any of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The command line could not be parsed; `message` is clap's rendering with usage.
    #[error("invalid command line: {message}")]
    Usage { message: String },

    /// The configuration file named by `--config` / `TIMBERDB_CONFIG` could not be read.
    #[error("cannot read config file {}: {error}", path.display())]
    ReadFile {
        path: PathBuf,
        error: std::io::Error,
    },

    /// The configuration file is not valid TOML.
    #[error(
        "config error in {}: TOML syntax error at line {line}, column {column}: {message}",
        path.display()
    )]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// A known key holds a value of the wrong type or outside its range.
    /// `place` is the file path, "environment" or "command line"; `key` is spelled the way
    /// that source spells it; `value` is shown as written.
    #[error("config error in {place}: {key} = {value}: {expected}")]
    Invalid {
        place: String,
        key: String,
        value: String,
        expected: String,
    },

    /// The working directory, against which relative paths are resolved, cannot be read.
    #[error("cannot resolve relative paths: the working directory is unreadable: {error}")]
    WorkingDirectory { error: std::io::Error },

    /// The same setting was given twice in one source with different values.
    #[error("config error in {place}: {first} and {second} are both set; {advice}")]
    Conflict {
        place: String,
        first: String,
        second: String,
        advice: String,
    },
}

impl ConfigError {
    /// Process exit status for this error: 2 for usage errors (clap's convention), else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Usage { .. } => 2,
            _ => 1,
        }
    }

    /// Wraps a clap error, keeping its message and usage lines but not its `error:` prefix.
    pub(crate) fn usage(err: &clap::Error) -> ConfigError {
        let rendered = err.render().to_string();
        let message = rendered.trim().trim_start_matches("error: ").to_string();
        ConfigError::Usage { message }
    }

    /// A value outside its range, blamed on whichever source set `key` last.
    pub(crate) fn invalid(
        origins: &Origins,
        key: Key,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> ConfigError {
        let origin = origins.get(key);
        ConfigError::Invalid {
            place: origin.place(),
            key: origin.name(key),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
