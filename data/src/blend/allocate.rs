//! How many training examples each source gives (the rules are in [`super::config`]'s docs).

use super::config::{Amount, BlendConfig};
use crate::error::DataError;

/// Training examples per source, in config order, given how many each has available.
pub(crate) fn allocate(config: &BlendConfig, available: &[usize]) -> Result<Vec<usize>, DataError> {
    let amounts =
        config.sources.iter().map(|s| s.amount()).collect::<Result<Vec<Amount>, DataError>>()?;
    for (source, &have) in config.sources.iter().zip(available) {
        if have == 0 {
            return Err(DataError::Config(format!(
                "source {:?} has no examples left after skipping, filtering, the length limit and the validation split",
                source.name
            )));
        }
    }
    let counted: usize =
        amounts.iter().map(|a| if let Amount::Count(n) = a { *n } else { 0 }).sum();
    let weights: Vec<f64> =
        amounts.iter().map(|a| if let Amount::Weight(w) = a { *w } else { 0.0 }).collect();
    let weighted_total = match config.total_examples {
        Some(total) => total - counted,
        None if weights.iter().any(|&w| w > 0.0) => {
            largest_weighted_total(config, available, &weights)?
        }
        None => 0,
    };
    let shares = largest_remainder(weighted_total, &weights);
    let mut counts = Vec::with_capacity(amounts.len());
    for ((source, amount), (&have, share)) in
        config.sources.iter().zip(&amounts).zip(available.iter().zip(shares))
    {
        let wanted = match amount {
            Amount::Count(n) => *n,
            Amount::Weight(_) => share,
        };
        if wanted > have && !source.replacement {
            return Err(DataError::Config(format!(
                "source {:?} is asked for {wanted} training examples but has {have}; \
                 lower its weight, count or total_examples, or set replacement = true to repeat rows",
                source.name
            )));
        }
        counts.push(wanted);
    }
    Ok(counts)
}

/// The largest weighted total whose rounded shares fit every weighted source without replacement.
fn largest_weighted_total(
    config: &BlendConfig,
    available: &[usize],
    weights: &[f64],
) -> Result<usize, DataError> {
    let weight_sum: f64 = weights.iter().sum();
    let limits: Vec<usize> = config
        .sources
        .iter()
        .zip(weights.iter().zip(available))
        .filter(|(source, (&w, _))| w > 0.0 && !source.replacement)
        .map(|(_, (&w, &have))| (have as f64 * weight_sum / w).floor() as usize)
        .collect();
    let Some(mut total) = limits.into_iter().min() else {
        return Err(DataError::Config(
            "every weighted source allows replacement, so the blend size is unbounded: set total_examples".into(),
        ));
    };
    // Rounding can push a share one above what its source has; step down until all fit.
    loop {
        let fits = largest_remainder(total, weights)
            .iter()
            .zip(config.sources.iter().zip(available))
            .all(|(&share, (source, &have))| source.replacement || share <= have);
        if fits {
            return Ok(total);
        }
        total -= 1;
    }
}

/// Splits `total` in proportion to `weights`: floors first, then one more to the largest
/// fractional parts (ties to the earlier source), so the parts add up to `total` exactly.
/// Sources with weight 0 get 0.
pub(crate) fn largest_remainder(total: usize, weights: &[f64]) -> Vec<usize> {
    let weight_sum: f64 = weights.iter().sum();
    if total == 0 || weight_sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let quotas: Vec<f64> = weights.iter().map(|w| total as f64 * w / weight_sum).collect();
    let mut shares: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let assigned: usize = shares.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
    order.sort_by(|&a, &b| {
        let fraction = |i: usize| quotas[i] - quotas[i].floor();
        fraction(b).total_cmp(&fraction(a)).then(a.cmp(&b))
    });
    for &i in order.iter().cycle().take(total.saturating_sub(assigned)) {
        shares[i] += 1;
    }
    shares
}
