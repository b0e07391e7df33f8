//! Image formation with domain randomisation: from a tissue map and a tumour map to four
//! skull-stripped MRI volumes that differ from case to case far more than real scanners do,
//! so that a network trained on them meets real scans as one more variation.
//!
//! Per case and modality: tissue intensities drawn around a realistic ordering (FLAIR: CSF
//! dark, edema bright; T1: CSF dark, white matter bright, tumour dark; T1ce: the enhancing
//! rim bright, and vessels in the sulci; T2: CSF, edema and necrosis bright) with a wide
//! random spread — and in one case in ten fully random contrasts; texture inside tissues and
//! heterogeneity inside the tumour; veins and sinuses at the surface (the superior sagittal
//! sinus, cortical veins; bright on T1ce, unlabelled — real scans have them and they are not
//! tumour); and enhancing dura and sinuses of the posterior fossa and the skull base (the
//! tentorium, the transverse sinuses, the cavernous sinuses and pituitary; likewise
//! unlabelled). What the scanner and the preprocessing then add — partial-volume blur, a
//! smooth bias field, Rician noise, thick slices resampled back to 1 mm, imperfect skull
//! stripping and a random global intensity scale — is in `artefacts.rs`.

use ndarray::{Array3, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::anatomy::Tissue;
use super::artefacts::{Acquisition, Stripping};
use super::field::{erode, LatticeField};
use super::tumour::Part;
use super::vessels::{dural_enhancement, midline_sinus, over_cerebrum};

/// Appearance classes: the 9 tissues, then the tumour parts.
const EDEMA: usize = Tissue::COUNT;
const NECROSIS: usize = EDEMA + 1;
const ENHANCING: usize = EDEMA + 2;
const NON_ENHANCING: usize = EDEMA + 3;
const CLASSES: usize = EDEMA + 4;

/// Typical relative intensities per class, modalities FLAIR, T1, T1ce, T2.
const BASE: [[f32; 4]; CLASSES] = [
    [0.0, 0.0, 0.0, 0.0],     // background
    [0.12, 0.25, 0.25, 1.0],  // CSF
    [0.10, 0.22, 0.22, 1.0],  // ventricles
    [0.62, 0.58, 0.58, 0.58], // cortical grey matter
    [0.45, 0.85, 0.85, 0.38], // white matter
    [0.55, 0.70, 0.70, 0.45], // deep grey matter
    [0.58, 0.58, 0.60, 0.55], // cerebellar grey matter
    [0.45, 0.80, 0.80, 0.40], // cerebellar white matter
    [0.55, 0.75, 0.75, 0.48], // brainstem
    [0.95, 0.50, 0.50, 0.85], // edema
    [0.45, 0.30, 0.32, 0.95], // necrosis
    [0.80, 0.55, 1.30, 0.70], // enhancing tumour
    [0.85, 0.38, 0.40, 0.98], // non-enhancing tumour (see `parent`)
];

/// Per class and modality, the case's relative intensity; and whether it was drawn fully at
/// random (a `random_share` of cases, in `[0, 1]`) rather than around [`BASE`].
fn contrasts(rng: &mut ChaCha8Rng, random_share: f64) -> ([[f32; 4]; CLASSES], bool) {
    let random_contrast = rng.random_bool(random_share);
    let spread = rng.random_range(0.08..0.25);
    let mut value = [[0f32; 4]; CLASSES];
    // Realistic contrasts: each class's log-intensity deviates from its typical value by a
    // normal draw, but tissues that are one tissue to physics share most of it (correlation
    // 0.9 with their parent's draw): the ventricles with the CSF, the cerebellar cortex with
    // the cerebral cortex, the cerebellar white matter and the brainstem with the white
    // matter. Drawn independently, one case in a few dozen had a brainstem as bright as an
    // enhancing rim on T1ce and as bright as edema on FLAIR — no scanner shows that, and the
    // network learned to call the posterior fossa tumour.
    let mut z = [[0f64; 4]; CLASSES];
    for c in 1..CLASSES {
        for m in 0..4 {
            value[c][m] = if random_contrast {
                rng.random_range(0.05..1.3)
            } else {
                let own: f64 = rng.sample(StandardNormal);
                z[c][m] = match parent(c) {
                    Some(p) => 0.9 * z[p][m] + (1.0f64 - 0.81).sqrt() * own,
                    None => own,
                };
                BASE[c][m] * (spread * z[c][m]).exp() as f32
            };
        }
    }
    (value, random_contrast)
}

/// Necrosis on FLAIR, relative to [`BASE`]'s scale: anywhere from suppressed almost like CSF
/// (a clean cyst) to as bright as edema (proteinaceous or haemorrhagic fluid, common in
/// glioblastoma). With [`BASE`]'s single value (that of white matter) the network learned that
/// a necrotic centre is never FLAIR-bright and called such centres edema. Drawn from a stream
/// of its own so that every other draw of a seed, and so every case's anatomy, tumour and
/// other contrasts, stay as they were.
fn necrosis_on_flair(seed: u64) -> f32 {
    let mut own = ChaCha8Rng::seed_from_u64(seed ^ 0x5DEE_CE66_D1CE_4E5B);
    own.random_range(0.25..0.95)
}

/// The class whose contrast draw a class shares (see `contrasts`); parents come first.
///
/// Non-enhancing tumour shares edema's: in real scans a solid non-enhancing tumour is darker
/// on T1 and brighter on T2 than the edema around it, case after case (the mass is more
/// cellular and holds more free water), and a reader tells core from edema by that. Drawn
/// independently around values 5 % apart (the generator's first choice), the two were
/// interchangeable and the network could only tell them apart by shape and by distance
/// from the enhancement.
fn parent(class: usize) -> Option<usize> {
    const VENTRICLES: usize = Tissue::Ventricle as usize;
    const CEREBELLAR_GM: usize = Tissue::CerebellarGm as usize;
    const CEREBELLAR_WM: usize = Tissue::CerebellarWm as usize;
    const BRAINSTEM: usize = Tissue::Brainstem as usize;
    match class {
        VENTRICLES => Some(Tissue::Csf as usize),
        CEREBELLAR_GM => Some(Tissue::CorticalGm as usize),
        CEREBELLAR_WM | BRAINSTEM => Some(Tissue::WhiteMatter as usize),
        NON_ENHANCING => Some(EDEMA),
        _ => None,
    }
}

/// The four images (FLAIR, T1, T1ce, T2), integer-valued, 0 outside the stripped brain, the
/// final brain mask (labels outside it must be cleared by the caller), and whether the
/// tissue contrasts were drawn fully at random.
pub(crate) fn form_images(
    rng: &mut ChaCha8Rng,
    seed: u64,
    tissue: &Array3<u8>,
    parts: &Array3<u8>,
    random_share: f64,
) -> ([Array3<f32>; 4], Array3<bool>, bool) {
    let shape = <[usize; 3]>::from(tissue.dim());
    // Contrasts.
    let (mut value, random_contrast) = contrasts(rng, random_share);
    if !random_contrast {
        value[NECROSIS][0] = necrosis_on_flair(seed);
    }
    let edema_mix: f32 = rng.random_range(0.65..0.95);
    let texture_amp: [f32; 4] = [0; 4].map(|_| rng.random_range(0.01..0.06));
    let tumour_amp: f32 = rng.random_range(0.05..0.2);
    let texture = LatticeField::with_spacing_in(rng, shape, 3.0..8.0);
    let heterogeneity = LatticeField::with_spacing_in(rng, shape, 3.0..6.0);
    let vessels = rng.random_bool(0.7).then(|| {
        (
            LatticeField::new(rng, shape, 2.0),
            rng.random_range(1.6..1.9f32),
            rng.random_range(1.5..3.0f32),
        )
    });
    let acquisition = Acquisition::draw(rng, shape);

    // The skull-stripped mask, with its imperfections.
    let brain = Zip::from(tissue)
        .and(parts)
        .map_collect(|&t, &p| t != 0 || p != 0);
    let stripping = Stripping::draw(rng, &brain);
    let mask = &stripping.mask;
    // Veins and sinuses at the brain's surface, left inside the stripped mask as in real
    // BraTS scans: the sinuses of the falx along the midline and patchy cortical veins in the
    // superficial CSF, bright on T1ce (they enhance), variable elsewhere.
    let veins = rng.random_bool(0.85).then(|| {
        let shell = Zip::from(mask)
            .and(&erode(mask, rng.random_range(2..=4)))
            .map_collect(|&m, &inner| m && !inner);
        let sinus = rng.random_bool(0.9).then(|| {
            let (half_width, deep) = (rng.random_range(3.0..6.0), rng.random_range(5..=9));
            midline_sinus(mask, half_width, deep)
        });
        let field = LatticeField::with_spacing_in(rng, shape, 3.0..7.0);
        let thr: f32 = rng.random_range(0.6..1.4);
        let at = Zip::indexed(&shell)
            .and(tissue)
            .map_collect(|(k, j, i), &sh, &t| {
                (sh && t == Tissue::Csf as u8 && field.at(k as f64, j as f64, i as f64) > thr)
                    || (sinus.as_ref().is_some_and(|s| s[[k, j, i]]) && over_cerebrum(t))
            });
        // T1ce: enhancing, as bright as an enhancing tumour rim (see `venous`); the others
        // from a flow void (dark) to slow flow (bright).
        let gain: [f32; 4] = [
            rng.random_range(0.3..1.6),
            rng.random_range(0.7..1.6),
            rng.random_range(0.6..1.4),
            rng.random_range(0.2..1.2),
        ];
        (at, gain)
    });

    let dura = dural_enhancement(seed, tissue, parts, mask);

    // The texture is the same field for every modality: evaluate it once.
    let tex = texture.raster(shape, 1.0);
    let images: Vec<Array3<f32>> = (0..4)
        .map(|m| {
            let mut img = Array3::<f32>::zeros(tissue.dim());
            Zip::indexed(&mut img)
                .and(tissue)
                .and(parts)
                .par_for_each(|(k, j, i), v, &t, &p| {
                    let t = t as usize;
                    let (kf, jf, if_) = (k as f64, j as f64, i as f64);
                    let mut x = value[t][m];
                    let part = Part::from_u8(p);
                    match part {
                        Part::None => {}
                        Part::Edema => x = edema_mix * value[EDEMA][m] + (1.0 - edema_mix) * x,
                        Part::Necrosis => x = value[NECROSIS][m],
                        Part::Enhancing => x = value[ENHANCING][m],
                        Part::NonEnhancing => x = value[NON_ENHANCING][m],
                    }
                    if x == 0.0 {
                        return;
                    }
                    x *= 1.0 + texture_amp[m] * tex[[k, j, i]];
                    if part != Part::None {
                        x *= 1.0 + tumour_amp * heterogeneity.at(kf, jf, if_);
                    }
                    if let Some((field, thr, gain)) = &vessels {
                        if m == 2 && t == Tissue::Csf as usize && field.at(kf, jf, if_) > *thr {
                            x *= gain;
                        }
                    }
                    *v = x.max(0.0);
                });
            if let Some((at, gain)) = &veins {
                Zip::from(&mut img).and(at).for_each(|v, &a| {
                    if a {
                        *v = venous(*v, m, gain[m], &value);
                    }
                });
            }
            if let Some((at, gain)) = &dura {
                Zip::from(&mut img).and(at).for_each(|v, &a| {
                    if a != 0 {
                        *v = venous(*v, m, gain[usize::from(a) - 1][m], &value);
                    }
                });
            }
            stripping.paint_leftover(&mut img, m, &tex);
            let white = value[Tissue::WhiteMatter as usize][m];
            acquisition.acquire(&mut img, m, seed, white, mask);
            img
        })
        .collect();
    let mut it = images.into_iter();
    let mut next = || it.next().unwrap_or_else(|| Array3::zeros(tissue.dim()));
    (
        [next(), next(), next(), next()],
        stripping.mask,
        random_contrast,
    )
}

/// A voxel of vein, sinus or enhancing dura in modality `m`: on T1ce `gain` times the
/// case's enhancing tumour (real T1ce shows the sinuses, the cortical veins and the
/// tentorium as bright as an enhancing rim, or brighter; drawn at a share of the white
/// matter, as the generator first did, they stayed darker than the rim, so the network
/// never had to learn that bright is not always tumour); elsewhere `gain` times the voxel's
/// tissue, at least a third of the white matter's.
fn venous(v: f32, m: usize, gain: f32, value: &[[f32; 4]; CLASSES]) -> f32 {
    if m == 2 {
        gain * value[ENHANCING][2]
    } else {
        v.max(0.3 * value[Tissue::WhiteMatter as usize][m]) * gain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn necrosis_on_flair_ranges_from_cyst_to_edema() {
        let draws: Vec<f32> = (0..500).map(necrosis_on_flair).collect();
        let lo = draws.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = draws.iter().copied().fold(0.0, f32::max);
        let wm = BASE[Tissue::WhiteMatter as usize][0];
        assert!(lo < 0.6 * wm, "darkest necrosis {lo}, white matter {wm}");
        assert!(hi > 0.9 * BASE[EDEMA][0], "brightest necrosis {hi}");
        // Its own stream: neighbouring seeds do not draw the same value.
        assert_ne!(necrosis_on_flair(1), necrosis_on_flair(2));
    }

    #[test]
    fn the_random_contrast_share_is_the_share_of_random_cases() {
        let count = |share: f64| {
            (0..1000u64)
                .filter(|&seed| contrasts(&mut ChaCha8Rng::seed_from_u64(seed), share).1)
                .count()
        };
        assert_eq!(count(0.0), 0);
        assert_eq!(count(1.0), 1000);
        let tenth = count(0.1);
        assert!((70..=130).contains(&tenth), "{tenth} of 1000 at 0.1");
        let half = count(0.5);
        assert!((450..=550).contains(&half), "{half} of 1000 at 0.5");
    }

    #[test]
    fn non_enhancing_tumour_is_darker_on_t1_and_brighter_on_t2_than_edema() {
        let (mut n, mut t1, mut t2) = (0, 0, 0);
        for seed in 0..2000u64 {
            let (value, random_contrast) = contrasts(&mut ChaCha8Rng::seed_from_u64(seed), 0.1);
            if random_contrast {
                continue;
            }
            n += 1;
            t1 += usize::from(value[NON_ENHANCING][1] < value[EDEMA][1]);
            t2 += usize::from(value[NON_ENHANCING][3] > value[EDEMA][3]);
        }
        // Pure edema here; in the images edema is also mixed with the tissue it soaks
        // (white matter: brighter on T1, darker on T2), which widens both gaps.
        assert!(t1 * 100 >= n * 97, "T1: {t1} of {n} realistic cases");
        assert!(t2 * 100 >= n * 85, "T2: {t2} of {n} realistic cases");
    }

    #[test]
    fn related_tissues_share_their_contrast() {
        // (tissue, the tissue whose draw it shares)
        let pairs = [
            (Tissue::Brainstem as usize, Tissue::WhiteMatter as usize),
            (Tissue::CerebellarWm as usize, Tissue::WhiteMatter as usize),
            (Tissue::CerebellarGm as usize, Tissue::CorticalGm as usize),
            (Tissue::Ventricle as usize, Tissue::Csf as usize),
            (NON_ENHANCING, EDEMA),
        ];
        let mut realistic = 0;
        for seed in 0..2000u64 {
            let (value, random_contrast) = contrasts(&mut ChaCha8Rng::seed_from_u64(seed), 0.1);
            if random_contrast {
                continue;
            }
            realistic += 1;
            for (c, p) in pairs {
                for m in 0..4 {
                    // Drawn independently (log-sd up to 0.35 against the parent), several
                    // cases in a hundred left this band — a brainstem as bright as an
                    // enhancing rim on T1ce. Sharing 0.9 of the draw, the log-sd is at
                    // most 0.11 and 0.6 is more than five of them.
                    let typical = BASE[c][m] / BASE[p][m];
                    let dev = (value[c][m] / value[p][m] / typical).ln();
                    assert!(
                        dev.abs() < 0.6,
                        "seed {seed}, modality {m}, class {c}: {:.2}× class {p}, typical {typical:.2}×",
                        value[c][m] / value[p][m]
                    );
                }
            }
        }
        assert!(
            realistic > 1700,
            "{realistic} realistic-contrast cases of 2000"
        );
    }
}
