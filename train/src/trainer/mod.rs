//! `guardtune train`: the training loop.
//!
//! Reads the blend, tokenises it with the model's chat template, attaches LoRA adapters to the
//! frozen base and runs AdamW steps with gradient accumulation, clipping and the learning-rate
//! schedule; logs to metrics.jsonl, TensorBoard and a progress bar; evaluates the validation
//! loss; writes resumable checkpoints; and ends with the adapter in PEFT format in `adapter/`.

mod batches;
mod checkpoint;
mod evaluate;
mod log;
pub mod parallel;
pub mod resume_check;
pub mod run_lock;
mod schedule;

pub use batches::BatchPlan;
pub use checkpoint::{complete as complete_checkpoints, TrainerState};
pub use schedule::LrSchedule;

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use guardtune_data::{build_blend, GuardTokenizer, Tokenized};
use guardtune_lora::{attach, save_adapter, AdamW, AdamWConfig, MicroBatch, StoreDtype};
use guardtune_model::LlamaForCausalLM;

use crate::classifier::{Classifier, DEFAULT_MAX_NEW_TOKENS};
use crate::config::RunConfig;
use crate::evaluation::{run_benchmark, summarize};
use crate::memory::{mib, peak_rss_bytes};
use indicatif::ProgressBar;
use log::RunLog;
use parallel::{Peer, StepOrder, StepSettings};

/// The validation loss (if there is a validation set) and every logged evaluation value.
type Evaluation = (Option<f64>, Vec<(String, f64)>);

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
        run::<Autodiff<B, BalancedCheckpointing>>(config, resume, devices)
    } else {
        run::<Autodiff<B>>(config, resume, devices)
    }
}

/// A frozen base with adapters attached, and its optimizer: what each device trains. Built the
/// same way on every device (same seed, same checkpoint), so all start identical.
fn trainee<B: AutodiffBackend>(
    config: &RunConfig,
    resume_from: Option<&checkpoint::Checkpoint>,
    device: &B::Device,
) -> Result<(LlamaForCausalLM<B>, AdamW<B::InnerBackend>)> {
    let t = &config.training;
    let dtype = guardtune_model::parse_dtype(&config.model.dtype)?;
    let (_, mut model) = guardtune_model::load_model_as::<B>(&config.model.path, dtype, device)?;
    attach(&mut model, &config.lora, t.seed, device)?;
    let mut optimizer = AdamW::<B::InnerBackend>::new(AdamWConfig {
        betas: (t.betas[0], t.betas[1]),
        eps: t.eps,
        weight_decay: t.weight_decay,
    });
    if let Some(ckpt) = resume_from {
        checkpoint::restore(ckpt, &mut model, &mut optimizer, device)?;
    }
    Ok((model, optimizer))
}

/// A device of a data-parallel run other than the first, and its links to the first.
struct Follower<B: AutodiffBackend> {
    index: usize,
    count: usize,
    device: B::Device,
    settings: StepSettings,
    /// Says whether building the model worked.
    ready: mpsc::Sender<Result<()>>,
    /// The steps to compute, until the first device hangs up.
    orders: mpsc::Receiver<StepOrder>,
}

impl<B: AutodiffBackend> Follower<B> {
    /// Builds this device's copy of the model, says whether that worked, then computes its share
    /// of every step it is sent.
    fn run(self, config: &RunConfig, resume_from: Option<&checkpoint::Checkpoint>) -> Result<()> {
        let (mut model, mut optimizer) = match trainee::<B>(config, resume_from, &self.device) {
            Ok(built) => {
                let _ = self.ready.send(Ok(()));
                built
            }
            Err(e) => {
                let _ = self.ready.send(Err(anyhow!("device {}: {e:#}", self.index)));
                return Ok(());
            }
        };
        let mut orders = self.orders.into_iter();
        let Some(first) = orders.next() else { return Ok(()) };
        let peer = Peer::<B>::join(self.index, self.count, &self.device)?;
        for order in std::iter::once(first).chain(orders) {
            if !peer.step(&mut model, &mut optimizer, &order, self.settings, &self.device)?.updated
            {
                break;
            }
        }
        Ok(())
    }
}

fn run<B: AutodiffBackend>(
    config: &RunConfig,
    resume: bool,
    devices: Vec<B::Device>,
) -> Result<TrainSummary> {
    let run_dir = &config.output.dir;
    // One process per run folder; a resume with a changed config is refused before the
    // folder changes in any way.
    let mut lock = run_lock::RunLock::acquire(run_dir)?;
    resume_check::check_resume(run_dir, config, resume)?;
    prepare_run_dir(run_dir, resume)?;
    lock.claim()?;
    let resolved =
        toml::to_string_pretty(config).context("cannot serialise the resolved config")?;
    guardtune_lora::files::write_atomically(&run_dir.join("config.toml"), |out| {
        std::io::Write::write_all(out, resolved.as_bytes())
    })?;

    // Data: the blend, rendered with the model's own chat template and tokenised.
    let tokenizer = GuardTokenizer::from_model_dir(&config.model.path)?;
    let blend = build_blend(&config.data, Path::new("."), &tokenizer)?;
    guardtune_lora::files::write_atomically(&run_dir.join("blend.md"), |out| {
        std::io::Write::write_all(out, blend.report.to_markdown().as_bytes())
    })?;
    if let Some(line) = crate::skipped_rows::summary(&blend.report) {
        println!("{line} (details in {})", run_dir.join("blend.md").display());
    }
    let tokenize = |examples: &[guardtune_data::GuardExample]| -> Result<Vec<Tokenized>> {
        examples.iter().map(|e| tokenizer.tokenize(e).map_err(Into::into)).collect()
    };
    let train_set = tokenize(&blend.train)?;
    let mut validation = tokenize(&blend.validation)?;
    if let Some(cap) = config.eval.max_examples {
        validation.truncate(cap);
    }
    if train_set.is_empty() {
        bail!("the blend has no training examples");
    }
    let model_tokenizer = guardtune_model::Tokenizer::from_model_dir(&config.model.path)?;
    let pad_id = model_tokenizer.pad_id;

    let t = &config.training;
    let row_len = t.max_seq_len.unwrap_or(config.data.max_seq_len);
    let mut plan =
        BatchPlan::new(&train_set, t.micro_batch_size, t.packing.then_some(row_len), t.seed);
    let total_steps = match (t.max_steps, t.epochs) {
        (Some(steps), _) => steps,
        (None, Some(epochs)) => ((epochs * plan.micro_batches_per_epoch() as f64)
            / t.grad_accumulation as f64)
            .ceil() as usize,
        (None, None) => unreachable!("checked when the config was loaded"),
    };
    let warmup = t
        .warmup_steps
        .unwrap_or_else(|| (t.warmup_ratio.unwrap_or(0.0) * total_steps as f64).round() as usize);
    let schedule = LrSchedule {
        peak: t.lr,
        min: t.min_lr,
        warmup_steps: warmup,
        total_steps,
        kind: t.schedule,
    };

    let resume_from = if resume { checkpoint::latest(run_dir)? } else { None };
    if let Some(ckpt) = &resume_from {
        if ckpt.state.seed != t.seed
            || (ckpt.state.total_steps != total_steps && !resume_check::length_may_change(t))
        {
            bail!("{}: checkpoint was made with seed {} and {} steps; this config has seed {} and {total_steps} steps", ckpt.dir.display(), ckpt.state.seed, ckpt.state.total_steps, t.seed);
        }
    }
    let start = resume_from.as_ref().map_or(0, |c| c.state.step);

    // Model: the frozen base plus adapters (seeded), on the first device; the other devices
    // build their own copies in their threads.
    let device = devices[0].clone();
    let (mut model, mut optimizer) = trainee::<B>(config, resume_from.as_ref(), &device)?;
    let settings = StepSettings {
        seed: t.seed,
        max_grad_norm: t.max_grad_norm,
        pad_id,
        recompute_layers: t.gradient_checkpointing,
    };
    let mut log = RunLog::open(run_dir, start, total_steps)?;
    log.println(format!(
        "{} training / {} validation examples, {} micro-batches per epoch, {total_steps} steps ({}){}",
        train_set.len(),
        validation.len(),
        plan.micro_batches_per_epoch(),
        if start > 0 { format!("resuming after step {start}") } else { "from scratch".into() },
        if devices.len() > 1 { format!(", data parallel over {} devices", devices.len()) } else { String::new() }
    ));

    let eval_batch = config.eval.batch_size.unwrap_or(t.micro_batch_size);
    // Validation loss, then F1/AUPRC of each configured benchmark, on the model without dropout.
    let evaluate = |model: &LlamaForCausalLM<B>| -> Result<Evaluation> {
        let inner = model.valid();
        let loss = evaluate::validation_loss(&inner, &validation, eval_batch, pad_id, &device);
        let mut values: Vec<(String, f64)> =
            loss.map(|l| ("eval/loss".to_string(), l)).into_iter().collect();
        let classifier = Classifier {
            model: &inner,
            prompts: &tokenizer,
            tokenizer: &model_tokenizer,
            max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
            device: device.clone(),
        };
        for spec in &config.eval.benchmarks {
            let rows = run_benchmark(
                &classifier,
                spec,
                config.eval.benchmark_max_examples,
                eval_batch,
                &ProgressBar::hidden(),
            )?;
            for level in summarize(&rows) {
                let tag = format!("eval/{}/{}", level.benchmark, level.level);
                values.push((format!("{tag}/f1"), level.metrics.f1));
                values.extend(level.metrics.auprc.map(|a| (format!("{tag}/auprc"), a)));
            }
        }
        Ok((loss, values))
    };
    let record_eval = |log: &mut RunLog, step: usize, values: &[(String, f64)]| -> Result<()> {
        let tagged: Vec<(&str, f64)> = values.iter().map(|(t, v)| (t.as_str(), *v)).collect();
        log.record(step, &tagged)?;
        let text: Vec<String> = values
            .iter()
            .map(|(t, v)| format!("{} {v:.4}", t.trim_start_matches("eval/")))
            .collect();
        log.println(format!("step {step}: {}", text.join(", ")));
        Ok(())
    };
    let mut first_validation = None;
    let mut last_validation = None;
    let adapter_dtype =
        StoreDtype::parse(&config.output.adapter_dtype).map_err(anyhow::Error::msg)?;
    let base_name = config.model.path.display().to_string();
    // Throughput counts training time only (not evaluation or checkpoints).
    let mut training_time = std::time::Duration::ZERO;
    let mut tokens_seen = 0usize;
    std::thread::scope(|scope| -> Result<()> {
        // The other devices build their copies while this one evaluates, and say when ready;
        // each joins the collective on its first step, so a device that failed to start
        // cannot leave the others waiting.
        let count = devices.len();
        let (ready_sender, ready) = mpsc::channel::<Result<()>>();
        let mut orders = Vec::new();
        let mut followers = Vec::new();
        for (index, follower_device) in devices.iter().enumerate().skip(1) {
            let (sender, receiver) = mpsc::channel();
            let follower = Follower::<B> {
                index,
                count,
                device: follower_device.clone(),
                settings,
                ready: ready_sender.clone(),
                orders: receiver,
            };
            let resume_from = resume_from.as_ref();
            followers.push(scope.spawn(move || follower.run(config, resume_from)));
            orders.push(sender);
        }
        drop(ready_sender);
        let led = (|| -> Result<()> {
            if start == 0 {
                let (loss, values) = evaluate(&model)?;
                if !values.is_empty() {
                    record_eval(&mut log, 0, &values)?;
                }
                first_validation = loss;
            }
            for _ in 1..count {
                ready
                    .recv()
                    .map_err(|_| anyhow!("a data-parallel device stopped while starting"))??;
            }
            let mut peer = None;
            for step in start..total_steps {
                let step_started = Instant::now();
                let micro: Vec<MicroBatch> = (0..t.grad_accumulation)
                    .map(|k| plan.micro_batch(step * t.grad_accumulation + k))
                    .collect();
                let tokens: usize = micro.iter().flat_map(|m| &m.input_ids).map(Vec::len).sum();
                let lr = schedule.lr(step);
                let order = StepOrder { step, micro: Arc::new(micro), lr };
                for follower in &orders {
                    follower
                        .send(order.clone())
                        .map_err(|_| anyhow!("a data-parallel device stopped"))?;
                }
                let peer = match &peer {
                    Some(peer) => peer,
                    None => peer.insert(Peer::<B>::join(0, count, &device)?),
                };
                let outcome = peer.step(&mut model, &mut optimizer, &order, settings, &device)?;
                let loss = outcome.loss;
                if !outcome.updated {
                    log.finish();
                    let last = checkpoint::complete(run_dir)?
                        .pop()
                        .map(|(dir, _)| dir.display().to_string())
                        .unwrap_or_else(|| "none".into());
                    bail!("loss is {loss} at step {}: stopped before updating; last good checkpoint: {last}", step + 1);
                }

                B::sync(&device)?;
                training_time += step_started.elapsed();
                tokens_seen += tokens;
                let rate = tokens_seen as f64 / training_time.as_secs_f64();
                let done = step + 1;
                log.record(
                    done,
                    &[
                        ("train/loss", loss),
                        ("train/lr", lr),
                        ("train/grad_norm", outcome.grad_norm),
                        ("train/tokens_per_second", rate),
                    ],
                )?;
                if done % t.log_every_steps == 0 || done == total_steps {
                    log.progress(done, format!("loss {loss:.4}  lr {lr:.2e}  {rate:.0} tok/s"));
                }
                let eval_now =
                    config.eval.every_steps.is_some_and(|n| done % n == 0) || done == total_steps;
                if eval_now {
                    let (loss, values) = evaluate(&model)?;
                    if !values.is_empty() {
                        record_eval(&mut log, done, &values)?;
                    }
                    last_validation = loss.or(last_validation);
                }
                // A first SIGINT/SIGTERM: checkpoint this step and stop (see crate::stop).
                let stopping = done < total_steps && crate::stop::requested();
                if stopping
                    || config.output.save_every_steps.is_some_and(|n| done % n == 0)
                    || done == total_steps
                {
                    log.flush()?;
                    let state = TrainerState { step: done, total_steps, seed: t.seed };
                    let saved = checkpoint::save(
                        run_dir,
                        &model,
                        &config.lora,
                        &base_name,
                        &optimizer,
                        &state,
                        config.output.keep_last,
                    )?;
                    if stopping {
                        log.finish();
                        return Err(crate::stop::Stopped::after(done, saved).into());
                    }
                }
            }
            Ok(())
        })();
        // Hanging up ends the other devices' loops.
        drop(orders);
        for follower in followers {
            follower.join().map_err(|_| anyhow!("a data-parallel device panicked"))??;
        }
        led
    })?;
    log.flush()?;
    log.finish();
    save_adapter(&model, &config.lora, &base_name, &run_dir.join("adapter"), adapter_dtype)?;

    let summary = TrainSummary {
        steps: total_steps,
        first_validation_loss: first_validation,
        last_validation_loss: last_validation,
        tokens_per_second: tokens_seen as f64 / training_time.as_secs_f64().max(1e-9),
        peak_rss_bytes: peak_rss_bytes(),
    };
    println!(
        "done: {} steps, {:.0} tokens/s, peak memory {}; adapter in {}",
        summary.steps,
        summary.tokens_per_second,
        summary.peak_rss_bytes.map(mib).unwrap_or_else(|| "unknown".into()),
        run_dir.join("adapter").display()
    );
    Ok(summary)
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
