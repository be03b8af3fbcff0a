//! Llama 3.1 (LlamaForCausalLM) in Burn.
//!
//! Module and field names mirror the Hugging Face checkpoint (`model.layers.3.self_attn.q_proj`),
//! so a tensor's name is its path in this tree; [`ProjKind::checkpoint_name`] is the single
//! place that spells those paths. Computation follows transformers' `modeling_llama.py`:
//! RMSNorm, rotate-half RoPE, grouped-query attention with scores scaled after `QKᵀ`, SwiGLU.
//!
//! The frozen base computes in the dtype it is stored in (f32, or bf16 on GPUs), with the same
//! upcasts as transformers: RMSNorm and the attention softmax in f32, logits returned in f32.
//! LoRA adapters stay f32 (PEFT's `autocast_adapter_dtype`): their input is cast up and their
//! sum with the base output is taken in f32 and rounded once.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::backend::Backend;
use burn::tensor::module::embedding;
use burn::tensor::{DType, Distribution, Tensor, TensorData};

use crate::attention::attention;
use crate::batch::Batch;
use crate::cache::{KvCache, LayerCache};
use crate::config::LlamaConfig;
use crate::dtype::Dtype;
use crate::error::ModelError;
use crate::kernels::dropout::dropout;
use crate::kernels::linear::linear;
use crate::kernels::rms_norm::rms_norm;
use crate::kernels::swiglu::swiglu;
use crate::rope::{HeadRotation, Rope};
use crate::weights::{transpose, Init, WeightSource};

/// The seven linear layers of a decoder layer, in the order PEFT lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProjKind {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl ProjKind {
    pub const ALL: [ProjKind; 7] = [
        ProjKind::Q,
        ProjKind::K,
        ProjKind::V,
        ProjKind::O,
        ProjKind::Gate,
        ProjKind::Up,
        ProjKind::Down,
    ];

    /// The module name in checkpoints and PEFT's `target_modules` (`q_proj`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ProjKind::Q => "q_proj",
            ProjKind::K => "k_proj",
            ProjKind::V => "v_proj",
            ProjKind::O => "o_proj",
            ProjKind::Gate => "gate_proj",
            ProjKind::Up => "up_proj",
            ProjKind::Down => "down_proj",
        }
    }

    pub fn from_name(name: &str) -> Option<ProjKind> {
        ProjKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// `self_attn` or `mlp`: the block that holds this projection.
    pub fn block(self) -> &'static str {
        match self {
            ProjKind::Q | ProjKind::K | ProjKind::V | ProjKind::O => "self_attn",
            ProjKind::Gate | ProjKind::Up | ProjKind::Down => "mlp",
        }
    }

    /// The checkpoint name of this projection in decoder layer `layer`, without `.weight`
    /// (`model.layers.3.self_attn.q_proj`): the one place these paths are spelled.
    pub fn checkpoint_name(self, layer: usize) -> String {
        format!("model.layers.{layer}.{}.{}", self.block(), self.name())
    }

    /// `(in_features, out_features)` for this projection under `cfg`.
    pub fn dims(self, cfg: &LlamaConfig) -> (usize, usize) {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let q = cfg.num_attention_heads * cfg.head_dim;
        let kv = cfg.num_key_value_heads * cfg.head_dim;
        match self {
            ProjKind::Q => (h, q),
            ProjKind::K | ProjKind::V => (h, kv),
            ProjKind::O => (q, h),
            ProjKind::Gate | ProjKind::Up => (h, i),
            ProjKind::Down => (i, h),
        }
    }
}

/// A trainable low-rank update riding on a frozen projection (LoRA):
/// `y = x W + scale * (dropout(x) A) B`, computed on the activations so the frozen `W` never
/// needs a weight gradient. The `lora` crate creates, trains, saves and merges these; the model
/// only applies them.
#[derive(Module, Debug)]
pub struct LowRank<B: Backend> {
    /// `[in, r]` (PEFT's `lora_A.weight` transposed).
    pub a: Param<Tensor<B, 2>>,
    /// `[r, out]` (PEFT's `lora_B.weight` transposed).
    pub b: Param<Tensor<B, 2>>,
    pub scale: f64,
    pub dropout: Dropout,
}

impl<B: Backend> LowRank<B> {
    pub fn new(a: Tensor<B, 2>, b: Tensor<B, 2>, scale: f64, dropout: f64) -> Self {
        LowRank {
            a: Param::from_tensor(a),
            b: Param::from_tensor(b),
            scale,
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    pub fn rank(&self) -> usize {
        self.a.val().dims()[1]
    }

    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        // Inverted dropout as `Dropout` does it (only when training, i.e. on an autodiff
        // backend), but with its 1/keep folded into the scale below: one full-size product
        // instead of two.
        let (x, scale) = match self.dropout.prob {
            p if p > 0.0 && B::ad_enabled(&x.device()) => {
                let keep = 1.0 - p;
                (dropout(x, keep), self.scale / keep)
            }
            _ => (x, self.scale),
        };
        // Scaling the rank-r intermediate rather than the output touches r values per token
        // instead of `out`, forward and backward.
        linear(linear(x, self.a.val()).mul_scalar(scale), self.b.val())
    }
}

/// A bias-free linear layer of the base model, optionally carrying a [`LowRank`] adapter.
#[derive(Module, Debug)]
pub struct Projection<B: Backend> {
    /// `[in, out]`: Burn's layout, the checkpoint's `[out, in]` transposed. Frozen.
    pub weight: Param<Tensor<B, 2>>,
    pub adapter: Option<LowRank<B>>,
}

impl<B: Backend> Projection<B> {
    fn load(w: &mut Loader<B>, name: &str, in_features: usize, out_features: usize) -> Self {
        Projection {
            weight: w.matrix_transposed(&format!("{name}.weight"), out_features, in_features),
            adapter: None,
        }
    }

    /// `x` `[..., in]` -> `[..., out]`, computed as one 2-D matmul over all leading positions
    /// (a batched matmul would run one small product per row and sum weight gradients over them).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mut dims = x.dims();
        let [in_features, out_features] = self.weight.val().dims();
        let x = x.reshape([dims[..D - 1].iter().product(), in_features]);
        let y = linear(x.clone(), self.weight.val());
        let y = match &self.adapter {
            Some(adapter) => {
                let dtype = y.dtype();
                (y.cast(DType::F32) + adapter.forward(x.cast(DType::F32))).cast(dtype)
            }
            None => y,
        };
        dims[D - 1] = out_features;
        y.reshape(dims)
    }
}

/// Root-mean-square layer norm, computed in f32 whatever the model's dtype, as transformers
/// does; the gain multiplies the result rounded back to that dtype.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    fn load(w: &mut Loader<B>, name: &str, size: usize, eps: f64) -> Self {
        RmsNorm { weight: w.vector(&format!("{name}.weight"), size), eps }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        rms_norm(x, self.weight.val(), self.eps)
    }
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q_proj: Projection<B>,
    pub k_proj: Projection<B>,
    pub v_proj: Projection<B>,
    pub o_proj: Projection<B>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl<B: Backend> Attention<B> {
    /// `x` `[batch, seq, hidden]`; `bias` `[batch, 1, 1, seq, keys]` is 0 where
    /// attention is allowed and -inf where it is not. With a cache, keys are the cached ones
    /// plus these.
    fn forward(
        &self,
        x: Tensor<B, 3>,
        rotation: &AttentionRotation<B>,
        bias: Tensor<B, 5>,
        cache: Option<&mut LayerCache<B>>,
    ) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        let (heads, kv_heads, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let group = heads / kv_heads;
        // Projections stay token-major `[batch * seq, heads * d]`; head axes are strided views
        // that the matmuls read in place, so no head transpose is ever copied on the way in.
        let tokens = |t: Tensor<B, 3>| {
            let width = t.dims()[2];
            t.reshape([batch * seq, width])
        };
        let q = rotation.queries.apply(tokens(self.q_proj.forward(x.clone())));
        let k = rotation.keys.apply(tokens(self.k_proj.forward(x.clone())));
        let v = tokens(self.v_proj.forward(x));
        // Grouped-query attention without repeating K/V: queries are viewed as
        // `[batch, kv_heads, group, seq, d]` and keys/values as `[batch, kv_heads, 1, keys, d]`,
        // which broadcasts over the group. (Views are reshaped only while contiguous: on CPU a
        // reshape of a strided view is a copy.)
        let grouped =
            |t: Tensor<B, 2>| t.reshape([batch, seq, kv_heads, 1, d]).permute([0, 2, 3, 1, 4]);
        let (k, v) = match cache {
            Some(cache) => cache.append(grouped(k), grouped(v)),
            None => (grouped(k), grouped(v)),
        };
        let q = q.reshape([batch, seq, kv_heads, group, d]).permute([0, 2, 3, 1, 4]);
        // The 1/sqrt(d) score scale is already in the rotated queries.
        let out = attention(q, k, v, bias);
        let out = out.permute([0, 3, 1, 2, 4]).reshape([batch, seq, heads * d]);
        self.o_proj.forward(out)
    }
}

/// What every decoder layer of one forward pass reads besides its input, computed once per pass
/// ([`LlamaModel::layer_context`]).
pub struct LayerContext<B: Backend> {
    rotation: AttentionRotation<B>,
    /// `[batch, 1, 1, queries, keys]`: 0 where attention is allowed, -inf elsewhere; shared by
    /// all heads.
    bias: Tensor<B, 5>,
}

/// The rotations of one forward pass, shared by every layer.
struct AttentionRotation<B: Backend> {
    /// Also applies the score scale `1/sqrt(head_dim)`.
    queries: HeadRotation<B>,
    keys: HeadRotation<B>,
}

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub gate_proj: Projection<B>,
    pub up_proj: Projection<B>,
    pub down_proj: Projection<B>,
}

impl<B: Backend> Mlp<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate = self.gate_proj.forward(x.clone());
        self.down_proj.forward(swiglu(gate, self.up_proj.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub input_layernorm: RmsNorm<B>,
    pub self_attn: Attention<B>,
    pub post_attention_layernorm: RmsNorm<B>,
    pub mlp: Mlp<B>,
}

impl<B: Backend> DecoderLayer<B> {
    fn load(w: &mut Loader<B>, cfg: &LlamaConfig, layer: usize) -> Self {
        let mut proj = |kind: ProjKind| {
            let (i, o) = kind.dims(cfg);
            Projection::load(w, &kind.checkpoint_name(layer), i, o)
        };
        let self_attn = Attention {
            q_proj: proj(ProjKind::Q),
            k_proj: proj(ProjKind::K),
            v_proj: proj(ProjKind::V),
            o_proj: proj(ProjKind::O),
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
        };
        let mlp = Mlp {
            gate_proj: proj(ProjKind::Gate),
            up_proj: proj(ProjKind::Up),
            down_proj: proj(ProjKind::Down),
        };
        let norm = |w: &mut Loader<B>, name: &str| {
            RmsNorm::load(
                w,
                &format!("model.layers.{layer}.{name}"),
                cfg.hidden_size,
                cfg.rms_norm_eps,
            )
        };
        DecoderLayer {
            input_layernorm: norm(w, "input_layernorm"),
            self_attn,
            post_attention_layernorm: norm(w, "post_attention_layernorm"),
            mlp,
        }
    }

    /// The layer's output for input `x` `[batch, seq, hidden]`. Public so that training can
    /// run the layers one at a time (per-layer recomputation, `guardtune_lora::passes`).
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        context: &LayerContext<B>,
        cache: Option<&mut LayerCache<B>>,
    ) -> Tensor<B, 3> {
        let attention = self.self_attn.forward(
            self.input_layernorm.forward(x.clone()),
            &context.rotation,
            context.bias.clone(),
            cache,
        );
        let h = x + attention;
        h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h))
    }
}

/// The token embedding table `[vocab, hidden]` (same layout in Burn and PyTorch).
#[derive(Module, Debug)]
pub struct Embedding<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
}

/// `model.*` in the checkpoint: embeddings, decoder layers, final norm.
#[derive(Module, Debug)]
pub struct LlamaModel<B: Backend> {
    pub embed_tokens: Embedding<B>,
    pub layers: Vec<DecoderLayer<B>>,
    pub norm: RmsNorm<B>,
    pub rotary: Rope<B>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

/// What a forward pass can record besides its output, for parity tests against transformers.
#[derive(Default)]
pub struct Trace<B: Backend> {
    /// The embedding output, then each decoder layer's output (before the final norm).
    pub hidden_states: Vec<Tensor<B, 3>>,
}

impl<B: Backend> LlamaModel<B> {
    /// Final-norm hidden states `[batch, seq, hidden]`.
    pub fn forward(
        &self,
        batch: &Batch<B>,
        mut cache: Option<&mut KvCache<B>>,
        mut trace: Option<&mut Trace<B>>,
    ) -> Tensor<B, 3> {
        let context = self.layer_context(batch, cache.as_deref());
        let mut x = self.embed(batch);
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some(trace) = trace.as_deref_mut() {
                trace.hidden_states.push(x.clone());
            }
            let layer_cache = cache.as_deref_mut().map(|c| c.layer(i));
            x = layer.forward(x, &context, layer_cache);
        }
        if let Some(trace) = trace {
            trace.hidden_states.push(x.clone());
        }
        if let Some(cache) = cache {
            cache.commit(&batch.segments);
        }
        self.norm.forward(x)
    }

    /// The token embeddings of `batch`: the first decoder layer's input.
    pub fn embed(&self, batch: &Batch<B>) -> Tensor<B, 3> {
        embedding(self.embed_tokens.weight.val(), batch.input_ids.clone())
    }

    /// What every decoder layer reads for `batch` besides its input; with a cache, the keys
    /// are the cached ones plus the batch's.
    pub fn layer_context(&self, batch: &Batch<B>, cache: Option<&KvCache<B>>) -> LayerContext<B> {
        let bias = match cache {
            Some(cache) => cache.attention_bias(&batch.segments),
            None => batch.self_attention_bias(),
        };
        LayerContext { rotation: self.attention_rotation(batch), bias: bias.cast(self.dtype()) }
    }

    /// The dtype the base computes in: the one its weights are stored in.
    pub fn dtype(&self) -> DType {
        self.embed_tokens.weight.val().dtype()
    }

    fn attention_rotation(&self, batch: &Batch<B>) -> AttentionRotation<B> {
        let tables = self.rotary.tables(batch.positions.clone());
        let scale = (self.head_dim as f64).powf(-0.5);
        let dtype = self.dtype();
        AttentionRotation {
            queries: self.rotary.for_heads(&tables, self.num_heads, scale, dtype),
            keys: self.rotary.for_heads(&tables, self.num_kv_heads, 1.0, dtype),
        }
    }
}

/// A Llama causal language model: `model` plus the output head (`lm_head`, or the embedding
/// table when the checkpoint ties them).
#[derive(Module, Debug)]
pub struct LlamaForCausalLM<B: Backend> {
    pub model: LlamaModel<B>,
    pub lm_head: Option<Projection<B>>,
}

impl<B: Backend> LlamaForCausalLM<B> {
    /// Builds the model from a weight source (a weights file or a random initialisation), its
    /// weights stored in `dtype` (whatever the file holds). Every base parameter is frozen: it
    /// keeps no gradient and gets no optimizer state.
    pub fn load(
        cfg: &LlamaConfig,
        source: Box<dyn WeightSource>,
        dtype: Dtype,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        let mut w = Loader { source, dtype: dtype.burn(), device: device.clone() };
        let embed_tokens = Embedding {
            weight: w.matrix("model.embed_tokens.weight", cfg.vocab_size, cfg.hidden_size),
        };
        let layers =
            (0..cfg.num_hidden_layers).map(|i| DecoderLayer::load(&mut w, cfg, i)).collect();
        let norm = RmsNorm::load(&mut w, "model.norm", cfg.hidden_size, cfg.rms_norm_eps);
        let lm_head = (!cfg.tie_word_embeddings)
            .then(|| Projection::load(&mut w, "lm_head", cfg.hidden_size, cfg.vocab_size));
        w.source.finish()?;
        let model = LlamaModel {
            embed_tokens,
            layers,
            norm,
            rotary: Rope::new(cfg, device),
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
        };
        Ok(LlamaForCausalLM { model, lm_head })
    }

    /// Logits `[batch, seq, vocab]` for every position, in f32.
    pub fn forward(&self, batch: &Batch<B>) -> Tensor<B, 3> {
        self.logits(self.model.forward(batch, None, None))
    }

    /// The output head applied to final hidden states `[batch, seq, hidden]`, in f32. Callers
    /// that need only some positions (generation, chunked losses) pass just those.
    pub fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        let logits = match &self.lm_head {
            Some(head) => head.forward(hidden),
            // As one 2-D product, which reads the transposed table in place; a batched one
            // copies it first (113 MB per call for SmolLM2, per decoding step).
            None => {
                let [batch, seq, width] = hidden.dims();
                let table = self.model.embed_tokens.weight.val();
                let vocab = table.dims()[0];
                linear(hidden.reshape([batch * seq, width]), table.transpose())
                    .reshape([batch, seq, vocab])
            }
        };
        logits.cast(DType::F32)
    }

    /// The output head as `[hidden, vocab]`: `lm_head`'s weight, or the tied embedding table
    /// transposed (a view).
    pub fn head_weight(&self) -> Tensor<B, 2> {
        match &self.lm_head {
            Some(head) => head.weight.val(),
            None => self.model.embed_tokens.weight.val().transpose(),
        }
    }

    /// The projection `kind` of decoder layer `layer`.
    pub fn projection(&self, layer: usize, kind: ProjKind) -> &Projection<B> {
        let l = &self.model.layers[layer];
        match kind {
            ProjKind::Q => &l.self_attn.q_proj,
            ProjKind::K => &l.self_attn.k_proj,
            ProjKind::V => &l.self_attn.v_proj,
            ProjKind::O => &l.self_attn.o_proj,
            ProjKind::Gate => &l.mlp.gate_proj,
            ProjKind::Up => &l.mlp.up_proj,
            ProjKind::Down => &l.mlp.down_proj,
        }
    }

    pub fn projection_mut(&mut self, layer: usize, kind: ProjKind) -> &mut Projection<B> {
        let l = &mut self.model.layers[layer];
        match kind {
            ProjKind::Q => &mut l.self_attn.q_proj,
            ProjKind::K => &mut l.self_attn.k_proj,
            ProjKind::V => &mut l.self_attn.v_proj,
            ProjKind::O => &mut l.self_attn.o_proj,
            ProjKind::Gate => &mut l.mlp.gate_proj,
            ProjKind::Up => &mut l.mlp.up_proj,
            ProjKind::Down => &mut l.mlp.down_proj,
        }
    }

    pub fn num_layers(&self) -> usize {
        self.model.layers.len()
    }

    pub fn vocab_size(&self) -> usize {
        self.model.embed_tokens.weight.val().dims()[0]
    }
}

/// Turns named checkpoint tensors into frozen Burn parameters on one device.
struct Loader<B: Backend> {
    source: Box<dyn WeightSource>,
    dtype: DType,
    device: B::Device,
}

impl<B: Backend> Loader<B> {
    fn read(&mut self, name: &str, shape: &[usize], init: Init) -> Vec<f32> {
        // On a problem the source records it and we continue with zeros, so that one load
        // reports every missing or mis-shaped tensor at once.
        self.source.tensor(name, shape, init).unwrap_or_else(|| vec![0.0; shape.iter().product()])
    }

    fn frozen<const D: usize>(&self, values: Vec<f32>, shape: [usize; D]) -> Param<Tensor<B, D>> {
        // Converted on the host: a bf16 model never holds an f32 copy of a tensor on the device.
        let data = TensorData::new(values, shape).convert_dtype(self.dtype);
        let tensor = Tensor::from_data(data, (&self.device, self.dtype));
        Param::from_tensor(tensor).set_require_grad(false)
    }

    fn vector(&mut self, name: &str, n: usize) -> Param<Tensor<B, 1>> {
        let values = self.read(name, &[n], Init::Ones);
        self.frozen(values, [n])
    }

    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Param<Tensor<B, 2>> {
        if let Some(drawn) = self.drawn_on_device([rows, cols]) {
            return drawn;
        }
        let values = self.read(name, &[rows, cols], Init::Normal);
        self.frozen(values, [rows, cols])
    }

    /// A PyTorch `[out, in]` weight stored as Burn's `[in, out]`.
    fn matrix_transposed(
        &mut self,
        name: &str,
        out_features: usize,
        in_features: usize,
    ) -> Param<Tensor<B, 2>> {
        if let Some(drawn) = self.drawn_on_device([in_features, out_features]) {
            return drawn;
        }
        let values = self.read(name, &[out_features, in_features], Init::Normal);
        self.frozen(transpose(&values, out_features, in_features), [in_features, out_features])
    }

    /// A random matrix drawn by the device, for sources that allow it (see
    /// [`WeightSource::drawn_on_device`]).
    fn drawn_on_device(&self, shape: [usize; 2]) -> Option<Param<Tensor<B, 2>>> {
        let std = self.source.drawn_on_device()?;
        let tensor = Tensor::random(
            shape,
            Distribution::Normal(0.0, std as f64),
            (&self.device, self.dtype),
        );
        Some(Param::from_tensor(tensor).set_require_grad(false))
    }
}
