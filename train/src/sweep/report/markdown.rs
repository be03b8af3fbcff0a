//! report.md: the comparison table in the Aegis 2.0 paper's layout (variants as rows,
//! benchmarks and levels as columns, F1 with the average), AUPRC beside F1, the differences
//! from the first variant, every run's numbers, what each run cost, the charts and each
//! variant's blend.

use std::fmt::Write as _;

use super::cost::{RunCost, TrainingCost};
use super::results::{SweepResults, VariantResults};
use super::stats::Estimate;

pub fn markdown(results: &SweepResults, plots: &[String], costs: &[&RunCost]) -> String {
    let mut md = format!("# Sweep report: {}\n\n", results.sweep);
    let runs: usize = results.variants.iter().map(|v| v.runs.len()).sum();
    let _ = writeln!(
        md,
        "Seeds {:?}; {runs} runs finished{}. Harmful-class (unsafe = positive) F1 and AUPRC, \
         recomputed from each run's `eval/predictions.jsonl`. F1 cells: mean ± standard \
         deviation over seeds [bootstrap {:.0}% interval of the mean: {} resamples of the \
         examples, seed {}].\n",
        results.seeds,
        if results.missing.is_empty() {
            String::new()
        } else {
            format!(" ({} missing: {})", results.missing.len(), results.missing.join(", "))
        },
        results.bootstrap.confidence * 100.0,
        results.bootstrap.resamples,
        results.bootstrap.seed,
    );
    md += &main_table(results);
    md += &difference_table(results);
    md += &runs_table(results);
    md += &cost_table(costs);
    if !plots.is_empty() {
        md += "\n## Plots\n\n";
        for plot in plots {
            let _ = writeln!(md, "![{plot}]({plot})\n");
        }
    }
    md += "\n## Blends\n\nWhat each variant trained on (its first seed's blend; `blend.json` in each run folder has the rest).\n";
    for variant in &results.variants {
        md += &blend_section(variant);
    }
    md
}

fn main_table(results: &SweepResults) -> String {
    let mut md = String::from("## F1 and AUPRC\n\n| variant |");
    for column in &results.columns {
        let _ = write!(md, " {} F1 | AUPRC |", column.label());
    }
    md += " Avg F1 |\n|---|";
    md += &"---:|---:|".repeat(results.columns.len());
    md += "---:|\n";
    for variant in &results.variants {
        let _ = write!(md, "| {} |", variant.name);
        for (f1, auprc) in variant.f1.iter().zip(&variant.auprc) {
            let auprc = auprc.as_ref().map_or_else(|| "n/a".to_string(), mean_std);
            let _ = write!(md, " {} | {auprc} |", with_interval(f1));
        }
        let _ = writeln!(md, " {} |", with_interval(&variant.average_f1));
    }
    md
}

fn difference_table(results: &SweepResults) -> String {
    let Some(first) = results.variants.first() else { return String::new() };
    if results.variants.len() < 2 {
        return String::new();
    }
    let mut md = format!(
        "\n## Difference from {} (F1)\n\nMean F1 minus {}'s [paired bootstrap 95% interval]; an interval that excludes 0 is a difference the test set resolves.\n\n| variant |",
        first.name, first.name
    );
    for column in &results.columns {
        let _ = write!(md, " {} |", column.label());
    }
    md += " Avg |\n|---|";
    md += &"---:|".repeat(results.columns.len() + 1);
    md += "\n";
    for variant in &results.variants[1..] {
        let (Some(diffs), Some(avg)) = (&variant.f1_difference, &variant.average_f1_difference)
        else {
            continue;
        };
        let _ = write!(md, "| {} |", variant.name);
        for d in diffs.iter().chain([avg]) {
            let _ = write!(md, " {} |", signed(d));
        }
        md += "\n";
    }
    md
}

fn runs_table(results: &SweepResults) -> String {
    let mut md = String::from("\n## Runs\n\n| run | seed |");
    for column in &results.columns {
        let _ = write!(md, " {} F1 |", column.label());
    }
    md += " final train loss | final validation loss | config hash |\n|---|---:|";
    md += &"---:|".repeat(results.columns.len() + 2);
    md += "---|\n";
    for run in results.variants.iter().flat_map(|v| &v.runs) {
        let _ = write!(md, "| {} | {} |", run.run, run.seed);
        for f1 in &run.f1 {
            let _ = write!(md, " {f1:.3} |");
        }
        let loss = |l: Option<f64>| l.map_or_else(|| "n/a".into(), |l| format!("{l:.4}"));
        let _ = writeln!(
            md,
            " {} | {} | `{}` |",
            loss(run.final_train_loss),
            loss(run.final_validation_loss),
            &run.config_hash[..12.min(run.config_hash.len())]
        );
    }
    md
}

fn cost_table(costs: &[&RunCost]) -> String {
    let mut md = String::from(
        "\n## Cost\n\nWall time of each run's processes (a resumed run counts each process up to its \
         last kept log entry; not the time between them). Training tokens/s: over step time, \
         validation excluded. Verdicts/s: conversations classified per second.\n\n\
         | run | training | steps | tokens/s | evaluation | conversations | verdicts/s |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for cost in costs {
        let training = cost.training.as_ref().map_or_else(
            || "n/a | n/a | n/a".to_string(),
            |t| format!("{} | {} | {:.0}", duration(t.seconds), t.steps, t.tokens_per_second),
        );
        let e = &cost.evaluation;
        let _ = writeln!(
            md,
            "| {} | {training} | {} | {} | {:.2} |",
            cost.run,
            duration(e.seconds),
            e.conversations,
            e.verdicts_per_second()
        );
    }
    let trained = TrainingCost::combined(costs.iter().filter_map(|c| c.training.as_ref()));
    let (training, steps, tokens_per_second) =
        trained.map_or((0.0, 0, 0.0), |t| (t.seconds, t.steps, t.tokens_per_second));
    let evaluation: f64 = costs.iter().map(|c| c.evaluation.seconds).sum();
    let conversations: usize = costs.iter().map(|c| c.evaluation.conversations).sum();
    let _ = writeln!(
        md,
        "| **all runs** | {} | {steps} | {tokens_per_second:.0} | {} | {conversations} | {:.2} |\n\n\
         In all, {} of machine time: the finished runs' training and evaluation, one after \
         another on one machine.",
        duration(training),
        duration(evaluation),
        conversations as f64 / evaluation.max(1e-9),
        duration(training + evaluation),
    );
    md
}

/// `45 s`, `12 min` or `2.3 h`.
fn duration(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else if seconds < 90.0 * 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

fn blend_section(variant: &VariantResults) -> String {
    let Some(blend) = &variant.blend else {
        return format!("\n### {}\n\nno blend.json in its run folder\n", variant.name);
    };
    let mut md = format!(
        "\n### {}\n\nseed {}: {} training, {} validation examples\n\n| source | kind | train | validation | labels (train) |\n|---|---|---:|---:|---|\n",
        variant.name, blend.seed, blend.train, blend.validation
    );
    for source in &blend.sources {
        let labels: Vec<String> = source.labels.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            source.name,
            source.kind,
            source.train,
            source.validation,
            labels.join("; ")
        );
    }
    md
}

fn mean_std(e: &Estimate) -> String {
    match e.std {
        Some(std) => format!("{:.3} ± {std:.3}", e.mean),
        None => format!("{:.3}", e.mean),
    }
}

fn with_interval(e: &Estimate) -> String {
    match e.ci95 {
        Some([low, high]) => format!("{} [{low:.3}, {high:.3}]", mean_std(e)),
        None => mean_std(e),
    }
}

fn signed(e: &Estimate) -> String {
    match e.ci95 {
        Some([low, high]) => format!("{:+.3} [{low:+.3}, {high:+.3}]", e.mean),
        None => format!("{:+.3}", e.mean),
    }
}
