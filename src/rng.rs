//! A small, explicit random number generator for data order and augmentation.
//!
//! Every random choice of a run is a pure function of (seed, purpose, indices), so training
//! resumed from a checkpoint at iteration N makes exactly the choices an uninterrupted run makes:
//! there is no generator state to save.

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast and of good statistical quality.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator for the stream named by `keys` (e.g. seed, purpose, epoch).
    pub fn new(keys: &[u64]) -> Self {
        let mut state = 0x853c_49e6_748f_ea9b_u64;
        for &k in keys {
            state = mix(state ^ k);
        }
        Self { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        // Multiply-shift: unbiased enough for n far below 2^64.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    /// A random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, self.below(i + 1));
        }
        order
    }
}

/// The `index`-th value of the SplitMix64 stream whose state starts at `seed`, computed
/// directly (a counter-based generator: any element of the stream, in any order, in parallel).
pub fn stream_value(seed: u64, index: u64) -> u64 {
    mix(seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_value_is_the_generators_stream() {
        let mut g = SplitMix64 { state: 42 };
        for i in 0..5 {
            assert_eq!(stream_value(42, i), g.next_u64());
        }
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = SplitMix64::new(&[1, 2]);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = SplitMix64::new(&[1, 2]);
                move |_| r.next_u64()
            })
            .collect();
        let c = SplitMix64::new(&[1, 3]).next_u64();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = SplitMix64::new(&[9]).permutation(100);
        assert_ne!(p, (0..100).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
