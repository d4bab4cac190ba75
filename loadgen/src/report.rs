//! The results of a run: the JSON document `--json` writes and the text
//! summary printed at the end.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Serialize, Serializer};

use crate::cli::IngestArgs;
use crate::stats::{CounterSnapshot, LatencySummary};
use crate::timberdb::ServerInfo;
use crate::units::{si, thousands};
use crate::verify::VerifyReport;

pub fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

pub fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// What an ingest run measured, over the measured period (after warm-up).
#[derive(Clone, Debug, Serialize)]
pub struct IngestResults {
    pub measured_seconds: f64,
    pub lines: u64,
    pub bytes: u64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub lines_per_sec: f64,
    pub mb_per_sec: f64,
    pub requests_per_sec: f64,
    /// `lines_per_sec` divided by the server's shard count, when known.
    pub lines_per_sec_per_server_core: Option<f64>,
    pub average_line_bytes: f64,
    /// Per request, from the due time (open loop) or the send (closed).
    pub latency: LatencySummary,
    /// Open loop only: the longest a batch waited on the client for a free
    /// connection. Large values mean the server fell behind the rate (or
    /// too few connections were given).
    pub max_queued_ms: Option<f64>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    pub error_samples: Vec<String>,
    /// Counts over the whole run, warm-up included.
    pub total: CounterSnapshot,
    /// Raw bytes per stored byte, when the caller measured it (sweep):
    /// `total.bytes_ok / stored_bytes`.
    pub compression_ratio: Option<f64>,
    /// Disk the server's data directory took after a graceful stop, when the
    /// caller measured it (sweep): allocated bytes as `du` counts them, the
    /// WAL directory excluded.
    pub stored_bytes: Option<u64>,
}

/// The `--json` document of an ingest run.
#[derive(Clone, Debug, Serialize)]
pub struct IngestReport {
    pub loadgen_version: &'static str,
    /// Unix seconds when the report was made.
    pub finished_at_unix: u64,
    pub run_id: String,
    pub config: IngestArgs,
    pub server: ServerInfo,
    pub results: IngestResults,
    pub verify: Option<VerifyReport>,
}

impl IngestReport {
    pub fn new(
        config: IngestArgs,
        run_id: String,
        server: ServerInfo,
        results: IngestResults,
    ) -> IngestReport {
        IngestReport {
            loadgen_version: env!("CARGO_PKG_VERSION"),
            finished_at_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            run_id,
            config,
            server,
            results,
            verify: None,
        }
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// The summary printed at the end, in the manner of wrk and oha.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write_setup(&mut out);
        self.write_throughput(&mut out);
        write_latency(&mut out, "Latency per request", &self.results.latency);
        if let Some(queued) = self.results.max_queued_ms {
            let _ = writeln!(out, "  longest wait for a free connection: {queued:.2} ms");
        }
        self.write_statuses(&mut out);
        if let Some(verify) = &self.verify {
            out.push_str(&verify.text());
        }
        out
    }

    fn write_setup(&self, out: &mut String) {
        let c = &self.config;
        let server = match (&self.server.version, self.server.cores) {
            (Some(version), Some(cores)) => format!(" (TimberDB {version}, {cores} shards)"),
            _ => String::new(),
        };
        let mode = match c.rate {
            Some(rate) => format!("open loop at {} lines/s", si(rate)),
            None => "closed loop".to_string(),
        };
        let _ = writeln!(out, "Target      {}{server}", c.target);
        let _ = writeln!(
            out,
            "Protocol    {} into {:?}",
            c.protocol.name(),
            c.partition
        );
        let _ = writeln!(
            out,
            "Load        {mode}, {} connections, {} lines per request",
            c.connections, c.batch
        );
    }

    fn write_throughput(&self, out: &mut String) {
        let r = &self.results;
        let _ = writeln!(
            out,
            "Measured    {:.2} s after {:.1} s of warm-up",
            r.measured_seconds,
            self.config.warmup.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "Lines       {:>15}   {:>10} lines/s",
            thousands(r.lines),
            si(r.lines_per_sec)
        );
        if let Some(per_core) = r.lines_per_sec_per_server_core {
            let _ = writeln!(
                out,
                "                              {:>10} lines/s per server core",
                si(per_core)
            );
        }
        let _ = writeln!(
            out,
            "Bytes       {:>12.1} MB   {:>10.1} MB/s",
            r.bytes as f64 / 1e6,
            r.mb_per_sec
        );
        let _ = writeln!(
            out,
            "Requests    {:>15}   {:>10.1} requests/s   ({} failed)",
            thousands(r.requests_ok),
            r.requests_per_sec,
            thousands(r.requests_failed)
        );
        let _ = writeln!(
            out,
            "Line size   {:.0} bytes on average",
            r.average_line_bytes
        );
    }

    fn write_statuses(&self, out: &mut String) {
        let r = &self.results;
        let statuses: Vec<String> = r
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {}", thousands(*n)))
            .collect();
        let _ = writeln!(
            out,
            "Status      {}",
            if statuses.is_empty() {
                "none".into()
            } else {
                statuses.join(", ")
            }
        );
        if r.errors.is_empty() {
            let _ = writeln!(out, "Errors      none");
            return;
        }
        let errors: Vec<String> = r
            .errors
            .iter()
            .map(|(k, n)| format!("{k}: {}", thousands(*n)))
            .collect();
        let _ = writeln!(out, "Errors      {}", errors.join(", "));
        for sample in &r.error_samples {
            let _ = writeln!(out, "  e.g. {sample}");
        }
    }
}

/// Percentile lines of a latency summary.
pub fn write_latency(out: &mut String, title: &str, l: &LatencySummary) {
    let _ = writeln!(out, "{title} ({} samples):", thousands(l.count));
    let _ = writeln!(
        out,
        "  p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   p99.9 {:.2} ms   max {:.2} ms   mean {:.2} ms",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.mean_ms
    );
}
