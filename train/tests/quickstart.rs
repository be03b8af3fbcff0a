//! The README's main job, `guardtune train configs/quickstart.toml`, on CPU; then `guardtune
//! eval` of its adapter on XSTest and OpenAI moderation.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{guardtune, guardtune_with_adapter, metric, stderr};
use guardtune::evaluation::{summarize, PredictionRow, Report};
use guardtune_model::testing::repo_root;

#[test]
fn quickstart_trains_and_the_validation_loss_falls() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_root().join("configs/quickstart.toml");
    let out_dir = dir.path().join("quickstart");
    let out = guardtune(&[
        "train",
        config.to_str().unwrap(),
        "--set",
        &format!("output.dir={}", out_dir.display()),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // It ends with where things are and the next command, as the README shows; that command
    // works as printed.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("validation loss"), "{stdout}");
    let next = stdout.lines().last().unwrap().trim();
    assert!(next.contains(" classify --model ") && !next.contains(".."), "{next}");
    let args = shell_words(next);
    let classify = std::process::Command::new(&args[0])
        .args(&args[1..])
        .current_dir(std::env::current_dir().unwrap())
        .output()
        .unwrap();
    assert!(classify.status.success(), "{next}: {}", stderr(&classify));
    assert!(String::from_utf8_lossy(&classify.stdout).contains("user_safety"));
    let evals: Vec<f64> = metric(&out_dir, "eval/loss").into_iter().map(|(_, v)| v).collect();
    let (first, last) = (evals[0], *evals.last().unwrap());
    assert!(last < 0.5 * first, "validation loss {first} -> {last} did not fall clearly");
    assert!(out_dir.join("adapter/adapter_model.safetensors").exists());

    let root = repo_root();
    let report_dir = dir.path().join("eval");
    let (model, adapter) = (root.join("fixtures/models/tiny-smollm2"), out_dir.join("adapter"));
    let xstest =
        format!("xstest={}", root.join("data/fixtures/xstest/xstest_prompts.csv").display());
    let eval = |extra: &[&str]| {
        let mut rest = vec!["--benchmark", xstest.as_str()];
        rest.extend_from_slice(extra);
        guardtune_with_adapter("eval", &model, &adapter, &rest)
    };
    let out = eval(&[
        "--benchmark",
        &format!(
            "openai-moderation={}",
            root.join("data/fixtures/openai-moderation/samples-1680.jsonl.gz").display()
        ),
        "--max-examples",
        "24",
        "--out",
        report_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let markdown = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(
        markdown.contains("| this run |")
            && markdown.contains("xstest_prompts (prompt)")
            && markdown.contains("samples-1680 (prompt)"),
        "{markdown}"
    );
    assert!(markdown.contains("Published results, for reference only"));
    assert!(report_dir.join("pr_curves.png").exists());

    // The report's numbers are exactly those recomputed from predictions.jsonl.
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).unwrap())
            .unwrap();
    let rows: Vec<PredictionRow> = std::fs::read_to_string(report_dir.join("predictions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 48);
    let recomputed = summarize(&rows);
    assert_eq!(recomputed.len(), report.results.len());
    for (a, b) in recomputed.iter().zip(&report.results) {
        assert_eq!((&a.benchmark, &a.level), (&b.benchmark, &b.level));
        assert_eq!(a.metrics, b.metrics);
    }

    // An interrupted evaluation (its second benchmark unfinished) resumes from the finished
    // one, and ends with the same predictions; other settings are another evaluation.
    let predictions = std::fs::read(report_dir.join("predictions.jsonl")).unwrap();
    std::fs::remove_file(report_dir.join("benchmarks/samples-1680.jsonl")).unwrap();
    std::fs::remove_file(report_dir.join("predictions.jsonl")).unwrap();
    let moderation = format!(
        "openai-moderation={}",
        root.join("data/fixtures/openai-moderation/samples-1680.jsonl.gz").display()
    );
    let out_arg = report_dir.to_str().unwrap();
    let common = ["--benchmark", &moderation, "--max-examples", "24", "--out", out_arg];
    let out = eval(&[&common[..], &["--resume"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(said.matches("finished earlier, reused").count(), 1, "{said}");
    assert_eq!(std::fs::read(report_dir.join("predictions.jsonl")).unwrap(), predictions);
    let out = eval(&[&common[..], &["--resume", "--max-new-tokens", "8"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
    assert!(!said.contains("finished earlier"), "{said}");
}

/// A killed evaluation (SIGKILL while its benchmark is half done) resumes from the batches it
/// logged, redoing at most the one it was on, and ends with the predictions of an
/// uninterrupted one, byte for byte.
#[test]
fn a_killed_evaluation_resumes_from_its_last_batch() {
    let root = repo_root();
    let model = root.join("fixtures/models/tiny-smollm2");
    let xstest =
        format!("xstest={}", root.join("data/fixtures/xstest/xstest_prompts.csv").display());
    let dir = tempfile::tempdir().unwrap();
    let eval = |out: &Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_guardtune"));
        command.args(["eval", "--model", model.to_str().unwrap(), "--benchmark", &xstest]);
        command.args(["--max-examples", "120", "--batch-size", "2", "--resume", "--out"]);
        command.arg(out);
        command
    };
    let clean = dir.path().join("clean");
    let out = eval(&clean).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let killed = dir.path().join("killed");
    let partial = killed.join("benchmarks/xstest_prompts.partial.jsonl");
    let mut child = eval(&killed).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    // The header and three batches.
    while std::fs::read_to_string(&partial).map_or(0, |t| t.lines().count()) < 4 {
        assert!(child.try_wait().unwrap().is_none(), "the evaluation ended before it was killed");
        assert!(started.elapsed() < Duration::from_secs(300), "the evaluation made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!killed.join("benchmarks/xstest_prompts.jsonl").exists(), "it finished");
    let batches = std::fs::read_to_string(&partial).unwrap().lines().count() - 1;

    let out = eval(&killed).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // A line torn by the kill is one batch redone.
    let said = stderr(&out);
    let resumed = (batches - 1..=batches)
        .any(|b| said.contains(&format!("xstest_prompts: {} of 120 examples classified", 2 * b)));
    assert!(resumed, "{batches} batches logged, but: {said}");
    let predictions = |dir: &Path| std::fs::read(dir.join("predictions.jsonl")).unwrap();
    assert_eq!(predictions(&killed), predictions(&clean));
    assert!(!partial.exists(), "the finished benchmark's log is left behind");
}

/// A command line split as a POSIX shell would for the quoting `shown_path::shell_word` writes
/// (plain words, '...' and "...").
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, ' ') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            (None, '\'' | '"') => (quote, in_word) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}
