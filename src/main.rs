//! The `timberdb` binary: load configuration, then serve or check.

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
    init_logging(loaded.command.config());
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
    }
}

fn init_logging(config: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIMBERDB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.logging.level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.logging.format {
        LogFormat::Json => builder.json().init(),
        _ => builder.init(),
    }
}
