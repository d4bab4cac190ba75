//! A deterministic generator of realistic log entries for the benches.
//!
//! Compression ratios and scan speeds depend on what the data looks like, so
//! the benches use lines shaped like a production service's: ~10 sources,
//! skewed levels (info 70%, warn 15%, error 8%, debug 7%), messages from 20
//! templates filled with ids, paths, durations, addresses and status codes,
//! 3-5 tags (service, host, region, request_id, sometimes version), and
//! timestamps that increase with jitter (and are sometimes slightly out of
//! order). An entry averages ~240 bytes of columns. Same seed, same bytes.

#![allow(dead_code)] // each bench uses a different part

use std::fmt::Write;

use timberdb::entry::{ColumnBatch, EntryRef, Level};

const SOURCES: [&str; 10] = [
    "api-gateway",
    "auth-service",
    "billing-worker",
    "checkout",
    "inventory-service",
    "search-indexer",
    "notifications",
    "user-service",
    "payments",
    "scheduler",
];

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"];
const TABLES: [&str; 5] = ["orders", "users", "sessions", "line_items", "invoices"];
const WORDS: [&str; 8] = [
    "red", "shoes", "laptop", "wireless", "organic", "coffee", "winter", "sale",
];

/// The word the scan bench searches for; `{scan}` in two templates.
pub const SCAN_WORD: &str = "timeout";

const TEMPLATES: [&str; 20] = [
    "GET /api/v1/users/{id} completed with status {status} in {ms}ms",
    "POST /api/v1/orders/{id}/items returned {status} after {ms}ms (bytes={count})",
    "user u{id} logged in from {ip} using Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0",
    "cache miss for key session:{hex} in region {region}, fetching from origin",
    "database query on table {table} took {ms}ms, rows={count}",
    "payment pay_{id} for customer cus_{hex} authorised amount={count}.{n} currency=EUR",
    "retrying http://inventory-service:8080/internal/stock (attempt {n}/5) after {scan} ({ms}ms)",
    "connection reset by peer while reading from {ip}:{port}",
    "failed to parse payload from client {ip}: unexpected token at line {n} column {n}",
    "job {hex} scheduled for queue emails-{region} with priority {n}",
    "uploaded file /var/data/uploads/{id}/{hex}.jpg ({count} bytes) to bucket media-{region}",
    "rate limit exceeded for api key ak_{hex}: {count} requests in the last 60s",
    "TLS handshake with {ip} completed in {ms}ms (TLSv1.3, TLS_AES_128_GCM_SHA256)",
    "worker {n} processed batch of {count} events in {ms}ms, lag={ms}ms",
    "{scan} after {ms}ms waiting for upstream inventory-service at {ip}:8443",
    "order ord_{id} transitioned from PENDING to CONFIRMED by user u{id}",
    "GC pause of {ms}ms, heap used {count} KiB of 4194304 KiB",
    "email notification sent to user u{id} template=order_confirmation id={hex}",
    "search query \"{word} {word}\" returned {count} hits in {ms}ms",
    "unhandled exception in /api/v2/cart/{id}: java.lang.NullPointerException at Cart.java:{n}",
];

/// splitmix64: tiny, fast, and good enough to make varied test data.
pub struct LogGenerator {
    state: u64,
    timestamp_ns: i64,
}

impl LogGenerator {
    pub fn new(seed: u64) -> LogGenerator {
        LogGenerator {
            state: seed,
            timestamp_ns: 1_714_563_200_000_000_000,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn level(&mut self) -> Level {
        match self.below(100) {
            0..=69 => Level::Info,
            70..=84 => Level::Warn,
            85..=92 => Level::Error,
            _ => Level::Debug,
        }
    }

    /// Writes one message from one of the `TEMPLATES` into `out`, filling
    /// each `{placeholder}` with a fresh value.
    fn message(&mut self, out: &mut String) {
        out.clear();
        let mut rest = TEMPLATES[self.below(TEMPLATES.len() as u64) as usize];
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = open + rest[open..].find('}').expect("placeholders are closed");
            self.placeholder(&rest[open + 1..close], out);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
    }

    fn placeholder(&mut self, name: &str, out: &mut String) {
        const STATUSES: [u16; 11] = [200, 200, 200, 201, 204, 301, 400, 401, 404, 500, 503];
        let _ = match name {
            "id" => write!(out, "{}", 100_000 + self.below(900_000)),
            "ms" => write!(out, "{}", 1 + self.below(1500)),
            "hex" => write!(out, "{:08x}", self.next_u64() as u32),
            "status" => write!(out, "{}", STATUSES[self.below(11) as usize]),
            "ip" => write!(
                out,
                "10.{}.{}.{}",
                self.below(256),
                self.below(256),
                1 + self.below(254)
            ),
            "port" => write!(out, "{}", 1024 + self.below(60_000)),
            "n" => write!(out, "{}", self.below(64)),
            "count" => write!(out, "{}", self.below(100_000)),
            "region" => write!(out, "{}", self.pick(&REGIONS)),
            "table" => write!(out, "{}", self.pick(&TABLES)),
            "word" => write!(out, "{}", self.pick(&WORDS)),
            "scan" => write!(out, "{SCAN_WORD}"),
            other => panic!("unknown placeholder {other}"),
        };
    }

    /// Appends `entry_count` entries to `batch`.
    pub fn push_entries(&mut self, batch: &mut ColumnBatch, entry_count: usize) {
        let mut message = String::new();
        for _ in 0..entry_count {
            self.timestamp_ns += 20_000 + self.below(200_000) as i64;
            // One in ten arrives up to 1 ms late.
            let late_ns = if self.below(10) == 0 {
                self.below(1_000_000) as i64
            } else {
                0
            };
            let source = self.pick(&SOURCES);
            let level = self.level();
            self.message(&mut message);
            let fields_json = if self.below(3) == 0 {
                format!(
                    "{{\"duration_ms\":{},\"bytes\":{}}}",
                    self.below(2000),
                    self.below(100_000)
                )
            } else {
                String::new()
            };
            let entry = EntryRef {
                timestamp_ns: self.timestamp_ns - late_ns,
                level,
                source,
                message: &message,
                fields_json: &fields_json,
            };
            let host = format!("{}-{}", &source[..3], self.below(12));
            let request_id = format!("{:016x}", self.next_u64());
            let version = format!("1.{}.{}", self.below(4), self.below(20));
            let region = self.pick(&REGIONS);
            let mut tags = vec![
                ("service", source),
                ("host", host.as_str()),
                ("region", region),
            ];
            if self.below(4) != 0 {
                tags.push(("request_id", request_id.as_str()));
            }
            if self.below(3) == 0 {
                tags.push(("version", version.as_str()));
            }
            batch.push(&entry, &tags);
        }
    }
}

/// A batch of `entry_count` realistic entries, the same for the same seed.
pub fn realistic_batch(entry_count: usize, seed: u64) -> ColumnBatch {
    let mut batch = ColumnBatch::default();
    LogGenerator::new(seed).push_entries(&mut batch, entry_count);
    batch
}

/// `line_count` realistic NDJSON lines shaped like `tuning/make_body.py`'s
/// (RFC 3339 millisecond timestamp, source, level, message, tags; no other
/// fields), about 240 bytes each. Same seed, same bytes.
pub fn ndjson_body(line_count: usize, seed: u64) -> Vec<u8> {
    let batch = realistic_batch(line_count, seed);
    let mut body = String::with_capacity(line_count * 256);
    let mut timestamp = String::new();
    for index in 0..batch.len() {
        timestamp.clear();
        timberdb::ingest::format_rfc3339_nanos(batch.timestamps_ns[index], &mut timestamp);
        // Milliseconds, as most shippers send them: keep "YYYY-MM-DDTHH:MM:SS.mmm".
        timestamp.truncate(23);
        timestamp.push('Z');
        let level = Level::from_byte(batch.levels[index]).as_str();
        let _ = write!(
            body,
            "{{\"timestamp\":\"{timestamp}\",\"source\":{},\"level\":\"{level}\",\"message\":{},\"tags\":{{\"env\":\"prod\"",
            json_string(batch.sources.get(index)),
            json_string(batch.messages.get(index)),
        );
        for (key, value) in batch.tags(index).filter(|(key, _)| *key != "service") {
            let _ = write!(body, ",{}:{}", json_string(key), json_string(value));
        }
        body.push_str("}}\n");
    }
    body.into_bytes()
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}
