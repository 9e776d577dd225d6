//! Draws a run's plots as SVG and PNG with `plotters`: medians as lines or bars, min–max as
//! error bars.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{BenchError, Plot, PlotKind};

const SIZE: (u32, u32) = (960, 560);

/// TrueType fonts tried for the plots' text, in order (Debian's `fonts-dejavu-core` first).
const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers the first font found as plotters' `sans-serif`, once per process.
fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = FONTS.iter().find_map(|path| std::fs::read(path).ok()).ok_or_else(|| {
                format!(
                    "no TrueType font for the plots' text (looked for {}); install fonts-dejavu-core",
                    FONTS.join(", ")
                )
            })?;
            plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
                .map_err(|_| "the font found is not a valid TrueType font".to_string())
        })
        .clone()
}

/// Writes `plot` as `<name>.svg` and `<name>.png` in `dir`; returns the files written.
pub fn draw(plot: &Plot, dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let svg = dir.join(format!("{}.svg", plot.name));
    let png = dir.join(format!("{}.png", plot.name));
    let failed = |path: &Path, message: String| BenchError::Plot { path: path.to_path_buf(), message };
    ensure_font().map_err(|m| failed(&svg, m))?;
    draw_on(SVGBackend::new(&svg, SIZE).into_drawing_area(), plot).map_err(|e| failed(&svg, e.to_string()))?;
    draw_on(BitMapBackend::new(&png, SIZE).into_drawing_area(), plot).map_err(|e| failed(&png, e.to_string()))?;
    Ok(vec![svg, png])
}

fn draw_on<DB: DrawingBackend>(area: DrawingArea<DB, Shift>, plot: &Plot) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let points = || plot.series.iter().flat_map(|s| s.points.iter());
    let y_max = points().map(|(_, s)| s.max).filter(|v| v.is_finite()).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let (x_range, categories) = match &plot.kind {
        PlotKind::Lines => {
            let lo = points().map(|(x, _)| *x).fold(f64::INFINITY, f64::min);
            let hi = points().map(|(x, _)| *x).fold(f64::NEG_INFINITY, f64::max);
            let pad = ((hi - lo) * 0.05).max(0.5);
            ((lo - pad)..(hi + pad), None)
        }
        PlotKind::Bars { categories } => (-0.5..(categories.len() as f64 - 0.5), Some(categories)),
    };
    let mut chart = ChartBuilder::on(&area)
        .caption(&plot.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(if categories.is_some() { 70 } else { 44 })
        .y_label_area_size(84)
        .build_cartesian_2d(x_range, 0.0..y_max * 1.12)?;
    let label_of = |x: &f64| match categories {
        Some(names) if (x - x.round()).abs() < 1e-6 && *x >= 0.0 => names.get(*x as usize).cloned().unwrap_or_default(),
        Some(_) => String::new(),
        None => format!("{x}"),
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(&plot.x_label).y_desc(&plot.y_label).x_label_formatter(&label_of).label_style(("sans-serif", 13));
    if let Some(names) = categories {
        mesh.x_labels(names.len() * 2 + 1).disable_x_mesh();
    }
    mesh.draw()?;

    let width = 0.8 / plot.series.len().max(1) as f64;
    for (i, series) in plot.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let drawn = match categories {
            None => chart.draw_series(LineSeries::new(series.points.iter().map(|(x, s)| (*x, s.median)), color))?,
            Some(_) => chart.draw_series(series.points.iter().map(|(x, s)| {
                let left = x - 0.4 + i as f64 * width;
                Rectangle::new([(left, 0.0), (left + width, s.median)], color.filled())
            }))?,
        };
        drawn
            .label(series.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        let centre = |x: f64| if categories.is_some() { x - 0.4 + (i as f64 + 0.5) * width } else { x };
        chart.draw_series(
            series
                .points
                .iter()
                .filter(|(_, s)| s.samples > 1)
                .map(|(x, s)| ErrorBar::new_vertical(centre(*x), s.min, s.median, s.max, BLACK.stroke_width(1), 6)),
        )?;
    }
    chart
        .configure_series_labels()
        // Bars tend to be tallest on the left (the first category is the headline operation).
        .position(if categories.is_some() { SeriesLabelPosition::UpperRight } else { SeriesLabelPosition::UpperLeft })
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    area.present()?;
    Ok(())
}
