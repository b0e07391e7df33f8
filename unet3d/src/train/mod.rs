//! Training: a checked [`TrainConfig`], data from a BraTS-layout folder or generated
//! phantoms ([`TrainData`]), and the [`Trainer`] loop — Dice + focal loss, Adam/AdamW with a
//! poly or cosine schedule, seeded patches and dropout, validation on whole cases through
//! the sliding-window inferer, checkpoints (best and last, atomic) and resume, history as
//! CSV/JSON/PNG.
//!
//! # Reproducibility
//! On the CPU a run is a function of the seed and the thread count: weights come from
//! [`UNet3d::init_tensors`](crate::UNet3d::init_tensors), epoch `e` draws its patches from a sampler seeded with
//! `(seed, e)`, iteration `i`'s dropout masks from `(seed, i)`, and every parallel sum in the
//! convolutions is split into fixed per-thread chunks. Checkpoints are taken at epoch ends
//! with the optimiser's moments, so a resumed run gives bit-identical weights to an
//! uninterrupted one. A `time_limit_s` makes the number of epochs depend on the clock.
//!
//! Files: [`config`] (the checked [`TrainConfig`]), [`data`] (cases and splits), [`stream`]
//! (an endless stream of synthetic cases, generated while training), `fit` (the
//! [`Trainer`] loop), [`history`] (CSV/JSON/PNG per epoch).

pub mod cache;
pub mod config;
pub mod data;
pub mod dist;
mod fit;
pub mod history;
pub mod stream;

pub use config::StreamConfig;
pub use config::{Augment, CheckedTrainConfig, DeviceSpec, LossWeights, Schedule, TrainConfig};
pub use data::{prepare_case, Split, TrainData, TrainingCase};
pub use dist::{Collective, LocalGroup, Solo, TcpGroup};
pub use fit::{TrainSummary, Trainer};
pub use history::write_history;
pub use stream::synthetic_validation;
