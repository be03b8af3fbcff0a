//! The Hub client as the Hub's own tools configure it: hf-hub reads `HF_TOKEN` (or the token
//! file that `huggingface-cli login` writes, under `HF_HOME`), `HF_ENDPOINT`, and
//! `HF_HOME` / `HF_HUB_CACHE` for the cache it shares with Python; `HF_HUB_OFFLINE`, which
//! hf-hub leaves to its callers, is read here.

use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use hf_hub::{split_id, HFClient, HFClientSync, HFRepositorySync, RepoTypeDataset, RepoTypeModel};

pub struct Hub {
    pub client: HFClientSync,
    /// The Hub's address (`HF_ENDPOINT`, or https://huggingface.co).
    pub endpoint: String,
    /// `HF_HUB_OFFLINE` is set to a true value: files come from the cache only.
    pub offline: bool,
}

impl Hub {
    /// The process's one client, built from the environment on first use: a blocking client
    /// runs a tokio runtime on a thread of its own, so one per Hub input would start several.
    pub fn shared() -> Result<&'static Hub> {
        static HUB: OnceLock<Hub> = OnceLock::new();
        if let Some(hub) = HUB.get() {
            return Ok(hub);
        }
        let hub = Hub::from_env()?;
        Ok(HUB.get_or_init(|| hub))
    }

    fn from_env() -> Result<Hub> {
        let setup = |e: hf_hub::HFError| {
            anyhow!("cannot set up the Hugging Face Hub client (check HF_ENDPOINT, HF_HOME): {e}")
        };
        let client = HFClient::new().map_err(setup)?;
        let endpoint = client.endpoint().to_string();
        let client = HFClientSync::from_inner(client).map_err(setup)?;
        Ok(Hub { client, endpoint, offline: offline() })
    }

    pub fn model(&self, id: &str) -> HFRepositorySync<RepoTypeModel> {
        let (owner, name) = split_id(id);
        self.client.model(owner, name)
    }

    pub fn dataset(&self, id: &str) -> HFRepositorySync<RepoTypeDataset> {
        let (owner, name) = split_id(id);
        self.client.dataset(owner, name)
    }
}

/// `HF_HUB_OFFLINE` as huggingface_hub reads it: `1`, `true`, `yes` or `on`, in any case.
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
        matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
    })
}
