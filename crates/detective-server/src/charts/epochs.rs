//! A training job's curves per epoch, from its `history` (one row per finished
//! epoch): the training losses (`loss.svg`: a detector's box, cls and dfl; a
//! segmenter's BCE and soft Dice) and the validation scores (`map.svg`: a
//! detector's mAP50 and mAP50-95; a segmenter's Dice per image, over pixels and
//! the best threshold's fitness). Each epoch's value is a marker on its series' line.

use detective_core::Task;
use plotters::prelude::*;
use serde_json::Value;

use super::{BLUE, ChartError, FONT, GRID, RED, TEAL, empty, err};

/// The charts of a job, by the name its route takes.
pub const CHARTS: [&str; 2] = ["loss.svg", "map.svg"];

/// One line of a chart: its legend name, colour and the value of each epoch
/// (`None` where the row has none).
struct Curve {
    name: &'static str,
    color: RGBColor,
    values: Vec<Option<f64>>,
}

/// The number at `path` (keys, outer first) of each history row.
fn column(history: &[Value], path: &[&str]) -> Vec<Option<f64>> {
    history
        .iter()
        .map(|row| {
            path.iter()
                .try_fold(row, |v, k| v.get(k))
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite())
        })
        .collect()
}

/// Draws `chart` (one of [`CHARTS`]) of the `history` of a job of `task`;
/// `None` for another name.
pub fn draw(chart: &str, task: Task, history: &[Value]) -> Option<Result<String, ChartError>> {
    // Each curve: its legend name, colour and where its value sits in a row.
    type Spec = (&'static str, RGBColor, &'static [&'static str]);
    let (specs, y_desc): (&[Spec], &str) = match (chart, task) {
        ("loss.svg", Task::Segment | Task::Anomaly) => (
            &[("BCE", BLUE, &["train", "bce"]), ("soft Dice", RED, &["train", "dice"])],
            "loss",
        ),
        ("map.svg", Task::Anomaly) => (
            &[
                ("image AUROC", BLUE, &["image_auroc"]),
                ("pixel AUROC", RED, &["pixel_auroc"]),
            ],
            "validation",
        ),
        ("map.svg", Task::Segment) => (
            &[
                ("Dice per image", TEAL, &["dice"]),
                ("Dice over pixels", BLUE, &["dice_pixels"]),
                ("fitness", RED, &["best_fitness"]),
            ],
            "validation",
        ),
        ("loss.svg", _) => (
            &[
                ("box", BLUE, &["train", "box_loss"]),
                ("cls", TEAL, &["train", "cls_loss"]),
                ("dfl", RED, &["train", "dfl_loss"]),
            ],
            "loss",
        ),
        ("map.svg", _) => (&[("mAP50", TEAL, &["map50"]), ("mAP50-95", BLUE, &["map50_95"])], "mAP"),
        _ => return None,
    };
    let curves: Vec<Curve> = specs
        .iter()
        .map(|&(name, color, path)| Curve {
            name,
            color,
            values: column(history, path),
        })
        .collect();
    Some(curves_svg(&curves, y_desc))
}

/// The curves over epochs 1..n with a legend; a message while no epoch has ended.
fn curves_svg(curves: &[Curve], y_desc: &str) -> Result<String, ChartError> {
    super::svg((480, 240), |root| {
        let n = curves.iter().map(|c| c.values.len()).max().unwrap_or(0);
        let top = curves
            .iter()
            .flat_map(|c| c.values.iter().flatten())
            .fold(0f64, |a, &b| a.max(b));
        if n == 0 {
            return empty(root, "No epoch has finished yet.");
        }
        let top = if top > 0.0 { top * 1.1 } else { 1.0 };
        // epochs 1..=n with room for the first and last markers
        let (x0, x1) = (0.6, n as f64 + 0.4);
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(48)
            .build_cartesian_2d(x0..x1, 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_labels(n.min(10))
            .x_desc(format!("epoch (1–{n})"))
            .y_desc(y_desc)
            .x_label_formatter(&|x| {
                let e = x.round();
                if (x - e).abs() < 1e-6 && e >= 1.0 {
                    format!("{e:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.2}"))
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 12))
            .draw()
            .map_err(err)?;
        for c in curves {
            let x = |i: usize| i as f64 + 1.0;
            let pts: Vec<(f64, f64)> = c
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (x(i), v)))
                .collect();
            let color = c.color;
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(c.name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 11))
            .border_style(GRID)
            .background_style(WHITE.mix(0.9))
            .draw()
            .map_err(err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn circles(svg: &str) -> usize {
        svg.matches("<circle").count()
    }

    #[test]
    fn every_epoch_of_every_series_is_a_marker_and_names_are_in_the_legend() {
        let history = vec![
            json!({"epoch": 1, "train": {"box_loss": 2.5, "cls_loss": 3.0, "dfl_loss": 1.5}, "map50": 0.1, "map50_95": 0.05}),
            json!({"epoch": 2, "train": {"box_loss": 2.0, "cls_loss": 2.0, "dfl_loss": 1.2}, "map50": 0.3, "map50_95": null}),
        ];
        let loss = draw("loss.svg", Task::Detect, &history).unwrap().unwrap();
        assert_eq!(circles(&loss), 6, "{loss}");
        // plotters writes each text on a line of its own
        assert!(
            loss.contains("\nbox\n") && loss.contains("\ndfl\n") && loss.contains("epoch (1–2)"),
            "{loss}"
        );
        // a missing value is no marker
        let map = draw("map.svg", Task::Detect, &history).unwrap().unwrap();
        assert_eq!(circles(&map), 3, "{map}");
        assert!(map.contains("mAP50-95"), "{map}");
    }

    #[test]
    fn a_segment_job_draws_its_two_losses_and_its_dice() {
        let history = vec![
            json!({"epoch": 1, "train": {"bce": 0.4, "dice": 0.9}, "dice": 0.5, "dice_pixels": 0.1, "best_fitness": 0.2}),
            json!({"epoch": 2, "train": {"bce": 0.2, "dice": 0.7}, "dice": 0.6, "dice_pixels": 0.3, "best_fitness": 0.4}),
        ];
        let loss = draw("loss.svg", Task::Segment, &history).unwrap().unwrap();
        assert_eq!(circles(&loss), 4, "{loss}");
        assert!(loss.contains("\nBCE\n") && loss.contains("\nsoft Dice\n"), "{loss}");
        let dice = draw("map.svg", Task::Segment, &history).unwrap().unwrap();
        assert_eq!(circles(&dice), 6, "{dice}");
        assert!(dice.contains("Dice over pixels"), "{dice}");
    }

    #[test]
    fn a_job_without_epochs_says_so_and_unknown_charts_are_none() {
        let svg = draw("loss.svg", Task::Detect, &[]).unwrap().unwrap();
        assert!(
            svg.contains("No epoch has finished yet.") && circles(&svg) == 0,
            "{svg}"
        );
        let one = draw("map.svg", Task::Detect, &[json!({"map50": 0.5, "map50_95": 0.2})])
            .unwrap()
            .unwrap();
        assert_eq!(circles(&one), 2, "{one}");
        assert!(draw("other.svg", Task::Detect, &[]).is_none());
    }
}
