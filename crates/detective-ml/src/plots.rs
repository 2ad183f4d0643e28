//! Training and evaluation plots as SVG files, modelled on Ultralytics'
//! `results.png`, `PR_curve.png` and `confusion_matrix*.png`.
//!
//! Rendering uses plotters' SVG backend, which writes text as `<text>`
//! elements: no font file is read, so the plots work on machines without
//! any system font.

use std::fmt::Display;
use std::fs;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

use crate::metrics::{ConfusionMatrix, DetectionMetrics};

/// Why a plot could not be made.
#[derive(Debug, Error)]
pub enum PlotError {
    #[error("could not read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("could not write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Csv { path: PathBuf, reason: String },
    #[error("drawing the {what} failed: {reason}")]
    Draw { what: &'static str, reason: String },
}

/// matplotlib's tab10 colours, used for the per-class and per-column series.
const TAB10: [RGBColor; 10] = [
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
/// Colour of the raw values in `results.svg` (tab10 blue).
const RESULTS_RAW: RGBColor = TAB10[0];
/// Colour of the smoothed values in `results.svg` (tab10 orange).
const RESULTS_SMOOTH: RGBColor = TAB10[1];
/// Ultralytics draws the class mean in plain blue.
const MEAN_BLUE: RGBColor = RGBColor(0, 0, 255);
const FONT: &str = "sans-serif";

fn draw_err<E: Display>(what: &'static str) -> impl Fn(E) -> PlotError {
    move |e| PlotError::Draw {
        what,
        reason: e.to_string(),
    }
}

fn write_svg(out: &Path, svg: &str) -> Result<(), PlotError> {
    fs::write(out, svg).map_err(|source| PlotError::Write {
        path: out.to_path_buf(),
        source,
    })
}

/// A parsed results table: column names and rows of optional numbers.
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Option<f64>>>,
}

fn parse_cell(cell: &str) -> Option<f64> {
    let c = cell.trim().trim_matches('"').trim();
    if c.is_empty() {
        return None;
    }
    c.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_results_csv(text: &str, path: &Path) -> Result<Table, PlotError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or_else(|| PlotError::Csv {
        path: path.to_path_buf(),
        reason: "empty file".into(),
    })?;
    let columns: Vec<String> = header
        .split(',')
        .map(|h| h.trim().trim_matches('"').trim().to_string())
        .collect();
    if columns.len() < 2 {
        return Err(PlotError::Csv {
            path: path.to_path_buf(),
            reason: "expected an epoch column and at least one value column".into(),
        });
    }
    let rows = lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            (0..columns.len())
                .map(|i| cells.get(i).and_then(|c| parse_cell(c)))
                .collect()
        })
        .collect();
    Ok(Table { columns, rows })
}

/// Ultralytics' `results.png` order: first half of the losses and metrics on
/// the top row, second half below; then every other column.
fn results_layout(columns: &[String], x_col: usize) -> (Vec<usize>, Vec<usize>) {
    let mut losses = Vec::new();
    let mut metrics = Vec::new();
    let mut others = Vec::new();
    for (i, name) in columns.iter().enumerate() {
        if i == x_col {
            continue;
        }
        if name.contains("loss") {
            losses.push(i);
        } else if name.contains("metric") {
            metrics.push(i);
        } else {
            others.push(i);
        }
    }
    let (lm, mm) = (losses.len() / 2, metrics.len().div_ceil(2));
    let mut main = Vec::new();
    main.extend_from_slice(&losses[..lm]);
    main.extend_from_slice(&metrics[..mm]);
    main.extend_from_slice(&losses[lm..]);
    main.extend_from_slice(&metrics[mm..]);
    (main, others)
}

/// Ultralytics' `_gaussian_filter1d` (sigma 3, truncated at 4 sigma, edges
/// mirrored like numpy's "symmetric" padding).
fn gaussian_smooth(y: &[f64], sigma: f64) -> Vec<f64> {
    let n = y.len() as i64;
    if n == 0 {
        return Vec::new();
    }
    let radius = (4.0 * sigma + 0.5) as i64;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|k| (-0.5 * (k as f64 / sigma).powi(2)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    let mirror = |i: i64| -> usize {
        let period = 2 * n;
        let j = i.rem_euclid(period);
        (if j >= n { period - 1 - j } else { j }) as usize
    };
    (0..n)
        .map(|i| {
            kernel
                .iter()
                .zip(-radius..=radius)
                .map(|(w, k)| w * y[mirror(i + k)])
                .sum::<f64>()
                / total
        })
        .collect()
}

fn padded_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return None;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    Some((lo - pad, hi + pad))
}

/// Plots an Ultralytics-style `results.csv` (`epoch, train/box_loss, ...,
/// metrics/mAP50-95(B), val/..., lr/pg0, ...`, extra columns welcome) as a
/// grid of small line charts, one per column against the epoch: the values
/// with markers and, as Ultralytics does, a Gaussian-smoothed line. Empty,
/// `nan` or non-numeric cells are skipped. Column names may be padded with
/// spaces (older Ultralytics versions do that).
pub fn plot_results_csv(csv_path: impl AsRef<Path>, out_svg: impl AsRef<Path>) -> Result<(), PlotError> {
    let csv_path = csv_path.as_ref();
    let text = fs::read_to_string(csv_path).map_err(|source| PlotError::Read {
        path: csv_path.to_path_buf(),
        source,
    })?;
    let table = parse_results_csv(&text, csv_path)?;
    let x_col = table.columns.iter().position(|c| c == "epoch").unwrap_or(0);
    let (main, others) = results_layout(&table.columns, x_col);
    let cols = if main.is_empty() {
        others.len().clamp(1, 5)
    } else {
        main.len().div_ceil(2).max(1)
    };
    let main_rows = if main.is_empty() { 0 } else { 2 };
    let rows = main_rows + others.len().div_ceil(cols);
    let mut cells: Vec<Option<usize>> = main.iter().map(|&c| Some(c)).collect();
    cells.resize(main_rows * cols, None);
    cells.extend(others.iter().map(|&c| Some(c)));

    let xs: Vec<f64> = table
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| r.get(x_col).copied().flatten().unwrap_or((i + 1) as f64))
        .collect();
    let (width, height) = (cols as u32 * 300, rows.max(1) as u32 * 240);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err("results grid"))?;
        let areas = root.split_evenly((rows.max(1), cols));
        for (area, cell) in areas.iter().zip(cells.iter()) {
            let Some(col) = *cell else { continue };
            let name = &table.columns[col];
            let points: Vec<(f64, f64)> = table
                .rows
                .iter()
                .zip(&xs)
                .filter_map(|(r, &x)| r.get(col).copied().flatten().map(|y| (x, y)))
                .collect();
            let x_range = padded_range(xs.iter().copied()).unwrap_or((0.0, 1.0));
            let y_range = padded_range(points.iter().map(|p| p.1)).unwrap_or((0.0, 1.0));
            // Enough decimals for the span (learning rates are ~1e-3..1e-5).
            let span = (y_range.1 - y_range.0).abs().max(f64::MIN_POSITIVE);
            let decimals = ((-span.log10()).ceil() as i64 + 2).clamp(1, 8) as usize;
            let y_format = move |v: &f64| format!("{v:.decimals$}");
            let mut chart = ChartBuilder::on(area)
                .caption(name, (FONT, 14))
                .margin(6)
                .x_label_area_size(22)
                .y_label_area_size(48)
                .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
                .map_err(draw_err("results chart"))?;
            chart
                .configure_mesh()
                .x_labels(5)
                .y_labels(5)
                .label_style((FONT, 10))
                .y_label_formatter(&y_format)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .draw()
                .map_err(draw_err("results axes"))?;
            if points.is_empty() {
                let centre = ((x_range.0 + x_range.1) / 2.0, (y_range.0 + y_range.1) / 2.0);
                let style = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
                chart
                    .draw_series(std::iter::once(Text::new("no data", centre, style)))
                    .map_err(draw_err("results chart"))?;
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.iter().copied(), RESULTS_RAW.stroke_width(2)))
                .map_err(draw_err("results series"))?;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, RESULTS_RAW.filled())))
                .map_err(draw_err("results markers"))?;
            let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
            let smooth = gaussian_smooth(&ys, 3.0);
            chart
                .draw_series(LineSeries::new(
                    points.iter().zip(smooth).map(|(p, s)| (p.0, s)),
                    RESULTS_SMOOTH.stroke_width(2),
                ))
                .map_err(draw_err("results smoothing"))?;
        }
        root.present().map_err(draw_err("results grid"))?;
    }
    write_svg(out_svg.as_ref(), &svg)
}

/// Precision-recall curves at IoU 0.5: one line per class with its AP50 in
/// the legend (grey and unlabelled from 21 classes on, as Ultralytics), and
/// the class mean as a thick blue line labelled with mAP50.
pub fn plot_pr_curve(metrics: &DetectionMetrics, out_svg: impl AsRef<Path>) -> Result<(), PlotError> {
    let curve = &metrics.pr_curve;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err("PR curve"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Precision-Recall Curve", (FONT, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0f64..1.0f64, 0.0f64..1.0f64)
            .map_err(draw_err("PR curve"))?;
        chart
            .configure_mesh()
            .x_desc("Recall")
            .y_desc("Precision")
            .label_style((FONT, 12))
            .draw()
            .map_err(draw_err("PR axes"))?;
        let labelled = !curve.classes.is_empty() && curve.classes.len() < 21;
        for (i, class) in curve.classes.iter().enumerate() {
            let color = if labelled {
                TAB10[i % TAB10.len()]
            } else {
                RGBColor(128, 128, 128)
            };
            let series = chart
                .draw_series(LineSeries::new(
                    curve.x.iter().copied().zip(class.precision.iter().copied()),
                    color.stroke_width(1),
                ))
                .map_err(draw_err("PR series"))?;
            if labelled {
                series
                    .label(format!("{} {:.3}", class.name, class.ap50))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
        }
        let mean = curve.mean_precision();
        let series = chart
            .draw_series(LineSeries::new(
                curve.x.iter().copied().zip(mean),
                MEAN_BLUE.stroke_width(3),
            ))
            .map_err(draw_err("PR mean"))?;
        series
            .label(format!("all classes {:.3} mAP@0.5", metrics.map50))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MEAN_BLUE.stroke_width(3)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err("PR legend"))?;
        root.present().map_err(draw_err("PR curve"))?;
    }
    write_svg(out_svg.as_ref(), &svg)
}

/// Matplotlib's "Blues" between its ends, for `t` in [0, 1].
fn blues(t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let (a, b) = ((247.0, 251.0, 255.0), (8.0, 48.0, 107.0));
    let mix = |p: f64, q: f64| (p + (q - p) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The confusion matrix as a heat map, rows "Predicted", columns "True", the
/// last row and column "background". With `normalize`, each column is
/// divided by its sum (Ultralytics' `confusion_matrix_normalized.png`).
/// Cells under 0.005 stay blank; values are written in the cells below 30
/// classes.
pub fn plot_confusion_matrix(
    cm: &ConfusionMatrix,
    names: &[String],
    out_svg: impl AsRef<Path>,
    normalize: bool,
) -> Result<(), PlotError> {
    let n = cm.size();
    let values: Vec<Vec<f64>> = if normalize {
        cm.normalized()
    } else {
        (0..n).map(|i| (0..n).map(|j| cm.get(i, j) as f64).collect()).collect()
    };
    let vmax = values.iter().flatten().copied().fold(0.0f64, f64::max);
    let mut labels: Vec<String> = (0..cm.num_classes)
        .map(|c| names.get(c).cloned().unwrap_or_else(|| format!("class{c}")))
        .collect();
    labels.push("background".to_string());

    let cell = (640 / n.max(1)).clamp(6, 80) as i32;
    let (left, top) = (170i32, 60i32);
    let side = cell * n as i32;
    let (width, height) = ((left + side + 40) as u32, (top + side + 150) as u32);
    let title = if normalize {
        "Confusion Matrix Normalized"
    } else {
        "Confusion Matrix"
    };
    let annotate = n < 31;
    let font_size = (cell as f64 * 0.3).clamp(6.0, 14.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err("confusion matrix"))?;
        let center = |size: f64| TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(title, (left + side / 2, top / 2), center(20.0)))
            .map_err(draw_err("confusion matrix"))?;
        for (i, row) in values.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let (x0, y0) = (left + j as i32 * cell, top + i as i32 * cell);
                if v >= 0.005 {
                    let t = if vmax > 0.0 { v / vmax } else { 0.0 };
                    root.draw(&Rectangle::new([(x0, y0), (x0 + cell, y0 + cell)], blues(t).filled()))
                        .map_err(draw_err("confusion matrix"))?;
                    if annotate {
                        let text = if normalize {
                            format!("{v:.2}")
                        } else {
                            format!("{v:.0}")
                        };
                        let color = if t > 0.45 { WHITE } else { BLACK };
                        let style = center(font_size).color(&color);
                        root.draw(&Text::new(text, (x0 + cell / 2, y0 + cell / 2), style))
                            .map_err(draw_err("confusion matrix"))?;
                    }
                }
            }
        }
        root.draw(&Rectangle::new(
            [(left, top), (left + side, top + side)],
            BLACK.stroke_width(1),
        ))
        .map_err(draw_err("confusion matrix"))?;
        if n < 100 {
            let tick = (cell as f64 * 0.4).clamp(7.0, 13.0);
            for (k, label) in labels.iter().enumerate() {
                let mid = k as i32 * cell + cell / 2;
                let style = TextStyle::from((FONT, tick).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
                root.draw(&Text::new(label.clone(), (left - 6, top + mid), style))
                    .map_err(draw_err("confusion matrix"))?;
                let style = TextStyle::from((FONT, tick).into_font().transform(FontTransform::Rotate270))
                    .pos(Pos::new(HPos::Right, VPos::Center));
                root.draw(&Text::new(label.clone(), (left + mid, top + side + 6), style))
                    .map_err(draw_err("confusion matrix"))?;
            }
        }
        root.draw(&Text::new("True", (left + side / 2, top + side + 135), center(15.0)))
            .map_err(draw_err("confusion matrix"))?;
        let style = TextStyle::from((FONT, 15.0).into_font().transform(FontTransform::Rotate270))
            .pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new("Predicted", (18, top + side / 2), style))
            .map_err(draw_err("confusion matrix"))?;
        root.present().map_err(draw_err("confusion matrix"))?;
    }
    write_svg(out_svg.as_ref(), &svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{DetectionEvaluator, GtBox, PredBox};

    /// A minimal XML well-formedness check: every element closed in order,
    /// one root, attributes quoted, no stray '<'.
    fn assert_well_formed_svg(svg: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg.trim_start();
        if let Some(after) = rest.strip_prefix("<?xml") {
            let end = after.find("?>").expect("unterminated XML declaration");
            rest = &after[end + 2..];
        }
        let mut roots = 0;
        while let Some(open) = rest.find('<') {
            let text = &rest[..open];
            assert!(!text.contains('>'), "stray '>' in text: {text:?}");
            if stack.is_empty() {
                assert!(text.trim().is_empty(), "text outside the root element: {text:?}");
            }
            rest = &rest[open..];
            if let Some(after) = rest.strip_prefix("<!--") {
                let end = after.find("-->").expect("unterminated comment");
                rest = &after[end + 3..];
                continue;
            }
            let close = rest.find('>').expect("unterminated tag");
            let tag = &rest[1..close];
            assert!(!tag.contains('<'), "'<' inside a tag: {tag:?}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in {tag:?}");
            if let Some(name) = tag.strip_prefix('/') {
                let top = stack.pop().expect("closing tag without opening");
                assert_eq!(top, name.trim(), "mismatched closing tag");
            } else {
                let name: String = tag.chars().take_while(|c| !c.is_whitespace() && *c != '/').collect();
                assert!(!name.is_empty(), "empty tag name");
                if stack.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[close + 1..];
        }
        assert!(rest.trim().is_empty(), "trailing text: {rest:?}");
        assert!(stack.is_empty(), "unclosed elements: {stack:?}");
        assert_eq!(roots, 1, "expected exactly one root element");
        assert!(svg.contains("<svg"), "no <svg> element");
    }

    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|s| {
                let start = s.find('>')? + 1;
                let end = s.find("</text>")?;
                let raw = s[start..end].trim();
                Some(
                    raw.replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&quot;", "\"")
                        .replace("&apos;", "'")
                        .replace("&amp;", "&"),
                )
            })
            .collect()
    }

    /// Polylines drawn in `color` with at least `min_points` points.
    fn polylines(svg: &str, color: &str, min_points: usize) -> usize {
        svg.split("<polyline")
            .skip(1)
            .filter(|s| {
                let tag = &s[..s.find('>').unwrap_or(s.len())];
                let stroke_ok = color.is_empty() || tag.contains(&format!("stroke=\"{color}\""));
                let points = tag
                    .split("points=\"")
                    .nth(1)
                    .map(|p| p[..p.find('"').unwrap_or(p.len())].split_whitespace().count())
                    .unwrap_or(0);
                stroke_ok && points >= min_points
            })
            .count()
    }

    const HEADER: &str = "                  epoch,      train/box_loss,      train/cls_loss,      train/dfl_loss,   metrics/precision(B),      metrics/recall(B),       metrics/mAP50(B),    metrics/mAP50-95(B),        val/box_loss,        val/cls_loss,        val/dfl_loss,              lr/pg0,              lr/pg1,              lr/pg2,extra/empty";

    #[test]
    fn results_csv_plot_has_one_chart_per_column_and_skips_missing_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = dir.path().join("results.csv");
        let mut text = format!("{HEADER}\n");
        for e in 1..=8 {
            let f = e as f64;
            let precision = if e == 3 {
                "nan".to_string()
            } else {
                format!("{}", 0.1 * f / 8.0 + 0.3)
            };
            let recall = if e == 5 { String::new() } else { format!("{}", 0.05 * f) };
            text.push_str(&format!(
                "{e}, {}, {}, {}, {precision}, {recall}, {}, {}, {}, {}, {}, 0.01, 0.01, {},\n",
                2.0 / f,
                3.0 / f,
                1.5 / f,
                0.06 * f,
                0.03 * f,
                2.1 / f,
                3.2 / f,
                1.6 / f,
                0.1 - 0.01 * f
            ));
        }
        std::fs::write(&csv, text).expect("write csv");
        let out = dir.path().join("results.svg");
        plot_results_csv(&csv, &out).expect("plot");
        let svg = std::fs::read_to_string(&out).expect("read svg");
        assert_well_formed_svg(&svg);
        let t = texts(&svg);
        let names = [
            "train/box_loss",
            "train/cls_loss",
            "train/dfl_loss",
            "metrics/precision(B)",
            "metrics/recall(B)",
            "metrics/mAP50(B)",
            "metrics/mAP50-95(B)",
            "val/box_loss",
            "val/cls_loss",
            "val/dfl_loss",
            "lr/pg0",
            "lr/pg1",
            "lr/pg2",
            "extra/empty",
        ];
        for name in names {
            assert!(t.iter().any(|s| s == name), "missing chart title {name}");
        }
        assert!(!t.iter().any(|s| s == "epoch"), "epoch is the x axis, not a chart");
        // 13 columns with data: one raw and one smoothed line each; the empty column says so.
        assert_eq!(polylines(&svg, "#1F77B4", 2), 13);
        assert_eq!(polylines(&svg, "#FF7F0E", 2), 13);
        assert_eq!(t.iter().filter(|s| *s == "no data").count(), 1);
        // 8 epochs, one nan and one empty cell: 13 * 8 - 2 markers.
        assert_eq!(svg.matches("<circle").count(), 13 * 8 - 2);
    }

    #[test]
    fn results_csv_errors_are_typed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.csv");
        assert!(matches!(
            plot_results_csv(&missing, dir.path().join("a.svg")),
            Err(PlotError::Read { .. })
        ));
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, "\n").expect("write");
        assert!(matches!(
            plot_results_csv(&empty, dir.path().join("a.svg")),
            Err(PlotError::Csv { .. })
        ));
        let good = dir.path().join("ok.csv");
        std::fs::write(&good, "epoch,a\n1,2\n").expect("write");
        let bad_out = dir.path().join("no/such/dir/out.svg");
        assert!(matches!(plot_results_csv(&good, bad_out), Err(PlotError::Write { .. })));
    }

    fn sample_evaluator() -> DetectionEvaluator {
        let mut ev = DetectionEvaluator::new(3);
        for i in 0..6 {
            let o = i as f32 * 3.0;
            ev.add_image(
                &[
                    PredBox {
                        class: 0,
                        bbox: [o, 0.0, o + 10.0, 10.0],
                        confidence: 0.9 - 0.1 * i as f32,
                    },
                    PredBox {
                        class: 1,
                        bbox: [50.0, 50.0, 70.0, 70.0],
                        confidence: 0.5,
                    },
                    PredBox {
                        class: 2,
                        bbox: [100.0, 100.0, 120.0, 120.0],
                        confidence: 0.3 + 0.1 * i as f32,
                    },
                ],
                &[
                    GtBox {
                        class: 0,
                        bbox: [0.0, 0.0, 10.0, 10.0],
                    },
                    GtBox {
                        class: 1,
                        bbox: [50.0, 50.0, 71.0, 70.0],
                    },
                    GtBox {
                        class: if i % 2 == 0 { 2 } else { 0 },
                        bbox: [100.0, 100.0, 120.0, 120.0],
                    },
                ],
            );
        }
        ev
    }

    #[test]
    fn pr_curve_plot_has_a_line_per_class_plus_the_mean_and_a_legend() {
        let ev = sample_evaluator();
        let names: Vec<String> = ["scratch", "spot", "crack"].iter().map(|s| s.to_string()).collect();
        let m = ev.finish(&names);
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("pr.svg");
        plot_pr_curve(&m, &out).expect("plot");
        let svg = std::fs::read_to_string(&out).expect("read svg");
        assert_well_formed_svg(&svg);
        let t = texts(&svg);
        assert!(t.iter().any(|s| s == "Precision-Recall Curve"));
        assert!(t.iter().any(|s| s == "Recall") && t.iter().any(|s| s == "Precision"));
        for c in &m.per_class {
            let label = format!("{} {:.3}", c.name, c.map50);
            assert!(t.contains(&label), "missing legend {label}");
        }
        let mean_label = format!("all classes {:.3} mAP@0.5", m.map50);
        assert!(t.contains(&mean_label), "missing {mean_label}");
        // 1000-point curves: one per class and the mean.
        assert_eq!(polylines(&svg, "", 500), m.per_class.len() + 1);
        assert_eq!(polylines(&svg, "#0000FF", 500), 1);
    }

    #[test]
    fn confusion_matrix_plot_labels_every_class_and_annotates_nonzero_cells() {
        let ev = sample_evaluator();
        let cm = ev.confusion_matrix(0.25, 0.45);
        let names: Vec<String> = ["scratch", "spot", "crack"].iter().map(|s| s.to_string()).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        for normalize in [false, true] {
            let out = dir.path().join(format!("cm_{normalize}.svg"));
            plot_confusion_matrix(&cm, &names, &out, normalize).expect("plot");
            let svg = std::fs::read_to_string(&out).expect("read svg");
            assert_well_formed_svg(&svg);
            let t = texts(&svg);
            let title = if normalize {
                "Confusion Matrix Normalized"
            } else {
                "Confusion Matrix"
            };
            assert!(t.iter().any(|s| s == title));
            for label in names
                .iter()
                .map(String::as_str)
                .chain(["background", "True", "Predicted"])
            {
                let expected = if ["True", "Predicted"].contains(&label) { 1 } else { 2 };
                assert_eq!(t.iter().filter(|s| *s == label).count(), expected, "{label}");
            }
            let grid: Vec<Vec<f64>> = if normalize {
                cm.normalized()
            } else {
                cm.matrix
                    .iter()
                    .map(|r| r.iter().map(|&v| v as f64).collect())
                    .collect()
            };
            let nonzero = grid.iter().flatten().filter(|&&v| v >= 0.005).count();
            assert!(nonzero >= 3, "sample should fill several cells");
            let numbers = t.iter().filter(|s| s.parse::<f64>().is_ok()).count();
            assert_eq!(numbers, nonzero);
            if !normalize {
                let total: u64 = cm.matrix.iter().flatten().sum();
                let annotated: f64 = t.iter().filter_map(|s| s.parse::<f64>().ok()).sum();
                assert_eq!(annotated, total as f64);
            }
        }
    }

    #[test]
    fn gaussian_smoothing_keeps_constants_and_mirrors_edges() {
        let flat = gaussian_smooth(&[2.0; 5], 3.0);
        assert!(flat.iter().all(|v| (v - 2.0).abs() < 1e-12));
        let ramp: Vec<f64> = (0..40).map(|i| i as f64).collect();
        let s = gaussian_smooth(&ramp, 3.0);
        assert!(
            (s[20] - 20.0).abs() < 1e-9,
            "linear data is unchanged away from the edges"
        );
        assert!(s[0] > 0.0, "the mirrored edge pulls the first value up");
    }
}
