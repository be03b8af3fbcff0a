//! Resumable checkpoints: `checkpoints/step-N/` holds the adapter (PEFT, f32), the AdamW
//! moments and the trainer state. A checkpoint is written under a temporary name, fsynced and
//! renamed, so a folder named `step-N` is always complete; a crash leaves at most a `.tmp`
//! folder, which the next run removes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use guardtune_lora::files::{sync_dir, write_json};
use guardtune_lora::{save_adapter, AdamW, LoraConfig};
use guardtune_model::Dtype;
use guardtune_model::LlamaForCausalLM;
use serde::{Deserialize, Serialize};

const STATE_FILE: &str = "trainer_state.json";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// What, besides weights and moments, a resumed run needs: where it was.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Optimizer steps completed.
    pub step: usize,
    pub total_steps: usize,
    pub seed: u64,
}

#[derive(Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: TrainerState,
}

pub fn checkpoints_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints")
}

/// Writes `checkpoints/step-N` atomically and prunes old ones beyond `keep_last`.
pub fn save<B: AutodiffBackend>(
    run_dir: &Path,
    model: &LlamaForCausalLM<B>,
    lora: &LoraConfig,
    base_name: &str,
    optimizer: &AdamW<B::InnerBackend>,
    state: &TrainerState,
    keep_last: Option<usize>,
) -> Result<PathBuf> {
    let parent = checkpoints_dir(run_dir);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("{}: cannot create", parent.display()))?;
    let name = format!("step-{}", state.step);
    let tmp = parent.join(format!(".{name}.tmp"));
    let done = parent.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    save_adapter(model, lora, base_name, &tmp, Dtype::F32)?;
    optimizer.save_state(&tmp.join(OPTIMIZER_FILE))?;
    write_json(&tmp.join(STATE_FILE), &serde_json::to_value(state)?)?;
    sync_dir(&tmp)?;
    if done.exists() {
        std::fs::remove_dir_all(&done)?;
    }
    std::fs::rename(&tmp, &done)
        .with_context(|| format!("{}: cannot rename into place", done.display()))?;
    sync_dir(&parent)?;
    if let Some(keep) = keep_last {
        let all = complete(run_dir)?;
        for old in all.iter().take(all.len().saturating_sub(keep)) {
            std::fs::remove_dir_all(&old.0)?;
        }
    }
    Ok(done)
}

/// Complete checkpoints `(dir, step)`, oldest first. Leftover `.tmp` folders are ignored.
pub fn complete(run_dir: &Path) -> Result<Vec<(PathBuf, usize)>> {
    let parent = checkpoints_dir(run_dir);
    if !parent.exists() {
        return Ok(vec![]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&parent)? {
        let path = entry?.path();
        let step = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("step-"))
            .and_then(|n| n.parse().ok());
        if let Some(step) = step {
            found.push((path, step));
        }
    }
    found.sort_by_key(|(_, step)| *step);
    Ok(found)
}

/// Removes half-written checkpoints a crash left behind.
pub fn remove_partial(run_dir: &Path) -> Result<()> {
    let parent = checkpoints_dir(run_dir);
    if !parent.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(&parent)? {
        let path = entry?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".tmp")) {
            std::fs::remove_dir_all(&path)?;
        }
    }
    Ok(())
}

/// The newest complete checkpoint, if any.
pub fn latest(run_dir: &Path) -> Result<Option<Checkpoint>> {
    let Some((dir, _)) = complete(run_dir)?.pop() else { return Ok(None) };
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let state = serde_json::from_str(&text)
        .with_context(|| format!("{}: invalid trainer state", path.display()))?;
    Ok(Some(Checkpoint { dir, state }))
}

/// Loads a checkpoint's adapter and optimizer moments into a model with adapters attached.
pub fn restore<B: AutodiffBackend>(
    checkpoint: &Checkpoint,
    model: &mut LlamaForCausalLM<B>,
    optimizer: &mut AdamW<B::InnerBackend>,
    device: &B::Device,
) -> Result<()> {
    guardtune_lora::load_adapter(model, &checkpoint.dir, device)?;
    optimizer.load_state(
        &checkpoint.dir.join(OPTIMIZER_FILE),
        checkpoint.state.step as u64,
        device,
    )?;
    Ok(())
}
