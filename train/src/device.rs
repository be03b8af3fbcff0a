//! Choosing the backend and devices from device names: `cpu` (Burn's Flex backend, the default
//! build) or `cuda:N` (built with `--features cuda`). Training accepts a list of names (data
//! parallel); every other command runs on one device.

use anyhow::{bail, Result};
use burn::tensor::backend::Backend;

/// A job that runs on one device of whichever backend the user picked.
pub trait BackendJob {
    type Output;
    fn run<B: Backend>(self, device: B::Device) -> Result<Self::Output>;
}

/// A job that runs on one or several devices of one backend.
pub trait DevicesJob {
    type Output;
    fn run<B: Backend>(self, devices: Vec<B::Device>) -> Result<Self::Output>;
}

/// The backend and devices that a list of names designates.
#[derive(Debug, PartialEq)]
pub enum DeviceSet {
    /// The CPU, as many times as named: each name is one data-parallel participant (the CPU
    /// backend has a single device, so they share it).
    Cpu(usize),
    /// CUDA device indices.
    Cuda(Vec<usize>),
}

/// Parses `cpu`, `cpu:N`, `cuda` and `cuda:N` names; all must name the same backend, and a
/// CUDA device may appear only once.
pub fn parse_devices(names: &[String]) -> Result<DeviceSet> {
    if names.is_empty() {
        bail!("no device given (expected cpu, cuda:N or a list of them)");
    }
    let mut cpus = 0;
    let mut cuda = Vec::new();
    for name in names {
        match name.split_once(':').map_or((name.as_str(), None), |(kind, n)| (kind, Some(n))) {
            ("cpu", index) => {
                if index.is_some_and(|n| n.parse::<usize>().is_err()) {
                    bail!("invalid device \"{name}\" (expected cpu or cpu:N)");
                }
                cpus += 1;
            }
            ("cuda", index) => {
                let index = match index {
                    None => 0,
                    Some(n) => n.parse().map_err(|_| {
                        anyhow::anyhow!("invalid CUDA device \"{name}\" (expected cuda:N)")
                    })?,
                };
                if cuda.contains(&index) {
                    bail!("device \"{name}\" is listed twice");
                }
                cuda.push(index);
            }
            _ => bail!("unknown device \"{name}\" (expected cpu, cuda or cuda:N)"),
        }
    }
    match (cpus, cuda.is_empty()) {
        (0, false) => Ok(DeviceSet::Cuda(cuda)),
        (n, true) => Ok(DeviceSet::Cpu(n)),
        _ => bail!("devices {names:?} mix the CPU and CUDA: train on one backend"),
    }
}

/// Runs `job` on the backend and devices named by `names`.
pub fn run_on_devices<J: DevicesJob>(names: &[String], job: J) -> Result<J::Output> {
    match parse_devices(names)? {
        DeviceSet::Cpu(n) => job.run::<burn::backend::Flex>(vec![Default::default(); n]),
        DeviceSet::Cuda(indices) => run_on_cuda(indices, job),
    }
}

/// Runs `job` on the one device named by `name` (`cpu`, `cuda`, `cuda:N`).
pub fn run_on<J: BackendJob>(name: &str, job: J) -> Result<J::Output> {
    run_on_devices(&[name.to_string()], OneDevice(job))
}

struct OneDevice<J>(J);

impl<J: BackendJob> DevicesJob for OneDevice<J> {
    type Output = J::Output;
    fn run<B: Backend>(self, devices: Vec<B::Device>) -> Result<J::Output> {
        let device = devices.into_iter().next().expect("one name gives one device");
        self.0.run::<B>(device)
    }
}

#[cfg(feature = "cuda")]
fn run_on_cuda<J: DevicesJob>(indices: Vec<usize>, job: J) -> Result<J::Output> {
    job.run::<burn::backend::Cuda>(
        indices.into_iter().map(burn::backend::cuda::CudaDevice::new).collect(),
    )
}

#[cfg(not(feature = "cuda"))]
fn run_on_cuda<J: DevicesJob>(_indices: Vec<usize>, _job: J) -> Result<J::Output> {
    bail!("CUDA devices need a build with CUDA: cargo build --release --features cuda")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(names: &[&str]) -> Result<DeviceSet> {
        parse_devices(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn names_and_lists() {
        assert_eq!(parse(&["cpu"]).unwrap(), DeviceSet::Cpu(1));
        assert_eq!(parse(&["cpu:0", "cpu:1"]).unwrap(), DeviceSet::Cpu(2));
        assert_eq!(parse(&["cuda"]).unwrap(), DeviceSet::Cuda(vec![0]));
        assert_eq!(parse(&["cuda:1", "cuda:0"]).unwrap(), DeviceSet::Cuda(vec![1, 0]));
        for (bad, words) in [
            (&["cuda:0", "cuda:0"][..], "twice"),
            (&["cpu", "cuda:0"][..], "mix"),
            (&["tpu"][..], "unknown device"),
            (&["cuda:x"][..], "expected cuda:N"),
            (&[][..], "no device"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(words), "{bad:?}: {err}");
        }
    }
}
