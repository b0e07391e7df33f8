//! Veins, sinuses and dura: structures real scans show inside the stripped brain mask, bright
//! on T1ce and not tumour, drawn unlabelled so that the network learns that bright is not
//! always tumour. The falx sinuses along the midline, and the dura and sinuses of the
//! posterior fossa and the skull base. Their intensities are set by image formation
//! (`imaging::venous`).

use ndarray::{Array3, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::anatomy::{centroid, Tissue};
use super::field::{dilate, erode};

/// The sinuses of the falx, at every level: a triangle in cross-section at the brain's edge
/// on the midline — `half_width` mm either side of the mask's left–right middle (per row) at
/// the surface, narrowing to nothing `deep` voxels in — as the superior sagittal sinus runs
/// over the top and down the back to the torcula.
pub(crate) fn midline_sinus(mask: &Array3<bool>, half_width: f64, deep: usize) -> Array3<bool> {
    let (nk, nj, ni) = mask.dim();
    // Depth of each mask voxel from the surface, up to `deep`.
    let mut depth = Array3::<u8>::zeros((nk, nj, ni));
    let mut cur = mask.clone();
    for d in 1..=deep {
        let inner = erode(&cur, 1);
        Zip::from(&mut depth)
            .and(&cur)
            .and(&inner)
            .for_each(|dp, &c, &i| {
                if c && !i {
                    *dp = d as u8;
                }
            });
        cur = inner;
    }
    let mut out = Array3::from_elem((nk, nj, ni), false);
    for k in 0..nk {
        for j in 0..nj {
            let row: Vec<usize> = (0..ni).filter(|&i| mask[[k, j, i]]).collect();
            let (Some(&a), Some(&b)) = (row.first(), row.last()) else {
                continue;
            };
            let mid = (a + b) as f64 / 2.0;
            for i in a..=b {
                let d = depth[[k, j, i]];
                if d == 0 {
                    continue;
                }
                let reach = half_width * (1.0 - (f64::from(d) - 1.0) / deep as f64);
                if (i as f64 - mid).abs() <= reach {
                    out[[k, j, i]] = true;
                }
            }
        }
    }
    out
}

/// Whether a voxel of this tissue can lie under the sinuses of the falx: the CSF and cortex
/// between and over the hemispheres. Not the brainstem, cerebellum or deep structures: at the
/// levels of the posterior fossa the stripped mask's midline edge is the front of the pons and
/// the back of the vermis, where real scans show at most the thin basilar artery — a bright
/// wedge there would teach the network that a bright brainstem is normal anatomy.
pub(crate) fn over_cerebrum(tissue: u8) -> bool {
    tissue == Tissue::Csf as u8 || tissue == Tissue::CorticalGm as u8
}

/// Where [`dural_enhancement`] draws dura (1) and venous blood (2).
pub(crate) const DURA: u8 = 1;
pub(crate) const SINUS: u8 = 2;

/// Enhancing dura and venous sinuses of the posterior fossa and the skull base, unlabelled
/// and not tumour, as real T1ce scans show them inside the stripped mask: the tentorium
/// (the dural sheet between the cerebellum and the occipital and temporal lobes, mildly
/// enhancing), the transverse sinuses where it meets the skull (the cerebellum's posterior
/// and lateral rim, avidly enhancing), and the cavernous sinuses and pituitary at the skull
/// base in front of the brainstem (avidly enhancing). Without them (and with the veins
/// darker than a rim) the model shipped in session 17 called enhancing tumour on two of
/// these places of the real case (components of 1.4 and 1.0 cm³).
///
/// The map (0, [`DURA`], [`SINUS`]; never on tumour) and, per kind, the gain per modality
/// (T1ce bright; the others from flow void to slow flow). Drawn from a stream of its own so
/// that every other draw of a seed stays as it was; `None` in one case in five.
pub(crate) fn dural_enhancement(
    seed: u64,
    tissue: &Array3<u8>,
    parts: &Array3<u8>,
    mask: &Array3<bool>,
) -> Option<(Array3<u8>, [[f32; 4]; 2])> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x2545_F491_4F6C_DD1D);
    if !rng.random_bool(0.8) {
        return None;
    }
    let is = |t: u8, of: &[Tissue]| of.iter().any(|&x| x as u8 == t);
    let in_cerebellum = |t: u8| is(t, &[Tissue::CerebellarGm, Tissue::CerebellarWm]);
    let in_brainstem = |t: u8| t == Tissue::Brainstem as u8;
    // Directions from the anatomy itself (the brainstem lies in front of the cerebellum, the
    // cerebrum above it), so that the case's rotation and the grid's axis order cannot
    // misplace anything.
    let (Some(bs), Some(cb), Some(wm)) = (
        centroid(tissue, in_brainstem),
        centroid(tissue, in_cerebellum),
        centroid(tissue, |t| t == Tissue::WhiteMatter as u8),
    ) else {
        return None;
    };
    let up = (wm[0] - cb[0]).signum();
    let forward = (bs[1] - cb[1]).signum();
    let cerebellum = tissue.mapv(in_cerebellum);
    let near_cerebellum = dilate(&cerebellum, rng.random_range(1..=2));
    let inner = erode(mask, rng.random_range(3..=6));
    let mut at = Array3::<u8>::zeros(tissue.dim());
    // The tentorium, and the transverse sinuses where it meets the skull: the fluid and
    // cortex the cerebellum touches, the sinuses at the surface of its upper half (its lower
    // surface lies on bone under thin dura).
    Zip::indexed(&mut at).for_each(|(k, j, i), a| {
        let t = tissue[[k, j, i]];
        if mask[[k, j, i]]
            && parts[[k, j, i]] == 0
            && near_cerebellum[[k, j, i]]
            && !cerebellum[[k, j, i]]
            && is(t, &[Tissue::Csf, Tissue::CorticalGm])
        {
            if inner[[k, j, i]] {
                *a = DURA;
            } else if up * k as f64 >= up * cb[0] {
                *a = SINUS;
            }
        }
    });
    // The cavernous sinuses and the pituitary: the mask's surface in front of the brainstem,
    // either side of the midline, at the level of the upper pons.
    let cavernous = rng.random_bool(0.7);
    let reach_mm = [
        rng.random_range(5.0..9.0),
        rng.random_range(6.0..12.0),
        rng.random_range(10.0..18.0),
    ];
    let (lift, ahead) = (rng.random_range(0.4..0.7), rng.random_range(4.0..12.0));
    if cavernous {
        // The brainstem's extent upwards and forwards.
        let (mut lo, mut hi, mut front) = (f64::MAX, f64::MIN, f64::MIN);
        for ((k, j, _), &t) in tissue.indexed_iter() {
            if in_brainstem(t) {
                lo = lo.min(up * k as f64);
                hi = hi.max(up * k as f64);
                front = front.max(forward * j as f64);
            }
        }
        let centre = [
            up * (lo + lift * (hi - lo)),
            forward * (front + ahead),
            bs[2],
        ];
        Zip::indexed(&mut at).for_each(|(k, j, i), a| {
            let d = [
                k as f64 - centre[0],
                j as f64 - centre[1],
                i as f64 - centre[2],
            ];
            let r: f64 = d.iter().zip(reach_mm).map(|(x, r)| (x / r).powi(2)).sum();
            if r <= 1.0
                && mask[[k, j, i]]
                && !inner[[k, j, i]]
                && parts[[k, j, i]] == 0
                && !in_brainstem(tissue[[k, j, i]])
            {
                *a = SINUS;
            }
        });
    }
    // As `venous` reads them: on T1ce a share of the enhancing rim's brightness.
    let gain = [
        [
            rng.random_range(0.8..1.2),
            rng.random_range(0.8..1.2),
            rng.random_range(0.45..0.9),
            rng.random_range(0.8..1.2),
        ],
        [
            rng.random_range(0.3..1.6),
            rng.random_range(0.7..1.6),
            rng.random_range(0.6..1.4),
            rng.random_range(0.2..1.2),
        ],
    ];
    Some((at, gain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dura_and_sinuses_lie_around_the_cerebellum_and_in_front_of_the_brainstem() {
        let t = &crate::synth::anatomy::template()
            .expect("embedded template")
            .tissue;
        let mask = t.mapv(|v| v != 0);
        let is = |v: u8, of: &[Tissue]| of.iter().any(|&x| x as u8 == v);
        let fossa = [
            Tissue::CerebellarGm,
            Tissue::CerebellarWm,
            Tissue::Brainstem,
        ];
        // The brainstem's front (the template's j grows backwards: the cerebellum lies at
        // larger j than the brainstem).
        let front = t
            .indexed_iter()
            .filter(|(_, &v)| v == Tissue::Brainstem as u8)
            .map(|((_, j, _), _)| j)
            .min()
            .expect("brainstem");
        let near = dilate(
            &t.mapv(|v| is(v, &[Tissue::CerebellarGm, Tissue::CerebellarWm])),
            2,
        );
        // A tumour over the whole posterior fossa: nothing is drawn on it.
        let parts_over_fossa = t.mapv(|v| u8::from(is(v, &fossa)));
        let none = Array3::<u8>::zeros(t.dim());
        let (mut drawn, mut cavernous_cases) = (0, 0);
        for seed in 0..12u64 {
            let Some((at, gain)) = dural_enhancement(seed, t, &none, &mask) else {
                continue;
            };
            drawn += 1;
            assert!(
                gain[0][2] >= 0.45 && gain[1][2] >= 0.6,
                "T1ce gains {gain:?}"
            );
            let (mut dura, mut sinus, mut cavernous, mut cavernous_j) = (0, 0, 0, 0.0);
            for ((k, j, i), &a) in at.indexed_iter() {
                if a == 0 {
                    continue;
                }
                let v = t[[k, j, i]];
                assert!(
                    mask[[k, j, i]] && !is(v, &fossa),
                    "seed {seed}: {a} on tissue {v}"
                );
                if a == DURA {
                    dura += 1;
                    assert!(
                        near[[k, j, i]],
                        "seed {seed}: dura away from the cerebellum"
                    );
                } else {
                    sinus += 1;
                    if !near[[k, j, i]] {
                        cavernous += 1;
                        cavernous_j += j as f64;
                        assert!(
                            (i as f64 - 120.0).abs() < 30.0,
                            "seed {seed}: {i} off the midline"
                        );
                    }
                }
            }
            assert!(
                dura > 1000 && sinus > 1000,
                "seed {seed}: {dura} dura, {sinus} sinus voxels"
            );
            if cavernous > 100 {
                cavernous_cases += 1;
                let mean_j = cavernous_j / f64::from(cavernous);
                assert!(mean_j < front as f64, "seed {seed}: skull-base sinus centred at j {mean_j:.0}, behind the brainstem's front {front}");
            }
            let (on_tumour, _) =
                dural_enhancement(seed, t, &parts_over_fossa, &mask).expect("same draws");
            assert!(
                on_tumour
                    .indexed_iter()
                    .all(|(p, &a)| a == 0 || parts_over_fossa[p] == 0),
                "seed {seed}: drawn on tumour"
            );
        }
        assert!((6..12).contains(&drawn), "{drawn} of 12 cases drawn");
        assert!(
            cavernous_cases >= drawn / 2,
            "{cavernous_cases} of {drawn} with a skull-base sinus"
        );
    }
}
