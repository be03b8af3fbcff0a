//! The sweep file: a base run config, the seeds, and the variants to compare.
//!
//! ```toml
//! base = "../../configs/quickstart.toml"  # a run config
//! seeds = [1, 2]                          # training.seed and data.seed of each run
//! output = "runs"                         # where runs go (default: this file's folder)
//! [set]                                   # overrides for every run, as `train --set`
//! "training.max_steps" = 30
//! [[variant]]
//! name = "safety-only"
//! set = { "data.sources.topic.weight" = 0.0 }
//! [[variant]]
//! name = "safety+topic"
//! [[variant]]                             # the base model zero-shot: evaluated once, not trained
//! name = "base-model"
//! train = false
//! [grid]                                  # optional: every combination of these values
//! "lora.r" = [8, 16]
//! [[benchmark]]                           # evaluated after training, as `eval --benchmark`
//! kind = "xstest"
//! path = "../../data/fixtures/xstest/xstest_prompts.csv"
//! [eval]
//! max_examples = 450                      # per benchmark, spread evenly over the file
//! batch_size = 8                          # and max_new_tokens: as `guardtune eval`
//! ```
//!
//! Relative paths (`base`, `output`, benchmark paths, and path values under `set`) are
//! relative to this file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{from_toml, ConfigError};
use crate::evaluation::BenchmarkSpec;
use crate::hub::Wanted;

/// Keys whose string values are paths (the last part of a dotted key).
const PATH_KEYS: [&str; 4] = ["path", "paths", "validation_paths", "policy_file"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    base: PathBuf,
    seeds: Vec<u64>,
    #[serde(default)]
    output: Option<PathBuf>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    variant: Vec<RawVariant>,
    #[serde(default)]
    grid: toml::Table,
    #[serde(default)]
    benchmark: Vec<BenchmarkSpec>,
    #[serde(default)]
    eval: SweepEval,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: String,
    #[serde(default)]
    set: toml::Table,
    /// false: the base model evaluated as it is (zero-shot), once, as the table's reference row.
    #[serde(default = "yes")]
    train: bool,
}

fn yes() -> bool {
    true
}

/// How each run is evaluated after training (the `guardtune eval` options).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepEval {
    /// Examples per benchmark, spread evenly over the file (all when absent).
    #[serde(default)]
    pub max_examples: Option<usize>,
    /// Conversations classified together (`eval --batch-size`, default 8).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Longest verdict generated (`eval --max-new-tokens`, default 50).
    #[serde(default)]
    pub max_new_tokens: Option<usize>,
}

/// A variant with its overrides as `key=value` strings (paths already made absolute).
#[derive(Clone, Debug)]
pub struct Variant {
    pub name: String,
    pub overrides: Vec<String>,
    /// false: no training; the base model is evaluated once (see [`Variant::seeds`]).
    pub train: bool,
}

impl Variant {
    /// The seeds this variant runs with: all of them, or only the first for an untrained
    /// variant, whose greedy evaluation involves nothing random.
    pub fn seeds<'a>(&self, seeds: &'a [u64]) -> &'a [u64] {
        if self.train {
            seeds
        } else {
            &seeds[..seeds.len().min(1)]
        }
    }
}

/// A sweep file, read and checked; every path absolute.
#[derive(Clone, Debug)]
pub struct SweepFile {
    /// The sweep file itself.
    pub path: PathBuf,
    /// Its folder: where results.json and report.md go.
    pub dir: PathBuf,
    pub base: PathBuf,
    pub seeds: Vec<u64>,
    pub output: PathBuf,
    /// Overrides for every run, `key=value`.
    pub common: Vec<String>,
    /// Variants in file order (crossed with the grid, when there is one).
    pub variants: Vec<Variant>,
    pub benchmarks: Vec<BenchmarkSpec>,
    pub eval: SweepEval,
}

impl SweepFile {
    pub fn read(path: &Path) -> Result<SweepFile, ConfigError> {
        let path = std::path::absolute(path)
            .map_err(|e| ConfigError::new(path, format!("cannot resolve the path: {e}")))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::new(&path, format!("cannot read: {e}")))?;
        let raw: RawSweep = from_toml(&path, &text, None)?;
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let fail = |key: &str, message: String| ConfigError {
            key: Some(key.to_string()),
            ..ConfigError::new(&path, message)
        };
        if raw.seeds.is_empty() {
            return Err(fail("seeds", "list at least one seed".into()));
        }
        if let Some(seed) = duplicate(&raw.seeds) {
            return Err(fail("seeds", format!("seed {seed} is listed twice")));
        }
        if raw.benchmark.is_empty() {
            return Err(fail("benchmark", "add at least one [[benchmark]] to compare on".into()));
        }
        let mut benchmarks = raw.benchmark;
        for spec in &mut benchmarks {
            spec.path = crate::hub::resolve(&spec.path, Wanted::File, &dir, &[])
                .map_err(|e| fail("benchmark.path", format!("{e:#}")))?;
            spec.path = dir.join(&spec.path);
            if !spec.path.exists() {
                return Err(fail(
                    "benchmark.path",
                    format!("{} does not exist", spec.path.display()),
                ));
            }
        }
        if let Some(name) =
            duplicate(&benchmarks.iter().map(BenchmarkSpec::name).collect::<Vec<_>>())
        {
            return Err(fail(
                "benchmark",
                format!("two benchmarks are named \"{name}\" (after their files)"),
            ));
        }
        let common = overrides(&raw.set, &dir).map_err(|m| fail("set", m))?;
        let variants = variants(raw.variant, &raw.grid, &dir).map_err(|(k, m)| fail(&k, m))?;
        Ok(SweepFile {
            base: dir.join(&raw.base),
            output: raw.output.map_or_else(|| dir.clone(), |o| dir.join(o)),
            path,
            dir,
            seeds: raw.seeds,
            common,
            variants,
            benchmarks,
            eval: raw.eval,
        })
    }

    /// The variant named `name`.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }
}

fn duplicate<T: PartialEq + Clone>(items: &[T]) -> Option<T> {
    items.iter().enumerate().find(|(i, item)| items[..*i].contains(item)).map(|(_, x)| x.clone())
}

/// The file's variants crossed with every grid point (or the grid points alone, or one
/// variant named "base" when there are neither).
fn variants(
    listed: Vec<RawVariant>,
    grid: &toml::Table,
    dir: &Path,
) -> Result<Vec<Variant>, (String, String)> {
    let mut variants = listed_variants(&listed, dir)?;
    if variants.is_empty() {
        variants.push(Variant {
            name: if grid.is_empty() { "base" } else { "" }.into(),
            overrides: vec![],
            train: true,
        });
    }
    for (key, values) in grid {
        let values = values
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| (format!("grid.{key}"), "expected a non-empty list of values".into()))?;
        variants = crossed(&variants, key, values, dir);
    }
    if let Some(name) = duplicate(&variants.iter().map(|v| v.name.clone()).collect::<Vec<_>>()) {
        return Err(("grid".into(), format!("two grid points are both named \"{name}\"")));
    }
    Ok(variants)
}

/// The `[[variant]]` tables, checked: names that can name folders, each once, and no training
/// key on an untrained variant.
fn listed_variants(listed: &[RawVariant], dir: &Path) -> Result<Vec<Variant>, (String, String)> {
    let mut variants: Vec<Variant> = Vec::new();
    for raw in listed {
        if raw.name.is_empty()
            || !raw.name.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        {
            return Err((
                "variant.name".into(),
                format!("\"{}\": use letters, digits and . _ + - (it names folders)", raw.name),
            ));
        }
        if variants.iter().any(|v| v.name == raw.name) {
            return Err((
                "variant.name".into(),
                format!("two variants are named \"{}\"", raw.name),
            ));
        }
        let overrides = overrides(&raw.set, dir).map_err(|m| ("variant.set".to_string(), m))?;
        if !raw.train {
            if let Some(key) = overrides.iter().find(|o| !o.starts_with("model.")) {
                return Err((
                    "variant.set".into(),
                    format!(
                        "variant \"{}\" is not trained (train = false): only model.* keys \
                         apply to it, not {key}",
                        raw.name
                    ),
                ));
            }
        }
        variants.push(Variant { name: raw.name.clone(), overrides, train: raw.train });
    }
    Ok(variants)
}

/// Each trained variant once per value of the grid's `key`, named after the value
/// (`recipe-lr0.001`); an untrained variant stays one row, as the grid varies training.
fn crossed(variants: &[Variant], key: &str, values: &[toml::Value], dir: &Path) -> Vec<Variant> {
    let short = key.rsplit('.').next().unwrap_or(key);
    let mut crossed = Vec::new();
    for variant in variants {
        if !variant.train {
            crossed.push(variant.clone());
            continue;
        }
        for value in values {
            let label: String = value_text(value)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "._+-".contains(*c))
                .collect();
            let name = [variant.name.as_str(), &format!("{short}{label}")]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("-");
            let mut overrides = variant.overrides.clone();
            overrides.push(override_text(key, value, dir));
            crossed.push(Variant { name, overrides, train: true });
        }
    }
    crossed
}

/// `key=value` strings, in the table's order, with path values made absolute. Nested tables
/// (`training.lr = 1e-4` written unquoted) become dotted keys.
fn overrides(table: &toml::Table, dir: &Path) -> Result<Vec<String>, String> {
    let mut flat = Vec::new();
    flatten("", table, &mut flat);
    let mut out = Vec::new();
    for (key, value) in &flat {
        let key = key.as_str();
        if key.split('.').count() < 2 {
            return Err(format!("\"{key}\": expected a dotted key such as \"training.lr\""));
        }
        if key == "output.dir" || key == "training.seed" || key == "data.seed" {
            return Err(format!("\"{key}\" is set by the sweep (output, seeds)"));
        }
        out.push(override_text(key, value, dir));
    }
    Ok(out)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (key, value) in table {
        let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

fn override_text(key: &str, value: &toml::Value, dir: &Path) -> String {
    let is_path = key == "model.path" || PATH_KEYS.contains(&key.rsplit('.').next().unwrap_or(""));
    let value = if is_path { absolute(value, dir, Wanted::for_key(key)) } else { value.clone() };
    format!("{key}={}", value_text(&value))
}

/// A string path (or a list of them) joined to `dir` when relative; a Hub input (for a `wanted`
/// of its kind) as written.
fn absolute(value: &toml::Value, dir: &Path, wanted: Wanted) -> toml::Value {
    match value {
        toml::Value::String(s) if crate::hub::names_hub_input(s, wanted, dir) => value.clone(),
        toml::Value::String(s) => toml::Value::String(dir.join(s).display().to_string()),
        toml::Value::Array(items) => {
            toml::Value::Array(items.iter().map(|v| absolute(v, dir, wanted)).collect())
        }
        other => other.clone(),
    }
}

/// The value in TOML syntax, as `--set` parses it back.
fn value_text(value: &toml::Value) -> String {
    value.to_string()
}
