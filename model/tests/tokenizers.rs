//! Every case of golden/tokenizer_cases.json, for the four tokenizers.

use guardtune_model::testing::{fixture, shared};
use guardtune_model::Tokenizer;
use serde_json::Value;

fn check(cases_key: &str, model_dir: &std::path::Path) {
    let text = std::fs::read_to_string(fixture("golden/tokenizer_cases.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    let entry = &all[cases_key];
    let tokenizer = Tokenizer::from_model_dir(model_dir).unwrap();
    assert_eq!(
        tokenizer.vocab_size() as u64,
        entry["vocab_size_with_added"].as_u64().unwrap(),
        "{cases_key}"
    );
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
    };
    let cases = entry["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            tokenizer.encode(text, false).unwrap(),
            ids(&case["ids"]),
            "{cases_key}: {text:?}"
        );
        assert_eq!(
            tokenizer.encode(text, true).unwrap(),
            ids(&case["ids_with_special"]),
            "{cases_key}: {text:?} with special tokens"
        );
        if let Some(decoded) = case["decoded"].as_str() {
            assert_eq!(
                tokenizer.decode(&ids(&case["ids"]), false).unwrap(),
                decoded,
                "{cases_key}: decode {text:?}"
            );
        }
    }
}

#[test]
fn stories260k_tokenizer() {
    check("stories260K", &fixture("models/stories260K"));
}

#[test]
fn llama31_tokenizer() {
    if let Some(dir) = shared("models/llama3.1-tokenizer") {
        check("llama3.1-tokenizer", &dir);
    }
}

#[test]
fn llama2_tokenizer() {
    // Llama 2's tokenizer (its licence keeps it out of the repo).
    if let Some(dir) = shared("models/llama2-tiny-random") {
        check("llama2-tokenizer", &dir);
    }
}

#[test]
fn smollm2_tokenizer() {
    // SmolLM2's tokenizer files, shipped beside the tiny test model.
    check("smollm2-135m-instruct", &fixture("models/tiny-smollm2"));
}

#[test]
fn special_tokens_come_from_the_config_files() {
    let stories = Tokenizer::from_model_dir(&fixture("models/stories260K")).unwrap();
    assert_eq!(
        (stories.bos_id, stories.eos_id, stories.stop_ids.clone()),
        (Some(1), Some(2), vec![2])
    );
    let smol = Tokenizer::from_model_dir(&fixture("models/tiny-smollm2")).unwrap();
    assert_eq!((smol.eos_id, smol.pad_id), (Some(2), 2));
    assert_eq!(smol.stop_ids, vec![2]);
}
