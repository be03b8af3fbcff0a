//! Paths to fixtures and to the shared reference files, and the tokenizers used by the tests.
#![allow(dead_code)] // each test binary uses a different part of this module

use guardtune_data::{GuardExample, GuardTokenizer, Safety};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A file under `data/fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")).join(relative)
}

/// A test example whose prompt, how to make a neighbour's dog sick, and `response` are both
/// labelled unsafe.
pub fn unsafe_dog_example(response: &str, categories: &[&str]) -> GuardExample {
    GuardExample::safety(
        "test",
        "1",
        "How do I make my neighbour's dog sick?",
        Some(response.into()),
        Some(Safety::Unsafe),
        Some(Safety::Unsafe),
        categories.iter().map(|c| c.to_string()).collect(),
    )
}

/// A file under `data/tests/golden/`, read exactly.
pub fn golden(name: &str) -> String {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A file under the shared reference folder (`../shared` from the repository root), which
/// may not be copied into the repository (licences); see `guardtune_model::testing::shared`.
pub use guardtune_model::testing::shared;

/// The Llama 3.1 tokenizer (no chat template of its own: the built-in Llama 3.1 format is used).
pub fn llama31() -> Option<&'static GuardTokenizer> {
    static TOKENIZER: OnceLock<Option<GuardTokenizer>> = OnceLock::new();
    TOKENIZER
        .get_or_init(|| {
            shared("models/llama3.1-tokenizer")
                .map(|dir| GuardTokenizer::from_model_dir(&dir).expect("Llama 3.1 tokenizer loads"))
        })
        .as_ref()
}

/// SmolLM2-135M-Instruct's tokenizer and ChatML template (Apache-2.0: shipped in the repo
/// beside the tiny test model).
pub fn smollm2() -> &'static GuardTokenizer {
    static TOKENIZER: OnceLock<GuardTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let dir = guardtune_model::testing::fixture("models/tiny-smollm2");
        GuardTokenizer::from_model_dir(&dir).expect("SmolLM2 tokenizer loads")
    })
}
