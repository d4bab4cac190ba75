//! The `timberdb` binary: load configuration, then serve, check or restore; or be a client of a
//! running server (`query`, `tail`, `partitions`, `snapshot`).

use std::process::ExitCode;

use timberdb::config::{self, Command, LogFormat};

fn main() -> ExitCode {
    let loaded = match config::load() {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("timberdb: {error}");
            return ExitCode::from(error.exit_code() as u8);
        }
    };
    let config = match &loaded.command {
        Command::Client(invocation) => return ExitCode::from(timberdb::client::run(invocation)),
        Command::Serve(config)
        | Command::Check(config)
        | Command::Restore { config, .. }
        | Command::Scrub(config, _) => config,
        Command::CreateKeyOffline { config, spec } => return create_key_offline(config, spec),
    };
    init_logging(config);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    match loaded.command {
        Command::Serve(config) => {
            tracing::info!(version = env!("CARGO_PKG_VERSION"), node_id = %config.node_id, "starting timberdb");
            tracing::info!("effective configuration:\n{}", config.to_toml_summary());
            match timberdb::shard::run_server(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(reason) => {
                    eprintln!("timberdb: {reason}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Restore { config, from } => {
            let storage = &config.storage;
            match timberdb::restore::restore(&from, &storage.data_dir, &storage.wal_dir) {
                Ok(summary) => {
                    for line in summary.lines() {
                        println!("{line}");
                    }
                    ExitCode::SUCCESS
                }
                Err(reason) => {
                    eprintln!("timberdb restore: {reason}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Scrub(config, args) => ExitCode::from(timberdb::scrub::run_command(&config, args)),
        Command::Check(config) => {
            let report = timberdb::check::run_checks(&config);
            report.print(&mut std::io::stdout());
            if report.has_failures() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Client(_) | Command::CreateKeyOffline { .. } => {
            unreachable!("client and key commands returned before logging started")
        }
    }
}

fn init_logging(config: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIMBERDB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.logging.level));
    use std::io::IsTerminal;
    // A log line that cannot be written is dropped: by default the
    // subscriber reports a failed write with `eprintln!`, which panics when
    // stderr itself is what failed (a log file on a full disk), and a
    // logging failure must never stop a node that is still serving.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false);
    match config.logging.format {
        LogFormat::Json => builder.json().init(),
        _ => builder.init(),
    }
}

/// `timberdb keys create --offline`: the key alone on stdout, what it is on stderr.
fn create_key_offline(
    config: &config::Config,
    offline: &timberdb::client::args::OfflineKeySpec,
) -> ExitCode {
    let Some(role) = timberdb::auth::Role::parse(&offline.role) else {
        eprintln!(
            "timberdb keys create: role {:?} is not one of ingest, query, admin",
            offline.role
        );
        return ExitCode::from(2);
    };
    let quota = match timberdb::quota::QuotaOverride::default().merged(&offline.quota.patch(false))
    {
        Ok(quota) => quota,
        Err(reason) => {
            eprintln!("timberdb keys create: {reason}");
            return ExitCode::from(2);
        }
    };
    let spec = timberdb::auth::KeySpec {
        role,
        partitions: offline.partitions.clone(),
        name: offline.name.clone(),
        quota,
    };
    let storage = &config.storage;
    match timberdb::auth::offline::create_key(&storage.data_dir, &storage.wal_dir, &spec) {
        Ok((record, text)) => {
            eprintln!(
                "created key {} (role {}) in {}; it is shown only now, store it:",
                record.id,
                record.role.as_str(),
                storage.data_dir.display()
            );
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("timberdb keys create: {reason}");
            ExitCode::FAILURE
        }
    }
}
