//! What may change when a run is resumed. The run folder's `config.toml` (the resolved config
//! the run was started with) and the new resolved config are compared as TOML values, key by
//! key; any difference outside [`MAY_CHANGE`] would alter the model, the data order or the
//! optimizer, so the resume is refused, naming every such key with its old and new value. The
//! check reads the folder only: a refused resume leaves it exactly as it was.
//! The list is documented for users in docs/run-folder.md.

use std::path::Path;

use anyhow::{bail, Context, Result};
use toml::Value;

use crate::config::RunConfig;

/// Keys (or whole sections) that may differ on resume, and why that is safe: they change what
/// is logged, evaluated or kept, or where and how fast the same arithmetic runs.
pub const MAY_CHANGE: [(&str, &str); 8] = [
    ("training.log_every_steps", "logging"),
    ("eval", "what is evaluated and how often (not trained on)"),
    ("output.save_every_steps", "checkpoint cadence"),
    ("output.keep_last", "checkpoints kept"),
    ("output.adapter_dtype", "dtype of the final exported adapter"),
    ("output.dir", "the same folder, possibly spelled differently"),
    ("model.device", "where the steps run (results equal up to rounding)"),
    ("training.gradient_checkpointing", "memory traded for compute, same step"),
];

/// May grow (never below the steps a checkpoint has done): the run goes on as if it had been
/// planned that long (see [`check`] and docs/run-folder.md, "Extending a run").
pub const MAX_STEPS: &str = "training.max_steps";

/// Refuses to resume the run in `run_dir` with `config` when a key outside the whitelist
/// differs from the run's own `config.toml`. Nothing to check without `resume` or without a
/// complete checkpoint (the run then starts from scratch).
pub fn check_resume(run_dir: &Path, config: &RunConfig, resume: bool) -> Result<()> {
    if !resume {
        return Ok(());
    }
    let Some(checkpoint) = super::checkpoint::latest(run_dir)? else { return Ok(()) };
    let path = run_dir.join("config.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let previous: Value = toml::from_str(&text)
        .with_context(|| format!("{}: the run's config is not valid TOML", path.display()))?;
    let current =
        Value::try_from(config.portable()).context("cannot serialise the resolved config")?;
    check(&previous, &current).with_context(|| format!("cannot resume {}", run_dir.display()))?;
    if let Some(steps) = config.training.max_steps.filter(|s| *s < checkpoint.state.step) {
        bail!(
            "cannot resume {}: key `{MAX_STEPS}` is {steps}, fewer than the {} steps of {}",
            run_dir.display(),
            checkpoint.state.step,
            checkpoint.dir.display()
        );
    }
    Ok(())
}

/// Refuses every difference between `previous` and `current` outside [`MAY_CHANGE`] and
/// [`MAX_STEPS`], naming each key with both values.
///
/// A changed `max_steps` gives a new learning-rate schedule, computed for the new length as for
/// a run started with it: the steps after the checkpoint get the rates that run would give them
/// (a cosine or linear decay stretches, a warmup ratio too). Nothing else about the steps
/// changes: the data order does not depend on the run's length.
pub fn check(previous: &Value, current: &Value) -> Result<()> {
    let mut changed = Vec::new();
    differences("", previous, current, &mut changed);
    let refused: Vec<String> = changed
        .into_iter()
        .filter(|(key, _, _)| !may_change(key))
        .map(|(key, old, new)| format!("`{key}` {old} -> {new}"))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let allowed: Vec<&str> = MAY_CHANGE.iter().map(|(key, _)| *key).collect();
    bail!(
        "the config differs from the run's config.toml in {}, which would change the model, the \
         data order or the optimizer; undo the change, or start a new run in another output.dir \
         (on resume only {} and {MAX_STEPS} may change; see docs/run-folder.md)",
        refused.join(", "),
        allowed.join(", "),
    )
}

fn may_change(key: &str) -> bool {
    key == MAX_STEPS
        || MAY_CHANGE.iter().any(|(allowed, _)| {
            key == *allowed
                || key.strip_prefix(allowed).is_some_and(|rest| rest.starts_with(['.', '[']))
        })
}

/// `(key, old, new)` for every leaf that differs; tables are compared key by key and arrays of
/// equal length element by element, so keys come out as `data.sources[0].path`.
fn differences(key: &str, old: &Value, new: &Value, out: &mut Vec<(String, String, String)>) {
    let join = |name: &str| if key.is_empty() { name.to_string() } else { format!("{key}.{name}") };
    match (old, new) {
        (Value::Table(a), Value::Table(b)) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                match (a.get(name), b.get(name)) {
                    (Some(x), Some(y)) => differences(&join(name), x, y, out),
                    (x, y) => out.push((join(name), shown(x), shown(y))),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{key}[{i}]"), x, y, out);
            }
        }
        (Value::String(a), Value::String(b)) if a == b || same_existing_path(a, b) => {}
        _ if old == new => {}
        _ => out.push((key.to_string(), shown(Some(old)), shown(Some(new)))),
    }
}

fn shown(value: Option<&Value>) -> String {
    match value {
        Some(value) => value.to_string().replace('\n', " "),
        None => "(unset)".into(),
    }
}

/// Two spellings of one file or folder (`a/../b` and `b`) are the same setting.
fn same_existing_path(a: &str, b: &str) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Value {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_documented_list_is_the_code_s() {
        let doc = include_str!("../../../docs/run-folder.md");
        let table = doc
            .split_once("These may change on resume:")
            .and_then(|(_, rest)| rest.split_once("Everything else"))
            .expect("docs/run-folder.md lists what may change on resume")
            .0;
        // The first column's keys: `eval.*` names the whole section.
        let mut documented: Vec<&str> = table
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .flat_map(|line| line.split(" |").next().unwrap_or("").split(", "))
            .map(|key| key.trim_matches('`').trim_end_matches(".*"))
            .collect();
        documented.sort();
        let mut code: Vec<&str> = MAY_CHANGE.iter().map(|(key, _)| *key).collect();
        code.push(MAX_STEPS);
        code.sort();
        assert_eq!(documented, code);
    }

    #[test]
    fn refusals_name_every_key_with_both_values() {
        let old = value("[lora]\nr = 8\nalpha = 16.0\n[training]\nlr = 0.001\nseed = 1\n");
        let new = value("[lora]\nr = 4\nalpha = 16.0\n[training]\nlr = 0.002\n");
        let err = check(&old, &new).unwrap_err().to_string();
        for piece in
            ["`lora.r` 8 -> 4", "`training.lr` 0.001 -> 0.002", "`training.seed` 1 -> (unset)"]
        {
            assert!(err.contains(piece), "`{piece}` not in: {err}");
        }
        assert!(!err.contains("alpha"), "{err}");
    }

    #[test]
    fn whitelisted_keys_and_sections_may_change() {
        let old = value(
            "[eval]\nevery_steps = 2\n[output]\nkeep_last = 1\n[training]\nlog_every_steps = 1\n",
        );
        let new = value(
            "[eval]\nevery_steps = 5\nmax_examples = 3\n[output]\nkeep_last = 4\n[training]\nlog_every_steps = 9\n",
        );
        check(&old, &new).unwrap();
    }

    #[test]
    fn max_steps_may_change() {
        let old = value("[training]\nmax_steps = 10\nschedule = \"cosine\"\n");
        let new = value("[training]\nmax_steps = 20\nschedule = \"cosine\"\n");
        check(&old, &new).unwrap();
    }

    #[test]
    fn array_elements_are_named_by_index() {
        let old = value("[[data.sources]]\nname = \"a\"\ncount = 3\n");
        let new = value("[[data.sources]]\nname = \"a\"\ncount = 4\n");
        let err = check(&old, &new).unwrap_err().to_string();
        assert!(err.contains("`data.sources[0].count` 3 -> 4"), "{err}");
    }
}
