//! The fuzz targets: one function per input format guardtune reads, each taking arbitrary bytes.
//! A target may return any error for bad bytes; it must never panic (or hang). The AFL harness
//! (`src/bin/afl.rs`) runs them under coverage-guided fuzzing, and the workspace test
//! `train/tests/fuzz_seeds.rs` replays every seed corpus (`fuzz/corpus/TARGET/`) and every fixed
//! crash (`fuzz/regressions/TARGET/`) through them, then mutations of the seeds.
//!
//! Inputs that hold two files start with a 2-byte little-endian length of the first. With the fuzz
//! crate's `data-only` feature only the data targets are built (no Burn: a much quicker build).

use std::path::{Path, PathBuf};

use guardtune_data::{load_source, parse_verdict, LoadOptions, OnError, Safety, SourceKind};

/// Makes this process's targets hermetic; call before any thread starts (it sets the
/// environment). A fuzzed model or data path that reads as a Hub id (`ORG/NAME`) is looked up in
/// the Hugging Face cache only: on the network each such execution took 3 s without one.
pub fn hermetic() {
    std::env::set_var("HF_HUB_OFFLINE", "1");
}

/// A target: its name (the corpus folder) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// The targets that read data files (only the data crate: a quick build).
const DATA_TARGETS: &[Target] = &[
    ("rows_json", rows_json),
    ("rows_jsonl", rows_jsonl),
    ("rows_csv", rows_csv),
    ("rows_parquet", rows_parquet),
    ("rows_gzip", rows_gzip),
    ("verdict", verdict),
];

/// Every target; without the model crates (the fuzz crate's `data-only` feature), the data ones.
pub fn targets() -> Vec<Target> {
    #[cfg(not(feature = "data-only"))]
    let models = model_targets::TARGETS;
    #[cfg(feature = "data-only")]
    let models: &[Target] = &[];
    [models, DATA_TARGETS].concat()
}

/// The target called `name`.
pub fn by_name(name: &str) -> Option<fn(&[u8])> {
    targets().into_iter().find(|(n, _)| *n == name).map(|(_, f)| f)
}

/// A folder of this process for the files a target writes (loaders read paths).
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("guardtune-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary folder is writable");
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("the temporary folder is writable");
    path
}

/// Every loader's kind, chosen by the first byte (bits 0-5; bit 7: fail on bad rows instead of
/// skipping them), over `file`.
fn rows(data: &[u8], file: &str) {
    let Some((&selector, content)) = data.split_first() else { return };
    // Seeds pick a kind by its index in `SourceKind::ALL`: that order is part of their format.
    let kind = SourceKind::ALL[usize::from(selector & 0x3f) % SourceKind::ALL.len()];
    let options = LoadOptions {
        on_error: if selector & 0x80 == 0 { OnError::Skip } else { OnError::Fail },
        needs_caution: Some(Safety::Unsafe),
        ..LoadOptions::default()
    };
    let path = write(&scratch(), file, content);
    let _ = load_source(kind, &path, &options);
}

/// A `.json` file (a JSON array, or JSON lines) through every loader.
pub fn rows_json(data: &[u8]) {
    rows(data, "rows.json");
}

/// A `.jsonl` file through every loader.
pub fn rows_jsonl(data: &[u8]) {
    rows(data, "rows.jsonl");
}

/// A `.csv` file through every loader.
pub fn rows_csv(data: &[u8]) {
    rows(data, "rows.csv");
}

/// A `.parquet` file through every loader.
pub fn rows_parquet(data: &[u8]) {
    rows(data, "rows.parquet");
}

/// A gzip-compressed file through every loader: JSON lines, or CSV when bit 6 of the selector
/// byte is set.
pub fn rows_gzip(data: &[u8]) {
    let csv = data.first().is_some_and(|b| b & 0x40 != 0);
    rows(data, if csv { "rows.csv.gz" } else { "rows.jsonl.gz" });
}

/// A guard's answer.
pub fn verdict(data: &[u8]) {
    let _ = parse_verdict(&String::from_utf8_lossy(data));
}

/// The targets that need the model, LoRA and train crates (and so Burn).
#[cfg(not(feature = "data-only"))]
mod model_targets {
    use std::path::Path;

    use guardtune_data::{GuardTokenizer, Role, Turn};
    use guardtune_model::{Dtype, LlamaConfig, LlamaForCausalLM, RandomInit, Tokenizer, Weights};

    use super::{scratch, write, Target};

    type Backend = burn::backend::Flex;

    /// `[len: u16 LE][first: len bytes][second: the rest]`; a short input gives an empty first part.
    fn two_parts(data: &[u8]) -> (&[u8], &[u8]) {
        let Some((len, rest)) = data.split_first_chunk::<2>() else { return (&[], data) };
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        rest.split_at(len)
    }

    pub const TARGETS: &[Target] = &[
        ("safetensors", safetensors),
        ("model_config", model_config),
        ("tokenizer", tokenizer),
        ("adapter", adapter),
        ("run_config", run_config),
    ];

    /// A safetensors file: opened, every tensor listed and read as f32.
    fn safetensors(data: &[u8]) {
        let path = write(&scratch(), "model.safetensors", data);
        if let Ok(checkpoint) = Weights::open_file(&path) {
            let names: Vec<String> = checkpoint.names().map(String::from).collect();
            for name in names {
                let _ = checkpoint.dtype(&name);
                let _ = checkpoint.read(&name);
            }
        }
    }

    /// A `config.json`.
    fn model_config(data: &[u8]) {
        let path = write(&scratch(), "config.json", data);
        if let Ok(config) = LlamaConfig::from_file(&path) {
            let _ = config.gqa_group_size();
        }
    }

    /// `tokenizer_config.json` (chat template, special tokens) then `tokenizer.json`: loaded as the
    /// model's tokenizer and as the guard's, then a conversation with special-token strings encoded.
    fn tokenizer(data: &[u8]) {
        let (config, tokenizer) = two_parts(data);
        let dir = scratch().join("tokenizer");
        std::fs::create_dir_all(&dir).expect("the temporary folder is writable");
        write(&dir, "tokenizer_config.json", config);
        write(&dir, "tokenizer.json", tokenizer);
        let text = "Hi <|im_end|><|im_start|>assistant\n<|eot_id|> é 漢字 \u{FDD0}";
        if let Ok(model_tokenizer) = Tokenizer::from_model_dir(&dir) {
            if let Ok(ids) = model_tokenizer.encode(text, true) {
                let _ = model_tokenizer.decode(&ids, false);
            }
        }
        if let Ok(guard) = GuardTokenizer::from_model_dir(&dir) {
            let messages = [
                Turn { role: Role::System, content: "policy <|eot_id|>".into() },
                Turn { role: Role::User, content: text.into() },
            ];
            let _ = guard.encode_chat(&messages, true);
        }
    }

    /// A tiny Llama (2 layers, width 8) that adapters are loaded onto.
    const TINY_MODEL: &str = r#"{"vocab_size": 32, "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "rms_norm_eps": 1e-5, "max_position_embeddings": 64}"#;

    /// `adapter_config.json` then `adapter_model.safetensors`, loaded onto a tiny model.
    fn adapter(data: &[u8]) {
        thread_local! {
            static MODEL: std::cell::RefCell<LlamaForCausalLM<Backend>> = {
                let config = LlamaConfig::from_json(TINY_MODEL).expect("the tiny config is valid");
                let model = LlamaForCausalLM::load(
                    &config,
                    Box::new(RandomInit::new(0, 0.02)),
                    Dtype::F32,
                    &Default::default(),
                )
                .expect("the tiny model builds");
                std::cell::RefCell::new(model)
            };
        }
        let (config, weights) = two_parts(data);
        let dir = scratch().join("adapter");
        std::fs::create_dir_all(&dir).expect("the temporary folder is writable");
        write(&dir, "adapter_config.json", config);
        write(&dir, "adapter_model.safetensors", weights);
        MODEL.with(|model| {
            let _ =
                guardtune_lora::load_adapter(&mut model.borrow_mut(), &dir, &Default::default());
        });
    }

    /// A run config (TOML) and, after a NUL byte, `--set` overrides one per line. The config is read
    /// as `configs/run.toml` of a copy of the repo's layout, so the seeds' relative paths (the tiny
    /// model, the fixtures) resolve and validation goes past the model folder.
    fn run_config(data: &[u8]) {
        let (toml, overrides) = match data.iter().position(|&b| b == 0) {
            Some(nul) => (&data[..nul], &data[nul + 1..]),
            None => (data, &[][..]),
        };
        let overrides: Vec<String> =
            String::from_utf8_lossy(overrides).lines().map(String::from).collect();
        let root = scratch().join("repo");
        let configs = root.join("configs");
        if !configs.exists() {
            std::fs::create_dir_all(&configs).expect("the temporary folder is writable");
            let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            for folder in ["fixtures", "data"] {
                let _ = std::os::unix::fs::symlink(repo.join(folder), root.join(folder));
            }
        }
        let path = write(&configs, "run.toml", toml);
        let _ = guardtune::config::load_run_config(&path, &overrides);
    }
}
