//! The phantom brain: tissue classes and their intensities, smooth random fields, the
//! head shape, cortex folding and the coarse site names.

use std::f64::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(super) enum Tissue {
    Background = 0,
    Csf,
    Grey,
    White,
    DeepGrey,
}

/// Intensities [FLAIR, T1, T1ce, T2] per tissue (white matter T1 = 1000).
pub(super) const TISSUE: [[f32; 4]; 5] = [
    [0.0, 0.0, 0.0, 0.0],
    [150.0, 350.0, 380.0, 1800.0],
    [620.0, 650.0, 690.0, 950.0],
    [480.0, 1000.0, 1020.0, 650.0],
    [580.0, 780.0, 800.0, 820.0],
];
pub(super) const EDEMA: [f32; 4] = [1150.0, 560.0, 590.0, 1500.0];
pub(super) const NECROSIS: [f32; 4] = [500.0, 380.0, 420.0, 1650.0];
pub(super) const ENHANCING: [f32; 4] = [900.0, 600.0, 1600.0, 1100.0];

/// A smooth random field: a sum of plane waves `sin(f · (d·p) + φ)`.
#[derive(Debug, Clone)]
pub(super) struct Waves(pub(super) Vec<([f64; 3], f64, f64, f64)>);

impl Waves {
    pub(super) fn new(rng: &mut ChaCha8Rng, n: usize, wavelength: (f64, f64)) -> Self {
        Waves(
            (0..n)
                .map(|_| {
                    let d = unit(rng);
                    let wl = rng.random_range(wavelength.0..=wavelength.1);
                    let phase = rng.random_range(0.0..2.0 * PI);
                    let amp = rng.random_range(0.5..1.0);
                    (d, 2.0 * PI / wl, phase, amp)
                })
                .collect(),
        )
    }

    /// Value in about [-1, 1].
    pub(super) fn at(&self, p: [f64; 3]) -> f64 {
        let (mut s, mut w) = (0.0, 0.0);
        for (d, f, ph, a) in &self.0 {
            s += a * (f * (d[0] * p[0] + d[1] * p[1] + d[2] * p[2]) + ph).sin();
            w += a;
        }
        if w > 0.0 {
            s / w * 1.6
        } else {
            0.0
        }
    }
}

pub(super) fn unit(rng: &mut ChaCha8Rng) -> [f64; 3] {
    loop {
        let v = [0, 1, 2].map(|_| rng.random_range(-1.0..1.0f64));
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if n > 0.1 && n <= 1.0 {
            return v.map(|x| x / n);
        }
    }
}

pub(super) struct Anatomy {
    pub(super) s: f64,
    /// Per-axis head size factors (u, v, w) of this case.
    pub(super) head: [f64; 3],
    pub(super) surface: Waves,
    pub(super) folds: Waves,
    pub(super) texture: Waves,
    pub(super) cerebellum_folds: f64,
}

/// Centre and semi-axes (full-size mm, anatomical frame) of the cerebellum.
pub(super) const CEREBELLUM: ([f64; 3], [f64; 3]) = ([0.0, -52.0, -34.0], [50.0, 27.0, 21.0]);

pub(super) fn ellipsoid(p: [f64; 3], c: [f64; 3], a: [f64; 3]) -> f64 {
    let d = [0, 1, 2].map(|i| (p[i] - c[i]) / a[i]);
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

impl Anatomy {
    /// Case millimetres → full-size, average-head coordinates.
    pub(super) fn normalise(&self, p: [f64; 3]) -> [f64; 3] {
        [0, 1, 2].map(|a| p[a] / (self.s * self.head[a]))
    }

    /// Full-size, average-head coordinates → case millimetres.
    pub(super) fn denormalise(&self, q: [f64; 3]) -> [f64; 3] {
        [0, 1, 2].map(|a| q[a] * self.s * self.head[a])
    }

    /// Tissue at anatomical point `p = (u, v, w)` mm from the brain centre (u → right,
    /// v → anterior, w → superior), plus whether the point is in the cerebellum.
    pub(super) fn tissue(&self, p: [f64; 3]) -> (Tissue, bool) {
        let q = self.normalise(p); // full-size, average-head coordinates
                                   // Cerebellum and brainstem first (they sit below the tentorium).
        let rc = ellipsoid(q, CEREBELLUM.0, CEREBELLUM.1);
        if rc < 1.0 {
            let depth = (1.0 - rc) * 22.0;
            if depth < 1.0 {
                return (Tissue::Csf, true);
            }
            if rc < 0.45 && q[0].abs() > 6.0 {
                return (Tissue::White, true);
            }
            // Folia: concentric leaves around the cerebellar centre, gently warped.
            let r = ellipsoid(q, CEREBELLUM.0, [1.0, 1.0, 1.0]);
            let folia =
                (r * self.cerebellum_folds + 1.5 * self.surface.at(q.map(|x| x / 30.0))).sin();
            return (
                if folia > 0.75 {
                    Tissue::Csf
                } else if folia > -0.2 || depth < 4.0 {
                    Tissue::Grey
                } else {
                    Tissue::White
                },
                true,
            );
        }
        let bs = ((q[0] / 11.0).powi(2) + ((q[1] + 20.0) / 13.0).powi(2)).sqrt();
        if bs < 1.0 - 0.004 * (-q[2] - 8.0).max(0.0) && q[2] < -8.0 && q[2] > -70.0 {
            return (
                if bs > 0.85 {
                    Tissue::Csf
                } else if bs > 0.7 {
                    Tissue::DeepGrey
                } else {
                    Tissue::White
                },
                false,
            );
        }
        // Cerebrum: narrower frontal pole, irregular surface.
        let narrowing = 1.0 - 0.12 * (q[1] / 86.0).max(0.0);
        let rho = ellipsoid(q, [0.0, 0.0, 8.0], [68.0 * narrowing, 86.0, 58.0]);
        let dirn = q.map(|x| x / 40.0);
        let rho = rho / (1.0 + 0.03 * self.surface.at(dirn));
        if rho >= 1.0 {
            return (Tissue::Background, false);
        }
        let depth = (1.0 - rho) * 62.0; // ≈ mm below the surface
        if depth < 1.0 {
            return (Tissue::Csf, false);
        }
        // Interhemispheric fissure above the corpus callosum.
        if q[0].abs() < 1.5 && q[2] > 22.0 {
            return (Tissue::Csf, false);
        }
        // Ventricles: curved lateral bodies and the third ventricle.
        for side in [-1.0, 1.0] {
            let c = [side * 8.5, 2.0, 16.0 - 0.006 * q[1] * q[1]];
            if ellipsoid(q, c, [4.5, 30.0, 6.0]) < 1.0 {
                return (Tissue::Csf, false);
            }
        }
        if q[0].abs() < 1.6 && q[1].abs() < 12.0 && q[2] > -8.0 && q[2] < 9.0 {
            return (Tissue::Csf, false);
        }
        // Deep grey: thalami and basal ganglia.
        for side in [-1.0, 1.0] {
            if ellipsoid(q, [side * 11.0, -9.0, 3.0], [8.0, 12.0, 8.0]) < 1.0
                || ellipsoid(q, [side * 23.0, 7.0, 4.0], [5.5, 15.0, 10.0]) < 1.0
            {
                return (Tissue::DeepGrey, false);
            }
        }
        // Cortex: ribbon of varying thickness, sulci lined with grey matter.
        let f = self.folds.at(q);
        let ribbon = 2.5 + 2.5 * (0.5 + 0.5 * f);
        if f.abs() < 0.07 && depth < 15.0 {
            return (Tissue::Csf, false);
        }
        if depth < ribbon || (f.abs() < 0.22 && depth < 17.0) {
            return (Tissue::Grey, false);
        }
        (Tissue::White, false)
    }
}

/// The generator's rule for a tumour centre's site, from anatomical coordinates in
/// full-size mm (u → right, v → anterior, w → superior from the brain centre):
/// `cerebellum` inside the cerebellar ellipsoid; else `occipital_lobe` when v < −55;
/// `frontal_lobe` when v > 5; `temporal_lobe` when w < −2 and |u| > 28;
/// `parietal_lobe` otherwise.
pub fn site_of(q: [f64; 3]) -> &'static str {
    if ellipsoid(q, CEREBELLUM.0, CEREBELLUM.1) < 1.0 {
        "cerebellum"
    } else if q[1] < -55.0 {
        "occipital_lobe"
    } else if q[1] > 5.0 {
        "frontal_lobe"
    } else if q[2] < -2.0 && q[0].abs() > 28.0 {
        "temporal_lobe"
    } else {
        "parietal_lobe"
    }
}
