//! `loadgen`: TimberDB's load generator and capacity-planning tool.
//!
//! It produces seeded, realistic log lines (or replays a file), encodes them
//! in the ingest protocol of TimberDB or of a peer store, sends them over
//! keep-alive HTTP/1.1 connections in a closed or an open loop, and reports
//! throughput and latency from an HDR histogram. `--verify` reads the lines
//! back from TimberDB and checks every one.
//!
//! Modules, from the bottom up:
//! - [`line`]: the protocol-neutral [`line::LogLine`].
//! - [`workload`]: the seeded generator and file replay.
//! - [`protocol`]: the wire encoders (native, es-bulk, loki, otlp, jsonline).
//! - [`http`]: a blocking keep-alive HTTP/1.1 client.
//! - [`schedule`]: open- and closed-loop pacing with coordinated-omission
//!   correction.
//! - [`stats`], [`report`]: counters, histograms, the summary and `--json`.
//! - [`run`]: an ingest run; [`verify`]: reading it back; [`query`]: query
//!   load; [`plan`]: capacity planning; [`sweep`]: runs per configuration.

pub mod cli;
pub mod http;
pub mod line;
pub mod plan;
pub mod protocol;
pub mod query;
pub mod report;
pub mod run;
pub mod schedule;
pub mod stats;
pub mod sweep;
pub mod timberdb;
pub mod units;
pub mod verify;
pub mod workload;

use cli::{Cli, Command, IngestArgs};
use http::{Client, Target};

/// Runs what the command line asks for and prints the results. Returns
/// whether the run succeeded (verification passed, some request
/// succeeded); errors that stop the run are returned as errors.
pub fn run_cli(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        None => ingest(&cli.ingest).map(|report| report.passed()),
        Some(Command::Query(args)) => {
            let report = query::run_queries(&args)?;
            print!("{}", report.text());
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
            }
            Ok(report.errors() == 0)
        }
        Some(Command::Plan(args)) => {
            print!("{}", plan::run(&args)?);
            Ok(true)
        }
        Some(Command::Sweep(args)) => sweep::run(&args).map(|_| true),
    }
}

/// An ingest run with its optional verification, printed and written.
pub fn ingest(args: &IngestArgs) -> anyhow::Result<report::IngestReport> {
    let mut run = run::run_ingest(args)?;
    if args.verify {
        let target = Target::parse_with_ca(&args.target, args.tls_ca_file.as_deref())?;
        let mut client = Client::new(target, args.timeout);
        let verified = verify::verify(
            &mut client,
            &args.partition,
            &run.run_id,
            &run.source,
            &run.sent,
        )?;
        run.report.verify = Some(verified);
    }
    print!("{}", run.report.text());
    if let Some(path) = &args.json {
        run.report.write_json(path)?;
    }
    Ok(run.report)
}

impl report::IngestReport {
    /// Some request succeeded and, if verified, verification passed.
    pub fn passed(&self) -> bool {
        self.results.total.requests_ok > 0 && self.verify.as_ref().is_none_or(|v| v.passed())
    }
}
