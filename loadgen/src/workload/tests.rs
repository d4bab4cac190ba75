//! The generator's promises: determinism, random access, the documented
//! distributions, the size model, and needles.

use std::collections::{HashMap, HashSet};

use super::catalog::{self, SERVICES};
use super::template;
use super::*;
use crate::line::{FieldValue, Level, LogLine};
use crate::protocol::Protocol;

/// A 19-digit timestamp, as the size model assumes.
const T0: i64 = 1_710_498_600_123_456_789;

fn new_generator(seed: u64, line_bytes: usize) -> Generator {
    Generator::new(GeneratorConfig { seed, line_bytes })
}

fn line_at(generator: &Generator, index: u64) -> LogLine {
    let mut line = LogLine::new();
    generator.fill(index, &mut line);
    line
}

fn native_bytes(line: &LogLine) -> usize {
    let mut out = Vec::new();
    Protocol::Native.encode(std::slice::from_ref(line), "p", &mut out);
    out.len()
}

/// Every template text in the catalog; `Generator::new` panics on a bad one.
fn catalog_templates() -> impl Iterator<Item = &'static str> {
    catalog::SHARED_TEMPLATES
        .iter()
        .map(|t| t.2)
        .chain(
            SERVICES
                .iter()
                .flat_map(|s| s.templates.iter().map(|t| t.2)),
        )
        .chain(catalog::PADDING_SEGMENTS.iter().map(|t| t.1))
        .chain(catalog::ITEM_SEGMENTS.iter().map(|t| t.1))
}

#[test]
fn catalog_templates_parse_and_cover_every_class() {
    let mut count = 0;
    for text in catalog_templates() {
        template::Template::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        count += 1;
    }
    let message_templates = count - catalog::PADDING_SEGMENTS.len() - catalog::ITEM_SEGMENTS.len();
    assert!(message_templates >= 30, "{message_templates} templates");
    for service in SERVICES {
        assert!(!service.routes.is_empty() && !service.components.is_empty());
        assert!(service.host_count >= 4, "{}", service.name);
    }
    assert!((12..=20).contains(&SERVICES.len()));
    for class in catalog::Class::ALL {
        assert!(catalog::SHARED_TEMPLATES.iter().any(|t| t.0 == class));
    }
    // Tag values are charged to a line's size without scanning for JSON
    // escapes; that holds only while they are clean.
    for service in SERVICES {
        let texts = service
            .routes
            .iter()
            .chain(service.components)
            .chain([&service.name]);
        for text in texts {
            assert!(template::is_clean(text), "{text:?}");
        }
    }
    let host_count: u32 = SERVICES.iter().map(|s| s.host_count).sum();
    assert_eq!(host_count, 218, "the module docs name this number");
    for bad in [
        "{nope}",
        "{int:5-1}",
        "{hex:0}",
        "{list:missing}",
        "open {",
        "close }",
    ] {
        assert!(template::Template::parse(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn generator_same_seed_same_lines_other_seed_other_lines() {
    let a = new_generator(42, 240);
    let b = new_generator(42, 240);
    let c = new_generator(43, 240);
    let mut differing = 0;
    for index in 0..2_000 {
        let line = line_at(&a, index);
        assert_eq!(line, line_at(&b, index), "line {index}");
        if line != line_at(&c, index) {
            differing += 1;
        }
    }
    assert_eq!(differing, 2_000, "another seed changes every line");
}

#[test]
fn generator_lines_are_random_access_across_threads() {
    let generator = new_generator(7, 400);
    let sequential: Vec<LogLine> = (0..4_000).map(|i| line_at(&generator, i)).collect();
    let mut line = LogLine::new();
    for index in (0..4_000u64).rev() {
        generator.fill(index, &mut line);
        assert_eq!(
            line, sequential[index as usize],
            "reverse order, line {index}"
        );
    }
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let (generator, sequential) = (&generator, &sequential);
            scope.spawn(move || {
                let mut line = LogLine::new();
                for index in (thread..4_000).step_by(4) {
                    generator.fill(index, &mut line);
                    assert_eq!(line, sequential[index as usize], "thread {thread}");
                }
            });
        }
    });
}

#[test]
fn generator_levels_follow_the_documented_shares() {
    const LINES: u64 = 100_000;
    let generator = new_generator(1, 240);
    let mut counts: HashMap<Level, u64> = HashMap::new();
    let mut line = LogLine::new();
    for index in 0..LINES {
        generator.fill(index, &mut line);
        *counts.entry(line.level).or_default() += 1;
    }
    for (level, per_10k) in LEVEL_SHARES_PER_10K {
        let expected = LINES * per_10k / 10_000;
        let observed = counts.get(&level).copied().unwrap_or(0);
        // Five standard deviations of a binomial count.
        let p = per_10k as f64 / 10_000.0;
        let tolerance = (5.0 * (LINES as f64 * p * (1.0 - p)).sqrt()) as u64 + 1;
        assert!(
            observed.abs_diff(expected) <= tolerance,
            "{level:?}: {observed} lines, expected {expected} ± {tolerance}"
        );
    }
}

/// The average native NDJSON size meets `line_bytes` within ±10%, and the
/// generator's own size accounting is exact.
#[test]
fn generator_line_sizes_meet_the_target() {
    const LINES: u64 = 20_000;
    let mut misses = Vec::new();
    for line_bytes in [120, 150, 240, 1_000, 4_000, 4_096] {
        let generator = new_generator(5, line_bytes);
        let mut line = LogLine::new();
        let mut total = 0;
        for index in 0..LINES {
            let planned = generator.fill_sized(index, &mut line);
            line.timestamp_ns = T0;
            let actual = native_bytes(&line);
            assert_eq!(planned, actual, "line {index} at {line_bytes}: {line:?}");
            total += actual;
        }
        let average = total as f64 / LINES as f64;
        let error = average / line_bytes as f64 - 1.0;
        println!(
            "line_bytes {line_bytes}: average {average:.1} ({:+.1}%)",
            error * 100.0
        );
        if error.abs() > 0.10 {
            misses.push((line_bytes, average));
        }
    }
    assert!(
        misses.is_empty(),
        "averages off by more than 10%: {misses:?}"
    );
}

#[test]
fn generator_lines_look_like_production_logs() {
    const LINES: u64 = 100_000;
    let generator = new_generator(11, 600);
    let mut line = LogLine::new();
    let (mut multiline, mut staging, mut with_user) = (0, 0, 0);
    let mut hosts = HashSet::new();
    let mut sources = HashSet::new();
    let mut request_ids = HashSet::new();
    for index in 0..LINES {
        generator.fill(index, &mut line);
        sources.insert(line.source.clone());
        hosts.insert(line.tag("host").expect("host always fits").to_owned());
        assert!(line
            .tag("host")
            .is_some_and(|h| h.starts_with(line.source.as_str())));
        staging += u64::from(line.tag("env") == Some("staging"));
        with_user += u64::from(line.tag("user_id").is_some());
        if let Some(id) = line.tag("request_id") {
            assert_eq!(id.len(), 36);
            assert!(request_ids.insert(id.to_owned()), "request ids are unique");
        }
        if line.message.contains('\n') {
            multiline += 1;
            assert!(matches!(line.level, Level::Error | Level::Fatal));
        }
        check_fields_agree(&line);
    }
    assert_eq!(sources.len(), SERVICES.len());
    assert!((150..=218).contains(&hosts.len()), "{} hosts", hosts.len());
    let share = |count: u64| count as f64 / LINES as f64;
    assert!(
        (0.003..0.007).contains(&share(multiline)),
        "multiline {}",
        share(multiline)
    );
    assert!(
        (0.05..0.2).contains(&share(staging)),
        "staging {}",
        share(staging)
    );
    assert!(
        (0.2..0.6).contains(&share(with_user)),
        "user_id {}",
        share(with_user)
    );
    assert!(request_ids.len() as u64 > LINES * 9 / 10);
}

/// `status` agrees with the level and the message; `duration_ms` too.
fn check_fields_agree(line: &LogLine) {
    for (key, value) in line.fields() {
        match (key, value) {
            ("status", FieldValue::Int(status)) => {
                let allowed: &[i64] = match line.level {
                    Level::Warn => &[4],
                    Level::Error | Level::Fatal => &[5],
                    _ => &[2, 3],
                };
                assert!(allowed.contains(&(status / 100)), "{line:?}");
                assert!(line.message.contains(&status.to_string()));
            }
            ("duration_ms", FieldValue::Float(ms)) => {
                assert!(line.message.contains(&format!("{ms}")), "{ms} in {line:?}");
            }
            ("bytes", FieldValue::Int(bytes)) => assert!(bytes >= 64),
            other => panic!("unexpected field {other:?}"),
        }
    }
}

#[test]
fn needle_words_are_in_exactly_their_lines() {
    let generator = new_generator(21, 240);
    let range = 0..3 * NEEDLE_PERIOD + 1;
    let expected: Vec<u64> = generator.needle_lines(range.clone()).collect();
    assert_eq!(
        expected,
        [0, NEEDLE_PERIOD, 2 * NEEDLE_PERIOD, 3 * NEEDLE_PERIOD]
    );
    let shifted: Vec<u64> = generator.needle_lines(1..2 * NEEDLE_PERIOD).collect();
    assert_eq!(shifted, [NEEDLE_PERIOD]);
    let last = u64::MAX / NEEDLE_PERIOD * NEEDLE_PERIOD;
    let top: Vec<u64> = generator.needle_lines(last - 1..u64::MAX).collect();
    assert_eq!(top, [last], "no overflow near the end of the index space");
    let mut line = LogLine::new();
    let mut found = Vec::new();
    for index in range {
        generator.fill(index, &mut line);
        if line.message.contains("needle") {
            found.push(index);
            let word = generator.needle_word(index / NEEDLE_PERIOD);
            assert!(line.message.contains(&format!(" {word}")), "{line:?}");
        }
    }
    assert_eq!(found, expected);
    let words: HashSet<String> = (0..10_000).map(|k| generator.needle_word(k)).collect();
    assert_eq!(words.len(), 10_000);
    assert!(words
        .iter()
        .all(|w| w.len() == 23 && w.starts_with("needle-")));
    assert_ne!(
        generator.needle_word(0),
        new_generator(22, 240).needle_word(0)
    );
}

#[test]
fn line_source_dispatches_to_the_generator() {
    let source = LineSource::Generated(new_generator(3, 240));
    let mut line = LogLine::new();
    source.fill(17, &mut line);
    assert_eq!(line, line_at(&new_generator(3, 240), 17));
}

/// Not a test of behaviour: prints the generator's speed. Run with
/// `cargo test -p loadgen --release -- --ignored --nocapture generation_rate`.
#[test]
#[ignore]
fn generation_rate() {
    let generator = new_generator(1, LINE_BYTES_DEFAULT);
    let mut line = LogLine::new();
    let lines = 2_000_000u64;
    let started = std::time::Instant::now();
    for index in 0..lines {
        generator.fill(index, &mut line);
        std::hint::black_box(&line);
    }
    let rate = lines as f64 / started.elapsed().as_secs_f64();
    println!("generated {rate:.0} lines/s on one thread");
}
