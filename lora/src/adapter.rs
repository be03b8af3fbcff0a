//! Attaching LoRA adapters to a frozen base model, and addressing them by PEFT name.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use guardtune_model::SplitMix64;
use guardtune_model::{LlamaForCausalLM, LowRank, ProjKind};

use crate::config::{LoraConfig, LoraInit};
use crate::error::LoraError;

/// Where one adapter sits: decoder layer and projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    pub layer: usize,
    pub kind: ProjKind,
}

impl Site {
    /// PEFT's module path, e.g. `base_model.model.model.layers.0.self_attn.q_proj`; the tensors
    /// are this plus `.lora_A.weight` / `.lora_B.weight`.
    pub fn peft_prefix(&self) -> String {
        format!("base_model.model.{}", self.kind.checkpoint_name(self.layer))
    }
}

/// Which of an adapter's two matrices: `A` (`[in, r]`, PEFT's `lora_A`) or `B` (`[r, out]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Factor {
    A,
    B,
}

impl Factor {
    pub const BOTH: [Factor; 2] = [Factor::A, Factor::B];
}

/// One trainable tensor: a factor of the adapter at a site. Its text form is the PEFT tensor
/// name (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`), the key of adapter
/// files, gradients and optimizer state alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdapterParam {
    pub site: Site,
    pub factor: Factor,
}

impl std::fmt::Display for AdapterParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let factor = match self.factor {
            Factor::A => "A",
            Factor::B => "B",
        };
        write!(f, "{}.lora_{factor}.weight", self.site.peft_prefix())
    }
}

impl std::str::FromStr for AdapterParam {
    type Err = String;

    /// Parses `base_model.model.model.layers.{i}.{self_attn|mlp}.{proj}.lora_{A|B}.weight`.
    fn from_str(name: &str) -> Result<Self, String> {
        let invalid = || format!("`{name}` is not a LoRA A/B weight of a Llama projection");
        let rest = name.strip_prefix("base_model.model.model.layers.").ok_or_else(invalid)?;
        let mut parts = rest.splitn(4, '.');
        let (Some(layer), Some(block), Some(proj), Some(tail)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let factor = match tail {
            "lora_A.weight" => Factor::A,
            "lora_B.weight" => Factor::B,
            _ => return Err(invalid()),
        };
        let kind = ProjKind::from_name(proj).filter(|k| k.block() == block).ok_or_else(invalid)?;
        let layer = layer.parse().map_err(|_| invalid())?;
        Ok(AdapterParam { site: Site { layer, kind }, factor })
    }
}

/// The sites a config selects on a model with `num_layers` layers, in a fixed order (layer,
/// then q, k, v, o, gate, up, down), which is also the order random initialisation follows.
pub fn sites(config: &LoraConfig, num_layers: usize) -> Result<Vec<Site>, LoraError> {
    config.validate().map_err(LoraError::Config)?;
    let kinds = config.targets().map_err(LoraError::Config)?;
    let layers: Vec<usize> = match &config.layers {
        Some(layers) => {
            if let Some(bad) = layers.iter().find(|&&l| l >= num_layers) {
                return Err(LoraError::Config(format!(
                    "lora.layers has layer {bad}, but the model has {num_layers} layers"
                )));
            }
            let mut layers = layers.clone();
            layers.sort_unstable();
            layers.dedup();
            layers
        }
        None => (0..num_layers).collect(),
    };
    Ok(layers
        .iter()
        .flat_map(|&layer| kinds.iter().map(move |&kind| Site { layer, kind }))
        .collect())
}

/// Adds freshly initialised adapters (A random, B zero) at every site the config selects.
/// The same seed gives the same adapters on every machine and backend.
pub fn attach<B: Backend>(
    model: &mut LlamaForCausalLM<B>,
    config: &LoraConfig,
    seed: u64,
    device: &B::Device,
) -> Result<Vec<Site>, LoraError> {
    let sites = sites(config, model.num_layers())?;
    let mut rng = SplitMix64::new(seed);
    for site in &sites {
        let projection = model.projection_mut(site.layer, site.kind);
        let [fan_in, fan_out] = projection.weight.val().dims();
        let r = config.r;
        let a: Vec<f32> = match config.init {
            LoraInit::Peft => {
                let bound = 1.0 / (fan_in as f64).sqrt();
                (0..fan_in * r).map(|_| rng.uniform_in(-bound, bound)).collect()
            }
            LoraInit::Gaussian => (0..fan_in * r).map(|_| rng.normal() / r as f32).collect(),
        };
        let a = Tensor::from_data(TensorData::new(a, [fan_in, r]), device);
        let b = Tensor::zeros([r, fan_out], device);
        projection.adapter = Some(LowRank::new(a, b, config.scale(), config.dropout));
    }
    Ok(sites)
}

/// Every site that carries an adapter, in [`sites`] order.
pub fn attached_sites<B: Backend>(model: &LlamaForCausalLM<B>) -> Vec<Site> {
    (0..model.num_layers())
        .flat_map(|layer| ProjKind::ALL.into_iter().map(move |kind| Site { layer, kind }))
        .filter(|site| model.projection(site.layer, site.kind).adapter.is_some())
        .collect()
}

/// The adapter at `site`.
pub fn adapter<B: Backend>(model: &LlamaForCausalLM<B>, site: Site) -> &LowRank<B> {
    model.projection(site.layer, site.kind).adapter.as_ref().expect("site carries an adapter")
}

pub fn adapter_mut<B: Backend>(model: &mut LlamaForCausalLM<B>, site: Site) -> &mut LowRank<B> {
    model.projection_mut(site.layer, site.kind).adapter.as_mut().expect("site carries an adapter")
}

/// The tensor `param` names.
pub fn param<B: Backend>(model: &LlamaForCausalLM<B>, param: AdapterParam) -> &Param<Tensor<B, 2>> {
    let lora = adapter(model, param.site);
    match param.factor {
        Factor::A => &lora.a,
        Factor::B => &lora.b,
    }
}

pub fn param_mut<B: Backend>(
    model: &mut LlamaForCausalLM<B>,
    param: AdapterParam,
) -> &mut Param<Tensor<B, 2>> {
    let lora = adapter_mut(model, param.site);
    match param.factor {
        Factor::A => &mut lora.a,
        Factor::B => &mut lora.b,
    }
}

/// Every trainable tensor of the model's adapters: each attached site's A, then its B.
pub fn adapter_params<B: Backend>(model: &LlamaForCausalLM<B>) -> Vec<AdapterParam> {
    params_at(&attached_sites(model))
}

/// The trainable tensors of the adapters at `sites`.
pub fn params_at(sites: &[Site]) -> Vec<AdapterParam> {
    sites
        .iter()
        .flat_map(|&site| Factor::BOTH.map(|factor| AdapterParam { site, factor }))
        .collect()
}
