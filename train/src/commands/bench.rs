//! `guardtune bench`: times full LoRA training steps (forward, backward, optimizer) on a randomly
//! initialised model of a given shape, and reports throughput, peak memory and model FLOP
//! utilisation against the backend's measured matmul peak on this machine.
//!
//! The step is the trainer's own (`guardtune_lora::step`), cut into its forward, backward and
//! optimizer parts so each can be timed; the data are uniformly random token ids with
//! labels = inputs, as in `../shared/tools/peft_cpu_bench.py`, which this is compared against.
//! Given several devices (`--device cpu:0,cpu:1`), the step is the data-parallel trainer's: the
//! rows are split evenly among the devices, each a thread with its own model replica.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, Tensor};
use guardtune_lora::{
    attach, AdamW, AdamWConfig, LoraConfig, LoraInit, MicroBatch, StepInput, StepSettings,
    TargetModules,
};
use guardtune_model::SplitMix64;
use guardtune_model::{Dtype, LlamaConfig, LlamaForCausalLM, ProjKind, RandomInit, RopeScaling};
use serde::Serialize;

use crate::device::DevicesJob;
use crate::trainer::{BuildReplica, Replica, ReplicaGroup};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// small, llama31-8b-layer, llama31-8b (all 32 layers), or a model's config.json.
    #[arg(long, default_value = "small")]
    pub shape: String,
    /// Rows per step (default: 8 for small, 1 otherwise).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Tokens per row (default: 128 for small, 512 otherwise).
    #[arg(long)]
    pub seq: Option<usize>,
    /// Decoder layers, instead of the shape's own count (e.g. a few layers of the 8B shape, to
    /// see how memory grows with depth).
    #[arg(long)]
    pub layers: Option<usize>,
    /// LoRA rank.
    #[arg(long, default_value_t = 16)]
    pub r: usize,
    /// LoRA alpha (the update is scaled by alpha / r).
    #[arg(long, default_value_t = 32.0)]
    pub alpha: f64,
    /// LoRA dropout (the PEFT reference script uses 0.05).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Projections that get adapters: all-linear, or names (q_proj,k_proj,...).
    #[arg(long, value_delimiter = ',', num_args = 1.., default_value = "all-linear")]
    pub targets: Vec<String>,
    /// Dtype of the frozen base: f32 or bf16 (adapters and optimizer stay f32). On the CPU
    /// backend bf16 saves memory, not time: its bf16 matmul converts to f32 and back.
    #[arg(long, default_value = "f32")]
    pub dtype: Dtype,
    /// Activation recomputation as `training.gradient_checkpointing` does it: per-layer
    /// recomputation, with Burn's balanced strategy and recomputed attention scores inside.
    #[arg(long, alias = "checkpointing")]
    pub recompute: bool,
    /// Compute MFU against this peak (TFLOP/s, e.g. 989 for an H100/H200 in dense bf16) instead of
    /// the measured matmul peak of the backend.
    #[arg(long)]
    pub peak_tflops: Option<f64>,
    /// Timed steps (default: 20 for small, 5 otherwise).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Untimed warm-up steps (default: 3 for small, 1 otherwise).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Print exactly one JSON object.
    #[arg(long)]
    pub json: bool,
    /// A real model folder, benchmarked on --rows.
    #[arg(long, requires = "rows", value_parser = crate::model_dir::parse_model_folder)]
    pub model: Option<PathBuf>,
    /// The guard workload instead of random rows: JSON lines from `guardtune blend --out`, run
    /// through --model as --mode says (see `bench_rows`).
    #[arg(long, requires = "model")]
    pub rows: Option<PathBuf>,
    /// With --rows: train (LoRA steps) or classify (verdicts with P(unsafe)).
    #[arg(long, value_enum, default_value = "train")]
    pub mode: super::bench_rows::RowsMode,
    /// cpu, cuda or cuda:N; a list (cpu:0,cpu:1 or cuda:0,cuda:1) trains data parallel as the
    /// trainer does, each device taking an equal share of the rows. On the CPU each replica
    /// computes on its share of the cores, which suits models too small to keep every core busy.
    #[arg(long, value_delimiter = ',', num_args = 1.., default_value = "cpu")]
    pub device: Vec<String>,
}

/// Everything a benchmark run needs, resolved from the arguments.
#[derive(Clone, Debug)]
pub struct BenchPlan {
    pub shape: String,
    pub model: LlamaConfig,
    pub lora: LoraConfig,
    pub batch: usize,
    pub seq: usize,
    pub steps: usize,
    pub warmup: usize,
    pub dtype: Dtype,
    pub recompute: bool,
    /// Side of the square matmul that measures the backend's peak.
    pub peak_matmul_size: usize,
    /// A given peak in GFLOP/s instead of the measured one.
    pub declared_peak_gflop_s: Option<f64>,
}

/// Side of the square matmul timed for the peak: large enough to reach gemm's steady state.
const PEAK_MATMUL_SIZE: usize = 2048;

impl BenchArgs {
    pub fn plan(&self) -> Result<BenchPlan> {
        if self.dtype == Dtype::F16 {
            bail!("--dtype f16 is not supported for training (expected f32 or bf16)");
        }
        let (mut model, batch, seq, steps, warmup) = match self.shape.as_str() {
            "small" => (small_shape(), 8, 128, 20, 3),
            "llama31-8b-layer" => (llama31_8b_layer_shape(), 1, 512, 5, 1),
            "llama31-8b" => (llama31_8b_shape(), 1, 2048, 5, 2),
            path => {
                let config = LlamaConfig::from_file(&PathBuf::from(path))
                    .with_context(|| format!("--shape {path}: expected small, llama31-8b-layer, llama31-8b or a config.json"))?;
                (config, 1, 512, 5, 1)
            }
        };
        if let Some(layers) = self.layers {
            if layers == 0 {
                bail!("--layers must be at least 1");
            }
            model.num_hidden_layers = layers;
        }
        let plan = BenchPlan {
            shape: self.shape.clone(),
            model,
            lora: LoraConfig {
                r: self.r,
                alpha: self.alpha,
                dropout: self.dropout,
                target_modules: target_modules(&self.targets),
                layers: None,
                use_rslora: false,
                init: LoraInit::Peft,
                init_from: None,
            },
            batch: self.batch.unwrap_or(batch),
            seq: self.seq.unwrap_or(seq),
            steps: self.steps.unwrap_or(steps),
            warmup: self.warmup.unwrap_or(warmup),
            dtype: self.dtype,
            recompute: self.recompute,
            peak_matmul_size: PEAK_MATMUL_SIZE,
            declared_peak_gflop_s: self.peak_tflops.map(|t| t * 1e3),
        };
        if plan.batch == 0 || plan.seq < 2 || plan.steps == 0 {
            bail!("--batch and --steps must be at least 1 and --seq at least 2");
        }
        plan.lora.validate().map_err(|e| anyhow::anyhow!(e))?;
        Ok(plan)
    }
}

fn target_modules(targets: &[String]) -> TargetModules {
    match targets {
        [one] if one == "all-linear" => TargetModules::Preset(one.clone()),
        names => TargetModules::Names(names.to_vec()),
    }
}

/// Llama 3.1's RoPE scaling, as in the reference script.
fn llama31_rope() -> RopeScaling {
    RopeScaling::Llama3 {
        factor: 8.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 8192.0,
    }
}

/// A Llama 3.1 configuration with the reference script's constants and the given dimensions.
fn llama31(
    vocab: usize,
    hidden: usize,
    intermediate: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
) -> LlamaConfig {
    LlamaConfig {
        vocab_size: vocab,
        hidden_size: hidden,
        intermediate_size: intermediate,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim: hidden / heads,
        rms_norm_eps: 1e-5,
        rope_theta: 500_000.0,
        rope_scaling: llama31_rope(),
        max_position_embeddings: 131_072,
        tie_word_embeddings: false,
        stored_dtype: None,
        bos_token_id: Some(1),
        eos_token_ids: vec![2],
        pad_token_id: None,
    }
}

/// The issue's `small` shape.
pub fn small_shape() -> LlamaConfig {
    llama31(32_000, 256, 688, 4, 8, 4)
}

/// Llama-3.1-8B: 32 layers and the 128,256-token vocabulary.
pub fn llama31_8b_shape() -> LlamaConfig {
    llama31(128_256, 4096, 14_336, 32, 32, 8)
}

/// One Llama-3.1-8B decoder layer with a 256-token vocabulary, so the head costs next to nothing.
pub fn llama31_8b_layer_shape() -> LlamaConfig {
    llama31(256, 4096, 14_336, 1, 32, 8)
}

/// Model FLOPs of one LoRA training step per token (peers.md section 4.2):
/// `4 N_mm + 12 L d T + 6 N_lora`. The frozen matmuls cost a forward and an input-gradient pass
/// (no weight gradient); attention counts the full `T x T` square (the PaLM/nanoGPT convention,
/// and what this model computes: masked scores are computed, then set to -inf).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LoraFlops {
    /// Weights of every linear layer and the output head (the embedding lookup is free).
    pub matmul_params: u64,
    /// Trainable adapter weights (`r (in + out)` per adapted projection).
    pub lora_params: u64,
    pub per_token: u64,
}

impl LoraFlops {
    pub fn new(model: &LlamaConfig, lora: &LoraConfig, seq: usize) -> Result<Self> {
        let kinds = lora.targets().map_err(|e| anyhow::anyhow!(e))?;
        let layers = model.num_hidden_layers as u64;
        let size = |kind: ProjKind| {
            let (i, o) = kind.dims(model);
            (i as u64, o as u64)
        };
        let per_layer: u64 = ProjKind::ALL.iter().map(|&k| size(k).0 * size(k).1).sum();
        let matmul_params = layers * per_layer + (model.hidden_size * model.vocab_size) as u64;
        let lora_per_layer: u64 =
            kinds.iter().map(|&k| lora.r as u64 * (size(k).0 + size(k).1)).sum();
        let lora_params = layers * lora_per_layer;
        let attention_width = (model.num_attention_heads * model.head_dim) as u64;
        let attention = 12 * layers * attention_width * seq as u64;
        Ok(LoraFlops {
            matmul_params,
            lora_params,
            per_token: 4 * matmul_params + attention + 6 * lora_params,
        })
    }
}

/// What `guardtune bench` reports (also its `--json` object).
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub shape: String,
    pub backend: String,
    /// Data-parallel replicas (one per device named).
    pub devices: usize,
    pub dtype: String,
    pub gradient_checkpointing: bool,
    pub batch: usize,
    pub seq: usize,
    pub layers: usize,
    pub hidden: usize,
    pub vocab: usize,
    pub lora_r: usize,
    pub lora_alpha: f64,
    pub lora_dropout: f64,
    pub trainable_params: u64,
    pub warmup_steps: usize,
    pub timed_steps: usize,
    /// Tokens in the timed steps over their total time (the reference script's definition).
    pub tokens_per_s: f64,
    pub step_ms_mean: f64,
    pub step_ms_median: f64,
    /// Includes the output head's gradient, which the fused cross-entropy computes chunk by
    /// chunk during the forward pass (so the backward pass never sees the logits). The parts
    /// are NaN (null in JSON) with several devices, where they overlap.
    pub forward_ms_median: f64,
    pub backward_ms_median: f64,
    pub optimizer_ms_median: f64,
    /// VmHWM of this process: the most resident memory it ever had.
    pub peak_rss_mib: f64,
    pub flops: LoraFlops,
    pub attention_flops: &'static str,
    pub achieved_gflop_s: f64,
    /// The measured matmul peak, or the one given with `--peak-tflops`.
    pub matmul_peak_gflop_s: f64,
    pub matmul_peak_shape: String,
    /// Model FLOP utilisation: achieved over the matmul peak.
    pub mfu: f64,
    pub loss_first: f64,
    pub loss_last: f64,
}

impl DevicesJob for BenchArgs {
    type Output = ();

    fn run<B: Backend>(self, devices: Vec<B::Device>) -> Result<()> {
        if self.rows.is_some() {
            let report = super::bench_rows::run::<B>(&self, &devices)?;
            if self.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                super::bench_rows::print_report(&report);
            }
            return Ok(());
        }
        let plan = self.plan()?;
        let report = if plan.recompute {
            run_bench::<Autodiff<B, BalancedCheckpointing>>(&plan, &devices)?
        } else {
            run_bench::<Autodiff<B>>(&plan, &devices)?
        };
        if self.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_report(&report);
        }
        Ok(())
    }
}

/// Runs warm-up and timed steps (see [`time_steps`]), measures the matmul peak, and reports.
pub fn run_bench<B: AutodiffBackend>(
    plan: &BenchPlan,
    devices: &[B::Device],
) -> Result<BenchReport> {
    let flops = LoraFlops::new(&plan.model, &plan.lora, plan.seq)?;
    let device = devices.first().context("no device given")?;
    let count = devices.len();
    let (losses, times) = time_steps::<B>(plan, devices)?;
    // Read before the peak matmul below, whose operands are not part of training.
    let peak_rss =
        crate::memory::peak_rss_bytes().map_or(f64::NAN, |b| b as f64 / (1024.0 * 1024.0));
    let (peak, peak_shape) = match plan.declared_peak_gflop_s {
        Some(peak) => (peak, "given with --peak-tflops".to_string()),
        None => {
            let peak =
                matmul_peak_gflop_s::<B::InnerBackend>(plan.peak_matmul_size, plan.dtype, device)?;
            (peak, format!("{} {1}x{1}x{1}", plan.dtype, plan.peak_matmul_size))
        }
    };
    let total_s: f64 = times.iter().map(|t: &StepTimes| t.total).sum::<f64>() / 1e3;
    let tokens_per_s = (plan.batch * plan.seq * times.len()) as f64 / total_s;
    let achieved = tokens_per_s * flops.per_token as f64 / 1e9;
    let median_of = |part: fn(&StepTimes) -> f64| median(times.iter().map(part).collect());
    Ok(BenchReport {
        shape: plan.shape.clone(),
        backend: B::name(device),
        devices: count,
        dtype: plan.dtype.name().to_string(),
        gradient_checkpointing: plan.recompute,
        batch: plan.batch,
        seq: plan.seq,
        layers: plan.model.num_hidden_layers,
        hidden: plan.model.hidden_size,
        vocab: plan.model.vocab_size,
        lora_r: plan.lora.r,
        lora_alpha: plan.lora.alpha,
        lora_dropout: plan.lora.dropout,
        trainable_params: flops.lora_params,
        warmup_steps: plan.warmup,
        timed_steps: times.len(),
        tokens_per_s,
        step_ms_mean: 1e3 * total_s / times.len() as f64,
        step_ms_median: median_of(|t: &StepTimes| t.total),
        forward_ms_median: median_of(|t| t.forward),
        backward_ms_median: median_of(|t| t.backward),
        optimizer_ms_median: median_of(|t| t.optimizer),
        peak_rss_mib: peak_rss,
        flops,
        attention_flops: "full T x T square (PaLM convention)",
        achieved_gflop_s: achieved,
        matmul_peak_gflop_s: peak,
        matmul_peak_shape: peak_shape,
        mfu: achieved / peak,
        loss_first: losses.first().copied().unwrap_or(f64::NAN),
        loss_last: losses.last().copied().unwrap_or(f64::NAN),
    })
}

/// Builds the replicas (one per device) and runs the warm-up and timed steps through the
/// trainer's [`ReplicaGroup`] and its one LoRA step: every step's loss, and the timed steps'
/// times.
fn time_steps<B: AutodiffBackend>(
    plan: &BenchPlan,
    devices: &[B::Device],
) -> Result<(Vec<f64>, Vec<StepTimes>)> {
    let device = devices.first().context("no device given")?;
    let count = devices.len();
    if plan.batch % count != 0 {
        bail!("--batch {} does not split evenly over {count} devices", plan.batch);
    }
    // As in the reference script: no clipping; the parts of a step are timed exactly with one
    // device (with several they overlap across replicas and only the whole step is timed).
    let settings = StepSettings {
        seed: 1,
        max_grad_norm: None,
        pad_id: 0,
        recompute: plan.recompute,
        share_prefix: true,
        time_parts: count == 1,
    };
    let model_plan = plan.clone();
    let build: BuildReplica<B> =
        Arc::new(move |device: &B::Device| replica::<B>(&model_plan, device));
    let mut replicas = ReplicaGroup::spawn(devices, settings, build)?;
    let mut data = SplitMix64::new(1234);
    let (mut losses, mut times) = (Vec::new(), Vec::new());
    for step in 0..plan.warmup + plan.steps {
        let micro = (0..count)
            .map(|_| {
                random_micro_batch(&mut data, plan.batch / count, plan.seq, plan.model.vocab_size)
            })
            .collect();
        let start = Instant::now();
        let outcome = replicas.step(StepInput { step, micro, lr: 1e-4 })?;
        B::sync(device)?;
        let total = start.elapsed().as_secs_f64() * 1e3;
        let part = |ms: f64| if count == 1 { ms } else { f64::NAN };
        losses.push(outcome.loss);
        times.push(StepTimes {
            forward: part(outcome.parts.forward_ms),
            backward: part(outcome.parts.backward_ms),
            optimizer: part(outcome.parts.update_ms),
            total,
        });
    }
    let times = times[plan.warmup.min(times.len())..].to_vec();
    Ok((losses, times))
}

/// Milliseconds spent in each part of one step.
#[derive(Clone, Copy, Debug)]
struct StepTimes {
    forward: f64,
    backward: f64,
    optimizer: f64,
    total: f64,
}

/// A randomly initialised model of the plan's shape with adapters attached, and its
/// optimizer; every call draws the same weights.
fn replica<B: AutodiffBackend>(plan: &BenchPlan, device: &B::Device) -> Result<Replica<B>> {
    // Weights drawn on the device: an 8B shape is ready in seconds.
    B::seed(device, 0);
    let mut model = LlamaForCausalLM::<B>::load(
        &plan.model,
        Box::new(RandomInit::on_device(0.02)),
        plan.dtype,
        device,
    )?;
    attach(&mut model, &plan.lora, 1, device)?;
    Ok(Replica { model, optimizer: AdamW::<B::InnerBackend>::new(AdamWConfig::default()) })
}

/// `batch` rows of `seq` uniformly random token ids; every next token is a target.
fn random_micro_batch(rng: &mut SplitMix64, batch: usize, seq: usize, vocab: usize) -> MicroBatch {
    let input_ids: Vec<Vec<u32>> = (0..batch)
        .map(|_| (0..seq).map(|_| (rng.next_u64() % vocab as u64) as u32).collect())
        .collect();
    let labels = input_ids.iter().map(|row| row.iter().map(|&t| t as i64).collect()).collect();
    MicroBatch::unpacked(input_ids, labels)
}

/// The best of a few timed `n x n x n` matmuls in `dtype` on the backend, in GFLOP/s.
fn matmul_peak_gflop_s<B: Backend>(n: usize, dtype: Dtype, device: &B::Device) -> Result<f64> {
    let dtype = dtype.burn();
    let a = Tensor::<B, 2>::random([n, n], Distribution::Default, (device, dtype));
    let b = Tensor::<B, 2>::random([n, n], Distribution::Default, (device, dtype));
    let mut best = f64::INFINITY;
    for _ in 0..4 {
        B::sync(device)?;
        let start = Instant::now();
        let c = a.clone().matmul(b.clone());
        B::sync(device)?;
        best = best.min(start.elapsed().as_secs_f64());
        drop(c);
    }
    Ok(2.0 * (n as f64).powi(3) / best / 1e9)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn print_report(r: &BenchReport) {
    let checkpointing = if r.gradient_checkpointing { ", activation checkpointing" } else { "" };
    let replicas = if r.devices > 1 {
        format!(" x {} data-parallel replicas", r.devices)
    } else {
        String::new()
    };
    println!(
        "shape {} on {}{replicas} ({}{checkpointing}): batch {} x seq {}, {} layer(s), hidden {}, vocab {}",
        r.shape, r.backend, r.dtype, r.batch, r.seq, r.layers, r.hidden, r.vocab
    );
    println!(
        "LoRA r {} alpha {} dropout {}: {} trainable parameters; {} warm-up + {} timed steps",
        r.lora_r, r.lora_alpha, r.lora_dropout, r.trainable_params, r.warmup_steps, r.timed_steps
    );
    println!("tokens/s: {:.1}", r.tokens_per_s);
    if r.devices > 1 {
        println!(
            "ms/step: mean {:.1}, median {:.1} (the parts overlap across replicas)",
            r.step_ms_mean, r.step_ms_median
        );
    } else {
        println!(
            "ms/step: mean {:.1}, median {:.1} (forward incl. the head's gradient {:.1}, backward {:.1}, optimizer {:.1}; medians)",
            r.step_ms_mean, r.step_ms_median, r.forward_ms_median, r.backward_ms_median, r.optimizer_ms_median
        );
    }
    println!("peak resident memory: {:.0} MiB", r.peak_rss_mib);
    println!(
        "FLOPs/token: {:.3} G (4 N_mm + 12 L d T + 6 N_lora; attention: {})",
        r.flops.per_token as f64 / 1e9,
        r.attention_flops
    );
    println!(
        "MFU: {:.1}% ({:.1} GFLOP/s of a measured {:.1} GFLOP/s {} matmul peak)",
        100.0 * r.mfu,
        r.achieved_gflop_s,
        r.matmul_peak_gflop_s,
        r.matmul_peak_shape
    );
    println!("loss: {:.4} -> {:.4}", r.loss_first, r.loss_last);
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;

    use super::*;

    fn lora(r: usize) -> LoraConfig {
        LoraConfig {
            r,
            alpha: 2.0 * r as f64,
            dropout: 0.0,
            target_modules: TargetModules::Preset("all-linear".into()),
            layers: None,
            use_rslora: false,
            init: LoraInit::Peft,
            init_from: None,
        }
    }

    #[test]
    fn flops_of_the_small_shape_by_hand() {
        // Per layer: q 256*256 + k 256*128 + v 256*128 + o 256*256 + 3 * 256*688 = 724,992;
        // 4 layers + lm_head 256*32000 = 2,899,968 + 8,192,000.
        // LoRA r 16 per layer: 16*(512 + 384 + 384 + 512 + 3*944) = 73,984; 4 layers.
        // Attention: 12 * 4 layers * 256 * 128 = 1,572,864.
        let flops = LoraFlops::new(&small_shape(), &lora(16), 128).unwrap();
        assert_eq!(flops.matmul_params, 11_091_968);
        assert_eq!(flops.lora_params, 295_936);
        assert_eq!(flops.per_token, 4 * 11_091_968 + 1_572_864 + 6 * 295_936);
        assert_eq!(flops.per_token, 47_716_352);
    }

    fn tiny_plan(dtype: Dtype, recompute: bool) -> BenchPlan {
        BenchPlan {
            shape: "tiny".into(),
            model: llama31(64, 32, 48, 2, 4, 2),
            lora: lora(4),
            batch: 2,
            seq: 8,
            steps: 1,
            warmup: 1,
            dtype,
            recompute,
            peak_matmul_size: 32,
            declared_peak_gflop_s: None,
        }
    }

    #[test]
    fn one_step_on_a_tiny_shape() {
        let report =
            run_bench::<Autodiff<Flex>>(&tiny_plan(Dtype::F32, false), &[Default::default()])
                .unwrap();
        assert_eq!(report.timed_steps, 1);
        assert!(report.tokens_per_s > 0.0 && report.mfu > 0.0);
        assert!(report.loss_first.is_finite() && report.loss_last.is_finite());
        // Random ids over 64 tokens and near-zero logits: the loss starts near ln 64.
        assert!((report.loss_first - 64f64.ln()).abs() < 0.1, "{}", report.loss_first);
        assert!(report.peak_rss_mib > 0.0);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["flops"]["lora_params"],
            2 * 4 * (2 * (32 + 32) + 2 * (32 + 16) + 2 * (32 + 48) + (48 + 32))
        );
        assert_eq!(json["dtype"], "f32");
    }

    #[test]
    fn bf16_base_with_checkpointing() {
        let plan = tiny_plan(Dtype::BF16, true);
        let report =
            run_bench::<Autodiff<Flex, BalancedCheckpointing>>(&plan, &[Default::default()])
                .unwrap();
        assert_eq!((report.dtype.as_str(), report.gradient_checkpointing), ("bf16", true));
        assert!((report.loss_first - 64f64.ln()).abs() < 0.1, "{}", report.loss_first);
        assert!(report.matmul_peak_shape.starts_with("bf16"), "{}", report.matmul_peak_shape);
    }

    #[test]
    fn two_cpu_replicas_split_the_rows() {
        // That replicas take the same steps as one device is the trainer's test
        // (train/tests/scale.rs); the weights here come from the backend's global generator,
        // which other tests of this binary draw from concurrently.
        let plan = BenchPlan { steps: 2, ..tiny_plan(Dtype::F32, false) };
        let two =
            run_bench::<Autodiff<Flex>>(&plan, &[Default::default(), Default::default()]).unwrap();
        assert_eq!((two.devices, two.timed_steps), (2, 2));
        assert!((two.loss_first - 64f64.ln()).abs() < 0.1 && two.loss_last.is_finite(), "{two:?}");
        assert!(two.tokens_per_s > 0.0 && two.forward_ms_median.is_nan());
        let odd = BenchPlan { batch: 3, ..plan };
        let err = run_bench::<Autodiff<Flex>>(&odd, &[Default::default(), Default::default()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--batch 3") && err.contains("2 devices"), "{err}");
    }

    #[test]
    fn unknown_dtype_is_refused() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let err = Cli::try_parse_from(["bench", "--dtype", "f8"]).err().unwrap().to_string();
        assert!(err.contains("f8") && err.contains("bf16"), "{err}");
        let cli = Cli::parse_from(["bench", "--dtype", "f16"]);
        let err = cli.bench.plan().unwrap_err().to_string();
        assert!(err.contains("f16") && err.contains("bf16"), "{err}");
        let cli = Cli::parse_from(["bench", "--shape", "llama31-8b", "--peak-tflops", "989"]);
        let plan = cli.bench.plan().unwrap();
        assert_eq!(
            (plan.model.num_hidden_layers, plan.seq, plan.declared_peak_gflop_s),
            (32, 2048, Some(989e3))
        );
    }
}
