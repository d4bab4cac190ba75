//! What a quota charge costs: the real `src/quota/bucket.rs` (it uses only
//! std), compiled alone, timed uncontended on one core and with two threads
//! on two cores charging one key's bucket at once (the cache line moves
//! between cores on every charge: the worst case of a key whose connections
//! land on every shard). An ingest request is charged twice (bytes, lines).
//!
//!   rustc -O --edition 2021 scripts/quota_bucket_cost.rs -o /tmp/quota_bucket_cost
//!   taskset -c 0,1 /tmp/quota_bucket_cost
#[path = "../src/quota/bucket.rs"]
#[allow(dead_code)]
mod bucket;

use std::hint::black_box;
use std::time::Instant;

use bucket::{Bucket, Rate};

const CHARGES: u64 = 20_000_000;

fn main() {
    // A rate so high nothing is refused: every charge takes the CAS path.
    let rate = Rate {
        per_second: u64::MAX / 4_000_000_000,
        burst_seconds: 3600,
    };
    let bucket = Bucket::new();
    let started = Instant::now();
    for _ in 0..CHARGES {
        let _ = black_box(bucket.take(black_box(1000), rate, bucket::clock_ns()));
    }
    let one = started.elapsed().as_nanos() as f64 / CHARGES as f64;
    println!("uncontended: {one:.1} ns per charge (clock read included)");

    let shared = Bucket::new();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..CHARGES / 2 {
                    let _ = black_box(shared.take(black_box(1000), rate, bucket::clock_ns()));
                }
            });
        }
    });
    // Each thread made CHARGES / 2 charges in the wall time.
    let two = started.elapsed().as_nanos() as f64 / (CHARGES / 2) as f64;
    println!("two cores, one bucket: {two:.1} ns per charge on each core");
}
