//! Growing a line to its size target, and the size accounting behind it.
//!
//! A line's size is counted as it is built, in bytes of native NDJSON
//! (`Budget`), so the generator never encodes a line to measure it. The
//! padding appends context to the message until the target is met: the
//! catalog's padding segments first, each at most once per line, then (for
//! long targets) numbered batch items, then segments again to close the gap
//! the last item left.
//!
//! Segments are kept sorted by their smallest rendering, so only those that
//! can fit the remaining bytes are drawn; rendering one that cannot fit and
//! undoing it would cost more than the whole rest of the line.

use super::catalog::{ITEM_SEGMENTS, PADDING_SEGMENTS};
use super::rng::{Rng, WeightedIndex};
use super::template::{self, escaped_len, Recorded, Route, Scene, Template};
use crate::line::{Level, LogLine};

/// Padding segments in a row that may come out too long once rendered
/// before padding gives up on the remaining bytes.
const PADDING_MISSES_MAX: usize = 2;

/// Renderings sampled to find a segment's smallest size.
const SIZE_SAMPLES: u64 = 64;

/// Size accounting in bytes of native NDJSON (see `protocol::native`).
pub(crate) struct Budget {
    pub target: usize,
    pub used: usize,
}

impl Budget {
    pub(crate) fn fits(&self, cost: usize) -> bool {
        self.used + cost <= self.target
    }

    pub(crate) fn remaining(&self) -> usize {
        self.target.saturating_sub(self.used)
    }
}

/// Charges the message text from `start` on (a rendering of `template`,
/// maybe after clean text) to the budget if it fits, else removes it.
/// Returns whether it stayed.
fn spend_or_undo(
    template: &Template,
    message: &mut String,
    start: usize,
    budget: &mut Budget,
) -> bool {
    let cost = template.escaped_len(&message[start..]);
    if budget.fits(cost) {
        budget.used += cost;
        true
    } else {
        message.truncate(start);
        false
    }
}

struct Segment {
    template: Template,
    /// The smallest of `SIZE_SAMPLES` renderings, escapes included.
    bytes_min: usize,
}

/// Numbered batch items: ` <name>[<n>]=<entry>`.
struct ItemStyle {
    name: &'static str,
    entry: Template,
    /// The smallest rendering of item 0, prefix included.
    bytes_min: usize,
}

pub(crate) struct Padding {
    /// Sorted by `bytes_min`; bit `i` of a line's used mask is segment `i`.
    segments: Vec<Segment>,
    /// The segments' weights, in the same order, so the first `n` (those
    /// that fit) can be drawn from.
    segment_weights: WeightedIndex,
    items: Vec<ItemStyle>,
}

impl Padding {
    pub(crate) fn new(parse: impl Fn(&'static str) -> Template) -> Padding {
        let mut weighted: Vec<(u32, Segment)> = PADDING_SEGMENTS
            .iter()
            .map(|&(weight, text)| {
                let template = parse(text);
                let bytes_min = smallest_rendering(&template);
                (
                    weight,
                    Segment {
                        template,
                        bytes_min,
                    },
                )
            })
            .collect();
        weighted.sort_by_key(|(_, segment)| segment.bytes_min);
        let segment_weights = WeightedIndex::new(weighted.iter().map(|&(weight, _)| weight));
        let items = ITEM_SEGMENTS
            .iter()
            .map(|&(name, text)| {
                let entry = parse(text);
                let prefix_bytes = " [0]=".len() + name.len();
                let bytes_min = prefix_bytes + smallest_rendering(&entry);
                ItemStyle {
                    name,
                    entry,
                    bytes_min,
                }
            })
            .collect();
        Padding {
            segments: weighted.into_iter().map(|(_, segment)| segment).collect(),
            segment_weights,
            items,
        }
    }

    /// Appends context to the message while it fits the budget.
    pub(crate) fn pad(
        &self,
        rng: &mut Rng,
        scene: &Scene<'_>,
        line: &mut LogLine,
        budget: &mut Budget,
    ) {
        let mut used_segments: u64 = 0;
        self.push_segments(rng, scene, &mut used_segments, line, budget);
        let style = rng.pick_ref(&self.items);
        if budget.remaining() >= style.bytes_min {
            push_items(rng, scene, style, line, budget);
            self.push_segments(rng, scene, &mut used_segments, line, budget);
        }
    }

    /// Appends segments not in `used_segments` while they fit, until
    /// `PADDING_MISSES_MAX` draws in a row fail or none can fit.
    fn push_segments(
        &self,
        rng: &mut Rng,
        scene: &Scene<'_>,
        used_segments: &mut u64,
        line: &mut LogLine,
        budget: &mut Budget,
    ) {
        // Padding must not change the line's fields, which its message
        // template chose.
        let mut ignored = Recorded::default();
        let mut misses = 0;
        // Segments that can fit: a binary search once, then, as the
        // remaining bytes only shrink, a few steps down per segment.
        let remaining = budget.remaining();
        let mut fitting = self
            .segments
            .partition_point(|segment| segment.bytes_min <= remaining);
        while misses < PADDING_MISSES_MAX {
            let remaining = budget.remaining();
            while fitting > 0 && self.segments[fitting - 1].bytes_min > remaining {
                fitting -= 1;
            }
            if fitting == 0 {
                break;
            }
            let drawn = self.segment_weights.pick_among_first(rng, fitting);
            let Some(index) = first_unused(*used_segments, drawn, fitting) else {
                break;
            };
            let bit = 1u64 << index;
            misses += 1;
            let start = line.message.len();
            let template = &self.segments[index].template;
            template.render(scene, rng, &mut line.message, &mut ignored);
            if spend_or_undo(template, &mut line.message, start, budget) {
                *used_segments |= bit;
                misses = 0;
            }
        }
    }
}

/// The first segment from `drawn` on (wrapping around below `fitting`)
/// whose bit is clear in `used`, if any: a drawn segment that was used
/// already hands over to its neighbour instead of wasting the draw.
fn first_unused(used: u64, drawn: usize, fitting: usize) -> Option<usize> {
    let fitting_mask = u64::MAX >> (64 - fitting);
    let free = !used & fitting_mask;
    let free_from_drawn = free & (u64::MAX << drawn);
    match (free_from_drawn, free) {
        (0, 0) => None,
        (0, _) => Some(free.trailing_zeros() as usize),
        _ => Some(free_from_drawn.trailing_zeros() as usize),
    }
}

/// Appends numbered items until one does not fit.
fn push_items(
    rng: &mut Rng,
    scene: &Scene<'_>,
    style: &ItemStyle,
    line: &mut LogLine,
    budget: &mut Budget,
) {
    let mut ignored = Recorded::default();
    for item in 0u64.. {
        let start = line.message.len();
        line.message.push(' ');
        line.message.push_str(style.name);
        line.message.push('[');
        template::push_u64(&mut line.message, item);
        line.message.push_str("]=");
        // The prefix is clean, so the entry's cleanliness covers it.
        style
            .entry
            .render(scene, rng, &mut line.message, &mut ignored);
        if !spend_or_undo(&style.entry, &mut line.message, start, budget) {
            break;
        }
    }
}

/// The smallest of `SIZE_SAMPLES` renderings of `template`. Routes render
/// as `/`, the shortest any service has.
fn smallest_rendering(template: &Template) -> usize {
    let routes = [Route::new("/")];
    let scene = Scene {
        level: Level::Info,
        routes: &routes,
    };
    let mut text = String::new();
    (0..SIZE_SAMPLES)
        .map(|sample| {
            text.clear();
            let mut rng = Rng::for_line(0, sample);
            template.render(&scene, &mut rng, &mut text, &mut Recorded::default());
            escaped_len(&text)
        })
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::first_unused;

    #[test]
    fn first_unused_wraps_and_respects_the_fitting_prefix() {
        assert_eq!(first_unused(0, 3, 5), Some(3));
        assert_eq!(first_unused(0b01000, 3, 5), Some(4));
        assert_eq!(first_unused(0b11000, 3, 5), Some(0));
        assert_eq!(first_unused(0b11111, 0, 5), None);
        assert_eq!(first_unused(0b01111, 2, 4), None, "bit 4 is past fitting");
        assert_eq!(first_unused(u64::MAX >> 1, 0, 64), Some(63));
    }
}
