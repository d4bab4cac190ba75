//! Grouping a batch by a key, for the formats that nest lines under a
//! shared header (Loki streams, OTLP resources). Groups come in order of
//! first appearance and keep their lines in input order, so the output is a
//! deterministic function of the batch.

use std::collections::HashMap;
use std::hash::Hash;

use crate::line::LogLine;

/// Line indices, group after group.
pub(super) struct Groups {
    /// Indices into the batch, grouped.
    order: Vec<usize>,
    /// `order[ends[g - 1]..ends[g]]` is group `g`.
    ends: Vec<usize>,
}

impl Groups {
    /// Groups `lines` by `key`. Allocates per batch (a map and three
    /// vectors), never per line.
    pub(super) fn new<'a, K: Hash + Eq>(
        lines: &'a [LogLine],
        key: impl Fn(&'a LogLine) -> K,
    ) -> Groups {
        let mut ids: HashMap<K, usize> = HashMap::new();
        let mut group_of = Vec::with_capacity(lines.len());
        let mut sizes: Vec<usize> = Vec::new();
        for line in lines {
            let next_id = ids.len();
            let id = *ids.entry(key(line)).or_insert(next_id);
            if id == sizes.len() {
                sizes.push(0);
            }
            sizes[id] += 1;
            group_of.push(id);
        }
        let ends: Vec<usize> = sizes
            .iter()
            .scan(0, |end, size| {
                *end += size;
                Some(*end)
            })
            .collect();
        let mut cursor: Vec<usize> = ends
            .iter()
            .zip(&sizes)
            .map(|(end, size)| end - size)
            .collect();
        let mut order = vec![0; lines.len()];
        for (index, &id) in group_of.iter().enumerate() {
            order[cursor[id]] = index;
            cursor[id] += 1;
        }
        Groups { order, ends }
    }

    /// Each group's line indices, in input order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &[usize]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.order[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_first_appearance_and_input_order() {
        let sources = ["b", "a", "b", "c", "a", "b"];
        let lines: Vec<LogLine> = sources
            .iter()
            .map(|source| {
                let mut line = LogLine::new();
                line.source.push_str(source);
                line
            })
            .collect();
        let groups = Groups::new(&lines, |line| line.source.as_str());
        let grouped: Vec<&[usize]> = groups.iter().collect();
        assert_eq!(grouped, [&[0, 2, 5][..], &[1, 4], &[3]]);
        assert_eq!(Groups::new(&[], |line| line.level).iter().count(), 0);
    }
}
