//! Overlay pictures: axial, coronal and sagittal slices through a point (the tumour
//! centroid), FLAIR and T1ce side by side with the mask coloured by label, a legend, and the
//! patient's sides marked.
//!
//! Slices are sampled in world coordinates (RAS, from each image's affine), so the picture
//! is the same whatever the storage orientation. **Display convention: radiological** —
//! axial and coronal views show the patient's right on the image's left (`R` and `L` are
//! printed on the edges), anterior at the top of axial views, superior at the top of
//! coronal and sagittal views; sagittal views show anterior on the left.

use brats_io::render::{Canvas, Rgb, LINE_HEIGHT};
use brats_io::{Compartment, LabelScheme, Volume};

/// Which plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Constant z (superior–inferior).
    Axial,
    /// Constant y (anterior–posterior).
    Coronal,
    /// Constant x (left–right).
    Sagittal,
}

impl View {
    /// All three.
    pub const ALL: [View; 3] = [View::Axial, View::Coronal, View::Sagittal];

    /// `axial`, `coronal`, `sagittal`.
    pub fn name(self) -> &'static str {
        match self {
            View::Axial => "axial",
            View::Coronal => "coronal",
            View::Sagittal => "sagittal",
        }
    }
}

/// Colour of a compartment (BraTS convention: core red, edema green, enhancing yellow).
pub fn colour_of(c: Compartment) -> Rgb {
    match c {
        Compartment::Core => Rgb(230, 40, 40),
        Compartment::Edema => Rgb(40, 200, 70),
        Compartment::Enhancing => Rgb(255, 220, 0),
    }
}

/// World box (RAS mm) covered by a volume.
pub(crate) fn world_box(v: &Volume<f32>) -> [(f64, f64); 3] {
    let g = v.geometry();
    let [ni, nj, nk] = g.dim();
    let mut b = [(f64::MAX, f64::MIN); 3];
    for ci in [0.0, (ni - 1) as f64] {
        for cj in [0.0, (nj - 1) as f64] {
            for ck in [0.0, (nk - 1) as f64] {
                let w = g.voxel_to_world([ci, cj, ck]);
                for a in 0..3 {
                    b[a].0 = b[a].0.min(w[a]);
                    b[a].1 = b[a].1.max(w[a]);
                }
            }
        }
    }
    b
}

pub(crate) fn window(v: &Volume<f32>) -> (f32, f32) {
    let mut vals: Vec<f32> = v
        .data()
        .iter()
        .copied()
        .filter(|x| *x != 0.0 && x.is_finite())
        .step_by(7)
        .collect();
    if vals.is_empty() {
        return (0.0, 1.0);
    }
    vals.sort_by(f32::total_cmp);
    let at = |p: f64| vals[((vals.len() - 1) as f64 * p) as usize];
    let (lo, hi) = (at(0.01), at(0.99));
    (lo, if hi > lo { hi } else { lo + 1.0 })
}

/// Samples `v` at world point `w` (nearest voxel); `None` outside.
pub(crate) fn sample<T: Copy>(v: &Volume<T>, w: [f64; 3]) -> Option<T> {
    let g = v.geometry();
    let [ni, nj, nk] = g.dim();
    let p = g.world_to_voxel(w).map(|x| x.round());
    if p.iter().any(|&x| x < 0.0) {
        return None;
    }
    let (i, j, k) = (p[0] as usize, p[1] as usize, p[2] as usize);
    (i < ni && j < nj && k < nk).then(|| v.data()[[k, j, i]])
}

/// One panel: `image` in grey with the mask coloured, sampled on the plane through
/// `centre` at 1 mm per pixel.
fn panel(
    view: View,
    image: &Volume<f32>,
    mask: Option<&Volume<u8>>,
    scheme: &LabelScheme,
    centre: [f64; 3],
) -> Canvas {
    let colours: Vec<(u8, Rgb)> = scheme
        .labels()
        .iter()
        .map(|l| (l.value, colour_of(l.compartment)))
        .collect();
    panel_with(view, image, centre, |w, px| {
        match mask
            .and_then(|m| sample(m, w))
            .and_then(|l| colours.iter().find(|(val, _)| *val == l && l != 0))
        {
            Some((_, col_rgb)) => (col_rgb.over(px, 0.45), false),
            None => (px, false),
        }
    })
}

/// One panel: `image` in grey, each pixel then passed through `tint` with its world point;
/// `tint` also says whether the point lies inside an outlined region, whose edge is drawn
/// in white. Sampled on the plane through `centre` at 1 mm per pixel.
fn panel_with(
    view: View,
    image: &Volume<f32>,
    centre: [f64; 3],
    tint: impl Fn([f64; 3], Rgb) -> (Rgb, bool),
) -> Canvas {
    let b = world_box(image);
    // (column axis, row axis, fixed axis); columns run from hi to lo for x (radiological)
    // and for y (sagittal: anterior on the left); rows from hi to lo (top = anterior or
    // superior).
    let (ca, ra, fa) = match view {
        View::Axial => (0, 1, 2),
        View::Coronal => (0, 2, 1),
        View::Sagittal => (1, 2, 0),
    };
    let width = (b[ca].1 - b[ca].0).round().max(1.0) as usize + 1;
    let height = (b[ra].1 - b[ra].0).round().max(1.0) as usize + 1;
    let (lo, hi) = window(image);
    let mut c = Canvas::new(width, height, Rgb::BLACK);
    let mut inside = vec![false; width * height];
    for row in 0..height {
        for col in 0..width {
            let mut w = [0.0; 3];
            w[ca] = b[ca].1 - col as f64;
            w[ra] = b[ra].1 - row as f64;
            w[fa] = centre[fa];
            let Some(v) = sample(image, w) else { continue };
            let g = (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0) as u8;
            let (px, is_in) = tint(w, Rgb(g, g, g));
            inside[row * width + col] = is_in;
            c.put(col as i64, row as i64, px);
        }
    }
    // The outline: inside pixels with a 4-neighbour outside.
    for row in 0..height {
        for col in 0..width {
            if !inside[row * width + col] {
                continue;
            }
            let edge = (row == 0 || !inside[(row - 1) * width + col])
                || (row + 1 == height || !inside[(row + 1) * width + col])
                || (col == 0 || !inside[row * width + col - 1])
                || (col + 1 == width || !inside[row * width + col + 1]);
            if edge {
                c.put(col as i64, row as i64, Rgb::WHITE);
            }
        }
    }
    // Cross-hair ticks at the centre, on the panel's edges.
    let cx = (b[ca].1 - centre[ca]).round() as i64;
    let cy = (b[ra].1 - centre[ra]).round() as i64;
    let tick = Rgb(0, 200, 255);
    c.line(cx, 0, cx, 6, tick);
    c.line(cx, height as i64 - 7, cx, height as i64 - 1, tick);
    c.line(0, cy, 6, cy, tick);
    c.line(width as i64 - 7, cy, width as i64 - 1, cy, tick);
    c
}

/// Height of a caption line ([`render`]'s `caption`), pixels.
const CAPTION_PX: f32 = 15.0;
const CAPTION_LINE: usize = 20;

/// `"z = 72.0 mm (RAS)"`: the plane of `view` through `centre`.
fn plane_of(view: View, centre: [f64; 3]) -> String {
    let (axis, mm) = match view {
        View::Axial => ("z", centre[2]),
        View::Coronal => ("y", centre[1]),
        View::Sagittal => ("x", centre[0]),
    };
    format!("{axis} = {mm:.1} mm (RAS)")
}

/// The frame the pictures share, on white: `title`, the display convention, `caption` lines
/// (in the bundled Latin + Hangul font), and two panels side by side (doubled when small),
/// each named (at text scale `name_scale`) with the patient's sides marked; `legend_h`
/// pixels are left below. Returns the canvas and the top of the legend.
fn two_panels(
    view: View,
    title: &str,
    caption: &[String],
    panels: [(Canvas, &str); 2],
    name_scale: usize,
    legend_h: usize,
) -> (Canvas, i64) {
    let [(a, a_name), (b, b_name)] = panels;
    let scale = if a.width().max(a.height()) < 300 {
        2
    } else {
        1
    };
    let (a, b) = (a.scaled(scale), b.scaled(scale));
    let gap = 10usize;
    let caption_top = 2 * LINE_HEIGHT + 8;
    let top = 2 * LINE_HEIGHT * 2 + 8 + caption.len() * CAPTION_LINE;
    let caption_w = caption
        .iter()
        .map(|l| Canvas::text_font_width(l, CAPTION_PX) + 20)
        .max()
        .unwrap_or(0);
    let width = (a.width() + b.width() + gap + 20).max(520).max(caption_w);
    let height = top + a.height().max(b.height()) + legend_h;
    let mut c = Canvas::new(width, height, Rgb::WHITE);
    c.text(10, 4, title, 1, Rgb::BLACK);
    c.text(
        10,
        4 + LINE_HEIGHT as i64 + 2,
        match view {
            View::Sagittal => "Display: anterior on the left, superior at the top.",
            _ => "Display: radiological - patient RIGHT on image LEFT.",
        },
        1,
        Rgb::GREY,
    );
    for (n, line) in caption.iter().enumerate() {
        c.text_font(
            10,
            (caption_top + n * CAPTION_LINE) as i64,
            line,
            CAPTION_PX,
            Rgb::BLACK,
        );
    }
    let y0 = top as i64;
    let x0 = 10i64;
    let x1 = x0 + a.width() as i64 + gap as i64;
    c.blit(&a, x0, y0);
    c.blit(&b, x1, y0);
    for (x, w, name) in [(x0, a.width(), a_name), (x1, b.width(), b_name)] {
        c.text(x + 4, y0 + 4, name, name_scale, Rgb(0, 200, 255));
        let (left, right) = match view {
            View::Sagittal => ("A", "P"),
            _ => ("R", "L"),
        };
        let mid = y0 + a.height() as i64 / 2;
        c.text(x + 3, mid, left, 2, Rgb::WHITE);
        c.text(x + w as i64 - 14, mid, right, 2, Rgb::WHITE);
    }
    (c, y0 + a.height().max(b.height()) as i64 + 8)
}

/// The overlay picture for one view: FLAIR and T1ce panels with the mask, a title, side
/// markers and a legend. `caption` lines (Korean or English: the tumour's site and the
/// symptoms, as the [`Diagnoser`](crate::Diagnoser) writes them) go under the title, in the
/// bundled Latin + Hangul font.
pub fn render(
    view: View,
    flair: &Volume<f32>,
    t1ce: &Volume<f32>,
    mask: Option<&Volume<u8>>,
    scheme: &LabelScheme,
    centre: [f64; 3],
    caption: &[String],
) -> Canvas {
    render_through(
        view,
        flair,
        t1ce,
        mask,
        scheme,
        (centre, "the tumour centroid"),
        caption,
    )
}

/// [`render`] through a point named in the title: `(centre, "lesion 2's centroid")`.
pub fn render_through(
    view: View,
    flair: &Volume<f32>,
    t1ce: &Volume<f32>,
    mask: Option<&Volume<u8>>,
    scheme: &LabelScheme,
    (centre, what): ([f64; 3], &str),
    caption: &[String],
) -> Canvas {
    let a = panel(view, flair, mask, scheme, centre);
    let b = panel(view, t1ce, mask, scheme, centre);
    let title = format!(
        "{} slice at {}, through {what}",
        view.name(),
        plane_of(view, centre)
    );
    let legend_h = 2 * LINE_HEIGHT * 2 + 12;
    let (mut c, ly) = two_panels(
        view,
        &title,
        caption,
        [(a, "FLAIR"), (b, "T1ce")],
        2,
        legend_h,
    );
    let mut lx = 10i64;
    for l in scheme.labels() {
        c.fill_rect(lx, ly, 14, 14, colour_of(l.compartment));
        let text = format!(
            "{} ({}, label {})",
            l.name,
            match l.compartment {
                Compartment::Core => "necrotic/non-enhancing core",
                Compartment::Edema => "edema",
                Compartment::Enhancing => "enhancing",
            },
            l.value
        );
        c.text(lx + 18, ly + 3, &text, 1, Rgb::BLACK);
        lx += 18 + Canvas::text_width(&text, 1) as i64 + 16;
    }
    c.text(
        10,
        ly + 22,
        "Decision support, not a diagnosis.",
        1,
        Rgb(160, 0, 0),
    );
    c
}

/// The colour of a probability: viridis at five stops (dark violet at 0, through blue and
/// green, to yellow at 1), linear in between; readable to colour-blind eyes and darkest where
/// the model is least sure of tumour.
pub fn probability_colour(p: f32) -> Rgb {
    const STOPS: [(f32, f32, f32); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = if p.is_finite() {
        p.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let i = (x.floor() as usize).min(3);
    let t = x - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |u: f32, v: f32| (u + (v - u) * t).round() as u8;
    Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Probabilities under this are left uncoloured in [`render_certainty`].
pub const SHOWN_FROM: f32 = 0.05;

/// The model's certainty for one view: the probability of whole tumour over FLAIR and of
/// enhancing tumour over T1ce, coloured by [`probability_colour`] from [`SHOWN_FROM`] up,
/// with the label map's whole tumour (left) and enhancing tumour (right) outlined in white,
/// a colour bar and the disclaimer. The maps are
/// [`unet3d::predict::Prediction::region_probabilities`]' first and third, on the images'
/// grid. Where a region's colour runs past its outline, or its outline holds green and blue,
/// the model hesitated: look there first.
#[allow(clippy::too_many_arguments)]
pub fn render_certainty(
    view: View,
    flair: &Volume<f32>,
    t1ce: &Volume<f32>,
    p_whole: &Volume<f32>,
    p_enhancing: &Volume<f32>,
    mask: &Volume<u8>,
    scheme: &LabelScheme,
    centre: [f64; 3],
) -> Canvas {
    let whole: Vec<u8> = scheme
        .labels()
        .iter()
        .map(|l| l.value)
        .filter(|&v| v != 0)
        .collect();
    let enhancing: Vec<u8> = scheme
        .labels()
        .iter()
        .filter(|l| l.compartment == Compartment::Enhancing)
        .map(|l| l.value)
        .collect();
    let heat = |p: &Volume<f32>, labels: &[u8], w: [f64; 3], px: Rgb| {
        let is_in = sample(mask, w).is_some_and(|l| labels.contains(&l));
        match sample(p, w) {
            Some(v) if v >= SHOWN_FROM => (probability_colour(v).over(px, 0.6), is_in),
            _ => (px, is_in),
        }
    };
    let a = panel_with(view, flair, centre, |w, px| heat(p_whole, &whole, w, px));
    let b = panel_with(view, t1ce, centre, |w, px| {
        heat(p_enhancing, &enhancing, w, px)
    });
    let title = format!(
        "The model's certainty: {} slice at {}",
        view.name(),
        plane_of(view, centre)
    );
    let (mut c, ly) = two_panels(
        view,
        &title,
        &[],
        [(a, "FLAIR: P(whole tumour)"), (b, "T1ce: P(enhancing)")],
        1,
        2 * LINE_HEIGHT * 2 + 40,
    );
    // The colour bar, SHOWN_FROM to 1.
    let bar_w = 200usize;
    c.text(10, ly + 3, "probability", 1, Rgb::BLACK);
    let bx = 10 + Canvas::text_width("probability", 1) as i64 + 8;
    for x in 0..bar_w {
        let p = SHOWN_FROM + (1.0 - SHOWN_FROM) * x as f32 / (bar_w - 1) as f32;
        c.fill_rect(bx + x as i64, ly, 1, 14, probability_colour(p));
    }
    c.stroke_rect(bx - 1, ly - 1, bar_w + 2, 16, Rgb::GREY);
    let ticks = [(SHOWN_FROM, "0.05"), (0.5, "0.5"), (1.0, "1")];
    for (p, t) in ticks {
        let x = bx + ((p - SHOWN_FROM) / (1.0 - SHOWN_FROM) * (bar_w - 1) as f32).round() as i64;
        c.line(x, ly + 14, x, ly + 18, Rgb::BLACK);
        c.text(
            x - Canvas::text_width(t, 1) as i64 / 2,
            ly + 21,
            t,
            1,
            Rgb::BLACK,
        );
    }
    c.text(
        bx + bar_w as i64 + 12,
        ly + 3,
        "white outline: the map (whole tumour / enhancing)",
        1,
        Rgb::BLACK,
    );
    c.text(
        10,
        ly + 36,
        "The model's own estimate, before post-processing. Decision support, not a diagnosis.",
        1,
        Rgb(160, 0, 0),
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use brats_io::Geometry;
    use ndarray::Array3;

    #[test]
    fn probability_colours_run_from_violet_to_yellow() {
        assert_eq!(probability_colour(0.0), Rgb(68, 1, 84));
        assert_eq!(probability_colour(1.0), Rgb(253, 231, 37));
        assert_eq!(probability_colour(0.5), Rgb(33, 145, 140));
        assert_eq!(probability_colour(f32::NAN), probability_colour(0.0));
        assert_eq!(probability_colour(7.0), probability_colour(1.0));
        // Brighter (green channel) as the probability rises.
        let greens: Vec<u8> = (0..=10)
            .map(|n| probability_colour(n as f32 / 10.0).1)
            .collect();
        assert!(greens.windows(2).all(|w| w[0] <= w[1]), "{greens:?}");
    }

    /// A ball the model is sure of inside a halo it hesitates over: the ball in the colour of
    /// 1 with a white outline where the map ends, the halo in the colour of 0.4, the rest
    /// uncoloured.
    #[test]
    fn certainty_colours_the_probability_and_outlines_the_map() {
        let g = Geometry::from_spacing([40, 40, 20], [1.0; 3]).unwrap();
        let d = |k: usize, j: usize, i: usize| {
            (((i as f64 - 20.0).powi(2) + (j as f64 - 20.0).powi(2) + (k as f64 - 10.0).powi(2))
                .sqrt()) as f32
        };
        let image = Volume::new(Array3::from_elem(g.shape(), 100.0f32), g.clone()).unwrap();
        let p = Volume::new(
            Array3::from_shape_fn(g.shape(), |(k, j, i)| match d(k, j, i) {
                r if r < 6.0 => 1.0,
                r if r < 10.0 => 0.4,
                _ => 0.0,
            }),
            g.clone(),
        )
        .unwrap();
        let mask = p.map(|&v| if v > 0.5 { 4u8 } else { 0 });
        let scheme = LabelScheme::brats2021();
        let centre = g.voxel_to_world([20.0, 20.0, 10.0]);
        let c = render_certainty(View::Axial, &image, &image, &p, &p, &mask, &scheme, centre);
        // Count pixels by colour (a flat image shows black): p = 1, the white
        // outline, and p = 0.4.
        let (mut yellow, mut white, mut halo) = (0, 0, 0);
        let sure = probability_colour(1.0).over(Rgb::BLACK, 0.6);
        let hesitant = probability_colour(0.4).over(Rgb::BLACK, 0.6);
        for y in 0..c.height() {
            for x in 0..c.width() {
                match c.get(x, y) {
                    Some(px) if px == sure => yellow += 1,
                    Some(px) if px == hesitant => halo += 1,
                    Some(Rgb::WHITE) => white += 1,
                    _ => {}
                }
            }
        }
        assert!(yellow > 100, "{yellow}");
        assert!(halo > yellow, "{halo} {yellow}");
        assert!(white > 0);
    }
}
