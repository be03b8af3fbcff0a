//! Running the `guardtune` binary in tests, and a small fast run config.

#![allow(dead_code)]

pub mod hub_server;
pub mod tensorboard_reader;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use guardtune_model::testing::repo_root;

pub fn guardtune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guardtune")).args(args).output().expect("the binary runs")
}

/// `guardtune COMMAND --model MODEL --adapter ADAPTER` and then `rest`: the commands that read
/// a base model and an adapter (`export`, `eval`, `classify`).
pub fn guardtune_with_adapter(
    command: &str,
    model: &Path,
    adapter: &Path,
    rest: &[&str],
) -> Output {
    let (model, adapter) = (model.to_str().unwrap(), adapter.to_str().unwrap());
    let mut args = vec![command, "--model", model, "--adapter", adapter];
    args.extend_from_slice(rest);
    guardtune(&args)
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `guardtune train CONFIG` and then `extra`.
pub fn train(config: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    guardtune(&args)
}

/// A small run (see [`small_run_config`]) in a new temporary folder, trained to the end: the
/// folder, the run config and the run folder.
pub fn trained_small_run(max_steps: usize, extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), max_steps, extra);
    assert!(train(&config, &[]).status.success());
    let run = dir.path().join("run");
    (dir, config, run)
}

/// A run config for a few fast steps on the tiny model and the synthetic Aegis 2.0 rows, with
/// its run folder inside `dir`.
pub fn small_run_config(dir: &Path, max_steps: usize, extra: &str) -> PathBuf {
    let root = repo_root();
    let text = format!(
        r#"
[model]
path = "{model}"

[lora]
r = 4
alpha = 8
dropout = 0.1
target_modules = ["q_proj", "v_proj", "down_proj"]

[data]
seed = 3
max_seq_len = 1024

[[data.sources]]
name = "xstest"
kind = "xstest"
path = "{xstest}"
validation_fraction = 0.05
count = 64

[training]
max_steps = {max_steps}
micro_batch_size = 2
grad_accumulation = 2
lr = 5e-3
warmup_steps = 2
max_grad_norm = 1.0
seed = 11

[eval]
every_steps = 2
max_examples = 4

[output]
dir = "run"
{extra}
"#,
        model = root.join("fixtures/models/tiny-smollm2").display(),
        xstest = root.join("data/fixtures/xstest/xstest_prompts.csv").display(),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `(step, value)` of every line of a run's metrics.jsonl that holds `tag`, in order.
pub fn metric(run_dir: &Path, tag: &str) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Some((v["step"].as_u64()?, v.get(tag)?.as_f64()?))
        })
        .collect()
}

/// `train/loss` of every step in a run's metrics.jsonl, in order.
pub fn train_losses(run_dir: &Path) -> Vec<(u64, f64)> {
    metric(run_dir, "train/loss")
}
