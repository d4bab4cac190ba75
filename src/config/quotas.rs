//! `[quotas]`: the default quota of every API key (`crate::quota`). A key's
//! own settings (`keys.json`, the admin API) replace these one by one.
//! Every rate is `0` (unlimited) by default, so a node without this
//! section limits nobody. Quotas apply only with `auth.enabled`: they
//! belong to keys.

use super::auth::number;
use super::protocols::Setting;
use super::value;
use crate::quota::limits::{
    BURST_SECONDS_RANGE, BYTES_PER_SECOND_RANGE, CONCURRENT_QUERIES_RANGE, LINES_PER_SECOND_RANGE,
};

/// The settings of `[quotas]`, appended to the access-control settings
/// table (`config::auth`) so the file, the environment and the summary
/// read them with the others.
pub(super) fn push_settings(list: &mut Vec<Setting>) {
    list.extend([
        Setting {
            name: "quotas.lines_per_second",
            env: "TIMBERDB_QUOTAS_LINES_PER_SECOND",
            set: |c, v| {
                c.quotas.lines_per_second = number(v, value::unsigned, &LINES_PER_SECOND_RANGE)?;
                Ok(())
            },
            show: |c| Some(c.quotas.lines_per_second.to_string()),
        },
        Setting {
            name: "quotas.bytes_per_second",
            env: "TIMBERDB_QUOTAS_BYTES_PER_SECOND",
            set: |c, v| {
                c.quotas.bytes_per_second = number(v, value::size_bytes, &BYTES_PER_SECOND_RANGE)?;
                Ok(())
            },
            show: |c| Some(c.quotas.bytes_per_second.to_string()),
        },
        Setting {
            name: "quotas.burst_seconds",
            env: "TIMBERDB_QUOTAS_BURST_SECONDS",
            set: |c, v| {
                c.quotas.burst_seconds = number(v, value::unsigned, &BURST_SECONDS_RANGE)? as u32;
                Ok(())
            },
            show: |c| Some(c.quotas.burst_seconds.to_string()),
        },
        Setting {
            name: "quotas.concurrent_queries",
            env: "TIMBERDB_QUOTAS_CONCURRENT_QUERIES",
            set: |c, v| {
                let limit = number(v, value::unsigned, &CONCURRENT_QUERIES_RANGE)?;
                c.quotas.concurrent_queries = limit as u32;
                Ok(())
            },
            show: |c| Some(c.quotas.concurrent_queries.to_string()),
        },
    ]);
}

#[cfg(test)]
mod tests {
    use super::super::{load_from, Command};
    use std::ffi::OsString;

    fn serve(env: &[(&str, &str)], file: Option<&str>) -> Result<super::super::Config, String> {
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
    fn quotas_are_unlimited_by_default() {
        let config = serve(&[], None).expect("load");
        assert!(!config.quotas.is_limited());
        assert_eq!(
            config.quotas.burst_seconds,
            crate::quota::limits::BURST_SECONDS_DEFAULT
        );
    }

    #[test]
    fn the_file_and_the_environment_set_every_key() {
        let file = "[quotas]\nlines_per_second = 1000\nbytes_per_second = \"1MiB\"\n\
                    burst_seconds = 2\nconcurrent_queries = 4\n";
        let config = serve(&[("TIMBERDB_QUOTAS_CONCURRENT_QUERIES", "5")], Some(file))
            .expect("load");
        assert_eq!(config.quotas.lines_per_second, 1000);
        assert_eq!(config.quotas.bytes_per_second, 1 << 20);
        assert_eq!(config.quotas.burst_seconds, 2);
        assert_eq!(config.quotas.concurrent_queries, 5, "the environment wins");
        let summary = config.to_toml_summary();
        assert!(summary.contains("quotas.bytes_per_second = 1048576"), "{summary}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let error = serve(&[], Some("[quotas]\nburst_seconds = 0\n")).expect_err("bad");
        assert!(error.contains("quotas.burst_seconds"), "{error}");
        let error = serve(&[("TIMBERDB_QUOTAS_LINES_PER_SECOND", "-3")], None).expect_err("bad");
        assert!(error.contains("TIMBERDB_QUOTAS_LINES_PER_SECOND"), "{error}");
    }
}
