//! The query cursor and the data directory's JSON files.
//! The entry function and the properties it checks are in
//! `timberdb::fuzzing`, so `tests/fuzz_corpus.rs` runs the same code on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| timberdb::fuzzing::metadata(data));
