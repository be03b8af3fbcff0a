//! A run folder has one owner and one config: the lock, the resume check, settings refused at
//! load, the graceful stop on SIGINT, and the logs of a restarted run.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{metric, small_run_config, stderr, train, train_losses, trained_small_run};
use guardtune::config::load_run_config;

fn spawn_train(config: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_guardtune"))
        .arg("train")
        .arg(config)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every file under `dir` (relative path -> bytes), and every folder (-> empty).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            if path.is_dir() {
                stack.push(path);
                files.insert(relative, vec![]);
            } else {
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Waits until the run in `run_dir` has logged a training step.
fn wait_for_first_step(run_dir: &Path, child: &mut Child) {
    let started = Instant::now();
    loop {
        let logged = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
            .is_ok_and(|m| m.contains("train/loss"));
        if logged {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before its first step");
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no step within 2 minutes");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn send(child: &Child, signal: i32) {
    // Safety: kill only sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

#[test]
fn a_resume_with_a_changed_config_is_refused_naming_each_key_and_changes_nothing() {
    let (_dir, config, run) = trained_small_run(2, "save_every_steps = 2");
    let before = snapshot(&run);

    for (overrides, expected) in [
        (vec!["lora.r=2"], vec!["`lora.r` 4 -> 2"]),
        (vec!["lora.alpha=64"], vec!["`lora.alpha` 8.0 -> 64.0"]),
        (
            vec!["training.lr=1e-3", "data.seed=4", "training.micro_batch_size=1"],
            vec![
                "`training.lr` 0.005 -> 0.001",
                "`data.seed` 3 -> 4",
                "`training.micro_batch_size` 2 -> 1",
            ],
        ),
        // A run may grow, never shrink below what its checkpoint has done.
        (vec!["training.max_steps=1"], vec!["`training.max_steps` is 1, fewer than the 2 steps"]),
    ] {
        let mut args = vec!["--resume"];
        for o in &overrides {
            args.extend(["--set", o]);
        }
        let out = train(&config, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{overrides:?}: {err}");
        for piece in expected {
            assert!(err.contains(piece), "`{piece}` not in: {err}");
        }
        assert_eq!(snapshot(&run), before, "{overrides:?} changed the run folder");
    }

    // Logging, evaluation and checkpoint cadence may change.
    let out = train(
        &config,
        &["--resume", "--set", "eval.every_steps=1", "--set", "training.log_every_steps=2"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_resume_may_raise_max_steps_and_the_schedule_stretches() {
    let extra = "save_every_steps = 2";
    let (short_steps, long_steps) = ("training.max_steps=4", "training.max_steps=7");
    for schedule in ["training.schedule=constant", "training.schedule=cosine"] {
        let dir = tempfile::tempdir().unwrap();
        let config = small_run_config(dir.path(), 4, extra);
        let log_every = ["--set", "training.log_every_steps=1", "--set", schedule];
        assert!(train(&config, &[&log_every[..], &["--set", short_steps]].concat())
            .status
            .success());
        let extended = [&log_every[..], &["--set", long_steps, "--resume"]].concat();
        let out = train(&config, &extended);
        assert!(out.status.success(), "{schedule}: {}", stderr(&out));

        // The steps after the checkpoint get the rates of a run planned 7 steps long.
        let whole_dir = tempfile::tempdir().unwrap();
        let whole = small_run_config(whole_dir.path(), 7, extra);
        assert!(train(&whole, &[&log_every[..], &["--set", long_steps]].concat()).status.success());
        let (run, whole_run) = (dir.path().join("run"), whole_dir.path().join("run"));
        let after =
            |rates: Vec<(u64, f64)>| rates.into_iter().filter(|(s, _)| *s > 4).collect::<Vec<_>>();
        let extended_rates = after(metric(&run, "train/lr"));
        assert_eq!(extended_rates.len(), 3, "{schedule}: {extended_rates:?}");
        assert_eq!(extended_rates, after(metric(&whole_run, "train/lr")), "{schedule}");
        if schedule.ends_with("constant") {
            // With no schedule to stretch, the extended run is the longer run, step for step.
            assert_eq!(train_losses(&run), train_losses(&whole_run));
        }
    }
}

#[test]
fn a_second_process_on_a_run_folder_is_refused_naming_the_first_ones_pid() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 400, "");
    let run = dir.path().join("run");
    let mut first = spawn_train(&config, &[]);
    wait_for_first_step(&run, &mut first);
    let second = train(&config, &["--resume"]);
    let _ = first.kill();
    let _ = first.wait();
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");
    assert!(err.contains("in use"), "{err}");
}

#[test]
fn every_harmful_setting_is_refused_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 2, "");
    for (set, key) in [
        ("training.max_grad_norm=-1", "training.max_grad_norm"),
        ("training.max_grad_norm=0", "training.max_grad_norm"),
        ("lora.alpha=0", "lora.alpha"),
        ("lora.alpha=nan", "lora.alpha"),
        ("lora.alpha=inf", "lora.alpha"),
        ("training.lr=inf", "training.lr"),
        ("training.lr=nan", "training.lr"),
        ("training.lr=0", "training.lr"),
        ("training.min_lr=0.01", "training.min_lr"),
        ("training.min_lr=-1e-6", "training.min_lr"),
        ("training.betas=[0.9, 1.0]", "training.betas"),
        ("training.betas=[-0.1, 0.999]", "training.betas"),
        ("training.eps=0", "training.eps"),
        ("training.weight_decay=-0.1", "training.weight_decay"),
        ("training.max_steps=0", "training.max_steps"),
        ("training.log_every_steps=0", "training.log_every_steps"),
        ("eval.benchmark_max_examples=0", "eval.benchmark_max_examples"),
    ] {
        let err = load_run_config(&config, &[set.to_string()]).expect_err(set);
        assert_eq!(err.key.as_deref(), Some(key), "{set}: {err}");
        assert!(err.more.is_empty(), "{set}: one problem, got {err}");
    }
    // Every problem is reported, one line each, with exit code 2.
    let out = train(&config, &["--set", "training.eps=0", "--set", "lora.alpha=0"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].contains("key `lora.alpha`") && lines[1].contains("key `training.eps`"));
    assert!(!dir.path().join("run").exists(), "nothing written for a refused config");
}

#[test]
fn sigint_ends_with_a_checkpoint_and_resuming_equals_an_uninterrupted_run() {
    let steps = 16;
    let (whole_dir, _, whole_run) = trained_small_run(steps, "");
    let adapter = |dir: &Path| std::fs::read(dir.join("run/adapter/adapter_model.safetensors"));

    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), steps, "");
    let run = dir.path().join("run");
    let mut child = spawn_train(&config, &[]);
    wait_for_first_step(&run, &mut child);
    send(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped by SIGINT after step"), "{err}");
    assert!(err.contains(&format!("resume with: guardtune train {} --resume", config.display())));
    let saved = guardtune::trainer::complete_checkpoints(&run).unwrap();
    let (_, step) = saved.last().expect("a checkpoint");
    assert!((1..steps).contains(step), "stopped at step {step}");
    assert!(!run.join("adapter").exists() && !run.join("run.lock").exists());

    let resumed = train(&config, &["--resume"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(adapter(dir.path()).unwrap(), adapter(whole_dir.path()).unwrap());
    assert_eq!(train_losses(&run), train_losses(&whole_run));
}

/// A signal while the run is still loading stops it before its first step, with nothing to
/// save; `--resume` then trains it as if it had never stopped. The data file is a named pipe, so
/// that the run waits in its setup (reading the data) for as long as the test needs.
#[test]
fn a_signal_during_setup_stops_before_the_first_step() {
    let steps = 4;
    let (whole_dir, _, _) = trained_small_run(steps, "");
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), steps, "");
    let rows_path =
        guardtune_model::testing::repo_root().join("data/fixtures/xstest/xstest_prompts.csv");
    let rows = std::fs::read(&rows_path).unwrap();
    let pipe = dir.path().join("xstest_prompts.csv");
    let c_pipe = std::ffi::CString::new(pipe.to_str().unwrap()).unwrap();
    // Safety: a valid C string; mkfifo only creates the pipe.
    assert_eq!(unsafe { libc::mkfifo(c_pipe.as_ptr(), 0o600) }, 0);
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(&rows_path.display().to_string(), &pipe.display().to_string());
    std::fs::write(&config, text).unwrap();
    // Each run opens the pipe once to read the rows; the writer waits for that open.
    let feed = || {
        let (pipe, rows) = (pipe.clone(), rows.clone());
        std::thread::spawn(move || std::fs::write(pipe, rows).unwrap())
    };

    let run = dir.path().join("run");
    let child = spawn_train(&config, &[]);
    // config.toml is written after the lock is taken, before the rows are read.
    let started = Instant::now();
    while !run.join("config.toml").exists() {
        assert!(started.elapsed() < Duration::from_secs(120), "no config.toml within 2 minutes");
        std::thread::sleep(Duration::from_millis(10));
    }
    send(&child, libc::SIGINT);
    feed().join().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped by SIGINT before step 1; no checkpoint yet"), "{err}");
    assert!(err.contains(&format!("resume with: guardtune train {} --resume", config.display())));
    assert!(guardtune::trainer::complete_checkpoints(&run).unwrap().is_empty());
    assert!(train_losses(&run).is_empty(), "no step ran");

    let writer = feed();
    let resumed = train(&config, &["--resume"]);
    writer.join().unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let adapter = |dir: &Path| std::fs::read(dir.join("run/adapter/adapter_model.safetensors"));
    assert_eq!(adapter(dir.path()).unwrap(), adapter(whole_dir.path()).unwrap());
}

#[test]
fn a_second_signal_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 400, "");
    // Long steps (32 examples each, seconds), so both signals arrive within one.
    let long = ["--set", "training.micro_batch_size=4", "--set", "training.grad_accumulation=8"];
    let mut child = spawn_train(&config, &long);
    wait_for_first_step(&dir.path().join("run"), &mut child);
    send(&child, libc::SIGTERM);
    // Apart, or the kernel merges them into one pending signal.
    std::thread::sleep(Duration::from_millis(100));
    send(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(!stderr(&out).contains("stopped by"), "{}", stderr(&out));
}

#[test]
fn a_restart_before_the_first_checkpoint_logs_each_step_once() {
    let (_dir, config, run) = trained_small_run(2, "");
    // As if the run had died before its first checkpoint (after logging).
    std::fs::remove_dir_all(run.join("checkpoints")).unwrap();
    std::fs::remove_dir_all(run.join("adapter")).unwrap();
    let out = train(&config, &["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![0, 1, 2, 2], "step 0's evaluation, steps 1 and 2, step 2's evaluation");
    let events = common::tensorboard_reader::read_scalars(run.join("tensorboard")).unwrap();
    let evals: Vec<i64> = events.series("eval/loss").iter().map(|s| s.0).collect();
    assert_eq!(evals, vec![0, 2]);
}

#[test]
fn skipped_rows_are_counted_on_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 1, "");
    // Rows longer than this are left out of the blend.
    let out = train(&config, &["--set", "data.max_seq_len=489"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let blend = std::fs::read_to_string(dir.path().join("run/blend.md")).unwrap();
    assert!(blend.contains("too long"), "the fixture has rows over 489 tokens: {blend}");
    assert!(stdout.contains("rows skipped (xstest:") && stdout.contains("too long"), "{stdout}");
}
