//! Tumours grown inside the warped anatomy: where they start, their shape and compartments,
//! the edema that spreads along white matter, and the push they give the tissue around them.
//!
//! Subtypes (frequencies in [`Subtype::draw`]):
//! - **high-grade glioma** — an irregular mass in the cerebral white matter or deep grey
//!   matter (about a third reaching the cortex), a necrotic centre (absent in some), an
//!   irregular enhancing rim from thick to thin that is patchy in places (the gaps
//!   non-enhancing core), and edema that follows white matter and spares cortex; one in five
//!   crosses the midline through the corpus callosum (butterfly); about one in seven of the
//!   others is multifocal (one or two smaller ring-enhancing foci nearby).
//! - **lower-grade glioma** — a larger, infiltrative, non-enhancing mass (the whole core is
//!   non-enhancing tumour, label NCR/NETC), which may reach the cortex, little edema, and
//!   small enhancing foci in a few; it pushes less.
//! - **metastases** — one to four small lesions at the grey–white junction (a few in the
//!   cerebellum), ring-enhancing when larger than about 6 mm (solid when smaller), with
//!   edema out of proportion to their size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use ndarray::Array3;
use rand::Rng;

use super::anatomy::{Push, Template, Tissue, Warp};
use super::field::LatticeField;

/// Tumour kinds the generator draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subtype {
    /// Glioblastoma-like: necrosis, enhancing rim, white-matter edema.
    HighGrade,
    /// Non-enhancing, infiltrative, little edema.
    LowGrade,
    /// One to four small ring- or solid-enhancing lesions with large edema.
    Metastasis,
}

impl Subtype {
    /// Every subtype.
    pub const ALL: [Subtype; 3] = [Subtype::HighGrade, Subtype::LowGrade, Subtype::Metastasis];

    /// Its name (`high_grade`, `low_grade`, `metastasis`).
    pub fn name(self) -> &'static str {
        match self {
            Subtype::HighGrade => "high_grade",
            Subtype::LowGrade => "low_grade",
            Subtype::Metastasis => "metastasis",
        }
    }

    /// Draws a subtype: high-grade 50 %, lower-grade 25 %, metastases 25 % (roughly the mix
    /// of a BraTS-like training set with the 2023 metastasis challenge added).
    pub(crate) fn draw(rng: &mut impl Rng) -> Subtype {
        match rng.random_range(0..4) {
            0 | 1 => Subtype::HighGrade,
            2 => Subtype::LowGrade,
            _ => Subtype::Metastasis,
        }
    }
}

/// What a tumour voxel looks like (the image model gives each its own intensities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Part {
    None = 0,
    Edema = 1,
    Necrosis = 2,
    Enhancing = 3,
    /// Non-enhancing tumour core.
    NonEnhancing = 4,
}

impl Part {
    pub(crate) fn from_u8(v: u8) -> Part {
        match v {
            1 => Part::Edema,
            2 => Part::Necrosis,
            3 => Part::Enhancing,
            4 => Part::NonEnhancing,
            _ => Part::None,
        }
    }
}

/// One lesion.
#[derive(Debug, Clone)]
pub(crate) struct Lesion {
    /// Centre, output voxel `[k, j, i]`.
    pub(crate) centre: [f64; 3],
    /// Mean core radius (mm).
    pub(crate) radius: f64,
    /// Stretch along `[k, j, i]` (a callosal tumour is wide along i).
    stretch: [f64; 3],
    /// Irregularity of the outline (share of the radius).
    roughness: f32,
    /// Necrotic share of the radius (0: none).
    necrosis: f64,
    /// Share of the rim that does not enhance.
    rim_gap: f32,
    /// Whether the core enhances at all (LGG: only in foci).
    enhancing: bool,
    /// Edema reach beyond the core along white matter (mm).
    pub(crate) edema_mm: f64,
    /// Push strength (see [`Push`]).
    push: f64,
}

/// A case's tumour.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) subtype: Subtype,
    pub(crate) callosal: bool,
    pub(crate) lesions: Vec<Lesion>,
    shape_field: LatticeField,
    rim_field: LatticeField,
    edema_field: LatticeField,
}

impl Plan {
    /// Places the lesions of `subtype` in the anatomy `warp` makes of `t`.
    pub(crate) fn draw(rng: &mut impl Rng, subtype: Subtype, warp: &Warp, t: &Template) -> Plan {
        let shape = <[usize; 3]>::from(t.tissue.dim());
        let callosal = subtype == Subtype::HighGrade && rng.random_bool(0.2);
        let mut lesions = Vec::new();
        match subtype {
            Subtype::HighGrade => {
                let radius = log_uniform(rng, 10.0, 30.0);
                // About a third reach the cortex (glioblastomas often abut the pial surface);
                // the others sit deeper in the white matter.
                let superficial = !callosal && rng.random_bool(0.35);
                let centre = if callosal {
                    place(rng, warp, t, radius * 0.5, callosal_site)
                } else if superficial {
                    // Centred less than a radius deep: the mass reaches the cortex.
                    place(rng, warp, t, radius * 0.15, |t: &Template, q| {
                        if f64::from(t.depth[q]) < radius {
                            superficial_glioma_site(t, q)
                        } else {
                            0.0
                        }
                    })
                } else {
                    place(rng, warp, t, radius * 0.6, glioma_site)
                };
                let stretch = if callosal {
                    [0.85, 0.9, rng.random_range(1.6..2.3)]
                } else {
                    [0; 3].map(|_| rng.random_range(0.8..1.25))
                };
                lesions.push(Lesion {
                    centre,
                    radius,
                    stretch,
                    roughness: rng.random_range(0.12..0.3),
                    // Rims from thick (a quarter necrotic) to thin (a rim of 15 % of the
                    // radius: 1.5–4.5 mm).
                    necrosis: if rng.random_bool(0.85) {
                        rng.random_range(0.25..0.85)
                    } else {
                        0.0
                    },
                    rim_gap: rng.random_range(0.0..0.3),
                    enhancing: true,
                    // Glioblastoma edema often runs several centimetres along the white
                    // matter beyond the enhancing margin. Log-uniform: the typical reach
                    // stays about 15 mm, one in five reaches 30–45 mm (with at most 30 mm
                    // the network left such edema out on a real scan, or called it core).
                    edema_mm: log_uniform(rng, 5.0, 45.0),
                    push: rng.random_range(0.5..1.0),
                });
                // Multifocal glioblastoma (about one in seven): one or two smaller
                // ring-enhancing foci within a few centimetres of the main mass.
                if !callosal && rng.random_bool(0.15) {
                    for _ in 0..rng.random_range(1..=2) {
                        let r = log_uniform(rng, 4.0, 12.0);
                        let gap = radius + r;
                        let Some(c) = place_near(rng, warp, t, centre, gap..gap + 25.0, r * 0.3)
                        else {
                            continue;
                        };
                        lesions.push(Lesion {
                            centre: c,
                            radius: r,
                            stretch: [0; 3].map(|_| rng.random_range(0.85..1.2)),
                            roughness: rng.random_range(0.1..0.25),
                            necrosis: if r > 5.0 {
                                rng.random_range(0.4..0.85)
                            } else {
                                0.0
                            },
                            rim_gap: rng.random_range(0.0..0.2),
                            enhancing: true,
                            edema_mm: rng.random_range(3.0..15.0),
                            push: rng.random_range(0.3..0.7),
                        });
                    }
                }
            }
            Subtype::LowGrade => {
                let radius = log_uniform(rng, 10.0, 32.0);
                let centre = place(rng, warp, t, radius * 0.5, glioma_site);
                lesions.push(Lesion {
                    centre,
                    radius,
                    stretch: [0; 3].map(|_| rng.random_range(0.75..1.3)),
                    roughness: rng.random_range(0.2..0.4),
                    necrosis: 0.0,
                    rim_gap: 1.0,
                    enhancing: rng.random_bool(0.15),
                    edema_mm: rng.random_range(0.0..6.0),
                    push: rng.random_range(0.2..0.6),
                });
            }
            Subtype::Metastasis => {
                let n = match rng.random_range(0..10) {
                    0..=4 => 1,
                    5..=7 => 2,
                    8 => 3,
                    _ => 4,
                };
                for _ in 0..n {
                    let radius = log_uniform(rng, 3.0, 15.0);
                    let centre = place(rng, warp, t, radius, junction_site);
                    lesions.push(Lesion {
                        centre,
                        radius,
                        stretch: [0; 3].map(|_| rng.random_range(0.85..1.15)),
                        roughness: rng.random_range(0.05..0.15),
                        necrosis: if radius > 6.0 {
                            rng.random_range(0.3..0.7)
                        } else {
                            0.0
                        },
                        rim_gap: 0.0,
                        enhancing: true,
                        edema_mm: rng.random_range(8.0..30.0) / (n as f64).sqrt(),
                        push: rng.random_range(0.6..1.0),
                    });
                }
            }
        }
        Plan {
            subtype,
            callosal,
            lesions,
            shape_field: LatticeField::with_spacing_in(rng, shape, 6.0..12.0),
            rim_field: LatticeField::with_spacing_in(rng, shape, 4.0..8.0),
            edema_field: LatticeField::with_spacing_in(rng, shape, 6.0..14.0),
        }
    }

    /// Makes the tumour smaller for a redraw when its whole tumour came out beyond BraTS's
    /// range: the edema's reach shrinks by a fifth (edema is what runs beyond the range: a
    /// high-grade glioma of 30 mm radius with 45 mm of reach along the white matter fills a
    /// lobe and more); once no lesion has more than 2 mm of it left, the cores shrink by a
    /// fifth of their volume. False once the cores are down to 5 mm radius (nothing left to
    /// take). Draws nothing, so the case's other choices stay as they were.
    pub(crate) fn shrink(&mut self) -> bool {
        if self.lesions.iter().any(|l| l.edema_mm > 2.0) {
            for l in &mut self.lesions {
                l.edema_mm *= 0.8;
            }
            true
        } else if self.lesions.iter().any(|l| l.radius > 5.0) {
            for l in &mut self.lesions {
                l.radius = (l.radius * 0.8f64.cbrt()).max(l.radius.min(5.0));
            }
            true
        } else {
            false
        }
    }

    /// The lesions' mass effect.
    pub(crate) fn pushes(&self) -> Vec<Push> {
        self.lesions
            .iter()
            .map(|l| Push {
                centre: l.centre,
                radius: l.radius * (l.stretch.iter().product::<f64>()).cbrt() + 0.3 * l.edema_mm,
                strength: l.push,
            })
            .collect()
    }

    /// Paints the tumour into the case's (already pushed) tissue map: a [`Part`] per voxel.
    pub(crate) fn paint(&self, tissue: &Array3<u8>) -> Array3<u8> {
        let mut parts = Array3::<u8>::zeros(tissue.dim());
        for l in &self.lesions {
            self.paint_core(l, tissue, &mut parts);
        }
        self.grow_edema(tissue, &mut parts);
        parts
    }

    fn paint_core(&self, l: &Lesion, tissue: &Array3<u8>, parts: &mut Array3<u8>) {
        let (nk, nj, ni) = tissue.dim();
        let reach = l.radius * l.stretch.iter().cloned().fold(1.0, f64::max) * 1.6 + 2.0;
        let range = |c: f64, n: usize| {
            let lo = (c - reach).floor().max(0.0) as usize;
            let hi = ((c + reach).ceil() as usize + 1).min(n);
            lo..hi
        };
        for k in range(l.centre[0], nk) {
            for j in range(l.centre[1], nj) {
                for i in range(l.centre[2], ni) {
                    if tissue[[k, j, i]] == Tissue::Background as u8 {
                        continue;
                    }
                    let p = [k as f64, j as f64, i as f64];
                    let d = [0, 1, 2].map(|a| (p[a] - l.centre[a]) / l.stretch[a]);
                    let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() / l.radius;
                    let rho = r + f64::from(l.roughness * self.shape_field.at(p[0], p[1], p[2]));
                    if rho >= 1.0 {
                        continue;
                    }
                    let rim = self.rim_field.at(p[0], p[1], p[2]);
                    let part = if !l.enhancing {
                        Part::NonEnhancing
                    } else if l.rim_gap >= 1.0 {
                        // Lower grade with enhancing foci.
                        if rho < 0.8 && rim > 1.1 {
                            Part::Enhancing
                        } else {
                            Part::NonEnhancing
                        }
                    } else if rho < l.necrosis {
                        Part::Necrosis
                    } else if rim < -1.0 + 2.0 * l.rim_gap && l.rim_gap > 0.0 {
                        Part::NonEnhancing
                    } else {
                        Part::Enhancing
                    };
                    let cell = &mut parts[[k, j, i]];
                    // Overlapping lesions: enhancing wins over core over edema.
                    let rank = |p: u8| match Part::from_u8(p) {
                        Part::None => 0,
                        Part::Edema => 1,
                        Part::Necrosis | Part::NonEnhancing => 2,
                        Part::Enhancing => 3,
                    };
                    if rank(part as u8) > rank(*cell) {
                        *cell = part as u8;
                    }
                }
            }
        }
    }

    /// Edema: every non-fluid voxel whose path cost from a core voxel is under the lesion's
    /// reach (varied by a smooth field), where a millimetre of white matter costs 1, of deep
    /// grey matter 1.8, of cortex 4 (edema spares cortex) and fluid cannot be crossed.
    fn grow_edema(&self, tissue: &Array3<u8>, parts: &mut Array3<u8>) {
        let reach = self.lesions.iter().map(|l| l.edema_mm).fold(0.0, f64::max);
        if reach <= 0.0 {
            return;
        }
        let (nk, nj, ni) = tissue.dim();
        let core: Vec<[usize; 3]> = parts
            .indexed_iter()
            .filter(|(_, &p)| p != 0)
            .map(|((k, j, i), _)| [k, j, i])
            .collect();
        if core.is_empty() {
            return;
        }
        // The box the edema can reach.
        let lim = (reach * 1.5).ceil() as usize + 2;
        let mut lo = [usize::MAX; 3];
        let mut hi = [0usize; 3];
        for c in &core {
            for a in 0..3 {
                lo[a] = lo[a].min(c[a].saturating_sub(lim));
                hi[a] = hi[a].max(c[a] + lim + 1);
            }
        }
        let hi = [hi[0].min(nk), hi[1].min(nj), hi[2].min(ni)];
        let dims = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
        let idx =
            |p: [usize; 3]| ((p[0] - lo[0]) * dims[1] + (p[1] - lo[1])) * dims[2] + (p[2] - lo[2]);
        let mut dist = vec![f32::INFINITY; dims[0] * dims[1] * dims[2]];
        // Each core voxel starts with the reach of its nearest lesion subtracted, so that
        // several lesions keep their own edema sizes: the front stores "reach left".
        let mut heap = BinaryHeap::new();
        for c in &core {
            let Some(l) = self.nearest_lesion(*c) else {
                continue;
            };
            let budget = -(l.edema_mm as f32);
            let n = idx(*c);
            dist[n] = budget;
            heap.push(Reverse((Key(budget), n)));
        }
        let cost = |t: u8| match Tissue::from_u8(t) {
            Tissue::WhiteMatter | Tissue::CerebellarWm => 1.0f32,
            Tissue::Brainstem => 1.3,
            Tissue::DeepGm => 1.8,
            Tissue::CerebellarGm => 3.0,
            Tissue::CorticalGm => 4.0,
            _ => f32::INFINITY,
        };
        while let Some(Reverse((Key(d), n))) = heap.pop() {
            if d > dist[n] || d >= 0.0 {
                continue;
            }
            let k = n / (dims[1] * dims[2]) + lo[0];
            let j = (n / dims[2]) % dims[1] + lo[1];
            let i = n % dims[2] + lo[2];
            for dk in -1i64..=1 {
                for dj in -1i64..=1 {
                    for di in -1i64..=1 {
                        if (dk, dj, di) == (0, 0, 0) {
                            continue;
                        }
                        let q = [k as i64 + dk, j as i64 + dj, i as i64 + di];
                        if (0..3).any(|a| q[a] < lo[a] as i64 || q[a] >= hi[a] as i64) {
                            continue;
                        }
                        let q = q.map(|x| x as usize);
                        let c = cost(tissue[q]);
                        if !c.is_finite() {
                            continue;
                        }
                        let step = ((dk * dk + dj * dj + di * di) as f32).sqrt();
                        let wobble =
                            1.0 + 0.35 * self.edema_field.at(q[0] as f64, q[1] as f64, q[2] as f64);
                        let nd = d + step * c / wobble.max(0.3);
                        let m = idx(q);
                        if nd < dist[m] {
                            dist[m] = nd;
                            heap.push(Reverse((Key(nd), m)));
                        }
                    }
                }
            }
        }
        for k in lo[0]..hi[0] {
            for j in lo[1]..hi[1] {
                for i in lo[2]..hi[2] {
                    let p = [k, j, i];
                    if parts[p] == 0 && dist[idx(p)] < 0.0 && !Tissue::from_u8(tissue[p]).is_fluid()
                    {
                        parts[p] = Part::Edema as u8;
                    }
                }
            }
        }
    }

    fn nearest_lesion(&self, p: [usize; 3]) -> Option<&Lesion> {
        let d2 = |l: &Lesion| {
            (0..3)
                .map(|a| (p[a] as f64 - l.centre[a]).powi(2))
                .sum::<f64>()
                / l.radius
        };
        self.lesions.iter().min_by(|a, b| d2(a).total_cmp(&d2(b)))
    }
}

/// A heap key: non-NaN f32 ordered totally.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f32);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn log_uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    (rng.random_range(lo.ln()..hi.ln())).exp()
}

/// Draws an output voxel whose template tissue `site` accepts (with the returned
/// probability), at least `margin` mm inside the brain; after 4000 tries, the brain centre.
fn place(
    rng: &mut impl Rng,
    warp: &Warp,
    t: &Template,
    margin: f64,
    site: impl Fn(&Template, [usize; 3]) -> f64,
) -> [f64; 3] {
    let (nk, nj, ni) = t.tissue.dim();
    for _ in 0..4000 {
        let p = [
            rng.random_range(0.0..nk as f64),
            rng.random_range(0.0..nj as f64),
            rng.random_range(0.0..ni as f64),
        ];
        if accepts(rng, warp, t, p, margin, &site) {
            return p;
        }
    }
    t.centre
}

/// Like [`place`], at a distance in `dist` (mm) from `centre` in a random direction; `None`
/// after 400 tries.
fn place_near(
    rng: &mut impl Rng,
    warp: &Warp,
    t: &Template,
    centre: [f64; 3],
    dist: std::ops::Range<f64>,
    margin: f64,
) -> Option<[f64; 3]> {
    for _ in 0..400 {
        let v = [0; 3].map(|_| rng.random_range(-1.0..1.0f64));
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if !(0.1..=1.0).contains(&n) {
            continue;
        }
        let d = rng.random_range(dist.clone());
        let p = [0, 1, 2].map(|a| centre[a] + v[a] / n * d);
        if accepts(rng, warp, t, p, margin, &superficial_glioma_site) {
            return Some(p);
        }
    }
    None
}

/// Whether output voxel `p` lies on the template (through the warp) at least `margin` mm
/// (at most 25) inside the brain, and `site` accepts its tissue (a random draw with the
/// returned probability).
fn accepts(
    rng: &mut impl Rng,
    warp: &Warp,
    t: &Template,
    p: [f64; 3],
    margin: f64,
    site: &impl Fn(&Template, [usize; 3]) -> f64,
) -> bool {
    let (nk, nj, ni) = t.tissue.dim();
    let q = warp.unpushed(t, p).map(f64::round);
    if q.iter().any(|&x| x.is_nan() || x < 0.0)
        || q[0] >= nk as f64
        || q[1] >= nj as f64
        || q[2] >= ni as f64
    {
        return false;
    }
    let q = q.map(|x| x as usize);
    if f64::from(t.depth[q]) < margin.min(25.0) {
        return false;
    }
    rng.random_bool(site(t, q).clamp(0.0, 1.0))
}

/// Gliomas: cerebral white matter, less often deep grey matter, rarely the posterior fossa.
fn glioma_site(t: &Template, q: [usize; 3]) -> f64 {
    match Tissue::from_u8(t.tissue[q]) {
        Tissue::WhiteMatter => 1.0,
        Tissue::DeepGm => 0.4,
        Tissue::CerebellarWm => 0.1,
        Tissue::Brainstem => 0.05,
        _ => 0.0,
    }
}

/// Gliomas that reach the surface: white matter, cortex, less often deep grey matter.
fn superficial_glioma_site(t: &Template, q: [usize; 3]) -> f64 {
    match Tissue::from_u8(t.tissue[q]) {
        Tissue::WhiteMatter => 1.0,
        Tissue::CorticalGm => 0.6,
        Tissue::DeepGm => 0.2,
        _ => 0.0,
    }
}

/// Callosal gliomas: white matter within 5 mm of the midline, above the ventricles' centre.
fn callosal_site(t: &Template, q: [usize; 3]) -> f64 {
    let on_midline = (q[2] as f64 - t.centre[2]).abs() < 5.0;
    let above =
        (q[0] as f64) > t.ventricle_centre[0] && (q[0] as f64) < t.ventricle_centre[0] + 25.0;
    f64::from(u8::from(
        on_midline && above && Tissue::from_u8(t.tissue[q]) == Tissue::WhiteMatter,
    ))
}

/// Metastases: white matter with cortex within 3 mm (the grey–white junction); a few in the
/// cerebellum.
fn junction_site(t: &Template, q: [usize; 3]) -> f64 {
    let here = Tissue::from_u8(t.tissue[q]);
    let (gm, w) = match here {
        Tissue::WhiteMatter => (Tissue::CorticalGm, 1.0),
        Tissue::CerebellarWm => (Tissue::CerebellarGm, 0.3),
        _ => return 0.0,
    };
    let (nk, nj, ni) = t.tissue.dim();
    let near = (-3i64..=3).any(|a| {
        (-3i64..=3).any(|b| {
            (-3i64..=3).any(|c| {
                let r = [q[0] as i64 + a, q[1] as i64 + b, q[2] as i64 + c];
                r.iter().all(|&x| x >= 0)
                    && (r[0] as usize) < nk
                    && (r[1] as usize) < nj
                    && (r[2] as usize) < ni
                    && t.tissue[r.map(|x| x as usize)] == gm as u8
            })
        })
    });
    if near {
        w
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::super::anatomy::{template, Warp};
    use super::*;

    fn depth_at(t: &Template, warp: &Warp, p: [f64; 3]) -> f64 {
        let q = warp.unpushed(t, p).map(|x| x.round() as usize);
        f64::from(t.depth[q])
    }

    /// High-grade gliomas: some reach the cortex, some are multifocal (with their foci near
    /// the main mass and inside the brain), rims reach down to thin.
    #[test]
    fn high_grade_gliomas_vary_in_site_focality_and_rim() {
        let t = template().unwrap();
        let shape = <[usize; 3]>::from(t.tissue.dim());
        let n = 300;
        let (mut superficial, mut multifocal, mut thin) = (0, 0, 0);
        for seed in 0..n {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let warp = Warp::random(&mut rng, shape);
            let plan = Plan::draw(&mut rng, Subtype::HighGrade, &warp, t);
            let main = &plan.lesions[0];
            // Deep gliomas sit at least 0.6 radius deep (or 25 mm).
            if depth_at(t, &warp, main.centre) < 0.6 * main.radius {
                superficial += 1;
            }
            if main.necrosis > 0.75 {
                thin += 1;
            }
            assert!(main.necrosis < 0.86, "{}", main.necrosis);
            if plan.lesions.len() > 1 {
                multifocal += 1;
                assert!(!plan.callosal && plan.lesions.len() <= 3);
                for l in &plan.lesions[1..] {
                    let d = (0..3)
                        .map(|a| (l.centre[a] - main.centre[a]).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    assert!(
                        d >= main.radius + l.radius && d <= main.radius + l.radius + 25.0,
                        "focus {d} mm from a mass of radius {}",
                        main.radius
                    );
                    assert!(depth_at(t, &warp, l.centre) >= l.radius * 0.3 - 1.0);
                }
            }
        }
        let share = |c: usize| c as f64 / n as f64;
        assert!(share(superficial) > 0.06, "superficial {superficial}/{n}");
        assert!(
            (0.07..0.25).contains(&share(multifocal)),
            "multifocal {multifocal}/{n}"
        );
        assert!(share(thin) > 0.1, "thin rims {thin}/{n}");
    }
}
