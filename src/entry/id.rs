//! Entry ids: (slice, sequence), unique within a partition.
//!
//! A partition has one slice per shard; each slice numbers its entries from 1
//! upward, so `slice-seq` is unique within the partition and a client can
//! page from it. Numbers only grow but may skip: a group whose WAL write
//! failed keeps its numbers, and a WAL recovery that lost records skips past
//! every number they can have held (`storage::wal_recovery`), so an id is
//! never given to two entries. Printed as `"<slice>-<seq>"`.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    pub slice: u32,
    pub seq: u64,
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.slice, self.seq)
    }
}

impl EntryId {
    pub fn parse(text: &str) -> Option<EntryId> {
        let (slice, seq) = text.split_once('-')?;
        Some(EntryId {
            slice: slice.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_round_trip() {
        let id = EntryId {
            slice: 3,
            seq: 1042,
        };
        assert_eq!(id.to_string(), "3-1042");
        assert_eq!(EntryId::parse("3-1042"), Some(id));
        assert_eq!(EntryId::parse("x-1"), None);
    }
}
