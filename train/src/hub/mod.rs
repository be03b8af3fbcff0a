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
pub use push::{push_folder, PushTarget};
pub use reference::{HubRef, RepoKind};

/// `path` as written, made local: a Hub reference is fetched (at the revision it names, else at
/// the one `pins` records for it, else `main`) and its cached path returned; anything else comes
/// back as it is. `base` is the folder relative paths start from: a bare `ORG/NAME` model id
/// counts as one only when no such local path exists there.
pub fn resolve(path: &Path, wanted: Wanted, base: &Path, pins: &[HubRef]) -> Result<PathBuf> {
    let Some(reference) = hub_ref(path, wanted, base)? else {
        return Ok(path.to_path_buf());
    };
    let bare = !path.to_str().is_some_and(|text| text.starts_with("hf://"));
    match (&reference.file, wanted) {
        (Some(_), Wanted::Model | Wanted::Adapter) => bail!(
            "{reference}: a model or adapter is a whole repo (hf://ORG/NAME[@REVISION]), not a file in it"
        ),
        (None, Wanted::File) => bail!(
            "{reference}: names a repo where a file is expected (hf://datasets/ORG/NAME/PATH/IN/REPO)"
        ),
        _ => {}
    }
    let reference = match reference.revision {
        Some(_) => reference,
        None => pins
            .iter()
            .find(|pin| {
                pin.kind == reference.kind && pin.id == reference.id && pin.file == reference.file
            })
            .cloned()
            .unwrap_or(reference),
    };
    match fetch::fetch(&reference, wanted) {
        Ok((local, _)) => Ok(local),
        // `ORG/NAME` may have been meant as a local folder: say that none was found either.
        Err(e) if bare => bail!("{e:#}; nor is there a local folder {}", path.display()),
        Err(e) => Err(e),
    }
}

/// The Hub reference `path` stands for, if any.
fn hub_ref(path: &Path, wanted: Wanted, base: &Path) -> Result<Option<HubRef>> {
    let Some(text) = path.to_str() else { return Ok(None) };
    if let Some(parsed) = HubRef::parse(text) {
        return parsed.map(Some).map_err(anyhow::Error::msg);
    }
    let local = base.join(path).exists() || path.exists();
    Ok(match wanted {
        Wanted::Model | Wanted::Adapter if !local => HubRef::parse_bare_id(text),
        _ => None,
    })
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
