//! `guardtune eval`: a guard on every benchmark in one command, with a report.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use burn::tensor::backend::Backend;

use crate::classifier::{Classifier, GuardArgs};
use crate::device::BackendJob;
use crate::evaluation::{
    progress_bar, run_benchmark, summarize, write_report, BenchmarkSpec, PredictionRow, Report,
};
use crate::finished_benchmarks::{EvalIdentity, FinishedBenchmarks};

#[derive(clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub guard: GuardArgs,
    /// KIND=PATH, repeatable: aegis2, openai-moderation, xstest, simplesafetytests, toxicchat,
    /// guardreasoner, jsonl (and aegis1).
    #[arg(long = "benchmark", required = true)]
    pub benchmarks: Vec<String>,
    /// Output folder for report.json, predictions.jsonl, report.md and plots.
    #[arg(long)]
    pub out: PathBuf,
    /// Evaluate N examples of each benchmark, spread evenly over its file.
    #[arg(long)]
    pub max_examples: Option<usize>,
    /// Reuse what an interrupted evaluation of the same guard with the same settings finished:
    /// its benchmarks and the batches of the one it was on (kept in OUT/benchmarks/).
    #[arg(long)]
    pub resume: bool,
}

impl BackendJob for EvalArgs {
    type Output = ();

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let specs: Vec<BenchmarkSpec> =
            self.benchmarks.iter().map(|b| BenchmarkSpec::parse(b)).collect::<Result<_>>()?;
        let guard = self.guard.load::<B>(&device)?;
        let classifier = guard.classifier(self.guard.max_new_tokens, device);
        let identity = EvalIdentity {
            model: &self.guard.model.path,
            adapter: self.guard.model.adapter.as_deref(),
            dtype: self.guard.model.compute_dtype().to_string(),
            max_examples: self.max_examples,
            max_new_tokens: self.guard.max_new_tokens,
        };
        let finished = FinishedBenchmarks::open(&self.out, &identity, self.resume)?;
        let mut rows = Vec::new();
        let mut seconds = 0.0;
        for spec in &specs {
            let (done, took) = self.benchmark(&classifier, &finished, spec)?;
            rows.extend(done);
            seconds += took;
        }
        if rows.is_empty() {
            bail!("no benchmark example has a prompt or response safety label to score");
        }
        let report = Report {
            model: self.guard.model.path.display().to_string(),
            adapter: self.guard.model.adapter.as_ref().map(|a| a.display().to_string()),
            results: summarize(&rows),
            // Classification time, interrupted runs' finished benchmarks included.
            seconds,
        };
        write_report(&self.out, &report, &rows)?;
        print_results(&report);
        println!("report: {}", self.out.join("report.md").display());
        Ok(())
    }
}

impl EvalArgs {
    /// One benchmark's predictions and the seconds they took: reused when an earlier run of the
    /// same guard finished it, else classified with each batch logged as it finishes (an
    /// interrupted run resumes from the log).
    fn benchmark<B: Backend>(
        &self,
        classifier: &Classifier<'_, B>,
        finished: &FinishedBenchmarks,
        spec: &BenchmarkSpec,
    ) -> Result<(Vec<PredictionRow>, f64)> {
        if let Some(done) = finished.get(spec) {
            eprintln!("{}: finished earlier, reused", spec.name());
            return Ok(done);
        }
        let batch = self.guard.batch_size;
        let clock = Instant::now();
        let bar = progress_bar();
        bar.set_prefix(format!("{} ", spec.name()));
        let mut log = finished.partial(spec, batch)?;
        let done = run_benchmark(classifier, spec, self.max_examples, batch, &bar, Some(&mut log))?;
        bar.finish_and_clear();
        let took = log.earlier_seconds() + clock.elapsed().as_secs_f64();
        finished.put(spec, &done, took)?;
        log.remove()?;
        Ok((done, took))
    }
}

/// One line per benchmark and level.
fn print_results(report: &Report) {
    for l in &report.results {
        println!(
            "{} ({}): F1 {:.3}  precision {:.3}  recall {:.3}  n {}  unparseable {}",
            l.benchmark,
            l.level,
            l.metrics.f1,
            l.metrics.precision,
            l.metrics.recall,
            l.metrics.count,
            l.metrics.unparseable
        );
    }
}
