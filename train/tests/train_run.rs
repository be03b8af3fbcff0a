//! `guardtune train` end to end: the run folder, TensorBoard events, exact resume, crash
//! safety of checkpoints, and config errors.

mod common;

use std::time::Duration;

use common::tensorboard_reader::read_scalars;
use common::{metric, small_run_config, stderr, train, train_losses, trained_small_run};

#[test]
fn a_run_writes_its_folder_and_tensorboard_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 4, "save_every_steps = 2");
    let out = train(&config, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("run");
    for file in [
        "config.toml",
        "metrics.jsonl",
        "blend.md",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "checkpoints/step-2/trainer_state.json",
        "checkpoints/step-4/optimizer.safetensors",
    ] {
        assert!(run.join(file).exists(), "{file} missing");
    }
    // The resolved config is a valid config itself.
    let resolved = run.join("config.toml");
    assert!(guardtune::config::load_run_config(&resolved, &[]).is_ok());

    let log = read_scalars(run.join("tensorboard")).unwrap();
    let losses = log.series("train/loss");
    assert_eq!(losses.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    let from_metrics = train_losses(&run);
    for (scalar, (step, loss)) in losses.iter().zip(&from_metrics) {
        assert_eq!(scalar.0 as u64, *step);
        assert!((scalar.1 as f64 - loss).abs() < 1e-5);
    }
    for tag in ["train/lr", "train/grad_norm", "train/tokens_per_second", "eval/loss"] {
        assert!(!log.series(tag).is_empty(), "{tag} missing");
    }
    assert_eq!(log.series("eval/loss").iter().map(|s| s.0).collect::<Vec<_>>(), vec![0, 2, 4]);

    // A second run into the same folder is refused.
    let again = train(&config, &[]);
    assert!(!again.status.success() && stderr(&again).contains("--resume"), "{}", stderr(&again));
}

#[test]
fn resuming_gives_the_losses_of_an_uninterrupted_run() {
    let (_dir, config, run) = trained_small_run(6, "save_every_steps = 2");
    let uninterrupted = train_losses(&run);
    assert_eq!(uninterrupted.len(), 6);

    // Pretend the run died after the step-2 checkpoint.
    for gone in ["checkpoints/step-4", "checkpoints/step-6", "adapter"] {
        std::fs::remove_dir_all(run.join(gone)).unwrap();
    }
    let out = train(&config, &["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(train_losses(&run), uninterrupted, "losses after resuming differ");
}

#[test]
fn a_run_killed_while_checkpointing_resumes_from_a_complete_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 8, "save_every_steps = 1\nkeep_last = 3");
    let run = dir.path().join("run");
    // Kill the run at several moments; every surviving step-N folder must be complete.
    for delay_ms in [900u64, 1300, 1700, 2100] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_guardtune"))
            .args(["train", config.to_str().unwrap(), "--resume"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for (dir, _) in guardtune::trainer::complete_checkpoints(&run).unwrap() {
            for file in [
                "adapter_config.json",
                "adapter_model.safetensors",
                "optimizer.safetensors",
                "trainer_state.json",
            ] {
                assert!(dir.join(file).exists(), "{} lacks {file}", dir.display());
            }
            let state: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join("trainer_state.json")).unwrap(),
            )
            .unwrap();
            assert!(state["step"].as_u64().is_some());
        }
    }
    let out = train(&config, &["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let losses = train_losses(&run);
    assert_eq!(losses.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>());

    // Same losses as a run never interrupted.
    let (_clean_dir, _, clean_run) = trained_small_run(8, "save_every_steps = 1\nkeep_last = 3");
    assert_eq!(train_losses(&clean_run), losses);
}

fn config_error(config_text_edit: impl Fn(String) -> String, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 2, "");
    let text = config_text_edit(std::fs::read_to_string(&config).unwrap());
    std::fs::write(&config, text).unwrap();
    let out = train(&config, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for piece in expected {
        assert!(err.contains(piece), "`{piece}` not in: {err}");
    }
    assert!(!err.contains("panicked"));
}

#[test]
fn unknown_key_is_refused_with_line_and_key() {
    config_error(|t| t.replace("lr = 5e-3", "lrr = 5e-3"), &["run.toml:", "lrr", "training.lrr"]);
}

#[test]
fn wrong_type_is_refused_with_line_and_key() {
    config_error(
        |t| t.replace("micro_batch_size = 2", "micro_batch_size = \"two\""),
        &["run.toml:", "training.micro_batch_size"],
    );
}

#[test]
fn missing_model_path_is_refused() {
    config_error(
        |t| t.replace("fixtures/models/tiny-smollm2", "fixtures/models/nowhere"),
        &["model.path", "nowhere"],
    );
}

#[test]
fn all_blend_weights_zero_is_refused() {
    config_error(|t| t.replace("count = 64", "weight = 0.0"), &["data", "weight"]);
}

#[test]
fn set_overrides_any_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 2, "");
    // A relative path given with --set is read from the current folder.
    let other = format!("output.dir={}", dir.path().join("other").display());
    let out = train(
        &config,
        &["--set", "training.max_steps=1", "--set", &other, "--set", "eval.every_steps=1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(train_losses(&dir.path().join("other")).len(), 1);
    let bad = train(&config, &["--set", "training.nope=1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("nope"), "{}", stderr(&bad));
}

#[test]
fn benchmarks_evaluated_during_training_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let sst = guardtune_model::testing::repo_root()
        .join("data/fixtures/simplesafetytests/test_cases.csv");
    let config = small_run_config(dir.path(), 2, "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[eval]\n",
        &format!("[eval]\nbenchmarks = [{{ kind = \"simplesafetytests\", path = \"{}\" }}]\nbenchmark_max_examples = 3\n", sst.display()),
    );
    std::fs::write(&config, text).unwrap();
    let out = train(&config, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = read_scalars(dir.path().join("run/tensorboard")).unwrap();
    let f1 = log.series("eval/test_cases/prompt/f1");
    assert_eq!(
        f1.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![0, 2],
        "F1 at the start and at each evaluation"
    );
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"eval/test_cases/prompt/f1\""));
}

#[test]
fn a_new_run_can_start_from_an_adapter_that_fits_its_config() {
    let (_first_dir, _, first_run) = trained_small_run(4, "");
    let adapter = first_run.join("adapter");

    // The new run starts where the first ended: its step-0 validation loss is the first run's
    // last one (same validation rows, the same function).
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 2, "");
    let init = format!("lora.init_from={}", adapter.display());
    let out = train(&config, &["--set", &init, "--set", "training.lr=1e-3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ended = *metric(&first_run, "eval/loss").last().unwrap();
    let started = metric(&dir.path().join("run"), "eval/loss")[0];
    assert_eq!((ended.0, started.0), (4, 0));
    assert!((ended.1 - started.1).abs() < 1e-5, "{ended:?} vs {started:?}");

    // An adapter that does not fit is refused, naming what differs.
    for (set, expected) in [
        ("lora.r=2", "the adapter's r is 4, the config's lora.r is 2"),
        ("lora.alpha=16", "the adapter's alpha is 8, the config's lora.alpha is 16"),
        (
            r#"lora.target_modules=["q_proj", "v_proj"]"#,
            "the adapter has weights on model.layers.0.mlp.down_proj, which lora.target_modules",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = small_run_config(dir.path(), 2, "");
        let out = train(&config, &["--set", &init, "--set", set]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{set}: {err}");
        assert!(err.contains(expected), "{set}: `{expected}` not in {err}");
    }
    let missing = format!("lora.init_from={}", dir.path().join("nothing").display());
    let out = train(&config, &["--set", &missing, "--resume"]);
    assert!(stderr(&out).contains("key `lora.init_from`"), "{}", stderr(&out));
}
