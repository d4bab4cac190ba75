//! The shard's cache of granule word filters, under a memory budget.
//!
//! A block's directory is always in memory (a query plans from it), but
//! its granules' word filters (about 2-5 bytes per entry) would grow with
//! the data without bound, so they are read on demand: the first query
//! that needs a block's filters reads them with one ranged read (they lie
//! together at the end of the block's frames), checks every frame's crc,
//! and keeps them here. Past the budget the least recently used block's
//! filters are dropped. `/metrics` shows the budget, the bytes held, hits
//! and misses.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::block::{check_filter_frame, BlockError};
use crate::index::GranuleFilter;
use crate::storage::Result;

use super::slice::BlockRef;

/// One block's granule filters, checked, as read from its segment.
pub struct FilterSection {
    bytes: Vec<u8>,
    /// Per granule: (start in `bytes`, length, encoding).
    frames: Vec<(usize, usize, u8)>,
}

impl FilterSection {
    /// Granule `granule`'s filter.
    pub fn granule(&self, granule: usize) -> GranuleFilter<'_> {
        let (start, length, encoding) = self.frames[granule];
        GranuleFilter::parse(encoding, &self.bytes[start..start + length])
            .expect("filters are checked when their section is read")
    }

    fn size_bytes(&self) -> usize {
        self.bytes.len() + self.frames.len() * std::mem::size_of::<(usize, usize, u8)>()
    }
}

/// Counters of the cache, for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct FilterCacheStats {
    pub budget_bytes: usize,
    pub used_bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

pub struct FilterCache {
    inner: RefCell<Lru>,
}

#[derive(Default)]
struct Lru {
    budget_bytes: usize,
    used_bytes: usize,
    /// Block key -> (last use, section).
    entries: HashMap<(u32, u64), (u64, Rc<FilterSection>)>,
    /// Last use -> block key, oldest first.
    by_use: BTreeMap<u64, (u32, u64)>,
    clock: u64,
    hits: u64,
    misses: u64,
}

impl FilterCache {
    pub fn new(budget_bytes: usize) -> FilterCache {
        FilterCache {
            inner: RefCell::new(Lru {
                budget_bytes,
                ..Lru::default()
            }),
        }
    }

    /// The block's filters, from the cache or read from its segment.
    pub async fn load(&self, block: &BlockRef) -> Result<Rc<FilterSection>> {
        if let Some(section) = self.inner.borrow_mut().get(block.key()) {
            return Ok(section);
        }
        let section = Rc::new(read_section(block).await?);
        self.inner.borrow_mut().insert(block.key(), section.clone());
        Ok(section)
    }

    /// Drops a block's filters (its space is being given back).
    pub fn forget(&self, key: (u32, u64)) {
        self.inner.borrow_mut().remove(key);
    }

    pub fn stats(&self) -> FilterCacheStats {
        let lru = self.inner.borrow();
        FilterCacheStats {
            budget_bytes: lru.budget_bytes,
            used_bytes: lru.used_bytes,
            hits: lru.hits,
            misses: lru.misses,
        }
    }
}

impl Lru {
    fn get(&mut self, key: (u32, u64)) -> Option<Rc<FilterSection>> {
        let Some((last_use, section)) = self.entries.get_mut(&key) else {
            self.misses += 1;
            return None;
        };
        self.hits += 1;
        self.by_use.remove(last_use);
        self.clock += 1;
        *last_use = self.clock;
        self.by_use.insert(self.clock, key);
        Some(section.clone())
    }

    /// Keeps `section` unless it alone passes the budget; drops the least
    /// recently used until it fits.
    fn insert(&mut self, key: (u32, u64), section: Rc<FilterSection>) {
        let size = section.size_bytes();
        if size > self.budget_bytes {
            return;
        }
        self.remove(key);
        while self.used_bytes + size > self.budget_bytes {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((_, dropped)) = self.entries.remove(&oldest) {
                self.used_bytes -= dropped.size_bytes();
            }
        }
        self.clock += 1;
        self.by_use.insert(self.clock, key);
        self.entries.insert(key, (self.clock, section));
        self.used_bytes += size;
    }

    fn remove(&mut self, key: (u32, u64)) {
        if let Some((last_use, section)) = self.entries.remove(&key) {
            self.by_use.remove(&last_use);
            self.used_bytes -= section.size_bytes();
        }
    }
}

/// Reads a block's filter frames with one ranged read and checks them.
async fn read_section(block: &BlockRef) -> Result<FilterSection> {
    let directory = block.directory.get();
    let frames: Vec<_> = directory
        .filters
        .iter()
        .map(|frame| frame.native())
        .collect();
    let start = frames.iter().map(|frame| frame.offset).min().unwrap_or(0) as u64;
    let end = frames
        .iter()
        .map(|frame| frame.offset as u64 + frame.stored_bytes as u64)
        .max()
        .unwrap_or(start);
    let read = block
        .segment
        .read_ranges(&[(block.offset + start, (end - start) as usize)])
        .await?;
    let bytes = read
        .first()
        .map(|result| result.to_vec())
        .unwrap_or_default();
    let corrupt = |error: BlockError| block.segment.block_error(block.offset, error);
    let mut located = Vec::with_capacity(frames.len());
    for frame in &frames {
        let from = (frame.offset as u64 - start) as usize;
        let length = frame.stored_bytes as usize;
        let Some(stored) = bytes.get(from..from + length) else {
            return Err(corrupt(BlockError::PayloadTruncated {
                got_bytes: bytes.len(),
                expected_bytes: from + length,
            }));
        };
        check_filter_frame(frame, stored).map_err(corrupt)?;
        located.push((from, length, frame.encoding));
    }
    Ok(FilterSection {
        bytes,
        frames: located,
    })
}
