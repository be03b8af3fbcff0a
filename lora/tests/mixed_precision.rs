//! A bf16 base with f32 adapters (the GPU recipe), on the tiny Llama 3.1 of fixtures/golden:
//! storage dtypes, logits close to transformers' f32 ones, and five AdamW steps that follow
//! PEFT's f32 run within bf16 tolerances while the base stays bit-identical.

use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::DType;
use guardtune_lora::{
    adapter, attached_sites, load_adapter, step_alone, AdamW, AdamWConfig, MicroBatch, StepInput,
    StepSettings,
};
use guardtune_model::testing::{fixture, GoldenTensors};
use guardtune_model::{load_model_as, Batch, Dtype, LlamaForCausalLM};
use serde_json::Value;

type AD = Autodiff<Flex>;

fn bf16_with_adapter<B: Backend>(adapter_dir: &str) -> LlamaForCausalLM<B> {
    let device = Default::default();
    let mut model =
        load_model_as::<B>(&fixture("golden/tiny-llama31"), Dtype::BF16, &device).unwrap().1;
    load_adapter(&mut model, &fixture(adapter_dir), &device).unwrap();
    model
}

fn golden() -> GoldenTensors {
    GoldenTensors::open(&fixture("golden/tensors.safetensors"))
}

/// A weight of the frozen base (layer 1's down projection), as f32.
fn base_weight<B: Backend>(model: &LlamaForCausalLM<B>) -> Vec<f32> {
    model.model.layers[1].mlp.down_proj.weight.val().into_data().convert::<f32>().to_vec().unwrap()
}

fn assert_adapters_are_f32<B: Backend>(model: &LlamaForCausalLM<B>) {
    for site in attached_sites(model) {
        let lora = adapter(model, site);
        assert_eq!((lora.a.val().dtype(), lora.b.val().dtype()), (DType::F32, DType::F32));
    }
}

/// Largest difference relative to the largest magnitude of `reference`.
fn relative_max_diff(ours: &[f32], reference: &[f32]) -> f32 {
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    ours.iter().zip(reference).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

#[test]
fn base_is_bf16_adapters_f32_and_logits_close_to_transformers() {
    let model = bf16_with_adapter::<Flex>("golden/adapter");
    assert_eq!(model.model.dtype(), DType::BF16);
    assert_eq!(model.model.layers[0].self_attn.q_proj.weight.val().dtype(), DType::BF16);
    assert_eq!(model.model.norm.weight.val().dtype(), DType::BF16);
    assert_adapters_are_f32(&model);
    let g = golden();
    let ids: Vec<u32> = g.ints("eval_input_ids").into_iter().map(|v| v as u32).collect();
    let logits = model.forward(&Batch::<Flex>::right_padded(&[ids], 0, &Default::default()));
    assert_eq!(logits.dtype(), DType::F32);
    let ours: Vec<f32> = logits.into_data().to_vec().unwrap();
    let (_, theirs) = g.floats("lora_logits");
    let diff = relative_max_diff(&ours, &theirs);
    // bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%) at every layer boundary.
    assert!(
        diff < 0.03,
        "bf16 logits differ from transformers' f32 logits by {diff} of their range"
    );
    assert!(diff > 0.0, "a bf16 model cannot be bit-identical to f32");
}

#[test]
fn five_bf16_steps_follow_peft_and_leave_the_base_untouched() {
    let device = Default::default();
    let mut model = bf16_with_adapter::<AD>("golden/adapter_init");
    let base_before = base_weight(&model);
    let g = golden();
    let (ids, labels, mask) =
        (g.ints("train_input_ids"), g.ints("train_labels"), g.ints("train_attention_mask"));
    let seq = 24;
    let rows: Vec<usize> =
        (0..2).map(|r| mask[r * seq..(r + 1) * seq].iter().filter(|&&m| m == 1).count()).collect();
    let micro = vec![MicroBatch::unpacked(
        rows.iter()
            .enumerate()
            .map(|(r, &len)| ids[r * seq..r * seq + len].iter().map(|&v| v as u32).collect())
            .collect(),
        rows.iter().enumerate().map(|(r, &len)| labels[r * seq..r * seq + len].to_vec()).collect(),
    )];
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("golden/meta.json")).unwrap())
            .unwrap();
    let expected: Vec<f64> = meta["losses_per_step_before_update"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let mut optimizer =
        AdamW::new(AdamWConfig { betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.01 });
    let mut losses = Vec::new();
    let settings = StepSettings {
        seed: 0,
        max_grad_norm: None,
        pad_id: 0,
        recompute: false,
        share_prefix: true,
        time_parts: false,
    };
    for step in 0..expected.len() {
        let input = StepInput { step, micro: micro.clone(), lr: 1e-3 };
        losses
            .push(step_alone(&mut model, &mut optimizer, &input, settings, &device).unwrap().loss);
    }
    for (step, (ours, theirs)) in losses.iter().zip(&expected).enumerate() {
        assert!(
            (ours - theirs).abs() < 0.005 * theirs,
            "step {step}: bf16 loss {ours} vs PEFT f32 {theirs}"
        );
    }
    assert!(losses.last() < losses.first(), "the loss must fall: {losses:?}");
    assert_adapters_are_f32(&model);
    let base_after = base_weight(&model);
    assert_eq!(base_before, base_after, "the frozen bf16 base changed");
}
