//! `guardtune bench --model DIR --rows FILE.jsonl --mode train|classify`: the guard workload on a
//! real model folder, over the rendered examples `guardtune blend CONFIG --out FILE.jsonl` writes,
//! timed as `../shared/tools/guard_cpu_bench.py` times PyTorch + PEFT and transformers on the same
//! file (rows of the training split in file order, repeated if too few; the first `--warmup`
//! batches untimed; tokenisation outside the timings).
//!
//! `train`: LoRA optimizer steps (the trainer's step, no clipping), one micro-batch of `--batch`
//! consecutive rows per step, loss on the completion. `classify`: verdicts with P(unsafe) for the
//! rows' prompts from the guard's classifier, policy prefix cached (computed in the first batch,
//! then reused).

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use guardtune_data::{parse_verdict, Verdict, IGNORE_INDEX};
use guardtune_lora::{attach, step_alone, AdamW, AdamWConfig, MicroBatch, StepInput, StepSettings};
use guardtune_model::Tokenizer;
use serde::{Deserialize, Serialize};

use super::bench::BenchArgs;
use crate::classifier::{LoadedGuard, TokenStats, DEFAULT_MAX_NEW_TOKENS};

/// What `--mode` runs on the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowsMode {
    Train,
    Classify,
}

/// One line of `guardtune blend --out` (other fields ignored).
#[derive(Deserialize)]
struct Row {
    #[serde(default)]
    split: Option<String>,
    prompt: String,
    completion: String,
}

/// A row's tokens, as the reference script makes them.
#[derive(Clone)]
struct Tokens {
    prompt: Vec<u32>,
    completion: Vec<u32>,
    /// The completion judges a response too.
    has_response: bool,
}

/// What the rows benchmark reports (its `--json` object).
#[derive(Debug, Serialize)]
pub struct RowsReport {
    pub tool: &'static str,
    pub mode: RowsMode,
    pub model: String,
    pub rows: String,
    pub backend: String,
    pub dtype: String,
    pub batch: usize,
    pub warmup: usize,
    pub steps: usize,
    pub examples_per_s: f64,
    /// Prompt and completion tokens of the timed rows (classify: the completion is what the
    /// guard generated) over the timed seconds.
    pub tokens_per_s: f64,
    pub ms_per_batch: f64,
    /// VmHWM of this process.
    pub peak_rss_mib: f64,
    /// classify: the prompt tokens the prefix cache saved, over all batches (warm-up included,
    /// where the prefix is computed). train: the timed steps' tokens that sharing each
    /// micro-batch's common prefix saved, as the step counted what it computed.
    pub prefix_saved_fraction: f64,
    /// classify: the prefix cache's token counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<TokenStats>,
    /// train: LoRA rank, alpha, dropout; mean token loss of the first and last step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora: Option<(usize, f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_first_last: Option<(f64, f64)>,
}

/// Runs the rows benchmark that `args` describes (`args.rows` and `args.model` are given).
pub fn run<B: Backend>(args: &BenchArgs, devices: &[B::Device]) -> Result<RowsReport> {
    let ([device], Some(model_dir), Some(rows_path)) = (devices, &args.model, &args.rows) else {
        bail!("--rows needs --model and one device");
    };
    let plan = args.plan()?;
    let batch = args.batch.unwrap_or(8);
    let steps = args.steps.unwrap_or(6);
    let warmup = args.warmup.unwrap_or(1);
    if batch == 0 || steps == 0 {
        bail!("--batch and --steps must be at least 1");
    }
    let tokenizer = Tokenizer::from_model_dir(model_dir)?;
    let rows = read_rows(rows_path, &tokenizer, batch * (warmup + steps))?;
    let batches: Vec<&[Tokens]> = rows.chunks(batch).collect();
    let (times, extra) = match args.mode {
        RowsMode::Train => {
            let mut model = crate::model_dir::load_model_with_adapter::<Autodiff<B>>(
                model_dir, None, plan.dtype, device,
            )?
            .1;
            attach(&mut model, &plan.lora, 1, device)?;
            train::<Autodiff<B>>(&mut model, &batches, tokenizer.pad_id, device)?
        }
        RowsMode::Classify => {
            let guard = LoadedGuard::<B>::load(model_dir, None, plan.dtype, device)?;
            classify(&guard, &batches, device)?
        }
    };
    let timed = &times[warmup.min(times.len())..];
    let timed_rows = &batches[warmup.min(batches.len())..];
    let seconds: f64 = timed.iter().map(|t| t.seconds).sum();
    let tokens: usize = timed.iter().map(|t| t.tokens).sum();
    let examples: usize = timed_rows.iter().map(|b| b.len()).sum();
    let peak_rss = crate::memory::peak_rss_bytes().map_or(f64::NAN, |b| b as f64 / 1048576.0);
    let train = args.mode == RowsMode::Train;
    Ok(RowsReport {
        tool: "guardtune",
        mode: args.mode,
        model: model_dir.display().to_string(),
        rows: rows_path.display().to_string(),
        backend: B::name(device),
        dtype: plan.dtype.name().to_string(),
        batch,
        warmup,
        steps: timed.len(),
        examples_per_s: examples as f64 / seconds,
        tokens_per_s: tokens as f64 / seconds,
        ms_per_batch: 1e3 * seconds / timed.len() as f64,
        peak_rss_mib: peak_rss,
        prefix_saved_fraction: match extra {
            Extra::Prefix(stats) => stats.saved_fraction(),
            Extra::Losses { ref computed, .. } => {
                let computed: usize = computed[warmup.min(computed.len())..].iter().sum();
                1.0 - computed as f64 / tokens.max(1) as f64
            }
        },
        prefix: match extra {
            Extra::Prefix(stats) => Some(stats),
            Extra::Losses { .. } => None,
        },
        lora: train.then_some((plan.lora.r, plan.lora.alpha, plan.lora.dropout)),
        loss_first_last: match extra {
            Extra::Losses { first, last, .. } => Some((first, last)),
            Extra::Prefix(_) => None,
        },
    })
}

/// The time and the tokens of one batch.
struct Timed {
    seconds: f64,
    tokens: usize,
}

/// What a mode reports besides its timings.
enum Extra {
    /// train: the first and last step's loss, and the tokens each step computed.
    Losses {
        first: f64,
        last: f64,
        computed: Vec<usize>,
    },
    Prefix(TokenStats),
}

/// Training rows of the file in order (all rows if none is marked train), tokenised, repeated
/// until there are `need`.
fn read_rows(path: &Path, tokenizer: &Tokenizer, need: usize) -> Result<Vec<Tokens>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the rows", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let row: Row = serde_json::from_str(line).with_context(|| {
            format!(
                "{}: row {}: expected a line of `guardtune blend --out` (prompt, completion)",
                path.display(),
                i + 1
            )
        })?;
        rows.push(row);
    }
    let train: Vec<&Row> = rows.iter().filter(|r| r.split.as_deref() == Some("train")).collect();
    let chosen = if train.is_empty() { rows.iter().collect() } else { train };
    if chosen.is_empty() {
        bail!("{}: no rows", path.display());
    }
    let tokenized = chosen
        .iter()
        .map(|row| {
            let has_response = matches!(
                parse_verdict(&row.completion),
                Ok(Verdict::Safety { response: Some(_), .. })
            );
            Ok(Tokens {
                prompt: tokenizer.encode(&row.prompt, false)?,
                completion: tokenizer.encode(&row.completion, false)?,
                has_response,
            })
        })
        .collect::<Result<Vec<Tokens>>>()?;
    Ok((0..need).map(|i| tokenized[i % tokenized.len()].clone()).collect())
}

/// LoRA steps, one per batch, with the trainer's step (AdamW at the reference's 2e-4, no
/// clipping); returns each step's time and tokens, and the first and last loss.
fn train<B: AutodiffBackend>(
    model: &mut guardtune_model::LlamaForCausalLM<B>,
    batches: &[&[Tokens]],
    pad_id: u32,
    device: &B::Device,
) -> Result<(Vec<Timed>, Extra)> {
    let mut optimizer = AdamW::<B::InnerBackend>::new(AdamWConfig::default());
    let (mut times, mut losses, mut computed) = (Vec::new(), Vec::new(), Vec::new());
    let settings = StepSettings {
        seed: 0,
        max_grad_norm: None,
        pad_id,
        recompute: false,
        share_prefix: true,
        time_parts: false,
    };
    for (step, rows) in batches.iter().enumerate() {
        let input_ids: Vec<Vec<u32>> =
            rows.iter().map(|r| [&r.prompt[..], &r.completion].concat()).collect();
        let labels = rows
            .iter()
            .map(|r| {
                let prompt = std::iter::repeat_n(IGNORE_INDEX, r.prompt.len());
                prompt.chain(r.completion.iter().map(|&t| i64::from(t))).collect()
            })
            .collect();
        let tokens = input_ids.iter().map(Vec::len).sum();
        let micro = MicroBatch::unpacked(input_ids, labels);
        let start = Instant::now();
        let input = StepInput { step, micro: vec![micro], lr: 2e-4 };
        let step = step_alone(model, &mut optimizer, &input, settings, device)?;
        B::sync(device)?;
        times.push(Timed { seconds: start.elapsed().as_secs_f64(), tokens });
        losses.push(step.loss);
        computed.push(step.computed_tokens);
    }
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    Ok((times, Extra::Losses { first, last, computed }))
}

/// Verdicts with P(unsafe) for each batch's prompts; the tokens are the prompts' and the
/// generated verdicts'.
fn classify<B: Backend>(
    guard: &LoadedGuard<B>,
    batches: &[&[Tokens]],
    device: &B::Device,
) -> Result<(Vec<Timed>, Extra)> {
    let classifier = guard.classifier(DEFAULT_MAX_NEW_TOKENS, device.clone());
    let mut times = Vec::new();
    for rows in batches {
        let prompts: Vec<Vec<u32>> = rows.iter().map(|r| r.prompt.clone()).collect();
        let flags: Vec<bool> = rows.iter().map(|r| r.has_response).collect();
        let before = classifier.prefix_cache.stats();
        let start = Instant::now();
        let verdicts = classifier.classify_prompts(&prompts, &flags, true, None)?;
        B::sync(device)?;
        let seconds = start.elapsed().as_secs_f64();
        let after = classifier.prefix_cache.stats();
        let generated = after.generated_tokens - before.generated_tokens;
        let prompt_tokens: usize = prompts.iter().map(Vec::len).sum();
        debug_assert_eq!(verdicts.len(), rows.len());
        times.push(Timed { seconds, tokens: prompt_tokens + generated });
    }
    Ok((times, Extra::Prefix(classifier.prefix_cache.stats())))
}

/// Prints the report as text.
pub fn print_report(r: &RowsReport) {
    println!(
        "{} {} on {} ({}), rows {}: batch {}, {} warm-up + {} timed batches",
        r.tool,
        r.mode_name(),
        r.model,
        r.dtype,
        r.rows,
        r.batch,
        r.warmup,
        r.steps
    );
    println!(
        "examples/s {:.2}  tokens/s {:.1}  ms/batch {:.0}  peak RSS {:.0} MiB",
        r.examples_per_s, r.tokens_per_s, r.ms_per_batch, r.peak_rss_mib
    );
    println!("prefix sharing saved {:.1}% of the tokens", 100.0 * r.prefix_saved_fraction);
    if let Some((first, last)) = r.loss_first_last {
        println!("loss: {first:.4} -> {last:.4}");
    }
}

impl RowsReport {
    fn mode_name(&self) -> &'static str {
        match self.mode {
            RowsMode::Train => "train",
            RowsMode::Classify => "classify",
        }
    }
}
