//! SmolLM2-135M-Instruct, a real pretrained model (bf16 weights), against transformers.
//!
//! Opt-in because the checkpoint is built by scripts/fetch-smollm2.sh (a 100 MB download):
//! set GUARDTUNE_SMOLLM2=/path/to/the/folder it wrote.

use std::path::PathBuf;

use burn::backend::Flex;
use burn::tensor::Tensor;
use guardtune_model::testing::{fixture, max_abs_diff, opt_in, GoldenTensors};
use guardtune_model::{generate_greedy, load_model, Batch, Tokenizer};

type B = Flex;

fn smollm2_dir() -> Option<PathBuf> {
    opt_in("GUARDTUNE_SMOLLM2", "the folder scripts/fetch-smollm2.sh wrote").map(PathBuf::from)
}

#[test]
fn smollm2_matches_transformers() {
    let Some(dir) = smollm2_dir() else { return };
    let golden = GoldenTensors::open(&fixture("golden/real/smollm2-135m-instruct.safetensors"));
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("golden/real/smollm2-135m-instruct.json")).unwrap(),
    )
    .unwrap();
    let device = Default::default();
    let (cfg, model) = load_model::<B>(&dir, &device).unwrap();
    let tokenizer = Tokenizer::from_model_dir(&dir).unwrap();

    let ids: Vec<u32> = golden.ints("input_ids").into_iter().map(|v| v as u32).collect();
    assert_eq!(tokenizer.encode(record["prompt_text"].as_str().unwrap(), true).unwrap(), ids);

    let logits = model.forward(&Batch::<B>::right_padded(std::slice::from_ref(&ids), 0, &device));
    let seq = ids.len();
    let vocab = cfg.vocab_size;
    let top8: Vec<i64> = logits
        .clone()
        .reshape([seq, vocab])
        .argsort_descending(1)
        .slice([0..seq, 0..8])
        .into_data()
        .iter::<i64>()
        .collect();
    assert_eq!(top8, golden.ints("top8_ids"), "top-8 ids per position");
    let last: Tensor<B, 3> = logits.slice([0..1, seq - 1..seq, 0..vocab]);
    let diff =
        max_abs_diff(&last.into_data().to_vec::<f32>().unwrap(), &golden.floats("last_logits").1);
    assert!(diff < 1e-3, "last-position logits differ by {diff}");

    let answer =
        generate_greedy(&model, &[ids], 24, &tokenizer.stop_ids, tokenizer.pad_id, &device)
            .unwrap();
    let expected: Vec<u32> = golden.ints("greedy_ids").into_iter().map(|v| v as u32).collect();
    assert_eq!(answer[0], expected);
    assert_eq!(
        tokenizer.decode(&answer[0], false).unwrap(),
        record["greedy_text"].as_str().unwrap()
    );
}
