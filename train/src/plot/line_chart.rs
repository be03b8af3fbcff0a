//! Line charts: precision-recall curves (fixed unit axes) and training curves (axes fitted
//! to the data). Both are the same chart with different axes and legend placement.

use std::ops::Range;
use std::path::Path;

use plotters::prelude::*;

use super::canvas::{
    render_png, series_color, text, tick_formatter, AXIS_LABEL_SIZE, GRID_MAJOR, GRID_MINOR,
    LEGEND_SIZE, MAX_TICKS, TICK_LABEL_SIZE, TITLE_SIZE,
};
use super::PlotError;

/// Pixel size `(width, height)` of every line chart.
pub const LINE_CHART_SIZE: (u32, u32) = (1000, 700);

/// Share of the data's span added above and below it on fitted axes, so the curves do
/// not touch the frame.
const AXIS_PADDING: f64 = 0.05;

/// Plots precision-recall curves, one per `(label, points)` where points are
/// `(recall, precision)` in order of decreasing threshold, as
/// [`crate::metrics::precision_recall_curve`] returns them. Each curve is drawn as the step
/// function average precision integrates (precision `P_n` over recall `(R_{n-1}, R_n]`), so
/// the area under it is the AP. Unit axes, legend bottom-left. Non-finite points are
/// skipped; it is an error if no curve has a finite point.
pub fn plot_pr_curves<S: AsRef<str>>(
    path: impl AsRef<Path>,
    title: &str,
    curves: &[(S, Vec<(f64, f64)>)],
) -> Result<(), PlotError> {
    let path = path.as_ref();
    let series: Vec<_> = finite_series(path, curves)?
        .into_iter()
        .map(|(label, points)| (label, pr_steps(&points)))
        .collect();
    let chart = LineChart {
        title,
        x_label: "Recall",
        y_label: "Precision",
        x_range: 0.0..1.0,
        // A little headroom so a curve at precision 1 stays visible above the frame.
        y_range: 0.0..1.02,
        legend: SeriesLabelPosition::LowerLeft,
    };
    chart.render(path, &series)
}

/// Plots `(label, points)` series of `(x, y)` points (e.g. loss against step), with axes
/// fitted to the data and the legend top-right. Non-finite points (a diverged loss) are
/// skipped; it is an error if no series has a finite point.
pub fn plot_lines<S: AsRef<str>>(
    path: impl AsRef<Path>,
    title: &str,
    series: &[(S, Vec<(f64, f64)>)],
    x_label: &str,
    y_label: &str,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    let series = finite_series(path, series)?;
    let points = || series.iter().flat_map(|(_, points)| points.iter());
    let fitted = |axis: &str, values: Vec<f64>, padding: f64| {
        padded_range(&values, padding).ok_or_else(|| PlotError::InvalidInput {
            path: path.to_path_buf(),
            reason: format!("the {axis} values span too wide a range to draw"),
        })
    };
    let chart = LineChart {
        title,
        x_label,
        y_label,
        x_range: fitted("x", points().map(|p| p.0).collect(), 0.0)?,
        y_range: fitted("y", points().map(|p| p.1).collect(), AXIS_PADDING)?,
        legend: SeriesLabelPosition::UpperRight,
    };
    chart.render(path, &series)
}

/// One labelled line, points in drawing order.
type Series<'a> = (&'a str, Vec<(f64, f64)>);

struct LineChart<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x_range: Range<f64>,
    y_range: Range<f64>,
    legend: SeriesLabelPosition,
}

impl LineChart<'_> {
    fn render(self, path: &Path, series: &[Series<'_>]) -> Result<(), PlotError> {
        let x_ticks = tick_formatter(&self.x_range, MAX_TICKS);
        let y_ticks = tick_formatter(&self.y_range, MAX_TICKS);
        render_png(path, LINE_CHART_SIZE, |canvas| {
            let mut chart = ChartBuilder::on(canvas)
                .caption(self.title, text(TITLE_SIZE))
                .margin(24)
                .x_label_area_size(64)
                .y_label_area_size(90)
                .build_cartesian_2d(self.x_range, self.y_range)?;
            chart
                .configure_mesh()
                .x_desc(self.x_label)
                .y_desc(self.y_label)
                .axis_desc_style(text(AXIS_LABEL_SIZE))
                .label_style(text(TICK_LABEL_SIZE))
                .x_labels(MAX_TICKS)
                .y_labels(MAX_TICKS)
                .x_label_formatter(&x_ticks)
                .y_label_formatter(&y_ticks)
                .bold_line_style(GRID_MAJOR)
                .light_line_style(GRID_MINOR)
                .max_light_lines(1)
                .draw()?;
            for (index, (label, points)) in series.iter().enumerate() {
                let color = series_color(index);
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                    .label(*label)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3))
                    });
            }
            chart
                .configure_series_labels()
                .position(self.legend)
                .margin(12)
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(160, 160, 160))
                .label_font(text(LEGEND_SIZE))
                .draw()?;
            Ok(())
        })
    }
}

/// The series with non-finite points removed; an error if nothing is left to draw.
fn finite_series<'a, S: AsRef<str>>(
    path: &Path,
    series: &'a [(S, Vec<(f64, f64)>)],
) -> Result<Vec<Series<'a>>, PlotError> {
    let finite: Vec<Series<'_>> = series
        .iter()
        .map(|(label, points)| {
            (
                label.as_ref(),
                points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect(),
            )
        })
        .collect();
    if finite.iter().all(|(_, points)| points.is_empty()) {
        return Err(PlotError::InvalidInput {
            path: path.to_path_buf(),
            reason: "no series has a finite point".into(),
        });
    }
    Ok(finite)
}

/// The step path through PR points: each precision held from the previous recall (0 at
/// first) to its own. A point at the previous point's recall spans no recall, adds nothing
/// to AP, and would only retrace a vertical edge, so it is left out.
fn pr_steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut steps = Vec::with_capacity(points.len() * 2);
    let mut previous_recall = 0.0;
    for &(recall, precision) in points {
        if recall != previous_recall {
            steps.extend([(previous_recall, precision), (recall, precision)]);
            previous_recall = recall;
        }
    }
    steps
}

/// The range spanned by `values` (finite, at least one), widened by `padding` times its
/// span on each side; a single value gets a unit-wide range around it. `None` if the range
/// overflows `f64` (plotting it would never finish).
fn padded_range(values: &[f64], padding: f64) -> Option<Range<f64>> {
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let span = max - min;
    let range = if span > 0.0 {
        (min - span * padding)..(max + span * padding)
    } else {
        (min - 0.5)..(max + 0.5)
    };
    (range.end - range.start).is_finite().then_some(range)
}
