//! Seeded randomness that gives the same results on every machine and with every thread count.
//!
//! Every random choice draws from a ChaCha8 stream derived from the configured seed and a label
//! naming what the choice is for, so choices do not depend on the order in which other choices
//! are made. Bounded integers, shuffles and subsets are implemented here on top of the raw 64-bit
//! output, so a change in `rand`'s sampling algorithms cannot change a blend.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// The generator for `purpose` (for example `"sample:aegis2"`) under `seed`.
pub fn rng_for(seed: u64, purpose: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let digest = Sha256::digest(purpose.as_bytes());
    let mut stream = [0u8; 8];
    stream.copy_from_slice(&digest[..8]);
    rng.set_stream(u64::from_le_bytes(stream));
    rng
}

/// A uniform integer in `0..n` (`n > 0`), by rejection so that it is unbiased.
pub fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let n = n as u64;
    // 2^64 mod n: values above u64::MAX - excess would make small results more likely.
    let excess = (u64::MAX % n + 1) % n;
    loop {
        let x = rng.next_u64();
        if x <= u64::MAX - excess {
            return (x % n) as usize;
        }
    }
}

/// Fisher-Yates shuffle.
pub(crate) fn shuffle<T>(rng: &mut ChaCha8Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i + 1);
        items.swap(i, j);
    }
}

/// `k` distinct indices of `0..n`, in ascending order (`k` is capped at `n`).
pub(crate) fn choose_sorted(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..n).collect();
    shuffle(rng, &mut indices);
    indices.truncate(k.min(n));
    indices.sort_unstable();
    indices
}
