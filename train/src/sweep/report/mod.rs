//! The sweep report, beside the sweep file: `results.json` (every number the runs reproduce
//! exactly), `report.md` (the tables, and what each run cost in time) and PNG charts, gathered
//! from the run folders of the plan (so a report after a Slurm array reads the shared output
//! folder the same way).

mod collect;
mod cost;
mod markdown;
mod plots;
mod results;
mod stats;

pub use results::{BlendSummary, Column, RunResults, SweepResults, VariantResults};
pub use stats::Estimate;

use std::io::Write;

use anyhow::Result;

use super::file::SweepFile;
use super::plan::PlannedRun;

pub const RESULTS_FILE: &str = "results.json";
pub const REPORT_FILE: &str = "report.md";

/// Writes results.json, report.md and the charts for the finished runs of `runs`.
pub fn write_report(sweep: &SweepFile, runs: &[PlannedRun]) -> Result<SweepResults> {
    let (outputs, missing) = collect::collect(runs)?;
    let name =
        sweep.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let results = results::results(name, sweep.seeds.clone(), &outputs, missing)?;
    let plots = plots::write_plots(&sweep.dir, &results, &outputs)?;
    let write = |file: &str, text: &str| -> Result<()> {
        guardtune_lora::files::write_atomically(&sweep.dir.join(file), |f| {
            f.write_all(text.as_bytes())
        })?;
        Ok(())
    };
    write(RESULTS_FILE, &serde_json::to_string_pretty(&results)?)?;
    let costs: Vec<_> = outputs.iter().map(|run| &run.cost).collect();
    write(REPORT_FILE, &markdown::markdown(&results, &plots, &costs))?;
    Ok(results)
}
