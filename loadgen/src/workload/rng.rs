//! SplitMix64: a tiny, fast, statistically decent generator whose whole
//! state is one `u64`, so a fresh one per line costs nothing. Every line gets
//! its own stream, seeded from (seed, line index), which is what makes lines
//! random-access: no line depends on the lines before it.

/// Added to the state per draw (2^64 / golden ratio), as in SplitMix64.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function (Stafford's "Mix13"). A bijection on
/// `u64`, so distinct inputs never collide; needle words rely on that.
pub(crate) fn mix(value: u64) -> u64 {
    let mut z = value;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// The stream of line `index` under `seed`. Mixing the index before
    /// combining it with the seed keeps nearby (seed, index) pairs apart.
    pub(crate) fn for_line(seed: u64, index: u64) -> Rng {
        Rng {
            state: mix(seed ^ mix(index.wrapping_add(GOLDEN_GAMMA))),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// Uniform in `0..bound` (Lemire's multiply-shift; the bias is below
    /// 2^-32 for the small bounds used here). `bound` must not be 0.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_10k / 10_000`.
    pub(crate) fn chance(&mut self, per_10k: u64) -> bool {
        self.below(10_000) < per_10k
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniformly chosen element. `items` must not be empty.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *self.pick_ref(items)
    }

    /// A reference to a uniformly chosen element. `items` must not be empty.
    pub(crate) fn pick_ref<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A weighted choice among items `0..n` in O(1): each item's index is
/// repeated `weight` times in a table, and a uniform draw below the total
/// weight indexes it. A draw below the weight of the first `k` items picks
/// among those only, so items sorted by size can be drawn from the prefix
/// that fits. Weights are small (the catalog's sum to a few hundred), so
/// the table is too.
pub(crate) struct WeightedIndex {
    /// `cumulative[k]`: the total weight of items `0..=k`.
    cumulative: Vec<u32>,
    /// Item index per unit of weight, in item order.
    by_unit: Vec<u16>,
}

impl WeightedIndex {
    /// Weights must not all be zero; there must be at most 65 536 items.
    pub(crate) fn new(weights: impl IntoIterator<Item = u32>) -> WeightedIndex {
        let weights: Vec<u32> = weights.into_iter().collect();
        let cumulative: Vec<u32> = weights
            .iter()
            .scan(0u32, |sum, &weight| {
                *sum += weight;
                Some(*sum)
            })
            .collect();
        let by_unit: Vec<u16> = weights
            .iter()
            .enumerate()
            .flat_map(|(index, &weight)| {
                let index = u16::try_from(index).expect("at most 65 536 weighted items");
                std::iter::repeat_n(index, weight as usize)
            })
            .collect();
        assert!(!by_unit.is_empty(), "weights must not all be zero");
        WeightedIndex {
            cumulative,
            by_unit,
        }
    }

    pub(crate) fn pick(&self, rng: &mut Rng) -> usize {
        self.pick_among_first(rng, self.cumulative.len())
    }

    /// Picks among items `0..count` (`count` >= 1) by their weights. When
    /// those weigh nothing, picks item 0.
    pub(crate) fn pick_among_first(&self, rng: &mut Rng, count: usize) -> usize {
        let total = self.cumulative[count - 1];
        if total == 0 {
            return 0;
        }
        usize::from(self.by_unit[rng.below(u64::from(total)) as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_index_follows_weights_and_prefixes() {
        let index = WeightedIndex::new([1, 0, 3]);
        let mut rng = Rng::for_line(1, 2);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[index.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
        for _ in 0..100 {
            assert_eq!(index.pick_among_first(&mut rng, 2), 0);
        }
    }
}
