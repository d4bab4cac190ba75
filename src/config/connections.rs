//! `[connections]`: how long a client may take to send a request, how long
//! an idle keep-alive connection is kept, and how many connections one
//! address and one shard may hold open (`crate::http::watchdog`,
//! `crate::http::admission`). Described as a settings table, like `[auth]`,
//! so the file, the environment and the start-up summary read one list.
//!
//! Why these defaults: a request head is a few hundred bytes that a working
//! client sends at once, so 10 s is generous; a body is timed by progress
//! (no byte for 30 s), not as a whole, so a large body on a slow link is
//! never cut while bytes keep coming; 60 s of keep-alive outlasts shippers'
//! flush intervals (Filebeat, Vector and Promtail flush every 1-10 s).

use std::ops::RangeInclusive;
use std::time::Duration;

use super::auth::number;
use super::protocols::Setting;
use super::value;

/// `[connections]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionsConfig {
    /// Longest a request head may take to arrive, from its first byte (or,
    /// for a connection's first request, from the accept). Past it: 408.
    pub header_read_timeout: Duration,
    /// Longest a request body may go without a byte arriving. Past it: 408.
    pub body_read_timeout: Duration,
    /// Longest a keep-alive connection may wait for its next request, and a
    /// response may wait for the client to read any of it. Past it: closed.
    pub idle_timeout: Duration,
    /// Connections one client address (an IPv6 /64) may hold open on one
    /// shard; the one past it is answered 429 and closed.
    pub max_per_address: usize,
    /// Connections one shard holds open; the one past it is answered 503
    /// and closed. Each idle one costs 5-18 KiB (`docs/BENCHMARKS.md`).
    pub max_per_shard: usize,
}

pub const HEADER_READ_TIMEOUT_MS_DEFAULT: u64 = 10_000;
pub const BODY_READ_TIMEOUT_MS_DEFAULT: u64 = 30_000;
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 60_000;
/// Range of every `*_timeout_ms` key: 100 ms to one hour.
pub const TIMEOUT_MS_RANGE: RangeInclusive<u64> = 100..=3_600_000;
/// Per shard. A client behind one NAT, or a proxy on loopback, needs more
/// than one connection, but no single client needs thousands.
pub const MAX_PER_ADDRESS_DEFAULT: usize = 256;
/// Per shard: 10 000 idle keep-alive connections cost about 180 MiB.
pub const MAX_PER_SHARD_DEFAULT: usize = 10_000;
/// Range of both connection counts.
pub const CONNECTIONS_RANGE: RangeInclusive<u64> = 1..=1_000_000;

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig {
            header_read_timeout: Duration::from_millis(HEADER_READ_TIMEOUT_MS_DEFAULT),
            body_read_timeout: Duration::from_millis(BODY_READ_TIMEOUT_MS_DEFAULT),
            idle_timeout: Duration::from_millis(IDLE_TIMEOUT_MS_DEFAULT),
            max_per_address: MAX_PER_ADDRESS_DEFAULT,
            max_per_shard: MAX_PER_SHARD_DEFAULT,
        }
    }
}

/// The sections this module owns, for the file layer.
pub(super) const SECTIONS: [&str; 1] = ["connections"];

pub(super) fn settings() -> &'static [Setting] {
    &SETTINGS
}

static SETTINGS: [Setting; 5] = [
    Setting {
        name: "connections.header_read_timeout_ms",
        env: "TIMBERDB_CONNECTIONS_HEADER_READ_TIMEOUT_MS",
        set: |c, v| timeout(v).map(|t| c.connections.header_read_timeout = t),
        show: |c| Some(c.connections.header_read_timeout.as_millis().to_string()),
    },
    Setting {
        name: "connections.body_read_timeout_ms",
        env: "TIMBERDB_CONNECTIONS_BODY_READ_TIMEOUT_MS",
        set: |c, v| timeout(v).map(|t| c.connections.body_read_timeout = t),
        show: |c| Some(c.connections.body_read_timeout.as_millis().to_string()),
    },
    Setting {
        name: "connections.idle_timeout_ms",
        env: "TIMBERDB_CONNECTIONS_IDLE_TIMEOUT_MS",
        set: |c, v| timeout(v).map(|t| c.connections.idle_timeout = t),
        show: |c| Some(c.connections.idle_timeout.as_millis().to_string()),
    },
    Setting {
        name: "connections.max_per_address",
        env: "TIMBERDB_CONNECTIONS_MAX_PER_ADDRESS",
        set: |c, v| count(v).map(|n| c.connections.max_per_address = n),
        show: |c| Some(c.connections.max_per_address.to_string()),
    },
    Setting {
        name: "connections.max_per_shard",
        env: "TIMBERDB_CONNECTIONS_MAX_PER_SHARD",
        set: |c, v| count(v).map(|n| c.connections.max_per_shard = n),
        show: |c| Some(c.connections.max_per_shard.to_string()),
    },
];

fn timeout(item: &toml::Value) -> value::Parsed<Duration> {
    number(item, value::unsigned, &TIMEOUT_MS_RANGE).map(Duration::from_millis)
}

fn count(item: &toml::Value) -> value::Parsed<usize> {
    number(item, value::unsigned, &CONNECTIONS_RANGE).map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::super::auth::tests::serve;
    use std::time::Duration;

    #[test]
    fn defaults_file_environment_and_summary() {
        let config = serve(&[], None).expect("load");
        assert_eq!(config.connections, super::ConnectionsConfig::default());
        let file = "[connections]\nheader_read_timeout_ms = 1500\nidle_timeout_ms = 2000\n\
                    max_per_address = 4\nmax_per_shard = 100\n";
        let env = [("TIMBERDB_CONNECTIONS_IDLE_TIMEOUT_MS", "2500")];
        let config = serve(&env, Some(file)).expect("load");
        let connections = &config.connections;
        assert_eq!(connections.header_read_timeout, Duration::from_millis(1500));
        assert_eq!(
            connections.idle_timeout,
            Duration::from_millis(2500),
            "env wins"
        );
        assert_eq!(connections.body_read_timeout, Duration::from_secs(30));
        assert_eq!(
            (connections.max_per_address, connections.max_per_shard),
            (4, 100)
        );
        let summary = config.to_toml_summary();
        assert!(
            summary.contains("connections.idle_timeout_ms = 2500"),
            "{summary}"
        );
        assert!(
            summary.contains("connections.max_per_shard = 100"),
            "{summary}"
        );
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let error = serve(&[], Some("[connections]\nidle_timeout_ms = 5\n")).expect_err("bad");
        assert!(error.contains("connections.idle_timeout_ms"), "{error}");
        let env = [("TIMBERDB_CONNECTIONS_MAX_PER_SHARD", "0")];
        let error = serve(&env, None).expect_err("bad");
        assert!(
            error.contains("TIMBERDB_CONNECTIONS_MAX_PER_SHARD"),
            "{error}"
        );
    }
}
