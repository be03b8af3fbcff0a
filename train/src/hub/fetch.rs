//! Downloading a Hub input into the standard cache, through hf-hub: only the files guardtune
//! reads, with a progress bar, offline from the cache under `HF_HUB_OFFLINE=1`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use hf_hub::{HFError, HFRepositorySync, RepoType};

use super::cache_path::cached_ref;
use super::client::Hub;
use super::errors::explain;
use super::progress::TransferBar;
use super::reference::{is_repo_path, HubRef, RepoKind};

/// What an input stands for: which files of its repo are fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// A Hugging Face model folder: config, generation config, tokenizer, chat template,
    /// safetensors (one file or an index and its shards).
    Model,
    /// A PEFT adapter folder.
    Adapter,
    /// One file (a data file, a benchmark): the reference names it.
    File,
}

impl Wanted {
    /// What the config key `key` takes: `model.path` a model, `lora.init_from` an adapter,
    /// every other path key a file.
    pub fn for_key(key: &str) -> Wanted {
        match key {
            "model.path" => Wanted::Model,
            "lora.init_from" => Wanted::Adapter,
            _ => Wanted::File,
        }
    }
}

/// The files of a model folder besides the weights; only `config.json` must exist.
const MODEL_FILES: [(&str, bool); 6] = [
    ("config.json", true),
    ("generation_config.json", false),
    ("tokenizer.json", false),
    ("tokenizer_config.json", false),
    ("special_tokens_map.json", false),
    // transformers 4.43+ may keep the chat template here rather than in tokenizer_config.json.
    ("chat_template.jinja", false),
];
const ADAPTER_FILES: [(&str, bool); 2] =
    [("adapter_config.json", true), ("adapter_model.safetensors", true)];
const WEIGHTS_INDEX: &str = "model.safetensors.index.json";
const WEIGHTS: &str = "model.safetensors";

/// The local path of `reference`: the snapshot folder of a repo, or the file; absolute (a
/// relative `HF_HOME` would otherwise be read against a config's folder) and inside a cache
/// snapshot, so that it names its commit (`cached_ref`).
pub fn fetch(reference: &HubRef, wanted: Wanted) -> Result<PathBuf> {
    let hub = Hub::shared()?;
    let local = match reference.kind {
        RepoKind::Model => fetch_from(hub, &hub.model(&reference.id), reference, wanted),
        RepoKind::Dataset => fetch_from(hub, &hub.dataset(&reference.id), reference, wanted),
    }
    .map_err(|e| anyhow!(explain(&e, reference, hub)))?;
    let local = std::path::absolute(&local)?;
    if cached_ref(&local).is_none() {
        bail!("{reference}: hf-hub returned {}, outside a cache snapshot", local.display());
    }
    Ok(local)
}

fn fetch_from<T: RepoType>(
    hub: &Hub,
    repo: &HFRepositorySync<T>,
    reference: &HubRef,
    wanted: Wanted,
) -> Result<PathBuf, HFError> {
    let bar = TransferBar::new(&reference.to_string());
    // After the first file, the rest are asked for at the commit it came from (its snapshot
    // folder's name): a repo that moves on during the download cannot mix two commits.
    let mut commit: Option<String> = None;
    let mut get = |file: &str| -> Result<PathBuf, HFError> {
        let path = repo
            .download_file()
            .filename(file)
            .maybe_revision(commit.clone().or_else(|| reference.revision.clone()))
            .local_files_only(hub.offline)
            .progress(bar.clone())
            .send()?;
        if commit.is_none() {
            commit = cached_ref(&path).and_then(|pinned| pinned.revision);
        }
        Ok(path)
    };
    if let Some(file) = &reference.file {
        let path = get(file).map_err(|e| diagnose(repo, reference, e))?;
        bar.finish();
        return Ok(path);
    }
    // A whole repo: a model, or else an adapter (`resolve` refuses a repo where a file is wanted).
    let files: &[(&str, bool)] =
        if wanted == Wanted::Model { &MODEL_FILES } else { &ADAPTER_FILES };
    let mut snapshot = None;
    for (i, &(file, required)) in files.iter().enumerate() {
        match get(file).map_err(|e| if i == 0 { diagnose(repo, reference, e) } else { e }) {
            // Top-level files: their folder is the snapshot.
            Ok(path) => snapshot = snapshot.or(path.parent().map(Path::to_path_buf)),
            Err(e) if !required && is_absent(&e) => {}
            Err(e) => return Err(e),
        }
    }
    if wanted == Wanted::Model {
        match get(WEIGHTS_INDEX) {
            Ok(index) => {
                for shard in shards(&index)? {
                    get(&shard)?;
                }
            }
            Err(e) if is_absent(&e) => {
                get(WEIGHTS)?;
            }
            Err(e) => return Err(e),
        }
    }
    bar.finish();
    Ok(snapshot.expect("the first file is required"))
}

/// What a missing first file means. hf-hub answers every 404 of a download with
/// `EntryNotFound`, whether the file, the revision or (with a token) the whole repo is missing:
/// two cheap questions to the Hub tell which.
fn diagnose<T: RepoType>(
    repo: &HFRepositorySync<T>,
    reference: &HubRef,
    error: HFError,
) -> HFError {
    if !matches!(error, HFError::EntryNotFound { .. }) {
        return error;
    }
    let repo_id = reference.id.clone();
    if let Ok(false) = repo.exists().send() {
        return HFError::RepoNotFound { repo_id, context: None };
    }
    match &reference.revision {
        Some(revision) if matches!(repo.revision_exists().revision(revision).send(), Ok(false)) => {
            HFError::RevisionNotFound { repo_id, revision: revision.clone(), context: None }
        }
        _ => error,
    }
}

/// The repo has no such file (or, offline, the cache never saw one).
fn is_absent(e: &HFError) -> bool {
    matches!(e, HFError::EntryNotFound { .. } | HFError::LocalEntryNotFound { .. })
}

/// The shard files a safetensors index names, each once.
fn shards(index: &Path) -> Result<Vec<String>, HFError> {
    let text = std::fs::read_to_string(index)?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| HFError::Other(format!("{}: no `weight_map` object", index.display())))?;
    let mut files = Vec::new();
    for name in map.values().filter_map(|v| v.as_str()) {
        // The index comes from the repo: a shard outside the repo's folder is refused.
        if !is_repo_path(name) {
            return Err(HFError::Other(format!(
                "{}: shard `{name}` is not a file inside the repo",
                index.display()
            )));
        }
        files.push(name.to_string());
    }
    files.sort();
    files.dedup();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_naming_a_shard_outside_the_repo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join(WEIGHTS_INDEX);
        let write = |map: serde_json::Value| {
            std::fs::write(&index, serde_json::json!({ "weight_map": map }).to_string()).unwrap()
        };
        write(
            serde_json::json!({ "a": "model-1.safetensors", "b": "model-1.safetensors", "c": "sub/model-2.safetensors" }),
        );
        assert_eq!(shards(&index).unwrap(), ["model-1.safetensors", "sub/model-2.safetensors"]);
        for bad in ["../../.bashrc", "/etc/passwd", "a//b", "./x"] {
            write(serde_json::json!({ "a": bad }));
            let err = shards(&index).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("not a file inside the repo"), "{err}");
        }
    }
}
