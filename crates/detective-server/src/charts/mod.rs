//! Every chart of the dashboard, drawn one way: on the server, as SVG with
//! `plotters`, served by a `…/charts/{chart}.svg` route and inlined into the page
//! by `chart()` of `static/common.js`. Colours follow the dashboard (deep blue,
//! teal, red); text is escaped by plotters, so labels from users are safe inline.
//!
//! - [`analytics`]: defect rate over time, groups as bars, the confidence histogram;
//! - [`epochs`]: a training job's losses and validation metrics per epoch;
//! - [`drift`]: the drift share of every check, a feature's reference vs current histogram.

pub mod analytics;
pub mod drift;
pub mod epochs;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FONT: &str = "sans-serif";
const BLUE: RGBColor = RGBColor(0x2E, 0x52, 0x66);
const TEAL: RGBColor = RGBColor(0x3E, 0x9A, 0x96);
const RED: RGBColor = RGBColor(0xE0, 0x25, 0x2B);
const GRID: RGBColor = RGBColor(0xD9, 0xE2, 0xE8);

/// A chart that could not be drawn (plotters' error, as text).
#[derive(Debug, thiserror::Error)]
#[error("chart: {0}")]
pub struct ChartError(String);

fn err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError(e.to_string())
}

/// `message` in the middle of an empty chart.
fn empty(root: &DrawingArea<SVGBackend, plotters::coord::Shift>, message: &str) -> Result<(), ChartError> {
    let (w, h) = root.dim_in_pixel();
    let style = (FONT, 16)
        .into_font()
        .color(&BLUE)
        .pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(message.to_string(), (w as i32 / 2, h as i32 / 2), style))
        .map_err(err)
}

/// A `width` × `height` SVG on white, its content drawn by `draw`.
fn svg(
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), ChartError>,
) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A drawn chart as the HTTP answer: `image/svg+xml`, never cached (the data moves).
pub fn response(svg: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response()
}
