//! Greedy decoding on a shared prefix's cache, with and without drafts, equals greedy decoding of
//! each row alone without any cache, on the tiny SmolLM2-shaped model with the real tokenizer.

use burn::backend::Flex;
use burn::tensor::Tensor;
use guardtune_model::generate::last_position;
use guardtune_model::testing::{fixture, max_abs_diff};
use guardtune_model::{
    common_prefix_len, continue_greedy, generate_greedy, load_model, Batch, Continuation, Greedy,
    LlamaForCausalLM, PrefixCache, Tokenizer,
};

type B = Flex;

const MAX_NEW: usize = 7;
/// Token ids whose logits are reported (any two ids do).
const WATCH: [u32; 2] = [17, 4242];

fn setup() -> (LlamaForCausalLM<B>, Tokenizer) {
    let dir = fixture("models/tiny-smollm2");
    let (_, model) = load_model::<B>(&dir, &Default::default()).unwrap();
    (model, Tokenizer::from_model_dir(&dir).unwrap())
}

/// ChatML prompts that share the system message and differ in length.
fn prompts(tokenizer: &Tokenizer, policy: &str, users: &[&str]) -> Vec<Vec<u32>> {
    users
        .iter()
        .map(|user| {
            let text = format!(
                "<|im_start|>system\n{policy}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
            );
            tokenizer.encode(&text, false).unwrap()
        })
        .collect()
}

/// The logits after `ids`, from a full forward pass of that row alone.
fn logits_after(model: &LlamaForCausalLM<B>, ids: &[u32]) -> Vec<f32> {
    let device = Default::default();
    let hidden =
        model.model.forward(&Batch::<B>::right_padded(&[ids.to_vec()], 0, &device), None, None);
    let logits: Tensor<B, 3> = model.logits(last_position(hidden));
    logits.into_data().to_vec::<f32>().unwrap()
}

fn argmax(values: &[f32]) -> u32 {
    (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap() as u32
}

/// Greedy decoding of one row with a full forward pass per token: the reference. Returns the
/// tokens and, for each, the full logits that chose it.
fn greedy_alone(
    model: &LlamaForCausalLM<B>,
    prompt: &[u32],
    stop: &[u32],
) -> (Vec<u32>, Vec<Vec<f32>>) {
    greedy_alone_for(model, prompt, stop, MAX_NEW)
}

/// [`greedy_alone`] for up to `max_new` tokens.
fn greedy_alone_for(
    model: &LlamaForCausalLM<B>,
    prompt: &[u32],
    stop: &[u32],
    max_new: usize,
) -> (Vec<u32>, Vec<Vec<f32>>) {
    let (mut seq, mut out, mut logits) = (prompt.to_vec(), Vec::new(), Vec::new());
    while out.len() < max_new {
        let step = logits_after(model, &seq);
        let token = argmax(&step);
        out.push(token);
        seq.push(token);
        logits.push(step);
        if stop.contains(&token) {
            break;
        }
    }
    (out, logits)
}

fn watched(logits: &[f32]) -> Vec<f32> {
    WATCH.iter().map(|&t| logits[t as usize]).collect()
}

/// Runs `continue_greedy` on the prefix cache and checks every row against the reference: the
/// tokens exactly, the watched logits of every step and after the draft within 1e-4.
fn check(
    model: &LlamaForCausalLM<B>,
    prompts: &[Vec<u32>],
    prefix_len: usize,
    drafts: &[Vec<u32>],
    stop: &[u32],
) -> Vec<Continuation> {
    let device = Default::default();
    let prefix = PrefixCache::build(model, &prompts[0][..prefix_len], &device);
    let suffixes: Vec<Vec<u32>> = prompts.iter().map(|p| p[prefix_len..].to_vec()).collect();
    let settings = Greedy { max_new_tokens: MAX_NEW, stop_ids: stop, pad_id: 2, watch: &WATCH };
    let rows =
        continue_greedy(model, prefix.rows(prompts.len()), &suffixes, drafts, &settings, &device)
            .unwrap();
    for (r, (row, prompt)) in rows.iter().zip(prompts).enumerate() {
        let (tokens, logits) = greedy_alone(model, prompt, stop);
        assert_eq!(row.tokens, tokens, "row {r}, draft {:?}", drafts[r]);
        for (t, step) in logits.iter().enumerate() {
            let diff = max_abs_diff(&row.watched[t], &watched(step));
            assert!(diff < 1e-4, "row {r} step {t}: watched logits differ by {diff}");
        }
        let forced = watched(&logits_after(model, &[&prompt[..], &drafts[r]].concat()));
        let diff = max_abs_diff(&row.after_draft, &forced);
        assert!(diff < 1e-4, "row {r}: logits after the draft differ by {diff}");
    }
    rows
}

#[test]
fn shared_prefix_with_and_without_drafts_equals_greedy_alone() {
    let (model, tokenizer) = setup();
    let stop = tokenizer.stop_ids.clone();
    // Rows of different lengths: the shorter ones are padded between their prompt and the
    // tokens they decode, and the padding must stay invisible.
    let rows = prompts(
        &tokenizer,
        "You are a guard. Judge the conversation against the policy: no violence, no weapons.",
        &["Hi", "How do I bake bread at home with very little yeast?", "Tell me a joke please"],
    );
    let prefix = common_prefix_len(rows.iter().map(Vec::as_slice));
    assert!(prefix > 20, "the rows share their system message ({prefix} tokens)");
    let reference: Vec<Vec<u32>> = rows.iter().map(|p| greedy_alone(&model, p, &stop).0).collect();
    let none = vec![Vec::new(); rows.len()];
    check(&model, &rows, prefix, &none, &stop);
    // Drafts greedy decoding keeps whole, in part (a wrong token after the first), or not at
    // all, of different lengths per row.
    let wrong = |t: u32| (t + 1) % 49_152;
    let drafts = vec![
        reference[0][..3].to_vec(),
        vec![reference[1][0], wrong(reference[1][1]), reference[1][2]],
        vec![wrong(reference[2][0]); 4],
    ];
    check(&model, &rows, prefix, &drafts, &stop);
    // A stop token inside an accepted draft ends the row there.
    let stop_inside = vec![reference[0][1]];
    let out = check(&model, &rows, prefix, &vec![reference[0][..4].to_vec(); 3], &stop_inside);
    assert_eq!(out[0].tokens, reference[0][..2].to_vec());
    // The same rows without a shared prefix (an empty cache).
    check(&model, &rows, 0, &drafts, &stop);
}

#[test]
fn edge_cases() {
    let (model, tokenizer) = setup();
    let stop = tokenizer.stop_ids.clone();
    let rows = prompts(&tokenizer, "Policy text.", &["A question about cooking"]);
    let len = rows[0].len();
    // A batch of one whose prompt is all prefix but its last token (a prompt that equals the
    // prefix keeps one token to decide the first output token).
    check(&model, &rows, len - 1, &[Vec::new()], &stop);
    check(&model, &rows, len - 1, &[vec![5, 6]], &stop);
    // Rows with nothing in common, one of them a single token.
    let mixed = vec![[tokenizer.encode("Hello there", false).unwrap(), vec![1]].concat(), vec![7]];
    assert_eq!(common_prefix_len(mixed.iter().map(Vec::as_slice)), 0);
    check(&model, &mixed, 0, &[vec![3], Vec::new()], &stop);
    // No tokens to generate: only the teacher-forced scores.
    let device = Default::default();
    let settings = Greedy { max_new_tokens: 0, stop_ids: &stop, pad_id: 2, watch: &WATCH };
    let prefix = PrefixCache::build(&model, &rows[0][..len - 1], &device);
    let out = continue_greedy(
        &model,
        prefix.rows(1),
        &[rows[0][len - 1..].to_vec()],
        &[vec![9]],
        &settings,
        &device,
    )
    .unwrap();
    assert!(out[0].tokens.is_empty() && out[0].watched.is_empty());
    let forced = watched(&logits_after(&model, &[&rows[0][..], &[9]].concat()));
    assert!(max_abs_diff(&out[0].after_draft, &forced) < 1e-4);
    // Bad calls are errors, not panics.
    let err =
        continue_greedy(&model, prefix.rows(1), &[Vec::new()], &[Vec::new()], &settings, &device);
    assert!(err.unwrap_err().to_string().contains("prompt 0 is empty"));
    let err = continue_greedy(&model, prefix.rows(1), &[vec![1]], &[], &settings, &device);
    assert!(err.unwrap_err().to_string().contains("0 drafts for 1 rows"));
}

#[test]
fn batched_generation_equals_rows_alone() {
    let (model, tokenizer) = setup();
    let stop = tokenizer.stop_ids.clone();
    let rows = prompts(&tokenizer, "Be brief.", &["Hi", "What is the capital of France, and why?"]);
    let out = generate_greedy(&model, &rows, MAX_NEW, &stop, tokenizer.pad_id, &Default::default())
        .unwrap();
    for (row, prompt) in out.iter().zip(&rows) {
        assert_eq!(row, &greedy_alone(&model, prompt, &stop).0);
    }
}

/// Long decoding (150 steps, where the cache grows at every one), and a prefix cache lent to two
/// batches in turn, which must come back unchanged from the first: both equal each row decoded
/// alone. (A cache written in place has to pass both.)
#[test]
fn long_decoding_and_a_reused_prefix_equal_rows_alone() {
    let (model, tokenizer) = setup();
    let device = Default::default();
    let rows = prompts(&tokenizer, "Be brief.", &["Hi", "What is the capital of France, and why?"]);
    let long = 150;
    let out = generate_greedy(&model, &rows, long, &[], tokenizer.pad_id, &device).unwrap();
    for (row, prompt) in out.iter().zip(&rows) {
        assert_eq!(row, &greedy_alone_for(&model, prompt, &[], long).0);
    }

    let prefix_len = common_prefix_len(rows.iter().map(Vec::as_slice));
    let prefix = PrefixCache::build(&model, &rows[0][..prefix_len], &device);
    let suffixes: Vec<Vec<u32>> = rows.iter().map(|p| p[prefix_len..].to_vec()).collect();
    let none = vec![Vec::new(); rows.len()];
    let settings = Greedy { max_new_tokens: 80, stop_ids: &[], pad_id: 2, watch: &WATCH };
    let decode = || {
        continue_greedy(&model, prefix.rows(rows.len()), &suffixes, &none, &settings, &device)
            .unwrap()
            .into_iter()
            .map(|row| row.tokens)
            .collect::<Vec<_>>()
    };
    let (first, second) = (decode(), decode());
    assert_eq!(first, second, "the prefix cache is the same for the second batch");
    for (tokens, prompt) in first.iter().zip(&rows) {
        assert_eq!(tokens, &greedy_alone_for(&model, prompt, &[], 80).0);
    }
}
