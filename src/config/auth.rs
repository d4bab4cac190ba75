//! `[auth]` and `[audit]`: API keys, the non-loopback rule, and the audit
//! log (see `crate::auth` and `crate::http::auth`). Described once as a
//! settings table, like the protocol sections, so the file, the
//! environment and the start-up summary read the same list.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use toml::Value;

use super::protocols::Setting;
use super::value::{self, Parsed};
use super::Config;

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthConfig {
    /// Every route but `/health` needs an API key (`/metrics` and `/ready`
    /// too, unless `public_metrics`). Default: off.
    pub enabled: bool,
    /// `/metrics` and `/ready` answer without a key even with auth on (for
    /// a scraper or a load balancer's probe on a trusted network).
    pub public_metrics: bool,
    /// Start with auth off although `network.listen_addr` (or a syslog
    /// listener) is not a loopback address. Without it such a start is
    /// refused: a node reachable from the network must not be open.
    pub allow_unauthenticated_remote: bool,
}

/// `[audit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Write the audit log. `None`: on exactly when `auth.enabled`.
    pub enabled: Option<bool>,
    /// The log file; `None`: `<data_dir>/audit/audit.log`. Absolute.
    pub path: Option<PathBuf>,
    /// Size at which the file is rotated (renamed to `.1`).
    pub max_file_size_bytes: u64,
    /// Rotated files kept besides the current one.
    pub max_files: u32,
    /// Authentication-failure lines written per second at most; the rest
    /// are counted in one summary line a second.
    pub auth_failures_per_second: u32,
}

pub const AUDIT_MAX_FILE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;
pub const AUDIT_MAX_FILE_BYTES_RANGE: RangeInclusive<u64> = 4096..=1 << 40;
pub const AUDIT_MAX_FILES_DEFAULT: u32 = 8;
pub const AUDIT_MAX_FILES_RANGE: RangeInclusive<u64> = 1..=1000;
pub const AUDIT_FAILURES_PER_SECOND_DEFAULT: u32 = 100;
pub const AUDIT_FAILURES_PER_SECOND_RANGE: RangeInclusive<u64> = 1..=100_000;

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: None,
            path: None,
            max_file_size_bytes: AUDIT_MAX_FILE_BYTES_DEFAULT,
            max_files: AUDIT_MAX_FILES_DEFAULT,
            auth_failures_per_second: AUDIT_FAILURES_PER_SECOND_DEFAULT,
        }
    }
}

impl Config {
    /// Whether the audit log is written (`audit.enabled`, else `auth.enabled`).
    pub fn audit_enabled(&self) -> bool {
        self.audit.enabled.unwrap_or(self.auth.enabled)
    }
}

/// The sections this module owns, for the file layer (`[quotas]` is
/// described in `config::quotas`).
pub(super) const SECTIONS: [&str; 3] = ["auth", "audit", "quotas"];

pub(super) fn settings() -> &'static [Setting] {
    &SETTINGS
}

static SETTINGS: std::sync::LazyLock<Vec<Setting>> = std::sync::LazyLock::new(|| {
    let mut list = vec![
        Setting {
            name: "auth.enabled",
            env: "TIMBERDB_AUTH_ENABLED",
            set: |c, v| flag(v).map(|b| c.auth.enabled = b),
            show: |c| Some(c.auth.enabled.to_string()),
        },
        Setting {
            name: "auth.public_metrics",
            env: "TIMBERDB_AUTH_PUBLIC_METRICS",
            set: |c, v| flag(v).map(|b| c.auth.public_metrics = b),
            show: |c| Some(c.auth.public_metrics.to_string()),
        },
        Setting {
            name: "auth.allow_unauthenticated_remote",
            env: "TIMBERDB_AUTH_ALLOW_UNAUTHENTICATED_REMOTE",
            set: |c, v| flag(v).map(|b| c.auth.allow_unauthenticated_remote = b),
            show: |c| Some(c.auth.allow_unauthenticated_remote.to_string()),
        },
        Setting {
            name: "audit.enabled",
            env: "TIMBERDB_AUDIT_ENABLED",
            set: |c, v| flag(v).map(|b| c.audit.enabled = Some(b)),
            show: |c| c.audit.enabled.map(|b| b.to_string()),
        },
        Setting {
            name: "audit.path",
            env: "TIMBERDB_AUDIT_PATH",
            set: |c, v| absolute_path(v).map(|p| c.audit.path = Some(p)),
            show: |c| c.audit.path.as_ref().map(|p| quoted(&p.to_string_lossy())),
        },
        Setting {
            name: "audit.max_file_size",
            env: "TIMBERDB_AUDIT_MAX_FILE_SIZE",
            set: |c, v| {
                let bytes = number(v, value::size_bytes, &AUDIT_MAX_FILE_BYTES_RANGE)?;
                c.audit.max_file_size_bytes = bytes;
                Ok(())
            },
            show: |c| Some(c.audit.max_file_size_bytes.to_string()),
        },
        Setting {
            name: "audit.max_files",
            env: "TIMBERDB_AUDIT_MAX_FILES",
            set: |c, v| {
                c.audit.max_files = number(v, value::unsigned, &AUDIT_MAX_FILES_RANGE)? as u32;
                Ok(())
            },
            show: |c| Some(c.audit.max_files.to_string()),
        },
        Setting {
            name: "audit.auth_failures_per_second",
            env: "TIMBERDB_AUDIT_AUTH_FAILURES_PER_SECOND",
            set: |c, v| {
                let rate = number(v, value::unsigned, &AUDIT_FAILURES_PER_SECOND_RANGE)?;
                c.audit.auth_failures_per_second = rate as u32;
                Ok(())
            },
            show: |c| Some(c.audit.auth_failures_per_second.to_string()),
        },
    ];
    super::quotas::push_settings(&mut list);
    list
});

/// A TOML boolean, or the environment's text (`true`, `1`, `yes`, `on`...).
fn flag(item: &Value) -> Parsed<bool> {
    match item {
        Value::Boolean(flag) => Ok(*flag),
        Value::String(text) => value::boolean(text),
        other => Err(format!("expected true or false, not {}", other.type_str())),
    }
}

fn absolute_path(item: &Value) -> Parsed<PathBuf> {
    match item {
        Value::String(text) if text.starts_with('/') => Ok(PathBuf::from(text)),
        _ => Err(
            "expected an absolute path in quotes, such as \"/var/log/timberdb/audit.log\"".into(),
        ),
    }
}

pub(super) fn number(
    item: &Value,
    parse: fn(&str) -> Parsed<u64>,
    range: &RangeInclusive<u64>,
) -> Parsed<u64> {
    let parsed = match item {
        Value::String(text) => parse(text)?,
        other => parse(&other.to_string())?,
    };
    if !range.contains(&parsed) {
        return Err(format!(
            "expected a value between {} and {}",
            range.start(),
            range.end()
        ));
    }
    Ok(parsed)
}

fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{load_from, Command};
    use std::ffi::OsString;

    /// The server configuration `env` and the config file `file` load to,
    /// or the load error's text (also used by the other settings tables).
    pub(in crate::config) fn serve(
        env: &[(&str, &str)],
        file: Option<&str>,
    ) -> Result<super::Config, String> {
        let dir = tempfile::tempdir().expect("dir");
        let mut args: Vec<OsString> = vec!["timberdb".into()];
        if let Some(text) = file {
            let path = dir.path().join("t.toml");
            std::fs::write(&path, text).expect("write");
            args.push("--config".into());
            args.push(path.into_os_string());
        }
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        match load_from(args, &lookup).map_err(|e| e.to_string())?.command {
            Command::Serve(config) => Ok(config),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auth_is_off_by_default_and_audit_follows_it() {
        let config = serve(&[], None).expect("load");
        assert!(!config.auth.enabled);
        assert!(!config.audit_enabled());
        let config = serve(&[("TIMBERDB_AUTH_ENABLED", "true")], None).expect("load");
        assert!(config.auth.enabled && config.audit_enabled());
    }

    #[test]
    fn the_file_and_the_environment_set_every_key() {
        let file = "[auth]\nenabled = true\npublic_metrics = true\n\
                    [audit]\nenabled = false\npath = \"/tmp/a.log\"\nmax_file_size = \"1MiB\"\nmax_files = 3\n";
        let config = serve(&[("TIMBERDB_AUDIT_MAX_FILES", "4")], Some(file)).expect("load");
        assert!(config.auth.enabled && config.auth.public_metrics);
        assert!(!config.audit_enabled());
        assert_eq!(config.audit.max_file_size_bytes, 1 << 20);
        assert_eq!(
            config.audit.max_files, 4,
            "the environment wins over the file"
        );
        let summary = config.to_toml_summary();
        assert!(summary.contains("auth.enabled = true"), "{summary}");
        assert!(summary.contains("audit.max_files = 4"), "{summary}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let error = serve(&[("TIMBERDB_AUTH_ENABLED", "maybe")], None).expect_err("bad");
        assert!(error.contains("TIMBERDB_AUTH_ENABLED"), "{error}");
        let error = serve(&[], Some("[audit]\npath = \"relative.log\"\n")).expect_err("bad");
        assert!(error.contains("audit.path"), "{error}");
        let error = serve(&[], Some("[audit]\nmax_files = 0\n")).expect_err("bad");
        assert!(error.contains("audit.max_files"), "{error}");
    }

    #[test]
    fn quotas_are_unlimited_by_default() {
        let config = serve(&[], None).expect("load");
        assert!(!config.quotas.is_limited());
        assert_eq!(
            config.quotas.burst_seconds,
            crate::quota::limits::BURST_SECONDS_DEFAULT
        );
    }

    #[test]
    fn quotas_come_from_the_file_and_the_environment() {
        let file = "[quotas]\nlines_per_second = 1000\nbytes_per_second = \"1MiB\"\n\
                    burst_seconds = 2\nconcurrent_queries = 4\n";
        let config =
            serve(&[("TIMBERDB_QUOTAS_CONCURRENT_QUERIES", "5")], Some(file)).expect("load");
        assert_eq!(config.quotas.lines_per_second, 1000);
        assert_eq!(config.quotas.bytes_per_second, 1 << 20);
        assert_eq!(config.quotas.burst_seconds, 2);
        assert_eq!(config.quotas.concurrent_queries, 5, "the environment wins");
        let summary = config.to_toml_summary();
        assert!(
            summary.contains("quotas.bytes_per_second = 1048576"),
            "{summary}"
        );
    }

    #[test]
    fn bad_quotas_name_the_key() {
        let error = serve(&[], Some("[quotas]\nburst_seconds = 0\n")).expect_err("bad");
        assert!(error.contains("quotas.burst_seconds"), "{error}");
        let error = serve(&[("TIMBERDB_QUOTAS_LINES_PER_SECOND", "-3")], None).expect_err("bad");
        assert!(
            error.contains("TIMBERDB_QUOTAS_LINES_PER_SECOND"),
            "{error}"
        );
    }
}
