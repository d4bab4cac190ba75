//! client/: "what does a person at a terminal (or a script) see of a running server?"
//!
//! The `timberdb query | tail | partitions | snapshot` subcommands: HTTP clients of the
//! server's API in the same binary, so an operator on the box needs nothing but `timberdb`.
//! They never load or validate the server's configuration; at most they read the port of
//! `network.listen_addr` from the `--config` file to find the server.
//!
//! Layers, arrows pointing down:
//! - [`args`]: the command line (clap), flattened into `timberdb`'s own;
//! - [`query`], [`tail`], [`partitions`], [`snapshot`]: one command each, deciding what to
//!   ask and in which output mode to answer;
//! - [`render`]: pure functions from answers to text (aligned, coloured lines and tables);
//! - [`output`]: the terminal, colours on or off, the pager, stdout;
//! - [`transport`]: HTTP (ureq), error answers and unreachable servers made into
//!   [`ClientError`]s;
//! - [`answer`]: the answers' shapes.

pub mod answer;
pub mod args;
pub mod error;
pub mod keys;
pub mod output;
pub mod partitions;
pub mod query;
pub mod render;
pub mod snapshot;
pub mod tail;
pub mod timespec;
pub mod transport;

pub use args::ClientSubcommand;
pub use error::{ClientError, Result};

/// A client command, ready to run: what to do and where the server is by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub command: ClientSubcommand,
    /// The server's URL when `--server` is not given: `$TIMBERDB_SERVER`, else
    /// `http://127.0.0.1:<port>` from the configuration file or the default.
    pub default_server_url: String,
    /// `--api-key`, else `$TIMBERDB_API_KEY`: sent as `Authorization: Bearer`.
    pub api_key: Option<String>,
}

impl Invocation {
    /// `--server`, else the default.
    pub fn server_url(&self) -> &str {
        self.command
            .server_flag()
            .unwrap_or(&self.default_server_url)
    }
}

/// Runs the command and returns the process exit status (0 success, 1 the server refused or
/// answered unexpectedly, 2 usage, 3 unreachable; see [`error`]). Errors are printed as
/// `timberdb: <sentence>` on stderr.
pub fn run(invocation: &Invocation) -> u8 {
    match execute(invocation) {
        Ok(()) | Err(ClientError::OutputClosed) => error::EXIT_SUCCESS,
        Err(error) => {
            eprintln!("timberdb: {error}");
            error.exit_code()
        }
    }
}

fn execute(invocation: &Invocation) -> Result<()> {
    let server =
        transport::Server::new(invocation.server_url())?.with_api_key(invocation.api_key.clone());
    let terminal = output::Terminal::detect();
    match &invocation.command {
        ClientSubcommand::Query(args) => query::run(args, &server, &terminal),
        ClientSubcommand::Tail(args) => tail::run(args, &server, &terminal),
        ClientSubcommand::Partitions(args) => partitions::run(args, &server, &terminal),
        ClientSubcommand::Snapshot(args) => snapshot::run(args, &server, &terminal),
        ClientSubcommand::Keys(args) => keys::run(args, &server),
    }
}

/// The default server URL for a server listening on `listen_addr`: the same address, or the
/// loopback address of its family when it listens on all of them (`0.0.0.0`, `[::]`).
pub fn local_server_url(listen_addr: std::net::SocketAddr) -> String {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match listen_addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!(
        "http://{}",
        std::net::SocketAddr::new(ip, listen_addr.port())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_listening_everywhere_is_reached_on_loopback() {
        let url = |addr: &str| local_server_url(addr.parse().unwrap());
        assert_eq!(url("0.0.0.0:9000"), "http://127.0.0.1:9000");
        assert_eq!(url("[::]:9000"), "http://[::1]:9000");
        assert_eq!(url("10.1.2.3:7777"), "http://10.1.2.3:7777");
        assert_eq!(url("127.0.0.1:7777"), "http://127.0.0.1:7777");
    }
}
