//! Preprocessing of a case for the network, and its exact inverse for label maps.
//!
//! Steps, in order, each recorded in a [`PreprocessRecord`]:
//! 0. optional reorientation to a storage order ([`orient`]: axis permutations and flips,
//!    lossless), so that a model sees every head the way it was trained whatever order its
//!    file stores it in;
//! 1. brain mask ([`brain_mask`]): voxels non-zero in any modality, or brighter than a
//!    background that is not zero;
//! 2. crop to the mask's bounding box plus `margin` voxels (clamped to the volume);
//! 3. optional percentile clipping, computed over brain voxels per modality;
//! 4. z-score per modality over brain voxels (std 0 → divide by 1); background stays 0;
//! 5. optional resampling to a target spacing or shape (trilinear for images, nearest for
//!    labels and the mask);
//! 6. zero padding (centred) so every axis is a multiple of `pad_multiple`.
//!
//! [`PreprocessRecord::restore_labels`] undoes 6 → 5 → 2 → 0 for a label map predicted on the
//! preprocessed grid: unpad, nearest-neighbour back to the cropped shape, paste into a
//! zero volume, store it in the original order (with the original header). Where no
//! resampling was done the round trip is exact.
//!
//! The *working grid* is the original grid after step 0 (the original grid itself when no
//! orientation is asked for or the case is already stored that way); crops are taken on it.
//!
//! An image with no non-zero voxel has an empty brain mask; the whole volume is then kept
//! (no crop) and stays zero after normalisation — documented behaviour, not an error.
//!
//! ```no_run
//! use brats_io::{find_case, NiftiReader, PreprocessConfig};
//! # fn main() -> brats_io::Result<()> {
//! let case = find_case("BraTS2021_00000")?.load(&NiftiReader::new())?;
//! let pre = PreprocessConfig::default().check()?.apply(&case.images, case.seg.as_ref())?;
//! println!("{:?} → {:?}", case.geometry().shape(), pre.image.shape());
//! let restored = pre.record.restore_labels(pre.seg.as_ref().unwrap())?;
//! assert_eq!(restored.data(), case.seg.as_ref().unwrap().data());
//! # Ok(()) }
//! ```

pub mod orient;
pub mod resample;

use ndarray::{s, Array3, Array4, ArrayView3, ArrayView4, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::volume::{Geometry, Volume, AFFINE_TOLERANCE};
use orient::{Orientation, Reorientation};

/// How (and whether) to resample after cropping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Resample {
    /// Keep the native grid (BraTS data is already 1 mm isotropic).
    #[default]
    None,
    /// Resample to this voxel size in mm along `(i, j, k)`.
    Spacing([f64; 3]),
    /// Resample the cropped block to exactly this array shape `[D, H, W]`.
    Shape([usize; 3]),
}

/// Unchecked preprocessing parameters; call [`PreprocessConfig::check`] to use them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PreprocessConfig {
    /// Store every case in this orientation before anything else (e.g. `"LPS"`, BraTS's
    /// own order); `None` (the default, and what older configs without the field mean)
    /// keeps each case as its file stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<Orientation>,
    /// Voxels kept around the brain's bounding box on each side.
    pub margin: usize,
    /// Clip each modality to these percentiles of its brain voxels before z-scoring
    /// (e.g. `(0.5, 99.5)`); `None` to skip.
    pub clip_percentiles: Option<(f64, f64)>,
    /// Resampling after the crop.
    pub resample: Resample,
    /// Pad every axis up to a multiple of this (16 for a 4-level U-Net; 1 for none).
    pub pad_multiple: usize,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        PreprocessConfig {
            orientation: None,
            margin: 2,
            clip_percentiles: None,
            resample: Resample::None,
            pad_multiple: 16,
        }
    }
}

/// Checked parameters: the only kind that can [`apply`](CheckedPreprocess::apply).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedPreprocess(PreprocessConfig);

impl PreprocessConfig {
    /// Validates every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field: percentiles outside `0..=100` or not increasing,
    /// a spacing that is not finite and positive, a zero target shape, `pad_multiple` 0.
    pub fn check(self) -> Result<CheckedPreprocess> {
        if let Some((lo, hi)) = self.clip_percentiles {
            if !(0.0..=100.0).contains(&lo) || !(0.0..=100.0).contains(&hi) || lo >= hi {
                return Err(Error::config(
                    "clip_percentiles",
                    format!("need 0 ≤ low < high ≤ 100, got ({lo}, {hi})"),
                ));
            }
        }
        match self.resample {
            Resample::Spacing(sp) if sp.iter().any(|s| !(s.is_finite() && *s > 0.0)) => {
                return Err(Error::config(
                    "resample.spacing",
                    format!("must be finite and > 0, got {sp:?}"),
                ))
            }
            Resample::Shape(sh) if sh.contains(&0) => {
                return Err(Error::config(
                    "resample.shape",
                    format!("every axis must be ≥ 1, got {sh:?}"),
                ))
            }
            _ => {}
        }
        if self.pad_multiple == 0 {
            return Err(Error::config("pad_multiple", "must be ≥ 1, got 0"));
        }
        Ok(CheckedPreprocess(self))
    }
}

/// Everything needed to map the preprocessed grid back onto the original one.
///
/// All index triples are in array order `[k, j, i]` (`[D, H, W]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessRecord {
    /// The configuration used.
    pub config: PreprocessConfig,
    /// The original grid (its header is kept in memory for writing restored masks).
    pub original: Geometry,
    /// How the original grid was stored in the configured orientation, when it was not
    /// already stored that way; `None` means the working grid is the original grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorientation: Option<Reorientation>,
    /// First voxel of the crop in the working grid's array.
    pub crop_start: [usize; 3],
    /// Shape of the crop.
    pub crop_shape: [usize; 3],
    /// Shape after resampling (equal to `crop_shape` when none was done).
    pub resampled_shape: [usize; 3],
    /// Zeros added before the data on each axis.
    pub pad_before: [usize; 3],
    /// Final shape `[D, H, W]`.
    pub padded_shape: [usize; 3],
    /// Per modality: the (mean, std) used for the z-score, after clipping.
    pub intensity: Vec<(f32, f32)>,
    /// Per modality: the clipping bounds used, when clipping was asked for.
    pub clip_bounds: Vec<Option<(f32, f32)>>,
}

/// The result of preprocessing a case.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    /// Normalised images, shape `[C, D, H, W]` (C = number of modalities given).
    pub image: Array4<f32>,
    /// The brain mask on the same grid, shape `[D, H, W]`.
    pub brain: Array3<bool>,
    /// The labels on the same grid (nearest neighbour), when a segmentation was given.
    pub seg: Option<Array3<u8>>,
    /// The grid of the preprocessed arrays in world coordinates.
    pub geometry: Geometry,
    /// How to undo it.
    pub record: PreprocessRecord,
}

impl CheckedPreprocess {
    /// The parameters.
    pub fn config(&self) -> &PreprocessConfig {
        &self.0
    }

    /// Preprocesses co-registered images (and optionally their label map).
    ///
    /// # Shapes
    /// Each image and the seg: `[D, H, W]` of one shared grid. Output image `[C, D', H', W']`.
    ///
    /// # Errors
    /// [`Error::Shape`] when no image is given; [`Error::GridMismatch`] when images or seg
    /// are on different grids.
    pub fn apply(&self, images: &[Volume<f32>], seg: Option<&Volume<u8>>) -> Result<Preprocessed> {
        // No images: an empty mask, and apply_with_brain says what is missing.
        self.apply_with_brain(images, seg, brain_mask(images).view())
    }

    /// As [`CheckedPreprocess::apply`], with the images' [`brain_mask`] already computed (a
    /// caller that needs the mask on the original grid too computes it once).
    ///
    /// # Shapes
    /// `brain`: the images' `[D, H, W]`.
    ///
    /// # Errors
    /// As [`CheckedPreprocess::apply`], and [`Error::Shape`] when `brain` is not the images'
    /// shape.
    pub fn apply_with_brain(
        &self,
        images: &[Volume<f32>],
        seg: Option<&Volume<u8>>,
        brain: ArrayView3<'_, bool>,
    ) -> Result<Preprocessed> {
        let cfg = self.0;
        let first = images
            .first()
            .ok_or_else(|| Error::shape("images", "at least one modality", "none"))?;
        let original = first.geometry().clone();
        for (c, img) in images.iter().enumerate().skip(1) {
            if !original.same_grid(img.geometry(), AFFINE_TOLERANCE) {
                return Err(Error::GridMismatch {
                    what: format!("image 0 vs image {c}"),
                    detail: format!("{:?} vs {:?}", original.dim(), img.geometry().dim()),
                });
            }
        }
        if let Some(seg) = seg {
            if !original.same_grid(seg.geometry(), AFFINE_TOLERANCE) {
                return Err(Error::GridMismatch {
                    what: "images vs segmentation".into(),
                    detail: format!("{:?} vs {:?}", original.dim(), seg.geometry().dim()),
                });
            }
        }
        // 0. the working grid: the original one stored in the configured orientation.
        let reorientation = match cfg.orientation {
            Some(to) => Some(Reorientation::new(&original, to)?).filter(|r| !r.is_identity()),
            None => None,
        };
        let working = reorientation
            .as_ref()
            .map_or_else(|| original.clone(), |r| r.grid().clone());
        let shape = working.shape();

        // 1. brain mask over the full grid.
        if brain.shape() != original.shape() {
            return Err(Error::shape(
                "brain mask",
                format!("{:?} (the images' shape)", original.shape()),
                format!("{:?}", brain.shape()),
            ));
        }
        let brain_full = on_working(reorientation.as_ref(), brain);
        // 2. crop box.
        let (crop_start, crop_shape) = match bounding_box(brain_full.view()) {
            Some((lo, hi)) => {
                let start = [0, 1, 2].map(|a| lo[a].saturating_sub(cfg.margin));
                let end = [0, 1, 2].map(|a| (hi[a] + 1 + cfg.margin).min(shape[a]));
                (start, [0, 1, 2].map(|a| end[a] - start[a]))
            }
            None => ([0; 3], shape),
        };
        let crop = s![
            crop_start[0]..crop_start[0] + crop_shape[0],
            crop_start[1]..crop_start[1] + crop_shape[1],
            crop_start[2]..crop_start[2] + crop_shape[2]
        ];
        let brain_crop = brain_full.slice(crop).as_standard_layout().into_owned();

        // 3–4. clip and z-score each modality over brain voxels.
        let mut intensity = Vec::with_capacity(images.len());
        let mut clip_bounds = Vec::with_capacity(images.len());
        let mut normalised = Vec::with_capacity(images.len());
        for img in images {
            let mut block = on_working(reorientation.as_ref(), img.data().view())
                .slice(crop)
                .as_standard_layout()
                .into_owned();
            let bounds = cfg
                .clip_percentiles
                .and_then(|(lo, hi)| percentiles(&block, &brain_crop, lo, hi));
            if let Some((lo, hi)) = bounds {
                block.mapv_inplace(|v| v.clamp(lo, hi));
            }
            let stats = zscore_in_place(&mut block, &brain_crop);
            intensity.push(stats);
            clip_bounds.push(bounds);
            normalised.push(block);
        }

        // 5. resample.
        let resampled_shape = match cfg.resample {
            Resample::None => crop_shape,
            Resample::Shape(sh) => sh,
            Resample::Spacing(target) => {
                let sp = working.spacing();
                // target and spacing are (i, j, k); shapes are [k, j, i].
                [0, 1, 2].map(|a| {
                    let axis = 2 - a;
                    ((crop_shape[a] as f64 * sp[axis] / target[axis]).round() as usize).max(1)
                })
            }
        };
        let mut brain = brain_crop;
        let mut seg_block = seg.map(|s| {
            on_working(reorientation.as_ref(), s.data().view())
                .slice(crop)
                .as_standard_layout()
                .into_owned()
        });
        if resampled_shape != crop_shape {
            normalised = normalised
                .iter()
                .map(|b| resample::trilinear(b.view(), resampled_shape))
                .collect();
            brain = resample::nearest(brain.view(), resampled_shape);
            seg_block = seg_block.map(|s| resample::nearest(s.view(), resampled_shape));
        }

        // 6. pad.
        let m = cfg.pad_multiple;
        let padded_shape = resampled_shape.map(|n| n.div_ceil(m) * m);
        let pad_before = [0, 1, 2].map(|a| (padded_shape[a] - resampled_shape[a]) / 2);
        let inner = s![
            pad_before[0]..pad_before[0] + resampled_shape[0],
            pad_before[1]..pad_before[1] + resampled_shape[1],
            pad_before[2]..pad_before[2] + resampled_shape[2]
        ];
        let mut image = Array4::<f32>::zeros([
            images.len(),
            padded_shape[0],
            padded_shape[1],
            padded_shape[2],
        ]);
        for (c, block) in normalised.iter().enumerate() {
            image
                .index_axis_mut(Axis(0), c)
                .slice_mut(inner)
                .assign(block);
        }
        let mut brain_padded = Array3::from_elem(padded_shape, false);
        brain_padded.slice_mut(inner).assign(&brain);
        let seg = seg_block.map(|sb| {
            let mut out = Array3::<u8>::zeros(padded_shape);
            out.slice_mut(inner).assign(&sb);
            out
        });

        // The grid of the result: crop, resample, then pad (negative start).
        let crop_ijk = [crop_start[2], crop_start[1], crop_start[0]].map(|v| v as i64);
        let crop_dim = [crop_shape[2], crop_shape[1], crop_shape[0]];
        let mut geometry = working.cropped(crop_ijk, crop_dim)?;
        if resampled_shape != crop_shape {
            geometry =
                geometry.resampled([resampled_shape[2], resampled_shape[1], resampled_shape[0]])?;
        }
        let geometry = geometry.cropped(
            [pad_before[2], pad_before[1], pad_before[0]].map(|v| -(v as i64)),
            [padded_shape[2], padded_shape[1], padded_shape[0]],
        )?;

        Ok(Preprocessed {
            image,
            brain: brain_padded,
            seg,
            geometry,
            record: PreprocessRecord {
                config: cfg,
                original,
                reorientation,
                crop_start,
                crop_shape,
                resampled_shape,
                pad_before,
                padded_shape,
                intensity,
                clip_bounds,
            },
        })
    }
}

impl PreprocessRecord {
    /// Maps a label map on the preprocessed grid back onto the original grid: unpad,
    /// nearest-neighbour back to the crop's shape, paste into zeros. The result carries the
    /// original geometry (and header), ready to be written beside the input.
    ///
    /// # Shapes
    /// `labels`: `padded_shape` (`[D, H, W]`); result: the original `[k, j, i]` shape.
    ///
    /// # Errors
    /// [`Error::Shape`] when `labels` is not `padded_shape`.
    pub fn restore_labels(&self, labels: &Array3<u8>) -> Result<Volume<u8>> {
        let block = self.unpad(labels.view(), "labels to restore")?;
        let block = if self.resampled_shape != self.crop_shape {
            resample::nearest(block, self.crop_shape)
        } else {
            block.to_owned()
        };
        self.uncrop(block)
    }

    /// Probabilities (or any per-channel map) on the preprocessed grid → the same on the
    /// crop of the working grid (the original grid when it was not reoriented): padding removed, resampling undone with trilinear
    /// interpolation (as nnU-Net does before deciding; identity when nothing was resampled).
    ///
    /// # Shapes
    /// `probs`: `[n, padded_shape…]`; result: `[n, crop_shape…]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the spatial shape is not `padded_shape`.
    pub fn restore_probabilities(&self, probs: ArrayView4<'_, f32>) -> Result<Array4<f32>> {
        let cs = self.crop_shape;
        let mut out = Array4::<f32>::zeros([probs.shape()[0], cs[0], cs[1], cs[2]]);
        for (k, ch) in probs.outer_iter().enumerate() {
            let block = self.unpad(ch, "probabilities to restore")?;
            if self.resampled_shape != cs {
                out.index_axis_mut(Axis(0), k)
                    .assign(&resample::trilinear(block, cs));
            } else {
                out.index_axis_mut(Axis(0), k).assign(&block);
            }
        }
        Ok(out)
    }

    /// The crop's part of an array on the original grid, seen on the working grid (a view,
    /// reoriented like the images were).
    ///
    /// # Shapes
    /// `full`: the original `[D, H, W]`; result: `crop_shape`.
    ///
    /// # Errors
    /// [`Error::Shape`] when `full` is not the original grid's shape.
    pub fn crop_of<'a, T>(&self, full: ArrayView3<'a, T>) -> Result<ArrayView3<'a, T>> {
        if full.shape() != self.original.shape() {
            return Err(Error::shape(
                "array to crop",
                format!("{:?} (the original shape)", self.original.shape()),
                format!("{:?}", full.shape()),
            ));
        }
        let full = on_working(self.reorientation.as_ref(), full);
        let (st, cs) = (self.crop_start, self.crop_shape);
        Ok(full.slice_move(s![
            st[0]..st[0] + cs[0],
            st[1]..st[1] + cs[1],
            st[2]..st[2] + cs[2]
        ]))
    }

    /// A map on the crop (labels, or any per-voxel value) → the whole original grid
    /// (`T::default()`, background or zero, outside the crop), stored in the original order,
    /// with the original header.
    ///
    /// # Shapes
    /// `crop`: `crop_shape`; result: the original grid.
    ///
    /// # Errors
    /// [`Error::Shape`] when `crop` is not `crop_shape`.
    pub fn uncrop<T: Clone + Default>(&self, crop: Array3<T>) -> Result<Volume<T>> {
        if crop.shape() != self.crop_shape {
            return Err(Error::shape(
                "cropped map",
                format!("{:?} (the crop shape)", self.crop_shape),
                format!("{:?}", crop.shape()),
            ));
        }
        let working = self
            .reorientation
            .as_ref()
            .map_or_else(|| self.original.shape(), |r| r.grid().shape());
        let mut out = Array3::<T>::from_elem(working, T::default());
        let cs = self.crop_start;
        out.slice_mut(s![
            cs[0]..cs[0] + self.crop_shape[0],
            cs[1]..cs[1] + self.crop_shape[1],
            cs[2]..cs[2] + self.crop_shape[2]
        ])
        .assign(&crop);
        if let Some(r) = &self.reorientation {
            out = r.undo(out.view())?;
        }
        Volume::new(out, self.original.clone())
    }

    /// The resampled (unpadded) block of an array on the preprocessed grid.
    ///
    /// # Shapes
    /// `padded`: `padded_shape`; result: `resampled_shape`.
    ///
    /// # Errors
    /// [`Error::Shape`] when `padded` is not `padded_shape`.
    pub fn unpad<'a, T>(&self, padded: ArrayView3<'a, T>, what: &str) -> Result<ArrayView3<'a, T>> {
        if padded.shape() != self.padded_shape {
            return Err(Error::shape(
                what,
                format!("{:?} (the preprocessed shape)", self.padded_shape),
                format!("{:?}", padded.shape()),
            ));
        }
        let (p, r) = (self.pad_before, self.resampled_shape);
        Ok(padded.slice_move(s![p[0]..p[0] + r[0], p[1]..p[1] + r[1], p[2]..p[2] + r[2]]))
    }
}

/// An array on the original grid seen on the working grid (itself when not reoriented).
fn on_working<'a, T>(r: Option<&Reorientation>, a: ArrayView3<'a, T>) -> ArrayView3<'a, T> {
    match r {
        Some(r) => r.view(a),
        None => a,
    }
}

/// The brain: voxels non-zero in any of the images — BraTS's convention, a skull-stripped
/// brain on a background of exact zeros.
///
/// When the background is not zero (more than half of the voxels on the volume's six faces
/// hold signal in some image: a noise floor, or an offset left by a conversion or a
/// resampling), every voxel would count as brain, and the crop, the z-score and the
/// post-processing's depth would all be taken over the whole box. Then the brain is the
/// largest 26-connected component of the voxels brighter than the background in any image
/// (brighter than [`BACKGROUND_QUANTILE`] of that image's face voxels). A scan that was never
/// skull-stripped keeps its skull and scalp either way.
///
/// # Shapes
/// Images `[D, H, W]` of one shape; result the same shape.
pub fn brain_mask(images: &[Volume<f32>]) -> Array3<bool> {
    let levels = background_levels(images);
    let shape = images.first().map_or([0, 0, 0], |v| v.geometry().shape());
    let mut mask = vec![false; shape.iter().product()];
    for (c, img) in images.iter().enumerate() {
        // A zero background: every non-zero voxel, negative ones included.
        let level = levels.as_ref().map_or(f32::NEG_INFINITY, |l| l[c]);
        mask.par_iter_mut()
            .zip(img.as_slice().par_iter())
            .for_each(|(m, v)| *m |= *v != 0.0 && *v > level);
    }
    // ok: the vector has exactly shape's element count.
    let mask =
        Array3::from_shape_vec(shape, mask).unwrap_or_else(|_| Array3::from_elem([0, 0, 0], false));
    if levels.is_none() {
        return mask;
    }
    let (comp, sizes) = crate::components::connected_components(&mask);
    let largest = (1..sizes.len()).max_by_key(|&c| sizes[c]).unwrap_or(0) as u32;
    comp.mapv(|c| c != 0 && c == largest)
}

/// The quantile of the face voxels' values above which a voxel holds signal, when the
/// background is not zero ([`brain_mask`]).
pub const BACKGROUND_QUANTILE: f64 = 0.999;

/// Per image, the background's level when the background is not zero: more than half of the
/// face voxels hold signal in some image. `None` for a zero background (BraTS's convention).
fn background_levels(images: &[Volume<f32>]) -> Option<Vec<f32>> {
    let faces: Vec<Vec<f32>> = images.iter().map(|img| face_values(img.data())).collect();
    let n = faces.first().map_or(0, Vec::len);
    // Images on other grids (an error for the caller to report) have other face counts.
    let lit = (0..n)
        .filter(|&f| faces.iter().any(|v| v.get(f).is_some_and(|&x| x != 0.0)))
        .count();
    if n == 0 || 2 * lit <= n {
        return None;
    }
    Some(
        faces
            .into_iter()
            .map(|mut v| {
                let k = ((v.len() - 1) as f64 * BACKGROUND_QUANTILE).round() as usize;
                let (_, q, _) = v.select_nth_unstable_by(k, f32::total_cmp);
                q.max(0.0)
            })
            .collect(),
    )
}

/// The values on the six faces of a volume, in one fixed order (voxels on edges repeated).
fn face_values(a: &Array3<f32>) -> Vec<f32> {
    let mut out = Vec::new();
    for axis in 0..3 {
        let n = a.shape()[axis];
        if n == 0 {
            return Vec::new();
        }
        for i in [0, n - 1] {
            out.extend(a.index_axis(Axis(axis), i).iter().copied());
        }
    }
    out
}

/// Inclusive bounding box `[k, j, i]` of the true voxels, `None` when there are none.
pub fn bounding_box(mask: ArrayView3<'_, bool>) -> Option<([usize; 3], [usize; 3])> {
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    let mut any = false;
    for ((k, j, i), &m) in mask.indexed_iter() {
        if m {
            any = true;
            for (a, v) in [k, j, i].into_iter().enumerate() {
                lo[a] = lo[a].min(v);
                hi[a] = hi[a].max(v);
            }
        }
    }
    any.then_some((lo, hi))
}

fn percentiles(block: &Array3<f32>, brain: &Array3<bool>, lo: f64, hi: f64) -> Option<(f32, f32)> {
    let mut vals: Vec<f32> = block
        .iter()
        .zip(brain.iter())
        .filter(|(_, &b)| b)
        .map(|(v, _)| *v)
        .collect();
    if vals.is_empty() {
        return None;
    }
    let mut pick = |p: f64| {
        let idx = ((p / 100.0) * (vals.len() - 1) as f64).round() as usize;
        let (_, v, _) = vals.select_nth_unstable_by(idx, f32::total_cmp);
        *v
    };
    Some((pick(lo), pick(hi)))
}

/// z-scores `block` over the `brain` voxels, zeroes the rest; returns (mean, std used).
fn zscore_in_place(block: &mut Array3<f32>, brain: &Array3<bool>) -> (f32, f32) {
    let (mut n, mut sum) = (0usize, 0f64);
    for (v, &b) in block.iter().zip(brain.iter()) {
        if b {
            n += 1;
            sum += f64::from(*v);
        }
    }
    if n == 0 {
        block.fill(0.0);
        return (0.0, 1.0);
    }
    let mean = sum / n as f64;
    let mut ss = 0f64;
    for (v, &b) in block.iter().zip(brain.iter()) {
        if b {
            ss += (f64::from(*v) - mean).powi(2);
        }
    }
    let std = (ss / n as f64).sqrt();
    let std = if std > 1e-8 { std } else { 1.0 };
    let (m, inv) = (mean as f32, (1.0 / std) as f32);
    ndarray::Zip::from(block).and(brain).par_for_each(|v, &b| {
        *v = if b { (*v - m) * inv } else { 0.0 };
    });
    (m, std as f32)
}
