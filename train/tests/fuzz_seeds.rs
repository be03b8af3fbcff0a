//! Every fuzz target on every file of its seed corpus (fuzz/corpus/TARGET/), on the crashes the
//! fuzzer found and that were fixed (fuzz/regressions/TARGET/), and on 1,000 random
//! mutations of its seeds: a brief fuzz run for CI that needs no fuzzer (AFL++ and its
//! instrumented build are `scripts/fuzz.sh`'s). A panic here is a bug in a loader.

#[path = "../../fuzz/src/targets.rs"]
// by_name is for the AFL harness; `data-only` is a feature of the fuzz crate, not of this one.
#[allow(dead_code, unexpected_cfgs)]
mod targets;

use std::path::PathBuf;

use guardtune_model::testing::repo_root;

/// Mutated inputs per target. Fixed, with a fixed random seed: the same inputs on every run.
const MUTATIONS_PER_TARGET: usize = 1000;

/// One test, not two: the environment is set before any thread starts, and tests run in threads.
#[test]
fn every_target_survives_its_seeds_past_crashes_and_mutations() {
    targets::hermetic();
    let mut replayed = 0;
    let mut mutated = 0;
    for (name, check) in targets::targets() {
        let seeds = files(&format!("fuzz/corpus/{name}"));
        assert!(!seeds.is_empty(), "target {name} has no seed corpus");
        for (path, data) in seeds.iter().chain(&files(&format!("fuzz/regressions/{name}"))) {
            let outcome = std::panic::catch_unwind(|| check(data));
            assert!(outcome.is_ok(), "target {name} panicked on {}", path.display());
            replayed += 1;
        }
        let inputs: Vec<&[u8]> = seeds.iter().map(|(_, data)| data.as_slice()).collect();
        let mut random = Random(name.bytes().fold(0x5eed, |h, b| h.rotate_left(5) ^ u64::from(b)));
        for _ in 0..MUTATIONS_PER_TARGET {
            let input = mutate(&inputs, &mut random);
            if std::panic::catch_unwind(|| check(&input)).is_err() {
                let saved = std::env::temp_dir().join(format!("guardtune-fuzz-panic-{name}"));
                std::fs::write(&saved, &input).unwrap();
                panic!(
                    "target {name} panicked on a mutated seed; replay it with \
                     `fuzz/target/release/fuzz-afl {name} < {}` (scripts/fuzz.sh builds that)",
                    saved.display()
                );
            }
            mutated += 1;
        }
    }
    eprintln!(
        "{replayed} seeds and regressions and {mutated} mutations through {} targets",
        targets::targets().len()
    );
}

/// The files of a folder of the repo, sorted by name (none when it does not exist).
fn files(folder: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(repo_root().join(folder)) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect()
}

/// A seed changed by one to four of AFL's havoc operations: flipped bits, bytes set to values
/// that parsers treat specially, ranges deleted or repeated, random bytes inserted, the tail cut,
/// or another seed spliced in.
fn mutate(seeds: &[&[u8]], random: &mut Random) -> Vec<u8> {
    const SPECIAL: &[u8] = b"\0\xff\x7f\x80\"'\\{}[]<>,:;=\n\r\t 0-9eE.";
    let mut data = seeds[random.below(seeds.len())].to_vec();
    for _ in 0..1 + random.below(4) {
        let len = data.len().max(1);
        let at = random.below(len).min(data.len());
        let span = 1 + random.below(len.min(64));
        let end = (at + span).min(data.len());
        match random.below(7) {
            0 if at < data.len() => data[at] ^= 1 << random.below(8),
            1 if at < data.len() => data[at] = SPECIAL[random.below(SPECIAL.len())],
            2 => drop(data.drain(at..end)),
            3 => {
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
            4 => {
                let bytes: Vec<u8> = (0..span).map(|_| random.below(256) as u8).collect();
                data.splice(at..at, bytes);
            }
            5 => data.truncate(at),
            _ => {
                let other = seeds[random.below(seeds.len())];
                let from = random.below(other.len().max(1)).min(other.len());
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

/// xorshift64*: a fixed random sequence without a dependency (the state must not be 0).
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n.max(1)
    }
}
