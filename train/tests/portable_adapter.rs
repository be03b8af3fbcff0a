//! An adapter names its base as users know it (`model.name`, or the folder's name; `export
//! --base-name` to change it), so PEFT finds the base from any working directory.
//!
//! The PEFT half is opt-in: it needs a Python with torch, transformers and peft.
//!
//! ```sh
//! GUARDTUNE_PYTHON=/path/to/venv/bin/python \
//!   cargo test --release --workspace --test portable_adapter -- --nocapture
//! ```
//!
//! It serves the base from a local mirror: a Hugging Face cache (`HF_HOME`) holding the tiny
//! fixture model as the Hub repo `guardtune-test/tiny-smollm2`, read with `HF_HUB_OFFLINE=1`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{guardtune, guardtune_with_adapter, small_run_config, stderr};
use guardtune_model::testing::{opt_in, repo_root};

const HUB_ID: &str = "guardtune-test/tiny-smollm2";

/// PEFT loads the adapter by itself (base from its `base_model_name_or_path`), and every LoRA
/// tensor it holds equals the file's.
const SCRIPT: &str = r#"
import sys, torch
from peft import AutoPeftModelForCausalLM
from safetensors.torch import load_file
adapter = sys.argv[1]
model = AutoPeftModelForCausalLM.from_pretrained(adapter, torch_dtype=torch.float32)
loaded = model.state_dict()
saved = load_file(adapter + "/adapter_model.safetensors")
for name, tensor in saved.items():
    assert torch.equal(loaded[name.replace(".weight", ".default.weight")], tensor), name
with torch.no_grad():
    logits = model(torch.tensor([[1, 2, 3]])).logits
assert torch.isfinite(logits).all()
print(model.peft_config["default"].base_model_name_or_path, len(saved))
"#;

fn base_name(adapter: &Path) -> String {
    let text = std::fs::read_to_string(adapter.join("adapter_config.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["base_model_name_or_path"].as_str().unwrap().to_string()
}

/// A trained adapter with `model.name` unset (the fixture folder's name) and with it set.
fn train_adapters(dir: &Path) -> (PathBuf, PathBuf) {
    let config = small_run_config(dir, 2, "");
    let plain = dir.join("plain");
    let named = dir.join("named");
    for (out, extra) in [(&plain, None), (&named, Some(format!("model.name={HUB_ID}")))] {
        let out_dir = format!("output.dir={}", out.display());
        let mut args = vec!["train", config.to_str().unwrap(), "--set", &out_dir];
        if let Some(extra) = &extra {
            args.extend(["--set", extra]);
        }
        let run = guardtune(&args);
        assert!(run.status.success(), "{}", stderr(&run));
    }
    (plain.join("adapter"), named.join("adapter"))
}

#[test]
fn an_adapter_names_its_base_by_model_name_or_folder_name() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, named) = train_adapters(dir.path());
    assert_eq!(base_name(&plain), "tiny-smollm2");
    assert_eq!(base_name(&named), HUB_ID);

    // export --base-name renames it; the weights are untouched.
    let model = repo_root().join("fixtures/models/tiny-smollm2");
    let out = dir.path().join("renamed");
    let export = guardtune_with_adapter(
        "export",
        &model,
        &plain,
        &["--out", out.to_str().unwrap(), "--base-name", "org/renamed"],
    );
    assert!(export.status.success(), "{}", stderr(&export));
    assert_eq!(base_name(&out), "org/renamed");
    let weights = |dir: &Path| std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    assert_eq!(weights(&out), weights(&plain));
}

/// The fixture model laid out as the Hub cache holds a downloaded repo.
fn local_mirror(hf_home: &Path) {
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo = hf_home.join("hub").join(format!("models--{}", HUB_ID.replace('/', "--")));
    let snapshot = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    let model = repo_root().join("fixtures/models/tiny-smollm2");
    for entry in std::fs::read_dir(&model).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, snapshot.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn peft_loads_the_adapter_from_another_folder_through_the_hub_cache() {
    let Some(python) = opt_in("GUARDTUNE_PYTHON", "a python with torch, transformers and peft")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, named) = train_adapters(dir.path());
    let hf_home = dir.path().join("hf");
    local_mirror(&hf_home);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(python)
        .current_dir(elsewhere.path())
        .env("HF_HOME", &hf_home)
        .env("HF_HUB_OFFLINE", "1")
        .args(["-c", SCRIPT])
        .arg(&named)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}{}", stdout, String::from_utf8_lossy(&out.stderr));
    let tensors = 2 * 3 * 2; // lora_A and lora_B on q, v and down in both layers
    assert_eq!(stdout.trim(), format!("{HUB_ID} {tensors}"), "{stdout}");
}
