//! Parquet files whose metadata or pages declare far more elements than they hold: fuzzing found
//! 4-KiB files that made the `parquet` crate reserve 29 to 100 GB (a failed allocation aborts the
//! process, past any `catch_unwind`) and 2-KiB files that took seconds to skip. With the patched
//! crate (vendor/parquet/PATCHED.md) each is an error, most of them naming the declared size. A
//! regression here aborts this test binary rather than failing one assertion.

use guardtune_data::{load_source, LoadOptions, SourceKind};
use guardtune_model::testing::repo_root;

#[test]
fn declared_sizes_beyond_the_file_are_errors_not_aborts() {
    let dir = std::env::temp_dir().join(format!("guardtune-parquet-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let regressions = repo_root().join("fuzz/regressions/rows_parquet");
    let (mut checked, mut named) = (0, 0);
    for entry in std::fs::read_dir(regressions).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("abort-") || name.starts_with("slow-")) {
            continue;
        }
        let file = dir.join(&name).with_extension("parquet");
        std::fs::copy(entry.path(), &file).unwrap();
        let error = load_source(SourceKind::Aegis2, &file, &LoadOptions::default())
            .expect_err(&format!("{name} is malformed"))
            .to_string();
        named += usize::from(error.contains("elements in"));
        checked += 1;
    }
    assert!(checked >= 9, "the abort and slow inputs are all there ({checked})");
    assert!(named >= checked / 2, "most errors name the list's declared size ({named})");
    std::fs::remove_dir_all(dir).unwrap();
}
