//! Sharded checkpoints (an index plus several files) and bf16/f16 storage load like one f32 file.

use std::collections::BTreeMap;
use std::path::Path;

use burn::backend::Flex;
use guardtune_model::testing::fixture;
use guardtune_model::{load_model, Batch, Weights};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

type B = Flex;

fn encode(values: &[f32], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::BF16 => values.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect(),
        Dtype::F16 => values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
        other => panic!("{other:?}"),
    }
}

/// Rewrites stories260K as two shards, the first in `first`, the second in `second` dtype.
fn write_sharded(dir: &Path, first: Dtype, second: Dtype) {
    let source = Weights::open_dir(&fixture("models/stories260K")).unwrap();
    let names: Vec<String> = source.names().map(String::from).collect();
    let (head, tail) = names.split_at(names.len() / 2);
    let mut weight_map = BTreeMap::new();
    for (file, part, dtype) in [
        ("model-00001-of-00002.safetensors", head, first),
        ("model-00002-of-00002.safetensors", tail, second),
    ] {
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = part
            .iter()
            .map(|name| {
                let (shape, values) = source.read(name).unwrap();
                (name.clone(), shape, encode(&values, dtype))
            })
            .collect();
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(n, s, b)| (n.clone(), TensorView::new(dtype, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize_to_file(views, None, &dir.join(file)).unwrap();
        for name in part {
            weight_map.insert(name.clone(), file.to_string());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    std::fs::copy(fixture("models/stories260K/config.json"), dir.join("config.json")).unwrap();
}

fn logits(dir: &Path) -> Vec<f32> {
    let device = Default::default();
    let (_, model) = load_model::<B>(dir, &device).unwrap();
    let batch = Batch::<B>::right_padded(&[vec![1, 403, 407, 261, 378]], 0, &device);
    model.forward(&batch).into_data().to_vec().unwrap()
}

#[test]
fn sharded_f32_equals_single_file() {
    let dir = tempfile::tempdir().unwrap();
    write_sharded(dir.path(), Dtype::F32, Dtype::F32);
    assert_eq!(logits(dir.path()), logits(&fixture("models/stories260K")));
}

#[test]
fn bf16_and_f16_shards_convert_exactly() {
    let dir = tempfile::tempdir().unwrap();
    write_sharded(dir.path(), Dtype::BF16, Dtype::F16);
    let original = Weights::open_dir(&fixture("models/stories260K")).unwrap();
    let converted = Weights::open_dir(dir.path()).unwrap();
    let names: Vec<String> = original.names().map(String::from).collect();
    for (i, name) in names.iter().enumerate() {
        let expected_dtype = if i < names.len() / 2 { Dtype::BF16 } else { Dtype::F16 };
        assert_eq!(converted.dtype(name), Some(expected_dtype));
        let round = |v: f32| match expected_dtype {
            Dtype::BF16 => half::bf16::from_f32(v).to_f32(),
            _ => half::f16::from_f32(v).to_f32(),
        };
        let (_, a) = original.read(name).unwrap();
        let (_, b) = converted.read(name).unwrap();
        assert!(a.iter().map(|&v| round(v)).eq(b.iter().copied()), "{name}");
    }
    // The reduced-precision model still runs and stays close to the f32 one.
    let diff = guardtune_model::testing::max_abs_diff(
        &logits(dir.path()),
        &logits(&fixture("models/stories260K")),
    );
    assert!(diff < 0.5, "bf16/f16 logits drift by {diff}");
}

#[test]
fn index_pointing_at_the_wrong_shard_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_sharded(dir.path(), Dtype::F32, Dtype::F32);
    let index_path = dir.path().join("model.safetensors.index.json");
    let index = std::fs::read_to_string(&index_path).unwrap();
    let broken = index.replacen("model-00002-of-00002", "model-00001-of-00002", 1);
    std::fs::write(&index_path, broken).unwrap();
    let err = Weights::open_dir(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains("model.safetensors.index.json") && err.contains("does not contain it"),
        "{err}"
    );
}
