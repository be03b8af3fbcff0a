//! A micro-batch's forward and backward passes, run layer by layer.
//!
//! Two ways to keep what the backward pass needs:
//! - **the whole graph** (default): Burn's autodiff records every decoder layer's activations.
//! - **per-layer recomputation** (`training.gradient_checkpointing`, as in transformers): the
//!   forward pass runs the layers untracked and keeps only each layer's input (`hidden` values
//!   per token); the backward pass walks the layers from the last to the first, reruns each one
//!   tracked from its kept input, and differentiates it alone, seeded with the gradient of its
//!   output. (The last layer runs tracked in the forward pass already: it would be rerun first.)
//!   Activation memory no longer grows with the number of layers (one layer's graph at a time),
//!   for one more forward pass of compute.
//!
//! Each layer's backward pass is a separate top-level `backward()`, not one nested inside
//! another: Burn 0.21's autodiff locks its graphs during a backward pass, so a recomputing
//! operation inside the graph would deadlock.
//!
//! LoRA dropout masks come from the backend's random generator, which Burn keeps one per
//! process. Before each layer the generator is seeded from the micro-batch's seed and the
//! layer's index, while holding a process-wide lock (the devices of a data-parallel run are
//! threads of one process): the masks then depend neither on the number of devices nor on how
//! their threads interleave, and a recomputed layer draws exactly the masks its first pass drew.

use std::sync::Mutex;

use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use guardtune_model::loss::nll_sum_for_training;
use guardtune_model::SplitMix64;
use guardtune_model::{LayerContext, LlamaForCausalLM};

use crate::adapter::{adapter, attached_sites, param, params_at, Site};
use crate::layout::Layout;
use crate::step::{Gradients, StepSettings};

/// Held while a layer draws dropout masks from the backend's generator, which is one per
/// process (see the module docs).
static MASK_DRAWS: Mutex<()> = Mutex::new(());

/// Runs `forward` (decoder layer `layer`'s forward pass) with the backend's generator seeded
/// from `mask_seed` and the layer, alone among the threads that draw masks; without a seed
/// (no adapter has dropout, nothing is drawn) it just runs it.
fn drawing_masks<B: AutodiffBackend, T>(
    mask_seed: Option<u64>,
    layer: usize,
    device: &B::Device,
    forward: impl FnOnce() -> T,
) -> T {
    let Some(seed) = mask_seed else { return forward() };
    let _turn = MASK_DRAWS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    B::seed(
        device,
        SplitMix64::new(seed ^ (layer as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64(),
    );
    forward()
}

/// A micro-batch after its forward pass, ready for [`backward_into`].
pub struct Forward<B: AutodiffBackend> {
    /// The summed token loss, attached to the autodiff graph (under recomputation the graph
    /// holds only the last layer, the final norm and the output head).
    pub loss_sum: Tensor<B, 1>,
    recompute: Option<Recompute<B>>,
}

/// What per-layer recomputation keeps from the forward pass.
struct Recompute<B: AutodiffBackend> {
    context: LayerContext<B>,
    /// The input of every layer from `first` on but the last, untracked.
    inputs: Vec<Tensor<B, 3>>,
    /// The first layer that carries an adapter: no gradient flows below it.
    first: usize,
    /// The last layer's input: the leaf of the forward pass's graph (the last layer, the final
    /// norm and the head); `None` when no layer carries an adapter.
    top_input: Option<Tensor<B, 3>>,
    /// The micro-batch's mask seed, if any adapter has dropout.
    mask_seed: Option<u64>,
    device: B::Device,
}

/// The forward pass of one micro-batch laid out as `layout`: its summed token loss, and (with
/// `settings.recompute`) each layer's input for [`backward_into`]. The dropout masks are drawn
/// from `mask_seed`; give each micro-batch of a run its own.
pub fn forward_loss<B: AutodiffBackend>(
    model: &LlamaForCausalLM<B>,
    layout: &Layout,
    settings: StepSettings,
    mask_seed: u64,
    device: &B::Device,
) -> Forward<B> {
    let batch = layout.batch::<B>(settings.pad_id, device);
    let recompute_layers = settings.recompute;
    let llama = &model.model;
    let context = llama.layer_context(&batch, None);
    let sites = attached_sites(model);
    let mask_seed =
        sites.iter().any(|&site| adapter(model, site).dropout.prob > 0.0).then_some(mask_seed);
    let run_layer = |layer: usize, x: Tensor<B, 3>, tracked: bool| {
        let forward = || match tracked {
            true => llama.layers[layer].forward(x, &context, None),
            // Parameters that do not require a gradient make every operation untracked: nothing
            // is recorded, every activation is freed as soon as it is used.
            false => llama.layers[layer].clone().no_grad().forward(x, &context, None),
        };
        drawing_masks::<B, _>(mask_seed, layer, device, forward)
    };
    let mut x = llama.embed(&batch);
    if !recompute_layers {
        for layer in 0..llama.layers.len() {
            x = run_layer(layer, x, true);
        }
        let loss_sum = nll_sum_for_training(model, llama.norm.forward(x), layout.labels()).0;
        return Forward { loss_sum, recompute: None };
    }
    // Every layer from the lowest adapter on is differentiated, the last one in the graph of
    // this pass (it would be rerun first thing anyway), the others by rerunning them.
    let layers = llama.layers.len();
    let first = sites.iter().map(|site| site.layer).min().unwrap_or(layers);
    let mut inputs = Vec::with_capacity(layers.saturating_sub(first));
    let mut top_input = None;
    for layer in 0..layers {
        if layer + 1 == layers && layer >= first {
            let input = if layer > first { x.detach().require_grad() } else { x };
            top_input = Some(input.clone());
            x = run_layer(layer, input, true);
        } else {
            if layer >= first {
                inputs.push(x.clone());
            }
            x = run_layer(layer, x, false);
        }
    }
    let loss_sum = nll_sum_for_training(model, llama.norm.forward(x), layout.labels()).0;
    let recompute =
        Recompute { context, inputs, first, top_input, mask_seed, device: device.clone() };
    Forward { loss_sum, recompute: Some(recompute) }
}

/// The backward pass of [`forward_loss`]: differentiates `loss_sum / step_targets` and adds the
/// adapter gradients to `grads`.
pub fn backward_into<B: AutodiffBackend>(
    model: &LlamaForCausalLM<B>,
    forward: Forward<B>,
    step_targets: usize,
    grads: &mut Gradients<B>,
) {
    let sites = attached_sites(model);
    let backward = forward.loss_sum.div_scalar(step_targets.max(1) as f64).backward();
    add_adapter_gradients(model, &sites, &backward, grads);
    let Some(r) = forward.recompute else { return };
    let Some(mut output_grad) = r.top_input.and_then(|input| input.grad(&backward)) else { return };
    let layers = r.first..r.first + r.inputs.len();
    for (layer, input) in layers.zip(r.inputs).rev() {
        let input = if layer > r.first { input.detach().require_grad() } else { input };
        let forward = || model.model.layers[layer].forward(input.clone(), &r.context, None);
        let output = drawing_masks::<B, _>(r.mask_seed, layer, &r.device, forward);
        // <output, g> has exactly g as its gradient with respect to the output.
        let backward = (output * Tensor::from_inner(output_grad)).sum().backward();
        let layer_sites: Vec<Site> =
            sites.iter().copied().filter(|site| site.layer == layer).collect();
        add_adapter_gradients(model, &layer_sites, &backward, grads);
        match input.grad(&backward) {
            Some(grad) if layer > r.first => output_grad = grad,
            _ => break,
        }
    }
}

/// Adds the gradients in `backward` of the adapters at `sites` to `grads`.
fn add_adapter_gradients<B: AutodiffBackend>(
    model: &LlamaForCausalLM<B>,
    sites: &[Site],
    backward: &B::Gradients,
    grads: &mut Gradients<B>,
) {
    for name in params_at(sites) {
        let Some(grad) = param(model, name).val().grad(backward) else { continue };
        let summed = match grads.remove(&name) {
            Some(previous) => previous + grad,
            None => grad,
        };
        grads.insert(name, summed);
    }
}
