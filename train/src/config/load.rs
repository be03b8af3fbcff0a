//! Reading a run config: `--set` overrides applied to the TOML document, then strict
//! deserialisation, then checks that need the file system. Every error is one line naming the
//! file, the line and the key.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, Value};

use guardtune_model::Dtype;

use super::validate::{setting_problems, Problem};
use super::RunConfig;

/// A config problem: `file:line: key: message` (line and key when known), and any further
/// problems `(key, message)` found in the same file, each printed on a line of its own.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
    pub more: Vec<Problem>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)?;
        for (key, message) in &self.more {
            write!(f, "\n{}: key `{key}`: {message}", self.path.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(crate) fn new(path: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: message.into(),
            more: vec![],
        }
    }
}

/// Reads `path`, applies `overrides` (`section.key=value`, the value in TOML syntax or a bare
/// string), and resolves every relative path in it against the config file's folder, so the
/// resolved config saved in the run folder stands on its own.
pub fn load_run_config(path: &Path, overrides: &[String]) -> Result<RunConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, format!("cannot read: {e}")))?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| located(path, &text, e.span(), e.message()))?;
    for assignment in overrides {
        apply_override(&mut doc, assignment)
            .map_err(|msg| ConfigError::new(path, format!("--set {assignment}: {msg}")))?;
    }
    super::sources::remove_disabled_sources(&mut doc).map_err(|message| ConfigError {
        key: Some("data.sources".into()),
        ..ConfigError::new(path, message)
    })?;
    let resolved_text = doc.to_string();
    let mut config: RunConfig = toml::from_str(&resolved_text)
        .map_err(|e| located(path, &resolved_text, e.span(), e.message()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    resolve_paths(&mut config, base);
    let mut problems: Vec<Problem> = check(&config).err().into_iter().collect();
    problems.extend(setting_problems(&config));
    let mut problems = problems.into_iter();
    match problems.next() {
        None => Ok(config),
        Some((key, message)) => Err(ConfigError {
            path: path.to_path_buf(),
            line: None,
            key: Some(key),
            message,
            more: problems.collect(),
        }),
    }
}

/// The error at `span` with its line number and the dotted key written on that line.
pub(crate) fn located(
    path: &Path,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: &str,
) -> ConfigError {
    let Some(span) = span else { return ConfigError::new(path, message.trim()) };
    let line_index = text[..span.start.min(text.len())].matches('\n').count();
    ConfigError {
        path: path.to_path_buf(),
        line: Some(line_index + 1),
        key: key_on_line(text, line_index),
        message: message.trim().replace('\n', " "),
        more: vec![],
    }
}

/// `section.key` for a `key = value` line (or the table name for a `[table]` line).
fn key_on_line(text: &str, line_index: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_index)?.trim();
    if line.starts_with('[') {
        return Some(line.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    }
    let key = line.split_once('=')?.0.trim();
    let table = lines[..line_index]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_string(),
    })
}

/// Sets `a.b.c = value` in the document, creating tables on the way;
/// `data.sources.NAME.key = value` sets a key of the source named NAME.
fn apply_override(doc: &mut DocumentMut, assignment: &str) -> Result<(), String> {
    let (key, raw) = assignment.split_once('=').ok_or("expected section.key=value")?;
    // A value that is not valid TOML (e.g. a bare path) is taken as a string.
    let value: Value = raw.trim().parse().unwrap_or_else(|_| Value::from(raw.trim()));
    if let Some(rest) = key.trim().strip_prefix("data.sources.") {
        return super::sources::set_source_key(doc, rest, value);
    }
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("invalid key \"{key}\""));
    }
    let (last, tables) = parts.split_last().expect("at least one part");
    let mut table: &mut Table = doc.as_table_mut();
    for part in tables {
        let item = table.entry(part).or_insert_with(|| Item::Table(Table::new()));
        table = item.as_table_mut().ok_or_else(|| format!("`{part}` is not a table"))?;
    }
    table.insert(last, Item::Value(value));
    Ok(())
}

fn resolve_paths(config: &mut RunConfig, base: &Path) {
    let resolve = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    resolve(&mut config.output.dir);
    config.input_paths_mut().into_iter().for_each(resolve);
}

/// Checks that need more than types: the model folder exists, the sections agree. (The
/// numeric settings are checked, all at once, by [`setting_problems`].)
fn check(config: &RunConfig) -> Result<(), Problem> {
    let err = |key: &str, msg: String| Err((key.to_string(), msg));
    if !config.model.path.join("config.json").exists() {
        return err(
            "model.path",
            format!("{} is not a model folder (no config.json)", config.model.path.display()),
        );
    }
    for benchmark in &config.eval.benchmarks {
        if !benchmark.path.exists() {
            return err("eval.benchmarks", format!("{} does not exist", benchmark.path.display()));
        }
    }
    config.data.validate().map_err(|e| ("data".to_string(), e.to_string()))?;
    let t = &config.training;
    if t.micro_batch_size == 0 || t.grad_accumulation == 0 {
        return err("training", "micro_batch_size and grad_accumulation must be at least 1".into());
    }
    if t.max_steps.is_none() && t.epochs.is_none() {
        return err("training", "set max_steps or epochs".into());
    }
    if t.max_seq_len.is_some_and(|n| n < config.data.max_seq_len) {
        return err(
            "training.max_seq_len",
            format!("must be at least data.max_seq_len ({})", config.data.max_seq_len),
        );
    }
    if let Some(r) = t.warmup_ratio {
        if !(0.0..=1.0).contains(&r) {
            return err("training.warmup_ratio", format!("must be in [0, 1], got {r}"));
        }
    }
    if config.model.dtype == Dtype::F16 {
        return err("model.dtype", "expected f32 or bf16, got \"f16\"".into());
    }
    let devices = config.model.device.names();
    if let Err(e) = crate::device::parse_devices(&devices) {
        return err("model.device", e.to_string());
    }
    if devices.len() > 1 && t.grad_accumulation % devices.len() != 0 {
        return err(
            "training.grad_accumulation",
            format!(
                "must be a multiple of the {} devices, which share each step's micro-batches",
                devices.len()
            ),
        );
    }
    if config.output.adapter_dtype == Dtype::F16 {
        return err("output.adapter_dtype", "expected f32 or bf16, got \"f16\"".into());
    }
    if config.output.save_every_steps == Some(0)
        || config.eval.every_steps == Some(0)
        || config.output.keep_last == Some(0)
    {
        return err("output", "step intervals and keep_last must be at least 1".into());
    }
    Ok(())
}
