//! `guardtune`: fine-tune Llama 3.1 models with LoRA into safety guards.
//!
//! Errors print as one line on stderr; the exit code is 1 for a failed job and 2 for a usage
//! or configuration error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use guardtune::commands::bench::BenchArgs;
use guardtune::commands::{
    blend::{blend, BlendArgs},
    classify::ClassifyArgs,
    eval::EvalArgs,
    export::ExportArgs,
    generate::GenerateArgs,
    init_model::{init_model, InitModelArgs},
    perplexity::PerplexityArgs,
    sweep::{sweep, SweepArgs},
    train::{TrainArgs, TrainJob},
};
use guardtune::config::{load_run_config, ConfigError};
use guardtune::device::{run_on, run_on_devices};

#[derive(Parser)]
#[command(
    name = "guardtune",
    version,
    about = "Fine-tune Llama 3.1 with LoRA into LLM safety guards"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a LoRA adapter from a TOML run config.
    Train(TrainArgs),
    /// Show what a run config's blend holds: a report per source, its hash, the examples.
    Blend(BlendArgs),
    /// The guard's verdict on a conversation (or on every row of a JSONL file).
    Classify(ClassifyArgs),
    /// Evaluate a guard on benchmarks: F1, AUPRC, per-category F1, report.md and plots.
    Eval(EvalArgs),
    /// Mean negative log-likelihood and perplexity of a text file.
    Perplexity(PerplexityArgs),
    /// Greedy generation from a prompt.
    Generate(GenerateArgs),
    /// Rewrite an adapter in another dtype, or merge it into the base model.
    Export(ExportArgs),
    /// Time LoRA training steps on a random model of a given shape (tokens/s, memory, MFU).
    Bench(BenchArgs),
    /// Write a randomly initialised model folder of a given shape.
    InitModel(InitModelArgs),
    /// Train and evaluate every variant x seed of a sweep file, resumably; compare them in a report.
    Sweep(SweepArgs),
}

fn main() -> ExitCode {
    guardtune::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => match load_run_config(&args.config, &args.overrides) {
            Ok(config) => run_on_devices(
                &config.model.device.names(),
                TrainJob { config, resume: args.resume },
            )
            .map(|_| ()),
            Err(err) => return config_error(err),
        },
        Command::Blend(args) => match load_run_config(&args.config, &args.overrides) {
            Ok(config) => blend(&args, &config),
            Err(err) => return config_error(err),
        },
        Command::Perplexity(args) => run_on(&args.device.clone(), args),
        Command::Generate(args) => run_on(&args.device.clone(), args),
        Command::Classify(args) => run_on(&args.guard.device.clone(), args),
        Command::Eval(args) => run_on(&args.guard.device.clone(), args),
        Command::Export(args) => run_on(&args.device.clone(), args),
        Command::InitModel(args) => init_model(&args),
        Command::Bench(args) => run_on_devices(&args.device.clone(), args),
        Command::Sweep(args) => match sweep(&args) {
            Err(err) if err.downcast_ref::<ConfigError>().is_some() => {
                eprintln!("error: {}", one_line(&err));
                return ExitCode::from(2);
            }
            other => other,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// A bad config or usage: exit code 2.
fn config_error(err: ConfigError) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(2)
}

/// The error and its causes on one line.
fn one_line(err: &anyhow::Error) -> String {
    err.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": ").replace('\n', " ")
}
