//! Every fuzz target on every file of its seed corpus (fuzz/corpus/TARGET/), and on the crashes
//! the fuzzer found and that were fixed (fuzz/regressions/TARGET/): a brief fuzz run for CI that
//! needs no fuzzer. A panic here is a bug in a loader.

#[path = "../../fuzz/src/targets.rs"]
// by_name is for the AFL harness; `data-only` is a feature of the fuzz crate, not of this one.
#[allow(dead_code, unexpected_cfgs)]
mod targets;

use guardtune_model::testing::repo_root;

#[test]
fn every_target_survives_its_seed_corpus_and_past_crashes() {
    // As in the AFL harness: a path that reads as a Hub id is looked up in the cache only.
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let mut runs = 0;
    for (name, check) in targets::targets() {
        let mut seeds = 0;
        for folder in ["fuzz/corpus", "fuzz/regressions"] {
            let dir = repo_root().join(folder).join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| check(&data));
                assert!(outcome.is_ok(), "target {name} panicked on {}", path.display());
                seeds += 1;
            }
        }
        assert!(seeds > 0, "target {name} has no seed corpus");
        runs += seeds;
    }
    eprintln!("{runs} inputs replayed through {} targets", targets::targets().len());
}
