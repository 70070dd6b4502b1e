//! The report page's curves: line charts as SVG, drawn with `plotters` (no JavaScript needed to
//! show them, and the page holds them inline, so it links no file of its own making).

use plotters::prelude::*;

use crate::error::{Error, Result};

/// One line of a chart: its name (in the legend) and its points (iteration, value).
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<(f64, f64)>,
}

/// Colours of the series, in order (Tableau 10: distinguishable, also in grey print).
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Width and height of a chart, in pixels.
pub(crate) const SIZE: (u32, u32) = (420, 260);

/// A line chart of `series` titled `title`, as an SVG document. Points that are not finite
/// are left out; a chart without any point is an empty frame.
pub(crate) fn line_chart(title: &str, series: &[Series]) -> Result<String> {
    let finite = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied().filter(finite))
        .collect();
    let (x_lo, x_hi) = span(all.iter().map(|p| p.0), 0.0);
    let (y_lo, y_hi) = span(all.iter().map(|p| p.1), 0.05);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let fail = |e: DrawingAreaErrorKind<std::io::Error>| Error::Report {
            what: title.to_string(),
            source: Box::new(e),
        };
        root.fill(&WHITE).map_err(fail)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(52)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(fail)?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .x_labels(5)
            .y_labels(5)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| tick(*y, y_hi - y_lo))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(fail)?;
        for (i, s) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let points = thin(s.points.iter().copied().filter(finite).collect());
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(fail)?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(fail)?;
        }
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// At most this many points of a series are drawn: a long run's page stays small (a chart is
/// 420 pixels wide) and quick to rewrite at every sample grid.
const MAX_POINTS: usize = 1000;

/// `points` with every k-th kept, so that at most [`MAX_POINTS`] remain; the last is kept.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let step = points.len().div_ceil(MAX_POINTS - 1);
    let last = points[points.len() - 1];
    let mut kept: Vec<(f64, f64)> = points.into_iter().step_by(step).collect();
    if kept.last() != Some(&last) {
        kept.push(last);
    }
    kept
}

/// The range `values` cover, widened by `margin` of its length on each side; never empty.
fn span(values: impl Iterator<Item = f64>, margin: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(f64::MIN_POSITIVE) {
        // A constant: a band around it (the learning rate, 2e-4, must not read as 0).
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * margin;
    (lo - pad, hi + pad)
}

/// An axis label for `y` on an axis spanning `range`: plain decimals with the digits the span
/// needs, or scientific notation for very small or large values.
fn tick(y: f64, range: f64) -> String {
    let magnitude = y.abs().max(range.abs());
    if magnitude != 0.0 && !(1e-2..1e5).contains(&magnitude) {
        return format!("{y:.2e}");
    }
    let digits = (1.0 - range.abs().log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{y:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_each_series_and_names_it() {
        let series = [
            Series {
                name: "a2b".into(),
                points: vec![(0.0, 1.0), (10.0, 0.5), (20.0, f64::NAN), (30.0, 0.25)],
            },
            Series {
                name: "b2a".into(),
                points: vec![(0.0, 0.8), (30.0, 0.4)],
            },
        ];
        let svg = line_chart("held-out L1", &series).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("held-out L1") && svg.contains("a2b") && svg.contains("b2a"));
        // One thick polyline per series, in its colour (the legend's are thin), through its
        // finite points only.
        for (colour, points) in [("#1F77B4", 3), ("#FF7F0E", 2)] {
            let marker = format!("stroke=\"{colour}\" stroke-width=\"2\" points=\"");
            assert_eq!(svg.matches(&marker).count(), 1, "{colour}: {svg}");
            let rest = &svg[svg.find(&marker).unwrap() + marker.len()..];
            let drawn = rest[..rest.find('"').unwrap()].split_whitespace().count();
            assert_eq!(drawn, points, "{colour}");
        }
    }

    #[test]
    fn ticks_show_the_digits_the_axis_needs() {
        assert_eq!(tick(2e-4, 4e-5), "2.00e-4");
        assert_eq!(tick(0.65, 0.1), "0.65");
        assert_eq!(tick(0.225, 0.02), "0.225");
        assert_eq!(tick(12.0, 3.0), "12.0");
        assert_eq!(tick(1500.0, 1000.0), "1500");
    }

    #[test]
    fn long_series_are_thinned_to_the_limit_keeping_the_ends() {
        let points: Vec<(f64, f64)> = (0..5000).map(|i| (i as f64, 1.0)).collect();
        let thinned = thin(points);
        assert!(thinned.len() <= MAX_POINTS, "{}", thinned.len());
        assert_eq!(thinned[0].0, 0.0);
        assert_eq!(thinned[thinned.len() - 1].0, 4999.0);
        let short: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 1.0)).collect();
        assert_eq!(thin(short.clone()), short);
    }

    #[test]
    fn spans_are_never_empty() {
        assert_eq!(span([].into_iter(), 0.1), (0.0, 1.0));
        let (lo, hi) = span([2e-4].into_iter(), 0.1);
        assert!(lo < 2e-4 && hi > 2e-4 && lo > 1e-4, "{lo} {hi}");
        assert_eq!(span([0.0].into_iter(), 0.1), (-1.0, 1.0));
        let (lo, hi) = span([0.0, 10.0].into_iter(), 0.1);
        assert!((lo + 1.0).abs() < 1e-12 && (hi - 11.0).abs() < 1e-12);
    }
}
