//! The benchmarks an evaluation has finished, kept so that an interrupted `eval --resume`
//! (and so a sweep killed mid-evaluation) redoes only the benchmark it was on. A full
//! evaluation of a guard on these machines takes about an hour, most of it in two files.
//!
//! Each finished benchmark is `OUT/benchmarks/<name>.jsonl`, written atomically: a first line
//! naming what produced it (the guard, its adapter's bytes, the benchmark file, the settings
//! that change predictions), then its prediction rows. A file is reused only when that first
//! line matches the current evaluation exactly.
//!
//! A benchmark can itself take two hours (HarmBench's 602 long responses), longer than a
//! session on a shared machine, so the one in progress keeps `<name>.partial.jsonl` as well:
//! the same first line with the batch size, then each classified batch's rows, appended as the
//! batch ends. A killed evaluation redoes at most the batch it was on.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::evaluation::{BenchmarkSpec, PredictionRow};

/// Bumped when the prediction rows change meaning, so that files of an older guardtune are
/// redone: 2 counts a missing response verdict as unparseable.
const ROWS_VERSION: u32 = 2;

/// The settings that decide an evaluation's predictions (the batch size does not).
#[derive(Serialize)]
pub struct EvalIdentity<'a> {
    pub model: &'a Path,
    pub adapter: Option<&'a Path>,
    pub dtype: String,
    pub max_examples: Option<usize>,
    pub max_new_tokens: usize,
}

/// Where the finished benchmarks of one evaluation go, and what they must have been made by.
pub struct FinishedBenchmarks {
    dir: PathBuf,
    /// The evaluation's identity, with the adapter's digest.
    guard: serde_json::Value,
}

#[derive(Serialize, serde::Deserialize)]
struct Header {
    guard: serde_json::Value,
    benchmark: String,
    path: String,
    rows: usize,
    /// How long classifying the benchmark took (not part of the identity).
    seconds: f64,
}

impl Header {
    fn same_work(&self, other: &Header) -> bool {
        (&self.guard, &self.benchmark, &self.path, self.rows)
            == (&other.guard, &other.benchmark, &other.path, other.rows)
    }
}

impl FinishedBenchmarks {
    /// Starts the folder `out/benchmarks`: emptied unless `resume`.
    pub fn open(out: &Path, identity: &EvalIdentity<'_>, resume: bool) -> Result<Self> {
        let dir = out.join("benchmarks");
        if !resume && dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("{}: cannot remove", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let mut guard = serde_json::to_value(identity)?;
        guard["rows_version"] = ROWS_VERSION.into();
        if let Some(adapter) = identity.adapter {
            guard["adapter_sha256"] = adapter_digest(adapter)?.into();
        }
        Ok(FinishedBenchmarks { dir, guard })
    }

    /// The rows of `spec` if this evaluation already finished it, and the seconds it took.
    pub fn get(&self, spec: &BenchmarkSpec) -> Option<(Vec<PredictionRow>, f64)> {
        let text = std::fs::read_to_string(self.file(spec)).ok()?;
        let mut lines = text.lines();
        let header: Header = serde_json::from_str(lines.next()?).ok()?;
        let rows: Vec<PredictionRow> =
            lines.map(serde_json::from_str).collect::<Result<_, _>>().ok()?;
        let seconds = header.seconds;
        header.same_work(&self.header(spec, rows.len(), 0.0)).then_some((rows, seconds))
    }

    /// Records `spec` as finished with `rows` in `seconds`.
    pub fn put(&self, spec: &BenchmarkSpec, rows: &[PredictionRow], seconds: f64) -> Result<()> {
        let header = serde_json::to_string(&self.header(spec, rows.len(), seconds))?;
        let mut lines = vec![header];
        for row in rows {
            lines.push(serde_json::to_string(row)?);
        }
        let text = lines.join("\n") + "\n";
        guardtune_lora::files::write_atomically(&self.file(spec), |f| {
            f.write_all(text.as_bytes())
        })?;
        Ok(())
    }

    fn header(&self, spec: &BenchmarkSpec, rows: usize, seconds: f64) -> Header {
        Header {
            guard: self.guard.clone(),
            benchmark: spec.kind.to_string(),
            path: spec.path.display().to_string(),
            rows,
            seconds,
        }
    }

    fn file(&self, spec: &BenchmarkSpec) -> PathBuf {
        self.dir.join(format!("{}.jsonl", spec.name()))
    }

    /// The log of `spec`'s classified batches: the batches an interrupted evaluation of the
    /// same work in batches of `batch_size` finished, or a new, empty log. Nothing is written
    /// until the first new batch, so an evaluation that fails before classifying leaves no log.
    pub fn partial(&self, spec: &BenchmarkSpec, batch_size: usize) -> Result<PartialBenchmark> {
        let path = self.dir.join(format!("{}.partial.jsonl", spec.name()));
        let header = PartialHeader { work: self.header(spec, 0, 0.0), batch_size };
        let (kept, batches) = read_partial(&path, &header).unwrap_or_default();
        let earlier_seconds = batches.iter().map(|b| b.seconds).sum();
        let done = batches.into_iter().flat_map(|b| b.examples).collect();
        let lines = std::iter::once(serde_json::to_string(&header)?).chain(kept).collect();
        Ok(PartialBenchmark { path, lines, file: None, done, earlier_seconds })
    }
}

/// A partial file's first line: the benchmark's work and the batches it is classified in,
/// which decide the rows to the last bit (a row's padding depends on its batch).
#[derive(Serialize, serde::Deserialize)]
struct PartialHeader {
    work: Header,
    batch_size: usize,
}

/// One classified batch in a partial file: `(example index, its rows)` for each of its
/// examples, and how long classifying it took.
#[derive(serde::Deserialize)]
struct DoneBatch {
    examples: Vec<(usize, Vec<PredictionRow>)>,
    seconds: f64,
}

/// The whole lines of the partial file at `path`, if its header is `header`'s work, and the
/// batches they hold.
fn read_partial(path: &Path, header: &PartialHeader) -> Option<(Vec<String>, Vec<DoneBatch>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let found: PartialHeader = serde_json::from_str(lines.next()?).ok()?;
    if !(found.work.same_work(&header.work) && found.batch_size == header.batch_size) {
        return None;
    }
    let (mut kept, mut batches) = (Vec::new(), Vec::new());
    for line in lines {
        let Ok(batch) = serde_json::from_str::<DoneBatch>(line) else { break };
        kept.push(line.to_string());
        batches.push(batch);
    }
    Some((kept, batches))
}

/// The classified batches of the benchmark in progress (see the module's docs).
pub struct PartialBenchmark {
    path: PathBuf,
    /// The header and the whole batch lines read back, which start the file when it is opened.
    lines: Vec<String>,
    /// Opened at the first new batch.
    file: Option<File>,
    done: HashMap<usize, Vec<PredictionRow>>,
    /// The classification time of the batches read from the file.
    earlier_seconds: f64,
}

impl PartialBenchmark {
    /// The rows of each example of `batch`, if all of them were classified earlier.
    pub fn batch(&self, batch: &[usize]) -> Option<Vec<Vec<PredictionRow>>> {
        batch.iter().map(|i| self.done.get(i).cloned()).collect()
    }

    /// How long classifying the batches that were logged before this process took.
    pub fn earlier_seconds(&self) -> f64 {
        self.earlier_seconds
    }

    /// Records a batch classified in `seconds`, as one line written at once, so that a kill
    /// leaves at most one torn line at the end.
    pub fn append(&mut self, examples: &[(usize, Vec<PredictionRow>)], seconds: f64) -> Result<()> {
        let line = serde_json::json!({ "examples": examples, "seconds": seconds }).to_string();
        let path = self.path.clone();
        self.open()?
            .write_all((line + "\n").as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))
    }

    /// The file to append to: first rewritten from `lines`, without a line torn by a kill, so
    /// that new batches follow whole ones.
    fn open(&mut self) -> Result<&mut File> {
        if self.file.is_none() {
            let text = self.lines.iter().fold(String::new(), |text, line| text + line + "\n");
            guardtune_lora::files::write_atomically(&self.path, |f| f.write_all(text.as_bytes()))?;
            let file = OpenOptions::new()
                .append(true)
                .open(&self.path)
                .with_context(|| format!("{}: cannot open", self.path.display()))?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Removes the log, if there is one, once the benchmark's finished file is written.
    pub fn remove(self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            done => done.with_context(|| format!("{}: cannot remove", self.path.display())),
        }
    }
}

/// SHA-256 over the adapter's config and weights: a retrained adapter at the same path is
/// another guard.
fn adapter_digest(adapter: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    for name in ["adapter_config.json", "adapter_model.safetensors"] {
        let path = adapter.join(name);
        let bytes =
            std::fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
