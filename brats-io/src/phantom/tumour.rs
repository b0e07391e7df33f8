//! The phantom tumour: irregular blobs for core, necrosis and edema, and what each voxel
//! of it looks like.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::anatomy::*;

/// An irregular blob: radius `r0 · (1 + amp · waves(direction))`.
#[derive(Debug, Clone)]
pub(super) struct Blob {
    pub(super) centre: [f64; 3],
    pub(super) r0: f64,
    pub(super) amp: f64,
    pub(super) shape: Waves,
}

impl Blob {
    /// Normalised radius: < 1 inside.
    pub(super) fn rho(&self, p: [f64; 3]) -> f64 {
        let d = [
            p[0] - self.centre[0],
            p[1] - self.centre[1],
            p[2] - self.centre[2],
        ];
        let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        if r < 1e-9 {
            return 0.0;
        }
        let dir = d.map(|x| x / r);
        let m = (1.0 + self.amp * self.shape.at(dir.map(|x| x * 10.0))).max(0.35);
        r / (self.r0 * m)
    }
}

pub(super) struct Tumour {
    pub(super) core: Blob,
    pub(super) necrosis: Option<Blob>,
    pub(super) edema: Blob,
    pub(super) patchy: Waves,
    pub(super) patchy_threshold: f64,
}

pub(super) fn make_tumour(
    rng: &mut ChaCha8Rng,
    anatomy: &Anatomy,
    core_radius_mm: (f64, f64),
) -> Tumour {
    let s = anatomy.s;
    let cerebellar = rng.random::<f64>() < 0.1;
    let r_core = rng.random_range(core_radius_mm.0..=core_radius_mm.1);
    let r_core = if cerebellar { r_core.min(14.0) } else { r_core };
    let centre_q = loop {
        let q = if cerebellar {
            let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
            [
                side * rng.random_range(12.0..32.0),
                rng.random_range(-62.0..-44.0),
                rng.random_range(-40.0..-28.0),
            ]
        } else {
            let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
            [
                side * rng.random_range(14.0..52.0),
                rng.random_range(-68.0..62.0),
                rng.random_range(-22.0..44.0),
            ]
        };
        // Keep the core inside the brain and off the ventricles.
        let (t, in_cb) = anatomy.tissue(anatomy.denormalise(q));
        let rho = ellipsoid(q, [0.0, 0.0, 8.0], [68.0, 86.0, 58.0]);
        let fits = if cerebellar {
            in_cb
        } else {
            !in_cb && rho < 1.0 - (r_core + 6.0) / 62.0
        };
        if fits && t != Tissue::Csf && t != Tissue::Background {
            break q;
        }
    };
    let centre = anatomy.denormalise(centre_q);
    let r_core = r_core * s;
    let core = Blob {
        centre,
        r0: r_core,
        amp: rng.random_range(0.12..0.28),
        shape: Waves::new(rng, 5, (4.0, 12.0)),
    };
    let necrosis = (rng.random::<f64>() < 0.85).then(|| Blob {
        centre: centre.map(|c| c + rng.random_range(-0.15..0.15) * r_core),
        r0: r_core * rng.random_range(0.35..0.65),
        amp: rng.random_range(0.1..0.25),
        shape: Waves::new(rng, 4, (4.0, 12.0)),
    });
    let edema = Blob {
        centre,
        r0: r_core + rng.random_range(6.0..22.0) * s,
        amp: rng.random_range(0.2..0.35),
        shape: Waves::new(rng, 6, (7.0, 16.0)),
    };
    Tumour {
        core,
        necrosis,
        edema,
        patchy: Waves::new(rng, 5, (8.0, 20.0)),
        // 5 %: a non-enhancing core (no ET); otherwise mostly enhancing rim.
        patchy_threshold: if rng.random::<f64>() < 0.05 {
            2.0
        } else {
            rng.random_range(-1.2..-0.3)
        },
    }
}

/// Label (0 none, 1 core, 2 edema, 3 enhancing) and intensities of a voxel.
pub(super) fn tumour_voxel(
    t: &Tumour,
    p: [f64; 3],
    tissue: Tissue,
    val: [f32; 4],
) -> (u8, [f32; 4]) {
    let rc = t.core.rho(p);
    if rc < 1.0 {
        let necrotic = t.necrosis.as_ref().is_some_and(|n| n.rho(p) < 1.0);
        if necrotic {
            return (1, NECROSIS);
        }
        let q = [0, 1, 2].map(|a| (p[a] - t.core.centre[a]) / 3.0);
        if t.patchy.at(q) > t.patchy_threshold {
            // Rim brightest at the edge of the core, as a ring of contrast leakage.
            return (3, ENHANCING);
        }
        return (1, mix(NECROSIS, ENHANCING, 0.3));
    }
    let re = t.edema.rho(p);
    let spreads = match tissue {
        Tissue::White | Tissue::DeepGrey => true,
        Tissue::Grey => re < 0.75,
        _ => false,
    };
    if re < 1.0 && spreads {
        // Edema fades towards its edge.
        let w = (0.7 + 0.3 * (1.0 - re)).min(1.0) as f32;
        return (2, mix(val, EDEMA, w));
    }
    (0, val)
}

pub(super) fn mix(a: [f32; 4], b: [f32; 4], w: f32) -> [f32; 4] {
    [0, 1, 2, 3].map(|i| a[i] * (1.0 - w) + b[i] * w)
}
