//! The [`Predictor`]: a trained model plus everything it was trained with, turning a case's
//! four images into a label map on the case's own grid.
//!
//! ```text
//! images (FLAIR, T1, T1ce, T2) ─ preprocess (as in training) ─ sliding window ─ classes
//!   ─ label values (model's scheme) ─ restore onto the original grid ─ post-process
//! ```
//! The probabilities are brought back onto the crop of the original grid by the
//! preprocessing record (padding removed; when preprocessing resampled the case, e.g. to
//! 2 mm, resampled back trilinearly, as nnU-Net does) and decided there.

use std::path::{Path, PathBuf};
use std::time::Instant;

use brats_io::preprocess::brain_mask;
use brats_io::progress::Progress;
use brats_io::quality::InputCheck;
use brats_io::{Case, CheckedPreprocess, LabelScheme, Volume};
use candle_core::Device;
use ndarray::{Array4, Zip};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointMeta, Which, CHANNELS};
use crate::error::{Error, Result};
use crate::infer::{
    confidence, decide, postprocess, region_probabilities, sliding_window, CheckedWindow,
    Confidence, Head, PostprocessConfig, PostprocessReport, SlidingWindowConfig,
};
use crate::model::UNet3d;

/// Seconds spent in each phase of a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Preprocessing (crop, normalise, resample, pad).
    pub preprocess_s: f64,
    /// Sliding-window inference.
    pub inference_s: f64,
    /// Classes → labels, back onto the original grid, post-processing.
    pub restore_s: f64,
}

/// A label map and how it was obtained.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Label values of the model's scheme on the case's original grid (its header kept).
    pub labels: Volume<u8>,
    /// Probabilities `[n_out, D, H, W]` on the preprocessed grid, when asked for.
    pub probabilities: Option<Array4<f32>>,
    /// When asked for ([`PredictOptions::region_probabilities`]): the probability of whole
    /// tumour, tumour core and enhancing tumour, in that order, on the case's own grid with
    /// its header (what [`Prediction::labels`] was decided from: brought back from the
    /// model's grid trilinearly, clamped to `[0, 1]`, 0 outside the brain mask, before
    /// post-processing). For viewing the model's certainty over the map, or for averaging
    /// several models' maps.
    pub region_probabilities: Option<[Volume<f32>; 3]>,
    /// What post-processing changed.
    pub postprocess: PostprocessReport,
    /// How sure the network was of its map (from its probabilities inside the brain, before
    /// post-processing; see [`crate::infer::confidence`]).
    pub confidence: Confidence,
    /// The input checks of the four images ([`InputCheck`]): the volume of the brain mask
    /// the map was confined to ([`brain_mask`]), and whether the scan looks not
    /// skull-stripped, its FLAIR and T2 swapped or its images not co-registered
    /// ([`Prediction::input_warnings`]).
    pub input: InputCheck,
    /// The sliding window used (the options' or the model's; `mirror_tta` says whether the
    /// mirrored predictions were averaged).
    pub window: SlidingWindowConfig,
    /// Time per phase.
    pub timings: Timings,
}

impl Prediction {
    /// What the input checks found, for people: the scan looks not skull-stripped, its
    /// FLAIR and T2 look swapped, or its images look not co-registered
    /// ([`InputCheck::warnings`]). The map is made all the same,
    /// but the model, trained on skull-stripped and correctly labelled scans, may misread
    /// such input without doubting itself.
    pub fn input_warnings(&self) -> Vec<String> {
        self.input.warnings()
    }
}

/// Per-call options.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PredictOptions {
    /// Sliding window (None: the checkpoint's, i.e. training's validation settings).
    pub window: Option<SlidingWindowConfig>,
    /// Post-processing (None: the checkpoint's).
    pub postprocess: Option<PostprocessConfig>,
    /// Keep the probabilities (on the preprocessed grid: [`Prediction::probabilities`]).
    pub keep_probabilities: bool,
    /// Give each BraTS region's probability on the case's own grid
    /// ([`Prediction::region_probabilities`]).
    pub region_probabilities: bool,
}

/// Environment variable naming the model folder [`Predictor::load_default`] uses.
pub const MODEL_ENV: &str = "BTS_MODEL";

/// The default model's folder: `$BTS_MODEL` when set, else `models/default` of the
/// workspace this crate was built in (the pretrained model shipped in the repository,
/// see its `MODEL_CARD.md`; crates.io packages cannot carry it).
///
/// # Errors
/// [`Error::File`] when neither exists.
pub fn default_model_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(MODEL_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    if dir.join("best.json").exists() {
        return Ok(dir);
    }
    Err(Error::File {
        path: dir,
        message: format!(
            "no default model here (this build is not in the repository that ships one); \
             give a model folder, or set {MODEL_ENV}"
        ),
    })
}

/// A model ready to segment cases.
#[derive(Debug, Clone)]
pub struct Predictor {
    net: UNet3d,
    meta: CheckpointMeta,
    device: Device,
}

impl Predictor {
    /// Loads the best (or, without validation, the last) checkpoint of a model folder on
    /// the CPU.
    ///
    /// # Errors
    /// [`Error::File`] when the folder holds no checkpoint; [`Error::Weight`] naming a
    /// tensor that is missing or misshapen (a checkpoint whose config does not match its
    /// weights); [`Error::Config`] when the checkpoint's channel order is not this crate's.
    pub fn load(dir: impl AsRef<Path>) -> Result<Predictor> {
        Predictor::load_checkpoint(dir.as_ref(), Which::Best, &Device::Cpu)
    }

    /// Loads the best (or last) checkpoint of a model folder onto a device (`cpu`,
    /// `cuda:N`, `metal`; the GPU backends need the crate's `cuda` or `metal` feature).
    ///
    /// # Errors
    /// As [`Predictor::load`]; [`Error::Config`] naming `device` when this build has no
    /// such backend or the device cannot be opened.
    pub fn load_on(dir: impl AsRef<Path>, device: crate::train::DeviceSpec) -> Result<Predictor> {
        Predictor::load_checkpoint(dir.as_ref(), Which::Best, &device.device()?)
    }

    /// Loads the default model ([`default_model_dir`]) on the CPU.
    ///
    /// # Errors
    /// [`Error::File`] when there is no default model (and how to give one); as
    /// [`Predictor::load`].
    pub fn load_default() -> Result<Predictor> {
        Predictor::load(default_model_dir()?)
    }

    /// Loads a given checkpoint onto `device`.
    ///
    /// # Errors
    /// As [`Predictor::load`].
    pub fn load_checkpoint(dir: &Path, which: Which, device: &Device) -> Result<Predictor> {
        let (path, meta) = checkpoint::read_meta(dir, which)?;
        if meta.channels != CHANNELS {
            return Err(Error::config(
                "channels",
                format!(
                    "{} expects input channels {:?}; cases load as {CHANNELS:?}",
                    path.display(),
                    meta.channels
                ),
            ));
        }
        meta.preprocess.check()?;
        meta.window.check()?;
        let net = UNet3d::load(
            dir.join(&meta.weights),
            &meta.model.clone().check()?,
            device,
        )?;
        Ok(Predictor {
            net,
            meta,
            device: device.clone(),
        })
    }

    /// A predictor from a network and the settings it was trained with.
    ///
    /// # Errors
    /// [`Error::Config`] when the window's sides do not fit the network's divisor.
    pub fn from_parts(
        net: UNet3d,
        scheme: LabelScheme,
        preprocess: CheckedPreprocess,
        window: CheckedWindow,
    ) -> Result<Predictor> {
        let window = *window.config();
        window.check_divisor(net.config().divisor())?;
        let preprocess = *preprocess.config();
        let meta = CheckpointMeta {
            format: checkpoint::FORMAT.into(),
            weights: String::new(),
            optimizer: None,
            model: net.config().clone(),
            scheme,
            channels: CHANNELS.iter().map(|s| s.to_string()).collect(),
            preprocess,
            window,
            postprocess: PostprocessConfig::default(),
            epoch: 0,
            iteration: 0,
            score: None,
            best_score: None,
            best_epoch: None,
            seed: 0,
            elapsed_s: 0.0,
            saved_at_unix_s: 0,
            train_config: serde_json::Value::Null,
            history: Vec::new(),
        };
        Ok(Predictor {
            net,
            meta,
            device: Device::Cpu,
        })
    }

    /// The checkpoint's metadata.
    pub fn meta(&self) -> &CheckpointMeta {
        &self.meta
    }

    /// The label scheme of predicted maps.
    pub fn scheme(&self) -> &LabelScheme {
        &self.meta.scheme
    }

    /// The network.
    pub fn network(&self) -> &UNet3d {
        &self.net
    }

    /// Segments a loaded case; the labels come out in the model's scheme
    /// ([`Predictor::scheme`]; [`LabelScheme::convert`] writes them in another). When the
    /// case carries a segmentation, it must fit the model's scheme or one of BraTS's
    /// (a BraTS 2023 case, ET = 3, is segmented by a model trained on BraTS 2021 labels,
    /// ET = 4): a label map that fits none is not a segmentation this model can be compared
    /// with ([`Predictor::truth_of`]).
    ///
    /// # Errors
    /// [`Error::Config`] for a case whose segmentation fits no known label scheme; otherwise
    /// as [`Predictor::predict`].
    pub fn predict_case(
        &self,
        case: &Case,
        opts: &PredictOptions,
        progress: &dyn Progress,
    ) -> Result<Prediction> {
        self.seg_scheme(case)?;
        self.predict(&case.images, opts, progress)
    }

    /// The case's segmentation in the model's scheme, to compare a [`Prediction`] with:
    /// converted from [`Case::seg_scheme`] when the case says what its labels are (a
    /// Decathlon or nnU-Net case, a BraTS 2023+ folder), else as it is when it fits the model's scheme, else converted by
    /// compartment from the BraTS scheme it fits (2021: 1/2/4, 2023: 1/2/3). `None` without
    /// a segmentation.
    ///
    /// # Errors
    /// [`Error::Config`] naming the case when its segmentation fits none of them.
    pub fn truth_of(&self, case: &Case) -> Result<Option<Volume<u8>>> {
        let (Some(seg), Some(from)) = (&case.seg, self.seg_scheme(case)?) else {
            return Ok(None);
        };
        let context = format!("case {}", case.id);
        let data = from.convert(seg.data(), &self.meta.scheme, &context)?;
        Ok(Some(Volume::new(data, seg.geometry().clone())?))
    }

    /// The scheme the case's segmentation fits: the model's, else BraTS 2021's or 2023's
    /// (`None` without a segmentation).
    fn seg_scheme(&self, case: &Case) -> Result<Option<LabelScheme>> {
        let Some(seg) = &case.seg else {
            return Ok(None);
        };
        let context = format!("case {}", case.id);
        // The layout says what the values mean (a Decathlon or nnU-Net case, a BraTS 2023+
        // folder): no guessing.
        if let Some(own) = &case.seg_scheme {
            own.check(seg.data(), &context)?;
            return Ok(Some(own.clone()));
        }
        let model = &self.meta.scheme;
        let Err(e) = model.check(seg.data(), &context) else {
            return Ok(Some(model.clone()));
        };
        [LabelScheme::brats2021(), LabelScheme::brats2023()]
            .into_iter()
            .find(|s| s.check(seg.data(), &context).is_ok())
            .map(Some)
            .ok_or_else(|| {
                Error::config(
                    "scheme",
                    format!(
                        "the case's segmentation fits neither the model's label scheme {} nor BraTS 2021 (1/2/4) or 2023 (1/2/3) ({e}); convert its labels first",
                        model.name()
                    ),
                )
            })
    }

    /// Segments four co-registered images (FLAIR, T1, T1ce, T2, one grid).
    ///
    /// # Errors
    /// [`Error::Shape`] when there are not four images; preprocessing errors (grids that
    /// differ, an image that is all zero — no brain to crop); [`Error::Config`] for invalid
    /// options.
    pub fn predict(
        &self,
        images: &[Volume<f32>],
        opts: &PredictOptions,
        progress: &dyn Progress,
    ) -> Result<Prediction> {
        if images.len() != CHANNELS.len() {
            return Err(Error::shape(
                "case images",
                format!("{} ({CHANNELS:?})", CHANNELS.len()),
                images.len(),
            ));
        }
        for (img, name) in images.iter().zip(CHANNELS) {
            if img.data().iter().all(|&v| v == 0.0) {
                return Err(Error::config(
                    "images",
                    format!("the {name} image is all zero: nothing to segment"),
                ));
            }
        }
        let used = opts.window.unwrap_or(self.meta.window);
        let window = used.check_divisor(self.meta.model.divisor())?;
        let post = opts.postprocess.unwrap_or(self.meta.postprocess);
        let t0 = Instant::now();
        let brain = brain_mask(images);
        let pre = self
            .meta
            .preprocess
            .check()?
            .apply_with_brain(images, None, brain.view())?;
        let t1 = Instant::now();
        let probs = sliding_window(&self.net, pre.image.view(), &window, &self.device, progress)?;
        let t2 = Instant::now();
        // Back onto the crop of the original grid, decided there, nothing outside the brain.
        let rec = &pre.record;
        let crop_probs = rec.restore_probabilities(probs.view())?;
        let crop_brain = rec.crop_of(brain.view())?;
        let voxel_mm3 = images[0].geometry().voxel_volume_mm3();
        let certainty = confidence(
            &crop_probs,
            crop_brain,
            self.meta.model.final_activation,
            &self.meta.scheme,
            voxel_mm3 / 1000.0,
        )?;
        let input = InputCheck::with_brain(images, brain.view())?;
        let region_maps = if opts.region_probabilities {
            let maps = region_probabilities(
                &crop_probs,
                self.meta.model.final_activation,
                &self.meta.scheme,
            )?;
            let [wt, tc, et] = maps.map(|mut p| {
                Zip::from(&mut p).and(&crop_brain).for_each(|p, &b| {
                    *p = if b { p.clamp(0.0, 1.0) } else { 0.0 };
                });
                rec.uncrop(p)
            });
            Some([wt?, tc?, et?])
        } else {
            None
        };
        let labels = decide(
            &crop_probs,
            crop_brain,
            self.meta.model.final_activation,
            post.decision,
            &self.meta.scheme,
        )?;
        let restored = rec.uncrop(labels)?;
        let (mut data, geometry) = restored.into_parts();
        let [si, sj, sk] = geometry.spacing();
        let head = Head {
            mask: brain.view(),
            spacing: [sk, sj, si],
        };
        let report = postprocess(&mut data, &self.meta.scheme, &post, voxel_mm3, Some(head))?;
        let labels = Volume::new(data, geometry)?;
        let t3 = Instant::now();
        Ok(Prediction {
            labels,
            probabilities: opts.keep_probabilities.then_some(probs),
            region_probabilities: region_maps,
            postprocess: report,
            confidence: certainty,
            input,
            window: used,
            timings: Timings {
                preprocess_s: (t1 - t0).as_secs_f64(),
                inference_s: (t2 - t1).as_secs_f64(),
                restore_s: (t3 - t2).as_secs_f64(),
            },
        })
    }
}
