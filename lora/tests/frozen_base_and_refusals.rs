//! Training leaves the base untouched and moves every adapter tensor; adapters that do not fit
//! the base are refused with a message naming the file and the problem.

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use guardtune_lora::{
    adapter, attach, attached_sites, load_adapter, save_adapter, step_alone, AdamW, AdamWConfig,
    LoraConfig, MicroBatch, StepInput, StepSettings, TargetModules,
};
use guardtune_model::testing::fixture;
use guardtune_model::{load_model, Dtype, LlamaForCausalLM, Tokenizer};

type AD = Autodiff<Flex>;

/// Every parameter's values, with whether it requires a gradient.
struct Collect(Vec<(bool, Vec<f32>)>);

impl<B: Backend> ModuleVisitor<B> for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push((
            param.val().is_require_grad(),
            param.val().into_data().to_vec::<f32>().unwrap(),
        ));
    }
}

fn params(model: &LlamaForCausalLM<AD>) -> Vec<(bool, Vec<f32>)> {
    let mut collect = Collect(vec![]);
    model.visit(&mut collect);
    collect.0
}

fn all_linear(r: usize) -> LoraConfig {
    LoraConfig {
        r,
        alpha: 2.0 * r as f64,
        dropout: 0.1,
        target_modules: TargetModules::Preset("all-linear".into()),
        ..LoraConfig::default()
    }
}

#[test]
fn training_stories260k_keeps_the_base_bit_identical_and_moves_every_adapter() {
    let device = Default::default();
    let dir = fixture("models/stories260K");
    let (_, mut model) = load_model::<AD>(&dir, &device).unwrap();
    let sites = attach(&mut model, &all_linear(4), 7, &device).unwrap();
    assert_eq!(sites.len(), 5 * 7);
    let before = params(&model);
    let trainable = before.iter().filter(|(g, _)| *g).count();
    assert_eq!(trainable, 2 * sites.len(), "only LoRA tensors require gradients");

    let tokenizer = Tokenizer::from_model_dir(&dir).unwrap();
    let ids = tokenizer
        .encode("Once upon a time, there was a little girl named Lily. She loved to play.", true)
        .unwrap();
    let labels: Vec<i64> =
        ids.iter().enumerate().map(|(i, &t)| if i < 5 { -100 } else { t as i64 }).collect();
    let micro = vec![MicroBatch::unpacked(vec![ids], vec![labels])];
    let mut optim = AdamW::new(AdamWConfig { weight_decay: 0.01, ..Default::default() });
    let settings = StepSettings {
        seed: 0,
        max_grad_norm: Some(1.0),
        pad_id: tokenizer.pad_id,
        recompute: false,
        share_prefix: true,
        time_parts: false,
    };
    let losses: Vec<f64> = (0..3)
        .map(|step| {
            let input = StepInput { step, micro: micro.clone(), lr: 1e-2 };
            step_alone(&mut model, &mut optim, &input, settings, &device).unwrap().loss
        })
        .collect();
    assert!(losses[2] < losses[0], "loss should fall: {losses:?}");

    let after = params(&model);
    assert_eq!(before.len(), after.len());
    for ((grad, b), (_, a)) in before.iter().zip(&after) {
        if *grad {
            assert_ne!(a, b, "a LoRA tensor did not change");
        } else {
            assert_eq!(a, b, "a frozen base tensor changed");
        }
    }
    assert_eq!(optim.state.len(), 2 * sites.len(), "optimizer state only for LoRA tensors");
}

#[test]
fn rslora_scales_by_the_square_root_of_r() {
    let mut config = all_linear(16);
    config.alpha = 8.0;
    assert_eq!(config.scale(), 0.5);
    config.use_rslora = true;
    assert_eq!(config.scale(), 2.0);
    let device = Default::default();
    let (_, mut model) = load_model::<Flex>(&fixture("models/stories260K"), &device).unwrap();
    attach(&mut model, &config, 1, &device).unwrap();
    let site = attached_sites(&model)[0];
    assert_eq!(adapter(&model, site).scale, 2.0);
}

#[test]
fn unknown_targets_and_layers_are_refused() {
    let device = Default::default();
    let (_, mut model) = load_model::<Flex>(&fixture("models/stories260K"), &device).unwrap();
    let mut config = all_linear(4);
    config.target_modules = TargetModules::Names(vec!["qkv_proj".into()]);
    let err = attach(&mut model, &config, 1, &device).unwrap_err().to_string();
    assert!(err.contains("qkv_proj"), "{err}");
    let mut config = all_linear(4);
    config.layers = Some(vec![9]);
    let err = attach(&mut model, &config, 1, &device).unwrap_err().to_string();
    assert!(err.contains("layer 9") && err.contains("5 layers"), "{err}");
}

/// An adapter trained on tiny-llama31 (2 layers, hidden 64) does not fit stories260K.
#[test]
fn an_adapter_for_another_base_is_refused() {
    let device = Default::default();
    let (_, mut model) = load_model::<Flex>(&fixture("models/stories260K"), &device).unwrap();
    let err =
        load_adapter(&mut model, &fixture("golden/adapter"), &device).unwrap_err().to_string();
    assert!(err.contains("adapter_model.safetensors") && err.contains("expected"), "{err}");

    // A layer the model does not have.
    let (_, mut small) = load_model::<Flex>(&fixture("golden/tiny-llama31"), &device).unwrap();
    let mut config = all_linear(4);
    config.layers = Some(vec![1]);
    attach(&mut small, &config, 1, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_adapter(&small, &config, "x", dir.path(), Dtype::F32).unwrap();
    let mut one_layer = small.clone();
    one_layer.model.layers.truncate(1);
    let err = load_adapter(&mut one_layer, dir.path(), &device).unwrap_err().to_string();
    assert!(err.contains("layer 1") && err.contains("1 layers"), "{err}");
}

#[test]
fn dora_and_unknown_keys_are_refused() {
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    for file in ["adapter_config.json", "adapter_model.safetensors"] {
        std::fs::copy(fixture("golden/adapter").join(file), dir.path().join(file)).unwrap();
    }
    let config_path = dir.path().join("adapter_config.json");
    let original = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, original.replace("\"use_dora\": false", "\"use_dora\": true"))
        .unwrap();
    let (_, mut model) = load_model::<Flex>(&fixture("golden/tiny-llama31"), &device).unwrap();
    let err = load_adapter(&mut model, dir.path(), &device).unwrap_err().to_string();
    assert!(err.contains("adapter_config.json") && err.contains("DoRA"), "{err}");
    std::fs::write(&config_path, original.replace("\"q_proj\"", "\"qkv\"")).unwrap();
    let err = load_adapter(&mut model, dir.path(), &device).unwrap_err().to_string();
    assert!(err.contains("qkv"), "{err}");
}
