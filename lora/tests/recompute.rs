//! Per-layer recomputation (`training.gradient_checkpointing`) gives the gradients of the whole
//! graph: same loss, same adapter gradients, with dropout (the recomputed layers must draw the
//! masks their first pass drew), packed and padded rows, and adapters on some layers only.

use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::backend::ExecutionError;
use burn::tensor::{DType, Tensor, TensorData};
use guardtune_lora::{
    adapter_params, attach, param_mut, step, AdamW, AdamWConfig, Factor, LoraConfig, MicroBatch,
    Share, StepInput, StepSettings, TargetModules,
};
use guardtune_model::testing::{fixture, max_abs_diff};
use guardtune_model::SplitMix64;
use guardtune_model::{load_model_as, Dtype, LlamaForCausalLM};

/// stories260K (5 layers, 8 query heads over 4 key/value heads) with adapters whose B is random,
/// so that every adapter weight has a gradient (PEFT's zero B would leave A's at zero).
/// The weights are the same for every backend.
fn guard<B: AutodiffBackend>(
    dtype: Dtype,
    layers: Option<Vec<usize>>,
    dropout: f64,
) -> LlamaForCausalLM<B> {
    let device = Default::default();
    let (_, mut model) =
        load_model_as::<B>(&fixture("models/stories260K"), dtype, &device).unwrap();
    let config = LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout,
        target_modules: TargetModules::Preset("all-linear".into()),
        layers,
        use_rslora: false,
        init: Default::default(),
        init_from: None,
    };
    attach(&mut model, &config, 5, &device).unwrap();
    // Drawn on the host: tests running at once share the backend's generator.
    let mut rng = SplitMix64::new(17);
    for name in adapter_params(&model).into_iter().filter(|p| p.factor == Factor::B) {
        let b = param_mut(&mut model, name);
        let [rank, width] = b.val().dims();
        let values: Vec<f32> =
            (0..rank * width).map(|_| (rng.next_u64() % 2001) as f32 / 1e4 - 0.1).collect();
        let value = Tensor::from_data(TensorData::new(values, [rank, width]), &device);
        *b = Param::initialized(b.id, value.require_grad());
    }
    model
}

/// Two rows: two samples packed into the first, the second padded; labels ignored on prompts.
fn micro_batch() -> MicroBatch {
    let row = |start: u32, len: usize| -> Vec<u32> {
        (0..len as u32).map(|i| (start + 37 * i) % 500 + 3).collect()
    };
    let labels = |ids: &[u32], prompt: usize| -> Vec<i64> {
        ids.iter().enumerate().map(|(i, &t)| if i < prompt { -100 } else { t as i64 }).collect()
    };
    let (a, b, c) = (row(1, 9), row(50, 7), row(99, 11));
    let first: Vec<u32> = a.iter().chain(&b).copied().collect();
    let first_labels: Vec<i64> = labels(&a, 3).into_iter().chain(labels(&b, 2)).collect();
    MicroBatch {
        input_ids: vec![first, c.clone()],
        labels: vec![first_labels, labels(&c, 4)],
        packed_lengths: Some(vec![vec![9, 7], vec![11]]),
    }
}

/// The summed loss and the adapter gradients of the trainer's step on one micro-batch, its
/// dropout masks drawn from `seed` (the model itself is left as it is).
fn gradients<B: AutodiffBackend>(model: &LlamaForCausalLM<B>, seed: u64, recompute: bool) -> Grads {
    let settings = StepSettings {
        seed,
        max_grad_norm: None,
        pad_id: 0,
        recompute,
        share_prefix: true,
        time_parts: false,
    };
    let input = StepInput { step: 0, micro: vec![micro_batch()], lr: 0.0 };
    let mut captured = None;
    let mut optimizer = AdamW::new(AdamWConfig::default());
    step(
        &mut model.clone(),
        &mut optimizer,
        &input,
        Share::ALL,
        settings,
        &Default::default(),
        |sums| {
            let grads = sums.grads.iter().map(|(name, g)| {
                (name.to_string(), g.clone().cast(DType::F32).into_data().to_vec().unwrap())
            });
            captured = Some((sums.loss_sum, grads.collect()));
            Ok::<_, ExecutionError>(sums)
        },
    )
    .unwrap();
    captured.unwrap()
}

/// Largest difference between two gradient sets, relative to the largest gradient value.
fn relative_difference(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
    assert_eq!(
        a.iter().map(|g| &g.0).collect::<Vec<_>>(),
        b.iter().map(|g| &g.0).collect::<Vec<_>>()
    );
    let scale = a.iter().flat_map(|g| g.1.iter()).fold(0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).map(|(x, y)| max_abs_diff(&x.1, &y.1)).fold(0f32, f32::max) / scale
}

type Grads = (f64, Vec<(String, Vec<f32>)>);

/// Asserts that `recomputed` has `graph`'s loss and gradients within relative `tolerance`.
fn assert_same(graph: &Grads, recomputed: &Grads, tolerance: f64, what: &str) {
    let (loss, recomputed_loss) = (graph.0, recomputed.0);
    assert!(
        (loss - recomputed_loss).abs() < tolerance * loss,
        "{what}: loss {loss} vs {recomputed_loss}"
    );
    let diff = relative_difference(&graph.1, &recomputed.1);
    assert!((diff as f64) < tolerance, "{what}: gradients differ by {diff}");
}

#[test]
fn recomputed_layers_give_the_whole_graphs_gradients_with_dropout() {
    let model = guard::<Autodiff<Flex>>(Dtype::F32, None, 0.1);
    let graph = gradients(&model, 3, false);
    assert_eq!(graph.1.len(), 2 * 7 * 5, "every adapter weight has a gradient");
    assert!(graph.1.iter().all(|(_, g)| g.iter().any(|v| *v != 0.0)));
    assert_same(&graph, &gradients(&model, 3, true), 1e-5, "recomputed");
    // The masks matter: another seed gives other gradients, so the match above is not vacuous.
    let other_masks = relative_difference(&graph.1, &gradients(&model, 4, true).1);
    assert!(other_masks > 1e-2, "other masks moved the gradients by only {other_masks}");
    // The trainer's checkpointing backend: recomputed layers with chunked attention inside.
    let checkpointed =
        gradients(&guard::<Autodiff<Flex, BalancedCheckpointing>>(Dtype::F32, None, 0.1), 3, true);
    assert_same(&graph, &checkpointed, 1e-5, "checkpointed");
}

#[test]
fn adapters_on_some_layers_only_stop_the_backward_pass_at_the_lowest() {
    // The last layer (4) is differentiated in the forward pass's graph, the others rerun.
    for layers in [vec![2, 4], vec![4], vec![1, 3]] {
        let model = guard::<Autodiff<Flex>>(Dtype::F32, Some(layers.clone()), 0.0);
        let graph = gradients(&model, 0, false);
        assert_eq!(graph.1.len(), 2 * 7 * layers.len());
        assert_same(
            &graph,
            &gradients(&model, 0, true),
            1e-5,
            &format!("adapters on layers {layers:?}"),
        );
    }
}

#[test]
fn a_bf16_base_recomputes_to_the_same_gradients() {
    let model = guard::<Autodiff<Flex>>(Dtype::BF16, None, 0.1);
    // The same operations in the same order: equal up to bf16 rounding of sums.
    assert_same(&gradients(&model, 8, false), &gradients(&model, 8, true), 1e-2, "bf16");
}
