//! `export --push-to-hub`: the exported folder (adapter or merged model, with its model card)
//! uploaded to a model repo in one commit, through hf-hub's upload API. The repo is created
//! when it does not exist (private with `--private`).

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use hf_hub::{HFError, RepoTypeModel};

use super::client::Hub;
use super::progress::TransferBar;
use super::reference::HubRef;

/// Where an export goes: the repo `--push-to-hub` names, and `--private`.
#[derive(Clone, Debug)]
pub struct PushTarget {
    pub repo: String,
    pub private: bool,
}

/// clap's parser for `--push-to-hub`: a model repo id, `ORG/NAME`, refused before any work.
pub fn parse_repo_id(text: &str) -> Result<String, String> {
    match HubRef::parse_bare_id(text) {
        Some(r) if r.revision.is_none() => Ok(r.id),
        _ => Err(format!("`{text}` is not a model repo id: expected ORG/NAME")),
    }
}

/// Uploads every file of `folder` to `target` as one commit; returns the commit's URL (or the
/// repo's when the Hub gives none).
pub fn push_folder(folder: &Path, target: &PushTarget, message: &str) -> Result<String> {
    let hub = Hub::shared()?;
    let repo_id = &target.repo;
    if hub.offline {
        bail!("--push-to-hub {repo_id}: HF_HUB_OFFLINE is set, and an upload needs the network");
    }
    let explain = |e: HFError| anyhow!("--push-to-hub {repo_id}: {}", push_problem(&e, hub));
    let repo_url = hub
        .client
        .create_repository()
        .repo_id(repo_id)
        .repo_type(RepoTypeModel)
        .private(target.private)
        .exist_ok(true)
        .send()
        .map_err(explain)?;
    // An existing repo keeps its visibility: never upload a "private" guard to a public repo.
    if target.private {
        let info = hub.model(repo_id).info().send().map_err(explain)?;
        if info.private == Some(false) {
            bail!(
                "--push-to-hub {repo_id} --private: the repo exists and is public; make it \
                 private in its settings on the Hub, or push without --private"
            );
        }
    }
    let bar = TransferBar::new(&format!("uploading to {repo_id}"));
    let commit = hub
        .model(repo_id)
        .upload_folder()
        .folder_path(folder)
        .commit_message(message)
        .progress(bar.clone())
        .send()
        .map_err(explain)?;
    bar.finish();
    Ok(commit.commit_url.unwrap_or(repo_url.url))
}

fn push_problem(error: &HFError, hub: &Hub) -> String {
    let tokens = format!("{}/settings/tokens", hub.endpoint);
    match error {
        HFError::AuthRequired { .. } => {
            format!("the Hub needs a login to upload: set HF_TOKEN to a token with write access ({tokens})")
        }
        HFError::Forbidden { .. } => {
            format!("your token may not write to this repo: set HF_TOKEN to a token with write access to it ({tokens})")
        }
        HFError::Request { .. } => {
            format!("cannot reach the Hub at {}: check the network or HF_ENDPOINT", hub.endpoint)
        }
        other => other.to_string().replace('\n', " "),
    }
}
