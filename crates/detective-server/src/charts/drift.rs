//! The drift page's charts: the drift share of every check over time against its
//! threshold (`share.svg`, a red marker where the check found dataset drift), and
//! one feature's reference (blue) vs current (teal) histogram from the latest
//! report (`{feature}.svg`).

use plotters::prelude::*;
use serde_json::Value;

use super::{BLUE, ChartError, FONT, GRID, RED, TEAL, empty, err};

/// The drift share of each check in `history` (newest first, as the store
/// lists it), oldest on the left; `threshold` as a dashed-looking red line.
pub fn share_history(history: &[Value], threshold: f64) -> Result<String, ChartError> {
    super::svg((720, 220), |root| {
        let points: Vec<(f64, bool, &str)> = history
            .iter()
            .rev()
            .filter_map(|h| {
                let share = h.get("drift_share")?.as_f64()?;
                let drift = h.get("dataset_drift").and_then(Value::as_bool).unwrap_or(false);
                let at = h.get("created_at").and_then(Value::as_str).unwrap_or("");
                Some((share, drift, at))
            })
            .collect();
        if points.is_empty() {
            return empty(root, "No drift check has run yet.");
        }
        let n = points.len();
        let (x0, x1) = if n == 1 { (-1.0, 1.0) } else { (0.0, (n - 1) as f64) };
        let day = |at: &str| at.get(..16).unwrap_or(at).replace('T', " ");
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(x0..x1, 0f64..1.05)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_labels(n.min(6))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                points.get(i as usize).map(|p| day(p.2)).unwrap_or_default()
            })
            .y_desc("drift share")
            .y_label_formatter(&|y| format!("{y:.1}"))
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 12))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(x0, threshold), (x1, threshold)],
                RED.mix(0.6).stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("threshold {threshold}"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RED.mix(0.6).stroke_width(1)));
        let x = |i: usize| if n == 1 { 0.0 } else { i as f64 };
        chart
            .draw_series(LineSeries::new(
                points.iter().enumerate().map(|(i, p)| (x(i), p.0)),
                BLUE.stroke_width(2),
            ))
            .map_err(err)?;
        chart
            .draw_series(
                points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Circle::new((x(i), p.0), 4, if p.1 { RED.filled() } else { TEAL.filled() })),
            )
            .map_err(err)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 11))
            .border_style(GRID)
            .background_style(WHITE.mix(0.9))
            .draw()
            .map_err(err)
    })
}

/// Feature `name`'s histograms in `report_features` (the report's `features`
/// object: `{histogram: {edges, reference, current}}` per feature), as pairs of
/// bars per bin; `None` when the report has no histogram for it.
pub fn feature_histogram(report_features: &Value, name: &str) -> Option<Result<String, ChartError>> {
    let h = report_features.get(name)?.get("histogram")?;
    let numbers = |k: &str| -> Option<Vec<f64>> { h.get(k)?.as_array()?.iter().map(Value::as_f64).collect() };
    let (edges, reference, current) = (numbers("edges")?, numbers("reference")?, numbers("current")?);
    if reference.is_empty() || reference.len() != current.len() || edges.len() < 2 {
        return None;
    }
    Some(super::svg((300, 140), |root| {
        let bins = reference.len();
        let top = reference.iter().chain(&current).fold(0.01f64, |a, &b| a.max(b)) * 1.1;
        let (lo, hi) = (edges[0], edges[edges.len() - 1]);
        let mut chart = ChartBuilder::on(root)
            .margin(6)
            .x_label_area_size(20)
            .build_cartesian_2d(0f64..bins as f64, 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_y_axis()
            .x_labels(2)
            .x_label_formatter(&|x| match x {
                x if *x <= 0.0 => format!("{lo:.2}"),
                x if *x >= bins as f64 => format!("{hi:.2}"),
                _ => String::new(),
            })
            .label_style((FONT, 10))
            .draw()
            .map_err(err)?;
        for (k, (values, color)) in [(&reference, BLUE.mix(0.75)), (&current, TEAL.mix(0.9))]
            .into_iter()
            .enumerate()
        {
            chart
                .draw_series(values.iter().enumerate().map(|(i, &v)| {
                    let x = i as f64 + k as f64 * 0.5;
                    let mut bar = Rectangle::new([(x, 0.0), (x + 0.5, v)], color.filled());
                    bar.set_margin(0, 0, 0, 1);
                    bar
                }))
                .map_err(err)?;
        }
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_check_is_a_marker_drifted_ones_red_and_none_says_so() {
        let history = vec![
            json!({"created_at": "2026-12-06T10:00:00Z", "drift_share": 0.6, "dataset_drift": true}),
            json!({"created_at": "2026-12-06T09:00:00Z", "drift_share": 0.1, "dataset_drift": false}),
        ];
        let svg = share_history(&history, 0.5).unwrap();
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        assert!(
            svg.contains("threshold 0.5") && svg.contains("2026-12-06 09:00"),
            "{svg}"
        );
        assert!(svg.contains("#E0252B"), "the drifted check is red: {svg}");
        let none = share_history(&[], 0.5).unwrap();
        assert!(none.contains("No drift check has run yet.") && !none.contains("<circle"));
    }

    #[test]
    fn a_feature_histogram_has_a_bar_pair_per_bin_and_its_range() {
        let features = json!({"brightness": {"histogram": {"edges": [0.0, 0.5, 1.0], "reference": [0.7, 0.3], "current": [0.2, 0.8]}}});
        let svg = feature_histogram(&features, "brightness").unwrap().unwrap();
        assert_eq!(svg.matches("<rect").count(), 1 + 4, "background and four bars: {svg}");
        assert!(svg.contains("0.00") && svg.contains("1.00"), "{svg}");
        assert!(feature_histogram(&features, "contrast").is_none());
        let bad = json!({"x": {"histogram": {"edges": [0.0], "reference": [1.0], "current": []}}});
        assert!(feature_histogram(&bad, "x").is_none());
    }
}
