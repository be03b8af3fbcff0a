//! The tiny random Llama 3.1 of fixtures/golden against transformers 5.24 (fp32, eager),
//! on the CPU, or on CUDA when built with `--features cuda` (scripts/gpu-check.sh).

use burn::tensor::{Int, Tensor, TensorData};
use guardtune_model::batch::Batch;
use guardtune_model::cache::KvCache;
use guardtune_model::llama::Trace;
use guardtune_model::rope::inverse_frequencies;
use guardtune_model::testing::{fixture, max_abs_diff, GoldenTensors};
use guardtune_model::{LlamaConfig, LlamaForCausalLM, Weights};

type B = guardtune_model::testing::TestBackend;

fn golden() -> GoldenTensors {
    GoldenTensors::open(&fixture("golden/tensors.safetensors"))
}

fn load(config_file: &str) -> (LlamaConfig, LlamaForCausalLM<B>) {
    let dir = fixture("golden/tiny-llama31");
    let cfg = LlamaConfig::from_file(&dir.join(config_file)).unwrap();
    let ckpt = Weights::open_dir(&dir).unwrap();
    let model = LlamaForCausalLM::load(
        &cfg,
        Box::new(ckpt),
        guardtune_model::Dtype::F32,
        &Default::default(),
    )
    .unwrap();
    (cfg, model)
}

fn eval_ids() -> Vec<u32> {
    golden().ints("eval_input_ids").into_iter().map(|v| v as u32).collect()
}

fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

#[test]
fn both_config_spellings_read_the_same() {
    let (hub, _) = load("config.json");
    let (v5, _) = load("config.transformers5.json");
    assert_eq!(hub.rope_scaling, v5.rope_scaling);
    assert_eq!(hub.rope_theta, v5.rope_theta);
    assert_eq!(hub.stored_dtype, v5.stored_dtype);
    assert_eq!(hub.head_dim, 16);
}

#[test]
fn logits_hidden_states_and_norm_match_transformers() {
    let g = golden();
    for config_file in ["config.json", "config.transformers5.json"] {
        let (_, model) = load(config_file);
        let batch = Batch::<B>::right_padded(&[eval_ids()], 0, &Default::default());
        let mut trace = Trace::default();
        let normed = model.model.forward(&batch, None, Some(&mut trace));
        let logits = model.logits(normed.clone());

        let diff = max_abs_diff(&values(logits), &g.floats("base_logits").1);
        assert!(diff < 1e-4, "{config_file}: logits differ by {diff}");
        let diff = max_abs_diff(&values(normed), &g.floats("base_final_norm").1);
        assert!(diff < 1e-4, "{config_file}: final norm differs by {diff}");

        let (shape, hidden) = g.floats("base_hidden_states");
        assert_eq!(trace.hidden_states.len(), shape[0]);
        let per_layer = shape[1] * shape[2];
        for (i, h) in trace.hidden_states.into_iter().enumerate() {
            let diff = max_abs_diff(&values(h), &hidden[i * per_layer..(i + 1) * per_layer]);
            assert!(diff < 1e-4, "{config_file}: hidden state {i} differs by {diff}");
        }
    }
}

#[test]
fn rope_tables_match_transformers() {
    let g = golden();
    let (cfg, model) = load("config.json");
    let inv_freq = inverse_frequencies(&cfg);
    for (ours, theirs) in inv_freq.iter().zip(g.floats("rope_inv_freq").1) {
        assert!((ours - theirs).abs() <= 1e-6 * theirs.abs(), "inv_freq {ours} vs {theirs}");
    }
    let (shape, cos) = g.floats("rope_cos");
    let positions = Tensor::<B, 2, Int>::from_data(
        TensorData::new((0..shape[0] as i64).collect::<Vec<_>>(), [1, shape[0]]),
        &Default::default(),
    );
    let tables = model.model.rotary.tables(positions);
    assert!(max_abs_diff(&values(tables.cos), &cos) < 1e-6);
    assert!(max_abs_diff(&values(tables.sin), &g.floats("rope_sin").1) < 1e-6);
}

#[test]
fn padded_rows_equal_rows_run_alone() {
    let (cfg, model) = load("config.json");
    let ids = eval_ids();
    let rows = vec![ids[..9].to_vec(), ids.clone(), ids[3..20].to_vec()];
    let device = Default::default();
    let batched = values(model.forward(&Batch::<B>::right_padded(&rows, 0, &device)));
    let seq = ids.len();
    let vocab = cfg.vocab_size;
    for (r, row) in rows.iter().enumerate() {
        let alone =
            values(model.forward(&Batch::<B>::right_padded(std::slice::from_ref(row), 0, &device)));
        let start = r * seq * vocab;
        let diff = max_abs_diff(&batched[start..start + row.len() * vocab], &alone);
        assert!(diff < 1e-5, "row {r} differs by {diff} when padded");
    }
}

#[test]
fn packed_samples_equal_samples_run_alone() {
    let (cfg, model) = load("config.json");
    let ids = eval_ids();
    let samples = vec![ids[..7].to_vec(), ids[7..19].to_vec(), ids[19..].to_vec()];
    let device = Default::default();
    let packed =
        values(model.forward(&Batch::<B>::packed(std::slice::from_ref(&samples), 0, &device)));
    let vocab = cfg.vocab_size;
    let mut offset = 0;
    for sample in &samples {
        let alone = values(model.forward(&Batch::<B>::right_padded(
            std::slice::from_ref(sample),
            0,
            &device,
        )));
        let diff = max_abs_diff(&packed[offset * vocab..(offset + sample.len()) * vocab], &alone);
        assert!(diff < 1e-5, "packed sample differs by {diff}");
        offset += sample.len();
    }
}

#[test]
fn kv_cache_decoding_equals_full_forward() {
    let (cfg, model) = load("config.json");
    let ids = eval_ids();
    let device = Default::default();
    let full =
        values(model.forward(&Batch::<B>::right_padded(std::slice::from_ref(&ids), 0, &device)));
    let split = 20;
    let mut cache = KvCache::new(model.num_layers());
    let prefix = model.model.forward(
        &Batch::<B>::right_padded(&[ids[..split].to_vec()], 0, &device),
        Some(&mut cache),
        None,
    );
    let mut cached = values(model.logits(prefix));
    for (t, &id) in ids.iter().enumerate().skip(split) {
        let step = Batch::<B>::next_tokens(&[id], &[t as i64], &device);
        cached.extend(values(model.logits(model.model.forward(&step, Some(&mut cache), None))));
    }
    assert_eq!(cache.len(), ids.len());
    let diff = max_abs_diff(&full, &cached);
    assert!(diff < 1e-4, "cached decoding differs by {diff} (vocab {})", cfg.vocab_size);
}
