//! Random entries and random `q` filters, checked against a brute-force
//! evaluation of the same filters over the entries as sent: before and
//! after a restart, with blocks sealed every 37 entries on every shard so
//! queries cross sealed, sealing and active data; and once more after the
//! index files are deleted, so every block summary is rebuilt.

mod common;

use common::Server;
use serde_json::{json, Value};

/// SplitMix64: a small deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];
const SOURCES: [&str; 4] = ["web-1", "web-2", "db-1", "cache"];
const COMPONENTS: [&str; 3] = ["auth", "billing", "search"];
const WORDS: [&str; 8] = [
    "timeout",
    "reset",
    "connection",
    "user",
    "login",
    "slow",
    "disk",
    "retry",
];

/// The entries as the test keeps them: (level index or none, source,
/// component or none, message words, duration).
struct Entry {
    /// Its number: the entry's timestamp is `BASE_NS + i`.
    i: usize,
    level: Option<usize>,
    source: &'static str,
    component: Option<&'static str>,
    words: Vec<&'static str>,
    duration: u64,
}

const BASE_NS: i64 = 1_700_000_000_000_000_000;

fn random_entry(rng: &mut Rng, i: usize) -> Entry {
    let level = (rng.below(7) != 0).then(|| rng.below(6) as usize);
    let component = (rng.below(4) != 0).then(|| COMPONENTS[rng.below(3) as usize]);
    let words = (0..1 + rng.below(4))
        .map(|_| WORDS[rng.below(8) as usize])
        .collect();
    Entry {
        i,
        level,
        source: SOURCES[rng.below(4) as usize],
        component,
        words,
        duration: rng.below(1000),
    }
}

fn entry_json(i: usize, e: &Entry) -> Value {
    let mut tags = serde_json::Map::new();
    if let Some(c) = e.component {
        tags.insert("component".into(), json!(c));
    }
    let mut entry = json!({
        "timestamp": BASE_NS + i as i64,
        "source": e.source,
        "message": format!("{} #{i}", e.words.join(" ")),
        "tags": tags,
        "duration_ms": e.duration,
        "n": i,
    });
    if let Some(level) = e.level {
        entry["level"] = json!(LEVELS[level]);
    }
    entry
}

/// A random filter as q text and as a predicate over the kept entries.
type Check = Box<dyn Fn(&Entry) -> bool>;

fn random_condition(rng: &mut Rng, depth: u32) -> (String, Check) {
    let choice = if depth >= 2 {
        rng.below(6)
    } else {
        rng.below(9)
    };
    match choice {
        0 if rng.below(2) == 0 => {
            // Bounds that cut through blocks as well as cover whole ones.
            let i = rng.below(520) as i64;
            let (op, f): (&str, fn(i64, i64) -> bool) = match rng.below(4) {
                0 => (">=", |a, b| a >= b),
                1 => (">", |a, b| a > b),
                2 => ("<", |a, b| a < b),
                _ => ("<=", |a, b| a <= b),
            };
            (
                format!("timestamp {op} {}", BASE_NS + i),
                Box::new(move |e: &Entry| f(e.i as i64, i)),
            )
        }
        0 => {
            let level = rng.below(6) as usize;
            let (op, f): (&str, fn(usize, usize) -> bool) = match rng.below(3) {
                0 => ("=", |a, b| a == b),
                1 => (">=", |a, b| a >= b),
                _ => ("<", |a, b| a < b),
            };
            (
                format!("level {op} '{}'", LEVELS[level]),
                Box::new(move |e: &Entry| e.level.is_some_and(|l| f(l, level))),
            )
        }
        1 => {
            let source = rng.pick(&SOURCES);
            (
                format!("source = '{source}'"),
                Box::new(move |e: &Entry| e.source == source),
            )
        }
        2 => {
            let component = rng.pick(&COMPONENTS);
            if rng.below(2) == 0 {
                (
                    format!("component = '{component}'"),
                    Box::new(move |e: &Entry| e.component == Some(component)),
                )
            } else {
                (
                    format!("component != '{component}'"),
                    Box::new(move |e: &Entry| e.component.is_some_and(|c| c != component)),
                )
            }
        }
        3 => {
            let word = rng.pick(&WORDS);
            (
                format!("message CONTAINS '{}'", word.to_uppercase()),
                Box::new(move |e: &Entry| e.words.contains(&word)),
            )
        }
        4 => {
            let limit = rng.below(1000);
            (
                format!("fields.duration_ms > {limit}"),
                Box::new(move |e: &Entry| e.duration > limit),
            )
        }
        5 => {
            let word = rng.pick(&WORDS);
            let prefix = &word[..3];
            (
                format!("SEARCH('{prefix}*')"),
                Box::new(move |e: &Entry| e.words.iter().any(|w| w.starts_with(prefix))),
            )
        }
        6 => {
            let (text, check) = random_condition(rng, depth + 1);
            (
                format!("NOT ({text})"),
                Box::new(move |e: &Entry| !check(e)),
            )
        }
        7 => {
            let (a, ca) = random_condition(rng, depth + 1);
            let (b, cb) = random_condition(rng, depth + 1);
            (
                format!("({a}) AND ({b})"),
                Box::new(move |e: &Entry| ca(e) && cb(e)),
            )
        }
        _ => {
            let (a, ca) = random_condition(rng, depth + 1);
            let (b, cb) = random_condition(rng, depth + 1);
            (
                format!("({a}) OR ({b})"),
                Box::new(move |e: &Entry| ca(e) || cb(e)),
            )
        }
    }
}

fn returned_numbers(answer: &Value) -> Vec<u64> {
    let mut numbers: Vec<u64> = answer["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fields"]["n"].as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers
}

fn check_random_queries(server: &Server, entries: &[Entry], seed: u64) {
    let mut rng = Rng(seed);
    for _ in 0..150 {
        let (text, check) = random_condition(&mut rng, 0);
        let q = format!("SELECT * FROM app WHERE {text}");
        let want: Vec<u64> = (0..entries.len())
            .filter(|&i| check(&entries[i]))
            .map(|i| i as u64)
            .collect();
        let answer = server.query(&json!({"q": q, "limit": 10_000}));
        assert_eq!(returned_numbers(&answer), want, "{q}");
        assert_eq!(answer["total_count"], want.len(), "{q}");
        // The same filter counted by an aggregation.
        let counted = server.query(&json!({"q": format!("SELECT count(*) FROM app WHERE {text}")}));
        assert_eq!(counted["rows"], json!([[want.len()]]), "{q}");
        // And grouped by level: entries without a level form the null
        // group, which sorts first; names sort as text.
        let mut by_level: std::collections::BTreeMap<Option<&str>, u64> = Default::default();
        for &i in &want {
            *by_level
                .entry(entries[i as usize].level.map(|l| LEVELS[l]))
                .or_default() += 1;
        }
        let want_rows: Vec<Value> = by_level
            .iter()
            .map(|(level, n)| json!([level, n]))
            .collect();
        let grouped = server.query(
            &json!({"q": format!("SELECT level, count(*) FROM app WHERE {text} GROUP BY level")}),
        );
        assert_eq!(grouped["rows"], Value::Array(want_rows), "{q}");
    }
    check_counts_of_whole_blocks(server, entries);
}

/// Rows of `level, count(*)` for the entries `check` selects, as the
/// server orders them: the null group (no level) first, then by name.
fn counts_by_level(entries: &[Entry], check: &dyn Fn(&Entry) -> bool) -> Vec<Value> {
    let mut by_level: std::collections::BTreeMap<Option<&str>, u64> = Default::default();
    for entry in entries.iter().filter(|e| check(e)) {
        *by_level.entry(entry.level.map(|l| LEVELS[l])).or_default() += 1;
    }
    by_level
        .iter()
        .map(|(level, n)| json!([level, n]))
        .collect()
}

/// Counting queries whose filter is only a time range and levels: a sealed
/// block inside both is counted from its index record without being read
/// (`blocks_counted_unread`), and every count must still be exact.
fn check_counts_of_whole_blocks(server: &Server, entries: &[Entry]) {
    let cases: Vec<(String, Check)> = vec![
        (String::new(), Box::new(|_: &Entry| true)),
        (
            format!(
                "WHERE timestamp >= {} AND timestamp < {}",
                BASE_NS + 50,
                BASE_NS + 450
            ),
            Box::new(|e: &Entry| (50..450).contains(&e.i)),
        ),
        (
            "WHERE level = 'error'".into(),
            Box::new(|e: &Entry| e.level == Some(4)),
        ),
        (
            format!(
                "WHERE level IN ('warn', 'error') AND timestamp > {}",
                BASE_NS + 100
            ),
            Box::new(|e: &Entry| matches!(e.level, Some(3 | 4)) && e.i > 100),
        ),
    ];
    for (filter, check) in &cases {
        let want_rows = counts_by_level(entries, check);
        let want_total: u64 = entries.iter().filter(|e| check(e)).count() as u64;
        let q = format!("SELECT level, count(*) FROM app {filter} GROUP BY level");
        let grouped = server.query(&json!({"q": q}));
        assert_eq!(grouped["rows"], Value::Array(want_rows.clone()), "{q}");
        assert_eq!(grouped["total_count"], want_total, "{q}");
        if filter.is_empty() {
            let unread = grouped["stats"]["blocks_counted_unread"].as_u64().unwrap();
            assert!(unread > 0, "sealed blocks are counted unread: {grouped}");
        }
        // All 500 entries fall in one minute, so every block fits one bucket.
        let q = format!(
            "SELECT bucket(timestamp, '1m'), level, count(*) FROM app {filter} \
             GROUP BY bucket(timestamp, '1m'), level"
        );
        let bucketed = server.query(&json!({"q": q}));
        let rows = bucketed["rows"].as_array().unwrap();
        let without_bucket: Vec<Value> = rows.iter().map(|row| json!([row[1], row[2]])).collect();
        assert_eq!(without_bucket, want_rows, "{q}: {bucketed}");
        assert!(
            rows.iter().all(|row| row[0] == rows[0][0]),
            "{q}: {bucketed}"
        );
        // A plain count (limit 0) takes the same path.
        let q = format!("SELECT * FROM app {filter}");
        let counted = server.query(&json!({"q": q, "limit": 0}));
        assert_eq!(counted["total_count"], want_total, "{q}");
    }
}

#[test]
fn random_q_filters_match_a_brute_force_evaluation() {
    let mut server = Server::builder()
        .env("TIMBERDB_BLOCK_ROTATION", "count:37")
        .start();
    server.create_partition("app");
    let mut rng = Rng(7);
    let entries: Vec<Entry> = (0..500).map(|i| random_entry(&mut rng, i)).collect();
    let lines: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| entry_json(i, e))
        .collect();
    for chunk in lines.chunks(45) {
        assert_eq!(server.ingest_ndjson("app", chunk).status, 200);
    }
    check_random_queries(&server, &entries, 11);
    server.restart();
    check_random_queries(&server, &entries, 12);
    // Restarted with blocks of 1000 entries, the 37-entry blocks are small:
    // compaction merges each shard's into one, and the merged blocks must
    // answer exactly as the small ones did, before and after a restart.
    // Which shard took a request depends on the kernel's SO_REUSEPORT hash of
    // the client's port, so a shard may hold any share of the 500 entries;
    // a full block (1000) holds them all, so merging ends with at most one
    // block per shard, and while one shard still has small blocks to merge
    // the partition has more than two.
    server.kill();
    server.envs = vec![("TIMBERDB_BLOCK_ROTATION".into(), "count:1000".into())];
    server.start_again();
    let mut last = Value::Null;
    let merged = (0..3000).any(|_| {
        last = server.get("/api/v1/partitions/app").json();
        let done = last["blocks"].as_u64().is_some_and(|blocks| blocks <= 2);
        if !done {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        done
    });
    assert!(merged, "small blocks were not merged within 60 s: {last}");
    check_random_queries(&server, &entries, 13);
    server.restart();
    check_random_queries(&server, &entries, 14);
}
