//! `guardtune`: fine-tune Llama 3.1 models with LoRA into safety guards.
//!
//! Errors print as one line on stderr (a config with several problems, one line each); the exit
//! code is 1 for a failed job, 2 for a usage or configuration error, and 130 (SIGINT) or 143
//! (SIGTERM) for a training run stopped by a signal after writing its checkpoint.

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
use guardtune::shown_path::shell_word;
use guardtune::stop::Stopped;

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
    guardtune::closed_pipe::end_quietly_on_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A value a parser refused (a model folder that is not one, a Hub input that cannot be
        // fetched) is one line, as every input error is; clap adds a hint line after it.
        Err(err) if err.kind() == clap::error::ErrorKind::ValueValidation => {
            let rendered = err.render().to_string();
            eprintln!("{}", rendered.lines().next().unwrap_or_default());
            return ExitCode::from(2);
        }
        Err(err) => err.exit(),
    };
    // How to continue a training run that a signal stopped.
    let mut resume_command = None;
    let result = match cli.command {
        Command::Train(args) => match load_run_config(&args.config, &args.overrides) {
            Ok(config) => {
                resume_command = Some(train_resume_command(&args));
                guardtune::stop::install().and_then(|()| {
                    run_on_devices(
                        &config.model.device.names(),
                        TrainJob { config, resume: args.resume },
                    )
                    .map(|_| ())
                })
            }
            Err(err) => return config_error(err),
        },
        Command::Blend(args) => match load_run_config(&args.config, &args.overrides) {
            Ok(config) => blend(&args, &config),
            Err(err) => return config_error(err),
        },
        Command::Perplexity(args) => run_on(&args.model.device.clone(), args),
        Command::Generate(args) => run_on(&args.model.device.clone(), args),
        Command::Classify(args) => run_on(&args.guard.model.device.clone(), args),
        Command::Eval(args) => run_on(&args.guard.model.device.clone(), args),
        Command::Export(args) => run_on(&args.model.device.clone(), args),
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
        Err(err) => match err.downcast_ref::<Stopped>() {
            Some(stopped) => {
                eprintln!("{stopped}");
                if let Some(command) = resume_command {
                    eprintln!("resume with: {command}");
                }
                ExitCode::from(stopped.exit_code())
            }
            None => {
                eprintln!("error: {}", one_line(&err));
                ExitCode::FAILURE
            }
        },
    }
}

/// The `guardtune train` command line that continues the run of `args`.
fn train_resume_command(args: &TrainArgs) -> String {
    let mut words = vec!["guardtune".to_string(), "train".into(), shell_word(&args.config)];
    for assignment in &args.overrides {
        words.extend(["--set".to_string(), shell_word(assignment)]);
    }
    words.push("--resume".into());
    words.join(" ")
}

/// A bad config or usage: exit code 2; one line per problem.
fn config_error(err: ConfigError) -> ExitCode {
    for line in err.to_string().lines() {
        eprintln!("error: {line}");
    }
    ExitCode::from(2)
}

/// The error and its causes on one line. What a cause repeats of its parent is left out: a
/// cause the line already shows whole, and a leading `path: ` the line already names (an I/O
/// error printed as `path: cause` under a context that named the path).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain().map(|e| e.to_string()) {
        if line.is_empty() {
            line = cause;
            continue;
        }
        let mut rest = cause.as_str();
        while let Some((head, tail)) = rest.split_once(": ") {
            if !line.contains(head) {
                break;
            }
            rest = tail;
        }
        if !line.contains(rest) {
            line = format!("{line}: {rest}");
        }
    }
    line.replace('\n', " ")
}
