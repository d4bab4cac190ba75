//! Column encodings of block format v3 (`block::column`): how many bytes
//! each candidate encoding spends per value on realistic granules, and how
//! fast each decodes a 4096-row granule.
//!
//! Printed once (for docs/BENCHMARKS.md): a table of encoded bytes per
//! value of every candidate on every data set, before compression and after
//! lz4 and zstd-3 (the frame codecs), with the encoder's choice marked.
//! Measured: decode throughput in values per second.
//!
//! Ceiling: decoding runs at query time over every granule a query reads,
//! next to zstd/lz4 decompression of the same frame (lz4 ~4 GB/s, zstd
//! ~1 GB/s, i.e. ~250-500 M values/s for 2-4 byte values). Bit unpacking
//! should reach ~1 value per ns or better so it never dominates; varint
//! decoding is branchy and expected at a few hundred M values/s.
//!
//! Data is generated with a deterministic splitmix64, so every run measures
//! the same bytes.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use timberdb::block::column::{self, bits, encoding};

/// Rows per granule, the unit every frame holds.
const GRANULE_ROWS: usize = 4096;

/// Level values of `entry::Level` (kept literal: the bench does not depend
/// on the entry module).
const DEBUG: u8 = 2;
const INFO: u8 = 3;
const WARN: u8 = 4;
const ERROR: u8 = 5;

/// A small deterministic generator (splitmix64).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0; the modulo bias is irrelevant here).
    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 2023-11-14T22:13:20Z in nanoseconds: a realistic magnitude for v0.
const EPOCH_NS: i64 = 1_700_000_000_000_000_000;

/// Lines arriving one by one: each 20-200 us after the previous, and one in
/// ten stamped up to 1 ms in the past (it arrived late).
fn timestamps_arrival(rng: &mut SplitMix64) -> Vec<i64> {
    let mut now = EPOCH_NS;
    (0..GRANULE_ROWS)
        .map(|_| {
            now += 20_000 + rng.below(180_001) as i64;
            if rng.below(10) == 0 {
                now - rng.below(1_000_000) as i64
            } else {
                now
            }
        })
        .collect()
}

/// Lines shipped in batches of 1000: every line of a batch has the batch's
/// base time plus 300 ns per line and up to +-50 ns of jitter; batches are
/// 50-500 ms apart.
fn timestamps_batched(rng: &mut SplitMix64) -> Vec<i64> {
    let mut base = EPOCH_NS;
    (0..GRANULE_ROWS)
        .map(|row| {
            let line = (row % 1000) as i64;
            if line == 0 && row > 0 {
                base += 50_000_000 + rng.below(450_000_001) as i64;
            }
            base + line * 300 + rng.below(101) as i64 - 50
        })
        .collect()
}

/// Info 70%, warn 15%, error 8%, debug 7%, in random order.
fn levels_skewed(rng: &mut SplitMix64) -> Vec<u8> {
    (0..GRANULE_ROWS)
        .map(|_| match rng.below(100) {
            0..70 => INFO,
            70..85 => WARN,
            85..93 => ERROR,
            _ => DEBUG,
        })
        .collect()
}

/// The same mix sorted: four long runs (the best case for run lengths).
fn levels_sorted(rng: &mut SplitMix64) -> Vec<u8> {
    let mut levels = levels_skewed(rng);
    levels.sort_unstable();
    levels
}

/// Ids of a dictionary of `distinct` entries, each equally likely.
fn ids_uniform(rng: &mut SplitMix64, distinct: u32) -> Vec<u32> {
    (0..GRANULE_ROWS)
        .map(|_| rng.below(u64::from(distinct)) as u32)
        .collect()
}

/// Ids with Zipf-like frequencies (id k has weight 1 / (k + 1)): a few
/// sources or hosts produce most lines.
fn ids_zipf(rng: &mut SplitMix64, distinct: u32) -> Vec<u32> {
    let mut cumulative = Vec::with_capacity(distinct as usize);
    let mut total = 0.0;
    for k in 0..distinct {
        total += 1.0 / f64::from(k + 1);
        cumulative.push(total);
    }
    (0..GRANULE_ROWS)
        .map(|_| {
            let target = rng.unit() * total;
            cumulative
                .partition_point(|&c| c <= target)
                .min(distinct as usize - 1) as u32
        })
        .collect()
}

/// Log-message-like strings: a few words, an id, sometimes non-ASCII.
fn strings_messages(rng: &mut SplitMix64) -> Vec<String> {
    const WORDS: [&str; 12] = [
        "GET",
        "/api/v1/users",
        "completed",
        "status",
        "200",
        "in",
        "ms",
        "timeout",
        "connecting",
        "to",
        "db-primary",
        "café",
    ];
    (0..GRANULE_ROWS)
        .map(|_| {
            let words = 6 + rng.below(10) as usize;
            let mut line: Vec<&str> = (0..words)
                .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                .collect();
            let id = format!("req-{:016x}", rng.next_u64());
            line.push(&id);
            line.join(" ")
        })
        .collect()
}

/// Tag values present on about 30% of rows.
fn strings_sparse_tags(rng: &mut SplitMix64) -> Vec<Option<String>> {
    (0..GRANULE_ROWS)
        .map(|_| (rng.below(10) < 3).then(|| format!("v{}.{}", rng.below(4), rng.below(20))))
        .collect()
}

/// One data set of one column kind, with its candidate frames.
struct Row {
    column: &'static str,
    data: String,
    /// (encoding name, frame bytes, chosen by the encoder)
    candidates: Vec<(&'static str, Vec<u8>, bool)>,
}

fn int_row(data: &str, values: &[i64]) -> Row {
    let mut chosen_frame = Vec::new();
    let chosen = column::encode_i64s(values, &mut chosen_frame);
    let candidates = [
        ("delta_varint", encoding::I64_DELTA_VARINT),
        ("delta_of_delta_varint", encoding::I64_DELTA_OF_DELTA_VARINT),
        ("delta_bitpack", encoding::I64_DELTA_BITPACK),
    ]
    .into_iter()
    .map(|(name, id)| {
        let mut frame = Vec::new();
        column::encode_i64s_as(id, values, &mut frame).expect("an i64 encoding");
        (name, frame, id == chosen)
    })
    .collect();
    Row {
        column: "timestamp",
        data: data.to_string(),
        candidates,
    }
}

fn level_row(data: &str, values: &[u8]) -> Row {
    let chosen = column::encode_levels(values, &mut Vec::new());
    let candidates = [
        ("packed3", encoding::LEVELS_PACKED3),
        ("run_length", encoding::LEVELS_RUN_LENGTH),
        ("raw", encoding::LEVELS_RAW),
    ]
    .into_iter()
    .map(|(name, id)| {
        let mut frame = Vec::new();
        column::encode_levels_as(id, values, &mut frame).expect("levels <= 7");
        (name, frame, id == chosen)
    })
    .collect();
    Row {
        column: "level",
        data: data.to_string(),
        candidates,
    }
}

fn id_row(data: String, ids: &[u32], id_bound: u32) -> Row {
    let chosen = column::encode_ids(ids, id_bound, &mut Vec::new());
    let candidates = [
        ("packed", encoding::IDS_PACKED),
        ("run_length", encoding::IDS_RUN_LENGTH),
    ]
    .into_iter()
    .map(|(name, id)| {
        let mut frame = Vec::new();
        column::encode_ids_as(id, ids, id_bound, &mut frame).expect("an id encoding");
        (name, frame, id == chosen)
    })
    .collect();
    Row {
        column: "dict id",
        data,
        candidates,
    }
}

fn string_rows(messages: &[String], tags: &[Option<String>]) -> [Row; 2] {
    let mut plain = Vec::new();
    column::encode_strings(messages.iter().map(|m| m.as_bytes()), &mut plain);
    let mut nullable = Vec::new();
    column::encode_nullable_strings(
        tags.iter().map(|t| t.as_deref().map(str::as_bytes)),
        &mut nullable,
    );
    [
        Row {
            column: "string",
            data: "log messages, ~93 bytes".to_string(),
            candidates: vec![("strings", plain, true)],
        },
        Row {
            column: "string",
            data: "tag on 30% of rows".to_string(),
            candidates: vec![("nullable_strings", nullable, true)],
        },
    ]
}

/// Every data set, generated once per bench run from seed 42.
struct DataSets {
    arrival: Vec<i64>,
    batched: Vec<i64>,
    levels_skewed: Vec<u8>,
    levels_sorted: Vec<u8>,
    /// (distinct ids, uniform ids, Zipf-like ids)
    ids: Vec<(u32, Vec<u32>, Vec<u32>)>,
    messages: Vec<String>,
    tags: Vec<Option<String>>,
}

impl DataSets {
    fn generate() -> Self {
        let mut rng = SplitMix64(42);
        DataSets {
            arrival: timestamps_arrival(&mut rng),
            batched: timestamps_batched(&mut rng),
            levels_skewed: levels_skewed(&mut rng),
            levels_sorted: levels_sorted(&mut rng),
            ids: [8, 64, 219]
                .into_iter()
                .map(|n| (n, ids_uniform(&mut rng, n), ids_zipf(&mut rng, n)))
                .collect(),
            messages: strings_messages(&mut rng),
            tags: strings_sparse_tags(&mut rng),
        }
    }

    fn rows(&self) -> Vec<Row> {
        let mut rows = vec![
            int_row("arrival 20-200us, 10% <=1ms late", &self.arrival),
            int_row("1000-line batches, 300ns steps", &self.batched),
            level_row("skewed 70/15/8/7%, random order", &self.levels_skewed),
            level_row("skewed, sorted into runs", &self.levels_sorted),
        ];
        for (distinct, uniform, zipf) in &self.ids {
            rows.push(id_row(
                format!("{distinct} distinct, uniform"),
                uniform,
                *distinct,
            ));
            rows.push(id_row(
                format!("{distinct} distinct, Zipf-like"),
                zipf,
                *distinct,
            ));
        }
        rows.extend(string_rows(&self.messages, &self.tags));
        rows
    }
}

/// Bytes per value after compressing `frame` with lz4 and zstd-3.
fn compressed_per_value(frame: &[u8]) -> (f64, f64) {
    let lz4 = lz4_flex::compress(frame).len();
    let zstd = zstd::bulk::compress(frame, 3)
        .expect("zstd compresses")
        .len();
    let rows = GRANULE_ROWS as f64;
    (lz4 as f64 / rows, zstd as f64 / rows)
}

fn print_sizes(rows: &[Row]) {
    eprintln!("\ncolumn_encodings: encoded bytes per value, {GRANULE_ROWS}-row granules, seed 42 (* = the encoder's choice)");
    eprintln!(
        "| {:<9} | {:<34} | {:<24} | {:>9} | {:>9} | {:>9} |",
        "column", "data", "encoding", "raw", "+lz4", "+zstd-3"
    );
    eprintln!(
        "|{:-<11}|{:-<36}|{:-<26}|{:->11}|{:->11}|{:->11}|",
        "", "", "", "", "", ""
    );
    for row in rows {
        for (name, frame, chosen) in &row.candidates {
            let (lz4, zstd) = compressed_per_value(frame);
            let name = format!("{name}{}", if *chosen { " *" } else { "" });
            eprintln!(
                "| {:<9} | {:<34} | {:<24} | {:>9.3} | {:>9.3} | {:>9.3} |",
                row.column,
                row.data,
                name,
                frame.len() as f64 / GRANULE_ROWS as f64,
                lz4,
                zstd
            );
        }
    }
    eprintln!();
}

fn bench_decode(c: &mut Criterion) {
    let data = DataSets::generate();
    let rows = data.rows();
    print_sizes(&rows);

    let mut group = c.benchmark_group("column_decode");
    group.throughput(Throughput::Elements(GRANULE_ROWS as u64));
    bench_ints(&mut group, &rows);
    bench_levels(&mut group, &rows);
    bench_ids(&mut group, &rows, &data);
    bench_strings(&mut group, &rows);
    bench_unpack(&mut group);
    group.finish();
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The frame of candidate `name` in the row about `data`.
fn frame<'r>(rows: &'r [Row], data: &str, name: &str) -> &'r [u8] {
    let row = rows
        .iter()
        .find(|r| r.data == data)
        .expect("known data set");
    let candidate = row
        .candidates
        .iter()
        .find(|c| c.0 == name)
        .expect("known encoding");
    &candidate.1
}

fn bench_ints(group: &mut Group<'_>, rows: &[Row]) {
    let mut out = Vec::with_capacity(GRANULE_ROWS);
    for (data, short) in [
        ("arrival 20-200us, 10% <=1ms late", "arrival"),
        ("1000-line batches, 300ns steps", "batched"),
    ] {
        for (name, id) in [
            ("delta_varint", encoding::I64_DELTA_VARINT),
            ("delta_of_delta_varint", encoding::I64_DELTA_OF_DELTA_VARINT),
            ("delta_bitpack", encoding::I64_DELTA_BITPACK),
        ] {
            let bytes = frame(rows, data, name);
            group.bench_function(format!("timestamp/{name}/{short}"), |b| {
                b.iter(|| {
                    out.clear();
                    column::decode_i64s(id, black_box(bytes), GRANULE_ROWS, &mut out)
                        .expect("decodes")
                })
            });
        }
    }
}

fn bench_levels(group: &mut Group<'_>, rows: &[Row]) {
    let mut out = Vec::with_capacity(GRANULE_ROWS);
    for (data, short, name, id) in [
        (
            "skewed 70/15/8/7%, random order",
            "random",
            "packed3",
            encoding::LEVELS_PACKED3,
        ),
        (
            "skewed 70/15/8/7%, random order",
            "random",
            "run_length",
            encoding::LEVELS_RUN_LENGTH,
        ),
        (
            "skewed 70/15/8/7%, random order",
            "random",
            "raw",
            encoding::LEVELS_RAW,
        ),
        (
            "skewed, sorted into runs",
            "sorted",
            "run_length",
            encoding::LEVELS_RUN_LENGTH,
        ),
    ] {
        let bytes = frame(rows, data, name);
        group.bench_function(format!("level/{name}/{short}"), |b| {
            b.iter(|| {
                out.clear();
                column::decode_levels(id, black_box(bytes), GRANULE_ROWS, &mut out)
                    .expect("decodes")
            })
        });
    }
}

fn bench_ids(group: &mut Group<'_>, rows: &[Row], data: &DataSets) {
    let mut out = Vec::with_capacity(GRANULE_ROWS);
    for &(distinct, _, _) in &data.ids {
        for (kind, name, id) in [
            ("uniform", "packed", encoding::IDS_PACKED),
            ("Zipf-like", "packed", encoding::IDS_PACKED),
            ("Zipf-like", "run_length", encoding::IDS_RUN_LENGTH),
        ] {
            let bytes = frame(rows, &format!("{distinct} distinct, {kind}"), name);
            group.bench_function(format!("dict_id/{name}/{distinct}_{kind}"), |b| {
                b.iter(|| {
                    out.clear();
                    column::decode_ids(id, black_box(bytes), GRANULE_ROWS, distinct, &mut out)
                        .expect("decodes")
                })
            });
        }
    }
}

fn bench_strings(group: &mut Group<'_>, rows: &[Row]) {
    let mut ends = Vec::with_capacity(GRANULE_ROWS);
    let mut present = Vec::with_capacity(GRANULE_ROWS / 64);
    let plain = frame(rows, "log messages, ~93 bytes", "strings");
    group.bench_function("string/strings/messages", |b| {
        b.iter(|| {
            column::decode_strings(black_box(plain), GRANULE_ROWS, &mut ends).expect("decodes")
        })
    });
    let nullable = frame(rows, "tag on 30% of rows", "nullable_strings");
    group.bench_function("string/nullable_strings/sparse_tag", |b| {
        b.iter(|| {
            column::decode_nullable_strings(
                black_box(nullable),
                GRANULE_ROWS,
                &mut ends,
                &mut present,
            )
            .expect("decodes")
        })
    });
}

/// Raw `bits::unpack` at a few widths, the kernel under the packed
/// encodings.
fn bench_unpack(group: &mut Group<'_>) {
    let mut rng = SplitMix64(7);
    let mut out = Vec::<u64>::with_capacity(GRANULE_ROWS);
    for width in [3u8, 8, 13, 21, 32, 64] {
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1 << width) - 1
        };
        let values: Vec<u64> = (0..GRANULE_ROWS).map(|_| rng.next_u64() & mask).collect();
        let mut bytes = Vec::new();
        bits::pack(&values, width, &mut bytes);
        group.bench_function(format!("unpack_u64/width_{width}"), |b| {
            b.iter(|| {
                out.clear();
                bits::unpack(black_box(&bytes), width, GRANULE_ROWS, &mut out).expect("unpacks")
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    targets = bench_decode
}
criterion_main!(benches);
