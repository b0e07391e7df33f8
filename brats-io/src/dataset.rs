//! Patch sampling and augmentation for training.
//!
//! A [`PatchSampler`] owns its random generator (ChaCha8, seeded), so the same seed gives
//! the same patches, flips and intensity changes on every machine. Of every `n` patches,
//! `round(n · foreground_share)` are centred on a tumour voxel (exactly, not on average);
//! when a case has no tumour those draws fall back to a uniformly placed patch and say so
//! in [`Patch::forced_foreground`].
//!
//! ```
//! use brats_io::{PatchConfig, PatchSampler, PatchSource};
//! use ndarray::{Array3, Array4};
//! # fn main() -> brats_io::Result<()> {
//! let image = Array4::<f32>::ones([4, 32, 32, 32]);
//! let mut seg = Array3::<u8>::zeros([32, 32, 32]);
//! seg[[20, 20, 20]] = 1;
//! let source = PatchSource::new(image, seg)?;
//! let mut sampler = PatchSampler::new(PatchConfig { patch: [16, 16, 16], ..Default::default() }.check()?, 7);
//! let p = sampler.sample(&source)?;
//! assert_eq!(p.image.shape(), &[4, 16, 16, 16]);
//! # Ok(()) }
//! ```

use ndarray::{s, Array3, Array4, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Unchecked patch and augmentation parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatchConfig {
    /// Patch shape `[D, H, W]`.
    pub patch: [usize; 3],
    /// Share of patches forced to contain tumour, in `[0, 1]` (default 1/3).
    pub foreground_share: f64,
    /// Probability of flipping each axis `[D, H, W]` independently (0 disables).
    pub flip_probability: f64,
    /// Each channel is multiplied by a factor drawn uniformly from `1 ± intensity_scale`.
    pub intensity_scale: f32,
    /// Each channel is shifted by a value drawn uniformly from `± intensity_shift`
    /// (in z-score units) — applied to brain voxels only (non-zero), background stays 0.
    pub intensity_shift: f32,
}

impl Default for PatchConfig {
    fn default() -> Self {
        PatchConfig {
            patch: [128, 128, 128],
            foreground_share: 1.0 / 3.0,
            flip_probability: 0.5,
            intensity_scale: 0.1,
            intensity_shift: 0.1,
        }
    }
}

/// Checked parameters; the only kind a [`PatchSampler`] takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedPatchConfig(PatchConfig);

impl PatchConfig {
    /// Validates every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field: a zero patch axis, a share or probability outside
    /// `[0, 1]`, a negative or non-finite intensity range.
    pub fn check(self) -> Result<CheckedPatchConfig> {
        if self.patch.contains(&0) {
            return Err(Error::config(
                "patch",
                format!("every axis must be ≥ 1, got {:?}", self.patch),
            ));
        }
        for (name, p) in [
            ("foreground_share", self.foreground_share),
            ("flip_probability", self.flip_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::config(name, format!("must be in [0, 1], got {p}")));
            }
        }
        for (name, v) in [
            ("intensity_scale", self.intensity_scale),
            ("intensity_shift", self.intensity_shift),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(
                    name,
                    format!("must be finite and ≥ 0, got {v}"),
                ));
            }
        }
        if self.intensity_scale >= 1.0 {
            return Err(Error::config(
                "intensity_scale",
                format!(
                    "must be < 1 (a factor 1 ± scale), got {}",
                    self.intensity_scale
                ),
            ));
        }
        Ok(CheckedPatchConfig(self))
    }
}

/// A preprocessed training case, with its tumour voxels indexed for foreground draws:
/// in memory ([`PatchSource::new`]) or read patch by patch from a flat file on disk
/// ([`PatchSource::from_flat_file`]), so that memory does not grow with the dataset.
#[derive(Debug, Clone)]
pub struct PatchSource {
    data: SourceData,
    /// `[D, H, W]`.
    shape: [usize; 3],
    channels: usize,
    foreground: Vec<[usize; 3]>,
}

#[derive(Debug, Clone)]
enum SourceData {
    Memory {
        image: Array4<f32>,
        seg: Array3<u8>,
    },
    File {
        path: std::path::PathBuf,
        file: std::sync::Arc<std::fs::File>,
        image_offset: u64,
        seg_offset: u64,
    },
}

/// Keep at most ~20k tumour voxels (evenly strided) — plenty for centring patches.
fn stride_foreground(all: impl ExactSizeIterator<Item = [usize; 3]>) -> Vec<[usize; 3]> {
    let stride = all.len().div_ceil(20_000).max(1);
    all.step_by(stride).collect()
}

impl PatchSource {
    /// Wraps an image and its label map (classes or label values: any non-zero is tumour).
    ///
    /// # Shapes
    /// `image`: `[C, D, H, W]`; `seg`: `[D, H, W]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the spatial shapes differ or the image has no channel.
    pub fn new(image: Array4<f32>, seg: Array3<u8>) -> Result<Self> {
        if image.shape()[1..] != *seg.shape() || image.shape()[0] == 0 {
            return Err(Error::shape(
                "patch source",
                format!("image [C ≥ 1, {:?}]", seg.shape()),
                format!("{:?}", image.shape()),
            ));
        }
        let fg: Vec<[usize; 3]> = seg
            .indexed_iter()
            .filter(|(_, &v)| v != 0)
            .map(|((k, j, i), _)| [k, j, i])
            .collect();
        let sh = seg.shape();
        Ok(PatchSource {
            shape: [sh[0], sh[1], sh[2]],
            channels: image.shape()[0],
            foreground: stride_foreground(fg.into_iter()),
            data: SourceData::Memory { image, seg },
        })
    }

    /// A case stored in a flat little-endian file: the image `[C, D, H, W]` as `f32` at
    /// `image_offset`, the labels `[D, H, W]` as `u8` at `seg_offset`; `tumour` holds the
    /// flat `[D, H, W]` offsets of its tumour voxels. Patches are read from the file when
    /// drawn (positioned reads, one per patch row), nothing else is kept in memory.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file when it cannot be opened or is shorter than the layout
    /// says; [`Error::Shape`] for a tumour offset outside the grid.
    pub fn from_flat_file(
        path: &std::path::Path,
        image_offset: u64,
        seg_offset: u64,
        channels: usize,
        shape: [usize; 3],
        tumour: &[u32],
    ) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let n = shape.iter().product::<usize>();
        let need = (image_offset + (channels * n * 4) as u64).max(seg_offset + n as u64);
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len < need || channels == 0 {
            return Err(Error::io(
                path,
                std::io::Error::other(format!(
                    "{len} bytes, the layout needs {need} ({channels} channels of {shape:?})"
                )),
            ));
        }
        let (h, w) = (shape[1], shape[2]);
        let mut fg = Vec::with_capacity(tumour.len());
        for &t in tumour {
            let t = t as usize;
            if t >= n {
                return Err(Error::shape(
                    "tumour index",
                    format!("< {n}"),
                    t.to_string(),
                ));
            }
            fg.push([t / (h * w), (t / w) % h, t % w]);
        }
        Ok(PatchSource {
            shape,
            channels,
            foreground: stride_foreground(fg.into_iter()),
            data: SourceData::File {
                path: path.to_path_buf(),
                file: std::sync::Arc::new(file),
                image_offset,
                seg_offset,
            },
        })
    }

    /// True when the case holds any tumour voxel.
    pub fn has_foreground(&self) -> bool {
        !self.foreground.is_empty()
    }

    /// The grid `[D, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The image `[C, D, H, W]`, when it is in memory.
    pub fn image(&self) -> Option<&Array4<f32>> {
        match &self.data {
            SourceData::Memory { image, .. } => Some(image),
            SourceData::File { .. } => None,
        }
    }

    /// The labels `[D, H, W]`, when they are in memory.
    pub fn seg(&self) -> Option<&Array3<u8>> {
        match &self.data {
            SourceData::Memory { seg, .. } => Some(seg),
            SourceData::File { .. } => None,
        }
    }
}

/// One training patch.
#[derive(Debug, Clone)]
pub struct Patch {
    /// `[C, pD, pH, pW]`.
    pub image: Array4<f32>,
    /// `[pD, pH, pW]`.
    pub seg: Array3<u8>,
    /// Position of the patch's first voxel in the source (may be negative: zero padding).
    pub origin: [i64; 3],
    /// Whether this draw was forced onto tumour (false also when it was due but the case has
    /// none).
    pub forced_foreground: bool,
    /// Which axes `[D, H, W]` were flipped.
    pub flipped: [bool; 3],
}

/// Draws patches from [`PatchSource`]s with one seeded generator.
#[derive(Debug, Clone)]
pub struct PatchSampler {
    cfg: PatchConfig,
    rng: ChaCha8Rng,
    drawn: u64,
}

impl PatchSampler {
    /// A sampler with its own generator seeded by `seed`.
    pub fn new(cfg: CheckedPatchConfig, seed: u64) -> Self {
        PatchSampler {
            cfg: cfg.0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            drawn: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PatchConfig {
        &self.cfg
    }

    /// Draws the next patch (position, flips, intensity change) from `source`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file when a file-backed source cannot be read.
    pub fn sample(&mut self, source: &PatchSource) -> Result<Patch> {
        let share = self.cfg.foreground_share;
        let n = self.drawn as f64;
        let due = ((n + 1.0) * share).round() > (n * share).round();
        self.drawn += 1;
        let shape = source.shape;
        let p = self.cfg.patch;
        let forced = due && source.has_foreground();
        let origin: [i64; 3] = if forced {
            let idx = self.rng.random_range(0..source.foreground.len());
            let c = source.foreground[idx];
            // Centre on the voxel, jittered by up to a quarter patch, then clamp inside.
            [0, 1, 2].map(|a| {
                let jitter = (p[a] / 4) as i64;
                let j = if jitter > 0 {
                    self.rng.random_range(-jitter..=jitter)
                } else {
                    0
                };
                let start = c[a] as i64 - p[a] as i64 / 2 + j;
                clamp_start(start, p[a], shape[a])
            })
        } else {
            [0, 1, 2].map(|a| {
                let span = shape[a] as i64 - p[a] as i64;
                if span > 0 {
                    self.rng.random_range(0..=span)
                } else {
                    span / 2
                }
            })
        };
        let (mut image, mut seg) = extract(source, origin, p)?;
        let mut flipped = [false; 3];
        for (a, f) in flipped.iter_mut().enumerate() {
            if self.rng.random::<f64>() < self.cfg.flip_probability {
                *f = true;
                image.invert_axis(Axis(a + 1));
                seg.invert_axis(Axis(a));
            }
        }
        let (sc, sh) = (self.cfg.intensity_scale, self.cfg.intensity_shift);
        for mut ch in image.axis_iter_mut(Axis(0)) {
            let scale = if sc > 0.0 {
                1.0 + self.rng.random_range(-sc..=sc)
            } else {
                1.0
            };
            let shift = if sh > 0.0 {
                self.rng.random_range(-sh..=sh)
            } else {
                0.0
            };
            ch.mapv_inplace(|v| if v != 0.0 { v * scale + shift } else { 0.0 });
        }
        Ok(Patch {
            image: image.as_standard_layout().into_owned(),
            seg: seg.as_standard_layout().into_owned(),
            origin,
            forced_foreground: forced,
            flipped,
        })
    }
}

fn clamp_start(start: i64, p: usize, n: usize) -> i64 {
    let max = n as i64 - p as i64;
    if max >= 0 {
        start.clamp(0, max)
    } else {
        max / 2
    }
}

/// Copies the block at `origin` (zero outside the source).
fn extract(
    source: &PatchSource,
    origin: [i64; 3],
    p: [usize; 3],
) -> Result<(Array4<f32>, Array3<u8>)> {
    let c = source.channels;
    let shape = source.shape;
    let mut image = Array4::<f32>::zeros([c, p[0], p[1], p[2]]);
    let mut seg = Array3::<u8>::zeros(p);
    let lo = [0, 1, 2].map(|a| origin[a].max(0) as usize);
    let hi = [0, 1, 2].map(|a| ((origin[a] + p[a] as i64).min(shape[a] as i64)).max(0) as usize);
    if (0..3).any(|a| lo[a] >= hi[a]) {
        return Ok((image, seg));
    }
    let dst = [0, 1, 2].map(|a| (lo[a] as i64 - origin[a]) as usize);
    match &source.data {
        SourceData::Memory {
            image: img,
            seg: sg,
        } => {
            let src_sl = s![lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]];
            let dst_sl = s![
                dst[0]..dst[0] + hi[0] - lo[0],
                dst[1]..dst[1] + hi[1] - lo[1],
                dst[2]..dst[2] + hi[2] - lo[2]
            ];
            seg.slice_mut(dst_sl).assign(&sg.slice(src_sl));
            for ch in 0..c {
                image
                    .index_axis_mut(Axis(0), ch)
                    .slice_mut(dst_sl)
                    .assign(&img.index_axis(Axis(0), ch).slice(src_sl));
            }
        }
        SourceData::File {
            path,
            file,
            image_offset,
            seg_offset,
        } => {
            let [_, h, w] = shape;
            let n = shape.iter().product::<usize>();
            let row = hi[2] - lo[2];
            let mut bytes = vec![0u8; row * 4];
            let read = |buf: &mut [u8], at: u64| {
                read_exact_at(file, buf, at).map_err(|e| Error::io(path, e))
            };
            for z in lo[0]..hi[0] {
                for y in lo[1]..hi[1] {
                    let flat = (z * h + y) * w + lo[2];
                    let (dz, dy) = (dst[0] + z - lo[0], dst[1] + y - lo[1]);
                    read(&mut bytes[..row], seg_offset + flat as u64)?;
                    for (x, &v) in bytes[..row].iter().enumerate() {
                        seg[[dz, dy, dst[2] + x]] = v;
                    }
                    for ch in 0..c {
                        read(&mut bytes, image_offset + ((ch * n + flat) * 4) as u64)?;
                        for (x, b) in bytes.chunks_exact(4).enumerate() {
                            image[[ch, dz, dy, dst[2] + x]] =
                                f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        }
                    }
                }
            }
        }
    }
    Ok((image, seg))
}

/// Reads exactly `buf.len()` bytes at `offset` without moving a shared cursor.
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (file, buf, offset);
        Err(std::io::ErrorKind::Unsupported.into())
    }
}
