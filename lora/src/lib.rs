//! LoRA adapters on a frozen Llama: PEFT-compatible configuration and initialisation, the
//! training step (loss, accumulation, clipping, AdamW on the adapters only), PEFT export and
//! import, and merging into a Hugging Face model folder.

pub mod adapter;
pub mod config;
pub mod error;
pub mod files;
pub mod merge;
pub mod optim;
pub mod passes;
pub mod peft;
pub mod safetensors_out;
pub mod step;

pub use adapter::{attach, attached_sites, Site};
pub use config::{LoraConfig, LoraInit, TargetModules};
pub use error::LoraError;
pub use optim::{AdamW, AdamWConfig};
pub use peft::{load_adapter, save_adapter};
pub use safetensors_out::StoreDtype;
pub use step::{train_step, MicroBatch, StepResult};
