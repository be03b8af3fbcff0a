//! Guard evaluation on benchmarks: harmful-class precision, recall, F1 and AUPRC per benchmark
//! and level (prompt, response), per-category F1 where the benchmark has categories, and the
//! files people read: `report.json`, `predictions.jsonl`, `report.md`, PNG plots.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use burn::tensor::backend::Backend;
use guardtune_data::{load_source, GuardExample, LoadOptions, Safety, SourceKind, Target};
use indicatif::{HumanDuration, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;
use crate::finished_benchmarks::PartialBenchmark;
use crate::hub::Wanted;
use crate::metrics::{
    per_category_f1, precision_recall_curve, CategoryScore, CategorySets, ClassificationMetrics,
    Prediction,
};
use crate::plot::{plot_bars, plot_pr_curves};

/// `KIND=PATH` from the command line; the benchmark is named after the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkSpec {
    pub kind: SourceKind,
    pub path: PathBuf,
}

impl BenchmarkSpec {
    pub fn parse(text: &str) -> Result<Self> {
        let (kind, path) = text
            .split_once('=')
            .ok_or_else(|| anyhow!("--benchmark {text}: expected KIND=PATH"))?;
        let kind = kind.parse()?;
        // A Hub file (`hf://datasets/ORG/NAME/PATH`) is fetched into the Hub cache here.
        let path = crate::hub::resolve(Path::new(path), Wanted::File, Path::new("."), &[])?;
        Ok(BenchmarkSpec { kind, path })
    }

    /// The file name without its extensions (`samples-1680.jsonl.gz` -> `samples-1680`).
    pub fn name(&self) -> String {
        let file =
            self.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        file.split('.').next().unwrap_or(&file).to_string()
    }
}

/// One example at one level, as written to predictions.jsonl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictionRow {
    pub benchmark: String,
    pub level: String,
    pub id: String,
    /// "safe" or "unsafe".
    pub label: String,
    /// "safe" or "unsafe"; an unparseable output counts as "safe" (and `parsed` is false).
    pub prediction: String,
    pub parsed: bool,
    pub score: Option<f64>,
    pub label_categories: Vec<String>,
    pub predicted_categories: Vec<String>,
}

/// Metrics of one benchmark at one level.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LevelReport {
    pub benchmark: String,
    pub level: String,
    pub metrics: ClassificationMetrics,
    pub per_category: Vec<CategoryScore>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub model: String,
    pub adapter: Option<String>,
    pub results: Vec<LevelReport>,
    pub seconds: f64,
}

/// Classifies up to `max_examples` of a benchmark and returns its prediction rows. With a
/// `log`, the batches it holds are taken from it and each new one is added to it.
pub fn run_benchmark<B: Backend>(
    classifier: &Classifier<'_, B>,
    spec: &BenchmarkSpec,
    max_examples: Option<usize>,
    batch_size: usize,
    progress: &ProgressBar,
    mut log: Option<&mut PartialBenchmark>,
) -> Result<Vec<PredictionRow>> {
    let name = spec.name();
    let examples = benchmark_examples(spec, max_examples, progress)?;
    let order = by_length(&examples);
    let batches: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
    let mut rows_of: Vec<Option<Vec<PredictionRow>>> = vec![None; examples.len()];
    // The batches an interrupted evaluation logged are the first ones of the same plan.
    let mut resumed_batches = 0;
    for batch in &batches {
        let Some(done) = log.as_deref().and_then(|log| log.batch(batch)) else { break };
        for (&i, rows) in batch.iter().zip(done) {
            rows_of[i] = Some(rows);
        }
        resumed_batches += 1;
    }
    let resumed = rows_of.iter().flatten().count();
    if resumed > 0 {
        let total = examples.len();
        progress.suspend(|| eprintln!("{name}: {resumed} of {total} examples classified earlier"));
    }
    progress.inc_length(examples.len() as u64);
    progress.inc(resumed as u64);
    progress.reset_eta();
    for batch in &batches[resumed_batches..] {
        let chunk: Vec<GuardExample> = batch.iter().map(|&i| examples[i].clone()).collect();
        let clock = Instant::now();
        let done: Vec<(usize, Vec<PredictionRow>)> = batch
            .iter()
            .zip(classifier.classify(&chunk, true)?)
            .map(|(&i, result)| (i, level_rows(&name, &examples[i], &result)))
            .collect();
        if let Some(log) = log.as_deref_mut() {
            log.append(&done, clock.elapsed().as_secs_f64())?;
        }
        for (i, rows) in done {
            rows_of[i] = Some(rows);
        }
        advance(progress, &name, chunk.len() as u64);
    }
    let rows = rows_of.into_iter().map(|rows| rows.expect("every example is in one batch"));
    Ok(rows.flatten().collect())
}

/// The examples of a benchmark to classify: up to `max_examples` of its file, never none.
fn benchmark_examples(
    spec: &BenchmarkSpec,
    max_examples: Option<usize>,
    progress: &ProgressBar,
) -> Result<Vec<GuardExample>> {
    // Aegis 1.0 needs a Needs-Caution choice; evaluation follows the Defensive convention.
    let options = LoadOptions { needs_caution: Some(Safety::Unsafe), ..Default::default() };
    let loaded = load_source(spec.kind, &spec.path, &options)
        .with_context(|| format!("benchmark {}", spec.path.display()))?;
    // A benchmark scored on fewer rows than its file holds says so (e.g. Aegis rows whose
    // prompt is REDACTED).
    if let Some(line) = crate::skipped_rows::line(
        &format!("benchmark {}", spec.path.display()),
        &[(&spec.name(), &loaded.report.skipped)],
    ) {
        progress.suspend(|| eprintln!("{line}"));
    }
    let mut examples = loaded.examples;
    if let Some(cap) = max_examples {
        examples = evenly_spaced(examples, cap);
    }
    // Metrics over nothing would read as a result ("F1 0.000").
    if examples.is_empty() {
        return Err(anyhow!(
            "benchmark {}: nothing to evaluate ({})",
            spec.path.display(),
            if max_examples == Some(0) { "0 examples asked for" } else { "no examples in it" }
        ));
    }
    Ok(examples)
}

/// Example indices from the shortest conversation to the longest (by characters), so that a
/// batch pads its rows to similar lengths: benchmark files mix 10-token prompts with
/// 2,000-token responses, and in file order most of a batch's work would be padding. The
/// classification of a row does not depend on its batch (beyond rounding), and rows are
/// reported in file order.
fn by_length(examples: &[GuardExample]) -> Vec<usize> {
    let chars = |e: &GuardExample| e.conversation.iter().map(|t| t.content.len()).sum::<usize>();
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| chars(&examples[i]));
    order
}

/// At most `n` examples spread evenly over the file (the same ones for every model), so a
/// capped run still covers every section of benchmarks sorted by type, like XSTest.
fn evenly_spaced(examples: Vec<GuardExample>, n: usize) -> Vec<GuardExample> {
    let len = examples.len();
    if len <= n {
        return examples;
    }
    let keep: BTreeSet<usize> = (0..n).map(|i| i * len / n).collect();
    examples.into_iter().enumerate().filter(|(i, _)| keep.contains(i)).map(|(_, e)| e).collect()
}

fn level_rows(
    benchmark: &str,
    example: &GuardExample,
    result: &crate::classifier::Classification,
) -> Vec<PredictionRow> {
    let Target::Safety { user, response, categories } = &example.target else { return vec![] };
    let name = |s: Safety| if s == Safety::Unsafe { "unsafe" } else { "safe" }.to_string();
    let mut rows = Vec::new();
    let mut push = |level: &str, label: Safety, predicted: &Option<String>, score: Option<f64>| {
        rows.push(PredictionRow {
            benchmark: benchmark.to_string(),
            level: level.to_string(),
            id: example.id.clone(),
            label: name(label),
            prediction: predicted.clone().unwrap_or_else(|| "safe".into()),
            // An answer without this level's verdict is unparseable at this level.
            parsed: result.parse_error.is_none() && predicted.is_some(),
            score,
            label_categories: categories.clone(),
            predicted_categories: result.categories.clone(),
        })
    };
    if let Some(label) = user {
        push("prompt", *label, &result.user_safety, result.user_unsafe_probability);
    }
    if let (Some(label), Some(_)) = (response, example.response_turn()) {
        // No response verdict (e.g. the model omitted it) is an unparseable answer here.
        push("response", *label, &result.response_safety, result.response_unsafe_probability);
    }
    rows
}

/// Metrics per (benchmark, level), in first-seen order; recomputable from the rows alone.
pub fn summarize(rows: &[PredictionRow]) -> Vec<LevelReport> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for row in rows {
        let key = (row.benchmark.clone(), row.level.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(benchmark, level)| {
            let selected: Vec<&PredictionRow> =
                rows.iter().filter(|r| r.benchmark == benchmark && r.level == level).collect();
            let predictions: Vec<Prediction> = selected
                .iter()
                .map(|r| Prediction {
                    label: r.label == "unsafe",
                    predicted: r.parsed.then_some(r.prediction == "unsafe"),
                    score: r.score,
                })
                .collect();
            let has_categories = selected.iter().any(|r| !r.label_categories.is_empty());
            let per_category = if has_categories {
                let sets: Vec<CategorySets> = selected
                    .iter()
                    .map(|r| CategorySets {
                        label: lower(&r.label_categories),
                        predicted: lower(&r.predicted_categories),
                    })
                    .collect();
                per_category_f1(&sets)
            } else {
                vec![]
            };
            LevelReport {
                benchmark,
                level,
                metrics: ClassificationMetrics::from_predictions(&predictions),
                per_category,
            }
        })
        .collect()
}

fn lower(categories: &[String]) -> BTreeSet<String> {
    categories.iter().map(|c| c.to_lowercase()).collect()
}

/// Writes report.json, predictions.jsonl, report.md and the plots into `out`.
pub fn write_report(out: &Path, report: &Report, rows: &[PredictionRow]) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        guardtune_lora::files::write_atomically(&out.join(name), |f| f.write_all(bytes))?;
        Ok(())
    };
    write("report.json", serde_json::to_string_pretty(report)?.as_bytes())?;
    let mut lines = String::new();
    for row in rows {
        lines.push_str(&serde_json::to_string(row)?);
        lines.push('\n');
    }
    write("predictions.jsonl", lines.as_bytes())?;

    let mut plots = Vec::new();
    let curves: Vec<(String, Vec<(f64, f64)>)> = report
        .results
        .iter()
        .filter_map(|level| {
            let predictions: Vec<Prediction> = rows
                .iter()
                .filter(|r| r.benchmark == level.benchmark && r.level == level.level)
                .map(|r| Prediction { label: r.label == "unsafe", predicted: None, score: r.score })
                .collect();
            let curve = precision_recall_curve(&predictions).ok()?;
            Some((
                format!("{} ({})", level.benchmark, level.level),
                curve.iter().map(|p| (p.recall, p.precision)).collect(),
            ))
        })
        .collect();
    if !curves.is_empty() {
        plot_pr_curves(out.join("pr_curves.png"), "Precision-recall (unsafe = positive)", &curves)?;
        plots.push("pr_curves.png".to_string());
    }
    for level in report.results.iter().filter(|l| !l.per_category.is_empty()) {
        let file = format!("per_category_f1_{}_{}.png", level.benchmark, level.level);
        let bars: Vec<(String, f64)> = level
            .per_category
            .iter()
            .map(|c| (format!("{} (n={})", c.category, c.support), c.f1))
            .collect();
        plot_bars(
            out.join(&file),
            &format!("Per-category F1: {} ({})", level.benchmark, level.level),
            &bars,
        )?;
        plots.push(file);
    }
    write("report.md", markdown(report, &plots).as_bytes())
}

fn markdown(report: &Report, plots: &[String]) -> String {
    let mut md = String::from("# Guard evaluation\n\n");
    md += &format!(
        "- model: `{}`\n- adapter: `{}`\n- time: {:.1} s\n\n",
        report.model,
        report.adapter.as_deref().unwrap_or("none"),
        report.seconds
    );
    md += "## Harmful-class F1 (this run)\n\nLaid out like the Aegis 2.0 paper's Tables 3 and 4: one column per benchmark and level.\n\n";
    let columns: Vec<String> =
        report.results.iter().map(|l| format!("{} ({})", l.benchmark, l.level)).collect();
    md += &format!(
        "| Model | {} | Avg |\n|---|{}---:|\n",
        columns.join(" | "),
        "---:|".repeat(columns.len())
    );
    let f1s: Vec<f64> = report.results.iter().map(|l| l.metrics.f1).collect();
    let average = if f1s.is_empty() { 0.0 } else { f1s.iter().sum::<f64>() / f1s.len() as f64 };
    md += &format!(
        "| this run | {} | {average:.3} |\n\n",
        f1s.iter().map(|f| format!("{f:.3}")).collect::<Vec<_>>().join(" | ")
    );
    md += "## Details\n\n| benchmark | level | n | unsafe | precision | recall | F1 | AUPRC | unparseable |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for l in &report.results {
        let m = &l.metrics;
        let auprc = m.auprc.map(|a| format!("{a:.3}")).unwrap_or_else(|| "n/a".into());
        md += &format!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {auprc} | {} |\n",
            l.benchmark, l.level, m.count, m.positives, m.precision, m.recall, m.f1, m.unparseable
        );
    }
    for l in report.results.iter().filter(|l| !l.per_category.is_empty()) {
        md += &format!("\n### Per-category F1: {} ({})\n\n| category | support | predicted | F1 |\n|---|---:|---:|---:|\n", l.benchmark, l.level);
        for c in &l.per_category {
            md += &format!("| {} | {} | {} | {:.3} |\n", c.category, c.support, c.predicted, c.f1);
        }
    }
    if !plots.is_empty() {
        md += "\n## Plots\n\n";
        for plot in plots {
            md += &format!("![{plot}]({plot})\n\n");
        }
    }
    md += PUBLISHED;
    md
}

/// The paper's published rows, for reference (never computed here).
const PUBLISHED: &str = "
## Published results, for reference only (not computed by this run)

From the Aegis 2.0 paper (arXiv 2501.09004), as transcribed in `../shared/notes/aegis2.md` section 4.
Harmful-class F1. Table 3, external benchmarks:

| Model (published) | OAI Mod (prompt) | WGTest (prompt) | WGTest (response) | XSTest (response) | Avg |
|---|---:|---:|---:|---:|---:|
| OpenAI Mod API | 0.789 | 0.121 | 0.214 | 0.558 | 0.385 |
| LlamaGuard2-8B | 0.759 | 0.704 | 0.658 | 0.908 | 0.723 |
| LlamaGuard3-1B | 0.374 | 0.472 | 0.261 | 0.245 | 0.359 |
| LlamaGuard3-8B | 0.788 | 0.768 | 0.700 | 0.904 | 0.764 |
| WildGuard † | 0.721 | 0.889 | 0.754 | 0.947 | 0.828 |
| Llama3.1-AegisGuard + TF | 0.810 | 0.816 | 0.775 | 0.862 | 0.816 |
| Llama3.1-AegisGuard | 0.770 | 0.821 | 0.757 | 0.883 | 0.808 |

Table 4, Aegis 2.0 test:

| Model (published) | prompt F1 | response F1 |
|---|---:|---:|
| OpenAI Mod API | 0.378 | 0.474 |
| LlamaGuard2-8B | 0.768 | 0.674 |
| LlamaGuard3-8B | 0.773 | 0.657 |
| WildGuard | 0.819 | 0.835 |
| Llama3.1-AegisGuard | 0.868 | 0.866 |
";

/// A progress bar over examples for evaluation.
pub fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix}{bar:30} {pos}/{len} examples  {per_sec}  [{elapsed_precise} < {eta_precise}]",
        )
        .expect("valid template"),
    );
    bar
}

/// Advances `progress` by `n` examples of benchmark `name`. Without a terminal the bar draws
/// nothing, and an evaluation whose output goes to a log (a sweep's run, a Slurm job) can take
/// an hour: it prints a line at each tenth of the examples instead, with the rate and the time
/// left.
fn advance(progress: &ProgressBar, name: &str, n: u64) {
    let before = progress.position();
    progress.inc(n);
    let (done, total) = (progress.position(), progress.length().unwrap_or(0).max(1));
    if progress.is_hidden() && before * 10 / total != done * 10 / total {
        eprintln!(
            "{name}: {done}/{total} examples, {:.2}/s, {} left",
            progress.per_sec(),
            HumanDuration(progress.eta())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Classification;

    /// A guard that answers `{"User Safety": "safe"}` to a conversation with a response gave no
    /// response verdict: the response row is unparseable (scored as safe, and counted).
    #[test]
    fn a_missing_response_verdict_is_unparseable_at_the_response_level() {
        let example = GuardExample::safety(
            "bench",
            "1",
            "How do I pick a lock?",
            Some("Rake the pins.".into()),
            Some(Safety::Unsafe),
            Some(Safety::Unsafe),
            vec![],
        );
        let result = Classification {
            user_safety: Some("safe".into()),
            response_safety: None,
            categories: vec![],
            raw: "{\"User Safety\": \"safe\"}".into(),
            parse_error: None,
            user_unsafe_probability: None,
            response_unsafe_probability: None,
        };
        let rows = level_rows("b", &example, &result);
        let parsed: Vec<(&str, bool, &str)> =
            rows.iter().map(|r| (r.level.as_str(), r.parsed, r.prediction.as_str())).collect();
        assert_eq!(parsed, [("prompt", true, "safe"), ("response", false, "safe")]);
    }
}
