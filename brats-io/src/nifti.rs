//! NIfTI-1 reading and writing (`.nii`, `.nii.gz`).
//!
//! The header is parsed by the `nifti` crate; the voxel bytes are read here in one piece so
//! that the allocation is checked against the header *before* it happens and the conversion
//! to `f32` runs in parallel. Voxels stay in on-disk order: `[k][j][i]` C-contiguous.
//!
//! ```no_run
//! use brats_io::{NiftiReader, NiftiWriter};
//! # fn main() -> brats_io::Result<()> {
//! let flair = NiftiReader::new().read_f32("BraTS2021_00000_flair.nii.gz")?;
//! println!("{:?} {}", flair.geometry().dim(), flair.geometry().orientation());
//! let mask = flair.map(|v| u8::from(*v > 100.0));
//! NiftiWriter::new().write("mask.nii.gz", &mask)?; // same header and affine as FLAIR
//! # Ok(()) }
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use ndarray::Array3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::volume::{Geometry, Volume};

const HEADER_SIZE: usize = 348;
const DATA_OFFSET: usize = 352;

/// A NIfTI voxel datatype this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Datatype {
    /// `DT_UINT8` (2)
    Uint8,
    /// `DT_INT8` (256)
    Int8,
    /// `DT_INT16` (4)
    Int16,
    /// `DT_UINT16` (512)
    Uint16,
    /// `DT_INT32` (8)
    Int32,
    /// `DT_UINT32` (768)
    Uint32,
    /// `DT_INT64` (1024)
    Int64,
    /// `DT_UINT64` (1280)
    Uint64,
    /// `DT_FLOAT32` (16)
    Float32,
    /// `DT_FLOAT64` (64)
    Float64,
}

impl Datatype {
    /// The datatype for a NIfTI `datatype` code, if supported.
    pub fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            2 => Datatype::Uint8,
            256 => Datatype::Int8,
            4 => Datatype::Int16,
            512 => Datatype::Uint16,
            8 => Datatype::Int32,
            768 => Datatype::Uint32,
            1024 => Datatype::Int64,
            1280 => Datatype::Uint64,
            16 => Datatype::Float32,
            64 => Datatype::Float64,
            _ => return None,
        })
    }

    /// The NIfTI `datatype` code.
    pub fn code(self) -> i16 {
        match self {
            Datatype::Uint8 => 2,
            Datatype::Int8 => 256,
            Datatype::Int16 => 4,
            Datatype::Uint16 => 512,
            Datatype::Int32 => 8,
            Datatype::Uint32 => 768,
            Datatype::Int64 => 1024,
            Datatype::Uint64 => 1280,
            Datatype::Float32 => 16,
            Datatype::Float64 => 64,
        }
    }

    /// Bytes per voxel.
    pub fn size(self) -> usize {
        match self {
            Datatype::Uint8 | Datatype::Int8 => 1,
            Datatype::Int16 | Datatype::Uint16 => 2,
            Datatype::Int32 | Datatype::Uint32 | Datatype::Float32 => 4,
            Datatype::Int64 | Datatype::Uint64 | Datatype::Float64 => 8,
        }
    }

    /// True for the integer types.
    pub fn is_integer(self) -> bool {
        !matches!(self, Datatype::Float32 | Datatype::Float64)
    }

    /// The lower-case name (`"int16"`, `"float32"`, …), as nibabel prints it.
    pub fn name(self) -> &'static str {
        match self {
            Datatype::Uint8 => "uint8",
            Datatype::Int8 => "int8",
            Datatype::Int16 => "int16",
            Datatype::Uint16 => "uint16",
            Datatype::Int32 => "int32",
            Datatype::Uint32 => "uint32",
            Datatype::Int64 => "int64",
            Datatype::Uint64 => "uint64",
            Datatype::Float32 => "float32",
            Datatype::Float64 => "float64",
        }
    }
}

/// What to do with voxels that are NaN or ±Inf after scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NonFinite {
    /// Refuse the file with [`Error::NonFinite`] and the count (default).
    #[default]
    Reject,
    /// Replace each with 0 (the caller accepts the damage).
    ReplaceWithZero,
}

/// What a NIfTI header says, without the voxels.
#[derive(Debug, Clone)]
pub struct NiftiInfo {
    /// The voxel datatype on disk.
    pub datatype: Datatype,
    /// `scl_slope` as stored (0 means "no scaling").
    pub scl_slope: f32,
    /// `scl_inter` as stored.
    pub scl_inter: f32,
    /// The grid (dims, spacing, affine).
    pub geometry: Geometry,
    /// Which transform gave the affine: `"sform"`, `"qform"` or `"spacing"`.
    pub affine_source: &'static str,
    /// The raw header.
    pub header: nifti::NiftiHeader,
}

/// Options-then-verb NIfTI reader.
///
/// ```no_run
/// use brats_io::{NiftiReader, NonFinite};
/// # fn main() -> brats_io::Result<()> {
/// let vol = NiftiReader::new().non_finite(NonFinite::ReplaceWithZero).read_f32("t1.nii.gz")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiReader {
    max_bytes: u64,
    non_finite: NonFinite,
}

impl Default for NiftiReader {
    fn default() -> Self {
        NiftiReader {
            max_bytes: 4 << 30,
            non_finite: NonFinite::Reject,
        }
    }
}

impl NiftiReader {
    /// A reader with the defaults: at most 4 GiB of voxel data, non-finite voxels rejected.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest voxel payload (bytes on disk, uncompressed) the reader will allocate.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// What to do with NaN/Inf voxels.
    pub fn non_finite(mut self, policy: NonFinite) -> Self {
        self.non_finite = policy;
        self
    }

    /// Reads and checks only the header.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::InvalidNifti`] for a wrong magic,
    /// size, dims or spacing; [`Error::UnsupportedDatatype`]; [`Error::TooLarge`].
    pub fn read_info(&self, path: impl AsRef<Path>) -> Result<NiftiInfo> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut src = Source::new(path, file)?;
        let mut bytes = [0u8; HEADER_SIZE];
        src.read_exact(&mut bytes)?;
        parse_header(path, &bytes, self.max_bytes)
    }

    /// Reads a volume as `f32`, with `scl_slope`/`scl_inter` applied (as nibabel's
    /// `get_fdata`, but in single precision).
    ///
    /// # Shapes
    /// Returns data of shape `[nk, nj, ni]`.
    ///
    /// # Errors
    /// As [`NiftiReader::read_info`], plus [`Error::InvalidNifti`] for a truncated or corrupt
    /// file, and [`Error::NonFinite`] when NaN/Inf voxels are present and rejected.
    pub fn read_f32(&self, path: impl AsRef<Path>) -> Result<Volume<f32>> {
        let path = path.as_ref();
        let (info, src) = self.open(path)?;
        let (mut out, bad) = stream_convert(src, &info)?;
        if bad > 0 {
            match self.non_finite {
                NonFinite::Reject => {
                    return Err(Error::NonFinite {
                        path: path.to_path_buf(),
                        count: bad,
                    })
                }
                NonFinite::ReplaceWithZero => out.par_iter_mut().for_each(|v| {
                    if !v.is_finite() {
                        *v = 0.0
                    }
                }),
            }
        }
        volume_from_vec(out, info.geometry)
    }

    /// Reads an integer label map (any datatype whose scaled values are whole numbers in
    /// `0..=255`) as `u8`.
    ///
    /// # Errors
    /// As [`NiftiReader::read_f32`], plus [`Error::NotALabel`] for the first value that is
    /// fractional, negative or above 255.
    pub fn read_labels(&self, path: impl AsRef<Path>) -> Result<Volume<u8>> {
        let path = path.as_ref();
        let (info, mut src) = self.open(path)?;
        let (slope, inter) = effective_scaling(info.scl_slope, info.scl_inter);
        if info.datatype == Datatype::Uint8 && slope == 1.0 && inter == 0.0 {
            // Already labels on disk: the bytes are the values.
            let n = info.geometry.len();
            let mut out = Vec::new();
            out.try_reserve_exact(n).map_err(|_| Error::TooLarge {
                path: path.to_path_buf(),
                needed: n as u64,
                limit: "and the allocation failed".into(),
            })?;
            out.resize(n, 0u8);
            src.read_exact(&mut out)?;
            return volume_from_vec(out, info.geometry);
        }
        let (values, _) = stream_convert(src, &info)?;
        if let Some(v) = values
            .par_iter()
            .find_any(|v| !(v.fract() == 0.0 && (0.0..=255.0).contains(*v)))
        {
            return Err(Error::NotALabel {
                path: path.to_path_buf(),
                value: f64::from(*v),
            });
        }
        let labels: Vec<u8> = values.par_iter().map(|v| *v as u8).collect();
        volume_from_vec(labels, info.geometry)
    }

    /// Opens the file, parses and checks the header, and positions the stream at the first
    /// voxel byte.
    fn open<'p>(&self, path: &'p Path) -> Result<(NiftiInfo, Source<'p>)> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut src = Source::new(path, file)?;
        let mut bytes = [0u8; HEADER_SIZE];
        src.read_exact(&mut bytes)?;
        let info = parse_header(path, &bytes, self.max_bytes)?;
        let offset = info.header.vox_offset as u64;
        let nbytes = (info.geometry.len() * info.datatype.size()) as u64;
        if !src.compressed && offset + nbytes > file_len {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                needed: nbytes,
                limit: format!(
                    "but the file holds only {} bytes after vox_offset {offset} (truncated?)",
                    file_len.saturating_sub(offset)
                ),
            });
        }
        // Skip the extension block between the header and the voxels.
        src.skip(offset - HEADER_SIZE as u64)?;
        Ok((info, src))
    }
}

/// Pairs a C-order voxel vector with its grid.
fn volume_from_vec<T: Clone>(data: Vec<T>, geometry: Geometry) -> Result<Volume<T>> {
    let shape = geometry.shape();
    let data = Array3::from_shape_vec(shape, data)
        .map_err(|e| Error::shape("voxel buffer", format!("{shape:?}"), e))?;
    Volume::new(data, geometry)
}

/// Bytes per hand-over between the inflating and the converting thread (a multiple of
/// every datatype's size).
const CHUNK_BYTES: usize = 1 << 21;

/// Reads the voxel bytes and converts them to scaled `f32`; returns the voxels and how many
/// are not finite.
///
/// This thread inflates (or reads) the data in chunks while two converter threads turn
/// alternate chunks into `f32`, each writing its own disjoint part of the output. Most of a
/// large load is the kernel's first-touch page faults on the fresh output buffer, so two
/// converters halve that on two cores while the third thread keeps inflating. Only the
/// output is allocated in full (fallibly); the raw bytes pass through reused chunk buffers.
fn stream_convert(mut src: Source<'_>, info: &NiftiInfo) -> Result<(Vec<f32>, usize)> {
    use std::mem::MaybeUninit;
    use std::sync::mpsc::{channel, sync_channel};

    let n = info.geometry.len();
    let dt = info.datatype;
    let nbytes = n * dt.size();
    let mut out: Vec<f32> = Vec::new();
    out.try_reserve_exact(n).map_err(|_| Error::TooLarge {
        path: src.path.to_path_buf(),
        needed: nbytes as u64,
        limit: "and the allocation failed".into(),
    })?;
    let (slope, inter) = effective_scaling(info.scl_slope, info.scl_inter);
    let big_endian = info.header.endianness == nifti::Endianness::Big;
    let check_finite = !dt.is_integer() || slope != 1.0 || inter != 0.0;
    let chunk_voxels = CHUNK_BYTES / dt.size();
    let (written, bad, failure) = {
        // Destination pieces, one per chunk, dealt alternately to the two converters.
        let pieces: Vec<&mut [MaybeUninit<f32>]> = out.spare_capacity_mut()[..n]
            .chunks_mut(chunk_voxels)
            .collect();
        let mut even = Vec::new();
        let mut odd = Vec::new();
        for (i, piece) in pieces.into_iter().enumerate() {
            if i % 2 == 0 {
                even.push(piece)
            } else {
                odd.push(piece)
            }
        }
        std::thread::scope(|scope| {
            let (empty_tx, empty_rx) = channel::<Vec<u8>>();
            let mut senders = Vec::with_capacity(2);
            let mut workers = Vec::with_capacity(2);
            for dests in [even, odd] {
                let (tx, rx) = sync_channel::<Vec<u8>>(1);
                let empty_tx = empty_tx.clone();
                senders.push(tx);
                workers.push(scope.spawn(move || {
                    let (mut written, mut bad) = (0usize, 0usize);
                    for (chunk, dest) in rx.into_iter().zip(dests) {
                        let count = convert_into(&chunk, dt, big_endian, dest, slope, inter);
                        if check_finite {
                            bad += dest[..count]
                                // SAFETY: convert_into initialised the first `count` elements.
                                .iter()
                                .filter(|v| !unsafe { v.assume_init() }.is_finite())
                                .count();
                        }
                        written += count;
                        // The reader may have stopped; a closed return channel is fine.
                        let _ = empty_tx.send(chunk);
                    }
                    (written, bad)
                }));
            }
            drop(empty_tx);
            let mut remaining = nbytes;
            let mut failure = None;
            let mut turn = 0;
            while remaining > 0 {
                let len = remaining.min(CHUNK_BYTES);
                let mut buf = empty_rx.try_recv().unwrap_or_default();
                buf.resize(len, 0);
                if let Err(e) = src.read_exact(&mut buf) {
                    failure = Some(e);
                    break;
                }
                if senders[turn].send(buf).is_err() {
                    break;
                }
                turn = 1 - turn;
                remaining -= len;
            }
            drop(senders);
            let (mut written, mut bad) = (0usize, 0usize);
            for w in workers {
                // A converter cannot panic on any input; treat a join failure as short data.
                if let Ok((wr, b)) = w.join() {
                    written += wr;
                    bad += b;
                }
            }
            (written, bad, failure)
        })
    };
    if let Some(e) = failure {
        return Err(e);
    }
    if written != n {
        return Err(Error::invalid(
            src.path,
            format!("voxel conversion produced {written} of {n} voxels"),
        ));
    }
    // SAFETY: the converters initialised every one of the first `n` elements: the pieces
    // tile `spare_capacity_mut()[..n]` exactly, each was filled by `convert_into`, and the
    // counts add up to `n` (checked above).
    unsafe { out.set_len(n) };
    Ok((out, bad))
}

/// A file opened for reading, transparently gunzipped when it starts with the gzip magic.
struct Source<'p> {
    path: &'p Path,
    reader: Box<dyn Read + Send>,
    compressed: bool,
}

impl<'p> Source<'p> {
    fn new(path: &'p Path, mut file: File) -> Result<Self> {
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
        let compressed = n == 2 && magic == [0x1f, 0x8b];
        let head = std::io::Cursor::new(magic[..n].to_vec());
        let chained = head.chain(std::io::BufReader::with_capacity(1 << 20, file));
        let reader: Box<dyn Read + Send> = if compressed {
            Box::new(MultiGzDecoder::new(chained))
        } else {
            Box::new(chained)
        };
        Ok(Source {
            path,
            reader,
            compressed,
        })
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.reader.read_exact(buf).map_err(|e| {
            let what = if self.compressed {
                "compressed data is truncated or corrupt"
            } else {
                "file is truncated"
            };
            Error::invalid(self.path, format!("{what}: {e}"))
        })
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        let copied = std::io::copy(&mut (&mut self.reader).take(n), &mut std::io::sink())
            .map_err(|e| Error::invalid(self.path, format!("reading extensions: {e}")))?;
        if copied != n {
            return Err(Error::invalid(
                self.path,
                "file ends inside the header extensions",
            ));
        }
        Ok(())
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn parse_header(path: &Path, bytes: &[u8; HEADER_SIZE], max_bytes: u64) -> Result<NiftiInfo> {
    let header = nifti::NiftiHeader::from_reader(&bytes[..]).map_err(|e| match e {
        nifti::NiftiError::InvalidFormat => Error::invalid(
            path,
            format!(
                "wrong magic {:?} (expected \"n+1\\0\"; NIfTI-2 and .hdr/.img pairs are not supported)",
                String::from_utf8_lossy(&bytes[344..348])
            ),
        ),
        other => Error::invalid(path, other.to_string()),
    })?;
    if header.sizeof_hdr != HEADER_SIZE as i32 {
        return Err(Error::invalid(
            path,
            format!("sizeof_hdr is {}, expected 348", header.sizeof_hdr),
        ));
    }
    if &header.magic != b"n+1\0" {
        return Err(Error::invalid(
            path,
            "magic \"ni1\" marks a .hdr/.img pair, which is not supported (expected a single .nii file)",
        ));
    }
    let datatype = Datatype::from_code(header.datatype).ok_or_else(|| Error::UnsupportedDatatype {
        path: path.to_path_buf(),
        datatype: header.datatype,
        what: "expected one of uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64".into(),
    })?;
    let ndim = header.dim[0] as usize;
    if !(1..=7).contains(&ndim) {
        return Err(Error::invalid(
            path,
            format!("dim[0] = {} (expected 1..=7)", header.dim[0]),
        ));
    }
    let dims = &header.dim[1..=ndim];
    if let Some(pos) = dims.iter().position(|&d| d == 0 || d > i16::MAX as u16) {
        return Err(Error::invalid(
            path,
            format!(
                "dim[{}] = {} (expected 1..=32767)",
                pos + 1,
                dims[pos] as i16
            ),
        ));
    }
    if dims.iter().skip(3).any(|&d| d != 1) {
        return Err(Error::invalid(
            path,
            format!("dims {dims:?} describe a 4D+ series; expected a single 3D volume"),
        ));
    }
    let dim = [0, 1, 2].map(|a| if a < ndim { dims[a] as usize } else { 1 });
    let nbytes = dim.iter().map(|&d| d as u64).product::<u64>() * datatype.size() as u64;
    if nbytes > max_bytes {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            needed: nbytes,
            limit: format!("more than the reader's limit of {max_bytes} bytes"),
        });
    }
    if !(header.vox_offset.is_finite() && header.vox_offset >= DATA_OFFSET as f32) {
        return Err(Error::invalid(
            path,
            format!("vox_offset is {} (expected ≥ 352)", header.vox_offset),
        ));
    }
    if header.vox_offset > (1u64 << 30) as f32 {
        return Err(Error::invalid(
            path,
            format!("vox_offset is {} (absurdly large)", header.vox_offset),
        ));
    }
    let (geometry, affine_source) = geometry_from_header(path, &header, dim)?;
    Ok(NiftiInfo {
        datatype,
        scl_slope: header.scl_slope,
        scl_inter: header.scl_inter,
        geometry: geometry.with_source_header(header.clone()),
        affine_source,
        header,
    })
}

/// Millimetres per unit of `xyzt_units` (NIfTI: 1 metre, 2 mm, 3 µm; 0 unknown → mm).
fn unit_scale(xyzt_units: u8) -> f64 {
    match xyzt_units & 0x07 {
        1 => 1000.0,
        3 => 0.001,
        _ => 1.0,
    }
}

fn geometry_from_header(
    path: &Path,
    h: &nifti::NiftiHeader,
    dim: [usize; 3],
) -> Result<(Geometry, &'static str)> {
    let scale = unit_scale(h.xyzt_units);
    let pix = [h.pixdim[1], h.pixdim[2], h.pixdim[3]].map(|p| {
        let p = f64::from(p);
        if p.is_finite() && p > 0.0 {
            p
        } else {
            1.0
        }
    });
    let (mut affine, source) = if h.sform_code > 0 {
        let r = [h.srow_x, h.srow_y, h.srow_z];
        let mut a = [[0.0; 4]; 4];
        for (row, src) in a.iter_mut().zip(r.iter()) {
            for (v, s) in row.iter_mut().zip(src.iter()) {
                *v = f64::from(*s);
            }
        }
        a[3] = [0.0, 0.0, 0.0, 1.0];
        (a, "sform")
    } else if h.qform_code > 0 {
        (qform_affine(h, pix), "qform")
    } else {
        // NIfTI "method 1": spacing only, no orientation.
        (
            [
                [pix[0], 0.0, 0.0, 0.0],
                [0.0, pix[1], 0.0, 0.0],
                [0.0, 0.0, pix[2], 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            "spacing",
        )
    };
    for row in affine.iter_mut().take(3) {
        for v in row.iter_mut() {
            *v *= scale;
        }
    }
    let geometry = Geometry::new(dim, affine)
        .map_err(|e| Error::invalid(path, format!("{source} affine: {e}")))?;
    Ok((geometry, source))
}

/// NIfTI "method 2": the qform quaternion, `qfac` and `pixdim`, as in `nifti1_io.c`.
fn qform_affine(h: &nifti::NiftiHeader, pix: [f64; 3]) -> [[f64; 4]; 4] {
    let (b, c, d) = (
        f64::from(h.quatern_b),
        f64::from(h.quatern_c),
        f64::from(h.quatern_d),
    );
    let a2 = 1.0 - (b * b + c * c + d * d);
    let a = if a2 < 1e-7 {
        // Numerically a 180° rotation: renormalise (b, c, d) as nifti1_io does.
        let n = (b * b + c * c + d * d).sqrt();
        let (b, c, d) = (b / n, c / n, d / n);
        return qform_from(0.0, b, c, d, h, pix);
    } else {
        a2.sqrt()
    };
    qform_from(a, b, c, d, h, pix)
}

fn qform_from(
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    h: &nifti::NiftiHeader,
    pix: [f64; 3],
) -> [[f64; 4]; 4] {
    let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let r = [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ];
    let zoom = [pix[0], pix[1], pix[2] * qfac];
    let t = [
        f64::from(h.quatern_x),
        f64::from(h.quatern_y),
        f64::from(h.quatern_z),
    ];
    let mut out = [[0.0; 4]; 4];
    for i in 0..3 {
        for j in 0..3 {
            out[i][j] = r[i][j] * zoom[j];
        }
        out[i][3] = t[i];
    }
    out[3] = [0.0, 0.0, 0.0, 1.0];
    out
}

fn effective_scaling(slope: f32, inter: f32) -> (f32, f32) {
    if slope == 0.0 || !slope.is_finite() || !inter.is_finite() {
        (1.0, 0.0)
    } else {
        (slope, inter)
    }
}

/// Writes the scaled `f32` values of `raw` (whole voxels of `dt`) to the front of `dest`;
/// returns how many were written (`min(raw voxels, dest.len())`).
fn convert_into(
    raw: &[u8],
    dt: Datatype,
    big_endian: bool,
    dest: &mut [std::mem::MaybeUninit<f32>],
    slope: f32,
    inter: f32,
) -> usize {
    macro_rules! conv {
        ($t:ty, $n:expr) => {{
            let mut count = 0;
            for (d, src) in dest.iter_mut().zip(raw.chunks_exact($n)) {
                let mut b = [0u8; $n];
                b.copy_from_slice(src);
                let v = if big_endian {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                };
                d.write(v as f32 * slope + inter);
                count += 1;
            }
            count
        }};
    }
    match dt {
        Datatype::Uint8 => conv!(u8, 1),
        Datatype::Int8 => conv!(i8, 1),
        Datatype::Int16 => conv!(i16, 2),
        Datatype::Uint16 => conv!(u16, 2),
        Datatype::Int32 => conv!(i32, 4),
        Datatype::Uint32 => conv!(u32, 4),
        Datatype::Int64 => conv!(i64, 8),
        Datatype::Uint64 => conv!(u64, 8),
        Datatype::Float32 => conv!(f32, 4),
        Datatype::Float64 => conv!(f64, 8),
    }
}

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
    /// [`Error::Io`] when the folder is not writable or the disk fails; nothing is left
    /// under `path` in that case.
    pub fn write<T: WritableVoxel>(
        &self,
        path: impl AsRef<Path>,
        volume: &Volume<T>,
    ) -> Result<()> {
        let path = path.as_ref();
        let header = header_for::<T>(volume.geometry());
        let mut bytes =
            Vec::with_capacity(DATA_OFFSET + volume.geometry().len() * T::DATATYPE.size());
        encode_header(&header, &mut bytes);
        bytes.extend_from_slice(&[0, 0, 0, 0]); // no extensions
        T::extend_le(volume.as_slice(), &mut bytes);
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

/// Writes through `f` into a temporary file beside `path`, then renames it onto `path`.
///
/// # Errors
/// [`Error::Io`] naming `path` when anything fails; the temporary file is removed.
pub fn atomic_write(
    path: &Path,
    f: impl FnOnce(&mut std::io::BufWriter<&mut File>) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(path, e))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        f(&mut w).map_err(|e| Error::io(path, e))?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    // A temp file is created 0600; give the result the usual permissions for a new file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn header_for<T: WritableVoxel>(geometry: &Geometry) -> nifti::NiftiHeader {
    let dim = geometry.dim();
    let mut h = match geometry.source_header() {
        Some(src) => src.clone(),
        None => fresh_header(geometry),
    };
    h.dim = [3, dim[0] as u16, dim[1] as u16, dim[2] as u16, 1, 1, 1, 1];
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

fn fresh_header(g: &Geometry) -> nifti::NiftiHeader {
    let a = g.affine();
    let sp = g.spacing();
    let mut h = nifti::NiftiHeader {
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

/// Quaternion `(a, b, c, d)` of a proper rotation matrix (Shepperd's method).
fn rotation_to_quaternion(r: &[[f64; 3]; 3]) -> (f64, f64, f64, f64) {
    let trace = r[0][0] + r[1][1] + r[2][2];
    if trace > 0.0 {
        let s = 0.5 / (trace + 1.0).sqrt();
        (
            0.25 / s,
            (r[2][1] - r[1][2]) * s,
            (r[0][2] - r[2][0]) * s,
            (r[1][0] - r[0][1]) * s,
        )
    } else if r[0][0] > r[1][1] && r[0][0] > r[2][2] {
        let s = 2.0 * (1.0 + r[0][0] - r[1][1] - r[2][2]).sqrt();
        (
            (r[2][1] - r[1][2]) / s,
            0.25 * s,
            (r[0][1] + r[1][0]) / s,
            (r[0][2] + r[2][0]) / s,
        )
    } else if r[1][1] > r[2][2] {
        let s = 2.0 * (1.0 + r[1][1] - r[0][0] - r[2][2]).sqrt();
        (
            (r[0][2] - r[2][0]) / s,
            (r[0][1] + r[1][0]) / s,
            0.25 * s,
            (r[1][2] + r[2][1]) / s,
        )
    } else {
        let s = 2.0 * (1.0 + r[2][2] - r[0][0] - r[1][1]).sqrt();
        (
            (r[1][0] - r[0][1]) / s,
            (r[0][2] + r[2][0]) / s,
            (r[1][2] + r[2][1]) / s,
            0.25 * s,
        )
    }
}

/// Serialises a NIfTI-1 header, little-endian, field by field (348 bytes).
fn encode_header(h: &nifti::NiftiHeader, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&h.sizeof_hdr.to_le_bytes());
    out.extend_from_slice(&h.data_type);
    out.extend_from_slice(&h.db_name);
    out.extend_from_slice(&h.extents.to_le_bytes());
    out.extend_from_slice(&h.session_error.to_le_bytes());
    out.push(h.regular);
    out.push(h.dim_info);
    for d in h.dim {
        out.extend_from_slice(&d.to_le_bytes());
    }
    for f in [h.intent_p1, h.intent_p2, h.intent_p3] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    for s in [h.intent_code, h.datatype, h.bitpix, h.slice_start] {
        out.extend_from_slice(&s.to_le_bytes());
    }
    for f in h.pixdim {
        out.extend_from_slice(&f.to_le_bytes());
    }
    for f in [h.vox_offset, h.scl_slope, h.scl_inter] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    out.extend_from_slice(&h.slice_end.to_le_bytes());
    out.push(h.slice_code);
    out.push(h.xyzt_units);
    for f in [h.cal_max, h.cal_min, h.slice_duration, h.toffset] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    out.extend_from_slice(&h.glmax.to_le_bytes());
    out.extend_from_slice(&h.glmin.to_le_bytes());
    let mut descrip = [0u8; 80];
    let n = h.descrip.len().min(80);
    descrip[..n].copy_from_slice(&h.descrip[..n]);
    out.extend_from_slice(&descrip);
    out.extend_from_slice(&h.aux_file);
    out.extend_from_slice(&h.qform_code.to_le_bytes());
    out.extend_from_slice(&h.sform_code.to_le_bytes());
    for f in [
        h.quatern_b,
        h.quatern_c,
        h.quatern_d,
        h.quatern_x,
        h.quatern_y,
        h.quatern_z,
    ] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    for f in h.srow_x.iter().chain(&h.srow_y).chain(&h.srow_z) {
        out.extend_from_slice(&f.to_le_bytes());
    }
    out.extend_from_slice(&h.intent_name);
    out.extend_from_slice(&h.magic);
    debug_assert_eq!(out.len() - start, HEADER_SIZE);
}
