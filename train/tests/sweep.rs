//! `guardtune sweep` end to end on the tiny model: 2 variants x 2 seeds trained and evaluated,
//! killed midway and resumed, the report checked against each run's predictions, blend
//! overrides, the emitted Slurm script run with bash, and (opt-in) a real single-node Slurm.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{guardtune, stderr};
use guardtune::evaluation::PredictionRow;
use guardtune::metrics::{ClassificationMetrics, Prediction};
use guardtune::sweep::report::SweepResults;
use guardtune_model::testing::repo_root;

/// A base run config with two weighted sources (64 training examples in all), a few steps,
/// a checkpoint every step; and a sweep over it: "both" sources, and "xstest-only" with the
/// other source's weight set to 0. Returns the sweep file.
fn write_sweep(dir: &Path, seeds: &[u64], max_steps: usize) -> PathBuf {
    let root = repo_root();
    let base = format!(
        r#"
[model]
path = "{model}"

[lora]
r = 4
alpha = 8
dropout = 0.0
target_modules = ["q_proj", "v_proj"]

[data]
seed = 3
max_seq_len = 512
total_examples = 64

[[data.sources]]
name = "xstest"
kind = "xstest"
path = "{xstest}"
validation_fraction = 0.05
weight = 1.0
policy_file = "{policy}"

[[data.sources]]
name = "moderation"
kind = "openai-moderation"
path = "{moderation}"
validation_fraction = 0.01
weight = 1.0
policy_file = "{policy}"

[training]
max_steps = 2
micro_batch_size = 2
grad_accumulation = 1
lr = 5e-3
warmup_steps = 1

[eval]
every_steps = 2
max_examples = 4

[output]
dir = "unused"
save_every_steps = 1
"#,
        model = root.join("fixtures/models/tiny-smollm2").display(),
        xstest = root.join("data/fixtures/xstest/xstest_prompts.csv").display(),
        moderation = root.join("data/fixtures/openai-moderation/samples-1680.jsonl.gz").display(),
        policy = root.join("configs/quickstart-policy.txt").display(),
    );
    std::fs::write(dir.join("base.toml"), base).unwrap();
    let sweep = format!(
        r#"
base = "base.toml"
seeds = {seeds:?}
output = "runs"

[set]
"training.max_steps" = {max_steps}

[[variant]]
name = "both"

[[variant]]
name = "xstest-only"
set = {{ "data.sources.moderation.weight" = 0.0 }}

[[benchmark]]
kind = "xstest"
path = "{xstest}"

[[benchmark]]
kind = "simplesafetytests"
path = "{sst}"

[eval]
max_examples = 6
batch_size = 6
max_new_tokens = 24
"#,
        xstest = root.join("data/fixtures/xstest/xstest_prompts.csv").display(),
        sst = root.join("data/fixtures/simplesafetytests/test_cases.csv").display(),
    );
    let path = dir.join("sweep.toml");
    std::fs::write(&path, sweep).unwrap();
    path
}

fn sweep(file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["sweep", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    guardtune(&args)
}

fn results(dir: &Path) -> SweepResults {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

fn run_names(seeds: &[u64]) -> Vec<String> {
    ["both", "xstest-only"]
        .iter()
        .flat_map(|v| seeds.iter().map(move |s| format!("{v}-seed{s}")))
        .collect()
}

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
                files.insert(path.clone(), (std::fs::read(&path).unwrap(), modified));
            }
        }
    }
    files
}

fn state(run: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("sweep-run.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Every run has its adapter and its evaluation, the report's F1 of every run and column is the
/// F1 recomputed here from that run's predictions.jsonl, and its cost table counts the `steps`
/// of each run once (a resumed run too).
fn check_runs_and_report(dir: &Path, seeds: &[u64], steps: usize) -> SweepResults {
    let results = results(dir);
    assert!(results.missing.is_empty(), "{:?}", results.missing);
    for name in run_names(seeds) {
        let run = dir.join("runs").join(&name);
        assert!(run.join("adapter/adapter_model.safetensors").exists(), "{name}: no adapter");
        assert!(run.join("eval/report.json").exists(), "{name}: no evaluation");
        assert!(run.join("config.toml").exists() && run.join("metrics.jsonl").exists());
    }
    assert_eq!(results.columns.len(), 2, "{:?}", results.columns);
    for variant in &results.variants {
        assert_eq!(variant.runs.len(), seeds.len());
        for run in &variant.runs {
            let text = std::fs::read_to_string(
                dir.join("runs").join(&run.run).join("eval/predictions.jsonl"),
            )
            .unwrap();
            let rows: Vec<PredictionRow> =
                text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            for (c, column) in results.columns.iter().enumerate() {
                let predictions: Vec<Prediction> = rows
                    .iter()
                    .filter(|r| r.benchmark == column.benchmark && r.level == column.level)
                    .map(|r| Prediction {
                        label: r.label == "unsafe",
                        predicted: r.parsed.then_some(r.prediction == "unsafe"),
                        score: r.score,
                    })
                    .collect();
                assert_eq!(predictions.len(), 6);
                let metrics = ClassificationMetrics::from_predictions(&predictions);
                assert_eq!(run.f1[c], metrics.f1, "{} {}", run.run, column.label());
                assert_eq!(run.auprc[c], metrics.auprc, "{} {}", run.run, column.label());
            }
        }
        for (c, estimate) in variant.f1.iter().enumerate() {
            let mean = variant.runs.iter().map(|r| r.f1[c]).sum::<f64>() / seeds.len() as f64;
            assert!((estimate.mean - mean).abs() < 1e-12);
            let [low, high] = estimate.ci95.unwrap();
            assert!(low <= high && (0.0..=1.0).contains(&low) && high <= 1.0);
        }
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for piece in ["| both |", "| xstest-only |", "Difference from both", "AUPRC", "## Blends"] {
        assert!(report.contains(piece), "`{piece}` not in report.md:\n{report}");
    }
    // The cost of each run: its training steps and time, and its evaluation of 12
    // conversations (6 in each of the two columns' files).
    for name in run_names(seeds) {
        let cells = cost_row(&report, &name);
        assert_eq!(cells[2], steps.to_string(), "{name}: steps in {cells:?}");
        assert!(cells[3].parse::<f64>().unwrap() > 0.0, "{name}: tokens/s in {cells:?}");
        assert_eq!(cells[5], "12", "{name}: conversations in {cells:?}");
        assert!(cells[6].parse::<f64>().unwrap() > 0.0, "{name}: verdicts/s in {cells:?}");
    }
    for png in ["loss_curves.png", "f1.png", "pr_xstest_prompts_prompt.png"] {
        assert!(dir.join(png).exists(), "{png} missing");
    }
    results
}

/// The cells of `run`'s row in report.md's cost table.
fn cost_row(report: &str, run: &str) -> Vec<String> {
    let table = &report[report.find("## Cost").expect("a cost section")..];
    let row = table.lines().find(|l| l.starts_with(&format!("| {run} |"))).expect("a cost row");
    row.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
}

/// The `weight = 0` variant's blend has only xstest; the other has both sources, 32 each.
fn check_blends(results: &SweepResults) {
    let blend = |name: &str| {
        let variant = results.variants.iter().find(|v| v.name == name).unwrap();
        let blend = variant.blend.as_ref().unwrap();
        blend.sources.iter().map(|s| (s.name.clone(), s.train)).collect::<Vec<_>>()
    };
    assert_eq!(blend("both"), vec![("xstest".into(), 32), ("moderation".into(), 32)]);
    assert_eq!(blend("xstest-only"), vec![("xstest".to_string(), 64)]);
}

#[test]
fn a_killed_sweep_resumes_and_ends_like_an_uninterrupted_one() {
    let seeds = [1, 2];
    // Uninterrupted.
    let clean = tempfile::tempdir().unwrap();
    let file = write_sweep(clean.path(), &seeds, 4);
    let out = sweep(&file, &["--jobs", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let uninterrupted = check_runs_and_report(clean.path(), &seeds, 4);
    check_blends(&uninterrupted);

    // Killed (SIGKILL) once one run is finished and another has checkpoints but no adapter.
    let killed = tempfile::tempdir().unwrap();
    let file = write_sweep(killed.path(), &seeds, 4);
    let mut child = Command::new(env!("CARGO_BIN_EXE_guardtune"))
        .args(["sweep", file.to_str().unwrap(), "--jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runs: Vec<PathBuf> =
        run_names(&seeds).iter().map(|n| killed.path().join("runs").join(n)).collect();
    let started = Instant::now();
    let (finished, interrupted) = loop {
        let finished: Vec<&PathBuf> =
            runs.iter().filter(|r| state(r).is_some_and(|s| s["eval_hash"].is_string())).collect();
        let interrupted: Vec<&PathBuf> = runs
            .iter()
            .filter(|r| {
                state(r).is_some_and(|s| s["trained"] == false)
                    && r.join("checkpoints/step-1").exists()
            })
            .collect();
        if !finished.is_empty() && !interrupted.is_empty() {
            child.kill().unwrap();
            child.wait().unwrap();
            break (finished, interrupted);
        }
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended before it could be killed");
        assert!(started.elapsed() < Duration::from_secs(300), "the sweep made no progress");
        std::thread::sleep(Duration::from_millis(10));
    };
    // The trainer children die with the sweep: nothing writes into the runs any more.
    std::thread::sleep(Duration::from_millis(500));
    let before: Vec<_> = finished.iter().map(|r| snapshot(r)).collect();
    let interrupted_before = snapshot(interrupted[0]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(snapshot(interrupted[0]), interrupted_before, "a killed sweep's child still runs");

    let out = sweep(&file, &["--jobs", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (run, before) in finished.iter().zip(&before) {
        assert_eq!(&snapshot(run), before, "{}: a finished run was touched", run.display());
    }
    let log = std::fs::read_to_string(interrupted[0].join("sweep.log")).unwrap();
    assert!(log.contains("resuming after step"), "not resumed from a checkpoint:\n{log}");
    let resumed = check_runs_and_report(killed.path(), &seeds, 4);
    assert_eq!(resumed, uninterrupted, "results differ from the uninterrupted sweep's");
    assert_eq!(
        std::fs::read(killed.path().join("results.json")).unwrap(),
        std::fs::read(clean.path().join("results.json")).unwrap()
    );

    // Done is done: a third run skips everything and touches nothing.
    let all = snapshot(&killed.path().join("runs"));
    let out = sweep(&file, &["--jobs", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("skipped").count(), 4);
    assert_eq!(snapshot(&killed.path().join("runs")), all);
}

#[test]
fn weight_and_enabled_overrides_reach_the_blend() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_sweep(dir.path(), &[1], 2);
    let out = sweep(&file, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |run: &str| plan.lines().find(|l| l.starts_with(run)).unwrap().to_string();
    assert!(line("both-seed1").contains("xstest 32, moderation 32"), "{plan}");
    assert!(line("xstest-only-seed1").ends_with("xstest 64"), "{plan}");
    assert!(line("both-seed1").contains(" train "), "{plan}");
    assert!(!dir.path().join("runs").exists(), "a dry run wrote run folders");

    // The same addressing in `--set` of any command that reads a run config.
    let base = dir.path().join("base.toml");
    let blend = |sets: &[&str]| -> serde_json::Value {
        let mut args = vec!["blend", base.to_str().unwrap(), "--json"];
        for set in sets {
            args.extend(["--set", set]);
        }
        let out = guardtune(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let trains = |v: serde_json::Value| -> Vec<(String, u64)> {
        v["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_string(), s["train"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(
        trains(blend(&["data.sources.moderation.weight=3"])),
        vec![("xstest".into(), 16), ("moderation".into(), 48)]
    );
    assert_eq!(
        trains(blend(&["data.sources.xstest.enabled=false"])),
        vec![("moderation".into(), 64)]
    );
    let out = guardtune(&["blend", base.to_str().unwrap(), "--set", "data.sources.nope.weight=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no data source is named \"nope\""), "{}", stderr(&out));
    let out = guardtune(&[
        "blend",
        base.to_str().unwrap(),
        "--set",
        "data.sources.xstest.enabled=false",
        "--set",
        "data.sources.moderation.weight=0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("every source is left out"), "{}", stderr(&out));
}

#[test]
fn bad_sweep_files_are_refused_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_sweep(dir.path(), &[1], 2);
    let text = std::fs::read_to_string(&file).unwrap();
    let refused = |edited: String, args: &[&str], expected: &[&str]| {
        std::fs::write(&file, edited).unwrap();
        let out = sweep(&file, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        for piece in expected {
            assert!(err.contains(piece), "`{piece}` not in: {err}");
        }
    };
    refused(text.replace("output = ", "outptu = "), &["--dry-run"], &["sweep.toml:4", "outptu"]);
    refused(text.replace("seeds = [1]", "seeds = []"), &["--dry-run"], &["sweep.toml", "seeds"]);
    refused(
        text.replace("\"training.max_steps\"", "\"training.max_stepz\""),
        &["--dry-run"],
        &["variant both seed 1", "max_stepz"],
    );
    refused(text.clone(), &["--dry-run", "--only", "nope"], &["no variant \"nope\""]);
    refused(text, &["--dry-run", "--only", "both:9"], &["seed 9"]);
}

/// A `[grid]` crosses each trained variant with every combination of its values, named after
/// them, and each point trains with its values; the untrained row stays one row. A grid with an
/// empty list, or two points named alike, is refused.
#[test]
fn a_grid_crosses_the_trained_variants_with_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_sweep(dir.path(), &[1], 2);
    let text = std::fs::read_to_string(&file).unwrap();
    let zero_shot =
        "[[variant]]\nname = \"zero-shot\"\ntrain = false\n\n[[variant]]\nname = \"both\"";
    let text = text.replace("[[variant]]\nname = \"both\"", zero_shot);
    let with_grid = |grid: &str| format!("{text}\n[grid]\n{grid}\n");
    std::fs::write(&file, with_grid("\"lora.r\" = [2, 4]\n\"training.lr\" = [1e-3]")).unwrap();

    let out = sweep(&file, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    let names: Vec<&str> =
        plan.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(
        names,
        [
            "zero-shot-seed1",
            "both-r2-lr0.001-seed1",
            "both-r4-lr0.001-seed1",
            "xstest-only-r2-lr0.001-seed1",
            "xstest-only-r4-lr0.001-seed1",
        ],
        "{plan}"
    );
    let out = sweep(&file, &["--only", "both-r4-lr0.001"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config =
        std::fs::read_to_string(dir.path().join("runs/both-r4-lr0.001-seed1/config.toml")).unwrap();
    let config: toml::Table = toml::from_str(&config).unwrap();
    assert_eq!(config["lora"]["r"].as_integer(), Some(4), "{config}");
    assert_eq!(config["training"]["lr"].as_float(), Some(1e-3), "{config}");

    for (grid, expected) in [
        ("\"lora.r\" = []", ["grid.lora.r", "expected a non-empty list of values"]),
        ("\"lora.r\" = [2, 2]", ["grid", "two grid points are both named \"both-r2\""]),
    ] {
        std::fs::write(&file, with_grid(grid)).unwrap();
        let out = sweep(&file, &["--dry-run"]);
        assert_eq!(out.status.code(), Some(2), "{grid}: {}", stderr(&out));
        for piece in expected {
            assert!(stderr(&out).contains(piece), "{grid}: {}", stderr(&out));
        }
    }
}

/// `train = false`: the base model is evaluated once (first seed, no adapter), needs no
/// training, and is a row of the report like any other; a training key on it is refused.
#[test]
fn an_untrained_variant_is_the_base_model_evaluated_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_sweep(dir.path(), &[1, 2], 2);
    let text = std::fs::read_to_string(&file).unwrap();
    let zero_shot =
        "[[variant]]\nname = \"zero-shot\"\ntrain = false\n\n[[variant]]\nname = \"both\"";
    let text = text.replace("[[variant]]\nname = \"both\"", zero_shot);
    std::fs::write(&file, &text).unwrap();

    let out = sweep(&file, &["--dry-run"]);
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(plan.contains("zero-shot-seed1") && !plan.contains("zero-shot-seed2"), "{plan}");
    assert!(plan.contains("5 runs"), "{plan}");

    // Run from the sweep's folder, as users do: the evaluations then name their inputs by
    // paths relative to it, not by this machine's folders.
    for only in ["zero-shot", "both:1"] {
        let out = Command::new(env!("CARGO_BIN_EXE_guardtune"))
            .args(["sweep", "sweep.toml", "--only", only])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{only}: {}", stderr(&out));
    }
    let trained = dir.path().join("runs/both-seed1/eval/report.json");
    let trained: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(trained).unwrap()).unwrap();
    assert_eq!(trained["adapter"], "runs/both-seed1/adapter", "{trained}");
    let run = dir.path().join("runs/zero-shot-seed1");
    assert!(!run.join("adapter").exists() && !run.join("metrics.jsonl").exists());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval/report.json")).unwrap())
            .unwrap();
    assert!(report["adapter"].is_null(), "{report}");
    let log = std::fs::read_to_string(run.join("sweep.log")).unwrap();
    assert!(!log.contains("training"), "{log}");

    let out = sweep(&file, &["--report"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let results = results(dir.path());
    let names: Vec<&str> = results.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["zero-shot", "both"]);
    assert_eq!(results.variants[0].runs.len(), 1);
    assert!(results.variants[0].blend.is_none());
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(markdown.contains("| zero-shot |"), "{markdown}");
    let cells = cost_row(&markdown, "zero-shot-seed1");
    assert_eq!(cells[1..4], ["n/a", "n/a", "n/a"], "untrained: {cells:?}");
    // Done is done, for the untrained run too.
    let out = sweep(&file, &["--only", "zero-shot"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("skipped"));

    let training_key =
        text.replace("train = false", "train = false\nset = { \"training.lr\" = 1e-3 }");
    std::fs::write(&file, training_key).unwrap();
    let out = sweep(&file, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("only model.* keys"), "{}", stderr(&out));
}

/// The emitted script, run with bash once per array task, trains and evaluates every run;
/// `--report` then gathers them. A changed config is refused, and retrained with --force.
#[test]
fn the_emitted_slurm_script_runs_each_task_with_bash() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_sweep(dir.path(), &[1], 2);
    let out = sweep(
        &file,
        &["--emit", "slurm", "--partition", "debug", "--gpus-per-run", "0", "--time", "00:20:00"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let script = dir.path().join("slurm-array.sh");
    let text = std::fs::read_to_string(&script).unwrap();
    for line in ["#SBATCH --array=0-1", "#SBATCH --partition=debug", "#SBATCH --time=00:20:00"] {
        assert!(text.contains(line), "`{line}` not in:\n{text}");
    }
    assert!(!text.contains("srun") && !text.contains("--gres"), "{text}");
    let task = |id: &str| {
        Command::new("bash")
            .arg(&script)
            .env("SLURM_ARRAY_TASK_ID", id)
            .env("GUARDTUNE", env!("CARGO_BIN_EXE_guardtune"))
            .output()
            .unwrap()
    };
    for id in ["0", "1"] {
        let out = task(id);
        assert!(out.status.success(), "task {id}: {}", stderr(&out));
    }
    assert_eq!(task("2").status.code(), Some(2));
    assert!(!dir.path().join("results.json").exists(), "a single task wrote the report");
    let out = sweep(&file, &["--report"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let results = results(dir.path());
    assert!(results.missing.is_empty());
    assert_eq!(results.variants.len(), 2);
    check_blends(&results);

    // A changed config: refused, then retrained with --force.
    let changed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("[set]\n", "[set]\n\"training.lr\" = 1e-3\n");
    std::fs::write(&file, changed).unwrap();
    let out = sweep(&file, &["--only", "both:1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("another config") && stderr(&out).contains("--force"),
        "{}",
        stderr(&out)
    );
    let out = sweep(&file, &["--only", "both:1", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = std::fs::read_to_string(dir.path().join("runs/both-seed1/config.toml")).unwrap();
    assert!(config.contains("lr = 0.001"), "{config}");
}

/// Opt-in: a real single-node Slurm (scripts/slurm-local.sh installs and starts it; needs
/// root and apt), the array submitted with sbatch and waited for.
#[test]
#[ignore]
fn the_slurm_array_runs_on_a_local_slurm() {
    let start = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/slurm-local.sh");
    let out = Command::new("bash").arg(&start).output().unwrap();
    assert!(
        out.status.success(),
        "slurm-local.sh: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write_sweep(dir.path(), &[1], 2);
    let out = sweep(&file, &["--emit", "slurm", "--cpus-per-run", "1", "--time", "00:20:00"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = Command::new("sbatch")
        .args(["--wait", dir.path().join("slurm-array.sh").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sbatch: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let out = sweep(&file, &["--report"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let results = results(dir.path());
    assert!(results.missing.is_empty(), "{:?}", results.missing);
    assert_eq!(results.variants.len(), 2);
}
