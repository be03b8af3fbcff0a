//! `guardtune export`: an adapter rewritten in another dtype, or merged into the base as a
//! complete Hugging Face model folder; with `--push-to-hub`, uploaded with a model card.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use burn::tensor::backend::Backend;
use guardtune_lora::{export_merged, parse_size, read_adapter_config, save_adapter};
use guardtune_model::Dtype;

use crate::base_model_check::adapter_base_name;
use crate::config::folder_name;
use crate::device::BackendJob;
use crate::hub::{model_card, parse_repo_id, push_folder, PushTarget};
use crate::merge_check::check_merge;
use crate::model_dir::{load_model_with_adapter, ModelArgs};
use crate::output_dir::StagedDir;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The base the adapter was trained on, the adapter (required here) and the dtype written.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output folder (new or empty, unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace everything in a non-empty --out (written beside it first, so a failed export
    /// leaves it as it was).
    #[arg(long)]
    pub force: bool,
    /// Merge the adapter into the base weights (in f32, cast once) and write a full model.
    #[arg(long)]
    pub merge: bool,
    /// The base model's name written into the adapter's `base_model_name_or_path` (e.g.
    /// `HuggingFaceTB/SmolLM2-135M-Instruct`), where PEFT looks for the base. Default: the
    /// adapter's own, or the --model folder's name.
    #[arg(long, conflicts_with = "merge")]
    pub base_name: Option<String>,
    /// Largest shard of a merged model (e.g. 5GB, 500MB, 2GiB).
    #[arg(long, default_value = "5GB")]
    pub shard_size: String,
    /// Upload the exported folder to this Hub model repo (ORG/NAME, created if absent) with a
    /// generated model card (README.md); the token comes from HF_TOKEN or the login's token file.
    #[arg(long, value_name = "ORG/NAME", value_parser = parse_repo_id)]
    pub push_to_hub: Option<String>,
    /// Create the --push-to-hub repo private.
    #[arg(long, requires = "push_to_hub")]
    pub private: bool,
}

impl BackendJob for ExportArgs {
    type Output = ();

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let base = &self.model.path;
        let Some(adapter) = self.model.adapter.as_deref() else {
            bail!("export needs --adapter: the adapter to rewrite or merge");
        };
        let push = self
            .push_to_hub
            .as_ref()
            .map(|repo| PushTarget { repo: repo.clone(), private: self.private });
        if push.is_some() && crate::hub::offline() {
            bail!("--push-to-hub: HF_HUB_OFFLINE is set, and an upload needs the network");
        }
        // The base the adapter names (for the adapter's config and the model card).
        let base_name = self
            .base_name
            .clone()
            .or_else(|| adapter_base_name(adapter))
            .unwrap_or_else(|| folder_name(base));
        // Refused before the (long) load when --out holds files and --force is absent.
        let staged = StagedDir::new(&self.out, self.force, &[base, adapter])?;
        // Loaded in f32 whatever --dtype says: that is the dtype written, once, at the end.
        let (config, model) =
            load_model_with_adapter::<B>(base, Some(adapter), Dtype::F32, &device)?;
        let dtype = match (self.model.dtype, self.merge) {
            (Some(dtype), _) => dtype,
            (None, false) => Dtype::F32,
            (None, true) => config
                .stored_dtype
                .as_deref()
                .and_then(|d| d.parse::<Dtype>().ok())
                .unwrap_or(Dtype::F32),
        };
        if self.merge {
            let shard_size = parse_size(&self.shard_size).map_err(|e| anyhow!(e))?;
            export_merged(&model, base, staged.path(), dtype, shard_size)?;
            let check = check_merge(model, base, staged.path(), &device)?;
            if let Some(target) = &push {
                write_card(staged.path(), target, &base_name, adapter, true)?;
            }
            staged.commit()?;
            println!("merged model written to {} ({})", self.out.display(), dtype.torch_name());
            println!("{check}");
            if check.argmax_changes > 0 {
                eprintln!(
                    "warning: the {} merge changes the model's most likely next token at {} of \
                     {} positions: its rounding loses part of the adapter; export with --dtype \
                     f32, or serve the adapter unmerged",
                    dtype.torch_name(),
                    check.argmax_changes,
                    check.tokens
                );
            }
        } else {
            let lora_config = read_adapter_config(adapter)?;
            save_adapter(&model, &lora_config, &base_name, staged.path(), dtype)?;
            if let Some(target) = &push {
                write_card(staged.path(), target, &base_name, adapter, false)?;
            }
            staged.commit()?;
            println!("adapter written to {} ({})", self.out.display(), dtype.torch_name());
        }
        if let Some(target) = &push {
            let what = if self.merge { "merged model" } else { "adapter" };
            let url = push_folder(&self.out, target, &format!("Upload guardtune {what}"))?;
            println!("pushed to {url}");
        }
        Ok(())
    }
}

/// The model card written as `out/README.md`, so that the folder pushed is the folder on disk.
fn write_card(
    out: &Path,
    target: &PushTarget,
    base_name: &str,
    adapter: &Path,
    merged: bool,
) -> Result<()> {
    let card = model_card(&target.repo, base_name, adapter, merged)?;
    std::fs::write(out.join("README.md"), card).with_context(|| {
        format!("{}: cannot write the model card", out.join("README.md").display())
    })
}
