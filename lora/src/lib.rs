//! LoRA adapters on a frozen Llama: PEFT-compatible configuration and initialisation, the
//! training step (loss, accumulation, clipping, AdamW on the adapters only), PEFT export and
//! import, and merging into a Hugging Face model folder.
//!
//! The modules are private; what other crates use is re-exported here.

mod adapter;
mod config;
mod error;
pub mod files;
mod layout;
mod merge;
mod optim;
mod passes;
mod peft;
mod safetensors_out;
mod step;

pub use adapter::{
    adapter, adapter_params, attach, attached_sites, param, param_mut, AdapterParam, Factor, Site,
};
pub use config::{LoraConfig, LoraInit, TargetModules};
pub use error::LoraError;
pub use merge::export_merged;
pub use optim::{AdamW, AdamWConfig};
pub use peft::{
    init_from_adapter, load_adapter, read_adapter_config, save_adapter,
    CONFIG_FILE as ADAPTER_CONFIG_FILE,
};
pub use safetensors_out::{parse_size, write_safetensors, TensorEntry};
pub use step::{
    step, step_alone, Gradients, MicroBatch, Share, StepInput, StepOutcome, StepParts,
    StepSettings, StepSums,
};
