//! The switches for training at scale, end to end on the tiny model: data parallel over two CPU
//! devices (Burn's collective all-reduce), activation checkpointing, and a bf16 base.

mod common;

use std::path::Path;

use common::{guardtune, metric, small_run_config, stderr, train_losses};
use guardtune_model::testing::max_abs_diff;
use guardtune_model::Weights;

/// A run's `(step, loss)` pairs and its final adapter's named tensors.
type Run = (Vec<(u64, f64)>, Vec<(String, Vec<f32>)>);

/// Trains 3 steps of the small config with `overrides` in its own folder.
fn run(dir: &Path, overrides: &[&str]) -> Run {
    let config = small_run_config(dir, 3, "");
    let mut args = vec!["train", config.to_str().unwrap()];
    for o in overrides {
        args.extend(["--set", o]);
    }
    let out = guardtune(&args);
    assert!(out.status.success(), "{overrides:?}: {}", stderr(&out));
    let run = dir.join("run");
    let adapter = Weights::open_file(&run.join("adapter/adapter_model.safetensors")).unwrap();
    let tensors = adapter.names().map(|n| (n.to_string(), adapter.read(n).unwrap().1)).collect();
    (train_losses(&run), tensors)
}

fn assert_same_run(a: &Run, b: &Run, loss_tolerance: f64, adapter_tolerance: f32, what: &str) {
    assert_eq!(a.0.len(), 3);
    for ((step, x), (_, y)) in a.0.iter().zip(&b.0) {
        assert!((x - y).abs() <= loss_tolerance, "{what}: step {step} loss {x} vs {y}");
    }
    assert_eq!(a.1.len(), b.1.len());
    for ((name, x), (_, y)) in a.1.iter().zip(&b.1) {
        let diff = max_abs_diff(x, y);
        assert!(diff <= adapter_tolerance, "{what}: {name} differs by {diff}");
    }
}

#[test]
fn two_cpu_devices_train_the_same_adapter_as_one() {
    // Two micro-batches per step (grad_accumulation 2): one per device, with dropout on.
    let one = run(tempfile::tempdir().unwrap().path(), &[]);
    let two = run(tempfile::tempdir().unwrap().path(), &["model.device=[\"cpu:0\", \"cpu:1\"]"]);
    assert_same_run(&one, &two, 1e-5, 1e-5, "data parallel");
    // Adapters did train.
    assert!(one.1.iter().any(|(name, v)| name.contains("lora_B") && v.iter().any(|x| *x != 0.0)));
}

#[test]
fn activation_checkpointing_changes_memory_not_results() {
    // Equal up to float rounding: under checkpointing the layers are rerun in the backward pass,
    // and the attention recomputes its scores in chunks, with its own (equivalent) softmax
    // gradient. AdamW's first steps
    // move each weight by about lr (5e-3 here) whatever its gradient's size, so an element whose
    // gradient is near zero can end up ~1e-4 apart; a real difference would show in the losses.
    let plain = run(tempfile::tempdir().unwrap().path(), &[]);
    let checkpointed =
        run(tempfile::tempdir().unwrap().path(), &["training.gradient_checkpointing=true"]);
    assert_same_run(&plain, &checkpointed, 1e-5, 5e-4, "checkpointing");
    // Recomputed layers redraw their dropout masks from the same seeds on any device.
    let both = ["training.gradient_checkpointing=true", "model.device=[\"cpu:0\", \"cpu:1\"]"];
    let checkpointed_on_two = run(tempfile::tempdir().unwrap().path(), &both);
    assert_same_run(
        &checkpointed,
        &checkpointed_on_two,
        1e-5,
        1e-5,
        "checkpointing on two devices",
    );
}

#[test]
fn a_bf16_base_trains_close_to_f32() {
    let f32_run = run(tempfile::tempdir().unwrap().path(), &[]);
    let bf16_run = run(tempfile::tempdir().unwrap().path(), &["model.dtype=\"bf16\""]);
    for ((step, a), (_, b)) in f32_run.0.iter().zip(&bf16_run.0) {
        assert!((a - b).abs() < 0.02 * a, "step {step}: f32 loss {a}, bf16 loss {b}");
    }
    // The adapter is still saved in f32 (the default adapter_dtype), trained, and finite.
    assert!(bf16_run.1.iter().all(|(_, v)| v.iter().all(|x| x.is_finite())));
}

#[test]
fn uneven_device_shares_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 3, "");
    let out = guardtune(&[
        "train",
        config.to_str().unwrap(),
        "--set",
        "model.device=[\"cpu\", \"cpu\", \"cpu\"]",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("training.grad_accumulation"), "{}", stderr(&out));
}

#[test]
fn a_shared_prompt_prefix_trains_the_same_adapter_on_two_devices() {
    // The guard prompt's template and policy are common to every row: with share_prefix (the
    // default) each micro-batch computes them once. Without dropout the results are the same.
    let devices = "model.device=[\"cpu:0\", \"cpu:1\"]";
    let (plain_dir, shared_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain =
        run(plain_dir.path(), &["lora.dropout=0.0", "training.share_prefix=false", devices]);
    let shared = run(shared_dir.path(), &["lora.dropout=0.0", devices]);
    assert_same_run(&plain, &shared, 1e-5, 1e-5, "shared prefix");
    // The replicas really shared: the fraction is what their steps counted as computed.
    let fraction =
        |dir: &tempfile::TempDir| metric(&dir.path().join("run"), "train/shared_token_fraction");
    assert!(fraction(&plain_dir).iter().all(|&(_, f)| f == 0.0), "{:?}", fraction(&plain_dir));
    assert!(fraction(&shared_dir).iter().all(|&(_, f)| f > 0.1), "{:?}", fraction(&shared_dir));
}
