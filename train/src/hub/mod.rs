//! Models, adapters and data files from the Hugging Face Hub by id, and adapters pushed back.
//!
//! Wherever a model folder, an adapter folder or a data file is taken (a config's paths,
//! `--model`, `--adapter`, a benchmark), `hf://ORG/NAME[@REVISION]` and
//! `hf://datasets/ORG/NAME/PATH[@REVISION]` name a Hub input, and a bare `ORG/NAME` that is not
//! a local path names a model, as in transformers. [`resolve`] downloads it through hf-hub into
//! the cache that Python's huggingface_hub also uses, and returns the local path; the rest of
//! guardtune only ever sees local paths. A cached path names its repo and commit
//! ([`cached_ref`]), which is how a run records what it read ([`portable`]).

mod cache_path;
mod card;
mod client;
mod errors;
mod fetch;
mod progress;
mod push;
mod reference;

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

pub use cache_path::cached_ref;
pub use card::model_card;
pub use client::offline;
pub use fetch::Wanted;
pub use push::{parse_repo_id, push_folder, PushTarget};
pub use reference::{HubRef, RepoKind, SCHEME};

/// `path` as written, made local: a Hub reference is fetched (at the revision it names, else at
/// the one `pins` records for it, else `main`) and its cached path returned; anything else comes
/// back as it is. `base` is the folder relative paths start from.
pub fn resolve(path: &Path, wanted: Wanted, base: &Path, pins: &[HubRef]) -> Result<PathBuf> {
    let Some(text) = path.to_str().filter(|text| names_hub_input(text, wanted, base)) else {
        return Ok(path.to_path_buf());
    };
    let reference = match HubRef::parse(text) {
        Some(parsed) => parsed.map_err(anyhow::Error::msg)?,
        None => HubRef::parse_bare_id(text).expect("names_hub_input checked it"),
    };
    match (&reference.file, wanted) {
        (Some(_), Wanted::Model | Wanted::Adapter) => bail!(
            "{reference}: a model or adapter is a whole repo (hf://ORG/NAME[@REVISION]), not a file in it"
        ),
        (None, Wanted::File) => bail!(
            "{reference}: names a repo where a file is expected (hf://datasets/ORG/NAME/PATH/IN/REPO)"
        ),
        _ => {}
    }
    let pin = reference.revision.is_none().then(|| {
        pins.iter().find(|pin| {
            pin.kind == reference.kind && pin.id == reference.id && pin.file == reference.file
        })
    });
    let reference = pin.flatten().cloned().unwrap_or(reference);
    match fetch::fetch(&reference, wanted) {
        Ok(local) => Ok(local),
        Err(e) if pin.flatten().is_some() => {
            bail!("{e:#} (the commit the run folder's config.toml recorded)")
        }
        // `ORG/NAME` may have been meant as a local folder: say that none was found either.
        Err(e) if !text.starts_with(SCHEME) => {
            bail!("{e:#}; nor is there a local folder {text}")
        }
        Err(e) => Err(e),
    }
}

/// Whether `text`, given where a `wanted` input is taken, names a Hub input: an `hf://`
/// reference, or (for a model or adapter) a bare `ORG/NAME` with no such path in `base`. The
/// one place that decides, for config files, `--set`, sweep files and the command line.
pub fn names_hub_input(text: &str, wanted: Wanted, base: &Path) -> bool {
    text.starts_with(SCHEME)
        || (wanted != Wanted::File
            && HubRef::parse_bare_id(text).is_some()
            && !base.join(text).exists())
}

/// What a run records for `path`: the pinned `hf://` reference of a path in the Hub cache, so
/// that a rerun or `--resume` reads the same commit on any machine; other paths unchanged.
pub fn portable(path: &Path) -> PathBuf {
    cached_ref(path).map_or_else(|| path.to_path_buf(), |r| PathBuf::from(r.to_string()))
}

/// The pinned references in a run's saved config (its `hf://...@COMMIT` strings).
pub fn pins_in(saved_config: &toml::Value) -> Vec<HubRef> {
    let mut pins = Vec::new();
    collect_pins(saved_config, &mut pins);
    pins
}

fn collect_pins(value: &toml::Value, pins: &mut Vec<HubRef>) {
    match value {
        toml::Value::String(text) => {
            if let Some(Ok(reference)) = HubRef::parse(text) {
                if reference.revision.is_some() {
                    pins.push(reference);
                }
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|v| collect_pins(v, pins)),
        toml::Value::Table(table) => table.values().for_each(|v| collect_pins(v, pins)),
        _ => {}
    }
}
