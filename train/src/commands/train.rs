//! `guardtune train CONFIG [--resume] [--set key=value ...]`.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::backend::Backend;

use crate::config::RunConfig;
use crate::device::DevicesJob;
use crate::trainer::{train, TrainSummary};

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The run config (TOML).
    pub config: PathBuf,
    /// Continue from the newest complete checkpoint in the run folder.
    #[arg(long)]
    pub resume: bool,
    /// Override a config key, e.g. --set training.lr=2e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// A loaded config and how to run it.
pub struct TrainJob {
    pub config: RunConfig,
    pub resume: bool,
}

impl DevicesJob for TrainJob {
    type Output = TrainSummary;

    fn run<B: Backend>(self, devices: Vec<B::Device>) -> Result<TrainSummary> {
        crate::model_inputs::check_training_inputs(&self.config)?;
        train::<B>(&self.config, self.resume, devices)
    }
}
