//! The access-log workload (`--workload access-log`): the shape of a busy web
//! tier's request log, the corpus a storage format must not be tuned away
//! from (issue 10 measured TimberDB and VictoriaLogs on it).
//!
//! Line `index` is a pure function of (seed, index), like the generator's, so
//! `--verify` regenerates any line. Each line:
//! - **source**: `<service>-<n>`, 8 services x 8 instances (64 sources);
//! - **message**: `GET /api/v1/users/123/orders?page=3 completed in 45ms
//!   status=200 bytes=5123 user=user77` with the method, resource, id,
//!   sub-resource, page, latency, status, size and user drawn per line
//!   (users `user0` .. `user4999`, uniform);
//! - **level**: 5 levels (debug, info, warn, error, fatal), from the status:
//!   5xx are errors (1 in 20 of those fatal), 4xx warnings, and 5% of the
//!   others debug; `status=500` is on 2% of lines;
//! - **tags**: `component` (8 values, `billing` among them) and `request_id`
//!   (`req-` and 16 hex digits, unique per line);
//! - **rare word**: the lines with `index % RARE_WORD_PERIOD ==
//!   RARE_WORD_OFFSET` end with the word [`RARE_WORD`]: 17 lines in the first
//!   2 million, and no other line holds it.

use super::rng::Rng;
use crate::line::{Level, LogLine};

/// The word a handful of lines carry (see the module docs).
pub const RARE_WORD: &str = "zebracorn";
/// One line in this many carries `RARE_WORD`: 17 in 2 000 000 lines.
pub const RARE_WORD_PERIOD: u64 = 117_647;
/// Which line of each period carries it (not line 0, so a short load of a
/// few lines does not start with one).
pub const RARE_WORD_OFFSET: u64 = 58_823;
const _: () = assert!(RARE_WORD_OFFSET + 16 * RARE_WORD_PERIOD < 2_000_000);
const _: () = assert!(RARE_WORD_OFFSET + 17 * RARE_WORD_PERIOD >= 2_000_000);

/// Users named in messages: `user0` .. `user4999`.
pub const USER_COUNT: u64 = 5_000;

const SERVICES: [&str; 8] = [
    "api", "auth", "billing", "catalog", "checkout", "search", "shipping", "users",
];
const INSTANCES_PER_SERVICE: u64 = 8;
const COMPONENTS: [&str; 8] = [
    "billing", "cache", "db", "gateway", "queue", "render", "session", "storage",
];
const RESOURCES: [&str; 8] = [
    "users", "orders", "products", "carts", "payments", "sessions", "reviews", "invoices",
];
const SUB_RESOURCES: [&str; 6] = ["orders", "items", "history", "details", "events", "notes"];
/// (method, share in lines per 100).
const METHODS: [(&str, u64); 4] = [("GET", 70), ("POST", 20), ("PUT", 6), ("DELETE", 4)];
/// (status, share in lines per 1000): 2% are 500.
const STATUSES: [(u16, u64); 9] = [
    (200, 780),
    (201, 50),
    (204, 30),
    (304, 30),
    (400, 20),
    (404, 40),
    (429, 10),
    (500, 20),
    (503, 20),
];
const _: () = {
    let (mut methods, mut statuses, mut index) = (0, 0, 0);
    while index < METHODS.len() {
        methods += METHODS[index].1;
        index += 1;
    }
    index = 0;
    while index < STATUSES.len() {
        statuses += STATUSES[index].1;
        index += 1;
    }
    assert!(methods == 100 && statuses == 1000);
};

/// Salt keeping this workload's streams apart from the generator's.
const ACCESS_LOG_SALT: u64 = 0x6163_6365_7373;

/// Fills lines of the access-log shape; immutable, so `Send + Sync`.
pub struct AccessLog {
    seed: u64,
}

impl AccessLog {
    pub fn new(seed: u64) -> AccessLog {
        AccessLog { seed }
    }

    /// Overwrites `line` (all but its timestamp) with line `index`.
    pub fn fill(&self, index: u64, line: &mut LogLine) {
        use std::fmt::Write as _;
        line.clear();
        let mut rng = Rng::for_line(self.seed ^ ACCESS_LOG_SALT, index);
        let service = rng.pick(&SERVICES);
        let _ = write!(
            line.source,
            "{service}-{}",
            rng.below(INSTANCES_PER_SERVICE)
        );
        let method = weighted(&mut rng, &METHODS, 100);
        let status = weighted(&mut rng, &STATUSES, 1000);
        line.level = level_of(status, &mut rng);
        let resource = rng.pick(&RESOURCES);
        let sub = rng.pick(&SUB_RESOURCES);
        let id = rng.between(1, 9_999);
        let page = rng.between(1, 20);
        // Latencies spread over three orders of magnitude, most of them short.
        let latency_ms = (rng.unit() * rng.unit() * rng.unit() * 5_000.0) as u64 + 1;
        let bytes = rng.between(100, 99_999);
        let user = rng.below(USER_COUNT);
        let _ = write!(
            line.message,
            "{method} /api/v1/{resource}/{id}/{sub}?page={page} completed in {latency_ms}ms \
             status={status} bytes={bytes} user=user{user}"
        );
        if index % RARE_WORD_PERIOD == RARE_WORD_OFFSET {
            line.message.push(' ');
            line.message.push_str(RARE_WORD);
        }
        line.push_tag("component", rng.pick(&COMPONENTS));
        let request_id = format!("req-{:016x}", rng.next_u64());
        line.push_tag("request_id", &request_id);
    }
}

fn weighted<T: Copy>(rng: &mut Rng, table: &[(T, u64)], total: u64) -> T {
    let mut draw = rng.below(total);
    for &(item, share) in table {
        if draw < share {
            return item;
        }
        draw -= share;
    }
    unreachable!("shares sum to the total (checked at compile time)")
}

fn level_of(status: u16, rng: &mut Rng) -> Level {
    match status {
        500..=599 if rng.chance(500) => Level::Fatal,
        500..=599 => Level::Error,
        400..=499 => Level::Warn,
        _ if rng.chance(500) => Level::Debug,
        _ => Level::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_documented_shape_and_are_reproducible() {
        let workload = AccessLog::new(42);
        let mut line = LogLine::new();
        let mut again = LogLine::new();
        let mut sources = std::collections::HashSet::new();
        let mut status_500 = 0;
        let mut request_ids = std::collections::HashSet::new();
        let count = 20_000;
        for index in 0..count {
            workload.fill(index, &mut line);
            workload.fill(index, &mut again);
            assert_eq!(line.message, again.message, "line {index} is reproducible");
            assert!(line.message.contains(" completed in "), "{}", line.message);
            sources.insert(line.source.clone());
            status_500 += line.message.contains("status=500") as u32;
            let component = line.tag("component").expect("component");
            assert!(COMPONENTS.contains(&component));
            assert!(request_ids.insert(line.tag("request_id").expect("id").to_string()));
            if line.message.contains("status=5") {
                assert!(matches!(line.level, Level::Error | Level::Fatal));
            }
        }
        assert_eq!(sources.len(), 64);
        let share = status_500 as f64 / count as f64;
        assert!((0.015..0.025).contains(&share), "status=500 on {share}");
    }

    #[test]
    fn the_rare_word_is_on_seventeen_of_two_million_lines() {
        let carrying: Vec<u64> = (0..2_000_000)
            .filter(|index| index % RARE_WORD_PERIOD == RARE_WORD_OFFSET)
            .collect();
        assert_eq!(carrying.len(), 17);
        let workload = AccessLog::new(7);
        let mut line = LogLine::new();
        workload.fill(carrying[3], &mut line);
        assert!(line.message.ends_with(" zebracorn"), "{}", line.message);
        workload.fill(carrying[3] + 1, &mut line);
        assert!(!line.message.contains(RARE_WORD));
    }
}
