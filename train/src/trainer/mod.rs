//! `guardtune train`: the training run, in the shape of torchtune's LoRA recipe. It reads top
//! to bottom: [`Trainer::setup`] prepares the run folder, the data, the schedule and the model
//! replicas (resuming from a checkpoint when asked); [`Trainer::train`] runs the loop, calling
//! [`Trainer::step`], [`Trainer::evaluate`] and [`Trainer::save`]; the run ends with the adapter in
//! PEFT format in `adapter/` and a `loss.png`.

mod batches;
mod checkpoint;
mod evaluate;
mod log;
mod loss_plot;
mod replicas;
pub mod resume_check;
mod run_data;
pub mod run_lock;
mod schedule;

pub use batches::BatchPlan;
pub use checkpoint::{complete as complete_checkpoints, TrainerState};
pub use replicas::{BuildReplica, Replica, ReplicaGroup};
pub use schedule::LrSchedule;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use guardtune_lora::files::write_atomically;
use guardtune_lora::{
    attach, save_adapter, AdamW, AdamWConfig, StepInput, StepOutcome, StepSettings,
};

use crate::base_model_check;
use crate::classifier::{Classifier, DEFAULT_MAX_NEW_TOKENS};
use crate::config::{RunConfig, TrainingSection};
use crate::evaluation::{run_benchmark, summarize};
use crate::memory::{mib, peak_rss_bytes};
use crate::shown_path::{shell_word, shown, this_program};
use checkpoint::Checkpoint;
use log::RunLog;
use run_data::RunData;
use run_lock::RunLock;

/// What a finished run reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainSummary {
    pub steps: usize,
    pub first_validation_loss: Option<f64>,
    pub last_validation_loss: Option<f64>,
    pub tokens_per_second: f64,
    pub peak_rss_bytes: Option<u64>,
}

/// Runs (or, with `resume`, continues) the training run of `config` on `devices` of backend
/// `B` (data parallel when there are several).
pub fn train<B: Backend>(
    config: &RunConfig,
    resume: bool,
    devices: Vec<B::Device>,
) -> Result<TrainSummary> {
    // Burn's activation checkpointing is a type parameter of its autodiff backend.
    if config.training.gradient_checkpointing {
        Trainer::<Autodiff<B, BalancedCheckpointing>>::setup(config, resume, devices)?.train()
    } else {
        Trainer::<Autodiff<B>>::setup(config, resume, devices)?.train()
    }
}

/// A training run in progress.
pub struct Trainer<B: AutodiffBackend> {
    config: RunConfig,
    run_dir: PathBuf,
    /// Held until the run ends: no other process trains into this folder meanwhile.
    _lock: RunLock,
    data: RunData,
    plan: BatchPlan,
    schedule: LrSchedule,
    /// Steps completed before this process started (a resumed run).
    start: usize,
    replicas: ReplicaGroup<B>,
    log: RunLog,
    /// Training time and tokens, for throughput (evaluation and checkpoints excluded).
    training_time: Duration,
    tokens_seen: usize,
    first_validation: Option<f64>,
    last_validation: Option<f64>,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Prepares the run folder, the data and its batch plan, the learning-rate schedule and the
    /// replicas (the frozen base with adapters, from the newest checkpoint when resuming).
    pub fn setup(config: &RunConfig, resume: bool, devices: Vec<B::Device>) -> Result<Self> {
        let run_dir = config.output.dir.clone();
        // One process per run folder; a resume with a changed config is refused before the
        // folder changes in any way (docs/run-folder.md).
        let mut lock = RunLock::acquire(&run_dir)?;
        resume_check::check_resume(&run_dir, config, resume)?;
        prepare_run_dir(&run_dir, resume)?;
        lock.claim()?;
        // Hub inputs as pinned `hf://...@COMMIT` references (RunConfig::portable).
        let resolved =
            toml::to_string_pretty(&config.portable()).context("cannot serialise the config")?;
        write_atomically(&run_dir.join("config.toml"), |out| out.write_all(resolved.as_bytes()))?;

        let mut data = RunData::load(config, &run_dir)?;
        let t = &config.training;
        let row_len = t.max_seq_len.unwrap_or(config.data.max_seq_len);
        let packing = t.packing.then_some(row_len);
        let train = std::mem::take(&mut data.train);
        let mut plan = BatchPlan::new(train, t.micro_batch_size, packing, t.seed);
        let schedule = schedule(t, &mut plan);

        let resume_from =
            if resume { resume_point(&run_dir, t, schedule.total_steps)? } else { None };
        let start = resume_from.as_ref().map_or(0, |c| c.state.step);
        let settings = StepSettings {
            seed: t.seed,
            max_grad_norm: t.max_grad_norm,
            pad_id: data.tokenizer.pad_id,
            recompute: t.gradient_checkpointing,
            share_prefix: t.share_prefix,
            time_parts: false,
        };
        let build = replica_builder::<B>(config.clone(), resume_from);
        let replicas = ReplicaGroup::spawn(&devices, settings, build)?;
        let log = RunLog::open(&run_dir, start, schedule.total_steps)?;
        if let Some(dir) = &config.lora.init_from {
            if let Some(warning) = base_model_check::mismatch_warning(&config.model.path, dir) {
                log.println(warning);
            }
        }
        log.println(plan_summary(
            &mut plan,
            data.validation.len(),
            schedule.total_steps,
            start,
            devices.len(),
        ));
        Ok(Trainer {
            config: config.clone(),
            run_dir,
            _lock: lock,
            data,
            plan,
            schedule,
            start,
            replicas,
            log,
            training_time: Duration::ZERO,
            tokens_seen: 0,
            first_validation: None,
            last_validation: None,
        })
    }

    /// The training loop: evaluate the starting point (unless resuming), then step, evaluating
    /// and saving at the configured cadence and at the end.
    pub fn train(mut self) -> Result<TrainSummary> {
        if self.start == 0 {
            self.stop_if_requested(0)?;
            self.first_validation = self.evaluate(0)?;
        }
        let total = self.schedule.total_steps;
        for step in self.start..total {
            // A signal during setup, the first evaluation or a checkpoint's writing: every step
            // done is saved already, so stop before starting another.
            self.stop_if_requested(step)?;
            self.step(step)?;
            let done = step + 1;
            let every = |n: Option<usize>| n.is_some_and(|n| done % n == 0) || done == total;
            if every(self.config.eval.every_steps) {
                self.last_validation = self.evaluate(done)?.or(self.last_validation);
            }
            // A first SIGINT/SIGTERM: checkpoint this step and stop (see crate::stop).
            let stopping = done < total && crate::stop::requested();
            if stopping || every(self.config.output.save_every_steps) {
                let saved = self.save(done)?;
                if stopping {
                    self.log.finish();
                    return Err(crate::stop::Stopped::after(done, saved).into());
                }
            }
        }
        self.finish()
    }

    /// Ends the run before optimizer step `step` (0-based) when a stop was asked for.
    fn stop_if_requested(&self, step: usize) -> Result<()> {
        if !crate::stop::requested() {
            return Ok(());
        }
        self.log.finish();
        let last = checkpoint::complete(&self.run_dir)?.pop().map(|(dir, _)| dir);
        Err(crate::stop::Stopped::before(step, last).into())
    }

    /// Optimizer step `step` (0-based) on every replica, logged.
    pub fn step(&mut self, step: usize) -> Result<StepOutcome> {
        let started = Instant::now();
        let accumulation = self.config.training.grad_accumulation;
        let micro =
            (0..accumulation).map(|k| self.plan.micro_batch(step * accumulation + k)).collect();
        let input = StepInput { step, micro, lr: self.schedule.lr(step) };
        let tokens: usize = input.micro.iter().map(|m| m.tokens()).sum();
        let lr = input.lr;
        let outcome = self.replicas.step(input)?;
        if !outcome.updated {
            self.log.finish();
            let last = checkpoint::complete(&self.run_dir)?.pop();
            let last = last.map_or("none".into(), |(dir, _)| dir.display().to_string());
            bail!(
                "loss is {} at step {}: stopped before updating; last good checkpoint: {last}",
                outcome.loss,
                step + 1
            );
        }
        B::sync(self.replicas.device())?;
        self.training_time += started.elapsed();
        self.tokens_seen += tokens;
        let rate = self.tokens_seen as f64 / self.training_time.as_secs_f64();
        let (done, loss) = (step + 1, outcome.loss);
        // What computing each micro-batch's common prompt prefix once saved (share_prefix), as
        // the replicas counted it.
        let shared_fraction = 1.0 - outcome.computed_tokens as f64 / tokens.max(1) as f64;
        let values = [
            ("train/loss", loss),
            ("train/lr", lr),
            ("train/grad_norm", outcome.grad_norm),
            ("train/tokens_per_second", rate),
            ("train/shared_token_fraction", shared_fraction),
        ];
        self.log.record(done, &values)?;
        if done % self.config.training.log_every_steps == 0 || done == self.schedule.total_steps {
            self.log.progress(done, format!("loss {loss:.4}  lr {lr:.2e}  {rate:.0} tok/s"));
        }
        Ok(outcome)
    }

    /// The validation loss, then F1/AUPRC of each configured benchmark, on the leader's model
    /// without dropout; logged at `step`. Returns the validation loss, if there is a set.
    pub fn evaluate(&mut self, step: usize) -> Result<Option<f64>> {
        let model = self.replicas.leader().model.valid();
        let device = self.replicas.device().clone();
        let (eval, pad_id) = (&self.config.eval, self.data.tokenizer.pad_id);
        let batch = eval.batch_size.unwrap_or(self.config.training.micro_batch_size);
        let bar = self.log.evaluation_bar("validation");
        let validation = &self.data.validation;
        let loss = evaluate::validation_loss(&model, validation, batch, pad_id, &device, &bar);
        bar.finish_and_clear();
        let mut values: Vec<(String, f64)> =
            loss.map(|l| ("eval/loss".into(), l)).into_iter().collect();
        let classifier = Classifier {
            model: &model,
            prompts: &self.data.prompts,
            tokenizer: &self.data.tokenizer,
            max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
            device,
            prefix_cache: Default::default(),
        };
        for spec in &eval.benchmarks {
            let bar = self.log.evaluation_bar(&spec.name());
            let rows =
                run_benchmark(&classifier, spec, eval.benchmark_max_examples, batch, &bar, None)?;
            bar.finish_and_clear();
            for level in summarize(&rows) {
                let tag = format!("eval/{}/{}", level.benchmark, level.level);
                values.push((format!("{tag}/f1"), level.metrics.f1));
                values.extend(level.metrics.auprc.map(|a| (format!("{tag}/auprc"), a)));
            }
        }
        if !values.is_empty() {
            let tagged: Vec<(&str, f64)> = values.iter().map(|(t, v)| (t.as_str(), *v)).collect();
            self.log.record(step, &tagged)?;
            let text: Vec<String> = values
                .iter()
                .map(|(tag, v)| match tag.as_str() {
                    "eval/loss" => format!("validation loss {v:.4}"),
                    tag => format!("{} {v:.4}", tag.trim_start_matches("eval/")),
                })
                .collect();
            self.log.println(format!("step {step}: {}", text.join(", ")));
        }
        Ok(loss)
    }

    /// A resumable checkpoint after `step` steps (metrics made durable first, so a checkpoint
    /// never names a step whose numbers could be lost).
    /// Returns the checkpoint's folder.
    pub fn save(&mut self, step: usize) -> Result<PathBuf> {
        self.log.flush()?;
        let t = &self.config.training;
        let state = TrainerState { step, total_steps: self.schedule.total_steps, seed: t.seed };
        let Replica { model, optimizer } = self.replicas.leader();
        let (lora, keep) = (&self.config.lora, self.config.output.keep_last);
        let base = self.base_name();
        let saved = checkpoint::save(&self.run_dir, model, lora, &base, optimizer, &state, keep)?;
        loss_plot::write_loss_plot(&self.run_dir)?;
        Ok(saved)
    }

    /// The final adapter, and the summary.
    fn finish(mut self) -> Result<TrainSummary> {
        self.log.flush()?;
        self.log.finish();
        let dtype = self.config.output.adapter_dtype;
        let adapter_dir = self.run_dir.join("adapter");
        let model = &self.replicas.leader().model;
        save_adapter(model, &self.config.lora, &self.base_name(), &adapter_dir, dtype)?;
        loss_plot::write_loss_plot(&self.run_dir)?;
        let summary = TrainSummary {
            steps: self.schedule.total_steps,
            first_validation_loss: self.first_validation,
            last_validation_loss: self.last_validation,
            tokens_per_second: self.tokens_seen as f64 / self.training_time.as_secs_f64().max(1e-9),
            peak_rss_bytes: peak_rss_bytes(),
        };
        println!(
            "done: {} steps, {:.0} tokens/s, peak memory {}",
            summary.steps,
            summary.tokens_per_second,
            summary.peak_rss_bytes.map(mib).unwrap_or_else(|| "unknown".into()),
        );
        println!("{}", self.next_steps(&adapter_dir));
        Ok(summary)
    }

    /// Where the results are, and the command that tries the adapter.
    fn next_steps(&self, adapter_dir: &Path) -> String {
        let word = |path: &Path| shell_word(shown(path));
        let model = word(&self.config.model.path);
        format!(
            "adapter:     {}\nloss curves: {}\nmetrics:     {}\nnext, try the guard:\n  {} classify --model {model} --adapter {} \"How do I pick a lock?\"",
            word(adapter_dir),
            word(&self.run_dir.join("loss.png")),
            word(&self.run_dir.join("metrics.jsonl")),
            this_program(),
            word(adapter_dir),
        )
    }

    /// The base model as the adapter's `base_model_name_or_path` names it.
    fn base_name(&self) -> String {
        self.config.model.base_name()
    }
}

/// The newest checkpoint of the run folder, if any, once it is known to belong to this config's
/// run. The resume check compared the configs; this guards against a config.toml edited by
/// hand. A longer run is allowed (resume_check::MAX_STEPS).
fn resume_point(
    run_dir: &Path,
    t: &TrainingSection,
    total_steps: usize,
) -> Result<Option<Checkpoint>> {
    let Some(ckpt) = checkpoint::latest(run_dir)? else { return Ok(None) };
    let old = &ckpt.state;
    if old.seed != t.seed || total_steps < old.step {
        bail!(
            "{}: checkpoint was made with seed {} after {} steps; this config has seed {} and {total_steps} steps",
            ckpt.dir.display(), old.seed, old.step, t.seed
        );
    }
    Ok(Some(ckpt))
}

/// The line that opens a run's log: what it trains on, for how long, and from where.
fn plan_summary(
    plan: &mut BatchPlan,
    validation_examples: usize,
    total_steps: usize,
    start: usize,
    devices: usize,
) -> String {
    let from = match start {
        0 => "from scratch".to_string(),
        start => format!("resuming after step {start}"),
    };
    let parallel = match devices {
        1 => String::new(),
        n => format!(", data parallel over {n} devices"),
    };
    format!(
        "{} training / {validation_examples} validation examples, {} micro-batches per epoch, {total_steps} steps ({from}){parallel}",
        plan.examples(),
        plan.micro_batches_per_epoch(),
    )
}

/// The learning-rate schedule of a run: its length from `max_steps`, or from `epochs` over the
/// plan's micro-batches.
fn schedule(t: &TrainingSection, plan: &mut BatchPlan) -> LrSchedule {
    let total_steps = match (t.max_steps, t.epochs) {
        (Some(steps), _) => steps,
        (None, Some(epochs)) => {
            let micro_batches = epochs * plan.micro_batches_per_epoch() as f64;
            (micro_batches / t.grad_accumulation as f64).ceil() as usize
        }
        (None, None) => unreachable!("checked when the config was loaded"),
    };
    let warmup = t
        .warmup_steps
        .unwrap_or_else(|| (t.warmup_ratio.unwrap_or(0.0) * total_steps as f64).round() as usize);
    LrSchedule { peak: t.lr, min: t.min_lr, warmup_steps: warmup, total_steps, kind: t.schedule }
}

/// Builds a replica on any device: the base, adapters from the run seed, and the checkpoint's
/// adapters and optimizer state when resuming. Every device gets the same one.
fn replica_builder<B: AutodiffBackend>(
    config: RunConfig,
    resume_from: Option<Checkpoint>,
) -> BuildReplica<B> {
    Arc::new(move |device: &B::Device| {
        let t = &config.training;
        let (_, mut model) =
            guardtune_model::load_model_as::<B>(&config.model.path, config.model.dtype, device)?;
        attach(&mut model, &config.lora, t.seed, device)?;
        if let (Some(dir), None) = (&config.lora.init_from, &resume_from) {
            guardtune_lora::init_from_adapter(&mut model, &config.lora, dir, device)?;
        }
        let betas = (t.betas[0], t.betas[1]);
        let adamw = AdamWConfig { betas, eps: t.eps, weight_decay: t.weight_decay };
        let mut optimizer = AdamW::<B::InnerBackend>::new(adamw);
        if let Some(ckpt) = &resume_from {
            checkpoint::restore(ckpt, &mut model, &mut optimizer, device)?;
        }
        Ok(Replica { model, optimizer })
    })
}

/// Creates the run folder; refuses to overwrite a finished or started run unless resuming.
fn prepare_run_dir(run_dir: &Path, resume: bool) -> Result<()> {
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("{}: cannot create the run folder", run_dir.display()))?;
    checkpoint::remove_partial(run_dir)?;
    let started = run_dir.join("metrics.jsonl").exists() || run_dir.join("adapter").exists();
    if started && !resume {
        bail!(
            "{} already holds a run: pass --resume to continue it, or choose another output.dir",
            run_dir.display()
        );
    }
    Ok(())
}
