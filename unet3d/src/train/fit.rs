//! The training loop: batches, loss with deep supervision, validation, checkpoints.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use brats_io::progress::{NoProgress, Progress};
use brats_io::{PatchSampler, PatchSource};
use brats_metrics::loss::{DiceFocalLoss, Target};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::config::{CheckedTrainConfig, TrainConfig};
use super::data::{TrainData, TrainingCase};
use super::dist::{Collective, Solo};
use super::stream::SynthStream;

/// The training cases, epoch by epoch.
enum Cases {
    /// The same cases every epoch.
    Fixed(Vec<PatchSource>),
    /// A pool refreshed every epoch.
    Stream(Box<SynthStream>),
}

impl Cases {
    fn epoch(&mut self, epoch: usize) -> Result<&[PatchSource]> {
        match self {
            Cases::Fixed(v) => Ok(v),
            Cases::Stream(s) => s.epoch(epoch),
        }
    }
}
use super::history::{describe, write_history};
use crate::checkpoint::{self, CheckpointMeta, EpochRecord, GroupDice, Which, CHANNELS, FORMAT};
use crate::error::{Error, Result};
use crate::infer::{classes_from_probabilities, sliding_window, Decision, PostprocessConfig};
use crate::model::{mix_seed, CheckedUNet3dConfig, Mode, Output, UNet3d};
use crate::optim::Adam;

/// The result of [`Trainer::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Epochs completed in the run (including those before a resume).
    pub epochs: usize,
    /// Iterations completed.
    pub iterations: u64,
    /// Best mean validation Dice and its epoch.
    pub best_score: Option<f64>,
    /// Epoch of the best score.
    pub best_epoch: Option<usize>,
    /// Validation Dice (WT, TC, ET) of the last validated epoch.
    pub last_val_dice: Option<[f64; 3]>,
    /// Seconds of training (across resumes).
    pub elapsed_s: f64,
    /// True when the time limit ended the run early.
    pub stopped_by_time_limit: bool,
}

/// Runs training into a model folder.
#[derive(Clone)]
pub struct Trainer {
    cfg: CheckedTrainConfig,
    out: PathBuf,
    progress: Arc<dyn Progress>,
    collective: Arc<dyn Collective>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("cfg", &self.cfg)
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

/// Named parameters in the config's order, as `Var`s.
fn vars_from(tensors: Vec<(String, Tensor)>) -> Result<Vec<(String, Var)>> {
    tensors
        .into_iter()
        .map(|(n, t)| Ok((n, Var::from_tensor(&t.to_dtype(DType::F32)?)?)))
        .collect()
}

/// The network's parameters read from `file`, in the config's order, each checked for
/// presence, shape and dtype.
fn model_weights(
    model: &crate::UNet3dConfig,
    file: &Path,
    dev: &Device,
) -> Result<Vec<(String, Tensor)>> {
    let mut weights = checkpoint::load_tensors(file, dev)?;
    crate::model::check_parameters(model, &weights, file)?;
    Ok(model
        .parameter_shapes()
        .into_iter()
        .filter_map(|(name, _)| weights.remove(&name).map(|t| (name, t)))
        .collect())
}

/// The weights a fine-tuning run starts from: `dir`'s best checkpoint, whose network and
/// label scheme must be the run's.
fn initial_weights(
    cfg: &CheckedTrainConfig,
    dir: &Path,
    dev: &Device,
) -> Result<Vec<(String, Tensor)>> {
    let (path, meta) = checkpoint::read_meta(dir, Which::Best)?;
    if meta.model != cfg.model {
        return Err(Error::config(
            "init",
            format!(
                "{} holds another network than the run's `model` (fine-tuning keeps the architecture)",
                path.display()
            ),
        ));
    }
    if meta.scheme != cfg.scheme {
        return Err(Error::config(
            "init",
            format!(
                "{} predicts the {} label scheme, the run trains {}",
                path.display(),
                meta.scheme.name(),
                cfg.scheme.name()
            ),
        ));
    }
    model_weights(&cfg.model, &dir.join(&meta.weights), dev)
}

fn net_from(cfg: &CheckedUNet3dConfig, vars: &[(String, Var)], dev: &Device) -> Result<UNet3d> {
    let map: HashMap<String, Tensor> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    UNet3d::new(cfg, VarBuilder::from_tensors(map, DType::F32, dev))
}

impl Trainer {
    /// A trainer writing into `out` (created when missing).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration.
    pub fn new(cfg: TrainConfig, out: impl Into<PathBuf>) -> Result<Trainer> {
        Ok(Trainer {
            cfg: cfg.check()?,
            out: out.into(),
            progress: Arc::new(NoProgress),
            collective: Arc::new(Solo),
        })
    }

    /// Trains as one rank of a data-parallel group (see [`super::dist`]): the configured
    /// batch size is this rank's share; gradients are averaged through `collective`; only
    /// rank 0 validates and writes the model folder.
    pub fn collective(mut self, collective: Arc<dyn Collective>) -> Trainer {
        self.collective = collective;
        self
    }

    /// Reports progress (epochs, iterations, validation) to `progress` (none by default).
    pub fn progress(mut self, progress: Arc<dyn Progress>) -> Trainer {
        self.progress = progress;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        self.cfg.config()
    }

    /// Trains on `data`; with `resume`, continues from the folder's `last` checkpoint
    /// (which must come from the same configuration, epochs and time limit aside).
    ///
    /// # Errors
    /// [`Error::Config`] for bad data or a mismatched resume; file errors naming the file.
    pub fn fit(&self, data: &TrainData, resume: bool) -> Result<TrainSummary> {
        data.check()?;
        if self.cfg.synthetic.is_some() {
            return Err(Error::config(
                "synthetic",
                "is set: train with Trainer::fit_synthetic, or remove it to train on data",
            ));
        }
        let sources = data
            .train
            .iter()
            .map(|c| PatchSource::new(c.image.clone(), c.classes.clone()))
            .collect::<brats_io::Result<_>>()?;
        self.run(Cases::Fixed(sources), &data.validation, resume)
    }

    /// Trains on cases of a cache folder ([`super::cache`]), reading each patch from disk
    /// when it is drawn, so that memory does not grow with the number of cases; validates
    /// on `validation` (in memory). Draws the same patches as [`Trainer::fit`] on the same
    /// cases in memory.
    ///
    /// # Errors
    /// File errors naming the file; [`Error::Config`] for a mismatched resume or no case.
    pub fn fit_cached(
        &self,
        train: &[super::cache::CaseFile],
        validation: &[TrainingCase],
        resume: bool,
    ) -> Result<TrainSummary> {
        if self.cfg.synthetic.is_some() {
            return Err(Error::config(
                "synthetic",
                "is set: train with Trainer::fit_synthetic, or remove it to train on a cache",
            ));
        }
        if train.is_empty() {
            return Err(Error::config("data", "no training case in the cache"));
        }
        let sources = train
            .iter()
            .map(|f| f.patch_source())
            .collect::<Result<Vec<_>>>()?;
        self.run(Cases::Fixed(sources), validation, resume)
    }

    /// Trains on an endless stream of synthetic cases ([`TrainConfig::synthetic`]): a pool
    /// of cases of which a few are replaced by new ones after every epoch (see
    /// [`super::stream`]); validates on `validation` (for example
    /// [`super::stream::synthetic_validation`]).
    ///
    /// # Errors
    /// [`Error::Config`] when `synthetic` is not set or a resume does not match; generator,
    /// preprocessing and file errors.
    pub fn fit_synthetic(&self, validation: &[TrainingCase], resume: bool) -> Result<TrainSummary> {
        let Some(stream) = &self.cfg.synthetic else {
            return Err(Error::config(
                "synthetic",
                "is not set: there is no synthetic stream to train on",
            ));
        };
        let stream = SynthStream::new(stream, &self.cfg.preprocess, self.progress.clone())?;
        self.run(Cases::Stream(Box::new(stream)), validation, resume)
    }

    fn run(&self, cases: Cases, validation: &[TrainingCase], resume: bool) -> Result<TrainSummary> {
        std::fs::create_dir_all(&self.out).map_err(|e| Error::File {
            path: self.out.clone(),
            message: format!("cannot create the model folder: {e}"),
        })?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.cfg.threads)
            .build()
            .map_err(|e| Error::config("threads", e.to_string()))?;
        pool.install(|| self.fit_inner(cases, validation, resume))
    }

    fn fit_inner(
        &self,
        mut cases: Cases,
        validation: &[TrainingCase],
        resume: bool,
    ) -> Result<TrainSummary> {
        let cfg = &self.cfg;
        let dev = cfg.device.device()?;
        let total = (cfg.epochs * cfg.iterations_per_epoch) as u64;
        let mut start_epoch = 0usize;
        let mut iteration = 0u64;
        let mut history: Vec<EpochRecord> = Vec::new();
        let (mut best_score, mut best_epoch) = (None::<f64>, None::<usize>);
        let mut elapsed_before = 0.0;
        let vars;
        let mut opt;
        if resume {
            let (path, meta) = checkpoint::read_meta(&self.out, Which::Last)?;
            // Read back as a configuration, so that fields added after the checkpoint was
            // written take their defaults (chosen to keep the earlier behaviour) instead of
            // counting as a difference.
            let key = match serde_json::from_value::<super::TrainConfig>(meta.train_config.clone())
            {
                Ok(stored) => stored.resume_key(),
                Err(_) => meta.train_config.clone(),
            };
            if key != cfg.resume_key() {
                return Err(Error::config(
                    "resume",
                    format!(
                        "{} was written with another training configuration; resume with the same settings (only epochs and the time limit may change)",
                        path.display()
                    ),
                ));
            }
            let file = self.out.join(&meta.weights);
            let named = model_weights(&cfg.model, &file, &dev)?;
            vars = vars_from(named)?;
            opt = Adam::new(vars.clone(), cfg.checked_optimizer())?;
            let opt_file = meta.optimizer.as_ref().ok_or_else(|| {
                Error::config(
                    "resume",
                    format!("{} has no optimiser state", path.display()),
                )
            })?;
            let state = checkpoint::load_tensors(&self.out.join(opt_file), &dev)?;
            opt.load_state(&state, meta.iteration)?;
            start_epoch = meta.epoch;
            iteration = meta.iteration;
            history = meta.history.clone();
            best_score = meta.best_score;
            best_epoch = meta.best_epoch;
            elapsed_before = meta.elapsed_s;
        } else if let Some(dir) = &cfg.init {
            vars = vars_from(initial_weights(cfg, dir, &dev)?)?;
            opt = Adam::new(vars.clone(), cfg.checked_optimizer())?;
        } else {
            vars = vars_from(UNet3d::init_tensors(cfg.checked_model(), cfg.seed, &dev)?)?;
            opt = Adam::new(vars.clone(), cfg.checked_optimizer())?;
        }
        let net = net_from(cfg.checked_model(), &vars, &dev)?;
        let loss_fn = cfg.loss_fn()?;
        let patch_cfg = cfg.patch_config().check()?;
        let started = Instant::now();
        let mut stopped_by_time = false;
        let mut last_val = history.iter().rev().find_map(|r| r.val_dice);
        for epoch in start_epoch..cfg.epochs {
            if let Some(limit) = cfg.time_limit_s {
                if elapsed_before + started.elapsed().as_secs_f64() >= limit {
                    stopped_by_time = true;
                    break;
                }
            }
            let sources = cases.epoch(epoch)?;
            let mut sampler = PatchSampler::new(patch_cfg, mix_seed(cfg.seed, 1 + epoch as u64));
            let mut pick = rand_chacha::ChaCha8Rng::seed_from_u64(mix_seed(
                cfg.seed,
                1_000_003 + epoch as u64,
            ));
            let pb = &*self.progress;
            pb.start(
                &format!("epoch {}/{}", epoch + 1, cfg.epochs),
                cfg.iterations_per_epoch as u64,
            );
            let mut loss_sum = 0.0;
            let mut lr = cfg.optimizer.lr;
            // A worker thread draws, augments and assembles the batches (reading patches
            // from disk for cached cases) and hands them over a bounded queue of two, so
            // that data loading overlaps the network's work. One producer keeps the order,
            // so the run stays the same for a seed.
            std::thread::scope(|scope| -> Result<()> {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(Tensor, Tensor)>>(2);
                let (sampler, pick, dev_ref) = (&mut sampler, &mut pick, &dev);
                scope.spawn(move || {
                    for _ in 0..cfg.iterations_per_epoch {
                        let batch = self.batch(sources, sampler, pick, dev_ref);
                        let failed = batch.is_err();
                        if tx.send(batch).is_err() || failed {
                            break;
                        }
                    }
                });
                for _ in 0..cfg.iterations_per_epoch {
                    lr = cfg.lr_at(iteration, total);
                    opt.set_lr(lr);
                    let (x, target) = rx
                        .recv()
                        .map_err(|_| Error::config("data", "the batch loader stopped"))??;
                    let outs = net.forward_all(
                        &x,
                        Mode::Train {
                            seed: mix_seed(cfg.seed, 0xD50 + iteration),
                        },
                    )?;
                    let loss = self.loss(&loss_fn, &outs, &target)?;
                    let mut value = [loss.to_scalar::<f32>()?];
                    self.collective.all_reduce_mean(&mut value)?;
                    let value = f64::from(value[0]);
                    if !value.is_finite() {
                        return Err(Error::config(
                            "optimizer.lr",
                            format!("the loss became {value} at iteration {iteration}; lower the learning rate"),
                        ));
                    }
                    let mut grads = loss.backward()?;
                    if self.collective.world_size() > 1 {
                        Self::average_gradients(&mut grads, &vars, &*self.collective)?;
                    }
                    opt.step(&grads)?;
                    loss_sum += value;
                    iteration += 1;
                    pb.message(&format!("loss {value:.4} lr {lr:.2e}"));
                    pb.advance(1);
                }
                Ok(())
            })?;
            pb.finish();
            let epoch_no = epoch + 1;
            let lead = self.collective.rank() == 0;
            let validate = lead
                && cfg.validation_interval > 0
                && !validation.is_empty()
                && (epoch_no % cfg.validation_interval == 0 || epoch_no == cfg.epochs);
            let (val, val_groups) = if validate {
                let (mean, groups) = self.validate(&net, validation, &dev)?;
                (Some(mean), groups)
            } else {
                (None, Vec::new())
            };
            let elapsed = elapsed_before + started.elapsed().as_secs_f64();
            let record = EpochRecord {
                epoch: epoch_no,
                iteration,
                train_loss: loss_sum / cfg.iterations_per_epoch as f64,
                lr,
                val_dice: val,
                val_groups,
                elapsed_s: elapsed,
            };
            if lead {
                self.progress.line(&describe(&record));
            }
            history.push(record);
            let score = val.map(|v| (v[0] + v[1] + v[2]) / 3.0);
            let improved = match (score, best_score) {
                (Some(s), Some(b)) => s > b,
                (Some(_), None) => true,
                (None, _) => validation.is_empty() || cfg.validation_interval == 0,
            };
            if improved {
                best_score = score.or(best_score);
                best_epoch = Some(epoch_no);
            }
            if val.is_some() {
                last_val = val;
            }
            let weights: Vec<(String, Tensor)> = vars
                .iter()
                .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
                .collect();
            let meta = |which: Which| CheckpointMeta {
                format: FORMAT.into(),
                weights: format!(
                    "{}-e{epoch_no:04}.safetensors",
                    if which == Which::Best { "best" } else { "last" }
                ),
                optimizer: (which == Which::Last)
                    .then(|| format!("last-e{epoch_no:04}.optimizer.safetensors")),
                model: cfg.model.clone(),
                scheme: cfg.scheme.clone(),
                channels: CHANNELS.iter().map(|s| s.to_string()).collect(),
                preprocess: cfg.preprocess,
                window: cfg.window,
                postprocess: PostprocessConfig::default(),
                epoch: epoch_no,
                iteration,
                score,
                best_score,
                best_epoch,
                seed: cfg.seed,
                elapsed_s: elapsed,
                saved_at_unix_s: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                train_config: serde_json::to_value(cfg.config()).unwrap_or_default(),
                history: history.clone(),
            };
            if !lead {
                continue;
            }
            if improved {
                checkpoint::write_checkpoint(
                    &self.out,
                    Which::Best,
                    &meta(Which::Best),
                    &weights,
                    None,
                )?;
            }
            checkpoint::write_checkpoint(
                &self.out,
                Which::Last,
                &meta(Which::Last),
                &weights,
                Some(&opt.state()),
            )?;
            write_history(&self.out, &history)?;
        }
        Ok(TrainSummary {
            epochs: history.last().map_or(0, |r| r.epoch),
            iterations: iteration,
            best_score,
            best_epoch,
            last_val_dice: last_val,
            elapsed_s: elapsed_before + started.elapsed().as_secs_f64(),
            stopped_by_time_limit: stopped_by_time,
        })
    }

    /// Replaces every variable's gradient by its mean over the ranks (one all-reduce of all
    /// gradients concatenated, in the variables' order).
    fn average_gradients(
        grads: &mut candle_core::backprop::GradStore,
        vars: &[(String, Var)],
        collective: &dyn Collective,
    ) -> Result<()> {
        let mut flat: Vec<f32> = Vec::new();
        let mut shapes = Vec::with_capacity(vars.len());
        for (_, v) in vars {
            let g = match grads.get(v.as_tensor()) {
                Some(g) => g.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?,
                None => vec![0.0; v.elem_count()],
            };
            shapes.push(g.len());
            flat.extend(g);
        }
        collective.all_reduce_mean(&mut flat)?;
        let mut at = 0;
        for ((_, v), len) in vars.iter().zip(shapes) {
            let g = Tensor::from_slice(&flat[at..at + len], v.shape(), v.device())?
                .to_dtype(v.dtype())?;
            grads.insert(v.as_tensor(), g);
            at += len;
        }
        Ok(())
    }

    /// One batch: images `[B, 4, P…]` and the target (class indices, or region maps).
    fn batch(
        &self,
        sources: &[PatchSource],
        sampler: &mut PatchSampler,
        pick: &mut rand_chacha::ChaCha8Rng,
        dev: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let cfg = &self.cfg;
        let p = cfg.patch;
        let n = p[0] * p[1] * p[2];
        let b = cfg.batch_size;
        // Every rank draws the whole global batch from the same sampler and keeps its share.
        let (rank, world) = (self.collective.rank(), self.collective.world_size());
        let mut xs = Vec::with_capacity(b * 4 * n);
        let mut ys: Vec<u8> = Vec::with_capacity(b * n);
        for i in 0..b * world {
            let src = &sources[pick.random_range(0..sources.len())];
            let patch = sampler.sample(src)?;
            if i / b == rank {
                xs.extend(patch.image.iter().copied());
                ys.extend(patch.seg.iter().copied());
            }
        }
        let x = Tensor::from_vec(xs, (b, 4, p[0], p[1], p[2]), dev)?;
        let target = match cfg.model.final_activation {
            Output::Softmax => Tensor::from_vec(ys, (b, p[0], p[1], p[2]), dev)?,
            Output::SigmoidRegions => {
                let table = cfg.scheme.class_regions();
                let mut t = vec![0f32; b * 3 * n];
                for bi in 0..b {
                    for v in 0..n {
                        let m = table[ys[bi * n + v] as usize];
                        for r in 0..3 {
                            t[(bi * 3 + r) * n + v] = f32::from(u8::from(m[r]));
                        }
                    }
                }
                Tensor::from_vec(t, (b, 3, p[0], p[1], p[2]), dev)?
            }
        };
        Ok((x, target))
    }

    /// Main loss plus deep-supervision losses (½-resolution head weight ½, ¼-resolution head
    /// weight ¼, normalised to sum 1) on targets
    /// subsampled to each head's resolution.
    fn loss(&self, loss_fn: &DiceFocalLoss, outs: &[Tensor], target: &Tensor) -> Result<Tensor> {
        // outs: main (full resolution), ds3 (¼), ds2 (½).
        let weights = [1.0, 0.25, 0.5];
        let norm: f64 = weights[..outs.len().min(3)].iter().sum();
        let mut total: Option<Tensor> = None;
        for (i, logits) in outs.iter().enumerate() {
            let stride = match i {
                0 => 1,
                1 => 4,
                _ => 2,
            };
            let w = weights[i.min(2)] / norm;
            let t = subsample(target, stride, self.cfg.model.final_activation)?;
            let l = match self.cfg.model.final_activation {
                Output::Softmax => loss_fn.forward(logits, Target::Indices(&t))?,
                Output::SigmoidRegions => loss_fn.forward(logits, Target::OneHot(&t))?,
            };
            let l = (l * w)?;
            total = Some(match total {
                None => l,
                Some(acc) => (acc + l)?,
            });
        }
        total.ok_or_else(|| Error::config("model", "the network produced no output"))
    }

    /// Mean region Dice over `cases`, and per group of the cases that have one.
    fn validate(
        &self,
        net: &UNet3d,
        cases: &[TrainingCase],
        dev: &Device,
    ) -> Result<([f64; 3], Vec<GroupDice>)> {
        let pb = &*self.progress;
        pb.start("validate", cases.len() as u64);
        let window = self.cfg.checked_window();
        let scheme = &self.cfg.scheme;
        let mut sum = [0.0; 3];
        let mut groups: BTreeMap<&str, (usize, [f64; 3])> = BTreeMap::new();
        for c in cases {
            let probs = sliding_window(net, c.image.view(), &window, dev, &NoProgress)?;
            // Validation scores the network as trained: argmax, the decision its loss targets.
            let pred = classes_from_probabilities(
                &probs,
                self.cfg.model.final_activation,
                Decision::Argmax,
                scheme,
            )?;
            let pred = scheme.from_classes(&pred, "validation prediction")?;
            let truth = scheme.from_classes(&c.classes, "validation truth")?;
            let d = brats_metrics::brats::region_dice(pred.view(), truth.view(), scheme)?;
            for i in 0..3 {
                sum[i] += d[i];
            }
            if let Some(g) = &c.group {
                let (n, s) = groups.entry(g).or_insert((0, [0.0; 3]));
                *n += 1;
                for i in 0..3 {
                    s[i] += d[i];
                }
            }
            pb.advance(1);
        }
        pb.finish();
        let groups = groups
            .into_iter()
            .map(|(g, (n, s))| GroupDice {
                group: g.to_string(),
                cases: n,
                dice: s.map(|x| x / n as f64),
            })
            .collect();
        Ok((sum.map(|s| s / cases.len() as f64), groups))
    }
}

/// Every `stride`-th voxel of a target (indices `[B, D, H, W]` or maps `[B, C, D, H, W]`).
fn subsample(t: &Tensor, stride: usize, output: Output) -> Result<Tensor> {
    if stride == 1 {
        return Ok(t.clone());
    }
    let first = match output {
        Output::Softmax => 1,
        Output::SigmoidRegions => 2,
    };
    let mut t = t.clone();
    for axis in first..first + 3 {
        let n = t.dims()[axis];
        let idx: Vec<u32> = (0..n as u32).step_by(stride).collect();
        let idx = Tensor::from_vec(idx.clone(), idx.len(), t.device())?;
        t = t.contiguous()?.index_select(&idx, axis)?;
    }
    Ok(t)
}
