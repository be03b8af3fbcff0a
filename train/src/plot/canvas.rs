//! What every chart shares: text sizes, colours, tick labels, and rendering a drawing
//! into a PNG file.

use std::fs;
use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::RGBColor;

use super::backend::{embedded_font, ChartBackend};
use super::PlotError;

pub(super) const TITLE_SIZE: u32 = 28;
pub(super) const AXIS_LABEL_SIZE: u32 = 20;
pub(super) const TICK_LABEL_SIZE: u32 = 16;
pub(super) const LEGEND_SIZE: u32 = 17;
/// At most this many tick labels per axis of a line chart (11 gives 0.0, 0.1, ..., 1.0).
pub(super) const MAX_TICKS: usize = 11;

/// Tick labels switch to scientific notation beyond these.
const MAX_FIXED_DECIMALS: i32 = 4;
const MAX_FIXED_MAGNITUDE: f64 = 1e7;

/// Major and minor grid lines: visible, but quieter than the data.
pub(super) const GRID_MAJOR: RGBColor = RGBColor(215, 215, 215);
pub(super) const GRID_MINOR: RGBColor = RGBColor(240, 240, 240);

/// Tableau 10, the matplotlib default cycle: distinct, and readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour of the `index`-th series (the palette repeats after ten).
pub(super) fn series_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// A black text style of `size` pixels (the backend always uses the embedded font).
pub(super) fn text(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().into()
}

/// Formats the tick values plotters places on an axis over `range` with at most
/// `max_ticks` ticks, all alike, with the precision their spacing needs: "50" on a step
/// axis, "0.5" on a probability axis, "0.0012" on a small loss axis, and scientific
/// notation ("2.0e-4") for learning rates and other very small or very large values.
pub(super) fn tick_formatter(range: &Range<f64>, max_ticks: usize) -> impl Fn(&f64) -> String {
    // The same computation the mesh makes, so the spacing is that of the drawn ticks.
    let ticks = RangedCoordf64::from(range.clone()).key_points(max_ticks);
    let spacing = match ticks.as_slice() {
        [first, second, ..] => second - first,
        _ => range.end - range.start,
    };
    let magnitude = ticks.iter().fold(spacing, |largest, tick| largest.max(tick.abs()));
    // Decimal digits, counted from the units (negative: tens, hundreds); the epsilon keeps
    // 0.1, whose log is a hair above -1, at one digit.
    let digit = |value: f64| (-value.log10() - 1e-9).ceil() as i32;
    let decimals = if spacing > 0.0 { digit(spacing) } else { 1 };
    let scientific = decimals > MAX_FIXED_DECIMALS || magnitude >= MAX_FIXED_MAGNITUDE;
    let precision = if scientific { decimals - digit(magnitude) } else { decimals };
    let precision = precision.clamp(0, 6) as usize;
    move |value| {
        if scientific {
            format!("{value:.precision$e}")
        } else {
            format!("{value:.precision$}")
        }
    }
}

/// The drawing area charts are drawn on.
pub(super) type Canvas<'a> = DrawingArea<ChartBackend<'a>, Shift>;

/// Error type of drawing code: plotters' errors, boxed, turned into [`PlotError::Render`].
pub(super) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Renders `draw` on a white `size` canvas and writes it to `path` as an RGB PNG.
pub(super) fn render_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Canvas<'_>) -> DrawResult,
) -> Result<(), PlotError> {
    let render_error = |message: String| PlotError::Render { path: path.to_path_buf(), message };
    let font = embedded_font()
        .ok_or_else(|| render_error("the embedded font could not be parsed".into()))?;
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let canvas = ChartBackend::new(&mut pixels, size, font).into_drawing_area();
        canvas.fill(&WHITE).map_err(|e| render_error(e.to_string()))?;
        draw(&canvas).map_err(|e| render_error(e.to_string()))?;
        canvas.present().map_err(|e| render_error(e.to_string()))?;
    }
    write_png(path, size, &pixels)
}

fn write_png(path: &Path, (width, height): (u32, u32), rgb: &[u8]) -> Result<(), PlotError> {
    // Encoded in memory first so that file errors are plain I/O errors with the path.
    let mut encoded = Vec::new();
    let mut encoder = png::Encoder::new(&mut encoded, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(rgb).and_then(|()| writer.finish()))
        .map_err(|e| PlotError::Render {
            path: path.to_path_buf(),
            message: format!("PNG encoding: {e}"),
        })?;
    fs::write(path, encoded).map_err(|source| PlotError::Io { path: path.to_path_buf(), source })
}
