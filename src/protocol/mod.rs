//! The shippers' protocols: each turns a foreign wire format into entries
//! of a `ColumnBatch`, with no glommio in it, so tests and fuzzers drive
//! the decoders directly; `http::handlers` serves them.

pub mod elasticsearch;
pub mod jsonline;
pub mod mapped_json;
