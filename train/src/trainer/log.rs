//! Where a run's numbers go: `metrics.jsonl` (one object per logged step), TensorBoard event
//! files, and a progress bar (or plain lines when stderr is not a terminal).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};

use crate::tensorboard::EventWriter;

pub struct RunLog {
    metrics_path: PathBuf,
    metrics: File,
    events: EventWriter,
    /// The steps bar and, while the model is evaluated, a bar over the evaluated examples.
    bars: MultiProgress,
    bar: ProgressBar,
    started: Instant,
}

impl RunLog {
    /// Opens the logs of `run_dir` for a run that starts after `completed_steps` steps: entries
    /// of later steps (left by an interrupted run) are dropped from metrics.jsonl, and TensorBoard
    /// is told the run restarts there. A run that starts from scratch (no checkpoint) keeps no
    /// entries at all: it logs step 0 again.
    pub fn open(run_dir: &Path, completed_steps: usize, total_steps: usize) -> Result<Self> {
        let metrics_path = run_dir.join("metrics.jsonl");
        keep_entries_up_to(&metrics_path, (completed_steps > 0).then_some(completed_steps))?;
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .with_context(|| format!("{}: cannot open", metrics_path.display()))?;
        let tb_dir = run_dir.join("tensorboard");
        // The first step this run logs: 0 (the evaluation before training) from scratch.
        let next_step = if completed_steps == 0 { 0 } else { completed_steps as i64 + 1 };
        let events = if tb_dir.exists() {
            EventWriter::resume(&tb_dir, next_step)
        } else {
            EventWriter::create(&tb_dir)
        }
        .with_context(|| format!("{}: cannot write TensorBoard events", tb_dir.display()))?;
        let bars = MultiProgress::new();
        let bar =
            bars.add(ProgressBar::new(total_steps as u64).with_position(completed_steps as u64));
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
            )
            .expect("valid template"),
        );
        Ok(RunLog { metrics_path, metrics, events, bars, bar, started: Instant::now() })
    }

    /// Records `values` (`tag -> value`, e.g. `train/loss`) for `step`.
    pub fn record(&mut self, step: usize, values: &[(&str, f64)]) -> Result<()> {
        let mut object = Map::new();
        object.insert("step".into(), json!(step));
        for (tag, value) in values {
            object.insert((*tag).into(), json!(value));
            self.events.add_scalar(tag, *value as f32, step as i64)?;
        }
        object.insert("elapsed_s".into(), json!(self.started.elapsed().as_secs_f64()));
        // One write per line: formatting into the file directly makes one write per token.
        let line = format!("{}\n", Value::Object(object));
        self.metrics
            .write_all(line.as_bytes())
            .with_context(|| format!("{}: cannot write", self.metrics_path.display()))?;
        Ok(())
    }

    /// Makes everything recorded so far durable (before a checkpoint names this step).
    pub fn flush(&mut self) -> Result<()> {
        self.metrics.sync_data()?;
        self.events.flush()?;
        Ok(())
    }

    /// Advances the bar to `step` with a status message; without a terminal, prints the line.
    pub fn progress(&self, step: usize, message: String) {
        self.bar.set_position(step as u64);
        if self.bar.is_hidden() {
            println!("step {step}/{}  {message}", self.bar.length().unwrap_or(0));
        } else {
            self.bar.set_message(message);
        }
    }

    /// Prints a line above the bars.
    pub fn println(&self, line: String) {
        if self.bar.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.bars.println(line);
        }
    }

    /// A bar under the steps bar for an evaluation over examples (`what`: "validation", a
    /// benchmark's name), hidden without a terminal; `finish_and_clear` removes it.
    pub fn evaluation_bar(&self, what: &str) -> ProgressBar {
        let bar = self.bars.add(crate::evaluation::progress_bar());
        bar.set_prefix(format!("{what} "));
        bar
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Drops metrics.jsonl lines whose step is beyond `last_step`, or all lines when it is `None`
/// (rewritten atomically).
fn keep_entries_up_to(path: &Path, last_step: Option<usize>) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let lines: Vec<String> =
        BufReader::new(File::open(path)?).lines().collect::<std::io::Result<_>>()?;
    let kept: Vec<&String> = lines
        .iter()
        .filter(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| last_step.is_some_and(|last| s as usize <= last))
        })
        .collect();
    guardtune_lora::files::write_atomically(path, |out| {
        for line in kept {
            writeln!(out, "{line}")?;
        }
        Ok(())
    })?;
    Ok(())
}
