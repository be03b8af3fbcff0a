//! The trained SmolLM2 guard, merged by `guardtune export --merge`, loads in transformers, and
//! its greedy verdicts on 50 XSTest prompts equal guardtune's own (prefix-cached) verdicts.
//!
//! Opt-in: it needs the SmolLM2 weights and a Python with torch and transformers.
//!
//! ```sh
//! GUARDTUNE_SMOLLM2=models/smollm2-135m-instruct GUARDTUNE_PYTHON=/path/to/venv/bin/python \
//!   cargo test --release --workspace --test guard_transformers -- --nocapture
//! ```
//!
//! The adapter is `experiments/smollm2-guard/runs/recipe-seed1/adapter` (the committed guard that
//! the README demonstrates), or
//! GUARDTUNE_GUARD_ADAPTER.

use std::path::PathBuf;
use std::process::Command;

use burn::backend::Flex;
use guardtune::classifier::LoadedGuard;
use guardtune_data::{load_source, render_guard_prompt, LoadOptions, SourceKind};
use guardtune_model::testing::{opt_in, repo_root, shared};
use guardtune_model::Dtype;

type B = Flex;

const PROMPTS: usize = 50;

/// Greedy generation in transformers from the given token ids, with the chat template checked.
const SCRIPT: &str = r#"
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
merged, rows_path = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(merged)
model = AutoModelForCausalLM.from_pretrained(merged, torch_dtype=torch.float32).eval()
out = []
for row in json.load(open(rows_path)):
    ids = tok.apply_chat_template([{"role": "user", "content": row["message"]}],
                                  add_generation_prompt=True)
    if hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    assert list(ids) == row["ids"], "the chat template renders other ids than guardtune"
    with torch.no_grad():
        gen = model.generate(torch.tensor([row["ids"]]), max_new_tokens=50, do_sample=False,
                             pad_token_id=tok.pad_token_id or tok.eos_token_id)
    out.append(tok.decode(gen[0][len(row["ids"]):], skip_special_tokens=True))
print(json.dumps(out))
"#;

#[test]
fn merged_guard_gives_guardtunes_verdicts_in_transformers() {
    let model = opt_in("GUARDTUNE_SMOLLM2", "the folder scripts/fetch-smollm2.sh wrote");
    let python = opt_in("GUARDTUNE_PYTHON", "a python with torch and transformers");
    let (Some(model), Some(python)) = (model.map(PathBuf::from), python) else {
        return;
    };
    let Some(xstest) = shared("data/xstest/xstest_prompts.csv") else { return };
    let adapter = std::env::var_os("GUARDTUNE_GUARD_ADAPTER").map_or_else(
        || repo_root().join("experiments/smollm2-guard/runs/recipe-seed1/adapter"),
        PathBuf::from,
    );
    let dir = tempfile::tempdir().unwrap();
    let merged = dir.path().join("merged");
    let out = Command::new(env!("CARGO_BIN_EXE_guardtune"))
        .args(["export", "--merge", "--dtype", "f32", "--model"])
        .arg(&model)
        .arg("--adapter")
        .arg(&adapter)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // 50 XSTest prompts spread over the file (it is sorted by type: safe, then unsafe ones).
    let examples = load_source(SourceKind::XsTest, &xstest, &LoadOptions::default()).unwrap();
    let step = examples.examples.len() / PROMPTS;
    let examples: Vec<_> = examples.examples.into_iter().step_by(step).take(PROMPTS).collect();
    let guard =
        LoadedGuard::<B>::load(&model, Some(&adapter), Dtype::F32, &Default::default()).unwrap();
    let classifier = guard.classifier(50, Default::default());
    let ours: Vec<String> = examples
        .chunks(10)
        .flat_map(|chunk| classifier.classify(chunk, false).unwrap())
        .map(|c| c.raw)
        .collect();

    let rows: Vec<serde_json::Value> = examples
        .iter()
        .map(|e| {
            let ids = guard.prompts.encode_prompt(e).unwrap();
            serde_json::json!({ "message": render_guard_prompt(e), "ids": ids })
        })
        .collect();
    let rows_path = dir.path().join("rows.json");
    std::fs::write(&rows_path, serde_json::to_string(&rows).unwrap()).unwrap();
    let out =
        Command::new(python).args(["-c", SCRIPT]).arg(&merged).arg(&rows_path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();

    let unsafe_count = ours.iter().filter(|v| v.contains("\"unsafe\"")).count();
    eprintln!("{PROMPTS} XSTest prompts: {unsafe_count} judged unsafe by both");
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            a.trim(),
            b.trim(),
            "prompt {i} ({}): guardtune vs transformers",
            examples[i].id
        );
    }
    assert_eq!(ours.len(), PROMPTS);
}
