//! Timing, not a test of speed: renders and tokenises 30,000 generated Aegis-sized examples with
//! the Llama 3.1 tokenizer and prints how long it took. Run with
//! `cargo test --release -p guardtune-data --test bench_render_tokenize -- --ignored --nocapture`.
//!
//! Sizes follow Aegis 2.0's mix: short chat prompts and long jailbreak-style ones (5 to 400
//! words, skewed short), and a response on 70% of rows (20 to 300 words).

mod common;

use common::llama31;
use guardtune_data::{build_blend, BlendConfig, GuardExample, Safety};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Instant;

const EXAMPLES: usize = 30_000;
const WORDS: [&str; 24] = [
    "the",
    "a",
    "how",
    "can",
    "I",
    "make",
    "my",
    "neighbour",
    "stop",
    "please",
    "explain",
    "why",
    "people",
    "should",
    "never",
    "bank",
    "account",
    "weapon",
    "recipe",
    "quickly",
    "without",
    "anyone",
    "noticing",
    "story",
];

fn text(rng: &mut ChaCha8Rng, min: usize, max: usize) -> String {
    // Squaring a uniform draw skews lengths towards the short end, like chat prompts.
    let u: f64 = rng.random();
    let words = min + ((max - min) as f64 * u * u) as usize;
    let mut out = String::new();
    for i in 0..words {
        if i > 0 {
            out.push(if rng.random_range(0..12) == 0 { '\n' } else { ' ' });
        }
        out.push_str(WORDS[rng.random_range(0..WORDS.len())]);
        if rng.random_range(0..10) == 0 {
            out.push_str(", 42.");
        }
    }
    out
}

fn generate() -> Vec<GuardExample> {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    (0..EXAMPLES)
        .map(|i| {
            let prompt = text(&mut rng, 5, 400);
            let response = (rng.random_range(0..10) < 7).then(|| text(&mut rng, 20, 300));
            let user = if rng.random_bool(0.55) { Safety::Unsafe } else { Safety::Safe };
            let response_label = response.as_ref().map(|_| {
                if rng.random_bool(0.3) {
                    Safety::Unsafe
                } else {
                    Safety::Safe
                }
            });
            let categories = if user == Safety::Unsafe {
                vec!["Violence".to_string(), "Criminal Planning/Confessions".to_string()]
            } else {
                vec![]
            };
            GuardExample::safety(
                "bench",
                i.to_string(),
                prompt,
                response,
                Some(user),
                response_label,
                categories,
            )
        })
        .collect()
}

#[test]
#[ignore = "timing run; see the module documentation"]
fn render_and_tokenize_30k_aegis_sized_examples() {
    let tok = llama31().expect("the Llama 3.1 tokenizer is needed for this timing");
    let examples = generate();
    let threads = rayon::current_num_threads();

    let start = Instant::now();
    let lengths: Vec<usize> = examples.par_iter().map(|e| tok.tokenize(e).unwrap().len()).collect();
    let tokenize_seconds = start.elapsed().as_secs_f64();
    let tokens: usize = lengths.iter().sum();
    println!(
        "render+tokenize: {EXAMPLES} examples, {tokens} tokens (mean {:.0}) in {tokenize_seconds:.2} s on {threads} threads",
        tokens as f64 / EXAMPLES as f64
    );

    // The same through the blend pipeline: load a JSONL file, render, tokenise, sample, hash.
    let dir = std::env::temp_dir().join(format!("guardtune-data-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows: String = examples
        .iter()
        .map(|e| {
            let guardtune_data::Target::Safety { user, response, categories } = &e.target else { unreachable!() };
            let mut row = serde_json::json!({"prompt": e.last_user_turn(), "prompt_label": user.unwrap().as_str(), "categories": categories});
            if let (Some(text), Some(label)) = (e.response_turn(), response) {
                row["response"] = text.into();
                row["response_label"] = label.as_str().into();
            }
            format!("{row}\n")
        })
        .collect();
    std::fs::write(dir.join("rows.jsonl"), rows).unwrap();
    let config = BlendConfig::from_run_toml(
        "[data]\nseed = 1\nmax_seq_len = 8192\n[[data.sources]]\nname = \"bench\"\nkind = \"jsonl\"\npath = \"rows.jsonl\"\nweight = 1.0\n",
    )
    .unwrap();
    let start = Instant::now();
    let blend = build_blend(&config, &dir, tok).unwrap();
    println!(
        "build_blend: {} examples in {:.2} s on {threads} threads (hash {})",
        blend.train.len(),
        start.elapsed().as_secs_f64(),
        &blend.report.hash[..16]
    );
    assert_eq!(blend.train.len(), EXAMPLES);
    std::fs::remove_dir_all(&dir).unwrap();
}
