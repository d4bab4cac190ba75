//! `[quotas]`: the default quota of every API key (`crate::quota`). A key's
//! own settings (`keys.json`, the admin API) replace these one by one.
//! Every rate is `0` (unlimited) by default, so a node without this
//! section limits nobody. Quotas apply only with `auth.enabled`: they
//! belong to keys. Tested with the other access-control settings in
//! `config::auth`.

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
