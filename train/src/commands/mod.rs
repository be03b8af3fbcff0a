//! One module per subcommand of the `guardtune` binary.

pub mod bench;
pub mod export;
pub mod generate;
pub mod perplexity;
pub mod train;
