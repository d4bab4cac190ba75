//! Where lines come from: a seeded generator of realistic production logs,
//! or the replay of a file.
//!
//! # The generator
//!
//! Line `index` is a pure function of (seed, line_bytes, index): each line
//! draws from its own SplitMix64 stream seeded from the seed and the index,
//! so lines can be generated in any order, by any number of threads, and a
//! verifier can regenerate any line later to check what a store returned.
//!
//! What the lines look like (the tests hold these numbers):
//! - **source**: 16 services (`api-gateway`, `auth`, `billing`, `checkout`,
//!   `search`, ...) with weights from 20 down to 1, so a few services
//!   dominate, as in a real shop.
//! - **level**: trace 1.5%, debug 15%, info 70%, warn 8%, error 5%,
//!   fatal 0.5% (`LEVEL_SHARES_PER_10K`).
//! - **message**: one of 67 templates, per service and shared (access
//!   lines, logfmt, SQL, ids, amounts, error reasons with quotes), chosen by
//!   level; see `catalog`. Half of the fatal lines and 5% of the errors
//!   (0.5% of all lines) carry a Java or Rust stack trace of 5 to 15 frames
//!   after a newline.
//! - **tags**: `host` (218 Kubernetes-style pod names in all, e.g.
//!   `auth-7f9c2-3`), `env` (`prod`, 9% `staging`) and `region` (four
//!   production regions, one staging region), all three fixed per host;
//!   `component` (3 to 5 per service); `request_id` (a random v4 UUID,
//!   unique per line); `user_id` (`u_<n>`, Zipf-like over 2 million users)
//!   on lines naming a user and on 20% of the others.
//! - **fields**: `status` (int), `duration_ms` (float, one decimal) and
//!   `bytes` (int) on request-like lines; they always agree with the
//!   message text, and `status` agrees with the level (5xx only at
//!   error/fatal, 4xx only at warn).
//!
//! # The size model
//!
//! `line_bytes` is the average size of a line encoded as native NDJSON,
//! newline included, with a 19-digit nanosecond timestamp. Each line draws
//! its own target, spread up to ±40% around `line_bytes` (triangular, and
//! narrower for small sizes), then is built up to it, counting its encoded
//! size as it goes (`padding::Budget`):
//! 1. a message template whose typical rendering fits the target (small
//!    targets draw from the short templates);
//! 2. tags and fields in order of importance (`host`, `env`, fields,
//!    `region`, `component`, `request_id`, `user_id`), each only if it fits,
//!    so small lines keep a host and little else;
//! 3. context appended to the message until the target is met: logfmt
//!    pairs, SQL, headers and payload excerpts, each at most once, then for
//!    long targets numbered batch items (`item[3]={sku=... qty=...}`).
//!
//! A stack trace is appended after step 2 instead of step 3, so trace lines
//! keep their tags and run past their target. The average is within ±10%
//! of `line_bytes` for 120..=4096 bytes (within 2% in the tests).
//!
//! # Needles
//!
//! Lines with `index % NEEDLE_PERIOD == 0` (one in 100 000) carry the word
//! `needle_word(index / NEEDLE_PERIOD)` (`needle-` and 16 hex digits) at the
//! end of their message's first part. Each needle word is unique to its
//! line and no other line contains `needle`, so a search for a needle word
//! must return exactly one line: a selective-query benchmark with a known
//! answer.

mod access_log;
mod catalog;
mod generator;
mod padding;
mod replay;
mod rng;
mod stack;
mod template;
#[cfg(test)]
mod tests;

pub use access_log::{AccessLog, RARE_WORD, RARE_WORD_OFFSET, RARE_WORD_PERIOD, USER_COUNT};
pub use generator::{
    Generator, GeneratorConfig, LEVEL_SHARES_PER_10K, LINE_BYTES_ACCURATE_MAX,
    LINE_BYTES_ACCURATE_MIN, LINE_BYTES_DEFAULT, LINE_BYTES_MAX, NEEDLE_PERIOD,
};
pub use replay::{Replay, REPLAY_SOURCE_DEFAULT};

use crate::line::LogLine;

/// Either kind of workload, behind one `fill`.
pub enum LineSource {
    Generated(Generator),
    AccessLog(AccessLog),
    Replay(Replay),
}

impl LineSource {
    /// Overwrites `line` (all but its timestamp) with line `index`.
    pub fn fill(&self, index: u64, line: &mut LogLine) {
        match self {
            LineSource::Generated(generator) => generator.fill(index, line),
            LineSource::AccessLog(access_log) => access_log.fill(index, line),
            LineSource::Replay(replay) => replay.fill(index, line),
        }
    }
}
