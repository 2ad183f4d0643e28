//! The turbo colour map (Google, 2019) for probability heatmaps.
//!
//! Evaluated with the published degree-5 polynomial approximation, so no lookup
//! table has to be shipped.

/// Turbo colour for `t` in `[0, 1]` (values outside are clamped).
pub fn turbo(t: f32) -> [u8; 3] {
    let x = t.clamp(0.0, 1.0) as f64;
    let poly = |c: [f64; 6]| c[0] + x * (c[1] + x * (c[2] + x * (c[3] + x * (c[4] + x * c[5]))));
    let r = poly([
        0.135_721_38,
        4.615_392_6,
        -42.660_322_69,
        132.131_082_34,
        -152.942_393_96,
        59.286_379_48,
    ]);
    let g = poly([
        0.091_402_61,
        2.194_188_39,
        4.842_966_58,
        -14.185_033_33,
        4.277_298_57,
        2.829_566_04,
    ]);
    let b = poly([
        0.106_673_3,
        12.641_946_08,
        -60.582_048_36,
        110.362_767_71,
        -89.903_109_12,
        27.348_249_81,
    ]);
    let to8 = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    [to8(r), to8(g), to8(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turbo_runs_from_near_black_through_blue_and_green_to_green_to_dark_red() {
        let lo = turbo(0.0);
        let blue = turbo(0.15);
        let mid = turbo(0.5);
        let hi = turbo(1.0);
        assert!(
            lo.iter().map(|&c| c as u32).sum::<u32>() < 120,
            "low end is nearly black: {lo:?}"
        );
        assert!(blue[2] > blue[0] && blue[2] > blue[1], "0.15 is blue: {blue:?}");
        assert!(mid[1] > 180, "middle is green/yellow-green: {mid:?}");
        assert!(hi[0] > hi[1] && hi[0] > hi[2], "high end is red: {hi:?}");
        assert_eq!(turbo(-1.0), lo);
        assert_eq!(turbo(2.0), hi);
    }
}
