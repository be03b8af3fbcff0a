//! LoRA against PEFT 0.21 on the tiny Llama 3.1 of fixtures/golden: logits with an adapter, the
//! merged model, gradients, five AdamW steps, accumulation, and the PEFT file round trip.

use std::path::Path;

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::tensor::backend::Backend;
use burn::tensor::backend::ExecutionError;
use guardtune_lora::{
    adapter_params, export_merged, load_adapter, param, read_adapter_config, save_adapter, step,
    AdamW, AdamWConfig, Gradients, MicroBatch, Share, StepInput, StepOutcome, StepSettings,
};
use guardtune_model::testing::{fixture, max_abs_diff, GoldenTensors};
use guardtune_model::weights::transpose;
use guardtune_model::{load_model, Batch, Dtype, LlamaForCausalLM, Weights};
use serde_json::Value;

type B = guardtune_model::testing::TestBackend;
type AD = Autodiff<B>;

fn golden() -> GoldenTensors {
    GoldenTensors::open(&fixture("golden/tensors.safetensors"))
}

fn meta() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("golden/meta.json")).unwrap()).unwrap()
}

/// PEFT's loss before each of its training steps.
fn peft_losses() -> Vec<f64> {
    meta()["losses_per_step_before_update"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn base<BK: Backend>() -> LlamaForCausalLM<BK> {
    load_model::<BK>(&fixture("golden/tiny-llama31"), &Default::default()).unwrap().1
}

fn with_adapter<BK: Backend>(adapter_dir: &str) -> LlamaForCausalLM<BK> {
    let mut model = base::<BK>();
    load_adapter(&mut model, &fixture(adapter_dir), &Default::default()).unwrap();
    model
}

fn eval_logits<BK: Backend>(model: &LlamaForCausalLM<BK>) -> Vec<f32> {
    let ids: Vec<u32> = golden().ints("eval_input_ids").into_iter().map(|v| v as u32).collect();
    let batch = Batch::<BK>::right_padded(&[ids], 0, &Default::default());
    model.forward(&batch).into_data().to_vec().unwrap()
}

/// The golden training batch, one micro-batch per entry of `split` rows.
fn training_batches(rows_per_micro: usize) -> Vec<MicroBatch> {
    let g = golden();
    let (ids, labels, mask) =
        (g.ints("train_input_ids"), g.ints("train_labels"), g.ints("train_attention_mask"));
    let seq = 24;
    let rows: Vec<(Vec<u32>, Vec<i64>)> = (0..2)
        .map(|r| {
            let len = mask[r * seq..(r + 1) * seq].iter().filter(|&&m| m == 1).count();
            (
                ids[r * seq..r * seq + len].iter().map(|&v| v as u32).collect(),
                labels[r * seq..r * seq + len].to_vec(),
            )
        })
        .collect();
    rows.chunks(rows_per_micro)
        .map(|chunk| {
            MicroBatch::unpacked(
                chunk.iter().map(|r| r.0.clone()).collect(),
                chunk.iter().map(|r| r.1.clone()).collect(),
            )
        })
        .collect()
}

fn optimizer() -> AdamW<B> {
    AdamW::new(AdamWConfig { betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.01 })
}

/// Every adapter tensor in PEFT layout, by PEFT name.
fn peft_tensors<BK: Backend>(model: &LlamaForCausalLM<BK>) -> Vec<(String, Vec<f32>)> {
    adapter_params(model)
        .into_iter()
        .map(|name| {
            let t = param(model, name).val();
            let [rows, cols] = t.dims();
            (name.to_string(), transpose(&t.into_data().to_vec::<f32>().unwrap(), rows, cols))
        })
        .collect()
}

/// The trainer's step, settings as in PEFT's reference run (no clipping, no dropout).
fn settings() -> StepSettings {
    StepSettings {
        seed: 0,
        max_grad_norm: None,
        pad_id: 0,
        recompute: false,
        // PEFT computes every row on its own. Sharing the batch's common prefix changes only the
        // order of summation (tests/shared_prefix.rs), but five AdamW steps amplify that past
        // these tolerances.
        share_prefix: false,
        time_parts: false,
    }
}

/// One optimizer step on one device; also returns the summed gradients it applied.
fn step_alone(
    model: &mut LlamaForCausalLM<AD>,
    optim: &mut AdamW<B>,
    micro: &[MicroBatch],
    step_index: usize,
    lr: f64,
) -> (StepOutcome, Gradients<AD>) {
    let input = StepInput { step: step_index, micro: micro.to_vec(), lr };
    let mut applied = Gradients::<AD>::new();
    let outcome = step(model, optim, &input, Share::ALL, settings(), &Default::default(), |sums| {
        applied = sums.grads.clone();
        Ok::<_, ExecutionError>(sums)
    })
    .unwrap();
    (outcome, applied)
}

fn assert_adapter_matches(model: &LlamaForCausalLM<AD>, golden_dir: &str, atol: f32) {
    let reference =
        Weights::open_file(&fixture(&format!("{golden_dir}/adapter_model.safetensors"))).unwrap();
    let ours = peft_tensors(model);
    assert_eq!(ours.len(), reference.names().count());
    for (name, values) in ours {
        let diff = max_abs_diff(&values, &reference.read(&name).unwrap().1);
        assert!(diff <= atol, "{name} differs by {diff}");
    }
}

#[test]
fn adapter_logits_match_peft() {
    let diff = max_abs_diff(
        &eval_logits(&with_adapter::<B>("golden/adapter")),
        &golden().floats("lora_logits").1,
    );
    assert!(diff < 1e-4, "logits with the adapter differ by {diff}");
}

#[test]
fn merged_export_matches_peft_merge_and_unload() {
    let model = with_adapter::<B>("golden/adapter");
    let out = tempfile::tempdir().unwrap();
    export_merged(&model, &fixture("golden/tiny-llama31"), out.path(), Dtype::F32, u64::MAX)
        .unwrap();
    let ours = Weights::open_dir(out.path()).unwrap();
    let reference = Weights::open_dir(&fixture("golden/merged")).unwrap();
    assert!(ours.names().eq(reference.names()), "same tensor names");
    for name in reference.names() {
        let (a_shape, a) = ours.read(name).unwrap();
        let (b_shape, b) = reference.read(name).unwrap();
        assert_eq!(a_shape, b_shape, "{name}");
        let diff = max_abs_diff(&a, &b);
        assert!(diff <= 1e-5, "{name} differs by {diff}");
    }
    let merged = load_model::<B>(out.path(), &Default::default()).unwrap().1;
    let diff = max_abs_diff(&eval_logits(&merged), &golden().floats("merged_logits").1);
    assert!(diff < 1e-4, "merged logits differ by {diff}");
}

#[test]
fn sharded_merged_export_loads_back_identically() {
    let model = with_adapter::<B>("golden/adapter");
    let (single, sharded) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    export_merged(&model, &fixture("golden/tiny-llama31"), single.path(), Dtype::BF16, u64::MAX)
        .unwrap();
    export_merged(&model, &fixture("golden/tiny-llama31"), sharded.path(), Dtype::BF16, 100_000)
        .unwrap();
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(sharded.path().join("model.safetensors.index.json")).unwrap(),
    )
    .unwrap();
    let files: std::collections::BTreeSet<&str> =
        index["weight_map"].as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
    assert!(files.len() > 1, "expected several shards, got {files:?}");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(sharded.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["torch_dtype"], "bfloat16");
    let (a, b) =
        (Weights::open_dir(single.path()).unwrap(), Weights::open_dir(sharded.path()).unwrap());
    for name in a.names() {
        assert_eq!(a.read(name).unwrap(), b.read(name).unwrap(), "{name}");
    }
    assert!(
        sharded.path().join("tokenizer.json").exists()
            && sharded.path().join("generation_config.json").exists()
    );
}

#[test]
fn gradients_losses_and_adapter_after_five_steps_match_peft() {
    let mut model = with_adapter::<AD>("golden/adapter_init");
    let mut optim = optimizer();
    let micro = training_batches(2);
    let expected_losses = peft_losses();
    let g = golden();
    for (step, expected) in expected_losses.iter().enumerate() {
        let (outcome, grads) = step_alone(&mut model, &mut optim, &micro, step, 1e-3);
        let loss = outcome.loss;
        assert!((loss - expected).abs() < 1e-3, "step {step}: loss {loss} vs {expected}");
        if step < 2 {
            let names = g
                .names()
                .into_iter()
                .filter(|n| n.starts_with(&format!("step{step}_grad.")))
                .collect::<Vec<_>>();
            assert_eq!(names.len(), 28);
            for key in names {
                let name = key.split_once('.').unwrap().1;
                let (shape, theirs) = g.floats(&key);
                let ours = grads
                    .get(&name.parse().unwrap())
                    .map(|t| t.clone().into_data().to_vec::<f32>().unwrap())
                    .unwrap_or_else(|| vec![0.0; theirs.len()]);
                let ours = transpose(&ours, shape[1], shape[0]);
                let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
                let diff = max_abs_diff(&ours, &theirs);
                assert!(
                    diff <= 1e-3 * scale.max(1e-12),
                    "step {step} grad {name}: max diff {diff}, scale {scale}"
                );
            }
        }
    }
    assert_adapter_matches(&model, "golden/adapter", 1e-4);
    let final_loss = meta()["loss_after_training"].as_f64().unwrap();
    // A step at learning rate 0 reports the loss and leaves the adapter as it is.
    let loss = step_alone(&mut model, &mut optim, &micro, expected_losses.len(), 0.0).0.loss;
    assert!((loss - final_loss).abs() < 1e-3, "loss after training {loss} vs {final_loss}");
}

#[test]
fn accumulating_two_micro_batches_equals_one_batch() {
    let run = |rows_per_micro: usize| {
        let mut model = with_adapter::<AD>("golden/adapter_init");
        let mut optim = optimizer();
        let micro = training_batches(rows_per_micro);
        let losses: Vec<f64> = (0..5)
            .map(|step| step_alone(&mut model, &mut optim, &micro, step, 1e-3).0.loss)
            .collect();
        (losses, peft_tensors(&model))
    };
    let (whole_losses, whole) = run(2);
    let (split_losses, split) = run(1);
    for (a, b) in whole_losses.iter().zip(&split_losses) {
        assert!((a - b).abs() < 1e-5, "losses {whole_losses:?} vs {split_losses:?}");
    }
    for ((name, a), (_, b)) in whole.iter().zip(&split) {
        assert!(max_abs_diff(a, b) < 1e-5, "{name}");
    }
    let expected = peft_losses();
    for (a, b) in split_losses.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-3);
    }
}

fn read_dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn export_import_export_gives_identical_files_and_logits() {
    let device = Default::default();
    let model = with_adapter::<B>("golden/adapter");
    let config = read_adapter_config(&fixture("golden/adapter")).unwrap();
    for dtype in [Dtype::F32, Dtype::BF16] {
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        save_adapter(&model, &config, "tiny-llama31", first.path(), dtype).unwrap();
        let mut reloaded = base::<B>();
        let config_back = load_adapter(&mut reloaded, first.path(), &device).unwrap();
        assert_eq!(config_back.targets(), config.targets());
        assert_eq!(
            (config_back.r, config_back.alpha, config_back.use_rslora),
            (config.r, config.alpha, config.use_rslora)
        );
        save_adapter(&reloaded, &config_back, "tiny-llama31", second.path(), dtype).unwrap();
        assert_eq!(read_dir_files(first.path()), read_dir_files(second.path()), "{dtype:?}");
        if dtype == Dtype::F32 {
            assert_eq!(eval_logits(&reloaded), eval_logits(&model));
        }
    }
}

#[test]
fn exported_config_has_peft_fields_and_only_lora_tensors() {
    let model = with_adapter::<B>("golden/adapter");
    let config = read_adapter_config(&fixture("golden/adapter")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_adapter(&model, &config, "meta-llama/Llama-3.1-8B-Instruct", dir.path(), Dtype::F32)
        .unwrap();
    let ours: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    for (key, value) in [
        ("peft_type", "LORA"),
        ("task_type", "CAUSAL_LM"),
        ("bias", "none"),
        ("base_model_name_or_path", "meta-llama/Llama-3.1-8B-Instruct"),
    ] {
        assert_eq!(ours[key], value, "{key}");
    }
    assert_eq!(ours["inference_mode"], true);
    assert_eq!(ours["r"], 16);
    assert_eq!(ours["lora_alpha"], 32);
    assert!(ours["modules_to_save"].is_null());
    let peft: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("golden/adapter/adapter_config.json")).unwrap(),
    )
    .unwrap();
    let mut targets: Vec<&str> =
        peft["target_modules"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    targets.sort();
    let mut ours_targets: Vec<&str> =
        ours["target_modules"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    ours_targets.sort();
    assert_eq!(ours_targets, targets);
    let file = Weights::open_file(&dir.path().join("adapter_model.safetensors")).unwrap();
    let reference =
        Weights::open_file(&fixture("golden/adapter/adapter_model.safetensors")).unwrap();
    assert!(file.names().eq(reference.names()));
}

#[test]
fn eval_mode_model_drops_autodiff_but_keeps_adapters() {
    let model = with_adapter::<AD>("golden/adapter");
    let inner: LlamaForCausalLM<B> = model.valid();
    let diff = max_abs_diff(&eval_logits(&inner), &golden().floats("lora_logits").1);
    assert!(diff < 1e-4);
}
