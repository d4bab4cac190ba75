//! The syslog decoder on arbitrary TCP streams: framing, then parsing and
//! mapping every frame into a batch, must never panic, must always make
//! progress, and must keep every batch's invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timberdb::entry::ColumnBatch;
use timberdb::protocol::syslog::frame::{trim_frame, Framer, Next};
use timberdb::protocol::syslog::{entry, parse};

/// 2026-12-03T08:19:11Z.
const NOW_NS: i64 = 1_796_285_951_000_000_000;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a small limit so over-long paths are reached.
    let Some((&limit, stream)) = data.split_first() else {
        return;
    };
    let mut framer = Framer::new(usize::from(limit) + 1);
    let mut batch = ColumnBatch::default();
    let mut fields = String::new();
    let mut at = 0;
    loop {
        let frame = match framer.next(&stream[at..]) {
            Next::Message {
                start,
                end,
                consumed,
            } => {
                assert!(start <= end && end <= consumed && consumed > 0);
                let frame = &stream[at + start..at + end];
                at += consumed;
                frame
            }
            Next::LineCut { end } => {
                assert!(end > 0);
                let frame = &stream[at..at + end];
                at += end;
                frame
            }
            Next::Skipped { consumed } => {
                assert!(consumed > 0);
                at += consumed;
                continue;
            }
            Next::FrameTooLong { .. } | Next::NeedMore => break,
        };
        let text = String::from_utf8_lossy(trim_frame(frame));
        let message = parse::parse(&text, NOW_NS);
        let _ = entry::push_message(&mut batch, &message, &text, "peer", NOW_NS, &mut fields);
        if !fields.is_empty() {
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&fields);
            assert!(parsed.is_ok(), "structured data JSON: {fields}");
        }
    }
    assert!(batch.check_invariants().is_ok());
});
