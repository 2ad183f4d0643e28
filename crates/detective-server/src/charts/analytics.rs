//! The analytics charts: the defect rate over time, bar charts of groups
//! (classes, cameras, lines, shifts) and the confidence histogram.

use detective_core::insights::{Bucket, Group, Point, Summary};
use plotters::prelude::*;

use super::{BLUE, ChartError, FONT, GRID, RED, TEAL, empty, err};

/// Label of a bucket start.
fn bucket_label(ms: i64, bucket: Bucket) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return String::new();
    };
    match bucket {
        Bucket::Hour => t.format("%m-%d %H:00").to_string(),
        Bucket::Day => t.format("%Y-%m-%d").to_string(),
        Bucket::Shift => format!("{} {}", t.format("%m-%d"), detective_core::insights::shift_of(ms)),
    }
}

/// The charts of a period, by the name `GET /api/analytics/charts/{chart}` takes.
pub const CHARTS: [&str; 6] = [
    "rate.svg",
    "classes.svg",
    "cameras.svg",
    "lines.svg",
    "shifts.svg",
    "confidence.svg",
];

/// Draws `chart` (one of [`CHARTS`]) of summary `s`; `band` shades the uncertain
/// confidences on the histogram. `None` for another name.
pub fn draw(chart: &str, s: &Summary, bucket: Bucket, band: (f32, f32)) -> Option<Result<String, ChartError>> {
    Some(match chart {
        "rate.svg" => rate_over_time(&s.series, bucket),
        "classes.svg" => bars(&s.by_class, false, "classes"),
        "cameras.svg" => bars(&s.by_camera, true, "cameras"),
        "lines.svg" => bars(&s.by_line, true, "lines"),
        "shifts.svg" => bars(&s.by_shift, true, "shifts"),
        "confidence.svg" => confidence_histogram(&s.confidence_histogram, band),
        _ => return None,
    })
}

/// Defect rate (%) per bucket as a line with markers; the bucket's count in the tooltip-free label axis.
pub fn rate_over_time(points: &[Point], bucket: Bucket) -> Result<String, ChartError> {
    super::svg((900, 320), |root| {
        if points.iter().all(|p| p.total == 0) {
            empty(root, "No predictions in this range: no defect rate to show.")?;
        } else {
            let top = points.iter().map(|p| p.rate * 100.0).fold(5.0f64, f64::max) * 1.15;
            let n = points.len().max(2);
            let labels: Vec<String> = points.iter().map(|p| bucket_label(p.start_ms, bucket)).collect();
            let mut chart = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..top)
                .map_err(err)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(GRID)
                .x_labels(8.min(n))
                .x_label_formatter(&|x| labels.get(x.round() as usize).cloned().unwrap_or_default())
                .y_desc("defect rate (%)")
                .y_label_formatter(&|y| format!("{y:.0}"))
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(err)?;
            let pts: Vec<(f64, f64)> = points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.total > 0)
                .map(|(i, p)| (i as f64, p.rate * 100.0))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), BLUE.stroke_width(2)))
                .map_err(err)?;
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, RED.filled())))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// Horizontal bars of groups: `value` of each (a rate in % when `percent`), the
/// group's count written after its bar.
pub fn bars(groups: &[Group], percent: bool, what: &str) -> Result<String, ChartError> {
    let shown: Vec<&Group> = groups.iter().take(12).collect();
    let height = 60 + 34 * shown.len().max(3) as u32;
    super::svg((600, height), |root| {
        if shown.is_empty() {
            empty(root, &format!("No predictions in this range: no {what} to show."))?;
        } else {
            let value = |g: &Group| if percent { g.rate * 100.0 } else { g.total as f64 };
            let top = shown
                .iter()
                .map(|g| value(g))
                .fold(if percent { 5.0 } else { 1.0 }, f64::max)
                * 1.25;
            let names: Vec<String> = shown.iter().map(|g| g.key.clone()).collect();
            let mut chart = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(130)
                .build_cartesian_2d(0f64..top, (0..shown.len()).into_segmented())
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(GRID)
                .x_desc(if percent { "defect rate (%)" } else { "predictions" })
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| match y {
                    SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(err)?;
            chart
                .draw_series(shown.iter().enumerate().map(|(i, g)| {
                    let v = value(g);
                    let mut bar = Rectangle::new(
                        [(0.0, SegmentValue::Exact(i)), (v, SegmentValue::Exact(i + 1))],
                        TEAL.filled(),
                    );
                    bar.set_margin(5, 5, 0, 0);
                    bar
                }))
                .map_err(err)?;
            chart
                .draw_series(shown.iter().enumerate().map(|(i, g)| {
                    let label = if percent {
                        format!("{:.1} % of {}", g.rate * 100.0, g.total)
                    } else {
                        format!("{}", g.total)
                    };
                    Text::new(
                        label,
                        (value(g) + top * 0.01, SegmentValue::CenterOf(i)),
                        (FONT, 12).into_font(),
                    )
                }))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// The histogram of the highest confidence per prediction (20 bins over 0..1),
/// the uncertain band shaded.
pub fn confidence_histogram(bins: &[u64], band: (f32, f32)) -> Result<String, ChartError> {
    super::svg((600, 300), |root| {
        if bins.iter().all(|&b| b == 0) {
            empty(root, "No predictions in this range: no detections to show.")?;
        } else {
            let top = (*bins.iter().max().unwrap_or(&1) as f64 * 1.2).max(1.0);
            let mut chart = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(50)
                .build_cartesian_2d(0f64..1f64, 0f64..top)
                .map_err(err)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(GRID)
                .x_desc("highest confidence of the prediction")
                .y_desc("predictions")
                .x_label_formatter(&|x| format!("{x:.1}"))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(band.0 as f64, 0.0), (band.1 as f64, top)],
                    RGBAColor(0xC9, 0x8A, 0x12, 0.12).filled(),
                )))
                .map_err(err)?
                .label("uncertain band")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], RGBAColor(0xC9, 0x8A, 0x12, 0.4).filled())
                });
            chart
                .draw_series(bins.iter().enumerate().map(|(i, &n)| {
                    let x0 = i as f64 / bins.len() as f64;
                    let mut r = Rectangle::new([(x0, 0.0), (x0 + 1.0 / bins.len() as f64, n as f64)], BLUE.filled());
                    r.set_margin(0, 0, 1, 1);
                    r
                }))
                .map_err(err)?;
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font((FONT, 12))
                .border_style(GRID)
                .background_style(WHITE)
                .draw()
                .map_err(err)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels_and_say_when_empty() {
        let g = vec![Group {
            key: "line1-cam2".into(),
            total: 40,
            defective: 10,
            rate: 0.25,
        }];
        let svg = bars(&g, true, "cameras").unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("line1-cam2") && svg.contains("25.0 % of 40"),
            "{svg}"
        );
        let pts = vec![
            Point {
                start_ms: 0,
                total: 10,
                defective: 1,
                rate: 0.1,
            },
            Point {
                start_ms: 3_600_000,
                total: 0,
                defective: 0,
                rate: 0.0,
            },
        ];
        let svg = rate_over_time(&pts, Bucket::Hour).unwrap();
        assert!(svg.contains("defect rate (%)") && svg.contains("01-01 00:00"), "{svg}");
        assert!(
            rate_over_time(&pts[1..], Bucket::Hour)
                .unwrap()
                .contains("No predictions")
        );
        let mut bins = vec![0u64; 20];
        bins[15] = 4;
        let svg = confidence_histogram(&bins, (0.4, 0.7)).unwrap();
        assert!(svg.contains("uncertain band"), "{svg}");
        assert!(bars(&[], false, "classes").unwrap().contains("no classes"));
    }
}
