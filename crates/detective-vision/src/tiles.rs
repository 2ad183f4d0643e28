//! Tiles: how every task sees an image at its native scale. A model trained on
//! `tile × tile` windows runs over a large image as overlapping windows whose
//! outputs are blended across the seams, instead of squashing the image into its
//! input (which erases a 2-px crack on a 600-px part). One [`Tiling`] for every
//! task: the segmenter's maps are stitched by [`Stitcher`]; the detector's boxes
//! come from the same windows.

use detective_core::Rng;

use crate::augment::pick_defect_pixel;
use crate::{Frame, GrayFrame, VisionError};

/// Largest tile side.
pub const MAX_TILE: u32 = 4096;

/// The overlap of a model trained on tiles when it predicts and validates:
/// a quarter of a tile.
pub const DEFAULT_OVERLAP: f32 = 0.25;

/// Tiles of `tile` pixels a side that overlap by `overlap` of a side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tiling {
    pub tile: u32,
    /// Share of a tile that its neighbour covers too, in `0..0.9`.
    pub overlap: f32,
}

/// `--tile`, defined once for every task: how a model meets an image larger than
/// what it was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TileChoice {
    /// Tile when the image's long side is more than twice the side the model saw
    /// in training (a model trained on tiles always tiles); else resize.
    #[default]
    Auto,
    /// Never tile: the whole image is resized into the model's input.
    Off,
    /// Windows of this many native pixels a side, each fed at the model's input.
    Side(u32),
}

impl std::str::FromStr for TileChoice {
    type Err = VisionError;

    /// `auto`, `0` (or `off`), or a side in `16..=4096`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(TileChoice::Auto),
            "0" | "off" => Ok(TileChoice::Off),
            n => match n.parse::<u32>() {
                Ok(side) if (16..=MAX_TILE).contains(&side) => Ok(TileChoice::Side(side)),
                _ => Err(VisionError::InvalidArgument(format!(
                    "tile {s:?} is not auto, 0 or a side within 16..={MAX_TILE}"
                ))),
            },
        }
    }
}

impl std::fmt::Display for TileChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TileChoice::Auto => f.write_str("auto"),
            TileChoice::Off => f.write_str("0"),
            TileChoice::Side(n) => write!(f, "{n}"),
        }
    }
}

/// The scale a model was trained at, which [`TilePlan::tiling`] matches: the
/// side of its square input, and how many native image pixels one input side
/// covered in training (the tile for a model trained on tiles; the typical long
/// side of its training images for one trained on whole resized images).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelScale {
    pub input: u32,
    pub native: u32,
    /// Trained on native-scale tiles (then it always sees frames tiled).
    pub tiles: bool,
}

impl ModelScale {
    /// A model trained on whole images resized to `input`, whose training images
    /// had a typical long side of `native` (unknown: the input itself).
    pub fn resized(input: u32, native: Option<u32>) -> ModelScale {
        ModelScale {
            input,
            native: native.filter(|&n| n > 0).unwrap_or(input),
            tiles: false,
        }
    }

    /// A model trained on native-scale windows of `tile`.
    pub fn tiled(tile: u32) -> ModelScale {
        ModelScale {
            input: tile,
            native: tile,
            tiles: true,
        }
    }
}

/// A `--tile` choice with its `--overlap`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TilePlan {
    pub choice: TileChoice,
    pub overlap: f32,
}

impl Default for TilePlan {
    fn default() -> Self {
        TilePlan {
            choice: TileChoice::Auto,
            overlap: DEFAULT_OVERLAP,
        }
    }
}

impl TilePlan {
    /// How a model of `scale` sees a `w × h` image: `None` resizes the whole image
    /// into its input; `Some` runs windows of the tiling's side, each resized to the
    /// input where the two differ.
    pub fn tiling(&self, w: u32, h: u32, scale: &ModelScale) -> Option<Tiling> {
        let tiling = |tile: u32| Tiling {
            tile,
            overlap: self.overlap,
        };
        match self.choice {
            TileChoice::Off => None,
            TileChoice::Side(side) => Some(tiling(side)),
            TileChoice::Auto if scale.tiles || w.max(h) > 2 * scale.native => Some(tiling(scale.native)),
            TileChoice::Auto => None,
        }
    }
}

/// How a model meets images: the scale it was trained at and the `--tile` plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileSight {
    pub scale: ModelScale,
    pub plan: TilePlan,
}

impl TileSight {
    /// The tiling of a `w × h` image (`None`: the whole image resized).
    pub fn tiling(&self, w: u32, h: u32) -> Option<Tiling> {
        self.plan.tiling(w, h, &self.scale)
    }
}

/// One window of an image: its top-left corner and size (at most the tile; the
/// image's side where it is smaller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Tiling {
    /// Checks the overlap.
    pub fn new(tile: u32, overlap: f32) -> Result<Tiling, VisionError> {
        if !(16..=MAX_TILE).contains(&tile) {
            return Err(VisionError::InvalidArgument(format!(
                "tile {tile} is not within 16..={MAX_TILE}"
            )));
        }
        check_overlap(overlap)?;
        Ok(Tiling { tile, overlap })
    }

    /// Windows that cover a `w × h` image: a grid whose step is the tile less the
    /// overlap, the last row and column moved back to end at the edge (so every
    /// window lies inside the image); one window per side shorter than the tile.
    pub fn windows(&self, w: u32, h: u32) -> Vec<Window> {
        let xs = starts(w, self.tile, self.overlap);
        let ys = starts(h, self.tile, self.overlap);
        let mut out = Vec::with_capacity(xs.len() * ys.len());
        for &y in &ys {
            for &x in &xs {
                out.push(Window {
                    x,
                    y,
                    w: self.tile.min(w),
                    h: self.tile.min(h),
                });
            }
        }
        out
    }
}

/// Checks an overlap: a share of the tile in `0..0.9`.
pub fn check_overlap(overlap: f32) -> Result<(), VisionError> {
    if !(0.0..0.9).contains(&overlap) {
        return Err(VisionError::InvalidArgument(format!(
            "overlap {overlap} is not within 0..0.9 (a share of the tile)"
        )));
    }
    Ok(())
}

/// Starts of the windows along a side of `len`.
fn starts(len: u32, tile: u32, overlap: f32) -> Vec<u32> {
    if len <= tile {
        return vec![0];
    }
    let step = ((tile as f32 * (1.0 - overlap)).round() as u32).clamp(1, tile);
    let mut out: Vec<u32> = (0..).map(|i| i * step).take_while(|&s| s + tile < len).collect();
    out.push(len - tile);
    out
}

/// Window `win` of `frame`, exactly (no padding).
pub fn crop(frame: &Frame, win: Window) -> Result<Frame, VisionError> {
    let (fw, fh) = (frame.width(), frame.height());
    if win.x + win.w > fw || win.y + win.h > fh || win.w == 0 || win.h == 0 {
        return Err(VisionError::InvalidArgument(format!(
            "window {win:?} is outside the {fw}×{fh} image"
        )));
    }
    let src = frame.as_rgb();
    let mut out = Vec::with_capacity(win.w as usize * win.h as usize * 3);
    for y in win.y..win.y + win.h {
        let at = (y as usize * fw as usize + win.x as usize) * 3;
        out.extend_from_slice(&src[at..at + win.w as usize * 3]);
    }
    Frame::from_rgb(win.w, win.h, out)
}

/// Crops window `win` of `frame`, padded to `tile × tile` by repeating the edge
/// pixels where the image is smaller than a tile.
pub fn crop_padded(frame: &Frame, win: Window, tile: u32) -> Result<Frame, VisionError> {
    let (fw, fh) = (frame.width(), frame.height());
    if win.x + win.w > fw || win.y + win.h > fh || win.w == 0 || win.h == 0 {
        return Err(VisionError::InvalidArgument(format!(
            "window {win:?} is outside the {fw}×{fh} image"
        )));
    }
    let src = frame.as_rgb();
    let t = tile as usize;
    let mut out = Vec::with_capacity(t * t * 3);
    for y in 0..tile {
        let sy = (win.y + y.min(win.h - 1)) as usize;
        for x in 0..tile {
            let sx = (win.x + x.min(win.w - 1)) as usize;
            let i = (sy * fw as usize + sx) * 3;
            out.extend_from_slice(&src[i..i + 3]);
        }
    }
    Frame::from_rgb(tile, tile, out)
}

/// The same window of a mask, padded with background (0) to `tile × tile`.
pub fn crop_mask_padded(mask: &GrayFrame, win: Window, tile: u32) -> GrayFrame {
    let mut out = GrayFrame::new(tile, tile);
    for y in 0..win.h.min(tile) {
        for x in 0..win.w.min(tile) {
            out.set(x, y, mask.get(win.x + x, win.y + y));
        }
    }
    out
}

/// A training window of `tile × tile` at the image's native scale: with
/// probability `defect_p` centred on a random defect pixel of `mask` (when it has
/// any), else anywhere; padded like [`crop_padded`] where the image is smaller.
pub fn sample_window(
    frame: &Frame,
    mask: &GrayFrame,
    tile: u32,
    defect_p: f32,
    rng: &mut Rng,
) -> Result<(Frame, GrayFrame), VisionError> {
    let (fw, fh) = (frame.width(), frame.height());
    if (mask.width, mask.height) != (fw, fh) {
        return Err(VisionError::InvalidArgument(format!(
            "mask {}×{} does not match the {fw}×{fh} image",
            mask.width, mask.height
        )));
    }
    let (w, h) = (tile.min(fw), tile.min(fh));
    let centre = pick_defect_pixel(mask, defect_p, rng).map(|(x, y)| (x as u32, y as u32));
    let (x, y) = match centre {
        // the defect pixel anywhere in the window, not always in its middle
        Some((cx, cy)) => (
            cx.saturating_sub(rng.range_usize(0, w as usize) as u32).min(fw - w),
            cy.saturating_sub(rng.range_usize(0, h as usize) as u32).min(fh - h),
        ),
        None => (
            rng.range_usize(0, (fw - w) as usize + 1) as u32,
            rng.range_usize(0, (fh - h) as usize + 1) as u32,
        ),
    };
    let win = Window { x, y, w, h };
    Ok((crop_padded(frame, win, tile)?, crop_mask_padded(mask, win, tile)))
}

/// Blends per-pixel maps of overlapping windows into one map of the image: each
/// window's values are weighted by a tent that is highest in its middle and low
/// (never zero) at its edges, so a seam is the weighted mean of both sides and a
/// window's border, where the network sees least context, counts least.
pub struct Stitcher {
    w: u32,
    h: u32,
    sum: Vec<f32>,
    weight: Vec<f32>,
}

impl Stitcher {
    pub fn new(w: u32, h: u32) -> Stitcher {
        let n = w as usize * h as usize;
        Stitcher {
            w,
            h,
            sum: vec![0.0; n],
            weight: vec![0.0; n],
        }
    }

    /// Adds the map a model gave for window `win`: rows of `stride` values (the
    /// tile, for a window padded to it; the window's width, for one cut to the
    /// frame) of which the window's `w × h` are read (values where it was padded
    /// are ignored). A map too short for the window adds nothing.
    pub fn add(&mut self, win: Window, stride: u32, map: &[f32]) {
        let t = stride as usize;
        if win.w == 0 || win.h == 0 || win.w > stride || map.len() < (win.h as usize - 1) * t + win.w as usize {
            debug_assert!(
                false,
                "a map of {} values for window {win:?} at stride {stride}",
                map.len()
            );
            return;
        }
        for y in 0..win.h {
            let wy = tent(y, win.h);
            let row = (win.y + y) as usize * self.w as usize;
            for x in 0..win.w {
                let k = wy * tent(x, win.w);
                let i = row + (win.x + x) as usize;
                self.sum[i] += k * map[y as usize * t + x as usize];
                self.weight[i] += k;
            }
        }
    }

    /// The blended map, `w × h`, row-major (0 where no window reached).
    pub fn finish(self) -> Vec<f32> {
        debug_assert_eq!(self.sum.len(), self.w as usize * self.h as usize);
        self.sum
            .iter()
            .zip(&self.weight)
            .map(|(&s, &k)| if k > 0.0 { s / k } else { 0.0 })
            .collect()
    }
}

/// Weight of position `i` along a window side of `len`: 1 in the middle, down to
/// a floor of 0.05 at the edges.
fn tent(i: u32, len: u32) -> f32 {
    let centre = (len as f32 - 1.0) / 2.0;
    let d = if centre > 0.0 {
        (i as f32 - centre).abs() / centre
    } else {
        0.0
    };
    (1.0 - d).max(0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_image_overlap_and_stay_inside() {
        let t = Tiling::new(256, 0.25).unwrap();
        let ws = t.windows(1000, 600);
        // step 192: x at 0, 192, 384, 576 and 744 (the last moved back to the edge)
        let xs: Vec<u32> = ws.iter().filter(|w| w.y == 0).map(|w| w.x).collect();
        assert_eq!(xs, vec![0, 192, 384, 576, 744]);
        let ys: Vec<u32> = ws.iter().filter(|w| w.x == 0).map(|w| w.y).collect();
        assert_eq!(ys, vec![0, 192, 344]);
        for w in &ws {
            assert!(w.x + w.w <= 1000 && w.y + w.h <= 600, "{w:?}");
        }
        let mut covered = vec![false; 1000 * 600];
        for w in &ws {
            for y in w.y..w.y + w.h {
                for x in w.x..w.x + w.w {
                    covered[(y * 1000 + x) as usize] = true;
                }
            }
        }
        assert!(covered.iter().all(|&c| c));
        // a side shorter than the tile is one window of that side
        assert_eq!(
            t.windows(100, 300).iter().map(|w| (w.x, w.w)).collect::<Vec<_>>(),
            vec![(0, 100), (0, 100)]
        );
    }

    #[test]
    fn tile_choices_parse_and_auto_tiles_only_images_beyond_twice_the_trained_side() {
        assert_eq!("auto".parse::<TileChoice>().unwrap(), TileChoice::Auto);
        assert_eq!("0".parse::<TileChoice>().unwrap(), TileChoice::Off);
        assert_eq!(" 512 ".parse::<TileChoice>().unwrap(), TileChoice::Side(512));
        for bad in ["8", "5000", "-1", "big", ""] {
            assert!(bad.parse::<TileChoice>().is_err(), "{bad}");
        }
        assert!(check_overlap(0.95).is_err() && check_overlap(0.25).is_ok());
        let plan = TilePlan::default();
        // resized to 128 from photos whose long side was typically 358 px
        let scale = ModelScale::resized(128, Some(358));
        assert_eq!(plan.tiling(632, 400, &scale), None);
        assert_eq!(plan.tiling(2048, 2048, &scale).map(|t| t.tile), Some(358));
        // unknown training scale: the model's input
        assert_eq!(
            plan.tiling(300, 200, &ModelScale::resized(128, None)).map(|t| t.tile),
            Some(128)
        );
        // a model trained on tiles always tiles; off and an explicit side win
        assert_eq!(plan.tiling(100, 100, &ModelScale::tiled(64)).map(|t| t.tile), Some(64));
        let off = TilePlan {
            choice: TileChoice::Off,
            overlap: 0.25,
        };
        assert_eq!(off.tiling(4096, 4096, &scale), None);
        let side = TilePlan {
            choice: TileChoice::Side(256),
            overlap: 0.5,
        };
        assert_eq!(side.tiling(100, 100, &scale), Some(Tiling::new(256, 0.5).unwrap()));
    }

    #[test]
    fn a_tiling_is_refused_outside_its_ranges() {
        assert!(Tiling::new(256, 0.95).is_err() && Tiling::new(8, 0.0).is_err());
        assert_eq!(
            Tiling::new(256, DEFAULT_OVERLAP).unwrap(),
            Tiling {
                tile: 256,
                overlap: DEFAULT_OVERLAP
            }
        );
    }

    #[test]
    fn stitching_keeps_a_constant_and_each_window_s_own_values_away_from_seams() {
        let t = Tiling::new(64, 0.5).unwrap();
        let mut s = Stitcher::new(150, 100);
        for w in t.windows(150, 100) {
            s.add(w, 64, &[0.7; 64 * 64]);
        }
        assert!(s.finish().iter().all(|&v| (v - 0.7).abs() < 1e-6));
        // two windows that disagree: the blend moves smoothly from one to the other
        let mut s = Stitcher::new(96, 64);
        let (a, b) = (
            Window {
                x: 0,
                y: 0,
                w: 64,
                h: 64,
            },
            Window {
                x: 32,
                y: 0,
                w: 64,
                h: 64,
            },
        );
        s.add(a, 64, &[0.0; 64 * 64]);
        s.add(b, 64, &[1.0; 64 * 64]);
        let m = s.finish();
        let row: Vec<f32> = (0..96).map(|x| m[32 * 96 + x]).collect();
        assert_eq!((row[0], row[95]), (0.0, 1.0));
        assert!(row.windows(2).all(|p| p[1] >= p[0] - 1e-6), "{row:?}");
        assert!(
            (row[47] - 0.5).abs() < 0.05,
            "the seam's middle is the mean: {}",
            row[47]
        );
    }

    #[test]
    fn a_window_is_cropped_and_padded_by_repeating_its_edge() {
        let rgb: Vec<u8> = (0..4 * 3).flat_map(|i| [i as u8, 0, 0]).collect();
        let f = Frame::from_rgb(4, 3, rgb).unwrap();
        let win = Window { x: 1, y: 1, w: 3, h: 2 };
        let c = crop_padded(&f, win, 4).unwrap();
        let reds: Vec<u8> = c.as_rgb().chunks(3).map(|p| p[0]).collect();
        assert_eq!(reds, vec![5, 6, 7, 7, 9, 10, 11, 11, 9, 10, 11, 11, 9, 10, 11, 11]);
        assert!(crop_padded(&f, Window { x: 2, y: 0, w: 3, h: 3 }, 4).is_err());
        let exact = crop(&f, win).unwrap();
        assert_eq!((exact.width(), exact.height()), (3, 2));
        assert_eq!(
            exact.as_rgb().chunks(3).map(|p| p[0]).collect::<Vec<_>>(),
            vec![5, 6, 7, 9, 10, 11]
        );
        assert!(crop(&f, Window { x: 2, y: 0, w: 3, h: 3 }).is_err());
        let mut m = GrayFrame::new(4, 3);
        m.set(3, 2, 255);
        let cm = crop_mask_padded(&m, win, 4);
        assert_eq!((cm.get(2, 1), cm.get(3, 3)), (255, 0));
    }

    #[test]
    fn training_windows_hold_the_defect_when_asked_and_are_padded_on_small_images() {
        let f = Frame::filled(300, 100, [9, 9, 9]).unwrap();
        let mut m = GrayFrame::new(300, 100);
        m.set(250, 40, 255);
        let mut rng = Rng::new(7);
        for _ in 0..20 {
            let (c, cm) = sample_window(&f, &m, 128, 1.0, &mut rng).unwrap();
            assert_eq!((c.width(), c.height(), cm.width, cm.height), (128, 128, 128, 128));
            assert_eq!(
                cm.data.iter().filter(|&&v| v == 255).count(),
                1,
                "the defect is in the window"
            );
            // the 100-px side is padded: rows 100.. repeat row 99, and the mask is background there
            assert!(cm.data[100 * 128..].iter().all(|&v| v == 0));
        }
        let misfit = GrayFrame::new(10, 10);
        assert!(sample_window(&f, &misfit, 64, 0.5, &mut rng).is_err());
    }
}
