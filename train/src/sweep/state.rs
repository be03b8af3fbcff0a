//! What the sweep knows about a run folder: `sweep-run.json`, written before the run starts
//! and updated when its training and then its evaluation have finished; and what to do next.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::plan::PlannedRun;

pub const STATE_FILE: &str = "sweep-run.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub variant: String,
    pub seed: u64,
    pub config_hash: String,
    /// The trainer finished (the adapter is complete).
    pub trained: bool,
    /// The evaluation hash of the finished evaluation, if any.
    pub eval_hash: Option<String>,
}

impl RunState {
    pub fn read(dir: &Path) -> Result<Option<RunState>> {
        let path = dir.join(STATE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let state = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a sweep run state", path.display()))?;
        Ok(Some(state))
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let text = serde_json::to_string_pretty(self)?;
        guardtune_lora::files::write_atomically(&dir.join(STATE_FILE), |f| {
            std::io::Write::write_all(f, text.as_bytes())
        })?;
        Ok(())
    }

    /// Whether this state says `run` is trained and evaluated with its current settings.
    pub fn is_complete_for(&self, run: &PlannedRun) -> bool {
        self.config_hash == run.config_hash
            && self.trained
            && self.eval_hash.as_deref() == Some(run.eval_hash.as_str())
    }
}

/// What a run needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Trained and evaluated with this config: nothing to do.
    Skip,
    /// Trained with this config; the evaluation is missing or its settings changed.
    Evaluate,
    /// Not started: train from scratch, then evaluate.
    Train,
    /// Started with this config and interrupted: continue from the last checkpoint.
    Resume,
    /// The folder holds a run of another config (or one the sweep did not start): refused
    /// unless `--force`, which deletes it and trains again.
    Changed { reason: String },
}

impl Action {
    pub fn label(&self) -> &'static str {
        match self {
            Action::Skip => "done",
            Action::Evaluate => "evaluate",
            Action::Train => "train",
            Action::Resume => "resume",
            Action::Changed { .. } => "changed",
        }
    }
}

/// Decides what `run` needs from its folder's contents.
pub fn action(run: &PlannedRun) -> Result<Action> {
    let Some(state) = RunState::read(&run.dir)? else {
        let foreign =
            ["metrics.jsonl", "adapter", "checkpoints"].iter().any(|f| run.dir.join(f).exists());
        return Ok(if foreign {
            Action::Changed {
                reason: format!("{} holds a run this sweep did not start", run.dir.display()),
            }
        } else {
            Action::Train
        });
    };
    if state.config_hash != run.config_hash {
        return Ok(Action::Changed {
            reason: format!(
                "{} was trained with another config (hash {}, now {})",
                run.dir.display(),
                short(&state.config_hash),
                short(&run.config_hash)
            ),
        });
    }
    Ok(if !state.trained {
        Action::Resume
    } else if state.eval_hash.as_deref() != Some(run.eval_hash.as_str()) {
        Action::Evaluate
    } else {
        Action::Skip
    })
}

/// The first 12 hex digits of a hash, for people.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// The run's evaluation folder.
pub fn eval_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("eval")
}
