//! One module per subcommand of the `guardtune` binary.

pub mod bench;
pub mod bench_rows;
pub mod blend;
pub mod classify;
pub mod eval;
pub mod export;
pub mod generate;
pub mod init_model;
pub mod perplexity;
pub mod sweep;
pub mod train;
