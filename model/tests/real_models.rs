//! Real checkpoints (stories260K, llama2-tiny-random) against transformers' logits and greedy
//! continuations recorded in fixtures/golden/real.

use burn::backend::Flex;
use guardtune_model::testing::{fixture, max_abs_diff, GoldenTensors};
use guardtune_model::{generate_greedy, load_model, Batch, LlamaForCausalLM};

type B = Flex;

fn ids(golden: &GoldenTensors, name: &str) -> Vec<u32> {
    golden.ints(name).into_iter().map(|v| v as u32).collect()
}

/// stories260K and transformers' tensors for it.
fn stories260k() -> (LlamaForCausalLM<B>, GoldenTensors) {
    let (_, model) = load_model::<B>(&fixture("models/stories260K"), &Default::default()).unwrap();
    (model, GoldenTensors::open(&fixture("golden/real/stories260K.safetensors")))
}

fn check_logits(model_dir: &str, golden_file: &str) {
    let device = Default::default();
    let (_, model) = load_model::<B>(&fixture(model_dir), &device).unwrap();
    let golden = GoldenTensors::open(&fixture(golden_file));
    let batch = Batch::<B>::right_padded(&[ids(&golden, "input_ids")], 0, &device);
    let logits = model.forward(&batch).into_data().to_vec::<f32>().unwrap();
    let diff = max_abs_diff(&logits, &golden.floats("logits").1);
    assert!(diff < 1e-4, "{model_dir}: logits differ by {diff}");
}

#[test]
fn stories260k_logits_match() {
    check_logits("models/stories260K", "golden/real/stories260K.safetensors");
}

#[test]
fn llama2_tiny_random_logits_match() {
    check_logits("models/llama2-tiny-random", "golden/real/llama2-tiny-random.safetensors");
}

#[test]
fn stories260k_greedy_continuation_matches() {
    let device = Default::default();
    let (model, golden) = stories260k();
    let expected = ids(&golden, "greedy_ids");
    // transformers generated exactly this many tokens with no stop token in the way.
    let out =
        generate_greedy(&model, &[ids(&golden, "input_ids")], expected.len(), &[], 0, &device)
            .unwrap();
    assert_eq!(out[0], expected);
}

#[test]
fn batched_generation_equals_generation_alone() {
    let device = Default::default();
    let (model, golden) = stories260k();
    let prompt = ids(&golden, "input_ids");
    let prompts = vec![prompt.clone(), prompt[..2].to_vec(), prompt[..4].to_vec()];
    let together = generate_greedy(&model, &prompts, 12, &[], 0, &device).unwrap();
    for (p, out) in prompts.iter().zip(&together) {
        let alone = generate_greedy(&model, std::slice::from_ref(p), 12, &[], 0, &device).unwrap();
        assert_eq!(out, &alone[0], "prompt {p:?}");
    }
}

#[test]
fn generation_stops_at_a_stop_token() {
    let device = Default::default();
    let (model, golden) = stories260k();
    let expected = ids(&golden, "greedy_ids");
    let stop = expected[5];
    let out =
        generate_greedy(&model, &[ids(&golden, "input_ids")], 64, &[stop], 0, &device).unwrap();
    let first = expected.iter().position(|&t| t == stop).unwrap();
    assert_eq!(out[0], expected[..=first]);
}

#[test]
fn empty_prompt_is_an_error_not_a_panic() {
    let device = Default::default();
    let (model, _) = stories260k();
    let err = generate_greedy(&model, &[vec![]], 4, &[], 0, &device).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}
