//! `training.share_prefix`: a prefix common to a micro-batch's samples, computed once, gives the
//! losses and adapters of the unshared step (dropout 0): rows with a long common prefix, rows
//! with none, a prefix that covers nearly a whole row, mixed lengths and padding, packed rows,
//! accumulation over micro-batches, per-layer recomputation, and a bf16 base (within bf16's
//! rounding: the shared prefix runs as one row instead of one per sample, which changes where
//! bf16 rounds).

use burn::backend::{Autodiff, Flex};
use guardtune_lora::{
    adapter_params, attach, param, step_alone, AdamW, AdamWConfig, LoraConfig, MicroBatch,
    StepInput, StepSettings, TargetModules,
};
use guardtune_model::testing::{fixture, max_abs_diff};
use guardtune_model::{load_model_as, Dtype, LlamaForCausalLM};

type AD = Autodiff<Flex>;

/// stories260K (5 layers, GQA 8/4), its base in `dtype`, with adapters on every projection.
fn model(dtype: Dtype) -> LlamaForCausalLM<AD> {
    let device = Default::default();
    let (_, mut model) =
        load_model_as::<AD>(&fixture("models/stories260K"), dtype, &device).unwrap();
    let targets = TargetModules::Preset("all-linear".into());
    let config = LoraConfig { r: 4, alpha: 8.0, target_modules: targets, ..LoraConfig::default() };
    attach(&mut model, &config, 3, &device).unwrap();
    model
}

/// A sample: `prefix` then `len` tokens of its own; the last `targets` tokens are predicted.
fn sample(prefix: &[u32], start: u32, len: usize, targets: usize) -> (Vec<u32>, Vec<i64>) {
    let ids: Vec<u32> =
        prefix.iter().copied().chain((0..len as u32).map(|i| (start + 29 * i) % 500 + 3)).collect();
    let first_target = ids.len() - targets;
    let labels = ids
        .iter()
        .enumerate()
        .map(|(i, &t)| if i < first_target { -100 } else { t as i64 })
        .collect();
    (ids, labels)
}

fn micro(samples: Vec<(Vec<u32>, Vec<i64>)>) -> MicroBatch {
    let (ids, labels) = samples.into_iter().unzip();
    MicroBatch::unpacked(ids, labels)
}

/// Three optimizer steps over `micro` (one step = all of them, accumulated); the losses and the
/// final adapter values.
fn train(micro: &[MicroBatch], share_prefix: bool, setup: Setup) -> (Vec<f64>, Vec<Vec<f32>>) {
    let mut model = model(setup.dtype);
    // AdamW divides each gradient by its own running size: with the default eps a gradient that
    // is rounding noise (~1e-9) moves its weight by a full lr, in a direction the order of
    // summation decides. An eps of 1e-4 keeps such noise below 1e-6 of a step while every real
    // gradient still moves its weight by about lr.
    let adamw = AdamWConfig { eps: 1e-4, weight_decay: 0.01, ..Default::default() };
    let mut optimizer = AdamW::new(adamw);
    let settings = StepSettings {
        seed: 0,
        max_grad_norm: Some(1.0),
        pad_id: 0,
        recompute: setup.recompute,
        share_prefix,
        time_parts: false,
    };
    let losses = (0..3)
        .map(|step| {
            let input = StepInput { step, micro: micro.to_vec(), lr: 1e-2 };
            step_alone(&mut model, &mut optimizer, &input, settings, &Default::default())
                .unwrap()
                .loss
        })
        .collect();
    let adapters = adapter_params(&model)
        .into_iter()
        .map(|name| param(&model, name).val().into_data().to_vec().unwrap())
        .collect();
    (losses, adapters)
}

/// How the model is set up, and how close the two runs must be.
#[derive(Clone, Copy)]
struct Setup {
    recompute: bool,
    dtype: Dtype,
    /// Relative, on the losses.
    loss_tolerance: f64,
    /// Absolute, on the adapters; none to compare the losses only.
    adapter_tolerance: Option<f32>,
}

const F32: Setup = Setup {
    recompute: false,
    dtype: Dtype::F32,
    loss_tolerance: 1e-5,
    adapter_tolerance: Some(1e-5),
};

fn assert_same_training(micro: &[MicroBatch], setup: Setup, what: &str) {
    let (plain_losses, plain) = train(micro, false, setup);
    let (shared_losses, shared) = train(micro, true, setup);
    for (a, b) in plain_losses.iter().zip(&shared_losses) {
        assert!(
            (a - b).abs() <= setup.loss_tolerance * a.abs(),
            "{what}: losses {plain_losses:?} vs {shared_losses:?}"
        );
    }
    let diff = plain.iter().zip(&shared).map(|(a, b)| max_abs_diff(a, b)).fold(0f32, f32::max);
    if let Some(tolerance) = setup.adapter_tolerance {
        assert!(diff <= tolerance, "{what}: adapters differ by {diff}");
    }
    assert!(plain_losses[2] < plain_losses[0], "{what}: training must move: {plain_losses:?}");
}

fn policy() -> Vec<u32> {
    (0..40u32).map(|i| (7 * i) % 400 + 5).collect()
}

#[test]
fn rows_with_a_common_prefix_of_mixed_lengths() {
    let p = policy();
    let rows = micro(vec![sample(&p, 1, 9, 3), sample(&p, 2, 4, 2), sample(&p, 3, 14, 5)]);
    // The micro-batch really is shared: the prefix is computed once.
    assert_eq!(rows.tokens(), 3 * 40 + 9 + 4 + 14);
    assert_eq!(rows.shared_tokens(), 40 + 9 + 4 + 14);
    assert_same_training(&[rows], F32, "common prefix");
}

#[test]
fn rows_without_a_common_prefix_and_a_prefix_covering_nearly_a_whole_row() {
    let none = micro(vec![sample(&[], 1, 12, 4), sample(&[], 2, 7, 3)]);
    assert_eq!(none.shared_tokens(), none.tokens());
    let p = policy();
    // The second row is the prefix plus two tokens, one of them predicted.
    let whole = micro(vec![sample(&p, 5, 6, 2), sample(&p, 9, 2, 1)]);
    assert_eq!(whole.shared_tokens(), 40 + 6 + 2);
    assert_same_training(&[none, whole], F32, "accumulated micro-batches");
}

#[test]
fn packed_rows_share_their_samples_prefix() {
    let p = policy();
    let (a, b, c) = (sample(&p, 1, 5, 2), sample(&p, 2, 8, 3), sample(&[], 3, 11, 4));
    let row = |samples: &[&(Vec<u32>, Vec<i64>)]| -> (Vec<u32>, Vec<i64>, Vec<usize>) {
        let ids = samples.iter().flat_map(|s| s.0.clone()).collect();
        let labels = samples.iter().flat_map(|s| s.1.clone()).collect();
        (ids, labels, samples.iter().map(|s| s.0.len()).collect())
    };
    let (first, second) = (row(&[&a, &b]), row(&[&c]));
    let packed = MicroBatch {
        input_ids: vec![first.0, second.0],
        labels: vec![first.1, second.1],
        packed_lengths: Some(vec![first.2, second.2]),
    };
    assert_eq!(packed.shared_tokens(), packed.tokens() - 40);
    assert_same_training(&[packed], F32, "packed");
}

#[test]
fn recomputed_layers_with_a_shared_prefix() {
    let p = policy();
    let rows = micro(vec![sample(&p, 4, 6, 2), sample(&p, 8, 10, 3)]);
    assert_same_training(&[rows], Setup { recompute: true, ..F32 }, "recomputation");
}

#[test]
fn a_row_that_is_all_prefix() {
    let p = policy();
    // The second row is the first one's first 41 tokens: all of it is common to both rows.
    let long = sample(&p, 1, 9, 3);
    let whole = (
        long.0[..41].to_vec(),
        (0..41).map(|i| if i == 40 { long.0[40] as i64 } else { -100 }).collect(),
    );
    let rows = micro(vec![long, whole]);
    assert!(rows.shared_tokens() < rows.tokens(), "the micro-batch is shared");
    assert_same_training(&[rows], F32, "a row that is all prefix");
}

#[test]
fn a_bf16_base_with_a_shared_prefix() {
    let p = policy();
    let rows = micro(vec![sample(&p, 1, 9, 3), sample(&p, 2, 4, 2), sample(&p, 3, 14, 5)]);
    // bf16 keeps 8 significant bits, and where the prefix runs once it rounds elsewhere. The
    // losses agree to bf16's precision (as mixed_precision.rs compares bf16 with PEFT); the
    // adapters are not compared: AdamW divides each gradient by its own size, so rounding noise
    // in a weight whose gradient is near zero moves it by a full lr either way.
    let bf16 = Setup { dtype: Dtype::BF16, loss_tolerance: 5e-3, adapter_tolerance: None, ..F32 };
    assert_same_training(&[rows], bf16, "bf16 base");
}
