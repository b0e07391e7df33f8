//! The `bts` command line: one subcommand per job, each in its own file; this file holds
//! the argument definitions (what `--help` prints) and the dispatch.

mod diagnose;
mod evaluate;
mod forward;
mod inspect;
mod kb;
mod quickstart;
mod segment;
mod synth;
mod train;
mod ui;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use unet3d::infer::PostprocessConfig;

pub use ui::Ui;

/// Brain-tumour MRI segmentation with a clinical cross-check. Decision support, not a
/// diagnosis.
#[derive(Debug, Parser)]
#[command(
    name = "bts",
    version,
    propagate_version = true,
    after_help = "Each subcommand has its own --help. Exit codes: 0 success, 1 failure, 2 usage error. \
                  Progress goes to stderr (hidden when stderr is not a terminal, or with --quiet); \
                  results and --json go to stdout."
)]
pub struct Cli {
    /// No progress bars and no notes on stderr (errors are still printed)
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a NIfTI file or a BraTS case folder (shape, spacing, affine, orientation, statistics)
    Inspect(InspectArgs),
    /// Generate synthetic cases in BraTS layout (real-anatomy generator, or geometric phantoms)
    Synth(SynthArgs),
    /// Plan and preprocess a BraTS folder once into a cache folder (fingerprint, plan, one file per case)
    Prepare(PrepareArgs),
    /// Train the U-Net (from a BraTS folder, a prepared cache, phantoms or the endless synthetic stream)
    Train(TrainArgs),
    /// Copy a training run's checkpoint into a model folder to ship (half precision by default)
    Export(ExportArgs),
    /// Segment a case with a model (the default model unless --model) and write the label map
    Segment(SegmentArgs),
    /// Score label maps against ground truth (Dice, IoU, HD95, ...), or a model on held-out synthetic cases
    Evaluate(EvaluateArgs),
    /// The symptom knowledge base: init, import, export, find, suspect, hospitals
    Kb(KbArgs),
    /// Locate the tumour, cross-check it with the symptoms, refer, and write the report
    Diagnose(DiagnoseArgs),
    /// The main job in one go: phantoms, training, segmentation, evaluation, diagnosis
    Quickstart(QuickstartArgs),
    /// Run the network on a .npy input with PyTorch-interchangeable weights (benchmarking)
    Forward(ForwardArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
}

/// `bts inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A .nii/.nii.gz file, a BraTS case folder, a Decathlon case file (a 4D file in
    /// imagesTr/imagesTs or beside a dataset.json: described as a case), or an nnU-Net case
    /// (imagesTr/ID for ID_0000.nii.gz … ID_0003.nii.gz, or one of those files)
    pub path: PathBuf,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

/// Which generator `bts synth` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generator {
    /// Real anatomy (SRI24 tissue map), tumour subtypes with mass effect, randomised imaging
    Anatomy,
    /// The geometric phantom (fast, any grid and orientation)
    Geometric,
}

/// How softmax probabilities become labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecisionArg {
    /// The most probable class of each voxel
    Argmax,
    /// BraTS's nested regions, each where its classes' probabilities sum to more than 0.5 (whole tumour, core, enhancing)
    Regions,
}

impl From<DecisionArg> for unet3d::infer::Decision {
    fn from(d: DecisionArg) -> Self {
        match d {
            DecisionArg::Argmax => Self::Argmax,
            DecisionArg::Regions => Self::Regions,
        }
    }
}

/// Tumour subtype of the anatomy generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubtypeArg {
    /// High-grade glioma: necrotic core, enhancing rim, edema
    HighGrade,
    /// Lower-grade glioma: non-enhancing, little edema
    LowGrade,
    /// One or several ring-enhancing metastases with disproportionate edema
    Metastasis,
}

impl From<SubtypeArg> for brats_io::synth::Subtype {
    fn from(t: SubtypeArg) -> Self {
        match t {
            SubtypeArg::HighGrade => Self::HighGrade,
            SubtypeArg::LowGrade => Self::LowGrade,
            SubtypeArg::Metastasis => Self::Metastasis,
        }
    }
}

/// Label scheme of written or read label maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Labels {
    /// 0 background, 1 necrotic core, 2 edema, 4 enhancing tumour
    Brats2021,
    /// 0 background, 1 necrotic core, 2 edema, 3 enhancing tumour
    Brats2023,
    /// BraTS 2024's post-treatment gliomas: BraTS 2023's labels and 4 resection cavity (no
    /// tumour: in no region); reads BraTS 2023 maps too
    Brats2024,
    /// The Medical Segmentation Decathlon's Task01: 0 background, 1 edema, 2 non-enhancing
    /// tumour, 3 enhancing tumour
    Decathlon,
    /// nnU-Net's BraTS datasets (Dataset001_BrainTumour, Dataset137_BraTS2021): the
    /// Decathlon's values (1 edema, 2 core, 3 enhancing); synth writes nnU-Net's raw layout
    Nnunet,
}

impl Labels {
    /// `brats2021`, `brats2023`, `brats2024` or `decathlon`, as the libraries name the
    /// schemes (nnU-Net's BraTS labels are the Decathlon's).
    fn name(self) -> &'static str {
        match self {
            Labels::Brats2021 => "brats2021",
            Labels::Brats2023 => "brats2023",
            Labels::Brats2024 => "brats2024",
            Labels::Decathlon | Labels::Nnunet => "decathlon",
        }
    }

    pub(crate) fn scheme(self) -> brats_io::LabelScheme {
        match self {
            Labels::Brats2021 => brats_io::LabelScheme::brats2021(),
            Labels::Brats2023 => brats_io::LabelScheme::brats2023(),
            Labels::Brats2024 => brats_io::LabelScheme::brats2024(),
            Labels::Decathlon | Labels::Nnunet => brats_io::LabelScheme::decathlon(),
        }
    }

    /// The file layout that goes with the labels.
    pub(crate) fn naming(self) -> brats_io::Naming {
        match self {
            Labels::Brats2021 => brats_io::Naming::Brats2021,
            Labels::Brats2023 | Labels::Brats2024 => brats_io::Naming::Brats2023,
            Labels::Decathlon => brats_io::Naming::Decathlon,
            Labels::Nnunet => brats_io::Naming::NnUnet,
        }
    }
}

/// Orientation of geometric phantoms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrientationArg {
    /// i → left, j → posterior, k → superior (BraTS's own)
    Lps,
    /// i → right, j → anterior, k → superior
    Ras,
}

/// `bts synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Folder to write the cases into (one sub-folder per case, BraTS layout, with truth.json;
    /// with --labels decathlon, the Decathlon's layout: imagesTr with one 4D file per case,
    /// labelsTr, dataset.json; with --labels nnunet, nnU-Net's: imagesTr/ID_0000 … _0003)
    #[arg(long)]
    pub out: PathBuf,
    /// Number of cases
    #[arg(long, default_value_t = 1)]
    pub cases: u64,
    /// Seed of the first case; case n uses seed + n, so any case can be regenerated alone
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Which generator
    #[arg(long, value_enum, default_value_t = Generator::Anatomy)]
    pub generator: Generator,
    /// Anatomy generator only: restrict to one subtype [default: all, at their stated frequencies]
    #[arg(long, value_enum)]
    pub subtype: Option<SubtypeArg>,
    /// Label scheme of the written segmentations (and the file layout: BraTS 2021, 2023, the
    /// Decathlon's or nnU-Net's)
    #[arg(long, value_enum, default_value_t = Labels::Brats2021)]
    pub labels: Labels,
    /// Geometric generator only: grid size I,J,K
    #[arg(long, value_parser = parse_shape, default_value = "240,240,155")]
    pub shape: [usize; 3],
    /// Geometric generator only: voxel axes orientation
    #[arg(long, value_enum, default_value_t = OrientationArg::Lps)]
    pub orientation: OrientationArg,
}

/// Training presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Widths 8-128, 2 mm: trains in minutes on a CPU
    Fast,
    /// The seed's network (widths 16-256) at 1 mm
    Seed,
    /// The shipped model's recipe: widths 16-256, deep supervision, 2 mm, synthetic stream
    Synthetic,
}

/// `bts prepare`.
#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// The dataset folder (one sub-folder per case in BraTS naming, or a Decathlon or nnU-Net
    /// dataset: its imagesTr and labelsTr), every case with its segmentation
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The cache folder to write (or to complete: valid cases are kept)
    #[arg(long, value_name = "DIR")]
    pub cache: PathBuf,
    /// Label scheme of the segmentations
    #[arg(long, value_enum, default_value_t = Labels::Brats2021)]
    pub labels: Labels,
    /// Preprocessing of the training preset the cache is for
    #[arg(long, value_enum, default_value_t = Preset::Fast)]
    pub preset: Preset,
    /// Memory budget for the proposed patch size, GB
    #[arg(long, value_name = "GB", default_value_t = 2.0)]
    pub memory_gb: f64,
    /// Print the fingerprint as JSON
    #[arg(long)]
    pub json: bool,
}

/// `bts train`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["data", "cache", "phantoms", "synthetic"]))]
pub struct TrainArgs {
    /// Train on a dataset folder: BraTS case folders, or a Decathlon or nnU-Net dataset, labels
    /// converted to the training scheme (a share held out for validation, see --val-fraction)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Train on a cache folder made by `bts prepare` (same preset and labels)
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Train on N geometric phantoms generated in memory (plus --val held-out ones)
    #[arg(long, value_name = "N")]
    pub phantoms: Option<usize>,
    /// Train on the endless stream of synthetic cases from real anatomy (validating on --val held-out ones)
    #[arg(long)]
    pub synthetic: bool,
    /// Model folder: checkpoints, history.csv/json/png
    #[arg(long, value_name = "MODEL_DIR")]
    pub out: PathBuf,
    /// Continue from MODEL_DIR/last.json (exact: the same run as without the interruption)
    #[arg(long)]
    pub resume: bool,
    /// Fine-tune: start from this model folder's best weights (same network and labels; fresh optimiser and schedule) [default: none, random initialisation from --seed]
    #[arg(long, value_name = "MODEL_DIR")]
    pub init: Option<PathBuf>,
    /// Starting configuration
    #[arg(long, value_enum, default_value_t = Preset::Fast)]
    pub preset: Preset,
    /// A whole TrainConfig JSON (as in a checkpoint's train_config), instead of --preset [default: none]
    #[arg(long, value_name = "TRAIN.json", conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// Epochs [default: the preset's]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Iterations per epoch [default: the preset's]
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Patch edge in voxels, a multiple of 16 [default: the preset's]
    #[arg(long)]
    pub patch: Option<usize>,
    /// Batch size [default: the preset's]
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seed of everything random [default: the preset's]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Learning rate [default: the preset's]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Stop after this many seconds (a checkpoint is written) [default: no limit]
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: Option<f64>,
    /// Worker threads, 0 = all cores [default: the preset's]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Device: cpu, cuda, cuda:N or metal (GPUs need a build with the cuda or metal feature)
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: unet3d::train::DeviceSpec,
    /// Label scheme of the training labels [default: the preset's, brats2021]
    #[arg(long, value_enum)]
    pub labels: Option<Labels>,
    /// Held-out validation cases (phantoms and synthetic)
    #[arg(long, default_value_t = 2)]
    pub val: usize,
    /// Share of --data cases held out for validation
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
}

/// `bts export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The training run's model folder
    #[arg(long, value_name = "RUN_DIR")]
    pub from: PathBuf,
    /// The model folder to write (best.json + model.safetensors)
    #[arg(long, value_name = "MODEL_DIR")]
    pub to: PathBuf,
    /// Export the last checkpoint instead of the best
    #[arg(long)]
    pub last: bool,
    /// Keep single-precision weights (default: half precision, half the size)
    #[arg(long)]
    pub f32: bool,
    /// The exported model averages the eight mirrored predictions of every window by default (in segment, diagnose and `Predictor`; `--no-tta` turns it off for one run) [default: the run's setting]
    #[arg(long)]
    pub tta: bool,
    /// The exported model stores every case in this axis order before the network sees it, losslessly, and writes its map back in the case's own order (e.g. LPS, BraTS's order and the synthetic generator's) [default: the run's setting]
    #[arg(long, value_name = "CODE", value_parser = parse_orientation)]
    pub orientation: Option<brats_io::Orientation>,
    /// Post-processing the exported model applies by default (thresholds from `bts evaluate --synthetic N --calibrate`)
    #[command(flatten)]
    pub post: PostArgs,
}

/// The decision and post-processing thresholds over a model's own (segment, evaluate --synthetic, export).
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct PostArgs {
    /// How the probabilities become labels: argmax, or BraTS's nested regions (whole tumour, core, enhancing) each where its probability exceeds 0.5 [default: the model's]
    #[arg(long, value_enum)]
    pub decision: Option<DecisionArg>,
    /// Remove tumour components smaller than this many mm³ (voxels on a 1 mm grid), 0 = keep all [default: the model's post-processing]
    #[arg(long, value_name = "VOXELS")]
    pub min_component: Option<usize>,
    /// When the case has less enhancement than this many mm³, relabel as core the enhancement of each tumour component whose core outnumbers it (a small lesion that is mostly enhancement keeps it), 0 = never [default: the model's post-processing]
    #[arg(long, value_name = "VOXELS")]
    pub et_to_core: Option<usize>,
    /// Remove tumour components that nowhere reach this many millimetres inside the head (skull-stripping leftovers, surface vessels), 0 = keep all [default: the model's post-processing]
    #[arg(long, value_name = "MM", value_parser = parse_depth_mm)]
    pub min_depth: Option<f64>,
    /// Relabel as edema each core component smaller than this many mm³ that is not the largest core of its tumour component (specks of core in a lesion's edema; a small lesion's only core is kept), 0 = never [default: the model's post-processing]
    #[arg(long, value_name = "MM3")]
    pub min_core_fragment: Option<usize>,
}

/// An axis code such as `LPS` (one of R/L, A/P and S/I per voxel axis).
fn parse_orientation(s: &str) -> Result<brats_io::Orientation, String> {
    s.parse().map_err(|e: brats_io::Error| e.to_string())
}

/// A depth in millimetres: finite and ≥ 0.
fn parse_depth_mm(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected millimetres ≥ 0 (0 = off), got '{s}'")),
    }
}

impl PostArgs {
    /// Whether a decision or any threshold was given.
    pub fn any(&self) -> bool {
        self.decision.is_some()
            || self.min_component.is_some()
            || self.et_to_core.is_some()
            || self.min_depth.is_some()
            || self.min_core_fragment.is_some()
    }

    /// `base` with the decision and thresholds given on the command line; `None` when none was
    /// given.
    pub fn over(&self, base: PostprocessConfig) -> Option<PostprocessConfig> {
        if !self.any() {
            return None;
        }
        Some(PostprocessConfig {
            decision: self.decision.map_or(base.decision, Into::into),
            min_component_mm3: self.min_component.unwrap_or(base.min_component_mm3),
            min_depth_mm: self.min_depth.unwrap_or(base.min_depth_mm),
            et_to_core_below_mm3: self.et_to_core.unwrap_or(base.et_to_core_below_mm3),
            min_core_fragment_mm3: self.min_core_fragment.unwrap_or(base.min_core_fragment_mm3),
        })
    }
}

/// Mirror test-time augmentation over a model's own setting (its `window.mirror_tta`).
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct TtaArgs {
    /// Average the eight mirrored predictions of every window, 8× slower than one (evaluate: with --synthetic; diagnose: when a model segments) [default: the model's]
    #[arg(long, conflicts_with = "no_tta")]
    pub tta: bool,
    /// One prediction per window, even where the model averages the mirrored ones (evaluate: with --synthetic; diagnose: when a model segments) [default: the model's]
    #[arg(long)]
    pub no_tta: bool,
}

impl TtaArgs {
    /// Whether --tta or --no-tta was given.
    pub fn any(&self) -> bool {
        self.tta || self.no_tta
    }

    /// The model's setting `model`, unless --tta or --no-tta says otherwise.
    pub fn over(&self, model: bool) -> bool {
        (model || self.tta) && !self.no_tta
    }
}

/// `bts segment`.
#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// The case folder (four modalities in BraTS naming), or one 4D NIfTI file holding the four
    /// (the Medical Segmentation Decathlon's imagesTr/ID.nii.gz; channels from its
    /// dataset.json), or an nnU-Net case (imagesTr/ID for its channel files ID_0000.nii.gz …
    /// ID_0003.nii.gz, which is which from its dataset.json) (required unless --data)
    #[arg(
        long,
        value_name = "CASE_DIR",
        required_unless_present = "data",
        conflicts_with = "data"
    )]
    pub case: Option<PathBuf>,
    /// A dataset folder: every case folder (or 4D case file, or nnU-Net case) in it is
    /// segmented, into --out as a folder (ID.nii.gz per case, as BraTS submissions and nnU-Net
    /// predictions are named; a Decathlon or nnU-Net dataset folder: its imagesTr); a case
    /// that fails is reported and the others go on (required unless --case)
    #[arg(long, value_name = "DATASET_DIR")]
    pub data: Option<PathBuf>,
    /// Where to write the label map (uint8 NIfTI on the case's grid, the input's header); with
    /// --data, the folder for the maps
    #[arg(long, value_name = "SEG.nii.gz")]
    pub out: PathBuf,
    /// Also write the model's probability of whole tumour, tumour core and enhancing tumour
    /// (a 4D NIfTI on the case's grid with its header, three volumes in that order, uint8
    /// scaled by 1/255, 0 outside the brain, before post-processing); with --data, a folder
    /// (ID.nii.gz per case) other than --out [default: not written]
    #[arg(long, value_name = "PROBS.nii.gz")]
    pub probabilities: Option<PathBuf>,
    /// Model folder [default: $BTS_MODEL, else the shipped models/default]
    #[arg(long, value_name = "MODEL_DIR")]
    pub model: Option<PathBuf>,
    /// Device: cpu, cuda, cuda:N or metal (GPUs need a build with the cuda or metal feature)
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: unet3d::train::DeviceSpec,
    /// Sliding-window overlap in [0, 1) [default: the model's]
    #[arg(long)]
    pub overlap: Option<f64>,
    /// Sliding-window edge in voxels, a multiple of 16 [default: the model's]
    #[arg(long, value_name = "N")]
    pub roi: Option<usize>,
    #[command(flatten)]
    pub tta: TtaArgs,
    #[command(flatten)]
    pub post: PostArgs,
    /// Label scheme of the written map [default: the one that goes with the case's file
    /// naming: brats2021 for *_flair.nii.gz…, brats2023 for *-t2f.nii.gz…, the dataset.json's
    /// (decathlon) for a 4D case file]
    #[arg(long, value_enum)]
    pub labels: Option<Labels>,
    /// Print the summary (timings, voxels per label) as one JSON line
    #[arg(long)]
    pub json: bool,
}

/// How an empty region is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmptyArg {
    /// Both empty: Dice 1 and HD95 0; one empty: Dice 0, HD95 373.13 mm (the challenge's rule)
    Brats2023,
    /// Undefined values are NaN (null in JSON) and left out of means
    Nan,
}

/// `bts evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Predicted label map(s): a NIfTI file or a folder matched to --truth by case id (required unless --synthetic)
    #[arg(
        long,
        value_name = "P",
        required_unless_present = "synthetic",
        conflicts_with = "synthetic"
    )]
    pub pred: Option<PathBuf>,
    /// Ground-truth label map(s): a NIfTI file or a folder (required unless --synthetic)
    #[arg(
        long,
        value_name = "T",
        required_unless_present = "synthetic",
        conflicts_with = "synthetic"
    )]
    pub truth: Option<PathBuf>,
    /// Label scheme of both maps (the regions WT/TC/ET are defined from it) [default: the
    /// truth's: a Decathlon or nnU-Net labelsTr's dataset.json's; brats2024 for BraTS 2023+
    /// names (-seg), which reads 2023's labels too; else brats2021]
    #[arg(long, value_enum)]
    pub labels: Option<Labels>,
    /// Score one foreground region (any non-zero label) instead of WT/TC/ET
    #[arg(long, conflicts_with = "synthetic")]
    pub binary: bool,
    /// How empty regions are scored
    #[arg(long, value_enum, default_value_t = EmptyArg::Brats2023)]
    pub empty: EmptyArg,
    /// Also score lesion by lesion as the challenge does since 2023 (connected components, Dice matching): a "lesion_wise" object per case and region, aggregated under "summary"
    #[arg(long, conflicts_with_all = ["binary", "synthetic"])]
    pub lesion_wise: bool,
    /// Print {"cases": [...], "summary": {...}} instead of the table
    #[arg(long)]
    pub json: bool,
    /// Also write one row per case and region to this CSV file [default: none]
    #[arg(long, value_name = "FILE", conflicts_with = "synthetic")]
    pub csv: Option<PathBuf>,
    /// Instead of files: segment N new synthetic cases per subtype with a model and score them [default: off]
    #[arg(long, value_name = "N")]
    pub synthetic: Option<u64>,
    /// With --synthetic: the model folder [default: $BTS_MODEL, else the shipped models/default]
    #[arg(long, value_name = "MODEL_DIR")]
    pub model: Option<PathBuf>,
    /// With --synthetic: device: cpu, cuda, cuda:N or metal (GPUs need a build with the cuda or metal feature)
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: unet3d::train::DeviceSpec,
    /// With --synthetic: base seed (subtype t, case n use seed + 1000000·t + n; no training run uses these) [default: 9000000000, with --calibrate 8000000000]
    #[arg(long)]
    pub seed: Option<u64>,
    /// With --synthetic: choose the post-processing thresholds on these cases (every pair of candidates scored on the raw predictions; the table, and the best pair to pass to `bts export`). Use seeds apart from the held-out ones
    #[arg(long)]
    pub calibrate: bool,
    /// With --synthetic: only this subtype's cases (the same seeds as in the full run) [default: all]
    #[arg(long, value_enum)]
    pub subtype: Option<SubtypeArg>,
    /// With --synthetic: mirror test-time augmentation over the model's own setting
    #[command(flatten)]
    pub tta: TtaArgs,
    /// With --synthetic: share of cases whose tissue contrasts are drawn fully at random, in [0, 1]; a seed's anatomy and tumour do not depend on it, so 0 and 1 score the same tumours with MRI-like and with random contrasts [default: the generator's, 0.1]
    #[arg(long)]
    pub random_contrast_share: Option<f64>,
    /// With --synthetic: post-processing over the model's own
    #[command(flatten)]
    pub post: PostArgs,
}

/// `bts kb`.
#[derive(Debug, Args)]
pub struct KbArgs {
    /// Knowledge-base folder [default: $BTS_KB_DIR, else $XDG_DATA_HOME/brain-tumour-seg/kb, else ~/.local/share/brain-tumour-seg/kb; created with the default content on first use]
    #[arg(long, value_name = "DIR", global = true)]
    pub db: Option<PathBuf>,
    /// JSON on stdout instead of the table
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: KbCommand,
}

/// `bts kb` subcommands.
#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Store the default content (replaces what is there)
    Init,
    /// Import: .json the whole content, .csv the hospital directory (validated; all or nothing)
    Import {
        /// The file to import
        file: PathBuf,
    },
    /// Export: .json the whole content, .csv the hospital directory
    Export {
        /// The file to write
        file: PathBuf,
    },
    /// Free text (Korean or English) → symptoms with side and qualifiers
    Find {
        /// The text, e.g. "오른쪽 팔에 힘이 빠져요"
        text: String,
    },
    /// An intake JSON → suspected regions with their evidence
    Suspect {
        /// The intake file
        intake: PathBuf,
    },
    /// Hospitals for a region (SAMPLE DATA), best first
    Hospitals {
        /// REGION or REGION@SIDE (side: left, right, midline, bilateral), e.g. frontal_lobe@left
        site: String,
        /// Required capability (repeatable) [default: none]
        #[arg(long, value_name = "NAME", value_parser = capability_names())]
        capability: Vec<String>,
        /// Rank by distance from LAT,LON in degrees [default: no distance]
        #[arg(long, value_name = "LAT,LON", value_parser = parse_lat_lon)]
        near: Option<(f64, f64)>,
        /// How many
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
}

/// `bts diagnose`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("site").required(true).args(["case", "location"]))]
pub struct DiagnoseArgs {
    /// The patient's pre-visit intake (JSON; Korean or English symptoms)
    #[arg(long, value_name = "INTAKE.json")]
    pub intake: PathBuf,
    /// Report folder: report.json/md/html, overlays (and segmentation.nii.gz and the model's certainty picture when a model segments)
    #[arg(long, value_name = "REPORT_DIR")]
    pub out: PathBuf,
    /// The case folder (or one 4D case file, as in the Decathlon's imagesTr, or an nnU-Net
    /// case, imagesTr/ID); segmented by the default model unless --model or --mask
    #[arg(long, value_name = "CASE_DIR")]
    pub case: Option<PathBuf>,
    /// No images: the tumour site as REGION@SIDE, e.g. frontal_lobe@left
    #[arg(long, value_name = "REGION@SIDE")]
    pub location: Option<String>,
    /// Model folder [default: $BTS_MODEL, else the shipped models/default]
    #[arg(long, value_name = "MODEL_DIR", conflicts_with_all = ["mask", "location"])]
    pub model: Option<PathBuf>,
    /// Device: cpu, cuda, cuda:N or metal (GPUs need a build with the cuda or metal feature)
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: unet3d::train::DeviceSpec,
    /// Use this label map instead of segmenting [default: none]
    #[arg(long, value_name = "SEG.nii.gz", conflicts_with = "location")]
    pub mask: Option<PathBuf>,
    /// When a model segments (--case without --mask): mirror test-time augmentation over the model's own setting
    #[command(flatten)]
    pub tta: TtaArgs,
    /// Label scheme of --mask, and of the segmentation.nii.gz written when the model segments
    /// [default: the one that goes with the case's file naming: brats2021 for
    /// *_flair.nii.gz…, brats2023 for *-t2f.nii.gz…, the dataset.json's (decathlon) for a 4D
    /// case file]
    #[arg(long, value_enum)]
    pub labels: Option<Labels>,
    /// Your own atlas volume (with --atlas-labels) [default: the built-in SRI24 atlas]
    #[arg(long, value_name = "ATLAS.nii.gz", requires = "atlas_labels")]
    pub atlas: Option<PathBuf>,
    /// The atlas's label table (CSV) [default: the built-in atlas's]
    #[arg(long, value_name = "LABELS.csv", requires = "atlas")]
    pub atlas_labels: Option<PathBuf>,
    /// Knowledge-base folder [default: as for `bts kb`]
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// How many hospitals to recommend
    #[arg(long, default_value_t = 5)]
    pub hospitals: usize,
    /// Print the whole report as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// `bts quickstart`.
#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Output folder (replaced model sub-folder; everything else overwritten)
    #[arg(long, default_value = "quickstart-out")]
    pub out: PathBuf,
}

/// `bts forward`.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// Weights (safetensors, PyTorch names)
    #[arg(long, value_name = "W.safetensors")]
    pub weights: PathBuf,
    /// Network config JSON (ours or the reference script's) [default: the seed's network]
    #[arg(long, value_name = "C.json")]
    pub config: Option<PathBuf>,
    /// Device: cpu, cuda, cuda:N or metal (GPUs need a build with the cuda or metal feature)
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: unet3d::train::DeviceSpec,
    /// Input tensor [B, 4, D, H, W] as .npy
    #[arg(long, value_name = "X.npy")]
    pub input: PathBuf,
    /// Write the softmax probabilities here as float32 .npy [default: not written]
    #[arg(long, value_name = "Y.npy")]
    pub output: Option<PathBuf>,
    /// Time N runs after a warm-up and print {"median_s": ...}
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub repeat: usize,
    /// Time a training step instead (train-mode forward, MSE to zero, backward, Adam)
    #[arg(long)]
    pub train_step: bool,
}

/// `bts completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

fn parse_shape(s: &str) -> std::result::Result<[usize; 3], String> {
    let parts: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("expected three whole numbers I,J,K, got {s:?}"))?;
    match parts[..] {
        [i, j, k] if i > 0 && j > 0 && k > 0 => Ok([i, j, k]),
        _ => Err(format!("expected three positive numbers I,J,K, got {s:?}")),
    }
}

fn parse_device(v: &str) -> std::result::Result<unet3d::train::DeviceSpec, String> {
    v.parse().map_err(|e: unet3d::Error| e.to_string())
}

fn capability_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(symptom_kb::Capability::ALL.map(|c| c.name()))
}

fn parse_lat_lon(v: &str) -> std::result::Result<(f64, f64), String> {
    let parse = |x: &str| x.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    match v.split_once(',').map(|(a, b)| (parse(a), parse(b))) {
        Some((Some(lat), Some(lon))) if lat.abs() <= 90.0 && lon.abs() <= 180.0 => Ok((lat, lon)),
        _ => Err(format!(
            "expected LAT,LON in degrees (latitude within ±90, longitude within ±180), got {v:?}"
        )),
    }
}

/// Parses the command line; usage errors print one line and exit with 2, `--help` and
/// `--version` print and exit with 0.
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => {
                eprintln!("{}", one_line(&e.render().to_string()));
                std::process::exit(2)
            }
        },
    }
}

/// clap's multi-line usage error as one line: the message and its tips, then where to
/// find help (`bts SUBCOMMAND --help`, the subcommands named on the command line).
fn one_line(rendered: &str) -> String {
    let mut text = String::new();
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            continue;
        }
        if !text.is_empty() {
            text.push_str(if text.ends_with(':') { " " } else { "; " });
        }
        text.push_str(line.strip_prefix("tip: ").unwrap_or(line));
    }
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut path = vec!["bts".to_string()];
    for arg in std::env::args().skip(1) {
        let Some(sub) = command.find_subcommand(&arg).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_string());
        command = sub;
    }
    format!("{text} (see '{} --help')", path.join(" "))
}

/// A usage error found after parsing (a combination clap cannot express): one line, exit 2.
fn usage_error(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

/// An error's cause chain as one line: "what failed: why: why", newlines flattened, a
/// cause left out when the message before it already says it (library errors often
/// carry their source's text).
pub fn chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if line.contains(text.trim()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text.trim());
    }
    line
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<()> {
    let ui = Ui::new(cli.quiet);
    match cli.command {
        Command::Inspect(a) => inspect::run(&a),
        Command::Synth(a) => synth::run(&a, &ui),
        Command::Prepare(a) => train::prepare(&a, &ui),
        Command::Train(a) => train::run(&a, &ui),
        Command::Export(a) => train::export(&a),
        Command::Segment(a) => segment::run(&a, &ui),
        Command::Evaluate(a) => evaluate::run(&a, &ui),
        Command::Kb(a) => kb::run(&a, &ui),
        Command::Diagnose(a) => diagnose::run(&a, &ui),
        Command::Quickstart(a) => quickstart::run(&a, &ui),
        Command::Forward(a) => forward::run(&a),
        Command::Completions(a) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut cmd, "bts", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// `name` without `.nii.gz` or `.nii`; `None` for other files.
pub(crate) fn strip_nifti(name: &str) -> Option<&str> {
    name.strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))
}

#[cfg(test)]
mod tta_tests {
    use super::TtaArgs;

    /// Neither flag keeps the model's setting; --tta and --no-tta override it either way.
    #[test]
    fn tta_flags_override_the_models_setting() {
        let none = TtaArgs::default();
        let on = TtaArgs {
            tta: true,
            no_tta: false,
        };
        let off = TtaArgs {
            tta: false,
            no_tta: true,
        };
        for model in [false, true] {
            assert_eq!(none.over(model), model);
            assert!(on.over(model));
            assert!(!off.over(model));
        }
        assert!(!none.any() && on.any() && off.any());
    }
}
