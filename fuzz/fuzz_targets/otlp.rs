//! The OTLP decoders on arbitrary bytes: protobuf and JSON must return a
//! request or an error, never panic; a decoded protobuf request must
//! survive encode-and-decode unchanged; and every decoded request must
//! convert to entries without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timberdb::config::OtlpConfig;
use timberdb::entry::ColumnBatch;
use timberdb::protocol::otlp::convert::convert;
use timberdb::protocol::otlp::encode::encode_request;
use timberdb::protocol::otlp::{decode, Encoding};

fuzz_target!(|data: &[u8]| {
    let config = OtlpConfig::default();
    if let Ok(request) = decode(Encoding::Protobuf, data) {
        let again = encode_request(&request);
        let decoded = decode(Encoding::Protobuf, &again).expect("our own encoding decodes");
        // Debug text: NaN doubles compare equal there.
        assert_eq!(format!("{request:?}"), format!("{decoded:?}"));
        let _ = convert(&request, &config, 0, ColumnBatch::default);
    }
    if let Ok(request) = decode(Encoding::Json, data) {
        let _ = convert(&request, &config, 0, ColumnBatch::default);
    }
});
