//! The syslog series of `/metrics`, one per shard like the others.

use std::fmt::Write;

use super::{ErrorReason, SyslogCounters};

/// Appends the syslog series for every shard's counters to `out`.
pub fn render(shards: &[SyslogCounters], out: &mut String) {
    let transports = [(0usize, "tcp"), (1, "udp")];
    series_header(
        out,
        "timberdb_syslog_messages_total",
        "counter",
        "Syslog messages durably stored.",
    );
    for (shard, counters) in shards.iter().enumerate() {
        for (index, transport) in transports {
            let value = counters.messages[index];
            let _ = writeln!(out, "timberdb_syslog_messages_total{{shard=\"{shard}\",transport=\"{transport}\"}} {value}");
        }
    }
    series_header(
        out,
        "timberdb_syslog_bytes_total",
        "counter",
        "Bytes of syslog messages durably stored (without framing).",
    );
    for (shard, counters) in shards.iter().enumerate() {
        for (index, transport) in transports {
            let value = counters.bytes[index];
            let _ = writeln!(out, "timberdb_syslog_bytes_total{{shard=\"{shard}\",transport=\"{transport}\"}} {value}");
        }
    }
    series_header(out, "timberdb_syslog_errors_total", "counter", "Syslog frames, messages and connections that were cut, kept whole, refused or lost, by reason.");
    for (shard, counters) in shards.iter().enumerate() {
        for (index, reason) in ErrorReason::ALL.iter().enumerate() {
            let value = counters.errors[index];
            let _ = writeln!(
                out,
                "timberdb_syslog_errors_total{{shard=\"{shard}\",reason=\"{}\"}} {value}",
                reason.label()
            );
        }
    }
    series_header(
        out,
        "timberdb_syslog_udp_dropped_total",
        "counter",
        "Syslog datagrams dropped (pending batch full or not storable).",
    );
    for (shard, counters) in shards.iter().enumerate() {
        let _ = writeln!(
            out,
            "timberdb_syslog_udp_dropped_total{{shard=\"{shard}\"}} {}",
            counters.udp_dropped
        );
    }
    series_header(
        out,
        "timberdb_syslog_connections_open",
        "gauge",
        "Syslog TCP connections open.",
    );
    for (shard, counters) in shards.iter().enumerate() {
        let _ = writeln!(
            out,
            "timberdb_syslog_connections_open{{shard=\"{shard}\"}} {}",
            counters.connections_open
        );
    }
}

fn series_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}
