//! `guardtune sweep`: blend ablations (and any other comparison of run configs) as one
//! resumable command. A sweep file names a base run config, seeds and variants
//! ([`file`]); the plan resolves every variant x seed into a run config with a config hash
//! ([`plan`]); each run trains and is evaluated as child processes of this binary into
//! `<output>/<variant>-seed<S>/`, a normal run folder ([`run`], [`state`]); the report
//! compares the variants with seeds and bootstrap intervals ([`report`]); and `--emit slurm`
//! spreads the runs over a Slurm job array ([`slurm`]).

pub mod blend;
pub mod file;
pub mod plan;
pub mod report;
pub mod run;
pub mod slurm;
pub mod state;

pub use file::SweepFile;
pub use plan::{plan, PlannedRun};
