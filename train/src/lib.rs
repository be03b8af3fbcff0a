//! The `guardtune` command line and the pieces it is built from.

pub mod allocator;
pub mod base_model_check;
pub mod classifier;
pub mod closed_pipe;
pub mod commands;
pub mod config;
pub mod device;
pub mod evaluation;
pub mod finished_benchmarks;
pub mod hub;
pub mod memory;
pub mod merge_check;
pub mod metrics;
pub mod model_dir;
pub mod model_inputs;
pub mod output_dir;
pub mod plot;
pub mod prefix_slot;
pub mod shown_path;
pub mod skipped_rows;
pub mod stop;
pub mod sweep;
pub mod tensorboard;
pub mod trainer;
