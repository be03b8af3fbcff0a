//! Choosing the backend and device from a `--device` string: `cpu` (Burn's Flex backend, the
//! default build) or `cuda:N` (built with `--features cuda`).

use anyhow::{bail, Result};
use burn::tensor::backend::Backend;

/// A job that runs on whichever backend the user picked.
pub trait BackendJob {
    type Output;
    fn run<B: Backend>(self, device: B::Device) -> Result<Self::Output>;
}

/// Runs `job` on the backend named by `device` (`cpu`, `cuda`, `cuda:N`).
pub fn run_on<J: BackendJob>(device: &str, job: J) -> Result<J::Output> {
    match device {
        "cpu" => job.run::<burn::backend::Flex>(Default::default()),
        cuda if cuda == "cuda" || cuda.starts_with("cuda:") => run_on_cuda(cuda, job),
        other => bail!("unknown device \"{other}\" (expected cpu, cuda or cuda:N)"),
    }
}

#[cfg(feature = "cuda")]
fn run_on_cuda<J: BackendJob>(name: &str, job: J) -> Result<J::Output> {
    let index = match name.strip_prefix("cuda:") {
        Some(n) => n.parse().map_err(|_| anyhow::anyhow!("invalid CUDA device \"{name}\" (expected cuda:N)"))?,
        None => 0,
    };
    job.run::<burn::backend::Cuda>(burn::backend::cuda::CudaDevice::new(index))
}

#[cfg(not(feature = "cuda"))]
fn run_on_cuda<J: BackendJob>(name: &str, _job: J) -> Result<J::Output> {
    bail!("device \"{name}\" needs a build with CUDA: cargo build --release --features cuda")
}
