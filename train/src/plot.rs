//! PNG charts for evaluation reports: precision-recall curves, per-category bars and
//! training curves.
//!
//! Rendering is pure Rust (`plotters` bitmap backend, `ab_glyph` text, `png` encoding)
//! with DejaVu Sans embedded in the binary, so nothing depends on system fonts or
//! libraries.

mod backend;
mod bars;
mod canvas;
mod line_chart;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use bars::{bar_chart_size, plot_bars, plot_bars_with_intervals};
pub use line_chart::{plot_lines, plot_pr_curves, LINE_CHART_SIZE};

/// Why a chart could not be written.
#[derive(Debug)]
pub enum PlotError {
    /// The data cannot be charted (nothing finite to plot, value out of range, ...).
    InvalidInput {
        /// The chart that was requested.
        path: PathBuf,
        /// What is wrong with the data.
        reason: String,
    },
    /// Creating or writing the PNG file failed.
    Io {
        /// The PNG file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Drawing or PNG encoding failed.
    Render {
        /// The chart being drawn.
        path: PathBuf,
        /// The drawing library's message.
        message: String,
    },
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::InvalidInput { path, reason } => {
                write!(f, "{}: cannot plot: {reason}", path.display())
            }
            PlotError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            PlotError::Render { path, message } => {
                write!(f, "{}: drawing failed: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for PlotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PlotError::Io { source, .. } => Some(source),
            PlotError::InvalidInput { .. } | PlotError::Render { .. } => None,
        }
    }
}
