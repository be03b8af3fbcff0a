//! Which examples go into each micro-batch, as a pure function of the seed and the step, so a
//! resumed run sees exactly the batches an uninterrupted one would.
//!
//! Each epoch shuffles the examples; consecutive windows of the shuffled order are sorted by
//! their first tokens, then by length, and cut into micro-batches (bucketing: rows of one prompt
//! prefix together, little padding), whose order is shuffled again within the window. With packing, the shuffled examples are instead laid end to end into rows
//! of at most `row_len` tokens. Epochs follow one another in one endless stream; optimizer step
//! `s` takes micro-batches `s * accumulation ..`.

use guardtune_data::seeding::{rng_for, shuffle};
use guardtune_data::Tokenized;
use guardtune_lora::MicroBatch;
use guardtune_model::loss::IGNORE_INDEX;

/// Micro-batches per bucketing window: enough to sort by length, few enough to stay random.
const WINDOW_MICRO_BATCHES: usize = 32;

/// Leading tokens by which rows are grouped before length (see `layout`): enough to tell a
/// guard prompt's policy from a topic-following system prompt.
const PREFIX_KEY_TOKENS: usize = 64;

pub struct BatchPlan {
    examples: Vec<Tokenized>,
    micro_batch_size: usize,
    /// With packing: the row length.
    packing: Option<usize>,
    seed: u64,
    /// The current epoch's micro-batches as example indices, cached.
    epoch: Option<(usize, Vec<Vec<Vec<usize>>>)>,
}

impl BatchPlan {
    pub fn new(
        examples: Vec<Tokenized>,
        micro_batch_size: usize,
        packing: Option<usize>,
        seed: u64,
    ) -> Self {
        BatchPlan { examples, micro_batch_size, packing, seed, epoch: None }
    }

    /// Examples in the plan.
    pub fn examples(&self) -> usize {
        self.examples.len()
    }

    /// Micro-batches in one epoch.
    pub fn micro_batches_per_epoch(&mut self) -> usize {
        self.epoch_layout(0).len()
    }

    /// The `index`-th micro-batch of the endless stream.
    pub fn micro_batch(&mut self, index: usize) -> MicroBatch {
        let per_epoch = self.micro_batches_per_epoch();
        let (epoch, within) = (index / per_epoch, index % per_epoch);
        let rows = self.epoch_layout(epoch)[within].clone();
        self.assemble(&rows)
    }

    /// Rows (each a list of example indices) of every micro-batch of `epoch`.
    fn epoch_layout(&mut self, epoch: usize) -> &Vec<Vec<Vec<usize>>> {
        if self.epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let layout = self.layout(epoch);
            self.epoch = Some((epoch, layout));
        }
        &self.epoch.as_ref().expect("just set").1
    }

    fn layout(&self, epoch: usize) -> Vec<Vec<Vec<usize>>> {
        let mut rng = rng_for(self.seed, &format!("batches:epoch-{epoch}"));
        let mut order: Vec<usize> = (0..self.examples.len()).collect();
        shuffle(&mut rng, &mut order);
        match self.packing {
            Some(row_len) => pack(&order, &self.examples, row_len)
                .chunks(self.micro_batch_size)
                .map(<[Vec<usize>]>::to_vec)
                .collect(),
            None => {
                let window = self.micro_batch_size * WINDOW_MICRO_BATCHES;
                let mut micro_batches = Vec::new();
                for chunk in order.chunks(window) {
                    let mut chunk = chunk.to_vec();
                    // Rows that begin alike (the same template and policy) go together, so a
                    // micro-batch can compute their common prefix once; then by length, for
                    // little padding.
                    chunk.sort_by_key(|&i| {
                        let ids = &self.examples[i].input_ids;
                        (&ids[..ids.len().min(PREFIX_KEY_TOKENS)], ids.len(), i)
                    });
                    let mut micro: Vec<Vec<Vec<usize>>> = chunk
                        .chunks(self.micro_batch_size)
                        .map(|m| m.iter().map(|&i| vec![i]).collect())
                        .collect();
                    shuffle(&mut rng, &mut micro);
                    micro_batches.extend(micro);
                }
                micro_batches
            }
        }
    }

    fn assemble(&self, rows: &[Vec<usize>]) -> MicroBatch {
        let mut input_ids = Vec::new();
        let mut labels = Vec::new();
        let mut lengths = Vec::new();
        for row in rows {
            let mut ids = Vec::new();
            let mut row_labels = Vec::new();
            for &i in row {
                let example = &self.examples[i];
                ids.extend_from_slice(&example.input_ids);
                let start = row_labels.len();
                row_labels.extend_from_slice(&example.labels);
                // A sample's first token is never predicted from the previous sample's last.
                row_labels[start] = IGNORE_INDEX;
            }
            lengths.push(row.iter().map(|&i| self.examples[i].len()).collect());
            input_ids.push(ids);
            labels.push(row_labels);
        }
        MicroBatch { input_ids, labels, packed_lengths: self.packing.map(|_| lengths) }
    }
}

/// Lays examples end to end into rows of at most `row_len` tokens, in order.
fn pack(order: &[usize], examples: &[Tokenized], row_len: usize) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = row_len;
    for &i in order {
        let len = examples[i].len();
        if used + len > row_len {
            rows.push(Vec::new());
            used = 0;
        }
        rows.last_mut().expect("a row was pushed").push(i);
        used += len;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(lengths: &[usize]) -> Vec<Tokenized> {
        lengths
            .iter()
            .enumerate()
            .map(|(n, &len)| Tokenized { input_ids: vec![n as u32; len], labels: vec![1; len] })
            .collect()
    }

    #[test]
    fn every_example_once_per_epoch_and_the_same_plan_for_the_same_seed() {
        let data = examples(&[3, 9, 4, 7, 1, 8, 2, 6, 5, 10]);
        let mut a = BatchPlan::new(data.clone(), 3, None, 7);
        let mut b = BatchPlan::new(data.clone(), 3, None, 7);
        assert_eq!(a.micro_batches_per_epoch(), 4);
        let seen: Vec<u32> =
            (0..4).flat_map(|i| a.micro_batch(i).input_ids.into_iter().map(|r| r[0])).collect();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<u32>>());
        for i in 0..12 {
            assert_eq!(a.micro_batch(i).input_ids, b.micro_batch(i).input_ids);
        }
        let next_epoch: Vec<u32> =
            (4..8).flat_map(|i| a.micro_batch(i).input_ids.into_iter().map(|r| r[0])).collect();
        assert_ne!(seen, next_epoch, "epochs are reshuffled");
    }

    #[test]
    fn packing_fills_rows_and_masks_sample_starts() {
        let data = examples(&[3, 4, 2, 5, 1]);
        let mut plan = BatchPlan::new(data.clone(), 2, Some(6), 1);
        let total: usize = (0..plan.micro_batches_per_epoch())
            .map(|i| {
                let micro = plan.micro_batch(i);
                let lengths = micro.packed_lengths.clone().unwrap();
                for ((ids, labels), lens) in micro.input_ids.iter().zip(&micro.labels).zip(&lengths)
                {
                    assert!(ids.len() <= 6);
                    assert_eq!(lens.iter().sum::<usize>(), ids.len());
                    let mut start = 0;
                    for len in lens {
                        assert_eq!(labels[start], IGNORE_INDEX);
                        start += len;
                    }
                }
                lengths.iter().flatten().sum::<usize>()
            })
            .sum();
        assert_eq!(total, 15);
    }
}
