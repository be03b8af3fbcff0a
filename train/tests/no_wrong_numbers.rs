//! No wrong number presented as a result: an empty evaluation is an error, an export never
//! mixes with an earlier one, and error causes are printed once. Also what `eval` tells the
//! console besides its results (skipped rows, progress).

mod common;

use std::path::{Path, PathBuf};

use common::{guardtune, guardtune_with_adapter, stderr};
use guardtune_model::testing::repo_root;

fn tiny_model() -> PathBuf {
    repo_root().join("fixtures/models/tiny-smollm2")
}

fn eval(benchmark: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    eval_kind("xstest", benchmark, out, extra)
}

/// `guardtune eval` of the tiny model on a benchmark file of the loader `kind`.
fn eval_kind(kind: &str, benchmark: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "eval".to_string(),
        "--model".into(),
        tiny_model().display().to_string(),
        "--benchmark".into(),
        format!("{kind}={}", benchmark.display()),
        "--out".into(),
        out.display().to_string(),
        "--max-new-tokens".into(),
        "4".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    guardtune(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn an_empty_evaluation_is_an_error_not_a_score() {
    let dir = tempfile::tempdir().unwrap();
    let xstest = repo_root().join("data/fixtures/xstest/xstest_prompts.csv");
    let out = eval(&xstest, &dir.path().join("zero"), &["--max-examples", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to evaluate (0 examples asked for)"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("zero/report.md").exists());
    // Nor a log of classified batches for `--resume` to find: none was classified.
    assert_eq!(names(&dir.path().join("zero/benchmarks")), Vec::<String>::new());

    // A benchmark file with its header and no rows.
    let header = std::fs::read_to_string(&xstest).unwrap().lines().next().unwrap().to_string();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, format!("{header}\n")).unwrap();
    let out = eval(&empty, &dir.path().join("empty"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no examples in it"), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("F1"));
}

fn export(out: &Path, extra: &[&str]) -> std::process::Output {
    let golden = repo_root().join("fixtures/golden");
    let mut rest = vec!["--out", out.to_str().unwrap(), "--merge"];
    rest.extend_from_slice(extra);
    guardtune_with_adapter("export", &golden.join("tiny-llama31"), &golden.join("adapter"), &rest)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn export_refuses_a_non_empty_folder_and_with_force_leaves_only_the_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged");
    let first = export(&out, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(out.join("model.safetensors").exists());
    std::fs::write(out.join("notes.txt"), "an earlier file").unwrap();
    let before = names(&out);

    // The same export again, now sharded: refused without --force, the folder untouched.
    let refused = export(&out, &["--shard-size", "200KB"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    assert_eq!(names(&out), before);

    let forced = export(&out, &["--shard-size", "200KB", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let after = names(&out);
    assert!(after.contains(&"model.safetensors.index.json".to_string()), "{after:?}");
    assert!(!after.contains(&"model.safetensors".to_string()), "stale weights: {after:?}");
    assert!(!after.contains(&"notes.txt".to_string()), "stale file: {after:?}");
    assert_eq!(names(dir.path()), vec!["merged"], "no staging folder left");
}

#[test]
fn an_adapter_of_another_base_model_warns() {
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter");
    std::fs::create_dir(&adapter).unwrap();
    let golden = repo_root().join("fixtures/golden/adapter");
    for file in ["adapter_config.json", "adapter_model.safetensors"] {
        std::fs::copy(golden.join(file), adapter.join(file)).unwrap();
    }
    let config = adapter.join("adapter_config.json");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\"../tiny-llama31\"", "\"meta-llama/Llama-3.1-8B-Instruct\"");
    std::fs::write(&config, text).unwrap();
    let model = repo_root().join("fixtures/golden/tiny-llama31");
    let run = |adapter: &Path| {
        let out = dir.path().join("out");
        guardtune_with_adapter(
            "export",
            &model,
            adapter,
            &["--out", out.to_str().unwrap(), "--force"],
        )
    };
    let out = run(&adapter);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: adapter"), "{}", stderr(&out));
    assert!(stderr(&out).contains("Llama-3.1-8B-Instruct"), "{}", stderr(&out));
    // The golden adapter names its own base (`../tiny-llama31`): no warning.
    let out = run(&golden);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn an_io_error_prints_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo_root().join("fixtures/golden/tiny-llama31");
    let (adapter, out) = (dir.path().join("no-such-adapter"), dir.path().join("out"));
    let out = guardtune_with_adapter("export", &model, &adapter, &["--out", out.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("adapter_config.json"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// The largest logit difference the merge check printed.
fn merge_check_diff(stdout: &str) -> f32 {
    let line = stdout.lines().find(|l| l.starts_with("merge check:")).expect("a merge check line");
    let after = line.split("largest logit difference ").nth(1).unwrap();
    after.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_merge_is_checked_against_base_plus_adapter_and_a_lossy_one_warns() {
    let dir = tempfile::tempdir().unwrap();
    let exact = export(&dir.path().join("f32"), &[]);
    assert!(exact.status.success(), "{}", stderr(&exact));
    let stdout = String::from_utf8_lossy(&exact.stdout);
    assert!(merge_check_diff(&stdout) < 1e-4, "{stdout}");
    assert!(!stderr(&exact).contains("warning"), "{}", stderr(&exact));

    // bf16 rounds each merged weight: on the golden adapter that flips a few next tokens.
    let rounded = export(&dir.path().join("bf16"), &["--dtype", "bf16"]);
    assert!(rounded.status.success(), "{}", stderr(&rounded));
    let stdout = String::from_utf8_lossy(&rounded.stdout);
    assert!(merge_check_diff(&stdout) > 1e-3, "{stdout}");
    let err = stderr(&rounded);
    assert!(
        err.contains("warning: the bfloat16 merge changes") && err.contains("--dtype f32"),
        "{err}"
    );
}

#[test]
fn benchmark_rows_that_the_loader_skips_are_counted_on_the_console() {
    let dir = tempfile::tempdir().unwrap();
    // Two of its twelve rows have the prompt "REDACTED" (not redistributed): not evaluable.
    let aegis2 = repo_root().join("data/fixtures/aegis2/train.json");
    let out = eval_kind("aegis2", &aegis2, &dir.path().join("eval"), &["--max-examples", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 rows skipped (train: 2 REDACTED prompt)"), "{}", stderr(&out));
}

#[test]
fn an_evaluation_without_a_terminal_prints_its_progress_in_lines() {
    let dir = tempfile::tempdir().unwrap();
    let xstest = repo_root().join("data/fixtures/xstest/xstest_prompts.csv");
    let extra = ["--max-examples", "10", "--batch-size", "1"];
    let out = eval(&xstest, &dir.path().join("eval"), &extra);
    assert!(out.status.success(), "{}", stderr(&out));
    // Captured stderr is no terminal: no bar, a line at each tenth of the examples.
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("xstest_prompts: ")).collect();
    assert_eq!(lines.len(), 10, "{err}");
    assert!(lines[4].starts_with("xstest_prompts: 5/10 examples, "), "{err}");
    assert!(lines[9].contains("10/10 examples") && lines[9].ends_with(" left"), "{err}");
    assert!(lines.iter().all(|l| l.contains("/s, ")), "{err}");
}
