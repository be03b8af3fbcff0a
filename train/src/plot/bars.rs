//! Horizontal bar chart of scores in 0..1 (per-category F1), with one row per bar so that
//! two dozen long category names stay readable.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{
    render_png, series_color, text, tick_formatter, Canvas, GRID_MAJOR, GRID_MINOR,
    TICK_LABEL_SIZE, TITLE_SIZE,
};
use super::PlotError;

const WIDTH: u32 = 1000;
/// Height of one bar's row.
const ROW_HEIGHT: u32 = 34;
/// Height of the title, x axis and margins.
const FIXED_HEIGHT: u32 = 130;
/// Names wider than this many pixels are shortened with an ellipsis.
const MAX_NAME_WIDTH: u32 = 420;
/// More characters than fit in [`MAX_NAME_WIDTH`] even if all were as narrow as "i"; longer
/// names are cut to this before measuring, so shortening stays cheap.
const MAX_NAME_CHARS: usize = 100;
/// More bars than this would not be readable (and the image would grow without bound).
const MAX_BARS: usize = 500;
/// Share of a row left blank above and below its bar.
const BAR_GAP: f64 = 0.18;
/// Tick labels on the value axis: 0.0, 0.1, ..., 1.0.
const X_TICKS: usize = 11;
/// Room right of the axis for the value printed after a full-length bar.
const VALUE_MARGIN: u32 = 64;

/// Pixel size `(width, height)` of a chart with `bars` bars: the height grows by one row
/// per bar.
pub fn bar_chart_size(bars: usize) -> (u32, u32) {
    let rows = u32::try_from(bars.max(1)).unwrap_or(u32::MAX);
    (WIDTH, FIXED_HEIGHT.saturating_add(ROW_HEIGHT.saturating_mul(rows)))
}

/// Plots `(name, value)` pairs as horizontal bars, top to bottom in the given order, each
/// with its value printed after it. Values must lie in `0..=1` (scores such as F1), and
/// there may be at most 500 bars; names too long for the axis are shortened with "…".
/// Size: [`bar_chart_size`].
pub fn plot_bars<S: AsRef<str>>(
    path: impl AsRef<Path>,
    title: &str,
    bars: &[(S, f64)],
) -> Result<(), PlotError> {
    plot_bars_with_intervals(path, title, bars, &[])
}

/// [`plot_bars`] with a whisker over each bar that has an interval: `intervals[i]` is the
/// `(low, high)` of bar `i` (in `0..=1`); bars beyond `intervals.len()` get none.
pub fn plot_bars_with_intervals<S: AsRef<str>>(
    path: impl AsRef<Path>,
    title: &str,
    bars: &[(S, f64)],
    intervals: &[(f64, f64)],
) -> Result<(), PlotError> {
    let path = path.as_ref();
    check_bars(path, bars, intervals)?;
    let rows = bars.len();
    let x_ticks = tick_formatter(&(0.0..1.0), X_TICKS);
    render_png(path, bar_chart_size(rows), |canvas| {
        let names = bars
            .iter()
            .map(|(name, _)| fit_name(canvas, name.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let name_widths =
            names.iter().map(|name| text_width(canvas, name)).collect::<Result<Vec<_>, _>>()?;
        let name_width = name_widths.into_iter().max().unwrap_or(0);
        // A numeric y axis with one unit per row, bar `index` in the unit counted from the
        // top; names are drawn beside the rows by hand (plotters' segmented axes break
        // down with a single category).
        let row_bottom = |index: usize| (rows - 1 - index) as f64;
        let mut chart = ChartBuilder::on(canvas)
            .caption(title, text(TITLE_SIZE))
            .margin(24)
            .margin_right(VALUE_MARGIN)
            .x_label_area_size(40)
            .y_label_area_size(name_width + 16)
            .build_cartesian_2d(0.0..1.0, 0.0..rows as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .bold_line_style(GRID_MAJOR)
            .light_line_style(GRID_MINOR)
            .max_light_lines(1)
            .x_labels(X_TICKS)
            .x_label_formatter(&x_ticks)
            .label_style(text(TICK_LABEL_SIZE))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(index, (_, value))| {
            let bottom = row_bottom(index);
            Rectangle::new(
                [(0.0, bottom + BAR_GAP), (*value, bottom + 1.0 - BAR_GAP)],
                series_color(0).filled(),
            )
        }))?;
        chart.draw_series(
            intervals
                .iter()
                .take(rows)
                .enumerate()
                .flat_map(|(i, &interval)| whisker(interval, row_bottom(i) + 0.5)),
        )?;
        // Names and values go on the whole canvas: the plotting area would clip them.
        let name_style = text(TICK_LABEL_SIZE).pos(Pos::new(HPos::Right, VPos::Center));
        let value_style = text(TICK_LABEL_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
        for (index, (name, (_, value))) in names.iter().zip(bars).enumerate() {
            let (axis_x, y) = chart.backend_coord(&(0.0, row_bottom(index) + 0.5));
            canvas.draw(&Text::new(name.as_str(), (axis_x - 8, y), name_style.clone()))?;
            // The value goes after the bar or its whisker, whichever ends later.
            let end = intervals.get(index).map_or(*value, |&(_, high)| high.max(*value));
            let (bar_end, _) = chart.backend_coord(&(end, row_bottom(index) + 0.5));
            canvas.draw(&Text::new(
                format!("{value:.2}"),
                (bar_end + 6, y),
                value_style.clone(),
            ))?;
        }
        Ok(())
    })
}

/// Bars and intervals that a chart can show: 1 to MAX_BARS bars, values and intervals in 0..=1.
fn check_bars<S: AsRef<str>>(
    path: &Path,
    bars: &[(S, f64)],
    intervals: &[(f64, f64)],
) -> Result<(), PlotError> {
    let invalid = |reason: String| PlotError::InvalidInput { path: path.to_path_buf(), reason };
    if let Some((low, high)) =
        intervals.iter().find(|(low, high)| !(0.0 <= *low && low <= high && *high <= 1.0))
    {
        return Err(invalid(format!("interval ({low}, {high}) is not within 0..=1")));
    }
    if bars.is_empty() {
        return Err(invalid("no bars".into()));
    }
    if bars.len() > MAX_BARS {
        return Err(invalid(format!(
            "{} bars, more than the {MAX_BARS} a chart can show",
            bars.len()
        )));
    }
    if let Some((name, value)) = bars.iter().find(|(_, value)| !(0.0..=1.0).contains(value)) {
        return Err(invalid(format!("bar {:?} has value {value}, outside 0..=1", name.as_ref())));
    }

    Ok(())
}

/// The interval `(low, high)` as a line across a bar's `middle`, with end caps.
fn whisker((low, high): (f64, f64), middle: f64) -> [PathElement<(f64, f64)>; 3] {
    let cap = (0.5 - BAR_GAP) * 0.6;
    let line = |points: [(f64, f64); 2]| PathElement::new(points, BLACK.stroke_width(2));
    [
        line([(low, middle), (high, middle)]),
        line([(low, middle - cap), (low, middle + cap)]),
        line([(high, middle - cap), (high, middle + cap)]),
    ]
}

fn text_width(canvas: &Canvas<'_>, text_line: &str) -> Result<u32, Box<dyn std::error::Error>> {
    Ok(canvas.estimate_text_size(text_line, &text(TICK_LABEL_SIZE))?.0)
}

/// `name`, shortened with "…" until it fits in [`MAX_NAME_WIDTH`].
fn fit_name(canvas: &Canvas<'_>, name: &str) -> Result<String, Box<dyn std::error::Error>> {
    if text_width(canvas, name)? <= MAX_NAME_WIDTH {
        return Ok(name.to_owned());
    }
    let mut kept: Vec<char> = name.chars().take(MAX_NAME_CHARS).collect();
    while !kept.is_empty() {
        kept.pop();
        let shortened = format!("{}…", kept.iter().collect::<String>().trim_end());
        if text_width(canvas, &shortened)? <= MAX_NAME_WIDTH {
            return Ok(shortened);
        }
    }
    Ok("…".to_owned())
}
