//! The LoRA training step, the one every caller runs (the trainer, each data-parallel replica,
//! `guardtune bench` and the tests): forward and backward of each micro-batch, gradient
//! accumulation, the sum across replicas, global-norm clipping, AdamW.
//!
//! The loss is averaged over every target token of the optimizer step (across micro-batches and
//! replicas): accumulation divides each micro-batch's summed loss by the whole step's target
//! count, so `(x1 + x2) / (n1 + n2)` is what gets differentiated, not `x1/n1 + x2/n2` (the classic
//! gradient-accumulation bug).
//!
//! Dropout masks are seeded here and nowhere else: micro-batch `k` of optimizer step `s` (counted
//! over the whole step, whichever replica computes it) draws from `seed + s * micro + k`, so the
//! masks depend neither on the number of replicas nor on how their threads interleave.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Param;
use burn::tensor::backend::{AutodiffBackend, ExecutionError};
use burn::tensor::{ElementConversion, Tensor};
use guardtune_model::loss::IGNORE_INDEX;
use guardtune_model::LlamaForCausalLM;

use crate::adapter::{adapter_params, param, param_mut, AdapterParam};
use crate::layout::{Layout, Sample};
use crate::optim::AdamW;
use crate::passes::{backward_into, forward_loss};

/// Token ids and labels of one micro-batch (labels aligned with ids, [`IGNORE_INDEX`] where
/// there is no target; the loss shifts them).
#[derive(Clone, Debug)]
pub struct MicroBatch {
    pub input_ids: Vec<Vec<u32>>,
    pub labels: Vec<Vec<i64>>,
    /// With packing, the lengths of the samples laid end to end in each row: attention and
    /// positions restart at each sample. `None`: one sample per row.
    pub packed_lengths: Option<Vec<Vec<usize>>>,
}

impl MicroBatch {
    /// One sample per row.
    pub fn unpacked(input_ids: Vec<Vec<u32>>, labels: Vec<Vec<i64>>) -> Self {
        MicroBatch { input_ids, labels, packed_lengths: None }
    }

    /// How the model computes this micro-batch: padded or packed rows, with prefixes shared
    /// when `share_prefix` (see [`crate::layout`]).
    pub(crate) fn layout(&self, share_prefix: bool) -> Layout {
        let rows: Vec<Vec<Sample>> = self
            .input_ids
            .iter()
            .zip(&self.labels)
            .enumerate()
            .map(|(r, (ids, labels))| {
                let lengths = match &self.packed_lengths {
                    Some(lengths) => lengths[r].clone(),
                    None => vec![ids.len()],
                };
                let mut start = 0;
                lengths
                    .iter()
                    .map(|&len| {
                        start += len;
                        Sample {
                            ids: &ids[start - len..start],
                            labels: &labels[start - len..start],
                        }
                    })
                    .collect()
            })
            .collect();
        Layout::new(&rows, share_prefix)
    }

    /// Tokens the model computes for this micro-batch with shared prefixes (padding
    /// excluded); [`MicroBatch::tokens`] without.
    pub fn shared_tokens(&self) -> usize {
        self.layout(true).tokens()
    }

    /// Number of predicted tokens (labels after the first position that are not ignored).
    pub fn targets(&self) -> usize {
        self.labels
            .iter()
            .map(|row| row.iter().skip(1).filter(|&&l| l != IGNORE_INDEX).count())
            .sum()
    }

    /// Tokens in the micro-batch, padding excluded.
    pub fn tokens(&self) -> usize {
        self.input_ids.iter().map(Vec::len).sum()
    }
}

/// Summed adapter gradients of an optimizer step, in our layout (`[in, r]`, `[r, out]`).
pub type Gradients<B> = BTreeMap<AdapterParam, Tensor<<B as AutodiffBackend>::InnerBackend, 2>>;

/// Settings that stay the same for every step of a run.
#[derive(Clone, Copy, Debug)]
pub struct StepSettings {
    /// The run seed: dropout masks are drawn from it (see the module docs).
    pub seed: u64,
    /// Clip the global gradient norm to this (`None`: no clipping).
    pub max_grad_norm: Option<f64>,
    pub pad_id: u32,
    /// Per-layer recomputation (`training.gradient_checkpointing`, see [`crate::passes`]).
    pub recompute: bool,
    /// Compute a prefix common to a micro-batch's samples once (`training.share_prefix`, see
    /// [`crate::layout`]).
    pub share_prefix: bool,
    /// Wait for the device at the end of each part of the step so that [`StepParts`] are exact
    /// (`guardtune bench`); training leaves the device to run ahead.
    pub time_parts: bool,
}

/// One optimizer step's input, the same for every replica.
#[derive(Clone, Debug)]
pub struct StepInput {
    /// Optimizer steps completed before this one.
    pub step: usize,
    /// All micro-batches of the step; a replica computes its [`Share`] of them.
    pub micro: Vec<MicroBatch>,
    pub lr: f64,
}

/// Which micro-batches a replica computes: `k` with `k mod count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub index: usize,
    pub count: usize,
}

impl Share {
    /// The only replica.
    pub const ALL: Share = Share { index: 0, count: 1 };
}

/// A replica's contribution to a step, before it is summed with the others'.
pub struct StepSums<B: AutodiffBackend> {
    /// Summed token loss of the replica's micro-batches.
    pub loss_sum: f64,
    /// Tokens the model computed for them (padding excluded; a shared prefix once).
    pub computed_tokens: usize,
    pub grads: Gradients<B>,
}

/// Milliseconds spent in each part of a step (exact only with [`StepSettings::time_parts`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct StepParts {
    /// Forward passes, including the output head's gradient, which the fused cross-entropy
    /// computes chunk by chunk during the forward pass.
    pub forward_ms: f64,
    pub backward_ms: f64,
    /// The sum across replicas, clipping and AdamW.
    pub update_ms: f64,
}

#[derive(Clone, Copy, Debug)]
pub struct StepOutcome {
    /// Mean token loss of the whole step, over all replicas.
    pub loss: f64,
    /// Global gradient norm before clipping (NaN when the step was skipped).
    pub grad_norm: f64,
    /// False when the loss was not finite: nothing was updated.
    pub updated: bool,
    /// Target tokens of the whole step.
    pub targets: usize,
    /// Tokens the model computed for the whole step, over all replicas: fewer than the
    /// micro-batches hold where a prefix was shared (`share_prefix`).
    pub computed_tokens: usize,
    pub parts: StepParts,
}

/// One optimizer step: this replica's [`Share`] of the micro-batches forward and backward, the
/// sums handed to `reduce` (which adds the other replicas' and returns the totals; the identity
/// for one replica), then clipping and AdamW, unless the loss is not finite.
pub fn step<B: AutodiffBackend, E: From<ExecutionError>>(
    model: &mut LlamaForCausalLM<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    input: &StepInput,
    share: Share,
    settings: StepSettings,
    device: &B::Device,
    reduce: impl FnOnce(StepSums<B>) -> Result<StepSums<B>, E>,
) -> Result<StepOutcome, E> {
    let targets: usize = input.micro.iter().map(MicroBatch::targets).sum();
    let mut clock = PartClock::<B>::start(settings.time_parts, device);
    let mut sums = StepSums { loss_sum: 0.0, computed_tokens: 0, grads: Gradients::<B>::new() };
    let mut parts = StepParts::default();
    let first_micro = (input.step * input.micro.len()) as u64;
    for (k, micro) in input.micro.iter().enumerate().skip(share.index).step_by(share.count) {
        let mask_seed = settings.seed.wrapping_add(first_micro + k as u64);
        let layout = micro.layout(settings.share_prefix);
        sums.computed_tokens += layout.tokens();
        let forward = forward_loss(model, &layout, settings, mask_seed, device);
        sums.loss_sum += forward.loss_sum.clone().into_scalar().elem::<f64>();
        parts.forward_ms += clock.lap()?;
        backward_into(model, forward, targets, &mut sums.grads);
        parts.backward_ms += clock.lap()?;
    }
    let StepSums { loss_sum, computed_tokens, mut grads } = reduce(sums)?;
    let loss = loss_sum / targets.max(1) as f64;
    let outcome =
        StepOutcome { loss, grad_norm: f64::NAN, updated: false, targets, computed_tokens, parts };
    if !loss.is_finite() {
        return Ok(outcome);
    }
    let grad_norm = clip_grad_norm::<B>(&mut grads, settings.max_grad_norm);
    apply_update(model, optimizer, &grads, input.lr);
    let parts = StepParts { update_ms: clock.lap()?, ..parts };
    Ok(StepOutcome { grad_norm, updated: true, parts, ..outcome })
}

/// Times the parts of a step, waiting for the device first when asked to.
struct PartClock<'a, B: AutodiffBackend> {
    sync: bool,
    device: &'a B::Device,
    last: Instant,
}

impl<'a, B: AutodiffBackend> PartClock<'a, B> {
    fn start(sync: bool, device: &'a B::Device) -> Self {
        PartClock { sync, device, last: Instant::now() }
    }

    /// Milliseconds since the last lap.
    fn lap(&mut self) -> Result<f64, ExecutionError> {
        if self.sync {
            B::sync(self.device)?;
        }
        let now = Instant::now();
        let ms = (now - self.last).as_secs_f64() * 1e3;
        self.last = now;
        Ok(ms)
    }
}

/// Scales gradients so their global L2 norm is at most `max_norm` (torch's
/// `clip_grad_norm_`); returns the norm before clipping.
pub fn clip_grad_norm<B: AutodiffBackend>(grads: &mut Gradients<B>, max_norm: Option<f64>) -> f64 {
    let norm = grads
        .values()
        .map(|g| g.clone().square().sum().into_scalar().elem::<f64>())
        .sum::<f64>()
        .sqrt();
    if let Some(max_norm) = max_norm {
        let factor = max_norm / (norm + 1e-6);
        if factor < 1.0 {
            for g in grads.values_mut() {
                *g = g.clone().mul_scalar(factor);
            }
        }
    }
    norm
}

/// Applies one AdamW step to every adapter parameter that has a gradient.
fn apply_update<B: AutodiffBackend>(
    model: &mut LlamaForCausalLM<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    grads: &Gradients<B>,
    lr: f64,
) {
    optimizer.begin_step();
    for name in adapter_params(model) {
        let Some(grad) = grads.get(&name) else { continue };
        let value = optimizer.update(name, param(model, name).val().inner(), grad.clone(), lr);
        let slot = param_mut(model, name);
        *slot = Param::initialized(slot.id, Tensor::from_inner(value).require_grad());
    }
}

/// [`step`] on a model trained alone, with nothing to sum across replicas.
pub fn step_alone<B: AutodiffBackend>(
    model: &mut LlamaForCausalLM<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    input: &StepInput,
    settings: StepSettings,
    device: &B::Device,
) -> Result<StepOutcome, ExecutionError> {
    step(model, optimizer, input, Share::ALL, settings, device, Ok)
}
