//! `guardtune sweep FILE [--jobs N] [--only VARIANT[:SEED]] [--dry-run] [--report] [--force]
//! [--emit slurm ...]`: train and evaluate every variant x seed of a sweep file, then write
//! the comparison report beside it.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::sweep::blend::blend_report;
use crate::sweep::plan::PlannedRun;
use crate::sweep::report::write_report;
use crate::sweep::run::Launcher;
use crate::sweep::slurm::{emit_slurm, SlurmArgs};
use crate::sweep::state::{action, short, Action};
use crate::sweep::{plan, SweepFile};

#[derive(clap::Args)]
pub struct SweepArgs {
    /// The sweep file (TOML).
    pub file: PathBuf,
    /// Runs at once; the CPU cores are split between them.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Only this variant (all its seeds) or run, VARIANT[:SEED] (repeatable). No report is
    /// written at the end: several of these may run at once (as Slurm array tasks do).
    #[arg(long, value_name = "VARIANT[:SEED]")]
    pub only: Vec<String>,
    /// Print the plan (runs, what each needs, blend sizes, config hashes) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Only write the report (results.json, report.md, charts) from the finished runs.
    #[arg(long)]
    pub report: bool,
    /// Retrain runs whose folder holds a run of another config (deleting it).
    #[arg(long)]
    pub force: bool,
    /// Override a run-config key in every run, after the sweep file's (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Write a job script instead of running: `slurm` (a job array, one task per run).
    #[arg(long, value_parser = ["slurm"])]
    pub emit: Option<String>,
    #[command(flatten)]
    pub slurm: SlurmArgs,
}

pub fn sweep(args: &SweepArgs) -> Result<()> {
    let file = SweepFile::read(&args.file)?;
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    if args.emit.is_some() {
        let runs = plan(&file, &args.overrides, &args.only)?;
        let script = emit_slurm(&file, &runs, &args.overrides, &args.slurm)?;
        println!("{} array tasks written to {}", runs.len(), script.display());
        println!("submit: sbatch {}", script.display());
        println!("then:   guardtune sweep {} --report", file.path.display());
        return Ok(());
    }
    if args.report {
        return report(&file, &plan(&file, &args.overrides, &[])?);
    }
    let runs = plan(&file, &args.overrides, &args.only)?;
    let actions = runs.iter().map(action).collect::<Result<Vec<Action>>>()?;
    if args.dry_run {
        return print_plan(&file, &runs, &actions);
    }
    let changed: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Changed { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    if !changed.is_empty() && !args.force {
        bail!("{}; pass --force to delete and retrain", changed.join("; "));
    }
    let todo: Vec<(PlannedRun, Action)> = runs.into_iter().zip(actions).collect();
    let failures = Launcher::new(args.jobs)?.run_all(&file, &todo, args.jobs);
    if args.only.is_empty() {
        let all: Vec<PlannedRun> = todo.into_iter().map(|(run, _)| run).collect();
        if failures.len() < all.len() {
            report(&file, &all)?;
        }
    } else {
        println!("when every run is done: guardtune sweep {} --report", file.path.display());
    }
    if let Some((name, error)) = failures.first() {
        bail!("{} of the runs failed, first {name}: {error:#}", failures.len());
    }
    Ok(())
}

fn report(file: &SweepFile, runs: &[PlannedRun]) -> Result<()> {
    let results = write_report(file, runs)?;
    for variant in &results.variants {
        println!(
            "{}: average F1 {:.3} over {} run(s)",
            variant.name,
            variant.average_f1.mean,
            variant.runs.len()
        );
    }
    if !results.missing.is_empty() {
        println!("not finished: {}", results.missing.join(", "));
    }
    println!("report: {}", file.dir.join(crate::sweep::report::REPORT_FILE).display());
    Ok(())
}

/// The plan as a table: each run, what it needs, its config hash and its blend's size.
fn print_plan(file: &SweepFile, runs: &[PlannedRun], actions: &[Action]) -> Result<()> {
    println!(
        "sweep {}: {} runs ({} variants, seeds {:?}) into {}",
        file.path.display(),
        runs.len(),
        file.variants.len(),
        file.seeds,
        file.output.display()
    );
    let width = runs.iter().map(|r| r.name().len()).max().unwrap_or(3).max(3);
    println!(
        "{:width$}  {:8}  {:12}  {:>7}  {:>10}  sources (train)",
        "run", "action", "config hash", "train", "validation"
    );
    for (run, action) in runs.iter().zip(actions) {
        if !run.train {
            let what = "the base model, not trained";
            println!("{:width$}  {:8}  {:12}  {what}", run.name(), action.label(), "");
            continue;
        }
        let blend = blend_report(&run.config)?;
        let sources: Vec<String> =
            blend.sources.iter().map(|s| format!("{} {}", s.name, s.train)).collect();
        println!(
            "{:width$}  {:8}  {:12}  {:>7}  {:>10}  {}",
            run.name(),
            action.label(),
            short(&run.config_hash),
            blend.train,
            blend.validation,
            sources.join(", ")
        );
        if let Action::Changed { reason } = action {
            println!("{:width$}  refused without --force: {reason}", "");
        }
    }
    Ok(())
}
