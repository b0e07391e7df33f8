//! The writer: the source header kept (datatype, scaling and display range replaced),
//! gzip by extension, written atomically.

use std::io::Write;
use std::path::Path;

use super::affine::rotation_to_quaternion;
use super::header::{encode_header, Datatype, DATA_OFFSET, HEADER_SIZE};
use crate::atomic::atomic_write;
use crate::error::{Error, Result};
use crate::volume::{Geometry, Volume, AFFINE_TOLERANCE};

/// A voxel type [`NiftiWriter`] can write.
pub trait WritableVoxel: Copy + Send + Sync + 'static {
    /// The datatype written.
    const DATATYPE: Datatype;
    /// Appends the little-endian bytes of `values` to `out`.
    fn extend_le(values: &[Self], out: &mut Vec<u8>);
}

macro_rules! writable {
    ($t:ty, $dt:expr) => {
        impl WritableVoxel for $t {
            const DATATYPE: Datatype = $dt;
            fn extend_le(values: &[Self], out: &mut Vec<u8>) {
                out.reserve(values.len() * std::mem::size_of::<$t>());
                for v in values {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    };
}
writable!(u8, Datatype::Uint8);
writable!(i16, Datatype::Int16);
writable!(f32, Datatype::Float32);

/// Options-then-verb NIfTI writer. Output is gzipped when the path ends in `.gz`.
///
/// The header is the volume's source header (when its geometry came from a file and the
/// dims match: description, units, sform and qform kept as they were) with the datatype,
/// scaling (`1`/`0`) and display range replaced; otherwise a fresh header whose sform and
/// qform both encode the affine. The file is written to a temporary file in the same
/// folder and renamed, so a crash never leaves a half-written file under the final name.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiWriter {
    level: u32,
}

impl Default for NiftiWriter {
    fn default() -> Self {
        NiftiWriter { level: 1 }
    }
}

impl NiftiWriter {
    /// A writer with gzip level 1 (nibabel's default: fast, nearly as small as level 6 on
    /// MRI).
    pub fn new() -> Self {
        Self::default()
    }

    /// The gzip level, 0 (store) to 9 (smallest).
    pub fn compression_level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Writes `volume` to `path`.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) when the folder is not writable or the disk fails; nothing is left
    /// under `path` in that case.
    pub fn write<T: WritableVoxel>(
        &self,
        path: impl AsRef<Path>,
        volume: &Volume<T>,
    ) -> Result<()> {
        self.write_frames(path, std::slice::from_ref(volume))
    }

    /// Writes several volumes on one grid as one 4D image, volume `n` at index `n` of the
    /// fourth axis (the layout of a time series, and of per-channel maps such as region
    /// probabilities); the header is the first volume's, as [`NiftiWriter::write`]. One
    /// volume is written as a 3D image.
    ///
    /// # Errors
    /// [`Error::Shape`] for no volume, or more than 32,767;
    /// [`Error::GridMismatch`] naming the first volume on another grid; as
    /// [`NiftiWriter::write`] otherwise.
    pub fn write_frames<T: WritableVoxel>(
        &self,
        path: impl AsRef<Path>,
        frames: &[Volume<T>],
    ) -> Result<()> {
        self.write_scaled(path.as_ref(), frames, 1.0)
    }

    /// Writes probability maps (values in `[0, 1]`; one, or several on one grid as
    /// [`NiftiWriter::write_frames`] lays them out) as uint8 with `scl_slope` 1/255. Readers
    /// that apply the scaling (nibabel, ITK-SNAP, 3D Slicer, [`NiftiReader`](super::NiftiReader))
    /// see `k / 255`, within 0.002 of the value given (so `> 0.5` keeps its answer except
    /// within 0.002 of 0.5), at about a tenth of float32's size on disk: most brain voxels
    /// hold a small non-zero probability, which gzip cannot squeeze out of a float.
    ///
    /// # Errors
    /// [`Error::Config`] naming the map and the value when one is NaN or outside `[0, 1]`;
    /// as [`NiftiWriter::write_frames`] otherwise.
    pub fn write_probabilities(&self, path: impl AsRef<Path>, maps: &[Volume<f32>]) -> Result<()> {
        let mut quantised = Vec::with_capacity(maps.len());
        for (n, map) in maps.iter().enumerate() {
            // A sum of probabilities may overshoot 1 by rounding; more is a mistake.
            if let Some(v) = map
                .as_slice()
                .iter()
                .find(|v| !(0.0..=1.0 + PROBABILITY_SLACK).contains(*v))
            {
                return Err(Error::config(
                    format!("probability map {n}"),
                    format!("{v} is not in [0, 1]"),
                ));
            }
            let data = map.data().mapv(|p| (p.min(1.0) * 255.0).round() as u8);
            quantised.push(Volume::new(data, map.geometry().clone())?);
        }
        self.write_scaled(path.as_ref(), &quantised, 1.0 / 255.0)
    }

    /// [`NiftiWriter::write_frames`] with `scl_slope` set to `slope` (`scl_inter` 0).
    fn write_scaled<T: WritableVoxel>(
        &self,
        path: &Path,
        frames: &[Volume<T>],
        slope: f32,
    ) -> Result<()> {
        let first = frames
            .first()
            .ok_or_else(|| Error::shape("volumes to write", "at least one", "none"))?;
        if frames.len() > i16::MAX as usize {
            return Err(Error::shape(
                "volumes to write",
                "at most 32767 (NIfTI-1's dim)",
                frames.len(),
            ));
        }
        let grid = first.geometry();
        if let Some(n) = frames
            .iter()
            .position(|f| !grid.same_grid(f.geometry(), AFFINE_TOLERANCE))
        {
            return Err(Error::GridMismatch {
                what: format!("volume 0 vs volume {n} to write"),
                detail: format!("{:?} vs {:?}", grid.dim(), frames[n].geometry().dim()),
            });
        }
        let mut header = header_for::<T>(grid, frames.len());
        header.scl_slope = slope;
        let mut bytes =
            Vec::with_capacity(DATA_OFFSET + frames.len() * grid.len() * T::DATATYPE.size());
        encode_header(&header, &mut bytes);
        bytes.extend_from_slice(&[0, 0, 0, 0]); // no extensions
        for f in frames {
            T::extend_le(f.as_slice(), &mut bytes);
        }
        let gz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        atomic_write(path, |w| {
            if gz {
                let mut enc =
                    flate2::write::GzEncoder::new(w, flate2::Compression::new(self.level));
                enc.write_all(&bytes)?;
                enc.finish()?;
            } else {
                w.write_all(&bytes)?;
            }
            Ok(())
        })
    }
}

/// How far above 1 [`NiftiWriter::write_probabilities`] takes a value as 1 (f32 rounding of
/// a sum of probabilities).
const PROBABILITY_SLACK: f32 = 1e-5;

/// The header of `frames` volumes on `geometry` (3D for one).
fn header_for<T: WritableVoxel>(geometry: &Geometry, frames: usize) -> ::nifti::NiftiHeader {
    let dim = geometry.dim();
    let mut h = match geometry.source_header() {
        Some(src) => src.clone(),
        None => fresh_header(geometry),
    };
    let (ndim, nt) = if frames > 1 {
        (4, frames as u16)
    } else {
        (3, 1)
    };
    h.dim = [
        ndim,
        dim[0] as u16,
        dim[1] as u16,
        dim[2] as u16,
        nt,
        1,
        1,
        1,
    ];
    if frames > 1 && !(h.pixdim[4].is_finite() && h.pixdim[4] > 0.0) {
        h.pixdim[4] = 1.0;
    }
    h.sizeof_hdr = HEADER_SIZE as i32;
    h.datatype = T::DATATYPE.code();
    h.bitpix = (T::DATATYPE.size() * 8) as i16;
    h.vox_offset = DATA_OFFSET as f32;
    h.scl_slope = 1.0;
    h.scl_inter = 0.0;
    h.cal_min = 0.0;
    h.cal_max = 0.0;
    h.glmax = 0;
    h.glmin = 0;
    h.magic = *b"n+1\0";
    h
}

fn fresh_header(g: &Geometry) -> ::nifti::NiftiHeader {
    let a = g.affine();
    let sp = g.spacing();
    let mut h = ::nifti::NiftiHeader {
        xyzt_units: 2 | 8, // mm, s
        sform_code: 2,     // aligned anatomical
        srow_x: [a[0][0], a[0][1], a[0][2], a[0][3]].map(|v| v as f32),
        srow_y: [a[1][0], a[1][1], a[1][2], a[1][3]].map(|v| v as f32),
        srow_z: [a[2][0], a[2][1], a[2][2], a[2][3]].map(|v| v as f32),
        ..Default::default()
    };
    // qform: the rotation part of the affine (columns normalised), as a quaternion.
    let mut r = [[0.0f64; 3]; 3];
    for (row, ar) in r.iter_mut().zip(a.iter()) {
        for c in 0..3 {
            row[c] = ar[c] / sp[c];
        }
    }
    let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    let qfac = if det < 0.0 {
        for row in r.iter_mut() {
            row[2] = -row[2];
        }
        -1.0
    } else {
        1.0
    };
    let (qa, qb, qc, qd) = rotation_to_quaternion(&r);
    let (qb, qc, qd) = if qa < 0.0 {
        (-qb, -qc, -qd)
    } else {
        (qb, qc, qd)
    };
    h.qform_code = 2;
    h.quatern_b = qb as f32;
    h.quatern_c = qc as f32;
    h.quatern_d = qd as f32;
    h.quatern_x = a[0][3] as f32;
    h.quatern_y = a[1][3] as f32;
    h.quatern_z = a[2][3] as f32;
    h.pixdim = [
        qfac as f32,
        sp[0] as f32,
        sp[1] as f32,
        sp[2] as f32,
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    h
}
