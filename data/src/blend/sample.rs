//! Seeded selection: the validation hold-out, drawing a source's training examples, and
//! interleaving the sources.

use crate::seeding::{choose_sorted, rng_for, shuffle};

/// Splits `0..n` into (training, validation) index lists, holding out `round(fraction * n)`
/// indices chosen with the seed; both lists stay in file order.
pub(crate) fn hold_out(
    seed: u64,
    source: &str,
    n: usize,
    fraction: f64,
) -> (Vec<usize>, Vec<usize>) {
    let held = ((fraction * n as f64).round() as usize).min(n);
    let mut rng = rng_for(seed, &format!("validation:{source}"));
    let validation = choose_sorted(&mut rng, n, held);
    let mut is_validation = vec![false; n];
    for &i in &validation {
        is_validation[i] = true;
    }
    let training = (0..n).filter(|&i| !is_validation[i]).collect();
    (training, validation)
}

/// `count` indices into a pool of `n` examples, in the order they will be trained on.
///
/// Without replacement (`count <= n`), a seeded permutation's first `count` entries. With
/// replacement, whole passes over the pool, each in a fresh seeded order, then part of one more:
/// every example is used `count / n` or `count / n + 1` times.
pub(crate) fn draw(seed: u64, source: &str, n: usize, count: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let mut rng = rng_for(seed, &format!("sample:{source}"));
    let mut drawn = Vec::with_capacity(count);
    while drawn.len() < count {
        let mut pass: Vec<usize> = (0..n).collect();
        shuffle(&mut rng, &mut pass);
        pass.truncate(count - drawn.len());
        drawn.extend(pass);
    }
    drawn
}

/// Interleaves sources of the given sizes so that every prefix of the result holds each source
/// in proportion to its size (within one example): step `k` takes from the source furthest
/// behind its share `size * (k + 1) / total`, ties to the earlier source. Returns, for each
/// position, the source index.
pub(crate) fn interleave(sizes: &[usize]) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    let mut taken = vec![0usize; sizes.len()];
    let mut order = Vec::with_capacity(total);
    for step in 0..total {
        // Compare size * (step + 1) / total - taken scaled by total, in integers.
        let behind = |i: usize| {
            (sizes[i] as i128) * (step as i128 + 1) - (taken[i] as i128) * (total as i128)
        };
        let next = (0..sizes.len())
            .filter(|&i| taken[i] < sizes[i])
            .max_by(|&a, &b| behind(a).cmp(&behind(b)).then(b.cmp(&a)));
        // Some source always has examples left while step < total.
        let Some(next) = next else { break };
        taken[next] += 1;
        order.push(next);
    }
    order
}
