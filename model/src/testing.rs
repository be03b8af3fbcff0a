//! Fixture locations and golden-tensor reading shared by the workspace's tests.
//!
//! Fixtures whose licence allows it live in the repo under `fixtures/`; the rest (the Llama
//! tokenizers, non-commercial data) are read from `../shared`. When `CI=true` a missing shared
//! file is a failure; elsewhere the test is skipped, never in silence ([`skip`]). The README's
//! "Tests that need more" lists what needs `../shared` or an opt-in setting.

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::weights::to_f32;

/// The backend the parity tests run on: Burn's CPU backend, or CUDA device 0 in a build with
/// this crate's `cuda` feature (scripts/gpu-check.sh).
#[cfg(not(feature = "cuda"))]
pub type TestBackend = burn::backend::Flex;
#[cfg(feature = "cuda")]
pub type TestBackend = burn::backend::Cuda;

/// The workspace root (the folder holding `fixtures/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("model/ has a parent").to_path_buf()
}

/// A path under the repo's `fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    repo_root().join("fixtures").join(relative)
}

/// A path under `../shared`, or `None` (the test is skipped, see [`skip`]) when it is absent
/// outside CI.
///
/// # Panics
/// When `CI=true` and the path is absent: CI must run every test.
pub fn shared(relative: &str) -> Option<PathBuf> {
    let path = repo_root().join("..").join("shared").join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is required in CI but absent", path.display());
    }
    skip(&format!("needs ../shared/{relative}"));
    None
}

/// The value of the opt-in setting `var`, or `None` (the test is skipped, see [`skip`]).
/// `what` says what to set it to.
pub fn opt_in(var: &str, what: &str) -> Option<std::ffi::OsString> {
    let value = std::env::var_os(var).filter(|v| !v.is_empty());
    if value.is_none() {
        skip(&format!("opt-in: set {var} to {what}"));
    }
    value
}

/// Reports that the running test returns early, and why: on stderr where `cargo test` shows it
/// (the test harness captures `eprintln!`, not a direct write), and as a line `test<TAB>why` in
/// the file `GUARDTUNE_SKIP_LOG` names, from which `scripts/test.sh` prints its one-line summary.
pub fn skip(why: &str) {
    use std::io::Write as _;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
    if let Some(log) = std::env::var_os("GUARDTUNE_SKIP_LOG") {
        let line = format!("{test}\t{why}\n");
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// Named tensors of a golden safetensors file.
pub struct GoldenTensors {
    bytes: Vec<u8>,
}

impl GoldenTensors {
    pub fn open(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        GoldenTensors { bytes }
    }

    fn view(&self, name: &str) -> safetensors::tensor::TensorView<'_> {
        let tensors = SafeTensors::deserialize(&self.bytes).expect("golden file parses");
        tensors.tensor(name).unwrap_or_else(|_| panic!("golden tensor {name} missing"))
    }

    /// `(shape, values)` of a float tensor.
    pub fn floats(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let view = self.view(name);
        (view.shape().to_vec(), to_f32(view.dtype(), view.data()).expect("float tensor"))
    }

    /// Values of an i64 tensor.
    pub fn ints(&self, name: &str) -> Vec<i64> {
        let view = self.view(name);
        assert_eq!(view.dtype(), Dtype::I64, "{name} is not i64");
        view.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
    }

    /// Names of all tensors, sorted.
    pub fn names(&self) -> Vec<String> {
        let tensors = SafeTensors::deserialize(&self.bytes).expect("golden file parses");
        let mut names: Vec<String> = tensors.names().into_iter().map(String::from).collect();
        names.sort();
        names
    }
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
