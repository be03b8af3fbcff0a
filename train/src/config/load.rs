//! Reading a run config: `--set` overrides applied to the TOML document, then strict
//! deserialisation, then checks that need the file system. Every error is one line naming the
//! file, the line and the key.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, Value};

use guardtune_model::Dtype;

use super::key_path::{from_toml, located};
use super::validate::{setting_problems, Problem};
use super::RunConfig;
use crate::hub::Wanted;

/// A config problem: `file:line: key: message` (line and key when known), and any further
/// problems `(key, message)` found in the same file, each printed on a line of its own. A
/// problem with a key that a `--set` flag gave is blamed on that flag, not on the file.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
    pub more: Box<[Problem]>,
    /// The `--set` flags applied to the file: `(key, "key=value")`.
    pub flags: Box<[(String, String)]>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_problem(f, self.line, self.key.as_deref(), &self.message)?;
        for (key, message) in &self.more {
            writeln!(f)?;
            self.write_problem(f, None, Some(key), message)?;
        }
        Ok(())
    }
}

impl ConfigError {
    pub(crate) fn new(path: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: message.into(),
            more: Box::default(),
            flags: Box::default(),
        }
    }

    /// The `--set` flag that gave `key` (or a table above it), if any.
    fn flag_for(&self, key: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(set, _)| key == set || key.starts_with(&format!("{set}.")))
            .map(|(_, assignment)| assignment.as_str())
    }

    fn write_problem(
        &self,
        f: &mut std::fmt::Formatter<'_>,
        line: Option<usize>,
        key: Option<&str>,
        message: &str,
    ) -> std::fmt::Result {
        match key.and_then(|k| self.flag_for(k)) {
            Some(assignment) => write!(f, "--set {assignment}")?,
            None => {
                write!(f, "{}", self.path.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
            }
        }
        if let Some(key) = key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {message}")
    }
}

impl std::error::Error for ConfigError {}

/// Reads `path`, applies `overrides` (`section.key=value`, the value in TOML syntax or a bare
/// string), and resolves every relative path in it, so the resolved config saved in the run
/// folder stands on its own: a path written in the file against the file's folder, a path given
/// with `--set` against the current folder (as for any other command-line path).
pub fn load_run_config(path: &Path, overrides: &[String]) -> Result<RunConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, format!("cannot read: {e}")))?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| located(path, &text, e.span(), e.message()))?;
    let mut flags = Vec::new();
    for assignment in overrides {
        let key = apply_override(&mut doc, assignment).map_err(|msg| ConfigError {
            message: format!("--set {assignment}: {msg}"),
            ..ConfigError::new(path, "")
        })?;
        flags.push((key, assignment.clone()));
    }
    let blamed = |err: ConfigError| ConfigError { flags: flags.clone().into(), ..err };
    super::sources::remove_disabled_sources(&mut doc).map_err(|message| {
        blamed(ConfigError { key: Some("data.sources".into()), ..ConfigError::new(path, message) })
    })?;
    let resolved_text = doc.to_string();
    let written = (!overrides.is_empty()).then_some(text.as_str());
    let mut config: RunConfig = from_toml(path, &resolved_text, written).map_err(blamed)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let settings = setting_problems(&config);
    let mut problems = Vec::new();
    // A wrong setting is reported before gigabytes of Hub inputs are downloaded.
    if settings.is_empty() || !names_hub_inputs(&mut config, base) {
        fetch_hub_inputs(&mut config, base).map_err(|(key, message)| {
            blamed(ConfigError { key: Some(key), ..ConfigError::new(path, message) })
        })?;
        resolve_paths(&mut config, base);
        problems.extend(check(&config).err());
    }
    problems.extend(settings);
    let mut problems = problems.into_iter();
    match problems.next() {
        None => Ok(config),
        Some((key, message)) => Err(blamed(ConfigError {
            key: Some(key),
            more: problems.collect(),
            ..ConfigError::new(path, message)
        })),
    }
}

/// The last segments of the keys whose values are paths (`model.path`, `output.dir`, a source's
/// `path`, `paths`, `validation_paths` and `policy_file`).
const PATH_KEYS: [&str; 6] =
    ["path", "paths", "validation_paths", "policy_file", "dir", "init_from"];

/// Sets `a.b.c = value` in the document, creating tables on the way;
/// `data.sources.NAME.key = value` sets a key of the source named NAME. Returns the key as
/// config errors name it (`data.sources.NAME.key` for a source's). A relative path value is made
/// absolute against the current folder.
fn apply_override(doc: &mut DocumentMut, assignment: &str) -> Result<String, String> {
    let key = assignment.split_once('=').ok_or("expected section.key=value")?.0.trim();
    let mut value = override_value(assignment);
    if PATH_KEYS.contains(&key.rsplit('.').next().unwrap_or(key)) {
        value = from_current_dir(value, Wanted::for_key(key))?;
    }
    if let Some(rest) = key.strip_prefix("data.sources.") {
        let field = super::sources::set_source_key(doc, rest, value)?;
        return Ok(format!("data.sources.{field}"));
    }
    let parts: Vec<&str> = key.split('.').collect();
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
    Ok(key.to_string())
}

/// The value of a `key=value` override: TOML, or else (e.g. a bare path) the text as a string.
fn override_value(assignment: &str) -> Value {
    let raw = assignment.split_once('=').map_or("", |(_, raw)| raw).trim();
    raw.parse().unwrap_or_else(|_| Value::from(raw))
}

/// A path value (a string, or a list of them) with relative paths joined to the current folder;
/// a Hub input (for a `wanted` of its kind) stays as written.
fn from_current_dir(value: Value, wanted: Wanted) -> Result<Value, String> {
    let absolute = |text: &str| -> Result<Value, String> {
        let path = Path::new(text);
        if path.is_absolute() || crate::hub::names_hub_input(text, wanted, Path::new(".")) {
            return Ok(Value::from(text));
        }
        let path = std::path::absolute(path).map_err(|e| format!("cannot resolve {text}: {e}"))?;
        Ok(Value::from(path.to_string_lossy().into_owned()))
    };
    match &value {
        Value::String(s) => absolute(s.value()),
        Value::Array(items) => {
            let mut out = toml_edit::Array::new();
            for item in items {
                match item.as_str() {
                    Some(text) => out.push(absolute(text)?),
                    None => out.push(item.clone()),
                }
            }
            Ok(Value::Array(out))
        }
        _ => Ok(value),
    }
}

/// Every Hub input (`hf://...`, or a bare `ORG/NAME` model id with no such local folder)
/// downloaded into the Hub cache and replaced by its local path. A run folder that already has a
/// `config.toml` pins what it read: a reference without a revision gets the commit recorded
/// there, so that `--resume` reads the same files after the repo has moved on.
fn fetch_hub_inputs(config: &mut RunConfig, base: &Path) -> Result<(), Problem> {
    let saved = base.join(&config.output.dir).join("config.toml");
    let pins = std::fs::read_to_string(saved)
        .ok()
        .and_then(|text| toml::from_str::<toml::Value>(&text).ok())
        .map(|saved| crate::hub::pins_in(&saved))
        .unwrap_or_default();
    for (key, path) in config.input_paths_mut() {
        *path = crate::hub::resolve(path, Wanted::for_key(&key), base, &pins)
            .map_err(|e| (key, format!("{e:#}")))?;
    }
    Ok(())
}

/// Whether any input of `config` is a Hub input (see [`crate::hub::names_hub_input`]).
fn names_hub_inputs(config: &mut RunConfig, base: &Path) -> bool {
    config.input_paths_mut().into_iter().any(|(key, path)| {
        path.to_str()
            .is_some_and(|text| crate::hub::names_hub_input(text, Wanted::for_key(&key), base))
    })
}

fn resolve_paths(config: &mut RunConfig, base: &Path) {
    let resolve = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    resolve(&mut config.output.dir);
    config.input_paths_mut().into_iter().for_each(|(_, path)| resolve(path));
}

/// Checks that need more than types: the model folder exists, the sections agree. (The
/// numeric settings are checked, all at once, by [`setting_problems`].)
fn check(config: &RunConfig) -> Result<(), Problem> {
    let err = |key: &str, msg: String| Err((key.to_string(), msg));
    if let Some(problem) = crate::model_dir::model_folder_problem(&config.model.path) {
        return err("model.path", problem);
    }
    if let Some(dir) = &config.lora.init_from {
        if !dir.join(guardtune_lora::ADAPTER_CONFIG_FILE).is_file() {
            return err(
                "lora.init_from",
                format!("{} is not a PEFT adapter folder (no adapter_config.json)", dir.display()),
            );
        }
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
