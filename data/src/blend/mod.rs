//! Seeded blends of sources, as configured in a run's `[data]` section.
//!
//! [`build_blend`] loads every source, filters, renders and tokenises its examples (dropping or
//! shortening those over `max_seq_len`), holds out validation examples, draws each source's
//! share, and interleaves the sources. The same config, seed and data give the same examples in
//! the same order on any machine and with any number of threads: every random choice uses its own
//! seeded stream, and parallel work keeps input order.

mod allocate;
mod config;
mod decontaminate;
mod filter;
mod output;
mod prepare;
mod report;
mod sample;

pub use config::{
    read_blend_config, BlendConfig, FilterConfig, HeldOut, LabelFilter, SourceConfig, Truncation,
};
pub use output::write_blend_jsonl;
pub use report::{BlendReport, LengthStats, SourceReport};

use crate::error::DataError;
use crate::example::{GuardExample, Policy, Target};
use crate::loaders::{load_source, LoadOptions, OnError};
use crate::tokenize::GuardTokenizer;
use decontaminate::HeldOutTexts;
use prepare::{prepare_all, Preparation, Prepared};
use sha2::{Digest, Sha256};
use std::path::Path;

/// A blend: training examples in training order, validation examples, and the report.
#[derive(Debug, Clone)]
pub struct Blend {
    /// Training examples, interleaved across sources (a source's example may repeat when it is
    /// sampled with replacement).
    pub train: Vec<GuardExample>,
    /// Validation examples, source by source.
    pub validation: Vec<GuardExample>,
    /// What the blend is made of.
    pub report: BlendReport,
}

/// One source after loading and preparation, before sampling.
struct SourcePool {
    train: Vec<Prepared>,
    validation: Vec<Prepared>,
    report: SourceReport,
}

/// Builds the blend `config` describes; relative paths are resolved against `base_dir` (the
/// config file's folder, as [`read_blend_config`] returns it). `tokenizer` is the model's: it
/// renders and measures every example, so the length limit and the hash match what is trained.
///
/// Runs on the current rayon thread pool; wrap the call in `ThreadPool::install` to choose the
/// number of threads (the result is the same for any number).
pub fn build_blend(
    config: &BlendConfig,
    base_dir: &Path,
    tokenizer: &GuardTokenizer,
) -> Result<Blend, DataError> {
    config.validate()?;
    let held_out = HeldOutTexts::load(&config.decontaminate, base_dir)?;
    let mut pools = config
        .sources
        .iter()
        .map(|source| {
            let loading = Loading { config, source, base_dir, held_out: held_out.as_ref() };
            prepare_source(&loading, tokenizer)
        })
        .collect::<Result<Vec<SourcePool>, DataError>>()?;

    let available: Vec<usize> = pools.iter().map(|pool| pool.train.len()).collect();
    let counts = allocate::allocate(config, &available)?;
    let draws: Vec<Vec<usize>> = pools
        .iter()
        .zip(&counts)
        .map(|(pool, &count)| sample::draw(config.seed, &pool.report.name, pool.train.len(), count))
        .collect();

    let mut hasher = Sha256::new();
    let (train, lengths) = draw_train(&mut pools, &draws, &counts, &mut hasher);
    hasher.update(b"validation");
    let validation = pools
        .iter()
        .flat_map(|pool| &pool.validation)
        .map(|prepared| {
            hasher.update(prepared.digest);
            prepared.example.clone()
        })
        .collect::<Vec<_>>();
    let all_lengths: Vec<usize> = lengths.iter().flatten().copied().collect();
    let report = BlendReport {
        seed: config.seed,
        max_seq_len: config.max_seq_len,
        truncation: config.truncation,
        train: train.len(),
        validation: validation.len(),
        hash: hex(&hasher.finalize()),
        token_lengths: LengthStats::of(&all_lengths),
        sources: source_reports(pools, lengths, draws),
    };
    Ok(Blend { train, validation, report })
}

/// The training examples in interleaved order, each source's taken in its `draws` order, fed to
/// `hasher` as they come; and each source's token lengths, for its report.
fn draw_train(
    pools: &mut [SourcePool],
    draws: &[Vec<usize>],
    counts: &[usize],
    hasher: &mut Sha256,
) -> (Vec<GuardExample>, Vec<Vec<usize>>) {
    hasher.update(b"train");
    let mut train = Vec::with_capacity(counts.iter().sum());
    let mut next = vec![0usize; pools.len()];
    let mut lengths: Vec<Vec<usize>> = vec![Vec::new(); pools.len()];
    for source in sample::interleave(counts) {
        let pool = &mut pools[source];
        let prepared = &pool.train[draws[source][next[source]]];
        next[source] += 1;
        hasher.update(prepared.digest);
        lengths[source].push(prepared.num_tokens);
        pool.report.count_train_example(&prepared.example);
        train.push(prepared.example.clone());
    }
    (train, lengths)
}

/// Each source's report, completed with what the blend took from it.
fn source_reports(
    pools: Vec<SourcePool>,
    lengths: Vec<Vec<usize>>,
    draws: Vec<Vec<usize>>,
) -> Vec<SourceReport> {
    pools
        .into_iter()
        .zip(lengths)
        .zip(draws)
        .map(|((pool, lengths), drawn)| {
            let mut report = pool.report;
            report.available = pool.train.len();
            report.train = drawn.len();
            let mut distinct = drawn;
            distinct.sort_unstable();
            distinct.dedup();
            report.distinct_train = distinct.len();
            report.validation = pool.validation.len();
            report.token_lengths = LengthStats::of(&lengths);
            report
        })
        .collect()
}

/// What loading one source needs to know.
struct Loading<'a> {
    config: &'a BlendConfig,
    source: &'a SourceConfig,
    base_dir: &'a Path,
    held_out: Option<&'a HeldOutTexts>,
}

/// Loads, filters and prepares one source, and splits off its validation examples.
fn prepare_source(
    loading: &Loading<'_>,
    tokenizer: &GuardTokenizer,
) -> Result<SourcePool, DataError> {
    let Loading { config, source, base_dir, .. } = *loading;
    let mut report = SourceReport::new(&source.name, source.kind);
    let policy = source
        .policy_file
        .as_ref()
        .map(|file| {
            let path = base_dir.join(file);
            std::fs::read_to_string(&path).map(Policy::Custom).map_err(|e| DataError::io(&path, e))
        })
        .transpose()?;

    let files = source.resolved_paths(base_dir)?;
    let examples = load_filtered(loading, &files, policy.as_ref(), &mut report)?;
    let prepared = prepare_counted(source, examples, config, tokenizer, &mut report)?;

    let (train, validation) = if !source.validation_paths.is_empty() {
        let files: Vec<_> = source.validation_paths.iter().map(|p| base_dir.join(p)).collect();
        let examples = load_filtered(loading, &files, policy.as_ref(), &mut report)?;
        (prepared, prepare_counted(source, examples, config, tokenizer, &mut report)?)
    } else if let Some(fraction) = source.validation_fraction {
        let (train_indices, validation_indices) =
            sample::hold_out(config.seed, &source.name, prepared.len(), fraction);
        let mut slots: Vec<Option<Prepared>> = prepared.into_iter().map(Some).collect();
        let mut take = |indices: Vec<usize>| {
            indices.into_iter().filter_map(|i| slots[i].take()).collect::<Vec<_>>()
        };
        let validation = take(validation_indices);
        (take(train_indices), validation)
    } else {
        (prepared, Vec::new())
    };
    Ok(SourcePool { train, validation, report })
}

/// Loads `files`, applies the source's policy file and filter, drops what holds held-out
/// text, and adds to `report`.
fn load_filtered(
    loading: &Loading<'_>,
    files: &[std::path::PathBuf],
    policy: Option<&Policy>,
    report: &mut SourceReport,
) -> Result<Vec<GuardExample>, DataError> {
    let source = loading.source;
    let options = LoadOptions {
        source_name: Some(source.name.clone()),
        on_error: source.on_error,
        needs_caution: source.needs_caution,
        topic_sampling: source.topic_sampling.unwrap_or_default(),
        seed: loading.config.seed,
    };
    let mut examples = Vec::new();
    for file in files {
        let loaded = load_source(source.kind, file, &options)?;
        examples.extend(loaded.examples);
        report.load.merge(loaded.report);
    }
    if let Some(policy) = policy {
        for example in examples.iter_mut().filter(|e| matches!(e.target, Target::Safety { .. })) {
            example.policy = policy.clone();
        }
    }

    if let Some(filter) = &source.filter {
        let before = examples.len();
        examples.retain(|example| filter.matches(example));
        report.count_skipped("filtered", before - examples.len());
    }
    if let Some(held_out) = loading.held_out {
        let before = examples.len();
        examples.retain(|example| !held_out.touches(example));
        report.count_skipped("decontaminated", before - examples.len());
    }
    Ok(examples)
}

/// Prepares examples, counting those too long or not trainable.
fn prepare_counted(
    source: &SourceConfig,
    examples: Vec<GuardExample>,
    config: &BlendConfig,
    tokenizer: &GuardTokenizer,
    report: &mut SourceReport,
) -> Result<Vec<Prepared>, DataError> {
    let mut ready = Vec::with_capacity(examples.len());
    for preparation in prepare_all(examples, tokenizer, config.max_seq_len, config.truncation)? {
        match preparation {
            Preparation::Ready { prepared, shortened } => {
                report.shortened += usize::from(shortened);
                ready.push(prepared);
            }
            Preparation::TooLong => report.count_skipped("too long", 1),
            Preparation::Untrainable { id, reason } => match source.on_error {
                OnError::Skip => report.count_skipped(&format!("not trainable: {reason}"), 1),
                OnError::Fail => {
                    return Err(DataError::Config(format!(
                        "source {:?}, example `{id}`: {reason} (set on_error = \"skip\" to leave such examples out)",
                        source.name
                    )))
                }
            },
        }
    }
    Ok(ready)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
