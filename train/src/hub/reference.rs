//! A Hub input as users write it: `hf://ORG/NAME[@REVISION]` (a model or adapter repo),
//! `hf://ORG/NAME/PATH[@REVISION]` (one file of a model repo),
//! `hf://datasets/ORG/NAME/PATH[@REVISION]` (one file of a dataset repo), and a bare
//! `ORG/NAME[@REVISION]`, which transformers and PEFT take for a model.

use std::fmt;

/// The two kinds of repo guardtune reads: the Hub keeps them in separate namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoKind {
    Model,
    Dataset,
}

impl RepoKind {
    /// The word the Hub's URLs and cache folders use: `models`, `datasets`.
    pub fn plural(self) -> &'static str {
        match self {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        }
    }
}

/// One repo, or one file in it, at a revision (`None`: the default branch, `main`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubRef {
    pub kind: RepoKind,
    /// `ORG/NAME`.
    pub id: String,
    /// A file in the repo (`/`-separated), or `None` for the repo as a model or adapter folder.
    pub file: Option<String>,
    pub revision: Option<String>,
}

/// What starts every Hub reference.
pub const SCHEME: &str = "hf://";

impl HubRef {
    /// `Some` when `text` starts with `hf://`: the reference, or why it is malformed. The
    /// revision may also follow NAME, as huggingface_hub's `HfFileSystem` writes it
    /// (`hf://datasets/ORG/NAME@REV/PATH`), the one form for a file whose name has an `@`.
    pub fn parse(text: &str) -> Option<Result<HubRef, String>> {
        let rest = text.strip_prefix(SCHEME)?;
        let malformed = |why: &str| {
            Err(format!(
                "`{text}` is not a Hub reference ({why}); expected hf://ORG/NAME[@REVISION] or \
                 hf://datasets/ORG/NAME/PATH/IN/REPO[@REVISION]"
            ))
        };
        let (kind, rest) = match rest.strip_prefix("datasets/") {
            Some(rest) => (RepoKind::Dataset, rest),
            None => (RepoKind::Model, rest),
        };
        let mut parts = rest.splitn(3, '/');
        let (Some(org), Some(name)) = (parts.next(), parts.next()) else {
            return Some(malformed("no ORG/NAME"));
        };
        let (name, mut revision) = split_at_sign(name);
        let mut file = parts.next().filter(|f| !f.is_empty()).map(str::to_string);
        if let (None, Some(path)) = (&revision, &file) {
            let (path, trailing) = split_revision(path);
            (file, revision) = (Some(path.to_string()), trailing);
        }
        if revision.as_deref() == Some("") {
            return Some(malformed("an empty revision after `@`"));
        }
        if !is_hub_name(org) || !is_hub_name(name) {
            return Some(malformed("ORG and NAME take letters, digits, `-`, `_` and `.`"));
        }
        if file.as_deref().is_some_and(|f| !is_repo_path(f)) {
            return Some(malformed("an empty, `.` or `..` part in the file's path"));
        }
        if kind == RepoKind::Dataset && file.is_none() {
            return Some(malformed("a dataset reference names a file in the repo"));
        }
        Some(Ok(HubRef { kind, id: format!("{org}/{name}"), file, revision }))
    }

    /// A bare model id, `ORG/NAME[@REVISION]`, as transformers takes it: two plain names, no
    /// leading `.`. (Whether a local path of that name exists is for the caller to check first.)
    pub fn parse_bare_id(text: &str) -> Option<HubRef> {
        let (org, rest) = text.split_once('/')?;
        let (name, revision) = split_at_sign(rest);
        (is_hub_name(org) && is_hub_name(name) && revision.as_deref() != Some("")).then(|| HubRef {
            kind: RepoKind::Model,
            id: format!("{org}/{name}"),
            file: None,
            revision,
        })
    }

    /// The repo's page, where a gated model's licence is accepted.
    pub fn page(&self, endpoint: &str) -> String {
        match self.kind {
            RepoKind::Model => format!("{endpoint}/{}", self.id),
            RepoKind::Dataset => format!("{endpoint}/datasets/{}", self.id),
        }
    }
}

impl fmt::Display for HubRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCHEME)?;
        if self.kind == RepoKind::Dataset {
            f.write_str("datasets/")?;
        }
        f.write_str(&self.id)?;
        // A branch such as `refs/pr/1` keeps its slashes encoded, as the Hub's URLs do.
        let revision = self.revision.as_ref().map(|r| format!("@{}", r.replace('/', "%2F")));
        let revision = revision.as_deref().unwrap_or("");
        match &self.file {
            // After NAME when the file's name has an `@` of its own, else at the end.
            Some(file) if file.contains('@') => write!(f, "{revision}/{file}"),
            Some(file) => write!(f, "/{file}{revision}"),
            None => f.write_str(revision),
        }
    }
}

/// `(NAME, revision)` of `NAME[@REVISION]`; `%2F` in the revision stands for `/`.
fn split_at_sign(text: &str) -> (&str, Option<String>) {
    match text.split_once('@') {
        Some((name, revision)) => (name, Some(decode_revision(revision))),
        None => (text, None),
    }
}

fn decode_revision(revision: &str) -> String {
    revision.replace("%2F", "/").replace("%2f", "/")
}

/// `(path, revision)` of `PATH[@REVISION]`: the revision follows the last `@` of the last
/// path segment.
fn split_revision(path: &str) -> (&str, Option<String>) {
    let last_segment = path.rfind('/').map_or(0, |i| i + 1);
    match path[last_segment..].rfind('@') {
        Some(at) => {
            let at = last_segment + at;
            (&path[..at], Some(decode_revision(&path[at + 1..])))
        }
        None => (path, None),
    }
}

/// A path inside a repo: relative, `/`-separated, no empty, `.` or `..` part (so that it stays
/// inside the repo's folder in the cache). Also what a safetensors index may name as a shard.
pub fn is_repo_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

/// A Hub user, organisation or repo name: letters, digits, `-`, `_`, `.`, not starting with
/// `.` or `-`.
fn is_hub_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> HubRef {
        HubRef::parse(text).expect("hf://").expect("valid")
    }

    #[test]
    fn every_form_parses_and_prints_back() {
        for text in [
            "hf://meta-llama/Llama-3.1-8B-Instruct",
            "hf://HuggingFaceTB/SmolLM2-135M-Instruct@main",
            "hf://org/name@0123456789abcdef0123456789abcdef01234567",
            "hf://org/name/tokenizer.json",
            "hf://datasets/nvidia/Aegis-AI-Content-Safety-Dataset-2.0/train.json",
            "hf://datasets/nvidia/CantTalkAboutThis-Topic-Control-Dataset/data/train.jsonl@v1.0",
            "hf://org/name@refs%2Fpr%2F1",
        ] {
            assert_eq!(parsed(text).to_string(), text);
        }
        let r = parsed("hf://datasets/o/n/a/b.json@refs%2Fpr%2F3");
        assert_eq!(r.kind, RepoKind::Dataset);
        assert_eq!((r.id.as_str(), r.file.as_deref()), ("o/n", Some("a/b.json")));
        assert_eq!(r.revision.as_deref(), Some("refs/pr/3"));
        assert_eq!(parsed("hf://o/n").file, None);
        // huggingface_hub's HfFileSystem form: the revision after NAME.
        let r = parsed("hf://datasets/o/n@v1/train.json");
        assert_eq!((r.file.as_deref(), r.revision.as_deref()), (Some("train.json"), Some("v1")));
        assert_eq!(r.to_string(), "hf://datasets/o/n/train.json@v1");
        let r = parsed("hf://datasets/o/n@main/x@2.json");
        assert_eq!((r.file.as_deref(), r.revision.as_deref()), (Some("x@2.json"), Some("main")));
        assert_eq!(r.to_string(), "hf://datasets/o/n@main/x@2.json");
    }

    #[test]
    fn malformed_references_say_what_is_expected() {
        for text in [
            "hf://",
            "hf://org",
            "hf://org/",
            "hf://datasets/org/name",
            "hf://org/name@",
            "hf://org/na me",
            "hf://.org/name",
            "hf://org/name/../x",
        ] {
            let err = HubRef::parse(text).expect("hf://").expect_err(text);
            assert!(err.contains(text) && err.contains("expected hf://ORG/NAME"), "{err}");
        }
        assert!(HubRef::parse("models/org/name").is_none());
    }

    #[test]
    fn bare_ids_are_two_plain_names() {
        let r = HubRef::parse_bare_id("HuggingFaceTB/SmolLM2-135M-Instruct@main").unwrap();
        assert_eq!(r.to_string(), "hf://HuggingFaceTB/SmolLM2-135M-Instruct@main");
        let r = HubRef::parse_bare_id("o/n@refs/pr/1").unwrap();
        assert_eq!(r.revision.as_deref(), Some("refs/pr/1"));
        for text in ["models/a/b", "./org/name", "../org/name", "/org/name", "name", "org/", "o/n@"]
        {
            assert_eq!(HubRef::parse_bare_id(text), None, "{text}");
        }
    }
}
