//! Charts are real PNGs of the documented size, with the data actually drawn on them.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use guardtune::metrics::{precision_recall_curve, Prediction};
use guardtune::plot::{
    bar_chart_size, plot_bars, plot_lines, plot_pr_curves, PlotError, LINE_CHART_SIZE,
};
use guardtune_data::taxonomy::CATEGORIES;

/// Where the charts go; they are kept after the run so they can be looked at.
fn output(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plot");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = fs::remove_file(&path);
    path
}

struct Image {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

fn decode(path: &Path) -> Image {
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight));
    let rgb = buffer[..info.buffer_size()].chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    Image { width: info.width, height: info.height, rgb }
}

impl Image {
    fn count(&self, color: [u8; 3]) -> usize {
        self.rgb.iter().filter(|&&p| p == color).count()
    }

    fn distinct_colors(&self) -> usize {
        self.rgb.iter().collect::<HashSet<_>>().len()
    }
}

// The first two colours of the charts' palette (Tableau 10).
const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [255, 127, 14];

/// Aegis 2.0's hazard categories: long names, the real use of the bar chart. The last one is
/// made overlong, so that it must be shortened.
fn aegis_categories() -> Vec<String> {
    let mut names = CATEGORIES.map(String::from).to_vec();
    names[22] += " and a deliberately overlong category name that must be shortened";
    names
}

#[test]
fn pr_curves_chart() {
    let path = output("pr_curves.png");
    // A measured curve, straight from the metrics module.
    let predictions: Vec<Prediction> = (0..200)
        .map(|i| {
            let label = i % 3 == 0;
            let noise = ((i * 37) % 100) as f64 / 100.0;
            let score = if label { 0.35 + 0.65 * noise } else { 0.6 * noise };
            Prediction { label, predicted: Some(score >= 0.5), score: Some(score) }
        })
        .collect();
    let measured = precision_recall_curve(&predictions).unwrap();
    let measured: Vec<(f64, f64)> = measured.iter().map(|p| (p.recall, p.precision)).collect();
    // And an analytic one with a NaN point, which is skipped.
    let mut smooth: Vec<(f64, f64)> =
        (0..=50).map(|i| i as f64 / 50.0).map(|r| (r, 1.0 - 0.6 * r * r)).collect();
    smooth[10].1 = f64::NAN;
    plot_pr_curves(
        &path,
        "Aegis 2.0 test set: precision-recall",
        &[("LoRA guard", measured), ("Llama-3.1-8B base, zero-shot", smooth)],
    )
    .unwrap();

    let image = decode(&path);
    assert_eq!((image.width, image.height), LINE_CHART_SIZE);
    assert!(image.distinct_colors() > 20, "{} colours", image.distinct_colors());
    for color in [BLUE, ORANGE] {
        let pixels = image.count(color);
        assert!(pixels > 300, "series colour {color:?} drawn on {pixels} pixels");
    }
}

#[test]
fn loss_curves_chart() {
    let path = output("loss_curves.png");
    let train: Vec<(f64, f64)> = (0..400)
        .map(|s| {
            (s as f64, 2.4 * (-(s as f64) / 90.0).exp() + 0.35 + 0.04 * ((s * 7) as f64).sin())
        })
        .collect();
    let mut eval: Vec<(f64, f64)> = (0..=8)
        .map(|e| ((e * 50) as f64, 2.5 * (-((e * 50) as f64) / 110.0).exp() + 0.45))
        .collect();
    eval.push((420.0, f64::INFINITY));
    plot_lines(
        &path,
        "Training loss",
        &[("train/loss", train), ("eval/loss", eval)],
        "Step",
        "Cross-entropy loss",
    )
    .unwrap();

    let image = decode(&path);
    assert_eq!((image.width, image.height), LINE_CHART_SIZE);
    assert!(image.count(BLUE) > 500 && image.count(ORANGE) > 300);
}

#[test]
fn learning_rate_chart() {
    // Warm-up then cosine decay peaking at 2e-4: tick labels need scientific notation.
    let path = output("learning_rate.png");
    let schedule: Vec<(f64, f64)> = (0..=1000)
        .map(|step| {
            let step = step as f64;
            let lr = if step < 100.0 {
                2e-4 * step / 100.0
            } else {
                1e-4 * (1.0 + (std::f64::consts::PI * (step - 100.0) / 900.0).cos())
            };
            (step, lr)
        })
        .collect();
    plot_lines(&path, "Learning rate", &[("lr", schedule)], "Step", "Learning rate").unwrap();
    let image = decode(&path);
    assert_eq!((image.width, image.height), LINE_CHART_SIZE);
    assert!(image.count(BLUE) > 1000);
}

#[test]
fn single_point_series_still_gets_axes() {
    let path = output("single_point.png");
    plot_lines(&path, "One point", &[("only", vec![(3.0, 0.5)])], "x", "y").unwrap();
    let image = decode(&path);
    assert_eq!((image.width, image.height), LINE_CHART_SIZE);
    assert!(image.distinct_colors() > 10);
}

#[test]
fn category_bars_chart_with_23_long_names() {
    let path = output("category_f1.png");
    let categories = aegis_categories();
    let bars: Vec<(&str, f64)> = categories
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), [0.91, 0.0, 1.0, 0.47, 0.735][i % 5]))
        .collect();
    plot_bars(&path, "Per-category F1 (one-vs-rest)", &bars).unwrap();

    let image = decode(&path);
    assert_eq!((image.width, image.height), bar_chart_size(23));
    assert!(bar_chart_size(23).1 > bar_chart_size(5).1, "rows must grow with the number of bars");
    // Bars top to bottom in input order, zero-valued ones invisible, lengths proportional
    // to the values (measured against a full-length bar).
    let expected: Vec<f64> =
        bars.iter().map(|&(_, value)| value).filter(|&value| value > 0.0).collect();
    let lengths = bar_lengths(&image, BLUE);
    assert_eq!(lengths.len(), expected.len(), "bar lengths {lengths:?}");
    let full = lengths[expected.iter().position(|&v| v == 1.0).unwrap()] as f64;
    for (length, value) in lengths.iter().zip(&expected) {
        assert!(
            (*length as f64 / full - value).abs() < 0.01,
            "bar of {value} is {length} px, full is {full} px"
        );
    }
}

/// Length in pixels of each horizontal band of `color`, top to bottom, measured on the
/// band's middle row.
fn bar_lengths(image: &Image, color: [u8; 3]) -> Vec<usize> {
    let row_count = |y: u32| {
        let start = (y * image.width) as usize;
        image.rgb[start..start + image.width as usize].iter().filter(|&&p| p == color).count()
    };
    let mut bands = Vec::new();
    let mut band_start = None;
    for y in 0..=image.height {
        match (band_start, y < image.height && row_count(y) > 0) {
            (None, true) => band_start = Some(y),
            (Some(start), false) => {
                bands.push(row_count((start + y - 1) / 2));
                band_start = None;
            }
            _ => {}
        }
    }
    bands
}

#[test]
fn unplottable_input_is_an_error_not_a_panic() {
    let path = output("never_written.png");
    let no_points: [(&str, Vec<(f64, f64)>); 2] = [("a", vec![]), ("b", vec![(f64::NAN, 1.0)])];
    for result in [
        plot_pr_curves(&path, "t", &no_points),
        plot_lines(&path, "t", &no_points, "x", "y"),
        plot_lines::<&str>(&path, "t", &[], "x", "y"),
        plot_bars::<&str>(&path, "t", &[]),
        plot_bars(&path, "t", &[("ok", 0.5), ("Violence", f64::NAN)]),
        plot_bars(&path, "t", &[("too big", 1.5)]),
        plot_bars(&path, "t", &vec![("one of many", 0.5); 501]),
    ] {
        match result {
            Err(error @ PlotError::InvalidInput { .. }) => {
                assert!(
                    error.to_string().starts_with(&format!("{}: cannot plot: ", path.display())),
                    "{error}"
                )
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }
    assert!(!path.exists());
    // Ranges wider than f64 can hold would make plotters loop forever or panic.
    let overflowing = [("huge", vec![(0.0, -1e308), (1.0, 1e308)])];
    let message = plot_lines(&path, "t", &overflowing, "x", "y").unwrap_err().to_string();
    assert!(message.ends_with("the y values span too wide a range to draw"), "{message}");
    let overflowing = [("huge", vec![(-f64::MAX, 0.0), (f64::MAX, 1.0)])];
    assert!(matches!(
        plot_lines(&path, "t", &overflowing, "x", "y"),
        Err(PlotError::InvalidInput { .. })
    ));
    let message = plot_bars(&path, "t", &[("Violence", f64::NAN)]).unwrap_err().to_string();
    assert!(message.ends_with("bar \"Violence\" has value NaN, outside 0..=1"), "{message}");
}

#[test]
fn unwritable_path_is_an_io_error_naming_it() {
    let path = output("missing-dir").join("chart.png");
    match plot_bars(&path, "t", &[("a", 0.5)]) {
        Err(error @ PlotError::Io { .. }) => {
            assert!(error.to_string().contains(&path.display().to_string()), "{error}")
        }
        other => panic!("expected Io, got {other:?}"),
    }
}
