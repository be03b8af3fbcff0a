//! Each run's blend report, as the trainer will build it: shown by `--dry-run`, saved as
//! `blend.json` in the run folder for the sweep report (which examples per source, which
//! labels), so a reader sees what each variant ablated.

use std::path::Path;

use anyhow::{Context, Result};
use guardtune_data::{build_blend, BlendReport, GuardTokenizer};

use crate::config::RunConfig;

pub const BLEND_FILE: &str = "blend.json";

/// The blend report of `config` (its data paths are absolute once loaded).
pub fn blend_report(config: &RunConfig) -> Result<BlendReport> {
    let tokenizer = GuardTokenizer::from_model_dir(&config.model.path)?;
    Ok(build_blend(&config.data, Path::new("."), &tokenizer)?.report)
}

/// Writes `blend.json` into `run_dir` unless it is there already.
pub fn save_blend_report(config: &RunConfig, run_dir: &Path) -> Result<()> {
    let path = run_dir.join(BLEND_FILE);
    if path.exists() {
        return Ok(());
    }
    let json = blend_report(config)
        .with_context(|| format!("the blend of {}", run_dir.display()))?
        .to_json();
    guardtune_lora::files::write_atomically(&path, |f| {
        std::io::Write::write_all(f, json.as_bytes())
    })?;
    Ok(())
}
