//! Guard training data for guardtune: the Aegis 2.0 recipe's data side.
//!
//! - [`GuardExample`]: one type for every example: a conversation, the [`Policy`] it is judged
//!   against, and the [`Target`] verdict.
//! - [`load_source`]: loaders for Aegis 2.0, Aegis 1.0, CantTalkAboutThis, the OpenAI moderation,
//!   XSTest, SimpleSafetyTests, ToxicChat and GuardReasoner benchmark files, and the user's own
//!   rows, chosen by [`SourceKind`].
//! - [`render_guard_prompt`], [`render_target`], [`render_answer`], [`render_prompt_messages`]: the NemoGuard
//!   content-safety and topic-control prompts and answers; [`parse_verdict`] reads answers back.
//! - [`ChatTemplate`], [`GuardTokenizer`]: the model's own chat template (minijinja) and
//!   tokenizer, with labels on the answer only ([`Tokenized`]).
//! - [`BlendConfig`], [`build_blend`], [`BlendReport`], [`write_blend_jsonl`]: seeded,
//!   reproducible blends from a TOML `[data]` section, with a report and a hash.
//!
//! The crate stands alone: it depends on no other guardtune crate and no tensor library.

#![warn(missing_docs)]

mod blend;
mod chat_template;
mod error;
mod example;
mod jinja_functions;
mod loaders;
mod plain_text;
mod prompt;
mod rows;
pub mod seeding;
pub mod taxonomy;
mod tokenize;
mod verdict;

pub use blend::{
    build_blend, read_blend_config, write_blend_jsonl, Blend, BlendConfig, BlendReport,
    FilterConfig, HeldOut, LabelFilter, LengthStats, SourceConfig, SourceReport, Truncation,
};
pub use chat_template::{ChatTemplate, TemplateOrigin, LLAMA31_TEMPLATE};
pub use error::{DataError, RowError};
pub use example::{GuardExample, Policy, Role, Safety, Target, Topic, Turn};
pub use loaders::{
    load_source, LoadOptions, LoadReport, LoadedSource, OnError, SourceKind, TopicSampling,
};
pub use prompt::{
    policy_text, render_answer, render_guard_prompt, render_prompt_messages, render_target,
    render_topic_system_prompt, taxonomy_block, Answer, TOPIC_OUTPUT_RESTRICTION,
};
pub use tokenize::{GuardTokenizer, RenderedExample, Tokenized, IGNORE_INDEX};
pub use verdict::{parse_verdict, Verdict, VerdictError};
