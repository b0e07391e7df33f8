//! Small raster pictures: an RGB [`Canvas`] with lines, rectangles, a built-in 5×7 bitmap
//! font (ASCII) and anti-aliased Latin and Korean text from a bundled font
//! ([`Canvas::text_font`], see [`font`]), a PNG encoder (zlib from `flate2`), and a
//! [`line_chart`] for training curves. Used for training plots and report overlays.
//!
//! ```
//! use brats_io::render::{Canvas, Rgb};
//! let mut c = Canvas::new(160, 40, Rgb::WHITE);
//! c.text(2, 2, "Dice", 1, Rgb::BLACK);
//! let w = c.text_font(2, 14, "두통 headache", 16.0, Rgb::BLACK);
//! let inked = (2..2 + w).filter(|&x| (14..34).any(|y| c.get(x, y) != Some(Rgb::WHITE))).count();
//! assert!(w > 60 && inked > 40, "{w} wide, {inked} columns inked");
//! let png = c.to_png();
//! assert_eq!(&png[1..4], b"PNG");
//! ```

pub mod font;

use std::io::Write;
use std::path::Path;

use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};

use crate::atomic::atomic_write;
use crate::error::{Error, Result};

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Black.
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    /// White.
    pub const WHITE: Rgb = Rgb(255, 255, 255);
    /// Mid grey.
    pub const GREY: Rgb = Rgb(128, 128, 128);
    /// Light grey (grid lines).
    pub const LIGHT: Rgb = Rgb(220, 220, 220);

    /// `self` blended over `under` with opacity `alpha` in `[0, 1]`.
    pub fn over(self, under: Rgb, alpha: f32) -> Rgb {
        let a = alpha.clamp(0.0, 1.0);
        let m = |x: u8, y: u8| (f32::from(x) * a + f32::from(y) * (1.0 - a)).round() as u8;
        Rgb(m(self.0, under.0), m(self.1, under.1), m(self.2, under.2))
    }

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// An RGB picture, row-major from the top-left corner.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<Rgb>,
}

/// Width in pixels of one glyph cell (5 columns + 1 space) at scale 1.
pub const GLYPH_ADVANCE: usize = 6;
/// Height in pixels of one text line at scale 1.
pub const LINE_HEIGHT: usize = 9;

impl Canvas {
    /// A `width × height` canvas filled with `bg` (a zero size gives an empty canvas).
    pub fn new(width: usize, height: usize, bg: Rgb) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![bg; width * height],
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixel at `(x, y)`, `None` outside.
    pub fn get(&self, x: usize, y: usize) -> Option<Rgb> {
        (x < self.width && y < self.height).then(|| self.pixels[y * self.width + x])
    }

    /// Sets a pixel; outside the canvas nothing happens.
    pub fn put(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = y as usize * self.width + x as usize;
            self.pixels[i] = c;
        }
    }

    /// Fills the rectangle `[x, x + w) × [y, y + h)` (clipped).
    pub fn fill_rect(&mut self, x: i64, y: i64, w: usize, h: usize, c: Rgb) {
        for yy in y..y + h as i64 {
            for xx in x..x + w as i64 {
                self.put(xx, yy, c);
            }
        }
    }

    /// Outlines a rectangle.
    pub fn stroke_rect(&mut self, x: i64, y: i64, w: usize, h: usize, c: Rgb) {
        let (w, h) = (w as i64, h as i64);
        self.line(x, y, x + w - 1, y, c);
        self.line(x, y + h - 1, x + w - 1, y + h - 1, c);
        self.line(x, y, x, y + h - 1, c);
        self.line(x + w - 1, y, x + w - 1, y + h - 1, c);
    }

    /// A one-pixel line (Bresenham), clipped.
    pub fn line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        // Bounded: at most dx + |dy| + 1 steps.
        for _ in 0..=(dx - dy) {
            self.put(x, y, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// A line `thickness` pixels wide (square pen).
    pub fn thick_line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, thickness: usize, c: Rgb) {
        let t = thickness.max(1) as i64;
        let off = (t - 1) / 2;
        for oy in 0..t {
            for ox in 0..t {
                self.line(
                    x0 + ox - off,
                    y0 + oy - off,
                    x1 + ox - off,
                    y1 + oy - off,
                    c,
                );
            }
        }
    }

    /// Draws `text` with its top-left corner at `(x, y)`, each font pixel `scale × scale`.
    /// Characters outside printable ASCII are drawn as `?`.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: usize, c: Rgb) {
        let s = scale.max(1) as i64;
        for (n, ch) in text.chars().enumerate() {
            let glyph = glyph(ch);
            let gx = x + (n * GLYPH_ADVANCE) as i64 * s;
            for (col, bits) in glyph.iter().enumerate() {
                for row in 0..8 {
                    if bits >> row & 1 == 1 {
                        self.fill_rect(gx + col as i64 * s, y + row * s, s as usize, s as usize, c);
                    }
                }
            }
        }
    }

    /// Width in pixels of `text` at `scale`.
    pub fn text_width(text: &str, scale: usize) -> usize {
        text.chars().count() * GLYPH_ADVANCE * scale.max(1)
    }

    /// Copies `src` with its top-left corner at `(x, y)` (clipped).
    pub fn blit(&mut self, src: &Canvas, x: i64, y: i64) {
        for sy in 0..src.height {
            for sx in 0..src.width {
                self.put(
                    x + sx as i64,
                    y + sy as i64,
                    src.pixels[sy * src.width + sx],
                );
            }
        }
    }

    /// Nearest-neighbour scaling by an integer factor.
    pub fn scaled(&self, factor: usize) -> Canvas {
        let f = factor.max(1);
        let mut out = Canvas::new(self.width * f, self.height * f, Rgb::BLACK);
        for y in 0..out.height {
            for x in 0..out.width {
                out.pixels[y * out.width + x] = self.pixels[(y / f) * self.width + x / f];
            }
        }
        out
    }

    /// The picture as PNG bytes (8-bit RGB, no interlace).
    pub fn to_png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity((self.width * 3 + 1) * self.height);
        for row in self.pixels.chunks(self.width.max(1)).take(self.height) {
            raw.push(0); // filter: none
            for p in row {
                raw.extend_from_slice(&[p.0, p.1, p.2]);
            }
        }
        let mut z = ZlibEncoder::new(Vec::new(), Compression::new(6));
        // Writing into a Vec cannot fail.
        let _ = z.write_all(&raw);
        let idat = z.finish().unwrap_or_default();
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend_from_slice(&(self.width as u32).to_be_bytes());
        ihdr.extend_from_slice(&(self.height as u32).to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(&mut png, b"IDAT", &idat);
        chunk(&mut png, b"IEND", &[]);
        png
    }

    /// Writes the PNG atomically (temp file + rename).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error) naming the file when it cannot be written; an empty
    /// canvas is a [`Error::Config`](crate::Error).
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::config(
                "canvas",
                format!(
                    "cannot write an empty {}×{} picture",
                    self.width, self.height
                ),
            ));
        }
        let bytes = self.to_png();
        atomic_write(path.as_ref(), |w| w.write_all(&bytes))
    }
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// One series of a [`line_chart`].
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// Legend text.
    pub label: &'a str,
    /// Colour.
    pub colour: Rgb,
    /// Points `(x, y)`; non-finite values are skipped (they break the line).
    pub points: Vec<(f64, f64)>,
}

/// A line chart with axes, ticks, a title and a legend; y from `y_range` or the data.
pub fn line_chart(
    title: &str,
    x_label: &str,
    series: &[Series<'_>],
    y_range: Option<(f64, f64)>,
    size: (usize, usize),
) -> Canvas {
    let (w, h) = (size.0.max(160), size.1.max(120));
    let mut c = Canvas::new(w, h, Rgb::WHITE);
    let (left, right, top, bottom) = (54i64, 12i64, 24i64, 34i64);
    let (pw, ph) = (w as i64 - left - right, h as i64 - top - bottom);
    let finite = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in finite {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if let Some((a, b)) = y_range {
        (y0, y1) = (a, b);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 {
        y1 = y0 + 1.0;
    }
    let px = |x: f64| left + ((x - x0) / (x1 - x0) * pw as f64).round() as i64;
    let py = |y: f64| top + ph - ((y - y0) / (y1 - y0) * ph as f64).round() as i64;
    for t in 0..=4 {
        let yv = y0 + (y1 - y0) * t as f64 / 4.0;
        let y = py(yv);
        c.line(left, y, left + pw, y, Rgb::LIGHT);
        let label = format_tick(yv);
        c.text(
            left - 4 - Canvas::text_width(&label, 1) as i64,
            y - 3,
            &label,
            1,
            Rgb::BLACK,
        );
        let xv = x0 + (x1 - x0) * t as f64 / 4.0;
        let x = px(xv);
        c.line(x, top + ph, x, top + ph + 3, Rgb::BLACK);
        let label = format_tick(xv);
        c.text(
            x - Canvas::text_width(&label, 1) as i64 / 2,
            top + ph + 6,
            &label,
            1,
            Rgb::BLACK,
        );
    }
    c.line(left, top, left, top + ph, Rgb::BLACK);
    c.line(left, top + ph, left + pw, top + ph, Rgb::BLACK);
    // Title, axis label and legend in the bundled font: they may be Korean.
    const LABEL_PX: f32 = 12.0;
    c.text_font(left, 4, title, LABEL_PX, Rgb::BLACK);
    c.text_font(
        left + pw / 2 - Canvas::text_font_width(x_label, LABEL_PX) as i64 / 2,
        h as i64 - 15,
        x_label,
        LABEL_PX,
        Rgb::BLACK,
    );
    let mut lx = left + pw;
    for s in series.iter().rev() {
        lx -= Canvas::text_font_width(s.label, LABEL_PX) as i64 + 16;
        c.fill_rect(lx, 7, 8, 6, s.colour);
        c.text_font(lx + 10, 4, s.label, LABEL_PX, Rgb::BLACK);
    }
    for s in series {
        let mut prev: Option<(i64, i64)> = None;
        for &(x, y) in &s.points {
            if !(x.is_finite() && y.is_finite()) {
                prev = None;
                continue;
            }
            let p = (px(x), py(y.clamp(y0, y1)));
            if let Some(q) = prev {
                c.thick_line(q.0, q.1, p.0, p.1, 2, s.colour);
            } else {
                c.fill_rect(p.0 - 1, p.1 - 1, 3, 3, s.colour);
            }
            prev = Some(p);
        }
    }
    c
}

fn format_tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 || (a > 0.0 && a < 0.01) {
        format!("{v:.1e}")
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The 5×7 glyph of `ch` (column bytes, bit 0 at the top).
fn glyph(ch: char) -> [u8; 5] {
    let i = match ch {
        ' '..='~' => ch as usize - 32,
        _ => '?' as usize - 32,
    };
    FONT[i]
}

#[rustfmt::skip]
const FONT: [[u8; 5]; 95] = [
    [0x00,0x00,0x00,0x00,0x00],[0x00,0x00,0x5F,0x00,0x00],[0x00,0x07,0x00,0x07,0x00],[0x14,0x7F,0x14,0x7F,0x14],
    [0x24,0x2A,0x7F,0x2A,0x12],[0x23,0x13,0x08,0x64,0x62],[0x36,0x49,0x56,0x20,0x50],[0x00,0x08,0x07,0x03,0x00],
    [0x00,0x1C,0x22,0x41,0x00],[0x00,0x41,0x22,0x1C,0x00],[0x2A,0x1C,0x7F,0x1C,0x2A],[0x08,0x08,0x3E,0x08,0x08],
    [0x00,0x80,0x70,0x30,0x00],[0x08,0x08,0x08,0x08,0x08],[0x00,0x00,0x60,0x60,0x00],[0x20,0x10,0x08,0x04,0x02],
    [0x3E,0x51,0x49,0x45,0x3E],[0x00,0x42,0x7F,0x40,0x00],[0x72,0x49,0x49,0x49,0x46],[0x21,0x41,0x49,0x4D,0x33],
    [0x18,0x14,0x12,0x7F,0x10],[0x27,0x45,0x45,0x45,0x39],[0x3C,0x4A,0x49,0x49,0x31],[0x41,0x21,0x11,0x09,0x07],
    [0x36,0x49,0x49,0x49,0x36],[0x46,0x49,0x49,0x29,0x1E],[0x00,0x00,0x14,0x00,0x00],[0x00,0x40,0x34,0x00,0x00],
    [0x00,0x08,0x14,0x22,0x41],[0x14,0x14,0x14,0x14,0x14],[0x00,0x41,0x22,0x14,0x08],[0x02,0x01,0x59,0x09,0x06],
    [0x3E,0x41,0x5D,0x59,0x4E],[0x7C,0x12,0x11,0x12,0x7C],[0x7F,0x49,0x49,0x49,0x36],[0x3E,0x41,0x41,0x41,0x22],
    [0x7F,0x41,0x41,0x41,0x3E],[0x7F,0x49,0x49,0x49,0x41],[0x7F,0x09,0x09,0x09,0x01],[0x3E,0x41,0x41,0x51,0x73],
    [0x7F,0x08,0x08,0x08,0x7F],[0x00,0x41,0x7F,0x41,0x00],[0x20,0x40,0x41,0x3F,0x01],[0x7F,0x08,0x14,0x22,0x41],
    [0x7F,0x40,0x40,0x40,0x40],[0x7F,0x02,0x1C,0x02,0x7F],[0x7F,0x04,0x08,0x10,0x7F],[0x3E,0x41,0x41,0x41,0x3E],
    [0x7F,0x09,0x09,0x09,0x06],[0x3E,0x41,0x51,0x21,0x5E],[0x7F,0x09,0x19,0x29,0x46],[0x26,0x49,0x49,0x49,0x32],
    [0x03,0x01,0x7F,0x01,0x03],[0x3F,0x40,0x40,0x40,0x3F],[0x1F,0x20,0x40,0x20,0x1F],[0x3F,0x40,0x38,0x40,0x3F],
    [0x63,0x14,0x08,0x14,0x63],[0x03,0x04,0x78,0x04,0x03],[0x61,0x59,0x49,0x4D,0x43],[0x00,0x7F,0x41,0x41,0x41],
    [0x02,0x04,0x08,0x10,0x20],[0x00,0x41,0x41,0x41,0x7F],[0x04,0x02,0x01,0x02,0x04],[0x40,0x40,0x40,0x40,0x40],
    [0x00,0x03,0x07,0x08,0x00],[0x20,0x54,0x54,0x78,0x40],[0x7F,0x28,0x44,0x44,0x38],[0x38,0x44,0x44,0x44,0x28],
    [0x38,0x44,0x44,0x28,0x7F],[0x38,0x54,0x54,0x54,0x18],[0x00,0x08,0x7E,0x09,0x02],[0x18,0xA4,0xA4,0x9C,0x78],
    [0x7F,0x08,0x04,0x04,0x78],[0x00,0x44,0x7D,0x40,0x00],[0x20,0x40,0x40,0x3D,0x00],[0x7F,0x10,0x28,0x44,0x00],
    [0x00,0x41,0x7F,0x40,0x00],[0x7C,0x04,0x78,0x04,0x78],[0x7C,0x08,0x04,0x04,0x78],[0x38,0x44,0x44,0x44,0x38],
    [0xFC,0x18,0x24,0x24,0x18],[0x18,0x24,0x24,0x18,0xFC],[0x7C,0x08,0x04,0x04,0x08],[0x48,0x54,0x54,0x54,0x24],
    [0x04,0x04,0x3F,0x44,0x24],[0x3C,0x40,0x40,0x20,0x7C],[0x1C,0x20,0x40,0x20,0x1C],[0x3C,0x40,0x30,0x40,0x3C],
    [0x44,0x28,0x10,0x28,0x44],[0x4C,0x90,0x90,0x90,0x7C],[0x44,0x64,0x54,0x4C,0x44],[0x00,0x08,0x36,0x41,0x00],
    [0x00,0x00,0x77,0x00,0x00],[0x00,0x41,0x36,0x08,0x00],[0x02,0x01,0x02,0x04,0x02],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_has_valid_structure_and_crc() {
        let mut c = Canvas::new(7, 5, Rgb::WHITE);
        c.put(3, 2, Rgb(255, 0, 0));
        let png = c.to_png();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR length 13, then width 7 and height 5.
        assert_eq!(&png[8..16], b"\0\0\0\x0dIHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 7);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 5);
        // CRC of IHDR over type + data.
        let mut crc = Crc::new();
        crc.update(&png[12..29]);
        assert_eq!(
            u32::from_be_bytes(png[29..33].try_into().unwrap()),
            crc.sum()
        );
        // The IDAT inflates back to the pixels.
        let len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        let mut raw = Vec::new();
        use std::io::Read;
        flate2::read::ZlibDecoder::new(&png[41..41 + len])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw.len(), 5 * (7 * 3 + 1));
        let at = 2 * 22 + 1 + 3 * 3;
        assert_eq!(&raw[at..at + 3], &[255, 0, 0]);
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]));
    }

    #[test]
    fn text_and_lines_stay_inside_and_draw() {
        let mut c = Canvas::new(40, 12, Rgb::WHITE);
        c.text(-3, -2, "Hi", 2, Rgb::BLACK);
        c.line(-10, 5, 100, 5, Rgb::BLACK);
        assert!(c.pixels.contains(&Rgb::BLACK));
        assert_eq!(Canvas::text_width("abc", 2), 36);
        let chart = line_chart(
            "loss",
            "epoch",
            &[Series {
                label: "train",
                colour: Rgb(200, 0, 0),
                points: vec![(1.0, 0.5), (2.0, f64::NAN), (3.0, 0.2)],
            }],
            None,
            (300, 200),
        );
        assert_eq!((chart.width(), chart.height()), (300, 200));
        assert!(chart.pixels.contains(&Rgb(200, 0, 0)));
    }

    #[test]
    fn empty_canvas_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        assert!(Canvas::new(0, 3, Rgb::WHITE).write_png(&path).is_err());
        assert!(!path.exists());
        Canvas::new(2, 2, Rgb::GREY).write_png(&path).unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
    }
}
