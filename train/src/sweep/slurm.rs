//! `--emit slurm`: a Slurm job-array script with one array task per run. Each task runs
//! `guardtune sweep FILE --only VARIANT:SEED` with `model.device` set to the task's GPUs (Slurm
//! makes them visible as `cuda:0..G-1`), so a task is an ordinary sweep of one run: resumable,
//! skipped when done. The script calls guardtune directly (no `srun`), so bash can run it too.
//! `guardtune sweep FILE --report` then gathers the results from the shared output folder.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::file::SweepFile;
use super::plan::PlannedRun;

/// Slurm settings for `--emit slurm`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct SlurmArgs {
    /// Slurm partition of the array tasks.
    #[arg(long)]
    pub partition: Option<String>,
    /// GPUs per run (array task); 0 runs on the CPU.
    #[arg(long, default_value_t = 0)]
    pub gpus_per_run: usize,
    /// CPU cores per run (array task).
    #[arg(long)]
    pub cpus_per_run: Option<usize>,
    /// Memory per run, in Slurm's syntax (e.g. 64G).
    #[arg(long)]
    pub mem: Option<String>,
    /// Time limit per run, [D-]HH:MM:SS.
    #[arg(long)]
    pub time: Option<String>,
    /// Run at most this many tasks at once (the array's `%N`).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// Any other sbatch option, written as an `#SBATCH` line (repeatable), e.g.
    /// --sbatch-option=--account=myproject.
    #[arg(long = "sbatch-option", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch_options: Vec<String>,
    /// Where to write the script (default: slurm-array.sh beside the sweep file).
    #[arg(long)]
    pub script: Option<PathBuf>,
}

/// Writes the array script for `runs`; returns its path.
pub fn emit_slurm(
    sweep: &SweepFile,
    runs: &[PlannedRun],
    extra: &[String],
    args: &SlurmArgs,
) -> Result<PathBuf> {
    if runs.is_empty() {
        bail!("the sweep has no runs");
    }
    if let Some(time) = &args.time {
        if time.is_empty() || !time.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '-') {
            bail!("--time {time}: expected [D-]HH:MM:SS");
        }
    }
    let exe = std::env::current_exe().context("cannot find the guardtune binary")?;
    std::fs::create_dir_all(&sweep.output)
        .with_context(|| format!("{}: cannot create", sweep.output.display()))?;
    let path = args.script.clone().unwrap_or_else(|| sweep.dir.join("slurm-array.sh"));
    let script = script(sweep, runs, extra, args, &exe, &path);
    std::fs::write(&path, script).with_context(|| format!("{}: cannot write", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(path)
}

fn script(
    sweep: &SweepFile,
    runs: &[PlannedRun],
    extra: &[String],
    args: &SlurmArgs,
    exe: &Path,
    path: &Path,
) -> String {
    let file = sweep.path.display().to_string();
    let stem = sweep.dir.file_name().map_or("sweep".into(), |n| n.to_string_lossy().into_owned());
    let mut directives = vec![
        format!("--job-name=guardtune-{stem}"),
        format!(
            "--array=0-{}{}",
            runs.len() - 1,
            args.max_parallel.map_or(String::new(), |n| format!("%{n}"))
        ),
        format!("--output={}", sweep.output.join("slurm-%A_%a.out").display()),
        "--ntasks=1".to_string(),
    ];
    directives.extend(args.partition.iter().map(|p| format!("--partition={p}")));
    if args.gpus_per_run > 0 {
        directives.push(format!("--gres=gpu:{}", args.gpus_per_run));
    }
    directives.extend(args.cpus_per_run.iter().map(|n| format!("--cpus-per-task={n}")));
    directives.extend(args.mem.iter().map(|m| format!("--mem={m}")));
    directives.extend(args.time.iter().map(|t| format!("--time={t}")));
    directives.extend(args.sbatch_options.iter().cloned());

    let mut text = format!(
        "#!/bin/bash\n\
         # guardtune sweep {file}: {n} runs, one array task each. Submit with\n\
         #   sbatch {script_hint}\n\
         # and when every task has finished (or chained: sbatch --dependency=afterok:JOBID ...):\n\
         #   guardtune sweep {file} --report\n",
        n = runs.len(),
        script_hint = path.display(),
    );
    for directive in &directives {
        text += &format!("#SBATCH {directive}\n");
    }
    text += "set -euo pipefail\n";
    text += &format!("DEFAULT_GUARDTUNE={}\n", quote(&exe.display().to_string()));
    text += "GUARDTUNE=\"${GUARDTUNE:-$DEFAULT_GUARDTUNE}\"\n";
    text += "RUNS=(";
    text += &runs
        .iter()
        .map(|r| quote(&format!("{}:{}", r.variant, r.seed)))
        .collect::<Vec<_>>()
        .join(" ");
    text += ")\n";
    text += "TASK=\"${SLURM_ARRAY_TASK_ID:?submit this script with sbatch (or set SLURM_ARRAY_TASK_ID)}\"\n";
    text += "if [ \"$TASK\" -lt 0 ] || [ \"$TASK\" -ge \"${#RUNS[@]}\" ]; then\n";
    text += "  echo \"SLURM_ARRAY_TASK_ID=$TASK: expected 0..$((${#RUNS[@]} - 1))\" >&2\n  exit 2\nfi\n";
    let mut command = vec![
        "exec".to_string(),
        "\"$GUARDTUNE\"".to_string(),
        "sweep".to_string(),
        quote(&file),
        "--only".to_string(),
        "\"${RUNS[$TASK]}\"".to_string(),
        "--set".to_string(),
        quote(&format!("model.device={}", devices(args.gpus_per_run))),
    ];
    for assignment in extra.iter().filter(|a| !a.trim_start().starts_with("model.device")) {
        command.push("--set".into());
        command.push(quote(assignment));
    }
    text += &command.join(" ");
    text += "\n";
    text
}

/// The task's devices as a TOML value: its GPUs (Slurm numbers them from 0), or the CPU.
fn devices(gpus: usize) -> String {
    match gpus {
        0 => "\"cpu\"".to_string(),
        1 => "\"cuda:0\"".to_string(),
        n => {
            format!("[{}]", (0..n).map(|i| format!("\"cuda:{i}\"")).collect::<Vec<_>>().join(", "))
        }
    }
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_toml_values() {
        assert_eq!(devices(0), "\"cpu\"");
        assert_eq!(devices(2), "[\"cuda:0\", \"cuda:1\"]");
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
