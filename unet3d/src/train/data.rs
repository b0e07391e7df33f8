//! Training data: preprocessed cases from a BraTS-layout folder or generated phantoms,
//! and the split into training and validation.

use std::path::Path;

use brats_io::phantom::PhantomConfig;
use brats_io::progress::Progress;
use brats_io::{list_cases, LabelScheme, NiftiReader, PreprocessConfig, Volume};
use ndarray::{Array3, Array4};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::mix_seed;

/// A preprocessed case ready for training or validation.
#[derive(Debug, Clone)]
pub struct TrainingCase {
    /// Case id.
    pub id: String,
    /// Preprocessed image `[4, D, H, W]`.
    pub image: Array4<f32>,
    /// Classes `[D, H, W]` (0 background, then the scheme's labels in order).
    pub classes: Array3<u8>,
    /// The group validation breaks its Dice down by, if any (a synthetic case's contrast:
    /// `realistic` or `random`).
    pub group: Option<String>,
}

/// How to split a folder into training and validation cases.
#[derive(Debug, Clone, PartialEq)]
pub enum Split {
    /// This share of the cases (rounded, at least one when the share is > 0) goes to
    /// validation after a shuffle seeded by the config's seed.
    Fraction(f64),
    /// These case ids are the validation set.
    Ids(Vec<String>),
}

/// Training and validation cases.
#[derive(Debug, Clone, Default)]
pub struct TrainData {
    /// Training cases.
    pub train: Vec<TrainingCase>,
    /// Validation cases (may be empty: no validation).
    pub validation: Vec<TrainingCase>,
}

/// A case's segmentation in the training scheme: converted when the case says what its
/// labels mean ([`brats_io::Case::seg_scheme`]: a Decathlon or nnU-Net case, whose 1 edema /
/// 2 core would read as BraTS 2023's with core and edema swapped; a BraTS 2023+ folder, whose
/// resection cavity 4 becomes background); else as it is (and checked against
/// `scheme` by [`prepare_case`]).
///
/// # Errors
/// [`Error`] naming the case when the segmentation holds a value outside its scheme.
pub fn seg_in_scheme<'a>(
    case: &brats_io::Case,
    seg: &'a Volume<u8>,
    scheme: &LabelScheme,
) -> Result<std::borrow::Cow<'a, Volume<u8>>> {
    let Some(own) = &case.seg_scheme else {
        return Ok(std::borrow::Cow::Borrowed(seg));
    };
    let context = format!("segmentation of case {}", case.id);
    let data = own.convert(seg.data(), scheme, &context)?;
    Ok(std::borrow::Cow::Owned(Volume::new(
        data,
        seg.geometry().clone(),
    )?))
}

/// Preprocesses one case for training (`seg` must be in `scheme`).
///
/// # Errors
/// Preprocessing errors; [`Error::Io`] with the scheme's message when the seg holds a label
/// outside `scheme`.
pub fn prepare_case(
    id: &str,
    images: &[Volume<f32>],
    seg: &Volume<u8>,
    scheme: &LabelScheme,
    preprocess: &PreprocessConfig,
) -> Result<TrainingCase> {
    let pre = preprocess.check()?.apply(images, Some(seg))?;
    let seg = pre
        .seg
        .ok_or_else(|| Error::config("seg", "lost in preprocessing"))?;
    let classes = scheme.to_classes(&seg, &format!("segmentation of case {id}"))?;
    Ok(TrainingCase {
        id: id.to_string(),
        image: pre.image,
        classes,
        group: None,
    })
}

impl TrainData {
    /// Loads and preprocesses every case of a BraTS-layout folder (each must have a seg).
    ///
    /// # Errors
    /// Reading errors naming the file; [`Error::Config`] when the folder has no case, a case
    /// has no segmentation, a validation id is unknown, or no training case holds any tumour.
    pub fn from_folder(
        dir: &Path,
        split: &Split,
        cfg: &TrainConfig,
        progress: &dyn Progress,
    ) -> Result<TrainData> {
        let mut cases = list_cases(dir)?;
        if cases.is_empty() {
            return Err(Error::config(
                "data",
                format!("{}: no BraTS case folder found", dir.display()),
            ));
        }
        let reader = NiftiReader::new();
        progress.start("loading", cases.len() as u64);
        let mut prepared = Vec::with_capacity(cases.len());
        for c in cases.drain(..) {
            let case = c.load(&reader)?;
            let seg = case.seg.as_ref().ok_or_else(|| {
                Error::config(
                    "data",
                    format!(
                        "case {} in {} has no segmentation",
                        case.id,
                        c.dir.display()
                    ),
                )
            })?;
            let seg = seg_in_scheme(&case, seg, &cfg.scheme)?;
            prepared.push(prepare_case(
                &case.id,
                &case.images,
                &seg,
                &cfg.scheme,
                &cfg.preprocess,
            )?);
            progress.advance(1);
        }
        progress.finish();
        let (train, validation) = split_cases(prepared, |c| c.id.as_str(), split, cfg.seed, dir)?;
        let data = TrainData { train, validation };
        data.check()?;
        Ok(data)
    }

    /// Generates `n_train + n_val` phantoms in memory (case `n` from seed `seed + n`; the
    /// validation cases come last) and preprocesses them.
    ///
    /// # Errors
    /// Phantom or preprocessing configuration errors.
    pub fn phantoms(
        n_train: usize,
        n_val: usize,
        phantom: &PhantomConfig,
        seed: u64,
        cfg: &TrainConfig,
        progress: &dyn Progress,
    ) -> Result<TrainData> {
        let gen = phantom.clone().check()?;
        let total = n_train + n_val;
        progress.start("phantoms", total as u64);
        let prepared: Vec<Result<TrainingCase>> = (0..total)
            .into_par_iter()
            .map(|n| {
                let case = gen.generate(seed + n as u64)?;
                let c = prepare_case(
                    &case.truth.id,
                    &case.images,
                    &case.seg,
                    &phantom.scheme,
                    &cfg.preprocess,
                )?;
                progress.advance(1);
                Ok(c)
            })
            .collect();
        progress.finish();
        let mut prepared = prepared.into_iter().collect::<Result<Vec<_>>>()?;
        if phantom.scheme != cfg.scheme {
            return Err(Error::config(
                "scheme",
                format!(
                    "the phantoms use {} but the model is trained for {}",
                    phantom.scheme.name(),
                    cfg.scheme.name()
                ),
            ));
        }
        let validation = prepared.split_off(n_train);
        let data = TrainData {
            train: prepared,
            validation,
        };
        data.check()?;
        Ok(data)
    }

    /// Checks that there is a training case and that some training case holds tumour.
    ///
    /// # Errors
    /// [`Error::Config`] otherwise.
    pub fn check(&self) -> Result<()> {
        if self.train.is_empty() {
            return Err(Error::config("data", "no training case"));
        }
        if !self.train.iter().any(|c| c.classes.iter().any(|&v| v != 0)) {
            return Err(Error::config(
                "data",
                format!(
                    "none of the {} training cases holds any tumour voxel: nothing to learn",
                    self.train.len()
                ),
            ));
        }
        Ok(())
    }
}

/// Splits prepared cases into training and validation (`dir` only names the source in
/// errors).
pub(crate) fn split_cases<T>(
    mut prepared: Vec<T>,
    id_of: impl Fn(&T) -> &str,
    split: &Split,
    seed: u64,
    dir: &Path,
) -> Result<(Vec<T>, Vec<T>)> {
    Ok(match split {
        Split::Fraction(f) => {
            if !(0.0..1.0).contains(f) {
                return Err(Error::config(
                    "validation fraction",
                    format!("must be in [0, 1), got {f}"),
                ));
            }
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mix_seed(seed, 77));
            for i in (1..prepared.len()).rev() {
                prepared.swap(i, rng.random_range(0..=i));
            }
            let mut n_val = (prepared.len() as f64 * f).round() as usize;
            if *f > 0.0 {
                n_val = n_val.max(1);
            }
            n_val = n_val.min(prepared.len().saturating_sub(1));
            let validation = prepared.split_off(prepared.len() - n_val);
            (prepared, validation)
        }
        Split::Ids(ids) => {
            for id in ids {
                if !prepared.iter().any(|c| id_of(c) == id) {
                    return Err(Error::config(
                        "validation ids",
                        format!("case {id:?} is not in {}", dir.display()),
                    ));
                }
            }
            let (validation, train) = prepared
                .into_iter()
                .partition(|c| ids.iter().any(|i| i == id_of(c)));
            (train, validation)
        }
    })
}
