//! `guardtune bench --model DIR --rows FILE --mode train|classify` on the tiny SmolLM2-shaped model
//! and rows that `guardtune blend` writes: one JSON object with the reported figures.

mod common;

use common::{guardtune, small_run_config, stderr};
use guardtune_model::testing::repo_root;

fn bench(rows: &std::path::Path, mode: &str) -> serde_json::Value {
    let model = repo_root().join("fixtures/models/tiny-smollm2");
    let output = guardtune(&[
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--rows",
        rows.to_str().unwrap(),
        "--mode",
        mode,
        "--batch",
        "2",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn rows_benchmark_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 1, "");
    let rows = dir.path().join("rows.jsonl");
    let output = guardtune(&["blend", config.to_str().unwrap(), "--out", rows.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    for mode in ["train", "classify"] {
        let report = bench(&rows, mode);
        assert_eq!((report["mode"].as_str(), report["steps"].as_u64()), (Some(mode), Some(2)));
        for key in ["examples_per_s", "tokens_per_s", "ms_per_batch", "peak_rss_mib"] {
            assert!(report[key].as_f64().unwrap() > 0.0, "{mode} {key}: {report}");
        }
        // Every XSTest row starts with the same template and policy.
        let saved = report["prefix_saved_fraction"].as_f64().unwrap();
        assert!(saved > 0.3 && saved < 1.0, "{mode}: {report}");
    }
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"prompt\": 1}\n").unwrap();
    let model = repo_root().join("fixtures/models/tiny-smollm2");
    let output =
        guardtune(&["bench", "--model", model.to_str().unwrap(), "--rows", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("bad.jsonl: row 1"), "{}", stderr(&output));
}
