//! admission: "may this new connection be served, and how many does each
//! client hold?"
//!
//! Every accepted connection takes a [`Ticket`] from its shard's
//! [`Admission`] before a task is spawned for it. Past
//! `connections.max_per_shard` the client is answered `503` and closed; past
//! `connections.max_per_address` for its address, `429`. Both answers are
//! written as raw bytes (the connection never reaches hyper) by a short task,
//! at most [`REFUSALS_IN_FLIGHT_MAX`] at once; past that a refused connection
//! is closed unanswered. Over TLS nothing can be said before a handshake, so
//! a refused TLS connection is closed at once.
//!
//! Counts are per shard (shards share nothing mutable): a node holds up to
//! `shards x max_per_address` connections from one address. An IPv6 client
//! is counted by its /64, the block one host is usually given, so rotating
//! addresses inside it does not lift the cap. Loopback is not exempt: a
//! local proxy in front of TimberDB raises `max_per_address` instead.
//!
//! Memory: when many connections have closed (the open count fell to half
//! its peak, by at least [`TRIM_CONNECTIONS_MIN`]), the allocator is asked to
//! give free pages back to the operating system (`malloc_trim`), once,
//! [`TRIM_DELAY`] later so a burst of closes costs one trim. Without it the
//! freed buffers of thousands of connections stay in the process's RSS.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::error::{ApiError, ErrorKind};
use crate::shard::ShardContext;

/// Refusals being written at once per shard, each a task with a 4 KiB
/// scratch buffer for at most [`REFUSAL_LINGER_MAX`].
pub const REFUSALS_IN_FLIGHT_MAX: usize = 64;
/// How long a refused client is given to read its answer.
pub const REFUSAL_LINGER_MAX: Duration = Duration::from_secs(1);
/// Bytes of a refused client's request read and dropped, so closing does not
/// reset the connection before the client has read the answer.
pub const REFUSAL_DISCARD_BYTES_MAX: usize = 64 * 1024;
/// `Retry-After` of both refusals, in seconds.
pub const REFUSAL_RETRY_AFTER_SECONDS: u32 = 2;
/// Connections that must have closed since the peak before memory is trimmed.
pub const TRIM_CONNECTIONS_MIN: usize = 256;
/// Delay from the close that triggers a trim to the trim.
pub const TRIM_DELAY: Duration = Duration::from_secs(1);

/// Why a connection was refused; a label of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PerAddress,
    PerShard,
}

impl Refusal {
    pub const ALL: [Refusal; 2] = [Refusal::PerAddress, Refusal::PerShard];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn label(self) -> &'static str {
        match self {
            Refusal::PerAddress => "max_per_address",
            Refusal::PerShard => "max_per_shard",
        }
    }

    /// The answer, in the usual error shape.
    pub fn to_api_error(self, limit: usize) -> ApiError {
        let error = match self {
            Refusal::PerAddress => ApiError::new(
                ErrorKind::Overloaded,
                "too_many_connections",
                format!("this address already holds {limit} connections to this shard (connections.max_per_address); reuse or close the idle ones"),
            ),
            Refusal::PerShard => ApiError::new(
                ErrorKind::Unavailable,
                "connection_limit",
                format!("the server already holds {limit} connections on this shard (connections.max_per_shard); retry shortly"),
            ),
        };
        error.retry_after(REFUSAL_RETRY_AFTER_SECONDS)
    }
}

/// Connection counters for `/metrics`, per shard.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnectionCounters {
    /// HTTP connections open now.
    pub open: u64,
    /// Connections refused, by [`Refusal::index`].
    pub refused: [u64; 2],
    /// Connections cut by a timeout, by `watchdog::Expiry::index`.
    pub timed_out: [u64; 4],
    /// Times free memory was given back to the operating system.
    pub memory_trims: u64,
}

/// Appends the connection series of every shard to `out` (`/metrics`).
pub fn render_metrics(shards: &[ConnectionCounters], out: &mut String) {
    use std::fmt::Write;
    let series = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    series(
        out,
        "timberdb_http_connections_open",
        "gauge",
        "HTTP connections open.",
    );
    for (shard, counters) in shards.iter().enumerate() {
        let value = counters.open;
        let _ = writeln!(
            out,
            "timberdb_http_connections_open{{shard=\"{shard}\"}} {value}"
        );
    }
    let name = "timberdb_http_connections_refused_total";
    series(
        out,
        name,
        "counter",
        "HTTP connections refused by a [connections] cap (429 per address, 503 per shard).",
    );
    for (shard, counters) in shards.iter().enumerate() {
        for refusal in Refusal::ALL {
            let (reason, value) = (refusal.label(), counters.refused[refusal.index()]);
            let _ = writeln!(
                out,
                "{name}{{shard=\"{shard}\",reason=\"{reason}\"}} {value}"
            );
        }
    }
    let name = "timberdb_http_connections_timed_out_total";
    series(
        out,
        name,
        "counter",
        "HTTP connections cut by a [connections] timeout.",
    );
    for (shard, counters) in shards.iter().enumerate() {
        for expiry in super::watchdog::Expiry::ALL {
            let (reason, value) = (expiry.label(), counters.timed_out[expiry.index()]);
            let _ = writeln!(
                out,
                "{name}{{shard=\"{shard}\",reason=\"{reason}\"}} {value}"
            );
        }
    }
    let name = "timberdb_memory_trims_total";
    series(
        out,
        name,
        "counter",
        "Times free memory was given back to the OS after many connections closed.",
    );
    for (shard, counters) in shards.iter().enumerate() {
        let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", counters.memory_trims);
    }
}

/// The key a client's connections are counted under.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
        v4 => v4,
    }
}

/// One shard's open connections.
pub struct Admission {
    ctx: Rc<ShardContext>,
    max_per_address: usize,
    max_per_shard: usize,
    open: Cell<usize>,
    /// Open connections per [`address_key`]; an entry goes when its count
    /// reaches zero, so the map holds at most `max_per_shard` entries.
    by_address: RefCell<HashMap<IpAddr, u32>>,
    refusals_in_flight: Cell<usize>,
    /// The most connections open since the last trim.
    peak_since_trim: Cell<usize>,
    trim_pending: Cell<bool>,
}

/// A connection's place among the open ones; dropping it frees the place.
pub struct Ticket {
    admission: Rc<Admission>,
    key: Option<IpAddr>,
}

impl Admission {
    pub fn new(ctx: Rc<ShardContext>) -> Rc<Admission> {
        let limits = &ctx.config.connections;
        Rc::new(Admission {
            max_per_address: limits.max_per_address,
            max_per_shard: limits.max_per_shard,
            ctx: ctx.clone(),
            open: Cell::new(0),
            by_address: RefCell::new(HashMap::new()),
            refusals_in_flight: Cell::new(0),
            peak_since_trim: Cell::new(0),
            trim_pending: Cell::new(false),
        })
    }

    /// A place for a connection from `remote`, or why there is none.
    pub fn admit(self: &Rc<Self>, remote: Option<SocketAddr>) -> Result<Ticket, Refusal> {
        if self.open.get() >= self.max_per_shard {
            return Err(self.refused(Refusal::PerShard));
        }
        let key = remote.map(|remote| address_key(remote.ip()));
        if let Some(key) = key {
            let mut by_address = self.by_address.borrow_mut();
            let count = by_address.entry(key).or_insert(0);
            if *count as usize >= self.max_per_address {
                drop(by_address);
                return Err(self.refused(Refusal::PerAddress));
            }
            *count += 1;
        }
        let open = self.open.get() + 1;
        self.open.set(open);
        self.peak_since_trim
            .set(self.peak_since_trim.get().max(open));
        self.ctx.count(|c| c.connections.open = open as u64);
        Ok(Ticket {
            admission: self.clone(),
            key,
        })
    }

    fn refused(&self, refusal: Refusal) -> Refusal {
        self.ctx
            .count(|c| c.connections.refused[refusal.index()] += 1);
        refusal
    }

    fn release(self: &Rc<Self>, key: Option<IpAddr>) {
        if let Some(key) = key {
            let mut by_address = self.by_address.borrow_mut();
            if let Some(count) = by_address.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    by_address.remove(&key);
                }
            }
        }
        let open = self.open.get() - 1;
        self.open.set(open);
        self.ctx.count(|c| c.connections.open = open as u64);
        let closed = self.peak_since_trim.get() - open;
        if closed >= TRIM_CONNECTIONS_MIN && open <= closed && !self.trim_pending.get() {
            self.trim_pending.set(true);
            glommio::spawn_local(self.clone().trim_later()).detach();
        }
    }

    async fn trim_later(self: Rc<Self>) {
        glommio::timer::sleep(TRIM_DELAY).await;
        give_back_free_memory();
        self.peak_since_trim.set(self.open.get());
        self.trim_pending.set(false);
        self.ctx.count(|c| c.connections.memory_trims += 1);
    }

    /// Answers a refused plain-HTTP connection (in a task of its own, so
    /// the accept loop goes on), or closes it when too many answers are
    /// being written already.
    pub fn refuse(self: &Rc<Self>, stream: TcpStream, refusal: Refusal) {
        if self.refusals_in_flight.get() >= REFUSALS_IN_FLIGHT_MAX {
            return;
        }
        let limit = match refusal {
            Refusal::PerAddress => self.max_per_address,
            Refusal::PerShard => self.max_per_shard,
        };
        let bytes = super::connection::raw_error_bytes(&refusal.to_api_error(limit));
        self.refusals_in_flight
            .set(self.refusals_in_flight.get() + 1);
        let admission = self.clone();
        glommio::spawn_local(async move {
            let answer = answer_and_close(stream, bytes);
            futures_lite::future::or(answer, glommio::timer::sleep(REFUSAL_LINGER_MAX)).await;
            admission
                .refusals_in_flight
                .set(admission.refusals_in_flight.get() - 1);
        })
        .detach();
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.release(self.key);
    }
}

/// Writes `bytes`, ends the write side, and reads what the client still
/// sends (bounded) so closing does not reset the connection under its answer.
async fn answer_and_close(mut stream: TcpStream, bytes: Vec<u8>) {
    if stream.write_all(&bytes).await.is_err() {
        return;
    }
    let _ = stream.close().await;
    let mut scratch = [0u8; 4096];
    let mut discarded = 0;
    while discarded < REFUSAL_DISCARD_BYTES_MAX {
        match stream.read(&mut scratch).await {
            Ok(0) | Err(_) => break,
            Ok(bytes) => discarded += bytes,
        }
    }
}

/// Returns the allocator's free pages to the operating system (glibc keeps
/// freed small chunks in its arenas otherwise).
fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, under
    // its own locks; it takes no pointers from us.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_v4_mapped_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            "10.0.0.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn refusals_are_429_and_503_with_retry_after() {
        let per_address = Refusal::PerAddress.to_api_error(4);
        assert_eq!(per_address.kind.status().as_u16(), 429);
        assert_eq!(
            per_address.retry_after_seconds,
            Some(REFUSAL_RETRY_AFTER_SECONDS)
        );
        assert!(per_address.message.contains("max_per_address"));
        assert_eq!(
            Refusal::PerShard.to_api_error(9).kind.status().as_u16(),
            503
        );
    }
}
