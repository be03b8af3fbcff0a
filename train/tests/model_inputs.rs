//! Model folders and inputs the model cannot take are refused with a one-line error (exit 1 for a
//! failed job, never a panic's 101): a tokenizer with ids past `vocab_size`, a zero size in
//! config.json, and prompts or rows longer than `max_position_embeddings`, in every command.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{guardtune, small_run_config, stderr};
use guardtune_model::testing::repo_root;

/// A copy of the tiny SmolLM2 fixture (weights linked) whose config.json has `key` set to `value`.
fn model_with(dir: &Path, key: &str, value: serde_json::Value) -> PathBuf {
    let source = repo_root().join("fixtures/models/tiny-smollm2");
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let target = model.join(path.file_name().unwrap());
        if path.file_name().unwrap() == "config.json" {
            let mut config: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            config[key] = value.clone();
            std::fs::write(&target, config.to_string()).unwrap();
        } else {
            std::os::unix::fs::symlink(&path, &target).unwrap();
        }
    }
    model
}

/// Fails as a job (exit 1) with one line on stderr that contains every piece of `expected`.
fn assert_refused(out: &Output, expected: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for piece in expected {
        assert!(err.contains(piece), "{piece:?} not in: {err}");
    }
}

fn classify(model: &Path) -> Output {
    guardtune(&["classify", "--model", model.to_str().unwrap(), "How do I bake bread?"])
}

/// The run config of the common tests, on another model folder.
fn run_config_on(dir: &Path, model: &Path) -> PathBuf {
    let path = small_run_config(dir, 2, "");
    let text = std::fs::read_to_string(&path).unwrap();
    let fixture = repo_root().join("fixtures/models/tiny-smollm2");
    std::fs::write(
        &path,
        text.replace(&fixture.display().to_string(), &model.display().to_string()),
    )
    .unwrap();
    path
}

#[test]
fn a_tokenizer_with_ids_past_vocab_size_is_refused_by_classify_and_train() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_with(dir.path(), "vocab_size", 1000.into());
    let expected = ["vocab_size is 1000", "ids up to 49151", "config.json", "tokenizer.json"];
    assert_refused(&classify(&model), &expected);
    let config = run_config_on(dir.path(), &model);
    assert_refused(&guardtune(&["train", config.to_str().unwrap()]), &expected);
    assert!(!dir.path().join("run").exists(), "nothing written before the check");
}

#[test]
fn a_zero_size_in_config_json_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for key in ["hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads"] {
        let model = model_with(&dir.path().join(key), key, 0.into());
        assert_refused(&classify(&model), &[&format!("{key} is 0"), "config.json"]);
        let generate = guardtune(&["generate", "--model", model.to_str().unwrap(), "Hello"]);
        assert_refused(&generate, &[&format!("{key} is 0")]);
    }
}

#[test]
fn inputs_longer_than_max_position_embeddings_are_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_with(dir.path(), "max_position_embeddings", 64.into());
    let model_arg = model.to_str().unwrap();
    let limit = "max_position_embeddings (64";
    // The guard prompt alone is hundreds of tokens.
    assert_refused(&classify(&model), &["example `1`", "tokens exceed", limit]);
    let xstest = repo_root().join("data/fixtures/xstest/xstest_prompts.csv");
    let eval = guardtune(&[
        "eval",
        "--model",
        model_arg,
        "--benchmark",
        &format!("xstest={}", xstest.display()),
        "--max-examples",
        "2",
        "--out",
        dir.path().join("eval").to_str().unwrap(),
    ]);
    assert_refused(&eval, &["tokens exceed", limit]);
    let long_prompt = "word ".repeat(100);
    let generate = guardtune(&["generate", "--model", model_arg, &long_prompt]);
    assert_refused(&generate, &["the prompt", "tokens exceed", limit]);
    let chat = guardtune(&["generate", "--model", model_arg, "--chat", &long_prompt]);
    assert_refused(&chat, &["the prompt", "tokens exceed", limit]);
    // A prompt that fits, but not with the tokens it may generate after it.
    let short_prompt = "word ".repeat(20);
    let args = ["generate", "--model", model_arg, "--max-new-tokens", "50", &short_prompt];
    assert_refused(&guardtune(&args), &["with up to 50 new tokens", limit]);
    let text = dir.path().join("text.txt");
    std::fs::write(&text, &long_prompt).unwrap();
    let perplexity =
        guardtune(&["perplexity", "--model", model_arg, "--text-file", text.to_str().unwrap()]);
    assert_refused(&perplexity, &["text.txt", "tokens exceed", limit]);
    let config = run_config_on(dir.path(), &model);
    let train = guardtune(&["train", config.to_str().unwrap()]);
    assert_refused(&train, &["data.max_seq_len: 1024 tokens exceed", limit]);
    assert!(!dir.path().join("run").exists(), "nothing written before the check");
}
