//! The kinds of query `loadgen query` asks, and the request body of each.
//!
//! They are the queries the query-benchmark issue lists, which are also
//! what users ask of a log store: a rare word (`needle`), the latest errors
//! (`level`), one host's lines in a time window (`tag`), a time window
//! (`range`), a count by level (`count`) and a regular expression
//! (`regex`). Which needle and which host is a deterministic function of
//! the query number and the seed, so two runs ask the same questions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use serde::Serialize;
use serde_json::{json, Value};

use crate::line::LogLine;
use crate::workload::{Generator, NEEDLE_PERIOD};

/// The `regex` kind's pattern. It matches two of the generator's error
/// reasons ("connection reset by peer", "connection refused (os error
/// 111)"), so it finds a few lines in a thousand, and has no literal word
/// a word index could look up whole: it measures the regex scan itself.
pub const REGEX_PATTERN: &str = "conn(ection)? (reset|refused)";

/// Entries a listing query (all kinds but `count`) asks for.
const LIMIT: u64 = 100;

/// The kinds of query `--mix` can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryKind {
    Needle,
    Level,
    Tag,
    Range,
    Count,
    Regex,
}

impl QueryKind {
    pub const ALL: [QueryKind; 6] = [
        QueryKind::Needle,
        QueryKind::Level,
        QueryKind::Tag,
        QueryKind::Range,
        QueryKind::Count,
        QueryKind::Regex,
    ];

    pub fn parse(name: &str) -> anyhow::Result<QueryKind> {
        let name = name.trim();
        match QueryKind::from_name(name) {
            Some(kind) => Ok(kind),
            None => bail!(
                "--mix: unknown query kind {name:?} (use needle, level, tag, range, count, regex)"
            ),
        }
    }

    /// The built-in kind called exactly `name`, if any.
    pub fn from_name(name: &str) -> Option<QueryKind> {
        QueryKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            QueryKind::Needle => "needle",
            QueryKind::Level => "level",
            QueryKind::Tag => "tag",
            QueryKind::Range => "range",
            QueryKind::Count => "count",
            QueryKind::Regex => "regex",
        }
    }
}

/// Everything a query body depends on besides its kind and number.
pub struct Questions {
    pub partition: String,
    /// The generator the partition was loaded with (for needle words and
    /// tag values).
    pub generator: Generator,
    /// Lines loaded by that generator: needles and tags are drawn among
    /// them.
    pub lines: u64,
    pub seed: u64,
    /// Length of the `tag` and `range` windows.
    pub window: Duration,
    /// The instant windows end at, in ns since the epoch; `None`: now.
    pub base_ns: Option<i64>,
}

impl Questions {
    /// The body of query `n`, of kind `kind`. `line` is scratch space.
    pub fn body(&self, kind: QueryKind, n: u64, line: &mut LogLine) -> Value {
        let partitions = [&self.partition];
        match kind {
            QueryKind::Needle => {
                let needles = (self.lines / NEEDLE_PERIOD).max(1);
                let word = needle_search_word(&self.generator, self.pick(n, needles));
                json!({ "partitions": partitions, "q": word, "limit": LIMIT })
            }
            QueryKind::Level => {
                json!({ "partitions": partitions, "filter": { "level": "error" }, "limit": LIMIT })
            }
            QueryKind::Tag => {
                self.generator.fill(self.pick(n, self.lines), line);
                let (key, value) = line
                    .tags()
                    .next()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .unwrap_or_default();
                json!({
                    "partitions": partitions,
                    "filter": { "tags": { key: value }, "time_range": self.window_range() },
                    "limit": LIMIT
                })
            }
            QueryKind::Range => json!({
                "partitions": partitions,
                "filter": { "time_range": self.window_range() },
                "limit": LIMIT
            }),
            QueryKind::Count => json!({
                "partitions": partitions,
                "q": "SELECT level, count(*) GROUP BY level"
            }),
            QueryKind::Regex => json!({
                "partitions": partitions,
                "q": format!("SELECT * WHERE message MATCHES '{REGEX_PATTERN}'"),
                "limit": LIMIT
            }),
        }
    }

    /// `[base - window, base]` as a `time_range` (the range is half-open,
    /// hence the 1 ns past the base, which keeps the newest line in).
    fn window_range(&self) -> Value {
        let end = self.base_ns.unwrap_or_else(now_ns).saturating_add(1);
        let window_ns = i64::try_from(self.window.as_nanos()).unwrap_or(i64::MAX);
        json!({ "start": end.saturating_sub(window_ns), "end": end })
    }

    /// A deterministic pseudo-random number below `bound` for query `n`
    /// (which needle, which host), so two runs ask the same questions.
    fn pick(&self, n: u64, bound: u64) -> u64 {
        let mut x = n
            .wrapping_add(self.seed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        (x ^ (x >> 32)) % bound.max(1)
    }
}

/// The word a needle query searches for: the 16 hex digits of needle word
/// `k`. The server's word is a run of letters, digits and `_`, so the whole
/// `needle-<hex>` would be the two-word phrase `needle <hex>`; the hex part
/// alone is one word, in one line only, which is the form a word index
/// (a per-block Bloom filter) answers best.
pub fn needle_search_word(generator: &Generator, k: u64) -> String {
    let word = generator.needle_word(k);
    match word.strip_prefix("needle-") {
        Some(hex) => hex.to_string(),
        None => word,
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::GeneratorConfig;

    fn questions(base_ns: Option<i64>) -> Questions {
        Questions {
            partition: "p".into(),
            generator: Generator::new(GeneratorConfig::default()),
            lines: 2_000_000,
            seed: 42,
            window: Duration::from_secs(2),
            base_ns,
        }
    }

    #[test]
    fn kinds_parse_by_name() {
        for kind in QueryKind::ALL {
            assert_eq!(QueryKind::parse(kind.name()).unwrap(), kind);
        }
        assert_eq!(QueryKind::parse(" regex").unwrap(), QueryKind::Regex);
        let error = QueryKind::parse("grep").unwrap_err().to_string();
        assert!(error.contains("regex"), "{error}");
    }

    #[test]
    fn needle_query_is_one_hex_word_of_a_loaded_needle() {
        let q = questions(None);
        let mut line = LogLine::new();
        let body = q.body(QueryKind::Needle, 7, &mut line);
        let word = body["q"].as_str().unwrap();
        assert_eq!(word.len(), 16);
        assert!(word.bytes().all(|b| b.is_ascii_hexdigit()), "{word}");
        let needles: Vec<String> = (0..20)
            .map(|k| needle_search_word(&q.generator, k))
            .collect();
        assert!(needles.iter().any(|n| n == word));
        q.generator.fill(0, &mut line);
        assert!(line.message.contains(&needles[0]));
    }

    #[test]
    fn windows_end_at_the_base() {
        let q = questions(Some(10_000_000_000));
        let mut line = LogLine::new();
        for kind in [QueryKind::Tag, QueryKind::Range] {
            let body = q.body(kind, 3, &mut line);
            let range = &body["filter"]["time_range"];
            assert_eq!(range["end"], 10_000_000_001_i64, "{body}");
            assert_eq!(range["start"], 8_000_000_001_i64, "{body}");
        }
        let tag = q.body(QueryKind::Tag, 3, &mut line);
        assert_eq!(tag["filter"]["tags"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn count_groups_by_level_and_regex_matches_messages() {
        let q = questions(None);
        let mut line = LogLine::new();
        let count = q.body(QueryKind::Count, 0, &mut line);
        assert!(count["q"].as_str().unwrap().contains("GROUP BY level"));
        assert!(count.get("limit").is_none());
        let regex = q.body(QueryKind::Regex, 0, &mut line);
        assert!(regex["q"].as_str().unwrap().contains("MATCHES"));
        assert_eq!(regex["partitions"][0], "p");
    }
}
