//! The LoRA training step: causal-LM loss averaged over every target token of the optimizer
//! step (across micro-batches), gradients for the adapters only, global-norm clipping, AdamW.
//!
//! Accumulation divides each micro-batch's summed loss by the whole step's target count, so
//! `(x1 + x2) / (n1 + n2)` is what gets differentiated, not `x1/n1 + x2/n2` (the classic
//! gradient-accumulation bug).

use std::collections::BTreeMap;

use burn::module::Param;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use guardtune_model::loss::IGNORE_INDEX;
use guardtune_model::{Batch, LlamaForCausalLM};

use crate::adapter::{adapter_mut, attached_sites, Site};
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

    /// The model input: rows padded on the right, or packed samples.
    pub fn batch<B: burn::tensor::backend::Backend>(
        &self,
        pad_id: u32,
        device: &B::Device,
    ) -> Batch<B> {
        match &self.packed_lengths {
            None => Batch::right_padded(&self.input_ids, pad_id, device),
            Some(lengths) => {
                let rows: Vec<Vec<Vec<u32>>> = self
                    .input_ids
                    .iter()
                    .zip(lengths)
                    .map(|(row, lens)| {
                        let mut start = 0;
                        lens.iter()
                            .map(|&len| {
                                start += len;
                                row[start - len..start].to_vec()
                            })
                            .collect()
                    })
                    .collect();
                Batch::packed(&rows, pad_id, device)
            }
        }
    }

    /// Number of predicted tokens (labels after the first position that are not ignored).
    pub fn targets(&self) -> usize {
        self.labels
            .iter()
            .map(|row| row.iter().skip(1).filter(|&&l| l != IGNORE_INDEX).count())
            .sum()
    }
}

/// Summed adapter gradients of an optimizer step, by PEFT-style parameter name, in our layout.
pub type Gradients<B> = BTreeMap<String, Tensor<<B as AutodiffBackend>::InnerBackend, 2>>;

/// Name of an adapter parameter: `<peft prefix>.lora_A.weight` or `.lora_B.weight`.
pub fn param_name(site: Site, is_a: bool) -> String {
    format!("{}.lora_{}.weight", site.peft_prefix(), if is_a { "A" } else { "B" })
}

/// Forward and backward of one micro-batch (see [`forward_loss`] for `mask_seed` and
/// `recompute_layers`); adds its gradients (of `loss_sum / step_targets`) to `grads` and
/// returns the micro-batch's summed token loss.
#[allow(clippy::too_many_arguments)]
pub fn accumulate<B: AutodiffBackend>(
    model: &LlamaForCausalLM<B>,
    micro: &MicroBatch,
    step_targets: usize,
    pad_id: u32,
    mask_seed: u64,
    recompute_layers: bool,
    grads: &mut Gradients<B>,
    device: &B::Device,
) -> f64 {
    let forward = forward_loss(model, micro, pad_id, mask_seed, recompute_layers, device);
    let loss_sum: f64 = forward.loss_sum.clone().into_scalar().elem();
    backward_into(model, forward, step_targets, grads);
    loss_sum
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
pub fn apply_update<B: AutodiffBackend>(
    model: &mut LlamaForCausalLM<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    grads: Gradients<B>,
    lr: f64,
) {
    optimizer.begin_step();
    for site in attached_sites(model) {
        let lora = adapter_mut(model, site);
        for (is_a, param) in [(true, &mut lora.a), (false, &mut lora.b)] {
            let name = param_name(site, is_a);
            let Some(grad) = grads.get(&name) else { continue };
            let value = optimizer.update(&name, param.val().inner(), grad.clone(), lr);
            *param = Param::initialized(param.id, Tensor::from_inner(value).require_grad());
        }
    }
}

/// One optimizer step over `micro_batches` (gradient accumulation); returns the mean token loss
/// of the step and the gradient norm before clipping.
pub fn train_step<B: AutodiffBackend>(
    model: &mut LlamaForCausalLM<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    micro_batches: &[MicroBatch],
    lr: f64,
    max_grad_norm: Option<f64>,
    pad_id: u32,
    device: &B::Device,
) -> StepResult {
    let targets: usize = micro_batches.iter().map(MicroBatch::targets).sum();
    let mut grads = Gradients::<B>::new();
    // Each micro-batch's dropout masks are seeded from the optimizer step and its place in it.
    let first_micro = optimizer.step * micro_batches.len() as u64;
    let loss_sum: f64 = (first_micro..)
        .zip(micro_batches)
        .map(|(k, m)| accumulate(model, m, targets, pad_id, k, false, &mut grads, device))
        .sum();
    let grad_norm = clip_grad_norm::<B>(&mut grads, max_grad_norm);
    apply_update(model, optimizer, grads, lr);
    StepResult { loss: loss_sum / targets.max(1) as f64, grad_norm, targets }
}

#[derive(Clone, Copy, Debug)]
pub struct StepResult {
    /// Mean token loss of the step (before the update).
    pub loss: f64,
    pub grad_norm: f64,
    /// Target tokens in the step.
    pub targets: usize,
}
