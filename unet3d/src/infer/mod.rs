//! Inference: [`window`] (Gaussian-weighted sliding window over any [`WindowPredictor`],
//! optional mirror TTA), [`decide`](mod@decide) (probabilities → label values inside the brain, by argmax or by BraTS's nested regions),
//! [`confidence`](mod@confidence) (how sure the network was, without a reference) and
//! [`postprocess`](mod@postprocess) (small components, too little enhancement). Nothing here imports
//! training.
//!
//! Windows of `roi` voxels are placed on a regular grid whose step is `roi·(1 − overlap)`
//! (the last window flush with the far edge, as MONAI's `sliding_window_inference`); each
//! window's probabilities are weighted by a Gaussian importance map and accumulated in
//! place, so memory is the volume's probabilities plus a batch of windows.

pub mod confidence;
pub mod decide;
pub mod postprocess;
pub mod window;

pub use brats_io::components::connected_components;
pub use confidence::{confidence, Confidence};
pub use decide::{classes_from_probabilities, decide, region_probabilities, Decision};
pub use postprocess::{
    count_enhancing, postprocess, voxels_of, Calibration, CalibrationRow, Head, PostprocessConfig,
    PostprocessReport,
};
pub use window::{
    gaussian_importance, sliding_window, window_starts, CheckedWindow, SlidingWindowConfig,
    WindowPredictor,
};
