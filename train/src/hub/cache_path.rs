//! Which Hub input a path in the Hugging Face cache holds. The cache that hf-hub and Python's
//! huggingface_hub share keeps every commit of a repo as
//! `{models|datasets}--ORG--NAME/snapshots/COMMIT/PATH/IN/REPO`, so a resolved path names its
//! repo and exact commit by itself: a run records it back as `hf://...@COMMIT`, and an adapter
//! trained on it names `ORG/NAME` as its base, with no other state carried along.

use std::path::{Component, Path};

use super::reference::{HubRef, RepoKind};

/// The pinned reference of a path inside a cache snapshot (the snapshot folder itself is the
/// repo; a path below it is a file), or `None` for any other path.
pub fn cached_ref(path: &Path) -> Option<HubRef> {
    let parts: Vec<&str> = path
        .components()
        .map(|c| match c {
            Component::Normal(name) => name.to_str(),
            _ => Some(""),
        })
        .collect::<Option<_>>()?;
    // The last `snapshots` that follows a repo folder and precedes a commit.
    let at = (1..parts.len().saturating_sub(1)).rev().find(|&i| {
        parts[i] == "snapshots" && repo_folder(parts[i - 1]).is_some() && is_commit(parts[i + 1])
    })?;
    let (kind, id) = repo_folder(parts[at - 1])?;
    let file = parts[at + 2..].join("/");
    Some(HubRef {
        kind,
        id,
        file: (!file.is_empty()).then_some(file),
        revision: Some(parts[at + 1].to_string()),
    })
}

/// `models--ORG--NAME` -> (Model, `ORG/NAME`).
fn repo_folder(name: &str) -> Option<(RepoKind, String)> {
    let (kind, rest) = if let Some(rest) = name.strip_prefix("models--") {
        (RepoKind::Model, rest)
    } else {
        (RepoKind::Dataset, name.strip_prefix("datasets--")?)
    };
    let (org, repo) = rest.split_once("--")?;
    (!org.is_empty() && !repo.is_empty()).then(|| (kind, format!("{org}/{repo}")))
}

/// A full git commit id: 40 lowercase hex digits.
fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn snapshot_paths_name_their_repo_and_commit() {
        let model = format!("/home/u/.cache/huggingface/hub/models--org--name/snapshots/{SHA}");
        assert_eq!(
            cached_ref(Path::new(&model)).unwrap().to_string(),
            format!("hf://org/name@{SHA}")
        );
        let file = format!("/c/datasets--nvidia--Aegis-2.0/snapshots/{SHA}/data/train.json");
        assert_eq!(
            cached_ref(Path::new(&file)).unwrap().to_string(),
            format!("hf://datasets/nvidia/Aegis-2.0/data/train.json@{SHA}")
        );
    }

    #[test]
    fn other_paths_are_not_hub_inputs() {
        for path in [
            "models/smollm2-135m-instruct".to_string(),
            format!("/c/models--org--name/snapshots/{}", &SHA[..39]),
            format!("/c/models-org-name/snapshots/{SHA}"),
            format!("/c/snapshots/{SHA}"),
            "/".to_string(),
        ] {
            assert_eq!(cached_ref(Path::new(&path)), None, "{path}");
        }
    }
}
