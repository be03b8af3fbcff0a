//! Running a sweep's runs: each training and each evaluation is a child process of this same
//! binary (`guardtune train ... --resume`, `guardtune eval ...`), so a killed sweep leaves
//! exactly what a killed `train` leaves, and a rerun resumes it the same way. `--jobs N` runs N
//! runs at once, each child with its share of the cores (`RAYON_NUM_THREADS`).

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};

use super::blend::save_blend_report;
use super::file::SweepFile;
use super::plan::PlannedRun;
use super::state::{eval_dir, Action, RunState};
use crate::shown_path::shown;

/// Child output goes here, in the run folder.
pub const LOG_FILE: &str = "sweep.log";

/// How children are started.
pub struct Launcher {
    /// This binary.
    pub exe: PathBuf,
    /// Threads each child may use.
    pub threads_per_run: usize,
}

impl Launcher {
    /// This binary, with the cores (`RAYON_NUM_THREADS` when set, else all) split over `jobs`.
    pub fn new(jobs: usize) -> Result<Launcher> {
        let exe = std::env::current_exe().context("cannot find the guardtune binary")?;
        let cores = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Ok(Launcher { exe, threads_per_run: (cores / jobs.max(1)).max(1) })
    }

    /// Runs `runs` (with their actions), `jobs` at a time; returns the failures as
    /// `(run name, error)` after every run has been tried.
    pub fn run_all(
        &self,
        sweep: &SweepFile,
        runs: &[(PlannedRun, Action)],
        jobs: usize,
    ) -> Vec<(String, anyhow::Error)> {
        let next = AtomicUsize::new(0);
        let failures = Mutex::new(Vec::new());
        let total = runs.len();
        std::thread::scope(|scope| {
            for _ in 0..jobs.clamp(1, total.max(1)) {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some((run, action)) = runs.get(index) else { break };
                    let result = self.run_one(sweep, run, action, index + 1, total);
                    match &result {
                        Ok(()) => println!("[{}/{total}] {}: done", index + 1, run.name()),
                        Err(e) => println!("[{}/{total}] {}: FAILED: {e:#}", index + 1, run.name()),
                    }
                    if let Err(e) = result {
                        failures.lock().expect("no panics hold the lock").push((run.name(), e));
                    }
                });
            }
        });
        failures.into_inner().expect("no panics hold the lock")
    }

    fn run_one(
        &self,
        sweep: &SweepFile,
        run: &PlannedRun,
        action: &Action,
        number: usize,
        total: usize,
    ) -> Result<()> {
        let say = |what: &str| println!("[{number}/{total}] {}: {what}", run.name());
        let mut state = match action {
            Action::Skip => {
                say("already trained and evaluated with this config; skipped");
                return Ok(());
            }
            Action::Changed { .. } => {
                // Reaching here means --force: start the run again from nothing.
                std::fs::remove_dir_all(&run.dir)
                    .with_context(|| format!("{}: cannot remove", run.dir.display()))?;
                self.fresh_state(run)?
            }
            Action::Train => self.fresh_state(run)?,
            Action::Resume | Action::Evaluate => RunState::read(&run.dir)?
                .ok_or_else(|| anyhow!("{}: state vanished", run.dir.display()))?,
        };
        if !state.trained && !run.train {
            // Nothing to train: the base model is evaluated as it is.
            state.trained = true;
            state.write(&run.dir)?;
        }
        if !state.trained {
            save_blend_report(&run.config, &run.dir)?;
            say(if *action == Action::Resume { "resuming training" } else { "training" });
            self.child(&train_args(sweep, run), &run.dir, "train")?;
            state.trained = true;
            state.write(&run.dir)?;
        }
        say("evaluating");
        // `eval --resume` keeps the benchmarks an interrupted evaluation of this same adapter
        // and settings finished, and redoes everything else.
        self.child(&eval_args(sweep, run), &run.dir, "eval")?;
        state.eval_hash = Some(run.eval_hash.clone());
        state.write(&run.dir)
    }

    /// Creates the run folder with its state (not trained) and the blend report.
    fn fresh_state(&self, run: &PlannedRun) -> Result<RunState> {
        let state = RunState {
            variant: run.variant.clone(),
            seed: run.seed,
            config_hash: run.config_hash.clone(),
            trained: false,
            eval_hash: None,
        };
        state.write(&run.dir)?;
        Ok(state)
    }

    /// Runs this binary with `args`, output appended to the run's log; fails unless it exits 0.
    fn child(&self, args: &[OsString], run_dir: &Path, what: &str) -> Result<()> {
        let log_path = run_dir.join(LOG_FILE);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("{}: cannot open", log_path.display()))?;
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .env("RAYON_NUM_THREADS", self.threads_per_run.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        die_with_parent(&mut command);
        let status = command.status().with_context(|| format!("cannot start {what}"))?;
        if !status.success() {
            let tail = last_lines(&log_path, 3);
            bail!("{what} failed ({status}): {tail} (log: {})", log_path.display());
        }
        Ok(())
    }
}

/// `train BASE --set ... --resume`: the same overrides the plan resolved, so the child's
/// config (and the config.toml it saves) is the planned one.
fn train_args(sweep: &SweepFile, run: &PlannedRun) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        vec!["train".into(), sweep.base.clone().into(), "--resume".into()];
    for assignment in &run.overrides {
        args.push("--set".into());
        args.push(assignment.into());
    }
    args
}

/// `eval --resume --model M --adapter RUN/adapter --benchmark ... --out RUN/eval` (no adapter
/// for an untrained run), on the run's first device and dtype. Paths are given as the user
/// reads them (relative to the current folder when inside it): the evaluation's report shows
/// them, and a committed report should not name the folders of the machine that ran it.
fn eval_args(sweep: &SweepFile, run: &PlannedRun) -> Vec<OsString> {
    let config = &run.config;
    let device = config.model.device.names().into_iter().next().unwrap_or_else(|| "cpu".into());
    let mut args: Vec<OsString> = vec!["eval".into(), "--resume".into()];
    args.extend(["--model".into(), shown(&config.model.path).into()]);
    if run.train {
        args.extend(["--adapter".into(), shown(&run.dir.join("adapter")).into()]);
    }
    args.extend([
        "--dtype".into(),
        config.model.dtype.to_string().into(),
        "--device".into(),
        device.into(),
        "--out".into(),
        shown(&eval_dir(&run.dir)).into(),
    ]);
    for spec in &sweep.benchmarks {
        args.push("--benchmark".into());
        args.push(format!("{}={}", spec.kind, shown(&spec.path)).into());
    }
    if let Some(n) = sweep.eval.max_examples {
        args.extend(["--max-examples".into(), n.to_string().into()]);
    }
    if let Some(n) = sweep.eval.batch_size {
        args.extend(["--batch-size".into(), n.to_string().into()]);
    }
    if let Some(n) = sweep.eval.max_new_tokens {
        args.extend(["--max-new-tokens".into(), n.to_string().into()]);
    }
    args
}

/// The child is killed when the thread that started it ends (the sweep was killed), so an
/// orphaned run never keeps writing into a folder that a rerun resumes.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The sweep died before the line above took effect.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the sweep has exited"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// The last `n` non-empty lines of a log, joined with " | ".
fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
