//! Reading a malformed Parquet file catches the `parquet` crate's panic quietly, and only on the
//! reading thread: a panic elsewhere in the process at the same time still reaches the panic
//! hook, and the hook is the same afterwards. (Swapping the hook for a silent one around each
//! read, as was done before, lost other threads' panic messages when reads ran in parallel.)
//! One test in its own binary, so that it owns the process's panic hook.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use guardtune_data::{load_source, LoadOptions, SourceKind};
use guardtune_model::testing::repo_root;

static LOUD_PANICS_SEEN: AtomicUsize = AtomicUsize::new(0);

/// The fuzzer's crashing inputs, as `.parquet` files (the loader goes by the extension).
fn malformed_files() -> Vec<PathBuf> {
    let dir = std::env::temp_dir().join(format!("guardtune-parquet-panics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let regressions = repo_root().join("fuzz/regressions/rows_parquet");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(regressions).unwrap() {
        let entry = entry.unwrap();
        let file = dir.join(entry.file_name()).with_extension("parquet");
        std::fs::copy(entry.path(), &file).unwrap();
        files.push(file);
    }
    files
}

#[test]
fn parallel_reads_stay_quiet_without_silencing_other_threads() {
    let files = malformed_files();
    assert!(!files.is_empty());
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() == Some(&"loud") {
            LOUD_PANICS_SEEN.fetch_add(1, Ordering::SeqCst);
        } else {
            default(info);
        }
    }));
    let loud = 40;
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..25 {
                    for file in &files {
                        let loaded = load_source(SourceKind::Aegis2, file, &LoadOptions::default());
                        assert!(loaded.is_err(), "{} is an error", file.display());
                    }
                }
            });
        }
        for _ in 0..loud {
            assert!(std::thread::spawn(|| std::panic::panic_any("loud")).join().is_err());
        }
    });
    assert_eq!(LOUD_PANICS_SEEN.load(Ordering::SeqCst), loud, "every other panic reached the hook");
    // And after the reads, panics still reach it.
    assert!(std::thread::spawn(|| std::panic::panic_any("loud")).join().is_err());
    assert_eq!(LOUD_PANICS_SEEN.load(Ordering::SeqCst), loud + 1);
    std::fs::remove_dir_all(files[0].parent().unwrap()).unwrap();
}
