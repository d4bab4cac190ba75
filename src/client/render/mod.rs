//! render/: "how does an answer look on a terminal?"
//!
//! Pure functions from the server's answers to text: no I/O, no environment, so every
//! layout decision is unit-tested. Whether to colour, and whether the output is a terminal
//! at all, is decided once by the command ([`crate::client::output`]) and passed in.

pub mod entry;
pub mod stats;
pub mod style;
pub mod table;
pub mod time;
