//! The benchmarks an evaluation has finished, kept so that an interrupted `eval --resume`
//! (and so a sweep killed mid-evaluation) redoes only the benchmark it was on. A full
//! evaluation of a guard on these machines takes about an hour, most of it in two files.
//!
//! Each finished benchmark is `OUT/benchmarks/<name>.jsonl`, written atomically: a first line
//! naming what produced it (the guard, its adapter's bytes, the benchmark file, the settings
//! that change predictions), then its prediction rows. A file is reused only when that first
//! line matches the current evaluation exactly.

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
