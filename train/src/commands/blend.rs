//! `guardtune blend CONFIG [--out FILE.jsonl] [--json]`: what a run will train on, without
//! training: a report per source, the blend's hash, and optionally every rendered example.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::{Context, Result};
use guardtune_data::{build_blend, write_blend_jsonl, GuardTokenizer};

use crate::config::RunConfig;

#[derive(clap::Args)]
pub struct BlendArgs {
    /// The run config (TOML); its [model] names the tokenizer, its [data] the blend.
    pub config: PathBuf,
    /// Also write the rendered examples (prompt, answer, tokens) as JSON lines.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as JSON instead of markdown.
    #[arg(long)]
    pub json: bool,
    /// Override a config key, e.g. --set data.seed=3 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

pub fn blend(args: &BlendArgs, config: &RunConfig) -> Result<()> {
    let tokenizer = GuardTokenizer::from_model_dir(&config.model.path)?;
    let blend = build_blend(&config.data, std::path::Path::new("."), &tokenizer)?;
    if args.json {
        println!("{}", blend.report.to_json());
    } else {
        print!("{}", blend.report.to_markdown());
    }
    if let Some(out) = &args.out {
        let file =
            File::create(out).with_context(|| format!("{}: cannot create", out.display()))?;
        write_blend_jsonl(&blend, &tokenizer, BufWriter::new(file))?;
        eprintln!("rendered examples written to {}", out.display());
    }
    Ok(())
}
