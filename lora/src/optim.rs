//! AdamW with torch's semantics (decoupled weight decay, bias correction, eps outside the
//! square root) over the LoRA tensors only.
//!
//! Written here rather than taken from Burn because its state must be keyed by stable names
//! ([`AdapterParam`], saved as PEFT tensor names), so a checkpoint restores it exactly in a fresh
//! process; Burn's is keyed by ParamIds, which a fresh model does not reproduce.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::adapter::AdapterParam;

/// Hyper-parameters, torch's defaults except weight decay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0 }
    }
}

/// First and second moments of one tensor.
pub struct Moments<B: Backend> {
    pub exp_avg: Tensor<B, 2>,
    pub exp_avg_sq: Tensor<B, 2>,
}

pub struct AdamW<B: Backend> {
    pub config: AdamWConfig,
    /// Steps taken so far.
    pub step: u64,
    pub state: BTreeMap<AdapterParam, Moments<B>>,
}

impl<B: Backend> AdamW<B> {
    pub fn new(config: AdamWConfig) -> Self {
        AdamW { config, step: 0, state: BTreeMap::new() }
    }

    /// Starts a step: every [`AdamW::update`] until the next call uses this step's bias correction.
    pub fn begin_step(&mut self) {
        self.step += 1;
    }

    /// The new value of parameter `name` given its gradient.
    pub fn update(
        &mut self,
        name: AdapterParam,
        param: Tensor<B, 2>,
        grad: Tensor<B, 2>,
        lr: f64,
    ) -> Tensor<B, 2> {
        let AdamWConfig { betas: (beta1, beta2), eps, weight_decay } = self.config;
        let t = self.step as i32;
        let moments = self.state.entry(name).or_insert_with(|| Moments {
            exp_avg: grad.zeros_like(),
            exp_avg_sq: grad.zeros_like(),
        });
        moments.exp_avg =
            moments.exp_avg.clone().mul_scalar(beta1) + grad.clone().mul_scalar(1.0 - beta1);
        moments.exp_avg_sq =
            moments.exp_avg_sq.clone().mul_scalar(beta2) + grad.square().mul_scalar(1.0 - beta2);
        let step_size = lr / (1.0 - beta1.powi(t));
        let denom =
            moments.exp_avg_sq.clone().div_scalar(1.0 - beta2.powi(t)).sqrt().add_scalar(eps);
        let decayed = param.mul_scalar(1.0 - lr * weight_decay);
        decayed - moments.exp_avg.clone().div(denom).mul_scalar(step_size)
    }
}

/// Names of the moment tensors of parameter `name` in a saved state file.
fn moment_names(name: AdapterParam) -> [String; 2] {
    [format!("{name}.exp_avg"), format!("{name}.exp_avg_sq")]
}

impl<B: Backend> AdamW<B> {
    /// Saves the moments (f32, exactly) to a safetensors file; the step count is the caller's
    /// to keep (it goes in the trainer state).
    pub fn save_state(&self, path: &std::path::Path) -> Result<(), crate::LoraError> {
        use crate::safetensors_out::{write_safetensors, TensorEntry};
        use guardtune_model::Dtype;
        let mut entries = Vec::new();
        let mut values = BTreeMap::new();
        for (name, moments) in &self.state {
            let [avg, avg_sq] = moment_names(*name);
            for (key, tensor) in [(avg, &moments.exp_avg), (avg_sq, &moments.exp_avg_sq)] {
                entries.push(TensorEntry { name: key.clone(), shape: tensor.dims().to_vec() });
                values.insert(key, tensor.clone());
            }
        }
        write_safetensors(path, &entries, Dtype::F32, |name| {
            Ok(values[name].clone().into_data().convert::<f32>().to_vec::<f32>().expect("f32 data"))
        })
    }

    /// Restores moments saved by [`AdamW::save_state`] and the step count.
    pub fn load_state(
        &mut self,
        path: &std::path::Path,
        step: u64,
        device: &B::Device,
    ) -> Result<(), crate::LoraError> {
        use burn::tensor::TensorData;
        let file = guardtune_model::Weights::open_file(path)?;
        let mut state = BTreeMap::new();
        let names: Vec<&str> = file.names().filter_map(|n| n.strip_suffix(".exp_avg")).collect();
        for text in names {
            let name: AdapterParam =
                text.parse().map_err(|e| crate::LoraError::adapter(path, e))?;
            let [avg, avg_sq] = moment_names(name);
            let load = |key: &str| -> Result<Tensor<B, 2>, crate::LoraError> {
                let (shape, values) = file.read(key)?;
                if shape.len() != 2 {
                    return Err(crate::LoraError::adapter(
                        path,
                        format!("`{key}` is not a matrix"),
                    ));
                }
                Ok(Tensor::from_data(TensorData::new(values, [shape[0], shape[1]]), device))
            };
            state.insert(name, Moments { exp_avg: load(&avg)?, exp_avg_sq: load(&avg_sq)? });
        }
        self.state = state;
        self.step = step;
        Ok(())
    }
}
