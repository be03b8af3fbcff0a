//! Broken checkpoints and configs end in one-line errors that name the file and the problem.

use std::path::Path;

use burn::backend::Flex;
use guardtune_model::testing::fixture;
use guardtune_model::{load_model, ModelError};

type B = Flex;

/// A model folder holding stories260K's config and the given safetensors bytes.
fn model_dir_with(weights: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("models/stories260K/config.json"), dir.path().join("config.json"))
        .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), weights).unwrap();
    dir
}

/// A safetensors file from a header JSON and a data section.
fn safetensors_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn load_error(dir: &Path) -> String {
    let err: ModelError = load_model::<B>(dir, &Default::default())
        .err()
        .unwrap_or_else(|| panic!("loading must fail"));
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "error must fit on one line: {msg}");
    msg
}

/// The error of loading stories260K's config with a safetensors file of `header` and 256 zero
/// bytes of data.
fn header_error(header: &str) -> String {
    let dir = model_dir_with(&safetensors_bytes(header, &[0; 256]));
    load_error(dir.path())
}

/// The error of loading stories260K's weights under its config as `edit` changes it.
fn edited_config_error(edit: impl FnOnce(String) -> String) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(fixture("models/stories260K/config.json")).unwrap();
    std::fs::write(dir.path().join("config.json"), edit(config)).unwrap();
    std::fs::copy(
        fixture("models/stories260K/model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    load_error(dir.path())
}

#[test]
fn truncated_file() {
    let full = std::fs::read(fixture("models/stories260K/model.safetensors")).unwrap();
    let dir = model_dir_with(&full[..full.len() - 100]);
    let msg = load_error(dir.path());
    assert!(msg.contains("model.safetensors") && msg.contains("truncated"), "{msg}");
}

#[test]
fn header_whose_offsets_lie() {
    let header = r#"{"model.norm.weight":{"dtype":"F32","shape":[64],"data_offsets":[0,4096]}}"#;
    let msg = header_error(header);
    assert!(
        msg.contains("model.safetensors") && (msg.contains("offset") || msg.contains("truncated")),
        "{msg}"
    );
}

#[test]
fn unknown_dtype() {
    let header = r#"{"model.norm.weight":{"dtype":"Q9","shape":[64],"data_offsets":[0,256]}}"#;
    let msg = header_error(header);
    assert!(msg.contains("model.safetensors") && msg.contains("Q9"), "{msg}");
}

#[test]
fn dtype_that_cannot_be_a_weight() {
    let header = r#"{"model.norm.weight":{"dtype":"I32","shape":[64],"data_offsets":[0,256]}}"#;
    let msg = header_error(header);
    assert!(msg.contains("model.norm.weight") && msg.contains("I32"), "{msg}");
}

#[test]
fn config_missing_a_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"vocab_size": 512, "hidden_size": 64}"#)
        .unwrap();
    let msg = load_error(dir.path());
    assert!(msg.contains("config.json") && msg.contains("intermediate_size"), "{msg}");
}

#[test]
fn tensor_of_the_wrong_shape_and_missing_and_unexpected_ones() {
    let msg = edited_config_error(|config| {
        config
            .replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 6")
            .replace("\"intermediate_size\": 172", "\"intermediate_size\": 100")
    });
    assert!(
        msg.contains(
            "model.layers.0.mlp.gate_proj.weight` has shape [172, 64], expected [100, 64]"
        ),
        "{msg}"
    );
    assert!(msg.contains("missing tensor `model.layers.5.input_layernorm.weight`"), "{msg}");
}

#[test]
fn unexpected_tensor_is_reported() {
    let msg = edited_config_error(|config| {
        config.replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 4")
    });
    assert!(msg.contains("unexpected tensor `model.layers.4.mlp.down_proj.weight`"), "{msg}");
}

#[test]
fn folder_without_weights() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("models/stories260K/config.json"), dir.path().join("config.json"))
        .unwrap();
    let msg = load_error(dir.path());
    assert!(msg.contains("no model.safetensors"), "{msg}");
}
