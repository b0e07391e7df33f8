//! Anti-aliased text in Latin and Korean from the bundled font
//! (`assets/fonts/bts-hangul-subset.ttf.gz`: NanumGothic by NAVER, SIL OFL 1.1, subset to
//! printable ASCII, common punctuation, the 2,350 Hangul syllables of KS X 1001 and every
//! character of the knowledge base's default content, renamed as the OFL requires of a
//! modified font; `assets/fonts/README.md` and `build.sh` rebuild it), rasterised by
//! `fontdue`.

use std::io::Read;
use std::sync::OnceLock;

use super::{Canvas, Rgb};

const FONT_GZ: &[u8] = include_bytes!("../../assets/fonts/bts-hangul-subset.ttf.gz");

/// The parsed font, once per process; `None` if it cannot be read (never expected: the
/// bytes are compiled in; text then falls back to the built-in 5×8 ASCII font).
fn font() -> Option<&'static fontdue::Font> {
    static FONT: OnceLock<Option<fontdue::Font>> = OnceLock::new();
    FONT.get_or_init(|| {
        let mut ttf = Vec::new();
        flate2::read::GzDecoder::new(FONT_GZ)
            .read_to_end(&mut ttf)
            .ok()?;
        fontdue::Font::from_bytes(ttf, fontdue::FontSettings::default()).ok()
    })
    .as_ref()
}

/// Whether the bundled font has a glyph for `ch` (the characters it lacks are drawn as
/// its empty box).
pub fn has_glyph(ch: char) -> bool {
    font().is_some_and(|f| f.lookup_glyph_index(ch) != 0)
}

impl Canvas {
    /// Draws `text` (Latin or Korean) with its top-left corner at `(x, y)`, `px` pixels
    /// high, anti-aliased over what is already there; returns the width drawn. Without the
    /// bundled font (never expected) it falls back to [`Canvas::text`].
    pub fn text_font(&mut self, x: i64, y: i64, text: &str, px: f32, c: Rgb) -> usize {
        let Some(f) = font() else {
            let scale = (px / 9.0).round().max(1.0) as usize;
            self.text(x, y, text, scale, c);
            return Canvas::text_width(text, scale);
        };
        let ascent = f.horizontal_line_metrics(px).map_or(px * 0.8, |m| m.ascent);
        let mut pen = 0.0f32;
        for ch in text.chars() {
            let (m, bitmap) = f.rasterize(ch, px);
            let gx = x + (pen + m.xmin as f32).round() as i64;
            let gy = y + (ascent - m.height as f32 - m.ymin as f32).round() as i64;
            for row in 0..m.height {
                for col in 0..m.width {
                    let a = bitmap[row * m.width + col];
                    if a == 0 {
                        continue;
                    }
                    let (px_x, px_y) = (gx + col as i64, gy + row as i64);
                    if px_x < 0 || px_y < 0 {
                        continue;
                    }
                    if let Some(under) = self.get(px_x as usize, px_y as usize) {
                        self.put(px_x, px_y, c.over(under, a as f32 / 255.0));
                    }
                }
            }
            pen += m.advance_width;
        }
        pen.ceil() as usize
    }

    /// Width in pixels of `text` drawn by [`Canvas::text_font`] at `px`.
    pub fn text_font_width(text: &str, px: f32) -> usize {
        match font() {
            Some(f) => text
                .chars()
                .map(|ch| f.metrics(ch, px).advance_width)
                .sum::<f32>()
                .ceil() as usize,
            None => Canvas::text_width(text, (px / 9.0).round().max(1.0) as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_font_covers_latin_and_hangul_and_draws_ink() {
        for ch in ['A', 'z', '0', '·', '가', '두', '통', '힘', '뇌'] {
            assert!(has_glyph(ch), "{ch:?}");
        }
        assert!(
            !has_glyph('\u{4E00}'),
            "CJK ideographs are not in the subset"
        );
        assert!(!has_glyph('힣'), "nor the rare syllables outside KS X 1001");
        let mut c = Canvas::new(200, 30, Rgb::WHITE);
        let w = c.text_font(0, 4, "왼쪽 팔다리 weakness", 16.0, Rgb::BLACK);
        assert_eq!(w, Canvas::text_font_width("왼쪽 팔다리 weakness", 16.0));
        let dark = (0..200)
            .flat_map(|x| (0..30).map(move |y| (x, y)))
            .filter(|&(x, y)| c.get(x, y).is_some_and(|p| p.0 < 128))
            .count();
        assert!(dark > 150, "{dark} dark pixels");
        // A character the subset lacks draws its empty box; off the canvas is clipped.
        c.text_font(0, 0, "힣\u{4E00}", 16.0, Rgb::BLACK);
        c.text_font(-50, -10, "두통", 40.0, Rgb::BLACK);
        c.text_font(190, 25, "두통", 40.0, Rgb::BLACK);
    }
}
