//! The `[data]` section of a run config: which sources to mix, how much of each, and how.
//!
//! ```toml
//! [data]
//! seed = 42
//! max_seq_len = 2048
//! truncation = "drop"            # or "shorten"
//! # total_examples = 10000       # optional, see below
//!
//! [[data.sources]]
//! name = "aegis2"
//! kind = "aegis2"
//! paths = ["train.json", "refusals_train.json"]   # or path = "...", or a folder plus split
//! weight = 0.8                   # or count = 8000
//! validation_fraction = 0.02     # or validation_paths = [...]
//! replacement = false
//! on_error = "fail"              # or "skip"
//! [data.sources.filter]
//! label = "unsafe"               # safe, unsafe, on-topic, off-topic
//! categories = ["Violence"]      # keep examples with any of these categories
//! has_response = true
//!
//! [[data.sources]]
//! name = "topic"
//! kind = "canttalkaboutthis"
//! path = "canttalkaboutthis"     # a folder: the published files of `split`
//! split = "train"
//! count = 8000
//! topic_sampling = { on_topic_per_dialogue = 1, off_topic_per_dialogue = 1 }
//!
//! [[data.sources]]
//! name = "aegis1"
//! kind = "aegis1"
//! path = "aegis1/train.json"
//! weight = 0.2
//! needs_caution = "unsafe"       # required for aegis1
//! policy_file = "my_policy.txt"  # replaces the taxonomy in this source's prompts
//! ```
//!
//! How many training examples each source gives:
//! - `count = N`: exactly N.
//! - `weight = w`: a share of the weighted total `W`, proportional to `w` (weights are normalised
//!   over the weighted sources, so they need not sum to 1); shares are rounded by largest
//!   remainder (ties to the earlier source), so they add up to `W` exactly.
//! - `W` is `total_examples` minus the counts when `total_examples` is set. Otherwise it is the
//!   largest total for which no weighted source without `replacement` needs more examples than it
//!   has: the blend uses as much data as the ratios allow.
//!
//! A source gives more examples than it has only with `replacement = true` (its rows are then
//! repeated in whole reshuffled passes); otherwise asking for more is an error.
//!
//! Paths are relative to the config file's folder.

use crate::error::DataError;
use crate::example::Safety;
use crate::loaders::{OnError, SourceKind, TopicSampling};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The `[data]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendConfig {
    /// Seed of every random choice (sampling, validation split, CantTalkAboutThis turns).
    pub seed: u64,
    /// The longest tokenised example (prompt plus answer) allowed.
    pub max_seq_len: usize,
    /// What to do with longer examples.
    #[serde(default)]
    pub truncation: Truncation,
    /// Total training examples; see the module documentation.
    #[serde(default)]
    pub total_examples: Option<usize>,
    /// The sources, in order (the order breaks ties and names report rows).
    pub sources: Vec<SourceConfig>,
    /// Benchmarks whose texts no example of the blend may hold (see the `decontaminate`
    /// module): `decontaminate = [{ kind = "xstest", path = "xstest_prompts.csv" }]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decontaminate: Vec<HeldOut>,
}

/// A benchmark file held out of a blend (`[[data.decontaminate]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldOut {
    /// Which loader reads the file.
    pub kind: SourceKind,
    /// The file; relative paths are relative to the config file.
    pub path: PathBuf,
}

/// What to do with an example longer than `max_seq_len`. The answer is never cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truncation {
    /// Drop it (counted as "too long").
    #[default]
    Drop,
    /// Drop the earliest turns of a multi-turn (topic-following) conversation until it fits,
    /// keeping the user turn being judged; drop it if it still does not fit. Message text is never
    /// cut, since the cut part might be what the label is about.
    Shorten,
}

/// One `[[data.sources]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A unique name, used in reports and as the examples' `source`.
    pub name: String,
    /// Which loader reads the files.
    pub kind: SourceKind,
    /// One file or folder (alternative to `paths`).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Files or folders, read in order.
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// For folders: which published split to read (`train`, `validation`, `test`; see
    /// [`SourceKind::split_files`]).
    #[serde(default)]
    pub split: Option<String>,
    /// Share of the weighted total.
    #[serde(default)]
    pub weight: Option<f64>,
    /// Exact number of training examples.
    #[serde(default)]
    pub count: Option<usize>,
    /// Allow rows to repeat when more are asked for than exist.
    #[serde(default)]
    pub replacement: bool,
    /// Fraction of the source's examples held out for validation (seeded choice).
    #[serde(default)]
    pub validation_fraction: Option<f64>,
    /// Files whose examples are all validation examples.
    #[serde(default)]
    pub validation_paths: Vec<PathBuf>,
    /// Bad rows: fail or skip and count.
    #[serde(default)]
    pub on_error: OnError,
    /// Keep only matching examples.
    #[serde(default)]
    pub filter: Option<FilterConfig>,
    /// aegis1 only (required there): what "Needs Caution" counts as.
    #[serde(default)]
    pub needs_caution: Option<Safety>,
    /// canttalkaboutthis only: examples per dialogue (default one on-topic, one off-topic).
    #[serde(default)]
    pub topic_sampling: Option<TopicSampling>,
    /// A text file whose content replaces the Aegis 2.0 taxonomy in this source's safety prompts.
    #[serde(default)]
    pub policy_file: Option<PathBuf>,
}

/// Which examples a source keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// The example's overall label: `unsafe` when the prompt or the response is unsafe, `safe`
    /// when neither is; `on-topic` / `off-topic` for topic examples.
    #[serde(default)]
    pub label: Option<LabelFilter>,
    /// Keep examples with at least one of these categories (names are normalised).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Keep only examples with (true) or without (false) an assistant response.
    #[serde(default)]
    pub has_response: Option<bool>,
}

/// A label to filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelFilter {
    /// Prompt and response safe.
    Safe,
    /// Prompt or response unsafe.
    Unsafe,
    /// Topic example, on-topic.
    OnTopic,
    /// Topic example, off-topic.
    OffTopic,
}

/// How a source's size is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Amount {
    Weight(f64),
    Count(usize),
}

impl BlendConfig {
    /// Parses a run config and returns its `[data]` section (other sections are ignored here).
    pub fn from_run_toml(text: &str) -> Result<Self, DataError> {
        #[derive(Deserialize)]
        struct RunConfig {
            data: BlendConfig,
        }
        let run: RunConfig = toml::from_str(text).map_err(|e| DataError::Config(e.to_string()))?;
        run.data.validate()?;
        Ok(run.data)
    }

    /// Checks everything that can be checked without reading data. A trainer that embeds
    /// `BlendConfig` in its own config struct should call this after deserialising.
    pub fn validate(&self) -> Result<(), DataError> {
        let fail = |message: String| Err(DataError::Config(message));
        if self.max_seq_len == 0 {
            return fail("max_seq_len must be at least 1".into());
        }
        if self.sources.is_empty() {
            return fail("[[data.sources]] is empty: name at least one source".into());
        }
        let mut names = BTreeSet::new();
        for source in &self.sources {
            if source.name.trim().is_empty() {
                return fail("a source has an empty name".into());
            }
            if !names.insert(source.name.as_str()) {
                return fail(format!(
                    "two sources are named {:?}; names must be unique",
                    source.name
                ));
            }
            source.validate()?;
        }
        let weighted = self.sources.iter().any(|s| s.weight.is_some());
        let counted: usize = self.sources.iter().filter_map(|s| s.count).sum();
        match self.total_examples {
            Some(total) if !weighted && total != counted => fail(format!(
                "total_examples = {total} but every source has a count and they add up to {counted}"
            )),
            Some(total) if total < counted => fail(format!(
                "total_examples = {total} is less than the sources' counts ({counted})"
            )),
            _ => Ok(()),
        }
    }
}

impl SourceConfig {
    /// The source's size setting: exactly one of a positive weight and a positive count.
    pub(crate) fn amount(&self) -> Result<Amount, DataError> {
        let fail =
            |message: String| Err(DataError::Config(format!("source {:?}: {message}", self.name)));
        match (self.weight, self.count) {
            (Some(_), Some(_)) => fail("give weight or count, not both".into()),
            (None, None) => fail("give weight or count".into()),
            (Some(w), None) if !(w.is_finite() && w > 0.0) => {
                fail(format!("weight must be positive, found {w}"))
            }
            (None, Some(0)) => fail("count must be at least 1".into()),
            (Some(w), None) => Ok(Amount::Weight(w)),
            (None, Some(count)) => Ok(Amount::Count(count)),
        }
    }

    fn validate(&self) -> Result<(), DataError> {
        let fail =
            |message: String| Err(DataError::Config(format!("source {:?}: {message}", self.name)));
        self.amount()?;
        if self.path.is_some() != self.paths.is_empty() {
            return fail("give path or paths (one of them)".into());
        }
        if let Some(fraction) = self.validation_fraction {
            if !(0.0..1.0).contains(&fraction) {
                return fail(format!("validation_fraction must be in [0, 1), found {fraction}"));
            }
            if !self.validation_paths.is_empty() {
                return fail("give validation_fraction or validation_paths, not both".into());
            }
        }
        if self.needs_caution.is_some() != (self.kind == SourceKind::Aegis1) {
            return fail(if self.kind == SourceKind::Aegis1 {
                "aegis1 needs needs_caution = \"safe\" or \"unsafe\"".into()
            } else {
                "needs_caution applies only to kind aegis1".into()
            });
        }
        if self.topic_sampling.is_some() && self.kind != SourceKind::CantTalkAboutThis {
            return fail("topic_sampling applies only to kind canttalkaboutthis".into());
        }
        if self.policy_file.is_some() && self.kind == SourceKind::CantTalkAboutThis {
            return fail("policy_file does not apply to canttalkaboutthis: each dialogue brings its own policy".into());
        }
        Ok(())
    }

    /// The files to read, resolved against `base_dir`; folders are expanded with `split`.
    pub(crate) fn resolved_paths(&self, base_dir: &Path) -> Result<Vec<PathBuf>, DataError> {
        let fail =
            |message: String| Err(DataError::Config(format!("source {:?}: {message}", self.name)));
        let mut files = Vec::new();
        let mut used_split = false;
        for path in self.path.iter().chain(&self.paths) {
            let path = base_dir.join(path);
            if !path.is_dir() {
                files.push(path);
                continue;
            }
            let Some(split) = &self.split else {
                return fail(format!(
                    "{} is a folder: add split = \"train\" (or validation, test)",
                    path.display()
                ));
            };
            let Some(names) = self.kind.split_files(split) else {
                return fail(format!(
                    "kind {} has no published file list for split {split:?}; list the files",
                    self.kind
                ));
            };
            files.extend(names.iter().map(|name| path.join(name)));
            used_split = true;
        }
        if self.split.is_some() && !used_split {
            return fail("split selects files inside a folder, but no path is a folder".into());
        }
        Ok(files)
    }
}

/// Reads `CONFIG` (a run config with a `[data]` section) and returns the blend config and the
/// folder its paths are relative to.
pub fn read_blend_config(path: &Path) -> Result<(BlendConfig, PathBuf), DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let config = BlendConfig::from_run_toml(&text).map_err(|e| match e {
        DataError::Config(message) => DataError::Config(format!("{}: {message}", path.display())),
        other => other,
    })?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((config, base_dir))
}
