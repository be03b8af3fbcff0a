//! Loaders for the published files, chosen by [`SourceKind`], behind one entry point,
//! [`load_source`]. Each kind's module turns one row into examples; the driver here reads the
//! rows, applies `on_error`, and counts what was skipped and why.

mod aegis1;
mod aegis2;
mod canttalkaboutthis;
mod guardreasoner;
mod labels;
mod openai_moderation;
mod simplesafetytests;
mod toxicchat;
mod user_jsonl;
mod xstest;

use crate::error::{DataError, RowError};
use crate::example::{GuardExample, Safety};
use crate::rows::{read_rows, Fields};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The published data sets this crate reads, plus the user's own rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SourceKind {
    /// Aegis 2.0 (`nvidia/Aegis-AI-Content-Safety-Dataset-2.0`): the 9 published fields.
    #[serde(rename = "aegis2")]
    Aegis2,
    /// Aegis 1.0: `text`, `text_type`, `labels_0`..`labels_4`, majority vote.
    #[serde(rename = "aegis1")]
    Aegis1,
    /// CantTalkAboutThis topic-following dialogues.
    #[serde(rename = "canttalkaboutthis")]
    CantTalkAboutThis,
    /// OpenAI moderation evaluation set (`samples-1680.jsonl.gz`).
    #[serde(rename = "openai-moderation")]
    OpenAiModeration,
    /// XSTest prompts (`xstest_prompts.csv`).
    #[serde(rename = "xstest")]
    XsTest,
    /// SimpleSafetyTests (`test_cases.csv`).
    #[serde(rename = "simplesafetytests")]
    SimpleSafetyTests,
    /// ToxicChat as a JSON array of `{text, label, source, category}`.
    #[serde(rename = "toxicchat")]
    ToxicChat,
    /// Any benchmark file in GuardReasoner's `{instruction, input, output}` format.
    #[serde(rename = "guardreasoner")]
    GuardReasoner,
    /// The user's own rows: `{prompt, response?, prompt_label, response_label?, categories?, id?}`.
    #[serde(rename = "jsonl")]
    Jsonl,
}

impl SourceKind {
    /// Every kind, in documentation order.
    pub const ALL: [SourceKind; 9] = [
        SourceKind::Aegis2,
        SourceKind::Aegis1,
        SourceKind::CantTalkAboutThis,
        SourceKind::OpenAiModeration,
        SourceKind::XsTest,
        SourceKind::SimpleSafetyTests,
        SourceKind::ToxicChat,
        SourceKind::GuardReasoner,
        SourceKind::Jsonl,
    ];

    /// The name used in configs (`aegis2`, `openai-moderation`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Aegis2 => "aegis2",
            SourceKind::Aegis1 => "aegis1",
            SourceKind::CantTalkAboutThis => "canttalkaboutthis",
            SourceKind::OpenAiModeration => "openai-moderation",
            SourceKind::XsTest => "xstest",
            SourceKind::SimpleSafetyTests => "simplesafetytests",
            SourceKind::ToxicChat => "toxicchat",
            SourceKind::GuardReasoner => "guardreasoner",
            SourceKind::Jsonl => "jsonl",
        }
    }

    /// The published file names of `split` (`train`, `validation`, `test`), for kinds whose
    /// download folder has a fixed layout; used when a blend source points at a folder.
    pub fn split_files(self, split: &str) -> Option<&'static [&'static str]> {
        match (self, split) {
            (SourceKind::Aegis2, "train") => Some(&["train.json", "refusals_train.json"]),
            (SourceKind::Aegis2, "validation") => {
                Some(&["validation.json", "refusals_validation.json"])
            }
            (SourceKind::Aegis2, "test") => Some(&["test.json"]),
            (SourceKind::CantTalkAboutThis, "train") => {
                Some(&["canttalkaboutthis_topic_control_mixtral.jsonl"])
            }
            (SourceKind::CantTalkAboutThis, "test") => {
                Some(&["canttalkaboutthis_topic_control_human_test_set.jsonl"])
            }
            _ => None,
        }
    }

    fn row_parser(self) -> RowParser {
        match self {
            SourceKind::Aegis2 => aegis2::parse_row,
            SourceKind::Aegis1 => aegis1::parse_row,
            SourceKind::CantTalkAboutThis => canttalkaboutthis::parse_row,
            SourceKind::OpenAiModeration => openai_moderation::parse_row,
            SourceKind::XsTest => xstest::parse_row,
            SourceKind::SimpleSafetyTests => simplesafetytests::parse_row,
            SourceKind::ToxicChat => toxicchat::parse_row,
            SourceKind::GuardReasoner => guardreasoner::parse_row,
            SourceKind::Jsonl => user_jsonl::parse_row,
        }
    }
}

impl std::str::FromStr for SourceKind {
    type Err = DataError;

    fn from_str(name: &str) -> Result<Self, DataError> {
        SourceKind::ALL.into_iter().find(|kind| kind.name() == name).ok_or_else(|| {
            let names: Vec<&str> = SourceKind::ALL.iter().map(|kind| kind.name()).collect();
            DataError::Config(format!(
                "unknown source kind {name:?}; expected one of {}",
                names.join(", ")
            ))
        })
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop with the row's error (the default).
    #[default]
    Fail,
    /// Skip the row and count it in the report.
    Skip,
}

/// How many CantTalkAboutThis examples to cut from each dialogue. Candidates are the dialogue's
/// user turns (each with the turns before it); the choice among them is seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSampling {
    /// On-topic examples per dialogue (fewer when the dialogue has fewer candidates).
    pub on_topic_per_dialogue: usize,
    /// Off-topic (distractor) examples per dialogue.
    pub off_topic_per_dialogue: usize,
}

impl Default for TopicSampling {
    /// One of each: the blend stays balanced between on- and off-topic.
    fn default() -> Self {
        TopicSampling { on_topic_per_dialogue: 1, off_topic_per_dialogue: 1 }
    }
}

/// Options for [`load_source`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The name examples carry in [`GuardExample::source`]; the file name when `None`.
    pub source_name: Option<String>,
    /// Bad rows: fail (default) or skip and count.
    pub on_error: OnError,
    /// Aegis 1.0 only, and required there: the label an annotator's "Needs Caution" counts as
    /// ("unsafe" reproduces Aegis-Guard-Defensive, "safe" Aegis-Guard-Permissive). Ties between
    /// safe and unsafe votes resolve the same way.
    pub needs_caution: Option<Safety>,
    /// CantTalkAboutThis only: examples per dialogue.
    pub topic_sampling: TopicSampling,
    /// Seed for choices made while loading (CantTalkAboutThis turns).
    pub seed: u64,
}

/// What loading found, row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// Files read, in order.
    pub files: Vec<String>,
    /// Rows in the files (dialogues for CantTalkAboutThis).
    pub rows_read: usize,
    /// Examples produced.
    pub examples: usize,
    /// Rows not turned into examples, by reason (for example "REDACTED prompt", "bad row").
    pub skipped: BTreeMap<String, usize>,
    /// The first bad rows' errors, verbatim (at most [`LoadReport::LISTED_BAD_ROWS`]).
    pub bad_rows: Vec<String>,
    /// Rows that were used but adjusted, by what was done.
    pub notes: BTreeMap<String, usize>,
    /// Category names that are not Aegis 2.0 template names, with how often they occurred. They
    /// are kept in the target as written.
    pub unknown_categories: BTreeMap<String, usize>,
}

impl LoadReport {
    /// How many bad-row messages are kept verbatim.
    pub const LISTED_BAD_ROWS: usize = 10;

    /// Adds `other`'s counts to this report (loading several files into one source).
    pub fn merge(&mut self, other: LoadReport) {
        self.files.extend(other.files);
        self.rows_read += other.rows_read;
        self.examples += other.examples;
        merge_counts(&mut self.skipped, other.skipped);
        merge_counts(&mut self.notes, other.notes);
        merge_counts(&mut self.unknown_categories, other.unknown_categories);
        let room = Self::LISTED_BAD_ROWS.saturating_sub(self.bad_rows.len());
        self.bad_rows.extend(other.bad_rows.into_iter().take(room));
    }

    pub(crate) fn count_skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
    }

    pub(crate) fn count_note(&mut self, note: &str) {
        *self.notes.entry(note.to_string()).or_default() += 1;
    }

    fn record_bad_row(&mut self, error: RowError) {
        self.count_skip("bad row");
        if self.bad_rows.len() < Self::LISTED_BAD_ROWS {
            self.bad_rows.push(error.to_string());
        }
    }
}

fn merge_counts(into: &mut BTreeMap<String, usize>, from: BTreeMap<String, usize>) {
    for (key, count) in from {
        *into.entry(key).or_default() += count;
    }
}

/// The examples of one file and the report on reading it.
#[derive(Debug, Clone)]
pub struct LoadedSource {
    /// Examples in file order.
    pub examples: Vec<GuardExample>,
    /// What was read, skipped and adjusted.
    pub report: LoadReport,
}

/// Loads one file of the given kind.
///
/// Bad rows fail with an error naming file, row and field, or are skipped and counted when
/// `options.on_error` is [`OnError::Skip`]. Unreadable files always fail.
pub fn load_source(
    kind: SourceKind,
    path: &Path,
    options: &LoadOptions,
) -> Result<LoadedSource, DataError> {
    if kind == SourceKind::Aegis1 && options.needs_caution.is_none() {
        return Err(DataError::Config(
            "aegis1 needs a choice for \"Needs Caution\" annotations: needs_caution = \"safe\" or \"unsafe\"".into(),
        ));
    }
    let records = read_rows(path)?;
    let file = path.display().to_string();
    let file_name =
        path.file_name().map_or_else(|| file.clone(), |name| name.to_string_lossy().into_owned());
    let source = options.source_name.clone().unwrap_or_else(|| file_name.clone());
    let parse = kind.row_parser();
    let mut report = LoadReport { files: vec![file.clone()], ..LoadReport::default() };
    let mut examples = Vec::new();
    for record in records {
        report.rows_read += 1;
        let outcome = record.fields.and_then(|map| {
            let fields = Fields::new(&file, record.row, &map);
            let mut row =
                RowContext { source: &source, file_name: &file_name, options, report: &mut report };
            parse(&fields, &mut row)
        });
        match outcome {
            Ok(RowOutcome::Examples(produced)) => examples.extend(produced),
            Ok(RowOutcome::Skip(reason)) => report.count_skip(reason),
            Err(error) => match options.on_error {
                OnError::Fail => return Err(error.into()),
                OnError::Skip => report.record_bad_row(error),
            },
        }
    }
    report.examples = examples.len();
    Ok(LoadedSource { examples, report })
}

/// What a row parser returns for a well-formed row.
pub(crate) enum RowOutcome {
    /// The row's examples (one, except CantTalkAboutThis dialogues).
    Examples(Vec<GuardExample>),
    /// A valid row that is deliberately not used, with the reason counted in the report.
    Skip(&'static str),
}

/// Everything a row parser may need besides the row itself.
pub(crate) struct RowContext<'a> {
    pub source: &'a str,
    pub file_name: &'a str,
    pub options: &'a LoadOptions,
    pub report: &'a mut LoadReport,
}

impl RowContext<'_> {
    /// The row's id when the data has none: `FILE_NAME:ROW` (file name only, so ids do not
    /// depend on where the data lives).
    pub fn default_id(&self, row: usize) -> String {
        format!("{}:{row}", self.file_name)
    }

    /// The row's one example, from this source (every kind but CantTalkAboutThis makes one
    /// example a row).
    pub fn example(
        &self,
        id: String,
        prompt: &str,
        response: Option<String>,
        user: Option<Safety>,
        response_label: Option<Safety>,
        categories: Vec<String>,
    ) -> RowOutcome {
        let example = GuardExample::safety(
            self.source,
            id,
            prompt,
            response,
            user,
            response_label,
            categories,
        );
        RowOutcome::Examples(vec![example])
    }
}

type RowParser = fn(&Fields, &mut RowContext) -> Result<RowOutcome, RowError>;
