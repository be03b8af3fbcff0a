//! The README's main job: `guardtune train configs/quickstart.toml` from the repo, on CPU.

mod common;

use common::{guardtune, stderr};
use guardtune_model::testing::repo_root;

#[test]
fn quickstart_trains_and_the_validation_loss_falls() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/quickstart.toml");
    let out_dir = dir.path().join("quickstart");
    let out = guardtune(&["train", config.to_str().unwrap(), "--set", &format!("output.dir={}", out_dir.display())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let evals: Vec<f64> = std::fs::read_to_string(out_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["eval/loss"].as_f64())
        .collect();
    let (first, last) = (evals[0], *evals.last().unwrap());
    assert!(last < 0.5 * first, "validation loss {first} -> {last} did not fall clearly");
    assert!(out_dir.join("adapter/adapter_model.safetensors").exists());
}
