//! Text rendering with the public-domain 8×8 bitmap font compiled into the binary
//! (crate `font8x8`), so labels never need a font file or a download.

use font8x8::legacy::BASIC_LEGACY;

use crate::Frame;

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u32) -> u32 {
    text.chars().count() as u32 * 8 * scale
}

/// Height in pixels of one line at `scale`.
pub fn text_height(scale: u32) -> u32 {
    8 * scale
}

/// Draws `text` with its top-left corner at `(x, y)`; pixels outside the frame are
/// skipped. Characters outside ASCII are drawn as `?`.
pub fn draw_text(frame: &mut Frame, x: i32, y: i32, text: &str, scale: u32, rgb: [u8; 3]) {
    let scale = scale.max(1) as i32;
    let (w, h) = (frame.width() as i32, frame.height() as i32);
    for (i, ch) in text.chars().enumerate() {
        let code = if ch.is_ascii() { ch as usize } else { '?' as usize };
        let glyph = BASIC_LEGACY[code];
        let ox = x + i as i32 * 8 * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = ox + col * scale + dx;
                        let py = y + row as i32 * scale + dy;
                        if px >= 0 && py >= 0 && px < w && py < h {
                            frame.put_pixel(px as u32, py as u32, rgb);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_draws_pixels_only_inside_its_extent() {
        let mut f = Frame::filled(64, 32, [0, 0, 0]).unwrap();
        draw_text(&mut f, 4, 4, "A1", 2, [255, 255, 255]);
        let mut lit = 0;
        for y in 0..32 {
            for x in 0..64 {
                if f.pixel(x, y) == [255, 255, 255] {
                    lit += 1;
                    assert!((4..4 + text_width("A1", 2)).contains(&x) && (4..4 + text_height(2)).contains(&y));
                }
            }
        }
        assert!(lit > 20, "glyphs drawn: {lit}");
    }

    #[test]
    fn text_partly_outside_the_frame_does_not_panic() {
        let mut f = Frame::filled(10, 10, [0, 0, 0]).unwrap();
        draw_text(&mut f, -5, 7, "scratch 0.93", 1, [255, 0, 0]);
    }
}
